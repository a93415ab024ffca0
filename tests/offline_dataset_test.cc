// `vigil dataset` from the offline store against DuckDB, at scale (issue 4).
//
// One pipeline, built once for the suite from the oracle tests' seeded generator
// (tests/oracle_util.h): two sources (a few hundred thousand events, out of order within
// the allowed lateness and some beyond it, many equal timestamps), four feature views
// (windows of 10m/1h/6h, lifetime features under a ttl, `where`, count_distinct, last and
// first, a composite key) and a million label rows. The events are ingested in rounds, each
// followed by `vigil stream --until-caught-up` (the ingestion worker writes every changelog
// row to <offline>/features/) and `vigil archive` (<offline>/events/), as a deployment
// would run them, so the offline store is written by many processes, across dates, and
// compacted. Then:
//
//  - MillionLabelsFromOfflineStoreEqualOracle: `vigil dataset` answers the labels below
//    the stream's watermark from the offline changelog (exactly those; the others by
//    replay). Two references, as the feature oracle recomputes every feature per label
//    from the events and takes minutes for a million labels on 2 cores:
//      * all the labels (a million): DuckDB's own point-in-time join
//        (tools/node/asof_check.mjs), the labels ASOF LEFT JOIN each view's changelog
//        topic (`vigil changelog VIEW`, which the stream/batch identity tests prove equal
//        to the batch replay) on the keys and changelog.ts <= label.ts - 1, the empty
//        tuple where no row matches, cell by cell;
//      * the first kOracleLabels labels (a second label file): the feature oracle
//        (tools/node/oracle.mjs, plain SQL over the event files), cell by cell.
//    `--out x.parquet` of the million read back by DuckDB equals the CSV.
//  - AfterRestartWithEmptyOnlineStore: with the online store and the stream state deleted
//    (a fresh machine with only the log and the offline directory), the same output, and
//    the oracle's values on its labels.
//  - OfflineChangelogReadableByDuckDB: DuckDB reads the offline changelog and archive
//    (hive partitioning) and finds exactly the changelog topics' rows and the ingested
//    events with the stream's late marks.
//
// The sanitizer build runs the same steps on a smaller project (kSanitized).

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "e2e_util.h"
#include "oracle_util.h"

