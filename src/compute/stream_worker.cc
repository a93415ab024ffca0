#include "compute/stream_worker.h"

#include <charconv>
#include <chrono>
#include <span>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "common/files.h"
#include "common/metrics.h"
#include "compute/checkpoint_store.h"
#include "compute/view_engine.h"
#include "schema/row_codec.h"

namespace vigil {

std::string ChangelogTopic(const FeatureViewDef& view) {
  return "changelog." + view.name + (view.version > 1 ? ".v" + std::to_string(view.version) : "");
}
std::string DeadLetterTopic(const std::string& source) { return "dlq." + source; }

void EncodeWatermarkMarker(const WatermarkMarker& m, std::string* out) {
  out->append("vigil.watermark 1\n");
  out->append(std::to_string(m.watermark));
  out->append(m.complete ? "\ncomplete 1\n" : "\ncomplete 0\n");
  for (const auto& [topic, from] : m.topic_from) {
    out->append("from " + topic + " " + std::to_string(from) + "\n");
  }
  for (const auto& [topic, ends] : m.changelog_ends) {
    out->append(topic);
    for (size_t p = 0; p < ends.size(); ++p) {
      out->push_back(p == 0 ? ' ' : ',');
      out->append(std::to_string(ends[p]));
    }
    out->push_back('\n');
  }
}

Result<WatermarkMarker> DecodeWatermarkMarker(std::string_view source, std::string_view payload) {
  WatermarkMarker m;
  m.source = std::string(source);
  auto bad = [&] { return Status::Corruption("malformed watermark marker of " + m.source); };
  auto line = [&payload](std::string_view* out) {
    size_t nl = payload.find('\n');
    if (nl == std::string_view::npos) return false;
    *out = payload.substr(0, nl);
    payload.remove_prefix(nl + 1);
    return true;
  };
  std::string_view l;
  if (!line(&l) || l != "vigil.watermark 1") return bad();
  if (!line(&l) || std::from_chars(l.data(), l.data() + l.size(), m.watermark).ec != std::errc()) return bad();
  while (line(&l)) {
    if (l == "complete 1" || l == "complete 0") {
      m.complete = l == "complete 1";
      continue;
    }
    if (l.substr(0, 5) == "from ") {
      std::string_view rest = l.substr(5);
      size_t sp = rest.rfind(' ');
      TimestampMs from = 0;
      if (sp == std::string_view::npos ||
          std::from_chars(rest.data() + sp + 1, rest.data() + rest.size(), from).ec != std::errc()) {
        return bad();
      }
      m.topic_from[std::string(rest.substr(0, sp))] = from;
      continue;
    }
    size_t sp = l.find(' ');
    std::vector<int64_t> ends;
    std::string_view rest = sp == std::string_view::npos ? std::string_view() : l.substr(sp + 1);
    while (!rest.empty()) {
      size_t c = rest.find(',');
      std::string_view item = rest.substr(0, c);
      int64_t e = 0;
      if (std::from_chars(item.data(), item.data() + item.size(), e).ec != std::errc()) return bad();
      ends.push_back(e);
      rest = c == std::string_view::npos ? std::string_view() : rest.substr(c + 1);
    }
    m.changelog_ends[std::string(l.substr(0, sp))] = std::move(ends);
  }
  return m;
}
std::string LateEventKey(int partition, int64_t offset) {
  return "late:" + std::to_string(partition) + ":" + std::to_string(offset);
}

std::string SourceRecordKey(const SourceDef& source, const Row& fields) {
  return EncodeEntityKey(fields, source.partition_indexes);
}

std::string SourcesFingerprint(const Definitions& defs) {
  Definitions sources_only;
  sources_only.sources = defs.sources;
  return DefinitionsFingerprint(sources_only);
}

std::string DefinitionsFingerprint(const Definitions& defs) {
  std::string canon;
  auto add = [&canon](std::string_view s) {
    canon.append(s);
    canon.push_back('\x1e');
  };
  for (const auto& [name, s] : defs.sources) {
    add("source");
    add(name);
    add(s.ts_field);
    add(std::to_string(s.allowed_lateness));
    for (const auto& f : s.schema.fields()) {
      add(f.name);
      add(std::to_string(static_cast<int>(f.type)));
    }
    for (const auto& p : s.partition_by) add(p);
  }
  for (const auto& [name, v] : defs.views) {
    add("view");
    add(name);
    add(v.entity);
    add(v.source);
    add(std::to_string(v.ttl));
    for (int k : v.key_indexes) add(std::to_string(k));
    for (const auto& f : v.features) {
      add(f.name);
      add(std::to_string(static_cast<int>(f.agg)));
      add(f.field);
      add(f.window ? std::to_string(*f.window) : "life");
      add(f.where);
    }
  }
  return Hex64(Fnv1a64(canon));
}

namespace {

constexpr uint8_t kCheckpointVersion = 1;

TimestampMs Now() { return WallClockMs(); }

// Reads `topic` from `from` (per partition) to its current end.
Status ReadTail(Log* log, const std::string& topic, const std::vector<int64_t>& from,
                const std::function<Status(const LogRecord&)>& fn) {
  VIGIL_ASSIGN_OR_RETURN(auto reader, log->OpenReader(topic));
  for (int p = 0; p < reader->partitions() && p < static_cast<int>(from.size()); ++p) {
    VIGIL_RETURN_IF_ERROR(reader->Seek(p, from[p]));
  }
  LogRecord rec;
  for (;;) {
    VIGIL_ASSIGN_OR_RETURN(bool more, reader->Next(&rec));
    if (!more) return Status::OK();
    VIGIL_RETURN_IF_ERROR(fn(rec));
  }
}

}  // namespace

// The compute of one source: its partitions' watermark state, the engines of its views
// and their outputs.
class StreamWorker::SourceTask {
 public:
  SourceTask(const Definitions& defs, const SourceDef& source, Log* log, const StreamOptions& options)
      : defs_(defs), source_(source), log_(log), options_(options) {}

