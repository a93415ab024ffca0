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

// A source's accepted events in log order, with the late decision made exactly as the
// stream makes it (the same Watermark over the same order).
struct SourceHistory {
  std::vector<Event> events;
  std::vector<uint64_t> seqs;  // log offsets, the tie-breaker for equal ts
  int64_t late = 0;
  TimestampMs watermark = kMinTimestamp;  // W after the last record
};

// Reads the whole `source` topic.
Result<SourceHistory> ReadSourceHistory(const SourceDef& source, Log* log);

// Computes `view`'s changelog from `history`, rows with ts < bound, calling
// on_entity(key, rows) once per entity with its rows in ts order. With threads > 1,
// entities are split across threads and on_entity is called concurrently (from
// different threads for different entities).
void ReplayView(
    const FeatureViewDef& view, const SourceHistory& history, TimestampMs bound, int threads,
    const std::function<void(const std::string& key, std::vector<ChangelogRow>&& rows)>& on_entity);

}  // namespace vigil
