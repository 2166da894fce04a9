/* Per-SSRC SRTP/SRTCP state of one direction: rollover counter estimation (RFC 3711
 * §3.3.1, Appendix A) and replay windows (§3.3.2, §3.4). Owner and thread: see
 * srtp_internal.h. */
#include <stdlib.h>
#include <string.h>

#include "proto/srtp_internal.h"
#include "sfu/err.h"

#define INITIAL_CAP 4u

int sfu_srtp_streams_init(sfu_srtp_streams_t *t, unsigned max) {
  memset(t, 0, sizeof *t);
  t->max = max;
  t->cap = INITIAL_CAP < max ? INITIAL_CAP : max;
  t->ssrc = calloc(t->cap, sizeof *t->ssrc);
  t->st = calloc(t->cap, sizeof *t->st);
  if (!t->ssrc || !t->st) {
    sfu_srtp_streams_free(t);
    return SFU_ENOMEM;
  }
  return 0;
}

void sfu_srtp_streams_free(sfu_srtp_streams_t *t) {
  free(t->ssrc);
  free(t->st);
  memset(t, 0, sizeof *t);
}

sfu_srtp_stream_t *sfu_srtp_streams_find(sfu_srtp_streams_t *t, uint32_t ssrc) {
  /* Linear: a transport carries a handful of SSRCs per direction (audio, video layers,
   * RTX), so one or two cache lines of keys beat a hash; `last` catches runs. */
  if (t->last < t->n && t->ssrc[t->last] == ssrc) return &t->st[t->last];
  for (unsigned i = 0; i < t->n; i++)
    if (t->ssrc[i] == ssrc) {
      t->last = i;
      return &t->st[i];
    }
  return NULL;
}

int sfu_srtp_streams_add(sfu_srtp_streams_t *t, uint32_t ssrc, sfu_srtp_stream_t **out) {
  if (t->n >= t->max) return SFU_ELIMIT;
  if (t->n == t->cap) { /* a new SSRC beyond cap: the only allocation, amortised */
    unsigned cap = t->cap * 2 < t->max ? t->cap * 2 : t->max;
    uint32_t *k = realloc(t->ssrc, cap * sizeof *k);
    if (!k) return SFU_ENOMEM;
    t->ssrc = k;
    sfu_srtp_stream_t *s = realloc(t->st, cap * sizeof *s);
    if (!s) return SFU_ENOMEM;
    t->st = s;
    t->cap = cap;
  }
  t->ssrc[t->n] = ssrc;
  memset(&t->st[t->n], 0, sizeof t->st[t->n]);
  t->last = t->n;
  *out = &t->st[t->n++];
  return 0;
}

int sfu_srtp_streams_remove(sfu_srtp_streams_t *t, uint32_t ssrc) {
  for (unsigned i = 0; i < t->n; i++) {
    if (t->ssrc[i] != ssrc) continue;
    t->n--;
    t->ssrc[i] = t->ssrc[t->n]; /* swap the last one in: order does not matter */
    t->st[i] = t->st[t->n];
    memset(&t->st[t->n], 0, sizeof t->st[t->n]);
    t->last = 0;
    return 0;
  }
  return SFU_ENOENT;
}

uint64_t sfu_srtp_estimate_index(uint64_t top, uint16_t seq) {
  /* RFC 3711 Appendix A: with s_l the highest sequence number and ROC its rollover
   * counter, v = ROC - 1 if seq is far above s_l (a late packet from before the last
   * wrap), ROC + 1 if far below (the sequence wrapped), ROC otherwise; i = 2^16 v + SEQ.
   * While the top index is below 2^15 ROC is 0 and cannot go to -1 (as libsrtp does). */
  if (top <= 0x8000) return seq;
  uint64_t roc = top >> 16;
  uint32_t s_l = (uint32_t)(top & 0xffff);
  if (s_l < 0x8000) {
    if (seq > s_l + 0x8000u && roc > 0) roc--;
  } else if (seq < s_l - 0x8000u) {
    roc++;
  }
  return (roc << 16) | seq;
}

int sfu_srtp_window_check(const uint64_t *win, unsigned bits, uint64_t top, int seen,
                          uint64_t idx) {
  /* RFC 3711 §3.3.2: a packet newer than the top is fresh; one older than the window is
   * rejected ("too old"); inside the window, rejected if its bit is set. */
  if (!seen || idx > top) return 0;
  if (top - idx >= bits) return SFU_EREPLAY;
  uint64_t b = idx & (bits - 1);
  return (win[b >> 6] >> (b & 63)) & 1 ? SFU_EREPLAY : 0;
}

void sfu_srtp_window_add(uint64_t *win, unsigned bits, uint64_t *top, uint8_t *seen,
                         uint64_t idx) {
  if (!*seen || idx > *top) {
    /* The window slides: clear the bits of the indexes it now covers (a ring indexed by
     * i mod bits, so that sliding by one costs one bit, not a shift of the whole map). */
    uint64_t d = *seen ? idx - *top : bits;
    if (d >= bits) {
      memset(win, 0, bits / 8);
    } else {
      for (uint64_t i = *top + 1; i < idx; i++) {
        uint64_t b = i & (bits - 1);
        win[b >> 6] &= ~(1ull << (b & 63));
      }
    }
    *top = idx;
    *seen = 1;
  }
  uint64_t b = idx & (bits - 1);
  win[b >> 6] |= 1ull << (b & 63);
}
