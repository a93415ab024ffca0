// The model registry (model_registry.h): versions 1, 2, 3 with their files in v<N>,
// aliases, the alias history, rollback, retraining decisions, corruption, reopening, and
// concurrent writers in several threads and several processes at once.
#include "training/model_registry.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/files.h"
#include "common/test_util.h"
#include "common/time.h"

namespace vigil {
namespace model_registry_test {

namespace fs = std::filesystem;

class ModelRegistryTest : public ::testing::Test {
 protected:
  ModelRegistry OpenRegistry() {
    auto r = ModelRegistry::Open(root_);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return std::move(r).value();
  }

  // A filled staging directory: model.json holds `content`, plus a nested file.
  std::string Stage(const std::string& name, const std::string& content) {
    std::string dir = tmp_.Path("staging/" + name);
    fs::create_directories(dir + "/extra");
    test::WriteTextFile(dir + "/model.json", content);
    test::WriteTextFile(dir + "/manifest.json", "{}");
    test::WriteTextFile(dir + "/extra/notes.txt", "n");
    return dir;
  }

  ModelVersionInfo RegisterOk(ModelRegistry& reg, const std::string& model, const std::string& content) {
    ModelVersionInfo info;
    info.cutoff_ms = 1000;
    info.data_fingerprint = "fp-" + content;
    info.command = "vigil train " + content;
    info.metrics = {{"roc_auc", 0.9}, {"log_loss", std::nan("")}};
    auto r = reg.Register(model, Stage(content, content), info);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : ModelVersionInfo{};
  }

