// Stream compute: source topics in, changelog topics out (DESIGN.md §1). Compute never
// writes a store; the ingestion worker (store/ingestion.h) does.
//
// Exactly once across crashes. The worker keeps every entity's window state in memory
// and checkpoints what changed, with each source's input positions, watermark state and
// output positions, in one atomic RocksDB write (CheckpointStore). After a kill -9 it
// restores the last checkpoint and reads on from its positions. Rows it appended after
// that checkpoint are already in the changelog topics, so it first reads those topics
// from the checkpointed output positions to their ends and remembers, per entity, the
// newest row ts found: a row's identity is (entity, ts) and each entity's rows are
// emitted in ts order, so a row at or before that ts is skipped and the rest appended.
// Late-event records are keyed "late:<partition>:<offset>" and skipped the same way.
//
// Watermarks across partitions (DESIGN.md §4). A source topic has partitions; each keeps
// its own max ts, W_p = max ts - allowed_lateness. An event is late iff
//   ts < max(W_p, floor)
// where floor is the part of the source watermark that partitions with no data or idle
// partitions cannot hold back; it changes only at a checkpoint and is persisted by it
// *before* any row is emitted under it. Rows are final, and emitted, below
//   E = max(min over every partition of W_p, floor).
// Both rules are deterministic given each partition's record order and the checkpointed
// floor, so a restart decides every event exactly as the first run did, whatever the
// interleaving of partitions; and E <= max(W_p, floor) for every p, so an accepted event
// never lands before an emitted row. The decision is recorded too: late events go to
// dlq.<source>, which batch replay and the archive read.
//   lateness 2s, partitions 0 and 1: p0 reads ts 10:00:05 -> W_0 = 10:00:03, W_1 = none
//   -> E = floor. A checkpoint with p1 caught up and empty sets floor = 10:00:03; then a
//   first p1 event at 10:00:01 is late, one at 10:00:04 is accepted.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "compute/batch_replay.h"
#include "log/log.h"
#include "spec/definitions.h"

namespace vigil {

class MetricsRegistry;

struct StreamOptions {
  // RocksDB directory of window state and checkpoints. REQUIRED.
  std::string state_dir;
  // Checkpoint at least this often (wall clock). Default: 5s.
  DurationMs checkpoint_interval = 5000;
  // A caught-up partition with data and no new record for this long stops holding the
  // watermark back; when all are idle, the floor rises to the highest ts + 1 ms. 0
  // disables idleness. Default: 30s.
  DurationMs idle_timeout = 30000;
  // Records read per source per Poll() at most, so a backlog never delays a checkpoint
  // or a shutdown for long. Default: 262144.
  int64_t max_poll_records = 262144;
  // Consumer group whose offsets are committed after each checkpoint (informational:
  // lag tools see them; the checkpoint is what the worker resumes from).
  // Default: "vigil-stream".
  std::string group = "vigil-stream";
  // Registers the worker's metrics (vigil_stream_*) when set. Not owned.
  MetricsRegistry* metrics = nullptr;
  // A source's accepted history, for views added or changed since the checkpoint: their
  // window state is rebuilt from it (the events below the checkpointed positions) so
  // they go on as if they had run from the start. The CLI reads the archive and the log
  // (store/archive.h). Default (empty): the live log only, which must then still hold
  // every record from offset 0.
  std::function<Result<SourceHistory>(const SourceDef& source)> history;
};

struct StreamStats {
  int64_t events_in = 0;                          // source records read in this run (after resume)
  int64_t late = 0;                               // of those, late (sent to dlq.<source>)
  int64_t rejected = 0;                           // of those, undecodable (sent to dlq.<source>)
  int64_t rows_out = 0;                           // changelog rows appended in this run
  int64_t checkpoints = 0;                        // checkpoints written in this run
  std::map<std::string, TimestampMs> watermarks;  // per source, E after the run
  double seconds = 0;
};

// Long-running stream compute over every source with views. Not thread-safe: one caller
// drives Poll() and Checkpoint(); each source is computed on its own thread inside Poll().
class StreamWorker {
 public:
  // Restores the last checkpoint from options.state_dir (none: starts at every
  // partition's start) and positions every reader. A view added or changed since the
  // checkpoint (by ViewFingerprint) gets its window state rebuilt from
  // options.history and goes on from the checkpoint's watermark, into its own changelog
  // topic (a changed view is a new version: store/feature_registry.h); its rows before
  // that watermark are backfill's. InvalidArgument if a source's own definition (schema,
  // lateness, partitioning) changed: its state and positions would not match.
  static Result<std::unique_ptr<StreamWorker>> Open(const Definitions& defs, Log* log,
                                                    const StreamOptions& options);
  ~StreamWorker();
  // Reads what is available (at most max_poll_records per source), computes, appends
  // and flushes rows; checkpoints when checkpoint_interval has passed. Returns the
  // number of records read.
  Result<int64_t> Poll();
  // Flushes every output, writes a checkpoint (raising each source's floor as idleness
  // allows), then emits what the new floor makes final. Call again to checkpoint those
  // rows' positions too (a clean shutdown checkpoints twice).
  Status Checkpoint();
  // True when the last Poll() found every partition of every source at its end.
  bool caught_up() const { return caught_up_; }
  const StreamStats& stats() const { return stats_; }

