// Backfill, end to end (issue 4 §3, DESIGN.md §4 "Changelog"): `vigil backfill VIEW`
// rebuilds a view's changelog from history with the stream's engine, so its rows are the
// stream's rows, whatever the history is read from, however the work is split and
// however often it is interrupted; a changed definition gets a new version that backfill
// fills.
//
//  - EqualsTheStream / EqualsTheStreamAfterRetention: four views over two sources (windows,
//    where, ttl, count_distinct, last/first, a composite key, a view keyed by merchant over
//    a source partitioned by user, so its entities span the four partitions), events out of
//    order and some late. After ingest, `stream --until-caught-up` and `archive`, for each
//    view: the backfill's own rows (read alone, with the ingested files set aside) equal
//    the stream's changelog rows below the backfill's bound, and so does `changelog
//    --offline`; the second test first lets retention delete most of the live log, so
//    the history comes from the Parquet archive.
//  - ParallelBoundedResumable: `--threads 3 --memory-mb 1` (many buckets) writes the same
//    rows as `--threads 1` with ample memory; `--stop-after-buckets 1` stops early and the
//    same command resumes ("(resumed)") to the same rows, and so does a run killed with
//    SIGKILL in the middle; readers see the last completed run meanwhile.
//  - NewFeatureGetsAVersion: a feature added to a view after the stream ran registers v2;
//    backfill fills it; `features list --json` says so; `dataset` (offline changelog below
//    the backfill's bound) equals `dataset --replay-only` and has the new column;
//    `features remove` removes v1's offline rows and refuses the current version.
//
// Nothing here is an expected output written by hand: every comparison is between two
// ways vigil computes the same thing.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "e2e_util.h"

