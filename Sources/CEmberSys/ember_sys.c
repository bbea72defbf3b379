// See include/ember_sys.h. Everything the signal handler touches is a
// lock-free slot table; it calls only mmap, mremap, mprotect, fcntl and memcpy.
#define _GNU_SOURCE
#include "ember_sys.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define EMBER_MAX_LEASES 256

enum { SLOT_FREE = 0, SLOT_SETUP = 1, SLOT_LEASED = 2, SLOT_COPYING = 3, SLOT_COPIED = 4, SLOT_COPY_FAILED = 5, SLOT_CLOSING = 6,
       SLOT_BROKEN_IN_SETUP = 7 };

typedef struct {
    _Atomic int state;
    /// Set once the copy is in place, before the lease is released (and the writer's open returns),
    /// while `state` still says COPYING so that an unmap waits for the handler to finish with fd.
    _Atomic int copied;
    int fd;
    void *address;
    size_t length;
} lease_slot;

static lease_slot slots[EMBER_MAX_LEASES];
static _Atomic uint64_t breaks;
static struct sigaction previous;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int install_errno;

static int lease_signal(void) { return SIGRTMIN + 6; }

/// Replaces the mapping of `s` with a private copy of its bytes; returns 0 or -1.
static int replace_with_copy(lease_slot *s) {
    void *copy = mmap(NULL, s->length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (copy == MAP_FAILED) return -1;
    memcpy(copy, s->address, s->length);
    mprotect(copy, s->length, PROT_READ);
    // Atomically puts the copy where the file's pages were: readers on other
    // threads see the same bytes before and after.
    if (mremap(copy, s->length, s->length, MREMAP_MAYMOVE | MREMAP_FIXED, s->address) == MAP_FAILED) {
        munmap(copy, s->length);
        return -1;
    }
    return 0;
}

static void on_lease_break(int sig, siginfo_t *info, void *context) {
    int saved = errno;
    int handled = 0;
    for (int i = 0; i < EMBER_MAX_LEASES; i++) {
        lease_slot *s = &slots[i];
        int expected = SLOT_SETUP;
        if (s->fd != info->si_fd) continue;
        // Broken before anything was mapped: let the writer go; the setup sees it and gives up.
        if (atomic_compare_exchange_strong(&s->state, &expected, SLOT_BROKEN_IN_SETUP)) {
            fcntl(s->fd, F_SETLEASE, F_UNLCK);
            handled = 1;
            continue;
        }
        expected = SLOT_LEASED;
        if (atomic_load(&s->state) != SLOT_LEASED) continue;
        if (!atomic_compare_exchange_strong(&s->state, &expected, SLOT_COPYING)) continue;
        int ok = replace_with_copy(s) == 0;
        if (ok) atomic_fetch_add(&breaks, 1);
        atomic_store(&s->copied, ok ? 1 : -1);
        // Release either way: holding on only delays the writer by the kernel's
        // lease-break-time; with no copy the old pages stay until they are reclaimed.
        fcntl(s->fd, F_SETLEASE, F_UNLCK);
        atomic_store(&s->state, ok ? SLOT_COPIED : SLOT_COPY_FAILED);
        handled = 1;
    }
    if (!handled) {
        if ((previous.sa_flags & SA_SIGINFO) && previous.sa_sigaction) previous.sa_sigaction(sig, info, context);
        else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN && previous.sa_handler) previous.sa_handler(sig);
    }
    errno = saved;
}

static void install_handler(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_lease_break;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(lease_signal(), &sa, &previous) != 0) install_errno = errno;
}

