#include "training/feature_vector.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "spec/expr.h"

namespace vigil {

struct FeatureVectorBuilder::Slot {
  int input = -1;                     // kView, kRequest: the input row index
  std::unique_ptr<Expr> expr;         // kOnDemand
};

FeatureVectorBuilder::FeatureVectorBuilder(FeatureLayout layout) : layout_(std::move(layout)) {}
FeatureVectorBuilder::~FeatureVectorBuilder() = default;

FeatureLayout FeatureLayout::FromModel(const ModelDef& model) {
  FeatureLayout l;
  l.request_ = model.request;
  l.views_ = model.views;
  for (const auto& f : model.features) {
    FeatureColumn c;
    c.name = f.name;
    c.kind = f.kind;
    c.type = f.type;
    if (f.kind == ModelFeatureDef::Kind::kView) {
      c.view = f.view;
      c.feature = f.name.substr(f.view.size() + 1);
    }
    c.expr = f.expr;
    l.columns_.push_back(std::move(c));
  }
  return l;
}

std::string FeatureLayout::ToJson() const {
  nlohmann::ordered_json j;
  j["request"] = nlohmann::ordered_json::array();
  for (const auto& f : request_.fields()) {
    j["request"].push_back({{"name", f.name}, {"type", std::string(TypeName(f.type))}});
  }
  j["views"] = views_;
  j["columns"] = nlohmann::ordered_json::array();
  for (const auto& c : columns_) {
    nlohmann::ordered_json col = {{"name", c.name}, {"kind", static_cast<int>(c.kind)},
                                  {"type", std::string(TypeName(c.type))}};
    if (c.kind == ModelFeatureDef::Kind::kView) {
      col["view"] = c.view;
      col["feature"] = c.feature;
    }
    if (c.kind == ModelFeatureDef::Kind::kOnDemand) col["expr"] = c.expr;
    if (c.categorical()) col["vocabulary"] = c.vocabulary;
    j["columns"].push_back(std::move(col));
  }
  return j.dump(1);
}

Result<FeatureLayout> FeatureLayout::FromJson(std::string_view text) {
  try {
    auto j = nlohmann::json::parse(text);
    FeatureLayout l;
    auto type_of = [](const nlohmann::json& node) -> Result<Type> {
      auto t = ParseTypeName(node.at("type").get<std::string>());
      if (!t.ok()) return Status::Corruption("feature layout: " + t.status().message());
      return *t;
    };
    for (const auto& f : j.at("request")) {
      VIGIL_ASSIGN_OR_RETURN(Type t, type_of(f));
      l.request_.Add({f.at("name").get<std::string>(), t});
    }
    l.views_ = j.at("views").get<std::vector<std::string>>();
    for (const auto& col : j.at("columns")) {
      FeatureColumn c;
      c.name = col.at("name").get<std::string>();
      int kind = col.at("kind").get<int>();
      if (kind < 0 || kind > 2) return Status::Corruption("feature layout: unknown column kind " + std::to_string(kind));
      c.kind = static_cast<ModelFeatureDef::Kind>(kind);
      VIGIL_ASSIGN_OR_RETURN(c.type, type_of(col));
      if (c.kind == ModelFeatureDef::Kind::kView) {
        c.view = col.at("view").get<std::string>();
        c.feature = col.at("feature").get<std::string>();
      }
      if (c.kind == ModelFeatureDef::Kind::kOnDemand) c.expr = col.at("expr").get<std::string>();
      if (col.contains("vocabulary")) c.vocabulary = col.at("vocabulary").get<std::vector<std::string>>();
      l.columns_.push_back(std::move(c));
    }
    return l;
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("feature layout: ") + e.what());
  }
}

