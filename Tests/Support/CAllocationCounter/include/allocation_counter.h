// Test support: counts heap allocations made by the calling thread.
//
// The test binary defines malloc, calloc, realloc, posix_memalign,
// aligned_alloc, memalign and free; ELF symbol interposition makes every
// allocation in the process (Swift runtime included) go through them. Each
// forwards to glibc's __libc_* implementation and, while counting is enabled
// on the calling thread, counts the call. Thread-local, so tests running in
// parallel on other threads do not disturb a measurement.
#ifndef EMBER_ALLOCATION_COUNTER_H
#define EMBER_ALLOCATION_COUNTER_H
#include <stdint.h>

/// Starts counting allocations on this thread (resets the count to 0).
void ember_alloc_counter_start(void);
/// Stops counting on this thread and returns the number of allocations seen.
int64_t ember_alloc_counter_stop(void);
/// 1 when the interposed malloc is the one the process uses (a self-check, so a
/// zero count cannot come from a counter that never ran).
int ember_alloc_counter_is_active(void);

#endif