  // `views_known`: the checkpoint holds per-view fingerprints; otherwise (a checkpoint
  // of an older vigil) `legacy_same` tells whether all definitions were unchanged.
  Status Open(CheckpointStore* store, bool legacy_same) {
    VIGIL_ASSIGN_OR_RETURN(reader_, log_->OpenReader(source_.name));
    parts_.resize(static_cast<size_t>(reader_->partitions()));
    for (const auto* v : defs_.ViewsOf(source_.name)) {
      Output o;
      o.topic = ChangelogTopic(*v);
      o.fingerprint = ViewFingerprint(defs_, *v);
      o.engine = std::make_unique<ViewEngine>(*v);
      o.engine->TrackChanges();
      VIGIL_ASSIGN_OR_RETURN(o.writer, log_->OpenWriter(o.topic));
      outs_.push_back(std::move(o));
    }
    if (outs_.empty()) return Status::OK();
    {
      // Created now, so that its end offsets can be checkpointed; written only briefly
      // at each flush, since `vigil ingest` writes rejections to it too.
      VIGIL_ASSIGN_OR_RETURN(auto dlq, OpenSharedWriter(log_, DeadLetterTopic(source_.name), 60000));
    }

    VIGIL_ASSIGN_OR_RETURN(auto meta, store->GetMeta("source/" + source_.name));
    if (meta) {
      VIGIL_RETURN_IF_ERROR(DecodeCheckpoint(*meta).WithContext("checkpoint of source " + source_.name));
      for (auto& o : outs_) {
        const ViewPlan* plan = &o.engine->plan();
        const std::string& view = plan->view().name;
        VIGIL_ASSIGN_OR_RETURN(auto saved, store->GetMeta("view/" + view));
        o.rebuild = saved ? *saved != o.fingerprint : !legacy_same;
        VIGIL_ASSIGN_OR_RETURN(auto from, store->GetMeta("view_from/" + view));
        if (from && !o.rebuild) o.from = std::stoll(*from);
        VIGIL_RETURN_IF_ERROR(store->ScanStates(view, [&](std::string_view key, std::string_view bytes) {
          if (o.rebuild) {  // the old definition's state: deleted by the next checkpoint
            stale_states_.emplace_back(view, std::string(key));
            return Status::OK();
          }
          VIGIL_ASSIGN_OR_RETURN(EntityWindow w, EntityWindow::Restore(plan, std::string(key), bytes));
          o.engine->Restore(std::move(w));
          return Status::OK();
        }));
      }
      for (size_t p = 0; p < parts_.size(); ++p) VIGIL_RETURN_IF_ERROR(reader_->Seek(static_cast<int>(p), parts_[p].next));
      VIGIL_RETURN_IF_ERROR(RebuildViews());
      VIGIL_RETURN_IF_ERROR(LoadWrittenTails());
    }
    return Status::OK();
  }

  // True if Open rebuilt a view: the worker checkpoints at once.
  bool rebuilt() const {
    return std::any_of(outs_.begin(), outs_.end(), [](const Output& o) { return o.rebuild; });
  }

