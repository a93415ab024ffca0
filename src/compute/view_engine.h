// Stream compute for one feature view: many entities, one timer queue.
#pragma once

#include <functional>
#include <memory>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include "compute/entity_window.h"
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
  // Emits every changelog row with ts < bound (the watermark), in ts order per entity.
  void AdvanceTo(TimestampMs bound, const std::function<void(ChangelogRow&&)>& emit);
  // The same without copies: each row is valid only during the call to visit.
  void EmitUntil(TimestampMs bound, const std::function<void(const ChangelogRow&)>& visit);
  // Entities currently holding state.
  size_t num_entities() const { return index_.size(); }

 private:
  struct Timer {
    TimestampMs at;
    uint32_t slot;
    uint32_t gen;
    bool operator>(const Timer& o) const { return at != o.at ? at > o.at : slot > o.slot; }
  };
  void Schedule(uint32_t slot);

  ViewPlan plan_;
  Row scratch_;
  std::vector<std::unique_ptr<EntityWindow>> slots_;
  std::vector<uint32_t> gens_;
  std::vector<TimestampMs> scheduled_;
  std::vector<uint32_t> free_;
  std::unordered_map<std::string, uint32_t> index_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers_;
};

}  // namespace vigil