  test::ScratchDir tmp_{"vigil_model_registry"};
  std::string root_ = tmp_.Path("project/models");
};

TEST_F(ModelRegistryTest, RegisterNumbersVersionsAndMovesFiles) {
  ModelRegistry reg = OpenRegistry();
  EXPECT_TRUE(fs::is_directory(root_));
  EXPECT_TRUE(reg.Models()->empty());
  int64_t before = WallClockMs();
  for (int n = 1; n <= 3; ++n) {
    std::string content = "m" + std::to_string(n);
    ModelVersionInfo v = RegisterOk(reg, "fraud", content);
    EXPECT_EQ(v.version, n);
    EXPECT_EQ(v.model, "fraud");
    EXPECT_GE(v.created_at_ms, before);
    EXPECT_LE(v.created_at_ms, WallClockMs());
    EXPECT_EQ(v.dir, fs::absolute(root_).lexically_normal().string() + "/fraud/v" + std::to_string(n));
    EXPECT_EQ(*ReadWholeFile(v.dir + "/model.json"), content);
    EXPECT_EQ(*ReadWholeFile(v.dir + "/extra/notes.txt"), "n");
    EXPECT_TRUE(fs::exists(v.dir + "/manifest.json"));
    // The staging directory stays, empty.
    EXPECT_TRUE(fs::is_empty(tmp_.Path("staging/" + content)));
  }
  auto versions = reg.Versions("fraud");
  ASSERT_TRUE(versions.ok()) << versions.status().ToString();
  ASSERT_EQ(versions->size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ((*versions)[i].version, i + 1);

  auto v2 = reg.Version("fraud", 2);
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  EXPECT_EQ(v2->cutoff_ms, 1000);
  EXPECT_EQ(v2->data_fingerprint, "fp-m2");
  EXPECT_EQ(v2->command, "vigil train m2");
  EXPECT_DOUBLE_EQ(v2->metrics.at("roc_auc"), 0.9);
  EXPECT_TRUE(std::isnan(v2->metrics.at("log_loss")));
  EXPECT_EQ(v2->dir, (*versions)[1].dir);

  EXPECT_EQ(*reg.Models(), std::vector<std::string>{"fraud"});
  RegisterOk(reg, "churn", "c1");
  EXPECT_EQ(*reg.Models(), (std::vector<std::string>{"churn", "fraud"}));
  EXPECT_EQ(reg.Versions("churn")->at(0).version, 1);
}

TEST_F(ModelRegistryTest, UnknownAndBadNames) {
  ModelRegistry reg = OpenRegistry();
  RegisterOk(reg, "fraud", "m1");
  auto v = reg.Version("fraud", 7);
  EXPECT_TRUE(v.status().IsNotFound());
  EXPECT_NE(v.status().message().find("7"), std::string::npos) << v.status().message();
  auto m = reg.Versions("nosuch");
  EXPECT_TRUE(m.status().IsNotFound());
  EXPECT_NE(m.status().message().find("nosuch"), std::string::npos);
  EXPECT_TRUE(reg.History("nosuch").status().IsNotFound());
  EXPECT_TRUE(reg.Decisions("nosuch").status().IsNotFound());
  EXPECT_TRUE(reg.ToJson("nosuch").status().IsNotFound());

  for (std::string bad : {"", "Fraud", "1fraud", "fr-aud", "fr aud", "../x", "_x"}) {
    EXPECT_TRUE(reg.Versions(bad).status().IsInvalidArgument()) << bad;
    EXPECT_TRUE(reg.Register(bad, Stage("b", "b"), {}).status().IsInvalidArgument()) << bad;
  }
  for (std::string bad : {"", "Champion", "-x", "9x", "a.b", "a/b"}) {
    EXPECT_TRUE(reg.SetAlias("fraud", bad, 1, "", "").status().IsInvalidArgument()) << bad;
    EXPECT_TRUE(reg.Alias("fraud", bad).status().IsInvalidArgument()) << bad;
  }
  EXPECT_TRUE(reg.SetAlias("fraud", "canary-2_b", 1, "", "").ok());
  EXPECT_TRUE(reg.SetAlias("fraud", "champion", 0, "", "").status().IsInvalidArgument());

  EXPECT_TRUE(reg.Register("fraud", tmp_.Path("no/such/dir"), {}).status().IsNotFound());
  // Failed calls before any file moved burn no version number.
  EXPECT_EQ(RegisterOk(reg, "fraud", "m2").version, 2);
}

TEST_F(ModelRegistryTest, FailedRegisterBurnsItsVersion) {
  // A staging directory on another filesystem cannot be renamed from: the register
  // fails after reserving its number, puts the files back, and the number is not reused.
  std::string other = "/dev/shm";
  struct stat a, b;
  fs::create_directories(root_);
  if (::stat(other.c_str(), &a) != 0 || ::stat(root_.c_str(), &b) != 0 || a.st_dev == b.st_dev) {
    GTEST_SKIP() << "no second filesystem at " << other;
  }
  std::string staging = other + "/vigil_model_registry_staging_" + std::to_string(::getpid());
  fs::create_directories(staging);
  test::WriteTextFile(staging + "/model.json", "x");

  ModelRegistry reg = OpenRegistry();
  // A failed first register burns v1 but makes no model.
  auto first = reg.Register("churn", staging, {});
  EXPECT_FALSE(first.ok());
  EXPECT_TRUE(reg.Models()->empty());
  EXPECT_TRUE(reg.Versions("churn").status().IsNotFound());
  EXPECT_EQ(RegisterOk(reg, "churn", "c").version, 2);

  RegisterOk(reg, "fraud", "m1");
  auto r = reg.Register("fraud", staging, {});
  std::error_code ec;
  bool file_back = fs::exists(staging + "/model.json");
  fs::remove_all(staging, ec);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kIOError) << r.status().ToString();
  EXPECT_TRUE(file_back);
  EXPECT_EQ(reg.Versions("fraud")->size(), 1u);
  EXPECT_EQ(RegisterOk(reg, "fraud", "m3").version, 3);
  EXPECT_FALSE(fs::exists(root_ + "/fraud/v2"));
}

TEST_F(ModelRegistryTest, UnrecordedVersionDirIsSkipped) {
  ModelRegistry reg = OpenRegistry();
  // A version directory nobody recorded is never overwritten: it is skipped.
  fs::create_directories(root_ + "/fraud/v1");
  test::WriteTextFile(root_ + "/fraud/v1/model.json", "hand-made");
  EXPECT_TRUE(reg.Models()->empty());
  EXPECT_EQ(RegisterOk(reg, "fraud", "m").version, 2);
  EXPECT_EQ(*ReadWholeFile(root_ + "/fraud/v1/model.json"), "hand-made");
}

TEST_F(ModelRegistryTest, AliasesSetGetRemove) {
  ModelRegistry reg = OpenRegistry();
  RegisterOk(reg, "fraud", "m1");
  RegisterOk(reg, "fraud", "m2");
  EXPECT_TRUE(reg.Alias("fraud", "champion").status().IsNotFound());
  EXPECT_TRUE(reg.Aliases("fraud")->empty());

  auto m = reg.SetAlias("fraud", "champion", 1, "first", "vigil models promote fraud 1");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->from_version, 0);
  EXPECT_EQ(m->to_version, 1);
  ASSERT_TRUE(reg.SetAlias("fraud", "challenger", 2, "new", "train").ok());
  EXPECT_EQ(*reg.Alias("fraud", "champion"), 1);
  EXPECT_EQ(*reg.Alias("fraud", "challenger"), 2);
  EXPECT_EQ(*reg.Aliases("fraud"), (std::map<std::string, int>{{"challenger", 2}, {"champion", 1}}));

