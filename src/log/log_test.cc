// The embedded log (embedded_log.cc, segment.h): round trips over partitions and segment
// rolls, the on-disk layout, Seek through the index, rolls by time, fsync policies,
// retention, readers that follow a writer (thread and process), recovery of torn and
// corrupt tails and indexes, corruption in sealed segments, consumer offsets, consumer
// group failover, the writer lock, topics, and CRC-32C.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/test_util.h"
#include "common/time.h"
#include "log/embedded_log_internal.h"
#include "log/log.h"
#include "log/segment.h"

namespace vigil {
namespace log_test {

namespace fs = std::filesystem;
using log_internal::RecoveryReport;

struct Rec {
  int partition = 0;
  int64_t offset = 0;
  TimestampMs time = 0;
  std::string key;
  std::string payload;
};

std::string FileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void SetFileBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

class EmbeddedLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log_internal::TakeRecoveryReports();
    options_.dir = dir_.Path("log");
    options_.partitions = 1;
  }

  // (Re)opens the log with options_.
  Log* Open() {
    log_.reset();
    auto log = Log::Open(options_);
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    log_ = log.ok() ? std::move(log).value() : nullptr;
    return log_.get();
  }
  Log* log() { return log_ ? log_.get() : Open(); }

  std::unique_ptr<TopicWriter> Writer(const std::string& topic) {
    auto w = log()->OpenWriter(topic);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    return w.ok() ? std::move(w).value() : nullptr;
  }
  std::unique_ptr<TopicReader> Reader(const std::string& topic) {
    auto r = log()->OpenReader(topic);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  }

  // Reads to the current end; the status that stopped it goes to *end.
  static std::vector<Rec> ReadAll(TopicReader* r, Status* end = nullptr) {
    std::vector<Rec> out;
    LogRecord rec;
    for (;;) {
      auto more = r->Next(&rec);
      if (!more.ok()) {
        if (end) *end = more.status();
        break;
      }
      if (!*more) {
        if (end) *end = Status::OK();
        break;
      }
      out.push_back(
          {rec.partition, rec.offset, rec.append_time, std::string(rec.key), std::string(rec.payload)});
    }
    return out;
  }

  // The records of partition p, in the order read.
  static std::vector<Rec> OfPartition(const std::vector<Rec>& recs, int p) {
    std::vector<Rec> out;
    for (const Rec& r : recs) {
      if (r.partition == p) out.push_back(r);
    }
    return out;
  }

  std::string PartitionDir(const std::string& topic, int p) const {
    return options_.dir + "/" + topic + "/" + std::to_string(p);
  }
  std::string SegPath(const std::string& topic, int p, int64_t base, const std::string& ext) const {
    return PartitionDir(topic, p) + "/" + log_internal::SegmentFileName(base, ext);
  }
  std::vector<int64_t> Segments(const std::string& topic, int p) const {
    auto s = log_internal::ListSegments(PartitionDir(topic, p));
    EXPECT_TRUE(s.ok());
    return s.ok() ? *s : std::vector<int64_t>{};
  }

  static std::string Payload(int i) { return "payload " + std::to_string(i) + std::string(i % 7, '.'); }
  static std::string Key(int i) { return "k" + std::to_string(i); }

  // Writes records 0..n-1 (Key(i), Payload(i), time base_time + i) to partition 0.
  void WriteNumbered(const std::string& topic, int n, TimestampMs base_time = 1000) {
    auto w = Writer(topic);
    ASSERT_NE(w, nullptr);
    for (int i = 0; i < n; ++i) ASSERT_TRUE(w->AppendTo(0, Key(i), Payload(i), base_time + i).ok());
    ASSERT_TRUE(w->Flush(true).ok());
  }
  // Checks that `recs` are records first..first+recs.size()-1 of WriteNumbered.
  static void ExpectNumbered(const std::vector<Rec>& recs, int first = 0) {
    for (size_t j = 0; j < recs.size(); ++j) {
      const int i = first + static_cast<int>(j);
      ASSERT_EQ(recs[j].offset, i);
      ASSERT_EQ(recs[j].key, Key(i));
      ASSERT_EQ(recs[j].payload, Payload(i));
    }
  }

  std::vector<int64_t> Ends(const std::string& topic) {
    auto e = log()->EndOffsets(topic);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? *e : std::vector<int64_t>{};
  }
  std::vector<int64_t> Starts(const std::string& topic) {
    auto e = log()->StartOffsets(topic);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? *e : std::vector<int64_t>{};
  }

  test::ScratchDir dir_{"vigil_log"};
  LogOptions options_;
  std::unique_ptr<Log> log_;
};

// --- round trips -----------------------------------------------------------------------

TEST_F(EmbeddedLogTest, RoundTripOverPartitionsAndSegmentRolls) {
  options_.partitions = 3;
  options_.segment_bytes = 300;
  std::mt19937 rng(7);
  std::vector<std::vector<Rec>> want(3);
  TimestampMs before = WallClockMs();
  {
    auto w = Writer("t");
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(w->partitions(), 3);
    for (int i = 0; i < 300; ++i) {
      int p = i % 3;
      std::string key = i % 5 == 0 ? "" : Key(i);
      std::string payload(rng() % 60, static_cast<char>('a' + i % 26));
      TimestampMs t = i % 2 == 0 ? -1 : 5000 + i;  // -1: the wall clock
      ASSERT_TRUE(w->AppendTo(p, key, payload, t).ok());
      want[p].push_back({p, static_cast<int64_t>(want[p].size()), t, key, payload});
    }
    ASSERT_TRUE(w->Flush(false).ok());
  }
  TimestampMs after = WallClockMs();
  for (int p = 0; p < 3; ++p) EXPECT_GE(Segments("t", p).size(), 5u) << "partition " << p;
  auto r = Reader("t");
  Status end;
  auto got = ReadAll(r.get(), &end);
  ASSERT_TRUE(end.ok()) << end.ToString();
  ASSERT_EQ(got.size(), 300u);
  for (int p = 0; p < 3; ++p) {
    auto part = OfPartition(got, p);
    ASSERT_EQ(part.size(), want[p].size());
    for (size_t i = 0; i < part.size(); ++i) {
      EXPECT_EQ(part[i].offset, static_cast<int64_t>(i));
      EXPECT_EQ(part[i].key, want[p][i].key);
      EXPECT_EQ(part[i].payload, want[p][i].payload);
      if (want[p][i].time < 0) {
        EXPECT_GE(part[i].time, before);
        EXPECT_LE(part[i].time, after);
      } else {
        EXPECT_EQ(part[i].time, want[p][i].time);
      }
    }
    EXPECT_EQ(r->Position(p), 100);
  }
  // Partitions take turns: the first records read come from every partition.
  EXPECT_EQ(got[0].partition + got[1].partition + got[2].partition, 0 + 1 + 2);
  EXPECT_EQ(Ends("t"), (std::vector<int64_t>{100, 100, 100}));
  EXPECT_EQ(Starts("t"), (std::vector<int64_t>{0, 0, 0}));
  // A writer opened again continues the offsets, in the last segment.
  auto w = Writer("t");
  EXPECT_EQ(w->FlushedEnds(), (std::vector<int64_t>{100, 100, 100}));
  ASSERT_TRUE(w->AppendTo(1, "k", "v").ok());
  ASSERT_TRUE(w->Flush(false).ok());
  EXPECT_EQ(w->FlushedEnds(), (std::vector<int64_t>{100, 101, 100}));
  LogRecord rec;
  auto more = r->Next(&rec);
  ASSERT_TRUE(more.ok() && *more);
  EXPECT_EQ(rec.partition, 1);
  EXPECT_EQ(rec.offset, 100);
  EXPECT_EQ(rec.payload, "v");
  EXPECT_TRUE(log_internal::TakeRecoveryReports().empty());  // a clean reopen repairs nothing
}

