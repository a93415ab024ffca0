// The contract of log.h, checked against both implementations with the same tests: the
// embedded log in a scratch directory and the Kafka log on librdkafka's mock cluster.
// What only one of them can show (on-disk format, broker failures) is tested in its own
// file (log_test.cc, kafka_log_test.cc).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/test_util.h"
#include "log/kafka_mock.h"
#include "log/log.h"

namespace vigil {
namespace log_conformance_test {

struct Rec {
  int partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string payload;
};

constexpr int kPartitions = 3;

class LogConformanceTest : public ::testing::TestWithParam<std::string> {
 protected:
  // The cluster starts with the first kafka-mock test (ctest runs each test alone).
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

  void SetUp() override {
    LogOptions o;
    o.partitions = kPartitions;
    if (GetParam() == "embedded") {
      dir_ = std::make_unique<test::ScratchDir>("vigil_log_conformance");
      o.kind = LogOptions::Kind::kEmbedded;
      o.dir = dir_->Path("log");
    } else {
      if (cluster_ == nullptr) {
        auto cluster = KafkaMockCluster::Start(3);
        ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
        cluster_ = std::move(cluster).value().release();
      }
      o.kind = LogOptions::Kind::kKafka;
      o.bootstrap = cluster_->bootstrap();
      // One cluster for the suite: each test in its own namespace of topics and groups.
      std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
      std::replace_if(
          name.begin(), name.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '.');
      o.topic_prefix = name + ".";
    }
    auto log = Log::Open(o);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(log).value();
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

  static std::vector<Rec> ReadToEnd(TopicReader* r) {
    std::vector<Rec> out;
    LogRecord rec;
    while (true) {
      auto more = r->Next(&rec);
      EXPECT_TRUE(more.ok()) << more.status().ToString();
      if (!more.ok() || !*more) break;
      out.push_back({rec.partition, rec.offset, std::string(rec.key), std::string(rec.payload)});
    }
    return out;
  }

  // Appends key k<j> payload "k<j>#<seq>" for seq in [0, per_key), keys interleaved.
  void WriteKeys(const std::string& topic, int keys, int per_key) {
    auto w = Writer(topic);
    ASSERT_NE(w, nullptr);
    for (int seq = 0; seq < per_key; ++seq) {
      for (int k = 0; k < keys; ++k) {
        std::string key = "k" + std::to_string(k);
        ASSERT_TRUE(w->Append(key, key + "#" + std::to_string(seq)).ok());
      }
    }
    ASSERT_TRUE(w->Flush(true).ok());
  }

  static inline KafkaMockCluster* cluster_ = nullptr;
  std::unique_ptr<test::ScratchDir> dir_;
  std::unique_ptr<Log> log_;
};

TEST_P(LogConformanceTest, RoundTripKeepsPerKeyOrderInTheKeysPartition) {
  WriteKeys("events", 25, 12);
  auto r = Reader("events");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->partitions(), kPartitions);
  std::vector<Rec> recs = ReadToEnd(r.get());
  ASSERT_EQ(recs.size(), 25u * 12u);
  std::map<std::string, int> next_seq;
  std::map<int, int64_t> next_offset;
  for (const Rec& rec : recs) {
    EXPECT_EQ(rec.partition, PartitionForKey(rec.key, kPartitions)) << rec.key;
    EXPECT_EQ(rec.offset, next_offset[rec.partition]++) << "partition " << rec.partition;
    EXPECT_EQ(rec.payload, rec.key + "#" + std::to_string(next_seq[rec.key]++));
  }
  EXPECT_EQ(next_seq.size(), 25u);
  for (int p = 0; p < kPartitions; ++p) EXPECT_EQ(r->Position(p), next_offset[p]);
}

TEST_P(LogConformanceTest, SeekRepositionsOnePartition) {
  auto w = Writer("t");
  ASSERT_NE(w, nullptr);
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(w->AppendTo(1, "k", "r" + std::to_string(i)).ok());
  ASSERT_TRUE(w->AppendTo(2, "k", "other").ok());
  ASSERT_TRUE(w->Flush(true).ok());

  auto r = Reader("t");
  ASSERT_NE(r, nullptr);
  ASSERT_TRUE(r->Seek(1, 5).ok());
  ASSERT_TRUE(r->Seek(2, 1).ok());  // the end of partition 2
  std::vector<Rec> recs = ReadToEnd(r.get());
  ASSERT_EQ(recs.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(recs[i].partition, 1);
    EXPECT_EQ(recs[i].offset, 5 + i);
    EXPECT_EQ(recs[i].payload, "r" + std::to_string(5 + i));
  }
  EXPECT_EQ(r->Position(1), 8);

  ASSERT_TRUE(r->Seek(1, 0).ok());  // back to the start
  recs = ReadToEnd(r.get());
  ASSERT_EQ(recs.size(), 8u);
  EXPECT_EQ(recs.front().payload, "r0");
  EXPECT_EQ(recs.back().payload, "r7");

  Status below = r->Seek(1, -1);
  EXPECT_TRUE(below.IsInvalidArgument()) << below.ToString();
  EXPECT_NE(below.message().find("t:1"), std::string::npos) << below.message();
}

TEST_P(LogConformanceTest, ReaderAtTheEndSeesRecordsAppendedLater) {
  auto w = Writer("t");
  ASSERT_NE(w, nullptr);
  ASSERT_TRUE(w->Append("a", "1").ok());
  ASSERT_TRUE(w->Flush(true).ok());
  auto r = Reader("t");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(ReadToEnd(r.get()).size(), 1u);
  LogRecord rec;
  auto more = r->Next(&rec);
  ASSERT_TRUE(more.ok());
  EXPECT_FALSE(*more);

  for (int i = 0; i < 5; ++i) ASSERT_TRUE(w->Append("k" + std::to_string(i), "later").ok());
  ASSERT_TRUE(w->Flush(true).ok());
  std::vector<Rec> later = ReadToEnd(r.get());  // no waiting: flushed before the call
  ASSERT_EQ(later.size(), 5u);
  for (const Rec& x : later) EXPECT_EQ(x.payload, "later");
}

TEST_P(LogConformanceTest, OffsetsAndFlushedEnds) {
  ASSERT_TRUE(log_->CreateTopic("t", kPartitions).ok());
  EXPECT_EQ(*log_->StartOffsets("t"), std::vector<int64_t>(kPartitions, 0));
  EXPECT_EQ(*log_->EndOffsets("t"), std::vector<int64_t>(kPartitions, 0));
  auto w = Writer("t");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->FlushedEnds(), std::vector<int64_t>(kPartitions, 0));
  std::vector<int64_t> expect(kPartitions, 0);
  for (int k = 0; k < 40; ++k) {
    std::string key = "key" + std::to_string(k);
    ASSERT_TRUE(w->Append(key, "v").ok());
    expect[PartitionForKey(key, kPartitions)]++;
  }
  ASSERT_TRUE(w->Flush(true).ok());
  EXPECT_EQ(w->FlushedEnds(), expect);
  EXPECT_EQ(*log_->EndOffsets("t"), expect);
  EXPECT_EQ(*log_->StartOffsets("t"), std::vector<int64_t>(kPartitions, 0));
  // A new writer (after the first is gone: one writer per topic) starts from the ends.
  w.reset();
  auto w2 = Writer("t");
  ASSERT_NE(w2, nullptr);
  EXPECT_EQ(w2->FlushedEnds(), expect);
}

TEST_P(LogConformanceTest, CommittedOffsetsPerGroup) {
  ASSERT_TRUE(log_->CreateTopic("t", kPartitions).ok());
  EXPECT_EQ(*log_->Committed("g", "t"), std::vector<int64_t>(kPartitions, 0));
  ASSERT_TRUE(log_->Commit("g", "t", {2, 0, 7}).ok());
  EXPECT_EQ(*log_->Committed("g", "t"), (std::vector<int64_t>{2, 0, 7}));
  ASSERT_TRUE(log_->Commit("g", "t", {3, 1, 7}).ok());
  EXPECT_EQ(*log_->Committed("g", "t"), (std::vector<int64_t>{3, 1, 7}));
  EXPECT_EQ(*log_->Committed("h", "t"), std::vector<int64_t>(kPartitions, 0));
  EXPECT_FALSE(log_->Commit("g", "t", {1}).ok());
  EXPECT_TRUE(log_->Committed("g", "missing").status().IsNotFound());
}

TEST_P(LogConformanceTest, MissingTopics) {
  EXPECT_TRUE(log_->Partitions("nope").status().IsNotFound());
  EXPECT_TRUE(log_->StartOffsets("nope").status().IsNotFound());
  EXPECT_TRUE(log_->EndOffsets("nope").status().IsNotFound());
  EXPECT_EQ(*log_->ListTopics(), std::vector<std::string>{});

  // A reader of a missing topic creates it with options().partitions: it reads empty.
  auto r = Reader("created.by.reader");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->partitions(), kPartitions);
  LogRecord rec;
  auto more = r->Next(&rec);
  ASSERT_TRUE(more.ok()) << more.status().ToString();
  EXPECT_FALSE(*more);
  EXPECT_EQ(*log_->Partitions("created.by.reader"), kPartitions);

