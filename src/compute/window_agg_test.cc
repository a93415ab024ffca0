// Window state (window_agg_internal.h): the two-stacks queue, each FeatureState, and the
// engine's numbers under adversarial magnitudes and long random sliding sequences,
// checked against a brute-force recomputation over the window contents.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "compute/changelog.h"
#include "compute/compute_test_util.h"
#include "compute/entity_window.h"
#include "compute/window_agg_internal.h"
#include "spec/definitions.h"

// g++ 12 warns on designated initializers that leave members to their defaults.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace vigil {

namespace window_agg_test {

using compute_internal::FeatureState;
using compute_internal::MakeFeatureState;
using compute_internal::MomentsAgg;
using compute_internal::SumAgg;
using compute_internal::TwoStacks;
using test::D;
using test::I;
using test::kScale;
using test::LoadView;
using test::N;
using test::S;
using test::ToEvent;
using test::View;
using In = test::EvInput;

std::vector<ChangelogRow> RunEntity(const FeatureViewDef& view, const std::vector<In>& events) {
  ViewPlan plan(view);
  EntityWindow w(&plan, "a");
  Row in;
  for (size_t i = 0; i < events.size(); ++i) {
    plan.Extract(ToEvent(events[i]), &in);
    w.Add(events[i].ts, i, in);
  }
  std::vector<ChangelogRow> rows;
  w.AdvanceTo(kMaxTimestamp, [&](ChangelogRow&& r) { rows.push_back(std::move(r)); });
  return rows;
}

// ---------------------------------------------------------------------------------------
// TwoStacks

TEST(TwoStacksTest, PoppingNeverSubtracts) {
  TwoStacks<SumAgg> q;
  q.Push(0, SumAgg::Lift(D(1e15)));
  q.Push(1, SumAgg::Lift(D(1e-3)));
  EXPECT_EQ(q.Query().sum, 1e15 + 1e-3);
  EXPECT_EQ(q.OldestTs(), 0);
  q.Pop();
  EXPECT_EQ(q.Query().sum, 1e-3);  // exactly, not (1e15 + 1e-3) - 1e15
  EXPECT_EQ(q.Query().n, 1);
  EXPECT_EQ(q.OldestTs(), 1);
  q.Pop();
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.Query().sum, 0.0);
  EXPECT_EQ(q.Query().n, 0);
}

TEST(TwoStacksTest, MatchesBruteForceFifoOnRandomPushPop) {
  std::mt19937_64 rng(7);
  TwoStacks<SumAgg> q;
  std::deque<std::pair<TimestampMs, int64_t>> ref;
  int64_t ref_sum = 0;
  TimestampMs ts = 0;
  for (int step = 0; step < 20000; ++step) {
    if (ref.empty() || rng() % 3 != 0) {
      int64_t v = static_cast<int64_t>(rng() % 2001) - 1000;
      ts += static_cast<TimestampMs>(rng() % 3);
      q.Push(ts, SumAgg::Lift(D(static_cast<double>(v))));
      ref.emplace_back(ts, v);
      ref_sum += v;
    } else {
      q.Pop();
      ref_sum -= ref.front().second;
      ref.pop_front();
    }
    ASSERT_EQ(q.size(), ref.size());
    ASSERT_EQ(q.empty(), ref.empty());
    ASSERT_EQ(q.Query().sum, static_cast<double>(ref_sum)) << step;  // small integers: exact
    ASSERT_EQ(q.Query().n, static_cast<int64_t>(ref.size()));
    if (!ref.empty()) {
      ASSERT_EQ(q.OldestTs(), ref.front().first);
    }
  }
  q.Clear();
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.Query().n, 0);
}

TEST(TwoStacksTest, IntegerSumIsExact) {
  TwoStacks<SumAgg> q;
  const int64_t big = int64_t{1} << 62;
  q.Push(0, SumAgg::Lift(I(big)));
  q.Push(1, SumAgg::Lift(I(3)));
  q.Push(2, SumAgg::Lift(I(-big)));
  EXPECT_EQ(q.Query().isum, 3);
  q.Pop();
  EXPECT_EQ(q.Query().isum, 3 - big);
  q.Pop();
  EXPECT_EQ(q.Query().isum, -big);
}

