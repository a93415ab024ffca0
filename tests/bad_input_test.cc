// Bad input, end to end: malformed events, bad definitions, bad command arguments.
//
// Events (DESIGN.md §4, §7; src/schema/event_decoder.h): a JSONL and a CSV file mix good
// events with every kind of bad record a producer emits. Ingest must not fail (exit 0),
// must count exactly, and must put every rejected record in dlq.<source> with a reason
// that names the field or the cause, its file and line, and its bytes exactly as in the
// file. What is accepted must compute exactly what a project fed only the good records
// computes: the same changelogs, the same point-in-time dataset.
//
// Definitions (DESIGN.md §3): several errors in two files are all reported at once with
// file:line and the offending text, and nothing runs. Commands (§7): `get` with an unknown
// view or a bad key, `dataset` with a label file lacking its ts column, exit 1 with a
// one-line reason.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "e2e_util.h"
#include "log/log.h"

namespace vigil::e2e {
namespace bad_input_test {

// 2024-01-01T00:00:00Z: in the past, so good events are never "far future".
constexpr int64_t kStart = 1'704'067'200'000;

const char* kDefinitions = R"yaml(
entities:
  user: {keys: [user_id]}
  pair: {keys: [user_id, shop]}      # composite: both fields are required in every event
sources:
  events:
    timestamp: ts
    allowed_lateness: 1h
    schema: {user_id: string, shop: string, qty: int64, amount: double, ok: bool, note: string}
feature_views:
  user_ev:
    entity: user
    source: events
    ttl: 1d
    features:
      n_1h:          {agg: count, window: 1h}
      qty_sum_1d:    {agg: sum, field: qty, window: 1d}
      amount_sum_1d: {agg: sum, field: amount, window: 1d}
      amount_max_1d: {agg: max, field: amount, window: 1d}
      amount_avg_1h: {agg: avg, field: amount, window: 1h}
      ok_1d:         {agg: count, window: 1d, where: "ok"}
      note_last:     {agg: last, field: note}
  pair_ev:
    entity: pair
    source: events
    features:
      n_1d:          {agg: count, window: 1d}
      amount_avg_1d: {agg: avg, field: amount, window: 1d}
      qty_min_1d:    {agg: min, field: qty, window: 1d}
)yaml";

const std::vector<std::string> kViews = {"user_ev", "pair_ev"};

// A record expected in the dead-letter topic.
struct Rejection {
  std::string file;                       // as given to `vigil ingest`
  int64_t line = 0;                       // 1-based line where the record starts
  std::string raw;                        // the record's bytes, without its line terminator
  std::vector<std::string> reason_terms;  // each must appear in the reason (any case)
};

// Builds an input file record by record, keeping the line numbers, the records expected
// in the dead-letter topic, and a copy holding only the good records (and the header).
class InputFile {
 public:
  explicit InputFile(std::string path) : path_(std::move(path)) {}

  void Header(const std::string& header) {
    Append(header, "\n");
    good_text_ += header + "\n";
  }
  void Good(const std::string& raw, const std::string& terminator = "\n") {
    good_text_ += raw + terminator;
    Append(raw, terminator);
    ++good_;
  }
  void Bad(const std::string& raw, std::vector<std::string> terms, const std::string& terminator = "\n") {
    rejections_.push_back({path_, line_, raw, std::move(terms)});
    Append(raw, terminator);
  }
  // A line that is neither an event nor a rejection.
  void Blank(const std::string& raw) { Append(raw, "\n"); }

  const std::string& path() const { return path_; }
  const std::string& text() const { return text_; }
  const std::string& good_text() const { return good_text_; }
  int64_t good() const { return good_; }
  const std::vector<Rejection>& rejections() const { return rejections_; }

 private:
  void Append(const std::string& raw, const std::string& terminator) {
    text_ += raw + terminator;
    line_ +=
        std::count(raw.begin(), raw.end(), '\n') + std::count(terminator.begin(), terminator.end(), '\n');
  }

  std::string path_;
  std::string text_;
  std::string good_text_;
  int64_t line_ = 1;
  int64_t good_ = 0;
  std::vector<Rejection> rejections_;
};

// Replaces every "{T}" in `pattern` by `ts`.
std::string At(std::string pattern, int64_t ts) {
  for (size_t p = pattern.find("{T}"); p != std::string::npos; p = pattern.find("{T}")) {
    pattern.replace(p, 3, std::to_string(ts));
  }
  return pattern;
}

// The good events: several users and shops, nulls, strings that need quoting, in time
// order (nothing is late).
struct GoodEvents {
  Rng rng{77};
  int64_t clock = kStart;
  const std::vector<std::string> notes = {"plain", "café", "with, comma", "a \"quote\"", "x"};

