#include "store/offline_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <tuple>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "common/files.h"
#include "compute/stream_worker.h"
#include "store/backfill.h"

namespace vigil {

namespace fs = std::filesystem;

namespace {

constexpr char kRangesKey[] = "vigil.ranges";

std::string RangesText(const std::vector<std::tuple<int, int64_t, int64_t>>& ranges) {
  std::string out;
  for (const auto& [p, first, end] : ranges) {
    if (!out.empty()) out.push_back(',');
    out += std::to_string(p) + ":" + std::to_string(first) + "-" + std::to_string(end);
  }
  return out;
}

bool ParseRanges(std::string_view text, std::vector<std::tuple<int, int64_t, int64_t>>* out) {
  out->clear();
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    size_t colon = item.find(':'), dash = item.find('-');
    if (colon == std::string_view::npos || dash == std::string_view::npos || dash < colon) return false;
    int p = 0;
    int64_t first = 0, end = 0;
    if (std::from_chars(item.data(), item.data() + colon, p).ec != std::errc() ||
        std::from_chars(item.data() + colon + 1, item.data() + dash, first).ec != std::errc() ||
        std::from_chars(item.data() + dash + 1, item.data() + item.size(), end).ec != std::errc()) {
      return false;
    }
    out->emplace_back(p, first, end);
  }
  return true;
}

// "part-<p>-<first>-<end>.parquet" -> its range.
bool ParsePartName(const std::string& name, int* p, int64_t* first, int64_t* end) {
  if (name.rfind("part-", 0) != 0 || name.size() < 13 || name.substr(name.size() - 8) != ".parquet") return false;
  std::string_view body(name.data() + 5, name.size() - 5 - 8);
  size_t d1 = body.find('-');
  if (d1 == std::string_view::npos) return false;
  size_t d2 = body.find('-', d1 + 1);
  if (d2 == std::string_view::npos) return false;
  return std::from_chars(body.data(), body.data() + d1, *p).ec == std::errc() &&
         std::from_chars(body.data() + d1 + 1, body.data() + d2, *first).ec == std::errc() &&
         std::from_chars(body.data() + d2 + 1, body.data() + body.size(), *end).ec == std::errc();
}

std::string PartName(int p, int64_t first, int64_t end) {
  return "part-" + std::to_string(p) + "-" + std::to_string(first) + "-" + std::to_string(end) + ".parquet";
}

Status EnsureDir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError("create " + dir + ": " + ec.message());
  return Status::OK();
}

// Parses an entity key part back into its field's type (EncodeEntityKey's text form).
Value KeyPartValue(std::string_view text, Type type) {
  switch (type) {
    case Type::kString:
      return Value::String(std::string(text));
    case Type::kInt64:
    case Type::kTimestamp: {
      int64_t v = 0;
      if (std::from_chars(text.data(), text.data() + text.size(), v).ec != std::errc())
        return Value::String(std::string(text));
      return type == Type::kInt64 ? Value::Int64(v) : Value::Timestamp(v);
    }
    case Type::kBool:
      return Value::Bool(text == "true");
    case Type::kDouble: {
      double d = 0;
      if (std::from_chars(text.data(), text.data() + text.size(), d).ec != std::errc()) return Value::Null();
      return Value::Double(d);
    }
    default:
      return Value::Null();
  }
}

}  // namespace

std::string OfflineEventsDir(const std::string& offline_dir, const std::string& source) {
  return (fs::path(offline_dir) / "events" / source).string();
}
std::string OfflineDeadLettersDir(const std::string& offline_dir, const std::string& source) {
  return (fs::path(offline_dir) / "dead_letters" / source).string();
}
std::string OfflineFeaturesDir(const std::string& offline_dir, const FeatureViewDef& view) {
  return (fs::path(offline_dir) / "features" / view.name / ("version=" + std::to_string(view.version))).string();
}

Schema ArchivedEventSchema(const SourceDef& source) {
  Schema s;
  s.Add({"ts", Type::kTimestamp});
  for (const auto& f : source.schema.fields()) s.Add(f);
  s.Add({"_partition", Type::kInt64});
  s.Add({"_offset", Type::kInt64});
  s.Add({"_append_time", Type::kTimestamp});
  s.Add({"_late", Type::kBool});
  return s;
}

