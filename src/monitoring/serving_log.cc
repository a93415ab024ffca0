#include "monitoring/serving_log_internal.h"

#include <limits>
#include <string>

#include "common/base64.h"

namespace vigil {

Status ReadServedFeatures(const nlohmann::json& record, std::vector<float>* out) {
  out->clear();
  if (auto it = record.find(kServedFeaturesField); it != record.end()) {
    if (!it->is_string()) {
      return Status::InvalidArgument(std::string(kServedFeaturesField) +
                                     ": want a string (base64 of float32 bytes), got " + it->type_name());
    }
    return DecodeBase64Float32Le(it->get_ref<const std::string&>(), out).WithContext(kServedFeaturesField);
  }
  auto it = record.find(kServedFeaturesArrayField);
  if (it == record.end()) {
    return Status::InvalidArgument(std::string("no feature vector: want ") + kServedFeaturesField + " (or " +
                                   kServedFeaturesArrayField + ", the earlier array form)");
  }
  if (!it->is_array()) {
    return Status::InvalidArgument(std::string(kServedFeaturesArrayField) +
                                   ": want an array of numbers, got " + it->type_name());
  }
  out->reserve(it->size());
  for (const auto& f : *it) {
    if (f.is_number()) {
      out->push_back(static_cast<float>(f.get<double>()));
    } else if (f.is_null()) {
      out->push_back(std::numeric_limits<float>::quiet_NaN());
    } else {
      const size_t i = out->size();
      out->clear();
      return Status::InvalidArgument(std::string(kServedFeaturesArrayField) + "[" + std::to_string(i) +
                                     "]: want a number or null, got " + f.type_name());
    }
  }
  return Status::OK();
}

}  // namespace vigil
