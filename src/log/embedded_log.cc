#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "log/log.h"
#include "schema/row_codec.h"

namespace vigil {
namespace {

namespace fs = std::filesystem;

constexpr size_t kHeader = 8;  // crc + body length
constexpr uint32_t kMaxBody = 256u << 20;
constexpr char kSegment[] = "00000000000000000000.log";

uint32_t Load32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
void Put32(std::string* out, uint32_t v) { out->append(reinterpret_cast<const char*>(&v), 4); }

std::string ErrnoText() { return std::strerror(errno); }

// Parses a record body into rec (key, append time, payload views).
bool ParseBody(std::string_view body, LogRecord* rec) {
  auto klen_or = GetVarint64(&body);
  if (!klen_or.ok()) return false;
  uint64_t klen = *klen_or;
  if (klen > body.size() || body.size() - klen < 8) return false;
  rec->key = body.substr(0, klen);
  body.remove_prefix(klen);
  int64_t t;
  std::memcpy(&t, body.data(), 8);
  rec->append_time = t;
  rec->payload = body.substr(8);
  return true;
}

// Sequential reader over one segment file, reading big blocks with pread.
class FileTopicReader final : public TopicReader {
 public:
  FileTopicReader(std::string topic, std::string path) : topic_(std::move(topic)), path_(std::move(path)) {}
  ~FileTopicReader() override {
    if (fd_ >= 0) ::close(fd_);
  }

  Status Seek(int64_t offset) override {
    pos_ = 0;
    offset_ = 0;
    buf_end_ = 0;
    buf_file_pos_ = 0;
    LogRecord rec;
    while (offset_ < offset) {
      auto more = Next(&rec);
      if (!more.ok()) return more.status();
      if (!*more) {
        return Status::InvalidArgument("topic " + topic_ + ": offset " + std::to_string(offset) +
                                       " is past the end (" + std::to_string(offset_) + ")");
      }
    }
    return Status::OK();
  }

  // File position just after the last record read.
  uint64_t position() const { return pos_; }

  Result<bool> Next(LogRecord* rec) override {
    if (fd_ < 0) {
      fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd_ < 0) {
        if (errno == ENOENT) return false;  // nobody wrote yet
        return Status::IOError("open " + path_ + ": " + ErrnoText());
      }
    }
    auto have = EnsureBuffered(kHeader);
    if (!have.ok()) return have.status();
    if (!*have) return false;
    const char* h = buf_.data() + (pos_ - buf_file_pos_);
    uint32_t crc = Load32(h);
    uint32_t len = Load32(h + 4);
    if (len > kMaxBody) return Corrupt("record length " + std::to_string(len));
    have = EnsureBuffered(kHeader + len);
    if (!have.ok()) return have.status();
    if (!*have) return false;  // a record still being written: not visible yet
    h = buf_.data() + (pos_ - buf_file_pos_);
    std::string_view body(h + kHeader, len);
    if (Crc32c(body) != crc) return Corrupt("checksum mismatch");
    if (!ParseBody(body, rec)) return Corrupt("malformed record body");
    rec->offset = offset_++;
    pos_ += kHeader + len;
    return true;
  }

 private:
  Status Corrupt(const std::string& why) {
    return Status::Corruption("topic " + topic_ + " offset " + std::to_string(offset_) + " (byte " +
                              std::to_string(pos_) + "): " + why);
  }

  // Makes [pos_, pos_ + n) resident in buf_. False if the file is shorter.
  Result<bool> EnsureBuffered(size_t n) {
    if (pos_ >= buf_file_pos_ && pos_ + n <= buf_file_pos_ + buf_end_) return true;
    // Slide: keep the unread tail, read more after it.
    size_t keep_from = pos_ - buf_file_pos_;
    size_t kept = keep_from <= buf_end_ ? buf_end_ - keep_from : 0;
    if (kept > 0) std::memmove(buf_.data(), buf_.data() + keep_from, kept);
    buf_file_pos_ = pos_;
    buf_end_ = kept;
    size_t want = std::max<size_t>(n, kBlock);
    if (buf_.size() < want) buf_.resize(want);
    while (buf_end_ < n) {
      ssize_t r = ::pread(fd_, buf_.data() + buf_end_, buf_.size() - buf_end_,
                          static_cast<off_t>(buf_file_pos_ + buf_end_));
      if (r < 0) {
        if (errno == EINTR) continue;
        return Status::IOError("read " + path_ + ": " + ErrnoText());
      }
      if (r == 0) return false;
      buf_end_ += static_cast<size_t>(r);
    }
    return true;
  }

