// Binary metrics (metrics.h) on hand-computed cases and against brute-force definitions,
// and the reference distributions (reference.h). The large-scale independent check against
// DuckDB is tests/metrics_duckdb_test.cc.
#include "training/metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "training/reference.h"

namespace vigil {
namespace metrics_test {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The 5-row case, computed by hand:
//   score  0.9 0.7 0.7 0.4 0.2
//   label   1   0   1   1   0
// ROC AUC: ascending average ranks 0.2->1, 0.4->2, 0.7->3.5 (both), 0.9->5; positive rank
//   sum 5 + 3.5 + 2 = 10.5; U = 10.5 - 3*4/2 = 4.5; AUC = 4.5 / (3*2) = 0.75.
// AP: threshold 0.9: P 1/1, R 1/3; 0.7: P 2/3, R 2/3; 0.4: P 3/4, R 1; 0.2: R unchanged.
//   1/3*1 + 1/3*2/3 + 1/3*3/4 = 29/36.
// Log loss: -(ln .9 + ln .3 + ln .7 + ln .4 + ln .8) / 5 = 0.5610885094221719.
const std::vector<double> kScores5 = {0.9, 0.7, 0.7, 0.4, 0.2};
const std::vector<int> kLabels5 = {1, 0, 1, 1, 0};

TEST(Metrics, HandComputedFiveRows) {
  EXPECT_DOUBLE_EQ(RocAuc(kScores5, kLabels5), 0.75);
  EXPECT_DOUBLE_EQ(PrAuc(kScores5, kLabels5), 29.0 / 36.0);
  EXPECT_NEAR(LogLoss(kScores5, kLabels5), 0.5610885094221719, 1e-15);
}

TEST(Metrics, DocumentedExamples) {
  EXPECT_DOUBLE_EQ(RocAuc(std::vector<double>{0.1, 0.4, 0.4, 0.8}, std::vector<int>{0, 0, 1, 1}), 0.875);
  EXPECT_DOUBLE_EQ(PrAuc(std::vector<double>{0.9, 0.8, 0.7}, std::vector<int>{1, 0, 1}),
                   0.5 + 0.5 * 2.0 / 3.0);
}

TEST(Metrics, PerfectReversedAndTiedRankings) {
  const std::vector<int> labels = {0, 0, 1, 1};
  const std::vector<double> perfect = {0.1, 0.2, 0.3, 0.4};
  const std::vector<double> reversed = {0.4, 0.3, 0.2, 0.1};
  const std::vector<double> ties = {0.5, 0.5, 0.5, 0.5};
  EXPECT_EQ(RocAuc(perfect, labels), 1.0);
  EXPECT_EQ(PrAuc(perfect, labels), 1.0);
  EXPECT_EQ(RocAuc(reversed, labels), 0.0);
  // Positives found at ranks 3 and 4: 1/2 * 1/3 + 1/2 * 2/4.
  EXPECT_DOUBLE_EQ(PrAuc(reversed, labels), 0.5 / 3 + 0.25);
  EXPECT_EQ(RocAuc(ties, labels), 0.5);
  EXPECT_EQ(PrAuc(ties, labels), 0.5);  // one threshold: the base rate
}

TEST(Metrics, UndefinedIsNaN) {
  const std::vector<double> s = {0.2, 0.8};
  EXPECT_TRUE(std::isnan(RocAuc(s, std::vector<int>{0, 0})));
  EXPECT_TRUE(std::isnan(RocAuc(s, std::vector<int>{1, 1})));
  EXPECT_TRUE(std::isnan(PrAuc(s, std::vector<int>{0, 0})));
  EXPECT_EQ(PrAuc(s, std::vector<int>{1, 1}), 1.0);  // all positive: precision 1 throughout
  EXPECT_TRUE(std::isnan(RocAuc({}, {})));
  EXPECT_TRUE(std::isnan(PrAuc({}, {})));
  EXPECT_TRUE(std::isnan(LogLoss({}, {})));

  BinaryMetrics m = Evaluate({}, {}, 0.5);
  EXPECT_EQ(m.rows, 0);
  EXPECT_EQ(m.positives, 0);
  EXPECT_TRUE(std::isnan(m.base_rate));
  EXPECT_TRUE(std::isnan(m.roc_auc));
  EXPECT_TRUE(std::isnan(m.at_threshold.precision));
  EXPECT_TRUE(std::isnan(m.at_threshold.recall));
  EXPECT_TRUE(std::isnan(m.at_threshold.f1));
  EXPECT_TRUE(std::isnan(m.calibration.expected_calibration_error));
  EXPECT_TRUE(std::isnan(m.calibration.brier));
  ASSERT_EQ(m.calibration.bins.size(), 10u);
  EXPECT_EQ(m.calibration.bins[0].count, 0);
  EXPECT_TRUE(std::isnan(m.calibration.bins[0].mean_score));
}

TEST(Metrics, LogLossClipsScores) {
  // A certain mistake costs -ln(1e-15), not infinity; a certain hit costs ~1e-15.
  EXPECT_NEAR(LogLoss(std::vector<double>{0.0}, std::vector<int>{1}), 34.538776394910684, 1e-9);
  // The upper clip 1 - 1e-15 is the double 0.999999999999999000799..., so the cost of the
  // opposite mistake is -ln(9.992e-16) = 34.5396 (as scikit-learn computes it too).
  EXPECT_NEAR(LogLoss(std::vector<double>{1.0}, std::vector<int>{0}), -std::log(1 - (1 - 1e-15)), 1e-12);
  EXPECT_NEAR(LogLoss(std::vector<double>{1.0}, std::vector<int>{0}), 34.539575992340879, 1e-9);
  EXPECT_NEAR(LogLoss(std::vector<double>{1.0}, std::vector<int>{1}), 0.0, 1e-14);
  EXPECT_NEAR(LogLoss(std::vector<double>{0.5, 0.5}, std::vector<int>{0, 1}), std::log(2.0), 1e-15);
}

TEST(Metrics, AtThreshold) {
  ThresholdMetrics t = AtThreshold(kScores5, kLabels5, 0.5);
  EXPECT_EQ(t.threshold, 0.5);
  EXPECT_EQ(t.tp, 2);
  EXPECT_EQ(t.fp, 1);
  EXPECT_EQ(t.tn, 1);
  EXPECT_EQ(t.fn, 1);
  EXPECT_DOUBLE_EQ(t.precision, 2.0 / 3);
  EXPECT_DOUBLE_EQ(t.recall, 2.0 / 3);
  EXPECT_DOUBLE_EQ(t.f1, 2.0 / 3);

  // A score equal to the threshold is predicted positive.
  ThresholdMetrics at = AtThreshold(kScores5, kLabels5, 0.7);
  EXPECT_EQ(at.tp, 2);
  EXPECT_EQ(at.fp, 1);

  ThresholdMetrics above = AtThreshold(kScores5, kLabels5, 0.71);
  EXPECT_EQ(above.tp, 1);
  EXPECT_EQ(above.fp, 0);
  EXPECT_EQ(above.tn, 2);
  EXPECT_EQ(above.fn, 2);
  EXPECT_EQ(above.precision, 1.0);
  EXPECT_DOUBLE_EQ(above.recall, 1.0 / 3);
  EXPECT_DOUBLE_EQ(above.f1, 0.5);

  // Nothing predicted positive: precision (and so F1) undefined, recall 0.
  ThresholdMetrics none = AtThreshold(kScores5, kLabels5, 0.95);
  EXPECT_EQ(none.tp + none.fp, 0);
  EXPECT_TRUE(std::isnan(none.precision));
  EXPECT_EQ(none.recall, 0.0);
  EXPECT_TRUE(std::isnan(none.f1));

  // No positives at all: recall undefined.
  ThresholdMetrics neg = AtThreshold(std::vector<double>{0.9, 0.1}, std::vector<int>{0, 0}, 0.5);
  EXPECT_EQ(neg.precision, 0.0);
  EXPECT_TRUE(std::isnan(neg.recall));
  EXPECT_TRUE(std::isnan(neg.f1));

  // Predictions and positives both present but no hit: F1 is 0, not NaN.
  ThresholdMetrics miss = AtThreshold(std::vector<double>{0.9, 0.1}, std::vector<int>{0, 1}, 0.5);
  EXPECT_EQ(miss.f1, 0.0);
}

TEST(Metrics, CalibrationBins) {
  // Five bins [0,.2) [.2,.4) [.4,.6) [.6,.8) [.8,1]: 0.2 -> bin 1, 0.4 -> 2, 0.7 -> 3, 0.9 -> 4.
  Calibration c = Calibrate(kScores5, kLabels5, 5);
  ASSERT_EQ(c.bins.size(), 5u);
  EXPECT_EQ(c.bins[0].count, 0);
  EXPECT_TRUE(std::isnan(c.bins[0].mean_score));
  EXPECT_TRUE(std::isnan(c.bins[0].positive_rate));
  EXPECT_EQ(c.bins[0].lo, 0.0);
  EXPECT_EQ(c.bins[0].hi, 0.2);
  EXPECT_EQ(c.bins[4].hi, 1.0);
  const int64_t counts[] = {0, 1, 1, 2, 1};
  const double means[] = {kNaN, 0.2, 0.4, 0.7, 0.9};
  const double rates[] = {kNaN, 0.0, 1.0, 0.5, 1.0};
  for (int b = 1; b < 5; ++b) {
    SCOPED_TRACE(b);
    EXPECT_EQ(c.bins[b].count, counts[b]);
    EXPECT_DOUBLE_EQ(c.bins[b].mean_score, means[b]);
    EXPECT_DOUBLE_EQ(c.bins[b].positive_rate, rates[b]);
  }
  // ECE: 1/5*.2 + 1/5*.6 + 2/5*.2 + 1/5*.1 = .26; Brier: (.01+.49+.09+.36+.04)/5 = .198.
  EXPECT_NEAR(c.expected_calibration_error, 0.26, 1e-12);
  EXPECT_NEAR(c.brier, 0.198, 1e-12);

  // Scores on and beyond the boundaries: 1.0 and above in the last bin, below 0 in the
  // first, each bin boundary score in the bin it opens.
  Calibration edges = Calibrate(std::vector<double>{-0.5, 0.0, 0.1, 0.3, 0.7, 1.0, 1.5},
                                std::vector<int>{0, 0, 0, 0, 0, 0, 0}, 10);
  EXPECT_EQ(edges.bins[0].count, 2);
  EXPECT_EQ(edges.bins[1].count, 1);
  EXPECT_EQ(edges.bins[3].count, 1);
  EXPECT_EQ(edges.bins[7].count, 1);
  EXPECT_EQ(edges.bins[9].count, 2);
  for (const CalibrationBin& b :
       Calibrate(std::vector<double>{0.3, 0.6, 0.7}, std::vector<int>{1, 1, 1}, 10).bins) {
    if (b.count > 0) {
      EXPECT_LE(b.lo, b.mean_score);
      EXPECT_LT(b.mean_score, b.hi);
    }
  }
}

// Scores with many ties (two decimals) and ~20% positives.
void RandomCase(uint64_t seed, size_t n, std::vector<double>* scores, std::vector<int>* labels) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  scores->clear();
  labels->clear();
  for (size_t i = 0; i < n; ++i) {
    const int y = u(rng) < 0.2;
    const double s = y ? 0.3 + 0.7 * u(rng) : 0.6 * u(rng);
    labels->push_back(y);
    scores->push_back(std::round(s * 100) / 100);
  }
}

TEST(Metrics, AgreesWithBruteForceDefinitions) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    SCOPED_TRACE(seed);
    std::vector<double> s;
    std::vector<int> y;
    RandomCase(seed, 700, &s, &y);
    // ROC AUC over all (positive, negative) pairs.
    double won = 0, pairs = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      for (size_t j = 0; j < s.size(); ++j) {
        if (y[i] == 1 && y[j] == 0) {
          won += s[i] > s[j] ? 1 : (s[i] == s[j] ? 0.5 : 0);
          ++pairs;
        }
      }
    }
    EXPECT_NEAR(RocAuc(s, y), won / pairs, 1e-12);
    // AP by recounting precision and recall at every distinct threshold.
    std::set<double, std::greater<>> thresholds(s.begin(), s.end());
    double ap = 0, prev_recall = 0, positives = 0;
    for (int v : y) positives += v;
    for (double t : thresholds) {
      double tp = 0, predicted = 0;
      for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] >= t) {
          ++predicted;
          tp += y[i];
        }
      }
      ap += (tp / positives - prev_recall) * (tp / predicted);
      prev_recall = tp / positives;
    }
    EXPECT_NEAR(PrAuc(s, y), ap, 1e-12);
  }
}

