// The ingestion consumer: changelog topics in, stores out. It runs on its own and may
// lag compute; it resumes from the positions the online store persists atomically with
// the rows, so every changelog row is applied exactly once.
#pragma once

#include <cstdint>

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

// Applies every changelog row not yet applied, up to the topics' current ends.
Result<IngestionStats> RunIngestionUntilCaughtUp(const Definitions& defs, Log* log, OnlineStore* online);

}  // namespace vigil
