// The Kafka log (kafka_log.cc) against librdkafka's mock cluster of three brokers:
// round trips and placement, FlushedEnds, Seek, records dropped by retention, offsets,
// a consumer group that rebalances, broker failures and injected request errors during
// a produce stream, a cluster that is not there, and `vigil kafka-mock`'s loop.
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/time.h"
#include "log/kafka_mock.h"
#include "log/log.h"

namespace vigil {
namespace kafka_log_test {

struct Rec {
  int partition = 0;
  int64_t offset = 0;
  TimestampMs time = 0;
  std::string key;
  std::string payload;
};

// One cluster for the suite (stopping one takes up to a second); each test has its own
// topic prefix. Tests that take brokers down start their own (KafkaFaultTest).
class KafkaLogTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto cluster = KafkaMockCluster::Start(3);
    ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
    shared_cluster_ = std::move(cluster).value().release();
  }
  static void TearDownTestSuite() {
    delete shared_cluster_;
    shared_cluster_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(shared_cluster_, nullptr);
    cluster_ = shared_cluster_;
    prefix_ = std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + ".";
    log_ = OpenLog(prefix_);
    ASSERT_NE(log_, nullptr);
  }

  static inline KafkaMockCluster* shared_cluster_ = nullptr;
  KafkaMockCluster* cluster_ = nullptr;
  std::string prefix_;

  LogOptions Options(const std::string& prefix) const {
    LogOptions o;
    o.kind = LogOptions::Kind::kKafka;
    o.bootstrap = cluster_->bootstrap();
    o.topic_prefix = prefix;
    o.partitions = 4;
    // Quick group rebalances: the mock waits up to the session timeout for members.
    o.kafka_config = {{"session.timeout.ms", "3000"}, {"heartbeat.interval.ms", "300"}};
    return o;
  }

  std::unique_ptr<Log> OpenLog(const std::string& prefix) {
    auto log = Log::Open(Options(prefix));
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    return log.ok() ? std::move(log).value() : nullptr;
  }

  std::unique_ptr<TopicWriter> Writer(const std::string& topic) {
    auto w = log_->OpenWriter(topic);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    return w.ok() ? std::move(w).value() : nullptr;
  }

  std::unique_ptr<TopicReader> Reader(const std::string& topic) {
    auto r = log_->OpenReader(topic);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  }

  // Reads until Next() says every partition is at its end.
  static std::vector<Rec> ReadToEnd(TopicReader* r) {
    std::vector<Rec> out;
    LogRecord rec;
    while (true) {
      auto more = r->Next(&rec);
      EXPECT_TRUE(more.ok()) << more.status().ToString();
      if (!more.ok() || !*more) break;
      out.push_back(
          {rec.partition, rec.offset, rec.append_time, std::string(rec.key), std::string(rec.payload)});
    }
    return out;
  }

  // Checks that `recs` hold, for each key k<j>, the sequence 0..per_key-1 exactly once
  // and in order, each in PartitionForKey's partition, with offsets 0, 1, ... per partition.
  static void ExpectExactlyOnceInOrder(const std::vector<Rec>& recs, int keys, int per_key, int partitions) {
    std::map<std::string, int> next_seq;
    std::map<int, int64_t> next_offset;
    for (const Rec& r : recs) {
      ASSERT_EQ(r.partition, PartitionForKey(r.key, partitions)) << r.key;
      ASSERT_EQ(r.offset, next_offset[r.partition]) << "partition " << r.partition;
      next_offset[r.partition]++;
      int seq = std::stoi(r.payload.substr(r.payload.find('#') + 1));
      ASSERT_EQ(seq, next_seq[r.key]) << "key " << r.key << ": duplicate or missing record";
      next_seq[r.key]++;
    }
    ASSERT_EQ(static_cast<int>(next_seq.size()), keys);
    for (const auto& [key, n] : next_seq) EXPECT_EQ(n, per_key) << key;
  }

  static std::string Key(int k) { return "user" + std::to_string(k); }
  static std::string Payload(int k, int seq) { return "payload of " + Key(k) + " #" + std::to_string(seq); }

  std::unique_ptr<Log> log_;
};

class KafkaFaultTest : public KafkaLogTest {
 protected:
  void SetUp() override {
    auto cluster = KafkaMockCluster::Start(3);
    ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
    own_cluster_ = std::move(cluster).value();
    cluster_ = own_cluster_.get();
    prefix_ = "f.";
    log_ = OpenLog(prefix_);
    ASSERT_NE(log_, nullptr);
  }
  std::unique_ptr<KafkaMockCluster> own_cluster_;
};

