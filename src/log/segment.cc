#include "log/segment.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "log/log.h"

namespace vigil::log_internal {
namespace {

constexpr size_t kMinBuffer = 64 << 10;
constexpr size_t kMaxBuffer = 1 << 20;

uint32_t Load32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
void Put32(std::string* out, uint32_t v) { out->append(reinterpret_cast<const char*>(&v), 4); }

size_t VarintBytes(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

}  // namespace

std::string ErrnoText(int err) { return std::strerror(err); }

size_t RecordBytes(std::string_view key, std::string_view payload) {
  return kRecordHeaderBytes + VarintBytes(key.size()) + key.size() + 8 + payload.size();
}

void AppendRecord(std::string* out, std::string_view key, std::string_view payload, TimestampMs time) {
  const size_t body = VarintBytes(key.size()) + key.size() + 8 + payload.size();
  const size_t at = out->size();
  out->resize(at + kRecordHeaderBytes + body);
  char* p = out->data() + at + kRecordHeaderBytes;
  char* const body_start = p;
  uint64_t v = key.size();
  while (v >= 0x80) {
    *p++ = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  if (!key.empty()) std::memcpy(p, key.data(), key.size());
  p += key.size();
  std::memcpy(p, &time, 8);
  p += 8;
  if (!payload.empty()) std::memcpy(p, payload.data(), payload.size());
  const uint32_t crc = Crc32c(std::string_view(body_start, body));
  const uint32_t len = static_cast<uint32_t>(body);
  std::memcpy(out->data() + at, &crc, 4);
  std::memcpy(out->data() + at + 4, &len, 4);
}

DecodeResult DecodeRecord(const char* p, size_t n, RecordView* rec, size_t* need, const char** why) {
  if (n < kRecordHeaderBytes) {
    *need = kRecordHeaderBytes;
    return DecodeResult::kIncomplete;
  }
  const uint32_t crc = Load32(p);
  const uint32_t len = Load32(p + 4);
  if (len < kMinRecordBody) {
    *why = "record length below the 9-byte minimum (zeros or a damaged header)";
    return DecodeResult::kCorrupt;
  }
  if (len > kMaxRecordBody) {
    *why = "record length over the 256 MiB limit (a damaged header)";
    return DecodeResult::kCorrupt;
  }
  if (n - kRecordHeaderBytes < len) {
    *need = kRecordHeaderBytes + len;
    return DecodeResult::kIncomplete;
  }
  const char* body = p + kRecordHeaderBytes;
  if (Crc32c(std::string_view(body, len)) != crc) {
    *why = "checksum mismatch";
    return DecodeResult::kCorrupt;
  }
  // Key length varint: at most 10 bytes, and inside the body.
  uint64_t klen = 0;
  size_t i = 0;
  for (;; ++i) {
    if (i == 10 || i >= len) {
      *why = "malformed key length";
      return DecodeResult::kCorrupt;
    }
    const uint8_t b = static_cast<uint8_t>(body[i]);
    klen |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if (b < 0x80) break;
  }
  ++i;
  if (klen > len - i || len - i - klen < 8) {
    *why = "key length past the end of the record";
    return DecodeResult::kCorrupt;
  }
  rec->key = std::string_view(body + i, klen);
  std::memcpy(&rec->time, body + i + klen, 8);
  rec->payload = std::string_view(body + i + klen + 8, len - i - klen - 8);
  rec->bytes = kRecordHeaderBytes + len;
  return DecodeResult::kRecord;
}

std::string SegmentFileName(int64_t base, std::string_view ext) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020lld", static_cast<long long>(base));
  return std::string(buf) + std::string(ext);
}

bool ParseSegmentFileName(std::string_view name, int64_t* base) {
  if (name.size() != 24 || name.substr(20) != ".log") return false;
  int64_t v = 0;
  for (size_t i = 0; i < 20; ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
    if (v > (INT64_MAX - 9) / 10) return false;
    v = v * 10 + (name[i] - '0');
  }
  *base = v;
  return true;
}

Result<std::vector<int64_t>> ListSegments(const std::string& partition_dir) {
  std::vector<int64_t> out;
  DIR* d = ::opendir(partition_dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return out;
    return Status::IOError("list " + partition_dir + ": " + ErrnoText(errno));
  }
  while (struct dirent* e = ::readdir(d)) {
    int64_t base;
    if (ParseSegmentFileName(e->d_name, &base)) out.push_back(base);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

SegmentIndex ParseIndex(std::string_view bytes, uint64_t segment_bytes) {
  SegmentIndex idx;
  size_t n = bytes.size();
  if (n % kIndexEntryBytes != 0) {
    if (n < kIndexSealBytes || (n - kIndexSealBytes) % kIndexEntryBytes != 0) return idx;
    const char* s = bytes.data() + n - kIndexSealBytes;
    if (Load32(s) != kIndexSealMarker || Crc32c(std::string_view(s, 16)) != Load32(s + 16)) return idx;
    SegmentSeal seal;
    seal.records = Load32(s + 4);
    std::memcpy(&seal.max_time, s + 8, 8);
    idx.seal = seal;
    n -= kIndexSealBytes;
  }
  idx.entries.reserve(n / kIndexEntryBytes);
  for (size_t at = 0; at < n; at += kIndexEntryBytes) {
    IndexEntry e{Load32(bytes.data() + at), Load32(bytes.data() + at + 4)};
    if (e.position >= segment_bytes) return SegmentIndex{};
    if (!idx.entries.empty() &&
        (e.record <= idx.entries.back().record || e.position <= idx.entries.back().position)) {
      return SegmentIndex{};
    }
    idx.entries.push_back(e);
  }
  if (idx.seal && !idx.entries.empty() && idx.seal->records <= idx.entries.back().record)
    return SegmentIndex{};
  idx.well_formed = true;
  return idx;
}

void AppendIndexEntry(std::string* out, IndexEntry e) {
  Put32(out, e.record);
  Put32(out, e.position);
}

void AppendIndexSeal(std::string* out, SegmentSeal seal) {
  const size_t at = out->size();
  Put32(out, kIndexSealMarker);
  Put32(out, seal.records);
  out->append(reinterpret_cast<const char*>(&seal.max_time), 8);
  Put32(out, Crc32c(std::string_view(out->data() + at, 16)));
}

const IndexEntry* FindIndexEntry(const std::vector<IndexEntry>& entries, uint32_t record) {
  auto it = std::upper_bound(entries.begin(), entries.end(), record,
                             [](uint32_t r, const IndexEntry& e) { return r < e.record; });
  return it == entries.begin() ? nullptr : &*(it - 1);
}

// --- SegmentFileReader -----------------------------------------------------------------

SegmentFileReader::~SegmentFileReader() { Close(); }

Status SegmentFileReader::Open(const std::string& path, uint64_t position) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) return Status::NotFound(path);
    return Status::IOError("open " + path + ": " + ErrnoText(err));
  }
  Close();
  fd_ = fd;
  path_ = path;
  SeekTo(position);
  return Status::OK();
}

void SegmentFileReader::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  begin_ = end_ = 0;
  pos_ = 0;
}

