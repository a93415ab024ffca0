// The `vigil` command line (DESIGN.md §7).
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/commands.h"

int main(int argc, char** argv) {
  using namespace vigil;
  CLI::App app{"vigil: a real-time ML feature pipeline for fraud and risk"};
  app.require_subcommand(1);
  std::string project = ".";
  app.add_option("--project", project, "project directory (definitions and vigil.yaml)");

  auto* validate = app.add_subcommand("validate", "check the definitions; report every error with file:line");

  GenerateOptions gen;
  auto* generate = app.add_subcommand("generate", "write deterministic synthetic exchange events");
  generate->add_option("--users", gen.users, "number of users")
      ->check(CLI::Range(int64_t{1}, int64_t{100000000}));
  generate->add_option("--days", gen.days, "number of days")->check(CLI::Range(1, 3650));
  generate->add_option("--seed", gen.seed, "random seed");
  generate->add_option("--drift-day", gen.drift_day, "from this day on, attackers change tactics");
  generate->add_option("--threads", gen.threads, "generator threads (output is identical for any)");
  generate->add_option("--out", gen.out_dir, "output directory")->required();

  std::string source;
  std::vector<std::string> files;
  auto* ingest = app.add_subcommand("ingest", "append JSONL or CSV events to a source's topic");
  ingest->add_option("source", source, "source name")->required();
  ingest->add_option("files", files, "event files (.jsonl, .csv)")->required();

  cli::StreamCommandOptions stream_opts;
  auto* stream = app.add_subcommand("stream", "run the compute worker (and ingestion, unless --compute-only)");
  stream->add_flag("--until-caught-up", stream_opts.until_caught_up, "stop once every topic is consumed");
  stream->add_flag("--compute-only", stream_opts.compute_only, "leave ingestion to `vigil ingest-worker`");
  stream->add_option("--metrics-port", stream_opts.metrics_port, "serve Prometheus metrics on this port")
      ->check(CLI::Range(0, 65535));

  cli::ReplayOptions replay_opts;
  std::string replay_from, replay_until, replay_step = "1h";
  auto* replay_cmd = app.add_subcommand(
      "replay", "replay recorded events through stream, ingestion and (with --url) scoring, step by step in event time");
  replay_cmd->add_option("--data", replay_opts.data, "directory of <source>.jsonl files (as `vigil generate` writes)")
      ->required();
  replay_cmd->add_option("--from", replay_from, "first event time replayed (earlier events: already ingested)");
  replay_cmd->add_option("--until", replay_until, "events at or after this time are not replayed");
  replay_cmd->add_option("--step", replay_step, "event time per step (default 1h; 0: one step)");
  replay_cmd->add_option("--url", replay_opts.url, "a running `vigil serve` to score the model's labelled events through");
  replay_cmd->add_option("--model", replay_opts.model, "the model to score: through --url, or in this process (no lag)");
  replay_cmd->add_option("--requests", replay_opts.requests, "label file whose rows are the requests (default: the model's)");

  cli::IngestWorkerOptions ingest_opts;
  auto* ingest_worker = app.add_subcommand("ingest-worker", "apply changelog topics to the online store");
  ingest_worker->add_flag("--until-caught-up", ingest_opts.until_caught_up, "stop once every changelog is applied");
  ingest_worker->add_option("--metrics-port", ingest_opts.metrics_port, "serve Prometheus metrics on this port")
      ->check(CLI::Range(0, 65535));

  bool follow = false;
  auto* archive = app.add_subcommand("archive", "copy source topics into the event archive; apply retention");
  archive->add_flag("--follow", follow, "keep archiving every second until SIGINT or SIGTERM");

  int brokers = 3;
  auto* kafka_mock = app.add_subcommand("kafka-mock", "run librdkafka's mock Kafka cluster; print its bootstrap");
  kafka_mock->add_option("--brokers", brokers, "number of brokers (default 3)")->check(CLI::Range(1, 16));

  std::string view, key;
  auto* get = app.add_subcommand("get", "print an entity's online feature values as JSON");
  get->add_option("view", view, "feature view")->required();
  get->add_option("key", key, "entity key: a,b or a JSON object")->required();

  DatasetOptions ds;
  std::string views;
  auto* dataset = app.add_subcommand("dataset", "build a point-in-time correct training set");
  dataset->add_option("--labels", ds.labels_path, "label CSV with a header")->required();
  dataset->add_option("--features", views, "feature views, comma-separated")->required();
  dataset->add_option("--out", ds.out_path, "output CSV, or Parquet when it ends in .parquet")->required();
  dataset->add_option("--ts-column", ds.ts_column, "label time column (default ts)");
  dataset->add_option("--threads", ds.threads, "join and replay threads (default 2)");
  dataset->add_flag("--replay-only", ds.replay_only,
                    "replay the source history for every label instead of reading the offline changelog");

  bool replay = false;
  std::string out = "-";
  auto* changelog = app.add_subcommand("changelog", "print a view's changelog as CSV");
  changelog->add_option("view", view, "feature view")->required();
  changelog->add_flag("--replay", replay, "recompute it from the source topic with the batch path");
  bool offline = false;
  changelog->add_flag("--offline", offline, "read it from the offline store (backfill and ingested rows)");
  changelog->add_option("--out", out, "output file (default stdout)");

  auto* online = app.add_subcommand("online", "print every online row of a view as CSV");
  online->add_option("view", view, "feature view")->required();
  online->add_option("--out", out, "output file (default stdout)");

  cli::BackfillCommandOptions bf;
  auto* backfill = app.add_subcommand("backfill", "rebuild views' offline changelogs from history");
  std::vector<std::string> backfill_views;
  backfill
      ->add_option("views", backfill_views, "feature views (the views of one source share one read of it)")
      ->required();
  backfill->add_option("--from", bf.from, "first ts of rows to write (ms or ISO-8601; default: the start)");
  backfill->add_option("--to", bf.to, "rows before this ts (default: up to the history's watermark)");
  backfill->add_option("--threads", bf.threads, "compute threads (default 2)");
  backfill->add_option("--memory-mb", bf.memory_mb, "events held in memory at once, MiB (default 512)");
  backfill->add_option("--stop-after-buckets", bf.stop_after_buckets, "stop early (testing resumption)");
  backfill->add_option("--max-open-files", bf.max_open_files,
                       "changelog files a thread keeps open, one per date (default 64)");

  bool json = false;
  int version = 0;
  auto* features = app.add_subcommand("features", "feature view versions in the registry");
  features->require_subcommand(1);
  auto* features_list = features->add_subcommand("list", "every version of every view and how far it is filled");
  features_list->add_flag("--json", json, "one JSON document");
  auto* features_remove = features->add_subcommand("remove", "remove a version the definitions no longer use");
  features_remove->add_option("view", view, "feature view")->required();
  features_remove->add_option("version", version, "version")->required();

  bool check = false;
  auto* sync = app.add_subcommand("sync", "reconcile the online and offline stores");
  sync->add_flag("--check", check, "report differences without repairing them");

  std::string model, alias = "champion", reason;
  cli::TrainCommandOptions train_opts;
  auto* train = app.add_subcommand("train", "train a new version of a model and register it");
  train->add_option("model", model, "model name")->required();
  train->add_option("--at", train_opts.at, "event-time cut-off (ms or ISO-8601; default: the model's clock now)");
  train->add_option("--labels", train_opts.labels, "label file (CSV or Parquet; default: the model's labels.path)");
  train->add_option("--alias", train_opts.alias, "also point this alias at the new version");
  train->add_option("--threads", train_opts.threads, "join threads (default 2)");
  train->add_flag("--replay-only", train_opts.replay_only, "replay history instead of reading the offline store");
  train->add_flag("--json", train_opts.json, "print the model's registry entry as JSON");

  auto* models = app.add_subcommand("models", "the model registry: versions, aliases, history");
  models->require_subcommand(1);
  auto* models_list = models->add_subcommand("list", "every version of every model");
  models_list->add_flag("--json", json, "one JSON document");
  auto* models_show = models->add_subcommand("show", "a model's versions, aliases, alias history, decisions");
  models_show->add_option("model", model, "model name")->required();
  models_show->add_option("--version", version, "show this version's report (manifest with --json)");
  models_show->add_flag("--json", json, "one JSON document");
  auto* models_promote = models->add_subcommand("promote", "point an alias (default champion) at a version");
  models_promote->add_option("model", model, "model name")->required();
  models_promote->add_option("version", version, "version")->required();
  models_promote->add_option("--alias", alias, "alias (default champion)");
  models_promote->add_option("--reason", reason, "why (recorded in the history)");
  models_promote->add_flag("--json", json, "print the move as JSON");
  auto* models_rollback = models->add_subcommand("rollback", "undo an alias's last move (default champion)");
  models_rollback->add_option("model", model, "model name")->required();
  models_rollback->add_option("--alias", alias, "alias (default champion)");
  models_rollback->add_option("--reason", reason, "why (recorded in the history)");
  models_rollback->add_flag("--json", json, "print the move as JSON");

  cli::RetrainCommandOptions retrain_opts;
  auto* retrain = app.add_subcommand("retrain", "retraining rounds: challenger vs champion on the newest holdout");
  retrain->add_option("model", model, "model name")->required();
  retrain->add_flag("--loop", retrain_opts.loop, "run rounds on the model's schedule and on triggers");
  retrain->add_flag("--until-caught-up", retrain_opts.until_caught_up, "with --loop: stop once no round is due");
  retrain->add_option("--until", retrain_opts.until, "with --loop: no round past this event time");
  retrain->add_option("--at", retrain_opts.at, "one round at this event time (default: the model's clock now)");
  retrain->add_option("--trigger", retrain_opts.trigger, "only ask the loop for a round now, with this reason");
  retrain->add_option("--labels", retrain_opts.labels, "label file (default: the model's labels.path)");
  retrain->add_option("--threads", retrain_opts.threads, "join threads (default 2)");
  retrain->add_flag("--replay-only", retrain_opts.replay_only, "replay history instead of reading the offline store");

  cli::EvaluateCommandOptions eval_opts;
  std::string eval_versions;
  auto* evaluate = app.add_subcommand("evaluate", "score labelled events with model versions, side by side");
  evaluate->add_option("model", model, "model name")->required();
  evaluate->add_option("--versions", eval_versions, "versions or aliases, comma-separated (default champion)");
  evaluate->add_option("--from", eval_opts.from, "first label ts");
  evaluate->add_option("--to", eval_opts.to, "label ts before this");
  evaluate->add_option("--as-of", eval_opts.as_of, "only outcomes known by then (default: all, in hindsight)");
  evaluate->add_option("--labels", eval_opts.labels, "label file (default: the model's labels.path)");
  evaluate->add_option("--threads", eval_opts.threads, "join threads (default 2)");
  evaluate->add_flag("--replay-only", eval_opts.replay_only, "replay history instead of reading the offline store");
  evaluate->add_flag("--json", eval_opts.json, "JSON");

  cli::ServeCommandOptions serve_opts;
  auto* serve = app.add_subcommand("serve", "score requests over HTTP (online features + champion model)");
  serve->add_option("--port", serve_opts.port, "TCP port (default 8080; 0: any free port)")->check(CLI::Range(0, 65535));
  serve->add_option("--address", serve_opts.address, "IP address to listen on (default 127.0.0.1)");
  serve->add_option("--threads", serve_opts.threads, "handler threads (default: one per core)");
  serve->add_option("--max-in-flight", serve_opts.max_in_flight, "concurrent requests before shedding (default 64)");
  serve->add_option("--timeout-ms", serve_opts.timeout_ms, "per-request timeout (default 1000)");
  serve->add_option("--drain-ms", serve_opts.drain_ms, "graceful shutdown drain time (default 10000)");
  serve->add_option("--reload-ms", serve_opts.reload_ms, "how often the model registry is re-read (default 1000)");
  serve->add_option("--catch-up-ms", serve_opts.catch_up_ms,
                    "how often the online store catches up with the ingestion worker (default 200; 0: never, "
                    "serve the store as it was at start)");
  serve->add_flag("!--no-monitoring", serve_opts.monitoring,
                  "no serving log and no dashboard (to measure what monitoring costs)");

  cli::MonitorDriftOptions drift_opts;
  std::string drift_window = "1h";
  auto* monitor = app.add_subcommand("monitor", "monitoring of the serving traffic");
  monitor->require_subcommand(1);
  auto* monitor_drift = monitor->add_subcommand("drift", "drift of the serving log against the models' references");
  monitor_drift->add_option("model", drift_opts.model, "model (default: every model)");
  monitor_drift->add_option("--window", drift_window, "window length (default 1h)");
  monitor_drift->add_flag("--from-start", drift_opts.from_start, "read the whole serving log again");
  monitor_drift->add_flag("--trigger-retrain", drift_opts.trigger_retrain, "ask the retraining loop for a round on an alert");

  cli::MonitorSkewOptions skew_opts;
  auto* monitor_skew = monitor->add_subcommand("skew", "served feature vectors against the offline store at the same instants");
  monitor_skew->add_option("model", skew_opts.model, "model (default: every model)");
  monitor_skew->add_option("--sample", skew_opts.sample, "requests per model version (default 1000)");
  monitor_skew->add_option("--seed", skew_opts.seed, "sampling seed (default 1)");
  monitor_skew->add_option("--threads", skew_opts.threads, "join threads (default 2)");
  monitor_skew->add_flag("--from-start", skew_opts.from_start, "sample the whole serving log again");
  monitor_skew->add_flag("--replay-only", skew_opts.replay_only, "recompute by replaying history");

  cli::MonitorPerformanceOptions perf_opts;
  std::string perf_window = "1d", perf_delay = "1d";
  auto* monitor_perf = monitor->add_subcommand("performance", "measured AUC over time from labels that came later");
  monitor_perf->add_option("model", perf_opts.model, "model")->required();
  monitor_perf->add_option("--labels", perf_opts.labels, "label file (default: the model's labels.path)");
  monitor_perf->add_option("--id-column", perf_opts.id_column, "label column the requests' id matches (default event_id)");
  monitor_perf->add_option("--as-of", perf_opts.as_of, "now (default: the latest serving ts)");
  monitor_perf->add_option("--window", perf_window, "window length (default 1d)");
  monitor_perf->add_option("--delay", perf_delay, "judge a window this long after its end (default 1d)");
  monitor_perf->add_option("--max-drop", perf_opts.max_drop, "alert below the trained roc_auc minus this (default 0.05)");
  monitor_perf->add_flag("--trigger-retrain", perf_opts.trigger_retrain, "ask the retraining loop for a round on an alert");

  cli::MonitorRunOptions run_opts;
  std::string run_every = "1m", run_drift_window = "1h";
  auto* monitor_run = monitor->add_subcommand("run", "every check, periodically, with the results as Prometheus metrics");
  monitor_run->add_option("model", run_opts.drift.model, "model (default: every model)");
  monitor_run->add_option("--every", run_every, "a round of every check this often (default 1m)");
  monitor_run->add_option("--window", run_drift_window, "drift window length (default 1h)");
  monitor_run->add_option("--sample", run_opts.skew.sample, "skew: requests per model version and round (default 1000)");
  monitor_run->add_option("--metrics-port", run_opts.metrics_port, "serve Prometheus metrics on this port")
      ->check(CLI::Range(0, 65535));
  monitor_run->add_flag("--once", run_opts.once, "one round, then exit");
  monitor_run->add_flag("--trigger-retrain", run_opts.drift.trigger_retrain,
                        "ask the retraining loop for a round on a drift or performance alert");

  std::string work = "demo-run";
  int64_t demo_users = 6000;
  int demo_days = 35;
  auto* demo = app.add_subcommand("demo", "run the whole pipeline on generated data");
  demo->add_option("--dir", work, "working directory (default demo-run)");
  demo->add_option("--users", demo_users, "users to generate (default 6000)");
  demo->add_option("--days", demo_days, "days to generate (default 35; at least 28)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  std::string command = "vigil";
  for (int i = 1; i < argc; ++i) command += std::string(" ") + argv[i];
  auto split = [](const std::string& text) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= text.size()) {
      size_t comma = text.find(',', start);
      if (comma == std::string::npos) comma = text.size();
      if (comma > start) out.push_back(text.substr(start, comma - start));
      start = comma + 1;
    }
    return out;
  };

  Status st;
  if (*validate)
    st = cli::Validate(project);
  else if (*generate)
    st = cli::Generate(gen);
  else if (*ingest)
    st = cli::Ingest(project, source, files);
  else if (*stream)
    st = cli::Stream(project, stream_opts);
  else if (*replay_cmd) {
    auto step = replay_step == "0" ? Result<DurationMs>(DurationMs{0}) : ParseDuration(replay_step);
    if (!step.ok() || *step < 0) {
      st = Status::InvalidArgument("--step: want a duration like 1h (0: one step)");
    } else {
      replay_opts.step_ms = *step;
      st = Status::OK();
      if (!replay_from.empty()) {
        auto t = ParseTimestamp(replay_from);
        st = t.ok() ? Status::OK() : Status::InvalidArgument("--from: " + t.status().message());
        if (t.ok()) replay_opts.from = *t;
      }
      if (st.ok() && !replay_until.empty()) {
        auto t = ParseTimestamp(replay_until);
        st = t.ok() ? Status::OK() : Status::InvalidArgument("--until: " + t.status().message());
        if (t.ok()) replay_opts.until = *t;
      }
      if (st.ok()) st = cli::Replay(project, replay_opts);
    }
  }
  else if (*ingest_worker)
    st = cli::IngestWorker(project, ingest_opts);
  else if (*archive)
    st = cli::Archive(project, follow);
  else if (*kafka_mock)
    st = cli::KafkaMock(brokers);
  else if (*get)
    st = cli::Get(project, view, key);
  else if (*dataset) {
    ds.views = split(views);
    st = cli::Dataset(project, ds);
  } else if (*changelog)
    st = cli::Changelog(project, view,
                        offline  ? cli::ChangelogFrom::kOffline
                        : replay ? cli::ChangelogFrom::kReplay
                                 : cli::ChangelogFrom::kStream,
                        out);
  else if (*online)
    st = cli::Online(project, view, out);
  else if (*backfill)
    st = cli::Backfill(project, backfill_views, bf);
  else if (*features_list)
    st = cli::FeaturesList(project, json);
  else if (*features_remove)
    st = cli::FeaturesRemove(project, view, version);
  else if (*sync)
    st = cli::Sync(project, check);
  else if (*monitor_drift) {
    auto w = ParseDuration(drift_window);
    if (!w.ok() || *w <= 0) {
      st = Status::InvalidArgument("--window: want a positive duration like 10m or 1h");
    } else {
      drift_opts.window_ms = *w;
      st = cli::MonitorDrift(project, drift_opts);
    }
  } else if (*monitor_run) {
    auto every = ParseDuration(run_every);
    auto window = ParseDuration(run_drift_window);
    if (!every.ok() || *every <= 0) {
      st = Status::InvalidArgument("--every: want a positive duration like 1m");
    } else if (!window.ok() || *window <= 0) {
      st = Status::InvalidArgument("--window: want a positive duration like 1h");
    } else {
      run_opts.every_ms = *every;
      run_opts.drift.window_ms = *window;
      run_opts.skew.model = run_opts.drift.model;
      run_opts.performance.trigger_retrain = run_opts.drift.trigger_retrain;
      st = cli::MonitorRun(project, run_opts);
    }
  } else if (*monitor_skew) {
    st = cli::MonitorSkew(project, skew_opts);
  } else if (*monitor_perf) {
    auto w = ParseDuration(perf_window);
    auto d = ParseDuration(perf_delay);
    if (!w.ok() || *w <= 0) {
      st = Status::InvalidArgument("--window: want a positive duration like 1d");
    } else if (!d.ok() || *d < 0) {
      st = Status::InvalidArgument("--delay: want a duration like 1d");
    } else {
      perf_opts.window_ms = *w;
      perf_opts.delay_ms = *d;
      st = cli::MonitorPerformance(project, perf_opts);
    }
  } else if (*serve)
    st = cli::Serve(project, serve_opts);
  else if (*train)
    st = cli::Train(project, model, train_opts, command);
  else if (*models_list)
    st = cli::ModelsList(project, json);
  else if (*models_show)
    st = cli::ModelsShow(project, model, version, json);
  else if (*models_promote)
    st = cli::ModelsPromote(project, model, version, alias, reason, command, json);
  else if (*models_rollback)
    st = cli::ModelsRollback(project, model, alias, reason, command, json);
  else if (*retrain)
    st = cli::Retrain(project, model, retrain_opts, command);
  else if (*evaluate) {
    eval_opts.versions = split(eval_versions);
    st = cli::Evaluate(project, model, eval_opts);
  } else if (*demo)
    st = cli::Demo(project, work, demo_users, demo_days);

  if (!st.ok()) {
    std::fprintf(stderr, "vigil: %s\n", st.message().c_str());
    return 1;
  }
  return 0;
}
