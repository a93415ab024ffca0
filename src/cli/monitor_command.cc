// `vigil monitor drift` (commands.h): the serving log against the models' references.
#include <cstdio>
#include <filesystem>
#include <set>

#include "cli/commands.h"
#include "common/files.h"
#include "monitoring/drift_monitor.h"
#include "monitoring/monitor_topics.h"
#include "serving/scoring_service.h"
#include "training/feature_vector.h"
#include "training/model_registry.h"
#include "training/reference.h"
#include "training/retrain.h"

namespace vigil::cli {

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
