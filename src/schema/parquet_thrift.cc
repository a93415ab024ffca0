#include "schema/parquet_thrift.h"

#include <cstring>

namespace vigil::parquet::internal {
namespace {

// Compact protocol type ids.
enum CType : uint8_t {
  kStop = 0,
  kTrue = 1,
  kFalse = 2,
  kByte = 3,
  kI16 = 4,
  kI32 = 5,
  kI64 = 6,
  kDoubleT = 7,
  kBinary = 8,
  kList = 9,
  kSet = 10,
  kMap = 11,
  kStruct = 12,
};

// Deeper nesting than this is corrupt: parquet.thrift nests a few levels only.
constexpr int kMaxDepth = 32;

uint64_t ZigZag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

class CompactWriter {
 public:
  explicit CompactWriter(std::string* out) : out_(out) {}

  void StructBegin() {
    stack_.push_back(last_);
    last_ = 0;
  }
  void StructEnd() {
    out_->push_back(static_cast<char>(kStop));
    last_ = stack_.back();
    stack_.pop_back();
  }
  void I32(int16_t id, int32_t v) {
    Field(id, kI32);
    Varint(ZigZag(v));
  }
  void I64(int16_t id, int64_t v) {
    Field(id, kI64);
    Varint(ZigZag(v));
  }
  void Bool(int16_t id, bool v) { Field(id, v ? kTrue : kFalse); }
  void I16(int16_t id, int16_t v) {
    Field(id, kI16);
    Varint(ZigZag(v));
  }
  void I8(int16_t id, int8_t v) {
    Field(id, kByte);
    out_->push_back(static_cast<char>(v));
  }
  void Binary(int16_t id, std::string_view s) {
    Field(id, kBinary);
    Bytes(s);
  }
  // A struct field: follow with the struct's fields and StructEnd().
  void StructField(int16_t id) {
    Field(id, kStruct);
    StructBegin();
  }
  void ListField(int16_t id, uint8_t elem_type, size_t size) {
    Field(id, kList);
    if (size < 15) {
      out_->push_back(static_cast<char>((size << 4) | elem_type));
    } else {
      out_->push_back(static_cast<char>(0xF0 | elem_type));
      Varint(size);
    }
  }
  void ElemI32(int32_t v) { Varint(ZigZag(v)); }
  void ElemBinary(std::string_view s) { Bytes(s); }

 private:
  void Field(int16_t id, uint8_t type) {
    int delta = id - last_;
    if (delta > 0 && delta <= 15) {
      out_->push_back(static_cast<char>((delta << 4) | type));
    } else {
      out_->push_back(static_cast<char>(type));
      Varint(ZigZag(id));
    }
    last_ = id;
  }
  void Varint(uint64_t v) {
    while (v >= 0x80) {
      out_->push_back(static_cast<char>((v & 0x7F) | 0x80));
      v >>= 7;
    }
    out_->push_back(static_cast<char>(v));
  }
  void Bytes(std::string_view s) {
    Varint(s.size());
    out_->append(s);
  }

  std::string* out_;
  int16_t last_ = 0;
  std::vector<int16_t> stack_;
};

// A reader with a sticky error: after the first problem every read returns a zero value
// and ok() is false, so parse loops end and the first message is kept.
class CompactReader {
 public:
  explicit CompactReader(std::string_view data)
      : p_(reinterpret_cast<const uint8_t*>(data.data())), begin_(p_), end_(p_ + data.size()) {}

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  size_t consumed() const { return static_cast<size_t>(p_ - begin_); }
  size_t left() const { return static_cast<size_t>(end_ - p_); }

  void Fail(std::string msg) {
    if (error_.empty()) error_ = std::move(msg) + " at byte " + std::to_string(consumed());
    p_ = end_;
  }