  int64_t Tick() { return clock += rng.Uniform(0, 7 * kMinute); }
  std::string User() { return "u" + std::to_string(rng.Uniform(0, 7)); }
  std::string Shop() { return "s" + std::to_string(rng.Uniform(0, 3)); }
  std::string Note() { return notes[static_cast<size_t>(rng.Uniform(0, 4))]; }

  std::string Json() {
    std::string line = "{\"ts\":" + std::to_string(Tick()) + ",\"user_id\":" + JsonString(User()) +
                       ",\"shop\":" + JsonString(Shop());
    if (!rng.Chance(0.1)) line += ",\"qty\":" + std::to_string(rng.Uniform(-5, 50));
    if (!rng.Chance(0.1)) {
      line += ",\"amount\":" + DoubleText(static_cast<double>(rng.Uniform(0, 100000)) / 100.0);
    }
    if (rng.Chance(0.1)) {
      line += ",\"ok\":null";
    } else {
      line += std::string(",\"ok\":") + (rng.Chance(0.7) ? "true" : "false");
    }
    if (!rng.Chance(0.1)) line += ",\"note\":" + JsonString(Note());
    return line + "}";
  }

  std::string Csv() {
    return CsvLine(
        {std::to_string(Tick()), User(), Shop(), rng.Chance(0.1) ? "" : std::to_string(rng.Uniform(-5, 50)),
         rng.Chance(0.1) ? "" : DoubleText(static_cast<double>(rng.Uniform(0, 100000)) / 100.0),
         rng.Chance(0.1) ? "" : (rng.Chance(0.7) ? "true" : "TRUE"), rng.Chance(0.1) ? "" : Note()});
  }
};

// Writes the bad JSONL file: good events with a bad record after every few.
InputFile MakeJsonl(const std::string& path, GoodEvents& g) {
  InputFile f(path);
  const std::string ten_mb(10 * 1024 * 1024, 'x');
  // {T} is a ts among the good events': accepted by mistake, the record would show.
  const std::vector<std::pair<std::string, std::vector<std::string>>> bad = {
      {R"({"ts":{T},"user_id":"u1","shop":"s1",)", {"JSON"}},  // cut off
      {R"({"ts":{T},"user_id":"u1","shop":"s1","qty":1.5})", {"qty", "int64"}},
      {R"({"ts":{T},"user_id":"u1","shop":"s1","amount":"12"})", {"amount", "double"}},
      {R"({"user_id":"u1","shop":"s1","qty":3})", {"ts", "missing"}},
      {R"({"ts":{T},"shop":"s1","qty":3})", {"user_id", "missing"}},
      {R"({"ts":{T},"user_id":"u1","qty":3})", {"shop", "missing"}},  // half a composite key
      {"{\"ts\":{T},\"user_id\":\"u\xff\xfeZ\",\"shop\":\"s1\"}", {"UTF-8"}},
      {R"({"ts":{T},"user_id":"u1","shop":"s1","note":")" + ten_mb + "\"}", {"limit"}},
      {R"({"ts":{T},"user_id":"u1","shop":"s1","amount":NaN})", {"amount"}},
      {R"({"ts":{T},"user_id":"u1","shop":"s1","amount":Infinity})", {"amount"}},
      {R"({"ts":{T},"user_id":"u1","shop":"s1","amount":-Infinity})", {"amount"}},
      {R"({"ts":{T},"user_id":"u1","shop":"s1","amount":1e400})", {"amount", "range"}},
      {R"({"ts":10413792000000,"user_id":"u1","shop":"s1","qty":1})", {"ts", "future"}},  // 2300
      {R"({"ts":"2300-01-01T00:00:00Z","user_id":"u1","shop":"s1","qty":1})", {"ts", "future"}},
      {R"({"ts":{T},"user_id":"u\u001f1","shop":"s1","qty":1})", {"user_id", "0x1f"}},
      {"{\"ts\":{T},\"user_id\":\"u1\",\"shop\":\"s\x1fZ\"}", {"JSON"}},  // unescaped: not JSON
      {R"({"ts":{T},"user_id":"u1","user_id":"u2","shop":"s1"})", {"user_id", "duplicate"}},
      {R"({"ts":{T},"user_id":7,"shop":"s1"})", {"user_id", "string"}},
      {R"({"ts":{T},"user_id":null,"shop":"s1"})", {"user_id", "null"}},
      {R"({"ts":"2024-01-01T00:00:00","user_id":"u1","shop":"s1"})", {"ts", "zone"}},
      {R"({"ts":{T},"user_id":"u1","shop":"s1","ok":"true"})", {"ok", "bool"}},
      {R"({"ts":{T},"user_id":"u1","shop":"s1"} {"ts":{T}})", {"after the object"}},
      {R"({"ts":{T},"user_id":"u1","shop":"s1"} trailing)", {"after the object"}},
      {R"({"ts":{T},"user_id":"u1","shop":"s1","qty":1e3})", {"qty", "int64"}},
      {R"({"ts":99999999999999999999,"user_id":"u1","shop":"s1"})", {"ts"}},
      {R"({"ts":true,"user_id":"u1","shop":"s1"})", {"ts"}},
      {"[1,2]", {"object"}},
  };
  for (int i = 0; i < 5; ++i) f.Good(g.Json());
  for (size_t b = 0; b < bad.size(); ++b) {
    f.Bad(At(bad[b].first, g.clock), bad[b].second);
    for (int i = 0; i < 6; ++i) f.Good(g.Json());
    if (b == 3) f.Blank("   ");  // blank lines are skipped, not rejected
  }
  return f;
}

