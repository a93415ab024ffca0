// Loads and validates a project directory (DESIGN.md §3). yaml-cpp throws; every call
// into it stays in this file, behind LoadProject's Status.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "spec/definitions.h"

namespace vigil {

std::string_view AggName(AggKind k) {
  switch (k) {
    case AggKind::kCount:
      return "count";
    case AggKind::kSum:
      return "sum";
    case AggKind::kAvg:
      return "avg";
    case AggKind::kMin:
      return "min";
    case AggKind::kMax:
      return "max";
    case AggKind::kStddev:
      return "stddev";
    case AggKind::kCountDistinct:
      return "count_distinct";
    case AggKind::kLast:
      return "last";
    case AggKind::kFirst:
      return "first";
  }
  return "?";
}

const SourceDef* Definitions::FindSource(std::string_view name) const {
  auto it = sources.find(std::string(name));
  return it == sources.end() ? nullptr : &it->second;
}
const FeatureViewDef* Definitions::FindView(std::string_view name) const {
  auto it = views.find(std::string(name));
  return it == views.end() ? nullptr : &it->second;
}
const EntityDef* Definitions::FindEntity(std::string_view name) const {
  auto it = entities.find(std::string(name));
  return it == entities.end() ? nullptr : &it->second;
}
const ModelDef* Definitions::FindModel(std::string_view name) const {
  auto it = models.find(std::string(name));
  return it == models.end() ? nullptr : &it->second;
}
std::vector<const FeatureViewDef*> Definitions::ViewsOf(std::string_view source) const {
  std::vector<const FeatureViewDef*> out;
  for (const auto& [name, v] : views) {
    if (v.source == source) out.push_back(&v);
  }
  return out;
}
std::vector<int> Definitions::RequiredFields(std::string_view source) const {
  std::set<int> idx;
  for (const auto* v : ViewsOf(source)) idx.insert(v->key_indexes.begin(), v->key_indexes.end());
  return {idx.begin(), idx.end()};
}

namespace {

namespace fs = std::filesystem;

bool IsIdentifier(const std::string& s) {
  if (s.empty() || s.size() > 128) return false;
  if (!(std::islower(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) ||
           c == '_';
  });
}

// Collects every error of a load, each with its place.
class Loader {
 public:
  explicit Loader(std::string dir) : dir_(std::move(dir)) {}

  Result<Project> Load() {
    std::error_code ec;
    if (!fs::is_directory(dir_, ec)) {
      return Status::InvalidArgument("project directory '" + dir_ + "' does not exist");
    }
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir_, ec)) {
      if (!entry.is_regular_file()) continue;
      auto ext = entry.path().extension().string();
      if (ext == ".yaml" || ext == ".yml") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    Project project;
    project.dir = dir_;
    project.settings.data_dir = (fs::path(dir_) / ".vigil").string();
    bool log_dir_set = false, offline_dir_set = false;
    // Sections may be split across files: gather every file's sections, then validate
    // with the whole picture (a view may name an entity defined in another file).
    std::vector<std::pair<std::string, YAML::Node>> docs;
    for (const auto& path : files) {
      std::string name = path.filename().string();
      YAML::Node root;
      try {
        root = YAML::LoadFile(path.string());
      } catch (const YAML::Exception& e) {
        Error(name, e.mark.line + 1, "invalid YAML: " + e.msg);
        continue;
      }
      if (name == "vigil.yaml" || name == "vigil.yml") {
        LoadSettings(name, root, &project.settings, &log_dir_set, &offline_dir_set);
      } else {
        docs.emplace_back(name, root);
      }
    }
    for (auto& [file, root] : docs) Gather(file, root);
    for (auto& [name, e] : entity_nodes_) LoadEntity(e.file, name, e.node, &project.defs);
    for (auto& [name, e] : source_nodes_) LoadSource(e.file, name, e.node, &project.defs);
    for (auto& [name, e] : view_nodes_) LoadView(e.file, name, e.node, &project.defs);
    for (auto& [name, e] : source_nodes_) ResolvePartitioning(e.file, name, e.node, &project.defs);
    for (auto& [name, e] : model_nodes_) LoadModel(e.file, name, e.node, &project.defs);
    Settings& st = project.settings;
    if (!log_dir_set) st.log.dir = (fs::path(st.data_dir) / "log").string();
    if (!offline_dir_set) st.offline_dir = (fs::path(st.data_dir) / "offline").string();
    if (!errors_.empty()) {
      std::string msg;
      for (const auto& e : errors_) msg += (msg.empty() ? "" : "\n") + e;
      return Status::InvalidArgument(msg);
    }
    return project;
  }

 private:
  struct Located {
    std::string file;
    YAML::Node node;
  };

  static int Line(const YAML::Node& n) { return n.Mark().line + 1; }

  void Error(const std::string& file, int line, const std::string& msg) {
    errors_.push_back(file + ":" + std::to_string(line) + ": " + msg);
  }
  void Error(const std::string& file, const YAML::Node& n, const std::string& msg) {
    Error(file, Line(n), msg);
  }

  static std::string Text(const YAML::Node& n) {
    if (n.IsScalar()) return n.Scalar();
    YAML::Emitter out;
    out << YAML::Flow << n;
    return out.c_str();
  }

