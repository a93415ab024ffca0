// LoadProject (definitions.h) against DESIGN.md §3: the example loads into the plans the
// engine runs; every definition error is reported at once as "file:line: what (text)";
// definitions may be split across files; vigil.yaml holds settings only.
#include <gtest/gtest.h>

#include <filesystem>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "common/test_util.h"
#include "spec/definitions.h"

namespace vigil {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The example of DESIGN.md §3, verbatim.
constexpr char kDesignExample[] = R"(entities:
  user:   {keys: [user_id]}
  device: {keys: [device_id]}
sources:
  transactions:
    timestamp: ts                # int64 ms since epoch, or ISO-8601 with zone
    allowed_lateness: 2s
    schema: {txn_id: string, user_id: string, card_id: string, device_id: string,
             amount: double, status: string, ip: string, country: string}
feature_views:
  user_txn:
    entity: user
    source: transactions
    ttl: 30d                      # state of an entity idle this long is dropped
    features:
      txn_count_1h:       {agg: count, window: 1h}
      amount_sum_24h:     {agg: sum, field: amount, window: 24h}
      failed_count_10m:   {agg: count, window: 10m, where: "status == 'failed'"}
      distinct_cards_7d:  {agg: count_distinct, field: card_id, window: 7d}
      amount_max_7d:      {agg: max, field: amount, window: 7d}
      last_country:       {agg: last, field: country}
)";

TEST(LoaderTest, DesignExampleLoads) {
  test::ScratchDir dir("vigil_spec");
  dir.Write("features.yaml", kDesignExample);
  auto p = LoadProject(dir.path());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  const Definitions& d = p->defs;
  ASSERT_EQ(d.entities.size(), 2u);
  EXPECT_EQ(d.FindEntity("user")->keys, std::vector<std::string>{"user_id"});
  EXPECT_EQ(d.FindEntity("device")->keys, std::vector<std::string>{"device_id"});
  EXPECT_EQ(d.FindEntity("user")->loc.ToString(), "features.yaml:2");

  const SourceDef* s = d.FindSource("transactions");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->ts_field, "ts");
  EXPECT_EQ(s->allowed_lateness, 2000);
  EXPECT_EQ(s->max_future, 86'400'000);  // default 1d
  std::vector<std::pair<std::string, Type>> want_schema = {
      {"txn_id", Type::kString},    {"user_id", Type::kString}, {"card_id", Type::kString},
      {"device_id", Type::kString}, {"amount", Type::kDouble},  {"status", Type::kString},
      {"ip", Type::kString},        {"country", Type::kString}};
  ASSERT_EQ(s->schema.size(), want_schema.size());
  for (size_t i = 0; i < want_schema.size(); ++i) {
    EXPECT_EQ(s->schema.field(i).name, want_schema[i].first);
    EXPECT_EQ(s->schema.field(i).type, want_schema[i].second);
  }

  const FeatureViewDef* v = d.FindView("user_txn");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->entity, "user");
  EXPECT_EQ(v->source, "transactions");
  EXPECT_EQ(v->ttl, 30LL * 86'400'000);
  EXPECT_EQ(v->key_indexes, std::vector<int>{1});
  EXPECT_EQ(v->loc.ToString(), "features.yaml:12");
  // Features keep the order of the file: it is the order of every changelog tuple.
  struct WantFeature {
    const char* name;
    AggKind agg;
    const char* field;
    int field_index;
    std::optional<DurationMs> window;
    Type output;
    bool where;
    int line;
  };
  std::vector<WantFeature> want = {
      {"txn_count_1h", AggKind::kCount, "", -1, 3'600'000, Type::kInt64, false, 16},
      {"amount_sum_24h", AggKind::kSum, "amount", 4, 86'400'000, Type::kDouble, false, 17},
      {"failed_count_10m", AggKind::kCount, "", -1, 600'000, Type::kInt64, true, 18},
      {"distinct_cards_7d", AggKind::kCountDistinct, "card_id", 2, 7 * 86'400'000LL, Type::kInt64, false, 19},
      {"amount_max_7d", AggKind::kMax, "amount", 4, 7 * 86'400'000LL, Type::kDouble, false, 20},
      {"last_country", AggKind::kLast, "country", 7, std::nullopt, Type::kString, false, 21},
  };
  ASSERT_EQ(v->features.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    const FeatureDef& f = v->features[i];
    SCOPED_TRACE(want[i].name);
    EXPECT_EQ(f.name, want[i].name);
    EXPECT_EQ(f.agg, want[i].agg);
    EXPECT_EQ(f.field, want[i].field);
    EXPECT_EQ(f.field_index, want[i].field_index);
    EXPECT_EQ(f.window, want[i].window);
    EXPECT_EQ(f.output_type, want[i].output);
    EXPECT_EQ(f.where_expr != nullptr, want[i].where);
    EXPECT_EQ(f.loc.ToString(), "features.yaml:" + std::to_string(want[i].line));
  }
  // The where filter compiled against the source schema.
  const Expr& where = *v->features[2].where_expr;
  Row failed(8), ok(8);
  failed[5] = Value::String("failed");
  ok[5] = Value::String("ok");
  EXPECT_TRUE(where.Matches(failed));
  EXPECT_FALSE(where.Matches(ok));
  EXPECT_FALSE(where.Matches(Row(8)));  // status null: null, so false

  EXPECT_EQ(d.ViewsOf("transactions").size(), 1u);
  EXPECT_EQ(d.RequiredFields("transactions"), std::vector<int>{1});
  // No vigil.yaml: embedded defaults.
  EXPECT_EQ(fs::path(p->settings.data_dir), fs::path(dir.path()) / ".vigil");
  EXPECT_EQ(p->settings.online_shards, 16);
}

