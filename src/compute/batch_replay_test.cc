// The batch replay over a CompactHistory (the point-in-time join's: only the fields the
// view reads, encoded) gives the same changelog rows, with the same calls, as over the
// decoded SourceHistory, whatever order the events come in.

#include "compute/batch_replay.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "compute/changelog.h"
#include "compute/compute_test_util.h"
#include "compute/stream_worker.h"
#include "schema/row_codec.h"

namespace vigil {
namespace batch_replay_test {

using test::EvInput;
using test::LoadView;
using test::ToEvent;
using test::View;

// Every aggregation, a where on a field no feature aggregates (st), ties of equal ts.
constexpr char kFeatures[] =
    "      c: {agg: count, window: 10s}\n"
    "      okc: {agg: count, window: 5s, where: \"st == 'ok'\"}\n"
    "      sx: {agg: sum, field: x, window: 10s}\n"
    "      sd: {agg: stddev, field: x, window: 10s}\n"
    "      mns: {agg: min, field: s, window: 10s}\n"
    "      cd: {agg: count_distinct, field: s, window: 10s}\n"
    "      ln: {agg: last, field: n}\n"
    "      fx: {agg: first, field: x, window: 10s}\n";

using Rows = std::map<std::string, std::vector<ChangelogRow>>;

Rows Collect(const std::function<void(const std::function<void(const std::string&, std::vector<ChangelogRow>&&)>&)>&
                 replay) {
  Rows out;
  std::mutex mu;
  replay([&](const std::string& key, std::vector<ChangelogRow>&& rows) {
    std::lock_guard l(mu);
    EXPECT_EQ(out.count(key), 0u) << "two calls for " << key;
    out[key] = std::move(rows);
  });
  return out;
}

TEST(BatchReplayTest, CompactHistoryReplaysAsTheDecodedOne) {
  auto p = LoadView(kFeatures, "20s");
  ASSERT_NE(p, nullptr);
  const FeatureViewDef& view = View(*p);
  const SourceDef& source = *p->defs.FindSource("ev");
  // 3000 entities (past the threshold where the replay splits across threads), events
  // on a coarse clock so that many share a ts, in shuffled order.
  std::mt19937_64 rng(5);
  std::vector<std::string> keys;
  for (int e = 0; e < 3000; ++e) keys.push_back("k" + std::to_string(e));
  SourceHistory history;
  for (uint64_t i = 0; i < 60000 / test::kScale; ++i) {
    EvInput in;
    in.ts = static_cast<TimestampMs>(rng() % 400) * 250;
    in.k = i < keys.size() ? keys[i] : keys[rng() % keys.size()];  // every entity has events
    if (rng() % 4) in.x = static_cast<double>(rng() % 1000) / 8;
    if (rng() % 3) in.n = static_cast<int64_t>(rng() % 50) - 25;
    if (rng() % 2) in.s = std::string(1, static_cast<char>('a' + rng() % 6));
    in.st = rng() % 3 ? "ok" : "failed";
    history.events.push_back(ToEvent(in));
    history.seqs.push_back(EventSeq(static_cast<int>(i % 3), static_cast<int64_t>(i)));
  }
  std::vector<size_t> order(history.events.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  SourceHistory shuffled;
  for (size_t i : order) {
    shuffled.events.push_back(history.events[i]);
    shuffled.seqs.push_back(history.seqs[i]);
  }
  // The compact history knows one entity more, without events: it gets no call.
  std::vector<std::string> entities = keys;
  entities.push_back("no-events");
  std::map<std::string, uint32_t> id;
  for (uint32_t e = 0; e < entities.size(); ++e) id[entities[e]] = e;
  CompactHistory compact(view, source, entities);
  // The same events added as backfill's spill holds them, already encoded whole.
  CompactHistory encoded(view, source, entities);
  // And borrowed from one buffer the caller keeps, as backfill's bucket file is: every
  // event is encoded first (the buffer does not move once the history refers to it).
  CompactHistory borrowed(view, source, entities);
  std::string buffer;
  std::vector<std::pair<size_t, size_t>> spans;
  std::string bytes;
  for (size_t i = 0; i < shuffled.events.size(); ++i) {
    const Event& ev = shuffled.events[i];
    const uint32_t entity = id.at(EncodeEntityKey(ev.fields, view.key_indexes));
    compact.Add(entity, ev, shuffled.seqs[i]);
    bytes.clear();
    EncodeEvent(ev, &bytes);
    encoded.AddEncoded(entity, bytes, shuffled.seqs[i]);
    spans.emplace_back(buffer.size(), bytes.size());
    buffer += bytes;
  }
  for (size_t i = 0; i < shuffled.events.size(); ++i) {
    const uint32_t entity = id.at(EncodeEntityKey(shuffled.events[i].fields, view.key_indexes));
    borrowed.AddBorrowed(entity, std::string_view(buffer).substr(spans[i].first, spans[i].second),
                         shuffled.seqs[i]);
  }
  EXPECT_EQ(borrowed.events(), compact.events());
  EXPECT_EQ(compact.events(), static_cast<int64_t>(shuffled.events.size()));
  EXPECT_EQ(encoded.events(), compact.events());

  for (int threads : {1, 2}) {
    for (TimestampMs bound : {TimestampMs{50000}, kMaxTimestamp}) {
      Rows want = Collect([&](const auto& fn) { ReplayView(view, history, bound, threads, fn); });
      Rows got = Collect([&](const auto& fn) { ReplayView(view, compact, bound, threads, fn); });
      ASSERT_EQ(want.size(), keys.size());
      EXPECT_EQ(got.count("no-events"), 0u);
      EXPECT_TRUE(got == want) << "threads " << threads << ", bound " << bound;
      Rows from_encoded = Collect([&](const auto& fn) { ReplayView(view, encoded, bound, threads, fn); });
      EXPECT_TRUE(from_encoded == want) << "AddEncoded, threads " << threads << ", bound " << bound;
      Rows from_borrowed = Collect([&](const auto& fn) { ReplayView(view, borrowed, bound, threads, fn); });
      EXPECT_TRUE(from_borrowed == want) << "AddBorrowed, threads " << threads << ", bound " << bound;
      if (threads > 1) continue;
      // VisitView: the same rows, entity after entity (each entity's rows together, in ts
      // order), copied here from the window's own row.
      Rows visited;
      std::string current;
      VisitView(view, borrowed, bound, [&](const ChangelogRow& r) {
        if (r.entity != current) {
          EXPECT_EQ(visited.count(r.entity), 0u) << "rows of " << r.entity << " apart";
          current = r.entity;
        }
        visited[r.entity].push_back(r);
      });
      Rows want_visited = want;  // an entity without rows before the bound is not seen
      std::erase_if(want_visited, [](const auto& kv) { return kv.second.empty(); });
      EXPECT_TRUE(visited == want_visited) << "VisitView, bound " << bound;
    }
  }
}

}  // namespace batch_replay_test
}  // namespace vigil
