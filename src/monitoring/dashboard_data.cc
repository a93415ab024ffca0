#include "monitoring/dashboard_data.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "common/files.h"
#include "monitoring/dashboard_data_internal.h"
#include "monitoring/monitor_topics.h"
#include "training/json_numbers.h"
#include "training/model_registry.h"

namespace vigil {
namespace dashboard_internal {
namespace {

constexpr std::string_view kRequestsFamily = "vigil_http_requests_total";
constexpr std::string_view kBucketSeries = "vigil_http_request_duration_seconds_bucket";

// Parses `{a="x",b="y\"z"}` starting at text[*pos] == '{' into labels; false if malformed.
bool ParseLabels(std::string_view text, size_t* pos, std::map<std::string, std::string>* labels) {
  size_t i = *pos + 1;
  while (i < text.size() && text[i] != '}') {
    size_t eq = text.find('=', i);
    if (eq == std::string_view::npos || eq + 1 >= text.size() || text[eq + 1] != '"') return false;
    std::string name(text.substr(i, eq - i));
    std::string value;
    size_t j = eq + 2;
    for (; j < text.size() && text[j] != '"'; ++j) {
      if (text[j] == '\\' && j + 1 < text.size()) {
        ++j;
        value += text[j] == 'n' ? '\n' : text[j];
      } else {
        value += text[j];
      }
    }
    if (j >= text.size()) return false;
    (*labels)[name] = std::move(value);
    i = j + 1;
    if (i < text.size() && text[i] == ',') ++i;
  }
  if (i >= text.size()) return false;
  *pos = i + 1;
  return true;
}

bool ParseDouble(std::string_view s, double* out) {
  if (s == "+Inf") {
    *out = std::numeric_limits<double>::infinity();
    return true;
  }
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

}  // namespace

HttpTotals ParseHttpTotals(std::string_view exposition, const std::set<std::string>& excluded_routes) {
  HttpTotals totals;
  std::map<double, uint64_t> buckets;
  size_t start = 0;
  while (start < exposition.size()) {
    size_t end = exposition.find('\n', start);
    if (end == std::string_view::npos) end = exposition.size();
    std::string_view line = exposition.substr(start, end - start);
    start = end + 1;
    if (line.empty() || line[0] == '#') continue;
    size_t brace = line.find('{');
    if (brace == std::string_view::npos) continue;
    std::string_view name = line.substr(0, brace);
    if (name != kRequestsFamily && name != kBucketSeries) continue;
    std::map<std::string, std::string> labels;
    size_t pos = brace;
    if (!ParseLabels(line, &pos, &labels) || pos >= line.size() || line[pos] != ' ') continue;
    double value = 0;
    if (!ParseDouble(line.substr(pos + 1), &value) || !(value >= 0)) continue;
    if (excluded_routes.count(labels["route"]) > 0) continue;
    const auto count = static_cast<uint64_t>(value);
    if (name == kRequestsFamily) {
      totals.requests += count;
      if (labels["code"].size() == 3 && labels["code"][0] == '5') totals.errors += count;
    } else {
      double le = 0;
      if (!ParseDouble(labels["le"], &le)) continue;
      buckets[le] += count;
    }
  }
  for (const auto& [le, n] : buckets) {
    totals.bounds.push_back(le);
    totals.buckets.push_back(n);
  }
  return totals;
}

double QuantileFromBuckets(std::span<const double> bounds, std::span<const uint64_t> buckets, double q) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (bounds.empty() || bounds.size() != buckets.size() || buckets.back() == 0) return nan;
  const double rank = q * static_cast<double>(buckets.back());
  for (size_t i = 0; i < buckets.size(); ++i) {
    if (static_cast<double>(buckets[i]) < rank) continue;
    if (std::isinf(bounds[i])) return i > 0 ? bounds[i - 1] : nan;
    const double lo = i > 0 ? bounds[i - 1] : 0;
    const double below = i > 0 ? static_cast<double>(buckets[i - 1]) : 0;
    const double in = static_cast<double>(buckets[i]) - below;
    if (in <= 0) return bounds[i];
    return lo + (bounds[i] - lo) * (rank - below) / in;
  }
  return bounds.size() > 1 ? bounds[bounds.size() - 2] : nan;
}

}  // namespace dashboard_internal

using json = nlohmann::json;
using dashboard_internal::HttpTotals;

// ---- LiveSampler ---------------------------------------------------------------------

LiveSampler::LiveSampler(const MetricsRegistry* registry, LiveSamplerOptions options)
    : registry_(registry), options_(std::move(options)) {
  if (options_.interval.count() <= 0) options_.interval = std::chrono::milliseconds(1000);
  if (options_.capacity == 0) options_.capacity = 1;
  SampleNow();  // the baseline the first interval is measured from
  thread_ = std::thread([this] { Run(); });
}

LiveSampler::~LiveSampler() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void LiveSampler::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    if (stop_cv_.wait_for(lock, options_.interval, [this] { return stop_; })) break;
    lock.unlock();
    SampleNow();
    lock.lock();
  }
}

