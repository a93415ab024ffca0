// The Kafka implementation of log.h, on the librdkafka C API.
//
// One librdkafka handle per role, each with its own configuration:
//   admin    (KafkaLog)       metadata, topic creation, watermark queries
//   producer (KafkaWriter)    idempotent, acks=all, explicit partitions (PartitionForKey)
//   reader   (KafkaReader)    a simple consumer that starts every partition itself: no
//                             group, nothing committed
//   offsets  (KafkaLog)       one consumer per group for Log::Commit / Committed, never a
//                             member of the group
//   member   (KafkaGroupConsumer) subscribe() with a rebalance callback
// Every topic and group name gets options.topic_prefix; ListTopics takes it off again.
//
// librdkafka's log goes nowhere unless kafka_config sets "debug" (then to stderr): its
// connection errors would break the CLI's one-line error contract. The last error it
// logged for a handle is kept and quoted in the Status messages instead.
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "log/kafka_mock.h"
#include "log/log_internal.h"

namespace vigil {
namespace {

// Commit errors that a retry can cure: the coordinator is moving, loading or slow.
bool IsRetriableCommitError(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
      return true;
    default:
      return false;
  }
}


// How long Log::Open waits for the cluster to answer a metadata request.
constexpr int kOpenTimeoutMs = 5000;
// Metadata, watermark, offset and admin requests.
constexpr int kRequestTimeoutMs = 10000;
// How long a created topic may take to show in the metadata of every broker.
constexpr int kTopicVisibleTimeoutMs = 10000;
// A reader that knows records exist beyond its position but receives nothing for this
// long fails instead of blocking forever (a partition leader that is down, say).
constexpr int kReaderStallMs = 30000;

std::string PartName(const std::string& topic, int partition) {
  return topic + ":" + std::to_string(partition);
}

std::string ErrText(rd_kafka_resp_err_t err) { return std::string(rd_kafka_err2str(err)); }

int64_t MonotonicMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// ---------------------------------------------------------------------------------------
// Handles and their callbacks.

// What a handle's callbacks talk to: the object that owns the handle. Outlives the
// handle (every owner destroys its rd_kafka_t first).
class KafkaClient {
 public:
  virtual ~KafkaClient() = default;
  virtual void OnDelivery(const rd_kafka_message_t& msg) {}
  virtual void OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts) {}

  // The last error or warning librdkafka logged or reported, "" if none.
  std::string LastError() const {
    std::lock_guard<std::mutex> lock(mu_);
    return last_error_;
  }
  void NoteError(const char* text) {
    std::lock_guard<std::mutex> lock(mu_);
    last_error_ = text;
  }
  // " (last client error: ...)" or "".
  std::string LastErrorSuffix() const {
    std::string e = LastError();
    return e.empty() ? "" : " (last client error: " + e + ")";
  }

  bool verbose = false;                       // kafka_config sets "debug": log to stderr
  std::atomic<bool> all_brokers_down{false};  // RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN seen

 private:
  mutable std::mutex mu_;
  std::string last_error_;
};

// May run on librdkafka's internal threads.
void LogCallback(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  auto* client = static_cast<KafkaClient*>(rd_kafka_opaque(rk));
  if (client == nullptr) return;
  if (level <= 4) client->NoteError(buf);  // syslog levels: 3 error, 4 warning
  if (client->verbose) {
    std::fprintf(stderr, "%lld librdkafka %d %s %s: %s\n", static_cast<long long>(WallClockMs()), level, fac,
                 rd_kafka_name(rk), buf);
  }
}

void ErrorCallback(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* client = static_cast<KafkaClient*>(opaque);
  if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
    // "1/1 brokers are down" says less than the connection error logged before it.
    client->all_brokers_down = true;
    if (client->LastError().empty()) client->NoteError(reason);
  } else {
    client->NoteError(reason);
  }
  if (client->verbose) {
    std::fprintf(stderr, "librdkafka error %s: %s\n",
                 rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)), reason);
  }
}

void DeliveryCallback(rd_kafka_t* rk, const rd_kafka_message_t* msg, void* opaque) {
  static_cast<KafkaClient*>(opaque)->OnDelivery(*msg);
}

void RebalanceCallback(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                       void* opaque) {
  static_cast<KafkaClient*>(opaque)->OnRebalance(rk, err, parts);
}

enum class Role { kAdmin, kProducer, kReader, kMember, kOffsets };

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
struct ListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const { rd_kafka_topic_partition_list_destroy(l); }
};
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter>;
struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* m) const { rd_kafka_metadata_destroy(m); }
};
using Metadata = std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter>;

Status SetConf(rd_kafka_conf_t* conf, const std::string& key, const std::string& value, bool user) {
  char errstr[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
    return Status::InvalidArgument((user ? "log.kafka_config: property " : "kafka: property ") + key + "=" +
                                   value + ": " + errstr);
  }
  return Status::OK();
}