Result<std::shared_ptr<const FeatureVectorBuilder>> FeatureLayout::Bind(const Definitions& defs) const {
  auto b = std::shared_ptr<FeatureVectorBuilder>(new FeatureVectorBuilder(*this));
  // The input row: request fields, then each view's features.
  std::unordered_map<std::string, ExprSlot> names;
  size_t width = 0;
  for (const auto& f : request_.fields()) names[f.name] = {static_cast<int>(width++), f.type};
  for (const auto& vname : views_) {
    const FeatureViewDef* v = defs.FindView(vname);
    if (!v) {
      std::string users;  // the columns that read the view
      for (const auto& c : columns_) {
        if (c.view == vname || c.expr.find(vname + ".") != std::string::npos) {
          users += (users.empty() ? "" : ", ") + ("'" + c.name + "'");
        }
      }
      return Status::InvalidArgument("model feature " + (users.empty() ? std::string("?") : users) +
                                     " reads feature view '" + vname + "', which is not defined");
    }
    b->view_offsets_.push_back(width);
    b->view_widths_.push_back(v->features.size());
    for (const auto& f : v->features) names[vname + "." + f.name] = {static_cast<int>(width++), f.output_type};
  }
  b->input_width_ = width;
  b->codes_.resize(columns_.size());
  for (size_t c = 0; c < columns_.size(); ++c) {
    const FeatureColumn& col = columns_[c];
    auto slot = std::make_unique<FeatureVectorBuilder::Slot>();
    const std::string where = "model feature '" + col.name + "'";
    if (col.kind == ModelFeatureDef::Kind::kOnDemand) {
      NameResolver resolve = [&](std::string_view name, ExprSlot* s) {
        auto it = names.find(std::string(name));
        if (it == names.end()) return false;
        *s = it->second;
        return true;
      };
      auto expr = Expr::Compile(col.expr, resolve);
      if (!expr.ok()) return expr.status().WithContext(where);
      if ((*expr)->result_type() != col.type) {
        return Status::InvalidArgument(where + " is now " + std::string(TypeName((*expr)->result_type())) +
                                       ", was " + std::string(TypeName(col.type)) + " when trained");
      }
      slot->expr = std::move(expr).value();
      const auto& reads = slot->expr->inputs();
      b->on_demand_inputs_.insert(b->on_demand_inputs_.end(), reads.begin(), reads.end());
    } else {
      auto it = names.find(col.name);
      if (it == names.end()) return Status::InvalidArgument(where + " is not defined any more");
      if (it->second.type != col.type) {
        return Status::InvalidArgument(where + " is now " + std::string(TypeName(it->second.type)) + ", was " +
                                       std::string(TypeName(col.type)) + " when trained");
      }
      slot->input = it->second.index;
    }
    for (size_t i = 0; i < col.vocabulary.size(); ++i) b->codes_[c].emplace(col.vocabulary[i], static_cast<int>(i));
    b->slots_.push_back(std::move(slot));
  }
  auto& od = b->on_demand_inputs_;
  std::sort(od.begin(), od.end());
  od.erase(std::unique(od.begin(), od.end()), od.end());
  return std::shared_ptr<const FeatureVectorBuilder>(std::move(b));
}

int FeatureVectorBuilder::input_of(size_t c) const { return slots_[c]->expr ? -1 : slots_[c]->input; }

Value FeatureVectorBuilder::Evaluate(size_t c, const Row& input) const {
  const Slot& s = *slots_[c];
  if (s.expr) return s.expr->Evaluate(input);
  return static_cast<size_t>(s.input) < input.size() ? input[s.input] : Value::Null();
}

float FeatureVectorBuilder::Encode(size_t c, const Value& v) const {
  constexpr float kMissing = std::numeric_limits<float>::quiet_NaN();
  switch (v.type()) {
    case Type::kNull:
      return kMissing;
    case Type::kBool:
      return v.boolean() ? 1.0f : 0.0f;
    case Type::kString: {
      auto it = codes_[c].find(v.str());
      return it == codes_[c].end() ? kMissing : static_cast<float>(it->second);
    }
    case Type::kDouble:
      return static_cast<float>(v.dbl());
    default:
      return static_cast<float>(static_cast<double>(v.int64()));
  }
}

void FeatureVectorBuilder::Build(const Row& input, float* out) const {
  for (size_t c = 0; c < slots_.size(); ++c) out[c] = Encode(c, Evaluate(c, input));
}

Result<Value> FeatureVectorBuilder::ParseRequestCell(size_t field, std::string_view text) const {
  const Field& f = layout_.request().field(field);
  if (text.empty()) return Value::Null();
  auto bad = [&]() {
    return Status::InvalidArgument("request field '" + f.name + "': '" + std::string(text) + "' is not a " +
                                   std::string(TypeName(f.type)));
  };
  switch (f.type) {
    case Type::kString:
      return Value::String(std::string(text));
    case Type::kBool:
      if (text == "true" || text == "1") return Value::Bool(true);
      if (text == "false" || text == "0") return Value::Bool(false);
      return bad();
    case Type::kInt64: {
      int64_t v = 0;
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc() || p != text.data() + text.size()) return bad();
      return Value::Int64(v);
    }
    case Type::kDouble: {
      double v = 0;
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc() || p != text.data() + text.size() || !std::isfinite(v)) return bad();
      return Value::Double(v);
    }
    case Type::kTimestamp: {
      auto t = ParseTimestamp(text);
      if (!t.ok()) return bad();
      return Value::Timestamp(*t);
    }
    default:
      return bad();
  }
}

}  // namespace vigil
