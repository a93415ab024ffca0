// The feature vector layout (feature_vector.h) of a model loaded from YAML: the layout a
// ModelDef declares survives the manifest's JSON, binds to the input row the header
// describes, encodes every type as documented, and refuses definitions that changed under
// a trained model, naming what changed.
#include "training/feature_vector.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/test_util.h"
#include "common/time.h"
#include "spec/definitions.h"

namespace vigil {
namespace feature_vector_test {

constexpr char kDefinitions[] = R"(entities:
  user:   {keys: [user_id]}
  card:   {keys: [card_id]}
  device: {keys: [device_id]}
sources:
  txns:
    timestamp: ts
    schema: {user_id: string, card_id: string, device_id: string, amount: double,
             status: string, ok: bool}
feature_views:
  u:
    entity: user
    source: txns
    features:
      c: {agg: count, window: 1h}
      s: {agg: sum, field: amount, window: 1h}
      last_status: {agg: last, field: status}
      last_ok: {agg: last, field: ok}
  k:
    entity: card
    source: txns
    features:
      n: {agg: count, window: 1h}
      first_status: {agg: first, field: status}
  dv:
    entity: device
    source: txns
    features:
      users: {agg: count_distinct, field: user_id, window: 1d}
      amt: {agg: sum, field: amount, window: 1d}
)";

// k is read for k.n only; dv only by on-demand expressions.
constexpr char kModels[] = R"(models:
  m:
    labels: {target: y}
    request: {amount: double, source: string, qty: int64, flag: bool, at: timestamp}
    features:
      - amount
      - source
      - qty
      - u.*
      - k.n
      - ratio: "amount / u.s"
      - card_declined: "k.first_status = 'declined'"
      - device_share: "amount / dv.amt"
      - users_plus: "dv.users + 1"
      - flag
)";

// Column indexes of the vector of model m.
enum Col : size_t {
  kAmount,
  kSource,
  kQty,
  kUC,
  kUS,
  kULastStatus,
  kULastOk,
  kKN,
  kRatio,
  kCardDeclined,
  kDeviceShare,
  kUsersPlus,
  kFlag,
  kColumns
};

// Input row indexes: request fields, then u's 4 features, k's 2, dv's 2.
enum In : size_t {
  kInAmount,
  kInSource,
  kInQty,
  kInFlag,
  kInAt,
  kInUC,
  kInUS,
  kInULastStatus,
  kInULastOk,
  kInKN,
  kInKFirstStatus,
  kInDvUsers,
  kInDvAmt,
  kInputWidth
};

class FeatureVectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_.Write("definitions.yaml", kDefinitions);
    dir_.Write("models.yaml", kModels);
    auto p = LoadProject(dir_.path());
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    defs_ = p->defs;
    model_ = defs_.FindModel("m");
    ASSERT_NE(model_, nullptr);
  }

  // The layout with vocabularies, as training would learn them.
  FeatureLayout TrainedLayout() const {
    FeatureLayout l = FeatureLayout::FromModel(*model_);
    l.mutable_columns()[kSource].vocabulary = {"web", "app"};
    l.mutable_columns()[kULastStatus].vocabulary = {"approved", "declined"};
    return l;
  }

  std::shared_ptr<const FeatureVectorBuilder> MustBind(const FeatureLayout& l,
                                                       const Definitions& defs) const {
    auto b = l.Bind(defs);
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    return b.ok() ? *b : nullptr;
  }

  std::vector<float> Build(const FeatureVectorBuilder& b, const Row& input) const {
    std::vector<float> out(b.size(), -1.0f);
    b.Build(input, out.data());
    return out;
  }

  test::ScratchDir dir_{"vigil_fv"};
  Definitions defs_;
  const ModelDef* model_ = nullptr;
};

