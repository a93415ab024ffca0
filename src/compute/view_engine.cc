#include "compute/view_engine.h"

namespace vigil {

ViewEngine::ViewEngine(const FeatureViewDef& view) : plan_(view) {}
ViewEngine::~ViewEngine() = default;

void ViewEngine::Schedule(uint32_t slot) {
  TimestampMs next = slots_[slot]->NextInstant();
  if (next >= scheduled_[slot]) return;  // the queued timer fires early enough
  scheduled_[slot] = next;
  timers_.Push({next, slot, ++gens_[slot]});
}

uint32_t ViewEngine::NewSlot(uint64_t hash, std::unique_ptr<EntityWindow> window) {
  uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
    gens_.push_back(0);
    scheduled_.push_back(kMaxTimestamp);
    dirty_.push_back(0);
  }
  slots_[slot] = std::move(window);
  scheduled_[slot] = kMaxTimestamp;
  index_.Insert(hash, slot);
  return slot;
}

void ViewEngine::Add(const Event& ev, uint64_t seq) {
  const std::string_view key = EntityKeyView(ev.fields, plan_.view().key_indexes, &key_buf_);
  const uint64_t hash = EntityIndex::Hash(key);
  uint32_t slot =
      index_.Find(key, hash, [this](uint32_t s) -> const std::string& { return slots_[s]->key(); });
  if (slot == EntityIndex::kNone) {
    slot = NewSlot(hash, std::make_unique<EntityWindow>(&plan_, std::string(key)));
  }
  slots_[slot]->AddEvent(ev, seq);
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
    if (!dirty_[slot]) continue;
    dirty_[slot] = 0;
    if (slots_[slot]) visit(slots_[slot]->key(), slots_[slot].get());
  }
  dirty_slots_.clear();
}

void ViewEngine::AdvanceTo(TimestampMs bound, const std::function<void(ChangelogRow&&)>& emit) {
  EmitUntil(bound, [&emit](const ChangelogRow& row) { emit(ChangelogRow(row)); });
}

void ViewEngine::EmitUntil(TimestampMs bound, const std::function<void(const ChangelogRow&)>& visit) {
  // Every due entity first: processing one emits all its instants below the bound and
  // schedules it at or beyond the bound, so no timer below the bound appears meanwhile.
  due_.clear();
  while (!timers_.empty() && timers_.Top().at < bound) {
    const TimerQueue::Timer t = timers_.Top();
    timers_.Pop();
    if (t.gen != gens_[t.slot]) continue;  // superseded
    due_.push_back(t.slot);
  }
  // The entities' states are scattered over the heap and each is visited once here, so
  // the loop is bound by memory latency: fetch the windows a few entities ahead, and
  // what they point to a little less far ahead, while the current one computes.
  constexpr size_t kAheadWindow = 12, kAheadArrays = 6, kAheadStates = 3;
  for (size_t i = 0; i < due_.size(); ++i) {
    if (i + kAheadWindow < due_.size()) __builtin_prefetch(slots_[due_[i + kAheadWindow]].get());
    if (i + kAheadArrays < due_.size()) slots_[due_[i + kAheadArrays]]->Prefetch(bound, 0);
    if (i + kAheadStates < due_.size()) slots_[due_[i + kAheadStates]]->Prefetch(bound, 1);
    const uint32_t slot = due_[i];
    EntityWindow& e = *slots_[slot];
    e.EmitUntil(bound, visit);
    scheduled_[slot] = kMaxTimestamp;
    if (e.Idle()) {
      if (track_) {
        dirty_[slot] = 0;
        dropped_.push_back(e.key());
      }
      index_.Erase(EntityIndex::Hash(e.key()), slot);
      slots_[slot].reset();
      ++gens_[slot];
      free_.push_back(slot);
    } else {
      MarkDirty(slot);
      Schedule(slot);
    }
  }
}

}  // namespace vigil
