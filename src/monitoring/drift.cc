#include "monitoring/drift.h"

#include "schema/value.h"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cmath>
#include <limits>

namespace vigil {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// SplitMix64: a small, fast generator whose sequence is fixed by its seed on every
// platform (std::mt19937_64 would do too, but the distributions over it are not portable).
uint64_t NextRandom(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// A uniform integer in [0, n) (Lemire's multiply-shift; its bias, below n / 2^64, is
// immaterial here).
uint64_t RandomBelow(uint64_t& state, uint64_t n) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(NextRandom(state)) * n) >> 64);
}

// Where x lies in the segment [a, b] of the reference's quantile function, in [0, 1]. A
// segment with an infinite end is flat (0): it has no finite length to interpolate over.
double SegmentFraction(double a, double b, double x) {
  if (x <= a) return 0;
  if (!std::isfinite(a) || !std::isfinite(b)) return 0;
  // Halved so that b - a cannot overflow for finite extremes.
  const double f = (x / 2 - a / 2) / (b / 2 - a / 2);
  if (!(f >= 0)) return 0;  // NaN included
  return std::min(f, 1.0);
}

// F_ref(x) (right-continuous) and F_ref(x-) (its left limit), see KsStatistic.
double RefCdf(std::span<const double> q, double x) {
  const size_t k = q.size();
  const size_t above = static_cast<size_t>(std::upper_bound(q.begin(), q.end(), x) - q.begin());
  if (above == 0) return 0;    // x < q_0
  if (above == k) return 1;    // x >= q_{k-1}
  const size_t p = above - 1;  // the largest p with q_p <= x; q_{p+1} > x
  return (static_cast<double>(p) + SegmentFraction(q[p], q[p + 1], x)) / static_cast<double>(k - 1);
}

double RefCdfBelow(std::span<const double> q, double x) {
  const size_t k = q.size();
  const size_t p = static_cast<size_t>(std::lower_bound(q.begin(), q.end(), x) - q.begin());
  if (p == 0) return 0;  // x <= q_0
  if (p == k) return 1;  // x > q_{k-1}
  // q_{p-1} < x <= q_p
  return (static_cast<double>(p - 1) + SegmentFraction(q[p - 1], q[p], x)) / static_cast<double>(k - 1);
}

DriftLevel LevelOf(double value, double warn, double alert) {
  if (std::isnan(value)) return DriftLevel::kNone;
  if (value >= alert) return DriftLevel::kAlert;
  if (value >= warn) return DriftLevel::kWarn;
  return DriftLevel::kNone;
}

void AppendJsonDouble(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "null";
  } else if (std::isinf(v)) {
    out += v > 0 ? "\"inf\"" : "\"-inf\"";
  } else {
    char buf[32];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);  // shortest round-trip
    assert(ec == std::errc());
    out.append(buf, end);
  }
}

}  // namespace

FeatureWindow::FeatureWindow(const FeatureReference& ref, std::span<const std::string> vocabulary,
                             const FeatureWindowOptions& options)
    : feature_(ref.name),
      categorical_(ref.categorical),
      sample_capacity_(std::max<size_t>(options.sample_capacity, 1)),
      rng_state_(options.seed) {
  size_t slots = 0;
  if (categorical_) {
    categories_.reserve(ref.categories.size());
    for (const auto& [name, fraction] : ref.categories) {
      name_slot_.emplace(name, categories_.size());
      categories_.push_back(name);
    }
    const auto other = name_slot_.find(std::string_view(kOtherCategory));
    other_slot_ = other != name_slot_.end() ? other->second : categories_.size();
    slots = categories_.size() + (other != name_slot_.end() ? 0 : 1);
    code_slot_.reserve(vocabulary.size());
    for (const std::string& name : vocabulary) {
      const auto it = name_slot_.find(name);
      code_slot_.push_back(it != name_slot_.end() ? it->second : other_slot_);
    }
  } else {
    bin_edges_ = ref.bin_edges;
    slots = bin_edges_.size() + 1;
  }
  slot_counts_.assign(slots + 1, 0);  // + the missing slot
}

