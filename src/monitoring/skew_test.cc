#include "monitoring/skew.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

namespace vigil {
namespace {

std::string Record(const std::string& model, int version, int64_t ts, const std::string& id = "") {
  nlohmann::json r = {{"ts", ts},          {"model", model},      {"version", version},
                      {"keys", {{"user_id", "u" + std::to_string(ts % 7)}}},
                      {"request", {{"amount", 1.5}}}, {"features", {1.5, nullptr, 3}}, {"score", 0.25}};
  if (!id.empty()) r["id"] = id;
  return r.dump();
}

TEST(ParseServedRecord, ReadsTheFieldsAndMissingAsNaN) {
  auto r = ParseServedRecord(Record("fraud", 3, 1000, "t-1"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->model, "fraud");
  EXPECT_EQ(r->version, 3);
  EXPECT_EQ(r->ts, 1000);
  EXPECT_EQ(r->id, "t-1");
  ASSERT_EQ(r->features.size(), 3u);
  EXPECT_EQ(r->features[0], 1.5f);
  EXPECT_TRUE(std::isnan(r->features[1]));
  EXPECT_EQ(r->keys["user_id"], "u6");
}

TEST(ParseServedRecord, RejectsWhatIsNotARecord) {
  for (const char* bad : {"", "[]", "{}", R"({"model":"m","version":1,"ts":"x","features":[]})",
                          R"({"model":"m","version":1,"ts":1,"features":["a"]})", R"({"model":1,"version":1,"ts":1,"features":[]})"}) {
    auto r = ParseServedRecord(bad);
    EXPECT_TRUE(r.status().IsInvalidArgument()) << bad;
  }
}

TEST(SkewSampler, KeepsAtMostTheSampleOfEachVersionInLogOrder) {
  SkewSampler s(10, 42);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(s.Add(Record("fraud", 1 + i % 2, i)).ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(s.Add(Record("other", 1, i)).ok());
  EXPECT_TRUE(s.Add("not json").IsInvalidArgument());
  auto taken = s.Take();
  ASSERT_EQ(taken.size(), 3u);
  EXPECT_EQ((taken[{"fraud", 1}].size()), 10u);
  EXPECT_EQ((taken[{"fraud", 2}].size()), 10u);
  EXPECT_EQ((taken[{"other", 1}].size()), 5u);
  const auto& v1 = taken[{"fraud", 1}];
  for (size_t i = 1; i < v1.size(); ++i) EXPECT_LT(v1[i - 1].ts, v1[i].ts);
  for (const auto& r : v1) EXPECT_EQ(r.version, 1);
  EXPECT_TRUE(s.Take().empty());
}

TEST(SkewSampler, IsDeterministicAndSpreadsOverTheLog) {
  auto sample = [](uint64_t seed) {
    SkewSampler s(50, seed);
    for (int i = 0; i < 10000; ++i) EXPECT_TRUE(s.Add(Record("fraud", 1, i)).ok());
    std::vector<int64_t> ts;
    auto taken = s.Take();  // kept: the loop reads into it
    for (const auto& r : taken[{"fraud", 1}]) ts.push_back(r.ts);
    return ts;
  };
  EXPECT_EQ(sample(7), sample(7));
  EXPECT_NE(sample(7), sample(8));
  // Uniform: each half of the log holds some of the sample, not just its start.
  const auto ts = sample(7);
  int late = 0;
  for (int64_t t : ts) late += t >= 5000;
  EXPECT_GT(late, 10);
  EXPECT_LT(late, 40);
}

TEST(SkewReport, JsonHasTheTopicShape) {
  SkewReport r;
  r.model = "fraud";
  r.version = 2;
  r.checked_at = 5;
  r.from = 1;
  r.to = 4;
  r.sampled = 4;
  r.mismatched_rows = 1;
  r.features = {{"a", 4, 1}, {"b", 4, 0}};
  r.examples = {{"t-9", R"({"user_id":"u1"})", 3, "a", 1.0f, std::nanf("")}};
  auto j = nlohmann::json::parse(r.ToJson());
  EXPECT_EQ(j["model"], "fraud");
  EXPECT_EQ(j["version"], 2);
  EXPECT_EQ(j["sampled"], 4);
  EXPECT_DOUBLE_EQ(j["mismatch_rate"].get<double>(), 0.25);
  EXPECT_EQ(j["features"][0]["feature"], "a");
  EXPECT_DOUBLE_EQ(j["features"][0]["rate"].get<double>(), 0.25);
  EXPECT_TRUE(j["examples"][0]["offline"].is_null());
  EXPECT_EQ(j["examples"][0]["keys"]["user_id"], "u1");
}

}  // namespace
}  // namespace vigil