  // Reads the next field header of the current struct; false at its end (or on error).
  bool NextField(int16_t* last, int16_t* id, uint8_t* type) {
    uint8_t b = Byte();
    if (!ok()) return false;
    *type = b & 0x0F;
    if (*type == kStop) return false;
    int delta = b >> 4;
    if (delta != 0) {
      *id = static_cast<int16_t>(*last + delta);
    } else {
      int64_t v = UnZigZag(Varint());
      if (v < INT16_MIN || v > INT16_MAX) Fail("field id out of range");
      *id = static_cast<int16_t>(v);
    }
    *last = *id;
    if (*type > kStruct) Fail("unknown compact type " + std::to_string(*type));
    return ok();
  }

  int32_t I32(uint8_t type) {
    if (type != kI32 && type != kI16 && type != kByte) {
      Fail("want an integer field, got type " + std::to_string(type));
      return 0;
    }
    if (type == kByte) return static_cast<int8_t>(Byte());
    int64_t v = UnZigZag(Varint());
    if (v < INT32_MIN || v > INT32_MAX) Fail("i32 out of range");
    return ok() ? static_cast<int32_t>(v) : 0;
  }
  int64_t I64(uint8_t type) {
    if (type == kI64) return ok() ? UnZigZag(Varint()) : 0;
    return I32(type);
  }
  bool Bool(uint8_t type) {
    if (type == kTrue) return true;
    if (type == kFalse) return false;
    Fail("want a bool field, got type " + std::to_string(type));
    return false;
  }
  std::string Binary(uint8_t type) {
    if (type != kBinary) {
      Fail("want a binary field, got type " + std::to_string(type));
      return {};
    }
    uint64_t n = Varint();
    if (n > left()) {
      Fail("string of " + std::to_string(n) + " bytes runs past the end");
      return {};
    }
    std::string s(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return s;
  }
  // A list header; each element takes at least one byte, so size <= left() (bools and
  // empty structs included), which bounds any reserve() a caller does.
  bool ListHeader(uint8_t type, uint8_t* elem_type, size_t* size) {
    if (type != kList && type != kSet) {
      Fail("want a list field, got type " + std::to_string(type));
      return false;
    }
    uint8_t b = Byte();
    *elem_type = b & 0x0F;
    uint64_t n = b >> 4;
    if (n == 15) n = Varint();
    if (!ok()) return false;
    if (n > left()) {
      Fail("list of " + std::to_string(n) + " elements runs past the end");
      return false;
    }
    *size = static_cast<size_t>(n);
    return true;
  }
  // List elements.
  int32_t ElemI32(uint8_t elem_type) { return I32(elem_type); }
  std::string ElemBinary(uint8_t elem_type) { return Binary(elem_type); }

  void Skip(uint8_t type, int depth = 0) {
    if (depth > kMaxDepth) return Fail("nesting deeper than " + std::to_string(kMaxDepth));
    switch (type) {
      case kTrue:
      case kFalse:
        return;
      case kByte:
        Byte();
        return;
      case kI16:
      case kI32:
      case kI64:
        Varint();
        return;
      case kDoubleT:
        Advance(8);
        return;
      case kBinary:
        Advance(Varint());
        return;
      case kList:
      case kSet: {
        uint8_t elem;
        size_t n;
        if (!ListHeader(type, &elem, &n)) return;
        for (size_t i = 0; i < n && ok(); ++i) SkipElem(elem, depth + 1);
        return;
      }
      case kMap: {
        uint64_t n = Varint();
        if (n == 0 || !ok()) return;
        if (n > left()) return Fail("map of " + std::to_string(n) + " entries runs past the end");
        uint8_t kv = Byte();
        for (uint64_t i = 0; i < n && ok(); ++i) {
          SkipElem(kv >> 4, depth + 1);
          SkipElem(kv & 0x0F, depth + 1);
        }
        return;
      }
      case kStruct: {
        int16_t last = 0, id;
        uint8_t t;
        while (NextField(&last, &id, &t)) Skip(t, depth + 1);
        return;
      }
      default:
        return Fail("unknown compact type " + std::to_string(type));
    }
  }

 private:
  // In lists a bool is one byte, not folded into a field header.
  void SkipElem(uint8_t type, int depth) {
    if (type == kTrue || type == kFalse) {
      Byte();
    } else {
      Skip(type, depth);
    }
  }
  uint8_t Byte() {
    if (p_ >= end_) {
      Fail("unexpected end of data");
      return 0;
    }
    return *p_++;
  }
  uint64_t Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b = Byte();
      if (!ok()) return 0;
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) return v;
    }
    Fail("varint longer than 10 bytes");
    return 0;
  }
  void Advance(uint64_t n) {
    if (n > left()) return Fail("value runs past the end");
    p_ += n;
  }

