#include "schema/parquet_encoding.h"

#include <algorithm>
#include <cstring>

namespace vigil::parquet::internal {
namespace {

void AppendVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

// Bit-packs `n` values (n a multiple of 8) LSB first.
void AppendBitPacked(const uint32_t* v, size_t n, int bit_width, std::string* out) {
  uint64_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; ++i) {
    acc |= static_cast<uint64_t>(v[i]) << bits;
    bits += bit_width;
    while (bits >= 8) {
      out->push_back(static_cast<char>(acc & 0xFF));
      acc >>= 8;
      bits -= 8;
    }
  }
  if (bits > 0) out->push_back(static_cast<char>(acc & 0xFF));
}

void FlushLiterals(std::vector<uint32_t>* lit, int bit_width, std::string* out) {
  if (lit->empty()) return;
  while (lit->size() % 8 != 0) lit->push_back(0);
  AppendVarint(((lit->size() / 8) << 1) | 1, out);
  AppendBitPacked(lit->data(), lit->size(), bit_width, out);
  lit->clear();
}

Status Short(std::string_view what, size_t count) {
  return Status::Corruption("PLAIN " + std::string(what) + " data ends before its " + std::to_string(count) +
                            " values");
}

}  // namespace

int BitWidth(uint64_t max_value) {
  int w = 0;
  while (max_value != 0) {
    ++w;
    max_value >>= 1;
  }
  return w;
}

void AppendRleRun(uint64_t count, uint32_t value, int bit_width, std::string* out) {
  AppendVarint(count << 1, out);
  const size_t value_bytes = static_cast<size_t>((bit_width + 7) / 8);
  for (size_t b = 0; b < value_bytes; ++b) out->push_back(static_cast<char>((value >> (8 * b)) & 0xFF));
}

void AppendRleHybrid(std::span<const uint32_t> values, int bit_width, std::string* out) {
  std::vector<uint32_t> lit;
  size_t i = 0;
  while (i < values.size()) {
    size_t j = i + 1;
    while (j < values.size() && values[j] == values[i]) ++j;
    size_t run = j - i;
    // A literal group must be complete before an RLE run starts: top it up from the run.
    size_t top_up = lit.empty() ? 0 : (8 - lit.size() % 8) % 8;
    if (run >= 8 + top_up) {
      lit.insert(lit.end(), values.begin() + i, values.begin() + i + top_up);
      FlushLiterals(&lit, bit_width, out);
      AppendRleRun(run - top_up, values[i], bit_width, out);
    } else {
      lit.insert(lit.end(), values.begin() + i, values.begin() + j);
    }
    i = j;
  }
  FlushLiterals(&lit, bit_width, out);
}

Status DecodeRleHybrid(std::string_view data, int bit_width, size_t count, std::vector<uint32_t>* out,
                       size_t* consumed) {
  if (bit_width < 0 || bit_width > 32) {
    return Status::Corruption("RLE bit width " + std::to_string(bit_width) + " is over 32");
  }
  out->resize(count);
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  const auto* end = p + data.size();
  const size_t value_bytes = static_cast<size_t>((bit_width + 7) / 8);
  const uint64_t mask = bit_width == 32 ? 0xFFFFFFFFu : ((uint64_t{1} << bit_width) - 1);
  size_t n = 0;
  while (n < count) {
    uint64_t header = 0;
    int shift = 0;
    for (;;) {
      if (p >= end)
        return Status::Corruption("RLE data ends after " + std::to_string(n) + " of " +
                                  std::to_string(count) + " values");
      if (shift > 63) return Status::Corruption("RLE run header varint too long");
      uint8_t b = *p++;
      header |= static_cast<uint64_t>(b & 0x7F) << shift;
      shift += 7;
      if ((b & 0x80) == 0) break;
    }
    if (header & 1) {
      uint64_t groups = header >> 1;
      if (groups > static_cast<uint64_t>(end - p)) {  // a group is >= 1 byte unless width 0
        if (bit_width != 0) return Status::Corruption("RLE bit-packed run runs past the end of its data");
      }
      uint64_t values = groups * 8;
      size_t bytes = static_cast<size_t>(groups) * static_cast<size_t>(bit_width);
      if (bit_width != 0 && bytes > static_cast<size_t>(end - p)) {
        return Status::Corruption("RLE bit-packed run runs past the end of its data");
      }
      size_t take = static_cast<size_t>(std::min<uint64_t>(values, count - n));
      uint64_t acc = 0;
      int bits = 0;
      const uint8_t* q = p;
      for (size_t k = 0; k < take; ++k) {
        while (bits < bit_width) {
          acc |= static_cast<uint64_t>(*q++) << bits;
          bits += 8;
        }
        (*out)[n + k] = static_cast<uint32_t>(acc & mask);
        acc >>= bit_width;
        bits -= bit_width;
      }
      if (bit_width == 0) {
        for (size_t k = 0; k < take; ++k) (*out)[n + k] = 0;
      }
      p += bytes;
      n += take;
    } else {
      uint64_t run = header >> 1;
      if (value_bytes > static_cast<size_t>(end - p)) {
        return Status::Corruption("RLE run value runs past the end of its data");
      }
      uint32_t v = 0;
      for (size_t b = 0; b < value_bytes; ++b) v |= static_cast<uint32_t>(p[b]) << (8 * b);
      p += value_bytes;
      if (v > mask) return Status::Corruption("RLE run value exceeds its bit width");
      size_t take = static_cast<size_t>(std::min<uint64_t>(run, count - n));
      std::fill(out->begin() + static_cast<ptrdiff_t>(n), out->begin() + static_cast<ptrdiff_t>(n + take), v);
      n += take;
    }
  }
  if (consumed != nullptr) *consumed = static_cast<size_t>(p - reinterpret_cast<const uint8_t*>(data.data()));
  return Status::OK();
}

