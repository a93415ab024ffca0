// LoadProject (definitions.h) against DESIGN.md §3: the example loads into the plans the
// engine runs; every definition error is reported at once as "file:line: what (text)";
// definitions may be split across files; vigil.yaml holds settings only; models resolve
// their features, views and label keys, with their defaults, or say what is wrong where.
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
namespace loader_test {

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

// --- models ----------------------------------------------------------------------------

TEST(LoaderModelTest, FraudExampleLoads) {
  const std::string dir = std::string(VIGIL_SOURCE_DIR) + "/examples/fraud";
  auto p = LoadProject(dir);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  const Definitions& d = p->defs;
  const ModelDef* m = d.FindModel("fraud");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->loc.ToString(), "models.yaml:6");

  // Views in the order the features first use them; the on-demand features only read
  // views listed before them.
  const std::vector<std::string> views = {"user_logins",      "device_logins",      "user_account_events",
                                          "user_txn",         "card_txn",           "device_txn",
                                          "user_withdrawals", "device_withdrawals", "user_p2p"};
  EXPECT_EQ(m->views, views);

  // The vector: request fields, then every feature of each view.*, then on-demand.
  struct Want {
    std::string name;
    ModelFeatureDef::Kind kind;
    std::string view;
    int feature_index;
    Type type;
  };
  std::vector<Want> want = {{"amount", ModelFeatureDef::Kind::kRequest, "", -1, Type::kDouble},
                            {"source", ModelFeatureDef::Kind::kRequest, "", -1, Type::kString}};
  for (const auto& vname : views) {
    const FeatureViewDef* v = d.FindView(vname);
    ASSERT_NE(v, nullptr) << vname;
    for (size_t i = 0; i < v->features.size(); ++i) {
      want.push_back({vname + "." + v->features[i].name, ModelFeatureDef::Kind::kView, vname,
                      static_cast<int>(i), v->features[i].output_type});
    }
  }
  want.push_back({"amount_vs_user_avg", ModelFeatureDef::Kind::kOnDemand, "", -1, Type::kDouble});
  want.push_back({"withdrawal_share_24h", ModelFeatureDef::Kind::kOnDemand, "", -1, Type::kDouble});
  want.push_back({"new_country_login", ModelFeatureDef::Kind::kOnDemand, "", -1, Type::kBool});
  ASSERT_EQ(m->features.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    const ModelFeatureDef& f = m->features[i];
    SCOPED_TRACE(want[i].name);
    EXPECT_EQ(f.name, want[i].name);
    EXPECT_EQ(f.kind, want[i].kind);
    EXPECT_EQ(f.view, want[i].view);
    EXPECT_EQ(f.feature_index, want[i].feature_index);
    EXPECT_EQ(f.type, want[i].type);
    EXPECT_EQ(f.loc.file, "models.yaml");
    EXPECT_EQ(f.expr.empty(), f.kind != ModelFeatureDef::Kind::kOnDemand);
  }
  // Spot checks against the YAML itself, independent of the loop above.
  auto find = [&](const std::string& name) -> const ModelFeatureDef* {
    for (const auto& f : m->features)
      if (f.name == name) return &f;
    return nullptr;
  };
  ASSERT_NE(find("user_logins.last_country"), nullptr);
  EXPECT_EQ(find("user_logins.last_country")->type, Type::kString);
  EXPECT_EQ(find("card_txn.first_country")->type, Type::kString);
  EXPECT_EQ(find("user_txn.txn_count_1h")->type, Type::kInt64);
  EXPECT_EQ(find("user_txn.amount_avg_30d")->type, Type::kDouble);
  EXPECT_EQ(find("amount_vs_user_avg")->expr, "amount / user_txn.amount_avg_30d");
  EXPECT_EQ(find("amount")->loc.ToString(), "models.yaml:17");
  EXPECT_EQ(find("user_logins.logins_1h")->loc.ToString(), "models.yaml:19");
  EXPECT_EQ(find("new_country_login")->loc.ToString(), "models.yaml:30");
  EXPECT_EQ(find("user_country_logins.logins_30d"), nullptr);  // a view the model does not read