namespace vigil::e2e {
namespace backfill_test {

namespace fs = std::filesystem;

constexpr int kScaleDivisor = kSanitized ? 4 : 1;

// 2024-01-01T00:00:00Z.
constexpr int64_t kStart = 1'704'067'200'000;

constexpr char kDefs[] = R"(entities:
  user:          {keys: [user_id]}
  merchant:      {keys: [merchant_id]}
  user_merchant: {keys: [user_id, merchant_id]}
sources:
  txns:
    timestamp: ts
    allowed_lateness: 5s
    partition_by: [user_id]
    schema: {user_id: string, merchant_id: string, amount: double, status: string, country: string}
  logins:
    timestamp: ts
    allowed_lateness: 2s
    partition_by: [user_id]
    schema: {user_id: string, ip: string, ok: bool}
feature_views:
  user_txn:
    entity: user
    source: txns
    ttl: 2h
    features:
      n_10m:              {agg: count, window: 10m}
      sum_1h:             {agg: sum, field: amount, window: 1h}
      failed_30m:         {agg: count, window: 30m, where: "status = 'failed'"}
      merchants_1h:       {agg: count_distinct, field: merchant_id, window: 1h}
      country_last:       {agg: last, field: country}
      merchant_first_15m: {agg: first, field: merchant_id, window: 15m}
  merchant_txn:
    entity: merchant
    source: txns
    ttl: 3h
    features:
      n_1h:               {agg: count, window: 1h}
      users_1h:           {agg: count_distinct, field: user_id, window: 1h}
      amount_max_30m:     {agg: max, field: amount, window: 30m, where: "status <> 'failed'"}
      status_last_1h:     {agg: last, field: status, window: 1h}
  user_merchant_txn:
    entity: user_merchant
    source: txns
    features:
      n_30m:              {agg: count, window: 30m}
      amount_avg_30m:     {agg: avg, field: amount, window: 30m}
      country_first_30m:  {agg: first, field: country, window: 30m}
  user_logins:
    entity: user
    source: logins
    ttl: 1d
    features:
      n_1h:               {agg: count, window: 1h}
      failed_1h:          {agg: count, window: 1h, where: "ok = false"}
      ips_1d:             {agg: count_distinct, field: ip, window: 1d}
      ip_first:           {agg: first, field: ip}
)";

const std::vector<std::string> kViews = {"user_txn", "merchant_txn", "user_merchant_txn", "user_logins"};

// Events as JSONL: `n_txns` transactions and n_txns / 3 logins, a minute or so apart
// with gaps longer than the ttls now and then, out of order within the lateness, some
// beyond it (late), ties of ts, null fields.
struct Events {
  std::string txns, logins;
  std::vector<std::pair<std::string, int64_t>> users_at;  // (user, ts) for labels
};

Events MakeEvents(uint64_t seed, int n_txns) {
  Rng rng(seed);
  Events e;
  auto user = [&] { return "u" + std::to_string(std::min(rng.Uniform(0, 59), rng.Uniform(0, 59))); };
  const std::vector<std::string> statuses = {"ok", "ok", "ok", "failed", "declined"};
  const std::vector<std::string> countries = {"US", "DE", "FR", "JP", "BR"};
  auto advance = [&](int64_t* clock, int64_t typical) {
    double r = rng.Real();
    if (r < 0.1) return;  // the same instant
    if (r < 0.97)
      *clock += rng.Uniform(1, typical);
    else
      *clock += rng.Uniform(1 * kHour, 4 * kHour);
  };
  auto jitter = [&](int64_t lateness) -> int64_t {
    double j = rng.Real();
    if (j < 0.75) return 0;
    if (j < 0.97) return rng.Uniform(0, lateness);
    return rng.Uniform(lateness + 1, 40 * kMinute);  // late
  };
  int64_t clock = kStart;
  std::string last_user, last_merchant;
  int64_t last_ts = 0;
  for (int i = 0; i < n_txns; ++i) {
    advance(&clock, 60 * kSecond);
    std::string u = user();
    std::string merchant = "m" + std::to_string(rng.Uniform(0, 14));
    int64_t ts = clock - jitter(5 * kSecond);
    double tie = rng.Real();
    if (i > 0 && tie < 0.05) {  // same user, same ts: ties break by log order
      u = last_user;
      ts = last_ts;
    } else if (i > 0 && tie < 0.08) {  // same merchant and ts, likely another partition
      merchant = last_merchant;
      ts = last_ts;
    }
    last_user = u;
    last_merchant = merchant;
    last_ts = ts;
    std::string line = "{\"ts\":" + std::to_string(ts) + ",\"user_id\":\"" + u + "\",\"merchant_id\":\"" +
                       merchant + "\"";
    if (!rng.Chance(0.1)) line += ",\"amount\":" + DoubleText(static_cast<double>(rng.Uniform(1, 40000)) / 100);
    if (!rng.Chance(0.05)) line += ",\"status\":\"" + rng.Pick(statuses) + "\"";
    if (!rng.Chance(0.05)) line += ",\"country\":\"" + rng.Pick(countries) + "\"";
    e.txns += line + "}\n";
    if (i % 7 == 0) e.users_at.emplace_back(u, ts + rng.Uniform(0, 20 * kMinute));
  }
  clock = kStart;
  for (int i = 0; i < n_txns / 3; ++i) {
    advance(&clock, 3 * kMinute);
    std::string line = "{\"ts\":" + std::to_string(clock - jitter(2 * kSecond)) + ",\"user_id\":\"" + user() +
                       "\",\"ip\":\"10.0.0." + std::to_string(rng.Uniform(0, 9)) + "\"";
    if (!rng.Chance(0.1)) line += std::string(",\"ok\":") + (rng.Chance(0.85) ? "true" : "false");
    e.logins += line + "}\n";
  }
  return e;
}

// A scratch project with the events ingested, streamed (the changelog topics, the online
// and the offline store) and archived.
class Pipeline {
 public:
  Pipeline(const std::string& settings, uint64_t seed, int n_txns) : dir_("vigil-backfill") {
    project_ = dir_.Path("project");
    WriteFile(project_ + "/defs.yaml", kDefs);
    WriteFile(project_ + "/vigil.yaml", settings);
    events_ = MakeEvents(seed, n_txns / kScaleDivisor);
    WriteFile(dir_.Path("txns.jsonl"), events_.txns);
    WriteFile(dir_.Path("logins.jsonl"), events_.logins);
  }