TEST_F(KafkaLogTest, RoundTripAcrossPartitionsKeepsPerKeyOrderAndPlacement) {
  constexpr int kKeys = 37, kPerKey = 40;
  auto w = Writer("events");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->partitions(), 4);
  for (int seq = 0; seq < kPerKey; ++seq) {
    for (int k = 0; k < kKeys; ++k) {
      ASSERT_TRUE(w->Append(Key(k), Payload(k, seq), 1000 + seq).ok());
    }
  }
  ASSERT_TRUE(w->Flush(false).ok());

  auto r = Reader("events");
  ASSERT_NE(r, nullptr);
  std::vector<Rec> recs = ReadToEnd(r.get());
  ASSERT_EQ(recs.size(), size_t{kKeys * kPerKey});
  ExpectExactlyOnceInOrder(recs, kKeys, kPerKey, 4);
  for (const Rec& rec : recs) {
    int seq = std::stoi(rec.payload.substr(rec.payload.find('#') + 1));
    EXPECT_EQ(rec.time, 1000 + seq);  // the writer's timestamp, not the broker's
  }
  std::set<int> used;
  for (const Rec& rec : recs) used.insert(rec.partition);
  EXPECT_EQ(used.size(), 4u) << "37 keys should spread over all 4 partitions";

  // The default timestamp is the wall clock at Append.
  TimestampMs before = WallClockMs();
  ASSERT_TRUE(w->Append("late", "x").ok());
  ASSERT_TRUE(w->Flush(true).ok());
  TimestampMs after = WallClockMs();
  std::vector<Rec> more = ReadToEnd(r.get());
  ASSERT_EQ(more.size(), 1u);
  EXPECT_EQ(more[0].key, "late");
  EXPECT_GE(more[0].time, before);
  EXPECT_LE(more[0].time, after);
}

TEST_F(KafkaLogTest, EmptyKeyGoesToPartitionZeroAndAppendToChecksThePartition) {
  auto w = Writer("t");
  ASSERT_NE(w, nullptr);
  ASSERT_TRUE(w->Append("", "no key").ok());
  ASSERT_TRUE(w->AppendTo(3, "k", "explicit").ok());
  Status bad = w->AppendTo(4, "k", "x");
  EXPECT_TRUE(bad.IsInvalidArgument()) << bad.ToString();
  ASSERT_TRUE(w->Flush(false).ok());
  auto r = Reader("t");
  std::vector<Rec> recs = ReadToEnd(r.get());
  ASSERT_EQ(recs.size(), 2u);
  std::sort(recs.begin(), recs.end(), [](const Rec& a, const Rec& b) { return a.partition < b.partition; });
  EXPECT_EQ(recs[0].partition, 0);
  EXPECT_EQ(recs[0].payload, "no key");
  EXPECT_EQ(recs[1].partition, 3);
  EXPECT_EQ(recs[1].payload, "explicit");
}

TEST_F(KafkaLogTest, FlushedEndsAreDeliveredOffsetsOrTheEndAtOpen) {
  {
    auto w = Writer("t");
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(w->FlushedEnds(), (std::vector<int64_t>{0, 0, 0, 0}));
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(w->AppendTo(1, "k", "a").ok());
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(w->AppendTo(2, "k", "b").ok());
    ASSERT_TRUE(w->Flush(false).ok());
    EXPECT_EQ(w->FlushedEnds(), (std::vector<int64_t>{0, 5, 3, 0}));
  }
  // Another writer (another producer id) appending after the first one's records.
  auto w = Writer("t");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->FlushedEnds(), (std::vector<int64_t>{0, 5, 3, 0}));
  ASSERT_TRUE(w->AppendTo(2, "k", "c").ok());
  ASSERT_TRUE(w->AppendTo(0, "k", "c").ok());
  ASSERT_TRUE(w->Flush(false).ok());
  EXPECT_EQ(w->FlushedEnds(), (std::vector<int64_t>{1, 5, 4, 0}));
  auto ends = log_->EndOffsets("t");
  ASSERT_TRUE(ends.ok());
  EXPECT_EQ(*ends, w->FlushedEnds());
}