  static constexpr size_t kBlock = 4 << 20;
  std::string topic_;
  std::string path_;
  int fd_ = -1;
  uint64_t pos_ = 0;    // file position of the next record
  int64_t offset_ = 0;  // its offset
  std::string buf_;
  uint64_t buf_file_pos_ = 0;  // file position of buf_[0]
  size_t buf_end_ = 0;
};

class FileTopicWriter final : public TopicWriter {
 public:
  FileTopicWriter(std::string path, int fd, int64_t end) : path_(std::move(path)), fd_(fd), end_(end) {}
  ~FileTopicWriter() override {
    Flush(false).IgnoreError();
    ::close(fd_);
  }
  Result<int64_t> Append(std::string_view key, std::string_view payload) override {
    body_.clear();
    PutVarint64(&body_, key.size());
    body_.append(key);
    int64_t now = WallClockMs();
    body_.append(reinterpret_cast<const char*>(&now), 8);
    body_.append(payload);
    if (body_.size() > kMaxBody) {
      return Status::InvalidArgument("record of " + std::to_string(body_.size()) + " bytes is over the " +
                                     std::to_string(kMaxBody) + "-byte limit");
    }
    Put32(&out_, Crc32c(body_));
    Put32(&out_, static_cast<uint32_t>(body_.size()));
    out_.append(body_);
    if (out_.size() >= (1u << 20)) VIGIL_RETURN_IF_ERROR(Flush(false));
    return end_++;
  }
  Status Flush(bool sync) override {
    size_t done = 0;
    while (done < out_.size()) {
      ssize_t w = ::write(fd_, out_.data() + done, out_.size() - done);
      if (w < 0) {
        if (errno == EINTR) continue;
        return Status::IOError("write " + path_ + ": " + ErrnoText());
      }
      done += static_cast<size_t>(w);
    }
    out_.clear();
    if (sync && ::fdatasync(fd_) != 0) return Status::IOError("fsync " + path_ + ": " + ErrnoText());
    return Status::OK();
  }
  int64_t end_offset() const override { return end_; }

 private:
  std::string path_;
  int fd_;
  int64_t end_;
  std::string out_;
  std::string body_;
};

}  // namespace

Result<std::unique_ptr<Log>> Log::Open(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError("create " + dir + ": " + ec.message());
  return std::unique_ptr<Log>(new Log(dir));
}

Log::~Log() = default;

std::string Log::TopicDir(const std::string& topic) const { return (fs::path(dir_) / topic).string(); }

Result<std::unique_ptr<TopicWriter>> Log::OpenWriter(const std::string& topic) {
  std::error_code ec;
  fs::create_directories(TopicDir(topic), ec);
  if (ec) return Status::IOError("create " + TopicDir(topic) + ": " + ec.message());
  std::string path = TopicDir(topic) + "/" + kSegment;
  // Validate the whole segment: the end is after the last record whose checksum holds.
  int64_t end = 0;
  uint64_t valid_bytes = 0;
  {
    FileTopicReader reader(topic, path);
    LogRecord rec;
    while (true) {
      auto more = reader.Next(&rec);
      if (!more.ok()) {
        if (!more.status().IsCorruption()) return more.status();
        break;  // keep what precedes the corruption
      }
      if (!*more) break;
      ++end;
      valid_bytes = reader.position();
    }
  }
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError("open " + path + ": " + ErrnoText());
  struct stat st {};
  if (::fstat(fd, &st) == 0 && static_cast<uint64_t>(st.st_size) > valid_bytes) {
    std::fprintf(stderr,
                 "vigil: log: topic %s: truncated a torn or corrupt tail of %llu bytes after offset %lld\n",
                 topic.c_str(), static_cast<unsigned long long>(st.st_size - valid_bytes),
                 static_cast<long long>(end));
    if (::ftruncate(fd, static_cast<off_t>(valid_bytes)) != 0) {
      ::close(fd);
      return Status::IOError("truncate " + path + ": " + ErrnoText());
    }
  }
  if (::lseek(fd, 0, SEEK_END) < 0) {
    ::close(fd);
    return Status::IOError("seek " + path + ": " + ErrnoText());
  }
  return std::unique_ptr<TopicWriter>(new FileTopicWriter(path, fd, end));
}

Result<std::unique_ptr<TopicReader>> Log::OpenReader(const std::string& topic) {
  return std::unique_ptr<TopicReader>(new FileTopicReader(topic, TopicDir(topic) + "/" + kSegment));
}

Result<int64_t> Log::EndOffset(const std::string& topic) {
  FileTopicReader reader(topic, TopicDir(topic) + "/" + kSegment);
  LogRecord rec;
  int64_t n = 0;
  while (true) {
    VIGIL_ASSIGN_OR_RETURN(bool more, reader.Next(&rec));
    if (!more) return n;
    ++n;
  }
}

std::vector<std::string> Log::ListTopics() const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    if (e.is_directory()) out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

Status Log::Commit(const std::string& group, const std::string& topic, int64_t next_offset) {
  std::string dir = (fs::path(dir_) / "__consumer_offsets" / group).string();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError("create " + dir + ": " + ec.message());
  std::string path = dir + "/" + topic;
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << next_offset << "\n";
    if (!out.flush()) return Status::IOError("write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return Status::IOError("rename " + tmp + ": " + ErrnoText());
  return Status::OK();
}

Result<int64_t> Log::Committed(const std::string& group, const std::string& topic) {
  std::ifstream in((fs::path(dir_) / "__consumer_offsets" / group / topic).string());
  if (!in) return int64_t{0};
  int64_t v = 0;
  if (!(in >> v) || v < 0) return Status::Corruption("consumer offset file of " + group + "/" + topic);
  return v;
}

}  // namespace vigil
