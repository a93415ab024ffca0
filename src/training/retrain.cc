#include "training/retrain.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <set>
#include <thread>

#include "schema/row_codec.h"

namespace vigil {
namespace {

std::string Num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.4f", v);
  return b;
}

bool MetricHigherIsBetter(const std::string& metric) { return metric != "log_loss"; }

double MetricOf(const BinaryMetrics& m, const std::string& metric) {
  if (metric == "pr_auc") return m.pr_auc;
  if (metric == "log_loss") return m.log_loss;
  return m.roc_auc;
}

// The rows of the holdout of a training at `at` (trainer.h): known by `at`, ts in
// [at - maturity - holdout, at - maturity).
std::vector<uint32_t> HoldoutRows(const ModelDef& model, const ModelLabels& labels, TimestampMs at) {
  const TimestampMs end = at - model.labels.maturity, from = end - model.holdout;
  std::vector<uint32_t> rows;
  for (uint32_t i = 0; i < labels.target.size(); ++i) {
    const TimestampMs ts = labels.table.ts[i];
    if (ts >= from && ts < end && labels.known_at[i] <= at) rows.push_back(i);
  }
  return rows;
}

// The pending triggers of `model`: their reasons, and the offsets to commit once handled.
struct PendingTriggers {
  std::vector<std::string> reasons;
  std::vector<int64_t> next;
};

std::string TriggerGroup(const std::string& model) { return "vigil-retrain-" + model; }

Result<PendingTriggers> ReadTriggers(Log* log, const std::string& model) {
  PendingTriggers out;
  VIGIL_RETURN_IF_ERROR(log->CreateTopic(kRetrainTriggersTopic, 1));
  VIGIL_ASSIGN_OR_RETURN(out.next, log->Committed(TriggerGroup(model), kRetrainTriggersTopic));
  VIGIL_ASSIGN_OR_RETURN(auto ends, log->EndOffsets(kRetrainTriggersTopic));
  VIGIL_ASSIGN_OR_RETURN(auto starts, log->StartOffsets(kRetrainTriggersTopic));
  out.next.resize(ends.size(), 0);
  VIGIL_ASSIGN_OR_RETURN(auto reader, log->OpenReader(kRetrainTriggersTopic));
  bool any = false;
  for (size_t p = 0; p < ends.size(); ++p) {
    out.next[p] = std::max(out.next[p], starts[p]);
    any |= out.next[p] < ends[p];
    VIGIL_RETURN_IF_ERROR(reader->Seek(static_cast<int>(p), out.next[p]));
  }
  if (!any) return out;
  LogRecord rec;
  for (;;) {
    VIGIL_ASSIGN_OR_RETURN(bool more, reader->Next(&rec));
    if (!more) break;
    if (rec.offset >= ends[rec.partition]) continue;
    out.next[rec.partition] = std::max(out.next[rec.partition], rec.offset + 1);
    if (rec.key == model) out.reasons.emplace_back(rec.payload);
  }
  return out;
}

}  // namespace

Status RequestRetrain(Log* log, const std::string& model, const std::string& reason) {
  VIGIL_RETURN_IF_ERROR(log->CreateTopic(kRetrainTriggersTopic, 1));
  VIGIL_ASSIGN_OR_RETURN(auto writer, log->OpenWriter(kRetrainTriggersTopic));
  VIGIL_RETURN_IF_ERROR(writer->Append(model, reason.empty() ? "on demand" : reason));
  return writer->Flush(true);
}

