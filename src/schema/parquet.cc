#include "schema/parquet.h"

#include <fcntl.h>
#include <snappy.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "schema/parquet_encoding.h"
#include "schema/parquet_thrift.h"

namespace vigil::parquet {

using namespace internal;  // NOLINT(google-build-using-namespace): the codec's own internals

// ---------------------------------------------------------------------------------------
// Column and ColumnBatch

Value Column::Get(size_t i) const {
  Value v;
  GetInto(i, &v);
  return v;
}

void Column::GetInto(size_t i, Value* out) const {
  if (is_null(i)) {
    out->SetNull();
    return;
  }
  switch (type) {
    case Type::kInt64:
    case Type::kTimestamp:
      out->SetInteger(type, ints[i]);
      return;
    case Type::kBool:
      out->SetInteger(type, ints[i] != 0 ? 1 : 0);
      return;
    case Type::kDouble:
      out->SetDouble(doubles[i]);
      return;
    case Type::kString:
      out->SetString(str(i));
      return;
    case Type::kNull:
      break;
  }
  out->SetNull();
}

void Column::Reserve(size_t rows) {
  valid.reserve(rows);
  switch (type) {
    case Type::kInt64:
    case Type::kTimestamp:
    case Type::kBool:
      ints.reserve(rows);
      break;
    case Type::kDouble:
      doubles.reserve(rows);
      break;
    case Type::kString:
      offsets.reserve(rows + 1);
      break;
    case Type::kNull:
      break;
  }
}

void Column::Clear() {
  valid.clear();
  ints.clear();
  doubles.clear();
  bytes.clear();
  offsets.clear();
  codes.clear();
  dictionary_entries = 0;
  if (type == Type::kString) offsets.push_back(0);
}

ColumnBatch ColumnBatch::Empty(const Schema& schema) {
  ColumnBatch b;
  b.schema = schema;
  b.columns.resize(schema.size());
  for (size_t i = 0; i < schema.size(); ++i) {
    b.columns[i].type = schema.field(i).type;
    b.columns[i].Clear();
  }
  return b;
}

void ColumnBatch::AppendRow(const Row& row) {
  for (size_t i = 0; i < columns.size(); ++i) columns[i].Append(row[i]);
}

Row ColumnBatch::GetRow(int64_t i) const {
  Row row;
  row.reserve(columns.size());
  for (const Column& c : columns) row.push_back(c.Get(static_cast<size_t>(i)));
  return row;
}

namespace {

// Appends rows [begin, end) of src to dst. REQUIRES: same type.
void AppendRange(const Column& src, size_t begin, size_t end, Column* dst) {
  dst->valid.insert(dst->valid.end(), src.valid.begin() + begin, src.valid.begin() + end);
  switch (src.type) {
    case Type::kInt64:
    case Type::kTimestamp:
    case Type::kBool:
      dst->ints.insert(dst->ints.end(), src.ints.begin() + begin, src.ints.begin() + end);
      break;
    case Type::kDouble:
      dst->doubles.insert(dst->doubles.end(), src.doubles.begin() + begin, src.doubles.begin() + end);
      break;
    case Type::kString: {
      if (dst->offsets.empty()) dst->offsets.push_back(0);
      const uint64_t base = dst->bytes.size();
      dst->bytes.append(src.bytes, src.offsets[begin], src.offsets[end] - src.offsets[begin]);
      for (size_t i = begin; i < end; ++i)
        dst->offsets.push_back(base + src.offsets[i + 1] - src.offsets[begin]);
      break;
    }
    case Type::kNull:
      break;
  }
}

std::string ErrnoText(int err) { return std::strerror(err); }

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::IOError("write " + path + ": " + ErrnoText(errno));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::OK();
}

Status PReadAll(int fd, char* buf, size_t n, uint64_t offset, const std::string& path) {
  while (n > 0) {
    ssize_t got = ::pread(fd, buf, n, static_cast<off_t>(offset));
    if (got < 0) {
      if (errno == EINTR) continue;
      return Status::IOError("read " + path + ": " + ErrnoText(errno));
    }
    if (got == 0) return Status::Corruption(path + ": file shrank while being read");
    buf += got;
    n -= static_cast<size_t>(got);
    offset += static_cast<uint64_t>(got);
  }
  return Status::OK();
}

int32_t CodecOf(Compression c) {
  switch (c) {
    case Compression::kUncompressed:
      return kCodecUncompressed;
    case Compression::kSnappy:
      return kCodecSnappy;
    case Compression::kZstd:
      return kCodecZstd;
  }
  return kCodecUncompressed;
}

std::string_view CodecName(int32_t codec) {
  switch (codec) {
    case kCodecUncompressed:
      return "UNCOMPRESSED";
    case kCodecSnappy:
      return "SNAPPY";
    case kCodecGzip:
      return "GZIP";
    case kCodecLzo:
      return "LZO";
    case kCodecBrotli:
      return "BROTLI";
    case kCodecLz4:
      return "LZ4";
    case kCodecZstd:
      return "ZSTD";
    case kCodecLz4Raw:
      return "LZ4_RAW";
    default:
      return "an unknown codec";
  }
}

std::string_view EncodingName(int32_t e) {
  switch (e) {
    case kPlain:
      return "PLAIN";
    case kPlainDictionary:
      return "PLAIN_DICTIONARY";
    case kRle:
      return "RLE";
    case kBitPacked:
      return "BIT_PACKED";
    case kDeltaBinaryPacked:
      return "DELTA_BINARY_PACKED";
    case kDeltaLengthByteArray:
      return "DELTA_LENGTH_BYTE_ARRAY";
    case kDeltaByteArray:
      return "DELTA_BYTE_ARRAY";
    case kRleDictionary:
      return "RLE_DICTIONARY";
    case kByteStreamSplit:
      return "BYTE_STREAM_SPLIT";
    default:
      return "an unknown encoding";
  }
}

Status Compress(Compression c, int zstd_level, std::string_view in, std::string* out) {
  switch (c) {
    case Compression::kUncompressed:
      *out = in;
      return Status::OK();
    case Compression::kSnappy: {
      out->resize(snappy::MaxCompressedLength(in.size()));
      size_t n = 0;
      snappy::RawCompress(in.data(), in.size(), out->data(), &n);
      out->resize(n);
      return Status::OK();
    }
    case Compression::kZstd: {
      out->resize(ZSTD_compressBound(in.size()));
      size_t n = ZSTD_compress(out->data(), out->size(), in.data(), in.size(), zstd_level);
      if (ZSTD_isError(n)) return Status::IOError(std::string("zstd: ") + ZSTD_getErrorName(n));
      out->resize(n);
      return Status::OK();
    }
  }
  return Status::InvalidArgument("unknown compression");
}

// Pages of more values need at least one byte per 1024 values (see ReadPages).
constexpr int32_t kMaxPageValues = 1 << 24;

// The largest page vigil decompresses: a bogus declared size cannot make it allocate more.
constexpr int64_t kMaxPageBytes = int64_t{1} << 30;

// Decompresses `in`, which the page header says is `size` bytes uncompressed. The
// compressed stream's own length header must agree with `size` before anything is
// allocated, so a corrupt size cannot cause a large allocation.
Status Decompress(int32_t codec, std::string_view in, int64_t size, std::string* out) {
  if (size < 0 || size > kMaxPageBytes) {
    return Status::Corruption("uncompressed page size " + std::to_string(size) + " is out of range");
  }
  switch (codec) {
    case kCodecUncompressed:
      if (static_cast<int64_t>(in.size()) != size) {
        return Status::Corruption("uncompressed page of " + std::to_string(in.size()) + " bytes declares " +
                                  std::to_string(size));
      }
      out->assign(in);
      return Status::OK();
    case kCodecSnappy: {
      size_t len = 0;
      if (!snappy::GetUncompressedLength(in.data(), in.size(), &len)) {
        return Status::Corruption("bad snappy data");
      }
      if (static_cast<int64_t>(len) != size) {
        return Status::Corruption("snappy data holds " + std::to_string(len) +
                                  " bytes, the page header says " + std::to_string(size));
      }
      out->resize(len);
      if (!snappy::RawUncompress(in.data(), in.size(), out->data()))
        return Status::Corruption("bad snappy data");
      return Status::OK();
    }
    case kCodecZstd: {
      unsigned long long declared = ZSTD_getFrameContentSize(in.data(), in.size());
      if (declared == ZSTD_CONTENTSIZE_ERROR) return Status::Corruption("bad zstd frame");
      if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != static_cast<unsigned long long>(size)) {
        return Status::Corruption("zstd frame holds " + std::to_string(declared) +
                                  " bytes, the page header says " + std::to_string(size));
      }
      out->resize(static_cast<size_t>(size));
      size_t n = ZSTD_decompress(out->data(), out->size(), in.data(), in.size());
      if (ZSTD_isError(n)) return Status::Corruption(std::string("bad zstd data: ") + ZSTD_getErrorName(n));
      if (static_cast<int64_t>(n) != size) {
        return Status::Corruption("zstd data holds " + std::to_string(n) + " bytes, the page header says " +
                                  std::to_string(size));
      }
      return Status::OK();
    }
    default:
      return Status::InvalidArgument("compression " + std::string(CodecName(codec)) +
                                     " is not supported (want UNCOMPRESSED, SNAPPY or ZSTD)");
  }
}

