#include "training/metrics.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <numeric>

#include "training/json_numbers.h"

namespace vigil {

namespace {

using Json = nlohmann::json;

// Row indices ordered by score, descending.
std::vector<size_t> ByScoreDescending(std::span<const double> scores) {
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  return order;
}

int64_t CountPositives(std::span<const int> labels) {
  int64_t p = 0;
  for (int y : labels) p += y != 0;
  return p;
}

double Ratio(int64_t num, int64_t den) {
  return den == 0 ? kMetricNaN : static_cast<double>(num) / static_cast<double>(den);
}

// at(key) of `j` as a double (json_numbers.h's exact form: NaN as null, never produced by
// the metrics, +-inf as "inf"/"-inf"); throws (caught by MetricsFromJson) when it is not one.
double DoubleField(const Json& j, const char* key) {
  return DoubleFromJson(j.at(key), std::string("field ") + key);
}

int64_t IntField(const Json& j, const char* key) {
  const Json& v = j.at(key);
  if (!v.is_number_integer()) {
    throw std::invalid_argument(std::string("field ") + key + ": want an integer, got " + v.dump());
  }
  return v.get<int64_t>();
}

std::string Number(double v, int digits = 4) {
  if (std::isnan(v)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// Shortest "%g"-style text for the threshold and base rate (0.5, not 0.5000).
std::string Short(double v) {
  if (std::isnan(v)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace

double RocAuc(std::span<const double> scores, std::span<const int> labels) {
  assert(scores.size() == labels.size());
  const int64_t p = CountPositives(labels);
  const int64_t n = static_cast<int64_t>(labels.size()) - p;
  if (p == 0 || n == 0) return kMetricNaN;
  // Walking the tie groups from the lowest score up, a positive in a group beats every
  // negative below the group and ties (one half) with each negative inside it. This is the
  // rank-sum form (sum of positive average ranks - P(P+1)/2) without the large rank sums;
  // 2U is an integer, accumulated exactly in a long double.
  std::vector<size_t> order = ByScoreDescending(scores);
  long double twice_u = 0;
  int64_t negatives_below = n;  // negatives with a lower score than the current group
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    int64_t pos = 0, neg = 0;
    for (; j < order.size() && scores[order[j]] == scores[order[i]]; ++j) {
      if (labels[order[j]] != 0)
        ++pos;
      else
        ++neg;
    }
    negatives_below -= neg;
    twice_u += static_cast<long double>(pos) * static_cast<long double>(2 * negatives_below + neg);
    i = j;
  }
  return static_cast<double>(twice_u / (2.0L * static_cast<long double>(p) * static_cast<long double>(n)));
}

double PrAuc(std::span<const double> scores, std::span<const int> labels) {
  assert(scores.size() == labels.size());
  const int64_t p = CountPositives(labels);
  if (p == 0) return kMetricNaN;
  std::vector<size_t> order = ByScoreDescending(scores);
  double ap = 0;
  int64_t tp = 0, predicted = 0, tp_before = 0;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    for (; j < order.size() && scores[order[j]] == scores[order[i]]; ++j) tp += labels[order[j]] != 0;
    predicted += static_cast<int64_t>(j - i);
    if (tp > tp_before) {  // recall moved: (R_n - R_{n-1}) * P_n
      ap += static_cast<double>(tp - tp_before) / static_cast<double>(p) * static_cast<double>(tp) /
            static_cast<double>(predicted);
      tp_before = tp;
    }
    i = j;
  }
  return ap;
}

double LogLoss(std::span<const double> scores, std::span<const int> labels) {
  assert(scores.size() == labels.size());
  if (scores.empty()) return kMetricNaN;
  constexpr double kEps = 1e-15;
  double sum = 0;
  for (size_t i = 0; i < scores.size(); ++i) {
    const double s = std::clamp(scores[i], kEps, 1 - kEps);
    sum -= labels[i] != 0 ? std::log(s) : std::log1p(-s);
  }
  return sum / static_cast<double>(scores.size());
}

ThresholdMetrics AtThreshold(std::span<const double> scores, std::span<const int> labels, double threshold) {
  assert(scores.size() == labels.size());
  ThresholdMetrics m;
  m.threshold = threshold;
  for (size_t i = 0; i < scores.size(); ++i) {
    const bool predicted = scores[i] >= threshold;
    if (labels[i] != 0) {
      ++(predicted ? m.tp : m.fn);
    } else {
      ++(predicted ? m.fp : m.tn);
    }
  }
  m.precision = Ratio(m.tp, m.tp + m.fp);
  m.recall = Ratio(m.tp, m.tp + m.fn);
  if (!std::isnan(m.precision) && !std::isnan(m.recall)) m.f1 = Ratio(2 * m.tp, 2 * m.tp + m.fp + m.fn);
  return m;
}

Calibration Calibrate(std::span<const double> scores, std::span<const int> labels, int bins) {
  assert(scores.size() == labels.size());
  assert(bins >= 1);
  Calibration c;
  c.bins.resize(static_cast<size_t>(bins));
  std::vector<double> score_sum(c.bins.size(), 0.0);
  std::vector<int64_t> positives(c.bins.size(), 0);
  double brier_sum = 0;
  for (size_t i = 0; i < scores.size(); ++i) {
    const double s = scores[i];
    // floor(s * bins), clamped (a score of 1 or above is in the last bin), then moved by
    // one where the product rounded across a boundary, so that lo <= s < hi holds exactly
    // for the lo = b / bins and hi = (b + 1) / bins reported below.
    const double clamped = std::clamp(s, 0.0, 1.0);
    int b = static_cast<int>(std::min<double>(std::floor(clamped * bins), bins - 1));
    if (b > 0 && clamped < static_cast<double>(b) / bins) --b;
    if (b + 1 < bins && clamped >= static_cast<double>(b + 1) / bins) ++b;
    ++c.bins[static_cast<size_t>(b)].count;
    score_sum[static_cast<size_t>(b)] += s;
    positives[static_cast<size_t>(b)] += labels[i] != 0;
    const double err = s - (labels[i] != 0 ? 1.0 : 0.0);
    brier_sum += err * err;
  }
  const int64_t rows = static_cast<int64_t>(scores.size());
  double ece = 0;
  for (size_t b = 0; b < c.bins.size(); ++b) {
    CalibrationBin& bin = c.bins[b];
    bin.lo = static_cast<double>(b) / bins;
    bin.hi = static_cast<double>(b + 1) / bins;
    if (bin.count == 0) continue;
    bin.mean_score = score_sum[b] / static_cast<double>(bin.count);
    bin.positive_rate = Ratio(positives[b], bin.count);
    ece += static_cast<double>(bin.count) / static_cast<double>(rows) *
           std::abs(bin.mean_score - bin.positive_rate);
  }
  if (rows > 0) {
    c.expected_calibration_error = ece;
    c.brier = brier_sum / static_cast<double>(rows);
  }
  return c;
}

BinaryMetrics Evaluate(std::span<const double> scores, std::span<const int> labels, double threshold) {
  assert(scores.size() == labels.size());
  BinaryMetrics m;
  m.rows = static_cast<int64_t>(scores.size());
  m.positives = CountPositives(labels);
  m.base_rate = Ratio(m.positives, m.rows);
  m.roc_auc = RocAuc(scores, labels);
  m.pr_auc = PrAuc(scores, labels);
  m.log_loss = LogLoss(scores, labels);
  m.at_threshold = AtThreshold(scores, labels, threshold);
  m.calibration = Calibrate(scores, labels);
  return m;
}

std::string MetricsToJson(const BinaryMetrics& m) {
  const ThresholdMetrics& t = m.at_threshold;
  Json bins = Json::array();
  for (const CalibrationBin& b : m.calibration.bins) {
    bins.push_back({{"lo", DoubleToJson(b.lo)},
                    {"hi", DoubleToJson(b.hi)},
                    {"count", b.count},
                    {"mean_score", DoubleToJson(b.mean_score)},
                    {"positive_rate", DoubleToJson(b.positive_rate)}});
  }
  Json j = {{"rows", m.rows},
            {"positives", m.positives},
            {"base_rate", DoubleToJson(m.base_rate)},
            {"roc_auc", DoubleToJson(m.roc_auc)},
            {"pr_auc", DoubleToJson(m.pr_auc)},
            {"log_loss", DoubleToJson(m.log_loss)},
            {"at_threshold",
             {{"threshold", DoubleToJson(t.threshold)},
              {"tp", t.tp},
              {"fp", t.fp},
              {"tn", t.tn},
              {"fn", t.fn},
              {"precision", DoubleToJson(t.precision)},
              {"recall", DoubleToJson(t.recall)},
              {"f1", DoubleToJson(t.f1)}}},
            {"calibration",
             {{"bins", std::move(bins)},
              {"expected_calibration_error", DoubleToJson(m.calibration.expected_calibration_error)},
              {"brier", DoubleToJson(m.calibration.brier)}}}};
  return j.dump(2) + "\n";
}

Result<BinaryMetrics> MetricsFromJson(std::string_view json) {
  Json j = Json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::Corruption("metrics: not a JSON object");
  BinaryMetrics m;
  try {
    m.rows = IntField(j, "rows");
    m.positives = IntField(j, "positives");
    m.base_rate = DoubleField(j, "base_rate");
    m.roc_auc = DoubleField(j, "roc_auc");
    m.pr_auc = DoubleField(j, "pr_auc");
    m.log_loss = DoubleField(j, "log_loss");
    const Json& t = j.at("at_threshold");
    m.at_threshold.threshold = DoubleField(t, "threshold");
    m.at_threshold.tp = IntField(t, "tp");
    m.at_threshold.fp = IntField(t, "fp");
    m.at_threshold.tn = IntField(t, "tn");
    m.at_threshold.fn = IntField(t, "fn");
    m.at_threshold.precision = DoubleField(t, "precision");
    m.at_threshold.recall = DoubleField(t, "recall");
    m.at_threshold.f1 = DoubleField(t, "f1");
    const Json& c = j.at("calibration");
    for (const Json& b : c.at("bins")) {
      CalibrationBin bin;
      bin.lo = DoubleField(b, "lo");
      bin.hi = DoubleField(b, "hi");
      bin.count = IntField(b, "count");
      bin.mean_score = DoubleField(b, "mean_score");
      bin.positive_rate = DoubleField(b, "positive_rate");
      m.calibration.bins.push_back(bin);
    }
    m.calibration.expected_calibration_error = DoubleField(c, "expected_calibration_error");
    m.calibration.brier = DoubleField(c, "brier");
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("metrics: ") + e.what());
  }
  return m;
}

std::string FormatMetrics(const BinaryMetrics& m) {
  const ThresholdMetrics& t = m.at_threshold;
  std::string out;
  out += "rows " + std::to_string(m.rows) + ", positives " + std::to_string(m.positives) + " (base rate " +
         Short(m.base_rate) + ")\n";
  out += "ROC AUC " + Number(m.roc_auc) + "  PR AUC " + Number(m.pr_auc) + "  log loss " +
         Number(m.log_loss) + "\n";
  out += "at threshold " + Short(t.threshold) + ": precision " + Number(t.precision) + "  recall " +
         Number(t.recall) + "  f1 " + Number(t.f1) + "  (tp " + std::to_string(t.tp) + " fp " +
         std::to_string(t.fp) + " tn " + std::to_string(t.tn) + " fn " + std::to_string(t.fn) + ")\n";
  out += "calibration: ECE " + Number(m.calibration.expected_calibration_error) + "  Brier " +
         Number(m.calibration.brier) + "\n";
  return out;
}

}  // namespace vigil
