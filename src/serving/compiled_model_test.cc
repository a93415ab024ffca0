#include "serving/compiled_model.h"

#include <gtest/gtest.h>
#include <xgboost/c_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "training/xgboost_model.h"

namespace vigil {
namespace compiled_model_test {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();
// Rows compared with XGBoost per model. The sanitizer build (-O0 under ASan, where this is
// about memory, not equality) walks a quarter of them.
#if defined(__SANITIZE_ADDRESS__)
constexpr int64_t kCompareRows = 30000;
#else
constexpr int64_t kCompareRows = 120000;
#endif

// A nonlinear target over `cols` normal columns (only the first six matter), then ~20% of
// the cells of the first ten columns blanked (NaN) after the label is drawn.
DenseMatrix Numeric(int64_t rows, int cols, uint64_t seed, double missing_share = 0.2) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> x(0, 1);
  std::uniform_real_distribution<double> u(0, 1);
  DenseMatrix m;
  m.rows = rows;
  m.cols = cols;
  std::vector<float> row(cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (float& v : row) v = x(rng);
    double z = row[0] * row[1] + std::sin(2 * row[2]) + (row[3] > 0.5f ? 1.0 : -0.5) + 0.5 * row[4] -
               row[5] * row[5];
    m.labels.push_back(u(rng) < 1 / (1 + std::exp(-2 * z)) ? 1.0f : 0.0f);
    for (int c = 0; c < std::min(cols, 10); ++c) {
      if (u(rng) < missing_share) row[c] = kNaN;
    }
    m.values.insert(m.values.end(), row.begin(), row.end());
  }
  return m;
}

// Columns 0 and 1 are categories (codes 0..14 and 0..39, 5% NaN), 2..5 numeric. The
// target depends on scattered code sets, so the trees learn partition splits.
DenseMatrix WithCategories(int64_t rows, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> a(0, 14), b(0, 39);
  std::normal_distribution<float> x(0, 1);
  std::uniform_real_distribution<double> u(0, 1);
  DenseMatrix m;
  m.rows = rows;
  m.cols = 6;
  for (int64_t r = 0; r < rows; ++r) {
    int ca = a(rng), cb = b(rng);
    float row[6] = {static_cast<float>(ca), static_cast<float>(cb), x(rng), x(rng), x(rng), x(rng)};
    double z = ((ca * 7) % 5 == 1 ? 1.5 : -0.5) + ((cb * 11) % 7 < 3 ? 1.0 : -1.0) + row[2] - 0.5 * row[3];
    m.labels.push_back(u(rng) < 1 / (1 + std::exp(-2 * z)) ? 1.0f : 0.0f);
    if (u(rng) < 0.05) row[0] = kNaN;
    if (u(rng) < 0.05) row[1] = kNaN;
    if (u(rng) < 0.1) row[2] = kNaN;
    m.values.insert(m.values.end(), row, row + 6);
  }
  return m;
}

// The numeric thresholds of a model (nlohmann after NaN -> null), to probe rows that sit
// exactly on a split.
std::vector<std::vector<float>> ThresholdsByFeature(std::string text, int cols) {
  for (size_t at = text.find("NaN"); at != std::string::npos; at = text.find("NaN", at)) {
    text.replace(at, 3, "null");
  }
  auto doc = nlohmann::json::parse(text);
  std::vector<std::vector<float>> out(cols);
  for (const auto& tree : doc["learner"]["gradient_booster"]["model"]["trees"]) {
    for (size_t i = 0; i < tree["left_children"].size(); ++i) {
      if (tree["left_children"][i].get<int>() == -1 || tree["split_type"][i].get<int>() != 0) continue;
      std::string digits = tree["split_conditions"][i].dump();
      out[tree["split_indices"][i].get<int>()].push_back(std::strtof(digits.c_str(), nullptr));
    }
  }
  return out;
}

// Rows to compare on: `base` rows, then rows with every value missing, then rows whose
// values sit on, just below and just above the model's thresholds (half of them NaN),
// then rows of extreme values.
DenseMatrix Probe(DenseMatrix base, const std::string& model_json, uint64_t seed) {
  base.labels.clear();
  const int cols = base.cols;
  auto thresholds = ThresholdsByFeature(model_json, cols);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  auto add = [&](const std::vector<float>& row) {
    base.values.insert(base.values.end(), row.begin(), row.end());
    ++base.rows;
  };
  for (int i = 0; i < 50; ++i) add(std::vector<float>(cols, kNaN));
  std::vector<float> row(cols);
  for (int i = 0; i < 10000; ++i) {
    for (int c = 0; c < cols; ++c) {
      const auto& t = thresholds[c];
      float v = t.empty() ? 0.0f : t[static_cast<size_t>(u(rng) * t.size())];
      double pick = u(rng);
      if (pick < 0.2) v = std::nextafter(v, -kInf);
      if (pick > 0.8) v = std::nextafter(v, kInf);
      row[c] = u(rng) < 0.3 ? kNaN : v;
    }
    add(row);
  }
  // Extremes (XGBoost's DMatrix refuses infinities: see InfinitiesAsPredictRowSeesThem).
  const float extremes[] = {std::numeric_limits<float>::max(),
                            -std::numeric_limits<float>::max(),
                            0.0f,
                            -0.0f,
                            std::numeric_limits<float>::denorm_min(),
                            1e30f,
                            -1e30f,
                            kNaN};
  for (int i = 0; i < 1000; ++i) {
    for (float& v : row) v = extremes[static_cast<size_t>(u(rng) * std::size(extremes))];
    add(row);
  }
  return base;
}

struct Comparison {
  double max_diff = 0;      // vs XgbModel::Predict (a DMatrix, all rows)
  double max_row_diff = 0;  // vs XgbModel::PredictRow (XGBoosterPredictFromDense)
  int64_t unequal = 0;      // rows not bitwise equal to XgbModel::Predict
};

// Compares CompiledModel with XGBoost on every row of m (PredictRow on every 50th row:
// it is slow), and PredictBatch with Predict.
Comparison Compare(const std::string& model_json, const DenseMatrix& m, const char* name) {
  Comparison out;
  Result<XgbModel> xgb = XgbModel::Load(model_json);
  EXPECT_TRUE(xgb.ok()) << xgb.status().ToString();
  Result<CompiledModel> compiled = CompiledModel::FromXgboostJson(model_json);
  EXPECT_TRUE(compiled.ok()) << compiled.status().ToString();
  if (!xgb.ok() || !compiled.ok()) return out;
  EXPECT_EQ(compiled->num_features(), m.cols);
  Result<std::vector<float>> expected = xgb->Predict(m);
  EXPECT_TRUE(expected.ok()) << expected.status().ToString();
  if (!expected.ok()) return out;
  std::vector<float> batch(static_cast<size_t>(m.rows));
  compiled->PredictBatch(m.values.data(), batch.size(), batch.data());
  for (int64_t r = 0; r < m.rows; ++r) {
    const float* row = m.values.data() + r * m.cols;
    float p = compiled->Predict(row);
    float want = (*expected)[r];
    out.max_diff = std::max(out.max_diff, std::abs(static_cast<double>(p) - want));
    out.unequal += p != want;
    if (batch[r] != p) {
      ADD_FAILURE() << name << ": PredictBatch differs from Predict at row " << r;
      break;
    }
    if (r % 50 == 0) {
      Result<float> one = xgb->PredictRow(std::span<const float>(row, m.cols));
      EXPECT_TRUE(one.ok()) << one.status().ToString();
      if (one.ok()) out.max_row_diff = std::max(out.max_row_diff, std::abs(static_cast<double>(p) - *one));
    }
  }
  std::printf(
      "[%s] %lld rows, %zu trees: max |compiled - xgboost Predict| %.3g (%lld rows not bitwise equal), "
      "max |compiled - PredictRow| %.3g\n",
      name, static_cast<long long>(m.rows), compiled->num_trees(), out.max_diff,
      static_cast<long long>(out.unequal), out.max_row_diff);
  return out;
}

// Rows holding +-inf: XGBoost's DMatrix refuses them ("Input data contains `inf`"), its
// in-place prediction (PredictRow) takes them. Returns the max |compiled - PredictRow|.
double CompareInfinities(const std::string& model_json, int cols, uint64_t seed, int64_t rows) {
  Result<XgbModel> xgb = XgbModel::Load(model_json);
  Result<CompiledModel> compiled = CompiledModel::FromXgboostJson(model_json);
  EXPECT_TRUE(xgb.ok() && compiled.ok());
  if (!xgb.ok() || !compiled.ok()) return kInf;
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> x(0, 1);
  std::uniform_int_distribution<int> kind(0, 3);
  std::vector<float> row(cols);
  double max_diff = 0;
  int64_t refused = 0;
  for (int64_t r = 0; r < rows; ++r) {
    for (float& v : row) {
      int k = kind(rng);
      v = k == 0 ? kInf : k == 1 ? -kInf : k == 2 ? kNaN : x(rng);
    }
    Result<float> want = xgb->PredictRow(row);
    if (!want.ok()) {
      ++refused;
      continue;
    }
    max_diff = std::max(max_diff, std::abs(static_cast<double>(compiled->Predict(row.data())) - *want));
  }
  std::printf("  rows with +-inf: max |compiled - PredictRow| %.3g (%lld of %lld refused by XGBoost)\n",
              max_diff, static_cast<long long>(refused), static_cast<long long>(rows));
  EXPECT_EQ(refused, 0);
  return max_diff;
}

// XGBoost's margins (output_margin) for every row of m through the C API.
std::vector<float> XgboostMargins(const std::string& model_json, const DenseMatrix& m) {
  BoosterHandle booster = nullptr;
  EXPECT_EQ(XGBoosterCreate(nullptr, 0, &booster), 0);
  EXPECT_EQ(XGBoosterLoadModelFromBuffer(booster, model_json.data(), model_json.size()), 0)
      << XGBGetLastError();
  DMatrixHandle dm = nullptr;
  EXPECT_EQ(XGDMatrixCreateFromMat(m.values.data(), m.rows, m.cols, kNaN, &dm), 0);
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* result = nullptr;
  EXPECT_EQ(XGBoosterPredictFromDMatrix(booster, dm,
                                        R"({"type": 1, "training": false, "iteration_begin": 0, )"
                                        R"("iteration_end": 0, "strict_shape": false})",
                                        &shape, &dim, &result),
            0)
      << XGBGetLastError();
  std::vector<float> out(result, result + m.rows);
  XGDMatrixFree(dm);
  XGBoosterFree(booster);
  return out;
}

BoosterOptions Deep(int rounds) {
  BoosterOptions o;
  // One thread: the model does not depend on the machine's load, and a busy machine
  // does not make OpenMP spin.
  o.params = {{"max_depth", "6"}, {"eta", "0.1"}, {"nthread", "1"}};
  o.rounds = rounds;
  o.early_stopping_rounds = 0;
  return o;
}

// One model per process: training takes seconds.
const TrainedBooster& NumericModel() {
  static const TrainedBooster* model = [] {
    Result<TrainedBooster> t = TrainBooster(Numeric(20000, 30, 1), nullptr, Deep(200));
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return new TrainedBooster(t.ok() ? *t : TrainedBooster{});
  }();
  return *model;
}

TEST(CompiledModel, NumericModelWithMissingValuesEqualsXgboost) {
  const TrainedBooster& trained = NumericModel();
  ASSERT_FALSE(trained.model_json.empty());
  DenseMatrix probe = Probe(Numeric(kCompareRows, 30, 2), trained.model_json, 3);
  Comparison c = Compare(trained.model_json, probe, "numeric, 20% NaN, 200 rounds, depth 6");
  EXPECT_LE(c.max_diff, 1e-6);
  EXPECT_LE(c.max_row_diff, 1e-6);
  EXPECT_EQ(c.unequal, 0);  // same operations in the same order: bit for bit
  EXPECT_LE(CompareInfinities(trained.model_json, 30, 5, 2000), 1e-6);

  // The margin is XGBoost's output_margin, bit for bit.
  Result<CompiledModel> compiled = CompiledModel::FromXgboostJson(trained.model_json);
  ASSERT_TRUE(compiled.ok());
  EXPECT_EQ(compiled->num_trees(), 200u);
  DenseMatrix head = Numeric(20000, 30, 4);
  std::vector<float> margins = XgboostMargins(trained.model_json, head);
  int64_t unequal = 0;
  for (int64_t r = 0; r < head.rows; ++r) {
    unequal += compiled->Margin(head.values.data() + r * head.cols) != static_cast<double>(margins[r]);
  }
  EXPECT_EQ(unequal, 0);
}

TEST(CompiledModel, CategoricalModelEqualsXgboostAlsoForUnseenNegativeAndFractionalCodes) {
  DenseMatrix train = WithCategories(20000, 11);
  BoosterOptions options = Deep(150);
  options.categorical = {true, true, false, false, false, false};
  options.params.push_back({"max_cat_to_onehot", "1"});
  Result<TrainedBooster> trained = TrainBooster(train, nullptr, options);
  ASSERT_TRUE(trained.ok()) << trained.status().ToString();
  ASSERT_NE(trained->model_json.find("\"categories_nodes\":[0"), std::string::npos)
      << "expected a categorical split at some root";

  DenseMatrix probe = Probe(WithCategories(kCompareRows, 12), trained->model_json, 13);
  // Codes beyond training (15.., 40..), huge, negative, fractional, infinite, NaN.
  const float odd_codes[] = {15,          16,   39,    40, 41,    100,   1000,  65536, 1e6f,   16777215.0f,
                             16777216.0f, 3e7f, 1e30f, -1, -0.5f, -0.0f, -1e9f, 2.5f,  2.999f, 7.25f,
                             0.5f,        kNaN, 0,     1,  2,     3,     14,    39};
  std::mt19937_64 rng(14);
  std::uniform_int_distribution<size_t> pick(0, std::size(odd_codes) - 1);
  std::normal_distribution<float> x(0, 1);
  for (int i = 0; i < 20000; ++i) {
    float row[6] = {odd_codes[pick(rng)], odd_codes[pick(rng)], x(rng), x(rng), x(rng), x(rng)};
    probe.values.insert(probe.values.end(), row, row + 6);
    ++probe.rows;
  }
  Comparison c = Compare(trained->model_json, probe, "2 categorical columns, odd codes");
  EXPECT_LE(c.max_diff, 1e-6);
  EXPECT_LE(c.max_row_diff, 1e-6);
  EXPECT_EQ(c.unequal, 0);
  EXPECT_LE(CompareInfinities(trained->model_json, 6, 15, 2000), 1e-6);

  // The same with one-hot splits: column 0 folded to 3 codes, below XGBoost's default
  // max_cat_to_onehot of 4 (column 1 keeps partition splits).
  for (size_t i = 0; i < train.values.size(); i += 6) {
    if (!std::isnan(train.values[i]))
      train.values[i] = static_cast<float>(static_cast<int>(train.values[i]) % 3);
  }
  options.params.pop_back();
  Result<TrainedBooster> onehot = TrainBooster(train, nullptr, options);
  ASSERT_TRUE(onehot.ok()) << onehot.status().ToString();
  Comparison c2 = Compare(onehot->model_json, probe, "one-hot categorical");
  EXPECT_LE(c2.max_diff, 1e-6);
  EXPECT_LE(c2.max_row_diff, 1e-6);
}

TEST(CompiledModel, EarlyStoppedSlicedModelEqualsXgboost) {
  DenseMatrix train = Numeric(8000, 12, 21), valid = Numeric(4000, 12, 22);
  BoosterOptions options = Deep(400);
  options.params = {{"max_depth", "8"}, {"eta", "0.3"}, {"nthread", "1"}};
  options.early_stopping_rounds = 10;
  Result<TrainedBooster> trained = TrainBooster(train, &valid, options);
  ASSERT_TRUE(trained.ok()) << trained.status().ToString();
  ASSERT_LT(trained->best_iteration + 1, trained->rounds_trained) << "early stopping did not slice";
  Result<CompiledModel> compiled = CompiledModel::FromXgboostJson(trained->model_json);
  ASSERT_TRUE(compiled.ok()) << compiled.status().ToString();
  EXPECT_EQ(compiled->num_trees(), static_cast<size_t>(trained->best_iteration + 1));
  DenseMatrix probe = Probe(Numeric(kCompareRows, 12, 23), trained->model_json, 24);
  Comparison c = Compare(trained->model_json, probe, "early stopping (sliced)");
  EXPECT_LE(c.max_diff, 1e-6);
  EXPECT_LE(c.max_row_diff, 1e-6);
  EXPECT_EQ(c.unequal, 0);
}

// The worked example of compiled_model.h, written by hand.
TEST(CompiledModel, HandWrittenTreeFollowsTheDocumentedRules) {
  const std::string model = R"({"learner": {
      "learner_model_param": {"base_score": "5E-1", "num_class": "0", "num_feature": "4"},
      "objective": {"name": "binary:logistic"},
      "gradient_booster": {"name": "gbtree", "model": {"tree_info": [0, 0], "trees": [
        {"left_children": [1, -1, -1], "right_children": [2, -1, -1], "split_indices": [3, 0, 0],
         "split_conditions": [5E-1, 1E-1, -2E-1], "default_left": [1, 0, 0], "split_type": [0, 0, 0],
         "categories": [], "categories_nodes": [], "categories_segments": [], "categories_sizes": []},
        {"left_children": [1, -1, -1], "right_children": [2, -1, -1], "split_indices": [1, 0, 0],
         "split_conditions": [NaN, 1E0, 2E0], "default_left": [0, 0, 0], "split_type": [1, 0, 0],
         "categories": [4, 1], "categories_nodes": [0], "categories_segments": [0], "categories_sizes": [2]}
      ]}}}})";
  Result<CompiledModel> m = CompiledModel::FromXgboostJson(model);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->num_features(), 4);
  EXPECT_EQ(m->num_trees(), 2u);
  auto margin = [&](float x1, float x3) {
    float row[4] = {0, x1, 0, x3};
    return m->Margin(row);
  };
  // Tree 0: x3 < 0.5 (NaN left) -> 0.1, else -0.2. Tree 1: x1 in {1, 4} or NaN
  // (default_left 0) -> 2, any other value -> 1.
  EXPECT_EQ(margin(0, 0.4f), 0.1f + 1.0f);
  EXPECT_EQ(margin(0, 0.5f), -0.2f + 1.0f);
  EXPECT_EQ(margin(0, kNaN), 0.1f + 1.0f);
  EXPECT_EQ(margin(1, 0), 0.1f + 2.0f);
  EXPECT_EQ(margin(4.9f, 0), 0.1f + 2.0f);   // truncates to 4
  EXPECT_EQ(margin(-0.5f, 0), 0.1f + 1.0f);  // negative: left, though trunc(-0.5) = 0
  EXPECT_EQ(margin(33, 0), 0.1f + 1.0f);     // beyond the set's bitset
  EXPECT_EQ(margin(kNaN, 0), 0.1f + 2.0f);   // default right
  float row[4] = {0, kNaN, 0, kNaN};
  EXPECT_FLOAT_EQ(m->Predict(row), 1 / (1 + std::exp(-2.1f)));
}

