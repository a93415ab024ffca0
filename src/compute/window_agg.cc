#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <functional>
#include <new>
#include <type_traits>

#include "compute/window_agg_internal.h"
#include "schema/row_codec.h"

namespace vigil::compute_internal {

// ---------------------------------------------------------------------------------------
// Checkpoint encoding helpers

void PutTsDelta(std::string* out, TimestampMs base, TimestampMs ts) { PutZigZag(out, ts - base); }

Status GetTsDelta(std::string_view* in, TimestampMs base, TimestampMs* ts) {
  VIGIL_ASSIGN_OR_RETURN(int64_t d, GetZigZag(in));
  // base is in range, so the bounds cannot overflow, and neither can the sum within them.
  if (d < kMinTimestamp - base || d > kMaxTimestamp - base) {
    return Status::Corruption("timestamp out of range");
  }
  *ts = base + d;
  return Status::OK();
}

Status GetCount(std::string_view* in, size_t min_bytes_each, size_t* n) {
  VIGIL_ASSIGN_OR_RETURN(uint64_t v, GetVarint64(in));
  if (v > in->size() / min_bytes_each) {
    return Status::Corruption("count " + std::to_string(v) + " exceeds what the remaining " +
                              std::to_string(in->size()) + " bytes can hold");
  }
  *n = static_cast<size_t>(v);
  return Status::OK();
}

void TsWriter::Put(std::string* out, TimestampMs ts) {
  if (first_) {
    PutTsDelta(out, prev_, ts);
    first_ = false;
  } else {
    assert(ts >= prev_);
    PutVarint64(out, static_cast<uint64_t>(ts - prev_));
  }
  prev_ = ts;
}

Status TsReader::Next(std::string_view* in, TimestampMs* ts) {
  if (first_) {
    VIGIL_RETURN_IF_ERROR(GetTsDelta(in, prev_, ts));
    first_ = false;
  } else {
    VIGIL_ASSIGN_OR_RETURN(uint64_t d, GetVarint64(in));
    if (d > static_cast<uint64_t>(kMaxTimestamp - prev_)) return Status::Corruption("timestamp out of range");
    *ts = prev_ + static_cast<TimestampMs>(d);
  }
  prev_ = *ts;
  return Status::OK();
}

namespace {

// Counts the engine keeps in an int64 and increments: decoded ones stay far from overflow.
constexpr uint64_t kMaxCount = uint64_t{1} << 62;

Status GetBoundedCount(std::string_view* in, int64_t* n) {
  VIGIL_ASSIGN_OR_RETURN(uint64_t v, GetVarint64(in));
  if (v > kMaxCount) return Status::Corruption("count " + std::to_string(v) + " out of range");
  *n = static_cast<int64_t>(v);
  return Status::OK();
}

// Doubles of aggregates: the 8 bytes of IEEE-754 binary64, little-endian, any bits (the
// exact bits are what a restored window must reproduce).
void PutDouble(std::string* out, double d) {
  uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  char buf[8];
  for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>(bits >> (8 * i));
  out->append(buf, 8);
}

Status GetDouble(std::string_view* in, double* d) {
  if (in->size() < 8) return Status::Corruption("truncated double");
  uint64_t bits = 0;
  for (int i = 0; i < 8; ++i) bits |= static_cast<uint64_t>(static_cast<uint8_t>((*in)[i])) << (8 * i);
  in->remove_prefix(8);
  std::memcpy(d, &bits, sizeof bits);
  return Status::OK();
}

bool IsPositiveZero(double d) {
  uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  return bits == 0;
}

void PutString(std::string* out, std::string_view s) {
  PutVarint64(out, s.size());
  out->append(s);
}

Status GetString(std::string_view* in, std::string* s) {
  VIGIL_ASSIGN_OR_RETURN(uint64_t len, GetVarint64(in));
  if (len > in->size()) return Status::Corruption("string length runs past the end");
  s->assign(in->data(), static_cast<size_t>(len));
  in->remove_prefix(static_cast<size_t>(len));
  return Status::OK();
}

// A value a feature holds (never null). Its type is the feature's field type, fixed by
// the plan, so it is written without row_codec's tag byte, as the bare payload. A state
// holding a value of another type (the engine never feeds one; a test may) writes all its
// values tagged instead, and says so in its record's header.
void PutTypedValue(std::string* out, const Value& v, Type t, bool tagged) {
  if (tagged) {
    EncodeValue(v, out);
    return;
  }
  switch (t) {
    case Type::kInt64:
    case Type::kTimestamp:
      PutZigZag(out, v.int64());
      break;
    case Type::kDouble:
      PutDouble(out, v.dbl());
      break;
    case Type::kBool:
      out->push_back(v.boolean() ? 1 : 0);
      break;
    case Type::kString:
      PutString(out, v.str());
      break;
    case Type::kNull:
      break;
  }
}

Status GetTypedValue(std::string_view* in, Type t, bool tagged, Value* v) {
  if (tagged) {
    VIGIL_RETURN_IF_ERROR(DecodeValue(in, v));
    if (v->is_null()) return Status::Corruption("null value in a feature's state");
    return Status::OK();
  }
  switch (t) {
    case Type::kInt64:
    case Type::kTimestamp: {
      VIGIL_ASSIGN_OR_RETURN(int64_t i, GetZigZag(in));
      *v = t == Type::kInt64 ? Value::Int64(i) : Value::Timestamp(i);
      return Status::OK();
    }
    case Type::kDouble: {
      double d;
      VIGIL_RETURN_IF_ERROR(GetDouble(in, &d));
      if (!std::isfinite(d)) return Status::Corruption("value is NaN or infinite");
      *v = Value::Double(d);
      return Status::OK();
    }
    case Type::kBool: {
      if (in->empty()) return Status::Corruption("truncated bool");
      uint8_t b = static_cast<uint8_t>(in->front());
      in->remove_prefix(1);
      if (b > 1) return Status::Corruption("bool byte is not 0 or 1");
      *v = Value::Bool(b == 1);
      return Status::OK();
    }
    case Type::kString: {
      std::string str;
      VIGIL_RETURN_IF_ERROR(GetString(in, &str));
      *v = Value::String(std::move(str));
      return Status::OK();
    }
    case Type::kNull:
      break;
  }
  return Status::Corruption("untagged value of a feature without field");
}

// A nullable single value (lifetime min/max/last/first): a header byte, 0 null, 1 the
// untagged value follows, 2 the tagged value follows.
void PutOptionalValue(std::string* out, const Value& v, Type t) {
  if (v.is_null()) {
    out->push_back(0);
    return;
  }
  bool tagged = v.type() != t;
  out->push_back(tagged ? 2 : 1);
  PutTypedValue(out, v, t, tagged);
}

Status GetOptionalValue(std::string_view* in, Type t, Value* v) {
  if (in->empty()) return Status::Corruption("truncated value header");
  uint8_t h = static_cast<uint8_t>(in->front());
  in->remove_prefix(1);
  if (h == 0) {
    *v = Value::Null();
    return Status::OK();
  }
  if (h > 2) return Status::Corruption("bad value header " + std::to_string(h));
  return GetTypedValue(in, t, h == 2, v);
}

// How the two-stacks queue's aggregates are written. Front items hold suffix aggregates,
// back items the pushed (lifted) ones. Counts are not written: a pushed aggregate counts
// 1, and the front item at index i (newest first) counts i + 1, as Lift and Flip make
// them (asserted on save).
template <typename Agg>
struct AggCodec;

// SumAgg: a double field leaves isum at 0 and an int64 field leaves sum at +0.0, so the
// queue's header says which of the two its items carry (bit 0: sum, bit 1: isum).
template <>
struct AggCodec<SumAgg> {
  static unsigned Fields(const SumAgg& a) {
    return (IsPositiveZero(a.sum) ? 0u : 1u) | (a.isum == 0 ? 0u : 2u);
  }
  static void Put(const SumAgg& a, unsigned fields, bool /*suffix*/, std::string* out) {
    if (fields & 1) PutDouble(out, a.sum);
    if (fields & 2) PutZigZag(out, a.isum);
  }
  static Status Get(std::string_view* in, unsigned fields, bool /*suffix*/, size_t count, SumAgg* a) {
    *a = SumAgg::Identity();
    if (fields & 1) VIGIL_RETURN_IF_ERROR(GetDouble(in, &a->sum));
    if (fields & 2) {
      VIGIL_ASSIGN_OR_RETURN(a->isum, GetZigZag(in));
    }
    a->n = static_cast<int64_t>(count);
    return Status::OK();
  }
  static bool Counts(const SumAgg& a, size_t count) { return a.n == static_cast<int64_t>(count); }
};

// MomentsAgg: a pushed value is {1, v, 0}: only its mean is written; a suffix aggregate
// writes mean and m2.
template <>
struct AggCodec<MomentsAgg> {
  static unsigned Fields(const MomentsAgg&) { return 0; }
  static void Put(const MomentsAgg& a, unsigned, bool suffix, std::string* out) {
    assert(suffix || IsPositiveZero(a.m2));
    PutDouble(out, a.mean);
    if (suffix) PutDouble(out, a.m2);
  }
  static Status Get(std::string_view* in, unsigned, bool suffix, size_t count, MomentsAgg* a) {
    *a = MomentsAgg::Identity();
    VIGIL_RETURN_IF_ERROR(GetDouble(in, &a->mean));
    if (suffix) VIGIL_RETURN_IF_ERROR(GetDouble(in, &a->m2));
    a->n = static_cast<double>(count);
    return Status::OK();
  }
  static bool Counts(const MomentsAgg& a, size_t count) { return a.n == static_cast<double>(count); }
};

// A sliding window of width w: a value pushed at ts is inside as of t iff ts > t - w,
// so it leaves at exactly ts + w.
//   count over 1h, events at 10:00 and 10:30:
//   as of 10:59:59.999 -> 2     as of 11:00 -> 1 (10:00 left)     as of 11:30 -> 0

// Saved as: varint n, then the n timestamps (TsWriter).
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
  void Prefetch() const override { ts_.PrefetchFront(); }
  Value Current() const override { return Value::Int64(static_cast<int64_t>(ts_.size())); }
  void Clear() override { ts_.clear(); }
  void Save(TimestampMs base, std::string* out) const override {
    PutVarint64(out, ts_.size());
    TsWriter ts(base);
    for (size_t i = 0; i < ts_.size(); ++i) ts.Put(out, ts_[i]);
  }
  Status Load(TimestampMs base, std::string_view* in) override {
    size_t n;
    VIGIL_RETURN_IF_ERROR(GetCount(in, 1, &n));
    TsReader ts(base);
    for (size_t i = 0; i < n; ++i) {
      TimestampMs t;
      VIGIL_RETURN_IF_ERROR(ts.Next(in, &t));
      ts_.push_back(t);
    }
    return Status::OK();
  }

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
//
// Saved as: varint front size, varint (back size << 2 | fields), then every item oldest
// first, front stack then back stack, each as its timestamp (TsWriter) and its aggregate
// (AggCodec; front: the suffix aggregate, back: the pushed one).
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
  void Prefetch() const override { q_.PrefetchOldest(); }
  Value Current() const override {
    // An int64 sum for an int64 field; avg of int64 divides the exact integer total.
    return MomentValue(q_.Query(), m_, m_ == Moment::kAvg ? field_ : out_);
  }
  void Clear() override { q_.Clear(); }
  void Save(TimestampMs base, std::string* out) const override {
    using Codec = AggCodec<Agg>;
    const auto& front = q_.front_stack();
    const auto& back = q_.back_stack();
    unsigned fields = 0;
    for (const auto& it : front) fields |= Codec::Fields(it.agg);
    for (const auto& it : back) fields |= Codec::Fields(it.agg);
    PutVarint64(out, front.size());
    PutVarint64(out, (uint64_t{back.size()} << 2) | fields);
    TsWriter ts(base);
    for (size_t i = front.size(); i-- > 0;) {
      assert(Codec::Counts(front[i].agg, i + 1));
      ts.Put(out, front[i].ts);
      Codec::Put(front[i].agg, fields, true, out);
    }
    for (const auto& it : back) {
      assert(Codec::Counts(it.agg, 1));
      ts.Put(out, it.ts);
      Codec::Put(it.agg, fields, false, out);
    }
  }
  Status Load(TimestampMs base, std::string_view* in) override {
    using Codec = AggCodec<Agg>;
    using Item = typename TwoStacks<Agg>::Item;
    size_t n_front;
    VIGIL_RETURN_IF_ERROR(GetCount(in, 1, &n_front));
    VIGIL_ASSIGN_OR_RETURN(uint64_t back_word, GetVarint64(in));
    const unsigned fields = static_cast<unsigned>(back_word & 3);
    if (fields != 0 && !std::is_same_v<Agg, SumAgg>) return Status::Corruption("bad queue header");
    if ((back_word >> 2) > in->size()) return Status::Corruption("queue size exceeds the remaining bytes");
    const size_t n_back = static_cast<size_t>(back_word >> 2);
    if (n_front > in->size() - n_back) return Status::Corruption("queue size exceeds the remaining bytes");
    TsReader ts(base);
    std::vector<Item> front(n_front);
    for (size_t i = n_front; i-- > 0;) {
      VIGIL_RETURN_IF_ERROR(ts.Next(in, &front[i].ts));
      VIGIL_RETURN_IF_ERROR(Codec::Get(in, fields, true, i + 1, &front[i].agg));
    }
    std::vector<Item> back(n_back);
    for (Item& it : back) {
      VIGIL_RETURN_IF_ERROR(ts.Next(in, &it.ts));
      VIGIL_RETURN_IF_ERROR(Codec::Get(in, fields, false, 1, &it.agg));
    }
    q_.Restore(std::move(front), std::move(back));
    return Status::OK();
  }

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
//
// Saved as: varint (n << 1 | tagged), then each item oldest first as its timestamp
// (TsWriter) and its value (untagged unless `tagged`).
class FrontValueWindow : public FeatureState {
 public:
  FrontValueWindow(DurationMs w, Type field) : w_(w), field_(field) {}
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
  void Prefetch() const override { q_.PrefetchFront(); }
  Value Current() const override { return q_.empty() ? Value::Null() : q_.front().v; }
  void Clear() override { q_.clear(); }
  void Save(TimestampMs base, std::string* out) const override {
    bool tagged = false;
    for (size_t i = 0; i < q_.size(); ++i) tagged |= q_[i].v.type() != field_;
    PutVarint64(out, (uint64_t{q_.size()} << 1) | (tagged ? 1 : 0));
    TsWriter ts(base);
    for (size_t i = 0; i < q_.size(); ++i) {
      ts.Put(out, q_[i].ts);
      PutTypedValue(out, q_[i].v, field_, tagged);
    }
  }
  Status Load(TimestampMs base, std::string_view* in) override {
    VIGIL_ASSIGN_OR_RETURN(uint64_t word, GetVarint64(in));
    const bool tagged = word & 1;
    if ((word >> 1) > in->size()) return Status::Corruption("queue size exceeds the remaining bytes");
    const size_t n = static_cast<size_t>(word >> 1);
    TsReader ts(base);
    for (size_t i = 0; i < n; ++i) {
      Item it;
      VIGIL_RETURN_IF_ERROR(ts.Next(in, &it.ts));
      VIGIL_RETURN_IF_ERROR(GetTypedValue(in, field_, tagged, &it.v));
      q_.push_back(std::move(it));
    }
    return Status::OK();
  }

