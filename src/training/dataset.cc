#include "training/dataset.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "common/files.h"
#include "common/memory.h"
#include "compute/batch_replay.h"
#include "compute/entity_index.h"
#include "compute/entity_window.h"
#include "schema/csv.h"
#include "schema/parquet.h"
#include "store/archive.h"
#include "store/offline_store.h"

namespace vigil {
namespace {

// Labels of one view grouped by entity, each group in as_of order.
using LabelGroups = std::unordered_map<std::string, std::vector<uint32_t>>;

// Runs fn(begin, step) on `threads` threads (or inline).
void Parallel(int threads, const std::function<void(size_t, size_t)>& fn) {
  threads = std::max(1, threads);
  if (threads == 1) {
    fn(0, 1);
    return;
  }
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(fn, static_cast<size_t>(t), static_cast<size_t>(threads));
  for (auto& t : pool) t.join();
}

// A view's tuples by index (a join's slots, a dataset's rows), typed cells where a Row
// would take 48 bytes a Value and an allocation a tuple: each cell's type and 8 bytes of
// value, a tuple's cells adjacent (one or two cache lines to write or read a tuple), and
// a string per tuple only for each string feature. Different tuples may be set from
// different threads at once.
class TupleTable {
 public:
  // n tuples of null cells, of a view's features (their output types).
  TupleTable(const FeatureViewDef& view, size_t n) : nf_(view.features.size()), string_col_(nf_, -1) {
    for (size_t f = 0; f < nf_; ++f) {
      if (view.features[f].output_type == Type::kString) string_col_[f] = ns_++;
    }
    // Zeroed memory: every cell's type is kNull (0) with no pass over them. A million
    // labels' tuples are tens of MB per view, in huge pages where the kernel allows.
    static_assert(static_cast<uint8_t>(Type::kNull) == 0);
    types_ = ZeroedArray<uint8_t>(n * nf_);
    bits_ = ZeroedArray<int64_t>(n * nf_);
    strings_.resize(n * ns_);
    has_ = ZeroedArray<uint8_t>(n);
  }
  // Sets tuple i. REQUIRES: tuple.size() is the view's feature count; a string only
  // where the feature's output type is string.
  void Set(size_t i, const Row& tuple) {
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
  // Sets tuple i from row r of a changelog batch whose features start at column `first`.
  void SetFrom(size_t i, const parquet::ColumnBatch& batch, size_t first, size_t r) {
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
  bool has(size_t i) const { return has_[i] != 0; }
  Value Get(size_t i, size_t f) const {
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
  // Appends cell (i, f) to a column of the feature's type.
  void AppendTo(size_t i, size_t f, parquet::Column* col) const {
    if (static_cast<Type>(types_[i * nf_ + f]) == Type::kString) {
      col->AppendString(strings_[i * ns_ + static_cast<size_t>(string_col_[f])]);
    } else {
      col->Append(Get(i, f));
    }
  }

 private:
  size_t nf_, ns_ = 0;
  std::vector<int> string_col_;  // by feature: its index among the string features, or -1
  ZeroedArray<uint8_t> types_;   // by tuple and feature: Type; kNull: null
  ZeroedArray<int64_t> bits_;    // int64, timestamp, bool (0/1), double (its bits)
  std::vector<std::string> strings_;
  ZeroedArray<uint8_t> has_;  // by tuple: set at all
};

// Sets (*out)[label] for every label of `groups` from the offline changelog of `view`, in
// one pass over it and without sorting it. Each labelled entity's labels are in as_of
// order, and each label has a slot. A changelog row at ts is a candidate for every label
// of its entity with as_of >= ts; it is offered to the first of them only (a binary
// search), whose slot keeps the latest row offered. The answer of a label is then the
// latest row among its own slot and the slots of the entity's earlier labels: a running
// maximum along the list. So memory is one tuple per label (typed cells, not Values),
// whatever the changelog's length, and a row's cost is a hash lookup, a binary search
// and, when it is the latest so far, a copy of its values.
//
//   labels of e at as_of 10, 20, 30; rows of e at 5, 12, 15, 40 (in any order)
//   -> slot(10) <- 5; slot(20) <- 12 then 15; 40 is past every label
//   -> label 10: row 5, label 20: row 15, label 30: row 15 (no row in (20, 30])
Status JoinOffline(const Definitions& defs, const FeatureViewDef& view, const std::string& offline_dir,
                   const std::vector<TimestampMs>& as_of, const LabelGroups& groups, int threads,
                   const std::function<void(uint32_t, const Row&)>& out, int64_t* rows_read) {
  TimestampMs max_as_of = kMinTimestamp;
  for (const auto& [key, list] : groups) max_as_of = std::max(max_as_of, as_of[list.back()]);
  const size_t nk = view.key_indexes.size(), nf = view.features.size();
  // The labelled entities by key (views of the keys `groups` holds), and the first slot of each.
  struct Entity {
    std::string_view key;
    const std::vector<uint32_t>* labels;
    size_t first_slot;  // its labels' slots: [first_slot, first_slot + labels->size())
  };
  std::vector<Entity> entities;
  entities.reserve(groups.size());
  EntityIndex ids;
  size_t slots = 0;
  for (const auto& [key, list] : groups) {
    ids.Insert(EntityIndex::Hash(key), static_cast<uint32_t>(entities.size()));
    entities.push_back({key, &list, slots});
    slots += list.size();
  }
  auto key_of = [&entities](uint32_t e) { return entities[e].key; };
  std::vector<TimestampMs> slot_as_of(slots);             // the slot's label's as_of, for the search
  std::vector<TimestampMs> slot_ts(slots, kMinTimestamp);  // kMinTimestamp: no row offered
  for (const Entity& e : entities) {
    for (size_t i = 0; i < e.labels->size(); ++i) slot_as_of[e.first_slot + i] = as_of[(*e.labels)[i]];
  }
  TupleTable slot_values(view, slots);
  constexpr size_t kStripes = 256;  // the slots of entity e are guarded by stripes[e % kStripes]
  std::vector<std::mutex> stripes(kStripes);
  std::atomic<int64_t> read{0};
  VIGIL_RETURN_IF_ERROR(ScanViewChangelog(
      defs, view, offline_dir, threads, max_as_of,
      [&](parquet::ColumnBatch&& batch, TimestampMs skip_from, TimestampMs skip_to) {
        const auto& ts = batch.columns[nk].ints;
        const bool plain_key = nk == 1 && batch.columns[0].type == Type::kString;
        std::string key;
        for (size_t r = 0; r < batch.columns[0].size(); ++r) {
          const TimestampMs t = ts[r];
          if (t > max_as_of || (t >= skip_from && t < skip_to)) continue;
          std::string_view k;
          if (plain_key) {
            if (batch.columns[0].is_null(r)) continue;
            k = batch.columns[0].str(r);
          } else {
            OfflineEntityKey(batch, nk, r, &key);
            k = key;
          }
          const uint32_t id = ids.Find(k, EntityIndex::Hash(k), key_of);
          if (id == EntityIndex::kNone) continue;
          const Entity& e = entities[id];
          const TimestampMs* begin = slot_as_of.data() + e.first_slot;
          const TimestampMs* end = begin + e.labels->size();
          const TimestampMs* first = std::lower_bound(begin, end, t);
          if (first == end) continue;  // after every label of the entity
          const size_t slot = static_cast<size_t>(first - slot_as_of.data());
          std::lock_guard l(stripes[id % kStripes]);
          // Later rows win; a row's identity is (entity, ts), so the same row ingested
          // twice is offered twice and kept once.
          if (t <= slot_ts[slot]) continue;
          slot_ts[slot] = t;
          slot_values.SetFrom(slot, batch, nk + 1, r);
        }
        read += static_cast<int64_t>(batch.rows());
        return Status::OK();
      }));
  *rows_read += read.load();
  Parallel(threads, [&](size_t begin, size_t step) {
    Row tuple(nf);
    for (size_t e = begin; e < entities.size(); e += step) {
      const Entity& en = entities[e];
      // A row sits in the slot of the first label at or after it, so a later slot's row
      // is later than every earlier slot's: the latest so far is the last filled slot.
      size_t best = SIZE_MAX;  // that slot, whose row `tuple` holds
      for (size_t i = 0; i < en.labels->size(); ++i) {
        const size_t slot = en.first_slot + i;
        if (slot_ts[slot] != kMinTimestamp) {
          best = slot;
          for (size_t f = 0; f < nf; ++f) tuple[f] = slot_values.Get(slot, f);
        }
        if (best != SIZE_MAX) out((*en.labels)[i], tuple);
      }
    }
  });
  return Status::OK();
}

// Calls out(label, tuple) for every label of `groups` that has a tuple, by replaying the
// source history of their entities. The history is streamed and only the labelled
// entities' events are kept, compactly (compute/batch_replay.h CompactHistory). When the
// source topic holds more than events_per_pass records, the entities are split into
// shards by key hash and each pass over the source keeps and replays one shard (an
// entity's changelog depends on its own events only).
Status JoinReplay(const Definitions& defs, const FeatureViewDef& view, Log* log, const std::string& offline_dir,
                  const std::vector<TimestampMs>& as_of, const LabelGroups& groups, int threads,
                  int64_t events_per_pass, const std::function<void(uint32_t, const Row&)>& out, int64_t* replayed) {
  const SourceDef& source = *defs.FindSource(view.source);
  // Records archived and live: each partition's end offset (the archive holds the
  // offsets below the live log's start).
  int64_t records = 0;
  if (auto ends = log->EndOffsets(source.name); ends.ok()) {
    for (int64_t e : *ends) records += e;
  }
  const int64_t per_pass = std::max<int64_t>(1, events_per_pass);
  const size_t passes = static_cast<size_t>(std::max<int64_t>(1, (records + per_pass - 1) / per_pass));
  // The labelled entities by id, and each one's pass.
  std::vector<std::string> keys;
  std::vector<const std::vector<uint32_t>*> lists;
  std::unordered_map<std::string, uint32_t> ids;
  keys.reserve(groups.size());
  ids.reserve(groups.size());
  for (const auto& [key, list] : groups) {
    ids.emplace(key, static_cast<uint32_t>(keys.size()));
    keys.push_back(key);
    lists.push_back(&list);
  }
  std::vector<uint32_t> pass_of(keys.size(), 0);
  if (passes > 1) {
    std::hash<std::string> hasher;
    for (size_t e = 0; e < keys.size(); ++e) pass_of[e] = static_cast<uint32_t>(hasher(keys[e]) % passes);
  }
  const std::vector<int> view_fields = ViewInputFields(view);
  for (size_t pass = 0; pass < passes; ++pass) {
    CompactHistory kept(view, source, keys);
    SourceHistory counts;  // late and rejected counts, watermark: not needed here
    auto keep = [&](Event&& ev, uint64_t seq) {
      auto it = ids.find(EncodeEntityKey(ev.fields, view.key_indexes));
      if (it != ids.end() && pass_of[it->second] == pass) kept.Add(it->second, ev, seq);
      return Status::OK();
    };
    if (offline_dir.empty()) {
      VIGIL_RETURN_IF_ERROR(ScanSourceHistory(source, log, keep, &counts));
    } else {
      VIGIL_RETURN_IF_ERROR(ScanSourceHistory(source, log, offline_dir, keep, &counts, &view_fields));
    }
    *replayed += kept.events();
    ReplayView(view, kept, kMaxTimestamp, threads, [&](const std::string& key, std::vector<ChangelogRow>&& rows) {
      auto it = groups.find(key);
      if (it == groups.end() || rows.empty()) return;
      size_t r = 0;
      for (uint32_t li : it->second) {
        while (r < rows.size() && rows[r].ts <= as_of[li]) ++r;
        if (r > 0) out(li, rows[r - 1].values);
      }
    });
  }
  return Status::OK();
}

Status WriteCsv(const std::string& path, const LabelTable& labels, const std::vector<const FeatureViewDef*>& views,
                const std::vector<TupleTable>& values, const std::vector<Row>& empty) {
  std::string out;
  out.reserve(1 << 20);
  for (size_t c = 0; c < labels.header.size(); ++c) {
    if (c) out.push_back(',');
    AppendCsvCell(labels.header[c], &out);
  }
  for (const auto* v : views) {
    for (const auto& f : v->features) {
      out.push_back(',');
      AppendCsvCell(v->name + "__" + f.name, &out);
    }
  }
  out.push_back('\n');
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) return Status::IOError("cannot write " + path);
  for (size_t i = 0; i < labels.size(); ++i) {
    for (size_t c = 0; c < labels.header.size(); ++c) {
      if (c) out.push_back(',');
      AppendCsvCell(labels.cell(i, c), &out);
    }
    for (size_t vi = 0; vi < views.size(); ++vi) {
      for (size_t f = 0; f < views[vi]->features.size(); ++f) {
        const Value v = values[vi].has(i) ? values[vi].Get(i, f) : empty[vi][f];
        out.push_back(',');
        if (v.type() == Type::kString)
          AppendCsvCell(v.str(), &out);
        else
          out.append(v.ToCsvText());
      }
    }
    out.push_back('\n');
    if (out.size() > (1 << 20)) {
      file.write(out.data(), static_cast<std::streamsize>(out.size()));
      out.clear();
    }
  }
  file.write(out.data(), static_cast<std::streamsize>(out.size()));
  if (!file.flush()) return Status::IOError("write " + path);
  return Status::OK();
}

Status WriteParquet(const std::string& path, const LabelTable& labels, const std::vector<const FeatureViewDef*>& views,
                    const std::vector<TupleTable>& values, const std::vector<Row>& empty, int threads) {
  Schema schema;
  for (const auto& h : labels.header) schema.Add({h, Type::kString});
  for (const auto* v : views) {
    for (const auto& f : v->features) schema.Add({v->name + "__" + f.name, f.output_type});
  }
  parquet::WriterOptions wo;
  wo.threads = threads;
  // Row groups of 128 Ki labels (DuckDB writes 122,880 rows a group): one batch of that
  // many rows is filled and written again and again, its memory touched once, where a
  // row group of 1 Mi labels x 40 features would be a fresh 360 MB.
  wo.row_group_rows = int64_t{1} << 17;
  VIGIL_ASSIGN_OR_RETURN(auto w, parquet::Writer::Create(path, schema, wo));
  // Column by column, a row group of labels at a time, written straight from the batch:
  // no row is assembled, no row copied into the writer's buffer.
  const size_t kBatch = static_cast<size_t>(wo.row_group_rows);
  const size_t n = labels.size();
  size_t begin = 0;
  parquet::ColumnBatch batch = parquet::ColumnBatch::Empty(schema);
  do {  // at least one batch: a file of no labels still has its schema
    const size_t end = std::min(n, begin + kBatch);
    for (parquet::Column& col : batch.columns) col.Clear();
    size_t c = 0;
    for (; c < labels.header.size(); ++c) {
      parquet::Column& col = batch.columns[c];
      col.Reserve(end - begin);
      for (size_t i = begin; i < end; ++i) col.AppendString(labels.cell(i, c));
    }
    for (size_t vi = 0; vi < views.size(); ++vi) {
      for (size_t f = 0; f < views[vi]->features.size(); ++f, ++c) {
        parquet::Column& col = batch.columns[c];
        col.Reserve(end - begin);
        const TupleTable& v = values[vi];
        for (size_t i = begin; i < end; ++i) {
          if (v.has(i)) {
            v.AppendTo(i, f, &col);
          } else {
            col.Append(empty[vi][f]);
          }
        }
      }
    }
    VIGIL_RETURN_IF_ERROR(w->WriteRowGroups(batch));
    begin = end;
  } while (begin < n);
  return w->Close();
}

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

void LabelTable::AppendCell(std::string_view text) {
  text_ += text;
  ends_.push_back(text_.size());
}

void LabelTable::AddRow(std::span<const std::string> cells, TimestampMs row_ts) {
  for (const std::string& c : cells) AppendCell(c);
  ts.push_back(row_ts);
}

void LabelTable::AddRow(std::span<const std::string> cells, std::span<const size_t> keep,
                        TimestampMs row_ts) {
  for (size_t c : keep) AppendCell(cells[c]);
  ts.push_back(row_ts);
}

void LabelTable::AddRowOf(const LabelTable& from, size_t row) {
  for (size_t c = 0; c < from.header.size(); ++c) AppendCell(from.cell(row, c));
  ts.push_back(from.ts[row]);
}

void LabelTable::Reserve(size_t rows, size_t text_bytes) {
  ts.reserve(rows);
  ends_.reserve(rows * header.size());
  text_.reserve(text_bytes);
}

Result<size_t> LabelTable::Column(const std::string& column) const {
  auto it = std::find(header.begin(), header.end(), column);
  if (it == header.end()) return Status::NotFound(path + ":1: no column '" + column + "'");
  return static_cast<size_t>(it - header.begin());
}

Result<LabelTable> ReadLabelTable(const std::string& path, const std::string& ts_column,
                                  const std::vector<std::string>& columns) {
  LabelTable labels;
  labels.path = path;
  std::vector<std::string> all_header;
  // The kept columns and the ts column's index, once the file's header is known.
  std::vector<size_t> keep;
  size_t ts_idx = 0;
  auto choose = [&]() -> Status {
    if (columns.empty()) {
      for (size_t c = 0; c < all_header.size(); ++c) keep.push_back(c);
    } else {
      for (const auto& col : columns) {
        auto it = std::find(all_header.begin(), all_header.end(), col);
        if (it == all_header.end()) return Status::InvalidArgument(path + ":1: no column '" + col + "'");
        keep.push_back(static_cast<size_t>(it - all_header.begin()));
      }
    }
    auto ts_it = std::find(all_header.begin(), all_header.end(), ts_column);
    if (ts_it == all_header.end()) {
      return Status::InvalidArgument(path + ":1: no column '" + ts_column +
                                     "' (choose one with --ts-column)");
    }
    ts_idx = static_cast<size_t>(ts_it - all_header.begin());
    for (size_t c : keep) labels.header.push_back(all_header[c]);
    return Status::OK();
  };
  // One row's cells (all the file's columns), `where` naming it for a message.
  auto add = [&](const std::vector<std::string>& cells, const auto& where) -> Status {
    auto t = ParseTimestamp(cells[ts_idx]);
    if (!t.ok()) return t.status().WithContext(where() + ": column " + ts_column);
    labels.AddRow(cells, keep, *t);
    return Status::OK();
  };
  std::vector<std::string> cells;
  if (EndsWith(path, ".parquet")) {
    VIGIL_ASSIGN_OR_RETURN(parquet::ColumnBatch batch, parquet::ReadFile(path));
    for (size_t c = 0; c < batch.schema.size(); ++c) all_header.push_back(batch.schema.field(c).name);
    VIGIL_RETURN_IF_ERROR(choose());
    labels.Reserve(static_cast<size_t>(batch.rows()), 0);
    cells.resize(all_header.size());
    for (size_t r = 0; r < static_cast<size_t>(batch.rows()); ++r) {
      for (size_t c = 0; c < all_header.size(); ++c) {
        const parquet::Column& col = batch.columns[c];
        if (col.type == Type::kString && !col.is_null(r)) {
          cells[c].assign(col.str(r));
        } else {
          cells[c] = col.Get(r).ToCsvText();
        }
      }
      VIGIL_RETURN_IF_ERROR(add(cells, [&] { return path + " row " + std::to_string(r + 1); }));
    }
  } else {
    VIGIL_ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path));
    CsvReader csv(text);
    VIGIL_ASSIGN_OR_RETURN(bool has_header, csv.Next(&all_header));
    if (!has_header) return Status::InvalidArgument(path + ": empty label file (want a header row)");
    VIGIL_RETURN_IF_ERROR(choose());
    // A row a line, at most (a quoted cell may span lines); the cells are within the text.
    labels.Reserve(static_cast<size_t>(std::count(text.begin(), text.end(), '\n')), text.size());
    for (;;) {
      auto more = csv.Next(&cells);
      if (!more.ok()) return more.status().WithContext(path);
      if (!*more) break;
      if (cells.size() != all_header.size()) {
        return Status::InvalidArgument(path + ":" + std::to_string(csv.line()) + ": " +
                                       std::to_string(cells.size()) + " cells, header has " +
                                       std::to_string(all_header.size()));
      }
      VIGIL_RETURN_IF_ERROR(add(cells, [&] { return path + ":" + std::to_string(csv.line()); }));
    }
  }
  return labels;
}

Status JoinPointInTime(const Definitions& defs, Log* log, const std::string& offline_dir, const LabelTable& labels,
                       std::span<const uint32_t> rows, const std::vector<const FeatureViewDef*>& views,
                       const JoinOptions& options, const TupleSink& sink, DatasetStats* stats) {
  std::vector<TimestampMs> as_of(rows.size());
  for (size_t i = 0; i < as_of.size(); ++i) as_of[i] = labels.ts[rows[i]] - 1;
  std::map<std::vector<size_t>, LabelGroups> groups_by_keys;
  for (size_t vi = 0; vi < views.size(); ++vi) {
    const FeatureViewDef& view = *views[vi];
    const EntityDef& entity = *defs.FindEntity(view.entity);
    std::vector<size_t> key_cols;
    for (const auto& k : entity.keys) {
      auto it = std::find(labels.header.begin(), labels.header.end(), k);
      if (it == labels.header.end()) {
        return Status::InvalidArgument(labels.path + ":1: no column '" + k + "' for the key of entity '" +
                                       entity.name + "' (view " + view.name + ")");
      }
      key_cols.push_back(static_cast<size_t>(it - labels.header.begin()));
    }
    TimestampMs coverage = kMinTimestamp;
    if (!offline_dir.empty() && !options.replay_only) {
      VIGIL_ASSIGN_OR_RETURN(coverage, OfflineChangelogCoverage(view, log, offline_dir));
    }
    // Labels by entity, each list in time order: built once per set of key columns
    // (views of one entity share it), then split at the changelog's coverage.
    auto [cached, fresh] = groups_by_keys.try_emplace(key_cols);
    LabelGroups& all = cached->second;
    if (fresh) {
      std::string key;
      for (uint32_t i = 0; i < rows.size(); ++i) {
        key.clear();
        bool empty = false;
        for (size_t k = 0; k < key_cols.size(); ++k) {
          const std::string_view cell = labels.cell(rows[i], key_cols[k]);
          empty |= cell.empty();
          if (k) key.push_back(kKeySeparator);
          key += cell;
        }
        if (!empty) all[key].push_back(i);
      }
      for (auto& [k, list] : all) {
        std::stable_sort(list.begin(), list.end(), [&](uint32_t a, uint32_t b) { return as_of[a] < as_of[b]; });
      }
    }
    // Most often every label is below the coverage, and `all` is joined as it is.
    bool split = false;
    for (const auto& [k, list] : all) split |= as_of[list.back()] >= coverage;
    LabelGroups offline_split, replay_groups;
    if (split) {
      for (const auto& [k, list] : all) {
        auto mid = std::partition_point(list.begin(), list.end(), [&](uint32_t i) { return as_of[i] < coverage; });
        if (mid != list.begin()) offline_split[k].assign(list.begin(), mid);
        if (mid != list.end()) replay_groups[k].assign(mid, list.end());
      }
    }
    const LabelGroups& offline_groups = split ? offline_split : all;
    for (const auto& [k, list] : offline_groups) stats->from_offline += static_cast<int64_t>(list.size());
    for (const auto& [k, list] : replay_groups) stats->from_replay += static_cast<int64_t>(list.size());
    auto out = [&sink, vi](uint32_t label, const Row& tuple) { sink(vi, label, tuple); };
    if (!offline_groups.empty()) {
      VIGIL_RETURN_IF_ERROR(
          JoinOffline(defs, view, offline_dir, as_of, offline_groups, options.threads, out, &stats->changelog_rows)
              .WithContext("offline changelog of " + view.name));
    }
    if (!replay_groups.empty()) {
      VIGIL_RETURN_IF_ERROR(JoinReplay(defs, view, log, offline_dir, as_of, replay_groups, options.threads,
                                       options.events_per_pass, out, &stats->events_replayed));
    }
  }
  return Status::OK();
}

Result<std::vector<std::vector<Row>>> JoinPointInTime(const Definitions& defs, Log* log,
                                                      const std::string& offline_dir, const LabelTable& labels,
                                                      const std::vector<const FeatureViewDef*>& views,
                                                      const JoinOptions& options, DatasetStats* stats) {
  std::vector<uint32_t> rows(labels.size());
  for (uint32_t i = 0; i < rows.size(); ++i) rows[i] = i;
  // values[v][label]: the view's tuple as of the label's time (empty: none).
  std::vector<std::vector<Row>> values(views.size());
  for (auto& v : values) v.assign(labels.size(), Row());
  VIGIL_RETURN_IF_ERROR(JoinPointInTime(
      defs, log, offline_dir, labels, rows, views, options,
      [&values](size_t view, uint32_t label, const Row& tuple) { values[view][label] = tuple; }, stats));
  return values;
}

Result<DatasetStats> BuildDataset(const Definitions& defs, Log* log, const std::string& offline_dir,
                                  const DatasetOptions& options) {
  auto start = std::chrono::steady_clock::now();
  DatasetStats stats;
  VIGIL_ASSIGN_OR_RETURN(LabelTable labels, ReadLabelTable(options.labels_path, options.ts_column));
  stats.labels = static_cast<int64_t>(labels.size());

  std::vector<const FeatureViewDef*> views;
  for (const auto& name : options.views) {
    const FeatureViewDef* v = defs.FindView(name);
    if (!v) return Status::InvalidArgument("unknown feature view '" + name + "'");
    views.push_back(v);
  }
  // Each view's tuple by label, as typed cells.
  const size_t n = labels.size();
  std::vector<TupleTable> values;
  values.reserve(views.size());
  for (const auto* v : views) values.emplace_back(*v, n);
  std::vector<uint32_t> rows(n);
  for (uint32_t i = 0; i < rows.size(); ++i) rows[i] = i;
  VIGIL_RETURN_IF_ERROR(JoinPointInTime(
      defs, log, offline_dir, labels, rows, views, JoinOptions{options.threads, options.replay_only},
      [&values](size_t view, uint32_t label, const Row& tuple) { values[view].Set(label, tuple); },
      &stats));
  std::vector<Row> empty_tuples;
  for (const auto* v : views) empty_tuples.push_back(ViewPlan(*v).empty_tuple());
  if (EndsWith(options.out_path, ".parquet")) {
    VIGIL_RETURN_IF_ERROR(WriteParquet(options.out_path, labels, views, values, empty_tuples, options.threads));
  } else {
    VIGIL_RETURN_IF_ERROR(WriteCsv(options.out_path, labels, views, values, empty_tuples));
  }
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

}  // namespace vigil