TEST_F(KafkaLogTest, SeekForwardBackwardAndOutOfRange) {
  auto w = Writer("t");
  ASSERT_NE(w, nullptr);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(w->AppendTo(0, "k", "r" + std::to_string(i)).ok());
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(w->AppendTo(2, "k", "s" + std::to_string(i)).ok());
  ASSERT_TRUE(w->Flush(false).ok());

  auto r = Reader("t");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->Position(0), 0);
  ASSERT_TRUE(r->Seek(0, 7).ok());
  ASSERT_TRUE(r->Seek(2, 4).ok());  // at the end: nothing from partition 2
  std::vector<Rec> recs = ReadToEnd(r.get());
  ASSERT_EQ(recs.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(recs[i].partition, 0);
    EXPECT_EQ(recs[i].offset, 7 + i);
    EXPECT_EQ(recs[i].payload, "r" + std::to_string(7 + i));
  }
  EXPECT_EQ(r->Position(0), 10);
  EXPECT_EQ(r->Position(2), 4);

  // Backwards, after the reader fetched everything.
  ASSERT_TRUE(r->Seek(0, 2).ok());
  ASSERT_TRUE(r->Seek(2, 3).ok());
  recs = ReadToEnd(r.get());
  ASSERT_EQ(recs.size(), 9u);
  std::vector<std::string> p0, p2;
  for (const Rec& rec : recs) (rec.partition == 0 ? p0 : p2).push_back(rec.payload);
  EXPECT_EQ(p0, (std::vector<std::string>{"r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9"}));
  EXPECT_EQ(p2, (std::vector<std::string>{"s3"}));

  Status below = r->Seek(0, -1);
  EXPECT_TRUE(below.IsInvalidArgument()) << below.ToString();
  EXPECT_NE(below.message().find("t:0"), std::string::npos) << below.message();
  EXPECT_NE(below.message().find("starts at 0"), std::string::npos) << below.message();
  Status beyond = r->Seek(0, 11);
  EXPECT_TRUE(beyond.IsInvalidArgument()) << beyond.ToString();
  EXPECT_TRUE(r->Seek(0, 10).ok());  // the end itself is fine
  EXPECT_TRUE(r->Seek(5, 0).IsInvalidArgument());
}

// The mock keeps about the newest 5 MB of each partition and drops older message sets,
// as retention would: the partition's start offset rises.
TEST_F(KafkaLogTest, RecordsDeletedByRetentionCannotBeReadOrSeekedTo) {
  auto w = Writer("t");
  ASSERT_NE(w, nullptr);
  auto early = Reader("t");  // positioned at 0, not fetching before its first Next()
  ASSERT_NE(early, nullptr);
  const std::string payload(200, 'x');
  for (int i = 0; i < 40000; ++i) ASSERT_TRUE(w->AppendTo(0, "k", payload + std::to_string(i)).ok());
  ASSERT_TRUE(w->Flush(false).ok());
  const int64_t start = (*log_->StartOffsets("t"))[0];
  ASSERT_GT(start, 0) << "the mock should have dropped the oldest records";
  EXPECT_EQ((*log_->EndOffsets("t"))[0], 40000);

  // A new reader starts at the partition's start.
  auto r = Reader("t");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->Position(0), start);
  Status below = r->Seek(0, start - 1);
  EXPECT_TRUE(below.IsInvalidArgument()) << below.ToString();
  EXPECT_NE(below.message().find("t:0"), std::string::npos) << below.message();
  EXPECT_NE(below.message().find("starts at " + std::to_string(start)), std::string::npos) << below.message();
  ASSERT_TRUE(r->Seek(0, 39990).ok());
  std::vector<Rec> tail = ReadToEnd(r.get());
  ASSERT_EQ(tail.size(), 10u);
  EXPECT_EQ(tail[0].payload, payload + "39990");

  // A reader whose position was deleted before it read it fails, naming the start.
  LogRecord rec;
  auto more = early->Next(&rec);
  ASSERT_FALSE(more.ok());
  EXPECT_TRUE(more.status().IsInvalidArgument()) << more.status().ToString();
  EXPECT_NE(more.status().message().find("t:0"), std::string::npos) << more.status().ToString();
  EXPECT_NE(more.status().message().find("starts at"), std::string::npos) << more.status().ToString();
}

TEST_F(KafkaLogTest, StartAndEndOffsets) {
  ASSERT_TRUE(log_->CreateTopic("t", 3).ok());
  EXPECT_EQ(*log_->StartOffsets("t"), (std::vector<int64_t>{0, 0, 0}));
  EXPECT_EQ(*log_->EndOffsets("t"), (std::vector<int64_t>{0, 0, 0}));
  auto w = Writer("t");
  ASSERT_NE(w, nullptr);
  std::vector<int64_t> expect(3, 0);
  for (int k = 0; k < 50; ++k) {
    ASSERT_TRUE(w->Append(Key(k), "x").ok());
    expect[PartitionForKey(Key(k), 3)]++;
  }
  ASSERT_TRUE(w->Flush(false).ok());
  EXPECT_EQ(*log_->EndOffsets("t"), expect);
  EXPECT_EQ(*log_->StartOffsets("t"), (std::vector<int64_t>{0, 0, 0}));
  EXPECT_TRUE(log_->StartOffsets("nope").status().IsNotFound());
  EXPECT_TRUE(log_->EndOffsets("nope").status().IsNotFound());
}

