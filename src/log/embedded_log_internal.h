// What the embedded log (embedded_log.cc) lets its tests and benchmark observe: the
// repairs made when a writer opens, and the number of segment syncs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::log_internal {

// One repair made by OpenWriter's recovery of a partition's active segment. Each is also
// printed to stderr as one line, e.g.
//   vigil: log: recovered changelog.user_txn:2 segment 00000000000000004712.log: removed
//   37 bytes at byte 4096 (offset 4790): checksum mismatch
struct RecoveryReport {
  std::string topic;
  int partition = 0;
  std::string segment;        // file name, e.g. "00000000000000004712.log" or ".index"
  int64_t position = 0;       // byte position of the first byte removed (or rewritten)
  int64_t bytes_removed = 0;  // 0 for an index rebuilt without loss of records
  int64_t offset = 0;         // the offset the next record gets (truncation)
  std::string reason;
};

// The reports made since the last call (process-wide), oldest first; clears them.
std::vector<RecoveryReport> TakeRecoveryReports();

// fdatasync calls made on segment files by writers (process-wide), for tests of the
// fsync policy.
int64_t SegmentSyncCount();

// Crc32c without the SSE4.2 instruction (crc32c.cc), so tests check both ways.
uint32_t Crc32cSoftware(std::string_view data, uint32_t crc = 0);

}  // namespace vigil::log_internal
