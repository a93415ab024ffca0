// The embedded log (log.h): round trips, offsets, Seek, reading while appending, consumer
// offsets, the on-disk record format, corrupt and torn tails, and CRC-32C.
#include "log/log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "common/test_util.h"
#include "common/time.h"

namespace vigil {
namespace {

namespace fs = std::filesystem;

struct Rec {
  std::string key;
  std::string payload;
  bool operator==(const Rec& o) const { return key == o.key && payload == o.payload; }
};

void PrintTo(const Rec& r, std::ostream* os) {
  *os << "{key " << r.key.size() << "B '" << r.key.substr(0, 16) << "', payload " << r.payload.size() << "B}";
}

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto log = Log::Open(dir_.path() + "/log");
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

  // Reads to the current end; the status of the read that stopped it goes to *end.
  std::vector<Rec> ReadAll(TopicReader* r, Status* end = nullptr, int64_t first_offset = 0) {
    std::vector<Rec> out;
    LogRecord rec;
    while (true) {
      auto more = r->Next(&rec);
      if (!more.ok()) {
        if (end) *end = more.status();
        break;
      }
      if (!*more) break;
      EXPECT_EQ(rec.offset, first_offset + static_cast<int64_t>(out.size()));
      out.push_back({std::string(rec.key), std::string(rec.payload)});
    }
    return out;
  }

  void Write(const std::string& topic, const std::vector<Rec>& recs) {
    auto w = Writer(topic);
    ASSERT_NE(w, nullptr);
    for (const auto& r : recs) ASSERT_TRUE(w->Append(r.key, r.payload).ok());
    ASSERT_TRUE(w->Flush(true).ok());
  }

  std::string Segment(const std::string& topic) {
    return dir_.path() + "/log/" + topic + "/00000000000000000000.log";
  }
  std::string FileBytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  void SetFileBytes(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
  }
  // Bytes of one record of the documented format, for key k and payload p.
  static size_t RecordSize(const std::string& k, const std::string& p) {
    size_t varint = k.size() < 128 ? 1 : 2;
    return 8 + varint + k.size() + 8 + p.size();
  }

  test::ScratchDir dir_{"vigil_log"};
  std::unique_ptr<Log> log_;
};

std::vector<Rec> ThreeRecords() {
  return {{"k0", "payload zero"}, {"k1", "payload one"}, {"k2", "payload two, the last"}};
}

TEST_F(LogTest, RoundTripKeysAndPayloads) {
  std::string mb(1 << 20, '\0');
  std::mt19937 rng(1);
  for (char& c : mb) c = static_cast<char>(rng());
  std::string binary_key("\x00\x1f\xff key", 7);
  std::vector<Rec> recs = {{"", ""},         {"user_1", "hello"}, {"", "payload without key"},
                           {"key only", ""}, {binary_key, mb},    {"after the big one", "x"}};
  TimestampMs before = WallClockMs();
  auto w = Writer("t");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->end_offset(), 0);
  for (size_t i = 0; i < recs.size(); ++i) {
    auto off = w->Append(recs[i].key, recs[i].payload);
    ASSERT_TRUE(off.ok()) << off.status().ToString();
    EXPECT_EQ(*off, static_cast<int64_t>(i));
    EXPECT_EQ(w->end_offset(), static_cast<int64_t>(i + 1));
  }
  ASSERT_TRUE(w->Flush(false).ok());
  TimestampMs after = WallClockMs();
  auto r = Reader("t");
  std::vector<Rec> got;
  LogRecord rec;
  for (;;) {
    auto more = r->Next(&rec);
    ASSERT_TRUE(more.ok()) << more.status().ToString();
    if (!*more) break;
    EXPECT_EQ(rec.offset, static_cast<int64_t>(got.size()));
    EXPECT_GE(rec.append_time, before);
    EXPECT_LE(rec.append_time, after);
    got.push_back({std::string(rec.key), std::string(rec.payload)});
  }
  EXPECT_EQ(got, recs);
  auto end = log_->EndOffset("t");
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(*end, 6);
  // A writer opened again continues the offsets.
  w.reset();
  auto w2 = Writer("t");
  EXPECT_EQ(w2->end_offset(), 6);
  auto off = w2->Append("k", "v");
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(*off, 6);
}

