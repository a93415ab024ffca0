// Helpers for the end-to-end tests in tests/: scratch directories, running build/vigil
// and the DuckDB oracle as child processes, comparing CSV outputs, reproducible test data
// (Rng, IsoText) and reading what vigil left behind (IngestCounts, ReadTopic). Test code
// only: failures are reported through gtest (ADD_FAILURE), never thrown.
#pragma once

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "log/log.h"
#include "spec/definitions.h"

extern char** environ;

namespace vigil::e2e {

// A fresh directory under /tmp (e.g. /tmp/vigil-oracle-Ab12Cd), removed with everything in
// it on destruction, unless the environment sets VIGIL_KEEP_TMP (then its path is printed
// to stderr, for a post-mortem). Not copyable.
class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "vigil");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path()/relative.
  std::string Path(std::string_view relative) const;

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;  // the child's exit status; 128 + signal if killed; -1 if not run
  std::string out;     // everything written to stdout
  std::string err;     // everything written to stderr
  // "exit 1; stderr: ...", for failure messages.
  std::string Describe() const;
};

// Runs `command` with /bin/sh -c, capturing stdout and stderr separately (read
// concurrently, so a chatty child cannot deadlock on a full pipe). The child runs in its
// own process group; after `timeout_s` seconds the group is killed and exit_code is
// 128 + SIGKILL, with a note appended to err.
CommandResult RunCommand(const std::string& command, int timeout_s = 300);

// Quotes `arg` for /bin/sh: 'it'"'"'s'.
std::string ShellQuote(std::string_view arg);
// Joins quoted arguments with spaces.
std::string ShellJoin(const std::vector<std::string>& args);

// Write / read a whole file. A failure is a gtest failure (ADD_FAILURE) naming the path;
// ReadFile then returns "". WriteFile creates missing parent directories.
void WriteFile(const std::string& path, std::string_view content);
std::string ReadFile(const std::string& path);

// RFC 4180: comma-separated, "quoted" cells with "" for a quote, CRLF or LF line ends.
// A final line break does not start a row. Does not fail: an unterminated quote ends at
// the end of the text.
std::vector<std::vector<std::string>> ParseCsv(std::string_view text);
// One CSV line (no line break), quoting the cells that need it.
std::string CsvLine(const std::vector<std::string>& cells);

// Compares two CSV texts: same header, same number of rows, and per cell the same text,
// or, when both cells parse as numbers, |a - b| <= rel_tol * max(|a|, |b|) or both
// |a|, |b| <= abs_tiny. Null (empty) never equals 0. The failure message lists the first
// 20 mismatching cells with their row (1 = first data row), column name and both values.
::testing::AssertionResult CsvMatches(std::string_view actual, std::string_view expected,
                                      double rel_tol = 1e-9, double abs_tiny = 1e-12);
inline void ExpectCsvEqual(std::string_view actual, std::string_view expected, double rel_tol = 1e-9) {
  EXPECT_TRUE(CsvMatches(actual, expected, rel_tol));
}

// The vigil executable: $VIGIL_BINARY if set, else the one this test was built with.
std::string VigilBinary();
// The source tree (for tools/node/oracle.mjs).
std::string SourceDir();

// `vigil --project <project> <args...>`.
CommandResult RunVigil(const std::string& project, const std::vector<std::string>& args, int timeout_s = 300);
// `node <source>/tools/node/oracle.mjs <spec> <out>`.
CommandResult RunOracle(const std::string& spec_json, const std::string& out_csv, int timeout_s = 300);

// Shortest text that parses back to the same double ("0.1", "1e+15").
std::string DoubleText(double v);
// Escapes `s` as a JSON string literal, with the quotes.
std::string JsonString(std::string_view s);

// A sanitizer build (a Debug vigil under ASan/UBSan, ~20x slower): the end-to-end tests it
// runs use smaller projects with the same steps and checks, and skip timing bounds.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif

// Durations in milliseconds, the unit of every timestamp in the tests.
inline constexpr int64_t kSecond = 1000;
inline constexpr int64_t kMinute = 60 * kSecond;
inline constexpr int64_t kHour = 60 * kMinute;
inline constexpr int64_t kDay = 24 * kHour;

// splitmix64: the same sequence on every platform and standard library.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [lo, hi].
  int64_t Uniform(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(Next() % static_cast<uint64_t>(hi - lo + 1));
  }
  double Real() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  bool Chance(double p) { return Real() < p; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[static_cast<size_t>(Uniform(0, static_cast<int64_t>(v.size()) - 1))];
  }

 private:
  uint64_t state_;
};

// `ms` (since the epoch) written in the zone `offset_min` east of UTC:
// "2024-01-01T02:00:00.250+02:00". `sep` goes between date and time; milliseconds are
// written if `show_ms` or non-zero; UTC is "Z" if `show_ms`, else "+00:00".
std::string IsoText(int64_t ms, int offset_min, char sep = 'T', bool show_ms = true);

// "txns: accepted 12, rejected 0 (...)", as `vigil ingest` prints it -> {12, 0};
// {-1, -1} if `out` has no such counts.
std::pair<int64_t, int64_t> IngestCounts(const std::string& out);

// The records of a topic of the project's embedded log (<project>/.vigil/log), read
// through vigil::Log from the start to the current end. A failure to open or read is a
// gtest failure (ADD_FAILURE); the records read until then are returned.
struct TopicRecord {
  std::string key;
  std::string payload;
};
std::vector<TopicRecord> ReadTopic(const std::string& project, const std::string& topic);

// ---------------------------------------------------------------------------------------
// Implementation. Inline, so that every tests/*_test.cc can use it without a build change.

inline TempDir::TempDir(std::string_view prefix) {
  std::string tmpl = "/tmp/" + std::string(prefix) + "-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp " << tmpl << ": " << std::strerror(errno);
    return;
  }
  path_ = tmpl;
}

inline TempDir::~TempDir() {
  if (path_.empty()) return;
  if (std::getenv("VIGIL_KEEP_TMP") != nullptr) {
    fprintf(stderr, "VIGIL_KEEP_TMP: kept %s\n", path_.c_str());
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

inline std::string TempDir::Path(std::string_view relative) const {
  return (std::filesystem::path(path_) / relative).string();
}

inline std::string CommandResult::Describe() const {
  std::string s = "exit " + std::to_string(exit_code);
  auto tail = [](const std::string& t) { return t.size() > 4000 ? "..." + t.substr(t.size() - 4000) : t; };
  if (!err.empty()) s += "; stderr: " + tail(err);
  if (!out.empty()) s += "; stdout: " + tail(out);
  return s;
}

namespace internal {

inline int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1'000'000;
}

}  // namespace internal

inline CommandResult RunCommand(const std::string& command, int timeout_s) {
  CommandResult result;
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    result.err = std::string("pipe: ") + std::strerror(errno);
    return result;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);  // its own group, so a timeout kills its children too

  const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
  pid_t pid = -1;
  int rc = posix_spawn(&pid, "/bin/sh", &actions, &attr, const_cast<char**>(argv), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (rc != 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    result.err = std::string("posix_spawn: ") + std::strerror(rc);
    return result;
  }

  const int64_t deadline = internal::NowMs() + int64_t{timeout_s} * 1000;
  bool timed_out = false;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    int64_t left = deadline - internal::NowMs();
    if (left <= 0) {
      timed_out = true;
      kill(-pid, SIGKILL);
      break;
    }
    int n = poll(fds, 2, static_cast<int>(std::min<int64_t>(left, 1000)));
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      ssize_t got = read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        sinks[i]->append(buf, static_cast<size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.exit_code = 128 + WTERMSIG(status);
  }
  if (timed_out) {
    result.err += "\n[killed after " + std::to_string(timeout_s) + " s: " + command + "]";
  }
  return result;
}

inline std::string ShellQuote(std::string_view arg) {
  std::string s = "'";
  for (char c : arg) {
    if (c == '\'') {
      s += "'\"'\"'";
    } else {
      s += c;
    }
  }
  return s + "'";
}

inline std::string ShellJoin(const std::vector<std::string>& args) {
  std::string s;
  for (const auto& a : args) {
    if (!s.empty()) s += ' ';
    s += ShellQuote(a);
  }
  return s;
}

inline void WriteFile(const std::string& path, std::string_view content) {
  std::error_code ec;
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(content.data(), static_cast<std::streamsize>(content.size()));
  f.close();
  if (!f) ADD_FAILURE() << "cannot write " << path;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    ADD_FAILURE() << "cannot read " << path;
    return "";
  }
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

inline std::vector<std::vector<std::string>> ParseCsv(std::string_view text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string cell;
  bool quoted = false;
  bool any = false;  // the current row has content: a blank last line is not a row
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          cell += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        cell += c;
      }
      continue;
    }
    switch (c) {
      case '"':
        quoted = true;
        any = true;
        break;
      case ',':
        row.push_back(std::move(cell));
        cell.clear();
        any = true;
        break;
      case '\r':
        if (i + 1 < text.size() && text[i + 1] == '\n') break;  // CRLF: the LF ends the row
        cell += c;
        any = true;
        break;
      case '\n':
        row.push_back(std::move(cell));
        cell.clear();
        rows.push_back(std::move(row));
        row.clear();
        any = false;
        break;
      default:
        cell += c;
        any = true;
    }
  }
  if (any) {
    row.push_back(std::move(cell));
    rows.push_back(std::move(row));
  }
  return rows;
}

