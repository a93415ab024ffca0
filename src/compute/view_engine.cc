#include "compute/view_engine.h"

namespace vigil {

ViewEngine::ViewEngine(const FeatureViewDef& view) : plan_(view) {}
ViewEngine::~ViewEngine() = default;

void ViewEngine::Schedule(uint32_t slot) {
  Slot& s = slots_[slot];
  TimestampMs next = s.window->NextInstant();
  if (next >= s.scheduled) return;  // the queued timer fires early enough
  s.scheduled = next;
  timers_.Push({next, slot, ++s.gen});
}

uint32_t ViewEngine::NewSlot(uint64_t hash, std::unique_ptr<EntityWindow> window) {
  uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  slots_[slot].window = std::move(window);
  slots_[slot].scheduled = kMaxTimestamp;
  index_.Insert(hash, slot);
  return slot;
}

void ViewEngine::Add(const Event& ev, uint64_t seq) {
  const std::string_view key = EntityKeyView(ev.fields, plan_.view().key_indexes, &key_buf_);
  const uint64_t hash = EntityIndex::Hash(key);
  uint32_t slot =
      index_.Find(key, hash, [this](uint32_t s) -> const std::string& { return slots_[s].window->key(); });
  if (slot == EntityIndex::kNone) {
    slot = NewSlot(hash, std::make_unique<EntityWindow>(&plan_, std::string(key)));
  }
  slots_[slot].window->AddEvent(ev, seq);
  MarkDirty(slot);
  Schedule(slot);
}

void ViewEngine::Restore(EntityWindow&& window, bool dirty) {
  const uint64_t hash = EntityIndex::Hash(window.key());
  uint32_t slot = NewSlot(hash, std::make_unique<EntityWindow>(std::move(window)));
  Schedule(slot);
  if (dirty) MarkDirty(slot);
}

void ViewEngine::TakeChanges(
    const std::function<void(const std::string& key, const EntityWindow* window)>& visit) {
  for (const auto& key : dropped_) visit(key, nullptr);
  dropped_.clear();
  for (uint32_t slot : dirty_slots_) {
    Slot& s = slots_[slot];
    if (!s.dirty) continue;
    s.dirty = false;
    if (s.window) visit(s.window->key(), s.window.get());
  }
  dirty_slots_.clear();
}

void ViewEngine::AdvanceTo(TimestampMs bound, const std::function<void(ChangelogRow&&)>& emit) {
  EmitUntil(bound, [&emit](const ChangelogRow& row) { emit(ChangelogRow(row)); });
}

void ViewEngine::EmitUntil(TimestampMs bound, const std::function<void(const ChangelogRow&)>& visit) {
  // Every due timer first: processing an entity emits all its instants below the bound
  // and schedules it at or beyond the bound, so no timer below the bound appears
  // meanwhile. Stale timers are skipped in the loop below, where their slot has been
  // prefetched (a timer is stale when its gen is not its slot's: gens only grow, and a
  // slot is not reused before the loop ends).
  due_.clear();
  while (timers_.HasBefore(bound)) {
    due_.push_back(timers_.Top());
    timers_.Pop();
  }
  // The entities' states are scattered over the heap and each is visited once here, so
  // the loop is bound by memory latency: fetch the slots some entities ahead, their
  // windows a little less far ahead, and what those point to a little less again, while
  // the current one computes.
  constexpr size_t kAheadSlot = 16, kAheadWindow = 12, kAheadArrays = 6, kAheadStates = 3;
  auto live = [this](const TimerQueue::Timer& t) -> EntityWindow* {
    const Slot& s = slots_[t.slot];
    return t.gen == s.gen ? s.window.get() : nullptr;
  };
  for (size_t i = 0; i < due_.size(); ++i) {
    if (i + kAheadSlot < due_.size()) __builtin_prefetch(&slots_[due_[i + kAheadSlot].slot]);
    if (i + kAheadWindow < due_.size()) {
      if (EntityWindow* w = live(due_[i + kAheadWindow])) __builtin_prefetch(w);
    }
    if (i + kAheadArrays < due_.size()) {
      if (EntityWindow* w = live(due_[i + kAheadArrays])) w->Prefetch(bound, 0);
    }
    if (i + kAheadStates < due_.size()) {
      if (EntityWindow* w = live(due_[i + kAheadStates])) w->Prefetch(bound, 1);
    }
    const uint32_t slot = due_[i].slot;
    Slot& s = slots_[slot];
    if (due_[i].gen != s.gen) continue;  // superseded
    EntityWindow& e = *s.window;
    e.EmitUntil(bound, visit);
    s.scheduled = kMaxTimestamp;
    if (e.Idle()) {
      if (track_) {
        s.dirty = false;
        dropped_.push_back(e.key());
      }
      index_.Erase(EntityIndex::Hash(e.key()), slot);
      s.window.reset();
      ++s.gen;
      free_.push_back(slot);
    } else {
      MarkDirty(slot);
      Schedule(slot);
    }
  }
}

}  // namespace vigil
