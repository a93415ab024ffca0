// The embedded log: topics as folders of segment files on local disk (segment.h draws
// the files). One machine; several processes may share a log directory: one writer per
// topic (an flock on <topic>/writer.lock) and any number of readers, which follow the
// writer through the file system alone (no shared memory, no notifications).
//
//   <dir>/<topic>/partitions          "4\n", created once, atomically
//   <dir>/<topic>/writer.lock         flock of the topic's writer
//   <dir>/<topic>/<partition>/        segments (segment.h)
//   <dir>/.groups/<group>.lock        flock of the group's active member
//   <dir>/.groups/<group>.offsets/<topic>   committed offsets, all partitions, checksummed
//
// Topic and group names may hold dots but neither '/' nor a leading '.', so no topic
// folder collides with .groups and no name with the temporary files (".tmp.*").
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "log/embedded_log_internal.h"
#include "log/log.h"
#include "log/log_internal.h"
#include "log/segment.h"

namespace vigil::log_internal {
namespace {

namespace fs = std::filesystem;

// A writer writes its buffered records once they reach this many bytes (per partition),
// without waiting for Flush.
constexpr size_t kAutoWriteBytes = 1 << 20;
constexpr char kPartitionsFile[] = "partitions";
constexpr char kWriterLockFile[] = "writer.lock";
constexpr char kGroupsDir[] = ".groups";
constexpr size_t kMaxNameBytes = 200;

// --- process-wide observations (embedded_log_internal.h) -------------------------------

std::mutex g_reports_mu;
std::vector<RecoveryReport>* g_reports = new std::vector<RecoveryReport>;  // never destroyed
std::atomic<int64_t> g_segment_syncs{0};

void AddReport(RecoveryReport r) {
  if (r.bytes_removed > 0) {
    std::fprintf(stderr,
                 "vigil: log: recovered %s:%d segment %s: removed %" PRId64 " bytes at byte %" PRId64
                 " (the next record gets offset %" PRId64 "): %s\n",
                 r.topic.c_str(), r.partition, r.segment.c_str(), r.bytes_removed, r.position, r.offset,
                 r.reason.c_str());
  } else {
    std::fprintf(stderr, "vigil: log: recovered %s:%d %s: %s\n", r.topic.c_str(), r.partition,
                 r.segment.c_str(), r.reason.c_str());
  }
  std::lock_guard<std::mutex> lock(g_reports_mu);
  g_reports->push_back(std::move(r));
}

Status DataSync(int fd, const std::string& path) {
  g_segment_syncs.fetch_add(1, std::memory_order_relaxed);
  if (::fdatasync(fd) != 0) return Status::IOError("fdatasync " + path + ": " + ErrnoText(errno));
  return Status::OK();
}

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// --- names and small files -------------------------------------------------------------

Status CheckName(std::string_view what, const std::string& name) {
  if (name.empty()) return Status::InvalidArgument(std::string(what) + " name is empty");
  if (name.size() > kMaxNameBytes) {
    return Status::InvalidArgument(std::string(what) + " name '" + name.substr(0, 40) +
                                   "...' is longer than " + std::to_string(kMaxNameBytes) + " bytes");
  }
  if (name[0] == '.' || name.find('/') != std::string::npos || name.find('\0') != std::string::npos) {
    return Status::InvalidArgument(std::string(what) + " name '" + name +
                                   "' is not allowed: it may not contain '/' or start with '.'");
  }
  return Status::OK();
}

Status MakeDirs(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError("create " + dir + ": " + ec.message());
  return Status::OK();
}

// Writes dir/name atomically: a temporary file in dir, fsync, then rename over the old
// file (replace) or link (create only: returns false if dir/name exists), then fsync dir.
Result<bool> WriteFileAtomically(const std::string& dir, const std::string& name, std::string_view contents,
                                 bool replace) {
  static std::atomic<uint64_t> counter{0};
  std::string tmp = dir + "/.tmp." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1));
  std::string path = dir + "/" + name;
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError("create " + tmp + ": " + ErrnoText(errno));
  Status st = PwriteAll(fd, contents, 0, tmp);
  if (st.ok() && ::fsync(fd) != 0) st = Status::IOError("fsync " + tmp + ": " + ErrnoText(errno));
  ::close(fd);
  bool created = true;
  if (st.ok()) {
    if (replace) {
      if (::rename(tmp.c_str(), path.c_str()) != 0)
        st = Status::IOError("rename " + tmp + ": " + ErrnoText(errno));
    } else if (::link(tmp.c_str(), path.c_str()) != 0) {
      if (errno == EEXIST) {
        created = false;
      } else {
        st = Status::IOError("link " + path + ": " + ErrnoText(errno));
      }
    }
  }
  ::unlink(tmp.c_str());  // after rename: already gone
  if (!st.ok()) return st;
  if (created) VIGIL_RETURN_IF_ERROR(SyncDir(dir));
  return created;
}

// Takes an exclusive flock on `path` (created if missing) without waiting. Returns the fd
// holding it, or -1 if another open file description holds it (another process, or
// another writer / member in this one).
Result<int> TryLock(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError("open " + path + ": " + ErrnoText(errno));
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) return -1;
    return Status::IOError("flock " + path + ": " + ErrnoText(err));
  }
  return fd;
}

std::optional<SegmentSeal> ReadSeal(const std::string& index_path) {
  int fd = ::open(index_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::optional<SegmentSeal> seal;
  struct stat st {};
  char buf[kIndexSealBytes];
  if (::fstat(fd, &st) == 0 && static_cast<size_t>(st.st_size) >= kIndexSealBytes &&
      (static_cast<size_t>(st.st_size) - kIndexSealBytes) % kIndexEntryBytes == 0 &&
      ::pread(fd, buf, sizeof buf, st.st_size - static_cast<off_t>(kIndexSealBytes)) ==
          static_cast<ssize_t>(kIndexSealBytes)) {
    SegmentIndex idx = ParseIndex(std::string_view(buf, sizeof buf), UINT64_MAX);
    seal = idx.seal;
  }
  ::close(fd);
  return seal;
}

// What a pass over a segment found.
struct SegmentScan {
  int64_t records = 0;
  TimestampMs first_time = kMinTimestamp;
  TimestampMs max_time = kMinTimestamp;
  uint64_t valid_end = 0;  // byte after the last valid record
  SegmentFileReader::Step stop = SegmentFileReader::Step::kEnd;
  std::string why;  // of a kTorn / kCorrupt stop
};

// Reads `path` from byte `position` (record number `first_record` there) to the first
// byte that is not a valid record, calling visit(record number, position, view) per record.
template <typename Visit>
Result<SegmentScan> ScanSegment(const std::string& path, uint64_t position, int64_t first_record,
                                Visit&& visit) {
  SegmentFileReader file;
  VIGIL_RETURN_IF_ERROR(file.Open(path, position));
  SegmentScan scan;
  scan.records = first_record;
  RecordView v;
  for (;;) {
    const uint64_t at = file.position();
    VIGIL_ASSIGN_OR_RETURN(SegmentFileReader::Step step, file.Next(&v));
    if (step != SegmentFileReader::Step::kRecord) {
      scan.stop = step;
      scan.valid_end = at;
      if (step == SegmentFileReader::Step::kTorn) scan.why = "torn record (the file ends inside it)";
      if (step == SegmentFileReader::Step::kCorrupt) scan.why = file.why();
      return scan;
    }
    visit(scan.records, at, v);
    if (scan.records == first_record) scan.first_time = v.time;
    scan.max_time = std::max(scan.max_time, v.time);
    ++scan.records;
  }
}

// --- offsets files ---------------------------------------------------------------------

// "vigil offsets 1\n<n>\n<offset of partition 0>\n...\ncrc32c <hex of everything before>\n"
std::string EncodeOffsets(const std::vector<int64_t>& offsets) {
  std::string s = "vigil offsets 1\n" + std::to_string(offsets.size()) + "\n";
  for (int64_t o : offsets) s += std::to_string(o) + "\n";
  char crc[32];
  std::snprintf(crc, sizeof crc, "crc32c %08x\n", Crc32c(s));
  return s + crc;
}

Result<std::vector<int64_t>> DecodeOffsets(const std::string& text, const std::string& path) {
  auto bad = [&](const std::string& why) {
    return Status::Corruption("consumer offsets file " + path + ": " + why +
                              "; delete it to read from the start");
  };
  size_t crc_at = text.rfind("crc32c ");
  if (crc_at == std::string::npos || text.size() != crc_at + 7 + 8 + 1 || text.back() != '\n') {
    return bad("no checksum line");
  }
  unsigned int want = 0;
  if (std::sscanf(text.c_str() + crc_at + 7, "%8x", &want) != 1 ||
      Crc32c(std::string_view(text).substr(0, crc_at)) != want) {
    return bad("checksum mismatch");
  }
  std::vector<std::string_view> lines;
  std::string_view body = std::string_view(text).substr(0, crc_at);
  while (!body.empty()) {
    size_t nl = body.find('\n');
    if (nl == std::string_view::npos) return bad("unterminated line");
    lines.push_back(body.substr(0, nl));
    body.remove_prefix(nl + 1);
  }
  auto number = [](std::string_view s, int64_t* out) {
    if (s.empty() || s.size() > 18) return false;
    int64_t v = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    *out = v;
    return true;
  };
  int64_t n = 0;
  if (lines.size() < 2 || lines[0] != "vigil offsets 1" || !number(lines[1], &n) ||
      static_cast<int64_t>(lines.size()) != n + 2) {
    return bad("unexpected layout");
  }
  std::vector<int64_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    if (!number(lines[static_cast<size_t>(i) + 2], &out[static_cast<size_t>(i)])) return bad("bad offset");
  }
  return out;
}