namespace vigil::e2e {
namespace offline_dataset_test {

struct Scale {
  int txn_events;
  int login_events;
  int users;
  int labels;
  int rounds;  // ingest -> stream -> archive cycles
};

// The normal build proves the issue's million labels; the sanitizer build (a Debug vigil
// under ASan, ~20x slower) the same steps on a small project, which
// VIGIL_OFFLINE_DATASET_SMALL=1 also asks for (a quick run).
Scale TestScale() {
  if (kSanitized || std::getenv("VIGIL_OFFLINE_DATASET_SMALL") != nullptr) return {6'000, 2'000, 500, 30'000, 10};
  // ~88% of the labels are below the end watermark in every view (a label lies up to
  // 2 x 6h + 1h after its event, the timeline is 26h): 1.2 M labels for a million of them.
  return {150'000, 50'000, 20'000, 1'200'000, 12};
}

// The labels the feature oracle checks (the first ones of the label file); the point-in-time
// join is checked on all of them.
constexpr size_t kOracleLabels = 30'000;

// The events of a source span ~26 h from kStart: the first date gets files from almost
// every round (so it is compacted), the second from a few.
constexpr int64_t kTimeline = 26 * kHour;
// MakeTxn's mean gap between events at gap_scale 1, in ms.
constexpr double kMeanGapMs = 963'000;

// ---------------------------------------------------------------------------------------
// CSV comparison that streams: a million-row dataset is ~200 MB of text, which ParseCsv
// would turn into tens of millions of strings.

// The records of a CSV text one by one (RFC 4180, as ParseCsv).
class CsvCursor {
 public:
  explicit CsvCursor(std::string_view text) : text_(text) {}
  // The next record into `cells`; false at the end.
  bool Next(std::vector<std::string>* cells) {
    cells->clear();
    if (pos_ >= text_.size()) return false;
    std::string cell;
    bool quoted = false;
    while (pos_ < text_.size()) {
      char c = text_[pos_++];
      if (quoted) {
        if (c != '"') {
          cell += c;
        } else if (pos_ < text_.size() && text_[pos_] == '"') {
          cell += '"';
          ++pos_;
        } else {
          quoted = false;
        }
      } else if (c == '"') {
        quoted = true;
      } else if (c == ',') {
        cells->push_back(std::move(cell));
        cell.clear();
      } else if (c == '\n') {
        break;
      } else if (c == '\r' && pos_ < text_.size() && text_[pos_] == '\n') {
        continue;
      } else {
        cell += c;
      }
    }
    cells->push_back(std::move(cell));
    return true;
  }

 private:
  std::string_view text_;
  size_t pos_ = 0;
};

// Which columns of a data row (the expected one) a comparison leaves out: sets
// (*skip)[c] for them; *skip comes in sized to the header, all false.
using CellFilter = std::function<void(const std::vector<std::string>& row, std::vector<bool>* skip)>;

// CsvMatches (e2e_util.h) for large texts: same header, same rows in the same order, cells
// equal as text or as numbers within rel_tol (rel_tol 0: the same double), except those
// `filter` leaves out.
::testing::AssertionResult LargeCsvMatches(std::string_view actual, std::string_view expected, double rel_tol,
                                           const CellFilter& filter = nullptr) {
  CsvCursor a(actual), e(expected);
  std::vector<std::string> ha, he, ra, re;
  if (!e.Next(&he)) return ::testing::AssertionFailure() << "the expected CSV has no header";
  if (!a.Next(&ha)) return ::testing::AssertionFailure() << "the actual CSV is empty";
  if (ha != he) {
    return ::testing::AssertionFailure()
           << "headers differ:\n  actual:   " << CsvLine(ha) << "\n  expected: " << CsvLine(he);
  }
  std::ostringstream msg;
  int64_t mismatches = 0, row = 0;
  std::vector<bool> skip;
  for (;;) {
    bool more_a = a.Next(&ra), more_e = e.Next(&re);
    if (!more_a || !more_e) {
      if (more_a || more_e) {
        int64_t extra = 1;
        while (more_a ? a.Next(&ra) : e.Next(&re)) ++extra;
        msg << "row counts differ: " << (more_a ? "actual" : "expected") << " has " << extra
            << " more data rows than the other's " << row << "\n";
        ++mismatches;
      }
      break;
    }
    ++row;
    const size_t cols = std::max({ra.size(), re.size(), he.size()});
    skip.assign(cols, false);
    if (filter) filter(re, &skip);
    for (size_t c = 0; c < cols; ++c) {
      if (skip[c]) continue;
      static const std::string kMissing = "<missing>";
      const std::string& av = c < ra.size() ? ra[c] : kMissing;
      const std::string& ev = c < re.size() ? re[c] : kMissing;
      if (internal::CellsMatch(av, ev, rel_tol, rel_tol > 0 ? 1e-12 : 0)) continue;
      if (mismatches++ >= 20) continue;
      std::string context;
      for (size_t k = 0; k < std::min<size_t>(3, re.size()); ++k) context += (k ? "," : "") + re[k];
      msg << "row " << row << " [" << context << "] column " << (c < he.size() ? he[c] : "#" + std::to_string(c))
          << ": actual '" << av << "', expected '" << ev << "'\n";
    }
  }
  if (mismatches == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << mismatches << " mismatch(es) over " << row << " rows"
                                       << (mismatches > 20 ? " (first 20 shown)" : "") << ":\n"
                                       << msg.str();
}

// `node tools/node/sql_csv.mjs out statements...`: DuckDB's answer as CSV.
CommandResult DuckDbCsv(const std::string& out_csv, const std::vector<std::string>& statements,
                        int timeout_s = 300) {
  std::vector<std::string> argv = {"node", SourceDir() + "/tools/node/sql_csv.mjs", out_csv};
  argv.insert(argv.end(), statements.begin(), statements.end());
  return RunCommand(ShellJoin(argv), timeout_s);
}

// A path inside a DuckDB string literal.
std::string SqlString(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

// What `vigil dataset` reports on its second line.
struct DatasetReport {
  int64_t from_offline = -1;
  int64_t changelog_rows = -1;
  int64_t from_replay = -1;
  int64_t events_replayed = -1;
};

bool ParseDatasetReport(const std::string& out, DatasetReport* r) {
  std::smatch m;
  if (!std::regex_search(out, m,
                         std::regex(R"(dataset: (\d+) label-view values from (\d+) offline changelog rows, (\d+) )"
                                    R"(by replaying (\d+) events)"))) {
    return false;
  }
  *r = {std::stoll(m[1]), std::stoll(m[2]), std::stoll(m[3]), std::stoll(m[4])};
  return true;
}

// ---------------------------------------------------------------------------------------
// The pipeline, built once for the suite.

struct Pipeline {
  std::unique_ptr<TempDir> tmp;
  std::string project, data, offline, data_dir;
  Scenario s;
  std::vector<std::string> view_names;
  int64_t events = 0;       // ingested, every source
  int64_t stream_late = 0;  // as `vigil stream` reported them, summed over the rounds
  // (label, view) pairs with every key cell filled, and those of them below the source's
  // watermark at the end (as_of < max ts - allowed lateness: the offline changelog's).
  int64_t pairs = 0, pairs_below_watermark = 0;
  std::map<std::string, int64_t> watermark;  // by source
  bool ready = false;
  // The first `vigil dataset` output (CSV) and its report, once made.
  std::string baseline_csv;
  DatasetReport baseline;

  std::string Labels() const { return data + "/labels.csv"; }
  // DuckDB's point-in-time join over the changelog topics, for Labels().
  std::string AsofExpected() const { return data + "/asof_expected.csv"; }
  // The first kOracleLabels rows of Labels(), and the feature oracle's values for them.
  std::string OracleLabels() const { return data + "/labels_oracle.csv"; }
  std::string OracleExpected() const { return data + "/oracle_expected.csv"; }
};

Scenario MakeScenario(const Scale& scale, Rng& rng) {
  TxnOptions o;
  o.users = scale.users;
  o.events = scale.txn_events;
  o.lateness_ms = 2 * kSecond;
  o.gap_scale = static_cast<double>(kTimeline) / (kMeanGapMs * scale.txn_events);
  o.null_rate = 0.05;
  o.jitter_rate = 0.05;
  o.late_rate = 0.01;
  o.countries = {"fr", "de", "us", "br"};
  Scenario s = TxnScenario(MakeTxn(rng, o));
  TxnOptions lo;
  lo.users = scale.users;
  lo.events = scale.login_events;
  lo.lateness_ms = kSecond;
  lo.gap_scale = static_cast<double>(kTimeline) / (kMeanGapMs * scale.login_events);
  lo.late_rate = 0.005;
  lo.tie_rate = 0.2;
  s.sources.push_back(MakeTxn(rng, lo, "logins"));
  // One file per source and round, formats and timestamp spellings alternating.
  for (Source& src : s.sources) {
    src.files.clear();
    for (int r = 0; r < scale.rounds; ++r) {
      char name[64];
      snprintf(name, sizeof name, "%s_r%02d.%s", src.name.c_str(), r, r % 3 == 1 ? "csv" : "jsonl");
      src.files.push_back({name, r % 4 == 2 ? TsFormat::kIso : TsFormat::kInt});
    }
  }
  s.sources[0].omit_nulls = true;

  s.entities.push_back({"user_country", {"user_id", "country"}});
  const int64_t m10 = 10 * kMinute, h6 = 6 * kHour;
  s.views.push_back({"w",
                     "user",
                     "txn",
                     std::nullopt,  // the longest window: 6h
                     {{"cnt_10m", "count", "", m10, ""},
                      {"sum_amount_1h", "sum", "amount", kHour, ""},
                      {"avg_n_1h", "avg", "n", kHour, ""},
                      {"max_amount_6h", "max", "amount", h6, ""},
                      {"std_amount_1h", "stddev", "amount", kHour, ""},
                      {"cd_card_6h", "count_distinct", "card", h6, ""},
                      {"last_status_10m", "last", "status", m10, ""},
                      {"first_amount_1h", "first", "amount", kHour, ""},
                      {"failed_1h", "count", "", kHour, "status = 'failed'"},
                      {"big_sum_6h", "sum", "amount", h6, "amount > 1000 and ok"},
                      {"min_status_6h", "min", "status", h6, ""}}});
  s.views.push_back({"uc",
                     "user_country",
                     "txn",
                     h6,
                     {{"cnt_1h", "count", "", kHour, ""},
                      {"sum_life", "sum", "amount", std::nullopt, ""},
                      {"last_ok", "last", "ok", std::nullopt, ""},
                      {"cd_n_life", "count_distinct", "n", std::nullopt, ""}}});
  s.views.push_back({"sess",
                     "user",
                     "txn",
                     2 * kHour,
                     {{"cnt_life", "count", "", std::nullopt, ""},
                      {"first_card", "first", "card", std::nullopt, ""},
                      {"avg_amount_life", "avg", "amount", std::nullopt, ""},
                      {"busy_10m", "count", "", m10, "n >= 3 or status = 'ok'"}}});
  s.views.push_back({"login_v",
                     "user",
                     "logins",
                     h6,
                     {{"cnt_10m", "count", "", m10, ""},
                      {"cnt_life", "count", "", std::nullopt, ""},
                      {"last_status", "last", "status", std::nullopt, ""},
                      {"max_n_1h", "max", "n", kHour, ""}}});
  MakeLabels(rng, s.sources[0], {"user_id", "country"}, Labels(scale.labels), &s);
  // Some labels pair a user with a country it never used.
  for (size_t i = 0; i < s.label_rows.size(); i += 11) {
    if (!s.label_rows[i][1].empty()) s.label_rows[i][1] = rng.Pick(o.countries);
  }
  return s;
}

// Counts the (label, view) pairs the dataset must answer, and those below the end
// watermark of the view's source (one partition: max ts - allowed lateness).
void CountPairs(Pipeline* p) {
  const Scenario& s = p->s;
  std::map<std::string, int64_t>& watermark = p->watermark;
  for (const Source& src : s.sources) {
    int64_t hi = kMinTimestamp;
    for (const Event& e : src.events) hi = std::max(hi, e.ts);
    watermark[src.name] = hi - src.lateness_ms;
  }
  const auto& h = s.label_header;
  const size_t ts_col = static_cast<size_t>(std::find(h.begin(), h.end(), s.ts_column) - h.begin());
  for (const auto& row : s.label_rows) {
    const int64_t as_of = std::stoll(row[ts_col]) - 1;
    for (const View& v : s.views) {
      bool filled = true;
      for (const auto& k : s.EntityOf(v).keys) {
        filled &= !row[static_cast<size_t>(std::find(h.begin(), h.end(), k) - h.begin())].empty();
      }
      if (!filled) continue;
      ++p->pairs;
      if (as_of < watermark[v.source]) ++p->pairs_below_watermark;
    }
  }
}

// Seconds since `t`, for the progress lines.
double Seconds(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

void BuildPipeline(Pipeline* p) {
  const auto started = std::chrono::steady_clock::now();
  const Scale scale = TestScale();
  p->tmp = std::make_unique<TempDir>("vigil-offds");
  p->project = p->tmp->Path("project");
  p->data = p->tmp->Path("data");
  p->data_dir = p->project + "/.vigil";
  p->offline = p->data_dir + "/offline";
  Rng rng(20240401);
  p->s = MakeScenario(scale, rng);
  const Scenario& s = p->s;
  for (const Source& src : s.sources) {
    ASSERT_GT(CountLate(src), 0) << src.name << ": the test wants late events";
    p->events += static_cast<int64_t>(src.events.size());
  }
  for (const View& v : s.views) p->view_names.push_back(v.name);
  CountPairs(p);

  // One partition: the oracle models one watermark per source and ties in line order.
  // Idle sources never advance the watermark: a round's stream must not make the next
  // round's events late.
  WriteFile(p->project + "/vigil.yaml", "log: {partitions: 1}\nstream: {idle_timeout: 1d}\n");
  WriteFile(p->project + "/sources.yaml", YamlDefinitionsOfSources(s));
  WriteFile(p->project + "/views.yaml", YamlDefinitionsOfViews(s));
  for (const Source& src : s.sources) WriteEvents(src, p->data, rng);
  {
    std::string labels = CsvLine(s.label_header) + "\n";
    for (size_t i = 0; i < s.label_rows.size(); ++i) {
      labels += CsvLine(s.label_rows[i]) + "\n";
      if (i + 1 == std::min(kOracleLabels, s.label_rows.size())) WriteFile(p->OracleLabels(), labels);
    }
    WriteFile(p->Labels(), labels);
  }
  WriteFile(p->data + "/spec.json", SpecJson(s, "labels_oracle.csv"));

  for (int r = 0; r < scale.rounds; ++r) {
    for (const Source& src : s.sources) {
      const std::string file = p->data + "/" + src.files[static_cast<size_t>(r)].name;
      CommandResult in = RunVigil(p->project, {"ingest", src.name, file});
      ASSERT_EQ(in.exit_code, 0) << "round " << r << ": vigil ingest " << src.name << ": " << in.Describe();
      auto [accepted, rejected] = IngestCounts(in.out);
      EXPECT_EQ(rejected, 0) << in.Describe();
      EXPECT_GT(accepted, 0) << in.Describe();
    }
    CommandResult st = RunVigil(p->project, {"stream", "--until-caught-up"}, 600);
    ASSERT_EQ(st.exit_code, 0) << "round " << r << ": vigil stream: " << st.Describe();
    std::smatch m;
    ASSERT_TRUE(std::regex_search(st.out, m, std::regex(R"((\d+) source events \((\d+) late)"))) << st.Describe();
    p->stream_late += std::stoll(m[2]);
    CommandResult ar = RunVigil(p->project, {"archive"});
    ASSERT_EQ(ar.exit_code, 0) << "round " << r << ": vigil archive: " << ar.Describe();
    // Everything ingested is decided by now: nothing waits for the stream.
    EXPECT_NE(ar.out.find("archive: 0 source records wait"), std::string::npos) << ar.Describe();
  }

  // DuckDB's point-in-time join of all the labels over the changelog topics.
  std::vector<std::string> asof = {"node", SourceDir() + "/tools/node/asof_check.mjs", p->data + "/spec.json",
                                   p->Labels(), p->AsofExpected()};
  for (const View& v : s.views) {
    const std::string topic_csv = p->data + "/changelog_" + v.name + ".csv";
    CommandResult c = RunVigil(p->project, {"changelog", v.name, "--out", topic_csv});
    ASSERT_EQ(c.exit_code, 0) << "vigil changelog " << v.name << ": " << c.Describe();
    asof.push_back(v.name + "=" + topic_csv);
  }
  std::cout << "[ pipeline ] " << p->events << " events ingested, streamed and archived in " << scale.rounds
            << " rounds: " << Seconds(started) << " s\n";
  CommandResult join = RunCommand(ShellJoin(asof), 600);
  ASSERT_EQ(join.exit_code, 0) << "asof_check: " << join.Describe();
  std::cout << "[ asof     ] DuckDB's ASOF join of " << s.label_rows.size() << " labels: " << Seconds(started)
            << " s\n";

  CommandResult oracle = RunOracle(p->data + "/spec.json", p->OracleExpected(), 900);
  ASSERT_EQ(oracle.exit_code, 0) << "oracle: " << oracle.Describe();
  std::cout << "[ oracle   ] feature oracle of " << std::min(kOracleLabels, s.label_rows.size())
            << " labels: " << Seconds(started) << " s\n";
  p->ready = true;
}

class OfflineDatasetTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pipeline_ = new Pipeline;
    BuildPipeline(pipeline_);
  }
  static void TearDownTestSuite() {
    delete pipeline_;
    pipeline_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(pipeline_ != nullptr && pipeline_->ready) << "the pipeline was not built"; }

  // `vigil dataset` of every view for `labels` (default: all of them) into `out`; its report.
  static DatasetReport Dataset(const std::string& out, std::string labels = "") {
    const Pipeline& p = *pipeline_;
    if (labels.empty()) labels = p.Labels();
    std::vector<std::string> args = {"dataset", "--labels", labels, "--features", Join(p.view_names, ","),
                                     "--out", out};
    CommandResult r = RunVigil(p.project, args, 900);
    DatasetReport report;
    EXPECT_EQ(r.exit_code, 0) << "vigil dataset: " << r.Describe();
    EXPECT_TRUE(ParseDatasetReport(r.out, &report)) << r.Describe();
    return report;
  }

  // The first dataset of the pipeline (made once, by whichever test asks first).
  static const std::string& Baseline() {
    Pipeline& p = *pipeline_;
    if (p.baseline_csv.empty()) {
      const std::string out = p.data + "/baseline.csv";
      p.baseline = Dataset(out);
      if (!::testing::Test::HasFailure()) p.baseline_csv = out;
    }
    return p.baseline_csv;
  }

  // Which values came from where: exactly the labels below the source's watermark from
  // the offline changelog, the others by replay.
  static void ExpectReportSplit(const DatasetReport& r) {
    const Pipeline& p = *pipeline_;
    EXPECT_EQ(r.from_offline + r.from_replay, p.pairs);
    EXPECT_EQ(r.from_offline, p.pairs_below_watermark)
        << "the offline changelog's coverage is not the stream's last watermark";
    EXPECT_GT(r.from_offline, p.pairs * 8 / 10) << "the bulk must come from the offline store";
    EXPECT_GT(r.from_replay, 0) << "labels beyond the watermark exist and need replay";
    EXPECT_GT(r.changelog_rows, 0);
    EXPECT_GT(r.events_replayed, 0);
  }

  static Pipeline* pipeline_;
};

Pipeline* OfflineDatasetTest::pipeline_ = nullptr;

TEST_F(OfflineDatasetTest, MillionLabelsFromOfflineStoreEqualOracle) {
  const Pipeline& p = *pipeline_;
  if (!kSanitized && std::getenv("VIGIL_OFFLINE_DATASET_SMALL") == nullptr) {
    ASSERT_GE(p.s.label_rows.size(), 1'000'000u);
  }
  const std::string& out = Baseline();
  ASSERT_FALSE(out.empty());
  ExpectReportSplit(p.baseline);
  // The changelog topic holds the rows up to the stream's last watermark (a window's or
  // the ttl's expiry beyond it is not emitted yet), the offline changelog's coverage: a
  // view's cells of a label at or past it are answered by replay, and checked by the
  // oracle below.
  const Scenario& s = p.s;
  const auto& h = s.label_header;
  const size_t ts_col = static_cast<size_t>(std::find(h.begin(), h.end(), s.ts_column) - h.begin());
  std::vector<std::pair<size_t, size_t>> view_cols;  // [begin, end) of each view's columns
  for (const View& v : s.views) {
    const size_t begin = view_cols.empty() ? h.size() : view_cols.back().second;
    view_cols.emplace_back(begin, begin + v.features.size());
  }
  int64_t labels_compared = 0, labels_all_views = 0, pairs_compared = 0;
  CellFilter below_watermark = [&](const std::vector<std::string>& row, std::vector<bool>* skip) {
    const int64_t as_of = std::stoll(row.at(ts_col)) - 1;
    size_t views = 0;
    for (size_t vi = 0; vi < s.views.size(); ++vi) {
      if (as_of < p.watermark.at(s.views[vi].source)) {
        ++views;
        bool filled = true;
        for (const auto& k : s.EntityOf(s.views[vi]).keys) {
          filled &= !row[static_cast<size_t>(std::find(h.begin(), h.end(), k) - h.begin())].empty();
        }
        pairs_compared += filled;
        continue;
      }
      for (size_t c = view_cols[vi].first; c < view_cols[vi].second && c < skip->size(); ++c) {
        (*skip)[c] = true;
      }
    }
    labels_compared += views > 0;
    labels_all_views += views == s.views.size();
  };
  EXPECT_TRUE(LargeCsvMatches(ReadFile(out), ReadFile(p.AsofExpected()), 1e-9, below_watermark))
      << "vigil dataset (actual) vs DuckDB's ASOF join over the changelog topics (expected) in " << p.tmp->path()
      << " (VIGIL_KEEP_TMP=1 keeps it)";
  EXPECT_EQ(pairs_compared, p.pairs_below_watermark) << "the (label, view) pairs from the offline store";
  std::cout << "[ compared ] " << labels_compared << " labels (" << labels_all_views << " in every view, "
            << pairs_compared << " label-view pairs with keys) compared with DuckDB's ASOF join\n";
  if (!kSanitized && std::getenv("VIGIL_OFFLINE_DATASET_SMALL") == nullptr) {
    EXPECT_GE(labels_all_views, 1'000'000) << "the issue asks for a million labels from the offline store";
  }

  // The feature values themselves, on the oracle's labels.
  const std::string oracle_out = p.data + "/oracle_labels_out.csv";
  DatasetReport sr = Dataset(oracle_out, p.OracleLabels());
  EXPECT_GT(sr.from_offline, 0);
  EXPECT_GT(sr.from_replay, 0) << "the oracle's labels should reach past the watermark too";
  EXPECT_TRUE(LargeCsvMatches(ReadFile(oracle_out), ReadFile(p.OracleExpected()), 1e-9))
      << "vigil dataset (actual) vs oracle (expected) on " << p.OracleLabels();

  // Parquet: the same values, typed, as DuckDB reads them.
  const std::string parquet = p.data + "/out.parquet";
  DatasetReport pr = Dataset(parquet);
  EXPECT_EQ(pr.from_offline, p.baseline.from_offline);
  EXPECT_EQ(pr.from_replay, p.baseline.from_replay);
  CommandResult d = DuckDbCsv(p.data + "/out_parquet.csv", {"SELECT * FROM read_parquet(" + SqlString(parquet) + ")"});
  ASSERT_EQ(d.exit_code, 0) << d.Describe();
  EXPECT_TRUE(LargeCsvMatches(ReadFile(p.data + "/out_parquet.csv"), ReadFile(out), 0))
      << "DuckDB's reading of --out x.parquet (actual) vs the CSV (expected)";
}

TEST_F(OfflineDatasetTest, AfterRestartWithEmptyOnlineStore) {
  Pipeline& p = *pipeline_;
  const std::string before = Baseline();
  ASSERT_FALSE(before.empty());
  // A fresh machine: the log and the offline directory, nothing else.
  for (const char* dir : {"online", "stream"}) {
    const std::string path = p.data_dir + "/" + dir;
    ASSERT_TRUE(std::filesystem::is_directory(path)) << path << " should exist before the restart";
    std::filesystem::remove_all(path);
  }
  const std::string out = p.data + "/after_restart.csv";
  DatasetReport r = Dataset(out);
  ExpectReportSplit(r);
  EXPECT_EQ(r.from_offline, p.baseline.from_offline);
  EXPECT_EQ(r.changelog_rows, p.baseline.changelog_rows);
  EXPECT_EQ(r.from_replay, p.baseline.from_replay);
  const std::string actual = ReadFile(out);
  EXPECT_TRUE(actual == ReadFile(before)) << "the dataset after the restart differs from the one before";
  const std::string oracle_out = p.data + "/oracle_labels_after_restart.csv";
  Dataset(oracle_out, p.OracleLabels());
  EXPECT_TRUE(LargeCsvMatches(ReadFile(oracle_out), ReadFile(p.OracleExpected()), 1e-9))
      << "after the restart vs the oracle";
}

// Parses a CSV and sorts its data rows by their first `key_cells` cells.
std::vector<std::vector<std::string>> SortedRows(const std::string& text, size_t key_cells,
                                                 std::vector<std::string>* header) {
  auto rows = ParseCsv(text);
  if (rows.empty()) return {};
  *header = rows[0];
  rows.erase(rows.begin());
  std::stable_sort(rows.begin(), rows.end(), [&](const auto& a, const auto& b) {
    return std::lexicographical_compare(a.begin(), a.begin() + std::min(key_cells, a.size()), b.begin(),
                                        b.begin() + std::min(key_cells, b.size()));
  });
  return rows;
}

TEST_F(OfflineDatasetTest, OfflineChangelogReadableByDuckDB) {
  const Pipeline& p = *pipeline_;
  const Scenario& s = p.s;
  // Every view: DuckDB's rows of <offline>/features/<view>/ = the changelog topic's.
  for (const View& v : s.views) {
    SCOPED_TRACE("view " + v.name);
    const std::vector<std::string>& keys = s.EntityOf(v).keys;
    const std::string topic_csv = p.data + "/changelog_" + v.name + ".csv";
    CommandResult c = RunVigil(p.project, {"changelog", v.name, "--out", topic_csv});
    ASSERT_EQ(c.exit_code, 0) << c.Describe();
    std::string cols;
    for (const auto& k : keys) cols += k + ", ";
    cols += "epoch_ms(ts) AS ts";
    for (const Feature& f : v.features) cols += ", \"" + f.name + "\"";
    const std::string files = "read_parquet(" + SqlString(p.offline + "/features/" + v.name + "/**/*.parquet") +
                              ", hive_partitioning = true)";
    const std::string offline_csv = p.data + "/offline_" + v.name + ".csv";
    CommandResult d = DuckDbCsv(offline_csv, {"SELECT " + cols + " FROM " + files});
    ASSERT_EQ(d.exit_code, 0) << d.Describe();
    std::vector<std::string> ht, ho;
    auto topic_rows = SortedRows(ReadFile(topic_csv), keys.size() + 1, &ht);
    auto offline_rows = SortedRows(ReadFile(offline_csv), keys.size() + 1, &ho);
    ASSERT_EQ(ho, ht);
    EXPECT_GT(topic_rows.size(), static_cast<size_t>(p.events / 4));
    EXPECT_EQ(offline_rows.size(), topic_rows.size()) << "rows in the offline store vs the changelog topic";
    std::string o_text = CsvLine(ho) + "\n", t_text = CsvLine(ht) + "\n";
    for (const auto& r : offline_rows) o_text += CsvLine(r) + "\n";
    for (const auto& r : topic_rows) t_text += CsvLine(r) + "\n";
    EXPECT_TRUE(LargeCsvMatches(o_text, t_text, 0)) << "DuckDB over the offline store (actual) vs the topic";

    // Each row sits in the date= partition of its ts, once: (_partition, _offset) unique.
    const std::string check_csv = p.data + "/check_" + v.name + ".csv";
    d = DuckDbCsv(check_csv, {"SELECT count(*) AS n, count(DISTINCT (_partition, _offset)) AS distinct_offsets, "
                              "count(*) FILTER (WHERE CAST(date AS VARCHAR) <> strftime(ts, '%Y-%m-%d')) "
                              "AS wrong_date, count(DISTINCT date) AS dates FROM " +
                              files});
    ASSERT_EQ(d.exit_code, 0) << d.Describe();
    auto check = ParseCsv(ReadFile(check_csv));
    ASSERT_EQ(check.size(), 2u);
    EXPECT_EQ(check[1][0], std::to_string(topic_rows.size()));
    EXPECT_EQ(check[1][1], check[1][0]) << "a changelog record is in the offline store twice";
    EXPECT_EQ(check[1][2], "0") << "rows outside their date= partition";
    EXPECT_GE(std::stoll(check[1][3]), 2) << "the timeline crosses midnight";
  }

  // Every source: the archive holds exactly the ingested events in log order, with the
  // stream's late marks; the dead letters hold the late ones.
  int64_t archived_late = 0;
  for (const Source& src : s.sources) {
    SCOPED_TRACE("source " + src.name);
    const int amount = src.FieldIndex("amount"), user = src.FieldIndex("user_id");
    const std::string events_csv = p.data + "/events_" + src.name + ".csv";
    CommandResult d = DuckDbCsv(
        events_csv, {"SELECT _partition, _offset, epoch_ms(ts) AS ts, user_id, amount, _late FROM read_parquet(" +
                         SqlString(p.offline + "/events/" + src.name + "/**/*.parquet") +
                         ", hive_partitioning = true) ORDER BY _partition, _offset"});
    ASSERT_EQ(d.exit_code, 0) << d.Describe();
    std::string expected = "_partition,_offset,ts,user_id,amount,_late\n";
    std::optional<int64_t> max_ts;
    int64_t late = 0;
    long double sum = 0;
    for (size_t i = 0; i < src.events.size(); ++i) {
      const Event& e = src.events[i];
      const bool is_late = max_ts && e.ts < *max_ts - src.lateness_ms;
      if (!is_late) max_ts = std::max(max_ts.value_or(e.ts), e.ts);
      late += is_late;
      if (e.values[amount]) sum += std::stold(*e.values[amount]);
      expected += CsvLine({"0", std::to_string(i), std::to_string(e.ts), e.values[user].value_or(""),
                           e.values[amount].value_or(""), is_late ? "true" : "false"}) +
                  "\n";
    }
    ASSERT_EQ(late, CountLate(src));
    archived_late += late;
    EXPECT_TRUE(LargeCsvMatches(ReadFile(events_csv), expected, 0)) << "archived events (actual) vs ingested";

    const std::string sums_csv = p.data + "/sums_" + src.name + ".csv";
    d = DuckDbCsv(sums_csv, {"SELECT count(*) AS n, fsum(amount) AS amount, count(*) FILTER (WHERE _late) AS late "
                             "FROM read_parquet(" +
                             SqlString(p.offline + "/events/" + src.name + "/**/*.parquet") +
                             ", hive_partitioning = true)"});
    ASSERT_EQ(d.exit_code, 0) << d.Describe();
    auto sums = ParseCsv(ReadFile(sums_csv));
    ASSERT_EQ(sums.size(), 2u);
    EXPECT_EQ(sums[1][0], std::to_string(src.events.size()));
    EXPECT_TRUE(internal::CellsMatch(sums[1][1], DoubleText(static_cast<double>(sum)), 1e-12, 0))
        << "sum of amount: archive " << sums[1][1] << ", ingested " << DoubleText(static_cast<double>(sum));
    EXPECT_EQ(sums[1][2], std::to_string(late));

    const std::string dead_csv = p.data + "/dead_" + src.name + ".csv";
    d = DuckDbCsv(dead_csv, {"SELECT count(*) AS n FROM read_parquet(" +
                             SqlString(p.offline + "/dead_letters/" + src.name + "/**/*.parquet") +
                             ", hive_partitioning = true)"});
    ASSERT_EQ(d.exit_code, 0) << d.Describe();
    auto dead = ParseCsv(ReadFile(dead_csv));
    ASSERT_EQ(dead.size(), 2u);
    EXPECT_EQ(dead[1][0], std::to_string(late)) << "dead letters of " << src.name << " vs its late events";
  }
  EXPECT_EQ(archived_late, p.stream_late) << "late marks in the archive vs the late count `vigil stream` printed";
}

}  // namespace offline_dataset_test
}  // namespace vigil::e2e
