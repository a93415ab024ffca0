// Batch compute: the same engine as the stream, replayed over a source's history, one
// entity at a time. Used for point-in-time datasets and to check the stream.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "compute/entity_window.h"
#include "log/log.h"
#include "spec/definitions.h"

namespace vigil {

// A source's accepted events, with the late decision the stream makes (stream_worker.h):
// an event is late if ts < W_p of its partition when read, or if the stream recorded it
// late in dlq.<source> (late by the checkpointed floor, which only the stream knows).
// Records the stream sent to the dead-letter topic as undecodable are skipped too.
struct SourceHistory {
  std::vector<Event> events;
  std::vector<uint64_t> seqs;  // EventSeq(partition, offset), the tie-breaker for equal ts
  int64_t late = 0;
  int64_t rejected = 0;
  // min over partitions with data of W_p after the last record: what the stream's
  // watermark reaches once every partition is read (kMinTimestamp without data).
  TimestampMs watermark = kMinTimestamp;
};

// Reads the whole history of `source`: from `archive` (store/archive.h; may be null) the
// records of each partition below the archive's end, then the live topic from there;
// and the dead-letter topics of both for recorded decisions. Records the live log no
// longer holds and the archive lacks are a Corruption error naming them.
Result<SourceHistory> ReadSourceHistory(const SourceDef& source, Log* log, Log* archive = nullptr);

// Computes `view`'s changelog from `history`, rows with ts < bound, calling
// on_entity(key, rows) once per entity with its rows in ts order. With threads > 1,
// entities are split across threads and on_entity is called concurrently (from
// different threads for different entities).
void ReplayView(
    const FeatureViewDef& view, const SourceHistory& history, TimestampMs bound, int threads,
    const std::function<void(const std::string& key, std::vector<ChangelogRow>&& rows)>& on_entity);

}  // namespace vigil
