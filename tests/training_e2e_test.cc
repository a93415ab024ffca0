// Model training and the retraining feedback loop, end to end (issue 5), on the fraud
// example's `fraud` model over generated data with a drift day.
//
//  - DriftedAttackersAreCaughtAfterRetraining: the feedback loop works. A model trained
//    before the drift day (`train --at day 14`) is the static model; `retrain --loop
//    --until-caught-up` then runs the weekly rounds in event time. On the last week (after
//    the drift, every outcome known in hindsight) the retrained champion's ROC AUC beats
//    the static model's by a clear margin; both are printed. Every round's decision is in
//    the registry, promoted or not, and the alias history says why.
//  - LabelsNotKnownByTheCutOffAreLeftOut: labels whose known_at lies after the cut-off are
//    counted as left out, and flipping their outcome changes neither the data fingerprint
//    nor a byte of the model; flipping one known outcome in the fit period changes both.
//  - TrainingRowsSeeOnlyEventsBeforeTheLabel: the training matrix's view features equal an
//    independent count over the raw events strictly before each label's ts, while a leaky
//    count (events up to and including ts: the labelled event itself) differs on every
//    transaction label, so a join that leaked would be caught.
//  - ReplayInPassesGivesTheSameMatrix: the training matrix is the same, bit for bit,
//    whether the replay holds each source's labelled entities at once or in many passes
//    of a few entities each, and equals the builder's vectors from whole input rows over
//    the collected point-in-time join (the serving path's construction).
//  - SameDataAndSeedGiveTheSameModelBytes: two trainings, identical model.json and data
//    fingerprint; promote and rollback through the CLI move the champion and back.
//  - ATriggerRunsOneRoundAtTheClock: `retrain --trigger` (what monitoring will call) makes
//    the loop run one round at the current event time, recorded with the trigger's reason,
//    and only once.
//  - ClearErrors: unknown model, a cut-off without labels, a bad label file.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "e2e_util.h"
#include "compute/entity_window.h"
#include "log/log.h"
#include "spec/definitions.h"
#include "training/trainer.h"

namespace vigil::e2e {
namespace training_e2e_test {

namespace fs = std::filesystem;

constexpr int kUsers = kSanitized ? 1500 : 4000;
constexpr int kDays = 35, kDriftDay = 14, kSeed = 1;
// 2026-01-05T00:00:00Z, the generator's default start.
constexpr int64_t kStart = 1767571200000;

int64_t Day(int d) { return kStart + d * kDay; }

const std::vector<std::string> kSources = {"logins", "transactions", "withdrawals", "p2p_orders", "account_events"};

class TrainingE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new TempDir("vigil-train-data");
    CommandResult gen = RunCommand(ShellJoin({VigilBinary(), "generate", "--users", std::to_string(kUsers), "--days",
                                              std::to_string(kDays), "--seed", std::to_string(kSeed), "--drift-day",
                                              std::to_string(kDriftDay), "--out", data_->Path("gen")}));
    ASSERT_EQ(gen.exit_code, 0) << gen.err;
  }
  static void TearDownTestSuite() {
    delete data_;
    data_ = nullptr;
  }

  // A project with the fraud example's definitions (models.yaml's labels.path points at
  // data/labels.csv, a copy of the generated labels) and every source ingested.
  std::string MakeProject(const std::string& name) {
    const std::string project = dir_.Path(name);
    fs::create_directories(project + "/data");
    for (const auto& e : fs::directory_iterator(SourceDir() + "/examples/fraud")) {
      if (e.path().extension() == ".yaml") fs::copy_file(e.path(), project + "/" + e.path().filename().string());
    }
    fs::copy_file(data_->Path("gen/labels.csv"), project + "/data/labels.csv");
    for (const auto& s : kSources) {
      CommandResult r = RunVigil(project, {"ingest", s, data_->Path("gen/" + s + ".jsonl")});
      EXPECT_EQ(r.exit_code, 0) << r.err;
    }
    return project;
  }