  const uint8_t* p_;
  const uint8_t* begin_;
  const uint8_t* end_;
  std::string error_;
};

// Calls on_field(id, type) for each field of the struct at the reader's position; the
// callback must consume the field (read it or r.Skip(type)).
template <typename F>
void ReadStruct(CompactReader& r, F&& on_field) {
  int16_t last = 0, id = 0;
  uint8_t type = 0;
  while (r.NextField(&last, &id, &type)) on_field(id, type);
}

// Reads a list of structs, calling read_elem() for each.
template <typename F>
void ReadStructList(CompactReader& r, uint8_t type, F&& read_elem) {
  uint8_t elem;
  size_t n;
  if (!r.ListHeader(type, &elem, &n)) return;
  if (elem != kStruct) return r.Fail("want a list of structs");
  for (size_t i = 0; i < n && r.ok(); ++i) read_elem();
}

// ---------------------------------------------------------------------------------------
// Decoding

void ReadStatistics(CompactReader& r, Statistics* s) {
  ReadStruct(r, [&](int16_t id, uint8_t t) {
    switch (id) {
      case 1:
        s->max = r.Binary(t);
        break;
      case 2:
        s->min = r.Binary(t);
        break;
      case 3:
        s->null_count = r.I64(t);
        break;
      case 4:
        s->distinct_count = r.I64(t);
        break;
      case 5:
        s->max_value = r.Binary(t);
        break;
      case 6:
        s->min_value = r.Binary(t);
        break;
      default:
        r.Skip(t);
    }
  });
}

void ReadLogicalType(CompactReader& r, LogicalType* lt) {
  ReadStruct(r, [&](int16_t id, uint8_t t) {
    if (t != kStruct) return r.Fail("LogicalType member is not a struct");
    lt->kind = id;
    if (id == kLogicalTimestamp || id == kLogicalTime) {
      ReadStruct(r, [&](int16_t fid, uint8_t ft) {
        if (fid == 1) {
          lt->adjusted_to_utc = r.Bool(ft);
        } else if (fid == 2 && ft == kStruct) {
          ReadStruct(r, [&](int16_t uid, uint8_t ut) {
            lt->unit = uid;
            r.Skip(ut);
          });
        } else {
          r.Skip(ft);
        }
      });
    } else if (id == kLogicalInteger) {
      ReadStruct(r, [&](int16_t fid, uint8_t ft) {
        if (fid == 1) {
          lt->bit_width = static_cast<int8_t>(r.I32(ft));
        } else if (fid == 2) {
          lt->is_signed = r.Bool(ft);
        } else {
          r.Skip(ft);
        }
      });
    } else {
      r.Skip(t);
    }
  });
}

void ReadSchemaElement(CompactReader& r, SchemaElement* e) {
  bool has_name = false;
  ReadStruct(r, [&](int16_t id, uint8_t t) {
    switch (id) {
      case 1:
        e->type = r.I32(t);
        break;
      case 2:
        e->type_length = r.I32(t);
        break;
      case 3:
        e->repetition_type = r.I32(t);
        break;
      case 4:
        e->name = r.Binary(t);
        has_name = true;
        break;
      case 5:
        e->num_children = r.I32(t);
        break;
      case 6:
        e->converted_type = r.I32(t);
        break;
      case 7:
        e->scale = r.I32(t);
        break;
      case 8:
        e->precision = r.I32(t);
        break;
      case 9:
        e->field_id = r.I32(t);
        break;
      case 10:
        if (t != kStruct) return r.Fail("logicalType is not a struct");
        e->logical_type.emplace();
        ReadLogicalType(r, &*e->logical_type);
        break;
      default:
        r.Skip(t);
    }
  });
  if (r.ok() && !has_name) r.Fail("SchemaElement without a name");
}