// --- one error at a time ---------------------------------------------------------------

// Shared by the error cases: views.yaml adds to it.
constexpr char kBase[] = R"(entities:
  user: {keys: [user_id]}
sources:
  txns:
    timestamp: ts
    allowed_lateness: 2s
    schema: {user_id: string, amount: double, status: string, n: int64, ok: bool}
)";

struct ErrorCase {
  const char* name;
  const char* views_yaml;
  const char* place;                 // "views.yaml:6"
  std::vector<const char*> mention;  // texts the message must contain
};

void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

class LoaderErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(LoaderErrorTest, ReportsFileLineAndText) {
  const ErrorCase& c = GetParam();
  test::ScratchDir dir("vigil_spec");
  dir.Write("base.yaml", kBase);
  dir.Write("views.yaml", c.views_yaml);
  Result<Project> p(Status::InvalidArgument("not run"));
  ASSERT_NO_THROW(p = LoadProject(dir.path()));
  ASSERT_FALSE(p.ok()) << "loaded without error:\n" << c.views_yaml;
  EXPECT_TRUE(p.status().IsInvalidArgument()) << p.status().ToString();
  const std::string& msg = p.status().message();
  auto lines = Lines(msg);
  ASSERT_GE(lines.size(), 1u);
  // The error names the place first...
  bool found = false;
  for (const auto& line : lines) {
    if (line.rfind(std::string(c.place) + ": ", 0) == 0) {
      found = true;
      // ...and the offending text.
      for (const char* m : c.mention)
        EXPECT_NE(line.find(m), std::string::npos) << "'" << m << "' in: " << line;
    }
  }
  EXPECT_TRUE(found) << "no error at " << c.place << " in:\n" << msg;
  // One mistake, one error: no cascade of follow-on errors.
  EXPECT_EQ(lines.size(), 1u) << msg;
}

constexpr char kViewHead[] = "feature_views:\n  v:\n    entity: user\n    source: txns\n    features:\n";

#define VIEW_WITH(feature_line) \
  "feature_views:\n  v:\n    entity: user\n    source: txns\n    features:\n      " feature_line "\n"