TEST_F(FeatureVectorTest, FromModel) {
  FeatureLayout l = FeatureLayout::FromModel(*model_);
  EXPECT_EQ(l.views(), (std::vector<std::string>{"u", "k", "dv"}));
  ASSERT_EQ(l.request().size(), 5u);
  EXPECT_EQ(l.request().field(4).name, "at");
  EXPECT_EQ(l.request().field(4).type, Type::kTimestamp);
  ASSERT_EQ(l.columns().size(), static_cast<size_t>(kColumns));
  struct Want {
    const char* name;
    ModelFeatureDef::Kind kind;
    const char* view;
    const char* feature;
    const char* expr;
    Type type;
  };
  using K = ModelFeatureDef::Kind;
  const std::vector<Want> want = {
      {"amount", K::kRequest, "", "", "", Type::kDouble},
      {"source", K::kRequest, "", "", "", Type::kString},
      {"qty", K::kRequest, "", "", "", Type::kInt64},
      {"u.c", K::kView, "u", "c", "", Type::kInt64},
      {"u.s", K::kView, "u", "s", "", Type::kDouble},
      {"u.last_status", K::kView, "u", "last_status", "", Type::kString},
      {"u.last_ok", K::kView, "u", "last_ok", "", Type::kBool},
      {"k.n", K::kView, "k", "n", "", Type::kInt64},
      {"ratio", K::kOnDemand, "", "", "amount / u.s", Type::kDouble},
      {"card_declined", K::kOnDemand, "", "", "k.first_status = 'declined'", Type::kBool},
      {"device_share", K::kOnDemand, "", "", "amount / dv.amt", Type::kDouble},
      {"users_plus", K::kOnDemand, "", "", "dv.users + 1", Type::kInt64},
      {"flag", K::kRequest, "", "", "", Type::kBool},
  };
  for (size_t c = 0; c < want.size(); ++c) {
    const FeatureColumn& col = l.columns()[c];
    SCOPED_TRACE(want[c].name);
    EXPECT_EQ(col.name, want[c].name);
    EXPECT_EQ(col.kind, want[c].kind);
    EXPECT_EQ(col.view, want[c].view);
    EXPECT_EQ(col.feature, want[c].feature);
    EXPECT_EQ(col.expr, want[c].expr);
    EXPECT_EQ(col.type, want[c].type);
    EXPECT_EQ(col.categorical(), want[c].type == Type::kString);
    EXPECT_TRUE(col.vocabulary.empty());
  }
}

TEST_F(FeatureVectorTest, JsonRoundTrip) {
  const FeatureLayout l = TrainedLayout();
  const std::string json = l.ToJson();
  auto back = FeatureLayout::FromJson(json);
  ASSERT_TRUE(back.ok()) << back.status().ToString() << "\n" << json;
  EXPECT_EQ(back->views(), l.views());
  ASSERT_EQ(back->request().size(), l.request().size());
  for (size_t i = 0; i < l.request().size(); ++i) {
    EXPECT_EQ(back->request().field(i).name, l.request().field(i).name);
    EXPECT_EQ(back->request().field(i).type, l.request().field(i).type);
  }
  ASSERT_EQ(back->columns().size(), l.columns().size());
  for (size_t c = 0; c < l.columns().size(); ++c) {
    const FeatureColumn &a = l.columns()[c], &b = back->columns()[c];
    SCOPED_TRACE(a.name);
    EXPECT_EQ(b.name, a.name);
    EXPECT_EQ(b.kind, a.kind);
    EXPECT_EQ(b.view, a.view);
    EXPECT_EQ(b.feature, a.feature);
    EXPECT_EQ(b.expr, a.expr);
    EXPECT_EQ(b.type, a.type);
    EXPECT_EQ(b.vocabulary, a.vocabulary);
  }
  EXPECT_EQ(back->columns()[kSource].vocabulary, (std::vector<std::string>{"web", "app"}));
  // A fixed point: what is read back writes the same document.
  EXPECT_EQ(back->ToJson(), json);

  // The layout read back builds the same vectors: what serving does with a manifest.
  auto trained = MustBind(l, defs_);
  auto served = MustBind(*back, defs_);
  ASSERT_TRUE(trained && served);
  Row input(kInputWidth);
  input[kInAmount] = Value::Double(80);
  input[kInSource] = Value::String("app");
  input[kInUS] = Value::Double(40);
  input[kInULastStatus] = Value::String("approved");
  auto x = Build(*trained, input), y = Build(*served, input);
  ASSERT_EQ(x.size(), y.size());
  for (size_t c = 0; c < x.size(); ++c) {
    EXPECT_TRUE(x[c] == y[c] || (std::isnan(x[c]) && std::isnan(y[c]))) << c;
  }
}

