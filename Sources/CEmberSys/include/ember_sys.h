// CEmberSys — the few system calls Swift cannot make safely itself: a worker pool (below), and a read
// lease on a mapped package, whose break (another process opening the file
// for writing, truncating it, or `cp new.ember live.ember`) is answered inside
// a signal handler by replacing the mapping with a private copy of the same
// bytes before the writer may proceed. The kernel holds the writer's open()
// until the lease is released, so a running session never sees a page vanish
// (SIGBUS) or change under it.
//
// The lease-break signal is EMBER_LEASE_SIGNAL (SIGRTMIN + 6); a handler
// installed there before Ember's is chained to for descriptors that are not
// Ember's.
#ifndef EMBER_SYS_H
#define EMBER_SYS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Takes a read lease on the read-only descriptor `fd`, then (protected by it)
/// reads the file's size and maps it whole. On success returns 0, stores the
/// address, the length and a slot handle, and takes ownership of `fd` (closed
/// by ember_leased_unmap). On failure returns the errno (EAGAIN: the file is
/// open for writing somewhere, or a writer broke the lease while it was being
/// set up; EACCES: not the owner and no CAP_LEASE; EFBIG: larger than
/// `max_length`; ENOSPC: too many leased packages), nothing is mapped, and
/// `fd` stays the caller's.
int ember_leased_map(int fd, size_t max_length, const void **address, size_t *length, int *slot);

/// Releases the lease, closes the descriptor and unmaps (the private copy if
/// the lease was broken). Waits for a lease break that is copying right now.
void ember_leased_unmap(int slot);

/// 1 while the mapping is the file's pages; 2 once a lease break replaced it
/// with a private copy; 3 if that copy could not be made (out of memory).
int ember_leased_state(int slot);

/// How many lease breaks have been answered with a private copy (all slots).
uint64_t ember_lease_breaks(void);

/// Reads the whole of `fd` into a new private anonymous mapping of `length`
/// bytes (the fallback when no lease can be taken). Returns 0 or an errno;
/// EIO if the file was shorter than `length`.
int ember_private_copy(int fd, size_t length, const void **address);

/// Unmaps what ember_private_copy returned.
void ember_private_unmap(const void *address, size_t length);

// ------------------------------------------------------------ worker pool
/// Threads created once (at prepare) that run the parts of one kernel with the caller.
typedef struct ember_pool ember_pool;

/// Starts `workers` threads (1…255); NULL if the system refuses one.
ember_pool *ember_pool_create(int32_t workers);
/// Stops and joins the workers.
void ember_pool_destroy(ember_pool *pool);
/// Workers + the caller.
int32_t ember_pool_threads(const ember_pool *pool);
/// Runs task(context, i) for i in [0, count) on up to P = min(threads, count, ember_pool_threads)
/// threads — the caller and workers 1 … P − 1 each claim parts not yet taken, their own index first
/// (so a layer's band i runs where the previous layer's band i did), and the caller runs every part no
/// worker got to in time — and returns when all have finished. A NULL pool, or
/// P = 1, runs them in turn on the caller. One job at a time: a pool belongs to one session, used
/// from one thread at a time.
void ember_pool_run(ember_pool *pool, void (*task)(void *context, int32_t index), void *context, int32_t count,
                    int32_t threads);

#ifdef __cplusplus
}
#endif
#endif