void FeatureWindow::Add(double v) {
  ++count_;
  if (std::isnan(v)) {
    ++slot_counts_.back();
    return;
  }
  if (categorical_) {
    const bool is_code = v >= 0 && v < static_cast<double>(code_slot_.size()) && v == std::floor(v);
    ++slot_counts_[is_code ? code_slot_[static_cast<size_t>(v)] : other_slot_];
    return;
  }
  // As ReferenceBin: the number of edges strictly below v.
  ++slot_counts_[static_cast<size_t>(std::lower_bound(bin_edges_.begin(), bin_edges_.end(), v) -
                                     bin_edges_.begin())];
  // Algorithm R: the i-th value (0-based) replaces a random one of the capacity kept with
  // probability capacity / (i + 1), which keeps a uniform sample of all values seen.
  const uint64_t i = static_cast<uint64_t>(present_++);
  if (sample_.size() < sample_capacity_) {
    sample_.push_back(v);
  } else {
    const uint64_t j = RandomBelow(rng_state_, i + 1);
    if (j < sample_capacity_) sample_[j] = v;
  }
}

void FeatureWindow::AddCategory(std::string_view category) {
  assert(categorical_);
  ++count_;
  const auto it = name_slot_.find(category);
  ++slot_counts_[it != name_slot_.end() ? it->second : other_slot_];
}

std::vector<double> FeatureWindow::SlotFractions() const {
  std::vector<double> out(slot_counts_.size(), 0.0);
  if (count_ == 0) return out;
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<double>(slot_counts_[i]) / static_cast<double>(count_);
  }
  return out;
}

std::vector<double> ReferenceSlotFractions(const FeatureReference& ref) {
  std::vector<double> out;
  if (ref.categorical) {
    bool has_other = false;
    for (const auto& [name, fraction] : ref.categories) {
      out.push_back(fraction);
      has_other = has_other || name == kOtherCategory;
    }
    if (!has_other) out.push_back(0.0);
  } else if (ref.bin_fractions.empty()) {
    out.push_back(0.0);  // the one bin (-inf, +inf) of a reference without non-missing values
  } else {
    out = ref.bin_fractions;
  }
  if (ref.count <= 0) {
    std::fill(out.begin(), out.end(), 0.0);
    out.push_back(0.0);
    return out;
  }
  const double missing = static_cast<double>(ref.missing) / static_cast<double>(ref.count);
  for (double& f : out) f *= 1 - missing;
  out.push_back(missing);
  return out;
}

const char* DriftLevelName(DriftLevel level) {
  switch (level) {
    case DriftLevel::kNone:
      return "none";
    case DriftLevel::kWarn:
      return "warn";
    case DriftLevel::kAlert:
      return "alert";
    case DriftLevel::kTooFew:
      return "too_few";
  }
  return "unknown";
}

std::string DriftResult::ToJson() const {
  std::string out = "{\"feature\":";
  AppendJsonString(feature, &out);  // schema/value.h
  out += ",\"categorical\":";
  out += categorical ? "true" : "false";
  out += ",\"count\":" + std::to_string(count);
  out += ",\"missing\":" + std::to_string(missing);
  const std::pair<const char*, double> doubles[] = {{"psi", psi},
                                                    {"ks", ks},
                                                    {"js", js},
                                                    {"missing_rate_ref", missing_rate_ref},
                                                    {"missing_rate", missing_rate}};
  for (const auto& [name, value] : doubles) {
    out += ",\"";
    out += name;
    out += "\":";
    AppendJsonDouble(out, value);
  }
  out += ",\"level\":\"";
  out += DriftLevelName(level);
  out += "\"}";
  return out;
}