TEST_F(FeatureVectorTest, FromJsonRejectsOtherDocuments) {
  for (const char* bad :
       {"", "not json", "[]", "{\"request\": [], \"views\": []}",
        R"({"request": [], "views": [], "columns": [{"name": "a", "kind": 3, "type": "int64"}]})",
        R"({"request": [], "views": [], "columns": [{"name": "a", "kind": 0, "type": "int64"}]})"}) {
    auto l = FeatureLayout::FromJson(bad);
    ASSERT_FALSE(l.ok()) << bad;
    EXPECT_TRUE(l.status().IsCorruption()) << bad << ": " << l.status().ToString();
  }
}

// BUG (feature_vector.cc, FeatureLayout::FromJson): an unknown type name returns
// ParseTypeName's InvalidArgument through VIGIL_ASSIGN_OR_RETURN instead of the Corruption
// the header promises for a document that is not a layout. Enable when fixed.
TEST_F(FeatureVectorTest, FromJsonUnknownTypeIsCorruption) {
  for (const char* bad :
       {R"({"request": [{"name": "a", "type": "int"}], "views": [], "columns": []})",
        R"({"request": [], "views": [], "columns": [{"name": "a", "kind": 1, "type": "int"}]})"}) {
    auto l = FeatureLayout::FromJson(bad);
    ASSERT_FALSE(l.ok()) << bad;
    EXPECT_TRUE(l.status().IsCorruption()) << bad << ": " << l.status().ToString();
  }
}

TEST_F(FeatureVectorTest, BindLaysOutTheInputRow) {
  auto b = MustBind(TrainedLayout(), defs_);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->size(), static_cast<size_t>(kColumns));
  // [amount source qty flag at][u: c s last_status last_ok][k: n first_status][dv: users amt]
  EXPECT_EQ(b->input_width(), static_cast<size_t>(kInputWidth));
  EXPECT_EQ(b->view_offset(0), static_cast<size_t>(kInUC));
  EXPECT_EQ(b->view_width(0), 4u);
  EXPECT_EQ(b->view_offset(1), static_cast<size_t>(kInKN));
  EXPECT_EQ(b->view_width(1), 2u);  // the whole tuple, though the model uses k.n only
  EXPECT_EQ(b->view_offset(2), static_cast<size_t>(kInDvUsers));
  EXPECT_EQ(b->view_width(2), 2u);  // a view read by on-demand features only
  EXPECT_EQ(b->layout().columns()[kSource].vocabulary, (std::vector<std::string>{"web", "app"}));

  // Each plain column reads its own input slot.
  Row input(kInputWidth);
  for (size_t i = 0; i < input.size(); ++i) input[i] = Value::Int64(static_cast<int64_t>(100 + i));
  EXPECT_EQ(b->Evaluate(kAmount, input).int64(), 100 + kInAmount);
  EXPECT_EQ(b->Evaluate(kQty, input).int64(), 100 + kInQty);
  EXPECT_EQ(b->Evaluate(kFlag, input).int64(), 100 + kInFlag);
  EXPECT_EQ(b->Evaluate(kUC, input).int64(), 100 + kInUC);
  EXPECT_EQ(b->Evaluate(kULastOk, input).int64(), 100 + kInULastOk);
  EXPECT_EQ(b->Evaluate(kKN, input).int64(), 100 + kInKN);
}

// Columns find their view features by name, so a view that gained a feature in front of
// them still feeds each column its own value; only the input row changes.
TEST_F(FeatureVectorTest, BindFollowsTheCurrentDefinitionOrder) {
  Definitions defs = defs_;
  FeatureDef extra = defs.views.at("u").features[0];
  extra.name = "c_10m";
  auto& uf = defs.views.at("u").features;
  uf.insert(uf.begin(), extra);
  auto b = MustBind(TrainedLayout(), defs);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->input_width(), static_cast<size_t>(kInputWidth) + 1);
  EXPECT_EQ(b->view_width(0), 5u);
  EXPECT_EQ(b->view_offset(1), static_cast<size_t>(kInKN) + 1);
  Row input(b->input_width());
  input[kInUC] = Value::Int64(99);     // now u.c_10m
  input[kInUC + 1] = Value::Int64(7);  // now u.c
  input[kInKN + 1] = Value::Int64(3);
  auto out = Build(*b, input);
  EXPECT_EQ(out[kUC], 7.0f);
  EXPECT_EQ(out[kKN], 3.0f);
}

