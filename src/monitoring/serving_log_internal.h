// Reading the feature vector of a serving log record (serving/scoring_service.h), shared by
// the monitors that read the log (skew.h's ParseServedRecord, drift_monitor.h).
//
// Two forms, both read, since the log is a persisted topic that may still hold records of
// an earlier build:
//   "features_f32le": "AADAPwAAwH8AAEBA"  the vector's little-endian float32 bytes in base64
//                                        (common/base64.h); NaN (missing) is its own bits.
//                                        What `vigil serve` writes.
//   "features": [1.5, null, 3]          one JSON number per value, null for missing. What
//                                        builds before the base64 form wrote.
// A record with both is read from "features_f32le".
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace vigil {

inline constexpr char kServedFeaturesField[] = "features_f32le";
inline constexpr char kServedFeaturesArrayField[] = "features";  // the earlier form

// Replaces *out with the vector of `record` (a serving log record's JSON object).
// InvalidArgument, naming the field, when the record has neither field, when
// "features_f32le" is not a string of base64 of whole float32 values, or when "features"
// is not an array of numbers and nulls.
Status ReadServedFeatures(const nlohmann::json& record, std::vector<float>* out);

}  // namespace vigil
