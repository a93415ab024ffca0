// The two implementations behind Log::Open (log.cc dispatches on LogOptions::kind).
#pragma once

#include <memory>

#include "log/log.h"

namespace vigil::log_internal {

// embedded_log.cc
Result<std::unique_ptr<Log>> OpenEmbeddedLog(const LogOptions& options);
// kafka_log.cc
Result<std::unique_ptr<Log>> OpenKafkaLog(const LogOptions& options);

}  // namespace vigil::log_internal
