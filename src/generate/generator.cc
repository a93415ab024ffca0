// The generator's pipeline. Per day: users are generated in shards on worker threads and
// each shard sorts its events of the day; then the day is cut into time slices per output,
// and each slice is one task that merges the shards' runs by (ts, user, seq) and formats
// them. Slices are formatted in parallel waves and written in order by a writer thread
// while the next wave is formatted. User behaviour is in user_behavior.cc.
#include "generate/generator.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string_view>
#include <thread>
#include <vector>

#include "generate/generator_internal.h"

namespace vigil {
namespace generate_internal {
namespace {

struct SourceInfo {
  const char* name;
  const char* file;
  const char* id_prefix;
};
// Indexed by Source; the prefixes ascend in the enum's order (see LabelLess).
constexpr SourceInfo kSourceInfo[kNumSources] = {
    {"account_events", "account_events.jsonl", "acc_"}, {"logins", "logins.jsonl", "lgn_"},
    {"p2p_orders", "p2p_orders.jsonl", "p2p_"},         {"transactions", "transactions.jsonl", "txn_"},
    {"withdrawals", "withdrawals.jsonl", "wdr_"},
};
constexpr int kLabelsOutput = kNumSources;  // outputs 0..4 are the sources, 5 is labels.csv
constexpr int kNumOutputs = kNumSources + 1;
constexpr const char* kLabelsFile = "labels.csv";
constexpr const char* kLabelsHeader =
    "event_id,source,user_id,device_id,card_id,ts,is_fraud,fraud_type,known_at,amount\n";

constexpr const char* kFraudTypeNames[] = {"none", "ato", "stolen_card", "p2p_scam"};
constexpr const char* kLoginMethodNames[] = {"password", "sso", "api"};
constexpr const char* kTxnStatusNames[] = {"approved", "declined", "failed"};
constexpr const char* kP2pStatusNames[] = {"completed", "cancelled", "disputed"};
constexpr const char* kSideNames[] = {"buy", "sell"};
constexpr const char* kAccountKindNames[] = {"password_reset", "2fa_change", "api_key_created",
                                             "email_change"};

constexpr int kSeqWidth = 7;           // "-0000007": up to 10^7 events per user
constexpr int64_t kMaxLine = 512;      // bytes; every formatted line is shorter
constexpr size_t kSliceEvents = 8192;  // events formatted by one task, roughly
// Disputes are accepted for 7 days: an event not reported by then is known to be legitimate.
constexpr int64_t kLabelMaturityMs = 7 * kDayMs;
constexpr int kMaxShards = 64;

// ---------------------------------------------------------------------------------------
// Formatting. Each Put* writes at p and returns the end; the caller guarantees room.

char* Put(char* p, std::string_view s) {
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}
char* PutInt(char* p, int64_t v) { return std::to_chars(p, p + 24, v).ptr; }
char* PutPadded(char* p, uint64_t v, int width) {
  char tmp[24];
  const int n = static_cast<int>(std::to_chars(tmp, tmp + sizeof tmp, v).ptr - tmp);
  for (int i = n; i < width; ++i) *p++ = '0';
  std::memcpy(p, tmp, n);
  return p + n;
}
char* PutHex16(char* p, uint64_t v) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i, v >>= 4) p[i] = kHex[v & 15];
  return p + 16;
}
char* PutIp(char* p, uint32_t ip) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    p = std::to_chars(p, p + 3, (ip >> shift) & 255).ptr;
    if (shift) *p++ = '.';
  }
  return p;
}
// Shortest round-trip form, with ".0" added to integral values so that readers see a
// double: 100 -> "100.0", 12.5 -> "12.5".
char* PutDouble(char* p, double v) {
  char* const begin = p;
  p = std::to_chars(p, p + 32, v).ptr;
  for (char* q = begin; q < p; ++q) {
    if (*q == '.' || *q == 'e' || *q == 'n' || *q == 'i') return p;
  }
  return Put(p, ".0");
}
char* PutBool(char* p, bool b) { return b ? Put(p, "true") : Put(p, "false"); }
char* PutUser(char* p, uint32_t user, int width) {
  *p++ = 'u';
  return PutPadded(p, user, width);
}
char* PutId(char* p, const Event& e, int width) {
  p = Put(p, kSourceInfo[e.source].id_prefix);
  p = PutPadded(p, e.user, width);
  *p++ = '-';
  return PutPadded(p, e.seq, kSeqWidth);
}
char* PutDevice(char* p, uint64_t token) { return PutHex16(Put(p, "dev_"), token); }
char* PutCard(char* p, uint64_t token) { return PutHex16(Put(p, "card_"), token); }
char* PutAddress(char* p, uint64_t token) { return PutHex16(Put(p, "0x"), token); }

