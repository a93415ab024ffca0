// Online/offline reconciliation (sync.h): every kind of difference is found, counted (in
// the report and in vigil_sync_differences_total{view,kind}) and, with repair, repaired
// on the right side; a check changes nothing; a second run after a repair finds nothing.
#include "store/sync.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <ostream>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "common/metrics.h"
#include "common/test_util.h"
#include "schema/value_test_util.h"
#include "store/ingestion.h"
#include "store/offline_store.h"

namespace vigil {

namespace sync_test {

namespace fs = std::filesystem;

constexpr char kDefs[] = R"(entities:
  user: {keys: [user_id]}
  pair: {keys: [user_id, shop]}
sources:
  txn:
    timestamp: ts
    schema: {user_id: string, shop: string, amount: double}
feature_views:
  spend:
    entity: user
    source: txn
    features:
      n_1h:   {agg: count, window: 1h}
      sum_1h: {agg: sum, field: amount, window: 1h}
  pair_spend:
    entity: pair
    source: txn
    features:
      n_1h:   {agg: count, window: 1h}
)";

// 2024-03-01T00:00:00Z, plus a few seconds: all rows of one date.
constexpr TimestampMs kT0 = 1'709'251'200'000;

std::string Key(std::initializer_list<std::string> parts) {
  std::string k;
  for (const auto& p : parts) {
    if (!k.empty()) k.push_back(kKeySeparator);
    k += p;
  }
  return k;
}

ChangelogRow Spend(const std::string& user, TimestampMs dt, int64_t n, double sum) {
  return {Key({user}), kT0 + dt, {Value::Int64(n), Value::Double(sum)}};
}
ChangelogRow Pair(const std::string& user, const std::string& shop, TimestampMs dt, int64_t n) {
  return {Key({user, shop}), kT0 + dt, {Value::Int64(n)}};
}

using Latest = std::map<std::string, FeatureRow>;

class SyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_.Write("defs.yaml", kDefs);
    auto p = LoadProject(dir_.path());
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    defs_ = std::move(p->defs);
    offline_ = dir_.Path("offline");
    OpenOnline();
  }

  void OpenOnline() {
    online_.reset();
    OnlineStoreOptions o;
    o.shards = 4;
    auto s = OnlineStore::Open(dir_.Path("online"), o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    online_ = std::move(s).value();
  }

  const FeatureViewDef& View(const std::string& name) { return *defs_.FindView(name); }

  // Writes rows as the ingestion worker does: records of partition 0 of the changelog
  // topic, at consecutive offsets from where the dataset is.
  void WriteOffline(const std::string& view_name, const std::vector<ChangelogRow>& rows) {
    const FeatureViewDef& view = View(view_name);
    Schema schema = OfflineChangelogSchema(defs_, view);
    auto w = OffsetDatasetWriter::Open(OfflineFeaturesDir(offline_, view), schema,
                                       static_cast<int>(view.key_indexes.size()));
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    auto next = (*w)->Next(0);
    ASSERT_TRUE(next.ok()) << next.status().ToString();
    int64_t offset = *next;
    for (const auto& r : rows) {
      Status s = (*w)->Append(0, offset, OfflineChangelogRow(defs_, view, r, 0, offset));
      ASSERT_TRUE(s.ok()) << s.ToString();
      ++offset;
    }
    Status s = (*w)->Flush();
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  void WriteOnline(const std::string& view_name, const std::vector<ChangelogRow>& rows) {
    Status s = online_->Apply(OnlineViewName(View(view_name)), rows, {});
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  Latest OnlineRows(const std::string& view_name) {
    Latest out;
    Status s = online_->Scan(OnlineViewName(View(view_name)),
                             [&](const std::string& e, const FeatureRow& r) { out[e] = r; });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  // The latest offline row of each entity, as readers see the offline changelog.
  Latest OfflineLatest(const std::string& view_name) {
    const FeatureViewDef& view = View(view_name);
    const size_t nk = view.key_indexes.size(), nf = view.features.size();
    Latest out;
    std::mutex mu;
    Status s = ScanViewChangelog(
        defs_, view, offline_, 1, kMaxTimestamp,
        [&](parquet::ColumnBatch&& batch, TimestampMs skip_from, TimestampMs skip_to) {
          std::lock_guard l(mu);
          for (size_t r = 0; r < static_cast<size_t>(batch.rows()); ++r) {
            TimestampMs ts = batch.columns[nk].ints[r];
            if (ts >= skip_from && ts < skip_to) continue;
            std::string key;
            for (size_t k = 0; k < nk; ++k) {
              if (k) key.push_back(kKeySeparator);
              key += batch.columns[k].Get(r).ToCsvText();
            }
            auto [it, inserted] = out.try_emplace(key);
            if (!inserted && it->second.ts > ts) continue;
            it->second.ts = ts;
            it->second.values.clear();
            for (size_t f = 0; f < nf; ++f) it->second.values.push_back(batch.columns[nk + 1 + f].Get(r));
          }
          return Status::OK();
        });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  // Every file under the offline directory with its size: a check must not change it.
  std::map<std::string, uintmax_t> OfflineFiles() {
    std::map<std::string, uintmax_t> out;
    std::error_code ec;
    for (const auto& e : fs::recursive_directory_iterator(offline_, ec)) {
      if (e.is_regular_file()) out[e.path().string()] = e.file_size();
    }
    return out;
  }

  SyncReport Run(bool repair, MetricsRegistry* metrics) {
    SyncOptions o;
    o.repair = repair;
    o.metrics = metrics;
    o.log_limit = 0;  // quiet
    auto r = SyncStores(defs_, online_.get(), offline_, o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : SyncReport{};
  }

  // Both stores agree on u1 and (u1, s1); every kind of difference is there once or more.
  void SetUpDivergences() {
    WriteOffline("spend", {
                              Spend("u1", 1000, 1, 10), Spend("u1", 2000, 2, 30),  // equal online
                              Spend("u2", 1000, 1, 5),                             // missing online
                              Spend("u7", 4000, 1, 8),                             // missing online
                              Spend("u3", 1000, 1, 1), Spend("u3", 3000, 2, 3),    // online stale
                              Spend("u4", 1000, 1, 7),                             // offline stale
                              Spend("u5", 1500, 1, 2),                             // values differ
                          });
    WriteOnline("spend", {
                             Spend("u1", 2000, 2, 30),
                             Spend("u3", 1000, 1, 1),
                             Spend("u4", 1000, 1, 7), Spend("u4", 4000, 2, 9),
                             Spend("u5", 1500, 1, 99),
                             Spend("u6", 5000, 1, 4),  // only online
                         });
    WriteOffline("pair_spend", {Pair("u1", "s1", 1000, 1), Pair("u1", "s2", 2000, 1), Pair("u1", "s2", 2500, 2)});
    WriteOnline("pair_spend", {Pair("u1", "s1", 1000, 1), Pair("u1", "s2", 2000, 1)});  // s2 stale online
  }

  test::ScratchDir dir_{"vigil_sync"};
  Definitions defs_;
  std::string offline_;
  std::unique_ptr<OnlineStore> online_;
};

// The value of the series name{labels} in a RenderText output; nullopt if absent.
std::optional<double> Sample(const std::string& text, const std::string& series) {
  size_t at = 0;
  while ((at = text.find(series + " ", at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') return std::stod(text.substr(at + series.size() + 1));
    ++at;
  }
  return std::nullopt;
}

std::string DiffSeries(const std::string& view, const std::string& kind) {
  return "vigil_sync_differences_total{kind=\"" + kind + "\",view=\"" + view + "\"}";
}

// Backfill and sync's repairs write their rows through OfflineChangelogBatches: by date,
// the same rows as OfflineChangelogRow, _partition and _offset null.
TEST_F(SyncTest, OfflineChangelogBatchesHoldOfflineChangelogRowsByDate) {
  const FeatureViewDef& view = View("pair_spend");
  const std::vector<ChangelogRow> rows = {
      Pair("u1", "shop a", 5, 1),
      Pair("u2", "", 6, 2),                    // an empty part
      Pair("u1", "shop a", -kT0 - 1, 3),       // 1969-12-31: a negative ts
      {Key({"u3"}), kT0 + 7, {Value::Int64(4)}},  // a missing part: null
      Pair("u1", "shop b", 86'400'000, 5),     // the next day
      Pair("u2", "shop c", 8, 6),              // back to the first day
  };
  OfflineChangelogBatches batches(defs_, view);
  for (const auto& r : rows) batches.Add(r);
  EXPECT_EQ(batches.rows(), 6);
  std::map<std::string, std::vector<Row>> want;
  for (const auto& r : rows) {
    Row row = OfflineChangelogRow(defs_, view, r, 0, 0);
    row[row.size() - 2] = Value::Null();
    row[row.size() - 1] = Value::Null();
    want[DateOf(r.ts)].push_back(row);
  }
  ASSERT_EQ(batches.by_date().size(), 3u);
  for (const auto& [date, batch] : batches.by_date()) {
    ASSERT_TRUE(want.count(date)) << date;
    ASSERT_EQ(batch.rows(), static_cast<int64_t>(want[date].size())) << date;
    for (int64_t i = 0; i < batch.rows(); ++i) EXPECT_EQ(batch.GetRow(i), want[date][static_cast<size_t>(i)]) << date;
  }
  EXPECT_TRUE(batches.by_date().count("1969-12-31"));
  EXPECT_TRUE(batches.by_date()["2024-03-01"].columns[1].is_null(2));  // u3's missing shop
}

TEST_F(SyncTest, CheckReportsEveryKindAndChangesNothing) {
  SetUpDivergences();
  Latest online_before = OnlineRows("spend");
  Latest pair_before = OnlineRows("pair_spend");
  auto files_before = OfflineFiles();

  MetricsRegistry metrics;
  SyncReport r = Run(/*repair=*/false, &metrics);
  using Kinds = std::map<std::string, int64_t>;
  EXPECT_EQ(r.differences["spend"], (Kinds{{"missing_online", 2},
                                           {"stale_online", 1},
                                           {"stale_offline", 1},
                                           {"value_mismatch", 1},
                                           {"missing_offline", 1}}));
  EXPECT_EQ(r.differences["pair_spend"], (Kinds{{"stale_online", 1}}));
  EXPECT_EQ(r.differences.size(), 2u);
  EXPECT_EQ(r.total_differences, 7);
  EXPECT_EQ(r.entities_checked, 7 + 2);  // u1..u7; (u1,s1), (u1,s2)
  EXPECT_EQ(r.repaired, 0);

  std::string text = metrics.RenderText();
  for (const auto& [view, kinds] : r.differences) {
    for (const auto& [kind, n] : kinds) {
      EXPECT_EQ(Sample(text, DiffSeries(view, kind)), static_cast<double>(n)) << view << " " << kind << "\n" << text;
    }
  }
  EXPECT_EQ(Sample(text, DiffSeries("pair_spend", "missing_online")), std::nullopt) << text;
  EXPECT_EQ(Sample(text, "vigil_sync_last_differences"), 7.0) << text;
  EXPECT_EQ(Sample(text, "vigil_sync_runs_total"), 1.0) << text;

  // Nothing changed on either side.
  EXPECT_EQ(OfflineFiles(), files_before);
  Latest online_after = OnlineRows("spend");
  ASSERT_EQ(online_after.size(), online_before.size());
  for (const auto& [e, row] : online_before) {
    EXPECT_EQ(online_after[e].ts, row.ts) << e;
    EXPECT_EQ(online_after[e].values, row.values) << e;
  }
  EXPECT_EQ(OnlineRows("pair_spend").size(), pair_before.size());

  // A second check finds the same.
  MetricsRegistry again;
  SyncReport r2 = Run(false, &again);
  EXPECT_EQ(r2.differences, r.differences);
}

TEST_F(SyncTest, RepairMakesBothSidesEqualAndASecondRunFindsNothing) {
  SetUpDivergences();
  Latest offline_before = OfflineLatest("spend");
  Latest online_before = OnlineRows("spend");

  MetricsRegistry metrics;
  SyncReport r = Run(/*repair=*/true, &metrics);
  EXPECT_EQ(r.total_differences, 7);
  EXPECT_EQ(r.repaired, 7);
  EXPECT_EQ(Sample(metrics.RenderText(), DiffSeries("spend", "missing_online")), 2.0);

  Latest on = OnlineRows("spend");
  Latest off = OfflineLatest("spend");
  // Online repairs take the offline row: missing, stale and mismatching entities.
  for (const char* u : {"u2", "u7", "u3", "u5"}) {
    ASSERT_TRUE(on.count(u)) << u;
    EXPECT_EQ(on[u].ts, offline_before[u].ts) << u;
    EXPECT_EQ(on[u].values, offline_before[u].values) << u;
  }
  // Offline repairs take the online row: the stale offline entity and the online-only one.
  for (const char* u : {"u4", "u6"}) {
    ASSERT_TRUE(off.count(u)) << u;
    EXPECT_EQ(off[u].ts, online_before[u].ts) << u;
    EXPECT_EQ(off[u].values, online_before[u].values) << u;
  }
  // Both sides now hold the same latest row of every entity.
  ASSERT_EQ(on.size(), off.size());
  for (const auto& [e, row] : off) {
    ASSERT_TRUE(on.count(e)) << e;
    EXPECT_EQ(on[e].ts, row.ts) << e;
    EXPECT_EQ(on[e].values, row.values) << e;
  }
  Latest pair_on = OnlineRows("pair_spend");
  EXPECT_EQ(pair_on[Key({"u1", "s2"})].ts, kT0 + 2500);
  EXPECT_EQ(pair_on[Key({"u1", "s2"})].values, (Row{Value::Int64(2)}));

  // The repairs persist: a reopened online store and a second run agree.
  OpenOnline();
  MetricsRegistry second;
  SyncReport r2 = Run(true, &second);
  EXPECT_EQ(r2.total_differences, 0);
  EXPECT_TRUE(r2.differences.empty());
  EXPECT_EQ(r2.repaired, 0);
  EXPECT_EQ(r2.entities_checked, r.entities_checked);
  std::string text = second.RenderText();
  EXPECT_EQ(text.find("vigil_sync_differences_total{"), std::string::npos) << text;
  EXPECT_EQ(Sample(text, "vigil_sync_last_differences"), 0.0) << text;
}

TEST_F(SyncTest, EmptyStoresAgree) {
  MetricsRegistry metrics;
  SyncReport r = Run(true, &metrics);
  EXPECT_EQ(r.entities_checked, 0);
  EXPECT_EQ(r.total_differences, 0);
}

}  // namespace sync_test
}  // namespace vigil
