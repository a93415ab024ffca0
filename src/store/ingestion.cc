#include "store/ingestion.h"

#include <algorithm>
#include <chrono>

#include "compute/stream_worker.h"

namespace vigil {

Result<std::unique_ptr<IngestionWorker>> IngestionWorker::Open(const Definitions& defs, Log* log,
                                                               OnlineStore* online) {
  std::unique_ptr<IngestionWorker> w(new IngestionWorker());
  w->online_ = online;
  for (const auto& [name, view] : defs.views) {
    Input in;
    in.view = name;
    in.topic = ChangelogTopic(name);
    VIGIL_ASSIGN_OR_RETURN(in.next, online->Position(in.topic));
    VIGIL_ASSIGN_OR_RETURN(in.reader, log->OpenReader(in.topic));
    VIGIL_RETURN_IF_ERROR(in.reader->Seek(in.next));
    w->inputs_.push_back(std::move(in));
  }
  return w;
}

Result<IngestionStats> IngestionWorker::Poll() {
  auto start = std::chrono::steady_clock::now();
  IngestionStats stats;
  std::vector<int64_t> freshness;
  constexpr size_t kBatch = 65536;
  for (Input& in : inputs_) {
    std::vector<ChangelogRow> batch;
    std::vector<TimestampMs> appended;
    LogRecord rec;
    for (bool more = true; more;) {
      VIGIL_ASSIGN_OR_RETURN(more, in.reader->Next(&rec));
      if (more) {
        ChangelogRow row;
        VIGIL_RETURN_IF_ERROR(
            DecodeChangelogPayload(rec.payload, &row)
                .WithContext("topic " + in.topic + " offset " + std::to_string(rec.offset)));
        row.entity.assign(rec.key);
        batch.push_back(std::move(row));
        appended.push_back(rec.append_time);
        in.next = rec.offset + 1;
      }
      if (batch.size() >= kBatch || (!more && !batch.empty())) {
        std::pair<std::string, int64_t> position{in.topic, in.next};
        VIGIL_RETURN_IF_ERROR(online_->Apply(in.view, batch, std::span(&position, 1)));
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
      size_t k =
          std::min(freshness.size() - 1, static_cast<size_t>(q * static_cast<double>(freshness.size())));
      std::nth_element(freshness.begin(), freshness.begin() + static_cast<std::ptrdiff_t>(k),
                       freshness.end());
      return static_cast<double>(freshness[k]);
    };
    stats.freshness_p50_ms = pct(0.50);
    stats.freshness_p99_ms = pct(0.99);
  }
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

Result<IngestionStats> RunIngestionUntilCaughtUp(const Definitions& defs, Log* log, OnlineStore* online) {
  VIGIL_ASSIGN_OR_RETURN(auto worker, IngestionWorker::Open(defs, log, online));
  return worker->Poll();
}

}  // namespace vigil
