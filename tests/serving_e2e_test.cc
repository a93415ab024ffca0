// The scoring service, end to end (issue 6): `vigil serve` over a project whose stream
// filled the online store and whose registry holds trained fraud models.
//
//  - EveryEndpointAndErrorPath: /v1/score, /v1/features, the KServe v2 endpoints, /metrics
//    (promtool), admin reload, bearer tokens, and every 4xx the API gives, each with a
//    JSON message; the serving log holds the scored requests; SIGTERM drains and exits 0.
//  - ServingMatchesTraining: training rows replayed through the serving path (the as-of
//    tuples handed to AssembleInput as online rows) give bitwise the training matrix's
//    vectors, and the compiled trees score them as XGBoost does (1e-6).
//  - HotSwapUnderLoadHasNoErrors: clients score without pause while the champion is
//    promoted, a challenger set (shadow scores in the serving log) and the champion rolled
//    back: not one request fails, and both versions answer.
//  - OverloadShedsAndAdmittedLatencyStaysBounded: far more concurrent clients than
//    --max-in-flight: some get 503 with Retry-After, the admitted ones answer in bounded
//    time, and the server is fine afterwards.
//  - RequestFuzzNeverCrashes: thousands of mutated /v1/score bodies get 200 or 4xx, never
//    a 5xx or a dead server.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "compute/entity_window.h"
#include "e2e_util.h"
#include "log/log.h"
#include "monitoring/skew.h"
#include "serving/compiled_model.h"
#include "serving/scoring_service.h"
#include "spec/definitions.h"
#include "training/trainer.h"

