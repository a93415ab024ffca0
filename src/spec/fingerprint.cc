#include "common/files.h"
#include "spec/definitions.h"

namespace vigil {

std::string ViewDefinitionText(const Definitions& defs, const FeatureViewDef& view) {
  const SourceDef& source = *defs.FindSource(view.source);
  std::string out;
  auto line = [&out](std::string_view k, const std::string& v) {
    out.append(k);
    out.append(": ");
    out.append(v);
    out.push_back('\n');
  };
  line("entity", view.entity);
  std::string keys;
  for (int k : view.key_indexes) {
    const Field& f = source.schema.field(static_cast<size_t>(k));
    keys += (keys.empty() ? "" : ", ") + f.name + " " + std::string(TypeName(f.type));
  }
  line("keys", keys);
  line("source", source.name);
  line("allowed_lateness", FormatDuration(source.allowed_lateness));
  line("ttl", view.ttl == kNoTtl ? "none" : FormatDuration(view.ttl));
  for (const auto& f : view.features) {
    std::string d = std::string(AggName(f.agg));
    if (!f.field.empty()) d += " of " + f.field + " " + std::string(TypeName(f.field_type));
    d += f.window ? " over " + FormatDuration(*f.window) : " over the lifetime";
    if (!f.where.empty()) d += " where " + f.where;
    line("feature " + f.name, d);
  }
  return out;
}

std::string ViewFingerprint(const Definitions& defs, const FeatureViewDef& view) {
  return Hex64(Fnv1a64(ViewDefinitionText(defs, view)));
}

}  // namespace vigil
