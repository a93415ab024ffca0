// Drift of the serving log, window by window (issue 7): the records `vigil serve` writes
// to its serving log (serving/scoring_service.h: one JSON object per scored request, with
// the model, the champion's version, its feature vector and score, and the wall-clock ts)
// are grouped by (model, version) into tumbling windows of `window` ms of record time,
// and each feature and the score of a closed window are compared with the reference
// distributions stored with that version (monitoring/drift.h). A change of a feature's
// level (none, warn, alert; too few values changes nothing) is an alert state change.
//
//   window 1h:  records at 10:05, 10:40 -> window [10:00, 11:00); a record at 11:02 closes
//   it (its report and alert changes are returned by that Add) and opens [11:00, 12:00).
//
// Records arrive in log order; one a little older than its (model, version)'s open window
// is counted in the open window (a record from before the first window never is).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/time.h"
#include "monitoring/drift.h"
#include "monitoring/skew.h"

namespace vigil {

// What the monitor needs of a model version: its vector's column names in order, their
// vocabularies (empty for numeric columns), and the reference of each column and of the
// score (named "__score__", as training stores it).
struct MonitoredVersion {
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> vocabularies;
  std::map<std::string, FeatureReference> references;  // by name
};
using VersionLoader = std::function<Result<MonitoredVersion>(const std::string& model, int version)>;

struct DriftMonitorOptions {
  DurationMs window = 3'600'000;  // Default: 1h. REQUIRES: > 0
  DriftThresholds thresholds;
};

struct DriftWindowReport {
  std::string model;
  int version = 0;
  TimestampMs from = 0, to = 0;  // [from, to)
  int64_t requests = 0;
  std::vector<DriftResult> results;      // each column with a reference, then "__score__"
  DriftLevel level = DriftLevel::kNone;  // the worst (too few counts as none)
  std::string ToJson() const;
};

struct AlertChange {
  TimestampMs at = 0;  // the end of the window that changed it
  std::string model, feature;
  int version = 0;
  DriftLevel from = DriftLevel::kNone, to = DriftLevel::kNone;
  double psi = 0, ks = 0, js = 0;
  std::string ToJson() const;
};

// Not thread-safe.
class DriftMonitor {
 public:
  DriftMonitor(VersionLoader loader, DriftMonitorOptions options);
  ~DriftMonitor();

  // Feeds one serving log record, its vector in either form the log holds
  // (serving_log_internal.h). Appends to *closed the windows it closed and to *changes
  // their alert state changes. A record that is not such a JSON object, or whose vector
  // field is malformed (the message names the field), is InvalidArgument (the caller
  // counts it and goes on); a version the loader cannot load is its Status (with the
  // model and version). A vector shorter than the version's columns leaves the rest missing.
  Status Add(std::string_view payload, std::vector<DriftWindowReport>* closed,
             std::vector<AlertChange>* changes);

  // Closes every open window (the end of the input).
  void Flush(std::vector<DriftWindowReport>* closed, std::vector<AlertChange>* changes);

 private:
  struct Open;
  void Close(Open& open, std::vector<DriftWindowReport>* closed, std::vector<AlertChange>* changes);

  VersionLoader loader_;
  DriftMonitorOptions options_;
  std::map<std::pair<std::string, int>, MonitoredVersion> versions_;
  std::map<std::pair<std::string, int>, std::unique_ptr<Open>> open_;
  // Current level per (model, feature), across versions.
  std::map<std::pair<std::string, std::string>, DriftLevel> levels_;
  ServedRecord record_;  // the record being added (kept to reuse its buffers)
};

}  // namespace vigil
