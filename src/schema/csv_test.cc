#include "schema/csv.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace vigil {
namespace {

// Every record of `text`, read as strings, with the line each began on.
struct Record {
  std::vector<std::string> cells;
  std::vector<bool> quoted;
  int64_t line;
  bool operator==(const Record&) const = default;
};

std::vector<Record> ReadStrings(std::string_view text) {
  CsvReader csv(text);
  std::vector<Record> out;
  std::vector<std::string> cells;  // one vector for all records, as readers pass it
  std::vector<bool> quoted;
  for (;;) {
    auto more = csv.Next(&cells, &quoted);
    EXPECT_TRUE(more.ok()) << more.status().ToString();
    if (!more.ok() || !*more) return out;
    out.push_back({cells, quoted, csv.line()});
  }
}

std::vector<Record> ReadViews(std::string_view text) {
  CsvReader csv(text);
  std::vector<Record> out;
  std::vector<std::string_view> cells;
  std::vector<bool> quoted;
  for (;;) {
    auto more = csv.Next(&cells, &quoted);
    EXPECT_TRUE(more.ok()) << more.status().ToString();
    if (!more.ok() || !*more) return out;
    out.push_back({std::vector<std::string>(cells.begin(), cells.end()), quoted, csv.line()});
  }
}

TEST(CsvReaderTest, QuotesEscapesNewlinesBlankLinesAndCrlf) {
  const std::string text =
      "id,note,n\r\n"
      "\n"
      "a,\"x, y\",1\n"
      "b,\"say \"\"hi\"\"\",\"\"\n"
      "c,\"two\nlines\",\"\"\"\"\n"
      "\"d\",,3\r\n"
      "e,last-without-newline,\"q\"\"\"";
  const std::vector<Record> want = {
      {{"id", "note", "n"}, {false, false, false}, 1},
      {{"a", "x, y", "1"}, {false, true, false}, 3},
      {{"b", "say \"hi\"", ""}, {false, true, true}, 4},
      {{"c", "two\nlines", "\""}, {false, true, true}, 5},
      {{"d", "", "3"}, {true, false, false}, 7},
      {{"e", "last-without-newline", "q\""}, {false, false, true}, 8},
  };
  EXPECT_EQ(ReadStrings(text), want);
  EXPECT_EQ(ReadViews(text), want);
}

TEST(CsvReaderTest, ARecordWithFewerCellsThanTheOneBefore) {
  const std::vector<Record> want = {
      {{"a", "b", "c", "a long cell past the small string buffer"}, {false, false, false, false}, 1},
      {{"d"}, {false}, 2},
      {{"", ""}, {false, false}, 3},
  };
  const std::string text = "a,b,c,a long cell past the small string buffer\nd\n,\n";
  EXPECT_EQ(ReadStrings(text), want);
  EXPECT_EQ(ReadViews(text), want);
}

TEST(CsvReaderTest, EscapedCellsOfOneRecordKeepTheirOwnText) {
  // Two cells with "" escapes in one record: each view must hold its own text after the
  // reader's buffer grew for the second.
  std::string long_escaped = "\"";
  for (int i = 0; i < 200; ++i) long_escaped += "ab\"\"";
  long_escaped += "\"";
  const std::string text = "\"x\"\"\"," + long_escaped + ",plain\n";
  std::string want_long;
  for (int i = 0; i < 200; ++i) want_long += "ab\"";
  const std::vector<Record> want = {{{"x\"", want_long, "plain"}, {true, true, false}, 1}};
  EXPECT_EQ(ReadViews(text), want);
  EXPECT_EQ(ReadStrings(text), want);
}

TEST(CsvReaderTest, BadQuotesNameTheirLine) {
  for (const auto& [text, line] : {std::pair<std::string, std::string>{"a,b\nc,\"open\n\nstill", "line 2"},
                                   {"a\n\"x\"y,z\n", "line 2"}}) {
    CsvReader csv(text);
    std::vector<std::string_view> cells;
    auto first = csv.Next(&cells);
    ASSERT_TRUE(first.ok() && *first);
    auto second = csv.Next(&cells);
    ASSERT_FALSE(second.ok()) << text;
    EXPECT_TRUE(second.status().IsInvalidArgument());
    EXPECT_NE(second.status().message().find(line), std::string::npos) << second.status().ToString();
  }
}

}  // namespace
}  // namespace vigil
