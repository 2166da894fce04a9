/* Private helpers shared by sdp_parse.c and sdp_answer.c: a bump arena (one allocation
 * per parsed offer / negotiated answer) and a growable text buffer for the answer.
 * Not thread-shared: each object lives on one thread (see sfu/sdp.h). */
#ifndef SFU_PROTO_SDP_INTERNAL_H
#define SFU_PROTO_SDP_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Bump allocator over one caller-allocated block. Owned by whoever owns the block. */
typedef struct {
  char *base;
  size_t cap, used;
} sfu_sdp_arena_t;

/* 8-byte aligned block of n bytes, zeroed; NULL when the arena is exhausted (the size is
 * computed up front from the input, so this means a bug or a hostile input the bound
 * did not foresee: the caller turns it into SFU_ELIMIT, never a crash). */
static inline void *sfu_sdp_arena_alloc(sfu_sdp_arena_t *a, size_t n) {
  size_t off = (a->used + 7u) & ~(size_t)7u;
  if (off > a->cap || n > a->cap - off) return NULL;
  a->used = off + n;
  memset(a->base + off, 0, n);
  return a->base + off;
}

/* NUL-terminated copy of p[0..n). */
static inline char *sfu_sdp_arena_strn(sfu_sdp_arena_t *a, const char *p, size_t n) {
  if (a->used > a->cap || n + 1 > a->cap - a->used) return NULL;
  char *s = a->base + a->used;
  memcpy(s, p, n);
  s[n] = '\0';
  a->used += n + 1;
  return s;
}

/* Growable string for the answer text (malloc/realloc; one per answer, not per packet). */
typedef struct {
  char *buf;
  size_t len, cap;
  int oom;   /* sticky: set once an allocation failed; all later appends are no-ops */
} sfu_sdp_sb_t;

void sfu_sdp_sb_printf(sfu_sdp_sb_t *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Writes "fmt..." into err (if errlen) and returns code. */
int sfu_sdp_err(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
