// SIGINT and SIGTERM as a stop request for the long-running commands (stream, archive and
// ingest-worker when they follow, replay, the retraining loop): the handler only sets a
// flag that the command's loop polls between steps, so a stop always ends at a step's end.
#pragma once

#include <atomic>

namespace vigil::cli {

// True once SIGINT or SIGTERM arrived after InstallStopHandlers.
std::atomic<bool>& StopRequested();

// Points SIGINT and SIGTERM at the flag. Idempotent.
void InstallStopHandlers();

}  // namespace vigil::cli