  // Ingest and stream; the stream's changelogs are kept (retention may delete the topics).
  void Run() {
    for (const char* source : {"txns", "logins"}) {
      CommandResult r = Run({"ingest", source, dir_.Path(std::string(source) + ".jsonl")});
      ASSERT_EQ(r.exit_code, 0) << r.Describe();
    }
    CommandResult s = Run({"stream", "--until-caught-up"}, 120);
    ASSERT_EQ(s.exit_code, 0) << s.Describe();
    for (const auto& v : kViews) {
      CommandResult c = Run({"changelog", v});
      ASSERT_EQ(c.exit_code, 0) << c.Describe();
      stream_[v] = c.out;
    }
  }

  CommandResult Archive() { return Run({"archive"}); }

  CommandResult Run(const std::vector<std::string>& args, int timeout_s = 60) {
    return RunVigil(project_, args, timeout_s);
  }

  const std::string& project() const { return project_; }
  const TempDir& dir() const { return dir_; }
  const Events& events() const { return events_; }
  const std::string& StreamChangelog(const std::string& view) { return stream_[view]; }
  std::string Offline() const { return project_ + "/.vigil/offline"; }
  std::string FeaturesDir(const std::string& view, int version = 1) const {
    return Offline() + "/features/" + view + "/version=" + std::to_string(version);
  }

  // `changelog VIEW --offline`.
  std::string OfflineChangelog(const std::string& view) {
    CommandResult c = Run({"changelog", view, "--offline"});
    EXPECT_EQ(c.exit_code, 0) << c.Describe();
    return c.out;
  }

  // The rows of the view's last completed backfill alone: `changelog --offline` with
  // every other data file (the ingested rows) set aside for the call.
  std::string BackfillRows(const std::string& view, int version = 1) {
    std::string stash = dir_.Path("stash");
    std::vector<std::pair<fs::path, fs::path>> moved;
    std::error_code ec;
    for (const auto& f : fs::recursive_directory_iterator(FeaturesDir(view, version), ec)) {
      std::string name = f.path().filename().string();
      if (!f.is_regular_file() || f.path().extension() != ".parquet" || name.rfind("backfill-", 0) == 0) continue;
      fs::path to = fs::path(stash) / std::to_string(moved.size());
      moved.emplace_back(f.path(), to);
    }
    fs::create_directories(stash, ec);
    for (const auto& [from, to] : moved) fs::rename(from, to);
    std::string out = OfflineChangelog(view);
    for (const auto& [from, to] : moved) fs::rename(to, from);
    EXPECT_FALSE(moved.empty()) << "no ingested rows of " << view << " to set aside";
    return out;
  }