  void Gather(const std::string& file, const YAML::Node& root) {
    if (root.IsNull()) return;
    if (!root.IsMap()) {
      Error(file, root, "a definitions file is a map of sections (entities, sources, feature_views, models)");
      return;
    }
    for (auto it = root.begin(); it != root.end(); ++it) {
      std::string section = Text(it->first);
      std::map<std::string, Located>* into = nullptr;
      if (section == "entities")
        into = &entity_nodes_;
      else if (section == "sources")
        into = &source_nodes_;
      else if (section == "feature_views")
        into = &view_nodes_;
      else if (section == "models")
        into = &model_nodes_;
      else {
        Error(file, it->first,
              "unknown section '" + section + "' (want entities, sources, feature_views or models)");
        continue;
      }
      if (it->second.IsNull()) continue;
      if (!it->second.IsMap()) {
        Error(file, it->second, "section '" + section + "' must be a map of name: definition");
        continue;
      }
      for (auto d = it->second.begin(); d != it->second.end(); ++d) {
        std::string name = Text(d->first);
        if (!IsIdentifier(name)) {
          Error(file, d->first,
                "bad name '" + name + "': use lower-case letters, digits and _, starting with a letter");
          continue;
        }
        auto [pos, inserted] = into->emplace(name, Located{file, d->second});
        if (!inserted) {
          Error(file, d->first,
                section + " '" + name + "' is defined twice (also at " + pos->second.file + ":" +
                    std::to_string(Line(pos->second.node)) + ")");
        }
      }
    }
  }

  // Reports keys of map `n` not in `allowed`.
  void CheckKeys(const std::string& file, const YAML::Node& n, const std::string& what,
                 std::initializer_list<const char*> allowed) {
    for (auto it = n.begin(); it != n.end(); ++it) {
      std::string key = Text(it->first);
      bool ok = false;
      std::string list;
      for (const char* a : allowed) {
        ok |= key == a;
        list += (list.empty() ? "" : ", ") + std::string(a);
      }
      if (!ok) Error(file, it->first, "unknown key '" + key + "' in " + what + " (want " + list + ")");
    }
  }

  bool ParseDurationNode(const std::string& file, const YAML::Node& n, const std::string& what,
                         DurationMs* out) {
    if (!n.IsScalar()) {
      Error(file, n, what + " must be a duration like 10m (" + Text(n) + ")");
      return false;
    }
    auto d = ParseDuration(n.Scalar());
    if (!d.ok()) {
      Error(file, n, what + ": " + d.status().message());
      return false;
    }
    *out = *d;
    return true;
  }

  // A path setting: relative paths are relative to the project directory.
  bool ParsePathNode(const std::string& file, const YAML::Node& n, const std::string& what, std::string* out) {
    if (!n.IsScalar() || n.Scalar().empty()) {
      Error(file, n, what + " must be a path (" + Text(n) + ")");
      return false;
    }
    fs::path p(n.Scalar());
    *out = p.is_absolute() ? p.string() : (fs::path(dir_) / p).string();
    return true;
  }

  template <typename Int>
  bool ParseIntNode(const std::string& file, const YAML::Node& n, const std::string& what, Int lo, Int hi,
                    Int* out) {
    Int v{};
    if (!n.IsScalar() || !YAML::convert<Int>::decode(n, v) || v < lo || v > hi) {
      Error(file, n,
            what + " must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi) + " (" +
                Text(n) + ")");
      return false;
    }
    *out = v;
    return true;
  }

  // A size in bytes: an integer, or with a unit KiB, MiB, GiB.
  bool ParseBytesNode(const std::string& file, const YAML::Node& n, const std::string& what, int64_t* out) {
    std::string text = n.IsScalar() ? n.Scalar() : "";
    int64_t mult = 1;
    for (auto [suffix, m] : {std::pair{"KiB", int64_t{1} << 10}, {"MiB", int64_t{1} << 20}, {"GiB", int64_t{1} << 30}}) {
      std::string_view sv(text);
      if (sv.size() > 3 && sv.ends_with(suffix)) {
        text.resize(text.size() - 3);
        mult = m;
        break;
      }
    }
    int64_t v = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || v < 1 ||
        v > (int64_t{1} << 50) / mult) {
      Error(file, n, what + " must be a positive size like 1048576 or 64MiB (" + Text(n) + ")");
      return false;
    }
    *out = v * mult;
    return true;
  }