  ASSERT_EQ(m->request.size(), 2u);
  EXPECT_EQ(m->request.field(0).name, "amount");
  EXPECT_EQ(m->request.field(0).type, Type::kDouble);
  EXPECT_EQ(m->request.field(1).name, "source");
  EXPECT_EQ(m->request.field(1).type, Type::kString);

  const LabelSpec& l = m->labels;
  EXPECT_EQ(fs::path(l.path), fs::path(dir) / "data" / "labels.csv");
  EXPECT_EQ(l.ts_column, "ts");
  EXPECT_EQ(l.target, "is_fraud");
  EXPECT_EQ(l.known_at_column, "known_at");
  EXPECT_EQ(l.keys, (std::vector<std::string>{"user_id", "device_id", "card_id"}));
  EXPECT_EQ(l.maturity, 7 * 86'400'000LL);
  EXPECT_EQ(l.loc.ToString(), "models.yaml:7");

  EXPECT_EQ(m->window, 21 * 86'400'000LL);
  EXPECT_EQ(m->holdout, 3 * 86'400'000LL);
  EXPECT_EQ(m->early_stopping, 2 * 86'400'000LL);
  EXPECT_EQ(m->threshold, 0.5);
  EXPECT_EQ(m->rounds, 300);
  EXPECT_EQ(m->early_stopping_rounds, 30);
  // Other parameters pass through verbatim, in file order; rounds and
  // early_stopping_rounds are vigil's own.
  std::vector<std::pair<std::string, std::string>> xgb = {
      {"max_depth", "6"},        {"eta", "0.1"}, {"subsample", "0.8"}, {"colsample_bytree", "0.8"},
      {"min_child_weight", "1"}, {"seed", "7"},  {"nthread", "1"}};
  EXPECT_EQ(m->xgboost, xgb);
  EXPECT_EQ(m->retrain_every, 7 * 86'400'000LL);
  EXPECT_EQ(m->retrain_metric, "roc_auc");
  EXPECT_EQ(m->retrain_margin, 0.005);
}

// Views for the model tests: one entity with a composite key, so label keys are a union.
constexpr char kModelBase[] = R"(entities:
  user: {keys: [user_id]}
  user_country: {keys: [user_id, country]}
  device: {keys: [device_id]}
sources:
  txns:
    timestamp: ts
    schema: {user_id: string, device_id: string, country: string, amount: double,
             status: string, ok: bool}
feature_views:
  u:
    entity: user
    source: txns
    features:
      c: {agg: count, window: 1h}
      s: {agg: sum, field: amount, window: 1h}
      last_status: {agg: last, field: status}
  uc:
    entity: user_country
    source: txns
    features:
      c: {agg: count, window: 1d}
  d:
    entity: device
    source: txns
    features:
      c: {agg: count, window: 1h}
      ok_1h: {agg: count, window: 1h, where: "ok = true"}
)";

Result<Project> LoadWithModels(const test::ScratchDir& dir, const std::string& models_yaml) {
  dir.Write("base.yaml", kModelBase);
  dir.Write("models.yaml", models_yaml);
  Result<Project> p(Status::InvalidArgument("not run"));
  EXPECT_NO_THROW(p = LoadProject(dir.path()));
  return p;
}

TEST(LoaderModelTest, Defaults) {
  test::ScratchDir dir("vigil_spec");
  auto p = LoadWithModels(dir,
                          "models:\n"
                          "  m:\n"
                          "    labels: {target: y}\n"
                          "    features: [uc.c, u.*, d.ok_1h]\n");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  const ModelDef* m = p->defs.FindModel("m");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->loc.ToString(), "models.yaml:3");
  EXPECT_EQ(m->views, (std::vector<std::string>{"uc", "u", "d"}));
  // The union of the used entities' keys, in first-use order, each once.
  EXPECT_EQ(m->labels.keys, (std::vector<std::string>{"user_id", "country", "device_id"}));
  EXPECT_EQ(m->labels.path, "");
  EXPECT_EQ(m->labels.ts_column, "ts");
  EXPECT_EQ(m->labels.target, "y");
  EXPECT_EQ(m->labels.known_at_column, "");
  EXPECT_EQ(m->labels.maturity, 0);
  EXPECT_EQ(m->labels.loc.ToString(), "models.yaml:3");
  EXPECT_EQ(m->request.size(), 0u);
  std::vector<std::string> names;
  for (const auto& f : m->features) names.push_back(f.name);
  EXPECT_EQ(names, (std::vector<std::string>{"uc.c", "u.c", "u.s", "u.last_status", "d.ok_1h"}));
  EXPECT_EQ(m->features[4].feature_index, 1);
  EXPECT_EQ(m->features[3].type, Type::kString);
  EXPECT_EQ(m->window, 28 * 86'400'000LL);
  EXPECT_EQ(m->holdout, 3 * 86'400'000LL);
  EXPECT_EQ(m->early_stopping, 2 * 86'400'000LL);
  EXPECT_EQ(m->threshold, 0.5);
  EXPECT_EQ(m->rounds, 300);
  EXPECT_EQ(m->early_stopping_rounds, 30);
  EXPECT_TRUE(m->xgboost.empty());
  EXPECT_EQ(m->retrain_every, 0);
  EXPECT_EQ(m->retrain_metric, "roc_auc");
  EXPECT_EQ(m->retrain_margin, 0.005);
}

