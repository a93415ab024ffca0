// Training-serving skew (issue 7): served requests, sampled from the serving log, get
// their feature vectors recomputed the way training computes them, and the two are
// compared feature by feature.
//
// A serving log record (serving/scoring_service.h) holds the request's keys, its request
// fields, the moment scored (ts) and the vector the champion scored. The recomputation is
// the point-in-time join of training (training/dataset.h): each view's tuple as of
// ts - 1 ms from the offline store's changelog (or a replay of the source history where
// the changelog does not reach), the same request fields, the same on-demand
// expressions, encoded by the same layout (the version's layout.json). A feature
// mismatches when the two floats differ (bitwise; missing equals missing).
//
// What a mismatch means: the online store held another tuple than the offline history
// says was current at ts. Causes are a stale online store (ingestion lag past the
// request: freshness skew), a view read under the wrong key or from the wrong place, a
// serving-side transformation that differs from training's, or a request ts that is not
// the moment the features were read at. With serving caught up to the stream's
// watermark and requests at or after it, the rate is 0.
//
//   A record at ts 10:00:00.000 served user_txn.txn_count_1h = 3; the offline changelog's
//   latest user_txn row at or before 09:59:59.999 has 4 -> one mismatch of that feature.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "common/time.h"
#include "log/log.h"
#include "spec/definitions.h"
#include "training/dataset.h"
#include "training/feature_vector.h"

namespace vigil {

// The parts of a serving log record the check reads.
struct ServedRecord {
  std::string model;
  int version = 0;
  TimestampMs ts = 0;
  std::string id;                    // "" when the request had none
  nlohmann::json keys, request;      // as sent
  std::vector<float> features;       // as scored, bit for bit; missing -> NaN
  double score = 0;
};

// Reads a serving log record, its vector from "features_f32le" or, in records of earlier
// builds, the "features" array (monitoring/serving_log_internal.h). InvalidArgument when
// `payload` is not such a record, quoting its start; when the vector field is the fault
// (bad base64, bytes not whole float32s, a non-number in the array) the message names it.
//
// One pass of simdjson's on-demand parser. `parts` says what a reader needs beyond the
// header (model, version, ts, score, id); the rest is skipped without being materialized
// or fully validated, since the keys and request as JSON are most of a record's cost and
// most readers need neither.
enum class ServedParts {
  kHeader,             // performance: its windows need nothing more
  kHeaderAndFeatures,  // drift
  kAll,                // keys and request (as JSON) too: skew
};
Result<ServedRecord> ParseServedRecord(std::string_view payload, ServedParts parts = ServedParts::kAll);
// The same into *out, assigning over its fields so that a reader parsing record after
// record reuses their buffers. On error *out is unspecified.
Status ParseServedRecord(std::string_view payload, ServedParts parts, ServedRecord* out);

// Keeps a uniform sample of at most `per_version` records of each (model, version), in one
// pass (reservoir sampling, seeded: the same records in the same order give the same
// sample). Not thread-safe.
class SkewSampler {
 public:
  SkewSampler(size_t per_version, uint64_t seed) : per_version_(per_version), seed_(seed) {}
  // Offers one serving log record. InvalidArgument when it is not one (counted by the
  // caller; nothing is kept).
  Status Add(std::string_view payload);
  // The samples, by (model, version), each in log order; the sampler is empty after.
  std::map<std::pair<std::string, int>, std::vector<ServedRecord>> Take();

 private:
  struct Reservoir {
    int64_t seen = 0;
    std::vector<std::pair<int64_t, ServedRecord>> kept;  // (position in the log, record)
  };
  size_t per_version_;
  uint64_t seed_;
  std::map<std::pair<std::string, int>, Reservoir> reservoirs_;
};

struct SkewOptions {
  std::string offline_dir;  // the offline store; "" replays the source history only
  JoinOptions join;
  size_t max_examples = 5;  // mismatching (record, feature) pairs kept for the report
};

struct FeatureSkew {
  std::string feature;
  int64_t compared = 0, mismatches = 0;
  double rate() const { return compared ? static_cast<double>(mismatches) / compared : 0.0; }
};

struct SkewExample {
  std::string id;    // the record's id, or "" when it had none
  std::string keys;  // the record's keys as JSON
  TimestampMs ts = 0;
  std::string feature;
  float served = 0, offline = 0;  // NaN: missing
};

struct SkewReport {
  std::string model;
  int version = 0;
  TimestampMs checked_at = 0;  // wall clock
  TimestampMs from = 0, to = 0;  // the sampled records' ts range [from, to]
  int64_t sampled = 0;           // records compared
  int64_t mismatched_rows = 0;   // records with any feature differing
  std::vector<FeatureSkew> features;  // in the layout's column order
  std::vector<SkewExample> examples;
  double mismatch_rate() const { return sampled ? static_cast<double>(mismatched_rows) / sampled : 0.0; }
  // The _skew topic's record (monitoring/monitor_topics.h).
  std::string ToJson() const;
};

// Recomputes `records` (all of `model` at `version`, whose trained layout is `layout`)
// as described at the top and compares. InvalidArgument when the layout no longer binds
// to `defs` or a record's vector is not the layout's width; a request field that does
// not parse counts as a mismatch of every feature of that record (serving accepted what
// training cannot read). Errors of the join are its own.
Result<SkewReport> CheckSkew(const Definitions& defs, Log* log, const std::string& model, int version,
                             const FeatureLayout& layout, const std::vector<ServedRecord>& records,
                             const SkewOptions& options);

}  // namespace vigil
