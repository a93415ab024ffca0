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

void ViewEngine::Add(const Event& ev, uint64_t seq) {
  std::string key = EncodeEntityKey(ev.fields, plan_.view().key_indexes);
  uint32_t slot;
  auto it = index_.find(key);
  if (it != index_.end()) {
    slot = it->second;
  } else {
    if (!free_.empty()) {
      slot = free_.back();
      free_.pop_back();
    } else {
      slot = static_cast<uint32_t>(slots_.size());
      slots_.emplace_back();
      gens_.push_back(0);
      scheduled_.push_back(kMaxTimestamp);
    }
    slots_[slot] = std::make_unique<EntityWindow>(&plan_, key);
    scheduled_[slot] = kMaxTimestamp;
    index_.emplace(std::move(key), slot);
  }
  plan_.Extract(ev, &scratch_);
  slots_[slot]->Add(ev.ts, seq, std::move(scratch_));  // Extract refills it
  Schedule(slot);
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
      index_.erase(e.key());
      slots_[t.slot].reset();
      ++gens_[t.slot];
      free_.push_back(t.slot);
    } else {
      Schedule(t.slot);
    }
  }
}

}  // namespace vigil
