// The point-in-time join's working tables (training/dataset.cc), apart so that their
// tests can reach them: the labels grouped by entity, and a view's tuples by label.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/memory.h"
#include "compute/entity_index.h"
#include "schema/parquet.h"
#include "spec/definitions.h"
#include "training/dataset.h"

namespace vigil {

// The labels of one view grouped by entity, each entity's labels in as_of order, in flat
// arrays: one key text and one list of label numbers for all, no map node or vector per
// entity (a million labels over a hundred thousand entities are three arrays, not a
// hundred thousand allocations). An entity's labels sit at consecutive positions
// [first(e), first(e) + labels(e).size()) of one array, which the join uses as its slots.
//
//   labels (key, as_of): 0 (a, 30), 1 (b, 10), 2 (a, 20)
//   -> entity 0 "a": labels 2, 0 at positions 0, 1; entity 1 "b": label 1 at position 2
class LabelGroups {
 public:
  LabelGroups() = default;
  LabelGroups(LabelGroups&&) = default;
  LabelGroups& operator=(LabelGroups&&) = default;

  // Groups label i (0 <= i < rows.size()) under the encoded entity key (EncodeEntityKey)
  // made of row rows[i]'s cells in `key_columns`; a label with an empty key cell is in
  // no group. Within an entity, labels are ordered by as_of[i], then by i.
  static LabelGroups Build(const LabelTable& labels, std::span<const uint32_t> rows,
                           std::span<const size_t> key_columns, std::span<const TimestampMs> as_of);

  size_t entities() const { return first_.size() - 1; }
  std::string_view key(size_t e) const {
    const uint64_t begin = e == 0 ? 0 : key_end_[e - 1];
    return std::string_view(key_text_).substr(begin, key_end_[e] - begin);
  }
  // Entity e's labels, in as_of order.
  std::span<const uint32_t> labels(size_t e) const {
    return std::span<const uint32_t>(labels_).subspan(first_[e], first_[e + 1] - first_[e]);
  }
  // The position of entity e's first label (positions run over all entities' labels).
  size_t first(size_t e) const { return first_[e]; }
  size_t positions() const { return labels_.size(); }
  uint32_t label_at(size_t position) const { return labels_[position]; }
  // The entity of `key` (hash EntityIndex::Hash(key)), or EntityIndex::kNone.
  uint32_t Find(std::string_view key, uint64_t hash) const {
    return index_.Find(key, hash, [this](uint32_t e) { return this->key(e); });
  }

  // Hints for a caller that looks keys up some rows ahead (results never depend on
  // them): PrefetchIndex asks for the index entry of `hash`; once it has arrived, Peek
  // returns the entity there if its hash matches (EntityIndex::Peek), PrefetchEntity(e)
  // asks for where e's key and labels begin, and once those have arrived PrefetchKey(e)
  // asks for e's key text.
  void PrefetchIndex(uint64_t hash) const { index_.Prefetch(hash); }
  uint32_t Peek(uint64_t hash) const { return index_.Peek(hash); }
  void PrefetchEntity(uint32_t e) const {
    __builtin_prefetch(&key_end_[e]);
    if (e > 0) __builtin_prefetch(&key_end_[e - 1]);
    __builtin_prefetch(&first_[e]);
  }
  void PrefetchKey(uint32_t e) const {
    __builtin_prefetch(key_text_.data() + (e == 0 ? 0 : key_end_[e - 1]));
  }

  // Splits the groups at `coverage`: each entity's labels with as_of < coverage go to
  // *below*, the others to *rest* (entities with none on a side are not there).
  void Split(std::span<const TimestampMs> as_of, TimestampMs coverage, LabelGroups* below,
             LabelGroups* rest) const;

 private:
  // Appends an entity. REQUIRES: `key` is not there yet.
  void Add(std::string_view key, std::span<const uint32_t> labels);

  std::string key_text_;           // every entity's key, one after the other
  std::vector<uint64_t> key_end_;  // where entity e's key ends in key_text_
  EntityIndex index_;
  std::vector<uint32_t> first_{0};  // entity e's labels: labels_[first_[e], first_[e + 1])
  std::vector<uint32_t> labels_;
};

// A view's tuples by index (a join's labels, a dataset's rows), typed cells where a Row
// would take 48 bytes a Value and an allocation a tuple: each cell's type and 8 bytes of
// value, a tuple's cells adjacent (one or two cache lines to write or read a tuple), and
// a string per tuple only for each string feature. Different tuples may be set from
// different threads at once.
class TupleTable {
 public:
  // n tuples, none set, of a view's features (their output types).
  TupleTable(const FeatureViewDef& view, size_t n);

  // Sets tuple i. REQUIRES: tuple.size() is the view's feature count, each value null or
  // of its feature's output type.
  void Set(size_t i, const Row& tuple);
  // Sets tuple i from row r of a changelog batch whose features start at column `first`
  // (typed as the features' output types).
  void SetFrom(size_t i, const parquet::ColumnBatch& batch, size_t first, size_t r);
  // Sets tuple i to a copy of tuple j. REQUIRES: j is set.
  void CopyTuple(size_t i, size_t j);

  bool has(size_t i) const { return has_[i] != 0; }
  size_t size() const { return has_.size(); }
  Value Get(size_t i, size_t f) const;
  // Tuple i as a Row. REQUIRES: has(i).
  Row GetRow(size_t i) const;
  // Appends feature f of tuples [begin, end) to `col` (of the feature's output type),
  // `unset` for a tuple not set.
  void AppendColumn(size_t begin, size_t end, size_t f, const Value& unset, parquet::Column* col) const;

 private:
  size_t nf_, ns_ = 0;
  std::vector<int> string_col_;  // by feature: its index among the string features, or -1
  ZeroedArray<uint8_t> types_;   // by tuple and feature: Type; kNull: null
  ZeroedArray<int64_t> bits_;    // int64, timestamp, bool (0/1), double (its bits)
  std::vector<std::string> strings_;
  ZeroedArray<uint8_t> has_;  // by tuple: set at all
};

}  // namespace vigil
