#include "schema/event_decoder.h"

#include <cstdio>

#include <fcntl.h>
#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "schema/parquet.h"

namespace vigil {
namespace {

namespace od = simdjson::ondemand;

// Longest excerpt of user text quoted in a reason: reasons stay one readable line even
// when the offending value is megabytes long.
constexpr size_t kMaxExcerptBytes = 64;

// `s` cut to kMaxExcerptBytes at a UTF-8 character boundary, with "..." when cut.
std::string Excerpt(std::string_view s) {
  if (s.size() <= kMaxExcerptBytes) return std::string(s);
  size_t n = kMaxExcerptBytes;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return std::string(s.substr(0, n)) + "...";
}

std::string_view TrimJsonSpace(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

bool IsBlank(std::string_view s) {
  for (char c : s) {
    if (c != ' ' && c != '\t' && c != '\r') return false;
  }
  return true;
}

Status Reject(std::string msg) { return Status::InvalidArgument(std::move(msg)); }

Status FieldError(std::string_view name, std::string_view what) {
  std::string msg = "field '";
  msg.append(name).append("': ").append(what);
  return Reject(std::move(msg));
}

Status RecordTooLong(size_t size, size_t limit) {
  return Reject("record is " + std::to_string(size) + " bytes, over the " + std::to_string(limit) +
                "-byte limit");
}

// Key fields must not hold a forbidden byte (the composite-key separator).
Status CheckKeyBytes(const Event& ev, const DecodeOptions& opts) {
  if (opts.forbidden_key_bytes.empty()) return Status::OK();
  for (int idx : opts.required) {
    const Value& v = ev.fields[idx];
    if (v.type() != Type::kString) continue;
    size_t pos = v.str().find_first_of(opts.forbidden_key_bytes);
    if (pos != std::string::npos) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02x", static_cast<unsigned char>(v.str()[pos]));
      return FieldError(opts.schema.field(idx).name, std::string("key contains the byte ") + hex);
    }
  }
  return Status::OK();
}

// The event timestamp must lie in [min_ts, max_ts].
Status CheckEventTs(TimestampMs ts, const DecodeOptions& opts) {
  if (ts > opts.max_ts) {
    return FieldError(opts.ts_field, std::to_string(ts) + " (" + FormatIsoTimestamp(ts) +
                                         ") is after the far-future limit " +
                                         FormatIsoTimestamp(opts.max_ts));
  }
  if (ts < opts.min_ts) {
    return FieldError(opts.ts_field, std::to_string(ts) + " (" + FormatIsoTimestamp(ts) +
                                         ") is before the limit " + FormatIsoTimestamp(opts.min_ts));
  }
  return Status::OK();
}

// Schema field names -> index, looked up by string_view without allocating.
class FieldIndex {
 public:
  explicit FieldIndex(const Schema& schema) {
    for (size_t i = 0; i < schema.size(); ++i) {
      map_.emplace(schema.field(i).name, static_cast<int>(i));
    }
  }
  int Find(std::string_view name) const {
    auto it = map_.find(name);
    return it == map_.end() ? -1 : it->second;
  }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  std::unordered_map<std::string, int, Hash, std::equal_to<>> map_;
};

// ---------------------------------------------------------------------------------------
// Typed parsing of CSV cell text.

Result<int64_t> ParseInt64Text(std::string_view s) {
  size_t i = (!s.empty() && s[0] == '-') ? 1 : 0;
  if (i == s.size()) return Status::InvalidArgument("not an integer");
  for (size_t j = i; j < s.size(); ++j) {
    if (s[j] < '0' || s[j] > '9') return Status::InvalidArgument("not an integer");
  }
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc::result_out_of_range) return Status::InvalidArgument("out of int64 range");
  if (ec != std::errc() || p != s.data() + s.size()) {
    return Status::InvalidArgument("not an integer");
  }
  return v;
}

// Decimal or scientific text only: "nan", "inf", hex and a leading '+' are rejected.
Result<double> ParseDoubleText(std::string_view s) {
  if (s.empty()) return Status::InvalidArgument("not a number");
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '-' || c == '+')) {
      return Status::InvalidArgument("not a number");
    }
  }
  if (s[0] == '+') return Status::InvalidArgument("not a number");
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, std::chars_format::general);
  if (p != s.data() + s.size() || (ec != std::errc() && ec != std::errc::result_out_of_range)) {
    return Status::InvalidArgument("not a number");
  }
  if (ec == std::errc::result_out_of_range) {
    // from_chars reports underflow (1e-400) like overflow. Underflow is a fine number
    // (0 or subnormal, as JSON decoding gives); strtod tells the two apart. The text is
    // known to be plain ASCII digits, so the locale's decimal point cannot matter here
    // unless a program changes LC_NUMERIC, which vigil does not.
    std::string copy(s);
    v = std::strtod(copy.c_str(), nullptr);
    if (std::isinf(v)) return Status::InvalidArgument("out of double range");
  }
  if (!std::isfinite(v)) return Status::InvalidArgument("not a finite number");
  return v;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// JSON number grammar (RFC 8259): -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
// simdjson checks numbers only when they are read; this checks a token without reading
// it, and tells integer literals from the rest for precise messages.
enum class JsonNumberKind { kMalformed, kInteger, kFloat };

JsonNumberKind ClassifyJsonNumber(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  auto digit = [&](size_t k) { return k < n && s[k] >= '0' && s[k] <= '9'; };
  if (i < n && s[i] == '-') ++i;
  if (!digit(i)) return JsonNumberKind::kMalformed;
  if (s[i] == '0') {
    ++i;
  } else {
    while (digit(i)) ++i;
  }
  bool is_float = false;
  if (i < n && s[i] == '.') {
    ++i;
    if (!digit(i)) return JsonNumberKind::kMalformed;
    while (digit(i)) ++i;
    is_float = true;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digit(i)) return JsonNumberKind::kMalformed;
    while (digit(i)) ++i;
    is_float = true;
  }
  if (i != n) return JsonNumberKind::kMalformed;
  return is_float ? JsonNumberKind::kFloat : JsonNumberKind::kInteger;
}

