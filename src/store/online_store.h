// The online store: the latest changelog row of every entity of every view, for
// real-time lookups (DESIGN.md §2, embedded column). An in-memory sharded hash map that
// answers reads, persisted in RocksDB so a restart loses nothing.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "compute/changelog.h"

namespace vigil {

// The latest values of one entity and the instant they hold from (freshness).
struct FeatureRow {
  TimestampMs ts = 0;
  Row values;
};

struct OnlineStoreOptions {
  // Number of independently locked shards of the in-memory map. Default: 16.
  int shards = 16;
  // Read-only: reads go straight to RocksDB and may run beside a writing process (the
  // ingestion worker). Nothing is loaded into memory. Default: false.
  bool read_only = false;
  // With read_only: follow a writing process instead of reading a fixed snapshot. The
  // store opens as a RocksDB secondary instance (its own info files under
  // `follow_dir`, which must differ per follower) and CatchUp() brings in what the
  // writer has flushed to its write-ahead log since. Default: empty (a snapshot as of
  // Open).
  std::string follow_dir;
};

// Safe for concurrent use without external locking.
class OnlineStore {
 public:
  // Opens (creating if needed) the store in directory `path`; a writable store loads
  // every row into memory.
  static Result<std::unique_ptr<OnlineStore>> Open(const std::string& path,
                                                   const OnlineStoreOptions& options);
  virtual ~OnlineStore() = default;

  // Upserts rows of `view`; a row older than the stored one for its entity is ignored,
  // so applying the same rows twice is harmless. `positions` (topic, next offset) are
  // persisted in the same atomic write: a consumer that resumes from them applies each
  // changelog row exactly once. NotSupported on a read-only store.
  virtual Status Apply(const std::string& view, std::span<const ChangelogRow> rows,
                       std::span<const std::pair<std::string, int64_t>> positions) = 0;

  // Fills out[i] with the latest row of keys[i] in `view`. A missing entity is not an
  // error: out[i] is left empty. REQUIRES: out.size() == keys.size().
  virtual Status MultiGet(const std::string& view, std::span<const std::string> keys,
                          std::span<std::optional<FeatureRow>> out) = 0;

  // The next offset of `topic` to apply, as persisted by Apply (0 if never).
  virtual Result<int64_t> Position(const std::string& topic) = 0;

  // Calls fn for every stored row of `view` (in key order for read-only stores, in an
  // unspecified order otherwise).
  virtual Status Scan(const std::string& view,
                      const std::function<void(const std::string& entity, const FeatureRow&)>& fn) = 0;

  // A following store (OnlineStoreOptions::follow_dir): reads what the writer has written
  // since the last call. Other stores: nothing to do, OK.
  virtual Status CatchUp() { return Status::OK(); }
  // "online.rows": the number of stored rows, as text.
  virtual std::optional<std::string> GetProperty(std::string_view name) = 0;
};

}  // namespace vigil
