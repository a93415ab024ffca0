// Gradient-boosted trees for fraud scores: a small RAII wrapper over XGBoost's C API
// (libxgboost 1.7.4) that trains a binary:logistic booster with early stopping and
// predicts with a saved model. No XGBoost header leaks out of this file; every XGBoost
// failure comes back as a Status carrying XGBGetLastError()'s text, never an exception.
//
// The model travels as XGBoost's own JSON model (XGBoosterSaveModelToBuffer, "json").
// A later compiled-tree evaluator reads it; what it needs to know:
//   learner.learner_model_param.base_score   "5E-1": a probability as a string; the
//       margin starts at logit(base_score) (binary:logistic), prob = sigmoid(margin).
//   learner.gradient_booster.model.trees[t]  one tree per round; node 0 is the root.
//       left_children/right_children  -1 at a leaf.
//       split_indices                 the feature (column) a node tests.
//       split_conditions              numeric threshold; at a leaf, the leaf value
//                                     (added to the margin; eta already applied).
//       default_left                  1: a missing value (NaN) goes left.
//       split_type                    0 numeric: go left iff x < split_condition;
//                                     1 categorical (see below).
//   Categorical splits (split_type 1, feature_type "c" at training): the node's
//   category set is categories[categories_segments[k] .. + categories_sizes[k]) where
//   k is the node's index in categories_nodes (ascending node ids; only categorical
//   nodes are listed; a set is sorted, the flat array is not). A code IN the set goes
//   RIGHT; any other code goes LEFT, whatever default_left says: also a negative code
//   or one beyond every code seen in training. A fractional code is truncated (2.5
//   acts as 2). NaN follows default_left. A one-hot split (a feature with fewer
//   categories than max_cat_to_onehot, default 4) is stored the same way with a set of
//   one category. Example: categories_nodes [0, 3], categories_segments [0, 2],
//   categories_sizes [2, 1], categories [1, 4, 2]: node 0 sends codes {1, 4} right,
//   node 3 sends {2} right. A categorical node's split_conditions entry is written as
//   a bare NaN, which is not standard JSON: a strict parser (nlohmann) needs it
//   replaced (e.g. by null) first. XGBoost writes floats as "4.585034E-1" strings of
//   digits that round-trip to the same float.
//   learner.feature_types holds "q"/"c" per column when types were set.
// xgboost_model_test.cc walks the JSON this way and checks it against Predict.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace vigil {

// A dense row-major matrix of float features; NaN = missing.
struct DenseMatrix {
  int64_t rows = 0;
  int cols = 0;
  std::vector<float> values;  // rows * cols; values[r * cols + c]
  std::vector<float> labels;  // empty or rows (0/1); required for training data
};

struct BoosterOptions {
  // XGBoost parameters passed verbatim with XGBoosterSetParam (e.g. {"max_depth","6"},
  // {"eta","0.1"}), after our defaults: objective=binary:logistic, tree_method=hist,
  // eval_metric=logloss, seed=0, nthread=2. A caller's key replaces that default (a
  // caller's eval_metric replaces logloss; several eval_metric entries are all used).
  std::vector<std::pair<std::string, std::string>> params;
  // Maximum boosting rounds. Default: 300.
  int rounds = 300;
  // Stop when the validation metric (the LAST eval_metric) has not improved for this
  // many rounds. 0 disables it; so does a null validation matrix. Default: 30.
  int early_stopping_rounds = 30;
  // Per column; true: the column holds category codes 0..K-1 (XGBoost feature_type
  // "c"), NaN = missing. Empty = all numeric. Default: empty.
  std::vector<bool> categorical;
  // Optional (empty, or one per column); set on the DMatrix and kept in the model.
  std::vector<std::string> feature_names;
};