INSTANTIATE_TEST_SUITE_P(
    EveryError, LoaderErrorTest,
    ::testing::Values(
        ErrorCase{"UnknownSection", "feature_view:\n  v: {}\n", "views.yaml:1", {"feature_view"}},
        ErrorCase{"UnknownKeyTypo", VIEW_WITH("c: {agg: count, windw: 10m}"), "views.yaml:6", {"windw"}},
        ErrorCase{"UnknownViewKey",
                  "feature_views:\n  v:\n    entity: user\n    source: txns\n    tll: 1h\n    features:\n"
                  "      c: {agg: count, window: 1h}\n",
                  "views.yaml:5",
                  {"tll"}},
        ErrorCase{"UnknownAgg",
                  VIEW_WITH("c: {agg: median, field: amount, window: 1h}"),
                  "views.yaml:6",
                  {"median"}},
        ErrorCase{"BadDurationUnit", VIEW_WITH("c: {agg: count, window: 10x}"), "views.yaml:6", {"10x"}},
        ErrorCase{"BadDurationNoUnit", VIEW_WITH("c: {agg: count, window: 10}"), "views.yaml:6", {"10"}},
        ErrorCase{"BadDurationNegative", VIEW_WITH("c: {agg: count, window: -5m}"), "views.yaml:6", {"-5m"}},
        ErrorCase{"ZeroWindow", VIEW_WITH("c: {agg: count, window: 0s}"), "views.yaml:6", {"window"}},
        ErrorCase{"BadLateness",
                  "sources:\n  other:\n    timestamp: ts\n    allowed_lateness: 2 seconds\n"
                  "    schema: {a: string}\n",
                  "views.yaml:4",
                  {"2 seconds"}},
        ErrorCase{"WindowLongerThanTtl",
                  "feature_views:\n  v:\n    entity: user\n    source: txns\n    ttl: 1h\n    features:\n"
                  "      long_one: {agg: count, window: 2h}\n",
                  "views.yaml:7",
                  {"long_one", "2h", "1h"}},
        ErrorCase{"ZeroTtl",
                  "feature_views:\n  v:\n    entity: user\n    source: txns\n    ttl: 0s\n    features:\n"
                  "      c: {agg: count}\n",
                  "views.yaml:5",
                  {"0s"}},
        ErrorCase{
            "UnknownField", VIEW_WITH("c: {agg: sum, field: amout, window: 1h}"), "views.yaml:6", {"amout"}},
        ErrorCase{"SumOfString",
                  VIEW_WITH("c: {agg: sum, field: status, window: 1h}"),
                  "views.yaml:6",
                  {"status", "string"}},
        ErrorCase{
            "AvgOfString", VIEW_WITH("c: {agg: avg, field: status, window: 1h}"), "views.yaml:6", {"status"}},
        ErrorCase{
            "StddevOfBool", VIEW_WITH("c: {agg: stddev, field: ok, window: 1h}"), "views.yaml:6", {"ok"}},
        ErrorCase{"MissingField",
                  VIEW_WITH("c: {agg: count_distinct, window: 1h}"),
                  "views.yaml:6",
                  {"count_distinct"}},
        ErrorCase{"WhereUnknownField",
                  VIEW_WITH("c: {agg: count, window: 1h, where: \"stauts == 'failed'\"}"),
                  "views.yaml:6",
                  {"stauts"}},
        ErrorCase{"WhereNotBoolean",
                  VIEW_WITH("c: {agg: count, window: 1h, where: \"amount + 1\"}"),
                  "views.yaml:6",
                  {"amount + 1"}},
        ErrorCase{"WhereSyntax",
                  VIEW_WITH("c: {agg: count, window: 1h, where: \"amount >\"}"),
                  "views.yaml:6",
                  {"amount >"}},
        ErrorCase{"EntityKeyNotInSource",
                  "entities:\n  account: {keys: [account_id]}\nfeature_views:\n  v:\n    entity: account\n"
                  "    source: txns\n    features:\n      c: {agg: count, window: 1h}\n",
                  "views.yaml:5",
                  {"account_id"}},
        ErrorCase{"UnknownEntity",
                  "feature_views:\n  v:\n    entity: usr\n    source: txns\n    features:\n"
                  "      c: {agg: count, window: 1h}\n",
                  "views.yaml:3",
                  {"usr"}},
        ErrorCase{"UnknownSource",
                  "feature_views:\n  v:\n    entity: user\n    source: txn\n    features:\n"
                  "      c: {agg: count, window: 1h}\n",
                  "views.yaml:4",
                  {"txn"}},
        // Two features of one name would give one changelog column two meanings.
        ErrorCase{"DuplicateFeatureName",
                  "feature_views:\n  v:\n    entity: user\n    source: txns\n    features:\n"
                  "      c: {agg: count, window: 1h}\n      c: {agg: sum, field: amount, window: 1h}\n",
                  "views.yaml:7",
                  {"c"}},
        ErrorCase{"DuplicateAcrossFiles",
                  "entities:\n  user: {keys: [user_id]}\n",
                  "views.yaml:2",
                  {"user", "base.yaml:2"}},
        ErrorCase{"BadYamlSyntax",
                  "feature_views:\n  v:\n    entity: user\n    source: @txns\n    features:\n"
                  "      c: {agg: count, window: 1h}\n",
                  "views.yaml:4",
                  {"YAML"}},
        // Shapes where a scalar belongs: errors, never an exception out of LoadProject.
        ErrorCase{"FieldIsAList",
                  VIEW_WITH("c: {agg: sum, field: [amount], window: 1h}"),
                  "views.yaml:6",
                  {"field"}},
        ErrorCase{"WhereIsAMap",
                  VIEW_WITH("c: {agg: count, window: 1h, where: {a: 1}}"),
                  "views.yaml:6",
                  {"where"}},
        ErrorCase{"EntityKeyIsAMap", "entities:\n  acct:\n    keys: [{a: 1}]\n", "views.yaml:3", {"keys"}}),
    [](const ::testing::TestParamInfo<ErrorCase>& info) { return std::string(info.param.name); });

