// `vigil monitor drift` (commands.h): the serving log against the models' references.
#include <cstdio>
#include <filesystem>
#include <set>

#include "cli/commands.h"
#include "common/files.h"
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

// Reads the serving log from where consumer group `group` stopped (or from the start) to
// the ends found now, in log order; returns the next positions, for Commit.
Result<std::vector<int64_t>> ReadServingLog(Log* log, const std::string& group, bool from_start,
                                            const std::function<Status(const LogRecord&)>& fn) {
  VIGIL_RETURN_IF_ERROR(log->CreateTopic(kServingLogTopic, log->options().partitions));
  VIGIL_ASSIGN_OR_RETURN(auto ends, log->EndOffsets(kServingLogTopic));
  VIGIL_ASSIGN_OR_RETURN(auto starts, log->StartOffsets(kServingLogTopic));
  std::vector<int64_t> next(ends.size(), 0);
  if (!from_start) {
    VIGIL_ASSIGN_OR_RETURN(next, log->Committed(group, kServingLogTopic));
    next.resize(ends.size(), 0);
  }
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

Result<FeatureLayout> VersionLayout(const ModelRegistry& registry, const std::string& model, int version) {
  VIGIL_ASSIGN_OR_RETURN(ModelVersionInfo info, registry.Version(model, version));
  VIGIL_ASSIGN_OR_RETURN(std::string layout_json, ReadWholeFile(info.dir + "/layout.json"));
  return FeatureLayout::FromJson(layout_json);
}

}  // namespace

Status MonitorDrift(const std::string& project, const MonitorDriftOptions& options) {
  VIGIL_ASSIGN_OR_RETURN(Project p, LoadVersionedProject(project));
  VIGIL_ASSIGN_OR_RETURN(auto log, OpenLog(p));
  const std::string root = ModelsRoot(p);
  VIGIL_ASSIGN_OR_RETURN(ModelRegistry registry, ModelRegistry::Open(root));
  VersionLoader loader = [&](const std::string& model, int version) -> Result<MonitoredVersion> {
    VIGIL_ASSIGN_OR_RETURN(ModelVersionInfo info, registry.Version(model, version));
    VIGIL_ASSIGN_OR_RETURN(std::string layout_json, ReadWholeFile(info.dir + "/layout.json"));
    VIGIL_ASSIGN_OR_RETURN(FeatureLayout layout, FeatureLayout::FromJson(layout_json));
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
  mo.window = options.window_ms;
  DriftMonitor monitor(loader, mo);
  // Where this monitor left off (its own consumer offsets), or the start.
  const std::string group = "vigil-monitor-drift";
  VIGIL_RETURN_IF_ERROR(log->CreateTopic(kServingLogTopic, log->options().partitions));
  VIGIL_ASSIGN_OR_RETURN(auto ends, log->EndOffsets(kServingLogTopic));
  VIGIL_ASSIGN_OR_RETURN(auto starts, log->StartOffsets(kServingLogTopic));
  std::vector<int64_t> next(ends.size(), 0);
  if (!options.from_start) {
    VIGIL_ASSIGN_OR_RETURN(next, log->Committed(group, kServingLogTopic));
    next.resize(ends.size(), 0);
  }
  VIGIL_ASSIGN_OR_RETURN(auto reader, log->OpenReader(kServingLogTopic));
  for (size_t i = 0; i < ends.size(); ++i) {
    next[i] = std::max(next[i], starts[i]);
    VIGIL_RETURN_IF_ERROR(reader->Seek(static_cast<int>(i), next[i]));
  }
  std::vector<DriftWindowReport> closed;
  std::vector<AlertChange> changes;
  int64_t records = 0, bad = 0;
  LogRecord rec;
  for (;;) {
    VIGIL_ASSIGN_OR_RETURN(bool more, reader->Next(&rec));
    if (!more) break;
    if (rec.offset >= ends[rec.partition]) continue;
    next[rec.partition] = rec.offset + 1;
    ++records;
    if (!options.model.empty() && rec.key != options.model) continue;
    Status s = monitor.Add(rec.payload, &closed, &changes);
    if (s.IsInvalidArgument()) {
      ++bad;
      continue;
    }
    VIGIL_RETURN_IF_ERROR(s);
  }
  monitor.Flush(&closed, &changes);
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
    }
  }
  VIGIL_RETURN_IF_ERROR(drift_writer->Flush(true));
  VIGIL_ASSIGN_OR_RETURN(auto alert_writer, log->OpenWriter(kAlertsTopic));
  std::set<std::string> retrain;
  for (const auto& c : changes) {
    VIGIL_RETURN_IF_ERROR(alert_writer->Append(c.model, c.ToJson()));
    std::printf("alert %s %s: %s -> %s at %s (psi %.3f)\n", c.model.c_str(), c.feature.c_str(),
                DriftLevelName(c.from), DriftLevelName(c.to), FormatIsoTimestamp(c.at).c_str(), c.psi);
    if (c.to == DriftLevel::kAlert) retrain.insert(c.model);
  }
  VIGIL_RETURN_IF_ERROR(alert_writer->Flush(true));
  if (options.trigger_retrain) {
    for (const auto& m : retrain) {
      VIGIL_RETURN_IF_ERROR(RequestRetrain(log.get(), m, "drift alert"));
      std::printf("retraining of %s requested: drift alert\n", m.c_str());
    }
  }
  if (!options.from_start) VIGIL_RETURN_IF_ERROR(log->Commit(group, kServingLogTopic, next));
  std::printf("monitor: %lld serving log records, %lld not records, %zu windows, %zu alert changes\n",
              static_cast<long long>(records), static_cast<long long>(bad), closed.size(), changes.size());
  return Status::OK();
}

}  // namespace vigil::cli

