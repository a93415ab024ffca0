#include "serving/scoring_service.h"

#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common/base64.h"
#include "common/files.h"
#include "compute/changelog.h"
#include "compute/entity_window.h"
#include "schema/value.h"
#include "serving/compiled_model.h"
#include "serving/json_text.h"
#include "store/ingestion.h"
#include "training/model_registry.h"

namespace vigil {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// The serving log's writer takes its queue this often, or sooner once this many records wait.
constexpr int kLogWriteIntervalMs = 20;
constexpr size_t kLogWakeRecords = 4096;

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One loaded model version, ready to score.
struct ServedModel {
  std::string name;
  int version = 0;
  std::shared_ptr<const FeatureVectorBuilder> builder;
  std::shared_ptr<const CompiledModel> trees;
  double threshold = 0.5;
  std::vector<const FeatureViewDef*> views;  // builder.layout().views(), resolved
};

struct ModelEntry {
  std::shared_ptr<const ServedModel> champion, challenger;
};
using ModelSet = std::map<std::string, ModelEntry>;

json ValueJson(const Value& v) {
  switch (v.type()) {
    case Type::kNull:
      return nullptr;
    case Type::kBool:
      return v.boolean();
    case Type::kDouble:
      return std::isfinite(v.dbl()) ? json(v.dbl()) : json(nullptr);
    case Type::kString:
      return v.str();
    default:
      return v.int64();
  }
}

// The encoded entity key of `view` from the request's keys; empty when one is missing.
std::string EntityKeyOf(const Definitions& defs, const FeatureViewDef& view,
                        const std::map<std::string, std::string>& keys) {
  const EntityDef* e = defs.FindEntity(view.entity);
  std::string key;
  for (size_t i = 0; i < e->keys.size(); ++i) {
    auto it = keys.find(e->keys[i]);
    if (it == keys.end() || it->second.empty()) return "";
    if (i) key.push_back(kKeySeparator);
    key += it->second;
  }
  return key;
}

const json& EmptyObject() {
  static const json empty = json::object();
  return empty;
}

// A float as JSON: the shortest text that reads back as the same float; NaN as null.
void AppendJsonFloat(float v, std::string* out) {
  if (!std::isfinite(v)) {
    *out += "null";
    return;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr);
}

// The serving log's records waiting for the writer, in one buffer: each as its key's size,
// the key, its payload's size and the payload (sizes as 4 bytes in host order).
class LogQueue {
 public:
  size_t records() const { return records_; }
  void Add(std::string_view key, std::string_view payload) {
    AppendPart(key);
    AppendPart(payload);
    ++records_;
  }
  template <typename Fn>  // fn(key, payload) for each record, in the order added
  void ForEach(Fn&& fn) const {
    std::string_view in(bytes_);
    for (size_t i = 0; i < records_; ++i) {
      const std::string_view key = TakePart(&in);
      fn(key, TakePart(&in));
    }
  }
  // Empties the queue. Its buffer's capacity is kept up to kKeepBytes, what a batch of
  // kLogWakeRecords takes; a backlog's larger buffer is given back.
  void Clear() {
    if (bytes_.capacity() > kKeepBytes) {
      bytes_ = std::string();
    } else {
      bytes_.clear();
    }
    records_ = 0;
  }
  void Swap(LogQueue* other) {
    bytes_.swap(other->bytes_);
    std::swap(records_, other->records_);
  }

 private:
  void AppendPart(std::string_view part) {
    const auto size = static_cast<uint32_t>(part.size());
    bytes_.append(reinterpret_cast<const char*>(&size), sizeof size);
    bytes_.append(part);
  }
  static std::string_view TakePart(std::string_view* in) {
    uint32_t size;
    std::memcpy(&size, in->data(), sizeof size);
    const std::string_view part = in->substr(sizeof size, size);
    in->remove_prefix(sizeof size + size);
    return part;
  }

  static constexpr size_t kKeepBytes = 4 << 20;
  std::string bytes_;
  size_t records_ = 0;
};

}  // namespace

struct ScoringService::Impl {
  const Definitions& defs;
  OnlineStore* store;
  Log* log;
  MetricsRegistry* metrics;
  ScoringOptions options;

