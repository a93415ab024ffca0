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

namespace vigil::e2e {
namespace {

// 2024-01-01T00:00:00Z: in the past, so no event is beyond a source's max_future.
constexpr int64_t kStart = 1'704'067'200'000;

// The seed of a test: `base`, shifted by $VIGIL_ORACLE_SEED to explore other cases
// (VIGIL_ORACLE_SEED=17 ./e2e_test --gtest_filter='OracleTest.*').
uint64_t Seed(uint64_t base) {
  const char* env = std::getenv("VIGIL_ORACLE_SEED");
  return base + (env != nullptr ? std::strtoull(env, nullptr, 10) * 1000 : 0);
}

// ---------------------------------------------------------------------------------------
// The project model: what is written as YAML for vigil and as spec.json for the oracle.

enum class FieldType { kInt64, kDouble, kString, kBool };

const char* TypeText(FieldType t) {
  switch (t) {
    case FieldType::kInt64:
      return "int64";
    case FieldType::kDouble:
      return "double";
    case FieldType::kString:
      return "string";
    case FieldType::kBool:
      return "bool";
  }
  return "?";
}

struct Field {
  std::string name;
  FieldType type;
};

// A value of an event: nullopt is null; numbers and bools hold their text ("12.5",
// "true"), strings their raw value.
using Cell = std::optional<std::string>;

struct Event {
  int64_t ts = 0;
  std::vector<Cell> values;  // in schema order
};

enum class TsFormat { kInt, kIso };

// One input file; its extension (.jsonl or .csv) is its format.
struct EventFile {
  std::string name;
  TsFormat ts_format = TsFormat::kInt;
};

struct Source {
  std::string name;
  std::string ts_field = "ts";
  int64_t lateness_ms = 0;
  std::vector<Field> schema;
  std::vector<Event> events;     // in log order
  std::vector<EventFile> files;  // the events are split evenly over them, in order
  bool omit_nulls = false;       // JSONL: leave a null field out instead of writing null

  int FieldIndex(const std::string& name) const {
    for (size_t i = 0; i < schema.size(); ++i) {
      if (schema[i].name == name) return static_cast<int>(i);
    }
    return -1;
  }
};

struct Feature {
  std::string name;
  std::string agg;
  std::string field;              // empty: none
  std::optional<int64_t> window;  // none: lifetime
  std::string where;              // empty: none
};

struct View {
  std::string name;
  std::string entity;
  std::string source;
  std::optional<int64_t> ttl;
  std::vector<Feature> features;
};

struct Entity {
  std::string name;
  std::vector<std::string> keys;
};

struct Scenario {
  std::vector<Entity> entities;
  std::vector<Source> sources;
  std::vector<View> views;
  std::vector<std::string> label_header;
  std::vector<std::vector<std::string>> label_rows;
  std::string ts_column = "ts";

