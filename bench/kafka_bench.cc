// vigil's Kafka log against librdkafka used directly, on one librdkafka mock cluster of
// three brokers in this process (DESIGN.md §8):
//
//   vigil_kafka_bench [--records 300000] [--reps 3] [--payload 100] [--partitions 8]
//
//   produce  librdkafka  rd_kafka_producev of N records (keys user<i % 10000>, --payload
//                        bytes each), idempotent, acks=all, linger.ms=5, the default
//                        partitioner, polled after every record as rdkafka_performance
//                        does, then rd_kafka_flush. No vigil code.
//   produce  vigil       TopicWriter::Append of the same records, then Flush.
//   read     librdkafka  the simple consumer, every partition from offset 0 into one
//                        queue, polled until N records came; fetch settings as vigil's
//                        reader (fetch.wait.max.ms, queued.min.messages).
//   read     vigil       TopicReader::Next until it reports the end (N records).
// Every run writes a fresh topic; the clients are created before the clock starts.
// Figures are the median over --reps; MB/s counts payload bytes. The mock broker is the
// same code for both sides, so the ratio is the cost of vigil's layer, not of Kafka.
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "log/kafka_mock.h"
#include "log/log.h"

namespace vigil::bench {
namespace {

struct Args {
  // The mock keeps the newest ~5 MB of each partition (about 40000 records of 100 B):
  // every record must still be there when it is read.
  int64_t records = 300000;
  int reps = 3;
  int payload = 100;
  int partitions = 8;
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "vigil_kafka_bench: %s\n", what.c_str());
  std::exit(1);
}

double Since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 == 1 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

std::string Key(int64_t i) { return "user" + std::to_string(i % 10000); }

void SetOrDie(rd_kafka_conf_t* conf, const char* key, const std::string& value) {
  char errstr[512];
  if (rd_kafka_conf_set(conf, key, value.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
    Die(std::string("librdkafka property ") + key + ": " + errstr);
  }
}

void QuietLog(const rd_kafka_t*, int, const char*, const char*) {}

int64_t g_delivery_failures = 0;
void CountFailures(rd_kafka_t*, const rd_kafka_message_t* msg, void*) {
  if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) ++g_delivery_failures;
}

rd_kafka_t* NewClient(rd_kafka_type_t type, const std::string& bootstrap) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  SetOrDie(conf, "bootstrap.servers", bootstrap);
  rd_kafka_conf_set_log_cb(conf, QuietLog);
  if (type == RD_KAFKA_PRODUCER) {
    SetOrDie(conf, "enable.idempotence", "true");
    SetOrDie(conf, "acks", "all");
    SetOrDie(conf, "linger.ms", "5");  // as vigil's writer
    rd_kafka_conf_set_dr_msg_cb(conf, CountFailures);
  } else {
    // As vigil's reader: librdkafka 2.0.2 otherwise pauses fetching for a fixed second
    // whenever 100000 records wait in the queue.
    SetOrDie(conf, "queued.min.messages", "10000000");
    SetOrDie(conf, "fetch.wait.max.ms", "100");
  }
  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf, errstr, sizeof errstr);
  if (rk == nullptr) Die(std::string("rd_kafka_new: ") + errstr);
  return rk;
}

// Seconds to produce args.records into `topic` with librdkafka alone.
double RawProduce(const Args& args, const std::string& bootstrap, const std::string& topic) {
  rd_kafka_t* rk = NewClient(RD_KAFKA_PRODUCER, bootstrap);
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const std::string payload(args.payload, 'x');
  g_delivery_failures = 0;
  // Connected and holding a producer id before the clock starts, as vigil's writer is
  // after OpenWriter (and the same pause follows both).
  const rd_kafka_metadata_t* md = nullptr;
  if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR)
    Die("raw producer: no metadata");
  rd_kafka_metadata_destroy(md);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < args.records; ++i) {
    std::string key = Key(i);
    while (true) {
      rd_kafka_resp_err_t err =
          rd_kafka_producev(rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_KEY(key.data(), key.size()),
                            RD_KAFKA_V_VALUE(const_cast<char*>(payload.data()), payload.size()),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
        Die(std::string("rd_kafka_producev: ") + rd_kafka_err2str(err));
      rd_kafka_poll(rk, 10);
    }
    rd_kafka_poll(rk, 0);
  }
  while (rd_kafka_outq_len(rk) > 0) rd_kafka_flush(rk, 1000);
  double s = Since(start);
  if (g_delivery_failures > 0) Die(std::to_string(g_delivery_failures) + " raw deliveries failed");
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  return s;
}

// Seconds to read every record of `topic` with librdkafka's simple consumer alone
// (every partition started at offset 0 into one queue, as rdkafka_performance -C does).
double RawRead(const Args& args, const std::string& bootstrap, const std::string& topic) {
  rd_kafka_t* rk = NewClient(RD_KAFKA_CONSUMER, bootstrap);
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
  auto start = std::chrono::steady_clock::now();
  for (int p = 0; p < args.partitions; ++p) {
    if (rd_kafka_consume_start_queue(rkt, p, 0, q) != 0) Die("rd_kafka_consume_start_queue failed");
  }
  int64_t n = 0;
  uint64_t bytes = 0;
  while (n < args.records) {
    rd_kafka_message_t* msg = rd_kafka_consume_queue(q, 1000);
    if (msg == nullptr) {
      if (Since(start) > 60) Die("raw read stalled at " + std::to_string(n) + " records");
      continue;
    }
    if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ++n;
      bytes += msg->len;
    }
    rd_kafka_message_destroy(msg);
  }
  double s = Since(start);
  if (bytes != static_cast<uint64_t>(args.records) * args.payload) Die("raw read: wrong byte count");
  for (int p = 0; p < args.partitions; ++p) rd_kafka_consume_stop(rkt, p);
  rd_kafka_queue_destroy(q);
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  return s;
}