  // Window state for views added or changed since the checkpoint, from the history
  // below the checkpointed positions, advanced to the emitted watermark (the rows before
  // it are not emitted: they are backfill's). Their topics are read from their current
  // ends on, as if checkpointed there.
  Status RebuildViews() {
    if (!rebuilt()) return Status::OK();
    std::vector<int64_t> until;
    for (const auto& p : parts_) until.push_back(p.next);
    SourceHistory history;
    if (options_.history) {
      VIGIL_ASSIGN_OR_RETURN(history, options_.history(source_));
    } else {
      VIGIL_ASSIGN_OR_RETURN(auto starts, log_->StartOffsets(source_.name));
      for (int64_t s : starts) {
        if (s != 0) {
          return Status::InvalidArgument(
              "a view of source " + source_.name +
              " was added or changed since the stream's checkpoint, and the log no longer holds the source's "
              "whole history to rebuild its state from (no archive reader given)");
        }
      }
      VIGIL_ASSIGN_OR_RETURN(history, ReadSourceHistory(source_, log_));
    }
    for (auto& o : outs_) {
      if (!o.rebuild) continue;
      BuildWindows(o.engine->plan(), history, until, emitted_,
                   [&](EntityWindow&& w) { o.engine->Restore(std::move(w), /*dirty=*/true); });
      o.from = emitted_;
      VIGIL_ASSIGN_OR_RETURN(o.checkpointed_ends, log_->EndOffsets(o.topic));
    }
    return Status::OK();
  }

  bool has_views() const { return !outs_.empty(); }
  const std::string& name() const { return source_.name; }
  TimestampMs emitted() const { return emitted_; }
  bool caught_up() const { return caught_up_; }

  struct Counts {
    int64_t in = 0, late = 0, rejected = 0, rows = 0;
  };

  // Reads up to `max` records. Counts go to *c.
  Status Poll(int64_t max, Counts* c) {
    TimestampMs wall = Now();
    caught_up_ = false;
    int64_t n = 0;
    for (; n < max; ++n) {
      VIGIL_ASSIGN_OR_RETURN(bool more, reader_->Next(&rec_));
      if (!more) {
        caught_up_ = true;
        break;
      }
      last_append_ = rec_.append_time;
      Partition& part = parts_[static_cast<size_t>(rec_.partition)];
      part.next = rec_.offset + 1;
      part.last_record_wall = wall;
      ++c->in;
      if (batched_ == batch_.size()) {
        batch_.emplace_back();
        batch_seqs_.push_back(0);
      }
      Event& ev = batch_[batched_];  // decoded in place: its fields' buffers are reused
      Status decoded = DecodeEvent(rec_.payload, source_.schema, &ev);
      if (!decoded.ok()) {
        // Not an event of this schema (a foreign producer, or a schema change): the
        // record goes to the dead-letter topic with its reason and compute goes on.
        ++c->rejected;
        VIGIL_RETURN_IF_ERROR(WriteDeadLetter("undecodable", decoded.message()));
        continue;
      }
      TimestampMs wp = part.watermark(source_.allowed_lateness);
      TimestampMs bar = std::max(wp, floor_);
      if (ev.ts < bar) {
        ++c->late;
        VIGIL_RETURN_IF_ERROR(WriteDeadLetter("late", "late: ts " + std::to_string(ev.ts) + " < watermark " +
                                                          std::to_string(bar) + " (allowed_lateness " +
                                                          FormatDuration(source_.allowed_lateness) + ")"));
        continue;
      }
      part.max_ts = std::max(part.max_ts, ev.ts);
      batch_seqs_[batched_++] = EventSeq(rec_.partition, rec_.offset);
      if (batched_ == kStreamAddBatch) AddBatched();
      // Advancing in steps of records rather than after each one lets every entity
      // process all its due instants at once, while its state is in cache.
      if (++since_advance_ >= kStreamAdvanceEvery) VIGIL_RETURN_IF_ERROR(Advance(&c->rows));
    }
    VIGIL_RETURN_IF_ERROR(Advance(&c->rows));
    return Flush(false);
  }

  Status Flush(bool sync) {
    for (auto& o : outs_) VIGIL_RETURN_IF_ERROR(o.writer->Flush(sync));
    if (dlq_pending_.empty()) return Status::OK();
    VIGIL_ASSIGN_OR_RETURN(auto dlq, OpenSharedWriter(log_, DeadLetterTopic(source_.name), 60000));
    for (const auto& [key, value] : dlq_pending_) VIGIL_RETURN_IF_ERROR(dlq->Append(key, value));
    VIGIL_RETURN_IF_ERROR(dlq->Flush(true));
    dlq_pending_.clear();
    return Status::OK();
  }