// A numeric-only model takes the fast walk (NaN read as -inf or +inf): the same rules.
TEST(CompiledModel, HandWrittenNumericTreesSendMissingValuesTheirWay) {
  const std::string model = R"({"learner": {
      "learner_model_param": {"base_score": "2.5E-1", "num_class": "0", "num_feature": "2"},
      "objective": {"name": "binary:logistic"},
      "gradient_booster": {"name": "gbtree", "model": {"tree_info": [0, 0, 0], "trees": [
        {"left_children": [1, -1, -1], "right_children": [2, -1, -1], "split_indices": [0, 0, 0],
         "split_conditions": [5E-1, 1E-1, -2E-1], "default_left": [1, 0, 0], "split_type": [0, 0, 0]},
        {"left_children": [1, -1, -1], "right_children": [2, -1, -1], "split_indices": [0, 0, 0],
         "split_conditions": [5E-1, 1E0, 2E0], "default_left": [0, 0, 0], "split_type": [0, 0, 0]},
        {"left_children": [-1], "right_children": [-1], "split_indices": [0],
         "split_conditions": [4E0], "default_left": [0], "split_type": [0]}
      ]}}}})";
  Result<CompiledModel> m = CompiledModel::FromXgboostJson(model);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  auto margin = [&](float x0) {
    float row[2] = {x0, 7};
    return static_cast<float>(m->Margin(row));
  };
  const float base = -std::log(1.0f / 0.25f - 1.0f);
  EXPECT_EQ(margin(0.4f), base + 0.1f + 1.0f + 4.0f);
  EXPECT_EQ(margin(0.5f), base - 0.2f + 2.0f + 4.0f);  // not 0.5 < 0.5: right
  EXPECT_EQ(margin(-kInf), base + 0.1f + 1.0f + 4.0f);
  EXPECT_EQ(margin(kInf), base - 0.2f + 2.0f + 4.0f);
  EXPECT_EQ(margin(kNaN), base + 0.1f + 2.0f + 4.0f);  // left in tree 0, right in tree 1
}

