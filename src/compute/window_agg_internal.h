// The per-feature window state of one entity: what the compute engine keeps so that a
// feature's value as of any instant is exact and cheap, with no sliding-sum drift.
//
// Windowed sums, averages and variances use the two-stacks queue: the back stack holds
// a running aggregate of newly pushed values, the front stack holds suffix aggregates
// of older values; popping the oldest value never subtracts, so a window that held 1e15
// and then only 1e-3 reports exactly 1e-3. Variances merge with Chan et al.'s parallel
// formula, so equal values give a variance of exactly 0 (never a tiny negative, never NaN).
// min/max use a monotonic deque, count_distinct an exact multiset, last a single slot
// (the newest value leaves last), first the queue of contributing values.
//
// All structures assume values arrive in (ts, log order) order and leave in the same
// order, which the engine guarantees. Memory is bounded by the values inside the window.
//
// Checkpoints: each state saves itself into EntityWindow's persisted format
// (entity_window.h describes the whole encoding and how to evolve it). A state saves what
// its future values depend on and nothing that is an accident of its history (ring
// capacities, count_distinct's slot numbering), so that a restored state saves to the
// same bytes and emits the same rows, bit for bit, as the one it came from.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "common/time.h"
#include "schema/value.h"
#include "spec/definitions.h"

namespace vigil::compute_internal {

// One feature's state for one entity.
class FeatureState {
 public:
  virtual ~FeatureState() = default;
  // Adds a contributing value (already filtered by `where`; null fields never reach here;
  // count without field receives a non-null placeholder). REQUIRES: ts >= every earlier ts.
  virtual void Push(TimestampMs ts, const Value& v) = 0;
  // Removes what leaves the window as of instant t (ts + window <= t). Returns true if
  // anything left. Lifetime states never evict.
  virtual bool EvictUpTo(TimestampMs t) = 0;
  // The next instant at which something leaves, or kMaxTimestamp.
  virtual TimestampMs NextExpiry() const = 0;
  // The feature's value now (empty window: 0 for count/count_distinct/sum, else null).
  virtual Value Current() const = 0;
  virtual void Clear() = 0;
  // Asks the CPU to fetch what EvictUpTo reads first outside the state itself, its
  // queue's front when that lives on the heap (a hint: no effect on results).
  virtual void Prefetch() const {}
  // Appends the state's encoding (the feature records of entity_window.h) to *out.
  // Timestamps are written relative to `base`, the entity's last event, so that the
  // usual ones take a few bytes.
  virtual void Save(TimestampMs base, std::string* out) const = 0;
  // Decodes what Save wrote, with the same `base`, from the front of *in into this state
  // and advances *in past it. REQUIRES: the state is empty (just made or Cleared) and was
  // made for the FeatureDef the bytes were saved under (EntityWindow checks the plan's
  // shape first). Corruption on truncated or malformed bytes: never reads outside *in,
  // never allocates much more than *in holds; the state is then unspecified and must be
  // discarded. Bytes that decode are a state this class can run without crashing, even
  // if they were not written by Save.
  virtual Status Load(TimestampMs base, std::string_view* in) = 0;
};

// Makes the state for feature `f`.
std::unique_ptr<FeatureState> MakeFeatureState(const FeatureDef& f);

// The same state placed in memory the caller owns. An entity window keeps all of its
// features' states in one block: they are read together at each instant, and one block
// is fewer cache misses than an allocation each.
//   size_t at = RoundUpToStateAlign(header);  // then FeatureStateSize(f) bytes from `at`
//   FeatureState* s = PlaceFeatureState(f, block + at);
//   ...
//   s->~FeatureState();  // before the block is freed
// REQUIRES: `where` holds FeatureStateSize(f) bytes aligned to kFeatureStateAlign.
constexpr size_t kFeatureStateAlign = alignof(std::max_align_t);
size_t FeatureStateSize(const FeatureDef& f);
FeatureState* PlaceFeatureState(const FeatureDef& f, void* where);
constexpr size_t RoundUpToStateAlign(size_t n) {
  return (n + kFeatureStateAlign - 1) / kFeatureStateAlign * kFeatureStateAlign;
}

// The value of `f` over an empty window.
Value EmptyValue(const FeatureDef& f);

// ---------------------------------------------------------------------------------------
// Checkpoint encoding helpers, shared by EntityWindow and the feature states. Every Get*
// returns Corruption on truncated or malformed bytes and never reads outside *in.

// Appends ts as a zigzag varint of ts - base. REQUIRES: both in [kMinTimestamp,
// kMaxTimestamp] (their difference then cannot overflow).
void PutTsDelta(std::string* out, TimestampMs base, TimestampMs ts);
// Reads what PutTsDelta wrote. Corruption unless base + delta lies in [kMinTimestamp,
// kMaxTimestamp], which keeps the engine's ts + window arithmetic far from overflow.
Status GetTsDelta(std::string_view* in, TimestampMs base, TimestampMs* ts);
// Reads a varint count of items that each take at least `min_bytes_each` bytes of what
// follows: Corruption if *in cannot hold that many, so that a garbage count never turns
// into a huge allocation. REQUIRES: min_bytes_each >= 1.
Status GetCount(std::string_view* in, size_t min_bytes_each, size_t* n);

// Timestamps of a queue, oldest first: the first as PutTsDelta from base, each next one
// as a varint of its distance from the previous (a queue's timestamps never decrease).
class TsWriter {
 public:
  explicit TsWriter(TimestampMs base) : prev_(base) {}
  void Put(std::string* out, TimestampMs ts);