  auto missing = reg.SetAlias("fraud", "champion", 3, "", "");
  EXPECT_TRUE(missing.status().IsNotFound());
  EXPECT_NE(missing.status().message().find("3"), std::string::npos);
  EXPECT_TRUE(reg.SetAlias("nosuch", "champion", 1, "", "").status().IsNotFound());

  auto removed = reg.RemoveAlias("fraud", "challenger", "dropped", "vigil models alias rm");
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(removed->from_version, 2);
  EXPECT_EQ(removed->to_version, 0);
  EXPECT_TRUE(reg.Alias("fraud", "challenger").status().IsNotFound());
  EXPECT_TRUE(reg.RemoveAlias("fraud", "challenger", "", "").status().IsNotFound());
  EXPECT_EQ(*reg.Aliases("fraud"), (std::map<std::string, int>{{"champion", 1}}));
}

TEST_F(ModelRegistryTest, HistoryRecordsWhenWhyAndCommand) {
  ModelRegistry reg = OpenRegistry();
  RegisterOk(reg, "fraud", "m1");
  RegisterOk(reg, "fraud", "m2");
  int64_t before = WallClockMs();
  ASSERT_TRUE(reg.SetAlias("fraud", "champion", 1, "initial", "cmd-a").ok());
  ASSERT_TRUE(reg.SetAlias("fraud", "champion", 2, "better auc", "cmd-b").ok());
  ASSERT_TRUE(reg.SetAlias("fraud", "champion", 2, "again", "cmd-c").ok());  // a no-op move: recorded
  ASSERT_TRUE(reg.RemoveAlias("fraud", "champion", "retired", "cmd-d").ok());
  int64_t after = WallClockMs();

  auto h = reg.History("fraud");
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  ASSERT_EQ(h->size(), 4u);
  struct Want {
    int from, to;
    const char *reason, *command;
  };
  Want want[] = {{0, 1, "initial", "cmd-a"},
                 {1, 2, "better auc", "cmd-b"},
                 {2, 2, "again", "cmd-c"},
                 {2, 0, "retired", "cmd-d"}};
  int64_t prev = before;
  for (size_t i = 0; i < 4; ++i) {
    const AliasMove& m = (*h)[i];
    EXPECT_EQ(m.model, "fraud");
    EXPECT_EQ(m.alias, "champion");
    EXPECT_EQ(m.from_version, want[i].from) << i;
    EXPECT_EQ(m.to_version, want[i].to) << i;
    EXPECT_EQ(m.reason, want[i].reason);
    EXPECT_EQ(m.command, want[i].command);
    EXPECT_FALSE(m.rollback);
    EXPECT_GE(m.at_ms, prev);
    EXPECT_LE(m.at_ms, after);
    prev = m.at_ms;
  }
}

TEST_F(ModelRegistryTest, RollbackWalksBackThenStops) {
  ModelRegistry reg = OpenRegistry();
  for (int i = 1; i <= 3; ++i) RegisterOk(reg, "fraud", "m" + std::to_string(i));
  EXPECT_TRUE(reg.Rollback("fraud", "champion", "", "").status().IsNotFound());  // no move at all
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(reg.SetAlias("fraud", "champion", i, "promote", "p").ok());
  ASSERT_TRUE(reg.SetAlias("fraud", "challenger", 3, "other alias", "p").ok());

  auto r1 = reg.Rollback("fraud", "champion", "v3 bad", "vigil models rollback fraud");
  ASSERT_TRUE(r1.ok()) << r1.status().ToString();
  EXPECT_TRUE(r1->rollback);
  EXPECT_EQ(r1->from_version, 3);
  EXPECT_EQ(r1->to_version, 2);
  EXPECT_EQ(r1->reason, "v3 bad");
  EXPECT_EQ(r1->command, "vigil models rollback fraud");
  EXPECT_EQ(*reg.Alias("fraud", "champion"), 2);

  auto r2 = reg.Rollback("fraud", "champion", "v2 bad too", "c");
  ASSERT_TRUE(r2.ok()) << r2.status().ToString();
  EXPECT_EQ(r2->from_version, 2);
  EXPECT_EQ(r2->to_version, 1);
  EXPECT_EQ(*reg.Alias("fraud", "champion"), 1);

  auto r3 = reg.Rollback("fraud", "champion", "", "");
  EXPECT_TRUE(r3.status().IsNotFound());
  EXPECT_NE(r3.status().message().find("unset"), std::string::npos) << r3.status().message();
  EXPECT_EQ(*reg.Alias("fraud", "champion"), 1);
  EXPECT_EQ(*reg.Alias("fraud", "challenger"), 3);  // untouched

  auto h = reg.History("fraud");
  ASSERT_EQ(h->size(), 6u);  // 3 promotions, the challenger, 2 rollbacks; the refused one is not recorded
  EXPECT_TRUE((*h)[4].rollback);
  EXPECT_TRUE((*h)[5].rollback);
}

TEST_F(ModelRegistryTest, RollbackAfterNewMovesAndRemoval) {
  ModelRegistry reg = OpenRegistry();
  for (int i = 1; i <= 5; ++i) RegisterOk(reg, "fraud", "m" + std::to_string(i));
  ASSERT_TRUE(reg.SetAlias("fraud", "champion", 1, "", "").ok());
  ASSERT_TRUE(reg.SetAlias("fraud", "champion", 2, "", "").ok());
  ASSERT_TRUE(reg.SetAlias("fraud", "champion", 3, "", "").ok());
  ASSERT_EQ(reg.Rollback("fraud", "champion", "", "")->to_version, 2);  // undoes 2 -> 3
  ASSERT_TRUE(reg.SetAlias("fraud", "champion", 5, "", "").ok());
  ASSERT_TRUE(reg.RemoveAlias("fraud", "champion", "", "").ok());
  // Undoes the removal, then 2 -> 5, then 1 -> 2 (2 -> 3 was undone already).
  auto a = reg.Rollback("fraud", "champion", "", "");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->from_version, 0);
  EXPECT_EQ(a->to_version, 5);
  EXPECT_EQ(reg.Rollback("fraud", "champion", "", "")->to_version, 2);
  EXPECT_EQ(reg.Rollback("fraud", "champion", "", "")->to_version, 1);
  EXPECT_TRUE(reg.Rollback("fraud", "champion", "", "").status().IsNotFound());
  EXPECT_EQ(*reg.Alias("fraud", "champion"), 1);
}

