// `vigil dataset` against an independent oracle (DESIGN.md §4).
//
// Each test builds a project in a scratch directory from a seeded generator: definitions
// in the YAML of DESIGN.md §3, event files (JSONL and CSV, int and ISO timestamps), and a
// label file whose rows sit where point-in-time bugs hide (exactly at an event, one ms
// after it, at the edges of every window and of the ttl, before any event, on unknown
// entities). It ingests the events with build/vigil, asks it for the dataset (before and
// after `vigil stream`), asks the DuckDB oracle (tools/node/oracle.mjs, plain SQL over the
// whole history) for the same dataset, and compares the CSVs cell by cell (numbers within
// 1e-9 relative).
//
// OracleSelfTest proves the oracle itself on small cases computed by hand.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "e2e_util.h"
#include "oracle_util.h"

namespace vigil::e2e {
namespace oracle_test {

// The seed of a test: `base`, shifted by $VIGIL_ORACLE_SEED to explore other cases
// (VIGIL_ORACLE_SEED=17 ./e2e_test --gtest_filter='OracleTest.*').
uint64_t Seed(uint64_t base) {
  const char* env = std::getenv("VIGIL_ORACLE_SEED");
  return base + (env != nullptr ? std::strtoull(env, nullptr, 10) * 1000 : 0);
}

// Writes the project, runs vigil (ingest, dataset) and the oracle, compares the outputs.
void RunScenario(const Scenario& s, uint64_t seed) {
  TempDir tmp("vigil-oracle");
  const std::string project = tmp.Path("project");
  const std::string data = tmp.Path("data");
  Rng rng(seed ^ 0x5eed);
  // One partition: the oracle models one watermark per source and ties in line order.
  WriteFile(project + "/vigil.yaml", "log: {partitions: 1}\n");
  WriteFile(project + "/sources.yaml", YamlDefinitionsOfSources(s));
  WriteFile(project + "/views.yaml", YamlDefinitionsOfViews(s));
  for (const Source& src : s.sources) WriteEvents(src, data, rng);
  std::string labels = CsvLine(s.label_header) + "\n";
  for (const auto& row : s.label_rows) labels += CsvLine(row) + "\n";
  WriteFile(data + "/labels.csv", labels);
  WriteFile(data + "/spec.json", SpecJson(s, "labels.csv"));

  CommandResult oracle = RunOracle(data + "/spec.json", data + "/expected.csv");
  ASSERT_EQ(oracle.exit_code, 0) << "oracle: " << oracle.Describe();

  int64_t events = 0;
  int64_t late = 0;
  for (const Source& src : s.sources) {
    std::vector<std::string> args = {"ingest", src.name};
    for (const auto& f : src.files) args.push_back(data + "/" + f.name);
    CommandResult r = RunVigil(project, args);
    ASSERT_EQ(r.exit_code, 0) << "vigil ingest " << src.name << ": " << r.Describe();
    // "txn: accepted 1234, rejected 0 (dead-letter topic dlq.txn)". Every event here is
    // well-formed; a late one is accepted into the topic and dropped by compute.
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(accepted (\d+), rejected (\d+))")))
        << "vigil ingest " << src.name << " did not report its counts: " << r.Describe();
    EXPECT_EQ(std::stoll(m[1]), static_cast<int64_t>(src.events.size())) << r.Describe();
    EXPECT_EQ(m[2], "0") << r.Describe();
    events += static_cast<int64_t>(src.events.size());
    late += CountLate(src);
  }

  std::vector<std::string> names;
  for (const View& v : s.views) names.push_back(v.name);
  auto dataset = [&](const std::string& out) {
    CommandResult r =
        RunVigil(project, {"dataset", "--labels", data + "/labels.csv", "--features", Join(names, ","),
                           "--out", data + "/" + out, "--ts-column", s.ts_column});
    ASSERT_EQ(r.exit_code, 0) << "vigil dataset: " << r.Describe();
    EXPECT_TRUE(CsvMatches(ReadFile(data + "/" + out), ReadFile(data + "/expected.csv")))
        << "vigil (actual, " << out << ") vs oracle (expected) in " << tmp.path()
        << " (set VIGIL_KEEP_TMP=1 to keep it)";
  };
  // Straight from the ingested events, then again once stream compute has run (and
  // counted the late events the oracle dropped).
  ASSERT_NO_FATAL_FAILURE(dataset("out.csv"));
  CommandResult r = RunVigil(project, {"stream", "--until-caught-up"});
  ASSERT_EQ(r.exit_code, 0) << "vigil stream: " << r.Describe();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"((\d+) source events \((\d+) late)"))) << r.Describe();
  EXPECT_EQ(std::stoll(m[1]), events) << r.Describe();
  EXPECT_EQ(std::stoll(m[2]), late) << r.Describe();
  dataset("out_after_stream.csv");
}


