#include "training/xgboost_model.h"

#include <gtest/gtest.h>
#include <xgboost/c_api.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace vigil {
namespace xgboost_model_test {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// y = [x0 + 0.5 * x1 + noise > 1] over 4 columns (x2, x3 are noise), with a share of
// x1 and x2 missing (after the label is drawn, so missing x1 hides signal).
DenseMatrix Linear(int64_t rows, uint64_t seed, double noise, double missing_share = 0.05) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(0, 1.5);
  std::normal_distribution<double> n(0, noise);
  std::bernoulli_distribution missing(missing_share);
  DenseMatrix m;
  m.rows = rows;
  m.cols = 4;
  for (int64_t r = 0; r < rows; ++r) {
    float x[4] = {u(rng), u(rng), u(rng), u(rng)};
    m.labels.push_back(x[0] + 0.5 * x[1] + n(rng) > 1 ? 1.0f : 0.0f);
    if (missing(rng)) x[1] = kNaN;
    if (missing(rng)) x[2] = kNaN;
    m.values.insert(m.values.end(), x, x + 4);
  }
  return m;
}

// Column 0: a category code 0..9 (5% missing); column 1: numeric noise. P(y = 1) is 0.9
// for the codes {2, 5, 7} and 0.1 otherwise: no threshold on the code separates them.
DenseMatrix Categorical(int64_t rows, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> code(0, 9);
  std::uniform_real_distribution<float> u(0, 1);
  DenseMatrix m;
  m.rows = rows;
  m.cols = 2;
  for (int64_t r = 0; r < rows; ++r) {
    int c = code(rng);
    bool hot = c == 2 || c == 5 || c == 7;
    m.labels.push_back(u(rng) < (hot ? 0.9f : 0.1f) ? 1.0f : 0.0f);
    m.values.push_back(u(rng) < 0.05f ? kNaN : static_cast<float>(c));
    m.values.push_back(u(rng));
  }
  return m;
}

// Area under the ROC curve by ranks (ties share their mean rank).
double Auc(const std::vector<float>& scores, const std::vector<float>& labels) {
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  double positive_rank_sum = 0;
  double positives = 0;
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j < order.size() && scores[order[j]] == scores[order[i]]) ++j;
    double mean_rank = (i + 1 + j) / 2.0;  // ranks i+1 .. j
    for (size_t k = i; k < j; ++k) {
      if (labels[order[k]] > 0.5f) {
        positive_rank_sum += mean_rank;
        positives += 1;
      }
    }
    i = j;
  }
  double negatives = scores.size() - positives;
  return (positive_rank_sum - positives * (positives + 1) / 2) / (positives * negatives);
}

double LogLoss(const std::vector<float>& p, const std::vector<float>& y) {
  double sum = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    double q = std::clamp<double>(p[i], 1e-16, 1 - 1e-16);
    sum -= y[i] * std::log(q) + (1 - y[i]) * std::log(1 - q);
  }
  return sum / p.size();
}

std::span<const float> Row(const DenseMatrix& m, int64_t r) {
  return std::span<const float>(m.values).subspan(r * m.cols, m.cols);
}

BoosterOptions Small(int rounds, int early_stopping_rounds) {
  BoosterOptions o;
  o.params = {{"max_depth", "4"}, {"eta", "0.1"}};
  o.rounds = rounds;
  o.early_stopping_rounds = early_stopping_rounds;
  return o;
}