void LiveSampler::SampleNow() {
  const HttpTotals t = dashboard_internal::ParseHttpTotals(registry_->RenderText(), options_.excluded_routes);
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lock(mu_);
  if (have_previous_) {
    const double seconds = std::chrono::duration<double>(now - prev_time_).count();
    // A series that went away (never, for counters) would make a delta negative: count 0.
    auto delta = [](uint64_t now_v, uint64_t before) { return now_v >= before ? now_v - before : 0; };
    std::vector<uint64_t> bucket_delta(t.buckets.size());
    const bool same_layout = t.bounds == prev_bounds_;
    for (size_t i = 0; i < t.buckets.size(); ++i) {
      bucket_delta[i] = delta(t.buckets[i], same_layout ? prev_buckets_[i] : 0);
    }
    LiveSample s;
    s.at = WallClockMs();
    s.qps = seconds > 0 ? static_cast<double>(delta(t.requests, prev_requests_)) / seconds : 0;
    s.errors_per_second = seconds > 0 ? static_cast<double>(delta(t.errors, prev_errors_)) / seconds : 0;
    s.p50_seconds = dashboard_internal::QuantileFromBuckets(t.bounds, bucket_delta, 0.5);
    s.p99_seconds = dashboard_internal::QuantileFromBuckets(t.bounds, bucket_delta, 0.99);
    samples_.push_back(s);
    while (samples_.size() > options_.capacity) samples_.pop_front();
  }
  have_previous_ = true;
  prev_requests_ = t.requests;
  prev_errors_ = t.errors;
  prev_bounds_ = t.bounds;
  prev_buckets_ = t.buckets;
  prev_time_ = now;
}

std::vector<LiveSample> LiveSampler::Samples() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {samples_.begin(), samples_.end()};
}

std::string LiveSampler::ToJson() const {
  const std::vector<LiveSample> samples = Samples();
  json t = json::array(), qps = json::array(), errors = json::array(), p50 = json::array(),
       p99 = json::array();
  auto ms = [](double seconds) { return std::isfinite(seconds) ? json(seconds * 1000) : json(nullptr); };
  for (const auto& s : samples) {
    t.push_back(s.at);
    qps.push_back(s.qps);
    errors.push_back(s.errors_per_second);
    p50.push_back(ms(s.p50_seconds));
    p99.push_back(ms(s.p99_seconds));
  }
  return json({{"interval_ms", options_.interval.count()},
               {"t", std::move(t)},
               {"qps", std::move(qps)},
               {"errors_per_second", std::move(errors)},
               {"p50_ms", std::move(p50)},
               {"p99_ms", std::move(p99)}})
      .dump();
}

// ---- MonitorHistory ------------------------------------------------------------------

