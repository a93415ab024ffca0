// Training-serving skew through the real processes (issue 7): `vigil serve` answers
// requests from the online store, `vigil monitor skew` recomputes their vectors from the
// offline store at the same instants. A correct server shows 0 mismatches; a server whose
// online store stopped following the ingestion worker (--catch-up-ms 0: a stuck
// follower, features read at the wrong time) is caught.
//
// Exactness needs the served state to be final at the request instant: every source gets
// a heartbeat event at H in every partition (users hb-0..hb-63), so the stream's
// watermark is H - 2s (the lateness) on every source, and requests are scored at that
// watermark: the online rows are then exactly the changelog rows before it.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "e2e_util.h"
#include "fraud_pipeline_util.h"
#include "common/time.h"
#include "serving/http_client.h"

namespace vigil::e2e {
namespace skew_e2e_test {

namespace fs = std::filesystem;
using json = nlohmann::json;

int64_t Day(int d) { return GeneratedDay(d); }
// The sanitizer build's project is smaller; there every labelled event of phase 2 is a
// request rather than every third, so the requests stay as many.
constexpr int kUsers = kSanitized ? 300 : 800;
constexpr size_t kRequestStride = kSanitized ? 1 : 3;

// Writes the events of `source` with from <= ts < to, then 64 heartbeat copies of its last
// event at `heartbeat` (every key-like field "hb-i"), to `out`.
void WritePhase(const std::string& gen, const std::string& source, int64_t from, int64_t to, int64_t heartbeat,
                const std::string& out) {
  std::string text = ReadFile(gen + "/" + source + ".jsonl"), part;
  json last;
  for (size_t start = 0; start < text.size();) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    const std::string line = text.substr(start, nl - start);
    start = nl + 1;
    if (line.empty()) continue;
    json e = json::parse(line);
    const int64_t ts = e["ts"].get<int64_t>();
    if (ts >= from && ts < to) {
      part += line + "\n";
      last = e;
    }
  }
  ASSERT_FALSE(last.is_null()) << source;
  for (int i = 0; i < 64; ++i) {
    json hb = last;
    for (auto it = hb.begin(); it != hb.end(); ++it) {
      if (it.key().size() > 3 && it.key().substr(it.key().size() - 3) == "_id" && it->is_string()) {
        *it = "hb-" + std::to_string(i);
      }
    }
    hb["ts"] = heartbeat;
    part += hb.dump() + "\n";
  }
  WriteFile(out, part);
}

struct Served {
  std::unique_ptr<BackgroundVigil> process;
  std::unique_ptr<HttpClient> client;
  std::string log;
};

Served StartServe(const std::string& project, const std::string& log, const std::vector<std::string>& extra) {
  Served s;
  s.log = log;
  std::vector<std::string> args = {"serve", "--port", "0"};
  args.insert(args.end(), extra.begin(), extra.end());
  s.process = std::make_unique<BackgroundVigil>(project, args, log);
  std::regex re(R"(serving on (http://127\.0\.0\.1:\d+))");
  for (int i = 0; i < 600 && !s.client; ++i) {
    std::smatch m;
    std::string text = ReadFile(log);
    if (std::regex_search(text, m, re)) {
      auto c = HttpClient::Connect(m[1]);
      EXPECT_TRUE(c.ok()) << c.status().ToString();
      if (c.ok()) s.client = std::move(c).value();
    }
    if (!s.process->running()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(s.client) << ReadFile(log);
  return s;
}

// The last _skew record of `project`.
json LastSkew(const std::string& project) {
  auto recs = ReadTopic(project, "_skew");
  EXPECT_FALSE(recs.empty());
  return recs.empty() ? json() : json::parse(recs.back().payload);
}

TEST(SkewE2e, ACorrectServerShowsNoSkewAndAStuckFollowerIsCaught) {
  TempDir dir("vigil-skew");
  const std::string project = MakeProject(dir, "project", "stream: {idle_timeout: 0s}\n");
  const std::string gen = project + "/data";
  CommandResult g = RunCommand(ShellJoin({VigilBinary(), "generate", "--users", std::to_string(kUsers),
                                          "--days", "25", "--seed", "5", "--out", gen}));
  ASSERT_EQ(g.exit_code, 0) << g.err;
  const int64_t t1 = Day(22), t2 = Day(24);
  for (const auto& s : kSources) {
    WritePhase(gen, s, 0, t1, t1, dir.Path("p1." + s + ".jsonl"));
    WritePhase(gen, s, t1, t2, t2, dir.Path("p2." + s + ".jsonl"));
  }
  auto run = [&](const std::vector<std::string>& args) {
    CommandResult r = RunVigil(project, args, 600);
    EXPECT_EQ(r.exit_code, 0) << ShellJoin(args) << ": " << r.Describe();
    return r;
  };
  for (const auto& s : kSources) run({"ingest", s, dir.Path("p1." + s + ".jsonl")});
  run({"stream", "--until-caught-up"});
  run({"train", "fraud", "--at", std::to_string(Day(21))});

  // The stuck server opens the store now and never catches up. (One server at a time
  // writes the embedded log's serving log topic.)
  Served stuck = StartServe(project, dir.Path("stuck.log"), {"--catch-up-ms", "0"});
  ASSERT_TRUE(stuck.client);

  for (const auto& s : kSources) run({"ingest", s, dir.Path("p2." + s + ".jsonl")});
  CommandResult st = run({"stream", "--until-caught-up"});
  // Both stand at the heartbeat's watermark.
  EXPECT_NE(st.out.find(FormatIsoTimestamp(t2 - 2000)), std::string::npos) << st.out;

  // Requests: the events labelled in phase 2, scored at the watermark.
  auto labels = ParseCsv(ReadFile(gen + "/labels.csv"));
  const auto& h = labels[0];
  auto col = [&](const char* name) { return static_cast<size_t>(std::find(h.begin(), h.end(), name) - h.begin()); };
  std::vector<json> bodies;
  for (size_t i = 1; i < labels.size() && bodies.size() < 300; i += kRequestStride) {
    const auto& row = labels[i];
    const int64_t ts = std::stoll(row[col("ts")]);
    if (ts < t1 || ts >= t2) continue;
    json keys = json::object();
    for (const char* k : {"user_id", "device_id", "card_id"}) {
      if (!row[col(k)].empty()) keys[k] = row[col(k)];
    }
    bodies.push_back({{"model", "fraud"},
                      {"keys", keys},
                      {"request", {{"amount", std::stod(row[col("amount")])}, {"source", row[col("source")]}}},
                      {"ts", t2 - 2000},
                      {"id", row[col("event_id")]}});
  }
  ASSERT_GE(bodies.size(), 200u);
  size_t logged = 0;
  auto score_all = [&](Served& s) {
    for (const auto& b : bodies) {
      auto r = s.client->Request("POST", "/v1/score", b.dump());
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ASSERT_EQ(r->status, 200) << r->body;
    }
    // The serving log is written in the background: wait until it holds them.
    logged += bodies.size();
    for (int i = 0; i < 200 && ReadTopic(project, "_serving_log").size() < logged; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_EQ(ReadTopic(project, "_serving_log").size(), logged);
  };

  score_all(stuck);
  CommandResult bad = run({"monitor", "skew", "fraud"});
  std::printf("%s", bad.out.c_str());
  json skewed = LastSkew(project);
  EXPECT_EQ(skewed["sampled"], static_cast<int64_t>(bodies.size()));
  // Entities active in phase 2 were served their phase-1 features.
  EXPECT_GT(skewed["mismatch_rate"].get<double>(), 0.3) << skewed.dump();
  std::map<std::string, int64_t> by_feature;
  for (const auto& f : skewed["features"]) by_feature[f["feature"]] = f["mismatches"];
  EXPECT_EQ(by_feature["amount"], 0);  // request fields are never stale
  int64_t view_mismatches = 0;
  for (const auto& [name, n] : by_feature) view_mismatches += name.rfind("user_", 0) == 0 ? n : 0;
  EXPECT_GT(view_mismatches, static_cast<int64_t>(bodies.size()) / 4) << skewed.dump();
  EXPECT_NE(bad.out.find("e.g. "), std::string::npos) << bad.out;
  EXPECT_EQ(stuck.process->Kill(SIGTERM), 0) << ReadFile(stuck.log);

  // A correct server, caught up with the same store.
  Served good = StartServe(project, dir.Path("good.log"), {});
  ASSERT_TRUE(good.client);
  auto reload = good.client->Request("POST", "/v1/admin/reload", "");
  ASSERT_TRUE(reload.ok() && reload->status == 200) << (reload.ok() ? reload->body : reload.status().ToString());
  score_all(good);
  CommandResult ok = run({"monitor", "skew", "fraud"});
  std::printf("%s", ok.out.c_str());
  json clean = LastSkew(project);
  EXPECT_EQ(clean["sampled"], static_cast<int64_t>(bodies.size()));
  EXPECT_EQ(clean["mismatched_rows"], 0) << clean.dump();

  // The same check, periodically, inside `vigil monitor run`, with its figures as metrics.
  const std::string run_log = dir.Path("monitor-run.log");
  BackgroundVigil monitor(project, {"monitor", "run", "--every", "1s", "--window", "1d", "--metrics-port", "0"}, run_log);
  std::string metrics_url;
  for (int i = 0; i < 200 && metrics_url.empty() && monitor.running(); ++i) {
    std::smatch m;
    std::string text = ReadFile(run_log);
    if (std::regex_search(text, m, std::regex(R"(metrics: (http://127\.0\.0\.1:\d+))"))) metrics_url = m[1];
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_FALSE(metrics_url.empty()) << ReadFile(run_log);
  score_all(good);
  auto scraper = HttpClient::Connect(metrics_url);
  ASSERT_TRUE(scraper.ok()) << scraper.status().ToString();
  std::string text;
  for (int i = 0; i < 300; ++i) {
    auto r = (*scraper)->Request("GET", "/metrics", "");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    text = r->body;
    if (text.find("vigil_skew_mismatch_ratio{model=\"fraud\",version=\"1\"} 0") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_NE(text.find("vigil_skew_mismatch_ratio{model=\"fraud\",version=\"1\"} 0"), std::string::npos) << text;
  EXPECT_NE(text.find("vigil_skew_feature_mismatch_ratio{feature=\"amount\",model=\"fraud\",version=\"1\"} 0"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("vigil_monitor_rounds_total"), std::string::npos);
  EXPECT_NE(text.find("process_resident_memory_bytes"), std::string::npos);
  if (RunCommand("command -v promtool", 10).exit_code == 0) {
    WriteFile(dir.Path("monitor.prom"), text);
    CommandResult lint = RunCommand("promtool check metrics < " + ShellQuote(dir.Path("monitor.prom")), 60);
    EXPECT_EQ(lint.exit_code, 0) << lint.Describe();
  }
  // Its performance check reads only what each round adds: once every record is logged,
  // a round sees them all, the rounds together read each record once, and a round with
  // nothing new reads nothing.
  const std::regex perf_line(R"(monitor performance: (\d+) records of fraud \((\d+) read in this round\))");
  auto perf_rounds = [&] {
    std::vector<std::pair<int64_t, int64_t>> rounds;  // (records in all, read in the round)
    const std::string text = ReadFile(run_log);
    for (std::sregex_iterator it(text.begin(), text.end(), perf_line), end; it != end; ++it) {
      rounds.emplace_back(std::stoll((*it)[1]), std::stoll((*it)[2]));
    }
    return rounds;
  };
  for (int i = 0; i < 300; ++i) {  // until a round after the one that saw every record
    auto rounds = perf_rounds();
    if (rounds.size() >= 2 && rounds[rounds.size() - 2].first == static_cast<int64_t>(logged)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(monitor.Kill(SIGTERM), 0) << ReadFile(run_log);
  const auto rounds = perf_rounds();
  ASSERT_GE(rounds.size(), 2u) << ReadFile(run_log);
  EXPECT_EQ(rounds.back().first, static_cast<int64_t>(logged)) << ReadFile(run_log);
  int64_t read_in_rounds = 0;
  for (const auto& [all, now] : rounds) read_in_rounds += now;
  EXPECT_EQ(read_in_rounds, rounds.back().first) << ReadFile(run_log);
  EXPECT_EQ(rounds.back().second, 0) << "a round with nothing new read records again\n" << ReadFile(run_log);
  // Its rounds may split the 300 requests (a round can start while they are still being
  // logged); none may find a mismatch.
  const std::string run_text = ReadFile(run_log);
  EXPECT_NE(run_text.find("skew fraud v1: 0 of "), std::string::npos) << run_text;
  EXPECT_FALSE(std::regex_search(run_text, std::regex(R"(skew fraud v1: [1-9][0-9]* of)"))) << run_text;
}

}  // namespace skew_e2e_test
}  // namespace vigil::e2e