  static nlohmann::json Json(const CommandResult& r) {
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.out;
    return j;
  }

  static TempDir* data_;
  TempDir dir_{"vigil-train"};
};
TempDir* TrainingE2eTest::data_ = nullptr;

TEST_F(TrainingE2eTest, DriftedAttackersAreCaughtAfterRetraining) {
  const std::string project = MakeProject("drift");
  CommandResult train =
      RunVigil(project, {"train", "fraud", "--at", std::to_string(Day(kDriftDay)), "--replay-only"}, 600);
  ASSERT_EQ(train.exit_code, 0) << train.err;
  EXPECT_NE(train.out.find("registered fraud v1 as champion"), std::string::npos) << train.out;

  CommandResult loop = RunVigil(project, {"retrain", "fraud", "--loop", "--until-caught-up", "--replay-only"}, 900);
  ASSERT_EQ(loop.exit_code, 0) << loop.err;
  std::printf("%s", loop.out.c_str());

  nlohmann::json show = Json(RunVigil(project, {"models", "show", "fraud", "--json"}));
  const nlohmann::json& m = show["models"]["fraud"];
  const auto& decisions = m["decisions"];
  // Weekly rounds after the static model's cut-off, up to the model's clock (the data
  // ends on day 35, so the rounds are at days 21 and 28).
  ASSERT_EQ(decisions.size(), 2u) << m.dump(1);
  EXPECT_EQ(decisions[0]["event_time_ms"].get<int64_t>(), Day(21));
  EXPECT_EQ(decisions[1]["event_time_ms"].get<int64_t>(), Day(28));
  int promoted = 0;
  for (const auto& d : decisions) {
    EXPECT_EQ(d["trigger"], "schedule");
    EXPECT_EQ(d["metric"], "roc_auc");
    EXPECT_FALSE(d["reason"].get<std::string>().empty());
    promoted += d["promoted"].get<bool>() ? 1 : 0;
  }
  const int champion = m["aliases"]["champion"].get<int>();
  ASSERT_GE(promoted, 1) << "the loop never promoted a challenger: " << m.dump(1);
  EXPECT_NE(champion, 1);
  // Each promotion is an alias move whose reason names the round.
  int moves = 0;
  for (const auto& h : m["history"]) {
    if (h["alias"] == "champion" && h["to_version"].get<int>() != 1) {
      ++moves;
      EXPECT_NE(h["reason"].get<std::string>().find("retrain round at"), std::string::npos) << h.dump();
      EXPECT_NE(h["command"].get<std::string>().find("retrain fraud --loop"), std::string::npos) << h.dump();
    }
  }
  EXPECT_EQ(moves, promoted);

  // The last week, after the drift, judged in hindsight (every outcome).
  nlohmann::json eval = Json(RunVigil(project, {"evaluate", "fraud", "--versions", "1,champion", "--from",
                                                std::to_string(Day(28)), "--replay-only", "--json"},
                                      600));
  ASSERT_EQ(eval.size(), 2u);
  const double static_auc = eval[0]["metrics"]["roc_auc"].get<double>();
  const double retrained_auc = eval[1]["metrics"]["roc_auc"].get<double>();
  std::printf("after the drift (days 28-35, seed %d, %d users): static model v1 ROC AUC %.4f, retrained "
              "champion v%d ROC AUC %.4f\n",
              kSeed, kUsers, static_auc, champion, retrained_auc);
  RecordProperty("static_auc", std::to_string(static_auc));
  RecordProperty("retrained_auc", std::to_string(retrained_auc));
  if (!kSanitized) {
    EXPECT_GT(retrained_auc, static_auc + 0.15);
    EXPECT_GT(retrained_auc, 0.85);
  } else {
    EXPECT_GT(retrained_auc, static_auc);
  }
}

