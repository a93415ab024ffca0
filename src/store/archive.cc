#include "store/archive.h"

#include <algorithm>
#include <cassert>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "compute/stream_worker.h"
#include "schema/row_codec.h"
#include "store/offline_store.h"

namespace vigil {

namespace {

// Dead letters hold text (JSON reasons); bytes that are not UTF-8 are kept as hex.
bool IsUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : 4;
    if (n == 4) return false;
    for (size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size() || (static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
    }
    i += n + 1;
  }
  return true;
}

std::string TextOrHex(std::string_view bytes) {
  if (IsUtf8(bytes)) return std::string(bytes);
  std::string out = "hex:";
  AppendHex(bytes, &out);
  return out;
}

// The offsets of `topic` the live log still holds from `positions` on; a position below
// the log's start is a gap.
Status CheckNoGap(const std::string& topic, Log* live, const std::vector<int64_t>& positions) {
  VIGIL_ASSIGN_OR_RETURN(auto starts, live->StartOffsets(topic));
  for (size_t p = 0; p < starts.size() && p < positions.size(); ++p) {
    if (positions[p] < starts[p]) {
      return Status::Corruption("archive of " + topic + ":" + std::to_string(p) + " ends at offset " +
                                std::to_string(positions[p]) + " but the live log starts at " +
                                std::to_string(starts[p]) + ": offsets " + std::to_string(positions[p]) + ".." +
                                std::to_string(starts[p] - 1) + " were deleted before they were archived");
    }
  }
  return Status::OK();
}

Result<std::vector<int64_t>> Positions(OffsetDatasetWriter* w, int parts) {
  std::vector<int64_t> out(static_cast<size_t>(parts));
  for (int p = 0; p < parts; ++p) {
    VIGIL_ASSIGN_OR_RETURN(out[p], w->Next(p));
  }
  return out;
}

Status ArchiveDeadLetters(const SourceDef& source, Log* live, const std::string& offline_dir, ArchiveStats* stats) {
  const std::string topic = DeadLetterTopic(source.name);
  auto parts = live->Partitions(topic);
  if (!parts.ok() && parts.status().IsNotFound()) return Status::OK();
  VIGIL_RETURN_IF_ERROR(parts.status());
  VIGIL_ASSIGN_OR_RETURN(auto writer, OffsetDatasetWriter::Open(OfflineDeadLettersDir(offline_dir, source.name),
                                                                DeadLetterSchema(), 4));
  VIGIL_ASSIGN_OR_RETURN(auto from, Positions(writer.get(), *parts));
  VIGIL_RETURN_IF_ERROR(CheckNoGap(topic, live, from));
  VIGIL_ASSIGN_OR_RETURN(auto reader, live->OpenReader(topic));
  for (int p = 0; p < *parts; ++p) VIGIL_RETURN_IF_ERROR(reader->Seek(p, from[p]));
  LogRecord rec;
  Row row(5);
  for (;;) {
    VIGIL_ASSIGN_OR_RETURN(bool more, reader->Next(&rec));
    if (!more) break;
    row[0] = Value::String(TextOrHex(rec.key));
    row[1] = Value::String(TextOrHex(rec.payload));
    row[2] = Value::Int64(rec.partition);
    row[3] = Value::Int64(rec.offset);
    row[4] = Value::Timestamp(rec.append_time);
    VIGIL_RETURN_IF_ERROR(writer->Append(rec.partition, rec.offset, row));
    ++stats->records;
    stats->bytes += static_cast<int64_t>(rec.payload.size());
  }
  VIGIL_RETURN_IF_ERROR(writer->Flush());
  VIGIL_ASSIGN_OR_RETURN(auto done, Positions(writer.get(), *parts));
  return live->Commit(kArchiveGroup, topic, done);
}

// The late/undecodable decisions archived in the dead letters of `source`, for records
// at or past `from` (per partition).
Status ArchivedDecisions(const SourceDef& source, const std::string& offline_dir, const std::vector<int64_t>& from,
                         std::unordered_set<uint64_t>* recorded) {
  std::mutex mu;
  return ScanDataset(OfflineDeadLettersDir(offline_dir, source.name), {"key"}, 1,
                     [&](const DatasetFile&, parquet::ColumnBatch&& batch) {
                       const parquet::Column& keys = batch.columns[0];
                       for (size_t i = 0; i < keys.size(); ++i) {
                         if (keys.is_null(i)) continue;
                         int p = 0;
                         int64_t off = 0;
                         if (!ParseDecisionKey(keys.str(i), &p, &off)) continue;
                         if (!from.empty() && (p < 0 || static_cast<size_t>(p) >= from.size() ||
                                               off < from[static_cast<size_t>(p)])) {
                           continue;
                         }
                         std::lock_guard l(mu);
                         recorded->insert(EventSeq(p, off));
                       }
                       return Status::OK();
                     });
}

Status ArchiveSource(const SourceDef& source, Log* live, const std::string& offline_dir,
                     const ArchiveOptions& options, ArchiveStats* stats) {
  auto parts = live->Partitions(source.name);
  if (!parts.ok() && parts.status().IsNotFound()) return Status::OK();  // nothing ingested yet
  VIGIL_RETURN_IF_ERROR(parts.status());
  // What the stream decided (read first: its late decisions are in the dead letters by
  // the time they are archived below).
  VIGIL_ASSIGN_OR_RETURN(auto decided, live->Committed(options.stream_group, source.name));
  decided.resize(static_cast<size_t>(*parts), 0);
  VIGIL_RETURN_IF_ERROR(ArchiveDeadLetters(source, live, offline_dir, stats).WithContext("dead letters"));

  Schema schema = ArchivedEventSchema(source);
  VIGIL_ASSIGN_OR_RETURN(auto writer, OffsetDatasetWriter::Open(OfflineEventsDir(offline_dir, source.name), schema, 0));
  VIGIL_ASSIGN_OR_RETURN(auto from, Positions(writer.get(), *parts));
  VIGIL_RETURN_IF_ERROR(CheckNoGap(source.name, live, from));
  VIGIL_ASSIGN_OR_RETURN(auto ends, live->EndOffsets(source.name));
  std::unordered_set<uint64_t> recorded;
  VIGIL_RETURN_IF_ERROR(ArchivedDecisions(source, offline_dir, from, &recorded));
  VIGIL_ASSIGN_OR_RETURN(auto reader, live->OpenReader(source.name));
  for (int p = 0; p < *parts; ++p) {
    VIGIL_RETURN_IF_ERROR(reader->Seek(p, from[p]));
    stats->waiting += std::max<int64_t>(0, ends[p] - std::max(from[p], decided[p]));
  }
  const size_t nf = source.schema.size();
  Row row(schema.size());
  Event ev;
  LogRecord rec;
  for (;;) {
    VIGIL_ASSIGN_OR_RETURN(bool more, reader->Next(&rec));
    if (!more) break;
    if (rec.offset >= decided[static_cast<size_t>(rec.partition)]) continue;  // not decided yet
    uint64_t seq = EventSeq(rec.partition, rec.offset);
    if (!DecodeEvent(rec.payload, source.schema, &ev).ok()) {
      writer->Skip(rec.partition, rec.offset + 1);  // its bytes are in the dead letters
      continue;
    }
    row[0] = Value::Timestamp(ev.ts);
    for (size_t f = 0; f < nf; ++f) row[1 + f] = std::move(ev.fields[f]);
    row[1 + nf] = Value::Int64(rec.partition);
    row[2 + nf] = Value::Int64(rec.offset);
    row[3 + nf] = Value::Timestamp(rec.append_time);
    row[4 + nf] = Value::Bool(recorded.count(seq) > 0);
    VIGIL_RETURN_IF_ERROR(writer->Append(rec.partition, rec.offset, row));
    ++stats->records;
    stats->bytes += static_cast<int64_t>(rec.payload.size());
  }
  VIGIL_RETURN_IF_ERROR(writer->Flush());
  VIGIL_ASSIGN_OR_RETURN(auto done, Positions(writer.get(), *parts));
  VIGIL_RETURN_IF_ERROR(live->Commit(kArchiveGroup, source.name, done));
  if (options.compact) {
    for (const std::string& dir : {OfflineEventsDir(offline_dir, source.name),
                                   OfflineDeadLettersDir(offline_dir, source.name)}) {
      VIGIL_ASSIGN_OR_RETURN(CompactionStats c, CompactDataset(dir));
      stats->files_compacted += c.files_in;
    }
  }
  return Status::OK();
}

}  // namespace