  void LoadSettings(const std::string& file, const YAML::Node& root, Settings* s, bool* log_dir_set,
                    bool* offline_dir_set) {
    if (root.IsNull()) return;
    if (!root.IsMap()) {
      Error(file, root, "vigil.yaml must be a map of settings");
      return;
    }
    CheckKeys(file, root, "vigil.yaml", {"data_dir", "online", "log", "stream", "offline_dir", "sync"});
    if (auto d = root["data_dir"]) ParsePathNode(file, d, "data_dir", &s->data_dir);
    if (auto d = root["offline_dir"]) *offline_dir_set = ParsePathNode(file, d, "offline_dir", &s->offline_dir);
    if (auto o = root["online"]) {
      if (!o.IsMap()) {
        Error(file, o, "online must be a map");
      } else {
        CheckKeys(file, o, "online", {"kind", "shards"});
        if (auto k = o["kind"]; k && Text(k) != "embedded") {
          Error(file, k, "online.kind '" + Text(k) + "' is not supported yet (want embedded)");
        }
        if (auto sh = o["shards"]) ParseIntNode(file, sh, "online.shards", 1, 4096, &s->online_shards);
      }
    }
    if (auto st = root["stream"]) {
      if (!st.IsMap()) {
        Error(file, st, "stream must be a map like {checkpoint_interval: 5s, idle_timeout: 30s}");
      } else {
        CheckKeys(file, st, "stream", {"checkpoint_interval", "idle_timeout"});
        if (auto c = st["checkpoint_interval"]) {
          ParseDurationNode(file, c, "stream.checkpoint_interval", &s->checkpoint_interval);
        }
        if (auto c = st["idle_timeout"]) ParseDurationNode(file, c, "stream.idle_timeout", &s->idle_timeout);
      }
    }
    if (auto sy = root["sync"]) {
      if (!sy.IsMap()) {
        Error(file, sy, "sync must be a map like {interval: 10m}");
      } else {
        CheckKeys(file, sy, "sync", {"interval"});
        if (auto i = sy["interval"]) ParseDurationNode(file, i, "sync.interval", &s->sync_interval);
      }
    }
    if (auto l = root["log"]) LoadLogSettings(file, l, &s->log, log_dir_set);
  }

  void LoadLogSettings(const std::string& file, const YAML::Node& l, LogOptions* o, bool* dir_set) {
    if (!l.IsMap()) {
      Error(file, l, "log must be a map like {kind: embedded} or {kind: kafka, bootstrap: host:9092}");
      return;
    }
    CheckKeys(file, l, "log",
              {"kind", "dir", "bootstrap", "topic_prefix", "kafka", "partitions", "segment_bytes", "segment_time",
               "index_interval_bytes", "fsync", "fsync_interval", "retention", "retention_bytes"});
    if (auto k = l["kind"]) {
      if (Text(k) == "embedded") {
        o->kind = LogOptions::Kind::kEmbedded;
      } else if (Text(k) == "kafka") {
        o->kind = LogOptions::Kind::kKafka;
      } else {
        Error(file, k, "log.kind must be embedded or kafka (" + Text(k) + ")");
      }
    }
    if (auto d = l["dir"]) *dir_set = ParsePathNode(file, d, "log.dir", &o->dir);
    if (auto b = l["bootstrap"]) {
      if (!b.IsScalar() || b.Scalar().empty()) {
        Error(file, b, "log.bootstrap must be host:port[,host:port...] (" + Text(b) + ")");
      } else {
        o->bootstrap = b.Scalar();
      }
    }
    if (o->kind == LogOptions::Kind::kKafka && o->bootstrap.empty()) {
      Error(file, l, "log.kind kafka needs log.bootstrap: the brokers, e.g. localhost:9092");
    }
    if (auto p = l["topic_prefix"]) o->topic_prefix = Text(p);
    if (auto k = l["kafka"]) {
      if (!k.IsMap()) {
        Error(file, k, "log.kafka must be a map of librdkafka properties");
      } else {
        for (auto it = k.begin(); it != k.end(); ++it) o->kafka_config[Text(it->first)] = Text(it->second);
      }
    }
    if (auto p = l["partitions"]) ParseIntNode(file, p, "log.partitions", 1, 1024, &o->partitions);
    if (auto b = l["segment_bytes"]) ParseBytesNode(file, b, "log.segment_bytes", &o->segment_bytes);
    if (auto b = l["index_interval_bytes"]) {
      ParseBytesNode(file, b, "log.index_interval_bytes", &o->index_interval_bytes);
    }
    if (auto t = l["segment_time"]) ParseDurationNode(file, t, "log.segment_time", &o->segment_ms);
    if (auto f = l["fsync"]) {
      std::string v = Text(f);
      if (v == "always") {
        o->fsync = FsyncPolicy::kEveryRecord;
      } else if (v == "interval") {
        o->fsync = FsyncPolicy::kInterval;
      } else if (v == "never") {
        o->fsync = FsyncPolicy::kNever;
      } else {
        Error(file, f, "log.fsync must be always, interval or never (" + v + ")");
      }
    }
    if (auto t = l["fsync_interval"]) ParseDurationNode(file, t, "log.fsync_interval", &o->fsync_interval);
    if (auto t = l["retention"]) ParseDurationNode(file, t, "log.retention", &o->retention_ms);
    if (auto b = l["retention_bytes"]) ParseBytesNode(file, b, "log.retention_bytes", &o->retention_bytes);
  }