TEST(TwoStacksTest, EqualValuesHaveZeroVariance) {
  TwoStacks<MomentsAgg> q;
  for (int i = 0; i < 1000; ++i) {
    q.Push(i, MomentsAgg::Lift(D(0.1)));
    if (i >= 10) q.Pop();
    ASSERT_EQ(q.Query().m2, 0.0) << i;
    ASSERT_EQ(q.Query().mean, 0.1) << i;
  }
}

// ---------------------------------------------------------------------------------------
// FeatureState API

TEST(FeatureStateTest, EvictNextExpiryCurrentClear) {
  auto p = LoadView(
      "      c: {agg: count, window: 10s}\n"
      "      s: {agg: sum, field: n, window: 10s}\n"
      "      m: {agg: max, field: x, window: 10s}\n"
      "      d: {agg: count_distinct, field: s, window: 10s}\n"
      "      l: {agg: last, field: x, window: 10s}\n"
      "      f: {agg: first, field: x, window: 10s}\n"
      "      sd: {agg: stddev, field: x, window: 10s}\n");
  ASSERT_NE(p, nullptr);
  const auto& fs = View(*p).features;
  // Each state gets the same two values: (1000, 3) and (4000, 5) in its field's type.
  auto val = [&](size_t i, double v) -> Value {
    switch (i) {
      case 0:
        return Value::Bool(true);
      case 1:
        return I(static_cast<int64_t>(v));
      case 3:
        return S(std::to_string(static_cast<int>(v)));
      default:
        return D(v);
    }
  };
  std::vector<Value> after_both = {I(2), I(8), D(5), I(2), D(5), D(3), D(1)};
  std::vector<Value> after_one_left = {I(1), I(5), D(5), I(1), D(5), D(5), D(0)};
  std::vector<Value> empty = {I(0), I(0), N(), I(0), N(), N(), N()};
  for (size_t i = 0; i < fs.size(); ++i) {
    SCOPED_TRACE(fs[i].name);
    auto st = MakeFeatureState(fs[i]);
    ASSERT_NE(st, nullptr);
    EXPECT_EQ(st->NextExpiry(), kMaxTimestamp);
    EXPECT_EQ(st->Current(), empty[i]);
    EXPECT_EQ(compute_internal::EmptyValue(fs[i]), empty[i]);
    st->Push(1000, val(i, 3));
    st->Push(4000, val(i, 5));
    EXPECT_EQ(st->Current(), after_both[i]);
    // `last` keeps one slot and max a monotonic deque: for them the older value (3) is
    // already gone, so it may not be reported leaving at 11000.
    const bool drops_dominated = fs[i].agg == AggKind::kLast || fs[i].agg == AggKind::kMax;
    if (drops_dominated) {
      EXPECT_TRUE(st->NextExpiry() == 11000 || st->NextExpiry() == 14000) << st->NextExpiry();
    } else {
      EXPECT_EQ(st->NextExpiry(), 11000);
    }
    EXPECT_FALSE(st->EvictUpTo(10999));
    EXPECT_EQ(st->Current(), after_both[i]);
    bool left = st->EvictUpTo(11000);
    if (!drops_dominated) {
      EXPECT_TRUE(left);
    }
    EXPECT_EQ(st->Current(), after_one_left[i]);
    EXPECT_EQ(st->NextExpiry(), 14000);
    EXPECT_TRUE(st->EvictUpTo(20000));
    EXPECT_EQ(st->Current(), empty[i]);
    EXPECT_EQ(st->NextExpiry(), kMaxTimestamp);
    EXPECT_FALSE(st->EvictUpTo(30000));
    st->Push(40000, val(i, 3));
    st->Clear();
    EXPECT_EQ(st->Current(), empty[i]);
    EXPECT_EQ(st->NextExpiry(), kMaxTimestamp);
  }
}

TEST(FeatureStateTest, LifetimeNeverEvicts) {
  auto p = LoadView("      c: {agg: count}\n      s: {agg: sum, field: x}\n      l: {agg: last, field: x}\n");
  ASSERT_NE(p, nullptr);
  for (const auto& f : View(*p).features) {
    auto st = MakeFeatureState(f);
    st->Push(1000, f.field_index < 0 ? Value::Bool(true) : D(2.5));
    EXPECT_FALSE(st->EvictUpTo(kMaxTimestamp - 1));
    EXPECT_EQ(st->NextExpiry(), kMaxTimestamp);
    EXPECT_FALSE(st->Current().is_null());
    st->Clear();
    EXPECT_EQ(st->Current(), compute_internal::EmptyValue(f));
  }
}