// One JSON line. Field order: id, ts, user_id, then the source's own fields.
char* FormatEvent(char* p, const Event& e, int width) {
  switch (e.source) {
    case kLogins:
      p = Put(p, "{\"event_id\":\"");
      break;
    case kTransactions:
      p = Put(p, "{\"txn_id\":\"");
      break;
    case kWithdrawals:
      p = Put(p, "{\"withdrawal_id\":\"");
      break;
    case kP2pOrders:
      p = Put(p, "{\"order_id\":\"");
      break;
    default:
      p = Put(p, "{\"event_id\":\"");
      break;
  }
  p = PutId(p, e, width);
  p = PutInt(Put(p, "\",\"ts\":"), e.ts);
  p = PutUser(Put(p, ",\"user_id\":\""), e.user, width);
  const char* country = kCountries[e.country].code;
  switch (e.source) {
    case kLogins:
      p = PutDevice(Put(p, "\",\"device_id\":\""), e.device);
      p = PutIp(Put(p, "\",\"ip\":\""), e.ip);
      p = Put(Put(p, "\",\"country\":\""), country);
      p = PutBool(Put(p, "\",\"success\":"), e.flag);
      p = Put(Put(p, ",\"method\":\""), kLoginMethodNames[e.code]);
      break;
    case kTransactions:
      p = PutCard(Put(p, "\",\"card_id\":\""), e.aux);
      p = PutDevice(Put(p, "\",\"device_id\":\""), e.device);
      p = PutDouble(Put(p, "\",\"amount\":"), e.amount);
      p = Put(Put(p, ",\"currency\":\""), kCountries[e.code2].currency);
      p = Put(Put(p, "\",\"status\":\""), kTxnStatusNames[e.code]);
      p = PutIp(Put(p, "\",\"ip\":\""), e.ip);
      p = Put(Put(p, "\",\"country\":\""), country);
      p = Put(Put(p, "\",\"asset\":\""), kAssets[e.code3]);
      break;
    case kWithdrawals:
      p = PutDevice(Put(p, "\",\"device_id\":\""), e.device);
      p = PutDouble(Put(p, "\",\"amount\":"), e.amount);
      p = Put(Put(p, ",\"asset\":\""), kAssets[e.code2]);
      p = PutAddress(Put(p, "\",\"address\":\""), e.aux);
      p = PutBool(Put(p, "\",\"address_is_new\":"), e.flag);
      p = Put(Put(p, ",\"country\":\""), country);
      break;
    case kP2pOrders:
      p = PutUser(Put(p, "\",\"counterparty_id\":\""), static_cast<uint32_t>(e.aux), width);
      p = PutDevice(Put(p, "\",\"device_id\":\""), e.device);
      p = PutDouble(Put(p, "\",\"amount\":"), e.amount);
      p = Put(Put(p, ",\"side\":\""), kSideNames[e.code2]);
      p = Put(Put(p, "\",\"payment_method\":\""), kPaymentMethods[e.code3]);
      p = Put(Put(p, "\",\"status\":\""), kP2pStatusNames[e.code]);
      p = PutBool(Put(p, "\",\"counterparty_is_new\":"), e.flag);
      return Put(p, "}\n");  // the only line that ends in a bool
    case kAccountEvents:
      p = PutDevice(Put(p, "\",\"device_id\":\""), e.device);
      p = Put(Put(p, "\",\"kind\":\""), kAccountKindNames[e.code]);
      p = PutIp(Put(p, "\",\"ip\":\""), e.ip);
      p = Put(Put(p, "\",\"country\":\""), country);
      break;
  }
  return Put(p, "\"}\n");
}

