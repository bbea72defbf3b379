// See include/allocation_counter.h. glibc only (uses __libc_malloc and friends).
#define _GNU_SOURCE
#include "allocation_counter.h"
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static _Thread_local int counting;
static _Thread_local int64_t count;
static _Thread_local int64_t seen_ever;

static inline void note(void) {
  seen_ever++;
  if (counting) count++;
}

void *malloc(size_t n) { note(); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { note(); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { note(); return __libc_realloc(p, n); }
void *memalign(size_t align, size_t n) { note(); return __libc_memalign(align, n); }
void *aligned_alloc(size_t align, size_t n) { note(); return __libc_memalign(align, n); }
int posix_memalign(void **out, size_t align, size_t n) {
  note();
  if (align < sizeof(void *) || (align & (align - 1)) != 0) return EINVAL;
  void *p = __libc_memalign(align, n);
  if (p == NULL && n != 0) return ENOMEM;
  *out = p;
  return 0;
}
void free(void *p) { __libc_free(p); }

void ember_alloc_counter_start(void) { count = 0; counting = 1; }
int64_t ember_alloc_counter_stop(void) { counting = 0; return count; }
int ember_alloc_counter_is_active(void) {
  int64_t before = seen_ever;
  void *volatile p = malloc(16);
  free(p);
  return seen_ever > before;
}