// The labels file with known_at rewritten: every outcome known at once (known_at = ts),
// but those of `late` rows only after `late_known_at`.
std::string RewriteLabels(const std::string& text, const std::function<bool(size_t)>& late, int64_t late_known_at,
                          const std::function<bool(size_t)>& flip) {
  auto rows = ParseCsv(text);
  const auto& header = rows[0];
  const size_t ts = std::find(header.begin(), header.end(), "ts") - header.begin();
  const size_t known = std::find(header.begin(), header.end(), "known_at") - header.begin();
  const size_t target = std::find(header.begin(), header.end(), "is_fraud") - header.begin();
  std::string out = CsvLine(header) + "\n";
  for (size_t i = 1; i < rows.size(); ++i) {
    auto r = rows[i];
    r[known] = late(i) ? std::to_string(late_known_at) : r[ts];
    if (flip(i)) r[target] = r[target] == "1" ? "0" : "1";
    out += CsvLine(r) + "\n";
  }
  return out;
}

TEST_F(TrainingE2eTest, LabelsNotKnownByTheCutOffAreLeftOut) {
  const std::string project = MakeProject("leak");
  // A model that trusts known_at alone (no maturity), so late outcomes sit in the window.
  std::string models = ReadFile(project + "/models.yaml");
  models = std::regex_replace(models, std::regex("maturity: 7d"), "maturity: 0d");
  WriteFile(project + "/models.yaml", models);
  const int64_t cutoff = Day(21);
  const std::string text = ReadFile(project + "/data/labels.csv");
  const auto rows = ParseCsv(text);
  const size_t ts_col = std::find(rows[0].begin(), rows[0].end(), "ts") - rows[0].begin();
  // Every third label of the last 10 days before the cut-off is known only after it.
  auto late = [&](size_t i) {
    const int64_t ts = std::stoll(rows[i][ts_col]);
    return ts >= cutoff - 10 * kDay && ts < cutoff && i % 3 == 0;
  };
  int64_t expected_late = 0;
  for (size_t i = 1; i < rows.size(); ++i) expected_late += late(i) ? 1 : 0;
  // One known label inside the fit period ([cutoff-21d, cutoff-5d)).
  size_t fit_row = 0;
  for (size_t i = 1; i < rows.size() && !fit_row; ++i) {
    const int64_t ts = std::stoll(rows[i][ts_col]);
    if (ts >= cutoff - 15 * kDay && ts < cutoff - 10 * kDay) fit_row = i;
  }
  ASSERT_GT(fit_row, 0u);
  auto none = [](size_t) { return false; };
  WriteFile(project + "/a.csv", RewriteLabels(text, late, cutoff + kHour, none));
  WriteFile(project + "/b.csv", RewriteLabels(text, late, cutoff + kHour, late));  // late outcomes flipped
  WriteFile(project + "/c.csv", RewriteLabels(text, late, cutoff + kHour, [&](size_t i) { return i == fit_row; }));

  std::vector<std::string> fingerprints, models_bytes;
  for (const char* f : {"a.csv", "b.csv", "c.csv"}) {
    CommandResult r = RunVigil(project, {"train", "fraud", "--at", std::to_string(cutoff), "--labels",
                                         project + "/" + f, "--replay-only"},
                               600);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::smatch match;
    ASSERT_TRUE(std::regex_search(r.out, match, std::regex("left out: (\\d+) not known by the cut-off"))) << r.out;
    EXPECT_EQ(std::stoll(match[1]), expected_late) << f;
    nlohmann::json v = Json(RunVigil(project, {"models", "show", "fraud", "--json"}))["models"]["fraud"]["versions"].back();
    fingerprints.push_back(v["data_fingerprint"]);
    models_bytes.push_back(ReadFile(v["dir"].get<std::string>() + "/model.json"));
  }
  ASSERT_GT(expected_late, 100);
  EXPECT_EQ(fingerprints[0], fingerprints[1]) << "an outcome known only after the cut-off reached the training data";
  EXPECT_TRUE(models_bytes[0] == models_bytes[1]);
  EXPECT_NE(fingerprints[0], fingerprints[2]) << "a known outcome in the fit period did not count";
  EXPECT_FALSE(models_bytes[0] == models_bytes[2]);
}

