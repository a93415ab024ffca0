// Offset datasets (offline_store.h): each record held exactly once across writer crashes,
// positions persisted after the data, compaction that readers never see twice, and the
// date layout.
#include "store/offline_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/test_util.h"

namespace vigil {
namespace offline_store_test {

namespace fs = std::filesystem;

constexpr TimestampMs kDay = 86'400'000;
constexpr TimestampMs kT0 = 1'704'067'200'000;  // 2024-01-01T00:00:00Z

Schema TestSchema() {
  return Schema({{"ts", Type::kTimestamp}, {"v", Type::kString}, {"_partition", Type::kInt64}, {"_offset", Type::kInt64}});
}

Row R(TimestampMs ts, int p, int64_t off) {
  return Row{Value::Timestamp(ts), Value::String("p" + std::to_string(p) + "o" + std::to_string(off)), Value::Int64(p),
             Value::Int64(off)};
}

// Every (partition, offset) a reader sees, in scan order, and the row count.
std::vector<std::pair<int64_t, int64_t>> ReadAll(const std::string& dir) {
  std::vector<std::pair<int64_t, int64_t>> out;
  std::mutex mu;
  Status s = ScanDataset(dir, {"_partition", "_offset", "v"}, 2, [&](const DatasetFile&, parquet::ColumnBatch&& b) {
    std::lock_guard l(mu);
    for (int64_t r = 0; r < b.rows(); ++r) {
      int64_t p = b.columns[0].ints[static_cast<size_t>(r)], o = b.columns[1].ints[static_cast<size_t>(r)];
      EXPECT_EQ(b.columns[2].str(static_cast<size_t>(r)), "p" + std::to_string(p) + "o" + std::to_string(o));
      out.emplace_back(p, o);
    }
    return Status::OK();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::pair<int64_t, int64_t>> Expected(int parts, int64_t per_part) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (int p = 0; p < parts; ++p) {
    for (int64_t o = 0; o < per_part; ++o) out.emplace_back(p, o);
  }
  return out;
}

TEST(OffsetDataset, DateOfIsUtc) {
  EXPECT_EQ(DateOf(kT0), "2024-01-01");
  EXPECT_EQ(DateOf(kT0 - 1), "2023-12-31");
  EXPECT_EQ(DateOf(0), "1970-01-01");
  EXPECT_EQ(DateOf(-1), "1969-12-31");
  EXPECT_EQ(DateOf(kT0 + 59 * kDay), "2024-02-29");
}

TEST(OffsetDataset, WritesByDateAndPersistsPositionsAfterTheData) {
  test::ScratchDir dir("vigil_offline");
  std::string ds = dir.path() + "/events/txn";
  auto w = OffsetDatasetWriter::Open(ds, TestSchema(), 0);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  for (int p = 0; p < 2; ++p) {
    for (int64_t o = 0; o < 100; ++o) ASSERT_TRUE((*w)->Append(p, o, R(kT0 + o * (kDay / 40), p, o)).ok());
  }
  EXPECT_EQ((*w)->buffered_rows(), 200);
  // Nothing is visible before Flush.
  EXPECT_TRUE(ReadAll(ds).empty());
  EXPECT_EQ(*DatasetPosition(ds, 0), 0);
  ASSERT_TRUE((*w)->Flush().ok());
  EXPECT_EQ(*DatasetPosition(ds, 0), 100);
  EXPECT_EQ(*DatasetPosition(ds, 1), 100);
  EXPECT_EQ(ReadAll(ds), Expected(2, 100));
  // 100 rows 36 min apart span 3 dates.
  std::set<std::string> dates;
  for (const auto& e : fs::directory_iterator(ds)) dates.insert(e.path().filename().string());
  EXPECT_EQ(dates, (std::set<std::string>{"_positions", "date=2024-01-01", "date=2024-01-02", "date=2024-01-03"}));
  // An offset below the position is refused.
  EXPECT_FALSE((*w)->Append(0, 99, R(kT0, 0, 99)).ok());
}

TEST(OffsetDataset, ACrashedWritersFilesPastThePositionAreDeletedAndWrittenAgain) {
  test::ScratchDir dir("vigil_offline");
  std::string ds = dir.path() + "/features/v";
  {
    auto w = OffsetDatasetWriter::Open(ds, TestSchema(), 0);
    ASSERT_TRUE(w.ok());
    for (int64_t o = 0; o < 10; ++o) ASSERT_TRUE((*w)->Append(0, o, R(kT0 + o, 0, o)).ok());
    ASSERT_TRUE((*w)->Flush().ok());
    for (int64_t o = 10; o < 20; ++o) ASSERT_TRUE((*w)->Append(0, o, R(kT0 + o, 0, o)).ok());
    ASSERT_TRUE((*w)->Flush().ok());
  }
  // A crash between the data and the position: roll the position back to 10, as if the
  // second Flush had written its file and died.
  ASSERT_TRUE(fs::exists(ds + "/date=2024-01-01/part-0-10-20.parquet"));
  {
    std::ofstream(ds + "/_positions/0", std::ios::trunc) << "10";
  }
  EXPECT_EQ(ReadAll(ds).size(), 20u) << "readers see the orphan until a writer reopens the partition";
  auto w = OffsetDatasetWriter::Open(ds, TestSchema(), 0);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(*(*w)->Next(0), 10);
  EXPECT_FALSE(fs::exists(ds + "/date=2024-01-01/part-0-10-20.parquet"));
  for (int64_t o = 10; o < 25; ++o) ASSERT_TRUE((*w)->Append(0, o, R(kT0 + o, 0, o)).ok());
  ASSERT_TRUE((*w)->Flush().ok());
  EXPECT_EQ(ReadAll(ds), Expected(1, 25));
}

TEST(OffsetDataset, CompactionMergesSmallFilesAndReadersNeverSeeARowTwice) {
  test::ScratchDir dir("vigil_offline");
  std::string ds = dir.path() + "/events/txn";
  auto w = OffsetDatasetWriter::Open(ds, TestSchema(), 0);
  ASSERT_TRUE(w.ok());
  // 12 flushes of 2 partitions: 24 small files in one date.
  int64_t next = 0;
  for (int f = 0; f < 12; ++f) {
    for (int p = 0; p < 2; ++p) {
      for (int64_t o = next; o < next + 5; ++o) ASSERT_TRUE((*w)->Append(p, o, R(kT0 + o, p, o)).ok());
    }
    next += 5;
    ASSERT_TRUE((*w)->Flush().ok());
  }
  auto before = ListDatasetFiles(ds);
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->size(), 24u);

  CompactionOptions keep;  // a grace period: the merged files stay, superseded
  keep.grace_ms = 600'000;
  auto c = CompactDataset(ds, keep);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->files_in, 24);
  EXPECT_EQ(c->files_out, 1);
  EXPECT_EQ(c->rows, 120);
  auto live = ListDatasetFiles(ds);
  ASSERT_TRUE(live.ok());
  ASSERT_EQ(live->size(), 1u) << "the superseded files are skipped";
  EXPECT_EQ(live->front().ranges, (std::vector<std::tuple<int, int64_t, int64_t>>{{0, 0, 60}, {1, 0, 60}}));
  EXPECT_EQ(ReadAll(ds), Expected(2, 60));
  size_t on_disk = 0;
  for (const auto& e : fs::directory_iterator(ds + "/date=2024-01-01")) on_disk += e.path().extension() == ".parquet";
  EXPECT_EQ(on_disk, 25u);

  // More rows after the compaction, then a compaction with no grace: the superseded files
  // go, the new small ones are not yet enough to merge.
  for (int64_t o = 60; o < 65; ++o) ASSERT_TRUE((*w)->Append(0, o, R(kT0 + o, 0, o)).ok());
  ASSERT_TRUE((*w)->Flush().ok());
  CompactionOptions now;
  now.grace_ms = 0;
  ASSERT_TRUE(CompactDataset(ds, now).ok());
  on_disk = 0;
  for (const auto& e : fs::directory_iterator(ds + "/date=2024-01-01")) on_disk += e.path().extension() == ".parquet";
  EXPECT_EQ(on_disk, 2u);
  auto all = ReadAll(ds);
  auto want = Expected(2, 60);
  for (int64_t o = 60; o < 65; ++o) want.emplace_back(0, o);
  std::sort(want.begin(), want.end());
  EXPECT_EQ(all, want);
}

TEST(OffsetDataset, CompactionLeavesFilesPastThePositionAlone) {
  test::ScratchDir dir("vigil_offline");
  std::string ds = dir.path() + "/events/txn";
  {
    auto w = OffsetDatasetWriter::Open(ds, TestSchema(), 0);
    ASSERT_TRUE(w.ok());
    for (int f = 0; f < 10; ++f) {
      ASSERT_TRUE((*w)->Append(0, f, R(kT0 + f, 0, f)).ok());
      ASSERT_TRUE((*w)->Flush().ok());
    }
  }
  // The last two files were written by a writer that died before persisting them.
  { std::ofstream(ds + "/_positions/0", std::ios::trunc) << "8"; }
  CompactionOptions o;
  o.grace_ms = 0;
  auto c = CompactDataset(ds, o);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->files_in, 8);
  EXPECT_TRUE(fs::exists(ds + "/date=2024-01-01/part-0-8-9.parquet"));
  EXPECT_TRUE(fs::exists(ds + "/date=2024-01-01/part-0-9-10.parquet"));
  // The writer that reopens deletes them and writes them again: still each row once.
  auto w = OffsetDatasetWriter::Open(ds, TestSchema(), 0);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(*(*w)->Next(0), 8);
  for (int64_t off = 8; off < 10; ++off) ASSERT_TRUE((*w)->Append(0, off, R(kT0 + off, 0, off)).ok());
  ASSERT_TRUE((*w)->Flush().ok());
  EXPECT_EQ(ReadAll(ds), Expected(1, 10));
}

TEST(OffsetDataset, ScanSkipsRowGroupsOutsideTheTsRange) {
  test::ScratchDir dir("vigil_offline");
  std::string ds = dir.path() + "/events/txn";
  auto w = OffsetDatasetWriter::Open(ds, TestSchema(), 0);
  ASSERT_TRUE(w.ok());
  for (int64_t day = 0; day < 5; ++day) {
    ASSERT_TRUE((*w)->Append(0, day, R(kT0 + day * kDay, 0, day)).ok());
  }
  ASSERT_TRUE((*w)->Flush().ok());
  int64_t rows = 0;
  ASSERT_TRUE(ScanDataset(
                  ds, {"ts"}, 1,
                  [&](const DatasetFile&, parquet::ColumnBatch&& b) {
                    rows += b.rows();
                    return Status::OK();
                  },
                  "ts", kT0 + kDay, kT0 + 2 * kDay)
                  .ok());
  EXPECT_EQ(rows, 2) << "only the files of day 1 and day 2";
}

// By position (the archive reads its own layout, ArchivedEventSchema, this way).
TEST(OffsetDataset, ScanByColumnIndexReadsInTheOrderAskedAndChecksTheLayout) {
  test::ScratchDir dir("vigil_offline");
  std::string ds = dir.path() + "/events/txn";
  Schema schema({{"ts", Type::kTimestamp},
                 {"n", Type::kInt64},
                 {"v", Type::kString},
                 {"_partition", Type::kInt64},
                 {"_offset", Type::kInt64}});
  auto w = OffsetDatasetWriter::Open(ds, schema, 0);
  ASSERT_TRUE(w.ok());
  for (int64_t o = 0; o < 3; ++o) {
    Row row{Value::Timestamp(kT0 + o), Value::Int64(100 + o), Value::String("v" + std::to_string(o)),
            Value::Int64(0), Value::Int64(o)};
    ASSERT_TRUE((*w)->Append(0, o, row).ok());
  }
  Status flushed = (*w)->Flush();
  ASSERT_TRUE(flushed.ok()) << flushed.ToString();
  std::vector<std::string> seen;
  auto collect = [&](const DatasetFile&, parquet::ColumnBatch&& b) {
    EXPECT_EQ(b.columns.size(), 3u);
    for (size_t r = 0; r < static_cast<size_t>(b.rows()); ++r) {
      seen.push_back(std::to_string(b.columns[0].ints[r]) + "/" + std::string(b.columns[1].str(r)) + "/" +
                     std::to_string(b.columns[2].ints[r] - kT0));
    }
    return Status::OK();
  };
  // In the order asked.
  Status s = ScanDatasetColumns(ds, 5, {1, 2, 0}, 1, collect);
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<std::string>{"100/v0/0", "101/v1/1", "102/v2/2"}));
  // A file of another layout is a Corruption naming it; a column past the end is refused.
  Status wrong = ScanDatasetColumns(ds, 6, {0}, 1, collect);
  EXPECT_TRUE(wrong.IsCorruption()) << wrong.ToString();
  EXPECT_NE(wrong.ToString().find(".parquet"), std::string::npos) << wrong.ToString();
  EXPECT_TRUE(ScanDatasetColumns(ds, 5, {5}, 1, collect).IsInvalidArgument());
}

}  // namespace offline_store_test
}  // namespace vigil