// --- reader ----------------------------------------------------------------------------

class EmbeddedTopicReader final : public TopicReader {
 public:
  EmbeddedTopicReader(std::string topic, const std::string& topic_dir, int partitions)
      : topic_(std::move(topic)), at_end_(static_cast<size_t>(partitions), 0) {
    for (int p = 0; p < partitions; ++p) {
      cursors_.push_back(std::make_unique<Cursor>());
      cursors_.back()->dir = topic_dir + "/" + std::to_string(p);
    }
  }

  // Positions every partition at its start.
  Status Init() {
    for (int p = 0; p < partitions(); ++p) {
      for (int attempt = 0;; ++attempt) {
        Cursor* c = cursors_[static_cast<size_t>(p)].get();
        VIGIL_ASSIGN_OR_RETURN(std::vector<int64_t> segments, ListSegments(c->dir));
        if (segments.empty()) break;  // reads from offset 0 once the writer creates it
        Status st = OpenSegment(c, segments.front(), 0, segments.front());
        if (st.IsNotFound() && attempt < 5) continue;  // deleted by retention meanwhile
        VIGIL_RETURN_IF_ERROR(st);
        break;
      }
    }
    return Status::OK();
  }

  int partitions() const override { return static_cast<int>(cursors_.size()); }

  Status Seek(int partition, int64_t offset) override {
    if (partition < 0 || partition >= partitions()) {
      return Status::InvalidArgument("topic " + topic_ + " has no partition " + std::to_string(partition));
    }
    if (offset < 0)
      return Status::InvalidArgument(Where(partition) + ": negative offset " + std::to_string(offset));
    // A segment may be deleted by retention between listing and opening it: retry. The
    // cursor is replaced only on success, so a failed Seek leaves the position as it was.
    for (int attempt = 0;; ++attempt) {
      auto c = std::make_unique<Cursor>();
      c->dir = cursors_[static_cast<size_t>(partition)]->dir;
      Status st = PositionAt(partition, c.get(), offset);
      if (st.IsNotFound() && attempt < 5) continue;
      VIGIL_RETURN_IF_ERROR(st);
      cursors_[static_cast<size_t>(partition)] = std::move(c);
      at_end_[static_cast<size_t>(partition)] = 0;
      return Status::OK();
    }
  }

  Result<bool> Next(LogRecord* rec) override {
    const size_t n = cursors_.size();
    // One record per partition in turn. A partition found at its end is skipped until
    // every partition is, so an idle partition costs no reads per record of a busy one;
    // a call that returns false has looked at every partition.
    for (int round = 0; round < 2; ++round) {
      bool skipped = false;
      for (size_t i = 0; i < n; ++i) {
        const size_t p = (next_ + i) % n;
        if (at_end_[p]) {
          skipped = true;
          continue;
        }
        VIGIL_ASSIGN_OR_RETURN(bool got, ReadFrom(static_cast<int>(p), cursors_[p].get(), rec));
        if (got) {
          rec->partition = static_cast<int>(p);
          next_ = (p + 1) % n;
          return true;
        }
        at_end_[p] = 1;
      }
      if (!skipped) return false;
      std::fill(at_end_.begin(), at_end_.end(), 0);
    }
    return false;
  }

  int64_t Position(int partition) const override {
    if (partition < 0 || partition >= partitions()) return -1;
    return cursors_[static_cast<size_t>(partition)]->offset;
  }

 private:
  struct Cursor {
    std::string dir;
    int64_t base = -1;                       // the segment open in `file`; -1: none yet
    int64_t offset = 0;                      // the offset of the next record
    std::optional<uint32_t> sealed_records;  // that segment's records, if sealed when opened
    SegmentFileReader file;
  };

  std::string Where(int partition) const { return topic_ + ":" + std::to_string(partition); }
  static std::string PathOf(const Cursor& c, int64_t base, std::string_view ext) {
    return c.dir + "/" + SegmentFileName(base, ext);
  }

  // On NotFound the cursor is unchanged.
  static Status OpenSegment(Cursor* c, int64_t base, uint64_t position, int64_t offset) {
    VIGIL_RETURN_IF_ERROR(c->file.Open(PathOf(*c, base, ".log"), position));
    c->base = base;
    c->offset = offset;
    c->sealed_records.reset();
    if (auto seal = ReadSeal(PathOf(*c, base, ".index"))) c->sealed_records = seal->records;
    return Status::OK();
  }

