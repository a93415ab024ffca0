#include "training/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <mutex>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <unordered_map>

#include "common/files.h"
#include "compute/entity_window.h"
#include "training/reference.h"

namespace vigil {
namespace {

namespace fs = std::filesystem;

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// FNV-1a 64 over several pieces (the data fingerprint), as one text.
class Fingerprint {
 public:
  void Add(const void* data, size_t n) { h_ = Fnv1a64(std::string_view(static_cast<const char*>(data), n), h_); }
  void Add(std::string_view s) { h_ = Fnv1a64(s, h_); }
  std::string Hex() const { return Hex64(h_); }

 private:
  uint64_t h_ = kFnv1a64Basis;
};

std::vector<const FeatureViewDef*> LayoutViews(const Definitions& defs, const FeatureVectorBuilder& b) {
  std::vector<const FeatureViewDef*> views;
  for (const auto& name : b.layout().views()) views.push_back(defs.FindView(name));
  return views;
}

// Category ids seen while building training rows, before the vocabulary exists: the
// matrix holds these ids, which FinishVocabularies then maps to vocabulary codes.
struct CategoryInterner {
  std::vector<std::unordered_map<std::string, int>> ids;  // per column
  std::vector<std::vector<std::string>> values;           // per column: id -> value
};

// The values the on-demand columns read (FeatureVectorBuilder::on_demand_inputs()), kept
// per matrix row while the views are joined one after the other: 16 bytes a cell, a
// string as an id in a dictionary, where a Value takes 48 and a heap string. Set is safe
// from several threads at once for different rows; Get once they are done.
class OnDemandInputs {
 public:
  OnDemandInputs(size_t rows, size_t width) : width_(width), cells_(rows * width) {}
  void Set(size_t row, size_t k, const Value& v) {
    Cell& cell = cells_[row * width_ + k];
    cell.type = v.type();
    switch (v.type()) {
      case Type::kNull:
        cell.bits = 0;
        break;
      case Type::kDouble: {
        const double d = v.dbl();
        std::memcpy(&cell.bits, &d, sizeof d);
        break;
      }
      case Type::kString: {
        std::lock_guard l(mu_);
        auto [it, fresh] = ids_.emplace(v.str(), static_cast<int64_t>(strings_.size()));
        if (fresh) strings_.push_back(v.str());
        cell.bits = it->second;
        break;
      }
      default:  // int64, timestamp, bool (0 or 1)
        cell.bits = v.int64();
    }
  }
  Value Get(size_t row, size_t k) const {
    const Cell& cell = cells_[row * width_ + k];
    switch (cell.type) {
      case Type::kNull:
        return Value::Null();
      case Type::kDouble: {
        double d;
        std::memcpy(&d, &cell.bits, sizeof d);
        return Value::Double(d);
      }
      case Type::kString:
        return Value::String(strings_[static_cast<size_t>(cell.bits)]);
      case Type::kBool:
        return Value::Bool(cell.bits != 0);
      case Type::kTimestamp:
        return Value::Timestamp(cell.bits);
      default:
        return Value::Int64(cell.bits);
    }
  }