void ReadColumnMetaData(CompactReader& r, ColumnMetaData* m) {
  unsigned seen = 0;
  ReadStruct(r, [&](int16_t id, uint8_t t) {
    if (id >= 1 && id <= 9) seen |= 1u << id;
    switch (id) {
      case 1:
        m->type = r.I32(t);
        break;
      case 2: {
        uint8_t elem;
        size_t n;
        if (!r.ListHeader(t, &elem, &n)) return;
        for (size_t i = 0; i < n && r.ok(); ++i) m->encodings.push_back(r.ElemI32(elem));
        break;
      }
      case 3: {
        uint8_t elem;
        size_t n;
        if (!r.ListHeader(t, &elem, &n)) return;
        for (size_t i = 0; i < n && r.ok(); ++i) m->path_in_schema.push_back(r.ElemBinary(elem));
        break;
      }
      case 4:
        m->codec = r.I32(t);
        break;
      case 5:
        m->num_values = r.I64(t);
        break;
      case 6:
        m->total_uncompressed_size = r.I64(t);
        break;
      case 7:
        m->total_compressed_size = r.I64(t);
        break;
      case 9:
        m->data_page_offset = r.I64(t);
        break;
      case 10:
        m->index_page_offset = r.I64(t);
        break;
      case 11:
        m->dictionary_page_offset = r.I64(t);
        break;
      case 12:
        if (t != kStruct) return r.Fail("statistics is not a struct");
        m->statistics.emplace();
        ReadStatistics(r, &*m->statistics);
        break;
      default:
        r.Skip(t);
    }
  });
  // 8 (key_value_metadata) is optional; 1-7 and 9 are required.
  constexpr unsigned kRequired = 0b1011111110;
  if (r.ok() && (seen & kRequired) != kRequired) r.Fail("ColumnMetaData lacks a required field");
}

void ReadColumnChunk(CompactReader& r, ColumnChunk* c) {
  ReadStruct(r, [&](int16_t id, uint8_t t) {
    switch (id) {
      case 1:
        c->file_path = r.Binary(t);
        break;
      case 2:
        c->file_offset = r.I64(t);
        break;
      case 3:
        if (t != kStruct) return r.Fail("meta_data is not a struct");
        c->meta_data.emplace();
        ReadColumnMetaData(r, &*c->meta_data);
        break;
      default:
        r.Skip(t);
    }
  });
}

void ReadRowGroup(CompactReader& r, RowGroup* g) {
  bool has_rows = false, has_columns = false;
  ReadStruct(r, [&](int16_t id, uint8_t t) {
    switch (id) {
      case 1:
        has_columns = true;
        ReadStructList(r, t, [&] {
          g->columns.emplace_back();
          ReadColumnChunk(r, &g->columns.back());
        });
        break;
      case 2:
        g->total_byte_size = r.I64(t);
        break;
      case 3:
        g->num_rows = r.I64(t);
        has_rows = true;
        break;
      case 5:
        g->file_offset = r.I64(t);
        break;
      case 6:
        g->total_compressed_size = r.I64(t);
        break;
      case 7:
        g->ordinal = static_cast<int16_t>(r.I32(t));
        break;
      default:
        r.Skip(t);
    }
  });
  if (r.ok() && (!has_rows || !has_columns)) r.Fail("RowGroup lacks columns or num_rows");
}

