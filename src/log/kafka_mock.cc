#include "log/kafka_mock.h"

#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <mutex>
#include <set>
#include <sstream>

namespace vigil {
namespace {

// The clusters of this process, so that a Log opened on one of their addresses can
// create topics (the mock has no CreateTopics API). Guarded by RegistryMutex(); a
// cluster leaves the registry before it is destroyed.
std::mutex& RegistryMutex() {
  static std::mutex mu;
  return mu;
}
std::vector<KafkaMockCluster*>& Registry() {
  static std::vector<KafkaMockCluster*> clusters;
  return clusters;
}

std::set<std::string> SplitAddresses(const std::string& list) {
  std::set<std::string> out;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (!item.empty()) out.insert(item);
  }
  return out;
}

Status MockError(rd_kafka_resp_err_t err, const std::string& what) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::OK();
  return Status::InvalidArgument("kafka mock: " + what + ": " + rd_kafka_err2str(err));
}

// The mock's own client logs nothing worth showing to a user of `vigil kafka-mock`.
void QuietLog(const rd_kafka_t*, int, const char*, const char*) {}

}  // namespace

Result<std::unique_ptr<KafkaMockCluster>> KafkaMockCluster::Start(int brokers) {
  if (brokers < 1 || brokers > 16) {
    return Status::InvalidArgument("kafka mock: brokers must be 1..16, not " + std::to_string(brokers));
  }
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set_log_cb(conf, QuietLog);
  // A producer handle with no bootstrap servers only hosts the cluster's thread.
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return Status::IOError(std::string("kafka mock: cannot create its client handle: ") + errstr);
  }
  rd_kafka_mock_cluster_t* mc = rd_kafka_mock_cluster_new(rk, brokers);
  if (mc == nullptr) {
    rd_kafka_destroy(rk);
    return Status::IOError("kafka mock: cannot start " + std::to_string(brokers) +
                           " brokers (no free ports?)");
  }
  std::unique_ptr<KafkaMockCluster> cluster(new KafkaMockCluster());
  cluster->handle_ = rk;
  cluster->cluster_ = mc;
  cluster->bootstrap_ = rd_kafka_mock_cluster_bootstraps(mc);
  cluster->brokers_ = brokers;
  std::lock_guard<std::mutex> lock(RegistryMutex());
  Registry().push_back(cluster.get());
  return cluster;
}

KafkaMockCluster::~KafkaMockCluster() {
  {
    std::lock_guard<std::mutex> lock(RegistryMutex());
    auto& r = Registry();
    r.erase(std::remove(r.begin(), r.end(), this), r.end());
  }
  if (cluster_ != nullptr) rd_kafka_mock_cluster_destroy(cluster_);
  if (handle_ != nullptr) rd_kafka_destroy(handle_);
}

Status KafkaMockCluster::CreateTopic(const std::string& topic, int partitions) {
  if (partitions < 1) {
    return Status::InvalidArgument("kafka mock: topic " + topic + ": partitions must be at least 1");
  }
  // rd_kafka_mock_topic_create answers OK for an existing topic and leaves it as it is.
  return MockError(rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, std::min(3, brokers_)),
                   "create topic " + topic);
}

Status KafkaMockCluster::BrokerDown(int broker) {
  return MockError(rd_kafka_mock_broker_set_down(cluster_, broker),
                   "broker " + std::to_string(broker) + " down");
}

Status KafkaMockCluster::BrokerUp(int broker) {
  return MockError(rd_kafka_mock_broker_set_up(cluster_, broker), "broker " + std::to_string(broker) + " up");
}

Status KafkaMockCluster::SetPartitionLeader(const std::string& topic, int partition, int broker) {
  return MockError(
      rd_kafka_mock_partition_set_leader(cluster_, topic.c_str(), partition, broker),
      "leader of " + topic + ":" + std::to_string(partition) + " to broker " + std::to_string(broker));
}

Status KafkaMockCluster::SetGroupCoordinator(const std::string& group, int broker) {
  return MockError(rd_kafka_mock_coordinator_set(cluster_, "group", group.c_str(), broker),
                   "coordinator of group " + group + " to broker " + std::to_string(broker));
}

void KafkaMockCluster::PushRequestErrors(KafkaApi api, const std::vector<rd_kafka_resp_err_t>& errors) {
  if (errors.empty()) return;
  rd_kafka_mock_push_request_errors_array(cluster_, static_cast<int16_t>(api), errors.size(), errors.data());
}

Status KafkaMockCluster::SetBrokerRtt(int broker, int rtt_ms) {
  return MockError(rd_kafka_mock_broker_set_rtt(cluster_, broker, rtt_ms),
                   "rtt of broker " + std::to_string(broker));
}

Status RunKafkaMockUntilSignal(int brokers, std::ostream& out) {
  // Block the signals before the cluster starts its threads, so they inherit the mask
  // and the signals stay pending for sigwait below.
  sigset_t stop, old;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  if (pthread_sigmask(SIG_BLOCK, &stop, &old) != 0)
    return Status::IOError("kafka mock: cannot block signals");
  Status st;
  {
    auto cluster = KafkaMockCluster::Start(brokers);
    if (!cluster.ok()) {
      st = cluster.status();
    } else {
      out << (*cluster)->bootstrap() << std::endl;
      if (!out) {
        st = Status::IOError("kafka mock: cannot write the bootstrap address");
      } else {
        int sig = 0;
        while (sigwait(&stop, &sig) != 0) {
        }
      }
    }
  }  // the cluster stops here
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return st;
}

namespace log_internal {

Status CreateTopicOnInProcessMock(const std::string& bootstrap, const std::string& topic, int partitions,
                                  bool* found) {
  *found = false;
  std::set<std::string> wanted = SplitAddresses(bootstrap);
  std::lock_guard<std::mutex> lock(RegistryMutex());
  for (KafkaMockCluster* c : Registry()) {
    for (const std::string& addr : SplitAddresses(c->bootstrap())) {
      if (wanted.count(addr) != 0) {
        *found = true;
        return c->CreateTopic(topic, partitions);
      }
    }
  }
  return Status::OK();
}

}  // namespace log_internal
}  // namespace vigil
