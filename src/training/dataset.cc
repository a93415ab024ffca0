#include "training/dataset.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>
#include <utility>

#include "common/files.h"
#include "compute/batch_replay.h"
#include "compute/entity_index.h"
#include "compute/entity_window.h"
#include "schema/csv.h"
#include "schema/parquet.h"
#include "store/archive.h"
#include "store/offline_store.h"
#include "training/label_join_internal.h"

namespace vigil {
namespace {

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

// Sets into's tuple of every label of `groups` that has one from the offline changelog of
// `view`, in one pass over it and without sorting it. Each labelled entity's labels are
// in as_of order, each at its own position (LabelGroups). A changelog row at ts is a
// candidate for every label of its entity with as_of >= ts; it is offered to the first of
// them only (a binary search), whose tuple keeps the latest row offered. The answer of a
// label is then the latest row among its own and those of the entity's earlier labels: a
// running maximum along the list, which copies the latest tuple forward. So memory is
// the labels' tuples (typed cells, not Values), whatever the changelog's length, and a
// row's cost is a key lookup and a binary search; a batch then copies, for each label it
// offered rows to, its latest one if that is later than what the label holds.
//
//   labels of e at as_of 10, 20, 30; rows of e at 5, 12, 15, 40 (in any order)
//   -> label 10 <- 5; label 20 <- 12 then 15; 40 is past every label
//   -> label 10: row 5, label 20: row 15, label 30: row 15 (copied: no row in (20, 30])
Status JoinOffline(const Definitions& defs, const FeatureViewDef& view, const std::string& offline_dir,
                   std::span<const TimestampMs> as_of, const LabelGroups& groups, int threads,
                   TupleTable* into, int64_t* rows_read) {
  const size_t positions = groups.positions();
  // By position: its label's as_of (what the search reads), and the ts of the row its
  // tuple holds (kMinTimestamp: none offered).
  std::vector<TimestampMs> at_as_of(positions);
  std::vector<TimestampMs> at_ts(positions, kMinTimestamp);
  TimestampMs max_as_of = kMinTimestamp;
  for (size_t p = 0; p < positions; ++p) {
    at_as_of[p] = as_of[groups.label_at(p)];
    max_as_of = std::max(max_as_of, at_as_of[p]);
  }
  const size_t nk = view.key_indexes.size();
  // Position p (its ts and its label's tuple) is guarded by stripes[p % kStripes].
  constexpr size_t kStripes = 256;
  std::vector<std::mutex> stripes(kStripes);
  // A batch's pass keeps its latest row for each position it offers to, then offers only
  // those: rows arrive mostly in time order, so each would otherwise be the latest so far
  // and be copied. One per scanning thread at a time, reused from batch to batch.
  constexpr uint32_t kNoRow = UINT32_MAX;
  struct BatchLatest {
    std::vector<uint32_t> row;      // by position: the batch's latest row for it, or kNoRow
    std::vector<uint32_t> offered;  // the positions with a row
  };
  std::mutex pool_mu;
  std::vector<std::unique_ptr<BatchLatest>> pool;
  std::atomic<int64_t> read{0};
  VIGIL_RETURN_IF_ERROR(ScanViewChangelog(
      defs, view, offline_dir, threads, max_as_of,
      [&](parquet::ColumnBatch&& batch, TimestampMs skip_from, TimestampMs skip_to) {
        std::unique_ptr<BatchLatest> latest;
        {
          std::lock_guard l(pool_mu);
          if (!pool.empty()) {
            latest = std::move(pool.back());
            pool.pop_back();
          }
        }
        if (!latest) {
          latest = std::make_unique<BatchLatest>();
          latest->row.assign(positions, kNoRow);
        }
        const auto& ts = batch.columns[nk].ints;
        const parquet::Column& key_col = batch.columns[0];
        const bool plain_key = nk == 1 && key_col.type == Type::kString;
        // A dictionary-encoded key column: each distinct key is looked up at its first
        // row, and its other rows find its entity by their code.
        constexpr uint32_t kUnresolved = EntityIndex::kNone - 1;
        const bool by_code = plain_key && key_col.codes.size() == key_col.size();
        std::vector<uint32_t> entity_of_code(by_code ? key_col.dictionary_entries : 0, kUnresolved);
        std::string key;
        // A PLAIN key column (a dictionary past the writer's limit: many entities) is
        // looked up a block of rows at a time: the block's hashes first, each asking for
        // its index entry, then for the entities found there, their key and label
        // positions, so that the rows' lookups find them in the cache rather than wait
        // for each in turn.
        constexpr size_t kBlock = 16;
        uint64_t hashes[kBlock];
        uint32_t peeked[kBlock];  // the entity at each row's index entry, if it matched
        const bool ahead = plain_key && !by_code;
        for (size_t r = 0; r < key_col.size(); ++r) {
          if (ahead && r % kBlock == 0) {
            const size_t n = std::min(kBlock, key_col.size() - r);
            for (size_t i = 0; i < n; ++i) {
              hashes[i] = key_col.is_null(r + i) ? 0 : EntityIndex::Hash(key_col.str(r + i));
              groups.PrefetchIndex(hashes[i]);
            }
            for (size_t i = 0; i < n; ++i) {
              peeked[i] = groups.Peek(hashes[i]);
              if (peeked[i] != EntityIndex::kNone) groups.PrefetchEntity(peeked[i]);
            }
            for (size_t i = 0; i < n; ++i) {
              if (peeked[i] == EntityIndex::kNone) continue;
              groups.PrefetchKey(peeked[i]);
              __builtin_prefetch(at_as_of.data() + groups.first(peeked[i]));
            }
          }
          const TimestampMs t = ts[r];
          if (t > max_as_of || (t >= skip_from && t < skip_to)) continue;
          if (plain_key && key_col.is_null(r)) continue;
          uint32_t e;
          if (by_code) {
            uint32_t& known = entity_of_code[key_col.codes[r]];
            if (known == kUnresolved) known = groups.Find(key_col.str(r), EntityIndex::Hash(key_col.str(r)));
            e = known;
          } else if (plain_key) {
            e = groups.Find(key_col.str(r), hashes[r % kBlock]);
          } else {
            OfflineEntityKey(batch, nk, r, &key);
            e = groups.Find(key, EntityIndex::Hash(key));
          }
          if (e == EntityIndex::kNone) continue;
          const TimestampMs* begin = at_as_of.data() + groups.first(e);
          const TimestampMs* end = begin + groups.labels(e).size();
          const TimestampMs* first = std::lower_bound(begin, end, t);
          if (first == end) continue;  // after every label of the entity
          const size_t p = static_cast<size_t>(first - at_as_of.data());
          uint32_t& row = latest->row[p];
          if (row == kNoRow) {
            row = static_cast<uint32_t>(r);
            latest->offered.push_back(static_cast<uint32_t>(p));
          } else if (t > ts[row]) {
            row = static_cast<uint32_t>(r);
          }
        }
        for (uint32_t p : latest->offered) {
          const uint32_t r = std::exchange(latest->row[p], kNoRow);
          const TimestampMs t = ts[r];
          std::lock_guard l(stripes[p % kStripes]);
          // Later rows win; a row's identity is (entity, ts), so the same row ingested
          // twice is offered twice and kept once.
          if (t <= at_ts[p]) continue;
          at_ts[p] = t;
          into->SetFrom(groups.label_at(p), batch, nk + 1, r);
        }
        latest->offered.clear();
        {
          std::lock_guard l(pool_mu);
          pool.push_back(std::move(latest));
        }
        read += static_cast<int64_t>(batch.rows());
        return Status::OK();
      }));
  *rows_read += read.load();
  Parallel(threads, [&](size_t begin, size_t step) {
    for (size_t e = begin; e < groups.entities(); e += step) {
      // A row sits at the first label at or after it, so a later label's row is later
      // than every earlier label's: the latest so far is the last label offered one.
      uint32_t latest = EntityIndex::kNone;
      for (size_t p = groups.first(e), end = p + groups.labels(e).size(); p < end; ++p) {
        if (at_ts[p] != kMinTimestamp) {
          latest = groups.label_at(p);
        } else if (latest != EntityIndex::kNone) {
          into->CopyTuple(groups.label_at(p), latest);
        }
      }
    }
  });
  return Status::OK();
}

// Sets into's tuple of every label of `groups` that has one by replaying the source
// history of their entities. The history is streamed and only the labelled entities'
// events are kept, compactly (compute/batch_replay.h CompactHistory). When the source
// topic holds more than events_per_pass records, the entities are split into shards by
// key hash and each pass over the source keeps and replays one shard (an entity's
// changelog depends on its own events only).
Status JoinReplay(const Definitions& defs, const FeatureViewDef& view, Log* log,
                  const std::string& offline_dir, std::span<const TimestampMs> as_of,
                  const LabelGroups& groups, int threads, int64_t events_per_pass, TupleTable* into,
                  int64_t* replayed) {
  const SourceDef& source = *defs.FindSource(view.source);
  // Records archived and live: each partition's end offset (the archive holds the
  // offsets below the live log's start).
  int64_t records = 0;
  if (auto ends = log->EndOffsets(source.name); ends.ok()) {
    for (int64_t e : *ends) records += e;
  }
  const int64_t per_pass = std::max<int64_t>(1, events_per_pass);
  const size_t passes = static_cast<size_t>(std::max<int64_t>(1, (records + per_pass - 1) / per_pass));
  // The labelled entities' keys (CompactHistory names an entity by its index there), and
  // each one's pass.
  std::vector<std::string> keys(groups.entities());
  for (size_t e = 0; e < keys.size(); ++e) keys[e] = groups.key(e);
  std::vector<uint32_t> pass_of(keys.size(), 0);
  if (passes > 1) {
    std::hash<std::string> hasher;
    for (size_t e = 0; e < keys.size(); ++e) pass_of[e] = static_cast<uint32_t>(hasher(keys[e]) % passes);
  }
  const std::vector<int> view_fields = ViewInputFields(view);
  for (size_t pass = 0; pass < passes; ++pass) {
    CompactHistory kept(view, source, keys);
    SourceHistory counts;  // late and rejected counts, watermark: not needed here
    std::string key;
    auto keep = [&](Event&& ev, uint64_t seq) {
      const std::string_view k = EntityKeyView(ev.fields, view.key_indexes, &key);
      const uint32_t e = groups.Find(k, EntityIndex::Hash(k));
      if (e != EntityIndex::kNone && pass_of[e] == pass) kept.Add(e, ev, seq);
      return Status::OK();
    };
    if (offline_dir.empty()) {
      VIGIL_RETURN_IF_ERROR(ScanSourceHistory(source, log, keep, &counts));
    } else {
      VIGIL_RETURN_IF_ERROR(ScanSourceHistory(source, log, offline_dir, keep, &counts, &view_fields));
    }
    *replayed += kept.events();
    ReplayView(view, kept, kMaxTimestamp, threads,
               [&](const std::string& k, std::vector<ChangelogRow>&& rows) {
                 const uint32_t e = groups.Find(k, EntityIndex::Hash(k));
                 if (e == EntityIndex::kNone || rows.empty()) return;
                 size_t r = 0;
                 for (uint32_t li : groups.labels(e)) {
                   while (r < rows.size() && rows[r].ts <= as_of[li]) ++r;
                   if (r > 0) into->Set(li, rows[r - 1].values);
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
        values[vi].AppendColumn(begin, end, f, empty[vi][f], &col);
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

void LabelTable::AddRow(std::span<const std::string_view> cells, std::span<const size_t> keep,
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
  auto add = [&](std::span<const std::string_view> cells, const auto& where) -> Status {
    auto t = ParseTimestamp(cells[ts_idx]);
    if (!t.ok()) return t.status().WithContext(where() + ": column " + ts_column);
    labels.AddRow(cells, keep, *t);
    return Status::OK();
  };
  if (EndsWith(path, ".parquet")) {
    std::vector<std::string> cells;
    std::vector<std::string_view> views;
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
      views.assign(cells.begin(), cells.end());
      VIGIL_RETURN_IF_ERROR(add(views, [&] { return path + " row " + std::to_string(r + 1); }));
    }
  } else {
    VIGIL_ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path));
    CsvReader csv(text);
    std::vector<std::string_view> cells;  // views into the text
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

namespace {

// One point-in-time join of a label table's rows, a view at a time: each view's tuples
// go into a TupleTable indexed as `rows`. The labels' as_of times and their groups by
// entity (one per set of key columns: views of one entity share it) are made once.
class PointInTimeJoin {
 public:
  PointInTimeJoin(const Definitions& defs, Log* log, const std::string& offline_dir, const LabelTable& labels,
                  std::span<const uint32_t> rows, const JoinOptions& options)
      : defs_(defs),
        log_(log),
        offline_dir_(offline_dir),
        labels_(labels),
        rows_(rows),
        options_(options),
        as_of_(rows.size()) {
    for (size_t i = 0; i < as_of_.size(); ++i) as_of_[i] = labels.ts[rows[i]] - 1;
  }

  // Sets into's tuple i for every row i that has one as of its time. REQUIRES: into is
  // of `view`, with rows.size() tuples, none set.
  Status Join(const FeatureViewDef& view, TupleTable* into, DatasetStats* stats) {
    const EntityDef& entity = *defs_.FindEntity(view.entity);
    std::vector<size_t> key_cols;
    for (const auto& k : entity.keys) {
      auto it = std::find(labels_.header.begin(), labels_.header.end(), k);
      if (it == labels_.header.end()) {
        return Status::InvalidArgument(labels_.path + ":1: no column '" + k + "' for the key of entity '" +
                                       entity.name + "' (view " + view.name + ")");
      }
      key_cols.push_back(static_cast<size_t>(it - labels_.header.begin()));
    }
    TimestampMs coverage = kMinTimestamp;
    if (!offline_dir_.empty() && !options_.replay_only) {
      VIGIL_ASSIGN_OR_RETURN(coverage, OfflineChangelogCoverage(view, log_, offline_dir_));
    }
    auto [cached, fresh] = groups_by_keys_.try_emplace(key_cols);
    LabelGroups& all = cached->second;
    if (fresh) all = LabelGroups::Build(labels_, rows_, key_cols, as_of_);
    // Most often every label is below the coverage, and `all` is joined as it is.
    bool split = false;
    for (size_t e = 0; e < all.entities() && !split; ++e) split = as_of_[all.labels(e).back()] >= coverage;
    LabelGroups offline_split, replay_groups;
    if (split) all.Split(as_of_, coverage, &offline_split, &replay_groups);
    const LabelGroups& offline_groups = split ? offline_split : all;
    stats->from_offline += static_cast<int64_t>(offline_groups.positions());
    stats->from_replay += static_cast<int64_t>(replay_groups.positions());
    if (offline_groups.entities() > 0) {
      VIGIL_RETURN_IF_ERROR(JoinOffline(defs_, view, offline_dir_, as_of_, offline_groups, options_.threads,
                                        into, &stats->changelog_rows)
                                .WithContext("offline changelog of " + view.name));
    }
    if (replay_groups.entities() > 0) {
      VIGIL_RETURN_IF_ERROR(JoinReplay(defs_, view, log_, offline_dir_, as_of_, replay_groups,
                                       options_.threads, options_.events_per_pass, into,
                                       &stats->events_replayed));
    }
    return Status::OK();
  }

 private:
  const Definitions& defs_;
  Log* log_;
  const std::string& offline_dir_;
  const LabelTable& labels_;
  std::span<const uint32_t> rows_;
  const JoinOptions& options_;
  std::vector<TimestampMs> as_of_;  // by row i: labels.ts[rows[i]] - 1
  std::map<std::vector<size_t>, LabelGroups> groups_by_keys_;
};

}  // namespace

Status JoinPointInTime(const Definitions& defs, Log* log, const std::string& offline_dir,
                       const LabelTable& labels, std::span<const uint32_t> rows,
                       const std::vector<const FeatureViewDef*>& views, const JoinOptions& options,
                       const TupleSink& sink, DatasetStats* stats) {
  PointInTimeJoin join(defs, log, offline_dir, labels, rows, options);
  for (size_t vi = 0; vi < views.size(); ++vi) {
    TupleTable tuples(*views[vi], rows.size());
    VIGIL_RETURN_IF_ERROR(join.Join(*views[vi], &tuples, stats));
    Parallel(options.threads, [&](size_t begin, size_t step) {
      for (size_t i = begin; i < rows.size(); i += step) {
        if (tuples.has(i)) sink(vi, static_cast<uint32_t>(i), tuples.GetRow(i));
      }
    });
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
  const JoinOptions join_options{options.threads, options.replay_only};
  PointInTimeJoin join(defs, log, offline_dir, labels, rows, join_options);
  for (size_t vi = 0; vi < views.size(); ++vi)
    VIGIL_RETURN_IF_ERROR(join.Join(*views[vi], &values[vi], &stats));
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