  // Adds this source's part of a checkpoint: the floor rises first (see the header), the
  // changed entities' state, positions and output ends. REQUIRES: outputs flushed.
  void AddToCheckpoint(CheckpointStore::Batch* batch, TimestampMs wall) {
    RaiseFloor(wall);
    for (const auto& [view, key] : stale_states_) batch->DeleteState(view, key);
    stale_states_.clear();
    for (const auto& o : outs_) {
      const std::string& view = o.engine->plan().view().name;
      batch->PutMeta("view/" + view, o.fingerprint);
      if (o.from != kMinTimestamp) batch->PutMeta("view_from/" + view, std::to_string(o.from));
    }
    for (auto& o : outs_) {
      const std::string& view = o.engine->plan().view().name;
      o.engine->TakeChanges([&](const std::string& key, const EntityWindow* w) {
        if (w == nullptr) {
          batch->DeleteState(view, key);
        } else {
          state_buf_.clear();
          w->Save(&state_buf_);
          batch->PutState(view, key, state_buf_);
        }
      });
    }
    batch->PutMeta("source/" + source_.name, EncodeCheckpoint());
  }

  // After the checkpoint is durable: emits what the (possibly raised) floor made final.
  Status AfterCheckpoint(int64_t* rows) {
    VIGIL_RETURN_IF_ERROR(Advance(rows));
    return Flush(false);
  }

  // The coverage marker of this source now: every row below emitted() is in the
  // changelog topics below their flushed ends. REQUIRES: outputs flushed.
  WatermarkMarker Marker() const {
    WatermarkMarker m;
    m.source = source_.name;
    m.watermark = emitted_;
    for (const auto& o : outs_) {
      m.changelog_ends[o.topic] = o.writer->FlushedEnds();
      if (o.from != kMinTimestamp) m.topic_from[o.topic] = o.from;
    }
    return m;
  }
  std::vector<int64_t> positions() const {
    std::vector<int64_t> v;
    for (const auto& p : parts_) v.push_back(p.next);
    return v;
  }

  // End offsets of the source's partitions minus positions: the consumer lag.
  int64_t Lag() {
    auto ends = log_->EndOffsets(source_.name);
    if (!ends.ok()) return 0;
    int64_t lag = 0;
    for (size_t p = 0; p < parts_.size() && p < ends->size(); ++p) lag += std::max<int64_t>(0, (*ends)[p] - parts_[p].next);
    return lag;
  }

 private:
  struct Partition {
    int64_t next = 0;                     // next offset to read
    TimestampMs max_ts = kMinTimestamp;   // highest accepted ts
    TimestampMs last_record_wall = 0;     // wall clock of the last record read (not persisted)
    TimestampMs watermark(DurationMs lateness) const {
      return max_ts == kMinTimestamp ? kMinTimestamp : max_ts - lateness;
    }
  };
  struct Output {
    std::string topic;
    std::unique_ptr<ViewEngine> engine;
    std::unique_ptr<TopicWriter> writer;
    std::vector<int64_t> checkpointed_ends;  // from the restored checkpoint
    std::string fingerprint;                 // ViewFingerprint of its definition
    bool rebuild = false;                    // added or changed since the checkpoint
    TimestampMs from = kMinTimestamp;        // the watermark its topic began at
    // Entity -> ts of its newest row already in the topic beyond the checkpoint (from
    // before a crash). An entry goes once passed.
    std::unordered_map<std::string, TimestampMs> written;
  };

  TimestampMs Bound() const {
    TimestampMs lo = kMaxTimestamp;
    for (const auto& p : parts_) lo = std::min(lo, p.watermark(source_.allowed_lateness));
    if (parts_.empty()) lo = kMinTimestamp;
    return std::max(lo, floor_);
  }

  // The floor may rise past partitions that are caught up and either never had data or
  // had none for idle_timeout; if every partition is so, to the highest ts + 1 ms.
  void RaiseFloor(TimestampMs wall) {
    auto ends = log_->EndOffsets(source_.name);
    if (!ends.ok() || ends->size() != parts_.size()) return;
    TimestampMs lo = kMaxTimestamp, hi = kMinTimestamp;
    bool any_data = false;
    for (size_t p = 0; p < parts_.size(); ++p) {
      const Partition& part = parts_[p];
      if (part.max_ts != kMinTimestamp) {
        any_data = true;
        hi = std::max(hi, part.max_ts);
      }
      bool caught_up = part.next >= (*ends)[p];
      bool holds;
      if (!caught_up) {
        holds = true;  // unread records may carry any ts
      } else if (part.max_ts == kMinTimestamp) {
        holds = false;  // nothing ever arrived
      } else {
        // Idle is measured from the last record read, or from when this run opened.
        TimestampMs active = std::max(part.last_record_wall, opened_wall_);
        holds = options_.idle_timeout <= 0 || wall - active < options_.idle_timeout;
      }
      if (holds) lo = std::min(lo, part.watermark(source_.allowed_lateness));
    }
    TimestampMs candidate;
    if (lo != kMaxTimestamp) {
      candidate = lo;
    } else if (any_data) {
      candidate = hi + 1;  // every partition idle: the last rows are final
    } else {
      return;
    }
    if (candidate > floor_) floor_ = candidate;
  }