struct TrainedBooster {
  // The model as XGBoosterSaveModelToBuffer {"format":"json"} writes it, sliced to the
  // best iteration when early stopping ran (XGBoosterSlice [0, best_iteration + 1)), so
  // predicting with it equals predicting with the full booster at the best iteration.
  std::string model_json;
  int best_iteration = -1;  // 0-based; rounds_trained - 1 without early stopping
  int rounds_trained = 0;   // rounds boosted before stopping (>= best_iteration + 1)
  // The validation metric after each round, as XGBoost evaluated it (printed with 17
  // significant digits, so parsing it loses nothing that matters for the early-stopping
  // comparison). Empty without validation.
  std::vector<double> validation_history;
  std::string metric;  // its name, e.g. "logloss"; empty without validation
};

// Trains on `train` (labels required), using `validation` (may be null; labels
// required; same cols) for the validation history and early stopping. Lower is better
// for every metric except auc, aucpr, map*, ndcg*, pre*, interval-regression-accuracy (higher); a round
// improves only when strictly better than the best so far, so ties keep the earlier round.
//
// Deterministic: the same inputs (bitwise), options (including nthread) and libxgboost
// build on the same CPU architecture give byte-identical model_json. A different
// nthread changes how hist sums gradients and can change the model in its last bits;
// parameters that sample (subsample, colsample_*) draw from `seed`. XGBoost's random
// engine is per thread, so trainings on different threads do not disturb each other.
//
// Errors: InvalidArgument for inconsistent shapes (values.size() != rows * cols, labels
// missing or of the wrong size, categorical/feature_names of the wrong size, a
// validation matrix with other cols, rounds < 1); any failure inside XGBoost (a bad
// parameter, a label outside [0, 1], ...) is InvalidArgument with XGBoost's message.
Result<TrainedBooster> TrainBooster(const DenseMatrix& train, const DenseMatrix* validation,
                                    const BoosterOptions& options);

// A loaded model for prediction. Not copyable, movable (a moved-from model may only be
// destroyed or assigned to).
//
// Predict and PredictRow are safe to call from several threads at once without external
// locking: XGBoost documents prediction with a tree booster as thread safe since 1.4
// (its C API keeps each thread's output buffer and prediction cache apart), and Load
// finishes XGBoost's lazy configuration before returning, so no call here mutates the
// booster. Each call uses XGBoost's default thread count (OpenMP) internally.
class XgbModel {
 public:
  // Parses an XGBoost model (JSON as TrainedBooster::model_json; XGBoost's UBJSON and
  // binary formats are accepted too). `categorical` (empty or one per feature) gives
  // the feature types of the prediction matrices; empty: the types stored in the model.
  // Garbage is Corruption with XGBoost's message; a wrong-sized `categorical` is
  // InvalidArgument.
  static Result<XgbModel> Load(std::string_view model_json, const std::vector<bool>& categorical = {});

  XgbModel(XgbModel&&) noexcept;
  XgbModel& operator=(XgbModel&&) noexcept;
  XgbModel(const XgbModel&) = delete;
  XgbModel& operator=(const XgbModel&) = delete;
  ~XgbModel();

  // Probabilities (binary:logistic output) for every row of m, in row order, with all
  // trees (labels ignored). m.rows == 0 gives an empty vector. InvalidArgument when
  // m.cols != num_features() or values.size() != rows * cols.
  Result<std::vector<float>> Predict(const DenseMatrix& m) const;

  // The probability of one row via XGBoosterPredictFromDense (in-place prediction, no
  // DMatrix): the benchmark peer of compiled trees. InvalidArgument unless
  // values.size() == num_features(). Equals Predict on the same row.
  Result<float> PredictRow(std::span<const float> values) const;

  int num_features() const { return num_features_; }

 private:
  struct BoosterFree {
    void operator()(void* handle) const;
  };
  XgbModel() = default;

  std::unique_ptr<void, BoosterFree> booster_;
  int num_features_ = 0;
  std::vector<bool> categorical_;  // empty or num_features_
};

}  // namespace vigil
