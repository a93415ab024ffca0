#include "serving/compiled_model.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>

namespace vigil {
namespace {

// Floats parse straight to float (strtof), as XGBoost reads them: going through double
// first could round a threshold differently in a rare halfway case.
using ModelJson =
    nlohmann::basic_json<std::map, std::vector, std::string, bool, std::int64_t, std::uint64_t, float>;
using Node = CompiledModel::Node;

constexpr uint32_t kFeatureMask = (1u << 29) - 1;
constexpr uint32_t kCategoricalBit = 1u << 29;
constexpr uint32_t kMissingRightBit = 1u << 30;
constexpr uint32_t kInternalBit = 1u << 31;
// Trees walked together (interleaved) per group.
constexpr size_t kLanes = 32;
// XGBoost treats a category code at or above 2^24 (the last float that still holds every
// integer) as invalid: it goes left, like a negative one.
constexpr float kMaxCategory = 16777216.0f;
// Numeric models of up to this many features take the fast walk (its row copy lives on
// the stack: 2 * 2048 + 1 floats).
constexpr int kMaxFastFeatures = 2048;
// A model whose category bitsets would take more than this is rejected as corrupt rather
// than allocated (a real model's sets are a few words each).
constexpr size_t kMaxCatWords = size_t{1} << 26;

// XGBoost writes a categorical node's split condition as a bare NaN (and could write an
// infinite float as Infinity), which strict JSON parsers reject: outside strings, NaN
// becomes null and Infinity a number that overflows to infinity. Text inside strings (a
// feature called "NaN_count") is left alone.
std::string ToStrictJson(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 16);
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < text.size()) {
        out.push_back(text[++i]);
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
      out.push_back(c);
    } else if (text.substr(i, 3) == "NaN") {
      out += "null";
      i += 2;
    } else if (text.substr(i, 8) == "Infinity") {
      out += "1e999";
      i += 7;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// The member `key` of `obj`, or null when obj is not an object or has no such member.
const ModelJson* Member(const ModelJson& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

Status Missing(const std::string& where, const char* what) {
  return Status::Corruption("xgboost model: " + where + ": missing or malformed " + what);
}

// XGBoost writes most parameters as JSON strings ("75", "5E-1").
bool ParseIntString(const ModelJson* j, int64_t* out) {
  if (j == nullptr) return false;
  if (j->is_number_integer()) {
    *out = j->get<int64_t>();
    return true;
  }
  if (!j->is_string()) return false;
  const std::string& s = j->get_ref<const std::string&>();
  if (s.empty() || s.size() > 18) return false;
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || end != s.c_str() + s.size()) return false;
  *out = v;
  return true;
}

bool ParseFloatString(const ModelJson* j, float* out) {
  if (j == nullptr) return false;
  if (j->is_number()) {
    *out = j->get<float>();
    return true;
  }
  if (!j->is_string()) return false;
  const std::string& s = j->get_ref<const std::string&>();
  if (s.empty()) return false;
  char* end = nullptr;
  *out = std::strtof(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

// An array member of `tree` holding exactly n numbers (ints or floats, or booleans when
// `allow_bool`); a null entry is allowed when `allow_null`.
const ModelJson* NumberArray(const ModelJson& tree, const char* key, size_t n, bool allow_null) {
  const ModelJson* a = Member(tree, key);
  if (a == nullptr || !a->is_array() || a->size() != n) return nullptr;
  for (const ModelJson& v : *a) {
    if (!(v.is_number() || v.is_boolean() || (allow_null && v.is_null()))) return nullptr;
  }
  return a;
}

// An int in [lo, hi] from a JSON number (a float with a fraction is not an index).
bool IndexIn(const ModelJson& v, int64_t lo, int64_t hi, int64_t* out) {
  if (v.is_number_integer()) {
    *out = v.get<int64_t>();
  } else if (v.is_boolean()) {
    *out = v.get<bool>() ? 1 : 0;
  } else if (v.is_number_float()) {
    double d = v.get<double>();
    if (!(d >= static_cast<double>(lo) && d <= static_cast<double>(hi)) || d != std::trunc(d)) return false;
    *out = static_cast<int64_t>(d);
  } else {
    return false;
  }
  return *out >= lo && *out <= hi;
}

// XGBoost's common::Sigmoid (1.7): the exponent is capped so that expf stays finite.
inline float Sigmoid(float margin) { return 1.0f / (std::exp(std::min(-margin, 88.7f)) + 1.0f); }

// Whether a categorical node sends `v` right: NaN by its default, a code in its set right,
// every other value (negative, huge, beyond the set) left.
inline uint32_t CategoricalRight(const Node& n, float v, const uint32_t* cat_words) {
  if (std::isnan(v)) return (n.feature_flags & kMissingRightBit) != 0;
  if (!(v >= 0.0f && v < kMaxCategory)) return 0;
  uint32_t code = static_cast<uint32_t>(v);  // truncates, as XGBoost's AsCat
  const uint32_t* set = cat_words + std::bit_cast<uint32_t>(n.value);
  uint32_t word = code >> 5;
  if (word >= set[0]) return 0;
  return (set[1 + word] >> (code & 31)) & 1u;
}

// One step from node i: a leaf stays where it is (its left is itself and the internal bit
// masks the comparison away), an internal node goes to left or left + 1.
template <bool kHasCategorical>
inline uint32_t Step(const Node* nodes, uint32_t i, const float* x, const uint32_t* cat_words) {
  const Node& n = nodes[i];
  const uint32_t ff = n.feature_flags;
  const float v = x[ff & kFeatureMask];
  uint32_t right;
  if (kHasCategorical && (ff & kCategoricalBit) != 0) {
    right = CategoricalRight(n, v, cat_words);
  } else {
    // Not (v < threshold) is right, except that NaN goes where the node says.
    right = static_cast<uint32_t>(v >= n.value) | (static_cast<uint32_t>(v != v) & (ff >> 30));
  }
  return n.left + (right & (ff >> 31));
}

// Whether every numeric threshold is finite (XGBoost's are: it refuses infinities in
// training data), which the fast walk needs: there a missing value becomes -inf or +inf.
bool ThresholdsFinite(const std::vector<Node>& nodes) {
  return std::all_of(nodes.begin(), nodes.end(), [](const Node& n) {
    return (n.feature_flags & kInternalBit) == 0 || std::isfinite(n.value);
  });
}

// Re-encodes a numeric model's nodes for the fast walk: feature_flags becomes an index into
// the row's expanded copy (see CompiledModel::Node).
void ToFastEncoding(std::vector<Node>* nodes, uint32_t num_features) {
  for (Node& n : *nodes) {
    const uint32_t ff = n.feature_flags;
    n.feature_flags = (ff & kInternalBit) == 0
                          ? 2 * num_features
                          : 2 * (ff & kFeatureMask) + ((ff & kMissingRightBit) != 0 ? 1 : 0);
  }
}

// Parses and checks one tree (index t), appending its nodes breadth first to `nodes` and
// its category sets to `cat_words`. Returns the depth of its deepest leaf in *depth.
Status CompileTree(const ModelJson& tree, size_t t, int64_t num_features, std::vector<Node>* nodes,
                   std::vector<uint32_t>* cat_words, bool* has_categorical, uint32_t* root, uint32_t* depth) {
  const std::string where = "tree " + std::to_string(t);
  if (const ModelJson* param = Member(tree, "tree_param")) {
    int64_t leaf_vector = 0;
    if (ParseIntString(Member(*param, "size_leaf_vector"), &leaf_vector) && leaf_vector > 1) {
      return Status::NotSupported("xgboost model: " + where + ": vector leaves (size_leaf_vector " +
                                  std::to_string(leaf_vector) + ") are not supported");
    }
  }
  const ModelJson* left = Member(tree, "left_children");
  if (left == nullptr || !left->is_array() || left->empty()) return Missing(where, "left_children");
  const size_t n = left->size();
  if (n >= (size_t{1} << 31)) return Missing(where, "left_children (too many nodes)");
  const ModelJson* right = NumberArray(tree, "right_children", n, false);
  const ModelJson* split_indices = NumberArray(tree, "split_indices", n, false);
  const ModelJson* split_conditions = NumberArray(tree, "split_conditions", n, true);
  const ModelJson* default_left = NumberArray(tree, "default_left", n, false);
  if (right == nullptr) return Missing(where, "right_children (one per node)");
  if (split_indices == nullptr) return Missing(where, "split_indices (one per node)");
  if (split_conditions == nullptr) return Missing(where, "split_conditions (one per node)");
  if (default_left == nullptr) return Missing(where, "default_left (one per node)");
  // Older models have no split_type: every split is numeric.
  const ModelJson* split_type = nullptr;
  if (Member(tree, "split_type") != nullptr) {
    split_type = NumberArray(tree, "split_type", n, false);
    if (split_type == nullptr) return Missing(where, "split_type (one per node)");
  }

  // Category sets by node id.
  std::unordered_map<int64_t, std::vector<uint32_t>> sets;
  if (const ModelJson* cat_nodes = Member(tree, "categories_nodes");
      cat_nodes != nullptr && !cat_nodes->empty()) {
    if (!cat_nodes->is_array()) return Missing(where, "categories_nodes");
    const size_t k = cat_nodes->size();
    const ModelJson* segments = NumberArray(tree, "categories_segments", k, false);
    const ModelJson* sizes = NumberArray(tree, "categories_sizes", k, false);
    const ModelJson* categories = Member(tree, "categories");
    if (segments == nullptr) return Missing(where, "categories_segments (one per categorical node)");
    if (sizes == nullptr) return Missing(where, "categories_sizes (one per categorical node)");
    if (categories == nullptr || !categories->is_array()) return Missing(where, "categories");
    const int64_t total = static_cast<int64_t>(categories->size());
    for (size_t i = 0; i < k; ++i) {
      int64_t node = 0, begin = 0, size = 0;
      if (!IndexIn((*cat_nodes)[i], 0, static_cast<int64_t>(n) - 1, &node)) {
        return Missing(where, "categories_nodes (a node id outside the tree)");
      }
      if (!IndexIn((*segments)[i], 0, total, &begin) || !IndexIn((*sizes)[i], 0, total - begin, &size)) {
        return Missing(where, "categories_segments/categories_sizes (a range outside categories)");
      }
      std::vector<uint32_t>& set = sets[node];
      if (!set.empty()) return Missing(where, "categories_nodes (a node listed twice)");
      uint32_t max_code = 0;
      std::vector<uint32_t> codes;
      codes.reserve(static_cast<size_t>(size));
      for (int64_t c = begin; c < begin + size; ++c) {
        int64_t code = 0;
        if (!IndexIn((*categories)[static_cast<size_t>(c)], 0, static_cast<int64_t>(kMaxCategory) - 1,
                     &code)) {
          return Missing(where, "categories (a code outside [0, 2^24))");
        }
        codes.push_back(static_cast<uint32_t>(code));
        max_code = std::max(max_code, static_cast<uint32_t>(code));
      }
      const size_t words = codes.empty() ? 0 : max_code / 32 + 1;
      if (cat_words->size() + words > kMaxCatWords) return Missing(where, "categories (sets too large)");
      set.assign(words + 1, 0);  // set[0] = the word count, then the words
      set[0] = static_cast<uint32_t>(words);
      for (uint32_t code : codes) set[1 + code / 32] |= 1u << (code % 32);
    }
  }

  // Breadth first from the root: a node's children get two adjacent slots.
  std::vector<bool> seen(n, false);
  struct Pending {
    int64_t id;
    uint32_t slot;
    uint32_t depth;
  };
  std::deque<Pending> queue;
  *root = static_cast<uint32_t>(nodes->size());
  *depth = 0;
  nodes->push_back(Node{});
  queue.push_back({0, *root, 0});
  seen[0] = true;
  while (!queue.empty()) {
    const Pending p = queue.front();
    queue.pop_front();
    const size_t id = static_cast<size_t>(p.id);
    int64_t l = 0, r = 0;
    if (!IndexIn((*left)[id], -1, static_cast<int64_t>(n) - 1, &l) ||
        !IndexIn((*right)[id], -1, static_cast<int64_t>(n) - 1, &r) || ((l == -1) != (r == -1))) {
      return Missing(where, ("children of node " + std::to_string(id)).c_str());
    }
    const ModelJson& cond = (*split_conditions)[id];
    Node& node = (*nodes)[p.slot];
    if (l == -1) {
      if (!cond.is_number()) return Missing(where, ("leaf value of node " + std::to_string(id)).c_str());
      node = Node{0, cond.get<float>(), p.slot};
      *depth = std::max(*depth, p.depth);
      continue;
    }
    if (seen[static_cast<size_t>(l)] || seen[static_cast<size_t>(r)] || l == r) {
      return Missing(where, ("children of node " + std::to_string(id) + " (a node reached twice)").c_str());
    }
    int64_t feature = 0, dleft = 0, type = 0;
    if (!IndexIn((*split_indices)[id], 0, num_features - 1, &feature)) {
      return Missing(where, ("split_indices of node " + std::to_string(id) +
                             " (not a feature below num_feature " + std::to_string(num_features) + ")")
                                .c_str());
    }
    if (!IndexIn((*default_left)[id], 0, 1, &dleft)) {
      return Missing(where, ("default_left of node " + std::to_string(id)).c_str());
    }
    if (split_type != nullptr && !IndexIn((*split_type)[id], 0, 1, &type)) {
      return Missing(where,
                     ("split_type of node " + std::to_string(id) + " (0 numeric, 1 categorical)").c_str());
    }
    const uint32_t slot = static_cast<uint32_t>(nodes->size());
    if (slot > kFeatureMask) return Missing(where, "nodes (the model is too large)");
    uint32_t flags = static_cast<uint32_t>(feature) | kInternalBit | (dleft == 0 ? kMissingRightBit : 0);
    float value = 0;
    if (type == 1) {
      auto it = sets.find(p.id);
      if (it == sets.end()) {
        return Missing(where, ("category set of categorical node " + std::to_string(id)).c_str());
      }
      flags |= kCategoricalBit;
      value = std::bit_cast<float>(static_cast<uint32_t>(cat_words->size()));
      cat_words->insert(cat_words->end(), it->second.begin(), it->second.end());
      *has_categorical = true;
    } else {
      if (!cond.is_number())
        return Missing(where, ("split_conditions of node " + std::to_string(id)).c_str());
      value = cond.get<float>();
    }
    node = Node{flags, value, slot};  // `node` is not used after the resize below
    nodes->resize(nodes->size() + 2);
    seen[static_cast<size_t>(l)] = seen[static_cast<size_t>(r)] = true;
    queue.push_back({l, slot, p.depth + 1});
    queue.push_back({r, slot + 1, p.depth + 1});
  }
  return Status::OK();
}

}  // namespace

Result<CompiledModel> CompiledModel::FromXgboostJson(std::string_view model_json) {
  // nlohmann throws on type errors; nothing below should, but no exception may leave.
  try {
    ModelJson doc = ModelJson::parse(ToStrictJson(model_json), nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) return Status::Corruption("xgboost model: not valid JSON");
    const ModelJson* learner = Member(doc, "learner");
    if (learner == nullptr) return Missing("model", "learner");
    const std::string where = "learner";

    const ModelJson* objective = Member(*learner, "objective");
    const ModelJson* objective_name = objective != nullptr ? Member(*objective, "name") : nullptr;
    if (objective_name == nullptr || !objective_name->is_string()) return Missing(where, "objective.name");
    if (objective_name->get_ref<const std::string&>() != "binary:logistic") {
      return Status::NotSupported("xgboost model: objective " + objective_name->get<std::string>() +
                                  ": compiled trees support binary:logistic only");
    }

    const ModelJson* param = Member(*learner, "learner_model_param");
    if (param == nullptr) return Missing(where, "learner_model_param");
    int64_t num_features = 0, num_class = 0, num_target = 1;
    if (!ParseIntString(Member(*param, "num_feature"), &num_features) || num_features < 1 ||
        num_features > static_cast<int64_t>(kFeatureMask)) {
      return Missing(where, "learner_model_param.num_feature (a count >= 1)");
    }
    if (Member(*param, "num_class") != nullptr && !ParseIntString(Member(*param, "num_class"), &num_class)) {
      return Missing(where, "learner_model_param.num_class");
    }
    if (Member(*param, "num_target") != nullptr &&
        !ParseIntString(Member(*param, "num_target"), &num_target)) {
      return Missing(where, "learner_model_param.num_target");
    }
    if (num_class > 1 || num_target > 1) {
      return Status::NotSupported("xgboost model: " + std::to_string(std::max(num_class, num_target)) +
                                  " classes/targets: compiled trees support one output");
    }
    float base_score = 0;
    if (!ParseFloatString(Member(*param, "base_score"), &base_score) || !(base_score > 0 && base_score < 1)) {
      return Missing(where, "learner_model_param.base_score (a probability in (0, 1))");
    }

    const ModelJson* booster = Member(*learner, "gradient_booster");
    const ModelJson* booster_name = booster != nullptr ? Member(*booster, "name") : nullptr;
    if (booster_name == nullptr || !booster_name->is_string()) return Missing(where, "gradient_booster.name");
    if (booster_name->get_ref<const std::string&>() != "gbtree") {
      return Status::NotSupported("xgboost model: booster " + booster_name->get<std::string>() +
                                  ": compiled trees support gbtree only");
    }
    const ModelJson* model = Member(*booster, "model");
    const ModelJson* trees = model != nullptr ? Member(*model, "trees") : nullptr;
    if (trees == nullptr || !trees->is_array()) return Missing(where, "gradient_booster.model.trees");
    if (const ModelJson* tree_info = Member(*model, "tree_info")) {
      if (!tree_info->is_array() || tree_info->size() != trees->size()) {
        return Missing(where, "gradient_booster.model.tree_info (one per tree)");
      }
      for (const ModelJson& group : *tree_info) {
        if (!group.is_number() || group.get<double>() != 0) {
          return Status::NotSupported("xgboost model: a tree of output group " + group.dump() +
                                      ": compiled trees support one output");
        }
      }
    }

    CompiledModel out;
    out.num_features_ = static_cast<int>(num_features);
    out.base_margin_ = -std::log(1.0f / base_score - 1.0f);  // ProbToMargin, in float
    out.nodes_.push_back(Node{0, 0.0f, 0});                  // the padding lanes' leaf
    out.roots_.reserve(trees->size());
    uint32_t group_depth = 0;
    for (size_t t = 0; t < trees->size(); ++t) {
      uint32_t root = 0, depth = 0;
      VIGIL_RETURN_IF_ERROR(CompileTree((*trees)[t], t, num_features, &out.nodes_, &out.cat_words_,
                                        &out.has_categorical_, &root, &depth));
      out.roots_.push_back(root);
      group_depth = std::max(group_depth, depth);
      if (out.roots_.size() % kLanes == 0 || t + 1 == trees->size()) {
        out.depths_.push_back(group_depth);
        group_depth = 0;
      }
    }
    out.fast_ = !out.has_categorical_ && num_features <= kMaxFastFeatures && ThresholdsFinite(out.nodes_);
    if (out.fast_) ToFastEncoding(&out.nodes_, static_cast<uint32_t>(num_features));
    return out;
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("xgboost model: ") + e.what());
  }
}

template <bool kHasCategorical>
float CompiledModel::SumMargin(const float* x) const {
  const Node* nodes = nodes_.data();
  const uint32_t* cat_words = cat_words_.data();
  const size_t num_trees = roots_.size();
  float sum = base_margin_;
  for (size_t g = 0, first = 0; first < num_trees; ++g, first += kLanes) {
    const size_t count = std::min(kLanes, num_trees - first);
    uint32_t at[kLanes];
    for (size_t k = 0; k < kLanes; ++k) at[k] = k < count ? roots_[first + k] : 0;
    for (uint32_t d = depths_[g]; d > 0; --d) {
#pragma GCC unroll 32
      for (size_t k = 0; k < kLanes; ++k) at[k] = Step<kHasCategorical>(nodes, at[k], x, cat_words);
    }
    // In tree order, in float: XGBoost's sum, bit for bit.
    for (size_t k = 0; k < count; ++k) sum += nodes[at[k]].value;
  }
  return sum;
}

// The fast walk of a numeric model. The row is copied twice, side by side, with NaN as
// -inf in one copy (read by nodes whose missing values go left) and as +inf in the other
// (nodes whose missing values go right), then a NaN for the leaves: a step is one load
// and one compare, "right iff v >= threshold", which NaN never satisfies (a leaf stays).
// With finite thresholds this is exactly XGBoost's rule:
//   x3 = NaN, threshold 0.5, missing left:  -inf >= 0.5 false -> left
//                            missing right: +inf >= 0.5 true  -> right
//   x3 = 0.5:                               0.5 >= 0.5 true   -> right (not 0.5 < 0.5)
float CompiledModel::SumMarginFast(const float* x) const {
  float row[2 * kMaxFastFeatures + 1];
  const int width = num_features_;
  for (int f = 0; f < width; ++f) {
    const float v = x[f];
    const bool missing = std::isnan(v);
    row[2 * f] = missing ? -std::numeric_limits<float>::infinity() : v;
    row[2 * f + 1] = missing ? std::numeric_limits<float>::infinity() : v;
  }
  row[2 * width] = std::numeric_limits<float>::quiet_NaN();
  const Node* nodes = nodes_.data();
  const size_t num_trees = roots_.size();
  float sum = base_margin_;
  for (size_t g = 0, first = 0; first < num_trees; ++g, first += kLanes) {
    const size_t count = std::min(kLanes, num_trees - first);
    uint32_t at[kLanes];
    for (size_t k = 0; k < kLanes; ++k) at[k] = k < count ? roots_[first + k] : 0;
    for (uint32_t d = depths_[g]; d > 0; --d) {
#pragma GCC unroll 32
      for (size_t k = 0; k < kLanes; ++k) {
        const Node& n = nodes[at[k]];
        at[k] = n.left + static_cast<uint32_t>(row[n.feature_flags] >= n.value);
      }
    }
    for (size_t k = 0; k < count; ++k) sum += nodes[at[k]].value;
  }
  return sum;
}

float CompiledModel::MarginFloat(const float* values) const {
  if (fast_) return SumMarginFast(values);
  return has_categorical_ ? SumMargin<true>(values) : SumMargin<false>(values);
}

double CompiledModel::Margin(const float* values) const { return MarginFloat(values); }

float CompiledModel::Predict(const float* values) const { return Sigmoid(MarginFloat(values)); }

void CompiledModel::PredictBatch(const float* rows, size_t n, float* out) const {
  const size_t width = static_cast<size_t>(num_features_);
  for (size_t i = 0; i < n; ++i) out[i] = Sigmoid(MarginFloat(rows + i * width));
}

}  // namespace vigil