Result<ArchiveStats> ArchiveUntilCaughtUp(const Definitions& defs, Log* live, const std::string& offline_dir,
                                          const ArchiveOptions& options) {
  ArchiveStats stats;
  for (const auto& [name, source] : defs.sources) {
    VIGIL_RETURN_IF_ERROR(ArchiveSource(source, live, offline_dir, options, &stats).WithContext("archive " + name));
  }
  return stats;
}

namespace {

// ScanSourceHistory's pass, the archive read by `workers` threads; with `serialize`, one
// of them at a time calls on_event (for a whole row group), else they call it at once,
// each passing its number.
Status ScanHistory(const SourceDef& source, Log* log, const std::string& offline_dir, int workers,
                   bool serialize, const std::function<Status(Event&&, uint64_t seq, int worker)>& on_event,
                   SourceHistory* h, const std::vector<int>* fields) {
  std::string dir = OfflineEventsDir(offline_dir, source.name);
  VIGIL_ASSIGN_OR_RETURN(auto positions, DatasetPositions(dir));
  VIGIL_ASSIGN_OR_RETURN(int parts, log->Partitions(source.name));
  std::vector<int64_t> from(static_cast<size_t>(parts), 0);
  for (const auto& [p, next] : positions) {
    if (p < 0 || p >= parts) {
      return Status::Corruption(dir + " holds partition " + std::to_string(p) + " but " + source.name + " has " +
                                std::to_string(parts) + " partitions");
    }
    from[static_cast<size_t>(p)] = next;
  }
  std::vector<TimestampMs> max_ts(static_cast<size_t>(parts), kMinTimestamp);
  if (!positions.empty()) {
    // Archived events: their recorded decision, any order (each entity's events are
    // put in (ts, log order) by whoever replays them).
    const size_t nf = source.schema.size();
    // The columns read (ArchivedEventSchema's positions): ts, the fields asked for, then
    // _partition, _offset and _late. A field not read stays null.
    std::vector<int> read_fields;
    if (fields != nullptr) {
      for (int f : *fields) {
        if (f < 0 || static_cast<size_t>(f) >= nf) {
          return Status::InvalidArgument(source.name + " has no field " + std::to_string(f));
        }
      }
      read_fields = *fields;
      std::sort(read_fields.begin(), read_fields.end());  // in field order, once each
      read_fields.erase(std::unique(read_fields.begin(), read_fields.end()), read_fields.end());
    } else {
      for (size_t f = 0; f < nf; ++f) read_fields.push_back(static_cast<int>(f));
    }
    const size_t k = read_fields.size();
    std::vector<int> columns = {0};
    for (int f : read_fields) columns.push_back(1 + f);
    for (size_t c : {1 + nf, 2 + nf, 4 + nf}) columns.push_back(static_cast<int>(c));
    // What each reader thread keeps: its number, its reused Event, and its counts (added
    // up after the scan).
    struct Worker {
      std::thread::id thread;
      Event ev;
      std::vector<TimestampMs> max_ts;
      int64_t late = 0;
    };
    workers = std::max(1, workers);
    std::vector<Worker> state(static_cast<size_t>(workers));
    std::mutex workers_mu, serial_mu;
    auto worker_of = [&]() -> int {
      std::lock_guard l(workers_mu);
      for (size_t w = 0; w < state.size(); ++w) {
        if (state[w].thread == std::this_thread::get_id()) return static_cast<int>(w);
        if (state[w].thread == std::thread::id()) {
          state[w].thread = std::this_thread::get_id();
          state[w].max_ts.assign(static_cast<size_t>(parts), kMinTimestamp);
          return static_cast<int>(w);
        }
      }
      return -1;  // not reached: ScanDatasetColumns runs at most `workers` threads
    };
    auto on_batch = [&](const DatasetFile&, parquet::ColumnBatch&& batch) -> Status {
      const int w = worker_of();
      assert(w >= 0);
      if (w < 0)
        return Status::InvalidArgument("archive scan: more reader threads than the workers asked for");
      Worker& me = state[static_cast<size_t>(w)];
      std::unique_lock serial(serial_mu, std::defer_lock);
      if (serialize) serial.lock();
      Event& ev = me.ev;
      for (size_t r = 0; r < static_cast<size_t>(batch.rows()); ++r) {
        int p = static_cast<int>(batch.columns[1 + k].ints[r]);
        if (p < 0 || p >= parts) return Status::Corruption(dir + ": a row of partition " + std::to_string(p));
        if (batch.columns[3 + k].ints[r] != 0) {
          ++me.late;
          continue;
        }
        // ev is reused from row to row (its strings' memory too): every field is set,
        // whatever on_event did with the last one (moved from it, changed it).
        ev.ts = batch.columns[0].ints[r];
        ev.fields.resize(nf);
        for (size_t f = 0, i = 0; f < nf; ++f) {
          if (i < k && static_cast<size_t>(read_fields[i]) == f) {
            batch.columns[1 + i++].GetInto(r, &ev.fields[f]);
          } else {
            ev.fields[f].SetNull();
          }
        }
        TimestampMs& mx = me.max_ts[static_cast<size_t>(p)];
        mx = std::max(mx, ev.ts);
        VIGIL_RETURN_IF_ERROR(on_event(std::move(ev), EventSeq(p, batch.columns[2 + k].ints[r]), w));
      }
      return Status::OK();
    };
    VIGIL_RETURN_IF_ERROR(ScanDatasetColumns(dir, nf + 5, columns, workers, on_batch));
    for (const Worker& me : state) {
      h->late += me.late;
      for (size_t p = 0; p < me.max_ts.size(); ++p) max_ts[p] = std::max(max_ts[p], me.max_ts[p]);
    }
  }
  // The live part: decisions recorded in the live dead letters and in the archived ones.
  std::unordered_set<uint64_t> recorded;
  VIGIL_RETURN_IF_ERROR(ReadRecordedDecisions(log, DeadLetterTopic(source.name), &recorded));
  VIGIL_RETURN_IF_ERROR(ArchivedDecisions(source, offline_dir, from, &recorded));
  VIGIL_RETURN_IF_ERROR(
      ReadLiveHistory(source, log, from, recorded, &max_ts, h,
                      [&on_event](Event&& ev, uint64_t seq) { return on_event(std::move(ev), seq, 0); }));
  FinishHistory(source, max_ts, h);
  return Status::OK();
}

}  // namespace

