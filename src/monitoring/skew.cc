#include "monitoring/skew.h"

#include <cmath>
#include <limits>
#include <set>

#include "training/model_input.h"

namespace vigil {

using json = nlohmann::json;

namespace {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

bool SameFloat(float a, float b) { return a == b || (std::isnan(a) && std::isnan(b)); }

json FloatJson(float f) { return std::isnan(f) ? json(nullptr) : json(static_cast<double>(f)); }

// A key value as the label table's text cell: strings as they are, integers in decimal.
std::string KeyCell(const json& keys, const std::string& name) {
  if (!keys.is_object()) return "";
  auto it = keys.find(name);
  if (it == keys.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return std::to_string(it->get<int64_t>());
  return "";
}

}  // namespace

Status SkewSampler::Add(std::string_view payload) {
  // The record without its keys and request decides whether it is kept (and whether it is
  // a record at all); only a kept one is read whole.
  VIGIL_ASSIGN_OR_RETURN(ServedRecord rec, ParseServedRecord(payload, ServedParts::kHeaderAndFeatures));
  Reservoir& r = reservoirs_[{rec.model, rec.version}];
  // Algorithm R: record n is kept while there is room, then replaces a kept one with
  // probability per_version / (n + 1).
  const int64_t n = r.seen;
  size_t at = r.kept.size();
  if (r.kept.size() >= per_version_) {
    at = SplitMix64(seed_ ^ SplitMix64(static_cast<uint64_t>(n))) % static_cast<uint64_t>(n + 1);
    if (at >= per_version_) {
      ++r.seen;
      return Status::OK();
    }
  }
  VIGIL_ASSIGN_OR_RETURN(rec, ParseServedRecord(payload, ServedParts::kAll));
  ++r.seen;
  if (at == r.kept.size()) {
    r.kept.emplace_back(n, std::move(rec));
  } else {
    r.kept[at] = {n, std::move(rec)};
  }
  return Status::OK();
}

std::map<std::pair<std::string, int>, std::vector<ServedRecord>> SkewSampler::Take() {
  std::map<std::pair<std::string, int>, std::vector<ServedRecord>> out;
  for (auto& [key, r] : reservoirs_) {
    std::sort(r.kept.begin(), r.kept.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    auto& v = out[key];
    for (auto& [pos, rec] : r.kept) v.push_back(std::move(rec));
  }
  reservoirs_.clear();
  return out;
}

std::string SkewReport::ToJson() const {
  json feats = json::array();
  for (const auto& f : features) {
    feats.push_back({{"feature", f.feature}, {"compared", f.compared}, {"mismatches", f.mismatches}, {"rate", f.rate()}});
  }
  json ex = json::array();
  for (const auto& e : examples) {
    ex.push_back({{"id", e.id},
                  {"keys", json::parse(e.keys, nullptr, false)},
                  {"ts", e.ts},
                  {"feature", e.feature},
                  {"served", FloatJson(e.served)},
                  {"offline", FloatJson(e.offline)}});
  }
  return json({{"ts", checked_at},
               {"model", model},
               {"version", version},
               {"from", from},
               {"to", to},
               {"sampled", sampled},
               {"mismatched_rows", mismatched_rows},
               {"mismatch_rate", mismatch_rate()},
               {"features", std::move(feats)},
               {"examples", std::move(ex)}})
      .dump();
}

Result<SkewReport> CheckSkew(const Definitions& defs, Log* log, const std::string& model, int version,
                             const FeatureLayout& layout, const std::vector<ServedRecord>& records,
                             const SkewOptions& options) {
  VIGIL_ASSIGN_OR_RETURN(auto builder, layout.Bind(defs));
  SkewReport report;
  report.model = model;
  report.version = version;
  report.checked_at = WallClockMs();
  for (const auto& c : layout.columns()) report.features.push_back({c.name, 0, 0});
  if (records.empty()) return report;

  // The records as labels of a point-in-time join: the views' entity keys, and ts.
  std::vector<const FeatureViewDef*> views;
  std::vector<std::string> key_names;
  std::set<std::string> seen_keys;
  for (const auto& name : layout.views()) {
    const FeatureViewDef* v = defs.FindView(name);
    if (!v) return Status::InvalidArgument("model " + model + " v" + std::to_string(version) + " reads view '" + name + "', which is gone");
    views.push_back(v);
    for (const auto& k : defs.FindEntity(v->entity)->keys) {
      if (seen_keys.insert(k).second) key_names.push_back(k);
    }
  }
  LabelTable labels;
  labels.path = "serving log";
  labels.header = key_names;
  report.from = records.front().ts;
  report.to = records.front().ts;
  for (const auto& r : records) {
    if (r.features.size() != builder->size()) {
      return Status::InvalidArgument("a serving log record of " + model + " v" + std::to_string(version) + " has " +
                                     std::to_string(r.features.size()) + " features; its layout has " +
                                     std::to_string(builder->size()));
    }
    std::vector<std::string> cells;
    for (const auto& k : key_names) cells.push_back(KeyCell(r.keys, k));
    labels.AddRow(cells, r.ts);
    report.from = std::min(report.from, r.ts);
    report.to = std::max(report.to, r.ts);
  }
  DatasetStats stats;
  VIGIL_ASSIGN_OR_RETURN(auto tuples,
                         JoinPointInTime(defs, log, options.offline_dir, labels, views, options.join, &stats));

  const Schema& request_schema = builder->layout().request();
  std::vector<float> offline(builder->size());
  for (size_t i = 0; i < records.size(); ++i) {
    const ServedRecord& r = records[i];
    Row request(request_schema.size());
    bool request_ok = true;
    for (size_t f = 0; f < request_schema.size(); ++f) {
      const Field& field = request_schema.field(f);
      if (!r.request.is_object() || !r.request.contains(field.name)) continue;
      auto v = RequestValueFromJson(field, r.request[field.name]);
      if (!v.ok()) {
        request_ok = false;
        break;
      }
      request[f] = std::move(v).value();
    }
    bool row_mismatch = false;
    if (!request_ok) {
      std::fill(offline.begin(), offline.end(), std::numeric_limits<float>::quiet_NaN());
    } else {
      std::vector<const Row*> view_rows;
      for (size_t v = 0; v < views.size(); ++v) view_rows.push_back(tuples[v][i].empty() ? nullptr : &tuples[v][i]);
      builder->Build(AssembleInput(defs, *builder, request, view_rows), offline.data());
    }
    for (size_t c = 0; c < offline.size(); ++c) {
      FeatureSkew& fs = report.features[c];
      ++fs.compared;
      if (request_ok && SameFloat(r.features[c], offline[c])) continue;
      ++fs.mismatches;
      row_mismatch = true;
      if (report.examples.size() < options.max_examples) {
        report.examples.push_back({r.id, r.keys.dump(), r.ts, fs.feature, r.features[c], offline[c]});
      }
    }
    ++report.sampled;
    report.mismatched_rows += row_mismatch;
  }
  return report;
}

}  // namespace vigil
