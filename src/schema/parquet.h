// The project's own Parquet codec (DESIGN.md §6): flat schemas of vigil's value types,
// PLAIN and RLE_DICTIONARY encodings, UNCOMPRESSED, SNAPPY and ZSTD compression, row
// groups with min/max statistics. Files it writes are read by DuckDB, Spark, pandas;
// it reads what DuckDB writes with its defaults and with each of those codecs.
//
// Type mapping (every column is OPTIONAL, i.e. nullable):
//
//   vigil type   written as                                  also read from
//   ----------   -----------------------------------------   ------------------------------
//   int64        INT64                                       INT32 (any INT/none logical
//                                                            type that fits int64)
//   double       DOUBLE                                      FLOAT
//   string       BYTE_ARRAY, logical STRING (UTF8)           BYTE_ARRAY without annotation
//   bool         BOOLEAN                                     -
//   timestamp    INT64, logical TIMESTAMP(MILLIS, UTC)       TIMESTAMP MICROS / NANOS (floored
//                                                            to ms), adjusted or not
//
// Anything else (nested or repeated columns, DECIMAL, FIXED_LEN_BYTE_ARRAY, INT96, DELTA_*
// or BYTE_STREAM_SPLIT encodings, LZ4/GZIP/BROTLI) is an InvalidArgument naming the file
// and the column, never a crash. A nested or repeated column fails Open; a flat column of
// a type vigil cannot read (DECIMAL, DATE, INT96, ...) opens with type kNull in schema()
// and fails only when read, so a caller can ignore the columns it does not need.
//
// Every length, count and offset read from a file is checked against the file's size and
// the page's declared sizes, and a page's decompressed size against its header, before
// anything is allocated: a corrupt or truncated file is a Corruption error naming the file
// and what is wrong with it, never a crash nor an allocation a forged size dictates.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "schema/value.h"

namespace vigil::parquet {

enum class Compression { kUncompressed, kSnappy, kZstd };

// "uncompressed", "snappy", "zstd".
std::string_view CompressionName(Compression c);
Result<Compression> ParseCompression(std::string_view name);

// One column of a batch, in columnar form. `valid[i]` is 0 for a null row; the value
// arrays have one slot per row, nulls included (their slot is 0 / empty).
struct Column {
  Type type = Type::kNull;
  std::vector<uint8_t> valid;
  std::vector<int64_t> ints;     // kInt64, kTimestamp (ms), kBool (0 or 1)
  std::vector<double> doubles;   // kDouble
  std::string bytes;             // kString: the concatenated values
  std::vector<uint64_t> offsets; // kString: row i is bytes[offsets[i], offsets[i+1]); size rows+1
  // kString as read from a column chunk whose every page was dictionary-encoded: row i's
  // entry in the chunk's dictionary (0 for a null row), so that rows with equal codes
  // hold equal values, and a reader can resolve each distinct value once instead of once
  // a row. Valid only while codes.size() == size(): the writer ignores it, Append and
  // AppendString do not extend it, and Clear empties it.
  std::vector<uint32_t> codes;
  size_t dictionary_entries = 0;  // with codes: each code is below it

