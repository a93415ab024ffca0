#include "common/metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <utility>

namespace vigil {

namespace {

// Registration mistakes are bugs in vigil's own code (see metrics.h): say which and stop.
[[noreturn]] void ProgrammingError(const std::string& message) {
  std::fprintf(stderr, "vigil: metrics registration error: %s\n", message.c_str());
  std::fflush(stderr);
  std::abort();
}

bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Replaces every byte that does not start a well-formed UTF-8 sequence (overlongs,
// surrogates and code points above U+10FFFF included) by U+FFFD. Prometheus rejects a
// scrape holding invalid UTF-8, and label values may come from user data.
std::string SanitizeUtf8(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  size_t i = 0;
  while (i < in.size()) {
    const auto b = static_cast<unsigned char>(in[i]);
    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (b < 0x80) {
      len = 1;
    } else if (b >= 0xC2 && b <= 0xDF) {
      len = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
      len = 3;
      if (b == 0xE0) lo = 0xA0;
      if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      len = 4;
      if (b == 0xF0) lo = 0x90;
      if (b == 0xF4) hi = 0x8F;
    }
    bool ok = len > 0 && i + len <= in.size();
    for (size_t k = 1; ok && k < len; ++k) {
      const auto c = static_cast<unsigned char>(in[i + k]);
      ok = k == 1 ? (c >= lo && c <= hi) : (c >= 0x80 && c <= 0xBF);
    }
    if (ok) {
      out.append(in.substr(i, len));
      i += len;
    } else {
      out.append("\xEF\xBF\xBD");
      ++i;
    }
  }
  return out;
}

// Format 0.0.4 escapes backslash and line feed in label values and help text, and the
// double quote in label values only.
void AppendEscaped(std::string_view v, bool quote, std::string* out) {
  for (char c : v) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else if (c == '"' && quote) {
      out->append("\\\"");
    } else {
      out->push_back(c);
    }
  }
}
void AppendLabelValue(std::string_view v, std::string* out) { AppendEscaped(v, true, out); }
void AppendHelp(std::string_view v, std::string* out) { AppendEscaped(v, false, out); }

// A sample value as Prometheus' parser (Go's strconv.ParseFloat) reads it back exactly:
// +Inf, -Inf, NaN; integers below 2^63 in plain digits (1000000, not 1e+06); anything
// else in the shortest digits that round-trip, laid out as printf's %g (and Go's
// FormatFloat(v, 'g', -1, 64), which the Go client uses for `le`): 0.0001, 1e-05,
// 1.5e-07, 1.2345675e+06, 1e+300.
void AppendValue(double v, std::string* out) {
  if (std::isnan(v)) {
    out->append("NaN");
    return;
  }
  if (std::isinf(v)) {
    out->append(v > 0 ? "+Inf" : "-Inf");
    return;
  }
  char buf[64];
  std::to_chars_result r;
  if (v == std::trunc(v) && std::fabs(v) < 9.2233720368547758e18) {
    r = std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(v));
  } else {
    r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general);
  }
  out->append(buf, r.ptr);
}

void AppendValue(uint64_t v, std::string* out) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr);
}

std::string FormatValue(double v) {
  std::string s;
  AppendValue(v, &s);
  return s;
}

}  // namespace

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  assert(start > 0 && factor > 1 && count >= 1);
  std::vector<double> bounds;
  bounds.reserve(count);
  double b = start;
  for (int i = 0; i < count; ++i, b *= factor) bounds.push_back(b);
  return bounds;
}

bool IsValidMetricName(std::string_view name) {
  if (name.empty() || !(IsNameStart(name[0]) || name[0] == ':')) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return IsNameStart(c) || IsDigit(c) || c == ':'; });
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || !IsNameStart(name[0]) || name.starts_with("__")) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return IsNameStart(c) || IsDigit(c); });
}

// --- Histogram ---------------------------------------------------------------------

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double v) {
  // First bound >= v (buckets are `le`, upper-inclusive); NaN compares false with every
  // bound, so it needs its own case to land past the end.
  size_t i = std::isnan(v)
                 ? bounds_.size()
                 : static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

uint64_t Histogram::count() const {
  uint64_t n = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) n += counts_[i].load(std::memory_order_relaxed);
  return n;
}

