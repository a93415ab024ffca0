// Stream/batch identity, end to end (DESIGN.md §4 "Changelog" and "Watermark").
//
// The changelog is canonical: stream compute (`vigil stream`, which writes the topic
// changelog.<view>) and the batch path (`vigil changelog VIEW --replay`, recomputed from the
// source topic up to the source's watermark) must produce the same rows, byte for byte.
//
// The events come from a seeded generator in this file: several entities (one with a
// composite key, one with an int64 key, one with over 1024 entities so that the batch
// replay runs on several threads, keys that need CSV quoting), events out of order
// within allowed_lateness and some beyond it (late: they go to dlq.<source>), equal
// timestamps, gaps longer than the ttls, null fields, and views with every aggregation,
// where-filters and lifetime features. Besides the identity, the tests check properties
// the test computes itself from the events (DESIGN.md §4): which entities have rows, how
// many events are late, lifetime counts, rows only below the watermark, one row per change.
//
// A restart replays deterministically: ingesting in three chunks with a `stream
// --until-caught-up` after each appends only new rows, and ends with exactly the changelog
// of a project that ingested everything at once. `get` returns the last changelog row.
// Finally the real generator (`vigil generate`) with examples/fraud.

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "e2e_util.h"
#include "log/log.h"

namespace vigil::e2e {
namespace stream_batch_test {

// 2024-01-01T00:00:00Z: in the past, so no event is beyond a source's max_future.
constexpr int64_t kStart = 1'704'067'200'000;
constexpr int64_t kNoWatermark = std::numeric_limits<int64_t>::min();

// ---------------------------------------------------------------------------------------
// The scenario: two sources, five views.

struct Txn {
  int64_t ts = 0;
  std::string user;
  std::string merchant;
  int64_t acct = 0;
  std::string device;
  std::optional<double> amount;
  std::optional<int64_t> qty;
  std::optional<std::string> status;
  std::optional<std::string> country;
  std::optional<bool> flagged;
};

struct Login {
  int64_t ts = 0;
  std::string user;
  std::string ip;
  std::optional<bool> ok;
};

// Default allowed lateness of the two sources; a scenario may choose others.
constexpr int64_t kTxnLateness = 5 * kSecond;
constexpr int64_t kLoginLateness = 2 * kSecond;

// One file of the definitions; the views cover every aggregation, windowed and lifetime,
// where-filters over nullable fields, explicit and default ttls, and no ttl at all.
const char* kDefinitions = R"yaml(
entities:
  user:          {keys: [user_id]}
  merchant:      {keys: [merchant_id]}
  user_merchant: {keys: [user_id, merchant_id]}   # composite
  account:       {keys: [acct]}                    # int64 key
  device:        {keys: [device_id]}               # over 1024 entities: parallel replay
sources:
  txns:
    timestamp: ts
    {TXN_LATENESS}
    schema: {user_id: string, merchant_id: string, acct: int64, device_id: string,
             amount: double, qty: int64, status: string, country: string, flagged: bool}
  logins:
    timestamp: event_time
    {LOGIN_LATENESS}
    schema: {user_id: string, ip: string, ok: bool}
feature_views:
  user_txn:
    entity: user
    source: txns
    ttl: 2h
    features:
      n_10m:            {agg: count, window: 10m}
      amount_sum_1h:    {agg: sum, field: amount, window: 1h}
      amount_avg_30m:   {agg: avg, field: amount, window: 30m}
      amount_min_1h:    {agg: min, field: amount, window: 1h}
      amount_max_1h:    {agg: max, field: amount, window: 1h}
      amount_std_1h:    {agg: stddev, field: amount, window: 1h}
      merchants_1h:     {agg: count_distinct, field: merchant_id, window: 1h}
      failed_10m:       {agg: count, window: 10m, where: "status = 'failed'"}
      big_ok_sum_30m:   {agg: sum, field: amount, window: 30m,
                         where: "amount > 100 and status <> 'failed'"}
      qty_sum_1h:       {agg: sum, field: qty, window: 1h}
      qty_avg_1h:       {agg: avg, field: qty, window: 1h}
      country_last_5m:  {agg: last, field: country, window: 5m}
      country_max_1h:   {agg: max, field: country, window: 1h}
      merchant_first_15m: {agg: first, field: merchant_id, window: 15m}
      null_status_1h:   {agg: count, window: 1h, where: "status is null"}
      n_life:           {agg: count}
      country_last:     {agg: last, field: country}
      merchant_first:   {agg: first, field: merchant_id}
      qty_min_life:     {agg: min, field: qty}
      amount_std_life:  {agg: stddev, field: amount}
      countries_life:   {agg: count_distinct, field: country}
  user_merchant_txn:
    entity: user_merchant
    source: txns
    features:            # no ttl: the longest window (30m)
      n_30m:            {agg: count, window: 30m}
      amount_sum_30m:   {agg: sum, field: amount, window: 30m}
      status_last_30m:  {agg: last, field: status, window: 30m}
      qty_max_10m:      {agg: max, field: qty, window: 10m}
  merchant_txn:
    entity: merchant
    source: txns
    features:            # a lifetime feature and no ttl: kept forever
      n_life:           {agg: count}
      users_life:       {agg: count_distinct, field: user_id}
      amount_sum_life:  {agg: sum, field: amount}
      amount_avg_life:  {agg: avg, field: amount}
      status_first:     {agg: first, field: status}
      n_1h:             {agg: count, window: 1h}
  acct_txn:
    entity: account
    source: txns
    ttl: 1h
    features:
      n_15m:            {agg: count, window: 15m}
      qty_max_15m:      {agg: max, field: qty, window: 15m}
      qty_std_1h:       {agg: stddev, field: qty, window: 1h}
      flagged_1h:       {agg: count, window: 1h, where: "flagged"}
      us_de_1h:         {agg: count, window: 1h, where: "lower(country) in ('us', 'de')"}
      odd_sum_30m:      {agg: sum, field: amount, window: 30m,
                         where: "coalesce(amount, 0) > 100 or abs(qty) >= 15"}
  device_txn:
    entity: device
    source: txns
    ttl: 6h
    features:
      n_1h:             {agg: count, window: 1h}
      amount_sum_6h:    {agg: sum, field: amount, window: 6h}
      users_6h:         {agg: count_distinct, field: user_id, window: 6h}
      country_last:     {agg: last, field: country}
      status_first_1h:  {agg: first, field: status, window: 1h}
  user_logins:
    entity: user
    source: logins
    ttl: 1d
    features:
      n_1h:             {agg: count, window: 1h}
      failed_1h:        {agg: count, window: 1h, where: "ok = false"}
      ips_1d:           {agg: count_distinct, field: ip, window: 1d}
      ip_last:          {agg: last, field: ip}
)yaml";

// The views above, with their key columns and source.
struct ViewInfo {
  std::string name;
  std::vector<std::string> keys;
  std::string source;
};
const std::vector<ViewInfo>& Views() {
  static const std::vector<ViewInfo> kViews = {
      {"user_txn", {"user_id"}, "txns"},         {"user_merchant_txn", {"user_id", "merchant_id"}, "txns"},
      {"merchant_txn", {"merchant_id"}, "txns"}, {"acct_txn", {"acct"}, "txns"},
      {"device_txn", {"device_id"}, "txns"},     {"user_logins", {"user_id"}, "logins"},
  };
  return kViews;
}

// A user whose key needs CSV quoting and is not ASCII.
const char* kOddUser = "Zoë, \"the\" user";

struct Scenario {
  int64_t txn_lateness = kTxnLateness;
  int64_t login_lateness = kLoginLateness;
  std::vector<Txn> txns;      // in log order
  std::vector<Login> logins;  // in log order
};

// Out of order by `lateness` or less most of the time, sometimes exactly at the edge,
// sometimes far beyond (late).
int64_t Jitter(Rng& rng, int64_t lateness) {
  double j = rng.Real();
  if (j < 0.70) return 0;
  if (j < 0.93) return rng.Uniform(0, lateness);
  if (j < 0.95) return lateness;      // ts == W when the clock event was the highest
  if (j < 0.96) return lateness + 1;  // one ms below W
  return rng.Uniform(lateness + 1, 30 * kMinute);
}

Scenario MakeScenario(uint64_t seed, size_t n_txns, size_t n_logins, int64_t txn_lateness = kTxnLateness,
                      int64_t login_lateness = kLoginLateness) {
  Rng rng(seed);
  Scenario s;
  s.txn_lateness = txn_lateness;
  s.login_lateness = login_lateness;
  std::vector<std::string> users;
  for (int i = 0; i < 40; ++i) users.push_back("u" + std::to_string(100 + i));
  users.push_back(kOddUser);
  std::vector<std::string> merchants;
  for (int i = 0; i < 12; ++i) merchants.push_back("m" + std::to_string(i));
  std::vector<int64_t> accts = {-7, 0, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110};
  const std::vector<std::string> statuses = {"ok", "ok", "ok", "failed", "declined"};
  const std::vector<std::string> countries = {"US", "DE", "us", "FR", "JP", "São Paulo, \"BR\""};
  // Skewed toward the first users: the rare ones come back after more than their ttl.
  auto pick_user = [&] {
    int64_t n = static_cast<int64_t>(users.size()) - 1;
    return users[static_cast<size_t>(std::min(rng.Uniform(0, n), rng.Uniform(0, n)))];
  };
  auto advance = [&](int64_t* clock, int64_t typical) {
    double r = rng.Real();
    if (r < 0.10) return;  // the same instant as the previous event
    if (r < 0.85)
      *clock += rng.Uniform(1, typical);
    else if (r < 0.98)
      *clock += rng.Uniform(2 * kMinute, 20 * kMinute);
    else
      *clock += rng.Uniform(2 * kHour, 5 * kHour);  // longer than some ttls
  };

  int64_t clock = kStart;
  for (size_t i = 0; i < n_txns; ++i) {
    advance(&clock, 90 * kSecond);
    Txn t;
    if (i > 0 && rng.Chance(0.05)) {
      // Another event of the same user at the same ts: ties break by log order.
      t.user = s.txns.back().user;
      t.ts = s.txns.back().ts;
    } else {
      t.user = pick_user();
      t.ts = clock - Jitter(rng, s.txn_lateness);
    }
    t.merchant = rng.Pick(merchants);
    t.acct = rng.Pick(accts);
    t.device = "d" + std::to_string(rng.Uniform(0, 2999));
    if (!rng.Chance(0.15)) t.amount = static_cast<double>(rng.Uniform(1, 50000)) / 100.0;
    if (!rng.Chance(0.10)) t.qty = rng.Uniform(-3, 20);
    if (!rng.Chance(0.05)) t.status = rng.Pick(statuses);
    if (!rng.Chance(0.05)) t.country = rng.Pick(countries);
    if (!rng.Chance(0.10)) t.flagged = rng.Chance(0.2);
    s.txns.push_back(std::move(t));
  }
  clock = kStart;
  for (size_t i = 0; i < n_logins; ++i) {
    advance(&clock, 4 * kMinute);
    Login l;
    l.user = pick_user();
    l.ts = clock - Jitter(rng, s.login_lateness);
    l.ip = "10.0.0." + std::to_string(rng.Uniform(0, 15));
    if (!rng.Chance(0.10)) l.ok = rng.Chance(0.85);
    s.logins.push_back(std::move(l));
  }
  return s;
}

// Writers. JSONL timestamps are ms integers or ISO strings in several zones; nulls are
// written as null or left out; CSV nulls are empty cells.
std::string TsJson(int64_t ts, Rng& rng) {
  if (rng.Chance(0.7)) return std::to_string(ts);
  static const std::vector<int> kOffsets = {0, 120, -330};
  return JsonString(IsoText(ts, rng.Pick(kOffsets)));
}

template <typename T, typename F>
void AddJsonField(std::string* line, const char* name, const std::optional<T>& v, F text, Rng& rng) {
  if (!v) {
    if (rng.Chance(0.5)) return;  // absent is null too
    *line += std::string(",\"") + name + "\":null";
    return;
  }
  *line += std::string(",\"") + name + "\":" + text(*v);
}

std::string TxnsJsonl(const std::vector<Txn>& txns, size_t begin, size_t end, Rng& rng) {
  std::string out;
  for (size_t i = begin; i < end; ++i) {
    const Txn& t = txns[i];
    std::string line = "{\"ts\":" + TsJson(t.ts, rng);
    line += ",\"user_id\":" + JsonString(t.user) + ",\"merchant_id\":" + JsonString(t.merchant) +
            ",\"acct\":" + std::to_string(t.acct) + ",\"device_id\":" + JsonString(t.device);
    AddJsonField(&line, "amount", t.amount, DoubleText, rng);
    AddJsonField(
        &line, "qty", t.qty, [](int64_t q) { return std::to_string(q); }, rng);
    AddJsonField(&line, "status", t.status, JsonString, rng);
    AddJsonField(&line, "country", t.country, JsonString, rng);
    AddJsonField(
        &line, "flagged", t.flagged, [](bool b) { return std::string(b ? "true" : "false"); }, rng);
    if (rng.Chance(0.1)) line += ",\"ignored_extra\":{\"a\":[1,2]}";  // not in the schema
    out += line + "}\n";
  }
  return out;
}

std::string TxnsCsv(const std::vector<Txn>& txns, size_t begin, size_t end, Rng& rng) {
  std::string out = "merchant_id,ts,user_id,acct,amount,qty,status,country,flagged,device_id\n";
  for (size_t i = begin; i < end; ++i) {
    const Txn& t = txns[i];
    std::string ts = rng.Chance(0.5) ? std::to_string(t.ts) : IsoText(t.ts, rng.Chance(0.5) ? 0 : 60);
    out += CsvLine({t.merchant, ts, t.user, std::to_string(t.acct), t.amount ? DoubleText(*t.amount) : "",
                    t.qty ? std::to_string(*t.qty) : "", t.status.value_or(""), t.country.value_or(""),
                    t.flagged ? (*t.flagged ? "true" : "false") : "", t.device}) +
           "\n";
  }
  return out;
}

std::string LoginsJsonl(const std::vector<Login>& logins, size_t begin, size_t end, Rng& rng) {
  std::string out;
  for (size_t i = begin; i < end; ++i) {
    const Login& l = logins[i];
    std::string line = "{\"user_id\":" + JsonString(l.user) + ",\"event_time\":" + TsJson(l.ts, rng) +
                       ",\"ip\":" + JsonString(l.ip);
    AddJsonField(
        &line, "ok", l.ok, [](bool b) { return std::string(b ? "true" : "false"); }, rng);
    out += line + "}\n";
  }
  return out;
}

// Writes the scenario's events as three chunks per source, in log order:
// txns_1.jsonl txns_2.csv txns_3.jsonl and logins_1..3.jsonl. Returns the chunk
// boundaries (event counts) per source.
struct Chunks {
  std::vector<std::string> txn_files;
  std::vector<std::string> login_files;
  std::vector<size_t> txn_ends;  // cumulative event counts after each chunk
  std::vector<size_t> login_ends;
};

Chunks WriteChunks(const Scenario& s, const std::string& dir, uint64_t seed) {
  Rng rng(seed ^ 0xf11e5);
  Chunks c;
  for (int k = 0; k < 3; ++k) {
    size_t tb = s.txns.size() * k / 3, te = s.txns.size() * (k + 1) / 3;
    size_t lb = s.logins.size() * k / 3, le = s.logins.size() * (k + 1) / 3;
    std::string tf = dir + "/txns_" + std::to_string(k + 1) + (k == 1 ? ".csv" : ".jsonl");
    WriteFile(tf, k == 1 ? TxnsCsv(s.txns, tb, te, rng) : TxnsJsonl(s.txns, tb, te, rng));
    std::string lf = dir + "/logins_" + std::to_string(k + 1) + ".jsonl";
    WriteFile(lf, LoginsJsonl(s.logins, lb, le, rng));
    c.txn_files.push_back(tf);
    c.login_files.push_back(lf);
    c.txn_ends.push_back(te);
    c.login_ends.push_back(le);
  }
  return c;
}

// ---------------------------------------------------------------------------------------
// What DESIGN.md §4 says about the events, computed here independently of vigil.

struct Truth {
  std::vector<bool> accepted;  // per event in log order: not late
  int64_t late = 0;
  int64_t watermark = kNoWatermark;  // W after the last event
};

// W = highest ts seen - allowed_lateness; an event with ts < W on arrival is late.
template <typename E>
Truth WatermarkTruth(const std::vector<E>& events, size_t end, int64_t lateness) {
  Truth t;
  std::optional<int64_t> max_ts;
  for (size_t i = 0; i < end; ++i) {
    const int64_t ts = events[i].ts;
    const bool late = max_ts && ts < *max_ts - lateness;
    t.accepted.push_back(!late);
    if (late) {
      ++t.late;
    } else {
      max_ts = std::max(max_ts.value_or(ts), ts);
    }
  }
  if (max_ts) t.watermark = *max_ts - lateness;
  return t;
}

const char kSep = '\x1f';

// The entities of a view that have an accepted event with ts < W: exactly those with
// changelog rows, since every view here counts events, so each arrival changes the tuple.
std::set<std::string> ExpectedEntities(const Scenario& s, const std::string& view, size_t txn_end,
                                       size_t login_end) {
  std::set<std::string> out;
  if (view == "user_logins") {
    Truth t = WatermarkTruth(s.logins, login_end, s.login_lateness);
    for (size_t i = 0; i < login_end; ++i) {
      if (t.accepted[i] && s.logins[i].ts < t.watermark) out.insert(s.logins[i].user);
    }
    return out;
  }
  Truth t = WatermarkTruth(s.txns, txn_end, s.txn_lateness);
  for (size_t i = 0; i < txn_end; ++i) {
    const Txn& x = s.txns[i];
    if (!t.accepted[i] || x.ts >= t.watermark) continue;
    if (view == "user_txn") out.insert(x.user);
    if (view == "merchant_txn") out.insert(x.merchant);
    if (view == "acct_txn") out.insert(std::to_string(x.acct));
    if (view == "device_txn") out.insert(x.device);
    if (view == "user_merchant_txn") out.insert(x.user + kSep + x.merchant);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Driving vigil.

void Ingest(const std::string& project, const std::string& source, const std::vector<std::string>& files,
            int64_t events) {
  std::vector<std::string> args = {"ingest", source};
  args.insert(args.end(), files.begin(), files.end());
  CommandResult r = RunVigil(project, args, 60);
  ASSERT_EQ(r.exit_code, 0) << "ingest " << source << ": " << r.Describe();
  auto [accepted, rejected] = IngestCounts(r.out);
  // Every event is well-formed. A late event may be counted as rejected at ingest or
  // later by the stream (DESIGN.md §4 leaves the place open); either way each is counted.
  EXPECT_EQ(accepted + rejected, events) << r.Describe();
}

// Runs `stream --until-caught-up`; returns the late events it reports.
int64_t Stream(const std::string& project) {
  CommandResult r = RunVigil(project, {"stream", "--until-caught-up"}, 60);
  EXPECT_EQ(r.exit_code, 0) << "stream: " << r.Describe();
  std::smatch m;
  if (!std::regex_search(r.out, m, std::regex(R"((\d+) source events \((\d+) late)"))) {
    ADD_FAILURE() << "stream did not report its counts: " << r.Describe();
    return -1;
  }
  return std::stoll(m[2]);
}

std::string Changelog(const std::string& project, const std::string& view, bool replay) {
  std::vector<std::string> args = {"changelog", view};
  if (replay) args.push_back("--replay");
  CommandResult r = RunVigil(project, args, 60);
  EXPECT_EQ(r.exit_code, 0) << "changelog " << view << (replay ? " --replay" : "") << ": " << r.Describe();
  return r.out;
}

int64_t TopicEnd(const std::string& project, const std::string& topic) {
  auto log = OpenProjectLog(project);
  if (!log.ok()) {
    ADD_FAILURE() << log.status().ToString();
    return -1;
  }
  auto ends = (*log)->EndOffsets(topic);
  if (!ends.ok()) {
    ADD_FAILURE() << topic << ": " << ends.status().ToString();
    return -1;
  }
  int64_t total = 0;
  for (int64_t e : *ends) total += e;
  return total;
}

int64_t CountLateDeadLetters(const std::string& project, const std::string& source) {
  int64_t n = 0;
  for (const auto& r : ReadTopic(project, "dlq." + source)) {
    nlohmann::json j = nlohmann::json::parse(r.payload, nullptr, false);
    if (j.is_discarded() || !j.contains("reason") || !j["reason"].is_string()) {
      ADD_FAILURE() << "dlq." << source
                    << ": a dead letter is not JSON with a reason: " << r.payload.substr(0, 200);
      continue;
    }
    if (j["reason"].get<std::string>().starts_with("late")) ++n;
  }
  return n;
}

// A changelog CSV parsed: each row's entity (key parts joined by 0x1f), ts and values.
struct ParsedRow {
  std::string entity;
  int64_t ts = 0;
  std::vector<std::string> values;
  std::vector<std::string> keys;
};
struct ParsedChangelog {
  std::vector<std::string> header;
  std::vector<ParsedRow> rows;
};

ParsedChangelog ParseChangelog(const std::string& csv, size_t num_keys) {
  ParsedChangelog p;
  auto rows = ParseCsv(csv);
  if (rows.empty()) {
    ADD_FAILURE() << "empty changelog";
    return p;
  }
  p.header = rows[0];
  for (size_t i = 1; i < rows.size(); ++i) {
    const auto& r = rows[i];
    if (r.size() != p.header.size()) {
      ADD_FAILURE() << "changelog row " << i << " has " << r.size() << " cells, header " << p.header.size();
      continue;
    }
    ParsedRow row;
    for (size_t k = 0; k < num_keys; ++k) {
      row.entity += (k ? std::string(1, kSep) : "") + r[k];
      row.keys.push_back(r[k]);
    }
    row.ts = std::stoll(r[num_keys]);
    row.values.assign(r.begin() + static_cast<std::ptrdiff_t>(num_keys) + 1, r.end());
    p.rows.push_back(std::move(row));
  }
  return p;
}

// DESIGN.md §4 properties of a changelog read back: sorted by entity then ts, one row per
// instant (no duplicates), a row only where the tuple changes, only rows below W.
void ExpectCanonical(const ParsedChangelog& p, const ViewInfo& view, int64_t watermark) {
  std::vector<std::string> want_header = view.keys;
  want_header.push_back("ts");
  ASSERT_GE(p.header.size(), want_header.size() + 1) << view.name;
  EXPECT_TRUE(std::equal(want_header.begin(), want_header.end(), p.header.begin())) << view.name;
  int bad = 0;
  for (size_t i = 0; i < p.rows.size() && bad < 5; ++i) {
    const ParsedRow& r = p.rows[i];
    if (r.ts >= watermark) {
      ADD_FAILURE() << view.name << " row " << i + 1 << " ts " << r.ts << " is not below the watermark "
                    << watermark;
      ++bad;
    }
    if (i == 0) continue;
    const ParsedRow& q = p.rows[i - 1];
    if (q.entity > r.entity || (q.entity == r.entity && q.ts >= r.ts)) {
      ADD_FAILURE() << view.name << " rows " << i << "," << i + 1 << " out of order or duplicate: ("
                    << q.entity << ", " << q.ts << ") then (" << r.entity << ", " << r.ts << ")";
      ++bad;
    } else if (q.entity == r.entity && q.values == r.values) {
      ADD_FAILURE() << view.name << " row " << i + 1 << " (" << r.entity << ", " << r.ts
                    << ") repeats the values of the previous row";
      ++bad;
    }
  }
}

std::set<std::string> EntitiesOf(const ParsedChangelog& p) {
  std::set<std::string> s;
  for (const auto& r : p.rows) s.insert(r.entity);
  return s;
}

std::vector<std::string> SortedLines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  if (!lines.empty()) lines.erase(lines.begin());  // the header
  std::sort(lines.begin(), lines.end());
  return lines;
}

// Writes the definitions, with the scenario's allowed lateness, into a fresh project
// directory. A lateness of 0 is written by leaving the key out (its default).
std::string MakeProject(const TempDir& tmp, const std::string& name, const Scenario& s) {
  std::string yaml = kDefinitions;
  auto lateness = [](int64_t ms) {
    return ms == 0 ? std::string("# allowed_lateness: default (0)")
                   : "allowed_lateness: " + std::to_string(ms) + "ms";
  };
  for (auto [placeholder, ms] : {std::pair<std::string, int64_t>{"{TXN_LATENESS}", s.txn_lateness},
                                 {"{LOGIN_LATENESS}", s.login_lateness}}) {
    yaml.replace(yaml.find(placeholder), placeholder.size(), lateness(ms));
  }
  std::string dir = tmp.Path(name);
  // One partition: the model below keeps one watermark per source (the generated-data
  // test at the end covers partitioned topics).
  WriteFile(dir + "/vigil.yaml", "log: {partitions: 1}\n");
  WriteFile(dir + "/definitions.yaml", yaml);
  return dir;
}

// ---------------------------------------------------------------------------------------

// A JSON value of `get` against a changelog cell: null is an empty cell, numbers compare
// as doubles, strings and bools by text.
::testing::AssertionResult JsonMatchesCell(const nlohmann::json& j, const std::string& cell) {
  bool ok = false;
  if (j.is_null()) {
    ok = cell.empty();
  } else if (j.is_string()) {
    ok = j.get<std::string>() == cell;
  } else if (j.is_boolean()) {
    ok = cell == (j.get<bool>() ? "true" : "false");
  } else if (j.is_number()) {
    double c = 0;
    auto [ptr, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), c);
    ok = ec == std::errc() && ptr == cell.data() + cell.size() && c == j.get<double>();
  }
  if (ok) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "get has " << j.dump() << ", changelog has '" << cell << "'";
}

// `get` of a few entities of `v` (the first, a middle and the last, and the one whose key
// needs quoting) returns their last changelog row: its ts and its values.
void ExpectGetReturnsLastRows(const std::string& project, const ViewInfo& v, bool text_forms) {
  SCOPED_TRACE("view " + v.name);
  ParsedChangelog p = ParseChangelog(Changelog(project, v.name, false), v.keys.size());
  ASSERT_FALSE(p.rows.empty());
  std::map<std::string, const ParsedRow*> last;
  for (const auto& r : p.rows) last[r.entity] = &r;
  // The first, a middle and the last entity, and the one whose key needs quoting.
  std::vector<const ParsedRow*> picks = {last.begin()->second, std::prev(last.end())->second,
                                         std::next(last.begin(), last.size() / 2)->second};
  for (const auto& [entity, row] : last) {
    if (entity.find(kOddUser) != std::string::npos) {
      picks.push_back(row);
      break;
    }
  }
  for (const ParsedRow* row : picks) {
    // The key as a JSON object (int64 keys as JSON integers), and as "a,b" text when no
    // part holds a comma.
    nlohmann::json key = nlohmann::json::object();
    std::string text_key;
    bool has_comma = false;
    for (size_t k = 0; k < v.keys.size(); ++k) {
      if (v.keys[k] == "acct") {
        key[v.keys[k]] = std::stoll(row->keys[k]);
      } else {
        key[v.keys[k]] = row->keys[k];
      }
      text_key += (k ? "," : "") + row->keys[k];
      has_comma |= row->keys[k].find(',') != std::string::npos;
    }
    std::vector<std::string> forms = {key.dump()};
    if (!has_comma) forms.push_back(text_key);
    for (const std::string& form : forms) {
      SCOPED_TRACE("get " + v.name + " " + form);
      CommandResult r = RunVigil(project, {"get", v.name, form}, 60);
      ASSERT_EQ(r.exit_code, 0) << r.Describe();
      nlohmann::json got = nlohmann::json::parse(r.out, nullptr, false);
      ASSERT_FALSE(got.is_discarded()) << "get printed no JSON: " << r.out;
      EXPECT_EQ(got.value("found", false), true) << r.out;
      ASSERT_TRUE(got.contains("ts") && got["ts"].is_number_integer()) << r.out;
      EXPECT_EQ(got["ts"].get<int64_t>(), row->ts) << "freshness: the ts of the last row";
      ASSERT_TRUE(got.contains("features") && got["features"].is_object()) << r.out;
      EXPECT_EQ(got["features"].size(), row->values.size()) << r.out;
      for (size_t f = 0; f < row->values.size(); ++f) {
        const std::string& name = p.header[v.keys.size() + 1 + f];
        ASSERT_TRUE(got["features"].contains(name)) << name << " missing in " << r.out;
        EXPECT_TRUE(JsonMatchesCell(got["features"][name], row->values[f])) << name;
      }
    }
  }
}

TEST(StreamBatch, ChangelogEqualsReplayForEveryView) {
  // Seed, allowed lateness of txns and of logins: the defaults, then none (the default
  // when the key is absent: any event behind the highest ts is late) and a long one.
  const std::vector<std::tuple<uint64_t, int64_t, int64_t>> runs = {
      {11, kTxnLateness, kLoginLateness}, {12, kTxnLateness, kLoginLateness}, {13, 0, 10 * kMinute}};
  for (const auto& [seed, txn_lateness, login_lateness] : runs) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const Scenario s = MakeScenario(seed, 4000, 1500, txn_lateness, login_lateness);
    TempDir tmp("vigil-sb");
    const std::string project = MakeProject(tmp, "project", s);
    const Chunks c = WriteChunks(s, tmp.Path("data"), seed);
    Ingest(project, "txns", c.txn_files, static_cast<int64_t>(s.txns.size()));
    Ingest(project, "logins", c.login_files, static_cast<int64_t>(s.logins.size()));
    const Truth txn = WatermarkTruth(s.txns, s.txns.size(), s.txn_lateness);
    const Truth login = WatermarkTruth(s.logins, s.logins.size(), s.login_lateness);
    ASSERT_GT(txn.late, 0) << "the generator should produce late events";
    ASSERT_GT(login.late, 0) << "the generator should produce late events";

    EXPECT_EQ(Stream(project), txn.late + login.late);
    EXPECT_EQ(CountLateDeadLetters(project, "txns"), txn.late);
    EXPECT_EQ(CountLateDeadLetters(project, "logins"), login.late);

    for (const ViewInfo& v : Views()) {
      SCOPED_TRACE("view " + v.name);
      const std::string stream = Changelog(project, v.name, false);
      const std::string replay = Changelog(project, v.name, true);
      EXPECT_EQ(stream, replay) << "stream and batch changelogs differ:\n"
                                << CsvMatches(stream, replay).message();
      ParsedChangelog p = ParseChangelog(stream, v.keys.size());
      EXPECT_GT(p.rows.size(), 50u);
      if (v.name == "device_txn") {
        // More than 1024 entities: the batch replay splits them across threads.
        EXPECT_GT(EntitiesOf(p).size(), 1024u);
      }
      const int64_t w = v.source == "txns" ? txn.watermark : login.watermark;
      ExpectCanonical(p, v, w);
      EXPECT_EQ(EntitiesOf(p), ExpectedEntities(s, v.name, s.txns.size(), s.logins.size()));
      EXPECT_EQ(static_cast<int64_t>(p.rows.size()), TopicEnd(project, "changelog." + v.name))
          << "the changelog topic holds a record that is not a distinct row";
    }

    // Lifetime features with no ttl: the last row of a merchant counts every accepted
    // event of the merchant below W, and its distinct users.
    ParsedChangelog m = ParseChangelog(Changelog(project, "merchant_txn", false), 1);
    std::map<std::string, std::pair<int64_t, std::set<std::string>>> want;
    for (size_t i = 0; i < s.txns.size(); ++i) {
      if (!txn.accepted[i] || s.txns[i].ts >= txn.watermark) continue;
      auto& [n, users] = want[s.txns[i].merchant];
      ++n;
      users.insert(s.txns[i].user);
    }
    std::map<std::string, std::pair<std::string, std::string>> last;  // merchant -> n, users
    for (const auto& r : m.rows) last[r.entity] = {r.values.at(0), r.values.at(1)};
    ASSERT_EQ(last.size(), want.size());
    for (const auto& [merchant, counts] : want) {
      EXPECT_EQ(last[merchant].first, std::to_string(counts.first)) << merchant << " n_life";
      EXPECT_EQ(last[merchant].second, std::to_string(counts.second.size())) << merchant << " users_life";
    }
  }
}