// Predictions of an XGBoost model through the C API directly, for trees of the rounds
// [0, iteration_end) (0: all).
std::vector<float> PredictWithCApi(const std::string& model_json, const DenseMatrix& m,
                                   const std::vector<bool>& categorical, int iteration_end) {
  BoosterHandle booster = nullptr;
  EXPECT_EQ(XGBoosterCreate(nullptr, 0, &booster), 0);
  EXPECT_EQ(XGBoosterLoadModelFromBuffer(booster, model_json.data(), model_json.size()), 0)
      << XGBGetLastError();
  DMatrixHandle dm = nullptr;
  EXPECT_EQ(XGDMatrixCreateFromMat(m.values.data(), m.rows, m.cols, kNaN, &dm), 0);
  if (!categorical.empty()) {
    std::vector<const char*> types;
    for (bool c : categorical) types.push_back(c ? "c" : "q");
    EXPECT_EQ(XGDMatrixSetStrFeatureInfo(dm, "feature_type", types.data(), types.size()), 0);
  }
  std::string config = R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": )" +
                       std::to_string(iteration_end) + R"(, "strict_shape": false})";
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* result = nullptr;
  EXPECT_EQ(XGBoosterPredictFromDMatrix(booster, dm, config.c_str(), &shape, &dim, &result), 0)
      << XGBGetLastError();
  std::vector<float> out(result, result + m.rows);
  XGDMatrixFree(dm);
  XGBoosterFree(booster);
  return out;
}

// XGBoost writes a categorical node's split condition as a bare NaN, which is not JSON;
// nlohmann (strict) needs it replaced. Feature names here contain no "NaN".
nlohmann::json ParseModel(std::string text) {
  for (size_t at = text.find("NaN"); at != std::string::npos; at = text.find("NaN", at))
    text.replace(at, 3, "null");
  return nlohmann::json::parse(text);
}

// The probability of one row by walking the JSON model as the header comment describes.
double WalkJson(const nlohmann::json& model, std::span<const float> x) {
  const auto& learner = model["learner"];
  double base_score = std::stod(learner["learner_model_param"]["base_score"].get<std::string>());
  double margin = std::log(base_score / (1 - base_score));
  for (const auto& tree : learner["gradient_booster"]["model"]["trees"]) {
    const auto& left = tree["left_children"];
    const auto& right = tree["right_children"];
    const auto& cats_nodes = tree["categories_nodes"];
    int node = 0;
    while (left[node].get<int>() != -1) {
      float v = x[tree["split_indices"][node].get<int>()];
      bool go_left;
      if (std::isnan(v)) {
        go_left = tree["default_left"][node].get<int>() != 0;
      } else if (tree["split_type"][node].get<int>() == 1) {
        auto it = std::find(cats_nodes.begin(), cats_nodes.end(), node);
        EXPECT_NE(it, cats_nodes.end());
        size_t k = it - cats_nodes.begin();
        int begin = tree["categories_segments"][k].get<int>();
        int size = tree["categories_sizes"][k].get<int>();
        bool in_set = false;
        for (int i = begin; i < begin + size; ++i)
          in_set |= tree["categories"][i].get<double>() == std::trunc(v);
        go_left = v < 0 || !in_set;
      } else {
        go_left = v < tree["split_conditions"][node].get<float>();
      }
      node = go_left ? left[node].get<int>() : right[node].get<int>();
    }
    margin += tree["split_conditions"][node].get<double>();
  }
  return 1 / (1 + std::exp(-margin));
}

TEST(XgboostModel, SeparableProblemTrainsToHighAuc) {
  DenseMatrix train = Linear(5000, 1, 0.1), valid = Linear(2000, 2, 0.1), test = Linear(2000, 3, 0.1);
  Result<TrainedBooster> trained = TrainBooster(train, &valid, Small(200, 20));
  ASSERT_TRUE(trained.ok()) << trained.status().ToString();
  EXPECT_EQ(trained->metric, "logloss");
  EXPECT_EQ(trained->validation_history.size(), static_cast<size_t>(trained->rounds_trained));
  EXPECT_LT(trained->best_iteration, trained->rounds_trained);
  // The history decreases early on (learning happens) and holds full-precision values.
  EXPECT_LT(trained->validation_history.back(), trained->validation_history.front());

  Result<XgbModel> model = XgbModel::Load(trained->model_json);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ(model->num_features(), 4);
  Result<std::vector<float>> p = model->Predict(test);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_EQ(p->size(), 2000u);
  double auc = Auc(*p, test.labels);
  EXPECT_GT(auc, 0.9);
  for (float v : *p) ASSERT_TRUE(v >= 0 && v <= 1) << v;
}

