/* Per-SSRC SRTP/SRTCP state of one direction: the bounded table of live streams, the
 * tombstones of ended ones, rollover counter estimation (RFC 3711 §3.3.1, Appendix A),
 * replay windows (§3.3.2, §3.4) and the sender's repeat guard. Owner and thread: see
 * srtp_internal.h. */
#include <stdlib.h>
#include <string.h>

#include "proto/srtp_internal.h"
#include "sfu/err.h"

#define INITIAL_CAP 4u
#define INITIAL_TOMBS 16u
#define TOMB_SEEN_RTP (1ull << 63)
#define TOMB_SEEN_RTCP (1u << 31)

int sfu_srtp_streams_init(sfu_srtp_streams_t *t, unsigned max, int outbound) {
  memset(t, 0, sizeof *t);
  t->max = max;
  t->cap = INITIAL_CAP < max ? INITIAL_CAP : max;
  t->ssrc = calloc(t->cap, sizeof *t->ssrc);
  t->st = calloc(t->cap, sizeof *t->st);
  if (outbound) t->tags = calloc((size_t)t->cap * SFU_SRTP_TX_TAGS, sizeof *t->tags);
  if (!t->ssrc || !t->st || (outbound && !t->tags)) {
    sfu_srtp_streams_free(t);
    return SFU_ENOMEM;
  }
  return 0;
}

void sfu_srtp_streams_free(sfu_srtp_streams_t *t) {
  free(t->ssrc);
  free(t->st);
  free(t->tags);
  free(t->tomb_ssrc);
  free(t->tomb);
  memset(t, 0, sizeof *t);
}

sfu_srtp_stream_t *sfu_srtp_streams_find(sfu_srtp_streams_t *t, uint32_t ssrc) {
  /* Linear: a transport carries a handful of SSRCs per direction (audio, video layers,
   * RTX), so one or two cache lines of keys beat a hash; `last` catches runs. The LRU
   * stamp is one store into a line the caller reads anyway. */
  unsigned i = t->last;
  if (i >= t->n || t->ssrc[i] != ssrc) {
    for (i = 0; i < t->n && t->ssrc[i] != ssrc; i++) {
    }
    if (i == t->n) return NULL;
    t->last = i;
  }
  t->st[i].used = ++t->clock;
  return &t->st[i];
}

/* ---- tombstones ---- */

static int tomb_find(const sfu_srtp_streams_t *t, uint32_t ssrc) {
  /* O(tombstones), at most SFU_SRTP_MAX_TOMBS keys (4 KiB): only for a packet of an SSRC
   * with no live state, and only once streams have ended on this transport. */
  for (unsigned i = 0; i < t->ntomb; i++)
    if (t->tomb_ssrc[i] == ssrc) return (int)i;
  return -1;
}

/* Shrinks stream i to a tombstone: replaces the SSRC's old one, else takes a new slot, or
 * (the ring full) the oldest. Allocation failure: the tombstone is lost, not the caller's
 * operation (only replay protection of an ended SSRC is at stake, as after overflow). */
static void bury(sfu_srtp_streams_t *t, unsigned i) {
  const sfu_srtp_stream_t *st = &t->st[i];
  int k = tomb_find(t, t->ssrc[i]);
  if (k < 0 && t->ntomb < t->tomb_cap) k = (int)t->ntomb++;
  if (k < 0 && t->tomb_cap < SFU_SRTP_MAX_TOMBS) {
    unsigned cap = t->tomb_cap ? t->tomb_cap * 2 : INITIAL_TOMBS;
    if (cap > SFU_SRTP_MAX_TOMBS) cap = SFU_SRTP_MAX_TOMBS;
    uint32_t *ks = realloc(t->tomb_ssrc, cap * sizeof *ks);
    if (ks) t->tomb_ssrc = ks;
    sfu_srtp_tomb_t *ts = ks ? realloc(t->tomb, cap * sizeof *ts) : NULL;
    if (!ts) return;
    t->tomb = ts;
    t->tomb_cap = cap;
    k = (int)t->ntomb++;
  }
  if (k < 0) { /* full: the oldest tombstone goes (a ring, so FIFO) */
    k = (int)t->tomb_next;
    t->tomb_next = (t->tomb_next + 1) % t->tomb_cap;
  }
  t->tomb_ssrc[k] = t->ssrc[i];
  /* Outbound streams count SRTCP in rtcp_top alone; any index sent is "seen". */
  int rtcp_seen = st->rtcp_seen || st->rtcp_top;
  t->tomb[k].rtp = st->rtp_seen ? TOMB_SEEN_RTP | st->rtp_top : 0;
  t->tomb[k].rtcp = rtcp_seen ? TOMB_SEEN_RTCP | st->rtcp_top : 0;
}

