// Checkpoints of EntityWindow (Save / Restore, entity_window.h): a window restored from
// its bytes at any point of a random stream emits exactly the rows, bit for bit, that
// the uninterrupted window emits, and saves to the same bytes; state saved under other
// definitions is refused with a clear error; truncated, flipped or random bytes are an
// error or a valid state, never a crash (the sanitizer build runs these too).
//
// The views here read a source `ev2` with one field of every type (k string, x double,
// n int64, s string, b bool, t timestamp), so that every aggregation meets every type it
// accepts; they are written as YAML and loaded with LoadProject.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/test_util.h"
#include "compute/changelog.h"
#include "compute/compute_test_util.h"
#include "compute/entity_window.h"
#include "compute/window_agg_internal.h"
#include "schema/row_codec.h"
#include "schema/value.h"
#include "spec/definitions.h"

namespace vigil {
namespace window_state_test {

using test::D;
using test::I;
using test::kScale;
using test::N;
using test::S;

// Entity keys are composite here, to see that messages show them readably.
const std::string kKey = std::string("u42") + kKeySeparator + "FR";

std::unique_ptr<Project> LoadEv2View(const std::string& features, const std::string& ttl = "") {
  test::ScratchDir dir("vigil_state");
  std::string yaml =
      "entities:\n"
      "  u: {keys: [k]}\n"
      "sources:\n"
      "  ev2:\n"
      "    timestamp: ts\n"
      "    allowed_lateness: 1s\n"
      "    schema: {k: string, x: double, n: int64, s: string, b: bool, t: timestamp}\n"
      "feature_views:\n"
      "  v:\n"
      "    entity: u\n"
      "    source: ev2\n";
  if (!ttl.empty()) yaml += "    ttl: " + ttl + "\n";
  yaml += "    features:\n" + features;
  dir.Write("defs.yaml", yaml);
  auto project = LoadProject(dir.path());
  EXPECT_TRUE(project.ok()) << project.status().ToString() << "\n" << yaml;
  if (!project.ok()) return nullptr;
  return std::make_unique<Project>(std::move(project).value());
}

const FeatureViewDef& View(const Project& p) { return p.defs.views.at("v"); }

// Every windowed aggregation, on every field type it takes, with where filters (one of
// them null when s or n is null), over three windows; ttl = the longest window, 13s.
constexpr char kWindowed[] =
    "      c: {agg: count, window: 5s}\n"
    "      cw: {agg: count, window: 2s, where: \"x > 0\"}\n"
    "      cx: {agg: count, field: x, window: 13s}\n"
    "      sx: {agg: sum, field: x, window: 5s}\n"
    "      sn: {agg: sum, field: n, window: 13s}\n"
    "      sw: {agg: sum, field: x, window: 2s, where: \"s in ('a', 'b') or b == true\"}\n"
    "      ax: {agg: avg, field: x, window: 13s}\n"
    "      an: {agg: avg, field: n, window: 5s}\n"
    "      mnx: {agg: min, field: x, window: 5s}\n"
    "      mxx: {agg: max, field: x, window: 13s}\n"
    "      mnn: {agg: min, field: n, window: 2s}\n"
    "      mxs: {agg: max, field: s, window: 5s}\n"
    "      mnt: {agg: min, field: t, window: 13s}\n"
    "      sdx: {agg: stddev, field: x, window: 5s}\n"
    "      sdn: {agg: stddev, field: n, window: 13s}\n"
    "      cds: {agg: count_distinct, field: s, window: 13s}\n"
    "      cdn: {agg: count_distinct, field: n, window: 5s}\n"
    "      cdx: {agg: count_distinct, field: x, window: 2s}\n"
    "      cdb: {agg: count_distinct, field: b, window: 5s}\n"
    "      lx: {agg: last, field: x, window: 5s}\n"
    "      ls: {agg: last, field: s, window: 13s}\n"
    "      lb: {agg: last, field: b, window: 2s}\n"
    "      fx: {agg: first, field: x, window: 13s}\n"
    "      fs: {agg: first, field: s, window: 5s, where: \"n > 0\"}\n"
    "      ft: {agg: first, field: t, window: 2s}\n";

// Every lifetime aggregation beside one windowed feature; used with ttl 8s (gaps longer
// than that expire the entity and restart its lifetime) and without ttl.
constexpr char kLifetime[] =
    "      lc: {agg: count}\n"
    "      lcw: {agg: count, where: \"x > 0\"}\n"
    "      lsx: {agg: sum, field: x}\n"
    "      lsn: {agg: sum, field: n}\n"
    "      lax: {agg: avg, field: x}\n"
    "      lan: {agg: avg, field: n}\n"
    "      lmnx: {agg: min, field: x}\n"
    "      lmxn: {agg: max, field: n}\n"
    "      lmxs: {agg: max, field: s}\n"
    "      lmnt: {agg: min, field: t}\n"
    "      lsd: {agg: stddev, field: x}\n"
    "      lcds: {agg: count_distinct, field: s}\n"
    "      lcdn: {agg: count_distinct, field: n}\n"
    "      llx: {agg: last, field: x}\n"
    "      llb: {agg: last, field: b}\n"
    "      lfs: {agg: first, field: s}\n"
    "      lft: {agg: first, field: t, where: \"b == true\"}\n"
    "      w: {agg: sum, field: x, window: 3s}\n";

// One step of the stream as the worker drives an entity: an accepted event, or an
// advance to the watermark.
struct Op {
  bool advance = false;
  TimestampMs ts = 0;  // Add: the event's ts; advance: the bound
  uint64_t seq = 0;
  Row inputs;
};

// A random stream: ties (40% of gaps are 0), gaps up to 20s (past the windows and the 8s
// ttl), events up to 1.5s late in arrival (those behind the bound are dropped as late,
// as the worker does), nulls in every field, values that stress the two-stacks queue
// (+-1e15 beside 1e-3, -0.0) and many distinct n (past count_distinct's hash index
// threshold), advances to random bounds behind the highest ts seen.
std::vector<Op> RandomOps(const ViewPlan& plan, std::mt19937_64& rng, int events) {
  static const char* kStrings[] = {"a",  "b", "c", "exactly-24-bytes-in-slot", "twenty-five-bytes-on-heap",
                                   "aa", "B", ""};
  const TimestampMs kLateness = 1000;
  std::vector<Op> ops;
  TimestampMs nominal = 1'767'571'200'000 + static_cast<TimestampMs>(rng() % 100'000);
  TimestampMs max_seen = kMinTimestamp;
  TimestampMs bound = kMinTimestamp;
  uint64_t seq = rng() % 1'000'000;
  for (int i = 0; i < events; ++i) {
    uint64_t g = rng() % 100;
    nominal += g < 40 ? 0 : g < 70 ? 1 + rng() % 200 : g < 95 ? 200 + rng() % 1800 : 5000 + rng() % 15000;
    TimestampMs ts = nominal - (rng() % 10 < 3 ? static_cast<TimestampMs>(rng() % 1500) : 0);
    seq += 1 + rng() % 3;
    if (ts < bound) continue;  // late
    Event ev;
    ev.ts = ts;
    auto maybe = [&](Value v) { return rng() % 10 == 0 ? N() : std::move(v); };
    double x;
    switch (rng() % 8) {
      case 0:
        x = (rng() % 2 ? 1e15 : -1e15);
        break;
      case 1:
        x = (rng() % 2 ? 1e-3 : -0.0);
        break;
      default:
        x = static_cast<double>(static_cast<int64_t>(rng() % 20001) - 10000) / 7.0;
    }
    ev.fields = {S("k"),
                 maybe(D(x)),
                 maybe(I(static_cast<int64_t>(rng() % 400) - 200)),
                 maybe(S(kStrings[rng() % 8])),
                 maybe(Value::Bool(rng() % 2)),
                 maybe(Value::Timestamp(ts - static_cast<TimestampMs>(rng() % 100'000)))};
    Op op;
    op.ts = ts;
    op.seq = seq;
    plan.Extract(ev, &op.inputs);
    ops.push_back(std::move(op));
    max_seen = std::max(max_seen, ts);
    if (rng() % 10 < 3) {
      Op adv;
      adv.advance = true;
      adv.ts = max_seen - kLateness + static_cast<TimestampMs>(rng() % (kLateness + 1));
      bound = std::max(bound, adv.ts);
      ops.push_back(std::move(adv));
    }
  }
  Op last;
  last.advance = true;
  last.ts = kMaxTimestamp;
  ops.push_back(std::move(last));
  return ops;
}

void Apply(EntityWindow* w, const Op& op, std::vector<ChangelogRow>* rows) {
  if (op.advance) {
    w->AdvanceTo(op.ts, [rows](ChangelogRow&& r) { rows->push_back(std::move(r)); });
  } else {
    w->Add(op.ts, op.seq, op.inputs);
  }
}

// Same type and same bits (doubles compared as their 8 bytes, so -0.0 != 0.0).
bool SameBits(const Value& a, const Value& b) {
  if (a.type() != b.type()) return false;
  if (a.type() == Type::kDouble) {
    double x = a.dbl(), y = b.dbl();
    return std::memcmp(&x, &y, sizeof x) == 0;
  }
  return a == b;
}

void ExpectSameRows(const std::vector<ChangelogRow>& got, const std::vector<ChangelogRow>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].entity, want[i].entity) << "row " << i;
    ASSERT_EQ(got[i].ts, want[i].ts) << "row " << i;
    ASSERT_EQ(got[i].values.size(), want[i].values.size()) << "row " << i;
    for (size_t j = 0; j < got[i].values.size(); ++j) {
      ASSERT_TRUE(SameBits(got[i].values[j], want[i].values[j]))
          << "row " << i << " @" << got[i].ts << " feature " << j << ": " << ::testing::PrintToString(got[i])
          << " vs " << ::testing::PrintToString(want[i]);
    }
  }
}

std::string Saved(const EntityWindow& w) {
  std::string out;
  w.Save(&out);
  return out;
}

// Runs `ops` through one window without interruption and, beside it, through a chain of
// windows each restored from the previous one's bytes at a random cut (one to three
// cuts: several crashes). At every cut the restored window saves to the bytes it came
// from and the uninterrupted window saves to them too; after every op both report the
// same NextInstant and Idle; in the end the chain has emitted exactly the uninterrupted
// window's rows since the first cut.
void CheckRestoreAtRandomCuts(const ViewPlan& plan, const std::vector<Op>& ops, std::mt19937_64& rng) {
  std::set<size_t> cuts;
  const int num_cuts = 1 + static_cast<int>(rng() % 3);
  for (int i = 0; i < num_cuts; ++i) cuts.insert(rng() % (ops.size() + 1));
  EntityWindow a(&plan, kKey);
  std::unique_ptr<EntityWindow> b;
  std::vector<ChangelogRow> rows_a, rows_b;
  size_t rows_a_at_cut = 0;
  for (size_t i = 0; i <= ops.size(); ++i) {
    if (cuts.count(i)) {
      std::string bytes = Saved(b ? *b : a);
      ASSERT_EQ(Saved(a), bytes) << "the uninterrupted window saves differently at op " << i;
      auto restored = EntityWindow::Restore(&plan, kKey, bytes);
      ASSERT_TRUE(restored.ok()) << restored.status().ToString();
      ASSERT_EQ(Saved(*restored), bytes) << "restored window saves differently at op " << i;
      ASSERT_EQ(restored->key(), kKey);
      if (!b) rows_a_at_cut = rows_a.size();
      b = std::make_unique<EntityWindow>(std::move(restored).value());
    }
    if (i == ops.size()) break;
    Apply(&a, ops[i], &rows_a);
    if (b) {
      Apply(b.get(), ops[i], &rows_b);
      ASSERT_EQ(b->NextInstant(), a.NextInstant()) << "op " << i;
      ASSERT_EQ(b->Idle(), a.Idle()) << "op " << i;
    }
  }
  ASSERT_NE(b, nullptr);
  std::vector<ChangelogRow> want(rows_a.begin() + static_cast<std::ptrdiff_t>(rows_a_at_cut), rows_a.end());
  ExpectSameRows(rows_b, want);
  EXPECT_EQ(Saved(*b), Saved(a));
}

struct RoundTripCase {
  const char* name;
  const char* features;
  const char* ttl;
};

void PrintTo(const RoundTripCase& c, std::ostream* os) { *os << c.name; }

class RestoreRoundTrip : public ::testing::TestWithParam<RoundTripCase> {};

TEST_P(RestoreRoundTrip, RestoredWindowEmitsTheSameRowsBitForBit) {
  const RoundTripCase& c = GetParam();
  auto p = LoadEv2View(c.features, c.ttl);
  ASSERT_NE(p, nullptr);
  ViewPlan plan(View(*p));
  const int seeds = 150 / kScale;
  size_t rows_total = 0;
  for (int seed = 0; seed < seeds; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(static_cast<uint64_t>(seed) * 7919 + 17);
    auto ops = RandomOps(plan, rng, 50 + static_cast<int>(rng() % 400));
    CheckRestoreAtRandomCuts(plan, ops, rng);
    if (HasFatalFailure()) return;
    rows_total += ops.size();
  }
  EXPECT_GT(rows_total, static_cast<size_t>(seeds) * 50);
}

INSTANTIATE_TEST_SUITE_P(EveryAggregation, RestoreRoundTrip,
                         ::testing::Values(RoundTripCase{"windowed", kWindowed, ""},
                                           RoundTripCase{"lifetime_ttl", kLifetime, "8s"},
                                           RoundTripCase{"lifetime_forever", kLifetime, ""}),
                         [](const ::testing::TestParamInfo<RoundTripCase>& info) {
                           return std::string(info.param.name);
                         });

// Why the two-stacks queue is saved as it is. Window sum over 10s, pushes 1 @0, 1e16 @1000,
// 1 @1001, 1 @1002. At 10000 the first leaves: the flip builds suffix sums, so the window
// holds 1e16 + (1 + 1) = 1e16 + 2 exactly. Pushing the three values again would give
// (1e16 + 1) + 1 = 1e16 (each +1 rounds to even). Adding 2 @10002 must then read 1e16 + 4.
TEST(RestoreTest, TwoStacksSuffixAggregatesSurviveBitForBit) {
  auto p = LoadEv2View("      s: {agg: sum, field: x, window: 10s}\n");
  ASSERT_NE(p, nullptr);
  ViewPlan plan(View(*p));
  EntityWindow w(&plan, kKey);
  std::vector<ChangelogRow> rows;
  auto emit = [&](ChangelogRow&& r) { rows.push_back(std::move(r)); };
  uint64_t seq = 0;
  auto add = [&](EntityWindow& win, TimestampMs ts, double x) {
    Row in{D(x)};
    win.Add(ts, seq++, in);
  };
  add(w, 0, 1);
  add(w, 1000, 1e16);
  add(w, 1001, 1);
  add(w, 1002, 1);
  w.AdvanceTo(10001, emit);
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows.back().ts, 10000);
  EXPECT_EQ(rows.back().values[0], D(1e16 + 2));
  ASSERT_NE(1e16 + 2, (1e16 + 1) + 1);  // the naive rebuild would differ

  auto restored = EntityWindow::Restore(&plan, kKey, Saved(w));
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  EntityWindow& r = *restored;
  std::vector<ChangelogRow> rows_r;
  add(w, 10002, 2);
  --seq;
  add(r, 10002, 2);
  rows.clear();
  w.AdvanceTo(10003, emit);
  r.AdvanceTo(10003, [&](ChangelogRow&& row) { rows_r.push_back(std::move(row)); });
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].values[0], D(1e16 + 4));
  ExpectSameRows(rows_r, rows);
}

TEST(RestoreTest, FreshWindowRoundTripsAndStaysIdle) {
  auto p = LoadEv2View(kWindowed);
  ASSERT_NE(p, nullptr);
  ViewPlan plan(View(*p));
  EntityWindow w(&plan, kKey);
  std::string bytes = Saved(w);
  auto r = EntityWindow::Restore(&plan, kKey, bytes);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->Idle());
  EXPECT_EQ(r->NextInstant(), kMaxTimestamp);
  EXPECT_EQ(Saved(*r), bytes);
  // Version, shape (1 + 25 features x 2 bytes), alive, L, row ts, no pending, and one
  // byte per empty feature.
  EXPECT_EQ(bytes[0], static_cast<char>(EntityWindow::kStateFormatVersion));
  EXPECT_LE(bytes.size(), 110u);
}

