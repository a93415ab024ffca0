#include "store/ingestion.h"

#include <algorithm>
#include <chrono>
#include <map>

#include "common/metrics.h"
#include "compute/stream_worker.h"
#include "store/offline_store.h"

namespace vigil {

std::string PositionName(const std::string& topic, int partition) {
  return topic + "/" + std::to_string(partition);
}

std::string OnlineViewName(const FeatureViewDef& view) {
  return view.name + (view.version > 1 ? ".v" + std::to_string(view.version) : "");
}

// The worker's metrics (metrics.h).
struct IngestionWorker::Probe {
  explicit Probe(MetricsRegistry& r)
      : freshness(r.AddHistogram("vigil_ingest_freshness_seconds",
                                 "Wall time from the append of the source record that made a changelog row "
                                 "final to the row being visible online.",
                                 {}, kLatencyBucketsSeconds)),
        apply_seconds(r.AddHistogram("vigil_ingest_apply_seconds",
                                     "Time of one atomic write of rows and positions to the online store.", {},
                                     kLatencyBucketsSeconds)),
        lag(r.AddGauge("vigil_ingest_consumer_lag_records",
                       "Changelog records not yet applied online (sum over every changelog partition).")),
        registry(r) {}
  Counter& RowsIn(const std::string& topic) {
    auto it = rows_in.find(topic);
    if (it != rows_in.end()) return *it->second;
    Counter& c = registry.AddCounter("vigil_ingest_records_in_total", "Changelog records applied online.",
                                     {{"topic", topic}});
    rows_in.emplace(topic, &c);
    return c;
  }
  Histogram& freshness;
  Histogram& apply_seconds;
  Gauge& lag;
  MetricsRegistry& registry;
  std::unordered_map<std::string, Counter*> rows_in;
};

IngestionWorker::~IngestionWorker() {
  if (consumer_) consumer_->Close().IgnoreError();
}

Status IngestionWorker::FlushOffline() {
  for (auto& [view, writer] : offline_) {
    if (writer->buffered_rows() == 0) continue;
    VIGIL_RETURN_IF_ERROR(writer->Flush().WithContext("offline store, view " + view));
    VIGIL_RETURN_IF_ERROR(CompactDataset(OfflineFeaturesDir(options_.offline_dir, *defs_->FindView(view))).status());
  }
  last_offline_flush_ = WallClockMs();
  return Status::OK();
}

Result<std::unique_ptr<IngestionWorker>> IngestionWorker::Open(const Definitions& defs, Log* log,
                                                               OnlineStore* online,
                                                               const IngestionOptions& options) {
  std::unique_ptr<IngestionWorker> w(new IngestionWorker());
  w->defs_ = &defs;
  w->log_ = log;
  w->online_ = online;
  w->options_ = options;
  std::vector<std::string> topics;
  for (const auto& [name, view] : defs.views) {
    std::string topic = ChangelogTopic(view);
    // Created here too, so that subscribing never waits for compute to create them.
    auto parts = log->Partitions(topic);
    if (!parts.ok() && parts.status().IsNotFound()) {
      VIGIL_RETURN_IF_ERROR(log->CreateTopic(topic, log->options().partitions));
    } else if (!parts.ok()) {
      return parts.status();
    }
    w->view_of_topic_[topic] = name;
    topics.push_back(topic);
    if (!options.offline_dir.empty()) {
      VIGIL_ASSIGN_OR_RETURN(w->offline_[name],
                             OffsetDatasetWriter::Open(OfflineFeaturesDir(options.offline_dir, view),
                                                       OfflineChangelogSchema(defs, view),
                                                       static_cast<int>(view.key_indexes.size())));
    }
  }
  w->last_offline_flush_ = WallClockMs();
  IngestionWorker* self = w.get();
  GroupConsumer::Listener listener;
  listener.on_assigned = [self](const std::vector<GroupConsumer::Assignment>& parts, std::vector<int64_t>* start) {
    start->assign(parts.size(), 0);
    for (size_t i = 0; i < parts.size(); ++i) {
      std::string name = PositionName(parts[i].topic, parts[i].partition);
      VIGIL_ASSIGN_OR_RETURN((*start)[i], self->online_->Position(name));
      self->next_[name] = (*start)[i];
      // The offline store may be behind the online one (rows buffered when a worker
      // died): read from the lower of the two; each store skips what it holds.
      auto off = self->offline_.find(self->view_of_topic_[parts[i].topic]);
      if (off != self->offline_.end()) {
        VIGIL_ASSIGN_OR_RETURN(int64_t offline_next, off->second->Next(parts[i].partition));
        (*start)[i] = std::min((*start)[i], offline_next);
      }
    }
    return Status::OK();
  };
  listener.on_revoked = [self](const std::vector<GroupConsumer::Assignment>& parts) {
    // Online positions are stored with the rows; offline rows are written now, before
    // another worker takes the partitions. Forget the partitions.
    for (const auto& p : parts) self->next_.erase(PositionName(p.topic, p.partition));
    return self->FlushOffline();
  };
  VIGIL_ASSIGN_OR_RETURN(w->consumer_, log->Subscribe(options.group, topics, std::move(listener)));
  if (options.metrics) {
    w->probe_ = std::make_unique<Probe>(*options.metrics);
    for (const auto& t : topics) w->probe_->RowsIn(t);
  }
  return w;
}

Result<IngestionStats> IngestionWorker::Poll(DurationMs wait) {
  auto start = std::chrono::steady_clock::now();
  IngestionStats stats;
  std::vector<int64_t> freshness;
  // Rows per view, and the positions they advance, applied in one write per view.
  std::map<std::string, std::vector<ChangelogRow>> rows;
  std::map<std::string, std::vector<std::pair<std::string, int64_t>>> positions;
  std::vector<TimestampMs> appended;
  LogRecord rec;
  std::string topic;
  int64_t n = 0;
  auto apply = [&]() -> Status {
    for (auto& [view, batch] : rows) {
      auto t0 = std::chrono::steady_clock::now();
      VIGIL_RETURN_IF_ERROR(online_->Apply(OnlineViewName(*defs_->FindView(view)), batch, positions[view]));
      stats.rows_applied += static_cast<int64_t>(batch.size());
      if (probe_) {
        probe_->apply_seconds.ObserveDuration(std::chrono::steady_clock::now() - t0);
        probe_->RowsIn(ChangelogTopic(*defs_->FindView(view))).Increment(batch.size());
      }
    }
    TimestampMs now = WallClockMs();
    for (TimestampMs a : appended) {
      freshness.push_back(now - a);
      if (probe_) probe_->freshness.Observe(static_cast<double>(now - a) / 1000.0);
    }
    rows.clear();
    positions.clear();
    appended.clear();
    n = 0;
    return Status::OK();
  };
  DurationMs next_wait = wait;
  for (;;) {
    VIGIL_ASSIGN_OR_RETURN(bool more, consumer_->Next(&rec, &topic, next_wait));
    if (!more) break;
    next_wait = 0;  // drain what is there, then return
    auto vt = view_of_topic_.find(topic);
    if (vt == view_of_topic_.end()) return Status::Corruption("record of unsubscribed topic " + topic);
    std::string pos = PositionName(topic, rec.partition);
    auto it = next_.find(pos);
    bool online_has = it != next_.end() && rec.offset < it->second;
    OffsetDatasetWriter* offline = nullptr;
    if (auto o = offline_.find(vt->second); o != offline_.end()) {
      VIGIL_ASSIGN_OR_RETURN(int64_t offline_next, o->second->Next(rec.partition));
      if (rec.offset >= offline_next) offline = o->second.get();
    }
    if (online_has && !offline) continue;  // applied already
    ChangelogRow row;
    VIGIL_RETURN_IF_ERROR(DecodeChangelogPayload(rec.payload, &row)
                              .WithContext("topic " + topic + ":" + std::to_string(rec.partition) + ":" +
                                           std::to_string(rec.offset)));
    row.entity.assign(rec.key);
    if (offline) {
      const FeatureViewDef& view = *defs_->FindView(vt->second);
      VIGIL_RETURN_IF_ERROR(
          offline->Append(rec.partition, rec.offset, OfflineChangelogRow(*defs_, view, row, rec.partition, rec.offset)));
    }
    if (online_has) continue;
    rows[vt->second].push_back(std::move(row));
    appended.push_back(rec.append_time);
    next_[pos] = rec.offset + 1;
    auto& ps = positions[vt->second];
    auto pit = std::find_if(ps.begin(), ps.end(), [&](const auto& p) { return p.first == pos; });
    if (pit == ps.end()) {
      ps.emplace_back(pos, rec.offset + 1);
    } else {
      pit->second = rec.offset + 1;
    }
    if (++n >= options_.batch_rows) VIGIL_RETURN_IF_ERROR(apply());
  }
  VIGIL_RETURN_IF_ERROR(apply());
  if (!offline_.empty()) {
    int64_t buffered = 0;
    for (const auto& [view, writer] : offline_) buffered += writer->buffered_rows();
    if (buffered >= options_.offline_flush_rows ||
        (buffered > 0 && WallClockMs() - last_offline_flush_ >= options_.offline_flush_interval)) {
      VIGIL_RETURN_IF_ERROR(FlushOffline());
    }
  }
  // Informational: the group's committed offsets follow the store, for lag tools.
  std::vector<GroupConsumer::Assignment> parts;
  std::vector<int64_t> offsets;
  for (const auto& a : consumer_->assignment()) {
    auto it = next_.find(PositionName(a.topic, a.partition));
    if (it == next_.end()) continue;
    parts.push_back(a);
    offsets.push_back(it->second);
  }
  // At most every 200 ms (a commit is a synced file write), and once a poll finds nothing new.
  TimestampMs now = WallClockMs();
  if (stats.rows_applied > 0) uncommitted_ = true;
  if (!parts.empty() && uncommitted_ && (now - last_commit_ >= 200 || stats.rows_applied == 0)) {
    consumer_->Commit(parts, offsets).IgnoreError();
    last_commit_ = now;
    uncommitted_ = false;
  }
  if (probe_) {
    int64_t lag = 0;
    for (const auto& [topic, view] : view_of_topic_) {
      auto ends = log_->EndOffsets(topic);
      if (!ends.ok()) continue;
      for (size_t p = 0; p < ends->size(); ++p) {
        auto pos = online_->Position(PositionName(topic, static_cast<int>(p)));
        if (pos.ok()) lag += std::max<int64_t>(0, (*ends)[p] - *pos);
      }
    }
    probe_->lag.Set(static_cast<double>(lag));
  }
  if (!freshness.empty()) {
    auto pct = [&](double q) {
      size_t k = std::min(freshness.size() - 1, static_cast<size_t>(q * static_cast<double>(freshness.size())));
      std::nth_element(freshness.begin(), freshness.begin() + static_cast<std::ptrdiff_t>(k), freshness.end());
      return static_cast<double>(freshness[k]);
    };
    stats.freshness_p50_ms = pct(0.50);
    stats.freshness_p99_ms = pct(0.99);
    stats.freshness_samples_ms = std::move(freshness);
  }
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

Result<bool> IngestionWorker::CaughtUp() {
  for (const auto& [topic, view] : view_of_topic_) {
    VIGIL_ASSIGN_OR_RETURN(auto ends, log_->EndOffsets(topic));
    for (size_t p = 0; p < ends.size(); ++p) {
      VIGIL_ASSIGN_OR_RETURN(int64_t pos, online_->Position(PositionName(topic, static_cast<int>(p))));
      if (pos < ends[p]) return false;
      if (auto o = offline_.find(view); o != offline_.end()) {
        VIGIL_ASSIGN_OR_RETURN(int64_t offline_next, o->second->Next(static_cast<int>(p)));
        if (offline_next < ends[p]) return false;
      }
    }
  }
  return true;
}

Result<bool> IngestionWorker::StoresAligned() {
  if (offline_.empty()) return false;
  for (const auto& a : consumer_->assignment()) {
    auto it = next_.find(PositionName(a.topic, a.partition));
    auto view = view_of_topic_.find(a.topic);
    if (it == next_.end() || view == view_of_topic_.end()) continue;
    auto o = offline_.find(view->second);
    if (o == offline_.end()) continue;
    VIGIL_ASSIGN_OR_RETURN(int64_t offline_next, o->second->Next(a.partition));
    if (offline_next != it->second || o->second->buffered_rows() > 0) return false;
  }
  return true;
}

Status IngestionWorker::Close() {
  if (!consumer_) return Status::OK();
  VIGIL_RETURN_IF_ERROR(FlushOffline());
  Status s = consumer_->Close();
  consumer_.reset();
  return s;
}

Result<IngestionStats> RunIngestionUntilCaughtUp(const Definitions& defs, Log* log, OnlineStore* online,
                                                 const IngestionOptions& options) {
  VIGIL_ASSIGN_OR_RETURN(auto worker, IngestionWorker::Open(defs, log, online, options));
  IngestionStats total;
  std::vector<double> p50, p99;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(10);
  for (;;) {
    VIGIL_ASSIGN_OR_RETURN(bool done, worker->CaughtUp());
    if (done) break;
    if (std::chrono::steady_clock::now() > deadline) {
      return Status::IOError("ingestion did not catch up within 10 minutes (is another ingestion worker holding "
                             "the group '" + options.group + "'?)");
    }
    VIGIL_ASSIGN_OR_RETURN(IngestionStats s, worker->Poll(100));
    if (s.rows_applied > 0) {
      total.rows_applied += s.rows_applied;
      total.freshness_p50_ms = s.freshness_p50_ms;  // of the last batch: a catch-up has no steady state
      total.freshness_p99_ms = s.freshness_p99_ms;
    }
    total.seconds += s.seconds;
  }
  VIGIL_RETURN_IF_ERROR(worker->Close());
  return total;
}

}  // namespace vigil