// max/min keep equal values: after the newer of two equal maxima leaves... it cannot
// leave first; after the older leaves, the newer still answers.
TEST(FeatureStateTest, ExtremeWithDuplicatesAndDescendingRuns) {
  auto p =
      LoadView("      mx: {agg: max, field: n, window: 10s}\n      mn: {agg: min, field: n, window: 10s}\n");
  ASSERT_NE(p, nullptr);
  auto mx = MakeFeatureState(View(*p).features[0]);
  auto mn = MakeFeatureState(View(*p).features[1]);
  // values at ts 0..5: 5 5 3 9 1 1
  std::vector<int64_t> v = {5, 5, 3, 9, 1, 1};
  for (int i = 0; i < 6; ++i) {
    mx->Push(i, I(v[i]));
    mn->Push(i, I(v[i]));
  }
  // Window contents as each leaves at 10000 + i: suffixes of v.
  for (int i = 0; i < 6; ++i) {
    int64_t want_max = *std::max_element(v.begin() + i, v.end());
    int64_t want_min = *std::min_element(v.begin() + i, v.end());
    EXPECT_EQ(mx->Current(), I(want_max)) << i;
    EXPECT_EQ(mn->Current(), I(want_min)) << i;
    mx->EvictUpTo(10000 + i);
    mn->EvictUpTo(10000 + i);
  }
  EXPECT_EQ(mx->Current(), N());
  EXPECT_EQ(mn->Current(), N());
}

// ---------------------------------------------------------------------------------------
// Adversarial magnitudes

constexpr char kSumAvg[] =
    "      sx: {agg: sum, field: x, window: 10s}\n"
    "      ax: {agg: avg, field: x, window: 10s}\n";

TEST(MagnitudeTest, HugeValueLeavesTinyOneExactly) {
  auto p = LoadView(kSumAvg);
  ASSERT_NE(p, nullptr);
  auto rows = RunEntity(View(*p), {{.ts = 0, .x = 1e15}, {.ts = 1000, .x = 1e-3}});
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].values, (Row{D(1e15), D(1e15)}));
  EXPECT_EQ(rows[1].ts, 1000);
  EXPECT_EQ(rows[2].ts, 10000);
  EXPECT_EQ(rows[2].values, (Row{D(1e-3), D(1e-3)}));  // exactly: 1e15 is gone
  EXPECT_EQ(rows[3].ts, 11000);
  EXPECT_EQ(rows[3].values, (Row{D(0), N()}));
}

TEST(MagnitudeTest, TinyBeforeAndAfterHuge) {
  auto p = LoadView(kSumAvg);
  ASSERT_NE(p, nullptr);
  auto rows = RunEntity(View(*p), {{.ts = 0, .x = 1e-3}, {.ts = 1000, .x = 1e15}, {.ts = 2000, .x = 2e-3}});
  // 10000: the first 1e-3 leaves; 11000: 1e15 leaves -> exactly 2e-3.
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_EQ(rows[4].ts, 11000);
  EXPECT_EQ(rows[4].values, (Row{D(2e-3), D(2e-3)}));
  EXPECT_EQ(rows[5].ts, 12000);
  EXPECT_EQ(rows[5].values, (Row{D(0), N()}));
}

TEST(MagnitudeTest, CancellingHugeValues) {
  auto p = LoadView(kSumAvg);
  ASSERT_NE(p, nullptr);
  auto rows = RunEntity(
      View(*p),
      {{.ts = 0, .x = 1e15}, {.ts = 0, .x = -1e15}, {.ts = 500, .x = 1e-3}, {.ts = 600, .x = 1e-3}});
  // At 10000 both huge values leave at once: exactly 2e-3 (two exact 1e-3 additions).
  bool seen = false;
  for (const auto& r : rows) {
    if (r.ts == 10000) {
      seen = true;
      EXPECT_EQ(r.values, (Row{D(1e-3 + 1e-3), D((1e-3 + 1e-3) / 2)}));
    }
  }
  EXPECT_TRUE(seen);
}

