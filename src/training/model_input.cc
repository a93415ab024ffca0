#include "training/model_input.h"

#include <algorithm>

#include "common/time.h"
#include "compute/entity_window.h"

namespace vigil {

using json = nlohmann::json;

Result<Value> RequestValueFromJson(const Field& f, const json& v) {
  auto bad = [&](const char* want) {
    return Status::InvalidArgument("request." + f.name + " must be " + want + ", not " + v.dump());
  };
  if (v.is_null()) return Value::Null();
  switch (f.type) {
    case Type::kDouble:
      if (!v.is_number()) return bad("a number");
      return Value::Double(v.get<double>());
    case Type::kInt64:
      if (!v.is_number_integer()) return bad("an integer");
      return Value::Int64(v.get<int64_t>());
    case Type::kBool:
      if (!v.is_boolean()) return bad("true or false");
      return Value::Bool(v.get<bool>());
    case Type::kString:
      if (!v.is_string()) return bad("a string");
      return Value::String(v.get<std::string>());
    case Type::kTimestamp:
      if (v.is_number_integer()) return Value::Timestamp(v.get<int64_t>());
      if (v.is_string()) {
        auto t = ParseTimestamp(v.get<std::string>());
        if (t.ok()) return Value::Timestamp(*t);
      }
      return bad("a timestamp (ms or ISO-8601)");
    default:
      return bad("a value");
  }
}

Result<std::map<std::string, std::string>> RequestKeysFromJson(const json& keys, size_t max_keys) {
  if (!keys.is_object()) return Status::InvalidArgument("keys must be an object like {\"user_id\": \"u1\"}");
  if (keys.size() > max_keys) {
    return Status::InvalidArgument("too many keys: " + std::to_string(keys.size()) + " (at most " +
                                   std::to_string(max_keys) + ")");
  }
  std::map<std::string, std::string> out;
  for (auto kv = keys.begin(); kv != keys.end(); ++kv) {
    if (kv->is_string()) {
      out[kv.key()] = kv->get<std::string>();
    } else if (kv->is_number_integer()) {
      out[kv.key()] = std::to_string(kv->get<int64_t>());
    } else {
      return Status::InvalidArgument("keys." + kv.key() + " must be a string or an integer, not " + kv->dump());
    }
  }
  return out;
}

Row AssembleInput(const Definitions& defs, const FeatureVectorBuilder& builder, const Row& request,
                  const std::vector<const Row*>& view_rows) {
  Row input(builder.input_width());
  for (size_t i = 0; i < request.size() && i < input.size(); ++i) input[i] = request[i];
  for (size_t v = 0; v < builder.layout().views().size(); ++v) {
    const Row* row = view_rows[v];
    Row empty;
    if (!row) {
      empty = ViewPlan(*defs.FindView(builder.layout().views()[v])).empty_tuple();
      row = &empty;
    }
    const size_t off = builder.view_offset(v), n = std::min(builder.view_width(v), row->size());
    for (size_t i = 0; i < n; ++i) input[off + i] = (*row)[i];
  }
  return input;
}

}  // namespace vigil