 protected:
  struct Item {
    TimestampMs ts = 0;
    Value v;
  };
  DurationMs w_;
  Type field_;
  Ring<Item> q_;
};

// Monotonic deque: a newer value that is at least as extreme evicts older ones (they can
// never be the answer again).
class WindowExtreme final : public FrontValueWindow {
 public:
  WindowExtreme(DurationMs w, bool is_max, Type field) : FrontValueWindow(w, field), max_(is_max) {}
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

// A distinct value's key text: up to kInline bytes in place (ids, IPs and country codes:
// comparing them reads no cache line but the slot's), longer ones on the heap. As large
// as a std::string, which keeps its text on the heap past 15 bytes, so that a device id
// of 20 bytes cost a miss per comparison. Move-only.
class DistinctKeyText {
 public:
  static constexpr size_t kInline = 24;
  DistinctKeyText() = default;
  DistinctKeyText(DistinctKeyText&& o) noexcept : size_(o.size_) {
    std::memcpy(in_, o.in_, kInline);  // the text, or the heap pointer
    o.size_ = 0;
  }
  DistinctKeyText& operator=(DistinctKeyText&& o) noexcept {
    if (this != &o) {
      clear();
      size_ = o.size_;
      std::memcpy(in_, o.in_, kInline);
      o.size_ = 0;
    }
    return *this;
  }
  DistinctKeyText(const DistinctKeyText&) = delete;
  DistinctKeyText& operator=(const DistinctKeyText&) = delete;
  ~DistinctKeyText() { clear(); }

