// Metrics in the Prometheus data model (counters, gauges, histograms, and values computed
// at scrape time), and their text exposition format 0.0.4 for `GET /metrics`
// (src/monitoring/metrics_server.h serves it).
//
// How a part registers its metrics: once, in a probe object built from the registry that
// the command owns and handed to the code that updates them, never as globals (STYLE.md).
// The probe holds references, which stay valid for the registry's life:
//
//   // src/compute/stream_probe.h
//   struct StreamProbe {
//     StreamProbe(MetricsRegistry& r, const std::string& source)
//         : events_in(r.AddCounter("vigil_stream_events_total",
//                                  "Events read by stream compute.", {{"source", source}})),
//           late_events(r.AddCounter("vigil_stream_late_events_total",
//                                    "Events sent to the dead-letter topic as late.",
//                                    {{"source", source}})),
//           poll_seconds(r.AddHistogram("vigil_stream_poll_seconds",
//                                       "Time to compute one poll's batch.", {{"source", source}},
//                                       kLatencyBucketsSeconds)) {}
//     Counter& events_in;
//     Counter& late_events;
//     Histogram& poll_seconds;
//   };
//
// A value the part already keeps (consumer lag, watermark delay) is read at scrape time by
// a callback. The returned CallbackMetric keeps the series registered; its owner declares
// it *last*, so it is destroyed (and the callback is never called again) before anything
// the callback reads:
//
//   class StreamWorker {
//     ...
//     StreamProbe probe_;
//     CallbackMetric lag_metric_;  // last member: destroyed first
//   };
//   lag_metric_ = registry.AddGaugeFunction(
//       "vigil_stream_consumer_lag_records", "Records in the topic not yet read.",
//       {{"topic", topic}, {"partition", "0"}}, [this] { return double(lag_.load()); });
//
// Naming (Prometheus conventions, checked by `promtool check metrics` in the tests):
// snake_case with a `vigil_` prefix, base units in the name (`_seconds`, `_bytes`),
// counters end in `_total`, no `_bucket`/`_sum`/`_count` suffix outside histograms.
//
// Failure: registration has one way to fail, and it is a programming error, not a Status.
// A metric name, label name, help and bucket layout are literals in the code, so any test
// that constructs the probe finds a mistake; Add* then prints the reason to stderr and
// aborts the process, in every build type. The mistakes: an invalid metric name (not
// `[a-zA-Z_:][a-zA-Z0-9_:]*`) or label name (not `[a-zA-Z_][a-zA-Z0-9_]*`, or starting
// with `__`, or `le` in a histogram), a label name given twice, empty help; the same name
// again with another type, help, set of label names or bucket bounds; a family name that
// collides with a histogram's `_bucket`/`_sum`/`_count` series; bucket bounds that are
// not strictly increasing or are NaN; a callback for a series that already exists.
// Nothing a user can cause fails: label values are any text (bytes that are not UTF-8
// are replaced by U+FFFD at registration, so a scrape never breaks). Code that builds a
// name from input checks it first with IsValidMetricName / IsValidLabelName.
//
// Not an error: registering a counter, gauge or histogram again with the same name,
// help and labels returns the existing series (two probes for the same source share it).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vigil {

// One label of a series: `{name="value"}`.
struct Label {
  std::string name;
  std::string value;
};
// The labels of one series, in any order (they are rendered sorted by name).
using Labels = std::vector<Label>;

// Bucket upper bounds for latencies, in seconds: 100 us to 10 s, about 2.5x apart (the
// Prometheus defaults start at 5 ms, too coarse for online scoring).
inline constexpr std::array<double, 16> kLatencyBucketsSeconds = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

// `count` bounds start, start*factor, start*factor^2, ... (for sizes: 1, 2, 4, ...).
// REQUIRES: start > 0, factor > 1, count >= 1.
std::vector<double> ExponentialBuckets(double start, double factor, int count);

// Prometheus naming rules; registration aborts on names that fail them.
bool IsValidMetricName(std::string_view name);  // [a-zA-Z_:][a-zA-Z0-9_:]*
bool IsValidLabelName(std::string_view name);   // [a-zA-Z_][a-zA-Z0-9_]*, not __*