TEST_F(TrainingE2eTest, TrainingRowsSeeOnlyEventsBeforeTheLabel) {
  const std::string project = MakeProject("pit");
  auto p = LoadProject(project);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  auto log = Log::Open(p->settings.log);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  const ModelDef& model = *p->defs.FindModel("fraud");
  auto labels = ReadModelLabels(model, "");
  ASSERT_TRUE(labels.ok()) << labels.status().ToString();
  auto builder = FeatureLayout::FromModel(model).Bind(p->defs);
  ASSERT_TRUE(builder.ok()) << builder.status().ToString();
  // Transaction labels of days 10..12.
  const auto& t = labels->table;
  const size_t source_col = *t.Column("source"), user_col = *t.Column("user_id"), amount_col = *t.Column("amount");
  std::vector<uint32_t> rows;
  for (uint32_t i = 0; i < t.size(); ++i) {
    if (t.cell(i, source_col) == "transactions" && t.ts[i] >= Day(10) && t.ts[i] < Day(12)) rows.push_back(i);
  }
  ASSERT_GT(rows.size(), 200u);
  FeatureMatrixOptions mo;
  mo.replay_only = true;
  DatasetStats stats;
  auto m = BuildFeatureMatrix(p->defs, log->get(), **builder, *labels, rows, mo, &stats);
  ASSERT_TRUE(m.ok()) << m.status().ToString();

  // The independent count: each user's transactions, from the raw events.
  std::map<std::string, std::vector<int64_t>> txn_ts;
  {
    const std::string text = ReadFile(data_->Path("gen/transactions.jsonl"));
    std::regex user_re("\"user_id\":\"([^\"]+)\""), ts_re("\"ts\":(\\d+)");
    for (size_t start = 0; start < text.size();) {
      size_t nl = text.find('\n', start);
      const std::string line = text.substr(start, nl - start);
      start = nl == std::string::npos ? text.size() : nl + 1;
      std::smatch u, s;
      if (std::regex_search(line, u, user_re) && std::regex_search(line, s, ts_re)) {
        txn_ts[u[1]].push_back(std::stoll(s[1]));
      }
    }
  }
  const auto& cols = (*builder)->layout().columns();
  size_t count_col = cols.size(), amount_feature = cols.size();
  for (size_t c = 0; c < cols.size(); ++c) {
    if (cols[c].name == "user_txn.txn_count_24h") count_col = c;
    if (cols[c].name == "amount") amount_feature = c;
  }
  ASSERT_LT(count_col, cols.size());
  ASSERT_LT(amount_feature, cols.size());
  size_t leaky_differs = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const int64_t ts = t.ts[rows[i]];
    const auto& all = txn_ts[std::string(t.cell(rows[i], user_col))];
    // As of ts - 1 ms over 24h: events with ts - 24h <= e < ts.
    const auto strict = std::count_if(all.begin(), all.end(), [&](int64_t e) { return e >= ts - kDay && e < ts; });
    const auto leaky = std::count_if(all.begin(), all.end(), [&](int64_t e) { return e > ts - kDay && e <= ts; });
    const float got = m->values[i * m->cols + count_col];
    ASSERT_EQ(got, static_cast<float>(strict)) << "label row " << rows[i] << " at " << ts;
    leaky_differs += got != static_cast<float>(leaky) ? 1 : 0;
    EXPECT_EQ(m->values[i * m->cols + amount_feature],
              static_cast<float>(std::stod(std::string(t.cell(rows[i], amount_col)))));
  }
  // The labelled transaction itself is at ts: a join that let it in would differ on every row.
  EXPECT_EQ(leaky_differs, rows.size());
}