namespace vigil::e2e {
namespace serving_e2e_test {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr int kUsers = kSanitized ? 600 : 1500;
constexpr int64_t kStart = 1767571200000;  // 2026-01-05, the generator's default
int64_t Day(int d) { return kStart + d * kDay; }
const std::vector<std::string> kSources = {"logins", "transactions", "withdrawals", "p2p_orders", "account_events"};


class ServingE2eTest : public ::testing::Test {
 protected:
  // One project for the suite: generated events ingested, the stream run into the online
  // store, v1 (champion) trained at day 21 and v2 at day 28.
  static void SetUpTestSuite() {
    dir_ = new TempDir("vigil-serve");
    project_ = dir_->Path("project");
    fs::create_directories(project_ + "/data");
    for (const auto& e : fs::directory_iterator(SourceDir() + "/examples/fraud")) {
      if (e.path().extension() == ".yaml") fs::copy_file(e.path(), project_ + "/" + e.path().filename().string());
    }
    auto run = [](const std::vector<std::string>& args, int timeout = 600) {
      CommandResult r = RunVigil(project_, args, timeout);
      EXPECT_EQ(r.exit_code, 0) << ShellJoin(args) << ": " << r.err;
      return r;
    };
    CommandResult gen = RunCommand(ShellJoin({VigilBinary(), "generate", "--users", std::to_string(kUsers), "--days",
                                              "35", "--seed", "3", "--drift-day", "14", "--out", project_ + "/data"}));
    ASSERT_EQ(gen.exit_code, 0) << gen.err;
    for (const auto& s : kSources) run({"ingest", s, project_ + "/data/" + s + ".jsonl"});
    run({"stream", "--until-caught-up"}, 900);
    run({"train", "fraud", "--at", std::to_string(Day(21))});
    run({"train", "fraud", "--at", std::to_string(Day(28))});
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  // Starts `vigil serve --port 0 ...` with the given environment tokens and waits for its
  // port.
  struct Server {
    std::unique_ptr<BackgroundVigil> process;
    int port = 0;
    std::string log;
  };
  static Server StartServer(const std::vector<std::string>& extra, const std::string& api_token = "",
                            const std::string& admin_token = "") {
    Server s;
    static int n = 0;
    s.log = dir_->Path("serve" + std::to_string(++n) + ".log");
    if (!api_token.empty()) setenv("VIGIL_API_TOKEN", api_token.c_str(), 1);
    if (!admin_token.empty()) setenv("VIGIL_ADMIN_TOKEN", admin_token.c_str(), 1);
    std::vector<std::string> args = {"serve", "--port", "0", "--reload-ms", "200"};
    args.insert(args.end(), extra.begin(), extra.end());
    s.process = std::make_unique<BackgroundVigil>(project_, args, s.log);
    unsetenv("VIGIL_API_TOKEN");
    unsetenv("VIGIL_ADMIN_TOKEN");
    std::regex re(R"(serving on http://127\.0\.0\.1:(\d+))");
    for (int i = 0; i < 600 && s.port == 0; ++i) {
      std::smatch m;
      std::string text = ReadFileQuiet(s.log);
      if (std::regex_search(text, m, re)) s.port = std::stoi(m[1]);
      if (!s.process->running()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_GT(s.port, 0) << ReadFileQuiet(s.log);
    return s;
  }
  static std::string ReadFileQuiet(const std::string& path) {
    std::ifstream f(path);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  }

  // A scoring body for the first labelled transaction of day 29.
  static json ScoreBody() {
    auto rows = ParseCsv(ReadFile(project_ + "/data/labels.csv"));
    const auto& h = rows[0];
    auto col = [&](const char* n) { return std::find(h.begin(), h.end(), n) - h.begin(); };
    for (size_t i = 1; i < rows.size(); ++i) {
      if (rows[i][col("source")] == "transactions" && std::stoll(rows[i][col("ts")]) >= Day(29)) {
        return {{"model", "fraud"},
                {"keys",
                 {{"user_id", rows[i][col("user_id")]},
                  {"device_id", rows[i][col("device_id")]},
                  {"card_id", rows[i][col("card_id")]}}},
                {"request", {{"amount", std::stod(rows[i][col("amount")])}, {"source", "transactions"}}}};
      }
    }
    ADD_FAILURE() << "no transaction label on day 29";
    return {};
  }

  static TempDir* dir_;
  static std::string project_;
};
TempDir* ServingE2eTest::dir_ = nullptr;
std::string ServingE2eTest::project_;

TEST_F(ServingE2eTest, EveryEndpointAndErrorPath) {
  Server s = StartServer({}, "api-secret", "admin-secret");
  ASSERT_GT(s.port, 0);
  const std::string api = "api-secret", admin = "admin-secret";
  const json body = ScoreBody();

  // Auth.
  EXPECT_EQ(Http(s.port, "POST", "/v1/score", body.dump()).status, 401);
  EXPECT_EQ(Http(s.port, "POST", "/v1/score", body.dump(), "wrong").status, 401);
  HttpResult ok = Http(s.port, "POST", "/v1/score", body.dump(), api);
  ASSERT_EQ(ok.status, 200) << ok.body;
  json scored = json::parse(ok.body);
  EXPECT_EQ(scored["model"], "fraud");
  EXPECT_EQ(scored["version"], 1);
  EXPECT_GE(scored["score"].get<double>(), 0.0);
  EXPECT_LE(scored["score"].get<double>(), 1.0);
  EXPECT_FALSE(scored.contains("features"));
  EXPECT_EQ(Http(s.port, "POST", "/v1/score", body.dump(), admin).status, 200);  // admin may score

  // The same vector through KServe v2 infer gives the same score.
  json with_features = body;
  with_features["features"] = true;
  json f = json::parse(Http(s.port, "POST", "/v1/score", with_features.dump(), api).body);
  ASSERT_TRUE(f["features"].is_object());
  json meta = json::parse(Http(s.port, "GET", "/v2/models/fraud", "", api).body);
  const auto& names = meta["inputs"][0]["parameters"]["feature_names"];
  ASSERT_EQ(names.size(), f["features"].size());
  json data = json::array();
  for (const auto& n : names) data.push_back(f["features"][n.get<std::string>()]);
  json infer = {{"id", "r1"},
                {"inputs", {{{"name", "features"}, {"datatype", "FP32"}, {"shape", {1, names.size()}}, {"data", data}}}}};
  HttpResult inf = Http(s.port, "POST", "/v2/models/fraud/infer", infer.dump(), api);
  ASSERT_EQ(inf.status, 200) << inf.body;
  json io = json::parse(inf.body);
  EXPECT_EQ(io["id"], "r1");
  EXPECT_EQ(io["model_version"], "1");
  EXPECT_FLOAT_EQ(io["outputs"][0]["data"][0].get<float>(), f["score"].get<float>());

  // Every error of /v1/score, each a JSON {"error": ...}.
  auto expect_error = [&](const std::string& b, int status, const std::string& says) {
    HttpResult r = Http(s.port, "POST", "/v1/score", b, api);
    EXPECT_EQ(r.status, status) << b << " -> " << r.body;
    json e = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(e.is_object() && e.contains("error")) << r.body;
    EXPECT_NE(e["error"].get<std::string>().find(says), std::string::npos) << e["error"];
  };
  expect_error("{not json", 400, "not JSON");
  expect_error("[1,2]", 400, "JSON object");
  expect_error(R"({"keys": {}})", 400, "model is required");
  expect_error(R"({"model": "nosuch"})", 404, "unknown model 'nosuch'");
  expect_error(R"({"model": "fraud", "extra": 1})", 400, "unknown field 'extra'");
  expect_error(R"({"model": "fraud", "keys": {"user_id": 1.5}})", 400, "keys.user_id must be a string or an integer");
  expect_error(R"({"model": "fraud", "keys": {"merchant": "m"}})", 400, "unknown key 'merchant'");
  json many = {{"model", "fraud"}, {"keys", json::object()}};
  for (int i = 0; i < 20; ++i) many["keys"]["k" + std::to_string(i)] = "v";
  expect_error(many.dump(), 400, "too many keys");
  expect_error(R"({"model": "fraud", "request": {"colour": "red"}})", 400, "unknown request field 'colour'");
  expect_error(R"({"model": "fraud", "request": {"amount": "ten"}})", 400, "request.amount must be a number");
  expect_error(R"({"model": "fraud", "features": "yes"})", 400, "features must be true or false");
  HttpResult big = Http(s.port, "POST", "/v1/score", std::string(2 << 20, ' '), api);
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(Http(s.port, "GET", "/v1/score", "", api).status, 405);
  EXPECT_EQ(Http(s.port, "GET", "/nowhere", "", api).status, 404);
  // A request without keys still scores: every view gives its empty tuple, as a label
  // without history does in training.
  EXPECT_EQ(Http(s.port, "POST", "/v1/score", R"({"model": "fraud", "request": {"amount": 10}})", api).status, 200);

  // Online features.
  json fb = {{"views", {"user_txn", "card_txn"}}, {"keys", body["keys"]}};
  HttpResult fr = Http(s.port, "POST", "/v1/features", fb.dump(), api);
  ASSERT_EQ(fr.status, 200) << fr.body;
  json fj = json::parse(fr.body);
  EXPECT_TRUE(fj["user_txn"]["found"].get<bool>());
  EXPECT_TRUE(fj["user_txn"]["values"].contains("txn_count_24h"));
  EXPECT_GT(fj["user_txn"]["ts"].get<int64_t>(), Day(0));
  EXPECT_EQ(Http(s.port, "POST", "/v1/features", R"({"views": ["nope"], "keys": {}})", api).status, 404);
  EXPECT_EQ(Http(s.port, "POST", "/v1/features", R"({"views": ["user_txn"], "keys": {}})", api).status, 400);
  EXPECT_EQ(Http(s.port, "POST", "/v1/features", R"({"views": []})", api).status, 400);

  // KServe v2.
  EXPECT_EQ(Http(s.port, "GET", "/v2/health/live").status, 200);
  EXPECT_EQ(Http(s.port, "GET", "/v2/health/ready").status, 200);
  EXPECT_EQ(Http(s.port, "GET", "/v2/models/fraud/ready", "", api).status, 200);
  EXPECT_EQ(Http(s.port, "GET", "/v2/models/nosuch", "", api).status, 404);
  EXPECT_EQ(Http(s.port, "GET", "/v2/models/nosuch/ready", "", api).status, 404);
  EXPECT_EQ(Http(s.port, "POST", "/v2/models/fraud/infer", R"({"inputs": []})", api).status, 400);
  json bad_shape = infer;
  bad_shape["inputs"][0]["shape"] = {1, 3};
  EXPECT_EQ(Http(s.port, "POST", "/v2/models/fraud/infer", bad_shape.dump(), api).status, 400);

  // Admin.
  EXPECT_EQ(Http(s.port, "POST", "/v1/admin/reload", "", api).status / 100, 4);
  EXPECT_EQ(Http(s.port, "POST", "/v1/admin/reload", "", admin).status, 200);

  // Metrics, in a form promtool accepts.
  HttpResult m = Http(s.port, "GET", "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("vigil_serving_scores_total"), std::string::npos);
  EXPECT_NE(m.body.find("vigil_http_requests_total"), std::string::npos);
  EXPECT_NE(m.body.find("vigil_serving_model_version{alias=\"champion\",model=\"fraud\"} 1"), std::string::npos)
      << m.body;
  if (RunCommand("command -v promtool").exit_code == 0) {
    WriteFile(dir_->Path("metrics.txt"), m.body);
    CommandResult p = RunCommand("promtool check metrics < " + ShellQuote(dir_->Path("metrics.txt")));
    EXPECT_EQ(p.exit_code, 0) << p.out << p.err;
  }

  // Graceful stop; then the serving log holds what was scored.
  EXPECT_EQ(s.process->Kill(SIGTERM), 0) << ReadFileQuiet(s.log);
  auto p = LoadProject(project_);
  ASSERT_TRUE(p.ok());
  auto log = Log::Open(p->settings.log);
  ASSERT_TRUE(log.ok());
  auto reader = (*log)->OpenReader(kServingLogTopic);
  ASSERT_TRUE(reader.ok());
  LogRecord rec;
  int records = 0, with_scored_vector = 0, with_body = 0;
  while (*(*reader)->Next(&rec)) {
    json r = json::parse(rec.payload);
    EXPECT_EQ(r["model"], "fraud");
    // The keys and request as the body gave them (serving/json_text.h writes them).
    EXPECT_TRUE(r["keys"].is_object() && r["request"].is_object()) << rec.payload.substr(0, 500);
    with_body += r["keys"] == body["keys"] && r["request"] == body["request"] &&
                 r["request"]["amount"].is_number_float();
    // The vector as base64 of its float32 bytes (scoring_service.h), which the monitors read.
    EXPECT_TRUE(r["features_f32le"].is_string()) << rec.payload.substr(0, 500);
    EXPECT_FALSE(r.contains("features"));
    EXPECT_TRUE(r.contains("score") && r.contains("ts") && r.contains("keys") && r.contains("version"));
    auto served = ParseServedRecord(rec.payload);
    ASSERT_TRUE(served.ok()) << served.status().ToString();
    ASSERT_EQ(served->features.size(), names.size());
    bool same = true;
    for (size_t c = 0; c < names.size(); ++c) {
      const json& want = f["features"][names[c].get<std::string>()];
      const float got = served->features[c];
      same &= want.is_null() ? std::isnan(got) : !std::isnan(got) && got == want.get<float>();
    }
    with_scored_vector += same;
    ++records;
  }
  EXPECT_GE(records, 4);
  EXPECT_GE(with_body, 3) << "the body's keys and request are not in the records of its requests";
  EXPECT_GE(with_scored_vector, 1) << "no record holds the vector /v1/score returned with features: true";
}

TEST_F(ServingE2eTest, ServingMatchesTraining) {
  auto p = LoadProject(project_);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  auto log = Log::Open(p->settings.log);
  ASSERT_TRUE(log.ok());
  const ModelDef& model = *p->defs.FindModel("fraud");
  auto registry = ModelRegistry::Open(project_ + "/models");
  ASSERT_TRUE(registry.ok());
  auto loaded = LoadModelVersion(p->defs, *registry, "fraud", 2);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  auto trees = CompiledModel::FromXgboostJson(ReadFile(loaded->info.dir + "/model.json"));
  ASSERT_TRUE(trees.ok()) << trees.status().ToString();
  auto labels = ReadModelLabels(model, "");
  ASSERT_TRUE(labels.ok());
  std::vector<uint32_t> rows;
  for (uint32_t i = 0; i < labels->table.ts.size(); ++i) {
    if (labels->table.ts[i] >= Day(25) && labels->table.ts[i] < Day(27)) rows.push_back(i);
  }
  ASSERT_GT(rows.size(), static_cast<size_t>(kUsers) / 3);  // 2 days of labels: ~1.1 per user
  FeatureMatrixOptions mo;
  mo.offline_dir = p->settings.offline_dir;
  DatasetStats stats;
  auto matrix = BuildFeatureMatrix(p->defs, log->get(), *loaded->builder, *labels, rows, mo, &stats);
  ASSERT_TRUE(matrix.ok()) << matrix.status().ToString();
  auto xgb_scores = loaded->booster->Predict(*matrix);
  ASSERT_TRUE(xgb_scores.ok());

  // The serving path: the same as-of tuples as online rows, request fields from the label.
  LabelTable part;
  part.path = labels->table.path;
  part.header = labels->table.header;
  for (uint32_t r : rows) part.AddRowOf(labels->table, r);
  std::vector<const FeatureViewDef*> views;
  for (const auto& v : loaded->builder->layout().views()) views.push_back(p->defs.FindView(v));
  auto tuples = JoinPointInTime(p->defs, log->get(), p->settings.offline_dir, part, views, JoinOptions{}, &stats);
  ASSERT_TRUE(tuples.ok());
  const auto& request_schema = loaded->builder->layout().request();
  size_t vector_mismatches = 0;
  double max_score_diff = 0;
  std::vector<float> vec(loaded->builder->size());
  for (size_t i = 0; i < rows.size(); ++i) {
    Row request(request_schema.size());
    for (size_t f = 0; f < request_schema.size(); ++f) {
      request[f] =
          *loaded->builder->ParseRequestCell(f, part.cell(i, *part.Column(request_schema.field(f).name)));
    }
    std::vector<const Row*> view_rows;
    for (size_t v = 0; v < views.size(); ++v) {
      view_rows.push_back((*tuples)[v][i].empty() ? nullptr : &(*tuples)[v][i]);
    }
    Row input = AssembleInput(p->defs, *loaded->builder, request, view_rows);
    loaded->builder->Build(input, vec.data());
    const float* train = &matrix->values[i * matrix->cols];
    if (std::memcmp(vec.data(), train, vec.size() * sizeof(float)) != 0) ++vector_mismatches;
    max_score_diff = std::max(max_score_diff, std::abs(double(trees->Predict(vec.data())) - (*xgb_scores)[i]));
  }
  EXPECT_EQ(vector_mismatches, 0u);
  EXPECT_LE(max_score_diff, 1e-6);
  std::printf("%zu training rows replayed through the serving path: 0 vector mismatches expected, %zu found; "
              "max |score - XGBoost| %.3g\n",
              rows.size(), vector_mismatches, max_score_diff);
}

TEST_F(ServingE2eTest, HotSwapUnderLoadHasNoErrors) {
  // Start from v1 as champion, no challenger.
  ASSERT_EQ(RunVigil(project_, {"models", "promote", "fraud", "1"}).exit_code, 0);
  Server s = StartServer({"--threads", "2"});
  ASSERT_GT(s.port, 0);
  const std::string body = ScoreBody().dump();
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::mutex mu;
  std::set<int> versions;
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      while (!stop) {
        HttpResult r = Http(s.port, "POST", "/v1/score", body);
        if (r.status != 200) {
          ++failed;
          continue;
        }
        ++ok;
        std::lock_guard l(mu);
        versions.insert(json::parse(r.body)["version"].get<int>());
      }
    });
  }
  auto wait_for = [&](int version) {
    for (int i = 0; i < 100; ++i) {
      HttpResult r = Http(s.port, "POST", "/v1/score", body);
      if (r.status == 200 && json::parse(r.body)["version"] == version) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  };
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_EQ(RunVigil(project_, {"models", "promote", "fraud", "2", "--reason", "hot swap test"}).exit_code, 0);
  EXPECT_TRUE(wait_for(2));
  ASSERT_EQ(RunVigil(project_, {"models", "promote", "fraud", "1", "--alias", "challenger"}).exit_code, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  ASSERT_EQ(RunVigil(project_, {"models", "rollback", "fraud"}).exit_code, 0);  // champion back to v1
  EXPECT_TRUE(wait_for(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(ok.load(), 100);
  EXPECT_EQ(versions, (std::set<int>{1, 2}));
  EXPECT_EQ(s.process->Kill(SIGTERM), 0);
  // Shadow scores of the challenger went to the serving log.
  auto p = LoadProject(project_);
  auto log = Log::Open(p->settings.log);
  ASSERT_TRUE(log.ok());
  auto reader = (*log)->OpenReader(kServingLogTopic);
  LogRecord rec;
  int shadow = 0;
  while (*(*reader)->Next(&rec)) shadow += json::parse(rec.payload).contains("challenger_score") ? 1 : 0;
  EXPECT_GT(shadow, 0);
}

TEST_F(ServingE2eTest, OverloadShedsAndAdmittedLatencyStaysBounded) {
  Server s = StartServer({"--threads", "1", "--max-in-flight", "2"});
  ASSERT_GT(s.port, 0);
  const std::string body = ScoreBody().dump();
  std::atomic<int> ok{0}, shed{0}, other{0}, retry_after{0};
  std::mutex mu;
  std::vector<double> latencies;
  std::vector<std::thread> clients;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  for (int c = 0; c < 48; ++c) {
    clients.emplace_back([&] {
      while (std::chrono::steady_clock::now() < until) {
        auto t0 = std::chrono::steady_clock::now();
        HttpResult r = Http(s.port, "POST", "/v1/score", body);
        double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        if (r.status == 200) {
          ++ok;
          std::lock_guard l(mu);
          latencies.push_back(ms);
        } else if (r.status == 503) {
          ++shed;
          if (r.headers.find("Retry-After:") != std::string::npos) ++retry_after;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  std::sort(latencies.begin(), latencies.end());
  ASSERT_FALSE(latencies.empty());
  const double p99 = latencies[latencies.size() * 99 / 100];
  std::printf("overload: %d admitted (p50 %.2f ms, p99 %.2f ms), %d shed with 503, %d other\n", ok.load(),
              latencies[latencies.size() / 2], p99, shed.load(), other.load());
  EXPECT_GT(shed.load(), 0);
  EXPECT_EQ(retry_after.load(), shed.load());
  EXPECT_EQ(other.load(), 0);
  if (!kSanitized) EXPECT_LT(p99, 1000.0);  // bounded by max-in-flight x service time, not by the crowd
  EXPECT_EQ(Http(s.port, "POST", "/v1/score", body).status, 200);
  EXPECT_EQ(s.process->Kill(SIGTERM), 0);
}

TEST_F(ServingE2eTest, RequestFuzzNeverCrashes) {
  Server s = StartServer({"--threads", "2", "--max-in-flight", "256"});
  ASSERT_GT(s.port, 0);
  const std::string valid = ScoreBody().dump();
  Rng rng(42);
  const std::vector<std::string> splices = {"{",    "}",     "[",     "]",      "\"",  ":", ",",    "null", "true",
                                            "1e999", "-0",   "\\u0000", "\\ud800", "{}", "[]", "9223372036854775808",
                                            "\"model\"", "\"keys\"", "\"request\"", std::string(3000, '[')};
  const int kCases = kSanitized ? 600 : 3000;
  int statuses[6] = {0};
  for (int i = 0; i < kCases; ++i) {
    std::string b = valid;
    const int edits = static_cast<int>(rng.Uniform(1, 6));
    for (int e = 0; e < edits && !b.empty(); ++e) {
      const size_t at = static_cast<size_t>(rng.Uniform(0, static_cast<int64_t>(b.size()) - 1));
      switch (rng.Uniform(0, 3)) {
        case 0:
          b[at] = static_cast<char>(rng.Uniform(0, 255));
          break;
        case 1:
          b.erase(at, static_cast<size_t>(rng.Uniform(1, 8)));
          break;
        case 2:
          b.insert(at, rng.Pick(splices));
          break;
        default:
          b = b.substr(0, at);
      }
    }
    HttpResult r = Http(s.port, "POST", "/v1/score", b);
    ASSERT_NE(r.status, 0) << "no answer (crash?) for body: " << b.substr(0, 200);
    ASSERT_LT(r.status, 500) << b.substr(0, 200) << " -> " << r.body;
    ++statuses[r.status / 100];
  }
  std::printf("fuzz: %d bodies -> %d 2xx, %d 4xx\n", kCases, statuses[2], statuses[4]);
  EXPECT_EQ(Http(s.port, "POST", "/v1/score", valid).status, 200);
  EXPECT_EQ(s.process->Kill(SIGTERM), 0);
}

}  // namespace serving_e2e_test
}  // namespace vigil::e2e
