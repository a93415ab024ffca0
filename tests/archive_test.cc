// The event archive: `vigil archive` copies source and dead-letter topics out of the log
// before retention deletes them, and the batch path reads history from the archive once
// the log no longer holds it — with the same results as before retention ran.
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "e2e_util.h"
#include "schema/row_codec.h"
#include "store/archive.h"

namespace vigil::e2e {
namespace archive_test {

constexpr char kDefs[] = R"(entities:
  user: {keys: [user_id]}
sources:
  txn:
    timestamp: ts
    allowed_lateness: 1s
    schema: {user_id: string, amount: double}
feature_views:
  spend:
    entity: user
    source: txn
    features:
      n_1h:   {agg: count, window: 1h}
      sum_1h: {agg: sum, field: amount, window: 1h}
      last_amount: {agg: last, field: amount}
)";

int64_t Total(const std::vector<int64_t>& v) {
  int64_t t = 0;
  for (int64_t x : v) t += x;
  return t;
}

TEST(Archive, KeepsWhatRetentionDeletesAndReplayReadsIt) {
  TempDir dir("vigil-archive");
  std::string project = dir.Path("project");
  WriteFile(project + "/defs.yaml", kDefs);
  // Tiny segments and a size limit, so retention deletes most of each partition.
  WriteFile(project + "/vigil.yaml",
            "log: {partitions: 2, segment_bytes: 4KiB, index_interval_bytes: 512, retention_bytes: 8KiB}\n");
  std::string events, labels = "user_id,ts\n";
  Rng rng(7);
  for (int i = 0; i < 3000; ++i) {
    int64_t ts = 1'700'000'000'000 + i * 20'000;
    std::string user = "u" + std::to_string(rng.Uniform(0, 40));
    events += "{\"ts\":" + std::to_string(ts) + ",\"user_id\":\"" + user + "\",\"amount\":" +
              std::to_string(rng.Uniform(1, 500)) + "}\n";
    // One late event now and then: its decision must survive retention too.
    if (i % 500 == 499) events += "{\"ts\":" + std::to_string(ts - 3'600'000) + ",\"user_id\":\"u1\",\"amount\":1}\n";
    if (i % 10 == 0) labels += user + "," + std::to_string(ts + 1) + "\n";
  }
  WriteFile(dir.Path("txn.jsonl"), events);
  WriteFile(dir.Path("labels.csv"), labels);
  ASSERT_EQ(RunVigil(project, {"ingest", "txn", dir.Path("txn.jsonl")}, 60).exit_code, 0);
  CommandResult s = RunVigil(project, {"stream", "--until-caught-up"}, 120);
  ASSERT_EQ(s.exit_code, 0) << s.Describe();

  auto outputs = [&](const std::string& tag) {
    std::map<std::string, std::string> out;
    CommandResult r = RunVigil(project, {"changelog", "spend", "--replay"}, 60);
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    out["replay"] = r.out;
    CommandResult d = RunVigil(project, {"dataset", "--labels", dir.Path("labels.csv"), "--features", "spend",
                                         "--out", dir.Path("dataset-" + tag + ".csv")},
                               60);
    EXPECT_EQ(d.exit_code, 0) << d.Describe();
    out["dataset"] = ReadFile(dir.Path("dataset-" + tag + ".csv"));
    return out;
  };
  auto before = outputs("before");
  CommandResult stream_log = RunVigil(project, {"changelog", "spend"}, 60);
  ASSERT_EQ(stream_log.exit_code, 0);
  EXPECT_EQ(before["replay"], stream_log.out) << "the stream and the replay disagree before retention";

  CommandResult a = RunVigil(project, {"archive"}, 60);
  ASSERT_EQ(a.exit_code, 0) << a.Describe();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(a.out, m, std::regex(R"(archive: (\d+) records .* retention deleted (\d+) segments)")))
      << a.out;
  // 3006 source records (6 of them late) and the stream's 6 late-event dead letters.
  EXPECT_EQ(std::stoll(m[1]), 3012) << a.out;
  EXPECT_GT(std::stoll(m[2]), 0) << a.out;

  auto log = OpenProjectLog(project);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  auto starts = (*log)->StartOffsets("txn");
  ASSERT_TRUE(starts.ok());
  EXPECT_GT(Total(*starts), 1000) << "retention should have deleted most of the source topic";

  // The history read with its archive by one reader at a time and by several at once
  // (each event to one worker, in any order): the same events, counts and watermark.
  {
    auto p = LoadProject(project);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    const SourceDef& source = *p->defs.FindSource("txn");
    std::multiset<std::pair<uint64_t, std::string>> serial;
    SourceHistory serial_h;
    Status st = ScanSourceHistory(
        source, log->get(), p->settings.offline_dir,
        [&](Event&& ev, uint64_t seq) {
          std::string bytes;
          EncodeEvent(ev, &bytes);
          serial.emplace(seq, bytes);
          return Status::OK();
        },
        &serial_h);
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(serial.size(), 3000u);
    for (int workers : {1, 2, 3}) {
      SCOPED_TRACE(workers);
      std::vector<std::multiset<std::pair<uint64_t, std::string>>> got(static_cast<size_t>(workers));
      SourceHistory h;
      st = ScanSourceHistoryConcurrently(
          source, log->get(), p->settings.offline_dir, workers,
          [&](Event&& ev, uint64_t seq, int worker) {
            if (worker < 0 || worker >= workers) return Status::InvalidArgument("worker " + std::to_string(worker));
            std::string bytes;
            EncodeEvent(ev, &bytes);
            got[static_cast<size_t>(worker)].emplace(seq, bytes);  // no lock: a worker's own
            return Status::OK();
          },
          &h);
      ASSERT_TRUE(st.ok()) << st.ToString();
      std::multiset<std::pair<uint64_t, std::string>> all;
      for (const auto& g : got) all.insert(g.begin(), g.end());
      EXPECT_TRUE(all == serial);
      EXPECT_EQ(h.late, serial_h.late);
      EXPECT_EQ(h.watermark, serial_h.watermark);
    }
    EXPECT_EQ(serial_h.late, 6);
  }

  // The log no longer holds the start of history; the batch path reads it from the archive.
  auto after = outputs("after");
  EXPECT_EQ(after["replay"], before["replay"]);
  EXPECT_EQ(after["dataset"], before["dataset"]);
  EXPECT_GT(std::count(before["dataset"].begin(), before["dataset"].end(), '\n'), 250);

  // Archiving again copies nothing new.
  CommandResult again = RunVigil(project, {"archive"}, 60);
  ASSERT_EQ(again.exit_code, 0) << again.Describe();
  EXPECT_NE(again.out.find("archive: 0 records"), std::string::npos) << again.out;
}

}  // namespace archive_test
}  // namespace vigil::e2e
