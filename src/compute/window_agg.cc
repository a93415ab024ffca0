#include <cmath>

#include "compute/window_agg_internal.h"

namespace vigil::compute_internal {
namespace {

// A sliding window of width w: a value pushed at ts is inside as of t iff ts > t - w,
// so it leaves at exactly ts + w.
//   count over 1h, events at 10:00 and 10:30:
//   as of 10:59:59.999 -> 2     as of 11:00 -> 1 (10:00 left)     as of 11:30 -> 0

class WindowCount final : public FeatureState {
 public:
  explicit WindowCount(DurationMs w) : w_(w) {}
  void Push(TimestampMs ts, const Value&) override { ts_.push_back(ts); }
  bool EvictUpTo(TimestampMs t) override {
    bool any = false;
    while (!ts_.empty() && ts_.front() + w_ <= t) {
      ts_.pop_front();
      any = true;
    }
    return any;
  }
  TimestampMs NextExpiry() const override { return ts_.empty() ? kMaxTimestamp : ts_.front() + w_; }
  Value Current() const override { return Value::Int64(static_cast<int64_t>(ts_.size())); }
  void Clear() override { ts_.clear(); }

 private:
  DurationMs w_;
  Ring<TimestampMs> ts_;
};

enum class Moment { kSum, kAvg, kStddev };

template <typename Agg>
Value MomentValue(const Agg& a, Moment m, Type out);

template <>
Value MomentValue(const SumAgg& a, Moment m, Type out) {
  if (m == Moment::kSum) return out == Type::kInt64 ? Value::Int64(a.isum) : Value::Double(a.sum);
  if (a.n == 0) return Value::Null();
  double total = out == Type::kInt64 ? static_cast<double>(a.isum) : a.sum;
  return Value::Double(total / static_cast<double>(a.n));
}

template <>
Value MomentValue(const MomentsAgg& a, Moment, Type) {
  if (a.n == 0) return Value::Null();
  double var = a.m2 / a.n;
  return Value::Double(var > 0 ? std::sqrt(var) : 0.0);
}

// sum and avg (SumAgg) or stddev (MomentsAgg) over a sliding window.
template <typename Agg>
class WindowMoments final : public FeatureState {
 public:
  WindowMoments(DurationMs w, Moment m, Type out, Type field) : w_(w), m_(m), out_(out), field_(field) {}
  void Push(TimestampMs ts, const Value& v) override { q_.Push(ts, Agg::Lift(v)); }
  bool EvictUpTo(TimestampMs t) override {
    bool any = false;
    while (!q_.empty() && q_.OldestTs() + w_ <= t) {
      q_.Pop();
      any = true;
    }
    return any;
  }
  TimestampMs NextExpiry() const override { return q_.empty() ? kMaxTimestamp : q_.OldestTs() + w_; }
  Value Current() const override {
    // An int64 sum for an int64 field; avg of int64 divides the exact integer total.
    return MomentValue(q_.Query(), m_, m_ == Moment::kAvg ? field_ : out_);
  }
  void Clear() override { q_.Clear(); }

 private:
  DurationMs w_;
  Moment m_;
  Type out_;
  Type field_;
  TwoStacks<Agg> q_;
};

// Strict weak order for min/max over one field type (numeric or string).
bool Less(const Value& a, const Value& b) {
  if (a.type() == Type::kString) return a.str() < b.str();
  if (a.type() == Type::kDouble || b.type() == Type::kDouble) return a.AsDouble() < b.AsDouble();
  return a.int64() < b.int64();
}

// A window of values in arrival order whose value is the front one. `first` pushes every
// value; min/max keep a monotonic deque (below), whose front is the extreme.
class FrontValueWindow : public FeatureState {
 public:
  explicit FrontValueWindow(DurationMs w) : w_(w) {}
  void Push(TimestampMs ts, const Value& v) override { q_.push_back({ts, v}); }
  bool EvictUpTo(TimestampMs t) override {
    bool any = false;
    while (!q_.empty() && q_.front().ts + w_ <= t) {
      q_.pop_front();
      any = true;
    }
    return any;
  }
  TimestampMs NextExpiry() const override { return q_.empty() ? kMaxTimestamp : q_.front().ts + w_; }
  Value Current() const override { return q_.empty() ? Value::Null() : q_.front().v; }
  void Clear() override { q_.clear(); }