// Many small values around repeated huge ones, across many two-stacks flips: whenever no
// huge value is in the window, the sum is that of the small ones (relative 1e-12).
TEST(MagnitudeTest, RepeatedSpikesNeverContaminate) {
  auto p = LoadView(kSumAvg);
  ASSERT_NE(p, nullptr);
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> small(1e-4, 1e-2);
  std::vector<In> ev;
  TimestampMs ts = 0;
  for (int i = 0; i < 5000; ++i) {
    ts += 100 + static_cast<TimestampMs>(rng() % 200);
    double x = (i % 97 == 0) ? (i % 2 ? 1e15 : -3e14) : small(rng);
    ev.push_back({.ts = ts, .x = x});
  }
  auto rows = RunEntity(View(*p), ev);
  size_t checked = 0;
  for (const auto& r : rows) {
    long double sum = 0;
    long double abs_sum = 0;
    int n = 0;
    bool spike = false;
    auto lo = std::upper_bound(ev.begin(), ev.end(), r.ts - 10000,
                               [](TimestampMs v, const In& e) { return v < e.ts; });
    auto hi =
        std::upper_bound(ev.begin(), ev.end(), r.ts, [](TimestampMs v, const In& e) { return v < e.ts; });
    for (auto e = lo; e != hi; ++e) {
      sum += *e->x;
      abs_sum += std::fabs(*e->x);
      ++n;
      spike |= std::fabs(*e->x) > 1;
    }
    if (spike || n == 0) continue;
    ++checked;
    ASSERT_NEAR(r.values[0].dbl(), static_cast<double>(sum), 1e-12 * static_cast<double>(abs_sum)) << r.ts;
    ASSERT_NEAR(r.values[1].dbl(), static_cast<double>(sum / n), 1e-12 * static_cast<double>(abs_sum / n))
        << r.ts;
  }
  EXPECT_GT(checked, 1000u);
}

// 1e6 equal large values sliding through a window of 1000: stddev exactly 0.0, never
// NaN or -0; avg exactly the value.
TEST(MagnitudeTest, MillionEqualLargeValuesHaveZeroStddev) {
  auto p = LoadView(
      "      sd: {agg: stddev, field: x, window: 1s}\n"
      "      ax: {agg: avg, field: x, window: 1s}\n"
      "      sd2: {agg: stddev, field: x}\n");
  ASSERT_NE(p, nullptr);
  auto sd = MakeFeatureState(View(*p).features[0]);
  auto ax = MakeFeatureState(View(*p).features[1]);
  auto life = MakeFeatureState(View(*p).features[2]);
  const Value v = D(1e12);
  for (TimestampMs t = 0; t < 1'000'000 / kScale; ++t) {
    sd->EvictUpTo(t);
    ax->EvictUpTo(t);
    sd->Push(t, v);
    ax->Push(t, v);
    life->Push(t, v);
    Value s = sd->Current();
    if (s.type() != Type::kDouble || s.dbl() != 0.0 || std::signbit(s.dbl())) {
      FAIL() << "stddev at " << t << " is " << s.DebugString();
    }
    if (ax->Current() != v) FAIL() << "avg at " << t << " is " << ax->Current().DebugString();
  }
  EXPECT_EQ(life->Current(), D(0.0));
  EXPECT_FALSE(std::signbit(life->Current().dbl()));
}

TEST(MagnitudeTest, EqualValuesThroughEngineEmitOneRow) {
  auto p = LoadView("      sd: {agg: stddev, field: x, window: 1s}\n");
  ASSERT_NE(p, nullptr);
  std::vector<In> ev;
  const TimestampMs n = 100'000 / kScale;
  for (TimestampMs t = 0; t < n; ++t) ev.push_back({.ts = t, .x = 0.1});
  auto rows = RunEntity(View(*p), ev);
  // 0.0 from the first event on; null when the last leaves at (n - 1) + 1000.
  ASSERT_EQ(rows.size(), 2u) << ::testing::PrintToString(
      std::vector<ChangelogRow>(rows.begin(), rows.begin() + std::min<size_t>(rows.size(), 5)));
  EXPECT_EQ(rows[0].ts, 0);
  EXPECT_EQ(rows[0].values, Row{D(0.0)});
  EXPECT_EQ(rows[1].ts, n - 1 + 1000);
  EXPECT_EQ(rows[1].values, Row{N()});
}

// ---------------------------------------------------------------------------------------
// Random sliding sequences against brute force.

enum class K {
  kCount,
  kCountX,
  kSumX,
  kSumN,
  kAvgX,
  kAvgN,
  kMinX,
  kMaxX,
  kMinN,
  kMaxN,
  kMinS,
  kMaxS,
  kStddevX,
  kDistinctS,
  kDistinctN,
  kLastX,
  kFirstX,
  kLastS,
  kCountWhere,  // count where x > 0
  kSumWhere,    // sum x where s == 'a' or s == 'b'
};