// event_id,source,user_id,device_id,card_id,ts,is_fraud,fraud_type,known_at,amount
char* FormatLabel(char* p, const Event& e, int width) {
  p = PutId(p, e, width);
  *p++ = ',';
  p = Put(p, kSourceInfo[e.source].name);
  *p++ = ',';
  p = PutUser(p, e.user, width);
  *p++ = ',';
  p = PutDevice(p, e.device);
  *p++ = ',';
  if (e.source == kTransactions) p = PutCard(p, e.aux);
  *p++ = ',';
  p = PutInt(p, e.ts);
  p = Put(p, e.fraud != kNoFraud ? ",1," : ",0,");
  p = Put(p, kFraudTypeNames[e.fraud]);
  *p++ = ',';
  const int64_t delay = e.fraud != kNoFraud ? int64_t{e.label_delay_s} * kSecondMs : kLabelMaturityMs;
  p = PutInt(p, e.ts + delay);
  p = PutDouble(Put(p, ","), e.amount);
  *p++ = '\n';
  return p;
}

// ---------------------------------------------------------------------------------------
// Work distribution

// Runs fn(0..n-1) on up to `threads` threads (the caller's included).
template <typename Fn>
void ParallelFor(size_t n, int threads, const Fn& fn) {
  const size_t workers = std::min<size_t>(static_cast<size_t>(std::max(threads, 1)), n);
  if (workers <= 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < n;) fn(i);
  };
  std::vector<std::thread> pool;
  pool.reserve(workers - 1);
  for (size_t t = 1; t < workers; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
}

// A contiguous range of users and the events they made that are not written yet.
struct Shard {
  uint32_t begin = 0;
  uint32_t end = 0;
  std::vector<User> users;
  EventBuffers pending;  // generated, ts not yet reached by the days written
  EventBuffers due;      // this day's events, sorted by EventLess
};

// Generates `day` for the shard's users and moves the events of that day into `due`.
// Events at or after the end of the period are dropped.
void RunShardDay(const World& world, Shard& shard, int day) {
  if (day == 0) {
    shard.users.reserve(shard.end - shard.begin);
    for (uint32_t u = shard.begin; u < shard.end; ++u) shard.users.push_back(MakeUser(world, u));
  }
  for (User& u : shard.users) GenerateUserDay(world, u, day, shard.pending);
  const TimestampMs day_end = world.start + (day + 1) * kDayMs;
  for (int s = 0; s < kNumSources; ++s) {
    std::vector<Event>& pending = shard.pending[s];
    std::vector<Event>& due = shard.due[s];
    due.clear();
    size_t kept = 0;
    for (const Event& e : pending) {
      if (e.ts < day_end) {
        due.push_back(e);
      } else if (e.ts < world.end) {
        pending[kept++] = e;
      }
    }
    pending.resize(kept);
    std::sort(due.begin(), due.end(), EventLess);
  }
}

// The events of one output in [from, to) of the current day, from every shard: one task.
struct Slice {
  int output;
  TimestampMs from;
  TimestampMs to;
};

// A formatted slice.
struct SliceText {
  int output = 0;
  std::vector<char> text;  // grows to the largest slice seen; `size` bytes are used
  size_t size = 0;
  int64_t rows = 0;
  int64_t fraud_rows = 0;
};

