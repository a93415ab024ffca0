#include "common/memory.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <utility>

namespace vigil {
namespace {

// Bytes free inside the heap (kept by the allocator, not given back to the kernel).
size_t HeapFreeBytes() { return mallinfo2().fordblks; }

TEST(KeepFreedMemoryForReuseTest, AFreedLargeBlockStaysInTheHeap) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "the sanitizer's allocator replaces glibc's";
#else
  constexpr size_t kBlock = 8 << 20;  // above glibc's default mmap threshold (128 KiB .. 32 MiB)
  KeepFreedMemoryForReuse();
  const size_t before = HeapFreeBytes();
  {
    auto block = std::make_unique<char[]>(kBlock);
    std::memset(block.get(), 1, kBlock);
  }
  // Mapped blocks are unmapped on free and never count as free heap bytes: the block
  // is there only if it came from the heap and stayed.
  EXPECT_GE(HeapFreeBytes(), before + kBlock / 2);
  // And the next block of that size reuses it instead of growing the heap.
  const size_t arena = mallinfo2().arena;
  auto again = std::make_unique<char[]>(kBlock);
  std::memset(again.get(), 2, kBlock);
  EXPECT_EQ(mallinfo2().arena, arena);
#endif
}

// Small (calloc) and large (a mapping) arrays start zeroed, hold what is written, and
// move their memory; ASan checks the frees.
TEST(ZeroedArrayTest, StartsZeroedHoldsWritesAndMoves) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{1000}, size_t{(3 << 20) / 8 + 5}}) {
    ZeroedArray<int64_t> a(n);
    ASSERT_EQ(a.size(), n);
    for (size_t i = 0; i < n; i += 4093) ASSERT_EQ(a[i], 0) << n << " " << i;
    if (n > 0) ASSERT_EQ(a[n - 1], 0);
    for (size_t i = 0; i < n; ++i) a[i] = static_cast<int64_t>(i * 3);
    ZeroedArray<int64_t> b(std::move(a));
    EXPECT_EQ(a.size(), 0u);
    ASSERT_EQ(b.size(), n);
    for (size_t i = 0; i < n; i += 997) ASSERT_EQ(b[i], static_cast<int64_t>(i * 3));
    ZeroedArray<int64_t> c(7);
    c = std::move(b);  // c's old array goes with b
    ASSERT_EQ(c.size(), n);
    if (n > 0) EXPECT_EQ(c[n - 1], static_cast<int64_t>((n - 1) * 3));
  }
}

}  // namespace
}  // namespace vigil