Status BadJson(simdjson::error_code err) {
  if (err == simdjson::UTF8_ERROR) return Reject("not valid UTF-8");
  return Reject(std::string("bad JSON: ") + simdjson::error_message(err));
}

const char* JsonTypeName(od::json_type t) {
  switch (t) {
    case od::json_type::array:
      return "array";
    case od::json_type::object:
      return "object";
    case od::json_type::number:
      return "number";
    case od::json_type::string:
      return "string";
    case od::json_type::boolean:
      return "bool";
    case od::json_type::null:
      return "null";
  }
  return "?";
}

// The key of `field`. Keys almost never hold escapes, so the raw bytes between the
// quotes are used as they are; unescaping every key through simdjson's string parser
// would cost about a third of the decoding time. The view lives as long as the document.
Status ReadKey(od::field& field, std::string_view* key) {
  const char* start = field.key().raw();  // just after the opening quote
  const char* p = start;
  // Stage 1 has found the closing quote, so this loop ends inside the document.
  while (*p != '"' && *p != '\\') ++p;
  if (*p == '"') {
    *key = std::string_view(start, p - start);
    return Status::OK();
  }
  if (auto err = field.unescaped_key().get(*key)) return BadJson(err);
  return Status::OK();
}

Status BadLiteral(od::value& v) {
  return Reject("bad JSON: invalid literal " + Excerpt(TrimJsonSpace(v.raw_json_token())));
}

// json_type::null only says the token starts with 'n': check that it is `null`.
Status ReadNull(od::value& v) {
  bool is_null = false;
  if (v.is_null().get(is_null) != simdjson::SUCCESS || !is_null) return BadLiteral(v);
  return Status::OK();
}

// json_type::boolean only says the token starts with 't' or 'f'.
Status ReadBool(od::value& v, bool* b) {
  if (v.get_bool().get(*b) != simdjson::SUCCESS) return BadLiteral(v);
  return Status::OK();
}

// A value whose first byte starts no JSON value. NaN and Infinity get a clear word: they
// are what non-JSON writers (Python's json.dumps) emit for non-finite floats.
Status BadValueStart(od::value& v, simdjson::error_code err) {
  std::string_view raw = TrimJsonSpace(v.raw_json_token());
  if (raw.rfind("NaN", 0) == 0 || raw.rfind("Infinity", 0) == 0) {
    return Reject("bad JSON: " + Excerpt(raw) +
                  " is not a JSON number (NaN and infinities "
                  "cannot be represented)");
  }
  return BadJson(err);
}

// Says which field a "bad JSON" error was found in, unless the message already does.
Status InField(const Status& st, std::string_view key) {
  const std::string& m = st.message();
  if (m.rfind("bad JSON: ", 0) != 0 || m.find(" in field '") != std::string::npos) return st;
  return Reject(m + " in field '" + Excerpt(key) + "'");
}

// Nesting allowed inside ignored values. Events are flat; this bounds the recursion of
// ValidateIgnoredValue on hostile input such as a megabyte of '['.
constexpr int kMaxIgnoredDepth = 64;

}  // namespace

// ---------------------------------------------------------------------------------------

Status ValidateDecodeOptions(const DecodeOptions& opts) {
  const std::string where = opts.source.empty() ? "decode options" : "source '" + opts.source + "'";
  if (opts.ts_field.empty()) return Status::InvalidArgument(where + ": empty timestamp field name");
  std::unordered_set<std::string_view> names;
  for (const Field& f : opts.schema.fields()) {
    if (f.name.empty()) return Status::InvalidArgument(where + ": a schema field has no name");
    if (f.name == opts.ts_field) {
      return Status::InvalidArgument(where + ": schema field '" + f.name +
                                     "' has the name of the timestamp field; the schema "
                                     "must not list the timestamp");
    }
    if (f.type == Type::kNull) {
      return Status::InvalidArgument(where + ": schema field '" + f.name + "' has type null");
    }
    if (!names.insert(f.name).second) {
      return Status::InvalidArgument(where + ": schema field '" + f.name + "' appears twice");
    }
  }
  for (int idx : opts.required) {
    if (idx < 0 || static_cast<size_t>(idx) >= opts.schema.size()) {
      return Status::InvalidArgument(where + ": required field index " + std::to_string(idx) +
                                     " is out of range (schema has " + std::to_string(opts.schema.size()) +
                                     " fields)");
    }
  }
  if (opts.min_ts > opts.max_ts) {
    return Status::InvalidArgument(where + ": min_ts " + std::to_string(opts.min_ts) + " is after max_ts " +
                                   std::to_string(opts.max_ts));
  }
  return Status::OK();
}

Result<InputFormat> FormatFromPath(std::string_view path) {
  size_t slash = path.find_last_of('/');
  std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  size_t dot = base.find_last_of('.');
  std::string_view ext = dot == std::string_view::npos ? std::string_view() : base.substr(dot + 1);
  if (EqualsIgnoreCase(ext, "jsonl") || EqualsIgnoreCase(ext, "json") || EqualsIgnoreCase(ext, "ndjson")) {
    return InputFormat::kJsonLines;
  }
  if (EqualsIgnoreCase(ext, "csv")) return InputFormat::kCsv;
  if (EqualsIgnoreCase(ext, "parquet")) return InputFormat::kParquet;
  return Status::InvalidArgument("cannot tell the format of '" + std::string(path) +
                                 "' from its name: want a .jsonl, .ndjson, .json (JSON lines), "
                                 ".csv or .parquet file");
}

// ---------------------------------------------------------------------------------------
// JSON

struct JsonEventDecoder::Impl {
  explicit Impl(const DecodeOptions& o) : opts(o), options_status(ValidateDecodeOptions(o)), index(o.schema) {
    for (const Field& f : opts.schema.fields()) slot_names.push_back(f.name);
    slot_names.push_back(opts.ts_field);
    next_guess.assign(slot_names.size() + 1, -1);
    types.reserve(o.schema.size());
    for (const Field& f : o.schema.fields()) types.push_back(f.type);
    required.assign(o.schema.size(), 0);
    for (int idx : o.required) {
      if (idx >= 0 && static_cast<size_t>(idx) < required.size()) required[idx] = 1;
    }
    seen.assign(o.schema.size(), 0);
  }