TEST_F(EmbeddedLogTest, KeyedRecordsKeepTheirPartitionAndOrder) {
  options_.partitions = 4;
  options_.segment_bytes = 1024;
  {
    auto w = Writer("events");
    for (int round = 0; round < 30; ++round) {
      for (int u = 0; u < 40; ++u) {
        ASSERT_TRUE(w->Append("user_" + std::to_string(u), std::to_string(round)).ok());
      }
    }
    // Appended but not flushed: FlushedEnds still says the ends at open.
    EXPECT_EQ(w->FlushedEnds(), (std::vector<int64_t>{0, 0, 0, 0}));
    ASSERT_TRUE(w->Flush(false).ok());
  }
  auto r = Reader("events");
  auto got = ReadAll(r.get());
  ASSERT_EQ(got.size(), 1200u);
  std::map<std::string, int> next_round;
  std::vector<int> per_partition(4, 0);
  for (const Rec& rec : got) {
    EXPECT_EQ(rec.partition, PartitionForKey(rec.key, 4)) << rec.key;
    EXPECT_EQ(rec.payload, std::to_string(next_round[rec.key]++)) << rec.key;
    per_partition[rec.partition]++;
  }
  for (int p = 0; p < 4; ++p) EXPECT_GT(per_partition[p], 0) << "keys spread over partitions";
  EXPECT_EQ(PartitionForKey("", 4), 0);
}

TEST_F(EmbeddedLogTest, OnDiskLayoutAndRecordFormat) {
  options_.partitions = 2;
  {
    auto w = Writer("changelog.user_txn");
    ASSERT_TRUE(w->AppendTo(1, "key", "pay", 0x0102030405060708).ok());
    ASSERT_TRUE(w->Flush(false).ok());
  }
  const std::string topic = options_.dir + "/changelog.user_txn";
  EXPECT_EQ(FileBytes(topic + "/partitions"), "2\n");
  EXPECT_TRUE(fs::is_regular_file(topic + "/0/00000000000000000000.log"));
  EXPECT_TRUE(fs::is_regular_file(topic + "/0/00000000000000000000.index"));
  std::string b = FileBytes(topic + "/1/00000000000000000000.log");
  // [u32 crc32c of body][u32 body length][body: varint key length, key, i64 time ms, payload]
  ASSERT_EQ(b.size(), 8u + 1 + 3 + 8 + 3);
  auto u32 = [&](size_t at) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[at + i]);
    return v;
  };
  std::string body = b.substr(8);
  EXPECT_EQ(u32(4), body.size());
  EXPECT_EQ(u32(0), Crc32c(body));
  EXPECT_EQ(body[0], 3);
  EXPECT_EQ(body.substr(1, 3), "key");
  EXPECT_EQ(body.substr(4, 8), std::string("\x08\x07\x06\x05\x04\x03\x02\x01", 8));
  EXPECT_EQ(body.substr(12), "pay");
}

TEST_F(EmbeddedLogTest, UnwrittenTopicReadsEmptyAndSeesTheFirstRecords) {
  options_.partitions = 2;
  auto r = Reader("nobody");  // creates the topic
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->partitions(), 2);
  EXPECT_TRUE(ReadAll(r.get()).empty());
  EXPECT_TRUE(r->Seek(1, 0).ok());
  EXPECT_TRUE(r->Seek(1, 1).IsInvalidArgument());
  EXPECT_EQ(Ends("nobody"), (std::vector<int64_t>{0, 0}));
  auto w = Writer("nobody");
  ASSERT_TRUE(w->AppendTo(1, "a", "first").ok());
  ASSERT_TRUE(w->Flush(false).ok());
  auto got = ReadAll(r.get());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].partition, 1);
  EXPECT_EQ(got[0].payload, "first");
}

TEST_F(EmbeddedLogTest, LargeRecordsAndBinaryKeys) {
  std::string big(5 << 20, '\0');
  std::mt19937 rng(1);
  for (char& c : big) c = static_cast<char>(rng());
  std::string binary_key("\x00\x1f\xff key", 7);
  auto w = Writer("t");
  auto r = Reader("t");
  EXPECT_TRUE(ReadAll(r.get()).empty());
  ASSERT_TRUE(w->AppendTo(0, binary_key, "small").ok());
  ASSERT_TRUE(w->AppendTo(0, std::string(300, 'K'), big).ok());  // 2-byte key length varint
  ASSERT_TRUE(w->AppendTo(0, "", "").ok());
  ASSERT_TRUE(w->Flush(false).ok());
  auto got = ReadAll(r.get());
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].key, binary_key);
  EXPECT_EQ(got[1].key, std::string(300, 'K'));
  EXPECT_TRUE(got[1].payload == big);
  EXPECT_EQ(got[2].key, "");
  EXPECT_EQ(got[2].payload, "");
  EXPECT_TRUE(w->AppendTo(0, "", std::string(log_internal::kMaxRecordBody, 'x')).IsInvalidArgument());
  EXPECT_TRUE(w->AppendTo(1, "", "x").IsInvalidArgument());  // one partition only
}

// A record only partly on disk (a writer mid-write) reads as the end for now, then whole.
TEST_F(EmbeddedLogTest, PartlyWrittenRecordBecomesVisibleWhenComplete) {
  WriteNumbered("t", 3);
  const std::string seg = SegPath("t", 0, 0, ".log");
  std::string full = FileBytes(seg);
  size_t two = log_internal::RecordBytes(Key(0), Payload(0)) + log_internal::RecordBytes(Key(1), Payload(1));
  ASSERT_EQ(full.size(), two + log_internal::RecordBytes(Key(2), Payload(2)));
  for (size_t cut : {two + 3, two + 8, two + 12, full.size() - 1}) {
    SCOPED_TRACE(cut);
    SetFileBytes(seg, full.substr(0, cut));
    auto r = Reader("t");
    Status end;
    auto got = ReadAll(r.get(), &end);
    EXPECT_TRUE(end.ok()) << end.ToString();  // the end of the topic, not an error
    EXPECT_EQ(got.size(), 2u);
    {
      std::ofstream out(seg, std::ios::binary | std::ios::app);
      out << full.substr(cut);
    }
    got = ReadAll(r.get(), &end);
    ASSERT_EQ(got.size(), 1u) << end.ToString();
    ExpectNumbered(got, 2);
  }
}

// --- Seek and the index ----------------------------------------------------------------

