#include "training/model_registry.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <utility>

#include "common/files.h"
#include "common/time.h"
#include "training/json_numbers.h"

namespace vigil {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kFormat = 1;  // registry.json's "format"; bump on an incompatible change
constexpr size_t kMaxNameLength = 128;

// One alias move as stored: `undoes` is the index (in the model's history) of the move a
// rollback undid, -1 for any other move.
struct StoredMove {
  AliasMove move;
  int undoes = -1;
};

struct ModelState {
  // The highest version number ever handed out, including reservations whose register
  // failed: the next version is last_version + 1.
  int last_version = 0;
  std::vector<ModelVersionInfo> versions;  // ascending
  std::map<std::string, int> aliases;
  std::vector<StoredMove> history;
  std::vector<RetrainDecision> decisions;
};

// Every model by name. A model whose only trace is a failed register (a reservation,
// no version) is kept for its last_version but is not visible through the API.
using RegistryState = std::map<std::string, ModelState>;

bool NameOk(const std::string& name, bool allow_dash) {
  if (name.empty() || name.size() > kMaxNameLength || name[0] < 'a' || name[0] > 'z') return false;
  return std::all_of(name.begin(), name.end(), [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || (allow_dash && c == '-');
  });
}

Status CheckModelName(const std::string& model) {
  if (NameOk(model, false)) return Status::OK();
  return Status::InvalidArgument(
      "bad model name '" + model +
      "': want a lower-case letter, then lower-case letters, digits or '_' (at most " +
      std::to_string(kMaxNameLength) + " characters)");
}

Status CheckAliasName(const std::string& alias) {
  if (NameOk(alias, true)) return Status::OK();
  return Status::InvalidArgument(
      "bad alias name '" + alias +
      "': want a lower-case letter, then lower-case letters, digits, '_' or '-' (at most " +
      std::to_string(kMaxNameLength) + " characters)");
}

std::string RegistryPath(const std::string& root) { return (fs::path(root) / "registry.json").string(); }

std::string VersionDir(const std::string& root, const std::string& model, int version) {
  return (fs::path(root) / model / ("v" + std::to_string(version))).string();
}

// --- JSON <-> state -------------------------------------------------------------------

double ReadNumber(const json& j) {
  if (j.is_null()) return std::numeric_limits<double>::quiet_NaN();
  return j.get<double>();
}

json VersionJson(const ModelVersionInfo& v, const std::string* root) {
  json metrics = json::object();
  for (const auto& [name, value] : v.metrics) metrics[name] = FiniteOrNull(value);
  json j = {{"version", v.version},     {"created_at_ms", v.created_at_ms},
            {"cutoff_ms", v.cutoff_ms}, {"data_fingerprint", v.data_fingerprint},
            {"command", v.command},     {"metrics", std::move(metrics)}};
  if (root) j["dir"] = VersionDir(*root, v.model, v.version);
  return j;
}

json MoveJson(const StoredMove& m) {
  json j = {
      {"at_ms", m.move.at_ms},           {"alias", m.move.alias},   {"from_version", m.move.from_version},
      {"to_version", m.move.to_version}, {"reason", m.move.reason}, {"command", m.move.command},
      {"rollback", m.move.rollback}};
  if (m.undoes >= 0) j["undoes"] = m.undoes;
  return j;
}

json DecisionJson(const RetrainDecision& d) {
  return {{"at_ms", d.at_ms},
          {"event_time_ms", d.event_time_ms},
          {"trigger", d.trigger},
          {"champion_version", d.champion_version},
          {"challenger_version", d.challenger_version},
          {"metric", d.metric},
          {"champion_score", FiniteOrNull(d.champion_score)},
          {"challenger_score", FiniteOrNull(d.challenger_score)},
          {"margin", FiniteOrNull(d.margin)},
          {"promoted", d.promoted},
          {"reason", d.reason}};
}

// `root` set: the document for people and tools (absolute version dirs); null: the
// stored form (dirs follow from the root, so the tree can be moved).
json ModelJson(const ModelState& m, const std::string* root) {
  json versions = json::array();
  for (const auto& v : m.versions) versions.push_back(VersionJson(v, root));
  json history = json::array();
  for (const auto& h : m.history) history.push_back(MoveJson(h));
  json decisions = json::array();
  for (const auto& d : m.decisions) decisions.push_back(DecisionJson(d));
  return {{"last_version", m.last_version},
          {"versions", std::move(versions)},
          {"aliases", m.aliases},
          {"history", std::move(history)},
          {"decisions", std::move(decisions)}};
}

std::string Serialize(const RegistryState& state) {
  json models = json::object();
  for (const auto& [name, m] : state) models[name] = ModelJson(m, nullptr);
  return json{{"format", kFormat}, {"models", std::move(models)}}.dump(2) + "\n";
}

// Throws (nlohmann's type and out-of-range errors, or std::runtime_error) on anything
// malformed; Parse turns that into Corruption naming the file.
ModelState ParseModel(const std::string& name, const json& j) {
  auto fail = [&](const std::string& what) { throw std::runtime_error("model '" + name + "': " + what); };
  if (!NameOk(name, false)) fail("bad model name");
  ModelState m;
  m.last_version = j.at("last_version").get<int>();
  for (const auto& v : j.at("versions")) {
    ModelVersionInfo x;
    x.model = name;
    x.version = v.at("version").get<int>();
    x.created_at_ms = v.at("created_at_ms").get<int64_t>();
    x.cutoff_ms = v.at("cutoff_ms").get<int64_t>();
    x.data_fingerprint = v.at("data_fingerprint").get<std::string>();
    x.command = v.at("command").get<std::string>();
    for (const auto& [metric, value] : v.at("metrics").items()) x.metrics[metric] = ReadNumber(value);
    int prev = m.versions.empty() ? 0 : m.versions.back().version;
    if (x.version <= prev) fail("versions not ascending at v" + std::to_string(x.version));
    m.versions.push_back(std::move(x));
  }
  if (!m.versions.empty() && m.last_version < m.versions.back().version) fail("last_version below a version");
  auto has_version = [&](int version) {
    return std::any_of(m.versions.begin(), m.versions.end(),
                       [&](const auto& v) { return v.version == version; });
  };
  for (const auto& [alias, version] : j.at("aliases").items()) {
    if (!NameOk(alias, true)) fail("bad alias name '" + alias + "'");
    m.aliases[alias] = version.get<int>();
    if (!has_version(m.aliases[alias])) fail("alias '" + alias + "' points at a missing version");
  }
  for (const auto& h : j.at("history")) {
    StoredMove x;
    x.move.model = name;
    x.move.at_ms = h.at("at_ms").get<int64_t>();
    x.move.alias = h.at("alias").get<std::string>();
    x.move.from_version = h.at("from_version").get<int>();
    x.move.to_version = h.at("to_version").get<int>();
    x.move.reason = h.at("reason").get<std::string>();
    x.move.command = h.at("command").get<std::string>();
    x.move.rollback = h.at("rollback").get<bool>();
    x.undoes = h.value("undoes", -1);
    int index = static_cast<int>(m.history.size());
    if (x.undoes >= index || (x.undoes >= 0 && m.history[x.undoes].move.rollback) ||
        (x.undoes >= 0) != x.move.rollback) {
      fail("history entry " + std::to_string(index) + ": bad rollback link");
    }
    m.history.push_back(std::move(x));
  }
  for (const auto& d : j.at("decisions")) {
    RetrainDecision x;
    x.model = name;
    x.at_ms = d.at("at_ms").get<int64_t>();
    x.event_time_ms = d.at("event_time_ms").get<int64_t>();
    x.trigger = d.at("trigger").get<std::string>();
    x.champion_version = d.at("champion_version").get<int>();
    x.challenger_version = d.at("challenger_version").get<int>();
    x.metric = d.at("metric").get<std::string>();
    x.champion_score = ReadNumber(d.at("champion_score"));
    x.challenger_score = ReadNumber(d.at("challenger_score"));
    x.margin = ReadNumber(d.at("margin"));
    x.promoted = d.at("promoted").get<bool>();
    x.reason = d.at("reason").get<std::string>();
    m.decisions.push_back(std::move(x));
  }
  return m;
}

Result<RegistryState> Parse(const std::string& path, const std::string& text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("models") || !j["models"].is_object()) {
    return Status::Corruption(path + ": not a model registry (want {\"format\": 1, \"models\": {...}})");
  }
  if (!j.contains("format") || !j["format"].is_number_integer() || j["format"].get<int64_t>() != kFormat) {
    return Status::Corruption(path + ": unknown format " + j["format"].dump() + " (this build reads format " +
                              std::to_string(kFormat) + ")");
  }
  RegistryState state;
  try {
    for (const auto& [name, m] : j["models"].items()) state[name] = ParseModel(name, m);
  } catch (const std::exception& e) {
    return Status::Corruption(path + ": " + e.what());
  }
  return state;
}