  Status Decode(std::string_view json, Event* out);
  Status DecodeTimestamp(od::value& v, std::string_view name, Value* out);
  Status DecodeField(od::value& v, size_t idx, Value* out);
  Status ValidateIgnoredValue(od::value v, std::string_view key, int depth);
  bool SeenIgnoredKey(std::string_view key);

  // The slot of `key`: a schema index, ts_slot() for the timestamp, or -1. Producers
  // write keys in the same order on every line, so the slot that followed `prev` last
  // time is tried first; a hit costs one string compare instead of a hash lookup.
  int FindSlot(std::string_view key, int prev) {
    const int guess = next_guess[prev];
    if (guess >= 0 && slot_names[guess] == key) return guess;
    int slot = key == opts.ts_field ? ts_slot() : index.Find(key);
    if (slot >= 0) next_guess[prev] = slot;
    return slot;
  }
  int ts_slot() const { return static_cast<int>(types.size()); }
  int start_slot() const { return static_cast<int>(types.size()) + 1; }

  const DecodeOptions opts;
  const Status options_status;
  const FieldIndex index;
  std::vector<std::string_view> slot_names;  // schema names, then ts_field (into opts)
  std::vector<int> next_guess;               // per slot, and start_slot(): see FindSlot
  std::vector<Type> types;
  std::vector<uint8_t> required;
  // seen[i] == generation when field i was set in the current document: no clearing per
  // document.
  std::vector<uint32_t> seen;
  uint32_t generation = 0;
  // Keys not in the schema, to reject duplicates among them (small documents: a vector;
  // many keys: a set too).
  std::vector<std::string_view> ignored_keys;
  std::unordered_set<std::string_view> ignored_key_set;

  od::parser parser;
  std::string padded;  // the document plus SIMDJSON_PADDING bytes, reused
};

JsonEventDecoder::JsonEventDecoder(const DecodeOptions& opts) : impl_(std::make_unique<Impl>(opts)) {}
JsonEventDecoder::~JsonEventDecoder() = default;

Status JsonEventDecoder::Decode(std::string_view json, Event* out) { return impl_->Decode(json, out); }

Status JsonEventDecoder::Impl::DecodeTimestamp(od::value& v, std::string_view name, Value* out) {
  od::json_type t;
  if (auto err = v.type().get(t)) return BadValueStart(v, err);
  switch (t) {
    case od::json_type::null:
      VIGIL_RETURN_IF_ERROR(ReadNull(v));
      *out = Value::Null();
      return Status::OK();
    case od::json_type::number: {
      std::string_view raw = TrimJsonSpace(v.raw_json_token());
      JsonNumberKind kind = ClassifyJsonNumber(raw);
      if (kind == JsonNumberKind::kMalformed) {
        return Reject("bad JSON: malformed number " + Excerpt(raw) + " in field '" + std::string(name) + "'");
      }
      if (kind == JsonNumberKind::kFloat) {
        return FieldError(name, "want timestamp (integer ms or ISO-8601 string), got number " + Excerpt(raw));
      }
      int64_t ms;
      if (v.get_int64().get(ms) != simdjson::SUCCESS || ms < kMinTimestamp || ms > kMaxTimestamp) {
        return FieldError(name, "bad timestamp " + Excerpt(raw) + ": out of range");
      }
      *out = Value::Timestamp(ms);
      return Status::OK();
    }
    case od::json_type::string: {
      std::string_view s;
      if (auto err = v.get_string().get(s)) return BadJson(err);
      auto ts = ParseTimestamp(s);
      if (!ts.ok()) return FieldError(name, ts.status().message());
      *out = Value::Timestamp(*ts);
      return Status::OK();
    }
    default: {
      std::string what = "want timestamp (integer ms or ISO-8601 string), got ";
      what += JsonTypeName(t);
      if (t == od::json_type::boolean) what.append(" ").append(TrimJsonSpace(v.raw_json_token()));
      return FieldError(name, what);
    }
  }
}

Status JsonEventDecoder::Impl::DecodeField(od::value& v, size_t idx, Value* out) {
  const Type want = types[idx];
  if (want == Type::kTimestamp) return DecodeTimestamp(v, opts.schema.field(idx).name, out);
  const std::string& name = opts.schema.field(idx).name;
  od::json_type t;
  if (auto err = v.type().get(t)) return BadValueStart(v, err);
  if (t == od::json_type::null) {
    VIGIL_RETURN_IF_ERROR(ReadNull(v));
    *out = Value::Null();
    return Status::OK();
  }
  switch (want) {
    case Type::kInt64:
      if (t == od::json_type::number) {
        std::string_view raw = TrimJsonSpace(v.raw_json_token());
        JsonNumberKind kind = ClassifyJsonNumber(raw);
        if (kind == JsonNumberKind::kMalformed) {
          return Reject("bad JSON: malformed number " + Excerpt(raw) + " in field '" + name + "'");
        }
        if (kind == JsonNumberKind::kFloat) {
          return FieldError(
              name, "want int64, got number " + Excerpt(raw) + " (write integers without '.' or exponent)");
        }
        int64_t i;
        if (v.get_int64().get(i) != simdjson::SUCCESS) {
          return FieldError(name, "integer " + Excerpt(raw) + " is out of int64 range");
        }
        *out = Value::Int64(i);
        return Status::OK();
      }
      break;
    case Type::kDouble:
      if (t == od::json_type::number) {
        std::string_view raw = TrimJsonSpace(v.raw_json_token());
        if (ClassifyJsonNumber(raw) == JsonNumberKind::kMalformed) {
          return Reject("bad JSON: malformed number " + Excerpt(raw) + " in field '" + name + "'");
        }
        double d;
        if (v.get_double().get(d) != simdjson::SUCCESS || !std::isfinite(d)) {
          return FieldError(name, "number " + Excerpt(raw) + " is out of double range");
        }
        *out = Value::Double(d);
        return Status::OK();
      }
      break;
    case Type::kBool:
      if (t == od::json_type::boolean) {
        bool b;
        VIGIL_RETURN_IF_ERROR(ReadBool(v, &b));
        *out = Value::Bool(b);
        return Status::OK();
      }
      break;
    case Type::kString:
      if (t == od::json_type::string) {
        std::string_view s;
        if (auto err = v.get_string().get(s)) return BadJson(err);
        *out = Value::String(std::string(s));
        return Status::OK();
      }
      break;
    default:
      break;
  }
  std::string what = "want ";
  what.append(TypeName(want)).append(", got ").append(JsonTypeName(t));
  if (t != od::json_type::object && t != od::json_type::array) {
    what.append(" ").append(Excerpt(TrimJsonSpace(v.raw_json_token())));
  }
  return FieldError(name, what);
}