void ReadFileMetaDataStruct(CompactReader& r, FileMetaData* md) {
  bool has_schema = false, has_rows = false, has_groups = false;
  ReadStruct(r, [&](int16_t id, uint8_t t) {
    switch (id) {
      case 1:
        md->version = r.I32(t);
        break;
      case 2:
        has_schema = true;
        ReadStructList(r, t, [&] {
          md->schema.emplace_back();
          ReadSchemaElement(r, &md->schema.back());
        });
        break;
      case 3:
        md->num_rows = r.I64(t);
        has_rows = true;
        break;
      case 4:
        has_groups = true;
        ReadStructList(r, t, [&] {
          md->row_groups.emplace_back();
          ReadRowGroup(r, &md->row_groups.back());
        });
        break;
      case 5:
        ReadStructList(r, t, [&] {
          KeyValue kv;
          bool has_key = false;
          ReadStruct(r, [&](int16_t fid, uint8_t ft) {
            if (fid == 1) {
              kv.key = r.Binary(ft);
              has_key = true;
            } else if (fid == 2) {
              kv.value = r.Binary(ft);
            } else {
              r.Skip(ft);
            }
          });
          if (r.ok() && !has_key) r.Fail("KeyValue without a key");
          md->key_value_metadata.push_back(std::move(kv));
        });
        break;
      case 6:
        md->created_by = r.Binary(t);
        break;
      default:
        r.Skip(t);
    }
  });
  if (r.ok() && (!has_schema || !has_rows || !has_groups)) {
    r.Fail("FileMetaData lacks schema, num_rows or row_groups");
  }
}

// ---------------------------------------------------------------------------------------
// Encoding

void WriteStatistics(CompactWriter& w, const Statistics& s) {
  if (s.max) w.Binary(1, *s.max);
  if (s.min) w.Binary(2, *s.min);
  if (s.null_count) w.I64(3, *s.null_count);
  if (s.distinct_count) w.I64(4, *s.distinct_count);
  if (s.max_value) w.Binary(5, *s.max_value);
  if (s.min_value) w.Binary(6, *s.min_value);
}

void WriteLogicalType(CompactWriter& w, const LogicalType& lt) {
  w.StructField(lt.kind);
  if (lt.kind == kLogicalTimestamp || lt.kind == kLogicalTime) {
    w.Bool(1, lt.adjusted_to_utc);
    w.StructField(2);
    w.StructField(lt.unit);
    w.StructEnd();
    w.StructEnd();
  } else if (lt.kind == kLogicalInteger) {
    w.I8(1, lt.bit_width);
    w.Bool(2, lt.is_signed);
  }
  w.StructEnd();
}

void WriteSchemaElement(CompactWriter& w, const SchemaElement& e) {
  if (e.type) w.I32(1, *e.type);
  if (e.type_length) w.I32(2, *e.type_length);
  if (e.repetition_type) w.I32(3, *e.repetition_type);
  w.Binary(4, e.name);
  if (e.num_children) w.I32(5, *e.num_children);
  if (e.converted_type) w.I32(6, *e.converted_type);
  if (e.scale) w.I32(7, *e.scale);
  if (e.precision) w.I32(8, *e.precision);
  if (e.field_id) w.I32(9, *e.field_id);
  if (e.logical_type) {
    w.StructField(10);
    WriteLogicalType(w, *e.logical_type);
    w.StructEnd();
  }
}

void WriteColumnMetaData(CompactWriter& w, const ColumnMetaData& m) {
  w.I32(1, m.type);
  w.ListField(2, kI32, m.encodings.size());
  for (int32_t e : m.encodings) w.ElemI32(e);
  w.ListField(3, kBinary, m.path_in_schema.size());
  for (const auto& p : m.path_in_schema) w.ElemBinary(p);
  w.I32(4, m.codec);
  w.I64(5, m.num_values);
  w.I64(6, m.total_uncompressed_size);
  w.I64(7, m.total_compressed_size);
  w.I64(9, m.data_page_offset);
  if (m.index_page_offset) w.I64(10, *m.index_page_offset);
  if (m.dictionary_page_offset) w.I64(11, *m.dictionary_page_offset);
  if (m.statistics) {
    w.StructField(12);
    WriteStatistics(w, *m.statistics);
    w.StructEnd();
  }
}

}  // namespace

