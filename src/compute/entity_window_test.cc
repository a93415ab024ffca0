// EntityWindow against DESIGN.md §4: golden changelogs for every aggregation, computed
// by hand, at the window boundaries, with ties, nulls, where filters, lifetime features,
// ttl expiry and the canonical-changelog rule (a row only where the tuple changes).
//
// Every view here reads one source `ev` with fields (k string, x double, n int64,
// s string, st string); the entity is k. Views are written as YAML and loaded with
// LoadProject, so the loader's compiled plans are what runs.
#include "compute/entity_window.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "compute/changelog.h"
#include "compute/compute_test_util.h"
#include "spec/definitions.h"

// g++ 12 warns on designated initializers that leave members to their defaults, which
// is exactly how the In{...} events below are meant to be written.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace vigil {

namespace entity_window_test {

using test::D;
using test::I;
using test::LoadView;
using test::N;
using test::S;
using test::ToEvent;
using test::View;
using In = test::EvInput;

// Feeds events (seq = index, i.e. log order) to one EntityWindow and collects every row
// with ts < bound.
std::vector<ChangelogRow> RunEntity(const FeatureViewDef& view, const std::vector<In>& events,
                                    TimestampMs bound = kMaxTimestamp) {
  ViewPlan plan(view);
  EntityWindow w(&plan, "a");
  for (size_t i = 0; i < events.size(); ++i) {
    Row in;
    plan.Extract(ToEvent(events[i]), &in);
    w.Add(events[i].ts, i, std::move(in));
  }
  std::vector<ChangelogRow> rows;
  w.AdvanceTo(bound, [&](ChangelogRow&& r) { rows.push_back(std::move(r)); });
  return rows;
}

struct Expected {
  TimestampMs ts;
  Row values;
};
std::vector<ChangelogRow> Rows(const std::vector<Expected>& e, const std::string& entity = "a") {
  std::vector<ChangelogRow> out;
  for (const auto& x : e) out.push_back(ChangelogRow{entity, x.ts, x.values});
  return out;
}

// Row lists equal, doubles within rel_tol (relative to max(1, |expected|)).
void ExpectRowsNear(const std::vector<ChangelogRow>& actual, const std::vector<ChangelogRow>& expected,
                    double rel_tol) {
  ASSERT_EQ(actual.size(), expected.size()) << ::testing::PrintToString(actual);
  for (size_t i = 0; i < actual.size(); ++i) {
    SCOPED_TRACE("row " + std::to_string(i));
    EXPECT_EQ(actual[i].entity, expected[i].entity);
    EXPECT_EQ(actual[i].ts, expected[i].ts);
    ASSERT_EQ(actual[i].values.size(), expected[i].values.size());
    for (size_t j = 0; j < actual[i].values.size(); ++j) {
      const Value& a = actual[i].values[j];
      const Value& b = expected[i].values[j];
      if (b.type() == Type::kDouble && a.type() == Type::kDouble) {
        EXPECT_NEAR(a.dbl(), b.dbl(), rel_tol * std::max(1.0, std::fabs(b.dbl()))) << "value " << j;
        EXPECT_FALSE(std::isnan(a.dbl()));
      } else {
        EXPECT_EQ(a, b) << "value " << j;
      }
    }
  }
}

// The as-of-t tuple a changelog defines: its latest row with ts <= t, else the empty tuple.
Row AsOf(const std::vector<ChangelogRow>& rows, TimestampMs t, const Row& empty) {
  const Row* v = &empty;
  for (const auto& r : rows) {
    if (r.ts <= t) v = &r.values;
  }
  return *v;
}

// ---------------------------------------------------------------------------------------
// Scenario A, window 10s (default ttl 10s), events (log order):
//   a: ts 1000  x 4   n 10   s m
//   b: ts 3000  x -   n -    s -      (nulls everywhere)
//   c: ts 5000  x 1   n -3   s z
//   d: ts 5000  x 7   n 100  s b      (same ts as c, later in the log)
//   e: ts 12000 x 2   n 7    s m
// Instants and window contents:
//   1000 {a}  3000 {a,b}  5000 {a,b,c,d}  11000 {b,c,d} (a left)  12000 {b,c,d,e}
//   13000 {c,d,e} (b left)  15000 {e} (c,d left)  22000 {} (e left; ttl 12000+10s)
std::vector<In> ScenarioA() {
  return {
      {.ts = 1000, .x = 4.0, .n = 10, .s = "m"}, {.ts = 3000},
      {.ts = 5000, .x = 1.0, .n = -3, .s = "z"}, {.ts = 5000, .x = 7.0, .n = 100, .s = "b"},
      {.ts = 12000, .x = 2.0, .n = 7, .s = "m"},
  };
}

struct AggCase {
  const char* name;
  const char* spec;  // the feature's YAML flow map
  std::vector<Expected> rows;
  double tol = 0;  // 0: exact
};

class GoldenAgg : public ::testing::TestWithParam<AggCase> {};

TEST_P(GoldenAgg, ScenarioAChangelog) {
  const AggCase& c = GetParam();
  auto p = LoadView(std::string("      f: ") + c.spec + "\n");
  ASSERT_NE(p, nullptr);
  auto rows = RunEntity(View(*p), ScenarioA());
  if (c.tol == 0) {
    EXPECT_EQ(rows, Rows(c.rows));
  } else {
    ExpectRowsNear(rows, Rows(c.rows), c.tol);
  }
}

// Same events, but d (seq 3) is added before c (seq 2): the engine orders ties by seq,
// not by the order of Add calls.
TEST_P(GoldenAgg, TieOrderFollowsSeqNotAddOrder) {
  const AggCase& c = GetParam();
  auto p = LoadView(std::string("      f: ") + c.spec + "\n");
  ASSERT_NE(p, nullptr);
  ViewPlan plan(View(*p));
  EntityWindow w(&plan, "a");
  auto ev = ScenarioA();
  for (size_t i : {0, 1, 3, 2, 4}) {
    Row in;
    plan.Extract(ToEvent(ev[i]), &in);
    w.Add(ev[i].ts, i, std::move(in));
  }
  std::vector<ChangelogRow> rows;
  w.AdvanceTo(kMaxTimestamp, [&](ChangelogRow&& r) { rows.push_back(std::move(r)); });
  if (c.tol == 0) {
    EXPECT_EQ(rows, Rows(c.rows));
  } else {
    ExpectRowsNear(rows, Rows(c.rows), c.tol);
  }
}

INSTANTIATE_TEST_SUITE_P(
    EveryAggregation, GoldenAgg,
    ::testing::Values(
        // count: 1,2,4,3,4,3,1,0 — changes at every instant.
        AggCase{"count",
                "{agg: count, window: 10s}",
                {{1000, {I(1)}},
                 {3000, {I(2)}},
                 {5000, {I(4)}},
                 {11000, {I(3)}},
                 {12000, {I(4)}},
                 {13000, {I(3)}},
                 {15000, {I(1)}},
                 {22000, {I(0)}}}},
        // count of x skips b (null): no row at 3000 (b enters) nor 13000 (b leaves).
        AggCase{"count_field",
                "{agg: count, field: x, window: 10s}",
                {{1000, {I(1)}},
                 {5000, {I(3)}},
                 {11000, {I(2)}},
                 {12000, {I(3)}},
                 {15000, {I(1)}},
                 {22000, {I(0)}}}},
        AggCase{"sum_double",
                "{agg: sum, field: x, window: 10s}",
                {{1000, {D(4)}},
                 {5000, {D(12)}},
                 {11000, {D(8)}},
                 {12000, {D(10)}},
                 {15000, {D(2)}},
                 {22000, {D(0)}}}},
        AggCase{"sum_int64",
                "{agg: sum, field: n, window: 10s}",
                {{1000, {I(10)}},
                 {5000, {I(107)}},
                 {11000, {I(97)}},
                 {12000, {I(104)}},
                 {15000, {I(7)}},
                 {22000, {I(0)}}}},
        // avg x: 4, 12/3=4 (no row), 8/2=4 (no row), 10/3, 2, null.
        AggCase{"avg_double",
                "{agg: avg, field: x, window: 10s}",
                {{1000, {D(4)}}, {12000, {D(10.0 / 3.0)}}, {15000, {D(2)}}, {22000, {N()}}}},
        AggCase{"avg_int64",
                "{agg: avg, field: n, window: 10s}",
                {{1000, {D(10)}},
                 {5000, {D(107.0 / 3.0)}},
                 {11000, {D(48.5)}},
                 {12000, {D(104.0 / 3.0)}},
                 {15000, {D(7)}},
                 {22000, {N()}}}},
        AggCase{"min_double",
                "{agg: min, field: x, window: 10s}",
                {{1000, {D(4)}}, {5000, {D(1)}}, {15000, {D(2)}}, {22000, {N()}}}},
        AggCase{"max_double",
                "{agg: max, field: x, window: 10s}",
                {{1000, {D(4)}}, {5000, {D(7)}}, {15000, {D(2)}}, {22000, {N()}}}},
        AggCase{"min_int64",
                "{agg: min, field: n, window: 10s}",
                {{1000, {I(10)}}, {5000, {I(-3)}}, {15000, {I(7)}}, {22000, {N()}}}},
        AggCase{"max_int64",
                "{agg: max, field: n, window: 10s}",
                {{1000, {I(10)}}, {5000, {I(100)}}, {15000, {I(7)}}, {22000, {N()}}}},
        AggCase{"min_string",
                "{agg: min, field: s, window: 10s}",
                {{1000, {S("m")}}, {5000, {S("b")}}, {15000, {S("m")}}, {22000, {N()}}}},
        AggCase{"max_string",
                "{agg: max, field: s, window: 10s}",
                {{1000, {S("m")}}, {5000, {S("z")}}, {15000, {S("m")}}, {22000, {N()}}}},
        // stddev (population): {4}=0; {4,1,7}: var 6; {1,7}: var 9; {1,7,2}: mean 10/3,
        // squared deviations 49/9 + 121/9 + 16/9 = 186/9, var 62/9; {2}: 0.
        AggCase{"stddev",
                "{agg: stddev, field: x, window: 10s}",
                {{1000, {D(0)}},
                 {5000, {D(std::sqrt(6.0))}},
                 {11000, {D(3)}},
                 {12000, {D(std::sqrt(62.0) / 3.0)}},
                 {15000, {D(0)}},
                 {22000, {N()}}},
                1e-12},
        AggCase{"count_distinct",
                "{agg: count_distinct, field: s, window: 10s}",
                {{1000, {I(1)}},
                 {5000, {I(3)}},
                 {11000, {I(2)}},
                 {12000, {I(3)}},
                 {15000, {I(1)}},
                 {22000, {I(0)}}}},
        // last: d wins the tie at 5000 (later in the log); x null of b is skipped.
        AggCase{"last",
                "{agg: last, field: x, window: 10s}",
                {{1000, {D(4)}}, {5000, {D(7)}}, {12000, {D(2)}}, {22000, {N()}}}},
        // first: after a leaves, c (earlier in the log than d) is first.
        AggCase{"first",
                "{agg: first, field: x, window: 10s}",
                {{1000, {D(4)}}, {11000, {D(1)}}, {15000, {D(2)}}, {22000, {N()}}}},
        AggCase{"last_string",
                "{agg: last, field: s, window: 10s}",
                {{1000, {S("m")}}, {5000, {S("b")}}, {12000, {S("m")}}, {22000, {N()}}}},
        AggCase{"first_string",
                "{agg: first, field: s, window: 10s}",
                {{1000, {S("m")}}, {11000, {S("z")}}, {15000, {S("m")}}, {22000, {N()}}}}),
    [](const ::testing::TestParamInfo<AggCase>& info) { return std::string(info.param.name); });

// The same scenario with every aggregation in one view: one row per instant where the
// tuple changes (here every instant, because count changes at each).
constexpr char kAllFeatures[] =
    "      c: {agg: count, window: 10s}\n"
    "      cx: {agg: count, field: x, window: 10s}\n"
    "      sx: {agg: sum, field: x, window: 10s}\n"
    "      sn: {agg: sum, field: n, window: 10s}\n"
    "      ax: {agg: avg, field: x, window: 10s}\n"
    "      an: {agg: avg, field: n, window: 10s}\n"
    "      mnx: {agg: min, field: x, window: 10s}\n"
    "      mxx: {agg: max, field: x, window: 10s}\n"
    "      mns: {agg: min, field: s, window: 10s}\n"
    "      mxs: {agg: max, field: s, window: 10s}\n"
    "      sd: {agg: stddev, field: x, window: 10s}\n"
    "      cd: {agg: count_distinct, field: s, window: 10s}\n"
    "      lx: {agg: last, field: x, window: 10s}\n"
    "      fx: {agg: first, field: x, window: 10s}\n";

TEST(EntityWindowTest, AllAggregationsInOneViewScenarioA) {
  auto p = LoadView(kAllFeatures);
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(View(*p).ttl, 10000);  // default ttl: the longest window
  auto rows = RunEntity(View(*p), ScenarioA());
  // Columns in feature order: c cx sx sn ax an mnx mxx mns mxs sd cd lx fx.
  auto expected = Rows({
      {1000, {I(1), I(1), D(4), I(10), D(4), D(10), D(4), D(4), S("m"), S("m"), D(0), I(1), D(4), D(4)}},
      {3000, {I(2), I(1), D(4), I(10), D(4), D(10), D(4), D(4), S("m"), S("m"), D(0), I(1), D(4), D(4)}},
      {5000,
       {I(4), I(3), D(12), I(107), D(4), D(107.0 / 3), D(1), D(7), S("b"), S("z"), D(std::sqrt(6.0)), I(3),
        D(7), D(4)}},
      {11000, {I(3), I(2), D(8), I(97), D(4), D(48.5), D(1), D(7), S("b"), S("z"), D(3), I(2), D(7), D(1)}},
      {12000,
       {I(4), I(3), D(10), I(104), D(10.0 / 3), D(104.0 / 3), D(1), D(7), S("b"), S("z"),
        D(std::sqrt(62.0) / 3), I(3), D(2), D(1)}},
      {13000,
       {I(3), I(3), D(10), I(104), D(10.0 / 3), D(104.0 / 3), D(1), D(7), S("b"), S("z"),
        D(std::sqrt(62.0) / 3), I(3), D(2), D(1)}},
      {15000, {I(1), I(1), D(2), I(7), D(2), D(7), D(2), D(2), S("m"), S("m"), D(0), I(1), D(2), D(2)}},
      {22000, {I(0), I(0), D(0), I(0), N(), N(), N(), N(), N(), N(), N(), I(0), N(), N()}},
  });
  ExpectRowsNear(rows, expected, 1e-12);
}

TEST(EntityWindowTest, EmptyTupleIsZeroForCountsAndSumsElseNull) {
  auto p = LoadView(kAllFeatures);
  ASSERT_NE(p, nullptr);
  ViewPlan plan(View(*p));
  Row want = {I(0), I(0), D(0), I(0), N(), N(), N(), N(), N(), N(), N(), I(0), N(), N()};
  EXPECT_EQ(plan.empty_tuple(), want);
  // Typed exactly: a double sum's empty value is the double 0, an int64 sum's the int 0.
  EXPECT_EQ(plan.empty_tuple()[2].type(), Type::kDouble);
  EXPECT_EQ(plan.empty_tuple()[3].type(), Type::kInt64);
}

// The window is t - w < ts <= t. Events at 10000 (= 20000 - w), 10001 (= 20000 - w + 1)
// and 20000: as of 20000 the first is out, the other two are in.
TEST(EntityWindowTest, WindowBoundariesAsOf) {
  auto p = LoadView(kAllFeatures);
  ASSERT_NE(p, nullptr);
  std::vector<In> ev = {
      {.ts = 10000, .x = 1.0, .n = 1, .s = "a"},
      {.ts = 10001, .x = 2.0, .n = 2, .s = "b"},
      {.ts = 20000, .x = 4.0, .n = 4, .s = "c"},
  };
  auto rows = RunEntity(View(*p), ev);
  Row empty = ViewPlan(View(*p)).empty_tuple();
  Row only_first = {I(1), I(1), D(1), I(1), D(1), D(1), D(1), D(1), S("a"), S("a"), D(0), I(1), D(1), D(1)};
  Row first_two = {I(2), I(2),   D(3),   I(3),   D(1.5), D(1.5), D(1),
                   D(2), S("a"), S("b"), D(0.5), I(2),   D(2),   D(1)};
  Row last_two = {I(2), I(2), D(6), I(6), D(3), D(3), D(2), D(4), S("b"), S("c"), D(1), I(2), D(4), D(2)};
  Row only_last = {I(1), I(1), D(4), I(4), D(4), D(4), D(4), D(4), S("c"), S("c"), D(0), I(1), D(4), D(4)};
  auto near = [](const Row& a, const Row& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (a[i].type() == Type::kDouble && b[i].type() == Type::kDouble) {
        if (std::fabs(a[i].dbl() - b[i].dbl()) > 1e-12) return false;
      } else if (a[i] != b[i]) {
        return false;
      }
    }
    return true;
  };
  EXPECT_TRUE(near(AsOf(rows, 9999, empty), empty));
  EXPECT_TRUE(near(AsOf(rows, 10000, empty), only_first));
  EXPECT_TRUE(near(AsOf(rows, 19999, empty), first_two));
  EXPECT_TRUE(near(AsOf(rows, 20000, empty), last_two)) << ::testing::PrintToString(AsOf(rows, 20000, empty));
  EXPECT_TRUE(near(AsOf(rows, 20001, empty), only_last));
  EXPECT_TRUE(near(AsOf(rows, 29999, empty), only_last));
  EXPECT_TRUE(near(AsOf(rows, 30000, empty), empty));  // 20000 left at 20000 + 10s
  // Exactly one row per instant that changes: 10000, 10001, 20000 (10000 leaves and
  // 20000 enters at the same instant: one row), 20001, 30000.
  std::vector<TimestampMs> ts;
  for (const auto& r : rows) ts.push_back(r.ts);
  EXPECT_EQ(ts, (std::vector<TimestampMs>{10000, 10001, 20000, 20001, 30000}));
}

