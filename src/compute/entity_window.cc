#include "compute/entity_window.h"

#include <algorithm>

#include "compute/window_agg_internal.h"

namespace vigil {

using compute_internal::FeatureState;

ViewPlan::ViewPlan(const FeatureViewDef& view) : view_(&view) {
  for (const auto& f : view.features) {
    empty_.push_back(compute_internal::EmptyValue(f));
    int slot = -1;
    if (f.where_expr) {
      for (size_t i = 0; i < wheres_.size(); ++i) {
        if (wheres_[i]->text() == f.where_expr->text()) slot = static_cast<int>(i);
      }
      if (slot < 0) {
        slot = static_cast<int>(wheres_.size());
        wheres_.push_back(f.where_expr.get());
      }
    }
    where_slot_.push_back(slot);
  }
}

void ViewPlan::Extract(const Event& ev, Row* inputs) const {
  // Evaluate each distinct where once: 0 false, 1 true.
  char pass[64];
  std::vector<char> pass_big;
  char* p = pass;
  if (wheres_.size() > sizeof pass) {
    pass_big.resize(wheres_.size());
    p = pass_big.data();
  }
  for (size_t i = 0; i < wheres_.size(); ++i) p[i] = wheres_[i]->Matches(ev.fields) ? 1 : 0;
  const auto& features = view_->features;
  inputs->resize(features.size());
  for (size_t i = 0; i < features.size(); ++i) {
    const FeatureDef& f = features[i];
    Value& in = (*inputs)[i];
    if (where_slot_[i] >= 0 && !p[where_slot_[i]]) {
      in = Value::Null();
    } else if (f.field_index < 0) {
      in = Value::Bool(true);
    } else {
      in = ev.fields[f.field_index];
    }
  }
}

EntityWindow::EntityWindow(const ViewPlan* plan, std::string key)
    : plan_(plan), row_{std::move(key), kMinTimestamp, plan->empty_tuple()} {
  for (const auto& f : plan->view().features) features_.push_back(compute_internal::MakeFeatureState(f));
  expiry_.assign(features_.size(), kMaxTimestamp);
}
EntityWindow::~EntityWindow() = default;
EntityWindow::EntityWindow(EntityWindow&&) noexcept = default;

void EntityWindow::Add(TimestampMs ts, uint64_t seq, Row inputs) {
  // Events arrive nearly in order: insert from the back.
  Pending p{ts, seq, std::move(inputs)};
  auto it = pending_.end();
  while (it != pending_.begin() + static_cast<std::ptrdiff_t>(pending_head_)) {
    auto prev = it - 1;
    if (prev->ts < ts || (prev->ts == ts && prev->seq < seq)) break;
    it = prev;
  }
  pending_.insert(it, std::move(p));
  next_ = std::min(next_, ts);  // the only new instant
}

TimestampMs EntityWindow::ComputeNextInstant() const {
  TimestampMs t = kMaxTimestamp;
  if (pending_head_ < pending_.size()) t = pending_[pending_head_].ts;
  for (TimestampMs e : expiry_) t = std::min(t, e);
  DurationMs ttl = plan_->view().ttl;
  if (alive_ && ttl != kNoTtl) t = std::min(t, last_event_ + ttl);
  return t;
}

bool EntityWindow::Idle() const { return !alive_ && pending_head_ == pending_.size(); }

void EntityWindow::AdvanceTo(TimestampMs bound, const std::function<void(ChangelogRow&&)>& emit) {
  EmitUntil(bound, [&emit](const ChangelogRow& row) { emit(ChangelogRow(row)); });
}

void EntityWindow::EmitUntil(TimestampMs bound, const std::function<void(const ChangelogRow&)>& visit) {
  for (TimestampMs t = NextInstant(); t < bound; t = NextInstant()) ProcessInstant(t, visit);
  if (pending_head_ == pending_.size()) {
    pending_.clear();
    pending_head_ = 0;
  } else if (pending_head_ > 64 && pending_head_ * 2 > pending_.size()) {
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(pending_head_));
    pending_head_ = 0;
  }
}

void EntityWindow::ProcessInstant(TimestampMs t, const std::function<void(const ChangelogRow&)>& visit) {
  const size_t n = features_.size();
  uint64_t dirty = 0;  // bit i: feature i may have changed (features beyond 63 always checked)
  // Only features with something due are asked to evict (expiry_ mirrors NextExpiry()).
  for (size_t i = 0; i < n; ++i) {
    if (expiry_[i] <= t && features_[i]->EvictUpTo(t)) dirty |= i < 64 ? (1ULL << i) : 0;
  }
  // Leaves, then expiry, then arrivals: an event at exactly L + ttl starts afresh.
  DurationMs ttl = plan_->view().ttl;
  if (alive_ && ttl != kNoTtl && last_event_ + ttl <= t) {
    for (auto& f : features_) f->Clear();
    alive_ = false;
    dirty = ~0ULL;
  }
  while (pending_head_ < pending_.size() && pending_[pending_head_].ts == t) {
    const Row& in = pending_[pending_head_].inputs;
    for (size_t i = 0; i < n; ++i) {
      if (!in[i].is_null()) {
        features_[i]->Push(t, in[i]);
        dirty |= i < 64 ? (1ULL << i) : 0;
      }
    }
    alive_ = true;
    last_event_ = t;
    ++pending_head_;
  }
  bool changed = false;
  for (size_t i = 0; i < n; ++i) {
    if (i < 64 && !(dirty & (1ULL << i))) continue;
    expiry_[i] = features_[i]->NextExpiry();
    Value v = features_[i]->Current();
    if (v != row_.values[i]) {
      row_.values[i] = std::move(v);
      changed = true;
    }
  }
  next_ = ComputeNextInstant();
  if (changed) {
    row_.ts = t;
    visit(row_);
  }
}

}  // namespace vigil