TEST_F(LogTest, UnwrittenTopicReadsEmpty) {
  auto r = Reader("nobody");
  LogRecord rec;
  auto more = r->Next(&rec);
  ASSERT_TRUE(more.ok()) << more.status().ToString();
  EXPECT_FALSE(*more);
  EXPECT_TRUE(r->Seek(0).ok());
  auto end = log_->EndOffset("nobody");
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(*end, 0);
}

TEST_F(LogTest, Seek) {
  std::vector<Rec> recs;
  for (int i = 0; i < 100; ++i) recs.push_back({"k" + std::to_string(i), std::string(i * 7, 'a' + i % 26)});
  Write("t", recs);
  auto r = Reader("t");
  for (int64_t off : {37, 0, 99, 5, 100}) {
    SCOPED_TRACE(off);
    ASSERT_TRUE(r->Seek(off).ok());
    auto rest = ReadAll(r.get(), nullptr, off);
    EXPECT_EQ(rest, std::vector<Rec>(recs.begin() + off, recs.end()));
  }
  Status st = r->Seek(101);
  EXPECT_FALSE(st.ok());
  // After a failed Seek the reader is still usable.
  ASSERT_TRUE(r->Seek(98).ok());
  EXPECT_EQ(ReadAll(r.get(), nullptr, 98).size(), 2u);
}

TEST_F(LogTest, ReadingWhileAppending) {
  auto w = Writer("t");
  auto r = Reader("t");
  LogRecord rec;
  auto more = r->Next(&rec);
  ASSERT_TRUE(more.ok());
  EXPECT_FALSE(*more);  // nothing yet (the file may not even exist)
  for (int round = 0; round < 50; ++round) {
    for (int j = 0; j <= round % 3; ++j) {
      ASSERT_TRUE(w->Append("k", "r" + std::to_string(round) + "." + std::to_string(j)).ok());
    }
    ASSERT_TRUE(w->Flush(false).ok());
    for (int j = 0; j <= round % 3; ++j) {
      more = r->Next(&rec);
      ASSERT_TRUE(more.ok()) << more.status().ToString();
      ASSERT_TRUE(*more) << round << " " << j;
      EXPECT_EQ(rec.payload, "r" + std::to_string(round) + "." + std::to_string(j));
    }
    more = r->Next(&rec);
    ASSERT_TRUE(more.ok());
    EXPECT_FALSE(*more);  // at the end again
  }
  // A record larger than the reader's block, appended after the reader reached the end.
  std::string big(5 << 20, 'b');
  ASSERT_TRUE(w->Append("big", big).ok());
  ASSERT_TRUE(w->Flush(false).ok());
  more = r->Next(&rec);
  ASSERT_TRUE(more.ok()) << more.status().ToString();
  ASSERT_TRUE(*more);
  EXPECT_EQ(rec.payload.size(), big.size());
  EXPECT_EQ(rec.payload, big);
}

// A record only partly on disk (a writer mid-write) is not visible, then becomes visible
// whole once the rest is written.
TEST_F(LogTest, PartlyWrittenRecordBecomesVisibleWhenComplete) {
  Write("t", ThreeRecords());
  std::string full = FileBytes(Segment("t"));
  size_t two = RecordSize("k0", "payload zero") + RecordSize("k1", "payload one");
  ASSERT_EQ(full.size(), two + RecordSize("k2", "payload two, the last"));
  for (size_t cut : {two + 3, two + 8, two + 12, full.size() - 1}) {
    SCOPED_TRACE(cut);
    SetFileBytes(Segment("t"), full.substr(0, cut));
    auto r = Reader("t");
    Status end;
    auto got = ReadAll(r.get(), &end);
    EXPECT_TRUE(end.ok()) << end.ToString();  // the end of the topic, not an error
    EXPECT_EQ(got.size(), 2u);
    {
      std::ofstream out(Segment("t"), std::ios::binary | std::ios::app);
      out << full.substr(cut);
    }
    LogRecord rec;
    auto more = r->Next(&rec);
    ASSERT_TRUE(more.ok()) << more.status().ToString();
    ASSERT_TRUE(*more);
    EXPECT_EQ(rec.offset, 2);
    EXPECT_EQ(rec.payload, "payload two, the last");
  }
}