bool SameDouble(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

void ExpectSameMetrics(const BinaryMetrics& a, const BinaryMetrics& b) {
  EXPECT_EQ(a.rows, b.rows);
  EXPECT_EQ(a.positives, b.positives);
  EXPECT_PRED2(SameDouble, a.base_rate, b.base_rate);
  EXPECT_PRED2(SameDouble, a.roc_auc, b.roc_auc);
  EXPECT_PRED2(SameDouble, a.pr_auc, b.pr_auc);
  EXPECT_PRED2(SameDouble, a.log_loss, b.log_loss);
  const ThresholdMetrics &t = a.at_threshold, &u = b.at_threshold;
  EXPECT_PRED2(SameDouble, t.threshold, u.threshold);
  EXPECT_EQ(t.tp, u.tp);
  EXPECT_EQ(t.fp, u.fp);
  EXPECT_EQ(t.tn, u.tn);
  EXPECT_EQ(t.fn, u.fn);
  EXPECT_PRED2(SameDouble, t.precision, u.precision);
  EXPECT_PRED2(SameDouble, t.recall, u.recall);
  EXPECT_PRED2(SameDouble, t.f1, u.f1);
  ASSERT_EQ(a.calibration.bins.size(), b.calibration.bins.size());
  for (size_t i = 0; i < a.calibration.bins.size(); ++i) {
    const CalibrationBin &x = a.calibration.bins[i], &z = b.calibration.bins[i];
    EXPECT_PRED2(SameDouble, x.lo, z.lo);
    EXPECT_PRED2(SameDouble, x.hi, z.hi);
    EXPECT_EQ(x.count, z.count);
    EXPECT_PRED2(SameDouble, x.mean_score, z.mean_score);
    EXPECT_PRED2(SameDouble, x.positive_rate, z.positive_rate);
  }
  EXPECT_PRED2(SameDouble, a.calibration.expected_calibration_error,
               b.calibration.expected_calibration_error);
  EXPECT_PRED2(SameDouble, a.calibration.brier, b.calibration.brier);
}

TEST(Metrics, JsonRoundTripsExactly) {
  std::vector<double> s;
  std::vector<int> y;
  RandomCase(7, 1000, &s, &y);
  // Unrounded scores too, so that the doubles need all 17 digits.
  std::mt19937_64 rng(3);
  for (double& v : s)
    v = std::clamp(v + std::uniform_real_distribution<double>(-0.004, 0.004)(rng), 0.0, 1.0);
  BinaryMetrics m = Evaluate(s, y, 0.37);
  Result<BinaryMetrics> back = MetricsFromJson(MetricsToJson(m));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ExpectSameMetrics(m, *back);

  // NaN (one class, an empty bin) as null, and back.
  BinaryMetrics one_class = Evaluate(std::vector<double>{0.1, 0.15}, std::vector<int>{0, 0}, 0.5);
  std::string json = MetricsToJson(one_class);
  EXPECT_NE(json.find("\"roc_auc\": null"), std::string::npos) << json;
  Result<BinaryMetrics> back2 = MetricsFromJson(json);
  ASSERT_TRUE(back2.ok()) << back2.status().ToString();
  ExpectSameMetrics(one_class, *back2);
}

TEST(Metrics, JsonRejectsMalformedText) {
  EXPECT_TRUE(MetricsFromJson("not json").status().IsCorruption());
  EXPECT_TRUE(MetricsFromJson("[1]").status().IsCorruption());
  Result<BinaryMetrics> missing = MetricsFromJson(R"({"rows": 3})");
  EXPECT_TRUE(missing.status().IsCorruption());
  std::string text = MetricsToJson(Evaluate(kScores5, kLabels5, 0.5));
  text.replace(text.find("\"roc_auc\": "), 11, "\"roc_auc\": \"high\", \"x\": ");
  Result<BinaryMetrics> bad = MetricsFromJson(text);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("roc_auc"), std::string::npos) << bad.status().ToString();
}