namespace {

// The number at j[key]; NaN when absent, null or not a number ("inf" strings, as drift
// writes infinities, are +-infinity).
double Num(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return std::numeric_limits<double>::quiet_NaN();
  if (it->is_number()) return it->get<double>();
  if (it->is_string()) {
    if (*it == "inf") return std::numeric_limits<double>::infinity();
    if (*it == "-inf") return -std::numeric_limits<double>::infinity();
  }
  return std::numeric_limits<double>::quiet_NaN();
}

// j[key] copied when present, else null.
json MemberOrNull(const json& j, const char* key) {
  auto it = j.find(key);
  return it == j.end() ? json(nullptr) : *it;
}

bool IsRecordOf(const json& j, const std::string& model) {
  if (!j.is_object()) return false;
  auto it = j.find("model");
  if (it == j.end() || !it->is_string()) return false;
  return model.empty() || it->get_ref<const std::string&>() == model;
}

// Orders records by the number at `key`, then by model and version (stable otherwise).
void SortBy(std::vector<const json*>* records, const char* key) {
  auto at = [key](const json& j) {  // a missing time sorts first (NaN would break the order)
    const double v = Num(j, key);
    return std::isnan(v) ? -std::numeric_limits<double>::infinity() : v;
  };
  auto at_version = [](const json& j) {
    const double v = Num(j, "version");
    return std::isnan(v) ? 0.0 : v;
  };
  std::stable_sort(records->begin(), records->end(), [&at, &at_version](const json* a, const json* b) {
    const double x = at(*a), y = at(*b);
    if (x != y) return x < y;
    return std::make_pair(MemberOrNull(*a, "model").dump(), at_version(*a)) <
           std::make_pair(MemberOrNull(*b, "model").dump(), at_version(*b));
  });
}

bool RocAlert(const json& alert) {
  auto it = alert.find("feature");
  return it != alert.end() && it->is_string() && *it == "__roc_auc__";
}

// A per-feature series across the windows or checks of a document.
struct FeatureSeries {
  std::string feature;
  json categorical = nullptr;
  std::vector<json> values;  // per window: the statistic, or null
  std::vector<json> extra1, extra2;
  double max = -1, last = std::numeric_limits<double>::quiet_NaN();
  json last_level = nullptr;
};

}  // namespace

struct MonitorHistory::Topic {
  std::string name;
  std::vector<int64_t> next;  // per partition, the offset to read next; empty: not positioned
  std::deque<json> records;   // parsed payloads, newest last
  int64_t skipped = 0;        // payloads that were not JSON objects with a "model"
};

MonitorHistory::MonitorHistory(Log* log, MonitorHistoryOptions options) : log_(log), options_(options) {
  if (options_.capacity == 0) options_.capacity = 1;
  for (const char* name : {kDriftTopic, kAlertsTopic, kSkewTopic, kPerformanceTopic}) {
    auto t = std::make_unique<Topic>();
    t->name = name;
    topics_.push_back(std::move(t));
  }
}

MonitorHistory::~MonitorHistory() = default;

Status MonitorHistory::Refresh() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& topic : topics_) {
    Topic& t = *topic;
    auto partitions = log_->Partitions(t.name);
    if (!partitions.ok()) {
      if (partitions.status().IsNotFound()) continue;  // nothing written yet
      return partitions.status().WithContext("dashboard: topic " + t.name);
    }
    VIGIL_ASSIGN_OR_RETURN(std::vector<int64_t> starts, log_->StartOffsets(t.name));
    VIGIL_ASSIGN_OR_RETURN(std::vector<int64_t> ends, log_->EndOffsets(t.name));
    const size_t n = ends.size();
    if (t.next.empty()) {
      // First read: only the newest `capacity` records of each partition can be kept.
      t.next.resize(n);
      for (size_t p = 0; p < n; ++p) {
        t.next[p] = std::max<int64_t>(0, ends[p] - static_cast<int64_t>(options_.capacity));
      }
    }
    t.next.resize(n, 0);
    bool behind = false;
    for (size_t p = 0; p < n; ++p) {
      t.next[p] = std::max(t.next[p], p < starts.size() ? starts[p] : 0);
      behind = behind || t.next[p] < ends[p];
    }
    if (!behind) continue;
    VIGIL_ASSIGN_OR_RETURN(auto reader, log_->OpenReader(t.name));
    for (size_t p = 0; p < n; ++p) {
      VIGIL_RETURN_IF_ERROR(reader->Seek(static_cast<int>(p), t.next[p]));
    }
    LogRecord rec;
    for (;;) {
      auto more = reader->Next(&rec);
      if (!more.ok()) return more.status().WithContext("dashboard: topic " + t.name);
      if (!*more) break;
      const auto p = static_cast<size_t>(rec.partition);
      if (p >= n || rec.offset >= ends[p]) continue;  // the next refresh reads it
      t.next[p] = rec.offset + 1;
      json j = json::parse(rec.payload, nullptr, false);
      if (!IsRecordOf(j, "")) {
        ++t.skipped;
        continue;
      }
      t.records.push_back(std::move(j));
      while (t.records.size() > options_.capacity) t.records.pop_front();
    }
  }
  return Status::OK();
}