// A new handle of `role` whose callbacks go to `client`. The options' kafka_config is
// applied over vigil's defaults; the settings the role depends on are applied last.
Result<rd_kafka_t*> NewHandle(const LogOptions& options, Role role, KafkaClient* client,
                              const std::string& group_id = "") {
  std::unique_ptr<rd_kafka_conf_t, ConfDeleter> conf(rd_kafka_conf_new());
  std::vector<std::pair<std::string, std::string>> defaults = {
      {"client.id", "vigil"},
      {"log.connection.close", "false"},
  };
  std::vector<std::pair<std::string, std::string>> required = {{"bootstrap.servers", options.bootstrap}};
  switch (role) {
    case Role::kAdmin:
      // Looking up a missing topic must not create it (the producer default would).
      required.push_back({"allow.auto.create.topics", "false"});
      break;
    case Role::kProducer:
      // A record leaves the client once per Append, in order per partition, even when
      // requests are retried; 5 ms of batching buys throughput for little latency.
      defaults.push_back({"linger.ms", "5"});
      defaults.push_back({"batch.num.messages", "10000"});
      required.push_back({"enable.idempotence", "true"});
      required.push_back({"acks", "all"});
      required.push_back({"allow.auto.create.topics", "false"});
      break;
    case Role::kReader:
      // New records reach a reader at its end within a fetch wait.
      defaults.push_back({"fetch.wait.max.ms", "100"});
      // librdkafka 2.0.2 stops fetching for a fixed 1 s once this many records wait in
      // the queue (which all partitions share here), however fast they are then read:
      // let the byte limit (queued.max.messages.kbytes, 64 MB) be the one that holds.
      defaults.push_back({"queued.min.messages", "10000000"});
      required.push_back({"enable.auto.commit", "false"});
      required.push_back({"enable.auto.offset.store", "false"});
      required.push_back({"enable.partition.eof", "true"});
      // A position deleted by retention while reading is an error, not a silent jump.
      required.push_back({"auto.offset.reset", "error"});
      required.push_back({"allow.auto.create.topics", "false"});
      break;
    case Role::kMember:
      defaults.push_back({"fetch.wait.max.ms", "100"});
      defaults.push_back({"queued.min.messages", "10000000"});  // as for kReader
      required.push_back({"group.id", group_id});
      required.push_back({"enable.auto.commit", "false"});
      required.push_back({"enable.auto.offset.store", "false"});
      required.push_back({"enable.partition.eof", "false"});
      // Nothing committed: read from the partition's start.
      required.push_back({"auto.offset.reset", "earliest"});
      required.push_back({"allow.auto.create.topics", "false"});
      break;
    case Role::kOffsets:
      required.push_back({"group.id", group_id});
      required.push_back({"enable.auto.commit", "false"});
      required.push_back({"allow.auto.create.topics", "false"});
      break;
  }
  for (const auto& [k, v] : defaults) VIGIL_RETURN_IF_ERROR(SetConf(conf.get(), k, v, false));
  for (const auto& [k, v] : options.kafka_config) VIGIL_RETURN_IF_ERROR(SetConf(conf.get(), k, v, true));
  for (const auto& [k, v] : required) VIGIL_RETURN_IF_ERROR(SetConf(conf.get(), k, v, false));
  client->verbose = options.kafka_config.count("debug") != 0;
  rd_kafka_conf_set_opaque(conf.get(), client);
  rd_kafka_conf_set_log_cb(conf.get(), LogCallback);
  rd_kafka_conf_set_error_cb(conf.get(), ErrorCallback);
  if (role == Role::kProducer) rd_kafka_conf_set_dr_msg_cb(conf.get(), DeliveryCallback);
  if (role == Role::kMember) rd_kafka_conf_set_rebalance_cb(conf.get(), RebalanceCallback);

  bool consumer = role == Role::kReader || role == Role::kMember || role == Role::kOffsets;
  char errstr[512];
  // rd_kafka_new takes the configuration only when it succeeds.
  rd_kafka_t* rk =
      rd_kafka_new(consumer ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof errstr);
  if (rk == nullptr) {
    return Status::InvalidArgument("kafka " + options.bootstrap + ": cannot create a client: " + errstr);
  }
  conf.release();
  // A member's errors and rebalances arrive through rd_kafka_consumer_poll.
  if (role == Role::kMember) rd_kafka_poll_set_consumer(rk);
  return rk;
}

// The handle `rk` with its client, destroyed in that order.
struct Handle {
  std::unique_ptr<KafkaClient> client = std::make_unique<KafkaClient>();
  rd_kafka_t* rk = nullptr;
  Handle() = default;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() {
    if (rk != nullptr) rd_kafka_destroy(rk);
  }
};

Result<Metadata> FetchMetadata(rd_kafka_t* rk, int timeout_ms) {
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, /*all_topics=*/1, nullptr, &md, timeout_ms);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return Status::IOError("metadata request failed: " + ErrText(err));
  return Metadata(md);
}

// Partitions of `full` in `md`: -1 if missing.
int PartitionsIn(const rd_kafka_metadata_t& md, const std::string& full) {
  for (int i = 0; i < md.topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = md.topics[i];
    if (full == t.topic) {
      if (t.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || t.partition_cnt == 0) return -1;
      return t.partition_cnt;
    }
  }
  return -1;
}

bool AllPartitionsLed(const rd_kafka_metadata_t& md, const std::string& full) {
  for (int i = 0; i < md.topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = md.topics[i];
    if (full != t.topic) continue;
    for (int p = 0; p < t.partition_cnt; ++p) {
      if (t.partitions[p].leader < 0) return false;
    }
    return t.partition_cnt > 0;
  }
  return false;
}

// rd_kafka_query_watermark_offsets, retried while the error is one a cluster returns
// during a leader election or a broker restart, for up to about 15 s in all.
//
// librdkafka asks the leader its metadata cache names, and a NOT_LEADER answer does not
// refresh that cache: in 2.0.2 rd_kafka_handle_ListOffsets only refreshes the handle's
// "known" topics (those with an rd_kafka_topic_t on it), and the admin handle has none.
// Left alone, every retry would ask the old leader again until metadata.max.age.ms (15
// min). So each retry first asks the cluster for the topic's metadata, which updates the
// cache with the new leader. (KafkaFaultTest.OffsetsFollowPartitionLeadersThatMove.)
rd_kafka_resp_err_t QueryWatermarksRetrying(rd_kafka_t* rk, const char* topic, int partition, int64_t* lo,
                                            int64_t* hi, int timeout_ms) {
  constexpr int kRetryForMs = 15000;
  const int64_t deadline = MonotonicMs() + kRetryForMs;
  while (true) {
    rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(rk, topic, partition, lo, hi, timeout_ms);
    switch (err) {
      case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
      case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
      case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
      case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
      case RD_KAFKA_RESP_ERR__TRANSPORT:
      case RD_KAFKA_RESP_ERR__TIMED_OUT:
      case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
        break;
      default:
        return err;
    }
    const int64_t left = deadline - MonotonicMs();
    if (left <= 0) return err;
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(left, 250)));
    // Refresh the cached leader of `topic` (the answer itself is not needed).
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic, nullptr);
    if (rkt != nullptr) {
      const rd_kafka_metadata_t* md = nullptr;
      if (rd_kafka_metadata(rk, /*all_topics=*/0, rkt, &md,
                            static_cast<int>(std::clamp<int64_t>(deadline - MonotonicMs(), 1, timeout_ms))) ==
              RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_metadata_destroy(md);
      }
      rd_kafka_topic_destroy(rkt);
    }
  }
}

// Low and high watermarks of every partition of `full` (named `topic` in errors).
Status QueryWatermarks(rd_kafka_t* rk, const std::string& topic, const std::string& full, int partitions,
                       std::vector<int64_t>* lows, std::vector<int64_t>* highs,
                       int timeout_ms = kRequestTimeoutMs) {
  if (lows) lows->assign(partitions, 0);
  if (highs) highs->assign(partitions, 0);
  for (int p = 0; p < partitions; ++p) {
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t err = QueryWatermarksRetrying(rk, full.c_str(), p, &lo, &hi, timeout_ms);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::IOError("kafka: offsets of " + PartName(topic, p) + ": " + ErrText(err));
    }
    if (lows) (*lows)[p] = lo;
    if (highs) (*highs)[p] = hi;
  }
  return Status::OK();
}

// Errors in a consumer's message stream after which reading cannot go on by itself.
// librdkafka recovers from the rest (broker down, leader moved, timeouts) on its own.
bool IsPermanentConsumerError(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET:
    case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR__SSL:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
      return true;
    default:
      return false;
  }
}

