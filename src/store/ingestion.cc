#include "store/ingestion.h"

#include <algorithm>
#include <chrono>

#include "compute/stream_worker.h"

namespace vigil {

Result<IngestionStats> RunIngestionUntilCaughtUp(const Definitions& defs, Log* log, OnlineStore* online) {
  auto start = std::chrono::steady_clock::now();
  IngestionStats stats;
  std::vector<int64_t> freshness;
  constexpr size_t kBatch = 65536;
  for (const auto& [name, view] : defs.views) {
    std::string topic = ChangelogTopic(name);
    VIGIL_ASSIGN_OR_RETURN(int64_t pos, online->Position(topic));
    VIGIL_ASSIGN_OR_RETURN(auto reader, log->OpenReader(topic));
    VIGIL_RETURN_IF_ERROR(reader->Seek(pos));
    std::vector<ChangelogRow> batch;
    std::vector<TimestampMs> appended;
    LogRecord rec;
    for (bool more = true; more;) {
      VIGIL_ASSIGN_OR_RETURN(more, reader->Next(&rec));
      if (more) {
        ChangelogRow row;
        VIGIL_RETURN_IF_ERROR(DecodeChangelogPayload(rec.payload, &row)
                                  .WithContext("topic " + topic + " offset " + std::to_string(rec.offset)));
        row.entity.assign(rec.key);
        batch.push_back(std::move(row));
        appended.push_back(rec.append_time);
        pos = rec.offset + 1;
      }
      if (batch.size() >= kBatch || (!more && !batch.empty())) {
        std::pair<std::string, int64_t> position{topic, pos};
        VIGIL_RETURN_IF_ERROR(online->Apply(name, batch, std::span(&position, 1)));
        TimestampMs now = WallClockMs();
        for (TimestampMs a : appended) freshness.push_back(now - a);
        stats.rows_applied += static_cast<int64_t>(batch.size());
        batch.clear();
        appended.clear();
      }
    }
  }
  if (!freshness.empty()) {
    auto pct = [&](double q) {
      size_t k = std::min(freshness.size() - 1, static_cast<size_t>(q * static_cast<double>(freshness.size())));
      std::nth_element(freshness.begin(), freshness.begin() + static_cast<std::ptrdiff_t>(k), freshness.end());
      return static_cast<double>(freshness[k]);
    };
    stats.freshness_p50_ms = pct(0.50);
    stats.freshness_p99_ms = pct(0.99);
  }
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

}  // namespace vigil
