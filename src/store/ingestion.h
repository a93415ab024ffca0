// The ingestion consumer: changelog topics in, stores out. It runs on its own and may
// lag compute; it resumes from the positions the online store persists atomically with
// the rows, so every changelog row is applied exactly once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "log/log.h"
#include "spec/definitions.h"
#include "store/online_store.h"

namespace vigil {

struct IngestionStats {
  int64_t rows_applied = 0;
  double seconds = 0;
  // Freshness: wall time from changelog append to applied online, per row (ms).
  double freshness_p50_ms = 0;
  double freshness_p99_ms = 0;
};

// Long-running ingestion: one reader per changelog topic, positioned once at the
// store's persisted position and kept between polls. Not thread-safe.
class IngestionWorker {
 public:
  static Result<std::unique_ptr<IngestionWorker>> Open(const Definitions& defs, Log* log,
                                                       OnlineStore* online);
  // Applies every row appended since the last call; returns this call's figures.
  Result<IngestionStats> Poll();

 private:
  struct Input {
    std::string view;
    std::string topic;
    std::unique_ptr<TopicReader> reader;
    int64_t next = 0;  // next offset to apply
  };
  IngestionWorker() = default;
  OnlineStore* online_ = nullptr;
  std::vector<Input> inputs_;
};

// Applies every changelog row not yet applied, up to the topics' current ends.
Result<IngestionStats> RunIngestionUntilCaughtUp(const Definitions& defs, Log* log, OnlineStore* online);

}  // namespace vigil
