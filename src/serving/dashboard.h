// The monitoring dashboard of `vigil serve` (issue 7): one web page and the JSON endpoints
// it polls. The page (web/dashboard.{html,js,css}) and its chart library (uPlot, from npm
// at build time) are compiled into the binary by CMake and served from memory: nothing
// is read from disk or fetched from another host at run time.
//
// Endpoints (GET only; bodies JSON unless said; errors are {"error": "..."}):
//   /dashboard                     kPublic  the page (text/html)
//   /dashboard/{asset}             kPublic  dashboard.js, dashboard.css, uPlot.iife.min.js,
//                                           uPlot.min.css; another name: 404
//   /v1/monitor/live               kApi     the server's own traffic, one point per second
//                                           for the last 15 min (LiveSampler::ToJson):
//        {"interval_ms": 1000, "t": [ms...], "qps": [...], "errors_per_second": [...],
//         "p50_ms": [... null when no request ...], "p99_ms": [...]}
//       Requests to the dashboard's routes and to /metrics are not counted.
//   /v1/monitor/drift[?model=M]    kApi     MonitorHistory::DriftJson plus "model":
//        {"model": "M" (or null: every model), "windows": [{"model","version","from","to",
//         "requests","level"}...], "features": [{"feature","categorical","psi":[per window],
//         "level":[per window],"max_psi","last_psi","last_level"}...] worst first,
//         "alerts": [drift alert changes, newest first], "skipped": n}
//   /v1/monitor/skew[?model=M]     kApi     MonitorHistory::SkewJson plus "model":
//        {"model", "checks": [{"model","version","ts","from","to","sampled",
//         "mismatched_rows","mismatch_rate"}...], "features": [{"feature","rate":[per
//         check],"mismatches":[...],"compared":[...],"last_rate","max_rate"}...], "skipped"}
//   /v1/monitor/performance[?model=M]  kApi MonitorHistory::PerformanceJson plus "model":
//        {"model", "windows": [{"model","version","from","to","scored","labels",
//         "positives","roc_auc","pr_auc","log_loss","baseline","level"}...], "alerts": [AUC alert changes,
//         newest first], "skipped"}
//   /v1/monitor/models             kApi     ModelsDashboardJson: {"root", "models": {"<m>":
//        {"versions": [{"version","created_at_ms","cutoff_ms","data_fingerprint","command",
//         "metrics","dir","holdout"}...], "aliases": {"champion": 2}, "history": [alias
//         moves: at_ms, alias, from_version, to_version, reason, command, rollback],
//         "decisions": [retraining decisions]}}}
// Every /v1/monitor/* document comes from what is there now: monitoring topics that do not
// exist yet give empty arrays, not an error. Time values are ms since the epoch.
//
// Errors: a query parameter other than `model`, or a model name that is not
// [a-z][a-z0-9_]*, is 400 naming it; a log or registry that cannot be read is 500 with the
// reason. The page sends `Authorization: Bearer <t>` to the API when its URL ends in
// `#token=<t>` (the fragment never reaches the server's logs).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "common/metrics.h"
#include "log/log.h"
#include "serving/http_server.h"

namespace vigil {

struct DashboardOptions {
  Log* log = nullptr;                               // monitoring topics are read from it. REQUIRED
  std::string models_root;                          // the model registry (<project>/models). REQUIRED
  const MetricsRegistry* metrics = nullptr;         // the server's metrics; null: /live is empty
  size_t history = 2000;                            // records kept per monitoring topic. Default: 2000
  std::chrono::milliseconds sample_interval{1000};  // live sampling. Default: 1 s
  size_t live_samples = 900;                        // live points kept. Default: 900 (15 min at 1 s)
};

// The routes above, for HttpServer::Start (append them to the service's). They share one
// state that samples `metrics` on a thread of its own from this call until the last of
// the routes is destroyed (when the server is), so `log` and `metrics` must outlive the
// server. The routes' metric names all start with "dashboard".
std::vector<Route> DashboardRoutes(const DashboardOptions& options);

}  // namespace vigil
