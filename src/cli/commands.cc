#include "cli/commands.h"

#include <csignal>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>

#include "cli/stop_signal.h"
#include "common/memory.h"
#include "common/metrics.h"
#include "compute/batch_replay.h"
#include "compute/stream_worker.h"
#include "log/kafka_mock.h"
#include "log/log.h"
#include "monitoring/metrics_server.h"
#include "schema/csv.h"
#include "schema/event_decoder.h"
#include "schema/parquet.h"
#include "schema/row_codec.h"
#include "serving/http_client.h"
#include "serving/scoring_service.h"
#include "spec/definitions.h"
#include "store/archive.h"
#include "store/backfill.h"
#include "store/feature_registry.h"
#include "store/ingestion.h"
#include "store/offline_store.h"
#include "store/online_store.h"
#include "store/sync.h"
#include "training/trainer.h"

namespace vigil::cli {
namespace {

namespace fs = std::filesystem;

}  // namespace

Result<std::unique_ptr<Log>> OpenLog(const Project& p) {
  LogOptions o = p.settings.log;
  // Retention never deletes what the archiver has not copied yet.
  o.retention_guard_group = kArchiveGroup;
  return Log::Open(o);
}

Result<Project> LoadVersionedProject(const std::string& dir) {
  VIGIL_ASSIGN_OR_RETURN(Project p, LoadProject(dir));
  std::vector<std::string> registered;
  VIGIL_RETURN_IF_ERROR(ResolveViewVersions(FeatureRegistryPath(p.settings.data_dir), &p.defs, &registered));
  if (!registered.empty() && registered.size() == p.defs.views.size() &&
      std::all_of(registered.begin(), registered.end(), [](const std::string& r) { return r.ends_with(" v1"); })) {
    std::fprintf(stderr, "registry: registered %zu feature views (version 1) in %s\n", registered.size(),
                 FeatureRegistryPath(p.settings.data_dir).c_str());
  } else {
    for (const auto& r : registered) std::fprintf(stderr, "registry: registered feature view %s\n", r.c_str());
  }
  return p;
}

namespace {

std::string OnlineDir(const Project& p) { return p.settings.data_dir + "/online"; }
std::string StreamStateDir(const Project& p) { return p.settings.data_dir + "/stream"; }


double Since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string Rate(int64_t n, double seconds) {
  char buf[64];
  double r = seconds > 0 ? static_cast<double>(n) / seconds : 0;
  if (r >= 1e6)
    std::snprintf(buf, sizeof buf, "%.2fM/s", r / 1e6);
  else if (r >= 1e3)
    std::snprintf(buf, sizeof buf, "%.1fk/s", r / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.0f/s", r);
  return buf;
}

// Decides only how a dead letter carries its bytes (text or hex); overlong forms pass.
bool ValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : 4;
    if (n == 4 || i + n >= s.size() + (n == 0 ? 1 : 0)) return false;
    for (size_t k = 1; k <= n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n + 1;
  }
  return true;
}

// A dead-letter record: why, where, and the original bytes (as text when they are
// UTF-8, else hex), so nothing is lost.
std::string DeadLetter(const RejectedRecord& r) {
  std::string out = "{\"reason\":";
  AppendJsonString(r.reason, &out);
  out += ",\"file\":";
  AppendJsonString(r.file, &out);
  out += ",\"line\":" + std::to_string(r.line);
  if (ValidUtf8(r.raw)) {
    out += ",\"raw\":";
    AppendJsonString(r.raw, &out);
  } else {
    out += ",\"raw_hex\":\"";
    AppendHex(r.raw, &out);
    out += "\"";
  }
  out += "}";
  return out;
}

// What `vigil ingest` accepts of `source`'s events.
DecodeOptions IngestDecodeOptions(const Project& p, const SourceDef& source) {
  DecodeOptions opts;
  opts.source = source.name;
  opts.schema = source.schema;
  opts.ts_field = source.ts_field;
  opts.required = p.defs.RequiredFields(source.name);
  opts.max_ts = WallClockMs() + source.max_future;
  opts.forbidden_key_bytes = std::string(1, kKeySeparator);
  return opts;
}

// Rows as CSV (DESIGN.md §7): the entity's key columns, ts, the features.
Status WriteRowsCsv(const Definitions& defs, const FeatureViewDef& view, const std::vector<ChangelogRow>& rows,
                    const std::string& out_path) {
  const EntityDef& entity = *defs.FindEntity(view.entity);
  std::string out;
  for (const auto& k : entity.keys) {
    AppendCsvCell(k, &out);
    out += ",";
  }
  out += "ts";
  for (const auto& f : view.features) {
    out += ",";
    AppendCsvCell(f.name, &out);
  }
  out += "\n";
  for (const auto& r : rows) {
    for (const auto& part : SplitEntityKey(r.entity)) {
      AppendCsvCell(part, &out);
      out += ",";
    }
    out += std::to_string(r.ts);
    for (const auto& v : r.values) {
      out += ",";
      AppendCsvCell(v.ToCsvText(), &out);
    }
    out += "\n";
  }
  if (out_path == "-") {
    std::fwrite(out.data(), 1, out.size(), stdout);
  } else {
    std::ofstream f(out_path, std::ios::binary | std::ios::trunc);
    f << out;
    if (!f.flush()) return Status::IOError("write " + out_path);
  }
  return Status::OK();
}

}  // namespace

Status Validate(const std::string& project) {
  VIGIL_ASSIGN_OR_RETURN(Project p, LoadProject(project));
  size_t features = 0;
  for (const auto& [n, v] : p.defs.views) features += v.features.size();
  std::printf("ok: %zu entities, %zu sources, %zu feature views, %zu features, %zu models\n",
              p.defs.entities.size(), p.defs.sources.size(), p.defs.views.size(), features, p.defs.models.size());
  return Status::OK();
}

Status Generate(const GenerateOptions& options) {
  VIGIL_ASSIGN_OR_RETURN(GenerateStats stats, vigil::Generate(options));
  int64_t total = 0;
  for (const auto& [source, n] : stats.events_per_source) {
    std::printf("%-16s %10lld events\n", source.c_str(), static_cast<long long>(n));
    total += n;
  }
  std::printf("labels           %10lld rows (%lld fraud)\n", static_cast<long long>(stats.labels),
              static_cast<long long>(stats.fraud_labels));
  std::printf("generated %lld events in %.2f s (%s) into %s\n", static_cast<long long>(total), stats.seconds,
              Rate(total, stats.seconds).c_str(), options.out_dir.c_str());
  return Status::OK();
}

Status Ingest(const std::string& project, const std::string& source_name,
              const std::vector<std::string>& files) {
  VIGIL_ASSIGN_OR_RETURN(Project p, LoadProject(project));
  const SourceDef* source = p.defs.FindSource(source_name);
  if (!source) return Status::InvalidArgument("unknown source '" + source_name + "'");
  const DecodeOptions opts = IngestDecodeOptions(p, *source);
  VIGIL_ASSIGN_OR_RETURN(auto log, OpenLog(p));
  VIGIL_ASSIGN_OR_RETURN(auto topic, log->OpenWriter(source->name));
  // Rejections are written at the end: the dead-letter topic is shared with the stream
  // worker (late events), so it is held only briefly.
  std::vector<std::pair<std::string, std::string>> rejections;
  auto start = std::chrono::steady_clock::now();
  int64_t accepted = 0, rejected = 0;
  std::string payload;
  for (const auto& file : files) {
    VIGIL_ASSIGN_OR_RETURN(InputFormat format, FormatFromPath(file));
    auto reject = [&](RejectedRecord&& r) -> Status {
      ++rejected;
      rejections.emplace_back("reject:" + r.file + ":" + std::to_string(r.line), DeadLetter(r));
      return Status::OK();
    };
    VIGIL_RETURN_IF_ERROR(DecodeFile(
        file, format, opts,
        [&](Event&& ev, int64_t) -> Status {
          payload.clear();
          EncodeEvent(ev, &payload);
          ++accepted;
          return topic->Append(SourceRecordKey(*source, ev.fields), payload);
        },
        reject));
  }
  VIGIL_RETURN_IF_ERROR(topic->Flush(true));
  if (!rejections.empty()) {
    VIGIL_ASSIGN_OR_RETURN(auto dlq, OpenSharedWriter(log.get(), DeadLetterTopic(source->name), 60000));
    for (const auto& [key, value] : rejections) VIGIL_RETURN_IF_ERROR(dlq->Append(key, value));
    VIGIL_RETURN_IF_ERROR(dlq->Flush(true));
  }
  double s = Since(start);
  std::printf("%s: accepted %lld, rejected %lld (dead-letter topic %s) in %.2f s (%s)\n",
              source->name.c_str(), static_cast<long long>(accepted), static_cast<long long>(rejected),
              DeadLetterTopic(source->name).c_str(), s, Rate(accepted + rejected, s).c_str());
  return Status::OK();
}

namespace {

void PrintCompute(const StreamStats& st) {
  std::printf("compute: %lld source events (%lld late, %lld undecodable -> dlq), %lld changelog rows, "
              "%lld checkpoints in %.2f s (%s)\n",
              static_cast<long long>(st.events_in), static_cast<long long>(st.late),
              static_cast<long long>(st.rejected), static_cast<long long>(st.rows_out),
              static_cast<long long>(st.checkpoints), st.seconds, Rate(st.events_in, st.seconds).c_str());
  for (const auto& [source, wm] : st.watermarks) {
    std::printf("  watermark %-16s %s\n", source.c_str(),
                wm == kMinTimestamp ? "-" : FormatIsoTimestamp(wm).c_str());
  }
}

void PrintIngestion(int64_t applied, double seconds, const std::vector<int64_t>& freshness, OnlineStore* online) {
  std::printf("ingestion: %lld rows applied to the online store in %.2f s (%s), %s rows online\n",
              static_cast<long long>(applied), seconds, Rate(applied, seconds).c_str(),
              online->GetProperty("online.rows").value_or("?").c_str());
  if (!freshness.empty()) {
    std::vector<int64_t> f = freshness;
    std::sort(f.begin(), f.end());
    auto at = [&](double q) {
      return static_cast<long long>(f[std::min(f.size() - 1, static_cast<size_t>(q * static_cast<double>(f.size())))]);
    };
    std::printf("freshness (source record appended -> row online): p50 %lld ms, p99 %lld ms over %zu rows\n",
                at(0.5), at(0.99), f.size());
  }
}

// The registry and, when port > 0, its HTTP server. Declared before the workers that
// register metrics in it, so it outlives them.
struct MetricsEndpoint {
  MetricsRegistry registry;
  std::unique_ptr<MetricsServer> server;
  Status Start(int port) {
    if (port < 0) return Status::OK();  // no --metrics-port; 0 picks a free port
    RegisterProcessMetrics(registry);
    MetricsServerOptions o;
    o.port = port;
    VIGIL_ASSIGN_OR_RETURN(server, MetricsServer::Start(&registry, o));
    std::printf("metrics: http://127.0.0.1:%d/metrics\n", server->port());
    std::fflush(stdout);
    return Status::OK();
  }
  MetricsRegistry* get() { return server ? &registry : nullptr; }
};

// The periodic online/offline reconciliation of a process that runs ingestion.
class PeriodicSync {
 public:
  PeriodicSync(const Project& p, OnlineStore* online, IngestionWorker* ingestion, MetricsRegistry* metrics)
      : p_(p), online_(online), ingestion_(ingestion), metrics_(metrics), last_(WallClockMs()) {}
  Status MaybeRun() {
    if (p_.settings.sync_interval <= 0 || WallClockMs() - last_ < p_.settings.sync_interval) return Status::OK();
    VIGIL_RETURN_IF_ERROR(ingestion_->FlushOffline());
    VIGIL_ASSIGN_OR_RETURN(bool aligned, ingestion_->StoresAligned());
    if (!aligned) return Status::OK();  // the offline store is catching up: later
    last_ = WallClockMs();
    SyncOptions o;
    o.metrics = metrics_;
    VIGIL_ASSIGN_OR_RETURN(SyncReport r, SyncStores(p_.defs, online_, p_.settings.offline_dir, o));
    std::printf("sync: %lld entities checked, %lld differences, %lld repaired in %.2f s\n",
                static_cast<long long>(r.entities_checked), static_cast<long long>(r.total_differences),
                static_cast<long long>(r.repaired), r.seconds);
    std::fflush(stdout);
    return Status::OK();
  }

