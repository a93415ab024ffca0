#include "training/dataset.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "common/test_util.h"
#include "schema/parquet.h"

namespace vigil {
namespace {

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
}

TEST(LabelTableTest, RowsAddedKeepEveryCellAndTs) {
  LabelTable t;
  t.header = {"a", "b", "c"};
  const std::string long_cell(100, 'x');  // past the small-string buffer
  t.AddRow(std::vector<std::string>{"1", "", long_cell}, 10);
  const std::vector<std::string_view> wide = {"p", "q", "r", "s"};
  const size_t keep[] = {3, 0, 2};
  t.AddRow(wide, keep, 20);
  LabelTable copy;
  copy.header = t.header;
  copy.AddRowOf(t, 1);
  copy.AddRowOf(t, 0);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t.cell(0, 0), "1");
  EXPECT_EQ(t.cell(0, 1), "");
  EXPECT_EQ(t.cell(0, 2), long_cell);
  EXPECT_EQ(t.cell(1, 0), "s");
  EXPECT_EQ(t.cell(1, 1), "p");
  EXPECT_EQ(t.cell(1, 2), "r");
  EXPECT_EQ(t.ts, (std::vector<TimestampMs>{10, 20}));
  ASSERT_EQ(copy.size(), 2u);
  for (size_t c = 0; c < 3; ++c) {
    EXPECT_EQ(copy.cell(0, c), t.cell(1, c));
    EXPECT_EQ(copy.cell(1, c), t.cell(0, c));
  }
  EXPECT_EQ(copy.ts, (std::vector<TimestampMs>{20, 10}));
}

TEST(LabelTableTest, ReadsCsvAndParquetAlikeWithTheAskedColumns) {
  test::ScratchDir dir("vigil_labels");
  const std::string csv = dir.path() + "/l.csv";
  WriteText(csv,
            "id,user_id,ts,note\n"
            "e1,u1,2026-01-01T00:00:01Z,\"quoted, with comma\"\n"
            "e2,,1767225602000,\n");
  Schema schema({{"id", Type::kString}, {"user_id", Type::kString}, {"ts", Type::kInt64}, {"note", Type::kString}});
  const std::string pq = dir.path() + "/l.parquet";
  {
    auto w = parquet::Writer::Create(pq, schema);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->WriteRow({Value::String("e1"), Value::String("u1"), Value::Int64(1767225601000),
                                Value::String("quoted, with comma")})
                    .ok());
    ASSERT_TRUE((*w)->WriteRow({Value::String("e2"), Value::Null(), Value::Int64(1767225602000), Value::Null()}).ok());
    ASSERT_TRUE((*w)->Close().ok());
  }
  for (const std::string& path : {csv, pq}) {
    auto all = ReadLabelTable(path, "ts");
    ASSERT_TRUE(all.ok()) << path << ": " << all.status().ToString();
    EXPECT_EQ(all->header, (std::vector<std::string>{"id", "user_id", "ts", "note"}));
    ASSERT_EQ(all->size(), 2u);
    EXPECT_EQ(all->ts, (std::vector<TimestampMs>{1767225601000, 1767225602000}));
    EXPECT_EQ(all->cell(0, 3), "quoted, with comma");
    EXPECT_EQ(all->cell(1, 1), "");  // null: an empty cell
    auto some = ReadLabelTable(path, "ts", {"note", "id"});
    ASSERT_TRUE(some.ok()) << some.status().ToString();
    EXPECT_EQ(some->header, (std::vector<std::string>{"note", "id"}));
    EXPECT_EQ(some->cell(0, 0), "quoted, with comma");
    EXPECT_EQ(some->cell(1, 1), "e2");
    EXPECT_EQ(some->ts, all->ts);
    auto missing = ReadLabelTable(path, "ts", {"nope"});
    EXPECT_FALSE(missing.ok());
    EXPECT_NE(missing.status().message().find(path + ":1: no column 'nope'"), std::string::npos);
  }
}

TEST(LabelTableTest, BadRowsNameTheirLine) {
  test::ScratchDir dir("vigil_labels");
  const std::string path = dir.path() + "/bad.csv";
  WriteText(path, "id,ts\ne1,1000\ne2,not-a-time\n");
  auto bad_ts = ReadLabelTable(path, "ts");
  ASSERT_FALSE(bad_ts.ok());
  EXPECT_NE(bad_ts.status().message().find(path + ":3: column ts"), std::string::npos) << bad_ts.status().ToString();
  WriteText(path, "id,ts\ne1,1000\ne2\n");
  auto short_row = ReadLabelTable(path, "ts");
  ASSERT_FALSE(short_row.ok());
  EXPECT_NE(short_row.status().message().find(path + ":3: 1 cells, header has 2"), std::string::npos)
      << short_row.status().ToString();
}

}  // namespace
}  // namespace vigil