// Reads an ignored value in full so that invalid JSON inside it is still an error (the
// On Demand API checks only what is read).
Status JsonEventDecoder::Impl::ValidateIgnoredValue(od::value v, std::string_view key, int depth) {
  if (depth > kMaxIgnoredDepth) {
    return Reject("field '" + Excerpt(key) + "': nested deeper than " + std::to_string(kMaxIgnoredDepth) +
                  " levels");
  }
  od::json_type t;
  if (auto err = v.type().get(t)) return BadValueStart(v, err);
  switch (t) {
    case od::json_type::object: {
      od::object obj;
      if (auto err = v.get_object().get(obj)) return BadJson(err);
      for (auto field_result : obj) {
        od::field field;
        if (auto err = std::move(field_result).get(field)) return BadJson(err);
        std::string_view k;
        if (auto err = field.unescaped_key().get(k)) return BadJson(err);
        VIGIL_RETURN_IF_ERROR(ValidateIgnoredValue(field.value(), key, depth + 1));
      }
      return Status::OK();
    }
    case od::json_type::array: {
      od::array arr;
      if (auto err = v.get_array().get(arr)) return BadJson(err);
      for (auto elem_result : arr) {
        od::value elem;
        if (auto err = std::move(elem_result).get(elem)) return BadJson(err);
        VIGIL_RETURN_IF_ERROR(ValidateIgnoredValue(elem, key, depth + 1));
      }
      return Status::OK();
    }
    case od::json_type::number: {
      // Grammar only: an ignored 1e400 is valid JSON and none of our business.
      std::string_view raw = TrimJsonSpace(v.raw_json_token());
      if (ClassifyJsonNumber(raw) == JsonNumberKind::kMalformed) {
        return Reject("bad JSON: malformed number " + Excerpt(raw) + " in field '" + Excerpt(key) + "'");
      }
      return Status::OK();
    }
    case od::json_type::string: {
      std::string_view s;
      if (auto err = v.get_string().get(s)) return BadJson(err);
      return Status::OK();
    }
    case od::json_type::boolean: {
      bool b;
      return ReadBool(v, &b);
    }
    case od::json_type::null:
      return ReadNull(v);
  }
  return BadJson(simdjson::TAPE_ERROR);
}

bool JsonEventDecoder::Impl::SeenIgnoredKey(std::string_view key) {
  constexpr size_t kLinearLimit = 16;
  if (ignored_keys.size() < kLinearLimit) {
    for (std::string_view k : ignored_keys) {
      if (k == key) return true;
    }
    ignored_keys.push_back(key);
    if (ignored_keys.size() == kLinearLimit) {
      ignored_key_set.insert(ignored_keys.begin(), ignored_keys.end());
    }
    return false;
  }
  return !ignored_key_set.insert(key).second;
}

Status JsonEventDecoder::Impl::Decode(std::string_view json, Event* out) {
  VIGIL_RETURN_IF_ERROR(options_status);
  if (json.size() > opts.max_record_bytes) return RecordTooLong(json.size(), opts.max_record_bytes);

  // simdjson reads up to SIMDJSON_PADDING bytes past the end; they are zeroed so that stale
  // bytes of a longer earlier document cannot matter.
  const size_t capacity = json.size() + simdjson::SIMDJSON_PADDING;
  if (padded.size() < capacity) padded.resize(capacity);
  std::memcpy(padded.data(), json.data(), json.size());
  std::memset(padded.data() + json.size(), 0, simdjson::SIMDJSON_PADDING);

  od::document doc;
  if (auto err = parser.iterate(padded.data(), json.size(), padded.size()).get(doc)) {
    return BadJson(err);
  }
  // An object line ends with its closing brace; bare words after it would otherwise read
  // as a truncated object to the On Demand API.
  if (std::string_view t = TrimJsonSpace(json); !t.empty() && t.front() == '{' && t.back() != '}') {
    size_t close = t.rfind('}');
    if (close != std::string_view::npos) {
      return Reject("bad JSON: text after the object: " + Excerpt(t.substr(close + 1)));
    }
  }
  od::json_type top;
  if (auto err = doc.type().get(top)) return BadJson(err);
  if (top != od::json_type::object) {
    if (top == od::json_type::array) return Reject("not a JSON object (got array)");
    // A scalar document: name it when it is valid JSON ("12", "null"), else it is junk
    // ("not json" looks like a null to the On Demand API, which only reads the first byte).
    std::string_view token;
    if (auto err = doc.raw_json_token().get(token)) return BadJson(err);
    const std::string_view raw = TrimJsonSpace(token);
    const bool at_end = static_cast<size_t>(token.data() - padded.data()) + token.size() >= json.size();
    const bool valid = !at_end                        ? false
                       : top == od::json_type::number ? ClassifyJsonNumber(raw) != JsonNumberKind::kMalformed
                       : top == od::json_type::string ? raw.size() >= 2 && raw.back() == '"'
                       : top == od::json_type::null   ? raw == "null"
                                                      : raw == "true" || raw == "false";
    if (!valid) return Reject("bad JSON: not a JSON value: " + Excerpt(TrimJsonSpace(json)));
    std::string got = JsonTypeName(top);
    if (top != od::json_type::null) got += " " + Excerpt(raw);
    return Reject("not a JSON object (got " + got + ")");
  }
  od::object obj;
  if (auto err = doc.get_object().get(obj)) return BadJson(err);

  if (++generation == 0) {  // wrapped: old marks could collide, clear them once
    std::fill(seen.begin(), seen.end(), 0);
    generation = 1;
  }
  ignored_keys.clear();
  if (!ignored_key_set.empty()) ignored_key_set.clear();
  out->fields.clear();
  out->fields.resize(types.size());
  bool have_ts = false;
  Value ts_value;
  int prev = start_slot();

  for (auto field_result : obj) {
    // References, not copies: copying simdjson's iterator objects shows in profiles.
    if (auto err = field_result.error()) return BadJson(err);
    od::field& field = field_result.value_unsafe();
    std::string_view key;
    VIGIL_RETURN_IF_ERROR(ReadKey(field, &key));
    od::value& v = field.value();
    const int slot = FindSlot(key, prev);
    if (slot < 0) {
      if (SeenIgnoredKey(key)) return FieldError(Excerpt(key), "duplicate key");
      Status st = ValidateIgnoredValue(v, key, 1);
      if (!st.ok()) return InField(st, key);
      continue;
    }
    prev = slot;
    if (slot == ts_slot()) {
      if (have_ts) return FieldError(key, "duplicate key");
      have_ts = true;
      Status st = DecodeTimestamp(v, opts.ts_field, &ts_value);
      if (!st.ok()) return InField(st, key);
      continue;
    }
    if (seen[slot] == generation) return FieldError(key, "duplicate key");
    seen[slot] = generation;
    Status st = DecodeField(v, static_cast<size_t>(slot), &out->fields[slot]);
    if (!st.ok()) return InField(st, key);
  }
  // Anything after the closing brace ({"a":1} {"b":2}) is an error.
  const char* trailing = nullptr;
  if (doc.current_location().get(trailing) == simdjson::SUCCESS) {
    const size_t offset = std::min<size_t>(json.size(), trailing - padded.data());
    return Reject("bad JSON: text after the object: " + Excerpt(json.substr(offset)));
  }

  if (!have_ts) return FieldError(opts.ts_field, "missing (event timestamp)");
  if (ts_value.is_null()) return FieldError(opts.ts_field, "null (event timestamp)");
  out->ts = ts_value.int64();
  for (int idx : opts.required) {
    if (out->fields[idx].is_null()) {
      return FieldError(opts.schema.field(idx).name,
                        seen[idx] == generation ? "null (entity key)" : "missing (entity key)");
    }
  }
  VIGIL_RETURN_IF_ERROR(CheckKeyBytes(*out, opts));
  return CheckEventTs(out->ts, opts);
}