TEST_F(KafkaLogTest, TopicsArePrefixedAndCreatedOnce) {
  ASSERT_TRUE(log_->CreateTopic("b", 3).ok());
  ASSERT_TRUE(log_->CreateTopic("b", 3).ok());
  Status other = log_->CreateTopic("b", 5);
  EXPECT_TRUE(other.IsInvalidArgument()) << other.ToString();
  EXPECT_NE(other.message().find("3 partitions"), std::string::npos) << other.message();
  ASSERT_TRUE(log_->CreateTopic("a.x", 1).ok());
  EXPECT_EQ(*log_->Partitions("b"), 3);
  Status missing = log_->Partitions("c").status();
  EXPECT_TRUE(missing.IsNotFound()) << missing.ToString();
  EXPECT_NE(missing.message().find("c"), std::string::npos);

  // Opening a reader creates a missing topic with options.partitions; it reads empty.
  auto r = Reader("c");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->partitions(), 4);
  LogRecord rec;
  auto more = r->Next(&rec);
  ASSERT_TRUE(more.ok());
  EXPECT_FALSE(*more);

  EXPECT_EQ(*log_->ListTopics(), (std::vector<std::string>{"a.x", "b", "c"}));
  // Another prefix on the same cluster sees none of them.
  auto other_log = OpenLog(prefix_ + "other.");
  ASSERT_NE(other_log, nullptr);
  EXPECT_EQ(*other_log->ListTopics(), std::vector<std::string>{});
  EXPECT_TRUE(other_log->Partitions("b").status().IsNotFound());
  EXPECT_TRUE(log_->CreateTopic("d", 0).IsInvalidArgument());
}

TEST_F(KafkaLogTest, CommitAndCommittedWithoutMembership) {
  ASSERT_TRUE(log_->CreateTopic("t", 4).ok());
  EXPECT_EQ(*log_->Committed("archiver", "t"), (std::vector<int64_t>{0, 0, 0, 0}));
  ASSERT_TRUE(log_->Commit("archiver", "t", {3, 0, 5, 1}).ok());
  EXPECT_EQ(*log_->Committed("archiver", "t"), (std::vector<int64_t>{3, 0, 5, 1}));
  ASSERT_TRUE(log_->Commit("archiver", "t", {4, 1, 5, 9}).ok());
  EXPECT_EQ(*log_->Committed("archiver", "t"), (std::vector<int64_t>{4, 1, 5, 9}));
  // Groups are independent, also across Log instances.
  EXPECT_EQ(*log_->Committed("other", "t"), (std::vector<int64_t>{0, 0, 0, 0}));
  auto again = OpenLog(prefix_);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(*again->Committed("archiver", "t"), (std::vector<int64_t>{4, 1, 5, 9}));

  EXPECT_TRUE(log_->Commit("archiver", "t", {1, 2}).IsInvalidArgument());
  EXPECT_TRUE(log_->Commit("archiver", "missing", {1}).IsNotFound());
  EXPECT_TRUE(log_->Committed("archiver", "missing").status().IsNotFound());
}

// A member of a consumer group as vigil's workers are: it keeps, with its own state, the
// position after each record it processed, resumes its own partitions from there, and
// commits those positions when partitions are taken away. A partition it never had
// starts at the group's committed offset.
//
// The mock rejects a commit while the group rebalances (REBALANCE_IN_PROGRESS) where
// Kafka accepts one from a member of the current generation, so a survivor's commit in
// on_revoked fails on the mock: it is counted, not fatal, and the member's own positions
// keep it exact.
struct Member {
  std::unique_ptr<GroupConsumer> consumer;
  std::map<int, int64_t> processed_next;  // partition -> next offset to process
  std::vector<Rec> got;
  int assigned_calls = 0;
  int revoked_calls = 0;
  int failed_revoke_commits = 0;
  std::string last_revoke_error;

  // Commits what was processed of the assigned partitions.
  Status CommitProcessed() {
    std::vector<GroupConsumer::Assignment> parts;
    std::vector<int64_t> offsets;
    for (const auto& a : consumer->assignment()) {
      auto it = processed_next.find(a.partition);
      if (it == processed_next.end()) continue;
      parts.push_back(a);
      offsets.push_back(it->second);
    }
    return consumer->Commit(parts, offsets);
  }

  GroupConsumer::Listener MakeListener() {
    GroupConsumer::Listener l;
    l.on_revoked = [this](const std::vector<GroupConsumer::Assignment>& revoked) {
      ++revoked_calls;
      std::vector<GroupConsumer::Assignment> parts;
      std::vector<int64_t> offsets;
      for (const auto& a : revoked) {
        auto it = processed_next.find(a.partition);
        if (it == processed_next.end()) continue;
        parts.push_back(a);
        offsets.push_back(it->second);
      }
      if (Status st = consumer->Commit(parts, offsets); !st.ok()) {
        ++failed_revoke_commits;
        last_revoke_error = st.ToString();
      }
      return Status::OK();
    };
    l.on_assigned = [this](const std::vector<GroupConsumer::Assignment>& assigned,
                           std::vector<int64_t>* start) {
      ++assigned_calls;
      for (size_t i = 0; i < assigned.size(); ++i) {
        auto it = processed_next.find(assigned[i].partition);
        (*start)[i] = it == processed_next.end() ? -1 : it->second;
      }
      return Status::OK();
    };
    return l;
  }

