#include "monitoring/drift_monitor.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>
#include <random>

#include "common/base64.h"

namespace vigil {
namespace drift_monitor_test {

using json = nlohmann::json;
constexpr int64_t kHour = 3'600'000;

// A model with a numeric feature "a" (standard normal), a categorical "c" over {x, y, z}
// (50/30/20) and its score (uniform on [0, 0.1]), references from 50k training values.
struct Fixture {
  std::vector<std::string> vocab = {"x", "y", "z"};
  MonitoredVersion version;
  explicit Fixture(uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> normal;
    std::uniform_real_distribution<double> unit;
    std::vector<double> a, c, s;
    for (int i = 0; i < 50000; ++i) {
      a.push_back(normal(rng));
      double u = unit(rng);
      c.push_back(u < 0.5 ? 0 : u < 0.8 ? 1 : 2);
      s.push_back(unit(rng) * 0.1);
    }
    version.columns = {"a", "c"};
    version.vocabularies = {{}, vocab};
    version.references.emplace("a", NumericReference("a", a));
    version.references.emplace("c", CategoricalReference("c", c, vocab));
    version.references.emplace("__score__", NumericReference("__score__", s));
  }
};

// A serving log record as `vigil serve` writes it (serving/scoring_service.h); with
// `array`, in the form of builds before features_f32le (a JSON array, null for NaN).
std::string Record(int64_t ts, const std::vector<float>& features, double score, bool array = false) {
  json r = {{"ts", ts}, {"model", "fraud"}, {"version", 3}, {"score", score}};
  if (array) {
    json a = json::array();
    for (float f : features) a.push_back(std::isnan(f) ? json(nullptr) : json(f));
    r["features"] = std::move(a);
  } else {
    std::string b64;
    AppendBase64Float32Le(features, &b64);
    r["features_f32le"] = b64;
  }
  return r.dump();
}

// Serving log records of one hour: `n` requests, "a" shifted by `shift` sd.
std::vector<std::string> Hour(int64_t hour, int n, double shift, std::mt19937_64& rng, bool array = false) {
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> unit;
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    double u = unit(rng);
    const float a = static_cast<float>(normal(rng) + shift);
    const float c = u < 0.5 ? 0 : u < 0.8 ? 1 : 2;
    out.push_back(Record(hour * kHour + i * (kHour / n), {a, c}, static_cast<float>(unit(rng) * 0.1), array));
  }
  return out;
}

TEST(DriftMonitorTest, StationaryTrafficRaisesNothingAcrossSeeds) {
  for (uint64_t seed : {1, 2, 3}) {
    Fixture f(seed);
    DriftMonitor m([&](const std::string&, int) -> Result<MonitoredVersion> { return f.version; }, {});
    std::mt19937_64 rng(seed + 100);
    std::vector<DriftWindowReport> closed;
    std::vector<AlertChange> changes;
    for (int h = 0; h < 6; ++h) {
      for (const auto& r : Hour(h, 3000, 0, rng)) ASSERT_TRUE(m.Add(r, &closed, &changes).ok());
    }
    m.Flush(&closed, &changes);
    ASSERT_EQ(closed.size(), 6u) << seed;
    for (const auto& w : closed) {
      EXPECT_EQ(w.level, DriftLevel::kNone) << seed << ": " << w.ToJson();
      EXPECT_EQ(w.requests, 3000);
      EXPECT_EQ(w.results.size(), 3u);  // a, c, __score__
      EXPECT_EQ(w.to - w.from, kHour);
    }
    EXPECT_TRUE(changes.empty()) << seed << ": " << changes[0].ToJson();
  }
}

TEST(DriftMonitorTest, DriftIsCaughtInTheFirstWindowAfterItAndClearsAfter) {
  Fixture f(7);
  DriftMonitor m([&](const std::string&, int) -> Result<MonitoredVersion> { return f.version; }, {});
  std::mt19937_64 rng(70);
  std::vector<DriftWindowReport> closed;
  std::vector<AlertChange> changes;
  // Hours 0-2 as trained, 3-4 drifted by 1 sd, 5 as trained again.
  for (int h = 0; h < 6; ++h) {
    for (const auto& r : Hour(h, 3000, h == 3 || h == 4 ? 1.0 : 0.0, rng)) {
      ASSERT_TRUE(m.Add(r, &closed, &changes).ok());
    }
  }
  m.Flush(&closed, &changes);
  ASSERT_EQ(closed.size(), 6u);
  for (int h = 0; h < 6; ++h) {
    EXPECT_EQ(closed[h].level, h == 3 || h == 4 ? DriftLevel::kAlert : DriftLevel::kNone)
        << closed[h].ToJson();
  }
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].feature, "a");
  EXPECT_EQ(changes[0].from, DriftLevel::kNone);
  EXPECT_EQ(changes[0].to, DriftLevel::kAlert);
  EXPECT_EQ(changes[0].at, 4 * kHour);  // the end of the first drifted window
  EXPECT_GT(changes[0].psi, 0.25);
  EXPECT_EQ(changes[1].to, DriftLevel::kNone);
  EXPECT_EQ(changes[1].at, 6 * kHour);
  EXPECT_EQ(json::parse(changes[0].ToJson())["to"], "alert");
}