 private:
  struct Cell {
    int64_t bits = 0;
    Type type = Type::kNull;
  };
  size_t width_;
  std::vector<Cell> cells_;
  std::mutex mu_;
  std::unordered_map<std::string, int64_t> ids_;
  std::vector<std::string> strings_;
};

// Shared by training (interner set: categorical columns get interned ids) and scoring
// (interner null: the builder's vocabularies). Fills the matrix column by column, as the
// join streams each view's tuples: a column that holds a request field or a view feature
// is encoded as its value arrives; an on-demand column is computed at the end from the
// inputs it reads, the only values kept. Row i of the matrix is label row rows[i].
Result<DenseMatrix> BuildMatrix(const Definitions& defs, Log* log, const FeatureVectorBuilder& builder,
                                const ModelLabels& labels, const std::vector<uint32_t>& rows,
                                const FeatureMatrixOptions& options, CategoryInterner* interner,
                                DatasetStats* stats) {
  const FeatureLayout& layout = builder.layout();
  const size_t cols = builder.size();
  const size_t n = rows.size();
  DenseMatrix m;
  m.rows = static_cast<int64_t>(n);
  m.cols = static_cast<int>(cols);
  m.values.resize(n * cols);
  m.labels.resize(n);
  if (interner) {
    interner->ids.resize(cols);
    interner->values.resize(cols);
  }
  const std::vector<const FeatureViewDef*> views = LayoutViews(defs, builder);
  // Request fields come from the label table's columns of the same names.
  std::vector<size_t> request_cols;
  for (const auto& f : layout.request().fields()) {
    VIGIL_ASSIGN_OR_RETURN(size_t c, labels.table.Column(f.name));
    request_cols.push_back(c);
  }
  // Where each input-row value goes: the columns that hold it, and its place among the
  // kept on-demand inputs (-1: not kept).
  std::vector<std::vector<size_t>> columns_of(builder.input_width());
  std::vector<size_t> on_demand_cols;
  for (size_t c = 0; c < cols; ++c) {
    const int in = builder.input_of(c);
    if (in < 0) {
      on_demand_cols.push_back(c);
    } else {
      columns_of[static_cast<size_t>(in)].push_back(c);
    }
  }
  const std::vector<int>& od_inputs = builder.on_demand_inputs();
  std::vector<int> kept_at(builder.input_width(), -1);
  for (size_t k = 0; k < od_inputs.size(); ++k) kept_at[static_cast<size_t>(od_inputs[k])] = static_cast<int>(k);
  OnDemandInputs kept(on_demand_cols.empty() ? 0 : n, od_inputs.size());

  std::mutex intern_mu;
  // Encodes value v of column c in row i: an interned id for a category while training.
  auto put = [&](size_t i, size_t c, const Value& v) {
    float& cell = m.values[i * cols + c];
    if (interner && layout.columns()[c].categorical() && v.type() == Type::kString) {
      std::lock_guard l(intern_mu);
      auto [it, fresh] = interner->ids[c].emplace(v.str(), static_cast<int>(interner->values[c].size()));
      if (fresh) interner->values[c].push_back(v.str());
      cell = static_cast<float>(it->second);
    } else {
      cell = builder.Encode(c, v);
    }
  };
  auto store = [&](size_t i, size_t input, const Value& v) {
    for (size_t c : columns_of[input]) put(i, c, v);
    if (kept_at[input] >= 0 && !on_demand_cols.empty()) kept.Set(i, static_cast<size_t>(kept_at[input]), v);
  };

  for (size_t i = 0; i < n; ++i) {
    for (size_t f = 0; f < request_cols.size(); ++f) {
      auto v = builder.ParseRequestCell(f, labels.table.cell(rows[i], request_cols[f]));
      if (!v.ok()) return v.status().WithContext(labels.table.path + " row " + std::to_string(rows[i] + 2));
      store(i, f, *v);
    }
    m.labels[i] = static_cast<float>(labels.target[rows[i]]);
  }
  // Each view's empty tuple everywhere, then the joined tuples over it.
  for (size_t vi = 0; vi < views.size(); ++vi) {
    const Row empty = ViewPlan(*views[vi]).empty_tuple();
    const size_t offset = builder.view_offset(vi);
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = 0; j < empty.size(); ++j) store(i, offset + j, empty[j]);
    }
  }
  JoinOptions jo;
  jo.threads = options.threads;
  jo.replay_only = options.replay_only;
  jo.events_per_pass = options.events_per_pass;
  VIGIL_RETURN_IF_ERROR(JoinPointInTime(
      defs, log, options.offline_dir, labels.table, rows, views, jo,
      [&](size_t vi, uint32_t i, const Row& tuple) {
        const size_t offset = builder.view_offset(vi);
        const size_t width = std::min(tuple.size(), builder.view_width(vi));
        for (size_t j = 0; j < width; ++j) store(i, offset + j, tuple[j]);
      },
      stats));
  if (!on_demand_cols.empty()) {
    Row input(builder.input_width());
    for (size_t i = 0; i < n; ++i) {
      for (size_t k = 0; k < od_inputs.size(); ++k) input[static_cast<size_t>(od_inputs[k])] = kept.Get(i, k);
      for (size_t c : on_demand_cols) put(i, c, builder.Evaluate(c, input));
    }
  }
  return m;
}

