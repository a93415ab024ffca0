#include "common/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <ctime>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace vigil {
namespace metrics_test {

// The value of the first sample line that starts with `prefix` (e.g. "name{a=\"x\"} ").
std::string SampleValue(const std::string& text, const std::string& prefix) {
  size_t at = text.find("\n" + prefix);
  if (at == std::string::npos) return "<missing " + prefix + ">";
  at += 1 + prefix.size();
  return text.substr(at, text.find('\n', at) - at);
}

TEST(MetricsRegistryTest, RendersCountersAndGaugesExactly) {
  MetricsRegistry r;
  Counter& in = r.AddCounter("vigil_events_total", "Events read.", {{"source", "transactions"}});
  Counter& in2 = r.AddCounter("vigil_events_total", "Events read.", {{"source", "logins"}});
  Gauge& depth = r.AddGauge("vigil_queue_depth", "Rows waiting.");
  in.Increment();
  in.Increment(41);
  in2.Increment(3);
  depth.Set(7);
  depth.Add(-2.5);
  EXPECT_EQ(r.RenderText(),
            "# HELP vigil_events_total Events read.\n"
            "# TYPE vigil_events_total counter\n"
            "vigil_events_total{source=\"logins\"} 3\n"
            "vigil_events_total{source=\"transactions\"} 42\n"
            "# HELP vigil_queue_depth Rows waiting.\n"
            "# TYPE vigil_queue_depth gauge\n"
            "vigil_queue_depth 4.5\n");
  EXPECT_EQ(in.value(), 42u);
  EXPECT_EQ(depth.value(), 4.5);
}

TEST(MetricsRegistryTest, SameSeriesTwiceIsTheSameObjectWhateverTheLabelOrder) {
  MetricsRegistry r;
  Counter& a = r.AddCounter("x_total", "X.", {{"b", "2"}, {"a", "1"}});
  Counter& b = r.AddCounter("x_total", "X.", {{"a", "1"}, {"b", "2"}});
  Counter& c = r.AddCounter("x_total", "X.", {{"a", "1"}, {"b", "3"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &c);
  a.Increment(5);
  c.Increment(1);
  EXPECT_EQ(r.RenderText(),
            "# HELP x_total X.\n# TYPE x_total counter\n"
            "x_total{a=\"1\",b=\"2\"} 5\n"
            "x_total{a=\"1\",b=\"3\"} 1\n");
  Histogram& h1 = r.AddHistogram("h_seconds", "H.", {}, kLatencyBucketsSeconds);
  Histogram& h2 = r.AddHistogram("h_seconds", "H.", {}, kLatencyBucketsSeconds);
  EXPECT_EQ(&h1, &h2);
}

TEST(MetricsRegistryTest, FamiliesAreSortedByNameWhateverTheRegistrationOrder) {
  MetricsRegistry r;
  r.AddGauge("zz", "Z.").Set(1);
  r.AddGauge("aa", "A.").Set(2);
  r.AddCounter("mm_total", "M.").Increment();
  EXPECT_EQ(r.RenderText(),
            "# HELP aa A.\n# TYPE aa gauge\naa 2\n"
            "# HELP mm_total M.\n# TYPE mm_total counter\nmm_total 1\n"
            "# HELP zz Z.\n# TYPE zz gauge\nzz 1\n");
}

TEST(MetricsRegistryTest, EscapesLabelValuesAndHelp) {
  MetricsRegistry r;
  r.AddGauge("g", "Help with \\ backslash,\nnewline and \"quotes\".", {{"path", "C:\\dir\n\"x\""}}).Set(1);
  EXPECT_EQ(r.RenderText(),
            "# HELP g Help with \\\\ backslash,\\nnewline and \"quotes\".\n"
            "# TYPE g gauge\n"
            "g{path=\"C:\\\\dir\\n\\\"x\\\"\"} 1\n");
}

TEST(MetricsRegistryTest, RepairsLabelValuesThatAreNotUtf8) {
  MetricsRegistry r;
  // Valid multi-byte text passes; a lone continuation byte, a truncated sequence and an
  // overlong encoding each become U+FFFD.
  r.AddGauge("g", "G.", {{"a", "d\xC3\xA9j\xC3\xA0 \xE2\x82\xAC \xF0\x9F\x98\x80"}}).Set(1);
  r.AddGauge("g", "G.", {{"a", "x\x80y\xE2\x82"}}).Set(2);
  r.AddGauge("g", "G.", {{"a", "\xC0\xAF"}}).Set(3);
  std::string text = r.RenderText();
  EXPECT_NE(text.find("g{a=\"d\xC3\xA9j\xC3\xA0 \xE2\x82\xAC \xF0\x9F\x98\x80\"} 1\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("g{a=\"x\xEF\xBF\xBDy\xEF\xBF\xBD\xEF\xBF\xBD\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("g{a=\"\xEF\xBF\xBD\xEF\xBF\xBD\"} 3\n"), std::string::npos) << text;
}

TEST(MetricsRegistryTest, FormatsValuesSoPrometheusReadsThemBack) {
  MetricsRegistry r;
  struct Case {
    double v;
    const char* text;
  };
  const std::vector<Case> cases = {
      {0, "0"},
      {-0.0, "0"},
      {1e6, "1000000"},
      {-42, "-42"},
      {0.1, "0.1"},
      {-2.5, "-2.5"},
      {1.5e-7, "1.5e-07"},
      {0.0001, "0.0001"},
      {0.00001, "1e-05"},
      {1234567.5, "1.2345675e+06"},
      {1e300, "1e+300"},
      {9007199254740993.0, "9007199254740992"},  // 2^53 + 1 is not a double: 2^53 is stored
      {1e19, "1e+19"},                           // past int64: shortest round-trip form
      {std::numeric_limits<double>::infinity(), "+Inf"},
      {-std::numeric_limits<double>::infinity(), "-Inf"},
      {std::numeric_limits<double>::quiet_NaN(), "NaN"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    r.AddGauge("v", "V.", {{"i", std::to_string(100 + i)}}).Set(cases[i].v);
  }
  std::string text = r.RenderText();
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(SampleValue(text, "v{i=\"" + std::to_string(100 + i) + "\"} "), cases[i].text) << cases[i].v;
  }
  Counter& big = r.AddCounter("big_total", "B.");
  big.Increment(std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(SampleValue(r.RenderText(), "big_total "), "18446744073709551615");
}

TEST(HistogramTest, RendersCumulativeBucketsSumAndCount) {
  MetricsRegistry r;
  const double bounds[] = {0.1, 1};
  Histogram& h = r.AddHistogram("vigil_lookup_seconds", "Lookup latency.", {{"view", "user_txn"}}, bounds);
  for (double v : {0.05, 0.1, 0.5, 7.0}) h.Observe(v);
  EXPECT_EQ(r.RenderText(),
            "# HELP vigil_lookup_seconds Lookup latency.\n"
            "# TYPE vigil_lookup_seconds histogram\n"
            "vigil_lookup_seconds_bucket{view=\"user_txn\",le=\"0.1\"} 2\n"
            "vigil_lookup_seconds_bucket{view=\"user_txn\",le=\"1\"} 3\n"
            "vigil_lookup_seconds_bucket{view=\"user_txn\",le=\"+Inf\"} 4\n"
            "vigil_lookup_seconds_sum{view=\"user_txn\"} 7.65\n"
            "vigil_lookup_seconds_count{view=\"user_txn\"} 4\n");
  EXPECT_EQ(h.count(), 4u);
  EXPECT_DOUBLE_EQ(h.sum(), 7.65);
}

TEST(HistogramTest, EdgesNanInfinityAndUnlabelled) {
  MetricsRegistry r;
  const double bounds[] = {-1, 0, 2.5, std::numeric_limits<double>::infinity()};  // +Inf dropped
  Histogram& h = r.AddHistogram("h", "H.", {}, bounds);
  ASSERT_EQ(h.bounds().size(), 3u);
  h.Observe(-5);   // le=-1
  h.Observe(-1);   // le=-1 (upper bound inclusive)
  h.Observe(0);    // le=0
  h.Observe(2.5);  // le=2.5
  h.Observe(std::numeric_limits<double>::infinity());
  EXPECT_EQ(r.RenderText(),
            "# HELP h H.\n# TYPE h histogram\n"
            "h_bucket{le=\"-1\"} 2\n"
            "h_bucket{le=\"0\"} 3\n"
            "h_bucket{le=\"2.5\"} 4\n"
            "h_bucket{le=\"+Inf\"} 5\n"
            "h_sum +Inf\n"
            "h_count 5\n");
  h.Observe(std::numeric_limits<double>::quiet_NaN());
  std::string text = r.RenderText();
  EXPECT_EQ(SampleValue(text, "h_bucket{le=\"2.5\"} "), "4");
  EXPECT_EQ(SampleValue(text, "h_bucket{le=\"+Inf\"} "), "6");
  EXPECT_EQ(SampleValue(text, "h_sum "), "NaN");
  EXPECT_EQ(SampleValue(text, "h_count "), "6");
}

TEST(HistogramTest, ObserveDurationIsInSeconds) {
  MetricsRegistry r;
  Histogram& h = r.AddHistogram("d_seconds", "D.", {}, kLatencyBucketsSeconds);
  h.ObserveDuration(std::chrono::milliseconds(3));
  h.ObserveDuration(std::chrono::microseconds(200));
  EXPECT_DOUBLE_EQ(h.sum(), 0.0032);
  std::string text = r.RenderText();
  EXPECT_EQ(SampleValue(text, "d_seconds_bucket{le=\"0.0001\"} "), "0");
  EXPECT_EQ(SampleValue(text, "d_seconds_bucket{le=\"0.00025\"} "), "1");
  EXPECT_EQ(SampleValue(text, "d_seconds_bucket{le=\"0.0025\"} "), "1");
  EXPECT_EQ(SampleValue(text, "d_seconds_bucket{le=\"0.005\"} "), "2");
  EXPECT_EQ(SampleValue(text, "d_seconds_bucket{le=\"10\"} "), "2");
}

TEST(HistogramTest, ExponentialBuckets) {
  EXPECT_EQ(ExponentialBuckets(1, 2, 5), (std::vector<double>{1, 2, 4, 8, 16}));
  EXPECT_EQ(ExponentialBuckets(0.5, 10, 1), (std::vector<double>{0.5}));
}

TEST(CallbackMetricTest, EvaluatedAtEachRender) {
  MetricsRegistry r;
  double lag = 10;
  int calls = 0;
  CallbackMetric m = r.AddGaugeFunction("vigil_consumer_lag_records", "Lag.", {{"partition", "0"}}, [&] {
    ++calls;
    return lag;
  });
  EXPECT_EQ(calls, 0);  // not at registration
  EXPECT_EQ(SampleValue(r.RenderText(), "vigil_consumer_lag_records{partition=\"0\"} "), "10");
  lag = 0.25;
  EXPECT_EQ(SampleValue(r.RenderText(), "vigil_consumer_lag_records{partition=\"0\"} "), "0.25");
  EXPECT_EQ(calls, 2);
}

TEST(CallbackMetricTest, CounterFunctionHasCounterType) {
  MetricsRegistry r;
  CallbackMetric m = r.AddCounterFunction("bytes_total", "Bytes.", {}, [] { return 1.5e10; });
  EXPECT_EQ(r.RenderText(),
            "# HELP bytes_total Bytes.\n# TYPE bytes_total counter\nbytes_total 15000000000\n");
}

TEST(CallbackMetricTest, DestroyingTheHandleRemovesTheSeries) {
  MetricsRegistry r;
  r.AddGauge("other", "O.").Set(1);
  {
    CallbackMetric a = r.AddGaugeFunction("lag", "Lag.", {{"p", "0"}}, [] { return 1.0; });
    CallbackMetric b = r.AddGaugeFunction("lag", "Lag.", {{"p", "1"}}, [] { return 2.0; });
    EXPECT_EQ(r.RenderText(),
              "# HELP lag Lag.\n# TYPE lag gauge\nlag{p=\"0\"} 1\nlag{p=\"1\"} 2\n"
              "# HELP other O.\n# TYPE other gauge\nother 1\n");
    CallbackMetric moved = std::move(a);
    a.Reset();  // empty after the move: a no-op
    EXPECT_NE(r.RenderText().find("lag{p=\"0\"} 1"), std::string::npos);
    moved.Reset();
    EXPECT_EQ(r.RenderText().find("lag{p=\"0\"}"), std::string::npos);
    EXPECT_NE(r.RenderText().find("lag{p=\"1\"} 2"), std::string::npos);
  }
  // A family whose series are all gone is left out.
  EXPECT_EQ(r.RenderText(), "# HELP other O.\n# TYPE other gauge\nother 1\n");
  // and the series may be registered again.
  CallbackMetric again = r.AddGaugeFunction("lag", "Lag.", {{"p", "0"}}, [] { return 3.0; });
  EXPECT_NE(r.RenderText().find("lag{p=\"0\"} 3"), std::string::npos);
  // Move-assigning over a live handle removes its series first.
  again = r.AddGaugeFunction("lag", "Lag.", {{"p", "9"}}, [] { return 4.0; });
  EXPECT_EQ(r.RenderText().find("lag{p=\"0\"}"), std::string::npos);
  EXPECT_NE(r.RenderText().find("lag{p=\"9\"} 4"), std::string::npos);
}

TEST(CallbackMetricTest, ThrowingCallbackRendersNaN) {
  MetricsRegistry r;
  CallbackMetric m = r.AddGaugeFunction("g", "G.", {}, []() -> double { throw std::runtime_error("boom"); });
  EXPECT_EQ(SampleValue(r.RenderText(), "g "), "NaN");
}

TEST(MetricsConcurrencyTest, IncrementsFromSeveralThreadsSumExactly) {
  MetricsRegistry r;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 100000;
  const double bounds[] = {1, 2};
  std::vector<std::thread> threads;
  std::atomic<bool> done{false};
  // A scraper renders throughout, and probes register the same series concurrently.
  size_t scraped = 0;
  std::thread scraper([&] {
    while (!done.load()) scraped += r.RenderText().size();
  });
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&r, &bounds, t] {
      Counter& c = r.AddCounter("ops_total", "Ops.");
      Counter& mine = r.AddCounter("ops_by_thread_total", "Ops by thread.", {{"t", std::to_string(t)}});
      Gauge& g = r.AddGauge("level", "Level.");
      Histogram& h = r.AddHistogram("size", "Size.", {}, bounds);
      for (int i = 0; i < kPerThread; ++i) {
        c.Increment();
        mine.Increment(2);
        g.Add(i % 2 == 0 ? 1.0 : -0.5);
        h.Observe(i % 3);  // 0, 1, 2: one third in each bucket
      }
    });
  }
  for (auto& th : threads) th.join();
  done = true;
  scraper.join();
  std::string text = r.RenderText();
  constexpr long long kTotal = static_cast<long long>(kThreads) * kPerThread;
  EXPECT_EQ(SampleValue(text, "ops_total "), std::to_string(kTotal));
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(SampleValue(text, "ops_by_thread_total{t=\"" + std::to_string(t) + "\"} "),
              std::to_string(2 * kPerThread));
  }
  EXPECT_EQ(SampleValue(text, "level "), std::to_string(kTotal / 4));  // +1 -0.5 per pair
  EXPECT_EQ(r.AddHistogram("size", "Size.", {}, bounds).count(), static_cast<uint64_t>(kTotal));
  EXPECT_EQ(SampleValue(text, "size_count "), std::to_string(kTotal));
  EXPECT_EQ(SampleValue(text, "size_bucket{le=\"+Inf\"} "), std::to_string(kTotal));
  // Per thread, i % 3 over 0..99999: 33334 zeros, 33333 ones, 33333 twos.
  EXPECT_EQ(SampleValue(text, "size_bucket{le=\"1\"} "), std::to_string(kThreads * (33334 + 33333)));
  EXPECT_EQ(SampleValue(text, "size_sum "), std::to_string(kThreads * (33333 + 2 * 33333)));
}

TEST(MetricNamesTest, PrometheusRules) {
  for (const char* ok : {"a", "_x", ":x", "vigil_events_total", "job:rate5m", "A1_b2:c3"}) {
    EXPECT_TRUE(IsValidMetricName(ok)) << ok;
  }
  for (const char* bad : {"", "1abc", "a-b", "a b", "a.b", "é", "a\n"}) {
    EXPECT_FALSE(IsValidMetricName(bad)) << bad;
  }
  for (const char* ok : {"a", "_x", "view", "le", "A1_b2", "_"}) EXPECT_TRUE(IsValidLabelName(ok)) << ok;
  for (const char* bad : {"", "1a", "a:b", "a-b", "__name__", "__x", "é"}) {
    EXPECT_FALSE(IsValidLabelName(bad)) << bad;
  }
}

// Registration mistakes abort with a message naming the metric (see metrics.h).
class MetricsRegistryDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
  MetricsRegistry r_;
};

TEST_F(MetricsRegistryDeathTest, InvalidNamesAbort) {
  EXPECT_DEATH(r_.AddCounter("bad-name_total", "B."), "invalid metric name 'bad-name_total'");
  EXPECT_DEATH(r_.AddCounter("", "B."), "invalid metric name ''");
  EXPECT_DEATH(r_.AddGauge("g", "G.", {{"bad-label", "x"}}), "invalid label name 'bad-label'");
  EXPECT_DEATH(r_.AddGauge("g", "G.", {{"__reserved", "x"}}), "invalid label name '__reserved'");
  EXPECT_DEATH(r_.AddGauge("g", "G.", {{"a", "x"}, {"a", "y"}}), "label 'a' given twice");
  EXPECT_DEATH(r_.AddHistogram("h", "H.", {{"le", "1"}}, kLatencyBucketsSeconds), "'le' is reserved");
  EXPECT_DEATH(r_.AddGauge("g", ""), "no help text");
}

TEST_F(MetricsRegistryDeathTest, ConflictingRegistrationsAbort) {
  r_.AddCounter("x_total", "X.", {{"a", "1"}});
  EXPECT_DEATH(r_.AddGauge("x_total", "X.", {{"a", "1"}}), "registered as a counter and as a gauge");
  EXPECT_DEATH(r_.AddCounter("x_total", "Other.", {{"a", "1"}}), "two help texts");
  EXPECT_DEATH(r_.AddCounter("x_total", "X.", {{"b", "1"}}), "label names \\{a\\} and \\{b\\}");
  EXPECT_DEATH(r_.AddCounter("x_total", "X."), "label names \\{a\\} and \\{\\}");
  const double b1[] = {1, 2}, b2[] = {1, 3}, bad[] = {2, 1}, nan[] = {std::nan("")};
  r_.AddHistogram("h", "H.", {}, b1);
  EXPECT_DEATH(r_.AddHistogram("h", "H.", {}, b2), "two sets of bucket bounds");
  EXPECT_DEATH(r_.AddHistogram("h2", "H.", {}, bad), "strictly increasing");
  EXPECT_DEATH(r_.AddHistogram("h3", "H.", {}, nan), "strictly increasing");
  EXPECT_DEATH(r_.AddGauge("h_count", "C."), "collides with the series of histogram 'h'");
  r_.AddGauge("k_sum", "S.");
  EXPECT_DEATH(r_.AddHistogram("k", "K.", {}, b1), "collides with the metric 'k_sum'");
}

TEST_F(MetricsRegistryDeathTest, CallbackForAnExistingSeriesAborts) {
  CallbackMetric m = r_.AddGaugeFunction("lag", "Lag.", {}, [] { return 1.0; });
  EXPECT_DEATH(static_cast<void>(r_.AddGaugeFunction("lag", "Lag.", {}, [] { return 2.0; })),
               "a callback for a series that already exists");
  EXPECT_DEATH(r_.AddGauge("lag", "Lag."), "this series is a callback");
  r_.AddCounter("c_total", "C.");
  EXPECT_DEATH(static_cast<void>(r_.AddCounterFunction("c_total", "C.", {}, [] { return 2.0; })),
               "already exists");
}

TEST(ProcessMetricsTest, ReadsProcAtScrapeTime) {
  MetricsRegistry r;
  RegisterProcessMetrics(r);
  RegisterProcessMetrics(r);  // idempotent
  std::string text = r.RenderText();
  for (const char* type :
       {"# TYPE process_cpu_seconds_total counter\n", "# TYPE process_resident_memory_bytes gauge\n",
        "# TYPE process_virtual_memory_bytes gauge\n", "# TYPE process_open_fds gauge\n",
        "# TYPE process_max_fds gauge\n", "# TYPE process_start_time_seconds gauge\n"}) {
    EXPECT_NE(text.find(type), std::string::npos) << type << " in\n" << text;
  }
  auto value = [&](const char* name) { return std::stod(SampleValue(text, std::string(name) + " ")); };
  EXPECT_GE(value("process_cpu_seconds_total"), 0);
  EXPECT_GT(value("process_resident_memory_bytes"), 1 << 20);
  EXPECT_GE(value("process_virtual_memory_bytes"), value("process_resident_memory_bytes"));
  EXPECT_GE(value("process_open_fds"), 3);  // stdin, stdout, stderr
  EXPECT_GE(value("process_max_fds"), value("process_open_fds"));
  const double now = static_cast<double>(std::time(nullptr));
  EXPECT_LE(value("process_start_time_seconds"), now + 1);
  EXPECT_GT(value("process_start_time_seconds"), now - 3600);

  // CPU time is read at each scrape: burn some and see it move.
  const double before = value("process_cpu_seconds_total");
  volatile double x = 0;
  for (auto start = std::chrono::steady_clock::now();
       std::chrono::steady_clock::now() - start < std::chrono::milliseconds(100);) {
    for (int i = 0; i < 10000; ++i) x = x + std::sqrt(static_cast<double>(i));
  }
  text = r.RenderText();
  EXPECT_GT(value("process_cpu_seconds_total"), before);
}

}  // namespace metrics_test
}  // namespace vigil
