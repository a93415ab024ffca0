// Point-in-time correct training sets (DESIGN.md §4): each label row gets, for every
// requested view, the feature values as of its time t minus 1 ms, so no event at or
// after the labelled moment leaks in.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "log/log.h"
#include "spec/definitions.h"

namespace vigil {

struct DatasetOptions {
  std::string labels_path;         // CSV with a header
  std::vector<std::string> views;  // in output order
  std::string out_path;            // CSV
  std::string ts_column = "ts";    // int64 ms or ISO-8601 with a zone
  int threads = 2;                 // replay threads. Default: 2
};

struct DatasetStats {
  int64_t labels = 0;
  int64_t events_replayed = 0;
  double seconds = 0;
};

// Replays the views' source topics through the compute engine and joins the labels as
// of t - 1 ms. Output: the label columns in order, then "<view>__<feature>"; rows in
// label order; null as an empty cell. A label with an empty key cell matches no entity
// (its features are empty). Errors name the label file's line.
// `archive` (store/archive.h) may be null; with it, history the live log no longer holds
// is read from the archive.
Result<DatasetStats> BuildDataset(const Definitions& defs, Log* log, const DatasetOptions& options,
                                  Log* archive = nullptr);

}  // namespace vigil