Schema DeadLetterSchema() {
  return Schema({{"key", Type::kString},
                 {"payload", Type::kString},
                 {"_partition", Type::kInt64},
                 {"_offset", Type::kInt64},
                 {"_append_time", Type::kTimestamp}});
}

Schema OfflineChangelogSchema(const Definitions& defs, const FeatureViewDef& view) {
  const SourceDef& source = *defs.FindSource(view.source);
  Schema s;
  for (int k : view.key_indexes) s.Add(source.schema.field(static_cast<size_t>(k)));
  s.Add({"ts", Type::kTimestamp});
  for (const auto& f : view.features) s.Add({f.name, f.output_type});
  s.Add({"_partition", Type::kInt64});
  s.Add({"_offset", Type::kInt64});
  return s;
}

namespace {

// Calls fn(k, part) for each of the first n parts of an encoded entity key, part nullptr
// where the key has fewer (a missing part is null); parts past n are ignored.
template <typename Fn>
void ForEachKeyPart(std::string_view entity, size_t n, const Fn& fn) {
  bool more = true;
  for (size_t k = 0; k < n; ++k) {
    if (!more) {
      fn(k, nullptr);
      continue;
    }
    const size_t pos = entity.find(kKeySeparator);
    const std::string_view part = entity.substr(0, pos);
    if (pos == std::string_view::npos) {
      more = false;
    } else {
      entity.remove_prefix(pos + 1);
    }
    fn(k, &part);
  }
}

}  // namespace

Row OfflineChangelogRow(const Definitions& defs, const FeatureViewDef& view, const ChangelogRow& row, int partition,
                        int64_t offset) {
  const SourceDef& source = *defs.FindSource(view.source);
  Row out;
  out.reserve(view.key_indexes.size() + view.features.size() + 3);
  ForEachKeyPart(row.entity, view.key_indexes.size(), [&](size_t k, const std::string_view* part) {
    const Type t = source.schema.field(static_cast<size_t>(view.key_indexes[k])).type;
    out.push_back(part ? KeyPartValue(*part, t) : Value::Null());
  });
  out.push_back(Value::Timestamp(row.ts));
  for (const Value& v : row.values) out.push_back(v);
  out.push_back(Value::Int64(partition));
  out.push_back(Value::Int64(offset));
  return out;
}

OfflineChangelogBatches::OfflineChangelogBatches(const Definitions& defs, const FeatureViewDef& view)
    : schema_(OfflineChangelogSchema(defs, view)), features_(view.features.size()) {
  const SourceDef& source = *defs.FindSource(view.source);
  for (int k : view.key_indexes) key_types_.push_back(source.schema.field(static_cast<size_t>(k)).type);
}

void OfflineChangelogBatches::Add(const ChangelogRow& row) {
  const int64_t day = row.ts >= 0 ? row.ts / 86'400'000 : -((-row.ts + 86'399'999) / 86'400'000);
  if (day != last_day_ || last_ == nullptr) {
    const std::string date = DateOf(row.ts);
    auto it = by_date_.find(date);
    if (it == by_date_.end()) it = by_date_.emplace(date, parquet::ColumnBatch::Empty(schema_)).first;
    last_ = &it->second;
    last_day_ = day;
  }
  std::vector<parquet::Column>& cols = last_->columns;
  // The key's parts, as OfflineChangelogRow reads them.
  ForEachKeyPart(row.entity, key_types_.size(), [&](size_t k, const std::string_view* part) {
    if (!part) {
      cols[k].Append(Value::Null());
    } else if (key_types_[k] == Type::kString) {
      cols[k].AppendString(*part);
    } else {
      cols[k].Append(KeyPartValue(*part, key_types_[k]));
    }
  });
  const size_t nk = key_types_.size();
  cols[nk].Append(Value::Timestamp(row.ts));
  for (size_t f = 0; f < features_; ++f) cols[nk + 1 + f].Append(row.values[f]);
  cols[nk + 1 + features_].Append(Value::Null());  // _partition
  cols[nk + 2 + features_].Append(Value::Null());  // _offset
  ++rows_;
}

void OfflineChangelogBatches::Clear() {
  for (auto& [date, batch] : by_date_) {
    for (parquet::Column& c : batch.columns) c.Clear();
  }
  last_ = nullptr;
  last_day_ = INT64_MIN;
  rows_ = 0;
}