  // Adds the batched events to every engine.
  void AddBatched() {
    const std::span<const Event> evs(batch_.data(), batched_);
    const std::span<const uint64_t> seqs(batch_seqs_.data(), batched_);
    for (auto& o : outs_) o.engine->AddBatch(evs, seqs);
    batched_ = 0;
  }

  // Adds the batched events, then emits every row before the bound.
  Status Advance(int64_t* rows) {
    AddBatched();
    since_advance_ = 0;
    Status status;
    TimestampMs bound = Bound();
    if (bound > emitted_) emitted_ = bound;
    for (auto& o : outs_) {
      o.engine->EmitUntil(bound, [&](const ChangelogRow& row) {
        if (!o.written.empty()) {
          auto it = o.written.find(row.entity);
          if (it != o.written.end()) {
            if (row.ts <= it->second) return;  // appended before a crash
            o.written.erase(it);
          }
        }
        payload_.clear();
        EncodeChangelogPayload(row, &payload_);
        Status s = o.writer->Append(row.entity, payload_, last_append_);
        if (!s.ok() && status.ok()) status = s;
        ++*rows;
      });
    }
    return status;
  }

  Status WriteDeadLetter(std::string_view kind, const std::string& reason) {
    std::string key = std::string(kind) + ":" + std::to_string(rec_.partition) + ":" + std::to_string(rec_.offset);
    if (!dlq_written_.empty() && dlq_written_.erase(key)) return Status::OK();  // before a crash
    std::string why = "{\"reason\":";
    AppendJsonString(reason, &why);
    why += ",\"source\":";
    AppendJsonString(source_.name, &why);
    why += ",\"partition\":" + std::to_string(rec_.partition) + ",\"offset\":" + std::to_string(rec_.offset) +
           ",\"event_hex\":\"";
    // The original record stays recoverable: its bytes, hex-encoded.
    AppendHex(rec_.payload, &why);
    why += "\"}";
    dlq_pending_.emplace_back(std::move(key), std::move(why));
    return Status::OK();
  }

  // The checkpoint record: version, floor, emitted, per partition (next, max_ts), per
  // output (topic, per partition end), the dead-letter topic's ends.
  std::string EncodeCheckpoint() {
    std::string out;
    out.push_back(static_cast<char>(kCheckpointVersion));
    PutZigZag(&out, floor_);
    PutZigZag(&out, emitted_);
    PutVarint64(&out, parts_.size());
    for (const auto& p : parts_) {
      PutVarint64(&out, static_cast<uint64_t>(p.next));
      PutZigZag(&out, p.max_ts);
    }
    auto put_ends = [&out](const std::string& topic, const std::vector<int64_t>& ends) {
      PutVarint64(&out, topic.size());
      out.append(topic);
      PutVarint64(&out, ends.size());
      for (int64_t e : ends) PutVarint64(&out, static_cast<uint64_t>(e));
    };
    PutVarint64(&out, outs_.size() + 1);
    for (const auto& o : outs_) put_ends(o.topic, o.writer->FlushedEnds());
    // Flushed before the checkpoint: every dead letter of ours is below these ends.
    auto dlq_ends = log_->EndOffsets(DeadLetterTopic(source_.name));
    put_ends(DeadLetterTopic(source_.name), dlq_ends.ok() ? *dlq_ends : std::vector<int64_t>());
    return out;
  }

