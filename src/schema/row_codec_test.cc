#include "schema/row_codec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

namespace vigil {
namespace row_codec_test {

std::string Hex(std::string_view s) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (!out.empty()) out += ' ';
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

TEST(VarintTest, RoundTripsBoundaries) {
  const uint64_t values[] = {0,
                             1,
                             127,
                             128,
                             255,
                             300,
                             16383,
                             16384,
                             (1ULL << 32) - 1,
                             1ULL << 32,
                             (1ULL << 63) - 1,
                             1ULL << 63,
                             std::numeric_limits<uint64_t>::max()};
  for (uint64_t v : values) {
    std::string buf;
    PutVarint64(&buf, v);
    EXPECT_LE(buf.size(), static_cast<size_t>(kMaxVarint64Bytes));
    buf += "rest";
    std::string_view in = buf;
    auto got = GetVarint64(&in);
    ASSERT_TRUE(got.ok()) << v;
    EXPECT_EQ(*got, v);
    EXPECT_EQ(in, "rest");
  }
  std::string buf;
  PutVarint64(&buf, 300);
  EXPECT_EQ(Hex(buf), "ac 02");
  buf.clear();
  PutVarint64(&buf, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(buf.size(), 10u);
}

TEST(VarintTest, RejectsTruncatedAndOverlong) {
  std::string_view empty;
  EXPECT_TRUE(GetVarint64(&empty).status().IsCorruption());
  std::string truncated = "\x80\x80";
  std::string_view in = truncated;
  Result<uint64_t> r = GetVarint64(&in);
  EXPECT_TRUE(r.status().IsCorruption());
  EXPECT_NE(r.status().message().find("truncated"), std::string::npos);
  // 11 bytes with continuation bits, and a 10th byte carrying more than bit 63.
  std::string overlong(10, '\x80');
  overlong += '\x01';
  in = overlong;
  EXPECT_TRUE(GetVarint64(&in).status().IsCorruption());
  std::string overflow(9, '\xff');
  overflow += '\x02';
  in = overflow;
  EXPECT_TRUE(GetVarint64(&in).status().IsCorruption());
}

TEST(ZigZagTest, MapsSmallMagnitudesToSmallCodes) {
  EXPECT_EQ(ZigZagEncode(0), 0u);
  EXPECT_EQ(ZigZagEncode(-1), 1u);
  EXPECT_EQ(ZigZagEncode(1), 2u);
  EXPECT_EQ(ZigZagEncode(-2), 3u);
  EXPECT_EQ(ZigZagEncode(std::numeric_limits<int64_t>::max()), std::numeric_limits<uint64_t>::max() - 1);
  EXPECT_EQ(ZigZagEncode(std::numeric_limits<int64_t>::min()), std::numeric_limits<uint64_t>::max());
  for (int64_t v : {int64_t{0}, int64_t{-1}, int64_t{1}, int64_t{-64}, int64_t{64},
                    std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()}) {
    EXPECT_EQ(ZigZagDecode(ZigZagEncode(v)), v);
    std::string buf;
    PutZigZag(&buf, v);
    std::string_view in = buf;
    auto got = GetZigZag(&in);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(*got, v);
    EXPECT_TRUE(in.empty());
  }
}

TEST(RowCodecTest, EncodesTheDocumentedExample) {
  Event ev{5, {Value::Int64(-1), Value::Null(), Value::String("ab")}};
  std::string buf;
  EncodeEvent(ev, &buf);
  EXPECT_EQ(Hex(buf), "0a 01 01 00 03 02 61 62");
  std::string d;
  EncodeValue(Value::Double(1.0), &d);
  EXPECT_EQ(Hex(d), "02 00 00 00 00 00 00 f0 3f");  // little-endian binary64
  std::string b;
  EncodeValue(Value::Bool(true), &b);
  EncodeValue(Value::Timestamp(-2), &b);
  EXPECT_EQ(Hex(b), "04 01 05 03");
}

TEST(RowCodecTest, ValuesRoundTrip) {
  const Value values[] = {
      Value::Null(),
      Value::Int64(0),
      Value::Int64(std::numeric_limits<int64_t>::min()),
      Value::Int64(std::numeric_limits<int64_t>::max()),
      Value::Double(0.0),
      Value::Double(-0.0),
      Value::Double(0.1),
      Value::Double(std::numeric_limits<double>::denorm_min()),
      Value::Double(std::numeric_limits<double>::max()),
      Value::Double(-std::numeric_limits<double>::max()),
      Value::Bool(true),
      Value::Bool(false),
      Value::Timestamp(1700000000000),
      Value::Timestamp(-1),
      Value::String(""),
      Value::String(std::string("a\0b", 3)),
      Value::String(std::string(100000, 'x')),
      Value::String("h\xC3\xA9llo"),
  };
  for (const Value& v : values) {
    std::string buf;
    EncodeValue(v, &buf);
    std::string_view in = buf;
    Value got = Value::Int64(42);
    ASSERT_TRUE(DecodeValue(&in, &got).ok()) << v.DebugString();
    EXPECT_EQ(got, v) << v.DebugString();
    EXPECT_TRUE(in.empty());
  }
}

TEST(RowCodecTest, RejectsBadValueBytes) {
  auto decode = [](std::string bytes) {
    std::string_view in = bytes;
    Value v;
    return DecodeValue(&in, &v);
  };
  EXPECT_TRUE(decode("").IsCorruption());
  EXPECT_TRUE(decode("\x06").IsCorruption());                          // unknown tag
  EXPECT_TRUE(decode("\xff").IsCorruption());                          // unknown tag
  EXPECT_TRUE(decode("\x04\x02").IsCorruption());                      // bool byte 2
  EXPECT_TRUE(decode("\x04").IsCorruption());                          // bool without its byte
  EXPECT_TRUE(decode(std::string("\x02\x00\x00", 3)).IsCorruption());  // short double
  EXPECT_TRUE(decode("\x03\x05"
                     "abc")
                  .IsCorruption());                // short string
  EXPECT_TRUE(decode("\x01\x80").IsCorruption());  // truncated varint
  // A length of 2^62 must be refused before any allocation.
  std::string huge = "\x03";
  PutVarint64(&huge, 1ULL << 62);
  Status st = decode(huge);
  EXPECT_TRUE(st.IsCorruption());
  EXPECT_NE(st.message().find("runs past the end"), std::string::npos) << st.message();
  // NaN and infinities are not Values.
  for (double d : {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
                   -std::numeric_limits<double>::infinity()}) {
    uint64_t bits;
    std::memcpy(&bits, &d, 8);
    std::string b = "\x02";
    for (int i = 0; i < 8; ++i) b.push_back(static_cast<char>(bits >> (8 * i)));
    EXPECT_TRUE(decode(b).IsCorruption());
  }
}

Schema MixedSchema() {
  return Schema({{"user_id", Type::kString},
                 {"amount", Type::kDouble},
                 {"n", Type::kInt64},
                 {"ok", Type::kBool},
                 {"at", Type::kTimestamp}});
}

TEST(RowCodecTest, DecodeEventChecksTypesAndLength) {
  const Schema schema = MixedSchema();
  Event ev{
      1700000000000,
      {Value::String("u1"), Value::Double(12.5), Value::Int64(-3), Value::Bool(true), Value::Timestamp(5)}};
  std::string buf;
  EncodeEvent(ev, &buf);
  Event got;
  ASSERT_TRUE(DecodeEvent(buf, schema, &got).ok());
  EXPECT_EQ(got.ts, ev.ts);
  EXPECT_EQ(got.fields, ev.fields);

  // Nulls are allowed in any field.
  Event nulls{0, Row(5)};
  buf.clear();
  EncodeEvent(nulls, &buf);
  ASSERT_TRUE(DecodeEvent(buf, schema, &got).ok());
  EXPECT_EQ(got.fields, nulls.fields);

  // A value of another type than the schema's.
  Event wrong{1, {Value::String("u1"), Value::String("12.5"), Value::Null(), Value::Null(), Value::Null()}};
  buf.clear();
  EncodeEvent(wrong, &buf);
  Status st = DecodeEvent(buf, schema, &got);
  EXPECT_TRUE(st.IsCorruption());
  EXPECT_EQ(st.message(), "field 'amount': stored type string, schema says double");

  // Too few and too many fields.
  buf.clear();
  EncodeEvent(Event{1, {Value::String("u1")}}, &buf);
  st = DecodeEvent(buf, schema, &got);
  EXPECT_TRUE(st.IsCorruption());
  EXPECT_NE(st.message().find("field 'amount'"), std::string::npos) << st.message();
  buf.clear();
  EncodeEvent(ev, &buf);
  buf += '\0';
  st = DecodeEvent(buf, schema, &got);
  EXPECT_TRUE(st.IsCorruption());
  EXPECT_NE(st.message().find("trailing"), std::string::npos) << st.message();
}

Value RandomValue(Type t, std::mt19937_64& rng) {
  if (rng() % 5 == 0) return Value::Null();
  switch (t) {
    case Type::kInt64: {
      switch (rng() % 3) {
        case 0:
          return Value::Int64(static_cast<int64_t>(rng()));
        case 1:
          return Value::Int64(static_cast<int64_t>(rng() % 200) - 100);
        default:
          return Value::Int64(rng() % 2 ? std::numeric_limits<int64_t>::min()
                                        : std::numeric_limits<int64_t>::max());
      }
    }
    case Type::kDouble: {
      double d;
      do {
        uint64_t bits = rng();
        std::memcpy(&d, &bits, 8);
      } while (!std::isfinite(d));
      return Value::Double(rng() % 2 ? d : static_cast<double>(rng() % 1000) / 8);
    }
    case Type::kBool:
      return Value::Bool(rng() % 2);
    case Type::kTimestamp:
      return Value::Timestamp(static_cast<int64_t>(rng() % 4102444800000));
    case Type::kString: {
      std::string s(rng() % (rng() % 10 == 0 ? 300 : 20), '\0');
      for (char& c : s) c = static_cast<char>(rng());
      return Value::String(std::move(s));
    }
    case Type::kNull:
      break;
  }
  return Value::Null();
}

Schema RandomSchema(std::mt19937_64& rng) {
  static const Type kTypes[] = {Type::kInt64, Type::kDouble, Type::kString, Type::kBool, Type::kTimestamp};
  Schema s;
  const size_t n = rng() % 12;
  for (size_t i = 0; i < n; ++i) s.Add({"f" + std::to_string(i), kTypes[rng() % 5]});
  return s;
}

TEST(RowCodecTest, RandomEventsRoundTrip) {
  std::mt19937_64 rng(20260301);
  for (int iter = 0; iter < 10000; ++iter) {
    const Schema schema = RandomSchema(rng);
    Event ev;
    ev.ts = static_cast<int64_t>(rng()) >> (rng() % 64);
    for (const Field& f : schema.fields()) ev.fields.push_back(RandomValue(f.type, rng));
    std::string buf;
    EncodeEvent(ev, &buf);
    Event got;
    Status st = DecodeEvent(buf, schema, &got);
    ASSERT_TRUE(st.ok()) << st.ToString();
    ASSERT_EQ(got.ts, ev.ts);
    ASSERT_EQ(got.fields, ev.fields) << "iteration " << iter;
  }
}

// EncodeEventFields writes the bytes of the event with the fields it is not to keep set
// to null, whatever the mask's length (a shorter one keeps none past its end).
TEST(RowCodecTest, EncodeEventFieldsIsTheEventWithTheOthersNull) {
  std::mt19937_64 rng(20261130);
  for (int iter = 0; iter < 2000; ++iter) {
    const Schema schema = RandomSchema(rng);
    Event ev;
    ev.ts = static_cast<int64_t>(rng() % 100000) - 50000;
    for (const Field& f : schema.fields()) ev.fields.push_back(RandomValue(f.type, rng));
    std::vector<bool> keep(rng() % (schema.size() + 2));
    for (size_t i = 0; i < keep.size(); ++i) keep[i] = rng() % 2 == 0;
    Event masked = ev;
    for (size_t i = 0; i < masked.fields.size(); ++i) {
      if (i >= keep.size() || !keep[i]) masked.fields[i] = Value::Null();
    }
    std::string want, got;
    EncodeEvent(masked, &want);
    got = "prefix";  // appended to, as EncodeEvent does
    EncodeEventFields(ev, keep, &got);
    ASSERT_EQ(got, "prefix" + want) << "iteration " << iter;
  }
}

// A replay decodes event after event into one Event: each decoding gives the event
// encoded, whatever the fields held before (a string over a number, a null over a
// string, a short string over a long one).
TEST(RowCodecTest, DecodingIntoAReusedEventGivesEachEvent) {
  std::mt19937_64 rng(20261129);
  for (int schemas = 0; schemas < 50; ++schemas) {
    const Schema schema = RandomSchema(rng);
    Event got;
    for (int iter = 0; iter < 200; ++iter) {
      Event ev;
      ev.ts = static_cast<int64_t>(rng() % 1000);
      for (const Field& f : schema.fields()) {
        ev.fields.push_back(rng() % 3 == 0 ? Value::Null() : RandomValue(f.type, rng));
      }
      std::string buf;
      EncodeEvent(ev, &buf);
      Status st = DecodeEvent(buf, schema, &got);
      ASSERT_TRUE(st.ok()) << st.ToString();
      ASSERT_EQ(got.ts, ev.ts);
      ASSERT_EQ(got.fields, ev.fields) << "schema " << schemas << ", event " << iter;
    }
  }
  // The setters, value by value, against the named constructors.
  Value v = Value::String(std::string(100, 'x'));
  v.SetInteger(Type::kTimestamp, 5);
  EXPECT_EQ(v, Value::Timestamp(5));
  v.SetString("ab");
  EXPECT_EQ(v, Value::String("ab"));
  v.SetDouble(-0.0);
  EXPECT_EQ(v, Value::Double(-0.0));
  EXPECT_NE(v, Value::Double(0.0));
  v.SetInteger(Type::kBool, 1);
  EXPECT_EQ(v, Value::Bool(true));
  v.SetNull();
  EXPECT_EQ(v, Value::Null());
}

// Truncations, bit flips and random bytes: DecodeEvent returns OK or Corruption, never
// crashes or reads out of bounds (the ASan build checks the latter).
TEST(RowCodecTest, CorruptionFuzzNeverCrashes) {
  std::mt19937_64 rng(7);
  int corrupt = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    const Schema schema = RandomSchema(rng);
    Event ev;
    ev.ts = static_cast<int64_t>(rng() % 4102444800000);
    for (const Field& f : schema.fields()) ev.fields.push_back(RandomValue(f.type, rng));
    std::string buf;
    EncodeEvent(ev, &buf);
    Event got;
    // Every strict prefix is truncated, hence Corruption.
    for (size_t len = 0; len < buf.size(); ++len) {
      // Copy so that ASan sees reads past the prefix.
      std::string prefix = buf.substr(0, len);
      Status st = DecodeEvent(prefix, schema, &got);
      ASSERT_TRUE(st.IsCorruption()) << "prefix " << len << " of " << buf.size() << ": " << st.ToString();
    }
    // Bit flips and byte overwrites.
    for (int k = 0; k < 8 && !buf.empty(); ++k) {
      std::string mutated = buf;
      const size_t pos = rng() % mutated.size();
      if (rng() % 2) {
        mutated[pos] = static_cast<char>(mutated[pos] ^ (1 << (rng() % 8)));
      } else {
        mutated[pos] = static_cast<char>(rng());
      }
      Status st = DecodeEvent(mutated, schema, &got);
      ASSERT_TRUE(st.ok() || st.IsCorruption()) << st.ToString();
      corrupt += !st.ok();
    }
    // Pure garbage.
    std::string garbage(rng() % 64, '\0');
    for (char& c : garbage) c = static_cast<char>(rng());
    Status st = DecodeEvent(garbage, schema, &got);
    ASSERT_TRUE(st.ok() || st.IsCorruption()) << st.ToString();
  }
  EXPECT_GT(corrupt, 0);
}

}  // namespace row_codec_test
}  // namespace vigil