void OfflineEntityKey(const parquet::ColumnBatch& batch, size_t key_columns, size_t row, std::string* key) {
  key->clear();
  for (size_t k = 0; k < key_columns; ++k) {
    if (k) key->push_back(kKeySeparator);
    const parquet::Column& c = batch.columns[k];
    if (c.type == Type::kString) {
      key->append(c.str(row));
    } else {
      key->append(c.Get(row).ToCsvText());
    }
  }
}

std::string DateOf(TimestampMs ts) {
  int64_t days = ts >= 0 ? ts / 86'400'000 : -((-ts + 86'399'999) / 86'400'000);
  // Rows come in runs of one day: the last day's text is kept per thread.
  thread_local int64_t last_days = INT64_MIN;
  thread_local std::string last_text;
  if (days == last_days) return last_text;
  int64_t y = 0;
  unsigned m = 0, d = 0;
  CivilFromDays(days, &y, &m, &d);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u", static_cast<long long>(y), m, d);
  last_days = days;
  last_text = buf;
  return last_text;
}

Result<int64_t> DatasetPosition(const std::string& dir, int partition) {
  std::string path = (fs::path(dir) / "_positions" / std::to_string(partition)).string();
  std::ifstream in(path);
  if (!in) return int64_t{0};
  int64_t v = -1;
  in >> v;
  if (!in || v < 0) return Status::Corruption("unreadable position file " + path);
  return v;
}

Result<std::map<int, int64_t>> DatasetPositions(const std::string& dir) {
  std::map<int, int64_t> out;
  std::error_code ec;
  fs::path pdir = fs::path(dir) / "_positions";
  if (!fs::exists(pdir, ec)) return out;
  for (const auto& e : fs::directory_iterator(pdir, ec)) {
    std::string name = e.path().filename().string();
    int p = 0;
    if (std::from_chars(name.data(), name.data() + name.size(), p).ec != std::errc()) continue;
    VIGIL_ASSIGN_OR_RETURN(out[p], DatasetPosition(dir, p));
  }
  if (ec) return Status::IOError("list " + pdir.string() + ": " + ec.message());
  return out;
}

namespace {

// Every data file of the dataset with its ranges, superseded ones included.
Result<std::vector<DatasetFile>> AllDatasetFiles(const std::string& dir) {
  std::vector<DatasetFile> files;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return files;
  for (const auto& d : fs::directory_iterator(dir, ec)) {
    std::string dname = d.path().filename().string();
    if (!d.is_directory() || dname.rfind("date=", 0) != 0) continue;
    for (const auto& f : fs::directory_iterator(d.path(), ec)) {
      std::string name = f.path().filename().string();
      if (name.size() < 8 || name.substr(name.size() - 8) != ".parquet") continue;
      DatasetFile file;
      file.path = f.path().string();
      file.date = dname.substr(5);
      file.bytes = static_cast<int64_t>(f.file_size(ec));
      int p = 0;
      int64_t first = 0, end = 0;
      if (ParsePartName(name, &p, &first, &end)) {
        file.ranges.emplace_back(p, first, end);
      } else {
        VIGIL_ASSIGN_OR_RETURN(auto reader, parquet::Reader::Open(file.path));
        for (const auto& [k, v] : reader->metadata()) {
          if (k == kRangesKey && !ParseRanges(v, &file.ranges)) {
            return Status::Corruption(file.path + ": unreadable " + std::string(kRangesKey) + " '" + v + "'");
          }
        }
      }
      files.push_back(std::move(file));
    }
  }
  if (ec) return Status::IOError("list " + dir + ": " + ec.message());
  std::sort(files.begin(), files.end(), [](const DatasetFile& a, const DatasetFile& b) {
    return a.date != b.date ? a.date < b.date : a.path < b.path;
  });
  return files;
}

// True if every range of `a` lies inside some range of `b`.
bool CoveredBy(const DatasetFile& a, const DatasetFile& b) {
  for (const auto& [p, first, end] : a.ranges) {
    bool inside = false;
    for (const auto& [q, f2, e2] : b.ranges) inside |= q == p && f2 <= first && end <= e2;
    if (!inside) return false;
  }
  return !a.ranges.empty();
}

}  // namespace

