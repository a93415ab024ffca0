// Small durable-file helpers shared by the stores: whole-file reads, atomic replacement,
// and the stable hash used for fingerprints and run names.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace vigil {

// The whole content of `path`. NotFound if it does not exist, IOError if unreadable.
Result<std::string> ReadWholeFile(const std::string& path);

// Reads the first `size` bytes of `path` into out[0, size), for a caller that reuses its
// buffer from file to file. NotFound if it does not exist, IOError if it is unreadable or
// shorter.
Status ReadFileInto(const std::string& path, char* out, size_t size);

// Replaces `path` with `text` atomically and durably: writes "<path>.tmp", fsyncs it,
// renames it over `path` and fsyncs the directory. A crash leaves the old content or the
// new one, never a mix.
Status WriteFileAtomic(const std::string& path, std::string_view text);

// Fsyncs a directory, so that renames and creations in it survive a crash.
Status SyncDir(const std::string& dir);

// Makes everything written so far to the filesystem holding `path` durable (syncfs):
// data, creations and renames of every file there, in one call. For a writer of many
// files that would otherwise fsync each file and its directory (a backfill bucket's
// dozens of Parquet files).
Status SyncFilesystem(const std::string& path);

// 64-bit FNV-1a of `bytes`: stable across builds and machines (persisted in fingerprints).
// To hash pieces as one text, pass each piece's result as the next one's `h`:
//   Fnv1a64("ab") == Fnv1a64("b", Fnv1a64("a")).
inline constexpr uint64_t kFnv1a64Basis = 14695981039346656037ull;
uint64_t Fnv1a64(std::string_view bytes, uint64_t h = kFnv1a64Basis);
// `v` as 16 lower-case hex digits.
std::string Hex64(uint64_t v);

}  // namespace vigil