void sfu_srtp_streams_fresh(const sfu_srtp_streams_t *t, uint32_t ssrc, sfu_srtp_stream_t *out) {
  memset(out, 0, sizeof *out);
  int k = tomb_find(t, ssrc);
  if (k < 0) return;
  /* Back from a tombstone: every index up to the highest one counts as seen (inbound:
   * replays; outbound: used, with no digest to allow a repeat), and the ROC continues. */
  const sfu_srtp_tomb_t *tb = &t->tomb[k];
  if (tb->rtp & TOMB_SEEN_RTP) {
    out->rtp_top = tb->rtp & ~TOMB_SEEN_RTP;
    out->rtp_seen = out->rtp_restored = 1;
    memset(out->rtp_win, 0xff, sizeof out->rtp_win);
  }
  if (tb->rtcp & TOMB_SEEN_RTCP) {
    out->rtcp_top = tb->rtcp & ~TOMB_SEEN_RTCP;
    out->rtcp_seen = out->rtcp_restored = 1;
    memset(out->rtcp_win, 0xff, sizeof out->rtcp_win);
  }
}

/* ---- live streams ---- */

static int grow(sfu_srtp_streams_t *t) {
  unsigned cap = t->cap * 2 < t->max ? t->cap * 2 : t->max;
  uint32_t *k = realloc(t->ssrc, cap * sizeof *k);
  if (!k) return SFU_ENOMEM;
  t->ssrc = k;
  sfu_srtp_stream_t *s = realloc(t->st, cap * sizeof *s);
  if (!s) return SFU_ENOMEM;
  t->st = s;
  if (t->tags) {
    uint64_t *g = realloc(t->tags, (size_t)cap * SFU_SRTP_TX_TAGS * sizeof *g);
    if (!g) return SFU_ENOMEM;
    t->tags = g;
  }
  t->cap = cap;
  return 0;
}

int sfu_srtp_streams_add(sfu_srtp_streams_t *t, uint32_t ssrc, const sfu_srtp_stream_t *init,
                         sfu_srtp_stream_t **out, uint32_t *evicted) {
  unsigned i = t->n;
  int rc = 0;
  if (t->n == t->max) {
    /* Full: the least recently used stream goes to a tombstone and its slot is reused.
     * O(max), once per new SSRC on a full table. Why evicting is safe: only an
     * authenticated packet gets here (nobody without the keys evicts anything), and the
     * tombstone keeps what security needs — the highest indexes — so the evicted SSRC's
     * old packets stay replays and its indexes are never protected twice; only a packet
     * reordered within the window at the moment of eviction is lost. */
    i = 0;
    for (unsigned j = 1; j < t->n; j++)
      if (t->st[j].used < t->st[i].used) i = j;
    bury(t, i);
    *evicted = t->ssrc[i];
    rc = 1;
  } else {
    if (t->n == t->cap && grow(t) != 0) return SFU_ENOMEM; /* amortised, a few times */
    t->n++;
  }
  t->ssrc[i] = ssrc;
  t->st[i] = *init;
  t->st[i].used = ++t->clock;
  if (t->tags)
    memset(&t->tags[(size_t)i * SFU_SRTP_TX_TAGS], 0, SFU_SRTP_TX_TAGS * sizeof *t->tags);
  t->last = i;
  *out = &t->st[i];
  return rc;
}

static void remove_at(sfu_srtp_streams_t *t, unsigned i) {
  t->n--;
  t->ssrc[i] = t->ssrc[t->n]; /* swap the last one in: order does not matter */
  t->st[i] = t->st[t->n];
  if (t->tags)
    memcpy(&t->tags[(size_t)i * SFU_SRTP_TX_TAGS], &t->tags[(size_t)t->n * SFU_SRTP_TX_TAGS],
           SFU_SRTP_TX_TAGS * sizeof *t->tags);
  memset(&t->st[t->n], 0, sizeof t->st[t->n]);
  t->last = 0;
}