// --- CallbackMetric ----------------------------------------------------------------

CallbackMetric::CallbackMetric(CallbackMetric&& other) noexcept
    : registry_(std::exchange(other.registry_, nullptr)),
      name_(std::move(other.name_)),
      key_(std::move(other.key_)) {}

CallbackMetric& CallbackMetric::operator=(CallbackMetric&& other) noexcept {
  if (this != &other) {
    Reset();
    registry_ = std::exchange(other.registry_, nullptr);
    name_ = std::move(other.name_);
    key_ = std::move(other.key_);
  }
  return *this;
}

void CallbackMetric::Reset() {
  if (registry_ == nullptr) return;
  registry_->RemoveFunction(name_, key_);
  registry_ = nullptr;
}

// --- MetricsRegistry ---------------------------------------------------------------

struct MetricsRegistry::Series {
  std::string labels_text;  // `a="x",b="y"`, escaped; empty without labels
  // Exactly one of these is set (by the family's type, or fn for a callback).
  std::unique_ptr<Counter> counter;
  std::unique_ptr<Gauge> gauge;
  std::unique_ptr<Histogram> histogram;
  std::function<double()> fn;
};

struct MetricsRegistry::Family {
  std::string name;
  std::string help;  // as registered (after UTF-8 repair)
  Type type;
  std::vector<std::string> label_names;  // sorted
  std::vector<double> bounds;            // histograms only
  std::vector<std::string> le_text;      // `le="0.1"` per bound, then `le="+Inf"`
  // Keyed by label values in label_names order: renders in a stable order.
  std::map<std::vector<std::string>, Series> series;
};

MetricsRegistry::MetricsRegistry() = default;

MetricsRegistry::~MetricsRegistry() {
  // A live CallbackMetric would later touch freed memory: its owner outlived the registry.
  assert(live_callbacks_ == 0 && "a CallbackMetric outlives its MetricsRegistry");
}

namespace {

const char* TypeName(int type) {
  static const char* const kNames[] = {"counter", "gauge", "histogram"};
  return kNames[type];
}

std::string DescribeLabelNames(const std::vector<std::string>& names) {
  std::string s = "{";
  for (size_t i = 0; i < names.size(); ++i) s += (i ? "," : "") + names[i];
  return s + "}";
}

}  // namespace

