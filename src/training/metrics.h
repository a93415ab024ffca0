// Binary-classification metrics of a scored evaluation set: ranking (ROC AUC, PR AUC),
// probability quality (log loss, calibration, Brier score) and the confusion counts at a
// decision threshold. Training writes them next to the model (MetricsToJson); the CLI
// prints them (FormatMetrics).
//
// Common contract of every function below: REQUIRES scores.size() == labels.size(),
// every label is 0 or 1, and no score is NaN. Scores are meant as probabilities of the
// positive class; only LogLoss and the calibration read them as such, the ranking metrics
// use their order alone. A metric that is undefined for the input (no rows, one class
// only) is NaN, not an error. Pure functions: safe to call from several threads.
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace vigil {

inline constexpr double kMetricNaN = std::numeric_limits<double>::quiet_NaN();

// The confusion counts when "predicted positive" means score >= threshold.
struct ThresholdMetrics {
  double threshold = 0.5;
  int64_t tp = 0, fp = 0, tn = 0, fn = 0;
  double precision = kMetricNaN;  // tp / (tp + fp); NaN when nothing is predicted positive
  double recall = kMetricNaN;     // tp / (tp + fn); NaN when there are no positives
  double f1 = kMetricNaN;         // 2tp / (2tp + fp + fn); NaN when precision or recall is
};

// One equal-width bin [lo, hi) of the score range [0, 1] (the last bin is [lo, 1]).
struct CalibrationBin {
  double lo = 0, hi = 0;
  int64_t count = 0;                  // rows whose score falls in the bin
  double mean_score = kMetricNaN;     // NaN when count == 0
  double positive_rate = kMetricNaN;  // fraction of positives; NaN when count == 0
};

struct Calibration {
  std::vector<CalibrationBin> bins;  // all of them, in order, empty ones included
  // sum over bins of count / rows * |mean_score - positive_rate|; NaN when rows == 0.
  double expected_calibration_error = kMetricNaN;
  double brier = kMetricNaN;  // mean (score - label)^2; NaN when rows == 0
};

struct BinaryMetrics {
  int64_t rows = 0, positives = 0;
  double base_rate = kMetricNaN;  // positives / rows
  double roc_auc = kMetricNaN;    // RocAuc
  double pr_auc = kMetricNaN;     // PrAuc (average precision)
  double log_loss = kMetricNaN;   // LogLoss
  ThresholdMetrics at_threshold;
  Calibration calibration;  // Calibrate with 10 bins
};

// Area under the ROC curve: the Mann-Whitney U statistic over P positives and N negatives,
// U / (P * N), with tied scores given their average rank (a positive tied with a negative
// counts one half). Exact, O(n log n). NaN if either class is absent.
//   scores {0.1, 0.4, 0.4, 0.8}, labels {0, 0, 1, 1}: pairs (pos, neg) won 1+0.5+1+1 -> 0.875
double RocAuc(std::span<const double> scores, std::span<const int> labels);

// Average precision as scikit-learn defines it (average_precision_score): with the distinct
// score values as thresholds, from high to low, sum of (R_n - R_{n-1}) * P_n, where P_n and
// R_n are precision and recall of "score >= threshold n" (R_0 = 0). Tied scores form one
// threshold; there is no interpolation. NaN if there are no positives.
//   scores {0.9, 0.8, 0.7}, labels {1, 0, 1}: 1/2 * 1 + 1/2 * 2/3 = 0.8333...
double PrAuc(std::span<const double> scores, std::span<const int> labels);

// Mean of -(y log s + (1 - y) log(1 - s)), with s clipped to [1e-15, 1 - 1e-15] so that a
// confident mistake costs about 34.5 rather than infinity. NaN if there are no rows.
double LogLoss(std::span<const double> scores, std::span<const int> labels);

// Confusion counts, precision, recall and F1 of "score >= threshold".
ThresholdMetrics AtThreshold(std::span<const double> scores, std::span<const int> labels, double threshold);

// Reliability of the scores as probabilities over `bins` equal-width bins of [0, 1]; a score
// outside [0, 1] counts in the first or last bin. REQUIRES: bins >= 1. Default: 10 bins.
Calibration Calibrate(std::span<const double> scores, std::span<const int> labels, int bins = 10);

// Everything above at once (calibration with 10 bins).
BinaryMetrics Evaluate(std::span<const double> scores, std::span<const int> labels, double threshold);

// A JSON object with the fields of BinaryMetrics under their names (nested objects for
// at_threshold and calibration, calibration.bins an array); NaN is written as null.
// Doubles are written in shortest round-trip form, so MetricsFromJson gives back exactly
// the same values.
std::string MetricsToJson(const BinaryMetrics& metrics);
// Reads what MetricsToJson wrote (null reads back as NaN). Corruption, naming the field, if
// the text is not such an object.
Result<BinaryMetrics> MetricsFromJson(std::string_view json);

// A short multi-line report for people, e.g.
//   rows 20000, positives 1000 (base rate 0.05)
//   ROC AUC 0.9132  PR AUC 0.4410  log loss 0.1275
//   at threshold 0.5: precision 0.7120  recall 0.3810  f1 0.4964  (tp 381 fp 154 tn 18846 fn 619)
//   calibration: ECE 0.0105  Brier 0.0392
// Undefined values print as "n/a". The layout is not a stable interface: parse the JSON.
std::string FormatMetrics(const BinaryMetrics& metrics);

}  // namespace vigil
