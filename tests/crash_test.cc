// Exactly once across crashes (issue: "a log that loses nothing"). The compute worker
// (`vigil stream --compute-only`) and the ingestion worker (`vigil ingest-worker`) are
// killed with SIGKILL at random moments, at least 20 times in all, while events keep
// arriving; each is restarted. The changelog topics and the online store must end
// exactly as in an uninterrupted run over the same events: nothing lost, nothing twice.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <thread>

#include "fraud_pipeline_util.h"

namespace vigil::e2e {
namespace crash_test {

namespace fs = std::filesystem;

// Checkpoints often, so kills land before, during and after many of them; no idle
// advance, which depends on wall-clock pauses and would differ between runs by design.
constexpr char kSettings[] = R"(stream: {checkpoint_interval: 50ms, idle_timeout: 0s}
)";

class CrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gen_ = dir_.Path("gen");
    CommandResult g = RunVigil(SourceDir() + "/examples/fraud",
                               {"generate", "--users", "300", "--days", "3", "--seed", "23", "--out", gen_}, 120);
    ASSERT_EQ(g.exit_code, 0) << g.Describe();
    chunks_ = Chunk(dir_, gen_, 4);
    // The uninterrupted run: every chunk in order, then compute and ingestion to the end.
    reference_ = MakeProject(dir_, "reference", kSettings);
    for (const auto& c : chunks_) IngestChunk(reference_, c);
    CommandResult s = RunVigil(reference_, {"stream", "--until-caught-up"}, 300);
    ASSERT_EQ(s.exit_code, 0) << s.Describe();
    expected_ = Outcome(reference_);
  }

  // Runs compute and ingestion to the end in `project` (after whatever happened before).
  void Finish(const std::string& project) {
    CommandResult s = RunVigil(project, {"stream", "--compute-only", "--until-caught-up"}, 300);
    ASSERT_EQ(s.exit_code, 0) << s.Describe();
    CommandResult i = RunVigil(project, {"ingest-worker", "--until-caught-up"}, 300);
    ASSERT_EQ(i.exit_code, 0) << i.Describe();
  }

  TempDir dir_{"vigil-crash"};
  std::string gen_;
  std::string reference_;
  std::vector<std::map<std::string, std::string>> chunks_;
  std::map<std::string, std::string> expected_;
};

TEST_F(CrashTest, KillNineInComputeAndIngestionLosesAndDuplicatesNothing) {
  std::string project = MakeProject(dir_, "crashed", kSettings);
  IngestChunk(project, chunks_[0]);
  std::string log = dir_.Path("workers.log");
  std::unique_ptr<BackgroundVigil> compute, ingest;
  Rng rng(0xC0FFEE);
  int compute_kills = 0, ingest_kills = 0;
  size_t next_chunk = 1;
  constexpr int kRounds = 24;
  for (int round = 0; round < kRounds; ++round) {
    if (!compute) compute = std::make_unique<BackgroundVigil>(project, std::vector<std::string>{"stream", "--compute-only"}, log);
    if (!ingest) ingest = std::make_unique<BackgroundVigil>(project, std::vector<std::string>{"ingest-worker"}, log);
    // New events arrive while both run (the last chunks after the kills).
    if (round % 6 == 3 && next_chunk < chunks_.size()) IngestChunk(project, chunks_[next_chunk++]);
    std::this_thread::sleep_for(std::chrono::milliseconds(rng.Uniform(60, 700)));
    // Alternate victims; every fourth round both die at once.
    bool kill_compute = round % 2 == 0 || round % 4 == 3;
    bool kill_ingest = round % 2 == 1 || round % 4 == 3;
    if (kill_compute) {
      EXPECT_EQ(compute->Kill(SIGKILL), 128 + SIGKILL) << "the compute worker exited early:\n" << ReadFile(log);
      compute.reset();
      ++compute_kills;
    }
    if (kill_ingest) {
      EXPECT_EQ(ingest->Kill(SIGKILL), 128 + SIGKILL) << "the ingestion worker exited early:\n" << ReadFile(log);
      ingest.reset();
      ++ingest_kills;
    }
  }
  while (next_chunk < chunks_.size()) IngestChunk(project, chunks_[next_chunk++]);
  // What survives the last round stops cleanly: SIGTERM checkpoints and exits 0.
  if (compute) EXPECT_EQ(compute->Kill(SIGTERM), 0) << ReadFile(log);
  if (ingest) EXPECT_EQ(ingest->Kill(SIGTERM), 0) << ReadFile(log);
  EXPECT_GE(compute_kills, 10);
  EXPECT_GE(ingest_kills, 10);
  EXPECT_GE(compute_kills + ingest_kills, 20);
  Finish(project);
  ExpectSameOutcome(Outcome(project), expected_);
}

TEST_F(CrashTest, ComputeRunsWhileIngestionIsStoppedAndIngestionCatchesUp) {
  std::string project = MakeProject(dir_, "decoupled", kSettings);
  IngestChunk(project, chunks_[0]);
  std::string log = dir_.Path("compute.log");
  {
    // Compute alone, while more events arrive: it does not wait for ingestion.
    BackgroundVigil compute(project, {"stream", "--compute-only"}, log);
    for (size_t c = 1; c < chunks_.size(); ++c) IngestChunk(project, chunks_[c]);
    // It catches up: every source offset is checkpointed (its group commit follows).
    bool caught_up = false;
    for (int i = 0; i < 300 && !caught_up; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      auto l = OpenProjectLog(project);
      ASSERT_TRUE(l.ok()) << l.status().ToString();
      caught_up = true;
      for (const auto& source : kSources) {
        auto ends = (*l)->EndOffsets(source);
        auto committed = (*l)->Committed("vigil-stream", source);
        ASSERT_TRUE(ends.ok() && committed.ok());
        caught_up &= *ends == *committed;
      }
    }
    ASSERT_TRUE(caught_up) << "compute did not catch up while ingestion was stopped:\n" << ReadFile(log);
    // Nothing is online yet: no ingestion ran, yet changelogs were written.
    auto l = OpenProjectLog(project);
    ASSERT_TRUE(l.ok());
    auto ends = (*l)->EndOffsets("changelog.user_txn");
    ASSERT_TRUE(ends.ok());
    int64_t rows = 0;
    for (int64_t e : *ends) rows += e;
    EXPECT_GT(rows, 0);
    EXPECT_FALSE(fs::exists(project + "/.vigil/online/CURRENT"));
    EXPECT_EQ(compute.Kill(SIGTERM), 0) << ReadFile(log);
  }
  // Ingestion starts late and catches up.
  Finish(project);
  ExpectSameOutcome(Outcome(project), expected_);
}

}  // namespace crash_test
}  // namespace vigil::e2e