MetricsRegistry::Series& MetricsRegistry::SeriesFor(std::string_view name, std::string_view help, Type type,
                                                    const Labels& labels, std::span<const double> bounds,
                                                    bool* created, const std::vector<std::string>** key) {
  const std::string metric(name);
  if (!IsValidMetricName(name)) {
    ProgrammingError("invalid metric name '" + metric + "': use [a-zA-Z_:][a-zA-Z0-9_:]*");
  }
  if (help.empty()) ProgrammingError("metric '" + metric + "' has no help text");

  // Labels sorted by name, checked, values repaired to UTF-8.
  std::vector<const Label*> sorted;
  for (const Label& l : labels) sorted.push_back(&l);
  std::sort(sorted.begin(), sorted.end(), [](const Label* a, const Label* b) { return a->name < b->name; });
  std::vector<std::string> names, values;
  for (size_t i = 0; i < sorted.size(); ++i) {
    const std::string& ln = sorted[i]->name;
    if (!IsValidLabelName(ln)) {
      ProgrammingError("metric '" + metric + "': invalid label name '" + ln +
                       "': use [a-zA-Z_][a-zA-Z0-9_]*, not starting with __");
    }
    if (type == Type::kHistogram && ln == "le") {
      ProgrammingError("histogram '" + metric + "': the label name 'le' is reserved for buckets");
    }
    if (i > 0 && ln == sorted[i - 1]->name) {
      ProgrammingError("metric '" + metric + "': label '" + ln + "' given twice");
    }
    names.push_back(ln);
    values.push_back(SanitizeUtf8(sorted[i]->value));
  }

  // Histogram bounds: finite, strictly increasing; a last +Inf is implied.
  std::vector<double> bucket_bounds(bounds.begin(), bounds.end());
  if (!bucket_bounds.empty() && bucket_bounds.back() == std::numeric_limits<double>::infinity()) {
    bucket_bounds.pop_back();
  }
  for (size_t i = 0; i < bucket_bounds.size(); ++i) {
    if (!std::isfinite(bucket_bounds[i]) || (i > 0 && !(bucket_bounds[i - 1] < bucket_bounds[i]))) {
      ProgrammingError("histogram '" + metric + "': bucket bounds must be finite and strictly increasing");
    }
  }

  const std::string help_text = SanitizeUtf8(help);
  auto it = families_.find(metric);
  if (it != families_.end()) {
    const Family& f = *it->second;
    if (f.type != type) {
      ProgrammingError("metric '" + metric + "' registered as a " + TypeName(int(f.type)) + " and as a " +
                       TypeName(int(type)));
    }
    if (f.help != help_text) {
      ProgrammingError("metric '" + metric + "' registered with two help texts: '" + f.help + "' and '" +
                       help_text + "'");
    }
    if (f.label_names != names) {
      ProgrammingError("metric '" + metric + "' registered with label names " + DescribeLabelNames(f.label_names) +
                       " and " + DescribeLabelNames(names));
    }
    if (f.bounds != bucket_bounds) {
      ProgrammingError("histogram '" + metric + "' registered with two sets of bucket bounds");
    }
  } else {
    // A histogram `h` also writes h_bucket, h_sum and h_count: no family may take those.
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      if (type == Type::kHistogram && families_.count(metric + suffix)) {
        ProgrammingError("histogram '" + metric + "' collides with the metric '" + metric + suffix + "'");
      }
      if (name.ends_with(suffix)) {
        auto stem = families_.find(name.substr(0, name.size() - std::string_view(suffix).size()));
        if (stem != families_.end() && stem->second->type == Type::kHistogram) {
          ProgrammingError("metric '" + metric + "' collides with the series of histogram '" + stem->first +
                           "'");
        }
      }
    }
    auto f = std::make_unique<Family>();
    f->name = metric;
    f->help = help_text;
    f->type = type;
    f->label_names = names;
    f->bounds = bucket_bounds;
    if (type == Type::kHistogram) {
      for (double b : bucket_bounds) f->le_text.push_back("le=\"" + FormatValue(b) + "\"");
      f->le_text.push_back("le=\"+Inf\"");
    }
    it = families_.emplace(metric, std::move(f)).first;
  }

  Family& family = *it->second;
  auto [sit, inserted] = family.series.try_emplace(values);
  *created = inserted;
  if (key != nullptr) *key = &sit->first;
  if (inserted) {
    Series& s = sit->second;
    for (size_t i = 0; i < names.size(); ++i) {
      if (i > 0) s.labels_text.push_back(',');
      s.labels_text.append(names[i]).append("=\"");
      AppendLabelValue(values[i], &s.labels_text);
      s.labels_text.push_back('"');
    }
  }
  return sit->second;
}

Counter& MetricsRegistry::AddCounter(std::string_view name, std::string_view help, const Labels& labels) {
  std::lock_guard lock(mu_);
  bool created;
  Series& s = SeriesFor(name, help, Type::kCounter, labels, {}, &created);
  if (created) s.counter.reset(new Counter());
  if (!s.counter) ProgrammingError("counter '" + std::string(name) + "': this series is a callback");
  return *s.counter;
}

Gauge& MetricsRegistry::AddGauge(std::string_view name, std::string_view help, const Labels& labels) {
  std::lock_guard lock(mu_);
  bool created;
  Series& s = SeriesFor(name, help, Type::kGauge, labels, {}, &created);
  if (created) s.gauge.reset(new Gauge());
  if (!s.gauge) ProgrammingError("gauge '" + std::string(name) + "': this series is a callback");
  return *s.gauge;
}

