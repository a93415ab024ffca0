// Support for the compute unit tests (src/compute/*_test.cc): readable gtest output for
// Value and ChangelogRow, Value shorthands, the size scale of the long random tests, and
// a project of one feature view `v` written as YAML and loaded with LoadProject, so that
// what a test runs is the loader's compiled plan. Test code only, header-only.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

#include "common/test_util.h"
#include "common/time.h"
#include "compute/changelog.h"
#include "schema/value.h"
#include "schema/value_test_util.h"
#include "spec/definitions.h"

namespace vigil {

// Readable failures; gtest finds these by argument-dependent lookup, so they sit in vigil.
inline void PrintTo(const ChangelogRow& r, std::ostream* os) {
  *os << "{" << r.entity << " @" << r.ts << ":";
  for (const Value& v : r.values) *os << " " << TypeName(v.type()) << ":" << v.DebugString();
  *os << "}";
}

namespace test {

// Sanitizer builds (-O0 with ASan/UBSan) run the long loops ~50x slower: there the random,
// stream and magnitude tests keep their shapes with a tenth of the events (n / kScale), so
// the whole suite stays within seconds; the optimized build runs the full sizes (100k
// random events, 1e6 equal values).
#if defined(__SANITIZE_ADDRESS__)
inline constexpr int kScale = 10;
#else
inline constexpr int kScale = 1;
#endif

// Value shorthands: I(1), D(0.5), S("a"), N() (null).
inline Value I(int64_t v) { return Value::Int64(v); }
inline Value D(double v) { return Value::Double(v); }
inline Value S(std::string v) { return Value::String(std::move(v)); }
inline Value N() { return Value::Null(); }

// The one source ev every view of the compute tests reads: fields (k string, x double,
// n int64, s string, st string), 2 s allowed lateness.
inline constexpr char kEvSource[] = R"(sources:
  ev:
    timestamp: ts
    allowed_lateness: 2s
    schema: {k: string, x: double, n: int64, s: string, st: string}
)";

// One event of source ev, written with designated initializers in field order
// ({.ts = 1000, .x = 2.5}); an unset optional is a null.
struct EvInput {
  TimestampMs ts = 0;
  std::string k = "a";
  std::optional<double> x;
  std::optional<int64_t> n;
  std::optional<std::string> s;
  std::string st = "ok";
};

// The Event of `in`, its fields in ev's schema order (k, x, n, s, st).
inline Event ToEvent(const EvInput& in) {
  Event e;
  e.ts = in.ts;
  e.fields = {Value::String(in.k), in.x ? D(*in.x) : N(), in.n ? I(*in.n) : N(),
              in.s ? Value::String(*in.s) : N(), Value::String(in.st)};
  return e;
}

// Loads one view `v` of `entity` over source ev, with the given feature lines (already
// indented by 6) and optional ttl, from a defs.yaml in a scratch project whose entities
// are u (keyed by k) and `extra_entities` (YAML lines indented by 2). A load error is a
// gtest failure showing the YAML; then nullptr.
inline std::unique_ptr<Project> LoadView(const std::string& features, const std::string& ttl = "",
                                         const std::string& entity = "u",
                                         std::string_view extra_entities = "") {
  ScratchDir dir("vigil_compute");
  std::string yaml =
      "entities:\n"
      "  u: {keys: [k]}\n" +
      std::string(extra_entities) + kEvSource +
      "feature_views:\n"
      "  v:\n"
      "    entity: " +
      entity +
      "\n"
      "    source: ev\n";
  if (!ttl.empty()) yaml += "    ttl: " + ttl + "\n";
  yaml += "    features:\n" + features;
  dir.Write("defs.yaml", yaml);
  auto project = LoadProject(dir.path());
  EXPECT_TRUE(project.ok()) << project.status().ToString() << "\n" << yaml;
  if (!project.ok()) return nullptr;
  return std::make_unique<Project>(std::move(project).value());
}

// The view `v` of a project from LoadView.
inline const FeatureViewDef& View(const Project& p) { return p.defs.views.at("v"); }

}  // namespace test
}  // namespace vigil