TEST_F(ModelRegistryTest, DecisionsRoundTrip) {
  ModelRegistry reg = OpenRegistry();
  RegisterOk(reg, "fraud", "m1");
  RegisterOk(reg, "fraud", "m2");
  RetrainDecision d;
  d.at_ms = 1700000000123;
  d.event_time_ms = 1699999000000;
  d.model = "fraud";
  d.trigger = "schedule";
  d.champion_version = 0;
  d.challenger_version = 1;
  d.metric = "roc_auc";
  d.challenger_score = 0.91;  // champion_score stays NaN: there was none
  d.margin = 0.005;
  d.promoted = true;
  d.reason = "no champion";
  ASSERT_TRUE(reg.RecordDecision(d).ok());
  RetrainDecision e = d;
  e.trigger = "drift on amount";
  e.champion_version = 1;
  e.challenger_version = 2;
  e.champion_score = 0.91;
  e.challenger_score = 0.912;
  e.promoted = false;
  e.reason = "gain below margin";
  ASSERT_TRUE(reg.RecordDecision(e).ok());
  RetrainDecision unknown = d;
  unknown.model = "churn";
  EXPECT_TRUE(reg.RecordDecision(unknown).IsNotFound());
  unknown.model = "Bad";
  EXPECT_TRUE(reg.RecordDecision(unknown).IsInvalidArgument());

  auto got = OpenRegistry().Decisions("fraud");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 2u);
  const RetrainDecision& g = (*got)[0];
  EXPECT_EQ(g.at_ms, d.at_ms);
  EXPECT_EQ(g.event_time_ms, d.event_time_ms);
  EXPECT_EQ(g.model, "fraud");
  EXPECT_EQ(g.trigger, "schedule");
  EXPECT_EQ(g.champion_version, 0);
  EXPECT_EQ(g.challenger_version, 1);
  EXPECT_EQ(g.metric, "roc_auc");
  EXPECT_TRUE(std::isnan(g.champion_score));
  EXPECT_DOUBLE_EQ(g.challenger_score, 0.91);
  EXPECT_DOUBLE_EQ(g.margin, 0.005);
  EXPECT_TRUE(g.promoted);
  EXPECT_EQ(g.reason, "no champion");
  EXPECT_EQ((*got)[1].trigger, "drift on amount");
  EXPECT_DOUBLE_EQ((*got)[1].champion_score, 0.91);
  EXPECT_FALSE((*got)[1].promoted);
}

