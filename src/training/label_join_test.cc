#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "compute/changelog.h"
#include "training/label_join_internal.h"

namespace vigil {
namespace {

// A label table of (user, device, ts) rows.
LabelTable Labels(const std::vector<std::array<std::string, 2>>& keys, const std::vector<TimestampMs>& ts) {
  LabelTable t;
  t.header = {"user_id", "device_id", "ts"};
  for (size_t i = 0; i < keys.size(); ++i) {
    t.AddRow(std::vector<std::string>{keys[i][0], keys[i][1], std::to_string(ts[i])}, ts[i]);
  }
  return t;
}

// Entity key -> its labels in (as_of, label) order: what LabelGroups must hold.
using Expected = std::map<std::string, std::vector<uint32_t>>;

void ExpectGroups(const LabelGroups& g, const Expected& want, const std::vector<TimestampMs>& as_of) {
  ASSERT_EQ(g.entities(), want.size());
  size_t positions = 0;
  for (size_t e = 0; e < g.entities(); ++e) {
    const std::string key(g.key(e));
    auto it = want.find(key);
    ASSERT_NE(it, want.end()) << "entity " << key;
    EXPECT_EQ(g.Find(key, EntityIndex::Hash(key)), e);
    EXPECT_EQ(std::vector<uint32_t>(g.labels(e).begin(), g.labels(e).end()), it->second) << key;
    // Positions are consecutive, entity after entity.
    EXPECT_EQ(g.first(e), positions);
    for (size_t i = 0; i < g.labels(e).size(); ++i) EXPECT_EQ(g.label_at(positions + i), g.labels(e)[i]);
    positions += g.labels(e).size();
    for (size_t i = 1; i < g.labels(e).size(); ++i) EXPECT_LE(as_of[g.labels(e)[i - 1]], as_of[g.labels(e)[i]]);
  }
  EXPECT_EQ(g.positions(), positions);
  EXPECT_EQ(g.Find("nobody", EntityIndex::Hash("nobody")), EntityIndex::kNone);
}

TEST(LabelGroupsTest, GroupsByKeyInAsOfOrderThenLabelOrder) {
  // as_of: label 0 (a, 30), 1 (b, 10), 2 (a, 20), 3 (a, 20), 4 (no user), 5 (b, 5)
  const std::vector<TimestampMs> as_of = {30, 10, 20, 20, 1, 5};
  LabelTable t = Labels({{"a", "d1"}, {"b", "d1"}, {"a", "d2"}, {"a", "d1"}, {"", "d3"}, {"b", "d2"}}, as_of);
  const std::vector<uint32_t> rows = {0, 1, 2, 3, 4, 5};
  const size_t user[] = {0};
  LabelGroups g = LabelGroups::Build(t, rows, user, as_of);
  ExpectGroups(g, Expected{{"a", {2, 3, 0}}, {"b", {5, 1}}}, as_of);

  // Composite keys are the cells joined as EncodeEntityKey joins them.
  const size_t user_device[] = {0, 1};
  LabelGroups both = LabelGroups::Build(t, rows, user_device, as_of);
  const std::string sep(1, kKeySeparator);
  ExpectGroups(both,
               Expected{{"a" + sep + "d1", {3, 0}}, {"a" + sep + "d2", {2}}, {"b" + sep + "d1", {1}},
                        {"b" + sep + "d2", {5}}},
               as_of);

  // A subset of the table's rows: label i is rows[i].
  const std::vector<uint32_t> some = {5, 0, 1};
  const std::vector<TimestampMs> some_as_of = {5, 30, 10};
  LabelGroups sub = LabelGroups::Build(t, some, user, some_as_of);
  ExpectGroups(sub, Expected{{"a", {1}}, {"b", {0, 2}}}, some_as_of);
}

TEST(LabelGroupsTest, RandomLabelsMatchAMapOfListsAndSplitAtCoverage) {
  std::mt19937_64 rng(42);
  for (int round = 0; round < 20; ++round) {
    const size_t n = 1 + rng() % 3000, users = 1 + rng() % 400;
    std::vector<std::array<std::string, 2>> keys(n);
    std::vector<TimestampMs> as_of(n);
    for (size_t i = 0; i < n; ++i) {
      // Empty users now and then; keys past the small-string buffer; many equal times.
      const uint64_t u = rng() % (users + 1);
      keys[i] = {u == users ? "" : "user-with-a-long-name-" + std::to_string(u), "d" + std::to_string(rng() % 5)};
      as_of[i] = static_cast<TimestampMs>(rng() % 50);
    }
    LabelTable t = Labels(keys, as_of);
    std::vector<uint32_t> rows(n);
    for (uint32_t i = 0; i < n; ++i) rows[i] = i;
    Expected want;
    for (uint32_t i = 0; i < n; ++i) {
      if (!keys[i][0].empty()) want[keys[i][0]].push_back(i);
    }
    for (auto& [k, list] : want) {
      std::stable_sort(list.begin(), list.end(), [&](uint32_t a, uint32_t b) { return as_of[a] < as_of[b]; });
    }
    const size_t user[] = {0};
    LabelGroups g = LabelGroups::Build(t, rows, user, as_of);
    ExpectGroups(g, want, as_of);

    const TimestampMs coverage = static_cast<TimestampMs>(rng() % 52);
    Expected want_below, want_rest;
    for (const auto& [k, list] : want) {
      for (uint32_t i : list) (as_of[i] < coverage ? want_below : want_rest)[k].push_back(i);
    }
    LabelGroups below, rest;
    g.Split(as_of, coverage, &below, &rest);
    ExpectGroups(below, want_below, as_of);
    ExpectGroups(rest, want_rest, as_of);
  }
}

FeatureViewDef View() {
  FeatureViewDef v;
  v.name = "v";
  for (auto [name, type] : {std::pair{"n", Type::kInt64}, std::pair{"avg", Type::kDouble},
                            std::pair{"last_country", Type::kString}, std::pair{"seen_at", Type::kTimestamp},
                            std::pair{"flag", Type::kBool}, std::pair{"first_city", Type::kString}}) {
    FeatureDef f;
    f.name = name;
    f.output_type = type;
    v.features.push_back(f);
  }
  return v;
}

TEST(TupleTableTest, SetCopyAndReadBackEveryTypeAndNull) {
  const FeatureViewDef view = View();
  TupleTable t(view, 5);
  const std::string long_city(40, 'c');
  const Row a = {Value::Int64(-7),    Value::Double(2.5),    Value::String("PT"),
                 Value::Timestamp(9), Value::Bool(true),     Value::String(long_city)};
  const Row b = {Value::Null(), Value::Double(-0.0), Value::Null(), Value::Timestamp(-3), Value::Bool(false),
                 Value::String("")};
  t.Set(0, a);
  t.Set(3, b);
  t.CopyTuple(4, 0);
  t.Set(0, b);  // the copy keeps a's values
  EXPECT_FALSE(t.has(1));
  EXPECT_FALSE(t.has(2));
  ASSERT_TRUE(t.has(4));
  EXPECT_EQ(t.GetRow(4), a);
  EXPECT_EQ(t.GetRow(0), b);
  EXPECT_EQ(t.GetRow(3), b);

  // SetFrom a changelog batch whose features start at column 1.
  Schema schema({{"user_id", Type::kString},
                 {"n", Type::kInt64},
                 {"avg", Type::kDouble},
                 {"last_country", Type::kString},
                 {"seen_at", Type::kTimestamp},
                 {"flag", Type::kBool},
                 {"first_city", Type::kString}});
  parquet::ColumnBatch batch = parquet::ColumnBatch::Empty(schema);
  Row r0 = {Value::String("u")};
  r0.insert(r0.end(), b.begin(), b.end());
  Row r1 = {Value::String("u")};
  r1.insert(r1.end(), a.begin(), a.end());
  batch.AppendRow(r0);
  batch.AppendRow(r1);
  t.SetFrom(2, batch, 1, 1);
  EXPECT_EQ(t.GetRow(2), a);
  t.SetFrom(2, batch, 1, 0);  // a null over a value
  EXPECT_EQ(t.GetRow(2), b);

  // Columns of tuples [1, 5): tuple 1 is unset and takes `unset`.
  const Row unset = {Value::Int64(0), Value::Null(), Value::Null(), Value::Null(), Value::Bool(false), Value::Null()};
  for (size_t f = 0; f < view.features.size(); ++f) {
    parquet::Column col;
    col.type = view.features[f].output_type;
    col.Clear();
    col.Append(Value::Null());  // a row already there: the tuples' come after it
    t.AppendColumn(1, 5, f, unset[f], &col);
    ASSERT_EQ(col.size(), 5u) << f;
    EXPECT_EQ(col.Get(1), unset[f]) << f;
    EXPECT_EQ(col.Get(2), b[f]) << f;
    EXPECT_EQ(col.Get(3), b[f]) << f;
    EXPECT_EQ(col.Get(4), a[f]) << f;
  }
}

}  // namespace
}  // namespace vigil
