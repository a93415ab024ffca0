#include "training/dataset.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <unordered_map>

#include "compute/batch_replay.h"
#include "compute/entity_window.h"
#include "schema/csv.h"

namespace vigil {
namespace {

Result<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IOError("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Labels {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<TimestampMs> as_of;  // t - 1 ms
};

Result<Labels> ReadLabels(const std::string& path, const std::string& ts_column) {
  VIGIL_ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path));
  CsvReader csv(text);
  Labels labels;
  VIGIL_ASSIGN_OR_RETURN(bool has_header, csv.Next(&labels.header));
  if (!has_header) return Status::InvalidArgument(path + ": empty label file (want a header row)");
  auto ts_it = std::find(labels.header.begin(), labels.header.end(), ts_column);
  if (ts_it == labels.header.end()) {
    return Status::InvalidArgument(path + ":1: no column '" + ts_column + "' (choose one with --ts-column)");
  }
  size_t ts_idx = static_cast<size_t>(ts_it - labels.header.begin());
  std::vector<std::string> cells;
  for (;;) {
    auto more = csv.Next(&cells);
    if (!more.ok()) return more.status().WithContext(path);
    if (!*more) break;
    std::string where = path + ":" + std::to_string(csv.line());
    if (cells.size() != labels.header.size()) {
      return Status::InvalidArgument(where + ": " + std::to_string(cells.size()) + " cells, header has " +
                                     std::to_string(labels.header.size()));
    }
    auto t = ParseTimestamp(cells[ts_idx]);
    if (!t.ok()) return t.status().WithContext(where + ": column " + ts_column);
    labels.as_of.push_back(*t - 1);
    labels.rows.push_back(cells);
  }
  return labels;
}

}  // namespace

Result<DatasetStats> BuildDataset(const Definitions& defs, Log* log, const DatasetOptions& options,
                                  Log* archive) {
  auto start = std::chrono::steady_clock::now();
  DatasetStats stats;
  VIGIL_ASSIGN_OR_RETURN(Labels labels, ReadLabels(options.labels_path, options.ts_column));
  stats.labels = static_cast<int64_t>(labels.rows.size());

  std::vector<const FeatureViewDef*> views;
  for (const auto& name : options.views) {
    const FeatureViewDef* v = defs.FindView(name);
    if (!v) return Status::InvalidArgument("unknown feature view '" + name + "'");
    views.push_back(v);
  }

  // values[v][label] = the view's tuple as of the label's time (empty tuple if none).
  std::vector<std::vector<const Row*>> values(views.size());
  std::vector<std::vector<std::vector<ChangelogRow>>> kept(views.size());  // owns the rows
  std::vector<Row> empty_tuples(views.size());
  std::map<std::string, SourceHistory> histories;
  for (size_t vi = 0; vi < views.size(); ++vi) {
    const FeatureViewDef& view = *views[vi];
    const EntityDef& entity = *defs.FindEntity(view.entity);
    std::vector<size_t> key_cols;
    for (const auto& k : entity.keys) {
      auto it = std::find(labels.header.begin(), labels.header.end(), k);
      if (it == labels.header.end()) {
        return Status::InvalidArgument(options.labels_path + ":1: no column '" + k +
                                       "' for the key of entity '" + entity.name + "' (view " + view.name +
                                       ")");
      }
      key_cols.push_back(static_cast<size_t>(it - labels.header.begin()));
    }
    // Labels by entity, each list in time order.
    std::unordered_map<std::string, std::vector<uint32_t>> by_entity;
    for (uint32_t i = 0; i < labels.rows.size(); ++i) {
      std::string key;
      bool empty = false;
      for (size_t k = 0; k < key_cols.size(); ++k) {
        const std::string& cell = labels.rows[i][key_cols[k]];
        empty |= cell.empty();
        if (k) key.push_back(kKeySeparator);
        key += cell;
      }
      if (!empty) by_entity[key].push_back(i);
    }
    for (auto& [key, list] : by_entity) {
      std::stable_sort(list.begin(), list.end(),
                       [&](uint32_t a, uint32_t b) { return labels.as_of[a] < labels.as_of[b]; });
    }
    const SourceDef& source = *defs.FindSource(view.source);
    auto hit = histories.find(source.name);
    if (hit == histories.end()) {
      VIGIL_ASSIGN_OR_RETURN(SourceHistory h, ReadSourceHistory(source, log, archive));
      stats.events_replayed += static_cast<int64_t>(h.events.size());
      hit = histories.emplace(source.name, std::move(h)).first;
    }
    empty_tuples[vi] = ViewPlan(view).empty_tuple();
    values[vi].assign(labels.rows.size(), &empty_tuples[vi]);
    // Rows are kept per entity that has labels; others are dropped as soon as computed.
    std::vector<std::vector<ChangelogRow>>& store = kept[vi];
    std::vector<std::pair<const std::vector<uint32_t>*, size_t>> slots;
    std::mutex mu;
    ReplayView(view, hit->second, kMaxTimestamp, options.threads,
               [&](const std::string& key, std::vector<ChangelogRow>&& rows) {
                 auto it = by_entity.find(key);
                 if (it == by_entity.end() || rows.empty()) return;
                 std::lock_guard lock(mu);
                 slots.emplace_back(&it->second, store.size());
                 store.push_back(std::move(rows));
               });
    // As-of merge: rows and labels are both in time order per entity.
    for (auto& [list, slot] : slots) {
      const auto& rows = store[slot];
      size_t r = 0;
      for (uint32_t li : *list) {
        while (r < rows.size() && rows[r].ts <= labels.as_of[li]) ++r;
        if (r > 0) values[vi][li] = &rows[r - 1].values;
      }
    }
  }

  std::string out;
  out.reserve(labels.rows.size() * 64);
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
  std::ofstream file(options.out_path, std::ios::binary | std::ios::trunc);
  if (!file) return Status::IOError("cannot write " + options.out_path);
  for (size_t i = 0; i < labels.rows.size(); ++i) {
    for (size_t c = 0; c < labels.rows[i].size(); ++c) {
      if (c) out.push_back(',');
      AppendCsvCell(labels.rows[i][c], &out);
    }
    for (size_t vi = 0; vi < views.size(); ++vi) {
      for (const Value& v : *values[vi][i]) {
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
  if (!file.flush()) return Status::IOError("write " + options.out_path);
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

}  // namespace vigil
