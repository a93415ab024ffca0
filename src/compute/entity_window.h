// The changelog of one entity of one feature view (DESIGN.md §4), computed event by
// event. Stream compute (ViewEngine) and batch replay both drive this one class, so
// online and offline values agree by construction.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "common/time.h"
#include "compute/changelog.h"
#include "schema/value.h"
#include "spec/definitions.h"

namespace vigil {

namespace compute_internal {
class FeatureState;
}

// A feature view compiled for the engine: feature definitions plus how to turn an
// event into per-feature inputs. Immutable, shared by every entity of the view.
class ViewPlan {
 public:
  explicit ViewPlan(const FeatureViewDef& view);
  const FeatureViewDef& view() const { return *view_; }
  size_t num_features() const { return view_->features.size(); }
  // Fills inputs[i] with what feature i takes from `ev`: null when the event does not
  // contribute (where false or null, or a null field), else the field value (or true
  // for count without field).
  void Extract(const Event& ev, Row* inputs) const;
  // The tuple of an entity with no state.
  const Row& empty_tuple() const { return empty_; }

 private:
  const FeatureViewDef* view_;
  Row empty_;
  // Features sharing a `where` text share one evaluation: where_slot_[i] indexes wheres_.
  std::vector<const Expr*> wheres_;
  std::vector<int> where_slot_;
};

// Per-entity engine state. Not thread-safe; one owner at a time.
//
// Instants: an event enters at its ts; it leaves feature f's window at ts + window_f;
// the entity expires at L + ttl (L = its last event). At each instant the engine applies
// leaves first, then expiry, then arrivals, and emits a row if the tuple changed.
//   count over 1h, ttl 1h, events at 10:00 and 10:30:
//   rows: 10:00 -> 1, 10:30 -> 2, 11:00 -> 1, 11:30 -> 0 (window empty and ttl expiry)
class EntityWindow {
 public:
  EntityWindow(const ViewPlan* plan, std::string key);
  ~EntityWindow();
  EntityWindow(EntityWindow&&) noexcept;

  const std::string& key() const { return row_.entity; }
  // Queues an accepted event. REQUIRES: ts >= every bound passed to AdvanceTo so far;
  // `seq` increases in log order (ties of equal ts keep log order).
  void Add(TimestampMs ts, uint64_t seq, Row inputs);
  // The next instant at which the tuple may change, or kMaxTimestamp. O(1): kept
  // up to date by Add and by each processed instant.
  TimestampMs NextInstant() const { return next_; }
  // Processes every instant < bound, calling visit for each row where the tuple
  // changed. The row is the window's own: valid only during the call, never copied.
  void EmitUntil(TimestampMs bound, const std::function<void(const ChangelogRow&)>& visit);
  // The same, handing each row over as a copy the caller keeps.
  void AdvanceTo(TimestampMs bound, const std::function<void(ChangelogRow&&)>& emit);
  // True when the entity holds no state and nothing is pending: it may be dropped.
  bool Idle() const;

 private:
  struct Pending {
    TimestampMs ts;
    uint64_t seq;
    Row inputs;
  };
  void ProcessInstant(TimestampMs t, const std::function<void(const ChangelogRow&)>& visit);
  TimestampMs ComputeNextInstant() const;

  const ViewPlan* plan_;
  std::vector<Pending> pending_;  // sorted by (ts, seq); consumed from pending_head_
  size_t pending_head_ = 0;
  std::vector<std::unique_ptr<compute_internal::FeatureState>> features_;
  // features_[i]->NextExpiry(), kept beside the tuple so that finding the next instant
  // and the features due at it reads one array instead of every feature's state.
  std::vector<TimestampMs> expiry_;
  bool alive_ = false;  // an event arrived since creation or the last expiry
  TimestampMs last_event_ = kMinTimestamp;
  ChangelogRow row_;                  // the entity's key and the last emitted tuple
  TimestampMs next_ = kMaxTimestamp;  // cached NextInstant()
};

}  // namespace vigil