// Events still pending (added, not yet advanced past) are part of the state: the
// restored window processes them as the original does.
TEST(RestoreTest, PendingEventsAreRestored) {
  auto p = LoadEv2View("      c: {agg: count, window: 10s}\n      l: {agg: last, field: s, window: 10s}\n");
  ASSERT_NE(p, nullptr);
  ViewPlan plan(View(*p));
  EntityWindow w(&plan, kKey);
  w.Add(5000, 7, Row{Value::Bool(true), S("late")});
  w.Add(5000, 3, Row{Value::Bool(true), S("early")});  // same ts, earlier in the log
  w.Add(2000, 9, Row{Value::Bool(true), N()});
  auto r = EntityWindow::Restore(&plan, kKey, Saved(w));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->Idle());
  EXPECT_EQ(r->NextInstant(), 2000);
  std::vector<ChangelogRow> rows;
  r->AdvanceTo(kMaxTimestamp, [&](ChangelogRow&& row) { rows.push_back(std::move(row)); });
  std::vector<ChangelogRow> want = {{kKey, 2000, {I(1), N()}},
                                    {kKey, 5000, {I(3), S("late")}},
                                    {kKey, 12000, {I(2), S("late")}},
                                    {kKey, 15000, {I(0), N()}}};
  EXPECT_EQ(rows, want);
}