// The registry's state; empty when registry.json does not exist yet.
Result<RegistryState> Load(const std::string& root) {
  std::string path = RegistryPath(root);
  auto text = ReadWholeFile(path);
  if (!text.ok() && text.status().IsNotFound()) return RegistryState();
  VIGIL_RETURN_IF_ERROR(text.status());  // IOError naming the file
  return Parse(path, *text);
}

Status Save(const std::string& root, const RegistryState& state) {
  return WriteFileAtomic(RegistryPath(root), Serialize(state));
}

// --- locking --------------------------------------------------------------------------

// An exclusive flock of <root>/.lock, held until destruction. flock locks belong to the
// open file description, so two threads of one process, each with its own open(),
// exclude each other as two processes do.
class RegistryLock {
 public:
  static Result<RegistryLock> Acquire(const std::string& root) {
    std::string path = (fs::path(root) / ".lock").string();
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return Status::IOError("open " + path + ": " + std::strerror(errno));
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return Status::IOError("lock " + path + ": " + std::strerror(err));
    }
    return RegistryLock(fd);
  }
  RegistryLock(RegistryLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  RegistryLock& operator=(RegistryLock&&) = delete;
  ~RegistryLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
  }

 private:
  explicit RegistryLock(int fd) : fd_(fd) {}
  int fd_;
};