TEST_F(EmbeddedLogTest, SeekToEveryOffsetAcrossSegmentsThroughTheIndex) {
  options_.segment_bytes = 700;
  options_.index_interval_bytes = 64;
  const int n = 400;
  WriteNumbered("t", n);
  auto segments = Segments("t", 0);
  ASSERT_GE(segments.size(), 10u);
  // Every index entry points at the start of the record it names.
  size_t entries = 0;
  for (size_t s = 0; s < segments.size(); ++s) {
    std::string log = FileBytes(SegPath("t", 0, segments[s], ".log"));
    auto idx = log_internal::ParseIndex(FileBytes(SegPath("t", 0, segments[s], ".index")), log.size());
    ASSERT_TRUE(idx.well_formed) << s;
    EXPECT_EQ(idx.seal.has_value(), s + 1 < segments.size()) << "all but the last segment are sealed";
    if (idx.seal) {
      EXPECT_EQ(segments[s] + idx.seal->records, segments[s + 1]);
    }
    for (const auto& e : idx.entries) {
      log_internal::RecordView v;
      size_t need;
      const char* why;
      ASSERT_EQ(log_internal::DecodeRecord(log.data() + e.position, log.size() - e.position, &v, &need, &why),
                log_internal::DecodeResult::kRecord);
      EXPECT_EQ(v.key, Key(static_cast<int>(segments[s] + e.record)));
      ++entries;
    }
  }
  EXPECT_GT(entries, 100u);
  auto r = Reader("t");
  LogRecord rec;
  for (int off = 0; off <= n; ++off) {
    SCOPED_TRACE(off);
    ASSERT_TRUE(r->Seek(0, off).ok());
    EXPECT_EQ(r->Position(0), off);
    auto more = r->Next(&rec);
    ASSERT_TRUE(more.ok()) << more.status().ToString();
    if (off == n) {
      EXPECT_FALSE(*more);
      continue;
    }
    ASSERT_TRUE(*more);
    EXPECT_EQ(rec.offset, off);
    EXPECT_EQ(rec.key, Key(off));
    EXPECT_EQ(rec.payload, Payload(off));
  }
  // Backwards, then past the end: InvalidArgument, and the position stays where it was.
  ASSERT_TRUE(r->Seek(0, 137).ok());
  Status st = r->Seek(0, n + 1);
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_NE(st.message().find("t:0"), std::string::npos) << st.message();
  EXPECT_EQ(r->Position(0), 137);
  auto rest = ReadAll(r.get());
  ASSERT_EQ(rest.size(), static_cast<size_t>(n - 137));
  ExpectNumbered(rest, 137);
  EXPECT_TRUE(r->Seek(0, -1).IsInvalidArgument());
  EXPECT_TRUE(r->Seek(1, 0).IsInvalidArgument());
}

