#include "serving/json_text.h"

#include <charconv>
#include <cmath>

#include "schema/value.h"

namespace vigil {

namespace {

template <typename T>
void AppendInteger(T v, std::string* out) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr);
}

void AppendJsonDouble(double v, std::string* out) {
  if (!std::isfinite(v)) {
    *out += "null";
    return;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  const std::string_view text(buf, static_cast<size_t>(r.ptr - buf));
  out->append(text);
  if (text.find_first_of(".e") == std::string_view::npos) *out += ".0";
}

}  // namespace

void AppendJsonText(const nlohmann::json& value, std::string* out) {
  using T = nlohmann::json::value_t;
  switch (value.type()) {
    case T::object: {
      out->push_back('{');
      bool first = true;
      for (auto it = value.begin(); it != value.end(); ++it) {
        if (!first) out->push_back(',');
        first = false;
        AppendJsonString(it.key(), out);
        out->push_back(':');
        AppendJsonText(*it, out);
      }
      out->push_back('}');
      return;
    }
    case T::array: {
      out->push_back('[');
      bool first = true;
      for (const auto& e : value) {
        if (!first) out->push_back(',');
        first = false;
        AppendJsonText(e, out);
      }
      out->push_back(']');
      return;
    }
    case T::string:
      AppendJsonString(value.get_ref<const std::string&>(), out);
      return;
    case T::boolean:
      *out += value.get<bool>() ? "true" : "false";
      return;
    case T::number_integer:
      AppendInteger(value.get<int64_t>(), out);
      return;
    case T::number_unsigned:
      AppendInteger(value.get<uint64_t>(), out);
      return;
    case T::number_float:
      AppendJsonDouble(value.get<double>(), out);
      return;
    case T::null:
    case T::binary:     // not produced by parsing text
    case T::discarded:  // nor this
      *out += "null";
      return;
  }
}

}  // namespace vigil