  // Fills partition_by (default: the keys of the entity of the source's first view).
  void ResolvePartitioning(const std::string& file, const std::string& name, const YAML::Node& n,
                           Definitions* defs) {
    auto it = defs->sources.find(name);
    if (it == defs->sources.end()) return;
    SourceDef& s = it->second;
    if (s.partition_by.empty()) {
      // The default: the first view's entity keys (a view whose keys are not all in the
      // schema is an error reported on the view).
      auto views = defs->ViewsOf(name);
      if (!views.empty()) {
        if (const EntityDef* e = defs->FindEntity(views.front()->entity)) {
          bool all = true;
          for (const auto& k : e->keys) all &= s.schema.IndexOf(k) >= 0;
          if (all) s.partition_by = e->keys;
        }
      }
    }
    s.partition_indexes.clear();
    for (const auto& field : s.partition_by) {
      int idx = s.schema.IndexOf(field);
      if (idx < 0) {
        Error(file, n["partition_by"] ? n["partition_by"] : n,
              "source '" + name + "' partition_by names '" + field + "', which is not in its schema");
        continue;
      }
      s.partition_indexes.push_back(idx);
    }
  }

  void LoadEntity(const std::string& file, const std::string& name, const YAML::Node& n, Definitions* defs) {
    EntityDef e;
    e.name = name;
    e.loc = {file, Line(n)};
    if (!n.IsMap()) {
      Error(file, n, "entity '" + name + "' must be a map like {keys: [user_id]}");
      return;
    }
    CheckKeys(file, n, "entity '" + name + "'", {"keys", "description"});
    auto keys = n["keys"];
    if (!keys || !keys.IsSequence() || keys.size() == 0) {
      Error(file, n, "entity '" + name + "' needs keys: a non-empty list of field names");
      return;
    }
    for (const auto& k : keys) {
      if (!k.IsScalar()) {
        Error(file, k, "entity '" + name + "': keys must be field names, not " + Text(k));
        continue;
      }
      std::string key = k.Scalar();
      if (std::find(e.keys.begin(), e.keys.end(), key) != e.keys.end()) {
        Error(file, k, "entity '" + name + "' lists key '" + key + "' twice");
      }
      e.keys.push_back(key);
    }
    defs->entities.emplace(name, std::move(e));
  }

  void LoadSource(const std::string& file, const std::string& name, const YAML::Node& n, Definitions* defs) {
    SourceDef s;
    s.name = name;
    s.loc = {file, Line(n)};
    if (!n.IsMap()) {
      Error(file, n, "source '" + name + "' must be a map with timestamp and schema");
      return;
    }
    CheckKeys(file, n, "source '" + name + "'",
              {"timestamp", "allowed_lateness", "max_future", "schema", "partition_by", "description"});
    if (auto pb = n["partition_by"]) {
      if (!pb.IsSequence() || pb.size() == 0) {
        Error(file, pb, "source '" + name + "' partition_by must be a non-empty list of field names");
      } else {
        for (const auto& f : pb) s.partition_by.push_back(Text(f));
      }
    }
    if (auto ts = n["timestamp"]; ts && ts.IsScalar()) {
      s.ts_field = ts.Scalar();
    } else {
      Error(file, n, "source '" + name + "' needs timestamp: the name of its event-time field");
    }
    if (auto l = n["allowed_lateness"]) ParseDurationNode(file, l, "allowed_lateness", &s.allowed_lateness);
    if (auto l = n["max_future"]) ParseDurationNode(file, l, "max_future", &s.max_future);
    auto schema = n["schema"];
    if (!schema || !schema.IsMap() || schema.size() == 0) {
      Error(file, n, "source '" + name + "' needs schema: a map of field: type");
    } else {
      for (auto it = schema.begin(); it != schema.end(); ++it) {
        std::string field = Text(it->first);
        if (!IsIdentifier(field)) {
          Error(file, it->first, "bad field name '" + field + "' in source '" + name + "'");
          continue;
        }
        if (field == s.ts_field) {
          Error(
              file, it->first,
              "field '" + field + "' is the timestamp of source '" + name + "': it is not listed in schema");
          continue;
        }
        if (s.schema.IndexOf(field) >= 0) {
          Error(file, it->first, "field '" + field + "' is listed twice");
          continue;
        }
        auto type = it->second.IsScalar() ? ParseTypeName(it->second.Scalar())
                                          : Result<Type>(Status::InvalidArgument("type must be a name"));
        if (!type.ok()) {
          Error(file, it->second, "field '" + field + "': " + type.status().message());
          continue;
        }
        s.schema.Add({field, *type});
      }
    }
    defs->sources.emplace(name, std::move(s));
  }