TEST(XgboostModel, TheValidationHistoryHasFullPrecision) {
  DenseMatrix train = Linear(2000, 4, 0.3), valid = Linear(1000, 5, 0.3);
  Result<TrainedBooster> trained = TrainBooster(train, &valid, Small(20, 0));
  ASSERT_TRUE(trained.ok()) << trained.status().ToString();
  // XGBoost prints 17 significant digits: the values are not rounded to 6 decimals.
  int beyond_six_decimals = 0;
  for (double v : trained->validation_history) {
    beyond_six_decimals += std::abs(v * 1e6 - std::round(v * 1e6)) > 1e-3;
  }
  EXPECT_GT(beyond_six_decimals, 15);
}

TEST(XgboostModel, LearnsFromMissingValues) {
  // The label is whether x0 is missing; the other columns are noise.
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<float> u(0, 1);
  DenseMatrix m;
  m.rows = 3000;
  m.cols = 3;
  for (int64_t r = 0; r < m.rows; ++r) {
    bool missing = u(rng) < 0.3f;
    m.labels.push_back(missing ? 1.0f : 0.0f);
    m.values.push_back(missing ? kNaN : u(rng));
    m.values.push_back(u(rng));
    m.values.push_back(u(rng) < 0.5f ? kNaN : u(rng));
  }
  Result<TrainedBooster> trained = TrainBooster(m, nullptr, Small(30, 30));
  ASSERT_TRUE(trained.ok()) << trained.status().ToString();
  EXPECT_EQ(trained->rounds_trained, 30);  // no validation: no early stopping
  EXPECT_EQ(trained->best_iteration, 29);
  EXPECT_TRUE(trained->validation_history.empty());
  EXPECT_EQ(trained->metric, "");
  Result<XgbModel> model = XgbModel::Load(trained->model_json);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  Result<std::vector<float>> p = model->Predict(m);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_GT(Auc(*p, m.labels), 0.999);
  const float all_missing[3] = {kNaN, kNaN, kNaN};
  Result<float> row = model->PredictRow(all_missing);
  ASSERT_TRUE(row.ok()) << row.status().ToString();
  EXPECT_GT(*row, 0.9f);
}

TEST(XgboostModel, EarlyStoppingStopsAndTheSlicedModelPredictsAsTheBestIteration) {
  // Heavy label noise and deep trees with a large step: the validation loss turns up soon.
  DenseMatrix train = Linear(3000, 11, 1.0), valid = Linear(1500, 12, 1.0), test = Linear(1000, 13, 1.0);
  BoosterOptions options;
  options.params = {{"max_depth", "8"}, {"eta", "0.3"}};
  options.rounds = 300;
  options.early_stopping_rounds = 10;
  Result<TrainedBooster> stopped = TrainBooster(train, &valid, options);
  ASSERT_TRUE(stopped.ok()) << stopped.status().ToString();
  EXPECT_LT(stopped->rounds_trained, options.rounds);
  EXPECT_LT(stopped->best_iteration, stopped->rounds_trained);
  EXPECT_EQ(stopped->rounds_trained, stopped->best_iteration + 1 + options.early_stopping_rounds);
  const auto& h = stopped->validation_history;
  ASSERT_EQ(h.size(), static_cast<size_t>(stopped->rounds_trained));
  EXPECT_EQ(std::min_element(h.begin(), h.end()) - h.begin(), stopped->best_iteration);

  // The same training without early stopping, for as many rounds: the full model.
  options.early_stopping_rounds = 0;
  options.rounds = stopped->rounds_trained;
  Result<TrainedBooster> full = TrainBooster(train, &valid, options);
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  EXPECT_EQ(full->validation_history, h);
  EXPECT_EQ(full->best_iteration, full->rounds_trained - 1);

  Result<XgbModel> sliced = XgbModel::Load(stopped->model_json);
  ASSERT_TRUE(sliced.ok()) << sliced.status().ToString();
  Result<std::vector<float>> p = sliced->Predict(test);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  std::vector<float> at_best = PredictWithCApi(full->model_json, test, {}, stopped->best_iteration + 1);
  std::vector<float> all = PredictWithCApi(full->model_json, test, {}, 0);
  EXPECT_EQ(*p, at_best);
  EXPECT_NE(*p, all);
  // The sliced model reproduces the best validation score.
  Result<std::vector<float>> pv = sliced->Predict(valid);
  ASSERT_TRUE(pv.ok());
  EXPECT_NEAR(LogLoss(*pv, valid.labels), h[stopped->best_iteration], 1e-6);
}

