// A model's feature vector: which value goes in which column, and how a value becomes a
// float. Training builds its rows with this code and the scoring service builds its
// requests with the same code from the layout stored in the model's manifest, so serving
// cannot skew from training by construction.
//
// The input of a vector is one Row, the model's *input row*:
//   [request fields, in the layout's request order]
//   [every feature of views()[0], in the view's current definition order]
//   [every feature of views()[1] ...] ...
// A view whose entity is unknown (or expired) contributes its empty tuple (count 0,
// others null), exactly as the point-in-time join gives it.
//
// Column encodings:
//   int64, timestamp, double -> the value as float      null -> NaN (missing)
//   bool                     -> 0 or 1
//   string (categorical)     -> the index of the value in the column's vocabulary; a
//                               value outside it, or null, -> NaN
// The vocabulary of a categorical column is learned from the training rows (most frequent
// first, at most kMaxCategories) and stored with the layout.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "schema/value.h"
#include "spec/definitions.h"

namespace vigil {

inline constexpr size_t kMaxCategories = 64;

struct FeatureColumn {
  std::string name;  // as ModelFeatureDef::name
  ModelFeatureDef::Kind kind = ModelFeatureDef::Kind::kView;
  std::string view, feature;  // kView
  std::string expr;           // kOnDemand
  Type type = Type::kNull;
  bool categorical() const { return type == Type::kString; }
  std::vector<std::string> vocabulary;  // categorical: code -> value
};

class FeatureVectorBuilder;

// What a model was trained on. Copyable; immutable once built.
class FeatureLayout {
 public:
  // The layout a ModelDef declares (vocabularies still empty).
  static FeatureLayout FromModel(const ModelDef& model);
  // As stored by ToJson. Corruption when it is not such a document.
  static Result<FeatureLayout> FromJson(std::string_view json);
  std::string ToJson() const;

  const std::vector<FeatureColumn>& columns() const { return columns_; }
  std::vector<FeatureColumn>& mutable_columns() { return columns_; }
  const Schema& request() const { return request_; }
  // The views whose tuples the input row holds, in input-row order.
  const std::vector<std::string>& views() const { return views_; }

  // Binds the layout to the current definitions: finds each view feature by name and
  // compiles each on-demand expression against the input row of `defs`. InvalidArgument
  // naming the column when a view or feature it uses is gone or changed type.
  Result<std::shared_ptr<const FeatureVectorBuilder>> Bind(const Definitions& defs) const;

 private:
  std::vector<FeatureColumn> columns_;
  Schema request_;
  std::vector<std::string> views_;
};

// A layout bound to definitions: turns input rows into vectors. Immutable; safe to use
// from several threads at once.
class FeatureVectorBuilder {
 public:
  ~FeatureVectorBuilder();
  const FeatureLayout& layout() const { return layout_; }
  size_t size() const { return layout_.columns().size(); }
  // Input row width, and where each view's tuple starts in it (views() order).
  size_t input_width() const { return input_width_; }
  size_t view_offset(size_t view) const { return view_offsets_[view]; }
  size_t view_width(size_t view) const { return view_widths_[view]; }

  // The input-row index whose value column c holds (a request field or a view feature),
  // or -1 for an on-demand column, which computes its value from on_demand_inputs().
  int input_of(size_t c) const;
  // The input-row indexes the on-demand columns read, sorted, without duplicates: all a
  // caller that builds vectors column by column must keep of the input row.
  const std::vector<int>& on_demand_inputs() const { return on_demand_inputs_; }

  // The value of column c for `input` (before encoding).
  Value Evaluate(size_t c, const Row& input) const;
  // Encodes a value of column c as the vector holds it (see the top of this file).
  float Encode(size_t c, const Value& v) const;
  // Fills out[0..size()) from `input`. REQUIRES: input.size() == input_width().
  void Build(const Row& input, float* out) const;

  // Parses a text cell (a label file's, or a JSON string) into a request value of field
  // `field`'s type: empty -> null; bool accepts true/false/1/0. InvalidArgument naming
  // the field when it does not parse.
  Result<Value> ParseRequestCell(size_t field, std::string_view text) const;

 private:
  friend class FeatureLayout;
  struct Slot;
  explicit FeatureVectorBuilder(FeatureLayout layout);
  FeatureLayout layout_;
  std::vector<std::unique_ptr<Slot>> slots_;  // per column
  std::vector<std::unordered_map<std::string, int>> codes_;  // per column: vocabulary index
  size_t input_width_ = 0;
  std::vector<size_t> view_offsets_, view_widths_;
  std::vector<int> on_demand_inputs_;
};

}  // namespace vigil