// ---------------------------------------------------------------------------------------
// Files: chunked reading and record splitting.

namespace {

constexpr size_t kChunkBytes = 1 << 20;

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Splits a file into records: lines for JSON lines, RFC 4180 records for CSV (a newline
// inside a quoted cell does not end the record). Reads kChunkBytes at a time; a record
// lying inside one chunk is returned without copying.
class RecordReader {
 public:
  RecordReader(int fd, std::string path, bool csv)
      : fd_(fd), path_(std::move(path)), csv_(csv), buf_(new char[kChunkBytes]) {}

  // Sets *raw to the next record without its terminator (LF, or CRLF) and *line to the
  // 1-based line it starts on. *raw stays valid until the next call. Returns false at the
  // end of the file.
  Result<bool> Next(std::string_view* raw, int64_t* line) {
    carry_.clear();
    csv_state_ = CsvState::kCellStart;
    int64_t newlines_inside = 0;
    for (;;) {
      if (pos_ == len_) {
        if (eof_) {
          if (carry_.empty()) return false;
          return Finish(carry_, raw, line, newlines_inside);
        }
        VIGIL_RETURN_IF_ERROR(Fill());
        continue;
      }
      const char* begin = buf_.get() + pos_;
      const size_t n = len_ - pos_;
      size_t end = csv_ ? ScanCsv(begin, n, &newlines_inside) : ScanLine(begin, n);
      if (end == n) {  // the record goes on in the next chunk
        carry_.append(begin, n);
        pos_ = len_;
        continue;
      }
      pos_ += end + 1;
      if (carry_.empty()) return Finish(std::string_view(begin, end), raw, line, newlines_inside);
      carry_.append(begin, end);
      return Finish(carry_, raw, line, newlines_inside);
    }
  }

 private:
  enum class CsvState : uint8_t { kCellStart, kUnquoted, kQuoted, kQuoteInQuoted };

  bool Finish(std::string_view rec, std::string_view* raw, int64_t* line, int64_t newlines_inside) {
    if (!rec.empty() && rec.back() == '\r') rec.remove_suffix(1);
    *raw = rec;
    *line = next_line_;
    next_line_ += 1 + newlines_inside;
    return true;
  }

  static size_t ScanLine(const char* p, size_t n) {
    const void* nl = std::memchr(p, '\n', n);
    return nl == nullptr ? n : static_cast<const char*>(nl) - p;
  }

  // Returns the offset of the LF that ends the record, or n. Counts the LFs inside quoted
  // cells. The state survives chunk boundaries. A quote opens a quoted cell only at the
  // start of a cell, as in RFC 4180; elsewhere the record parser rejects it.
  size_t ScanCsv(const char* p, size_t n, int64_t* newlines_inside) {
    size_t i = 0;
    CsvState st = csv_state_;
    while (i < n) {
      if (st == CsvState::kQuoted) {
        const void* q = std::memchr(p + i, '"', n - i);
        const size_t stop = q == nullptr ? n : static_cast<const char*>(q) - p;
        *newlines_inside += std::count(p + i, p + stop, '\n');
        if (q == nullptr) {
          i = n;
          break;
        }
        st = CsvState::kQuoteInQuoted;
        i = stop + 1;
        continue;
      }
      const char c = p[i];
      if (c == '\n') {
        csv_state_ = CsvState::kCellStart;
        return i;
      }
      switch (st) {
        case CsvState::kCellStart:
          st = c == '"' ? CsvState::kQuoted : c == ',' ? CsvState::kCellStart : CsvState::kUnquoted;
          break;
        case CsvState::kUnquoted:
          if (c == ',') st = CsvState::kCellStart;
          break;
        case CsvState::kQuoteInQuoted:  // "" is an escaped quote; else the cell closed
          st = c == '"' ? CsvState::kQuoted : c == ',' ? CsvState::kCellStart : CsvState::kUnquoted;
          break;
        case CsvState::kQuoted:
          break;
      }
      ++i;
    }
    csv_state_ = st;
    return n;
  }

  Status Fill() {
    pos_ = 0;
    len_ = 0;
    for (;;) {
      ssize_t got = ::read(fd_, buf_.get(), kChunkBytes);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) {
        return Status::IOError("cannot read '" + path_ + "': " + std::strerror(errno));
      }
      if (got == 0) eof_ = true;
      len_ = static_cast<size_t>(got);
      break;
    }
    if (first_chunk_) {
      first_chunk_ = false;
      if (len_ >= 3 && std::memcmp(buf_.get(), "\xEF\xBB\xBF", 3) == 0) pos_ = 3;  // BOM
    }
    return Status::OK();
  }

  const int fd_;
  const std::string path_;
  const bool csv_;
  std::unique_ptr<char[]> buf_;
  size_t pos_ = 0;
  size_t len_ = 0;
  bool eof_ = false;
  bool first_chunk_ = true;
  std::string carry_;  // a record that spans chunks
  int64_t next_line_ = 1;
  CsvState csv_state_ = CsvState::kCellStart;
};

// ---------------------------------------------------------------------------------------
// CSV

struct CsvCell {
  std::string_view text;
  bool quoted = false;
};

// Splits one record (terminator removed) into cells. Views point into `raw` or, for
// quoted cells with "" escapes, into *scratch. `columns` (may be null) names cells in
// messages.
Status ParseCsvRecord(std::string_view raw, const std::vector<std::string>* columns,
                      std::vector<CsvCell>* cells, std::string* scratch) {
  cells->clear();
  scratch->clear();
  scratch->reserve(raw.size());  // never exceeded below, so views into it stay valid
  auto where = [&](size_t cell) {
    std::string s = "cell " + std::to_string(cell + 1);
    if (columns != nullptr && cell < columns->size()) s += " ('" + (*columns)[cell] + "')";
    return s;
  };
  size_t i = 0;
  const size_t n = raw.size();
  for (;;) {
    if (i < n && raw[i] == '"') {
      const size_t opened = i;
      ++i;
      size_t start = i;
      const size_t scratch_start = scratch->size();
      bool escaped = false;
      std::string_view text;
      for (;;) {
        size_t q = raw.find('"', i);
        if (q == std::string_view::npos) {
          return Reject(where(cells->size()) + ": quoted cell opened at byte " + std::to_string(opened) +
                        " is never closed");
        }
        if (q + 1 < n && raw[q + 1] == '"') {  // "" -> "
          scratch->append(raw.substr(start, q + 1 - start));
          escaped = true;
          i = q + 2;
          start = i;
          continue;
        }
        if (escaped) {
          scratch->append(raw.substr(start, q - start));
          text = std::string_view(scratch->data() + scratch_start, scratch->size() - scratch_start);
        } else {
          text = raw.substr(start, q - start);
        }
        i = q + 1;
        break;
      }
      cells->push_back({text, true});
      if (i == n) return Status::OK();
      if (raw[i] != ',') {
        return Reject(where(cells->size() - 1) +
                      ": unexpected text after the closing quote: " + Excerpt(raw.substr(i)));
      }
      ++i;
      continue;
    }
    size_t comma = raw.find(',', i);
    const size_t end = comma == std::string_view::npos ? n : comma;
    std::string_view text = raw.substr(i, end - i);
    if (text.find('"') != std::string_view::npos) {
      return Reject(where(cells->size()) + ": quote inside an unquoted cell " + Excerpt(text) +
                    " (quote the whole cell and double inner quotes: \"5\"\" screen\")");
    }
    cells->push_back({text, false});
    if (comma == std::string_view::npos) return Status::OK();
    i = comma + 1;
  }
}

// Decodes CSV records whose columns the header names.
class CsvEventDecoder {
 public:
  explicit CsvEventDecoder(const DecodeOptions& opts) : opts_(opts) {
    required_.assign(opts.schema.size(), 0);
    for (int idx : opts.required) required_[idx] = 1;
  }

