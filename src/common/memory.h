// How a batch command's process uses memory: the C heap's policy, and zeroed arrays
// for large tables written once.
#pragma once

#include <cstddef>
#include <type_traits>
#include <utility>

namespace vigil {

// For a batch command (backfill, dataset): memory the process frees stays in its heap
// for its next allocations instead of going back to the kernel, which would have to
// fault it in again page by page. glibc's defaults give freed blocks of 128 KiB and more
// back at once (and trim the heap's top): a backfill that fills and frees columns of
// millions of rows spent 7% of its time faulting the same memory in again.
// The cost: the process keeps its peak resident size until it exits, so a long-running
// server does not call this. Blocks above 32 MiB are still mapped and unmapped alone.
// Call before the work allocates; calling it again changes nothing.
void KeepFreedMemoryForReuse();

// Zero-filled bytes for a large table: 2 MiB and more come from an anonymous mapping
// advised for transparent huge pages (MADV_HUGEPAGE), which the kernel zeroes and faults
// in 2 MiB at a time where its THP mode is "madvise" or "always" (512 faults fewer than
// 4 KiB pages; each fault costs most on a virtual machine), and which needs no zeroing
// pass of ours. Smaller sizes come from calloc. Null for 0 bytes; aborts when out of
// memory, as operator new would.
void* AllocateZeroed(size_t bytes);
void FreeZeroed(void* p, size_t bytes);

// An array of n zero-valued T (all bytes 0) in AllocateZeroed's memory. Move-only.
//
//   ZeroedArray<int64_t> bits(n * features);  // every cell 0, no pass over them
//   bits[i] = v;
template <class T>
class ZeroedArray {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>);

 public:
  ZeroedArray() = default;
  explicit ZeroedArray(size_t n) : data_(static_cast<T*>(AllocateZeroed(n * sizeof(T)))), n_(n) {}
  ZeroedArray(ZeroedArray&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  ZeroedArray& operator=(ZeroedArray&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(n_, o.n_);
    return *this;
  }
  ~ZeroedArray() { FreeZeroed(data_, n_ * sizeof(T)); }

  size_t size() const { return n_; }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }
  T* data() { return data_; }

 private:
  T* data_ = nullptr;
  size_t n_ = 0;
};

}  // namespace vigil