  Status DecodeCheckpoint(std::string_view in) {
    if (in.empty() || static_cast<uint8_t>(in[0]) != kCheckpointVersion) {
      return Status::Corruption("unknown checkpoint format version");
    }
    in.remove_prefix(1);
    VIGIL_ASSIGN_OR_RETURN(floor_, GetZigZag(&in));
    VIGIL_ASSIGN_OR_RETURN(emitted_, GetZigZag(&in));
    VIGIL_ASSIGN_OR_RETURN(uint64_t np, GetVarint64(&in));
    if (np != parts_.size()) {
      return Status::InvalidArgument("the checkpoint has " + std::to_string(np) + " partitions of topic " +
                                     source_.name + ", the log " + std::to_string(parts_.size()));
    }
    for (auto& p : parts_) {
      VIGIL_ASSIGN_OR_RETURN(uint64_t next, GetVarint64(&in));
      VIGIL_ASSIGN_OR_RETURN(p.max_ts, GetZigZag(&in));
      p.next = static_cast<int64_t>(next);
    }
    VIGIL_ASSIGN_OR_RETURN(uint64_t nout, GetVarint64(&in));
    for (uint64_t i = 0; i < nout; ++i) {
      VIGIL_ASSIGN_OR_RETURN(uint64_t len, GetVarint64(&in));
      if (len > in.size()) return Status::Corruption("truncated checkpoint");
      std::string topic(in.substr(0, len));
      in.remove_prefix(len);
      VIGIL_ASSIGN_OR_RETURN(uint64_t ne, GetVarint64(&in));
      if (ne > in.size()) return Status::Corruption("truncated checkpoint");
      std::vector<int64_t> ends;
      for (uint64_t j = 0; j < ne; ++j) {
        VIGIL_ASSIGN_OR_RETURN(uint64_t e, GetVarint64(&in));
        ends.push_back(static_cast<int64_t>(e));
      }
      if (topic == DeadLetterTopic(source_.name)) dlq_checkpointed_ends_ = std::move(ends);
      for (auto& o : outs_) {
        if (o.topic == topic) o.checkpointed_ends = ends;
      }
    }
    return Status::OK();
  }

  // Reads what was appended after the restored checkpoint (see the header).
  Status LoadWrittenTails() {
    for (auto& o : outs_) {
      ChangelogRow row;
      VIGIL_RETURN_IF_ERROR(ReadTail(log_, o.topic, o.checkpointed_ends, [&](const LogRecord& rec) {
        VIGIL_RETURN_IF_ERROR(DecodeChangelogPayload(rec.payload, &row)
                                  .WithContext("topic " + o.topic + ":" + std::to_string(rec.partition) + ":" +
                                               std::to_string(rec.offset)));
        TimestampMs& ts = o.written.try_emplace(std::string(rec.key), kMinTimestamp).first->second;
        ts = std::max(ts, row.ts);
        return Status::OK();
      }));
    }
    return ReadTail(log_, DeadLetterTopic(source_.name), dlq_checkpointed_ends_, [&](const LogRecord& rec) {
      dlq_written_.emplace(rec.key);
      return Status::OK();
    });
  }