// Learns each categorical column's vocabulary from the fit rows (the first `fit_rows`
// rows of every matrix are not assumed: `fit` is the fit matrix) and rewrites the
// interned ids of every matrix as vocabulary codes (NaN outside it).
void FinishVocabularies(const CategoryInterner& interner, const DenseMatrix& fit, FeatureLayout* layout,
                        std::vector<DenseMatrix*> matrices) {
  const size_t cols = layout->columns().size();
  for (size_t c = 0; c < cols; ++c) {
    FeatureColumn& col = layout->mutable_columns()[c];
    if (!col.categorical()) continue;
    const auto& values = interner.values[c];
    std::vector<int64_t> counts(values.size(), 0);
    for (int64_t r = 0; r < fit.rows; ++r) {
      float v = fit.values[static_cast<size_t>(r) * cols + c];
      if (!std::isnan(v)) ++counts[static_cast<size_t>(v)];
    }
    std::vector<size_t> order;
    for (size_t id = 0; id < values.size(); ++id) {
      if (counts[id] > 0) order.push_back(id);
    }
    // Most frequent first; ties by value, so the vocabulary does not depend on row order.
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return counts[a] != counts[b] ? counts[a] > counts[b] : values[a] < values[b];
    });
    if (order.size() > kMaxCategories) order.resize(kMaxCategories);
    std::vector<float> remap(values.size(), std::numeric_limits<float>::quiet_NaN());
    col.vocabulary.clear();
    for (size_t code = 0; code < order.size(); ++code) {
      remap[order[code]] = static_cast<float>(code);
      col.vocabulary.push_back(values[order[code]]);
    }
    for (DenseMatrix* m : matrices) {
      for (int64_t r = 0; r < m->rows; ++r) {
        float& v = m->values[static_cast<size_t>(r) * cols + c];
        if (!std::isnan(v)) v = remap[static_cast<size_t>(v)];
      }
    }
  }
}

std::string PeriodText(TimestampMs from, TimestampMs to) {
  return "[" + FormatIsoTimestamp(from) + ", " + FormatIsoTimestamp(to) + ")";
}

// Column c of the matrices' rows, one matrix after the other.
std::vector<double> Column(std::initializer_list<const DenseMatrix*> matrices, size_t c) {
  std::vector<double> out;
  int64_t rows = 0;
  for (const DenseMatrix* m : matrices) rows += m->rows;
  out.reserve(static_cast<size_t>(rows));
  for (const DenseMatrix* m : matrices) {
    for (int64_t r = 0; r < m->rows; ++r) out.push_back(m->values[static_cast<size_t>(r) * m->cols + c]);
  }
  return out;
}

}  // namespace

Result<ModelLabels> ReadModelLabels(const ModelDef& model, const std::string& path_in) {
  const LabelSpec& spec = model.labels;
  const std::string path = path_in.empty() ? spec.path : path_in;
  if (path.empty()) {
    return Status::InvalidArgument("model '" + model.name + "' has no labels.path (" + spec.loc.ToString() +
                                   "): give the label file with --labels");
  }
  // Columns: keys, request fields, target, known_at (each once).
  std::vector<std::string> columns;
  auto want = [&](const std::string& c) {
    if (!c.empty() && std::find(columns.begin(), columns.end(), c) == columns.end()) columns.push_back(c);
  };
  for (const auto& k : spec.keys) want(k);
  for (const auto& f : model.request.fields()) want(f.name);
  want(spec.target);
  want(spec.known_at_column);
  ModelLabels out;
  VIGIL_ASSIGN_OR_RETURN(out.table, ReadLabelTable(path, spec.ts_column, columns));
  VIGIL_ASSIGN_OR_RETURN(size_t target_col, out.table.Column(spec.target));
  size_t known_col = 0;
  if (!spec.known_at_column.empty()) {
    VIGIL_ASSIGN_OR_RETURN(known_col, out.table.Column(spec.known_at_column));
  }
  const size_t n = out.table.size();
  out.target.resize(n);
  out.known_at.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string_view t = out.table.cell(i, target_col);
    if (t == "1" || t == "true") {
      out.target[i] = 1;
    } else if (t == "0" || t == "false") {
      out.target[i] = 0;
    } else {
      return Status::InvalidArgument(path + " row " + std::to_string(i + 1) + ": column " + spec.target +
                                     ": '" + std::string(t) + "' is not 0/1 or true/false");
    }
    if (spec.known_at_column.empty()) {
      out.known_at[i] = out.table.ts[i];
    } else {
      auto k = ParseTimestamp(out.table.cell(i, known_col));
      if (!k.ok()) {
        return k.status().WithContext(path + " row " + std::to_string(i + 1) + ": column " + spec.known_at_column);
      }
      out.known_at[i] = *k;
    }
  }
  return out;
}