TEST(Metrics, FormatIsAShortReport) {
  std::string text = FormatMetrics(Evaluate(kScores5, kLabels5, 0.5));
  EXPECT_NE(text.find("rows 5, positives 3"), std::string::npos) << text;
  EXPECT_NE(text.find("ROC AUC 0.7500"), std::string::npos) << text;
  EXPECT_NE(text.find("PR AUC 0.8056"), std::string::npos) << text;
  EXPECT_NE(text.find("log loss 0.5611"), std::string::npos) << text;
  EXPECT_NE(text.find("at threshold 0.5: precision 0.6667"), std::string::npos) << text;
  EXPECT_NE(text.find("ECE 0.2600"), std::string::npos) << text;  // 10 bins: same grouping here
  EXPECT_NE(text.find("Brier 0.1980"), std::string::npos) << text;
  EXPECT_NE(FormatMetrics(Evaluate({}, {}, 0.5)).find("ROC AUC n/a"), std::string::npos);
}

// ---------------------------------------------------------------------------------------
// Reference distributions

TEST(Reference, QuantilesAndBinsOfAKnownDistribution) {
  // 0, 1, ..., 100 shuffled, plus two missing values: q_p = p exactly.
  std::vector<double> v;
  for (int i = 0; i <= 100; ++i) v.push_back((i * 37) % 101);
  v.push_back(kNaN);
  v.push_back(kNaN);
  FeatureReference r = NumericReference("amount", v);
  EXPECT_EQ(r.name, "amount");
  EXPECT_FALSE(r.categorical);
  EXPECT_EQ(r.count, 103);
  EXPECT_EQ(r.missing, 2);
  ASSERT_EQ(r.quantiles.size(), 101u);
  for (int p = 0; p <= 100; ++p) EXPECT_EQ(r.quantiles[p], p);
  EXPECT_EQ(r.bin_edges, (std::vector<double>{10, 20, 30, 40, 50, 60, 70, 80, 90}));
  // (-inf,10] holds 0..10 (11 values), each (10k, 10k+10] and (90, inf) 10.
  ASSERT_EQ(r.bin_fractions.size(), 10u);
  EXPECT_DOUBLE_EQ(r.bin_fractions[0], 11.0 / 101);
  for (size_t b = 1; b < 10; ++b) EXPECT_DOUBLE_EQ(r.bin_fractions[b], 10.0 / 101);
  EXPECT_TRUE(r.categories.empty());
}