TEST_F(TrainingE2eTest, ReplayInPassesGivesTheSameMatrix) {
  const std::string project = MakeProject("passes");
  auto p = LoadProject(project);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  auto log = Log::Open(p->settings.log);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  const ModelDef& model = *p->defs.FindModel("fraud");
  auto labels = ReadModelLabels(model, "");
  ASSERT_TRUE(labels.ok()) << labels.status().ToString();
  auto builder = FeatureLayout::FromModel(model).Bind(p->defs);
  ASSERT_TRUE(builder.ok()) << builder.status().ToString();
  // Labels of every source on days 10..13, newest first (the join takes rows in any order).
  const auto& t = labels->table;
  std::vector<uint32_t> rows;
  for (uint32_t i = 0; i < t.size(); ++i) {
    if (t.ts[i] >= Day(10) && t.ts[i] < Day(13)) rows.push_back(i);
  }
  std::reverse(rows.begin(), rows.end());
  ASSERT_GT(rows.size(), 1000u);
  FeatureMatrixOptions mo;
  mo.replay_only = true;
  DatasetStats one_pass, passes;
  auto a = BuildFeatureMatrix(p->defs, log->get(), **builder, *labels, rows, mo, &one_pass);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  mo.events_per_pass = 20000;  // the logins alone are over 10 passes
  auto b = BuildFeatureMatrix(p->defs, log->get(), **builder, *labels, rows, mo, &passes);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ASSERT_EQ(a->values.size(), b->values.size());
  EXPECT_EQ(std::memcmp(a->values.data(), b->values.data(), a->values.size() * sizeof(float)), 0)
      << "replaying in passes changed the matrix";
  EXPECT_EQ(a->labels, b->labels);
  EXPECT_EQ(one_pass.events_replayed, passes.events_replayed);
  EXPECT_EQ(one_pass.from_replay, passes.from_replay);

  // The matrix, filled column by column as the join streams, equals the vectors the
  // builder makes from whole input rows (the serving path) over the collected join.
  LabelTable part;
  part.path = t.path;
  part.header = t.header;
  for (uint32_t r : rows) part.AddRowOf(t, r);
  std::vector<const FeatureViewDef*> views;
  std::vector<Row> empty;
  for (const auto& v : (*builder)->layout().views()) {
    views.push_back(p->defs.FindView(v));
    empty.push_back(ViewPlan(*views.back()).empty_tuple());
  }
  DatasetStats stats;
  auto tuples = JoinPointInTime(p->defs, log->get(), "", part, views, JoinOptions{}, &stats);
  ASSERT_TRUE(tuples.ok()) << tuples.status().ToString();
  const Schema& request = (*builder)->layout().request();
  std::vector<float> vec((*builder)->size());
  size_t differ = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    Row input((*builder)->input_width());
    for (size_t f = 0; f < request.size(); ++f) {
      input[f] = *(*builder)->ParseRequestCell(f, part.cell(i, *part.Column(request.field(f).name)));
    }
    for (size_t v = 0; v < views.size(); ++v) {
      const Row& tuple = (*tuples)[v][i].empty() ? empty[v] : (*tuples)[v][i];
      std::copy(tuple.begin(), tuple.end(), input.begin() + static_cast<std::ptrdiff_t>((*builder)->view_offset(v)));
    }
    (*builder)->Build(input, vec.data());
    differ += std::memcmp(vec.data(), &a->values[i * a->cols], vec.size() * sizeof(float)) != 0 ? 1 : 0;
  }
  EXPECT_EQ(differ, 0u) << "of " << rows.size() << " rows";
}

