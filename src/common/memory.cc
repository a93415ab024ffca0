#include "common/memory.h"

#include <malloc.h>

namespace vigil {

void KeepFreedMemoryForReuse() {
  // Fixed values also turn off glibc's sliding mmap threshold.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's maximum on 64-bit
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

}  // namespace vigil