  // Reads for up to `ms`, or until `max_records` were processed.
  void Poll(int ms, int max_records = 1 << 30) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    LogRecord rec;
    std::string topic;
    int n = 0;
    while (n < max_records && std::chrono::steady_clock::now() < deadline) {
      auto more = consumer->Next(&rec, &topic, 20);
      ASSERT_TRUE(more.ok()) << more.status().ToString();
      if (!*more) continue;
      EXPECT_EQ(topic, "orders");
      got.push_back(
          {rec.partition, rec.offset, rec.append_time, std::string(rec.key), std::string(rec.payload)});
      processed_next[rec.partition] = rec.offset + 1;
      ++n;
    }
  }

  std::set<int> Partitions() const {
    std::set<int> s;
    for (const auto& a : consumer->assignment()) s.insert(a.partition);
    return s;
  }
};

TEST_F(KafkaLogTest, ConsumerGroupRebalancesWithoutLossOrDuplicates) {
  constexpr int kKeys = 40, kPerKey = 10;
  ASSERT_TRUE(log_->CreateTopic("orders", 4).ok());
  auto w = Writer("orders");
  ASSERT_NE(w, nullptr);
  for (int seq = 0; seq < kPerKey; ++seq) {
    for (int k = 0; k < kKeys; ++k) ASSERT_TRUE(w->Append(Key(k), Payload(k, seq)).ok());
  }
  ASSERT_TRUE(w->Flush(false).ok());

  Member a, b;
  auto ca = log_->Subscribe("scorers", {"orders"}, a.MakeListener());
  ASSERT_TRUE(ca.ok()) << ca.status().ToString();
  a.consumer = std::move(ca).value();
  auto cb = log_->Subscribe("scorers", {"orders"}, b.MakeListener());
  ASSERT_TRUE(cb.ok()) << cb.status().ToString();
  b.consumer = std::move(cb).value();

  // Both join; the group splits the 4 partitions between them. A reads only a little.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while ((a.Partitions().empty() || b.Partitions().empty()) && std::chrono::steady_clock::now() < deadline) {
    a.Poll(50, /*max_records=*/5);
    b.Poll(50, /*max_records=*/5);
  }
  ASSERT_FALSE(a.Partitions().empty());
  ASSERT_FALSE(b.Partitions().empty());
  std::set<int> all = a.Partitions(), of_b = b.Partitions();
  all.insert(of_b.begin(), of_b.end());
  EXPECT_EQ(all, (std::set<int>{0, 1, 2, 3}));
  EXPECT_EQ(a.Partitions().size() + b.Partitions().size(), 4u);
  a.Poll(300, /*max_records=*/30);
  EXPECT_GT(a.got.size(), 0u);
  // A commits what it processed while the group is stable, as a worker does after a
  // poll. Its on_revoked commits again when it leaves; that one may meet the rebalance
  // its leaving starts (the mock answers REBALANCE_IN_PROGRESS under load), which loses
  // nothing since A processed nothing since.
  Status committed = a.CommitProcessed();
  ASSERT_TRUE(committed.ok()) << committed.ToString();

  // A leaves, and B takes every partition, A's from A's commit.
  ASSERT_TRUE(a.consumer->Close().ok());
  EXPECT_GE(a.revoked_calls, 1);
  if (a.failed_revoke_commits > 0) std::printf("note: on_revoked commit failed: %s\n", a.last_revoke_error.c_str());
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while ((b.Partitions().size() < 4 || a.got.size() + b.got.size() < size_t{kKeys * kPerKey}) &&
         std::chrono::steady_clock::now() < deadline) {
    b.Poll(100);
  }
  EXPECT_EQ(b.Partitions(), (std::set<int>{0, 1, 2, 3}));
  EXPECT_GE(b.assigned_calls, 2);
  EXPECT_GE(b.revoked_calls, 1);
  b.Poll(300);  // nothing more may come (no record twice)

  std::vector<Rec> all_recs = a.got;
  all_recs.insert(all_recs.end(), b.got.begin(), b.got.end());
  std::set<std::pair<int, int64_t>> seen;
  for (const Rec& r : all_recs) {
    EXPECT_TRUE(seen.insert({r.partition, r.offset}).second)
        << "read twice: " << r.partition << ":" << r.offset;
  }
  EXPECT_EQ(seen.size(), size_t{kKeys * kPerKey}) << "records lost";

  // What B processed is committed by B's Commit and visible to Log::Committed.
  std::vector<GroupConsumer::Assignment> parts;
  std::vector<int64_t> next;
  for (const auto& [p, n] : b.processed_next) {
    parts.push_back({"orders", p});
    next.push_back(n);
  }
  ASSERT_TRUE(b.consumer->Commit(parts, next).ok());
  ASSERT_TRUE(b.consumer->Close().ok());
  EXPECT_EQ(*log_->Committed("scorers", "orders"), *log_->EndOffsets("orders"));
}