// Writes the bad CSV file.
InputFile MakeCsv(const std::string& path, GoodEvents& g) {
  InputFile f(path);
  f.Header("ts,user_id,shop,qty,amount,ok,note");
  const std::string two_mb(2 * 1024 * 1024, 'y');
  const std::vector<std::pair<std::string, std::vector<std::string>>> bad = {
      {"{T},u1,s1,1.5,2.5,true,x", {"qty", "int64"}},
      {"{T},u1,s1,1,12abc,true,x", {"amount", "double"}},
      {"{T},u1,s1,1,nan,true,x", {"amount"}},
      {"{T},u1,s1,1,inf,true,x", {"amount"}},
      {"{T},u1,s1,1,1e400,true,x", {"amount", "range"}},
      {",u1,s1,1,2,true,x", {"ts"}},
      {"{T},,s1,1,2,true,x", {"user_id"}},
      {"{T},u1,,1,2,true,x", {"shop"}},
      {"{T},u1,s1,1,2,maybe,x", {"ok", "bool"}},
      {"{T},u1,s1,1,2,true", {"cells"}},
      {"{T},u1,s1,1,2,true,bad\xff\xfe", {"UTF-8"}},
      {"{T},u1,s\"1,1,2,true,x", {"shop", "quote"}},
      {"\"2300-01-01T00:00:00Z\",u1,s1,1,2,true,x", {"ts", "future"}},
      {"{T},a\x1fz,s1,1,2,true,x", {"user_id", "0x1f"}},
      {"{T},u1,s1,1,2,true," + two_mb, {"limit"}},
      {"2024-01-01T00:00:00,u1,s1,1,2,true,x", {"ts", "zone"}},
      {"{T}.0,u1,s1,1,2,true,x", {"ts"}},
      {"{T},u1,s1,9223372036854775808,2,true,x", {"qty", "range"}},
  };
  for (int i = 0; i < 5; ++i) f.Good(g.Csv());
  for (size_t b = 0; b < bad.size(); ++b) {
    f.Bad(At(bad[b].first, g.clock), bad[b].second);
    for (int i = 0; i < 5; ++i) f.Good(g.Csv());
    if (b == 2) {
      // A good record over three lines: the line numbers after it must still be right.
      f.Good(CsvLine(
          {std::to_string(g.Tick()), "u2", "s2", "4", "1.25", "false", "two\nline breaks\nin a note"}));
      f.Good(g.Csv(), "\r\n");  // CRLF ends a record too
      f.Blank("");
    }
  }
  f.Bad(At("{T},u1,s1,x,2,true,x", g.clock), {"qty"}, "\r\n");  // its raw has no CR
  for (int i = 0; i < 3; ++i) f.Good(g.Csv());
  // Last, without a line break: a quote that never closes swallows the rest of the file.
  f.Bad(At("{T},u1,s1,1,2,true,\"never closed", g.clock), {"note", "closed"}, "");
  return f;
}