// Merges the slice's runs (each shard's sorted events, cut to [from, to)) and formats them.
// Labels merge the three labelled sources by (ts, event id).
template <bool kLabels>
void FormatSlice(const std::vector<Shard>& shards, const Slice& slice, int width, SliceText* out) {
  struct Head {
    const Event* at;
    const Event* end;
  };
  // std::*_heap keep the greatest on top: invert the order.
  auto after = [](const Head& a, const Head& b) {
    return kLabels ? LabelLess(*b.at, *a.at) : EventLess(*b.at, *a.at);
  };
  std::vector<Head> heap;
  size_t total = 0;
  auto add_run = [&](const std::vector<Event>& run) {
    auto by_ts = [](const Event& e, TimestampMs t) { return e.ts < t; };
    const Event* lo = std::lower_bound(run.data(), run.data() + run.size(), slice.from, by_ts);
    const Event* hi = std::lower_bound(lo, run.data() + run.size(), slice.to, by_ts);
    if (lo == hi) return;
    heap.push_back({lo, hi});
    total += static_cast<size_t>(hi - lo);
  };
  for (const Shard& shard : shards) {
    if (kLabels) {
      add_run(shard.due[kP2pOrders]);
      add_run(shard.due[kTransactions]);
      add_run(shard.due[kWithdrawals]);
    } else {
      add_run(shard.due[slice.output]);
    }
  }
  out->output = slice.output;
  out->rows = static_cast<int64_t>(total);
  out->fraud_rows = 0;
  char* begin = out->text.data();
  char* p = begin;
  char* limit = begin + out->text.size();
  std::make_heap(heap.begin(), heap.end(), after);
  while (!heap.empty()) {
    if (limit - p < kMaxLine) {  // grow; the buffer is kept for the next slices
      const size_t used = static_cast<size_t>(p - begin);
      out->text.resize(std::max(2 * out->text.size(), used + 256 * kMaxLine));
      begin = out->text.data();
      p = begin + used;
      limit = begin + out->text.size();
    }
    std::pop_heap(heap.begin(), heap.end(), after);
    Head& h = heap.back();
    if (kLabels) {
      p = FormatLabel(p, *h.at, width);
      out->fraud_rows += h.at->fraud != kNoFraud;
    } else {
      p = FormatEvent(p, *h.at, width);
    }
    if (++h.at == h.end) {
      heap.pop_back();
    } else {
      std::push_heap(heap.begin(), heap.end(), after);
    }
  }
  out->size = static_cast<size_t>(p - begin);
}

// ---------------------------------------------------------------------------------------
// Output

class OutputFile {
 public:
  OutputFile() = default;
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;
  ~OutputFile() {
    if (file_ != nullptr) std::fclose(file_);
  }

  Status Open(std::string path) {
    path_ = std::move(path);
    file_ = std::fopen(path_.c_str(), "wb");
    if (file_ == nullptr) return Error("cannot create");
    std::setvbuf(file_, nullptr, _IOFBF, 1 << 20);
    return Status::OK();
  }
  Status Write(const char* data, size_t n) {
    if (n > 0 && std::fwrite(data, 1, n, file_) != n) return Error("cannot write");
    return Status::OK();
  }
  Status Close() {
    FILE* f = file_;
    file_ = nullptr;
    if (std::fclose(f) != 0) return Error("cannot write");
    return Status::OK();
  }

 private:
  Status Error(const char* what) const {
    return Status::IOError(std::string(what) + " " + path_ + ": " + std::strerror(errno));
  }
  std::string path_;
  FILE* file_ = nullptr;
};

int Digits(uint64_t v) {
  int n = 1;
  while (v >= 10) v /= 10, ++n;
  return n;
}

Status Validate(const GenerateOptions& opts) {
  if (opts.users < 1 || opts.users > 100'000'000) {
    return Status::InvalidArgument("generate: --users must be in 1..100000000, got " +
                                   std::to_string(opts.users));
  }
  if (opts.days < 1 || opts.days > 3660) {
    return Status::InvalidArgument("generate: --days must be in 1..3660, got " + std::to_string(opts.days));
  }
  if (opts.drift_day < -1) {
    return Status::InvalidArgument(
        "generate: --drift-day must be a day index >= 0 (or -1 for "
        "no drift), got " +
        std::to_string(opts.drift_day));
  }
  if (opts.out_dir.empty()) {
    return Status::InvalidArgument("generate: --out is required (the output directory)");
  }
  if (opts.start < 0 || opts.start > kMaxTimestamp / 2) {
    return Status::InvalidArgument("generate: start must be a non-negative ms timestamp");
  }
  if (opts.threads < 0) {
    return Status::InvalidArgument("generate: threads must be >= 0 (0 = all cores)");
  }
  return Status::OK();
}