  void LoadView(const std::string& file, const std::string& name, const YAML::Node& n, Definitions* defs) {
    FeatureViewDef v;
    v.name = name;
    v.loc = {file, Line(n)};
    if (!n.IsMap()) {
      Error(file, n, "feature view '" + name + "' must be a map with entity, source and features");
      return;
    }
    CheckKeys(file, n, "feature view '" + name + "'", {"entity", "source", "ttl", "features", "description"});
    const SourceDef* source = nullptr;
    const EntityDef* entity = nullptr;
    if (auto s = n["source"]; s && s.IsScalar()) {
      v.source = s.Scalar();
      source = defs->FindSource(v.source);
      if (!source && !source_nodes_.count(v.source)) {
        Error(file, s, "feature view '" + name + "': unknown source '" + v.source + "'");
      }
    } else {
      Error(file, n, "feature view '" + name + "' needs source");
    }
    if (auto e = n["entity"]; e && e.IsScalar()) {
      v.entity = e.Scalar();
      entity = defs->FindEntity(v.entity);
      if (!entity && !entity_nodes_.count(v.entity)) {
        Error(file, e, "feature view '" + name + "': unknown entity '" + v.entity + "'");
      }
    } else {
      Error(file, n, "feature view '" + name + "' needs entity");
    }
    if (source && entity) {
      for (const auto& key : entity->keys) {
        int idx = source->schema.IndexOf(key);
        if (idx < 0) {
          Error(file, n["entity"],
                "feature view '" + name + "': entity '" + entity->name + "' key '" + key +
                    "' is not a field of source '" + source->name + "'");
        }
        v.key_indexes.push_back(idx);
      }
    }
    bool explicit_ttl = false;
    if (auto t = n["ttl"]) {
      explicit_ttl = ParseDurationNode(file, t, "ttl", &v.ttl);
      if (explicit_ttl && v.ttl <= 0) {
        Error(file, t, "ttl must be positive (" + Text(t) + ")");
      }
    }
    auto features = n["features"];
    if (!features || !features.IsMap() || features.size() == 0) {
      Error(file, n, "feature view '" + name + "' needs features: a map of name: {agg, ...}");
    } else {
      std::set<std::string> seen;
      for (auto it = features.begin(); it != features.end(); ++it) {
        std::string fname = Text(it->first);
        if (!seen.insert(fname).second) {
          Error(file, it->first, "feature '" + name + "." + fname + "' is defined twice");
          continue;
        }
        if (!IsIdentifier(fname)) {
          Error(file, it->first, "bad feature name '" + fname + "'");
          continue;
        }
        FeatureDef f;
        if (LoadFeature(file, name, fname, it->second, source, &f)) v.features.push_back(std::move(f));
      }
    }
    // Effective ttl (DESIGN.md §4): explicit, else the longest window, else forever when a
    // lifetime feature exists.
    DurationMs longest = 0;
    bool lifetime = false;
    for (const auto& f : v.features) {
      if (f.window)
        longest = std::max(longest, *f.window);
      else
        lifetime = true;
    }
    if (explicit_ttl) {
      for (const auto& f : v.features) {
        if (f.window && *f.window > v.ttl) {
          Error(f.loc.file, f.loc.line,
                "feature '" + f.name + "' window " + FormatDuration(*f.window) +
                    " is longer than the view's ttl " + FormatDuration(v.ttl) +
                    " (raise ttl or shorten the window)");
        }
      }
    } else {
      v.ttl = lifetime ? kNoTtl : longest;
    }
    defs->views.emplace(name, std::move(v));
  }

  bool LoadFeature(const std::string& file, const std::string& view, const std::string& name,
                   const YAML::Node& n, const SourceDef* source, FeatureDef* f) {
    f->name = name;
    f->loc = {file, Line(n)};
    std::string what = "feature '" + view + "." + name + "'";
    if (!n.IsMap()) {
      Error(file, n, what + " must be a map like {agg: count, window: 1h}");
      return false;
    }
    CheckKeys(file, n, what, {"agg", "field", "window", "where", "description"});
    bool ok = true;
    auto agg = n["agg"];
    static const std::pair<const char*, AggKind> kAggs[] = {{"count", AggKind::kCount},
                                                            {"sum", AggKind::kSum},
                                                            {"avg", AggKind::kAvg},
                                                            {"min", AggKind::kMin},
                                                            {"max", AggKind::kMax},
                                                            {"stddev", AggKind::kStddev},
                                                            {"count_distinct", AggKind::kCountDistinct},
                                                            {"last", AggKind::kLast},
                                                            {"first", AggKind::kFirst}};
    if (!agg || !agg.IsScalar()) {
      Error(file, n, what + " needs agg");
      return false;
    }
    bool known = false;
    for (const auto& [aname, kind] : kAggs) {
      if (agg.Scalar() == aname) {
        f->agg = kind;
        known = true;
      }
    }
    if (!known) {
      Error(file, agg,
            what + ": unknown agg '" + agg.Scalar() +
                "' (want count, sum, avg, min, max, stddev, count_distinct, last or first)");
      return false;
    }
    if (auto w = n["window"]) {
      DurationMs d = 0;
      if (ParseDurationNode(file, w, what + " window", &d)) {
        if (d <= 0) {
          Error(file, w, what + ": window must be positive (omit it for a lifetime feature)");
          ok = false;
        }
        f->window = d;
      } else {
        ok = false;
      }
    }
    if (auto fld = n["field"]; fld && !fld.IsScalar()) {
      Error(file, fld, what + ": field must be one field name (" + Text(fld) + ")");
      ok = false;
    } else if (fld) {
      f->field = fld.Scalar();
      if (source) {
        f->field_index = source->schema.IndexOf(f->field);
        if (f->field_index < 0) {
          Error(file, fld, what + ": field '" + f->field + "' is not in source '" + source->name + "'");
          ok = false;
        } else {
          f->field_type = source->schema.field(f->field_index).type;
        }
      }
    } else if (f->agg != AggKind::kCount) {
      Error(file, n, what + ": agg " + std::string(AggName(f->agg)) + " needs a field");
      ok = false;
    }
    if (ok && f->field_index >= 0) {
      Type t = f->field_type;
      bool numeric = t == Type::kInt64 || t == Type::kDouble;
      switch (f->agg) {
        case AggKind::kSum:
        case AggKind::kAvg:
        case AggKind::kStddev:
          if (!numeric) {
            Error(file, n["field"],
                  what + ": " + std::string(AggName(f->agg)) + " needs a numeric field, '" + f->field +
                      "' is " + std::string(TypeName(t)));
            ok = false;
          }
          break;
        case AggKind::kMin:
        case AggKind::kMax:
          if (t == Type::kBool) {
            Error(file, n["field"], what + ": min/max of a bool field; use count with where");
            ok = false;
          }
          break;
        default:
          break;
      }
    }
    switch (f->agg) {
      case AggKind::kCount:
      case AggKind::kCountDistinct:
        f->output_type = Type::kInt64;
        break;
      case AggKind::kSum:
        f->output_type = f->field_type == Type::kInt64 ? Type::kInt64 : Type::kDouble;
        break;
      case AggKind::kAvg:
      case AggKind::kStddev:
        f->output_type = Type::kDouble;
        break;
      default:
        f->output_type = f->field_type;
        break;
    }
    if (auto w = n["where"]; w && !w.IsScalar()) {
      Error(file, w, what + ": where must be an expression in quotes (" + Text(w) + ")");
      ok = false;
    } else if (w) {
      f->where = w.Scalar();
      if (source) {
        const Schema& schema = source->schema;
        NameResolver names = [&schema](std::string_view field, ExprSlot* slot) {
          int idx = schema.IndexOf(field);
          if (idx < 0) return false;
          *slot = {idx, schema.field(idx).type};
          return true;
        };
        auto expr = Expr::Compile(f->where, names);
        if (!expr.ok()) {
          Error(file, w, what + " where: " + expr.status().message());
          ok = false;
        } else if ((*expr)->result_type() != Type::kBool && (*expr)->result_type() != Type::kNull) {
          Error(file, w,
                what + " where must be true/false, not " + std::string(TypeName((*expr)->result_type())) +
                    " (\"" + f->where + "\")");
          ok = false;
        } else {
          f->where_expr = std::shared_ptr<const Expr>(std::move(expr).value());
        }
      }
    }
    return ok;
  }

