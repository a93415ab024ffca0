#include "compute/view_engine.h"

namespace vigil {

ViewEngine::ViewEngine(const FeatureViewDef& view) : plan_(view) {}
ViewEngine::~ViewEngine() = default;

void ViewEngine::Schedule(uint32_t slot) {
  TimestampMs next = slots_[slot]->NextInstant();
  if (next >= scheduled_[slot]) return;  // the queued timer fires early enough
  scheduled_[slot] = next;
  timers_.push({next, slot, ++gens_[slot]});
}

uint32_t ViewEngine::NewSlot(std::string key, std::unique_ptr<EntityWindow> window) {
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
  index_.emplace(std::move(key), slot);
  return slot;
}

void ViewEngine::Add(const Event& ev, uint64_t seq) {
  std::string key = EncodeEntityKey(ev.fields, plan_.view().key_indexes);
  uint32_t slot;
  auto it = index_.find(key);
  if (it != index_.end()) {
    slot = it->second;
  } else {
    auto window = std::make_unique<EntityWindow>(&plan_, key);
    slot = NewSlot(std::move(key), std::move(window));
  }
  plan_.Extract(ev, &scratch_);
  slots_[slot]->Add(ev.ts, seq, std::move(scratch_));  // Extract refills it
  MarkDirty(slot);
  Schedule(slot);
}

void ViewEngine::Restore(EntityWindow&& window, bool dirty) {
  std::string key = window.key();
  uint32_t slot = NewSlot(std::move(key), std::make_unique<EntityWindow>(std::move(window)));
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
  while (!timers_.empty() && timers_.top().at < bound) {
    Timer t = timers_.top();
    timers_.pop();
    if (t.gen != gens_[t.slot]) continue;  // superseded
    EntityWindow& e = *slots_[t.slot];
    e.EmitUntil(bound, visit);
    scheduled_[t.slot] = kMaxTimestamp;
    if (e.Idle()) {
      if (track_) {
        dirty_[t.slot] = 0;
        dropped_.push_back(e.key());
      }
      index_.erase(e.key());
      slots_[t.slot].reset();
      ++gens_[t.slot];
      free_.push_back(t.slot);
    } else {
      MarkDirty(t.slot);
      Schedule(t.slot);
    }
  }
}

}  // namespace vigil