TEST(Reference, LowerQuantileDefinition) {
  // n = 11 (0..10): q_p = sorted[floor(p/100 * 10)]; q10 = 1, q15 = 1, q19 = 1, q20 = 2.
  std::vector<double> v;
  for (int i = 10; i >= 0; --i) v.push_back(i);
  FeatureReference r = NumericReference("x", v);
  EXPECT_EQ(r.quantiles[0], 0);
  EXPECT_EQ(r.quantiles[10], 1);
  EXPECT_EQ(r.quantiles[15], 1);
  EXPECT_EQ(r.quantiles[19], 1);
  EXPECT_EQ(r.quantiles[20], 2);
  EXPECT_EQ(r.quantiles[99], 9);
  EXPECT_EQ(r.quantiles[100], 10);

  // Few distinct values: duplicate deciles merge. n = 10, eight 0s and two 1s:
  // q10..q80 = sorted[0..7] = 0, q90 = sorted[8] = 1 -> edges {0, 1}, bins (-inf,0] (0,1] (1,inf).
  FeatureReference few = NumericReference("few", std::vector<double>{1, 0, 0, 0, 0, 1, 0, 0, 0, 0});
  EXPECT_EQ(few.bin_edges, (std::vector<double>{0, 1}));
  EXPECT_EQ(few.bin_fractions, (std::vector<double>{0.8, 0.2, 0.0}));
}

