#include "training/reference.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "training/json_numbers.h"

namespace vigil {

namespace {

using Json = nlohmann::json;

Json DoublesToJson(const std::vector<double>& values) {
  Json a = Json::array();
  for (double v : values) a.push_back(DoubleToJson(v));
  return a;
}

std::vector<double> DoublesFromJson(const Json& a, const std::string& where) {
  if (!a.is_array()) throw std::invalid_argument(where + ": want an array");
  std::vector<double> out;
  out.reserve(a.size());
  for (const Json& v : a) out.push_back(DoubleFromJson(v, where));
  return out;
}

}  // namespace

FeatureReference NumericReference(std::string name, std::span<const double> values) {
  FeatureReference ref;
  ref.name = std::move(name);
  ref.count = static_cast<int64_t>(values.size());
  std::vector<double> sorted;
  sorted.reserve(values.size());
  for (double v : values) {
    if (std::isnan(v)) {
      ++ref.missing;
    } else {
      sorted.push_back(v);
    }
  }
  if (sorted.empty()) return ref;
  std::sort(sorted.begin(), sorted.end());
  const uint64_t last = sorted.size() - 1;
  ref.quantiles.resize(101);
  for (uint64_t p = 0; p <= 100; ++p) ref.quantiles[p] = sorted[p * last / 100];  // floor(p/100 * (n-1))
  for (int p = 10; p <= 90; p += 10) {
    const double q = ref.quantiles[static_cast<size_t>(p)];
    if (ref.bin_edges.empty() || ref.bin_edges.back() != q) ref.bin_edges.push_back(q);
  }
  std::vector<int64_t> counts(ref.bin_edges.size() + 1, 0);
  for (double v : sorted) ++counts[ReferenceBin(ref, v)];
  ref.bin_fractions.reserve(counts.size());
  for (int64_t c : counts) {
    ref.bin_fractions.push_back(static_cast<double>(c) / static_cast<double>(sorted.size()));
  }
  return ref;
}

FeatureReference CategoricalReference(std::string name, std::span<const double> codes,
                                      const std::vector<std::string>& vocabulary) {
  FeatureReference ref;
  ref.name = std::move(name);
  ref.categorical = true;
  ref.count = static_cast<int64_t>(codes.size());
  std::vector<int64_t> counts(vocabulary.size(), 0);
  int64_t other = 0;
  for (double c : codes) {
    if (std::isnan(c)) {
      ++ref.missing;
    } else if (c >= 0 && c < static_cast<double>(vocabulary.size()) && c == std::floor(c) &&
               vocabulary[static_cast<size_t>(c)] != kOtherCategory) {
      ++counts[static_cast<size_t>(c)];
    } else {
      ++other;
    }
  }
  const int64_t present = ref.count - ref.missing;
  if (present == 0) return ref;
  // Vocabulary entries may repeat a name: their counts add up under that name.
  std::map<std::string, int64_t> by_name;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] > 0) by_name[vocabulary[i]] += counts[i];
  }
  std::vector<std::pair<std::string, int64_t>> ranked(by_name.begin(), by_name.end());
  // Most frequent first; ties by name (the map's order, kept by stable_sort).
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  for (size_t i = kMaxReferenceCategories; i < ranked.size(); ++i) other += ranked[i].second;
  if (ranked.size() > kMaxReferenceCategories) ranked.resize(kMaxReferenceCategories);
  const auto fraction = [&](int64_t n) { return static_cast<double>(n) / static_cast<double>(present); };
  for (auto& [category, n] : ranked) ref.categories.emplace_back(std::move(category), fraction(n));
  if (other > 0) ref.categories.emplace_back(kOtherCategory, fraction(other));
  return ref;
}

size_t ReferenceBin(const FeatureReference& ref, double v) {
  assert(!ref.categorical && !std::isnan(v));
  return static_cast<size_t>(std::lower_bound(ref.bin_edges.begin(), ref.bin_edges.end(), v) -
                             ref.bin_edges.begin());
}

std::string ReferencesToJson(const std::vector<FeatureReference>& refs) {
  Json out = Json::array();
  for (const FeatureReference& r : refs) {
    Json categories = Json::array();
    for (const auto& [category, fraction] : r.categories) {
      categories.push_back(Json::array({category, DoubleToJson(fraction)}));
    }
    out.push_back({{"name", r.name},
                   {"categorical", r.categorical},
                   {"count", r.count},
                   {"missing", r.missing},
                   {"quantiles", DoublesToJson(r.quantiles)},
                   {"bin_edges", DoublesToJson(r.bin_edges)},
                   {"bin_fractions", DoublesToJson(r.bin_fractions)},
                   {"categories", std::move(categories)}});
  }
  return out.dump() + "\n";
}

Result<std::vector<FeatureReference>> ReferencesFromJson(std::string_view json) {
  Json j = Json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_array()) {
    return Status::Corruption("feature references: not a JSON array");
  }
  std::vector<FeatureReference> out;
  for (size_t i = 0; i < j.size(); ++i) {
    const Json& f = j[i];
    std::string where = "feature references[" + std::to_string(i) + "]";
    try {
      if (!f.is_object()) throw std::invalid_argument("want an object");
      FeatureReference r;
      r.name = f.at("name").get<std::string>();
      where += " (" + r.name + ")";
      r.categorical = f.at("categorical").get<bool>();
      r.count = f.at("count").get<int64_t>();
      r.missing = f.at("missing").get<int64_t>();
      r.quantiles = DoublesFromJson(f.at("quantiles"), "quantiles");
      r.bin_edges = DoublesFromJson(f.at("bin_edges"), "bin_edges");
      r.bin_fractions = DoublesFromJson(f.at("bin_fractions"), "bin_fractions");
      const Json& categories = f.at("categories");
      if (!categories.is_array()) throw std::invalid_argument("categories: want an array");
      for (const Json& c : categories) {
        if (!c.is_array() || c.size() != 2 || !c[0].is_string()) {
          throw std::invalid_argument("categories: want [name, fraction] pairs, got " + c.dump());
        }
        r.categories.emplace_back(c[0].get<std::string>(), DoubleFromJson(c[1], "categories"));
      }
      if (!r.categorical && !r.bin_fractions.empty() && r.bin_fractions.size() != r.bin_edges.size() + 1) {
        throw std::invalid_argument("bin_fractions: want one more than bin_edges");
      }
      out.push_back(std::move(r));
    } catch (const std::exception& e) {
      return Status::Corruption(where + ": " + e.what());
    }
  }
  return out;
}

}  // namespace vigil