// A pending event is saved with a value per feature, but kept as one value per field and
// one bit per filter: bytes whose features disagree on a field's value (or on whether a
// filter matched) cannot come from one event, and are refused.
TEST(RestoreTest, PendingInputsThatCannotComeFromOneEventAreCorruption) {
  auto p = LoadEv2View(
      "      l: {agg: last, field: s, window: 10s}\n"
      "      d: {agg: count_distinct, field: s, window: 10s}\n"
      "      c: {agg: count, window: 10s, where: \"n > 1\"}\n"
      "      m: {agg: max, field: x, window: 10s, where: \"n > 1\"}\n");
  ASSERT_NE(p, nullptr);
  ViewPlan plan(View(*p));
  EntityWindow w(&plan, kKey);
  w.Add(5000, 1, Row{S("qq"), S("qq"), Value::Bool(true), D(2.5)});
  const std::string bytes = Saved(w);
  ASSERT_TRUE(EntityWindow::Restore(&plan, kKey, bytes).ok());
  EXPECT_EQ(Saved(*EntityWindow::Restore(&plan, kKey, bytes)), bytes);

  // The second feature's copy of s says "qr".
  std::string two_values = bytes;
  const size_t second = two_values.find("qq", two_values.find("qq") + 2);
  ASSERT_NE(second, std::string::npos);
  two_values[second + 1] = 'r';
  auto r = EntityWindow::Restore(&plan, kKey, two_values);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
  EXPECT_NE(r.status().message().find("'d'"), std::string::npos) << r.status().ToString();
  EXPECT_NE(r.status().message().find("pending event"), std::string::npos) << r.status().ToString();

  // The filter matched for m (a value) but not for c (null).
  std::string filter_both;
  {
    // Saved as a window whose count input is null: build the bytes from a consistent
    // window with the filter false, then put m's value back.
    EntityWindow no(&plan, kKey);
    no.Add(5000, 1, Row{S("qq"), S("qq"), N(), N()});
    filter_both = Saved(no);
    std::string m_value;
    EncodeValue(D(2.5), &m_value);
    std::string null_value;
    EncodeValue(N(), &null_value);
    // The pending event's values end with c's and m's: two nulls in a row after "qq".
    const size_t at = filter_both.find(null_value + null_value, filter_both.rfind("qq"));
    ASSERT_NE(at, std::string::npos);
    filter_both.replace(at + null_value.size(), null_value.size(), m_value);
  }
  auto f = EntityWindow::Restore(&plan, kKey, filter_both);
  ASSERT_FALSE(f.ok());
  EXPECT_TRUE(f.status().IsCorruption()) << f.status().ToString();
}

