// Compact binary encoding of values and events, as stored in log records.
//
// The format is persisted (log segments, checkpoints): it must not change. An event is
//
//   zigzag-varint(ts)  then, for each field in schema order:  tag  payload
//
// where tag is one byte holding the Type value (value.h) and the payload is
//
//   kNull             nothing
//   kInt64/kTimestamp zigzag varint (small magnitudes of either sign are short)
//   kDouble           8 bytes, IEEE-754 binary64, little-endian
//   kBool             1 byte, 0 or 1
//   kString           varint byte length, then the bytes
//
// Example: ts=5, fields (int64 -1, null, string "ab")  ->  0a 01 01 00 03 02 61 62
//
// There is no field count: the reader's schema says how many values follow, and
// decoding fails if the bytes do not hold exactly that many.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "schema/value.h"

namespace vigil {

// Longest varint64 encoding, in bytes.
inline constexpr int kMaxVarint64Bytes = 10;

// Appends `v` as a little-endian base-128 varint (LevelDB's format).
void PutVarint64(std::string* out, uint64_t v);
// Reads a varint from the front of *in and advances *in past it. Corruption if *in ends
// inside the varint or it is longer than 10 bytes / overflows 64 bits; *in is then
// unspecified.
Result<uint64_t> GetVarint64(std::string_view* in);

// Zigzag maps signed to unsigned so small magnitudes stay short: 0,-1,1,-2 -> 0,1,2,3.
inline uint64_t ZigZagEncode(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t ZigZagDecode(uint64_t u) { return static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1)); }
// PutVarint64 / GetVarint64 of the zigzag form of a signed value.
void PutZigZag(std::string* out, int64_t v);
Result<int64_t> GetZigZag(std::string_view* in);

// Appends one value: its tag byte, then its payload (format above).
void EncodeValue(const Value& v, std::string* out);
// The most bytes EncodeValue can write for v.
inline size_t MaxEncodedSize(const Value& v) {
  return 1 + kMaxVarint64Bytes + (v.type() == Type::kString ? v.str().size() : 0);
}
// Writes the encoding of v at p and returns the end. REQUIRES: MaxEncodedSize(v) bytes
// of room. The same bytes as EncodeValue; for callers that encode many values at once.
char* EncodeValueTo(const Value& v, char* p);
// Writes a varint at p and returns the end. REQUIRES: kMaxVarint64Bytes of room.
inline char* PutVarint64To(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}
// Reads one tagged value from the front of *in and advances *in past it. Corruption if
// the bytes are truncated, the tag is unknown, a bool byte is not 0/1, a double is NaN
// or infinite (Value never holds those), or a string length runs past the end. Never
// reads outside *in and never allocates more than *in holds, whatever the bytes.
Status DecodeValue(std::string_view* in, Value* out);

// Appends the encoding of `ev` (format above).
void EncodeEvent(const Event& ev, std::string* out);
// EncodeEvent with each field i that keep[i] does not ask for (or past keep's end)
// written as null: the bytes of a copy of `ev` with those fields set to null.
void EncodeEventFields(const Event& ev, const std::vector<bool>& keep, std::string* out);
// Decodes bytes written by EncodeEvent for `schema` into *out (fields in schema order).
// Corruption if the bytes are truncated or garbage, if a field's tag is neither the
// schema type nor null, or if bytes are left over. On error *out is unspecified.
// Safe on arbitrary input.
Status DecodeEvent(std::string_view bytes, const Schema& schema, Event* out);

}  // namespace vigil
