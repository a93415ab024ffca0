#include "compute/entity_window.h"

#include <algorithm>
#include <cassert>
#include <new>

#include "compute/window_agg_internal.h"
#include "schema/row_codec.h"

namespace vigil {

using compute_internal::FeatureState;

namespace {

// ---------------------------------------------------------------------------------------
// The plan's shape in a checkpoint (format in entity_window.h).

// Persisted agg codes: they must not change (AggKind's own values may).
constexpr AggKind kAggOfCode[] = {AggKind::kCount,         AggKind::kSum,  AggKind::kAvg,
                                  AggKind::kMin,           AggKind::kMax,  AggKind::kStddev,
                                  AggKind::kCountDistinct, AggKind::kLast, AggKind::kFirst};
constexpr size_t kNumAggCodes = sizeof kAggOfCode / sizeof kAggOfCode[0];

uint8_t AggCode(AggKind k) {
  for (size_t c = 0; c < kNumAggCodes; ++c) {
    if (kAggOfCode[c] == k) return static_cast<uint8_t>(c);
  }
  return 0x0f;  // not reached: every AggKind has a code
}

constexpr DurationMs kWindowUnits[] = {1, 1000, 60'000, 3'600'000, 86'400'000};  // ms s m h d
constexpr uint64_t kRawWindow = 7;

void PutFeatureShape(const FeatureDef& f, std::string* out) {
  out->push_back(static_cast<char>(AggCode(f.agg) | (static_cast<uint8_t>(f.field_type) & 7) << 4 |
                                   (f.window ? 0x80 : 0)));
  if (!f.window) return;
  const DurationMs w = *f.window;
  uint64_t unit = 0;
  for (uint64_t u = 4; u > 0; --u) {
    if (w % kWindowUnits[u] == 0) {
      unit = u;
      break;
    }
  }
  const uint64_t count = static_cast<uint64_t>(w / kWindowUnits[unit]);
  if (w >= 0 && count < (uint64_t{1} << 60)) {
    PutVarint64(out, count << 3 | unit);
  } else {
    PutVarint64(out, kRawWindow);
    PutVarint64(out, static_cast<uint64_t>(w));
  }
}

// One feature's shape as saved, checked to be well-formed.
struct SavedShape {
  AggKind agg;
  Type field;
  std::optional<DurationMs> window;
};

Status GetFeatureShape(std::string_view* in, SavedShape* shape) {
  if (in->empty()) return Status::Corruption("truncated shape");
  const uint8_t b = static_cast<uint8_t>(in->front());
  in->remove_prefix(1);
  const uint8_t code = b & 0x0f;
  const uint8_t field = (b >> 4) & 7;
  if (code >= kNumAggCodes || field > static_cast<uint8_t>(Type::kTimestamp)) {
    return Status::Corruption("bad feature shape byte " + std::to_string(b));
  }
  shape->agg = kAggOfCode[code];
  shape->field = static_cast<Type>(field);
  shape->window.reset();
  if (!(b & 0x80)) return Status::OK();
  VIGIL_ASSIGN_OR_RETURN(uint64_t word, GetVarint64(in));
  const uint64_t unit = word & 7;
  uint64_t ms;
  if (unit == kRawWindow) {
    VIGIL_ASSIGN_OR_RETURN(ms, GetVarint64(in));
  } else if (unit < 5 && (word >> 3) <= static_cast<uint64_t>(INT64_MAX / kWindowUnits[unit])) {
    ms = (word >> 3) * static_cast<uint64_t>(kWindowUnits[unit]);
  } else {
    return Status::Corruption("bad window in feature shape");
  }
  if (ms > static_cast<uint64_t>(INT64_MAX)) return Status::Corruption("bad window in feature shape");
  shape->window = static_cast<DurationMs>(ms);
  return Status::OK();
}

// "sum of double over 24h", "count over 1h", "last of string over the entity's life".
std::string DescribeShape(const SavedShape& s) {
  std::string out(AggName(s.agg));
  if (s.field != Type::kNull) out += " of " + std::string(TypeName(s.field));
  out += s.window ? " over " + FormatDuration(*s.window) : " over the entity's life";
  return out;
}

// Reads the saved shape from the front of *in and checks it against the plan's.
// InvalidArgument names the first feature that differs.
Status CheckShape(const FeatureViewDef& view, std::string_view plan_shape, std::string_view* in) {
  if (in->substr(0, plan_shape.size()) == plan_shape) {  // the usual case: one comparison
    in->remove_prefix(plan_shape.size());
    return Status::OK();
  }
  const char* kRebuild =
      "; the view's definitions changed since the checkpoint: rebuild its state (backfill)";
  VIGIL_ASSIGN_OR_RETURN(uint64_t n, GetVarint64(in));
  if (n != view.features.size()) {
    return Status::InvalidArgument("saved with " + std::to_string(n) + " features, the view now has " +
                                   std::to_string(view.features.size()) + kRebuild);
  }
  for (size_t i = 0; i < n; ++i) {
    const FeatureDef& f = view.features[i];
    std::string mine;
    PutFeatureShape(f, &mine);
    std::string_view before = *in;
    SavedShape saved;
    VIGIL_RETURN_IF_ERROR(GetFeatureShape(in, &saved));
    if (before.substr(0, before.size() - in->size()) != mine) {
      return Status::InvalidArgument("feature " + std::to_string(i) + " '" + f.name + "' is " +
                                     DescribeShape({f.agg, f.field_type, f.window}) +
                                     ", the saved state holds " + DescribeShape(saved) + kRebuild);
    }
  }
  return Status::Corruption("shape does not match its own encoding");  // not reached
}

}  // namespace

ViewPlan::ViewPlan(const FeatureViewDef& view) : view_(&view) {
  PutVarint64(&shape_, view.features.size());
  for (const auto& f : view.features) PutFeatureShape(f, &shape_);
  const size_t n = view.features.size();
  expiry_offset_ = n * sizeof(FeatureState*);
  block_size_ = compute_internal::RoundUpToStateAlign(expiry_offset_ + n * sizeof(TimestampMs));
  for (const auto& f : view.features) {
    state_offset_.push_back(block_size_);
    block_size_ += compute_internal::RoundUpToStateAlign(compute_internal::FeatureStateSize(f));
  }
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
    int input = -1;
    if (f.field_index >= 0) {
      auto it = std::find(input_fields_.begin(), input_fields_.end(), f.field_index);
      input = static_cast<int>(it - input_fields_.begin());
      if (it == input_fields_.end()) input_fields_.push_back(f.field_index);
    }
    input_of_.push_back(input);
  }
}

void ViewPlan::Extract(const Event& ev, Row* inputs) const {
  inputs->resize(view_->features.size());
  Extract(ev, inputs->data());
}

void ViewPlan::Extract(const Event& ev, Value* inputs) const {
  std::vector<Value> fields(input_fields_.size());
  uint64_t pass = 0;
  std::vector<uint64_t> more(extra_where_words());
  Pack(ev, fields.data(), &pass, more.data());
  for (size_t i = 0; i < num_features(); ++i) {
    const Value* v = Input(i, fields.data(), pass, more.data());
    inputs[i] = v != nullptr ? *v : Value::Null();
  }
}

void ViewPlan::Pack(const Event& ev, Value* fields, uint64_t* pass, uint64_t* more) const {
  // Each distinct where is evaluated once.
  *pass = 0;
  std::fill(more, more + extra_where_words(), 0);
  for (size_t w = 0; w < wheres_.size(); ++w) {
    if (wheres_[w]->Matches(ev.fields)) SetWhereBit(w, pass, more);
  }
  for (size_t j = 0; j < input_fields_.size(); ++j) fields[j] = ev.fields[input_fields_[j]];
}

EntityWindow::EntityWindow(const ViewPlan* plan, std::string key)
    : plan_(plan), row_{std::move(key), kMinTimestamp, plan->empty_tuple()} {
  // The deleter destroys every state, so the block is handed over once all are placed.
  std::byte* block = static_cast<std::byte*>(::operator new(plan->block_size_));
  const auto& features = plan->view().features;
  auto** states = reinterpret_cast<FeatureState**>(block);
  auto* expiry = reinterpret_cast<TimestampMs*>(block + plan->expiry_offset_);
  for (size_t i = 0; i < features.size(); ++i) {
    states[i] = compute_internal::PlaceFeatureState(features[i], block + plan->state_offset_[i]);
    expiry[i] = kMaxTimestamp;
  }
  block_ = std::unique_ptr<std::byte, BlockDeleter>(block, BlockDeleter{plan});
}
EntityWindow::~EntityWindow() = default;
EntityWindow::EntityWindow(EntityWindow&&) noexcept = default;

void EntityWindow::BlockDeleter::operator()(std::byte* block) const {
  auto** states = reinterpret_cast<FeatureState**>(block);
  for (size_t i = 0; i < plan->num_features(); ++i) states[i]->~FeatureState();
  ::operator delete(block);
}

size_t EntityWindow::NewPending(TimestampMs ts, uint64_t seq) {
  // Events arrive nearly in order: find the place from the back.
  size_t pos = pending_.size();
  while (pos > pending_head_) {
    const Pending& prev = pending_[pos - 1];
    if (prev.ts < ts || (prev.ts == ts && prev.seq < seq)) break;
    --pos;
  }
  pending_.insert(pending_.begin() + static_cast<std::ptrdiff_t>(pos), Pending{ts, seq, 0});
  const size_t n = plan_->num_input_fields();
  if (inputs_.size() < pending_.size() * n) inputs_.resize(pending_.size() * n);
  // Shift the later events' inputs one place back (moves keep the string buffers).
  std::move_backward(inputs_.begin() + static_cast<std::ptrdiff_t>(pos * n),
                     inputs_.begin() + static_cast<std::ptrdiff_t>((pending_.size() - 1) * n),
                     inputs_.begin() + static_cast<std::ptrdiff_t>(pending_.size() * n));
  if (const size_t words = plan_->extra_where_words(); words > 0) {
    more_pass_.insert(more_pass_.begin() + static_cast<std::ptrdiff_t>(pos * words), words, 0);
  }
  next_ = std::min(next_, ts);  // the only new instant
  return pos;
}

void EntityWindow::AddEvent(const Event& ev, uint64_t seq) {
  const size_t k = NewPending(ev.ts, seq);
  plan_->Pack(ev, InputsOf(k), &pending_[k].pass, MorePassOf(k));
}

Status EntityWindow::PackInputs(size_t k, const Value* per_feature) {
  // A filter matched if a feature with it took something; a field's value is what any
  // feature on it took. Then every feature must take what it was given.
  const ViewPlan& plan = *plan_;
  const size_t n = plan.num_features();
  Value* in = InputsOf(k);
  for (size_t j = 0; j < plan.input_fields_.size(); ++j) in[j] = Value::Null();
  uint64_t* more = MorePassOf(k);
  pending_[k].pass = 0;
  std::fill(more, more + plan.extra_where_words(), 0);
  for (size_t i = 0; i < n; ++i) {
    if (per_feature[i].is_null()) continue;
    if (const int w = plan.where_slot_[i]; w >= 0) ViewPlan::SetWhereBit(w, &pending_[k].pass, more);
    if (const int f = plan.input_of_[i]; f >= 0 && in[f].is_null()) in[f] = per_feature[i];
  }
  for (size_t i = 0; i < n; ++i) {
    const Value* v = InputOf(k, i);
    bool same;
    if (plan.input_of_[i] < 0) {  // count without field: any value stands for "counted"
      same = (v != nullptr) == !per_feature[i].is_null();
    } else {
      same = v != nullptr ? *v == per_feature[i] : per_feature[i].is_null();
    }
    if (!same) {
      return Status::Corruption("the inputs of feature '" + plan.view().features[i].name +
                                "' disagree with the other features' (they cannot come from one event)");
    }
  }
  return Status::OK();
}

void EntityWindow::Add(TimestampMs ts, uint64_t seq, const Row& inputs) {
  Status s = PackInputs(NewPending(ts, seq), inputs.data());
  assert(s.ok() && "EntityWindow::Add: inputs that cannot come from one event");
  (void)s;
}

TimestampMs EntityWindow::ComputeNextInstant() const {
  TimestampMs t = kMaxTimestamp;
  if (pending_head_ < pending_.size()) t = pending_[pending_head_].ts;
  const TimestampMs* expiry = this->expiry();
  for (size_t i = 0; i < plan_->num_features(); ++i) t = std::min(t, expiry[i]);
  DurationMs ttl = plan_->view().ttl;
  if (alive_ && ttl != kNoTtl) t = std::min(t, last_event_ + ttl);
  return t;
}

void EntityWindow::Prefetch(TimestampMs bound, int stage) const {
  if (stage == 0) {
    __builtin_prefetch(block_.get());
    __builtin_prefetch(expiry());
    __builtin_prefetch(row_.values.data());
    if (pending_head_ < pending_.size()) {
      __builtin_prefetch(&pending_[pending_head_]);
      __builtin_prefetch(InputsOf(pending_head_));
    }
    return;
  }
  if (stage == 1) {
    const bool arrivals = pending_head_ < pending_.size() && pending_[pending_head_].ts < bound;
    for (size_t i = 0; i < plan_->num_features(); ++i) {
      if (arrivals || expiry()[i] < bound) __builtin_prefetch(states()[i]);
    }
    return;
  }
  for (size_t i = 0; i < plan_->num_features(); ++i) {
    if (expiry()[i] < bound) states()[i]->Prefetch();
  }
}

void EntityWindow::PrefetchForAdd(int stage) const {
  const char* self = reinterpret_cast<const char*>(this);
  if (stage == 0) {
    for (size_t off = 0; off < sizeof(EntityWindow); off += 64) __builtin_prefetch(self + off);
    return;
  }
  __builtin_prefetch(row_.entity.data());  // compared by the index (outside when long)
  __builtin_prefetch(pending_.data() + pending_.size(), 1);
  // The inputs are assigned over spare ones when there are some (else the vector grows):
  // their lines are read first, so fetch a few.
  const size_t n = plan_->num_input_fields();
  if (n > 0 && inputs_.size() >= (pending_.size() + 1) * n) {
    const char* in = reinterpret_cast<const char*>(inputs_.data() + pending_.size() * n);
    const size_t bytes = std::min<size_t>(n * sizeof(Value), 4 * 64);
    for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(in + off, 1);
  }
}

bool EntityWindow::Idle() const { return !alive_ && pending_head_ == pending_.size(); }

void EntityWindow::AdvanceTo(TimestampMs bound, const std::function<void(ChangelogRow&&)>& emit) {
  EmitUntil(bound, [&emit](const ChangelogRow& row) { emit(ChangelogRow(row)); });
}

void EntityWindow::EmitUntil(TimestampMs bound, const std::function<void(const ChangelogRow&)>& visit) {
  for (TimestampMs t = NextInstant(); t < bound; t = NextInstant()) ProcessInstant(t, visit);
  const size_t n = plan_->num_input_fields();
  const size_t words = plan_->extra_where_words();
  if (pending_head_ == pending_.size()) {
    pending_.clear();
    more_pass_.clear();
    pending_head_ = 0;
    // Spare inputs for a few events are worth keeping; a burst's are not.
    if (inputs_.size() > kSparePending * n) {
      inputs_.clear();
      inputs_.shrink_to_fit();
    }
  } else if (pending_head_ > 64 && pending_head_ * 2 > pending_.size()) {
    std::move(inputs_.begin() + static_cast<std::ptrdiff_t>(pending_head_ * n),
              inputs_.begin() + static_cast<std::ptrdiff_t>(pending_.size() * n), inputs_.begin());
    more_pass_.erase(more_pass_.begin(),
                     more_pass_.begin() + static_cast<std::ptrdiff_t>(pending_head_ * words));
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(pending_head_));
    pending_head_ = 0;
  }
}