// A single event: the value holds from ts through ts + w - 1 and is gone at ts + w.
TEST(EntityWindowTest, EventLeavesExactlyAtTsPlusWindow) {
  auto p = LoadView("      f: {agg: count, window: 1h}\n");
  ASSERT_NE(p, nullptr);
  const TimestampMs t0 = 1'767'225'600'000;  // 2026-01-01T00:00:00Z
  auto rows = RunEntity(View(*p), {{.ts = t0}, {.ts = t0 + 1'800'000}});
  // The worked example of the header comment: 10:00 and 10:30 over 1h.
  EXPECT_EQ(
      rows,
      Rows({{t0, {I(1)}}, {t0 + 1'800'000, {I(2)}}, {t0 + 3'600'000, {I(1)}}, {t0 + 5'400'000, {I(0)}}}));
  Row empty = {I(0)};
  EXPECT_EQ(AsOf(rows, t0 + 3'599'999, empty), Row{I(2)});
  EXPECT_EQ(AsOf(rows, t0 + 3'600'000, empty), Row{I(1)});
}

TEST(EntityWindowTest, NullsInFieldAreSkippedByEveryAggregation) {
  auto p = LoadView(kAllFeatures);
  ASSERT_NE(p, nullptr);
  // Only nulls: count counts events, every other aggregate stays empty.
  auto rows = RunEntity(View(*p), {{.ts = 1000}, {.ts = 2000}});
  EXPECT_EQ(rows, Rows({
                      {1000, {I(1), I(0), D(0), I(0), N(), N(), N(), N(), N(), N(), N(), I(0), N(), N()}},
                      {2000, {I(2), I(0), D(0), I(0), N(), N(), N(), N(), N(), N(), N(), I(0), N(), N()}},
                      {11000, {I(1), I(0), D(0), I(0), N(), N(), N(), N(), N(), N(), N(), I(0), N(), N()}},
                      {12000, {I(0), I(0), D(0), I(0), N(), N(), N(), N(), N(), N(), N(), I(0), N(), N()}},
                  }));
}