uint32_t LoadLE32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;  // x86-64 and arm64 Linux are little-endian
}
uint64_t LoadLE64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
void AppendLE32(uint32_t v, std::string* out) { out->append(reinterpret_cast<const char*>(&v), 4); }

void AppendPlainBools(std::span<const int64_t> values, std::string* out) {
  uint8_t byte = 0;
  int bit = 0;
  for (int64_t v : values) {
    if (v != 0) byte |= static_cast<uint8_t>(1u << bit);
    if (++bit == 8) {
      out->push_back(static_cast<char>(byte));
      byte = 0;
      bit = 0;
    }
  }
  if (bit > 0) out->push_back(static_cast<char>(byte));
}
void AppendPlainInt32(int32_t v, std::string* out) { out->append(reinterpret_cast<const char*>(&v), 4); }
void AppendPlainInt64(int64_t v, std::string* out) { out->append(reinterpret_cast<const char*>(&v), 8); }
void AppendPlainDouble(double v, std::string* out) { out->append(reinterpret_cast<const char*>(&v), 8); }
void AppendPlainByteArray(std::string_view v, std::string* out) {
  AppendLE32(static_cast<uint32_t>(v.size()), out);
  out->append(v);
}

Status DecodePlainBools(std::string_view* data, size_t count, std::vector<int64_t>* out) {
  size_t bytes = count / 8 + (count % 8 != 0);
  if (bytes > data->size()) return Short("BOOLEAN", count);
  for (size_t i = 0; i < count; ++i) {
    out->push_back((static_cast<uint8_t>((*data)[i / 8]) >> (i % 8)) & 1);
  }
  data->remove_prefix(bytes);
  return Status::OK();
}

Status DecodePlainInt32(std::string_view* data, size_t count, std::vector<int64_t>* out) {
  if (count > data->size() / 4) return Short("INT32", count);
  for (size_t i = 0; i < count; ++i) {
    out->push_back(static_cast<int32_t>(LoadLE32(data->data() + 4 * i)));
  }
  data->remove_prefix(4 * count);
  return Status::OK();
}

Status DecodePlainInt64(std::string_view* data, size_t count, std::vector<int64_t>* out) {
  if (count > data->size() / 8) return Short("INT64", count);
  for (size_t i = 0; i < count; ++i) {
    out->push_back(static_cast<int64_t>(LoadLE64(data->data() + 8 * i)));
  }
  data->remove_prefix(8 * count);
  return Status::OK();
}

Status DecodePlainFloat(std::string_view* data, size_t count, std::vector<double>* out) {
  if (count > data->size() / 4) return Short("FLOAT", count);
  for (size_t i = 0; i < count; ++i) {
    float f;
    std::memcpy(&f, data->data() + 4 * i, 4);
    out->push_back(static_cast<double>(f));
  }
  data->remove_prefix(4 * count);
  return Status::OK();
}

Status DecodePlainDouble(std::string_view* data, size_t count, std::vector<double>* out) {
  if (count > data->size() / 8) return Short("DOUBLE", count);
  for (size_t i = 0; i < count; ++i) {
    double d;
    std::memcpy(&d, data->data() + 8 * i, 8);
    out->push_back(d);
  }
  data->remove_prefix(8 * count);
  return Status::OK();
}

Status DecodePlainByteArray(std::string_view* data, size_t count, std::string* bytes,
                            std::vector<uint64_t>* ends) {
  if (count > data->size() / 4) return Short("BYTE_ARRAY", count);
  for (size_t i = 0; i < count; ++i) {
    if (data->size() < 4) return Short("BYTE_ARRAY", count);
    uint32_t len = LoadLE32(data->data());
    if (len > data->size() - 4) {
      return Status::Corruption("PLAIN BYTE_ARRAY value of " + std::to_string(len) +
                                " bytes runs past its page");
    }
    bytes->append(data->data() + 4, len);
    ends->push_back(bytes->size());
    data->remove_prefix(4 + static_cast<size_t>(len));
  }
  return Status::OK();
}

}  // namespace vigil::parquet::internal
