// The engine's timers: when each entity's window next changes. A monotone priority queue
// (a radix heap): every timer pushed is at or after the last one popped, which holds for
// the engine because events at or after the watermark are the only ones accepted and
// EmitUntil never pops a timer at or beyond its bound.
//
// Timers live in 65 buckets by the highest bit in which their instant differs from the
// last popped one. Push is an append; Top empties the lowest non-empty bucket into lower
// ones, and each timer moves down at most 64 times, a few in practice. Appends and
// sequential scans keep it in cache, where a binary heap of ~10^5 timers walks log n
// scattered lines per pop. A push before the last popped instant is still correct: it
// rebuilds the buckets around the new minimum (O(n)).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "common/time.h"

namespace vigil {

class TimerQueue {
 public:
  struct Timer {
    TimestampMs at;
    uint32_t slot;
    uint32_t gen;
  };
  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  void Push(const Timer& t);
  // A timer with the earliest instant; among equal instants the last pushed.
  // REQUIRES: !empty().
  const Timer& Top() {
    if (buckets_[0].empty()) Refill();
    return buckets_[0].back();
  }
  // True if a timer is before `bound` (then Top() is one). Unlike `!empty() && Top().at <
  // bound` it never moves the queue's base past `bound`, so that the timers pushed next,
  // at or after `bound` but before the earliest held, append rather than rebuild every
  // bucket (the engine asks this at the end of each EmitUntil, then pushes its events).
  bool HasBefore(TimestampMs bound);
  // Removes Top(). REQUIRES: !empty().
  void Pop() {
    if (buckets_[0].empty()) Refill();
    buckets_[0].pop_back();
    --size_;
  }

 private:
  // Instants as unsigned keys in the same order.
  static uint64_t Key(TimestampMs at) { return static_cast<uint64_t>(at) ^ (uint64_t{1} << 63); }
  static int BucketOf(uint64_t key, uint64_t last) {
    return key == last ? 0 : 64 - __builtin_clzll(key ^ last);
  }
  // Moves the lowest non-empty bucket's timers into lower buckets around its minimum.
  void Refill();
  // The same for bucket i, whose smallest key is min.
  void Refill(size_t i, uint64_t min);
  size_t LowestNonEmpty() const;
  // The smallest key bucket i (1..64) can hold: last_'s bits above i-1, then bit i-1 set.
  uint64_t BucketFloor(size_t i) const {
    const uint64_t bit = uint64_t{1} << (i - 1);
    return (last_ & ~(bit | (bit - 1))) | bit;
  }
  void Rebuild(uint64_t last);

  std::array<std::vector<Timer>, 65> buckets_;
  uint64_t last_ = 0;  // Key of the last minimum; every timer's key is >= it
  size_t size_ = 0;
};

}  // namespace vigil
