// A model's input row from what a scoring request carries, shared by serving (which
// scores it) and the skew check (which rebuilds it from the offline store): the request
// fields, strictly typed from JSON, then each view's tuple (feature_vector.h: the input
// row is [request fields][each view's tuple, in layout().views() order]).
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "schema/value.h"
#include "spec/definitions.h"
#include "training/feature_vector.h"

namespace vigil {

// A request value from JSON, strictly typed against `field`: a number for double, an
// integer for int64, true/false for bool, a string for string, ms or ISO-8601 text for a
// timestamp; null is null. InvalidArgument "request.<field> must be ..., not <json>".
Result<Value> RequestValueFromJson(const Field& field, const nlohmann::json& value);

// A request's "keys" object: key field -> its text (strings as they are, integers in
// decimal). InvalidArgument saying what is wrong: not an object, more than max_keys, a
// value that is neither a string nor an integer.
Result<std::map<std::string, std::string>> RequestKeysFromJson(const nlohmann::json& keys, size_t max_keys);

// The input row of builder's model: `request` (in layout().request() order) and, per view
// of builder.layout().views(), the entity's row (null: the view's empty tuple, what the
// point-in-time join gives a label with no history and serving a key it cannot find).
Row AssembleInput(const Definitions& defs, const FeatureVectorBuilder& builder, const Row& request,
                  const std::vector<const Row*>& view_rows);

}  // namespace vigil