const char* Spec(K k) {
  switch (k) {
    case K::kCount:
      return "agg: count";
    case K::kCountX:
      return "agg: count, field: x";
    case K::kSumX:
      return "agg: sum, field: x";
    case K::kSumN:
      return "agg: sum, field: n";
    case K::kAvgX:
      return "agg: avg, field: x";
    case K::kAvgN:
      return "agg: avg, field: n";
    case K::kMinX:
      return "agg: min, field: x";
    case K::kMaxX:
      return "agg: max, field: x";
    case K::kMinN:
      return "agg: min, field: n";
    case K::kMaxN:
      return "agg: max, field: n";
    case K::kMinS:
      return "agg: min, field: s";
    case K::kMaxS:
      return "agg: max, field: s";
    case K::kStddevX:
      return "agg: stddev, field: x";
    case K::kDistinctS:
      return "agg: count_distinct, field: s";
    case K::kDistinctN:
      return "agg: count_distinct, field: n";
    case K::kLastX:
      return "agg: last, field: x";
    case K::kFirstX:
      return "agg: first, field: x";
    case K::kLastS:
      return "agg: last, field: s";
    case K::kCountWhere:
      return "agg: count, where: \"x > 0\"";
    case K::kSumWhere:
      return "agg: sum, field: x, where: \"s == 'a' or s == 'b'\"";
  }
  return "";
}

constexpr K kAllKinds[] = {K::kCount, K::kCountX, K::kSumX,    K::kSumN,       K::kAvgX,
                           K::kAvgN,  K::kMinX,   K::kMaxX,    K::kMinN,       K::kMaxN,
                           K::kMinS,  K::kMaxS,   K::kStddevX, K::kDistinctS,  K::kDistinctN,
                           K::kLastX, K::kFirstX, K::kLastS,   K::kCountWhere, K::kSumWhere};

struct Feat {
  K kind;
  DurationMs window;
};

// The brute-force value of one feature as of t, and the tolerance its engine value is
// held to (0: exact).
struct Brute {
  Value value;
  double tol = 0;
  Value sig;  // for toleranced values: what identifies the exact value (else the value)
};

// Everything the features need about the events of one window, in one pass (plus a
// second for the variance), from events sorted by (ts, log order).
struct WindowStats {
  int64_t count = 0, count_x = 0, count_n = 0, isum = 0, count_where = 0;
  long double sum = 0, abs_sum = 0, where_sum = 0, where_abs = 0, m2 = 0;
  double max_abs = 0;
  std::optional<double> min_x, max_x, last_x, first_x;
  std::optional<int64_t> min_n, max_n;
  std::optional<std::string> min_s, max_s, last_s;
  std::set<std::string> distinct_s;
  std::set<int64_t> distinct_n;
  // Which events contribute to the float aggregates of x (all x, and x where s in a/b):
  // equal signatures mean equal contents, hence equal exact values.
  uint64_t x_sig = 0, where_sig = 0;
};

uint64_t Mix(uint64_t v) {  // splitmix64 finalizer
  v += 0x9e3779b97f4a7c15ULL;
  v = (v ^ (v >> 30)) * 0xbf58476d1ce4e5b9ULL;
  v = (v ^ (v >> 27)) * 0x94d049bb133111ebULL;
  return v ^ (v >> 31);
}

