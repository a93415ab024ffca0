// `vigil stream` without --until-caught-up: it keeps computing while events arrive,
// the online store follows, and SIGTERM ends it cleanly.
#include <gtest/gtest.h>

#include "e2e_util.h"

namespace vigil::e2e {
namespace long_running_stream_test {

constexpr char kDefs[] = R"(entities:
  user: {keys: [user_id]}
sources:
  txn:
    timestamp: ts
    allowed_lateness: 0s
    schema: {user_id: string, amount: double}
feature_views:
  spend:
    entity: user
    source: txn
    features:
      n_1h:   {agg: count, window: 1h}
      sum_1h: {agg: sum, field: amount, window: 1h}
)";

TEST(LongRunningStream, FollowsNewEventsAndStopsOnSigterm) {
  TempDir dir("vigil-live");
  std::string project = dir.Path("project");
  WriteFile(project + "/defs.yaml", kDefs);
  WriteFile(project + "/vigil.yaml", "log: {partitions: 1}\n");  // W = the highest ts seen
  WriteFile(dir.Path("a.jsonl"),
            "{\"ts\":1000,\"user_id\":\"u1\",\"amount\":2.5}\n"
            "{\"ts\":2000,\"user_id\":\"u1\",\"amount\":4}\n");
  WriteFile(dir.Path("b.jsonl"),
            "{\"ts\":3000,\"user_id\":\"u1\",\"amount\":10}\n"
            "{\"ts\":4000,\"user_id\":\"u2\",\"amount\":1}\n");
  ASSERT_EQ(RunVigil(project, {"ingest", "txn", dir.Path("a.jsonl")}).exit_code, 0);
  // Start the worker, let it catch up, append more events while it runs, then stop it.
  std::string vigil = ShellQuote(VigilBinary()) + " --project " + ShellQuote(project);
  std::string script = vigil + " stream > " + ShellQuote(dir.Path("stream.out")) + " 2>&1 & pid=$!; " +
                       "sleep 1; " + vigil + " ingest txn " + ShellQuote(dir.Path("b.jsonl")) +
                       " > /dev/null; " +
                       // Wait (20 s at most) for the worker to pick the new events up.
                       "for i in $(seq 1 100); do " + vigil +
                       " get spend u1 | grep -q '\"ts\":3000' && break; sleep 0.2; done; " + vigil +
                       " get spend u1; kill -TERM $pid; wait $pid";
  CommandResult r = RunCommand("sh -c " + ShellQuote(script), 60);
  // The worker exited 0 on SIGTERM (wait returns its status) ...
  EXPECT_EQ(r.exit_code, 0) << r.Describe() << ReadFile(dir.Path("stream.out"));
  // ... and while running it computed the second file: with no lateness, W = 4000, so the
  // row at 3000 (3 events, 16.5) is final and online.
  EXPECT_NE(r.out.find("\"ts\":3000"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"n_1h\":3,\"sum_1h\":16.5"), std::string::npos) << r.out;
  EXPECT_NE(ReadFile(dir.Path("stream.out")).find("compute: 4 source events"), std::string::npos)
      << ReadFile(dir.Path("stream.out"));
}

}  // namespace long_running_stream_test
}  // namespace vigil::e2e