// Runs `fn` on the locked, freshly loaded state and saves it if `fn` returns OK.
template <typename Fn>
Status Update(const std::string& root, Fn fn) {
  VIGIL_ASSIGN_OR_RETURN(RegistryLock lock, RegistryLock::Acquire(root));
  VIGIL_ASSIGN_OR_RETURN(RegistryState state, Load(root));
  VIGIL_RETURN_IF_ERROR(fn(&state));
  return Save(root, state);
}

// --- lookups --------------------------------------------------------------------------

// The model, if it has at least one version (a bare reservation does not count).
template <typename State>
auto FindModel(State& state, const std::string& model) -> Result<decltype(&state.begin()->second)> {
  VIGIL_RETURN_IF_ERROR(CheckModelName(model));
  auto it = state.find(model);
  if (it == state.end() || it->second.versions.empty()) {
    return Status::NotFound("no model '" + model + "' in the registry");
  }
  return &it->second;
}

const ModelVersionInfo* FindVersion(const ModelState& m, int version) {
  for (const auto& v : m.versions) {
    if (v.version == version) return &v;
  }
  return nullptr;
}

Status NoVersion(const std::string& model, int version) {
  return Status::NotFound("model '" + model + "' has no version " + std::to_string(version));
}

// Appends a move of `alias` to `to` (0: unset) and returns it.
AliasMove Move(const std::string& model, ModelState* m, const std::string& alias, int to,
               const std::string& reason, const std::string& command, int undoes) {
  StoredMove s;
  s.move.at_ms = WallClockMs();
  s.move.model = model;
  s.move.alias = alias;
  auto it = m->aliases.find(alias);
  s.move.from_version = it == m->aliases.end() ? 0 : it->second;
  s.move.to_version = to;
  s.move.reason = reason;
  s.move.command = command;
  s.move.rollback = undoes >= 0;
  s.undoes = undoes;
  if (to == 0) {
    m->aliases.erase(alias);
  } else {
    m->aliases[alias] = to;
  }
  m->history.push_back(s);
  return s.move;
}

// --- moving a version's files ---------------------------------------------------------

