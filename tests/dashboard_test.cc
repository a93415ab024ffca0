// The monitoring dashboard of `vigil serve` (issue 7, deliverable 5), end to end in
// Debian's Chromium: a small fraud project (generate -> ingest -> stream -> train two
// versions -> promote the second -> one retraining round), `vigil serve` with scoring traffic in bursts,
// `vigil monitor drift` over its serving log (the last burst with inflated amounts, so a feature goes to
// alert), and a few _skew and _performance records appended through the Log API in the shapes
// monitoring/monitor_topics.h documents (`vigil monitor skew` and `vigil monitor performance` write them in
// real use; their own tests cover them, and fixed records let this one assert on exact values). Then
// tools/node/dashboard_check.mjs drives headless Chromium (playwright-core) to the page,
// waits for the charts and asserts on what it shows: model, versions, alias history, a
// drifting feature, live QPS, the skew rate and an AUC value; that no request left
// loopback and the console stayed clean. Its screenshot is kept at
// <build>/test-artifacts/dashboard.png.
//
// The JSON endpoints are checked directly as well (shapes, 400s, bearer token).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "e2e_util.h"
#include "log/log.h"
#include "monitoring/monitor_topics.h"

namespace vigil::e2e {
namespace dashboard_test {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr int kUsers = 400;
constexpr int64_t kStart = 1767571200000;  // 2026-01-05, the generator's default
int64_t Day(int d) { return kStart + d * kDay; }
const std::vector<std::string> kSources = {"logins", "transactions", "withdrawals", "p2p_orders",
                                           "account_events"};
constexpr char kChromium[] = "/usr/bin/chromium";


std::string ReadFileQuiet(const std::string& path) {
  std::ifstream f(path);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// Where the screenshot is kept: <build dir>/test-artifacts (beside the vigil binary).
std::string ArtifactsDir() { return (fs::path(VigilBinary()).parent_path() / "test-artifacts").string(); }

class DashboardTest : public ::testing::Test {
 protected:
  // One project for the suite: events generated and streamed into the online store, v1
  // trained at day 18 and v2 at day 20, v2 promoted to champion with a reason, then one
  // retraining round at day 21 (v3, and its decision).
  static void SetUpTestSuite() {
    dir_ = new TempDir("vigil-dashboard");
    project_ = dir_->Path("project");
    fs::create_directories(project_ + "/data");
    for (const auto& e : fs::directory_iterator(SourceDir() + "/examples/fraud")) {
      if (e.path().extension() == ".yaml")
        fs::copy_file(e.path(), project_ + "/" + e.path().filename().string());
    }
    auto run = [](const std::vector<std::string>& args, int timeout = 600) {
      CommandResult r = RunVigil(project_, args, timeout);
      EXPECT_EQ(r.exit_code, 0) << ShellJoin(args) << ": " << r.Describe();
      return r;
    };
    CommandResult gen = RunCommand(ShellJoin({VigilBinary(), "generate", "--users", std::to_string(kUsers),
                                              "--days", "21", "--seed", "11", "--out", project_ + "/data"}));
    ASSERT_EQ(gen.exit_code, 0) << gen.err;
    for (const auto& s : kSources) run({"ingest", s, project_ + "/data/" + s + ".jsonl"});
    run({"stream", "--until-caught-up"}, 900);
    run({"train", "fraud", "--at", std::to_string(Day(18))});
    run({"train", "fraud", "--at", std::to_string(Day(20))});
    run({"models", "promote", "fraud", "2", "--reason", "dashboard test: the newer cut-off"});
    run({"retrain", "fraud", "--at", std::to_string(Day(21))});  // v3 and a retraining decision
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  // `vigil serve --port 0` with `api_token` (if any) as VIGIL_API_TOKEN; its port and the
  // dashboard URL it printed.
  struct Server {
    std::unique_ptr<BackgroundVigil> process;
    int port = 0;
    std::string dashboard_url;
    std::string log;
  };
  static Server StartServer(const std::string& api_token = "") {
    Server s;
    static int n = 0;
    s.log = dir_->Path("serve" + std::to_string(++n) + ".log");
    if (!api_token.empty()) setenv("VIGIL_API_TOKEN", api_token.c_str(), 1);
    s.process =
        std::make_unique<BackgroundVigil>(project_, std::vector<std::string>{"serve", "--port", "0"}, s.log);
    unsetenv("VIGIL_API_TOKEN");
    std::regex re(R"(dashboard: (http://127\.0\.0\.1:(\d+)/dashboard))");
    for (int i = 0; i < 600 && s.port == 0; ++i) {
      std::smatch m;
      std::string text = ReadFileQuiet(s.log);
      if (std::regex_search(text, m, re)) {
        s.dashboard_url = m[1];
        s.port = std::stoi(m[2]);
      }
      if (!s.process->running()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_GT(s.port, 0) << ReadFileQuiet(s.log);
    return s;
  }

  // Scoring bodies for labelled transactions of the last days, amounts times `inflate`.
  static std::vector<std::string> ScoreBodies(size_t n, double inflate) {
    auto rows = ParseCsv(ReadFile(project_ + "/data/labels.csv"));
    const auto& h = rows[0];
    auto col = [&](const char* name) {
      return static_cast<size_t>(std::find(h.begin(), h.end(), name) - h.begin());
    };
    std::vector<std::string> bodies;
    for (size_t i = 1; i < rows.size() && bodies.size() < n; ++i) {
      if (std::stoll(rows[i][col("ts")]) < Day(15)) continue;
      json b = {
          {"model", "fraud"},
          {"keys",
           {{"user_id", rows[i][col("user_id")]},
            {"device_id", rows[i][col("device_id")]},
            {"card_id", rows[i][col("card_id")]}}},
          {"request",
           {{"amount", std::stod(rows[i][col("amount")]) * inflate}, {"source", rows[i][col("source")]}}}};
      bodies.push_back(b.dump());
    }
    EXPECT_EQ(bodies.size(), n) << "too few labelled events after day 15";
    return bodies;
  }

  static TempDir* dir_;
  static std::string project_;
};

TempDir* DashboardTest::dir_ = nullptr;
std::string DashboardTest::project_;

// Appends `payload` to `topic` of the project's log, keyed by the model.
void AppendRecord(const std::string& project, const char* topic, const std::string& payload) {
  auto log = OpenProjectLog(project);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  auto w = (*log)->OpenWriter(topic);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_TRUE((*w)->Append("fraud", payload).ok());
  ASSERT_TRUE((*w)->Flush(true).ok());
}

TEST_F(DashboardTest, ChromiumShowsTrafficDriftSkewModelsAndAuc) {
  Server server = StartServer();
  ASSERT_GT(server.port, 0);
  ASSERT_EQ(server.dashboard_url, "http://127.0.0.1:" + std::to_string(server.port) + "/dashboard");

  // Before any monitoring: empty documents, not errors.
  HttpResult empty = Http(server.port, "GET", "/v1/monitor/drift?model=fraud");
  ASSERT_EQ(empty.status, 200) << empty.body;
  EXPECT_TRUE(json::parse(empty.body)["windows"].empty());

  // Three bursts of scoring traffic in three 2-second windows of serving time; the last
  // one with amounts 50 times larger, so "amount" drifts.
  const size_t kPerBurst = 120;
  const std::vector<double> inflate = {1, 1, 50};
  size_t scored = 0;
  auto wall_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  for (double f : inflate) {
    const int64_t next_window = (wall_ms() / 2000 + 1) * 2000;  // a burst takes well under 2 s
    while (wall_ms() < next_window) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    for (const auto& body : ScoreBodies(kPerBurst, f)) {
      HttpResult r = Http(server.port, "POST", "/v1/score", body);
      ASSERT_EQ(r.status, 200) << r.body;
      ++scored;
    }
  }
  // The serving log is written in the background: wait for every record.
  for (int i = 0; i < 200 && ReadTopic(project_, "_serving_log").size() < scored; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(ReadTopic(project_, "_serving_log").size(), scored);

  CommandResult drift = RunVigil(project_, {"monitor", "drift", "--from-start", "--window", "2s"});
  ASSERT_EQ(drift.exit_code, 0) << drift.Describe();
  auto drift_records = ReadTopic(project_, kDriftTopic);
  ASSERT_GE(drift_records.size(), 2u) << drift.out;
  ASSERT_FALSE(ReadTopic(project_, kAlertsTopic).empty()) << "no alert change: " << drift.out;
  // Feature names as the model version's vector has them (from a drift window).
  std::vector<std::string> features;
  const json last_window = json::parse(drift_records.back().payload);
  for (const auto& r : last_window["results"]) {
    features.push_back(r["feature"].get<std::string>());
  }
  ASSERT_GE(features.size(), 3u) << drift_records.back().payload.substr(0, 2000);

  // What `vigil monitor skew` and `vigil monitor performance` write (monitor_topics.h).
  const int64_t now = wall_ms();
  for (int check = 0; check < 2; ++check) {
    json fs_ = json::array();
    for (size_t i = 0; i < features.size() && i < 5; ++i) {
      int mismatches = (check == 1 && i == 1) ? 3 : 0;
      fs_.push_back({{"feature", features[i]},
                     {"compared", 80},
                     {"mismatches", mismatches},
                     {"rate", mismatches / 80.0}});
    }
    json skew = {{"ts", now - 60000 + check * 30000},
                 {"model", "fraud"},
                 {"version", 2},
                 {"from", now - 120000},
                 {"to", now - 60000},
                 {"sampled", 80},
                 {"mismatched_rows", check == 1 ? 3 : 0},
                 {"mismatch_rate", check == 1 ? 3 / 80.0 : 0.0},
                 {"features", fs_}};
    AppendRecord(project_, kSkewTopic, skew.dump());
  }
  const double aucs[] = {0.9123, 0.8871, 0.7342};
  for (int w = 0; w < 3; ++w) {
    json perf = {{"model", "fraud"},  {"version", 2},       {"from", Day(15 + w)},
                 {"to", Day(16 + w)}, {"scored", 500},      {"labels", 480},
                 {"positives", 12},   {"roc_auc", aucs[w]}, {"pr_auc", 0.41 - 0.05 * w},
                 {"log_loss", 0.08},  {"baseline", 0.8043}, {"level", w == 2 ? "alert" : "none"}};
    AppendRecord(project_, kPerformanceTopic, perf.dump());
  }
  AppendRecord(project_, kAlertsTopic,
               json({{"at", Day(18)},
                     {"model", "fraud"},
                     {"version", 2},
                     {"feature", "__roc_auc__"},
                     {"from", "none"},
                     {"to", "alert"},
                     {"psi", nullptr},
                     {"ks", nullptr},
                     {"js", nullptr},
                     {"roc_auc", 0.7342}})
                   .dump());

  // The documents, directly.
  json d = json::parse(Http(server.port, "GET", "/v1/monitor/drift?model=fraud").body);
  ASSERT_GE(d["windows"].size(), 2u);
  // The inflated burst puts amount (or a feature made from it) at alert: the worst first.
  EXPECT_EQ(d["features"][0]["last_level"], "alert") << d["features"][0].dump();
  EXPECT_FALSE(d["alerts"].empty());
  json s = json::parse(Http(server.port, "GET", "/v1/monitor/skew?model=fraud").body);
  ASSERT_EQ(s["checks"].size(), 2u);
  EXPECT_EQ(s["features"][0]["feature"], features[1]);
  json p = json::parse(Http(server.port, "GET", "/v1/monitor/performance?model=fraud").body);
  ASSERT_EQ(p["windows"].size(), 3u);
  EXPECT_EQ(p["alerts"].size(), 1u);
  json m = json::parse(Http(server.port, "GET", "/v1/monitor/models").body);
  EXPECT_EQ(m["models"]["fraud"]["versions"].size(), 3u);
  EXPECT_EQ(m["models"]["fraud"]["history"].size(),
            2u + (m["models"]["fraud"]["aliases"]["champion"] == 3 ? 1 : 0));
  EXPECT_EQ(m["models"]["fraud"]["decisions"].size(), 1u);
  EXPECT_TRUE(m["models"]["fraud"]["versions"][0]["holdout"]["roc_auc"].is_number());
  EXPECT_EQ(Http(server.port, "GET", "/v1/monitor/skew?model=No-Such").status, 400);

  // The page in Chromium.
  if (!fs::exists(kChromium)) {
    GTEST_SKIP() << kChromium << " is missing: scripts/install-deps installs Debian's chromium; run it";
  }
  const std::string screenshot = ArtifactsDir() + "/dashboard.png";
  fs::create_directories(ArtifactsDir());
  fs::remove(screenshot);
  json expect = {{"model", "fraud"},
                 {"texts",
                  {"v1", "v2", "v3", "champion", "dashboard test: the newer cut-off", "amount", features[1],
                   "3.75%", "0.9123", "0.7342"}}};
  const auto start = std::chrono::steady_clock::now();
  CommandResult check = RunCommand(ShellJoin({"node", SourceDir() + "/tools/node/dashboard_check.mjs",
                                              server.dashboard_url, screenshot, expect.dump()}),
                                   90);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("dashboard_check.mjs: %.1f s; screenshot %s\n%s", seconds, screenshot.c_str(),
              check.out.c_str());
  ASSERT_EQ(check.exit_code, 0) << check.Describe();
  EXPECT_NE(check.out.find("\"ok\":true"), std::string::npos) << check.out;
  EXPECT_TRUE(fs::exists(screenshot));
  EXPECT_GT(fs::file_size(screenshot), 20'000u);

  EXPECT_EQ(server.process->Kill(SIGTERM), 0) << ReadFileQuiet(server.log);
}

TEST_F(DashboardTest, ApiTokenGuardsTheDataButNotThePage) {
  Server server = StartServer("s3cret");
  ASSERT_GT(server.port, 0);
  EXPECT_EQ(Http(server.port, "GET", "/dashboard").status, 200);
  EXPECT_EQ(Http(server.port, "GET", "/dashboard/uPlot.iife.min.js").status, 200);
  EXPECT_EQ(Http(server.port, "GET", "/v1/monitor/models").status, 401);
  HttpResult ok = Http(server.port, "GET", "/v1/monitor/models", "", "s3cret");
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(Http(server.port, "GET", "/v1/monitor/live", "", "s3cret").status, 200);
  EXPECT_EQ(server.process->Kill(SIGTERM), 0) << ReadFileQuiet(server.log);
}

}  // namespace dashboard_test
}  // namespace vigil::e2e