TEST_F(FeatureVectorTest, BuildEncodesEveryType) {
  auto b = MustBind(TrainedLayout(), defs_);
  ASSERT_TRUE(b);
  Row input(kInputWidth);
  input[kInAmount] = Value::Double(250);
  input[kInSource] = Value::String("app");
  input[kInQty] = Value::Int64(3);
  input[kInFlag] = Value::Bool(true);
  input[kInAt] = Value::Timestamp(1'700'000'000'000);
  input[kInUC] = Value::Int64(4);
  input[kInUS] = Value::Double(1000);
  input[kInULastStatus] = Value::String("declined");
  input[kInULastOk] = Value::Bool(false);
  input[kInKN] = Value::Int64(2);
  input[kInKFirstStatus] = Value::String("declined");
  input[kInDvUsers] = Value::Int64(6);
  input[kInDvAmt] = Value::Double(500);
  auto out = Build(*b, input);
  ASSERT_EQ(out.size(), static_cast<size_t>(kColumns));
  EXPECT_EQ(out[kAmount], 250.0f);
  EXPECT_EQ(out[kSource], 1.0f);  // "app": code 1 of {web, app}
  EXPECT_EQ(out[kQty], 3.0f);
  EXPECT_EQ(out[kUC], 4.0f);
  EXPECT_EQ(out[kUS], 1000.0f);
  EXPECT_EQ(out[kULastStatus], 1.0f);  // "declined": code 1 of {approved, declined}
  EXPECT_EQ(out[kULastOk], 0.0f);
  EXPECT_EQ(out[kKN], 2.0f);
  EXPECT_FLOAT_EQ(out[kRatio], 0.25f);       // on-demand over a request field and a view
  EXPECT_EQ(out[kCardDeclined], 1.0f);       // over a feature that is not a column itself
  EXPECT_FLOAT_EQ(out[kDeviceShare], 0.5f);  // over a view read by on-demand only
  EXPECT_EQ(out[kUsersPlus], 7.0f);
  EXPECT_EQ(out[kFlag], 1.0f);
  EXPECT_EQ(b->Evaluate(kRatio, input).dbl(), 0.25);
  EXPECT_EQ(b->Evaluate(kCardDeclined, input).type(), Type::kBool);

  // The other code of each vocabulary, false, and a float that rounds.
  input[kInSource] = Value::String("web");
  input[kInULastStatus] = Value::String("approved");
  input[kInFlag] = Value::Bool(false);
  input[kInKFirstStatus] = Value::String("approved");
  input[kInAmount] = Value::Double(0.1);
  out = Build(*b, input);
  EXPECT_EQ(out[kSource], 0.0f);
  EXPECT_EQ(out[kULastStatus], 0.0f);
  EXPECT_EQ(out[kFlag], 0.0f);
  EXPECT_EQ(out[kCardDeclined], 0.0f);
  EXPECT_EQ(out[kAmount], 0.1f);

  // Vocabularies are per column: a value of another column's vocabulary, or of none, is
  // missing.
  input[kInSource] = Value::String("declined");
  input[kInULastStatus] = Value::String("tablet");
  out = Build(*b, input);
  EXPECT_TRUE(std::isnan(out[kSource]));
  EXPECT_TRUE(std::isnan(out[kULastStatus]));
}

