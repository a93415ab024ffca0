#include "training/xgboost_model.h"

#include <xgboost/c_api.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

namespace vigil {
namespace {

// XGBoost's message for the failed call, prefixed with what we were doing.
Status XgbError(Status::Code code, std::string_view what) {
  std::string msg = "xgboost: " + std::string(what) + ": " + XGBGetLastError();
  switch (code) {
    case Status::Code::kCorruption:
      return Status::Corruption(std::move(msg));
    default:
      return Status::InvalidArgument(std::move(msg));
  }
}

#define VIGIL_XGB_CALL(call, what)                                          \
  do {                                                                      \
    if ((call) != 0) return XgbError(Status::Code::kInvalidArgument, what); \
  } while (0)

struct DMatrixFree {
  void operator()(void* handle) const {
    if (handle != nullptr) XGDMatrixFree(handle);
  }
};
using DMatrixPtr = std::unique_ptr<void, DMatrixFree>;

struct BoosterFreeLocal {
  void operator()(void* handle) const {
    if (handle != nullptr) XGBoosterFree(handle);
  }
};
using BoosterPtr = std::unique_ptr<void, BoosterFreeLocal>;

Status CheckShape(const DenseMatrix& m, std::string_view name, bool need_labels) {
  if (m.rows < 0 || m.cols <= 0) {
    return Status::InvalidArgument(std::string(name) + ": rows " + std::to_string(m.rows) + ", cols " +
                                   std::to_string(m.cols) + ": need rows >= 0 and cols > 0");
  }
  if (m.values.size() != static_cast<size_t>(m.rows) * static_cast<size_t>(m.cols)) {
    return Status::InvalidArgument(std::string(name) + ": values.size() " + std::to_string(m.values.size()) +
                                   " != rows * cols " + std::to_string(m.rows * m.cols));
  }
  if (need_labels && m.labels.size() != static_cast<size_t>(m.rows)) {
    return Status::InvalidArgument(std::string(name) + ": labels.size() " + std::to_string(m.labels.size()) +
                                   " != rows " + std::to_string(m.rows) +
                                   " (training needs a label per row)");
  }
  return Status::OK();
}

// A DMatrix over m's values (copied by XGBoost), with m's labels when `with_labels`,
// and the given feature types/names when non-empty.
Result<DMatrixPtr> MakeDMatrix(const DenseMatrix& m, bool with_labels, const std::vector<bool>& categorical,
                               const std::vector<std::string>& feature_names, int nthread) {
  void* raw = nullptr;
  if (XGDMatrixCreateFromMat_omp(m.values.data(), static_cast<bst_ulong>(m.rows),
                                 static_cast<bst_ulong>(m.cols), std::numeric_limits<float>::quiet_NaN(),
                                 &raw, nthread) != 0) {
    return XgbError(Status::Code::kInvalidArgument, "creating a DMatrix");
  }
  DMatrixPtr dm(raw);
  if (with_labels) {
    VIGIL_XGB_CALL(
        XGDMatrixSetFloatInfo(raw, "label", m.labels.data(), static_cast<bst_ulong>(m.labels.size())),
        "setting labels");
  }
  if (!categorical.empty()) {
    std::vector<const char*> types;
    types.reserve(categorical.size());
    for (bool c : categorical) types.push_back(c ? "c" : "q");
    VIGIL_XGB_CALL(
        XGDMatrixSetStrFeatureInfo(raw, "feature_type", types.data(), static_cast<bst_ulong>(types.size())),
        "setting feature types");
  }
  if (!feature_names.empty()) {
    std::vector<const char*> names;
    names.reserve(feature_names.size());
    for (const std::string& n : feature_names) names.push_back(n.c_str());
    VIGIL_XGB_CALL(
        XGDMatrixSetStrFeatureInfo(raw, "feature_name", names.data(), static_cast<bst_ulong>(names.size())),
        "setting feature names");
  }
  return dm;
}

// The metrics where a larger value is better (XGBoost's Python early-stopping callback
// uses the same list); every other metric is minimized.
bool EvalMetricHigherIsBetter(std::string_view metric) {
  for (std::string_view prefix : {"auc", "aucpr", "map", "ndcg", "pre", "interval-regression-accuracy"}) {
    if (metric.substr(0, prefix.size()) == prefix &&
        (metric.size() == prefix.size() || metric[prefix.size()] == '@' || metric[prefix.size()] == '-')) {
      return true;
    }
  }
  return false;
}

// "[3]\tvalidation-logloss:0.12345678901234567\tvalidation-auc:0.9..." -> the last
// metric's name and value. XGBoost prints values with max_digits10 (17) digits.
Status ParseLastMetric(std::string_view eval, std::string* name, double* value) {
  size_t tab = eval.rfind('\t');
  size_t colon = eval.rfind(':');
  constexpr std::string_view kPrefix = "validation-";
  if (tab == std::string_view::npos || colon == std::string_view::npos || colon < tab ||
      eval.substr(tab + 1, kPrefix.size()) != kPrefix) {
    return Status::Corruption("xgboost: unexpected evaluation output '" + std::string(eval) + "'");
  }
  *name = std::string(eval.substr(tab + 1 + kPrefix.size(), colon - tab - 1 - kPrefix.size()));
  std::string number(eval.substr(colon + 1));
  char* end = nullptr;
  *value = std::strtod(number.c_str(), &end);
  if (end == number.c_str()) {
    return Status::Corruption("xgboost: unexpected evaluation value in '" + std::string(eval) + "'");
  }
  return Status::OK();
}

// Our defaults, each dropped when the caller sets the same key, then the caller's params
// in their order.
std::vector<std::pair<std::string, std::string>> MergedParams(const BoosterOptions& options) {
  static const std::pair<const char*, const char*> kDefaults[] = {
      {"objective", "binary:logistic"},
      {"tree_method", "hist"},
      {"eval_metric", "logloss"},
      {"seed", "0"},
      {"nthread", "2"},
  };
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [key, value] : kDefaults) {
    bool overridden = std::any_of(options.params.begin(), options.params.end(),
                                  [&](const auto& p) { return p.first == key; });
    if (!overridden) out.emplace_back(key, value);
  }
  out.insert(out.end(), options.params.begin(), options.params.end());
  return out;
}

int NthreadOf(const std::vector<std::pair<std::string, std::string>>& params) {
  int nthread = 0;
  for (const auto& [key, value] : params) {
    if (key == "nthread") nthread = std::atoi(value.c_str());
  }
  return nthread;
}

Status SetBoosterFeatureInfo(void* booster, const BoosterOptions& options) {
  if (!options.categorical.empty()) {
    std::vector<const char*> types;
    types.reserve(options.categorical.size());
    for (bool c : options.categorical) types.push_back(c ? "c" : "q");
    VIGIL_XGB_CALL(XGBoosterSetStrFeatureInfo(booster, "feature_type", types.data(),
                                              static_cast<bst_ulong>(types.size())),
                   "setting the booster's feature types");
  }
  if (!options.feature_names.empty()) {
    std::vector<const char*> names;
    names.reserve(options.feature_names.size());
    for (const std::string& n : options.feature_names) names.push_back(n.c_str());
    VIGIL_XGB_CALL(XGBoosterSetStrFeatureInfo(booster, "feature_name", names.data(),
                                              static_cast<bst_ulong>(names.size())),
                   "setting the booster's feature names");
  }
  return Status::OK();
}

Result<std::string> SaveJson(void* booster) {
  bst_ulong len = 0;
  const char* data = nullptr;
  if (XGBoosterSaveModelToBuffer(booster, R"({"format":"json"})", &len, &data) != 0) {
    return XgbError(Status::Code::kInvalidArgument, "saving the model");
  }
  return std::string(data, len);
}

}  // namespace