// ---------------------------------------------------------------------------------------
// The oracle alone, on cases computed by hand.

std::string OracleOn(const std::string& spec, const std::map<std::string, std::string>& files) {
  TempDir tmp("vigil-oracle-self");
  for (const auto& [name, text] : files) WriteFile(tmp.Path(name), text);
  WriteFile(tmp.Path("spec.json"), spec);
  CommandResult r = RunOracle(tmp.Path("spec.json"), tmp.Path("out.csv"));
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  return r.exit_code == 0 ? ReadFile(tmp.Path("out.csv")) : "";
}

TEST(OracleSelfTest, WindowsLatenessTiesAndTtlByHand) {
  // u1's accepted events: 1000 (10), 2000 (20 failed), 3500 (7, status null),
  // 5000 (30 failed), 5000 (1, log order after it). 2500 (99) is late: it arrives after
  // 5000 with lateness 2 s (2500 < 5000 - 2000). 20000 (2) comes after a gap.
  const std::string a_jsonl =
      R"({"user_id":"u1","ts":1000,"amount":10,"status":"ok"}
{"user_id":"u1","ts":2000,"amount":20,"status":"failed"}
{"user_id":"u2","ts":"1970-01-01T00:00:02.500Z","amount":5,"status":"ok"}
{"user_id":"u1","ts":5000,"amount":30.0,"status":"failed"}
{"user_id":"u1","ts":2500,"amount":99,"status":"failed"}
{"user_id":"u1","ts":3500,"amount":7,"status":null}
)";
  const std::string b_csv = "ts,user_id,amount,status\n1970-01-01T00:00:05Z,u1,1,ok\n20000,u1,2,\n";
  const std::string labels =
      "user_id,ts,note\n"
      "u1,5001,\"a, b\"\n"  // as of 5000: both events at 5000 count
      "u1,5000,x\n"         // as of 4999: neither
      "u1,8001,\n"          // 3 s window (5000, 8000]: empty
      "u1,8000,\n"          // (4999, 7999]: the two at 5000
      "u3,5000,\n"          // unknown entity
      "u1,1000,\n"          // before any event
      ",5000,\n"            // empty key
      "u2,1970-01-01T02:00:03.000+02:00,\n"
      "u1,9000,\n"    // v2 (ttl 4 s): L = 5000, alive as of 8999
      "u1,9001,\n"    // dropped as of 9000 = L + ttl
      "u1,20001,\n"   // a new session began at 20000
      "u1,20000,\n";  // still dropped as of 19999
  const std::string spec = R"({"sources":{"txn":{"files":["a.jsonl","b.csv"],"ts_field":"ts",
    "allowed_lateness_ms":2000,"schema":{"user_id":"string","amount":"double","status":"string"}}},
 "views":{
  "v1":{"source":"txn","keys":["user_id"],"ttl_ms":null,"features":[
    {"name":"c3s","agg":"count","field":null,"window_ms":3000,"where":null},
    {"name":"s3s","agg":"sum","field":"amount","window_ms":3000,"where":null},
    {"name":"fcount","agg":"count","field":null,"window_ms":10000,"where":"status = 'failed'"},
    {"name":"lastamt","agg":"last","field":"amount","window_ms":null,"where":null},
    {"name":"firstamt","agg":"first","field":"amount","window_ms":null,"where":null}]},
  "v2":{"source":"txn","keys":["user_id"],"ttl_ms":4000,"features":[
    {"name":"life_cnt","agg":"count","field":null,"window_ms":null,"where":null},
    {"name":"life_sum","agg":"sum","field":"amount","window_ms":null,"where":null},
    {"name":"c2s","agg":"count","field":null,"window_ms":2000,"where":null}]}},
 "labels":"labels.csv","ts_column":"ts","features":["v1","v2"]})";
  const std::string expected =
      "user_id,ts,note,v1__c3s,v1__s3s,v1__fcount,v1__lastamt,v1__firstamt,"
      "v2__life_cnt,v2__life_sum,v2__c2s\n"
      "u1,5001,\"a, b\",3,38,2,1,10,5,68,3\n"
      "u1,5000,x,2,27,1,7,10,3,37,1\n"
      "u1,8001,,0,0,2,1,10,5,68,0\n"
      "u1,8000,,2,31,2,1,10,5,68,0\n"
      "u3,5000,,0,0,0,,,0,0,0\n"
      "u1,1000,,0,0,0,,,0,0,0\n"
      ",5000,,0,0,0,,,0,0,0\n"
      "u2,1970-01-01T02:00:03.000+02:00,,1,5,0,5,5,1,5,1\n"
      "u1,9000,,0,0,2,1,10,5,68,0\n"
      "u1,9001,,0,0,2,1,10,0,0,0\n"
      "u1,20001,,1,2,0,2,10,1,2,1\n"
      "u1,20000,,0,0,0,1,10,0,0,0\n";
  std::string out = OracleOn(spec, {{"a.jsonl", a_jsonl}, {"b.csv", b_csv}, {"labels.csv", labels}});
  // Exact text: the oracle's own formatting is part of what is proven here.
  EXPECT_EQ(out, expected);
}