  const Entity& EntityOf(const View& v) const {
    for (const auto& e : entities) {
      if (e.name == v.entity) return e;
    }
    ADD_FAILURE() << "no entity " << v.entity;
    return entities.front();
  }
};

// ---------------------------------------------------------------------------------------
// Writers.

// "3600000" -> "1h": the largest unit that divides the duration.
std::string DurationText(int64_t ms) {
  static const std::pair<int64_t, const char*> kUnits[] = {
      {kDay, "d"}, {kHour, "h"}, {kMinute, "m"}, {kSecond, "s"}};
  for (const auto& [unit, name] : kUnits) {
    if (ms != 0 && ms % unit == 0) return std::to_string(ms / unit) + name;
  }
  return std::to_string(ms) + "ms";
}

// A timestamp as it appears in a file: int ms, or ISO in one of several spellings.
std::string TsText(int64_t ms, TsFormat format, Rng& rng) {
  if (format == TsFormat::kInt) return std::to_string(ms);
  static const std::vector<int> kOffsets = {0, 0, 120, -330, 60, -480, 345};
  return IsoText(ms, rng.Pick(kOffsets), rng.Chance(0.7) ? 'T' : ' ', rng.Chance(0.6));
}

std::string YamlDefinitionsOfSources(const Scenario& s) {
  std::string y = "# entities and sources (the views are in views.yaml)\nentities:\n";
  for (const auto& e : s.entities) {
    y += "  " + e.name + ": {keys: [";
    for (size_t i = 0; i < e.keys.size(); ++i) y += (i ? ", " : "") + e.keys[i];
    y += "]}\n";
  }
  y += "sources:\n";
  for (const auto& src : s.sources) {
    y += "  " + src.name + ":\n    timestamp: " + src.ts_field + "\n";
    if (src.lateness_ms > 0) y += "    allowed_lateness: " + DurationText(src.lateness_ms) + "\n";
    y += "    schema:\n";
    for (const auto& f : src.schema) y += "      " + f.name + ": " + TypeText(f.type) + "\n";
  }
  return y;
}

std::string YamlDefinitionsOfViews(const Scenario& s) {
  std::string y = "feature_views:\n";
  for (const auto& v : s.views) {
    y += "  " + v.name + ":\n    entity: " + v.entity + "\n    source: " + v.source + "\n";
    if (v.ttl) y += "    ttl: " + DurationText(*v.ttl) + "\n";
    y += "    features:\n";
    for (const auto& f : v.features) {
      y += "      " + f.name + ": {agg: " + f.agg;
      if (!f.field.empty()) y += ", field: " + f.field;
      if (f.window) y += ", window: " + DurationText(*f.window);
      if (!f.where.empty()) y += ", where: " + JsonString(f.where);  // a YAML "string" too
      y += "}\n";
    }
  }
  return y;
}

std::string JsonValue(const Cell& c, FieldType t) {
  if (!c) return "null";
  return t == FieldType::kString ? JsonString(*c) : *c;
}

// Writes the source's events into its files: the k-th file takes the k-th slice.
void WriteEvents(const Source& src, const std::string& dir, Rng& rng) {
  const size_t files = src.files.size();
  for (size_t k = 0; k < files; ++k) {
    const EventFile& file = src.files[k];
    size_t begin = src.events.size() * k / files;
    size_t end = src.events.size() * (k + 1) / files;
    std::string text;
    const bool csv = file.name.ends_with(".csv");
    // CSV columns in a shuffled order, the timestamp among them.
    std::vector<int> order;
    for (int i = -1; i < static_cast<int>(src.schema.size()); ++i) order.push_back(i);
    if (csv) {
      for (size_t i = order.size(); i > 1; --i) {
        std::swap(order[i - 1], order[static_cast<size_t>(rng.Uniform(0, i - 1))]);
      }
      std::vector<std::string> header;
      for (int i : order) header.push_back(i < 0 ? src.ts_field : src.schema[i].name);
      text += CsvLine(header) + "\n";
    }
    for (size_t e = begin; e < end; ++e) {
      const Event& ev = src.events[e];
      std::string ts = TsText(ev.ts, file.ts_format, rng);
      if (csv) {
        std::vector<std::string> cells;
        for (int i : order) cells.push_back(i < 0 ? ts : ev.values[i].value_or(""));
        text += CsvLine(cells) + "\n";
        continue;
      }
      std::string line = "{";
      bool first = true;
      auto add = [&](const std::string& name, const std::string& value) {
        line += (first ? "" : ",") + JsonString(name) + ":" + value;
        first = false;
      };
      const size_t ts_at = static_cast<size_t>(rng.Uniform(0, src.schema.size()));
      for (size_t i = 0; i <= src.schema.size(); ++i) {
        if (i == ts_at) {
          add(src.ts_field, file.ts_format == TsFormat::kInt ? ts : JsonString(ts));
        }
        if (i == src.schema.size()) break;
        if (!ev.values[i] && src.omit_nulls) continue;
        add(src.schema[i].name, JsonValue(ev.values[i], src.schema[i].type));
      }
      text += line + "}\n";
    }
    WriteFile(dir + "/" + file.name, text);
  }
}

std::string SpecJson(const Scenario& s, const std::string& labels_file) {
  std::string j = "{\n  \"sources\": {";
  for (size_t i = 0; i < s.sources.size(); ++i) {
    const Source& src = s.sources[i];
    j += (i ? ",\n    " : "\n    ") + JsonString(src.name) + ": {\"files\": [";
    for (size_t k = 0; k < src.files.size(); ++k) {
      j += (k ? ", " : "") + JsonString(src.files[k].name);
    }
    j += "], \"ts_field\": " + JsonString(src.ts_field) +
         ", \"allowed_lateness_ms\": " + std::to_string(src.lateness_ms) + ", \"schema\": {";
    for (size_t k = 0; k < src.schema.size(); ++k) {
      j += (k ? ", " : "") + JsonString(src.schema[k].name) + ": " + JsonString(TypeText(src.schema[k].type));
    }
    j += "}}";
  }
  j += "},\n  \"views\": {";
  for (size_t i = 0; i < s.views.size(); ++i) {
    const View& v = s.views[i];
    j += (i ? ",\n    " : "\n    ") + JsonString(v.name) + ": {\"source\": " + JsonString(v.source) +
         ", \"keys\": [";
    const Entity& e = s.EntityOf(v);
    for (size_t k = 0; k < e.keys.size(); ++k) j += (k ? ", " : "") + JsonString(e.keys[k]);
    j += "], \"ttl_ms\": " + (v.ttl ? std::to_string(*v.ttl) : "null") + ", \"features\": [";
    for (size_t k = 0; k < v.features.size(); ++k) {
      const Feature& f = v.features[k];
      j += std::string(k ? ",\n      " : "\n      ") + "{\"name\": " + JsonString(f.name) +
           ", \"agg\": " + JsonString(f.agg) +
           ", \"field\": " + (f.field.empty() ? "null" : JsonString(f.field)) +
           ", \"window_ms\": " + (f.window ? std::to_string(*f.window) : "null") +
           ", \"where\": " + (f.where.empty() ? "null" : JsonString(f.where)) + "}";
    }
    j += "]}";
  }
  j += "},\n  \"labels\": " + JsonString(labels_file) + ",\n  \"ts_column\": " + JsonString(s.ts_column) +
       ",\n  \"features\": [";
  for (size_t i = 0; i < s.views.size(); ++i) j += (i ? ", " : "") + JsonString(s.views[i].name);
  return j + "]\n}\n";
}

// Events below the watermark when they arrive (DESIGN.md §4), computed here only to
// check the late count `vigil stream` reports.
int64_t CountLate(const Source& src) {
  int64_t late = 0;
  std::optional<int64_t> max_ts;
  for (const Event& e : src.events) {
    if (max_ts && e.ts < *max_ts - src.lateness_ms) {
      ++late;
    } else {
      max_ts = std::max(max_ts.value_or(e.ts), e.ts);
    }
  }
  return late;
}

std::string Join(const std::vector<std::string>& v, const std::string& sep) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
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
// Generators.

// The transactions source: user_id, country, amount, n, ok, status, card.
struct TxnOptions {
  int users = 40;
  int events = 3000;
  int64_t lateness_ms = 2000;
  double gap_scale = 1.0;    // stretches the time between events
  double null_rate = 0.0;    // for every field but user_id and country
  double jitter_rate = 0.0;  // out of order, within the allowed lateness
  double late_rate = 0.0;    // beyond it: dropped
  double tie_rate = 0.05;    // the same ts as the event before
  bool magnitudes = false;   // amounts 1e15 and 1e-3 mixed; one user with equal 1e15s
  std::vector<std::string> countries = {"fr", "de", "us"};
};

std::vector<Field> TxnSchema() {
  return {{"user_id", FieldType::kString}, {"country", FieldType::kString}, {"amount", FieldType::kDouble},
          {"n", FieldType::kInt64},        {"ok", FieldType::kBool},        {"status", FieldType::kString},
          {"card", FieldType::kString}};
}

std::string UserName(int i) {
  if (i == 7) return "u 7,\"q\"";  // a key that CSV must quote
  char buf[16];
  snprintf(buf, sizeof buf, "u%03d", i);
  return buf;
}

Source MakeTxn(Rng& rng, const TxnOptions& o, const std::string& name = "txn") {
  Source src;
  src.name = name;
  src.lateness_ms = o.lateness_ms;
  src.schema = TxnSchema();
  static const std::vector<std::string> kStatus = {"ok", "ok", "failed", "declined", "pending"};
  static const std::vector<std::string> kCards = {"c1", "c2", "c3", "c4", "c,5", "c\"6", "ç7"};
  static const std::vector<double> kHuge = {1e15, 2.5e15, 1e-3, 2e-3, 7e-3, 1e15, 123.25};
  int64_t clock = kStart;
  int64_t max_ts = kStart;
  int user = 0;
  std::string country = o.countries[0];
  for (int i = 0; i < o.events; ++i) {
    // Time: bursts of seconds, minutes and hours between events, sometimes none at all.
    double r = rng.Real();
    int64_t gap = r < o.tie_rate ? 0
                  : r < 0.4      ? rng.Uniform(1, 2 * kSecond)
                  : r < 0.7      ? rng.Uniform(0, 2 * kMinute)
                  : r < 0.95     ? rng.Uniform(0, 30 * kMinute)
                                 : rng.Uniform(0, 8 * kHour);
    clock += static_cast<int64_t>(static_cast<double>(gap) * o.gap_scale);
    int64_t ts = clock;
    if (rng.Chance(o.late_rate)) {
      ts = max_ts - o.lateness_ms - rng.Uniform(1, 3 * o.lateness_ms + 1);
    } else if (rng.Chance(o.jitter_rate)) {
      // Out of order but accepted; sometimes exactly on the watermark.
      ts = rng.Chance(0.2) ? max_ts - o.lateness_ms : clock - rng.Uniform(0, o.lateness_ms);
    }
    max_ts = std::max(max_ts, ts);
    // Who: often the same user again (so short windows fill), skewed to a few users.
    if (!rng.Chance(0.5)) {
      double u = rng.Real();
      user = static_cast<int>(u * u * o.users);
      country = rng.Chance(0.8) ? o.countries[user % o.countries.size()] : rng.Pick(o.countries);
    }
    Event e;
    e.ts = ts;
    auto maybe = [&](std::string v) -> Cell {
      if (rng.Chance(o.null_rate)) return std::nullopt;
      return v;
    };
    double amount = static_cast<double>(rng.Uniform(1, 200000)) / 100.0;
    if (o.magnitudes) amount = user == 1 ? 1e15 : rng.Pick(kHuge) * (rng.Chance(0.8) ? 1 : 3);
    int64_t n = o.magnitudes && rng.Chance(0.3) ? rng.Uniform(0, 2'000'000'000'000) : rng.Uniform(0, 20);
    e.values = {UserName(user),
                country,
                maybe(DoubleText(amount)),
                maybe(std::to_string(n)),
                maybe(rng.Chance(0.7) ? "true" : "false"),
                maybe(rng.Pick(kStatus)),
                maybe(rng.Pick(kCards))};
    src.events.push_back(std::move(e));
  }
  return src;
}

struct LabelOptions {
  int count = 1500;
  TsFormat ts_format = TsFormat::kInt;
  std::vector<int64_t> offsets;  // added to an event's ts; windows and ttls are added
  double unknown_rate = 0.03;    // an entity never seen
  double empty_key_rate = 0.02;  // one key cell left empty
  double before_rate = 0.03;     // before the entity's first event
  double end_rate = 0.3;         // anchored at an event followed by a long gap (or none)
};

LabelOptions Labels(int count, TsFormat ts_format = TsFormat::kInt) {
  LabelOptions o;
  o.count = count;
  o.ts_format = ts_format;
  return o;
}

// Labels anchored at events of `src`: keys from the event, t = event ts + an adversarial
// offset. The header is the keys, the ts column, then two passthrough columns.
void MakeLabels(Rng& rng, const Source& src, const std::vector<std::string>& keys, const LabelOptions& o,
                Scenario* s) {
  std::vector<int64_t> offsets = {0, 1, 2, -1, 0, 1};
  for (int64_t off : o.offsets) {
    for (int64_t d : {-1, 0, 1, 2}) offsets.push_back(off + d);
  }
  for (const View& v : s->views) {
    if (v.source != src.name) continue;
    if (v.ttl) {
      for (int64_t d : {-1, 0, 1, 2}) offsets.push_back(*v.ttl + d);
    }
    for (const Feature& f : v.features) {
      if (!f.window) continue;
      for (int64_t d : {-1, 0, 1, 2}) offsets.push_back(*f.window + d);
    }
  }
  std::vector<int> key_index;
  for (const auto& k : keys) key_index.push_back(src.FieldIndex(k));
  // Events after which the entity is quiet for a long while: where ttls expire.
  std::map<std::vector<std::string>, std::vector<size_t>> by_entity;
  for (size_t i = 0; i < src.events.size(); ++i) {
    std::vector<std::string> id;
    for (int k : key_index) id.push_back(src.events[i].values[k].value_or(""));
    by_entity[id].push_back(i);
  }
  std::vector<size_t> ends;
  std::map<std::vector<std::string>, int64_t> first_ts;
  int64_t longest = 0;
  for (int64_t off : offsets) longest = std::max(longest, off);
  for (auto& [id, idx] : by_entity) {
    std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
      return std::pair(src.events[a].ts, a) < std::pair(src.events[b].ts, b);
    });
    first_ts[id] = src.events[idx.front()].ts;
    for (size_t j = 0; j < idx.size(); ++j) {
      if (j + 1 == idx.size() || src.events[idx[j + 1]].ts - src.events[idx[j]].ts > kMinute) {
        ends.push_back(idx[j]);
      }
    }
  }

  s->label_header = keys;
  s->label_header.push_back(s->ts_column);
  s->label_header.push_back("is_fraud");
  s->label_header.push_back("note");
  static const std::vector<std::string> kNotes = {"",          "", "plain", "with, comma", "with \"quotes\"",
                                                  "two\nlines"};
  for (int i = 0; i < o.count; ++i) {
    const size_t at = rng.Chance(o.end_rate) && !ends.empty()
                          ? rng.Pick(ends)
                          : static_cast<size_t>(rng.Uniform(0, src.events.size() - 1));
    const Event& e = src.events[at];
    std::vector<std::string> row;
    for (int k : key_index) row.push_back(e.values[k].value_or(""));
    int64_t t = e.ts + (rng.Chance(0.2) ? rng.Uniform(-kHour, 2 * longest + kHour) : rng.Pick(offsets));
    if (rng.Chance(o.before_rate)) t = first_ts[row] - rng.Pick(offsets) - 1;
    if (rng.Chance(o.unknown_rate)) row[0] = "ghost" + std::to_string(rng.Uniform(0, 9));
    if (rng.Chance(o.empty_key_rate)) row[rng.Uniform(0, row.size() - 1)] = "";
    row.push_back(TsText(t, o.ts_format, rng));
    row.push_back(rng.Chance(0.1) ? "1" : "0");
    row.push_back(rng.Pick(kNotes));
    s->label_rows.push_back(std::move(row));
  }
}