Result<TrainedBooster> TrainBooster(const DenseMatrix& train, const DenseMatrix* validation,
                                    const BoosterOptions& options) {
  VIGIL_RETURN_IF_ERROR(CheckShape(train, "train", /*need_labels=*/true));
  if (train.rows == 0) return Status::InvalidArgument("train: no rows");
  if (validation != nullptr) {
    VIGIL_RETURN_IF_ERROR(CheckShape(*validation, "validation", /*need_labels=*/true));
    if (validation->cols != train.cols) {
      return Status::InvalidArgument("validation: cols " + std::to_string(validation->cols) +
                                     " != train cols " + std::to_string(train.cols));
    }
    if (validation->rows == 0) return Status::InvalidArgument("validation: no rows");
  }
  if (options.rounds < 1) {
    return Status::InvalidArgument("rounds " + std::to_string(options.rounds) + ": need at least 1");
  }
  if (options.early_stopping_rounds < 0) {
    return Status::InvalidArgument("early_stopping_rounds " + std::to_string(options.early_stopping_rounds) +
                                   ": need >= 0 (0 disables)");
  }
  if (!options.categorical.empty() && options.categorical.size() != static_cast<size_t>(train.cols)) {
    return Status::InvalidArgument("categorical: " + std::to_string(options.categorical.size()) +
                                   " entries for " + std::to_string(train.cols) + " columns");
  }
  if (!options.feature_names.empty() && options.feature_names.size() != static_cast<size_t>(train.cols)) {
    return Status::InvalidArgument("feature_names: " + std::to_string(options.feature_names.size()) +
                                   " names for " + std::to_string(train.cols) + " columns");
  }

  const auto params = MergedParams(options);
  const int nthread = NthreadOf(params);
  VIGIL_ASSIGN_OR_RETURN(DMatrixPtr dtrain,
                         MakeDMatrix(train, true, options.categorical, options.feature_names, nthread));
  DMatrixPtr dvalid;
  if (validation != nullptr) {
    VIGIL_ASSIGN_OR_RETURN(
        dvalid, MakeDMatrix(*validation, true, options.categorical, options.feature_names, nthread));
  }

  void* cache[2] = {dtrain.get(), dvalid.get()};
  void* raw = nullptr;
  VIGIL_XGB_CALL(XGBoosterCreate(cache, dvalid ? 2 : 1, &raw), "creating a booster");
  BoosterPtr booster(raw);
  // The booster does not take the DMatrix's feature types and names by itself (XGBoost's
  // Python Booster copies them the same way); the saved model keeps them.
  VIGIL_RETURN_IF_ERROR(SetBoosterFeatureInfo(raw, options));
  for (const auto& [key, value] : params) {
    VIGIL_XGB_CALL(XGBoosterSetParam(raw, key.c_str(), value.c_str()), "parameter " + key + "=" + value);
  }

  TrainedBooster out;
  const bool early_stopping = dvalid && options.early_stopping_rounds > 0;
  bool maximize = false;
  double best = 0;
  int best_round = -1;
  int round = 0;
  for (; round < options.rounds; ++round) {
    VIGIL_XGB_CALL(XGBoosterUpdateOneIter(raw, round, dtrain.get()),
                   "boosting round " + std::to_string(round));
    if (!dvalid) continue;
    void* eval_sets[1] = {dvalid.get()};
    const char* eval_names[1] = {"validation"};
    const char* eval = nullptr;
    VIGIL_XGB_CALL(XGBoosterEvalOneIter(raw, round, eval_sets, eval_names, 1, &eval),
                   "evaluating round " + std::to_string(round));
    std::string name;
    double value = 0;
    VIGIL_RETURN_IF_ERROR(ParseLastMetric(eval, &name, &value));
    if (round == 0) {
      out.metric = name;
      maximize = EvalMetricHigherIsBetter(name);
    }
    out.validation_history.push_back(value);
    // NaN never improves (the comparisons are false), so it cannot become the best.
    if (best_round < 0 || (maximize ? value > best : value < best)) {
      best = value;
      best_round = round;
    }
    if (early_stopping && round - best_round >= options.early_stopping_rounds) {
      ++round;
      break;
    }
  }
  out.rounds_trained = round;
  out.best_iteration = early_stopping && best_round >= 0 ? best_round : round - 1;

  if (out.best_iteration + 1 < out.rounds_trained) {
    void* sliced = nullptr;
    VIGIL_XGB_CALL(XGBoosterSlice(raw, 0, out.best_iteration + 1, 1, &sliced),
                   "slicing to the best iteration");
    BoosterPtr sliced_booster(sliced);
    VIGIL_ASSIGN_OR_RETURN(out.model_json, SaveJson(sliced));
  } else {
    VIGIL_ASSIGN_OR_RETURN(out.model_json, SaveJson(raw));
  }
  return out;
}

