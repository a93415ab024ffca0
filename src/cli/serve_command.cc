// `vigil serve` (commands.h): the scoring service over HTTP until SIGINT or SIGTERM.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "cli/commands.h"
#include "common/metrics.h"
#include "serving/dashboard.h"
#include "serving/http_server.h"
#include "serving/scoring_service.h"
#include "store/online_store.h"

namespace vigil::cli {
namespace {

std::atomic<bool> g_serve_stop{false};
void OnServeSignal(int) { g_serve_stop = true; }

std::string EnvOr(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

}  // namespace

Status Serve(const std::string& project, const ServeCommandOptions& options) {
  VIGIL_ASSIGN_OR_RETURN(Project p, LoadVersionedProject(project));
  VIGIL_ASSIGN_OR_RETURN(auto log, OpenLog(p));
  // Follow the ingestion worker's online store (a RocksDB secondary instance of our own).
  const std::string follow_dir = p.settings.data_dir + "/serve/" + std::to_string(::getpid());
  OnlineStoreOptions so;
  so.read_only = true;
  so.follow_dir = follow_dir;
  VIGIL_ASSIGN_OR_RETURN(auto store, OnlineStore::Open(p.settings.data_dir + "/online", so));
  MetricsRegistry metrics;
  RegisterProcessMetrics(metrics);
  ScoringOptions sopts;
  sopts.models_root = ModelsRoot(p);
  sopts.reload_interval_ms = options.reload_ms;
  sopts.catch_up_interval_ms = options.catch_up_ms;
  sopts.serving_log = options.monitoring;
  VIGIL_ASSIGN_OR_RETURN(auto service, ScoringService::Open(p.defs, store.get(), log.get(), &metrics, sopts));
  HttpServerOptions ho;
  ho.address = options.address;
  ho.port = options.port;
  ho.handler_threads = options.threads;
  ho.max_in_flight = options.max_in_flight;
  ho.request_timeout = std::chrono::milliseconds(options.timeout_ms);
  ho.api_token = EnvOr("VIGIL_API_TOKEN");
  ho.admin_token = EnvOr("VIGIL_ADMIN_TOKEN");
  ho.metrics = &metrics;
  std::vector<Route> routes = service->Routes();
  if (options.monitoring) {
    for (Route& r : DashboardRoutes({.log = log.get(), .models_root = sopts.models_root, .metrics = &metrics})) {
      routes.push_back(std::move(r));
    }
  }
  VIGIL_ASSIGN_OR_RETURN(auto server, HttpServer::Start(std::move(routes), ho));
  std::printf("serving on http://%s:%d (models from %s; API token %s, admin token %s)\n", options.address.c_str(),
              server->port(), sopts.models_root.c_str(), ho.api_token.empty() ? "off" : "on",
              ho.admin_token.empty() ? "off" : "on");
  if (options.monitoring) {
    std::printf("dashboard: http://%s:%d/dashboard\n", options.address.c_str(), server->port());
  } else {
    std::printf("monitoring off: no serving log, no dashboard\n");
  }
  std::fflush(stdout);
  std::signal(SIGINT, OnServeSignal);
  std::signal(SIGTERM, OnServeSignal);
  while (!g_serve_stop) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::printf("draining in-flight requests...\n");
  std::fflush(stdout);
  server->Shutdown(std::chrono::milliseconds(options.drain_ms));
  service->Stop();
  std::error_code ec;
  std::filesystem::remove_all(follow_dir, ec);
  std::printf("stopped\n");
  return Status::OK();
}

}  // namespace vigil::cli