TEST(OracleSelfTest, AggregationsCompositeKeysAndWatermarkEdgeByHand) {
  // Lateness 1 s. The event at 11000 arriving after 12000 sits exactly on the watermark
  // (12000 - 1000) and is accepted; 10999 is below it and dropped.
  const std::string events =
      R"({"user_id":"u1","country":"fr","ts":10000,"amount":2,"n":1,"card":"a"}
{"user_id":"u1","country":"fr","ts":10000,"amount":4,"n":2,"card":"b"}
{"user_id":"u1","country":"de","ts":11000,"amount":100,"n":5,"card":"a"}
{"user_id":"u1","country":"fr","ts":12000,"amount":null,"n":3,"card":"a"}
{"user_id":"u1","country":"fr","ts":11000,"amount":6,"card":"c"}
{"user_id":"u1","country":"fr","ts":10999,"amount":1000,"n":9,"card":"z"}
{"user_id":"u1","country":"fr","ts":12000,"amount":8,"n":4,"card":null}
)";
  const std::string labels =
      "country,event_time,user_id\n"
      "fr,1970-01-01T00:00:12.001Z,u1\n"  // as of 12000: the five accepted fr events
      "fr,12000,u1\n"                     // as of 11999: 10000, 10000, 11000
      "fr,20001,u1\n"                     // 10 s window (10000, 20000]
      "de,11001,u1\n"
      ",12001,u1\n"     // empty country: no entity
      "fr,10000,u1\n"   // before everything
      "fr,10001,u1\n";  // the tie at 10000: last is the later line
  const std::string spec = R"({"sources":{"s":{"files":["e.jsonl"],"ts_field":"ts",
    "allowed_lateness_ms":1000,"schema":{"user_id":"string","country":"string",
    "amount":"double","n":"int64","card":"string"}}},
  "views":{"vc":{"source":"s","keys":["user_id","country"],"ttl_ms":null,"features":[
    {"name":"cnt","agg":"count","field":null,"window_ms":10000,"where":null},
    {"name":"cnt_amt","agg":"count","field":"amount","window_ms":10000,"where":null},
    {"name":"s_n","agg":"sum","field":"n","window_ms":10000,"where":null},
    {"name":"avg_a","agg":"avg","field":"amount","window_ms":10000,"where":null},
    {"name":"mn","agg":"min","field":"amount","window_ms":10000,"where":null},
    {"name":"mx","agg":"max","field":"n","window_ms":10000,"where":null},
    {"name":"sd","agg":"stddev","field":"amount","window_ms":10000,"where":null},
    {"name":"cd","agg":"count_distinct","field":"card","window_ms":10000,"where":null},
    {"name":"la","agg":"last","field":"amount","window_ms":null,"where":null},
    {"name":"fa","agg":"first","field":"amount","window_ms":null,"where":null},
    {"name":"lc","agg":"last","field":"card","window_ms":null,"where":null}]}},
  "labels":"labels.csv","ts_column":"event_time","features":["vc"]})";
  // stddev of 2,4,6,8 = sqrt(5); of 2,4,6 = sqrt(8/3); of 6,8 = 1.
  const std::string expected =
      "country,event_time,user_id,vc__cnt,vc__cnt_amt,vc__s_n,vc__avg_a,vc__mn,vc__mx,vc__sd,"
      "vc__cd,vc__la,vc__fa,vc__lc\n"
      "fr,1970-01-01T00:00:12.001Z,u1,5,4,10,5,2,4,2.23606797749979,3,8,2,a\n"
      "fr,12000,u1,3,3,3,4,2,2,1.632993161855452,3,6,2,c\n"
      "fr,20001,u1,3,2,7,7,6,4,1,2,8,2,a\n"
      "de,11001,u1,1,1,5,100,100,5,0,1,100,100,a\n"
      ",12001,u1,0,0,0,,,,,0,,,\n"
      "fr,10000,u1,0,0,0,,,,,0,,,\n"
      "fr,10001,u1,2,2,3,3,2,2,1,2,4,2,b\n";
  std::string out = OracleOn(spec, {{"e.jsonl", events}, {"labels.csv", labels}});
  EXPECT_TRUE(CsvMatches(out, expected, 1e-15)) << out;
}