void SerializeFileMetaData(const FileMetaData& md, std::string* out) {
  CompactWriter w(out);
  w.StructBegin();
  w.I32(1, md.version);
  w.ListField(2, kStruct, md.schema.size());
  for (const auto& e : md.schema) {
    w.StructBegin();
    WriteSchemaElement(w, e);
    w.StructEnd();
  }
  w.I64(3, md.num_rows);
  w.ListField(4, kStruct, md.row_groups.size());
  size_t leaves = 0;
  for (const auto& g : md.row_groups) {
    leaves = g.columns.size();
    w.StructBegin();
    w.ListField(1, kStruct, g.columns.size());
    for (const auto& c : g.columns) {
      w.StructBegin();
      if (c.file_path) w.Binary(1, *c.file_path);
      w.I64(2, c.file_offset);
      if (c.meta_data) {
        w.StructField(3);
        WriteColumnMetaData(w, *c.meta_data);
        w.StructEnd();
      }
      w.StructEnd();
    }
    w.I64(2, g.total_byte_size);
    w.I64(3, g.num_rows);
    if (g.file_offset) w.I64(5, *g.file_offset);
    if (g.total_compressed_size) w.I64(6, *g.total_compressed_size);
    if (g.ordinal) w.I16(7, *g.ordinal);
    w.StructEnd();
  }
  if (!md.key_value_metadata.empty()) {
    w.ListField(5, kStruct, md.key_value_metadata.size());
    for (const auto& kv : md.key_value_metadata) {
      w.StructBegin();
      w.Binary(1, kv.key);
      if (kv.value) w.Binary(2, *kv.value);
      w.StructEnd();
    }
  }
  if (md.created_by) w.Binary(6, *md.created_by);
  if (md.type_defined_column_orders) {
    // One ColumnOrder union per leaf column, each {1: TypeDefinedOrder {}}.
    if (leaves == 0) leaves = md.schema.empty() ? 0 : md.schema.size() - 1;
    w.ListField(7, kStruct, leaves);
    for (size_t i = 0; i < leaves; ++i) {
      w.StructBegin();
      w.StructField(1);
      w.StructEnd();
      w.StructEnd();
    }
  }
  w.StructEnd();
}

void SerializePageHeader(const PageHeader& h, std::string* out) {
  CompactWriter w(out);
  w.StructBegin();
  w.I32(1, h.type);
  w.I32(2, h.uncompressed_page_size);
  w.I32(3, h.compressed_page_size);
  if (h.crc) w.I32(4, *h.crc);
  if (h.data_page_header) {
    const DataPageHeader& d = *h.data_page_header;
    w.StructField(5);
    w.I32(1, d.num_values);
    w.I32(2, d.encoding);
    w.I32(3, d.definition_level_encoding);
    w.I32(4, d.repetition_level_encoding);
    w.StructEnd();
  }
  if (h.dictionary_page_header) {
    const DictionaryPageHeader& d = *h.dictionary_page_header;
    w.StructField(7);
    w.I32(1, d.num_values);
    w.I32(2, d.encoding);
    if (d.is_sorted) w.Bool(3, *d.is_sorted);
    w.StructEnd();
  }
  if (h.data_page_header_v2) {
    const DataPageHeaderV2& d = *h.data_page_header_v2;
    w.StructField(8);
    w.I32(1, d.num_values);
    w.I32(2, d.num_nulls);
    w.I32(3, d.num_rows);
    w.I32(4, d.encoding);
    w.I32(5, d.definition_levels_byte_length);
    w.I32(6, d.repetition_levels_byte_length);
    w.Bool(7, d.is_compressed);
    w.StructEnd();
  }
  w.StructEnd();
}

