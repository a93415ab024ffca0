// Base64 (RFC 4648 §4: the standard alphabet A-Z a-z 0-9 + /, padded with '=' to a whole
// number of 4-character groups, no line breaks), to carry bytes inside JSON text; and
// float32 vectors carried that way, as the serving log writes its feature vectors
// (serving/scoring_service.h).
//
//   ""  -> ""        "f" -> "Zg=="        "fo" -> "Zm8="        "foo" -> "Zm9v"
//   {1.0f} -> bytes 00 00 80 3f (little-endian float32) -> "AACAPw=="
//
// Table-driven, one pass, no allocation beyond growing *out once. Thread-safe (no state).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace vigil {

// Appends the base64 of `bytes` to *out: 4 * ceil(bytes.size() / 3) characters.
void AppendBase64(std::string_view bytes, std::string* out);

// Appends the bytes that `text` encodes to *out. Strict, so that a value has one
// encoding and damage is not read as data: InvalidArgument (saying what and at which
// character) when the length is not a multiple of 4, a character is outside the alphabet,
// '=' is anywhere but the last one or two places, or the bits that padding drops are not
// zero. "" decodes to nothing. On error *out is left as it was.
Status DecodeBase64(std::string_view text, std::string* out);

// Appends `values` as the base64 of their little-endian IEEE-754 float32 bytes, 4 per
// value in order, whatever the host's byte order. Every bit pattern survives, so NaN
// (vigil's missing value), -0, subnormals and infinities read back as they were.
// 75 values -> 300 bytes -> 400 characters.
void AppendBase64Float32Le(std::span<const float> values, std::string* out);

// Replaces *out with the float32 values that `text` encodes (the inverse of
// AppendBase64Float32Le; "" is the empty vector). InvalidArgument when `text` is not
// base64 (as DecodeBase64 says) or does not decode to a multiple of 4 bytes; *out is
// then empty.
Status DecodeBase64Float32Le(std::string_view text, std::vector<float>* out);

}  // namespace vigil
