#include "schema/parquet.h"

#include <gtest/gtest.h>
#include <snappy.h>
#include <zstd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <unistd.h>

#include "common/test_util.h"
#include "schema/parquet_encoding.h"
#include "schema/parquet_thrift.h"

namespace vigil::parquet {
namespace parquet_test {

using internal::AppendRleHybrid;
using internal::DecodeRleHybrid;

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

void Spit(const std::string& path, std::string_view data) {
  // Unlink first: ext4 flushes a file truncated and rewritten in place on close (auto_da_alloc),
  // which would make the fuzz test's thousands of rewrites slow.
  std::error_code ec;
  std::filesystem::remove(path, ec);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
}

// The footer of a file written by Writer, decoded.
internal::FileMetaData Footer(const std::string& path) {
  std::string data = Slurp(path);
  EXPECT_GE(data.size(), 12u);
  uint32_t len = internal::LoadLE32(data.data() + data.size() - 8);
  internal::FileMetaData md;
  Status st = internal::ParseFileMetaData(std::string_view(data).substr(data.size() - 8 - len, len), &md);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return md;
}

// Writes `b` to `path` as row groups of o.row_group_rows rows and closes the file.
Status WriteBatchFile(const std::string& path, const Schema& schema, const WriterOptions& o,
                      const ColumnBatch& b) {
  VIGIL_ASSIGN_OR_RETURN(auto w, Writer::Create(path, schema, o));
  VIGIL_RETURN_IF_ERROR(w->WriteRowGroups(b));
  return w->Close();
}

Schema AllTypes() {
  return Schema({{"i", Type::kInt64},
                 {"d", Type::kDouble},
                 {"s", Type::kString},
                 {"b", Type::kBool},
                 {"t", Type::kTimestamp}});
}

// Row r of a deterministic table with nulls in every column (at different periods), few
// distinct strings and ints (dictionary-friendly) and edge values.
Row MakeRow(int64_t r) {
  Row row(5);
  if (r % 7 != 3) {
    static const int64_t kEdges[] = {std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(),
                                     0, -1};
    row[0] = Value::Int64(r % 50 == 0 ? kEdges[(r / 50) % 4] : (r % 13) * 1000 - 6000);
  }
  if (r % 5 != 1) {
    double v = r % 11 == 0 ? -0.0 : (r % 11 == 1 ? 1e300 : static_cast<double>(r) * 0.25 - 100);
    row[1] = Value::Double(v);
  }
  if (r % 9 != 4) {
    row[2] = Value::String(
        r % 17 == 0 ? "" : "key-" + std::to_string(r % 23) + (r % 29 == 0 ? "\xc3\xa9\n\"," : ""));
  }
  if (r % 4 != 2) row[3] = Value::Bool(r % 3 == 0);
  if (r % 6 != 5)
    row[4] = Value::Timestamp(1'700'000'000'000 + r * 997 - (r % 10 == 0 ? 2'000'000'000'000 : 0));
  return row;
}

struct Case {
  Compression compression;
  bool dictionary;
};

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  return std::string(CompressionName(info.param.compression)) + (info.param.dictionary ? "_dict" : "_plain");
}

class ParquetRoundTrip : public ::testing::TestWithParam<Case> {};

TEST_P(ParquetRoundTrip, EveryTypeWithNullsAcrossRowGroupsAndPages) {
  test::ScratchDir dir("vigil_parquet");
  const std::string path = dir.path() + "/t.parquet";
  WriterOptions o;
  o.compression = GetParam().compression;
  o.dictionary = GetParam().dictionary;
  o.row_group_rows = 1000;
  o.page_bytes = 512;  // many pages per chunk
  o.metadata = {{"vigil.mark", "x"}, {"empty", ""}};
  auto w = Writer::Create(path, AllTypes(), o);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  const int64_t kRows = 2600;
  // Half through Write(batch) (crossing row-group boundaries), half through WriteRow.
  ColumnBatch batch = ColumnBatch::Empty(AllTypes());
  for (int64_t r = 0; r < 1300; ++r) batch.AppendRow(MakeRow(r));
  ASSERT_TRUE((*w)->Write(batch).ok());
  for (int64_t r = 1300; r < kRows; ++r) ASSERT_TRUE((*w)->WriteRow(MakeRow(r)).ok());
  EXPECT_FALSE(std::filesystem::exists(path)) << "the file must appear only on Close";
  ASSERT_TRUE((*w)->Close().ok());
  EXPECT_EQ((*w)->rows_written(), kRows);
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

  auto r = Reader::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->rows(), kRows);
  ASSERT_EQ((*r)->row_groups().size(), 3u);
  EXPECT_EQ((*r)->row_groups()[0].rows, 1000);
  EXPECT_EQ((*r)->row_groups()[2].rows, 600);
  ASSERT_EQ((*r)->schema().size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ((*r)->schema().field(i).name, AllTypes().field(i).name);
    EXPECT_EQ((*r)->schema().field(i).type, AllTypes().field(i).type);
  }
  EXPECT_EQ((*r)->metadata(), o.metadata);

  auto all = ReadFile(path);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->rows(), kRows);
  for (int64_t i = 0; i < kRows; ++i) {
    Row want = MakeRow(i);
    Row got = all->GetRow(i);
    for (size_t c = 0; c < 5; ++c) {
      ASSERT_EQ(got[c], want[c]) << "row " << i << " column " << c << ": " << got[c].DebugString() << " vs "
                                 << want[c].DebugString();
    }
  }

  // Column selection, in the order asked.
  const int cols[] = {4, 2};
  auto part = (*r)->ReadRowGroup(1, cols);
  ASSERT_TRUE(part.ok()) << part.status().ToString();
  ASSERT_EQ(part->columns.size(), 2u);
  EXPECT_EQ(part->schema.field(0).name, "t");
  EXPECT_EQ(part->schema.field(1).name, "s");
  EXPECT_EQ(part->rows(), 1000);
  EXPECT_EQ(part->columns[1].Get(17), MakeRow(1017)[2]);

  // The footer: encodings as asked, the types and annotations promised.
  internal::FileMetaData md = Footer(path);
  EXPECT_EQ(md.created_by.value_or(""), "vigil");
  for (const auto& g : md.row_groups) {
    for (size_t c = 0; c < g.columns.size(); ++c) {
      const auto& cm = *g.columns[c].meta_data;
      bool dict =
          std::find(cm.encodings.begin(), cm.encodings.end(), internal::kRleDictionary) != cm.encodings.end();
      EXPECT_EQ(dict, GetParam().dictionary && c != 3) << "column " << c;
      EXPECT_EQ(cm.dictionary_page_offset.has_value(), dict);
      EXPECT_EQ(g.columns[c].file_offset, dict ? *cm.dictionary_page_offset : cm.data_page_offset);
      EXPECT_GT(cm.total_compressed_size, 0);
    }
  }
  EXPECT_EQ(md.schema[5].converted_type.value_or(-1), internal::kConvertedTimestampMillis);
  ASSERT_TRUE(md.schema[5].logical_type.has_value());
  EXPECT_EQ(md.schema[5].logical_type->kind, internal::kLogicalTimestamp);
  EXPECT_TRUE(md.schema[5].logical_type->adjusted_to_utc);
  EXPECT_EQ(md.schema[5].logical_type->unit, internal::kMillis);
  EXPECT_EQ(md.schema[3].converted_type.value_or(-1), internal::kConvertedUtf8);
  EXPECT_EQ(md.schema[3].logical_type->kind, internal::kLogicalString);
}

