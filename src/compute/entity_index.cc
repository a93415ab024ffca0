#include "compute/entity_index.h"

namespace vigil {

void EntityIndex::Insert(uint64_t h, uint32_t slot) {
  if ((size_ + 1) * 4 > entries_.size() * 3) Grow();
  const uint32_t tag = Tag(h);
  size_t i = tag & mask_;
  while (entries_[i].slot != kNone) i = (i + 1) & mask_;
  entries_[i] = {tag, slot};
  ++size_;
}

void EntityIndex::Erase(uint64_t h, uint32_t slot) {
  size_t i = Tag(h) & mask_;
  while (entries_[i].slot != slot) i = (i + 1) & mask_;
  // Backward shift: move later entries of the probe run into the hole when the hole lies
  // between their home and where they are, so that every run stays unbroken.
  for (size_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
    const Entry& e = entries_[j];
    if (e.slot == kNone) break;
    const size_t home = e.hash & mask_;
    const bool movable = ((j - home) & mask_) >= ((j - i) & mask_);
    if (movable) {
      entries_[i] = e;
      i = j;
    }
  }
  entries_[i] = Entry{};
  --size_;
}

void EntityIndex::Grow() {
  std::vector<Entry> old = std::move(entries_);
  entries_.assign(old.empty() ? 16 : old.size() * 2, Entry{});
  mask_ = entries_.size() - 1;
  for (const Entry& e : old) {
    if (e.slot == kNone) continue;
    size_t i = e.hash & mask_;
    while (entries_[i].slot != kNone) i = (i + 1) & mask_;
    entries_[i] = e;
  }
}

}  // namespace vigil