Result<std::vector<DatasetFile>> ListDatasetFiles(const std::string& dir) {
  VIGIL_ASSIGN_OR_RETURN(auto files, AllDatasetFiles(dir));
  std::vector<bool> superseded(files.size(), false);
  for (size_t i = 0; i < files.size(); ++i) {
    for (size_t j = 0; j < files.size() && !superseded[i]; ++j) {
      if (i == j || files[i].date != files[j].date) continue;
      // Of two files covering each other (equal ranges), the later path is kept.
      if (CoveredBy(files[i], files[j]) && (!CoveredBy(files[j], files[i]) || files[i].path < files[j].path)) {
        superseded[i] = true;
      }
    }
  }
  std::vector<DatasetFile> live;
  for (size_t i = 0; i < files.size(); ++i) {
    if (!superseded[i]) live.push_back(std::move(files[i]));
  }
  return live;
}

// ---- writer ----------------------------------------------------------------------------

struct OffsetDatasetWriter::Impl {
  std::string dir;
  Schema schema;
  int ts_column = 0;
  parquet::WriterOptions options;
  struct Partition {
    bool opened = false;
    int64_t next = 0;       // next offset to append
    int64_t persisted = 0;  // position on disk
    int64_t first = -1;     // first buffered offset (-1: none)
    std::map<std::string, parquet::ColumnBatch> by_date;
  };
  std::map<int, Partition> parts;
  int64_t buffered = 0;

  Result<Partition*> Get(int p) {
    Partition& part = parts[p];
    if (part.opened) return &part;
    VIGIL_ASSIGN_OR_RETURN(part.persisted, DatasetPosition(dir, p));
    part.next = part.persisted;
    // Files of a run that crashed after writing them and before persisting the position.
    VIGIL_ASSIGN_OR_RETURN(auto files, AllDatasetFiles(dir));
    for (const auto& f : files) {
      int fp = 0;
      int64_t first = 0, end = 0;
      if (ParsePartName(fs::path(f.path).filename().string(), &fp, &first, &end) && fp == p &&
          first >= part.persisted) {
        std::error_code ec;
        fs::remove(f.path, ec);
        if (ec) return Status::IOError("remove " + f.path + ": " + ec.message());
      }
    }
    part.opened = true;
    return &part;
  }
};

OffsetDatasetWriter::OffsetDatasetWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OffsetDatasetWriter::~OffsetDatasetWriter() = default;

Result<std::unique_ptr<OffsetDatasetWriter>> OffsetDatasetWriter::Open(const std::string& dir, const Schema& schema,
                                                                       int ts_column,
                                                                       const parquet::WriterOptions& options) {
  VIGIL_RETURN_IF_ERROR(EnsureDir(dir));
  VIGIL_RETURN_IF_ERROR(EnsureDir((fs::path(dir) / "_positions").string()));
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->schema = schema;
  impl->ts_column = ts_column;
  impl->options = options;
  return std::unique_ptr<OffsetDatasetWriter>(new OffsetDatasetWriter(std::move(impl)));
}

Result<int64_t> OffsetDatasetWriter::Next(int partition) {
  VIGIL_ASSIGN_OR_RETURN(Impl::Partition * part, impl_->Get(partition));
  return part->next;
}

Status OffsetDatasetWriter::Append(int partition, int64_t offset, const Row& row) {
  VIGIL_ASSIGN_OR_RETURN(Impl::Partition * part, impl_->Get(partition));
  if (offset < part->next) {
    return Status::InvalidArgument("offset " + std::to_string(offset) + " of partition " + std::to_string(partition) +
                                   " is below the dataset's next offset " + std::to_string(part->next));
  }
  const Value& ts = row[static_cast<size_t>(impl_->ts_column)];
  std::string date = DateOf(ts.is_null() ? 0 : ts.int64());
  auto it = part->by_date.find(date);
  if (it == part->by_date.end()) it = part->by_date.emplace(date, parquet::ColumnBatch::Empty(impl_->schema)).first;
  it->second.AppendRow(row);
  if (part->first < 0) part->first = part->next;
  part->next = offset + 1;
  ++impl_->buffered;
  return Status::OK();
}

