// The offline store (DESIGN.md §1-§2): the full history of events and of feature values,
// as Parquet files partitioned by date, under the offline directory:
//
//   <offline>/events/<source>/date=YYYY-MM-DD/*.parquet        the event archive
//   <offline>/dead_letters/<source>/date=YYYY-MM-DD/*.parquet  dlq.<source>, archived
//   <offline>/features/<view>/version=N/date=YYYY-MM-DD/*.parquet  the changelog of
//                                                              version N of the view
//
// Each of those directories is an *offset dataset*: every row is a record of one log
// topic partition, identified by (_partition, _offset), and the dataset keeps, per
// partition, the next offset it holds in _positions/<partition> (written after the data
// files are durable). Rows are written in files named part-<p>-<first>-<end>.parquet
// (the rows of log offsets [first, end) of partition p whose ts falls on that date), each
// stating in its footer ("vigil.ranges") which offsets it covers. So:
//   - a writer that restarts deletes its files at or past the persisted position
//     (written by a run that crashed before persisting it) and writes them again;
//   - compaction merges the small files of a date into one and then deletes them; a crash
//     between the two leaves files whose ranges another file covers, which readers skip.
// Readers therefore never see a record twice, and any engine reading the files with
// hive partitioning (DuckDB, Spark, pandas) sees the same rows if it ignores such files
// (compaction leaves none behind once it completes).
//
// Columns:
//   events:       ts (timestamp), the source's fields, _partition, _offset,
//                 _append_time (timestamp: when the log accepted it), _late (bool: the
//                 stream's accepted/late decision)
//   dead_letters: key (string), payload (string, hex for non-UTF-8 bytes), _partition,
//                 _offset, _append_time
//   features:     the entity's key fields (typed as in the source), ts, the features
//                 (typed by aggregation), _partition, _offset (of the changelog topic)
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "compute/changelog.h"
#include "log/log.h"
#include "schema/parquet.h"
#include "spec/definitions.h"

namespace vigil {

std::string OfflineEventsDir(const std::string& offline_dir, const std::string& source);
std::string OfflineDeadLettersDir(const std::string& offline_dir, const std::string& source);
// The directory of one version of a view (FeatureViewDef::version).
std::string OfflineFeaturesDir(const std::string& offline_dir, const FeatureViewDef& view);

Schema ArchivedEventSchema(const SourceDef& source);
Schema DeadLetterSchema();
Schema OfflineChangelogSchema(const Definitions& defs, const FeatureViewDef& view);
// A changelog row as an offline row of OfflineChangelogSchema.
Row OfflineChangelogRow(const Definitions& defs, const FeatureViewDef& view, const ChangelogRow& row, int partition,
                        int64_t offset);

// Changelog rows that come from no log record (a backfill's, a sync's repairs), as
// batches of OfflineChangelogSchema by date, _partition and _offset null. Each row goes
// straight into its date's columns: no Row is built, the key's parts are not copied into
// strings first, and the date's text is formatted once per run of rows of one day.
//
//   OfflineChangelogBatches out(defs, view);
//   for (const ChangelogRow& r : rows) out.Add(r);
//   for (auto& [date, batch] : out.by_date()) ...  // write date=<date>/<file>.parquet
class OfflineChangelogBatches {
 public:
  OfflineChangelogBatches(const Definitions& defs, const FeatureViewDef& view);
  void Add(const ChangelogRow& row);
  // Forgets every row but keeps each date's columns and their capacity: the next rows
  // (a backfill's next bucket) reuse the memory. by_date() keeps the dates, now empty.
  void Clear();
  // "YYYY-MM-DD" -> its rows, in the order added (a date may hold none after Clear).
  std::map<std::string, parquet::ColumnBatch>& by_date() { return by_date_; }
  int64_t rows() const { return rows_; }

 private:
  Schema schema_;
  std::vector<Type> key_types_;
  size_t features_;
  std::map<std::string, parquet::ColumnBatch> by_date_;
  int64_t last_day_ = INT64_MIN;  // the day of `last_`
  parquet::ColumnBatch* last_ = nullptr;
  int64_t rows_ = 0;
};

// "YYYY-MM-DD" (UTC) of a timestamp.
std::string DateOf(TimestampMs ts);

// The next offset of `partition` the dataset at `dir` holds (0 if none).
Result<int64_t> DatasetPosition(const std::string& dir, int partition);
// Every persisted position of the dataset, by partition.
Result<std::map<int, int64_t>> DatasetPositions(const std::string& dir);

// One data file of an offset dataset.
struct DatasetFile {
  std::string path;
  std::string date;  // of its date= directory
  int64_t bytes = 0;
  // [first, end) per partition it covers (from its name, or its footer if compacted).
  std::vector<std::tuple<int, int64_t, int64_t>> ranges;
};
// The files a reader should read: every data file but those whose ranges another file of
// the same date covers, in (date, path) order.
Result<std::vector<DatasetFile>> ListDatasetFiles(const std::string& dir);

// Appends the records of one topic's partitions to an offset dataset. Rows are buffered
// per partition and date and written by Flush(). Not thread-safe.
class OffsetDatasetWriter {
 public:
  // `ts_column`: the schema index holding the row's ts (picks the date).
  // `partition_column`/`offset_column`: where the writer stores _partition/_offset.
  static Result<std::unique_ptr<OffsetDatasetWriter>> Open(const std::string& dir, const Schema& schema,
                                                           int ts_column,
                                                           const parquet::WriterOptions& options = {});
  ~OffsetDatasetWriter();

