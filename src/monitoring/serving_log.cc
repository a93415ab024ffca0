#include <simdjson.h>

#include <cstring>
#include <limits>
#include <string>

#include "common/base64.h"
#include "monitoring/serving_log_internal.h"
#include "monitoring/skew.h"

namespace vigil {

namespace od = simdjson::ondemand;

namespace {

Status NotARecord(std::string_view payload, const std::string& why) {
  return Status::InvalidArgument("not a serving log record: " + (why.empty() ? "" : why + ": ") +
                                 std::string(payload.substr(0, 200)));
}

// The earlier form: one number per value, null for missing.
Status ReadFeatureArray(od::value& v, std::vector<float>* out) {
  od::array arr;
  if (v.get_array().get(arr) != simdjson::SUCCESS) {
    return Status::InvalidArgument(std::string(kServedFeaturesArrayField) + ": want an array of numbers");
  }
  for (auto element : arr) {
    od::value f;
    bool is_null = false;
    double d;
    if (element.get(f) != simdjson::SUCCESS) return Status::InvalidArgument("bad JSON in the feature array");
    if (f.is_null().get(is_null) == simdjson::SUCCESS && is_null) {
      out->push_back(std::numeric_limits<float>::quiet_NaN());
    } else if (f.get_double().get(d) == simdjson::SUCCESS) {
      out->push_back(static_cast<float>(d));
    } else {
      return Status::InvalidArgument(std::string(kServedFeaturesArrayField) + "[" +
                                     std::to_string(out->size()) + "]: want a number or null");
    }
  }
  return Status::OK();
}

// Any JSON value as nlohmann JSON (the keys and the request).
Status ReadJson(od::value& v, nlohmann::json* out) {
  std::string_view raw;
  od::json_type type;
  if (v.type().get(type) != simdjson::SUCCESS) return Status::InvalidArgument("bad JSON");
  simdjson::error_code err;
  if (type == od::json_type::object) {
    od::object o;
    err = v.get_object().get(o);
    if (!err) err = o.raw_json().get(raw);
  } else if (type == od::json_type::array) {
    od::array a;
    err = v.get_array().get(a);
    if (!err) err = a.raw_json().get(raw);
  } else {
    raw = v.raw_json_token();
    err = simdjson::SUCCESS;
  }
  if (err) return Status::InvalidArgument(std::string("bad JSON: ") + simdjson::error_message(err));
  *out = nlohmann::json::parse(raw, nullptr, false);
  if (out->is_discarded()) return Status::InvalidArgument("bad JSON");
  return Status::OK();
}

}  // namespace

Status ParseServedRecord(std::string_view payload, ServedParts parts, ServedRecord* out) {
  // simdjson reads up to SIMDJSON_PADDING bytes past the end: a reused, zero-padded copy.
  thread_local od::parser parser;
  thread_local std::string padded;
  padded.resize(payload.size() + simdjson::SIMDJSON_PADDING);
  std::memcpy(padded.data(), payload.data(), payload.size());
  std::memset(padded.data() + payload.size(), 0, simdjson::SIMDJSON_PADDING);

  od::document doc;
  od::object obj;
  if (parser.iterate(padded.data(), payload.size(), padded.size()).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(obj) != simdjson::SUCCESS) {
    return NotARecord(payload, "");
  }
  const bool want_features = parts != ServedParts::kHeader;
  const bool want_json = parts == ServedParts::kAll;
  ServedRecord& s = *out;  // assigned over, so that its buffers are reused
  s.id.clear();
  s.keys = nlohmann::json::object();
  s.request = nlohmann::json::object();
  s.features.clear();
  bool model = false, version = false, ts = false, score = false, f32 = false, array = false;
  for (auto field : obj) {
    std::string_view key;
    od::value v;
    if (field.unescaped_key().get(key) != simdjson::SUCCESS || field.value().get(v) != simdjson::SUCCESS) {
      return NotARecord(payload, "");
    }
    if (key == "model") {
      std::string_view m;
      if (v.get_string().get(m) != simdjson::SUCCESS) return NotARecord(payload, "");
      s.model = m;
      model = true;
    } else if (key == "version") {
      int64_t i;
      if (v.get_int64().get(i) != simdjson::SUCCESS || i < INT32_MIN || i > INT32_MAX) {
        return NotARecord(payload, "");
      }
      s.version = static_cast<int>(i);
      version = true;
    } else if (key == "ts") {
      if (v.get_int64().get(s.ts) != simdjson::SUCCESS) return NotARecord(payload, "");
      ts = true;
    } else if (key == "score") {
      double d;
      if (v.get_double().get(d) != simdjson::SUCCESS) return NotARecord(payload, "");
      s.score = static_cast<float>(d);  // logged as the float scored
      score = true;
    } else if (key == "id") {
      std::string_view id;
      if (v.get_string().get(id) == simdjson::SUCCESS) s.id = id;  // another type: no id
    } else if (key == kServedFeaturesField) {
      f32 = true;
      if (!want_features) continue;
      std::string_view text;
      if (v.get_string().get(text) != simdjson::SUCCESS) {
        return NotARecord(payload,
                          std::string(kServedFeaturesField) + ": want a string (base64 of float32 bytes)");
      }
      Status st = DecodeBase64Float32Le(text, &s.features).WithContext(kServedFeaturesField);
      if (!st.ok()) return NotARecord(payload, st.message());
    } else if (key == kServedFeaturesArrayField) {
      array = true;
      if (!want_features || f32) continue;  // the base64 form wins when both are there
      s.features.clear();
      if (Status st = ReadFeatureArray(v, &s.features); !st.ok()) return NotARecord(payload, st.message());
    } else if (want_json && (key == "keys" || key == "request")) {
      if (Status st = ReadJson(v, key == "keys" ? &s.keys : &s.request); !st.ok()) {
        return NotARecord(payload, std::string(key) + ": " + st.message());
      }
    }
  }
  const char* trailing = nullptr;  // anything after the closing brace is an error
  if (doc.current_location().get(trailing) == simdjson::SUCCESS)
    return NotARecord(payload, "text after the object");
  if (!model || !version || !ts || !score) return NotARecord(payload, "");
  if (!f32 && !array) {
    return NotARecord(payload, std::string("no feature vector: want ") + kServedFeaturesField + " (or " +
                                   kServedFeaturesArrayField + ", the earlier array form)");
  }
  if (!want_features) s.features.clear();
  return Status::OK();
}

Result<ServedRecord> ParseServedRecord(std::string_view payload, ServedParts parts) {
  ServedRecord s;
  VIGIL_RETURN_IF_ERROR(ParseServedRecord(payload, parts, &s));
  return s;
}

}  // namespace vigil
