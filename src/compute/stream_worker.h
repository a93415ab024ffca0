// Stream compute: source topics in, changelog topics out (DESIGN.md §1). Compute never
// writes a store; the ingestion consumer (store/ingestion.h) does.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "log/log.h"
#include "spec/definitions.h"

namespace vigil {

struct StreamStats {
  int64_t events_in = 0;                          // source records read in this run (after resume)
  int64_t late = 0;                               // of those, late (sent to dlq.<source>)
  int64_t rows_out = 0;                           // changelog rows appended in this run
  std::map<std::string, TimestampMs> watermarks;  // per source, after the run
  double seconds = 0;
};

// Long-running stream compute over every source with views. Not thread-safe: one
// caller drives Poll(); each source is computed on its own thread inside Poll().
class StreamWorker {
 public:
  // Prepares one task per source. The first Poll() replays history (see below).
  static Result<std::unique_ptr<StreamWorker>> Open(const Definitions& defs, Log* log);
  ~StreamWorker();
  // Processes every record appended since the last call; returns how many it read.
  Result<int64_t> Poll();
  // Flushes appended changelog and dead-letter records.
  Status Flush();
  const StreamStats& stats() const { return stats_; }

 private:
  class SourceTask;
  StreamWorker() = default;
  std::vector<std::unique_ptr<SourceTask>> tasks_;
  StreamStats stats_;
};

// Runs compute until every source topic is consumed to its current end.
//
// Exactly-once without a state checkpoint: the engine is deterministic in the input
// order, so a restart replays each source topic from offset 0, rebuilds the window
// state, and appends only the changelog rows whose identity (entity, ts) is beyond the
// entity's newest row already in the topic (and only late-event records the
// dead-letter topic does not hold yet). The cost of a
// restart grows with the topic; checkpointed state replaces the replay later.
// Sources are computed in parallel, one thread each.
Result<StreamStats> RunStreamUntilCaughtUp(const Definitions& defs, Log* log);

// Stream compute adds each accepted record to the engines at once but advances them to
// the watermark only every this many records (and at the end of each poll), so an
// entity processes its due instants together. Rows do not depend on it.
inline constexpr int64_t kStreamAdvanceEvery = 4096;

// The changelog topic of a view, and the dead-letter topic of a source.
std::string ChangelogTopic(const std::string& view);
std::string DeadLetterTopic(const std::string& source);

}  // namespace vigil
