#include "serving/dashboard.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "common/metrics.h"
#include "common/test_util.h"
#include "log/log.h"
#include "monitoring/monitor_topics.h"
#include "serving/dashboard_internal.h"

namespace vigil {
namespace dashboard_test {

using json = nlohmann::json;

class DashboardRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    LogOptions o;
    o.dir = dir_.Path("log");
    auto log = Log::Open(o);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(log).value();
    DashboardOptions d;
    d.log = log_.get();
    d.models_root = dir_.Path("models");
    d.metrics = &metrics_;
    d.sample_interval = std::chrono::milliseconds(20);
    routes_ = DashboardRoutes(d);
  }
  HttpResponse Get(const std::string& pattern, const std::string& query = "",
                   std::map<std::string, std::string> params = {}) {
    for (const Route& r : routes_) {
      if (r.pattern != pattern) continue;
      HttpRequest req;
      req.method = "GET";
      req.path = pattern;
      req.query = query;
      req.params = std::move(params);
      return r.handler(req);
    }
    ADD_FAILURE() << "no route " << pattern;
    return {};
  }

  test::ScratchDir dir_{"vigil_dashboard_routes"};
  MetricsRegistry metrics_;
  std::unique_ptr<Log> log_;
  std::vector<Route> routes_;  // last: its sampler reads metrics_
};

TEST_F(DashboardRoutesTest, ThePageAndItsFilesComeFromTheBinary) {
  HttpResponse page = Get("/dashboard");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("/dashboard/uPlot.iife.min.js"), std::string::npos);
  for (const char* name : {"dashboard.js", "dashboard.css", "uPlot.iife.min.js", "uPlot.min.css"}) {
    HttpResponse r = Get("/dashboard/{asset}", "", {{"asset", name}});
    EXPECT_EQ(r.status, 200) << name;
    EXPECT_GT(r.body.size(), 100u) << name;
  }
  EXPECT_EQ(Get("/dashboard/{asset}", "", {{"asset", "secrets.txt"}}).status, 404);
  // Public pages, API data; route names the live sampler leaves out.
  for (const Route& r : routes_) {
    EXPECT_EQ(r.name.rfind("dashboard", 0), 0u) << r.name;
    EXPECT_EQ(r.access, r.pattern.rfind("/dashboard", 0) == 0 ? Access::kPublic : Access::kApi) << r.pattern;
  }
}

TEST_F(DashboardRoutesTest, DocumentsAreEmptyBeforeAnyMonitoringAndBadQueriesAre400) {
  json drift = json::parse(Get("/v1/monitor/drift", "model=fraud").body);
  EXPECT_EQ(drift["model"], "fraud");
  EXPECT_TRUE(drift["windows"].empty());
  json skew = json::parse(Get("/v1/monitor/skew").body);
  EXPECT_TRUE(skew["model"].is_null());
  EXPECT_TRUE(skew["checks"].empty());
  EXPECT_TRUE(json::parse(Get("/v1/monitor/performance", "model=fraud").body)["windows"].empty());
  HttpResponse models = Get("/v1/monitor/models");
  EXPECT_EQ(models.status, 200) << models.body;
  EXPECT_TRUE(json::parse(models.body)["models"].empty());
  json live = json::parse(Get("/v1/monitor/live").body);
  EXPECT_EQ(live["t"].size(), live["qps"].size());

  HttpResponse bad = Get("/v1/monitor/drift", "modle=fraud");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("modle"), std::string::npos) << bad.body;
  EXPECT_EQ(Get("/v1/monitor/skew", "model=Fraud%21").status, 400);
  EXPECT_EQ(Get("/v1/monitor/live", "x=1").status, 400);
}

TEST_F(DashboardRoutesTest, LiveCountsTrafficButNotTheDashboards) {
  metrics_.AddCounter("vigil_http_requests_total", "Responses.", {{"route", "score"}, {"code", "200"}})
      .Increment(0);
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  metrics_.AddCounter("vigil_http_requests_total", "Responses.", {{"route", "score"}, {"code", "200"}})
      .Increment(5);
  metrics_
      .AddCounter("vigil_http_requests_total", "Responses.", {{"route", "dashboard_live"}, {"code", "200"}})
      .Increment(500);
  json live;
  double total = 0;
  for (int i = 0; i < 100 && total == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    live = json::parse(Get("/v1/monitor/live").body);
    total = 0;
    for (const auto& q : live["qps"]) total += q.get<double>() * 0.02;  // per interval
  }
  EXPECT_GT(total, 0);
  EXPECT_LT(total, 50) << "the dashboard's own requests were counted: " << live.dump();
}

}  // namespace dashboard_test
}  // namespace vigil