// ---------------------------------------------------------------------------------------
// Definitions that changed since the checkpoint

std::string SavedUnder(const Project& p) {
  ViewPlan plan(View(p));
  EntityWindow w(&plan, kKey);
  w.Add(1000, 1, Row(View(p).features.size(), I(3)));
  w.AdvanceTo(1001, [](ChangelogRow&&) {});
  return Saved(w);
}

void ExpectRefused(const std::string& saved_features, const std::string& now_features, Status::Code code,
                   const std::vector<std::string>& in_message) {
  auto before = LoadEv2View(saved_features, "7d");
  auto after = LoadEv2View(now_features, "7d");
  ASSERT_NE(before, nullptr);
  ASSERT_NE(after, nullptr);
  ViewPlan plan(View(*after));
  auto r = EntityWindow::Restore(&plan, kKey, SavedUnder(*before));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), code) << r.status().ToString();
  for (const std::string& s : in_message) {
    EXPECT_NE(r.status().message().find(s), std::string::npos) << r.status().ToString() << "\n  lacks: " << s;
  }
}

TEST(RestoreTest, DifferentPlanIsInvalidArgumentNamingEntityAndFeature) {
  const std::string kBase =
      "      a: {agg: count, window: 1h}\n"
      "      b: {agg: sum, field: n, window: 7d}\n";
  const std::string entity = "entity 'u42,FR' of view 'v'";
  // A feature fewer.
  ExpectRefused(kBase, "      a: {agg: count, window: 1h}\n", Status::Code::kInvalidArgument,
                {entity, "saved with 2 features, the view now has 1", "rebuild"});
  // Another window.
  ExpectRefused(
      kBase, "      a: {agg: count, window: 1h}\n      b: {agg: sum, field: n, window: 1d}\n",
      Status::Code::kInvalidArgument,
      {entity, "feature 1 'b' is sum of int64 over 1d, the saved state holds sum of int64 over 7d"});
  // Another aggregation.
  ExpectRefused(kBase, "      a: {agg: count, window: 1h}\n      b: {agg: max, field: n, window: 7d}\n",
                Status::Code::kInvalidArgument, {entity, "feature 1 'b' is max of int64 over 7d"});
  // Another field type: the values would not even decode.
  ExpectRefused(kBase, "      a: {agg: count, window: 1h}\n      b: {agg: sum, field: x, window: 7d}\n",
                Status::Code::kInvalidArgument, {entity, "feature 1 'b' is sum of double over 7d"});
  // Windowed became lifetime.
  ExpectRefused(
      kBase, "      a: {agg: count}\n      b: {agg: sum, field: n, window: 7d}\n",
      Status::Code::kInvalidArgument,
      {entity, "feature 0 'a' is count over the entity's life, the saved state holds count over 1h"});
  // The same shape under other names restores (names are not part of the shape).
  auto before = LoadEv2View(kBase, "7d");
  auto renamed =
      LoadEv2View("      a2: {agg: count, window: 1h}\n      b2: {agg: sum, field: n, window: 7d}\n", "7d");
  ASSERT_NE(renamed, nullptr);
  ViewPlan plan(View(*renamed));
  EXPECT_TRUE(EntityWindow::Restore(&plan, kKey, SavedUnder(*before)).ok());
}