// --- all at once -----------------------------------------------------------------------

TEST(LoaderTest, EveryErrorIsReportedAtOnceAcrossFiles) {
  test::ScratchDir dir("vigil_spec");
  dir.Write("a_entities.yaml",
            "entities:\n"                        // 1
            "  user: {keys: [user_id]}\n"        // 2
            "  account: {keys: [account_id]}\n"  // 3
            "widgets:\n"                         // 4
            "  w: {}\n");                        // 5
  dir.Write("b_sources.yaml",
            "sources:\n"                                                       // 1
            "  txns:\n"                                                        // 2
            "    timestamp: ts\n"                                              // 3
            "    schema: {user_id: string, amount: double, status: string}\n"  // 4
            "entities:\n"                                                      // 5
            "  user: {keys: [user_id]}\n");                                    // 6
  dir.Write("c_views.yaml",
            "feature_views:\n"                                                      // 1
            "  v:\n"                                                                // 2
            "    entity: user\n"                                                    // 3
            "    source: txns\n"                                                    // 4
            "    ttl: 1h\n"                                                         // 5
            "    features:\n"                                                       // 6
            "      typo: {agg: count, windw: 10m}\n"                                // 7
            "      badagg: {agg: median, field: amount, window: 1h}\n"              // 8
            "      baddur: {agg: count, window: 10x}\n"                             // 9
            "      toolong: {agg: count, window: 2h}\n"                             // 10
            "      nofield: {agg: sum, field: amout, window: 1h}\n"                 // 11
            "      strsum: {agg: sum, field: status, window: 1h}\n"                 // 12
            "      badwhere: {agg: count, window: 1h, where: \"stauts == 'x'\"}\n"  // 13
            "      nonbool: {agg: count, window: 1h, where: \"amount + 1\"}\n"      // 14
            "  v2:\n"                                                               // 15
            "    entity: account\n"                                                 // 16
            "    source: txns\n"                                                    // 17
            "    features:\n"                                                       // 18
            "      c: {agg: count, window: 1h}\n"                                   // 19
            "  v3:\n"                                                               // 20
            "    entity: nobody\n"                                                  // 21
            "    source: nothing\n"                                                 // 22
            "    features:\n"                                                       // 23
            "      c: {agg: count, window: 1h}\n");                                 // 24
  dir.Write("d_bad.yaml",
            "entities:\n"                      // 1
            "  device: {keys: [device_id]}\n"  // 2
            "  thing: @oops\n");               // 3
  auto p = LoadProject(dir.path());
  ASSERT_FALSE(p.ok());
  ASSERT_TRUE(p.status().IsInvalidArgument());
  auto lines = Lines(p.status().message());
  struct Want {
    const char* place;
    const char* text;
  };
  std::vector<Want> want = {
      {"a_entities.yaml:4", "widgets"},  {"b_sources.yaml:6", "user"},      {"c_views.yaml:7", "windw"},
      {"c_views.yaml:8", "median"},      {"c_views.yaml:9", "10x"},         {"c_views.yaml:10", "toolong"},
      {"c_views.yaml:11", "amout"},      {"c_views.yaml:12", "status"},     {"c_views.yaml:13", "stauts"},
      {"c_views.yaml:14", "amount + 1"}, {"c_views.yaml:16", "account_id"}, {"c_views.yaml:21", "nobody"},
      {"c_views.yaml:22", "nothing"},    {"d_bad.yaml:3", "YAML"},
  };
  for (const auto& w : want) {
    bool found = false;
    for (const auto& line : lines) {
      if (line.rfind(std::string(w.place) + ": ", 0) == 0 && line.find(w.text) != std::string::npos)
        found = true;
    }
    EXPECT_TRUE(found) << "missing " << w.place << " (" << w.text << ") in:\n" << p.status().message();
  }
  EXPECT_EQ(lines.size(), want.size()) << p.status().message();
}