Result<TimestampMs> ModelEventTime(const Definitions& defs, Log* log, const ModelDef& model) {
  std::set<std::string> sources;
  for (const auto& v : model.views) sources.insert(defs.FindView(v)->source);
  TimestampMs clock = kMaxTimestamp;
  constexpr int64_t kTail = 64;  // records read at the end of each partition
  for (const auto& name : sources) {
    const SourceDef& source = *defs.FindSource(name);
    auto ends = log->EndOffsets(name);
    if (!ends.ok()) return Status::NotFound("source '" + name + "' has no events yet (ingest some first)");
    VIGIL_ASSIGN_OR_RETURN(auto starts, log->StartOffsets(name));
    VIGIL_ASSIGN_OR_RETURN(auto reader, log->OpenReader(name));
    TimestampMs source_w = kMaxTimestamp;
    for (size_t p = 0; p < ends->size(); ++p) {
      if ((*ends)[p] <= starts[p]) continue;
      VIGIL_RETURN_IF_ERROR(reader->Seek(static_cast<int>(p), std::max(starts[p], (*ends)[p] - kTail)));
    }
    std::vector<TimestampMs> max_ts(ends->size(), kMinTimestamp);
    LogRecord rec;
    Event ev;
    for (;;) {
      VIGIL_ASSIGN_OR_RETURN(bool more, reader->Next(&rec));
      if (!more) break;
      if (rec.offset >= (*ends)[rec.partition]) continue;
      if (!DecodeEvent(rec.payload, source.schema, &ev).ok()) continue;
      max_ts[rec.partition] = std::max(max_ts[rec.partition], ev.ts);
    }
    for (TimestampMs mx : max_ts) {
      if (mx != kMinTimestamp) source_w = std::min(source_w, mx - source.allowed_lateness);
    }
    if (source_w == kMaxTimestamp) return Status::NotFound("source '" + name + "' has no events yet (ingest some first)");
    clock = std::min(clock, source_w);
  }
  if (clock == kMaxTimestamp) return Status::NotFound("model '" + model.name + "' reads no source");
  return clock;
}

Result<RetrainRoundResult> RetrainRound(const Definitions& defs, Log* log, const ModelDef& model, TimestampMs at,
                                        const std::string& trigger, const TrainOptions& options) {
  RetrainRoundResult out;
  VIGIL_ASSIGN_OR_RETURN(ModelRegistry registry, ModelRegistry::Open(options.models_root));
  int champion = 0;
  if (auto c = registry.Alias(model.name, "champion"); c.ok()) {
    champion = *c;
  } else if (!c.status().IsNotFound()) {
    return c.status();
  }
  TrainOptions to = options;
  to.cutoff = at;
  VIGIL_ASSIGN_OR_RETURN(out.challenger, TrainModel(defs, log, model, to));
  const int challenger = out.challenger.version.version;
  const std::string when = FormatIsoTimestamp(at);
  RetrainDecision& d = out.decision;
  d.event_time_ms = at;
  d.model = model.name;
  d.trigger = trigger;
  d.champion_version = champion;
  d.challenger_version = challenger;
  d.metric = model.retrain_metric;
  d.margin = model.retrain_margin;
  d.challenger_score = MetricOf(out.challenger.holdout, d.metric);
  if (champion == 0) {
    d.promoted = true;
    d.reason = "no champion yet";
  } else {
    // The champion on the challenger's holdout: the same, newest rows.
    std::string why_not;
    auto loaded = LoadModelVersion(defs, registry, model.name, champion);
    if (!loaded.ok()) {
      why_not = loaded.status().message();
    } else {
      VIGIL_ASSIGN_OR_RETURN(ModelLabels labels, ReadModelLabels(model, options.labels_path));
      FeatureMatrixOptions mo = options.matrix;
      mo.offline_dir = options.offline_dir;
      auto m = EvaluateModel(defs, log, *loaded, labels, HoldoutRows(model, labels, at), mo);
      if (!m.ok()) {
        why_not = m.status().message();
      } else {
        out.champion = *m;
        d.champion_score = MetricOf(*m, d.metric);
      }
    }
    if (!why_not.empty()) {
      d.promoted = true;
      d.reason = "the champion cannot be scored any more (" + why_not + ")";
    } else if (std::isnan(d.champion_score)) {
      d.promoted = !std::isnan(d.challenger_score);
      d.reason = "the champion's " + d.metric + " is undefined on the holdout";
    } else {
      const double gain = MetricHigherIsBetter(d.metric) ? d.challenger_score - d.champion_score
                                                   : d.champion_score - d.challenger_score;
      d.promoted = gain > d.margin;
      d.reason = d.metric + " " + Num(d.challenger_score) + " vs " + Num(d.champion_score) + " (" +
                 (d.promoted ? "wins by " : "short of the margin: ") + Num(gain) + (d.promoted ? " > " : " <= ") +
                 Num(d.margin) + ")";
    }
  }
  const std::string round = "retrain round at " + when + " (" + trigger + "): ";
  if (d.promoted) {
    VIGIL_RETURN_IF_ERROR(registry.SetAlias(model.name, "champion", challenger, round + d.reason, options.command).status());
    if (registry.Alias(model.name, "challenger").ok()) {
      VIGIL_RETURN_IF_ERROR(
          registry.RemoveAlias(model.name, "challenger", round + "promoted to champion", options.command).status());
    }
  } else {
    VIGIL_RETURN_IF_ERROR(
        registry.SetAlias(model.name, "challenger", challenger, round + d.reason, options.command).status());
  }
  VIGIL_RETURN_IF_ERROR(registry.RecordDecision(d));
  char line[512];
  std::snprintf(line, sizeof line, "round at %s (%s): challenger v%d %s %s, champion %s %s -> %s\n", when.c_str(),
                trigger.c_str(), challenger, d.metric.c_str(), Num(d.challenger_score).c_str(),
                champion ? ("v" + std::to_string(champion)).c_str() : "none",
                champion ? Num(d.champion_score).c_str() : "-",
                d.promoted ? ("v" + std::to_string(challenger) + " is champion").c_str() : "champion kept");
  out.report = line;
  out.report += "  " + d.reason + "\n";
  return out;
}