double VigilProduce(const Args& args, Log* log, const std::string& topic) {
  auto w = log->OpenWriter(topic);
  if (!w.ok()) Die(w.status().ToString());
  const std::string payload(args.payload, 'x');
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < args.records; ++i) {
    Status st = (*w)->Append(Key(i), payload);
    if (!st.ok()) Die(st.ToString());
  }
  Status st = (*w)->Flush(false);
  if (!st.ok()) Die(st.ToString());
  return Since(start);
}

double VigilRead(const Args& args, Log* log, const std::string& topic) {
  auto r = log->OpenReader(topic);
  if (!r.ok()) Die(r.status().ToString());
  auto start = std::chrono::steady_clock::now();
  LogRecord rec;
  int64_t n = 0;
  uint64_t bytes = 0;
  while (true) {
    auto more = (*r)->Next(&rec);
    if (!more.ok()) Die(more.status().ToString());
    if (!*more) break;
    ++n;
    bytes += rec.payload.size();
  }
  double s = Since(start);
  if (n != args.records || bytes != static_cast<uint64_t>(args.records) * args.payload) {
    Die("vigil read " + std::to_string(n) + " records, expected " + std::to_string(args.records));
  }
  return s;
}

Args ParseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    auto value = [&]() -> long long {
      if (i + 1 >= argc) Die(flag + " needs a value");
      char* end = nullptr;
      long long v = std::strtoll(argv[++i], &end, 10);
      if (*end != '\0' || v < 1) Die(flag + " needs a positive integer, not " + argv[i]);
      return v;
    };
    if (flag == "--records") {
      a.records = value();
    } else if (flag == "--reps") {
      a.reps = static_cast<int>(value());
    } else if (flag == "--payload") {
      a.payload = static_cast<int>(value());
    } else if (flag == "--partitions") {
      a.partitions = static_cast<int>(value());
    } else {
      Die("unknown flag " + flag + " (flags: --records N --reps N --payload BYTES --partitions N)");
    }
  }
  return a;
}

void PrintLine(const char* what, const char* who, const Args& args, double seconds, double ratio) {
  double rps = static_cast<double>(args.records) / seconds;
  double mbps = rps * args.payload / 1e6;
  std::printf("%-8s %-22s %12.0f records/s %9.1f MB/s", what, who, rps, mbps);
  if (ratio > 0) std::printf("   vigil/librdkafka %.2f", ratio);
  std::printf("\n");
}

int Main(int argc, char** argv) {
  Args args = ParseArgs(argc, argv);
  auto cluster = KafkaMockCluster::Start(3);
  if (!cluster.ok()) Die(cluster.status().ToString());
  const std::string bootstrap = (*cluster)->bootstrap();
  LogOptions options;
  options.kind = LogOptions::Kind::kKafka;
  options.bootstrap = bootstrap;
  options.partitions = args.partitions;
  options.topic_prefix = "bench.";
  auto log = Log::Open(options);
  if (!log.ok()) Die(log.status().ToString());

  std::printf(
      "kafka log: librdkafka %s mock cluster of 3 brokers, %d partitions, %lld records of %d B, "
      "median of %d\n",
      rd_kafka_version_str(), args.partitions, static_cast<long long>(args.records), args.payload, args.reps);
  std::fflush(stdout);
  std::vector<double> raw_produce, vigil_produce, raw_read, vigil_read;
  for (int rep = 0; rep < args.reps; ++rep) {
    // Interleaved, so that a noisy neighbour spreads over all four.
    const std::string raw_topic = "bench.raw" + std::to_string(rep);
    const std::string vigil_topic = "vigil" + std::to_string(rep);
    Status st = (*cluster)->CreateTopic(raw_topic, args.partitions);
    if (!st.ok()) Die(st.ToString());
    raw_produce.push_back(RawProduce(args, bootstrap, raw_topic));
    vigil_produce.push_back(VigilProduce(args, log->get(), vigil_topic));
    for (const std::string& t : {std::string("raw") + std::to_string(rep), vigil_topic}) {
      auto starts = (*log)->StartOffsets(t);
      if (!starts.ok()) Die(starts.status().ToString());
      for (int64_t s : *starts) {
        if (s != 0)
          Die("the mock dropped the oldest records of " + t + ": use fewer --records or more --partitions");
      }
    }
    raw_read.push_back(RawRead(args, bootstrap, raw_topic));
    vigil_read.push_back(VigilRead(args, log->get(), vigil_topic));
  }
  double rp = Median(raw_produce), vp = Median(vigil_produce);
  double rr = Median(raw_read), vr = Median(vigil_read);
  PrintLine("produce", "librdkafka producev", args, rp, 0);
  PrintLine("produce", "vigil TopicWriter", args, vp, rp / vp);
  PrintLine("read", "librdkafka consumer", args, rr, 0);
  PrintLine("read", "vigil TopicReader", args, vr, rr / vr);
  return 0;
}

}  // namespace
}  // namespace vigil::bench

int main(int argc, char** argv) { return vigil::bench::Main(argc, argv); }