TEST(RestoreTest, UnknownVersionIsNotSupportedAndEmptyIsCorruption) {
  auto p = LoadEv2View("      a: {agg: count, window: 1h}\n");
  ASSERT_NE(p, nullptr);
  ViewPlan plan(View(*p));
  std::string bytes = SavedUnder(*p);
  for (char v : {'\x00', '\x02', '\xff'}) {
    std::string b = bytes;
    b[0] = v;
    auto r = EntityWindow::Restore(&plan, kKey, b);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Status::Code::kNotSupported) << r.status().ToString();
    EXPECT_NE(r.status().message().find("version"), std::string::npos);
  }
  auto r = EntityWindow::Restore(&plan, kKey, "");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
  EXPECT_NE(r.status().message().find("entity 'u42,FR' of view 'v'"), std::string::npos);
}

// ---------------------------------------------------------------------------------------
// Damaged bytes

// A state with something in every record: the windowed view after part of a random
// stream, cut right after an Add so that events are pending too.
std::string RichState(const ViewPlan& plan, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto ops = RandomOps(plan, rng, 300);
  EntityWindow w(&plan, kKey);
  std::vector<ChangelogRow> rows;
  size_t stop = ops.size() / 2;
  while (stop < ops.size() && ops[stop].advance) ++stop;
  for (size_t i = 0; i <= stop && i < ops.size(); ++i) Apply(&w, ops[i], &rows);
  return Saved(w);
}

