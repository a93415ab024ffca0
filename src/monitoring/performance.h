// Model performance over time from labels that arrive later (issue 7): the serving log's
// scores, joined by the request's id with the outcomes known so far, measured per
// tumbling window of serving time, per (model, version).
//
// Labels arrive late: a fraud is reported days after the event, and an event is known to
// be legitimate only when no report came within the dispute window. A window is judged
// once `delay` has passed since its end (as_of, the caller's now, is past end + delay),
// with every outcome known by end + delay (so its figures never change later); an event with no known outcome counts as legitimate
// (presumed good until reported), which is what a risk team can measure early. The first
// windows after attackers change tactics show it: their frauds are reported, but were
// scored low.
//
//   window 1d, delay 1d, as of Jan 12 00:00: windows ending by Jan 11 00:00 are judged;
//   [Jan 10, Jan 11) with 900 scored events, 14 reported frauds by Jan 12 -> roc_auc of
//   the 900 scores against 14 positives and 886 presumed negatives.
//
// An alert: a judged window's ROC AUC below the version's training holdout ROC AUC minus
// `max_drop` (and only with at least min_positives and min_negatives).
#pragma once

#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "common/time.h"
#include "monitoring/skew.h"  // ServedRecord

namespace vigil {

struct Outcome {
  int target = 0;            // 1: fraud
  TimestampMs known_at = 0;  // when the outcome became known
};

struct PerformanceOptions {
  DurationMs window = 86'400'000;  // Default: 1d. REQUIRES: > 0
  DurationMs delay = 86'400'000;   // judge a window this long after its end. Default: 1d
  int64_t min_positives = 5;       // fewer: measured, but never an alert. Default: 5
  int64_t min_negatives = 20;      // Default: 20
  double max_drop = 0.05;          // alert below baseline - max_drop. Default: 0.05
};

struct PerformanceWindow {
  std::string model;
  int version = 0;
  TimestampMs from = 0, to = 0;  // [from, to) of serving ts
  int64_t scored = 0;            // records in the window
  int64_t labels = 0;            // of those, with an id found in the outcomes
  int64_t positives = 0;         // of those, outcome 1 known by the judging time
  double roc_auc = 0, pr_auc = 0, log_loss = 0;  // NaN when undefined (one class)
  double baseline = 0;           // the version's holdout roc_auc (NaN: unknown)
  bool alert = false;
  // The _performance topic's record (monitoring/monitor_topics.h), with "baseline" and
  // "level" ("alert" or "none") added.
  std::string ToJson() const;
};

// Judges every window of `records` that ends at or before as_of - delay. `outcomes` by
// id; `baseline` by version (missing: NaN, no alert). Records without an id are counted
// in `scored` only. Windows in (model, version, from) order.
std::vector<PerformanceWindow> JudgeWindows(const std::vector<ServedRecord>& records,
                                            const std::unordered_map<std::string, Outcome>& outcomes,
                                            const std::map<std::pair<std::string, int>, double>& baseline,
                                            TimestampMs as_of, const PerformanceOptions& options);

}  // namespace vigil