  // Positions *c at `offset`: the segment by binary search on base offsets, then the
  // latest index entry at or before the offset, then a scan. NotFound if a segment
  // vanished meanwhile (the caller retries).
  Status PositionAt(int partition, Cursor* c, int64_t offset) {
    VIGIL_ASSIGN_OR_RETURN(std::vector<int64_t> segments, ListSegments(c->dir));
    if (segments.empty()) {
      if (offset > 0) {
        return Status::InvalidArgument(Where(partition) + ": offset " + std::to_string(offset) +
                                       " is past the end 0");
      }
      return Status::OK();
    }
    if (offset < segments.front()) {
      return Status::InvalidArgument(Where(partition) + ": offset " + std::to_string(offset) +
                                     " is below the partition's start " + std::to_string(segments.front()) +
                                     " (older records were deleted by retention)");
    }
    const int64_t base = *(std::upper_bound(segments.begin(), segments.end(), offset) - 1);
    uint64_t position = 0;
    int64_t at = base;
    if (offset - base <= static_cast<int64_t>(UINT32_MAX)) {
      auto bytes = ReadSmallFile(PathOf(*c, base, ".index"));
      if (bytes.ok()) {
        SegmentIndex idx = ParseIndex(*bytes, kMaxSegmentBytes + kMaxRecordBody);
        if (idx.well_formed) {
          if (const IndexEntry* e = FindIndexEntry(idx.entries, static_cast<uint32_t>(offset - base))) {
            position = e->position;
            at = base + e->record;
          }
        }
      }
    }
    VIGIL_RETURN_IF_ERROR(OpenSegment(c, base, position, at));
    Status st = ScanTo(partition, c, offset);
    if (st.IsCorruption() && position != 0) {
      // The index entry may be what is wrong (a damaged index): scan from the start.
      VIGIL_RETURN_IF_ERROR(OpenSegment(c, base, 0, base));
      st = ScanTo(partition, c, offset);
    }
    return st;
  }

  Status ScanTo(int partition, Cursor* c, int64_t offset) {
    LogRecord rec;
    while (c->offset < offset) {
      VIGIL_ASSIGN_OR_RETURN(bool got, ReadFrom(partition, c, &rec));
      if (!got) {
        return Status::InvalidArgument(Where(partition) + ": offset " + std::to_string(offset) +
                                       " is past the end " + std::to_string(c->offset));
      }
    }
    return Status::OK();
  }

  Status Corrupt(int partition, const Cursor& c, const std::string& why) const {
    return Status::Corruption("log record " + Where(partition) + ":" + std::to_string(c.offset) +
                              " at byte " + std::to_string(c.file.position()) + " of " + c.file.path() +
                              ": " + why);
  }

  // The next record of the partition, following segment rolls. False: the end for now.
  Result<bool> ReadFrom(int partition, Cursor* c, LogRecord* rec) {
    bool reread = false;
    for (;;) {
      if (!c->file.is_open()) {
        // Nothing was written when we last looked: has the first segment appeared?
        Status st = OpenSegment(c, c->offset, 0, c->offset);
        if (st.IsNotFound()) return false;
        VIGIL_RETURN_IF_ERROR(st);
      }
      RecordView v;
      VIGIL_ASSIGN_OR_RETURN(SegmentFileReader::Step step, c->file.Next(&v));
      switch (step) {
        case SegmentFileReader::Step::kRecord:
          rec->offset = c->offset++;
          rec->append_time = v.time;
          rec->key = v.key;
          rec->payload = v.payload;
          return true;
        case SegmentFileReader::Step::kCorrupt:
          return Corrupt(partition, *c, c->file.why());
        case SegmentFileReader::Step::kTorn: {
          // The file ends inside a record: in the active segment, the writer is writing it
          // (the end for now). A segment with a successor is complete: read once more (the
          // record may have been finished just before the roll), then it is a torn write.
          VIGIL_ASSIGN_OR_RETURN(std::vector<int64_t> segments, ListSegments(c->dir));
          if (segments.empty() || segments.back() <= c->base) return false;
          if (reread)
            return Corrupt(partition, *c, "torn record at the end of a segment that has a successor");
          reread = true;
          continue;
        }
        case SegmentFileReader::Step::kEnd: {
          if (c->sealed_records && c->offset != c->base + *c->sealed_records) {
            return Corrupt(partition, *c,
                           "the segment ends after " + std::to_string(c->offset - c->base) +
                               " records but its index says it holds " + std::to_string(*c->sealed_records));
          }
          // A segment rolled at this offset is named by it (an empty segment has none).
          if (c->offset == c->base) return false;
          Status st = OpenSegment(c, c->offset, 0, c->offset);
          if (st.ok()) continue;
          if (!st.IsNotFound()) return st;
          // Still the last segment, unless retention deleted it and its successors.
          struct stat sb {};
          if (::fstat(c->file.fd(), &sb) == 0 && sb.st_nlink == 0) {
            VIGIL_ASSIGN_OR_RETURN(std::vector<int64_t> segments, ListSegments(c->dir));
            if (!segments.empty() && segments.front() > c->offset) {
              return Status::InvalidArgument(Where(partition) + ": records from offset " +
                                             std::to_string(c->offset) + " to " +
                                             std::to_string(segments.front()) +
                                             " were deleted by retention before they were read; Seek to " +
                                             std::to_string(segments.front()) + " to skip them");
            }
            if (std::binary_search(segments.begin(), segments.end(), c->offset)) continue;
          }
          return false;
        }
      }
    }
  }

  std::string topic_;
  std::vector<std::unique_ptr<Cursor>> cursors_;
  std::vector<char> at_end_;
  size_t next_ = 0;
};

// --- writer ----------------------------------------------------------------------------

class EmbeddedTopicWriter final : public TopicWriter {
 public:
  EmbeddedTopicWriter(std::string topic, std::string topic_dir, int partitions, const LogOptions& options,
                      int lock_fd)
      : topic_(std::move(topic)),
        topic_dir_(std::move(topic_dir)),
        options_(options),
        lock_fd_(lock_fd),
        parts_(static_cast<size_t>(partitions)),
        last_sync_ms_(SteadyMs()) {}

  ~EmbeddedTopicWriter() override {
    if (recovered_) Flush(false).IgnoreError();
    for (Partition& w : parts_) {
      if (w.fd >= 0) ::close(w.fd);
      if (w.index_fd >= 0) ::close(w.index_fd);
    }
    ::close(lock_fd_);  // releases the flock
  }

  // Recovers every partition's segments (see OpenWriter).
  Status Recover() {
    for (size_t p = 0; p < parts_.size(); ++p) VIGIL_RETURN_IF_ERROR(RecoverPartition(static_cast<int>(p)));
    recovered_ = true;
    return Status::OK();
  }

  int partitions() const override { return static_cast<int>(parts_.size()); }

  Status Append(std::string_view key, std::string_view payload, TimestampMs time) override {
    return AppendTo(PartitionForKey(key, partitions()), key, payload, time);
  }

  Status AppendTo(int partition, std::string_view key, std::string_view payload, TimestampMs time) override {
    VIGIL_RETURN_IF_ERROR(broken_);
    if (partition < 0 || partition >= partitions()) {
      return Status::InvalidArgument("topic " + topic_ + " has no partition " + std::to_string(partition) +
                                     " (it has " + std::to_string(partitions()) + ")");
    }
    const size_t bytes = RecordBytes(key, payload);
    if (bytes - kRecordHeaderBytes > kMaxRecordBody) {
      return Status::InvalidArgument("record of " + std::to_string(bytes) + " bytes for topic " + topic_ +
                                     " is over the " + std::to_string(kMaxRecordBody) + "-byte limit");
    }
    if (time < 0) time = WallClockMs();
    Partition& w = parts_[static_cast<size_t>(partition)];
    if (w.records > 0) {
      const bool full = w.written + w.out.size() + bytes > static_cast<uint64_t>(options_.segment_bytes);
      const bool old =
          time > w.first_time && static_cast<uint64_t>(time) - static_cast<uint64_t>(w.first_time) >=
                                     static_cast<uint64_t>(options_.segment_ms);
      if (full || old) VIGIL_RETURN_IF_ERROR(Roll(w));
    }
    const uint64_t position = w.written + w.out.size();
    if (w.records > 0 && w.since_index >= static_cast<uint64_t>(options_.index_interval_bytes)) {
      AppendIndexEntry(&w.index_out, {w.records, static_cast<uint32_t>(position)});
      w.since_index = 0;
    }
    AppendRecord(&w.out, key, payload, time);
    if (w.records == 0) w.first_time = time;
    w.max_time = std::max(w.max_time, time);
    ++w.records;
    w.since_index += bytes;
    if (w.out.size() >= kAutoWriteBytes) VIGIL_RETURN_IF_ERROR(WriteOut(w));
    return Status::OK();
  }