// A restored window from damaged bytes must run and save; its bytes restore again and
// save to themselves.
void RunDecoded(const ViewPlan& plan, EntityWindow* w) {
  std::string once = Saved(*w);
  auto again = EntityWindow::Restore(&plan, kKey, once);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  ASSERT_EQ(Saved(*again), once);
  size_t n = 0;
  w->AdvanceTo(kMaxTimestamp, [&](ChangelogRow&& r) {
    ++n;
    ASSERT_EQ(r.values.size(), plan.num_features());
  });
  std::string after = Saved(*w);
  EXPECT_FALSE(after.empty());
}

class DamagedBytes : public ::testing::TestWithParam<RoundTripCase> {};

TEST_P(DamagedBytes, EveryTruncationIsCorruption) {
  auto p = LoadEv2View(GetParam().features, GetParam().ttl);
  ASSERT_NE(p, nullptr);
  ViewPlan plan(View(*p));
  const std::string bytes = RichState(plan, 5);
  ASSERT_GT(bytes.size(), 200u);
  ASSERT_TRUE(EntityWindow::Restore(&plan, kKey, bytes).ok());
  for (size_t len = 0; len < bytes.size(); ++len) {
    auto r = EntityWindow::Restore(&plan, kKey, std::string_view(bytes).substr(0, len));
    ASSERT_FALSE(r.ok()) << "prefix of " << len << " bytes restored";
    ASSERT_TRUE(r.status().IsCorruption()) << len << ": " << r.status().ToString();
  }
  auto r = EntityWindow::Restore(&plan, kKey, bytes + '\0');
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("1 bytes left over"), std::string::npos) << r.status().ToString();
}