void SegmentFileReader::SeekTo(uint64_t position) {
  pos_ = position;
  begin_ = end_ = 0;
}

Status SegmentFileReader::Fill(size_t need) {
  // Re-read from pos_ rather than keep a partial record: what follows the last complete
  // record may have been rewritten (a recovering writer truncates a torn tail).
  size_t want = std::max(need, cap_ == 0 ? kMinBuffer : cap_);
  if (want > cap_) {
    buf_.reset(new char[want]);
    cap_ = want;
  }
  size_t got = 0;
  while (got < need) {
    ssize_t r = ::pread(fd_, buf_.get() + got, cap_ - got, static_cast<off_t>(pos_ + got));
    if (r < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      begin_ = end_ = 0;
      return Status::IOError("read " + path_ + " at byte " + std::to_string(pos_ + got) + ": " +
                             ErrnoText(err));
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  begin_ = 0;
  end_ = got;
  // A read that filled the buffer means a backlog: read more at once next time.
  if (got == cap_ && cap_ < kMaxBuffer) {
    size_t grown = std::min(cap_ * 2, kMaxBuffer);
    std::unique_ptr<char[]> bigger(new char[grown]);
    std::memcpy(bigger.get(), buf_.get(), got);
    buf_ = std::move(bigger);
    cap_ = grown;
  }
  return Status::OK();
}

Result<SegmentFileReader::Step> SegmentFileReader::Next(RecordView* rec) {
  size_t need = 0;
  size_t filled_for = 0;  // the `need` of this call's last read from pos_
  for (;;) {
    DecodeResult r = DecodeRecord(buf_.get() + begin_, end_ - begin_, rec, &need, &why_);
    if (r == DecodeResult::kRecord) {
      begin_ += rec->bytes;
      pos_ += rec->bytes;
      return Step::kRecord;
    }
    if (r == DecodeResult::kCorrupt) {
      begin_ = end_ = 0;
      return Step::kCorrupt;
    }
    if (filled_for >= need) {  // read from pos_ for `need` bytes, got fewer: the file ends
      const bool clean = end_ == begin_;
      begin_ = end_ = 0;
      return clean ? Step::kEnd : Step::kTorn;
    }
    VIGIL_RETURN_IF_ERROR(Fill(need));
    filled_for = need;
  }
}

// --- small file helpers ----------------------------------------------------------------

Status PwriteAll(int fd, std::string_view data, uint64_t position, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t w = ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(position + done));
    if (w < 0) {
      if (errno == EINTR) continue;
      return Status::IOError("write " + path + ": " + ErrnoText(errno));
    }
    done += static_cast<size_t>(w);
  }
  return Status::OK();
}

Result<std::string> ReadSmallFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) return Status::NotFound(path);
    return Status::IOError("open " + path + ": " + ErrnoText(err));
  }
  std::string out;
  char buf[64 << 10];
  for (;;) {
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return Status::IOError("read " + path + ": " + ErrnoText(err));
    }
    if (r == 0) break;
    out.append(buf, static_cast<size_t>(r));
  }
  ::close(fd);
  return out;
}

Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::IOError("open " + dir + ": " + ErrnoText(errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return Status::IOError("fsync " + dir + ": " + ErrnoText(err));
  return Status::OK();
}

}  // namespace vigil::log_internal