// Produces kKeys x kPerKey records while `fault(i)` runs before record i.
template <typename Fault>
void ProduceWithFaults(TopicWriter* w, int keys, int per_key, Fault fault) {
  int i = 0;
  for (int seq = 0; seq < per_key; ++seq) {
    for (int k = 0; k < keys; ++k, ++i) {
      fault(i);
      ASSERT_TRUE(w->Append("user" + std::to_string(k),
                            "payload of user" + std::to_string(k) + " #" + std::to_string(seq))
                      .ok());
    }
  }
}

TEST_F(KafkaFaultTest, LeaderBrokersDownAndBackDuringAProduceStream) {
  constexpr int kKeys = 50, kPerKey = 300;
  ASSERT_TRUE(log_->CreateTopic("stream", 4).ok());
  // Partitions 0 and 1 led by broker 1, 2 and 3 by broker 2.
  for (int p = 0; p < 4; ++p)
    ASSERT_TRUE(cluster_->SetPartitionLeader(prefix_ + "stream", p, p < 2 ? 1 : 2).ok());
  auto w = Writer("stream");
  ASSERT_NE(w, nullptr);
  std::vector<int64_t> acked;  // FlushedEnds when a broker went down
  // Flushed before each broker goes down: the mock does not de-duplicate an idempotent
  // producer's retry of a request it appended but could not answer (kafka_mock.h), so
  // a request in flight at that moment could come back twice, where Kafka would not.
  ProduceWithFaults(w.get(), kKeys, kPerKey, [&](int i) {
    if (i == 2000) {
      ASSERT_TRUE(w->Flush(false).ok());
      acked = w->FlushedEnds();
      ASSERT_TRUE(cluster_->BrokerDown(1).ok());
    } else if (i == 5999) {
      // Nothing reached partitions 0 and 1 while their leader was down; 2 and 3 went on.
      std::vector<int64_t> now = w->FlushedEnds();
      EXPECT_EQ(now[0], acked[0]);
      EXPECT_EQ(now[1], acked[1]);
      EXPECT_GT(now[2] + now[3], acked[2] + acked[3]);
    } else if (i == 6000) {
      ASSERT_TRUE(cluster_->BrokerUp(1).ok());
    } else if (i == 9000) {
      ASSERT_TRUE(w->Flush(false).ok());
      acked = w->FlushedEnds();
      ASSERT_TRUE(cluster_->BrokerDown(2).ok());
    } else if (i == 11999) {
      std::vector<int64_t> now = w->FlushedEnds();
      EXPECT_EQ(now[2], acked[2]);
      EXPECT_EQ(now[3], acked[3]);
    } else if (i == 12000) {
      // Broker 2's partitions fail over to broker 3 while it is still down.
      for (int p = 2; p < 4; ++p) ASSERT_TRUE(cluster_->SetPartitionLeader(prefix_ + "stream", p, 3).ok());
    } else if (i == 13500) {
      ASSERT_TRUE(cluster_->BrokerUp(2).ok());
    }
    if (i % 1000 == 999) std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a stream, not a burst
  });
  Status flushed = w->Flush(false);
  ASSERT_TRUE(flushed.ok()) << flushed.ToString();
  auto ends = log_->EndOffsets("stream");
  ASSERT_TRUE(ends.ok());
  EXPECT_EQ(w->FlushedEnds(), *ends);

  auto r = Reader("stream");
  ASSERT_NE(r, nullptr);
  std::vector<Rec> recs = ReadToEnd(r.get());
  EXPECT_EQ(recs.size(), size_t{kKeys * kPerKey});
  ExpectExactlyOnceInOrder(recs, kKeys, kPerKey, 4);
}

// The admin handle learned the leaders with its first watermark queries; after they move
// (away from broker 2, which is up and answers NOT_LEADER, and from broker 3, which is
// down), the offsets of a reader opened before the move and of the Log come from the
// new leader within a few retries, not after the ~15 s the retries are allowed.
TEST_F(KafkaFaultTest, OffsetsFollowPartitionLeadersThatMove) {
  ASSERT_TRUE(log_->CreateTopic("t", 4).ok());
  for (int p = 0; p < 4; ++p) ASSERT_TRUE(cluster_->SetPartitionLeader(prefix_ + "t", p, p % 3 + 1).ok());
  auto w = Writer("t");
  ASSERT_NE(w, nullptr);
  std::vector<int64_t> expect(4, 0);
  for (int k = 0; k < 40; ++k) {
    ASSERT_TRUE(w->Append(Key(k), "x").ok());
    expect[PartitionForKey(Key(k), 4)]++;
  }
  ASSERT_TRUE(w->Flush(false).ok());
  ASSERT_EQ(*log_->EndOffsets("t"), expect);
  auto r = Reader("t");
  ASSERT_NE(r, nullptr);

  ASSERT_TRUE(cluster_->BrokerDown(3).ok());
  for (int p = 0; p < 4; ++p) ASSERT_TRUE(cluster_->SetPartitionLeader(prefix_ + "t", p, 1).ok());
  auto start = std::chrono::steady_clock::now();
  // The reader asks for the ends itself (no metadata request of the Log before it).
  EXPECT_EQ(ReadToEnd(r.get()).size(), 40u);
  auto ends = log_->EndOffsets("t");
  ASSERT_TRUE(ends.ok()) << ends.status().ToString();
  EXPECT_EQ(*ends, expect);
  auto starts = log_->StartOffsets("t");
  ASSERT_TRUE(starts.ok()) << starts.status().ToString();
  EXPECT_EQ(*starts, (std::vector<int64_t>{0, 0, 0, 0}));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  for (int p = 0; p < 4; ++p) {
    Status st = r->Seek(p, 0);
    EXPECT_TRUE(st.ok()) << st.ToString();
  }
  EXPECT_EQ(ReadToEnd(r.get()).size(), 40u);
  ASSERT_TRUE(cluster_->BrokerUp(3).ok());
}

