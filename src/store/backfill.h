// Backfill (issue 4 §3): rebuilds a feature view's changelog from the source's whole
// history (the Parquet archive, then the live log) with the stream's engine, into the
// offline store, for a new view, a changed definition (a new version) or a repair.
//
// The rows are exactly the stream's: every entity's accepted events (the stream's
// recorded decisions for archived ones, its rule for live ones) are replayed in
// (ts, log order) and rows are emitted below the history's watermark W (the lowest over
// partitions of max ts - allowed lateness), below which no event can still arrive.
//
// How it runs, bounded in memory and resumable:
//   1. spill: one pass over the history hashes each accepted event by entity into B
//      bucket files under the run's state directory; B is chosen so that a bucket's
//      events fit in memory_bytes / threads, and is a multiple of threads. The archive's
//      `threads` reader threads spill at once, each into buffers of its own. Views of
//      one source backfilled together (BackfillViews) share the pass: each event goes
//      into every view's buckets.
//   2. compute: `threads` threads take buckets, replay each (its events read into the
//      thread's buffer in the spill's encoding, each carrying its entity key, decoded
//      entity by entity), and write its rows in [from, min(to, W)) as date-partitioned
//      Parquet files (<features dir>/date=D/backfill-<run>-<bucket>-<n>.parquet, open
//      while the bucket computes, a row group appended each time the thread's buffered
//      rows reach its share of the memory; n grows past 0 only for buckets of more dates
//      than max_open_files), then mark the bucket done. A resumed bucket first removes
//      the files it had written.
//   3. finish: records the run in <features dir>/_backfill.json (from, to, bound, rows),
//      deletes earlier runs' files and the state directory.
// A run killed at any point is resumed by the same command (same view version, from and
// to): the spill is reused and done buckets are skipped.
//
// Readers (dataset, sync, `changelog --offline`) treat a completed backfill as the
// view's history below its bound and the stream's ingested rows as the rest.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "log/log.h"
#include "spec/definitions.h"

namespace vigil {

struct BackfillOptions {
  TimestampMs from = kMinTimestamp;  // rows with ts >= from
  TimestampMs to = kMaxTimestamp;    // and ts < to (and below the watermark)
  int threads = 2;
  // Events held in memory at once, over all threads (approximate); the rows being
  // written take a quarter as much again. Default: 512 MiB.
  int64_t memory_bytes = int64_t{512} << 20;
  // Changelog files a compute thread keeps open (a file descriptor each): one per date
  // of the bucket's rows; a bucket of more dates writes more files. At least 1.
  // Default: 64.
  int max_open_files = 64;
  // Stop after this many buckets are computed (0: no limit), leaving the run to resume:
  // for tests of resumption. Default: 0.
  int stop_after_buckets = 0;
};

struct BackfillStats {
  std::string run;
  bool resumed = false;
  int64_t events = 0;  // accepted events spilled
  int64_t rows = 0;    // rows written by this call
  int buckets = 0;
  int buckets_done_before = 0;  // skipped on resume
  bool complete = false;        // false when stopped early (stop_after_buckets)
  TimestampMs bound = kMinTimestamp;  // min(to, watermark)
  double seconds = 0;
  double spill_seconds = 0;  // of `seconds`, the spill's (0 when resumed)
  int spill_views = 0;       // views the spill's pass over the source fed (this one included; 0 when resumed)
};

// What a completed backfill recorded (<features dir>/_backfill.json).
struct BackfillRecord {
  std::string run;
  TimestampMs from = kMinTimestamp;
  TimestampMs bound = kMinTimestamp;
  int64_t rows = 0;
  TimestampMs completed_at = 0;
};
// The record of the view version's last completed backfill; nullopt-like: run empty.
Result<BackfillRecord> LastBackfill(const std::string& offline_dir, const FeatureViewDef& view);

Result<BackfillStats> Backfill(const Definitions& defs, const FeatureViewDef& view, Log* log,
                               const std::string& offline_dir, const BackfillOptions& options = {});

// Backfills several views in one call, each as Backfill would (its own run, state
// directory, lock and resume), with one spill pass per source: the views of a source
// that are not resumed share one read of its history, each event hashed into every
// view's buckets (their buffers sharing memory_bytes). Then each view's buckets are
// computed in turn, on all the threads. Every view's lock is taken before anything else;
// a view named twice, or another backfill holding one, is an error before any work.
// Returns each view's stats in the order given; a view's `seconds` is its source's spill
// plus its own compute.
Result<std::vector<BackfillStats>> BackfillViews(const Definitions& defs,
                                                 const std::vector<const FeatureViewDef*>& views, Log* log,
                                                 const std::string& offline_dir,
                                                 const BackfillOptions& options = {});

}  // namespace vigil