TEST(OracleSelfTest, CsvHelpers) {
  auto rows = ParseCsv("a,b\r\n\"x, \"\"y\"\"\",\n\"multi\nline\",3");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1], (std::vector<std::string>{"x, \"y\"", ""}));
  EXPECT_EQ(rows[2], (std::vector<std::string>{"multi\nline", "3"}));
  EXPECT_EQ(ParseCsv(CsvLine(rows[1]))[0], rows[1]);
  EXPECT_TRUE(CsvMatches("h\n1e+15\n0.30000000000000004\n", "h\n1000000000000000\n0.3\n"));
  EXPECT_FALSE(CsvMatches("h\n0\n", "h\n\n"));  // null is not 0
  EXPECT_FALSE(CsvMatches("h\n1.000001\n", "h\n1\n"));
  EXPECT_FALSE(CsvMatches("h,x\n1,2\n", "h,y\n1,2\n"));
  EXPECT_EQ(IsoText(kStart + 250, 120, 'T', true), "2024-01-01T02:00:00.250+02:00");
  EXPECT_EQ(IsoText(kStart, 0, ' ', true), "2024-01-01 00:00:00.000Z");
  EXPECT_EQ(IsoText(kStart - 1, -330, 'T', false), "2023-12-31T18:29:59.999-05:30");
  EXPECT_EQ(DurationText(7 * kDay), "7d");
  EXPECT_EQ(DurationText(1500), "1500ms");
}

// ---------------------------------------------------------------------------------------
// vigil against the oracle.