  // Maps header cells to the timestamp and schema fields. InvalidArgument (without a
  // file prefix) listing every missing column, or naming a duplicated one.
  Status Init(const std::vector<CsvCell>& header) {
    FieldIndex index(opts_.schema);
    targets_.assign(header.size(), kIgnore);
    columns_.clear();
    std::vector<bool> have(opts_.schema.size(), false);
    bool have_ts = false;
    for (size_t c = 0; c < header.size(); ++c) {
      std::string_view name = header[c].text;
      columns_.emplace_back(name);
      int target = kIgnore;
      if (name == opts_.ts_field) {
        if (have_ts) return Status::InvalidArgument("column '" + std::string(name) + "' appears twice");
        have_ts = true;
        target = kTs;
      } else if (int idx = index.Find(name); idx >= 0) {
        if (have[idx]) return Status::InvalidArgument("column '" + std::string(name) + "' appears twice");
        have[idx] = true;
        target = idx;
      }
      targets_[c] = target;
    }
    std::string missing;
    auto add_missing = [&](const std::string& name) {
      if (!missing.empty()) missing += ", ";
      missing += "'" + name + "'";
    };
    if (!have_ts) add_missing(opts_.ts_field);
    for (size_t i = 0; i < have.size(); ++i) {
      if (!have[i]) add_missing(opts_.schema.field(i).name);
    }
    if (!missing.empty()) {
      std::string has;
      for (const std::string& c : columns_) has += (has.empty() ? "" : ", ") + Excerpt(c);
      return Status::InvalidArgument("CSV header lacks column(s) " + missing + " (header has: " + has + ")");
    }
    return Status::OK();
  }