TEST(XgboostModel, TrainingTwiceGivesByteIdenticalModels) {
  DenseMatrix train = Linear(4000, 21, 0.3), valid = Linear(1000, 22, 0.3);
  BoosterOptions options = Small(60, 5);
  options.params.push_back({"subsample", "0.8"});
  options.params.push_back({"colsample_bytree", "0.75"});
  options.feature_names = {"amount", "velocity", "age", "noise"};
  Result<TrainedBooster> a = TrainBooster(train, &valid, options);
  Result<TrainedBooster> b = TrainBooster(train, &valid, options);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(a->model_json, b->model_json);
  EXPECT_EQ(a->validation_history, b->validation_history);
  EXPECT_NE(a->model_json.find("\"velocity\""), std::string::npos);

  // Also on another thread (XGBoost's random engine is per thread).
  Result<TrainedBooster> c = Status::NotFound("not run");
  std::thread([&] { c = TrainBooster(train, &valid, options); }).join();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(a->model_json, c->model_json);

  // Another seed samples other rows.
  options.params.push_back({"seed", "1"});
  Result<TrainedBooster> d = TrainBooster(train, &valid, options);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_NE(a->model_json, d->model_json);
}

TEST(XgboostModel, LoadedModelPredictsAsDuringTraining) {
  DenseMatrix train = Linear(3000, 31, 0.2), valid = Linear(1000, 32, 0.2);
  Result<TrainedBooster> trained = TrainBooster(train, &valid, Small(40, 0));
  ASSERT_TRUE(trained.ok()) << trained.status().ToString();
  Result<XgbModel> model = XgbModel::Load(trained->model_json);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  Result<std::vector<float>> p = model->Predict(valid);
  ASSERT_TRUE(p.ok());
  // XGBoost's last evaluation during training used the in-memory booster.
  EXPECT_NEAR(LogLoss(*p, valid.labels), trained->validation_history.back(), 1e-6);
  EXPECT_EQ(*p, PredictWithCApi(trained->model_json, valid, {}, 0));
}

TEST(XgboostModel, CategoricalColumnLearnsACategoryDependentTarget) {
  DenseMatrix train = Categorical(6000, 41), valid = Categorical(2000, 42);
  BoosterOptions options = Small(100, 10);
  options.categorical = {true, false};
  Result<TrainedBooster> trained = TrainBooster(train, &valid, options);
  ASSERT_TRUE(trained.ok()) << trained.status().ToString();
  nlohmann::json json = ParseModel(trained->model_json);
  EXPECT_EQ(json["learner"]["feature_types"], nlohmann::json::array({"c", "q"}));
  const auto& tree0 = json["learner"]["gradient_booster"]["model"]["trees"][0];
  EXPECT_EQ(tree0["split_type"][0], 1) << tree0.dump();
  EXPECT_FALSE(tree0["categories"].empty());

  // The types come from the model, or from the caller.
  for (const std::vector<bool>& categorical : {std::vector<bool>{}, std::vector<bool>{true, false}}) {
    Result<XgbModel> model = XgbModel::Load(trained->model_json, categorical);
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    DenseMatrix probe;
    probe.rows = 11;
    probe.cols = 2;
    for (int c = 0; c < 10; ++c) probe.values.insert(probe.values.end(), {static_cast<float>(c), 0.5f});
    probe.values.insert(probe.values.end(), {kNaN, 0.5f});
    Result<std::vector<float>> p = model->Predict(probe);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    for (int c = 0; c < 10; ++c) {
      bool hot = c == 2 || c == 5 || c == 7;
      if (hot) {
        EXPECT_GT((*p)[c], 0.75f) << "category " << c;
      } else {
        EXPECT_LT((*p)[c], 0.25f) << "category " << c;
      }
      Result<float> row = model->PredictRow(Row(probe, c));
      ASSERT_TRUE(row.ok()) << row.status().ToString();
      EXPECT_EQ(*row, (*p)[c]);
    }
    // The in-memory C API booster (with types on the DMatrix) agrees with the wrapper.
    Result<std::vector<float>> pv = model->Predict(valid);
    ASSERT_TRUE(pv.ok());
    EXPECT_EQ(*pv, PredictWithCApi(trained->model_json, valid, {true, false}, 0));
    EXPECT_NEAR(LogLoss(*pv, valid.labels), trained->validation_history[trained->best_iteration], 1e-6);
  }
}