TEST(OracleTest, EveryAggregationOverWindowsAndLifetime) {
  Rng rng(Seed(1));
  TxnOptions o;
  o.null_rate = 0.1;
  Scenario s = TxnScenario(MakeTxn(rng, o));
  // One view per window; one view mixing windows; lifetime without and with a ttl.
  const std::pair<const char*, int64_t> kWindows[] = {
      {"w1s", kSecond}, {"w1m", kMinute}, {"w1h", kHour}, {"w1d", kDay}, {"w7d", 7 * kDay}};
  for (const auto& [name, w] : kWindows) {
    s.views.push_back({name, "user", "txn", std::nullopt, EveryAggregation(w, "")});
  }
  View mix{"mixed", "user", "txn", std::nullopt, {}};
  for (const auto& [name, w] : kWindows) {
    for (auto f : EveryAggregation(w, std::string("_") + name)) {
      if (f.agg == "sum" || f.agg == "last" || f.agg == "count_distinct") mix.features.push_back(f);
    }
  }
  s.views.push_back(mix);
  s.views.push_back({"life", "user", "txn", std::nullopt, EveryAggregation(std::nullopt, "")});
  View life_ttl{"life_ttl", "user", "txn", 6 * kHour, EveryAggregation(std::nullopt, "")};
  life_ttl.features.push_back({"cnt_1h", "count", "", kHour, ""});
  s.views.push_back(life_ttl);
  MakeLabels(rng, s.sources[0], {"user_id"}, Labels(1500), &s);
  RunScenario(s, Seed(1));
}

TEST(OracleTest, WhereFiltersWithNulls) {
  Rng rng(Seed(2));
  TxnOptions o;
  o.null_rate = 0.25;
  Source txn = MakeTxn(rng, o);
  txn.omit_nulls = true;  // half the nulls are missing fields
  Scenario s = TxnScenario(std::move(txn));
  s.sources[0].files = {{"txn_a.jsonl", TsFormat::kInt}, {"txn_b.csv", TsFormat::kInt}};
  // The same text is SQL for DuckDB and vigil's expression language.
  const std::vector<std::string> wheres = {
      "status = 'failed'",
      "status <> 'failed'",
      "status is null",
      "not (status in ('failed', 'declined'))",
      "amount > 100 and ok = true",
      "n >= 3 or status = 'ok'",
      "not (amount < 50)",
      "amount * 2 > n + 10",
      "amount / 4 > 10 and card is not null",
      "coalesce(n, 0) < 5",
      "lower(status) = 'failed' or abs(amount - 500) < 200",
      "ok",
      "country in ('fr', 'us') and not ok",
  };
  for (int window_kind = 0; window_kind < 2; ++window_kind) {
    View v{window_kind == 0 ? "w1h" : "life", "user", "txn", std::nullopt, {}};
    std::optional<int64_t> w = window_kind == 0 ? std::optional<int64_t>(kHour) : std::nullopt;
    for (size_t i = 0; i < wheres.size(); ++i) {
      const std::string k = std::to_string(i);
      v.features.push_back({"cnt_" + k, "count", "", w, wheres[i]});
      v.features.push_back({"sum_" + k, "sum", "amount", w, wheres[i]});
      v.features.push_back({"last_" + k, "last", "status", w, wheres[i]});
      v.features.push_back({"first_" + k, "first", "n", w, wheres[i]});
      v.features.push_back({"min_" + k, "min", "amount", w, wheres[i]});
      v.features.push_back({"cd_" + k, "count_distinct", "card", w, wheres[i]});
      v.features.push_back({"avg_" + k, "avg", "n", w, wheres[i]});
    }
    s.views.push_back(std::move(v));
  }
  MakeLabels(rng, s.sources[0], {"user_id"}, Labels(1500), &s);
  RunScenario(s, Seed(2));
}