 private:
  const Project& p_;
  OnlineStore* online_;
  IngestionWorker* ingestion_;
  MetricsRegistry* metrics_;
  TimestampMs last_;
};

StreamOptions MakeStreamOptions(const Project& p) {
  StreamOptions o;
  o.state_dir = StreamStateDir(p);
  o.checkpoint_interval = p.settings.checkpoint_interval;
  o.idle_timeout = p.settings.idle_timeout;
  return o;
}

}  // namespace

Status Stream(const std::string& project, const StreamCommandOptions& options) {
  VIGIL_ASSIGN_OR_RETURN(Project p, LoadVersionedProject(project));
  VIGIL_ASSIGN_OR_RETURN(auto log, OpenLog(p));
  MetricsEndpoint metrics;
  VIGIL_RETURN_IF_ERROR(metrics.Start(options.metrics_port));
  StreamOptions sopts = MakeStreamOptions(p);
  // A view added or changed since the checkpoint is rebuilt from the archive and the log.
  sopts.history = [&p, l = log.get()](const SourceDef& source) {
    return ReadSourceHistoryWithArchive(source, l, p.settings.offline_dir);
  };
  sopts.metrics = metrics.get();
  VIGIL_ASSIGN_OR_RETURN(auto worker, StreamWorker::Open(p.defs, log.get(), sopts));
  std::unique_ptr<OnlineStore> online;
  std::unique_ptr<IngestionWorker> ingestion;
  if (!options.compute_only) {
    OnlineStoreOptions oopts;
    oopts.shards = p.settings.online_shards;
    VIGIL_ASSIGN_OR_RETURN(online, OnlineStore::Open(OnlineDir(p), oopts));
    IngestionOptions iopts;
    iopts.metrics = metrics.get();
    iopts.offline_dir = p.settings.offline_dir;
    VIGIL_ASSIGN_OR_RETURN(ingestion, IngestionWorker::Open(p.defs, log.get(), online.get(), iopts));
  }
  InstallStopHandlers();
  int64_t applied = 0;
  double ingest_seconds = 0;
  std::vector<int64_t> freshness;
  std::unique_ptr<PeriodicSync> sync;
  if (ingestion) sync = std::make_unique<PeriodicSync>(p, online.get(), ingestion.get(), metrics.get());
  auto ingest = [&](DurationMs wait) -> Status {
    if (!ingestion) return Status::OK();
    VIGIL_RETURN_IF_ERROR(sync->MaybeRun());
    VIGIL_ASSIGN_OR_RETURN(IngestionStats ing, ingestion->Poll(wait));
    applied += ing.rows_applied;
    ingest_seconds += ing.seconds;
    freshness.insert(freshness.end(), ing.freshness_samples_ms.begin(), ing.freshness_samples_ms.end());
    return Status::OK();
  };
  if (options.until_caught_up) {
    do {
      VIGIL_RETURN_IF_ERROR(worker->Poll().status());
      VIGIL_RETURN_IF_ERROR(ingest(0));
    } while (!worker->caught_up() && !StopRequested());
  } else {
    while (!StopRequested()) {
      VIGIL_ASSIGN_OR_RETURN(int64_t n, worker->Poll());
      // The ingestion consumer reads only what compute has appended to the log.
      VIGIL_RETURN_IF_ERROR(ingest(n == 0 ? 50 : 0));
      if (n == 0 && !ingestion) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  // A clean stop: the final checkpoint, then what it made final, checkpointed too.
  VIGIL_RETURN_IF_ERROR(worker->Checkpoint());
  VIGIL_RETURN_IF_ERROR(worker->Checkpoint());
  PrintCompute(worker->stats());
  if (ingestion) {
    for (;;) {
      VIGIL_ASSIGN_OR_RETURN(bool done, ingestion->CaughtUp());
      if (done) break;
      VIGIL_RETURN_IF_ERROR(ingest(100));
    }
    VIGIL_RETURN_IF_ERROR(ingestion->Close());
    PrintIngestion(applied, ingest_seconds, freshness, online.get());
  }
  return Status::OK();
}

Status Archive(const std::string& project, bool follow) {
  VIGIL_ASSIGN_OR_RETURN(Project p, LoadVersionedProject(project));
  VIGIL_ASSIGN_OR_RETURN(auto log, OpenLog(p));
  InstallStopHandlers();
  ArchiveStats total;
  RetentionReport removed;
  auto start = std::chrono::steady_clock::now();
  do {
    VIGIL_ASSIGN_OR_RETURN(ArchiveStats st, ArchiveUntilCaughtUp(p.defs, log.get(), p.settings.offline_dir));
    total.records += st.records;
    total.bytes += st.bytes;
    total.waiting = st.waiting;
    total.files_compacted += st.files_compacted;
    // What is archived may now go: retention applies (guarded by the archive's offsets).
    VIGIL_ASSIGN_OR_RETURN(RetentionReport r, log->EnforceRetention(WallClockMs()));
    removed.segments_deleted += r.segments_deleted;
    removed.bytes_deleted += r.bytes_deleted;
    for (int i = 0; follow && i < 20 && !StopRequested(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } while (follow && !StopRequested());
  std::printf("archive: %lld records (%lld payload bytes) written as Parquet under %s in %.2f s; retention "
              "deleted %lld segments (%lld bytes)\n",
              static_cast<long long>(total.records), static_cast<long long>(total.bytes),
              p.settings.offline_dir.c_str(), Since(start), static_cast<long long>(removed.segments_deleted),
              static_cast<long long>(removed.bytes_deleted));
  std::printf("archive: %lld source records wait for the stream worker's decision; %lld small files compacted\n",
              static_cast<long long>(total.waiting), static_cast<long long>(total.files_compacted));
  return Status::OK();
}

Status KafkaMock(int brokers) { return RunKafkaMockUntilSignal(brokers, std::cout); }

Status IngestWorker(const std::string& project, const IngestWorkerOptions& options) {
  VIGIL_ASSIGN_OR_RETURN(Project p, LoadVersionedProject(project));
  VIGIL_ASSIGN_OR_RETURN(auto log, OpenLog(p));
  OnlineStoreOptions oopts;
  oopts.shards = p.settings.online_shards;
  VIGIL_ASSIGN_OR_RETURN(auto online, OnlineStore::Open(OnlineDir(p), oopts));
  MetricsEndpoint metrics;
  VIGIL_RETURN_IF_ERROR(metrics.Start(options.metrics_port));
  IngestionOptions iopts;
  iopts.metrics = metrics.get();
  iopts.offline_dir = p.settings.offline_dir;
  VIGIL_ASSIGN_OR_RETURN(auto ingestion, IngestionWorker::Open(p.defs, log.get(), online.get(), iopts));
  InstallStopHandlers();
  int64_t applied = 0;
  double seconds = 0;
  std::vector<int64_t> freshness;
  PeriodicSync sync(p, online.get(), ingestion.get(), metrics.get());
  while (!StopRequested()) {
    if (options.until_caught_up) {
      VIGIL_ASSIGN_OR_RETURN(bool done, ingestion->CaughtUp());
      if (done) break;
    }
    VIGIL_RETURN_IF_ERROR(sync.MaybeRun());
    VIGIL_ASSIGN_OR_RETURN(IngestionStats ing, ingestion->Poll(100));
    applied += ing.rows_applied;
    seconds += ing.seconds;
    freshness.insert(freshness.end(), ing.freshness_samples_ms.begin(), ing.freshness_samples_ms.end());
  }
  VIGIL_RETURN_IF_ERROR(ingestion->Close());
  PrintIngestion(applied, seconds, freshness, online.get());
  return Status::OK();
}

Status Get(const std::string& project, const std::string& view_name, const std::string& key_text) {
  VIGIL_ASSIGN_OR_RETURN(Project p, LoadVersionedProject(project));
  const FeatureViewDef* view = p.defs.FindView(view_name);
  if (!view) return Status::InvalidArgument("unknown feature view '" + view_name + "'");
  const EntityDef& entity = *p.defs.FindEntity(view->entity);
  std::vector<std::string> parts;
  if (!key_text.empty() && key_text[0] == '{') {
    auto j = nlohmann::json::parse(key_text, nullptr, false);
    if (j.is_discarded() || !j.is_object())
      return Status::InvalidArgument("key is not a JSON object: " + key_text);
    for (const auto& k : entity.keys) {
      if (!j.contains(k)) return Status::InvalidArgument("key object lacks '" + k + "'");
      const auto& v = j[k];
      if (v.is_string())
        parts.push_back(v.get<std::string>());
      else if (v.is_number_integer() || v.is_boolean())
        parts.push_back(v.dump());
      else
        return Status::InvalidArgument("key field '" + k + "' must be a string or an integer");
    }
  } else {
    size_t start = 0;
    while (true) {
      size_t comma = key_text.find(',', start);
      parts.push_back(key_text.substr(start, comma == std::string::npos ? comma : comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  if (parts.size() != entity.keys.size()) {
    return Status::InvalidArgument("entity '" + entity.name + "' has " + std::to_string(entity.keys.size()) +
                                   " key fields, got " + std::to_string(parts.size()));
  }
  std::string key;
  for (size_t i = 0; i < parts.size(); ++i) key += (i ? std::string(1, kKeySeparator) : "") + parts[i];
  OnlineStoreOptions oopts;
  oopts.read_only = true;
  VIGIL_ASSIGN_OR_RETURN(auto online, OnlineStore::Open(OnlineDir(p), oopts));
  std::optional<FeatureRow> row;
  VIGIL_RETURN_IF_ERROR(online->MultiGet(OnlineViewName(*view), std::span(&key, 1), std::span(&row, 1)));
  std::string out = "{\"view\":";
  AppendJsonString(view->name, &out);
  out += ",\"key\":{";
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += ",";
    AppendJsonString(entity.keys[i], &out);
    out += ":";
    AppendJsonString(parts[i], &out);
  }
  out += "},\"found\":";
  out += row ? "true" : "false";
  out += ",\"ts\":" + (row ? std::to_string(row->ts) : std::string("null"));
  out += ",\"ts_iso\":";
  if (row)
    AppendJsonString(FormatIsoTimestamp(row->ts), &out);
  else
    out += "null";
  out += ",\"features\":{";
  for (size_t i = 0; i < view->features.size(); ++i) {
    if (i) out += ",";
    AppendJsonString(view->features[i].name, &out);
    out += ":";
    if (row && i < row->values.size())
      row->values[i].AppendJson(&out);
    else
      out += "null";
  }
  out += "}}";
  std::printf("%s\n", out.c_str());
  return Status::OK();
}

Status Dataset(const std::string& project, const DatasetOptions& options) {
  KeepFreedMemoryForReuse();
  VIGIL_ASSIGN_OR_RETURN(Project p, LoadVersionedProject(project));
  VIGIL_ASSIGN_OR_RETURN(auto log, OpenLog(p));
  VIGIL_ASSIGN_OR_RETURN(DatasetStats st, BuildDataset(p.defs, log.get(), p.settings.offline_dir, options));
  std::printf("dataset: %lld labels x %zu views in %.2f s (%s labels) -> %s\n", static_cast<long long>(st.labels),
              options.views.size(), st.seconds, Rate(st.labels, st.seconds).c_str(), options.out_path.c_str());
  std::printf("dataset: %lld label-view values from %lld offline changelog rows, %lld by replaying %lld events\n",
              static_cast<long long>(st.from_offline), static_cast<long long>(st.changelog_rows),
              static_cast<long long>(st.from_replay), static_cast<long long>(st.events_replayed));
  return Status::OK();
}

Status Changelog(const std::string& project, const std::string& view_name, ChangelogFrom from,
                 const std::string& out_path) {
  VIGIL_ASSIGN_OR_RETURN(Project p, LoadVersionedProject(project));
  const FeatureViewDef* view = p.defs.FindView(view_name);
  if (!view) return Status::InvalidArgument("unknown feature view '" + view_name + "'");
  VIGIL_ASSIGN_OR_RETURN(auto log, OpenLog(p));
  std::vector<ChangelogRow> rows;
  if (from == ChangelogFrom::kOffline) {
    const size_t nk = view->key_indexes.size(), nf = view->features.size();
    std::mutex mu;
    VIGIL_RETURN_IF_ERROR(ScanViewChangelog(
        p.defs, *view, p.settings.offline_dir, 2, kMaxTimestamp,
        [&](parquet::ColumnBatch&& batch, TimestampMs skip_from, TimestampMs skip_to) {
          std::vector<ChangelogRow> local;
          for (size_t r = 0; r < static_cast<size_t>(batch.rows()); ++r) {
            TimestampMs ts = batch.columns[nk].ints[r];
            if (ts >= skip_from && ts < skip_to) continue;
            ChangelogRow row;
            OfflineEntityKey(batch, nk, r, &row.entity);
            row.ts = ts;
            for (size_t f = 0; f < nf; ++f) row.values.push_back(batch.columns[nk + 1 + f].Get(r));
            local.push_back(std::move(row));
          }
          std::lock_guard lock(mu);
          for (auto& r : local) rows.push_back(std::move(r));
          return Status::OK();
        }));
    // A row's identity is (entity, ts): one ingested twice is printed once.
    std::sort(rows.begin(), rows.end(), [](const ChangelogRow& a, const ChangelogRow& b) {
      return a.entity != b.entity ? a.entity < b.entity : a.ts < b.ts;
    });
    rows.erase(std::unique(rows.begin(), rows.end(),
                           [](const ChangelogRow& a, const ChangelogRow& b) {
                             return a.entity == b.entity && a.ts == b.ts;
                           }),
               rows.end());
  } else if (from == ChangelogFrom::kReplay) {
    VIGIL_ASSIGN_OR_RETURN(SourceHistory h, ReadSourceHistoryWithArchive(*p.defs.FindSource(view->source),
                                                                        log.get(), p.settings.offline_dir));
    std::mutex mu;
    ReplayView(*view, h, h.watermark, 2, [&](const std::string&, std::vector<ChangelogRow>&& r) {
      std::lock_guard lock(mu);
      for (auto& x : r) rows.push_back(std::move(x));
    });
  } else {
    VIGIL_ASSIGN_OR_RETURN(auto reader, log->OpenReader(ChangelogTopic(*view)));
    LogRecord rec;
    for (;;) {
      VIGIL_ASSIGN_OR_RETURN(bool more, reader->Next(&rec));
      if (!more) break;
      ChangelogRow row;
      VIGIL_RETURN_IF_ERROR(DecodeChangelogPayload(rec.payload, &row));
      row.entity.assign(rec.key);
      rows.push_back(std::move(row));
    }
  }
  std::stable_sort(rows.begin(), rows.end(), [](const ChangelogRow& a, const ChangelogRow& b) {
    return a.entity != b.entity ? a.entity < b.entity : a.ts < b.ts;
  });
  return WriteRowsCsv(p.defs, *view, rows, out_path);
}

Status Online(const std::string& project, const std::string& view_name, const std::string& out_path) {
  VIGIL_ASSIGN_OR_RETURN(Project p, LoadVersionedProject(project));
  const FeatureViewDef* view = p.defs.FindView(view_name);
  if (!view) return Status::InvalidArgument("unknown feature view '" + view_name + "'");
  OnlineStoreOptions oopts;
  oopts.read_only = true;
  VIGIL_ASSIGN_OR_RETURN(auto online, OnlineStore::Open(OnlineDir(p), oopts));
  std::vector<ChangelogRow> rows;
  VIGIL_RETURN_IF_ERROR(online->Scan(OnlineViewName(*view), [&](const std::string& entity, const FeatureRow& r) {
    rows.push_back(ChangelogRow{entity, r.ts, r.values});
  }));
  std::sort(rows.begin(), rows.end(),
            [](const ChangelogRow& a, const ChangelogRow& b) { return a.entity < b.entity; });
  return WriteRowsCsv(p.defs, *view, rows, out_path);
}

}  // namespace vigil::cli
namespace vigil::cli {

Status Backfill(const std::string& project, const std::vector<std::string>& view_names,
                const BackfillCommandOptions& options) {
  KeepFreedMemoryForReuse();
  const auto start = std::chrono::steady_clock::now();
  VIGIL_ASSIGN_OR_RETURN(Project p, LoadVersionedProject(project));
  std::vector<const FeatureViewDef*> views;
  for (const std::string& name : view_names) {
    const FeatureViewDef* view = p.defs.FindView(name);
    if (!view) return Status::InvalidArgument("unknown feature view '" + name + "'");
    views.push_back(view);
  }
  VIGIL_ASSIGN_OR_RETURN(auto log, OpenLog(p));
  BackfillOptions o;
  if (!options.from.empty()) {
    VIGIL_ASSIGN_OR_RETURN(o.from, ParseTimestamp(options.from));
  }
  if (!options.to.empty()) {
    VIGIL_ASSIGN_OR_RETURN(o.to, ParseTimestamp(options.to));
  }
  o.threads = options.threads;
  o.memory_bytes = options.memory_mb << 20;
  o.stop_after_buckets = options.stop_after_buckets;
  o.max_open_files = options.max_open_files;
  VIGIL_ASSIGN_OR_RETURN(std::vector<BackfillStats> all,
                         BackfillViews(p.defs, views, log.get(), p.settings.offline_dir, o));
  int64_t rows = 0;
  for (size_t i = 0; i < views.size(); ++i) {
    const FeatureViewDef* view = views[i];
    const BackfillStats& st = all[i];
    rows += st.rows;
    std::printf(
        "backfill %s v%d: run %s%s, %lld events in %d buckets (%d done before), %lld rows written in %.2f s "
        "(spill %.2f s%s)\n",
        view->name.c_str(), view->version, st.run.c_str(), st.resumed ? " (resumed)" : "",
        static_cast<long long>(st.events), st.buckets, st.buckets_done_before,
        static_cast<long long>(st.rows), st.seconds, st.spill_seconds,
        st.spill_views > 1 ? (", one pass for " + std::to_string(st.spill_views) + " views").c_str() : "");
    std::printf("backfill %s v%d: %s; rows with ts in [%s, %s)\n", view->name.c_str(), view->version,
                st.complete ? "complete" : "stopped early: run the same command to resume",
                o.from == kMinTimestamp ? "start" : FormatIsoTimestamp(o.from).c_str(),
                st.bound == kMinTimestamp ? "start" : FormatIsoTimestamp(st.bound).c_str());
    std::printf("backfill bound: %s %lld\n", view->name.c_str(), static_cast<long long>(st.bound));
  }
  if (views.size() > 1) {
    std::printf("backfill: %zu views, %lld rows written in %.2f s\n", views.size(),
                static_cast<long long>(rows),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return Status::OK();
}

Status FeaturesList(const std::string& project, bool json) {
  VIGIL_ASSIGN_OR_RETURN(Project p, LoadVersionedProject(project));
  VIGIL_ASSIGN_OR_RETURN(auto reg, LoadFeatureRegistry(FeatureRegistryPath(p.settings.data_dir)));
  VIGIL_ASSIGN_OR_RETURN(auto log, OpenLog(p));
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [name, versions] : reg) {
    const FeatureViewDef* current = p.defs.FindView(name);
    for (const auto& v : versions) {
      if (v.removed) continue;
      FeatureViewDef at = current ? *current : FeatureViewDef{};
      at.name = name;
      at.version = v.version;
      std::string dir = OfflineFeaturesDir(p.settings.offline_dir, at);
      int64_t files = 0, bytes = 0;
      TimestampMs coverage = kMinTimestamp;
      VIGIL_ASSIGN_OR_RETURN(auto list, ListDatasetFiles(dir));
      for (const auto& f : list) {
        ++files;
        bytes += f.bytes;
      }
      BackfillRecord backfill;
      if (current) {
        VIGIL_ASSIGN_OR_RETURN(coverage, OfflineChangelogCoverage(at, log.get(), p.settings.offline_dir));
        VIGIL_ASSIGN_OR_RETURN(backfill, LastBackfill(p.settings.offline_dir, at));
      }
      nlohmann::json j = {{"view", name},
                          {"version", v.version},
                          {"current", current && current->version == v.version},
                          {"fingerprint", v.fingerprint},
                          {"registered_at", FormatIsoTimestamp(v.registered_at)},
                          {"offline_files", files},
                          {"offline_bytes", bytes},
                          {"filled_until", coverage == kMinTimestamp ? nlohmann::json() : nlohmann::json(FormatIsoTimestamp(coverage))},
                          {"backfill", backfill.run.empty() ? nlohmann::json()
                                                            : nlohmann::json{{"run", backfill.run},
                                                                             {"rows", backfill.rows},
                                                                             {"bound", FormatIsoTimestamp(backfill.bound)}}},
                          {"definition", v.definition}};
      out.push_back(std::move(j));
    }
  }
  if (json) {
    std::printf("%s\n", out.dump(2).c_str());
    return Status::OK();
  }
  std::printf("%-24s %7s %-8s %-26s %8s %10s  %s\n", "view", "version", "current", "filled until", "files",
              "bytes", "backfill");
  for (const auto& j : out) {
    std::printf("%-24s %7d %-8s %-26s %8lld %10lld  %s\n", j["view"].get<std::string>().c_str(),
                j["version"].get<int>(), j["current"].get<bool>() ? "yes" : "no",
                j["filled_until"].is_null() ? "-" : j["filled_until"].get<std::string>().c_str(),
                static_cast<long long>(j["offline_files"].get<int64_t>()),
                static_cast<long long>(j["offline_bytes"].get<int64_t>()),
                j["backfill"].is_null()
                    ? "-"
                    : (std::to_string(j["backfill"]["rows"].get<int64_t>()) + " rows below " +
                       j["backfill"]["bound"].get<std::string>())
                          .c_str());
  }
  return Status::OK();
}

Status FeaturesRemove(const std::string& project, const std::string& view_name, int version) {
  VIGIL_ASSIGN_OR_RETURN(Project p, LoadVersionedProject(project));
  const FeatureViewDef* current = p.defs.FindView(view_name);
  VIGIL_RETURN_IF_ERROR(RemoveViewVersion(FeatureRegistryPath(p.settings.data_dir), view_name, version,
                                          current ? current->version : 0));
  FeatureViewDef at;
  at.name = view_name;
  at.version = version;
  std::error_code ec;
  auto removed = fs::remove_all(OfflineFeaturesDir(p.settings.offline_dir, at), ec);
  if (ec) return Status::IOError("remove " + OfflineFeaturesDir(p.settings.offline_dir, at) + ": " + ec.message());
  std::printf("removed %s v%d (%lld offline files and directories)\n", view_name.c_str(), version,
              static_cast<long long>(removed));
  return Status::OK();
}

}  // namespace vigil::cli

namespace vigil::cli {

Status Sync(const std::string& project, bool check) {
  VIGIL_ASSIGN_OR_RETURN(Project p, LoadVersionedProject(project));
  OnlineStoreOptions oopts;
  oopts.shards = p.settings.online_shards;
  // Even --check opens it as its only user: beside a running ingestion worker, rows
  // buffered for the offline store would read as differences.
  auto online = OnlineStore::Open(OnlineDir(p), oopts);
  if (!online.ok()) {
    return online.status().WithContext(
        "open the online store (an ingestion worker holds it while it runs, and reconciles the stores itself every "
        "sync.interval)");
  }
  SyncOptions o;
  o.repair = !check;
  VIGIL_ASSIGN_OR_RETURN(SyncReport r, SyncStores(p.defs, online->get(), p.settings.offline_dir, o));
  std::printf("sync: %lld entities checked in %.2f s: %lld differences%s\n",
              static_cast<long long>(r.entities_checked), r.seconds, static_cast<long long>(r.total_differences),
              check ? " (--check: nothing repaired)" : (", " + std::to_string(r.repaired) + " repaired").c_str());
  for (const auto& [view, kinds] : r.differences) {
    for (const auto& [kind, n] : kinds) {
      std::printf("sync: %-24s %-16s %lld\n", view.c_str(), kind.c_str(), static_cast<long long>(n));
    }
  }
  return Status::OK();
}

}  // namespace vigil::cli

namespace vigil::cli {

namespace {

// One scoring request of the replay: its moment and its /v1/score body.
struct ReplayRequest {
  TimestampMs ts = 0;
  std::string body;
};

// The model's labelled events in [from, until) as /v1/score bodies (keys, request fields,
// ts, id), in ts order. Only the request side of a label row is sent: never its outcome.
Result<std::vector<ReplayRequest>> ReplayRequests(const Project& p, const ModelDef& model, const std::string& path,
                                                  TimestampMs from, TimestampMs until) {
  VIGIL_ASSIGN_OR_RETURN(LabelTable t, ReadLabelTable(path, model.labels.ts_column));
  std::vector<std::pair<size_t, std::string>> keys;
  for (const auto& k : model.labels.keys) {
    VIGIL_ASSIGN_OR_RETURN(size_t c, t.Column(k));
    keys.emplace_back(c, k);
  }
  std::vector<std::pair<size_t, const Field*>> fields;
  for (const auto& f : model.request.fields()) {
    VIGIL_ASSIGN_OR_RETURN(size_t c, t.Column(f.name));
    fields.emplace_back(c, &f);
  }
  auto id_col = t.Column("event_id");
  std::vector<ReplayRequest> out;
  for (size_t i = 0; i < t.size(); ++i) {
    if (t.ts[i] < from || t.ts[i] >= until) continue;
    nlohmann::json keys_json = nlohmann::json::object(), request = nlohmann::json::object();
    for (const auto& [c, name] : keys) {
      if (!t.cell(i, c).empty()) keys_json[name] = t.cell(i, c);
    }
    for (const auto& [c, f] : fields) {
      const std::string cell(t.cell(i, c));
      if (cell.empty()) continue;
      switch (f->type) {
        case Type::kDouble:
          request[f->name] = std::strtod(cell.c_str(), nullptr);
          break;
        case Type::kInt64:
        case Type::kTimestamp:
          request[f->name] = std::strtoll(cell.c_str(), nullptr, 10);
          break;
        case Type::kBool:
          request[f->name] = cell == "true" || cell == "1";
          break;
        default:
          request[f->name] = cell;
      }
    }
    nlohmann::json body = {{"model", model.name}, {"keys", keys_json}, {"request", request}, {"ts", t.ts[i]}};
    if (id_col.ok()) body["id"] = t.cell(i, *id_col);
    out.push_back({t.ts[i], body.dump()});
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.ts < b.ts; });
  return out;
}

}  // namespace

Status Replay(const std::string& project, const ReplayOptions& options) {
  VIGIL_ASSIGN_OR_RETURN(Project p, LoadVersionedProject(project));
  VIGIL_ASSIGN_OR_RETURN(auto log, OpenLog(p));
  const auto start = std::chrono::steady_clock::now();
  // The events of [from, until), by source, as the topic records `ingest` would append.
  struct Pending {
    TimestampMs ts;
    std::string key, payload;
  };
  std::map<std::string, std::vector<Pending>> pending;
  std::map<std::string, int64_t> rejected;
  int64_t outside = 0, events = 0;
  for (const auto& [name, source] : p.defs.sources) {
    std::string file;
    for (const char* ext : {".jsonl", ".csv", ".parquet"}) {
      if (std::filesystem::exists(options.data + "/" + name + ext)) {
        file = options.data + "/" + name + ext;
        break;
      }
    }
    if (file.empty()) continue;
    VIGIL_ASSIGN_OR_RETURN(InputFormat format, FormatFromPath(file));
    auto& out = pending[name];
    std::vector<std::pair<std::string, std::string>> rejections;
    std::string payload;
    VIGIL_RETURN_IF_ERROR(DecodeFile(
        file, format, IngestDecodeOptions(p, source),
        [&](Event&& ev, int64_t) -> Status {
          if (ev.ts < options.from || ev.ts >= options.until) {
            ++outside;
            return Status::OK();
          }
          payload.clear();
          EncodeEvent(ev, &payload);
          out.push_back({ev.ts, SourceRecordKey(source, ev.fields), payload});
          ++events;
          return Status::OK();
        },
        [&](RejectedRecord&& r) -> Status {
          rejections.emplace_back("reject:" + r.file + ":" + std::to_string(r.line), DeadLetter(r));
          return Status::OK();
        }));
    std::stable_sort(out.begin(), out.end(), [](const Pending& a, const Pending& b) { return a.ts < b.ts; });
    if (!rejections.empty()) {
      rejected[name] = static_cast<int64_t>(rejections.size());
      VIGIL_ASSIGN_OR_RETURN(auto dlq, OpenSharedWriter(log.get(), DeadLetterTopic(name), 60000));
      for (const auto& [key, value] : rejections) VIGIL_RETURN_IF_ERROR(dlq->Append(key, value));
      VIGIL_RETURN_IF_ERROR(dlq->Flush(true));
    }
  }
  if (pending.empty()) return Status::InvalidArgument("no <source>.jsonl, .csv or .parquet file of any source in " + options.data);
  TimestampMs first = kMaxTimestamp, last = kMinTimestamp;
  for (const auto& [name, v] : pending) {
    if (!v.empty()) first = std::min(first, v.front().ts), last = std::max(last, v.back().ts);
  }
  if (first == kMaxTimestamp) return Status::InvalidArgument("no event of " + options.data + " in the replayed period");

  // Scoring: requests of the model's labelled events, against a running server.
  std::unique_ptr<HttpClient> client;
  std::vector<ReplayRequest> requests;
  const std::string admin_token = std::getenv("VIGIL_ADMIN_TOKEN") ? std::getenv("VIGIL_ADMIN_TOKEN") : "";
  const std::string api_token = std::getenv("VIGIL_API_TOKEN") ? std::getenv("VIGIL_API_TOKEN") : "";
  if (!options.url.empty() || !options.model.empty()) {
    const ModelDef* model = p.defs.FindModel(options.model);
    if (!model) return Status::InvalidArgument("--model: not a model of the definitions: '" + options.model + "'");
    std::string path = options.requests.empty() ? model->labels.path : options.requests;
    VIGIL_ASSIGN_OR_RETURN(requests, ReplayRequests(p, *model, path, options.from, options.until));
    if (!options.url.empty()) {
      VIGIL_ASSIGN_OR_RETURN(client, HttpClient::Connect(options.url));
    }
  }
  auto catch_up_server = [&]() -> Status {
    if (!client) return Status::OK();
    VIGIL_ASSIGN_OR_RETURN(HttpClientResponse r, client->Request("POST", "/v1/admin/reload", "", admin_token));
    if (r.status != 200) return Status::IOError("POST /v1/admin/reload: " + std::to_string(r.status) + " " + r.body);
    return Status::OK();
  };

  // Compute and ingestion in this process, as `vigil stream` runs them.
  StreamOptions sopts = MakeStreamOptions(p);
  sopts.history = [&p, l = log.get()](const SourceDef& source) {
    return ReadSourceHistoryWithArchive(source, l, p.settings.offline_dir);
  };
  VIGIL_ASSIGN_OR_RETURN(auto worker, StreamWorker::Open(p.defs, log.get(), sopts));
  OnlineStoreOptions oopts;
  oopts.shards = p.settings.online_shards;
  VIGIL_ASSIGN_OR_RETURN(auto online, OnlineStore::Open(OnlineDir(p), oopts));
  IngestionOptions iopts;
  iopts.offline_dir = p.settings.offline_dir;
  VIGIL_ASSIGN_OR_RETURN(auto ingestion, IngestionWorker::Open(p.defs, log.get(), online.get(), iopts));
  // Without --url, the model is scored in this process by the scoring service itself,
  // reading the online store this process writes.
  std::unique_ptr<ScoringService> service;
  if (!client && !requests.empty()) {
    ScoringOptions so;
    so.models_root = ModelsRoot(p);
    VIGIL_ASSIGN_OR_RETURN(service, ScoringService::Open(p.defs, online.get(), log.get(), nullptr, so));
  }
  std::map<std::string, std::unique_ptr<TopicWriter>> writers;
  for (const auto& entry : pending) {
    VIGIL_ASSIGN_OR_RETURN(writers[entry.first], log->OpenWriter(entry.first));
  }
  std::map<std::string, size_t> next;
  int64_t scored = 0, failed = 0, steps = 0, rounds = 0;
  std::string first_failure;
  // Appends the events before `end` not appended yet; true if there were any.
  auto append_before = [&](TimestampMs end) -> Result<bool> {
    bool any = false;
    for (auto& [name, v] : pending) {
      size_t& i = next[name];
      const size_t was = i;
      for (; i < v.size() && v[i].ts < end; ++i) VIGIL_RETURN_IF_ERROR(writers[name]->Append(v[i].key, v[i].payload));
      if (i != was) {
        any = true;
        VIGIL_RETURN_IF_ERROR(writers[name]->Flush(false));
      }
    }
    return any;
  };
  // Computes and ingests what was appended, then lets the server see it.
  auto run_pipeline = [&]() -> Status {
    ++rounds;
    do {
      VIGIL_RETURN_IF_ERROR(worker->Poll().status());
      VIGIL_RETURN_IF_ERROR(ingestion->Poll(0).status());
    } while (!worker->caught_up());
    for (;;) {
      VIGIL_ASSIGN_OR_RETURN(bool done, ingestion->CaughtUp());
      if (done) break;
      VIGIL_RETURN_IF_ERROR(ingestion->Poll(0).status());
    }
    return catch_up_server();
  };
  auto score = [&](const ReplayRequest& r) -> Status {
    int status = 0;
    std::string body;
    if (service) {
      HttpResponse res = service->Score(r.body);
      status = res.status;
      body = std::move(res.body);
    } else {
      VIGIL_ASSIGN_OR_RETURN(HttpClientResponse res, client->Request("POST", "/v1/score", r.body, api_token));
      status = res.status;
      body = std::move(res.body);
    }
    if (status == 200) {
      ++scored;
    } else if (failed++ == 0) {
      first_failure = std::to_string(status) + " " + body;
    }
    return Status::OK();
  };
  InstallStopHandlers();
  if (service) {
    // In process: every request sees every event before its moment (no lag).
    for (const auto& r : requests) {
      if (StopRequested()) break;
      VIGIL_ASSIGN_OR_RETURN(bool any, append_before(r.ts));
      if (any) VIGIL_RETURN_IF_ERROR(run_pipeline());
      VIGIL_RETURN_IF_ERROR(score(r));
    }
    VIGIL_ASSIGN_OR_RETURN(bool any, append_before(options.until));
    if (any) VIGIL_RETURN_IF_ERROR(run_pipeline());
    service->Stop();  // flushes the serving log
  } else {
    const DurationMs step = options.step_ms > 0 ? options.step_ms : (last - first + 1);
    size_t next_request = 0;
    for (TimestampMs t = options.from == kMinTimestamp ? first : options.from;
         t <= last && t < options.until && !StopRequested();) {
      const TimestampMs end = std::min<TimestampMs>(t + step, options.until);
      // 1. The requests of [t, end) see the features of what happened before t.
      for (; next_request < requests.size() && requests[next_request].ts < end; ++next_request) {
        VIGIL_RETURN_IF_ERROR(score(requests[next_request]));
      }
      // 2. Then the events of [t, end) happen: appended, computed, ingested.
      VIGIL_ASSIGN_OR_RETURN(bool any, append_before(end));
      if (any) VIGIL_RETURN_IF_ERROR(run_pipeline());  // a step without events changes nothing
      ++steps;
      if (options.progress && (end - (options.from == kMinTimestamp ? first : options.from)) % 86'400'000 == 0) {
        std::printf("replay: to %s, %lld requests scored\n", FormatIsoTimestamp(end).c_str(), static_cast<long long>(scored));
        std::fflush(stdout);
      }
      t = end;
    }
  }
  for (auto& [name, w] : writers) VIGIL_RETURN_IF_ERROR(w->Flush(true));
  VIGIL_RETURN_IF_ERROR(worker->Checkpoint());
  VIGIL_RETURN_IF_ERROR(worker->Checkpoint());
  for (;;) {
    VIGIL_ASSIGN_OR_RETURN(bool done, ingestion->CaughtUp());
    if (done) break;
    VIGIL_RETURN_IF_ERROR(ingestion->Poll(20).status());
  }
  VIGIL_RETURN_IF_ERROR(ingestion->Close());
  VIGIL_RETURN_IF_ERROR(catch_up_server());
  PrintCompute(worker->stats());
  std::printf("replay: %lld events of [%s, %s] in %lld steps, %lld pipeline rounds (%lld outside the period",
              static_cast<long long>(events), FormatIsoTimestamp(first).c_str(), FormatIsoTimestamp(last).c_str(),
              static_cast<long long>(steps), static_cast<long long>(rounds), static_cast<long long>(outside));
  for (const auto& [name, n] : rejected) std::printf(", %lld %s rejected to dlq", static_cast<long long>(n), name.c_str());
  std::printf("); %lld requests scored, %lld failed, in %.2f s\n", static_cast<long long>(scored),
              static_cast<long long>(failed), Since(start));
  if (failed) return Status::IOError(std::to_string(failed) + " scoring requests failed; the first: " + first_failure);
  return Status::OK();
}

}  // namespace vigil::cli
