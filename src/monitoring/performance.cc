#include "monitoring/performance.h"

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "training/metrics.h"

namespace vigil {

using json = nlohmann::json;

namespace {

json Number(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

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
               {"roc_auc", Number(roc_auc)},
               {"pr_auc", Number(pr_auc)},
               {"log_loss", Number(log_loss)},
               {"baseline", Number(baseline)},
               {"level", alert ? "alert" : "none"}})
      .dump();
}

std::vector<PerformanceWindow> JudgeWindows(const std::vector<ServedRecord>& records,
                                            const std::unordered_map<std::string, Outcome>& outcomes,
                                            const std::map<std::pair<std::string, int>, double>& baseline,
                                            TimestampMs as_of, const PerformanceOptions& options) {
  struct Acc {
    int64_t scored = 0;
    std::vector<double> scores;
    std::vector<int> targets;
  };
  std::map<std::tuple<std::string, int, TimestampMs>, Acc> windows;
  const TimestampMs judged_before = as_of - options.delay;
  for (const auto& r : records) {
    const TimestampMs from = FloorTo(r.ts, options.window);
    if (from + options.window > judged_before) continue;
    Acc& a = windows[{r.model, r.version, from}];
    ++a.scored;
    if (r.id.empty()) continue;
    auto it = outcomes.find(r.id);
    if (it == outcomes.end()) continue;
    a.scores.push_back(r.score);
    // Known by the window's judging time (its end + delay), so a window's figures never change.
    a.targets.push_back(it->second.target && it->second.known_at <= from + options.window + options.delay ? 1 : 0);
  }
  std::vector<PerformanceWindow> out;
  for (auto& [key, a] : windows) {
    PerformanceWindow w;
    std::tie(w.model, w.version, w.from) = key;
    w.to = w.from + options.window;
    w.scored = a.scored;
    w.labels = static_cast<int64_t>(a.scores.size());
    for (int t : a.targets) w.positives += t;
    w.roc_auc = RocAuc(a.scores, a.targets);
    w.pr_auc = PrAuc(a.scores, a.targets);
    w.log_loss = LogLoss(a.scores, a.targets);
    auto b = baseline.find({w.model, w.version});
    w.baseline = b == baseline.end() ? std::numeric_limits<double>::quiet_NaN() : b->second;
    w.alert = w.positives >= options.min_positives && w.labels - w.positives >= options.min_negatives &&
              std::isfinite(w.roc_auc) && std::isfinite(w.baseline) && w.roc_auc < w.baseline - options.max_drop;
    out.push_back(std::move(w));
  }
  return out;
}

}  // namespace vigil