 private:
  TempDir dir_;
  std::string project_;
  Events events_;
  std::map<std::string, std::string> stream_;
};

// The rows of a changelog CSV with ts < bound (or >= bound), header kept.
std::string RowsBelow(const std::string& csv, int64_t bound, bool below = true) {
  auto rows = ParseCsv(csv);
  if (rows.empty()) return "";
  auto ts_col = std::find(rows[0].begin(), rows[0].end(), "ts") - rows[0].begin();
  std::string out = CsvLine(rows[0]) + "\n";
  for (size_t r = 1; r < rows.size(); ++r) {
    if ((std::stoll(rows[r][static_cast<size_t>(ts_col)]) < bound) == below) out += CsvLine(rows[r]) + "\n";
  }
  return out;
}

size_t DataRows(const std::string& csv) {
  auto rows = ParseCsv(csv);
  return rows.empty() ? 0 : rows.size() - 1;
}

// Exactly the same text; on a difference, where (cell by cell).
::testing::AssertionResult SameRows(const std::string& actual, const std::string& expected) {
  if (actual == expected) return ::testing::AssertionSuccess();
  auto cells = CsvMatches(actual, expected, 0, 0);
  return ::testing::AssertionFailure() << (cells ? "the texts differ only in number formatting"
                                                 : std::string(cells.message()));
}

// The bound `vigil backfill` printed for `view` (any view when empty).
int64_t Bound(const CommandResult& r, const std::string& view = "") {
  std::smatch m;
  const std::string name = view.empty() ? std::string(R"(\S+)") : view;
  if (!std::regex_search(r.out, m, std::regex("backfill bound: " + name + R"( (-?\d+))"))) {
    ADD_FAILURE() << "no bound of '" << view << "' in: " << r.Describe();
    return 0;
  }
  return std::stoll(m[1]);
}

int Buckets(const CommandResult& r) {
  std::smatch m;
  if (!std::regex_search(r.out, m, std::regex(R"(in (\d+) buckets)"))) {
    ADD_FAILURE() << "no bucket count in: " << r.Describe();
    return 0;
  }
  return std::stoi(m[1]);
}

// Each view's backfill rows (alone) and its offline changelog equal the stream's rows
// below the bound, and the bound leaves none of the stream's rows out. One `vigil
// backfill VIEW` per view or, `together`, one `vigil backfill VIEW...` of them all, where
// the txns views share one pass over their source.
void ExpectBackfillEqualsStream(Pipeline& p, bool together = false) {
  CommandResult all;
  if (together) {
    std::vector<std::string> args = {"backfill"};
    args.insert(args.end(), kViews.begin(), kViews.end());
    all = p.Run(args);
    ASSERT_EQ(all.exit_code, 0) << all.Describe();
    for (const std::string view : {"user_txn", "merchant_txn", "user_merchant_txn"}) {
      EXPECT_TRUE(
          std::regex_search(all.out, std::regex("backfill " + view + R"( v1: .*one pass for 3 views)")))
          << view << " should have shared its source's spill: " << all.out;
    }
    EXPECT_TRUE(std::regex_search(all.out, std::regex(R"(backfill user_logins v1: .*\(spill [0-9.]+ s\))")))
        << "user_logins spills alone: " << all.out;
    EXPECT_TRUE(std::regex_search(all.out, std::regex(R"(backfill: 4 views, \d+ rows written)"))) << all.out;
  }
  for (const auto& view : kViews) {
    SCOPED_TRACE(view);
    CommandResult b = together ? all : p.Run({"backfill", view});
    ASSERT_EQ(b.exit_code, 0) << b.Describe();
    EXPECT_TRUE(std::regex_search(b.out, std::regex("backfill " + view + " v1: complete"))) << b.out;
    int64_t bound = Bound(b, view);
    const std::string& stream = p.StreamChangelog(view);
    std::string expected = RowsBelow(stream, bound);
    EXPECT_GT(DataRows(expected), 200u) << "too few rows to compare";
    // The stream emits rows below its watermark, which is the history's: the backfill's
    // bound (no --to) leaves none of them out.
    EXPECT_EQ(DataRows(RowsBelow(stream, bound, false)), 0u) << "bound " << bound;

    EXPECT_TRUE(SameRows(p.BackfillRows(view), expected)) << "backfill rows vs stream rows below " << bound;
    std::string offline = p.OfflineChangelog(view);
    EXPECT_TRUE(SameRows(RowsBelow(offline, bound), expected)) << "changelog --offline vs stream below " << bound;
    // Above the bound the ingested rows remain: the whole offline changelog is the stream's.
    EXPECT_TRUE(SameRows(offline, stream)) << "changelog --offline vs stream";
  }
}

constexpr char kSettings[] = "log: {partitions: 4}\nstream: {idle_timeout: 0s}\n";

TEST(Backfill, EqualsTheStream) {
  Pipeline p(kSettings, 11, 6000);
  ASSERT_NO_FATAL_FAILURE(p.Run());
  CommandResult a = p.Archive();
  ASSERT_EQ(a.exit_code, 0) << a.Describe();
  ExpectBackfillEqualsStream(p);
  // Again, every view in one call: its runs replace the ones above.
  ExpectBackfillEqualsStream(p, /*together=*/true);
  CommandResult twice = p.Run({"backfill", "user_txn", "merchant_txn", "user_txn"});
  EXPECT_NE(twice.exit_code, 0);
  EXPECT_NE(twice.err.find("'user_txn' named twice"), std::string::npos) << twice.Describe();
  CommandResult unknown = p.Run({"backfill", "user_txn", "no_such_view"});
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.err.find("unknown feature view 'no_such_view'"), std::string::npos) << unknown.Describe();
}