// where: a null comparison is false (SQL), and `not null` is null, hence false too.
//   cf: count where x > 3;  sf: sum x where s == 'm';  nf: count where not (x > 3)
//   1000 x 5 s m   -> cf 1  sf 5  nf 0
//   2000 x - s m   -> x > 3 is null: cf no; sum skips null x; nf no. Nothing changes: no row.
//   3000 x 4 s -   -> cf 2; s == 'm' is null: sf no; nf no
//   4000 x 1 s m   -> cf no; sf 6; nf 1
//   leaves: 11000 (1000): cf 1 sf 1;  12000 (2000): nothing changes, no row;
//           13000 (3000): cf 0;  14000 (4000): sf 0, nf 0 (and the ttl).
TEST(EntityWindowTest, WhereWithNullIsFalse) {
  auto p = LoadView(
      "      cf: {agg: count, window: 10s, where: \"x > 3\"}\n"
      "      sf: {agg: sum, field: x, window: 10s, where: \"s == 'm'\"}\n"
      "      nf: {agg: count, window: 10s, where: \"not (x > 3)\"}\n");
  ASSERT_NE(p, nullptr);
  auto rows = RunEntity(View(*p), {{.ts = 1000, .x = 5.0, .s = "m"},
                                   {.ts = 2000, .s = "m"},
                                   {.ts = 3000, .x = 4.0},
                                   {.ts = 4000, .x = 1.0, .s = "m"}});
  EXPECT_EQ(rows, Rows({{1000, {I(1), D(5), I(0)}},
                        {3000, {I(2), D(5), I(0)}},
                        {4000, {I(2), D(6), I(1)}},
                        {11000, {I(1), D(1), I(1)}},
                        {13000, {I(0), D(1), I(1)}},
                        {14000, {I(0), D(0), I(0)}}}));
}

