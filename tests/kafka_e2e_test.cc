// Kafka mode passes the same end-to-end test as embedded mode: the fraud example's events
// go through a 3-broker Kafka cluster (librdkafka's mock, in this test process; the vigil
// processes reach it over loopback) while the compute worker (`vigil stream
// --compute-only`) and the ingestion worker (`vigil ingest-worker`) run in the
// background. Meanwhile a broker goes down and comes back, another goes down while its
// partitions are moved to a live broker, and the compute worker is killed with SIGKILL
// and restarted. Every view's changelog and online rows, and training datasets for two
// views, must end byte-identical to an embedded-log project that ingested the same
// events and ran `stream --until-caught-up` without interruption: nothing lost, nothing
// twice.
//
// The mock does not de-duplicate idempotent producers (kafka_mock.h): a produce request
// in flight when its broker dies may be appended twice. The outages are therefore timed
// between `vigil ingest` runs (each flushes before it exits), while only the workers run.
//
// Broker 2, down first, is also the coordinator of the ingestion group. The mock has no
// MEMBER_ID_REQUIRED (kafka_mock.h): a JoinGroup it holds when the coordinator goes down
// leaves a member without a connection that the group waits for, and may elect leader,
// until its session times out. So broker 2 goes down once the ingestion worker is a
// member of a stable generation (it has committed offsets): the worker loses its
// coordinator, heartbeats fail, and it rejoins under its own member id when broker 2 is
// back, as it would on Kafka.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <thread>

#include "fraud_pipeline_util.h"
#include "log/kafka_mock.h"
#include "log/log.h"