INSTANTIATE_TEST_SUITE_P(Parquet, ParquetRoundTrip,
                         ::testing::Values(Case{Compression::kUncompressed, false},
                                           Case{Compression::kUncompressed, true},
                                           Case{Compression::kSnappy, false},
                                           Case{Compression::kSnappy, true}, Case{Compression::kZstd, false},
                                           Case{Compression::kZstd, true}),
                         CaseName);

// GetInto into one Value, row after row and column after column (a string over a number,
// a null over a string), gives what Get gives.
TEST(ParquetTest, GetIntoAReusedValueEqualsGet) {
  ColumnBatch batch = ColumnBatch::Empty(AllTypes());
  for (int64_t r = 0; r < 500; ++r) batch.AppendRow(MakeRow(r));
  Value v = Value::String(std::string(64, 'x'));
  for (int64_t r = 0; r < batch.rows(); ++r) {
    for (const Column& c : batch.columns) {
      c.GetInto(static_cast<size_t>(r), &v);
      ASSERT_EQ(v, c.Get(static_cast<size_t>(r))) << "row " << r << ", type " << TypeName(c.type);
    }
  }
}

TEST(ParquetTest, StatisticsAndMayContainSkipRowGroups) {
  test::ScratchDir dir("vigil_parquet");
  const std::string path = dir.path() + "/s.parquet";
  WriterOptions o;
  o.row_group_rows = 100;
  Schema schema({{"n", Type::kInt64}, {"name", Type::kString}, {"x", Type::kDouble}, {"gone", Type::kInt64}});
  auto w = Writer::Create(path, schema, o);
  ASSERT_TRUE(w.ok());
  for (int64_t r = 0; r < 300; ++r) {  // group g holds n in [100g, 100g+99], names "g<g>-..."
    Row row = {Value::Int64(r), Value::String("g" + std::to_string(r / 100) + "-" + std::to_string(r % 10)),
               r % 2 ? Value() : Value::Double(static_cast<double>(r) / 2), Value()};
    ASSERT_TRUE((*w)->WriteRow(row).ok());
  }
  ASSERT_TRUE((*w)->Close().ok());
  auto r = Reader::Open(path);
  ASSERT_TRUE(r.ok());
  const auto& g1 = (*r)->row_groups()[1];
  ASSERT_TRUE(g1.columns[0].has_min_max);
  EXPECT_EQ(g1.columns[0].min, Value::Int64(100));
  EXPECT_EQ(g1.columns[0].max, Value::Int64(199));
  EXPECT_EQ(g1.columns[0].null_count, 0);
  EXPECT_EQ(g1.columns[1].min, Value::String("g1-0"));
  EXPECT_EQ(g1.columns[1].max, Value::String("g1-9"));
  EXPECT_EQ(g1.columns[2].null_count, 50);
  EXPECT_EQ(g1.columns[2].min, Value::Double(50));
  EXPECT_EQ(g1.columns[2].max, Value::Double(99));
  EXPECT_FALSE(g1.columns[3].has_min_max);
  EXPECT_EQ(g1.columns[3].null_count, 100);

  auto I = [](int64_t v) { return Value::Int64(v); };
  EXPECT_TRUE((*r)->MayContain(1, 0, I(150), I(150)));
  EXPECT_TRUE((*r)->MayContain(1, 0, I(199), Value()));
  EXPECT_TRUE((*r)->MayContain(1, 0, Value(), I(100)));
  EXPECT_FALSE((*r)->MayContain(1, 0, I(200), Value()));
  EXPECT_FALSE((*r)->MayContain(1, 0, Value(), I(99)));
  EXPECT_FALSE((*r)->MayContain(0, 0, I(100), I(1000)));
  EXPECT_TRUE((*r)->MayContain(2, 0, I(100), I(1000)));
  EXPECT_FALSE((*r)->MayContain(1, 1, Value::String("g2"), Value()));
  EXPECT_TRUE((*r)->MayContain(1, 1, Value::String("g1-5"), Value::String("g1-5")));
  EXPECT_FALSE((*r)->MayContain(1, 2, Value::Double(99.5), Value()));
  EXPECT_FALSE((*r)->MayContain(1, 3, Value(), Value())) << "an all-null chunk holds no value";
  EXPECT_TRUE((*r)->MayContain(7, 0, I(0), I(0))) << "out of range: no statistics, may contain";

  // The footer holds both the deprecated min/max and min_value/max_value, and null_count.
  internal::FileMetaData md = Footer(path);
  const auto& st = *md.row_groups[1].columns[0].meta_data->statistics;
  ASSERT_TRUE(st.min && st.max && st.min_value && st.max_value && st.null_count);
  EXPECT_EQ(*st.min, *st.min_value);
  EXPECT_EQ(*st.max, *st.max_value);
  EXPECT_EQ(internal::LoadLE64(st.min_value->data()), 100u);
  EXPECT_EQ(*st.null_count, 0);
}

TEST(ParquetTest, ConcurrentReadRowGroupCalls) {
  test::ScratchDir dir("vigil_parquet");
  const std::string path = dir.path() + "/c.parquet";
  WriterOptions o;
  o.row_group_rows = 500;
  auto w = Writer::Create(path, AllTypes(), o);
  ASSERT_TRUE(w.ok());
  for (int64_t r = 0; r < 4000; ++r) ASSERT_TRUE((*w)->WriteRow(MakeRow(r)).ok());
  ASSERT_TRUE((*w)->Close().ok());
  auto reader = Reader::Open(path);
  ASSERT_TRUE(reader.ok());
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < 8; ++k) {
        const int g = (t + k) % 8;
        auto b = (*reader)->ReadRowGroup(g);
        if (!b.ok() || b->rows() != 500 || b->GetRow(17) != MakeRow(g * 500 + 17)) ++bad;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(ParquetTest, AllNullColumnEmptyAndLargeStrings) {
  test::ScratchDir dir("vigil_parquet");
  for (Compression c : {Compression::kUncompressed, Compression::kSnappy, Compression::kZstd}) {
    const std::string path = dir.path() + "/n" + std::string(CompressionName(c)) + ".parquet";
    WriterOptions o;
    o.compression = c;
    o.page_bytes = 64 * 1024;
    Schema schema({{"nul", Type::kString}, {"s", Type::kString}, {"b", Type::kBool}});
    std::vector<Row> rows;
    std::mt19937_64 rng(7);
    for (int i = 0; i < 40; ++i) {
      std::string big;
      if (i % 3 == 0) {
        big.resize(100'000 + i * 1000);
        for (char& ch : big) ch = static_cast<char>(rng());
      }
      rows.push_back({Value(), Value::String(i % 3 == 0 ? big : ""), Value()});
    }
    auto w = Writer::Create(path, schema, o);
    ASSERT_TRUE(w.ok());
    for (const Row& row : rows) ASSERT_TRUE((*w)->WriteRow(row).ok());
    ASSERT_TRUE((*w)->Close().ok());
    auto got = ReadFile(path);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_EQ(got->rows(), 40);
    for (int i = 0; i < 40; ++i) {
      EXPECT_EQ(got->GetRow(i), rows[i]) << "row " << i;
    }
    auto r = Reader::Open(path);
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE((*r)->row_groups()[0].columns[1].has_min_max) << "100 KB strings are not stored as min/max";
    EXPECT_EQ((*r)->row_groups()[0].columns[0].null_count, 40);
  }
}

TEST(ParquetTest, ZeroRowsAndEmptyBatches) {
  test::ScratchDir dir("vigil_parquet");
  const std::string path = dir.path() + "/z.parquet";
  auto w = Writer::Create(path, AllTypes());
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write(ColumnBatch::Empty(AllTypes())).ok());
  ASSERT_TRUE((*w)->Close().ok());
  auto r = Reader::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->rows(), 0);
  EXPECT_TRUE((*r)->row_groups().empty());
  EXPECT_EQ((*r)->schema().size(), 5u);
  auto all = ReadFile(path);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->rows(), 0);
  EXPECT_EQ(all->columns.size(), 5u);
}

