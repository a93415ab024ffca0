#include "monitoring/dashboard_data.h"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>

#include "common/metrics.h"
#include "common/test_util.h"
#include "log/log.h"
#include "monitoring/dashboard_data_internal.h"
#include "monitoring/monitor_topics.h"

namespace vigil {
namespace dashboard_data_test {

using json = nlohmann::json;
using dashboard_internal::HttpTotals;
using dashboard_internal::ParseHttpTotals;
using dashboard_internal::QuantileFromBuckets;

// The worked example of dashboard_data.h: 6 requests <= 1 ms, 4 in (1 ms, 2.5 ms].
TEST(QuantileFromBucketsTest, InterpolatesWithinTheBucket) {
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<double> bounds = {0.001, 0.0025, 0.005, inf};
  const std::vector<uint64_t> buckets = {6, 10, 10, 10};
  EXPECT_NEAR(QuantileFromBuckets(bounds, buckets, 0.5), 0.001 * 5 / 6, 1e-12);
  EXPECT_NEAR(QuantileFromBuckets(bounds, buckets, 0.99), 0.001 + 0.0015 * 3.9 / 4, 1e-12);
}

TEST(QuantileFromBucketsTest, NoObservationsIsNaNAndTheInfBucketGivesTheLastBound) {
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_TRUE(
      std::isnan(QuantileFromBuckets(std::vector<double>{0.1, inf}, std::vector<uint64_t>{0, 0}, 0.5)));
  EXPECT_TRUE(std::isnan(QuantileFromBuckets(std::vector<double>{}, std::vector<uint64_t>{}, 0.5)));
  EXPECT_DOUBLE_EQ(
      QuantileFromBuckets(std::vector<double>{0.1, 1, inf}, std::vector<uint64_t>{0, 0, 5}, 0.99), 1);
}

TEST(ParseHttpTotalsTest, SumsRoutesButTheExcludedOnes) {
  MetricsRegistry r;
  const char* help = "Responses.";
  r.AddCounter("vigil_http_requests_total", help, {{"route", "score"}, {"code", "200"}}).Increment(7);
  r.AddCounter("vigil_http_requests_total", help, {{"route", "score"}, {"code", "503"}}).Increment(2);
  r.AddCounter("vigil_http_requests_total", help, {{"route", "dashboard_live"}, {"code", "200"}})
      .Increment(50);
  r.AddCounter("vigil_http_requests_total", help, {{"route", "we\"ird"}, {"code", "404"}}).Increment(1);
  std::vector<double> bounds = {0.001, 0.01};
  auto& score =
      r.AddHistogram("vigil_http_request_duration_seconds", "Latency.", {{"route", "score"}}, bounds);
  auto& live = r.AddHistogram("vigil_http_request_duration_seconds", "Latency.",
                              {{"route", "dashboard_live"}}, bounds);
  score.Observe(0.0005);
  score.Observe(0.005);
  score.Observe(3);
  live.Observe(0.0001);
  r.AddCounter("vigil_other_total", "Other.", {{"route", "score"}}).Increment(1000);

  HttpTotals t = ParseHttpTotals(r.RenderText(), {"dashboard_live"});
  EXPECT_EQ(t.requests, 10u);
  EXPECT_EQ(t.errors, 2u);
  ASSERT_EQ(t.bounds.size(), 3u);
  EXPECT_DOUBLE_EQ(t.bounds[0], 0.001);
  EXPECT_TRUE(std::isinf(t.bounds[2]));
  EXPECT_EQ(t.buckets, (std::vector<uint64_t>{1, 2, 3}));

  HttpTotals all = ParseHttpTotals(r.RenderText(), {});
  EXPECT_EQ(all.requests, 60u);
  EXPECT_EQ(all.buckets, (std::vector<uint64_t>{2, 3, 4}));
  EXPECT_EQ(ParseHttpTotals("garbage\nvigil_http_requests_total{route=\"x\" 3\n", {}).requests, 0u);
}

TEST(LiveSamplerTest, RatesAndQuantilesComeFromTheDeltas) {
  MetricsRegistry r;
  auto& requests =
      r.AddCounter("vigil_http_requests_total", "Responses.", {{"route", "score"}, {"code", "200"}});
  auto& metrics =
      r.AddCounter("vigil_http_requests_total", "Responses.", {{"route", "metrics"}, {"code", "200"}});
  std::vector<double> bounds(kLatencyBucketsSeconds.begin(), kLatencyBucketsSeconds.end());
  auto& latency =
      r.AddHistogram("vigil_http_request_duration_seconds", "Latency.", {{"route", "score"}}, bounds);
  requests.Increment(1000);  // before the sampler: not in any interval
  for (int i = 0; i < 1000; ++i) latency.Observe(0.2);

  LiveSamplerOptions o;
  o.interval = std::chrono::hours(1);  // only SampleNow samples
  o.capacity = 3;
  LiveSampler sampler(&r, o);
  EXPECT_TRUE(sampler.Samples().empty());
  requests.Increment(100);
  metrics.Increment(40);
  for (int i = 0; i < 100; ++i) latency.Observe(0.0004);  // in (0.25 ms, 0.5 ms]
  sampler.SampleNow();
  auto samples = sampler.Samples();
  ASSERT_EQ(samples.size(), 1u);
  EXPECT_GT(samples[0].qps, 0);
  EXPECT_GT(samples[0].p50_seconds, 0.00025);
  EXPECT_LE(samples[0].p99_seconds, 0.0005);
  EXPECT_EQ(samples[0].errors_per_second, 0);

  for (int i = 0; i < 4; ++i) sampler.SampleNow();  // nothing new: qps 0, no latency
  samples = sampler.Samples();
  ASSERT_EQ(samples.size(), 3u);  // capacity
  EXPECT_EQ(samples.back().qps, 0);
  EXPECT_TRUE(std::isnan(samples.back().p50_seconds));

  json j = json::parse(sampler.ToJson());
  EXPECT_EQ(j["t"].size(), 3u);
  EXPECT_EQ(j["qps"].size(), 3u);
  EXPECT_TRUE(j["p50_ms"][2].is_null());
  EXPECT_EQ(j["interval_ms"], 3600000);
}

class MonitorHistoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    LogOptions o;
    o.dir = dir_.Path("log");
    o.partitions = 2;
    auto log = Log::Open(o);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(log).value();
  }
  void Append(const char* topic, const std::string& key, const std::string& payload) {
    auto w = log_->OpenWriter(topic);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    ASSERT_TRUE((*w)->Append(key, payload).ok());
    ASSERT_TRUE((*w)->Flush(true).ok());
  }
  static std::string Drift(const std::string& model, int version, int64_t to, double amount_psi,
                           const char* level) {
    json amount = {{"feature", "amount"}, {"categorical", false}, {"psi", amount_psi}, {"level", level}};
    json score = {{"feature", "__score__"}, {"categorical", false}, {"psi", 0.01}, {"level", "none"}};
    json country = {{"feature", "country"}, {"categorical", true}, {"psi", nullptr}, {"level", "too_few"}};
    return json({{"model", model},
                 {"version", version},
                 {"from", to - 1000},
                 {"to", to},
                 {"requests", 50},
                 {"level", level},
                 {"results", {amount, score, country}}})
        .dump();
  }