static int live_index(const sfu_srtp_streams_t *t, uint32_t ssrc) {
  for (unsigned i = 0; i < t->n; i++)
    if (t->ssrc[i] == ssrc) return (int)i;
  return -1;
}

int sfu_srtp_streams_remove(sfu_srtp_streams_t *t, uint32_t ssrc) {
  int i = live_index(t, ssrc);
  if (i < 0) return SFU_ENOENT;
  bury(t, (unsigned)i);
  remove_at(t, (unsigned)i);
  return 0;
}

int sfu_srtp_streams_forget(sfu_srtp_streams_t *t, uint32_t ssrc) {
  int i = live_index(t, ssrc), k = tomb_find(t, ssrc);
  if (i >= 0) remove_at(t, (unsigned)i);
  if (k >= 0) {
    t->ntomb--;
    t->tomb_ssrc[k] = t->tomb_ssrc[t->ntomb];
    t->tomb[k] = t->tomb[t->ntomb];
    t->tomb_next = 0;
  }
  return i >= 0 ? 0 : SFU_ENOENT;
}

uint64_t *sfu_srtp_streams_tags(const sfu_srtp_streams_t *t, const sfu_srtp_stream_t *st) {
  return &t->tags[(size_t)(st - t->st) * SFU_SRTP_TX_TAGS];
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

/* ---- the sender's repeat guard ----
 *
 * RFC 3711 §9.1 / RFC 7714 §8: an index must never be protected twice with different
 * bytes — GCM under a repeated nonce leaks the GHASH key (forgeries follow), AES-CM XORs
 * two plaintexts with one keystream. A true retransmission (identical bytes) is harmless:
 * the output is identical too. How "identical" is told without keeping packets: the
 * transforms are deterministic, so identical input gives an identical auth tag, and
 * different input (header or payload) a different tag except with probability 2^-63 for
 * the 63 bits kept — not something the sender of the plaintext can steer, since the tag
 * key is ours. So each fresh index records 8 bytes of its output tag (a tag is computed
 * anyway: no hashing pass, nothing on the hot path but one store), and a repeat is
 * protected into the caller's buffer, compared, and wiped if it differs: the second
 * ciphertext never leaves the process. Digests are kept for the last SFU_SRTP_TX_TAGS
 * indexes (512 bytes per outbound SSRC); the window's bitmap says which indexes were used.
 * Slot (idx mod TX_TAGS) is written only while idx is within TX_TAGS of the top, so when a
 * repeat of a recent idx is checked the slot still holds idx's own digest: an index
 * TX_TAGS apart is either older than TX_TAGS (never written) or newer than the top. */

static uint64_t tag_digest(const uint8_t *tag) {
  uint64_t d;
  memcpy(&d, tag, 8); /* compared for equality only: byte order does not matter */
  return d | 1;       /* 0 means "no digest" */
}

int sfu_srtp_tx_check(const sfu_srtp_stream_t *st, const uint64_t *tags, uint64_t idx) {
  if (!sfu_srtp_window_check(st->rtp_win, SFU_SRTP_WINDOW, st->rtp_top, st->rtp_seen, idx))
    return 0; /* never used (a reordered forward included) */
  uint64_t back = st->rtp_top - idx; /* used or too old: idx <= top */
  if (back >= SFU_SRTP_TX_TAGS || tags[idx % SFU_SRTP_TX_TAGS] == 0) return SFU_EREPLAY;
  return 1;
}

void sfu_srtp_tx_record(sfu_srtp_stream_t *st, uint64_t *tags, uint64_t idx, const uint8_t *tag) {
  sfu_srtp_window_add(st->rtp_win, SFU_SRTP_WINDOW, &st->rtp_top, &st->rtp_seen, idx);
  if (st->rtp_top - idx < SFU_SRTP_TX_TAGS) tags[idx % SFU_SRTP_TX_TAGS] = tag_digest(tag);
}

int sfu_srtp_tx_same(const uint64_t *tags, uint64_t idx, const uint8_t *tag) {
  return tags[idx % SFU_SRTP_TX_TAGS] == tag_digest(tag);
}
