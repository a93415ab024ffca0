#include "monitoring/drift.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "training/reference.h"

namespace vigil {
namespace drift_test {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Draws whose sequence is fixed by the seed on every platform (the std:: distributions
// are implementation-defined): SplitMix64, Box-Muller, Knuth's Poisson, inverse CDF.
class Draws {
 public:
  explicit Draws(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  double Uniform() { return (static_cast<double>(Next() >> 11) + 0.5) / 9007199254740992.0; }  // (0, 1)
  double Normal() {
    return std::sqrt(-2 * std::log(Uniform())) * std::cos(2 * 3.14159265358979323846 * Uniform());
  }
  double LogNormal() { return std::exp(Normal()); }
  double Poisson(double lambda) {
    const double limit = std::exp(-lambda);
    double k = 0;
    for (double p = Uniform(); p > limit; p *= Uniform()) ++k;
    return k;
  }
  double Code(const std::vector<double>& probabilities) {
    double u = Uniform();
    for (size_t i = 0; i + 1 < probabilities.size(); ++i) {
      if (u < probabilities[i]) return static_cast<double>(i);
      u -= probabilities[i];
    }
    return static_cast<double>(probabilities.size() - 1);
  }
  // Each value is NaN with probability `missing`, else draw().
  template <typename F>
  std::vector<double> Values(size_t n, double missing, F draw) {
    std::vector<double> out;
    out.reserve(n);
    for (size_t i = 0; i < n; ++i) out.push_back(Uniform() < missing ? kNaN : draw());
    return out;
  }

 private:
  uint64_t state_;
};

FeatureWindow WindowOf(const FeatureReference& ref, const std::vector<double>& values,
                       std::span<const std::string> vocabulary = {}) {
  FeatureWindow w(ref, vocabulary);
  for (double v : values) w.Add(v);
  return w;
}

DriftResult Compare(const FeatureReference& ref, const FeatureWindow& window, const DriftThresholds& t = {}) {
  Result<DriftResult> r = CompareToReference(ref, window, t);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : DriftResult{};
}

std::string Describe(const DriftResult& r) { return r.ToJson(); }

// ---- Psi, JensenShannon, KsStatistic by hand ----

TEST(PsiTest, HandComputed) {
  const std::vector<double> e = {0.5, 0.5};
  const std::vector<double> a = {0.25, 0.75};
  EXPECT_NEAR(Psi(e, a, 0), 0.25 * std::log(3.0), 1e-12);
  EXPECT_NEAR(Psi(a, e, 0), 0.25 * std::log(3.0), 1e-12);  // symmetric
  EXPECT_EQ(Psi(e, e), 0.0);
  // The header's worked example: 0.1732 + 0 + 0.0705 + 0.6909.
  EXPECT_NEAR(Psi(std::vector<double>{0.5, 0.25, 0.25, 0}, std::vector<double>{0.25, 0.25, 0.4, 0.1}),
              0.9345903397637856, 1e-12);
}

TEST(PsiTest, EmptyBinIsSmoothedOnlyWithEpsilon) {
  const std::vector<double> e = {1, 0};
  const std::vector<double> a = {0.5, 0.5};
  EXPECT_EQ(Psi(e, a, 0), kInf);
  const double psi = Psi(e, a, 1e-4);
  EXPECT_TRUE(std::isfinite(psi));
  EXPECT_NEAR(psi, -0.5 * std::log(0.5001 / 1.0001) + 0.5 * std::log(0.5001 / 0.0001), 1e-12);
  // Both empty: nothing, also without smoothing.
  EXPECT_EQ(Psi(std::vector<double>{1, 0}, std::vector<double>{1, 0}, 0), 0.0);
}

TEST(JensenShannonTest, HandComputedSymmetricAndBounded) {
  const std::vector<double> p = {1, 0};
  const std::vector<double> q = {0.5, 0.5};
  const double expected =
      0.5 * (std::log2(1 / 0.75) + 0.5 * std::log2(0.5 / 0.75) + 0.5 * std::log2(0.5 / 0.25));
  EXPECT_NEAR(expected, 0.311278, 1e-6);
  EXPECT_NEAR(JensenShannon(p, q), expected, 1e-12);
  EXPECT_NEAR(JensenShannon(q, p), expected, 1e-12);
  // Counts are normalized: {2, 0} vs {7, 7} is the same pair of distributions.
  EXPECT_NEAR(JensenShannon(std::vector<double>{2, 0}, std::vector<double>{7, 7}), expected, 1e-12);

  const std::vector<double> r = {0.2, 0.3, 0.5};
  const std::vector<double> s = {0.5, 0.4, 0.1};
  EXPECT_EQ(JensenShannon(r, r), 0.0);
  EXPECT_NEAR(JensenShannon(r, s), JensenShannon(s, r), 1e-15);
  EXPECT_GT(JensenShannon(r, s), 0.05);
  EXPECT_LT(JensenShannon(r, s), 1.0);
  EXPECT_NEAR(JensenShannon(std::vector<double>{0.5, 0.5, 0, 0}, std::vector<double>{0, 0, 0.3, 0.7}), 1.0,
              1e-12);
  EXPECT_TRUE(std::isnan(JensenShannon(std::vector<double>{0, 0}, std::vector<double>{1, 0})));
}

FeatureReference ReferenceOf(std::vector<double> quantiles) {
  FeatureReference ref;
  ref.name = "x";
  ref.count = 1000;
  ref.quantiles = std::move(quantiles);
  return ref;
}

TEST(KsStatisticTest, HandComputed) {
  std::vector<double> q(101);
  std::iota(q.begin(), q.end(), 0.0);  // q_p = p: uniform on [0, 100]
  const FeatureReference ref = ReferenceOf(q);
  EXPECT_NEAR(KsStatistic(ref, std::vector<double>{10, 20, 30, 40}), 0.6, 1e-12);  // at 40: 1 - 0.4
  EXPECT_NEAR(KsStatistic(ref, std::vector<double>{25, 75}), 0.25, 1e-12);
  EXPECT_NEAR(KsStatistic(ref, std::vector<double>{50}), 0.5, 1e-12);
  EXPECT_NEAR(KsStatistic(ref, std::vector<double>{-5}), 1.0, 1e-12);  // below q_0
  // Between knots F_ref interpolates: 12.5 -> 0.125; observed {12.5, 87.5}: max(0.375, 0.375).
  EXPECT_NEAR(KsStatistic(ref, std::vector<double>{12.5, 87.5}), 0.375, 1e-12);
  EXPECT_TRUE(std::isnan(KsStatistic(ref, std::vector<double>{})));
  EXPECT_TRUE(std::isnan(KsStatistic(ReferenceOf({}), std::vector<double>{1})));
}

TEST(KsStatisticTest, RepeatedQuantilesAreJumps) {
  // Constant 5: F_ref jumps from 0 to 1 at 5. Observed {5, 5, 6}: F_obs(5) = 2/3.
  EXPECT_NEAR(KsStatistic(ReferenceOf(std::vector<double>(101, 5.0)), std::vector<double>{5, 5, 6}), 1.0 / 3,
              1e-12);
  EXPECT_NEAR(KsStatistic(ReferenceOf(std::vector<double>(101, 5.0)), std::vector<double>{5, 5, 5}), 0.0,
              1e-12);
  // Half 0, half 1 (q0..q49 = 0, q50..q100 = 1): F_ref(0) = 0.49, F_ref(1) = 1. Observed {0, 1}:
  // at 0, |0.49 - 0.5|; just below 1, |F_ref(1-) - 0.5| = |0.50 - 0.5|; at 1, 0.
  std::vector<double> q(101, 1.0);
  std::fill(q.begin(), q.begin() + 50, 0.0);
  EXPECT_NEAR(KsStatistic(ReferenceOf(q), std::vector<double>{0, 1}), 0.01, 1e-12);
  // Infinite quantiles make flat segments, not NaN.
  std::vector<double> inf_q(101);
  std::iota(inf_q.begin(), inf_q.end(), 0.0);
  inf_q[0] = -kInf;
  inf_q[100] = kInf;
  const double ks = KsStatistic(ReferenceOf(inf_q), std::vector<double>{-kInf, 0.5, 50, 99.5, kInf});
  EXPECT_TRUE(std::isfinite(ks));
  // At 0.5: F_ref = 0 (flat from -inf to q_1 = 1), F_obs = 0.4.
  EXPECT_NEAR(ks, 0.4, 1e-12);
}

// x = Q_ref(u): the reference's own quantile function, linear between the quantiles.
double RefQuantile(const std::vector<double>& q, double u) {
  const double pos = u * static_cast<double>(q.size() - 1);
  const size_t p = std::min(static_cast<size_t>(pos), q.size() - 2);
  return q[p] + (pos - static_cast<double>(p)) * (q[p + 1] - q[p]);
}

TEST(KsStatisticTest, SampleFromTheReferencesOwnQuantileFunctionIsNearZero) {
  Draws draws(7);
  const FeatureReference ref =
      NumericReference("x", draws.Values(50000, 0, [&] { return draws.LogNormal(); }));
  const size_t n = 1000;
  std::vector<double> own;
  for (size_t i = 0; i < n; ++i)
    own.push_back(RefQuantile(ref.quantiles, (static_cast<double>(i) + 0.5) / n));
  // F_ref(x_i) = (i + 0.5) / n against F_obs = (i + 1) / n and i / n on either side.
  const double ks = KsStatistic(ref, own);
  EXPECT_GT(ks, 0.0);
  EXPECT_LE(ks, 0.5 / n + 1e-9);

  // Shifted past the reference's whole range: every observed value is above q100.
  const double range = ref.quantiles.back() - ref.quantiles.front();
  std::vector<double> shifted = own;
  for (double& x : shifted) x += range;
  EXPECT_GE(KsStatistic(ref, shifted), 0.999);
  // Shifted by a median: far, but not all the way.
  std::vector<double> half = own;
  for (double& x : half) x += ref.quantiles[50];
  EXPECT_GT(KsStatistic(ref, half), 0.3);
  EXPECT_LT(KsStatistic(ref, half), 0.99);
}

// ---- FeatureWindow ----

TEST(FeatureWindowTest, HeaderWorkedExample) {
  FeatureReference ref;
  ref.name = "amount";
  ref.count = 1000;
  ref.bin_edges = {1, 2};
  ref.bin_fractions = {0.5, 0.25, 0.25};
  FeatureWindow w(ref);
  for (int i = 0; i < 49; ++i) w.Add(0.5);
  w.Add(1.0);  // an edge is in the lower bin
  for (int i = 0; i < 49; ++i) w.Add(1.5);
  w.Add(2.0);
  for (int i = 0; i < 79; ++i) w.Add(3);
  w.Add(kInf);
  for (int i = 0; i < 20; ++i) w.Add(kNaN);
  EXPECT_EQ(w.count(), 200);
  EXPECT_EQ(w.missing(), 20);
  EXPECT_EQ(std::vector<int64_t>(w.slot_counts().begin(), w.slot_counts().end()),
            (std::vector<int64_t>{50, 50, 80, 20}));
  EXPECT_EQ(ReferenceSlotFractions(ref), (std::vector<double>{0.5, 0.25, 0.25, 0}));
  EXPECT_EQ(w.sample().size(), 180u);
  const DriftResult r = Compare(ref, w);
  EXPECT_NEAR(r.psi, 0.9345903397637856, 1e-12);
  EXPECT_TRUE(std::isnan(r.ks));  // this hand-made reference has no quantiles
  EXPECT_TRUE(std::isnan(r.js));
  EXPECT_EQ(r.missing_rate_ref, 0.0);
  EXPECT_EQ(r.missing_rate, 0.1);
  EXPECT_EQ(r.level, DriftLevel::kAlert);
}

TEST(FeatureWindowTest, ReferenceMissingRateScalesTheBins) {
  FeatureReference ref;
  ref.name = "x";
  ref.count = 200;
  ref.missing = 50;
  ref.bin_edges = {0};
  ref.bin_fractions = {0.4, 0.6};
  const std::vector<double> f = ReferenceSlotFractions(ref);
  ASSERT_EQ(f.size(), 3u);
  EXPECT_NEAR(f[0], 0.3, 1e-15);
  EXPECT_NEAR(f[1], 0.45, 1e-15);
  EXPECT_NEAR(f[2], 0.25, 1e-15);
}

TEST(FeatureWindowTest, CategoricalCodesNamesAndOther) {
  const std::vector<std::string> vocabulary = {"a", "b", "c", "z"};
  // The reference never saw "z" (code 3) and lists no kOtherCategory.
  const FeatureReference ref =
      CategoricalReference("country", std::vector<double>{0, 0, 1, 2, kNaN}, vocabulary);
  ASSERT_EQ(ref.categories.size(), 3u);  // a, b, c
  FeatureWindow by_code(ref, vocabulary);
  FeatureWindow by_name(ref, vocabulary);
  for (double code : {0.0, 1.0, 2.0, 3.0, 4.0, -1.0, 0.5, kNaN}) by_code.Add(code);
  for (const char* name : {"a", "b", "c", "z", "unknown", "", kOtherCategory}) by_name.AddCategory(name);
  by_name.Add(kNaN);
  // Slots: a, b, c, kOtherCategory (added, reference 0), missing.
  const std::vector<int64_t> expected = {1, 1, 1, 4, 1};
  EXPECT_EQ(std::vector<int64_t>(by_code.slot_counts().begin(), by_code.slot_counts().end()), expected);
  EXPECT_EQ(std::vector<int64_t>(by_name.slot_counts().begin(), by_name.slot_counts().end()), expected);
  EXPECT_TRUE(by_code.sample().empty());
  const std::vector<double> ref_fractions = ReferenceSlotFractions(ref);
  ASSERT_EQ(ref_fractions.size(), 5u);
  EXPECT_NEAR(ref_fractions[0], 0.4, 1e-15);  // a: 2 of 4 present, times 4/5 present
  EXPECT_EQ(ref_fractions[3], 0.0);
  EXPECT_NEAR(ref_fractions[4], 0.2, 1e-15);
  // Without a vocabulary every code is kOtherCategory.
  FeatureWindow blind(ref);
  blind.Add(0);
  EXPECT_EQ(blind.slot_counts()[3], 1);
}

TEST(FeatureWindowTest, ReservoirIsBoundedUniformAndDeterministic) {
  Draws draws(11);
  const FeatureReference ref = NumericReference("x", draws.Values(50000, 0, [&] { return draws.Normal(); }));
  FeatureWindowOptions options;
  options.sample_capacity = 1000;
  FeatureWindow a(ref, {}, options);
  FeatureWindow b(ref, {}, options);
  for (int i = 0; i < 100000; ++i) {
    const double v = draws.Normal();
    a.Add(v);
    b.Add(v);
  }
  EXPECT_EQ(a.count(), 100000);
  ASSERT_EQ(a.sample().size(), 1000u);
  EXPECT_TRUE(std::equal(a.sample().begin(), a.sample().end(), b.sample().begin(), b.sample().end()));
  const int64_t total = std::accumulate(a.slot_counts().begin(), a.slot_counts().end(), int64_t{0});
  EXPECT_EQ(total, 100000);  // the bins count every value, not the sample
  const DriftResult r = Compare(ref, a);
  EXPECT_LT(r.ks, 0.06);
  EXPECT_EQ(r.level, DriftLevel::kNone) << Describe(r);

  // Values 0, 1, ..., 99999 in order: a uniform sample has mean about 50000, the first
  // 1000 values would have 499.5.
  FeatureWindow ordered(ref, {}, options);
  for (int i = 0; i < 100000; ++i) ordered.Add(i);
  const double mean = std::accumulate(ordered.sample().begin(), ordered.sample().end(), 0.0) / 1000;
  EXPECT_NEAR(mean, 50000, 3000);
}

// ---- Stationarity: fresh draws from the reference's distribution do not drift ----

struct Source {
  const char* name;
  std::vector<std::string> vocabulary;  // categorical when not empty
  double missing;
  std::function<double(Draws&)> draw;
};

std::vector<Source> Sources() {
  const std::vector<double> mix = {0.45, 0.25, 0.15, 0.1, 0.05};
  return {
      {"lognormal", {}, 0.01, [](Draws& d) { return d.LogNormal(); }},
      {"poisson", {}, 0.0, [](Draws& d) { return d.Poisson(3); }},
      {"categorical", {"a", "b", "c", "d", "e"}, 0.02, [mix](Draws& d) { return d.Code(mix); }},
  };
}

FeatureReference BuildReference(const Source& s, Draws& draws, size_t n) {
  std::vector<double> values = draws.Values(n, s.missing, [&] { return s.draw(draws); });
  return s.vocabulary.empty() ? NumericReference(s.name, values)
                              : CategoricalReference(s.name, values, s.vocabulary);
}

TEST(DriftTest, StationaryWindowsDoNotDrift) {
  for (const Source& s : Sources()) {
    for (uint64_t seed : {1, 2, 3}) {
      SCOPED_TRACE(std::string(s.name) + " seed " + std::to_string(seed));
      Draws draws(seed);
      const FeatureReference ref = BuildReference(s, draws, 50000);
      const FeatureWindow w =
          WindowOf(ref, draws.Values(5000, s.missing, [&] { return s.draw(draws); }), s.vocabulary);
      const DriftResult r = Compare(ref, w);
      EXPECT_EQ(r.level, DriftLevel::kNone) << Describe(r);
      EXPECT_LT(r.psi, 0.02) << Describe(r);
      if (s.vocabulary.empty()) {
        EXPECT_LT(r.ks, 0.04) << Describe(r);
        EXPECT_TRUE(std::isnan(r.js));
      } else {
        EXPECT_LT(r.js, 0.005) << Describe(r);
        EXPECT_TRUE(std::isnan(r.ks));
      }
      EXPECT_NEAR(r.missing_rate, s.missing, 0.01);
    }
  }
}

// ---- Drift ----

FeatureReference NormalReference(Draws& draws, double missing = 0) {
  return NumericReference("x", draws.Values(50000, missing, [&] { return draws.Normal(); }));
}

TEST(DriftTest, MeanShiftOfHalfAStandardDeviation) {
  Draws draws(21);
  // Gaussian: the expected decile PSI is 0.238 and KS 2 Phi(0.25) - 1 = 0.197, both just
  // under their alert thresholds: the default thresholds warn at least.
  const FeatureReference normal = NormalReference(draws);
  const DriftResult g =
      Compare(normal, WindowOf(normal, draws.Values(5000, 0, [&] { return draws.Normal() + 0.5; })));
  EXPECT_NEAR(g.psi, 0.238, 0.04) << Describe(g);
  EXPECT_NEAR(g.ks, 0.197, 0.03) << Describe(g);
  EXPECT_TRUE(g.level == DriftLevel::kWarn || g.level == DriftLevel::kAlert) << Describe(g);
  // One standard deviation: alert, with PSI above 0.25.
  const DriftResult g1 =
      Compare(normal, WindowOf(normal, draws.Values(5000, 0, [&] { return draws.Normal() + 1; })));
  EXPECT_EQ(g1.level, DriftLevel::kAlert) << Describe(g1);
  EXPECT_GT(g1.psi, 0.25);

  // Lognormal(0, 1), sd = sqrt((e - 1) e) = 2.16: half of it moves the skewed mass far.
  const FeatureReference lognormal =
      NumericReference("x", draws.Values(50000, 0, [&] { return draws.LogNormal(); }));
  const double half_sd = 0.5 * std::sqrt((std::exp(1.0) - 1) * std::exp(1.0));
  const DriftResult l = Compare(
      lognormal, WindowOf(lognormal, draws.Values(5000, 0, [&] { return draws.LogNormal() + half_sd; })));
  EXPECT_EQ(l.level, DriftLevel::kAlert) << Describe(l);
  EXPECT_GT(l.psi, 0.25);
  EXPECT_GT(l.ks, 0.2);
}

TEST(DriftTest, VarianceChange) {
  Draws draws(22);
  const FeatureReference ref = NormalReference(draws);
  // Same mean, doubled / halved sd: expected PSI 0.49 / 0.85, KS only 0.16.
  for (double scale : {2.0, 0.5}) {
    SCOPED_TRACE(scale);
    const DriftResult r =
        Compare(ref, WindowOf(ref, draws.Values(5000, 0, [&] { return scale * draws.Normal(); })));
    EXPECT_EQ(r.level, DriftLevel::kAlert) << Describe(r);
    EXPECT_GT(r.psi, 0.25) << Describe(r);
    EXPECT_LT(r.ks, 0.2) << Describe(r);  // PSI is the trigger here
  }
}

TEST(DriftTest, MissingRateJump) {
  Draws draws(23);
  const FeatureReference ref = NormalReference(draws, 0.01);
  const DriftResult same =
      Compare(ref, WindowOf(ref, draws.Values(5000, 0.01, [&] { return draws.Normal(); })));
  EXPECT_EQ(same.level, DriftLevel::kNone) << Describe(same);
  const DriftResult r = Compare(ref, WindowOf(ref, draws.Values(5000, 0.3, [&] { return draws.Normal(); })));
  EXPECT_EQ(r.level, DriftLevel::kAlert) << Describe(r);
  EXPECT_GT(r.psi, 0.25) << Describe(r);
  EXPECT_LT(r.ks, 0.05) << Describe(r);  // the present values did not move
  EXPECT_NEAR(r.missing_rate_ref, 0.01, 0.002);
  EXPECT_NEAR(r.missing_rate, 0.3, 0.02);

  // A feature never missing in training that goes missing in serving is drift too.
  const FeatureReference full = NormalReference(draws, 0);
  const DriftResult f =
      Compare(full, WindowOf(full, draws.Values(5000, 0.05, [&] { return draws.Normal(); })));
  EXPECT_EQ(f.level, DriftLevel::kAlert) << Describe(f);
}

TEST(DriftTest, CategoryMixChange) {
  Draws draws(24);
  const std::vector<std::string> vocabulary = {"a", "b", "c", "d", "e"};
  const std::vector<double> mix = {0.45, 0.25, 0.15, 0.1, 0.05};
  const FeatureReference ref =
      CategoricalReference("merchant", draws.Values(50000, 0, [&] { return draws.Code(mix); }), vocabulary);
  const std::vector<double> changed = {0.2, 0.25, 0.15, 0.1, 0.3};
  const DriftResult r =
      Compare(ref, WindowOf(ref, draws.Values(5000, 0, [&] { return draws.Code(changed); }), vocabulary));
  EXPECT_EQ(r.level, DriftLevel::kAlert) << Describe(r);
  EXPECT_GT(r.psi, 0.25) << Describe(r);
  EXPECT_GT(r.js, 0.05) << Describe(r);

  // A category the reference never saw: kOtherCategory, reference fraction 0.
  FeatureWindow w(ref, vocabulary);
  for (int i = 0; i < 5000; ++i) {
    if (i % 4 == 0) {
      w.AddCategory("new-merchant");
    } else {
      w.Add(draws.Code(mix));
    }
  }
  const DriftResult n = Compare(ref, w);
  EXPECT_EQ(n.level, DriftLevel::kAlert) << Describe(n);
  EXPECT_GT(n.js, 0.1) << Describe(n);
}

TEST(DriftTest, TooFewValues) {
  Draws draws(25);
  const FeatureReference ref = NormalReference(draws);
  FeatureWindow w(ref);
  DriftResult empty = Compare(ref, w);
  EXPECT_EQ(empty.level, DriftLevel::kTooFew);
  EXPECT_TRUE(std::isnan(empty.psi));
  EXPECT_TRUE(std::isnan(empty.ks));
  EXPECT_TRUE(std::isnan(empty.missing_rate));
  for (int i = 0; i < 99; ++i) w.Add(draws.Normal() + 5);  // drifted, but too few to say
  const DriftResult few = Compare(ref, w);
  EXPECT_EQ(few.level, DriftLevel::kTooFew);
  EXPECT_GT(few.psi, 0.25);  // still computed
  w.Add(draws.Normal() + 5);
  EXPECT_EQ(Compare(ref, w).level, DriftLevel::kAlert);
}

TEST(DriftTest, KsNeedsMinCountPresentValues) {
  Draws draws(26);
  const FeatureReference ref = NormalReference(draws, 0.95);
  const FeatureWindow w = WindowOf(ref, draws.Values(1000, 0.95, [&] { return draws.Normal(); }));
  ASSERT_LT(w.count() - w.missing(), 100);
  DriftThresholds t;
  t.psi_warn = t.psi_alert = 100;  // PSI out of the way
  t.ks_warn = 0.001;               // any KS would warn, if it counted
  const DriftResult r = Compare(ref, w, t);
  EXPECT_GT(r.ks, 0.001);
  EXPECT_EQ(r.level, DriftLevel::kNone) << Describe(r);
  t.min_count = 10;
  EXPECT_NE(Compare(ref, w, t).level, DriftLevel::kNone);
}

TEST(DriftTest, ConstantReferenceColumn) {
  const FeatureReference ref = NumericReference("flag", std::vector<double>(1000, 7.0));
  ASSERT_EQ(ref.bin_edges, (std::vector<double>{7}));
  ASSERT_EQ(ref.bin_fractions, (std::vector<double>{1, 0}));
  std::vector<double> values(500, 7.0);
  values.resize(1000, 8.0);
  const DriftResult r = Compare(ref, WindowOf(ref, values));
  EXPECT_NEAR(r.psi, 4.6052201834882585, 1e-9) << Describe(r);  // bins {1, 0, 0} vs {0.5, 0.5, 0}
  EXPECT_NEAR(r.ks, 0.5, 1e-12);
  EXPECT_EQ(r.level, DriftLevel::kAlert);
  for (double v : {r.psi, r.ks, r.missing_rate_ref, r.missing_rate}) EXPECT_TRUE(std::isfinite(v));
  const std::string json = r.ToJson();
  const size_t null_at = json.find("null");
  EXPECT_EQ(json.substr(null_at - 5, 9), "\"js\":null") << json;  // js only: not categorical
  EXPECT_EQ(json.find("null", null_at + 1), std::string::npos) << json;
  EXPECT_EQ(json.find("inf"), std::string::npos) << json;

  const DriftResult all_new = Compare(ref, WindowOf(ref, std::vector<double>(1000, 8.0)));
  EXPECT_NEAR(all_new.ks, 1.0, 1e-12);
  EXPECT_TRUE(std::isfinite(all_new.psi));
  EXPECT_EQ(all_new.level, DriftLevel::kAlert);
  const DriftResult same = Compare(ref, WindowOf(ref, std::vector<double>(1000, 7.0)));
  EXPECT_EQ(same.psi, 0.0);
  EXPECT_EQ(same.ks, 0.0);
  EXPECT_EQ(same.level, DriftLevel::kNone);
}

TEST(DriftTest, WindowFromAnotherReferenceIsInvalidArgument) {
  Draws draws(27);
  const FeatureReference a = NormalReference(draws);
  FeatureReference b = a;
  b.bin_edges.back() += 1;
  const FeatureWindow w(a);
  Result<DriftResult> r = CompareToReference(b, w);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsInvalidArgument());
  EXPECT_NE(r.status().message().find("'x'"), std::string::npos) << r.status().ToString();
  FeatureReference renamed = a;
  renamed.name = "y";
  EXPECT_FALSE(CompareToReference(renamed, w).ok());
  const FeatureReference c = CategoricalReference("x", std::vector<double>{0}, {"a"});
  EXPECT_FALSE(CompareToReference(c, w).ok());
  EXPECT_TRUE(CompareToReference(a, w).ok());
}

TEST(DriftResultTest, ToJson) {
  DriftResult r;
  r.feature = "amount \"usd\"";
  r.count = 5000;
  r.missing = 50;
  r.psi = 0.3;
  r.ks = 0.125;
  r.missing_rate_ref = 0.01;
  r.missing_rate = kInf;
  r.level = DriftLevel::kAlert;
  EXPECT_EQ(r.ToJson(),
            "{\"feature\":\"amount \\\"usd\\\"\",\"categorical\":false,\"count\":5000,\"missing\":50,"
            "\"psi\":0.3,\"ks\":0.125,\"js\":null,\"missing_rate_ref\":0.01,\"missing_rate\":\"inf\","
            "\"level\":\"alert\"}");
  EXPECT_STREQ(DriftLevelName(DriftLevel::kTooFew), "too_few");
}

// A count with few values: moving 20% of the mass from 1 to 0 is a KS of 0.2 (an alert on
// a continuous feature) but only a PSI warning here: KS does not judge step distributions.
TEST(CompareToReference, KsDoesNotJudgeACountWithFewValues) {
  std::vector<double> ref_values, window_values;
  for (int i = 0; i < 1000; ++i) ref_values.push_back(i < 300 ? 0 : i < 900 ? 1 : 2);
  for (int i = 0; i < 1000; ++i) window_values.push_back(i < 500 ? 0 : i < 900 ? 1 : 2);
  const FeatureReference ref = NumericReference("logins_1h", ref_values);
  FeatureWindow w(ref);
  for (double v : window_values) w.Add(v);
  Result<DriftResult> r = CompareToReference(ref, w, DriftThresholds{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NEAR(r->ks, 0.2, 1e-9);
  EXPECT_GT(r->psi, 0.1);
  EXPECT_LT(r->psi, 0.25);
  EXPECT_EQ(r->level, DriftLevel::kWarn);
  // The same KS on a continuous feature alerts.
  DriftThresholds strict;
  strict.min_distinct_quantiles_for_ks = 1;
  EXPECT_EQ(CompareToReference(ref, w, strict)->level, DriftLevel::kAlert);
}

}  // namespace drift_test
}  // namespace vigil