  // `models:` (definitions.h, ModelDef). Runs after every view is loaded.
  void LoadModel(const std::string& file, const std::string& name, const YAML::Node& n, Definitions* defs) {
    ModelDef m;
    m.name = name;
    m.loc = {file, Line(n)};
    const std::string what = "model '" + name + "'";
    if (!n.IsMap()) {
      Error(file, n, what + " must be a map with labels and features");
      return;
    }
    CheckKeys(file, n, what, {"labels", "request", "features", "training", "xgboost", "retrain", "description"});
    size_t errors_before = errors_.size();
    bad_request_fields_.clear();
    LoadLabelSpec(file, what, n["labels"], n, &m.labels);
    if (auto r = n["request"]) {
      if (!r.IsMap()) {
        Error(file, r, what + " request must be a map of field: type");
      } else {
        for (auto it = r.begin(); it != r.end(); ++it) {
          std::string field = Text(it->first);
          if (!IsIdentifier(field)) {
            Error(file, it->first, what + ": bad request field name '" + field + "'");
            bad_request_fields_.insert(field);
            continue;
          }
          if (m.request.IndexOf(field) >= 0 || bad_request_fields_.count(field)) {
            Error(file, it->first, what + ": request field '" + field + "' is listed twice");
            continue;
          }
          auto type = it->second.IsScalar() ? ParseTypeName(it->second.Scalar())
                                            : Result<Type>(Status::InvalidArgument("type must be a name"));
          if (!type.ok()) {
            Error(file, it->second, what + " request field '" + field + "': " + type.status().message());
            bad_request_fields_.insert(field);
            continue;
          }
          m.request.Add({field, *type});
        }
      }
    }
    LoadModelFeatures(file, what, n, defs, &m);
    if (auto t = n["training"]) {
      if (!t.IsMap()) {
        Error(file, t, what + " training must be a map like {window: 28d, holdout: 3d}");
      } else {
        CheckKeys(file, t, what + " training", {"window", "holdout", "early_stopping", "threshold"});
        if (auto w = t["window"]) ParseDurationNode(file, w, what + " training.window", &m.window);
        if (auto w = t["holdout"]) ParseDurationNode(file, w, what + " training.holdout", &m.holdout);
        if (auto w = t["early_stopping"]) {
          ParseDurationNode(file, w, what + " training.early_stopping", &m.early_stopping);
        }
        if (auto th = t["threshold"]) ParseUnitNode(file, th, what + " training.threshold", &m.threshold);
        if (m.window <= 0 || m.holdout <= 0 || m.early_stopping < 0 || m.holdout + m.early_stopping >= m.window) {
          Error(file, t,
                what + ": training needs window > holdout + early_stopping, holdout > 0 (window " +
                    FormatDuration(m.window) + ", holdout " + FormatDuration(m.holdout) + ", early_stopping " +
                    FormatDuration(m.early_stopping) + ")");
        }
      }
    }
    if (auto x = n["xgboost"]) {
      if (!x.IsMap()) {
        Error(file, x, what + " xgboost must be a map of XGBoost parameters");
      } else {
        for (auto it = x.begin(); it != x.end(); ++it) {
          std::string key = Text(it->first);
          if (!it->second.IsScalar()) {
            Error(file, it->second, what + " xgboost." + key + " must be a single value");
          } else if (key == "rounds") {
            ParseIntNode(file, it->second, what + " xgboost.rounds", 1, 100000, &m.rounds);
          } else if (key == "early_stopping_rounds") {
            ParseIntNode(file, it->second, what + " xgboost.early_stopping_rounds", 0, 100000,
                         &m.early_stopping_rounds);
          } else if (key == "objective" || key == "num_class" || key == "eval_metric") {
            Error(file, it->first,
                  what + ": xgboost." + key + " is fixed (binary:logistic, judged by log loss); remove it");
          } else {
            m.xgboost.emplace_back(key, it->second.Scalar());
          }
        }
      }
    }
    if (auto r = n["retrain"]) {
      if (!r.IsMap()) {
        Error(file, r, what + " retrain must be a map like {every: 7d, metric: roc_auc, margin: 0.005}");
      } else {
        CheckKeys(file, r, what + " retrain", {"every", "metric", "margin"});
        if (auto e = r["every"]) ParseDurationNode(file, e, what + " retrain.every", &m.retrain_every);
        if (auto mt = r["metric"]) {
          m.retrain_metric = Text(mt);
          if (m.retrain_metric != "roc_auc" && m.retrain_metric != "pr_auc" && m.retrain_metric != "log_loss") {
            Error(file, mt, what + " retrain.metric must be roc_auc, pr_auc or log_loss (" + Text(mt) + ")");
          }
        }
        if (auto mg = r["margin"]) ParseUnitNode(file, mg, what + " retrain.margin", &m.retrain_margin);
      }
    }
    if (errors_.size() == errors_before) defs->models.emplace(name, std::move(m));
  }