  std::string_view view() const { return std::string_view(data(), size_); }
  bool operator==(std::string_view k) const {
    return k.size() == size_ && std::memcmp(data(), k.data(), size_) == 0;
  }
  void assign(std::string_view k) {
    clear();
    size_ = static_cast<uint32_t>(k.size());
    if (size_ > kInline) heap_ = new char[size_];
    std::memcpy(data(), k.data(), size_);
  }
  void clear() {
    if (size_ > kInline) delete[] heap_;
    size_ = 0;
  }

 private:
  const char* data() const { return size_ > kInline ? heap_ : in_; }
  char* data() { return size_ > kInline ? heap_ : in_; }
  union {
    char in_[kInline];
    char* heap_;
  };
  uint32_t size_ = 0;
};

// An exact multiset of the values in the window. Values live once in a slot table; the
// queue holds slot numbers. Few distinct values (the usual case: a user's cards or
// devices) are found by a linear scan; past kIndexFrom a hash index is kept too.
//
// Saved in a form that does not depend on the slot numbering: varint k, the k distinct
// keys (varint length, bytes) in the order they first appear in the queue, then varint
// n and each queue item oldest first as its timestamp (TsWriter) and, when k > 1, its
// key's number in that list (varint). Restoring pushes the items again, so counts, the
// free list and the index are rebuilt rather than trusted.
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
      const std::string key = DistinctKey(v);
      slot = Find(key);
      if (slot == kNone) slot = Insert(key);
    }
    ++At(slot).count;
    q_.push_back({ts, slot});
  }
  bool EvictUpTo(TimestampMs t) override {
    bool any = false;
    while (!q_.empty() && q_.front().ts + w_ <= t) {
      Slot& s = At(q_.front().slot);
      if (--s.count == 0) Release(q_.front().slot);
      q_.pop_front();
      any = true;
    }
    return any;
  }
  TimestampMs NextExpiry() const override { return q_.empty() ? kMaxTimestamp : q_.front().ts + w_; }
  void Prefetch() const override { q_.PrefetchFront(); }
  Value Current() const override { return Value::Int64(live_); }
  void Clear() override {
    q_.clear();
    for (Slot& s : inline_slots_) s = Slot();
    more_slots_.clear();
    free_.clear();
    index_.reset();
    live_ = 0;
  }
  void Save(TimestampMs base, std::string* out) const override {
    std::vector<uint32_t> number(NumSlots(), kNone);     // slot -> its key's number
    std::vector<uint32_t> order;                         // number -> slot
    for (size_t i = 0; i < q_.size(); ++i) {
      uint32_t slot = q_[i].slot;
      if (number[slot] == kNone) {
        number[slot] = static_cast<uint32_t>(order.size());
        order.push_back(slot);
      }
    }
    PutVarint64(out, order.size());
    for (uint32_t slot : order) PutString(out, At(slot).key.view());
    PutVarint64(out, q_.size());
    TsWriter ts(base);
    for (size_t i = 0; i < q_.size(); ++i) {
      ts.Put(out, q_[i].ts);
      if (order.size() > 1) PutVarint64(out, number[q_[i].slot]);
    }
  }
  Status Load(TimestampMs base, std::string_view* in) override {
    size_t k;
    VIGIL_RETURN_IF_ERROR(GetCount(in, 1, &k));
    std::vector<std::string> keys(k);
    for (std::string& key : keys) VIGIL_RETURN_IF_ERROR(GetString(in, &key));
    size_t n;
    VIGIL_RETURN_IF_ERROR(GetCount(in, 1, &n));
    if (n < k) return Status::Corruption("more distinct keys than values in the window");
    std::vector<uint32_t> slot_of(k);
    size_t seen = 0;  // keys 0..seen-1 have appeared
    TsReader ts(base);
    for (size_t i = 0; i < n; ++i) {
      TimestampMs t;
      VIGIL_RETURN_IF_ERROR(ts.Next(in, &t));
      uint64_t number = 0;
      if (k > 1) {
        VIGIL_ASSIGN_OR_RETURN(number, GetVarint64(in));
      }
      if (number > seen || number >= k) return Status::Corruption("distinct key number out of order");
      if (number == seen) {
        if (Find(keys[number]) != kNone) return Status::Corruption("distinct key listed twice");
        slot_of[number] = Insert(keys[number]);
        ++seen;
      }
      uint32_t slot = slot_of[number];
      ++At(slot).count;
      q_.push_back({t, slot});
    }
    if (seen != k) return Status::Corruption("distinct key not in the window");
    return Status::OK();
  }