// ---------------------------------------------------------------------------------------
// Driving vigil.

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool HexDecode(const std::string& hex, std::string* out) {
  if (hex.size() % 2 != 0) return false;
  out->clear();
  for (size_t i = 0; i < hex.size(); i += 2) {
    int v = 0;
    for (size_t k = i; k < i + 2; ++k) {
      char c = hex[k];
      int d = c >= '0' && c <= '9'   ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                     : -1;
      if (d < 0) return false;
      v = v * 16 + d;
    }
    out->push_back(static_cast<char>(v));
  }
  return true;
}

// Short, printable form of possibly huge or binary bytes, for failure messages.
std::string Show(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < std::min<size_t>(s.size(), 120); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (s.size() > 120) out += "... (" + std::to_string(s.size()) + " bytes)";
  return out;
}

// Every expected rejection is in dlq.events exactly once, with its file, line, a reason
// naming the cause, and the original bytes; nothing else is there.
void ExpectDeadLetters(const std::string& project, const std::vector<Rejection>& want) {
  struct Letter {
    std::string reason;
    std::string raw;
    int copies = 0;
  };
  std::map<std::pair<std::string, int64_t>, Letter> got;
  for (const TopicRecord& r : ReadTopic(project, "dlq.events")) {
    nlohmann::json j = nlohmann::json::parse(r.payload, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "a dead letter is not JSON: " << Show(r.payload);
    ASSERT_TRUE(j.contains("reason") && j["reason"].is_string()) << Show(r.payload);
    ASSERT_TRUE(j.contains("file") && j["file"].is_string()) << Show(r.payload);
    ASSERT_TRUE(j.contains("line") && j["line"].is_number_integer()) << Show(r.payload);
    Letter& l = got[{j["file"].get<std::string>(), j["line"].get<int64_t>()}];
    ++l.copies;
    l.reason = j["reason"].get<std::string>();
    if (j.contains("raw") && j["raw"].is_string()) {
      l.raw = j["raw"].get<std::string>();
    } else if (j.contains("raw_hex") && j["raw_hex"].is_string()) {
      EXPECT_TRUE(HexDecode(j["raw_hex"].get<std::string>(), &l.raw)) << Show(r.payload);
    } else {
      ADD_FAILURE() << "a dead letter without raw or raw_hex: " << Show(r.payload);
    }
  }
  std::set<std::pair<std::string, int64_t>> expected;
  for (const Rejection& w : want) {
    expected.insert({w.file, w.line});
    SCOPED_TRACE(w.file + ":" + std::to_string(w.line) + " " + Show(w.raw));
    auto it = got.find({w.file, w.line});
    if (it == got.end()) {
      ADD_FAILURE() << "no dead letter for this record";
      continue;
    }
    const Letter& l = it->second;
    EXPECT_EQ(l.copies, 1) << "written " << l.copies << " times";
    for (const std::string& term : w.reason_terms) {
      EXPECT_NE(Lower(l.reason).find(Lower(term)), std::string::npos)
          << "the reason does not name '" << term << "': " << l.reason;
    }
    EXPECT_TRUE(l.raw == w.raw) << "raw bytes not preserved: the dead letter holds " << Show(l.raw)
                                << " (reason: " << l.reason << ")";
  }
  for (const auto& [where, l] : got) {
    EXPECT_TRUE(expected.count(where))
        << "unexpected dead letter " << where.first << ":" << where.second << ": " << l.reason;
  }
}

void ExpectIngest(const std::string& project, const std::string& file, int64_t accepted, int64_t rejected) {
  CommandResult r = RunVigil(project, {"ingest", "events", file}, 60);
  ASSERT_EQ(r.exit_code, 0) << "bad records must not fail the ingest: " << r.Describe();
  EXPECT_EQ(IngestCounts(r.out), std::make_pair(accepted, rejected))
      << "ingest " << file << " printed: " << r.out;
}

void StreamUntilCaughtUp(const std::string& project) {
  CommandResult r = RunVigil(project, {"stream", "--until-caught-up"}, 60);
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_NE(r.out.find("(0 late"), std::string::npos) << "no event is late here: " << r.out;
}

std::string Changelog(const std::string& project, const std::string& view) {
  CommandResult r = RunVigil(project, {"changelog", view}, 60);
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  return r.out;
}

std::string MakeProject(const TempDir& tmp, const std::string& name) {
  std::string dir = tmp.Path(name);
  WriteFile(dir + "/definitions.yaml", kDefinitions);
  return dir;
}

// True if `s` is exactly one non-empty line ending in a line break.
bool OneLine(const std::string& s) {
  return s.size() > 1 && s.back() == '\n' && std::count(s.begin(), s.end(), '\n') == 1;
}

// The 1-based line of the first occurrence of `needle` in `text`.
int LineOf(const std::string& text, const std::string& needle) {
  size_t at = text.find(needle);
  if (at == std::string::npos) {
    ADD_FAILURE() << "'" << needle << "' not in the text";
    return 0;
  }
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n'));
}

// ---------------------------------------------------------------------------------------

TEST(BadInput, RejectedEventsGoToTheDeadLetterTopicAndChangeNothing) {
  TempDir tmp("vigil-bad");
  const std::string data = tmp.Path("data");
  const std::string mixed = MakeProject(tmp, "mixed");
  const std::string clean = MakeProject(tmp, "clean");
  GoodEvents g;
  InputFile jsonl = MakeJsonl(data + "/events.jsonl", g);
  InputFile csv = MakeCsv(data + "/events.csv", g);
  WriteFile(jsonl.path(), jsonl.text());
  WriteFile(csv.path(), csv.text());
  WriteFile(data + "/good.jsonl", jsonl.good_text());
  WriteFile(data + "/good.csv", csv.good_text());

  ExpectIngest(mixed, jsonl.path(), jsonl.good(), static_cast<int64_t>(jsonl.rejections().size()));
  ExpectIngest(mixed, csv.path(), csv.good(), static_cast<int64_t>(csv.rejections().size()));
  std::vector<Rejection> all = jsonl.rejections();
  all.insert(all.end(), csv.rejections().begin(), csv.rejections().end());
  ExpectDeadLetters(mixed, all);

  ExpectIngest(clean, data + "/good.jsonl", jsonl.good(), 0);
  ExpectIngest(clean, data + "/good.csv", csv.good(), 0);
  StreamUntilCaughtUp(mixed);
  StreamUntilCaughtUp(clean);

  for (const std::string& view : kViews) {
    SCOPED_TRACE("view " + view);
    const std::string a = Changelog(mixed, view);
    const std::string b = Changelog(clean, view);
    EXPECT_GT(std::count(b.begin(), b.end(), '\n'), 50) << "too few rows to compare:\n" << b;
    EXPECT_EQ(a, b) << "accepted events computed differently from the good ones alone:\n"
                    << CsvMatches(a, b).message();
  }

  // The same point-in-time dataset from both.
  Rng rng(5);
  std::string labels = "shop,user_id,ts,label\n";
  for (int i = 0; i < 200; ++i) {
    labels += "s" + std::to_string(rng.Uniform(0, 3)) + ",u" + std::to_string(rng.Uniform(0, 8)) + "," +
              std::to_string(rng.Uniform(kStart, g.clock + 2 * 60 * kMinute)) + "," +
              std::to_string(rng.Uniform(0, 1)) + "\n";
  }
  WriteFile(data + "/labels.csv", labels);
  for (const std::string& project : {mixed, clean}) {
    CommandResult r = RunVigil(project,
                               {"dataset", "--labels", data + "/labels.csv", "--features", "user_ev,pair_ev",
                                "--out", project + "/train.csv"},
                               60);
    ASSERT_EQ(r.exit_code, 0) << r.Describe();
  }
  const std::string a = ReadFile(mixed + "/train.csv");
  const std::string b = ReadFile(clean + "/train.csv");
  auto rows = ParseCsv(b);
  ASSERT_EQ(rows.size(), 201u);
  const auto& header = rows[0];
  const size_t n_col =
      static_cast<size_t>(std::find(header.begin(), header.end(), "user_ev__qty_sum_1d") - header.begin());
  ASSERT_LT(n_col, header.size()) << CsvLine(header);
  int nonzero = 0;
  for (size_t i = 1; i < rows.size(); ++i) nonzero += rows[i][n_col] != "0" && !rows[i][n_col].empty();
  EXPECT_GT(nonzero, 50) << "the labels should mostly see events";
  EXPECT_EQ(a, b) << CsvMatches(a, b).message();
}

TEST(BadInput, BadDefinitionsAreAllReportedWithFileAndLine) {
  TempDir tmp("vigil-bad");
  const std::string project = tmp.Path("project");
  const std::string defs = R"yaml(entities:
  user: {keys: [user_id]}
sources:
  events:
    timestamp: ts
    allowed_lateness: 5 parsecs
    schema:
      user_id: string
      amount: double
      kind: strng
feature_views:
  v:
    entity: usr
    source: events
    features:
      a: {agg: median, field: amount, window: 1h}
      b: {agg: sum, field: nope, window: 1h}
      c: {agg: count, window: 1h, where: "amount >"}
      d: {agg: count, window: -5m}
      e: {agg: sum, field: user_id, window: 1h}
      f: {agg: count, window: 1h, where: "amount + 1"}
)yaml";
  const std::string more = R"yaml(feature_views:
  w:
    entity: user
    source: events
    ttl: 1h
    features:
      n: {agg: count, window: 2h}
      m: {agg: count, windw: 1h}
  x:
    entity: user
    source: clicks
    features:
      n: {agg: count}
)yaml";
  WriteFile(project + "/defs.yaml", defs);
  WriteFile(project + "/vigil.yaml", "log: {partitions: 1}\n");  // one watermark per source
  WriteFile(project + "/more.yaml", more);
  WriteFile(tmp.Path("events.jsonl"), "{\"ts\":1704067200000,\"user_id\":\"u1\"}\n");

  CommandResult r = RunVigil(project, {"validate"}, 60);
  EXPECT_EQ(r.exit_code, 1) << r.Describe();
  // Each error: "<file>:<line>:" and the offending text, all in one report.
  const std::vector<std::pair<std::string, std::string>> errors = {
      {"defs.yaml", "5 parsecs"},  {"defs.yaml", "strng"},
      {"defs.yaml", "usr"},        {"defs.yaml", "median"},
      {"defs.yaml", "nope"},       {"defs.yaml", "amount >"},
      {"defs.yaml", "-5m"},        {"defs.yaml", "e: {agg: sum, field: user_id"},
      {"defs.yaml", "amount + 1"}, {"more.yaml", "windw"},
      {"more.yaml", "window: 2h"}, {"more.yaml", "clicks"},
  };
  for (const auto& [file, text] : errors) {
    const std::string& content = file == "defs.yaml" ? defs : more;
    const std::string place = file + ":" + std::to_string(LineOf(content, text)) + ":";
    // The message line at that place; it quotes the offending text (a field, a name).
    size_t at = r.err.find(place);
    EXPECT_NE(at, std::string::npos) << "no error at " << place << " (" << text << "):\n" << r.err;
    if (at == std::string::npos) continue;
    std::string line = r.err.substr(at, r.err.find('\n', at) - at);
    std::string quoted = text;
    if (text.starts_with("e: ")) quoted = "user_id";  // sum of a string field
    if (text.starts_with("window: ")) quoted = "2h";
    EXPECT_NE(line.find(quoted), std::string::npos)
        << "the error does not quote '" << quoted << "': " << line;
  }
  EXPECT_EQ(r.out.find("ok"), std::string::npos) << r.out;

  // Nothing runs on bad definitions: ingest fails the same way and writes no data.
  CommandResult ingest = RunVigil(project, {"ingest", "events", tmp.Path("events.jsonl")}, 60);
  EXPECT_EQ(ingest.exit_code, 1) << ingest.Describe();
  EXPECT_NE(ingest.err.find("defs.yaml:"), std::string::npos) << ingest.Describe();
  EXPECT_FALSE(std::filesystem::exists(project + "/.vigil/log")) << "ingest wrote data";

  // A YAML syntax error names its file and a line too.
  const std::string broken = tmp.Path("broken");
  WriteFile(broken + "/a.yaml", "entities:\n  user: {keys: [user_id]}\n");
  WriteFile(broken + "/b.yaml", "sources:\n  events: {timestamp: ts\n");
  CommandResult y = RunVigil(broken, {"validate"}, 60);
  EXPECT_EQ(y.exit_code, 1) << y.Describe();
  EXPECT_TRUE(std::regex_search(y.err, std::regex(R"(b\.yaml:\d+:)"))) << y.Describe();
}

