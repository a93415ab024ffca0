// The event archive (DESIGN.md §1, "archiver -> event archive"): every record of every
// source topic, and of its dead-letter topic, copied out of the live log into the offline
// store as Parquet before retention deletes it — the seed's backup of Kafka, which keeps
// 7 days, into S3/Hive.
//
// Layout (store/offline_store.h): events of a source under
// <offline>/events/<source>/date=YYYY-MM-DD/, one row per source record with its
// partition, offset and append time (the log order), and _late, the stream's
// accepted/late decision; dlq.<source> under <offline>/dead_letters/<source>/.
//
// A source record is archived once the stream has decided it: below the offsets the
// stream worker committed for its consumer group (StreamOptions::group) after a
// checkpoint. Its late decisions are in dlq.<source> by then (the stream writes them
// before the checkpoint), so the mark the archive carries is the stream's own; records
// the stream found undecodable are in the dead letters only. The archiver commits what
// it archived as the live log's consumer group kArchiveGroup, which the live log's
// retention respects (LogOptions::retention_guard_group): nothing is deleted before it
// is archived.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "compute/batch_replay.h"
#include "log/log.h"
#include "spec/definitions.h"

namespace vigil {

inline constexpr char kArchiveGroup[] = "vigil-archive";

struct ArchiveOptions {
  // The stream's consumer group: its committed offsets bound what is archived.
  // Default: "vigil-stream".
  std::string stream_group = "vigil-stream";
  // Compact each date's small files after archiving. Default: true.
  bool compact = true;
};

struct ArchiveStats {
  int64_t records = 0;  // source and dead-letter records archived by this call
  int64_t bytes = 0;    // their payload bytes
  int64_t waiting = 0;  // source records in the log the stream has not decided yet
  int64_t files_compacted = 0;
};

// Archives what is not yet archived of every source topic (up to the stream's committed
// offsets) and dead-letter topic (up to its end), durably, then commits kArchiveGroup's
// offsets in `live`. A gap (records deleted from the live log before they were archived)
// is a Corruption naming the topic, partition and the missing offsets: it means
// retention ran without the guard.
Result<ArchiveStats> ArchiveUntilCaughtUp(const Definitions& defs, Log* live, const std::string& offline_dir,
                                          const ArchiveOptions& options = {});

// A source's whole history (compute/batch_replay.h): the archived events of each
// partition, with their recorded decisions, then the live topic from the archive's
// position on. Records neither archived nor in the live log are a Corruption naming them.
Result<SourceHistory> ReadSourceHistoryWithArchive(const SourceDef& source, Log* log,
                                                   const std::string& offline_dir);
// The same history streamed: on_event gets every accepted event (archived ones first, in
// no promised order, then the live ones in each partition's log order), from one thread
// at a time; *h gets the late and rejected counts and the watermark, not the events.
// With `fields` (source field indexes, e.g. compute/batch_replay.h ViewInputFields), only
// those columns of the archive are read and an archived event's other fields are null
// (live events are decoded whole); a replay that reads no other field gives the same rows.
Status ScanSourceHistory(const SourceDef& source, Log* log, const std::string& offline_dir,
                         const std::function<Status(Event&&, uint64_t seq)>& on_event, SourceHistory* h,
                         const std::vector<int>* fields = nullptr);
// The same with the archive read by `workers` threads that call on_event at once, each
// passing its number (0 <= worker < workers; the live events come last, as worker 0):
// for a caller that keeps a state per worker and needs no lock per event. Which worker
// gets an event, and the order of the archived events, vary from run to run.
Status ScanSourceHistoryConcurrently(const SourceDef& source, Log* log, const std::string& offline_dir,
                                     int workers,
                                     const std::function<Status(Event&&, uint64_t seq, int worker)>& on_event,
                                     SourceHistory* h, const std::vector<int>* fields = nullptr);

}  // namespace vigil