 private:
  static constexpr uint32_t kNone = UINT32_MAX;
  static constexpr int64_t kIndexFrom = 32;
  struct Slot {
    DistinctKeyText key;
    int64_t count = 0;  // 0: free
  };
  struct Item {
    TimestampMs ts;
    uint32_t slot;
  };
  bool Indexed() const { return index_ && !index_->empty(); }
  uint32_t Find(std::string_view key) const {
    if (Indexed()) {
      auto it = index_->find(key);
      return it == index_->end() ? kNone : it->second;
    }
    for (uint32_t i = 0; i < NumSlots(); ++i) {
      const Slot& s = At(i);
      if (s.count > 0 && s.key == key) return i;
    }
    return kNone;
  }
  uint32_t Insert(std::string_view key) {
    uint32_t slot = 0;
    while (slot < kInlineSlots && inline_slots_[slot].count > 0) ++slot;
    if (slot < kInlineSlots) {
      // a free inline slot (count 0: Push counts it next)
    } else if (!free_.empty()) {
      slot = free_.back();
      free_.pop_back();
    } else {
      slot = NumSlots();
      more_slots_.emplace_back();
    }
    At(slot).key.assign(key);
    ++live_;
    if (Indexed()) {
      index_->emplace(key, slot);
    } else if (live_ > kIndexFrom) {
      if (!index_) index_ = std::make_unique<Index>();
      for (uint32_t i = 0; i < NumSlots(); ++i) {
        if (At(i).count > 0 || i == slot) index_->emplace(At(i).key.view(), i);
      }
    }
    return slot;
  }
  void Release(uint32_t slot) {
    if (Indexed()) index_->erase(index_->find(At(slot).key.view()));
    At(slot).key.clear();
    if (slot >= kInlineSlots) free_.push_back(slot);
    --live_;
  }
  DurationMs w_;
  Ring<Item> q_;
  // Slots 0..kInlineSlots-1 live in the state itself (most windows hold one or two
  // distinct values, read here without a miss of their own), the rest in more_slots_.
  // A slot with count 0 is free; free_ lists the free ones of more_slots_.
  static constexpr uint32_t kInlineSlots = 2;
  Slot& At(uint32_t slot) {
    return slot < kInlineSlots ? inline_slots_[slot] : more_slots_[slot - kInlineSlots];
  }
  const Slot& At(uint32_t slot) const {
    return slot < kInlineSlots ? inline_slots_[slot] : more_slots_[slot - kInlineSlots];
  }
  uint32_t NumSlots() const { return kInlineSlots + static_cast<uint32_t>(more_slots_.size()); }
  Slot inline_slots_[kInlineSlots];
  std::vector<Slot> more_slots_;
  std::vector<uint32_t> free_;
  // Past kIndexFrom live values, key -> slot (behind a pointer: most windows never need it).
  struct KeyHash {
    using is_transparent = void;  // looked up by string_view, without a std::string
    size_t operator()(std::string_view k) const { return std::hash<std::string_view>()(k); }
  };
  using Index = std::unordered_map<std::string, uint32_t, KeyHash, std::equal_to<>>;
  std::unique_ptr<Index> index_;
  int64_t live_ = 0;
};

