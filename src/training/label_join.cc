#include <algorithm>
#include <bit>
#include <cassert>
#include <cstring>

#include "compute/changelog.h"
#include "training/label_join_internal.h"

namespace vigil {

// ---- LabelGroups -------------------------------------------------------------------------

LabelGroups LabelGroups::Build(const LabelTable& labels, std::span<const uint32_t> rows,
                               std::span<const size_t> key_columns, std::span<const TimestampMs> as_of) {
  LabelGroups g;
  // Each label's entity, numbered as first seen; then the labels by entity, by counting.
  std::vector<uint32_t> entity_of(rows.size(), EntityIndex::kNone);
  std::vector<uint32_t> count;
  std::string joined;
  for (size_t i = 0; i < rows.size(); ++i) {
    std::string_view key;
    bool empty = false;
    if (key_columns.size() == 1) {
      key = labels.cell(rows[i], key_columns[0]);
      empty = key.empty();
    } else {
      joined.clear();
      for (size_t k = 0; k < key_columns.size(); ++k) {
        const std::string_view cell = labels.cell(rows[i], key_columns[k]);
        empty |= cell.empty();
        if (k) joined.push_back(kKeySeparator);
        joined += cell;
      }
      key = joined;
    }
    if (empty) continue;
    const uint64_t hash = EntityIndex::Hash(key);
    uint32_t e = g.Find(key, hash);
    if (e == EntityIndex::kNone) {
      e = static_cast<uint32_t>(count.size());
      count.push_back(0);
      g.key_text_ += key;
      g.key_end_.push_back(g.key_text_.size());
      g.index_.Insert(hash, e);
    }
    entity_of[i] = e;
    ++count[e];
  }
  g.first_.resize(count.size() + 1);
  g.first_[0] = 0;
  for (size_t e = 0; e < count.size(); ++e) g.first_[e + 1] = g.first_[e] + count[e];
  g.labels_.resize(g.first_.back());
  std::vector<uint32_t> next(g.first_.begin(), g.first_.end() - 1);
  for (size_t i = 0; i < rows.size(); ++i) {
    if (entity_of[i] != EntityIndex::kNone) g.labels_[next[entity_of[i]]++] = static_cast<uint32_t>(i);
  }
  for (size_t e = 0; e + 1 < g.first_.size(); ++e) {
    std::sort(g.labels_.begin() + g.first_[e], g.labels_.begin() + g.first_[e + 1],
              [&as_of](uint32_t a, uint32_t b) { return as_of[a] < as_of[b] || (as_of[a] == as_of[b] && a < b); });
  }
  return g;
}

void LabelGroups::Add(std::string_view key, std::span<const uint32_t> labels) {
  const uint64_t hash = EntityIndex::Hash(key);
  key_text_ += key;
  key_end_.push_back(key_text_.size());
  index_.Insert(hash, static_cast<uint32_t>(first_.size() - 1));
  labels_.insert(labels_.end(), labels.begin(), labels.end());
  first_.push_back(static_cast<uint32_t>(labels_.size()));
}

void LabelGroups::Split(std::span<const TimestampMs> as_of, TimestampMs coverage, LabelGroups* below,
                        LabelGroups* rest) const {
  *below = LabelGroups();
  *rest = LabelGroups();
  for (size_t e = 0; e < entities(); ++e) {
    const std::span<const uint32_t> list = labels(e);
    const auto mid =
        std::partition_point(list.begin(), list.end(), [&as_of, coverage](uint32_t i) { return as_of[i] < coverage; });
    const size_t n = static_cast<size_t>(mid - list.begin());
    if (n > 0) below->Add(key(e), list.first(n));
    if (n < list.size()) rest->Add(key(e), list.subspan(n));
  }
}

// ---- TupleTable --------------------------------------------------------------------------

TupleTable::TupleTable(const FeatureViewDef& view, size_t n) : nf_(view.features.size()), string_col_(nf_, -1) {
  for (size_t f = 0; f < nf_; ++f) {
    if (view.features[f].output_type == Type::kString) string_col_[f] = static_cast<int>(ns_++);
  }
  // Zeroed memory: every cell's type is kNull (0) with no pass over them. A million
  // labels' tuples are tens of MB per view, in huge pages where the kernel allows.
  static_assert(static_cast<uint8_t>(Type::kNull) == 0);
  types_ = ZeroedArray<uint8_t>(n * nf_);
  bits_ = ZeroedArray<int64_t>(n * nf_);
  strings_.resize(n * ns_);
  has_ = ZeroedArray<uint8_t>(n);
}

void TupleTable::Set(size_t i, const Row& tuple) {
  has_[i] = 1;
  for (size_t f = 0; f < nf_; ++f) {
    const Value& v = tuple[f];
    const size_t c = i * nf_ + f;
    types_[c] = static_cast<uint8_t>(v.type());
    switch (v.type()) {
      case Type::kNull:
        break;
      case Type::kDouble:
        bits_[c] = std::bit_cast<int64_t>(v.dbl());
        break;
      case Type::kString:
        strings_[i * ns_ + static_cast<size_t>(string_col_[f])] = v.str();
        break;
      default:
        bits_[c] = v.int64();
    }
  }
}

void TupleTable::SetFrom(size_t i, const parquet::ColumnBatch& batch, size_t first, size_t r) {
  has_[i] = 1;
  for (size_t f = 0; f < nf_; ++f) {
    const parquet::Column& col = batch.columns[first + f];
    const size_t c = i * nf_ + f;
    if (col.is_null(r)) {
      types_[c] = static_cast<uint8_t>(Type::kNull);
      continue;
    }
    types_[c] = static_cast<uint8_t>(col.type);
    switch (col.type) {
      case Type::kNull:
        break;
      case Type::kDouble:
        bits_[c] = std::bit_cast<int64_t>(col.doubles[r]);
        break;
      case Type::kString:
        strings_[i * ns_ + static_cast<size_t>(string_col_[f])].assign(col.str(r));
        break;
      default:
        bits_[c] = col.ints[r];
    }
  }
}

void TupleTable::CopyTuple(size_t i, size_t j) {
  has_[i] = 1;
  std::memcpy(&types_[i * nf_], &types_[j * nf_], nf_);
  std::memcpy(&bits_[i * nf_], &bits_[j * nf_], nf_ * sizeof(int64_t));
  for (size_t s = 0; s < ns_; ++s) strings_[i * ns_ + s] = strings_[j * ns_ + s];
}

Value TupleTable::Get(size_t i, size_t f) const {
  const size_t c = i * nf_ + f;
  switch (static_cast<Type>(types_[c])) {
    case Type::kNull:
      return Value::Null();
    case Type::kInt64:
      return Value::Int64(bits_[c]);
    case Type::kTimestamp:
      return Value::Timestamp(bits_[c]);
    case Type::kBool:
      return Value::Bool(bits_[c] != 0);
    case Type::kDouble:
      return Value::Double(std::bit_cast<double>(bits_[c]));
    case Type::kString:
      return Value::String(strings_[i * ns_ + static_cast<size_t>(string_col_[f])]);
  }
  return Value::Null();
}

Row TupleTable::GetRow(size_t i) const {
  Row row(nf_);
  for (size_t f = 0; f < nf_; ++f) row[f] = Get(i, f);
  return row;
}

void TupleTable::AppendColumn(size_t begin, size_t end, size_t f, const Value& unset, parquet::Column* col) const {
  col->Reserve(col->size() + (end - begin));
  for (size_t i = begin; i < end; ++i) {
    const size_t c = i * nf_ + f;
    const Type type = static_cast<Type>(types_[c]);
    if (!has_[i]) {
      col->Append(unset);
      continue;
    }
    assert(type == Type::kNull || type == col->type);
    if (type == Type::kNull) {
      col->Append(Value::Null());
    } else if (type == Type::kString) {
      col->AppendString(strings_[i * ns_ + static_cast<size_t>(string_col_[f])]);
    } else if (type == Type::kDouble) {
      col->valid.push_back(1);
      col->doubles.push_back(std::bit_cast<double>(bits_[c]));
    } else {  // int64, timestamp, bool: their bits are the column's value
      col->valid.push_back(1);
      col->ints.push_back(bits_[c]);
    }
  }
}

}  // namespace vigil