  Status Flush(bool sync) override {
    VIGIL_RETURN_IF_ERROR(broken_);
    for (Partition& w : parts_) VIGIL_RETURN_IF_ERROR(WriteOut(w));
    const int64_t now = SteadyMs();
    const bool due =
        sync || options_.fsync == FsyncPolicy::kEveryRecord ||
        (options_.fsync == FsyncPolicy::kInterval && now - last_sync_ms_ >= options_.fsync_interval);
    if (due) {
      for (Partition& w : parts_) VIGIL_RETURN_IF_ERROR(Sync(w));
      last_sync_ms_ = now;
    }
    for (Partition& w : parts_) w.flushed_end = w.base + w.records;
    return Status::OK();
  }

  std::vector<int64_t> FlushedEnds() const override {
    std::vector<int64_t> out;
    out.reserve(parts_.size());
    for (const Partition& w : parts_) out.push_back(w.flushed_end);
    return out;
  }

 private:
  struct Partition {
    std::string dir;
    int64_t base = 0;  // the active segment
    int fd = -1;
    int index_fd = -1;
    uint64_t written = 0;        // bytes of the active segment on disk
    uint64_t index_written = 0;  // bytes of its index on disk
    uint32_t records = 0;        // records in the active segment, buffered ones included
    TimestampMs first_time = kMinTimestamp;
    TimestampMs max_time = kMinTimestamp;
    uint64_t since_index = 0;     // bytes of records since the last index entry
    std::string out;              // records not written yet
    std::string index_out;        // index entries not written yet (they follow `out`)
    bool dirty = false;           // the active segment was written since the last sync
    bool dir_dirty = false;       // segment files were created since the last sync
    std::vector<int64_t> rolled;  // segments sealed since the last sync
    int64_t flushed_end = 0;
  };

  std::string SegPath(const Partition& w, int64_t base, std::string_view ext) const {
    return w.dir + "/" + SegmentFileName(base, ext);
  }

  // Any failure to write leaves the files in an unknown state: the writer refuses to go
  // on (the next OpenWriter recovers them).
  Status Fail(Status st) {
    broken_ = st.WithContext("topic " + topic_ + " writer");
    return broken_;
  }

  // Writes the buffered records of the active segment with one write(2), then their
  // index entries, so a reader never finds an index entry ahead of its record.
  Status WriteOut(Partition& w) {
    if (!w.out.empty()) {
      Status st = PwriteAll(w.fd, w.out, w.written, SegPath(w, w.base, ".log"));
      if (!st.ok()) return Fail(st);
      w.written += w.out.size();
      w.out.clear();
      w.dirty = true;
    }
    if (!w.index_out.empty()) {
      Status st = PwriteAll(w.index_fd, w.index_out, w.index_written, SegPath(w, w.base, ".index"));
      if (!st.ok()) return Fail(st);
      w.index_written += w.index_out.size();
      w.index_out.clear();
    }
    return Status::OK();
  }

  // Seals the active segment and starts the next one at the current end. The sealed
  // segment is synced with the next sync of the partition (Flush), as its data would be.
  Status Roll(Partition& w) {
    VIGIL_RETURN_IF_ERROR(WriteOut(w));
    std::string seal;
    AppendIndexSeal(&seal, {w.records, w.max_time});
    Status st = PwriteAll(w.index_fd, seal, w.index_written, SegPath(w, w.base, ".index"));
    if (!st.ok()) return Fail(st);
    ::close(w.fd);
    ::close(w.index_fd);
    w.fd = w.index_fd = -1;
    if (w.dirty) w.rolled.push_back(w.base);
    w.dirty = false;
    st = CreateSegment(w, w.base + w.records);
    if (!st.ok()) return Fail(st);
    w.dir_dirty = true;  // the new file's directory entry
    return Status::OK();
  }

