#include "store/backfill.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "common/files.h"
#include "common/memory.h"
#include "compute/batch_replay.h"
#include "compute/entity_index.h"
#include "compute/stream_worker.h"
#include "schema/parquet.h"
#include "schema/row_codec.h"
#include "store/archive.h"
#include "store/feature_registry.h"
#include "store/offline_store.h"

namespace vigil {

namespace fs = std::filesystem;

namespace {

std::string StateDir(const std::string& offline_dir, const FeatureViewDef& view) {
  return (fs::path(offline_dir) / "backfill" / view.name / ("version=" + std::to_string(view.version))).string();
}

// The spill's record layout (below); a run spilled in another layout is not resumed.
// 2: varint seq, varint key size, the entity key, varint event size, the event.
constexpr int kSpillFormat = 2;

// The run's parameters and progress, in <state>/run.json.
struct RunState {
  std::string run;
  std::string fingerprint;
  int spill_format = kSpillFormat;
  TimestampMs from = kMinTimestamp;
  TimestampMs to = kMaxTimestamp;
  TimestampMs bound = kMinTimestamp;
  int buckets = 0;
  int64_t events = 0;
  bool spilled = false;
};

std::string SerializeRunState(const RunState& s) {
  return nlohmann::json{{"run", s.run},
                        {"fingerprint", s.fingerprint},
                        {"spill_format", s.spill_format},
                        {"from", s.from},
                        {"to", s.to},
                        {"bound", s.bound},
                        {"buckets", s.buckets},
                        {"events", s.events},
                        {"spilled", s.spilled}}
      .dump(2);
}

Result<RunState> ParseRun(const std::string& path, const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::Corruption(path + ": not a backfill run state");
  RunState s;
  try {
    s.run = j.at("run").get<std::string>();
    s.fingerprint = j.at("fingerprint").get<std::string>();
    s.spill_format = j.value("spill_format", 1);  // runs before the field spilled format 1
    s.from = j.at("from").get<int64_t>();
    s.to = j.at("to").get<int64_t>();
    s.bound = j.at("bound").get<int64_t>();
    s.buckets = j.at("buckets").get<int>();
    s.events = j.at("events").get<int64_t>();
    s.spilled = j.at("spilled").get<bool>();
  } catch (const std::exception& e) {
    return Status::Corruption(path + ": " + e.what());
  }
  return s;
}

// One view's run within a call: its directories, its lock (held until the call returns),
// its parameters and progress, and what the call reports.
struct ViewRun {
  explicit ViewRun(const FeatureViewDef& v) : view(&v) {}
  ViewRun(const ViewRun&) = delete;
  ViewRun& operator=(const ViewRun&) = delete;
  ~ViewRun() {
    if (lock_fd >= 0) ::close(lock_fd);
  }
  const FeatureViewDef* view;
  std::string state;         // <offline>/backfill/<view>/version=<v>
  std::string features_dir;  // where its changelog files go
  std::string run_path;      // <state>/run.json
  int lock_fd = -1;
  RunState run;
  BackfillStats stats;
};

// Pass 1: the source's accepted events, each hashed by entity into a bucket file of every
// run in `runs` (the views of one source, none spilled yet): one pass over the history,
// however many views it feeds. Each view's record holds only the fields it reads (the
// others null). The buffers of all the runs' buckets share the memory budget.
Status Spill(const Definitions& defs, const std::vector<ViewRun*>& runs, Log* log,
             const std::string& offline_dir, const BackfillOptions& options) {
  const SourceDef& source = *defs.FindSource(runs.front()->view->source);
  // Buckets: enough that one bucket's events fit in a thread's share of the memory.
  // The estimate: archived Parquet bytes x 8 (decoded, in memory) + 256 bytes a live record.
  int64_t estimate = 0;
  VIGIL_ASSIGN_OR_RETURN(auto files, ListDatasetFiles(OfflineEventsDir(offline_dir, source.name)));
  for (const auto& f : files) estimate += f.bytes * 8;
  VIGIL_ASSIGN_OR_RETURN(auto positions, DatasetPositions(OfflineEventsDir(offline_dir, source.name)));
  auto ends = log->EndOffsets(source.name);
  if (ends.ok()) {
    for (size_t p = 0; p < ends->size(); ++p) {
      auto it = positions.find(static_cast<int>(p));
      estimate += 256 * std::max<int64_t>(0, (*ends)[p] - (it == positions.end() ? 0 : it->second));
    }
  }
  const int threads = std::max(1, options.threads);
  const int64_t per_bucket = std::max<int64_t>(1 << 20, options.memory_bytes / threads);
  // A multiple of the threads, so none replays a bucket alone at the end while the others
  // wait (7 buckets on 2 threads leave one thread idle for a seventh of the pass).
  const int64_t needed = std::clamp<int64_t>((estimate + per_bucket - 1) / per_bucket, threads, 4096);
  const int buckets = static_cast<int>((needed + threads - 1) / threads * threads);

  // The archive's reader threads spill at once, each into buffers of its own; a full
  // buffer is appended to its bucket's file under that bucket's lock. The order of a
  // bucket's records varies from run to run; the replay orders each entity's events by
  // (ts, log order), so its rows do not.
  const int workers = threads;
  // A view's bucket files, each appended from its workers' buffers.
  struct Target {
    ViewRun* r;
    std::string dir;
    std::vector<std::vector<std::string>> buffers;  // [worker][bucket]
    std::unique_ptr<std::mutex[]> file_mu;          // one per bucket
    std::vector<bool> keep;                         // the source fields the view reads
    std::string path(size_t b) const { return (fs::path(dir) / std::to_string(b)).string(); }
    Status Write(size_t w, size_t b) {
      std::string& buf = buffers[w][b];
      if (buf.empty()) return Status::OK();
      std::lock_guard l(file_mu[b]);
      std::ofstream out(path(b), std::ios::binary | std::ios::app);
      out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
      if (!out.flush()) return Status::IOError("write spill file " + path(b));
      buf.clear();
      return Status::OK();
    }
  };
  std::vector<Target> targets;
  std::vector<int> read_fields;  // what any of the views reads
  for (ViewRun* r : runs) {
    Target& t = targets.emplace_back();
    t.r = r;
    t.dir = (fs::path(r->state) / "spill").string();
    std::error_code ec;
    fs::remove_all(t.dir, ec);
    fs::create_directories(t.dir, ec);
    if (ec) return Status::IOError("create " + t.dir + ": " + ec.message());
    r->run.buckets = buckets;
    t.buffers.assign(static_cast<size_t>(workers), std::vector<std::string>(static_cast<size_t>(buckets)));
    t.file_mu = std::make_unique<std::mutex[]>(static_cast<size_t>(buckets));
    for (int b = 0; b < buckets; ++b) {
      std::ofstream create(t.path(static_cast<size_t>(b)), std::ios::binary | std::ios::trunc);
      if (!create) return Status::IOError("create spill file " + t.path(static_cast<size_t>(b)));
    }
    // Only the fields the view reads travel through its spill; the others are null (a
    // byte each), as in a CompactHistory: the replay gives the same rows.
    const std::vector<int> fields = ViewInputFields(*r->view);
    t.keep.assign(source.schema.size(), false);
    for (int f : fields) t.keep[static_cast<size_t>(f)] = true;
    read_fields.insert(read_fields.end(), fields.begin(), fields.end());
  }
  std::sort(read_fields.begin(), read_fields.end());
  read_fields.erase(std::unique(read_fields.begin(), read_fields.end()), read_fields.end());
  // A bucket's file is open only while a buffer is appended, and the buffers together
  // stay within the memory budget: thousands of buckets need neither thousands of file
  // descriptors (the usual limit is 1024) nor thousands of MiB.
  const size_t flush_bytes = static_cast<size_t>(std::clamp<int64_t>(
      options.memory_bytes / (static_cast<int64_t>(buckets) * static_cast<int64_t>(targets.size()) * workers),
      4 << 10, 1 << 20));

  // Views that read the same fields share an event's encoding: one per distinct set.
  std::vector<std::vector<bool>> field_sets;
  std::vector<size_t> set_of(targets.size());
  for (size_t i = 0; i < targets.size(); ++i) {
    auto it = std::find(field_sets.begin(), field_sets.end(), targets[i].keep);
    set_of[i] = static_cast<size_t>(it - field_sets.begin());
    if (it == field_sets.end()) field_sets.push_back(targets[i].keep);
  }
  // What each worker reuses from event to event.
  struct Scratch {
    std::vector<std::string> encoded;  // one per field set
    std::string key_buf;
    int64_t events = 0;
  };
  std::vector<Scratch> scratch(static_cast<size_t>(workers));
  for (Scratch& sc : scratch) sc.encoded.resize(field_sets.size());
  const std::hash<std::string_view> hasher;
  SourceHistory counts;
  VIGIL_RETURN_IF_ERROR(ScanSourceHistoryConcurrently(
      source, log, offline_dir, workers,
      [&](Event&& ev, uint64_t seq, int worker) -> Status {
        const auto w = static_cast<size_t>(worker);
        Scratch& sc = scratch[w];
        for (size_t s = 0; s < field_sets.size(); ++s) {
          sc.encoded[s].clear();
          EncodeEventFields(ev, field_sets[s], &sc.encoded[s]);
        }
        for (size_t i = 0; i < targets.size(); ++i) {
          Target& t = targets[i];
          const std::string_view key = EntityKeyView(ev.fields, t.r->view->key_indexes, &sc.key_buf);
          const std::string& event = sc.encoded[set_of[i]];
          const size_t b = hasher(key) % static_cast<size_t>(buckets);
          // The record (seq, key, event), written in place. The key travels with the event:
          // the compute pass groups a bucket by entity without decoding each event a
          // second time.
          std::string& buf = t.buffers[w][b];
          const size_t old = buf.size();
          buf.resize(old + 3 * kMaxVarint64Bytes + key.size() + event.size());
          char* p = PutVarint64To(buf.data() + old, seq);
          p = PutVarint64To(p, key.size());
          std::memcpy(p, key.data(), key.size());
          p = PutVarint64To(p + key.size(), event.size());
          std::memcpy(p, event.data(), event.size());
          buf.resize(static_cast<size_t>(p + event.size() - buf.data()));
          if (buf.size() >= flush_bytes) VIGIL_RETURN_IF_ERROR(t.Write(w, b));
        }
        ++sc.events;
        return Status::OK();
      },
      &counts, &read_fields));
  int64_t events = 0;
  for (const Scratch& sc : scratch) events += sc.events;
  for (Target& t : targets) {
    for (size_t w = 0; w < t.buffers.size(); ++w) {
      for (size_t b = 0; b < t.buffers[w].size(); ++b) VIGIL_RETURN_IF_ERROR(t.Write(w, b));
    }
  }
  // Durable before run.json says `spilled`: a resume after a machine crash must not read
  // a bucket cut short at a record boundary (fewer events, silently different rows). One
  // sync for every view's bucket files.
  VIGIL_RETURN_IF_ERROR(SyncFilesystem(targets.front().dir));
  for (Target& t : targets) {
    t.r->run.events = events;
    t.r->run.bound = std::min(options.to, counts.watermark);
    t.r->run.spilled = true;
  }
  return Status::OK();
}

// What one thread's buckets reuse, one after the other: the memory of a bucket's events
// and of its changelog's columns is touched once per thread, not once per bucket.
struct BucketScratch {
  BucketScratch(const Definitions& defs, const FeatureViewDef& view, int64_t flush_rows, int max_open_files)
      : history(view, *defs.FindSource(view.source), keys),
        batches(defs, view),
        flush_rows(flush_rows),
        max_open_files(max_open_files) {}
  // The bucket's spill file, read whole into memory advised for huge pages: the replay
  // reads its events in entity order, all over it (with 4 KiB pages, a TLB miss each).
  ZeroedArray<char> bytes;
  std::vector<std::string> keys;    // the bucket's entities, in the order first seen
  CompactHistory history;           // the bucket's events, refs into `bytes`
  OfflineChangelogBatches batches;  // _partition, _offset null: not a log record
  // The changelog rows a bucket buffers before it writes them (row groups of its files):
  // the columns' memory is bounded and, filled again after each write, reused.
  int64_t flush_rows;
  int max_open_files;
};

// The changelog rows a thread buffers before writing them: its share of the memory
// budget, a quarter of it, at about 9 bytes a column and 32 more a row; at least 1 Ki
// rows, at most 1 Mi (a row group's size). The default budget gives about 400 Ki rows.
int64_t FlushRows(const Schema& changelog, const BackfillOptions& options) {
  const int64_t row_bytes = 9 * static_cast<int64_t>(changelog.size()) + 32;
  const int64_t share = options.memory_bytes / std::max(1, options.threads) / 4;
  return std::clamp<int64_t>(share / row_bytes, int64_t{1} << 10, int64_t{1} << 20);
}

std::string BucketFilePrefix(const RunState& run, int bucket) {
  return "backfill-" + run.run + "-" + std::to_string(bucket) + "-";
}

// Removes what an interrupted computation of `bucket` wrote: its files are numbered from
// 0 again, and a run resumed with another memory budget may write fewer of them.
Status RemoveBucketFiles(const std::string& features_dir, const RunState& run, int bucket) {
  const std::string prefix = BucketFilePrefix(run, bucket);
  std::error_code ec;
  for (const auto& d : fs::directory_iterator(features_dir, ec)) {
    if (!d.is_directory()) continue;
    for (const auto& f : fs::directory_iterator(d.path(), ec)) {
      if (f.path().filename().string().rfind(prefix, 0) == 0 && !fs::remove(f.path(), ec)) {
        return Status::IOError("remove " + f.path().string() + ": " + ec.message());
      }
    }
  }
  if (ec) return Status::IOError("list " + features_dir + ": " + ec.message());
  return Status::OK();
}

// A bucket's changelog files, <date>/backfill-<run>-<bucket>-<generation>.parquet: one
// per date, open while the bucket computes, each batch of buffered rows appended to them
// as row groups. At most max_open are open at once (a file descriptor each): a batch
// that needs one more first closes them all, and the next rows of every date go to files
// of the next generation. Histories of up to max_open days need one generation.
class BucketFiles {
 public:
  BucketFiles(const Schema& schema, const std::string& features_dir, const RunState& run, int bucket,
              int max_open)
      : schema_(schema),
        features_dir_(features_dir),
        run_(run),
        bucket_(bucket),
        max_open_(static_cast<size_t>(std::max(1, max_open))) {}