  std::atomic<std::shared_ptr<const ModelSet>> models{std::make_shared<const ModelSet>()};
  std::mutex reload_mu;  // one reload at a time

  // The serving log's queue and writer.
  std::mutex log_mu;
  std::condition_variable log_cv;
  LogQueue log_queue;
  std::atomic<uint64_t> log_dropped{0}, log_written{0};

  std::atomic<bool> stopping{false};
  std::vector<std::thread> threads;
  std::mutex stop_mu;
  bool stopped = false;

  Counter* scored = nullptr;
  Counter* shadow_scored = nullptr;
  Counter* lookups = nullptr;
  Counter* lookup_misses = nullptr;
  Counter* reloads = nullptr;
  Counter* reload_errors = nullptr;
  Histogram* score_seconds = nullptr;
  std::vector<CallbackMetric> callbacks;  // last: removed first

  Impl(const Definitions& d, OnlineStore* s, Log* l, MetricsRegistry* m, ScoringOptions o)
      : defs(d), store(s), log(l), metrics(m), options(std::move(o)) {}

  Result<std::shared_ptr<const ServedModel>> Load(const ModelRegistry& registry, const std::string& model,
                                                  int version) {
    VIGIL_ASSIGN_OR_RETURN(ModelVersionInfo info, registry.Version(model, version));
    const std::string dir = info.dir;
    auto m = std::make_shared<ServedModel>();
    m->name = model;
    m->version = version;
    VIGIL_ASSIGN_OR_RETURN(std::string layout_json, ReadWholeFile(dir + "/layout.json"));
    VIGIL_ASSIGN_OR_RETURN(FeatureLayout layout, FeatureLayout::FromJson(layout_json));
    VIGIL_ASSIGN_OR_RETURN(m->builder, layout.Bind(defs));
    VIGIL_ASSIGN_OR_RETURN(std::string model_json, ReadWholeFile(dir + "/model.json"));
    VIGIL_ASSIGN_OR_RETURN(CompiledModel trees, CompiledModel::FromXgboostJson(model_json));
    if (static_cast<size_t>(trees.num_features()) != m->builder->size()) {
      return Status::Corruption(dir + ": the model has " + std::to_string(trees.num_features()) +
                                " features, its layout " + std::to_string(m->builder->size()));
    }
    m->trees = std::make_shared<const CompiledModel>(std::move(trees));
    VIGIL_ASSIGN_OR_RETURN(std::string manifest_text, ReadWholeFile(dir + "/manifest.json"));
    try {
      m->threshold = json::parse(manifest_text).value("threshold", 0.5);
    } catch (const std::exception& e) {
      return Status::Corruption(dir + "/manifest.json: " + e.what());
    }
    for (const auto& v : layout.views()) m->views.push_back(defs.FindView(v));
    return std::shared_ptr<const ServedModel>(std::move(m));
  }

  Result<std::vector<std::string>> Reload() {
    std::lock_guard lock(reload_mu);
    VIGIL_ASSIGN_OR_RETURN(ModelRegistry registry, ModelRegistry::Open(options.models_root));
    std::shared_ptr<const ModelSet> current = models.load();
    auto next = std::make_shared<ModelSet>();
    std::vector<std::string> changes;
    for (const auto& [name, def] : defs.models) {
      ModelEntry entry;
      const ModelEntry* old = current->count(name) ? &current->at(name) : nullptr;
      for (const char* alias : {"champion", "challenger"}) {
        const bool is_champion = std::string_view(alias) == "champion";
        if (!is_champion && !options.shadow) continue;
        auto& slot = is_champion ? entry.champion : entry.challenger;
        const auto* old_slot = old ? (is_champion ? &old->champion : &old->challenger) : nullptr;
        auto v = registry.Alias(name, alias);
        if (!v.ok()) {
          if (!v.status().IsNotFound()) return v.status();
          if (old_slot && *old_slot) changes.push_back(name + " " + alias + " v" + std::to_string((*old_slot)->version) + " -> none");
          continue;
        }
        if (old_slot && *old_slot && (*old_slot)->version == *v) {
          slot = *old_slot;
          continue;
        }
        auto loaded = Load(registry, name, *v);
        if (!loaded.ok()) {
          // Keep serving what was loaded; say why the new version is not.
          if (old_slot) slot = *old_slot;
          if (reload_errors) reload_errors->Increment();
          changes.push_back(name + " " + alias + " v" + std::to_string(*v) + " not loaded: " +
                            loaded.status().message());
          continue;
        }
        changes.push_back(name + " " + alias + " " +
                          (old_slot && *old_slot ? "v" + std::to_string((*old_slot)->version) : std::string("none")) +
                          " -> v" + std::to_string(*v));
        slot = *loaded;
      }
      (*next)[name] = entry;
    }
    models.store(std::move(next));
    if (reloads) reloads->Increment();
    return changes;
  }