  Status CreateSegment(Partition& w, int64_t base) {
    std::string log = SegPath(w, base, ".log");
    int fd = ::open(log.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return Status::IOError("create " + log + ": " + ErrnoText(errno));
    std::string index = SegPath(w, base, ".index");
    int index_fd = ::open(index.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (index_fd < 0) {
      ::close(fd);
      return Status::IOError("create " + index + ": " + ErrnoText(errno));
    }
    w.base = base;
    w.fd = fd;
    w.index_fd = index_fd;
    w.written = w.index_written = 0;
    w.records = 0;
    w.first_time = w.max_time = kMinTimestamp;
    w.since_index = 0;
    return Status::OK();
  }

  // fdatasync of what was written to the partition since its last sync: segments sealed
  // meanwhile (by path: their files are closed), the folder (new segment files), the
  // active segment. The index is not synced: recovery rebuilds it.
  Status Sync(Partition& w) {
    if (!w.dirty && !w.dir_dirty && w.rolled.empty()) return Status::OK();
    for (int64_t base : w.rolled) {
      std::string path = SegPath(w, base, ".log");
      int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        if (errno == ENOENT) continue;  // deleted by retention already
        return Fail(Status::IOError("open " + path + ": " + ErrnoText(errno)));
      }
      Status st = DataSync(fd, path);
      ::close(fd);
      if (!st.ok()) return Fail(st);
    }
    if (w.dir_dirty) {
      Status st = SyncDir(w.dir);
      if (!st.ok()) return Fail(st);
    }
    w.rolled.clear();
    w.dir_dirty = false;
    if (w.dirty) {
      Status st = DataSync(w.fd, SegPath(w, w.base, ".log"));
      if (!st.ok()) return Fail(st);
    }
    w.dirty = false;
    return Status::OK();
  }

  void Report(int partition, const std::string& file, int64_t position, int64_t removed, int64_t next_offset,
              std::string reason) {
    AddReport({topic_, partition, file, position, removed, next_offset, std::move(reason)});
  }

  // Index entries for a segment scanned from its start, one per index_interval_bytes.
  struct IndexBuilder {
    explicit IndexBuilder(int64_t interval_bytes) : interval(static_cast<uint64_t>(interval_bytes)) {}
    uint64_t interval;
    std::string bytes;
    uint64_t since = 0;
    void Add(int64_t record, uint64_t position, size_t record_bytes) {
      if (record > 0 && since >= interval) {
        AppendIndexEntry(&bytes, {static_cast<uint32_t>(record), static_cast<uint32_t>(position)});
        since = 0;
      }
      since += record_bytes;
    }
  };

  Status RecoverPartition(int partition) {
    Partition& w = parts_[static_cast<size_t>(partition)];
    w.dir = topic_dir_ + "/" + std::to_string(partition);
    VIGIL_RETURN_IF_ERROR(MakeDirs(w.dir));
    VIGIL_ASSIGN_OR_RETURN(std::vector<int64_t> segments, ListSegments(w.dir));
    if (segments.empty()) {
      VIGIL_RETURN_IF_ERROR(CreateSegment(w, 0));
      VIGIL_RETURN_IF_ERROR(SyncDir(w.dir));
    } else {
      for (size_t i = 0; i + 1 < segments.size(); ++i) {
        VIGIL_RETURN_IF_ERROR(CheckSealed(partition, w, segments[i], segments[i + 1]));
      }
      VIGIL_RETURN_IF_ERROR(RecoverActive(partition, w, segments.back()));
    }
    w.flushed_end = w.base + w.records;
    return Status::OK();
  }

  // A sealed segment keeps its records as they are (cutting a damaged one would lose the
  // records after it). Only the seal of its index is checked (20 bytes, so a long log
  // opens fast): the index is rebuilt if it has none or the seal does not agree with the
  // next segment's base offset. Readers ignore an index whose entries are malformed.
  Status CheckSealed(int partition, Partition& w, int64_t base, int64_t next_base) {
    const std::string log = SegPath(w, base, ".log");
    std::string reason;
    if (auto seal = ReadSeal(SegPath(w, base, ".index")); !seal) {
      reason = "the index of a sealed segment is missing or has no valid seal";
    } else if (base + seal->records != next_base) {
      reason = "the index seal counts " + std::to_string(seal->records) +
               " records, the next segment starts at " + std::to_string(next_base);
    } else {
      return Status::OK();
    }
    IndexBuilder index(options_.index_interval_bytes);
    VIGIL_ASSIGN_OR_RETURN(
        SegmentScan scan, ScanSegment(log, 0, 0, [&](int64_t record, uint64_t position, const RecordView& v) {
          index.Add(record, position, v.bytes);
        }));
    if (scan.stop == SegmentFileReader::Step::kEnd && base + scan.records == next_base) {
      AppendIndexSeal(&index.bytes, {static_cast<uint32_t>(scan.records), scan.max_time});
    } else {
      reason += "; the segment itself is damaged at byte " + std::to_string(scan.valid_end) + " (offset " +
                std::to_string(base + scan.records) + (scan.why.empty() ? "" : ": " + scan.why) +
                "), which readers report as Corruption";
    }
    VIGIL_RETURN_IF_ERROR(
        WriteFileAtomically(w.dir, SegmentFileName(base, ".index"), index.bytes, true).status());
    Report(partition, SegmentFileName(base, ".index"), 0, 0, next_base, "rebuilt the index: " + reason);
    return Status::OK();
  }

  // The active segment: keeps its valid prefix, cuts a torn or corrupt tail, and checks
  // that every index entry sits on a record boundary with the right record number.
  Status RecoverActive(int partition, Partition& w, int64_t base) {
    const std::string log = SegPath(w, base, ".log");
    const std::string index_name = SegmentFileName(base, ".index");
    int fd = ::open(log.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return Status::IOError("open " + log + ": " + ErrnoText(errno));
    w.base = base;
    w.fd = fd;
    struct stat sb {};
    if (::fstat(fd, &sb) != 0) return Status::IOError("stat " + log + ": " + ErrnoText(errno));
    const uint64_t size = static_cast<uint64_t>(sb.st_size);
    auto bytes = ReadSmallFile(w.dir + "/" + index_name);
    if (!bytes.ok() && !bytes.status().IsNotFound()) return bytes.status();
    const bool missing = !bytes.ok();
    SegmentIndex idx = missing ? SegmentIndex{} : ParseIndex(*bytes, size);
    bool consistent = idx.well_formed;
    size_t k = 0;  // the next on-disk entry to meet
    IndexBuilder fresh(options_.index_interval_bytes);
    IndexBuilder extension(options_.index_interval_bytes);  // after the last entry
    VIGIL_ASSIGN_OR_RETURN(
        SegmentScan scan, ScanSegment(log, 0, 0, [&](int64_t record, uint64_t position, const RecordView& v) {
          fresh.Add(record, position, v.bytes);
          if (!consistent) return;
          const auto& e = idx.entries;
          if (k < e.size() && e[k].position < position) {
            consistent = false;  // an entry between record boundaries
          } else if (k < e.size() && e[k].position == position) {
            if (e[k].record != record) consistent = false;
            ++k;
            extension.since = v.bytes;
          } else if (k == e.size()) {
            extension.Add(record, position, v.bytes);
          } else {
            extension.since += v.bytes;
          }
        }));
    if (k < idx.entries.size()) consistent = false;  // entries past the valid records
    if (scan.valid_end < size) {
      if (::ftruncate(fd, static_cast<off_t>(scan.valid_end)) != 0 || ::fdatasync(fd) != 0) {
        return Status::IOError("truncate " + log + ": " + ErrnoText(errno));
      }
      Report(partition, SegmentFileName(base, ".log"), static_cast<int64_t>(scan.valid_end),
             static_cast<int64_t>(size - scan.valid_end), base + scan.records, scan.why);
    }
    w.written = scan.valid_end;
    w.records = static_cast<uint32_t>(scan.records);
    w.first_time = scan.first_time;
    w.max_time = scan.max_time;
    // Keep the index, extend it (entries missing after its last one), or rewrite it.
    const std::string index_path = w.dir + "/" + index_name;
    std::string reason;
    std::string rewrite;
    bool extend = false;
    if (missing || !consistent) {
      reason = missing           ? "index missing"
               : idx.well_formed ? "index entries do not match the records"
                                 : "index malformed";
      rewrite = fresh.bytes;
      w.since_index = fresh.since;
    } else {
      w.since_index = extension.since;
      if (idx.seal) {
        reason = "the last segment's index was sealed (an interrupted roll)";
        rewrite.assign(bytes->data(), idx.entries.size() * kIndexEntryBytes);
        rewrite += extension.bytes;
      } else if (!extension.bytes.empty()) {
        reason =
            "index short: " + std::to_string(extension.bytes.size() / kIndexEntryBytes) + " entries added";
        extend = true;
      }
    }
    if (!reason.empty() && !extend) {
      VIGIL_RETURN_IF_ERROR(WriteFileAtomically(w.dir, index_name, rewrite, true).status());
    }
    int index_fd = ::open(index_path.c_str(), O_RDWR | O_CLOEXEC);
    if (index_fd < 0) return Status::IOError("open " + index_path + ": " + ErrnoText(errno));
    w.index_fd = index_fd;
    w.index_written = reason.empty() ? bytes->size()
                      : extend       ? bytes->size() + extension.bytes.size()
                                     : rewrite.size();
    if (extend) VIGIL_RETURN_IF_ERROR(PwriteAll(index_fd, extension.bytes, bytes->size(), index_path));
    if (!reason.empty())
      Report(partition, index_name, 0, 0, base + scan.records, "rebuilt the index: " + reason);
    return Status::OK();
  }

  std::string topic_;
  std::string topic_dir_;
  LogOptions options_;
  int lock_fd_;
  std::vector<Partition> parts_;
  int64_t last_sync_ms_;
  bool recovered_ = false;
  Status broken_;
};

// --- the log ---------------------------------------------------------------------------

class EmbeddedLog final : public Log {
 public:
  explicit EmbeddedLog(const LogOptions& options) : options_(options) {}

  const LogOptions& options() const override { return options_; }

  std::string TopicDir(const std::string& topic) const { return options_.dir + "/" + topic; }
  std::string GroupsDir() const { return options_.dir + "/" + kGroupsDir; }
  std::string OffsetsDir(const std::string& group) const { return GroupsDir() + "/" + group + ".offsets"; }

  Status CreateTopic(const std::string& topic, int partitions) override {
    VIGIL_RETURN_IF_ERROR(CheckName("topic", topic));
    if (partitions < 1) {
      return Status::InvalidArgument("topic " + topic + ": partitions must be at least 1, not " +
                                     std::to_string(partitions));
    }
    auto existing = Partitions(topic);
    if (existing.ok()) return SamePartitions(topic, *existing, partitions);
    if (!existing.status().IsNotFound()) return existing.status();
    const std::string dir = TopicDir(topic);
    VIGIL_RETURN_IF_ERROR(MakeDirs(dir));
    VIGIL_RETURN_IF_ERROR(SyncDir(options_.dir));
    for (int p = 0; p < partitions; ++p) VIGIL_RETURN_IF_ERROR(MakeDirs(dir + "/" + std::to_string(p)));
    VIGIL_RETURN_IF_ERROR(SyncDir(dir));
    // link(2), not rename: of two processes creating the topic at once, one wins.
    VIGIL_ASSIGN_OR_RETURN(
        bool created, WriteFileAtomically(dir, kPartitionsFile, std::to_string(partitions) + "\n", false));
    if (created) {
      std::lock_guard<std::mutex> lock(mu_);
      partitions_[topic] = partitions;
      return Status::OK();
    }
    VIGIL_ASSIGN_OR_RETURN(int now, Partitions(topic));
    return SamePartitions(topic, now, partitions);
  }

  Result<int> Partitions(const std::string& topic) override {
    VIGIL_RETURN_IF_ERROR(CheckName("topic", topic));
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = partitions_.find(topic);
      if (it != partitions_.end()) return it->second;
    }
    const std::string path = TopicDir(topic) + "/" + kPartitionsFile;
    auto text = ReadSmallFile(path);
    if (!text.ok()) {
      if (text.status().IsNotFound())
        return Status::NotFound("topic " + topic + " does not exist in " + options_.dir);
      return text.status();
    }
    int n = 0;
    for (char c : *text) {
      if (c == '\n') break;
      if (c < '0' || c > '9' || n > 100000) return Status::Corruption(path + ": not a partition count");
      n = n * 10 + (c - '0');
    }
    if (n < 1 || text->back() != '\n') return Status::Corruption(path + ": not a partition count");
    std::lock_guard<std::mutex> lock(mu_);
    partitions_[topic] = n;
    return n;
  }

  Result<std::unique_ptr<TopicWriter>> OpenWriter(const std::string& topic) override {
    VIGIL_ASSIGN_OR_RETURN(int n, EnsureTopic(topic));
    const std::string lock_path = TopicDir(topic) + "/" + kWriterLockFile;
    VIGIL_ASSIGN_OR_RETURN(int lock_fd, TryLock(lock_path));
    if (lock_fd < 0) {
      return Status::IOError("topic " + topic + " is locked by another writer (flock on " + lock_path +
                             "): one writer per topic; stop the other process first");
    }
    auto w = std::make_unique<EmbeddedTopicWriter>(topic, TopicDir(topic), n, options_, lock_fd);
    VIGIL_RETURN_IF_ERROR(w->Recover().WithContext("open writer of topic " + topic));
    return std::unique_ptr<TopicWriter>(std::move(w));
  }

  Result<std::unique_ptr<TopicReader>> OpenReader(const std::string& topic) override {
    VIGIL_ASSIGN_OR_RETURN(auto r, NewReader(topic));
    return std::unique_ptr<TopicReader>(std::move(r));
  }

  Result<std::unique_ptr<EmbeddedTopicReader>> NewReader(const std::string& topic) {
    VIGIL_ASSIGN_OR_RETURN(int n, EnsureTopic(topic));
    auto r = std::make_unique<EmbeddedTopicReader>(topic, TopicDir(topic), n);
    VIGIL_RETURN_IF_ERROR(r->Init());
    return r;
  }

  Result<std::vector<int64_t>> StartOffsets(const std::string& topic) override {
    VIGIL_ASSIGN_OR_RETURN(int n, Partitions(topic));
    std::vector<int64_t> out;
    for (int p = 0; p < n; ++p) {
      VIGIL_ASSIGN_OR_RETURN(std::vector<int64_t> segments, ListSegments(PartitionDir(topic, p)));
      out.push_back(segments.empty() ? 0 : segments.front());
    }
    return out;
  }

  // The end is the offset after the last valid record of the last segment: what the
  // next record gets once a writer opens (recovery cuts anything after it).
  Result<std::vector<int64_t>> EndOffsets(const std::string& topic) override {
    VIGIL_ASSIGN_OR_RETURN(int n, Partitions(topic));
    std::vector<int64_t> out;
    for (int p = 0; p < n; ++p) {
      const std::string dir = PartitionDir(topic, p);
      VIGIL_ASSIGN_OR_RETURN(std::vector<int64_t> segments, ListSegments(dir));
      if (segments.empty()) {
        out.push_back(0);
        continue;
      }
      const int64_t base = segments.back();
      const std::string log = dir + "/" + SegmentFileName(base, ".log");
      IndexEntry from{0, 0};
      if (auto bytes = ReadSmallFile(dir + "/" + SegmentFileName(base, ".index")); bytes.ok()) {
        SegmentIndex idx = ParseIndex(*bytes, kMaxSegmentBytes + kMaxRecordBody);
        if (idx.well_formed && !idx.entries.empty()) from = idx.entries.back();
      }
      auto none = [](int64_t, uint64_t, const RecordView&) {};
      VIGIL_ASSIGN_OR_RETURN(SegmentScan scan, ScanSegment(log, from.position, from.record, none));
      if (scan.records == from.record && from.position > 0 &&
          scan.stop == SegmentFileReader::Step::kCorrupt) {
        VIGIL_ASSIGN_OR_RETURN(scan, ScanSegment(log, 0, 0, none));  // a damaged index
      }
      out.push_back(base + scan.records);
    }
    return out;
  }

  Result<std::vector<std::string>> ListTopics() override {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(options_.dir, ec)) {
      std::string name = e.path().filename().string();
      if (name.empty() || name[0] == '.') continue;
      std::error_code ec2;
      if (fs::exists(e.path() / kPartitionsFile, ec2)) out.push_back(name);
    }
    if (ec) return Status::IOError("list " + options_.dir + ": " + ec.message());
    std::sort(out.begin(), out.end());
    return out;
  }