Result<DenseMatrix> BuildFeatureMatrix(const Definitions& defs, Log* log, const FeatureVectorBuilder& builder,
                                       const ModelLabels& labels, const std::vector<uint32_t>& rows,
                                       const FeatureMatrixOptions& options, DatasetStats* stats) {
  return BuildMatrix(defs, log, builder, labels, rows, options, nullptr, stats);
}

Result<TrainResult> TrainModel(const Definitions& defs, Log* log, const ModelDef& model,
                               const TrainOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  TrainResult res;
  VIGIL_ASSIGN_OR_RETURN(ModelLabels labels, ReadModelLabels(model, options.labels_path));
  res.labels_read = static_cast<int64_t>(labels.target.size());

  // The periods (trainer.h).
  const TimestampMs end = options.cutoff - model.labels.maturity;
  const TimestampMs holdout_from = end - model.holdout;
  const TimestampMs es_from = holdout_from - model.early_stopping;
  const TimestampMs begin = end - model.window;
  std::vector<uint32_t> fit_rows, es_rows, holdout_rows;
  for (uint32_t i = 0; i < labels.target.size(); ++i) {
    const TimestampMs ts = labels.table.ts[i];
    if (ts < begin || ts >= options.cutoff) {
      ++res.outside_window;
    } else if (ts >= end) {
      ++res.immature;
    } else if (labels.known_at[i] > options.cutoff) {
      ++res.not_known;
    } else if (ts >= holdout_from) {
      holdout_rows.push_back(i);
    } else if (ts >= es_from) {
      es_rows.push_back(i);
    } else {
      fit_rows.push_back(i);
    }
  }
  auto check = [&](const std::vector<uint32_t>& rows, const char* name, TimestampMs from, TimestampMs to) {
    int64_t pos = 0;
    for (uint32_t r : rows) pos += labels.target[r];
    if (rows.empty() || pos == 0 || pos == static_cast<int64_t>(rows.size())) {
      return Status::InvalidArgument(
          "model '" + model.name + "': the " + name + " period " + PeriodText(from, to) + " has " +
          std::to_string(rows.size()) + " known labels, " + std::to_string(pos) +
          " positive: it needs both outcomes (train at a later --at, or widen training.window)");
    }
    return Status::OK();
  };
  VIGIL_RETURN_IF_ERROR(check(fit_rows, "fit", begin, es_from));
  VIGIL_RETURN_IF_ERROR(check(holdout_rows, "holdout", holdout_from, end));
  res.fit_rows = static_cast<int64_t>(fit_rows.size());
  res.early_stopping_rows = static_cast<int64_t>(es_rows.size());
  res.holdout_rows = static_cast<int64_t>(holdout_rows.size());

  // The dataset: one join over all rows, interning categories, then vocabularies from fit.
  FeatureLayout layout = FeatureLayout::FromModel(model);
  VIGIL_ASSIGN_OR_RETURN(auto builder0, layout.Bind(defs));
  std::vector<uint32_t> all = fit_rows;
  all.insert(all.end(), es_rows.begin(), es_rows.end());
  all.insert(all.end(), holdout_rows.begin(), holdout_rows.end());
  CategoryInterner interner;
  FeatureMatrixOptions mo = options.matrix;
  mo.offline_dir = options.offline_dir;
  const auto t_data = std::chrono::steady_clock::now();
  VIGIL_ASSIGN_OR_RETURN(DenseMatrix whole, BuildMatrix(defs, log, *builder0, labels, all, mo, &interner, &res.dataset));
  res.dataset_seconds = Since(t_data);
  // Past the join only the matrix is needed: the label table goes before the booster.
  labels = ModelLabels();
  std::vector<uint32_t>().swap(all);
  auto slice = [&](size_t from, size_t n) {
    DenseMatrix m;
    m.rows = static_cast<int64_t>(n);
    m.cols = whole.cols;
    m.values.assign(whole.values.begin() + static_cast<std::ptrdiff_t>(from * whole.cols),
                    whole.values.begin() + static_cast<std::ptrdiff_t>((from + n) * whole.cols));
    m.labels.assign(whole.labels.begin() + static_cast<std::ptrdiff_t>(from),
                    whole.labels.begin() + static_cast<std::ptrdiff_t>(from + n));
    return m;
  };
  DenseMatrix fit = slice(0, fit_rows.size());
  DenseMatrix es = slice(fit_rows.size(), es_rows.size());
  DenseMatrix holdout = slice(fit_rows.size() + es_rows.size(), holdout_rows.size());
  whole = DenseMatrix();
  // The join's many small allocations (label cells, decoded events, tuples) are free by
  // now, but glibc keeps freed heap pages: hand them back before the booster allocates
  // its own (2 GiB of peak RSS at 5M labels, docs/benchmarks.md).
#ifdef __GLIBC__
  malloc_trim(0);
#endif
  FinishVocabularies(interner, fit, &layout, {&fit, &es, &holdout});
  VIGIL_ASSIGN_OR_RETURN(auto builder, layout.Bind(defs));

  // The booster.
  BoosterOptions bo;
  bo.params = model.xgboost;
  bo.rounds = model.rounds;
  bo.early_stopping_rounds = es.rows > 0 ? model.early_stopping_rounds : 0;
  for (const auto& c : layout.columns()) {
    bo.categorical.push_back(c.categorical());
    bo.feature_names.push_back(c.name);
  }
  const auto t_train = std::chrono::steady_clock::now();
  VIGIL_ASSIGN_OR_RETURN(TrainedBooster booster, TrainBooster(fit, es.rows > 0 ? &es : nullptr, bo));
  res.train_seconds = Since(t_train);
  res.best_iteration = booster.best_iteration;
  res.rounds_trained = booster.rounds_trained;
  VIGIL_ASSIGN_OR_RETURN(XgbModel xgb, XgbModel::Load(booster.model_json, bo.categorical));

  // Evaluation on the holdout; the score's reference from out-of-sample rows.
  VIGIL_ASSIGN_OR_RETURN(std::vector<float> holdout_scores, xgb.Predict(holdout));
  std::vector<double> scores(holdout_scores.begin(), holdout_scores.end());
  std::vector<int> targets(holdout.labels.begin(), holdout.labels.end());
  res.holdout = Evaluate(scores, targets, model.threshold);
  VIGIL_ASSIGN_OR_RETURN(std::vector<float> es_scores, xgb.Predict(es));
  std::vector<double> oos(es_scores.begin(), es_scores.end());
  oos.insert(oos.end(), scores.begin(), scores.end());

  std::vector<FeatureReference> refs;
  {
    for (size_t c = 0; c < layout.columns().size(); ++c) {
      const FeatureColumn& col = layout.columns()[c];
      std::vector<double> values = Column({&fit, &es, &holdout}, c);
      refs.push_back(col.categorical() ? CategoricalReference(col.name, values, col.vocabulary)
                                       : NumericReference(col.name, values));
    }
    refs.push_back(NumericReference("__score__", oos));
  }

  // The data fingerprint: layout, then every matrix's values and labels.
  Fingerprint fp;
  const std::string layout_json = layout.ToJson();
  fp.Add(layout_json);
  for (const DenseMatrix* m : {&fit, &es, &holdout}) {
    fp.Add(m->values.data(), m->values.size() * sizeof(float));
    fp.Add(m->labels.data(), m->labels.size() * sizeof(float));
  }

  nlohmann::ordered_json manifest;
  manifest["model"] = model.name;
  manifest["cutoff_ms"] = options.cutoff;
  manifest["cutoff"] = FormatIsoTimestamp(options.cutoff);
  manifest["periods"] = {{"fit", {begin, es_from}}, {"early_stopping", {es_from, holdout_from}},
                         {"holdout", {holdout_from, end}}};
  manifest["rows"] = {{"labels_read", res.labels_read},       {"not_known", res.not_known},
                      {"immature", res.immature},             {"outside_window", res.outside_window},
                      {"fit", res.fit_rows},                  {"early_stopping", res.early_stopping_rows},
                      {"holdout", res.holdout_rows}};
  manifest["labels"] = {{"path", options.labels_path.empty() ? model.labels.path : options.labels_path},
                        {"ts", model.labels.ts_column},
                        {"target", model.labels.target},
                        {"known_at", model.labels.known_at_column},
                        {"keys", model.labels.keys},
                        {"maturity_ms", model.labels.maturity}};
  nlohmann::ordered_json views = nlohmann::ordered_json::array();
  for (const auto& v : layout.views()) {
    const FeatureViewDef* def = defs.FindView(v);
    views.push_back({{"name", v}, {"version", def->version}, {"fingerprint", ViewFingerprint(defs, *def)}});
  }
  manifest["views"] = views;
  nlohmann::ordered_json params = nlohmann::ordered_json::object();
  for (const auto& [k, v] : model.xgboost) params[k] = v;
  manifest["xgboost"] = {{"params", params},
                         {"rounds", model.rounds},
                         {"early_stopping_rounds", bo.early_stopping_rounds},
                         {"best_iteration", booster.best_iteration},
                         {"rounds_trained", booster.rounds_trained},
                         {"validation_metric", booster.metric}};
  manifest["threshold"] = model.threshold;
  manifest["data_fingerprint"] = fp.Hex();

  // The report.
  char line[512];
  std::string report;
  std::snprintf(line, sizeof line, "model %s, cut-off %s\n", model.name.c_str(), FormatIsoTimestamp(options.cutoff).c_str());
  report += line;
  std::snprintf(line, sizeof line,
                "labels: %lld read, %lld used; left out: %lld not known by the cut-off, %lld younger than the "
                "maturity, %lld outside the window\n",
                static_cast<long long>(res.labels_read),
                static_cast<long long>(res.fit_rows + res.early_stopping_rows + res.holdout_rows),
                static_cast<long long>(res.not_known), static_cast<long long>(res.immature),
                static_cast<long long>(res.outside_window));
  report += line;
  std::snprintf(line, sizeof line, "fit %s: %lld rows; early stopping %s: %lld rows; holdout %s: %lld rows\n",
                PeriodText(begin, es_from).c_str(), static_cast<long long>(res.fit_rows),
                PeriodText(es_from, holdout_from).c_str(), static_cast<long long>(res.early_stopping_rows),
                PeriodText(holdout_from, end).c_str(), static_cast<long long>(res.holdout_rows));
  report += line;
  std::snprintf(line, sizeof line, "features: %zu (%zu views); booster: %d rounds, best %d\n",
                layout.columns().size(), layout.views().size(), booster.rounds_trained, booster.best_iteration + 1);
  report += line;
  report += "holdout:\n" + FormatMetrics(res.holdout);
  if (report.back() != '\n') report += '\n';

  // Stage the version's files, then register (the registry moves them into place).
  VIGIL_ASSIGN_OR_RETURN(ModelRegistry registry, ModelRegistry::Open(options.models_root));
  std::error_code ec;
  const fs::path staging = fs::path(options.models_root) / (".staging-" + model.name + "-" + fp.Hex() + "-" +
                                                            std::to_string(::getpid()));
  fs::remove_all(staging, ec);
  fs::create_directories(staging, ec);
  if (ec) return Status::IOError("cannot create " + staging.string() + ": " + ec.message());
  VIGIL_RETURN_IF_ERROR(WriteFileAtomic((staging / "model.json").string(), booster.model_json));
  VIGIL_RETURN_IF_ERROR(WriteFileAtomic((staging / "layout.json").string(), layout_json));
  VIGIL_RETURN_IF_ERROR(WriteFileAtomic((staging / "reference.json").string(), ReferencesToJson(refs)));
  VIGIL_RETURN_IF_ERROR(WriteFileAtomic((staging / "metrics.json").string(), MetricsToJson(res.holdout)));
  VIGIL_RETURN_IF_ERROR(WriteFileAtomic((staging / "manifest.json").string(), manifest.dump(1)));
  VIGIL_RETURN_IF_ERROR(WriteFileAtomic((staging / "report.txt").string(), report));
  ModelVersionInfo info;
  info.model = model.name;
  info.cutoff_ms = options.cutoff;
  info.data_fingerprint = fp.Hex();
  info.command = options.command;
  info.metrics = {{"roc_auc", res.holdout.roc_auc},
                  {"pr_auc", res.holdout.pr_auc},
                  {"log_loss", res.holdout.log_loss},
                  {"holdout_rows", static_cast<double>(res.holdout_rows)},
                  {"fit_rows", static_cast<double>(res.fit_rows)}};
  auto registered = registry.Register(model.name, staging.string(), info);
  fs::remove_all(staging, ec);
  if (!registered.ok()) return registered.status();
  res.version = std::move(registered).value();
  res.total_seconds = Since(start);
  res.report = "version " + std::to_string(res.version.version) + " of " + report;
  return res;
}

