// A persistent worker pool for splitting one kernel across threads (see include/ember_sys.h).
// Workers spin for a short while after each job, so the next layer of the same inference starts
// without a wake-up; then they sleep on a condition variable, so an idle session costs no CPU.
// Nothing here allocates after ember_pool_create.
#define _GNU_SOURCE
#include "ember_sys.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

// About 50 µs of spinning before a worker sleeps (and before the caller starts yielding).
#define EMBER_POOL_SPINS 2000

struct ember_pool {
  int32_t workers;
  pthread_t *threads;
  _Atomic uint32_t generation;  // bumped once per job; workers run the job whose generation they see
  _Atomic int32_t pending;      // workers that have not finished the current job
  _Atomic int32_t stopping;
  void (*task)(void *, int32_t);
  void *context;
  int32_t count, participants;
  pthread_mutex_t mutex;
  pthread_cond_t wake;
};

typedef struct {
  struct ember_pool *pool;
  int32_t index;  // the task this worker runs: 1 … workers (the caller runs 0)
} worker_start;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

static void *worker_main(void *arg) {
  worker_start start = *(worker_start *)arg;
  free(arg);
  struct ember_pool *p = start.pool;
  uint32_t seen = 0;
  for (;;) {
    uint32_t g = atomic_load_explicit(&p->generation, memory_order_acquire);
    for (int spin = 0; g == seen && spin < EMBER_POOL_SPINS && !atomic_load(&p->stopping); ++spin) {
      cpu_relax();
      g = atomic_load_explicit(&p->generation, memory_order_acquire);
    }
    if (g == seen) {
      pthread_mutex_lock(&p->mutex);
      while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen && !atomic_load(&p->stopping))
        pthread_cond_wait(&p->wake, &p->mutex);
      pthread_mutex_unlock(&p->mutex);
    }
    if (atomic_load(&p->stopping)) return NULL;
    seen = g;
    for (int32_t i = start.index; start.index < p->participants && i < p->count; i += p->participants)
      p->task(p->context, i);
    atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
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
  p->task = task;
  p->context = context;
  p->count = count;
  p->participants = participants;
  atomic_store_explicit(&p->pending, p->workers, memory_order_relaxed);
  pthread_mutex_lock(&p->mutex);
  atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mutex);
  for (int32_t i = 0; i < count; i += participants) task(context, i);
  for (int spin = 0; atomic_load_explicit(&p->pending, memory_order_acquire) > 0; ++spin) {
    if (spin < EMBER_POOL_SPINS) cpu_relax(); else sched_yield();
  }
}
