// librdkafka's own mock Kafka cluster (rdkafka_mock.h): brokers in this process, on
// loopback ports, speaking the real Kafka protocol. For tests, benchmarks and
// `vigil kafka-mock`; no JVM and no setup.
//
// What the mock of librdkafka 2.0.2 does not do like Kafka (kafka_log.cc and the tests
// live with it):
//   - no Admin API: CreateTopics never completes (its controller id names no broker).
//     A Log talking to a mock in this same process creates topics through
//     CreateTopicOnInProcessMock below; a mock in another process only auto-creates
//     topics, with 4 partitions, when a client asks for a missing one.
//   - no topic configs, no DeleteTopics; it keeps only about the newest 5 MB of each
//     partition (older message sets are dropped and the start offset rises, as retention
//     would do).
//   - leaders never move on their own: a broker taken down keeps its partitions
//     unavailable until it comes back or SetPartitionLeader moves them.
//   - idempotent producers are not de-duplicated (it checks the sequence numbers of
//     transactional producers only): a produce request appended but whose response was
//     lost (broker down, request timeout) is appended again when the client retries it.
//   - a group that is rebalancing refuses offset commits (REBALANCE_IN_PROGRESS), where
//     Kafka accepts them from members of the current generation; a group's first
//     rebalance waits 3 s for members, later ones up to session.timeout.ms - 1 s, even
//     when the only member left with LeaveGroup (Kafka empties the group and the next
//     member waits group.initial.rebalance.delay.ms): a worker that takes over a group
//     waits 44 s with librdkafka's default session.timeout.ms of 45 s.
//   - no MEMBER_ID_REQUIRED (KIP-394): a new member learns its id only from the
//     JoinGroup response, which the mock holds through the rebalance delay. If the
//     coordinator goes down meanwhile, the client rejoins as another new member and the
//     first stays in the group, with no connection, until session.timeout.ms expires
//     since its JoinGroup; the mock waits for it in every rebalance until then and may
//     elect it leader, whose SyncGroup never comes. A member that has its id rejoins
//     under it. Coordinators never move: a group's (by hash of its name, or
//     SetGroupCoordinator) stays unavailable while its broker is down. Reproduced with
//     plain librdkafka by KafkaMockTest.DISABLED_JoinGroupHeldWhenTheCoordinatorGoesDown
//     (kafka_log_test.cc): the first member is assigned after ~50 s instead of 3 s.
#pragma once

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "common/status.h"

typedef struct rd_kafka_mock_cluster_s rd_kafka_mock_cluster_t;

namespace vigil {

// Kafka protocol request types, for KafkaMockCluster::PushRequestErrors.
// Values are the protocol's ApiKeys and must not change.
enum class KafkaApi : int16_t {
  kProduce = 0,
  kFetch = 1,
  kListOffsets = 2,
  kMetadata = 3,
  kOffsetCommit = 8,
  kOffsetFetch = 9,
  kFindCoordinator = 10,
  kJoinGroup = 11,
  kHeartbeat = 12,
  kLeaveGroup = 13,
  kSyncGroup = 14,
  kInitProducerId = 22,
};

// A running mock cluster; stopped (and its data dropped) on destruction. Brokers are
// numbered 1..brokers. Safe to call from any thread.
class KafkaMockCluster {
 public:
  // Starts `brokers` brokers (1..16). IOError if librdkafka cannot start them.
  static Result<std::unique_ptr<KafkaMockCluster>> Start(int brokers);
  ~KafkaMockCluster();
  KafkaMockCluster(const KafkaMockCluster&) = delete;
  KafkaMockCluster& operator=(const KafkaMockCluster&) = delete;

  // "127.0.0.1:port,127.0.0.1:port,...": LogOptions::bootstrap for this cluster.
  const std::string& bootstrap() const { return bootstrap_; }
  int brokers() const { return brokers_; }

  // Creates a topic directly in the mock (replication min(3, brokers)). Not an error if
  // it exists; it keeps its partition count then.
  Status CreateTopic(const std::string& topic, int partitions);
  // A broker down closes its connections and refuses new ones; its partitions stay led
  // by it (unavailable) until it is up again or their leader is moved.
  Status BrokerDown(int broker);
  Status BrokerUp(int broker);
  Status SetPartitionLeader(const std::string& topic, int partition, int broker);
  // Makes `broker` the coordinator of consumer group `group` (the full name, with any
  // topic prefix) from its next FindCoordinator request on.
  Status SetGroupCoordinator(const std::string& group, int broker);
  // The next errors.size() requests of type `api`, on any broker, fail with these
  // errors in order (RD_KAFKA_RESP_ERR_NO_ERROR lets one pass).
  void PushRequestErrors(KafkaApi api, const std::vector<rd_kafka_resp_err_t>& errors);
  // Every request to `broker` takes `rtt_ms` longer to answer.
  Status SetBrokerRtt(int broker, int rtt_ms);

 private:
  KafkaMockCluster() = default;
  rd_kafka_t* handle_ = nullptr;  // owns the mock cluster's threads
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
  std::string bootstrap_;
  int brokers_ = 0;
};

// `vigil kafka-mock`: starts a mock cluster of `brokers` brokers, writes its bootstrap
// address as one line to `out` and flushes, then blocks until SIGINT or SIGTERM and stops
// the cluster. The signals are blocked in the calling thread (and the threads it starts)
// while it runs. REQUIRES: no other thread of the process consumes these signals.
Status RunKafkaMockUntilSignal(int brokers, std::ostream& out);

namespace log_internal {

// For kafka_log.cc: if a KafkaMockCluster of this process serves one of the brokers in
// `bootstrap`, creates `topic` there (as KafkaMockCluster::CreateTopic) and sets *found.
// Otherwise sets *found = false and does nothing.
Status CreateTopicOnInProcessMock(const std::string& bootstrap, const std::string& topic, int partitions,
                                  bool* found);

}  // namespace log_internal
}  // namespace vigil
