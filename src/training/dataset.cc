#include "training/dataset.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "common/files.h"
#include "compute/batch_replay.h"
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

// One changelog row as the join needs it.
struct TimedTuple {
  TimestampMs ts;
  Row values;
};

// Sets (*out)[label] for every label of `groups` from the offline changelog of `view`:
// rows of the labelled entities are gathered in shards by entity, then each shard's
// entities are sorted by time and merged with their labels.
Status JoinOffline(const Definitions& defs, const FeatureViewDef& view, const std::string& offline_dir,
                   const std::vector<TimestampMs>& as_of, const LabelGroups& groups, int threads,
                   const std::function<void(uint32_t, const Row&)>& out, int64_t* rows_read) {
  TimestampMs max_as_of = kMinTimestamp;
  for (const auto& [key, list] : groups) max_as_of = std::max(max_as_of, as_of[list.back()]);
  const size_t nk = view.key_indexes.size(), nf = view.features.size();
  constexpr size_t kShards = 64;
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, std::vector<TimedTuple>> rows;
  };
  std::vector<Shard> shards(kShards);
  std::hash<std::string> hasher;
  std::atomic<int64_t> read{0};
  VIGIL_RETURN_IF_ERROR(ScanViewChangelog(
      defs, view, offline_dir, threads, max_as_of,
      [&](parquet::ColumnBatch&& batch, TimestampMs skip_from, TimestampMs skip_to) {
        const auto& ts = batch.columns[nk].ints;
        std::string key;
        std::vector<std::pair<size_t, std::pair<std::string, TimedTuple>>> local;
        for (size_t r = 0; r < batch.columns[0].size(); ++r) {
          if (ts[r] > max_as_of || (ts[r] >= skip_from && ts[r] < skip_to)) continue;
          OfflineEntityKey(batch, nk, r, &key);
          if (!groups.count(key)) continue;
          TimedTuple t{ts[r], Row(nf)};
          for (size_t f = 0; f < nf; ++f) t.values[f] = batch.columns[nk + 1 + f].Get(r);
          local.emplace_back(hasher(key) % kShards, std::make_pair(key, std::move(t)));
        }
        read += static_cast<int64_t>(batch.rows());
        std::sort(local.begin(), local.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
        for (size_t i = 0; i < local.size();) {
          Shard& s = shards[local[i].first];
          std::lock_guard l(s.mu);
          size_t shard = local[i].first;
          for (; i < local.size() && local[i].first == shard; ++i) {
            s.rows[local[i].second.first].push_back(std::move(local[i].second.second));
          }
        }
        return Status::OK();
      }));
  *rows_read += read.load();
  Parallel(threads, [&](size_t begin, size_t step) {
    for (size_t s = begin; s < kShards; s += step) {
      for (auto& [key, rows] : shards[s].rows) {
        std::sort(rows.begin(), rows.end(), [](const TimedTuple& a, const TimedTuple& b) { return a.ts < b.ts; });
        // A row's identity is (entity, ts): the same row ingested twice is kept once.
        rows.erase(std::unique(rows.begin(), rows.end(),
                               [](const TimedTuple& a, const TimedTuple& b) { return a.ts == b.ts; }),
                   rows.end());
        const auto& list = groups.at(key);
        size_t r = 0;
        for (uint32_t li : list) {
          while (r < rows.size() && rows[r].ts <= as_of[li]) ++r;
          if (r > 0) out(li, rows[r - 1].values);
        }
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
      VIGIL_RETURN_IF_ERROR(ScanSourceHistory(source, log, offline_dir, keep, &counts));
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
                const std::vector<std::vector<Row>>& values, const std::vector<Row>& empty) {
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
  for (size_t i = 0; i < labels.rows.size(); ++i) {
    for (size_t c = 0; c < labels.rows[i].size(); ++c) {
      if (c) out.push_back(',');
      AppendCsvCell(labels.rows[i][c], &out);
    }
    for (size_t vi = 0; vi < views.size(); ++vi) {
      const Row& row = values[vi][i].empty() ? empty[vi] : values[vi][i];
      for (const Value& v : row) {
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
                    const std::vector<std::vector<Row>>& values, const std::vector<Row>& empty) {
  Schema schema;
  for (const auto& h : labels.header) schema.Add({h, Type::kString});
  for (const auto* v : views) {
    for (const auto& f : v->features) schema.Add({v->name + "__" + f.name, f.output_type});
  }
  VIGIL_ASSIGN_OR_RETURN(auto w, parquet::Writer::Create(path, schema));
  parquet::ColumnBatch batch = parquet::ColumnBatch::Empty(schema);
  Row row;
  for (size_t i = 0; i < labels.rows.size(); ++i) {
    row.clear();
    for (const auto& cell : labels.rows[i]) row.push_back(Value::String(cell));
    for (size_t vi = 0; vi < views.size(); ++vi) {
      const Row& r = values[vi][i].empty() ? empty[vi] : values[vi][i];
      row.insert(row.end(), r.begin(), r.end());
    }
    batch.AppendRow(row);
    if (batch.rows() >= 65536) {
      VIGIL_RETURN_IF_ERROR(w->Write(batch));
      batch = parquet::ColumnBatch::Empty(schema);
    }
  }
  VIGIL_RETURN_IF_ERROR(w->Write(batch));
  return w->Close();
}

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

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
  std::vector<std::vector<std::string>> all_rows;
  std::vector<int> lines;  // CSV line of each row, for messages
  if (EndsWith(path, ".parquet")) {
    VIGIL_ASSIGN_OR_RETURN(parquet::ColumnBatch batch, parquet::ReadFile(path));
    for (size_t c = 0; c < batch.schema.size(); ++c) all_header.push_back(batch.schema.field(c).name);
    all_rows.resize(static_cast<size_t>(batch.rows()));
    for (size_t r = 0; r < static_cast<size_t>(batch.rows()); ++r) {
      all_rows[r].reserve(all_header.size());
      for (size_t c = 0; c < all_header.size(); ++c) {
        Value v = batch.columns[c].Get(r);
        all_rows[r].push_back(v.type() == Type::kString ? v.str() : v.ToCsvText());
      }
    }
  } else {
    VIGIL_ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path));
    CsvReader csv(text);
    VIGIL_ASSIGN_OR_RETURN(bool has_header, csv.Next(&all_header));
    if (!has_header) return Status::InvalidArgument(path + ": empty label file (want a header row)");
    std::vector<std::string> cells;
    for (;;) {
      auto more = csv.Next(&cells);
      if (!more.ok()) return more.status().WithContext(path);
      if (!*more) break;
      if (cells.size() != all_header.size()) {
        return Status::InvalidArgument(path + ":" + std::to_string(csv.line()) + ": " +
                                       std::to_string(cells.size()) + " cells, header has " +
                                       std::to_string(all_header.size()));
      }
      all_rows.push_back(cells);
      lines.push_back(csv.line());
    }
  }
  // Keep the asked columns only.
  std::vector<size_t> keep;
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
    return Status::InvalidArgument(path + ":1: no column '" + ts_column + "' (choose one with --ts-column)");
  }
  const size_t ts_idx = static_cast<size_t>(ts_it - all_header.begin());
  for (size_t c : keep) labels.header.push_back(all_header[c]);
  labels.rows.reserve(all_rows.size());
  labels.ts.reserve(all_rows.size());
  for (size_t r = 0; r < all_rows.size(); ++r) {
    auto t = ParseTimestamp(all_rows[r][ts_idx]);
    if (!t.ok()) {
      std::string where = path + (lines.empty() ? " row " + std::to_string(r + 1) : ":" + std::to_string(lines[r]));
      return t.status().WithContext(where + ": column " + ts_column);
    }
    labels.ts.push_back(*t);
    if (columns.empty()) {
      labels.rows.push_back(std::move(all_rows[r]));
    } else {
      std::vector<std::string> row;
      row.reserve(keep.size());
      for (size_t c : keep) row.push_back(std::move(all_rows[r][c]));
      labels.rows.push_back(std::move(row));
    }
  }
  return labels;
}

Status JoinPointInTime(const Definitions& defs, Log* log, const std::string& offline_dir, const LabelTable& labels,
                       std::span<const uint32_t> rows, const std::vector<const FeatureViewDef*>& views,
                       const JoinOptions& options, const TupleSink& sink, DatasetStats* stats) {
  std::vector<TimestampMs> as_of(rows.size());
  for (size_t i = 0; i < as_of.size(); ++i) as_of[i] = labels.ts[rows[i]] - 1;
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
    // Labels by entity, split at the changelog's coverage; each list in time order.
    LabelGroups offline_groups, replay_groups;
    std::string key;
    for (uint32_t i = 0; i < rows.size(); ++i) {
      key.clear();
      bool empty = false;
      for (size_t k = 0; k < key_cols.size(); ++k) {
        const std::string& cell = labels.rows[rows[i]][key_cols[k]];
        empty |= cell.empty();
        if (k) key.push_back(kKeySeparator);
        key += cell;
      }
      if (empty) continue;
      (as_of[i] < coverage ? offline_groups : replay_groups)[key].push_back(i);
    }
    for (LabelGroups* g : {&offline_groups, &replay_groups}) {
      for (auto& [k, list] : *g) {
        std::stable_sort(list.begin(), list.end(), [&](uint32_t a, uint32_t b) { return as_of[a] < as_of[b]; });
        (g == &offline_groups ? stats->from_offline : stats->from_replay) += static_cast<int64_t>(list.size());
      }
    }
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
  std::vector<uint32_t> rows(labels.rows.size());
  for (uint32_t i = 0; i < rows.size(); ++i) rows[i] = i;
  // values[v][label]: the view's tuple as of the label's time (empty: none).
  std::vector<std::vector<Row>> values(views.size());
  for (auto& v : values) v.assign(labels.rows.size(), Row());
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
  stats.labels = static_cast<int64_t>(labels.rows.size());

  std::vector<const FeatureViewDef*> views;
  for (const auto& name : options.views) {
    const FeatureViewDef* v = defs.FindView(name);
    if (!v) return Status::InvalidArgument("unknown feature view '" + name + "'");
    views.push_back(v);
  }
  VIGIL_ASSIGN_OR_RETURN(auto values, JoinPointInTime(defs, log, offline_dir, labels, views,
                                                      JoinOptions{options.threads, options.replay_only}, &stats));
  std::vector<Row> empty_tuples;
  for (const auto* v : views) empty_tuples.push_back(ViewPlan(*v).empty_tuple());
  if (EndsWith(options.out_path, ".parquet")) {
    VIGIL_RETURN_IF_ERROR(WriteParquet(options.out_path, labels, views, values, empty_tuples));
  } else {
    VIGIL_RETURN_IF_ERROR(WriteCsv(options.out_path, labels, views, values, empty_tuples));
  }
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

}  // namespace vigil
