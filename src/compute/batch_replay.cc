#include "compute/batch_replay.h"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "compute/stream_worker.h"
#include "compute/view_engine.h"
#include "schema/row_codec.h"
#include "spec/expr.h"

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
      return Status::Corruption("history of " + source.name + ":" + std::to_string(p) +
                                " has a gap: offsets " + std::to_string(from[p]) + ".." +
                                std::to_string(starts[p] - 1) + " are neither archived nor in the live log");
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
  VIGIL_RETURN_IF_ERROR(ScanSourceHistory(
      source, log,
      [&h](Event&& ev, uint64_t seq) {
        h.events.push_back(std::move(ev));
        h.seqs.push_back(seq);
        return Status::OK();
      },
      &h));
  return h;
}

Status ScanSourceHistory(const SourceDef& source, Log* log,
                         const std::function<Status(Event&&, uint64_t seq)>& on_event, SourceHistory* h) {
  std::unordered_set<uint64_t> recorded;
  VIGIL_RETURN_IF_ERROR(ReadRecordedDecisions(log, DeadLetterTopic(source.name), &recorded));
  std::vector<TimestampMs> max_ts;
  VIGIL_RETURN_IF_ERROR(ReadLiveHistory(source, log, {}, recorded, &max_ts, h, on_event));
  FinishHistory(source, max_ts, h);
  return Status::OK();
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
  for (auto& [key, m] : members) {
    std::sort(m.begin(), m.end(), [&](uint32_t a, uint32_t b) {
      const auto& ea = history.events[a];
      const auto& eb = history.events[b];
      return ea.ts != eb.ts ? ea.ts < eb.ts : history.seqs[a] < history.seqs[b];
    });
    EntityWindow window(&plan, key);
    for (uint32_t i : m) window.AddEvent(history.events[i], history.seqs[i]);
    window.EmitUntil(bound, [](const ChangelogRow&) {});
    if (!window.Idle()) fn(std::move(window));
  }
}

namespace {

// Replays one entity's events (given in any order), visiting its changelog rows before
// `bound` in ts order; each row is the window's own, valid only during the call.
void VisitEntity(const ViewPlan& plan, const std::string& key,
                 std::vector<std::pair<const Event*, uint64_t>>* events, TimestampMs bound,
                 const std::function<void(const ChangelogRow&)>& visit) {
  // Partitions interleave in no promised order: put the entity's events in (ts, seq)
  // order so each Add appends.
  std::sort(events->begin(), events->end(), [](const auto& a, const auto& b) {
    return a.first->ts != b.first->ts ? a.first->ts < b.first->ts : a.second < b.second;
  });
  EntityWindow window(&plan, key);
  for (const auto& [ev, seq] : *events) window.AddEvent(*ev, seq);
  window.EmitUntil(bound, visit);
}

// VisitEntity, the rows copied and handed to on_entity together.
void ReplayEntity(
    const ViewPlan& plan, const std::string& key, std::vector<std::pair<const Event*, uint64_t>>* events,
    TimestampMs bound,
    const std::function<void(const std::string& key, std::vector<ChangelogRow>&& rows)>& on_entity) {
  std::vector<ChangelogRow> rows;
  VisitEntity(plan, key, events, bound, [&rows](const ChangelogRow& r) { rows.push_back(r); });
  on_entity(key, std::move(rows));
}

// Runs work(begin, step) over `threads` threads, or inline for few items.
void RunSplit(int threads, size_t items, const std::function<void(size_t, size_t)>& work) {
  threads = std::max(1, threads);
  if (threads == 1 || items < 1024) {
    work(0, 1);
    return;
  }
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back(work, static_cast<size_t>(t), static_cast<size_t>(threads));
  for (auto& t : pool) t.join();
}

constexpr size_t kCompactBlockBytes = size_t{64} << 20;

}  // namespace

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
  RunSplit(threads, keys.size(), [&](size_t begin, size_t step) {
    std::vector<std::pair<const Event*, uint64_t>> events;
    for (size_t e = begin; e < keys.size(); e += step) {
      events.clear();
      for (uint32_t i : members[e]) events.emplace_back(&history.events[i], history.seqs[i]);
      ReplayEntity(plan, keys[e], &events, bound, on_entity);
    }
  });
}

std::vector<int> ViewInputFields(const FeatureViewDef& view) {
  std::vector<int> used = view.key_indexes;
  for (const auto& f : view.features) {
    if (f.field_index >= 0) used.push_back(f.field_index);
    if (f.where_expr) used.insert(used.end(), f.where_expr->inputs().begin(), f.where_expr->inputs().end());
  }
  std::sort(used.begin(), used.end());
  used.erase(std::unique(used.begin(), used.end()), used.end());
  return used;
}

