// Online/offline reconciliation (issue 4 §4): for every entity of every view (its
// current version), the online row must equal the latest offline row. The ingestion
// worker runs it periodically (vigil.yaml `sync: {interval: 10m}`), right after writing
// its buffered offline rows, so both stores hold the same changelog positions;
// `vigil sync [--check]` runs it on demand while no ingestion worker runs.
//
// What counts as a difference, and its repair:
//   missing_online   offline has the entity, online not      -> the offline row online
//   missing_offline  online has the entity, offline not      -> the online row offline
//   stale_online     offline's latest row is newer           -> the offline row online
//   stale_offline    online's row is newer                   -> the online row offline
//   value_mismatch   same ts, different values               -> the offline row online
// (the offline store is the durable record of the changelog; a row newer on one side
// means the other missed it). Offline repairs are written as their own files
// (date=D/repair-<ms>-<n>.parquet) that readers read like ingested rows. Every
// difference is counted in vigil_sync_differences_total{view,kind} and logged (the
// first ones of a run on stderr).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "common/status.h"
#include "spec/definitions.h"
#include "store/online_store.h"

namespace vigil {

class MetricsRegistry;

struct SyncOptions {
  bool repair = true;  // false: report only (--check)
  int threads = 2;
  // Differences printed per run at most (all are counted). Default: 20.
  int log_limit = 20;
  MetricsRegistry* metrics = nullptr;  // registers vigil_sync_* when set. Not owned.
};

struct SyncReport {
  int64_t entities_checked = 0;
  // kind -> count, per view
  std::map<std::string, std::map<std::string, int64_t>> differences;
  int64_t total_differences = 0;
  int64_t repaired = 0;
  double seconds = 0;
};

Result<SyncReport> SyncStores(const Definitions& defs, OnlineStore* online, const std::string& offline_dir,
                              const SyncOptions& options = {});

}  // namespace vigil