Status RetrainLoop(const Definitions& defs, Log* log, const ModelDef& model, const RetrainLoopOptions& options) {
  auto stopped = [&] { return options.stop && options.stop->load(); };
  for (;;) {
    VIGIL_ASSIGN_OR_RETURN(TimestampMs now, ModelEventTime(defs, log, model));
    now = std::min(now, options.until);
    VIGIL_ASSIGN_OR_RETURN(ModelRegistry registry, ModelRegistry::Open(options.train.models_root));
    // The next scheduled round: every `retrain_every` after the last round, or after the
    // champion's cut-off; at once when there is neither.
    TimestampMs last = kMinTimestamp;
    if (auto ds = registry.Decisions(model.name); ds.ok() && !ds->empty()) {
      last = ds->back().event_time_ms;
    } else if (auto c = registry.Alias(model.name, "champion"); c.ok()) {
      VIGIL_ASSIGN_OR_RETURN(auto v, registry.Version(model.name, *c));
      last = v.cutoff_ms;
    }
    std::vector<std::pair<TimestampMs, std::string>> due;
    if (last == kMinTimestamp) {
      due.emplace_back(now, "schedule");
    } else if (model.retrain_every > 0) {
      for (TimestampMs t = last + model.retrain_every; t <= now; t += model.retrain_every) {
        due.emplace_back(t, "schedule");
      }
    }
    VIGIL_ASSIGN_OR_RETURN(PendingTriggers triggers, ReadTriggers(log, model.name));
    if (!triggers.reasons.empty()) {
      std::string reason;
      for (const auto& r : triggers.reasons) reason += (reason.empty() ? "" : "; ") + r;
      due.emplace_back(now, "trigger: " + reason);
    }
    for (const auto& [at, trigger] : due) {
      if (stopped()) return Status::OK();
      auto r = RetrainRound(defs, log, model, at, trigger, options.train);
      if (!r.ok()) {
        if (options.until_caught_up) return r.status().WithContext("retrain round at " + FormatIsoTimestamp(at));
        std::fprintf(stderr, "vigil retrain: round at %s failed: %s\n", FormatIsoTimestamp(at).c_str(),
                     r.status().message().c_str());
        break;
      }
      if (options.on_round) options.on_round(*r);
    }
    if (!triggers.reasons.empty()) {
      VIGIL_RETURN_IF_ERROR(log->Commit(TriggerGroup(model.name), kRetrainTriggersTopic, triggers.next));
    }
    if (options.until_caught_up || stopped()) return Status::OK();
    for (DurationMs waited = 0; waited < options.poll && !stopped(); waited += 100) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

}  // namespace vigil