TEST(StreamBatch, RestartAfterEachChunkAppendsOnlyNewRows) {
  const uint64_t seed = 21;
  const Scenario s = MakeScenario(seed, 3600, 1200);
  TempDir tmp("vigil-sb");
  const std::string chunked = MakeProject(tmp, "chunked", s);
  const std::string single = MakeProject(tmp, "single", s);
  const Chunks c = WriteChunks(s, tmp.Path("data"), seed);

  std::map<std::string, std::vector<std::string>> before;  // view -> sorted rows
  for (size_t k = 0; k < 3; ++k) {
    SCOPED_TRACE("after chunk " + std::to_string(k + 1));
    const size_t txn_begin = k == 0 ? 0 : c.txn_ends[k - 1];
    const size_t login_begin = k == 0 ? 0 : c.login_ends[k - 1];
    Ingest(chunked, "txns", {c.txn_files[k]}, static_cast<int64_t>(c.txn_ends[k] - txn_begin));
    Ingest(chunked, "logins", {c.login_files[k]}, static_cast<int64_t>(c.login_ends[k] - login_begin));
    Stream(chunked);
    const Truth txn = WatermarkTruth(s.txns, c.txn_ends[k], s.txn_lateness);
    const Truth login = WatermarkTruth(s.logins, c.login_ends[k], s.login_lateness);
    EXPECT_EQ(CountLateDeadLetters(chunked, "txns"), txn.late) << "late dead letters duplicated or lost";
    EXPECT_EQ(CountLateDeadLetters(chunked, "logins"), login.late);
    for (const ViewInfo& v : Views()) {
      SCOPED_TRACE("view " + v.name);
      const std::string stream = Changelog(chunked, v.name, false);
      const std::string replay = Changelog(chunked, v.name, true);
      EXPECT_EQ(stream, replay) << CsvMatches(stream, replay).message();
      ParsedChangelog p = ParseChangelog(stream, v.keys.size());
      ExpectCanonical(p, v, v.source == "txns" ? txn.watermark : login.watermark);
      EXPECT_EQ(EntitiesOf(p), ExpectedEntities(s, v.name, c.txn_ends[k], c.login_ends[k]));
      EXPECT_EQ(static_cast<int64_t>(p.rows.size()), TopicEnd(chunked, "changelog." + v.name))
          << "the restart appended rows the topic already held";
      // Rows below an earlier watermark are final: every row of the previous round is
      // still there, and this round added some.
      std::vector<std::string> now = SortedLines(stream);
      const auto& prev = before[v.name];
      EXPECT_TRUE(std::includes(now.begin(), now.end(), prev.begin(), prev.end()))
          << "a row written before the restart is gone or changed";
      EXPECT_GT(now.size(), prev.size());
      before[v.name] = std::move(now);
    }
  }

  // One more restart with nothing new appends nothing.
  std::map<std::string, int64_t> ends;
  for (const ViewInfo& v : Views()) ends[v.name] = TopicEnd(chunked, "changelog." + v.name);
  const int64_t dlq_txns = TopicEnd(chunked, "dlq.txns");
  const int64_t dlq_logins = TopicEnd(chunked, "dlq.logins");
  Stream(chunked);
  for (const ViewInfo& v : Views()) {
    EXPECT_EQ(TopicEnd(chunked, "changelog." + v.name), ends[v.name]) << v.name;
  }
  EXPECT_EQ(TopicEnd(chunked, "dlq.txns"), dlq_txns);
  EXPECT_EQ(TopicEnd(chunked, "dlq.logins"), dlq_logins);

  // The same events ingested at once and streamed once: the same changelogs.
  Ingest(single, "txns", c.txn_files, static_cast<int64_t>(s.txns.size()));
  Ingest(single, "logins", c.login_files, static_cast<int64_t>(s.logins.size()));
  Stream(single);
  for (const ViewInfo& v : Views()) {
    SCOPED_TRACE("view " + v.name);
    const std::string a = Changelog(chunked, v.name, false);
    const std::string b = Changelog(single, v.name, false);
    EXPECT_EQ(a, b) << "chunked and single-run changelogs differ:\n" << CsvMatches(a, b).message();
    EXPECT_EQ(b, Changelog(single, v.name, true));
  }
  EXPECT_EQ(CountLateDeadLetters(single, "txns"), CountLateDeadLetters(chunked, "txns"));
  EXPECT_EQ(CountLateDeadLetters(single, "logins"), CountLateDeadLetters(chunked, "logins"));
  // The ingestion consumer resumed across the restarts: online rows are the last ones.
  for (const ViewInfo& v : Views()) ExpectGetReturnsLastRows(chunked, v, false);
}