// A monotonic count of things (events, bytes, errors). Increment is one relaxed atomic
// add: cheap on hot paths, safe from any number of threads, no lock. Whole numbers only;
// a fractional total (CPU seconds) is an AddCounterFunction. Owned by its registry; not
// copyable.
class alignas(64) Counter {  // a cache line of its own: no false sharing between counters
 public:
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  void Increment(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  friend class MetricsRegistry;
  Counter() = default;
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down (queue depth, open connections). Lock-free; safe from any
// number of threads. Owned by its registry; not copyable.
class alignas(64) Gauge {
 public:
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  // Adds `delta` (negative to decrease) atomically with respect to other Add and Set.
  void Add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  friend class MetricsRegistry;
  Gauge() = default;
  std::atomic<double> value_{0};
};

// Observations counted into fixed buckets; exposed as cumulative `_bucket{le="b"}` series
// (observations <= b, and le="+Inf" for all), `_sum` and `_count`. Observe is two relaxed
// atomic adds (the value's bucket and the sum), no lock; safe from any number of threads.
// A scrape concurrent with Observe may see an observation in `_count` but not yet in
// `_sum`; `_count` always equals the +Inf bucket. NaN counts in the +Inf bucket only and
// makes `_sum` NaN (as in the Go client). Owned by its registry; not copyable.
//
// bounds {0.1, 1}, observations 0.05, 0.1, 0.5, 7:
//   _bucket{le="0.1"} 2   _bucket{le="1"} 3   _bucket{le="+Inf"} 4   _sum 7.65   _count 4
class Histogram {
 public:
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void Observe(double v);
  // Observes a duration in seconds, the unit of `*_seconds` histograms.
  void ObserveDuration(std::chrono::nanoseconds d) { Observe(static_cast<double>(d.count()) * 1e-9); }

  // Upper bounds of the finite buckets, strictly increasing.
  std::span<const double> bounds() const { return bounds_; }
  uint64_t count() const;
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  friend class MetricsRegistry;
  explicit Histogram(std::vector<double> bounds);
  // Observations <= bounds_[0] and in (bounds_[i-1], bounds_[i]]; counts_[bounds_.size()]
  // holds the rest (> last bound, and NaN). Not cumulative: each Observe adds to one.
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
};

class MetricsRegistry;

// Keeps one callback series (AddGaugeFunction / AddCounterFunction) in its registry.
// Destroying it, or Reset(), removes the series, waiting for a scrape that is calling the
// callback right now: after that the callback is never called again. So do not destroy
// it while holding a lock that the callback takes. Empty when default-constructed or
// moved from. Movable, not copyable. REQUIRES: the registry outlives it.
class [[nodiscard]] CallbackMetric {
 public:
  CallbackMetric() = default;
  CallbackMetric(CallbackMetric&& other) noexcept;
  CallbackMetric& operator=(CallbackMetric&& other) noexcept;
  CallbackMetric(const CallbackMetric&) = delete;
  CallbackMetric& operator=(const CallbackMetric&) = delete;
  ~CallbackMetric() { Reset(); }

  // Removes the series now (its family stays registered); a no-op when empty.
  void Reset();

 private:
  friend class MetricsRegistry;
  CallbackMetric(MetricsRegistry* registry, std::string name, std::vector<std::string> key)
      : registry_(registry), name_(std::move(name)), key_(std::move(key)) {}
  MetricsRegistry* registry_ = nullptr;
  std::string name_;
  std::vector<std::string> key_;  // label values, in the family's label-name order
};

// Owns metric families (a name, help, type and series told apart by labels) and renders
// them. Every method is safe from several threads without external locking. Not copyable
// or movable: the references it hands out point into it.
class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // The series `name{labels}` of a counter / gauge / histogram family, created at zero on
  // first use; the same name, help and labels again returns the same object. A new label
  // set adds a series to the family. The reference is valid for the registry's life.
  // Aborts on a programming error (see the top of this file).
  Counter& AddCounter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge& AddGauge(std::string_view name, std::string_view help, const Labels& labels = {});
  // `bounds`: finite bucket upper bounds, strictly increasing (a last +Inf is implied,
  // and dropped if given). Every series of the family has the same bounds.
  Histogram& AddHistogram(std::string_view name, std::string_view help, const Labels& labels,
                          std::span<const double> bounds);

  // A gauge / counter series whose value `fn` returns at each scrape, on the scraping
  // thread and under the registry's lock: `fn` must be thread-safe with respect to its
  // owner, quick, and must not call this registry. A counter's `fn` must never decrease.
  // If `fn` throws, the sample is NaN. The series lives as long as the returned handle.
  CallbackMetric AddGaugeFunction(std::string_view name, std::string_view help, const Labels& labels,
                                  std::function<double()> fn);
  CallbackMetric AddCounterFunction(std::string_view name, std::string_view help, const Labels& labels,
                                    std::function<double()> fn);

  // Every family in text exposition format 0.0.4: families sorted by name, each with one
  // `# HELP` and one `# TYPE` line, then its series sorted by label values, labels sorted
  // by name (`le` last). Values are integers where exact, else the shortest decimal that
  // reads back to the same double; `+Inf`, `-Inf`, `NaN`. A family with no series (its
  // callbacks all removed) is left out. Deterministic for a given state.
  std::string RenderText() const;

 private:
  friend class CallbackMetric;
  friend void RegisterProcessMetrics(MetricsRegistry& registry);
  struct Family;
  struct Series;
  enum class Type : unsigned char { kCounter, kGauge, kHistogram };

  // The series `name{labels}`, creating its family and itself as needed, after checking
  // everything the top of this file lists (aborting on a mistake). `*created` tells
  // whether the series is new; `*key`, if asked for, points to its label values (in the
  // family's label-name order). REQUIRES: mu_ held.
  Series& SeriesFor(std::string_view name, std::string_view help, Type type, const Labels& labels,
                    std::span<const double> bounds, bool* created,
                    const std::vector<std::string>** key = nullptr);
  // A callback series; `permanent` ones (process metrics) live as long as the registry
  // and come back with an empty handle.
  CallbackMetric AddFunction(std::string_view name, std::string_view help, Type type, const Labels& labels,
                             std::function<double()> fn, bool permanent);
  void RemoveFunction(const std::string& name, const std::vector<std::string>& key);

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Family>, std::less<>> families_;
  int live_callbacks_ = 0;  // CallbackMetrics not yet reset; must be 0 at destruction
  bool process_metrics_registered_ = false;
};

// Registers the standard process metrics, read from /proc at each scrape (the names the
// Go client and Grafana's dashboards use): process_cpu_seconds_total (user + system),
// process_resident_memory_bytes, process_virtual_memory_bytes, process_open_fds,
// process_max_fds, process_start_time_seconds (Unix time). A value that cannot be read is
// NaN. They live as long as the registry. Calling it again on the same registry is a
// no-op. Linux only.
void RegisterProcessMetrics(MetricsRegistry& registry);

}  // namespace vigil
