#include "common/base64.h"

#include <array>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>

namespace vigil {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr uint8_t kInvalid = 0xFF;

// Each byte's 6-bit value, or kInvalid ('=' included: padding is handled apart).
constexpr std::array<uint8_t, 256> kDecode = [] {
  std::array<uint8_t, 256> t{};
  t.fill(kInvalid);
  for (uint8_t i = 0; i < 64; ++i) t[static_cast<unsigned char>(kAlphabet[i])] = i;
  return t;
}();

constexpr bool kLittleEndian = std::endian::native == std::endian::little;
static_assert(kLittleEndian || std::endian::native == std::endian::big,
              "mixed-endian hosts are not supported");
static_assert(sizeof(float) == 4 && std::numeric_limits<float>::is_iec559, "float must be IEEE-754 binary32");

uint32_t SwapBytes(uint32_t v) {
  return (v >> 24) | ((v >> 8) & 0xFF00u) | ((v << 8) & 0xFF0000u) | (v << 24);
}

// `c` for a message: 'x' when printable, else its code.
std::string DescribeChar(unsigned char c) {
  char buf[16];
  if (c >= 0x20 && c < 0x7F) {
    std::snprintf(buf, sizeof buf, "'%c'", c);
  } else {
    std::snprintf(buf, sizeof buf, "byte 0x%02X", c);
  }
  return buf;
}

// The number of bytes `text` decodes to, checking its length and padding (not its characters).
Result<size_t> DecodedSize(std::string_view text) {
  const size_t n = text.size();
  if (n % 4 != 0) {
    return Status::InvalidArgument("not base64: " + std::to_string(n) +
                                   " characters, not a multiple of 4 (is it truncated, or unpadded?)");
  }
  if (n == 0) return size_t{0};
  const size_t pad = text[n - 1] != '=' ? 0 : text[n - 2] != '=' ? 1 : 2;
  return n / 4 * 3 - pad;
}

Status BadCharacter(std::string_view text, size_t i) {
  const unsigned char c = static_cast<unsigned char>(text[i]);
  return Status::InvalidArgument(
      "not base64: " + DescribeChar(c) + " at character " + std::to_string(i) +
      (c == '=' ? " (padding may only end the text)" : " (not in the standard alphabet)"));
}

// Decodes `text` into dst[0, size). REQUIRES: size == DecodedSize(text).
Status DecodeTo(std::string_view text, size_t size, unsigned char* dst) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  if (n == 0) return Status::OK();
  const size_t pad = n / 4 * 3 - size;
  const size_t full = pad ? n - 4 : n;  // the groups of 3 whole bytes
  for (size_t i = 0; i < full; i += 4, dst += 3) {
    const uint8_t a = kDecode[s[i]], b = kDecode[s[i + 1]], c = kDecode[s[i + 2]], d = kDecode[s[i + 3]];
    if ((a | b | c | d) & 0xC0) {  // kInvalid is the only value above 63
      for (size_t j = i;; ++j) {
        if (kDecode[s[j]] == kInvalid) return BadCharacter(text, j);
      }
    }
    const uint32_t v = uint32_t{a} << 18 | uint32_t{b} << 12 | uint32_t{c} << 6 | d;
    dst[0] = static_cast<unsigned char>(v >> 16);
    dst[1] = static_cast<unsigned char>(v >> 8);
    dst[2] = static_cast<unsigned char>(v);
  }
  if (!pad) return Status::OK();
  // The last group: "xy==" holds one byte, "xyz=" two.
  const size_t i = n - 4;
  const size_t kept = 4 - pad;
  uint32_t v = 0;
  for (size_t j = 0; j < kept; ++j) {
    const uint8_t x = kDecode[s[i + j]];
    if (x == kInvalid) return BadCharacter(text, i + j);
    v |= uint32_t{x} << (18 - 6 * j);
  }
  if (v & (pad == 2 ? 0xFFFFu : 0xFFu)) {
    return Status::InvalidArgument("not base64: the last group '" + std::string(text.substr(i)) +
                                   "' sets bits its padding drops (not the canonical encoding)");
  }
  dst[0] = static_cast<unsigned char>(v >> 16);
  if (pad == 1) dst[1] = static_cast<unsigned char>(v >> 8);
  return Status::OK();
}

}  // namespace

void AppendBase64(std::string_view bytes, std::string* out) {
  const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  const size_t start = out->size();
  out->resize(start + (n + 2) / 3 * 4);
  char* d = out->data() + start;
  size_t i = 0;
  for (; i + 3 <= n; i += 3, d += 4) {
    const uint32_t v = uint32_t{s[i]} << 16 | uint32_t{s[i + 1]} << 8 | s[i + 2];
    d[0] = kAlphabet[v >> 18];
    d[1] = kAlphabet[(v >> 12) & 63];
    d[2] = kAlphabet[(v >> 6) & 63];
    d[3] = kAlphabet[v & 63];
  }
  if (i == n) return;
  const uint32_t v = uint32_t{s[i]} << 16 | (i + 1 < n ? uint32_t{s[i + 1]} << 8 : 0);
  d[0] = kAlphabet[v >> 18];
  d[1] = kAlphabet[(v >> 12) & 63];
  d[2] = i + 1 < n ? kAlphabet[(v >> 6) & 63] : '=';
  d[3] = '=';
}

Status DecodeBase64(std::string_view text, std::string* out) {
  VIGIL_ASSIGN_OR_RETURN(const size_t size, DecodedSize(text));
  const size_t start = out->size();
  out->resize(start + size);
  Status s = DecodeTo(text, size, reinterpret_cast<unsigned char*>(out->data() + start));
  if (!s.ok()) out->resize(start);
  return s;
}

void AppendBase64Float32Le(std::span<const float> values, std::string* out) {
  if constexpr (kLittleEndian) {
    AppendBase64(std::string_view(reinterpret_cast<const char*>(values.data()), values.size_bytes()), out);
  } else {
    std::string bytes(values.size_bytes(), '\0');
    for (size_t i = 0; i < values.size(); ++i) {
      const uint32_t le = SwapBytes(std::bit_cast<uint32_t>(values[i]));
      std::memcpy(bytes.data() + 4 * i, &le, 4);
    }
    AppendBase64(bytes, out);
  }
}

Status DecodeBase64Float32Le(std::string_view text, std::vector<float>* out) {
  out->clear();
  VIGIL_ASSIGN_OR_RETURN(const size_t size, DecodedSize(text));
  if (size % 4 != 0) {
    std::string bytes;
    VIGIL_RETURN_IF_ERROR(DecodeBase64(text, &bytes));  // when it is not base64 at all, say that
    return Status::InvalidArgument("base64 of " + std::to_string(size) +
                                   " bytes, not a whole number of float32 values (4 bytes each)");
  }
  out->resize(size / 4);
  Status s = DecodeTo(text, size, reinterpret_cast<unsigned char*>(out->data()));
  if (!s.ok()) {
    out->clear();
    return s;
  }
  if constexpr (!kLittleEndian) {
    for (float& f : *out) f = std::bit_cast<float>(SwapBytes(std::bit_cast<uint32_t>(f)));
  }
  return Status::OK();
}

}  // namespace vigil
