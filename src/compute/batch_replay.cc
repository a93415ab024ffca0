#include "compute/batch_replay.h"

#include <algorithm>
#include <charconv>
#include <thread>
#include <unordered_set>
#include <unordered_map>

#include "compute/stream_worker.h"
#include "compute/view_engine.h"
#include "schema/row_codec.h"

namespace vigil {

bool ParseDecisionKey(std::string_view key, int* partition, int64_t* offset) {
  size_t colon = key.find(':');
  if (colon == std::string_view::npos) return false;
  std::string_view kind = key.substr(0, colon), rest = key.substr(colon + 1);
  if (kind != "late" && kind != "undecodable") return false;
  size_t colon2 = rest.find(':');
  if (colon2 == std::string_view::npos) return false;
  auto r1 = std::from_chars(rest.data(), rest.data() + colon2, *partition);
  auto r2 = std::from_chars(rest.data() + colon2 + 1, rest.data() + rest.size(), *offset);
  return r1.ec == std::errc() && r2.ec == std::errc() && r2.ptr == rest.data() + rest.size();
}

// Records the stream recorded as late or undecodable in a dead-letter topic, keyed
// "late:<p>:<offset>" / "undecodable:<p>:<offset>" (ingest rejections never reached the
// source topic and are not keyed so).
Status ReadRecordedDecisions(Log* log, const std::string& topic, std::unordered_set<uint64_t>* recorded) {
  auto parts = log->Partitions(topic);
  if (!parts.ok() && parts.status().IsNotFound()) return Status::OK();
  VIGIL_ASSIGN_OR_RETURN(auto dlq, log->OpenReader(topic));
  LogRecord rec;
  for (;;) {
    VIGIL_ASSIGN_OR_RETURN(bool more, dlq->Next(&rec));
    if (!more) return Status::OK();
    int partition = 0;
    int64_t offset = 0;
    if (ParseDecisionKey(rec.key, &partition, &offset)) recorded->insert(EventSeq(partition, offset));
  }
}

Status ReadLiveHistory(const SourceDef& source, Log* log, const std::vector<int64_t>& from,
                       const std::unordered_set<uint64_t>& recorded, std::vector<TimestampMs>* max_ts,
                       SourceHistory* h) {
  return ReadLiveHistory(source, log, from, recorded, max_ts, h, [h](Event&& ev, uint64_t seq) {
    h->events.push_back(std::move(ev));
    h->seqs.push_back(seq);
    return Status::OK();
  });
}

Status ReadLiveHistory(const SourceDef& source, Log* log, const std::vector<int64_t>& from,
                       const std::unordered_set<uint64_t>& recorded, std::vector<TimestampMs>* max_ts,
                       SourceHistory* h, const std::function<Status(Event&&, uint64_t seq)>& on_event) {
  VIGIL_ASSIGN_OR_RETURN(auto reader, log->OpenReader(source.name));
  const int parts = reader->partitions();
  if (!from.empty() && static_cast<int>(from.size()) != parts) {
    return Status::Corruption("the archive of " + source.name + " has " + std::to_string(from.size()) +
                              " partitions, the live log " + std::to_string(parts));
  }
  max_ts->resize(static_cast<size_t>(parts), kMinTimestamp);
  VIGIL_ASSIGN_OR_RETURN(auto starts, log->StartOffsets(source.name));
  for (int p = 0; p < parts && !from.empty(); ++p) {
    if (from[p] < starts[p]) {
      return Status::Corruption("history of " + source.name + ":" + std::to_string(p) + " has a gap: offsets " +
                                std::to_string(from[p]) + ".." + std::to_string(starts[p] - 1) +
                                " are neither archived nor in the live log");
    }
    VIGIL_RETURN_IF_ERROR(reader->Seek(p, from[p]));
  }
  Event ev;
  LogRecord rec;
  for (;;) {
    VIGIL_ASSIGN_OR_RETURN(bool more, reader->Next(&rec));
    if (!more) break;
    uint64_t seq = EventSeq(rec.partition, rec.offset);
    if (!DecodeEvent(rec.payload, source.schema, &ev).ok()) {
      ++h->rejected;
      continue;
    }
    TimestampMs& mx = (*max_ts)[static_cast<size_t>(rec.partition)];
    bool late = (mx != kMinTimestamp && ev.ts < mx - source.allowed_lateness) || recorded.count(seq) > 0;
    if (late) {
      ++h->late;
      continue;
    }
    mx = std::max(mx, ev.ts);
    VIGIL_RETURN_IF_ERROR(on_event(std::move(ev), seq));
  }
  return Status::OK();
}

void FinishHistory(const SourceDef& source, const std::vector<TimestampMs>& max_ts, SourceHistory* h) {
  TimestampMs w = kMaxTimestamp;
  for (TimestampMs mx : max_ts) {
    if (mx != kMinTimestamp) w = std::min(w, mx - source.allowed_lateness);
  }
  h->watermark = w == kMaxTimestamp ? kMinTimestamp : w;
}

Result<SourceHistory> ReadSourceHistory(const SourceDef& source, Log* log) {
  SourceHistory h;
  std::unordered_set<uint64_t> recorded;
  VIGIL_RETURN_IF_ERROR(ReadRecordedDecisions(log, DeadLetterTopic(source.name), &recorded));
  std::vector<TimestampMs> max_ts;
  VIGIL_RETURN_IF_ERROR(ReadLiveHistory(source, log, {}, recorded, &max_ts, &h));
  FinishHistory(source, max_ts, &h);
  return h;
}

void BuildWindows(const ViewPlan& plan, const SourceHistory& history, const std::vector<int64_t>& until,
                  TimestampMs bound, const std::function<void(EntityWindow&&)>& fn) {
  std::unordered_map<std::string, std::vector<uint32_t>> members;
  for (uint32_t i = 0; i < history.events.size(); ++i) {
    uint64_t seq = history.seqs[i];
    size_t p = static_cast<size_t>(seq >> 40);
    int64_t off = static_cast<int64_t>(seq & ((uint64_t{1} << 40) - 1));
    if (!until.empty() && (p >= until.size() || off >= until[p])) continue;
    members[EncodeEntityKey(history.events[i].fields, plan.view().key_indexes)].push_back(i);
  }
  Row inputs;
  for (auto& [key, m] : members) {
    std::sort(m.begin(), m.end(), [&](uint32_t a, uint32_t b) {
      const auto& ea = history.events[a];
      const auto& eb = history.events[b];
      return ea.ts != eb.ts ? ea.ts < eb.ts : history.seqs[a] < history.seqs[b];
    });
    EntityWindow window(&plan, key);
    for (uint32_t i : m) {
      plan.Extract(history.events[i], &inputs);
      window.Add(history.events[i].ts, history.seqs[i], inputs);
    }
    window.EmitUntil(bound, [](const ChangelogRow&) {});
    if (!window.Idle()) fn(std::move(window));
  }
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
  auto work = [&](size_t begin, size_t step) mutable {
    Row inputs;
    for (size_t e = begin; e < keys.size(); e += step) {
      EntityWindow window(&plan, keys[e]);
      // Partitions interleave in no promised order: put the entity's events in (ts, seq)
      // order so each Add appends.
      auto& m = members[e];
      std::sort(m.begin(), m.end(), [&](uint32_t a, uint32_t b) {
        const auto& ea = history.events[a];
        const auto& eb = history.events[b];
        return ea.ts != eb.ts ? ea.ts < eb.ts : history.seqs[a] < history.seqs[b];
      });
      for (uint32_t i : m) {
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
