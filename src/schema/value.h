// Typed values, schemas and rows: what an event and a feature value are made of.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/time.h"

namespace vigil {

// Persisted in log records and stores: values must not change.
enum class Type : uint8_t {
  kNull = 0,
  kInt64 = 1,
  kDouble = 2,
  kString = 3,
  kBool = 4,
  kTimestamp = 5,
};

// "int64", "double", "string", "bool", "timestamp", "null".
std::string_view TypeName(Type t);
// Accepts the names above. InvalidArgument names the allowed set.
Result<Type> ParseTypeName(std::string_view name);

// One typed value, or null. Cheap to copy for non-strings. Doubles are never NaN or
// infinite: decoding rejects them and aggregations cannot produce them.
class Value {
 public:
  Value() = default;  // null
  static Value Null() { return Value(); }
  static Value Int64(int64_t v) {
    Value x;
    x.type_ = Type::kInt64;
    x.i_ = v;
    return x;
  }
  static Value Double(double v) {
    Value x;
    x.type_ = Type::kDouble;
    x.d_ = v;
    return x;
  }
  static Value Bool(bool v) {
    Value x;
    x.type_ = Type::kBool;
    x.i_ = v ? 1 : 0;
    return x;
  }
  static Value Timestamp(TimestampMs v) {
    Value x;
    x.type_ = Type::kTimestamp;
    x.i_ = v;
    return x;
  }
  static Value String(std::string v) {
    Value x;
    x.type_ = Type::kString;
    x.s_ = std::move(v);
    return x;
  }

  // In-place setters for a Value decoded into over and over (a replay's reused events):
  // unlike assigning a new Value, they keep the string's memory for the next string.
  void SetNull() {
    type_ = Type::kNull;
    i_ = 0;
    s_.clear();
  }
  // REQUIRES: t is kInt64, kTimestamp or kBool (v 0 or 1).
  void SetInteger(Type t, int64_t v) {
    SetNull();
    type_ = t;
    i_ = v;
  }
  void SetDouble(double v) {
    SetNull();
    type_ = Type::kDouble;
    d_ = v;
  }
  void SetString(std::string_view v) {
    type_ = Type::kString;
    i_ = 0;
    s_.assign(v);
  }

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  // REQUIRES: the matching type (int64() also serves kTimestamp).
  int64_t int64() const { return i_; }
  double dbl() const { return d_; }
  bool boolean() const { return i_ != 0; }
  const std::string& str() const { return s_; }

  // Numeric view: int64, timestamp and bool as double. REQUIRES: not null, not string.
  double AsDouble() const { return type_ == Type::kDouble ? d_ : static_cast<double>(i_); }
  bool is_numeric() const {
    return type_ == Type::kInt64 || type_ == Type::kDouble || type_ == Type::kTimestamp;
  }

  // Same type and same value (bitwise for doubles, so 0.0 != -0.0 is never surprising:
  // both print differently too). Null equals null.
  bool operator==(const Value& o) const {
    if (type_ != o.type_) return false;
    switch (type_) {
      case Type::kNull:
        return true;
      case Type::kDouble:
        return d_ == o.d_ && std::signbit(d_) == std::signbit(o.d_);
      case Type::kString:
        return s_ == o.s_;
      default:
        return i_ == o.i_;
    }
  }
  bool operator!=(const Value& o) const { return !(*this == o); }

  // Text forms. CSV: null is empty, floats shortest round-trip, strings raw (the CSV
  // writer quotes). JSON: a JSON value. Timestamps print as ms integers in both.
  std::string ToCsvText() const;
  void AppendJson(std::string* out) const;
  std::string DebugString() const;

 private:
  Type type_ = Type::kNull;
  union {
    int64_t i_ = 0;
    double d_;
  };
  std::string s_;
};

// Shortest text that parses back to the same double ("0.1", "1e+300", "3").
std::string FormatDouble(double v);
// Appends `s` as a JSON string literal (quotes, escapes).
void AppendJsonString(std::string_view s, std::string* out);
// Appends the bytes of `s` as lower-case hex, two digits a byte.
void AppendHex(std::string_view s, std::string* out);
// Appends a CSV cell, quoted when it holds a comma, quote, CR or LF.
void AppendCsvCell(std::string_view s, std::string* out);

struct Field {
  std::string name;
  Type type = Type::kNull;
};

// An ordered list of named, typed fields.
class Schema {
 public:
  Schema() = default;
  explicit Schema(std::vector<Field> fields) : fields_(std::move(fields)) {}
  const std::vector<Field>& fields() const { return fields_; }
  size_t size() const { return fields_.size(); }
  const Field& field(size_t i) const { return fields_[i]; }
  // Index of the field called `name`, or -1.
  int IndexOf(std::string_view name) const;
  void Add(Field f) { fields_.push_back(std::move(f)); }

 private:
  std::vector<Field> fields_;
};

using Row = std::vector<Value>;

// One decoded event of a source: its timestamp and its fields in schema order.
struct Event {
  TimestampMs ts = 0;
  Row fields;
};

}  // namespace vigil