  // Hands a record to the writer without waking it: the writer takes the queue every
  // kLogWriteIntervalMs, or at once when kLogWakeRecords are waiting, so a request pays a
  // lock and a copy into the queue's buffer (no allocation once the buffers have grown),
  // and the log a write(2) per batch rather than per request.
  void EnqueueLog(std::string_view model, std::string_view record) {
    size_t waiting;
    {
      std::lock_guard lock(log_mu);
      if (log_queue.records() >= options.log_queue) {
        ++log_dropped;
        return;
      }
      log_queue.Add(model, record);
      waiting = log_queue.records();
    }
    if (waiting == kLogWakeRecords) log_cv.notify_one();
  }

  void LogWriter() {
    auto writer = log->OpenWriter(kServingLogTopic);
    if (!writer.ok()) {
      std::fprintf(stderr, "vigil serve: serving log disabled: %s\n", writer.status().message().c_str());
      return;
    }
    LogQueue batch;  // swapped with log_queue: both keep their buffers' capacity
    for (;;) {
      {
        std::unique_lock lock(log_mu);
        log_cv.wait_for(lock, std::chrono::milliseconds(kLogWriteIntervalMs),
                        [&] { return log_queue.records() >= kLogWakeRecords || stopping; });
        batch.Swap(&log_queue);
      }
      batch.ForEach([&](std::string_view key, std::string_view payload) {
        if ((*writer)->Append(key, payload).ok()) ++log_written;
      });
      // Flushed to the OS now, fsynced at the end; a failed flush shows as records missing from the topic.
      if (batch.records() > 0) (*writer)->Flush(false).IgnoreError();
      batch.Clear();
      if (stopping) {
        std::lock_guard lock(log_mu);
        if (log_queue.records() == 0) break;
      }
    }
    (*writer)->Flush(true).IgnoreError();
  }

  struct Parsed {
    std::string model;
    std::map<std::string, std::string> keys;
    // The body's keys and request objects (pointing into the parsed body, which outlives Parsed).
    const json* keys_json = &EmptyObject();
    const json* request_json = &EmptyObject();
    bool features = false;
    std::optional<TimestampMs> ts;  // the moment scored (event time); default: now
    std::string id;                 // the caller's id of the scored event, for labels
  };

  // The serving log's record of one scored request (scoring_service.h), written by hand
  // into `r` (cleared first; the handler thread's reused buffer): it is built for every
  // request. The vector goes as the base64 of its float32 bytes, a copy rather than a
  // float-to-text per value (which was most of the record's cost), and the monitors read
  // it back with a copy too (monitoring/serving_log_internal.h).
  static void BuildServingLogRecord(const Parsed& p, int64_t now, int version, const std::vector<float>& vec,
                                    float score, int challenger_version, float challenger_score,
                                    std::string* out) {
    std::string& r = *out;
    r.clear();
    r += "{\"ts\":";
    r += std::to_string(p.ts.value_or(now));
    r += ",\"served_at\":";
    r += std::to_string(now);
    r += ",\"model\":";
    AppendJsonString(p.model, &r);
    r += ",\"version\":";
    r += std::to_string(version);
    r += ",\"keys\":";
    AppendJsonText(*p.keys_json, &r);
    r += ",\"request\":";
    AppendJsonText(*p.request_json, &r);
    r += ",\"features_f32le\":\"";
    AppendBase64Float32Le(vec, &r);  // base64 needs no JSON escaping
    r += "\",\"score\":";
    AppendJsonFloat(score, &r);
    if (!p.id.empty()) {
      r += ",\"id\":";
      AppendJsonString(p.id, &r);
    }
    if (challenger_version) {
      r += ",\"challenger_version\":";
      r += std::to_string(challenger_version);
      r += ",\"challenger_score\":";
      AppendJsonFloat(challenger_score, &r);
    }
    r += '}';
  }