  const Definitions& defs_;
  const SourceDef& source_;
  Log* log_;
  const StreamOptions& options_;
  std::unique_ptr<TopicReader> reader_;
  std::vector<Partition> parts_;
  TimestampMs floor_ = kMinTimestamp;
  TimestampMs emitted_ = kMinTimestamp;
  TimestampMs opened_wall_ = Now();
  bool caught_up_ = false;
  std::vector<Output> outs_;
  std::vector<std::pair<std::string, std::string>> dlq_pending_;
  std::vector<int64_t> dlq_checkpointed_ends_;
  std::unordered_set<std::string> dlq_written_;
  std::vector<std::pair<std::string, std::string>> stale_states_;  // (view, key) to delete
  LogRecord rec_;
  // Accepted events not yet added to the engines, batch_[0..batched_) with their seqs;
  // the vectors keep their elements (and the fields' buffers) from batch to batch.
  std::vector<Event> batch_;
  std::vector<uint64_t> batch_seqs_;
  size_t batched_ = 0;
  TimestampMs last_append_ = -1;
  std::string payload_;
  std::string state_buf_;
  int64_t since_advance_ = 0;
};

// The worker's metrics (metrics.h): one set per source, updated after each poll and
// checkpoint from the polling thread.
struct StreamWorker::Probe {
  struct PerSource {
    Counter* in;
    Counter* late;
    Counter* undecodable;
    Counter* rows_out;
    Gauge* lag;
    Gauge* watermark_delay;
    Gauge* watermark;
  };
  Probe(MetricsRegistry& r, const std::vector<std::unique_ptr<SourceTask>>& tasks)
      : checkpoint_seconds(r.AddHistogram("vigil_stream_checkpoint_seconds",
                                          "Time to flush outputs and write one checkpoint of window state "
                                          "and offsets.",
                                          {}, kLatencyBucketsSeconds)),
        checkpoint_bytes(r.AddGauge("vigil_stream_checkpoint_bytes", "Bytes written by the last checkpoint.")) {
    for (const auto& t : tasks) {
      const std::string& s = t->name();
      sources.push_back(PerSource{
          &r.AddCounter("vigil_stream_records_in_total", "Records read from a source topic.", {{"topic", s}}),
          &r.AddCounter("vigil_stream_dead_letters_total",
                        "Source records sent to the dead-letter topic, by reason.",
                        {{"topic", s}, {"reason", "late"}}),
          &r.AddCounter("vigil_stream_dead_letters_total",
                        "Source records sent to the dead-letter topic, by reason.",
                        {{"topic", s}, {"reason", "undecodable"}}),
          &r.AddCounter("vigil_stream_records_out_total",
                        "Changelog rows appended, per source (all of its views' changelog topics).",
                        {{"source", s}}),
          &r.AddGauge("vigil_stream_consumer_lag_records",
                      "Records of a source topic not yet read (sum over partitions).", {{"topic", s}}),
          &r.AddGauge("vigil_stream_watermark_delay_seconds",
                      "Wall clock minus the source's emitted watermark (event time).", {{"source", s}}),
          &r.AddGauge("vigil_stream_watermark_timestamp_seconds",
                      "The source's emitted watermark, as Unix time.", {{"source", s}}),
      });
    }
  }
  Histogram& checkpoint_seconds;
  Gauge& checkpoint_bytes;
  std::vector<PerSource> sources;
};

Result<std::unique_ptr<StreamWorker>> StreamWorker::Open(const Definitions& defs, Log* log,
                                                         const StreamOptions& options) {
  if (options.state_dir.empty()) return Status::InvalidArgument("stream: no state directory");
  std::unique_ptr<StreamWorker> w(new StreamWorker());
  w->options_ = options;
  w->log_ = log;
  VIGIL_ASSIGN_OR_RETURN(w->store_, CheckpointStore::Open(options.state_dir));
  std::string fp = DefinitionsFingerprint(defs), sources_fp = SourcesFingerprint(defs);
  VIGIL_ASSIGN_OR_RETURN(auto saved, w->store_->GetMeta("definitions"));
  VIGIL_ASSIGN_OR_RETURN(auto saved_sources, w->store_->GetMeta("sources"));
  const bool legacy_same = !saved || *saved == fp;
  if ((saved_sources && *saved_sources != sources_fp) || (!saved_sources && !legacy_same)) {
    return Status::InvalidArgument("the sources' definitions (schema, lateness, partitioning) changed since the "
                                   "stream state in " + options.state_dir +
                                   " was checkpointed; its positions and window state no longer match them. "
                                   "Remove that directory to recompute every view from the log, and backfill "
                                   "what the log no longer holds");
  }
  for (const auto& [name, source] : defs.sources) {
    auto task = std::make_unique<SourceTask>(defs, source, log, w->options_);
    VIGIL_RETURN_IF_ERROR(task->Open(w->store_.get(), legacy_same));
    if (task->has_views()) w->tasks_.push_back(std::move(task));
  }
  {
    CheckpointStore::Batch batch;
    batch.PutMeta("definitions", fp);
    batch.PutMeta("sources", sources_fp);
    // Whether each source's state begins with its whole history (WatermarkMarker),
    // decided when the source's state begins.
    for (auto& t : w->tasks_) {
      VIGIL_ASSIGN_OR_RETURN(auto known, w->store_->GetMeta("complete/" + t->name()));
      if (known) continue;
      VIGIL_ASSIGN_OR_RETURN(auto starts, log->StartOffsets(t->name()));
      bool whole = std::all_of(starts.begin(), starts.end(), [](int64_t s) { return s == 0; });
      batch.PutMeta("complete/" + t->name(), whole ? "1" : "0");
    }
    VIGIL_RETURN_IF_ERROR(w->store_->Commit(&batch));
  }
  for (auto& t : w->tasks_) {
    VIGIL_ASSIGN_OR_RETURN(auto whole, w->store_->GetMeta("complete/" + t->name()));
    if (whole && *whole == "1") w->complete_.insert(t->name());
  }
  if (options.metrics) w->probe_ = std::make_unique<Probe>(*options.metrics, w->tasks_);
  w->last_checkpoint_ = Now();
  for (auto& t : w->tasks_) w->stats_.watermarks[t->name()] = t->emitted();
  // Rebuilt views' state is checkpointed before anything is emitted from it.
  if (std::any_of(w->tasks_.begin(), w->tasks_.end(), [](const auto& t) { return t->rebuilt(); })) {
    VIGIL_RETURN_IF_ERROR(w->Checkpoint());
  }
  return w;
}

StreamWorker::~StreamWorker() = default;

Result<int64_t> StreamWorker::Poll() {
  auto start = std::chrono::steady_clock::now();
  std::vector<SourceTask::Counts> counts(tasks_.size());
  std::vector<Status> statuses(tasks_.size());
  if (tasks_.size() == 1) {
    statuses[0] = tasks_[0]->Poll(options_.max_poll_records, &counts[0]);
  } else {
    std::vector<std::thread> threads;
    for (size_t i = 0; i < tasks_.size(); ++i) {
      threads.emplace_back([&, i] { statuses[i] = tasks_[i]->Poll(options_.max_poll_records, &counts[i]); });
    }
    for (auto& t : threads) t.join();
  }
  int64_t total = 0;
  caught_up_ = true;
  for (size_t i = 0; i < tasks_.size(); ++i) {
    VIGIL_RETURN_IF_ERROR(statuses[i]);
    stats_.events_in += counts[i].in;
    stats_.late += counts[i].late;
    stats_.rejected += counts[i].rejected;
    stats_.rows_out += counts[i].rows;
    stats_.watermarks[tasks_[i]->name()] = tasks_[i]->emitted();
    total += counts[i].in;
    caught_up_ &= tasks_[i]->caught_up();
    if (probe_) {
      auto& m = probe_->sources[i];
      m.in->Increment(static_cast<uint64_t>(counts[i].in));
      m.late->Increment(static_cast<uint64_t>(counts[i].late));
      m.undecodable->Increment(static_cast<uint64_t>(counts[i].rejected));
      m.rows_out->Increment(static_cast<uint64_t>(counts[i].rows));
      m.lag->Set(static_cast<double>(tasks_[i]->Lag()));
      TimestampMs e = tasks_[i]->emitted();
      if (e != kMinTimestamp) {
        m.watermark->Set(static_cast<double>(e) / 1000.0);
        m.watermark_delay->Set(static_cast<double>(Now() - e) / 1000.0);
      }
    }
  }
  stats_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (Now() - last_checkpoint_ >= options_.checkpoint_interval) VIGIL_RETURN_IF_ERROR(Checkpoint());
  return total;
}

Status StreamWorker::Checkpoint() {
  auto start = std::chrono::steady_clock::now();
  for (auto& t : tasks_) VIGIL_RETURN_IF_ERROR(t->Flush(false));
  CheckpointStore::Batch batch;
  TimestampMs wall = Now();
  std::vector<WatermarkMarker> markers;
  for (auto& t : tasks_) {
    markers.push_back(t->Marker());
    markers.back().complete = complete_.count(t->name()) > 0;
  }
  for (auto& t : tasks_) t->AddToCheckpoint(&batch, wall);
  size_t bytes = batch.bytes();
  VIGIL_RETURN_IF_ERROR(store_->Commit(&batch));
  ++stats_.checkpoints;
  if (probe_) {
    probe_->checkpoint_seconds.ObserveDuration(std::chrono::steady_clock::now() - start);
    probe_->checkpoint_bytes.Set(static_cast<double>(bytes));
  }
  last_checkpoint_ = Now();
  // Informational: the group's offsets follow the checkpoint, so lag tools see them.
  for (auto& t : tasks_) log_->Commit(options_.group, t->name(), t->positions()).IgnoreError();
  // How far the changelogs are complete, for readers of the stores (offline datasets).
  {
    VIGIL_ASSIGN_OR_RETURN(auto w, OpenSharedWriter(log_, kWatermarksTopic, 60000));
    std::string payload;
    for (const auto& m : markers) {
      if (m.watermark == kMinTimestamp) continue;
      payload.clear();
      EncodeWatermarkMarker(m, &payload);
      VIGIL_RETURN_IF_ERROR(w->Append(m.source, payload));
    }
    VIGIL_RETURN_IF_ERROR(w->Flush(false));
  }
  for (size_t i = 0; i < tasks_.size(); ++i) {
    auto& t = tasks_[i];
    int64_t rows = 0;
    VIGIL_RETURN_IF_ERROR(t->AfterCheckpoint(&rows));
    stats_.rows_out += rows;
    if (probe_) probe_->sources[i].rows_out->Increment(static_cast<uint64_t>(rows));
    stats_.watermarks[t->name()] = t->emitted();
  }
  stats_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return Status::OK();
}

Result<StreamStats> RunStreamUntilCaughtUp(const Definitions& defs, Log* log, const StreamOptions& options) {
  VIGIL_ASSIGN_OR_RETURN(auto worker, StreamWorker::Open(defs, log, options));
  do {
    VIGIL_RETURN_IF_ERROR(worker->Poll().status());
  } while (!worker->caught_up());
  VIGIL_RETURN_IF_ERROR(worker->Checkpoint());
  VIGIL_RETURN_IF_ERROR(worker->Checkpoint());
  return worker->stats();
}

}  // namespace vigil