// --- what loads ------------------------------------------------------------------------

TEST(LoaderTest, DefinitionsSplitAcrossFiles) {
  test::ScratchDir dir("vigil_spec");
  // The view comes first in file order and names an entity and a source of later files.
  dir.Write("a_views.yml",
            "feature_views:\n  v:\n    entity: user\n    source: txns\n    features:\n"
            "      c: {agg: count, window: 1h}\n");
  dir.Write("b_sources.yaml",
            "sources:\n  txns:\n    timestamp: ts\n    schema: {amount: double, user_id: string}\n");
  dir.Write("c_entities.yaml", "entities:\n  user: {keys: [user_id]}\n");
  dir.Write("d_more_views.yaml",
            "feature_views:\n  w:\n    entity: user\n    source: txns\n    features:\n"
            "      s: {agg: sum, field: amount, window: 10m}\n");
  dir.Write("empty.yaml", "");
  dir.Write("notes.txt", "entities: [this is not yaml and not loaded]\n");
  auto p = LoadProject(dir.path());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_NE(p->defs.FindView("v"), nullptr);
  ASSERT_NE(p->defs.FindView("w"), nullptr);
  EXPECT_EQ(p->defs.FindView("v")->key_indexes, std::vector<int>{1});
  EXPECT_EQ(p->defs.FindView("v")->loc.file, "a_views.yml");
  EXPECT_EQ(p->defs.FindView("w")->features[0].field_index, 0);
  EXPECT_EQ(p->defs.ViewsOf("txns").size(), 2u);
}

TEST(LoaderTest, EffectiveTtl) {
  test::ScratchDir dir("vigil_spec");
  dir.Write("base.yaml", kBase);
  dir.Write("views.yaml",
            "feature_views:\n"
            "  windows_only:\n    entity: user\n    source: txns\n    features:\n"
            "      a: {agg: count, window: 10m}\n      b: {agg: count, window: 2h}\n      c: {agg: count, "
            "window: 90s}\n"
            "  with_lifetime:\n    entity: user\n    source: txns\n    features:\n"
            "      a: {agg: count, window: 10m}\n      b: {agg: last, field: status}\n"
            "  explicit:\n    entity: user\n    source: txns\n    ttl: 3d\n    features:\n"
            "      a: {agg: count, window: 3d}\n      b: {agg: first, field: status}\n");
  auto p = LoadProject(dir.path());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->defs.FindView("windows_only")->ttl, 7'200'000);
  EXPECT_EQ(p->defs.FindView("with_lifetime")->ttl, kNoTtl);
  EXPECT_EQ(p->defs.FindView("explicit")->ttl, 3 * 86'400'000LL);
}

