// `vigil demo`: the whole pipeline built so far, on generated exchange events, with a
// short summary of what each stage did and how fast.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <cstring>
#include <fstream>
#include <fcntl.h>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "cli/commands.h"
#include "compute/stream_worker.h"
#include "log/log.h"
#include "schema/csv.h"
#include "spec/definitions.h"

extern char** environ;

namespace vigil::cli {
namespace {

namespace fs = std::filesystem;

const char* const kSources[] = {"logins", "transactions", "withdrawals", "p2p_orders", "account_events"};

void Banner(const std::string& step) {
  std::printf("\n== %s\n", step.c_str());
  std::fflush(stdout);
}

// This very program, with `args`, as a child process writing to `log_path`.
Result<pid_t> SpawnWorker(const std::string& project, std::vector<std::string> args, const std::string& log_path) {
  std::vector<std::string> argv = {"vigil", "--project", project};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return Status::IOError(std::string("start a worker: ") + std::strerror(rc));
  return pid;
}

// Sends SIGTERM and waits; a worker that failed is an error quoting its output.
Status StopWorker(pid_t pid, const std::string& name, const std::string& log_path) {
  ::kill(pid, SIGTERM);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::ifstream f(log_path);
  std::string out((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::printf("-- %s (%s):\n%s", name.c_str(), log_path.c_str(), out.c_str());
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return Status::IOError(name + " failed; see " + log_path);
  return Status::OK();
}

// Waits until `group` has committed every partition of `topics` up to their ends.
Status WaitCommitted(Log* log, const std::string& group, const std::vector<std::string>& topics) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(10);
  for (;;) {
    bool done = true;
    for (const auto& t : topics) {
      VIGIL_ASSIGN_OR_RETURN(auto ends, log->EndOffsets(t));
      VIGIL_ASSIGN_OR_RETURN(auto committed, log->Committed(group, t));
      done &= committed == ends;
    }
    if (done) return Status::OK();
    if (std::chrono::steady_clock::now() > deadline) return Status::IOError(group + " did not catch up in 10 minutes");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// Copies the definitions (every .yaml but vigil.yaml) of `from` into `to`.
Status CopyDefinitions(const std::string& from, const fs::path& to) {
  std::error_code ec;
  fs::create_directories(to, ec);
  if (ec) return Status::IOError("create " + to.string() + ": " + ec.message());
  for (const auto& e : fs::directory_iterator(from, ec)) {
    auto ext = e.path().extension();
    if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml") && e.path().filename() != "vigil.yaml") {
      fs::copy_file(e.path(), to / e.path().filename(), ec);
      if (ec) return Status::IOError("copy " + e.path().string() + ": " + ec.message());
    }
  }
  return Status::OK();
}

// Generated exchange events (`vigil generate`) for the demo.
Status GenerateEvents(int64_t users, int days, uint64_t seed, int drift_day, const fs::path& out) {
  GenerateOptions gen;
  gen.users = users;
  gen.days = days;
  gen.seed = seed;
  gen.drift_day = drift_day;
  gen.out_dir = out.string();
  return cli::Generate(gen);
}

// Attackers change tactics on this day of the demo's data.
constexpr int kDemoDriftDay = 14;

// The monitoring part serves its own deployment: two months of history, so that the
// model's training window starts after 30 days (its 30-day features are warm), and the
// attackers change tactics on day kServingDriftDay.
constexpr int kServingUsers = 3000;
constexpr int kServingDays = 61;
constexpr int kServingDriftDay = 58;

}  // namespace

Status Demo(const std::string& project, const std::string& work_dir, int64_t users, int days) {
  if (days < kDemoDriftDay + 14) {
    return Status::InvalidArgument("the demo needs --days " + std::to_string(kDemoDriftDay + 14) +
                                   " or more: two weeks after the drift day (" + std::to_string(kDemoDriftDay) +
                                   ") for the retraining loop to catch up");
  }
  std::error_code ec;
  fs::remove_all(work_dir, ec);
  fs::path proj = fs::path(work_dir) / "project";
  fs::path events = fs::path(work_dir) / "events";
  VIGIL_RETURN_IF_ERROR(CopyDefinitions(project, proj));
  std::string p = proj.string();
  std::printf("vigil demo: definitions from %s, data under %s\n", project.c_str(), work_dir.c_str());

  Banner("validate: the definitions");
  VIGIL_RETURN_IF_ERROR(Validate(p));

  Banner("generate: synthetic exchange events with injected fraud");
  VIGIL_RETURN_IF_ERROR(GenerateEvents(users, days, 7, kDemoDriftDay, events));

  Banner("workers: compute and ingestion start as separate processes, decoupled by the log");
  std::string compute_log = (fs::path(work_dir) / "compute.log").string();
  std::string ingest_log = (fs::path(work_dir) / "ingest-worker.log").string();
  VIGIL_ASSIGN_OR_RETURN(pid_t compute, SpawnWorker(p, {"stream", "--compute-only"}, compute_log));
  VIGIL_ASSIGN_OR_RETURN(pid_t ingest, SpawnWorker(p, {"ingest-worker"}, ingest_log));
  std::printf("compute worker   pid %d: vigil stream --compute-only  (checkpoints window state + offsets)\n",
              static_cast<int>(compute));
  std::printf("ingestion worker pid %d: vigil ingest-worker          (changelogs -> online store)\n",
              static_cast<int>(ingest));

  Banner("ingest: events into the source topics while the workers run (malformed ones to dlq.<source>)");
  for (const char* s : kSources)
    VIGIL_RETURN_IF_ERROR(Ingest(p, s, {(events / (std::string(s) + ".jsonl")).string()}));

  Banner("stream: wait for both workers to catch up, then stop them (SIGTERM: final checkpoint)");
  VIGIL_ASSIGN_OR_RETURN(Project proj_defs, LoadVersionedProject(p));
  VIGIL_ASSIGN_OR_RETURN(auto log, Log::Open(proj_defs.settings.log));
  std::vector<std::string> sources(std::begin(kSources), std::end(kSources)), changelogs;
  for (const auto& [name, v] : proj_defs.defs.views) changelogs.push_back(ChangelogTopic(v));
  VIGIL_RETURN_IF_ERROR(WaitCommitted(log.get(), "vigil-stream", sources));
  VIGIL_RETURN_IF_ERROR(StopWorker(compute, "compute worker", compute_log));
  VIGIL_RETURN_IF_ERROR(WaitCommitted(log.get(), "vigil-ingest", changelogs));
  VIGIL_RETURN_IF_ERROR(StopWorker(ingest, "ingestion worker", ingest_log));
  log.reset();

  Banner("archive: source topics written as Parquet into the offline store before retention may delete them");
  VIGIL_RETURN_IF_ERROR(Archive(p, false));

  // A fraud victim and an ordinary user, from the labels.
  std::ifstream lf(events / "labels.csv");
  std::string text((std::istreambuf_iterator<char>(lf)), std::istreambuf_iterator<char>());
  CsvReader csv(text);
  std::vector<std::string> header, cells;
  VIGIL_RETURN_IF_ERROR(csv.Next(&header).status());
  auto col = [&](const char* name) {
    return static_cast<size_t>(std::find(header.begin(), header.end(), name) - header.begin());
  };
  std::string fraud_user, normal_user, fraud_type;
  for (auto more = csv.Next(&cells); more.ok() && *more; more = csv.Next(&cells)) {
    if (cells.size() != header.size()) continue;
    if (fraud_user.empty() && cells[col("is_fraud")] == "1") {
      fraud_user = cells[col("user_id")];
      fraud_type = cells[col("fraud_type")];
    }
    if (normal_user.empty() && cells[col("is_fraud")] == "0") normal_user = cells[col("user_id")];
  }
  Banner("get: online features of two users (latest row, ts = freshness)");
  for (const char* view : {"user_logins", "user_withdrawals"}) {
    if (!fraud_user.empty()) {
      std::printf("%s victim (%s): ", view, fraud_type.c_str());
      VIGIL_RETURN_IF_ERROR(Get(p, view, fraud_user));
    }
    if (!normal_user.empty()) {
      std::printf("%s normal user: ", view);
      VIGIL_RETURN_IF_ERROR(Get(p, view, normal_user));
    }
  }

  Banner("sync: reconcile the online store with the latest offline rows (the ingestion worker does it every 10 min)");
  VIGIL_RETURN_IF_ERROR(Sync(p, false));

  Banner("backfill: a new feature view, filled from the archived history instead of waiting for it to accumulate");
  {
    std::ofstream f(proj / "features_new.yaml");
    f << "# Added by the demo after the stream ran: a data scientist's new idea, backfilled.\n"
         "feature_views:\n"
         "  user_withdrawal_bursts:\n"
         "    entity: user\n"
         "    source: withdrawals\n"
         "    ttl: 30d\n"
         "    features:\n"
         "      count_10m:            {agg: count, window: 10m}\n"
         "      new_address_sum_6h:   {agg: sum, field: amount, window: 6h, where: \"address_is_new = true\"}\n"
         "      max_amount_7d:        {agg: max, field: amount, window: 7d}\n"
         "      first_asset:          {agg: first, field: asset}\n";
    if (!f.flush()) return Status::IOError("write " + (proj / "features_new.yaml").string());
  }
  std::printf("wrote %s\n", (proj / "features_new.yaml").string().c_str());
  VIGIL_RETURN_IF_ERROR(Backfill(p, {"user_withdrawal_bursts"}, BackfillCommandOptions{}));
  VIGIL_RETURN_IF_ERROR(FeaturesList(p, false));

  Banner("dataset: point-in-time training set from the offline store (features as of each label's ts - 1 ms)");
  DatasetOptions ds;
  ds.labels_path = (events / "labels.csv").string();
  ds.out_path = (fs::path(work_dir) / "training.csv").string();
  ds.views = {"user_logins", "user_txn", "user_withdrawals",       "user_account_events",
              "user_p2p",    "device_txn", "card_txn", "user_withdrawal_bursts"};
  VIGIL_RETURN_IF_ERROR(Dataset(p, ds));
  std::ifstream tf(ds.out_path);
  std::string line;
  std::printf("first rows of %s:\n", ds.out_path.c_str());
  for (int i = 0; i < 3 && std::getline(tf, line); ++i) {
    std::printf("  %s\n", line.size() > 220 ? (line.substr(0, 220) + " ...").c_str() : line.c_str());
  }
  Banner("train: the first fraud model, on the weeks before the attackers change tactics (day " +
         std::to_string(kDemoDriftDay) + ")");
  const TimestampMs drift = kDefaultGenerateStart + int64_t{kDemoDriftDay} * 86'400'000;
  const std::string labels = (events / "labels.csv").string();
  TrainCommandOptions train;
  train.at = std::to_string(drift);
  train.labels = labels;
  VIGIL_RETURN_IF_ERROR(Train(p, "fraud", train, "vigil demo: train fraud --at " + FormatIsoTimestamp(drift)));

  Banner("retrain: the feedback loop runs its weekly rounds in event time, across the drift day");
  RetrainCommandOptions retrain;
  retrain.loop = true;
  retrain.until_caught_up = true;
  retrain.labels = labels;
  VIGIL_RETURN_IF_ERROR(Retrain(p, "fraud", retrain, "vigil demo: retrain fraud --loop --until-caught-up"));
  VIGIL_RETURN_IF_ERROR(ModelsShow(p, "fraud", 0, false));

  const int eval_day = days - 7;
  Banner("evaluate: the static model and the retrained champion on the last week (days " + std::to_string(eval_day) +
         "-" + std::to_string(days) + ", after the drift), side by side");
  EvaluateCommandOptions eval;
  eval.versions = {"1", "champion"};
  eval.from = std::to_string(kDefaultGenerateStart + int64_t{eval_day} * 86'400'000);
  eval.labels = labels;
  VIGIL_RETURN_IF_ERROR(Evaluate(p, "fraud", eval));

  // Monitoring: a deployment serving the days around a drift, watched.
  const std::string sp = (fs::path(work_dir) / "serving-project").string();
  const fs::path sevents = fs::path(work_dir) / "serving-events";
  VIGIL_RETURN_IF_ERROR(CopyDefinitions(project, sp));
  {
    // A deployment of this volume (a few events a second) runs one partition per source:
    // with more, the quietest partition holds each source's watermark back, and serving
    // would miss the session's login that training sees.
    std::ofstream f(fs::path(sp) / "vigil.yaml");
    f << "# Written by the demo: one partition per source at this volume.\nlog: {partitions: 1}\n";
    if (!f.flush()) return Status::IOError("write " + sp + "/vigil.yaml");
  }
  auto day = [](int d) { return kDefaultGenerateStart + int64_t{d} * 86'400'000; };
  Banner("serving deployment: " + std::to_string(kServingUsers) + " users x " + std::to_string(kServingDays) +
         " days (attackers change tactics on day " + std::to_string(kServingDriftDay) + "), history replayed to day " +
         std::to_string(kServingDriftDay - 1) + ", a model trained there");
  VIGIL_RETURN_IF_ERROR(GenerateEvents(kServingUsers, kServingDays, 21, kServingDriftDay, sevents));
  ReplayOptions bulk;
  bulk.data = sevents.string();
  bulk.until = day(kServingDriftDay - 1);
  bulk.step_ms = 0;
  bulk.progress = false;
  VIGIL_RETURN_IF_ERROR(Replay(sp, bulk));
  const std::string slabels = (sevents / "labels.csv").string();
  TrainCommandOptions strain;
  strain.at = std::to_string(day(kServingDriftDay - 1));
  strain.labels = slabels;
  VIGIL_RETURN_IF_ERROR(Train(sp, "fraud", strain, "vigil demo: train fraud --at " + FormatIsoTimestamp(day(kServingDriftDay - 1))));

  Banner("replay: days " + std::to_string(kServingDriftDay - 1) + "-" + std::to_string(kServingDriftDay) +
         " happen: every card purchase, withdrawal and P2P order is scored by the scoring service (the code "
         "of `vigil serve`) with every event before it computed and ingested");
  ReplayOptions live;
  live.data = sevents.string();
  live.from = day(kServingDriftDay - 1);
  live.until = day(kServingDriftDay + 1);
  live.model = "fraud";
  live.requests = slabels;
  VIGIL_RETURN_IF_ERROR(Replay(sp, live));

  Banner("monitor performance: each day's AUC once two days of fraud reports are in; the drop after the drift "
         "raises an alert, which asks the retraining loop for a round");
  MonitorPerformanceOptions perf;
  perf.model = "fraud";
  perf.labels = slabels;
  perf.delay_ms = 2 * 86'400'000;
  perf.as_of = std::to_string(day(kServingDriftDay + 3));
  perf.trigger_retrain = true;
  VIGIL_RETURN_IF_ERROR(MonitorPerformance(sp, perf));
  Banner("monitor drift: each day's served features and scores against the training reference");
  MonitorDriftOptions drift_opts;
  drift_opts.window_ms = 86'400'000;
  VIGIL_RETURN_IF_ERROR(MonitorDrift(sp, drift_opts));
  Banner("monitor skew: served vectors against the offline store at the same instants");
  MonitorSkewOptions skew;
  skew.sample = 500;
  VIGIL_RETURN_IF_ERROR(MonitorSkew(sp, skew));
  Banner("retrain: the round the alert asked for");
  RetrainCommandOptions sretrain;
  sretrain.loop = true;
  sretrain.until_caught_up = true;
  sretrain.labels = slabels;
  VIGIL_RETURN_IF_ERROR(Retrain(sp, "fraud", sretrain, "vigil demo: retrain fraud --loop --until-caught-up"));
  VIGIL_RETURN_IF_ERROR(ModelsShow(sp, "fraud", 0, false));

  std::printf("\nThe dashboard (live QPS and latency, drift per feature, skew, model versions, alias history, AUC "
              "over time):\n  build/vigil --project %s serve --port 8080\n  then open "
              "http://127.0.0.1:8080/dashboard\n",
              sp.c_str());
  std::printf("\ndone. Try: build/vigil --project %s get user_txn %s\n", p.c_str(),
              normal_user.empty() ? "<user_id>" : normal_user.c_str());
  std::printf("     build/vigil --project %s models show fraud\n", p.c_str());
  std::printf(
      "The same on Kafka (librdkafka's mock cluster, no broker to install):\n"
      "  build/vigil kafka-mock --brokers 3            # prints its bootstrap address; leave it running\n"
      "  echo 'log: {kind: kafka, bootstrap: <that address>}' > %s/vigil.yaml\n"
      "  then ingest, `vigil stream --compute-only` and `vigil ingest-worker` as above.\n",
      p.c_str());
  return Status::OK();
}

}  // namespace vigil::cli