TEST(EntityWindowTest, FilteredOutEventThatChangesNothingEmitsNoRow) {
  auto p = LoadView("      failed: {agg: count, window: 10m, where: \"st == 'failed'\"}\n");
  ASSERT_NE(p, nullptr);
  // Only filtered-out events: no row at all (the tuple never leaves the empty tuple),
  // and the ttl expiry, which changes nothing, emits nothing either.
  EXPECT_TRUE(RunEntity(View(*p), {{.ts = 1000}, {.ts = 2000, .st = "ok"}}).empty());
  auto rows = RunEntity(View(*p), {{.ts = 1000, .st = "failed"}, {.ts = 2000}, {.ts = 3000, .st = "failed"}});
  EXPECT_EQ(rows, Rows({{1000, {I(1)}}, {3000, {I(2)}}, {601000, {I(1)}}, {603000, {I(0)}}}));
}

// Lifetime features (no window), explicit ttl 20s. Events: 1000 x 3 s p; 9000 x - s p;
// 15000 x 5 s q. The entity's last event is at 15000: everything is empty at 35000.
constexpr char kLifetime[] =
    "      lc: {agg: count}\n"
    "      lcx: {agg: count, field: x}\n"
    "      ls: {agg: sum, field: x}\n"
    "      lsn: {agg: sum, field: n}\n"
    "      la: {agg: avg, field: x}\n"
    "      lmin: {agg: min, field: x}\n"
    "      lmax: {agg: max, field: x}\n"
    "      lsd: {agg: stddev, field: x}\n"
    "      lcd: {agg: count_distinct, field: s}\n"
    "      ll: {agg: last, field: x}\n"
    "      lf: {agg: first, field: x}\n";

