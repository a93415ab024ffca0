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

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/time.h"

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

// The scored records of one model whose windows are not judged yet, as judging needs them
// and no more: per (version, window of serving time), the count of records, each labelled
// candidate's score and id (the ids in one buffer), and the oldest log position of the
// window's records in each partition. About 16 bytes and the id's characters per record;
// a parsed ServedRecord took some 250, so a monitor holding a day of records before
// judging them (delay 1d) needed gigabytes at production rates.
//
//   PendingScores pending("fraud", options);
//   pending.Add(1, ts, 0.93, "evt-17", partition, offset);  // as the log is read
//   auto windows = pending.Judge(outcomes, baseline, now);  // windows ending by now - delay
//   pending.Forget({{1, windows.back().to}});              // drop what is judged
//
// Not thread-safe.
class PendingScores {
 public:
  // REQUIRES: options.window > 0.
  PendingScores(std::string model, PerformanceOptions options);

  // One scored record of `version` at serving time `ts`. `id` "" when the request had
  // none: counted in its window's `scored` only. (partition, offset): where it was read
  // (partition < 0: not from a log), for LowerToOldest.
  void Add(int version, TimestampMs ts, double score, std::string_view id, int partition = -1,
           int64_t offset = 0);

  // Judges every window that ends at or before as_of - delay, against `outcomes` by id
  // and `baseline` by version (missing: NaN, no alert). An outcome counts as positive only
  // if known by the window's end + delay, so a window's figures never change. Windows in
  // (version, from) order.
  std::vector<PerformanceWindow> Judge(const std::unordered_map<std::string, Outcome>& outcomes,
                                       const std::map<std::pair<std::string, int>, double>& baseline,
                                       TimestampMs as_of) const;

  // Forgets every window of a version that ends at or before judged_to[version]: those an
  // earlier round has judged (windows are aligned to the window width, so a record before
  // that end is in such a window).
  void Forget(const std::map<int, TimestampMs>& judged_to);

  // Lowers restart[p] to the offset of the oldest record kept from partition p: where a
  // restarted reader must start again to see every record not judged yet.
  void LowerToOldest(std::vector<int64_t>* restart) const;

  int64_t records() const { return records_; }  // kept, with or without an id
  size_t bytes() const;                           // memory held, approximately

 private:
  struct Candidate {  // a record with an id: a label may join it
    double score;
    uint32_t id_begin, id_size;  // in Window::ids
  };
  struct Window {
    int64_t scored = 0;
    std::vector<Candidate> candidates;
    std::string ids;
    std::vector<int64_t> oldest;  // by partition; INT64_MAX: none
  };
  std::string model_;
  PerformanceOptions options_;
  std::map<std::pair<int, TimestampMs>, Window> windows_;  // by (version, from)
  int64_t records_ = 0;
};

}  // namespace vigil