TEST_P(DamagedBytes, RandomMutationsAreAnErrorOrARunnableState) {
  auto p = LoadEv2View(GetParam().features, GetParam().ttl);
  ASSERT_NE(p, nullptr);
  ViewPlan plan(View(*p));
  std::mt19937_64 rng(11);
  std::vector<std::string> states;
  for (uint64_t seed = 100; seed < 108; ++seed) states.push_back(RichState(plan, seed));
  int decoded = 0, refused = 0;
  for (int iter = 0; iter < 3000 / kScale; ++iter) {
    std::string b = states[static_cast<size_t>(iter) % states.size()];
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !b.empty(); ++e) {
      size_t at = rng() % b.size();
      switch (rng() % 5) {
        case 0:
          b[at] = static_cast<char>(b[at] ^ (1 << (rng() % 8)));
          break;
        case 1:
          b[at] = static_cast<char>(rng());
          break;
        case 2:
          b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), static_cast<char>(rng()));
          break;
        case 3:
          b.erase(at, 1);
          break;
        default:  // a run of 0xff: huge varints and counts
          b.replace(at, std::min<size_t>(b.size() - at, 1 + rng() % 9), 1 + rng() % 9, '\xff');
      }
    }
    auto r = EntityWindow::Restore(&plan, kKey, b);
    if (!r.ok()) {
      ++refused;
      ASSERT_NE(r.status().message().find("entity 'u42,FR'"), std::string::npos) << r.status().ToString();
      continue;
    }
    ++decoded;
    RunDecoded(plan, &*r);
    if (HasFatalFailure()) return;
  }
  EXPECT_GT(refused, 0);
  EXPECT_GT(decoded, 0);  // flips in value bytes leave valid states: the run path is exercised
}