  // Writes each date's rows of *batches to its file, then clears *batches.
  Status Append(OfflineChangelogBatches* batches) {
    for (auto& [date, batch] : batches->by_date()) {
      if (batch.rows() == 0) continue;
      auto it = open_.find(date);
      if (it == open_.end()) {
        if (open_.size() >= max_open_) {
          VIGIL_RETURN_IF_ERROR(Close());
          ++generation_;
        }
        VIGIL_ASSIGN_OR_RETURN(auto w, Create(date));
        it = open_.emplace(date, std::move(w)).first;
      }
      VIGIL_RETURN_IF_ERROR(it->second->WriteRowGroups(batch));
    }
    batches->Clear();
    return Status::OK();
  }

  // Closes (syncs and renames) every open file.
  Status Close() {
    for (auto& [date, w] : open_) VIGIL_RETURN_IF_ERROR(w->Close());
    open_.clear();
    return Status::OK();
  }

 private:
  Result<std::unique_ptr<parquet::Writer>> Create(const std::string& date) {
    fs::path dir = fs::path(features_dir_) / ("date=" + date);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return Status::IOError("create " + dir.string() + ": " + ec.message());
    std::string path =
        (dir / (BucketFilePrefix(run_, bucket_) + std::to_string(generation_) + ".parquet")).string();
    parquet::WriterOptions o;
    o.metadata.emplace_back("vigil.backfill", run_.run);
    // Made durable together, once the bucket's files are closed (SyncFilesystem), before
    // its done mark: one sync a bucket, not two for each of its dozens of files.
    o.sync = false;
    // zstd's fastest level: a changelog compresses as well at 1 as at 3 (user_logins at
    // 1.84M events: 76.68 against 76.63 MB), in less time.
    o.zstd_level = 1;
    return parquet::Writer::Create(path, schema_, o);
  }