  HttpResponse Score(const std::string& body, Clock::time_point deadline) {
    const auto start = Clock::now();
    json j;
    try {
      j = json::parse(body);
    } catch (const std::exception& e) {
      return HttpResponse::Error(400, std::string("the body is not JSON: ") + e.what());
    }
    if (!j.is_object()) return HttpResponse::Error(400, "the body must be a JSON object {model, keys, request}");
    Parsed p;
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string& k = it.key();
      if (k == "model") {
        if (!it->is_string()) return HttpResponse::Error(400, "model must be a string");
        p.model = it->get<std::string>();
      } else if (k == "keys") {
        auto keys = RequestKeysFromJson(*it, options.max_keys);
        if (!keys.ok()) return HttpResponse::Error(400, keys.status().message());
        p.keys = std::move(keys).value();
        p.keys_json = &*it;
      } else if (k == "request") {
        if (!it->is_object()) return HttpResponse::Error(400, "request must be an object of request fields");
        p.request_json = &*it;
      } else if (k == "features") {
        if (!it->is_boolean()) return HttpResponse::Error(400, "features must be true or false");
        p.features = it->get<bool>();
      } else if (k == "ts") {
        if (it->is_number_integer()) {
          p.ts = it->get<int64_t>();
        } else if (it->is_string()) {
          auto t = ParseTimestamp(it->get<std::string>());
          if (!t.ok()) return HttpResponse::Error(400, "ts: " + t.status().message());
          p.ts = *t;
        } else {
          return HttpResponse::Error(400, "ts must be int64 ms since the epoch or an ISO-8601 time with a zone");
        }
      } else if (k == "id") {
        if (it->is_string()) {
          p.id = it->get<std::string>();
        } else if (it->is_number_integer()) {
          p.id = it->dump();
        } else {
          return HttpResponse::Error(400, "id must be a string or an integer");
        }
        if (p.id.size() > 256) return HttpResponse::Error(400, "id is longer than 256 bytes");
      } else {
        return HttpResponse::Error(400, "unknown field '" + k + "' (want model, keys, request, features, ts, id)");
      }
    }
    if (p.model.empty()) return HttpResponse::Error(400, "model is required");
    const ModelDef* def = defs.FindModel(p.model);
    if (!def) return HttpResponse::Error(404, "unknown model '" + p.model + "'");
    std::shared_ptr<const ModelSet> set = models.load();
    auto found = set->find(p.model);
    if (found == set->end() || !found->second.champion) {
      return HttpResponse::Error(503, "model '" + p.model + "' has no champion loaded yet");
    }
    const ModelEntry entry = found->second;
    const ServedModel& champion = *entry.champion;
    // Keys: each must key some view the model reads.
    std::set<std::string> known_keys;
    for (const auto* v : champion.views) {
      for (const auto& k : defs.FindEntity(v->entity)->keys) known_keys.insert(k);
    }
    for (const auto& [k, v] : p.keys) {
      if (!known_keys.count(k)) {
        std::string list;
        for (const auto& n : known_keys) list += (list.empty() ? "" : ", ") + n;
        return HttpResponse::Error(400, "unknown key '" + k + "' (model " + p.model + " is keyed by " + list + ")");
      }
    }
    // Request fields, typed by the champion's layout.
    const Schema& schema = champion.builder->layout().request();
    Row request(schema.size());
    for (auto it = p.request_json->begin(); it != p.request_json->end(); ++it) {
      int idx = schema.IndexOf(it.key());
      if (idx < 0) {
        std::string list;
        for (const auto& f : schema.fields()) list += (list.empty() ? "" : ", ") + f.name;
        return HttpResponse::Error(400, "unknown request field '" + it.key() + "' (model " + p.model + " takes " +
                                            (list.empty() ? "none" : list) + ")");
      }
      auto v = RequestValueFromJson(schema.field(idx), *it);
      if (!v.ok()) return HttpResponse::Error(400, v.status().message());
      request[idx] = std::move(v).value();
    }
    // One lookup per view of the champion and the challenger.
    std::map<std::string, std::optional<FeatureRow>> rows;
    auto lookup = [&](const ServedModel& m) -> Status {
      for (const auto* v : m.views) {
        if (rows.count(v->name)) continue;
        std::optional<FeatureRow>& out = rows[v->name];
        const std::string key = EntityKeyOf(defs, *v, p.keys);
        if (key.empty()) continue;
        if (lookups) lookups->Increment();
        VIGIL_RETURN_IF_ERROR(store->MultiGet(OnlineViewName(*v), std::span<const std::string>(&key, 1),
                                              std::span<std::optional<FeatureRow>>(&out, 1)));
        if (!out && lookup_misses) lookup_misses->Increment();
      }
      return Status::OK();
    };
    if (Status s = lookup(champion); !s.ok()) return HttpResponse::Error(500, s.message());
    if (entry.challenger) {
      if (Status s = lookup(*entry.challenger); !s.ok()) return HttpResponse::Error(500, s.message());
    }
    if (Clock::now() > deadline) return HttpResponse::Error(504, "the feature lookup took longer than the request timeout");
    auto vector_of = [&](const ServedModel& m, Row* request_row) {
      std::vector<const Row*> view_rows;
      for (const auto* v : m.views) {
        const auto& r = rows[v->name];
        view_rows.push_back(r ? &r->values : nullptr);
      }
      Row input = AssembleInput(defs, *m.builder, *request_row, view_rows);
      std::vector<float> vec(m.builder->size());
      m.builder->Build(input, vec.data());
      return vec;
    };
    std::vector<float> vec = vector_of(champion, &request);
    const float score = champion.trees->Predict(vec.data());
    if (scored) scored->Increment();
    int challenger_version = 0;
    float challenger_score = std::numeric_limits<float>::quiet_NaN();
    if (entry.challenger) {
      // The challenger may take other request fields: map by name.
      const Schema& cs = entry.challenger->builder->layout().request();
      Row creq(cs.size());
      for (size_t i = 0; i < cs.size(); ++i) {
        int idx = schema.IndexOf(cs.field(i).name);
        if (idx >= 0) creq[i] = request[idx];
      }
      std::vector<float> cvec = vector_of(*entry.challenger, &creq);
      challenger_score = entry.challenger->trees->Predict(cvec.data());
      challenger_version = entry.challenger->version;
      if (shadow_scored) shadow_scored->Increment();
    }
    json out = {{"score", static_cast<double>(score)}, {"model", p.model}, {"version", champion.version}};
    if (p.features) {
      json named = json::object();
      const auto& cols = champion.builder->layout().columns();
      for (size_t c = 0; c < cols.size(); ++c) {
        named[cols[c].name] = std::isnan(vec[c]) ? json(nullptr) : json(static_cast<double>(vec[c]));
      }
      out["features"] = std::move(named);
    }
    if (options.serving_log) {
      thread_local std::string record;
      BuildServingLogRecord(p, WallMs(), champion.version, vec, score, challenger_version, challenger_score,
                            &record);
      EnqueueLog(p.model, record);
    }
    if (score_seconds) score_seconds->ObserveDuration(Clock::now() - start);
    return HttpResponse::Json(200, out.dump());
  }

  HttpResponse Features(const std::string& body) {
    json j;
    try {
      j = json::parse(body);
    } catch (const std::exception& e) {
      return HttpResponse::Error(400, std::string("the body is not JSON: ") + e.what());
    }
    if (!j.is_object()) return HttpResponse::Error(400, "the body must be a JSON object {views, keys}");
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key() != "views" && it.key() != "keys") {
        return HttpResponse::Error(400, "unknown field '" + it.key() + "' (want views, keys)");
      }
    }
    if (!j.contains("views") || !j["views"].is_array() || j["views"].empty()) {
      return HttpResponse::Error(400, "views must be a non-empty array of feature view names");
    }
    if (!j.contains("keys")) return HttpResponse::Error(400, "keys is required");
    auto parsed_keys = RequestKeysFromJson(j["keys"], options.max_keys);
    if (!parsed_keys.ok()) return HttpResponse::Error(400, parsed_keys.status().message());
    const std::map<std::string, std::string>& keys = *parsed_keys;
    json out = json::object();
    const int64_t now = WallMs();
    for (const auto& name : j["views"]) {
      if (!name.is_string()) return HttpResponse::Error(400, "views must hold view names (strings)");
      const FeatureViewDef* v = defs.FindView(name.get<std::string>());
      if (!v) return HttpResponse::Error(404, "unknown feature view '" + name.get<std::string>() + "'");
      const std::string key = EntityKeyOf(defs, *v, keys);
      if (key.empty()) {
        return HttpResponse::Error(400, "view " + v->name + " needs the keys of entity " + v->entity);
      }
      std::optional<FeatureRow> row;
      if (Status s = store->MultiGet(OnlineViewName(*v), std::span<const std::string>(&key, 1),
                                     std::span<std::optional<FeatureRow>>(&row, 1));
          !s.ok()) {
        return HttpResponse::Error(500, s.message());
      }
      json values = json::object();
      const Row tuple = row ? row->values : ViewPlan(*v).empty_tuple();
      for (size_t f = 0; f < v->features.size() && f < tuple.size(); ++f) {
        values[v->features[f].name] = ValueJson(tuple[f]);
      }
      json entry = {{"found", row.has_value()}, {"values", std::move(values)}};
      if (row) {
        entry["ts"] = row->ts;
        entry["age_ms"] = now - row->ts;
      }
      out[v->name] = std::move(entry);
    }
    return HttpResponse::Json(200, out.dump());
  }

  // KServe v2 / Open Inference Protocol.
  HttpResponse ModelMetadata(const std::string& name) {
    std::shared_ptr<const ModelSet> set = models.load();
    auto it = set->find(name);
    if (!defs.FindModel(name)) return HttpResponse::Error(404, "unknown model '" + name + "'");
    json meta = {{"name", name}, {"platform", "vigil_xgboost"}};
    if (it == set->end() || !it->second.champion) {
      meta["versions"] = json::array();
      return HttpResponse::Json(200, meta.dump());
    }
    const ServedModel& m = *it->second.champion;
    meta["versions"] = {std::to_string(m.version)};
    json names = json::array();
    for (const auto& c : m.builder->layout().columns()) names.push_back(c.name);
    meta["inputs"] = {{{"name", "features"},
                       {"datatype", "FP32"},
                       {"shape", {-1, static_cast<int64_t>(m.builder->size())}},
                       {"parameters", {{"feature_names", names}}}}};
    meta["outputs"] = {{{"name", "score"}, {"datatype", "FP32"}, {"shape", {-1}}}};
    return HttpResponse::Json(200, meta.dump());
  }

  HttpResponse ModelReady(const std::string& name) {
    if (!defs.FindModel(name)) return HttpResponse::Error(404, "unknown model '" + name + "'");
    std::shared_ptr<const ModelSet> set = models.load();
    auto it = set->find(name);
    const bool ready = it != set->end() && it->second.champion;
    return HttpResponse::Json(ready ? 200 : 503, json({{"name", name}, {"ready", ready}}).dump());
  }

  HttpResponse Infer(const std::string& name, const std::string& body) {
    if (!defs.FindModel(name)) return HttpResponse::Error(404, "unknown model '" + name + "'");
    std::shared_ptr<const ModelSet> set = models.load();
    auto found = set->find(name);
    if (found == set->end() || !found->second.champion) {
      return HttpResponse::Error(503, "model '" + name + "' has no champion loaded yet");
    }
    const ServedModel& m = *found->second.champion;
    json j;
    try {
      j = json::parse(body);
    } catch (const std::exception& e) {
      return HttpResponse::Error(400, std::string("the body is not JSON: ") + e.what());
    }
    if (!j.is_object() || !j.contains("inputs") || !j["inputs"].is_array() || j["inputs"].size() != 1) {
      return HttpResponse::Error(400, "want {\"inputs\": [{\"name\": \"features\", \"shape\": [N, " +
                                          std::to_string(m.builder->size()) +
                                          "], \"datatype\": \"FP32\", \"data\": [...]}]}");
    }
    const json& in = j["inputs"][0];
    if (!in.is_object() || in.value("name", "") != "features") return HttpResponse::Error(400, "the input must be named \"features\"");
    if (in.value("datatype", "") != "FP32") return HttpResponse::Error(400, "the input's datatype must be FP32");
    const json& shape = in.contains("shape") ? in["shape"] : json();
    const size_t cols = m.builder->size();
    if (!shape.is_array() || shape.size() != 2 || !shape[0].is_number_unsigned() || !shape[1].is_number_unsigned() ||
        shape[1].get<uint64_t>() != cols) {
      return HttpResponse::Error(400, "the input's shape must be [N, " + std::to_string(cols) + "]");
    }
    const uint64_t rows = shape[0].get<uint64_t>();
    if (rows > 10000) return HttpResponse::Error(400, "at most 10000 rows per request");
    std::vector<float> values;
    values.reserve(rows * cols);
    // data: flat, or nested row by row.
    std::function<bool(const json&)> flatten = [&](const json& d) {
      if (d.is_array()) {
        for (const auto& x : d) {
          if (!flatten(x)) return false;
        }
        return true;
      }
      if (d.is_null()) {
        values.push_back(std::numeric_limits<float>::quiet_NaN());
        return true;
      }
      if (!d.is_number()) return false;
      values.push_back(static_cast<float>(d.get<double>()));
      return values.size() <= rows * cols;
    };
    if (!in.contains("data") || !flatten(in["data"]) || values.size() != rows * cols) {
      return HttpResponse::Error(400, "data must hold N x " + std::to_string(cols) + " numbers (null: missing)");
    }
    std::vector<float> scores(rows);
    m.trees->PredictBatch(values.data(), rows, scores.data());
    json out = {{"model_name", name}, {"model_version", std::to_string(m.version)}};
    if (j.contains("id") && j["id"].is_string()) out["id"] = j["id"];
    json data = json::array();
    for (float s : scores) data.push_back(static_cast<double>(s));
    out["outputs"] = {{{"name", "score"}, {"datatype", "FP32"}, {"shape", {rows}}, {"data", std::move(data)}}};
    return HttpResponse::Json(200, out.dump());
  }
};