void OffsetDatasetWriter::Skip(int partition, int64_t next_offset) {
  auto part = impl_->Get(partition);
  if (!part.ok()) return;
  if (next_offset > (*part)->next) {
    if ((*part)->first < 0) (*part)->first = (*part)->next;
    (*part)->next = next_offset;
  }
}

int64_t OffsetDatasetWriter::buffered_rows() const { return impl_->buffered; }

Status OffsetDatasetWriter::Flush() {
  std::vector<std::pair<int, int64_t>> advanced;
  for (auto& [p, part] : impl_->parts) {
    if (part.next == part.persisted) continue;
    std::vector<std::tuple<int, int64_t, int64_t>> range{{p, part.persisted, part.next}};
    for (auto& [date, batch] : part.by_date) {
      std::string ddir = (fs::path(impl_->dir) / ("date=" + date)).string();
      VIGIL_RETURN_IF_ERROR(EnsureDir(ddir));
      std::string path = (fs::path(ddir) / PartName(p, part.persisted, part.next)).string();
      parquet::WriterOptions o = impl_->options;
      o.metadata.emplace_back(kRangesKey, RangesText(range));
      VIGIL_ASSIGN_OR_RETURN(auto w, parquet::Writer::Create(path, impl_->schema, o));
      VIGIL_RETURN_IF_ERROR(w->WriteRowGroups(batch));
      VIGIL_RETURN_IF_ERROR(w->Close());
      VIGIL_RETURN_IF_ERROR(SyncDir(ddir));
    }
    advanced.emplace_back(p, part.next);
  }
  // The data is durable: now the positions that make it part of the dataset.
  for (const auto& [p, next] : advanced) {
    VIGIL_RETURN_IF_ERROR(
        WriteFileAtomic((fs::path(impl_->dir) / "_positions" / std::to_string(p)).string(), std::to_string(next)));
    Impl::Partition& part = impl_->parts[p];
    part.persisted = next;
    part.first = -1;
    part.by_date.clear();
  }
  impl_->buffered = 0;
  return Status::OK();
}

// ---- compaction ------------------------------------------------------------------------