void XgbModel::BoosterFree::operator()(void* handle) const {
  if (handle != nullptr) XGBoosterFree(handle);
}

XgbModel::XgbModel(XgbModel&&) noexcept = default;
XgbModel& XgbModel::operator=(XgbModel&&) noexcept = default;
XgbModel::~XgbModel() = default;

Result<XgbModel> XgbModel::Load(std::string_view model_json, const std::vector<bool>& categorical) {
  if (model_json.empty()) return Status::Corruption("xgboost model: empty");
  void* raw = nullptr;
  VIGIL_XGB_CALL(XGBoosterCreate(nullptr, 0, &raw), "creating a booster");
  XgbModel model;
  model.booster_.reset(raw);
  if (XGBoosterLoadModelFromBuffer(raw, model_json.data(), static_cast<bst_ulong>(model_json.size())) != 0) {
    return XgbError(Status::Code::kCorruption, "loading the model");
  }
  // Also completes XGBoost's lazy configuration, so concurrent predictions find a
  // configured booster (its configuration is guarded by a lock anyway).
  bst_ulong num_features = 0;
  if (XGBoosterGetNumFeature(raw, &num_features) != 0) {
    return XgbError(Status::Code::kCorruption, "reading the number of features");
  }
  int rounds = 0;
  if (XGBoosterBoostedRounds(raw, &rounds) != 0) {
    return XgbError(Status::Code::kCorruption, "reading the number of rounds");
  }
  model.num_features_ = static_cast<int>(num_features);
  if (!categorical.empty()) {
    if (categorical.size() != num_features) {
      return Status::InvalidArgument("categorical: " + std::to_string(categorical.size()) + " entries for " +
                                     std::to_string(num_features) + " features of the model");
    }
    model.categorical_ = categorical;
  } else {
    bst_ulong n = 0;
    const char** types = nullptr;
    if (XGBoosterGetStrFeatureInfo(raw, "feature_type", &n, &types) != 0) {
      return XgbError(Status::Code::kCorruption, "reading feature types");
    }
    if (n == num_features) {
      bool any = false;
      std::vector<bool> cat(n);
      for (bst_ulong i = 0; i < n; ++i) any |= cat[i] = std::string_view(types[i]) == "c";
      if (any) model.categorical_ = std::move(cat);
    }
  }
  return model;
}