// A small project with a few events, streamed, for the command-argument tests.
std::string StreamedProject(const TempDir& tmp) {
  const std::string project = MakeProject(tmp, "project");
  GoodEvents g;
  std::string text;
  for (int i = 0; i < 40; ++i) text += g.Json() + "\n";
  WriteFile(tmp.Path("events.jsonl"), text);
  CommandResult r = RunVigil(project, {"ingest", "events", tmp.Path("events.jsonl")}, 60);
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  r = RunVigil(project, {"stream", "--until-caught-up"}, 60);
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  return project;
}

TEST(BadInput, GetWithUnknownViewOrBadKeyExitsOneWithOneLine) {
  TempDir tmp("vigil-bad");
  const std::string project = StreamedProject(tmp);
  // A good call first, so the failures below are about their arguments.
  CommandResult ok = RunVigil(project, {"get", "pair_ev", "u1,s1"}, 60);
  ASSERT_EQ(ok.exit_code, 0) << ok.Describe();

  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"get", "no_such_view", "u1"}, "no_such_view"},
      {{"get", "pair_ev", "u1"}, "key"},              // one part of a two-part key
      {{"get", "pair_ev", "u1,s1,x"}, "key"},         // three parts
      {{"get", "user_ev", "{\"user_id\": "}, "key"},  // not JSON
      {{"get", "pair_ev", "{\"user_id\": \"u1\"}"}, "shop"},
      {{"get", "user_ev", "{\"user_id\": 1.5}"}, "user_id"},
  };
  for (const auto& [args, mention] : cases) {
    SCOPED_TRACE(ShellJoin(args));
    CommandResult r = RunVigil(project, args, 60);
    EXPECT_EQ(r.exit_code, 1) << r.Describe();
    EXPECT_TRUE(OneLine(r.err)) << "want a one-line reason: " << r.Describe();
    EXPECT_NE(r.err.find(mention), std::string::npos) << r.Describe();
    EXPECT_TRUE(r.out.empty()) << r.Describe();
  }
}