// Statistics values are PLAIN-encoded without a length prefix.
std::string StatBytes(Type t, const Value& v) {
  std::string s;
  switch (t) {
    case Type::kInt64:
    case Type::kTimestamp:
      AppendPlainInt64(v.int64(), &s);
      break;
    case Type::kDouble:
      AppendPlainDouble(v.dbl(), &s);
      break;
    case Type::kBool:
      s.push_back(v.boolean() ? 1 : 0);
      break;
    case Type::kString:
      s = v.str();
      break;
    case Type::kNull:
      break;
  }
  return s;
}

// Strings longer than this are not stored as min/max (readers would copy them per row group).
constexpr size_t kMaxStatStringBytes = 4096;

}  // namespace

std::string_view CompressionName(Compression c) {
  switch (c) {
    case Compression::kUncompressed:
      return "uncompressed";
    case Compression::kSnappy:
      return "snappy";
    case Compression::kZstd:
      return "zstd";
  }
  return "uncompressed";
}

Result<Compression> ParseCompression(std::string_view name) {
  if (name == "uncompressed" || name == "none") return Compression::kUncompressed;
  if (name == "snappy") return Compression::kSnappy;
  if (name == "zstd") return Compression::kZstd;
  return Status::InvalidArgument("unknown compression '" + std::string(name) +
                                 "': want uncompressed, snappy or zstd");
}

// ---------------------------------------------------------------------------------------
// Writer

struct Writer::Impl {
  std::string path;
  std::string tmp_path;
  Schema schema;
  WriterOptions options;
  int fd = -1;
  bool closed = false;
  int64_t offset = 0;
  int64_t rows_written = 0;
  ColumnBatch pending;
  FileMetaData md;

  ~Impl() {
    if (fd >= 0) ::close(fd);
    if (!closed) ::unlink(tmp_path.c_str());
  }

  Status Append(std::string_view data) {
    VIGIL_RETURN_IF_ERROR(WriteAll(fd, data, tmp_path));
    offset += static_cast<int64_t>(data.size());
    return Status::OK();
  }

  // Compresses `body` and appends it with its header to *out (a column chunk being
  // encoded); *page_offset: the header's offset in *out.
  Status WritePage(PageHeader h, std::string_view body, std::string* out, int64_t* page_offset,
                   int64_t* compressed_total, int64_t* uncompressed_total) const {
    std::string compressed;
    VIGIL_RETURN_IF_ERROR(Compress(options.compression, options.zstd_level, body, &compressed));
    if (body.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max()) ||
        compressed.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
      return Status::InvalidArgument(path + ": a page would exceed 2 GiB; lower page_bytes");
    }
    h.uncompressed_page_size = static_cast<int32_t>(body.size());
    h.compressed_page_size = static_cast<int32_t>(compressed.size());
    std::string header;
    SerializePageHeader(h, &header);
    *page_offset = static_cast<int64_t>(out->size());
    *compressed_total += static_cast<int64_t>(header.size() + compressed.size());
    *uncompressed_total += static_cast<int64_t>(header.size() + body.size());
    out->append(header);
    out->append(compressed);
    return Status::OK();
  }

  // Encodes rows [begin, end) of `col` as a column chunk into *out, its offsets relative
  // to the start of *out. Thread-safe: it reads only the options.
  Status WriteColumnChunk(const Column& col, size_t begin, size_t end, const Field& field, ColumnChunk* chunk,
                          std::string* out) const;
  // Writes rows [begin, end) of `batch` as one row group.
  Status WriteRowGroup(const ColumnBatch& batch, size_t begin, size_t end);
  // Writes the buffered rows as a row group, if any.
  Status FlushPending();
};

namespace {

// A column's distinct values in first-seen order and each non-null row's index.
struct Dictionary {
  std::vector<uint32_t> indexes;   // one per non-null row
  std::vector<size_t> first_rows;  // the row of each dictionary entry's first occurrence
  int64_t plain_bytes = 0;
};

// Open addressing with linear probing over the dictionary's entries: a slot holds an
// entry's number + 1 (0: empty), and equality reads the entry's first row. No allocation
// per distinct value; the thread's table keeps its arrays from chunk to chunk and uses
// a prefix of them, starting small (a column of few values stays in the cache).
class DictionaryTable {
 public:
  // The entry equal to the value whose hash is `hash` (`same(entry)` tells), or a new one
  // numbered `next` when there is none (*inserted set).
  template <class Same>
  uint32_t FindOrInsert(uint64_t hash, uint32_t next, const Same& same, bool* inserted) {
    if ((static_cast<size_t>(next) + 1) * 2 > mask_ + 1) Grow();
    size_t i = static_cast<size_t>(hash) & mask_;
    for (;;) {
      const Slot& slot = slots_[i];
      if (slot.entry == 0) break;
      if (slot.hash == hash && same(slot.entry - 1)) {
        *inserted = false;
        return slot.entry - 1;
      }
      i = (i + 1) & mask_;
    }
    slots_[i] = {hash, next + 1};
    *inserted = true;
    return next;
  }

  // Empties the table, sized for `expected` entries.
  void Reset(size_t expected) {
    size_t cap = 1024;
    while (cap < expected * 2) cap *= 2;
    Use(&slots_, cap);
  }

 private:
  struct Slot {
    uint64_t hash = 0;
    uint32_t entry = 0;
  };

  // The first `cap` slots of *v, emptied; mask_ set for them.
  void Use(std::vector<Slot>* v, size_t cap) {
    if (v->size() < cap) v->resize(cap);
    std::fill(v->begin(), v->begin() + static_cast<std::ptrdiff_t>(cap), Slot{});
    mask_ = cap - 1;
  }

  void Grow() {
    const size_t old_cap = mask_ + 1;
    Use(&spare_, old_cap * 2);
    for (size_t j = 0; j < old_cap; ++j) {
      const Slot& s = slots_[j];
      if (s.entry == 0) continue;
      size_t i = static_cast<size_t>(s.hash) & mask_;
      while (spare_[i].entry != 0) i = (i + 1) & mask_;
      spare_[i] = s;
    }
    slots_.swap(spare_);
  }