std::vector<In> LifetimeEvents() {
  return {{.ts = 1000, .x = 3.0, .n = 2, .s = "p"},
          {.ts = 9000, .s = "p"},
          {.ts = 15000, .x = 5.0, .n = 5, .s = "q"}};
}

TEST(EntityWindowTest, LifetimeFeaturesExpireAtLastEventPlusTtl) {
  auto p = LoadView(kLifetime, "20s");
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(View(*p).ttl, 20000);
  auto rows = RunEntity(View(*p), LifetimeEvents());
  // Columns in feature order: lc lcx ls lsn la lmin lmax lsd lcd ll lf.
  EXPECT_EQ(rows, Rows({
                      {1000, {I(1), I(1), D(3), I(2), D(3), D(3), D(3), D(0), I(1), D(3), D(3)}},
                      {9000, {I(2), I(1), D(3), I(2), D(3), D(3), D(3), D(0), I(1), D(3), D(3)}},
                      {15000, {I(3), I(2), D(8), I(7), D(4), D(3), D(5), D(1), I(2), D(5), D(3)}},
                      {35000, {I(0), I(0), D(0), I(0), N(), N(), N(), N(), I(0), N(), N()}},
                  }));
  Row empty = ViewPlan(View(*p)).empty_tuple();
  EXPECT_EQ(AsOf(rows, 34999, empty)[0], I(3));
  EXPECT_EQ(AsOf(rows, 35000, empty), empty);
}

