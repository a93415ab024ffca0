// `vigil sync` end to end (issue 4 §4, store/sync.h): after a pipeline run the online and
// offline stores agree; an online store lost with its directory is found missing, entity
// by entity, by `sync --check` (which repairs nothing and succeeds), and rebuilt by `sync`
// from the offline store, row for row what it was; while an ingestion worker holds the
// online store, `sync` refuses with a message that names it.

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "e2e_util.h"

namespace vigil::e2e {
namespace sync_e2e_test {

namespace fs = std::filesystem;

constexpr char kDefs[] = R"(entities:
  user: {keys: [user_id]}
  user_shop: {keys: [user_id, shop]}
sources:
  txn:
    timestamp: ts
    allowed_lateness: 2s
    partition_by: [user_id]
    schema: {user_id: string, shop: string, amount: double}
feature_views:
  spend:
    entity: user
    source: txn
    ttl: 2h
    features:
      n_1h:        {agg: count, window: 1h}
      sum_1h:      {agg: sum, field: amount, window: 1h}
      shops_1h:    {agg: count_distinct, field: shop, window: 1h}
      last_amount: {agg: last, field: amount}
  shop_spend:
    entity: user_shop
    source: txn
    features:
      n_30m:       {agg: count, window: 30m}
      first_30m:   {agg: first, field: amount, window: 30m}
)";

const std::vector<std::string> kViews = {"spend", "shop_spend"};

// Distinct entities (key columns before "ts") of a changelog CSV.
std::set<std::string> Entities(const std::string& csv) {
  std::set<std::string> out;
  auto rows = ParseCsv(csv);
  if (rows.empty()) return out;
  size_t nk = static_cast<size_t>(std::find(rows[0].begin(), rows[0].end(), "ts") - rows[0].begin());
  for (size_t r = 1; r < rows.size(); ++r) {
    out.insert(CsvLine(std::vector<std::string>(rows[r].begin(), rows[r].begin() + static_cast<long>(nk))));
  }
  return out;
}

// "sync: <view> <kind> <n>" lines -> {view: {kind: n}}, and the total.
std::map<std::string, std::map<std::string, int64_t>> Differences(const std::string& out, int64_t* total) {
  std::map<std::string, std::map<std::string, int64_t>> d;
  std::smatch m;
  *total = -1;
  if (std::regex_search(out, m, std::regex(R"((\d+) differences)"))) *total = std::stoll(m[1]);
  std::regex line(R"(sync: (\S+)\s+(\S+)\s+(\d+)\n)");
  for (auto it = std::sregex_iterator(out.begin(), out.end(), line); it != std::sregex_iterator(); ++it) {
    d[(*it)[1]][(*it)[2]] = std::stoll((*it)[3]);
  }
  return d;
}

TEST(SyncE2E, RebuildsALostOnlineStoreAndRefusesBesideAnIngestionWorker) {
  TempDir dir("vigil-sync");
  std::string project = dir.Path("project");
  WriteFile(project + "/defs.yaml", kDefs);
  WriteFile(project + "/vigil.yaml", "log: {partitions: 3}\nstream: {idle_timeout: 0s}\n");
  Rng rng(21);
  std::string events;
  std::vector<std::string> users;
  int64_t clock = 1'704'067'200'000;
  for (int i = 0; i < 4000; ++i) {
    clock += rng.Chance(0.02) ? rng.Uniform(kHour, 3 * kHour) : rng.Uniform(0, 40 * kSecond);
    std::string user = "u" + std::to_string(rng.Uniform(0, 80));
    int64_t ts = clock - (rng.Chance(0.03) ? rng.Uniform(3 * kSecond, 20 * kMinute) : 0);  // some late
    events += "{\"ts\":" + std::to_string(ts) + ",\"user_id\":\"" + user + "\",\"shop\":\"s" +
              std::to_string(rng.Uniform(0, 9)) + "\",\"amount\":" + std::to_string(rng.Uniform(1, 900)) + "}\n";
    if (users.size() < 20 && i % 50 == 0) users.push_back(user);
  }
  users.push_back("nobody");  // an entity never seen: found nowhere, before and after
  WriteFile(dir.Path("txn.jsonl"), events);
  ASSERT_EQ(RunVigil(project, {"ingest", "txn", dir.Path("txn.jsonl")}, 60).exit_code, 0);
  CommandResult s = RunVigil(project, {"stream", "--until-caught-up"}, 120);
  ASSERT_EQ(s.exit_code, 0) << s.Describe();

  int64_t total = 0;
  CommandResult check = RunVigil(project, {"sync", "--check"}, 60);
  ASSERT_EQ(check.exit_code, 0) << check.Describe();
  auto diffs = Differences(check.out, &total);
  EXPECT_EQ(total, 0) << check.out;
  EXPECT_TRUE(diffs.empty()) << check.out;

  // What the online store serves before it is lost.
  std::map<std::string, std::string> online_before, stream_changelog;
  for (const auto& v : kViews) {
    CommandResult o = RunVigil(project, {"online", v}, 60);
    ASSERT_EQ(o.exit_code, 0) << o.Describe();
    online_before[v] = o.out;
    CommandResult c = RunVigil(project, {"changelog", v}, 60);
    ASSERT_EQ(c.exit_code, 0) << c.Describe();
    stream_changelog[v] = c.out;
    EXPECT_EQ(Entities(o.out), Entities(c.out)) << v << ": every entity of the changelog is online";
  }
  std::vector<std::string> gets_before;
  for (const auto& u : users) {
    CommandResult g = RunVigil(project, {"get", "spend", u}, 60);
    ASSERT_EQ(g.exit_code, 0) << g.Describe();
    gets_before.push_back(g.out);
  }
  EXPECT_NE(gets_before.front().find("\"found\":true"), std::string::npos) << gets_before.front();

  // The online store is lost: every entity is missing online; a check repairs nothing.
  std::error_code ec;
  ASSERT_GT(fs::remove_all(project + "/.vigil/online", ec), 0u) << ec.message();
  for (int round = 0; round < 2; ++round) {
    CommandResult lost = RunVigil(project, {"sync", "--check"}, 60);
    ASSERT_EQ(lost.exit_code, 0) << lost.Describe();
    diffs = Differences(lost.out, &total);
    int64_t expected_total = 0;
    for (const auto& v : kViews) {
      int64_t n = static_cast<int64_t>(Entities(stream_changelog[v]).size());
      EXPECT_GT(n, 10) << v;
      EXPECT_EQ(diffs[v], (std::map<std::string, int64_t>{{"missing_online", n}})) << lost.out;
      expected_total += n;
    }
    EXPECT_EQ(total, expected_total) << lost.out;
    EXPECT_NE(lost.out.find("nothing repaired"), std::string::npos) << lost.out;
  }

  // `sync` rebuilds it from the offline store.
  CommandResult repair = RunVigil(project, {"sync"}, 60);
  ASSERT_EQ(repair.exit_code, 0) << repair.Describe();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(repair.out, m, std::regex(R"((\d+) differences, (\d+) repaired)"))) << repair.out;
  EXPECT_EQ(m[1], m[2]) << repair.out;
  EXPECT_GT(std::stoll(m[1]), 0) << repair.out;
  for (const auto& v : kViews) {
    CommandResult o = RunVigil(project, {"online", v}, 60);
    ASSERT_EQ(o.exit_code, 0) << o.Describe();
    EXPECT_EQ(o.out, online_before[v]) << v << ": the rebuilt online rows";
  }
  for (size_t i = 0; i < users.size(); ++i) {
    CommandResult g = RunVigil(project, {"get", "spend", users[i]}, 60);
    ASSERT_EQ(g.exit_code, 0) << g.Describe();
    EXPECT_EQ(g.out, gets_before[i]) << users[i];
  }
  CommandResult after = RunVigil(project, {"sync", "--check"}, 60);
  ASSERT_EQ(after.exit_code, 0) << after.Describe();
  Differences(after.out, &total);
  EXPECT_EQ(total, 0) << after.out;