ScoringService::ScoringService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ScoringService::~ScoringService() { Stop(); }

Result<std::unique_ptr<ScoringService>> ScoringService::Open(const Definitions& defs, OnlineStore* store, Log* log,
                                                             MetricsRegistry* metrics, const ScoringOptions& options) {
  auto impl = std::make_unique<Impl>(defs, store, log, metrics, options);
  Impl* s = impl.get();
  if (metrics) {
    s->scored = &metrics->AddCounter("vigil_serving_scores_total", "Requests scored by a champion.");
    s->shadow_scored =
        &metrics->AddCounter("vigil_serving_shadow_scores_total", "Requests scored in shadow by a challenger.");
    s->lookups = &metrics->AddCounter("vigil_serving_online_lookups_total", "Online store lookups.");
    s->lookup_misses =
        &metrics->AddCounter("vigil_serving_online_misses_total", "Online lookups that found no row (empty tuple).");
    s->reloads = &metrics->AddCounter("vigil_serving_reloads_total", "Reads of the model registry.");
    s->reload_errors =
        &metrics->AddCounter("vigil_serving_reload_errors_total", "Model versions that failed to load.");
    s->score_seconds = &metrics->AddHistogram("vigil_serving_score_seconds",
                                              "Time to parse, look up, assemble and score one request.", {},
                                              kLatencyBucketsSeconds);
    s->callbacks.push_back(metrics->AddCounterFunction("vigil_serving_log_records_total",
                                                       "Records written to the serving log.", {},
                                                       [s] { return static_cast<double>(s->log_written.load()); }));
    s->callbacks.push_back(metrics->AddCounterFunction(
        "vigil_serving_log_dropped_total", "Serving log records dropped because the writer fell behind.", {},
        [s] { return static_cast<double>(s->log_dropped.load()); }));
    for (const auto& [name, def] : defs.models) {
      for (const char* alias : {"champion", "challenger"}) {
        std::string model = name, a = alias;
        s->callbacks.push_back(metrics->AddGaugeFunction(
            "vigil_serving_model_version", "The model version an alias serves (0: none).",
            {{"model", model}, {"alias", a}}, [s, model, a] {
              auto set = s->models.load();
              auto it = set->find(model);
              if (it == set->end()) return 0.0;
              const auto& slot = a == "champion" ? it->second.champion : it->second.challenger;
              return slot ? static_cast<double>(slot->version) : 0.0;
            }));
      }
    }
  }
  VIGIL_RETURN_IF_ERROR(s->Reload().status());
  s->threads.emplace_back([s] { s->LogWriter(); });
  s->threads.emplace_back([s] {
    auto next_reload = Clock::now() + std::chrono::milliseconds(s->options.reload_interval_ms);
    const bool pinned = s->options.catch_up_interval_ms <= 0;
    while (!s->stopping) {
      std::this_thread::sleep_for(std::chrono::milliseconds(pinned ? 100 : std::max<int64_t>(10, s->options.catch_up_interval_ms)));
      if (Status st = pinned ? Status::OK() : s->store->CatchUp(); !st.ok()) {
        std::fprintf(stderr, "vigil serve: %s\n", st.message().c_str());
      }
      if (Clock::now() >= next_reload) {
        auto changes = s->Reload();
        if (!changes.ok()) {
          std::fprintf(stderr, "vigil serve: reload: %s\n", changes.status().message().c_str());
        } else {
          for (const auto& c : *changes) std::fprintf(stderr, "vigil serve: %s\n", c.c_str());
        }
        next_reload = Clock::now() + std::chrono::milliseconds(s->options.reload_interval_ms);
      }
    }
  });
  return std::unique_ptr<ScoringService>(new ScoringService(std::move(impl)));
}