// [u32 crc32c of body][u32 body length][body: varint key length, key, i64 append ms, payload]
TEST_F(LogTest, OnDiskRecordFormat) {
  auto w = Writer("t");
  TimestampMs before = WallClockMs();
  ASSERT_TRUE(w->Append("key", "pay").ok());
  ASSERT_TRUE(w->Flush(false).ok());
  TimestampMs after = WallClockMs();
  std::string b = FileBytes(Segment("t"));
  ASSERT_EQ(b.size(), 8u + 1 + 3 + 8 + 3);
  auto u32 = [&](size_t at) {
    return static_cast<uint32_t>(static_cast<uint8_t>(b[at])) |
           static_cast<uint32_t>(static_cast<uint8_t>(b[at + 1])) << 8 |
           static_cast<uint32_t>(static_cast<uint8_t>(b[at + 2])) << 16 |
           static_cast<uint32_t>(static_cast<uint8_t>(b[at + 3])) << 24;
  };
  std::string body = b.substr(8);
  EXPECT_EQ(u32(4), body.size());
  EXPECT_EQ(u32(0), Crc32c(body));
  EXPECT_EQ(body[0], 3);
  EXPECT_EQ(body.substr(1, 3), "key");
  int64_t t = 0;
  for (int i = 7; i >= 0; --i) t = (t << 8) | static_cast<uint8_t>(body[4 + i]);
  EXPECT_GE(t, before);
  EXPECT_LE(t, after);
  EXPECT_EQ(body.substr(12), "pay");
}

TEST_F(LogTest, CommitAndCommitted) {
  auto c = log_->Committed("g", "t");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, 0);  // never committed
  ASSERT_TRUE(log_->Commit("g", "t", 5).ok());
  ASSERT_TRUE(log_->Commit("g", "t", 7).ok());
  ASSERT_TRUE(log_->Commit("g", "u", 1).ok());
  ASSERT_TRUE(log_->Commit("h", "t", 3).ok());
  EXPECT_EQ(*log_->Committed("g", "t"), 7);
  EXPECT_EQ(*log_->Committed("g", "u"), 1);
  EXPECT_EQ(*log_->Committed("h", "t"), 3);
  // Committed offsets survive reopening the log; no temporary file is left behind.
  log_.reset();
  auto log = Log::Open(dir_.path() + "/log");
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(*(*log)->Committed("g", "t"), 7);
  EXPECT_EQ(*(*log)->Committed("h", "t"), 3);
  for (const auto& e : fs::recursive_directory_iterator(dir_.path())) {
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << e.path();
  }
}

TEST_F(LogTest, ListTopics) {
  Write("b", {{"", "1"}});
  Write("a", {{"", "1"}});
  Write("dlq.a", {{"", "1"}});
  auto topics = log_->ListTopics();
  // Consumer offsets may live beside topics; the written topics must all be listed, sorted.
  std::vector<std::string> want = {"a", "b", "dlq.a"};
  std::vector<std::string> got;
  for (const auto& t : topics) {
    if (t == "a" || t == "b" || t == "dlq.a") got.push_back(t);
  }
  EXPECT_EQ(got, want);
}

// --- corrupt and torn tails ------------------------------------------------------------

TEST_F(LogTest, TruncatedLastRecordIsCutOnWriterOpen) {
  Write("t", ThreeRecords());
  std::string full = FileBytes(Segment("t"));
  size_t two = RecordSize("k0", "payload zero") + RecordSize("k1", "payload one");
  for (size_t cut : {two + 4, full.size() - 5}) {
    SCOPED_TRACE(cut);
    SetFileBytes(Segment("t"), full.substr(0, cut));
    {
      auto r = Reader("t");
      Status end;
      EXPECT_EQ(ReadAll(r.get(), &end).size(), 2u);
      EXPECT_TRUE(end.ok()) << end.ToString();
    }
    auto w = Writer("t");
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(w->end_offset(), 2);
    EXPECT_EQ(fs::file_size(Segment("t")), two);
    auto off = w->Append("k9", "new");
    ASSERT_TRUE(off.ok());
    EXPECT_EQ(*off, 2);
    ASSERT_TRUE(w->Flush(true).ok());
    auto r = Reader("t");
    Status end;
    auto got = ReadAll(r.get(), &end);
    EXPECT_TRUE(end.ok()) << end.ToString();
    auto want = ThreeRecords();
    want[2] = {"k9", "new"};
    EXPECT_EQ(got, want);
  }
}

