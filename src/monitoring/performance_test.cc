#include "monitoring/performance.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace vigil {
namespace performance_test {

constexpr int64_t kDay = 86'400'000;

PendingScores Pending() { return PendingScores("fraud", PerformanceOptions{}); }

TEST(PendingScores, MeasuresEachWindowOnceItsDelayHasPassed) {
  PendingScores recs = Pending();
  std::unordered_map<std::string, Outcome> outcomes;
  // Day 0: frauds scored high (AUC 1); day 1: frauds scored low (AUC 0); day 2: not judged yet.
  for (int day = 0; day < 3; ++day) {
    for (int i = 0; i < 40; ++i) {
      const bool fraud = i < 6;
      const std::string id = std::to_string(day) + "-" + std::to_string(i);
      const double score = (fraud == (day == 0)) ? 0.9 - i * 0.001 : 0.1 + i * 0.001;
      recs.Add(1, day * kDay + i * 1000, score, id);
      outcomes[id] = {fraud ? 1 : 0, day * kDay + i * 1000 + (fraud ? kDay / 2 : 7 * kDay)};
    }
  }
  recs.Add(1, 5, 0.5, "");  // no id: scored only
  auto w = recs.Judge(outcomes, {{{"fraud", 1}, 0.95}}, 3 * kDay);
  ASSERT_EQ(w.size(), 2u);  // day 2 ends at 3d: judged from 4d
  EXPECT_EQ(w[0].from, 0);
  EXPECT_EQ(w[0].to, kDay);
  EXPECT_EQ(w[0].scored, 41);
  EXPECT_EQ(w[0].labels, 40);
  EXPECT_EQ(w[0].positives, 6);
  EXPECT_DOUBLE_EQ(w[0].roc_auc, 1.0);
  EXPECT_FALSE(w[0].alert);
  EXPECT_DOUBLE_EQ(w[1].roc_auc, 0.0);
  EXPECT_TRUE(w[1].alert);
  auto j = nlohmann::json::parse(w[1].ToJson());
  EXPECT_EQ(j["level"], "alert");
  EXPECT_EQ(j["positives"], 6);
  EXPECT_DOUBLE_EQ(j["baseline"].get<double>(), 0.95);
}

TEST(PendingScores, OutcomesKnownAfterTheJudgingTimeArePresumedNegative) {
  PendingScores recs = Pending();
  std::unordered_map<std::string, Outcome> outcomes;
  for (int i = 0; i < 30; ++i) {
    const std::string id = "e" + std::to_string(i);
    recs.Add(2, i, i / 30.0, id);
    // The 5 highest-scored are frauds, but 3 are reported only after day 2.
    const bool fraud = i >= 25;
    outcomes[id] = {fraud ? 1 : 0, fraud && i < 28 ? kDay + 1 : 5 * kDay};
  }
  auto w = recs.Judge(outcomes, {}, 10 * kDay);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].positives, 3);
  EXPECT_TRUE(std::isnan(w[0].baseline));
  EXPECT_FALSE(w[0].alert);  // no baseline, and too few positives
}

TEST(PendingScores, OneClassIsUndefinedNotAnAlert) {
  PendingScores recs = Pending();
  recs.Add(1, 0, 0.1, "a");
  recs.Add(1, 1, 0.2, "b");
  std::unordered_map<std::string, Outcome> outcomes = {{"a", {0, 0}}, {"b", {0, 0}}};
  auto w = recs.Judge(outcomes, {{{"fraud", 1}, 0.9}}, 10 * kDay);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_TRUE(std::isnan(w[0].roc_auc));
  EXPECT_FALSE(w[0].alert);
  EXPECT_TRUE(nlohmann::json::parse(w[0].ToJson())["roc_auc"].is_null());
}

TEST(PendingScores, WindowsAreKeptPerVersionAndNegativeTimesFloorDown) {
  PendingScores recs = Pending();
  std::unordered_map<std::string, Outcome> outcomes;
  // Version 1 and 2 in the same day, and a record 1 ms before the epoch (day -1).
  for (int i = 0; i < 10; ++i) {
    recs.Add(1, i, i / 10.0, "a" + std::to_string(i));
    recs.Add(2, i, 1 - i / 10.0, "b" + std::to_string(i));
    outcomes["a" + std::to_string(i)] = {i >= 5, 0};
    outcomes["b" + std::to_string(i)] = {i >= 5, 0};
  }
  recs.Add(1, -1, 0.5, "c");
  auto w = recs.Judge(outcomes, {}, 10 * kDay);
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[0].version, 1);
  EXPECT_EQ(w[0].from, -kDay);
  EXPECT_EQ(w[0].scored, 1);
  EXPECT_EQ(w[0].labels, 0);  // "c" has no outcome
  EXPECT_EQ(w[1].version, 1);
  EXPECT_DOUBLE_EQ(w[1].roc_auc, 1.0);
  EXPECT_EQ(w[2].version, 2);
  EXPECT_DOUBLE_EQ(w[2].roc_auc, 0.0);
  EXPECT_EQ(w[2].model, "fraud");
}

TEST(PendingScores, ForgetsJudgedWindowsAndRestartsAtTheOldestKeptRecord) {
  PendingScores recs = Pending();
  // Partition 0: day 0 at offsets 10..14, day 1 at 15..19; partition 1: day 1 only, 3..5.
  for (int i = 0; i < 5; ++i) recs.Add(1, i, 0.5, "d0-" + std::to_string(i), 0, 10 + i);
  for (int i = 0; i < 5; ++i) recs.Add(1, kDay + i, 0.5, "d1-" + std::to_string(i), 0, 15 + i);
  for (int i = 0; i < 3; ++i) recs.Add(1, kDay + 100 + i, 0.5, "p1-" + std::to_string(i), 1, 3 + i);
  recs.Add(2, 0, 0.5, "v2", 0, 7);  // version 2's day 0, not judged
  EXPECT_EQ(recs.records(), 14);
  std::vector<int64_t> restart = {100, 100, 100};
  recs.LowerToOldest(&restart);
  EXPECT_EQ(restart, (std::vector<int64_t>{7, 3, 100}));

  recs.Forget({{1, kDay}});  // version 1's day 0 judged
  EXPECT_EQ(recs.records(), 9);
  restart = {100, 100, 100};
  recs.LowerToOldest(&restart);
  EXPECT_EQ(restart, (std::vector<int64_t>{7, 3, 100}));  // version 2 still holds offset 7

  recs.Forget({{1, 2 * kDay}, {2, kDay}});
  EXPECT_EQ(recs.records(), 0);
  restart = {100, 100, 100};
  recs.LowerToOldest(&restart);
  EXPECT_EQ(restart, (std::vector<int64_t>{100, 100, 100}));  // nothing kept: read on
  EXPECT_TRUE(recs.Judge({}, {}, 100 * kDay).empty());
}

TEST(PendingScores, HoldsARecordInLittleMoreThanItsScoreAndId) {
  PendingScores recs = Pending();
  constexpr int kRecords = 200'000;
  for (int i = 0; i < kRecords; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "evt-%08d", i);  // 12 characters
    recs.Add(1 + i % 2, i * 100, 0.5, id, i % 4, i);
  }
  EXPECT_EQ(recs.records(), kRecords);
  // 16 bytes of score and id position, 12 of id, and vector growth (at most 2x).
  EXPECT_LT(static_cast<double>(recs.bytes()) / kRecords, 2 * (16 + 12));
  EXPECT_GT(static_cast<double>(recs.bytes()) / kRecords, 16 + 12);
}

}  // namespace performance_test
}  // namespace vigil
