// Drift of the serving traffic against the reference distributions stored with a model
// (training/reference.h): for each model feature, and for the score (a numeric reference
// like any other), the values of one window of the serving log are accumulated in a
// FeatureWindow and compared with CompareToReference:
//   PSI  over the reference's bins (numeric: the reference-decile bins; categorical: the
//        reference's categories), plus one bin for missing values;
//   KS   numeric only: sup |F_ref - F_obs| over the non-missing values;
//   JS   categorical only: Jensen-Shannon divergence over the same bins as PSI.
// The level is the worst of the statistics that apply (DriftThresholds).
//
// Sliding windows are the caller's: a window of length L that slides by s is L / s
// FeatureWindows open at once, each record added to every open one; the oldest is compared
// and dropped every s. A FeatureWindow is cheap (its bins, and a bounded sample for KS).
//
// Missing values (NaN) are a bin of their own, in PSI and in JS, always present: the
// reference's missing fraction is ref.missing / ref.count, every other bin's reference
// fraction is its stored fraction (of the non-missing values) times 1 - that. So a jump of
// the missing rate is drift even when the reference had no missing value at all (its
// missing bin is then 0, which PSI smooths), and a missing rate that stays put adds
// nothing. KS sees only the non-missing values.
//
// Worked example. A numeric reference with bin_edges {1, 2}, bin_fractions {0.5, 0.25,
// 0.25} and no missing value; a window of 200 values: 50 <= 1, 50 in (1, 2], 80 > 2 and
// 20 NaN. Bins (-inf,1], (1,2], (2,+inf), missing:
//   reference e = {0.5,  0.25, 0.25, 0  }
//   window    a = {0.25, 0.25, 0.4,  0.1}
//   PSI = sum (a - e) ln((a + 1e-4) / (e + 1e-4))
//       = 0.1732 + 0 + 0.0705 + 0.6909 = 0.9346   -> kAlert (>= 0.25)
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "training/reference.h"

namespace vigil {

struct FeatureWindowOptions {
  // How many non-missing values a numeric window keeps for KS. Up to this many it keeps
  // every one (KS is exact); beyond, a uniform reservoir sample of this size (Algorithm R,
  // deterministic for a given seed and order of values), so KS carries a sampling error of
  // about 1.36 / sqrt(capacity) at 95% (0.014 at the default) against a warn threshold of
  // 0.1, for 80 KB per feature. The PSI and JS bin counts are always exact.
  // Default: 10000. REQUIRES: > 0.
  size_t sample_capacity = 10000;
  // Seed of the reservoir's generator. Default: 1.
  uint64_t seed = 1;
};

// The values of one feature in one window, added one by one as the serving log is read.
// Copies what it needs of the reference (its bins), so the reference need not outlive it.
// Not safe for concurrent Add; const methods may run concurrently with each other.
//
// Bins ("slots"), in this order, the last always the missing one:
//   numeric:     the reference's bins 0..bin_edges.size() (see ReferenceBin; a reference
//                without non-missing values has the one bin (-inf, +inf)), then missing;
//   categorical: ref.categories in their order, then kOtherCategory if the reference does
//                not list it (reference fraction 0), then missing.
class FeatureWindow {
 public:
  // `vocabulary` maps a categorical feature's codes to names, as given to
  // CategoricalReference (the model's vocabulary of the column); with an empty one every
  // code counts as kOtherCategory, so categorical callers pass it or use AddCategory.
  // Ignored for a numeric feature.
  explicit FeatureWindow(const FeatureReference& ref, std::span<const std::string> vocabulary = {},
                         const FeatureWindowOptions& options = {});

  // Numeric: the value; NaN is missing, +-inf are ordinary (extreme) values.
  // Categorical: the code, an index into the vocabulary held as a double; NaN is missing;
  // a code that is not an index of the vocabulary (out of range, negative, fractional), or
  // whose name the reference does not list, counts as kOtherCategory.
  void Add(double v);
  // Categorical: the category by name; one the reference does not list counts as
  // kOtherCategory. A missing value is Add(NaN). REQUIRES: categorical().
  void AddCategory(std::string_view category);

