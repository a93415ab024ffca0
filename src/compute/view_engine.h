// Stream compute for one feature view: many entities, one timer queue.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "compute/entity_index.h"
#include "compute/entity_window.h"
#include "compute/timer_queue.h"
#include "spec/definitions.h"

namespace vigil {

// Tracks a source's watermark (DESIGN.md §4): W = highest ts seen - allowed_lateness.
//   allowed_lateness 2s, events at 10:00:05 then 10:00:02:
//   W after the first = 10:00:03, so the second (ts < W) is late.
class Watermark {
 public:
  explicit Watermark(DurationMs allowed_lateness) : lateness_(allowed_lateness) {}
  // Returns false if the event is late (ts < W); otherwise raises the highest ts seen.
  bool Observe(TimestampMs ts) {
    if (ts < current()) return false;
    if (ts > max_ts_) max_ts_ = ts;
    return true;
  }
  // kMinTimestamp before any event.
  TimestampMs current() const { return max_ts_ == kMinTimestamp ? kMinTimestamp : max_ts_ - lateness_; }
  TimestampMs max_ts() const { return max_ts_; }
  // Restores a watermark from a checkpoint.
  void Restore(TimestampMs max_ts) { max_ts_ = max_ts; }

 private:
  DurationMs lateness_;
  TimestampMs max_ts_ = kMinTimestamp;
};

// Computes a view's changelog from a stream of accepted events. Not thread-safe.
class ViewEngine {
 public:
  explicit ViewEngine(const FeatureViewDef& view);
  ~ViewEngine();
  const ViewPlan& plan() const { return plan_; }
  // Adds an accepted event of the view's source. REQUIRES: ev.ts >= the last bound.
  void Add(const Event& ev, uint64_t seq);
  // Adds evs[i] with seqs[i] for every i in order: the same as that many calls to Add,
  // but an entity's state is scattered over the heap, so this fetches the index entry,
  // the slot and the window of the events a few places ahead while it adds the current
  // one, overlapping their cache misses. REQUIRES: evs.size() == seqs.size().
  void AddBatch(std::span<const Event> evs, std::span<const uint64_t> seqs);
  // Emits every changelog row with ts < bound (the watermark), in ts order per entity.
  void AdvanceTo(TimestampMs bound, const std::function<void(ChangelogRow&&)>& emit);
  // The same without copies: each row is valid only during the call to visit.
  void EmitUntil(TimestampMs bound, const std::function<void(const ChangelogRow&)>& visit);
  // Entities currently holding state.
  size_t num_entities() const { return index_.size(); }

  // Checkpoint support (off until called: tracking costs a little per entity). From now
  // on, the engine remembers which entities changed.
  void TrackChanges() { track_ = true; }
  // Calls visit(key, window) for every entity whose state changed
  // since the last call (window is null for an entity dropped since), then forgets them.
  // Dropped entities are visited first, so a key dropped and created again ends non-null.
  void TakeChanges(const std::function<void(const std::string& key, const EntityWindow* window)>& visit);
  // Adds an entity restored from a checkpoint (or built by batch replay: then `dirty`,
  // so that the next checkpoint saves it). REQUIRES: no entity with its key yet, and the
  // window was built with plan().
  void Restore(EntityWindow&& window, bool dirty = false);

 private:
  void AddKeyed(const Event& ev, uint64_t seq, std::string_view key, uint64_t hash);
  void Schedule(uint32_t slot);
  uint32_t NewSlot(uint64_t hash, std::unique_ptr<EntityWindow> window);
  void MarkDirty(uint32_t slot) {
    if (track_ && !slots_[slot].dirty) {
      slots_[slot].dirty = true;
      dirty_slots_.push_back(slot);
    }
  }

  // What Add and EmitUntil read of an entity's slot, side by side: one miss per entity
  // rather than one per array.
  struct Slot {
    std::unique_ptr<EntityWindow> window;   // null when free
    TimestampMs scheduled = kMaxTimestamp;  // its live timer's instant, or kMaxTimestamp
    uint32_t gen = 0;                       // a timer with another gen is stale
    bool dirty = false;                     // changed since the last TakeChanges
  };

  ViewPlan plan_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
  EntityIndex index_;    // entity key -> slot
  std::string key_buf_;  // a composite key, built per event
  std::vector<uint64_t> batch_hashes_;  // AddBatch's key hashes, reused
  bool track_ = false;
  std::vector<uint32_t> dirty_slots_;  // may repeat a slot; Slot::dirty decides
  std::vector<std::string> dropped_;   // keys dropped since the last TakeChanges
  std::vector<TimerQueue::Timer> due_;  // EmitUntil's timers below the bound, reused
  TimerQueue timers_;                  // per slot: the next instant; stale when its gen is not the slot's
};

}  // namespace vigil