TEST(OracleTest, CompositeKeys) {
  Rng rng(Seed(3));
  TxnOptions o;
  o.users = 15;
  o.null_rate = 0.05;
  o.countries = {"fr", "de", "us", "br"};
  Scenario s = TxnScenario(MakeTxn(rng, o));
  s.entities.push_back({"user_country", {"user_id", "country"}});
  s.views.push_back({"by_user",
                     "user",
                     "txn",
                     std::nullopt,
                     {{"cnt_1h", "count", "", kHour, ""},
                      {"sum_1d", "sum", "amount", kDay, ""},
                      {"last_country", "last", "country", kDay, ""}}});
  std::vector<Feature> f = EveryAggregation(kHour, "_1h");
  for (auto& x : EveryAggregation(std::nullopt, "_life")) f.push_back(x);
  s.views.push_back({"by_user_country", "user_country", "txn", kDay, f});
  MakeLabels(rng, s.sources[0], {"user_id", "country"}, Labels(1500), &s);
  // Some labels pair a user with a country it never used.
  for (size_t i = 0; i < s.label_rows.size(); i += 11) s.label_rows[i][1] = rng.Pick(o.countries);
  RunScenario(s, Seed(3));
}

TEST(OracleTest, IsoAndIntTimestampsInCsvAndJsonl) {
  Rng rng(Seed(4));
  TxnOptions o;
  o.events = 2000;
  o.null_rate = 0.05;
  o.jitter_rate = 0.1;
  Scenario s = TxnScenario(MakeTxn(rng, o));
  s.sources[0].ts_field = "event_time";
  s.sources[0].files = {{"txn_1.csv", TsFormat::kIso},
                        {"txn_2.jsonl", TsFormat::kInt},
                        {"txn_3.jsonl", TsFormat::kIso},
                        {"txn_4.csv", TsFormat::kInt}};
  // A second source on the same entity, its events in another order of files and formats.
  TxnOptions lo;
  lo.events = 1500;
  lo.lateness_ms = 0;
  Source logins = MakeTxn(rng, lo, "logins");
  logins.files = {{"logins_1.jsonl", TsFormat::kInt}, {"logins_2.csv", TsFormat::kIso}};
  s.sources.push_back(std::move(logins));
  s.views.push_back({"txn_v", "user", "txn", std::nullopt, EveryAggregation(kHour, "")});
  s.views.push_back({"login_v",
                     "user",
                     "logins",
                     2 * kDay,
                     {{"cnt_10m", "count", "", 10 * kMinute, ""},
                      {"cnt_life", "count", "", std::nullopt, ""},
                      {"last_status", "last", "status", std::nullopt, ""},
                      {"first_card", "first", "card", 2 * kDay, ""}}});
  s.ts_column = "label_time";
  MakeLabels(rng, s.sources[0], {"user_id"}, Labels(800, TsFormat::kIso), &s);
  const size_t n = s.label_rows.size();
  MakeLabels(rng, s.sources[1], {"user_id"}, Labels(700), &s);
  ASSERT_EQ(s.label_rows.size(), n + 700);
  RunScenario(s, Seed(4));
}

TEST(OracleTest, LateEventsWithinAndBeyondAllowedLateness) {
  Rng rng(Seed(5));
  TxnOptions o;
  o.events = 3000;
  o.lateness_ms = 5 * kSecond;
  o.jitter_rate = 0.2;
  o.late_rate = 0.08;
  o.users = 10;
  Scenario s = TxnScenario(MakeTxn(rng, o));
  ASSERT_GT(CountLate(s.sources[0]), 50);
  s.sources[0].files = {
      {"txn_a.jsonl", TsFormat::kInt}, {"txn_b.csv", TsFormat::kInt}, {"txn_c.jsonl", TsFormat::kIso}};
  s.views.push_back({"w", "user", "txn", std::nullopt, EveryAggregation(10 * kSecond, "_10s")});
  for (auto& f : EveryAggregation(kMinute, "_1m")) s.views.back().features.push_back(f);
  s.views.push_back({"life",
                     "user",
                     "txn",
                     30 * kMinute,
                     {{"cnt", "count", "", std::nullopt, ""},
                      {"last_amount", "last", "amount", std::nullopt, ""},
                      {"first_amount", "first", "amount", std::nullopt, ""},
                      {"sum_n", "sum", "n", std::nullopt, ""}}});
  LabelOptions lo = Labels(1500);
  lo.offsets = {o.lateness_ms, 10 * kSecond};
  MakeLabels(rng, s.sources[0], {"user_id"}, lo, &s);
  RunScenario(s, Seed(5));
}