TEST(Reference, ConstantColumnHasItsMassInOneBin) {
  FeatureReference r = NumericReference("c", std::vector<double>{3, 3, kNaN, 3});
  EXPECT_EQ(r.count, 4);
  EXPECT_EQ(r.missing, 1);
  EXPECT_EQ(r.quantiles, std::vector<double>(101, 3.0));
  EXPECT_EQ(r.bin_edges, (std::vector<double>{3}));
  EXPECT_EQ(r.bin_fractions, (std::vector<double>{1.0, 0.0}));
  EXPECT_EQ(ReferenceBin(r, 3), 0u);
  EXPECT_EQ(ReferenceBin(r, 3.5), 1u);  // drift above the constant shows in bin 1
}

TEST(Reference, EmptyAndAllMissing) {
  FeatureReference empty = NumericReference("e", {});
  EXPECT_EQ(empty.count, 0);
  EXPECT_EQ(empty.missing, 0);
  EXPECT_TRUE(empty.quantiles.empty());
  EXPECT_TRUE(empty.bin_edges.empty());
  EXPECT_TRUE(empty.bin_fractions.empty());
  EXPECT_EQ(ReferenceBin(empty, 42), 0u);

  FeatureReference nan = NumericReference("n", std::vector<double>{kNaN, kNaN});
  EXPECT_EQ(nan.count, 2);
  EXPECT_EQ(nan.missing, 2);
  EXPECT_TRUE(nan.quantiles.empty());
  EXPECT_TRUE(nan.bin_fractions.empty());

  FeatureReference cat = CategoricalReference("c", std::vector<double>{kNaN}, {"a", "b"});
  EXPECT_TRUE(cat.categorical);
  EXPECT_EQ(cat.count, 1);
  EXPECT_EQ(cat.missing, 1);
  EXPECT_TRUE(cat.categories.empty());
}

