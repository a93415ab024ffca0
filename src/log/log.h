// Topics: the durable, append-only logs between parts (DESIGN.md §1). Sources flow into
// `<source>` topics, rejected events into `dlq.<source>`, changelogs into
// `changelog.<view>`. Compute produces and ingestion consumes; neither blocks the other.
//
// One interface, two implementations chosen by LogOptions::kind: the embedded segment
// log on local disk (embedded_log.cc) and Apache Kafka through librdkafka (kafka_log.cc).
// A topic has partitions; a record goes to PartitionForKey(key), so one key (one entity)
// keeps its order. Offsets count records per partition: 0, 1, 2, ...
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/time.h"
#include "log/log_options.h"

namespace vigil {

// A record as read back. The views point into the reader's buffer and stay valid until
// the next call to Next().
struct LogRecord {
  int partition = 0;
  int64_t offset = 0;           // per partition, in append order
  TimestampMs append_time = 0;  // the writer's timestamp (wall clock at Append by default)
  std::string_view key;         // partitioning key (the entity for changelogs); may be empty
  std::string_view payload;
};

// The partition of `key` among `partitions`: CRC-32C of the key, modulo. The same in
// both implementations (vigil picks the partition itself, never the client library), so
// a topic's layout does not depend on where it lives. An empty key goes to partition 0.
int PartitionForKey(std::string_view key, int partitions);

// Appends to one topic. Not thread-safe; one writer per topic per process.
class TopicWriter {
 public:
  virtual ~TopicWriter() = default;
  virtual int partitions() const = 0;
  // Buffers a record for PartitionForKey(key). `time` < 0 means the wall clock now.
  // Durable (embedded) or acknowledged by every in-sync replica (Kafka) only after Flush().
  virtual Status Append(std::string_view key, std::string_view payload, TimestampMs time = -1) = 0;
  // The same into an explicit partition. REQUIRES: 0 <= partition < partitions().
  virtual Status AppendTo(int partition, std::string_view key, std::string_view payload,
                          TimestampMs time = -1) = 0;
  // Makes every buffered record durable / acknowledged. Embedded: written to the segment
  // and fsynced according to the policy, or always when `sync`. Kafka: waits for the
  // delivery report of every record; an undeliverable record is an IOError.
  virtual Status Flush(bool sync) = 0;
  // Per partition, the offset after the last record this writer has flushed, or the
  // partition's end when the writer opened if it flushed nothing. For a checkpoint to
  // name "everything up to here is written".
  virtual std::vector<int64_t> FlushedEnds() const = 0;
};

// Reads one topic, every partition, from per-partition positions on. Not thread-safe.
class TopicReader {
 public:
  virtual ~TopicReader() = default;
  virtual int partitions() const = 0;
  // Positions `partition` at `offset`. An offset below the partition's start (deleted
  // by retention) is an InvalidArgument naming topic:partition and the start; one past
  // the current end is allowed (reads nothing until records arrive).
  virtual Status Seek(int partition, int64_t offset) = 0;
  // Reads the next record of any partition into *rec. Within a partition records come
  // in offset order; across partitions in no promised order. Returns false when every
  // partition is at its end as of this call (records appended later become visible to
  // later calls). A corrupt record is a Corruption error naming topic:partition:offset.
  virtual Result<bool> Next(LogRecord* rec) = 0;
  // The offset Next() reads next from `partition`.
  virtual int64_t Position(int partition) const = 0;
};

// A member of a consumer group subscribed to some topics. The group divides their
// partitions among its members and moves them when members come and go (a rebalance).
// Not thread-safe.
class GroupConsumer {
 public:
  struct Assignment {
    std::string topic;
    int partition = 0;
  };
  // Called inside Next() when partitions are taken away (so the member can commit what
  // it applied of them) and when partitions are given (the member fills start[i] with
  // where to read assigned[i] from, or -1 for the group's committed offset, or the
  // partition's start when nothing is committed). A non-OK status fails that Next().
  struct Listener {
    std::function<Status(const std::vector<Assignment>& revoked)> on_revoked;
    std::function<Status(const std::vector<Assignment>& assigned, std::vector<int64_t>* start)> on_assigned;
  };
  virtual ~GroupConsumer() = default;
  // Reads the next record of an assigned partition, waiting up to `wait` for one.
  // Returns false if none arrived in that time. LogRecord has no topic: *topic is set.
  virtual Result<bool> Next(LogRecord* rec, std::string* topic, DurationMs wait) = 0;
  // Commits, for each assigned partition, the next offset to read (synchronously).
  virtual Status Commit(const std::vector<Assignment>& parts, const std::vector<int64_t>& next_offsets) = 0;
  virtual std::vector<Assignment> assignment() const = 0;
  // Leaves the group (revoking its partitions) so others take them at once.
  virtual Status Close() = 0;
};

// What EnforceRetention removed.
struct RetentionReport {
  int64_t segments_deleted = 0;
  int64_t bytes_deleted = 0;
};

class Log {
 public:
  // Opens the log options.kind names. Embedded: creates options.dir if missing. Kafka:
  // checks that the cluster answers (a metadata request) and fails with IOError if not.
  static Result<std::unique_ptr<Log>> Open(const LogOptions& options);
  virtual ~Log() = default;
  virtual const LogOptions& options() const = 0;