TEST_F(LogTest, FlippedBitsInLastRecordAreCutOnWriterOpen) {
  Write("t", ThreeRecords());
  std::string full = FileBytes(Segment("t"));
  size_t two = RecordSize("k0", "payload zero") + RecordSize("k1", "payload one");
  // A bit in the crc, in the key, in the payload's last byte.
  for (size_t at : {two + 1, two + 9, full.size() - 1}) {
    SCOPED_TRACE(at);
    std::string bad = full;
    bad[at] ^= 0x10;
    SetFileBytes(Segment("t"), bad);
    {
      auto r = Reader("t");
      Status end;
      auto got = ReadAll(r.get(), &end);
      EXPECT_EQ(got.size(), 2u);
      EXPECT_TRUE(end.IsCorruption()) << end.ToString();
      EXPECT_NE(end.message().find("t"), std::string::npos);
      EXPECT_NE(end.message().find("offset 2"), std::string::npos) << end.message();
    }
    auto w = Writer("t");
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(w->end_offset(), 2);
    EXPECT_EQ(fs::file_size(Segment("t")), two);
    ASSERT_TRUE(w->Append("k2", "payload two, the last").ok());
    ASSERT_TRUE(w->Flush(true).ok());
    auto r = Reader("t");
    Status end;
    EXPECT_EQ(ReadAll(r.get(), &end), ThreeRecords());
    EXPECT_TRUE(end.ok()) << end.ToString();
    full = FileBytes(Segment("t"));
  }
}

// A damaged length field of the last record: whatever the reader makes of it (the end of
// the topic, or Corruption), it returns the intact records, and the writer cuts the rest.
TEST_F(LogTest, DamagedLengthOfLastRecordIsCutOnWriterOpen) {
  Write("t", ThreeRecords());
  std::string full = FileBytes(Segment("t"));
  size_t two = RecordSize("k0", "payload zero") + RecordSize("k1", "payload one");
  for (auto [at, bit] : std::vector<std::pair<size_t, int>>{
           {two + 4, 0x01}, {two + 4, 0x02}, {two + 7, 0x10}, {two + 7, 0x80}}) {
    SCOPED_TRACE(std::to_string(at) + "/" + std::to_string(bit));
    std::string bad = full;
    bad[at] ^= static_cast<char>(bit);
    SetFileBytes(Segment("t"), bad);
    {
      auto r = Reader("t");
      Status end;
      EXPECT_EQ(ReadAll(r.get(), &end).size(), 2u);
      EXPECT_TRUE(end.ok() || end.IsCorruption()) << end.ToString();
    }
    auto w = Writer("t");
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(w->end_offset(), 2);
    EXPECT_EQ(fs::file_size(Segment("t")), two);
    ASSERT_TRUE(w->Append("k2", "payload two, the last").ok());
    ASSERT_TRUE(w->Flush(true).ok());
    w.reset();
    auto r = Reader("t");
    Status end;
    EXPECT_EQ(ReadAll(r.get(), &end), ThreeRecords());
    EXPECT_TRUE(end.ok()) << end.ToString();
  }
}