std::string FatalError(rd_kafka_t* rk) {
  char errstr[512];
  rd_kafka_resp_err_t err = rd_kafka_fatal_error(rk, errstr, sizeof errstr);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return "";
  return std::string(rd_kafka_err2name(err)) + ": " + errstr;
}

// ---------------------------------------------------------------------------------------
// TopicWriter

class KafkaWriter final : public TopicWriter, public KafkaClient {
 public:
  // `admin` answers the watermark queries.
  static Result<std::unique_ptr<TopicWriter>> Open(const LogOptions& options, rd_kafka_t* admin,
                                                   const std::string& topic, const std::string& full,
                                                   int partitions) {
    std::unique_ptr<KafkaWriter> w(new KafkaWriter(topic, partitions));
    VIGIL_ASSIGN_OR_RETURN(w->rk_, NewHandle(options, Role::kProducer, w.get()));
    w->rkt_ = rd_kafka_topic_new(w->rk_, full.c_str(), nullptr);
    if (w->rkt_ == nullptr) {
      return Status::IOError("kafka: topic " + topic + ": " + ErrText(rd_kafka_last_error()));
    }
    VIGIL_RETURN_IF_ERROR(QueryWatermarks(admin, topic, full, partitions, nullptr, &w->open_ends_));
    return std::unique_ptr<TopicWriter>(std::move(w));
  }

  ~KafkaWriter() override {
    if (rk_ != nullptr) {
      // Best effort for what was appended and never flushed; Flush() is the contract.
      rd_kafka_flush(rk_, kRequestTimeoutMs);
      if (rkt_ != nullptr) rd_kafka_topic_destroy(rkt_);
      rd_kafka_destroy(rk_);
    }
  }

  int partitions() const override { return partitions_; }

  Status Append(std::string_view key, std::string_view payload, TimestampMs time) override {
    return AppendTo(PartitionForKey(key, partitions_), key, payload, time);
  }

  Status AppendTo(int partition, std::string_view key, std::string_view payload, TimestampMs time) override {
    if (partition < 0 || partition >= partitions_) {
      return Status::InvalidArgument("kafka: topic " + topic_ + " has " + std::to_string(partitions_) +
                                     " partitions, no partition " + std::to_string(partition));
    }
    const int64_t ts = time < 0 ? WallClockMs() : time;
    while (true) {
      rd_kafka_resp_err_t err = rd_kafka_producev(
          rk_, RD_KAFKA_V_RKT(rkt_), RD_KAFKA_V_PARTITION(partition),
          RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
          RD_KAFKA_V_VALUE(const_cast<char*>(payload.data()), payload.size()),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(ts), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        // The client's buffer is full: wait for deliveries to make room.
        rd_kafka_poll(rk_, 10);
        continue;
      }
      std::string where = "kafka: append to " + PartName(topic_, partition) + ": ";
      if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
        return Status::InvalidArgument(where + ErrText(err) + " (" +
                                       std::to_string(key.size() + payload.size()) +
                                       " bytes; see message.max.bytes)");
      }
      if (err == RD_KAFKA_RESP_ERR__FATAL) return Status::IOError(where + FatalError(rk_));
      return Status::IOError(where + ErrText(err) + LastErrorSuffix());
    }
    rd_kafka_poll(rk_, 0);  // serves delivery reports
    return Status::OK();
  }

  Status Flush(bool sync) override {
    // acks=all: a delivered record is on every in-sync replica; `sync` adds nothing.
    while (rd_kafka_outq_len(rk_) > 0) {
      rd_kafka_flush(rk_, 1000);
      std::string fatal = FatalError(rk_);
      if (!fatal.empty()) return Status::IOError("kafka: producer to " + topic_ + " failed: " + fatal);
    }
    rd_kafka_poll(rk_, 0);
    if (failed_ > 0) {
      Status st = Status::IOError("kafka: " + std::to_string(failed_) + " record(s) to " + topic_ +
                                  " not delivered; first: " + first_failure_);
      failed_ = 0;
      first_failure_.clear();
      return st;
    }
    return Status::OK();
  }

  std::vector<int64_t> FlushedEnds() const override {
    std::vector<int64_t> ends = open_ends_;
    for (int p = 0; p < partitions_; ++p) {
      if (delivered_ends_[p] >= 0) ends[p] = delivered_ends_[p];
    }
    return ends;
  }

  // Runs inside rd_kafka_poll / rd_kafka_flush, on this writer's thread.
  void OnDelivery(const rd_kafka_message_t& msg) override {
    if (msg.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (failed_++ == 0) first_failure_ = PartName(topic_, msg.partition) + ": " + ErrText(msg.err);
      return;
    }
    if (msg.partition >= 0 && msg.partition < partitions_ && msg.offset >= 0) {
      delivered_ends_[msg.partition] = std::max(delivered_ends_[msg.partition], msg.offset + 1);
    }
  }

 private:
  KafkaWriter(std::string topic, int partitions)
      : topic_(std::move(topic)), partitions_(partitions), delivered_ends_(partitions, -1) {}

  const std::string topic_;
  const int partitions_;
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_topic_t* rkt_ = nullptr;
  std::vector<int64_t> open_ends_;       // per partition, the end when the writer opened
  std::vector<int64_t> delivered_ends_;  // per partition, highest delivered offset + 1, or -1
  int64_t failed_ = 0;                   // failed deliveries since the last Flush
  std::string first_failure_;
};

// ---------------------------------------------------------------------------------------
// TopicReader
//
// librdkafka's simple consumer (rd_kafka_consume_start_queue): every partition started
// at its position, all feeding one queue, no group at all. The high-level consumer
// (rd_kafka_assign) needs a group.id even when it never joins, and in librdkafka 2.0.2
// starts fetching an assignment only once that group's coordinator is known, which
// took a second now and then.
//
// "At the end" is decided from our own positions against the partitions' high
// watermarks, queried when everything we know of has been read: a partition EOF event
// comes only after an empty fetch (which a broker holds up to fetch.wait.max.ms), so
// waiting for one would make Next() slow, and not waiting for one would make it wrong
// about records acknowledged just before the call. EOF events still move a position
// over offsets that hold no record (transaction markers of other producers).

class KafkaReader final : public TopicReader, public KafkaClient {
 public:
  // `admin` answers the watermark queries: on the consumer's own connections they would
  // wait behind its fetch requests, which a broker holds up to fetch.wait.max.ms.
  static Result<std::unique_ptr<TopicReader>> Open(const LogOptions& options, std::shared_ptr<Handle> admin,
                                                   const std::string& topic, const std::string& full,
                                                   int partitions) {
    std::unique_ptr<KafkaReader> r(new KafkaReader(std::move(admin), topic, full, partitions));
    VIGIL_ASSIGN_OR_RETURN(r->rk_, NewHandle(options, Role::kReader, r.get()));
    r->rkt_ = rd_kafka_topic_new(r->rk_, full.c_str(), nullptr);
    if (r->rkt_ == nullptr)
      return Status::IOError("kafka: topic " + topic + ": " + ErrText(rd_kafka_last_error()));
    r->queue_ = rd_kafka_queue_new(r->rk_);
    VIGIL_RETURN_IF_ERROR(QueryWatermarks(r->admin_->rk, topic, full, partitions, &r->positions_, &r->ends_));
    return std::unique_ptr<TopicReader>(std::move(r));
  }

