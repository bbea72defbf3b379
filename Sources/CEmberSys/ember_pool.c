// A persistent worker pool for splitting one kernel across threads (see include/ember_sys.h).
// Workers spin for a short while after each job, so the next layer of the same inference starts
// without a wake-up; then they sleep on a condition variable, so an idle session costs no CPU.
// Parts are claimed, not assigned: the caller and the workers take unclaimed parts until none is left,
// so a worker that is asleep or descheduled when a job starts (a wake-up can take hundreds of
// microseconds on a virtual machine) never holds the job up — the caller runs its parts too. Each
// thread first claims the part of its own index (caller 0, worker k part k) when it is free: a row
// band of one layer then runs on the core that computed (and holds in its cache) the same band of the
// layer before, instead of whichever thread won the race (vww96_int8 on two threads: 1-2 % faster,
// five interleaved runs).
// Nothing here allocates after ember_pool_create.
#define _GNU_SOURCE
#include "ember_sys.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

// About 50 µs of spinning before a worker sleeps (and before the caller starts yielding).
#define EMBER_POOL_SPINS 2000

struct ember_pool {
  int32_t workers;
  pthread_t *threads;
  // The job: generation << 32 | its claims: for up to 32 parts a mask of those claimed, for more the
  // index of the next unclaimed one. A part is claimed by a compare-and-swap that also checks the
  // generation, so a late worker cannot claim a part of a newer job with the task it read for an
  // older one (the job's fields are read between the load and the swap, and a job's fields change
  // only after all its parts were claimed, which fails that swap).
  _Atomic uint64_t work;
  _Atomic int32_t done;  // parts of the current job finished
  _Atomic int32_t stopping;
  void (*_Atomic task)(void *, int32_t);
  void *_Atomic context;
  _Atomic int32_t count, participants;
  _Atomic int32_t sleepers;  // workers waiting (or about to wait) on `wake`; changed under `mutex`
  pthread_mutex_t mutex;
  pthread_cond_t wake;
};

typedef struct {
  struct ember_pool *pool;
  int32_t index;  // 1 … workers (the caller is 0); a worker takes part only when index < participants
} worker_start;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

/// Parts a claim mask can track (more run in index order).
#define EMBER_POOL_MASK_PARTS 32

/// Claims and runs parts of job `generation` until none is left (or a newer job started): part `own`
/// first when it is free, then the lowest free one.
static void run_parts(struct ember_pool *p, uint32_t generation, int32_t own) {
  uint64_t w = atomic_load_explicit(&p->work, memory_order_acquire);
  for (;;) {
    if ((uint32_t)(w >> 32) != generation) return;
    void (*task)(void *, int32_t) = atomic_load_explicit(&p->task, memory_order_relaxed);
    void *context = atomic_load_explicit(&p->context, memory_order_relaxed);
    const int32_t count = atomic_load_explicit(&p->count, memory_order_relaxed);
    const uint32_t claims = (uint32_t)w;
    int32_t index;
    uint64_t claimed;
    if (count <= EMBER_POOL_MASK_PARTS) {
      const uint32_t all = count == 32 ? 0xFFFFFFFFu : (1u << count) - 1;
      if ((claims & all) == all) return;
      index = own < count && !(claims >> own & 1) ? own : __builtin_ctz(~claims);
      claimed = w | (uint64_t)1 << index;
    } else {
      index = (int32_t)claims;
      if (index >= count) return;
      claimed = w + 1;
    }
    if (!atomic_compare_exchange_weak_explicit(&p->work, &w, claimed, memory_order_acq_rel, memory_order_acquire))
      continue;  // w now holds the current word: retry
    task(context, index);
    atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
    w = atomic_load_explicit(&p->work, memory_order_acquire);
  }
}

