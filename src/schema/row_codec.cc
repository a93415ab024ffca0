#include "schema/row_codec.h"

#include <cmath>
#include <cstring>

namespace vigil {

void PutVarint64(std::string* out, uint64_t v) {
  char buf[kMaxVarint64Bytes];
  int n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out->append(buf, n);
}

Result<uint64_t> GetVarint64(std::string_view* in) {
  uint64_t result = 0;
  const size_t limit = in->size() < kMaxVarint64Bytes ? in->size() : kMaxVarint64Bytes;
  for (size_t i = 0; i < limit; ++i) {
    const uint64_t byte = static_cast<uint8_t>((*in)[i]);
    // The 10th byte may only carry the top bit of a 64-bit value.
    if (i == kMaxVarint64Bytes - 1 && byte > 1) {
      return Status::Corruption("varint overflows 64 bits");
    }
    result |= (byte & 0x7f) << (7 * i);
    if (byte < 0x80) {
      in->remove_prefix(i + 1);
      return result;
    }
  }
  return Status::Corruption("truncated varint");
}

void PutZigZag(std::string* out, int64_t v) { PutVarint64(out, ZigZagEncode(v)); }

Result<int64_t> GetZigZag(std::string_view* in) {
  VIGIL_ASSIGN_OR_RETURN(uint64_t u, GetVarint64(in));
  return ZigZagDecode(u);
}

namespace {

uint64_t GetFixed64LE(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

}  // namespace

char* EncodeValueTo(const Value& v, char* p) {
  *p++ = static_cast<char>(v.type());
  switch (v.type()) {
    case Type::kNull:
      break;
    case Type::kInt64:
    case Type::kTimestamp:
      p = PutVarint64To(p, ZigZagEncode(v.int64()));
      break;
    case Type::kDouble: {
      double d = v.dbl();
      uint64_t bits;
      std::memcpy(&bits, &d, sizeof bits);
      for (int i = 0; i < 8; ++i) *p++ = static_cast<char>(bits >> (8 * i));
      break;
    }
    case Type::kBool:
      *p++ = v.boolean() ? 1 : 0;
      break;
    case Type::kString:
      p = PutVarint64To(p, v.str().size());
      std::memcpy(p, v.str().data(), v.str().size());
      p += v.str().size();
      break;
  }
  return p;
}

void EncodeValue(const Value& v, std::string* out) {
  size_t old = out->size();
  out->resize(old + MaxEncodedSize(v));
  char* end = EncodeValueTo(v, out->data() + old);
  out->resize(static_cast<size_t>(end - out->data()));
}

Status DecodeValue(std::string_view* in, Value* out) {
  if (in->empty()) return Status::Corruption("truncated value: no type tag");
  const uint8_t tag = static_cast<uint8_t>(in->front());
  in->remove_prefix(1);
  switch (static_cast<Type>(tag)) {
    case Type::kNull:
      out->SetNull();
      return Status::OK();
    case Type::kInt64:
    case Type::kTimestamp: {
      auto v = GetZigZag(in);
      if (!v.ok()) return v.status().WithContext("int64 value");
      out->SetInteger(static_cast<Type>(tag), *v);
      return Status::OK();
    }
    case Type::kDouble: {
      if (in->size() < 8) return Status::Corruption("truncated double value");
      const uint64_t bits = GetFixed64LE(in->data());
      in->remove_prefix(8);
      double d;
      std::memcpy(&d, &bits, sizeof d);
      if (!std::isfinite(d)) return Status::Corruption("double value is NaN or infinite");
      out->SetDouble(d);
      return Status::OK();
    }
    case Type::kBool: {
      if (in->empty()) return Status::Corruption("truncated bool value");
      const uint8_t b = static_cast<uint8_t>(in->front());
      in->remove_prefix(1);
      if (b > 1) return Status::Corruption("bool byte " + std::to_string(b) + " is not 0 or 1");
      out->SetInteger(Type::kBool, b);
      return Status::OK();
    }
    case Type::kString: {
      auto len = GetVarint64(in);
      if (!len.ok()) return len.status().WithContext("string length");
      // Checked before allocating: garbage lengths must not turn into huge allocations.
      if (*len > in->size()) {
        return Status::Corruption("string length " + std::to_string(*len) + " runs past the end (" +
                                  std::to_string(in->size()) + " bytes left)");
      }
      out->SetString(in->substr(0, *len));
      in->remove_prefix(*len);
      return Status::OK();
    }
  }
  return Status::Corruption("unknown type tag " + std::to_string(tag));
}

namespace {

// EncodeEvent of the fields keep(i) says yes to, the others written as null: *out grown
// once by the most the event can take, written through a pointer, then cut to size.
template <class Keep>
void EncodeEventKeeping(const Event& ev, const Keep& keep, std::string* out) {
  static const Value kNull = Value::Null();
  size_t most = kMaxVarint64Bytes;
  for (size_t i = 0; i < ev.fields.size(); ++i) most += keep(i) ? MaxEncodedSize(ev.fields[i]) : 1;
  const size_t old = out->size();
  out->resize(old + most);
  char* p = PutVarint64To(out->data() + old, ZigZagEncode(ev.ts));
  for (size_t i = 0; i < ev.fields.size(); ++i) p = EncodeValueTo(keep(i) ? ev.fields[i] : kNull, p);
  out->resize(static_cast<size_t>(p - out->data()));
}

}  // namespace

void EncodeEvent(const Event& ev, std::string* out) {
  EncodeEventKeeping(
      ev, [](size_t) { return true; }, out);
}

void EncodeEventFields(const Event& ev, const std::vector<bool>& keep, std::string* out) {
  EncodeEventKeeping(
      ev, [&keep](size_t i) { return i < keep.size() && keep[i]; }, out);
}

Status DecodeEvent(std::string_view bytes, const Schema& schema, Event* out) {
  auto ts = GetZigZag(&bytes);
  if (!ts.ok()) return ts.status().WithContext("event timestamp");
  out->ts = *ts;
  out->fields.resize(schema.size());
  for (size_t i = 0; i < schema.size(); ++i) {
    const Field& f = schema.field(i);
    Value& v = out->fields[i];
    Status st = DecodeValue(&bytes, &v);
    if (!st.ok()) return st.WithContext("field '" + f.name + "'");
    if (!v.is_null() && v.type() != f.type) {
      return Status::Corruption("field '" + f.name + "': stored type " + std::string(TypeName(v.type())) +
                                ", schema says " + std::string(TypeName(f.type)));
    }
  }
  if (!bytes.empty()) {
    return Status::Corruption(std::to_string(bytes.size()) + " trailing bytes after the " +
                              std::to_string(schema.size()) + " fields of the event");
  }
  return Status::OK();
}

}  // namespace vigil