  Status Commit(const std::string& group, const std::string& topic,
                const std::vector<int64_t>& next_offsets) override {
    VIGIL_RETURN_IF_ERROR(CheckName("group", group));
    VIGIL_ASSIGN_OR_RETURN(int n, Partitions(topic));
    if (static_cast<int>(next_offsets.size()) != n) {
      return Status::InvalidArgument("commit of group " + group + " for topic " + topic + ": " +
                                     std::to_string(next_offsets.size()) + " offsets for " +
                                     std::to_string(n) + " partitions");
    }
    for (size_t p = 0; p < next_offsets.size(); ++p) {
      if (next_offsets[p] < 0) {
        return Status::InvalidArgument("commit of group " + group + ": negative offset for " + topic + ":" +
                                       std::to_string(p));
      }
    }
    VIGIL_RETURN_IF_ERROR(MakeDirs(OffsetsDir(group)));
    return WriteFileAtomically(OffsetsDir(group), topic, EncodeOffsets(next_offsets), true).status();
  }

  Result<std::vector<int64_t>> Committed(const std::string& group, const std::string& topic) override {
    VIGIL_RETURN_IF_ERROR(CheckName("group", group));
    VIGIL_ASSIGN_OR_RETURN(int n, Partitions(topic));
    VIGIL_ASSIGN_OR_RETURN(std::optional<std::vector<int64_t>> stored, ReadCommitted(group, topic));
    if (!stored) return std::vector<int64_t>(static_cast<size_t>(n), 0);
    if (static_cast<int>(stored->size()) != n) {
      return Status::Corruption("consumer offsets file " + OffsetsDir(group) + "/" + topic + " holds " +
                                std::to_string(stored->size()) + " partitions, the topic has " +
                                std::to_string(n));
    }
    return std::move(*stored);
  }