  Status Decode(std::string_view raw, Event* out) {
    if (raw.size() > opts_.max_record_bytes) return RecordTooLong(raw.size(), opts_.max_record_bytes);
    if (!simdjson::validate_utf8(raw.data(), raw.size())) return Reject("not valid UTF-8");
    VIGIL_RETURN_IF_ERROR(ParseCsvRecord(raw, &columns_, &cells_, &scratch_));
    if (cells_.size() != targets_.size()) {
      return Reject("record has " + std::to_string(cells_.size()) + " cells, header has " +
                    std::to_string(targets_.size()));
    }
    out->fields.clear();
    out->fields.resize(opts_.schema.size());
    for (size_t c = 0; c < cells_.size(); ++c) {
      const int target = targets_[c];
      if (target == kIgnore) continue;
      const CsvCell& cell = cells_[c];
      if (target == kTs) {
        if (cell.text.empty()) return FieldError(opts_.ts_field, "empty (event timestamp)");
        auto ts = ParseTimestamp(cell.text);
        if (!ts.ok()) return FieldError(opts_.ts_field, ts.status().message());
        out->ts = *ts;
        continue;
      }
      const Field& f = opts_.schema.field(target);
      VIGIL_RETURN_IF_ERROR(DecodeCell(f, cell, &out->fields[target]));
      if (required_[target] && out->fields[target].is_null()) {
        return FieldError(f.name, "empty (entity key)");
      }
    }
    // Init guarantees a ts column and the cell count matches, so out->ts was set.
    VIGIL_RETURN_IF_ERROR(CheckKeyBytes(*out, opts_));
    return CheckEventTs(out->ts, opts_);
  }

  const std::vector<std::string>& columns() const { return columns_; }

 private:
  static constexpr int kIgnore = -1;
  static constexpr int kTs = -2;

  static Status DecodeCell(const Field& f, const CsvCell& cell, Value* out) {
    if (cell.text.empty()) {
      // Unquoted empty is null; quoted "" is the empty string, and null for other types.
      *out = cell.quoted && f.type == Type::kString ? Value::String("") : Value::Null();
      return Status::OK();
    }
    switch (f.type) {
      case Type::kString:
        *out = Value::String(std::string(cell.text));
        return Status::OK();
      case Type::kInt64: {
        auto v = ParseInt64Text(cell.text);
        if (!v.ok()) {
          return FieldError(f.name,
                            "want int64, got '" + Excerpt(cell.text) + "' (" + v.status().message() + ")");
        }
        *out = Value::Int64(*v);
        return Status::OK();
      }
      case Type::kDouble: {
        auto v = ParseDoubleText(cell.text);
        if (!v.ok()) {
          return FieldError(f.name,
                            "want double, got '" + Excerpt(cell.text) + "' (" + v.status().message() + ")");
        }
        *out = Value::Double(*v);
        return Status::OK();
      }
      case Type::kBool:
        if (EqualsIgnoreCase(cell.text, "true")) {
          *out = Value::Bool(true);
        } else if (EqualsIgnoreCase(cell.text, "false")) {
          *out = Value::Bool(false);
        } else {
          return FieldError(f.name, "want bool (true or false), got '" + Excerpt(cell.text) + "'");
        }
        return Status::OK();
      case Type::kTimestamp: {
        auto ts = ParseTimestamp(cell.text);
        if (!ts.ok()) return FieldError(f.name, ts.status().message());
        *out = Value::Timestamp(*ts);
        return Status::OK();
      }
      case Type::kNull:
        break;
    }
    return FieldError(f.name, "schema type null cannot hold a value");
  }

