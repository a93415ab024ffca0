#include "compute/view_engine.h"

#include <algorithm>

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
  AddKeyed(ev, seq, key, EntityIndex::Hash(key));
}

void ViewEngine::AddKeyed(const Event& ev, uint64_t seq, std::string_view key, uint64_t hash) {
  uint32_t slot =
      index_.Find(key, hash, [this](uint32_t s) -> const std::string& { return slots_[s].window->key(); });
  if (slot == EntityIndex::kNone) {
    slot = NewSlot(hash, std::make_unique<EntityWindow>(&plan_, std::string(key)));
  }
  slots_[slot].window->AddEvent(ev, seq);
  MarkDirty(slot);
  Schedule(slot);
}

void ViewEngine::AddBatch(std::span<const Event> evs, std::span<const uint64_t> seqs) {
  // A software pipeline: while event i is added, event i + kAheadIndex's index entry is
  // requested, event i + kAheadSlot's entry (arrived by now) names the slot to request,
  // event i + kAheadWindow's slot names the window, and event i + kAheadAdd's window
  // says where the event's inputs will go. Each stage only reads what an earlier one
  // fetched, so the loop waits on one miss at a time at most. The hints may be wrong (an
  // entity created within the batch, a probe run longer than one entry): results never
  // depend on them.
  constexpr size_t kAheadIndex = 28, kAheadSlot = 19, kAheadWindow = 10, kAheadAdd = 3;
  const std::vector<int>& key_indexes = plan_.view().key_indexes;
  const size_t n = evs.size();
  batch_hashes_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    batch_hashes_[i] = EntityIndex::Hash(EntityKeyView(evs[i].fields, key_indexes, &key_buf_));
  }
  auto window_hint = [this](size_t i) -> const EntityWindow* {
    const uint32_t s = index_.Peek(batch_hashes_[i]);
    return s == EntityIndex::kNone ? nullptr : slots_[s].window.get();
  };
  for (size_t i = 0; i < std::min(n, kAheadIndex); ++i) index_.Prefetch(batch_hashes_[i]);
  for (size_t i = 0; i < n; ++i) {
    if (i + kAheadIndex < n) index_.Prefetch(batch_hashes_[i + kAheadIndex]);
    if (i + kAheadSlot < n) {
      const uint32_t s = index_.Peek(batch_hashes_[i + kAheadSlot]);
      if (s != EntityIndex::kNone) __builtin_prefetch(&slots_[s]);
    }
    if (i + kAheadWindow < n) {
      if (const EntityWindow* w = window_hint(i + kAheadWindow)) w->PrefetchForAdd(0);
    }
    if (i + kAheadAdd < n) {
      if (const EntityWindow* w = window_hint(i + kAheadAdd)) w->PrefetchForAdd(1);
    }
    const std::string_view key = EntityKeyView(evs[i].fields, key_indexes, &key_buf_);
    AddKeyed(evs[i], seqs[i], key, batch_hashes_[i]);
  }
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
  constexpr size_t kAheadSlot = 16, kAheadWindow = 12, kAheadArrays = 6, kAheadStates = 3, kAheadQueues = 1;
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
    if (i + kAheadQueues < due_.size()) {
      if (EntityWindow* w = live(due_[i + kAheadQueues])) w->Prefetch(bound, 2);
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