 private:
  TimestampMs prev_;
  bool first_ = true;
};
class TsReader {
 public:
  explicit TsReader(TimestampMs base) : prev_(base) {}
  Status Next(std::string_view* in, TimestampMs* ts);

 private:
  TimestampMs prev_;
  bool first_ = true;
};

// A double-ended queue in one growable ring buffer. Unlike std::deque, an empty one
// allocates nothing (libstdc++'s deque allocates a 512-byte node up front), and its
// elements are contiguous: entities hold one per feature, so both matter. The first few
// elements (32 bytes' worth, at least one) live inside the Ring itself, so a short
// window's queue is read with its state, without a miss of its own. Not copyable or
// movable: it points into itself.
template <typename T>
class Ring {
 public:
  Ring() = default;
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;
  ~Ring() { FreeHeap(); }
  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  T& front() { return buf_[head_]; }
  const T& front() const { return buf_[head_]; }
  T& back() { return buf_[Index(size_ - 1)]; }
  const T& back() const { return buf_[Index(size_ - 1)]; }
  void push_back(T v) {
    if (size_ == cap_) Grow();
    buf_[Index(size_)] = std::move(v);
    ++size_;
  }
  void pop_front() {
    buf_[head_] = T();
    head_ = Index(1);
    --size_;
  }
  void pop_back() {
    buf_[Index(size_ - 1)] = T();
    --size_;
  }
  void clear() {
    FreeHeap();
    for (T& v : inline_) v = T();
    buf_ = inline_;
    cap_ = kInline;
    head_ = size_ = 0;
  }
  // The i-th element from the front. REQUIRES: i < size().
  const T& operator[](size_t i) const { return buf_[Index(i)]; }
  // Asks the CPU to fetch the front element (a hint).
  void PrefetchFront() const {
    if (size_ != 0) __builtin_prefetch(&buf_[head_]);
  }