TEST(XgboostModel, JsonModelWalkedAsDocumentedGivesThePredictions) {
  // Numeric and categorical splits, with missing values and a category code set of
  // more than max_cat_to_onehot (partition splits) as well as a one-hot run.
  for (std::string onehot : {"4", "64"}) {
    DenseMatrix train = Categorical(4000, 51);
    BoosterOptions options = Small(25, 0);
    options.categorical = {true, false};
    options.params.push_back({"max_cat_to_onehot", onehot});
    Result<TrainedBooster> trained = TrainBooster(train, nullptr, options);
    ASSERT_TRUE(trained.ok()) << trained.status().ToString();
    Result<XgbModel> model = XgbModel::Load(trained->model_json);
    ASSERT_TRUE(model.ok());
    DenseMatrix test = Categorical(500, 52);
    // Codes never seen in training, negative or fractional ones (rows 0..5).
    const float odd_codes[] = {12, -1, 2.5f, 40, 1e9f, 5.99f};
    for (int i = 0; i < 6; ++i) test.values[i * test.cols] = odd_codes[i];
    Result<std::vector<float>> p = model->Predict(test);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    nlohmann::json json = ParseModel(trained->model_json);
    for (int64_t r = 0; r < test.rows; ++r) {
      ASSERT_NEAR(WalkJson(json, Row(test, r)), (*p)[r], 1e-6)
          << "row " << r << " max_cat_to_onehot " << onehot;
    }
  }
  DenseMatrix train = Linear(2000, 53, 0.2);
  Result<TrainedBooster> trained = TrainBooster(train, nullptr, Small(25, 0));
  ASSERT_TRUE(trained.ok());
  Result<XgbModel> model = XgbModel::Load(trained->model_json);
  ASSERT_TRUE(model.ok());
  Result<std::vector<float>> p = model->Predict(train);
  ASSERT_TRUE(p.ok());
  nlohmann::json json = ParseModel(trained->model_json);
  for (int64_t r = 0; r < 500; ++r) ASSERT_NEAR(WalkJson(json, Row(train, r)), (*p)[r], 1e-6) << "row " << r;
}

TEST(XgboostModel, PredictRowEqualsPredict) {
  DenseMatrix train = Linear(3000, 61, 0.2), test = Linear(300, 62, 0.2, 0.3);
  Result<TrainedBooster> trained = TrainBooster(train, nullptr, Small(50, 0));
  ASSERT_TRUE(trained.ok());
  Result<XgbModel> model = XgbModel::Load(trained->model_json);
  ASSERT_TRUE(model.ok());
  Result<std::vector<float>> p = model->Predict(test);
  ASSERT_TRUE(p.ok());
  for (int64_t r = 0; r < test.rows; ++r) {
    Result<float> row = model->PredictRow(Row(test, r));
    ASSERT_TRUE(row.ok()) << row.status().ToString();
    ASSERT_EQ(*row, (*p)[r]) << "row " << r;
  }
  DenseMatrix empty;
  empty.cols = 4;
  Result<std::vector<float>> none = model->Predict(empty);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->empty());
}

