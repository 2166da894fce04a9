/* Private helpers shared by sdp_parse.c, sdp_answer.c and sdp_fmtp.c: a bump arena (one
 * allocation per parsed offer / negotiated answer), a growable text buffer for the answer,
 * and the fmtp parameters the answer states.
 * Not thread-shared: each object lives on one thread (see sfu/sdp.h). */
#ifndef SFU_PROTO_SDP_INTERNAL_H
#define SFU_PROTO_SDP_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sfu/sdp.h"

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

/* ---- a=fmtp (sdp_fmtp.c) ---- */

/* Longest a=fmtp the answer writes for one payload type (the longest possible, H.264's
 * three parameters, is about 70 bytes). */
#define SFU_SDP_FMTP_ANSWER_MAX 128

/* The value of `key` (case-insensitive) in an offered "k=v;k=v" string, spaces around
 * parts ignored, copied into out; 0 if found and it fits, else -1. */
int sfu_sdp_fmtp_value(const char *fmtp, const char *key, char *out, size_t cap);

/* The a=fmtp value the answer states for codec ("opus", "H264", "VP9", "AV1", "VP8": the
 * canonical names of sfu_sdp_neg_codec_t) given the offered one (may be NULL): only the
 * parameters the worker understands, with checked values, "k=v;k=v". Writes at most cap
 * bytes with the NUL, never a cut parameter; returns the length (0: no a=fmtp line). */
size_t sfu_sdp_fmtp_answer(const char *codec, const char *offered, char *out, size_t cap);

/* Opus (RFC 7587 §6.1) parameters of an OFFERED fmtp (may be NULL) into n's opus_*
 * fields; malformed or out-of-range values count as absent. */
void sfu_sdp_fmtp_opus_offered(const char *fmtp, sfu_sdp_neg_codec_t *n);

/* The worker's own Opus fmtp for an answer with an audio plan entry (RFC 7587 §7.1), from
 * what the client offered (n's opus_* fields). Same contract as sfu_sdp_fmtp_answer. */
size_t sfu_sdp_fmtp_opus_worker(const sfu_sdp_neg_codec_t *n, char *out, size_t cap);

/* 0 if an offered red (RFC 2198) fmtp names only opus_pt ("111/111"), with the fmtp to
 * answer in out; -1 otherwise (another or no payload type, garbage, > 8 levels). */
int sfu_sdp_fmtp_red_ok(const char *fmtp, int opus_pt, char *out, size_t cap);

/* Writes "fmt..." into err (if errlen) and returns code. */
int sfu_sdp_err(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