namespace {

class FileLock {
 public:
  static Result<FileLock> Acquire(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT, 0644);
    if (fd < 0) return Status::IOError("open " + path);
    if (::flock(fd, LOCK_EX) != 0) {
      ::close(fd);
      return Status::IOError("lock " + path);
    }
    return FileLock(fd);
  }
  FileLock(FileLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

int64_t FileAgeMs(const std::string& path) {
  std::error_code ec;
  auto t = fs::last_write_time(path, ec);
  if (ec) return 0;
  auto age = fs::file_time_type::clock::now() - t;
  return std::chrono::duration_cast<std::chrono::milliseconds>(age).count();
}

void MergeRanges(std::vector<std::tuple<int, int64_t, int64_t>>* ranges) {
  std::sort(ranges->begin(), ranges->end());
  std::vector<std::tuple<int, int64_t, int64_t>> out;
  for (const auto& r : *ranges) {
    if (!out.empty() && std::get<0>(out.back()) == std::get<0>(r) && std::get<2>(out.back()) >= std::get<1>(r)) {
      std::get<2>(out.back()) = std::max(std::get<2>(out.back()), std::get<2>(r));
    } else {
      out.push_back(r);
    }
  }
  *ranges = std::move(out);
}

}  // namespace

Result<CompactionStats> CompactDataset(const std::string& dir, const CompactionOptions& options) {
  CompactionStats stats;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return stats;
  VIGIL_ASSIGN_OR_RETURN(FileLock lock, FileLock::Acquire((fs::path(dir) / "_compaction.lock").string()));
  VIGIL_ASSIGN_OR_RETURN(auto positions, DatasetPositions(dir));
  VIGIL_ASSIGN_OR_RETURN(auto all, AllDatasetFiles(dir));
  VIGIL_ASSIGN_OR_RETURN(auto live, ListDatasetFiles(dir));
  // Files an earlier compaction superseded (a crash before it deleted them, or a grace
  // period) go once the file that covers them is older than the grace period.
  for (const auto& f : all) {
    bool is_live = std::any_of(live.begin(), live.end(), [&](const DatasetFile& l) { return l.path == f.path; });
    if (is_live) continue;
    bool old_enough = false;
    for (const auto& l : live) {
      if (l.date == f.date && CoveredBy(f, l) && FileAgeMs(l.path) >= options.grace_ms) old_enough = true;
    }
    if (old_enough) fs::remove(f.path, ec);
  }
  std::map<std::string, std::vector<const DatasetFile*>> small;
  for (const auto& f : live) {
    if (f.bytes >= options.small_bytes || f.ranges.empty()) continue;
    bool committed = true;
    for (const auto& [p, first, end] : f.ranges) {
      auto it = positions.find(p);
      committed &= it != positions.end() && end <= it->second;
    }
    if (committed) small[f.date].push_back(&f);
  }
  int seq = 0;
  for (auto& [date, files] : small) {
    if (static_cast<int>(files.size()) < options.min_files) continue;
    parquet::ColumnBatch merged;
    std::vector<std::tuple<int, int64_t, int64_t>> ranges;
    bool first_file = true;
    for (const DatasetFile* f : files) {
      VIGIL_ASSIGN_OR_RETURN(auto batch, parquet::ReadFile(f->path));
      if (first_file) {
        merged = parquet::ColumnBatch::Empty(batch.schema);
        first_file = false;
      }
      if (batch.schema.size() != merged.schema.size()) {
        return Status::Corruption(f->path + ": its columns differ from the other files of " + dir);
      }
      for (int64_t r = 0; r < batch.rows(); ++r) merged.AppendRow(batch.GetRow(r));
      ranges.insert(ranges.end(), f->ranges.begin(), f->ranges.end());
    }
    int pc = merged.schema.IndexOf("_partition"), oc = merged.schema.IndexOf("_offset");
    if (pc < 0 || oc < 0) return Status::Corruption(dir + ": files without _partition/_offset columns");
    std::vector<int64_t> order(static_cast<size_t>(merged.rows()));
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
    const auto& pcol = merged.columns[static_cast<size_t>(pc)].ints;
    const auto& ocol = merged.columns[static_cast<size_t>(oc)].ints;
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      return pcol[a] != pcol[b] ? pcol[a] < pcol[b] : ocol[a] < ocol[b];
    });
    parquet::ColumnBatch sorted = parquet::ColumnBatch::Empty(merged.schema);
    for (int64_t i : order) sorted.AppendRow(merged.GetRow(i));
    MergeRanges(&ranges);
    parquet::WriterOptions o = options.writer;
    o.metadata.emplace_back(kRangesKey, RangesText(ranges));
    std::string ddir = (fs::path(dir) / ("date=" + date)).string();
    std::string path = (fs::path(ddir) / ("compacted-" + std::to_string(WallClockMs()) + "-" +
                                          std::to_string(seq++) + ".parquet"))
                           .string();
    VIGIL_ASSIGN_OR_RETURN(auto w, parquet::Writer::Create(path, sorted.schema, o));
    VIGIL_RETURN_IF_ERROR(w->WriteRowGroups(sorted));
    VIGIL_RETURN_IF_ERROR(w->Close());
    VIGIL_RETURN_IF_ERROR(SyncDir(ddir));
    stats.files_in += static_cast<int64_t>(files.size());
    stats.files_out += 1;
    stats.rows += sorted.rows();
    if (options.grace_ms <= 0) {
      for (const DatasetFile* f : files) fs::remove(f->path, ec);
    }
  }
  return stats;
}

// ---- coverage --------------------------------------------------------------------------