TEST(LoaderTest, OutputTypes) {
  test::ScratchDir dir("vigil_spec");
  dir.Write("base.yaml", kBase);
  dir.Write("views.yaml", std::string(kViewHead) +
                              "      a: {agg: sum, field: n, window: 1h}\n"
                              "      b: {agg: sum, field: amount, window: 1h}\n"
                              "      c: {agg: avg, field: n, window: 1h}\n"
                              "      d: {agg: stddev, field: n, window: 1h}\n"
                              "      e: {agg: min, field: status, window: 1h}\n"
                              "      f: {agg: max, field: n, window: 1h}\n"
                              "      g: {agg: count, field: status, window: 1h}\n"
                              "      h: {agg: count_distinct, field: amount, window: 1h}\n"
                              "      i: {agg: first, field: ok, window: 1h}\n");
  auto p = LoadProject(dir.path());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  std::vector<Type> want = {Type::kInt64, Type::kDouble, Type::kDouble, Type::kDouble, Type::kString,
                            Type::kInt64, Type::kInt64,  Type::kInt64,  Type::kBool};
  const auto& fs = p->defs.FindView("v")->features;
  ASSERT_EQ(fs.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(fs[i].output_type, want[i]) << fs[i].name;
  EXPECT_EQ(fs[6].field_index, 2);  // count with a field counts its non-null values
}

TEST(LoaderTest, VigilYamlHoldsSettingsOnly) {
  test::ScratchDir dir("vigil_spec");
  dir.Write("base.yaml", kBase);
  // Keys that would be unknown sections if vigil.yaml were read as definitions.
  dir.Write("vigil.yaml", "data_dir: data\nonline:\n  shards: 4\n");
  auto p = LoadProject(dir.path());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(fs::path(p->settings.data_dir), fs::path(dir.path()) / "data");
  EXPECT_EQ(p->settings.online_shards, 4);
  EXPECT_EQ(p->defs.entities.size(), 1u);
  EXPECT_TRUE(p->defs.views.empty());
  EXPECT_EQ(p->dir, dir.path());

  dir.Write("vigil.yaml", "data_dir: /var/lib/vigil\n");
  p = LoadProject(dir.path());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->settings.data_dir, "/var/lib/vigil");
  EXPECT_EQ(p->settings.online_shards, 16);
}

TEST(LoaderTest, VigilYamlErrorsHaveFileAndLine) {
  test::ScratchDir dir("vigil_spec");
  dir.Write("base.yaml", kBase);
  dir.Write("vigil.yaml", "data_dir: data\nonlne:\n  shards: 4\n");
  auto p = LoadProject(dir.path());
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("vigil.yaml:2: "), std::string::npos) << p.status().message();
  EXPECT_NE(p.status().message().find("onlne"), std::string::npos);

  dir.Write("vigil.yaml", "online:\n  shards: 0\n");
  p = LoadProject(dir.path());
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("vigil.yaml:2: "), std::string::npos) << p.status().message();
}

// A list where a path belongs: an error, never an exception out of LoadProject.
TEST(LoaderTest, VigilYamlDataDirListIsAnError) {
  test::ScratchDir dir("vigil_spec");
  dir.Write("base.yaml", kBase);
  dir.Write("vigil.yaml", "data_dir: [a, b]\n");
  Result<Project> p(Status::InvalidArgument("not run"));
  ASSERT_NO_THROW(p = LoadProject(dir.path()));
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("vigil.yaml:1: "), std::string::npos) << p.status().message();
}

TEST(LoaderTest, EmptyAndMissingDirectories) {
  test::ScratchDir dir("vigil_spec");
  auto p = LoadProject(dir.path());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_TRUE(p->defs.views.empty());
  EXPECT_EQ(fs::path(p->settings.data_dir), fs::path(dir.path()) / ".vigil");
  auto missing = LoadProject(dir.path() + "/nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("nope"), std::string::npos);
}

}  // namespace
}  // namespace vigil
