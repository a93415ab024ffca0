// Batch compute: the same engine as the stream, replayed over a source's history, one
// entity at a time. Used for point-in-time datasets and to check the stream.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <unordered_set>
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

// Reads the whole history of `source` from the live log, and the dead-letter topic for
// recorded decisions. (store/archive.h adds what the archive holds.)
Result<SourceHistory> ReadSourceHistory(const SourceDef& source, Log* log);
// The same history streamed: on_event gets every accepted event, in each partition's log
// order, from the calling thread; *h gets the late and rejected counts and the watermark,
// not the events. A caller that keeps only some entities' events holds only those.
Status ScanSourceHistory(const SourceDef& source, Log* log,
                         const std::function<Status(Event&&, uint64_t seq)>& on_event, SourceHistory* h);

// The live part of a history: reads each partition p of `source` from from[p] (an empty
// `from`: from each partition's start) to its end, appending accepted events to *h.
// `recorded` holds the EventSeq of records the stream recorded late or undecodable
// (ReadRecordedDecisions); max_ts[p] is partition p's highest accepted ts so far
// (kMinTimestamp: none), resized to the partition count and updated. Records below
// from[p] that the log no longer holds are fine; from[p] below the log's start is a
// Corruption (a gap).
Status ReadLiveHistory(const SourceDef& source, Log* log, const std::vector<int64_t>& from,
                       const std::unordered_set<uint64_t>& recorded, std::vector<TimestampMs>* max_ts,
                       SourceHistory* h);
// The same, handing each accepted event to on_event instead (h->events and h->seqs are
// left alone; h->late and h->rejected are counted).
Status ReadLiveHistory(const SourceDef& source, Log* log, const std::vector<int64_t>& from,
                       const std::unordered_set<uint64_t>& recorded, std::vector<TimestampMs>* max_ts,
                       SourceHistory* h, const std::function<Status(Event&&, uint64_t seq)>& on_event);
// Adds the EventSeq of every late or undecodable record a dead-letter topic of `log`
// names (keys "late:<p>:<offset>", "undecodable:<p>:<offset>") to *recorded.
Status ReadRecordedDecisions(Log* log, const std::string& topic, std::unordered_set<uint64_t>* recorded);
// Parses such a key; false for other keys (ingest rejections).
bool ParseDecisionKey(std::string_view key, int* partition, int64_t* offset);
// Sets h->watermark from the partitions' highest accepted ts.
void FinishHistory(const SourceDef& source, const std::vector<TimestampMs>& max_ts, SourceHistory* h);

// The window state of every entity of `plan`'s view after `history` (events with
// EventSeq offsets below until[partition], all when `until` is empty), advanced to
// `bound` with the rows before it discarded: the state a stream that ran the view from
// the start would hold at that point. Idle windows (nothing kept) are left out.
void BuildWindows(const ViewPlan& plan, const SourceHistory& history, const std::vector<int64_t>& until,
                  TimestampMs bound, const std::function<void(EntityWindow&&)>& fn);

// Computes `view`'s changelog from `history`, rows with ts < bound, calling
// on_entity(key, rows) once per entity with its rows in ts order. With threads > 1,
// entities are split across threads and on_entity is called concurrently (from
// different threads for different entities).
void ReplayView(
    const FeatureViewDef& view, const SourceHistory& history, TimestampMs bound, int threads,
    const std::function<void(const std::string& key, std::vector<ChangelogRow>&& rows)>& on_entity);

// The source fields `view` reads, sorted: its entity keys, its features' fields and the
// inputs of their `where`s. A replay gives the same rows when every other field is null.
std::vector<int> ViewInputFields(const FeatureViewDef& view);

// One view's events of a source, held compactly for a batch replay that must keep many
// (training sets over millions of labels): of each event only the fields the view reads
// (its entity keys, its features' fields and `where`s) are kept, encoded as the log
// stores them (schema/row_codec.h) with the other fields null, in large blocks; about 60
// to 100 bytes an event where a decoded Event takes several hundred. The caller names
// each event's entity by its index in its own list of keys (looked up once, in its own
// index). Not safe for concurrent Add.
class CompactHistory {
 public:
  // `entities`: the encoded keys (EncodeEntityKey) of the entities whose events are
  // added; Add names one by its index there. It must outlive the history, and may grow
  // while events are added (an entity's key goes in before its first event).
  CompactHistory(const FeatureViewDef& view, const SourceDef& source,
                 const std::vector<std::string>& entities);
  // Adds `ev` (an accepted event, EventSeq `seq`) of entities[entity].
  void Add(uint32_t entity, const Event& ev, uint64_t seq);
  // The same for an event already encoded (EncodeEvent, with the schema the history was
  // made for), kept as it is: the replay gives the same rows whatever the fields the
  // view does not read hold, but they take room. REQUIRES: `encoded` decodes.
  void AddEncoded(uint32_t entity, std::string_view encoded, uint64_t seq);
  // AddEncoded without the copy: the history refers to the caller's bytes (a mapped
  // spill file). REQUIRES: as AddEncoded, and `encoded` outlives the history.
  void AddBorrowed(uint32_t entity, std::string_view encoded, uint64_t seq);
  int64_t events() const { return static_cast<int64_t>(refs_.size()); }
  // Forgets every event but keeps the memory, for a caller that fills it again (the next
  // backfill bucket).
  void Clear();
  // Calls fn(key, events) once for each entity with events, its events (with their
  // EventSeq) decoded in the order added; `events` is fn's to reorder and valid during
  // the call. With threads > 1 the entities are split across threads and fn is called
  // concurrently (for different entities).
  using EntityFn =
      std::function<void(const std::string& key, std::vector<std::pair<const Event*, uint64_t>>* events)>;
  void ForEachEntity(int threads, const EntityFn& fn) const;

 private:
  struct Ref {
    uint64_t seq;
    const char* data;  // in blocks_ or the caller's (AddBorrowed)
    uint32_t entity;
    uint32_t size;
  };
  const Schema* schema_;
  const std::vector<std::string>& keys_;
  std::vector<int> used_;  // source fields the view reads, sorted
  std::vector<Ref> refs_;
  std::vector<std::string> blocks_;  // each reserved once and never grown: data stays put
  Event scratch_;
  std::string encoded_;
};

// ReplayView over a compact history: the same rows, the same calls (none for an entity
// without events).
void ReplayView(
    const FeatureViewDef& view, const CompactHistory& history, TimestampMs bound, int threads,
    const std::function<void(const std::string& key, std::vector<ChangelogRow>&& rows)>& on_entity);

// The same rows, on one thread, each visited as the engine makes it instead of copied:
// `row` is the entity window's own, valid only during the call (EntityWindow::EmitUntil).
// Rows come entity after entity, each entity's in ts order. For a caller that turns them
// into something else at once (a backfill's Parquet columns).
void VisitView(const FeatureViewDef& view, const CompactHistory& history, TimestampMs bound,
               const std::function<void(const ChangelogRow& row)>& visit);

}  // namespace vigil
