#include "cli/stop_signal.h"

#include <csignal>

namespace vigil::cli {

namespace {

// Set from a signal handler: it must be lock-free.
static_assert(std::atomic<bool>::is_always_lock_free);
std::atomic<bool> g_stop_requested{false};

void RequestStop(int) { g_stop_requested.store(true); }

}  // namespace

std::atomic<bool>& StopRequested() { return g_stop_requested; }

void InstallStopHandlers() {
  std::signal(SIGINT, RequestStop);
  std::signal(SIGTERM, RequestStop);
}

}  // namespace vigil::cli