  const Schema& schema_;
  const std::string& features_dir_;
  const RunState& run_;
  const int bucket_;
  const size_t max_open_;
  std::map<std::string, std::unique_ptr<parquet::Writer>> open_;
  int generation_ = 0;
};

// Pass 2 for one bucket: replay, then write its rows by date.
Status ComputeBucket(const Definitions& defs, const FeatureViewDef& view, const std::string& state,
                     const std::string& features_dir, const RunState& run, int bucket, BucketScratch* scratch,
                     int64_t* rows_out) {
  // The bucket's events stay as the spill wrote them, in the thread's buffer (about 100
  // bytes an event where a decoded Event takes several hundred, each allocated); each is
  // decoded once, when its entity replays.
  const std::string path = (fs::path(state) / "spill" / std::to_string(bucket)).string();
  std::error_code ec;
  const size_t file_size = fs::file_size(path, ec);
  if (ec) return Status::IOError("spill file of bucket " + std::to_string(bucket) + ": " + ec.message());
  if (scratch->bytes.size() < file_size) scratch->bytes = ZeroedArray<char>(file_size + file_size / 4);
  VIGIL_RETURN_IF_ERROR(ReadFileInto(path, scratch->bytes.data(), file_size));
  std::vector<std::string>& keys = scratch->keys;
  CompactHistory& h = scratch->history;
  keys.clear();
  h.Clear();
  EntityIndex ids;  // entity key -> its number in keys
  const auto corrupt = [bucket] {
    return Status::Corruption("truncated spill file of bucket " + std::to_string(bucket));
  };
  std::string_view in(scratch->bytes.data(), file_size);
  while (!in.empty()) {
    VIGIL_ASSIGN_OR_RETURN(uint64_t seq, GetVarint64(&in));
    VIGIL_ASSIGN_OR_RETURN(uint64_t key_size, GetVarint64(&in));
    if (key_size > in.size()) return corrupt();
    const std::string_view key = in.substr(0, key_size);
    in.remove_prefix(key_size);
    VIGIL_ASSIGN_OR_RETURN(uint64_t size, GetVarint64(&in));
    if (size > in.size()) return corrupt();
    const std::string_view encoded = in.substr(0, size);
    in.remove_prefix(size);
    const uint64_t hash = EntityIndex::Hash(key);
    uint32_t entity = ids.Find(key, hash, [&keys](uint32_t e) -> const std::string& { return keys[e]; });
    if (entity == EntityIndex::kNone) {
      entity = static_cast<uint32_t>(keys.size());
      keys.emplace_back(key);
      ids.Insert(hash, entity);
    }
    h.AddBorrowed(entity, encoded, seq);
  }

  const Schema schema = OfflineChangelogSchema(defs, view);
  OfflineChangelogBatches& batches = scratch->batches;
  batches.Clear();
  BucketFiles files(schema, features_dir, run, bucket, scratch->max_open_files);
  int64_t rows = 0;
  Status written;
  VisitView(view, h, run.bound, [&](const ChangelogRow& r) {
    if (!written.ok() || r.ts < run.from || r.ts >= run.bound) return;
    batches.Add(r);
    if (batches.rows() >= scratch->flush_rows) {
      rows += batches.rows();
      written = files.Append(&batches);
    }
  });
  VIGIL_RETURN_IF_ERROR(written);
  rows += batches.rows();
  VIGIL_RETURN_IF_ERROR(files.Append(&batches));
  VIGIL_RETURN_IF_ERROR(files.Close());
  VIGIL_RETURN_IF_ERROR(SyncFilesystem(features_dir));
  *rows_out += rows;
  return WriteFileAtomic((fs::path(state) / "done" / std::to_string(bucket)).string(), std::to_string(rows));
}

}  // namespace

Result<BackfillRecord> LastBackfill(const std::string& offline_dir, const FeatureViewDef& view) {
  BackfillRecord r;
  std::string path = (fs::path(OfflineFeaturesDir(offline_dir, view)) / "_backfill.json").string();
  auto text = ReadWholeFile(path);
  if (!text.ok()) return r;
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::Corruption(path + ": not a backfill record");
  try {
    r.run = j.at("run").get<std::string>();
    r.from = j.at("from").get<int64_t>();
    r.bound = j.at("bound").get<int64_t>();
    r.rows = j.at("rows").get<int64_t>();
    r.completed_at = j.at("completed_at").get<int64_t>();
  } catch (const std::exception& e) {
    return Status::Corruption(path + ": " + e.what());
  }
  return r;
}

namespace {

// Takes the view version's lock (held until *r is destroyed).
Status LockRun(const std::string& offline_dir, ViewRun* r) {
  const FeatureViewDef& view = *r->view;
  r->state = StateDir(offline_dir, view);
  r->features_dir = OfflineFeaturesDir(offline_dir, view);
  r->run_path = (fs::path(r->state) / "run.json").string();
  std::error_code ec;
  fs::create_directories(fs::path(r->state) / "done", ec);
  fs::create_directories(r->features_dir, ec);
  if (ec) return Status::IOError("create " + r->state + ": " + ec.message());
  // One run of a view version at a time: two would share the state directory (one
  // removing the other's spill, or resuming it half-written). The lock file lives
  // beside the state directory, which a completed run removes.
  const std::string lock_path = r->state + ".lock";
  r->lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (r->lock_fd < 0) return Status::IOError("open " + lock_path);
  if (::flock(r->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    return Status::InvalidArgument("another backfill of " + view.name + " v" + std::to_string(view.version) +
                                   " is running (it holds " + lock_path + "); wait for it, or run the same "
                                   "command after it stops to resume");
  }
  return Status::OK();
}

// Decides a locked view's run: the one its state directory holds, resumed when it was
// spilled with these parameters, else a fresh one (its run.json written, not spilled).
Status PrepareRun(const Definitions& defs, const BackfillOptions& options, ViewRun* r) {
  const FeatureViewDef& view = *r->view;
  std::error_code ec;
  const std::string fingerprint = ViewFingerprint(defs, view);
  auto saved = ReadWholeFile(r->run_path);
  if (saved.ok()) {
    VIGIL_ASSIGN_OR_RETURN(RunState prev, ParseRun(r->run_path, *saved));
    if (prev.spilled && prev.spill_format == kSpillFormat && prev.fingerprint == fingerprint &&
        prev.from == options.from && prev.to == options.to) {
      r->run = prev;
      r->stats.resumed = true;
      return Status::OK();
    }
  }
  fs::remove_all(fs::path(r->state) / "done", ec);
  fs::create_directories(fs::path(r->state) / "done", ec);
  if (ec) return Status::IOError("create " + r->state + "/done: " + ec.message());
  r->run.fingerprint = fingerprint;
  r->run.from = options.from;
  r->run.to = options.to;
  r->run.run = Hex64(Fnv1a64(fingerprint + "/" + std::to_string(options.from) + "/" +
                             std::to_string(options.to) + "/" + std::to_string(WallClockMs())));
  return WriteFileAtomic(r->run_path, SerializeRunState(r->run));
}

// Pass 2 and the finish of a spilled run: its buckets not done yet, on options.threads
// threads; then, when every bucket is done, the record, and earlier runs' files removed.
Status ComputeRun(const Definitions& defs, const BackfillOptions& options, ViewRun* r) {
  const FeatureViewDef& view = *r->view;
  const RunState& run = r->run;
  BackfillStats& stats = r->stats;
  stats.run = run.run;
  stats.events = run.events;
  stats.buckets = run.buckets;
  stats.bound = run.bound;

  std::vector<int> todo;
  for (int b = 0; b < run.buckets; ++b) {
    if (fs::exists(fs::path(r->state) / "done" / std::to_string(b))) {
      ++stats.buckets_done_before;
    } else {
      todo.push_back(b);
    }
  }
  if (options.stop_after_buckets > 0 && static_cast<int>(todo.size()) > options.stop_after_buckets) {
    todo.resize(static_cast<size_t>(options.stop_after_buckets));
  }
  std::atomic<size_t> next{0};
  std::atomic<int64_t> rows{0};
  std::mutex mu;
  Status first;
  const int64_t flush_rows = FlushRows(OfflineChangelogSchema(defs, view), options);
  auto work = [&] {
    BucketScratch scratch(defs, view, flush_rows, options.max_open_files);
    for (;;) {
      size_t i = next.fetch_add(1);
      if (i >= todo.size()) return;
      int64_t n = 0;
      Status s = stats.resumed ? RemoveBucketFiles(r->features_dir, run, todo[i]) : Status::OK();
      if (s.ok()) s = ComputeBucket(defs, view, r->state, r->features_dir, run, todo[i], &scratch, &n);
      rows += n;
      if (!s.ok()) {
        std::lock_guard l(mu);
        if (first.ok()) first = s.WithContext("backfill bucket " + std::to_string(todo[i]));
        next = todo.size();
        return;
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < std::max(1, options.threads); ++t) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  VIGIL_RETURN_IF_ERROR(first);
  stats.rows = rows.load();

  int done = 0;
  for (int b = 0; b < run.buckets; ++b)
    done += fs::exists(fs::path(r->state) / "done" / std::to_string(b)) ? 1 : 0;
  stats.complete = done == run.buckets;
  if (!stats.complete) return Status::OK();
  int64_t total_rows = 0;
  for (int b = 0; b < run.buckets; ++b) {
    VIGIL_ASSIGN_OR_RETURN(std::string n,
                           ReadWholeFile((fs::path(r->state) / "done" / std::to_string(b)).string()));
    total_rows += std::stoll(n);
  }
  VIGIL_RETURN_IF_ERROR(WriteFileAtomic((fs::path(r->features_dir) / "_backfill.json").string(),
                                        nlohmann::json{{"run", run.run},
                                                       {"from", run.from},
                                                       {"to", run.to},
                                                       {"bound", run.bound},
                                                       {"rows", total_rows},
                                                       {"events", run.events},
                                                       {"completed_at", WallClockMs()}}
                                            .dump(2)));
  // Earlier runs' files are replaced by this one's.
  std::error_code ec;
  for (const auto& d : fs::directory_iterator(r->features_dir, ec)) {
    if (!d.is_directory()) continue;
    for (const auto& f : fs::directory_iterator(d.path(), ec)) {
      std::string name = f.path().filename().string();
      if (name.rfind("backfill-", 0) == 0 && name.rfind("backfill-" + run.run + "-", 0) != 0) {
        fs::remove(f.path(), ec);
      }
    }
  }
  fs::remove_all(r->state, ec);
  return Status::OK();
}

}  // namespace

Result<std::vector<BackfillStats>> BackfillViews(const Definitions& defs,
                                                 const std::vector<const FeatureViewDef*>& views, Log* log,
                                                 const std::string& offline_dir,
                                                 const BackfillOptions& options) {
  if (options.from >= options.to) return Status::InvalidArgument("backfill: --from must be before --to");
  if (views.empty()) return Status::InvalidArgument("backfill: no feature view named");
  std::vector<std::unique_ptr<ViewRun>> runs;
  for (const FeatureViewDef* view : views) {
    for (const auto& other : runs) {
      if (other->view->name == view->name) {
        return Status::InvalidArgument("backfill: feature view '" + view->name + "' named twice");
      }
    }
    runs.push_back(std::make_unique<ViewRun>(*view));
  }
  // Every lock first: a view another backfill holds stops the call before it changes
  // any view's state.
  for (auto& r : runs) VIGIL_RETURN_IF_ERROR(LockRun(offline_dir, r.get()));
  for (auto& r : runs) VIGIL_RETURN_IF_ERROR(PrepareRun(defs, options, r.get()));

  // Pass 1, once per source, for the views that are not resumed.
  std::vector<std::string> sources;
  for (const auto& r : runs) {
    if (!r->stats.resumed && std::find(sources.begin(), sources.end(), r->view->source) == sources.end()) {
      sources.push_back(r->view->source);
    }
  }
  for (const std::string& source : sources) {
    std::vector<ViewRun*> group;
    for (auto& r : runs) {
      if (!r->stats.resumed && r->view->source == source) group.push_back(r.get());
    }
    const auto spill_start = std::chrono::steady_clock::now();
    VIGIL_RETURN_IF_ERROR(Spill(defs, group, log, offline_dir, options).WithContext("backfill spill"));
    const double spill_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - spill_start).count();
    for (ViewRun* r : group) {
      r->stats.spill_seconds = spill_seconds;
      r->stats.spill_views = static_cast<int>(group.size());
      VIGIL_RETURN_IF_ERROR(WriteFileAtomic(r->run_path, SerializeRunState(r->run)));
    }
  }

  // Pass 2, view after view, each on every thread.
  std::vector<BackfillStats> out;
  for (auto& r : runs) {
    const auto compute_start = std::chrono::steady_clock::now();
    VIGIL_RETURN_IF_ERROR(ComputeRun(defs, options, r.get()).WithContext("backfill " + r->view->name));
    r->stats.seconds =
        r->stats.spill_seconds +
        std::chrono::duration<double>(std::chrono::steady_clock::now() - compute_start).count();
    out.push_back(r->stats);
  }
  return out;
}

Result<BackfillStats> Backfill(const Definitions& defs, const FeatureViewDef& view, Log* log,
                               const std::string& offline_dir, const BackfillOptions& options) {
  VIGIL_ASSIGN_OR_RETURN(std::vector<BackfillStats> stats,
                         BackfillViews(defs, {&view}, log, offline_dir, options));
  return stats.front();
}

}  // namespace vigil
