// Topics: the durable, append-only logs between parts (DESIGN.md §1). Sources flow into
// `<source>` topics, rejected events into `dlq.<source>`, changelogs into
// `changelog.<view>`. Compute produces and ingestion consumes; neither blocks the other.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/time.h"

namespace vigil {

// A record as read back. The views point into the reader's buffer and stay valid until
// the next call to Next().
struct LogRecord {
  int64_t offset = 0;           // 0, 1, 2, ... per topic, in append order
  TimestampMs append_time = 0;  // wall clock at append, for freshness
  std::string_view key;         // partitioning key (the entity for changelogs); may be empty
  std::string_view payload;
};

// Appends to one topic. Not thread-safe; one writer per topic at a time.
class TopicWriter {
 public:
  virtual ~TopicWriter() = default;
  // Buffers a record; returns its offset. Durable only after Flush().
  virtual Result<int64_t> Append(std::string_view key, std::string_view payload) = 0;
  // Writes buffered records to the file (and fsyncs when `sync`).
  virtual Status Flush(bool sync) = 0;
  // The offset the next Append gets.
  virtual int64_t end_offset() const = 0;
};

// Reads one topic from an offset on. Not thread-safe.
class TopicReader {
 public:
  virtual ~TopicReader() = default;
  // Positions at `offset` (<= end). Scans from the nearest known position.
  virtual Status Seek(int64_t offset) = 0;
  // Reads the next record into *rec. Returns false at the current end of the topic
  // (records appended later become visible to later calls). A corrupt record is a
  // Corruption error naming topic:offset.
  virtual Result<bool> Next(LogRecord* rec) = 0;
};

// The embedded log: one directory per topic under `dir`, each a segment file of records
//   [u32 crc32c of body][u32 body length][body: varint key length, key, i64 append ms, payload]
// Opening a topic for writing validates it and truncates a torn tail, reporting it.
class Log {
 public:
  static Result<std::unique_ptr<Log>> Open(const std::string& dir);
  ~Log();

  Result<std::unique_ptr<TopicWriter>> OpenWriter(const std::string& topic);
  // NotFound is not returned for a topic nobody wrote yet: it reads as empty.
  Result<std::unique_ptr<TopicReader>> OpenReader(const std::string& topic);
  // The number of records in a topic (its end offset).
  Result<int64_t> EndOffset(const std::string& topic);
  std::vector<std::string> ListTopics() const;

  // Consumer offsets: the next offset `group` reads from `topic` (0 if never committed).
  // Commit is atomic (write and rename).
  Status Commit(const std::string& group, const std::string& topic, int64_t next_offset);
  Result<int64_t> Committed(const std::string& group, const std::string& topic);

  const std::string& dir() const { return dir_; }

 private:
  explicit Log(std::string dir) : dir_(std::move(dir)) {}
  std::string TopicDir(const std::string& topic) const;
  std::string dir_;
};

// CRC-32C (Castagnoli), as Kafka and LevelDB use for records.
uint32_t Crc32c(std::string_view data, uint32_t crc = 0);

}  // namespace vigil