TEST(BadInput, DatasetWithLabelsLackingTheTsColumnExitsOneNamingTheFile) {
  TempDir tmp("vigil-bad");
  const std::string project = StreamedProject(tmp);
  const std::string labels = tmp.Path("labels_without_ts.csv");
  WriteFile(labels, "user_id,shop,time,label\nu1,s1,1704070000000,1\nu2,s2,1704080000000,0\n");
  const std::string out = tmp.Path("train.csv");

  CommandResult r =
      RunVigil(project, {"dataset", "--labels", labels, "--features", "user_ev", "--out", out}, 60);
  EXPECT_EQ(r.exit_code, 1) << r.Describe();
  EXPECT_TRUE(OneLine(r.err)) << r.Describe();
  EXPECT_NE(r.err.find(labels), std::string::npos) << "the reason must name the label file: " << r.Describe();
  EXPECT_NE(r.err.find("ts"), std::string::npos) << r.Describe();

  // Naming the column that is there makes the same file work.
  r = RunVigil(project,
               {"dataset", "--labels", labels, "--features", "user_ev", "--out", out, "--ts-column", "time"},
               60);
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_EQ(ParseCsv(ReadFile(out)).size(), 3u);

  // A label row with a bad time names the file and its line.
  const std::string bad_ts = tmp.Path("labels_bad_ts.csv");
  WriteFile(bad_ts, "user_id,shop,ts,label\nu1,s1,1704070000000,1\nu2,s2,yesterday,0\n");
  r = RunVigil(project, {"dataset", "--labels", bad_ts, "--features", "user_ev", "--out", out}, 60);
  EXPECT_EQ(r.exit_code, 1) << r.Describe();
  EXPECT_TRUE(OneLine(r.err)) << r.Describe();
  EXPECT_NE(r.err.find(bad_ts + ":3"), std::string::npos) << r.Describe();

  // An unknown view.
  r = RunVigil(
      project,
      {"dataset", "--labels", labels, "--features", "user_ev,nope_view", "--out", out, "--ts-column", "time"},
      60);
  EXPECT_EQ(r.exit_code, 1) << r.Describe();
  EXPECT_TRUE(OneLine(r.err)) << r.Describe();
  EXPECT_NE(r.err.find("nope_view"), std::string::npos) << r.Describe();
}

}  // namespace bad_input_test
}  // namespace vigil::e2e