TEST(CompiledModel, PredictsTheSameFromSeveralThreads) {
  const TrainedBooster& trained = NumericModel();
  Result<CompiledModel> m = CompiledModel::FromXgboostJson(trained.model_json);
  ASSERT_TRUE(m.ok());
  DenseMatrix rows = Numeric(5000, 30, 31);
  std::vector<float> want(5000);
  m->PredictBatch(rows.values.data(), 5000, want.data());
  std::vector<int> bad(2, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 4; ++rep) {
        for (int64_t r = 0; r < rows.rows; ++r) bad[t] += m->Predict(rows.values.data() + r * 30) != want[r];
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad[0] + bad[1], 0);
}

std::string Replace(std::string s, std::string_view from, std::string_view to) {
  size_t at = s.find(from);
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

TEST(CompiledModel, GarbageTruncatedAndUnsupportedModelsAreErrors) {
  // Ten trees have every part of the format; the loop below parses 300 cuts of the text,
  // which for the 200-tree model took minutes in the sanitizer build.
  Result<TrainedBooster> trained = TrainBooster(Numeric(2000, 30, 1), nullptr, Deep(10));
  ASSERT_TRUE(trained.ok()) << trained.status().ToString();
  const std::string& valid = trained->model_json;
  ASSERT_TRUE(CompiledModel::FromXgboostJson(valid).ok());
  for (std::string_view garbage : {"", "{", "null", "[]", "{}", "NaN", "\"NaN\"", "{\"learner\": 3}",
                                   "{\"learner\": {}}", "\xff\xfe\x00garbage", "[[[[[[[[[[[[[[[[[[[["}) {
    Result<CompiledModel> m = CompiledModel::FromXgboostJson(garbage);
    EXPECT_TRUE(m.status().IsCorruption()) << garbage << " -> " << m.status().ToString();
  }
  const std::string deep(200000, '[');  // a parser that recursed would overflow the stack
  EXPECT_TRUE(CompiledModel::FromXgboostJson(deep).status().IsCorruption());
  EXPECT_TRUE(CompiledModel::FromXgboostJson(deep + std::string(200000, ']')).status().IsCorruption());
  for (size_t len = 0; len < valid.size(); len += 1 + valid.size() / 300) {
    Result<CompiledModel> m = CompiledModel::FromXgboostJson(std::string_view(valid).substr(0, len));
    EXPECT_TRUE(m.status().IsCorruption()) << "truncated at " << len << ": " << m.status().ToString();
  }
  struct Case {
    std::string_view from, to;
  };
  for (Case c : {Case{"binary:logistic", "reg:squarederror"}, Case{"binary:logistic", "multi:softprob"},
                 Case{"\"name\":\"gbtree\"", "\"name\":\"gblinear\""},
                 Case{"\"name\":\"gbtree\"", "\"name\":\"dart\""},
                 Case{"\"num_class\":\"0\"", "\"num_class\":\"3\""}}) {
    std::string changed = Replace(valid, c.from, c.to);
    ASSERT_NE(changed, valid) << c.from;
    Result<CompiledModel> m = CompiledModel::FromXgboostJson(changed);
    EXPECT_EQ(m.status().code(), Status::Code::kNotSupported) << c.to << " -> " << m.status().ToString();
    std::printf("%s -> %s\n", std::string(c.to).c_str(), m.status().ToString().c_str());
  }
  // A child index outside the tree, a feature beyond num_feature, a self-loop.
  for (Case c : {Case{"\"left_children\":[1,", "\"left_children\":[100000,"},
                 Case{"\"split_indices\":[", "\"split_indices\":[31,"},
                 Case{"\"left_children\":[1,", "\"left_children\":[0,"},
                 Case{"\"base_score\":\"5E-1\"", "\"base_score\":\"2\""}}) {
    std::string changed = Replace(valid, c.from, c.to);
    ASSERT_NE(changed, valid) << c.from;
    Result<CompiledModel> m = CompiledModel::FromXgboostJson(changed);
    EXPECT_TRUE(m.status().IsCorruption()) << c.to << " -> " << m.status().ToString();
  }
}

// Random edits of a valid (small, categorical) model: each is an error or a model that
// predicts something; never a crash, a hang or an out-of-bounds read (run under the
// sanitizer build to see the last).
TEST(CompiledModel, RandomMutationsNeverCrash) {
  DenseMatrix train = WithCategories(3000, 41);
  BoosterOptions options = Deep(8);
  options.params = {{"max_depth", "3"}, {"max_cat_to_onehot", "1"}, {"nthread", "1"}};
  options.categorical = {true, true, false, false, false, false};
  Result<TrainedBooster> trained = TrainBooster(train, nullptr, options);
  ASSERT_TRUE(trained.ok()) << trained.status().ToString();
  const std::string& valid = trained->model_json;
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<size_t> at(0, valid.size() - 1);
  const std::string alphabet = "0123456789-.,:[]{}\"eENa ";
  DenseMatrix rows = WithCategories(50, 43);
  int ok = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string s = valid;
    int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      size_t p = at(rng) % s.size();
      switch (rng() % 4) {
        case 0:
          s[p] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          s.erase(p, 1 + rng() % 8);
          break;
        case 2:
          s.insert(p, std::string(1, alphabet[rng() % alphabet.size()]));
          break;
        default:  // a digit changed: an index or a size off by some amount
          for (size_t q = p; q < s.size(); ++q) {
            if (s[q] >= '0' && s[q] <= '9') {
              s[q] = static_cast<char>('0' + rng() % 10);
              break;
            }
          }
      }
      if (s.empty()) s = "x";
    }
    Result<CompiledModel> m = CompiledModel::FromXgboostJson(s);
    if (!m.ok()) continue;
    ++ok;
    if (m->num_features() != 6) continue;
    for (int64_t r = 0; r < rows.rows; ++r) {
      float p = m->Predict(rows.values.data() + r * 6);
      EXPECT_TRUE(std::isnan(p) || (p >= 0 && p <= 1));
    }
  }
  std::printf("random mutations: %d of 3000 still compiled\n", ok);
}

}  // namespace compiled_model_test
}  // namespace vigil
