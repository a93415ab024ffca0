// The retraining feedback loop: keeps a deployed model up to date with attackers who
// change behaviour (concept drift).
//
// A round at event time T trains a challenger at cut-off T (training/trainer.h), points
// the `challenger` alias at it, and scores the champion on the challenger's holdout (the
// newest labelled period, which neither saw in training). The challenger becomes
// `champion` only if it wins on the model's retrain metric by more than the margin:
//   roc_auc, pr_auc: challenger > champion + margin     log_loss: challenger < champion - margin
// A model without a champion gets its first one unconditionally. The decision is recorded
// in the registry either way (ModelRegistry::RecordDecision), and every alias move in its
// history.
//
// Rounds run on a schedule in event time, every `retrain.every` after the last round (or
// after the champion's cut-off), and on demand: anything (monitoring's alerts, an
// operator) appends a trigger to the kRetrainTriggersTopic topic (RequestRetrain), and
// the loop runs a round at the current event time. Event time is the model's clock
// (ModelEventTime): the loop never trains on a future it has not seen.
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include "common/status.h"
#include "log/log.h"
#include "spec/definitions.h"
#include "training/trainer.h"

namespace vigil {

inline constexpr char kRetrainTriggersTopic[] = "_retrain_triggers";

// Appends a trigger for `model` with a reason (key: the model; payload: the reason).
Status RequestRetrain(Log* log, const std::string& model, const std::string& reason);

// The model's event-time clock: for each source its views read, the highest event ts in
// the newest records of each partition minus the source's allowed lateness (the source's
// watermark), and the smallest of those. NotFound when a source has no events.
Result<TimestampMs> ModelEventTime(const Definitions& defs, Log* log, const ModelDef& model);

struct RetrainRoundResult {
  RetrainDecision decision;
  TrainResult challenger;
  BinaryMetrics champion;  // on the challenger's holdout (rows = 0 without a champion)
  std::string report;      // a few lines for the console
};

// One round at event time `at` (options.cutoff is replaced by it); `trigger` is
// "schedule" or a trigger's reason.
Result<RetrainRoundResult> RetrainRound(const Definitions& defs, Log* log, const ModelDef& model, TimestampMs at,
                                        const std::string& trigger, const TrainOptions& options);

struct RetrainLoopOptions {
  TrainOptions train;  // cutoff is set per round
  // Run the rounds that are due and the pending triggers, then return. Default: run
  // until *stop.
  bool until_caught_up = false;
  // No round past this event time (kMaxTimestamp: none). Default: none.
  TimestampMs until = kMaxTimestamp;
  // Wall-clock time between looks at the clock and the triggers. Default: 2s.
  DurationMs poll = 2000;
  const std::atomic<bool>* stop = nullptr;  // may be null
  std::function<void(const RetrainRoundResult&)> on_round;  // may be empty
};
// The loop. A round that fails (e.g. a period without both outcomes yet) is reported
// through the returned Status when until_caught_up, else printed to stderr and retried
// at the next due time.
Status RetrainLoop(const Definitions& defs, Log* log, const ModelDef& model, const RetrainLoopOptions& options);

}  // namespace vigil
