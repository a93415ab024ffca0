// TimerQueue against a sorted reference: pops come in instant order under interleaved
// pushes and pops, including pushes before the last popped instant and negative instants.
#include "compute/timer_queue.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

#include "compute/compute_test_util.h"

namespace vigil {
namespace timer_queue_test {

void RunOps(uint32_t seed, bool monotone) {
  std::mt19937_64 rng(seed);
  TimerQueue q;
  std::multimap<TimestampMs, uint32_t> ref;  // at -> slot
  TimestampMs last = -5'000'000;
  uint32_t next_slot = 0;
  for (int op = 0; op < 50000 / test::kScale; ++op) {
    if (ref.empty() || rng() % 3 != 0) {
      TimestampMs at = monotone ? last + static_cast<TimestampMs>(rng() % 100'000)
                                : static_cast<TimestampMs>(rng() % 10'000'000) - 5'000'000;
      q.Push({at, next_slot, 0});
      ref.emplace(at, next_slot++);
    } else {
      const TimerQueue::Timer t = q.Top();
      ASSERT_EQ(t.at, ref.begin()->first) << "op " << op;
      // Among equal instants any may come first: remove that one from the reference.
      auto range = ref.equal_range(t.at);
      auto it = range.first;
      while (it != range.second && it->second != t.slot) ++it;
      ASSERT_NE(it, range.second) << "slot " << t.slot << " was not pushed at " << t.at;
      ref.erase(it);
      q.Pop();
      last = t.at;
    }
    ASSERT_EQ(q.size(), ref.size());
  }
  while (!ref.empty()) {
    ASSERT_EQ(q.Top().at, ref.begin()->first);
    ref.erase(ref.begin());
    q.Pop();
  }
  EXPECT_TRUE(q.empty());
}

TEST(TimerQueue, PopsInInstantOrderWhenPushesFollowTheLastPop) {
  for (uint32_t seed = 1; seed <= 3; ++seed) RunOps(seed, true);
}

TEST(TimerQueue, StaysCorrectWhenAPushPrecedesTheLastPop) {
  for (uint32_t seed = 1; seed <= 3; ++seed) RunOps(seed, false);
}

TEST(TimerQueue, HandlesTheTimestampExtremes) {
  TimerQueue q;
  q.Push({kMaxTimestamp, 1, 0});
  q.Push({kMinTimestamp, 2, 0});
  q.Push({0, 3, 0});
  EXPECT_EQ(q.Top().slot, 2u);
  q.Pop();
  EXPECT_EQ(q.Top().slot, 3u);
  q.Pop();
  EXPECT_EQ(q.Top().slot, 1u);
  q.Pop();
  EXPECT_TRUE(q.empty());
}

// The engine's pattern: pop every timer before a bound (HasBefore), then push timers at
// or after it, often before the earliest one held. HasBefore must answer exactly as the
// reference does, whatever the bound (below, between or beyond the held timers; at the
// extremes), and the pops must stay in instant order.
TEST(TimerQueue, HasBeforeAnswersLikeTheReferenceAndKeepsTheOrder) {
  std::mt19937_64 rng(5);
  TimerQueue q;
  std::multimap<TimestampMs, uint32_t> ref;
  TimestampMs bound = 0;
  uint32_t next_slot = 0;
  for (int round = 0; round < 3000 / test::kScale; ++round) {
    const int pushes = static_cast<int>(rng() % 40);
    for (int k = 0; k < pushes; ++k) {
      const TimestampMs at = bound + static_cast<TimestampMs>(rng() % (uint64_t{1} << (rng() % 40)));
      q.Push({at, next_slot, 0});
      ref.emplace(at, next_slot++);
    }
    const uint64_t r = rng() % 10;
    bound = r == 0 ? kMaxTimestamp : bound + static_cast<TimestampMs>(rng() % (uint64_t{1} << (rng() % 36)));
    while (true) {
      const bool want = !ref.empty() && ref.begin()->first < bound;
      ASSERT_EQ(q.HasBefore(bound), want) << "round " << round << " bound " << bound;
      if (!want) break;
      const TimerQueue::Timer t = q.Top();
      ASSERT_EQ(t.at, ref.begin()->first) << "round " << round;
      auto range = ref.equal_range(t.at);
      auto it = range.first;
      while (it != range.second && it->second != t.slot) ++it;
      ASSERT_NE(it, range.second);
      ref.erase(it);
      q.Pop();
    }
    if (bound == kMaxTimestamp) bound = 0;  // start over below everything popped
    ASSERT_EQ(q.size(), ref.size());
  }
  EXPECT_FALSE(q.HasBefore(kMinTimestamp));
}

}  // namespace timer_queue_test
}  // namespace vigil