  ~KafkaReader() override {
    if (current_ != nullptr) rd_kafka_message_destroy(current_);
    for (int p = 0; p < partitions_; ++p) {
      if (started_[p]) rd_kafka_consume_stop(rkt_, p);
    }
    if (queue_ != nullptr) rd_kafka_queue_destroy(queue_);
    if (rkt_ != nullptr) rd_kafka_topic_destroy(rkt_);
    if (rk_ != nullptr) rd_kafka_destroy(rk_);
  }

  int partitions() const override { return partitions_; }

  Status Seek(int partition, int64_t offset) override {
    if (partition < 0 || partition >= partitions_) {
      return Status::InvalidArgument("kafka: topic " + topic_ + " has " + std::to_string(partitions_) +
                                     " partitions, no partition " + std::to_string(partition));
    }
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t err =
        QueryWatermarksRetrying(admin_->rk, full_.c_str(), partition, &lo, &hi, kRequestTimeoutMs);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::IOError("kafka: offsets of " + PartName(topic_, partition) + ": " + ErrText(err));
    }
    if (offset < lo) {
      return Status::InvalidArgument("kafka: cannot seek " + PartName(topic_, partition) + " to offset " +
                                     std::to_string(offset) + ": the partition starts at " +
                                     std::to_string(lo) + " (older records were deleted by retention)");
    }
    if (offset > hi) {
      return Status::InvalidArgument("kafka: cannot seek " + PartName(topic_, partition) + " to offset " +
                                     std::to_string(offset) + ": the partition ends at " +
                                     std::to_string(hi));
    }
    positions_[partition] = offset;
    ends_[partition] = hi;
    restart_[partition] = true;  // at the next Next(), once for any number of Seeks
    return Status::OK();
  }

  Result<bool> Next(LogRecord* rec) override {
    if (current_ != nullptr) {
      rd_kafka_message_destroy(current_);
      current_ = nullptr;
    }
    VIGIL_RETURN_IF_ERROR(StartFetching());
    bool refreshed = false;  // ends_ queried during this call
    int wait_ms = 0;
    int64_t last_progress = MonotonicMs();
    while (true) {
      rd_kafka_message_t* msg = rd_kafka_consume_queue(queue_, wait_ms);
      if (msg != nullptr) {
        last_progress = MonotonicMs();
        Result<bool> taken = Take(msg, rec);
        if (!taken.ok() || *taken) return taken;
        wait_ms = 0;
        continue;
      }
      rd_kafka_poll(rk_, 0);  // serves the error callback
      if (AtEnds()) {
        if (refreshed) return false;
        VIGIL_RETURN_IF_ERROR(QueryWatermarks(admin_->rk, topic_, full_, partitions_, nullptr, &ends_));
        refreshed = true;
        if (AtEnds()) return false;
        last_progress = MonotonicMs();
      }
      // Records are known to exist past some position: wait for the fetcher.
      if (MonotonicMs() - last_progress > kReaderStallMs) {
        int p = 0;
        while (positions_[p] >= ends_[p]) ++p;
        return Status::IOError("kafka: " + PartName(topic_, p) + ": no record arrived for " +
                               std::to_string(kReaderStallMs / 1000) + " s although the partition ends at " +
                               std::to_string(ends_[p]) + " and the reader is at " +
                               std::to_string(positions_[p]) + LastErrorSuffix());
      }
      wait_ms = 100;
    }
  }

  int64_t Position(int partition) const override { return positions_.at(partition); }

 private:
  KafkaReader(std::shared_ptr<Handle> admin, std::string topic, std::string full, int partitions)
      : admin_(std::move(admin)),
        topic_(std::move(topic)),
        full_(std::move(full)),
        partitions_(partitions),
        started_(partitions, false),
        restart_(partitions, true) {}

  bool AtEnds() const {
    for (int p = 0; p < partitions_; ++p) {
      if (positions_[p] < ends_[p]) return false;
    }
    return true;
  }

  // (Re)starts the fetcher of every partition that is new or was Seek()ed. Stopping a
  // partition drops what was fetched for its old position.
  Status StartFetching() {
    for (int p = 0; p < partitions_; ++p) {
      if (!restart_[p]) continue;
      if (started_[p]) {
        rd_kafka_consume_stop(rkt_, p);
        started_[p] = false;
      }
      if (rd_kafka_consume_start_queue(rkt_, p, positions_[p], queue_) != 0) {
        return Status::IOError("kafka: cannot read " + PartName(topic_, p) + " from offset " +
                               std::to_string(positions_[p]) + ": " + ErrText(rd_kafka_last_error()));
      }
      started_[p] = true;
      restart_[p] = false;
    }
    return Status::OK();
  }

  // Takes ownership of msg. True if it is a record, now in *rec.
  Result<bool> Take(rd_kafka_message_t* msg, LogRecord* rec) {
    const int p = msg->partition;
    const bool ours = p >= 0 && p < partitions_;
    if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      if (ours && !restart_[p]) positions_[p] = std::max(positions_[p], msg->offset);
      rd_kafka_message_destroy(msg);
      return false;
    }
    if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_resp_err_t err = msg->err;
      std::string text = rd_kafka_message_errstr(msg);
      rd_kafka_message_destroy(msg);
      NoteError(text.c_str());
      if (!IsPermanentConsumerError(err)) return false;
      std::string where = ours ? PartName(topic_, p) : topic_;
      if (err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET || err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
        int64_t lo = -1, hi = -1;
        if (ours) rd_kafka_query_watermark_offsets(admin_->rk, full_.c_str(), p, &lo, &hi, kRequestTimeoutMs);
        return Status::InvalidArgument("kafka: " + where + ": position " +
                                       (ours ? std::to_string(positions_[p]) : std::string("?")) +
                                       " is no longer in the log, which starts at " + std::to_string(lo) +
                                       " (deleted by retention): " + text);
      }
      return Status::IOError("kafka: reading " + where + ": " + text);
    }
    if (!ours || msg->offset < positions_[p]) {  // fetched before a Seek
      rd_kafka_message_destroy(msg);
      return false;
    }
    current_ = msg;
    positions_[p] = msg->offset + 1;
    rec->partition = p;
    rec->offset = msg->offset;
    rd_kafka_timestamp_type_t tstype;
    rec->append_time = rd_kafka_message_timestamp(msg, &tstype);
    rec->key = std::string_view(static_cast<const char*>(msg->key), msg->key_len);
    rec->payload = std::string_view(static_cast<const char*>(msg->payload), msg->len);
    return true;
  }

  const std::shared_ptr<Handle> admin_;
  const std::string topic_;
  const std::string full_;
  const int partitions_;
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_topic_t* rkt_ = nullptr;
  rd_kafka_queue_t* queue_ = nullptr;      // every partition's records, in fetch order
  std::vector<int64_t> positions_;         // per partition, the next offset Next() returns
  std::vector<int64_t> ends_;              // per partition, the latest high watermark known
  std::vector<bool> started_;              // the partition's fetcher runs
  std::vector<bool> restart_;              // the fetcher must (re)start at positions_
  rd_kafka_message_t* current_ = nullptr;  // backs the views of the last record
};

