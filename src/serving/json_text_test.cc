#include "serving/json_text.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <random>

namespace vigil {
namespace json_text_test {

using nlohmann::json;

std::string Text(const json& v) {
  std::string out = "prefix:";
  AppendJsonText(v, &out);
  EXPECT_EQ(out.substr(0, 7), "prefix:");  // appends, never replaces
  return out.substr(7);
}

// Equal values of equal kinds: nlohmann's == takes 1 and 1.0 as equal. (Signed and
// unsigned are one kind: parsing gives unsigned to every integer >= 0.)
bool SameKinds(const json& a, const json& b) {
  if (a.is_number_integer() != b.is_number_integer()) return false;
  if (!a.is_number_integer() && a.type() != b.type()) return false;
  if (a.is_object() || a.is_array()) {
    if (a.size() != b.size()) return false;
    for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib) {
      if (a.is_object() && ia.key() != ib.key()) return false;
      if (!SameKinds(*ia, *ib)) return false;
    }
  }
  return a == b;
}

// What a random value may hold beyond what a request body holds.
struct Kinds {
  bool b_f = false;         // \b and \f in strings: \u0008, \u000c here, "\b", "\f" from dump()
  bool any_double = false;  // every finite double: dump()'s Grisu2 may pick a longer text, or
                            // fixed notation where the shortest is an exponent
};

// A random value: nested objects and arrays of strings with control characters,
// multi-byte UTF-8, integers of every size, amounts and (with `k.any_double`) doubles of
// every magnitude.
json RandomValue(std::mt19937_64* rng, int depth, Kinds k) {
  std::uniform_int_distribution<int> kind(0, depth > 0 ? 8 : 6);
  switch (kind(*rng)) {
    case 0: {
      std::string s;
      const int n = static_cast<int>((*rng)() % 12);
      for (int i = 0; i < n; ++i) {
        switch ((*rng)() % 5) {
          case 0: {
            char c = static_cast<char>((*rng)() % 0x20);
            if (!k.b_f && (c == '\b' || c == '\f')) c = '\t';
            s.push_back(c);
            break;
          }
          case 1:
            s += (*rng)() % 2 ? "\"" : "\\";
            break;
          case 2:
            s += (*rng)() % 2 ? "\xc3\xa9" : "\xf0\x9f\x92\xb3";  // é, a card emoji
            break;
          default:
            s.push_back(static_cast<char>(' ' + (*rng)() % 95));
        }
      }
      return s;
    }
    case 1:
      return static_cast<int64_t>((*rng)()) >> ((*rng)() % 64);
    case 2:
      return (*rng)() >> ((*rng)() % 64);  // unsigned
    case 3: {
      if (!k.any_double) return static_cast<double>((*rng)() % 1000000) / 1000;
      double d;
      do d = std::bit_cast<double>((*rng)());
      while (!std::isfinite(d));
      return d;
    }
    case 4:
      return static_cast<double>(static_cast<int64_t>((*rng)() % 2000001) - 1000000) /
             ((*rng)() % 2 ? 1 : 100);
    case 5:
      return (*rng)() % 2 == 0;
    case 6:
      return nullptr;
    case 7: {
      json o = json::object();
      const int n = static_cast<int>((*rng)() % 5);
      for (int i = 0; i < n; ++i) o[RandomValue(rng, 0, k).dump()] = RandomValue(rng, depth - 1, k);
      return o;
    }
    default: {
      json a = json::array();
      const int n = static_cast<int>((*rng)() % 5);
      for (int i = 0; i < n; ++i) a.push_back(RandomValue(rng, depth - 1, k));
      return a;
    }
  }
}

TEST(JsonText, WritesWhatDumpWrites) {
  EXPECT_EQ(Text(json::parse(R"({"user_id":"u1","n":7,"amount":418.31,"whole":10.0,"ok":true,"none":null})")),
            R"({"amount":418.31,"n":7,"none":null,"ok":true,"user_id":"u1","whole":10.0})");
  EXPECT_EQ(Text(json(-0.0)), "-0.0");
  EXPECT_EQ(Text(json(1e300)), "1e+300");
  EXPECT_EQ(Text(json(std::numeric_limits<int64_t>::min())), "-9223372036854775808");
  EXPECT_EQ(Text(json(std::numeric_limits<uint64_t>::max())), "18446744073709551615");
  EXPECT_EQ(Text(json(std::nan(""))), "null");
  EXPECT_EQ(Text(json(std::numeric_limits<double>::infinity())), "null");
  EXPECT_EQ(Text(json::object()), "{}");
  EXPECT_EQ(Text(json::array()), "[]");
  EXPECT_EQ(Text(json("a\"b\\c\nd\x01")), R"("a\"b\\c\nd\u0001")");

  std::mt19937_64 rng(11);
  for (int i = 0; i < 5000; ++i) {
    const json v = RandomValue(&rng, 3, Kinds{});
    ASSERT_EQ(Text(v), v.dump()) << v.dump();
  }
}

TEST(JsonText, ReadsBackAsTheSameValue) {
  std::mt19937_64 rng(12);
  for (int i = 0; i < 5000; ++i) {
    const json v = RandomValue(&rng, 3, Kinds{.b_f = true, .any_double = true});
    const std::string text = Text(v);
    const json back = json::parse(text, nullptr, false);
    ASSERT_FALSE(back.is_discarded()) << text;
    ASSERT_TRUE(SameKinds(back, v)) << text << " vs " << v.dump();
  }
}

}  // namespace json_text_test
}  // namespace vigil