TEST(LoaderModelTest, GivenSettings) {
  test::ScratchDir dir("vigil_spec");
  auto p = LoadWithModels(dir,
                          "models:\n"
                          "  m:\n"
                          "    description: a model\n"
                          "    labels: {path: /data/l.csv, ts: at, target: y, known_at: k, keys: [user_id],\n"
                          "             maturity: 2d}\n"
                          "    features: [u.c]\n"
                          "    training: {window: 10d, holdout: 1d, early_stopping: 0s, threshold: 0.25}\n"
                          "    xgboost: {rounds: 50, early_stopping_rounds: 0, eta: 0.3}\n"
                          "    retrain: {every: 1d, metric: log_loss, margin: 0}\n");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  const ModelDef& m = *p->defs.FindModel("m");
  EXPECT_EQ(m.labels.path, "/data/l.csv");  // absolute: kept
  EXPECT_EQ(m.labels.ts_column, "at");
  EXPECT_EQ(m.labels.known_at_column, "k");
  EXPECT_EQ(m.labels.keys, std::vector<std::string>{"user_id"});
  EXPECT_EQ(m.labels.maturity, 2 * 86'400'000LL);
  EXPECT_EQ(m.window, 10 * 86'400'000LL);
  EXPECT_EQ(m.holdout, 86'400'000LL);
  EXPECT_EQ(m.early_stopping, 0);  // no early stopping
  EXPECT_EQ(m.threshold, 0.25);
  EXPECT_EQ(m.rounds, 50);
  EXPECT_EQ(m.early_stopping_rounds, 0);
  EXPECT_EQ(m.xgboost, (std::vector<std::pair<std::string, std::string>>{{"eta", "0.3"}}));
  EXPECT_EQ(m.retrain_every, 86'400'000LL);
  EXPECT_EQ(m.retrain_metric, "log_loss");
  EXPECT_EQ(m.retrain_margin, 0.0);
}

TEST(LoaderModelTest, OnDemandExpressionAddsTheViewsItReads) {
  test::ScratchDir dir("vigil_spec");
  auto p = LoadWithModels(dir,
                          "models:\n"
                          "  m:\n"
                          "    labels: {target: y}\n"
                          "    request: {amount: double, channel: string}\n"
                          "    features:\n"
                          "      - u.c\n"
                          "      - share: \"amount / (d.ok_1h + 1)\"\n"
                          "      - amount\n"
                          "      - same_country: \"uc.c > 0 and channel = 'web'\"\n");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  const ModelDef& m = *p->defs.FindModel("m");
  // d and uc are not listed as features, but the vector reads them.
  EXPECT_EQ(m.views, (std::vector<std::string>{"u", "d", "uc"}));
  EXPECT_EQ(m.labels.keys, (std::vector<std::string>{"user_id", "device_id", "country"}));
  ASSERT_EQ(m.features.size(), 4u);
  EXPECT_EQ(m.features[1].name, "share");
  EXPECT_EQ(m.features[1].kind, ModelFeatureDef::Kind::kOnDemand);
  EXPECT_EQ(m.features[1].expr, "amount / (d.ok_1h + 1)");
  EXPECT_EQ(m.features[1].type, Type::kDouble);
  EXPECT_EQ(m.features[1].loc.ToString(), "models.yaml:7");
  EXPECT_EQ(m.features[2].kind, ModelFeatureDef::Kind::kRequest);
  EXPECT_EQ(m.features[2].type, Type::kDouble);
  EXPECT_EQ(m.features[3].type, Type::kBool);
  // A request field that is declared but not a feature is still part of the request.
  EXPECT_EQ(m.request.IndexOf("channel"), 1);
}

