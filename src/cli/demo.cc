// `vigil demo`: the whole pipeline built so far, on generated exchange events, with a
// short summary of what each stage did and how fast.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "cli/commands.h"
#include "schema/csv.h"

namespace vigil::cli {
namespace {

namespace fs = std::filesystem;

const char* const kSources[] = {"logins", "transactions", "withdrawals", "p2p_orders", "account_events"};

void Banner(const char* step) {
  std::printf("\n== %s\n", step);
  std::fflush(stdout);
}

}  // namespace

Status Demo(const std::string& project, const std::string& work_dir, int64_t users, int days) {
  std::error_code ec;
  fs::remove_all(work_dir, ec);
  fs::path proj = fs::path(work_dir) / "project";
  fs::path events = fs::path(work_dir) / "events";
  fs::create_directories(proj, ec);
  if (ec) return Status::IOError("create " + proj.string() + ": " + ec.message());
  for (const auto& e : fs::directory_iterator(project, ec)) {
    auto ext = e.path().extension();
    if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml"))
      fs::copy_file(e.path(), proj / e.path().filename());
  }
  std::string p = proj.string();
  std::printf("vigil demo: definitions from %s, data under %s\n", project.c_str(), work_dir.c_str());

  Banner("validate: the definitions");
  VIGIL_RETURN_IF_ERROR(Validate(p));

  Banner("generate: synthetic exchange events with injected fraud");
  GenerateOptions gen;
  gen.users = users;
  gen.days = days;
  gen.seed = 7;
  gen.out_dir = events.string();
  VIGIL_RETURN_IF_ERROR(cli::Generate(gen));

  Banner("ingest: events into the source topics (malformed ones to dlq.<source>)");
  for (const char* s : kSources)
    VIGIL_RETURN_IF_ERROR(Ingest(p, s, {(events / (std::string(s) + ".jsonl")).string()}));

  Banner("stream: compute (sources -> changelog topics), then ingestion (changelogs -> online store)");
  StreamCommandOptions so;
  so.until_caught_up = true;
  VIGIL_RETURN_IF_ERROR(Stream(p, so));

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

  Banner("dataset: point-in-time training set (features as of each label's ts - 1 ms)");
  DatasetOptions ds;
  ds.labels_path = (events / "labels.csv").string();
  ds.out_path = (fs::path(work_dir) / "training.csv").string();
  ds.views = {"user_logins", "user_txn",   "user_withdrawals", "user_account_events",
              "user_p2p",    "device_txn", "card_txn"};
  VIGIL_RETURN_IF_ERROR(Dataset(p, ds));
  std::ifstream tf(ds.out_path);
  std::string line;
  std::printf("first rows of %s:\n", ds.out_path.c_str());
  for (int i = 0; i < 3 && std::getline(tf, line); ++i) {
    std::printf("  %s\n", line.size() > 220 ? (line.substr(0, 220) + " ...").c_str() : line.c_str());
  }
  std::printf("\ndone. Try: build/vigil --project %s get user_txn %s\n", p.c_str(),
              normal_user.empty() ? "<user_id>" : normal_user.c_str());
  return Status::OK();
}

}  // namespace vigil::cli