inline std::string CsvLine(const std::vector<std::string>& cells) {
  std::string line;
  for (size_t i = 0; i < cells.size(); ++i) {
    if (i > 0) line += ',';
    const std::string& c = cells[i];
    if (c.find_first_of(",\"\r\n") == std::string::npos) {
      line += c;
      continue;
    }
    line += '"';
    for (char ch : c) {
      if (ch == '"') line += '"';
      line += ch;
    }
    line += '"';
  }
  return line;
}

namespace internal {

// The whole cell as a finite number ("3", "-0.5", "1e+15"), or false.
inline bool ParseNumber(const std::string& s, double* out) {
  if (s.empty()) return false;
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, *out);
  return ec == std::errc() && ptr == end && std::isfinite(*out);
}

inline bool CellsMatch(const std::string& a, const std::string& b, double rel_tol, double abs_tiny) {
  if (a == b) return true;
  double x, y;
  if (!ParseNumber(a, &x) || !ParseNumber(b, &y)) return false;
  double scale = std::max(std::fabs(x), std::fabs(y));
  if (std::fabs(x - y) <= rel_tol * scale) return true;
  return std::fabs(x) <= abs_tiny && std::fabs(y) <= abs_tiny;
}

}  // namespace internal

inline ::testing::AssertionResult CsvMatches(std::string_view actual, std::string_view expected,
                                             double rel_tol, double abs_tiny) {
  auto a = ParseCsv(actual);
  auto e = ParseCsv(expected);
  if (e.empty()) return ::testing::AssertionFailure() << "the expected CSV has no header";
  if (a.empty()) return ::testing::AssertionFailure() << "the actual CSV is empty";
  if (a[0] != e[0]) {
    return ::testing::AssertionFailure()
           << "headers differ:\n  actual:   " << CsvLine(a[0]) << "\n  expected: " << CsvLine(e[0]);
  }
  const auto& header = e[0];
  std::ostringstream msg;
  size_t mismatches = 0;
  if (a.size() != e.size()) {
    msg << "row counts differ: actual " << a.size() - 1 << ", expected " << e.size() - 1 << " data rows\n";
    ++mismatches;
  }
  size_t reported = 0;
  const size_t rows = std::min(a.size(), e.size());
  for (size_t r = 1; r < rows; ++r) {
    const size_t cols = std::max({a[r].size(), e[r].size(), header.size()});
    for (size_t c = 0; c < cols; ++c) {
      static const std::string kMissing = "<missing>";
      const std::string& av = c < a[r].size() ? a[r][c] : kMissing;
      const std::string& ev = c < e[r].size() ? e[r][c] : kMissing;
      if (internal::CellsMatch(av, ev, rel_tol, abs_tiny)) continue;
      ++mismatches;
      if (reported++ >= 20) continue;
      // The row's leading cells (keys and ts, by convention) give the context.
      std::string context;
      for (size_t k = 0; k < std::min<size_t>(3, e[r].size()); ++k) {
        context += (k ? "," : "") + e[r][k];
      }
      msg << "row " << r << " [" << context << "] column "
          << (c < header.size() ? header[c] : "#" + std::to_string(c)) << ": actual '" << av
          << "', expected '" << ev << "'\n";
    }
  }
  if (mismatches == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << mismatches << " mismatch(es)" << (reported > 20 ? " (first 20 shown)" : "") << ":\n"
         << msg.str();
}

inline std::string VigilBinary() {
  if (const char* env = std::getenv("VIGIL_BINARY"); env != nullptr && *env != '\0') return env;
#ifdef VIGIL_BINARY
  return VIGIL_BINARY;
#else
  return SourceDir() + "/build/vigil";
#endif
}

inline std::string SourceDir() {
#ifdef VIGIL_SOURCE_DIR
  return VIGIL_SOURCE_DIR;
#else
  return ".";
#endif
}

inline CommandResult RunVigil(const std::string& project, const std::vector<std::string>& args,
                              int timeout_s) {
  std::vector<std::string> argv = {VigilBinary(), "--project", project};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(ShellJoin(argv), timeout_s);
}

// A vigil process running in the background (directly, no shell, so its pid is the
// process's own and SIGKILL hits it), stdout and stderr appended to `log_path`. The
// destructor kills it (SIGKILL) if it is still running.
class BackgroundVigil {
 public:
  BackgroundVigil(const std::string& project, const std::vector<std::string>& args, const std::string& log_path) {
    std::vector<std::string> argv = {VigilBinary(), "--project", project};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    int rc = posix_spawn(&pid_, argv[0].c_str(), &actions, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      ADD_FAILURE() << "posix_spawn " << argv[0] << ": " << std::strerror(rc);
      pid_ = -1;
    }
  }
  ~BackgroundVigil() {
    if (pid_ > 0) Kill(SIGKILL);
  }
  BackgroundVigil(const BackgroundVigil&) = delete;
  BackgroundVigil& operator=(const BackgroundVigil&) = delete;

  // Sends `sig` and waits for the process; returns its exit code (128 + signal if killed).
  int Kill(int sig) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, sig);
    return Wait(60);
  }
  // Waits up to timeout_s for the process to exit; -1 if it did not (then it runs on).
  int Wait(int timeout_s) {
    if (pid_ <= 0) return -1;
    int64_t deadline = internal::NowMs() + int64_t{timeout_s} * 1000;
    for (;;) {
      int status = 0;
      pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        if (WIFEXITED(status)) return WEXITSTATUS(status);
        if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
        return -1;
      }
      if (r < 0 && errno != EINTR) {
        pid_ = -1;
        return -1;
      }
      if (internal::NowMs() > deadline) return -1;
      usleep(10'000);
    }
  }
  bool running() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
};