Status ParseFileMetaData(std::string_view data, FileMetaData* out) {
  *out = FileMetaData();
  CompactReader r(data);
  ReadFileMetaDataStruct(r, out);
  if (!r.ok()) return Status::Corruption("bad footer (FileMetaData): " + r.error());
  return Status::OK();
}

Status ParsePageHeader(std::string_view data, PageHeader* out, size_t* consumed) {
  *out = PageHeader();
  CompactReader r(data);
  unsigned seen = 0;
  ReadStruct(r, [&](int16_t id, uint8_t t) {
    if (id >= 1 && id <= 3) seen |= 1u << id;
    switch (id) {
      case 1:
        out->type = r.I32(t);
        break;
      case 2:
        out->uncompressed_page_size = r.I32(t);
        break;
      case 3:
        out->compressed_page_size = r.I32(t);
        break;
      case 4:
        out->crc = r.I32(t);
        break;
      case 5: {
        if (t != kStruct) return r.Fail("data_page_header is not a struct");
        DataPageHeader& d = out->data_page_header.emplace();
        unsigned dseen = 0;
        ReadStruct(r, [&](int16_t fid, uint8_t ft) {
          if (fid >= 1 && fid <= 4) dseen |= 1u << fid;
          switch (fid) {
            case 1:
              d.num_values = r.I32(ft);
              break;
            case 2:
              d.encoding = r.I32(ft);
              break;
            case 3:
              d.definition_level_encoding = r.I32(ft);
              break;
            case 4:
              d.repetition_level_encoding = r.I32(ft);
              break;
            default:
              r.Skip(ft);
          }
        });
        if (r.ok() && dseen != 0b11110) r.Fail("DataPageHeader lacks a required field");
        break;
      }
      case 7: {
        if (t != kStruct) return r.Fail("dictionary_page_header is not a struct");
        DictionaryPageHeader& d = out->dictionary_page_header.emplace();
        unsigned dseen = 0;
        ReadStruct(r, [&](int16_t fid, uint8_t ft) {
          if (fid >= 1 && fid <= 2) dseen |= 1u << fid;
          switch (fid) {
            case 1:
              d.num_values = r.I32(ft);
              break;
            case 2:
              d.encoding = r.I32(ft);
              break;
            case 3:
              d.is_sorted = r.Bool(ft);
              break;
            default:
              r.Skip(ft);
          }
        });
        if (r.ok() && dseen != 0b110) r.Fail("DictionaryPageHeader lacks a required field");
        break;
      }
      case 8: {
        if (t != kStruct) return r.Fail("data_page_header_v2 is not a struct");
        DataPageHeaderV2& d = out->data_page_header_v2.emplace();
        unsigned dseen = 0;
        ReadStruct(r, [&](int16_t fid, uint8_t ft) {
          if (fid >= 1 && fid <= 6) dseen |= 1u << fid;
          switch (fid) {
            case 1:
              d.num_values = r.I32(ft);
              break;
            case 2:
              d.num_nulls = r.I32(ft);
              break;
            case 3:
              d.num_rows = r.I32(ft);
              break;
            case 4:
              d.encoding = r.I32(ft);
              break;
            case 5:
              d.definition_levels_byte_length = r.I32(ft);
              break;
            case 6:
              d.repetition_levels_byte_length = r.I32(ft);
              break;
            case 7:
              d.is_compressed = r.Bool(ft);
              break;
            default:
              r.Skip(ft);
          }
        });
        if (r.ok() && dseen != 0b1111110) r.Fail("DataPageHeaderV2 lacks a required field");
        break;
      }
      default:
        r.Skip(t);
    }
  });
  if (r.ok() && seen != 0b1110) r.Fail("PageHeader lacks a required field");
  if (!r.ok()) return Status::Corruption("bad page header: " + r.error());
  *consumed = r.consumed();
  return Status::OK();
}

}  // namespace vigil::parquet::internal
