// What the dashboard of `vigil serve` shows, gathered without HTTP (serving/dashboard.h
// puts it on routes): the server's own traffic sampled every second, the monitoring
// topics tailed into a bounded history, and the model registry.
//
// Live traffic. A LiveSampler reads the process's MetricsRegistry every `interval` (the
// HTTP server's vigil_http_requests_total{route,code} and
// vigil_http_request_duration_seconds{route}, see serving/http_server.h) and keeps, per
// interval, the requests per second and the p50 / p99 latency estimated from the
// histogram's bucket deltas (linear within a bucket, as Prometheus' histogram_quantile):
//
//   buckets le 1ms, 2.5ms, 5ms; in one second 10 requests: 6 <= 1ms, 4 in (1ms, 2.5ms]
//     p50 = 0.5 * 10 = 5th request -> in the first bucket, 0 + (1ms - 0) * 5/6 = 0.83 ms
//     p99 = 9.9th request -> second bucket, 1ms + 1.5ms * (9.9 - 6)/4 = 2.46 ms
//
// Routes whose name is in `excluded_routes` (the dashboard's own, "metrics") are left out,
// so watching the dashboard does not show up as traffic.
//
// Monitoring topics (monitoring/monitor_topics.h documents each record). A
// MonitorHistory tails _drift, _alerts, _skew and _performance through the Log interface:
// each Refresh reads only the records appended since the last one and keeps the newest
// `capacity` per topic. A topic that does not exist yet reads as empty (it is not
// created), and a record that is not the documented JSON object is skipped and counted,
// never an error. The *Json methods shape the history for charts (documents below).
//
// Thread safety: every method of both classes is safe from several threads at once.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/metrics.h"
#include "common/status.h"
#include "common/time.h"
#include "log/log.h"

namespace vigil {

// One sampling interval of the server's traffic. Latencies are NaN when no request
// finished in the interval.
struct LiveSample {
  TimestampMs at = 0;            // wall clock at the end of the interval
  double qps = 0;                // responses per second (every status code)
  double errors_per_second = 0;  // responses with a 5xx status, per second
  double p50_seconds = 0;
  double p99_seconds = 0;
};

struct LiveSamplerOptions {
  std::chrono::milliseconds interval{1000};             // Default: 1 s. REQUIRES: > 0
  size_t capacity = 900;                                // samples kept (15 min at 1 s). Default: 900
  std::set<std::string> excluded_routes = {"metrics"};  // route label values left out
};

// Samples `registry` on a thread of its own from construction to destruction.
// REQUIRES: `registry` outlives the sampler.
class LiveSampler {
 public:
  LiveSampler(const MetricsRegistry* registry, LiveSamplerOptions options);
  ~LiveSampler();  // stops and joins the thread
  LiveSampler(const LiveSampler&) = delete;
  LiveSampler& operator=(const LiveSampler&) = delete;

  // Takes one sample now (what the thread does every interval); for tests.
  void SampleNow();
  // The samples held, oldest first.
  std::vector<LiveSample> Samples() const;
  // Samples() as {"interval_ms": 1000, "t": [ms...], "qps": [...], "errors_per_second":
  // [...], "p50_ms": [... null when no request ...], "p99_ms": [...]}: columns of equal
  // length, oldest first.
  std::string ToJson() const;

 private:
  void Run();

  const MetricsRegistry* registry_;
  LiveSamplerOptions options_;
  mutable std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  bool have_previous_ = false;
  // The previous sample's totals (requests, 5xx, per-bucket counts) and time.
  uint64_t prev_requests_ = 0, prev_errors_ = 0;
  std::vector<double> prev_bounds_;
  std::vector<uint64_t> prev_buckets_;
  std::chrono::steady_clock::time_point prev_time_;
  std::deque<LiveSample> samples_;
  std::thread thread_;  // last: started once everything above is ready
};

struct MonitorHistoryOptions {
  size_t capacity = 2000;  // records kept per topic (the newest). Default: 2000
};

class MonitorHistory {
 public:
  // REQUIRES: `log` outlives the history.
  MonitorHistory(Log* log, MonitorHistoryOptions options);
  ~MonitorHistory();
  MonitorHistory(const MonitorHistory&) = delete;
  MonitorHistory& operator=(const MonitorHistory&) = delete;

  // Reads what the four topics gained since the last call. Errors of the log (an
  // unreadable segment, a corrupt record) are returned with the topic; what was read
  // before the error is kept, and the next call retries from there.
  Status Refresh();

  // Every document below is for one model (`model`) or, when it is empty, for all models,
  // each record with its "model". Records are oldest first; null stands for a value that
  // is undefined (NaN) or absent.
  //
  // DriftJson:
  //   {"windows": [{"model","version","from","to","requests","level"}...],
  //    "features": [{"feature", "categorical", "psi": [per window, null if not computed],
  //                  "level": [per window: none|warn|alert|too_few|null], "max_psi",
  //                  "last_psi", "last_level"}...]   worst first (by max_psi),
  //    "alerts": [AlertChange records of drift (not "__roc_auc__"), newest first],
  //    "skipped": records that were not the documented shape}
  // SkewJson:
  //   {"checks": [{"model","version","ts","from","to","sampled","mismatched_rows",
  //                "mismatch_rate"}...],
  //    "features": [{"feature", "rate": [per check, null where not compared],
  //                  "mismatches": [...], "compared": [...], "last_rate", "max_rate"}...]
  //                 worst first (by last_rate, then max_rate),
  //    "skipped": n}
  // PerformanceJson:
  //   {"windows": [{"model","version","from","to","scored","labels","positives",
  //                 "roc_auc","pr_auc","log_loss","baseline","level"}...]   by "to"
  //                 (baseline: the AUC the window is judged against; level: its alert level),
  //    "alerts": [performance AlertChange records (feature "__roc_auc__"), newest first],
  //    "skipped": n}
  std::string DriftJson(const std::string& model) const;
  std::string SkewJson(const std::string& model) const;
  std::string PerformanceJson(const std::string& model) const;

 private:
  struct Topic;
  Log* log_;
  MonitorHistoryOptions options_;
  mutable std::mutex mu_;                       // serializes log reads and guards the topics
  std::vector<std::unique_ptr<Topic>> topics_;  // drift, alerts, skew, performance
};

// The registry under `models_root` (training/model_registry.h) as one document for the
// dashboard: ModelRegistry::ToJson's shape, each version also carrying "holdout": its
// metrics.json as training wrote it (rows, positives, roc_auc, pr_auc, log_loss,
// at_threshold, calibration; null when the file is missing or unreadable). An empty
// registry gives {"root": ..., "models": {}}. Errors: the registry's (Corruption for a
// malformed registry.json).
Result<std::string> ModelsDashboardJson(const std::string& models_root);

}  // namespace vigil
