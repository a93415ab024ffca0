// The binary metrics of src/training/metrics.h against DuckDB (tools/node/metrics_check.mjs),
// which computes ROC AUC (Mann-Whitney U with average ranks), average precision
// (scikit-learn's definition, with window functions over the distinct thresholds) and log
// loss in SQL from their definitions. Fixed pseudo-random evaluation sets of 20k rows with
// ~5% positives and scores rounded to two decimals (so most scores are tied with others,
// and 0 and 1 occur, which exercises the log-loss clipping).

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "e2e_util.h"
#include "training/metrics.h"

namespace vigil::e2e {
namespace metrics_duckdb_test {

struct Scored {
  std::vector<double> scores;
  std::vector<int> labels;
};

// Positives score higher on average, with a wide overlap; `decimals` sets how coarse
// (how tied) the scores are.
Scored Generate(uint64_t seed, size_t rows, double positive_rate, int decimals) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  const double scale = std::pow(10.0, decimals);
  Scored out;
  for (size_t i = 0; i < rows; ++i) {
    const int y = u(rng) < positive_rate;
    const double s = y ? 1 - std::pow(u(rng), 1.5) * 0.8 : std::pow(u(rng), 2.5) * 0.9;
    out.labels.push_back(y);
    // k / 10^d is the double DuckDB parses from the decimal text of the same value.
    out.scores.push_back(std::round(s * scale) / scale);
  }
  return out;
}

std::string ToCsv(const Scored& d) {
  std::string csv = "score,label\n";
  for (size_t i = 0; i < d.scores.size(); ++i) {
    csv += DoubleText(d.scores[i]) + "," + std::to_string(d.labels[i]) + "\n";
  }
  return csv;
}

// |a - b| <= rel * max(|a|, |b|).
::testing::AssertionResult Close(const char* a_expr, const char* b_expr, double a, double b) {
  if (std::abs(a - b) <= 1e-9 * std::max(std::abs(a), std::abs(b))) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << a_expr << " = " << DoubleText(a) << " but " << b_expr << " = "
                                       << DoubleText(b) << " (relative tolerance 1e-9)";
}

double Number(const nlohmann::json& j, const char* key) {
  EXPECT_TRUE(j.contains(key) && j[key].is_number()) << key << " missing in " << j.dump();
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : std::nan("");
}

void ExpectMatchesDuckDb(const Scored& d, const TempDir& tmp, const std::string& name) {
  const std::string csv = tmp.Path(name + ".csv");
  WriteFile(csv, ToCsv(d));
  CommandResult r = RunCommand(ShellJoin({"node", SourceDir() + "/tools/node/metrics_check.mjs", csv}), 120);
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  nlohmann::json sql = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(sql.is_object()) << "not a JSON object: " << r.out.substr(0, 500);

  int64_t positives = 0;
  for (int y : d.labels) positives += y;
  ASSERT_EQ(sql.value("rows", int64_t{-1}), static_cast<int64_t>(d.labels.size()));
  ASSERT_EQ(sql.value("positives", int64_t{-1}), positives);
  EXPECT_PRED_FORMAT2(Close, RocAuc(d.scores, d.labels), Number(sql, "roc_auc"));
  EXPECT_PRED_FORMAT2(Close, PrAuc(d.scores, d.labels), Number(sql, "pr_auc"));
  EXPECT_PRED_FORMAT2(Close, LogLoss(d.scores, d.labels), Number(sql, "log_loss"));

  // Evaluate reports the same numbers.
  BinaryMetrics m = Evaluate(d.scores, d.labels, 0.5);
  EXPECT_EQ(m.rows, static_cast<int64_t>(d.labels.size()));
  EXPECT_EQ(m.positives, positives);
  EXPECT_PRED_FORMAT2(Close, m.roc_auc, Number(sql, "roc_auc"));
  EXPECT_PRED_FORMAT2(Close, m.pr_auc, Number(sql, "pr_auc"));
  EXPECT_PRED_FORMAT2(Close, m.log_loss, Number(sql, "log_loss"));
}

TEST(MetricsDuckDb, RocAucAveragePrecisionAndLogLossMatchSql) {
  TempDir tmp("vigil-metrics");
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    Scored d = Generate(seed, 20'000, 0.05, 2);
    // The data is what the test means it to be: both classes, many ties, clipped extremes.
    int64_t zeros = 0, ones = 0;
    for (double s : d.scores) {
      zeros += s == 0.0;
      ones += s == 1.0;
    }
    ASSERT_GT(zeros, 0);
    ASSERT_GT(ones, 0);
    ExpectMatchesDuckDb(d, tmp, "seed" + std::to_string(seed));
  }
}

TEST(MetricsDuckDb, CoarseScoresAndRarePositivesMatchSql) {
  // One decimal (11 distinct scores: every threshold a large tie group) and 0.5% positives.
  TempDir tmp("vigil-metrics");
  ExpectMatchesDuckDb(Generate(4, 20'000, 0.005, 1), tmp, "coarse");
}

}  // namespace metrics_duckdb_test
}  // namespace vigil::e2e