 protected:
  struct Item {
    TimestampMs ts;
    Value v;
  };
  DurationMs w_;
  Ring<Item> q_;
};

// Monotonic deque: a newer value that is at least as extreme evicts older ones (they can
// never be the answer again).
class WindowExtreme final : public FrontValueWindow {
 public:
  WindowExtreme(DurationMs w, bool is_max) : FrontValueWindow(w), max_(is_max) {}
  void Push(TimestampMs ts, const Value& v) override {
    while (!q_.empty() && !Better(q_.back().v, v)) q_.pop_back();
    q_.push_back({ts, v});
  }

 private:
  // True if a stays strictly more extreme than b (b does not dominate a).
  bool Better(const Value& a, const Value& b) const { return max_ ? Less(b, a) : Less(a, b); }
  bool max_;
};

std::string DistinctKey(const Value& v) {
  // Distinct values of one field share a type, so the text form is unambiguous.
  if (v.type() == Type::kString) return v.str();
  if (v.type() == Type::kDouble) {
    double d = v.dbl() == 0 ? 0.0 : v.dbl();  // -0 and 0 are one value, as in SQL
    return FormatDouble(d);
  }
  return v.ToCsvText();
}

// An exact multiset of the values in the window. Values live once in a slot table; the
// queue holds slot numbers. Few distinct values (the usual case: a user's cards or
// devices) are found by a linear scan; past kIndexFrom a hash index is kept too.
class WindowDistinct final : public FeatureState {
 public:
  explicit WindowDistinct(DurationMs w) : w_(w) {}
  void Push(TimestampMs ts, const Value& v) override {
    // A string is its own key: look it up without a copy; only new values are stored.
    uint32_t slot;
    if (v.type() == Type::kString) {
      slot = Find(v.str());
      if (slot == kNone) slot = Insert(v.str());
    } else {
      std::string key = DistinctKey(v);
      slot = Find(key);
      if (slot == kNone) slot = Insert(std::move(key));
    }
    ++slots_[slot].count;
    q_.push_back({ts, slot});
  }
  bool EvictUpTo(TimestampMs t) override {
    bool any = false;
    while (!q_.empty() && q_.front().ts + w_ <= t) {
      Slot& s = slots_[q_.front().slot];
      if (--s.count == 0) Release(q_.front().slot);
      q_.pop_front();
      any = true;
    }
    return any;
  }
  TimestampMs NextExpiry() const override { return q_.empty() ? kMaxTimestamp : q_.front().ts + w_; }
  Value Current() const override { return Value::Int64(live_); }
  void Clear() override {
    q_.clear();
    slots_.clear();
    free_.clear();
    index_.clear();
    live_ = 0;
  }

 private:
  static constexpr uint32_t kNone = UINT32_MAX;
  static constexpr int64_t kIndexFrom = 32;
  struct Slot {
    std::string key;
    int64_t count = 0;  // 0: free
  };
  struct Item {
    TimestampMs ts;
    uint32_t slot;
  };
  uint32_t Find(const std::string& key) const {
    if (!index_.empty()) {
      auto it = index_.find(key);
      return it == index_.end() ? kNone : it->second;
    }
    for (uint32_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].count > 0 && slots_[i].key == key) return i;
    }
    return kNone;
  }
  uint32_t Insert(std::string key) {
    uint32_t slot;
    if (!free_.empty()) {
      slot = free_.back();
      free_.pop_back();
    } else {
      slot = static_cast<uint32_t>(slots_.size());
      slots_.emplace_back();
    }
    slots_[slot].key = std::move(key);
    ++live_;
    if (!index_.empty()) {
      index_.emplace(slots_[slot].key, slot);
    } else if (live_ > kIndexFrom) {
      for (uint32_t i = 0; i < slots_.size(); ++i) {
        if (slots_[i].count > 0 || i == slot) index_.emplace(slots_[i].key, i);
      }
    }
    return slot;
  }
  void Release(uint32_t slot) {
    if (!index_.empty()) index_.erase(slots_[slot].key);
    slots_[slot].key.clear();
    free_.push_back(slot);
    --live_;
  }
  DurationMs w_;
  Ring<Item> q_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
  std::unordered_map<std::string, uint32_t> index_;
  int64_t live_ = 0;
};