  const std::string& feature() const { return feature_; }
  bool categorical() const { return categorical_; }
  // Values added, missing included.
  int64_t count() const { return count_; }
  int64_t missing() const { return slot_counts_.back(); }
  // Values per slot (see above), the missing slot last; they sum to count().
  std::span<const int64_t> slot_counts() const { return slot_counts_; }
  // slot_counts() / count(); all 0 while count() is 0.
  std::vector<double> SlotFractions() const;
  // Numeric: the non-missing values kept for KS (see FeatureWindowOptions), in no
  // particular order. Categorical: empty.
  std::span<const double> sample() const { return sample_; }

  // The bins it was built with: numeric, the reference's bin_edges; categorical, the names
  // of ref.categories. CompareToReference checks them against its reference.
  std::span<const double> bin_edges() const { return bin_edges_; }
  std::span<const std::string> categories() const { return categories_; }

 private:
  std::string feature_;
  bool categorical_ = false;
  std::vector<double> bin_edges_;                         // numeric
  std::vector<std::string> categories_;                   // categorical: ref.categories' names
  std::map<std::string, size_t, std::less<>> name_slot_;  // categorical: name -> slot
  std::vector<size_t> code_slot_;                         // categorical: code -> slot
  size_t other_slot_ = 0;                                 // categorical: kOtherCategory's slot
  std::vector<int64_t> slot_counts_;                      // last: missing
  int64_t count_ = 0;
  int64_t present_ = 0;  // non-missing values added (numeric)
  size_t sample_capacity_;
  uint64_t rng_state_;
  std::vector<double> sample_;
};

// The reference's fractions over the slots of a FeatureWindow built from it (see
// FeatureWindow and the top of this file), summing to 1; all 0 when ref.count is 0.
std::vector<double> ReferenceSlotFractions(const FeatureReference& ref);

struct DriftThresholds {
  // A statistic at or above its warn threshold warns, at or above its alert threshold
  // alerts. Defaults: PSI 0.1 / 0.25 (the usual rule of thumb), KS 0.1 / 0.2, JS 0.05 / 0.1.
  double psi_warn = 0.1;
  double psi_alert = 0.25;
  double ks_warn = 0.1;
  double ks_alert = 0.2;
  double js_warn = 0.05;
  double js_alert = 0.1;
  // A window with fewer values (missing included) is kTooFew; KS enters the level only
  // when the window has at least this many non-missing values. Default: 100.
  int64_t min_count = 100;
  // KS enters the level only for a continuous feature: one whose reference quantiles
  // q0..q100 hold at least this many distinct values. A count or a flag (few values,
  // many ties) is judged by PSI over its value bins alone: KS has no meaningful scale on a
  // step distribution, where moving a few percent of the mass across one step is the
  // whole statistic. Its KS is still reported. Default: 20.
  int min_distinct_quantiles_for_ks = 20;
};

// Ordered by severity kNone < kWarn < kAlert; kTooFew says the window is too small to
// judge. Not persisted: JSON and metrics use DriftLevelName.
enum class DriftLevel { kNone, kWarn, kAlert, kTooFew };
// "none", "warn", "alert", "too_few".
const char* DriftLevelName(DriftLevel level);

// One feature's drift in one window. A statistic that does not apply or is undefined is NaN
// and does not enter the level: ks for a categorical feature or when either side has no
// non-missing value, js for a numeric one, every statistic when either side has no value.
struct DriftResult {
  static constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  std::string feature;
  bool categorical = false;
  int64_t count = 0;    // values in the window, missing included
  int64_t missing = 0;  // missing values in the window
  double psi = kNaN;
  double ks = kNaN;
  double js = kNaN;
  double missing_rate_ref = kNaN;  // ref.missing / ref.count
  double missing_rate = kNaN;      // missing / count
  DriftLevel level = DriftLevel::kTooFew;

