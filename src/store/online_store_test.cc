// The embedded online store (online_store.h): upserts by ts, lookups, persistence with
// consumer positions, read-only opens beside a writer, and Scan.
#include "store/online_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/test_util.h"
#include "schema/value_test_util.h"

namespace vigil {

namespace online_store_test {

namespace fs = std::filesystem;

Value I(int64_t v) { return Value::Int64(v); }
Value D(double v) { return Value::Double(v); }
Value S(const char* v) { return Value::String(v); }

ChangelogRow R(const std::string& entity, TimestampMs ts, Row values) {
  return {entity, ts, std::move(values)};
}

using Positions = std::vector<std::pair<std::string, int64_t>>;

class OnlineStoreTest : public ::testing::Test {
 protected:
  std::string path() const { return dir_.path() + "/online"; }

  std::unique_ptr<OnlineStore> Open(bool read_only = false, int shards = 4) {
    OnlineStoreOptions o;
    o.read_only = read_only;
    o.shards = shards;
    auto s = OnlineStore::Open(path(), o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  static void Apply(OnlineStore* s, const std::string& view, const std::vector<ChangelogRow>& rows,
                    const Positions& pos = {}) {
    Status st = s->Apply(view, rows, pos);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  static std::vector<std::optional<FeatureRow>> Get(OnlineStore* s, const std::string& view,
                                                    const std::vector<std::string>& keys) {
    std::vector<std::optional<FeatureRow>> out(keys.size());
    Status st = s->MultiGet(view, keys, out);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return out;
  }

  static void ExpectRow(const std::optional<FeatureRow>& got, TimestampMs ts, const Row& values) {
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->ts, ts);
    EXPECT_EQ(got->values, values);
  }

  test::ScratchDir dir_{"vigil_os"};
};

TEST_F(OnlineStoreTest, ApplyAndMultiGet) {
  auto s = Open();
  ASSERT_NE(s, nullptr);
  Apply(s.get(), "v",
        {R("a", 1000, {I(1), D(2.5), S("fr"), Value::Null()}),
         R("b", 2000, {I(7), D(0), S(""), Value::Null()})});
  // A missing entity leaves its slot empty, even a slot that held a row before the call.
  std::vector<std::string> keys = {"b", "missing", "a"};
  std::vector<std::optional<FeatureRow>> out(3, FeatureRow{99, {I(99)}});
  ASSERT_TRUE(s->MultiGet("v", keys, out).ok());
  ExpectRow(out[0], 2000, {I(7), D(0), S(""), Value::Null()});
  EXPECT_FALSE(out[1].has_value());
  ExpectRow(out[2], 1000, {I(1), D(2.5), S("fr"), Value::Null()});
  // Views are separate namespaces.
  auto other = Get(s.get(), "w", {"a"});
  EXPECT_FALSE(other[0].has_value());
  EXPECT_EQ(s->GetProperty("online.rows"), std::optional<std::string>("2"));
  EXPECT_EQ(s->GetProperty("no.such.property"), std::nullopt);
}

TEST_F(OnlineStoreTest, OlderRowIgnoredEqualTsReplacesNewerWins) {
  auto s = Open();
  ASSERT_NE(s, nullptr);
  Apply(s.get(), "v", {R("a", 5000, {I(5)})});
  Apply(s.get(), "v", {R("a", 4999, {I(4)})});  // older: ignored
  ExpectRow(Get(s.get(), "v", {"a"})[0], 5000, {I(5)});
  Apply(s.get(), "v", {R("a", 5000, {I(50)})});  // equal ts: replaces
  ExpectRow(Get(s.get(), "v", {"a"})[0], 5000, {I(50)});
  Apply(s.get(), "v", {R("a", 6000, {I(6)})});
  ExpectRow(Get(s.get(), "v", {"a"})[0], 6000, {I(6)});
  // Applying the same rows again is harmless.
  Apply(s.get(), "v", {R("a", 4000, {I(4)}), R("a", 5000, {I(5)})});
  ExpectRow(Get(s.get(), "v", {"a"})[0], 6000, {I(6)});
  // And the same holds after a restart.
  s.reset();
  s = Open();
  ExpectRow(Get(s.get(), "v", {"a"})[0], 6000, {I(6)});
  Apply(s.get(), "v", {R("a", 5999, {I(1)})});
  ExpectRow(Get(s.get(), "v", {"a"})[0], 6000, {I(6)});
}

// The contract is per row: a row older than the stored one is ignored, also when the
// newer row arrived earlier in the same batch. Memory, RocksDB (what a restart and a
// read-only reader see) must agree.
TEST_F(OnlineStoreTest, OlderRowLaterInSameBatchIsIgnoredEverywhere) {
  auto s = Open();
  ASSERT_NE(s, nullptr);
  Apply(s.get(), "v", {R("a", 5000, {I(5)}), R("a", 3000, {I(3)})});
  ExpectRow(Get(s.get(), "v", {"a"})[0], 5000, {I(5)});
  {
    auto ro = Open(/*read_only=*/true);
    ASSERT_NE(ro, nullptr);
    ExpectRow(Get(ro.get(), "v", {"a"})[0], 5000, {I(5)});
  }
  s.reset();
  s = Open();
  ExpectRow(Get(s.get(), "v", {"a"})[0], 5000, {I(5)});
}

TEST_F(OnlineStoreTest, PersistsAcrossReopen) {
  {
    auto s = Open();
    ASSERT_NE(s, nullptr);
    std::vector<ChangelogRow> rows;
    for (int i = 0; i < 1000; ++i) {
      rows.push_back(R("e" + std::to_string(i), 1000 + i, {I(i), D(i / 4.0), S("x"), Value::Null()}));
    }
    Apply(s.get(), "v", rows, {{"changelog.v", 1000}});
    Apply(s.get(), "w", {R("e1", 7, {Value::Bool(true), Value::Timestamp(-5)})}, {{"changelog.w", 1}});
  }
  auto s = Open(false, 16);  // another shard count: the layout on disk does not depend on it
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->GetProperty("online.rows"), std::optional<std::string>("1001"));
  auto got = Get(s.get(), "v", {"e0", "e999", "e1000"});
  ExpectRow(got[0], 1000, {I(0), D(0), S("x"), Value::Null()});
  ExpectRow(got[1], 1999, {I(999), D(999 / 4.0), S("x"), Value::Null()});
  EXPECT_FALSE(got[2].has_value());
  ExpectRow(Get(s.get(), "w", {"e1"})[0], 7, {Value::Bool(true), Value::Timestamp(-5)});
  EXPECT_EQ(*s->Position("changelog.v"), 1000);
  EXPECT_EQ(*s->Position("changelog.w"), 1);
}

TEST_F(OnlineStoreTest, PositionsPersistWithRows) {
  auto s = Open();
  ASSERT_NE(s, nullptr);
  auto p = s->Position("changelog.v");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, 0);  // never applied
  Apply(s.get(), "v", {R("a", 1, {I(1)})}, {{"changelog.v", 10}});
  EXPECT_EQ(*s->Position("changelog.v"), 10);
  // A batch whose rows are all ignored still moves the position (those rows are consumed).
  Apply(s.get(), "v", {R("a", 0, {I(0)})}, {{"changelog.v", 11}});
  EXPECT_EQ(*s->Position("changelog.v"), 11);
  // Several positions at once, and none at all.
  Apply(s.get(), "v", {R("b", 3, {I(3)})}, {{"changelog.v", 12}, {"other", 4}});
  Apply(s.get(), "v", {R("c", 3, {I(3)})});
  s.reset();
  s = Open();
  EXPECT_EQ(*s->Position("changelog.v"), 12);
  EXPECT_EQ(*s->Position("other"), 4);
  auto got = Get(s.get(), "v", {"a", "b", "c"});
  ExpectRow(got[0], 1, {I(1)});
  ExpectRow(got[1], 3, {I(3)});
  ExpectRow(got[2], 3, {I(3)});
}

// Read-only opens go to RocksDB beside a live writer: they see what it wrote before the
// open, never write.
TEST_F(OnlineStoreTest, ReadOnlySeesWhatWriterWrote) {
  auto w = Open();
  ASSERT_NE(w, nullptr);
  Apply(w.get(), "v", {R("a", 1000, {I(1)}), R("b", 1000, {I(2)})}, {{"changelog.v", 2}});
  Apply(w.get(), "v", {R("a", 2000, {I(10)})}, {{"changelog.v", 3}});
  auto ro = Open(/*read_only=*/true);
  ASSERT_NE(ro, nullptr);
  auto got = Get(ro.get(), "v", {"a", "b", "zz"});
  ExpectRow(got[0], 2000, {I(10)});
  ExpectRow(got[1], 1000, {I(2)});
  EXPECT_FALSE(got[2].has_value());
  EXPECT_EQ(*ro->Position("changelog.v"), 3);
  Status st = ro->Apply("v", std::vector<ChangelogRow>{R("a", 9000, {I(9)})}, Positions{});
  EXPECT_EQ(st.code(), Status::Code::kNotSupported) << st.ToString();
  ExpectRow(Get(w.get(), "v", {"a"})[0], 2000, {I(10)});
  // A second read-only open after more writes sees them.
  Apply(w.get(), "v", {R("c", 3000, {I(3)})});
  auto ro2 = Open(/*read_only=*/true);
  ExpectRow(Get(ro2.get(), "v", {"c"})[0], 3000, {I(3)});
}

TEST_F(OnlineStoreTest, ReadOnlyOfMissingStoreIsNotFound) {
  OnlineStoreOptions o;
  o.read_only = true;
  auto s = OnlineStore::Open(dir_.path() + "/never_created", o);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.status().IsNotFound()) << s.status().ToString();
  EXPECT_FALSE(fs::exists(dir_.path() + "/never_created/CURRENT"));
}

TEST_F(OnlineStoreTest, ScanOneView) {
  auto s = Open();
  ASSERT_NE(s, nullptr);
  // "a" and "ab" share a prefix: Scan of one must not see the other's rows.
  Apply(s.get(), "a", {R("k2", 2, {I(2)}), R("k1", 1, {I(1)}), R("k\x1fz", 3, {I(3)})});
  Apply(s.get(), "ab", {R("k1", 10, {I(10)})});
  Apply(s.get(), "a", {R("k1", 5, {I(5)})});
  for (bool read_only : {false, true}) {
    SCOPED_TRACE(read_only);
    std::unique_ptr<OnlineStore> ro;
    OnlineStore* store = s.get();
    if (read_only) {
      ro = Open(true);
      store = ro.get();
    }
    std::map<std::string, FeatureRow> seen;
    std::vector<std::string> order;
    Status st = store->Scan("a", [&](const std::string& e, const FeatureRow& r) {
      EXPECT_TRUE(seen.emplace(e, r).second) << "twice: " << e;
      order.push_back(e);
    });
    ASSERT_TRUE(st.ok()) << st.ToString();
    ASSERT_EQ(seen.size(), 3u);
    EXPECT_EQ(seen["k1"].ts, 5);
    EXPECT_EQ(seen["k1"].values, Row{I(5)});
    EXPECT_EQ(seen["k2"].values, Row{I(2)});
    EXPECT_EQ(seen["k\x1fz"].values, Row{I(3)});
    if (read_only) {
      EXPECT_TRUE(std::is_sorted(order.begin(), order.end()));  // key order
    }
    std::map<std::string, FeatureRow> ab;
    ASSERT_TRUE(store->Scan("ab", [&](const std::string& e, const FeatureRow& r) { ab.emplace(e, r); }).ok());
    ASSERT_EQ(ab.size(), 1u);
    EXPECT_EQ(ab["k1"].ts, 10);
    int none = 0;
    ASSERT_TRUE(store->Scan("nothing", [&](const std::string&, const FeatureRow&) { ++none; }).ok());
    EXPECT_EQ(none, 0);
  }
}

// Safe for concurrent use: readers and writers on several threads (run under ASan too).
TEST_F(OnlineStoreTest, ConcurrentApplyAndMultiGet) {
  auto s = Open();
  ASSERT_NE(s, nullptr);
  std::atomic<bool> bad{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 1; i <= 200; ++i) {
        std::string key = "e" + std::to_string(i % 20);
        if (t < 2) {
          std::vector<ChangelogRow> rows = {R(key, i, {I(i)})};
          if (!s->Apply("v", rows, Positions{}).ok()) bad = true;
        } else {
          std::vector<std::string> keys = {key};
          std::vector<std::optional<FeatureRow>> out(1);
          if (!s->MultiGet("v", keys, out).ok()) bad = true;
          if (out[0] && out[0]->values != Row{I(out[0]->ts)}) bad = true;  // never a torn row
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_FALSE(bad);
  // Each key's stored row is the newest applied: key e(j) last got i = 180 + j (j > 0), 200 for e0.
  for (int j = 0; j < 20; ++j) {
    int want = j == 0 ? 200 : 180 + j;
    ExpectRow(Get(s.get(), "v", {"e" + std::to_string(j)})[0], want, {I(want)});
  }
}

// Concurrent writers of the same entities: whatever the interleaving, the newest row of
// each entity is what memory, a read-only reader and a restart all see. Every entity gets
// one row from each of 4 threads (ts 1..4), the threads walking the entities in step, so
// each entity is a separate race; the newest row (ts 4) must win on disk as in memory.
TEST_F(OnlineStoreTest, ConcurrentWritersKeepNewestRowOnDiskToo) {
  auto s = Open();
  ASSERT_NE(s, nullptr);
  constexpr int kKeys = 3000;
  constexpr int kThreads = 4;
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      ++ready;
      while (ready < kThreads) {
        // Spin: start together, so the threads walk the entities in step.
      }
      for (int k = 0; k < kKeys; ++k) {
        std::vector<ChangelogRow> rows = {R("e" + std::to_string(k), t + 1, {I(t + 1)})};
        EXPECT_TRUE(s->Apply("v", rows, Positions{}).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  std::vector<std::string> keys;
  for (int k = 0; k < kKeys; ++k) keys.push_back("e" + std::to_string(k));
  auto count_stale = [&](OnlineStore* store) {
    int stale = 0;
    std::string example;
    for (const auto& got : Get(store, "v", keys)) {
      if (!got || got->ts != kThreads || got->values != Row{I(kThreads)}) {
        if (example.empty() && got) example = "ts " + std::to_string(got->ts);
        ++stale;
      }
    }
    return std::make_pair(stale, example);
  };
  auto mem = count_stale(s.get());
  EXPECT_EQ(mem.first, 0) << "in memory, e.g. " << mem.second;
  {
    auto ro = Open(/*read_only=*/true);
    ASSERT_NE(ro, nullptr);
    auto disk = count_stale(ro.get());
    EXPECT_EQ(disk.first, 0) << "entities whose stored row on disk is older than the newest applied, e.g. "
                             << disk.second;
  }
  s.reset();
  s = Open();
  auto reopened = count_stale(s.get());
  EXPECT_EQ(reopened.first, 0) << "after reopening, e.g. " << reopened.second;
}

}  // namespace online_store_test
}  // namespace vigil