TEST_F(KafkaFaultTest, RetriableProduceErrorsLoseAndDuplicateNothing) {
  constexpr int kKeys = 20, kPerKey = 250;
  ASSERT_TRUE(log_->CreateTopic("stream", 4).ok());
  auto w = Writer("stream");
  ASSERT_NE(w, nullptr);
  const std::vector<rd_kafka_resp_err_t> errors = {
      RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND};
  ProduceWithFaults(w.get(), kKeys, kPerKey, [&](int i) {
    if (i % 500 == 0) cluster_->PushRequestErrors(KafkaApi::kProduce, errors);
    if (i % 500 == 499) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  });
  Status flushed = w->Flush(false);
  ASSERT_TRUE(flushed.ok()) << flushed.ToString();

  auto r = Reader("stream");
  ASSERT_NE(r, nullptr);
  std::vector<Rec> recs = ReadToEnd(r.get());
  EXPECT_EQ(recs.size(), size_t{kKeys * kPerKey});
  ExpectExactlyOnceInOrder(recs, kKeys, kPerKey, 4);
}

TEST(KafkaLogOpenTest, UnreachableClusterIsAnIOErrorNamingTheBootstrap) {
  for (const std::string bootstrap : {"127.0.0.1:1", "no-such-host.invalid:9092"}) {
    LogOptions o;
    o.kind = LogOptions::Kind::kKafka;
    o.bootstrap = bootstrap;
    auto start = std::chrono::steady_clock::now();
    auto log = Log::Open(o);
    auto took = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(log.ok());
    EXPECT_EQ(log.status().code(), Status::Code::kIOError) << log.status().ToString();
    EXPECT_NE(log.status().message().find(bootstrap), std::string::npos) << log.status().ToString();
    EXPECT_LT(took, std::chrono::seconds(6)) << bootstrap;
  }
}

TEST(KafkaLogOpenTest, BadOptionsAreInvalidArguments) {
  auto cluster = KafkaMockCluster::Start(1);
  ASSERT_TRUE(cluster.ok());
  LogOptions o;
  o.kind = LogOptions::Kind::kKafka;
  o.bootstrap = (*cluster)->bootstrap();
  o.kafka_config = {{"no.such.property", "1"}};
  auto log = Log::Open(o);
  ASSERT_FALSE(log.ok());
  EXPECT_TRUE(log.status().IsInvalidArgument()) << log.status().ToString();
  EXPECT_NE(log.status().message().find("no.such.property"), std::string::npos) << log.status().ToString();

  o.kafka_config = {{"linger.ms", "not a number"}};
  log = Log::Open(o);
  ASSERT_FALSE(log.ok());
  EXPECT_TRUE(log.status().IsInvalidArgument()) << log.status().ToString();
  EXPECT_NE(log.status().message().find("linger.ms"), std::string::npos) << log.status().ToString();

  o.kafka_config = {};
  o.bootstrap = "";
  EXPECT_TRUE(Log::Open(o).status().IsInvalidArgument());
}

TEST(KafkaMockTest, SingleBrokerClusterServesALog) {
  auto cluster = KafkaMockCluster::Start(1);
  ASSERT_TRUE(cluster.ok());
  EXPECT_EQ((*cluster)->brokers(), 1);
  LogOptions o;
  o.kind = LogOptions::Kind::kKafka;
  o.bootstrap = (*cluster)->bootstrap();
  o.partitions = 2;
  auto log = Log::Open(o);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  auto w = (*log)->OpenWriter("t");
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ((*w)->partitions(), 2);
  ASSERT_TRUE((*w)->Append("k", "v").ok());
  ASSERT_TRUE((*w)->Flush(false).ok());
  EXPECT_EQ(*(*log)->EndOffsets("t"), (std::vector<int64_t>{PartitionForKey("k", 2) == 0 ? 1 : 0,
                                                            PartitionForKey("k", 2) == 1 ? 1 : 0}));
  EXPECT_TRUE(KafkaMockCluster::Start(0).status().IsInvalidArgument());
}

