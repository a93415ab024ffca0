// The fraud example's pipeline driven through the CLI, for tests that run it twice and
// compare the outcomes (crash_test.cc, kafka_e2e_test.cc).
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "e2e_util.h"

namespace vigil::e2e {

// Midnight UTC of day `d` of data from `vigil generate` (its default start, 2026-01-05).
inline int64_t GeneratedDay(int d) { return 1767571200000 + int64_t{d} * kDay; }

inline const std::vector<std::string> kSources = {"logins", "transactions", "withdrawals", "p2p_orders",
                                           "account_events"};

inline std::vector<std::string> Views(const std::string& project) {
  auto p = LoadProject(project);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  std::vector<std::string> views;
  if (p.ok()) {
    for (const auto& [name, v] : p->defs.views) views.push_back(name);
  }
  return views;
}

// A project with the fraud example's definitions and `settings` as vigil.yaml.
inline std::string MakeProject(const TempDir& dir, const std::string& name, const std::string& settings) {
  std::string project = dir.Path(name);
  std::filesystem::create_directories(project);
  for (const auto& e : std::filesystem::directory_iterator(SourceDir() + "/examples/fraud")) {
    if (e.path().extension() == ".yaml" && e.path().filename() != "vigil.yaml") {
      std::filesystem::copy_file(e.path(), project + "/" + e.path().filename().string());
    }
  }
  WriteFile(project + "/vigil.yaml", settings);
  return project;
}

// Splits every source's JSONL file into `n` chunks of consecutive lines.
inline std::vector<std::map<std::string, std::string>> Chunk(const TempDir& dir, const std::string& gen, int n) {
  std::vector<std::map<std::string, std::string>> chunks(static_cast<size_t>(n));
  for (const auto& source : kSources) {
    std::string text = ReadFile(gen + "/" + source + ".jsonl");
    std::vector<std::string> lines;
    for (size_t start = 0; start < text.size();) {
      size_t nl = text.find('\n', start);
      if (nl == std::string::npos) nl = text.size();
      lines.push_back(text.substr(start, nl - start + 1));
      start = nl + 1;
    }
    size_t per = (lines.size() + static_cast<size_t>(n) - 1) / static_cast<size_t>(n);
    for (int c = 0; c < n; ++c) {
      std::string part;
      for (size_t i = static_cast<size_t>(c) * per; i < std::min(lines.size(), (static_cast<size_t>(c) + 1) * per); ++i) {
        part += lines[i];
      }
      std::string path = dir.Path("chunk" + std::to_string(c) + "." + source + ".jsonl");
      WriteFile(path, part);
      chunks[static_cast<size_t>(c)][source] = path;
    }
  }
  return chunks;
}

inline void IngestChunk(const std::string& project, const std::map<std::string, std::string>& chunk) {
  for (const auto& source : kSources) {
    CommandResult r = RunVigil(project, {"ingest", source, chunk.at(source)}, 120);
    ASSERT_EQ(r.exit_code, 0) << r.Describe();
  }
}

// Every view's changelog and online rows, as CSV text keyed "changelog VIEW" / "online VIEW".
inline std::map<std::string, std::string> Outcome(const std::string& project) {
  std::map<std::string, std::string> out;
  for (const auto& view : Views(project)) {
    CommandResult c = RunVigil(project, {"changelog", view}, 120);
    EXPECT_EQ(c.exit_code, 0) << c.Describe();
    out["changelog " + view] = c.out;
    CommandResult o = RunVigil(project, {"online", view}, 120);
    EXPECT_EQ(o.exit_code, 0) << o.Describe();
    out["online " + view] = o.out;
  }
  return out;
}

inline void ExpectSameOutcome(const std::map<std::string, std::string>& actual,
                       const std::map<std::string, std::string>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (const auto& [what, text] : expected) {
    // Not vacuous: every view has rows.
    EXPECT_GT(std::count(text.begin(), text.end(), '\n'), 1) << what << " is empty in the reference run";
    EXPECT_TRUE(actual.at(what) == text) << what << " differs from the reference run:\n"
                                         << CsvMatches(actual.at(what), text).message();
  }
}

}  // namespace vigil::e2e
