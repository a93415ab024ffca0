// The Parquet codec against DuckDB, both ways (DESIGN.md §6; src/schema/parquet.h):
//
//  * vigil writes every type with nulls, dictionary and plain columns, several row groups
//    and pages, for each codec; DuckDB (tools/node/parquet_check.mjs) reads it back and
//    every value, the filtered counts (which DuckDB answers with the help of vigil's
//    min/max statistics, so wrong statistics drop rows) and the footer's codec and
//    encodings are compared with what was written.
//  * DuckDB writes BIGINT, INTEGER, DOUBLE, REAL, VARCHAR, BOOLEAN, TIMESTAMP,
//    TIMESTAMP_MS and TIMESTAMP_NS with nulls and several row groups, per codec and with
//    all defaults (DuckDB 1.5 writes DATA_PAGE v1 pages, PLAIN or PLAIN_DICTIONARY with a
//    dictionary page, SNAPPY); vigil's Reader reads it and the values equal what DuckDB reports from
//    its own table (timestamps floored to ms).
//  * `vigil ingest` accepts a DuckDB-written Parquet file, rejecting bad rows by row number.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "e2e_util.h"
#include "schema/parquet.h"
#include "schema/parquet_encoding.h"
#include "schema/parquet_thrift.h"

namespace vigil::e2e {
namespace parquet_duckdb_test {

using parquet::Compression;

// Runs the statements in one DuckDB session; the last one's rows as JSON.
nlohmann::json DuckDb(const std::vector<std::string>& sql) {
  std::vector<std::string> argv = {"node", SourceDir() + "/tools/node/parquet_check.mjs"};
  argv.insert(argv.end(), sql.begin(), sql.end());
  CommandResult r = RunCommand(ShellJoin(argv), 120);
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_TRUE(j.is_array()) << "not a JSON array: " << r.out.substr(0, 500);
  return j.is_array() ? j : nlohmann::json::array();
}

std::string SqlString(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

// A value from parquet_check.mjs as a vigil Value of type t (BIGINTs arrive as strings).
Value FromJson(const nlohmann::json& j, Type t) {
  if (j.is_null()) return Value();
  switch (t) {
    case Type::kInt64:
      return Value::Int64(j.is_string() ? std::stoll(j.get<std::string>()) : j.get<int64_t>());
    case Type::kTimestamp:
      return Value::Timestamp(j.is_string() ? std::stoll(j.get<std::string>()) : j.get<int64_t>());
    case Type::kDouble:
      return Value::Double(j.get<double>());
    case Type::kString:
      return Value::String(j.get<std::string>());
    case Type::kBool:
      return Value::Bool(j.get<bool>());
    case Type::kNull:
      break;
  }
  return Value();
}

// ---------------------------------------------------------------------------------------
// vigil writes, DuckDB reads

Schema WrittenSchema() {
  return Schema({{"id", Type::kInt64},
                 {"i", Type::kInt64},
                 {"d", Type::kDouble},
                 {"s_dict", Type::kString},
                 {"s_plain", Type::kString},
                 {"b", Type::kBool},
                 {"t", Type::kTimestamp}});
}

Row WrittenRow(int64_t r) {
  Row row(7);
  row[0] = Value::Int64(r);
  if (r % 7 != 3) {
    row[1] = Value::Int64(r == 10   ? std::numeric_limits<int64_t>::min()
                          : r == 20 ? std::numeric_limits<int64_t>::max()
                                    : (r % 97) * 1'000'003 - 40'000'000);
  }
  if (r % 5 != 1) {
    row[2] = Value::Double(r == 30 ? 1e300 : (r == 40 ? -2.5e-300 : static_cast<double>(r) * 0.1 - 77.7));
  }
  if (r % 9 != 4)
    row[3] = Value::String(r % 13 == 0 ? "" : "cat-" + std::to_string(r % 11) + " \xc3\xa9'\",");
  if (r % 10 != 5) row[4] = Value::String("u" + std::to_string(r * 7919) + std::string(r % 40, 'z'));
  if (r % 4 != 2) row[5] = Value::Bool(r % 3 == 0);
  if (r % 6 != 5) row[6] = Value::Timestamp(-86'400'000 + r * 3'600'123);  // from 1969-12-31
  return row;
}

class ParquetVigilWrites : public ::testing::TestWithParam<Compression> {};

TEST_P(ParquetVigilWrites, DuckDbReadsEveryValue) {
  TempDir tmp("vigil-parquet");
  const std::string path = tmp.Path("v.parquet");
  parquet::WriterOptions o;
  o.compression = GetParam();
  o.row_group_rows = 700;
  o.page_bytes = 2048;
  o.dictionary_max_bytes = 4000;  // s_dict fits, s_plain and i do not: PLAIN
  const int64_t kRows = 3000;
  auto w = parquet::Writer::Create(path, WrittenSchema(), o);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  std::vector<Row> rows;
  for (int64_t r = 0; r < kRows; ++r) {
    rows.push_back(WrittenRow(r));
    ASSERT_TRUE((*w)->WriteRow(rows.back()).ok());
  }
  ASSERT_TRUE((*w)->Close().ok());
  const std::string src = "read_parquet(" + SqlString(path) + ")";

  nlohmann::json got =
      DuckDb({"SELECT id, i, d, s_dict, s_plain, b, epoch_ms(t) AS t FROM " + src + " ORDER BY id"});
  ASSERT_EQ(got.size(), static_cast<size_t>(kRows));
  int mismatches = 0;
  const Schema schema = WrittenSchema();
  for (int64_t r = 0; r < kRows; ++r) {
    for (size_t c = 0; c < schema.size(); ++c) {
      Value v = FromJson(got[r][schema.field(c).name], schema.field(c).type);
      if (v != rows[r][c] && ++mismatches <= 10) {
        ADD_FAILURE() << "row " << r << " column " << schema.field(c).name << ": DuckDB read "
                      << v.DebugString() << ", vigil wrote " << rows[r][c].DebugString();
      }
    }
  }
  EXPECT_EQ(mismatches, 0);

  // Filtered counts: DuckDB prunes row groups by vigil's statistics, so a wrong min or max
  // loses rows here.
  struct Filter {
    std::string where;
    std::function<bool(const Row&)> pred;
  };
  const int64_t t_lo = -86'400'000 + int64_t{1000} * 3'600'123, t_hi = t_lo + int64_t{500} * 3'600'123;
  std::vector<Filter> filters = {
      {"i BETWEEN -1000000 AND 30000000",
       [](const Row& r) { return !r[1].is_null() && r[1].int64() >= -1000000 && r[1].int64() <= 30000000; }},
      {"i = 9223372036854775807",
       [](const Row& r) { return r[1] == Value::Int64(std::numeric_limits<int64_t>::max()); }},
      {"d > 200", [](const Row& r) { return !r[2].is_null() && r[2].dbl() > 200; }},
      {"s_dict = 'cat-3 é''\",'", [](const Row& r) { return r[3] == Value::String("cat-3 \xc3\xa9'\","); }},
      {"s_plain >= 'u7' AND s_plain < 'u8'",
       [](const Row& r) { return !r[4].is_null() && r[4].str() >= "u7" && r[4].str() < "u8"; }},
      {"b", [](const Row& r) { return r[5] == Value::Bool(true); }},
      {"epoch_ms(t) BETWEEN " + std::to_string(t_lo) + " AND " + std::to_string(t_hi),
       [&](const Row& r) { return !r[6].is_null() && r[6].int64() >= t_lo && r[6].int64() <= t_hi; }},
      {"t IS NULL", [](const Row& r) { return r[6].is_null(); }},
  };
  std::string sql = "SELECT ";
  for (size_t f = 0; f < filters.size(); ++f) {
    sql += (f ? ", " : "") + std::string("(SELECT count(*) FROM ") + src + " WHERE " + filters[f].where +
           ") AS c" + std::to_string(f);
  }
  nlohmann::json counts = DuckDb({sql});
  ASSERT_EQ(counts.size(), 1u);
  for (size_t f = 0; f < filters.size(); ++f) {
    int64_t want = std::count_if(rows.begin(), rows.end(), filters[f].pred);
    EXPECT_GT(want, 0) << filters[f].where;
    EXPECT_EQ(std::stoll(counts[0]["c" + std::to_string(f)].get<std::string>()), want) << filters[f].where;
  }

  // The footer as DuckDB sees it: 5 row groups, the codec, the encodings, the types.
  nlohmann::json meta =
      DuckDb({"SELECT row_group_id AS g, path_in_schema AS col, compression, encodings, "
              "stats_null_count AS nulls FROM parquet_metadata(" +
              SqlString(path) + ")"});
  const std::string codec = GetParam() == Compression::kUncompressed ? "UNCOMPRESSED"
                            : GetParam() == Compression::kSnappy     ? "SNAPPY"
                                                                     : "ZSTD";
  std::set<std::string> groups;
  for (const auto& m : meta) {
    groups.insert(m["g"].get<std::string>());
    EXPECT_EQ(m["compression"], codec);
    const std::string col = m["col"].get<std::string>();
    const std::string enc = m["encodings"].get<std::string>();
    const bool dict = enc.find("RLE_DICTIONARY") != std::string::npos;
    // s_dict and i have few distinct values; s_plain's exceed dictionary_max_bytes; id, d
    // and t have 700 distinct values (5.6 KB) in full row groups, 200 in the last one.
    const bool want_dict = col == "s_dict" || col == "i" ||
                           ((col == "id" || col == "d" || col == "t") && m["g"].get<std::string>() == "4");
    EXPECT_EQ(dict, want_dict) << "row group " << m["g"] << " column " << col << ": " << enc;
  }
  EXPECT_EQ(groups.size(), 5u);
  nlohmann::json types = DuckDb({"SELECT name, type, converted_type, logical_type FROM parquet_schema(" +
                                 SqlString(path) + ") WHERE name IN ('t', 's_dict')"});
  ASSERT_EQ(types.size(), 2u);
  for (const auto& t : types) {
    if (t["name"] == "t") {
      EXPECT_EQ(t["converted_type"], "TIMESTAMP_MILLIS");
      EXPECT_NE(t["logical_type"].get<std::string>().find("isAdjustedToUTC=1"), std::string::npos)
          << t.dump();
    } else {
      EXPECT_EQ(t["converted_type"], "UTF8");
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Parquet, ParquetVigilWrites,
                         ::testing::Values(Compression::kUncompressed, Compression::kSnappy,
                                           Compression::kZstd),
                         [](const auto& info) { return std::string(parquet::CompressionName(info.param)); });

// ---------------------------------------------------------------------------------------
// DuckDB writes, vigil reads

const char* kCreateTable = R"sql(
CREATE TABLE t (id BIGINT NOT NULL, big BIGINT, small INTEGER, dbl DOUBLE, real_col REAL, s_dict VARCHAR,
                s_plain VARCHAR, flag BOOLEAN, ts TIMESTAMP, ts_ms TIMESTAMP_MS, ts_ns TIMESTAMP_NS);
INSERT INTO t SELECT
  i,
  CASE WHEN i % 7 = 3 THEN NULL WHEN i = 10 THEN -9223372036854775808 WHEN i = 20 THEN 9223372036854775807
       ELSE (i * 2654435761) % 1000003 - 500000 END,
  CASE WHEN i % 5 = 1 THEN NULL WHEN i = 11 THEN -2147483648 WHEN i = 21 THEN 2147483647 ELSE (i % 100) - 50 END,
  CASE WHEN i % 6 = 2 THEN NULL ELSE i * 0.37 - 900 END,
  CASE WHEN i % 8 = 0 THEN NULL ELSE ((i % 3) / 7)::REAL END,
  CASE WHEN i % 9 = 4 THEN NULL WHEN i % 13 = 0 THEN '' ELSE 'k' || (i % 37) || ' é' END,
  CASE WHEN i % 10 = 5 THEN NULL ELSE md5(i::VARCHAR) || repeat('x', i % 50) END,
  CASE WHEN i % 4 = 2 THEN NULL ELSE i % 3 = 0 END,
  CASE WHEN i % 11 = 6 THEN NULL ELSE TIMESTAMP '1969-12-31 23:00:00' + INTERVAL (i * 1234567) MICROSECOND END,
  CASE WHEN i % 12 = 7 THEN NULL ELSE (TIMESTAMP '2024-01-01' + INTERVAL (i * 1001) MILLISECOND)::TIMESTAMP_MS END,
  CASE WHEN i % 14 = 9 THEN NULL ELSE make_timestamp_ns(i * 1234567891 - 5000000000) END
FROM range(5000) r(i)
)sql";

// Floor of x / d in DuckDB SQL for any sign (DuckDB's // and epoch_ms truncate toward 0).
std::string FloorDiv(const std::string& x, int64_t d) {
  const std::string ds = std::to_string(d);
  return "((" + x + " - ((" + x + " % " + ds + ") + " + ds + ") % " + ds + ") // " + ds + ")";
}

struct DuckCase {
  std::string name;
  std::string options;  // COPY options after FORMAT parquet
};

class ParquetDuckDbWrites : public ::testing::TestWithParam<DuckCase> {};

// The pages of every column chunk: their types and encodings, as a readable summary.
std::string PageSummary(const std::string& path) {
  std::string data = ReadFile(path);
  uint32_t len = parquet::internal::LoadLE32(data.data() + data.size() - 8);
  parquet::internal::FileMetaData md;
  EXPECT_TRUE(
      parquet::internal::ParseFileMetaData(std::string_view(data).substr(data.size() - 8 - len, len), &md)
          .ok());
  std::set<std::string> seen;
  for (const auto& g : md.row_groups) {
    for (const auto& c : g.columns) {
      const auto& cm = *c.meta_data;
      size_t pos = static_cast<size_t>(cm.dictionary_page_offset.value_or(cm.data_page_offset));
      const size_t end = pos + static_cast<size_t>(cm.total_compressed_size);
      while (pos < end) {
        parquet::internal::PageHeader h;
        size_t consumed = 0;
        if (!parquet::internal::ParsePageHeader(std::string_view(data).substr(pos), &h, &consumed).ok())
          break;
        std::string s = h.type == 0   ? "DATA_PAGE"
                        : h.type == 2 ? "DICTIONARY_PAGE"
                        : h.type == 3 ? "DATA_PAGE_V2"
                                      : "OTHER";
        if (h.data_page_header) s += "/enc" + std::to_string(h.data_page_header->encoding);
        if (h.data_page_header_v2) s += "/enc" + std::to_string(h.data_page_header_v2->encoding);
        seen.insert(s);
        pos += consumed + static_cast<size_t>(h.compressed_page_size);
      }
    }
  }
  std::string out;
  for (const auto& s : seen) out += (out.empty() ? "" : ", ") + s;
  return out;
}

TEST_P(ParquetDuckDbWrites, VigilReadsWhatDuckDbReports) {
  TempDir tmp("vigil-parquet");
  const std::string path = tmp.Path("d.parquet");
  std::string copy = "COPY (SELECT * FROM t ORDER BY id) TO " + SqlString(path) + " (FORMAT parquet" +
                     GetParam().options + ")";
  nlohmann::json want =
      DuckDb({kCreateTable, copy,
              "SELECT id, big, small, dbl, real_col::DOUBLE AS real_col, s_dict, s_plain, flag, " +
                  FloorDiv("epoch_us(ts)", 1000) + " AS ts, epoch_ms(ts_ms) AS ts_ms, " +
                  FloorDiv("epoch_ns(ts_ns)", 1000000) + " AS ts_ns FROM t ORDER BY id"});
  ASSERT_EQ(want.size(), 5000u);
  std::printf("[duckdb %s] pages: %s\n", GetParam().name.c_str(), PageSummary(path).c_str());

  auto reader = parquet::Reader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  const Schema expected({{"id", Type::kInt64},
                         {"big", Type::kInt64},
                         {"small", Type::kInt64},
                         {"dbl", Type::kDouble},
                         {"real_col", Type::kDouble},
                         {"s_dict", Type::kString},
                         {"s_plain", Type::kString},
                         {"flag", Type::kBool},
                         {"ts", Type::kTimestamp},
                         {"ts_ms", Type::kTimestamp},
                         {"ts_ns", Type::kTimestamp}});
  const Schema& schema = (*reader)->schema();
  ASSERT_EQ(schema.size(), expected.size());
  for (size_t c = 0; c < schema.size(); ++c) {
    EXPECT_EQ(schema.field(c).name, expected.field(c).name);
    EXPECT_EQ(schema.field(c).type, expected.field(c).type) << schema.field(c).name;
  }
  if (!GetParam().options.empty()) {
    EXPECT_GE((*reader)->row_groups().size(), 3u) << "ROW_GROUP_SIZE 1000 (DuckDB rounds it up to 2048 rows)";
  }

  auto batch = parquet::ReadFile(path);
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  ASSERT_EQ(batch->rows(), 5000);
  int mismatches = 0;
  for (int64_t r = 0; r < 5000; ++r) {
    for (size_t c = 0; c < schema.size(); ++c) {
      Value want_v = FromJson(want[r][schema.field(c).name], schema.field(c).type);
      Value got = batch->columns[c].Get(static_cast<size_t>(r));
      if (got != want_v && ++mismatches <= 10) {
        ADD_FAILURE() << "row " << r << " column " << schema.field(c).name << ": vigil read "
                      << got.DebugString() << ", DuckDB has " << want_v.DebugString();
      }
    }
  }
  EXPECT_EQ(mismatches, 0);

  // Statistics: per row group, vigil's min/max of id agree with the rows it read.
  int64_t first = 0;
  for (size_t g = 0; g < (*reader)->row_groups().size(); ++g) {
    const auto& info = (*reader)->row_groups()[g];
    ASSERT_TRUE(info.columns[0].has_min_max);
    EXPECT_EQ(info.columns[0].min, Value::Int64(first));
    EXPECT_EQ(info.columns[0].max, Value::Int64(first + info.rows - 1));
    EXPECT_FALSE((*reader)->MayContain(static_cast<int>(g), 0, Value::Int64(first + info.rows), Value()));
    first += info.rows;
  }
}

INSTANTIATE_TEST_SUITE_P(Parquet, ParquetDuckDbWrites,
                         ::testing::Values(DuckCase{"defaults", ""},
                                           DuckCase{"uncompressed",
                                                    ", COMPRESSION uncompressed, ROW_GROUP_SIZE 1000"},
                                           DuckCase{"snappy", ", COMPRESSION snappy, ROW_GROUP_SIZE 1000"},
                                           DuckCase{"zstd", ", COMPRESSION zstd, ROW_GROUP_SIZE 1000"}),
                         [](const auto& info) { return info.param.name; });

// DuckDB's PARQUET_VERSION V2 uses DELTA_* and BYTE_STREAM_SPLIT encodings, which vigil does
// not read: an InvalidArgument naming the file, the column and the encoding, not a crash.
TEST(ParquetDuckDbWritesV2, UnsupportedEncodingsAreInvalidArgument) {
  TempDir tmp("vigil-parquet");
  const std::string path = tmp.Path("v2.parquet");
  DuckDb({"CREATE TABLE t AS SELECT i::BIGINT AS id, i * 0.5 AS d FROM range(100) r(i)",
          "COPY t TO " + SqlString(path) + " (FORMAT parquet, PARQUET_VERSION V2)", "SELECT 1 AS ok"});
  std::printf("[duckdb v2] pages: %s\n", PageSummary(path).c_str());
  auto batch = parquet::ReadFile(path);
  ASSERT_FALSE(batch.ok());
  EXPECT_TRUE(batch.status().IsInvalidArgument()) << batch.status().ToString();
  EXPECT_NE(batch.status().message().find(path), std::string::npos) << batch.status().ToString();
  EXPECT_NE(batch.status().message().find("DELTA_BINARY_PACKED"), std::string::npos)
      << batch.status().ToString();
}

// ---------------------------------------------------------------------------------------
// vigil ingest of a DuckDB-written file

const char* kIngestDefinitions = R"yaml(
entities:
  user: {keys: [user_id]}
sources:
  events:
    timestamp: ts
    allowed_lateness: 1h
    schema: {user_id: string, amount: double, qty: int64}
feature_views:
  user_ev:
    entity: user
    source: events
    features:
      n_1d:       {agg: count, window: 1d}
      amount_1d:  {agg: sum, field: amount, window: 1d}
)yaml";

TEST(ParquetIngest, DuckDbWrittenFileIsIngestedAndBadRowsDeadLettered) {
  TempDir tmp("vigil-parquet-ingest");
  const std::string project = tmp.Path("p");
  WriteFile(project + "/definitions.yaml", kIngestDefinitions);
  const std::string file = tmp.Path("events.parquet");
  // 400 rows; row i (1-based i+1) has a null user_id when i % 50 == 7 and a far-future ts
  // when i == 123; qty is INTEGER (read as int64), amount DOUBLE, plus an ignored DECIMAL.
  nlohmann::json bad = DuckDb(
      {"CREATE TABLE e AS SELECT i, TIMESTAMP '2024-01-01' + INTERVAL (i * 61) SECOND + "
       "CASE WHEN i = 123 THEN INTERVAL 300 YEAR ELSE INTERVAL 0 SECOND END AS ts, "
       "CASE WHEN i % 50 = 7 THEN NULL ELSE 'u' || (i % 9) END AS user_id, i * 1.25::DOUBLE AS amount, "
       "(i % 5)::INTEGER AS qty, 1.5::DECIMAL(10,2) AS price FROM range(400) r(i)",
       "COPY (SELECT ts, user_id, amount, qty, price FROM e ORDER BY i) TO " + SqlString(file) +
           " (FORMAT parquet, ROW_GROUP_SIZE 128)",
       "SELECT i + 1 AS line FROM e WHERE i % 50 = 7 OR i = 123 ORDER BY i"});
  std::set<int64_t> bad_lines;
  for (const auto& b : bad) bad_lines.insert(std::stoll(b["line"].get<std::string>()));
  ASSERT_EQ(bad_lines.size(), 9u);

  CommandResult r = RunVigil(project, {"ingest", "events", file}, 120);
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_EQ(IngestCounts(r.out), (std::pair<int64_t, int64_t>(391, 9))) << r.out;
  EXPECT_EQ(ReadTopic(project, "events").size(), 391u);
  std::set<int64_t> dead_lines;
  for (const TopicRecord& rec : ReadTopic(project, "dlq.events")) {
    nlohmann::json j = nlohmann::json::parse(rec.payload, nullptr, false);
    ASSERT_TRUE(j.is_object()) << rec.payload;
    EXPECT_EQ(j["file"], file);
    dead_lines.insert(j["line"].get<int64_t>());
    const std::string reason = j["reason"].get<std::string>();
    EXPECT_TRUE(reason.find("user_id") != std::string::npos || reason.find("far-future") != std::string::npos)
        << reason;
    nlohmann::json raw = nlohmann::json::parse(j["raw"].get<std::string>(), nullptr, false);
    EXPECT_TRUE(raw.is_object() && raw.contains("ts") && raw.contains("user_id")) << j.dump();
  }
  EXPECT_EQ(dead_lines, bad_lines);

  // A column of the wrong type fails the whole file, naming the column.
  const std::string wrong = tmp.Path("wrong.parquet");
  DuckDb(
      {"COPY (SELECT TIMESTAMP '2024-01-01' AS ts, 'u1' AS user_id, 1.0::DOUBLE AS amount, 2.5::DOUBLE AS "
       "qty) TO " +
           SqlString(wrong) + " (FORMAT parquet)",
       "SELECT 1 AS ok"});
  r = RunVigil(project, {"ingest", "events", wrong}, 60);
  EXPECT_EQ(r.exit_code, 1) << r.Describe();
  EXPECT_NE(r.err.find("column 'qty' is double, the schema wants int64"), std::string::npos) << r.Describe();
}

}  // namespace parquet_duckdb_test
}  // namespace vigil::e2e