TEST_F(ModelRegistryTest, CorruptRegistryIsCorruption) {
  ModelRegistry reg = OpenRegistry();
  RegisterOk(reg, "fraud", "m1");
  std::string path = root_ + "/registry.json";
  for (std::string bad :
       {std::string("{\"models\": {\"fraud\": "), std::string("[]"), std::string("{\"x\": 1}"),
        std::string("{\"format\": 1, \"models\": {\"fraud\": {\"last_version\": \"two\"}}}"),
        std::string("{\"format\": 99, \"models\": {}}")}) {
    ASSERT_TRUE(WriteFileAtomic(path, bad).ok());
    auto open = ModelRegistry::Open(root_);
    EXPECT_TRUE(open.status().IsCorruption()) << bad << ": " << open.status().ToString();
    EXPECT_NE(open.status().message().find(path), std::string::npos) << open.status().message();
    auto v = reg.Versions("fraud");
    EXPECT_TRUE(v.status().IsCorruption()) << v.status().ToString();
    EXPECT_TRUE(reg.SetAlias("fraud", "champion", 1, "", "").status().IsCorruption());
    EXPECT_TRUE(reg.Register("fraud", Stage("c", "c"), {}).status().IsCorruption());
    EXPECT_TRUE(reg.Models().status().IsCorruption());
  }
  // Nothing was written over the corrupt file.
  EXPECT_EQ(*ReadWholeFile(path), "{\"format\": 99, \"models\": {}}");
}

TEST_F(ModelRegistryTest, ReopenSeesEverythingAndToJson) {
  {
    ModelRegistry reg = OpenRegistry();
    RegisterOk(reg, "fraud", "m1");
    RegisterOk(reg, "fraud", "m2");
    RegisterOk(reg, "churn", "c1");
    ASSERT_TRUE(reg.SetAlias("fraud", "champion", 1, "a", "b").ok());
    ASSERT_TRUE(reg.SetAlias("fraud", "champion", 2, "c", "d").ok());
    ASSERT_TRUE(reg.Rollback("fraud", "champion", "e", "f").ok());
    RetrainDecision d;
    d.model = "fraud";
    d.trigger = "schedule";
    ASSERT_TRUE(reg.RecordDecision(d).ok());
  }
  ModelRegistry reg = OpenRegistry();
  EXPECT_EQ(*reg.Models(), (std::vector<std::string>{"churn", "fraud"}));
  EXPECT_EQ(reg.Versions("fraud")->size(), 2u);
  EXPECT_EQ(*reg.Alias("fraud", "champion"), 1);
  EXPECT_EQ(reg.History("fraud")->size(), 3u);
  EXPECT_TRUE(reg.History("fraud")->back().rollback);
  EXPECT_EQ(reg.Decisions("fraud")->size(), 1u);
  // The rollback link survived: the next rollback finds nothing left to undo.
  EXPECT_TRUE(reg.Rollback("fraud", "champion", "", "").status().IsNotFound());

  auto all = reg.ToJson("");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  auto j = nlohmann::json::parse(*all);
  EXPECT_EQ(j["models"].size(), 2u);
  EXPECT_EQ(j["models"]["fraud"]["aliases"]["champion"], 1);
  EXPECT_EQ(j["models"]["fraud"]["versions"][1]["dir"], reg.Version("fraud", 2)->dir);
  EXPECT_TRUE(j["models"]["fraud"]["versions"][0]["metrics"]["log_loss"].is_null());
  EXPECT_EQ(j["models"]["fraud"]["history"].size(), 3u);
  EXPECT_EQ(j["models"]["fraud"]["decisions"].size(), 1u);
  auto one = nlohmann::json::parse(*reg.ToJson("churn"));
  EXPECT_EQ(one["models"].size(), 1u);
  EXPECT_TRUE(one["models"].contains("churn"));
}