 private:
  class SourceTask;
  struct Probe;
  StreamWorker() = default;
  std::unique_ptr<class CheckpointStore> store_;
  std::vector<std::unique_ptr<SourceTask>> tasks_;
  StreamOptions options_;
  Log* log_ = nullptr;
  StreamStats stats_;
  bool caught_up_ = false;
  TimestampMs last_checkpoint_ = 0;
  std::unique_ptr<Probe> probe_;
  std::set<std::string> complete_;  // sources whose state began at offset 0
};

// Runs compute until every source topic is consumed to its current end, then
// checkpoints (twice, see Checkpoint()). Sources are computed in parallel.
Result<StreamStats> RunStreamUntilCaughtUp(const Definitions& defs, Log* log, const StreamOptions& options);

// Stream compute adds each accepted record to the engines at once but advances them to
// the watermark only every this many records (and at the end of each poll), so an
// entity processes its due instants together. Rows do not depend on it.
inline constexpr int64_t kStreamAdvanceEvery = 4096;
// Accepted records are decoded into a batch of this many and added to each engine
// together (ViewEngine::AddBatch), and always before an advance. Rows do not depend on it.
inline constexpr size_t kStreamAddBatch = 256;

// How far a source's changelogs are complete. After each checkpoint the stream worker
// appends one marker per source to kWatermarksTopic (key: the source): every row with
// ts < watermark of every view of the source is in its changelog topic below
// changelog_ends[topic][partition]. A reader whose copy of a changelog holds those
// offsets (the offline store) holds the view's exact history before `watermark`.
struct WatermarkMarker {
  std::string source;
  TimestampMs watermark = kMinTimestamp;
  // The stream computed the source from offset 0 of every partition (its state began
  // with the whole history). When false (it began after retention had deleted records),
  // its rows reflect only part of each entity's history and are not a view's history.
  bool complete = true;
  // Per changelog topic: the watermark at which the topic began, when its view was added
  // or changed after the source's state began (its rows below it are a backfill's to
  // fill). Absent: the topic holds the view's rows from the start.
  std::map<std::string, TimestampMs> topic_from;
  std::map<std::string, std::vector<int64_t>> changelog_ends;
};
inline constexpr char kWatermarksTopic[] = "_watermarks";
// Text: "vigil.watermark 1\n<watermark>\ncomplete <0|1>\n<topic> <end0>,<end1>,...\n..."
// (one line a topic), and "from <topic> <watermark>" lines for topic_from.
void EncodeWatermarkMarker(const WatermarkMarker& m, std::string* out);
Result<WatermarkMarker> DecodeWatermarkMarker(std::string_view source, std::string_view payload);

// The changelog topic of a view's version ("changelog.<view>", "changelog.<view>.v<N>"
// from version 2 on), and the dead-letter topic of a source.
std::string ChangelogTopic(const FeatureViewDef& view);
std::string DeadLetterTopic(const std::string& source);
// The dead-letter key of a late event: "late:<partition>:<offset>".
std::string LateEventKey(int partition, int64_t offset);
// The sequence number that orders events of equal ts: (partition, offset).
inline uint64_t EventSeq(int partition, int64_t offset) {
  return (static_cast<uint64_t>(partition) << 40) | static_cast<uint64_t>(offset);
}
// The partitioning key of a source event: its partition_by fields, as an entity key.
std::string SourceRecordKey(const SourceDef& source, const Row& fields);
// A fingerprint of everything in `defs` that shapes window state (views, features,
// sources' schemas and lateness): a checkpoint is only valid under the same one.
std::string DefinitionsFingerprint(const Definitions& defs);
// The same of the sources alone (names, timestamp fields, lateness, schemas, partition_by).
std::string SourcesFingerprint(const Definitions& defs);

}  // namespace vigil