TEST(OracleTest, TtlGapsWithLifetimeFeatures) {
  Rng rng(Seed(6));
  const int64_t ttl = kHour;
  Source src;
  src.name = "txn";
  src.lateness_ms = 3 * kSecond;
  src.schema = TxnSchema();
  // Per user, events whose gaps straddle the ttl: ttl - 1, ttl, ttl + 1, or short; some
  // arrive out of order (within the lateness) right at a gap's edge.
  std::vector<Event> all;
  for (int u = 0; u < 30; ++u) {
    int64_t t = kStart + rng.Uniform(0, kHour);
    for (int i = 0; i < 60; ++i) {
      static const std::vector<int64_t> kGaps = {ttl - 1,      ttl,     ttl + 1,      0, 1, kSecond,
                                                 10 * kMinute, ttl / 2, ttl - kSecond};
      t += rng.Pick(kGaps);
      Event e;
      e.ts = t;
      e.values = {UserName(u),
                  "fr",
                  DoubleText(static_cast<double>(rng.Uniform(1, 9999)) / 8),
                  std::to_string(rng.Uniform(0, 9)),
                  rng.Chance(0.5) ? "true" : "false",
                  rng.Chance(0.5) ? "ok" : "failed",
                  "c" + std::to_string(rng.Uniform(0, 5))};
      all.push_back(std::move(e));
    }
  }
  // Log order: by ts, each event then delayed by up to the lateness (accepted out of order).
  std::vector<std::pair<int64_t, size_t>> arrival;
  for (size_t i = 0; i < all.size(); ++i) {
    arrival.push_back({all[i].ts + (rng.Chance(0.2) ? rng.Uniform(0, src.lateness_ms) : 0), i});
  }
  std::stable_sort(arrival.begin(), arrival.end());
  for (const auto& [at, i] : arrival) src.events.push_back(all[i]);
  ASSERT_EQ(CountLate(src), 0);
  Scenario s = TxnScenario(std::move(src));
  s.views.push_back({"sess",
                     "user",
                     "txn",
                     ttl,
                     {{"cnt", "count", "", std::nullopt, ""},
                      {"sum_amount", "sum", "amount", std::nullopt, ""},
                      {"first_amount", "first", "amount", std::nullopt, ""},
                      {"last_amount", "last", "amount", std::nullopt, ""},
                      {"min_amount", "min", "amount", std::nullopt, ""},
                      {"cd_card", "count_distinct", "card", std::nullopt, ""},
                      {"std_amount", "stddev", "amount", std::nullopt, ""},
                      {"failed", "count", "", std::nullopt, "status = 'failed'"},
                      {"cnt_10m", "count", "", 10 * kMinute, ""},
                      {"cnt_1h", "count", "", ttl, ""}}});
  // Default ttl = the longest window (1h); the lifetime view keeps entities forever.
  s.views.push_back({"win",
                     "user",
                     "txn",
                     std::nullopt,
                     {{"cnt_1h", "count", "", ttl, ""}, {"last_1h", "last", "amount", ttl, ""}}});
  s.views.push_back(
      {"forever",
       "user",
       "txn",
       std::nullopt,
       {{"cnt", "count", "", std::nullopt, ""}, {"first_amount", "first", "amount", std::nullopt, ""}}});
  LabelOptions lo = Labels(2000);
  lo.end_rate = 0.6;
  MakeLabels(rng, s.sources[0], {"user_id"}, lo, &s);
  RunScenario(s, Seed(6));
}

