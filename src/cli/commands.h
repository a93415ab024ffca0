// The `vigil` commands (DESIGN.md §7). Each prints its result on stdout and returns a
// Status; main() turns a non-OK one into a one-line reason on stderr and exit status 1.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/time.h"
#include "generate/generator.h"
#include "log/log.h"
#include "spec/definitions.h"
#include "training/dataset.h"

namespace vigil::cli {

// Loads the project and gives every feature view its registered version
// (store/feature_registry.h), registering changed definitions as new versions.
Result<Project> LoadVersionedProject(const std::string& dir);
// The model registry's directory: <project>/models.
std::string ModelsRoot(const Project& p);
// The project's log (settings.log), with retention guarded by the archiver.
Result<std::unique_ptr<Log>> OpenLog(const Project& p);

Status Validate(const std::string& project);
Status Generate(const GenerateOptions& options);
// Appends the events of each file (JSONL, CSV) to the source's topic; rejects go to
// dlq.<source> with their reason. Prints accepted and rejected counts.
Status Ingest(const std::string& project, const std::string& source, const std::vector<std::string>& files);
struct ReplayOptions {
  std::string data;                      // a directory of <source>.jsonl (.csv, .parquet) files. REQUIRED
  TimestampMs from = kMinTimestamp;      // events before: skipped (already ingested)
  TimestampMs until = kMaxTimestamp;     // events at or after: skipped
  DurationMs step_ms = 3'600'000;        // event time per step; 0: one step. Default: 1h
  std::string url;                       // a running `vigil serve` to score through
  std::string model;                     // the model scored ("": no scoring)
  std::string requests;                  // label file whose rows are the requests (default: the model's)
  bool progress = true;                  // a line per replayed day
};
// Event-time replay of recorded events through the live path. The events are appended to
// their source topics as `ingest` would, computed and ingested in this process as `vigil
// stream` would; the model's labelled events are the scoring requests (their keys, request
// fields, ts and event_id; never their outcome), and every scored request goes to the
// serving log, a realistic history for monitoring. No `vigil stream` may run on the
// project meanwhile.
//   with url:    in steps of event time [t, t + step): the step's requests are scored
//                through the server at `url`, then the step's events happen and the server
//                is told to catch up (POST /v1/admin/reload, VIGIL_ADMIN_TOKEN): requests
//                see what happened before their step (a lag of up to one step).
//   with model only: the scoring service runs in this process on the store it writes, and
//                each request sees every event before its moment (no lag), as production
//                with fresh features.
Status Replay(const std::string& project, const ReplayOptions& options);

struct StreamCommandOptions {
  // Stop once every source topic is consumed (and the changelogs applied). Default: run
  // until SIGINT or SIGTERM, then checkpoint and stop cleanly.
  bool until_caught_up = false;
  // Run only compute; ingestion runs elsewhere (`vigil ingest-worker`). Default: both.
  bool compute_only = false;
  // Serve Prometheus metrics on this port (0: any free port, printed). Default: -1 (none).
  int metrics_port = -1;
};
// Compute (sources -> changelogs, checkpointed) and, unless compute_only, ingestion
// (changelogs -> online store) in one process.
Status Stream(const std::string& project, const StreamCommandOptions& options);

struct IngestWorkerOptions {
  bool until_caught_up = false;  // stop once every changelog is applied. Default: run until a signal
  int metrics_port = -1;         // as StreamCommandOptions::metrics_port. Default: -1 (none)
};
// Ingestion alone: changelog topics -> online store, as a member of the ingestion group.
Status IngestWorker(const std::string& project, const IngestWorkerOptions& options);
// Archives the source topics (up to what the stream decided) and dead-letter topics as
// Parquet in the offline store (store/archive.h), then applies the log's retention, which
// never deletes what is not archived. With follow, repeats every second until SIGINT or
// SIGTERM.
Status Archive(const std::string& project, bool follow);
// Starts a librdkafka mock cluster of `brokers` brokers, prints its bootstrap address,
// and runs until SIGINT or SIGTERM.
Status KafkaMock(int brokers);
// Prints the online row of one entity as JSON. `key` is "a,b" (key parts in the
// entity's key order) or a JSON object naming every key field.
Status Get(const std::string& project, const std::string& view, const std::string& key);
Status Dataset(const std::string& project, const DatasetOptions& options);
// Prints a view's changelog as CSV (entity key columns, ts, features), sorted by entity
// then ts: from the changelog topic, or, with replay, recomputed from the source topic
// by the batch path up to the source's watermark (the stream's bound).
// Where Changelog reads the rows from.
enum class ChangelogFrom { kStream, kReplay, kOffline };
Status Changelog(const std::string& project, const std::string& view, ChangelogFrom from, const std::string& out);
struct BackfillCommandOptions {
  std::string from, to;  // timestamps (ms or ISO-8601); empty: unbounded
  int threads = 2;
  int64_t memory_mb = 512;
  int stop_after_buckets = 0;  // testing: stop early, leaving the run to resume
  int max_open_files = 64;
};
// Rebuilds the views' current versions' offline changelogs from history
// (store/backfill.h BackfillViews: one pass over each source for its views), printing
// each view's outcome, and the total when more than one.
Status Backfill(const std::string& project, const std::vector<std::string>& views,
                const BackfillCommandOptions& options);
// Lists every version of every view: its definition, whether current, and how far the
// offline store holds it. With json, one JSON document.
Status FeaturesList(const std::string& project, bool json);
// Reconciles the online and offline stores (store/sync.h) and prints what differed; with
// check, repairs nothing.
Status Sync(const std::string& project, bool check);
// Removes a view version that the definitions no longer use: its offline rows and its
// registry entry.
Status FeaturesRemove(const std::string& project, const std::string& view, int version);
// Prints every online row of a view as CSV like Changelog, sorted by entity.
Status Online(const std::string& project, const std::string& view, const std::string& out);
// generate -> ingest -> stream -> get -> dataset on a copy of examples/fraud.
Status Demo(const std::string& project, const std::string& work_dir, int64_t users, int days);

// Models (training/): `vigil train`, `models ...`, `retrain`, `evaluate`. `command` is
// the command line, recorded in the registry with what it did. Models live in the
// registry under <project>/models.
struct TrainCommandOptions {
  std::string at;            // the event-time cut-off; empty: the model's clock now
  std::string labels;        // label file; empty: the model's labels.path
  std::string alias;         // also point this alias at the new version
  int threads = 2;
  bool replay_only = false;  // features by replaying history, not from the offline store
  bool json = false;
};
// Trains a new version and prints its report; the first version of a model becomes its
// champion.
Status Train(const std::string& project, const std::string& model, const TrainCommandOptions& options,
             const std::string& command);
Status ModelsList(const std::string& project, bool json);
// A model's versions, aliases, alias history and retraining decisions; with version > 0,
// that version's report.
Status ModelsShow(const std::string& project, const std::string& model, int version, bool json);
// Promote and rollback print the alias move (one JSON object with json).
Status ModelsPromote(const std::string& project, const std::string& model, int version, const std::string& alias,
                     const std::string& reason, const std::string& command, bool json);
Status ModelsRollback(const std::string& project, const std::string& model, const std::string& alias,
                      const std::string& reason, const std::string& command, bool json);
struct RetrainCommandOptions {
  bool loop = false;             // keep running rounds on schedule and triggers
  bool until_caught_up = false;  // with loop: stop once no round is due
  std::string until;             // with loop: no round past this event time
  std::string at;                // without loop: one round at this event time (default: now)
  std::string trigger;           // only append a trigger with this reason, then exit
  std::string labels;
  int threads = 2;
  bool replay_only = false;
};
Status Retrain(const std::string& project, const std::string& model, const RetrainCommandOptions& options,
               const std::string& command);
struct EvaluateCommandOptions {
  std::vector<std::string> versions;  // numbers or aliases; default: champion
  std::string from, to;               // label ts range; default: everything
  std::string as_of;                  // only outcomes known by then; default: all (hindsight)
  std::string labels;
  int threads = 2;
  bool replay_only = false;
  bool json = false;
};
struct ServeCommandOptions {
  std::string address = "127.0.0.1";
  int port = 8080;            // 0: any free port (printed)
  int threads = 0;            // handler threads; 0: one per core
  int max_in_flight = 64;     // more concurrent requests are shed with 503
  int64_t timeout_ms = 1000;  // per request
  int64_t drain_ms = 10000;   // graceful shutdown: how long in-flight requests may take
  int64_t reload_ms = 1000;   // how often the registry is re-read (hot swap)
  int64_t catch_up_ms = 200;  // how often the online store catches up (0: a frozen snapshot)
  bool monitoring = true;     // the serving log and the dashboard (off: to measure their cost)
};
// The scoring service (serving/scoring_service.h) until SIGINT or SIGTERM, then a
// graceful drain. Tokens from VIGIL_API_TOKEN and VIGIL_ADMIN_TOKEN.
Status Serve(const std::string& project, const ServeCommandOptions& options);

struct MonitorDriftOptions {
  std::string model;             // empty: every model
  int64_t window_ms = 3'600'000;  // tumbling windows of serving-log time. Default: 1h
  bool from_start = false;       // read the whole serving log (default: from where the last run stopped)
  bool trigger_retrain = false;  // a feature that goes to alert asks the retraining loop for a round
};
// One pass over the serving log (monitoring/drift_monitor.h): drift per window and feature
// against each version's reference distributions, written to the _drift topic; alert
// state changes to the _alerts topic (and, with trigger_retrain, a retraining trigger).
Status MonitorDrift(const std::string& project, const MonitorDriftOptions& options);

struct MonitorSkewOptions {
  std::string model;        // empty: every model
  size_t sample = 1000;     // requests per (model, version) at most. Default: 1000
  uint64_t seed = 1;
  bool from_start = false;  // the whole serving log (default: since the last check)
  bool replay_only = false;  // recompute by replaying history, not from the offline changelog
  int threads = 2;
};
// Training-serving skew (monitoring/skew.h): a sample of the requests served since the
// last check, recomputed from the offline store at their ts and compared feature by
// feature; one report per (model, version) to the _skew topic and stdout.
Status MonitorSkew(const std::string& project, const MonitorSkewOptions& options);

struct MonitorPerformanceOptions {
  std::string model;                 // REQUIRED
  std::string labels;                // default: the model's labels.path
  std::string id_column = "event_id";  // the label file's column the requests' id matches
  std::string as_of;                 // now (default: the latest serving ts in the log)
  int64_t window_ms = 86'400'000;    // Default: 1d
  int64_t delay_ms = 86'400'000;     // judge a window this long after its end. Default: 1d
  double max_drop = 0.05;            // alert below the trained roc_auc minus this
  bool trigger_retrain = false;      // an alert asks the retraining loop for a round
};
// Performance over time (monitoring/performance.h): windows of the serving log judged
// against the outcomes known, new ones to the _performance topic; alert changes to _alerts.
Status MonitorPerformance(const std::string& project, const MonitorPerformanceOptions& options);

struct MonitorRunOptions {
  int64_t every_ms = 60'000;   // a round of every check this often. Default: 1m
  int metrics_port = -1;       // serve the results as Prometheus metrics (0: any free port)
  bool once = false;           // one round, then exit
  MonitorDriftOptions drift;   // drift.model limits every check to one model
  MonitorSkewOptions skew;
  MonitorPerformanceOptions performance;  // for every model with a label file
};
// The monitors as a long-running process: every `every_ms`, a drift round (windows kept
// open across rounds), a skew check of the requests served since the last round, and the
// performance windows that came due, each to its topic, with the latest figures as
// metrics (vigil_drift_psi/ks/js/level{model,version,feature}, vigil_skew_mismatch_ratio,
// vigil_skew_feature_mismatch_ratio, vigil_model_roc_auc, vigil_monitor_alert_changes_total,
// vigil_monitor_rounds_total, ...). Stops on SIGINT or SIGTERM.
Status MonitorRun(const std::string& project, const MonitorRunOptions& options);

// Scores labelled events with each given version and prints their metrics side by side.
Status Evaluate(const std::string& project, const std::string& model, const EvaluateCommandOptions& options);

}  // namespace vigil::cli