TEST(Reference, BinEdgeCases) {
  FeatureReference r;
  r.bin_edges = {10, 20, 30};
  EXPECT_EQ(ReferenceBin(r, -kInf), 0u);
  EXPECT_EQ(ReferenceBin(r, 9.99), 0u);
  EXPECT_EQ(ReferenceBin(r, 10), 0u);  // equal to an edge: the lower bin
  EXPECT_EQ(ReferenceBin(r, std::nextafter(10.0, kInf)), 1u);
  EXPECT_EQ(ReferenceBin(r, 20), 1u);
  EXPECT_EQ(ReferenceBin(r, 30), 2u);
  EXPECT_EQ(ReferenceBin(r, 30.01), 3u);
  EXPECT_EQ(ReferenceBin(r, kInf), 3u);
}

TEST(Reference, CategoricalKeepsTheFiftyMostFrequent) {
  // 60 categories, c00 once ... c59 sixty times; three codes outside the vocabulary.
  std::vector<std::string> vocab;
  std::vector<double> codes;
  for (int i = 0; i < 60; ++i) {
    vocab.push_back((i < 10 ? "c0" : "c") + std::to_string(i));
    for (int k = 0; k <= i; ++k) codes.push_back(i);
  }
  codes.push_back(60);
  codes.push_back(-1);
  codes.push_back(2.5);
  codes.push_back(kNaN);
  codes.push_back(kNaN);
  FeatureReference r = CategoricalReference("merchant", codes, vocab);
  EXPECT_TRUE(r.categorical);
  EXPECT_EQ(r.count, 1830 + 5);
  EXPECT_EQ(r.missing, 2);
  EXPECT_TRUE(r.quantiles.empty());
  EXPECT_TRUE(r.bin_edges.empty());
  ASSERT_EQ(r.categories.size(), 51u);
  const double present = 1833;
  EXPECT_EQ(r.categories[0].first, "c59");
  EXPECT_DOUBLE_EQ(r.categories[0].second, 60 / present);
  EXPECT_EQ(r.categories[49].first, "c10");
  EXPECT_DOUBLE_EQ(r.categories[49].second, 11 / present);
  // c00..c09 (1+...+10 = 55) and the three unknown codes.
  EXPECT_EQ(r.categories[50].first, kOtherCategory);
  EXPECT_DOUBLE_EQ(r.categories[50].second, 58 / present);
  double sum = 0;
  for (const auto& [name, f] : r.categories) sum += f;
  EXPECT_NEAR(sum, 1.0, 1e-12);
}

