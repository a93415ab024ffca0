#include "monitoring/performance.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "training/json_numbers.h"
#include "training/metrics.h"

namespace vigil {

using json = nlohmann::json;

namespace {

TimestampMs FloorTo(TimestampMs ts, DurationMs window) {
  TimestampMs q = ts / window;
  if (ts % window != 0 && ts < 0) --q;
  return q * window;
}

}  // namespace

std::string PerformanceWindow::ToJson() const {
  return json({{"model", model},
               {"version", version},
               {"from", from},
               {"to", to},
               {"scored", scored},
               {"labels", labels},
               {"positives", positives},
               {"roc_auc", FiniteOrNull(roc_auc)},
               {"pr_auc", FiniteOrNull(pr_auc)},
               {"log_loss", FiniteOrNull(log_loss)},
               {"baseline", FiniteOrNull(baseline)},
               {"level", alert ? "alert" : "none"}})
      .dump();
}

PendingScores::PendingScores(std::string model, PerformanceOptions options)
    : model_(std::move(model)), options_(options) {}

void PendingScores::Add(int version, TimestampMs ts, double score, std::string_view id, int partition,
                        int64_t offset) {
  Window& w = windows_[{version, FloorTo(ts, options_.window)}];
  ++w.scored;
  ++records_;
  if (!id.empty()) {
    w.candidates.push_back({score, static_cast<uint32_t>(w.ids.size()), static_cast<uint32_t>(id.size())});
    w.ids.append(id);
  }
  if (partition >= 0) {
    if (w.oldest.size() <= static_cast<size_t>(partition))
      w.oldest.resize(partition + 1, std::numeric_limits<int64_t>::max());
    w.oldest[partition] = std::min(w.oldest[partition], offset);
  }
}

std::vector<PerformanceWindow> PendingScores::Judge(const std::unordered_map<std::string, Outcome>& outcomes,
                                                    const std::map<std::pair<std::string, int>, double>& baseline,
                                                    TimestampMs as_of) const {
  const TimestampMs judged_before = as_of - options_.delay;
  std::vector<PerformanceWindow> out;
  std::vector<double> scores;
  std::vector<int> targets;
  std::string id;
  for (const auto& [key, win] : windows_) {
    PerformanceWindow w;
    w.model = model_;
    std::tie(w.version, w.from) = key;
    w.to = w.from + options_.window;
    if (w.to > judged_before) continue;
    w.scored = win.scored;
    scores.clear();
    targets.clear();
    for (const Candidate& c : win.candidates) {
      id.assign(win.ids, c.id_begin, c.id_size);
      auto it = outcomes.find(id);
      if (it == outcomes.end()) continue;
      scores.push_back(c.score);
      // Known by the window's judging time (its end + delay), so its figures never change.
      targets.push_back(it->second.target && it->second.known_at <= w.to + options_.delay ? 1 : 0);
    }
    w.labels = static_cast<int64_t>(scores.size());
    for (int t : targets) w.positives += t;
    w.roc_auc = RocAuc(scores, targets);
    w.pr_auc = PrAuc(scores, targets);
    w.log_loss = LogLoss(scores, targets);
    auto b = baseline.find({w.model, w.version});
    w.baseline = b == baseline.end() ? std::numeric_limits<double>::quiet_NaN() : b->second;
    w.alert = w.positives >= options_.min_positives && w.labels - w.positives >= options_.min_negatives &&
              std::isfinite(w.roc_auc) && std::isfinite(w.baseline) && w.roc_auc < w.baseline - options_.max_drop;
    out.push_back(std::move(w));
  }
  return out;
}

void PendingScores::Forget(const std::map<int, TimestampMs>& judged_to) {
  for (auto it = windows_.begin(); it != windows_.end();) {
    auto j = judged_to.find(it->first.first);
    if (j != judged_to.end() && it->first.second + options_.window <= j->second) {
      records_ -= it->second.scored;
      it = windows_.erase(it);
    } else {
      ++it;
    }
  }
}

void PendingScores::LowerToOldest(std::vector<int64_t>* restart) const {
  for (const auto& [key, win] : windows_) {
    for (size_t p = 0; p < win.oldest.size() && p < restart->size(); ++p)
      (*restart)[p] = std::min((*restart)[p], win.oldest[p]);
  }
}

size_t PendingScores::bytes() const {
  size_t n = sizeof(*this);
  for (const auto& [key, win] : windows_) {
    n += sizeof(key) + sizeof(win) + 32;  // the map node
    n += win.candidates.capacity() * sizeof(Candidate) + win.ids.capacity() + win.oldest.capacity() * sizeof(int64_t);
  }
  return n;
}

}  // namespace vigil