TEST(Backfill, EqualsTheStreamAfterRetention) {
  // Tiny segments and a size limit, so retention deletes most of each partition.
  // (Small enough for the sanitizer build's quarter-size data too: 2 KiB per partition.)
  Pipeline p("log: {partitions: 4, segment_bytes: 1KiB, index_interval_bytes: 256, retention_bytes: 2KiB}\n"
             "stream: {idle_timeout: 0s}\n",
             12, 6000);
  ASSERT_NO_FATAL_FAILURE(p.Run());
  CommandResult a = p.Archive();
  ASSERT_EQ(a.exit_code, 0) << a.Describe();
  auto log = OpenProjectLog(p.project());
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  for (const char* source : {"txns", "logins"}) {
    auto starts = (*log)->StartOffsets(source);
    ASSERT_TRUE(starts.ok()) << starts.status().ToString();
    int64_t deleted = 0;
    for (int64_t s : *starts) deleted += s;
    const std::string& events = source == std::string("txns") ? p.events().txns : p.events().logins;
    EXPECT_GT(deleted, std::count(events.begin(), events.end(), '\n') / 2)
        << source << ": retention should have deleted most of the topic";
  }
  (*log).reset();
  ExpectBackfillEqualsStream(p);
}

std::set<std::string> BackfillRuns(const std::string& features_dir) {
  std::set<std::string> runs;
  std::error_code ec;
  for (const auto& f : fs::recursive_directory_iterator(features_dir, ec)) {
    std::string name = f.path().filename().string();
    if (name.rfind("backfill-", 0) != 0) continue;
    runs.insert(name.substr(9, name.find('-', 9) - 9));
  }
  return runs;
}