// The empty tuple of an unknown entity, and SQL nulls in on-demand expressions.
TEST_F(FeatureVectorTest, BuildEncodesMissingAsNaN) {
  auto b = MustBind(TrainedLayout(), defs_);
  ASSERT_TRUE(b);
  Row input(kInputWidth);  // every value null
  auto out = Build(*b, input);
  for (size_t c = 0; c < out.size(); ++c) EXPECT_TRUE(std::isnan(out[c])) << b->layout().columns()[c].name;

  // Empty tuples with their counts at 0 and a request: counts are values, the rest is
  // missing, and amount / 0 is null, so missing.
  input[kInAmount] = Value::Double(50);
  input[kInSource] = Value::String("web");
  input[kInUC] = Value::Int64(0);
  input[kInUS] = Value::Double(0);
  input[kInKN] = Value::Int64(0);
  input[kInDvUsers] = Value::Int64(0);
  input[kInDvAmt] = Value::Double(0);
  out = Build(*b, input);
  EXPECT_EQ(out[kAmount], 50.0f);
  EXPECT_EQ(out[kSource], 0.0f);
  EXPECT_TRUE(std::isnan(out[kQty]));
  EXPECT_EQ(out[kUC], 0.0f);
  EXPECT_EQ(out[kUS], 0.0f);
  EXPECT_TRUE(std::isnan(out[kULastStatus]));
  EXPECT_TRUE(std::isnan(out[kULastOk]));
  EXPECT_EQ(out[kKN], 0.0f);
  EXPECT_TRUE(std::isnan(out[kRatio]));         // 50 / 0
  EXPECT_TRUE(std::isnan(out[kCardDeclined]));  // null = 'declined'
  EXPECT_TRUE(std::isnan(out[kDeviceShare]));   // 50 / 0
  EXPECT_EQ(out[kUsersPlus], 1.0f);
  EXPECT_TRUE(std::isnan(out[kFlag]));
  EXPECT_TRUE(b->Evaluate(kRatio, input).is_null());

  // A request value that is null makes the on-demand value null too.
  input[kInAmount] = Value::Null();
  input[kInUS] = Value::Double(10);
  out = Build(*b, input);
  EXPECT_TRUE(std::isnan(out[kRatio]));
  EXPECT_TRUE(std::isnan(out[kAmount]));
}

TEST_F(FeatureVectorTest, ParseRequestCell) {
  auto b = MustBind(TrainedLayout(), defs_);
  ASSERT_TRUE(b);
  // Request fields: 0 amount double, 1 source string, 2 qty int64, 3 flag bool, 4 at timestamp.
  auto ok = [&](size_t field, const char* text) {
    auto v = b->ParseRequestCell(field, text);
    EXPECT_TRUE(v.ok()) << text << ": " << v.status().ToString();
    return v.ok() ? *v : Value::Null();
  };
  EXPECT_EQ(ok(0, "12.5").dbl(), 12.5);
  EXPECT_EQ(ok(0, "-3").dbl(), -3.0);
  EXPECT_EQ(ok(0, "1e3").dbl(), 1000.0);
  EXPECT_EQ(ok(0, "1e3").type(), Type::kDouble);
  EXPECT_EQ(ok(1, "web").str(), "web");
  EXPECT_EQ(ok(1, "web").type(), Type::kString);
  EXPECT_EQ(ok(1, "12").type(), Type::kString);
  EXPECT_EQ(ok(2, "42").int64(), 42);
  EXPECT_EQ(ok(2, "-7").int64(), -7);
  EXPECT_EQ(ok(2, "42").type(), Type::kInt64);
  EXPECT_TRUE(ok(3, "true").boolean());
  EXPECT_TRUE(ok(3, "1").boolean());
  EXPECT_FALSE(ok(3, "false").boolean());
  EXPECT_FALSE(ok(3, "0").boolean());
  EXPECT_EQ(ok(3, "0").type(), Type::kBool);
  EXPECT_EQ(ok(4, "1700000000000").int64(), 1'700'000'000'000);
  EXPECT_EQ(ok(4, "1700000000000").type(), Type::kTimestamp);
  auto iso = ParseTimestamp("2026-03-01T12:00:00Z");
  ASSERT_TRUE(iso.ok());
  EXPECT_EQ(ok(4, "2026-03-01T12:00:00Z").int64(), *iso);
  // Empty: null, whatever the type.
  for (size_t f = 0; f < 5; ++f) EXPECT_TRUE(ok(f, "").is_null()) << f;

  struct Bad {
    size_t field;
    const char* name;
    const char* text;
  };
  for (const Bad& bad : std::vector<Bad>{{0, "amount", "abc"},
                                         {0, "amount", "12.5x"},
                                         {0, "amount", "inf"},
                                         {0, "amount", "nan"},
                                         {2, "qty", "4.2"},
                                         {2, "qty", "99999999999999999999"},
                                         {2, "qty", "x"},
                                         {3, "flag", "yes"},
                                         {3, "flag", "2"},
                                         {4, "at", "yesterday"}}) {
    auto v = b->ParseRequestCell(bad.field, bad.text);
    ASSERT_FALSE(v.ok()) << bad.name << " " << bad.text;
    EXPECT_TRUE(v.status().IsInvalidArgument()) << v.status().ToString();
    EXPECT_NE(v.status().message().find(std::string("'") + bad.name + "'"), std::string::npos)
        << v.status().message();
    EXPECT_NE(v.status().message().find(bad.text), std::string::npos) << v.status().message();
  }
}