int ember_leased_map(int fd, size_t max_length, const void **address, size_t *length, int *slot) {
    pthread_once(&install_once, install_handler);
    if (install_errno) return install_errno;
    int index = -1;
    for (int i = 0; i < EMBER_MAX_LEASES && index < 0; i++) {
        int expected = SLOT_FREE;
        if (atomic_compare_exchange_strong(&slots[i].state, &expected, SLOT_SETUP)) { atomic_store(&slots[i].copied, 0); index = i; }
    }
    if (index < 0) return ENOSPC;
    lease_slot *s = &slots[index];
    s->fd = fd;
    s->address = NULL;
    s->length = 0;
    // 1. The lease first: from here on no writer can change or truncate the file
    //    without breaking it (which the handler records in the slot).
    if (fcntl(fd, F_SETSIG, lease_signal()) != 0 || fcntl(fd, F_SETLEASE, F_RDLCK) != 0) {
        int e = errno;
        s->fd = -1;
        atomic_store(&s->state, SLOT_FREE);
        return e;
    }
    // 2. Then the size and the mapping, of the file as the lease protects it.
    struct stat st;
    int e = 0;
    void *p = MAP_FAILED;
    if (fstat(fd, &st) != 0) e = errno;
    else if (st.st_size <= 0) e = EINVAL;
    else if ((uint64_t)st.st_size > (uint64_t)max_length) e = EFBIG;
    else if ((p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED) e = errno;
    if (e == 0) {
        s->address = p;
        s->length = (size_t)st.st_size;
        int expected = SLOT_SETUP;
        // 3. A break during steps 1–2 means the size or bytes may already be stale: give up.
        if (!atomic_compare_exchange_strong(&s->state, &expected, SLOT_LEASED)) e = EAGAIN;
    }
    if (e != 0) {
        if (p != MAP_FAILED) munmap(p, (size_t)st.st_size);
        fcntl(fd, F_SETLEASE, F_UNLCK);
        s->fd = -1;
        s->address = NULL;
        atomic_store(&s->state, SLOT_FREE);
        return e;
    }
    *address = p;
    *length = (size_t)st.st_size;
    *slot = index;
    return 0;
}

void ember_leased_unmap(int slot) {
    if (slot < 0 || slot >= EMBER_MAX_LEASES) return;
    lease_slot *s = &slots[slot];
    for (;;) {
        int state = atomic_load(&s->state);
        if (state == SLOT_COPYING) { sched_yield(); continue; }
        if (state == SLOT_FREE || state == SLOT_SETUP || state == SLOT_CLOSING || state == SLOT_BROKEN_IN_SETUP) return;
        if (atomic_compare_exchange_strong(&s->state, &state, SLOT_CLOSING)) {
            if (state == SLOT_LEASED) fcntl(s->fd, F_SETLEASE, F_UNLCK);
            break;
        }
    }
    close(s->fd);
    munmap(s->address, s->length);
    s->fd = -1;
    s->address = NULL;
    s->length = 0;
    atomic_store(&s->state, SLOT_FREE);
}

int ember_leased_state(int slot) {
    if (slot < 0 || slot >= EMBER_MAX_LEASES) return 0;
    const int state = atomic_load(&slots[slot].state);
    // The writer may already be past its open while the handler is still releasing the lease.
    if (state == SLOT_COPYING && atomic_load(&slots[slot].copied) != 0) return atomic_load(&slots[slot].copied) > 0 ? 2 : 3;
    switch (state) {
    case SLOT_LEASED: return 1;
    case SLOT_COPIED: return 2;
    case SLOT_COPY_FAILED: return 3;
    default: return 0;
    }
}

uint64_t ember_lease_breaks(void) { return atomic_load(&breaks); }

int ember_private_copy(int fd, size_t length, const void **address) {
    if (length == 0) return EINVAL;
    unsigned char *p = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return errno;
    size_t done = 0;
    while (done < length) {
        ssize_t n = pread(fd, p + done, length - done, (off_t)done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            munmap(p, length);
            return e;
        }
        done += (size_t)n;
    }
    mprotect(p, length, PROT_READ);
    *address = p;
    return 0;
}

void ember_private_unmap(const void *address, size_t length) {
    if (address && length) munmap((void *)address, length);
}