inline CommandResult RunOracle(const std::string& spec_json, const std::string& out_csv, int timeout_s) {
  return RunCommand(ShellJoin({"node", SourceDir() + "/tools/node/oracle.mjs", spec_json, out_csv}),
                    timeout_s);
}

inline std::string DoubleText(double v) {
  char buf[64];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, ptr);
}

inline std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

// Civil-date arithmetic after H. Hinnant (the inverse of days_from_civil).
inline std::string IsoText(int64_t ms, int offset_min, char sep, bool show_ms) {
  int64_t local = ms + int64_t{offset_min} * kMinute;
  int64_t days = local >= 0 ? local / kDay : (local - kDay + 1) / kDay;
  int64_t in_day = local - days * kDay;
  int64_t z = days + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t d = doy - (153 * mp + 2) / 5 + 1;
  int64_t m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
  char buf[64];
  int n = snprintf(buf, sizeof buf, "%04lld-%02lld-%02lld%c%02lld:%02lld:%02lld", static_cast<long long>(y),
                   static_cast<long long>(m), static_cast<long long>(d), sep,
                   static_cast<long long>(in_day / kHour), static_cast<long long>(in_day / kMinute % 60),
                   static_cast<long long>(in_day / kSecond % 60));
  std::string s(buf, static_cast<size_t>(n));
  if (show_ms || in_day % kSecond != 0) {
    snprintf(buf, sizeof buf, ".%03lld", static_cast<long long>(in_day % kSecond));
    s += buf;
  }
  if (offset_min == 0 && show_ms) return s + "Z";
  char zone[16];
  int a = offset_min < 0 ? -offset_min : offset_min;
  snprintf(zone, sizeof zone, "%c%02d:%02d", offset_min < 0 ? '-' : '+', a / 60, a % 60);
  return s + zone;
}