  const DecodeOptions& opts_;
  std::vector<uint8_t> required_;
  std::vector<int> targets_;  // per column: kIgnore, kTs or a schema index
  std::vector<std::string> columns_;
  std::vector<CsvCell> cells_;
  std::string scratch_;
};

Status DecodeJsonLines(RecordReader& reader, const std::string& path, const DecodeOptions& opts,
                       const EventSink& on_event, const RejectSink& on_reject) {
  JsonEventDecoder decoder(opts);
  std::string_view raw;
  int64_t line = 0;
  for (;;) {
    VIGIL_ASSIGN_OR_RETURN(bool more, reader.Next(&raw, &line));
    if (!more) return Status::OK();
    if (IsBlank(raw)) continue;
    Event ev;
    Status st = decoder.Decode(raw, &ev);
    if (st.ok()) {
      VIGIL_RETURN_IF_ERROR(on_event(std::move(ev), line));
    } else {
      VIGIL_RETURN_IF_ERROR(on_reject(RejectedRecord{path, line, std::string(raw), st.message()}));
    }
  }
}

Status DecodeCsv(RecordReader& reader, const std::string& path, const DecodeOptions& opts,
                 const EventSink& on_event, const RejectSink& on_reject) {
  std::string_view raw;
  int64_t line = 0;
  // The header: the first record that is not blank.
  for (;;) {
    VIGIL_ASSIGN_OR_RETURN(bool more, reader.Next(&raw, &line));
    if (!more) {
      return Status::InvalidArgument(path +
                                     ": empty file: want a CSV header naming the columns, "
                                     "including '" +
                                     opts.ts_field + "'");
    }
    if (!IsBlank(raw)) break;
  }
  const std::string at = path + ":" + std::to_string(line) + ": ";
  if (raw.size() > opts.max_record_bytes) {
    return Status::InvalidArgument(
        at + "CSV header: " + RecordTooLong(raw.size(), opts.max_record_bytes).message());
  }
  if (!simdjson::validate_utf8(raw.data(), raw.size())) {
    return Status::InvalidArgument(at + "CSV header is not valid UTF-8");
  }
  std::vector<CsvCell> header;
  std::string scratch;
  Status st = ParseCsvRecord(raw, nullptr, &header, &scratch);
  if (!st.ok()) return Status::InvalidArgument(at + "bad CSV header: " + st.message());
  CsvEventDecoder decoder(opts);
  st = decoder.Init(header);
  if (!st.ok()) return Status::InvalidArgument(at + st.message());

  for (;;) {
    VIGIL_ASSIGN_OR_RETURN(bool more, reader.Next(&raw, &line));
    if (!more) return Status::OK();
    if (IsBlank(raw)) continue;
    Event ev;
    st = decoder.Decode(raw, &ev);
    if (st.ok()) {
      VIGIL_RETURN_IF_ERROR(on_event(std::move(ev), line));
    } else {
      VIGIL_RETURN_IF_ERROR(on_reject(RejectedRecord{path, line, std::string(raw), st.message()}));
    }
  }
}

// ---------------------------------------------------------------------------------------
// Parquet

// Whether a file column of type `have` can be read as the schema type `want` without a
// lossy cast: only integers widen to double, and integer ms serve as timestamps (as in
// JSON and CSV).
bool ParquetTypeFits(Type have, Type want) {
  if (have == want) return true;
  if (want == Type::kDouble || want == Type::kTimestamp) return have == Type::kInt64;
  return false;
}

// A rejected row as one JSON object of the columns decoded: ts first, then the schema's.
std::string ParquetRowJson(const parquet::ColumnBatch& b, int64_t row) {
  std::string out = "{";
  for (size_t c = 0; c < b.columns.size(); ++c) {
    if (c > 0) out += ", ";
    AppendJsonString(b.schema.field(c).name, &out);
    out += ": ";
    const parquet::Column& col = b.columns[c];
    if (col.type == Type::kDouble && !col.is_null(row) && !std::isfinite(col.doubles[row])) {
      out += std::isnan(col.doubles[row]) ? "\"NaN\""
                                          : (col.doubles[row] > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    } else {
      col.Get(static_cast<size_t>(row)).AppendJson(&out);
    }
  }
  return out + "}";
}

Status DecodeParquet(const std::string& path, const DecodeOptions& opts, const EventSink& on_event,
                     const RejectSink& on_reject) {
  VIGIL_ASSIGN_OR_RETURN(auto reader, parquet::Reader::Open(path));
  const Schema& file = reader->schema();
  std::string missing, bad;
  auto add = [](std::string* list, const std::string& what) {
    if (!list->empty()) *list += ", ";
    *list += what;
  };
  // Selection: the ts column, then one per schema field.
  std::vector<int> selection;
  auto match = [&](const std::string& name, Type want) {
    int idx = file.IndexOf(name);
    if (idx < 0) {
      add(&missing, "'" + name + "'");
      return;
    }
    Type have = file.field(idx).type;
    if (have == Type::kNull) {
      add(&bad,
          "column '" + name + "' has a type vigil cannot read (want " + std::string(TypeName(want)) + ")");
    } else if (!ParquetTypeFits(have, want)) {
      add(&bad, "column '" + name + "' is " + std::string(TypeName(have)) + ", the schema wants " +
                    std::string(TypeName(want)));
    }
    selection.push_back(idx);
  };
  match(opts.ts_field, Type::kTimestamp);
  for (const Field& f : opts.schema.fields()) match(f.name, f.type);
  if (!missing.empty()) return Status::InvalidArgument(path + ": missing column(s) " + missing);
  if (!bad.empty()) return Status::InvalidArgument(path + ": " + bad);

  std::vector<uint8_t> required(opts.schema.size(), 0);
  for (int idx : opts.required) required[idx] = 1;
  int64_t line = 0;
  for (size_t g = 0; g < reader->row_groups().size(); ++g) {
    VIGIL_ASSIGN_OR_RETURN(parquet::ColumnBatch b, reader->ReadRowGroup(static_cast<int>(g), selection));
    const int64_t rows = b.rows();
    for (int64_t r = 0; r < rows; ++r) {
      ++line;
      Event ev;
      Status st;
      const parquet::Column& ts = b.columns[0];
      if (ts.is_null(r)) {
        st = FieldError(opts.ts_field, "missing (event timestamp)");
      } else {
        ev.ts = ts.ints[r];
        st = CheckEventTs(ev.ts, opts);
      }
      ev.fields.resize(opts.schema.size());
      for (size_t i = 0; i < opts.schema.size() && st.ok(); ++i) {
        const parquet::Column& col = b.columns[i + 1];
        const Field& f = opts.schema.field(i);
        if (col.is_null(r)) {
          if (required[i]) st = FieldError(f.name, "null (entity key)");
          continue;
        }
        switch (f.type) {
          case Type::kDouble: {
            double v = col.type == Type::kDouble ? col.doubles[r] : static_cast<double>(col.ints[r]);
            if (!std::isfinite(v)) {
              st = FieldError(f.name,
                              "want a finite double, got " + std::string(std::isnan(v) ? "NaN" : "infinity"));
            }
            ev.fields[i] = Value::Double(v);
            break;
          }
          case Type::kString: {
            std::string_view sv = col.str(r);
            if (!simdjson::validate_utf8(sv.data(), sv.size())) {
              st = FieldError(f.name, "string is not valid UTF-8");
            }
            ev.fields[i] = Value::String(std::string(sv));
            break;
          }
          case Type::kInt64:
            ev.fields[i] = Value::Int64(col.ints[r]);
            break;
          case Type::kBool:
            ev.fields[i] = Value::Bool(col.ints[r] != 0);
            break;
          case Type::kTimestamp:
            ev.fields[i] = Value::Timestamp(col.ints[r]);
            break;
          case Type::kNull:
            break;
        }
      }
      if (st.ok()) st = CheckKeyBytes(ev, opts);
      if (st.ok()) {
        VIGIL_RETURN_IF_ERROR(on_event(std::move(ev), line));
      } else {
        VIGIL_RETURN_IF_ERROR(on_reject(RejectedRecord{path, line, ParquetRowJson(b, r), st.message()}));
      }
    }
  }
  return Status::OK();
}

}  // namespace

Status DecodeFile(const std::string& path, InputFormat format, const DecodeOptions& opts,
                  const EventSink& on_event, const RejectSink& on_reject) {
  VIGIL_RETURN_IF_ERROR(ValidateDecodeOptions(opts));
  if (format == InputFormat::kParquet) return DecodeParquet(path, opts, on_event, on_reject);
  int raw_fd;
  do {
    raw_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (raw_fd < 0 && errno == EINTR);
  if (raw_fd < 0) return Status::IOError("cannot open '" + path + "': " + std::strerror(errno));
  FileDescriptor fd(raw_fd);
  const bool csv = format == InputFormat::kCsv;
  RecordReader reader(fd.get(), path, csv);
  if (csv) return DecodeCsv(reader, path, opts, on_event, on_reject);
  return DecodeJsonLines(reader, path, opts, on_event, on_reject);
}

}  // namespace vigil
