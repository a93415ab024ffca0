// Feature definitions: entities, sources and feature views, as DESIGN.md §3 writes them
// in YAML, loaded and validated into plans the compute engine runs.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/time.h"
#include "log/log_options.h"
#include "schema/value.h"
#include "spec/expr.h"

namespace vigil {

// Where a definition came from, for messages: "features.yaml:12".
struct SourceLocation {
  std::string file;
  int line = 0;
  std::string ToString() const { return file + ":" + std::to_string(line); }
};

// Persisted in nothing yet; order is the order of DESIGN.md §3.
enum class AggKind : uint8_t {
  kCount,
  kSum,
  kAvg,
  kMin,
  kMax,
  kStddev,  // population standard deviation
  kCountDistinct,
  kLast,
  kFirst,
};
std::string_view AggName(AggKind k);

struct EntityDef {
  std::string name;
  std::vector<std::string> keys;  // at least one; a composite key has several
  SourceLocation loc;
};

struct SourceDef {
  std::string name;
  std::string ts_field;  // int64 ms or ISO-8601 with a zone in the input
  DurationMs allowed_lateness = 0;
  // Events with ts later than ingest wall-clock time + max_future are rejected at
  // ingest (a far-future ts would otherwise push the watermark past every real event).
  // Default: 1d.
  DurationMs max_future = 86'400'000;
  Schema schema;  // the event fields, without the timestamp
  // The fields whose values key the source topic's records: they pick the partition, so
  // every event of one key stays in order. `partition_by: [field, ...]`; Default: the
  // keys of the entity of the source's first view (in view name order).
  std::vector<std::string> partition_by;
  std::vector<int> partition_indexes;  // partition_by as schema indexes
  SourceLocation loc;
};

// No ttl: entities are kept forever (a view with a lifetime feature and no ttl).
inline constexpr DurationMs kNoTtl = -1;

struct FeatureDef {
  std::string name;
  AggKind agg = AggKind::kCount;
  std::string field;     // empty: count of events (count only)
  int field_index = -1;  // in the source schema, -1 without field
  Type field_type = Type::kNull;
  std::optional<DurationMs> window;  // none: the whole life of the entity (bounded by ttl)
  std::string where;                 // empty: every event
  std::shared_ptr<const Expr> where_expr;
  Type output_type = Type::kNull;
  SourceLocation loc;
};

struct FeatureViewDef {
  std::string name;
  std::string entity;
  std::string source;
  std::vector<int> key_indexes;  // the entity's keys, as indexes in the source schema
  DurationMs ttl = kNoTtl;       // effective ttl (DESIGN.md §4 default applied)
  std::vector<FeatureDef> features;
  // The registered version of this definition (store/feature_registry.h). Default: 1.
  int version = 1;
  SourceLocation loc;
};

// Where a model's labels come from and how to read them (`models: <name>: labels:`).
// A label row is one labelled event: its entity keys, its time, its outcome, and when
// the outcome became known. Request fields are read from the label row's columns too.
struct LabelSpec {
  std::string path;              // CSV or Parquet; relative to the project. Empty: give --labels
  std::string ts_column = "ts";  // the labelled moment (int64 ms or ISO-8601)
  std::string target;            // 0/1 (also true/false); REQUIRED
  std::string known_at_column;   // when the outcome became known; empty: known at ts
  // Columns naming entity keys; every view the model reads must have its entity's keys
  // here. Default: the keys of every such entity.
  std::vector<std::string> keys;
  // Outcomes of events younger than this may still change (an open dispute window), so
  // training at cut-off T leaves out labels with ts >= T - maturity. Default: 0.
  DurationMs maturity = 0;
  SourceLocation loc;
};

// One column of a model's feature vector, in vector order.
struct ModelFeatureDef {
  // Persisted in model manifests: values must not change.
  enum class Kind : uint8_t { kView = 0, kRequest = 1, kOnDemand = 2 };
  // The column's name: "<view>.<feature>" for a view feature, the field for a request
  // field, the given name for an on-demand feature.
  std::string name;
  Kind kind = Kind::kView;
  std::string view;  // kView
  int feature_index = -1;
  std::string expr;  // kOnDemand: over request fields and "<view>.<feature>" names
  Type type = Type::kNull;  // the value's type; a string is a categorical feature
  SourceLocation loc;
};

// A model declaration (`models:` section).
//
//   models:
//     fraud:
//       labels: {path: labels.csv, target: is_fraud, known_at: known_at, maturity: 7d}
//       request: {amount: double, source: string}
//       features:
//         - user_txn.*                      # every feature of a view
//         - user_logins.failed_logins_1h    # one feature
//         - amount                          # a request field
//         - amount_vs_avg: "amount / user_txn.amount_avg_30d"   # on-demand
//       training: {window: 28d, holdout: 3d, early_stopping: 2d, threshold: 0.5}
//       xgboost: {rounds: 300, early_stopping_rounds: 30, max_depth: 6, eta: 0.1}
//       retrain: {every: 7d, metric: roc_auc, margin: 0.005}
//
// Training at event-time cut-off T uses the labels known by T (known_at <= T) with
// T - maturity - window <= ts < T - maturity, split by time, oldest first:
//   [fit ...............][early stopping][holdout]
// the booster learns on fit, stops when early stopping's log loss stops improving, and is
// judged on the holdout (training/trainer.h).
struct ModelDef {
  std::string name;
  LabelSpec labels;
  Schema request;                  // request fields: given by a scoring call, label columns in training
  std::vector<std::string> views;  // the views the features read, in first-use order
  std::vector<ModelFeatureDef> features;
  DurationMs window = 28 * 86'400'000LL;        // Default: 28d
  DurationMs holdout = 3 * 86'400'000LL;        // Default: 3d
  DurationMs early_stopping = 2 * 86'400'000LL;  // Default: 2d; 0: no early stopping
  double threshold = 0.5;                       // the operating threshold. Default: 0.5
  int rounds = 300;                             // boosting rounds at most. Default: 300
  int early_stopping_rounds = 30;               // Default: 30
  // Other XGBoost parameters, verbatim (max_depth, eta, subsample, seed, ...).
  std::vector<std::pair<std::string, std::string>> xgboost;
  // Retraining: a round every `retrain_every` of event time (0: only on demand); the
  // challenger replaces the champion when its `retrain_metric` on the newest holdout
  // beats the champion's by more than `retrain_margin`.
  DurationMs retrain_every = 0;
  std::string retrain_metric = "roc_auc";  // roc_auc, pr_auc or log_loss. Default: roc_auc
  double retrain_margin = 0.005;           // Default: 0.005
  SourceLocation loc;
};

struct Definitions {
  std::map<std::string, EntityDef> entities;
  std::map<std::string, SourceDef> sources;
  std::map<std::string, FeatureViewDef> views;
  std::map<std::string, ModelDef> models;

