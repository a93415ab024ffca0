// The feature vector's field names in a serving log record (serving/scoring_service.h),
// for its reader (skew.h's ParseServedRecord, which every monitor uses) and tests.
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

namespace vigil {

inline constexpr char kServedFeaturesField[] = "features_f32le";
inline constexpr char kServedFeaturesArrayField[] = "features";  // the earlier form

}  // namespace vigil