// What RunKafkaMockUntilSignal writes, handed over at its flush.
class LineBuf : public std::stringbuf {
 public:
  std::future<std::string> line() { return promise_.get_future(); }

 protected:
  int sync() override {
    if (!sent_) promise_.set_value(str());
    sent_ = true;
    return 0;
  }

 private:
  std::promise<std::string> promise_;
  bool sent_ = false;
};

// A limitation of librdkafka 2.0.2's mock (kafka_mock.h), with plain librdkafka and no
// vigil code: a consumer's first JoinGroup is held by the mock for the group's initial
// rebalance delay (3 s); the coordinator goes down meanwhile and comes back. The client
// rejoins as a second new member, and the first, with no connection, stays in the group
// until its session (librdkafka's default, 45 s) expires: the consumer is assigned after
// ~50 s, not ~3 s. DISABLED because it takes that long; run it with
// --gtest_also_run_disabled_tests to see whether a newer librdkafka still does this.
TEST(KafkaMockTest, DISABLED_JoinGroupHeldWhenTheCoordinatorGoesDown) {
  auto cluster = KafkaMockCluster::Start(3);
  ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
  ASSERT_TRUE((*cluster)->CreateTopic("t", 4).ok());
  ASSERT_TRUE((*cluster)->SetGroupCoordinator("g", 2).ok());
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  ASSERT_EQ(rd_kafka_conf_set(conf, "bootstrap.servers", (*cluster)->bootstrap().c_str(), errstr, sizeof errstr),
            RD_KAFKA_CONF_OK);
  ASSERT_EQ(rd_kafka_conf_set(conf, "group.id", "g", errstr, sizeof errstr), RD_KAFKA_CONF_OK);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  ASSERT_NE(rk, nullptr) << errstr;
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, "t", RD_KAFKA_PARTITION_UA);
  ASSERT_EQ(rd_kafka_subscribe(rk, topics), RD_KAFKA_RESP_ERR_NO_ERROR);
  rd_kafka_topic_partition_list_destroy(topics);

  // Without a rebalance callback librdkafka assigns by itself.
  auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::steady_clock::now() - start; };
  auto assigned = [&] {
    rd_kafka_topic_partition_list_t* a = nullptr;
    rd_kafka_assignment(rk, &a);
    bool any = a != nullptr && a->cnt > 0;
    if (a != nullptr) rd_kafka_topic_partition_list_destroy(a);
    return any;
  };
  bool down = false, up = false;
  while (!assigned() && elapsed() < std::chrono::seconds(90)) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (m != nullptr) rd_kafka_message_destroy(m);
    if (!down && elapsed() > std::chrono::seconds(1)) {
      ASSERT_TRUE((*cluster)->BrokerDown(2).ok());
      down = true;
    }
    if (!up && elapsed() > std::chrono::milliseconds(2500)) {
      ASSERT_TRUE((*cluster)->BrokerUp(2).ok());
      up = true;
    }
  }
  auto took = std::chrono::duration_cast<std::chrono::seconds>(elapsed()).count();
  EXPECT_TRUE(assigned());
  // What Kafka (MEMBER_ID_REQUIRED, KIP-394) would do: the rejoin keeps the member id.
  EXPECT_LT(took, 15) << "assigned after " << took << " s: the mock kept the member whose JoinGroup "
                      << "response was lost until its session expired";
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
}

TEST(KafkaMockTest, RunUntilSignalPrintsTheBootstrapAndStopsOnSigterm) {
  LineBuf buf;
  std::ostream out(&buf);
  std::future<std::string> line = buf.line();
  Status result = Status::IOError("not finished");
  std::thread mock([&] { result = RunKafkaMockUntilSignal(2, out); });
  ASSERT_EQ(line.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  std::string bootstrap = line.get();
  ASSERT_FALSE(bootstrap.empty());
  EXPECT_EQ(bootstrap.back(), '\n');
  bootstrap.pop_back();
  EXPECT_EQ(std::count(bootstrap.begin(), bootstrap.end(), ','), 1) << bootstrap;

  LogOptions o;
  o.kind = LogOptions::Kind::kKafka;
  o.bootstrap = bootstrap;
  {
    auto log = Log::Open(o);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    EXPECT_TRUE((*log)->CreateTopic("t", 2).ok());
  }
  // SIGTERM to the thread that blocks it; the rest of the process is not involved.
  ASSERT_EQ(pthread_kill(mock.native_handle(), SIGTERM), 0);
  mock.join();
  EXPECT_TRUE(result.ok()) << result.ToString();
  EXPECT_EQ(Log::Open(o).status().code(), Status::Code::kIOError) << "the cluster should be gone";
}

}  // namespace kafka_log_test
}  // namespace vigil
