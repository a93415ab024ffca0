#include "compute/timer_queue.h"

#include <algorithm>

namespace vigil {

void TimerQueue::Push(const Timer& t) {
  const uint64_t key = Key(t.at);
  if (key < last_) Rebuild(key);
  buckets_[BucketOf(key, last_)].push_back(t);
  ++size_;
}

size_t TimerQueue::LowestNonEmpty() const {
  size_t i = 1;
  while (buckets_[i].empty()) ++i;  // size_ > 0 and bucket 0 is empty: some bucket above holds a timer
  return i;
}

void TimerQueue::Refill() {
  const size_t i = LowestNonEmpty();
  uint64_t min = UINT64_MAX;
  for (const Timer& t : buckets_[i]) min = std::min(min, Key(t.at));
  Refill(i, min);
}

void TimerQueue::Refill(size_t i, uint64_t min) {
  std::vector<Timer>& from = buckets_[i];
  last_ = min;
  for (const Timer& t : from) buckets_[BucketOf(Key(t.at), last_)].push_back(t);  // all land below i
  from.clear();
}

bool TimerQueue::HasBefore(TimestampMs bound) {
  if (size_ == 0) return false;
  if (!buckets_[0].empty()) return buckets_[0].back().at < bound;
  const size_t i = LowestNonEmpty();
  const uint64_t b = Key(bound);
  if (b <= BucketFloor(i)) return false;  // every key in bucket i is at least its floor
  uint64_t min = UINT64_MAX;
  for (const Timer& t : buckets_[i]) min = std::min(min, Key(t.at));
  if (min >= b) return false;
  Refill(i, min);
  return true;
}

void TimerQueue::Rebuild(uint64_t last) {
  std::vector<Timer> all;
  all.reserve(size_);
  for (auto& b : buckets_) {
    all.insert(all.end(), b.begin(), b.end());
    b.clear();
  }
  last_ = last;
  for (const Timer& t : all) buckets_[BucketOf(Key(t.at), last_)].push_back(t);
}

}  // namespace vigil