void EntityWindow::ProcessInstant(TimestampMs t, const std::function<void(const ChangelogRow&)>& visit) {
  const size_t n = plan_->num_features();
  FeatureState* const* states = this->states();
  TimestampMs* expiry = this->expiry();
  uint64_t dirty = 0;  // bit i: feature i may have changed (features beyond 63 always checked)
  // Only features with something due are asked to evict (expiry() mirrors NextExpiry()).
  for (size_t i = 0; i < n; ++i) {
    if (expiry[i] <= t && states[i]->EvictUpTo(t)) dirty |= i < 64 ? (1ULL << i) : 0;
  }
  // Leaves, then expiry, then arrivals: an event at exactly L + ttl starts afresh.
  DurationMs ttl = plan_->view().ttl;
  if (alive_ && ttl != kNoTtl && last_event_ + ttl <= t) {
    for (size_t i = 0; i < n; ++i) states[i]->Clear();
    alive_ = false;
    dirty = ~0ULL;
  }
  while (pending_head_ < pending_.size() && pending_[pending_head_].ts == t) {
    for (size_t i = 0; i < n; ++i) {
      if (const Value* in = InputOf(pending_head_, i)) {
        states[i]->Push(t, *in);
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
    expiry[i] = states[i]->NextExpiry();
    Value v = states[i]->Current();
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

void EntityWindow::Save(std::string* out) const {
  out->push_back(static_cast<char>(kStateFormatVersion));
  out->append(plan_->shape_);
  out->push_back(alive_ ? 1 : 0);
  PutZigZag(out, last_event_);
  compute_internal::PutTsDelta(out, last_event_, row_.ts);
  const size_t n = plan_->num_features();
  PutVarint64(out, pending_.size() - pending_head_);
  compute_internal::TsWriter ts(last_event_);
  uint64_t prev_seq = 0;
  for (size_t i = pending_head_; i < pending_.size(); ++i) {
    const Pending& p = pending_[i];
    ts.Put(out, p.ts);
    if (i == pending_head_) {
      PutVarint64(out, p.seq);
    } else {
      PutZigZag(out, static_cast<int64_t>(p.seq - prev_seq));
    }
    prev_seq = p.seq;
    for (size_t j = 0; j < n; ++j) {
      static const Value kNone;
      const Value* v = InputOf(i, j);
      EncodeValue(v != nullptr ? *v : kNone, out);
    }
  }
  for (size_t i = 0; i < n; ++i) states()[i]->Save(last_event_, out);
}

Status EntityWindow::Load(std::string_view* in) {
  if (in->empty()) return Status::Corruption("no bytes");
  const uint8_t version = static_cast<uint8_t>(in->front());
  if (version != kStateFormatVersion) {
    return Status::NotSupported("checkpoint format version " + std::to_string(version) +
                                ", this build reads version " + std::to_string(kStateFormatVersion));
  }
  in->remove_prefix(1);
  VIGIL_RETURN_IF_ERROR(CheckShape(plan_->view(), plan_->shape_, in));
  if (in->empty() || static_cast<uint8_t>(in->front()) > 1) return Status::Corruption("bad alive byte");
  alive_ = in->front() == 1;
  in->remove_prefix(1);
  VIGIL_ASSIGN_OR_RETURN(last_event_, GetZigZag(in));
  if (last_event_ < kMinTimestamp || last_event_ > kMaxTimestamp) {
    return Status::Corruption("last event timestamp out of range");
  }
  VIGIL_RETURN_IF_ERROR(compute_internal::GetTsDelta(in, last_event_, &row_.ts));

  // Pending events: each takes at least a ts byte, a seq byte and a tag byte per feature.
  const size_t n = plan_->num_features();
  size_t count;
  VIGIL_RETURN_IF_ERROR(compute_internal::GetCount(in, 2 + n, &count));
  compute_internal::TsReader ts(last_event_);
  uint64_t seq = 0;
  pending_.reserve(count);
  inputs_.resize(count * plan_->num_input_fields());
  more_pass_.resize(count * plan_->extra_where_words());
  Row per_feature(n);
  for (size_t i = 0; i < count; ++i) {
    Pending p{0, 0, 0};
    VIGIL_RETURN_IF_ERROR(ts.Next(in, &p.ts));
    if (i == 0) {
      VIGIL_ASSIGN_OR_RETURN(seq, GetVarint64(in));
    } else {
      VIGIL_ASSIGN_OR_RETURN(int64_t d, GetZigZag(in));
      seq += static_cast<uint64_t>(d);
    }
    p.seq = seq;
    for (size_t j = 0; j < n; ++j) {
      VIGIL_RETURN_IF_ERROR(DecodeValue(in, &per_feature[j]).WithContext("pending event"));
    }
    pending_.push_back(p);
    VIGIL_RETURN_IF_ERROR(PackInputs(i, per_feature.data()).WithContext("pending event"));
  }

  for (size_t i = 0; i < n; ++i) {
    Status s = states()[i]->Load(last_event_, in);
    if (!s.ok()) return s.WithContext("feature '" + plan_->view().features[i].name + "'");
  }
  if (!in->empty()) return Status::Corruption(std::to_string(in->size()) + " bytes left over");

  // The caches Save leaves out (entity_window.h says why they are exact).
  for (size_t i = 0; i < n; ++i) {
    expiry()[i] = states()[i]->NextExpiry();
    row_.values[i] = states()[i]->Current();
  }
  next_ = ComputeNextInstant();
  return Status::OK();
}

Result<EntityWindow> EntityWindow::Restore(const ViewPlan* plan, std::string key, std::string_view bytes) {
  EntityWindow w(plan, std::move(key));
  std::string_view in = bytes;
  Status s = w.Load(&in);
  if (!s.ok()) {
    std::string where =
        "window state of entity '" + DisplayEntityKey(w.key()) + "' of view '" + plan->view().name + "'";
    if (s.IsCorruption()) {
      where +=
          " (byte " + std::to_string(bytes.size() - in.size()) + " of " + std::to_string(bytes.size()) + ")";
    }
    return s.WithContext(where);
  }
  return Result<EntityWindow>(std::move(w));
}

}  // namespace vigil
