// The files of the embedded log (embedded_log.cc): records, segments and their sparse
// indexes. Internal to src/log and its tests.
//
// A partition is a folder of segments named by the offset of their first record (the
// base offset), 20 digits:
//
//   <dir>/<topic>/<partition>/00000000000000000000.log     records 0 .. 4711
//                             00000000000000000000.index   sparse index of that segment
//                             00000000000000004712.log     records 4712 .. (active)
//                             00000000000000004712.index
//
// A segment holds records back to back; offsets are implicit (base + record number):
//
//   [u32 crc32c of body][u32 body length][body: varint key length, key, i64 time ms, payload]
//
// all integers little-endian. A body is at least 1 + 8 bytes, so zeros (crc 0, length 0,
// and Crc32c("") == 0) never read as a record.
//
// The index holds one entry per index_interval_bytes of records, (u32 record number in
// the segment, u32 byte position), strictly increasing; the writer appends entries after
// the records they point to. When the writer rolls to a new segment it seals the old one
// by appending a 20-byte seal to its index: [u32 0xFFFFFFFF][u32 records][i64 largest
// time][u32 crc32c of the 16 bytes before]. So an index of 8n bytes is unsealed and one
// of 8n + 20 sealed; anything else, or entries that do not increase, is malformed and
// ignored by readers (the writer rebuilds it). The seal gives retention a segment's
// largest time without reading the segment.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/time.h"

namespace vigil::log_internal {

inline constexpr size_t kRecordHeaderBytes = 8;
inline constexpr uint32_t kMinRecordBody = 1 + 8;  // empty key, time, empty payload
inline constexpr uint32_t kMaxRecordBody = 256u << 20;
// Index positions are u32: a segment stays below 4 GiB (segment_bytes + one record).
inline constexpr int64_t kMaxSegmentBytes = int64_t{1} << 31;
inline constexpr size_t kIndexEntryBytes = 8;
inline constexpr size_t kIndexSealBytes = 20;
inline constexpr uint32_t kIndexSealMarker = 0xFFFFFFFFu;

// Bytes of the record for key and payload, header included.
size_t RecordBytes(std::string_view key, std::string_view payload);
// Appends one record to *out.
void AppendRecord(std::string* out, std::string_view key, std::string_view payload, TimestampMs time);

// A record decoded in place: the views point into the bytes given to DecodeRecord.
struct RecordView {
  std::string_view key;
  std::string_view payload;
  TimestampMs time = 0;
  size_t bytes = 0;  // header + body
};

enum class DecodeResult {
  kRecord,      // *rec holds the record
  kIncomplete,  // the bytes end inside the record: *need says how many it takes
  kCorrupt,     // a complete header or record that is not valid: *why says how
};
// Decodes the record at the front of [p, p + n). Never reads outside that range.
DecodeResult DecodeRecord(const char* p, size_t n, RecordView* rec, size_t* need, const char** why);

// "00000000000000004712.log" for (4712, ".log").
std::string SegmentFileName(int64_t base, std::string_view ext);
// The base offset of a segment file name ("<20 digits>.log"); false for other names.
bool ParseSegmentFileName(std::string_view name, int64_t* base);
// The base offsets of the segments in a partition folder, ascending. A missing folder
// has none.
Result<std::vector<int64_t>> ListSegments(const std::string& partition_dir);

struct IndexEntry {
  uint32_t record = 0;    // record number in the segment (offset - base)
  uint32_t position = 0;  // byte position of that record
  bool operator==(const IndexEntry&) const = default;
};
struct SegmentSeal {
  uint32_t records = 0;
  TimestampMs max_time = kMinTimestamp;
};
struct SegmentIndex {
  bool well_formed = false;  // false: ignore entries and seal
  std::vector<IndexEntry> entries;
  std::optional<SegmentSeal> seal;
};
// Parses the bytes of an index file. Entries at or past segment_bytes make it malformed.
SegmentIndex ParseIndex(std::string_view bytes, uint64_t segment_bytes);
void AppendIndexEntry(std::string* out, IndexEntry e);
void AppendIndexSeal(std::string* out, SegmentSeal seal);
// The latest entry with record <= `record`, or nullptr.
const IndexEntry* FindIndexEntry(const std::vector<IndexEntry>& entries, uint32_t record);

// Reads one segment file front to back with large preads into its own buffer, and
// decodes its records in place. The buffer grows from 64 KiB to 1 MiB while reads fill
// it (sequential catch-up), and to one record if a record is larger. Not thread-safe.
class SegmentFileReader {
 public:
  enum class Step {
    kRecord,   // *rec holds the next record; its views live until the next call
    kEnd,      // the file ends exactly at a record boundary
    kTorn,     // the file ends inside a record (being written, or a torn write)
    kCorrupt,  // a complete record that is not valid: why()
  };
  SegmentFileReader() = default;
  ~SegmentFileReader();
  SegmentFileReader(const SegmentFileReader&) = delete;
  SegmentFileReader& operator=(const SegmentFileReader&) = delete;

  // Opens `path` read-only at byte `position`, closing the file open before. NotFound if
  // it does not exist; on failure the file open before stays open where it was.
  Status Open(const std::string& path, uint64_t position = 0);
  void Close();
  bool is_open() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

  // Decodes the next record. kEnd / kTorn / kCorrupt leave the position where it was and
  // drop what is buffered past it, so the next call reads the file again from there
  // (sees records appended since, or bytes rewritten by recovery).
  Result<Step> Next(RecordView* rec);
  // Byte position of the next record.
  uint64_t position() const { return pos_; }
  // Moves to byte `position` (a record boundary).
  void SeekTo(uint64_t position);
  const char* why() const { return why_; }

 private:
  Status Fill(size_t need);

  std::string path_;
  int fd_ = -1;
  uint64_t pos_ = 0;  // file position of the next record
  std::unique_ptr<char[]> buf_;
  size_t cap_ = 0;
  size_t begin_ = 0;  // buf_[begin_] is the byte at pos_
  size_t end_ = 0;    // buf_[begin_, end_) is buffered
  const char* why_ = "";
};

// pread / pwrite / read a whole small file, with EINTR and short transfers handled.
Status PwriteAll(int fd, std::string_view data, uint64_t position, const std::string& path);
Result<std::string> ReadSmallFile(const std::string& path);  // NotFound if missing
// fsync of a directory, so that entries created or renamed in it survive a crash.
Status SyncDir(const std::string& dir);
std::string ErrnoText(int err);

}  // namespace vigil::log_internal