struct ModelErrorCase {
  const char* name;
  const char* models_yaml;
  const char* place;                 // "models.yaml:7"
  std::vector<const char*> mention;  // texts the message must contain
};

void PrintTo(const ModelErrorCase& c, std::ostream* os) { *os << c.name; }

class LoaderModelErrorTest : public ::testing::TestWithParam<ModelErrorCase> {};

TEST_P(LoaderModelErrorTest, ReportsFileLineAndText) {
  const ModelErrorCase& c = GetParam();
  test::ScratchDir dir("vigil_spec");
  auto p = LoadWithModels(dir, c.models_yaml);
  ASSERT_FALSE(p.ok()) << "loaded without error:\n" << c.models_yaml;
  EXPECT_TRUE(p.status().IsInvalidArgument()) << p.status().ToString();
  auto lines = Lines(p.status().message());
  bool found = false;
  for (const auto& line : lines) {
    if (line.rfind(std::string(c.place) + ": ", 0) == 0) {
      found = true;
      for (const char* m : c.mention)
        EXPECT_NE(line.find(m), std::string::npos) << "'" << m << "' in: " << line;
    }
  }
  EXPECT_TRUE(found) << "no error at " << c.place << " in:\n" << p.status().message();
  EXPECT_EQ(lines.size(), 1u) << p.status().message();
}

// Lines 1-4; a case's own lines start at 5.
#define MODEL_HEAD "models:\n  m:\n    labels: {target: y}\n    request: {amount: double, source: string}\n"
// Lines 1-6, features at 6 and 7.
#define MODEL_FEATURES(item) MODEL_HEAD "    features:\n      - u.c\n      - " item "\n"
// Lines 1-5; the case's line is 6.
#define MODEL_WITH(line) MODEL_HEAD "    features: [u.c, amount]\n    " line "\n"