namespace vigil::cli {

Status MonitorSkew(const std::string& project, const MonitorSkewOptions& options) {
  VIGIL_ASSIGN_OR_RETURN(Project p, LoadVersionedProject(project));
  VIGIL_ASSIGN_OR_RETURN(auto log, OpenLog(p));
  VIGIL_ASSIGN_OR_RETURN(ModelRegistry registry, ModelRegistry::Open(ModelsRoot(p)));
  SkewSampler sampler(options.sample, options.seed);
  int64_t records = 0, bad = 0;
  const std::string group = "vigil-monitor-skew";
  VIGIL_ASSIGN_OR_RETURN(auto next, ReadServingLog(log.get(), group, options.from_start, [&](const LogRecord& rec) {
    ++records;
    if (!options.model.empty() && rec.key != options.model) return Status::OK();
    if (sampler.Add(rec.payload).IsInvalidArgument()) ++bad;
    return Status::OK();
  }));
  SkewOptions so;
  so.offline_dir = options.replay_only ? "" : p.settings.offline_dir;
  so.join.threads = options.threads;
  so.join.replay_only = options.replay_only;
  VIGIL_ASSIGN_OR_RETURN(auto writer, log->OpenWriter(kSkewTopic));
  for (const auto& [key, sample] : sampler.Take()) {
    VIGIL_ASSIGN_OR_RETURN(FeatureLayout layout, VersionLayout(registry, key.first, key.second));
    VIGIL_ASSIGN_OR_RETURN(SkewReport r, CheckSkew(p.defs, log.get(), key.first, key.second, layout, sample, so));
    VIGIL_RETURN_IF_ERROR(writer->Append(r.model, r.ToJson()));
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
  if (!options.from_start) VIGIL_RETURN_IF_ERROR(log->Commit(group, kServingLogTopic, next));
  std::printf("monitor skew: %lld serving log records read, %lld not records\n", static_cast<long long>(records),
              static_cast<long long>(bad));
  return Status::OK();
}

Status MonitorPerformance(const std::string& project, const MonitorPerformanceOptions& options) {
  VIGIL_ASSIGN_OR_RETURN(Project p, LoadVersionedProject(project));
  const ModelDef* model = p.defs.FindModel(options.model);
  if (!model) return Status::InvalidArgument("unknown model '" + options.model + "'");
  VIGIL_ASSIGN_OR_RETURN(auto log, OpenLog(p));
  VIGIL_ASSIGN_OR_RETURN(ModelRegistry registry, ModelRegistry::Open(ModelsRoot(p)));
  // The outcomes: the model's label file (or --labels), by id.
  std::string path = options.labels.empty() ? model->labels.path : options.labels;
  std::vector<std::string> columns = {options.id_column, model->labels.target};
  if (!model->labels.known_at_column.empty()) columns.push_back(model->labels.known_at_column);
  VIGIL_ASSIGN_OR_RETURN(LabelTable labels, ReadLabelTable(path, model->labels.ts_column, columns));
  std::unordered_map<std::string, Outcome> outcomes;
  outcomes.reserve(labels.rows.size());
  for (size_t i = 0; i < labels.rows.size(); ++i) {
    const auto& row = labels.rows[i];
    Outcome o;
    o.target = row[1] == "1" || row[1] == "true";
    o.known_at = labels.ts[i];
    if (row.size() > 2 && !row[2].empty()) {
      auto t = ParseTimestamp(row[2]);
      if (!t.ok()) return Status::InvalidArgument(path + ": " + model->labels.known_at_column + ": " + t.status().message());
      o.known_at = *t;
    }
    outcomes[row[0]] = o;
  }
  // Every scored record of the model (the windows are judged from the whole log).
  std::vector<ServedRecord> records;
  TimestampMs latest = kMinTimestamp;
  int64_t bad = 0;
  VIGIL_RETURN_IF_ERROR(ReadServingLog(log.get(), "", true, [&](const LogRecord& rec) {
                          if (rec.key != options.model) return Status::OK();
                          auto r = ParseServedRecord(rec.payload);
                          if (!r.ok()) {
                            ++bad;
                            return Status::OK();
                          }
                          latest = std::max(latest, r->ts);
                          records.push_back(std::move(r).value());
                          return Status::OK();
                        }).status());
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
  VIGIL_RETURN_IF_ERROR(log->CreateTopic(kPerformanceTopic, log->options().partitions));
  {
    VIGIL_ASSIGN_OR_RETURN(auto reader, log->OpenReader(kPerformanceTopic));
    VIGIL_ASSIGN_OR_RETURN(auto ends, log->EndOffsets(kPerformanceTopic));
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
  PerformanceOptions po;
  po.window = options.window_ms;
  po.delay = options.delay_ms;
  po.max_drop = options.max_drop;
  auto windows = JudgeWindows(records, outcomes, baseline, as_of, po);
  VIGIL_ASSIGN_OR_RETURN(auto perf_writer, log->OpenWriter(kPerformanceTopic));
  VIGIL_ASSIGN_OR_RETURN(auto alert_writer, log->OpenWriter(kAlertsTopic));
  bool raised = false;
  int64_t judged = 0;
  for (const auto& w : windows) {
    auto& d = done[{w.model, w.version}];
    if (w.to <= d.first) continue;  // judged by an earlier run
    ++judged;
    VIGIL_RETURN_IF_ERROR(perf_writer->Append(w.model, w.ToJson()));
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
      std::printf("alert %s roc_auc: %s -> %s (%.4f against %.4f trained)\n", w.model.c_str(),
                  d.second ? "alert" : "none", w.alert ? "alert" : "none", w.roc_auc, w.baseline);
      raised |= w.alert;
    }
    d = {w.to, w.alert};
  }
  VIGIL_RETURN_IF_ERROR(perf_writer->Flush(true));
  VIGIL_RETURN_IF_ERROR(alert_writer->Flush(true));
  if (raised && options.trigger_retrain) {
    VIGIL_RETURN_IF_ERROR(RequestRetrain(log.get(), options.model, "performance alert"));
    std::printf("retraining of %s requested: performance alert\n", options.model.c_str());
  }
  std::printf("monitor performance: %zu records of %s, %lld not records, %zu outcomes; %lld windows judged as of %s\n",
              records.size(), options.model.c_str(), static_cast<long long>(bad), outcomes.size(),
              static_cast<long long>(judged), as_of == kMinTimestamp ? "-" : FormatIsoTimestamp(as_of).c_str());
  return Status::OK();
}

}  // namespace vigil::cli