  // An ingestion worker holds the online store (and reconciles it itself): sync refuses.
  std::string log = dir.Path("ingest-worker.log");
  BackgroundVigil worker(project, {"ingest-worker", "--metrics-port", "0"}, log);
  // It serves metrics once it has opened the online store.
  bool serving = false;
  for (int i = 0; i < 400 && !serving; ++i) {
    serving = ReadFile(log).find("metrics: http://") != std::string::npos;
    if (!serving) usleep(50'000);
  }
  ASSERT_TRUE(serving) << ReadFile(log);
  CommandResult refused = RunVigil(project, {"sync"}, 60);
  EXPECT_EQ(refused.exit_code, 1) << refused.Describe();
  EXPECT_NE(refused.err.find("ingestion worker"), std::string::npos) << refused.Describe();
  CommandResult refused_check = RunVigil(project, {"sync", "--check"}, 60);
  EXPECT_EQ(refused_check.exit_code, 1) << refused_check.Describe();
  EXPECT_EQ(worker.Kill(SIGTERM), 0) << ReadFile(log);

  // Once it stopped, the stores still agree.
  CommandResult last = RunVigil(project, {"sync", "--check"}, 60);
  ASSERT_EQ(last.exit_code, 0) << last.Describe();
  Differences(last.out, &total);
  EXPECT_EQ(total, 0) << last.out;
}

}  // namespace sync_e2e_test
}  // namespace vigil::e2e