// ---------------------------------------------------------------------------------------
// GroupConsumer

class KafkaGroupConsumer final : public GroupConsumer, public KafkaClient {
 public:
  static Result<std::unique_ptr<GroupConsumer>> Open(const LogOptions& options, const std::string& group,
                                                     const std::vector<std::string>& topics,
                                                     Listener listener) {
    std::unique_ptr<KafkaGroupConsumer> c(
        new KafkaGroupConsumer(options.topic_prefix, group, std::move(listener)));
    VIGIL_ASSIGN_OR_RETURN(c->rk_, NewHandle(options, Role::kMember, c.get(), options.topic_prefix + group));
    PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(topics.size())));
    for (const std::string& t : topics) {
      rd_kafka_topic_partition_list_add(list.get(), (options.topic_prefix + t).c_str(),
                                        RD_KAFKA_PARTITION_UA);
    }
    rd_kafka_resp_err_t err = rd_kafka_subscribe(c->rk_, list.get());
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::IOError("kafka: group " + group + ": cannot subscribe: " + ErrText(err));
    }
    return std::unique_ptr<GroupConsumer>(std::move(c));
  }

  ~KafkaGroupConsumer() override {
    if (rk_ == nullptr) return;
    Close().IgnoreError();  // a destructor has no one to tell
    rd_kafka_destroy(rk_);
  }

  Result<bool> Next(LogRecord* rec, std::string* topic, DurationMs wait) override {
    if (closed_) return Status::InvalidArgument("kafka: group " + group_ + ": consumer is closed");
    if (current_ != nullptr) {
      rd_kafka_message_destroy(current_);
      current_ = nullptr;
    }
    const int64_t deadline = MonotonicMs() + std::max<DurationMs>(wait, 0);
    while (true) {
      const int64_t left = std::max<int64_t>(deadline - MonotonicMs(), 0);
      rd_kafka_message_t* msg =
          rd_kafka_consumer_poll(rk_, static_cast<int>(std::min<int64_t>(left, INT32_MAX)));
      if (!listener_status_.ok()) {  // a callback failed inside the poll
        if (msg != nullptr) rd_kafka_message_destroy(msg);
        Status st = listener_status_;
        listener_status_ = Status::OK();
        return st;
      }
      if (msg == nullptr) {
        if (MonotonicMs() >= deadline) return false;
        continue;
      }
      const std::string full = msg->rkt != nullptr ? rd_kafka_topic_name(msg->rkt) : "";
      if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_resp_err_t err = msg->err;
        std::string text = rd_kafka_message_errstr(msg);
        int p = msg->partition;
        rd_kafka_message_destroy(msg);
        NoteError(text.c_str());
        if (err == RD_KAFKA_RESP_ERR__PARTITION_EOF || !IsPermanentConsumerError(err)) continue;
        std::string where = full.empty() ? "" : " " + PartName(Unprefixed(full), p);
        return Status::IOError("kafka: group " + group_ + ":" + where + ": " + text);
      }
      current_ = msg;
      *topic = Unprefixed(full);
      rec->partition = msg->partition;
      rec->offset = msg->offset;
      rd_kafka_timestamp_type_t tstype;
      rec->append_time = rd_kafka_message_timestamp(msg, &tstype);
      rec->key = std::string_view(static_cast<const char*>(msg->key), msg->key_len);
      rec->payload = std::string_view(static_cast<const char*>(msg->payload), msg->len);
      return true;
    }
  }

  Status Commit(const std::vector<Assignment>& parts, const std::vector<int64_t>& next_offsets) override {
    if (parts.size() != next_offsets.size()) {
      return Status::InvalidArgument("kafka: group " + group_ + ": commit of " +
                                     std::to_string(parts.size()) + " partitions with " +
                                     std::to_string(next_offsets.size()) + " offsets");
    }
    if (parts.empty()) return Status::OK();
    if (closed_) return Status::InvalidArgument("kafka: group " + group_ + ": consumer is closed");
    return CommitList(parts, next_offsets);
  }

  std::vector<Assignment> assignment() const override { return assignment_; }

  Status Close() override {
    if (closed_) return Status::OK();
    if (current_ != nullptr) {
      rd_kafka_message_destroy(current_);
      current_ = nullptr;
    }
    // Calls the rebalance callback (on_revoked) and leaves the group.
    rd_kafka_resp_err_t err = rd_kafka_consumer_close(rk_);
    closed_ = true;
    Status st = listener_status_;
    listener_status_ = Status::OK();
    if (!st.ok()) return st;
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::IOError("kafka: group " + group_ + ": leaving the group: " + ErrText(err));
    }
    return Status::OK();
  }

  // Inside rd_kafka_consumer_poll or rd_kafka_consumer_close.
  void OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts) override {
    const char* protocol = rd_kafka_rebalance_protocol(rk);
    const bool cooperative = protocol != nullptr && std::strcmp(protocol, "COOPERATIVE") == 0;
    std::vector<Assignment> given;
    for (int i = 0; i < parts->cnt; ++i)
      given.push_back({Unprefixed(parts->elems[i].topic), parts->elems[i].partition});

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      std::vector<int64_t> start(given.size(), -1);
      if (listener_.on_assigned) Keep(listener_.on_assigned(given, &start));
      for (int i = 0; i < parts->cnt; ++i) {
        // -1: the group's committed offset; auto.offset.reset=earliest when there is none.
        int64_t s = i < static_cast<int>(start.size()) ? start[i] : -1;
        parts->elems[i].offset = s >= 0 ? s : RD_KAFKA_OFFSET_STORED;
      }
      if (cooperative) {
        rd_kafka_error_t* e = rd_kafka_incremental_assign(rk, parts);
        if (e != nullptr) {
          Keep(Status::IOError("kafka: group " + group_ + ": assign: " + rd_kafka_error_string(e)));
          rd_kafka_error_destroy(e);
        }
        assignment_.insert(assignment_.end(), given.begin(), given.end());
      } else {
        rd_kafka_resp_err_t e = rd_kafka_assign(rk, parts);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
          Keep(Status::IOError("kafka: group " + group_ + ": assign: " + ErrText(e)));
        assignment_ = given;
      }
      return;
    }
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
      if (listener_.on_revoked) Keep(listener_.on_revoked(given));
      if (cooperative) {
        rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk, parts);
        if (e != nullptr) rd_kafka_error_destroy(e);
        std::vector<Assignment> left;
        for (const Assignment& a : assignment_) {
          bool gone = std::any_of(given.begin(), given.end(), [&](const Assignment& g) {
            return g.topic == a.topic && g.partition == a.partition;
          });
          if (!gone) left.push_back(a);
        }
        assignment_ = std::move(left);
      } else {
        rd_kafka_assign(rk, nullptr);
        assignment_.clear();
      }
      return;
    }
    // A failed rebalance: drop everything, librdkafka rejoins.
    Keep(Status::IOError("kafka: group " + group_ + ": rebalance failed: " + ErrText(err)));
    if (cooperative) {
      rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk, parts);
      if (e != nullptr) rd_kafka_error_destroy(e);
    } else {
      rd_kafka_assign(rk, nullptr);
    }
    assignment_.clear();
  }

 private:
  KafkaGroupConsumer(std::string prefix, std::string group, Listener listener)
      : prefix_(std::move(prefix)), group_(std::move(group)), listener_(std::move(listener)) {}

  std::string Unprefixed(const std::string& full) const {
    return full.compare(0, prefix_.size(), prefix_) == 0 ? full.substr(prefix_.size()) : full;
  }

  void Keep(Status st) {
    if (listener_status_.ok() && !st.ok()) listener_status_ = std::move(st);
  }

  Status CommitList(const std::vector<Assignment>& parts, const std::vector<int64_t>& next_offsets) {
    PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(parts.size())));
    for (size_t i = 0; i < parts.size(); ++i) {
      if (next_offsets[i] < 0) {
        return Status::InvalidArgument("kafka: group " + group_ + ": negative offset " +
                                       std::to_string(next_offsets[i]) + " for " +
                                       PartName(parts[i].topic, parts[i].partition));
      }
      rd_kafka_topic_partition_list_add(list.get(), (prefix_ + parts[i].topic).c_str(), parts[i].partition)
          ->offset = next_offsets[i];
    }
    rd_kafka_resp_err_t err = rd_kafka_commit(rk_, list.get(), /*async=*/0);
    // A coordinator that moves, loads or times out answers again a moment later.
    for (int attempt = 1; attempt < 4 && IsRetriableCommitError(err); ++attempt) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100 * attempt));
      err = rd_kafka_commit(rk_, list.get(), /*async=*/0);
    }
    for (int i = 0; err == RD_KAFKA_RESP_ERR_NO_ERROR && i < list->cnt; ++i) {
      if (list->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return Status::IOError("kafka: group " + group_ + ": commit " +
                               PartName(Unprefixed(list->elems[i].topic), list->elems[i].partition) + ": " +
                               ErrText(list->elems[i].err));
      }
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::IOError("kafka: group " + group_ + ": commit of " + std::to_string(parts.size()) +
                             " partition(s) failed: " + ErrText(err));
    }
    return Status::OK();
  }

  const std::string prefix_;
  const std::string group_;
  Listener listener_;
  rd_kafka_t* rk_ = nullptr;
  std::vector<Assignment> assignment_;
  Status listener_status_;  // the first failure of a callback, for the next Next()/Close()
  bool closed_ = false;
  rd_kafka_message_t* current_ = nullptr;
};

