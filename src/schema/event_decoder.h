// Event decoding: files of JSON lines, CSV or Parquet into typed Events of a source's
// schema, with a precise reason for every record that cannot be decoded.
//
// Decoding never casts silently: a value of the wrong type rejects its record, it is never
// converted. What each format accepts for each type:
//
//   schema type  JSON value                            CSV cell (unquoted or quoted)
//   -----------  ------------------------------------  -----------------------------------
//   int64        integer in int64 range (not 1.0/1e3)  -?[0-9]+ in int64 range
//   double       any number, finite (1e400 rejected)   std::from_chars text, no nan/inf/hex
//   bool         true / false                          true / false, any letter case
//   string       string                                the cell text
//   timestamp    integer ms, or a string that          ms integer or ISO-8601 with a zone
//                ParseTimestamp accepts                (ParseTimestamp)
//   any          null or absent -> null                empty unquoted cell -> null;
//                                                      quoted "" -> "" for string, else null
//
// Parquet columns are typed, so types are checked once per file (see DecodeFile): a
// schema int64 reads INT64/INT32 columns, double reads DOUBLE/FLOAT and integer columns,
// timestamp reads TIMESTAMP columns (floored to ms) and integer ms, string reads
// BYTE_ARRAY, bool reads BOOLEAN; a null cell is null.
//
// The event timestamp (DecodeOptions::ts_field) is decoded like a timestamp field but is
// always required and must lie in [min_ts, max_ts].
//
// Not errors: blank (whitespace-only) lines, which are skipped without a RejectedRecord;
// JSON keys and CSV columns that are not in the schema, which are ignored.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/time.h"
#include "schema/value.h"

namespace vigil {

struct DecodeOptions {
  // Source name, for messages.
  std::string source;
  // The event fields, NOT including the timestamp field. Field names must be distinct and
  // differ from ts_field; no field may have type kNull (see ValidateDecodeOptions).
  Schema schema;
  // Name of the timestamp field in the input. Default: "ts".
  std::string ts_field = "ts";
  // Schema indexes that must be present and non-null (entity keys). Default: none.
  std::vector<int> required;
  // Events with ts > max_ts are rejected ("far future"). Default: kMaxTimestamp.
  TimestampMs max_ts = kMaxTimestamp;
  // Events with ts < min_ts are rejected. Default: 0 (before 1970 is rejected).
  TimestampMs min_ts = 0;
  // Records (lines, or CSV records with their embedded newlines) longer than this many
  // bytes, terminator excluded, are rejected. Default: 1 MiB.
  size_t max_record_bytes = 1 << 20;
  // Bytes a required (key) string field may not contain, e.g. a composite-key separator.
  // Default: none.
  std::string forbidden_key_bytes;
};

// InvalidArgument if `opts` cannot describe a source: duplicate or empty field names, a
// field named like ts_field, a kNull field type, a required index out of range, or
// min_ts > max_ts. DecodeFile checks this first; JsonEventDecoder::Decode returns it for
// every record.
Status ValidateDecodeOptions(const DecodeOptions& opts);

enum class InputFormat { kJsonLines, kCsv, kParquet };

// Picks the format from the file name, ignoring letter case: .jsonl/.json/.ndjson -> JSON
// lines, .csv -> CSV, .parquet -> Parquet. InvalidArgument for anything else (compressed
// files included).
Result<InputFormat> FormatFromPath(std::string_view path);

// One rejected record: where it was, the raw bytes (exactly as in the file, without the
// line terminator), and why. `line` is 1-based, the line on which the record starts (a CSV
// record with quoted newlines spans several). For Parquet, `line` is the 1-based row
// number in the file and `raw` a JSON object of the row's decoded columns (ts first, then
// the schema's fields; timestamps as ms, NaN and infinities as strings), e.g.
// {"ts": 1700000000000, "user_id": null, "amount": 12.5}. `reason` names the field and the cause,
// e.g. "field 'amount': want double, got string \"12\""; it has no "<file>:<line>: "
// prefix, callers add one.
struct RejectedRecord {
  std::string file;
  int64_t line = 0;
  std::string raw;
  std::string reason;
};

using EventSink = std::function<Status(Event&&, int64_t line)>;
using RejectSink = std::function<Status(RejectedRecord&&)>;

// Streams the events of the file at `path`, in file order, reading it in 1 MiB chunks.
// Calls on_event(event, line) for each good record and on_reject(record) for each bad one,
// then goes on; a bad record is never an error of the whole file. Returns non-OK only if
// the file cannot be read at all (IOError: missing, unreadable; InvalidArgument: bad
// options, CSV header empty, unparsable or lacking ts_field or a schema column, all missing
// columns listed) or, unchanged, the first non-OK status a callback returns, which stops
// decoding. A UTF-8 byte order mark at the start of the file is skipped.
//
// Parquet files are streamed one row group at a time (memory is bounded by the largest row
// group of the selected columns); columns are matched by name. The whole file fails, with
// InvalidArgument naming the file and every such column, when ts_field or a schema field
// has no column, or its column cannot be read as the schema type (a string column for an
// int64 field, a double column for int64, a DECIMAL column); a corrupt file is the
// Corruption the Parquet reader returns, possibly after some rows were delivered. Per-row
// problems (ts null or outside [min_ts, max_ts], a null required field, a forbidden key
// byte, a NaN/infinite double, a string that is not UTF-8) are RejectedRecords.
//
// CSV follows RFC 4180: the first record is the header; cells separated by commas; a
// quoted cell may hold commas, CR/LF and "" for a quote; a quote inside an unquoted cell,
// or text after a closing quote, rejects the record; records end with LF or CRLF; a record
// with a different number of cells than the header is rejected. A record longer than
// max_record_bytes is rejected whole (its raw bytes are kept in full, however long).
// Memory use is bounded by the chunk size plus the longest record.
Status DecodeFile(const std::string& path, InputFormat format, const DecodeOptions& opts,
                  const EventSink& on_event, const RejectSink& on_reject);

// Decodes one JSON object text (one line of a JSON-lines file, a message body) into an
// Event. Reuses its parser and buffers across calls: one instance per thread, not safe
// for concurrent use.
//
//   schema {user_id: string (required), amount: double}, ts_field "ts":
//     {"ts": 1700000000000, "user_id": "u1", "amount": 12}  -> ts 1700000000000, ("u1", 12.0)
//     {"ts": "2023-11-14T22:13:20Z", "user_id": "u1"}       -> ts 1700000000000, ("u1", null)
//     {"ts": 1700000000000, "amount": "12"}  -> "field 'amount': want double, got string \"12\""
//     {"ts": 1, "user_id": "u1", "user_id": "u2"}  -> "field 'user_id': duplicate key"
class JsonEventDecoder {
 public:
  explicit JsonEventDecoder(const DecodeOptions& opts);
  ~JsonEventDecoder();
  JsonEventDecoder(const JsonEventDecoder&) = delete;
  JsonEventDecoder& operator=(const JsonEventDecoder&) = delete;

  // On success fills *out (fields in schema order, absent ones null). Otherwise returns
  // InvalidArgument whose message is the reason (see RejectedRecord) and leaves *out
  // unspecified. Any object is checked in full, ignored keys included: invalid JSON,
  // invalid UTF-8, duplicate keys (at the top level) and text after the object are errors.
  Status Decode(std::string_view json, Event* out);

 private:
  struct Impl;  // keeps simdjson out of this header (STYLE.md: heavy headers stay in .cc)
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil
