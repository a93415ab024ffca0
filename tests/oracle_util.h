// The oracle tests' project model and its seeded generators (tests/oracle_test.cc,
// tests/offline_dataset_test.cc): entities, sources with their events in log order, feature
// views and labels, written as YAML for vigil, as event files (JSONL and CSV, int and ISO
// timestamps) and as the spec.json of the DuckDB oracle (tools/node/oracle.mjs). Labels sit
// where point-in-time bugs hide: exactly at an event, one ms after it, at the edges of every
// window and of the ttl, before any event, on unknown entities. Test code only.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "e2e_util.h"

namespace vigil::e2e {

// 2024-01-01T00:00:00Z: in the past, so no event is beyond a source's max_future.
inline constexpr int64_t kStart = 1'704'067'200'000;

// ---------------------------------------------------------------------------------------
// The project model: what is written as YAML for vigil and as spec.json for the oracle.

enum class FieldType { kInt64, kDouble, kString, kBool };

inline const char* TypeText(FieldType t) {
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
inline std::string DurationText(int64_t ms) {
  static const std::pair<int64_t, const char*> kUnits[] = {
      {kDay, "d"}, {kHour, "h"}, {kMinute, "m"}, {kSecond, "s"}};
  for (const auto& [unit, name] : kUnits) {
    if (ms != 0 && ms % unit == 0) return std::to_string(ms / unit) + name;
  }
  return std::to_string(ms) + "ms";
}

// A timestamp as it appears in a file: int ms, or ISO in one of several spellings.
inline std::string TsText(int64_t ms, TsFormat format, Rng& rng) {
  if (format == TsFormat::kInt) return std::to_string(ms);
  static const std::vector<int> kOffsets = {0, 0, 120, -330, 60, -480, 345};
  return IsoText(ms, rng.Pick(kOffsets), rng.Chance(0.7) ? 'T' : ' ', rng.Chance(0.6));
}

inline std::string YamlDefinitionsOfSources(const Scenario& s) {
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

inline std::string YamlDefinitionsOfViews(const Scenario& s) {
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

inline std::string JsonValue(const Cell& c, FieldType t) {
  if (!c) return "null";
  return t == FieldType::kString ? JsonString(*c) : *c;
}

// Writes the source's events into its files: the k-th file takes the k-th slice.
inline void WriteEvents(const Source& src, const std::string& dir, Rng& rng) {
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

inline std::string SpecJson(const Scenario& s, const std::string& labels_file) {
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
inline int64_t CountLate(const Source& src) {
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

inline std::string Join(const std::vector<std::string>& v, const std::string& sep) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
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

inline std::vector<Field> TxnSchema() {
  return {{"user_id", FieldType::kString}, {"country", FieldType::kString}, {"amount", FieldType::kDouble},
          {"n", FieldType::kInt64},        {"ok", FieldType::kBool},        {"status", FieldType::kString},
          {"card", FieldType::kString}};
}

inline std::string UserName(int i) {
  if (i == 7) return "u 7,\"q\"";  // a key that CSV must quote
  char buf[16];
  snprintf(buf, sizeof buf, "u%03d", i);
  return buf;
}

inline Source MakeTxn(Rng& rng, const TxnOptions& o, const std::string& name = "txn") {
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

inline LabelOptions Labels(int count, TsFormat ts_format = TsFormat::kInt) {
  LabelOptions o;
  o.count = count;
  o.ts_format = ts_format;
  return o;
}

// Labels anchored at events of `src`: keys from the event, t = event ts + an adversarial
// offset. The header is the keys, the ts column, then two passthrough columns.
inline void MakeLabels(Rng& rng, const Source& src, const std::vector<std::string>& keys, const LabelOptions& o,
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
inline std::vector<Feature> EveryAggregation(std::optional<int64_t> window, const std::string& suffix) {
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

inline Scenario TxnScenario(Source txn) {
  Scenario s;
  s.entities = {{"user", {"user_id"}}};
  txn.files = {{"txn_a.jsonl", TsFormat::kInt}, {"txn_b.jsonl", TsFormat::kInt}};
  s.sources.push_back(std::move(txn));
  return s;
}

}  // namespace vigil::e2e
