// The ingestion worker: changelog topics in, stores out (DESIGN.md §1). It runs on its
// own (`vigil ingest-worker`) and may lag compute or stop while compute goes on; it
// resumes from the positions the online store persists atomically with the rows, so
// every changelog row is applied exactly once. It is a member of a consumer group
// (IngestionOptions::group): on Kafka, several workers share the changelog partitions
// and a rebalance moves partitions between them; each starts a partition it is given at
// the store's position for it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "log/log.h"
#include "spec/definitions.h"
#include "store/online_store.h"

namespace vigil {

class MetricsRegistry;

struct IngestionOptions {
  // Consumer group of the ingestion workers. Default: "vigil-ingest".
  std::string group = "vigil-ingest";
  // Rows applied per atomic store write at most. Default: 65536.
  int64_t batch_rows = 65536;
  // Registers vigil_ingest_* metrics when set. Not owned.
  MetricsRegistry* metrics = nullptr;
  // The offline store (store/offline_store.h): when set, every changelog row is also
  // appended to <offline_dir>/features/<view>/, exactly once (the dataset keeps its own
  // positions). Default: none.
  std::string offline_dir;
  // Offline rows are buffered and written at least this often, and whenever this many
  // are buffered, on a rebalance and on Close(). Defaults: 60s, 1 Mi rows.
  DurationMs offline_flush_interval = 60'000;
  int64_t offline_flush_rows = 1 << 20;
};

struct IngestionStats {
  int64_t rows_applied = 0;
  double seconds = 0;
  // Freshness: wall time from the append of the source record that made a row final to
  // the row being visible online, per row (ms).
  double freshness_p50_ms = 0;
  double freshness_p99_ms = 0;
  // Every row's freshness (ms) of this call, for callers that aggregate many calls.
  std::vector<int64_t> freshness_samples_ms;
};

// The online store's position name of a changelog partition: "<topic>/<partition>".
std::string PositionName(const std::string& topic, int partition);
// The name a view version's rows have in the online store: the view's name for version
// 1, "<view>.v<N>" from version 2 on (versions never share rows).
std::string OnlineViewName(const FeatureViewDef& view);

// Long-running ingestion. Not thread-safe.
class IngestionWorker {
 public:
  static Result<std::unique_ptr<IngestionWorker>> Open(const Definitions& defs, Log* log, OnlineStore* online,
                                                       const IngestionOptions& options);
  ~IngestionWorker();
  // Applies rows until none arrives for `wait` (or a batch is full); returns this call's
  // figures (rows_applied 0 when nothing came).
  Result<IngestionStats> Poll(DurationMs wait);
  // True if every changelog partition is applied up to the ends read at this call, in
  // the online store and (buffered or written) in the offline store.
  Result<bool> CaughtUp();
  // Writes the buffered offline rows (and compacts small files).
  Status FlushOffline();
  // True when, for every partition this worker holds, the online and the offline store
  // hold the changelog up to the same offset (after FlushOffline, unless the offline store
  // is catching up after a crash): the moment a reconciliation compares like with like.
  Result<bool> StoresAligned();
  // Flushes the offline rows and leaves the consumer group.
  Status Close();

 private:
  struct Probe;
  IngestionWorker() = default;
  const Definitions* defs_ = nullptr;
  Log* log_ = nullptr;
  OnlineStore* online_ = nullptr;
  IngestionOptions options_;
  std::unique_ptr<GroupConsumer> consumer_;
  std::unordered_map<std::string, std::string> view_of_topic_;
  // (topic, partition) -> next offset to apply, for assigned partitions.
  std::unordered_map<std::string, int64_t> next_;
  TimestampMs last_commit_ = 0;
  bool uncommitted_ = false;
  std::unique_ptr<Probe> probe_;
  // view -> its offline dataset writer (with offline_dir).
  std::unordered_map<std::string, std::unique_ptr<class OffsetDatasetWriter>> offline_;
  TimestampMs last_offline_flush_ = 0;
};

// Applies every changelog row not yet applied, up to the topics' current ends.
Result<IngestionStats> RunIngestionUntilCaughtUp(const Definitions& defs, Log* log, OnlineStore* online,
                                                 const IngestionOptions& options = {});

}  // namespace vigil