// ---------------------------------------------------------------------------------------
// Log

class KafkaLog final : public Log {
 public:
  explicit KafkaLog(const LogOptions& options) : options_(options) {}

  Status Connect() {
    if (options_.bootstrap.empty()) {
      return Status::InvalidArgument(
          "kafka: log.bootstrap is empty: name the brokers, host:port[,host:port...]");
    }
    VIGIL_ASSIGN_OR_RETURN(admin_->rk, NewHandle(options_, Role::kAdmin, admin_->client.get()));
    // A brokers-only metadata request answers whether the cluster is there. Polled in
    // short steps so that "every broker refused" ends the wait early.
    const int64_t deadline = MonotonicMs() + kOpenTimeoutMs;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TIMED_OUT;
    while (MonotonicMs() < deadline) {
      const rd_kafka_metadata_t* md = nullptr;
      err = rd_kafka_metadata(admin_->rk, /*all_topics=*/0, nullptr, &md, 250);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        brokers_ = md->broker_cnt;
        rd_kafka_metadata_destroy(md);
        break;
      }
      rd_kafka_poll(admin_->rk, 0);  // serves the error callback
      if (admin_->client->all_brokers_down) break;
    }
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::string last = admin_->client->LastError();
      return Status::IOError(
          "kafka: the cluster at " + options_.bootstrap + " does not answer" +
          (last.empty() ? " within " + std::to_string(kOpenTimeoutMs / 1000) + " s" : ": " + last));
    }
    char* id = rd_kafka_clusterid(admin_->rk, kRequestTimeoutMs);
    if (id != nullptr) {
      is_mock_ = std::strncmp(id, "mockCluster", 11) == 0;
      rd_kafka_mem_free(admin_->rk, id);
    }
    return Status::OK();
  }

  const LogOptions& options() const override { return options_; }

  Status CreateTopic(const std::string& topic, int partitions) override {
    if (partitions < 1) {
      return Status::InvalidArgument("kafka: topic " + topic + ": partitions must be at least 1, not " +
                                     std::to_string(partitions));
    }
    if (topic.empty()) return Status::InvalidArgument("kafka: empty topic name");
    std::lock_guard<std::mutex> lock(mu_);
    VIGIL_ASSIGN_OR_RETURN(int existing, PartitionsLocked(topic));
    if (existing < 0) {
      VIGIL_RETURN_IF_ERROR(CreateLocked(topic, partitions));
      VIGIL_ASSIGN_OR_RETURN(existing, WaitVisibleLocked(topic));
    }
    if (existing != partitions) {
      return Status::InvalidArgument("kafka: topic " + topic + " exists with " + std::to_string(existing) +
                                     " partitions, not " + std::to_string(partitions));
    }
    return Status::OK();
  }

  Result<int> Partitions(const std::string& topic) override {
    std::lock_guard<std::mutex> lock(mu_);
    VIGIL_ASSIGN_OR_RETURN(int n, PartitionsLocked(topic));
    if (n < 0) return Status::NotFound("kafka: no topic " + topic + Where());
    return n;
  }

  Result<std::unique_ptr<TopicWriter>> OpenWriter(const std::string& topic) override {
    VIGIL_ASSIGN_OR_RETURN(int n, EnsureTopic(topic));
    return KafkaWriter::Open(options_, admin_->rk, topic, Full(topic), n);
  }

  Result<std::unique_ptr<TopicReader>> OpenReader(const std::string& topic) override {
    VIGIL_ASSIGN_OR_RETURN(int n, EnsureTopic(topic));
    return KafkaReader::Open(options_, admin_, topic, Full(topic), n);
  }

  Result<std::vector<int64_t>> StartOffsets(const std::string& topic) override {
    VIGIL_ASSIGN_OR_RETURN(int n, Partitions(topic));
    std::vector<int64_t> lows;
    VIGIL_RETURN_IF_ERROR(QueryWatermarks(admin_->rk, topic, Full(topic), n, &lows, nullptr));
    return lows;
  }

  Result<std::vector<int64_t>> EndOffsets(const std::string& topic) override {
    VIGIL_ASSIGN_OR_RETURN(int n, Partitions(topic));
    std::vector<int64_t> highs;
    VIGIL_RETURN_IF_ERROR(QueryWatermarks(admin_->rk, topic, Full(topic), n, nullptr, &highs));
    return highs;
  }

  Result<std::vector<std::string>> ListTopics() override {
    std::lock_guard<std::mutex> lock(mu_);
    VIGIL_ASSIGN_OR_RETURN(Metadata md, MetadataLocked());
    std::vector<std::string> names;
    const std::string& prefix = options_.topic_prefix;
    for (int i = 0; i < md->topic_cnt; ++i) {
      const rd_kafka_metadata_topic_t& t = md->topics[i];
      std::string name = t.topic;
      if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR || name.compare(0, prefix.size(), prefix) != 0) continue;
      name = name.substr(prefix.size());
      if (name.empty() || name.compare(0, 2, "__") == 0) continue;  // Kafka's own (__consumer_offsets)
      names.push_back(std::move(name));
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  Status Commit(const std::string& group, const std::string& topic,
                const std::vector<int64_t>& next_offsets) override {
    VIGIL_ASSIGN_OR_RETURN(int n, Partitions(topic));
    if (static_cast<int>(next_offsets.size()) != n) {
      return Status::InvalidArgument("kafka: group " + group + ": topic " + topic + " has " +
                                     std::to_string(n) + " partitions, commit has " +
                                     std::to_string(next_offsets.size()) + " offsets");
    }
    PartitionList list(rd_kafka_topic_partition_list_new(n));
    for (int p = 0; p < n; ++p) {
      if (next_offsets[p] < 0) {
        return Status::InvalidArgument("kafka: group " + group + ": negative offset " +
                                       std::to_string(next_offsets[p]) + " for " + PartName(topic, p));
      }
      rd_kafka_topic_partition_list_add(list.get(), Full(topic).c_str(), p)->offset = next_offsets[p];
    }
    VIGIL_ASSIGN_OR_RETURN(Handle * h, OffsetsHandle(group));
    // One OffsetCommit request to the group's coordinator: all partitions or none.
    rd_kafka_resp_err_t err = rd_kafka_commit(h->rk, list.get(), /*async=*/0);
    rd_kafka_poll(h->rk, 0);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      for (int i = 0; i < list->cnt; ++i) {
        if (list->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
          err = list->elems[i].err;
          return Status::IOError("kafka: group " + group + ": commit " +
                                 PartName(topic, list->elems[i].partition) + ": " + ErrText(err) +
                                 CommitHint(err));
        }
      }
      return Status::OK();
    }
    return Status::IOError("kafka: group " + group + ": commit of " + topic + " failed: " + ErrText(err) +
                           CommitHint(err) + h->client->LastErrorSuffix());
  }

  Result<std::vector<int64_t>> Committed(const std::string& group, const std::string& topic) override {
    VIGIL_ASSIGN_OR_RETURN(int n, Partitions(topic));
    PartitionList list(rd_kafka_topic_partition_list_new(n));
    for (int p = 0; p < n; ++p) rd_kafka_topic_partition_list_add(list.get(), Full(topic).c_str(), p);
    VIGIL_ASSIGN_OR_RETURN(Handle * h, OffsetsHandle(group));
    rd_kafka_resp_err_t err = rd_kafka_committed(h->rk, list.get(), kRequestTimeoutMs);
    rd_kafka_poll(h->rk, 0);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return Status::IOError("kafka: group " + group + ": committed offsets of " + topic + ": " +
                             ErrText(err) + h->client->LastErrorSuffix());
    }
    std::vector<int64_t> out(n, 0);
    for (int i = 0; i < list->cnt; ++i) {
      const rd_kafka_topic_partition_t& e = list->elems[i];
      if (e.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return Status::IOError("kafka: group " + group + ": committed offset of " +
                               PartName(topic, e.partition) + ": " + ErrText(e.err));
      }
      if (e.partition >= 0 && e.partition < n) out[e.partition] = e.offset >= 0 ? e.offset : 0;
    }
    return out;
  }

  Result<std::unique_ptr<GroupConsumer>> Subscribe(const std::string& group,
                                                   const std::vector<std::string>& topics,
                                                   GroupConsumer::Listener listener) override {
    if (group.empty()) return Status::InvalidArgument("kafka: empty consumer group name");
    if (topics.empty())
      return Status::InvalidArgument("kafka: group " + group + ": no topics to subscribe to");
    for (const std::string& t : topics) VIGIL_RETURN_IF_ERROR(EnsureTopic(t).status());
    return KafkaGroupConsumer::Open(options_, group, topics, std::move(listener));
  }

  Result<RetentionReport> EnforceRetention(TimestampMs now) override { return RetentionReport{}; }

 private:
  std::string Full(const std::string& topic) const { return options_.topic_prefix + topic; }

  std::string Where() const {
    return " (cluster " + options_.bootstrap +
           (options_.topic_prefix.empty() ? "" : ", topic prefix '" + options_.topic_prefix + "'") + ")";
  }

  static std::string CommitHint(rd_kafka_resp_err_t err) {
    if (err == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID || err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
        err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS) {
      return " (the group has active members: commit through their GroupConsumer)";
    }
    return "";
  }

  Result<Metadata> MetadataLocked() {
    rd_kafka_poll(admin_->rk, 0);
    auto md = FetchMetadata(admin_->rk, kRequestTimeoutMs);
    if (!md.ok())
      return Status::IOError("kafka" + Where() + ": " + md.status().message() +
                             admin_->client->LastErrorSuffix());
    return md;
  }

  // Partitions of `topic`, -1 if it does not exist.
  Result<int> PartitionsLocked(const std::string& topic) {
    VIGIL_ASSIGN_OR_RETURN(Metadata md, MetadataLocked());
    return PartitionsIn(*md, Full(topic));
  }

  Result<int> EnsureTopic(const std::string& topic) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      VIGIL_ASSIGN_OR_RETURN(int n, PartitionsLocked(topic));
      if (n > 0) return n;
    }
    VIGIL_RETURN_IF_ERROR(CreateTopic(topic, options_.partitions));
    return options_.partitions;
  }

  // Creates the topic; the caller has seen it missing.
  Status CreateLocked(const std::string& topic, int partitions) {
    const std::string full = Full(topic);
    bool in_process = false;
    VIGIL_RETURN_IF_ERROR(
        log_internal::CreateTopicOnInProcessMock(options_.bootstrap, full, partitions, &in_process));
    if (in_process) return Status::OK();
    if (is_mock_) return AutoCreateLocked(topic, partitions);

    const int replication = std::max(1, std::min(3, brokers_));
    char errstr[512];
    rd_kafka_NewTopic_t* nt =
        rd_kafka_NewTopic_new(full.c_str(), partitions, replication, errstr, sizeof errstr);
    if (nt == nullptr) return Status::InvalidArgument("kafka: topic " + topic + ": " + errstr);
    rd_kafka_NewTopic_set_config(nt, "retention.ms", std::to_string(options_.retention_ms).c_str());
    rd_kafka_NewTopic_set_config(nt, "retention.bytes", std::to_string(options_.retention_bytes).c_str());
    rd_kafka_AdminOptions_t* ao = rd_kafka_AdminOptions_new(admin_->rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(ao, kRequestTimeoutMs, errstr, sizeof errstr);
    rd_kafka_AdminOptions_set_operation_timeout(ao, kRequestTimeoutMs, errstr, sizeof errstr);
    rd_kafka_queue_t* q = rd_kafka_queue_new(admin_->rk);
    rd_kafka_CreateTopics(admin_->rk, &nt, 1, ao, q);
    rd_kafka_event_t* ev = rd_kafka_queue_poll(q, kRequestTimeoutMs + 5000);
    Status st;
    if (ev == nullptr) {
      st = Status::IOError("kafka: creating topic " + topic + Where() + ": no answer" +
                           admin_->client->LastErrorSuffix());
    } else if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      st = Status::IOError("kafka: creating topic " + topic + Where() + ": " +
                           rd_kafka_event_error_string(ev));
    } else {
      size_t n = 0;
      const rd_kafka_topic_result_t** results =
          rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
      for (size_t i = 0; i < n; ++i) {
        rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]);
        // Someone else created it meanwhile: the caller compares partition counts.
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) continue;
        const char* why = rd_kafka_topic_result_error_string(results[i]);
        std::string msg = "kafka: creating topic " + topic + Where() + ": " + ErrText(err) +
                          (why != nullptr ? std::string(": ") + why : "");
        bool user_error =
            err == RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION || err == RD_KAFKA_RESP_ERR_INVALID_PARTITIONS ||
            err == RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR || err == RD_KAFKA_RESP_ERR_INVALID_CONFIG ||
            err == RD_KAFKA_RESP_ERR_POLICY_VIOLATION;
        st = user_error ? Status::InvalidArgument(msg) : Status::IOError(msg);
      }
    }
    if (ev != nullptr) rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_NewTopic_destroy(nt);
    return st;
  }

  // A librdkafka mock cluster in another process has no CreateTopics API: a metadata
  // request that allows auto-creation makes the topic, with the mock's default of 4
  // partitions.
  Status AutoCreateLocked(const std::string& topic, int partitions) {
    LogOptions o = options_;
    o.kafka_config["allow.auto.create.topics"] = "true";
    Handle h;
    VIGIL_ASSIGN_OR_RETURN(h.rk, NewHandle(o, Role::kProducer, h.client.get()));
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(h.rk, Full(topic).c_str(), nullptr);
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_resp_err_t err = rd_kafka_metadata(h.rk, 0, rkt, &md, kRequestTimeoutMs);
    int got = err == RD_KAFKA_RESP_ERR_NO_ERROR ? PartitionsIn(*md, Full(topic)) : -1;
    if (md != nullptr) rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    if (got < 0) {
      return Status::IOError("kafka: creating topic " + topic + " on the mock cluster" + Where() + ": " +
                             (err != RD_KAFKA_RESP_ERR_NO_ERROR ? ErrText(err) : "not created"));
    }
    if (got != partitions) {
      return Status::InvalidArgument(
          "kafka: topic " + topic + ": a librdkafka mock cluster in another process" + Where() +
          " can only auto-create topics, with " + std::to_string(got) + " partitions, not " +
          std::to_string(partitions) + ": set log.partitions to " + std::to_string(got));
    }
    return Status::OK();
  }

  // Waits until every broker's metadata shows the topic with a leader per partition.
  Result<int> WaitVisibleLocked(const std::string& topic) {
    const int64_t deadline = MonotonicMs() + kTopicVisibleTimeoutMs;
    while (true) {
      VIGIL_ASSIGN_OR_RETURN(Metadata md, MetadataLocked());
      int n = PartitionsIn(*md, Full(topic));
      if (n > 0 && AllPartitionsLed(*md, Full(topic))) return n;
      if (MonotonicMs() > deadline) {
        return Status::IOError("kafka: topic " + topic +
                               " was created but has no leader for every partition after " +
                               std::to_string(kTopicVisibleTimeoutMs / 1000) + " s" + Where());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  Result<Handle*> OffsetsHandle(const std::string& group) {
    if (group.empty()) return Status::InvalidArgument("kafka: empty consumer group name");
    std::lock_guard<std::mutex> lock(mu_);
    auto it = offsets_.find(group);
    if (it != offsets_.end()) return it->second.get();
    auto h = std::make_unique<Handle>();
    VIGIL_ASSIGN_OR_RETURN(h->rk, NewHandle(options_, Role::kOffsets, h->client.get(), Full(group)));
    Handle* raw = h.get();
    offsets_.emplace(group, std::move(h));
    return raw;
  }

  const LogOptions options_;
  std::mutex mu_;  // admin requests that read-then-act, and offsets_
  std::shared_ptr<Handle> admin_ = std::make_shared<Handle>();  // shared with readers
  int brokers_ = 1;
  bool is_mock_ = false;                                    // a librdkafka mock cluster: no Admin API
  std::map<std::string, std::unique_ptr<Handle>> offsets_;  // by group (unprefixed)
};

}  // namespace

namespace log_internal {

Result<std::unique_ptr<Log>> OpenKafkaLog(const LogOptions& options) {
  auto log = std::make_unique<KafkaLog>(options);
  VIGIL_RETURN_IF_ERROR(log->Connect());
  return std::unique_ptr<Log>(std::move(log));
}

}  // namespace log_internal
}  // namespace vigil
