#include "log/log.h"

#include <chrono>
#include <thread>

#include "log/log_internal.h"

namespace vigil {

int PartitionForKey(std::string_view key, int partitions) {
  if (key.empty() || partitions <= 1) return 0;
  return static_cast<int>(Crc32c(key) % static_cast<uint32_t>(partitions));
}

Result<std::unique_ptr<TopicWriter>> OpenSharedWriter(Log* log, const std::string& topic, DurationMs wait) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait);
  for (;;) {
    auto w = log->OpenWriter(topic);
    if (w.ok() || w.status().message().find("locked by another writer") == std::string::npos ||
        std::chrono::steady_clock::now() > deadline) {
      return w;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

Result<std::unique_ptr<Log>> Log::Open(const LogOptions& options) {
  if (options.partitions < 1) {
    return Status::InvalidArgument("log.partitions must be at least 1, not " + std::to_string(options.partitions));
  }
  switch (options.kind) {
    case LogOptions::Kind::kEmbedded:
      return log_internal::OpenEmbeddedLog(options);
    case LogOptions::Kind::kKafka:
      return log_internal::OpenKafkaLog(options);
  }
  return Status::InvalidArgument("unknown log kind");
}

}  // namespace vigil
