#include "store/feature_registry.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/files.h"

namespace vigil {

namespace fs = std::filesystem;

std::string FeatureRegistryPath(const std::string& data_dir) {
  return (fs::path(data_dir) / "registry" / "features.json").string();
}

namespace {

Result<std::map<std::string, std::vector<ViewVersion>>> Parse(const std::string& path, const std::string& text) {
  std::map<std::string, std::vector<ViewVersion>> out;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("views") || !j["views"].is_object()) {
    return Status::Corruption(path + ": not a feature registry (want {\"views\": {...}})");
  }
  try {
    for (const auto& [view, versions] : j["views"].items()) {
      for (const auto& v : versions) {
        ViewVersion x;
        x.version = v.at("version").get<int>();
        x.fingerprint = v.at("fingerprint").get<std::string>();
        x.definition = v.value("definition", "");
        x.registered_at = v.value("registered_at", int64_t{0});
        x.removed = v.value("removed", false);
        out[view].push_back(std::move(x));
      }
    }
  } catch (const std::exception& e) {
    return Status::Corruption(path + ": " + e.what());
  }
  return out;
}

std::string SerializeRegistry(const std::map<std::string, std::vector<ViewVersion>>& reg) {
  nlohmann::json views = nlohmann::json::object();
  for (const auto& [view, versions] : reg) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& v : versions) {
      list.push_back({{"version", v.version},
                      {"fingerprint", v.fingerprint},
                      {"definition", v.definition},
                      {"registered_at", v.registered_at},
                      {"removed", v.removed}});
    }
    views[view] = std::move(list);
  }
  return nlohmann::json{{"views", views}}.dump(2) + "\n";
}

// Holds the registry's lock while a read-modify-write runs.
template <typename Fn>
Status Update(const std::string& path, Fn fn) {
  fs::path dir = fs::path(path).parent_path();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError("create " + dir.string() + ": " + ec.message());
  std::string lock_path = (dir / "features.lock").string();
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT, 0644);
  if (fd < 0) return Status::IOError("open " + lock_path);
  if (::flock(fd, LOCK_EX) != 0) {
    ::close(fd);
    return Status::IOError("lock " + lock_path);
  }
  Status s = [&]() -> Status {
    VIGIL_ASSIGN_OR_RETURN(auto reg, LoadFeatureRegistry(path));
    bool changed = false;
    VIGIL_RETURN_IF_ERROR(fn(&reg, &changed));
    if (!changed) return Status::OK();
    return WriteFileAtomic(path, SerializeRegistry(reg));
  }();
  ::close(fd);
  return s;
}

}  // namespace

Result<std::map<std::string, std::vector<ViewVersion>>> LoadFeatureRegistry(const std::string& path) {
  auto text = ReadWholeFile(path);
  if (!text.ok() && text.status().IsNotFound()) return std::map<std::string, std::vector<ViewVersion>>();
  VIGIL_RETURN_IF_ERROR(text.status());
  return Parse(path, *text);
}

Status ResolveViewVersions(const std::string& path, Definitions* defs, std::vector<std::string>* registered) {
  // Without a change the file is only read (no lock, no write).
  VIGIL_ASSIGN_OR_RETURN(auto current, LoadFeatureRegistry(path));
  bool all_known = true;
  for (auto& [name, view] : defs->views) {
    std::string fp = ViewFingerprint(*defs, view);
    bool known = false;
    for (const auto& v : current[name]) {
      if (v.fingerprint == fp && !v.removed) {
        view.version = v.version;
        known = true;
      }
    }
    all_known &= known;
  }
  if (all_known) return Status::OK();
  return Update(path, [&](std::map<std::string, std::vector<ViewVersion>>* reg, bool* changed) -> Status {
    for (auto& [name, view] : defs->views) {
      std::string fp = ViewFingerprint(*defs, view);
      auto& versions = (*reg)[name];
      const ViewVersion* match = nullptr;
      for (const auto& v : versions) {
        if (v.fingerprint == fp && !v.removed) match = &v;
      }
      if (match) {
        view.version = match->version;
        continue;
      }
      ViewVersion v;
      v.version = versions.empty() ? 1 : versions.back().version + 1;
      v.fingerprint = fp;
      v.definition = ViewDefinitionText(*defs, view);
      v.registered_at = WallClockMs();
      versions.push_back(v);
      view.version = v.version;
      *changed = true;
      if (registered) registered->push_back(name + " v" + std::to_string(v.version));
    }
    return Status::OK();
  });
}

Status RemoveViewVersion(const std::string& path, const std::string& view, int version, int current) {
  if (version == current) {
    return Status::InvalidArgument("version " + std::to_string(version) + " of " + view +
                                   " is the one the current definitions use");
  }
  return Update(path, [&](std::map<std::string, std::vector<ViewVersion>>* reg, bool* changed) -> Status {
    auto it = reg->find(view);
    if (it != reg->end()) {
      for (auto& v : it->second) {
        if (v.version == version && !v.removed) {
          v.removed = true;
          *changed = true;
          return Status::OK();
        }
      }
    }
    return Status::InvalidArgument("no version " + std::to_string(version) + " of feature view '" + view + "'");
  });
}

}  // namespace vigil