Result<GenerateStats> RunGenerator(const GenerateOptions& opts) {
  VIGIL_RETURN_IF_ERROR(Validate(opts));
  const auto started = std::chrono::steady_clock::now();
  const int threads = opts.threads > 0 ? opts.threads : std::max(1u, std::thread::hardware_concurrency());

  std::error_code ec;
  std::filesystem::create_directories(opts.out_dir, ec);
  if (ec) {
    return Status::IOError("generate: cannot create directory " + opts.out_dir + ": " + ec.message());
  }
  OutputFile files[kNumOutputs];
  for (int o = 0; o < kNumOutputs; ++o) {
    const char* name = o == kLabelsOutput ? kLabelsFile : kSourceInfo[o].file;
    VIGIL_RETURN_IF_ERROR(files[o].Open((std::filesystem::path(opts.out_dir) / name).string()));
  }
  VIGIL_RETURN_IF_ERROR(files[kLabelsOutput].Write(kLabelsHeader, std::strlen(kLabelsHeader)));

  const auto users = static_cast<uint32_t>(opts.users);
  const World world(opts.seed, users, opts.days, opts.drift_day, opts.start);
  const int width = std::max(6, Digits(users - 1));

  // Few shards keep the merge heaps shallow; enough of them balance the threads. The output
  // does not depend on the number.
  const uint32_t num_shards =
      std::min<uint32_t>(users, static_cast<uint32_t>(std::min(threads * 4, kMaxShards)));
  std::vector<Shard> shards(num_shards);
  for (uint32_t i = 0; i < num_shards; ++i) {
    shards[i].begin = static_cast<uint32_t>(uint64_t{users} * i / num_shards);
    shards[i].end = static_cast<uint32_t>(uint64_t{users} * (i + 1) / num_shards);
  }

  // A day's slices are formatted in waves: wave w is formatted in parallel into texts[w % 2]
  // while a writer thread writes wave w - 1 from the other half, in slice order.
  const size_t wave = static_cast<size_t>(threads) * 2;
  std::vector<SliceText> texts[2] = {std::vector<SliceText>(wave), std::vector<SliceText>(wave)};
  std::thread writer;
  Status write_status;
  auto wait_for_writer = [&]() -> Status {
    if (writer.joinable()) writer.join();
    return write_status;
  };

  GenerateStats stats;
  int64_t counts[kNumSources] = {};
  int half = 0;
  for (int day = 0; day < opts.days; ++day) {
    ParallelFor(shards.size(), threads, [&](size_t i) { RunShardDay(world, shards[i], day); });

    // Slices of about kSliceEvents events (evenly spaced in time, so roughly).
    std::vector<Slice> slices;
    const TimestampMs day_start = world.start + day * kDayMs;
    for (int o = 0; o < kNumOutputs; ++o) {
      size_t n = 0;
      for (const Shard& shard : shards) {
        if (o == kLabelsOutput) {
          n +=
              shard.due[kP2pOrders].size() + shard.due[kTransactions].size() + shard.due[kWithdrawals].size();
        } else {
          n += shard.due[o].size();
        }
      }
      const int64_t parts = std::clamp<int64_t>(static_cast<int64_t>(n / kSliceEvents), 1, 1440);
      for (int64_t k = 0; k < parts; ++k) {
        slices.push_back({o, day_start + kDayMs * k / parts, day_start + kDayMs * (k + 1) / parts});
      }
    }

    for (size_t first = 0; first < slices.size(); first += wave, half ^= 1) {
      const size_t n = std::min(wave, slices.size() - first);
      std::vector<SliceText>& out = texts[half];
      ParallelFor(n, threads, [&](size_t i) {
        const Slice& slice = slices[first + i];
        if (slice.output == kLabelsOutput) {
          FormatSlice<true>(shards, slice, width, &out[i]);
        } else {
          FormatSlice<false>(shards, slice, width, &out[i]);
        }
      });
      for (size_t i = 0; i < n; ++i) {
        if (out[i].output == kLabelsOutput) {
          stats.labels += out[i].rows;
          stats.fraud_labels += out[i].fraud_rows;
        } else {
          counts[out[i].output] += out[i].rows;
        }
      }
      VIGIL_RETURN_IF_ERROR(wait_for_writer());
      writer = std::thread([&files, &write_status, &out, n] {
        for (size_t i = 0; i < n && write_status.ok(); ++i) {
          write_status = files[out[i].output].Write(out[i].text.data(), out[i].size);
        }
      });
    }
  }
  VIGIL_RETURN_IF_ERROR(wait_for_writer());
  for (OutputFile& f : files) VIGIL_RETURN_IF_ERROR(f.Close());

  for (int s = 0; s < kNumSources; ++s) stats.events_per_source[kSourceInfo[s].name] = counts[s];
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return stats;
}

}  // namespace
}  // namespace generate_internal

Result<GenerateStats> Generate(const GenerateOptions& opts) { return generate_internal::RunGenerator(opts); }

}  // namespace vigil