static void *worker_main(void *arg) {
  worker_start start = *(worker_start *)arg;
  free(arg);
  struct ember_pool *p = start.pool;
  uint32_t seen = 0;
  for (;;) {
    uint32_t g = (uint32_t)(atomic_load_explicit(&p->work, memory_order_acquire) >> 32);
    for (int spin = 0; g == seen && spin < EMBER_POOL_SPINS && !atomic_load(&p->stopping); ++spin) {
      cpu_relax();
      g = (uint32_t)(atomic_load_explicit(&p->work, memory_order_acquire) >> 32);
    }
    if (g == seen) {
      pthread_mutex_lock(&p->mutex);
      // Counted before the job word is read again (both sequentially consistent): a caller that
      // publishes a job after this read sees the sleeper and broadcasts under the mutex.
      atomic_fetch_add(&p->sleepers, 1);
      while ((g = (uint32_t)(atomic_load(&p->work) >> 32)) == seen && !atomic_load(&p->stopping))
        pthread_cond_wait(&p->wake, &p->mutex);
      atomic_fetch_sub(&p->sleepers, 1);
      pthread_mutex_unlock(&p->mutex);
    }
    if (atomic_load(&p->stopping)) return NULL;
    seen = g;
    if (start.index < atomic_load_explicit(&p->participants, memory_order_relaxed)) run_parts(p, g, start.index);
  }
}

ember_pool *ember_pool_create(int32_t workers) {
  if (workers < 1 || workers > 255) return NULL;
  struct ember_pool *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->threads = calloc((size_t)workers, sizeof(pthread_t));
  if (!p->threads) { free(p); return NULL; }
  pthread_mutex_init(&p->mutex, NULL);
  pthread_cond_init(&p->wake, NULL);
  for (int32_t i = 0; i < workers; ++i) {
    worker_start *start = malloc(sizeof *start);
    if (start) { start->pool = p; start->index = i + 1; }
    if (!start || pthread_create(&p->threads[i], NULL, worker_main, start) != 0) {
      free(start);
      p->workers = i;
      ember_pool_destroy(p);
      return NULL;
    }
    p->workers = i + 1;
  }
  return p;
}

void ember_pool_destroy(ember_pool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mutex);
  atomic_store(&p->stopping, 1);
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mutex);
  for (int32_t i = 0; i < p->workers; ++i) pthread_join(p->threads[i], NULL);
  pthread_cond_destroy(&p->wake);
  pthread_mutex_destroy(&p->mutex);
  free(p->threads);
  free(p);
}

int32_t ember_pool_threads(const ember_pool *p) { return p ? p->workers + 1 : 1; }

void ember_pool_run(ember_pool *p, void (*task)(void *context, int32_t index), void *context, int32_t count,
                    int32_t threads) {
  int32_t participants = threads < count ? threads : count;
  if (p && participants > p->workers + 1) participants = p->workers + 1;
  if (!p || participants <= 1) {
    for (int32_t i = 0; i < count; ++i) task(context, i);
    return;
  }
  // The previous job's parts were all claimed and finished: its fields can change.
  atomic_store_explicit(&p->task, task, memory_order_relaxed);
  atomic_store_explicit(&p->context, context, memory_order_relaxed);
  atomic_store_explicit(&p->count, count, memory_order_relaxed);
  atomic_store_explicit(&p->participants, participants, memory_order_relaxed);
  atomic_store_explicit(&p->done, 0, memory_order_relaxed);
  const uint32_t generation = (uint32_t)(atomic_load_explicit(&p->work, memory_order_relaxed) >> 32) + 1;
  atomic_store(&p->work, (uint64_t)generation << 32);
  // Spinning workers see the job word; only sleeping ones need the condition variable (a lock and a
  // broadcast cost more than a small layer's part). A worker about to sleep counted itself before it
  // re-reads the word, so one of the two sequentially consistent accesses sees the other.
  if (atomic_load(&p->sleepers) > 0) {
    pthread_mutex_lock(&p->mutex);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mutex);
  }
  run_parts(p, generation, 0);
  // Only parts a worker claimed and is running are left.
  for (int spin = 0; atomic_load_explicit(&p->done, memory_order_acquire) < count; ++spin) {
    if (spin < EMBER_POOL_SPINS) cpu_relax(); else sched_yield();
  }
}