namespace {

// The stream's part of the coverage: [from, best) where from is where the view's topic
// began (kMinTimestamp: the start of history). best is kMinTimestamp when none is held.
Result<std::pair<TimestampMs, TimestampMs>> StreamCoverage(const FeatureViewDef& view, Log* log,
                                                           const std::string& offline_dir) {
  TimestampMs best = kMinTimestamp, from = kMinTimestamp;
  auto parts = log->Partitions(kWatermarksTopic);
  if (!parts.ok() && parts.status().IsNotFound()) return std::make_pair(best, from);
  VIGIL_RETURN_IF_ERROR(parts.status());
  VIGIL_ASSIGN_OR_RETURN(auto positions, DatasetPositions(OfflineFeaturesDir(offline_dir, view)));
  const std::string topic = ChangelogTopic(view);
  VIGIL_ASSIGN_OR_RETURN(auto reader, log->OpenReader(kWatermarksTopic));
  LogRecord rec;
  for (;;) {
    VIGIL_ASSIGN_OR_RETURN(bool more, reader->Next(&rec));
    if (!more) break;
    if (rec.key != view.source) continue;
    VIGIL_ASSIGN_OR_RETURN(WatermarkMarker m, DecodeWatermarkMarker(rec.key, rec.payload));
    if (m.watermark <= best || !m.complete) continue;
    auto it = m.changelog_ends.find(topic);
    if (it == m.changelog_ends.end()) continue;  // a marker from before the view existed
    bool held = true;
    for (size_t p = 0; p < it->second.size(); ++p) {
      auto pos = positions.find(static_cast<int>(p));
      int64_t have = pos == positions.end() ? 0 : pos->second;
      held &= have >= it->second[p];
    }
    if (held) {
      best = m.watermark;
      auto f = m.topic_from.find(topic);
      from = f == m.topic_from.end() ? kMinTimestamp : f->second;
    }
  }
  return std::make_pair(best, from);
}

}  // namespace

Result<TimestampMs> OfflineChangelogCoverage(const FeatureViewDef& view, Log* log, const std::string& offline_dir) {
  VIGIL_ASSIGN_OR_RETURN(auto stream, StreamCoverage(view, log, offline_dir));
  auto [upto, from] = stream;
  VIGIL_ASSIGN_OR_RETURN(BackfillRecord backfill, LastBackfill(offline_dir, view));
  // Each part covers an interval; the coverage is how far they reach from the start.
  TimestampMs covered = from == kMinTimestamp ? upto : kMinTimestamp;
  if (!backfill.run.empty() && (backfill.from == kMinTimestamp || covered >= backfill.from)) {
    covered = std::max(covered, backfill.bound);
  }
  if (from != kMinTimestamp && covered >= from) covered = std::max(covered, upto);
  return covered;
}

Status ScanViewChangelog(
    const Definitions& defs, const FeatureViewDef& view, const std::string& offline_dir, int threads,
    TimestampMs max_ts,
    const std::function<Status(parquet::ColumnBatch&& batch, TimestampMs skip_from, TimestampMs skip_to)>& fn) {
  VIGIL_ASSIGN_OR_RETURN(BackfillRecord backfill, LastBackfill(offline_dir, view));
  Schema schema = OfflineChangelogSchema(defs, view);
  std::vector<std::string> columns;
  for (size_t c = 0; c + 2 < schema.size(); ++c) columns.push_back(schema.field(c).name);
  return ScanDataset(
      OfflineFeaturesDir(offline_dir, view), columns, threads,
      [&](const DatasetFile& file, parquet::ColumnBatch&& batch) {
        std::string name = fs::path(file.path).filename().string();
        if (name.rfind("backfill-", 0) == 0) {
          // Only the last completed run's files (a later run in progress writes its own).
          if (backfill.run.empty() || name.rfind("backfill-" + backfill.run + "-", 0) != 0) return Status::OK();
          return fn(std::move(batch), 0, 0);
        }
        // Sync's repairs hold what the other store knew: read like the backfill's rows.
        if (backfill.run.empty() || name.rfind("repair-", 0) == 0) return fn(std::move(batch), 0, 0);
        return fn(std::move(batch), backfill.from, backfill.bound);
      },
      "ts", kMinTimestamp, max_ts);
}

// ---- reading ---------------------------------------------------------------------------

