#include "compute/stream_worker.h"

#include <chrono>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "compute/view_engine.h"
#include "schema/row_codec.h"

namespace vigil {

std::string ChangelogTopic(const std::string& view) { return "changelog." + view; }
std::string DeadLetterTopic(const std::string& source) { return "dlq." + source; }

namespace {

// Late events carry the key "late:<source offset>" in the dead-letter topic, so a
// replay can tell which it has already written.
constexpr std::string_view kLatePrefix = "late:";

Result<int64_t> LastLateOffset(Log* log, const std::string& source) {
  VIGIL_ASSIGN_OR_RETURN(auto reader, log->OpenReader(DeadLetterTopic(source)));
  int64_t last = -1;
  LogRecord rec;
  while (true) {
    VIGIL_ASSIGN_OR_RETURN(bool more, reader->Next(&rec));
    if (!more) return last;
    if (rec.key.starts_with(kLatePrefix)) {
      last = std::max<int64_t>(last, std::stoll(std::string(rec.key.substr(kLatePrefix.size()))));
    }
  }
}

}  // namespace

// The compute of one source: its watermark, the engines of its views and their outputs.
class StreamWorker::SourceTask {
 public:
  SourceTask(const Definitions& defs, const SourceDef& source, Log* log)
      : defs_(defs), source_(source), log_(log), wm_(source.allowed_lateness) {}

  Status Open() {
    for (const auto* v : defs_.ViewsOf(source_.name)) {
      Output o;
      o.engine = std::make_unique<ViewEngine>(*v);
      VIGIL_ASSIGN_OR_RETURN(o.writer, log_->OpenWriter(ChangelogTopic(v->name)));
      VIGIL_RETURN_IF_ERROR(LoadWritten(ChangelogTopic(v->name), &o.written));
      outs_.push_back(std::move(o));
    }
    VIGIL_ASSIGN_OR_RETURN(last_late_, LastLateOffset(log_, source_.name));
    VIGIL_ASSIGN_OR_RETURN(dlq_, log_->OpenWriter(DeadLetterTopic(source_.name)));
    VIGIL_ASSIGN_OR_RETURN(reader_, log_->OpenReader(source_.name));
    return Status::OK();
  }

  bool has_views() const { return !outs_.empty(); }
  const std::string& name() const { return source_.name; }
  TimestampMs watermark() const { return wm_.current(); }

  // Reads every record available now. Counts go to in/late/rows.
  Status Poll(int64_t* in, int64_t* late, int64_t* rows) {
    for (;;) {
      VIGIL_ASSIGN_OR_RETURN(bool more, reader_->Next(&rec_));
      if (!more) break;
      VIGIL_RETURN_IF_ERROR(
          DecodeEvent(rec_.payload, source_.schema, &ev_)
              .WithContext("topic " + source_.name + " offset " + std::to_string(rec_.offset)));
      ++*in;
      TimestampMs before = wm_.current();
      if (!wm_.Observe(ev_.ts)) {
        ++*late;
        if (rec_.offset > last_late_) VIGIL_RETURN_IF_ERROR(WriteLate(before));
        continue;
      }
      for (auto& o : outs_) o.engine->Add(ev_, static_cast<uint64_t>(rec_.offset));
      // Advancing in steps of records rather than after each one lets every entity
      // process all its due instants at once, while its state is in cache.
      if (++since_advance_ >= kStreamAdvanceEvery) VIGIL_RETURN_IF_ERROR(Advance(rows));
    }
    return Advance(rows);
  }

  Status Flush() {
    for (auto& o : outs_) VIGIL_RETURN_IF_ERROR(o.writer->Flush(false));
    return dlq_->Flush(false);
  }

 private:
  struct Output {
    std::unique_ptr<ViewEngine> engine;
    std::unique_ptr<TopicWriter> writer;
    // Entity -> ts of its newest row already in the topic (from before a restart). A
    // row's identity is (entity, ts), so a replay skips what is there and appends the
    // rest, whatever order it emits entities in. An entry goes once passed.
    std::unordered_map<std::string, TimestampMs> written;
  };