// last: the newest contributing value. It is also the last to leave, so one slot holds
// everything the window needs.
//
// Saved as: a header byte, 0 empty, 1 or 2 a value follows (2: tagged), then its
// timestamp (PutTsDelta) and the value.
class WindowLast final : public FeatureState {
 public:
  WindowLast(DurationMs w, Type field) : w_(w), field_(field) {}
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
  void Save(TimestampMs base, std::string* out) const override {
    if (!has_) {  // ts_ is stale then: it is not state
      out->push_back(0);
      return;
    }
    bool tagged = v_.type() != field_;
    out->push_back(tagged ? 2 : 1);
    PutTsDelta(out, base, ts_);
    PutTypedValue(out, v_, field_, tagged);
  }
  Status Load(TimestampMs base, std::string_view* in) override {
    if (in->empty()) return Status::Corruption("truncated last");
    uint8_t h = static_cast<uint8_t>(in->front());
    in->remove_prefix(1);
    if (h == 0) return Status::OK();
    if (h > 2) return Status::Corruption("bad last header " + std::to_string(h));
    VIGIL_RETURN_IF_ERROR(GetTsDelta(in, base, &ts_));
    VIGIL_RETURN_IF_ERROR(GetTypedValue(in, field_, h == 2, &v_));
    has_ = true;
    return Status::OK();
  }