Status FsyncFile(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::IOError("open " + path.string() + ": " + std::strerror(errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return Status::IOError("fsync " + path.string() + ": " + std::strerror(err));
  return Status::OK();
}

// Fsyncs every regular file and directory under `dir`, so that the renames that publish
// them cannot outlive their content in a crash.
Status SyncTree(const fs::path& dir) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_directory(ec)) {
      VIGIL_RETURN_IF_ERROR(SyncDir(it->path().string()));
    } else if (it->is_regular_file(ec)) {
      VIGIL_RETURN_IF_ERROR(FsyncFile(it->path()));
    }
  }
  if (ec) return Status::IOError("list " + dir.string() + ": " + ec.message());
  return Status::OK();
}

// Renames every entry of `from` into `to`; on failure moves back what it moved.
Status MoveEntries(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  std::vector<fs::path> names;
  for (auto it = fs::directory_iterator(from, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    names.push_back(it->path().filename());
  }
  if (ec) return Status::IOError("list " + from.string() + ": " + ec.message());
  for (size_t i = 0; i < names.size(); ++i) {
    fs::rename(from / names[i], to / names[i], ec);
    if (!ec) continue;
    std::string msg = "move " + (from / names[i]).string() + " to " + to.string() + ": " + ec.message();
    if (ec == std::errc::cross_device_link)
      msg += " (the staging directory must be on the registry's filesystem)";
    for (size_t k = 0; k < i; ++k) {
      std::error_code back;
      fs::rename(to / names[k], from / names[k], back);
    }
    return Status::IOError(msg);
  }
  return Status::OK();
}

}  // namespace

// --- ModelRegistry --------------------------------------------------------------------

