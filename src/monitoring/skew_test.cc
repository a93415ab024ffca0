#include "monitoring/skew.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <set>

#include "common/base64.h"

namespace vigil {
namespace skew_test {

std::string F32le(const std::vector<float>& v) {
  std::string out;
  AppendBase64Float32Le(v, &out);
  return out;
}

const float kNaN = std::numeric_limits<float>::quiet_NaN();

// A serving log record as `vigil serve` writes it (serving/scoring_service.h).
std::string Record(const std::string& model, int version, int64_t ts, const std::string& id = "") {
  nlohmann::json r = {{"ts", ts},
                      {"model", model},
                      {"version", version},
                      {"keys", {{"user_id", "u" + std::to_string(ts % 7)}}},
                      {"request", {{"amount", 1.5}}},
                      {"features_f32le", F32le({1.5f, kNaN, 3})},
                      {"score", 0.25}};
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
  EXPECT_EQ(r->features[2], 3.0f);
  EXPECT_EQ(r->keys["user_id"], "u6");
  EXPECT_FLOAT_EQ(r->score, 0.25);
}

TEST(ParseServedRecord, ReadsTheRecordOfTheServingHeaderExample) {
  auto r = ParseServedRecord(
      R"({"ts":1767225600000,"served_at":1767225600012,"model":"fraud","version":3,"keys":{"user_id":"u1"},)"
      R"("request":{"amount":12.5},"features_f32le":"AABIQQAAwH8AAIA/","score":0.0123,"id":"t-42",)"
      R"("challenger_version":4,"challenger_score":0.0151})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->features.size(), 3u);
  EXPECT_EQ(r->features[0], 12.5f);
  EXPECT_TRUE(std::isnan(r->features[1]));
  EXPECT_EQ(r->features[2], 1.0f);
  EXPECT_EQ(r->id, "t-42");
}

TEST(ParseServedRecord, ReadsTheVectorBitForBit) {
  const float inf = std::numeric_limits<float>::infinity();
  const float sub = std::numeric_limits<float>::denorm_min();
  for (const std::vector<float>& v :
       {std::vector<float>{},
        {kNaN, 0.0f, -0.0f, sub, -sub, 1e-40f, inf, -inf, std::bit_cast<float>(0xFFC00001u)}}) {
    nlohmann::json rec = {
        {"ts", 1}, {"model", "m"}, {"version", 1}, {"features_f32le", F32le(v)}, {"score", 0.5}};
    auto r = ParseServedRecord(rec.dump());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->features.size(), v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      EXPECT_EQ(std::bit_cast<uint32_t>(r->features[i]), std::bit_cast<uint32_t>(v[i])) << i;
    }
  }
}

// The serving log is a persisted topic: records of builds before features_f32le stay in it.
TEST(ParseServedRecord, ReadsTheFeaturesArrayOfEarlierBuilds) {
  auto r = ParseServedRecord(
      R"({"ts":5,"served_at":6,"model":"fraud","version":2,"keys":{"user_id":"u1"},"request":{},)"
      R"("features":[1.5,null,3,-0.0,1e-40],"score":0.25})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->features.size(), 5u);
  EXPECT_EQ(r->features[0], 1.5f);
  EXPECT_TRUE(std::isnan(r->features[1]));
  EXPECT_EQ(r->features[2], 3.0f);
  EXPECT_TRUE(std::signbit(r->features[3]));
  EXPECT_EQ(r->features[4], 1e-40f);
  // Both forms: the base64 one is read.
  auto both = ParseServedRecord(R"({"ts":1,"model":"m","version":1,"features":[7],"features_f32le":")" +
                                F32le({8}) + R"(","score":0})");
  ASSERT_TRUE(both.ok()) << both.status().ToString();
  EXPECT_EQ(both->features, std::vector<float>{8});
}

TEST(ParseServedRecord, RejectsWhatIsNotARecord) {
  for (const char* bad : {"", "[]", "{}", R"({"model":"m","version":1,"ts":"x","features":[]})",
                          R"({"model":"m","version":1,"ts":1,"features":["a"]})", R"({"model":1,"version":1,"ts":1,"features":[]})"}) {
    auto r = ParseServedRecord(bad);
    EXPECT_TRUE(r.status().IsInvalidArgument()) << bad;
  }
}

TEST(ParseServedRecord, AMalformedVectorIsAnErrorNamingTheField) {
  auto with_vector = [](const std::string& field_and_value) {
    return R"({"ts":1,"model":"m","version":1,"score":0.5,)" + field_and_value + "}";
  };
  struct Case {
    std::string record, want;
  };
  for (const Case& c : {
           Case{with_vector(R"("features_f32le":"AAC*Pw==")"),
                "features_f32le: not base64: '*' at character 3"},
           Case{with_vector(R"("features_f32le":"AACAPwAA")"),  // 6 bytes
                "features_f32le: base64 of 6 bytes, not a whole number of float32 values"},
           Case{with_vector(R"("features_f32le":"Zm9v")"), "features_f32le: base64 of 3 bytes"},
           Case{with_vector(R"("features_f32le":"AACAPw")"),
                "features_f32le: not base64: 6 characters, not a multiple of 4"},
           Case{with_vector(R"("features_f32le":"AACAPw==AACAPw==")"),
                "features_f32le: not base64: '=' at character 6"},
           Case{with_vector(R"("features_f32le":[1,2])"), "features_f32le: want a string"},
           Case{with_vector(R"("features":"AACAPw==")"), "features: want an array"},
           Case{with_vector(R"("features":[1,"2"])"), "features[1]: want a number or null"},
           Case{with_vector(R"("vector":[1])"), "no feature vector: want features_f32le"},
       }) {
    auto r = ParseServedRecord(c.record);
    ASSERT_FALSE(r.ok()) << c.record;
    EXPECT_TRUE(r.status().IsInvalidArgument()) << c.record;
    EXPECT_NE(r.status().message().find(c.want), std::string::npos)
        << c.record << " -> " << r.status().message();
    EXPECT_NE(r.status().message().find(R"({"ts":1,"model":"m")"), std::string::npos) << r.status().message();
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
    for (int i = 0; i < 2000; ++i) EXPECT_TRUE(s.Add(Record("fraud", 1, i)).ok());
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
  for (int64_t t : ts) late += t >= 1000;
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

}  // namespace skew_test
}  // namespace vigil
