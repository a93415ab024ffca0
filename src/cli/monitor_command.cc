// `vigil monitor drift | skew | performance | run` (commands.h): the serving log against
// the models' references, the offline store and the outcomes that came later. Each check
// is a round over what the log holds now; `run` repeats them and keeps their results as
// Prometheus metrics.
#include <cstdio>
#include <filesystem>
#include <optional>
#include <csignal>
#include <set>
#include <thread>

#include "cli/commands.h"
#include "common/files.h"
#include "common/metrics.h"
#include "monitoring/metrics_server.h"
#include "monitoring/drift_monitor.h"
#include "monitoring/monitor_topics.h"
#include "monitoring/performance.h"
#include "monitoring/skew.h"
#include "training/dataset.h"
#include "serving/scoring_service.h"
#include "training/feature_vector.h"
#include "training/model_registry.h"
#include "training/reference.h"
#include "training/retrain.h"

namespace vigil::cli {

namespace {

// Reads the serving log from positions `next` (one per partition; missing ones, or ones
// below the log's start, from the start) to the ends found now, in log order; returns the
// next positions.
Result<std::vector<int64_t>> ReadServingLogFrom(Log* log, std::vector<int64_t> next,
                                                const std::function<Status(const LogRecord&)>& fn) {
  VIGIL_RETURN_IF_ERROR(log->CreateTopic(kServingLogTopic, log->options().partitions));
  VIGIL_ASSIGN_OR_RETURN(auto ends, log->EndOffsets(kServingLogTopic));
  VIGIL_ASSIGN_OR_RETURN(auto starts, log->StartOffsets(kServingLogTopic));
  next.resize(ends.size(), 0);
  VIGIL_ASSIGN_OR_RETURN(auto reader, log->OpenReader(kServingLogTopic));
  for (size_t i = 0; i < ends.size(); ++i) {
    next[i] = std::max(next[i], starts[i]);
    VIGIL_RETURN_IF_ERROR(reader->Seek(static_cast<int>(i), next[i]));
  }
  LogRecord rec;
  for (;;) {
    VIGIL_ASSIGN_OR_RETURN(bool more, reader->Next(&rec));
    if (!more) break;
    if (rec.offset >= ends[rec.partition]) continue;
    next[rec.partition] = rec.offset + 1;
    VIGIL_RETURN_IF_ERROR(fn(rec));
  }
  return next;
}

// Reads the serving log from where consumer group `group` stopped (or from the start) to
// the ends found now, in log order; returns the next positions, for Commit.
Result<std::vector<int64_t>> ReadServingLog(Log* log, const std::string& group, bool from_start,
                                            const std::function<Status(const LogRecord&)>& fn) {
  std::vector<int64_t> next;
  if (!from_start) {
    VIGIL_RETURN_IF_ERROR(log->CreateTopic(kServingLogTopic, log->options().partitions));
    VIGIL_ASSIGN_OR_RETURN(next, log->Committed(group, kServingLogTopic));
  }
  return ReadServingLogFrom(log, std::move(next), fn);
}

Result<FeatureLayout> VersionLayout(const ModelRegistry& registry, const std::string& model, int version) {
  VIGIL_ASSIGN_OR_RETURN(ModelVersionInfo info, registry.Version(model, version));
  VIGIL_ASSIGN_OR_RETURN(std::string layout_json, ReadWholeFile(info.dir + "/layout.json"));
  return FeatureLayout::FromJson(layout_json);
}

// What every round needs, opened once.
struct Monitoring {
  Project p;
  std::unique_ptr<Log> log;
  std::unique_ptr<ModelRegistry> registry;
  MetricsRegistry* metrics = nullptr;  // `monitor run` only
};

Result<std::unique_ptr<Monitoring>> OpenMonitoring(const std::string& project) {
  auto m = std::make_unique<Monitoring>();
  VIGIL_ASSIGN_OR_RETURN(m->p, LoadVersionedProject(project));
  VIGIL_ASSIGN_OR_RETURN(m->log, OpenLog(m->p));
  VIGIL_ASSIGN_OR_RETURN(ModelRegistry registry, ModelRegistry::Open(ModelsRoot(m->p)));
  m->registry = std::make_unique<ModelRegistry>(std::move(registry));
  return m;
}

std::unique_ptr<DriftMonitor> NewDriftMonitor(Monitoring& m, DurationMs window) {
  VersionLoader loader = [&m](const std::string& model, int version) -> Result<MonitoredVersion> {
    VIGIL_ASSIGN_OR_RETURN(ModelVersionInfo info, m.registry->Version(model, version));
    VIGIL_ASSIGN_OR_RETURN(FeatureLayout layout, VersionLayout(*m.registry, model, version));
    VIGIL_ASSIGN_OR_RETURN(std::string refs_json, ReadWholeFile(info.dir + "/reference.json"));
    VIGIL_ASSIGN_OR_RETURN(std::vector<FeatureReference> refs, ReferencesFromJson(refs_json));
    MonitoredVersion mv;
    for (const auto& c : layout.columns()) {
      mv.columns.push_back(c.name);
      mv.vocabularies.push_back(c.vocabulary);
    }
    for (auto& r : refs) {
      std::string name = r.name;
      mv.references.emplace(std::move(name), std::move(r));
    }
    return mv;
  };
  DriftMonitorOptions mo;
  mo.window = window;
  return std::make_unique<DriftMonitor>(loader, mo);
}

double LevelValue(DriftLevel l) { return l == DriftLevel::kAlert ? 2 : l == DriftLevel::kWarn ? 1 : 0; }

// Drift over the serving log records since the last round (consumer group
// vigil-monitor-drift, unless from_start): closed windows to _drift, level changes to
// _alerts (and a retrain trigger on an alert when asked); `flush` closes the open windows
// too (a one-shot run). A long-running monitor commits records of still-open windows:
// after a restart those windows start again from there.
Status DriftRound(Monitoring& m, DriftMonitor& monitor, const MonitorDriftOptions& options, bool flush) {
  Log* log = m.log.get();
  std::vector<DriftWindowReport> closed;
  std::vector<AlertChange> changes;
  int64_t records = 0, bad = 0;
  const std::string group = "vigil-monitor-drift";
  Status failed;
  VIGIL_ASSIGN_OR_RETURN(auto next, ReadServingLog(log, group, options.from_start, [&](const LogRecord& rec) {
    ++records;
    if (!options.model.empty() && rec.key != options.model) return Status::OK();
    Status s = monitor.Add(rec.payload, &closed, &changes);
    if (s.IsInvalidArgument()) {
      ++bad;
      return Status::OK();
    }
    return s;
  }));
  if (flush) monitor.Flush(&closed, &changes);
  VIGIL_ASSIGN_OR_RETURN(auto drift_writer, log->OpenWriter(kDriftTopic));
  for (const auto& w : closed) {
    VIGIL_RETURN_IF_ERROR(drift_writer->Append(w.model, w.ToJson()));
    std::printf("%s v%d [%s, %s): %lld requests, %s\n", w.model.c_str(), w.version,
                FormatIsoTimestamp(w.from).c_str(), FormatIsoTimestamp(w.to).c_str(),
                static_cast<long long>(w.requests), DriftLevelName(w.level));
    for (const auto& r : w.results) {
      if (r.level == DriftLevel::kWarn || r.level == DriftLevel::kAlert) {
        std::printf("  %-40s %-5s psi %.3f ks %.3f js %.3f\n", r.feature.c_str(), DriftLevelName(r.level),
                    r.psi, r.ks, r.js);
      }
      if (m.metrics) {
        const Labels labels = {{"model", w.model}, {"version", std::to_string(w.version)}, {"feature", r.feature}};
        m.metrics->AddGauge("vigil_drift_psi", "PSI of the last closed drift window against the training reference.", labels)
            .Set(r.psi);
        m.metrics->AddGauge("vigil_drift_ks", "KS of the last closed drift window (numeric features).", labels).Set(r.ks);
        m.metrics->AddGauge("vigil_drift_js", "Jensen-Shannon of the last closed drift window (categorical features).", labels)
            .Set(r.js);
        m.metrics->AddGauge("vigil_drift_level", "Drift level of the last closed window: 0 none, 1 warn, 2 alert.", labels)
            .Set(LevelValue(r.level));
      }
    }
    if (m.metrics) {
      m.metrics->AddGauge("vigil_drift_window_end_seconds", "End of the last closed drift window (serving time).",
                          {{"model", w.model}})
          .Set(static_cast<double>(w.to) / 1000.0);
    }
  }
  VIGIL_RETURN_IF_ERROR(drift_writer->Flush(true));
  VIGIL_ASSIGN_OR_RETURN(auto alert_writer, log->OpenWriter(kAlertsTopic));
  std::set<std::string> retrain;
  for (const auto& c : changes) {
    VIGIL_RETURN_IF_ERROR(alert_writer->Append(c.model, c.ToJson()));
    std::printf("alert %s %s: %s -> %s at %s (psi %.3f)\n", c.model.c_str(), c.feature.c_str(),
                DriftLevelName(c.from), DriftLevelName(c.to), FormatIsoTimestamp(c.at).c_str(), c.psi);
    if (m.metrics) {
      m.metrics->AddCounter("vigil_monitor_alert_changes_total", "Alert state changes written to _alerts.",
                            {{"kind", "drift"}, {"to", DriftLevelName(c.to)}})
          .Increment();
    }
    if (c.to == DriftLevel::kAlert) retrain.insert(c.model);
  }
  VIGIL_RETURN_IF_ERROR(alert_writer->Flush(true));
  if (options.trigger_retrain) {
    for (const auto& model : retrain) {
      VIGIL_RETURN_IF_ERROR(RequestRetrain(log, model, "drift alert"));
      std::printf("retraining of %s requested: drift alert\n", model.c_str());
    }
  }
  if (!options.from_start) VIGIL_RETURN_IF_ERROR(log->Commit(group, kServingLogTopic, next));
  std::printf("monitor drift: %lld serving log records, %lld not records, %zu windows, %zu alert changes\n",
              static_cast<long long>(records), static_cast<long long>(bad), closed.size(), changes.size());
  return Status::OK();
}

// A skew check of a sample of the requests served since the last round (monitoring/skew.h).
Status SkewRound(Monitoring& m, const MonitorSkewOptions& options) {
  const Project& p = m.p;
  Log* log_ptr = m.log.get();
  ModelRegistry& registry = *m.registry;
  SkewSampler sampler(options.sample, options.seed);
  int64_t records = 0, bad = 0;
  const std::string group = "vigil-monitor-skew";
  VIGIL_ASSIGN_OR_RETURN(auto next, ReadServingLog(log_ptr, group, options.from_start, [&](const LogRecord& rec) {
    ++records;
    if (!options.model.empty() && rec.key != options.model) return Status::OK();
    if (sampler.Add(rec.payload).IsInvalidArgument()) ++bad;
    return Status::OK();
  }));
  SkewOptions so;
  so.offline_dir = options.replay_only ? "" : p.settings.offline_dir;
  so.join.threads = options.threads;
  so.join.replay_only = options.replay_only;
  VIGIL_ASSIGN_OR_RETURN(auto writer, log_ptr->OpenWriter(kSkewTopic));
  for (const auto& [key, sample] : sampler.Take()) {
    VIGIL_ASSIGN_OR_RETURN(FeatureLayout layout, VersionLayout(registry, key.first, key.second));
    VIGIL_ASSIGN_OR_RETURN(SkewReport r, CheckSkew(p.defs, log_ptr, key.first, key.second, layout, sample, so));
    VIGIL_RETURN_IF_ERROR(writer->Append(r.model, r.ToJson()));
    if (m.metrics) {
      const std::string version = std::to_string(r.version);
      m.metrics->AddGauge("vigil_skew_mismatch_ratio", "Share of the last skew check's sampled requests with any feature differing.",
                          {{"model", r.model}, {"version", version}})
          .Set(r.mismatch_rate());
      for (const auto& f : r.features) {
        m.metrics->AddGauge("vigil_skew_feature_mismatch_ratio", "Share of the last skew check's sampled requests whose feature differs.",
                            {{"model", r.model}, {"version", version}, {"feature", f.feature}})
            .Set(f.rate());
      }
    }
    std::printf("skew %s v%d: %lld of %lld sampled requests [%s, %s] differ from the offline recomputation (%.2f%%)\n",
                r.model.c_str(), r.version, static_cast<long long>(r.mismatched_rows),
                static_cast<long long>(r.sampled), FormatIsoTimestamp(r.from).c_str(),
                FormatIsoTimestamp(r.to).c_str(), 100.0 * r.mismatch_rate());
    for (const auto& f : r.features) {
      if (f.mismatches) {
        std::printf("  %-44s %6lld of %lld (%.2f%%)\n", f.feature.c_str(), static_cast<long long>(f.mismatches),
                    static_cast<long long>(f.compared), 100.0 * f.rate());
      }
    }
    for (const auto& e : r.examples) {
      std::printf("  e.g. %s at %s keys %s: served %g, offline %g\n", e.feature.c_str(),
                  FormatIsoTimestamp(e.ts).c_str(), e.keys.c_str(), e.served, e.offline);
    }
  }
  VIGIL_RETURN_IF_ERROR(writer->Flush(true));
  if (!options.from_start) VIGIL_RETURN_IF_ERROR(log_ptr->Commit(group, kServingLogTopic, next));
  std::printf("monitor skew: %lld serving log records read, %lld not records\n", static_cast<long long>(records),
              static_cast<long long>(bad));
  return Status::OK();
}

// What a monitor keeps of one model between performance rounds, so that a round reads
// only what changed since the last one: the serving log records past `next`, and the
// label file only when its size or modification time changed. Records are kept as
// judging needs them (monitoring/performance.h's PendingScores: score and id, per
// window), and only until their window has been judged. Where the reading may start again
// is committed to consumer group PerformanceGroup after each round: the position of the
// oldest record kept in each partition, since every record before it is in a judged
// window. So a restarted `monitor run`, or the next one-shot `monitor performance`, reads
// only the records of windows not judged yet and those since.
struct PerformanceState {
  bool started = false;                  // next holds the group's committed positions
  std::vector<int64_t> next;             // serving log positions read up to
  std::optional<PendingScores> pending;  // the model's records in windows not judged yet
  TimestampMs latest = kMinTimestamp;    // the latest serving ts read
  int64_t read = 0, bad = 0;             // records read (the model's) and not records, in all
  ServedRecord record;                   // the record being read (kept to reuse its buffers)
  std::string labels_path;
  std::filesystem::file_time_type labels_mtime;
  uintmax_t labels_size = 0;
  std::unordered_map<std::string, Outcome> outcomes;
};

// One group per model and window width: windows of another width group the records
// differently, so they start from the beginning.
std::string PerformanceGroup(const MonitorPerformanceOptions& options) {
  return "vigil-monitor-performance-" + options.model + "-" + std::to_string(options.window_ms);
}

// Reads the outcomes of `model` (its label file, or --labels) by id into state, unless the
// file is the one read last time, unchanged.
Status LoadOutcomes(const ModelDef& model, const MonitorPerformanceOptions& options,
                    PerformanceState* state) {
  const std::string path = options.labels.empty() ? model.labels.path : options.labels;
  std::error_code ec1, ec2;
  const auto mtime = std::filesystem::last_write_time(path, ec1);
  const auto size = std::filesystem::file_size(path, ec2);
  if (!ec1 && !ec2 && path == state->labels_path && mtime == state->labels_mtime &&
      size == state->labels_size) {
    return Status::OK();
  }
  std::vector<std::string> columns = {options.id_column, model.labels.target};
  if (!model.labels.known_at_column.empty()) columns.push_back(model.labels.known_at_column);
  VIGIL_ASSIGN_OR_RETURN(LabelTable labels, ReadLabelTable(path, model.labels.ts_column, columns));
  std::unordered_map<std::string, Outcome> outcomes;
  outcomes.reserve(labels.size());
  for (size_t i = 0; i < labels.size(); ++i) {
    Outcome o;
    o.target = labels.cell(i, 1) == "1" || labels.cell(i, 1) == "true";
    o.known_at = labels.ts[i];
    if (labels.header.size() > 2 && !labels.cell(i, 2).empty()) {
      auto t = ParseTimestamp(labels.cell(i, 2));
      if (!t.ok())
        return Status::InvalidArgument(path + ": " + model.labels.known_at_column + ": " +
                                       t.status().message());
      o.known_at = *t;
    }
    outcomes[std::string(labels.cell(i, 0))] = o;
  }
  state->outcomes = std::move(outcomes);
  state->labels_path = ec1 || ec2 ? "" : path;  // an unreadable identity: read again next time
  state->labels_mtime = mtime;
  state->labels_size = size;
  return Status::OK();
}

// Judges the windows of the serving log that are due (monitoring/performance.h).
Status PerformanceRound(Monitoring& m, const MonitorPerformanceOptions& options, PerformanceState* state) {
  const Project& p = m.p;
  const ModelDef* model = p.defs.FindModel(options.model);
  if (!model) return Status::InvalidArgument("unknown model '" + options.model + "'");
  Log* log_ptr = m.log.get();
  ModelRegistry& registry = *m.registry;
  VIGIL_RETURN_IF_ERROR(LoadOutcomes(*model, options, state));
  const auto& outcomes = state->outcomes;
  // The model's scored records since the last round (or since the committed positions).
  const std::string group = PerformanceGroup(options);
  if (!state->started) {
    VIGIL_RETURN_IF_ERROR(log_ptr->CreateTopic(kServingLogTopic, log_ptr->options().partitions));
    VIGIL_ASSIGN_OR_RETURN(state->next, log_ptr->Committed(group, kServingLogTopic));
    state->started = true;
  }
  PerformanceOptions po;
  po.window = options.window_ms;
  po.delay = options.delay_ms;
  po.max_drop = options.max_drop;
  if (!state->pending) state->pending.emplace(options.model, po);
  PendingScores& pending = *state->pending;
  int64_t read_now = 0;
  VIGIL_ASSIGN_OR_RETURN(state->next, ReadServingLogFrom(log_ptr, state->next, [&](const LogRecord& rec) {
                           if (rec.key != options.model) return Status::OK();
                           ServedRecord& r = state->record;
                           if (!ParseServedRecord(rec.payload, ServedParts::kHeader, &r).ok()) {
                             ++state->bad;
                             return Status::OK();
                           }
                           ++read_now;
                           state->latest = std::max(state->latest, r.ts);
                           pending.Add(r.version, r.ts, r.score, r.id, rec.partition, rec.offset);
                           return Status::OK();
                         }));
  state->read += read_now;
  const TimestampMs latest = state->latest;
  TimestampMs as_of = latest;
  if (!options.as_of.empty()) {
    VIGIL_ASSIGN_OR_RETURN(as_of, ParseTimestamp(options.as_of));
  }
  std::map<std::pair<std::string, int>, double> baseline;
  VIGIL_ASSIGN_OR_RETURN(auto versions, registry.Versions(options.model));
  for (const auto& v : versions) {
    auto it = v.metrics.find("roc_auc");
    if (it != v.metrics.end()) baseline[{v.model, v.version}] = it->second;
  }
  // What earlier runs judged already: the last window end and level per version.
  std::map<std::pair<std::string, int>, std::pair<TimestampMs, bool>> done;
  VIGIL_RETURN_IF_ERROR(log_ptr->CreateTopic(kPerformanceTopic, log_ptr->options().partitions));
  {
    VIGIL_ASSIGN_OR_RETURN(auto reader, log_ptr->OpenReader(kPerformanceTopic));
    VIGIL_ASSIGN_OR_RETURN(auto ends, log_ptr->EndOffsets(kPerformanceTopic));
    LogRecord rec;
    for (;;) {
      VIGIL_ASSIGN_OR_RETURN(bool more, reader->Next(&rec));
      if (!more) break;
      if (rec.offset >= ends[rec.partition]) continue;
      auto j = nlohmann::json::parse(rec.payload, nullptr, false);
      if (!j.is_object() || !j.contains("to") || !j["to"].is_number_integer()) continue;
      auto& d = done[{j.value("model", ""), j.value("version", 0)}];
      if (j["to"].get<int64_t>() >= d.first) d = {j["to"].get<int64_t>(), j.value("level", "") == "alert"};
    }
  }
  auto windows = pending.Judge(outcomes, baseline, as_of);
  VIGIL_ASSIGN_OR_RETURN(auto perf_writer, log_ptr->OpenWriter(kPerformanceTopic));
  VIGIL_ASSIGN_OR_RETURN(auto alert_writer, log_ptr->OpenWriter(kAlertsTopic));
  bool raised = false;
  int64_t judged = 0;
  for (const auto& w : windows) {
    auto& d = done[{w.model, w.version}];
    if (w.to <= d.first) continue;  // judged by an earlier run
    ++judged;
    VIGIL_RETURN_IF_ERROR(perf_writer->Append(w.model, w.ToJson()));
    if (m.metrics) {
      const Labels labels = {{"model", w.model}, {"version", std::to_string(w.version)}};
      m.metrics->AddGauge("vigil_model_roc_auc", "ROC AUC of the last judged window, from the outcomes known.", labels)
          .Set(w.roc_auc);
      m.metrics->AddGauge("vigil_model_roc_auc_window_end_seconds", "End of the last judged window (serving time).", labels)
          .Set(static_cast<double>(w.to) / 1000.0);
    }
    std::printf("performance %s v%d [%s, %s): %lld scored, %lld labelled, %lld frauds known; roc_auc %.4f "
                "(trained %.4f)%s\n",
                w.model.c_str(), w.version, FormatIsoTimestamp(w.from).c_str(), FormatIsoTimestamp(w.to).c_str(),
                static_cast<long long>(w.scored), static_cast<long long>(w.labels),
                static_cast<long long>(w.positives), w.roc_auc, w.baseline, w.alert ? "  ALERT" : "");
    if (w.alert != d.second) {
      nlohmann::json change = {{"at", w.to + po.delay},     {"model", w.model},
                               {"version", w.version},     {"feature", "__roc_auc__"},
                               {"from", d.second ? "alert" : "none"}, {"to", w.alert ? "alert" : "none"},
                               {"roc_auc", w.roc_auc},     {"baseline", w.baseline}};
      VIGIL_RETURN_IF_ERROR(alert_writer->Append(w.model, change.dump()));
      if (m.metrics) {
        m.metrics->AddCounter("vigil_monitor_alert_changes_total", "Alert state changes written to _alerts.",
                              {{"kind", "performance"}, {"to", w.alert ? "alert" : "none"}})
            .Increment();
      }
      std::printf("alert %s roc_auc: %s -> %s (%.4f against %.4f trained)\n", w.model.c_str(),
                  d.second ? "alert" : "none", w.alert ? "alert" : "none", w.roc_auc, w.baseline);
      raised |= w.alert;
    }
    d = {w.to, w.alert};
  }
  VIGIL_RETURN_IF_ERROR(perf_writer->Flush(true));
  VIGIL_RETURN_IF_ERROR(alert_writer->Flush(true));
  if (raised && options.trigger_retrain) {
    VIGIL_RETURN_IF_ERROR(RequestRetrain(log_ptr, options.model, "performance alert"));
    std::printf("retraining of %s requested: performance alert\n", options.model.c_str());
  }
  std::printf(
      "monitor performance: %lld records of %s (%lld read in this round), %lld not records, %zu outcomes; "
      "%lld windows judged as of %s\n",
      static_cast<long long>(state->read), options.model.c_str(), static_cast<long long>(read_now),
      static_cast<long long>(state->bad), outcomes.size(), static_cast<long long>(judged),
      as_of == kMinTimestamp ? "-" : FormatIsoTimestamp(as_of).c_str());
  // Records of judged windows are done with. Reading may start again at the oldest record
  // kept in each partition.
  std::map<int, TimestampMs> judged_to;
  for (const auto& [key, d] : done) {
    if (key.first == options.model) judged_to[key.second] = d.first;
  }
  pending.Forget(judged_to);
  if (m.metrics) {
    const Labels labels = {{"model", options.model}};
    m.metrics->AddGauge("vigil_monitor_performance_pending_records",
                        "Serving log records held until their window is judged.", labels)
        .Set(static_cast<double>(pending.records()));
    m.metrics->AddGauge("vigil_monitor_performance_pending_bytes",
                        "Memory held by the records waiting for their window's judgement.", labels)
        .Set(static_cast<double>(pending.bytes()));
  }
  std::vector<int64_t> restart = state->next;
  pending.LowerToOldest(&restart);
  VIGIL_RETURN_IF_ERROR(log_ptr->Commit(group, kServingLogTopic, restart));
  return Status::OK();
}

}  // namespace

Status MonitorDrift(const std::string& project, const MonitorDriftOptions& options) {
  VIGIL_ASSIGN_OR_RETURN(auto m, OpenMonitoring(project));
  auto monitor = NewDriftMonitor(*m, options.window_ms);
  return DriftRound(*m, *monitor, options, /*flush=*/true);
}

Status MonitorSkew(const std::string& project, const MonitorSkewOptions& options) {
  VIGIL_ASSIGN_OR_RETURN(auto m, OpenMonitoring(project));
  return SkewRound(*m, options);
}

Status MonitorPerformance(const std::string& project, const MonitorPerformanceOptions& options) {
  VIGIL_ASSIGN_OR_RETURN(auto m, OpenMonitoring(project));
  PerformanceState state;
  return PerformanceRound(*m, options, &state);
}

namespace {
volatile std::sig_atomic_t g_monitor_stop = 0;
void OnMonitorSignal(int) { g_monitor_stop = 1; }
}  // namespace

Status MonitorRun(const std::string& project, const MonitorRunOptions& options) {
  VIGIL_ASSIGN_OR_RETURN(auto m, OpenMonitoring(project));
  MetricsRegistry registry;
  std::unique_ptr<MetricsServer> server;
  if (options.metrics_port >= 0) {
    RegisterProcessMetrics(registry);
    MetricsServerOptions o;
    o.port = options.metrics_port;
    VIGIL_ASSIGN_OR_RETURN(server, MetricsServer::Start(&registry, o));
    std::printf("metrics: http://127.0.0.1:%d/metrics\n", server->port());
    std::fflush(stdout);
  }
  m->metrics = &registry;
  Counter& rounds = registry.AddCounter("vigil_monitor_rounds_total", "Monitoring rounds run.");
  Counter& round_errors = registry.AddCounter("vigil_monitor_round_errors_total", "Monitoring checks that failed.");
  Histogram& round_seconds = registry.AddHistogram("vigil_monitor_round_seconds", "Time of one round of every check.", {},
                                                   kLatencyBucketsSeconds);
  auto drift = NewDriftMonitor(*m, options.drift.window_ms);
  std::map<std::string, PerformanceState> perf_states;  // by model, kept across rounds
  std::signal(SIGINT, OnMonitorSignal);
  std::signal(SIGTERM, OnMonitorSignal);
  // A check that fails is reported and counted; the next round tries again.
  auto check = [&](const char* what, const Status& s) {
    if (s.ok()) return;
    round_errors.Increment();
    std::fprintf(stderr, "vigil monitor run: %s: %s\n", what, s.message().c_str());
  };
  while (!g_monitor_stop) {
    const auto start = std::chrono::steady_clock::now();
    check("drift", DriftRound(*m, *drift, options.drift, /*flush=*/false));
    check("skew", SkewRound(*m, options.skew));
    for (const auto& [name, def] : m->p.defs.models) {
      if (!options.drift.model.empty() && name != options.drift.model) continue;
      MonitorPerformanceOptions perf = options.performance;
      perf.model = name;
      check("performance", PerformanceRound(*m, perf, &perf_states[name]));
    }
    rounds.Increment();
    round_seconds.ObserveDuration(std::chrono::steady_clock::now() - start);
    std::fflush(stdout);
    if (options.once) break;
    for (int64_t waited = 0; waited < options.every_ms && !g_monitor_stop; waited += 50) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  return Status::OK();
}

}  // namespace vigil::cli
