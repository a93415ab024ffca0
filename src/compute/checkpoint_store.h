// The stream worker's durable state (DESIGN.md §2, "compute state: RocksDB, checkpointed
// with input offsets"): every entity's window state and every source's checkpoint record
// (input positions, watermark state, output positions), in one RocksDB database, so that a
// checkpoint is one atomic, synced write batch.
//
// Keys: "s/<view>/<entity key>" -> EntityWindow::Save bytes; "m/<name>" -> opaque
// metadata (a source's checkpoint record, the definitions fingerprint).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace vigil {

class CheckpointStore {
 public:
  // Opens (creating if needed) the database in `dir`. One process at a time: a second
  // opener gets an IOError naming the directory (RocksDB's LOCK).
  static Result<std::unique_ptr<CheckpointStore>> Open(const std::string& dir);
  ~CheckpointStore();

  // Metadata `name`, or nullopt if never written.
  Result<std::optional<std::string>> GetMeta(const std::string& name);
  // Calls fn(entity key, state bytes) for every entity saved for `view`, in key order.
  // A non-OK status from fn stops the scan and is returned.
  Status ScanStates(const std::string& view,
                    const std::function<Status(std::string_view key, std::string_view state)>& fn);

  // One checkpoint: puts and deletes collected, then committed together. Not thread-safe.
  class Batch {
   public:
    Batch();
    ~Batch();
    void PutState(const std::string& view, std::string_view key, std::string_view state);
    void DeleteState(const std::string& view, std::string_view key);
    void PutMeta(const std::string& name, std::string_view value);
    size_t bytes() const;

   private:
    friend class CheckpointStore;
    struct Rep;
    std::unique_ptr<Rep> rep_;
  };
  // Writes the batch atomically and durably (WAL fsync). All or nothing after a crash.
  Status Commit(Batch* batch);

 private:
  struct Rep;
  explicit CheckpointStore(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

}  // namespace vigil
