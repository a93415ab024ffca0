// How a batch command's process uses the C heap.
#pragma once

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

}  // namespace vigil