  test::ScratchDir dir_{"vigil_dashboard"};
  std::unique_ptr<Log> log_;
};

TEST_F(MonitorHistoryTest, MissingTopicsAreEmptyNotErrors) {
  MonitorHistory h(log_.get(), {});
  ASSERT_TRUE(h.Refresh().ok());
  json d = json::parse(h.DriftJson(""));
  EXPECT_TRUE(d["windows"].empty());
  EXPECT_TRUE(d["features"].empty());
  EXPECT_TRUE(d["alerts"].empty());
  EXPECT_TRUE(json::parse(h.SkewJson("fraud"))["checks"].empty());
  EXPECT_TRUE(json::parse(h.PerformanceJson("fraud"))["windows"].empty());
  auto topics = log_->ListTopics();
  ASSERT_TRUE(topics.ok());
  EXPECT_TRUE(topics->empty()) << "the dashboard created a topic";
}

TEST_F(MonitorHistoryTest, DriftSeriesPerFeatureWorstFirstAndAlertsNewestFirst) {
  Append(kDriftTopic, "fraud", Drift("fraud", 1, 2000, 0.02, "none"));
  Append(kDriftTopic, "other", Drift("other", 1, 2000, 0.9, "alert"));
  Append(kDriftTopic, "fraud", "not json");
  Append(
      kAlertsTopic, "fraud",
      R"({"at":3000,"model":"fraud","version":2,"feature":"amount","from":"none","to":"alert","psi":0.4,"ks":0.3,"js":null})");
  Append(
      kAlertsTopic, "fraud",
      R"({"at":9000,"model":"fraud","version":2,"feature":"__roc_auc__","from":"none","to":"alert","roc_auc":0.6})");
  MonitorHistory h(log_.get(), {});
  ASSERT_TRUE(h.Refresh().ok());
  // A second window, appended after the first refresh: read incrementally.
  Append(kDriftTopic, "fraud", Drift("fraud", 2, 3000, 0.4, "alert"));
  ASSERT_TRUE(h.Refresh().ok());
  ASSERT_TRUE(h.Refresh().ok());  // nothing new: nothing read twice

  json d = json::parse(h.DriftJson("fraud"));
  ASSERT_EQ(d["windows"].size(), 2u);
  EXPECT_EQ(d["windows"][0]["to"], 2000);
  EXPECT_EQ(d["windows"][1]["version"], 2);
  ASSERT_EQ(d["features"].size(), 3u);
  EXPECT_EQ(d["features"][0]["feature"], "amount");
  EXPECT_EQ(d["features"][0]["psi"], json({0.02, 0.4}));
  EXPECT_EQ(d["features"][0]["last_level"], "alert");
  EXPECT_DOUBLE_EQ(d["features"][0]["max_psi"].get<double>(), 0.4);
  EXPECT_EQ(d["features"][1]["feature"], "__score__");
  EXPECT_EQ(d["features"][2]["feature"], "country");
  EXPECT_TRUE(d["features"][2]["max_psi"].is_null());
  ASSERT_EQ(d["alerts"].size(), 1u);  // the AUC alert is the performance document's
  EXPECT_EQ(d["alerts"][0]["feature"], "amount");
  EXPECT_EQ(d["skipped"], 1);

  EXPECT_EQ(json::parse(h.DriftJson(""))["windows"].size(), 3u);
  json p = json::parse(h.PerformanceJson("fraud"));
  ASSERT_EQ(p["alerts"].size(), 1u);
  EXPECT_EQ(p["alerts"][0]["roc_auc"], 0.6);
}