Result<std::vector<float>> XgbModel::Predict(const DenseMatrix& m) const {
  VIGIL_RETURN_IF_ERROR(CheckShape(m, "predict", /*need_labels=*/false));
  if (m.cols != num_features_) {
    return Status::InvalidArgument("predict: " + std::to_string(m.cols) + " columns, the model has " +
                                   std::to_string(num_features_) + " features");
  }
  if (m.rows == 0) return std::vector<float>();
  VIGIL_ASSIGN_OR_RETURN(DMatrixPtr dm,
                         MakeDMatrix(m, /*with_labels=*/false, categorical_, {}, /*nthread=*/0));
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* result = nullptr;
  static constexpr char kConfig[] =
      R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false})";
  VIGIL_XGB_CALL(XGBoosterPredictFromDMatrix(booster_.get(), dm.get(), kConfig, &shape, &dim, &result),
                 "predicting");
  bst_ulong n = 1;
  for (bst_ulong i = 0; i < dim; ++i) n *= shape[i];
  if (n != static_cast<bst_ulong>(m.rows)) {
    return Status::Corruption("xgboost: " + std::to_string(n) + " predictions for " + std::to_string(m.rows) +
                              " rows (not a binary model?)");
  }
  return std::vector<float>(result, result + n);
}

Result<float> XgbModel::PredictRow(std::span<const float> values) const {
  if (values.size() != static_cast<size_t>(num_features_)) {
    return Status::InvalidArgument("predict row: " + std::to_string(values.size()) +
                                   " values, the model has " + std::to_string(num_features_) + " features");
  }
  // numpy's __array_interface__: a read-only [1, cols] float32 array at values.data().
  char array[160];
  std::snprintf(array, sizeof(array),
                R"({"data": [%)" PRIuPTR R"(, true], "shape": [1, %zu], "typestr": "<f4", "version": 3})",
                reinterpret_cast<uintptr_t>(values.data()), values.size());
  static constexpr char kConfig[] =
      R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false, )"
      R"("missing": NaN, "cache_id": 0})";
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* result = nullptr;
  VIGIL_XGB_CALL(XGBoosterPredictFromDense(booster_.get(), array, kConfig, nullptr, &shape, &dim, &result),
                 "predicting a row");
  bst_ulong n = 1;
  for (bst_ulong i = 0; i < dim; ++i) n *= shape[i];
  if (n != 1) return Status::Corruption("xgboost: " + std::to_string(n) + " predictions for one row");
  return result[0];
}

}  // namespace vigil
