/* LD_PRELOAD allocation counter for bench/forward.py: counts malloc/calloc/realloc/free
 * calls per thread of a process that was not built for it (the real sfu-worker), into a
 * shared file a driver reads at the start and end of its window.
 *
 *   SFU_ALLOC_SHIM_OUT=/tmp/x LD_PRELOAD=build/bench/libsfu_alloc_shim.so sfu-worker ...
 *
 * File layout (little-endian, read by bench/forward.py): a header of two uint64 (magic
 * "ALLOCSHM", slots in use), then SHIM_SLOTS slots of {int64 tid, uint64 malloc, calloc,
 * realloc, free}. A thread takes a slot at its first call; each slot is written by its own
 * thread only (8-byte aligned stores: a reader sees whole values). glibc keeps the real
 * allocator reachable as __libc_*, as in alloc_count.c.
 *
 * SFU_SHIM_NO_GSO=1 also answers the worker's UDP GSO probe (getsockopt UDP_SEGMENT,
 * src/worker/udp_io.c) with ENOPROTOOPT, as a kernel before 4.18 would: the same worker
 * then sends with plain sendmmsg, for a with/without comparison. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

#define SHIM_SLOTS 256

typedef struct {
  int64_t tid;
  uint64_t n[4]; /* malloc, calloc, realloc, free */
} shim_slot_t;

typedef struct {
  char magic[8];
  _Atomic uint64_t used;
  shim_slot_t slot[SHIM_SLOTS];
} shim_file_t;

static shim_file_t *g_file;
static int g_no_gso; /* NULL until the constructor ran (and if the env is unset) */
static __thread shim_slot_t *t_slot __attribute__((tls_model("initial-exec")));

__attribute__((constructor)) static void shim_init(void) {
  const char *ng = getenv("SFU_SHIM_NO_GSO");
  g_no_gso = ng && ng[0] == '1';
  const char *path = getenv("SFU_ALLOC_SHIM_OUT");
  if (!path) return;
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  if (ftruncate(fd, sizeof(shim_file_t)) == 0) {
    void *m = mmap(NULL, sizeof(shim_file_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m != MAP_FAILED) {
      shim_file_t *f = m;
      for (int i = 0; i < 8; i++) f->magic[i] = "ALLOCSHM"[i];
      g_file = f;
    }
  }
  close(fd);
}

static inline void count(int k) {
  shim_slot_t *s = t_slot;
  if (!s) {
    if (!g_file) return;
    uint64_t i = atomic_fetch_add(&g_file->used, 1);
    if (i >= SHIM_SLOTS) return; /* more threads than slots: not counted */
    s = &g_file->slot[i];
    s->tid = (int64_t)syscall(SYS_gettid);
    t_slot = s;
  }
  s->n[k]++;
}

void *malloc(size_t n) {
  count(0);
  return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
  count(1);
  return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
  count(2);
  return __libc_realloc(p, n);
}
void free(void *p) {
  if (p) count(3);
  __libc_free(p);
}

int getsockopt(int fd, int level, int name, void *val, socklen_t *len) {
  if (g_no_gso && level == 17 /* SOL_UDP */ && name == 103 /* UDP_SEGMENT */) {
    errno = ENOPROTOOPT;
    return -1;
  }
  return (int)syscall(SYS_getsockopt, fd, level, name, val, len);
}