// Several processes (each with its own ModelRegistry) and several threads (sharing one)
// register and move aliases at once: no update is lost, no version number is handed out
// twice, and every v<N> holds the files of the register that got N.
TEST_F(ModelRegistryTest, ConcurrentWritersInThreadsAndProcesses) {
  constexpr int kProcesses = 3;
  constexpr int kThreads = 3;
  constexpr int kOps = 6;  // each does kOps registers and kOps alias moves
  ModelRegistry shared = OpenRegistry();
  RegisterOk(shared, "fraud", "seed");  // v1, so that alias moves have a target from the start

  // worker w, op i: register "w<w>-<i>" and point its alias at it (or at v1 on odd ops,
  // the alias "champion" shared by everyone).
  auto work = [&](ModelRegistry& reg, int w) -> bool {
    bool ok = true;
    for (int i = 0; i < kOps; ++i) {
      std::string tag = "w" + std::to_string(w) + "-" + std::to_string(i);
      std::string dir = tmp_.Path("staging/" + tag);
      std::error_code ec;
      fs::create_directories(dir, ec);
      std::FILE* f = std::fopen((dir + "/model.json").c_str(), "w");
      if (!f) return false;
      std::fputs(tag.c_str(), f);
      std::fclose(f);
      ModelVersionInfo info;
      info.data_fingerprint = tag;
      auto r = reg.Register("fraud", dir, info);
      if (!r.ok()) {
        std::fprintf(stderr, "%s: %s\n", tag.c_str(), r.status().ToString().c_str());
        ok = false;
        continue;
      }
      auto m = reg.SetAlias("fraud", "champion", i % 2 ? 1 : r->version, tag, "worker " + std::to_string(w));
      if (!m.ok()) {
        std::fprintf(stderr, "%s: %s\n", tag.c_str(), m.status().ToString().c_str());
        ok = false;
      }
    }
    return ok;
  };

  // Children block on a pipe until the threads are ready too; the fork happens while this
  // process has no other thread.
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(go[1]);
      char c;
      while (::read(go[0], &c, 1) < 0 && errno == EINTR) {
      }
      auto reg = ModelRegistry::Open(root_);
      bool ok = reg.ok() && work(*reg, 100 + p);
      ::_exit(ok ? 0 : 1);
    }
    children.push_back(pid);
  }
  ::close(go[0]);
  std::atomic<bool> start{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (!start.load()) std::this_thread::yield();
      if (!work(shared, t)) failures++;
    });
  }
  ::close(go[1]);  // releases the children
  start = true;
  for (auto& t : threads) t.join();
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child " << pid << " status " << status;
  }
  EXPECT_EQ(failures.load(), 0);

  constexpr int kRegisters = 1 + (kProcesses + kThreads) * kOps;
  auto text = ReadWholeFile(root_ + "/registry.json");
  ASSERT_TRUE(text.ok());
  auto doc = nlohmann::json::parse(*text, nullptr, false);
  ASSERT_FALSE(doc.is_discarded());
  EXPECT_EQ(doc["models"]["fraud"]["versions"].size(), static_cast<size_t>(kRegisters));

  ModelRegistry reg = OpenRegistry();  // a fresh reader
  auto versions = reg.Versions("fraud");
  ASSERT_TRUE(versions.ok()) << versions.status().ToString();
  ASSERT_EQ(versions->size(), static_cast<size_t>(kRegisters));
  std::set<std::string> tags;
  for (int n = 1; n <= kRegisters; ++n) {
    const ModelVersionInfo& v = (*versions)[n - 1];
    EXPECT_EQ(v.version, n);
    tags.insert(v.data_fingerprint);
    auto content = ReadWholeFile(v.dir + "/model.json");
    ASSERT_TRUE(content.ok()) << v.dir;
    EXPECT_EQ(*content, n == 1 ? "seed" : v.data_fingerprint) << v.dir;
  }
  EXPECT_EQ(tags.size(), static_cast<size_t>(kRegisters));
  EXPECT_FALSE(fs::exists(root_ + "/fraud/v" + std::to_string(kRegisters + 1)));

  auto history = reg.History("fraud");
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), static_cast<size_t>((kProcesses + kThreads) * kOps));
  // The moves chain: each starts where the one before it ended.
  int at = 0;
  for (const AliasMove& m : *history) {
    EXPECT_EQ(m.from_version, at);
    at = m.to_version;
  }
  EXPECT_EQ(*reg.Alias("fraud", "champion"), at);
}

}  // namespace model_registry_test
}  // namespace vigil
