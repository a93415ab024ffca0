// Each worker serves Prometheus metrics (`--metrics-port`): the text passes
// `promtool check metrics`, and it reports what the workers did (events in and out,
// lag, watermark delay, late events, checkpoint duration, freshness).
#include <gtest/gtest.h>

#include <regex>
#include <thread>

#include "e2e_util.h"

namespace vigil::e2e {
namespace metrics_test {

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
)";

// The port a worker printed ("metrics: http://127.0.0.1:PORT/metrics"), waiting for it.
int MetricsPort(const std::string& log_path) {
  std::regex re(R"(metrics: http://127\.0\.0\.1:(\d+)/metrics)");
  for (int i = 0; i < 200; ++i) {
    std::smatch m;
    std::string text = ReadFile(log_path);
    if (std::regex_search(text, m, re)) return std::stoi(m[1]);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return -1;
}

std::string Scrape(int port) {
  CommandResult r = RunCommand("curl -sf http://127.0.0.1:" + std::to_string(port) + "/metrics", 20);
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  return r.out;
}

// The value of the first series matching `series_regex` (a full series name with labels).
double Value(const std::string& text, const std::string& series_regex) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex("\n" + series_regex + " ([^\n]+)"))) return -1;
  return std::stod(m[1]);
}

void ExpectPromtoolAccepts(const TempDir& dir, const std::string& text) {
  std::string path = dir.Path("scrape.txt");
  WriteFile(path, text);
  CommandResult r = RunCommand("promtool check metrics < " + ShellQuote(path), 30);
  EXPECT_EQ(r.exit_code, 0) << "promtool (from scripts/install-deps) rejects the metrics:\n" << r.Describe();
  EXPECT_EQ(r.out + r.err, "") << "promtool lint complaints";
}

TEST(Metrics, ComputeAndIngestionWorkersServeWhatTheyDid) {
  TempDir dir("vigil-metrics");
  std::string project = dir.Path("project");
  WriteFile(project + "/defs.yaml", kDefs);
  WriteFile(project + "/vigil.yaml", "log: {partitions: 2}\nstream: {checkpoint_interval: 100ms}\n");
  // 200 events of 20 users, one late (ts far behind its partition's watermark).
  std::string events;
  for (int i = 0; i < 200; ++i) {
    events += "{\"ts\":" + std::to_string(100000 + i * 1000) + ",\"user_id\":\"u" + std::to_string(i % 20) +
              "\",\"amount\":" + std::to_string(i) + "}\n";
  }
  events += "{\"ts\":1000,\"user_id\":\"u0\",\"amount\":1}\n";
  WriteFile(dir.Path("a.jsonl"), events);
  ASSERT_EQ(RunVigil(project, {"ingest", "txn", dir.Path("a.jsonl")}, 60).exit_code, 0);

  std::string compute_log = dir.Path("compute.log"), ingest_log = dir.Path("ingest.log");
  BackgroundVigil compute(project, {"stream", "--compute-only", "--metrics-port", "0"}, compute_log);
  BackgroundVigil ingest(project, {"ingest-worker", "--metrics-port", "0"}, ingest_log);
  int cport = MetricsPort(compute_log), iport = MetricsPort(ingest_log);
  ASSERT_GT(cport, 0) << ReadFile(compute_log);
  ASSERT_GT(iport, 0) << ReadFile(ingest_log);

  // Wait until compute has read everything and ingestion applied rows.
  std::string c, i;
  for (int n = 0; n < 200; ++n) {
    c = Scrape(cport);
    i = Scrape(iport);
    if (Value(c, R"(vigil_stream_records_in_total\{topic="txn"\})") == 201 &&
        Value(c, R"(vigil_stream_checkpoint_seconds_count)") >= 1 &&
        Value(i, R"(vigil_ingest_freshness_seconds_count)") > 0) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(Value(c, R"(vigil_stream_records_in_total\{topic="txn"\})"), 201) << c;
  EXPECT_EQ(Value(c, R"(vigil_stream_dead_letters_total\{reason="late",topic="txn"\})"), 1) << c;
  EXPECT_EQ(Value(c, R"(vigil_stream_consumer_lag_records\{topic="txn"\})"), 0) << c;
  EXPECT_GT(Value(c, R"(vigil_stream_records_out_total\{source="txn"\})"), 0) << c;
  // Event time is 1970: the watermark is decades behind the wall clock.
  EXPECT_GT(Value(c, R"(vigil_stream_watermark_delay_seconds\{source="txn"\})"), 1e9) << c;
  EXPECT_GE(Value(c, R"(vigil_stream_checkpoint_seconds_count)"), 1) << c;
  EXPECT_GT(Value(c, R"(process_resident_memory_bytes)"), 0) << c;
  EXPECT_GT(Value(i, R"(vigil_ingest_records_in_total\{topic="changelog.spend"\})"), 0) << i;
  EXPECT_GT(Value(i, R"(vigil_ingest_freshness_seconds_count)"), 0) << i;
  EXPECT_GE(Value(i, R"(vigil_ingest_consumer_lag_records)"), 0) << i;
  ExpectPromtoolAccepts(dir, c);
  ExpectPromtoolAccepts(dir, i);
  EXPECT_EQ(compute.Kill(SIGTERM), 0) << ReadFile(compute_log);
  EXPECT_EQ(ingest.Kill(SIGTERM), 0) << ReadFile(ingest_log);
}

}  // namespace metrics_test
}  // namespace vigil::e2e
