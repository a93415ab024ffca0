// The Parquet footer and page headers (parquet.thrift) in the Thrift compact protocol,
// hand-written: only the structs and fields vigil's codec uses. Internal to the schema part
// (parquet.cc and its tests).
//
// Decoding skips every field it does not know (column_orders, encoding_stats,
// size_statistics, page index offsets, bloom filters, ...), of any type, nested to a
// bounded depth. Every length and list size is checked against the bytes left, so a
// corrupt input is a Corruption status, never a crash nor an allocation larger than the
// input. Field ids and enum values below are parquet.thrift's and must not change.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace vigil::parquet::internal {

// parquet.thrift enums (persisted: values must not change).
enum PhysicalType : int32_t {
  kBoolean = 0,
  kInt32 = 1,
  kInt64 = 2,
  kInt96 = 3,
  kFloat = 4,
  kDouble = 5,
  kByteArray = 6,
  kFixedLenByteArray = 7,
};
enum Repetition : int32_t { kRequired = 0, kOptional = 1, kRepeated = 2 };
enum ConvertedType : int32_t {
  kConvertedUtf8 = 0,
  kConvertedEnum = 4,
  kConvertedDecimal = 5,
  kConvertedDate = 6,
  kConvertedTimeMillis = 7,
  kConvertedTimeMicros = 8,
  kConvertedTimestampMillis = 9,
  kConvertedTimestampMicros = 10,
  kConvertedUint8 = 11,
  kConvertedUint16 = 12,
  kConvertedUint32 = 13,
  kConvertedUint64 = 14,
  kConvertedInt8 = 15,
  kConvertedInt16 = 16,
  kConvertedInt32 = 17,
  kConvertedInt64 = 18,
  kConvertedJson = 19,
  kConvertedBson = 20,
  kConvertedInterval = 21,
};
enum Encoding : int32_t {
  kPlain = 0,
  kPlainDictionary = 2,
  kRle = 3,
  kBitPacked = 4,
  kDeltaBinaryPacked = 5,
  kDeltaLengthByteArray = 6,
  kDeltaByteArray = 7,
  kRleDictionary = 8,
  kByteStreamSplit = 9,
};
enum Codec : int32_t {
  kCodecUncompressed = 0,
  kCodecSnappy = 1,
  kCodecGzip = 2,
  kCodecLzo = 3,
  kCodecBrotli = 4,
  kCodecLz4 = 5,
  kCodecZstd = 6,
  kCodecLz4Raw = 7,
};
enum PageType : int32_t { kDataPage = 0, kIndexPage = 1, kDictionaryPage = 2, kDataPageV2 = 3 };

// LogicalType is a union; `kind` is the id of its set member (0: none).
enum LogicalKind : int16_t {
  kLogicalNone = 0,
  kLogicalString = 1,
  kLogicalMap = 2,
  kLogicalList = 3,
  kLogicalEnum = 4,
  kLogicalDecimal = 5,
  kLogicalDate = 6,
  kLogicalTime = 7,
  kLogicalTimestamp = 8,
  kLogicalInteger = 10,
  kLogicalUnknown = 11,  // "NullType"
  kLogicalJson = 12,
  kLogicalBson = 13,
  kLogicalUuid = 14,
};
// TimeUnit union member ids.
enum TimeUnit : int16_t { kUnitNone = 0, kMillis = 1, kMicros = 2, kNanos = 3 };

struct LogicalType {
  int16_t kind = kLogicalNone;  // any id, also one this list does not name
  // TIMESTAMP / TIME
  bool adjusted_to_utc = false;
  int16_t unit = kUnitNone;
  // INTEGER
  int8_t bit_width = 0;
  bool is_signed = true;
};

struct Statistics {
  std::optional<std::string> max;  // deprecated: signed order, unreliable for byte arrays
  std::optional<std::string> min;
  std::optional<int64_t> null_count;
  std::optional<int64_t> distinct_count;
  std::optional<std::string> max_value;
  std::optional<std::string> min_value;
};

struct SchemaElement {
  std::optional<int32_t> type;
  std::optional<int32_t> type_length;
  std::optional<int32_t> repetition_type;
  std::string name;
  std::optional<int32_t> num_children;
  std::optional<int32_t> converted_type;
  std::optional<int32_t> scale;
  std::optional<int32_t> precision;
  std::optional<int32_t> field_id;
  std::optional<LogicalType> logical_type;
};

struct KeyValue {
  std::string key;
  std::optional<std::string> value;
};

struct ColumnMetaData {
  int32_t type = 0;
  std::vector<int32_t> encodings;
  std::vector<std::string> path_in_schema;
  int32_t codec = 0;
  int64_t num_values = 0;
  int64_t total_uncompressed_size = 0;
  int64_t total_compressed_size = 0;
  int64_t data_page_offset = 0;
  std::optional<int64_t> index_page_offset;
  std::optional<int64_t> dictionary_page_offset;
  std::optional<Statistics> statistics;
};

struct ColumnChunk {
  std::optional<std::string> file_path;
  int64_t file_offset = 0;
  std::optional<ColumnMetaData> meta_data;
};

struct RowGroup {
  std::vector<ColumnChunk> columns;
  int64_t total_byte_size = 0;
  int64_t num_rows = 0;
  std::optional<int64_t> file_offset;
  std::optional<int64_t> total_compressed_size;
  std::optional<int16_t> ordinal;
};

struct FileMetaData {
  int32_t version = 1;
  std::vector<SchemaElement> schema;
  int64_t num_rows = 0;
  std::vector<RowGroup> row_groups;
  std::vector<KeyValue> key_value_metadata;
  std::optional<std::string> created_by;
  // Written as one TypeDefinedOrder per leaf column when true; skipped when read.
  bool type_defined_column_orders = false;
};

struct DataPageHeader {
  int32_t num_values = 0;
  int32_t encoding = 0;
  int32_t definition_level_encoding = 0;
  int32_t repetition_level_encoding = 0;
};

struct DictionaryPageHeader {
  int32_t num_values = 0;
  int32_t encoding = 0;
  std::optional<bool> is_sorted;
};

struct DataPageHeaderV2 {
  int32_t num_values = 0;
  int32_t num_nulls = 0;
  int32_t num_rows = 0;
  int32_t encoding = 0;
  int32_t definition_levels_byte_length = 0;
  int32_t repetition_levels_byte_length = 0;
  bool is_compressed = true;
};

struct PageHeader {
  int32_t type = 0;
  int32_t uncompressed_page_size = 0;
  int32_t compressed_page_size = 0;
  std::optional<int32_t> crc;
  std::optional<DataPageHeader> data_page_header;
  std::optional<DictionaryPageHeader> dictionary_page_header;
  std::optional<DataPageHeaderV2> data_page_header_v2;
};

// Appends the compact-protocol encoding.
void SerializeFileMetaData(const FileMetaData& md, std::string* out);
void SerializePageHeader(const PageHeader& h, std::string* out);

// Decodes `data` whole (trailing bytes are ignored). Corruption says what is wrong; a
// required field that is absent is an error.
Status ParseFileMetaData(std::string_view data, FileMetaData* out);
// Decodes the header at the start of `data`; *consumed is its length in bytes.
Status ParsePageHeader(std::string_view data, PageHeader* out, size_t* consumed);

}  // namespace vigil::parquet::internal