Result<ModelRegistry> ModelRegistry::Open(const std::string& root) {
  if (root.empty()) return Status::InvalidArgument("model registry: empty root directory");
  std::error_code ec;
  fs::path abs = fs::absolute(root, ec).lexically_normal();
  if (ec) return Status::IOError("model registry root " + root + ": " + ec.message());
  std::string dir = abs.string();
  if (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError("create " + dir + ": " + ec.message());
  if (!fs::is_directory(dir, ec))
    return Status::InvalidArgument("model registry root " + dir + " is not a directory");
  VIGIL_RETURN_IF_ERROR(Load(dir).status());
  return ModelRegistry(dir);
}

Result<ModelVersionInfo> ModelRegistry::Register(const std::string& model, const std::string& staging_dir,
                                                 ModelVersionInfo info) {
  VIGIL_RETURN_IF_ERROR(CheckModelName(model));
  std::error_code ec;
  fs::file_status st = fs::status(staging_dir, ec);
  if (!fs::exists(st)) return Status::NotFound("staging directory " + staging_dir + " does not exist");
  if (!fs::is_directory(st))
    return Status::InvalidArgument("staging path " + staging_dir + " is not a directory");
  fs::path staging = fs::absolute(staging_dir, ec).lexically_normal();
  // The slow part, before taking the lock.
  VIGIL_RETURN_IF_ERROR(SyncTree(staging));

  VIGIL_ASSIGN_OR_RETURN(RegistryLock lock, RegistryLock::Acquire(root_));
  VIGIL_ASSIGN_OR_RETURN(RegistryState state, Load(root_));
  ModelState& m = state[model];
  fs::path model_dir = fs::path(root_) / model;
  fs::create_directories(model_dir, ec);
  if (ec) return Status::IOError("create " + model_dir.string() + ": " + ec.message());
  int n = m.last_version + 1;
  // A v<N> nobody recorded (made by hand, or a registry.json restored from a backup) is
  // never overwritten: skip past it.
  while (fs::exists(VersionDir(root_, model, n), ec)) ++n;
  // Reserve n first, so that it is burnt even if what follows fails or crashes.
  m.last_version = n;
  VIGIL_RETURN_IF_ERROR(Save(root_, state));

  std::string final_dir = VersionDir(root_, model, n);
  fs::path partial = model_dir / (".v" + std::to_string(n) + ".partial");
  fs::remove_all(partial, ec);
  fs::create_directory(partial, ec);
  if (ec) return Status::IOError("create " + partial.string() + ": " + ec.message());
  Status moved = MoveEntries(staging, partial);
  if (!moved.ok()) {
    fs::remove_all(partial, ec);
    return moved.WithContext("register " + model + " v" + std::to_string(n));
  }
  VIGIL_RETURN_IF_ERROR(SyncDir(partial.string()));
  fs::rename(partial, final_dir, ec);
  if (ec) return Status::IOError("rename " + partial.string() + " to " + final_dir + ": " + ec.message());
  VIGIL_RETURN_IF_ERROR(SyncDir(model_dir.string()));
  VIGIL_RETURN_IF_ERROR(SyncDir(staging.string()));

  info.model = model;
  info.version = n;
  info.created_at_ms = WallClockMs();
  info.dir = final_dir;
  m.versions.push_back(info);
  VIGIL_RETURN_IF_ERROR(Save(root_, state));
  return info;
}

Result<std::vector<std::string>> ModelRegistry::Models() const {
  VIGIL_ASSIGN_OR_RETURN(RegistryState state, Load(root_));
  std::vector<std::string> out;
  for (const auto& [name, m] : state) {
    if (!m.versions.empty()) out.push_back(name);
  }
  return out;
}

Result<std::vector<ModelVersionInfo>> ModelRegistry::Versions(const std::string& model) const {
  VIGIL_ASSIGN_OR_RETURN(RegistryState state, Load(root_));
  VIGIL_ASSIGN_OR_RETURN(const ModelState* m, FindModel(std::as_const(state), model));
  std::vector<ModelVersionInfo> out = m->versions;
  for (auto& v : out) v.dir = VersionDir(root_, model, v.version);
  return out;
}

Result<ModelVersionInfo> ModelRegistry::Version(const std::string& model, int version) const {
  VIGIL_ASSIGN_OR_RETURN(RegistryState state, Load(root_));
  VIGIL_ASSIGN_OR_RETURN(const ModelState* m, FindModel(std::as_const(state), model));
  const ModelVersionInfo* v = FindVersion(*m, version);
  if (!v) return NoVersion(model, version);
  ModelVersionInfo out = *v;
  out.dir = VersionDir(root_, model, version);
  return out;
}

Result<int> ModelRegistry::Alias(const std::string& model, const std::string& alias) const {
  VIGIL_RETURN_IF_ERROR(CheckAliasName(alias));
  VIGIL_ASSIGN_OR_RETURN(RegistryState state, Load(root_));
  VIGIL_ASSIGN_OR_RETURN(const ModelState* m, FindModel(std::as_const(state), model));
  auto it = m->aliases.find(alias);
  if (it == m->aliases.end())
    return Status::NotFound("alias '" + alias + "' of model '" + model + "' is not set");
  return it->second;
}

Result<std::map<std::string, int>> ModelRegistry::Aliases(const std::string& model) const {
  VIGIL_ASSIGN_OR_RETURN(RegistryState state, Load(root_));
  VIGIL_ASSIGN_OR_RETURN(const ModelState* m, FindModel(std::as_const(state), model));
  return m->aliases;
}

Result<AliasMove> ModelRegistry::SetAlias(const std::string& model, const std::string& alias, int version,
                                          const std::string& reason, const std::string& command) {
  VIGIL_RETURN_IF_ERROR(CheckModelName(model));
  VIGIL_RETURN_IF_ERROR(CheckAliasName(alias));
  if (version <= 0) {
    return Status::InvalidArgument("alias '" + alias + "': version " + std::to_string(version) +
                                   " (versions start at 1; to unset an alias, remove it)");
  }
  AliasMove out;
  VIGIL_RETURN_IF_ERROR(Update(root_, [&](RegistryState* state) -> Status {
    VIGIL_ASSIGN_OR_RETURN(ModelState * m, FindModel(*state, model));
    if (!FindVersion(*m, version)) return NoVersion(model, version);
    out = Move(model, m, alias, version, reason, command, -1);
    return Status::OK();
  }));
  return out;
}

Result<AliasMove> ModelRegistry::RemoveAlias(const std::string& model, const std::string& alias,
                                             const std::string& reason, const std::string& command) {
  VIGIL_RETURN_IF_ERROR(CheckModelName(model));
  VIGIL_RETURN_IF_ERROR(CheckAliasName(alias));
  AliasMove out;
  VIGIL_RETURN_IF_ERROR(Update(root_, [&](RegistryState* state) -> Status {
    VIGIL_ASSIGN_OR_RETURN(ModelState * m, FindModel(*state, model));
    if (!m->aliases.count(alias)) {
      return Status::NotFound("alias '" + alias + "' of model '" + model + "' is not set");
    }
    out = Move(model, m, alias, 0, reason, command, -1);
    return Status::OK();
  }));
  return out;
}

Result<AliasMove> ModelRegistry::Rollback(const std::string& model, const std::string& alias,
                                          const std::string& reason, const std::string& command) {
  VIGIL_RETURN_IF_ERROR(CheckModelName(model));
  VIGIL_RETURN_IF_ERROR(CheckAliasName(alias));
  AliasMove out;
  VIGIL_RETURN_IF_ERROR(Update(root_, [&](RegistryState* state) -> Status {
    VIGIL_ASSIGN_OR_RETURN(ModelState * m, FindModel(*state, model));
    std::set<int> undone;
    for (const auto& h : m->history) {
      if (h.undoes >= 0) undone.insert(h.undoes);
    }
    int target = -1;  // the most recent move of `alias` not made by a rollback and not undone
    for (int i = static_cast<int>(m->history.size()) - 1; i >= 0; --i) {
      const StoredMove& h = m->history[i];
      if (h.move.alias == alias && !h.move.rollback && !undone.count(i)) {
        target = i;
        break;
      }
    }
    std::string name = "alias '" + alias + "' of model '" + model + "'";
    if (target < 0) return Status::NotFound(name + ": no move left to roll back");
    const AliasMove& undo = m->history[target].move;
    if (undo.from_version == 0) {
      return Status::NotFound(name + ": nothing earlier to roll back to: the move left to undo (at " +
                              FormatIsoTimestamp(undo.at_ms) + ", to v" + std::to_string(undo.to_version) +
                              ") set it from unset");
    }
    if (!FindVersion(*m, undo.from_version)) return NoVersion(model, undo.from_version);
    out = Move(model, m, alias, undo.from_version, reason, command, target);
    return Status::OK();
  }));
  return out;
}

Result<std::vector<AliasMove>> ModelRegistry::History(const std::string& model) const {
  VIGIL_ASSIGN_OR_RETURN(RegistryState state, Load(root_));
  VIGIL_ASSIGN_OR_RETURN(const ModelState* m, FindModel(std::as_const(state), model));
  std::vector<AliasMove> out;
  out.reserve(m->history.size());
  for (const auto& h : m->history) out.push_back(h.move);
  return out;
}

Status ModelRegistry::RecordDecision(const RetrainDecision& d) {
  VIGIL_RETURN_IF_ERROR(CheckModelName(d.model));
  return Update(root_, [&](RegistryState* state) -> Status {
    VIGIL_ASSIGN_OR_RETURN(ModelState * m, FindModel(*state, d.model));
    m->decisions.push_back(d);
    return Status::OK();
  });
}

Result<std::vector<RetrainDecision>> ModelRegistry::Decisions(const std::string& model) const {
  VIGIL_ASSIGN_OR_RETURN(RegistryState state, Load(root_));
  VIGIL_ASSIGN_OR_RETURN(const ModelState* m, FindModel(std::as_const(state), model));
  return m->decisions;
}

Result<std::string> ModelRegistry::ToJson(const std::string& model) const {
  VIGIL_ASSIGN_OR_RETURN(RegistryState state, Load(root_));
  json models = json::object();
  if (model.empty()) {
    for (const auto& [name, m] : state) {
      if (!m.versions.empty()) models[name] = ModelJson(m, &root_);
    }
  } else {
    VIGIL_ASSIGN_OR_RETURN(const ModelState* m, FindModel(std::as_const(state), model));
    models[model] = ModelJson(*m, &root_);
  }
  return json{{"root", root_}, {"models", std::move(models)}}.dump(2) + "\n";
}

}  // namespace vigil