INSTANTIATE_TEST_SUITE_P(
    EveryError, LoaderModelErrorTest,
    ::testing::Values(
        ModelErrorCase{
            "UnknownView", MODEL_FEATURES("nope.c"), "models.yaml:7", {"unknown feature view 'nope'"}},
        ModelErrorCase{"UnknownViewStar", MODEL_FEATURES("nope.*"), "models.yaml:7", {"'nope'", "nope.*"}},
        ModelErrorCase{"UnknownFeatureOfView", MODEL_FEATURES("u.nope"), "models.yaml:7", {"'u'", "'nope'"}},
        ModelErrorCase{
            "UnknownRequestField", MODEL_FEATURES("amout"), "models.yaml:7", {"'amout'", "request"}},
        ModelErrorCase{"DuplicateViewFeature", MODEL_FEATURES("u.*"), "models.yaml:7", {"'u.c'", "twice"}},
        ModelErrorCase{"DuplicateRequestFeature",
                       MODEL_HEAD "    features:\n      - amount\n      - amount\n",
                       "models.yaml:7",
                       {"'amount'", "twice"}},
        ModelErrorCase{"DuplicateOnDemand",
                       MODEL_HEAD "    features:\n      - r: \"amount * 2\"\n      - r: \"amount\"\n",
                       "models.yaml:7",
                       {"'r'", "twice"}},
        ModelErrorCase{"ExpressionUnknownName",
                       MODEL_FEATURES("r: \"amount / u.nope\""),
                       "models.yaml:7",
                       {"'r'", "u.nope"}},
        ModelErrorCase{
            "ExpressionUnknownView", MODEL_FEATURES("r: \"amount / w.c\""), "models.yaml:7", {"'r'", "w.c"}},
        ModelErrorCase{"ExpressionTypeError",
                       MODEL_FEATURES("r: \"source + 1\""),
                       "models.yaml:7",
                       {"'r'", "needs numbers", "source"}},
        ModelErrorCase{
            "ExpressionSyntax", MODEL_FEATURES("r: \"amount >\""), "models.yaml:7", {"'r'", "amount >"}},
        ModelErrorCase{"ExpressionAlwaysNull",
                       MODEL_FEATURES("r: \"coalesce(null, null)\""),
                       "models.yaml:7",
                       {"'r'", "always null", "coalesce(null, null)"}},
        ModelErrorCase{"OnDemandNamedLikeRequestField",
                       MODEL_FEATURES("source: \"lower(source)\""),
                       "models.yaml:7",
                       {"'source'", "request field"}},
        ModelErrorCase{
            "OnDemandNotAnExpression", MODEL_FEATURES("r: [amount]"), "models.yaml:7", {"'r'", "quotes"}},
        ModelErrorCase{
            "FeatureItemIsAList", MODEL_FEATURES("[u.s, amount]"), "models.yaml:7", {"a feature is"}},
        ModelErrorCase{"FeatureItemIsATwoEntryMap",
                       MODEL_FEATURES("{a: \"amount\", b: \"amount * 2\"}"),
                       "models.yaml:7",
                       {"a feature is"}},
        ModelErrorCase{"NoFeatures", MODEL_HEAD "    features: []\n", "models.yaml:5", {"needs features"}},
        ModelErrorCase{"LabelsWithoutTarget",
                       "models:\n  m:\n    labels: {path: l.csv, known_at: k}\n    features: [u.c]\n",
                       "models.yaml:3",
                       {"labels needs target"}},
        ModelErrorCase{"NoLabels", "models:\n  m:\n    features: [u.c]\n", "models.yaml:3", {"needs labels"}},
        ModelErrorCase{"LabelKeysLackAnEntityKey",
                       "models:\n  m:\n    labels: {target: y, keys: [device_id]}\n    features: [u.c]\n",
                       "models.yaml:3",
                       {"labels.keys lacks 'user_id'", "'user'", "view u"}},
        ModelErrorCase{"LabelKeysLackPartOfACompositeKey",
                       "models:\n  m:\n    labels:\n      target: y\n      keys: [user_id]\n"
                       "    features: [uc.c]\n",
                       "models.yaml:5",
                       {"lacks 'country'", "'user_country'"}},
        ModelErrorCase{"LabelKeysNotAList",
                       "models:\n  m:\n    labels: {target: y, keys: user_id}\n    features: [u.c]\n",
                       "models.yaml:3",
                       {"labels.keys"}},
        ModelErrorCase{"BadMaturity",
                       "models:\n  m:\n    labels: {target: y, maturity: 7 days}\n    features: [u.c]\n",
                       "models.yaml:3",
                       {"labels.maturity", "7 days"}},
        ModelErrorCase{
            "BadRequestType",
            "models:\n  m:\n    labels: {target: y}\n    request: {n: integer}\n    features: [u.c]\n",
            "models.yaml:4",
            {"request field 'n'", "integer"}},
        ModelErrorCase{"TrainingWindowNotLongerThanHoldoutAndEarlyStopping",
                       MODEL_WITH("training: {window: 5d, holdout: 3d, early_stopping: 2d}"),
                       "models.yaml:6",
                       {"window > holdout + early_stopping", "window 5d", "holdout 3d", "early_stopping 2d"}},
        ModelErrorCase{"TrainingDefaultsAgainstAShortWindow",
                       MODEL_WITH("training: {window: 4d}"),
                       "models.yaml:6",
                       {"window 4d", "holdout 3d", "early_stopping 2d"}},
        ModelErrorCase{"TrainingZeroHoldout",
                       MODEL_WITH("training: {holdout: 0s}"),
                       "models.yaml:6",
                       {"holdout > 0", "holdout 0"}},
        ModelErrorCase{"TrainingThresholdOutOfRange",
                       MODEL_WITH("training: {threshold: 1.5}"),
                       "models.yaml:6",
                       {"training.threshold", "1.5"}},
        ModelErrorCase{
            "TrainingBadDuration", MODEL_WITH("training: {window: 4 weeks}"), "models.yaml:6", {"4 weeks"}},
        ModelErrorCase{"XgboostObjective",
                       MODEL_WITH("xgboost: {objective: \"reg:squarederror\"}"),
                       "models.yaml:6",
                       {"xgboost.objective", "remove it"}},
        ModelErrorCase{"XgboostEvalMetric",
                       MODEL_WITH("xgboost: {eta: 0.1, eval_metric: auc}"),
                       "models.yaml:6",
                       {"xgboost.eval_metric"}},
        ModelErrorCase{
            "XgboostRoundsZero", MODEL_WITH("xgboost: {rounds: 0}"), "models.yaml:6", {"xgboost.rounds"}},
        ModelErrorCase{"XgboostNestedValue",
                       MODEL_WITH("xgboost: {eta: [0.1, 0.2]}"),
                       "models.yaml:6",
                       {"xgboost.eta", "single value"}},
        ModelErrorCase{"RetrainMetricUnknown",
                       MODEL_WITH("retrain: {metric: f1}"),
                       "models.yaml:6",
                       {"retrain.metric", "roc_auc, pr_auc or log_loss", "(f1)"}},
        ModelErrorCase{"RetrainMarginOutOfRange",
                       MODEL_WITH("retrain: {margin: -0.1}"),
                       "models.yaml:6",
                       {"retrain.margin", "-0.1"}},
        ModelErrorCase{
            "UnknownModelKey", MODEL_WITH("trainig: {window: 20d}"), "models.yaml:6", {"'trainig'"}},
        ModelErrorCase{
            "UnknownLabelsKey",
            "models:\n  m:\n    labels:\n      target: y\n      maturty: 7d\n    features: [u.c]\n",
            "models.yaml:5",
            {"'maturty'", "labels"}},
        ModelErrorCase{"UnknownTrainingKey",
                       MODEL_WITH("training: {windw: 20d}"),
                       "models.yaml:6",
                       {"'windw'", "training"}},
        ModelErrorCase{
            "UnknownRetrainKey", MODEL_WITH("retrain: {evry: 7d}"), "models.yaml:6", {"'evry'", "retrain"}},
        ModelErrorCase{"ModelNotAMap", "models:\n  m: [u.c]\n", "models.yaml:2", {"model 'm'"}}),
    [](const ::testing::TestParamInfo<ModelErrorCase>& info) { return std::string(info.param.name); });