TEST(StreamBatch, GetReturnsTheLastChangelogRow) {
  const uint64_t seed = 31;
  const Scenario s = MakeScenario(seed, 2500, 800);
  TempDir tmp("vigil-sb");
  const std::string project = MakeProject(tmp, "project", s);
  const Chunks c = WriteChunks(s, tmp.Path("data"), seed);
  Ingest(project, "txns", c.txn_files, static_cast<int64_t>(s.txns.size()));
  Ingest(project, "logins", c.login_files, static_cast<int64_t>(s.logins.size()));
  Stream(project);

  for (const ViewInfo& v : Views()) ExpectGetReturnsLastRows(project, v, true);

  // An entity that never had an event is not an error: found is false.
  CommandResult r = RunVigil(project, {"get", "user_txn", "nobody"}, 60);
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  nlohmann::json got = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(got.is_discarded()) << r.out;
  EXPECT_EQ(got.value("found", true), false) << r.out;
  EXPECT_TRUE(got["ts"].is_null()) << r.out;
}

// The feature view names of a project, read from its YAML with yaml-cpp (not by vigil).
std::vector<std::string> ViewNamesFromYaml(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const auto& path = entry.path();
    if (path.extension() != ".yaml" && path.extension() != ".yml") continue;
    if (path.stem() == "vigil") continue;
    YAML::Node root = YAML::LoadFile(path.string());
    if (!root.IsMap() || !root["feature_views"] || !root["feature_views"].IsMap()) continue;
    for (const auto& kv : root["feature_views"]) names.push_back(kv.first.as<std::string>());
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST(StreamBatch, GeneratedFraudDataChangelogEqualsReplay) {
  TempDir tmp("vigil-sb-fraud");
  const std::string data = tmp.Path("data");
  const std::string project = tmp.Path("project");
  CommandResult g = RunCommand(
      ShellJoin({VigilBinary(), "generate", "--users", "300", "--days", "3", "--seed", "5", "--out", data}),
      120);
  ASSERT_EQ(g.exit_code, 0) << g.Describe();
  std::filesystem::create_directories(project);
  const std::string examples = SourceDir() + "/examples/fraud";
  for (const auto& entry : std::filesystem::directory_iterator(examples)) {
    if (entry.path().extension() == ".yaml") {
      std::filesystem::copy_file(entry.path(), project + "/" + entry.path().filename().string());
    }
  }
  const std::vector<std::string> views = ViewNamesFromYaml(project);
  ASSERT_FALSE(views.empty()) << "no feature_views in " << examples;
  CommandResult val = RunVigil(project, {"validate"}, 60);
  ASSERT_EQ(val.exit_code, 0) << val.Describe();
  EXPECT_NE(val.out.find(std::to_string(views.size()) + " feature views"), std::string::npos)
      << "the YAML names " << views.size() << " views; validate says: " << val.out;

  for (const char* source : {"logins", "transactions", "withdrawals", "p2p_orders", "account_events"}) {
    const std::string file = data + "/" + source + ".jsonl";
    const std::string text = ReadFile(file);
    const int64_t lines = std::count(text.begin(), text.end(), '\n');
    ASSERT_GT(lines, 0) << file;
    CommandResult r = RunVigil(project, {"ingest", source, file}, 60);
    ASSERT_EQ(r.exit_code, 0) << r.Describe();
    // Generated files are well-formed and sorted by ts: nothing is rejected or late.
    EXPECT_EQ(IngestCounts(r.out), std::make_pair(lines, int64_t{0})) << r.out;
  }
  EXPECT_EQ(Stream(project), 0);
  for (const std::string& v : views) {
    SCOPED_TRACE("view " + v);
    const std::string stream = Changelog(project, v, false);
    const std::string replay = Changelog(project, v, true);
    EXPECT_GT(std::count(stream.begin(), stream.end(), '\n'), 1) << "no rows";
    EXPECT_EQ(stream, replay) << CsvMatches(stream, replay).message();
  }
}

}  // namespace stream_batch_test
}  // namespace vigil::e2e
