// The model registry: named models with numbered versions, aliases that point at them
// (`champion`, `challenger`, ...), the full history of alias moves and a log of the
// retraining rounds' decisions.
//
// Layout under the root directory (the caller passes <project>/models):
//   <root>/registry.json     every piece of metadata, one JSON document
//   <root>/.lock             flock'ed exclusively by every writer
//   <root>/<model>/v<N>/     a version's files (model.json, manifest.json, ...), opaque here
//
// Writers (Register, SetAlias, RemoveAlias, Rollback, RecordDecision) hold an exclusive
// flock of <root>/.lock for their whole read-modify-write and replace registry.json with
// WriteFileAtomic, so concurrent writers in several threads and processes never lose an
// update. Readers take no lock: registry.json is only ever replaced by rename, so a
// reader sees the whole document before or after a write, never a mix (it may be one
// write behind a writer that is running at the same time).
//
// Version numbers are never reused: Register reserves N (persisting it) before it moves
// any file, so a register that fails or crashes part-way burns its number.
//
// Alias history and rollback, a worked example for `champion`:
//   SetAlias 1        move 0 -> 1
//   SetAlias 2        move 1 -> 2
//   SetAlias 3        move 2 -> 3
//   Rollback          undoes "2 -> 3": champion = 2   (recorded as 3 -> 2, rollback)
//   Rollback          undoes "1 -> 2": champion = 1   (recorded as 2 -> 1, rollback)
//   Rollback          NotFound: the move left to undo, "0 -> 1", set champion from unset
// Rollback moves are never themselves undone; a RemoveAlias is a move to 0 and can be.
//
// Safe for concurrent use: one ModelRegistry object from several threads, or several
// objects in several processes. A process that forks while another of its threads is
// inside a writing call leaves the child holding a copy of the locked descriptor: fork
// before starting such threads (or exec).
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace vigil {

struct ModelVersionInfo {
  std::string model;
  int version = 0;               // assigned by Register
  int64_t created_at_ms = 0;     // wall clock, assigned by Register
  int64_t cutoff_ms = 0;         // the event-time training cut-off (the caller's)
  std::string data_fingerprint;  // the caller's
  std::string command;           // the command line that made it
  // e.g. roc_auc, pr_auc, log_loss. NaN (and +-inf) are stored as null and read back as NaN.
  std::map<std::string, double> metrics;
  std::string dir;  // absolute path of <root>/<model>/v<N>, filled by the registry
};

struct AliasMove {
  int64_t at_ms = 0;  // wall clock
  std::string model, alias;
  int from_version = 0;  // 0: the alias was unset
  int to_version = 0;    // 0: the alias was removed
  std::string reason, command;
  bool rollback = false;  // made by Rollback
};

struct RetrainDecision {
  int64_t at_ms = 0;          // wall clock (the caller's)
  int64_t event_time_ms = 0;  // the round's event-time cut-off
  std::string model;
  std::string trigger;         // "schedule", or the reason given to an on-demand trigger
  int champion_version = 0;    // 0: there was none
  int challenger_version = 0;  // 0: there was none
  std::string metric;          // e.g. "roc_auc"
  double champion_score = std::numeric_limits<double>::quiet_NaN();
  double challenger_score = std::numeric_limits<double>::quiet_NaN();
  double margin = 0;
  bool promoted = false;
  std::string reason;
};

// Errors: a bad model name ([a-z][a-z0-9_]*) or alias name ([a-z][a-z0-9_-]*) is
// InvalidArgument; an unknown model, version or unset alias is NotFound naming it; a
// malformed registry.json is Corruption naming the file (an unreadable one IOError).
// A model exists from its first successful Register on.
class ModelRegistry {
 public:
  // Opens the registry under `root`, creating the directory if missing. A registry.json
  // that exists is read once here, so a corrupt one fails early (Corruption).
  static Result<ModelRegistry> Open(const std::string& root);

  // The absolute root directory.
  const std::string& root() const { return root_; }

  // Moves every entry of `staging_dir` (a directory the caller filled, on the same
  // filesystem as the root) into <root>/<model>/v<N>, N = 1 + the highest version ever
  // registered for `model`, and records `info` with model, version, created_at_ms and dir
  // filled in (the model is created by its first version). Returns the filled info.
  // The staging directory itself is left in place, empty. Regular files are fsynced
  // before the move and v<N> appears whole (it is filled under another name, then
  // renamed), so a crash leaves the version complete or absent. NotFound if
  // `staging_dir` does not exist; IOError (files moved back) if a move fails, e.g.
  // across filesystems.
  Result<ModelVersionInfo> Register(const std::string& model, const std::string& staging_dir,
                                    ModelVersionInfo info);

  // Model names, sorted. Empty for an empty registry.
  Result<std::vector<std::string>> Models() const;
  // A model's versions, ascending.
  Result<std::vector<ModelVersionInfo>> Versions(const std::string& model) const;
  Result<ModelVersionInfo> Version(const std::string& model, int version) const;

  // The version `alias` points at; NotFound when it is unset.
  Result<int> Alias(const std::string& model, const std::string& alias) const;
  // Every set alias of the model (alias -> version).
  Result<std::map<std::string, int>> Aliases(const std::string& model) const;

  // Points `alias` at `version` (which must exist) and records the move; a move to the
  // version the alias already has is still recorded. Returns the move. A version below 1
  // is InvalidArgument (RemoveAlias unsets).
  Result<AliasMove> SetAlias(const std::string& model, const std::string& alias, int version,
                             const std::string& reason, const std::string& command);
  // Unsets `alias`, recorded as a move to 0. NotFound when it is not set.
  Result<AliasMove> RemoveAlias(const std::string& model, const std::string& alias, const std::string& reason,
                                const std::string& command);
  // Undoes the most recent move of `alias` that has not been undone yet (see the example
  // above): the alias goes back to that move's from_version, recorded as a move with
  // rollback = true. NotFound when there is nothing left to undo, or when the move to
  // undo had set the alias from unset (from_version 0).
  Result<AliasMove> Rollback(const std::string& model, const std::string& alias, const std::string& reason,
                             const std::string& command);
  // Every alias move of the model, oldest first.
  Result<std::vector<AliasMove>> History(const std::string& model) const;

  // Appends a retraining decision to d.model's log. The model must exist (NotFound).
  Status RecordDecision(const RetrainDecision& d);
  // The model's decisions, oldest first.
  Result<std::vector<RetrainDecision>> Decisions(const std::string& model) const;

  // The whole registry (`model` empty) or one model as one JSON document, for
  // `vigil models ... --json`. Shape:
  //   {"root": ..., "models": {"<model>": {"versions": [{"version", "created_at_ms",
  //    "cutoff_ms", "data_fingerprint", "command", "metrics", "dir"}...],
  //    "aliases": {"champion": 2}, "history": [...], "decisions": [...]}}}
  // with only the one model under "models" when `model` is given (NotFound if unknown).
  Result<std::string> ToJson(const std::string& model) const;

 private:
  explicit ModelRegistry(std::string root) : root_(std::move(root)) {}
  std::string root_;
};

}  // namespace vigil