// Random bytes after a valid version and shape, so the feature decoders see garbage.
TEST_P(DamagedBytes, RandomBodiesAreAnErrorOrARunnableState) {
  auto p = LoadEv2View(GetParam().features, GetParam().ttl);
  ASSERT_NE(p, nullptr);
  ViewPlan plan(View(*p));
  EntityWindow fresh(&plan, kKey);
  const std::string empty = Saved(fresh);
  // Version and shape (entity_window.h): the version byte, a one-byte feature count here,
  // then per feature a byte and, windowed (0x80), a one-byte window here.
  size_t header = 2;
  ASSERT_EQ(static_cast<size_t>(empty[1]), plan.num_features());
  for (size_t i = 0; i < plan.num_features(); ++i) header += (empty[header] & 0x80) ? 2 : 1;
  std::mt19937_64 rng(12);
  for (int iter = 0; iter < 3000 / kScale; ++iter) {
    std::string b = empty.substr(0, header);
    // Mostly small bytes, so that counts and lengths are plausible and decoding goes deep.
    const size_t len = rng() % 300;
    for (size_t i = 0; i < len; ++i) b.push_back(static_cast<char>(rng() % 4 == 0 ? rng() : rng() % 4));
    if (rng() % 2) b[header] = static_cast<char>(rng() % 2);
    auto r = EntityWindow::Restore(&plan, kKey, b);
    if (r.ok()) {
      RunDecoded(plan, &*r);
      if (HasFatalFailure()) return;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Views, DamagedBytes,
                         ::testing::Values(RoundTripCase{"windowed", kWindowed, ""},
                                           RoundTripCase{"lifetime_ttl", kLifetime, "8s"}),
                         [](const ::testing::TestParamInfo<RoundTripCase>& info) {
                           return std::string(info.param.name);
                         });

// ---------------------------------------------------------------------------------------
// FeatureState records

// The engine feeds each feature values of its field's type; a state holding a value of
// another type (only direct pushes can make one) saves it tagged and restores it as is.
TEST(FeatureStateSaveTest, ValuesOfAnotherTypeRoundTripTagged) {
  using compute_internal::MakeFeatureState;
  for (AggKind agg : {AggKind::kLast, AggKind::kFirst, AggKind::kMax}) {
    for (bool windowed : {true, false}) {
      FeatureDef f;
      f.agg = agg;
      f.field_type = Type::kDouble;
      f.output_type = Type::kDouble;
      if (windowed) f.window = 10'000;
      auto st = MakeFeatureState(f);
      st->Push(1000, I(5));
      std::string bytes;
      st->Save(1000, &bytes);
      auto back = MakeFeatureState(f);
      std::string_view in = bytes;
      ASSERT_TRUE(back->Load(1000, &in).ok()) << AggName(agg);
      EXPECT_TRUE(in.empty());
      EXPECT_EQ(back->Current(), I(5)) << AggName(agg);
      EXPECT_EQ(back->NextExpiry(), st->NextExpiry());
      std::string again;
      back->Save(1000, &again);
      EXPECT_EQ(again, bytes);
    }
  }
}

// Typical sizes: a count over 1h of 100 events 10s apart takes about two bytes an event
// (the first timestamp from L, then 10000 as a varint); a double sum about ten.
TEST(FeatureStateSaveTest, QueuesAreCompact) {
  auto p = LoadEv2View("      c: {agg: count, window: 1h}\n");
  ASSERT_NE(p, nullptr);
  ViewPlan plan(View(*p));
  EntityWindow w(&plan, kKey);
  for (int i = 0; i < 100; ++i) w.Add(1'767'571'200'000 + i * 10'000, i, Row{Value::Bool(true)});
  w.AdvanceTo(1'767'571'200'000 + 100 * 10'000, [](ChangelogRow&&) {});
  std::string bytes = Saved(w);
  EXPECT_LE(bytes.size(), 2 * 100u + 20);

  auto q = LoadEv2View("      s: {agg: sum, field: x, window: 1h}\n");
  ASSERT_NE(q, nullptr);
  ViewPlan qplan(View(*q));
  EntityWindow ws(&qplan, kKey);
  for (int i = 0; i < 100; ++i) ws.Add(1'767'571'200'000 + i * 10'000, i, Row{D(i * 0.25)});
  ws.AdvanceTo(1'767'571'200'000 + 100 * 10'000, [](ChangelogRow&&) {});
  EXPECT_LE(Saved(ws).size(), 10 * 100u + 20);
}

}  // namespace window_state_test
}  // namespace vigil