TEST_F(EmbeddedLogTest, RollsBySegmentAge) {
  options_.segment_ms = 1000;
  {
    auto w = Writer("t");
    for (TimestampMs t : {10'000, 10'400, 10'999, 11'000, 11'500, 13'000})
      ASSERT_TRUE(w->AppendTo(0, "", "x", t).ok());
    ASSERT_TRUE(w->Flush(false).ok());
  }
  // 11'000 is 1 s after the first record of segment 0; 13'000 after 11'000.
  EXPECT_EQ(Segments("t", 0), (std::vector<int64_t>{0, 3, 5}));
  auto idx = log_internal::ParseIndex(FileBytes(SegPath("t", 0, 0, ".index")), 1 << 20);
  ASSERT_TRUE(idx.seal.has_value());
  EXPECT_EQ(idx.seal->records, 3u);
  EXPECT_EQ(idx.seal->max_time, 10'999);
  // After a reopen the age still counts from the last segment's first record (13'000).
  auto w = Writer("t");
  ASSERT_TRUE(w->AppendTo(0, "", "x", 13'999).ok());
  ASSERT_TRUE(w->AppendTo(0, "", "x", 14'000).ok());
  ASSERT_TRUE(w->Flush(false).ok());
  EXPECT_EQ(Segments("t", 0), (std::vector<int64_t>{0, 3, 5, 7}));
}

// --- fsync policies --------------------------------------------------------------------

TEST_F(EmbeddedLogTest, FsyncPolicies) {
  struct Case {
    FsyncPolicy policy;
    DurationMs interval;
    int64_t syncs_for_five_flushes;
  };
  for (Case c : {Case{FsyncPolicy::kEveryRecord, 1000, 5}, Case{FsyncPolicy::kInterval, 3'600'000, 0},
                 Case{FsyncPolicy::kInterval, 0, 5}, Case{FsyncPolicy::kNever, 0, 0}}) {
    SCOPED_TRACE(static_cast<int>(c.policy));
    SCOPED_TRACE(c.interval);
    options_.fsync = c.policy;
    options_.fsync_interval = c.interval;
    Open();
    const std::string topic =
        "t" + std::to_string(static_cast<int>(c.policy)) + "_" + std::to_string(c.interval);
    auto w = Writer(topic);
    int64_t before = log_internal::SegmentSyncCount();
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(w->AppendTo(0, "", "x").ok());
      ASSERT_TRUE(w->Flush(false).ok());
    }
    EXPECT_EQ(log_internal::SegmentSyncCount() - before, c.syncs_for_five_flushes);
    // Nothing new written: nothing to sync, whatever the policy.
    before = log_internal::SegmentSyncCount();
    ASSERT_TRUE(w->Flush(false).ok());
    EXPECT_EQ(log_internal::SegmentSyncCount() - before, 0);
    // Flush(true) always syncs what was written.
    ASSERT_TRUE(w->AppendTo(0, "", "x").ok());
    before = log_internal::SegmentSyncCount();
    ASSERT_TRUE(w->Flush(true).ok());
    EXPECT_EQ(log_internal::SegmentSyncCount() - before, 1);
  }
}

TEST_F(EmbeddedLogTest, FsyncIntervalElapses) {
  options_.fsync = FsyncPolicy::kInterval;
  options_.fsync_interval = 300;
  auto w = Writer("t");
  int64_t before = log_internal::SegmentSyncCount();
  ASSERT_TRUE(w->AppendTo(0, "", "x").ok());
  ASSERT_TRUE(w->Flush(false).ok());
  EXPECT_EQ(log_internal::SegmentSyncCount() - before, 0);  // opened less than 300 ms ago
  std::this_thread::sleep_for(std::chrono::milliseconds(320));
  ASSERT_TRUE(w->AppendTo(0, "", "x").ok());
  ASSERT_TRUE(w->Flush(false).ok());
  EXPECT_EQ(log_internal::SegmentSyncCount() - before, 1);
}

// With `always`, segments sealed between two flushes are synced too.
TEST_F(EmbeddedLogTest, FsyncAlwaysSyncsSegmentsRolledSinceTheLastFlush) {
  options_.fsync = FsyncPolicy::kEveryRecord;
  options_.segment_bytes = 100;
  auto w = Writer("t");
  int64_t before = log_internal::SegmentSyncCount();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(w->AppendTo(0, "", std::string(80, 'x')).ok());  // 3 segments
  ASSERT_TRUE(w->Flush(false).ok());
  EXPECT_EQ(Segments("t", 0).size(), 3u);
  EXPECT_EQ(log_internal::SegmentSyncCount() - before, 3);
}

// --- retention -------------------------------------------------------------------------

TEST_F(EmbeddedLogTest, RetentionByTimeDeletesWholeOldSegmentsButNeverTheActiveOne) {
  options_.partitions = 2;
  options_.segment_ms = 1000;  // one segment per second of record time
  options_.retention_ms = 10'000;
  {
    auto w = Writer("t");
    for (int i = 0; i < 50; ++i) {  // times 0, 200, ..., 9800: 10 segments of 5 records
      ASSERT_TRUE(w->AppendTo(0, "", std::to_string(i), 100'000 + i * 200).ok());
    }
    ASSERT_TRUE(w->AppendTo(1, "", "only", 100'000).ok());
    ASSERT_TRUE(w->Flush(false).ok());
  }
  ASSERT_EQ(Segments("t", 0).size(), 10u);
  // At 113'500 the cutoff is 103'500: segments whose newest record is before it go,
  // i.e. the first three (newest 100'800, 101'800, 102'800).
  auto rep = log()->EnforceRetention(113'500);
  ASSERT_TRUE(rep.ok()) << rep.status().ToString();
  EXPECT_EQ(rep->segments_deleted, 3);
  EXPECT_GT(rep->bytes_deleted, 0);
  EXPECT_EQ(Starts("t"), (std::vector<int64_t>{15, 0}));  // partition 1 has only its active segment
  EXPECT_EQ(Ends("t"), (std::vector<int64_t>{50, 1}));
  auto r = Reader("t");
  auto got = OfPartition(ReadAll(r.get()), 0);
  ASSERT_EQ(got.size(), 35u);
  EXPECT_EQ(got.front().offset, 15);
  EXPECT_EQ(got.front().payload, "15");
  Status st = r->Seek(0, 14);
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_NE(st.message().find("t:0"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("15"), std::string::npos) << st.message();
  EXPECT_TRUE(r->Seek(0, 15).ok());
  // Far in the future every segment but the active one goes.
  rep = log()->EnforceRetention(1'000'000'000);
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->segments_deleted, 6);
  EXPECT_EQ(Starts("t"), (std::vector<int64_t>{45, 0}));
  EXPECT_EQ(Segments("t", 0).size(), 1u);
  EXPECT_FALSE(fs::exists(SegPath("t", 0, 0, ".index")));  // indexes go with their segments
}

TEST_F(EmbeddedLogTest, RetentionBySizeDeletesOldestFirst) {
  options_.segment_bytes = 1000;
  options_.retention_bytes = 2500;
  {
    auto w = Writer("t");
    for (int i = 0; i < 50; ++i)
      ASSERT_TRUE(w->AppendTo(0, "", std::string(83, 'x')).ok());  // 8 + 1 + 8 + 83 = 100 B each
    ASSERT_TRUE(w->Flush(false).ok());
  }
  ASSERT_EQ(Segments("t", 0), (std::vector<int64_t>{0, 10, 20, 30, 40}));
  auto rep = log()->EnforceRetention(0);  // retention_ms (7 days) removes nothing at time 0
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->segments_deleted, 3);
  EXPECT_EQ(rep->bytes_deleted, 3000);
  EXPECT_EQ(Segments("t", 0), (std::vector<int64_t>{30, 40}));
  EXPECT_EQ(Starts("t")[0], 30);
  rep = log()->EnforceRetention(0);
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->segments_deleted, 0);
}

TEST_F(EmbeddedLogTest, RetentionGuardGroupKeepsWhatItHasNotRead) {
  options_.segment_bytes = 1000;
  options_.retention_bytes = 0;
  options_.retention_guard_group = "archiver";
  {
    auto w = Writer("t");
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(w->AppendTo(0, "", std::string(83, 'x')).ok());
    ASSERT_TRUE(w->Flush(false).ok());
    auto w2 = Writer("other");
    for (int i = 0; i < 30; ++i) ASSERT_TRUE(w2->AppendTo(0, "", std::string(83, 'x')).ok());
    ASSERT_TRUE(w2->Flush(false).ok());
  }
  // The archiver read t up to 25: segment [20, 30) holds 25 and stays.
  ASSERT_TRUE(log()->Commit("archiver", "t", {25}).ok());
  auto rep = log()->EnforceRetention(0);
  ASSERT_TRUE(rep.ok());
  // t: [0,10) and [10,20) go; "other" (never committed by the archiver): all but the active.
  EXPECT_EQ(rep->segments_deleted, 2 + 2);
  EXPECT_EQ(Starts("t")[0], 20);
  EXPECT_EQ(Starts("other")[0], 20);
  ASSERT_TRUE(log()->Commit("archiver", "t", {30}).ok());
  rep = log()->EnforceRetention(0);
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->segments_deleted, 1);
  EXPECT_EQ(Starts("t")[0], 30);
}

// A sealed segment whose index is gone: its largest time is read from its records.
TEST_F(EmbeddedLogTest, RetentionByTimeWithoutIndexReadsTheSegment) {
  options_.segment_ms = 1000;
  options_.retention_ms = 1000;
  {
    auto w = Writer("t");
    for (TimestampMs t : {0, 500, 1000, 1500, 2000}) ASSERT_TRUE(w->AppendTo(0, "", "x", t).ok());
    ASSERT_TRUE(w->Flush(false).ok());
  }
  ASSERT_EQ(Segments("t", 0), (std::vector<int64_t>{0, 2, 4}));
  fs::remove(SegPath("t", 0, 0, ".index"));
  fs::remove(SegPath("t", 0, 2, ".index"));
  auto rep = log()->EnforceRetention(2000);  // cutoff 1000: [0, 2) (newest 500) goes
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->segments_deleted, 1);
  EXPECT_EQ(Segments("t", 0), (std::vector<int64_t>{2, 4}));
}

// --- readers and a concurrent writer ---------------------------------------------------

TEST_F(EmbeddedLogTest, ReaderFollowsNewSegmentsWhileAWriterThreadAppends) {
  options_.partitions = 2;
  options_.segment_bytes = 2048;
  const int n = 6000;
  auto w = Writer("t");
  auto r = Reader("t");
  std::atomic<bool> failed{false};
  std::thread writer([&] {
    for (int i = 0; i < n; ++i) {
      if (!w->AppendTo(i % 2, Key(i), Payload(i)).ok()) failed = true;
      if (i % 37 == 0 && !w->Flush(false).ok()) failed = true;
    }
    if (!w->Flush(false).ok()) failed = true;
  });
  std::vector<int> next(2, 0);
  int got = 0;
  LogRecord rec;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (got < n && std::chrono::steady_clock::now() < deadline) {
    auto more = r->Next(&rec);
    ASSERT_TRUE(more.ok()) << more.status().ToString();
    if (!*more) {
      std::this_thread::yield();
      continue;
    }
    const int i = 2 * next[rec.partition] + rec.partition;
    ASSERT_EQ(rec.offset, next[rec.partition]);
    ASSERT_EQ(rec.key, Key(i));
    ASSERT_EQ(rec.payload, Payload(i));
    next[rec.partition]++;
    ++got;
  }
  writer.join();
  EXPECT_FALSE(failed);
  EXPECT_EQ(got, n);
  EXPECT_GT(Segments("t", 0).size(), 20u);
}

TEST_F(EmbeddedLogTest, ReaderSurvivesRetentionOfSegmentsItHasPassed) {
  options_.segment_bytes = 500;
  options_.retention_bytes = 0;
  auto w = Writer("t");
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(w->AppendTo(0, Key(i), Payload(i)).ok());
  ASSERT_TRUE(w->Flush(false).ok());
  auto r = Reader("t");
  auto got = ReadAll(r.get());
  ASSERT_EQ(got.size(), 100u);
  auto rep = log()->EnforceRetention(0);
  ASSERT_TRUE(rep.ok());
  EXPECT_GT(rep->segments_deleted, 3);
  for (int i = 100; i < 200; ++i) ASSERT_TRUE(w->AppendTo(0, Key(i), Payload(i)).ok());
  ASSERT_TRUE(w->Flush(false).ok());
  got = ReadAll(r.get());
  ASSERT_EQ(got.size(), 100u);
  ExpectNumbered(got, 100);
}

// A reader that falls behind retention is told so, and can Seek to the new start.
TEST_F(EmbeddedLogTest, ReaderBehindRetentionGetsInvalidArgument) {
  options_.segment_bytes = 500;
  options_.retention_bytes = 0;
  WriteNumbered("t", 100);
  auto r = Reader("t");
  LogRecord rec;
  ASSERT_TRUE(*r->Next(&rec));
  ASSERT_TRUE(log()->EnforceRetention(0).ok());
  const int64_t start = Starts("t")[0];
  ASSERT_GT(start, 20);
  Status end;
  auto got = ReadAll(r.get(), &end);  // the open segment still reads to its end
  EXPECT_TRUE(end.IsInvalidArgument()) << end.ToString();
  EXPECT_NE(end.message().find("retention"), std::string::npos) << end.message();
  ASSERT_TRUE(r->Seek(0, start).ok());
  got = ReadAll(r.get(), &end);
  EXPECT_TRUE(end.ok());
  ASSERT_EQ(got.size(), static_cast<size_t>(100 - start));
  ExpectNumbered(got, static_cast<int>(start));
}

TEST_F(EmbeddedLogTest, ReaderFollowsAWriterInAnotherProcess) {
  options_.segment_bytes = 4096;
  const int n = 5000;
  auto r = Reader("t");  // creates the topic before the fork
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto log = Log::Open(options_);
    if (!log.ok()) ::_exit(2);
    auto w = (*log)->OpenWriter("t");
    if (!w.ok()) ::_exit(3);
    for (int i = 0; i < n; ++i) {
      if (!(*w)->AppendTo(0, Key(i), Payload(i)).ok()) ::_exit(4);
      if (i % 50 == 0 && !(*w)->Flush(false).ok()) ::_exit(5);
    }
    ::_exit((*w)->Flush(false).ok() ? 0 : 6);
  }
  int got = 0;
  LogRecord rec;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (got < n && std::chrono::steady_clock::now() < deadline) {
    auto more = r->Next(&rec);
    ASSERT_TRUE(more.ok()) << more.status().ToString();
    if (!*more) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      continue;
    }
    ASSERT_EQ(rec.offset, got);
    ASSERT_EQ(rec.key, Key(got));
    ASSERT_EQ(rec.payload, Payload(got));
    ++got;
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(got, n);
}

// --- recovery of the active segment ----------------------------------------------------

class RecoveryTest : public EmbeddedLogTest {
 protected:
  static constexpr int kRecords = 20;

  void SetUp() override {
    EmbeddedLogTest::SetUp();
    options_.segment_bytes = 256;
    options_.index_interval_bytes = 40;
    WriteNumbered("t", kRecords);
    segments_ = Segments("t", 0);
    ASSERT_GE(segments_.size(), 3u);
    last_ = SegPath("t", 0, segments_.back(), ".log");
    last_index_ = SegPath("t", 0, segments_.back(), ".index");
    log_bytes_ = FileBytes(last_);
    index_bytes_ = FileBytes(last_index_);
    ASSERT_FALSE(index_bytes_.empty());  // the last segment has index entries to break
    last_record_at_ = log_bytes_.size() - log_internal::RecordBytes(Key(kRecords - 1), Payload(kRecords - 1));
  }

  void Restore() {
    SetFileBytes(last_, log_bytes_);
    SetFileBytes(last_index_, index_bytes_);
  }

  // Reads the topic as it is (before any writer repairs it): the intact records, then
  // the end or a Corruption naming the damaged record.
  void ExpectReaderStopsAtDamage(int intact) {
    auto r = Reader("t");
    Status end;
    auto got = ReadAll(r.get(), &end);
    ASSERT_EQ(got.size(), static_cast<size_t>(intact)) << end.ToString();
    ExpectNumbered(got);
    if (!end.ok()) {
      EXPECT_TRUE(end.IsCorruption()) << end.ToString();
      EXPECT_NE(end.message().find("t:0:" + std::to_string(intact)), std::string::npos) << end.message();
      EXPECT_NE(end.message().find("at byte " + std::to_string(last_record_at_)), std::string::npos)
          << end.message();
    }
  }

  // Opens a writer, which must cut the last segment back to `keep` bytes with one report,
  // then checks every remaining record reads and a new record gets the next offset.
  void ExpectRecoveredTo(int records, size_t keep, size_t file_size) {
    log_internal::TakeRecoveryReports();
    {
      auto w = Writer("t");
      ASSERT_NE(w, nullptr);
      EXPECT_EQ(w->FlushedEnds()[0], records);
    }
    auto reports = log_internal::TakeRecoveryReports();
    int truncations = 0;
    for (const RecoveryReport& rep : reports) {
      if (rep.bytes_removed == 0) continue;
      ++truncations;
      EXPECT_EQ(rep.topic, "t");
      EXPECT_EQ(rep.partition, 0);
      EXPECT_EQ(rep.segment, log_internal::SegmentFileName(segments_.back(), ".log"));
      EXPECT_EQ(rep.position, static_cast<int64_t>(keep));
      EXPECT_EQ(rep.bytes_removed, static_cast<int64_t>(file_size - keep));
      EXPECT_EQ(rep.offset, records);
      EXPECT_FALSE(rep.reason.empty());
    }
    EXPECT_EQ(truncations, file_size > keep ? 1 : 0);
    EXPECT_EQ(fs::file_size(last_), keep);
    EXPECT_EQ(Ends("t")[0], records);
    auto r = Reader("t");
    Status end;
    auto got = ReadAll(r.get(), &end);
    EXPECT_TRUE(end.ok()) << end.ToString();
    ASSERT_EQ(got.size(), static_cast<size_t>(records));
    ExpectNumbered(got);
  }

  std::vector<int64_t> segments_;
  std::string last_, last_index_, log_bytes_, index_bytes_;
  size_t last_record_at_ = 0;
};

TEST_F(RecoveryTest, TruncatedLastRecordAtEveryBytePosition) {
  for (size_t cut = last_record_at_ + 1; cut < log_bytes_.size(); ++cut) {
    SCOPED_TRACE(cut);
    Restore();
    SetFileBytes(last_, log_bytes_.substr(0, cut));
    ExpectReaderStopsAtDamage(kRecords - 1);
    ExpectRecoveredTo(kRecords - 1, last_record_at_, cut);
    if (HasFatalFailure()) return;
  }
  // The index now matches the records: reopening repairs nothing.
  auto w = Writer("t");
  w.reset();
  EXPECT_TRUE(log_internal::TakeRecoveryReports().empty());
  // And the topic goes on: a new record gets offset kRecords - 1.
  w = Writer("t");
  ASSERT_TRUE(w->AppendTo(0, Key(kRecords - 1), Payload(kRecords - 1), 1000 + kRecords - 1).ok());
  ASSERT_TRUE(w->Flush(true).ok());
  auto r = Reader("t");
  auto got = ReadAll(r.get());
  ASSERT_EQ(got.size(), static_cast<size_t>(kRecords));
  ExpectNumbered(got);
  EXPECT_EQ(FileBytes(last_), log_bytes_);
}

TEST_F(RecoveryTest, EveryFlippedBitOfTheLastRecord) {
  for (size_t at = last_record_at_; at < log_bytes_.size(); ++at) {
    for (int bit = 0; bit < 8; ++bit) {
      SCOPED_TRACE(std::to_string(at) + "/" + std::to_string(bit));
      Restore();
      std::string bad = log_bytes_;
      bad[at] = static_cast<char>(bad[at] ^ (1 << bit));
      SetFileBytes(last_, bad);
      ExpectReaderStopsAtDamage(kRecords - 1);
      ExpectRecoveredTo(kRecords - 1, last_record_at_, bad.size());
      if (HasFatalFailure()) return;
    }
  }
}

// A crash after the file grew but before its data reached the disk leaves zeros; a zero
// header (crc 0 = Crc32c(""), length 0) must not read as a record.
TEST_F(RecoveryTest, ZeroFilledTail) {
  SetFileBytes(last_, log_bytes_ + std::string(4096, '\0'));
  {
    auto r = Reader("t");
    Status end;
    auto got = ReadAll(r.get(), &end);
    ASSERT_EQ(got.size(), static_cast<size_t>(kRecords));
    EXPECT_TRUE(end.IsCorruption()) << end.ToString();
    EXPECT_NE(end.message().find("t:0:" + std::to_string(kRecords)), std::string::npos) << end.message();
  }
  last_record_at_ = log_bytes_.size();
  ExpectRecoveredTo(kRecords, log_bytes_.size(), log_bytes_.size() + 4096);
}

TEST_F(RecoveryTest, DamagedRecordInTheMiddleOfTheActiveSegmentCutsFromThere) {
  const size_t first_in_last = log_bytes_.size() -
                               log_internal::RecordBytes(Key(kRecords - 1), Payload(kRecords - 1)) -
                               log_internal::RecordBytes(Key(kRecords - 2), Payload(kRecords - 2));
  std::string bad = log_bytes_;
  bad[first_in_last + 10] ^= 0x01;
  SetFileBytes(last_, bad);
  ExpectRecoveredTo(kRecords - 2, first_in_last, bad.size());
}

TEST_F(RecoveryTest, DamagedIndexIsRebuilt) {
  auto expect_index_rebuilt = [&](const std::string& what) {
    SCOPED_TRACE(what);
    log_internal::TakeRecoveryReports();
    Writer("t").reset();
    auto reports = log_internal::TakeRecoveryReports();
    ASSERT_EQ(reports.size(), 1u);
    EXPECT_EQ(reports[0].segment, log_internal::SegmentFileName(segments_.back(), ".index"));
    EXPECT_EQ(reports[0].bytes_removed, 0);
    EXPECT_NE(reports[0].reason.find("index"), std::string::npos);
    EXPECT_EQ(FileBytes(last_index_), index_bytes_);     // the same entries as the writer's
    EXPECT_EQ(fs::file_size(last_), log_bytes_.size());  // no record lost
    auto r = Reader("t");
    LogRecord rec;
    for (int off = static_cast<int>(segments_.back()); off < kRecords; ++off) {
      ASSERT_TRUE(r->Seek(0, off).ok());
      ASSERT_TRUE(*r->Next(&rec));
      EXPECT_EQ(rec.key, Key(off));
    }
  };
  fs::remove(last_index_);
  expect_index_rebuilt("missing");
  SetFileBytes(last_index_, index_bytes_.substr(0, index_bytes_.size() - 8));
  expect_index_rebuilt("short");
  SetFileBytes(last_index_, index_bytes_.substr(0, index_bytes_.size() - 3));
  expect_index_rebuilt("torn entry");
  std::string shifted = index_bytes_;
  shifted[4] = static_cast<char>(shifted[4] + 1);  // the first entry's position, one byte on
  SetFileBytes(last_index_, shifted);
  expect_index_rebuilt("entry between records");
  std::string renumbered = index_bytes_;
  renumbered[0] = static_cast<char>(renumbered[0] + 1);  // the first entry's record number
  SetFileBytes(last_index_, renumbered);
  expect_index_rebuilt("wrong record number");
  std::string past_end = index_bytes_;
  log_internal::AppendIndexEntry(&past_end, {1000, static_cast<uint32_t>(log_bytes_.size() + 10)});
  SetFileBytes(last_index_, past_end);
  expect_index_rebuilt("entry past the end");
  std::mt19937 rng(3);
  std::string garbage(index_bytes_.size(), '\0');
  for (char& c : garbage) c = static_cast<char>(rng());
  SetFileBytes(last_index_, garbage);
  expect_index_rebuilt("garbage");
  std::string sealed = index_bytes_;
  log_internal::AppendIndexSeal(&sealed, {100, 5});
  SetFileBytes(last_index_, sealed);
  expect_index_rebuilt("sealed");
}

// A sealed segment's index is checked too (cheaply) and rebuilt with its seal.
TEST_F(RecoveryTest, DamagedIndexOfASealedSegmentIsRebuilt) {
  const std::string index = SegPath("t", 0, segments_[1], ".index");
  const std::string good = FileBytes(index);
  for (std::string bad : {std::string(), good.substr(0, good.size() - 20), good.substr(0, good.size() - 1)}) {
    SetFileBytes(index, bad);
    log_internal::TakeRecoveryReports();
    Writer("t").reset();
    auto reports = log_internal::TakeRecoveryReports();
    ASSERT_EQ(reports.size(), 1u);
    EXPECT_EQ(reports[0].segment, log_internal::SegmentFileName(segments_[1], ".index"));
    EXPECT_EQ(FileBytes(index), good);
  }
}

// A damaged record in a sealed segment is not cut (that would lose the records after
// it): readers report Corruption naming topic:partition:offset and the byte.
TEST_F(RecoveryTest, CorruptRecordInASealedSegmentIsCorruption) {
  const std::string seg = SegPath("t", 0, segments_[1], ".log");
  std::string bytes = FileBytes(seg);
  const size_t second =
      log_internal::RecordBytes(Key(static_cast<int>(segments_[1])), Payload(static_cast<int>(segments_[1])));
  bytes[second + 12] ^= 0x40;  // inside the body of the segment's second record
  SetFileBytes(seg, bytes);
  const int64_t bad_offset = segments_[1] + 1;
  const std::string where = "t:0:" + std::to_string(bad_offset);
  for (int round = 0; round < 2; ++round) {
    auto r = Reader("t");
    Status end;
    auto got = ReadAll(r.get(), &end);
    ASSERT_EQ(got.size(), static_cast<size_t>(bad_offset));
    ASSERT_TRUE(end.IsCorruption()) << end.ToString();
    EXPECT_NE(end.message().find(where), std::string::npos) << end.message();
    EXPECT_NE(end.message().find("at byte " + std::to_string(second)), std::string::npos) << end.message();
    EXPECT_NE(end.message().find("checksum"), std::string::npos) << end.message();
    // Reading on fails the same way, never skips ahead.
    LogRecord rec;
    auto again = r->Next(&rec);
    EXPECT_TRUE(again.status().IsCorruption());
    // Seeking to it works, reading it fails; seeking past its segment works.
    ASSERT_TRUE(r->Seek(0, bad_offset).ok());
    EXPECT_TRUE(r->Next(&rec).status().IsCorruption());
    // Seek goes through the index: to the record of an index entry after the damaged
    // one without reading the damaged one (a scan from the segment start would fail).
    auto idx = log_internal::ParseIndex(FileBytes(SegPath("t", 0, segments_[1], ".index")), bytes.size());
    ASSERT_TRUE(idx.well_formed);
    ASSERT_FALSE(idx.entries.empty());
    ASSERT_GT(idx.entries[0].record, 1u);
    const int64_t indexed = segments_[1] + idx.entries[0].record;
    ASSERT_TRUE(r->Seek(0, indexed).ok());
    got = ReadAll(r.get(), &end);
    EXPECT_TRUE(end.ok()) << end.ToString();
    ASSERT_EQ(got.size(), static_cast<size_t>(kRecords - indexed));
    ExpectNumbered(got, static_cast<int>(indexed));
    ASSERT_TRUE(r->Seek(0, segments_[2]).ok());
    got = ReadAll(r.get(), &end);
    EXPECT_TRUE(end.ok()) << end.ToString();
    ExpectNumbered(got, static_cast<int>(segments_[2]));
    // The writer leaves the sealed segment alone.
    log_internal::TakeRecoveryReports();
    Writer("t").reset();
    for (const auto& rep : log_internal::TakeRecoveryReports()) EXPECT_EQ(rep.bytes_removed, 0);
    EXPECT_EQ(FileBytes(seg), bytes);
  }
}

TEST_F(RecoveryTest, GarbageNeverCrashesReaderOrWriter) {
  std::mt19937 rng(5);
  for (int i = 0; i < 150; ++i) {
    Restore();
    std::string bad = log_bytes_;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) bad[rng() % bad.size()] = static_cast<char>(rng());
    if (rng() % 3 == 0) bad.resize(rng() % bad.size());
    if (rng() % 4 == 0) bad += std::string(rng() % 64, static_cast<char>(rng()));
    SetFileBytes(last_, bad);
    if (rng() % 2 == 0) {
      std::string idx = index_bytes_;
      for (char& c : idx) {
        if (rng() % 4 == 0) c = static_cast<char>(rng());
      }
      SetFileBytes(last_index_, idx);
    }
    for (int pass = 0; pass < 2; ++pass) {  // before and after the writer's repair
      auto r = Reader("t");
      Status end;
      auto got = ReadAll(r.get(), &end);
      ASSERT_LE(got.size(), static_cast<size_t>(kRecords));
      ExpectNumbered(got);  // whatever reads is a prefix of what was written
      if (pass == 1) {
        EXPECT_TRUE(end.ok()) << end.ToString();
        EXPECT_EQ(Ends("t")[0], static_cast<int64_t>(got.size()));
        for (int64_t off = segments_.back(); off <= static_cast<int64_t>(got.size()); ++off) {
          ASSERT_TRUE(r->Seek(0, off).ok()) << off;
        }
      }
      if (pass == 0) Writer("t").reset();
    }
  }
  log_internal::TakeRecoveryReports();
}

// --- consumer offsets ------------------------------------------------------------------

TEST_F(EmbeddedLogTest, CommitAndCommitted) {
  options_.partitions = 3;
  ASSERT_TRUE(log()->CreateTopic("t", 3).ok());
  ASSERT_TRUE(log()->CreateTopic("u", 1).ok());
  auto c = log()->Committed("g", "t");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, (std::vector<int64_t>{0, 0, 0}));  // never committed
  ASSERT_TRUE(log()->Commit("g", "t", {5, 6, 7}).ok());
  ASSERT_TRUE(log()->Commit("g", "t", {8, 6, 9}).ok());
  ASSERT_TRUE(log()->Commit("g", "u", {1}).ok());
  ASSERT_TRUE(log()->Commit("g.2", "t", {3, 3, 3}).ok());
  EXPECT_EQ(*log()->Committed("g", "t"), (std::vector<int64_t>{8, 6, 9}));
  EXPECT_TRUE(log()->Commit("g", "t", {1, 2}).IsInvalidArgument());
  EXPECT_TRUE(log()->Commit("g", "t", {1, -2, 3}).IsInvalidArgument());
  EXPECT_TRUE(log()->Commit("g", "missing", {1}).IsNotFound());
  EXPECT_TRUE(log()->Committed("g", "missing").status().IsNotFound());
  EXPECT_TRUE(log()->Commit("../g", "t", {1, 2, 3}).IsInvalidArgument());
  // Committed offsets survive reopening the log; no temporary file is left behind.
  Open();
  EXPECT_EQ(*log()->Committed("g", "t"), (std::vector<int64_t>{8, 6, 9}));
  EXPECT_EQ(*log()->Committed("g", "u"), (std::vector<int64_t>{1}));
  EXPECT_EQ(*log()->Committed("g.2", "t"), (std::vector<int64_t>{3, 3, 3}));
  for (const auto& e : fs::recursive_directory_iterator(dir_.path())) {
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  }
  // A damaged offsets file is Corruption naming it, not silently zero.
  const std::string file = options_.dir + "/.groups/g.offsets/t";
  std::string text = FileBytes(file);
  ASSERT_FALSE(text.empty());
  text[text.find('8')] = '7';
  SetFileBytes(file, text);
  auto bad = log()->Committed("g", "t");
  EXPECT_TRUE(bad.status().IsCorruption()) << bad.status().ToString();
  EXPECT_NE(bad.status().message().find(file), std::string::npos);
}

// --- consumer groups -------------------------------------------------------------------

struct Member {
  std::vector<std::vector<GroupConsumer::Assignment>> assigned, revoked;
  std::map<std::pair<std::string, int>, int64_t> start;  // overrides for on_assigned
  std::unique_ptr<GroupConsumer> consumer;

  GroupConsumer::Listener Listener() {
    GroupConsumer::Listener l;
    l.on_assigned = [this](const std::vector<GroupConsumer::Assignment>& a, std::vector<int64_t>* s) {
      assigned.push_back(a);
      for (size_t i = 0; i < a.size(); ++i) {
        auto it = start.find({a[i].topic, a[i].partition});
        if (it != start.end()) (*s)[i] = it->second;
      }
      return Status::OK();
    };
    l.on_revoked = [this](const std::vector<GroupConsumer::Assignment>& a) {
      revoked.push_back(a);
      return Status::OK();
    };
    return l;
  }
};

TEST_F(EmbeddedLogTest, GroupFailoverBetweenTwoMembers) {
  options_.partitions = 2;
  {
    auto a = Writer("a");
    auto b = Writer("b");
    for (int i = 0; i < 10; ++i) {
      ASSERT_TRUE(a->AppendTo(i % 2, "", "a" + std::to_string(i)).ok());
      ASSERT_TRUE(b->AppendTo(i % 2, "", "b" + std::to_string(i)).ok());
    }
    ASSERT_TRUE(a->Flush(false).ok());
    ASSERT_TRUE(b->Flush(false).ok());
  }
  Member m1, m2;
  auto c1 = log()->Subscribe("ingest", {"a", "b"}, m1.Listener());
  ASSERT_TRUE(c1.ok()) << c1.status().ToString();
  m1.consumer = std::move(c1).value();
  LogRecord rec;
  std::string topic;
  std::map<std::pair<std::string, int>, int64_t> next;
  int read = 0;
  for (;;) {
    auto more = m1.consumer->Next(&rec, &topic, read == 0 ? 2000 : 0);
    ASSERT_TRUE(more.ok()) << more.status().ToString();
    if (!*more) break;
    next[{topic, rec.partition}] = rec.offset + 1;
    ++read;
  }
  EXPECT_EQ(read, 20);
  ASSERT_EQ(m1.assigned.size(), 1u);
  EXPECT_EQ(m1.assigned[0].size(), 4u);  // every partition of both topics
  EXPECT_EQ(m1.consumer->assignment().size(), 4u);
  // Commit a little less than was read of a:0, so the next member re-reads one record.
  next[{"a", 0}] -= 1;
  std::vector<GroupConsumer::Assignment> parts;
  std::vector<int64_t> offsets;
  for (const auto& [tp, off] : next) {
    parts.push_back({tp.first, tp.second});
    offsets.push_back(off);
  }
  ASSERT_TRUE(m1.consumer->Commit(parts, offsets).ok());
  EXPECT_EQ(*log()->Committed("ingest", "a"), (std::vector<int64_t>{4, 5}));

  // A second member waits: no assignment while the first is there.
  auto c2 = log()->Subscribe("ingest", {"a", "b"}, m2.Listener());
  ASSERT_TRUE(c2.ok());
  m2.consumer = std::move(c2).value();
  auto more = m2.consumer->Next(&rec, &topic, 30);
  ASSERT_TRUE(more.ok());
  EXPECT_FALSE(*more);
  EXPECT_TRUE(m2.assigned.empty());
  EXPECT_TRUE(m2.consumer->assignment().empty());
  EXPECT_TRUE(m2.consumer->Commit(parts, offsets).IsInvalidArgument());

  // The first leaves: the second takes every partition from the committed offsets, except
  // b:1, which its listener starts at 0.
  ASSERT_TRUE(m1.consumer->Close().ok());
  ASSERT_EQ(m1.revoked.size(), 1u);
  EXPECT_EQ(m1.revoked[0].size(), 4u);
  m2.start[{"b", 1}] = 0;
  std::vector<std::string> got;
  for (;;) {
    more = m2.consumer->Next(&rec, &topic, got.empty() ? 2000 : 0);
    ASSERT_TRUE(more.ok()) << more.status().ToString();
    if (!*more) break;
    got.push_back(topic + ":" + std::to_string(rec.partition) + ":" + std::to_string(rec.offset));
  }
  ASSERT_EQ(m2.assigned.size(), 1u);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"a:0:4", "b:1:0", "b:1:1", "b:1:2", "b:1:3", "b:1:4"}));
  m2.consumer.reset();  // destruction leaves the group too
  EXPECT_EQ(m2.revoked.size(), 1u);
}

