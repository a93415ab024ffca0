// Doubles in the JSON documents vigil writes (model metadata, training references,
// monitor records), which have no NaN or infinity.
//
// Two conventions:
//  - exact: NaN as null, +-inf as "inf"/"-inf", finite values as numbers (shortest
//    round-trip form); read back by DoubleFromJson to the same double;
//  - finite or null: a non-finite value as null (a metric that is undefined), for records
//    whose readers only chart or compare numbers.
#pragma once

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace vigil {

// NaN -> null, +-inf -> "inf"/"-inf", otherwise the number.
inline nlohmann::json DoubleToJson(double v) {
  if (std::isnan(v)) return nullptr;
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

// The inverse of DoubleToJson. Throws std::invalid_argument naming `where` for anything
// else (the callers turn it into a Status).
inline double DoubleFromJson(const nlohmann::json& v, const std::string& where) {
  if (v.is_null()) return std::numeric_limits<double>::quiet_NaN();
  if (v.is_number()) return v.get<double>();
  if (v == "inf") return std::numeric_limits<double>::infinity();
  if (v == "-inf") return -std::numeric_limits<double>::infinity();
  throw std::invalid_argument(where + ": want a number, null, \"inf\" or \"-inf\", got " + v.dump());
}

// The number when finite, else null.
inline nlohmann::json FiniteOrNull(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

}  // namespace vigil
