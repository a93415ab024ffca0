// How the log is configured (vigil.yaml `log:`). A plain struct with no dependencies,
// so that the settings loader (spec) can fill it without linking the log.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "common/time.h"

namespace vigil {

// When the embedded log calls fsync on a partition's active segment.
// Persisted in vigil.yaml as the lower-case names; values must not change.
enum class FsyncPolicy {
  kEveryRecord = 0,  // `always`: every Flush() syncs; nothing acknowledged is ever lost
  kInterval = 1,     // `interval`: a Flush() syncs if fsync_interval passed since the last sync
  kNever = 2,        // `never`: the OS decides; a machine crash may lose the newest records
};

struct LogOptions {
  enum class Kind { kEmbedded, kKafka };
  // Default: embedded.
  Kind kind = Kind::kEmbedded;

  // Embedded: the directory holding one folder per topic. Default: <data_dir>/log.
  std::string dir;
  // Kafka: bootstrap servers, "host:port[,host:port...]".
  std::string bootstrap;
  // Kafka: prefix added to every topic name, so that several projects (or tests) share
  // one cluster. Default: none.
  std::string topic_prefix;
  // Kafka: extra librdkafka properties, applied to producers and consumers.
  std::map<std::string, std::string> kafka_config;

  // Partitions of a topic vigil creates. Records are partitioned by key
  // (PartitionForKey), so one entity's records keep their order. Default: 4.
  int partitions = 4;

  // Embedded: the active segment rolls when it reaches segment_bytes, or when its
  // first record is older than segment_ms. Default: 64 MiB, 1 day.
  int64_t segment_bytes = int64_t{64} << 20;
  DurationMs segment_ms = 24LL * 3600 * 1000;
  // Embedded: one sparse index entry per this many bytes of records. Default: 4 KiB.
  int64_t index_interval_bytes = 4096;
  // Embedded: Default: interval, every 1 s.
  FsyncPolicy fsync = FsyncPolicy::kInterval;
  DurationMs fsync_interval = 1000;
  // Retention, per partition: whole segments are deleted once their newest record is
  // older than retention_ms, or while the partition is larger than retention_bytes
  // (-1: no size limit). The active segment is never deleted. Default: 7 days, no limit.
  // (On Kafka, topics vigil creates get retention.ms / retention.bytes.)
  DurationMs retention_ms = 7LL * 24 * 3600 * 1000;
  int64_t retention_bytes = -1;
  // Embedded: if set, retention never deletes a record of a topic at or beyond this
  // consumer group's committed offset for it (the archiver's group), so nothing is
  // deleted before it is archived. Default: none.
  std::string retention_guard_group;
};

}  // namespace vigil