Result<DriftResult> CompareToReference(const FeatureReference& ref, const FeatureWindow& window,
                                       const DriftThresholds& thresholds) {
  const auto mismatch = [&](std::string_view what) {
    return Status::InvalidArgument("drift of feature '" + ref.name + "': the window was built from " +
                                   std::string(what) + "; build it from this reference");
  };
  if (window.feature() != ref.name) return mismatch("feature '" + window.feature() + "'");
  if (window.categorical() != ref.categorical) {
    return mismatch(window.categorical() ? "a categorical reference" : "a numeric reference");
  }
  if (ref.categorical) {
    const auto names = window.categories();
    if (names.size() != ref.categories.size() ||
        !std::equal(names.begin(), names.end(), ref.categories.begin(),
                    [](const std::string& a, const auto& b) { return a == b.first; })) {
      return mismatch("other categories");
    }
  } else {
    const auto edges = window.bin_edges();
    if (!std::equal(edges.begin(), edges.end(), ref.bin_edges.begin(), ref.bin_edges.end())) {
      return mismatch("other bin edges");
    }
  }
  if (!ref.categorical && !ref.bin_fractions.empty() &&
      ref.bin_fractions.size() != ref.bin_edges.size() + 1) {
    return Status::InvalidArgument("drift of feature '" + ref.name +
                                   "': reference has bin_fractions.size() != bin_edges.size() + 1");
  }
  const std::vector<double> expected = ReferenceSlotFractions(ref);
  const std::vector<double> actual = window.SlotFractions();
  assert(expected.size() == actual.size());

  DriftResult r;
  r.feature = ref.name;
  r.categorical = ref.categorical;
  r.count = window.count();
  r.missing = window.missing();
  if (ref.count > 0) r.missing_rate_ref = static_cast<double>(ref.missing) / static_cast<double>(ref.count);
  if (r.count > 0) r.missing_rate = static_cast<double>(r.missing) / static_cast<double>(r.count);
  const bool both_have_values = ref.count > 0 && r.count > 0;
  if (both_have_values) {
    r.psi = Psi(expected, actual);
    if (ref.categorical) {
      r.js = JensenShannon(expected, actual);
    } else {
      std::vector<double> sorted(window.sample().begin(), window.sample().end());
      std::sort(sorted.begin(), sorted.end());
      r.ks = KsStatistic(ref, sorted);
    }
  }
  if (r.count < std::max<int64_t>(1, thresholds.min_count)) {
    r.level = DriftLevel::kTooFew;
    return r;
  }
  r.level = LevelOf(r.psi, thresholds.psi_warn, thresholds.psi_alert);
  const auto distinct_quantiles = [&] {
    int n = 0;
    for (size_t i = 0; i < ref.quantiles.size(); ++i) n += i == 0 || ref.quantiles[i] != ref.quantiles[i - 1];
    return n;
  };
  if (r.count - r.missing >= thresholds.min_count && distinct_quantiles() >= thresholds.min_distinct_quantiles_for_ks) {
    r.level = std::max(r.level, LevelOf(r.ks, thresholds.ks_warn, thresholds.ks_alert));
  }
  r.level = std::max(r.level, LevelOf(r.js, thresholds.js_warn, thresholds.js_alert));
  return r;
}

double Psi(std::span<const double> expected, std::span<const double> actual, double epsilon) {
  assert(expected.size() == actual.size());
  double psi = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    const double e = expected[i];
    const double a = actual[i];
    if (a == e) continue;  // exactly 0, also when both are 0 and epsilon is 0
    psi += (a - e) * std::log((a + epsilon) / (e + epsilon));
  }
  return psi;
}

double KsStatistic(const FeatureReference& ref, std::span<const double> sorted_values) {
  assert(!ref.categorical);
  assert(std::is_sorted(sorted_values.begin(), sorted_values.end()));
  const std::span<const double> q = ref.quantiles;
  if (q.empty() || sorted_values.empty()) return kNaN;
  const auto cdf = [&](double x) { return q.size() == 1 ? (x >= q[0] ? 1.0 : 0.0) : RefCdf(q, x); };
  const auto cdf_below = [&](double x) { return q.size() == 1 ? (x > q[0] ? 1.0 : 0.0) : RefCdfBelow(q, x); };
  // F_obs is constant between consecutive distinct observed values and F_ref is monotone,
  // so the supremum is at an observed value x, either at x (F_obs(x), F_ref(x)) or just
  // below it (F_obs(x-), F_ref(x-)); beyond the last value both tend to 1 from there.
  const double n = static_cast<double>(sorted_values.size());
  double d = 0;
  size_t i = 0;
  while (i < sorted_values.size()) {
    const double x = sorted_values[i];
    size_t j = i;
    while (j < sorted_values.size() && sorted_values[j] == x) ++j;
    d = std::max(d, std::abs(cdf(x) - static_cast<double>(j) / n));
    d = std::max(d, std::abs(cdf_below(x) - static_cast<double>(i) / n));
    i = j;
  }
  return d;
}

double JensenShannon(std::span<const double> p, std::span<const double> q) {
  assert(p.size() == q.size());
  double sp = 0;
  double sq = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    sp += p[i];
    sq += q[i];
  }
  if (!(sp > 0) || !(sq > 0)) return kNaN;
  double js = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    const double pi = p[i] / sp;
    const double qi = q[i] / sq;
    const double m = (pi + qi) / 2;
    if (pi > 0) js += pi * std::log2(pi / m);
    if (qi > 0) js += qi * std::log2(qi / m);
  }
  return std::clamp(js / 2, 0.0, 1.0);
}

}  // namespace vigil
