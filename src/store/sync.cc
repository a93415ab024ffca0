#include "store/sync.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <unordered_map>

#include "common/metrics.h"
#include "schema/parquet.h"
#include "store/ingestion.h"
#include "store/offline_store.h"

namespace vigil {

namespace fs = std::filesystem;

namespace {

// The latest offline row of every entity of a view version.
Result<std::unordered_map<std::string, FeatureRow>> LatestOffline(const Definitions& defs,
                                                                 const FeatureViewDef& view,
                                                                 const std::string& offline_dir, int threads) {
  std::unordered_map<std::string, FeatureRow> latest;
  std::mutex mu;
  const size_t nk = view.key_indexes.size(), nf = view.features.size();
  VIGIL_RETURN_IF_ERROR(ScanViewChangelog(
      defs, view, offline_dir, threads, kMaxTimestamp,
      [&](parquet::ColumnBatch&& batch, TimestampMs skip_from, TimestampMs skip_to) {
        std::unordered_map<std::string, size_t> local;  // entity -> row index of its latest
        const auto& ts = batch.columns[nk].ints;
        std::string key;
        for (size_t r = 0; r < static_cast<size_t>(batch.rows()); ++r) {
          if (ts[r] >= skip_from && ts[r] < skip_to) continue;
          OfflineEntityKey(batch, nk, r, &key);
          auto [it, inserted] = local.emplace(key, r);
          if (!inserted && ts[it->second] <= ts[r]) it->second = r;
        }
        std::lock_guard l(mu);
        for (const auto& [entity, r] : local) {
          auto [it, inserted] = latest.try_emplace(entity);
          if (!inserted && it->second.ts > ts[r]) continue;
          it->second.ts = ts[r];
          it->second.values.resize(nf);
          for (size_t f = 0; f < nf; ++f) it->second.values[f] = batch.columns[nk + 1 + f].Get(r);
        }
        return Status::OK();
      }));
  return latest;
}

std::string Describe(const FeatureRow& r) {
  std::string out = "ts " + std::to_string(r.ts) + " [";
  for (size_t i = 0; i < r.values.size(); ++i) {
    if (i) out += ", ";
    out += r.values[i].DebugString();
  }
  return out + "]";
}

// Writes rows (the online side's) into the view's offline dataset as a repair file per date.
Status WriteOfflineRepairs(const Definitions& defs, const FeatureViewDef& view, const std::string& offline_dir,
                           const std::vector<ChangelogRow>& rows) {
  Schema schema = OfflineChangelogSchema(defs, view);
  OfflineChangelogBatches batches(defs, view);
  for (const auto& r : rows) batches.Add(r);
  static std::atomic<int> seq{0};  // tells apart files of one millisecond
  for (auto& [date, batch] : batches.by_date()) {
    fs::path dir = fs::path(OfflineFeaturesDir(offline_dir, view)) / ("date=" + date);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return Status::IOError("create " + dir.string() + ": " + ec.message());
    std::string path =
        (dir / ("repair-" + std::to_string(WallClockMs()) + "-" + std::to_string(seq++) + ".parquet")).string();
    VIGIL_ASSIGN_OR_RETURN(auto w, parquet::Writer::Create(path, schema));
    VIGIL_RETURN_IF_ERROR(w->WriteRowGroups(batch));
    VIGIL_RETURN_IF_ERROR(w->Close());
  }
  return Status::OK();
}

}  // namespace

Result<SyncReport> SyncStores(const Definitions& defs, OnlineStore* online, const std::string& offline_dir,
                              const SyncOptions& options) {
  auto start = std::chrono::steady_clock::now();
  SyncReport report;
  int logged = 0;
  for (const auto& [name, view] : defs.views) {
    VIGIL_ASSIGN_OR_RETURN(auto offline, LatestOffline(defs, view, offline_dir, options.threads));
    std::unordered_map<std::string, FeatureRow> on;
    VIGIL_RETURN_IF_ERROR(online->Scan(OnlineViewName(view), [&](const std::string& entity, const FeatureRow& r) {
      on.emplace(entity, r);
    }));
    std::vector<ChangelogRow> to_online, to_offline;
    auto note = [&](const std::string& kind, const std::string& entity, const std::string& detail) {
      ++report.differences[name][kind];
      ++report.total_differences;
      if (options.metrics) {
        options.metrics
            ->AddCounter("vigil_sync_differences_total",
                         "Entities whose online row differed from the latest offline row, by kind.",
                         {{"view", name}, {"kind", kind}})
            .Increment();
      }
      if (logged++ < options.log_limit) {
        std::fprintf(stderr, "sync: %s %s %s: %s\n", name.c_str(), kind.c_str(), DisplayEntityKey(entity).c_str(),
                     detail.c_str());
      }
    };
    for (const auto& [entity, off] : offline) {
      ++report.entities_checked;
      auto it = on.find(entity);
      if (it == on.end()) {
        note("missing_online", entity, "offline " + Describe(off));
        to_online.push_back(ChangelogRow{entity, off.ts, off.values});
      } else if (off.ts > it->second.ts) {
        note("stale_online", entity, "online " + Describe(it->second) + ", offline " + Describe(off));
        to_online.push_back(ChangelogRow{entity, off.ts, off.values});
      } else if (off.ts < it->second.ts) {
        note("stale_offline", entity, "online " + Describe(it->second) + ", offline " + Describe(off));
        to_offline.push_back(ChangelogRow{entity, it->second.ts, it->second.values});
      } else if (off.values != it->second.values) {
        note("value_mismatch", entity, "online " + Describe(it->second) + ", offline " + Describe(off));
        to_online.push_back(ChangelogRow{entity, off.ts, off.values});
      }
    }
    for (const auto& [entity, row] : on) {
      if (offline.count(entity)) continue;
      ++report.entities_checked;
      note("missing_offline", entity, "online " + Describe(row));
      to_offline.push_back(ChangelogRow{entity, row.ts, row.values});
    }
    if (!options.repair) continue;
    if (!to_online.empty()) {
      VIGIL_RETURN_IF_ERROR(online->Apply(OnlineViewName(view), to_online, {}));
    }
    if (!to_offline.empty()) VIGIL_RETURN_IF_ERROR(WriteOfflineRepairs(defs, view, offline_dir, to_offline));
    report.repaired += static_cast<int64_t>(to_online.size() + to_offline.size());
  }
  if (logged > options.log_limit) {
    std::fprintf(stderr, "sync: ... and %d more differences\n", logged - options.log_limit);
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (options.metrics) {
    options.metrics->AddCounter("vigil_sync_runs_total", "Online/offline reconciliations run.").Increment();
    options.metrics
        ->AddGauge("vigil_sync_last_differences", "Differences found by the last online/offline reconciliation.")
        .Set(static_cast<double>(report.total_differences));
    options.metrics
        ->AddGauge("vigil_sync_last_run_timestamp_seconds", "When the last online/offline reconciliation ended.")
        .Set(static_cast<double>(WallClockMs()) / 1000.0);
  }
  return report;
}

}  // namespace vigil
