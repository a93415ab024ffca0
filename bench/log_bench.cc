// The embedded log on this machine's disk (DESIGN.md §8): append throughput under each
// fsync policy, sequential read throughput, and the cost of opening a writer (recovery
// validates the active segment).
//
//   vigil_log_bench [--reps 3] [--dir DIR] [--mb 100] [--always-records 20000]
//
// Every measurement writes a fresh topic with one partition in a scratch directory under
// DIR (default: the system temporary directory), removed at the end:
//   append   --mb MiB of records (key 12 B, payload 100 B or 1 KiB) appended with a Flush
//            every `batch` records, the policy's syncs included; `always` writes
//            --always-records records with a Flush (so an fdatasync) every 100.
//   read     the records of the `never` run, front to back through a TopicReader
//            (page cache warm: they were just written).
//   recover  OpenWriter on a partition whose active segment holds --mb MiB (one
//            segment), which reads and checks every record.
// Figures are the median of --reps runs; MB/s counts record bytes on disk (header, key,
// time and payload). One line per measurement on stdout.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "log/log.h"

namespace vigil::bench {
namespace {

namespace fs = std::filesystem;

struct Args {
  int reps = 3;
  std::string dir;
  int64_t mb = 100;
  int64_t always_records = 20000;
};

double Since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

[[noreturn]] void Die(const std::string& what, const Status& st) {
  std::fprintf(stderr, "vigil_log_bench: %s: %s\n", what.c_str(), st.ToString().c_str());
  std::exit(1);
}

template <typename T>
T Check(Result<T> r, const std::string& what) {
  if (!r.ok()) Die(what, r.status());
  return std::move(r).value();
}
void Check(const Status& st, const std::string& what) {
  if (!st.ok()) Die(what, st);
}

const char* PolicyName(FsyncPolicy p) {
  switch (p) {
    case FsyncPolicy::kEveryRecord:
      return "always";
    case FsyncPolicy::kInterval:
      return "interval";
    case FsyncPolicy::kNever:
      return "never";
  }
  return "?";
}

struct Row {
  std::string what;
  size_t payload = 0;
  std::string policy;
  int64_t batch = 0;
  int64_t records = 0;
  int64_t bytes = 0;
  std::vector<double> seconds;
};

void Print(const Row& r) {
  const double s = Median(r.seconds);
  std::printf("%-8s %8zu %-9s %6lld %10lld %12.0f %9.1f %9.3f\n", r.what.c_str(), r.payload, r.policy.c_str(),
              static_cast<long long>(r.batch), static_cast<long long>(r.records), r.records / s,
              r.bytes / s / 1e6, s);
  std::fflush(stdout);
}

constexpr size_t kKeyBytes = 12;
size_t RecordBytes(size_t payload) { return 8 + 1 + kKeyBytes + 8 + payload; }

LogOptions Options(const std::string& dir, FsyncPolicy policy) {
  LogOptions o;
  o.dir = dir;
  o.partitions = 1;
  o.fsync = policy;
  o.fsync_interval = 1000;
  return o;
}

// Appends `records` records to a new topic; returns the seconds it took.
double Append(Log* log, const std::string& topic, int64_t records, size_t payload_bytes, int64_t batch) {
  auto w = Check(log->OpenWriter(topic), "open writer");
  std::string payload(payload_bytes, 'p');
  char key[kKeyBytes + 1];
  auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < records; ++i) {
    std::snprintf(key, sizeof key, "user_%07lld", static_cast<long long>(i % 10000000));
    std::memcpy(payload.data(), &i, sizeof i);
    Check(w->AppendTo(0, std::string_view(key, kKeyBytes), payload), "append");
    if ((i + 1) % batch == 0) Check(w->Flush(false), "flush");
  }
  Check(w->Flush(false), "flush");
  return Since(start);
}

volatile uint64_t g_sink = 0;

double Read(Log* log, const std::string& topic, int64_t expect) {
  auto r = Check(log->OpenReader(topic), "open reader");
  LogRecord rec;
  int64_t n = 0;
  uint64_t sum = 0;
  auto start = std::chrono::steady_clock::now();
  while (Check(r->Next(&rec), "read")) {
    sum += rec.payload.size();
    ++n;
  }
  const double s = Since(start);
  if (n != expect) {
    std::fprintf(stderr, "vigil_log_bench: read %lld records of %lld\n", static_cast<long long>(n),
                 static_cast<long long>(expect));
    std::exit(1);
  }
  g_sink = g_sink + sum;  // keeps the reads from being optimized away
  return s;
}

int Main(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "vigil_log_bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--reps") {
      args.reps = std::max(1, std::atoi(value().c_str()));
    } else if (a == "--dir") {
      args.dir = value();
    } else if (a == "--mb") {
      args.mb = std::max<int64_t>(1, std::atoll(value().c_str()));
    } else if (a == "--always-records") {
      args.always_records = std::max<int64_t>(100, std::atoll(value().c_str()));
    } else {
      std::fprintf(stderr,
                   "usage: vigil_log_bench [--reps 3] [--dir DIR] [--mb 100] [--always-records 20000]\n");
      return 2;
    }
  }
  std::string base = args.dir.empty() ? fs::temp_directory_path().string() : args.dir;
  std::string tmpl = base + "/vigil_log_bench_XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::fprintf(stderr, "vigil_log_bench: mkdtemp %s: %s\n", tmpl.c_str(), std::strerror(errno));
    return 1;
  }
  const std::string root = tmpl;
  std::printf("# embedded log, 1 partition, key %zu B, in %s; median of %d\n", kKeyBytes, root.c_str(),
              args.reps);
  std::printf("%-8s %8s %-9s %6s %10s %12s %9s %9s\n", "what", "payload", "fsync", "batch", "records",
              "records/s", "MB/s", "seconds");
  int run = 0;
  for (size_t payload : {size_t{100}, size_t{1024}}) {
    const int64_t records = args.mb * (1 << 20) / static_cast<int64_t>(RecordBytes(payload));
    Row read{"read", payload, "-", 0, records, records * static_cast<int64_t>(RecordBytes(payload)), {}};
    for (FsyncPolicy policy : {FsyncPolicy::kEveryRecord, FsyncPolicy::kInterval, FsyncPolicy::kNever}) {
      const bool always = policy == FsyncPolicy::kEveryRecord;
      Row row{
          "append", payload, PolicyName(policy), always ? 100 : 1000, always ? args.always_records : records,
          0,        {}};
      row.bytes = row.records * static_cast<int64_t>(RecordBytes(payload));
      for (int rep = 0; rep < args.reps; ++rep) {
        const std::string dir = root + "/" + std::to_string(run++);
        auto log = Check(Log::Open(Options(dir, policy)), "open log");
        row.seconds.push_back(Append(log.get(), "t", row.records, payload, row.batch));
        if (policy == FsyncPolicy::kNever) read.seconds.push_back(Read(log.get(), "t", records));
        log.reset();
        fs::remove_all(dir);
      }
      Print(row);
    }
    Print(read);
  }
  // Recovery: the active segment of --mb MiB is read and checked when a writer opens.
  {
    const size_t payload = 100;
    const int64_t records = args.mb * (1 << 20) / static_cast<int64_t>(RecordBytes(payload));
    LogOptions o = Options(root + "/recover", FsyncPolicy::kNever);
    o.segment_bytes = (args.mb + 1) << 20;
    auto log = Check(Log::Open(o), "open log");
    Append(log.get(), "t", records, payload, 1000);
    Row row{"recover", payload, "-", 0, records, records * static_cast<int64_t>(RecordBytes(payload)), {}};
    for (int rep = 0; rep < args.reps; ++rep) {
      auto start = std::chrono::steady_clock::now();
      auto w = Check(log->OpenWriter("t"), "open writer");
      row.seconds.push_back(Since(start));
    }
    Print(row);
  }
  fs::remove_all(root);
  return 0;
}

}  // namespace
}  // namespace vigil::bench

int main(int argc, char** argv) { return vigil::bench::Main(argc, argv); }
