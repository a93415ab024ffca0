#include "common/memory.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <cstring>
#include <memory>

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

}  // namespace
}  // namespace vigil