  // The stored offsets, or nullopt if the group never committed for the topic.
  Result<std::optional<std::vector<int64_t>>> ReadCommitted(const std::string& group,
                                                            const std::string& topic) {
    const std::string path = OffsetsDir(group) + "/" + topic;
    auto text = ReadSmallFile(path);
    if (!text.ok()) {
      if (text.status().IsNotFound()) return std::optional<std::vector<int64_t>>();
      return text.status();
    }
    VIGIL_ASSIGN_OR_RETURN(std::vector<int64_t> offsets, DecodeOffsets(*text, path));
    return std::optional<std::vector<int64_t>>(std::move(offsets));
  }

  Result<std::unique_ptr<GroupConsumer>> Subscribe(const std::string& group,
                                                   const std::vector<std::string>& topics,
                                                   GroupConsumer::Listener listener) override;

  Result<RetentionReport> EnforceRetention(TimestampMs now) override {
    RetentionReport report;
    VIGIL_ASSIGN_OR_RETURN(std::vector<std::string> topics, ListTopics());
    for (const std::string& topic : topics) {
      VIGIL_ASSIGN_OR_RETURN(int n, Partitions(topic));
      std::optional<std::vector<int64_t>> guard;
      if (!options_.retention_guard_group.empty()) {
        VIGIL_ASSIGN_OR_RETURN(guard, ReadCommitted(options_.retention_guard_group, topic));
      }
      for (int p = 0; p < n; ++p) {
        const int64_t guard_offset =
            guard && static_cast<size_t>(p) < guard->size() ? (*guard)[static_cast<size_t>(p)] : INT64_MAX;
        VIGIL_RETURN_IF_ERROR(EnforcePartition(PartitionDir(topic, p), now, guard_offset, &report));
      }
    }
    return report;
  }

 private:
  std::string PartitionDir(const std::string& topic, int p) const {
    return TopicDir(topic) + "/" + std::to_string(p);
  }

  Status SamePartitions(const std::string& topic, int have, int want) {
    if (have == want) return Status::OK();
    return Status::InvalidArgument("topic " + topic + " exists with " + std::to_string(have) +
                                   " partitions, not " + std::to_string(want));
  }

  Result<int> EnsureTopic(const std::string& topic) {
    auto n = Partitions(topic);
    if (n.ok() || !n.status().IsNotFound()) return n;
    VIGIL_RETURN_IF_ERROR(CreateTopic(topic, options_.partitions));
    return Partitions(topic);
  }

  // Deletes the oldest segments of one partition while retention allows; never the last
  // (active) one, never one holding an offset >= guard_offset, and only a prefix (a
  // segment kept keeps every later one).
  Status EnforcePartition(const std::string& dir, TimestampMs now, int64_t guard_offset,
                          RetentionReport* report) {
    VIGIL_ASSIGN_OR_RETURN(std::vector<int64_t> segments, ListSegments(dir));
    if (segments.size() < 2) return Status::OK();
    std::vector<int64_t> sizes;
    int64_t total = 0;
    for (int64_t base : segments) {
      struct stat sb {};
      const std::string path = dir + "/" + SegmentFileName(base, ".log");
      if (::stat(path.c_str(), &sb) != 0) {
        if (errno == ENOENT) return Status::OK();  // another process enforces retention now
        return Status::IOError("stat " + path + ": " + ErrnoText(errno));
      }
      sizes.push_back(sb.st_size);
      total += sb.st_size;
    }
    const bool by_time = options_.retention_ms >= 0;
    const TimestampMs cutoff = now - std::min<DurationMs>(options_.retention_ms, now - kMinTimestamp);
    for (size_t i = 0; i + 1 < segments.size(); ++i) {
      if (segments[i + 1] > guard_offset) break;  // holds offsets the guard group has not read
      bool expired = options_.retention_bytes >= 0 && total > options_.retention_bytes;
      if (!expired && by_time) {
        VIGIL_ASSIGN_OR_RETURN(TimestampMs max_time, SegmentMaxTime(dir, segments[i]));
        expired = max_time < cutoff;
      }
      if (!expired) break;
      const std::string log = dir + "/" + SegmentFileName(segments[i], ".log");
      if (::unlink(log.c_str()) != 0 && errno != ENOENT)
        return Status::IOError("delete " + log + ": " + ErrnoText(errno));
      ::unlink((dir + "/" + SegmentFileName(segments[i], ".index")).c_str());
      total -= sizes[i];
      report->segments_deleted++;
      report->bytes_deleted += sizes[i];
    }
    return Status::OK();
  }

  // A sealed segment's largest record time: from its index seal, else by reading it
  // (remembered per file, as a sealed segment does not change).
  Result<TimestampMs> SegmentMaxTime(const std::string& dir, int64_t base) {
    if (auto seal = ReadSeal(dir + "/" + SegmentFileName(base, ".index"))) return seal->max_time;
    const std::string log = dir + "/" + SegmentFileName(base, ".log");
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = max_time_.find(log);
      if (it != max_time_.end()) return it->second;
    }
    auto none = [](int64_t, uint64_t, const RecordView&) {};
    VIGIL_ASSIGN_OR_RETURN(SegmentScan scan, ScanSegment(log, 0, 0, none));
    std::lock_guard<std::mutex> lock(mu_);
    max_time_[log] = scan.max_time;
    return scan.max_time;
  }

  LogOptions options_;
  std::mutex mu_;
  std::map<std::string, int> partitions_;        // topic -> partitions (never changes)
  std::map<std::string, TimestampMs> max_time_;  // sealed segment without a seal -> largest time
};

// --- consumer group --------------------------------------------------------------------

// The embedded log runs on one machine, so a group has one active member at a time: the
// one holding the flock on <dir>/.groups/<group>.lock. It is assigned every partition of
// every subscribed topic; the others wait (Next returns false) and take over when it
// leaves or its process dies (a failover rebalance).
class EmbeddedGroupConsumer final : public GroupConsumer {
 public:
  EmbeddedGroupConsumer(EmbeddedLog* log, std::string group, std::vector<std::string> topics,
                        Listener listener)
      : log_(log), group_(std::move(group)), topics_(std::move(topics)), listener_(std::move(listener)) {}

  ~EmbeddedGroupConsumer() override { Close().IgnoreError(); }