 private:
  DurationMs w_;
  Type field_;
  bool has_ = false;
  TimestampMs ts_ = 0;
  Value v_;
};

// Lifetime features: everything since the entity appeared (or since its ttl last
// expired). Nothing ever leaves, so running aggregates are exact by construction.
//
// Saved as what the aggregation uses, nothing else (the other members stay at their
// cleared values): count: varint count. sum, avg: a byte of fields (bit 0 sum, bit 1
// isum, as for the two-stacks queue), those fields, varint n. stddev: varint n, then,
// if n > 0, mean and m2. min, max, last, first: the optional value. count_distinct:
// varint k, then the k keys in byte order (so the bytes do not depend on hash order).
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
  void Save(TimestampMs, std::string* out) const override {
    switch (agg_) {
      case AggKind::kCount:
        PutVarint64(out, static_cast<uint64_t>(count_));
        break;
      case AggKind::kSum:
      case AggKind::kAvg: {
        unsigned fields = AggCodec<SumAgg>::Fields(sum_);
        out->push_back(static_cast<char>(fields));
        AggCodec<SumAgg>::Put(sum_, fields, true, out);
        PutVarint64(out, static_cast<uint64_t>(sum_.n));
        break;
      }
      case AggKind::kStddev:
        // n counts pushes: an integer, exact in a double far beyond any real count.
        PutVarint64(out, static_cast<uint64_t>(moments_.n));
        if (moments_.n > 0) {
          PutDouble(out, moments_.mean);
          PutDouble(out, moments_.m2);
        }
        break;
      case AggKind::kCountDistinct: {
        std::vector<const std::string*> keys;
        keys.reserve(distinct_.size());
        for (const auto& [key, unused] : distinct_) keys.push_back(&key);
        std::sort(keys.begin(), keys.end(),
                  [](const std::string* a, const std::string* b) { return *a < *b; });
        PutVarint64(out, keys.size());
        for (const std::string* key : keys) PutString(out, *key);
        break;
      }
      default:
        PutOptionalValue(out, v_, field_);
        break;
    }
  }
  Status Load(TimestampMs, std::string_view* in) override {
    switch (agg_) {
      case AggKind::kCount:
        return GetBoundedCount(in, &count_);
      case AggKind::kSum:
      case AggKind::kAvg: {
        if (in->empty()) return Status::Corruption("truncated sum");
        unsigned fields = static_cast<uint8_t>(in->front());
        in->remove_prefix(1);
        if (fields > 3) return Status::Corruption("bad sum header " + std::to_string(fields));
        VIGIL_RETURN_IF_ERROR(AggCodec<SumAgg>::Get(in, fields, true, 0, &sum_));
        return GetBoundedCount(in, &sum_.n);
      }
      case AggKind::kStddev: {
        int64_t n;
        VIGIL_RETURN_IF_ERROR(GetBoundedCount(in, &n));
        if (n > (int64_t{1} << 53)) return Status::Corruption("count out of range");
        if (n > 0) {
          moments_.n = static_cast<double>(n);
          VIGIL_RETURN_IF_ERROR(GetDouble(in, &moments_.mean));
          VIGIL_RETURN_IF_ERROR(GetDouble(in, &moments_.m2));
        }
        return Status::OK();
      }
      case AggKind::kCountDistinct: {
        size_t k;
        VIGIL_RETURN_IF_ERROR(GetCount(in, 1, &k));
        std::string prev;
        for (size_t i = 0; i < k; ++i) {
          std::string key;
          VIGIL_RETURN_IF_ERROR(GetString(in, &key));
          if (i > 0 && !(prev < key)) return Status::Corruption("distinct keys out of order");
          prev = key;
          distinct_.emplace(std::move(key), 1);
        }
        return Status::OK();
      }
      default:
        return GetOptionalValue(in, field_, &v_);
    }
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

namespace {

// Calls make(std::type_identity<T>{}, args...) with the state class T of feature f and
// the arguments of its constructor: the one place that maps a definition to its class.
template <typename Make>
auto WithStateClass(const FeatureDef& f, Make&& make) {
  using std::type_identity;
  if (!f.window) return make(type_identity<Lifetime>{}, f.agg, f.output_type, f.field_type);
  const DurationMs w = *f.window;
  switch (f.agg) {
    case AggKind::kCount:
      return make(type_identity<WindowCount>{}, w);
    case AggKind::kSum:
      return make(type_identity<WindowMoments<SumAgg>>{}, w, Moment::kSum, f.output_type, f.field_type);
    case AggKind::kAvg:
      return make(type_identity<WindowMoments<SumAgg>>{}, w, Moment::kAvg, f.output_type, f.field_type);
    case AggKind::kStddev:
      return make(type_identity<WindowMoments<MomentsAgg>>{}, w, Moment::kStddev, f.output_type,
                  f.field_type);
    case AggKind::kMin:
      return make(type_identity<WindowExtreme>{}, w, false, f.field_type);
    case AggKind::kMax:
      return make(type_identity<WindowExtreme>{}, w, true, f.field_type);
    case AggKind::kCountDistinct:
      return make(type_identity<WindowDistinct>{}, w);
    case AggKind::kLast:
      return make(type_identity<WindowLast>{}, w, f.field_type);
    case AggKind::kFirst:
      break;
  }
  return make(type_identity<FrontValueWindow>{}, w, f.field_type);  // kFirst
}

}  // namespace

std::unique_ptr<FeatureState> MakeFeatureState(const FeatureDef& f) {
  return WithStateClass(f, [](auto cls, auto... args) -> std::unique_ptr<FeatureState> {
    return std::make_unique<typename decltype(cls)::type>(args...);
  });
}

size_t FeatureStateSize(const FeatureDef& f) {
  return WithStateClass(f, [](auto cls, auto...) -> size_t {
    using State = typename decltype(cls)::type;
    static_assert(alignof(State) <= kFeatureStateAlign);
    return sizeof(State);
  });
}

FeatureState* PlaceFeatureState(const FeatureDef& f, void* where) {
  return WithStateClass(f, [where](auto cls, auto... args) -> FeatureState* {
    return new (where) typename decltype(cls)::type(args...);
  });
}

}  // namespace vigil::compute_internal
