#include "compute/timer_queue.h"

#include <algorithm>

namespace vigil {

void TimerQueue::Push(const Timer& t) {
  const uint64_t key = Key(t.at);
  if (key < last_) Rebuild(key);
  buckets_[BucketOf(key, last_)].push_back(t);
  ++size_;
}

void TimerQueue::Refill() {
  size_t i = 1;
  while (buckets_[i].empty()) ++i;  // size_ > 0, so some bucket holds a timer
  std::vector<Timer>& from = buckets_[i];
  uint64_t min = UINT64_MAX;
  for (const Timer& t : from) min = std::min(min, Key(t.at));
  last_ = min;
  for (const Timer& t : from) buckets_[BucketOf(Key(t.at), last_)].push_back(t);  // all land below i
  from.clear();
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