  Result<bool> Next(LogRecord* rec, std::string* topic, DurationMs wait) override {
    if (closed_) return Status::InvalidArgument("member of group " + group_ + " is closed");
    const int64_t deadline = SteadyMs() + std::max<DurationMs>(wait, 0);
    int64_t pause = 1;
    for (;;) {
      if (lock_fd_ < 0) VIGIL_RETURN_IF_ERROR(TryJoin());
      if (lock_fd_ >= 0) {
        // As the reader does with partitions: a topic found at its end is skipped until
        // every topic is, so idle topics cost no reads per record of a busy one.
        if (topic_at_end_.size() != readers_.size()) topic_at_end_.assign(readers_.size(), 0);
        for (int round = 0; round < 2; ++round) {
          bool skipped = false;
          for (size_t i = 0; i < readers_.size(); ++i) {
            const size_t t = (next_topic_ + i) % readers_.size();
            if (topic_at_end_[t]) {
              skipped = true;
              continue;
            }
            VIGIL_ASSIGN_OR_RETURN(bool got, readers_[t]->Next(rec));
            if (got) {
              *topic = topics_[t];
              next_topic_ = (t + 1) % readers_.size();
              return true;
            }
            topic_at_end_[t] = 1;
          }
          std::fill(topic_at_end_.begin(), topic_at_end_.end(), 0);
          if (!skipped) break;
        }
      }
      const int64_t now = SteadyMs();
      if (now >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(pause, deadline - now)));
      pause = std::min<int64_t>(pause * 2, 20);
    }
  }

  Status Commit(const std::vector<Assignment>& parts, const std::vector<int64_t>& next_offsets) override {
    if (parts.size() != next_offsets.size()) {
      return Status::InvalidArgument("commit of group " + group_ + ": " + std::to_string(parts.size()) +
                                     " partitions and " + std::to_string(next_offsets.size()) + " offsets");
    }
    if (lock_fd_ < 0) {
      return Status::InvalidArgument(
          "member of group " + group_ +
          " has no assignment (another member holds the group): nothing to commit");
    }
    std::map<std::string, std::vector<int64_t>> by_topic;
    for (size_t i = 0; i < parts.size(); ++i) {
      const Assignment& a = parts[i];
      auto assigned = std::find_if(assignment_.begin(), assignment_.end(), [&](const Assignment& x) {
        return x.topic == a.topic && x.partition == a.partition;
      });
      if (assigned == assignment_.end()) {
        return Status::InvalidArgument("group " + group_ + ": " + a.topic + ":" +
                                       std::to_string(a.partition) + " is not assigned to this member");
      }
      auto it = by_topic.find(a.topic);
      if (it == by_topic.end()) {
        VIGIL_ASSIGN_OR_RETURN(std::vector<int64_t> current, log_->Committed(group_, a.topic));
        it = by_topic.emplace(a.topic, std::move(current)).first;
      }
      if (a.partition < 0 || a.partition >= static_cast<int>(it->second.size())) {
        return Status::InvalidArgument("topic " + a.topic + " has no partition " +
                                       std::to_string(a.partition));
      }
      it->second[static_cast<size_t>(a.partition)] = next_offsets[i];
    }
    for (const auto& [t, offsets] : by_topic) VIGIL_RETURN_IF_ERROR(log_->Commit(group_, t, offsets));
    return Status::OK();
  }

  std::vector<Assignment> assignment() const override { return assignment_; }

  Status Close() override {
    if (closed_) return Status::OK();
    closed_ = true;
    Status st;
    if (lock_fd_ >= 0 && listener_.on_revoked) st = listener_.on_revoked(assignment_);
    Leave();
    return st;
  }

 private:
  std::vector<char> topic_at_end_;
  void Leave() {
    readers_.clear();
    assignment_.clear();
    if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock: a waiting member takes over
    lock_fd_ = -1;
  }

  // Becomes the group's active member if no other holds it.
  Status TryJoin() {
    VIGIL_RETURN_IF_ERROR(MakeDirs(log_->GroupsDir()));
    VIGIL_ASSIGN_OR_RETURN(int fd, TryLock(log_->GroupsDir() + "/" + group_ + ".lock"));
    if (fd < 0) return Status::OK();
    lock_fd_ = fd;
    Status st = Assign();
    if (!st.ok()) Leave();
    return st;
  }

  Status Assign() {
    std::vector<Assignment> assigned;
    for (const std::string& t : topics_) {
      VIGIL_ASSIGN_OR_RETURN(int n, log_->Partitions(t));
      for (int p = 0; p < n; ++p) assigned.push_back({t, p});
    }
    std::vector<int64_t> start(assigned.size(), -1);
    if (listener_.on_assigned) VIGIL_RETURN_IF_ERROR(listener_.on_assigned(assigned, &start));
    if (start.size() != assigned.size()) {
      return Status::InvalidArgument("group " + group_ + ": on_assigned left " +
                                     std::to_string(start.size()) + " start offsets for " +
                                     std::to_string(assigned.size()) + " partitions");
    }
    size_t i = 0;
    for (const std::string& t : topics_) {
      VIGIL_ASSIGN_OR_RETURN(auto reader, log_->NewReader(t));
      VIGIL_ASSIGN_OR_RETURN(std::vector<int64_t> committed, log_->Committed(group_, t));
      for (int p = 0; p < reader->partitions(); ++p, ++i) {
        int64_t from = start[i];
        if (from < 0) {
          // The committed offset; if retention deleted it, the partition's start (what
          // Kafka's auto.offset.reset=earliest does), said on stderr.
          from = committed[static_cast<size_t>(p)];
          const int64_t first = reader->Position(p);
          if (from < first) {
            if (from > 0) {
              std::fprintf(stderr,
                           "vigil: log: group %s: offset %" PRId64
                           " of %s:%d was deleted by retention; reading from %" PRId64 "\n",
                           group_.c_str(), from, t.c_str(), p, first);
            }
            from = first;
          }
        }
        VIGIL_RETURN_IF_ERROR(reader->Seek(p, from).WithContext("group " + group_));
      }
      readers_.push_back(std::move(reader));
    }
    assignment_ = std::move(assigned);
    return Status::OK();
  }

  EmbeddedLog* log_;
  std::string group_;
  std::vector<std::string> topics_;
  Listener listener_;
  int lock_fd_ = -1;  // held while this member is the active one
  bool closed_ = false;
  std::vector<Assignment> assignment_;
  std::vector<std::unique_ptr<EmbeddedTopicReader>> readers_;  // parallel to topics_
  size_t next_topic_ = 0;
};

Result<std::unique_ptr<GroupConsumer>> EmbeddedLog::Subscribe(const std::string& group,
                                                              const std::vector<std::string>& topics,
                                                              GroupConsumer::Listener listener) {
  VIGIL_RETURN_IF_ERROR(CheckName("group", group));
  if (topics.empty()) return Status::InvalidArgument("group " + group + ": no topics to subscribe to");
  for (const std::string& t : topics) VIGIL_RETURN_IF_ERROR(EnsureTopic(t).status());
  return std::unique_ptr<GroupConsumer>(new EmbeddedGroupConsumer(this, group, topics, std::move(listener)));
}

}  // namespace

std::vector<RecoveryReport> TakeRecoveryReports() {
  std::lock_guard<std::mutex> lock(g_reports_mu);
  std::vector<RecoveryReport> out = std::move(*g_reports);
  g_reports->clear();
  return out;
}

int64_t SegmentSyncCount() { return g_segment_syncs.load(std::memory_order_relaxed); }

Result<std::unique_ptr<Log>> OpenEmbeddedLog(const LogOptions& options) {
  if (options.dir.empty())
    return Status::InvalidArgument("log.dir is empty: the embedded log needs a directory");
  if (options.segment_bytes < 1 || options.segment_bytes > kMaxSegmentBytes) {
    return Status::InvalidArgument("log.segment_bytes must be between 1 and " +
                                   std::to_string(kMaxSegmentBytes) + ", not " +
                                   std::to_string(options.segment_bytes));
  }
  if (options.segment_ms < 1) return Status::InvalidArgument("log.segment_ms must be positive");
  if (options.index_interval_bytes < 0)
    return Status::InvalidArgument("log.index_interval_bytes must not be negative");
  if (options.fsync_interval < 0) return Status::InvalidArgument("log.fsync_interval must not be negative");
  if (!options.retention_guard_group.empty())
    VIGIL_RETURN_IF_ERROR(CheckName("retention guard group", options.retention_guard_group));
  VIGIL_RETURN_IF_ERROR(MakeDirs(options.dir));
  return std::unique_ptr<Log>(new EmbeddedLog(options));
}

}  // namespace vigil::log_internal