  ASSERT_TRUE(log_->CreateTopic("b", 2).ok());
  EXPECT_TRUE(log_->CreateTopic("b", 2).ok());
  EXPECT_TRUE(log_->CreateTopic("b", 5).IsInvalidArgument());
  EXPECT_EQ(*log_->Partitions("b"), 2);
  auto w = Writer("a");  // a writer creates too
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->partitions(), kPartitions);
  EXPECT_EQ(*log_->ListTopics(), (std::vector<std::string>{"a", "b", "created.by.reader"}));
}

TEST_P(LogConformanceTest, OneMemberGroupGetsEveryPartitionAndCommits) {
  WriteKeys("orders", 10, 5);
  std::vector<GroupConsumer::Assignment> assigned;
  GroupConsumer::Listener listener;
  listener.on_assigned = [&](const std::vector<GroupConsumer::Assignment>& a, std::vector<int64_t>* start) {
    assigned.insert(assigned.end(), a.begin(), a.end());
    return Status::OK();
  };
  listener.on_revoked = [](const std::vector<GroupConsumer::Assignment>&) { return Status::OK(); };
  auto c = log_->Subscribe("scorers", {"orders"}, listener);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  GroupConsumer* consumer = c->get();

  std::map<int, int64_t> next;
  std::set<std::pair<int, int64_t>> seen;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  LogRecord rec;
  std::string topic;
  while (seen.size() < 50u && std::chrono::steady_clock::now() < deadline) {
    auto more = consumer->Next(&rec, &topic, 100);
    ASSERT_TRUE(more.ok()) << more.status().ToString();
    if (!*more) continue;
    EXPECT_EQ(topic, "orders");
    EXPECT_TRUE(seen.insert({rec.partition, rec.offset}).second);
    next[rec.partition] = rec.offset + 1;
  }
  EXPECT_EQ(seen.size(), 50u);
  std::set<int> parts;
  for (const auto& a : consumer->assignment()) parts.insert(a.partition);
  EXPECT_EQ(parts, (std::set<int>{0, 1, 2}));
  EXPECT_EQ(assigned.size(), 3u);

  std::vector<GroupConsumer::Assignment> to_commit;
  std::vector<int64_t> offsets;
  for (const auto& [p, n] : next) {
    to_commit.push_back({"orders", p});
    offsets.push_back(n);
  }
  ASSERT_TRUE(consumer->Commit(to_commit, offsets).ok());
  ASSERT_TRUE(consumer->Close().ok());
  EXPECT_EQ(*log_->Committed("scorers", "orders"), *log_->EndOffsets("orders"));
}

INSTANTIATE_TEST_SUITE_P(Implementations, LogConformanceTest, ::testing::Values("embedded", "kafka-mock"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param == "embedded" ? std::string("embedded")
                                                           : std::string("kafka_mock");
                         });

}  // namespace log_conformance_test
}  // namespace vigil
