// The scoring service behind `vigil serve`: online features + on-demand features ->
// compiled trees -> a score, for every model of the definitions that has a champion.
//
// Endpoints (serving/http_server.h does HTTP, auth, limits, shedding, /metrics):
//   POST /v1/score        {"model": "fraud", "keys": {"user_id": "u1", ...},
//                          "request": {"amount": 12.5, ...}, "features": false,
//                          "ts": 1767225600000 | "2026-01-01T00:00:00Z", "id": "t-42"}
//                         ts: the moment scored (the event's time; default: now), which
//                         the skew check recomputes the features at; id: the caller's id of
//                         the scored event, which later labels are joined on. Both optional.
//                         -> {"score": 0.0123, "model": "fraud", "version": 3,
//                             "features": {"amount": 12.5, ...}}   (features when asked)
//   POST /v1/features     {"views": ["user_txn"], "keys": {...}}
//                         -> {"user_txn": {"found": true, "ts": 1767..., "values": {...}}}
//   GET  /v2/health/live, /v2/health/ready, /v2/models/{name}, /v2/models/{name}/ready
//   POST /v2/models/{name}/infer   KServe v2 / Open Inference Protocol: input "features"
//                         (FP32, shape [N, F] in the model's feature order, null = missing)
//                         -> output "score" (FP32, shape [N]); no feature lookup.
//   POST /v1/admin/reload  catches the online store up with its primary and re-reads the
//                         registry, now (admin token): after it, requests see every row
//                         the ingestion worker had written.
//
// Feature assembly is the training code's: the model's FeatureVectorBuilder (from its
// layout.json) gets the input row [request fields][each view's tuple], where a view's
// tuple is the entity's online row, or the view's empty tuple when a key is missing or
// the entity has no row, exactly as the point-in-time join gives a label with no history.
// One MultiGet per view the model (or its challenger) reads.
//
// Hot swap: a thread re-reads the registry every reload_interval and loads a version
// whose alias moved (compiled trees + bound layout) before swapping it in with one
// atomic pointer store: a request runs entirely on the models it started with, so a new
// champion or a rollback takes over without a failed or dropped request.
//
// Shadow: the `challenger`, when set, scores the same requests; its score goes to the
// serving log only.
//
// Serving log: every scored request is appended to kServingLogTopic (key: the model) as
// one JSON object, in this field order:
//   {"ts": 1767225600000, "served_at": 1767225600012, "model": "fraud", "version": 3,
//    "keys": {"user_id": "u1"}, "request": {"amount": 12.5},
//    "features_f32le": "AABIQQAAwH8AAIA/", "score": 0.0123,
//    "id": "t-42", "challenger_version": 4, "challenger_score": 0.0151}
// ts: the request's ts, else the wall clock when served; served_at: the wall clock (both
// ms since the epoch); keys and request as sent; features_f32le: the champion's vector
// (its layout's column order) as the base64 (RFC 4648, standard alphabet, padded) of its
// little-endian IEEE-754 float32 bytes, 4 per feature, NaN for a missing one, so the
// monitors read back the very floats scored (above: 12.5, missing, 1.0); score and
// challenger_score as the shortest text that reads back as the same float (null if not
// finite); id only when sent; challenger_* only when a challenger scored. Records of
// builds before features_f32le carry "features": [12.5, null, 1] instead, which the
// monitors still read (monitoring/serving_log_internal.h). Written by a background writer
// that appends in batches every 20 ms (records reach the topic within that); if the writer
// falls behind by more than log_queue records, records are dropped and counted
// (vigil_serving_log_dropped_total), never blocking a request.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/metrics.h"
#include "common/status.h"
#include "log/log.h"
#include "serving/http_server.h"
#include "spec/definitions.h"
#include "store/online_store.h"
#include "training/feature_vector.h"
#include "training/model_input.h"  // AssembleInput

namespace vigil {

inline constexpr char kServingLogTopic[] = "_serving_log";

struct ScoringOptions {
  std::string models_root;        // the registry (<project>/models). REQUIRED
  int64_t reload_interval_ms = 1000;  // Default: 1s
  // online store CatchUp() period. 0: never after Open (the store stays as it was when
  // serving started: a frozen snapshot, which the skew check's test uses to stand for a
  // stuck follower). Default: 200 ms
  int64_t catch_up_interval_ms = 200;
  size_t max_keys = 16;           // keys in one request. Default: 16
  size_t log_queue = 100'000;     // serving log records waiting at most. Default: 100k
  bool shadow = true;             // score the challenger in shadow. Default: true
  // Write every scored request to the serving log, which monitoring reads (drift, skew,
  // performance). Off only to measure what monitoring costs. Default: true
  bool serving_log = true;
};

class ScoringService {
 public:
  // Loads every model's champion (and challenger) now. A model without a champion is
  // served once it gets one. `log` (for the serving log) and `store` must outlive the
  // service; `metrics` may be null.
  static Result<std::unique_ptr<ScoringService>> Open(const Definitions& defs, OnlineStore* store, Log* log,
                                                      MetricsRegistry* metrics, const ScoringOptions& options);
  ~ScoringService();

  // The routes above, for HttpServer::Start.
  std::vector<Route> Routes();

  // Re-reads the registry and swaps in models whose aliases moved. Returns a line per
  // change ("fraud champion v3 -> v4"). Safe from any thread.
  Result<std::vector<std::string>> Reload();

  // Stops the background threads and flushes the serving log. Idempotent.
  void Stop();

  // The scoring path without HTTP (also what the handler calls): parses `body` as a
  // /v1/score request and returns the response. Exposed for tests (e.g. fuzzing).
  HttpResponse Score(const std::string& body);

  struct Impl;

 private:
  explicit ScoringService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil
