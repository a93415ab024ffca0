// deploy/: the Prometheus scrape config and alerting rules pass `promtool check config`
// and `promtool check rules`, their unit tests (deploy/alerts_test.yml) pass `promtool
// test rules`, and every metric the rules use is one vigil registers in src/ (so renaming
// a metric breaks this test, not the alerts in production). promtool comes with the
// `prometheus` package (scripts/install-deps); without it the promtool tests are skipped.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "e2e_util.h"

namespace vigil::e2e {
namespace deploy_test {

std::string DeployFile(const std::string& name) { return SourceDir() + "/deploy/" + name; }

bool HavePromtool() { return RunCommand("command -v promtool", 10).exit_code == 0; }

constexpr char kNoPromtool[] =
    "promtool not installed (scripts/install-deps installs the prometheus package)";

TEST(Deploy, PrometheusConfigPassesPromtool) {
  if (!HavePromtool()) GTEST_SKIP() << kNoPromtool;
  // Also loads the rule files it names (alerts.yml, relative to the config).
  CommandResult r = RunCommand("promtool check config " + ShellQuote(DeployFile("prometheus.yml")), 60);
  EXPECT_EQ(r.exit_code, 0) << r.Describe() << r.out;
}

TEST(Deploy, AlertingRulesPassPromtool) {
  if (!HavePromtool()) GTEST_SKIP() << kNoPromtool;
  CommandResult r =
      RunCommand("promtool check rules --lint-fatal " + ShellQuote(DeployFile("alerts.yml")), 60);
  EXPECT_EQ(r.exit_code, 0) << r.Describe() << r.out;
}

TEST(Deploy, AlertingRuleUnitTestsPass) {
  if (!HavePromtool()) GTEST_SKIP() << kNoPromtool;
  CommandResult r = RunCommand("promtool test rules " + ShellQuote(DeployFile("alerts_test.yml")), 120);
  EXPECT_EQ(r.exit_code, 0) << r.Describe() << r.out;
}

// `text` without // comments (outside string literals), so an example in a comment does
// not count as a registration.
std::string StripLineComments(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  bool in_string = false, in_char = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string || in_char) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) {
        out += text[++i];
      } else if ((in_string && c == '"') || (in_char && c == '\'') || c == '\n') {
        in_string = in_char = false;
      }
      continue;
    }
    if (c == '/' && i + 1 < text.size() && text[i + 1] == '/') {
      while (i < text.size() && text[i] != '\n') ++i;
      if (i < text.size()) out += '\n';
      continue;
    }
    if (c == '"') in_string = true;
    if (c == '\'') in_char = true;
    out += c;
  }
  return out;
}

// Metric name -> whether it is a histogram, for every vigil_* metric registered in src/
// (MetricsRegistry::Add{Counter,Gauge,Histogram}[Function]("name", ...)) and the process_*
// metrics of RegisterProcessMetrics (add("name", ...)).
std::map<std::string, bool> RegisteredMetrics() {
  static const std::regex kRegistration(
      R"re(\b(AddCounter|AddGauge|AddHistogram|AddCounterFunction|AddGaugeFunction|add)\(\s*"((?:vigil|process)_[a-z0-9_]+)")re");
  std::map<std::string, bool> names;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(SourceDir() + "/src")) {
    if (!entry.is_regular_file()) continue;
    const std::string path = entry.path().string();
    const std::string file = entry.path().filename().string();
    const bool source = file.ends_with(".cc") || file.ends_with(".h");
    if (!source || file.ends_with("_test.cc") || file == "test_util.h") continue;
    const std::string text = StripLineComments(ReadFile(path));
    for (std::sregex_iterator it(text.begin(), text.end(), kRegistration), end; it != end; ++it) {
      names[(*it)[2]] |= (*it)[1] == "AddHistogram";
    }
  }
  return names;
}

// The text of every `expr:` of a rules file: the rest of the line, or the block scalar
// (`expr: |`) of the lines indented deeper than it.
std::vector<std::string> RuleExpressions(const std::string& yaml) {
  std::vector<std::string> exprs;
  std::vector<std::string> lines;
  std::istringstream in(yaml);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    const size_t indent = line.find_first_not_of(' ');
    if (indent == std::string::npos || line.compare(indent, 5, "expr:") != 0) continue;
    std::string rest = line.substr(indent + 5);
    rest.erase(0, rest.find_first_not_of(' '));
    if (!rest.empty() && (rest[0] == '|' || rest[0] == '>')) {
      rest.clear();
      for (size_t j = i + 1; j < lines.size(); ++j) {
        const size_t k = lines[j].find_first_not_of(' ');
        if (k != std::string::npos && k <= indent) break;
        rest += lines[j] + "\n";
      }
    }
    exprs.push_back(rest);
  }
  return exprs;
}

TEST(Deploy, AlertsUseOnlyMetricsVigilRegisters) {
  const std::map<std::string, bool> registered = RegisteredMetrics();
  // The scan finds what it should: one metric of each part, and the process metrics.
  for (const char* known : {"vigil_http_requests_total", "vigil_serving_model_version",
                            "vigil_stream_consumer_lag_records", "vigil_ingest_consumer_lag_records",
                            "vigil_sync_last_differences", "process_resident_memory_bytes"}) {
    EXPECT_TRUE(registered.count(known)) << known << " not found registered in src/: the scan is broken";
  }
  EXPECT_TRUE(registered.at("vigil_http_request_duration_seconds")) << "not seen as a histogram";

  const std::vector<std::string> exprs = RuleExpressions(ReadFile(DeployFile("alerts.yml")));
  ASSERT_GE(exprs.size(), 10u) << "expected the alerting rules' expr: lines in deploy/alerts.yml";
  static const std::regex kMetric(R"(\b(?:vigil|process)_[a-z0-9_]+)");
  std::set<std::string> used;
  for (const std::string& expr : exprs) {
    for (std::sregex_iterator it(expr.begin(), expr.end(), kMetric), end; it != end; ++it) {
      used.insert(it->str());
    }
  }
  EXPECT_GE(used.size(), 15u);
  for (const std::string& name : used) {
    if (registered.count(name)) continue;
    bool histogram_series = false;
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      if (!name.ends_with(suffix)) continue;
      auto it = registered.find(name.substr(0, name.size() - std::string(suffix).size()));
      histogram_series = it != registered.end() && it->second;
    }
    EXPECT_TRUE(histogram_series) << "deploy/alerts.yml uses " << name
                                  << ", which no MetricsRegistry::Add* call in src/ registers (renamed?)";
  }
}

// Each alert has a `for`, a severity of warning or critical, a summary and a description,
// and deploy/README.md lists it; the scrape config has a job per vigil process.
TEST(Deploy, EveryAlertIsCompleteAndDocumented) {
  const std::string rules = ReadFile(DeployFile("alerts.yml"));
  const std::string readme = ReadFile(DeployFile("README.md"));
  // One rule's text: from its "- alert:" to the next.
  std::vector<std::pair<std::string, std::string>> alerts;
  static const std::regex kAlert(R"(\n\s*- alert: (\w+)\n)");
  std::vector<std::smatch> found;
  for (std::sregex_iterator it(rules.begin(), rules.end(), kAlert), end; it != end; ++it)
    found.push_back(*it);
  ASSERT_GE(found.size(), 15u);
  for (size_t i = 0; i < found.size(); ++i) {
    const size_t begin = found[i].position(0);
    const size_t end = i + 1 < found.size() ? found[i + 1].position(0) : rules.size();
    alerts.emplace_back(found[i][1], rules.substr(begin, end - begin));
  }
  std::set<std::string> names;
  for (const auto& [name, text] : alerts) {
    EXPECT_TRUE(names.insert(name).second) << "two alerts named " << name;
    EXPECT_TRUE(std::regex_search(text, std::regex(R"(\n\s+for: \d+[smh]\n)"))) << name << ": no for";
    EXPECT_TRUE(std::regex_search(text, std::regex(R"(\n\s+severity: (warning|critical)\n)")))
        << name << ": no severity warning or critical";
    EXPECT_NE(text.find("summary: "), std::string::npos) << name << ": no summary";
    EXPECT_NE(text.find("description: "), std::string::npos) << name << ": no description";
    EXPECT_NE(readme.find("`" + name + "`"), std::string::npos)
        << name << " is not listed in deploy/README.md";
  }
  const std::string config = ReadFile(DeployFile("prometheus.yml"));
  for (const char* job : {"vigil-serve", "vigil-stream", "vigil-ingest-worker"}) {
    EXPECT_NE(config.find(std::string("job_name: ") + job), std::string::npos) << "no scrape job " << job;
  }
}

}  // namespace deploy_test
}  // namespace vigil::e2e