 private:
  static constexpr uint32_t kInline = sizeof(T) >= 32 ? 1 : 32 / sizeof(T);
  uint32_t Index(uint32_t i) const {
    uint32_t j = head_ + i;
    return j >= cap_ ? j - cap_ : j;
  }
  void Grow() {
    const uint32_t cap = cap_ < 4 ? 4 : cap_ * 2;
    T* next = new T[cap];
    for (uint32_t i = 0; i < size_; ++i) next[i] = std::move(buf_[Index(i)]);
    FreeHeap();
    if (buf_ == inline_) {
      for (T& v : inline_) v = T();
    }
    buf_ = next;
    cap_ = cap;
    head_ = 0;
  }
  void FreeHeap() {
    if (buf_ != inline_) delete[] buf_;
  }
  T* buf_ = inline_;  // inline_ or a heap array of cap_ elements
  uint32_t cap_ = kInline;
  uint32_t head_ = 0;
  uint32_t size_ = 0;
  T inline_[kInline];
};

// Aggregates merged by the two-stacks queue. Each has Identity(), Lift(v), Combine(a, b).
struct SumAgg {
  double sum = 0;
  int64_t isum = 0;  // exact for int64 fields (wraps like SQL engines' overflow would err)
  int64_t n = 0;
  static SumAgg Identity() { return {}; }
  static SumAgg Lift(const Value& v) {
    SumAgg a;
    if (v.type() == Type::kDouble)
      a.sum = v.dbl();
    else
      a.isum = v.int64();
    a.n = 1;
    return a;
  }
  static SumAgg Combine(const SumAgg& a, const SumAgg& b) {
    return {a.sum + b.sum,
            static_cast<int64_t>(static_cast<uint64_t>(a.isum) + static_cast<uint64_t>(b.isum)), a.n + b.n};
  }
};

struct MomentsAgg {
  double n = 0;
  double mean = 0;
  double m2 = 0;
  static MomentsAgg Identity() { return {}; }
  static MomentsAgg Lift(const Value& v) { return {1, v.AsDouble(), 0}; }
  static MomentsAgg Combine(const MomentsAgg& a, const MomentsAgg& b) {
    if (a.n == 0) return b;
    if (b.n == 0) return a;
    double n = a.n + b.n;
    double delta = b.mean - a.mean;
    // Equal means: delta == 0 exactly, so mean and m2 are unchanged sums of zeros.
    double mean = delta == 0 ? a.mean : a.mean + delta * (b.n / n);
    double m2 = a.m2 + b.m2 + delta * delta * (a.n * b.n / n);
    return {n, mean, m2};
  }
};

// A FIFO of (ts, aggregate) with O(1) amortized push, pop and query, no subtraction.
template <typename Agg>
class TwoStacks {
 public:
  struct Item {
    TimestampMs ts;
    Agg agg;  // in front_: the aggregate of this item and every newer item in front_
  };
  void Push(TimestampMs ts, const Agg& a) {
    back_.push_back({ts, a});
    back_agg_ = Agg::Combine(back_agg_, a);
  }
  bool empty() const { return front_.empty() && back_.empty(); }
  size_t size() const { return front_.size() + back_.size(); }
  TimestampMs OldestTs() const { return front_.empty() ? back_.front().ts : front_.back().ts; }
  // Asks the CPU to fetch the oldest item (a hint).
  void PrefetchOldest() const {
    if (!front_.empty()) {
      __builtin_prefetch(&front_.back());
    } else if (!back_.empty()) {
      __builtin_prefetch(back_.data());
    }
  }
  void Pop() {
    if (front_.empty()) Flip();
    front_.pop_back();
  }
  Agg Query() const { return front_.empty() ? back_agg_ : Agg::Combine(front_.back().agg, back_agg_); }
  void Clear() {
    front_.clear();
    back_.clear();
    back_agg_ = Agg::Identity();
  }

  // Checkpoint support. Floating-point Combine is not associative, so the queue's future
  // answers depend on how its items are split between the stacks and on the front
  // stack's suffix aggregates, which cannot be recomputed from the pushed values: a
  // checkpoint saves both stacks as they are.
  // The front stack, newest first (the oldest item is at the end); each agg is the
  // aggregate of that item and every newer item in the front stack.
  const std::vector<Item>& front_stack() const { return front_; }
  // The back stack, oldest first; each agg is the one pushed.
  const std::vector<Item>& back_stack() const { return back_; }
  // Replaces the contents with the given stacks (as front_stack() and back_stack() give
  // them). The back stack's running aggregate is refolded from `back`: Push folds it from
  // Identity, oldest first, and Flip and Clear reset it to Identity, so the refold runs
  // the very same Combine calls and is bit-identical.
  void Restore(std::vector<Item> front, std::vector<Item> back) {
    front_ = std::move(front);
    back_ = std::move(back);
    back_agg_ = Agg::Identity();
    for (const Item& it : back_) back_agg_ = Agg::Combine(back_agg_, it.agg);
  }

 private:
  void Flip() {
    // back_ oldest..newest becomes front_ with the oldest on top (at the end).
    front_.resize(back_.size());
    Agg acc = Agg::Identity();
    for (size_t i = 0; i < back_.size(); ++i) {
      const Item& it = back_[back_.size() - 1 - i];
      acc = Agg::Combine(it.agg, acc);
      front_[i] = {it.ts, acc};
    }
    back_.clear();
    back_agg_ = Agg::Identity();
  }
  std::vector<Item> front_;
  std::vector<Item> back_;
  Agg back_agg_ = Agg::Identity();
};

}  // namespace vigil::compute_internal