  // A number in [0, 1].
  bool ParseUnitNode(const std::string& file, const YAML::Node& n, const std::string& what, double* out) {
    double v = 0;
    if (!n.IsScalar() || !YAML::convert<double>::decode(n, v) || !(v >= 0 && v <= 1)) {
      Error(file, n, what + " must be a number from 0 to 1 (" + Text(n) + ")");
      return false;
    }
    *out = v;
    return true;
  }

  void LoadLabelSpec(const std::string& file, const std::string& what, const YAML::Node& l, const YAML::Node& model,
                     LabelSpec* spec) {
    spec->loc = {file, Line(l ? l : model)};
    if (!l || !l.IsMap()) {
      Error(file, l ? l : model, what + " needs labels: {target: <column>, ...}");
      return;
    }
    CheckKeys(file, l, what + " labels", {"path", "ts", "target", "known_at", "keys", "maturity"});
    if (auto p = l["path"]) ParsePathNode(file, p, what + " labels.path", &spec->path);
    if (auto t = l["ts"]) spec->ts_column = Text(t);
    if (auto t = l["target"]; t && t.IsScalar() && !t.Scalar().empty()) {
      spec->target = t.Scalar();
    } else {
      Error(file, l, what + " labels needs target: the 0/1 outcome column");
    }
    if (auto k = l["known_at"]) spec->known_at_column = Text(k);
    if (auto k = l["keys"]) {
      if (!k.IsSequence() || k.size() == 0) {
        Error(file, k, what + " labels.keys must be a list of columns");
      } else {
        for (const auto& c : k) spec->keys.push_back(Text(c));
      }
    }
    if (auto mt = l["maturity"]) ParseDurationNode(file, mt, what + " labels.maturity", &spec->maturity);
  }