TEST(XgboostModel, PredictFromSeveralThreadsAtOnce) {
  DenseMatrix train = Linear(3000, 71, 0.2), test = Linear(400, 72, 0.2);
  Result<TrainedBooster> trained = TrainBooster(train, nullptr, Small(50, 0));
  ASSERT_TRUE(trained.ok());
  Result<XgbModel> model = XgbModel::Load(trained->model_json);
  ASSERT_TRUE(model.ok());
  Result<std::vector<float>> expected = model->Predict(test);
  ASSERT_TRUE(expected.ok());
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        Result<std::vector<float>> p = model->Predict(test);
        if (!p.ok() || *p != *expected) ++mismatches[t];
        for (int64_t r = t; r < test.rows; r += 8) {
          Result<float> row = model->PredictRow(Row(test, r));
          if (!row.ok() || *row != (*expected)[r]) ++mismatches[t];
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

TEST(XgboostModel, CallerParamsOverrideDefaultsAndAucIsMaximized) {
  DenseMatrix train = Linear(3000, 81, 1.0), valid = Linear(1500, 82, 1.0);
  BoosterOptions options;
  options.params = {{"max_depth", "8"}, {"eta", "0.3"}, {"eval_metric", "error"}, {"eval_metric", "auc"}};
  options.rounds = 200;
  options.early_stopping_rounds = 10;
  Result<TrainedBooster> trained = TrainBooster(train, &valid, options);
  ASSERT_TRUE(trained.ok()) << trained.status().ToString();
  EXPECT_EQ(trained->metric, "auc");
  const auto& h = trained->validation_history;
  EXPECT_EQ(std::max_element(h.begin(), h.end()) - h.begin(), trained->best_iteration);
  EXPECT_LT(trained->rounds_trained, options.rounds);
  EXPECT_EQ(ParseModel(trained->model_json)["learner"]["objective"]["name"], "binary:logistic");
}

TEST(XgboostModel, Errors) {
  DenseMatrix train = Linear(500, 91, 0.2);
  Result<TrainedBooster> trained = TrainBooster(train, nullptr, Small(5, 0));
  ASSERT_TRUE(trained.ok());
  Result<XgbModel> model = XgbModel::Load(trained->model_json);
  ASSERT_TRUE(model.ok());

  DenseMatrix three = Linear(10, 92, 0.2);
  three.cols = 3;
  three.values.resize(30);
  EXPECT_TRUE(model->Predict(three).status().IsInvalidArgument());
  const float short_row[3] = {1, 2, 3};
  EXPECT_TRUE(model->PredictRow(short_row).status().IsInvalidArgument());
  DenseMatrix ragged = Linear(10, 93, 0.2);
  ragged.values.pop_back();
  EXPECT_TRUE(model->Predict(ragged).status().IsInvalidArgument());

  for (std::string_view garbage : {"", "{", "{\"learner\": 3}", "not a model at all", "binf\x01\x02\x03"}) {
    Result<XgbModel> bad = XgbModel::Load(garbage);
    EXPECT_FALSE(bad.ok()) << garbage;
    EXPECT_FALSE(bad.status().message().empty());
  }
  EXPECT_TRUE(XgbModel::Load(trained->model_json, {true}).status().IsInvalidArgument());

  DenseMatrix unlabeled = train;
  unlabeled.labels.clear();
  EXPECT_TRUE(TrainBooster(unlabeled, nullptr, Small(5, 0)).status().IsInvalidArgument());
  DenseMatrix narrow = Linear(100, 94, 0.2);
  narrow.cols = 2;
  narrow.values.resize(200);
  EXPECT_TRUE(TrainBooster(train, &narrow, Small(5, 0)).status().IsInvalidArgument());
  BoosterOptions bad_param = Small(5, 0);
  bad_param.params.push_back({"max_depth", "-3"});
  Result<TrainedBooster> r = TrainBooster(train, nullptr, bad_param);
  EXPECT_TRUE(r.status().IsInvalidArgument());
  EXPECT_NE(r.status().message().find("max_depth"), std::string::npos) << r.status().message();
  BoosterOptions bad_types = Small(5, 0);
  bad_types.categorical = {true};
  EXPECT_TRUE(TrainBooster(train, nullptr, bad_types).status().IsInvalidArgument());
  DenseMatrix bad_labels = train;
  bad_labels.labels[0] = 3;
  EXPECT_FALSE(TrainBooster(bad_labels, nullptr, Small(5, 0)).ok());
}

}  // namespace xgboost_model_test
}  // namespace vigil
