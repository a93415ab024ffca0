// Reference distributions of the training features, stored with the model so that
// monitoring can measure drift of the serving traffic against them: PSI over the bins
// below, Kolmogorov-Smirnov against the quantiles of a numeric feature, Jensen-Shannon
// over the categories of a categorical one. This file only builds, bins and serializes
// them; the statistics are monitoring's.
//
// Quantiles use the "lower" definition: with the n non-missing values sorted ascending,
//   q_p = sorted[floor(p / 100 * (n - 1))]   for p = 0, 1, ..., 100,
// so every quantile is an observed value (q0 = min, q100 = max). E.g. for the 11 values
// 0, 1, ..., 10: q10 = sorted[1] = 1, q15 = sorted[floor(1.5)] = 1, q50 = 5.
//
// PSI bins: the k distinct interior deciles q10, q20, ..., q90 are the edges e0 < ... <
// e_{k-1}, and make k + 1 bins, each closed above:
//   (-inf, e0], (e0, e1], ..., (e_{k-2}, e_{k-1}], (e_{k-1}, +inf)
// A value equal to an edge is in the lower bin. A column with few distinct values has
// fewer edges; a constant column c has the single edge c: all its mass is in bin 0, and a
// later value above c lands in bin 1 (whose reference fraction is 0: PSI must smooth it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace vigil {

// The category that collects what the reference does not list by name: categories beyond
// the kMaxReferenceCategories most frequent, and codes outside the vocabulary.
inline constexpr char kOtherCategory[] = "__other__";
inline constexpr size_t kMaxReferenceCategories = 50;

struct FeatureReference {
  std::string name;
  bool categorical = false;
  int64_t count = 0;    // values seen, missing included
  int64_t missing = 0;  // NaN values
  // Numeric: the 101 quantiles q0..q100 of the non-missing values (see above); empty when
  // there are none. Categorical: empty.
  std::vector<double> quantiles;
  // Numeric: the PSI bin edges (see above), ascending and distinct; empty when there are no
  // non-missing values. Categorical: empty.
  std::vector<double> bin_edges;
  // Numeric: fraction of the non-missing values in each bin, bin_edges.size() + 1 of them,
  // summing to 1; empty when there are no non-missing values. Categorical: empty.
  std::vector<double> bin_fractions;
  // Categorical: (category, fraction of the non-missing values), most frequent first (ties
  // by name), at most kMaxReferenceCategories of them, then kOtherCategory with the rest if
  // there is any. Only categories that occur are listed; the fractions sum to 1 when there
  // is any non-missing value. Numeric: empty.
  std::vector<std::pair<std::string, double>> categories;
};

// The reference of a numeric feature; NaN marks a missing value. Infinite values are
// ordinary (extreme) values.
FeatureReference NumericReference(std::string name, std::span<const double> values);

// The reference of a categorical feature given as codes, indices into `vocabulary` held as
// doubles; NaN marks a missing value. A code that is not an index of the vocabulary (out of
// range, negative, fractional), and a vocabulary entry spelled kOtherCategory, count as
// kOtherCategory.
FeatureReference CategoricalReference(std::string name, std::span<const double> codes,
                                      const std::vector<std::string>& vocabulary);

// The PSI bin of `v`, 0..bin_edges.size(): the number of edges strictly below v, so a value
// equal to an edge is in the lower bin. REQUIRES: !ref.categorical, v is not NaN.
size_t ReferenceBin(const FeatureReference& ref, double v);

// A JSON array with one object per reference, fields named as in FeatureReference
// (categories as [name, fraction] pairs). NaN is written as null and +-inf as the strings
// "inf" and "-inf", so every value reads back exactly.
std::string ReferencesToJson(const std::vector<FeatureReference>& refs);
// Reads what ReferencesToJson wrote. Corruption, naming the feature and field, otherwise.
Result<std::vector<FeatureReference>> ReferencesFromJson(std::string_view json);

}  // namespace vigil