  void LoadModelFeatures(const std::string& file, const std::string& what, const YAML::Node& model,
                         const Definitions* defs, ModelDef* m) {
    auto list = model["features"];
    if (!list || !list.IsSequence() || list.size() == 0) {
      Error(file, list ? list : model, what + " needs features: a list of view.feature, view.*, request fields "
                                              "or {name: \"expression\"}");
      return;
    }
    std::set<std::string> names;
    auto use_view = [&](const std::string& view) {
      if (std::find(m->views.begin(), m->views.end(), view) == m->views.end()) m->views.push_back(view);
    };
    auto add = [&](ModelFeatureDef f, const YAML::Node& at) {
      if (!names.insert(f.name).second) {
        Error(file, at, what + ": feature '" + f.name + "' is listed twice");
        return;
      }
      m->features.push_back(std::move(f));
    };
    for (const auto& item : list) {
      if (item.IsScalar()) {
        const std::string text = item.Scalar();
        const size_t dot = text.find('.');
        if (dot == std::string::npos) {
          int idx = m->request.IndexOf(text);
          if (idx < 0 && bad_request_fields_.count(text)) continue;  // reported with the request
          if (idx < 0) {
            Error(file, item,
                  what + ": '" + text + "' is neither view.feature nor a request field (declare it under request)");
            continue;
          }
          ModelFeatureDef f;
          f.name = text;
          f.kind = ModelFeatureDef::Kind::kRequest;
          f.type = m->request.field(idx).type;
          f.loc = {file, Line(item)};
          add(std::move(f), item);
          continue;
        }
        const std::string view = text.substr(0, dot), feature = text.substr(dot + 1);
        const FeatureViewDef* v = defs->FindView(view);
        if (!v) {
          if (!view_nodes_.count(view)) Error(file, item, what + ": unknown feature view '" + view + "' in " + text);
          continue;
        }
        bool found = false;
        for (size_t i = 0; i < v->features.size(); ++i) {
          if (feature != "*" && v->features[i].name != feature) continue;
          found = true;
          ModelFeatureDef f;
          f.name = view + "." + v->features[i].name;
          f.kind = ModelFeatureDef::Kind::kView;
          f.view = view;
          f.feature_index = static_cast<int>(i);
          f.type = v->features[i].output_type;
          f.loc = {file, Line(item)};
          add(std::move(f), item);
        }
        if (!found) Error(file, item, what + ": view '" + view + "' has no feature '" + feature + "'");
        else use_view(view);
        continue;
      }
      if (!item.IsMap() || item.size() != 1) {
        Error(file, item, what + ": a feature is view.feature, view.*, a request field or {name: \"expression\"} (" +
                              Text(item) + ")");
        continue;
      }
      auto it = item.begin();
      ModelFeatureDef f;
      f.name = Text(it->first);
      f.kind = ModelFeatureDef::Kind::kOnDemand;
      f.loc = {file, Line(item)};
      if (!IsIdentifier(f.name)) {
        Error(file, it->first, what + ": bad on-demand feature name '" + f.name + "'");
        continue;
      }
      if (m->request.IndexOf(f.name) >= 0) {
        Error(file, it->first, what + ": on-demand feature '" + f.name + "' has the name of a request field");
        continue;
      }
      if (!it->second.IsScalar()) {
        Error(file, it->second, what + ": on-demand feature '" + f.name + "' must be an expression in quotes");
        continue;
      }
      f.expr = it->second.Scalar();
      // Names resolve to request fields and view features; slots only need to be distinct
      // here (training/feature_vector.h binds the real layout).
      std::map<std::string, int> slots;
      std::vector<std::string> referenced_views;
      NameResolver names_of = [&](std::string_view ref, ExprSlot* slot) {
        std::string r(ref);
        Type type = Type::kNull;
        if (size_t d = r.find('.'); d == std::string::npos) {
          int idx = m->request.IndexOf(r);
          if (idx < 0) return false;
          type = m->request.field(idx).type;
        } else {
          const FeatureViewDef* v = defs->FindView(r.substr(0, d));
          if (!v) return false;
          bool ok = false;
          for (const auto& vf : v->features) {
            if (vf.name == r.substr(d + 1)) {
              type = vf.output_type;
              ok = true;
            }
          }
          if (!ok) return false;
          referenced_views.push_back(v->name);
        }
        auto [pos, fresh] = slots.emplace(r, static_cast<int>(slots.size()));
        *slot = {pos->second, type};
        return true;
      };
      auto expr = Expr::Compile(f.expr, names_of);
      if (!expr.ok()) {
        Error(file, it->second, what + " on-demand feature '" + f.name + "': " + expr.status().message());
        continue;
      }
      f.type = (*expr)->result_type();
      if (f.type == Type::kNull) {
        Error(file, it->second, what + " on-demand feature '" + f.name + "' is always null (\"" + f.expr + "\")");
        continue;
      }
      for (const auto& v : referenced_views) use_view(v);
      add(std::move(f), it->first);
    }
    // Label keys: default every used entity's keys; each used entity's keys must be there.
    LabelSpec& l = m->labels;
    const bool keys_given = !l.keys.empty();
    for (const auto& view : m->views) {
      const EntityDef* e = defs->FindEntity(defs->FindView(view)->entity);
      if (!e) continue;
      for (const auto& k : e->keys) {
        if (std::find(l.keys.begin(), l.keys.end(), k) != l.keys.end()) continue;
        if (keys_given) {
          Error(file, model["labels"]["keys"],
                what + ": labels.keys lacks '" + k + "', a key of entity '" + e->name + "' (view " + view + ")");
        } else {
          l.keys.push_back(k);
        }
      }
    }
  }

  std::string dir_;
  std::vector<std::string> errors_;
  std::map<std::string, Located> entity_nodes_;
  std::map<std::string, Located> source_nodes_;
  std::map<std::string, Located> view_nodes_;
  std::map<std::string, Located> model_nodes_;
  // Request fields of the model being loaded whose declaration was an error, so that a
  // feature naming one is not reported again.
  std::set<std::string> bad_request_fields_;
};

}  // namespace

Result<Project> LoadProject(const std::string& dir) {
  try {
    return Loader(dir).Load();
  } catch (const YAML::Exception& e) {
    // Every node access above is checked; this is the last guard of the part boundary.
    return Status::InvalidArgument(dir + ": line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

}  // namespace vigil