TEST(LoaderModelTest, EveryModelErrorIsReportedAtOnce) {
  test::ScratchDir dir("vigil_spec");
  dir.Write("base.yaml", kModelBase);
  dir.Write("models.yaml",
            "models:\n"                                        // 1
            "  a:\n"                                           // 2
            "    labels: {path: l.csv, keys: [device_id]}\n"   // 3  no target; lacks user_id
            "    request: {amount: double, source: string}\n"  // 4
            "    owner: fraud-team\n"                          // 5  unknown key
            "    features:\n"                                  // 6
            "      - nope.*\n"                                 // 7  unknown view
            "      - u.nope\n"                                 // 8  unknown feature
            "      - amout\n"                                  // 9  unknown request field
            "      - u.c\n"                                    // 10
            "      - u.c\n"                                    // 11 duplicate
            "      - r1: \"amount / u.zzz\"\n"                 // 12 unknown name
            "      - r2: \"source * 2\"\n"                     // 13 type error
            "      - r3: \"null\"\n"                           // 14 always null
            "      - [amount, source]\n"                       // 15 neither
            "    training: {window: 3d, holdout: 2d, early_stopping: 1d, windw: 1d}\n"  // 16 two errors
            "    xgboost: {objective: \"binary:hinge\", max_depth: 4}\n"                // 17
            "    retrain: {metric: accuracy, evry: 1d}\n");                             // 18 two errors
  dir.Write("more_models.yml",
            "models:\n"                 // 1
            "  b:\n"                    // 2
            "    labels:\n"             // 3
            "      target: y\n"         // 4
            "      keys: [user_id]\n"   // 5 lacks country
            "      maturty: 1d\n"       // 6 unknown key
            "    features: [uc.c]\n");  // 7
  auto p = LoadProject(dir.path());
  ASSERT_FALSE(p.ok());
  ASSERT_TRUE(p.status().IsInvalidArgument());
  auto lines = Lines(p.status().message());
  struct Want {
    const char* place;
    const char* text;
  };
  std::vector<Want> want = {
      {"models.yaml:3", "needs target"},
      {"models.yaml:3", "lacks 'user_id'"},
      {"models.yaml:5", "'owner'"},
      {"models.yaml:7", "'nope'"},
      {"models.yaml:8", "no feature 'nope'"},
      {"models.yaml:9", "'amout'"},
      {"models.yaml:11", "'u.c' is listed twice"},
      {"models.yaml:12", "u.zzz"},
      {"models.yaml:13", "'r2'"},
      {"models.yaml:14", "always null"},
      {"models.yaml:15", "a feature is"},
      {"models.yaml:16", "'windw'"},
      {"models.yaml:16", "window 3d"},
      {"models.yaml:17", "xgboost.objective"},
      {"models.yaml:18", "accuracy"},
      {"models.yaml:18", "'evry'"},
      {"more_models.yml:5", "lacks 'country'"},
      {"more_models.yml:6", "'maturty'"},
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

// BUG (loader.cc, LoadModel, the `request` loop): a request field listed twice is not an
// error (LoadSource reports "listed twice" for a source field). This file loads with
// m.request = [amount double, amount string] and m.features[0] typed double; the input row
// then has two `amount` slots and FeatureLayout::Bind of the freshly loaded model fails
// with "model feature 'amount' is now string, was double when trained". Enable when fixed.
TEST(LoaderModelTest, DuplicateRequestFieldIsAnError) {
  test::ScratchDir dir("vigil_spec");
  auto p = LoadWithModels(dir,
                          "models:\n"
                          "  m:\n"
                          "    labels: {target: y}\n"
                          "    request: {amount: double, amount: string}\n"
                          "    features: [amount]\n");
  ASSERT_FALSE(p.ok());
  auto lines = Lines(p.status().message());
  ASSERT_EQ(lines.size(), 1u) << p.status().message();
  EXPECT_EQ(lines[0].rfind("models.yaml:4: ", 0), 0u) << lines[0];
  EXPECT_NE(lines[0].find("'amount'"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("twice"), std::string::npos) << lines[0];
}

// BUG (loader.cc, LoadModel / LoadModelFeatures): one mistake gives two errors. A request
// field whose type does not parse is dropped from m.request, so a feature naming it is
// reported again as unknown:
//   models.yaml:4: model 'm' request field 'n': unknown type 'integer' (...)
//   models.yaml:5: model 'm': 'n' is neither view.feature nor a request field (declare it under request)
// The second is a cascade (the loader avoids them for views that failed to load, see
// view_nodes_ in LoadModelFeatures). Enable when fixed.
TEST(LoaderModelTest, BadRequestTypeOfAFeatureIsOneError) {
  test::ScratchDir dir("vigil_spec");
  auto p = LoadWithModels(dir,
                          "models:\n"
                          "  m:\n"
                          "    labels: {target: y}\n"
                          "    request: {n: integer}\n"
                          "    features: [n]\n");
  ASSERT_FALSE(p.ok());
  auto lines = Lines(p.status().message());
  ASSERT_EQ(lines.size(), 1u) << p.status().message();
  EXPECT_EQ(lines[0].rfind("models.yaml:4: ", 0), 0u) << lines[0];
  EXPECT_NE(lines[0].find("integer"), std::string::npos) << lines[0];
}

// A model with an error is not loaded, and does not stop the others from being checked.
TEST(LoaderModelTest, ModelsAreCheckedOneByOne) {
  test::ScratchDir dir("vigil_spec");
  auto p = LoadWithModels(dir,
                          "models:\n"
                          "  bad:\n"
                          "    labels: {target: y}\n"
                          "    features: [u.nope]\n"
                          "  good:\n"
                          "    labels: {target: y}\n"
                          "    features: [u.*]\n"
                          "  worse:\n"
                          "    labels: {target: y}\n"
                          "    features: [d.nope]\n");
  ASSERT_FALSE(p.ok());
  auto lines = Lines(p.status().message());
  ASSERT_EQ(lines.size(), 2u) << p.status().message();
  EXPECT_EQ(lines[0].rfind("models.yaml:4: model 'bad'", 0), 0u) << lines[0];
  EXPECT_EQ(lines[1].rfind("models.yaml:10: model 'worse'", 0), 0u) << lines[1];
}

}  // namespace loader_test
}  // namespace vigil