  // One JSON object, fields named as here, level as DriftLevelName; NaN is null and +-inf
  // the strings "inf" / "-inf" (as in training/reference.h).
  std::string ToJson() const;
};

// Compares `window` with `ref`:
//   psi = Psi(ReferenceSlotFractions(ref), window.SlotFractions())
//   ks  = KsStatistic(ref, the window's sample sorted)            (numeric)
//   js  = JensenShannon(ReferenceSlotFractions(ref), window.SlotFractions())  (categorical)
// level: kTooFew when window.count() < max(1, min_count); otherwise the worst of the
// levels of psi, ks (if the window has at least min_count non-missing values and the
// feature is continuous: min_distinct_quantiles_for_ks) and js.
// InvalidArgument, naming the feature, when the window was not built from a reference with
// the same name, kind and bins (edges or category names).
Result<DriftResult> CompareToReference(const FeatureReference& ref, const FeatureWindow& window,
                                       const DriftThresholds& thresholds = {});

// Population stability index of `actual` against `expected`, fractions over the same bins,
// each smoothed by adding `epsilon` (so an empty bin on one side stays finite):
//   PSI = sum_i (a_i - e_i) ln((a_i + epsilon) / (e_i + epsilon))
// Every term is >= 0; a bin with a_i == e_i adds exactly 0. With epsilon = 0 a bin empty on
// one side only makes it +inf. E.g. e = {0.5, 0.5}, a = {0.25, 0.75}, epsilon = 0:
//   -0.25 ln 0.5 + 0.25 ln 1.5 = 0.25 ln 3 = 0.2747.
// REQUIRES: expected.size() == actual.size(), fractions >= 0, epsilon >= 0.
double Psi(std::span<const double> expected, std::span<const double> actual, double epsilon = 1e-4);

// Kolmogorov-Smirnov statistic sup_x |F_ref(x) - F_obs(x)|, exact over the observed values.
// F_obs is the empirical CDF of `sorted_values`. F_ref is the CDF whose quantile function
// goes linearly through the reference's k quantiles (k = 101: q_p at level p / 100):
// with p the largest index such that q_p <= x,
//   F_ref(x) = 0 below q_0; 1 from q_{k-1} on; else (p + (x - q_p) / (q_{p+1} - q_p)) / (k-1).
// Repeated quantiles (a discrete feature) make F_ref jump there, as the true CDF does; a
// segment with an infinite end is flat. E.g. quantiles q_p = p (0..100) and observed
// {10, 20, 30, 40}: F_ref(40) = 0.4 where F_obs(40) = 1, so KS = 0.6. With a constant
// reference c and observed {c, c, c + 1}: KS = 1/3 (F_ref(c) = 1, F_obs(c) = 2/3).
// NaN when ref.quantiles or sorted_values is empty.
// REQUIRES: !ref.categorical, sorted_values ascending without NaN.
double KsStatistic(const FeatureReference& ref, std::span<const double> sorted_values);

// Jensen-Shannon divergence with base-2 logarithms, in [0, 1]: 0 for identical
// distributions, 1 for disjoint ones, symmetric in p and q. Each input is normalized by its
// sum first (so counts do as well as fractions); m = (p + q) / 2 and
//   JS = 1/2 sum p_i log2(p_i / m_i) + 1/2 sum q_i log2(q_i / m_i),  0 log 0 = 0.
// E.g. p = {1, 0}, q = {0.5, 0.5}: m = {0.75, 0.25}, JS = 0.5 (0.4150 + 0.2075) = 0.3113.
// NaN when either sums to 0. REQUIRES: p.size() == q.size(), entries >= 0.
double JensenShannon(std::span<const double> p, std::span<const double> q);

}  // namespace vigil