void ScoringService::Stop() {
  std::lock_guard lock(impl_->stop_mu);
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->stopping = true;
  impl_->log_cv.notify_all();
  for (auto& t : impl_->threads) t.join();
}

Result<std::vector<std::string>> ScoringService::Reload() { return impl_->Reload(); }

HttpResponse ScoringService::Score(const std::string& body) {
  return impl_->Score(body, Clock::now() + std::chrono::hours(1));
}

std::vector<Route> ScoringService::Routes() {
  Impl* s = impl_.get();
  std::vector<Route> r;
  r.push_back({"POST", "/v1/score", Access::kApi, "score",
               [s](const HttpRequest& q) { return s->Score(q.body, q.deadline); }});
  r.push_back({"POST", "/v1/features", Access::kApi, "features",
               [s](const HttpRequest& q) { return s->Features(q.body); }});
  r.push_back({"GET", "/v2/health/live", Access::kPublic, "live",
               [](const HttpRequest&) { return HttpResponse::Json(200, R"({"live":true})"); }});
  r.push_back({"GET", "/v2/health/ready", Access::kPublic, "ready", [s](const HttpRequest&) {
                 auto set = s->models.load();
                 bool ready = true;
                 for (const auto& [name, def] : s->defs.models) {
                   auto it = set->find(name);
                   ready &= it != set->end() && it->second.champion != nullptr;
                 }
                 return HttpResponse::Json(ready ? 200 : 503, json({{"ready", ready}}).dump());
               }});
  r.push_back({"GET", "/v2/models/{name}", Access::kApi, "model_metadata",
               [s](const HttpRequest& q) { return s->ModelMetadata(q.params.at("name")); }});
  r.push_back({"GET", "/v2/models/{name}/ready", Access::kApi, "model_ready",
               [s](const HttpRequest& q) { return s->ModelReady(q.params.at("name")); }});
  r.push_back({"POST", "/v2/models/{name}/infer", Access::kApi, "infer",
               [s](const HttpRequest& q) { return s->Infer(q.params.at("name"), q.body); }});
  r.push_back({"POST", "/v1/admin/reload", Access::kAdmin, "reload", [s](const HttpRequest&) {
                 const bool pinned = s->options.catch_up_interval_ms <= 0;
                 if (!pinned) {
                   if (Status st = s->store->CatchUp(); !st.ok()) return HttpResponse::Error(500, st.message());
                 }
                 auto changes = s->Reload();
                 if (!changes.ok()) return HttpResponse::Error(500, changes.status().message());
                 return HttpResponse::Json(200, json({{"changes", *changes}, {"store_caught_up", !pinned}}).dump());
               }});
  return r;
}

}  // namespace vigil