Result<LoadedModel> LoadModelVersion(const Definitions& defs, const ModelRegistry& registry, const std::string& model,
                                     int version) {
  LoadedModel m;
  VIGIL_ASSIGN_OR_RETURN(m.info, registry.Version(model, version));
  const fs::path dir(m.info.dir);
  VIGIL_ASSIGN_OR_RETURN(std::string layout_json, ReadWholeFile((dir / "layout.json").string()));
  VIGIL_ASSIGN_OR_RETURN(FeatureLayout layout, FeatureLayout::FromJson(layout_json));
  auto bound = layout.Bind(defs);
  if (!bound.ok()) return bound.status().WithContext(model + " v" + std::to_string(version));
  m.builder = *bound;
  std::vector<bool> categorical;
  for (const auto& c : layout.columns()) categorical.push_back(c.categorical());
  VIGIL_ASSIGN_OR_RETURN(std::string model_json, ReadWholeFile((dir / "model.json").string()));
  VIGIL_ASSIGN_OR_RETURN(XgbModel xgb, XgbModel::Load(model_json, categorical));
  m.booster = std::make_shared<const XgbModel>(std::move(xgb));
  VIGIL_ASSIGN_OR_RETURN(std::string manifest_text, ReadWholeFile((dir / "manifest.json").string()));
  try {
    auto manifest = nlohmann::json::parse(manifest_text);
    m.threshold = manifest.value("threshold", 0.5);
  } catch (const std::exception& e) {
    return Status::Corruption((dir / "manifest.json").string() + ": " + e.what());
  }
  return m;
}

Result<BinaryMetrics> EvaluateModel(const Definitions& defs, Log* log, const LoadedModel& m,
                                    const ModelLabels& labels, const std::vector<uint32_t>& rows,
                                    const FeatureMatrixOptions& options) {
  DatasetStats stats;
  VIGIL_ASSIGN_OR_RETURN(DenseMatrix x, BuildMatrix(defs, log, *m.builder, labels, rows, options, nullptr, &stats));
  VIGIL_ASSIGN_OR_RETURN(std::vector<float> p, m.booster->Predict(x));
  std::vector<double> scores(p.begin(), p.end());
  std::vector<int> targets(x.labels.begin(), x.labels.end());
  return Evaluate(scores, targets, m.threshold);
}

}  // namespace vigil
