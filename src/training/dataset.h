// Point-in-time correct training sets (DESIGN.md §4): each label row gets, for every
// requested view, the feature values as of its time t minus 1 ms, so no event at or
// after the labelled moment leaks in.
//
// The values come from the offline store's changelog of each view (store/offline_store.h)
// by a parallel sort-merge as-of join: labels and changelog rows are grouped by entity,
// sorted by time and merged. A label at or past the changelog's coverage (the stream's
// watermark the offline copy holds, OfflineChangelogCoverage) is answered by replaying
// the view's source history (archive + live log) through the same engine instead, for
// the entities of such labels only. Both give the same values: the changelog holds every
// instant the tuple changes, and the replay is the stream's own computation.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "log/log.h"
#include "spec/definitions.h"

namespace vigil {

// Label rows as the join reads them: cells as text, and each row's labelled moment.
// The cells live in one buffer, row after row (a million labels are not ten million
// strings, each allocated).
//
//   LabelTable t;
//   t.header = {"user_id", "ts"};
//   t.AddRow(std::vector<std::string>{"u1", "1000"}, 1000);
//   t.cell(0, 0) == "u1"; t.size() == 1
class LabelTable {
 public:
  std::string path;  // for messages
  std::vector<std::string> header;
  std::vector<TimestampMs> ts;  // parsed from the ts column, one per row

  size_t size() const { return ts.size(); }
  // Row `row`'s cell of column `col`; valid until the next AddRow.
  // REQUIRES: row < size(), col < header.size().
  std::string_view cell(size_t row, size_t col) const {
    const size_t i = row * header.size() + col;
    const uint64_t begin = i == 0 ? 0 : ends_[i - 1];
    return std::string_view(text_).substr(begin, ends_[i] - begin);
  }
  // Appends a row. REQUIRES: cells.size() == header.size().
  void AddRow(std::span<const std::string> cells, TimestampMs row_ts);
  // The same for the cells `keep` picks out of `cells`, in that order.
  // REQUIRES: keep.size() == header.size(), each index < cells.size().
  void AddRow(std::span<const std::string_view> cells, std::span<const size_t> keep, TimestampMs row_ts);
  // Appends row `row` of `from`, its ts included. REQUIRES: from's header is as long.
  void AddRowOf(const LabelTable& from, size_t row);
  // Room for `rows` rows of `text_bytes` bytes of cells in all (header set first).
  void Reserve(size_t rows, size_t text_bytes);
  // The index of `column` in header, or NotFound naming the file and the column.
  Result<size_t> Column(const std::string& column) const;

 private:
  void AppendCell(std::string_view text);

  std::string text_;            // every cell's text, row after row
  std::vector<uint64_t> ends_;  // where each cell ends in text_
};

// Reads a label file: CSV with a header (null: an empty cell), or Parquet (a file ending
// in ".parquet"; values become their CSV text). `columns`, when not empty, keeps only
// those columns (in that order; each must exist). The ts column must parse as a
// timestamp. Errors name the file and, for CSV, the line.
Result<LabelTable> ReadLabelTable(const std::string& path, const std::string& ts_column,
                                  const std::vector<std::string>& columns = {});

struct JoinOptions {
  int threads = 2;           // Default: 2
  bool replay_only = false;  // as DatasetOptions::replay_only. Default: false
  // Source events a replay holds in memory at once, about. The replay keeps the events
  // of the labelled entities compactly (compute/batch_replay.h CompactHistory, 60 to 100
  // bytes an event). A view whose source topic has more records (archived and live) is
  // replayed in passes: its labelled entities are split into shards by a hash of their
  // key, and each pass reads the whole source and keeps one shard's events. Every entity
  // is replayed whole in one pass, so the values do not depend on it; memory goes down
  // and reading time up with the passes. Default: 16M (1 to 2 GiB).
  int64_t events_per_pass = 16'000'000;
};

// Receives one label's as-of tuple for one view: `view` indexes the join's views,
// `label` its label rows (see below), `tuple` holds the view's features in definition
// order. Called at most once per (view, label); a label it is not called for has no
// tuple (the view's empty tuple applies: ViewPlan::empty_tuple()). The views are joined
// one after the other, but within a view the sink is called concurrently from several
// threads, for different labels.
using TupleSink = std::function<void(size_t view, uint32_t label, const Row& tuple)>;

// The point-in-time join (DESIGN.md §4), streamed: for each i, sink(v, i, tuple) gets the
// tuple of views[v] as of labels.ts[rows[i]] - 1 ms for the entity named by label row
// rows[i]'s key columns (named as the view's entity keys). A label with an empty key cell
// matches no entity. Holds the labels' keys and, for one view at a time, either one
// tuple per label (as typed cells: the latest offline changelog row at or before its
// time, found in one pass over the changelog without sorting it) or at most about
// options.events_per_pass source events (compactly) to replay. Adds to stats' from_offline,
// from_replay, changelog_rows and events_replayed.
Status JoinPointInTime(const Definitions& defs, Log* log, const std::string& offline_dir, const LabelTable& labels,
                       std::span<const uint32_t> rows, const std::vector<const FeatureViewDef*>& views,
                       const JoinOptions& options, const TupleSink& sink, struct DatasetStats* stats);

// The same join for every label row, collected: out[v][i] is the tuple of views[v] for
// label row i, or an empty Row when there is none.
Result<std::vector<std::vector<Row>>> JoinPointInTime(const Definitions& defs, Log* log,
                                                      const std::string& offline_dir, const LabelTable& labels,
                                                      const std::vector<const FeatureViewDef*>& views,
                                                      const JoinOptions& options, struct DatasetStats* stats);

struct DatasetOptions {
  std::string labels_path;         // CSV with a header, or Parquet
  std::vector<std::string> views;  // in output order
  std::string out_path;            // CSV, or Parquet when it ends in ".parquet"
  std::string ts_column = "ts";    // int64 ms or ISO-8601 with a zone
  int threads = 2;                 // join and replay threads. Default: 2
  // Replay every label's history instead of reading the offline changelog (the
  // reference path; tests compare the two). Default: false.
  bool replay_only = false;
};

struct DatasetStats {
  int64_t labels = 0;
  int64_t from_offline = 0;    // (label, view) pairs answered from the offline changelog
  int64_t from_replay = 0;     // (label, view) pairs answered by replay
  int64_t changelog_rows = 0;  // offline changelog rows read
  int64_t events_replayed = 0;
  double seconds = 0;
};

// Output: the label columns in order, then "<view>__<feature>"; rows in label order; null
// as an empty cell (CSV) or a null (Parquet: label columns as strings, features typed).
// A label with an empty key cell matches no entity (its features are empty). Errors name
// the label file's line. `offline_dir` may be empty (no offline store: replay only).
Result<DatasetStats> BuildDataset(const Definitions& defs, Log* log, const std::string& offline_dir,
                                  const DatasetOptions& options);

}  // namespace vigil