  std::vector<Slot> slots_, spare_;
  size_t mask_ = 0;
};

uint64_t MixBits(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  return x ^ (x >> 33);
}

// Values a dictionary looks at before it judges, from their distinct values, whether the
// whole chunk's would fit (and again after each as many).
constexpr size_t kDictionaryProbeValues = 4096;

// The dictionary of rows [begin, end) of `col`. False when it would exceed max_bytes, or
// when the chunk's first kDictionaryProbeValues values (or any multiple of them) have so
// many distinct ones that the chunk's would, at that rate, exceed it: a column of mostly
// distinct doubles or timestamps is found out after 4096 values, not after the hundred
// thousand that fill a MiB.
bool BuildDictionary(const Column& col, size_t begin, size_t end, int64_t max_bytes, Dictionary* d) {
  thread_local DictionaryTable table;
  table.Reset(std::min<size_t>(end - begin, 512));
  d->indexes.reserve(end - begin);
  const auto rows = static_cast<int64_t>(end - begin);
  // Whether the dictionary, after a value was counted, still fits (now, and projected).
  auto fits = [&] {
    const size_t seen = d->indexes.size();
    if (seen % kDictionaryProbeValues == 0 &&
        static_cast<double>(d->plain_bytes) * static_cast<double>(rows) / static_cast<double>(seen) >
            static_cast<double>(max_bytes)) {
      return false;
    }
    return d->plain_bytes <= max_bytes;
  };
  auto add = [&](size_t row, uint64_t hash, int64_t bytes, const auto& same) {
    bool inserted = false;
    const uint32_t e = table.FindOrInsert(hash, static_cast<uint32_t>(d->first_rows.size()), same, &inserted);
    if (inserted) {
      d->first_rows.push_back(row);
      d->plain_bytes += bytes;
    }
    d->indexes.push_back(e);
    return fits();
  };
  if (col.type == Type::kString) {
    // A changelog's keys come in runs (an entity's rows together): a value equal to the
    // one before takes its entry without being hashed (numbers below likewise).
    const std::hash<std::string_view> hasher;
    std::string_view before;
    for (size_t i = begin; i < end; ++i) {
      if (col.is_null(i)) continue;
      const std::string_view s = col.str(i);
      if (!d->indexes.empty() && s == before) {
        d->indexes.push_back(d->indexes.back());
        if (!fits()) return false;
        continue;
      }
      before = s;
      if (!add(i, hasher(s), 4 + static_cast<int64_t>(s.size()),
               [&](uint32_t e) { return col.str(d->first_rows[e]) == s; }))
        return false;
    }
  } else {
    // By bits: -0.0 and 0.0 stay distinct.
    const bool dbl = col.type == Type::kDouble;
    auto bits_of = [&](size_t i) {
      uint64_t bits;
      if (dbl) {
        std::memcpy(&bits, &col.doubles[i], 8);
      } else {
        bits = static_cast<uint64_t>(col.ints[i]);
      }
      return bits;
    };
    // Runs too: a changelog row changes some of an entity's features, the others repeat
    // the row before.
    uint64_t before = 0;
    for (size_t i = begin; i < end; ++i) {
      if (col.is_null(i)) continue;
      const uint64_t bits = bits_of(i);
      if (!d->indexes.empty() && bits == before) {
        d->indexes.push_back(d->indexes.back());
        if (!fits()) return false;
        continue;
      }
      before = bits;
      if (!add(i, MixBits(bits), 8, [&](uint32_t e) { return bits_of(d->first_rows[e]) == bits; }))
        return false;
    }
  }
  return true;
}

void AppendPlainValue(const Column& col, size_t i, std::string* out) {
  switch (col.type) {
    case Type::kInt64:
    case Type::kTimestamp:
      AppendPlainInt64(col.ints[i], out);
      break;
    case Type::kDouble:
      AppendPlainDouble(col.doubles[i], out);
      break;
    case Type::kString:
      AppendPlainByteArray(col.str(i), out);
      break;
    case Type::kBool:
    case Type::kNull:
      break;  // bools are bit-packed by the caller
  }
}

// Bits a row adds to a page: its definition level and its value.
int64_t RowBits(const Column& col, size_t i, bool dict, int dict_width) {
  if (col.is_null(i)) return 1;
  if (dict) return 1 + dict_width;
  switch (col.type) {
    case Type::kBool:
      return 2;
    case Type::kString:
      return 1 + 8 * (4 + static_cast<int64_t>(col.offsets[i + 1] - col.offsets[i]));
    default:
      return 65;
  }
}

// Pages hold at most this many rows (DataPageHeader.num_values is an i32).
constexpr size_t kMaxPageRows = size_t{1} << 24;

}  // namespace

Status Writer::Impl::WriteColumnChunk(const Column& col, size_t begin, size_t end, const Field& field,
                                      ColumnChunk* chunk, std::string* out) const {
  const size_t n = end - begin;
  const Type type = field.type;
  ColumnMetaData& cm = chunk->meta_data.emplace();
  cm.path_in_schema = {field.name};
  cm.codec = CodecOf(options.compression);
  cm.num_values = static_cast<int64_t>(n);
  switch (type) {
    case Type::kInt64:
    case Type::kTimestamp:
      cm.type = kInt64;
      break;
    case Type::kDouble:
      cm.type = kDouble;
      break;
    case Type::kString:
      cm.type = kByteArray;
      break;
    case Type::kBool:
      cm.type = kBoolean;
      break;
    case Type::kNull:
      return Status::InvalidArgument("null column");
  }

  // Dictionary or plain. Its entries are the chunk's distinct values: the statistics need
  // look only at them.
  int64_t nulls = 0;
  for (size_t i = begin; i < end; ++i) nulls += col.valid[i] == 0 ? 1 : 0;
  Dictionary dict;
  bool use_dict = options.dictionary && type != Type::kBool && nulls < static_cast<int64_t>(n) &&
                  BuildDictionary(col, begin, end, options.dictionary_max_bytes, &dict);

  // Statistics.
  Statistics stats;
  size_t min_row = end, max_row = end;
  // One loop per type: the comparison's switch is not taken again for every row.
  auto min_max = [&](const auto& less) {
    auto consider = [&](size_t i) {
      if (min_row == end) {
        min_row = max_row = i;
      } else if (less(i, min_row)) {
        min_row = i;
      } else if (less(max_row, i)) {
        max_row = i;
      }
    };
    if (use_dict) {
      for (size_t i : dict.first_rows) consider(i);
    } else {
      for (size_t i = begin; i < end; ++i) {
        if (!col.is_null(i)) consider(i);
      }
    }
  };
  switch (type) {
    case Type::kDouble:
      min_max([&](size_t a, size_t b) { return col.doubles[a] < col.doubles[b]; });
      break;
    case Type::kString:
      min_max([&](size_t a, size_t b) { return col.str(a) < col.str(b); });
      break;
    default:
      min_max([&](size_t a, size_t b) { return col.ints[a] < col.ints[b]; });
      break;
  }
  stats.null_count = nulls;
  if (min_row != end) {
    Value lo = col.Get(min_row), hi = col.Get(max_row);
    if (type == Type::kDouble) {  // the spec's rule for zeros: min -0.0, max +0.0
      if (lo.dbl() == 0.0) lo = Value::Double(-0.0);
      if (hi.dbl() == 0.0) hi = Value::Double(0.0);
    }
    if (type != Type::kString ||
        (lo.str().size() <= kMaxStatStringBytes && hi.str().size() <= kMaxStatStringBytes)) {
      stats.min_value = StatBytes(type, lo);
      stats.max_value = StatBytes(type, hi);
      stats.min = stats.min_value;
      stats.max = stats.max_value;
    }
  }
  cm.statistics = std::move(stats);

  int dict_width = 0;
  const int64_t chunk_start = 0;
  int64_t compressed_total = 0, uncompressed_total = 0;
  if (use_dict) {
    dict_width = std::max(1, BitWidth(dict.first_rows.size() - 1));
    std::string body;
    for (size_t row : dict.first_rows) AppendPlainValue(col, row, &body);
    PageHeader h;
    h.type = kDictionaryPage;
    h.dictionary_page_header.emplace();
    h.dictionary_page_header->num_values = static_cast<int32_t>(dict.first_rows.size());
    h.dictionary_page_header->encoding = kPlain;
    int64_t page_offset = 0;
    VIGIL_RETURN_IF_ERROR(WritePage(h, body, out, &page_offset, &compressed_total, &uncompressed_total));
    cm.dictionary_page_offset = page_offset;
    cm.encodings = {kPlain, kRle, kRleDictionary};
  } else {
    cm.encodings = {kPlain, kRle};
  }

  // Data pages.
  const int64_t page_bits = std::max<int64_t>(1, options.page_bytes) * 8;
  size_t row = begin, value_pos = 0;  // value_pos: the next non-null row's index in dict.indexes
  bool first_page = true;
  std::vector<uint32_t> levels;
  std::vector<int64_t> bools;
  std::string body, encoded;
  while (row < end || first_page) {
    size_t page_end = row;
    if (nulls == 0 && type != Type::kString) {
      // Every row is as wide: the page's rows follow from its size (the loop below would
      // stop at the same row).
      const int64_t row_bits = RowBits(col, row, use_dict, dict_width);
      const auto fit = static_cast<size_t>((page_bits + row_bits - 1) / row_bits);
      page_end = row + std::min({std::max<size_t>(fit, 1), end - row, kMaxPageRows});
    } else {
      int64_t bits = 0;
      while (page_end < end && (page_end == row || bits < page_bits) && page_end - row < kMaxPageRows) {
        bits += RowBits(col, page_end, use_dict, dict_width);
        ++page_end;
      }
    }
    const size_t page_rows = page_end - row;
    levels.clear();
    bools.clear();
    body.clear();
    encoded.clear();
    if (nulls == 0 && page_rows >= 8) {
      // Every level is 1: one RLE run, the bytes AppendRleHybrid gives such levels.
      AppendRleRun(page_rows, 1, 1, &encoded);
    } else {
      for (size_t i = row; i < page_end; ++i) levels.push_back(col.valid[i] != 0 ? 1 : 0);
      AppendRleHybrid(levels, 1, &encoded);
    }
    AppendLE32(static_cast<uint32_t>(encoded.size()), &body);
    body += encoded;
    if (use_dict) {
      // The page's non-null rows are the next ones of dict.indexes, in row order.
      size_t values = 0;
      for (size_t i = row; i < page_end; ++i) values += col.valid[i] != 0 ? 1 : 0;
      body.push_back(static_cast<char>(dict_width));
      AppendRleHybrid(std::span<const uint32_t>(dict.indexes.data() + value_pos, values), dict_width, &body);
      value_pos += values;
    } else if (type == Type::kBool) {
      for (size_t i = row; i < page_end; ++i) {
        if (!col.is_null(i)) bools.push_back(col.ints[i]);
      }
      AppendPlainBools(bools, &body);
    } else if (nulls == 0 && type != Type::kString) {
      // PLAIN int64 and double are the values' little-endian bytes, as they lie in memory.
      static_assert(std::endian::native == std::endian::little);
      const char* first = type == Type::kDouble ? reinterpret_cast<const char*>(col.doubles.data() + row)
                                                : reinterpret_cast<const char*>(col.ints.data() + row);
      body.append(first, page_rows * 8);
    } else {
      for (size_t i = row; i < page_end; ++i) {
        if (!col.is_null(i)) AppendPlainValue(col, i, &body);
      }
    }
    PageHeader h;
    h.type = kDataPage;
    DataPageHeader& d = h.data_page_header.emplace();
    d.num_values = static_cast<int32_t>(page_rows);
    d.encoding = use_dict ? kRleDictionary : kPlain;
    d.definition_level_encoding = kRle;
    d.repetition_level_encoding = kRle;
    int64_t page_offset = 0;
    VIGIL_RETURN_IF_ERROR(WritePage(h, body, out, &page_offset, &compressed_total, &uncompressed_total));
    if (first_page) cm.data_page_offset = page_offset;
    first_page = false;
    row = page_end;
  }
  cm.total_compressed_size = compressed_total;
  cm.total_uncompressed_size = uncompressed_total;
  chunk->file_offset = chunk_start;
  return Status::OK();
}