CompactHistory::CompactHistory(const FeatureViewDef& view, const SourceDef& source,
                               const std::vector<std::string>& entities)
    : schema_(&source.schema), keys_(entities), used_(ViewInputFields(view)) {}

void CompactHistory::Clear() {
  refs_.clear();
  blocks_.clear();
}

void CompactHistory::Add(uint32_t entity, const Event& ev, uint64_t seq) {
  scratch_.ts = ev.ts;
  scratch_.fields.assign(ev.fields.size(), Value::Null());
  for (int f : used_) {
    if (static_cast<size_t>(f) < ev.fields.size()) scratch_.fields[f] = ev.fields[f];
  }
  encoded_.clear();
  EncodeEvent(scratch_, &encoded_);
  AddEncoded(entity, encoded_, seq);
}

void CompactHistory::AddEncoded(uint32_t entity, std::string_view encoded, uint64_t seq) {
  if (blocks_.empty() || blocks_.back().size() + encoded.size() > blocks_.back().capacity()) {
    blocks_.emplace_back();
    blocks_.back().reserve(std::max(kCompactBlockBytes, encoded.size()));
  }
  std::string& block = blocks_.back();
  const size_t at = block.size();
  block.append(encoded);  // within the capacity: block.data() does not move
  AddBorrowed(entity, std::string_view(block.data() + at, encoded.size()), seq);
}

void CompactHistory::AddBorrowed(uint32_t entity, std::string_view encoded, uint64_t seq) {
  refs_.push_back(Ref{seq, encoded.data(), entity, static_cast<uint32_t>(encoded.size())});
}

void CompactHistory::ForEachEntity(int threads, const EntityFn& fn) const {
  // Each entity's events, in the order added: a counting sort of the refs by entity.
  const auto& refs = refs_;
  const size_t entities = keys_.size();
  std::vector<uint32_t> start(entities + 1, 0), members(refs.size());
  for (const auto& r : refs) ++start[r.entity + 1];
  for (size_t e = 0; e < entities; ++e) start[e + 1] += start[e];
  {
    std::vector<uint32_t> next(start.begin(), start.end() - 1);
    for (uint32_t i = 0; i < refs.size(); ++i) members[next[refs[i].entity]++] = i;
  }
  // The events of entity after entity lie anywhere in the history's memory (a spill holds
  // them in arrival order): the ref of the event 16 places ahead in `members`, and the
  // bytes of the one 8 ahead (its ref asked for 8 events ago), are asked for early so
  // that the reads overlap. One thread walks `members` in order; with more, the places
  // ahead may be another thread's, which costs a wasted fetch.
  constexpr size_t kRefsAhead = 16, kBytesAhead = 8;
  const size_t total = members.size();
  RunSplit(threads, entities, [&](size_t begin, size_t step) {
    std::vector<Event> decoded;
    std::vector<std::pair<const Event*, uint64_t>> events;
    for (size_t e = begin; e < entities; e += step) {
      const size_t n = start[e + 1] - start[e];
      if (n == 0) continue;
      if (decoded.size() < n) decoded.resize(n);
      events.clear();
      for (size_t j = 0; j < n; ++j) {
        const size_t at = start[e] + j;
        if (at + kRefsAhead < total) __builtin_prefetch(&refs[members[at + kRefsAhead]]);
        if (at + kBytesAhead < total) __builtin_prefetch(refs[members[at + kBytesAhead]].data);
        const auto& r = refs[members[at]];
        std::string_view bytes(r.data, r.size);
        // Our own encoding of an event of this schema: it decodes.
        Status st = DecodeEvent(bytes, *schema_, &decoded[j]);
        assert(st.ok());
        st.IgnoreError();
        events.emplace_back(&decoded[j], r.seq);
      }
      fn(keys_[e], &events);
    }
  });
}

void ReplayView(
    const FeatureViewDef& view, const CompactHistory& history, TimestampMs bound, int threads,
    const std::function<void(const std::string& key, std::vector<ChangelogRow>&& rows)>& on_entity) {
  ViewPlan plan(view);
  history.ForEachEntity(threads, [&](const std::string& key, auto* events) {
    ReplayEntity(plan, key, events, bound, on_entity);
  });
}

void VisitView(const FeatureViewDef& view, const CompactHistory& history, TimestampMs bound,
               const std::function<void(const ChangelogRow&)>& visit) {
  ViewPlan plan(view);
  history.ForEachEntity(
      1, [&](const std::string& key, auto* events) { VisitEntity(plan, key, events, bound, visit); });
}

}  // namespace vigil