TEST(ParquetTest, ThreadedChunkEncodingWritesTheSameBytes) {
  test::ScratchDir dir("vigil_parquet");
  auto write = [&](int threads, const std::string& name) {
    WriterOptions o;
    o.threads = threads;
    o.row_group_rows = 3000;  // several row groups, each with a dictionary and plain columns
    o.page_bytes = 4096;
    const std::string path = dir.path() + "/" + name;
    auto w = Writer::Create(path, AllTypes(), o);
    EXPECT_TRUE(w.ok());
    ColumnBatch b = ColumnBatch::Empty(AllTypes());
    for (int64_t r = 0; r < 10'000; ++r) b.AppendRow(MakeRow(r));
    EXPECT_TRUE((*w)->Write(b).ok());
    EXPECT_TRUE((*w)->Close().ok());
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string one = write(1, "one.parquet");
  ASSERT_GT(one.size(), 1000u);
  EXPECT_EQ(write(2, "two.parquet"), one);
  EXPECT_EQ(write(7, "seven.parquet"), one);  // more threads than the 5 columns
  auto all = ReadFile(dir.path() + "/seven.parquet");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->rows(), 10'000);
  for (int64_t r : {0, 2999, 3000, 9999}) EXPECT_EQ(all->GetRow(r), MakeRow(r)) << r;
}

// Rows given one at a time, in batches of any size, or as whole row groups
// (WriteRowGroups, no copy) make the same file, byte for byte.
TEST(ParquetTest, EveryWayOfWritingRowsWritesTheSameBytes) {
  test::ScratchDir dir("vigil_parquet");
  const int64_t kRows = 7'500;
  WriterOptions o;
  o.row_group_rows = 2'000;
  o.page_bytes = 2048;
  auto write = [&](const std::string& name, const std::function<void(Writer*)>& feed) {
    const std::string path = dir.path() + "/" + name;
    auto w = Writer::Create(path, AllTypes(), o);
    EXPECT_TRUE(w.ok());
    feed(w->get());
    EXPECT_EQ((*w)->rows_written(), kRows);
    EXPECT_TRUE((*w)->Close().ok());
    return Slurp(path);
  };
  auto batch_of = [](int64_t begin, int64_t end) {
    ColumnBatch b = ColumnBatch::Empty(AllTypes());
    for (int64_t r = begin; r < end; ++r) b.AppendRow(MakeRow(r));
    return b;
  };
  const std::string by_row = write("rows.parquet", [&](Writer* w) {
    for (int64_t r = 0; r < kRows; ++r) ASSERT_TRUE(w->WriteRow(MakeRow(r)).ok());
  });
  ASSERT_GT(by_row.size(), 1000u);
  std::mt19937_64 rng(11);
  EXPECT_EQ(write("batches.parquet",
                  [&](Writer* w) {
                    // Sizes under, at and over a row group, from an empty and a part-filled buffer.
                    for (int64_t r = 0; r < kRows;) {
                      int64_t n = std::min<int64_t>(kRows - r, static_cast<int64_t>(rng() % 4'500));
                      ASSERT_TRUE(w->Write(batch_of(r, r + n)).ok());
                      r += n;
                    }
                  }),
            by_row);
  EXPECT_EQ(write("groups.parquet",
                  [&](Writer* w) {
                    ASSERT_TRUE(w->WriteRowGroups(batch_of(0, 4'000)).ok());  // two row groups
                    ASSERT_TRUE(w->WriteRowGroups(batch_of(4'000, 6'000)).ok());
                    ASSERT_TRUE(w->WriteRowGroups(batch_of(6'000, 6'000)).ok());  // none
                    ASSERT_TRUE(w->WriteRowGroups(batch_of(6'000, kRows)).ok());
                  }),
            by_row);
  // Buffered rows end their row group before a WriteRowGroups batch.
  const std::string mixed = write("mixed.parquet", [&](Writer* w) {
    ASSERT_TRUE(w->Write(batch_of(0, 500)).ok());
    ASSERT_TRUE(w->WriteRowGroups(batch_of(500, kRows)).ok());
  });
  std::vector<int64_t> groups;
  for (const auto& g : Footer(dir.path() + "/mixed.parquet").row_groups) groups.push_back(g.num_rows);
  EXPECT_EQ(groups, (std::vector<int64_t>{500, 2'000, 2'000, 2'000, 1'000}));
  auto all = ReadFile(dir.path() + "/mixed.parquet");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->rows(), kRows);
  for (int64_t r : {int64_t{0}, int64_t{499}, int64_t{500}, int64_t{2'499}, int64_t{2'500}, kRows - 1})
    EXPECT_EQ(all->GetRow(r), MakeRow(r)) << r;
}

// A dictionary of many entries (its table grows many times) keeps first-seen order and
// maps every row back to its value; 0.0 and -0.0 stay two entries.
TEST(ParquetTest, LargeDictionariesMapEveryRowBack) {
  test::ScratchDir dir("vigil_parquet");
  const std::string path = dir.path() + "/d.parquet";
  WriterOptions o;
  o.dictionary_max_bytes = int64_t{64} << 20;
  Schema schema({{"s", Type::kString}, {"i", Type::kInt64}, {"d", Type::kDouble}});
  const int64_t kRows = 300'000;
  auto row_of = [](int64_t r) {
    const int64_t k = (r * 7919) % 120'001;  // every value about 2.5 times, scattered
    return Row{Value::String("v" + std::to_string(k)), Value::Int64(k << 20),
               Value::Double(k % 2 ? -0.0 : (k % 4 ? 0.0 : static_cast<double>(k) / 3))};
  };
  ColumnBatch b = ColumnBatch::Empty(schema);
  for (int64_t r = 0; r < kRows; ++r) b.AppendRow(row_of(r));
  ASSERT_TRUE(WriteBatchFile(path, schema, o, b).ok());
  internal::FileMetaData md = Footer(path);
  ASSERT_EQ(md.row_groups.size(), 1u);
  for (const auto& c : md.row_groups[0].columns) {
    const auto& enc = c.meta_data->encodings;
    EXPECT_NE(std::find(enc.begin(), enc.end(), internal::kRleDictionary), enc.end());
  }
  auto all = ReadFile(path);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->rows(), kRows);
  for (int64_t r = 0; r < kRows; ++r) {
    Row got = all->GetRow(r), want = row_of(r);
    ASSERT_EQ(got[0], want[0]) << r;
    ASSERT_EQ(got[1], want[1]) << r;
    ASSERT_EQ(std::signbit(got[2].dbl()), std::signbit(want[2].dbl())) << r;
    ASSERT_EQ(got[2].dbl(), want[2].dbl()) << r;
  }
}

// A string column read from dictionary pages carries each row's dictionary entry:
// equal codes for equal values, across pages, and a chunk's own dictionary per row group.
// A column written PLAIN (its dictionary too large) has none.
TEST(ParquetTest, DictionaryCodesNameEachRowsEntry) {
  test::ScratchDir dir("vigil_parquet");
  const std::string path = dir.path() + "/c.parquet";
  WriterOptions o;
  o.page_bytes = 256;       // many pages per chunk
  o.row_group_rows = 1000;  // and several chunks
  o.dictionary_max_bytes = 4000;
  Schema schema({{"key", Type::kString}, {"unique", Type::kString}});
  ColumnBatch b = ColumnBatch::Empty(schema);
  const int64_t kRows = 2500;
  for (int64_t r = 0; r < kRows; ++r) {
    b.AppendRow({r % 7 == 3 ? Value::Null() : Value::String("entity-" + std::to_string((r * 31) % 97)),
                 Value::String("row number " + std::to_string(r))});
  }
  {
    auto w = Writer::Create(path, schema, o);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->WriteRowGroups(b).ok());
    ASSERT_TRUE((*w)->Close().ok());
  }
  auto r = Reader::Open(path);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ((*r)->row_groups().size(), 3u);
  int64_t row = 0;
  for (int g = 0; g < 3; ++g) {
    auto got = (*r)->ReadRowGroup(g);
    ASSERT_TRUE(got.ok());
    const Column& key = got->columns[0];
    ASSERT_EQ(key.codes.size(), key.size()) << "row group " << g;
    std::map<uint32_t, std::string> value_of;
    std::set<std::string> values;
    for (size_t i = 0; i < key.size(); ++i, ++row) {
      ASSERT_EQ(key.Get(i), b.columns[0].Get(static_cast<size_t>(row)));
      if (key.is_null(i)) continue;
      ASSERT_LT(key.codes[i], key.dictionary_entries);
      auto [it, fresh] = value_of.emplace(key.codes[i], std::string(key.str(i)));
      EXPECT_EQ(it->second, key.str(i)) << "two values under code " << key.codes[i];
      values.insert(std::string(key.str(i)));
    }
    EXPECT_EQ(value_of.size(), values.size()) << "one value under two codes";
    EXPECT_EQ(key.dictionary_entries, values.size());
    EXPECT_NE(got->columns[1].codes.size(), got->columns[1].size()) << "a PLAIN column has no codes";
    // Appending leaves the codes behind: they no longer describe the column.
    Column more = key;
    more.AppendString("x");
    EXPECT_NE(more.codes.size(), more.size());
  }
  EXPECT_EQ(row, kRows);
}

TEST(ParquetTest, AppendStringMatchesAppendOfAStringValue) {
  Column a, b;
  a.type = b.type = Type::kString;
  a.Clear();
  b.Clear();
  for (std::string_view s : {"x", "", "longer than the small string buffer of std::string"}) {
    a.AppendString(s);
    b.Append(Value::String(std::string(s)));
  }
  b.Append(Value::Null());
  a.Append(Value::Null());
  a.AppendString("after a null");
  b.Append(Value::String("after a null"));
  EXPECT_EQ(a.valid, b.valid);
  EXPECT_EQ(a.bytes, b.bytes);
  EXPECT_EQ(a.offsets, b.offsets);
  ASSERT_EQ(a.size(), 5u);
  EXPECT_EQ(a.str(2), "longer than the small string buffer of std::string");
  EXPECT_EQ(a.str(4), "after a null");
  EXPECT_TRUE(a.is_null(3));
}

TEST(ParquetTest, DictionaryFallsBackToPlainWhenTooLarge) {
  test::ScratchDir dir("vigil_parquet");
  const std::string path = dir.path() + "/f.parquet";
  WriterOptions o;
  o.dictionary_max_bytes = 1000;
  Schema schema({{"few", Type::kString}, {"many", Type::kInt64}});
  auto w = Writer::Create(path, schema, o);
  ASSERT_TRUE(w.ok());
  for (int64_t i = 0; i < 5000; ++i) {
    ASSERT_TRUE((*w)->WriteRow({Value::String(i % 2 ? "a" : "b"), Value::Int64(i)}).ok());
  }
  ASSERT_TRUE((*w)->Close().ok());
  internal::FileMetaData md = Footer(path);
  ASSERT_EQ(md.row_groups.size(), 1u);
  const auto& few = md.row_groups[0].columns[0].meta_data->encodings;
  const auto& many = md.row_groups[0].columns[1].meta_data->encodings;
  EXPECT_NE(std::find(few.begin(), few.end(), internal::kRleDictionary), few.end());
  EXPECT_EQ(std::find(many.begin(), many.end(), internal::kRleDictionary), many.end());
  auto all = ReadFile(path);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->GetRow(4999), (Row{Value::String("a"), Value::Int64(4999)}));
}

// Columns without nulls take the writer's fixed-width paths (pages sized by arithmetic,
// PLAIN values copied as a block); a chunk whose first 4096 values are all distinct is
// written PLAIN as soon as, at that rate, its dictionary would outgrow the limit, even
// though the chunk's distinct values would have fit (they repeat after the first 4096).
// Every value reads back.
TEST(ParquetTest, ColumnsWithoutNullsAndTheDictionaryProbe) {
  test::ScratchDir dir("vigil_parquet");
  const std::string path = dir.path() + "/n.parquet";
  WriterOptions o;
  o.page_bytes = 4096;                // about 500 rows of 65 bits a page
  o.dictionary_max_bytes = 64 << 10;  // 4096 doubles are 32 KiB; 20000 would be 160 KiB
  Schema schema({{"few", Type::kInt64},
                 {"distinct", Type::kDouble},
                 {"ts", Type::kTimestamp},
                 {"key", Type::kString},
                 {"flag", Type::kBool}});
  const int64_t kRows = 20'000;
  auto row_of = [](int64_t r) {
    const int64_t d = r % 4096;
    return Row{Value::Int64(r % 5), Value::Double(static_cast<double>(d) * 0.37 + std::sin(d)),
               Value::Timestamp(1'700'000'000'000 + r * 997), Value::String("k" + std::to_string(r / 10)),
               Value::Bool(r % 3 == 0)};
  };
  ColumnBatch b = ColumnBatch::Empty(schema);
  for (int64_t r = 0; r < kRows; ++r) b.AppendRow(row_of(r));
  for (bool dictionary : {true, false}) {
    o.dictionary = dictionary;
    ASSERT_TRUE(WriteBatchFile(path, schema, o, b).ok());
    internal::FileMetaData md = Footer(path);
    ASSERT_EQ(md.row_groups.size(), 1u);
    auto dict_encoded = [&](size_t c) {
      const auto& enc = md.row_groups[0].columns[c].meta_data->encodings;
      return std::find(enc.begin(), enc.end(), internal::kRleDictionary) != enc.end();
    };
    EXPECT_EQ(dict_encoded(0), dictionary);
    EXPECT_FALSE(dict_encoded(1)) << "the first 4096 values all distinct";
    EXPECT_FALSE(dict_encoded(2)) << "every value distinct";
    EXPECT_EQ(dict_encoded(3), dictionary) << "2000 keys of about 9 bytes fit";
    auto all = ReadFile(path);
    ASSERT_TRUE(all.ok()) << all.status().ToString();
    ASSERT_EQ(all->rows(), kRows);
    for (int64_t r = 0; r < kRows; ++r) ASSERT_EQ(all->GetRow(r), row_of(r)) << r;
  }
}

// A writer told not to sync (its caller syncs many files at once) writes the same bytes.
TEST(ParquetTest, AWriterThatDoesNotSyncWritesTheSameFile) {
  test::ScratchDir dir("vigil_parquet");
  ColumnBatch b = ColumnBatch::Empty(AllTypes());
  for (int64_t r = 0; r < 2500; ++r) b.AppendRow(MakeRow(r));
  std::string bytes[2];
  for (bool sync : {true, false}) {
    WriterOptions o;
    o.sync = sync;
    o.row_group_rows = 1000;
    const std::string path = dir.path() + (sync ? "/s.parquet" : "/n.parquet");
    ASSERT_TRUE(WriteBatchFile(path, AllTypes(), o, b).ok());
    EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
    auto read = ReadFile(path);
    ASSERT_TRUE(read.ok()) << read.status().ToString();
    ASSERT_EQ(read->rows(), 2500);
    std::ifstream in(path, std::ios::binary);
    bytes[sync ? 0 : 1].assign(std::istreambuf_iterator<char>(in), {});
  }
  EXPECT_EQ(bytes[0], bytes[1]);
}

TEST(ParquetTest, WriterRejectsBadSchemasAndRemovesItsTempFile) {
  test::ScratchDir dir("vigil_parquet");
  const std::string path = dir.path() + "/w.parquet";
  EXPECT_TRUE(Writer::Create(path, Schema()).status().IsInvalidArgument());
  EXPECT_TRUE(Writer::Create(path, Schema({{"a", Type::kNull}})).status().IsInvalidArgument());
  EXPECT_TRUE(
      Writer::Create(path, Schema({{"a", Type::kInt64}, {"a", Type::kBool}})).status().IsInvalidArgument());
  {
    auto w = Writer::Create(path, Schema({{"a", Type::kInt64}}));
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->WriteRow({Value::Int64(1)}).ok());
    EXPECT_TRUE((*w)->WriteRow({Value::String("x")}).IsInvalidArgument());
    EXPECT_TRUE(std::filesystem::exists(path + ".tmp"));
  }
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(ParquetTest, CorruptFilesAreCorruptionNamingTheFile) {
  test::ScratchDir dir("vigil_parquet");
  const std::string path = dir.path() + "/c.parquet";
  Spit(path, "PAR1");
  auto r = Reader::Open(path);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
  EXPECT_NE(r.status().message().find(path), std::string::npos) << r.status().ToString();
  Spit(path, std::string(100, 'x'));
  r = Reader::Open(path);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsCorruption());
  EXPECT_TRUE(Reader::Open(dir.path() + "/missing.parquet").status().code() == Status::Code::kIOError);
}

// ---------------------------------------------------------------------------------------
// Files vigil does not write but must read (as other writers make them): REQUIRED columns,
// INT32 / UINT_32, FLOAT, TIMESTAMP MICROS / NANOS, DATA_PAGE_V2 (compressed or not), a
// dictionary with PLAIN_DICTIONARY pages then a PLAIN fallback page in the same chunk.

namespace pi = internal;

struct CraftedPage {
  pi::PageHeader h;    // type and sub-header; the sizes are filled in
  std::string levels;  // DATA_PAGE_V2 only: the (never compressed) levels
  std::string values;  // the rest, compressed with the chunk's codec unless V2 says not
};
struct CraftedChunk {
  explicit CraftedChunk(pi::SchemaElement el, int32_t c = pi::kCodecUncompressed)
      : e(std::move(el)), codec(c) {}
  pi::SchemaElement e;
  int32_t codec = pi::kCodecUncompressed;
  std::vector<CraftedPage> pages;
};

std::string CompressWith(int32_t codec, const std::string& in) {
  std::string out;
  if (codec == pi::kCodecSnappy) {
    snappy::Compress(in.data(), in.size(), &out);
  } else if (codec == pi::kCodecZstd) {
    out.resize(ZSTD_compressBound(in.size()));
    out.resize(ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 1));
  } else {
    out = in;
  }
  return out;
}

std::string CraftFile(const std::vector<CraftedChunk>& chunks, int64_t rows, bool nested_root = false) {
  std::string f = "PAR1";
  pi::FileMetaData md;
  md.num_rows = rows;
  pi::SchemaElement root;
  root.name = "schema";
  root.num_children = static_cast<int32_t>(chunks.size());
  md.schema.push_back(root);
  pi::RowGroup g;
  g.num_rows = rows;
  for (const CraftedChunk& c : chunks) {
    md.schema.push_back(c.e);
    if (nested_root) md.schema.back().num_children = 0;
    pi::ColumnChunk cc;
    pi::ColumnMetaData& cm = cc.meta_data.emplace();
    cm.type = *c.e.type;
    cm.path_in_schema = {c.e.name};
    cm.codec = c.codec;
    cm.num_values = rows;
    cm.encodings = {pi::kPlain, pi::kRle};
    const int64_t start = static_cast<int64_t>(f.size());
    bool have_data = false;
    for (CraftedPage p : c.pages) {
      const bool compress = !(p.h.data_page_header_v2 && !p.h.data_page_header_v2->is_compressed);
      std::string body = compress ? CompressWith(c.codec, p.values) : p.values;
      p.h.uncompressed_page_size = static_cast<int32_t>(p.levels.size() + p.values.size());
      p.h.compressed_page_size = static_cast<int32_t>(p.levels.size() + body.size());
      if (p.h.type == pi::kDictionaryPage) {
        cm.dictionary_page_offset = static_cast<int64_t>(f.size());
      } else if (!have_data) {
        cm.data_page_offset = static_cast<int64_t>(f.size());
        have_data = true;
      }
      pi::SerializePageHeader(p.h, &f);
      f += p.levels + body;
    }
    cm.total_compressed_size = static_cast<int64_t>(f.size()) - start;
    cm.total_uncompressed_size = cm.total_compressed_size;
    cc.file_offset = start;
    g.columns.push_back(std::move(cc));
  }
  md.row_groups.push_back(std::move(g));
  std::string footer;
  pi::SerializeFileMetaData(md, &footer);
  f += footer;
  pi::AppendLE32(static_cast<uint32_t>(footer.size()), &f);
  return f + "PAR1";
}

pi::SchemaElement Elem(std::string name, int32_t type, int32_t repetition) {
  pi::SchemaElement e;
  e.name = std::move(name);
  e.type = type;
  e.repetition_type = repetition;
  return e;
}

CraftedPage V1(int32_t num_values, int32_t encoding, std::string values,
               const std::vector<uint32_t>* defs = nullptr) {
  CraftedPage p;
  p.h.type = pi::kDataPage;
  auto& d = p.h.data_page_header.emplace();
  d.num_values = num_values;
  d.encoding = encoding;
  d.definition_level_encoding = pi::kRle;
  d.repetition_level_encoding = pi::kRle;
  if (defs != nullptr) {
    std::string lv;
    AppendRleHybrid(*defs, 1, &lv);
    pi::AppendLE32(static_cast<uint32_t>(lv.size()), &p.values);
    p.values += lv;
  }
  p.values += values;
  return p;
}

CraftedPage V2(int32_t num_values, int32_t num_nulls, std::string values, const std::vector<uint32_t>* defs,
               bool is_compressed) {
  CraftedPage p;
  p.h.type = pi::kDataPageV2;
  auto& d = p.h.data_page_header_v2.emplace();
  d.num_values = num_values;
  d.num_nulls = num_nulls;
  d.num_rows = num_values;
  d.encoding = pi::kPlain;
  d.is_compressed = is_compressed;
  if (defs != nullptr) AppendRleHybrid(*defs, 1, &p.levels);
  d.definition_levels_byte_length = static_cast<int32_t>(p.levels.size());
  p.values = std::move(values);
  return p;
}

std::string Int32s(std::initializer_list<int64_t> v) {
  std::string s;
  for (int64_t x : v) pi::AppendPlainInt32(static_cast<int32_t>(x), &s);
  return s;
}
std::string Int64s(std::initializer_list<int64_t> v) {
  std::string s;
  for (int64_t x : v) pi::AppendPlainInt64(x, &s);
  return s;
}

TEST(ParquetForeignFileTest, RequiredInt32FloatTimestampUnitsPageV2AndDictionaryFallback) {
  test::ScratchDir dir("vigil_parquet");
  const std::string path = dir.path() + "/foreign.parquet";
  const std::vector<uint32_t> u_defs = {1, 1, 0, 1, 1, 1}, t_defs = {1, 0, 1, 1, 1, 1};
  const std::vector<uint32_t> s_defs1 = {1, 0, 1}, s_defs2 = {1, 1, 1};
  std::vector<CraftedChunk> chunks;

  CraftedChunk a{Elem("a", pi::kInt32, pi::kRequired)};
  a.pages.push_back(V1(6, pi::kPlain, Int32s({1, -2, 3, 2147483647, -2147483648LL, 0})));
  chunks.push_back(a);

  CraftedChunk u{Elem("u", pi::kInt32, pi::kOptional), pi::kCodecSnappy};
  u.e.converted_type = pi::kConvertedUint32;
  u.pages.push_back(V1(6, pi::kPlain, Int32s({4294967295LL, 1, 7, 8, 9}), &u_defs));
  chunks.push_back(u);

  CraftedChunk f{Elem("f", pi::kFloat, pi::kRequired), pi::kCodecSnappy};
  std::string floats;
  for (float x : {1.5f, -0.25f, 3e38f, 0.1f, 0.0f, -7.0f})
    floats.append(reinterpret_cast<const char*>(&x), 4);
  f.pages.push_back(V2(6, 0, floats, nullptr, true));
  chunks.push_back(f);

  CraftedChunk tus{Elem("tus", pi::kInt64, pi::kOptional), pi::kCodecZstd};
  tus.e.logical_type.emplace();
  tus.e.logical_type->kind = pi::kLogicalTimestamp;
  tus.e.logical_type->unit = pi::kMicros;
  tus.pages.push_back(V2(6, 1, Int64s({-1500, 2500, -1000, 1700000000000123, 0}), &t_defs, true));
  chunks.push_back(tus);

  CraftedChunk tns{Elem("tns", pi::kInt64, pi::kRequired), pi::kCodecSnappy};
  tns.e.logical_type.emplace();
  tns.e.logical_type->kind = pi::kLogicalTimestamp;
  tns.e.logical_type->adjusted_to_utc = true;
  tns.e.logical_type->unit = pi::kNanos;
  tns.pages.push_back(V2(6, 0, Int64s({-1, 1, 999999, 1000000, -1000000, -1000001}), nullptr, false));
  chunks.push_back(tns);

  CraftedChunk s{Elem("s", pi::kByteArray, pi::kOptional), pi::kCodecSnappy};
  CraftedPage dict;
  dict.h.type = pi::kDictionaryPage;
  dict.h.dictionary_page_header.emplace().num_values = 2;
  dict.h.dictionary_page_header->encoding = pi::kPlainDictionary;
  pi::AppendPlainByteArray("x", &dict.values);
  pi::AppendPlainByteArray("yy", &dict.values);
  s.pages.push_back(dict);
  std::string idx = "\x01";
  AppendRleHybrid(std::vector<uint32_t>{1, 0}, 1, &idx);
  s.pages.push_back(V1(3, pi::kPlainDictionary, idx, &s_defs1));
  std::string plain;
  for (const char* v : {"p", "", "q"}) pi::AppendPlainByteArray(v, &plain);
  s.pages.push_back(V1(3, pi::kPlain, plain, &s_defs2));  // the fallback, mid-chunk
  chunks.push_back(s);

  CraftedChunk dec{Elem("dec", pi::kInt64, pi::kOptional)};
  dec.e.converted_type = pi::kConvertedDecimal;
  dec.e.scale = 2;
  dec.e.precision = 10;
  std::vector<uint32_t> all(6, 1);
  dec.pages.push_back(V1(6, pi::kPlain, Int64s({1, 2, 3, 4, 5, 6}), &all));
  chunks.push_back(dec);

  Spit(path, CraftFile(chunks, 6));
  auto r = Reader::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Schema& schema = (*r)->schema();
  ASSERT_EQ(schema.size(), 7u);
  const Type want_types[] = {Type::kInt64,     Type::kInt64,  Type::kDouble, Type::kTimestamp,
                             Type::kTimestamp, Type::kString, Type::kNull};
  for (size_t c = 0; c < 7; ++c) EXPECT_EQ(schema.field(c).type, want_types[c]) << schema.field(c).name;

  // All columns: the DECIMAL one cannot be read.
  auto bad = (*r)->ReadRowGroup(0);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsInvalidArgument()) << bad.status().ToString();
  EXPECT_NE(bad.status().message().find("'dec'"), std::string::npos) << bad.status().ToString();
  EXPECT_NE(bad.status().message().find(path), std::string::npos);

  const int cols[] = {0, 1, 2, 3, 4, 5};
  auto b = (*r)->ReadRowGroup(0, cols);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ASSERT_EQ(b->rows(), 6);
  auto I = [](int64_t v) { return Value::Int64(v); };
  auto T = [](int64_t v) { return Value::Timestamp(v); };
  auto S = [](const char* v) { return Value::String(v); };
  const std::vector<Row> want = {
      {I(1), I(4294967295LL), Value::Double(1.5), T(-2), T(-1), S("yy")},
      {I(-2), I(1), Value::Double(-0.25), Value(), T(0), Value()},
      {I(3), Value(), Value::Double(3e38f), T(2), T(0), S("x")},
      {I(2147483647), I(7), Value::Double(0.1f), T(-1), T(1), S("p")},
      {I(-2147483648LL), I(8), Value::Double(0.0f), T(1700000000000), T(-1), S("")},
      {I(0), I(9), Value::Double(-7.0), T(0), T(-2), S("q")},
  };
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(b->GetRow(i), want[i]) << "row " << i;
  // A chunk that falls back to PLAIN mid-way has no dictionary codes.
  EXPECT_NE(b->columns[5].codes.size(), b->columns[5].size());

  // Another codec than the three: InvalidArgument naming it.
  chunks.erase(chunks.begin() + 1, chunks.end());
  chunks[0].codec = pi::kCodecLz4;
  Spit(path, CraftFile(chunks, 6));
  auto lz4 = ReadFile(path);
  ASSERT_FALSE(lz4.ok());
  EXPECT_TRUE(lz4.status().IsInvalidArgument()) << lz4.status().ToString();
  EXPECT_NE(lz4.status().message().find("LZ4"), std::string::npos) << lz4.status().ToString();

  // A nested schema (a group column) fails Open with InvalidArgument.
  chunks[0].codec = pi::kCodecUncompressed;
  std::string nested = CraftFile(chunks, 6);
  {
    // Rewrite the footer: the column becomes a group with one child.
    uint32_t len = pi::LoadLE32(nested.data() + nested.size() - 8);
    pi::FileMetaData md;
    ASSERT_TRUE(
        pi::ParseFileMetaData(std::string_view(nested).substr(nested.size() - 8 - len, len), &md).ok());
    pi::SchemaElement group;
    group.name = "g";
    group.num_children = 1;
    md.schema[0].num_children = 1;
    md.schema.insert(md.schema.begin() + 1, group);
    std::string body = nested.substr(0, nested.size() - 8 - len), footer;
    pi::SerializeFileMetaData(md, &footer);
    body += footer;
    pi::AppendLE32(static_cast<uint32_t>(footer.size()), &body);
    Spit(path, body + "PAR1");
  }
  auto n = Reader::Open(path);
  ASSERT_FALSE(n.ok());
  EXPECT_TRUE(n.status().IsInvalidArgument()) << n.status().ToString();
}

// ---------------------------------------------------------------------------------------
// Thrift compact protocol

TEST(ParquetThriftTest, FileMetaDataRoundTrip) {
  internal::FileMetaData md;
  md.version = 1;
  md.num_rows = 1234567890123;
  md.created_by = "vigil";
  md.key_value_metadata = {{"k", std::string("v")}, {"novalue", std::nullopt}};
  internal::SchemaElement root;
  root.name = "schema";
  root.num_children = 1;
  internal::SchemaElement col;
  col.name = "ts";
  col.type = internal::kInt64;
  col.repetition_type = internal::kOptional;
  col.converted_type = internal::kConvertedTimestampMillis;
  col.logical_type.emplace();
  col.logical_type->kind = internal::kLogicalTimestamp;
  col.logical_type->adjusted_to_utc = true;
  col.logical_type->unit = internal::kNanos;
  md.schema = {root, col};
  internal::RowGroup g;
  g.num_rows = md.num_rows;
  g.total_byte_size = 99;
  g.ordinal = 3;
  internal::ColumnChunk cc;
  cc.file_offset = 4;
  auto& cm = cc.meta_data.emplace();
  cm.type = internal::kInt64;
  cm.encodings.assign(20, internal::kRle);  // a list longer than 14: the long list header
  cm.path_in_schema = {"ts"};
  cm.codec = internal::kCodecZstd;
  cm.num_values = md.num_rows;
  cm.total_compressed_size = 1LL << 40;
  cm.total_uncompressed_size = -5;
  cm.data_page_offset = 4;
  cm.dictionary_page_offset = 300;  // field 11 after 9: delta 2
  cm.statistics.emplace();
  cm.statistics->min_value = std::string("\x00\x01", 2);
  cm.statistics->null_count = 0;
  g.columns = {cc};
  md.row_groups = {g, g};
  md.type_defined_column_orders = true;

  std::string bytes;
  internal::SerializeFileMetaData(md, &bytes);
  internal::FileMetaData back;
  ASSERT_TRUE(internal::ParseFileMetaData(bytes, &back).ok());
  EXPECT_EQ(back.num_rows, md.num_rows);
  EXPECT_EQ(back.created_by, md.created_by);
  ASSERT_EQ(back.key_value_metadata.size(), 2u);
  EXPECT_EQ(back.key_value_metadata[1].key, "novalue");
  EXPECT_FALSE(back.key_value_metadata[1].value.has_value());
  ASSERT_EQ(back.schema.size(), 2u);
  EXPECT_EQ(back.schema[1].name, "ts");
  EXPECT_EQ(back.schema[1].logical_type->unit, internal::kNanos);
  EXPECT_TRUE(back.schema[1].logical_type->adjusted_to_utc);
  ASSERT_EQ(back.row_groups.size(), 2u);
  const auto& bcm = *back.row_groups[1].columns[0].meta_data;
  EXPECT_EQ(bcm.encodings.size(), 20u);
  EXPECT_EQ(bcm.total_compressed_size, 1LL << 40);
  EXPECT_EQ(bcm.total_uncompressed_size, -5);
  EXPECT_EQ(bcm.dictionary_page_offset, 300);
  EXPECT_EQ(bcm.statistics->min_value, std::string("\x00\x01", 2));
  EXPECT_FALSE(bcm.statistics->max_value.has_value());
  EXPECT_EQ(back.row_groups[1].ordinal, 3);

  // Every proper prefix is an error, never a crash.
  for (size_t n = 0; n < bytes.size(); ++n) {
    internal::FileMetaData x;
    EXPECT_FALSE(internal::ParseFileMetaData(std::string_view(bytes).substr(0, n), &x).ok()) << n;
  }
}

TEST(ParquetThriftTest, UnknownFieldsOfEveryTypeAreSkipped) {
  internal::PageHeader h;
  h.type = internal::kDataPage;
  h.uncompressed_page_size = 100;
  h.compressed_page_size = 50;
  h.data_page_header.emplace().num_values = 7;
  std::string bytes;
  internal::SerializePageHeader(h, &bytes);
  ASSERT_EQ(bytes.back(), 0);
  bytes.pop_back();  // reopen the struct and append unknown fields (long-form headers)
  using namespace std::string_literals;
  std::string extra;
  extra += "\x01\xc8\x01"s;                               // id 100 bool true
  extra += "\x06\xca\x01\x80\x02"s;                       // id 101 i64 128
  extra += "\x07\xcc\x01"s + std::string(8, '\x01');      // id 102 double
  extra += "\x08\xce\x01\x03"s + "abc";                   // id 103 binary
  extra += "\x09\xd0\x01\x35\x02\x04\x06"s;               // id 104 list<i32> of 3
  extra += "\x09\xd2\x01\x21\x01\x02"s;                   // id 105 list<bool> of 2
  extra += "\x0b\xd4\x01\x02\x58\x02\x01x\x04\x01y"s;     // id 106 map<i32,binary> of 2
  extra += "\x0c\xd6\x01\x15\x02\x1c\x18\x01z\x00\x00"s;  // id 107 struct{1:i32, 2:struct{1:binary}}
  extra += "\x0b\xd8\x01\x00"s;                           // id 108 empty map
  bytes += extra;
  bytes += '\0';
  internal::PageHeader back;
  size_t consumed = 0;
  Status st = internal::ParsePageHeader(bytes + "trailing", &back, &consumed);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(consumed, bytes.size());
  EXPECT_EQ(back.data_page_header->num_values, 7);
  EXPECT_EQ(back.compressed_page_size, 50);

  // Nesting deeper than the limit is corrupt, not a stack overflow.
  std::string deep;
  internal::SerializePageHeader(h, &deep);
  deep.pop_back();
  deep += "\x0c\xda\x01"s;
  for (int i = 0; i < 10000; ++i) deep += "\x1c";
  EXPECT_TRUE(internal::ParsePageHeader(deep, &back, &consumed).IsCorruption());
  // A list claiming more elements than bytes left.
  std::string huge;
  internal::SerializePageHeader(h, &huge);
  huge.pop_back();
  huge += "\x09\xdc\x01\xf5\xff\xff\xff\xff\x0f"s;
  EXPECT_TRUE(internal::ParsePageHeader(huge, &back, &consumed).IsCorruption());
}

// ---------------------------------------------------------------------------------------
// RLE / bit-packed hybrid

std::vector<uint32_t> RoundTrip(const std::vector<uint32_t>& v, int width, std::string* encoded = nullptr) {
  std::string e;
  AppendRleHybrid(v, width, &e);
  std::vector<uint32_t> back;
  size_t consumed = 0;
  Status st = DecodeRleHybrid(e, width, v.size(), &back, &consumed);
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(consumed, e.size());
  if (encoded) *encoded = e;
  return back;
}

TEST(ParquetRleTest, EdgeCases) {
  std::string e;
  EXPECT_TRUE(RoundTrip({}, 1, &e).empty());
  EXPECT_TRUE(e.empty());
  // The header comment's example.
  std::vector<uint32_t> v = {1, 1, 1, 1, 1, 1, 1, 1, 1, 0};
  EXPECT_EQ(RoundTrip(v, 1, &e), v);
  EXPECT_EQ(e, std::string("\x12\x01\x03\x00", 4));
  for (size_t n : {1, 7, 8, 9, 15, 16, 17, 1000}) {
    std::vector<uint32_t> same(n, 5), alt(n);
    for (size_t i = 0; i < n; ++i) alt[i] = i % 2;
    EXPECT_EQ(RoundTrip(same, 3), same) << n;
    EXPECT_EQ(RoundTrip(alt, 1), alt) << n;
  }
  // Literals that must be topped up from a run before the run starts.
  std::vector<uint32_t> mixed = {1, 2, 3, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 4};
  EXPECT_EQ(RoundTrip(mixed, 3), mixed);
  std::vector<uint32_t> wide = {0xFFFFFFFFu, 0,           0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu,
                                0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 1};
  EXPECT_EQ(RoundTrip(wide, 32), wide);
  std::vector<uint32_t> zeros(20, 0);
  EXPECT_EQ(RoundTrip(zeros, 0), zeros);
  std::mt19937 rng(3);
  for (int width : {1, 2, 5, 8, 13, 20, 31}) {
    std::vector<uint32_t> rnd(997);
    for (auto& x : rnd) x = (rng() % 4 == 0 ? 1 : rng()) & ((1u << width) - 1);
    EXPECT_EQ(RoundTrip(rnd, width), rnd) << width;
  }

  std::vector<uint32_t> out;
  // Runs longer than needed are fine; data shorter than needed is not.
  EXPECT_TRUE(DecodeRleHybrid(std::string("\x64\x01", 2), 1, 10, &out).ok());  // run of 50
  EXPECT_EQ(out, std::vector<uint32_t>(10, 1));
  EXPECT_TRUE(DecodeRleHybrid(std::string("\x14\x01", 2), 1, 11, &out).IsCorruption());  // run of 10 < 11
  EXPECT_TRUE(DecodeRleHybrid(std::string("\x05\xff", 2), 8, 16, &out).IsCorruption());  // 2 groups, 1 byte
  EXPECT_TRUE(DecodeRleHybrid(std::string("\x02\x05", 2), 2, 1, &out).IsCorruption());   // 5 >= 2^2
  EXPECT_TRUE(DecodeRleHybrid(std::string("\x02", 1), 16, 1, &out).IsCorruption());      // value cut short
  EXPECT_TRUE(DecodeRleHybrid(std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11), 1, 1, &out)
                  .IsCorruption());
  EXPECT_TRUE(DecodeRleHybrid("", 33, 1, &out).IsCorruption());
  // A bit-packed run whose header claims 2^60 groups.
  EXPECT_TRUE(
      DecodeRleHybrid(std::string("\x81\x80\x80\x80\x80\x80\x80\x80\x20", 9), 1, 8, &out).IsCorruption());
}

// ---------------------------------------------------------------------------------------
// Fuzz: mutated files are errors or results, never crashes (run under ASan + UBSan).

// Opens and reads every row group; returns whether everything succeeded.
bool TryRead(const std::string& path) {
  auto r = Reader::Open(path);
  if (!r.ok()) {
    EXPECT_FALSE(r.status().message().empty());
    return false;
  }
  bool ok = true;
  for (size_t g = 0; g < (*r)->row_groups().size(); ++g) {
    auto b = (*r)->ReadRowGroup(static_cast<int>(g));
    if (!b.ok()) {
      ok = false;
      continue;
    }
    for (const Column& c : b->columns) {  // the batch must be self-consistent
      EXPECT_EQ(static_cast<int64_t>(c.size()), b->rows());
      if (c.type == Type::kString) {
        EXPECT_EQ(c.offsets.size(), c.size() + 1);
        EXPECT_LE(c.offsets.back(), c.bytes.size());
      }
    }
    (*r)->MayContain(static_cast<int>(g), 0, Value::Int64(1), Value::Int64(2));
  }
  return ok;
}

std::string WriteFuzzSeed(const std::string& path, Compression c, bool dict, int rows) {
  WriterOptions o;
  o.compression = c;
  o.dictionary = dict;
  o.row_group_rows = std::max(1, rows / 2);
  o.page_bytes = 64;
  auto w = Writer::Create(path, AllTypes(), o);
  EXPECT_TRUE(w.ok());
  for (int r = 0; r < rows; ++r) EXPECT_TRUE((*w)->WriteRow(MakeRow(r)).ok());
  EXPECT_TRUE((*w)->Close().ok());
  return Slurp(path);
}

TEST(ParquetFuzzTest, MutatedFilesNeverCrash) {
  test::ScratchDir dir("vigil_parquet_fuzz");
  // Mutants go to memory when it can (tmpfs): thousands of file rewrites on a busy disk
  // would dominate the test's time.
  const bool shm = std::filesystem::is_directory("/dev/shm");
  const std::string mutant = shm ? "/dev/shm/vigil_parquet_fuzz_" + std::to_string(::getpid()) + ".parquet"
                                 : dir.path() + "/m.parquet";
  struct Cleanup {
    std::string path;
    ~Cleanup() { std::remove(path.c_str()); }
  } cleanup{mutant};
  const auto start = std::chrono::steady_clock::now();
  int mutants = 0, readable = 0;

  // Every truncation of a small file.
  std::string small = WriteFuzzSeed(dir.path() + "/small.parquet", Compression::kSnappy, true, 12);
  for (size_t n = 0; n < small.size(); ++n) {
    Spit(mutant, std::string_view(small).substr(0, n));
    EXPECT_FALSE(TryRead(mutant)) << "truncated to " << n;
    ++mutants;
  }

  struct Seed {
    Compression c;
    bool dict;
  };
  std::mt19937_64 rng(20240611);
  for (Seed s :
       {Seed{Compression::kUncompressed, true}, Seed{Compression::kUncompressed, false},
        Seed{Compression::kSnappy, true}, Seed{Compression::kZstd, false}, Seed{Compression::kZstd, true}}) {
    const std::string seed = WriteFuzzSeed(dir.path() + "/seed.parquet", s.c, s.dict, 40);
    ASSERT_TRUE(TryRead(dir.path() + "/seed.parquet"));
    const size_t footer_len = internal::LoadLE32(seed.data() + seed.size() - 8);
    const size_t footer_start = seed.size() - 8 - footer_len;
    for (int i = 0; i < 2000; ++i) {
      std::string m = seed;
      // Half the mutations hit the footer, where the lengths and offsets live.
      auto pos = [&] {
        return rng() % 2 ? footer_start + rng() % (footer_len + 8) : static_cast<size_t>(rng() % m.size());
      };
      const int kind = static_cast<int>(rng() % 5);
      const int edits = 1 + static_cast<int>(rng() % 3);
      for (int e = 0; e < edits; ++e) {
        size_t p = pos();
        if (p >= m.size()) p = m.size() - 1;
        switch (kind) {
          case 0:
            m[p] = static_cast<char>(m[p] ^ (1 << (rng() % 8)));
            break;  // bit flip
          case 1:
            m[p] = static_cast<char>(rng());
            break;  // byte
          case 2:
            m.insert(m.begin() + static_cast<ptrdiff_t>(p), static_cast<char>(rng()));
            break;
          case 3:
            m.erase(p, 1 + rng() % 4);
            break;
          case 4: {  // a varint length or count made large or negative
            static const char* kBig[] = {"\xff\xff\xff\xff\x0f", "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01",
                                         "\xfe\xff\xff\xff\x07", "\x01"};
            const char* b = kBig[rng() % 4];
            m.replace(p, std::min<size_t>(1 + rng() % 3, m.size() - p), b);
            break;
          }
        }
        if (m.empty()) m = "x";
      }
      Spit(mutant, m);
      readable += TryRead(mutant) ? 1 : 0;
      ++mutants;
    }
  }
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("[fuzz] %d mutants, %d fully readable, %.1f s\n", mutants, readable, secs);
  EXPECT_LT(readable, mutants);
}

}  // namespace parquet_test
}  // namespace vigil::parquet