// An event at exactly L + ttl arrives after the expiry: it starts a fresh lifetime.
TEST(EntityWindowTest, EventAtExactlyTtlExpiryStartsFresh) {
  auto p = LoadView(kLifetime, "20s");
  ASSERT_NE(p, nullptr);
  auto ev = LifetimeEvents();
  ev.push_back({.ts = 35000, .x = 10.0, .n = -4, .s = "r"});
  auto rows = RunEntity(View(*p), ev);
  EXPECT_EQ(rows, Rows({
                      {1000, {I(1), I(1), D(3), I(2), D(3), D(3), D(3), D(0), I(1), D(3), D(3)}},
                      {9000, {I(2), I(1), D(3), I(2), D(3), D(3), D(3), D(0), I(1), D(3), D(3)}},
                      {15000, {I(3), I(2), D(8), I(7), D(4), D(3), D(5), D(1), I(2), D(5), D(3)}},
                      {35000, {I(1), I(1), D(10), I(-4), D(10), D(10), D(10), D(0), I(1), D(10), D(10)}},
                      {55000, {I(0), I(0), D(0), I(0), N(), N(), N(), N(), I(0), N(), N()}},
                  }));
}

// One millisecond earlier, the event extends the old lifetime instead.
TEST(EntityWindowTest, EventJustBeforeTtlExpiryExtendsLifetime) {
  auto p = LoadView("      lc: {agg: count}\n", "20s");
  ASSERT_NE(p, nullptr);
  auto rows = RunEntity(View(*p), {{.ts = 1000}, {.ts = 20999}, {.ts = 40998}, {.ts = 61000}});
  // 1000 -> 1 (expiry would be 21000); 20999 -> 2 (expiry now 40999); 40998 -> 3 (expiry
  // 60998); at 60998 the entity expires: 0; 61000 starts afresh: 1, expiring at 81000.
  EXPECT_EQ(rows, Rows({{1000, {I(1)}},
                        {20999, {I(2)}},
                        {40998, {I(3)}},
                        {60998, {I(0)}},
                        {61000, {I(1)}},
                        {81000, {I(0)}}}));
}

// The ttl counts from the last event on the source, even one every feature filters out.
TEST(EntityWindowTest, FilteredOutEventStillRefreshesTtl) {
  auto p = LoadView("      failed: {agg: count, where: \"st == 'failed'\"}\n", "20s");
  ASSERT_NE(p, nullptr);
  auto rows = RunEntity(View(*p), {{.ts = 1000, .st = "failed"}, {.ts = 15000, .st = "ok"}});
  EXPECT_EQ(rows, Rows({{1000, {I(1)}}, {35000, {I(0)}}}));
}

// Windowed and lifetime features under one explicit ttl of 20s; events at 1000 and 15000.
//   w10 (count 10s): 1 at 1000, 0 at 11000, 1 at 15000, 0 at 25000.
//   tot (lifetime count): 1, 2 at 15000, 0 at 35000 (ttl).
TEST(EntityWindowTest, WindowedAndLifetimeUnderOneTtl) {
  auto p = LoadView("      w10: {agg: count, window: 10s}\n      tot: {agg: count}\n", "20s");
  ASSERT_NE(p, nullptr);
  auto rows = RunEntity(View(*p), {{.ts = 1000}, {.ts = 15000}});
  EXPECT_EQ(rows, Rows({{1000, {I(1), I(1)}},
                        {11000, {I(0), I(1)}},
                        {15000, {I(1), I(2)}},
                        {25000, {I(0), I(2)}},
                        {35000, {I(0), I(0)}}}));
}

// A ttl expiry that changes nothing (every window already empty) emits no row, but it
// does end the entity's state.
TEST(EntityWindowTest, TtlExpiryThatChangesNothingEmitsNothingAndGoesIdle) {
  auto p = LoadView("      w10: {agg: count, window: 10s}\n", "20s");
  ASSERT_NE(p, nullptr);
  ViewPlan plan(View(*p));
  EntityWindow w(&plan, "a");
  Row in;
  plan.Extract(ToEvent({.ts = 1000}), &in);
  EXPECT_TRUE(w.Idle());
  w.Add(1000, 0, in);
  EXPECT_FALSE(w.Idle());
  EXPECT_EQ(w.NextInstant(), 1000);
  std::vector<ChangelogRow> rows;
  auto emit = [&](ChangelogRow&& r) { rows.push_back(std::move(r)); };
  w.AdvanceTo(1000, emit);  // instants < 1000: none
  EXPECT_TRUE(rows.empty());
  w.AdvanceTo(1001, emit);
  EXPECT_EQ(rows, Rows({{1000, {I(1)}}}));
  EXPECT_EQ(w.NextInstant(), 11000);
  w.AdvanceTo(11001, emit);
  EXPECT_EQ(w.NextInstant(), 21000);  // the ttl
  EXPECT_FALSE(w.Idle());
  w.AdvanceTo(21000, emit);
  EXPECT_FALSE(w.Idle());
  w.AdvanceTo(21001, emit);
  EXPECT_TRUE(w.Idle());
  EXPECT_EQ(w.NextInstant(), kMaxTimestamp);
  EXPECT_EQ(rows, Rows({{1000, {I(1)}}, {11000, {I(0)}}}));
}