  const SourceDef* FindSource(std::string_view name) const;
  const FeatureViewDef* FindView(std::string_view name) const;
  const EntityDef* FindEntity(std::string_view name) const;
  const ModelDef* FindModel(std::string_view name) const;
  // Views computed from `source`, in name order.
  std::vector<const FeatureViewDef*> ViewsOf(std::string_view source) const;
  // Schema indexes every view of `source` needs non-null (entity keys), sorted.
  std::vector<int> RequiredFields(std::string_view source) const;
};

// Settings from vigil.yaml; every one has an embedded default.
struct Settings {
  std::string data_dir;    // Default: <project>/.vigil
  int online_shards = 16;  // in-memory online store shards. Default: 16
  // `log:` (log/log_options.h). Default: embedded, in <data_dir>/log.
  LogOptions log;
  // `stream: {checkpoint_interval, idle_timeout}`: the stream worker checkpoints its
  // window state with its offsets at least this often. Default: 5s.
  DurationMs checkpoint_interval = 5000;
  // A source partition with no new record for this long (wall clock) stops holding the
  // source's watermark back; when every partition is idle, the watermark advances to the
  // highest ts + 1 ms (DESIGN.md §4). 0 disables. Default: 30s.
  DurationMs idle_timeout = 30000;
  // `offline_dir`: the offline store and the event archive. Default: <data_dir>/offline.
  std::string offline_dir;
  // `sync: {interval}`: how often the ingestion worker reconciles the online and offline
  // stores (store/sync.h); 0 disables. Default: 10m.
  DurationMs sync_interval = 600'000;
};

struct Project {
  std::string dir;
  Definitions defs;
  Settings settings;
};

// The content of a view that shapes its values (entity keys and their types, source,
// lateness, ttl, each feature's aggregation, field, window and filter), as canonical
// text (one "key: value" per line) and as a 16-hex-digit FNV-1a hash of that text: the
// identity of a view version (store/feature_registry.h) and of its stream state.
std::string ViewDefinitionText(const Definitions& defs, const FeatureViewDef& view);
std::string ViewFingerprint(const Definitions& defs, const FeatureViewDef& view);

// Loads every *.yaml / *.yml file in `dir` but vigil.yaml as definitions, and vigil.yaml
// as settings. Every error is reported at once, one per line, as
// "<file>:<line>: <what is wrong> (<the offending text>)", in an InvalidArgument.
Result<Project> LoadProject(const std::string& dir);

}  // namespace vigil