  // Creates `topic` with `partitions` partitions. Not an error if it exists with that
  // many; InvalidArgument if it exists with another number.
  virtual Status CreateTopic(const std::string& topic, int partitions) = 0;
  // The number of partitions of `topic`; NotFound if it does not exist.
  virtual Result<int> Partitions(const std::string& topic) = 0;
  // Open a writer / a reader positioned at every partition's start. A missing topic is
  // created with options().partitions partitions (so it reads as empty).
  virtual Result<std::unique_ptr<TopicWriter>> OpenWriter(const std::string& topic) = 0;
  virtual Result<std::unique_ptr<TopicReader>> OpenReader(const std::string& topic) = 0;
  // Per partition: the first offset still held (raised by retention), and the end (the
  // offset the next record gets). A missing topic is NotFound.
  virtual Result<std::vector<int64_t>> StartOffsets(const std::string& topic) = 0;
  virtual Result<std::vector<int64_t>> EndOffsets(const std::string& topic) = 0;
  // Topic names (without the Kafka topic_prefix), sorted.
  virtual Result<std::vector<std::string>> ListTopics() = 0;

  // Consumer offsets: per partition of `topic`, the next offset `group` reads. Never
  // committed: 0 per partition. Commit is atomic for all partitions of the call.
  virtual Status Commit(const std::string& group, const std::string& topic,
                        const std::vector<int64_t>& next_offsets) = 0;
  virtual Result<std::vector<int64_t>> Committed(const std::string& group, const std::string& topic) = 0;

  // Joins `group` as a new member subscribed to `topics`.
  virtual Result<std::unique_ptr<GroupConsumer>> Subscribe(const std::string& group,
                                                           const std::vector<std::string>& topics,
                                                           GroupConsumer::Listener listener) = 0;

  // Deletes what retention allows as of `now` (see LogOptions). Embedded only; on Kafka
  // the brokers apply retention and this returns an empty report.
  virtual Result<RetentionReport> EnforceRetention(TimestampMs now) = 0;
};

// Opens a writer for a topic that other processes also write now and then (a
// dead-letter topic: `vigil ingest` writes rejections, stream compute late events): while
// another writer holds the topic, retries for up to `wait`. Hold such a writer briefly.
Result<std::unique_ptr<TopicWriter>> OpenSharedWriter(Log* log, const std::string& topic, DurationMs wait);

// CRC-32C (Castagnoli), as Kafka and LevelDB use for records.
uint32_t Crc32c(std::string_view data, uint32_t crc = 0);

}  // namespace vigil
