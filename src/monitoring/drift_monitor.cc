#include "monitoring/drift_monitor.h"

#include <cmath>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>

#include "monitoring/skew.h"
#include "training/json_numbers.h"

namespace vigil {
namespace {

using json = nlohmann::json;

// The worst judged level: kTooFew counts as none.
DriftLevel Worse(DriftLevel a, DriftLevel b) {
  auto rank = [](DriftLevel l) { return l == DriftLevel::kAlert ? 2 : l == DriftLevel::kWarn ? 1 : 0; };
  return rank(a) >= rank(b) ? (a == DriftLevel::kTooFew ? DriftLevel::kNone : a)
                            : (b == DriftLevel::kTooFew ? DriftLevel::kNone : b);
}

}  // namespace

struct DriftMonitor::Open {
  std::string model;
  int version = 0;
  TimestampMs from = 0;
  int64_t requests = 0;
  std::vector<int> column_of;          // window index -> vector column (-1: the score)
  std::vector<FeatureWindow> windows;  // one per referenced column, then the score
  std::vector<const FeatureReference*> refs;
};

std::string DriftWindowReport::ToJson() const {
  json j = {{"model", model}, {"version", version},   {"from", from},
            {"to", to},       {"requests", requests}, {"level", DriftLevelName(level)}};
  json rs = json::array();
  for (const auto& r : results) rs.push_back(json::parse(r.ToJson()));
  j["results"] = std::move(rs);
  return j.dump();
}

std::string AlertChange::ToJson() const {
  return json({{"at", at},
               {"model", model},
               {"version", version},
               {"feature", feature},
               {"from", DriftLevelName(from)},
               {"to", DriftLevelName(to)},
               {"psi", FiniteOrNull(psi)},
               {"ks", FiniteOrNull(ks)},
               {"js", FiniteOrNull(js)}})
      .dump();
}

DriftMonitor::DriftMonitor(VersionLoader loader, DriftMonitorOptions options)
    : loader_(std::move(loader)), options_(std::move(options)) {}
DriftMonitor::~DriftMonitor() = default;

Status DriftMonitor::Add(std::string_view payload, std::vector<DriftWindowReport>* closed,
                         std::vector<AlertChange>* changes) {
  VIGIL_RETURN_IF_ERROR(ParseServedRecord(payload, ServedParts::kHeaderAndFeatures, &record_));
  const ServedRecord& rec = record_;
  const std::string& model = rec.model;
  const int version = rec.version;
  const TimestampMs ts = rec.ts;
  const std::vector<float>& features = rec.features;
  const auto key = std::make_pair(model, version);
  auto vit = versions_.find(key);
  if (vit == versions_.end()) {
    auto loaded = loader_(model, version);
    if (!loaded.ok()) return loaded.status().WithContext(model + " v" + std::to_string(version));
    vit = versions_.emplace(key, std::move(loaded).value()).first;
  }
  const MonitoredVersion& mv = vit->second;
  const TimestampMs from = ts - ((ts % options_.window) + options_.window) % options_.window;
  auto& slot = open_[key];
  if (slot && from > slot->from) Close(*slot, closed, changes), slot.reset();
  if (!slot) {
    slot = std::make_unique<Open>();
    slot->model = model;
    slot->version = version;
    slot->from = from;
    for (size_t c = 0; c < mv.columns.size(); ++c) {
      auto ref = mv.references.find(mv.columns[c]);
      if (ref == mv.references.end()) continue;
      slot->column_of.push_back(static_cast<int>(c));
      slot->windows.emplace_back(ref->second, c < mv.vocabularies.size()
                                                  ? std::span<const std::string>(mv.vocabularies[c])
                                                  : std::span<const std::string>());
      slot->refs.push_back(&ref->second);
    }
    if (auto s = mv.references.find("__score__"); s != mv.references.end()) {
      slot->column_of.push_back(-1);
      slot->windows.emplace_back(s->second);
      slot->refs.push_back(&s->second);
    }
  }
  for (size_t w = 0; w < slot->windows.size(); ++w) {
    const int c = slot->column_of[w];
    double v = std::numeric_limits<double>::quiet_NaN();  // a column the vector lacks: missing
    if (c < 0) {
      v = static_cast<float>(rec.score);  // logged as the float the model gave
    } else if (static_cast<size_t>(c) < features.size()) {
      v = features[c];
    }
    slot->windows[w].Add(v);
  }
  ++slot->requests;
  return Status::OK();
}

void DriftMonitor::Close(Open& open, std::vector<DriftWindowReport>* closed,
                         std::vector<AlertChange>* changes) {
  DriftWindowReport rep;
  rep.model = open.model;
  rep.version = open.version;
  rep.from = open.from;
  rep.to = open.from + options_.window;
  rep.requests = open.requests;
  for (size_t w = 0; w < open.windows.size(); ++w) {
    auto res = CompareToReference(*open.refs[w], open.windows[w], options_.thresholds);
    if (!res.ok()) continue;  // the window was built from this very reference: cannot happen
    rep.level = Worse(rep.level, res->level);
    if (res->level != DriftLevel::kTooFew) {
      DriftLevel& current = levels_[{open.model, res->feature}];
      if (current != res->level) {
        AlertChange ch;
        ch.at = rep.to;
        ch.model = open.model;
        ch.version = open.version;
        ch.feature = res->feature;
        ch.from = current;
        ch.to = res->level;
        ch.psi = res->psi;
        ch.ks = res->ks;
        ch.js = res->js;
        changes->push_back(std::move(ch));
        current = res->level;
      }
    }
    rep.results.push_back(std::move(res).value());
  }
  closed->push_back(std::move(rep));
}

void DriftMonitor::Flush(std::vector<DriftWindowReport>* closed, std::vector<AlertChange>* changes) {
  for (auto& [key, slot] : open_) {
    if (slot) Close(*slot, closed, changes);
  }
  open_.clear();
}

}  // namespace vigil