std::string MonitorHistory::DriftJson(const std::string& model) const {
  std::lock_guard<std::mutex> lock(mu_);
  const Topic& drift = *topics_[0];
  const Topic& alerts = *topics_[1];
  int64_t skipped = drift.skipped + alerts.skipped;
  std::vector<const json*> windows;
  for (const auto& r : drift.records) {
    if (!IsRecordOf(r, model)) continue;
    auto results = r.find("results");
    if (results == r.end() || !results->is_array()) {
      ++skipped;
      continue;
    }
    windows.push_back(&r);
  }
  SortBy(&windows, "to");
  json out_windows = json::array();
  std::vector<FeatureSeries> series;
  std::map<std::string, size_t> index;
  for (size_t w = 0; w < windows.size(); ++w) {
    const json& r = *windows[w];
    out_windows.push_back({{"model", MemberOrNull(r, "model")},
                           {"version", MemberOrNull(r, "version")},
                           {"from", MemberOrNull(r, "from")},
                           {"to", MemberOrNull(r, "to")},
                           {"requests", MemberOrNull(r, "requests")},
                           {"level", MemberOrNull(r, "level")}});
    for (const json& result : r["results"]) {
      if (!result.is_object() || !result.contains("feature") || !result["feature"].is_string()) continue;
      const std::string& name = result["feature"].get_ref<const std::string&>();
      auto [it, added] = index.emplace(name, series.size());
      if (added) {
        series.push_back({});
        series.back().feature = name;
        series.back().values.assign(windows.size(), nullptr);
        series.back().extra1.assign(windows.size(), nullptr);
      }
      FeatureSeries& s = series[it->second];
      s.categorical = MemberOrNull(result, "categorical");
      const double psi = Num(result, "psi");
      s.values[w] = FiniteOrNull(psi);
      s.extra1[w] = MemberOrNull(result, "level");
      s.last_level = MemberOrNull(result, "level");
      if (!std::isnan(psi)) {
        s.max = std::max(s.max, psi);
        s.last = psi;
      }
    }
  }
  std::stable_sort(series.begin(), series.end(),
                   [](const FeatureSeries& a, const FeatureSeries& b) { return a.max > b.max; });
  json features = json::array();
  for (auto& s : series) {
    features.push_back({{"feature", s.feature},
                        {"categorical", s.categorical},
                        {"psi", std::move(s.values)},
                        {"level", std::move(s.extra1)},
                        {"max_psi", s.max < 0 ? json(nullptr) : FiniteOrNull(s.max)},
                        {"last_psi", FiniteOrNull(s.last)},
                        {"last_level", s.last_level}});
  }
  std::vector<const json*> changes;
  for (const auto& a : alerts.records) {
    if (IsRecordOf(a, model) && !RocAlert(a)) changes.push_back(&a);
  }
  SortBy(&changes, "at");
  json out_alerts = json::array();
  for (auto it = changes.rbegin(); it != changes.rend(); ++it) out_alerts.push_back(**it);
  return json({{"windows", std::move(out_windows)},
               {"features", std::move(features)},
               {"alerts", std::move(out_alerts)},
               {"skipped", skipped}})
      .dump();
}

