// `vigil train MODEL`: a point-in-time dataset from the model's labels, a time split,
// XGBoost through its C API with early stopping, evaluation on the newest period, and a
// new version in the model registry with everything needed to serve and watch it.
//
// Time (event time, ms). Training at cut-off T reads the label rows with
//   known_at <= T                      (an outcome not known by T is left out: no leakage
//                                       of late chargebacks from the future)
//   T - maturity - window <= ts < T - maturity
// and splits them by ts, oldest first (never at random):
//   [fit ..............................][early stopping][holdout]
//                                        <- early_stopping -><- holdout ->| T - maturity
// Each row's features are the views' values as of ts - 1 ms (training/dataset.h), so no
// event at or after the labelled moment leaks in either.
//
// A version's directory (training/model_registry.h) holds:
//   model.json      the booster as XGBoost saves it (JSON), cut to the best iteration
//   layout.json     the feature vector (training/feature_vector.h) with vocabularies
//   reference.json  reference distributions of every feature and of the score
//                   (training/reference.h): features over every training row, the score
//                   over the early-stopping and holdout rows (out of sample)
//   metrics.json    holdout metrics (training/metrics.h)
//   manifest.json   cut-off, periods, row counts, label spec, view versions, XGBoost
//                   parameters, best iteration, data fingerprint
//   report.txt      the report `vigil train` prints
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "log/log.h"
#include "spec/definitions.h"
#include "training/dataset.h"
#include "training/feature_vector.h"
#include "training/metrics.h"
#include "training/model_registry.h"
#include "training/xgboost_model.h"

namespace vigil {

// A model's label file, parsed: outcome and times per row.
struct ModelLabels {
  LabelTable table;                   // key columns and request fields, then nothing else
  std::vector<int> target;            // 0/1
  std::vector<TimestampMs> known_at;  // ts when the spec has no known_at column
};
// Reads `path` (or the spec's path when empty) for `model`. InvalidArgument names the
// file, the line and the column of a bad cell, or says that no path is given.
Result<ModelLabels> ReadModelLabels(const ModelDef& model, const std::string& path);

// Feature vectors for rows `rows` of `labels` (point-in-time correct), through `builder`.
struct FeatureMatrixOptions {
  std::string offline_dir;   // empty: replay only
  int threads = 2;           // Default: 2
  bool replay_only = false;  // Default: false
  // As JoinOptions::events_per_pass: bounds the source events a replay holds. (The
  // matrix is filled as the join streams, so nothing else grows with labels x views.)
  // Default: JoinOptions'.
  int64_t events_per_pass = JoinOptions().events_per_pass;
};
Result<DenseMatrix> BuildFeatureMatrix(const Definitions& defs, Log* log, const FeatureVectorBuilder& builder,
                                       const ModelLabels& labels, const std::vector<uint32_t>& rows,
                                       const FeatureMatrixOptions& options, DatasetStats* stats);

struct TrainOptions {
  TimestampMs cutoff = 0;    // T above. REQUIRED
  std::string labels_path;   // Default: the model's labels.path
  std::string models_root;   // the registry (<project>/models). REQUIRED
  std::string offline_dir;   // Default: none (replay the history)
  FeatureMatrixOptions matrix;
  std::string command;       // recorded with the version
};

struct TrainResult {
  ModelVersionInfo version;  // as registered
  BinaryMetrics holdout;
  int64_t labels_read = 0, not_known = 0, immature = 0, outside_window = 0;
  int64_t fit_rows = 0, early_stopping_rows = 0, holdout_rows = 0;
  int best_iteration = -1, rounds_trained = 0;
  double dataset_seconds = 0, train_seconds = 0, total_seconds = 0;
  DatasetStats dataset;
  std::string report;  // what `vigil train` prints
};

// Trains `model` at options.cutoff and registers the result as a new version (aliases are
// the caller's). InvalidArgument when a period has no rows or only one class where it
// needs both (fit, holdout), naming the period and its time range.
Result<TrainResult> TrainModel(const Definitions& defs, Log* log, const ModelDef& model,
                               const TrainOptions& options);

// A registered version loaded for scoring: its booster and its bound layout.
struct LoadedModel {
  ModelVersionInfo info;
  std::shared_ptr<const FeatureVectorBuilder> builder;
  std::shared_ptr<const XgbModel> booster;
  double threshold = 0.5;
};
Result<LoadedModel> LoadModelVersion(const Definitions& defs, const ModelRegistry& registry,
                                     const std::string& model, int version);

// Scores `rows` of `labels` with `m` and evaluates against their targets.
Result<BinaryMetrics> EvaluateModel(const Definitions& defs, Log* log, const LoadedModel& m,
                                    const ModelLabels& labels, const std::vector<uint32_t>& rows,
                                    const FeatureMatrixOptions& options);

}  // namespace vigil