TEST(Backfill, ParallelBoundedResumable) {
  Pipeline p(kSettings, 13, 16000);
  ASSERT_NO_FATAL_FAILURE(p.Run());
  const std::string view = "user_txn";
  const std::string stream = p.StreamChangelog(view);

  // The reference: one thread, memory for everything (one bucket).
  CommandResult one = p.Run({"backfill", view, "--threads", "1", "--memory-mb", "4096"});
  ASSERT_EQ(one.exit_code, 0) << one.Describe();
  EXPECT_EQ(Buckets(one), 1) << one.out;
  const int64_t bound = Bound(one);
  const std::string reference = p.BackfillRows(view);
  ASSERT_TRUE(SameRows(reference, RowsBelow(stream, bound))) << "the reference backfill vs the stream";
  EXPECT_GT(DataRows(reference), 1000u);

  // Three threads, 1 MiB, two files open per thread: many buckets, their rows written
  // a thousand at a time, files of later generations for buckets of more than 2 dates;
  // the same rows.
  CommandResult many =
      p.Run({"backfill", view, "--threads", "3", "--memory-mb", "1", "--max-open-files", "2"});
  ASSERT_EQ(many.exit_code, 0) << many.Describe();
  const int buckets = Buckets(many);
  EXPECT_GT(buckets, kScaleDivisor == 1 ? 3 : 2) << many.out;
  EXPECT_EQ(Bound(many), bound);
  EXPECT_TRUE(SameRows(p.BackfillRows(view), reference)) << "--threads 3 --memory-mb 1 --max-open-files 2";
  {
    std::set<std::string> dates;
    bool later_generation = false;
    std::error_code ec;
    for (const auto& f : fs::recursive_directory_iterator(p.FeaturesDir(view), ec)) {
      const std::string name = f.path().filename().string();
      if (name.rfind("backfill-", 0) != 0) continue;
      dates.insert(f.path().parent_path().filename().string());
      later_generation |= !name.ends_with("-0.parquet");
    }
    ASSERT_GT(dates.size(), 2u) << "the history should span more dates than files open";
    EXPECT_TRUE(later_generation) << "no bucket wrote a second generation of files";
  }
  EXPECT_EQ(BackfillRuns(p.FeaturesDir(view)).size(), 1u) << "a completed run deletes the earlier runs' files";

  // Stopped after each bucket and resumed by the same command until complete.
  const std::vector<std::string> step = {"backfill", view, "--threads", "2", "--memory-mb", "1",
                                         "--stop-after-buckets", "1"};
  CommandResult first = p.Run(step);
  ASSERT_EQ(first.exit_code, 0) << first.Describe();
  EXPECT_NE(first.out.find("stopped early"), std::string::npos) << first.out;
  EXPECT_EQ(first.out.find("(resumed)"), std::string::npos) << first.out;
  // Meanwhile readers see the last completed run.
  EXPECT_TRUE(SameRows(p.OfflineChangelog(view), stream)) << "while a run is incomplete";
  int calls = 1;
  CommandResult last = first;
  while (last.out.find("stopped early") != std::string::npos && calls < buckets + 2) {
    last = p.Run(step);
    ++calls;
    ASSERT_EQ(last.exit_code, 0) << last.Describe();
    EXPECT_NE(last.out.find("(resumed)"), std::string::npos) << last.out;
  }
  EXPECT_NE(last.out.find("complete"), std::string::npos) << last.out;
  EXPECT_EQ(calls, Buckets(first)) << "one bucket per call";
  EXPECT_TRUE(SameRows(p.BackfillRows(view), reference)) << "after resuming bucket by bucket";
  EXPECT_TRUE(SameRows(p.OfflineChangelog(view), stream));
  EXPECT_FALSE(fs::exists(p.Offline() + "/backfill/" + view + "/version=1")) << "the state is removed when done";

  // Killed (SIGKILL) once a bucket is done, then resumed.
  const std::string done_dir = p.Offline() + "/backfill/" + view + "/version=1/done";
  bool killed = false;
  for (int attempt = 0; attempt < 5 && !killed; ++attempt) {
    BackgroundVigil bf(p.project(), {"backfill", view, "--threads", "1", "--memory-mb", "1"},
                       p.dir().Path("kill.log"));
    int code = -1;  // the exit code if it ended before the kill
    for (int i = 1; i < 120'000; ++i) {
      std::error_code ec;
      bool done = false;  // a bucket marked done (not just its marker's .tmp)
      for (const auto& f : fs::directory_iterator(done_dir, ec)) done |= f.path().extension() != ".tmp";
      if (done) break;
      if (i % 200 == 0 && (code = bf.Wait(0)) != -1) break;
      usleep(500);
    }
    if (code == -1) {
      code = bf.Kill(SIGKILL);
      killed = code == 128 + SIGKILL;
    }
    if (!killed) {
      ASSERT_EQ(code, 0) << ReadFile(p.dir().Path("kill.log"));
    }
  }
  ASSERT_TRUE(killed) << "the backfill always finished before it could be killed";
  EXPECT_TRUE(SameRows(p.OfflineChangelog(view), stream)) << "after a killed run";
  // Resumed with more memory: a bucket's rows in fewer parts than the killed run was
  // writing, so any part it left behind must be removed, not read twice.
  CommandResult resumed = p.Run({"backfill", view, "--threads", "1", "--memory-mb", "64"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.Describe();
  EXPECT_NE(resumed.out.find("(resumed)"), std::string::npos) << resumed.out;
  EXPECT_NE(resumed.out.find("complete"), std::string::npos) << resumed.out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(resumed.out, m, std::regex(R"(\((\d+) done before\))"))) << resumed.out;
  EXPECT_GE(std::stoi(m[1]), 1) << resumed.out;
  EXPECT_TRUE(SameRows(p.BackfillRows(view), reference)) << "after a SIGKILL and a resume";
  EXPECT_TRUE(SameRows(p.OfflineChangelog(view), stream));
  EXPECT_EQ(BackfillRuns(p.FeaturesDir(view)).size(), 1u);
}

TEST(Backfill, NewFeatureGetsAVersion) {
  Pipeline p(kSettings, 14, 4000);
  ASSERT_NO_FATAL_FAILURE(p.Run());
  CommandResult a = p.Archive();
  ASSERT_EQ(a.exit_code, 0) << a.Describe();
  ASSERT_TRUE(fs::exists(p.FeaturesDir("user_txn", 1))) << "the stream's ingested rows";

  // A feature added to user_txn after the stream ran.
  std::string defs = kDefs;
  const std::string anchor = "      n_10m:              {agg: count, window: 10m}\n";
  size_t at = defs.find(anchor);
  ASSERT_NE(at, std::string::npos);
  defs.insert(at + anchor.size(), "      amount_min_1h:      {agg: min, field: amount, window: 1h}\n");
  WriteFile(p.project() + "/defs.yaml", defs);

  CommandResult b = p.Run({"backfill", "user_txn"});
  ASSERT_EQ(b.exit_code, 0) << b.Describe();
  EXPECT_NE(b.err.find("registered feature view user_txn v2"), std::string::npos) << b.err;
  EXPECT_NE(b.out.find("backfill user_txn v2"), std::string::npos) << b.out;
  EXPECT_NE(b.out.find("complete"), std::string::npos) << b.out;
  const int64_t bound = Bound(b);
  ASSERT_TRUE(fs::exists(p.FeaturesDir("user_txn", 2)));
  EXPECT_FALSE(BackfillRuns(p.FeaturesDir("user_txn", 2)).empty());

  // The registry: v1 kept but not current; v2 current, filled by the backfill.
  CommandResult l = p.Run({"features", "list", "--json"});
  ASSERT_EQ(l.exit_code, 0) << l.Describe();
  auto list = nlohmann::json::parse(l.out, nullptr, false);
  ASSERT_TRUE(list.is_array()) << l.out;
  std::map<int, nlohmann::json> versions;
  for (const auto& j : list) {
    if (j.value("view", "") == "user_txn") versions[j.value("version", 0)] = j;
  }
  ASSERT_EQ(versions.size(), 2u) << l.out;
  EXPECT_FALSE(versions[1].value("current", true)) << l.out;
  EXPECT_TRUE(versions[2].value("current", false)) << l.out;
  ASSERT_TRUE(versions[2]["backfill"].is_object()) << l.out;
  EXPECT_GT(versions[2]["backfill"].value("rows", int64_t{0}), 0) << l.out;
  EXPECT_NE(versions[1].value("fingerprint", ""), versions[2].value("fingerprint", ""));
  EXPECT_NE(versions[2].value("definition", "").find("amount_min_1h"), std::string::npos) << l.out;
  EXPECT_FALSE(versions[2]["filled_until"].is_null()) << l.out;
  for (const auto& v : {"merchant_txn", "user_merchant_txn", "user_logins"}) {
    int n = 0;
    for (const auto& j : list) n += j.value("view", "") == v && j.value("current", false) ? 1 : 0;
    EXPECT_EQ(n, 1) << v << " keeps its one version\n" << l.out;
  }

  // The new column, from the offline store (below the bound) and by replay alike.
  std::string labels = "user_id,ts\n";
  int below = 0;
  for (const auto& [user, ts] : p.events().users_at) {
    labels += user + "," + std::to_string(ts) + "\n";
    below += ts <= bound ? 1 : 0;
  }
  ASSERT_GT(below, 50);
  WriteFile(p.dir().Path("labels.csv"), labels);
  CommandResult d = p.Run({"dataset", "--labels", p.dir().Path("labels.csv"), "--features", "user_txn", "--out",
                           p.dir().Path("offline.csv")});
  ASSERT_EQ(d.exit_code, 0) << d.Describe();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(d.out, m, std::regex(R"((\d+) label-view values from (\d+) offline)"))) << d.out;
  EXPECT_GT(std::stoll(m[1]), 50) << "the dataset should read v2's offline changelog: " << d.out;
  CommandResult r = p.Run({"dataset", "--labels", p.dir().Path("labels.csv"), "--features", "user_txn", "--out",
                           p.dir().Path("replay.csv"), "--replay-only"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  std::string offline_csv = ReadFile(p.dir().Path("offline.csv"));
  EXPECT_TRUE(SameRows(offline_csv, ReadFile(p.dir().Path("replay.csv"))));
  auto header = ParseCsv(offline_csv);
  ASSERT_FALSE(header.empty());
  EXPECT_NE(std::find(header[0].begin(), header[0].end(), "user_txn__amount_min_1h"), header[0].end())
      << CsvLine(header[0]);

  // v2's backfill equals a replay of the new definition (the batch path) below the bound.
  CommandResult replay = p.Run({"changelog", "user_txn", "--replay"});
  ASSERT_EQ(replay.exit_code, 0) << replay.Describe();
  EXPECT_TRUE(SameRows(RowsBelow(p.OfflineChangelog("user_txn"), bound), RowsBelow(replay.out, bound)));

  // Removing the current version is refused, with the reason.
  CommandResult current = p.Run({"features", "remove", "user_txn", "2"});
  EXPECT_NE(current.exit_code, 0) << current.Describe();
  EXPECT_NE(current.err.find("current"), std::string::npos) << current.Describe();
  EXPECT_TRUE(fs::exists(p.FeaturesDir("user_txn", 2)));
  // Removing v1 deletes its offline rows and its registry entry.
  CommandResult rm = p.Run({"features", "remove", "user_txn", "1"});
  ASSERT_EQ(rm.exit_code, 0) << rm.Describe();
  EXPECT_FALSE(fs::exists(p.FeaturesDir("user_txn", 1)));
  EXPECT_TRUE(fs::exists(p.FeaturesDir("user_txn", 2)));
  CommandResult l2 = p.Run({"features", "list", "--json"});
  ASSERT_EQ(l2.exit_code, 0) << l2.Describe();
  auto list2 = nlohmann::json::parse(l2.out, nullptr, false);
  ASSERT_TRUE(list2.is_array()) << l2.out;
  for (const auto& j : list2) {
    EXPECT_FALSE(j.value("view", "") == "user_txn" && j.value("version", 0) == 1) << l2.out;
  }
  // Removing it again is an error naming it.
  CommandResult again = p.Run({"features", "remove", "user_txn", "1"});
  EXPECT_NE(again.exit_code, 0) << again.Describe();
  // And the dataset still reads v2.
  CommandResult d2 = p.Run({"dataset", "--labels", p.dir().Path("labels.csv"), "--features", "user_txn", "--out",
                            p.dir().Path("offline2.csv")});
  ASSERT_EQ(d2.exit_code, 0) << d2.Describe();
  EXPECT_TRUE(SameRows(ReadFile(p.dir().Path("offline2.csv")), offline_csv));
}

}  // namespace backfill_test
}  // namespace vigil::e2e