  static Status LoadWritten(const std::string& topic, Log* log,
                            std::unordered_map<std::string, TimestampMs>* written) {
    VIGIL_ASSIGN_OR_RETURN(auto reader, log->OpenReader(topic));
    LogRecord rec;
    ChangelogRow row;
    for (;;) {
      VIGIL_ASSIGN_OR_RETURN(bool more, reader->Next(&rec));
      if (!more) return Status::OK();
      VIGIL_RETURN_IF_ERROR(DecodeChangelogPayload(rec.payload, &row)
                                .WithContext("topic " + topic + " offset " + std::to_string(rec.offset)));
      TimestampMs& ts = (*written)[std::string(rec.key)];
      ts = std::max(ts, row.ts);
    }
  }
  Status LoadWritten(const std::string& topic, std::unordered_map<std::string, TimestampMs>* written) {
    return LoadWritten(topic, log_, written);
  }

  // Emits every row before the watermark.
  Status Advance(int64_t* rows) {
    since_advance_ = 0;
    Status status;
    TimestampMs bound = wm_.current();
    for (auto& o : outs_) {
      o.engine->EmitUntil(bound, [&](const ChangelogRow& row) {
        if (!o.written.empty()) {
          auto it = o.written.find(row.entity);
          if (it != o.written.end()) {
            if (row.ts <= it->second) return;  // written before a restart
            o.written.erase(it);
          }
        }
        payload_.clear();
        EncodeChangelogPayload(row, &payload_);
        auto r = o.writer->Append(row.entity, payload_);
        if (!r.ok() && status.ok()) status = r.status();
        ++*rows;
      });
    }
    return status;
  }

  Status WriteLate(TimestampMs watermark) {
    std::string why = "{\"reason\":\"late: ts " + std::to_string(ev_.ts) + " < watermark " +
                      std::to_string(watermark) + " (allowed_lateness " +
                      FormatDuration(source_.allowed_lateness) + ")\",\"source\":\"" + source_.name +
                      "\",\"offset\":" + std::to_string(rec_.offset) + ",\"event_hex\":\"";
    // The original event stays recoverable: its encoded bytes, hex-encoded.
    AppendHex(rec_.payload, &why);
    why += "\"}";
    return dlq_->Append(std::string(kLatePrefix) + std::to_string(rec_.offset), why).status();
  }

  const Definitions& defs_;
  const SourceDef& source_;
  Log* log_;
  Watermark wm_;
  std::vector<Output> outs_;
  int64_t last_late_ = -1;
  std::unique_ptr<TopicWriter> dlq_;
  std::unique_ptr<TopicReader> reader_;
  LogRecord rec_;
  Event ev_;
  std::string payload_;
  int64_t since_advance_ = 0;
};

Result<std::unique_ptr<StreamWorker>> StreamWorker::Open(const Definitions& defs, Log* log) {
  std::unique_ptr<StreamWorker> w(new StreamWorker());
  for (const auto& [name, source] : defs.sources) {
    auto task = std::make_unique<SourceTask>(defs, source, log);
    VIGIL_RETURN_IF_ERROR(task->Open());
    if (task->has_views()) w->tasks_.push_back(std::move(task));
  }
  return w;
}

StreamWorker::~StreamWorker() = default;

Result<int64_t> StreamWorker::Poll() {
  auto start = std::chrono::steady_clock::now();
  struct Counts {
    int64_t in = 0, late = 0, rows = 0;
    Status status;
  };
  std::vector<Counts> counts(tasks_.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < tasks_.size(); ++i) {
    threads.emplace_back(
        [&, i] { counts[i].status = tasks_[i]->Poll(&counts[i].in, &counts[i].late, &counts[i].rows); });
  }
  for (auto& t : threads) t.join();
  int64_t total = 0;
  for (size_t i = 0; i < tasks_.size(); ++i) {
    VIGIL_RETURN_IF_ERROR(counts[i].status);
    stats_.events_in += counts[i].in;
    stats_.late += counts[i].late;
    stats_.rows_out += counts[i].rows;
    stats_.watermarks[tasks_[i]->name()] = tasks_[i]->watermark();
    total += counts[i].in;
  }
  stats_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return total;
}

Status StreamWorker::Flush() {
  for (auto& t : tasks_) VIGIL_RETURN_IF_ERROR(t->Flush());
  return Status::OK();
}

Result<StreamStats> RunStreamUntilCaughtUp(const Definitions& defs, Log* log) {
  VIGIL_ASSIGN_OR_RETURN(auto worker, StreamWorker::Open(defs, log));
  VIGIL_RETURN_IF_ERROR(worker->Poll().status());
  VIGIL_RETURN_IF_ERROR(worker->Flush());
  return worker->stats();
}

}  // namespace vigil
