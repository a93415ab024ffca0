// Watermark and ViewEngine against DESIGN.md §4: the late decision, emission of final
// rows only (ts < W) in ts order per entity, out-of-order events within the lateness,
// stream versus batch, brute force over many entities, and bounded memory.
#include "compute/view_engine.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <random>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "compute/changelog.h"
#include "compute/compute_test_util.h"
#include "spec/definitions.h"

// g++ 12 warns on designated initializers that leave members to their defaults.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace vigil {

namespace view_engine_test {

using test::D;
using test::I;
using test::kScale;
using test::N;
using test::ToEvent;
using test::View;
using In = test::EvInput;

// test::LoadView with a second entity, us keyed by (k, st), for composite keys.
std::unique_ptr<Project> LoadView(const std::string& features, const std::string& ttl = "",
                                  const std::string& entity = "u") {
  return test::LoadView(features, ttl, entity, "  us: {keys: [k, st]}\n");
}

using RowsByEntity = std::map<std::string, std::vector<ChangelogRow>>;

// Stream compute as the stream worker does it: Observe, Add (seq = arrival index),
// AdvanceTo(W) after each event. Checks every emitted row is below the bound of its call
// and in ts order per entity. Returns the rows and the late count.
struct StreamResult {
  RowsByEntity rows;
  int late = 0;
  TimestampMs watermark = kMinTimestamp;
  TimestampMs max_ts = kMinTimestamp;
};

void Collect(RowsByEntity* rows, TimestampMs bound, ChangelogRow&& r) {
  EXPECT_LT(r.ts, bound);
  auto& v = (*rows)[r.entity];
  if (!v.empty()) {
    EXPECT_GT(r.ts, v.back().ts) << "entity " << r.entity << " out of ts order";
  }
  v.push_back(std::move(r));
}

StreamResult Stream(ViewEngine* eng, const std::vector<In>& arrivals, DurationMs lateness) {
  StreamResult out;
  Watermark wm(lateness);
  for (size_t i = 0; i < arrivals.size(); ++i) {
    if (!wm.Observe(arrivals[i].ts)) {
      ++out.late;
      continue;
    }
    eng->Add(ToEvent(arrivals[i]), i);
    TimestampMs bound = wm.current();
    eng->AdvanceTo(bound, [&](ChangelogRow&& r) { Collect(&out.rows, bound, std::move(r)); });
  }
  out.watermark = wm.current();
  out.max_ts = wm.max_ts();
  return out;
}

// Batch: every event added first, then one AdvanceTo.
RowsByEntity Batch(const FeatureViewDef& view, const std::vector<In>& events,
                   const std::vector<uint64_t>& seqs, TimestampMs bound) {
  ViewEngine eng(view);
  for (size_t i = 0; i < events.size(); ++i) eng.Add(ToEvent(events[i]), seqs[i]);
  RowsByEntity rows;
  eng.AdvanceTo(bound, [&](ChangelogRow&& r) { Collect(&rows, bound, std::move(r)); });
  return rows;
}

RowsByEntity Below(const RowsByEntity& rows, TimestampMs bound) {
  RowsByEntity out;
  for (const auto& [k, v] : rows) {
    for (const auto& r : v) {
      if (r.ts < bound) out[k].push_back(r);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Watermark

TEST(WatermarkTest, LateDecision) {
  const TimestampMs t10 = 36'000'000;  // 10:00:00
  Watermark wm(2000);
  EXPECT_EQ(wm.current(), kMinTimestamp);
  EXPECT_EQ(wm.max_ts(), kMinTimestamp);
  EXPECT_TRUE(wm.Observe(t10 + 5000));  // the header's example: 10:00:05
  EXPECT_EQ(wm.current(), t10 + 3000);
  EXPECT_FALSE(wm.Observe(t10 + 2000));  // 10:00:02 < W = 10:00:03: late
  EXPECT_FALSE(wm.Observe(t10 + 2999));  // one ms before W: late
  EXPECT_TRUE(wm.Observe(t10 + 3000));   // exactly W: not late (late is ts < W)
  EXPECT_EQ(wm.max_ts(), t10 + 5000);    // an older event does not lower anything
  EXPECT_EQ(wm.current(), t10 + 3000);
  EXPECT_TRUE(wm.Observe(t10 + 4000));
  EXPECT_EQ(wm.current(), t10 + 3000);
  EXPECT_TRUE(wm.Observe(t10 + 9000));
  EXPECT_EQ(wm.current(), t10 + 7000);
  EXPECT_FALSE(wm.Observe(t10 + 5000));  // accepted earlier, late now
  Watermark restored(2000);
  restored.Restore(t10 + 9000);
  EXPECT_EQ(restored.current(), t10 + 7000);
  EXPECT_FALSE(restored.Observe(t10 + 6999));
  EXPECT_TRUE(restored.Observe(t10 + 7000));
}

TEST(WatermarkTest, ZeroLateness) {
  Watermark wm(0);
  EXPECT_TRUE(wm.Observe(1000));
  EXPECT_EQ(wm.current(), 1000);
  EXPECT_TRUE(wm.Observe(1000));  // an equal ts is not late
  EXPECT_FALSE(wm.Observe(999));
}

// ---------------------------------------------------------------------------------------
// ViewEngine

constexpr char kCountSum[] =
    "      c: {agg: count, window: 10s}\n"
    "      sn: {agg: sum, field: n, window: 10s}\n";

TEST(ViewEngineTest, AdvanceEmitsOnlyRowsBeforeBound) {
  auto p = LoadView(kCountSum);
  ASSERT_NE(p, nullptr);
  ViewEngine eng(View(*p));
  eng.Add(ToEvent({.ts = 1000, .k = "a", .n = 1}), 0);
  eng.Add(ToEvent({.ts = 2000, .k = "b", .n = 2}), 1);
  eng.Add(ToEvent({.ts = 3000, .k = "a", .n = 4}), 2);
  EXPECT_EQ(eng.num_entities(), 2u);
  RowsByEntity rows;
  std::vector<ChangelogRow> order;
  auto advance = [&](TimestampMs b) {
    eng.AdvanceTo(b, [&](ChangelogRow&& r) {
      order.push_back(r);
      Collect(&rows, b, std::move(r));
    });
  };
  advance(1000);
  EXPECT_TRUE(order.empty());
  advance(1001);
  ASSERT_EQ(order.size(), 1u);
  EXPECT_EQ(order[0], (ChangelogRow{"a", 1000, {I(1), I(1)}}));
  advance(1001);  // again: nothing new
  EXPECT_EQ(order.size(), 1u);
  advance(11000);  // 2000 (b), 3000 (a); a's 1000 leaves at 11000: not yet
  EXPECT_EQ(order.size(), 3u);
  advance(12001);  // a's 11000 and b's 12000
  EXPECT_EQ(order.size(), 5u);
  advance(kMaxTimestamp);
  EXPECT_EQ(rows["a"], (std::vector<ChangelogRow>{{"a", 1000, {I(1), I(1)}},
                                                  {"a", 3000, {I(2), I(5)}},
                                                  {"a", 11000, {I(1), I(4)}},
                                                  {"a", 13000, {I(0), I(0)}}}));
  EXPECT_EQ(rows["b"], (std::vector<ChangelogRow>{{"b", 2000, {I(1), I(2)}}, {"b", 12000, {I(0), I(0)}}}));
  EXPECT_EQ(eng.num_entities(), 0u);
}

// Arrivals 5000, 4000, 6000, 4500 with lateness 2s are all accepted (W goes 3000, 3000,
// 4000, 4000) and give the same rows as 4000, 4500, 5000, 6000 in order.
TEST(ViewEngineTest, OutOfOrderWithinLatenessSameAsInOrder) {
  auto p = LoadView(
      "      c: {agg: count, window: 10s}\n"
      "      l: {agg: last, field: x, window: 10s}\n"
      "      f: {agg: first, field: x, window: 10s}\n");
  ASSERT_NE(p, nullptr);
  std::vector<In> shuffled = {
      {.ts = 5000, .x = 5.0}, {.ts = 4000, .x = 4.0}, {.ts = 6000, .x = 6.0}, {.ts = 4500, .x = 4.5}};
  std::vector<In> sorted = {
      {.ts = 4000, .x = 4.0}, {.ts = 4500, .x = 4.5}, {.ts = 5000, .x = 5.0}, {.ts = 6000, .x = 6.0}};
  ViewEngine e1(View(*p));
  auto s1 = Stream(&e1, shuffled, 2000);
  EXPECT_EQ(s1.late, 0);
  ViewEngine e2(View(*p));
  auto s2 = Stream(&e2, sorted, 2000);
  // Flush both past every instant.
  e1.AdvanceTo(kMaxTimestamp, [&](ChangelogRow&& r) { Collect(&s1.rows, kMaxTimestamp, std::move(r)); });
  e2.AdvanceTo(kMaxTimestamp, [&](ChangelogRow&& r) { Collect(&s2.rows, kMaxTimestamp, std::move(r)); });
  std::vector<ChangelogRow> want = {
      {"a", 4000, {I(1), D(4), D(4)}},  {"a", 4500, {I(2), D(4.5), D(4)}},  {"a", 5000, {I(3), D(5), D(4)}},
      {"a", 6000, {I(4), D(6), D(4)}},  {"a", 14000, {I(3), D(6), D(4.5)}}, {"a", 14500, {I(2), D(6), D(5)}},
      {"a", 15000, {I(1), D(6), D(6)}}, {"a", 16000, {I(0), N(), N()}},
  };
  EXPECT_EQ(s1.rows["a"], want);
  EXPECT_EQ(s2.rows["a"], want);
}

// A late event is not applied: the rows are those of the stream without it.
TEST(ViewEngineTest, LateEventIsNotApplied) {
  auto p = LoadView(kCountSum);
  ASSERT_NE(p, nullptr);
  std::vector<In> with_late = {{.ts = 10000, .n = 1}, {.ts = 7999, .n = 100}, {.ts = 8000, .n = 2}};
  std::vector<In> without = {{.ts = 10000, .n = 1}, {.ts = 8000, .n = 2}};
  ViewEngine e1(View(*p));
  auto s1 = Stream(&e1, with_late, 2000);
  EXPECT_EQ(s1.late, 1);
  ViewEngine e2(View(*p));
  auto s2 = Stream(&e2, without, 2000);
  e1.AdvanceTo(kMaxTimestamp, [&](ChangelogRow&& r) { Collect(&s1.rows, kMaxTimestamp, std::move(r)); });
  e2.AdvanceTo(kMaxTimestamp, [&](ChangelogRow&& r) { Collect(&s2.rows, kMaxTimestamp, std::move(r)); });
  EXPECT_EQ(s1.rows, s2.rows);
  EXPECT_EQ(s1.rows["a"], (std::vector<ChangelogRow>{{"a", 8000, {I(1), I(2)}},
                                                     {"a", 10000, {I(2), I(3)}},
                                                     {"a", 18000, {I(1), I(1)}},
                                                     {"a", 20000, {I(0), I(0)}}}));
}

// Equal ts: the later arrival (higher offset) is `last`, the earlier `first`, even when
// an out-of-order event lands between them.
TEST(ViewEngineTest, TiesFollowArrivalOrder) {
  auto p =
      LoadView("      l: {agg: last, field: x, window: 10s}\n      f: {agg: first, field: x, window: 10s}\n");
  ASSERT_NE(p, nullptr);
  ViewEngine eng(View(*p));
  auto s = Stream(&eng, {{.ts = 5000, .x = 1.0}, {.ts = 4000, .x = 0.5}, {.ts = 5000, .x = 2.0}}, 2000);
  eng.AdvanceTo(kMaxTimestamp, [&](ChangelogRow&& r) { Collect(&s.rows, kMaxTimestamp, std::move(r)); });
  EXPECT_EQ(s.rows["a"], (std::vector<ChangelogRow>{{"a", 4000, {D(0.5), D(0.5)}},
                                                    {"a", 5000, {D(2), D(0.5)}},
                                                    {"a", 14000, {D(2), D(1)}},
                                                    {"a", 15000, {N(), N()}}}));
}

TEST(ViewEngineTest, CompositeEntityKey) {
  auto p = LoadView("      c: {agg: count, window: 10s}\n", "", "us");
  ASSERT_NE(p, nullptr);
  ViewEngine eng(View(*p));
  eng.Add(ToEvent({.ts = 1000, .k = "a", .st = "ok"}), 0);
  eng.Add(ToEvent({.ts = 1000, .k = "a", .st = "failed"}), 1);
  eng.Add(ToEvent({.ts = 2000, .k = "a", .st = "ok"}), 2);
  EXPECT_EQ(eng.num_entities(), 2u);
  RowsByEntity rows;
  eng.AdvanceTo(kMaxTimestamp, [&](ChangelogRow&& r) { Collect(&rows, kMaxTimestamp, std::move(r)); });
  std::string ok = std::string("a") + kKeySeparator + "ok";
  std::string failed = std::string("a") + kKeySeparator + "failed";
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[ok].size(), 4u);      // 1000, 2000, 11000, 12000
  EXPECT_EQ(rows[failed].size(), 2u);  // 1000, 11000
  EXPECT_EQ(SplitEntityKey(ok), (std::vector<std::string>{"a", "ok"}));
}

// Memory: entities whose ttl passed are dropped; returning entities start afresh.
TEST(ViewEngineTest, EntitiesAreDroppedAfterTtl) {
  auto p = LoadView("      c: {agg: count, window: 10s}\n      tot: {agg: count}\n", "20s");
  ASSERT_NE(p, nullptr);
  ViewEngine eng(View(*p));
  RowsByEntity rows;
  auto advance = [&](TimestampMs b) {
    eng.AdvanceTo(b, [&](ChangelogRow&& r) { Collect(&rows, b, std::move(r)); });
  };
  for (int e = 0; e < 1000; ++e) {
    for (int j = 0; j < 3; ++j)
      eng.Add(ToEvent({.ts = 1000 + j * 1000 + e, .k = "e" + std::to_string(e)}), e * 3 + j);
  }
  EXPECT_EQ(eng.num_entities(), 1000u);
  advance(10000);
  EXPECT_EQ(eng.num_entities(), 1000u);
  // Entity e's last event is at 3000 + e: it is dropped at 23000 + e.
  advance(23000 + 500);
  EXPECT_EQ(eng.num_entities(), 500u);
  advance(23000 + 1000);
  EXPECT_EQ(eng.num_entities(), 0u);
  // e7 comes back: a fresh lifetime (tot 1, not 4).
  eng.Add(ToEvent({.ts = 50000, .k = "e7"}), 5000);
  eng.Add(ToEvent({.ts = 50000, .k = "new"}), 5001);
  EXPECT_EQ(eng.num_entities(), 2u);
  advance(kMaxTimestamp);
  EXPECT_EQ(eng.num_entities(), 0u);
  EXPECT_EQ(rows["e7"], (std::vector<ChangelogRow>{{"e7", 1007, {I(1), I(1)}},
                                                   {"e7", 2007, {I(2), I(2)}},
                                                   {"e7", 3007, {I(3), I(3)}},
                                                   {"e7", 11007, {I(2), I(3)}},
                                                   {"e7", 12007, {I(1), I(3)}},
                                                   {"e7", 13007, {I(0), I(3)}},
                                                   {"e7", 23007, {I(0), I(0)}},
                                                   {"e7", 50000, {I(1), I(1)}},
                                                   {"e7", 60000, {I(0), I(1)}},
                                                   {"e7", 70000, {I(0), I(0)}}}));
  EXPECT_EQ(rows.size(), 1001u);
}

TEST(ViewEngineTest, DefaultTtlDropsEntitiesAfterLongestWindow) {
  auto p = LoadView(kCountSum);
  ASSERT_NE(p, nullptr);
  ViewEngine eng(View(*p));
  for (int e = 0; e < 100; ++e) eng.Add(ToEvent({.ts = 1000, .k = std::to_string(e), .n = e}), e);
  eng.AdvanceTo(11000, [](ChangelogRow&&) {});
  EXPECT_EQ(eng.num_entities(), 100u);
  eng.AdvanceTo(11001, [](ChangelogRow&&) {});
  EXPECT_EQ(eng.num_entities(), 0u);
}

TEST(ViewEngineTest, LifetimeWithoutTtlKeepsEntities) {
  auto p = LoadView("      tot: {agg: count}\n");
  ASSERT_NE(p, nullptr);
  ViewEngine eng(View(*p));
  for (int e = 0; e < 10; ++e) eng.Add(ToEvent({.ts = 1000, .k = std::to_string(e)}), e);
  eng.AdvanceTo(kMaxTimestamp, [](ChangelogRow&&) {});
  EXPECT_EQ(eng.num_entities(), 10u);
}

// ---------------------------------------------------------------------------------------
// Random multi-entity stream: stream == batch == brute force.

// Features (windows 1s and 5s, ttl 10s) and their brute-force values; all exact.
constexpr char kRandomFeatures[] =
    "      c1: {agg: count, window: 1s}\n"
    "      sn: {agg: sum, field: n, window: 5s}\n"
    "      lx: {agg: last, field: x, window: 5s}\n"
    "      fx: {agg: first, field: x, window: 1s}\n"
    "      mx: {agg: max, field: x, window: 5s}\n"
    "      cd: {agg: count_distinct, field: s, window: 5s}\n"
    "      cw: {agg: count, window: 5s, where: \"x > 0\"}\n"
    "      tot: {agg: count}\n";
constexpr DurationMs kTtl = 10'000;

struct Accepted {
  In ev;
  uint64_t seq;
};

Row BruteTuple(const std::vector<Accepted>& ev, TimestampMs t) {
  // ev: one entity, sorted by (ts, seq). Lifetime: events since the last expiry, i.e.
  // since the latest event that followed a gap >= ttl.
  int64_t c1 = 0, sn = 0, cd = 0, cw = 0, tot = 0;
  std::optional<double> lx, fx, mx;
  std::set<std::string> distinct;
  TimestampMs last = kMinTimestamp;
  size_t seg = 0;
  for (size_t i = 0; i < ev.size() && ev[i].ev.ts <= t; ++i) {
    if (i > 0 && ev[i].ev.ts - ev[i - 1].ev.ts >= kTtl) seg = i;
    last = ev[i].ev.ts;
  }
  if (last == kMinTimestamp || last + kTtl <= t) return {I(0), I(0), N(), N(), N(), I(0), I(0), I(0)};
  for (size_t i = seg; i < ev.size() && ev[i].ev.ts <= t; ++i) {
    const In& e = ev[i].ev;
    ++tot;
    if (e.ts > t - 1000) {
      ++c1;
      if (e.x && !fx) fx = *e.x;
    }
    if (e.ts > t - 5000) {
      if (e.n) sn += *e.n;
      if (e.x) {
        lx = *e.x;
        mx = mx ? std::max(*mx, *e.x) : *e.x;
        if (*e.x > 0) ++cw;
      }
      if (e.s) distinct.insert(*e.s);
    }
  }
  cd = static_cast<int64_t>(distinct.size());
  auto opt = [](const std::optional<double>& o) { return o ? D(*o) : N(); };
  return {I(c1), I(sn), opt(lx), opt(fx), opt(mx), I(cd), I(cw), I(tot)};
}

RowsByEntity BruteRows(const std::vector<Accepted>& accepted, TimestampMs bound) {
  std::map<std::string, std::vector<Accepted>> by;
  for (const auto& a : accepted) by[a.ev.k].push_back(a);
  RowsByEntity out;
  const Row empty = {I(0), I(0), N(), N(), N(), I(0), I(0), I(0)};
  for (auto& [k, ev] : by) {
    std::stable_sort(ev.begin(), ev.end(), [](const Accepted& a, const Accepted& b) {
      return a.ev.ts != b.ev.ts ? a.ev.ts < b.ev.ts : a.seq < b.seq;
    });
    std::vector<TimestampMs> instants;
    for (const auto& a : ev) {
      for (DurationMs d : {DurationMs{0}, DurationMs{1000}, DurationMs{5000}, kTtl})
        instants.push_back(a.ev.ts + d);
    }
    std::sort(instants.begin(), instants.end());
    instants.erase(std::unique(instants.begin(), instants.end()), instants.end());
    Row prev = empty;
    for (TimestampMs t : instants) {
      if (t >= bound) break;
      Row tuple = BruteTuple(ev, t);
      if (tuple != prev) out[k].push_back(ChangelogRow{k, t, tuple});
      prev = tuple;
    }
  }
  return out;
}

TEST(ViewEngineRandomTest, StreamEqualsBatchEqualsBruteForce) {
  auto p = LoadView(kRandomFeatures, "10s");
  ASSERT_NE(p, nullptr);
  std::mt19937_64 rng(2024);
  std::vector<In> arrivals;
  TimestampMs clock = 1'700'000'000'000;
  for (int i = 0; i < 20000 / kScale; ++i) {
    clock += static_cast<TimestampMs>(rng() % 200);
    In e;
    // 30% arrive behind the clock by up to 2.5s: most within the 2s lateness, some late.
    e.ts = (rng() % 10 < 3) ? clock - static_cast<TimestampMs>(rng() % 2500) : clock;
    e.k = "u" + std::to_string(rng() % 40);
    if (rng() % 10 != 0) e.x = static_cast<double>(static_cast<int64_t>(rng() % 2001) - 1000) / 8;
    if (rng() % 10 != 0) e.n = static_cast<int64_t>(rng() % 100);
    if (rng() % 10 != 0) e.s = std::string(1, static_cast<char>('a' + rng() % 6));
    arrivals.push_back(e);
  }
  // The late decision, independently: late iff ts < (highest ts so far) - 2s.
  std::vector<Accepted> accepted;
  int late = 0;
  TimestampMs max_seen = kMinTimestamp;
  for (size_t i = 0; i < arrivals.size(); ++i) {
    if (max_seen != kMinTimestamp && arrivals[i].ts < max_seen - 2000) {
      ++late;
      continue;
    }
    max_seen = std::max(max_seen, arrivals[i].ts);
    accepted.push_back({arrivals[i], i});
  }
  ASSERT_GT(late, 100 / kScale);
  ASSERT_GT(accepted.size(), 15000u / kScale);

  ViewEngine eng(View(*p));
  auto stream = Stream(&eng, arrivals, 2000);
  EXPECT_EQ(stream.late, late);
  EXPECT_EQ(stream.max_ts, max_seen);
  EXPECT_EQ(stream.watermark, max_seen - 2000);
  // The source goes idle: W may advance to its highest ts + 1 ms.
  const TimestampMs final_bound = max_seen + 1;
  eng.AdvanceTo(final_bound, [&](ChangelogRow&& r) { Collect(&stream.rows, final_bound, std::move(r)); });

  std::vector<In> events;
  std::vector<uint64_t> seqs;
  for (const auto& a : accepted) {
    events.push_back(a.ev);
    seqs.push_back(a.seq);
  }
  RowsByEntity batch = Batch(View(*p), events, seqs, kMaxTimestamp - 1);
  RowsByEntity brute = BruteRows(accepted, final_bound);
  ASSERT_EQ(stream.rows.size(), brute.size());
  for (const auto& [k, want] : brute) {
    SCOPED_TRACE("entity " + k);
    ASSERT_EQ(stream.rows[k], want);
  }
  EXPECT_EQ(Below(batch, final_bound), stream.rows);

  // Past every ttl: the stream's remaining rows complete the batch's, and no entity is left.
  eng.AdvanceTo(kMaxTimestamp, [&](ChangelogRow&& r) { Collect(&stream.rows, kMaxTimestamp, std::move(r)); });
  EXPECT_EQ(stream.rows, batch);
  EXPECT_EQ(stream.rows, BruteRows(accepted, kMaxTimestamp));
  EXPECT_EQ(eng.num_entities(), 0u);
}

// AddBatch is Add, event by event: the same rows whatever the batches, with single and
// composite keys, entities created within a batch (the index grows under the hints),
// dropped by ttl and created again (their slots reused), long keys kept outside the
// window, and many events of one entity in a row.
TEST(ViewEngineRandomTest, AddBatchEqualsAddOneByOne) {
  for (const std::string entity : {"u", "us"}) {
    SCOPED_TRACE("entity " + entity);
    auto p = LoadView(kRandomFeatures, "10s", entity);
    ASSERT_NE(p, nullptr);
    std::mt19937_64 rng(7);
    std::vector<Event> events;
    std::vector<uint64_t> seqs;
    TimestampMs clock = 1'700'000'000'000;
    for (int i = 0; i < 30000 / kScale; ++i) {
      clock += static_cast<TimestampMs>(rng() % 40);
      In e;
      e.ts = clock;
      // Entities come and go: a few thousand over the run, each idle past the ttl at times.
      const uint64_t who = (static_cast<uint64_t>(clock) / 2000 * 37 + rng() % 300) % 5000;
      e.k = (who % 3 == 0 ? "long-entity-key-outside-the-window-" : "u") + std::to_string(who);
      if (rng() % 8 == 0) e.k = "hot";  // one entity with many events per batch
      e.st = rng() % 2 ? "ok" : "failed";
      if (rng() % 10 != 0) e.x = static_cast<double>(static_cast<int64_t>(rng() % 2001) - 1000) / 8;
      if (rng() % 10 != 0) e.n = static_cast<int64_t>(rng() % 100);
      if (rng() % 10 != 0) e.s = std::string(1, static_cast<char>('a' + rng() % 6));
      events.push_back(ToEvent(e));
      seqs.push_back(static_cast<uint64_t>(i) * 3 + 1);
    }
    ViewEngine one(View(*p)), batched(View(*p));
    RowsByEntity want, got;
    size_t batches = 0;
    for (size_t begin = 0; begin < events.size(); ++batches) {
      const size_t len = std::min<size_t>(events.size() - begin, 1 + rng() % (batches % 2 ? 700 : 40));
      for (size_t i = begin; i < begin + len; ++i) one.Add(events[i], seqs[i]);
      batched.AddBatch(std::span<const Event>(events).subspan(begin, len),
                       std::span<const uint64_t>(seqs).subspan(begin, len));
      begin += len;
      const TimestampMs bound = events[begin - 1].ts - static_cast<TimestampMs>(rng() % 3000);
      one.AdvanceTo(bound, [&](ChangelogRow&& r) { Collect(&want, bound, std::move(r)); });
      batched.AdvanceTo(bound, [&](ChangelogRow&& r) { Collect(&got, bound, std::move(r)); });
      ASSERT_EQ(batched.num_entities(), one.num_entities());
    }
    batched.AddBatch({}, {});  // an empty batch adds nothing
    one.AdvanceTo(kMaxTimestamp, [&](ChangelogRow&& r) { Collect(&want, kMaxTimestamp, std::move(r)); });
    batched.AdvanceTo(kMaxTimestamp, [&](ChangelogRow&& r) { Collect(&got, kMaxTimestamp, std::move(r)); });
    ASSERT_GT(want.size(), 2000u / kScale);
    EXPECT_EQ(got, want);
  }
}

// ---------------------------------------------------------------------------------------
// ViewPlan::Extract: what each feature takes from an event.

TEST(ViewPlanTest, ExtractAppliesWhereAndField) {
  auto p = LoadView(
      "      c: {agg: count, window: 1h}\n"
      "      cf: {agg: count, window: 1h, where: \"st == 'failed'\"}\n"
      "      sx: {agg: sum, field: x, window: 1h}\n"
      "      sxf: {agg: sum, field: x, window: 1h, where: \"st == 'failed'\"}\n"
      "      big: {agg: max, field: n, window: 1h, where: \"x > 10\"}\n");
  ASSERT_NE(p, nullptr);
  ViewPlan plan(View(*p));
  EXPECT_EQ(plan.num_features(), 5u);
  Row in;
  plan.Extract(ToEvent({.ts = 1, .x = 20.0, .n = 3, .st = "failed"}), &in);
  EXPECT_EQ(in, (Row{Value::Bool(true), Value::Bool(true), D(20), D(20), I(3)}));
  plan.Extract(ToEvent({.ts = 1, .x = 5.0, .n = 3, .st = "ok"}), &in);
  EXPECT_EQ(in, (Row{Value::Bool(true), N(), D(5), N(), N()}));
  plan.Extract(ToEvent({.ts = 1, .st = "failed"}), &in);  // x null: where x > 10 is null
  EXPECT_EQ(in, (Row{Value::Bool(true), Value::Bool(true), N(), N(), N()}));
}

// ---------------------------------------------------------------------------------------
// Changelog rows: entity keys and the log payload (changelog.h).

TEST(ChangelogTest, EntityKeys) {
  Row fields = {Value::String("u1"), D(2.5), I(42), Value::String("fr"), Value::String("x")};
  EXPECT_EQ(EncodeEntityKey(fields, {0}), "u1");
  EXPECT_EQ(EncodeEntityKey(fields, {2}), "42");
  std::string composite = EncodeEntityKey(fields, {0, 2, 3});
  EXPECT_EQ(composite, std::string("u1") + kKeySeparator + "42" + kKeySeparator + "fr");
  EXPECT_EQ(SplitEntityKey(composite), (std::vector<std::string>{"u1", "42", "fr"}));
  EXPECT_EQ(SplitEntityKey("solo"), std::vector<std::string>{"solo"});
  EXPECT_EQ(SplitEntityKey(""), std::vector<std::string>{""});
  EXPECT_EQ(DisplayEntityKey(composite), "u1,42,fr");
}

TEST(ChangelogTest, PayloadFormat) {
  // ts 5, values (int64 -1, null, "ab"):
  //   zigzag(5) = 0a, count 03, then tag+payload: 01 01 | 00 | 03 02 61 62
  std::string out;
  EncodeChangelogPayload(ChangelogRow{"e", 5, {I(-1), N(), Value::String("ab")}}, &out);
  EXPECT_EQ(out, std::string("\x0a\x03\x01\x01\x00\x03\x02\x61\x62", 9));
}

TEST(ChangelogTest, PayloadRoundTrip) {
  std::vector<ChangelogRow> rows = {
      {"e", 0, {}},
      {"e", -1'000, {N()}},
      {"e",
       1'767'225'600'000,
       {I(0), I(-9'223'372'036'854'775'807 - 1), D(-0.0), D(1e-300), D(0.1),
        Value::String(std::string("a\0b", 3)), Value::Bool(false), Value::Timestamp(7), N()}},
      {"e", kMaxTimestamp - 1, {Value::String(std::string(100000, 'z'))}},
  };
  for (const auto& r : rows) {
    std::string bytes;
    EncodeChangelogPayload(r, &bytes);
    ChangelogRow back;
    Status st = DecodeChangelogPayload(bytes, &back);
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(back.ts, r.ts);
    EXPECT_EQ(back.values, r.values);
  }
}

TEST(ChangelogTest, DecodeRejectsDamageWithoutCrashing) {
  std::string bytes;
  EncodeChangelogPayload(
      ChangelogRow{"e", 123456, {I(5), D(2.5), Value::String("hello"), N(), Value::Bool(true)}}, &bytes);
  ChangelogRow back;
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    Status st = DecodeChangelogPayload(std::string_view(bytes).substr(0, cut), &back);
    EXPECT_TRUE(st.IsCorruption()) << cut << ": " << st.ToString();
  }
  EXPECT_TRUE(DecodeChangelogPayload(bytes + "x", &back).IsCorruption());  // trailing bytes
  // A huge value count must not allocate or read past the end.
  std::string huge = "\x02\xff\xff\xff\xff\xff\xff\xff\xff\x7f";
  EXPECT_FALSE(DecodeChangelogPayload(huge, &back).ok());
  std::mt19937_64 rng(8);
  for (int i = 0; i < 2000; ++i) {
    std::string junk = bytes;
    junk[rng() % junk.size()] = static_cast<char>(rng());
    if (rng() % 2) junk.resize(rng() % (junk.size() + 1));
    DecodeChangelogPayload(junk, &back).IgnoreError();  // any Status, never a crash
  }
}

}  // namespace view_engine_test
}  // namespace vigil
