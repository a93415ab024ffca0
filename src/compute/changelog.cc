#include "compute/changelog.h"

#include "schema/row_codec.h"

namespace vigil {

std::string_view EntityKeyView(const Row& fields, const std::vector<int>& key_indexes, std::string* buf) {
  if (key_indexes.size() == 1 && fields[key_indexes[0]].type() == Type::kString) {
    return fields[key_indexes[0]].str();
  }
  buf->clear();
  for (size_t i = 0; i < key_indexes.size(); ++i) {
    if (i > 0) buf->push_back(kKeySeparator);
    const Value& v = fields[key_indexes[i]];
    if (v.type() == Type::kString) {
      buf->append(v.str());
    } else {
      buf->append(v.ToCsvText());
    }
  }
  return *buf;
}

std::string EncodeEntityKey(const Row& fields, const std::vector<int>& key_indexes) {
  std::string buf;
  return std::string(EntityKeyView(fields, key_indexes, &buf));
}

std::vector<std::string> SplitEntityKey(std::string_view key) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t pos = key.find(kKeySeparator, start);
    parts.emplace_back(key.substr(start, pos == std::string_view::npos ? pos : pos - start));
    if (pos == std::string_view::npos) return parts;
    start = pos + 1;
  }
}

std::string DisplayEntityKey(std::string_view key) {
  std::string out(key);
  for (char& c : out) {
    if (c == kKeySeparator) c = ',';
  }
  return out;
}

void EncodeChangelogPayload(const ChangelogRow& row, std::string* out) {
  // One resize to the largest possible size, then raw writes: rows are encoded at the
  // rate the engine emits them.
  size_t max = 2 * kMaxVarint64Bytes;
  for (const Value& v : row.values) max += MaxEncodedSize(v);
  size_t old = out->size();
  out->resize(old + max);
  char* p = out->data() + old;
  p = PutVarint64To(p, ZigZagEncode(row.ts));
  p = PutVarint64To(p, row.values.size());
  for (const Value& v : row.values) p = EncodeValueTo(v, p);
  out->resize(static_cast<size_t>(p - out->data()));
}

Status DecodeChangelogPayload(std::string_view payload, ChangelogRow* row) {
  VIGIL_ASSIGN_OR_RETURN(row->ts, GetZigZag(&payload));
  VIGIL_ASSIGN_OR_RETURN(uint64_t n, GetVarint64(&payload));
  if (n > payload.size()) return Status::Corruption("changelog row: value count " + std::to_string(n));
  row->values.resize(n);
  for (auto& v : row->values) VIGIL_RETURN_IF_ERROR(DecodeValue(&payload, &v));
  if (!payload.empty()) return Status::Corruption("changelog row: trailing bytes");
  return Status::OK();
}

}  // namespace vigil
