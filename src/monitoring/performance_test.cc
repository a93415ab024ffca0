#include "monitoring/performance.h"

#include <gtest/gtest.h>

#include <cmath>

namespace vigil {
namespace {

constexpr int64_t kDay = 86'400'000;

ServedRecord Scored(int version, int64_t ts, const std::string& id, double score) {
  ServedRecord r;
  r.model = "fraud";
  r.version = version;
  r.ts = ts;
  r.id = id;
  r.score = score;
  return r;
}

TEST(JudgeWindows, MeasuresEachWindowOnceItsDelayHasPassed) {
  std::vector<ServedRecord> recs;
  std::unordered_map<std::string, Outcome> outcomes;
  // Day 0: frauds scored high (AUC 1); day 1: frauds scored low (AUC 0); day 2: not judged yet.
  for (int day = 0; day < 3; ++day) {
    for (int i = 0; i < 40; ++i) {
      const bool fraud = i < 6;
      const std::string id = std::to_string(day) + "-" + std::to_string(i);
      const double score = (fraud == (day == 0)) ? 0.9 - i * 0.001 : 0.1 + i * 0.001;
      recs.push_back(Scored(1, day * kDay + i * 1000, id, score));
      outcomes[id] = {fraud ? 1 : 0, day * kDay + i * 1000 + (fraud ? kDay / 2 : 7 * kDay)};
    }
  }
  recs.push_back(Scored(1, 5, "", 0.5));  // no id: scored only
  PerformanceOptions o;
  auto w = JudgeWindows(recs, outcomes, {{{"fraud", 1}, 0.95}}, 3 * kDay, o);
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

TEST(JudgeWindows, OutcomesKnownAfterTheJudgingTimeArePresumedNegative) {
  std::vector<ServedRecord> recs;
  std::unordered_map<std::string, Outcome> outcomes;
  for (int i = 0; i < 30; ++i) {
    const std::string id = "e" + std::to_string(i);
    recs.push_back(Scored(2, i, id, i / 30.0));
    // The 5 highest-scored are frauds, but 3 are reported only after day 2.
    const bool fraud = i >= 25;
    outcomes[id] = {fraud ? 1 : 0, fraud && i < 28 ? kDay + 1 : 5 * kDay};
  }
  auto w = JudgeWindows(recs, outcomes, {}, 10 * kDay, PerformanceOptions{});
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].positives, 3);
  EXPECT_TRUE(std::isnan(w[0].baseline));
  EXPECT_FALSE(w[0].alert);  // no baseline, and too few positives
}

TEST(JudgeWindows, OneClassIsUndefinedNotAnAlert) {
  std::vector<ServedRecord> recs = {Scored(1, 0, "a", 0.1), Scored(1, 1, "b", 0.2)};
  std::unordered_map<std::string, Outcome> outcomes = {{"a", {0, 0}}, {"b", {0, 0}}};
  auto w = JudgeWindows(recs, outcomes, {{{"fraud", 1}, 0.9}}, 10 * kDay, PerformanceOptions{});
  ASSERT_EQ(w.size(), 1u);
  EXPECT_TRUE(std::isnan(w[0].roc_auc));
  EXPECT_FALSE(w[0].alert);
  EXPECT_TRUE(nlohmann::json::parse(w[0].ToJson())["roc_auc"].is_null());
}

}  // namespace
}  // namespace vigil
