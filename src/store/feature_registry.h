// Versioned feature definitions (issue 4 §6). Every feature view's definition is
// registered once per distinct content: changing a view (a feature's aggregation,
// window, filter, the ttl, the source's lateness or the key) creates a new version of
// it, numbered from 1. A version's rows live apart from the others' in the offline store
// (<offline>/features/<view>/version=<N>/) and in the log (ChangelogTopic), so old
// versions stay readable until they are removed; backfill fills a new one from history.
//
// The registry is one JSON document, <data_dir>/registry/features.json, replaced
// atomically (write, fsync, rename) under an exclusive lock on
// <data_dir>/registry/features.lock, so concurrent commands never lose a version.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/time.h"
#include "spec/definitions.h"

namespace vigil {

struct ViewVersion {
  int version = 0;
  std::string fingerprint;  // ViewFingerprint
  std::string definition;   // ViewDefinitionText, for people
  TimestampMs registered_at = 0;
  bool removed = false;
};

// The registry file of a data directory.
std::string FeatureRegistryPath(const std::string& data_dir);

// Every view's versions, oldest first (empty if the file does not exist).
Result<std::map<std::string, std::vector<ViewVersion>>> LoadFeatureRegistry(const std::string& path);

// Sets FeatureViewDef::version of every view in *defs: the version whose fingerprint
// matches, or a new version registered now (its number is appended to *registered).
// A removed version that comes back is registered anew. Corruption for an unreadable
// registry file.
Status ResolveViewVersions(const std::string& path, Definitions* defs, std::vector<std::string>* registered = nullptr);

// Marks a version removed. InvalidArgument for an unknown one, or for the version the
// current definitions use (`current`).
Status RemoveViewVersion(const std::string& path, const std::string& view, int version, int current);

}  // namespace vigil
