// Parquet value encodings (Encodings.md): PLAIN, and the RLE / bit-packed hybrid used for
// definition levels and dictionary indexes. Internal to the schema part.
//
// The decoders take the exact number of values the page header declares and check every
// read against the bytes given: short or malformed data is a Corruption status whose
// message says what is wrong (callers add the file and column), never a read past the end.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace vigil::parquet::internal {

// Bits needed for values 0..max_value (0 for max_value 0).
int BitWidth(uint64_t max_value);

// Appends the RLE / bit-packed hybrid encoding of `values` (no length prefix): runs of 8
// or more equal values as RLE runs, the rest bit-packed in groups of 8 (the last group
// padded with zeros). REQUIRES: 0 <= bit_width <= 32, each value < 2^bit_width.
//
//   width 1, values 1 1 1 1 1 1 1 1 1 0  ->  [0x12 0x01] RLE run of 9 ones,
//                                            [0x03 0x00] one bit-packed group: 0 + 7 pads
void AppendRleHybrid(std::span<const uint32_t> values, int bit_width, std::string* out);

// Appends one RLE run of `count` copies of `value`: what AppendRleHybrid gives for
// `count` >= 8 equal values. REQUIRES: count >= 1, value < 2^bit_width.
void AppendRleRun(uint64_t count, uint32_t value, int bit_width, std::string* out);

// Decodes `count` values from `data` into out (resized to count). Runs may hold more
// values than needed (the rest is ignored); data that ends before `count` values is an
// error. *consumed (if given) is the bytes used. REQUIRES nothing of `data`.
Status DecodeRleHybrid(std::string_view data, int bit_width, size_t count, std::vector<uint32_t>* out,
                       size_t* consumed = nullptr);

// PLAIN encoders (append).
void AppendPlainBools(std::span<const int64_t> values, std::string* out);  // bit-packed, LSB first
void AppendPlainInt32(int32_t v, std::string* out);
void AppendPlainInt64(int64_t v, std::string* out);
void AppendPlainDouble(double v, std::string* out);
void AppendPlainByteArray(std::string_view v, std::string* out);  // 4-byte LE length + bytes

// PLAIN decoders of `count` values at the start of *data, which is advanced past them.
Status DecodePlainBools(std::string_view* data, size_t count, std::vector<int64_t>* out);
Status DecodePlainInt32(std::string_view* data, size_t count, std::vector<int64_t>* out);
Status DecodePlainInt64(std::string_view* data, size_t count, std::vector<int64_t>* out);
Status DecodePlainFloat(std::string_view* data, size_t count, std::vector<double>* out);
Status DecodePlainDouble(std::string_view* data, size_t count, std::vector<double>* out);
// Appends the values to *bytes and their end offsets to *ends.
Status DecodePlainByteArray(std::string_view* data, size_t count, std::string* bytes,
                            std::vector<uint64_t>* ends);

// Little-endian fixed-width loads and stores.
uint32_t LoadLE32(const char* p);
uint64_t LoadLE64(const char* p);
void AppendLE32(uint32_t v, std::string* out);

}  // namespace vigil::parquet::internal