TEST(EntityWindowTest, DefaultTtlIsLongestWindow) {
  auto p = LoadView("      a: {agg: count, window: 10s}\n      b: {agg: sum, field: x, window: 30s}\n");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(View(*p).ttl, 30000);
  ViewPlan plan(View(*p));
  EntityWindow w(&plan, "a");
  Row in;
  plan.Extract(ToEvent({.ts = 1000, .x = 2.0}), &in);
  w.Add(1000, 0, in);
  std::vector<ChangelogRow> rows;
  auto emit = [&](ChangelogRow&& r) { rows.push_back(std::move(r)); };
  w.AdvanceTo(30999, emit);
  EXPECT_FALSE(w.Idle());
  w.AdvanceTo(31001, emit);
  EXPECT_TRUE(w.Idle());
  EXPECT_EQ(rows, Rows({{1000, {I(1), D(2)}}, {11000, {I(0), D(2)}}, {31000, {I(0), D(0)}}}));
}

TEST(EntityWindowTest, LifetimeWithoutTtlKeepsEntityForever) {
  auto p = LoadView("      lc: {agg: count}\n      w: {agg: count, window: 10s}\n");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(View(*p).ttl, kNoTtl);
  ViewPlan plan(View(*p));
  EntityWindow w(&plan, "a");
  Row in;
  plan.Extract(ToEvent({.ts = 1000}), &in);
  w.Add(1000, 0, in);
  std::vector<ChangelogRow> rows;
  w.AdvanceTo(kMaxTimestamp, [&](ChangelogRow&& r) { rows.push_back(std::move(r)); });
  EXPECT_EQ(rows, Rows({{1000, {I(1), I(1)}}, {11000, {I(1), I(0)}}}));
  EXPECT_FALSE(w.Idle());
  EXPECT_EQ(w.NextInstant(), kMaxTimestamp);
}

// Lifetime last/first break ties of equal ts by seq, whatever the Add order.
TEST(EntityWindowTest, LifetimeLastFirstTiesFollowSeq) {
  auto p = LoadView("      l: {agg: last, field: x}\n      f: {agg: first, field: x}\n", "1h");
  ASSERT_NE(p, nullptr);
  ViewPlan plan(View(*p));
  EntityWindow w(&plan, "a");
  // seq 7 (x 2) is added before seq 5 (x 1); both at ts 1000; then seq 6 (x 3) at 1000.
  for (auto [seq, x] : std::vector<std::pair<uint64_t, double>>{{7, 2.0}, {5, 1.0}, {6, 3.0}}) {
    Row in;
    plan.Extract(ToEvent({.ts = 1000, .x = x}), &in);
    w.Add(1000, seq, in);
  }
  std::vector<ChangelogRow> rows;
  w.AdvanceTo(kMaxTimestamp, [&](ChangelogRow&& r) { rows.push_back(std::move(r)); });
  EXPECT_EQ(rows, Rows({{1000, {D(2), D(1)}}, {3601000, {N(), N()}}}));
}

TEST(EntityWindowTest, CountDistinctTreatsNegativeZeroAsZero) {
  auto p = LoadView("      cd: {agg: count_distinct, field: x, window: 10s}\n");
  ASSERT_NE(p, nullptr);
  auto rows = RunEntity(View(*p), {{.ts = 1000, .x = 0.0}, {.ts = 2000, .x = -0.0}, {.ts = 3000, .x = 0.5}});
  // 2000 (-0) is the same value as 0: no row. 11000: 0 leaves, -0 stays: still 2.
  EXPECT_EQ(rows, Rows({{1000, {I(1)}}, {3000, {I(2)}}, {12000, {I(1)}}, {13000, {I(0)}}}));
}

// AdvanceTo in pieces gives the same rows as one AdvanceTo, each piece holding exactly
// the rows with ts < its bound; events may be added between pieces (ts >= last bound).
TEST(EntityWindowTest, IncrementalAdvanceMatchesOneShot) {
  auto p = LoadView(kAllFeatures);
  ASSERT_NE(p, nullptr);
  auto all = RunEntity(View(*p), ScenarioA());
  ViewPlan plan(View(*p));
  EntityWindow w(&plan, "a");
  auto ev = ScenarioA();
  auto add = [&](size_t i) {
    Row in;
    plan.Extract(ToEvent(ev[i]), &in);
    w.Add(ev[i].ts, i, in);
  };
  std::vector<ChangelogRow> rows;
  TimestampMs bound = kMinTimestamp;
  auto advance = [&](TimestampMs b) {
    bound = b;
    w.AdvanceTo(b, [&](ChangelogRow&& r) {
      EXPECT_LT(r.ts, bound);
      if (!rows.empty()) {
        EXPECT_GT(r.ts, rows.back().ts);
      }
      rows.push_back(std::move(r));
    });
  };
  add(0);
  add(1);
  advance(3000);
  EXPECT_EQ(rows.size(), 1u);
  advance(4000);
  EXPECT_EQ(rows.size(), 2u);
  add(3);  // d before c, both at 5000 >= 4000
  add(2);
  advance(5000);
  EXPECT_EQ(rows.size(), 2u);
  advance(11000);
  EXPECT_EQ(rows.size(), 3u);
  advance(11001);
  add(4);
  advance(12001);
  advance(kMaxTimestamp);
  EXPECT_EQ(rows, all);
}