TEST(Reference, CategoricalTiesByNameAndNoOtherWhenNotNeeded) {
  FeatureReference r = CategoricalReference("x", std::vector<double>{0, 1, 2, 2}, {"b", "a", "c", "unused"});
  ASSERT_EQ(r.categories.size(), 3u);
  EXPECT_EQ(r.categories[0], (std::pair<std::string, double>{"c", 0.5}));
  EXPECT_EQ(r.categories[1], (std::pair<std::string, double>{"a", 0.25}));
  EXPECT_EQ(r.categories[2], (std::pair<std::string, double>{"b", 0.25}));
}

TEST(Reference, JsonRoundTripsExactly) {
  std::vector<double> v;
  std::mt19937_64 rng(11);
  std::normal_distribution<double> normal(50, 17);
  for (int i = 0; i < 5000; ++i) v.push_back(i % 97 == 0 ? kNaN : normal(rng));
  v.push_back(kInf);
  v.push_back(-kInf);
  std::vector<FeatureReference> refs = {
      NumericReference("amount", v),
      CategoricalReference("country", std::vector<double>{0, 1, 1, 7, kNaN}, {"DE", "F\"R\n"}),
      NumericReference("empty", {}),
  };
  refs[0].bin_edges.push_back(kInf);  // not something NumericReference makes, but kept
  refs[0].bin_fractions.push_back(kNaN);
  Result<std::vector<FeatureReference>> back = ReferencesFromJson(ReferencesToJson(refs));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->size(), refs.size());
  for (size_t i = 0; i < refs.size(); ++i) {
    const FeatureReference &a = refs[i], &b = (*back)[i];
    SCOPED_TRACE(a.name);
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.categorical, b.categorical);
    EXPECT_EQ(a.count, b.count);
    EXPECT_EQ(a.missing, b.missing);
    EXPECT_EQ(a.quantiles, b.quantiles);
    EXPECT_EQ(a.bin_edges, b.bin_edges);
    ASSERT_EQ(a.bin_fractions.size(), b.bin_fractions.size());
    for (size_t k = 0; k < a.bin_fractions.size(); ++k) {
      EXPECT_PRED2(SameDouble, a.bin_fractions[k], b.bin_fractions[k]);
    }
    EXPECT_EQ(a.categories, b.categories);
  }
  EXPECT_EQ(refs[0].quantiles.front(), -kInf);
  EXPECT_EQ(refs[0].quantiles.back(), kInf);
}

TEST(Reference, JsonRejectsMalformedText) {
  EXPECT_TRUE(ReferencesFromJson("{}").status().IsCorruption());
  EXPECT_TRUE(ReferencesFromJson("[{").status().IsCorruption());
  Result<std::vector<FeatureReference>> r = ReferencesFromJson(
      R"([{"name": "amount", "categorical": false, "count": 1, "missing": 0,
           "quantiles": ["big"], "bin_edges": [], "bin_fractions": [], "categories": []}])");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsCorruption());
  EXPECT_NE(r.status().message().find("amount"), std::string::npos) << r.status().ToString();
  EXPECT_NE(r.status().message().find("quantiles"), std::string::npos) << r.status().ToString();
}

}  // namespace metrics_test
}  // namespace vigil