Histogram& MetricsRegistry::AddHistogram(std::string_view name, std::string_view help, const Labels& labels,
                                         std::span<const double> bounds) {
  std::lock_guard lock(mu_);
  bool created;
  Series& s = SeriesFor(name, help, Type::kHistogram, labels, bounds, &created);
  if (created) s.histogram.reset(new Histogram(families_.find(name)->second->bounds));
  return *s.histogram;
}

CallbackMetric MetricsRegistry::AddFunction(std::string_view name, std::string_view help, Type type,
                                            const Labels& labels, std::function<double()> fn,
                                            bool permanent) {
  std::lock_guard lock(mu_);
  bool created;
  const std::vector<std::string>* key;
  Series& s = SeriesFor(name, help, type, labels, {}, &created, &key);
  if (!created) {
    ProgrammingError("metric '" + std::string(name) + "': a callback for a series that already exists");
  }
  s.fn = std::move(fn);
  if (permanent) return CallbackMetric();
  ++live_callbacks_;
  return CallbackMetric(this, std::string(name), *key);
}

CallbackMetric MetricsRegistry::AddGaugeFunction(std::string_view name, std::string_view help,
                                                 const Labels& labels, std::function<double()> fn) {
  return AddFunction(name, help, Type::kGauge, labels, std::move(fn), /*permanent=*/false);
}

CallbackMetric MetricsRegistry::AddCounterFunction(std::string_view name, std::string_view help,
                                                   const Labels& labels, std::function<double()> fn) {
  return AddFunction(name, help, Type::kCounter, labels, std::move(fn), /*permanent=*/false);
}

void MetricsRegistry::RemoveFunction(const std::string& name, const std::vector<std::string>& key) {
  std::lock_guard lock(mu_);
  auto it = families_.find(name);
  assert(it != families_.end());
  if (it == families_.end()) return;
  it->second->series.erase(key);
  --live_callbacks_;
}

namespace {

void AppendSample(std::string_view name, std::string_view suffix, std::string_view labels,
                  std::string_view extra_label, std::string* out) {
  out->append(name).append(suffix);
  if (!labels.empty() || !extra_label.empty()) {
    out->push_back('{');
    out->append(labels);
    if (!labels.empty() && !extra_label.empty()) out->push_back(',');
    out->append(extra_label);
    out->push_back('}');
  }
  out->push_back(' ');
}

}  // namespace

std::string MetricsRegistry::RenderText() const {
  std::string out;
  std::lock_guard lock(mu_);
  out.reserve(families_.size() * 160);
  for (const auto& [name, family] : families_) {
    if (family->series.empty()) continue;
    out.append("# HELP ").append(name).push_back(' ');
    AppendHelp(family->help, &out);
    out.append("\n# TYPE ").append(name).push_back(' ');
    out.append(TypeName(int(family->type))).push_back('\n');
    for (const auto& [key, s] : family->series) {
      if (s.fn) {
        double v;
        try {
          v = s.fn();
        } catch (...) {  // no exception crosses into the scraper
          v = std::numeric_limits<double>::quiet_NaN();
        }
        AppendSample(name, "", s.labels_text, "", &out);
        AppendValue(v, &out);
      } else if (s.counter) {
        AppendSample(name, "", s.labels_text, "", &out);
        AppendValue(s.counter->value(), &out);
      } else if (s.gauge) {
        AppendSample(name, "", s.labels_text, "", &out);
        AppendValue(s.gauge->value(), &out);
      } else {
        const Histogram& h = *s.histogram;
        // Sum read first: an Observe racing with this scrape shows in _count, maybe not _sum.
        const double sum = h.sum();
        uint64_t cumulative = 0;
        for (size_t i = 0; i <= h.bounds_.size(); ++i) {
          cumulative += h.counts_[i].load(std::memory_order_relaxed);
          AppendSample(name, "_bucket", s.labels_text, family->le_text[i], &out);
          AppendValue(cumulative, &out);
          out.push_back('\n');
        }
        AppendSample(name, "_sum", s.labels_text, "", &out);
        AppendValue(sum, &out);
        out.push_back('\n');
        AppendSample(name, "_count", s.labels_text, "", &out);
        AppendValue(cumulative, &out);
      }
      out.push_back('\n');
    }
  }
  return out;
}