// A member whose process dies leaves the group with it.
TEST_F(EmbeddedLogTest, GroupFailoverWhenTheMemberProcessDies) {
  WriteNumbered("t", 3);
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto log = Log::Open(options_);
    if (!log.ok()) ::_exit(2);
    auto c = (*log)->Subscribe("g", {"t"}, {});
    if (!c.ok()) ::_exit(3);
    LogRecord rec;
    std::string topic;
    auto more = (*c)->Next(&rec, &topic, 5000);
    if (!more.ok() || !*more) ::_exit(4);
    char one = 1;
    if (::write(pipe_fds[1], &one, 1) != 1) ::_exit(5);
    for (;;) ::pause();
  }
  ::close(pipe_fds[1]);
  char one = 0;
  ASSERT_EQ(::read(pipe_fds[0], &one, 1), 1);
  ::close(pipe_fds[0]);
  Member m;
  m.consumer = std::move(log()->Subscribe("g", {"t"}, m.Listener())).value();
  LogRecord rec;
  std::string topic;
  auto more = m.consumer->Next(&rec, &topic, 20);
  ASSERT_TRUE(more.ok());
  EXPECT_FALSE(*more);
  ::kill(pid, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  more = m.consumer->Next(&rec, &topic, 2000);
  ASSERT_TRUE(more.ok()) << more.status().ToString();
  ASSERT_TRUE(*more);
  EXPECT_EQ(topic, "t");
  EXPECT_EQ(rec.offset, 0);
  EXPECT_EQ(m.assigned.size(), 1u);
}