Status ScanSourceHistory(const SourceDef& source, Log* log, const std::string& offline_dir,
                         const std::function<Status(Event&&, uint64_t seq)>& on_event, SourceHistory* h,
                         const std::vector<int>* fields) {
  return ScanHistory(
      source, log, offline_dir, 2, /*serialize=*/true,
      [&on_event](Event&& ev, uint64_t seq, int) { return on_event(std::move(ev), seq); }, h, fields);
}

Status ScanSourceHistoryConcurrently(const SourceDef& source, Log* log, const std::string& offline_dir,
                                     int workers,
                                     const std::function<Status(Event&&, uint64_t seq, int worker)>& on_event,
                                     SourceHistory* h, const std::vector<int>* fields) {
  return ScanHistory(source, log, offline_dir, workers, /*serialize=*/false, on_event, h, fields);
}

Result<SourceHistory> ReadSourceHistoryWithArchive(const SourceDef& source, Log* log,
                                                   const std::string& offline_dir) {
  SourceHistory h;
  VIGIL_RETURN_IF_ERROR(ScanSourceHistory(
      source, log, offline_dir,
      [&h](Event&& ev, uint64_t seq) {
        h.events.push_back(std::move(ev));
        h.seqs.push_back(seq);
        return Status::OK();
      },
      &h));
  return h;
}

}  // namespace vigil