// Events with t - w < ts <= t.
WindowStats ComputeStats(const std::vector<In>& ev, TimestampMs t, DurationMs w) {
  auto lo =
      std::upper_bound(ev.begin(), ev.end(), t - w, [](TimestampMs v, const In& e) { return v < e.ts; });
  auto hi = std::upper_bound(ev.begin(), ev.end(), t, [](TimestampMs v, const In& e) { return v < e.ts; });
  WindowStats st;
  for (auto it = lo; it != hi; ++it) {
    ++st.count;
    if (it->x) {
      double x = *it->x;
      ++st.count_x;
      st.x_sig += Mix(static_cast<uint64_t>(it - ev.begin()));
      st.sum += x;
      st.abs_sum += std::fabs(x);
      st.max_abs = std::max(st.max_abs, std::fabs(x));
      st.min_x = st.min_x ? std::min(*st.min_x, x) : x;
      st.max_x = st.max_x ? std::max(*st.max_x, x) : x;
      st.last_x = x;
      if (!st.first_x) st.first_x = x;
      if (x > 0) ++st.count_where;
      if (it->s && (*it->s == "a" || *it->s == "b")) {
        st.where_sum += x;
        st.where_abs += std::fabs(x);
        st.where_sig += Mix(static_cast<uint64_t>(it - ev.begin()));
      }
    }
    if (it->n) {
      ++st.count_n;
      st.isum += *it->n;
      st.min_n = st.min_n ? std::min(*st.min_n, *it->n) : *it->n;
      st.max_n = st.max_n ? std::max(*st.max_n, *it->n) : *it->n;
      st.distinct_n.insert(*it->n);
    }
    if (it->s) {
      st.min_s = st.min_s ? std::min(*st.min_s, *it->s) : *it->s;
      st.max_s = st.max_s ? std::max(*st.max_s, *it->s) : *it->s;
      st.last_s = *it->s;
      st.distinct_s.insert(*it->s);
    }
  }
  if (st.count_x > 0) {
    long double mean = st.sum / st.count_x;
    for (auto it = lo; it != hi; ++it) {
      if (it->x) st.m2 += (*it->x - mean) * (*it->x - mean);
    }
  }
  return st;
}

Brute BruteValue(K kind, const WindowStats& st);

Brute BruteWithSig(K kind, const WindowStats& st) {
  Brute b = BruteValue(kind, st);
  b.sig = b.value;
  if (kind == K::kSumX || kind == K::kAvgX || kind == K::kStddevX) {
    b.sig = I(static_cast<int64_t>(st.x_sig));
  } else if (kind == K::kSumWhere) {
    b.sig = I(static_cast<int64_t>(st.where_sig));
  }
  return b;
}

Brute BruteValue(K kind, const WindowStats& st) {
  auto opt = [](const auto& o, auto make) { return o ? make(*o) : Value::Null(); };
  switch (kind) {
    case K::kCount:
      return {I(st.count)};
    case K::kCountX:
      return {I(st.count_x)};
    case K::kSumX:
      return {D(static_cast<double>(st.sum)), 1e-12 * static_cast<double>(st.abs_sum)};
    case K::kSumN:
      return {I(st.isum)};
    case K::kAvgX:
      if (st.count_x == 0) return {N()};
      return {D(static_cast<double>(st.sum / st.count_x)),
              1e-12 * static_cast<double>(st.abs_sum / st.count_x)};
    case K::kAvgN:
      if (st.count_n == 0) return {N()};
      // The exact integer total, then one correctly rounded division.
      return {D(static_cast<double>(st.isum) / static_cast<double>(st.count_n))};
    case K::kMinX:
      return {opt(st.min_x, D)};
    case K::kMaxX:
      return {opt(st.max_x, D)};
    case K::kMinN:
      return {opt(st.min_n, I)};
    case K::kMaxN:
      return {opt(st.max_n, I)};
    case K::kMinS:
      return {opt(st.min_s, S)};
    case K::kMaxS:
      return {opt(st.max_s, S)};
    case K::kStddevX:
      if (st.count_x == 0) return {N()};
      return {D(static_cast<double>(std::sqrt(st.m2 / st.count_x))), 1e-10 * st.max_abs};
    case K::kDistinctS:
      return {I(static_cast<int64_t>(st.distinct_s.size()))};
    case K::kDistinctN:
      return {I(static_cast<int64_t>(st.distinct_n.size()))};
    case K::kLastX:
      return {opt(st.last_x, D)};
    case K::kFirstX:
      return {opt(st.first_x, D)};
    case K::kLastS:
      return {opt(st.last_s, S)};
    case K::kCountWhere:
      return {I(st.count_where)};
    case K::kSumWhere:
      return {D(static_cast<double>(st.where_sum)), 1e-12 * static_cast<double>(st.where_abs)};
  }
  return {N()};
}

std::string FeaturesYaml(const std::vector<Feat>& feats) {
  std::string out;
  for (size_t i = 0; i < feats.size(); ++i) {
    out += "      f" + std::to_string(i) + ": {" + Spec(feats[i].kind) +
           ", window: " + FormatDuration(feats[i].window) + "}\n";
  }
  return out;
}

