// Compiled trees: a binary:logistic gbtree model, as XGBoost 1.7 saves it in JSON
// (training/xgboost_model.h describes the format), turned into flat arrays that score one
// row without the XGBoost runtime: about 1 us for 150 trees of depth 6 over 75 features,
// some 30 times less than XGBoosterPredictFromDense on one row (bench/tree_bench.cc).
//
// The result equals XGBoost's prediction bit for bit on the same libm (and within 1e-6
// anywhere), because it follows XGBoost's CPU predictor step for step:
//   margin = logit(base_score) in float (-logf(1/base_score - 1), as ProbToMargin), then
//            each tree's leaf value added in float, in tree order (XGBoost keeps the
//            predictions in a float vector and adds tree by tree);
//   prob   = 1 / (1 + expf(min(-margin, 88.7))) in float (XGBoost's common::Sigmoid).
//   numeric split:      NaN -> default_left; else left iff x < threshold (float compare).
//   categorical split:  NaN -> default_left; a code in the node's set -> right; any other
//                       value -> left: negative, >= 2^24, or beyond the largest code
//                       the set knows. Fractions truncate (2.7 acts as 2, -0.5 is left).
// Example: a tree "x3 < 0.5 (missing left) ? 0.1 : -0.2" and base_score 0.5 give, for
// x3 = NaN, margin 0 + 0.1 and probability 1 / (1 + e^-0.1) = 0.52498.
//
// Layout: every tree's nodes sit in one array, renumbered breadth first so that a node's
// right child is its left child + 1; a leaf points at itself, so a walk can run a fixed
// number of steps. Trees are walked sixteen at a time, interleaved, which keeps several
// independent loads in flight. Category sets are bitsets in a side array. A model without
// categorical splits reads a copy of the row where NaN is already -inf or +inf, so a step
// is one load and one compare (compiled_model.cc, SumMarginFast).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace vigil {

// A binary:logistic gbtree model compiled to flat arrays for fast single-row scoring.
// Immutable after FromXgboostJson: every method is const and safe to call from several
// threads at once without external locking. Copyable and movable.
class CompiledModel {
 public:
  // Compiles XGBoost's JSON model (TrainedBooster::model_json). Errors, never a crash or an
  // exception, whatever the bytes:
  //   Corruption    not JSON, or a field missing, of the wrong type or out of range
  //                 (a child index outside the tree, a node reached twice, a feature
  //                 index >= num_feature, a category set that names no node, ...); the
  //                 message names the field and the tree.
  //   NotSupported  a valid model this evaluator does not implement: an objective other
  //                 than binary:logistic, a booster other than gbtree (gblinear; dart,
  //                 whose tree weights change the sum), several classes or targets,
  //                 vector leaves.
  static Result<CompiledModel> FromXgboostJson(std::string_view model_json);

  // The row width every method expects (learner_model_param.num_feature).
  int num_features() const { return num_features_; }
  size_t num_trees() const { return roots_.size(); }

  // The probability of one row: values[0..num_features()), NaN = missing. Allocation-free.
  float Predict(const float* values) const;
  // The margin (log-odds) of one row, summed in float as XGBoost does, widened to double.
  // Predict(v) == the sigmoid of this margin as computed in float.
  double Margin(const float* values) const;
  // out[i] = Predict(rows + i * num_features()) for i in [0, n). Rows are row-major.
  void PredictBatch(const float* rows, size_t n, float* out) const;

  // 12 bytes. Internal (compiled model layout), public only so the .cc can name it.
  struct Node {
    // Models with categorical splits (and any with a non-finite threshold or more than
    // 2048 features): bits 0..28 the feature; bit 29 a categorical split; bit 30 a
    // missing value goes right; bit 31 an internal node (clear at a leaf).
    // Other (numeric) models, the fast encoding: an index into the row's expanded copy,
    // 2 * feature (NaN read as -inf: missing goes left), 2 * feature + 1 (NaN read as
    // +inf: missing goes right), 2 * num_features (a NaN: at a leaf).
    uint32_t feature_flags;
    // Numeric split: the threshold. Leaf: the leaf value. Categorical split: the bits of
    // an offset into cat_words_ (see std::bit_cast), where the set's word count comes
    // first, then its words.
    float value;
    // The left child; the right one is left + 1. A leaf: its own index.
    uint32_t left;
  };

 private:
  CompiledModel() = default;
  template <bool kHasCategorical>
  float SumMargin(const float* values) const;
  float SumMarginFast(const float* values) const;
  float MarginFloat(const float* values) const;

  int num_features_ = 0;
  float base_margin_ = 0;
  bool has_categorical_ = false;
  bool fast_ = false;                // nodes_ in the fast encoding (see Node)
  std::vector<Node> nodes_;          // nodes_[0]: a leaf of value 0 (padding lanes)
  std::vector<uint32_t> roots_;      // per tree, in tree order
  std::vector<uint32_t> depths_;     // per group of kLanes trees: the deepest leaf's depth
  std::vector<uint32_t> cat_words_;  // category bitsets (see Node::value)
};

}  // namespace vigil