Status Writer::Impl::FlushPending() {
  if (pending.rows() == 0) return Status::OK();
  VIGIL_RETURN_IF_ERROR(WriteRowGroup(pending, 0, static_cast<size_t>(pending.rows())));
  for (Column& c : pending.columns) c.Clear();
  return Status::OK();
}

Status Writer::Impl::WriteRowGroup(const ColumnBatch& batch, size_t begin, size_t end) {
  RowGroup g;
  const int64_t start = offset;
  g.num_rows = static_cast<int64_t>(end - begin);
  // Each chunk is encoded into its own buffer (in parallel when asked), then written in
  // column order, its offsets moved to where it lands.
  const size_t nc = schema.size();
  std::vector<ColumnChunk> chunks(nc);
  std::vector<std::string> encoded(nc);
  std::vector<Status> status(nc);
  auto encode = [&](size_t first, size_t step) {
    for (size_t c = first; c < nc; c += step) {
      status[c] = WriteColumnChunk(batch.columns[c], begin, end, schema.field(c), &chunks[c], &encoded[c]);
    }
  };
  const size_t threads = std::min<size_t>(nc, static_cast<size_t>(std::max(1, options.threads)));
  if (threads <= 1) {
    encode(0, 1);
  } else {
    std::vector<std::thread> pool;
    for (size_t t = 1; t < threads; ++t) pool.emplace_back(encode, t, threads);
    encode(0, threads);
    for (auto& t : pool) t.join();
  }
  // The chunks go to the file in one write: a row group of many columns is not many
  // system calls.
  size_t bytes = 0;
  for (size_t c = 0; c < nc; ++c) bytes += encoded[c].size();
  std::string group;
  group.reserve(bytes);
  for (size_t c = 0; c < nc; ++c) {
    VIGIL_RETURN_IF_ERROR(status[c]);
    ColumnChunk& chunk = chunks[c];
    ColumnMetaData& cm = *chunk.meta_data;
    const auto base = offset + static_cast<int64_t>(group.size());
    chunk.file_offset += base;
    cm.data_page_offset += base;
    if (cm.dictionary_page_offset) *cm.dictionary_page_offset += base;
    group += encoded[c];
    std::string().swap(encoded[c]);
    g.total_byte_size += cm.total_uncompressed_size;
    g.columns.push_back(std::move(chunk));
  }
  VIGIL_RETURN_IF_ERROR(Append(group));
  g.file_offset = start;
  g.total_compressed_size = offset - start;
  g.ordinal = static_cast<int16_t>(md.row_groups.size());
  md.row_groups.push_back(std::move(g));
  md.num_rows += g.num_rows;
  return Status::OK();
}

Writer::Writer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Writer::~Writer() = default;

