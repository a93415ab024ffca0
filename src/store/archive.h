// The event archive (DESIGN.md §1, "archiver -> event archive"): every record of every
// source topic, and of its dead-letter topic (which holds the stream's late decisions),
// copied out of the live log before retention deletes it — the seed's backup of Kafka,
// which keeps 7 days, into S3/Hive.
//
// The archive is an embedded log of its own under <offline_dir>/archive with no
// retention, holding each topic with the same partitions, offsets and record times as
// the live log, so that "partition p, offset o" names the same event in both. (The
// offline-store issue replaces this format with Parquet; the contract stays.) The
// archiver's progress is the archive's own end offsets; it also commits them as the
// live log's consumer group kArchiveGroup, which the live log's retention respects
// (LogOptions::retention_guard_group), so nothing is deleted before it is archived.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "log/log.h"
#include "spec/definitions.h"

namespace vigil {

inline constexpr char kArchiveGroup[] = "vigil-archive";

// Opens (creating) the archive log under `offline_dir`/archive.
Result<std::unique_ptr<Log>> OpenArchive(const std::string& offline_dir);

struct ArchiveStats {
  int64_t records = 0;  // copied by this call
  int64_t bytes = 0;    // payload bytes copied
};

// Copies what is not yet archived of every source topic and dead-letter topic, up to
// their current ends, durably (synced), then commits kArchiveGroup's offsets in `live`.
// A gap (records deleted from the live log before they were archived) is a Corruption
// naming the topic, partition and the missing offsets: it means retention ran without
// the guard.
Result<ArchiveStats> ArchiveUntilCaughtUp(const Definitions& defs, Log* live, Log* archive);

}  // namespace vigil
