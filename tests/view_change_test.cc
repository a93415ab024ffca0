// A feature view added or changed while the stream has state (issue 4, versioned
// definitions): the stream goes on, with the unchanged views' state kept and the new
// version's state rebuilt from history (the Parquet archive once retention deleted the
// log's start), and after a backfill the new version's history equals the batch replay.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <regex>
#include <set>

#include "e2e_util.h"

namespace vigil::e2e {
namespace view_change_test {

constexpr char kDefs[] = R"(entities:
  user: {keys: [user_id]}
  card: {keys: [card_id]}
sources:
  txn:
    timestamp: ts
    allowed_lateness: 2s
    schema: {user_id: string, card_id: string, amount: double, ok: bool}
feature_views:
  spend:
    entity: user
    source: txn
    ttl: 2h
    features:
      n_1h:   {agg: count, window: 1h}
      sum_1h: {agg: sum, field: amount, window: 1h}
      last_amount: {agg: last, field: amount}
  cards:
    entity: card
    source: txn
    features:
      users_30m: {agg: count_distinct, field: user_id, window: 30m}
)";

// The rows of a `vigil changelog` CSV, header dropped.
std::vector<std::string> Rows(const std::string& csv) {
  std::vector<std::string> rows;
  size_t start = csv.find('\n');
  while (start != std::string::npos && start + 1 < csv.size()) {
    size_t end = csv.find('\n', start + 1);
    rows.push_back(csv.substr(start + 1, end == std::string::npos ? std::string::npos : end - start - 1));
    start = end;
  }
  return rows;
}

std::string Changelog(const std::string& project, const std::string& view, const std::string& flag = "") {
  std::vector<std::string> args = {"changelog", view};
  if (!flag.empty()) args.push_back(flag);
  CommandResult r = RunVigil(project, args, 120);
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  return r.out;
}

void RunScenario(bool retention) {
  TempDir dir("vigil-viewchange");
  std::string project = dir.Path("project");
  WriteFile(project + "/defs.yaml", kDefs);
  WriteFile(project + "/vigil.yaml",
            retention ? "log: {partitions: 3, segment_bytes: 4KiB, index_interval_bytes: 512, retention_bytes: 8KiB}\n"
                      : "log: {partitions: 3}\n");
  Rng rng(11);
  std::string first, second;
  for (int i = 0; i < 4000; ++i) {
    int64_t ts = 1'700'000'000'000 + i * 7'000 + rng.Uniform(0, 3000);
    std::string e = "{\"ts\":" + std::to_string(ts) + ",\"user_id\":\"u" + std::to_string(rng.Uniform(0, 60)) +
                    "\",\"card_id\":\"c" + std::to_string(rng.Uniform(0, 25)) +
                    "\",\"amount\":" + std::to_string(rng.Uniform(1, 900)) +
                    ",\"ok\":" + (rng.Uniform(0, 4) == 0 ? "false" : "true") + "}\n";
    (i < 2500 ? first : second) += e;
  }
  WriteFile(dir.Path("first.jsonl"), first);
  WriteFile(dir.Path("second.jsonl"), second);
  ASSERT_EQ(RunVigil(project, {"ingest", "txn", dir.Path("first.jsonl")}).exit_code, 0);
  CommandResult s1 = RunVigil(project, {"stream", "--until-caught-up"}, 120);
  ASSERT_EQ(s1.exit_code, 0) << s1.Describe();
  CommandResult a1 = RunVigil(project, {"archive"}, 120);
  ASSERT_EQ(a1.exit_code, 0) << a1.Describe();
  // The offline copy: the log's changelog topics lose their start to retention too.
  std::string cards_before = Changelog(project, "cards", "--offline");
  if (retention) {
    auto log = OpenProjectLog(project);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    auto starts = (*log)->StartOffsets("txn");
    ASSERT_TRUE(starts.ok());
    int64_t deleted = 0;
    for (int64_t s : *starts) deleted += s;
    ASSERT_GT(deleted, 1000) << "retention should have deleted most of the source topic";
  }

  // A new feature in `spend`: version 2 of the view. `cards` is unchanged.
  std::string changed = kDefs;
  std::string anchor = "      last_amount: {agg: last, field: amount}\n";
  changed.replace(changed.find(anchor), anchor.size(),
                  anchor + "      declined_1h: {agg: count, window: 1h, where: \"not ok\"}\n");
  WriteFile(project + "/defs.yaml", changed);
  ASSERT_EQ(RunVigil(project, {"ingest", "txn", dir.Path("second.jsonl")}).exit_code, 0);
  CommandResult s2 = RunVigil(project, {"stream", "--until-caught-up"}, 120);
  ASSERT_EQ(s2.exit_code, 0) << "the stream must go on after a view changed: " << s2.Describe();
  EXPECT_NE(s2.err.find("registered feature view spend v2"), std::string::npos) << s2.err;

  // The unchanged view went on from its state: its changelog only grew.
  std::string cards_after = Changelog(project, "cards", "--offline");
  std::vector<std::string> before = Rows(cards_before), after = Rows(cards_after);
  std::set<std::string> after_set(after.begin(), after.end());
  for (const auto& r : before) ASSERT_TRUE(after_set.count(r)) << "cards lost a row: " << r;
  EXPECT_GT(after.size(), before.size());
  EXPECT_TRUE(cards_after == Changelog(project, "cards", "--replay")) << "cards: offline vs replay";

  // Version 2: the stream's rows since the change are exactly the replay's rows there.
  std::string stream_v2 = Changelog(project, "spend");
  std::string replay_v2 = Changelog(project, "spend", "--replay");
  std::vector<std::string> srows = Rows(stream_v2), rrows = Rows(replay_v2);
  ASSERT_GT(srows.size(), 100u);
  std::set<std::string> rset(rrows.begin(), rrows.end());
  for (const auto& r : srows) ASSERT_TRUE(rset.count(r)) << "a stream row the replay lacks: " << r;
  EXPECT_LT(srows.size(), rrows.size()) << "rows before the change are backfill's, not the stream's";

  // Backfill fills the rest: the offline history of v2 equals the replay.
  CommandResult b = RunVigil(project, {"backfill", "spend"}, 120);
  ASSERT_EQ(b.exit_code, 0) << b.Describe();
  EXPECT_TRUE(Changelog(project, "spend", "--offline") == replay_v2) << "spend v2: offline vs replay";

  // And the training set from the offline store equals the replay's.
  std::string labels = "user_id,ts\n";
  for (int i = 0; i < 300; ++i) {
    labels += "u" + std::to_string(i % 60) + "," + std::to_string(1'700'000'000'000 + i * 93'000) + "\n";
  }
  WriteFile(dir.Path("labels.csv"), labels);
  CommandResult d1 = RunVigil(project, {"dataset", "--labels", dir.Path("labels.csv"), "--features", "spend",
                                        "--out", dir.Path("offline.csv")});
  ASSERT_EQ(d1.exit_code, 0) << d1.Describe();
  EXPECT_NE(d1.out.find("from "), std::string::npos);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(d1.out, m, std::regex(R"((\d+) label-view values from (\d+) offline)"))) << d1.out;
  EXPECT_GT(std::stoll(m[1]), 250) << "most labels must come from the offline store: " << d1.out;
  CommandResult d2 = RunVigil(project, {"dataset", "--labels", dir.Path("labels.csv"), "--features", "spend",
                                        "--out", dir.Path("replay.csv"), "--replay-only"});
  ASSERT_EQ(d2.exit_code, 0) << d2.Describe();
  EXPECT_TRUE(ReadFile(dir.Path("offline.csv")) == ReadFile(dir.Path("replay.csv"))) << "dataset: offline vs replay";
  EXPECT_NE(ReadFile(dir.Path("offline.csv")).find("spend__declined_1h"), std::string::npos);
}

TEST(ViewChange, StreamGoesOnAndBackfillFillsTheNewVersion) { RunScenario(/*retention=*/false); }

// Retention deleted most of the log before the change: the rebuild reads the archive.
TEST(ViewChange, RebuildReadsTheArchiveAfterRetention) { RunScenario(/*retention=*/true); }

}  // namespace view_change_test
}  // namespace vigil::e2e