TEST(OracleTest, EqualTimestampsBreakTiesByLogOrder) {
  Rng rng(Seed(7));
  Source src;
  src.name = "txn";
  src.lateness_ms = 10 * kSecond;
  src.schema = TxnSchema();
  int64_t t = kStart;
  for (int i = 0; i < 1500; ++i) {
    t += rng.Chance(0.6) ? 0 : rng.Uniform(1, 20 * kSecond);
    // Sometimes an event of an earlier instant arrives late but accepted, into a tie.
    int64_t ts = rng.Chance(0.1) ? t - rng.Uniform(0, 3) * kSecond : t;
    Event e;
    e.ts = ts;
    e.values = {UserName(static_cast<int>(rng.Uniform(0, 4))),
                "fr",
                rng.Chance(0.1) ? Cell() : Cell(std::to_string(i) + ".5"),
                std::to_string(i),
                rng.Chance(0.5) ? "true" : "false",
                rng.Chance(0.1) ? Cell() : Cell("s" + std::to_string(i)),
                "c" + std::to_string(rng.Uniform(0, 3))};
    src.events.push_back(std::move(e));
  }
  Scenario s = TxnScenario(std::move(src));
  s.sources[0].files = {{"a.jsonl", TsFormat::kInt}, {"b.csv", TsFormat::kInt}};
  std::vector<Feature> f;
  for (std::optional<int64_t> w :
       {std::optional<int64_t>(kSecond), std::optional<int64_t>(kMinute), std::optional<int64_t>()}) {
    std::string sfx = w ? "_" + DurationText(*w) : "_life";
    f.push_back({"last_amount" + sfx, "last", "amount", w, ""});
    f.push_back({"first_amount" + sfx, "first", "amount", w, ""});
    f.push_back({"last_status" + sfx, "last", "status", w, ""});
    f.push_back({"first_status" + sfx, "first", "status", w, ""});
    f.push_back({"last_n" + sfx, "last", "n", w, ""});
    f.push_back({"first_ok" + sfx, "first", "ok", w, ""});
    f.push_back({"cnt" + sfx, "count", "", w, ""});
  }
  s.views.push_back({"ties", "user", "txn", std::nullopt, f});
  MakeLabels(rng, s.sources[0], {"user_id"}, Labels(1200), &s);
  RunScenario(s, Seed(7));
}

TEST(OracleTest, ManyEventsPerEntity) {
  Rng rng(Seed(8));
  TxnOptions o;
  o.users = 4;
  o.events = 12000;
  o.gap_scale = 0.1;
  o.jitter_rate = 0.05;
  o.null_rate = 0.05;
  Scenario s = TxnScenario(MakeTxn(rng, o));
  s.sources[0].files = {{"a.jsonl", TsFormat::kInt}, {"b.jsonl", TsFormat::kInt}, {"c.csv", TsFormat::kInt}};
  std::vector<Feature> f;
  for (int64_t w : {kSecond, kMinute, kHour, kDay}) {
    const std::string sfx = "_" + DurationText(w);
    for (auto& x : EveryAggregation(w, sfx)) {
      if (x.agg != "first" && x.agg != "avg") f.push_back(x);
    }
  }
  s.views.push_back({"heavy", "user", "txn", std::nullopt, f});
  s.views.push_back({"heavy_life", "user", "txn", std::nullopt, EveryAggregation(std::nullopt, "_life")});
  MakeLabels(rng, s.sources[0], {"user_id"}, Labels(3000), &s);
  RunScenario(s, Seed(8));
}

TEST(OracleTest, AdversarialMagnitudes) {
  Rng rng(Seed(9));
  TxnOptions o;
  o.magnitudes = true;  // user u001 only ever pays 1e15: its stddev must be exactly 0
  o.users = 12;
  o.null_rate = 0.05;
  Scenario s = TxnScenario(MakeTxn(rng, o));
  s.views.push_back({"w1h", "user", "txn", std::nullopt, EveryAggregation(kHour, "")});
  s.views.push_back({"w1d", "user", "txn", std::nullopt, EveryAggregation(kDay, "")});
  s.views.push_back({"life", "user", "txn", 2 * kDay, EveryAggregation(std::nullopt, "")});
  MakeLabels(rng, s.sources[0], {"user_id"}, Labels(1500), &s);
  RunScenario(s, Seed(9));
}

}  // namespace oracle_test
}  // namespace vigil::e2e