namespace vigil::e2e {
namespace kafka_e2e_test {

namespace fs = std::filesystem;

// As crash_test.cc: frequent checkpoints; no idle advance (wall-clock dependent).
constexpr char kStreamSettings[] = "stream: {checkpoint_interval: 100ms, idle_timeout: 0s}\n";

// The mock holds every rebalance of a group after its first for up to session.timeout.ms
// - 1 s, even when the only member left cleanly (kafka_mock.h): with librdkafka's default
// of 45 s, the final `ingest-worker --until-caught-up` would wait 44 s for its partitions.
constexpr char kGroupSettings[] = "kafka: {session.timeout.ms: 6000, heartbeat.interval.ms: 500}";

constexpr char kTopicPrefix[] = "t1.";
constexpr char kIngestGroup[] = "vigil-ingest";  // IngestionOptions::group

const std::vector<std::string> kDatasetViews = {"user_txn", "user_logins"};

// Every view's changelog and online rows ("changelog VIEW" / "online VIEW"), and the
// training dataset of labels.csv for kDatasetViews ("dataset VIEW").
std::map<std::string, std::string> Outcome(const TempDir& dir, const std::string& project, const std::string& tag,
                                           const std::string& labels) {
  std::map<std::string, std::string> out = vigil::e2e::Outcome(project);
  for (const auto& view : kDatasetViews) {
    std::string path = dir.Path("dataset-" + tag + "-" + view + ".csv");
    CommandResult d = RunVigil(project, {"dataset", "--labels", labels, "--features", view, "--out", path}, 120);
    EXPECT_EQ(d.exit_code, 0) << d.Describe();
    out["dataset " + view] = d.exit_code == 0 ? ReadFile(path) : "";
  }
  return out;
}

void Sleep(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// Waits up to 30 s until the offsets the ingestion group committed, summed over every
// changelog partition, exceed `floor`; returns that sum, or -1 on timeout. A commit
// means its member has its member id and an assignment of a stable generation (the mock
// refuses commits while the group rebalances).
int64_t WaitForIngestionCommits(const KafkaMockCluster& kafka, const std::string& project, int64_t floor) {
  LogOptions o;
  o.kind = LogOptions::Kind::kKafka;
  o.bootstrap = kafka.bootstrap();
  o.topic_prefix = kTopicPrefix;
  auto log = Log::Open(o);
  EXPECT_TRUE(log.ok()) << log.status().ToString();
  if (!log.ok()) return -1;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    int64_t sum = 0;
    for (const auto& view : Views(project)) {
      auto committed = (*log)->Committed(kIngestGroup, "changelog." + view);
      if (!committed.ok()) continue;
      for (int64_t c : *committed) sum += c;
    }
    if (sum > floor) return sum;
    Sleep(200);
  }
  return -1;
}

// The scenario; the broker outages only if `outages`.
void RunScenario(bool outages) {
  TempDir dir("vigil-kafka-e2e");
  std::string gen = dir.Path("gen");
  CommandResult g = RunVigil(SourceDir() + "/examples/fraud",
                             {"generate", "--users", "300", "--days", "3", "--seed", "23", "--out", gen}, 120);
  ASSERT_EQ(g.exit_code, 0) << g.Describe();
  auto chunks = Chunk(dir, gen, 4);
  const std::string labels = gen + "/labels.csv";

  // The reference: embedded log, every chunk in order, one uninterrupted stream run.
  std::string reference = MakeProject(dir, "reference", kStreamSettings);
  for (const auto& c : chunks) {
    IngestChunk(reference, c);
    if (::testing::Test::HasFatalFailure()) return;
  }
  CommandResult s = RunVigil(reference, {"stream", "--until-caught-up"}, 300);
  ASSERT_EQ(s.exit_code, 0) << s.Describe();
  auto expected = Outcome(dir, reference, "embedded", labels);

  // The Kafka project. The mock is in this process and the vigil processes are not, so
  // topics are auto-created with 4 partitions: log.partitions keeps its default, 4.
  auto cluster = KafkaMockCluster::Start(3);
  ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
  KafkaMockCluster& kafka = **cluster;
  ASSERT_TRUE(kafka.SetGroupCoordinator(std::string(kTopicPrefix) + kIngestGroup, 2).ok());
  std::string project = MakeProject(dir, "kafka",
                                    "log: {kind: kafka, bootstrap: \"" + kafka.bootstrap() + "\", topic_prefix: " +
                                        kTopicPrefix + ", " + kGroupSettings + "}\n" + kStreamSettings);
  const std::string log = dir.Path("workers.log");
  auto failure_log = [&] { return "workers.log:\n" + ReadFile(log); };

  IngestChunk(project, chunks[0]);
  if (::testing::Test::HasFatalFailure()) return;
  auto compute = std::make_unique<BackgroundVigil>(project, std::vector<std::string>{"stream", "--compute-only"}, log);
  auto ingest = std::make_unique<BackgroundVigil>(project, std::vector<std::string>{"ingest-worker"}, log);
  Sleep(1500);
  IngestChunk(project, chunks[1]);
  if (::testing::Test::HasFatalFailure()) return;

  // Outage 1: broker 2, a partition leader and the ingestion group's coordinator, goes
  // down while the workers run (no ingest in flight), and comes back; its partitions and
  // the group stay unavailable meanwhile, and the workers must resume.
  int64_t committed_before_outage = 0;
  if (outages) {
    committed_before_outage = WaitForIngestionCommits(kafka, project, 0);
    ASSERT_GT(committed_before_outage, 0) << "the ingestion worker committed nothing within 30 s\n"
                                          << failure_log();
    ASSERT_TRUE(kafka.BrokerDown(2).ok());
    Sleep(1500);
    ASSERT_TRUE(kafka.BrokerUp(2).ok());
  }
  Sleep(1000);

  // The compute worker dies with SIGKILL and is restarted.
  EXPECT_EQ(compute->Kill(SIGKILL), 128 + SIGKILL) << "the compute worker exited early:\n" << failure_log();
  compute = std::make_unique<BackgroundVigil>(project, std::vector<std::string>{"stream", "--compute-only"}, log);
  IngestChunk(project, chunks[2]);
  if (::testing::Test::HasFatalFailure()) return;
  Sleep(1000);

  // Outage 2: broker 3 goes down and every partition of every source and changelog topic
  // moves to broker 1 (the mock never moves leaders itself), so progress resumes while it
  // is down; then it comes back.
  if (outages) {
    ASSERT_TRUE(kafka.BrokerDown(3).ok());
    std::vector<std::string> topics = kSources;
    for (const auto& view : Views(project)) topics.push_back("changelog." + view);
    for (const auto& topic : topics) {
      for (int p = 0; p < 4; ++p) {
        Status st = kafka.SetPartitionLeader("t1." + topic, p, 1);
        EXPECT_TRUE(st.ok()) << topic << "[" << p << "]: " << st.ToString();
      }
    }
    Sleep(1500);
    ASSERT_TRUE(kafka.BrokerUp(3).ok());
  }
  IngestChunk(project, chunks[3]);
  if (::testing::Test::HasFatalFailure()) return;
  Sleep(1000);
  // The ingestion worker rejoined its group after outage 1 and went on.
  if (outages) {
    EXPECT_GT(WaitForIngestionCommits(kafka, project, committed_before_outage), 0)
        << "the ingestion worker committed nothing after outage 1\n" << failure_log();
  }

  // Both stop cleanly (SIGTERM checkpoints and exits 0), then run to the end.
  EXPECT_EQ(compute->Kill(SIGTERM), 0) << failure_log();
  EXPECT_EQ(ingest->Kill(SIGTERM), 0) << failure_log();
  compute.reset();
  ingest.reset();
  CommandResult c = RunVigil(project, {"stream", "--compute-only", "--until-caught-up"}, 120);
  ASSERT_EQ(c.exit_code, 0) << c.Describe();
  CommandResult i = RunVigil(project, {"ingest-worker", "--until-caught-up"}, 60);
  ASSERT_EQ(i.exit_code, 0) << i.Describe();

  // The events went through Kafka, not a local log.
  EXPECT_FALSE(fs::exists(project + "/.vigil/log")) << "the Kafka project wrote an embedded log";
  ExpectSameOutcome(Outcome(dir, project, "kafka", labels), expected);
}

TEST(KafkaE2eTest, SameOutcomeAsEmbeddedWithComputeKill) { RunScenario(/*outages=*/false); }

TEST(KafkaE2eTest, SameOutcomeAsEmbeddedWithBrokerOutagesAndComputeKill) {
  RunScenario(/*outages=*/true);
}

}  // namespace kafka_e2e_test
}  // namespace vigil::e2e