// The nine aggregations over the txn fields, named with `suffix`.
std::vector<Feature> EveryAggregation(std::optional<int64_t> window, const std::string& suffix) {
  std::vector<Feature> f = {
      {"cnt", "count", "", window, ""},
      {"cnt_amount", "count", "amount", window, ""},
      {"sum_amount", "sum", "amount", window, ""},
      {"sum_n", "sum", "n", window, ""},
      {"avg_amount", "avg", "amount", window, ""},
      {"avg_n", "avg", "n", window, ""},
      {"min_amount", "min", "amount", window, ""},
      {"max_amount", "max", "amount", window, ""},
      {"min_status", "min", "status", window, ""},
      {"max_n", "max", "n", window, ""},
      {"std_amount", "stddev", "amount", window, ""},
      {"std_n", "stddev", "n", window, ""},
      {"distinct_cards", "count_distinct", "card", window, ""},
      {"distinct_n", "count_distinct", "n", window, ""},
      {"last_amount", "last", "amount", window, ""},
      {"last_status", "last", "status", window, ""},
      {"last_ok", "last", "ok", window, ""},
      {"first_amount", "first", "amount", window, ""},
      {"first_card", "first", "card", window, ""},
  };
  for (auto& x : f) x.name += suffix;
  return f;
}

Scenario TxnScenario(Source txn) {
  Scenario s;
  s.entities = {{"user", {"user_id"}}};
  txn.files = {{"txn_a.jsonl", TsFormat::kInt}, {"txn_b.jsonl", TsFormat::kInt}};
  s.sources.push_back(std::move(txn));
  return s;
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

}  // namespace
}  // namespace vigil::e2e