Result<std::unique_ptr<Writer>> Writer::Create(const std::string& path, const Schema& schema,
                                               const WriterOptions& options) {
  if (schema.size() == 0) return Status::InvalidArgument(path + ": a Parquet file needs at least one column");
  std::unordered_set<std::string_view> names;
  for (const Field& f : schema.fields()) {
    if (f.type == Type::kNull) {
      return Status::InvalidArgument(path + ": column '" + f.name + "' has type null");
    }
    if (f.name.empty()) return Status::InvalidArgument(path + ": a column has no name");
    if (!names.insert(f.name).second) {
      return Status::InvalidArgument(path + ": column '" + f.name + "' appears twice");
    }
  }
  if (options.zstd_level < 1 || options.zstd_level > 19) {
    return Status::InvalidArgument(path + ": zstd level " + std::to_string(options.zstd_level) +
                                   " is outside 1..19");
  }
  if (options.row_group_rows < 1) return Status::InvalidArgument(path + ": row_group_rows must be positive");
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->tmp_path = path + ".tmp";
  impl->schema = schema;
  impl->options = options;
  impl->pending = ColumnBatch::Empty(schema);
  impl->fd = ::open(impl->tmp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (impl->fd < 0) return Status::IOError("cannot create " + impl->tmp_path + ": " + ErrnoText(errno));

  FileMetaData& md = impl->md;
  md.version = 1;
  md.created_by = "vigil";
  md.type_defined_column_orders = true;
  SchemaElement root;
  root.name = "schema";
  root.num_children = static_cast<int32_t>(schema.size());
  md.schema.push_back(root);
  for (const Field& f : schema.fields()) {
    SchemaElement e;
    e.name = f.name;
    e.repetition_type = kOptional;
    switch (f.type) {
      case Type::kInt64:
        e.type = kInt64;
        break;
      case Type::kDouble:
        e.type = kDouble;
        break;
      case Type::kBool:
        e.type = kBoolean;
        break;
      case Type::kString:
        e.type = kByteArray;
        e.converted_type = kConvertedUtf8;
        e.logical_type.emplace().kind = kLogicalString;
        break;
      case Type::kTimestamp: {
        e.type = kInt64;
        e.converted_type = kConvertedTimestampMillis;
        LogicalType& lt = e.logical_type.emplace();
        lt.kind = kLogicalTimestamp;
        lt.adjusted_to_utc = true;
        lt.unit = kMillis;
        break;
      }
      case Type::kNull:
        break;
    }
    md.schema.push_back(std::move(e));
  }
  for (const auto& [k, v] : options.metadata) md.key_value_metadata.push_back({k, v});
  Status st = impl->Append("PAR1");
  if (!st.ok()) return st;
  return std::unique_ptr<Writer>(new Writer(std::move(impl)));
}

namespace {

Status CheckBatchSchema(const std::string& path, const Schema& schema, const ColumnBatch& batch) {
  if (batch.columns.size() != schema.size()) {
    return Status::InvalidArgument(path + ": batch has " + std::to_string(batch.columns.size()) +
                                   " columns, the file " + std::to_string(schema.size()));
  }
  for (size_t c = 0; c < batch.columns.size(); ++c) {
    if (batch.columns[c].type != schema.field(c).type) {
      return Status::InvalidArgument(path + ": batch column " + std::to_string(c) + " has type " +
                                     std::string(TypeName(batch.columns[c].type)) + ", the file's '" +
                                     schema.field(c).name + "' " +
                                     std::string(TypeName(schema.field(c).type)));
    }
  }
  return Status::OK();
}

}  // namespace

Status Writer::Write(const ColumnBatch& batch) {
  Impl& w = *impl_;
  if (w.closed) return Status::InvalidArgument(w.path + ": write after Close");
  VIGIL_RETURN_IF_ERROR(CheckBatchSchema(w.path, w.schema, batch));
  const size_t n = static_cast<size_t>(batch.rows());
  const size_t group = static_cast<size_t>(w.options.row_group_rows);
  size_t pos = 0;
  auto buffer = [&](size_t take) -> Status {
    for (size_t c = 0; c < batch.columns.size(); ++c)
      AppendRange(batch.columns[c], pos, pos + take, &w.pending.columns[c]);
    pos += take;
    return static_cast<size_t>(w.pending.rows()) >= group ? w.FlushPending() : Status::OK();
  };
  // The buffered row group is filled first; whole row groups are then encoded straight
  // from the batch, and the rest waits in the buffer for more rows.
  if (w.pending.rows() > 0)
    VIGIL_RETURN_IF_ERROR(buffer(std::min(n, group - static_cast<size_t>(w.pending.rows()))));
  for (; n - pos >= group; pos += group) VIGIL_RETURN_IF_ERROR(w.WriteRowGroup(batch, pos, pos + group));
  if (pos < n) VIGIL_RETURN_IF_ERROR(buffer(n - pos));
  w.rows_written += static_cast<int64_t>(n);
  return Status::OK();
}

Status Writer::WriteRowGroups(const ColumnBatch& batch) {
  Impl& w = *impl_;
  if (w.closed) return Status::InvalidArgument(w.path + ": write after Close");
  VIGIL_RETURN_IF_ERROR(CheckBatchSchema(w.path, w.schema, batch));
  VIGIL_RETURN_IF_ERROR(w.FlushPending());
  const size_t n = static_cast<size_t>(batch.rows());
  const size_t group = static_cast<size_t>(w.options.row_group_rows);
  for (size_t pos = 0; pos < n; pos += group) {
    VIGIL_RETURN_IF_ERROR(w.WriteRowGroup(batch, pos, std::min(n, pos + group)));
  }
  w.rows_written += static_cast<int64_t>(n);
  return Status::OK();
}

Status Writer::WriteRow(const Row& row) {
  Impl& w = *impl_;
  if (w.closed) return Status::InvalidArgument(w.path + ": write after Close");
  if (row.size() != w.schema.size()) {
    return Status::InvalidArgument(w.path + ": row has " + std::to_string(row.size()) + " values, the file " +
                                   std::to_string(w.schema.size()) + " columns");
  }
  for (size_t c = 0; c < row.size(); ++c) {
    if (!row[c].is_null() && row[c].type() != w.schema.field(c).type) {
      return Status::InvalidArgument(w.path + ": column '" + w.schema.field(c).name + "' wants " +
                                     std::string(TypeName(w.schema.field(c).type)) + ", got " +
                                     std::string(TypeName(row[c].type())));
    }
  }
  w.pending.AppendRow(row);
  ++w.rows_written;
  if (w.pending.rows() >= w.options.row_group_rows) return w.FlushPending();
  return Status::OK();
}

Status Writer::Close() {
  Impl& w = *impl_;
  if (w.closed) return Status::OK();
  VIGIL_RETURN_IF_ERROR(w.FlushPending());
  std::string footer;
  SerializeFileMetaData(w.md, &footer);
  AppendLE32(static_cast<uint32_t>(footer.size()), &footer);
  footer += "PAR1";
  VIGIL_RETURN_IF_ERROR(w.Append(footer));
  if (w.options.sync && ::fsync(w.fd) != 0) {
    return Status::IOError("fsync " + w.tmp_path + ": " + ErrnoText(errno));
  }
  int fd = w.fd;
  w.fd = -1;
  if (::close(fd) != 0) return Status::IOError("close " + w.tmp_path + ": " + ErrnoText(errno));
  if (::rename(w.tmp_path.c_str(), w.path.c_str()) != 0) {
    return Status::IOError("rename " + w.tmp_path + " to " + w.path + ": " + ErrnoText(errno));
  }
  w.closed = true;
  if (!w.options.sync) return Status::OK();
  // Make the rename durable.
  std::string dir =
      w.path.substr(0, w.path.find_last_of('/') == std::string::npos ? 0 : w.path.find_last_of('/'));
  if (dir.empty()) dir = w.path.find('/') == 0 ? "/" : ".";
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::OK();
}

int64_t Writer::rows_written() const { return impl_->rows_written; }

// ---------------------------------------------------------------------------------------
// Reader

namespace {

// How one file column maps to a vigil type.
struct ColumnDesc {
  std::string name;
  int32_t physical = 0;
  Type type = Type::kNull;  // kNull: unreadable, `unsupported` says why
  std::string unsupported;
  bool optional = true;
  bool is_unsigned = false;  // INT32 annotated UINT_32 / UINT_8 / UINT_16
  int64_t ts_divisor = 1;    // raw units per ms: 1 (MILLIS), 1000 (MICROS), 1000000 (NANOS)
};

int64_t FloorDiv(int64_t v, int64_t d) {
  int64_t q = v / d;
  if (v % d != 0 && v < 0) --q;
  return q;
}

ColumnDesc Describe(const SchemaElement& e) {
  ColumnDesc d;
  d.name = e.name;
  d.physical = e.type.value_or(-1);
  d.optional = e.repetition_type.value_or(kOptional) != kRequired;
  const int16_t lk = e.logical_type ? e.logical_type->kind : int16_t{kLogicalNone};
  const int32_t ct = e.converted_type.value_or(-1);
  auto fail = [&](std::string why) {
    d.type = Type::kNull;
    d.unsupported = std::move(why);
    return d;
  };
  switch (d.physical) {
    case kBoolean:
      d.type = Type::kBool;
      break;
    case kInt32:
      if (lk == kLogicalDecimal || ct == kConvertedDecimal) return fail("DECIMAL columns are not supported");
      if (lk == kLogicalDate || ct == kConvertedDate) return fail("DATE columns are not supported");
      if (lk == kLogicalTime || ct == kConvertedTimeMillis) return fail("TIME columns are not supported");
      if (lk != kLogicalNone && lk != kLogicalInteger)
        return fail("INT32 with this logical type is not supported");
      d.is_unsigned = (lk == kLogicalInteger && !e.logical_type->is_signed) || ct == kConvertedUint8 ||
                      ct == kConvertedUint16 || ct == kConvertedUint32;
      d.type = Type::kInt64;
      break;
    case kInt64:
      if (lk == kLogicalTimestamp || ct == kConvertedTimestampMillis || ct == kConvertedTimestampMicros) {
        int16_t unit = lk == kLogicalTimestamp
                           ? e.logical_type->unit
                           : static_cast<int16_t>(ct == kConvertedTimestampMillis ? kMillis : kMicros);
        if (unit == kMillis) {
          d.ts_divisor = 1;
        } else if (unit == kMicros) {
          d.ts_divisor = 1000;
        } else if (unit == kNanos) {
          d.ts_divisor = 1000000;
        } else {
          return fail("TIMESTAMP with an unknown unit");
        }
        d.type = Type::kTimestamp;
        break;
      }
      if (lk == kLogicalDecimal || ct == kConvertedDecimal) return fail("DECIMAL columns are not supported");
      if (lk == kLogicalTime || ct == kConvertedTimeMicros) return fail("TIME columns are not supported");
      if ((lk == kLogicalInteger && !e.logical_type->is_signed) || ct == kConvertedUint64) {
        return fail("UINT64 columns are not supported (values may not fit int64)");
      }
      if (lk != kLogicalNone && lk != kLogicalInteger)
        return fail("INT64 with this logical type is not supported");
      d.type = Type::kInt64;
      break;
    case kFloat:
    case kDouble:
      d.type = Type::kDouble;
      break;
    case kByteArray:
      if (lk == kLogicalDecimal || ct == kConvertedDecimal) return fail("DECIMAL columns are not supported");
      if (lk != kLogicalNone && lk != kLogicalString && lk != kLogicalEnum && lk != kLogicalJson) {
        return fail("BYTE_ARRAY with this logical type is not supported");
      }
      d.type = Type::kString;
      break;
    case kInt96:
      return fail("INT96 columns are not supported");
    case kFixedLenByteArray:
      return fail("FIXED_LEN_BYTE_ARRAY columns are not supported");
    default:
      return fail("physical type " + std::to_string(d.physical) + " is not supported");
  }
  return d;
}

// A statistics value as a vigil Value, or null if it cannot be decoded.
Value DecodeStat(const ColumnDesc& d, const std::string& s) {
  switch (d.physical) {
    case kBoolean:
      if (s.size() != 1) return Value();
      return Value::Bool(s[0] != 0);
    case kInt32: {
      if (s.size() != 4) return Value();
      uint32_t u = LoadLE32(s.data());
      return Value::Int64(d.is_unsigned ? static_cast<int64_t>(u)
                                        : static_cast<int64_t>(static_cast<int32_t>(u)));
    }
    case kInt64: {
      if (s.size() != 8) return Value();
      int64_t v = static_cast<int64_t>(LoadLE64(s.data()));
      if (d.type == Type::kTimestamp) return Value::Timestamp(FloorDiv(v, d.ts_divisor));
      return Value::Int64(v);
    }
    case kFloat: {
      if (s.size() != 4) return Value();
      float f;
      std::memcpy(&f, s.data(), 4);
      if (!std::isfinite(f)) return Value();
      return Value::Double(f);
    }
    case kDouble: {
      if (s.size() != 8) return Value();
      double v;
      std::memcpy(&v, s.data(), 8);
      if (!std::isfinite(v)) return Value();
      return Value::Double(v);
    }
    case kByteArray:
      return Value::String(s);
    default:
      return Value();
  }
}

ColumnStats ToColumnStats(const ColumnDesc& d, const std::optional<Statistics>& st) {
  ColumnStats cs;
  if (!st || d.type == Type::kNull) return cs;
  if (st->null_count) cs.null_count = *st->null_count;
  const std::string* lo = nullptr;
  const std::string* hi = nullptr;
  if (st->min_value && st->max_value) {
    lo = &*st->min_value;
    hi = &*st->max_value;
  } else if (st->min && st->max && d.physical != kByteArray && !d.is_unsigned) {
    // The deprecated fields use signed order: right for signed numbers and booleans only.
    lo = &*st->min;
    hi = &*st->max;
  }
  if (lo == nullptr) return cs;
  cs.min = DecodeStat(d, *lo);
  cs.max = DecodeStat(d, *hi);
  cs.has_min_max = !cs.min.is_null() && !cs.max.is_null();
  if (!cs.has_min_max) cs.min = cs.max = Value();
  return cs;
}

// Orders two non-null values of comparable types; false in *comparable otherwise.
int CompareValues(const Value& a, const Value& b, bool* comparable) {
  *comparable = true;
  if (a.type() == Type::kString && b.type() == Type::kString)
    return a.str().compare(b.str()) < 0 ? -1 : (a.str() == b.str() ? 0 : 1);
  if (a.type() == Type::kString || b.type() == Type::kString) {
    *comparable = false;
    return 0;
  }
  if (a.type() != Type::kDouble && b.type() != Type::kDouble) {
    return a.int64() < b.int64() ? -1 : (a.int64() > b.int64() ? 1 : 0);
  }
  double x = a.AsDouble(), y = b.AsDouble();
  return x < y ? -1 : (x > y ? 1 : 0);
}

// A page's decoded non-null values, before they are spread over rows by the def levels.
struct Values {
  std::vector<int64_t> ints;
  std::vector<double> doubles;
  std::string bytes;
  std::vector<uint64_t> ends;
  size_t size(Type t) const {
    return t == Type::kDouble ? doubles.size() : (t == Type::kString ? ends.size() : ints.size());
  }
  void clear() {
    ints.clear();
    doubles.clear();
    bytes.clear();
    ends.clear();
  }
};

Status DecodePlain(const ColumnDesc& d, std::string_view* data, size_t count, Values* out) {
  switch (d.physical) {
    case kBoolean:
      return DecodePlainBools(data, count, &out->ints);
    case kInt32: {
      size_t first = out->ints.size();
      VIGIL_RETURN_IF_ERROR(DecodePlainInt32(data, count, &out->ints));
      if (d.is_unsigned) {
        for (size_t i = first; i < out->ints.size(); ++i) out->ints[i] = static_cast<uint32_t>(out->ints[i]);
      }
      return Status::OK();
    }
    case kInt64: {
      size_t first = out->ints.size();
      VIGIL_RETURN_IF_ERROR(DecodePlainInt64(data, count, &out->ints));
      if (d.ts_divisor != 1) {
        for (size_t i = first; i < out->ints.size(); ++i) out->ints[i] = FloorDiv(out->ints[i], d.ts_divisor);
      }
      return Status::OK();
    }
    case kFloat:
      return DecodePlainFloat(data, count, &out->doubles);
    case kDouble:
      return DecodePlainDouble(data, count, &out->doubles);
    case kByteArray: {
      // The ends are relative to out->bytes as it grows.
      return DecodePlainByteArray(data, count, &out->bytes, &out->ends);
    }
    default:
      return Status::InvalidArgument("unsupported physical type");
  }
}

}  // namespace

struct Reader::Impl {
  std::string path;
  int fd = -1;
  uint64_t file_size = 0;
  uint64_t data_end = 0;  // where the footer starts
  FileMetaData md;
  Schema schema;
  std::vector<ColumnDesc> columns;
  std::vector<RowGroupInfo> groups;
  std::vector<std::pair<std::string, std::string>> metadata;

  ~Impl() {
    if (fd >= 0) ::close(fd);
  }

  Status Corrupt(const std::string& what) const { return Status::Corruption(path + ": " + what); }
  Status CheckFooter();
  Status ReadChunk(int g, int c, Column* out) const;
  Status ReadPages(int g, int c, std::string_view chunk, Column* out) const;
};

Status Reader::Impl::CheckFooter() {
  if (md.schema.empty()) return Corrupt("the footer has no schema");
  const SchemaElement& root = md.schema[0];
  const size_t n = md.schema.size() - 1;
  if (root.num_children.value_or(-1) != static_cast<int32_t>(n)) {
    for (size_t i = 1; i < md.schema.size(); ++i) {
      if (md.schema[i].num_children.value_or(0) > 0) {
        return Status::InvalidArgument(path + ": column '" + md.schema[i].name +
                                       "' is nested; only flat schemas are supported");
      }
    }
    return Corrupt("the schema root says " + std::to_string(root.num_children.value_or(-1)) + " columns, " +
                   std::to_string(n) + " follow");
  }
  for (size_t i = 1; i < md.schema.size(); ++i) {
    const SchemaElement& e = md.schema[i];
    if (e.num_children.value_or(0) > 0 || !e.type) {
      return Status::InvalidArgument(path + ": column '" + e.name +
                                     "' is nested; only flat schemas are supported");
    }
    if (e.repetition_type.value_or(kOptional) == kRepeated) {
      return Status::InvalidArgument(path + ": column '" + e.name +
                                     "' is repeated; only flat schemas are supported");
    }
    ColumnDesc d = Describe(e);
    schema.Add(Field{d.name, d.type});
    columns.push_back(std::move(d));
  }
  if (md.num_rows < 0) return Corrupt("negative row count");
  int64_t total = 0;
  for (size_t g = 0; g < md.row_groups.size(); ++g) {
    const RowGroup& rg = md.row_groups[g];
    const std::string where = "row group " + std::to_string(g) + ": ";
    if (rg.num_rows < 0) return Corrupt(where + "negative row count");
    if (rg.num_rows > md.num_rows - total) return Corrupt(where + "more rows than the file declares");
    total += rg.num_rows;
    if (rg.columns.size() != n) {
      return Corrupt(where + std::to_string(rg.columns.size()) + " column chunks, the schema has " +
                     std::to_string(n) + " columns");
    }
    RowGroupInfo info;
    info.rows = rg.num_rows;
    for (size_t c = 0; c < n; ++c) {
      const ColumnChunk& cc = rg.columns[c];
      const std::string at = where + "column '" + columns[c].name + "': ";
      if (cc.file_path)
        return Status::InvalidArgument(path + ": " + at + "column data in another file is not supported");
      if (!cc.meta_data) return Corrupt(at + "no column metadata");
      const ColumnMetaData& cm = *cc.meta_data;
      if (cm.type != columns[c].physical) return Corrupt(at + "the chunk's type differs from the schema's");
      if (cm.num_values != rg.num_rows) {
        return Corrupt(at + std::to_string(cm.num_values) + " values in a row group of " +
                       std::to_string(rg.num_rows) + " rows");
      }
      info.columns.push_back(ToColumnStats(columns[c], cm.statistics));
    }
    groups.push_back(std::move(info));
  }
  if (total != md.num_rows) {
    return Corrupt("the row groups hold " + std::to_string(total) + " rows, the footer says " +
                   std::to_string(md.num_rows));
  }
  for (const KeyValue& kv : md.key_value_metadata) metadata.emplace_back(kv.key, kv.value.value_or(""));
  return Status::OK();
}

Status Reader::Impl::ReadChunk(int g, int c, Column* out) const {
  const ColumnDesc& d = columns[c];
  const std::string at = "row group " + std::to_string(g) + ", column '" + d.name + "'";
  if (d.type == Type::kNull) return Status::InvalidArgument(path + ": " + at + ": " + d.unsupported);
  const RowGroup& rg = md.row_groups[g];
  const ColumnMetaData& cm = *rg.columns[c].meta_data;
  if (cm.codec != kCodecUncompressed && cm.codec != kCodecSnappy && cm.codec != kCodecZstd) {
    return Status::InvalidArgument(path + ": " + at + ": compression " + std::string(CodecName(cm.codec)) +
                                   " is not supported (want UNCOMPRESSED, SNAPPY or ZSTD)");
  }
  int64_t start = cm.data_page_offset;
  if (cm.dictionary_page_offset && *cm.dictionary_page_offset > 0 && *cm.dictionary_page_offset < start) {
    start = *cm.dictionary_page_offset;
  }
  const int64_t len = cm.total_compressed_size;
  if (start < 4 || len <= 0 || static_cast<uint64_t>(start) > data_end ||
      static_cast<uint64_t>(len) > data_end - static_cast<uint64_t>(start)) {
    return Corrupt(at + ": chunk at offset " + std::to_string(start) + " of " + std::to_string(len) +
                   " bytes lies outside the data (" + std::to_string(data_end) + " bytes)");
  }
  std::string buf(static_cast<size_t>(len), '\0');
  VIGIL_RETURN_IF_ERROR(PReadAll(fd, buf.data(), buf.size(), static_cast<uint64_t>(start), path));
  out->type = d.type;
  out->Clear();
  Status st = ReadPages(g, c, buf, out);
  if (!st.ok()) {
    if (st.IsCorruption()) return Corrupt(at + ": " + st.message());
    return Status(st).WithContext(path + ": " + at);
  }
  return Status::OK();
}

Status Reader::Impl::ReadPages(int g, int c, std::string_view chunk, Column* out) const {
  const ColumnDesc& d = columns[c];
  const int64_t rows = md.row_groups[g].num_rows;
  const int32_t codec = md.row_groups[g].columns[c].meta_data->codec;
  // Reserve no more than the chunk's bytes could describe without long runs.
  out->Reserve(static_cast<size_t>(std::min<int64_t>(rows, static_cast<int64_t>(chunk.size()) * 8 + 64)));
  Values dict;
  bool have_dict = false;
  Values vals;
  std::vector<uint32_t> levels, indexes;
  std::string page_buf, body_buf;
  int64_t read = 0;
  size_t pos = 0;
  while (read < rows) {
    if (pos >= chunk.size()) {
      return Status::Corruption("the chunk ends after " + std::to_string(read) + " of " +
                                std::to_string(rows) + " values");
    }
    const std::string page_at = "page at chunk byte " + std::to_string(pos) + ": ";
    PageHeader h;
    size_t consumed = 0;
    Status st = ParsePageHeader(chunk.substr(pos), &h, &consumed);
    if (!st.ok()) return Status::Corruption(page_at + st.message());
    pos += consumed;
    if (h.compressed_page_size < 0 || static_cast<size_t>(h.compressed_page_size) > chunk.size() - pos) {
      return Status::Corruption(page_at + "page of " + std::to_string(h.compressed_page_size) +
                                " bytes runs past the chunk");
    }
    std::string_view page = chunk.substr(pos, static_cast<size_t>(h.compressed_page_size));
    pos += page.size();
    if (h.type == kIndexPage) continue;
    if (h.type == kDictionaryPage) {
      if (!h.dictionary_page_header)
        return Status::Corruption(page_at + "dictionary page without its header");
      if (have_dict || read > 0) return Status::Corruption(page_at + "a second or late dictionary page");
      const DictionaryPageHeader& dh = *h.dictionary_page_header;
      if (dh.encoding != kPlain && dh.encoding != kPlainDictionary) {
        return Status::InvalidArgument("dictionary encoding " + std::string(EncodingName(dh.encoding)) +
                                       " is not supported");
      }
      if (dh.num_values < 0) return Status::Corruption(page_at + "negative dictionary size");
      st = Decompress(codec, page, h.uncompressed_page_size, &page_buf);
      if (!st.ok()) return st.IsCorruption() ? Status::Corruption(page_at + st.message()) : st;
      std::string_view data = page_buf;
      st = DecodePlain(d, &data, static_cast<size_t>(dh.num_values), &dict);
      if (!st.ok()) return st.IsCorruption() ? Status::Corruption(page_at + st.message()) : st;
      have_dict = true;
      continue;
    }
    if (h.type != kDataPage && h.type != kDataPageV2) {
      return Status::Corruption(page_at + "unknown page type " + std::to_string(h.type));
    }
    // Levels and values of a data page, v1 or v2.
    int32_t num_values = 0, encoding = 0;
    std::string_view level_data, values_data;
    if (h.type == kDataPage) {
      if (!h.data_page_header) return Status::Corruption(page_at + "data page without its header");
      const DataPageHeader& dh = *h.data_page_header;
      num_values = dh.num_values;
      encoding = dh.encoding;
      st = Decompress(codec, page, h.uncompressed_page_size, &page_buf);
      if (!st.ok()) return st.IsCorruption() ? Status::Corruption(page_at + st.message()) : st;
      values_data = page_buf;
      if (d.optional) {
        if (dh.definition_level_encoding != kRle) {
          return Status::InvalidArgument("definition level encoding " +
                                         std::string(EncodingName(dh.definition_level_encoding)) +
                                         " is not supported (want RLE)");
        }
        if (values_data.size() < 4) return Status::Corruption(page_at + "no definition level length");
        uint32_t n = LoadLE32(values_data.data());
        if (n > values_data.size() - 4)
          return Status::Corruption(page_at + "definition levels run past the page");
        level_data = values_data.substr(4, n);
        values_data.remove_prefix(4 + static_cast<size_t>(n));
      }
    } else {
      if (!h.data_page_header_v2) return Status::Corruption(page_at + "data page v2 without its header");
      const DataPageHeaderV2& dh = *h.data_page_header_v2;
      num_values = dh.num_values;
      encoding = dh.encoding;
      if (dh.definition_levels_byte_length < 0 || dh.repetition_levels_byte_length < 0 ||
          static_cast<int64_t>(dh.definition_levels_byte_length) + dh.repetition_levels_byte_length >
              static_cast<int64_t>(page.size())) {
        return Status::Corruption(page_at + "level lengths run past the page");
      }
      const size_t levels_len = static_cast<size_t>(dh.repetition_levels_byte_length) +
                                static_cast<size_t>(dh.definition_levels_byte_length);
      level_data = page.substr(static_cast<size_t>(dh.repetition_levels_byte_length),
                               static_cast<size_t>(dh.definition_levels_byte_length));
      std::string_view rest = page.substr(levels_len);
      const int64_t rest_size =
          static_cast<int64_t>(h.uncompressed_page_size) - static_cast<int64_t>(levels_len);
      if (dh.is_compressed) {
        st = Decompress(codec, rest, rest_size, &page_buf);
      } else {
        st = Decompress(kCodecUncompressed, rest, rest_size, &page_buf);
      }
      if (!st.ok()) return st.IsCorruption() ? Status::Corruption(page_at + st.message()) : st;
      values_data = page_buf;
      if (!d.optional) level_data = {};
    }
    // Run-length encoding lets a few bytes declare any number of nulls; beyond 16 Mi values
    // a page must be big enough to be plausible, so a forged count cannot make vigil
    // allocate gigabytes.
    if (num_values > kMaxPageValues && num_values / 1024 > h.uncompressed_page_size) {
      return Status::Corruption(page_at + std::to_string(num_values) + " values in a page of " +
                                std::to_string(h.uncompressed_page_size) + " bytes");
    }
    if (num_values < 0 || num_values > rows - read) {
      return Status::Corruption(page_at + std::to_string(num_values) + " values, but only " +
                                std::to_string(rows - read) + " rows are left in the row group");
    }
    const size_t count = static_cast<size_t>(num_values);
    size_t present = count;
    if (d.optional) {
      st = DecodeRleHybrid(level_data, 1, count, &levels);
      if (!st.ok()) return Status::Corruption(page_at + "definition levels: " + st.message());
      present = static_cast<size_t>(std::count(levels.begin(), levels.end(), 1u));
    }
    vals.clear();
    const bool by_dictionary = encoding == kRleDictionary || encoding == kPlainDictionary;
    if (encoding == kPlain) {
      st = DecodePlain(d, &values_data, present, &vals);
      if (!st.ok()) return st.IsCorruption() ? Status::Corruption(page_at + st.message()) : st;
    } else if (by_dictionary) {
      if (!have_dict) return Status::Corruption(page_at + "dictionary-encoded page without a dictionary");
      if (present > 0) {
        if (values_data.empty()) return Status::Corruption(page_at + "no index bit width");
        int width = static_cast<uint8_t>(values_data[0]);
        st = DecodeRleHybrid(values_data.substr(1), width, present, &indexes);
        if (!st.ok()) return Status::Corruption(page_at + "dictionary indexes: " + st.message());
        const size_t dict_size = dict.size(d.type);
        for (uint32_t ix : indexes) {
          if (ix >= dict_size) {
            return Status::Corruption(page_at + "dictionary index " + std::to_string(ix) + " is past the " +
                                      std::to_string(dict_size) + "-entry dictionary");
          }
        }
      }
    } else {
      return Status::InvalidArgument("encoding " + std::string(EncodingName(encoding)) +
                                     " is not supported (want PLAIN or RLE_DICTIONARY)");
    }
    // Spread the present values over the rows, straight from where they are: the k-th
    // present value is the dictionary's entry indexes[k], or the page's own k-th value.
    const Values& src = by_dictionary ? dict : vals;
    const uint32_t* at = by_dictionary ? indexes.data() : nullptr;
    auto entry = [at](size_t k) -> size_t { return at != nullptr ? at[k] : k; };
    const size_t base = out->valid.size();
    out->valid.resize(base + count, 1);
    uint8_t* valid = out->valid.data() + base;
    if (d.optional) {
      for (size_t i = 0; i < count; ++i) valid[i] = levels[i] == 1 ? 1 : 0;
    }
    switch (d.type) {
      case Type::kDouble: {
        out->doubles.resize(base + count);
        double* o = out->doubles.data() + base;
        for (size_t i = 0, k = 0; i < count; ++i) o[i] = valid[i] ? src.doubles[entry(k++)] : 0.0;
        break;
      }
      case Type::kString:
        // The codes last while every page so far came from the dictionary.
        if (by_dictionary && out->codes.size() == base) {
          out->codes.resize(base + count);
          out->dictionary_entries = dict.size(d.type);
        } else {
          out->codes.clear();
        }
        for (size_t i = 0, k = 0; i < count; ++i) {
          if (valid[i]) {
            const size_t e = entry(k++);
            const uint64_t b = e == 0 ? 0 : src.ends[e - 1];
            out->bytes.append(src.bytes.data() + b, src.ends[e] - b);
            if (!out->codes.empty()) out->codes[base + i] = static_cast<uint32_t>(e);
          } else if (!out->codes.empty()) {
            out->codes[base + i] = 0;
          }
          out->offsets.push_back(out->bytes.size());
        }
        break;
      default: {
        out->ints.resize(base + count);
        int64_t* o = out->ints.data() + base;
        for (size_t i = 0, k = 0; i < count; ++i) o[i] = valid[i] ? src.ints[entry(k++)] : 0;
      }
    }
    read += num_values;
  }
  return Status::OK();
}

Reader::Reader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Reader::~Reader() = default;

Result<std::unique_ptr<Reader>> Reader::Open(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (impl->fd < 0) return Status::IOError("cannot open " + path + ": " + ErrnoText(errno));
  struct stat sb;
  if (::fstat(impl->fd, &sb) != 0) return Status::IOError("stat " + path + ": " + ErrnoText(errno));
  impl->file_size = static_cast<uint64_t>(sb.st_size);
  if (impl->file_size < 12) {
    return impl->Corrupt("not a Parquet file: " + std::to_string(impl->file_size) + " bytes is too short");
  }
  char head[4], tail[8];
  VIGIL_RETURN_IF_ERROR(PReadAll(impl->fd, head, 4, 0, path));
  VIGIL_RETURN_IF_ERROR(PReadAll(impl->fd, tail, 8, impl->file_size - 8, path));
  if (std::memcmp(head, "PAR1", 4) != 0 || std::memcmp(tail + 4, "PAR1", 4) != 0) {
    if (std::memcmp(tail + 4, "PARE", 4) == 0) {
      return Status::InvalidArgument(path + ": encrypted Parquet files are not supported");
    }
    return impl->Corrupt("not a Parquet file (no PAR1 magic at its start and end)");
  }
  const uint64_t footer_len = LoadLE32(tail);
  if (footer_len > impl->file_size - 12) {
    return impl->Corrupt("footer length " + std::to_string(footer_len) + " exceeds the file");
  }
  impl->data_end = impl->file_size - 8 - footer_len;
  std::string footer(footer_len, '\0');
  VIGIL_RETURN_IF_ERROR(PReadAll(impl->fd, footer.data(), footer.size(), impl->data_end, path));
  Status st = ParseFileMetaData(footer, &impl->md);
  if (!st.ok()) return impl->Corrupt(st.message());
  VIGIL_RETURN_IF_ERROR(impl->CheckFooter());
  return std::unique_ptr<Reader>(new Reader(std::move(impl)));
}

const std::string& Reader::path() const { return impl_->path; }
const Schema& Reader::schema() const { return impl_->schema; }
int64_t Reader::rows() const { return impl_->md.num_rows; }
const std::vector<RowGroupInfo>& Reader::row_groups() const { return impl_->groups; }
const std::vector<std::pair<std::string, std::string>>& Reader::metadata() const { return impl_->metadata; }

bool Reader::MayContain(int g, int column, const Value& lo, const Value& hi) const {
  if (g < 0 || static_cast<size_t>(g) >= impl_->groups.size()) return true;
  const RowGroupInfo& info = impl_->groups[g];
  if (column < 0 || static_cast<size_t>(column) >= info.columns.size()) return true;
  const ColumnStats& s = info.columns[column];
  if (info.rows == 0 || (s.null_count >= 0 && s.null_count == info.rows)) return false;  // no values at all
  if (!s.has_min_max) return true;
  bool comparable = true;
  if (!hi.is_null() && CompareValues(hi, s.min, &comparable) < 0 && comparable) return false;
  if (!lo.is_null() && CompareValues(lo, s.max, &comparable) > 0 && comparable) return false;
  return true;
}

Result<ColumnBatch> Reader::ReadRowGroup(int g, std::span<const int> columns) const {
  const Impl& r = *impl_;
  if (g < 0 || static_cast<size_t>(g) >= r.groups.size()) {
    return Status::InvalidArgument(r.path + ": no row group " + std::to_string(g) + " (the file has " +
                                   std::to_string(r.groups.size()) + ")");
  }
  std::vector<int> all;
  if (columns.empty()) {
    for (size_t c = 0; c < r.schema.size(); ++c) all.push_back(static_cast<int>(c));
    columns = all;
  }
  ColumnBatch batch;
  for (int c : columns) {
    if (c < 0 || static_cast<size_t>(c) >= r.schema.size()) {
      return Status::InvalidArgument(r.path + ": no column " + std::to_string(c) + " (the file has " +
                                     std::to_string(r.schema.size()) + ")");
    }
    batch.schema.Add(r.schema.field(c));
    batch.columns.emplace_back();
    VIGIL_RETURN_IF_ERROR(r.ReadChunk(g, c, &batch.columns.back()));
  }
  return batch;
}

Result<ColumnBatch> ReadFile(const std::string& path) {
  VIGIL_ASSIGN_OR_RETURN(auto reader, Reader::Open(path));
  ColumnBatch out = ColumnBatch::Empty(reader->schema());
  for (size_t g = 0; g < reader->row_groups().size(); ++g) {
    VIGIL_ASSIGN_OR_RETURN(ColumnBatch b, reader->ReadRowGroup(static_cast<int>(g)));
    for (size_t c = 0; c < out.columns.size(); ++c)
      AppendRange(b.columns[c], 0, b.columns[c].size(), &out.columns[c]);
  }
  return out;
}

}  // namespace vigil::parquet