// Definitions that changed under a trained model: Bind refuses, naming what changed.
TEST_F(FeatureVectorTest, BindRefusesChangedDefinitions) {
  const FeatureLayout l = TrainedLayout();
  auto refused = [&](const Definitions& defs, std::vector<std::string> mention) {
    auto b = l.Bind(defs);
    ASSERT_FALSE(b.ok());
    EXPECT_TRUE(b.status().IsInvalidArgument()) << b.status().ToString();
    for (const auto& m : mention)
      EXPECT_NE(b.status().message().find(m), std::string::npos) << b.status().message();
  };
  {
    SCOPED_TRACE("a view removed");
    Definitions defs = defs_;
    defs.views.erase("k");
    // Names the view; the header promises the column, see the report of this test.
    refused(defs, {"'k'"});
  }
  {
    SCOPED_TRACE("a view read by on-demand features only removed");
    Definitions defs = defs_;
    defs.views.erase("dv");
    refused(defs, {"'dv'"});
  }
  {
    SCOPED_TRACE("a feature removed");
    Definitions defs = defs_;
    defs.views.at("u").features.pop_back();  // u.last_ok
    refused(defs, {"'u.last_ok'", "not defined"});
  }
  {
    SCOPED_TRACE("a feature whose type changed");
    Definitions defs = defs_;
    defs.views.at("u").features[0].output_type = Type::kDouble;  // u.c: count -> e.g. avg
    refused(defs, {"'u.c'", "now double", "was int64"});
  }
  {
    SCOPED_TRACE("an on-demand expression that no longer compiles: feature gone");
    Definitions defs = defs_;
    defs.views.at("k").features.pop_back();  // k.first_status, read by card_declined only
    refused(defs, {"'card_declined'", "k.first_status"});
  }
  {
    SCOPED_TRACE("an on-demand expression that no longer compiles: type error");
    Definitions defs = defs_;
    defs.views.at("k").features[1].output_type = Type::kInt64;  // k.first_status = 'declined'
    refused(defs, {"'card_declined'"});
  }
  {
    SCOPED_TRACE("an on-demand expression whose type changed");
    Definitions defs = defs_;
    defs.views.at("dv").features[0].output_type = Type::kDouble;  // dv.users + 1 is double now
    refused(defs, {"'users_plus'", "now double", "was int64"});
  }
}

// A view redefined in YAML: the trained layout, read back from its manifest, is checked
// against the new definitions.
TEST_F(FeatureVectorTest, BindRefusesARedefinedViewFromYaml) {
  const std::string json = TrainedLayout().ToJson();
  std::string changed = kDefinitions;
  const std::string from = "last_ok: {agg: last, field: ok}", to = "last_ok: {agg: last, field: status}";
  changed.replace(changed.find(from), from.size(), to);
  test::ScratchDir dir("vigil_fv");
  dir.Write("definitions.yaml", changed);
  auto p = LoadProject(dir.path());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  auto l = FeatureLayout::FromJson(json);
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  auto b = l->Bind(p->defs);
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(b.status().IsInvalidArgument());
  EXPECT_NE(b.status().message().find("'u.last_ok' is now string, was bool"), std::string::npos)
      << b.status().message();
}

}  // namespace feature_vector_test
}  // namespace vigil