TEST(EntityWindowTest, OutOfOrderAddsBeforeAdvanceAreSorted) {
  auto p = LoadView(kAllFeatures);
  ASSERT_NE(p, nullptr);
  auto in_order = RunEntity(View(*p), ScenarioA());
  ViewPlan plan(View(*p));
  EntityWindow w(&plan, "a");
  auto ev = ScenarioA();
  for (size_t i : {4, 2, 0, 3, 1}) {
    Row in;
    plan.Extract(ToEvent(ev[i]), &in);
    w.Add(ev[i].ts, i, in);
  }
  std::vector<ChangelogRow> rows;
  w.AdvanceTo(kMaxTimestamp, [&](ChangelogRow&& r) { rows.push_back(std::move(r)); });
  EXPECT_EQ(rows, in_order);
}

// Many features (more than 64, past the engine's dirty-bit word) still all update.
TEST(EntityWindowTest, ManyFeatures) {
  std::string features;
  for (int i = 0; i < 70; ++i) {
    features +=
        "      f" + std::to_string(i) + ": {agg: sum, field: n, window: " + std::to_string(i + 1) + "s}\n";
  }
  auto p = LoadView(features);
  ASSERT_NE(p, nullptr);
  auto rows = RunEntity(View(*p), {{.ts = 0, .n = 3}});
  // Row at 0 with 70 threes, then one row per second as each window empties.
  ASSERT_EQ(rows.size(), 71u);
  EXPECT_EQ(rows[0].values, Row(70, I(3)));
  for (int i = 1; i <= 70; ++i) {
    EXPECT_EQ(rows[i].ts, i * 1000);
    for (int j = 0; j < 70; ++j) EXPECT_EQ(rows[i].values[j], I(j < i ? 0 : 3)) << i << " " << j;
  }
}

// A pending event keeps one bit per distinct where: past 64 of them the bits go on in a
// second word, which must follow the event when later events are inserted before it,
// when the queue is compacted, and through a checkpoint.
TEST(EntityWindowTest, ManyFiltersPastOneWordOfWhereBits) {
  constexpr int kFilters = 70;
  std::string features = "      total: {agg: sum, field: n, window: 10s}\n";
  for (int j = 0; j < kFilters; ++j) {
    features += "      c" + std::to_string(j) +
                ": {agg: count, window: 10s, where: \"n = " + std::to_string(j) + "\"}\n";
  }
  auto p = LoadView(features);
  ASSERT_NE(p, nullptr);
  ViewPlan plan(View(*p));
  ASSERT_EQ(plan.extra_where_words(), 1u);
  ASSERT_EQ(plan.num_input_fields(), 1u);  // n, once for all the features
  // Events at ts 100 * i with n = (i * 37) % 70, added from the last to the first, so that
  // each lands before every event already queued.
  constexpr int kEvents = 140;
  EntityWindow w(&plan, "a");
  for (int i = kEvents - 1; i >= 0; --i) {
    Row in;
    plan.Extract(ToEvent({.ts = 100 * i, .n = (i * 37) % kFilters}), &in);
    w.Add(100 * i, static_cast<uint64_t>(i), in);
  }
  // Half of the events processed, the rest still pending through a checkpoint.
  std::vector<ChangelogRow> rows;
  auto emit = [&](ChangelogRow&& r) { rows.push_back(std::move(r)); };
  w.AdvanceTo(100 * kEvents / 2, emit);
  std::string saved;
  w.Save(&saved);
  auto restored = EntityWindow::Restore(&plan, "a", saved);
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  std::vector<ChangelogRow> rest_restored;
  restored->AdvanceTo(kMaxTimestamp, [&](ChangelogRow&& r) { rest_restored.push_back(std::move(r)); });
  const size_t before = rows.size();
  w.AdvanceTo(kMaxTimestamp, emit);
  EXPECT_EQ(std::vector<ChangelogRow>(rows.begin() + static_cast<std::ptrdiff_t>(before), rows.end()),
            rest_restored);
  // Every event's row: each filter counts the events of its n in the last 10 s.
  ASSERT_GE(rows.size(), static_cast<size_t>(kEvents));
  for (int i = 0; i < kEvents; ++i) {
    const ChangelogRow& r = rows[static_cast<size_t>(i)];
    ASSERT_EQ(r.ts, 100 * i);
    Row want(kFilters + 1, I(0));
    int64_t total = 0;
    for (int e = std::max(0, i - 99); e <= i; ++e) {
      const int n = (e * 37) % kFilters;
      total += n;
      want[static_cast<size_t>(n) + 1] = I(want[static_cast<size_t>(n) + 1].int64() + 1);
    }
    want[0] = I(total);
    ASSERT_EQ(r.values, want) << "at event " << i;
  }
}

}  // namespace entity_window_test
}  // namespace vigil
