// Idle-source advance (DESIGN.md §4): when every partition of a source has had no new
// record for stream.idle_timeout, the watermark rises to the highest ts + 1 ms, so the
// last rows are not held back forever; an event that arrives later below it is late,
// recorded in the dead-letter topic, and the batch replay reproduces the decision.
#include <gtest/gtest.h>

#include <thread>

#include "e2e_util.h"

namespace vigil::e2e {
namespace idle_watermark_test {

constexpr char kDefs[] = R"(entities:
  user: {keys: [user_id]}
sources:
  txn:
    timestamp: ts
    allowed_lateness: 10s
    schema: {user_id: string, amount: double}
feature_views:
  spend:
    entity: user
    source: txn
    features:
      n_1h: {agg: count, window: 1h}
)";

// A user id whose records go to `partition` of 2.
std::string UserIn(int partition) {
  for (int i = 0;; ++i) {
    std::string u = "u" + std::to_string(i);
    if (PartitionForKey(u, 2) == partition) return u;
  }
}

bool HasRowAt(const std::string& csv, const std::string& user, int64_t ts) {
  return csv.find("\n" + user + "," + std::to_string(ts) + ",") != std::string::npos;
}

TEST(IdleWatermark, IdlePartitionsReleaseTheLastRowsAndLaterEventsBelowAreLate) {
  TempDir dir("vigil-idle");
  std::string project = dir.Path("project");
  WriteFile(project + "/defs.yaml", kDefs);
  WriteFile(project + "/vigil.yaml",
            "log: {partitions: 2}\nstream: {checkpoint_interval: 100ms, idle_timeout: 1s}\n");
  std::string a = UserIn(0), b = UserIn(1);
  // Partition 0 reaches 100 s, partition 1 only 50 s; lateness 10 s.
  WriteFile(dir.Path("1.jsonl"), "{\"ts\":40000,\"user_id\":\"" + b + "\",\"amount\":1}\n" +
                                     "{\"ts\":50000,\"user_id\":\"" + b + "\",\"amount\":1}\n" +
                                     "{\"ts\":90000,\"user_id\":\"" + a + "\",\"amount\":1}\n" +
                                     "{\"ts\":100000,\"user_id\":\"" + a + "\",\"amount\":1}\n");
  ASSERT_EQ(RunVigil(project, {"ingest", "txn", dir.Path("1.jsonl")}, 60).exit_code, 0);
  std::string log = dir.Path("stream.log");
  {
    BackgroundVigil stream(project, {"stream"}, log);
    // Without idleness E = min(W_0, W_1) = 40 s: nothing of user a is final. Once both
    // partitions are idle for 1 s, E = 100 s + 1 ms and a's row at 100 s is emitted.
    std::string rows;
    for (int i = 0; i < 100; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      rows = RunVigil(project, {"changelog", "spend"}, 30).out;
      if (HasRowAt(rows, a, 100000)) break;
    }
    EXPECT_TRUE(HasRowAt(rows, a, 100000)) << rows << ReadFile(log);
    EXPECT_TRUE(HasRowAt(rows, b, 50000)) << rows;
    // Now an event of b at 60 s: above its partition's own W_1 = 40 s, but below the
    // floor the idle advance set (100.001 s), so it is late.
    WriteFile(dir.Path("2.jsonl"), "{\"ts\":60000,\"user_id\":\"" + b + "\",\"amount\":1}\n");
    ASSERT_EQ(RunVigil(project, {"ingest", "txn", dir.Path("2.jsonl")}, 60).exit_code, 0);
    bool late = false;
    for (int i = 0; i < 100 && !late; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      for (const auto& rec : ReadTopic(project, "dlq.txn")) late |= rec.key.starts_with("late:1:");
    }
    EXPECT_TRUE(late) << "the event below the idle floor was not sent to dlq.txn as late\n" << ReadFile(log);
    EXPECT_EQ(stream.Kill(SIGTERM), 0) << ReadFile(log);
  }
  // The batch replay reads the recorded decision: it does not count b's 60 s event either.
  std::string stream_rows = RunVigil(project, {"changelog", "spend"}, 30).out;
  std::string replay = RunVigil(project, {"changelog", "spend", "--replay"}, 30).out;
  EXPECT_FALSE(HasRowAt(stream_rows, b, 60000)) << stream_rows;
  EXPECT_FALSE(HasRowAt(replay, b, 60000)) << replay;
}

}  // namespace idle_watermark_test
}  // namespace vigil::e2e