namespace {

// ScanDataset and ScanDatasetColumns: `select` gives the columns to read of a file.
using ColumnSelector =
    std::function<Result<std::vector<int>>(const parquet::Reader& reader, const std::string& path)>;

Status ScanDatasetFiles(
    const std::string& dir, const ColumnSelector& select, int threads,
    const std::function<Status(const DatasetFile& file, parquet::ColumnBatch&& batch)>& fn,
    const std::string& ts_column, TimestampMs from, TimestampMs to) {
  // The files are opened before any is read (a reader holds its file open): a
  // compaction that replaces and deletes files meanwhile cannot pull one from under the
  // scan. A file deleted between the listing and its opening means the listing is stale:
  // list again. (Datasets of more than kMaxOpen files are opened as they are read.)
  constexpr size_t kMaxOpen = 512;
  std::vector<DatasetFile> files;
  std::vector<std::unique_ptr<parquet::Reader>> readers;
  for (int attempt = 0;; ++attempt) {
    VIGIL_ASSIGN_OR_RETURN(files, ListDatasetFiles(dir));
    readers.clear();
    if (files.size() > kMaxOpen) break;
    bool vanished = false;
    for (const auto& f : files) {
      auto r = parquet::Reader::Open(f.path);
      if (!r.ok()) {
        std::error_code ec;
        if (!fs::exists(f.path, ec) && attempt < 5) {
          vanished = true;
          break;
        }
        return r.status();
      }
      readers.push_back(std::move(r).value());
    }
    if (!vanished) break;
  }
  std::atomic<size_t> next{0};
  std::mutex mu;
  Status first_error;
  std::atomic<bool> failed{false};
  auto work = [&] {
    for (;;) {
      size_t i = next.fetch_add(1);
      if (i >= files.size() || failed.load()) return;
      Status s = [&]() -> Status {
        std::unique_ptr<parquet::Reader> reader;
        if (i < readers.size()) {
          reader = std::move(readers[i]);
        } else {
          VIGIL_ASSIGN_OR_RETURN(reader, parquet::Reader::Open(files[i].path));
        }
        VIGIL_ASSIGN_OR_RETURN(std::vector<int> cols, select(*reader, files[i].path));
        int tc = ts_column.empty() ? -1 : reader->schema().IndexOf(ts_column);
        Value lo = from == kMinTimestamp ? Value::Null() : Value::Timestamp(from);
        Value hi = to == kMaxTimestamp ? Value::Null() : Value::Timestamp(to);
        for (int g = 0; g < static_cast<int>(reader->row_groups().size()); ++g) {
          if (tc >= 0 && !reader->MayContain(g, tc, lo, hi)) continue;
          VIGIL_ASSIGN_OR_RETURN(auto batch, reader->ReadRowGroup(g, cols));
          VIGIL_RETURN_IF_ERROR(fn(files[i], std::move(batch)));
        }
        return Status::OK();
      }();
      if (!s.ok()) {
        std::lock_guard l(mu);
        if (first_error.ok()) first_error = s;
        failed = true;
        return;
      }
    }
  };
  threads = std::max(1, std::min<int>(threads, static_cast<int>(files.size())));
  if (threads <= 1) {
    work();
  } else {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) pool.emplace_back(work);
    for (auto& t : pool) t.join();
  }
  return first_error;
}

}  // namespace

Status ScanDataset(const std::string& dir, const std::vector<std::string>& columns, int threads,
                   const std::function<Status(const DatasetFile& file, parquet::ColumnBatch&& batch)>& fn,
                   const std::string& ts_column, TimestampMs from, TimestampMs to) {
  auto by_name = [&](const parquet::Reader& reader, const std::string& path) -> Result<std::vector<int>> {
    std::vector<int> cols;
    for (const auto& name : columns) {
      int c = reader.schema().IndexOf(name);
      if (c < 0) return Status::Corruption(path + ": no column '" + name + "'");
      cols.push_back(c);
    }
    return cols;
  };
  return ScanDatasetFiles(dir, by_name, threads, fn, ts_column, from, to);
}

Status ScanDatasetColumns(
    const std::string& dir, size_t schema_size, const std::vector<int>& column_indexes, int threads,
    const std::function<Status(const DatasetFile& file, parquet::ColumnBatch&& batch)>& fn) {
  auto by_index = [&](const parquet::Reader& reader, const std::string& path) -> Result<std::vector<int>> {
    if (reader.schema().size() != schema_size) {
      return Status::Corruption(path + ": " + std::to_string(reader.schema().size()) + " columns, want " +
                                std::to_string(schema_size));
    }
    for (int c : column_indexes) {
      if (c < 0 || static_cast<size_t>(c) >= schema_size) {
        return Status::InvalidArgument(path + ": no column " + std::to_string(c));
      }
    }
    return column_indexes;
  };
  return ScanDatasetFiles(dir, by_index, threads, fn, "", kMinTimestamp, kMaxTimestamp);
}

}  // namespace vigil