inline std::pair<int64_t, int64_t> IngestCounts(const std::string& out) {
  std::smatch m;
  if (!std::regex_search(out, m, std::regex(R"(accepted (\d+), rejected (\d+))"))) return {-1, -1};
  return {std::stoll(m[1]), std::stoll(m[2])};
}

// Opens the log a project's vigil.yaml configures (embedded by default).
inline vigil::Result<std::unique_ptr<vigil::Log>> OpenProjectLog(const std::string& project) {
  VIGIL_ASSIGN_OR_RETURN(vigil::Project p, vigil::LoadProject(project));
  return vigil::Log::Open(p.settings.log);
}

inline std::vector<TopicRecord> ReadTopic(const std::string& project, const std::string& topic) {
  std::vector<TopicRecord> out;
  auto log = OpenProjectLog(project);
  if (!log.ok()) {
    ADD_FAILURE() << "open log of " << project << ": " << log.status().ToString();
    return out;
  }
  auto reader = (*log)->OpenReader(topic);
  if (!reader.ok()) {
    ADD_FAILURE() << "open " << topic << ": " << reader.status().ToString();
    return out;
  }
  vigil::LogRecord rec;
  for (;;) {
    auto more = (*reader)->Next(&rec);
    if (!more.ok()) {
      ADD_FAILURE() << "read " << topic << ": " << more.status().ToString();
      break;
    }
    if (!*more) break;
    out.push_back({std::string(rec.key), std::string(rec.payload)});
  }
  return out;
}

struct HttpResult {
  int status = 0;  // 0: no answer
  std::string body;
  std::string headers;
};

// One HTTP/1.1 request on a fresh loopback connection to `port` (Connection: close).
inline HttpResult Http(int port, const std::string& method, const std::string& path, const std::string& body = "",
                const std::string& token = "") {
  HttpResult r;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return r;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return r;
  }
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
  if (!body.empty() || method == "POST") {
    req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n" + body;
  for (size_t sent = 0; sent < req.size();) {
    ssize_t n = ::send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string in;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    in.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  size_t head_end = in.find("\r\n\r\n");
  if (in.rfind("HTTP/1.1 ", 0) != 0 || head_end == std::string::npos) return r;
  r.status = std::atoi(in.c_str() + 9);
  r.headers = in.substr(0, head_end);
  r.body = in.substr(head_end + 4);
  return r;
}

}  // namespace vigil::e2e
