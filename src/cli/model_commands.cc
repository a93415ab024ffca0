// `vigil train`, `models list|show|promote|rollback`, `retrain`, `evaluate` (commands.h).
#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/stop_signal.h"
#include "common/files.h"
#include "training/retrain.h"
#include "training/trainer.h"

namespace vigil::cli {
namespace {

namespace fs = std::filesystem;

Result<const ModelDef*> FindModel(const Project& p, const std::string& name) {
  const ModelDef* m = p.defs.FindModel(name);
  if (!m) {
    std::string known;
    for (const auto& [n, d] : p.defs.models) known += (known.empty() ? "" : ", ") + n;
    return Status::InvalidArgument("unknown model '" + name + "' (defined: " + (known.empty() ? "none" : known) + ")");
  }
  return m;
}

Result<TimestampMs> TimeOption(const std::string& text, const char* flag) {
  auto t = ParseTimestamp(text);
  if (!t.ok()) return t.status().WithContext(std::string(flag));
  return *t;
}

std::string Metric(double v) {
  if (std::isnan(v)) return "-";
  char b[32];
  std::snprintf(b, sizeof b, "%.4f", v);
  return b;
}

std::string WallTime(int64_t ms) { return FormatIsoTimestamp(ms); }

TrainOptions MakeTrainOptions(const Project& p, const std::string& labels, int threads, bool replay_only,
                              const std::string& command) {
  TrainOptions o;
  o.labels_path = labels;
  o.models_root = ModelsRoot(p);
  o.offline_dir = p.settings.offline_dir;
  o.matrix.threads = threads;
  o.matrix.replay_only = replay_only;
  o.command = command;
  return o;
}

// A version number or an alias of `model`.
Result<int> ResolveVersion(const ModelRegistry& r, const std::string& model, const std::string& text) {
  if (!text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::stoi(text);
  }
  auto v = r.Alias(model, text);
  if (!v.ok()) return Status::NotFound("model '" + model + "' has no alias '" + text + "'");
  return *v;
}

}  // namespace

std::string ModelsRoot(const Project& p) { return (fs::path(p.dir) / "models").string(); }

Status Train(const std::string& project, const std::string& model_name, const TrainCommandOptions& options,
             const std::string& command) {
  VIGIL_ASSIGN_OR_RETURN(Project p, LoadVersionedProject(project));
  VIGIL_ASSIGN_OR_RETURN(const ModelDef* model, FindModel(p, model_name));
  VIGIL_ASSIGN_OR_RETURN(auto log, OpenLog(p));
  TrainOptions o = MakeTrainOptions(p, options.labels, options.threads, options.replay_only, command);
  if (options.at.empty()) {
    VIGIL_ASSIGN_OR_RETURN(o.cutoff, ModelEventTime(p.defs, log.get(), *model));
  } else {
    VIGIL_ASSIGN_OR_RETURN(o.cutoff, TimeOption(options.at, "--at"));
  }
  VIGIL_ASSIGN_OR_RETURN(TrainResult r, TrainModel(p.defs, log.get(), *model, o));
  VIGIL_ASSIGN_OR_RETURN(ModelRegistry registry, ModelRegistry::Open(o.models_root));
  std::string aliases;
  if (!registry.Alias(model_name, "champion").ok()) {
    VIGIL_RETURN_IF_ERROR(
        registry.SetAlias(model_name, "champion", r.version.version, "first version of the model", command).status());
    aliases += " champion";
  }
  if (!options.alias.empty()) {
    VIGIL_RETURN_IF_ERROR(
        registry.SetAlias(model_name, options.alias, r.version.version, "vigil train --alias", command).status());
    aliases += " " + options.alias;
  }
  if (options.json) {
    VIGIL_ASSIGN_OR_RETURN(std::string doc, registry.ToJson(model_name));
    std::printf("%s\n", doc.c_str());
    return Status::OK();
  }
  std::printf("%s", r.report.c_str());
  std::printf("time: %.2f s (dataset %.2f s = %.0f%%, booster %.2f s); registered %s v%d%s%s\n", r.total_seconds,
              r.dataset_seconds, 100.0 * r.dataset_seconds / std::max(1e-9, r.total_seconds), r.train_seconds,
              model_name.c_str(), r.version.version, aliases.empty() ? "" : " as", aliases.c_str());
  return Status::OK();
}

Status ModelsList(const std::string& project, bool json) {
  VIGIL_ASSIGN_OR_RETURN(Project p, LoadProject(project));
  VIGIL_ASSIGN_OR_RETURN(ModelRegistry registry, ModelRegistry::Open(ModelsRoot(p)));
  if (json) {
    VIGIL_ASSIGN_OR_RETURN(std::string doc, registry.ToJson(""));
    std::printf("%s\n", doc.c_str());
    return Status::OK();
  }
  VIGIL_ASSIGN_OR_RETURN(auto models, registry.Models());
  std::printf("%-12s %7s  %-20s  %-20s  %8s  %8s  %8s  %s\n", "model", "version", "created", "cut-off", "roc_auc",
              "pr_auc", "log_loss", "aliases");
  for (const auto& m : models) {
    VIGIL_ASSIGN_OR_RETURN(auto versions, registry.Versions(m));
    VIGIL_ASSIGN_OR_RETURN(auto aliases, registry.Aliases(m));
    for (const auto& v : versions) {
      std::string names;
      for (const auto& [a, n] : aliases) {
        if (n == v.version) names += (names.empty() ? "" : ",") + a;
      }
      auto metric = [&](const char* k) { return v.metrics.count(k) ? Metric(v.metrics.at(k)) : "-"; };
      std::printf("%-12s %7d  %-20s  %-20s  %8s  %8s  %8s  %s\n", m.c_str(), v.version,
                  WallTime(v.created_at_ms).substr(0, 19).c_str(), FormatIsoTimestamp(v.cutoff_ms).substr(0, 19).c_str(),
                  metric("roc_auc").c_str(), metric("pr_auc").c_str(), metric("log_loss").c_str(), names.c_str());
    }
  }
  if (models.empty()) std::printf("(no models yet: vigil train MODEL)\n");
  return Status::OK();
}

Status ModelsShow(const std::string& project, const std::string& model, int version, bool json) {
  VIGIL_ASSIGN_OR_RETURN(Project p, LoadProject(project));
  VIGIL_ASSIGN_OR_RETURN(ModelRegistry registry, ModelRegistry::Open(ModelsRoot(p)));
  if (version > 0) {
    VIGIL_ASSIGN_OR_RETURN(auto v, registry.Version(model, version));
    const std::string file = json ? "manifest.json" : "report.txt";
    VIGIL_ASSIGN_OR_RETURN(std::string text, ReadWholeFile((fs::path(v.dir) / file).string()));
    std::printf("%s%s", text.c_str(), text.empty() || text.back() != '\n' ? "\n" : "");
    return Status::OK();
  }
  if (json) {
    VIGIL_ASSIGN_OR_RETURN(std::string doc, registry.ToJson(model));
    std::printf("%s\n", doc.c_str());
    return Status::OK();
  }
  VIGIL_ASSIGN_OR_RETURN(auto versions, registry.Versions(model));
  VIGIL_ASSIGN_OR_RETURN(auto aliases, registry.Aliases(model));
  std::printf("model %s: %zu versions\naliases:", model.c_str(), versions.size());
  for (const auto& [a, n] : aliases) std::printf(" %s=v%d", a.c_str(), n);
  std::printf("\nversions:\n");
  for (const auto& v : versions) {
    auto metric = [&](const char* k) { return v.metrics.count(k) ? Metric(v.metrics.at(k)) : "-"; };
    std::printf("  v%d  cut-off %s  roc_auc %s  pr_auc %s  data %s\n", v.version,
                FormatIsoTimestamp(v.cutoff_ms).c_str(), metric("roc_auc").c_str(), metric("pr_auc").c_str(),
                v.data_fingerprint.c_str());
  }
  VIGIL_ASSIGN_OR_RETURN(auto history, registry.History(model));
  std::printf("alias history:\n");
  for (const auto& h : history) {
    std::printf("  %s  %s: v%d -> v%d%s  %s  [%s]\n", WallTime(h.at_ms).substr(0, 19).c_str(), h.alias.c_str(),
                h.from_version, h.to_version, h.rollback ? " (rollback)" : "", h.reason.c_str(), h.command.c_str());
  }
  VIGIL_ASSIGN_OR_RETURN(auto decisions, registry.Decisions(model));
  if (!decisions.empty()) std::printf("retraining decisions:\n");
  for (const auto& d : decisions) {
    std::printf("  event time %s  %s: challenger v%d %s, champion v%d %s -> %s\n",
                FormatIsoTimestamp(d.event_time_ms).c_str(), d.trigger.c_str(), d.challenger_version,
                Metric(d.challenger_score).c_str(), d.champion_version, Metric(d.champion_score).c_str(),
                d.promoted ? "promoted" : "kept the champion");
  }
  return Status::OK();
}

namespace {
void PrintMove(const AliasMove& m, bool json) {
  if (json) {
    nlohmann::ordered_json j = {{"model", m.model},        {"alias", m.alias},   {"from_version", m.from_version},
                                {"to_version", m.to_version}, {"rollback", m.rollback}, {"at_ms", m.at_ms},
                                {"reason", m.reason},      {"command", m.command}};
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  std::printf("%s %s: v%d -> v%d%s\n", m.model.c_str(), m.alias.c_str(), m.from_version, m.to_version,
              m.rollback ? " (rollback)" : "");
}
}  // namespace

Status ModelsPromote(const std::string& project, const std::string& model, int version, const std::string& alias,
                     const std::string& reason, const std::string& command, bool json) {
  VIGIL_ASSIGN_OR_RETURN(Project p, LoadProject(project));
  VIGIL_ASSIGN_OR_RETURN(ModelRegistry registry, ModelRegistry::Open(ModelsRoot(p)));
  VIGIL_ASSIGN_OR_RETURN(AliasMove m, registry.SetAlias(model, alias, version,
                                                        reason.empty() ? "promoted by hand" : reason, command));
  PrintMove(m, json);
  return Status::OK();
}

Status ModelsRollback(const std::string& project, const std::string& model, const std::string& alias,
                      const std::string& reason, const std::string& command, bool json) {
  VIGIL_ASSIGN_OR_RETURN(Project p, LoadProject(project));
  VIGIL_ASSIGN_OR_RETURN(ModelRegistry registry, ModelRegistry::Open(ModelsRoot(p)));
  VIGIL_ASSIGN_OR_RETURN(AliasMove m,
                         registry.Rollback(model, alias, reason.empty() ? "rolled back by hand" : reason, command));
  PrintMove(m, json);
  return Status::OK();
}

Status Retrain(const std::string& project, const std::string& model_name, const RetrainCommandOptions& options,
               const std::string& command) {
  VIGIL_ASSIGN_OR_RETURN(Project p, LoadVersionedProject(project));
  VIGIL_ASSIGN_OR_RETURN(const ModelDef* model, FindModel(p, model_name));
  VIGIL_ASSIGN_OR_RETURN(auto log, OpenLog(p));
  if (!options.trigger.empty()) {
    VIGIL_RETURN_IF_ERROR(RequestRetrain(log.get(), model_name, options.trigger));
    std::printf("retraining of %s requested: %s\n", model_name.c_str(), options.trigger.c_str());
    return Status::OK();
  }
  TrainOptions o = MakeTrainOptions(p, options.labels, options.threads, options.replay_only, command);
  if (!options.loop) {
    TimestampMs at = 0;
    if (options.at.empty()) {
      VIGIL_ASSIGN_OR_RETURN(at, ModelEventTime(p.defs, log.get(), *model));
    } else {
      VIGIL_ASSIGN_OR_RETURN(at, TimeOption(options.at, "--at"));
    }
    VIGIL_ASSIGN_OR_RETURN(RetrainRoundResult r, RetrainRound(p.defs, log.get(), *model, at, "on demand", o));
    std::printf("%s", r.report.c_str());
    return Status::OK();
  }
  RetrainLoopOptions lo;
  lo.train = o;
  lo.until_caught_up = options.until_caught_up;
  if (!options.until.empty()) {
    VIGIL_ASSIGN_OR_RETURN(lo.until, TimeOption(options.until, "--until"));
  }
  lo.stop = &StopRequested();
  lo.on_round = [](const RetrainRoundResult& r) {
    std::printf("%s", r.report.c_str());
    std::fflush(stdout);
  };
  InstallStopHandlers();
  return RetrainLoop(p.defs, log.get(), *model, lo);
}

Status Evaluate(const std::string& project, const std::string& model_name, const EvaluateCommandOptions& options) {
  VIGIL_ASSIGN_OR_RETURN(Project p, LoadVersionedProject(project));
  VIGIL_ASSIGN_OR_RETURN(const ModelDef* model, FindModel(p, model_name));
  VIGIL_ASSIGN_OR_RETURN(auto log, OpenLog(p));
  VIGIL_ASSIGN_OR_RETURN(ModelRegistry registry, ModelRegistry::Open(ModelsRoot(p)));
  VIGIL_ASSIGN_OR_RETURN(ModelLabels labels, ReadModelLabels(*model, options.labels));
  TimestampMs from = kMinTimestamp, to = kMaxTimestamp, as_of = kMaxTimestamp;
  if (!options.from.empty()) {
    VIGIL_ASSIGN_OR_RETURN(from, TimeOption(options.from, "--from"));
  }
  if (!options.to.empty()) {
    VIGIL_ASSIGN_OR_RETURN(to, TimeOption(options.to, "--to"));
  }
  if (!options.as_of.empty()) {
    VIGIL_ASSIGN_OR_RETURN(as_of, TimeOption(options.as_of, "--as-of"));
  }
  std::vector<uint32_t> rows;
  for (uint32_t i = 0; i < labels.target.size(); ++i) {
    if (labels.table.ts[i] >= from && labels.table.ts[i] < to && labels.known_at[i] <= as_of) rows.push_back(i);
  }
  if (rows.empty()) return Status::InvalidArgument("no labelled events in the given range");
  std::vector<std::string> versions = options.versions;
  if (versions.empty()) versions.push_back("champion");
  FeatureMatrixOptions mo;
  mo.offline_dir = p.settings.offline_dir;
  mo.threads = options.threads;
  mo.replay_only = options.replay_only;
  nlohmann::ordered_json doc = nlohmann::ordered_json::array();
  if (!options.json) {
    std::printf("%s on %zu labelled events in [%s, %s):\n", model_name.c_str(), rows.size(),
                from == kMinTimestamp ? "start" : FormatIsoTimestamp(from).c_str(),
                to == kMaxTimestamp ? "end" : FormatIsoTimestamp(to).c_str());
    std::printf("  %-14s %8s %8s %8s %10s %8s\n", "version", "roc_auc", "pr_auc", "log_loss", "precision", "recall");
  }
  for (const auto& text : versions) {
    VIGIL_ASSIGN_OR_RETURN(int v, ResolveVersion(registry, model_name, text));
    VIGIL_ASSIGN_OR_RETURN(LoadedModel m, LoadModelVersion(p.defs, registry, model_name, v));
    VIGIL_ASSIGN_OR_RETURN(BinaryMetrics bm, EvaluateModel(p.defs, log.get(), m, labels, rows, mo));
    if (options.json) {
      doc.push_back({{"version", v},
                     {"name", text},
                     {"metrics", nlohmann::ordered_json::parse(MetricsToJson(bm))}});
    } else {
      std::string label = text == std::to_string(v) ? "v" + text : text + " (v" + std::to_string(v) + ")";
      std::printf("  %-14s %8s %8s %8s %10s %8s\n", label.c_str(), Metric(bm.roc_auc).c_str(),
                  Metric(bm.pr_auc).c_str(), Metric(bm.log_loss).c_str(), Metric(bm.at_threshold.precision).c_str(),
                  Metric(bm.at_threshold.recall).c_str());
    }
  }
  if (options.json) std::printf("%s\n", doc.dump(1).c_str());
  return Status::OK();
}

}  // namespace vigil::cli