TEST_F(TrainingE2eTest, SameDataAndSeedGiveTheSameModelBytes) {
  const std::string project = MakeProject("repro");
  for (int i = 0; i < 2; ++i) {
    CommandResult r = RunVigil(project, {"train", "fraud", "--at", std::to_string(Day(28)), "--replay-only"}, 600);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  nlohmann::json m = Json(RunVigil(project, {"models", "show", "fraud", "--json"}))["models"]["fraud"];
  ASSERT_EQ(m["versions"].size(), 2u);
  EXPECT_EQ(m["versions"][0]["data_fingerprint"], m["versions"][1]["data_fingerprint"]);
  const std::string a = ReadFile(m["versions"][0]["dir"].get<std::string>() + "/model.json");
  const std::string b = ReadFile(m["versions"][1]["dir"].get<std::string>() + "/model.json");
  EXPECT_FALSE(a.empty());
  EXPECT_TRUE(a == b) << "same data and seed gave different model bytes";
  EXPECT_EQ(m["aliases"]["champion"], 1);

  // Promote v2, then roll back: the champion is v1 again, and the history says so.
  ASSERT_EQ(RunVigil(project, {"models", "promote", "fraud", "2", "--reason", "test"}).exit_code, 0);
  EXPECT_EQ(Json(RunVigil(project, {"models", "show", "fraud", "--json"}))["models"]["fraud"]["aliases"]["champion"],
            2);
  CommandResult rb = RunVigil(project, {"models", "rollback", "fraud", "--json"});
  ASSERT_EQ(rb.exit_code, 0) << rb.err;
  nlohmann::json move = Json(rb);
  EXPECT_EQ(move["from_version"], 2);
  EXPECT_EQ(move["to_version"], 1);
  EXPECT_TRUE(move["rollback"].get<bool>());
  nlohmann::json after = Json(RunVigil(project, {"models", "show", "fraud", "--json"}))["models"]["fraud"];
  EXPECT_EQ(after["aliases"]["champion"], 1);
  EXPECT_TRUE(after["history"].back()["rollback"].get<bool>());
  CommandResult list = RunVigil(project, {"models", "list"});
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_NE(list.out.find("champion"), std::string::npos) << list.out;
}

TEST_F(TrainingE2eTest, ATriggerRunsOneRoundAtTheClock) {
  const std::string project = MakeProject("trigger");
  ASSERT_EQ(RunVigil(project, {"train", "fraud", "--at", std::to_string(Day(28)), "--replay-only"}, 600).exit_code, 0);
  const std::string until = std::to_string(Day(28) + 12 * kHour);
  auto loop = [&] {
    CommandResult r = RunVigil(project, {"retrain", "fraud", "--loop", "--until-caught-up", "--until", until,
                                         "--replay-only"},
                               600);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r;
  };
  // Nothing is due: the next scheduled round is 7 days after the champion's cut-off.
  EXPECT_EQ(loop().out, "");
  CommandResult t = RunVigil(project, {"retrain", "fraud", "--trigger", "psi alert on amount"});
  ASSERT_EQ(t.exit_code, 0) << t.err;
  CommandResult r = loop();
  EXPECT_NE(r.out.find("trigger: psi alert on amount"), std::string::npos) << r.out;
  // The trigger is consumed: a second run has nothing to do.
  EXPECT_EQ(loop().out, "");
  nlohmann::json d = Json(RunVigil(project, {"models", "show", "fraud", "--json"}))["models"]["fraud"]["decisions"];
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0]["trigger"], "trigger: psi alert on amount");
  EXPECT_EQ(d[0]["event_time_ms"].get<int64_t>(), Day(28) + 12 * kHour);
  EXPECT_EQ(d[0]["champion_version"], 1);
  EXPECT_EQ(d[0]["challenger_version"], 2);
}

TEST_F(TrainingE2eTest, ClearErrors) {
  const std::string project = MakeProject("errors");
  CommandResult r = RunVigil(project, {"train", "nosuch"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("unknown model 'nosuch' (defined: fraud)"), std::string::npos) << r.err;
  // Before the data starts: no labels in the periods.
  r = RunVigil(project, {"train", "fraud", "--at", std::to_string(Day(1)), "--replay-only"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("the fit period"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("needs both outcomes"), std::string::npos) << r.err;
  WriteFile(project + "/bad.csv", "event_id,ts,user_id\nx,1,u\n");
  r = RunVigil(project, {"train", "fraud", "--labels", project + "/bad.csv", "--at", std::to_string(Day(28))});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("bad.csv:1: no column"), std::string::npos) << r.err;
  r = RunVigil(project, {"models", "rollback", "fraud"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_FALSE(r.err.empty());
}

}  // namespace training_e2e_test
}  // namespace vigil::e2e