  size_t size() const { return valid.size(); }
  bool is_null(size_t i) const { return valid[i] == 0; }
  std::string_view str(size_t i) const {
    return std::string_view(bytes).substr(offsets[i], offsets[i + 1] - offsets[i]);
  }
  // The row's value as a Value (a copy for strings).
  Value Get(size_t i) const;
  // The same into *out, whose string memory is reused (Value::SetString).
  void GetInto(size_t i, Value* out) const;
  // Appends `v`. REQUIRES: v is null or of this column's type. Inline: a backfill
  // appends every value of millions of changelog rows.
  void Append(const Value& v) {
    const bool null = v.is_null();
    valid.push_back(null ? 0 : 1);
    switch (type) {
      case Type::kInt64:
      case Type::kTimestamp:
      case Type::kBool:
        ints.push_back(null ? 0 : v.int64());
        break;
      case Type::kDouble:
        doubles.push_back(null ? 0.0 : v.dbl());
        break;
      case Type::kString:
        if (offsets.empty()) offsets.push_back(0);
        if (!null) bytes += v.str();
        offsets.push_back(bytes.size());
        break;
      case Type::kNull:
        break;
    }
  }
  // Appends the non-null string `s`, without making a Value of it. REQUIRES: type kString.
  void AppendString(std::string_view s) {
    valid.push_back(1);
    if (offsets.empty()) offsets.push_back(0);
    bytes.append(s);
    offsets.push_back(bytes.size());
  }
  void Reserve(size_t rows);
  void Clear();
};

// A set of equally long columns.
struct ColumnBatch {
  Schema schema;
  std::vector<Column> columns;  // one per schema field
  int64_t rows() const { return columns.empty() ? 0 : static_cast<int64_t>(columns[0].size()); }
  // An empty batch with one typed column per field.
  static ColumnBatch Empty(const Schema& schema);
  // Appends a row. REQUIRES: row.size() == schema.size(), each value null or of the
  // field's type.
  void AppendRow(const Row& row);
  Row GetRow(int64_t i) const;
};

struct WriterOptions {
  Compression compression = Compression::kZstd;
  // zstd level (1..19). Default: 3.
  int zstd_level = 3;
  // RLE_DICTIONARY for columns whose distinct values stay under dictionary_max_bytes in
  // a row group (PLAIN otherwise, and always for bool). A chunk whose first 4096 values
  // (or any multiple of them) hold so many distinct ones that, at that rate, the
  // chunk's would exceed the limit is written PLAIN at once. Default: true.
  bool dictionary = true;
  int64_t dictionary_max_bytes = 1 << 20;
  // A row group is closed when it holds this many rows. Default: 1 Mi rows.
  int64_t row_group_rows = 1 << 20;
  // Target uncompressed size of one data page. Default: 1 MiB.
  int64_t page_bytes = 1 << 20;
  // Key/value metadata stored in the footer (e.g. the writer's own marks).
  std::vector<std::pair<std::string, std::string>> metadata;
  // Threads that encode and compress a row group's column chunks, each chunk on one of
  // them; the file is the same byte for byte whatever the number. Default: 1.
  int threads = 1;
  // Whether Close fsyncs the file and its directory before and after the rename. False
  // for a caller that makes many files durable at once (SyncFilesystem) before it relies
  // on them. Default: true.
  bool sync = true;
};

// Writes one file. The file appears at `path` only when Close succeeds: it is written to
// "<path>.tmp", synced, then renamed. Destroying an unclosed writer removes the temp file.
// Not thread-safe.
class Writer {
 public:
  // InvalidArgument for an empty schema, a kNull field or duplicate names.
  static Result<std::unique_ptr<Writer>> Create(const std::string& path, const Schema& schema,
                                                const WriterOptions& options = {});
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Buffers rows and writes full row groups. REQUIRES: batch.schema has the writer's
  // field types in order (names are not compared).
  Status Write(const ColumnBatch& batch);
  // Ends the buffered row group (if any), then writes `batch` as row groups of its own
  // (row_group_rows at most each), encoded straight from its columns: no copy, for a
  // caller that gathers whole row groups itself. Same REQUIRES as Write.
  Status WriteRowGroups(const ColumnBatch& batch);
  Status WriteRow(const Row& row);
  // Writes the last row group and the footer, syncs and renames.
  Status Close();
  int64_t rows_written() const;

 private:
  struct Impl;
  explicit Writer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Per row group and column: the statistics the writer stored (min/max absent when the
// column chunk holds only nulls or the writer stored none).
struct ColumnStats {
  bool has_min_max = false;
  Value min;
  Value max;
  int64_t null_count = -1;  // -1: unknown
};

struct RowGroupInfo {
  int64_t rows = 0;
  std::vector<ColumnStats> columns;  // one per schema field
};

// Reads one file. Opening reads and checks the footer only; row groups are read on
// demand. Thread-safe for concurrent ReadRowGroup calls.
class Reader {
 public:
  static Result<std::unique_ptr<Reader>> Open(const std::string& path);
  ~Reader();
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  const std::string& path() const;
  const Schema& schema() const;
  int64_t rows() const;
  const std::vector<RowGroupInfo>& row_groups() const;
  // The footer's key/value metadata.
  const std::vector<std::pair<std::string, std::string>>& metadata() const;

  // True if row group `g` may hold a value v of column `column` with lo <= v <= hi
  // (by its statistics; true when it has none). A null bound is unbounded. False for a
  // column chunk whose null_count says it holds only nulls (no v at all).
  bool MayContain(int g, int column, const Value& lo, const Value& hi) const;

  // Reads the listed columns (schema indexes, in that order; empty = all) of row group g.
  // The batch's schema holds the selected fields. InvalidArgument for an index out of range
  // or a column that cannot be read (see the type mapping); Corruption for bad data.
  Result<ColumnBatch> ReadRowGroup(int g, std::span<const int> columns = {}) const;

 private:
  struct Impl;
  explicit Reader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Reads every row group of `path` (all columns) into one batch (InvalidArgument if one of
// its columns cannot be read).
Result<ColumnBatch> ReadFile(const std::string& path);

}  // namespace vigil::parquet