// A crash after the file grew but before the data reached it leaves zeros.
TEST_F(LogTest, ZeroFilledTailIsCutOnWriterOpen) {
  Write("t", ThreeRecords());
  std::string full = FileBytes(Segment("t"));
  SetFileBytes(Segment("t"), full + std::string(4096, '\0'));
  {
    auto r = Reader("t");
    Status end;
    auto got = ReadAll(r.get(), &end);
    EXPECT_EQ(got, ThreeRecords());  // the intact records read; the zeros never as a record
  }
  auto w = Writer("t");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->end_offset(), 3);
  EXPECT_EQ(fs::file_size(Segment("t")), full.size());
  auto off = w->Append("k3", "three");
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(*off, 3);
  ASSERT_TRUE(w->Flush(true).ok());
  auto r = Reader("t");
  Status end;
  auto got = ReadAll(r.get(), &end);
  EXPECT_TRUE(end.ok()) << end.ToString();
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[3], (Rec{"k3", "three"}));
}

TEST_F(LogTest, CorruptMiddleRecordIsCorruptionNamingTopicAndOffset) {
  Write("events", ThreeRecords());
  std::string full = FileBytes(Segment("events"));
  size_t one = RecordSize("k0", "payload zero");
  std::string bad = full;
  bad[one + 12] ^= 0x01;  // inside record 1's body
  SetFileBytes(Segment("events"), bad);
  auto r = Reader("events");
  Status end;
  auto got = ReadAll(r.get(), &end);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], ThreeRecords()[0]);
  ASSERT_TRUE(end.IsCorruption()) << end.ToString();
  EXPECT_NE(end.message().find("events"), std::string::npos) << end.message();
  EXPECT_NE(end.message().find("offset 1"), std::string::npos) << end.message();
  // Reading on keeps failing the same way, never crashing or skipping ahead.
  LogRecord rec;
  auto again = r->Next(&rec);
  EXPECT_FALSE(again.ok());
  EXPECT_FALSE(log_->EndOffset("events").ok());
  // Seek over the corrupt record fails too.
  auto r2 = Reader("events");
  EXPECT_FALSE(r2->Seek(2).ok());
}

TEST_F(LogTest, GarbageNeverCrashesTheReader) {
  std::mt19937 rng(5);
  Write("t", ThreeRecords());
  std::string full = FileBytes(Segment("t"));
  for (int i = 0; i < 100; ++i) {
    std::string bad = full;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) bad[rng() % bad.size()] = static_cast<char>(rng());
    if (rng() % 3 == 0) bad.resize(rng() % bad.size());
    SetFileBytes(Segment("t"), bad);
    auto r = Reader("t");
    Status end;
    auto got = ReadAll(r.get(), &end);
    // Whatever it returns is a prefix of what was written.
    ASSERT_LE(got.size(), 3u);
    for (size_t j = 0; j < got.size(); ++j) {
      if (got[j] != ThreeRecords()[j]) {
        // A flip that keeps the crc valid is astronomically unlikely.
        ADD_FAILURE() << "record " << j << " read back altered without a Corruption";
      }
    }
  }
}

// --- CRC-32C ---------------------------------------------------------------------------

uint32_t BitwiseCrc32c(const std::string& data) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char c : data) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
  }
  return ~crc;
}

TEST(Crc32cTest, KnownVectors) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(""), 0u);
  // RFC 3720 (iSCSI) B.4.
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  std::string inc(32, 0), dec(32, 0);
  for (int i = 0; i < 32; ++i) {
    inc[i] = static_cast<char>(i);
    dec[i] = static_cast<char>(31 - i);
  }
  EXPECT_EQ(Crc32c(inc), 0x46DD794Eu);
  EXPECT_EQ(Crc32c(dec), 0x113FDB5Cu);
}

TEST(Crc32cTest, MatchesBitwiseReferenceAtEveryLengthAndAlignment) {
  std::mt19937 rng(3);
  std::string buf(300, 0);
  for (char& c : buf) c = static_cast<char>(rng());
  for (size_t start = 0; start < 9; ++start) {
    for (size_t len = 0; start + len <= buf.size(); len += 1 + len / 8) {
      std::string s = buf.substr(start, len);
      ASSERT_EQ(Crc32c(std::string_view(buf).substr(start, len)), BitwiseCrc32c(s)) << start << " " << len;
    }
  }
}

TEST(Crc32cTest, Extends) {
  std::string a = "hello, ", b = "world and more than eight bytes";
  EXPECT_EQ(Crc32c(b, Crc32c(a)), Crc32c(a + b));
}

}  // namespace
}  // namespace vigil