// Events on a grid of window/50 (so enters and leaves often coincide), ~25% ties, ~20%
// jittered by 1 ms (so events sit at t - w, t - w + 1 ...), 5% nulls per field, a few
// +-1e15 spikes among values of 1e-3 .. 1e3 of both signs.
std::vector<In> RandomEvents(std::mt19937_64& rng, DurationMs window, int count, TimestampMs start) {
  const DurationMs unit = std::max<DurationMs>(1, window / 50);
  std::uniform_real_distribution<double> exponent(-3, 3);
  // Keys of up to 24 bytes sit in count_distinct's slot, longer ones on the heap.
  static const char* kStrings[] = {
      "a",  "b", "c", "d", "e", "f", "g", "h", "exactly-24-bytes-in-slot", "twenty-five-bytes-on-heap",
      "aa", "B"};
  std::vector<In> ev;
  TimestampMs ts = start;
  for (int i = 0; i < count; ++i) {
    int units = static_cast<int>(rng() % 4);
    TimestampMs gap = units * unit;
    if (gap > 0 && rng() % 5 == 0) gap += (rng() % 2) ? 1 : -1;
    ts += gap;
    In e;
    e.ts = ts;
    if (rng() % 20 != 0) {
      double mag = (rng() % 300 == 0) ? 1e15 : std::pow(10.0, exponent(rng));
      e.x = (rng() % 2 ? 1 : -1) * mag;
    }
    if (rng() % 20 != 0) e.n = static_cast<int64_t>(rng() % 2'000'001) - 1'000'000;
    if (rng() % 20 != 0) e.s = kStrings[rng() % 12];
    ev.push_back(std::move(e));
  }
  return ev;
}

// Runs the engine over `ev` and checks its changelog against brute force at every
// instant where anything enters or leaves:
//   - rows only at those instants, never two equal tuples in a row;
//   - a row only where the exact (brute-force) tuple changed;
//   - as of every instant, the engine's tuple equals the brute-force one (exactly for
//     counts, integers, strings, min/max/last/first; sums and averages within 1e-12 of
//     the sum of magnitudes, stddev within 1e-10 of the largest magnitude).
// (Where only a float sum moved by less than its rounding, e.g. a 1e-3 leaving beside a
// 1e15, a row may or may not appear; the as-of check still holds it to the tolerance.)
void CheckAgainstBruteForce(const std::vector<Feat>& feats, const std::vector<In>& ev) {
  auto p = LoadView(FeaturesYaml(feats));
  ASSERT_NE(p, nullptr);
  auto rows = RunEntity(View(*p), ev);
  const Row empty = ViewPlan(View(*p)).empty_tuple();

  std::vector<TimestampMs> instants;
  std::vector<DurationMs> windows;
  for (const auto& f : feats) windows.push_back(f.window);
  std::sort(windows.begin(), windows.end());
  windows.erase(std::unique(windows.begin(), windows.end()), windows.end());
  for (const auto& e : ev) {
    instants.push_back(e.ts);
    for (DurationMs w : windows) instants.push_back(e.ts + w);
  }
  std::sort(instants.begin(), instants.end());
  instants.erase(std::unique(instants.begin(), instants.end()), instants.end());

  for (size_t i = 0; i < rows.size(); ++i) {
    ASSERT_NE(rows[i].values, i == 0 ? empty : rows[i - 1].values) << "row " << i << " repeats a tuple";
  }

  Row prev;  // signatures of the previous instant's exact tuple
  for (const auto& f : feats) prev.push_back(BruteWithSig(f.kind, WindowStats{}).sig);
  Row engine = empty;
  size_t r = 0;
  for (TimestampMs t : instants) {
    Row tuple;
    Row sig;
    std::vector<double> tol;
    std::map<DurationMs, WindowStats> stats;
    for (DurationMs w : windows) stats.emplace(w, ComputeStats(ev, t, w));
    for (const auto& f : feats) {
      Brute b = BruteWithSig(f.kind, stats.at(f.window));
      tuple.push_back(b.value);
      sig.push_back(b.sig);
      tol.push_back(b.tol);
    }
    ASSERT_FALSE(r < rows.size() && rows[r].ts < t)
        << "row at " << rows[r].ts << ", where nothing enters or leaves";
    if (r < rows.size() && rows[r].ts == t) {
      ASSERT_NE(sig, prev) << "row at " << t << " but the exact tuple did not change";
      engine = rows[r++].values;
    }
    prev = sig;
    ASSERT_EQ(engine.size(), tuple.size());
    for (size_t i = 0; i < tuple.size(); ++i) {
      const Value& got = engine[i];
      const Value& want = tuple[i];
      if (tol[i] > 0 && want.type() == Type::kDouble && got.type() == Type::kDouble) {
        ASSERT_FALSE(std::isnan(got.dbl()));
        ASSERT_NEAR(got.dbl(), want.dbl(), tol[i]) << "feature f" << i << " (" << Spec(feats[i].kind)
                                                   << ", window " << feats[i].window << ") as of " << t;
      } else {
        ASSERT_EQ(got, want) << "feature f" << i << " (" << Spec(feats[i].kind) << ", window "
                             << feats[i].window << ") as of " << t;
      }
    }
  }
  EXPECT_EQ(r, rows.size()) << "rows after the last instant";
  EXPECT_GT(rows.size(), ev.size() / 4);
}

