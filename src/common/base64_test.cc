// base64.h: the RFC 4648 test vectors, strict decoding (every malformed text is an
// InvalidArgument that says why, never a crash), and float32 vectors read back bit for bit.
#include "common/base64.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

namespace vigil {
namespace base64_test {

std::string Encode(std::string_view bytes) {
  std::string out;
  AppendBase64(bytes, &out);
  return out;
}

TEST(Base64, EncodesTheRfc4648Vectors) {
  EXPECT_EQ(Encode(""), "");
  EXPECT_EQ(Encode("f"), "Zg==");
  EXPECT_EQ(Encode("fo"), "Zm8=");
  EXPECT_EQ(Encode("foo"), "Zm9v");
  EXPECT_EQ(Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(Encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Encode(std::string("\xFB\xFF\xBF", 3)), "+/+/");  // the two last letters of the alphabet
  std::string out = "prefix:";
  AppendBase64("foo", &out);
  EXPECT_EQ(out, "prefix:Zm9v");  // appends
}

TEST(Base64, DecodesWhatItEncodesForEveryLengthAndByte) {
  std::mt19937 rng(7);
  for (size_t n = 0; n < 70; ++n) {
    std::string bytes(n, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    if (n == 1) bytes[0] = '\0';
    std::string decoded = "kept";
    Status s = DecodeBase64(Encode(bytes), &decoded);
    ASSERT_TRUE(s.ok()) << n << ": " << s.ToString();
    EXPECT_EQ(decoded, "kept" + bytes) << n;
  }
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  std::string decoded;
  ASSERT_TRUE(DecodeBase64(Encode(all), &decoded).ok());
  EXPECT_EQ(decoded, all);
}

TEST(Base64, RejectsMalformedTextSayingWhyAndLeavesTheOutputAlone) {
  struct Case {
    const char* text;
    const char* why;
  };
  for (const Case& c :
       {Case{"Zm9", "3 characters, not a multiple of 4"}, Case{"Zm9vY", "5 characters, not a multiple of 4"},
        Case{"Zm9v!mFy", "'!' at character 4 (not in the standard alphabet)"},
        Case{"Zm-v", "'-' at character 2"},  // base64url is another alphabet
        Case{"Zm_v", "'_' at character 2"}, Case{"Zm9v\nmFy", "byte 0x0A at character 4"},
        Case{"Zm9v YmE", "' ' at character 4"},
        Case{"Zg==Zm9v", "'=' at character 2 (padding may only end the text)"},
        Case{"====", "'=' at character 0"}, Case{"Z===", "'=' at character 1"},
        Case{"Zh==", "the last group 'Zh==' sets bits its padding drops"},
        Case{"Zm9=", "the last group 'Zm9=' sets bits its padding drops"},
        Case{"Zm\x80v", "byte 0x80 at character 2"}}) {
    std::string out = "kept";
    Status s = DecodeBase64(c.text, &out);
    EXPECT_TRUE(s.IsInvalidArgument()) << c.text;
    EXPECT_NE(s.message().find(c.why), std::string::npos) << c.text << " -> " << s.message();
    EXPECT_EQ(out, "kept") << c.text;
  }
  std::string out;
  EXPECT_TRUE(DecodeBase64("", &out).ok());
  EXPECT_EQ(out, "");
}

std::string EncodeFloats(const std::vector<float>& v) {
  std::string out;
  AppendBase64Float32Le(v, &out);
  return out;
}

TEST(Base64Float32Le, IsTheLittleEndianBytes) {
  EXPECT_EQ(EncodeFloats({}), "");
  EXPECT_EQ(EncodeFloats({1.0f}), "AACAPw==");             // 00 00 80 3f
  EXPECT_EQ(EncodeFloats({1.0f, -2.0f}), "AACAPwAAAMA=");  // 00 00 80 3f 00 00 00 c0
  EXPECT_EQ(EncodeFloats(std::vector<float>(75, 0.5f)).size(), 400u);
}

TEST(Base64Float32Le, RoundTripsEveryValueBitForBit) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const float sub = std::numeric_limits<float>::denorm_min();
  const std::vector<std::vector<float>> cases = {
      {},
      {nan},
      {0.0f, -0.0f},
      {sub, -sub, std::numeric_limits<float>::min() / 2, std::numeric_limits<float>::min()},
      {inf, -inf, std::numeric_limits<float>::max(), std::numeric_limits<float>::lowest()},
      {1.5f, nan, 3.0f, -0.0f, 0.1f, 1e-40f, 123456.789f},
      {std::bit_cast<float>(0x7FC00001u), std::bit_cast<float>(0xFFC00000u),
       std::bit_cast<float>(0x7F800001u)},  // NaN payloads and signs, a signaling NaN
  };
  for (const auto& v : cases) {
    std::vector<float> back = {42.0f};
    Status s = DecodeBase64Float32Le(EncodeFloats(v), &back);
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_EQ(back.size(), v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      EXPECT_EQ(std::bit_cast<uint32_t>(back[i]), std::bit_cast<uint32_t>(v[i])) << i;
    }
  }
  std::vector<float> back;
  ASSERT_TRUE(DecodeBase64Float32Le(EncodeFloats({0.0f, -0.0f, 1e-45f}), &back).ok());
  EXPECT_FALSE(std::signbit(back[0]));
  EXPECT_TRUE(std::signbit(back[1]));
  EXPECT_EQ(std::fpclassify(back[2]), FP_SUBNORMAL);
}

TEST(Base64Float32Le, RejectsTextThatIsNotWholeFloats) {
  std::vector<float> out = {1.0f};
  Status s = DecodeBase64Float32Le("Zm9v", &out);  // 3 bytes
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("3 bytes, not a whole number of float32 values"), std::string::npos)
      << s.message();
  EXPECT_TRUE(out.empty());
  s = DecodeBase64Float32Le("AACAPwAA", &out);  // 6 bytes
  EXPECT_NE(s.message().find("6 bytes"), std::string::npos) << s.message();
  s = DecodeBase64Float32Le("AACAP", &out);
  EXPECT_NE(s.message().find("not a multiple of 4"), std::string::npos) << s.message();
  s = DecodeBase64Float32Le("AACAPw==AACAPw==", &out);  // 10 bytes, but the first fault is the '='
  EXPECT_NE(s.message().find("'=' at character 6"), std::string::npos) << s.message();
  out = {1.0f};
  s = DecodeBase64Float32Le("AAC*Pw==", &out);
  EXPECT_NE(s.message().find("'*' at character 3"), std::string::npos) << s.message();
  EXPECT_TRUE(out.empty());
}

}  // namespace base64_test
}  // namespace vigil