TEST(DriftMonitorTest, ACategoryMixChangeAlertsOnTheCategoricalFeature) {
  Fixture f(9);
  DriftMonitor m([&](const std::string&, int) -> Result<MonitoredVersion> { return f.version; }, {});
  std::vector<DriftWindowReport> closed;
  std::vector<AlertChange> changes;
  std::mt19937_64 rng(90);
  std::normal_distribution<double> normal;
  for (int i = 0; i < 2000; ++i) {
    ASSERT_TRUE(
        m.Add(Record(i, {static_cast<float>(normal(rng)), i % 10 < 8 ? 2.0f : 0.0f}, 0.05), &closed, &changes)
            .ok());
  }
  m.Flush(&closed, &changes);
  ASSERT_EQ(closed.size(), 1u);
  const DriftResult* c = nullptr;
  for (const auto& r : closed[0].results) {
    if (r.feature == "c") c = &r;
  }
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->level, DriftLevel::kAlert);
  EXPECT_GT(c->js, 0.1);
}

TEST(DriftMonitorTest, BadRecordsAndUnknownVersionsAreErrors) {
  Fixture f(1);
  DriftMonitor m(
      [&](const std::string&, int v) -> Result<MonitoredVersion> {
        if (v != 3) return Status::NotFound("no version " + std::to_string(v));
        return f.version;
      },
      {});
  std::vector<DriftWindowReport> closed;
  std::vector<AlertChange> changes;
  EXPECT_TRUE(m.Add("not json", &closed, &changes).IsInvalidArgument());
  EXPECT_TRUE(m.Add(R"({"model": "fraud"})", &closed, &changes).IsInvalidArgument());
  Status s = m.Add(R"({"ts": 1, "model": "fraud", "version": 4, "features_f32le": "", "score": 0.1})",
                   &closed, &changes);
  EXPECT_TRUE(s.IsNotFound());
  EXPECT_NE(s.message().find("fraud v4"), std::string::npos) << s.message();
  // A malformed vector: an error that names the field, and nothing counted.
  for (const char* bad :
       {R"({"ts": 1, "model": "fraud", "version": 3, "features_f32le": "AAC*Pw==", "score": 0.1})",
        R"({"ts": 1, "model": "fraud", "version": 3, "features_f32le": "AACAPwAA", "score": 0.1})",
        R"({"ts": 1, "model": "fraud", "version": 3, "features_f32le": "AACAP", "score": 0.1})",
        R"({"ts": 1, "model": "fraud", "version": 3, "features": [1, "x"], "score": 0.1})",
        R"({"ts": 1, "model": "fraud", "version": 3, "score": 0.1})"}) {
    s = m.Add(bad, &closed, &changes);
    EXPECT_TRUE(s.IsInvalidArgument()) << bad;
    EXPECT_NE(s.message().find("features"), std::string::npos) << s.message();
  }
  // Too few values: judged as nothing, no alert change.
  ASSERT_TRUE(m.Add(Record(1, {9, 0}, 0.1), &closed, &changes).ok());
  m.Flush(&closed, &changes);
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].results[0].level, DriftLevel::kTooFew);
  EXPECT_EQ(closed[0].level, DriftLevel::kNone);
  EXPECT_TRUE(changes.empty());
}

// The serving log is a persisted topic: records written before features_f32le carry the
// vector as a JSON array, and judge the same as the base64 form of the same floats.
TEST(DriftMonitorTest, RecordsOfEarlierBuildsWithTheFeaturesArrayJudgeTheSame) {
  Fixture f(5);
  auto run = [&](bool array) {
    DriftMonitor m([&](const std::string&, int) -> Result<MonitoredVersion> { return f.version; }, {});
    std::mt19937_64 rng(50);
    std::vector<DriftWindowReport> closed;
    std::vector<AlertChange> changes;
    for (int h = 0; h < 3; ++h) {
      for (const auto& r : Hour(h, 2000, h == 2 ? 1.0 : 0.0, rng, array)) {
        EXPECT_TRUE(m.Add(r, &closed, &changes).ok()) << r;
      }
    }
    // Missing values (NaN in the base64 form, null in the array) and a short vector.
    EXPECT_TRUE(m.Add(Record(3 * kHour - 1, {std::numeric_limits<float>::quiet_NaN()}, 0.05, array), &closed,
                      &changes)
                    .ok());
    m.Flush(&closed, &changes);
    std::string out;
    for (const auto& w : closed) out += w.ToJson() + "\n";
    for (const auto& c : changes) out += c.ToJson() + "\n";
    return out;
  };
  const std::string base64 = run(false), array = run(true);
  EXPECT_NE(base64.find("\"to\":\"alert\""), std::string::npos) << base64;  // the drifted hour was seen
  EXPECT_EQ(base64, array);
}

}  // namespace drift_monitor_test
}  // namespace vigil
