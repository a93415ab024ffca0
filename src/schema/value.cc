#include "schema/value.h"

#include <charconv>
#include <cstdio>

namespace vigil {

std::string_view TypeName(Type t) {
  switch (t) {
    case Type::kNull:
      return "null";
    case Type::kInt64:
      return "int64";
    case Type::kDouble:
      return "double";
    case Type::kString:
      return "string";
    case Type::kBool:
      return "bool";
    case Type::kTimestamp:
      return "timestamp";
  }
  return "?";
}

Result<Type> ParseTypeName(std::string_view name) {
  if (name == "int64") return Type::kInt64;
  if (name == "double") return Type::kDouble;
  if (name == "string") return Type::kString;
  if (name == "bool") return Type::kBool;
  if (name == "timestamp") return Type::kTimestamp;
  return Status::InvalidArgument("unknown type '" + std::string(name) +
                                 "' (want int64, double, string, bool or timestamp)");
}

std::string FormatDouble(double v) {
  char buf[64];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, p);
}

void AppendJsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out->append(buf);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

void AppendHex(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned char c : s) {
    out->push_back(kHex[c >> 4]);
    out->push_back(kHex[c & 15]);
  }
}

void AppendCsvCell(std::string_view s, std::string* out) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) {
    out->append(s);
    return;
  }
  out->push_back('"');
  for (char c : s) {
    if (c == '"') out->push_back('"');
    out->push_back(c);
  }
  out->push_back('"');
}

std::string Value::ToCsvText() const {
  switch (type_) {
    case Type::kNull:
      return "";
    case Type::kInt64:
    case Type::kTimestamp:
      return std::to_string(i_);
    case Type::kDouble:
      return FormatDouble(d_);
    case Type::kBool:
      return i_ ? "true" : "false";
    case Type::kString:
      return s_;
  }
  return "";
}

void Value::AppendJson(std::string* out) const {
  switch (type_) {
    case Type::kNull:
      out->append("null");
      return;
    case Type::kString:
      AppendJsonString(s_, out);
      return;
    default:
      out->append(ToCsvText());
      return;
  }
}

std::string Value::DebugString() const {
  std::string out;
  AppendJson(&out);
  return out;
}

int Schema::IndexOf(std::string_view name) const {
  for (size_t i = 0; i < fields_.size(); ++i) {
    if (fields_[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace vigil
