// The engine's map from an entity key to the slot holding its window: one flat,
// open-addressing table (linear probing, backward-shift deletion, no tombstones).
//
// Lookups happen once per event per view, so they matter: each entry is 8 bytes (the
// key's hash and its slot) in one array, a hit costs one probe run in that array plus one
// comparison with the key the caller keeps, and a lookup takes a string_view, so the
// caller need not build a std::string per event. The keys themselves are not stored: the
// caller passes the function that returns a slot's key (ViewEngine's windows hold them).
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

namespace vigil {

class EntityIndex {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;

  // The hash Find, Insert and Erase take: computed once per key by the caller.
  static uint64_t Hash(std::string_view key) { return std::hash<std::string_view>()(key); }

  // The slot of `key` (with hash h), or kNone. key_of(slot) returns the key stored for a
  // slot inserted earlier.
  template <typename KeyOf>
  uint32_t Find(std::string_view key, uint64_t h, const KeyOf& key_of) const {
    if (size_ == 0) return kNone;
    const uint32_t tag = Tag(h);
    for (size_t i = tag & mask_;; i = (i + 1) & mask_) {
      const Entry& e = entries_[i];
      if (e.slot == kNone) return kNone;
      if (e.hash == tag && key_of(e.slot) == key) return e.slot;
    }
  }
  // Hints for a caller that looks up keys some places ahead (results never depend on
  // them). Prefetch asks the CPU to fetch h's home entry; once it has arrived, Peek
  // returns the slot there if its hash matches h (the slot of h's key, or of a key with
  // the same 32-bit hash, or kNone although the key is further along its probe run).
  void Prefetch(uint64_t h) const {
    if (size_ != 0) __builtin_prefetch(&entries_[Tag(h) & mask_]);
  }
  uint32_t Peek(uint64_t h) const {
    if (size_ == 0) return kNone;
    const Entry& e = entries_[Tag(h) & mask_];
    return e.hash == Tag(h) ? e.slot : kNone;
  }
  // Adds slot for a key with hash h. REQUIRES: the key is not in the index.
  void Insert(uint64_t h, uint32_t slot);
  // Removes the entry of `slot` (whose key has hash h). REQUIRES: it is in the index.
  void Erase(uint64_t h, uint32_t slot);
  size_t size() const { return size_; }

 private:
  struct Entry {
    // The key's hash, low 32 bits: it places the entry (its low bits are the home
    // position) and decides most mismatches without reading the key.
    uint32_t hash = 0;
    uint32_t slot = kNone;
  };
  static uint32_t Tag(uint64_t h) { return static_cast<uint32_t>(h); }
  void Grow();

  std::vector<Entry> entries_;  // a power of two in size, at most 3/4 full
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace vigil