// --- the writer lock -------------------------------------------------------------------

TEST_F(EmbeddedLogTest, SecondWriterOnATopicIsRefused) {
  auto w = Writer("changelog.user_txn");
  ASSERT_NE(w, nullptr);
  auto second = log()->OpenWriter("changelog.user_txn");
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Status::Code::kIOError);
  EXPECT_NE(second.status().message().find("changelog.user_txn"), std::string::npos)
      << second.status().message();
  EXPECT_NE(second.status().message().find("locked"), std::string::npos);
  EXPECT_TRUE(log()->OpenWriter("other").ok());  // per topic
  // Another process is refused too.
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto log = Log::Open(options_);
    if (!log.ok()) ::_exit(2);
    auto w2 = (*log)->OpenWriter("changelog.user_txn");
    ::_exit(!w2.ok() && w2.status().code() == Status::Code::kIOError ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  // Once the first writer is gone, a new one opens.
  w.reset();
  EXPECT_TRUE(log()->OpenWriter("changelog.user_txn").ok());
}

// --- topics ----------------------------------------------------------------------------

TEST_F(EmbeddedLogTest, Topics) {
  options_.partitions = 3;
  EXPECT_TRUE(log()->Partitions("t").status().IsNotFound());
  EXPECT_TRUE(log()->EndOffsets("t").status().IsNotFound());
  EXPECT_TRUE(log()->StartOffsets("t").status().IsNotFound());
  ASSERT_TRUE(log()->CreateTopic("dlq.logins", 2).ok());
  EXPECT_TRUE(log()->CreateTopic("dlq.logins", 2).ok());  // exists with that many: fine
  EXPECT_TRUE(log()->CreateTopic("dlq.logins", 5).IsInvalidArgument());
  EXPECT_TRUE(log()->CreateTopic("x", 0).IsInvalidArgument());
  EXPECT_EQ(*log()->Partitions("dlq.logins"), 2);
  ASSERT_NE(Writer("changelog.user_txn"), nullptr);  // created with options.partitions
  EXPECT_EQ(*log()->Partitions("changelog.user_txn"), 3);
  ASSERT_NE(Reader("b"), nullptr);
  for (const char* bad : {"a/b", ".hidden", "", "..", "/abs"}) {
    SCOPED_TRACE(bad);
    EXPECT_TRUE(log()->CreateTopic(bad, 1).IsInvalidArgument());
    EXPECT_TRUE(log()->OpenWriter(bad).status().IsInvalidArgument());
    EXPECT_TRUE(log()->OpenReader(bad).status().IsInvalidArgument());
  }
  ASSERT_TRUE(log()->Commit("g", "b", {0, 0, 0}).ok());  // makes .groups, not a topic
  auto topics = log()->ListTopics();
  ASSERT_TRUE(topics.ok());
  EXPECT_EQ(*topics, (std::vector<std::string>{"b", "changelog.user_txn", "dlq.logins"}));
  // The partition count is kept across reopening, whatever the options say.
  options_.partitions = 7;
  Open();
  EXPECT_EQ(*log()->Partitions("dlq.logins"), 2);
  EXPECT_EQ(Writer("dlq.logins")->partitions(), 2);
}