std::string MonitorHistory::SkewJson(const std::string& model) const {
  std::lock_guard<std::mutex> lock(mu_);
  const Topic& skew = *topics_[2];
  int64_t skipped = skew.skipped;
  std::vector<const json*> checks;
  for (const auto& r : skew.records) {
    if (!IsRecordOf(r, model)) continue;
    if (!r.contains("features") || !r["features"].is_array()) {
      ++skipped;
      continue;
    }
    checks.push_back(&r);
  }
  SortBy(&checks, "ts");
  json out_checks = json::array();
  std::vector<FeatureSeries> series;
  std::map<std::string, size_t> index;
  for (size_t c = 0; c < checks.size(); ++c) {
    const json& r = *checks[c];
    out_checks.push_back({{"model", MemberOrNull(r, "model")},
                          {"version", MemberOrNull(r, "version")},
                          {"ts", MemberOrNull(r, "ts")},
                          {"from", MemberOrNull(r, "from")},
                          {"to", MemberOrNull(r, "to")},
                          {"sampled", MemberOrNull(r, "sampled")},
                          {"mismatched_rows", MemberOrNull(r, "mismatched_rows")},
                          {"mismatch_rate", FiniteOrNull(Num(r, "mismatch_rate"))}});
    for (const json& f : r["features"]) {
      if (!f.is_object() || !f.contains("feature") || !f["feature"].is_string()) continue;
      const std::string& name = f["feature"].get_ref<const std::string&>();
      auto [it, added] = index.emplace(name, series.size());
      if (added) {
        series.push_back({});
        series.back().feature = name;
        series.back().values.assign(checks.size(), nullptr);
        series.back().extra1.assign(checks.size(), nullptr);
        series.back().extra2.assign(checks.size(), nullptr);
      }
      FeatureSeries& s = series[it->second];
      const double rate = Num(f, "rate");
      s.values[c] = FiniteOrNull(rate);
      s.extra1[c] = MemberOrNull(f, "mismatches");
      s.extra2[c] = MemberOrNull(f, "compared");
      s.last = rate;
      if (!std::isnan(rate)) s.max = std::max(s.max, rate);
    }
  }
  auto last_or_low = [](const FeatureSeries& s) { return std::isnan(s.last) ? -1.0 : s.last; };
  std::stable_sort(series.begin(), series.end(), [&](const FeatureSeries& a, const FeatureSeries& b) {
    if (last_or_low(a) != last_or_low(b)) return last_or_low(a) > last_or_low(b);
    return a.max > b.max;
  });
  json features = json::array();
  for (auto& s : series) {
    features.push_back({{"feature", s.feature},
                        {"rate", std::move(s.values)},
                        {"mismatches", std::move(s.extra1)},
                        {"compared", std::move(s.extra2)},
                        {"last_rate", FiniteOrNull(s.last)},
                        {"max_rate", s.max < 0 ? json(nullptr) : FiniteOrNull(s.max)}});
  }
  return json({{"checks", std::move(out_checks)}, {"features", std::move(features)}, {"skipped", skipped}})
      .dump();
}

std::string MonitorHistory::PerformanceJson(const std::string& model) const {
  std::lock_guard<std::mutex> lock(mu_);
  const Topic& performance = *topics_[3];
  const Topic& alerts = *topics_[1];
  std::vector<const json*> windows;
  for (const auto& r : performance.records) {
    if (IsRecordOf(r, model)) windows.push_back(&r);
  }
  SortBy(&windows, "to");
  json out_windows = json::array();
  for (const json* r : windows) {
    json w = json::object();
    for (const char* key : {"model", "version", "from", "to", "scored", "labels", "positives"}) {
      w[key] = MemberOrNull(*r, key);
    }
    for (const char* key : {"roc_auc", "pr_auc", "log_loss", "baseline"}) w[key] = FiniteOrNull(Num(*r, key));
    w["level"] = MemberOrNull(*r, "level");
    out_windows.push_back(std::move(w));
  }
  std::vector<const json*> changes;
  for (const auto& a : alerts.records) {
    if (IsRecordOf(a, model) && RocAlert(a)) changes.push_back(&a);
  }
  SortBy(&changes, "at");
  json out_alerts = json::array();
  for (auto it = changes.rbegin(); it != changes.rend(); ++it) out_alerts.push_back(**it);
  return json({{"windows", std::move(out_windows)},
               {"alerts", std::move(out_alerts)},
               {"skipped", performance.skipped}})
      .dump();
}

// ---- Models --------------------------------------------------------------------------

Result<std::string> ModelsDashboardJson(const std::string& models_root) {
  VIGIL_ASSIGN_OR_RETURN(ModelRegistry registry, ModelRegistry::Open(models_root));
  VIGIL_ASSIGN_OR_RETURN(std::vector<std::string> models, registry.Models());
  if (models.empty()) return json({{"root", registry.root()}, {"models", json::object()}}).dump();
  VIGIL_ASSIGN_OR_RETURN(std::string text, registry.ToJson(""));
  json doc = json::parse(text, nullptr, false);
  if (!doc.is_object() || !doc.contains("models") || !doc["models"].is_object()) {
    return Status::Corruption("model registry under " + models_root + ": ToJson gave no \"models\" object");
  }
  for (auto& [name, model] : doc["models"].items()) {
    if (!model.contains("versions") || !model["versions"].is_array()) continue;
    for (json& v : model["versions"]) {
      json holdout = nullptr;
      if (v.contains("dir") && v["dir"].is_string()) {
        auto metrics = ReadWholeFile(v["dir"].get<std::string>() + "/metrics.json");
        if (metrics.ok()) {
          json m = json::parse(*metrics, nullptr, false);
          if (m.is_object()) holdout = std::move(m);
        }
      }
      v["holdout"] = std::move(holdout);
    }
  }
  return doc.dump();
}

}  // namespace vigil