// --- Process metrics ---------------------------------------------------------------

namespace {

// Fields of /proc/self/stat from field 3 (state) on: fields[k] is field k+3 of proc(5).
std::vector<std::string> ReadProcSelfStat() {
  std::ifstream f("/proc/self/stat");
  std::string line;
  if (!std::getline(f, line)) return {};
  // Field 2 is "(comm)", and comm may hold spaces and parentheses: skip to the last ')'.
  size_t close = line.rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream rest(line.substr(close + 1));
  std::vector<std::string> fields;
  for (std::string field; rest >> field;) fields.push_back(std::move(field));
  return fields;
}

double StatField(int proc5_field) {
  std::vector<std::string> fields = ReadProcSelfStat();
  size_t i = static_cast<size_t>(proc5_field - 3);
  if (i >= fields.size()) return std::numeric_limits<double>::quiet_NaN();
  return std::strtod(fields[i].c_str(), nullptr);
}

double ClockTicksPerSecond() { return static_cast<double>(::sysconf(_SC_CLK_TCK)); }

double CpuSeconds() {
  std::vector<std::string> fields = ReadProcSelfStat();
  if (fields.size() < 13) return std::numeric_limits<double>::quiet_NaN();
  // utime (field 14) + stime (field 15), in clock ticks.
  return (std::strtod(fields[11].c_str(), nullptr) + std::strtod(fields[12].c_str(), nullptr)) /
         ClockTicksPerSecond();
}

double StartTimeSeconds() {
  // starttime (field 22) is in clock ticks after boot; btime in /proc/stat is the boot time.
  double start_ticks = StatField(22);
  std::ifstream f("/proc/stat");
  for (std::string line; std::getline(f, line);) {
    if (line.starts_with("btime ")) {
      return std::strtod(line.c_str() + 6, nullptr) + start_ticks / ClockTicksPerSecond();
    }
  }
  return std::numeric_limits<double>::quiet_NaN();
}

double OpenFds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return std::numeric_limits<double>::quiet_NaN();
  const std::string own = std::to_string(::dirfd(dir));
  double n = 0;
  while (const dirent* e = ::readdir(dir)) {
    std::string_view entry = e->d_name;
    if (entry != "." && entry != ".." && entry != own) ++n;  // not the fd that lists them
  }
  ::closedir(dir);
  return n;
}

double MaxFds() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return std::numeric_limits<double>::quiet_NaN();
  return limit.rlim_cur == RLIM_INFINITY ? std::numeric_limits<double>::infinity()
                                         : static_cast<double>(limit.rlim_cur);
}

}  // namespace

void RegisterProcessMetrics(MetricsRegistry& registry) {
  {
    std::lock_guard lock(registry.mu_);
    if (registry.process_metrics_registered_) return;
    registry.process_metrics_registered_ = true;
  }
  using Type = MetricsRegistry::Type;
  auto add = [&registry](const char* name, const char* help, Type type, std::function<double()> fn) {
    // A permanent callback comes back with an empty handle: nothing to keep.
    static_cast<void>(registry.AddFunction(name, help, type, {}, std::move(fn), /*permanent=*/true));
  };
  add("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", Type::kCounter,
      CpuSeconds);
  add("process_resident_memory_bytes", "Resident memory size in bytes.", Type::kGauge,
      [] { return StatField(24) * static_cast<double>(::sysconf(_SC_PAGESIZE)); });
  add("process_virtual_memory_bytes", "Virtual memory size in bytes.", Type::kGauge,
      [] { return StatField(23); });
  add("process_open_fds", "Number of open file descriptors.", Type::kGauge, OpenFds);
  add("process_max_fds", "Maximum number of open file descriptors.", Type::kGauge, MaxFds);
  const double start = StartTimeSeconds();  // fixed for the process' life
  add("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", Type::kGauge,
      [start] { return start; });
}

}  // namespace vigil