TEST_F(EmbeddedLogTest, OptionsAreChecked) {
  LogOptions o = options_;
  o.dir = "";
  EXPECT_TRUE(Log::Open(o).status().IsInvalidArgument());
  o = options_;
  o.segment_bytes = 0;
  EXPECT_TRUE(Log::Open(o).status().IsInvalidArgument());
  o = options_;
  o.segment_bytes = int64_t{8} << 30;
  EXPECT_TRUE(Log::Open(o).status().IsInvalidArgument());
  o = options_;
  o.partitions = 0;
  EXPECT_TRUE(Log::Open(o).status().IsInvalidArgument());
}

// --- CRC-32C ---------------------------------------------------------------------------

uint32_t BitwiseCrc32c(std::string_view data) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char c : data) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
  }
  return ~crc;
}

TEST(Crc32cTest, KnownVectors) {
  for (auto crc : {+[](std::string_view s) { return Crc32c(s); },
                   +[](std::string_view s) { return log_internal::Crc32cSoftware(s); }}) {
    EXPECT_EQ(crc("123456789"), 0xE3069283u);
    EXPECT_EQ(crc(""), 0u);
    // RFC 3720 (iSCSI) B.4.
    EXPECT_EQ(crc(std::string(32, '\0')), 0x8A9136AAu);
    EXPECT_EQ(crc(std::string(32, '\xff')), 0x62A8AB43u);
    std::string inc(32, 0), dec(32, 0);
    for (int i = 0; i < 32; ++i) {
      inc[i] = static_cast<char>(i);
      dec[i] = static_cast<char>(31 - i);
    }
    EXPECT_EQ(crc(inc), 0x46DD794Eu);
    EXPECT_EQ(crc(dec), 0x113FDB5Cu);
  }
}

TEST(Crc32cTest, MatchesBitwiseReferenceAtEveryLengthAndAlignment) {
  std::mt19937 rng(3);
  std::string buf(300, 0);
  for (char& c : buf) c = static_cast<char>(rng());
  for (size_t start = 0; start < 9; ++start) {
    for (size_t len = 0; start + len <= buf.size(); len += 1 + len / 8) {
      std::string_view s = std::string_view(buf).substr(start, len);
      ASSERT_EQ(Crc32c(s), BitwiseCrc32c(s)) << start << " " << len;
      ASSERT_EQ(log_internal::Crc32cSoftware(s), BitwiseCrc32c(s)) << start << " " << len;
    }
  }
}

TEST(Crc32cTest, Extends) {
  std::string a = "hello, ", b = "world and more than eight bytes";
  EXPECT_EQ(Crc32c(b, Crc32c(a)), Crc32c(a + b));
  EXPECT_EQ(log_internal::Crc32cSoftware(b, Crc32c(a)), Crc32c(a + b));
}

}  // namespace log_test
}  // namespace vigil