  // The next offset to append for `partition`: the persisted position, once files of a
  // crashed run past it are deleted (done the first time a partition is asked).
  Result<int64_t> Next(int partition);
  // Buffers one record. REQUIRES: offset >= Next(partition); row matches the schema, with
  // _partition/_offset set by the caller.
  Status Append(int partition, int64_t offset, const Row& row);
  // Advances a partition's position past records that have no row (e.g. skipped), so the
  // next Flush persists it.
  void Skip(int partition, int64_t next_offset);
  // Rows buffered and not yet written.
  int64_t buffered_rows() const;
  // Writes every buffered row (one file per partition and date), syncs, then persists
  // the positions.
  Status Flush();

 private:
  struct Impl;
  explicit OffsetDatasetWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct CompactionOptions {
  // Files under this size count as small. Default: 32 MiB.
  int64_t small_bytes = 32 << 20;
  // A date is compacted when it has at least this many small files. Default: 8.
  int min_files = 8;
  // Files a compaction replaced are deleted at a later compaction once the file that
  // replaced them is this old; 0 deletes them at once. vigil's readers need no grace
  // (ScanDataset holds its files open), but other engines reading the directory would
  // count replaced files twice while they stay. Default: 0.
  int64_t grace_ms = 0;
  parquet::WriterOptions writer;
};

struct CompactionStats {
  int64_t files_in = 0;
  int64_t files_out = 0;
  int64_t rows = 0;
};

// Merges the small files of each date of the dataset at `dir` (only files below the
// persisted positions, i.e. never one a live writer may still delete) into one file,
// rows in (_partition, _offset) order, then deletes the merged files (after the grace
// period, if any). A crash in between leaves files that readers skip (their ranges are
// covered) and the next compaction deletes. Safe beside a writer and readers; two
// compactions of one dataset exclude each other (a lock file).
Result<CompactionStats> CompactDataset(const std::string& dir, const CompactionOptions& options = {});

// How far the offline changelog of `view` is complete: every row of the view with
// ts < the result is in the offline store (kMinTimestamp: none is known to be). From
// the stream: the highest watermark of its markers (compute/stream_worker.h,
// WatermarkMarker) that began with the whole history and whose changelog ends the
// offline dataset holds; from the last completed backfill (store/backfill.h): its bound,
// when it starts at the beginning of history or where the stream's coverage reaches.
Result<TimestampMs> OfflineChangelogCoverage(const FeatureViewDef& view, Log* log, const std::string& offline_dir);

// Sets *key to the encoded entity key (EncodeEntityKey) of row `row` of a batch whose
// first `key_columns` columns are an offline changelog's key fields.
void OfflineEntityKey(const parquet::ColumnBatch& batch, size_t key_columns, size_t row, std::string* key);

// Reads a view version's offline changelog: the rows of its last completed backfill,
// and the rows ingested from the stream outside the backfill's [from, bound). fn gets
// batches of OfflineChangelogSchema's columns but _partition/_offset, possibly from
// `threads` threads at once, with the [skip_from, skip_to) range of ts whose rows it must
// ignore (empty for backfill files). Row groups entirely past max_ts are skipped.
Status ScanViewChangelog(
    const Definitions& defs, const FeatureViewDef& view, const std::string& offline_dir, int threads,
    TimestampMs max_ts,
    const std::function<Status(parquet::ColumnBatch&& batch, TimestampMs skip_from, TimestampMs skip_to)>& fn);

// Calls fn with every row group of the dataset's live files (ListDatasetFiles), reading
// only `columns` (schema names; empty = all) and skipping row groups whose ts statistics
// lie outside [from, to] when ts_column is given. fn may be called concurrently from
// `threads` threads (one file each); the files' row order within a file is kept.
Status ScanDataset(const std::string& dir, const std::vector<std::string>& columns, int threads,
                   const std::function<Status(const DatasetFile& file, parquet::ColumnBatch&& batch)>& fn,
                   const std::string& ts_column = "", TimestampMs from = kMinTimestamp,
                   TimestampMs to = kMaxTimestamp);

// The same, every row group, reading the columns at `column_indexes` (in that order) of
// files whose schema has exactly `schema_size` columns (else a Corruption naming the
// file): for a dataset read by its layout, as the event archive (ArchivedEventSchema),
// whose middle columns are the source's fields, named by the user.
Status ScanDatasetColumns(
    const std::string& dir, size_t schema_size, const std::vector<int>& column_indexes, int threads,
    const std::function<Status(const DatasetFile& file, parquet::ColumnBatch&& batch)>& fn);

}  // namespace vigil