TEST_F(MonitorHistoryTest, SkewAndPerformanceInTheirDocumentedShapes) {
  Append(kSkewTopic, "fraud",
         R"({"ts":5000,"model":"fraud","version":2,"from":1000,"to":4000,"sampled":200,"mismatched_rows":10,)"
         R"("mismatch_rate":0.05,"features":[{"feature":"amount","compared":200,"mismatches":0,"rate":0},)"
         R"({"feature":"user_txn__txn_count_1h","compared":200,"mismatches":10,"rate":0.05}]})");
  Append(kSkewTopic, "fraud",
         R"({"ts":4000,"model":"fraud","version":2,"from":0,"to":3000,"sampled":100,"mismatched_rows":0,)"
         R"("mismatch_rate":0,"features":[{"feature":"amount","compared":100,"mismatches":0,"rate":0}]})");
  Append(kPerformanceTopic, "fraud",
         R"({"model":"fraud","version":2,"from":0,"to":86400000,"scored":900,"labels":800,"positives":40,)"
         R"("roc_auc":0.91,"pr_auc":0.5,"log_loss":0.12})");
  Append(
      kPerformanceTopic, "fraud",
      R"({"model":"fraud","version":2,"from":86400000,"to":172800000,"scored":10,"labels":10,"positives":0,)"
      R"("roc_auc":null,"pr_auc":null,"log_loss":0.01})");
  MonitorHistory h(log_.get(), {});
  ASSERT_TRUE(h.Refresh().ok());
  json s = json::parse(h.SkewJson("fraud"));
  ASSERT_EQ(s["checks"].size(), 2u);
  EXPECT_EQ(s["checks"][0]["ts"], 4000);  // by time, not by log order
  EXPECT_EQ(s["checks"][1]["mismatch_rate"], 0.05);
  ASSERT_EQ(s["features"].size(), 2u);
  EXPECT_EQ(s["features"][0]["feature"], "user_txn__txn_count_1h");  // the worst first
  EXPECT_EQ(s["features"][0]["rate"], json({nullptr, 0.05}));
  EXPECT_EQ(s["features"][0]["mismatches"][1], 10);
  json p = json::parse(h.PerformanceJson("fraud"));
  ASSERT_EQ(p["windows"].size(), 2u);
  EXPECT_EQ(p["windows"][0]["roc_auc"], 0.91);
  EXPECT_TRUE(p["windows"][0]["baseline"].is_null());
  EXPECT_TRUE(p["windows"][1]["roc_auc"].is_null());
  EXPECT_TRUE(json::parse(h.PerformanceJson("other"))["windows"].empty());
}

TEST_F(MonitorHistoryTest, KeepsTheNewestRecordsUpToCapacity) {
  for (int i = 1; i <= 7; ++i) Append(kDriftTopic, "fraud", Drift("fraud", 1, i * 1000, 0.01 * i, "none"));
  MonitorHistory h(log_.get(), {.capacity = 3});
  ASSERT_TRUE(h.Refresh().ok());
  json d = json::parse(h.DriftJson("fraud"));
  ASSERT_EQ(d["windows"].size(), 3u);
  EXPECT_EQ(d["windows"][0]["to"], 5000);
  Append(kDriftTopic, "fraud", Drift("fraud", 1, 8000, 0.08, "none"));
  ASSERT_TRUE(h.Refresh().ok());
  d = json::parse(h.DriftJson("fraud"));
  ASSERT_EQ(d["windows"].size(), 3u);
  EXPECT_EQ(d["windows"][2]["to"], 8000);
}

TEST(ModelsDashboardJsonTest, AnEmptyRegistryHasNoModels) {
  test::ScratchDir dir("vigil_dashboard_models");
  auto doc = ModelsDashboardJson(dir.Path("models"));
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_TRUE(json::parse(*doc)["models"].empty());
}

}  // namespace dashboard_data_test
}  // namespace vigil