// last: the newest contributing value. It is also the last to leave, so one slot holds
// everything the window needs.
class WindowLast final : public FeatureState {
 public:
  explicit WindowLast(DurationMs w) : w_(w) {}
  void Push(TimestampMs ts, const Value& v) override {
    ts_ = ts;
    v_ = v;
    has_ = true;
  }
  bool EvictUpTo(TimestampMs t) override {
    if (has_ && ts_ + w_ <= t) {
      Clear();
      return true;
    }
    return false;
  }
  TimestampMs NextExpiry() const override { return has_ ? ts_ + w_ : kMaxTimestamp; }
  Value Current() const override { return has_ ? v_ : Value::Null(); }
  void Clear() override {
    has_ = false;
    v_ = Value::Null();
  }

 private:
  DurationMs w_;
  bool has_ = false;
  TimestampMs ts_ = 0;
  Value v_;
};

// Lifetime features: everything since the entity appeared (or since its ttl last
// expired). Nothing ever leaves, so running aggregates are exact by construction.
class Lifetime final : public FeatureState {
 public:
  Lifetime(AggKind agg, Type out, Type field) : agg_(agg), out_(out), field_(field) {}
  void Push(TimestampMs, const Value& v) override {
    switch (agg_) {
      case AggKind::kCount:
        ++count_;
        break;
      case AggKind::kSum:
      case AggKind::kAvg:
        sum_ = SumAgg::Combine(sum_, SumAgg::Lift(v));
        break;
      case AggKind::kStddev:
        moments_ = MomentsAgg::Combine(moments_, MomentsAgg::Lift(v));
        break;
      case AggKind::kMin:
        if (v_.is_null() || Less(v, v_)) v_ = v;
        break;
      case AggKind::kMax:
        if (v_.is_null() || Less(v_, v)) v_ = v;
        break;
      case AggKind::kCountDistinct:
        distinct_.emplace(DistinctKey(v), 1);
        break;
      case AggKind::kLast:
        v_ = v;
        break;
      case AggKind::kFirst:
        if (v_.is_null()) v_ = v;
        break;
    }
  }
  bool EvictUpTo(TimestampMs) override { return false; }
  TimestampMs NextExpiry() const override { return kMaxTimestamp; }
  Value Current() const override {
    switch (agg_) {
      case AggKind::kCount:
        return Value::Int64(count_);
      case AggKind::kSum:
        return MomentValue(sum_, Moment::kSum, out_);
      case AggKind::kAvg:
        return MomentValue(sum_, Moment::kAvg, field_);
      case AggKind::kStddev:
        return MomentValue(moments_, Moment::kStddev, out_);
      case AggKind::kCountDistinct:
        return Value::Int64(static_cast<int64_t>(distinct_.size()));
      default:
        return v_;
    }
  }
  void Clear() override {
    count_ = 0;
    sum_ = {};
    moments_ = {};
    v_ = Value::Null();
    distinct_.clear();
  }

 private:
  AggKind agg_;
  Type out_;
  Type field_;
  int64_t count_ = 0;
  SumAgg sum_;
  MomentsAgg moments_;
  Value v_;
  std::unordered_map<std::string, char> distinct_;
};

}  // namespace

Value EmptyValue(const FeatureDef& f) {
  switch (f.agg) {
    case AggKind::kCount:
    case AggKind::kCountDistinct:
      return Value::Int64(0);
    case AggKind::kSum:
      return f.output_type == Type::kInt64 ? Value::Int64(0) : Value::Double(0);
    default:
      return Value::Null();
  }
}

std::unique_ptr<FeatureState> MakeFeatureState(const FeatureDef& f) {
  if (!f.window) return std::make_unique<Lifetime>(f.agg, f.output_type, f.field_type);
  DurationMs w = *f.window;
  switch (f.agg) {
    case AggKind::kCount:
      return std::make_unique<WindowCount>(w);
    case AggKind::kSum:
      return std::make_unique<WindowMoments<SumAgg>>(w, Moment::kSum, f.output_type, f.field_type);
    case AggKind::kAvg:
      return std::make_unique<WindowMoments<SumAgg>>(w, Moment::kAvg, f.output_type, f.field_type);
    case AggKind::kStddev:
      return std::make_unique<WindowMoments<MomentsAgg>>(w, Moment::kStddev, f.output_type, f.field_type);
    case AggKind::kMin:
      return std::make_unique<WindowExtreme>(w, false);
    case AggKind::kMax:
      return std::make_unique<WindowExtreme>(w, true);
    case AggKind::kCountDistinct:
      return std::make_unique<WindowDistinct>(w);
    case AggKind::kLast:
      return std::make_unique<WindowLast>(w);
    case AggKind::kFirst:
      return std::make_unique<FrontValueWindow>(w);
  }
  return nullptr;
}

}  // namespace vigil::compute_internal
