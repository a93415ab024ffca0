#include "compute/batch_replay.h"

#include <thread>
#include <unordered_map>

#include "compute/view_engine.h"
#include "schema/row_codec.h"

namespace vigil {

Result<SourceHistory> ReadSourceHistory(const SourceDef& source, Log* log) {
  SourceHistory h;
  VIGIL_ASSIGN_OR_RETURN(auto reader, log->OpenReader(source.name));
  Watermark wm(source.allowed_lateness);
  LogRecord rec;
  Event ev;
  for (;;) {
    VIGIL_ASSIGN_OR_RETURN(bool more, reader->Next(&rec));
    if (!more) break;
    VIGIL_RETURN_IF_ERROR(DecodeEvent(rec.payload, source.schema, &ev)
                              .WithContext("topic " + source.name + " offset " + std::to_string(rec.offset)));
    if (!wm.Observe(ev.ts)) {
      ++h.late;
      continue;
    }
    h.events.push_back(std::move(ev));
    h.seqs.push_back(static_cast<uint64_t>(rec.offset));
  }
  h.watermark = wm.current();
  return h;
}

void ReplayView(
    const FeatureViewDef& view, const SourceHistory& history, TimestampMs bound, int threads,
    const std::function<void(const std::string& key, std::vector<ChangelogRow>&& rows)>& on_entity) {
  // Group events by entity, keeping log order within each entity.
  std::unordered_map<std::string, uint32_t> index;
  std::vector<std::string> keys;
  std::vector<std::vector<uint32_t>> members;
  for (uint32_t i = 0; i < history.events.size(); ++i) {
    std::string key = EncodeEntityKey(history.events[i].fields, view.key_indexes);
    auto [it, inserted] = index.emplace(std::move(key), static_cast<uint32_t>(keys.size()));
    if (inserted) {
      keys.push_back(it->first);
      members.emplace_back();
    }
    members[it->second].push_back(i);
  }
  ViewPlan plan(view);
  auto work = [&](size_t begin, size_t step) {
    Row inputs;
    for (size_t e = begin; e < keys.size(); e += step) {
      EntityWindow window(&plan, keys[e]);
      for (uint32_t i : members[e]) {
        plan.Extract(history.events[i], &inputs);
        window.Add(history.events[i].ts, history.seqs[i], inputs);
      }
      std::vector<ChangelogRow> rows;
      window.AdvanceTo(bound, [&](ChangelogRow&& r) { rows.push_back(std::move(r)); });
      on_entity(keys[e], std::move(rows));
    }
  };
  threads = std::max(1, threads);
  if (threads == 1 || keys.size() < 1024) {
    work(0, 1);
    return;
  }
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back(work, static_cast<size_t>(t), static_cast<size_t>(threads));
  for (auto& t : pool) t.join();
}

}  // namespace vigil