class RandomSlidingTest : public ::testing::TestWithParam<DurationMs> {};

TEST_P(RandomSlidingTest, EveryRowMatchesBruteForce) {
  const DurationMs w = GetParam();
  std::mt19937_64 rng(static_cast<uint64_t>(w) * 2654435761u + 1);
  std::vector<Feat> feats;
  for (K k : kAllKinds) feats.push_back({k, w});
  // 6 window sizes x 16667 events: 100k events in all.
  auto ev = RandomEvents(rng, w, 16667 / kScale, 1'700'000'000'000);
  CheckAgainstBruteForce(feats, ev);
}

INSTANTIATE_TEST_SUITE_P(Windows, RandomSlidingTest,
                         ::testing::Values(1000, 60'000, 3'600'000, 86'400'000, 7 * 86'400'000LL,
                                           90 * 86'400'000LL),
                         [](const ::testing::TestParamInfo<DurationMs>& info) {
                           return "w" + FormatDuration(info.param);
                         });

// Several windows in one view: leaves happen at different instants per feature.
TEST(RandomSlidingMixedTest, MixedWindowsMatchBruteForce) {
  std::mt19937_64 rng(99);
  std::vector<Feat> feats = {{K::kCount, 10'000},     {K::kSumX, 60'000},       {K::kMaxX, 10'000},
                             {K::kDistinctS, 30'000}, {K::kLastX, 60'000},      {K::kFirstX, 30'000},
                             {K::kStddevX, 10'000},   {K::kCountWhere, 60'000}, {K::kAvgN, 30'000},
                             {K::kSumWhere, 10'000},  {K::kMinS, 60'000}};
  auto ev = RandomEvents(rng, 30'000, 8000 / kScale, 0);
  CheckAgainstBruteForce(feats, ev);
}

// Ring keeps its first elements inline and moves to the heap past them: random pushes
// and pops at both ends, across that boundary, through wrap-arounds and clears, must
// behave exactly as std::deque. std::string elements (longer than the SSO) let the
// sanitizer build catch a leaked, doubly freed or stale element.
template <typename T>
void CheckRingAgainstDeque(const std::function<T(uint64_t)>& make) {
  std::mt19937_64 rng(11);
  compute_internal::Ring<T> ring;
  std::deque<T> want;
  for (int step = 0; step < 20000; ++step) {
    const uint64_t r = rng() % 100;
    if (r < 2) {
      ring.clear();
      want.clear();
    } else if (r < 50 || want.empty()) {
      T v = make(rng());
      ring.push_back(v);
      want.push_back(v);
    } else if (r < 85) {
      ring.pop_front();
      want.pop_front();
    } else {
      ring.pop_back();
      want.pop_back();
    }
    ASSERT_EQ(ring.size(), want.size()) << "step " << step;
    ASSERT_EQ(ring.empty(), want.empty());
    if (!want.empty()) {
      ASSERT_EQ(ring.front(), want.front()) << "step " << step;
      ASSERT_EQ(ring.back(), want.back()) << "step " << step;
      const size_t i = rng() % want.size();
      ASSERT_EQ(ring[i], want[i]) << "step " << step << " index " << i;
    }
  }
}

TEST(RingTest, BehavesAsADequeAcrossInlineAndHeapStorage) {
  CheckRingAgainstDeque<TimestampMs>([](uint64_t r) { return static_cast<TimestampMs>(r); });
  CheckRingAgainstDeque<std::string>(
      [](uint64_t r) { return "a value longer than the small-string buffer " + std::to_string(r); });
}

}  // namespace window_agg_test
}  // namespace vigil
