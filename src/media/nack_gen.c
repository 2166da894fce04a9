/* NACK generation towards a publisher (see sfu/nack_gen.h). */
#include "sfu/nack_gen.h"

#include <string.h>

void sfu_nack_gen_init(sfu_nack_gen_t *g) { memset(g, 0, sizeof *g); }

static inline int64_t unwrap(int64_t ref, uint16_t seq) {
  return ref + (int16_t)(uint16_t)(seq - (uint16_t)ref);
}

static uint64_t retry_after(uint64_t rtt_us) {
  if (rtt_us == 0) rtt_us = SFU_NACK_DEFAULT_RTT_US;
  return rtt_us < SFU_NACK_MIN_RETRY_US ? SFU_NACK_MIN_RETRY_US : rtt_us;
}

static inline int too_old(const sfu_nack_missing_t *e, uint64_t now_us) {
  return now_us >= e->found_us && now_us - e->found_us >= SFU_NACK_MAX_AGE_US;
}

static void remove_at(sfu_nack_gen_t *g, size_t i, size_t k) {
  memmove(&g->missing[i], &g->missing[i + k], (g->n - i - k) * sizeof g->missing[0]);
  g->n -= k;
}

/* Entries are appended in ascending seq and time order, so the ones past
 * SFU_NACK_MAX_AGE_US are a prefix. */
static void drop_too_old(sfu_nack_gen_t *g, uint64_t now_us) {
  size_t k = 0;
  while (k < g->n && too_old(&g->missing[k], now_us)) k++;
  if (k) {
    remove_at(g, 0, k);
    g->gave_up += k;
  }
}

/* Index of ext in missing[], or -1 (binary search: the list is ascending). */
static long find(const sfu_nack_gen_t *g, int64_t ext) {
  size_t lo = 0, hi = g->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (g->missing[mid].ext < ext)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < g->n && g->missing[lo].ext == ext ? (long)lo : -1;
}

int sfu_nack_gen_on_packet(sfu_nack_gen_t *g, uint64_t now_us, uint16_t seq) {
  if (!g->started) {
    g->started = 1;
    g->highest = seq;
    return 0;
  }
  int64_t ext = unwrap(g->highest, seq);
  if (ext > g->highest) {
    int64_t gap = ext - g->highest - 1;
    if (gap > 0) {
      if ((size_t)gap + g->n > SFU_NACK_MAX_MISSING) drop_too_old(g, now_us);
      if ((size_t)gap + g->n > SFU_NACK_MAX_MISSING) {
        /* Retransmitting this much would take longer than a keyframe, and the decoder
         * needs one anyway once anything in the gap is given up. */
        g->n = 0;
        g->highest = ext;
        g->hopeless++;
        return 1;
      }
      for (int64_t x = g->highest + 1; x < ext; x++)
        g->missing[g->n++] = (sfu_nack_missing_t){.ext = x, .found_us = now_us};
    }
    g->highest = ext;
    return 0;
  }
  if (g->highest - ext >= SFU_NACK_RESET_GAP) {
    g->n = 0;
    g->highest = ext;
    return 0;
  }
  /* Late, retransmitted, or a duplicate. */
  long i = find(g, ext);
  if (i >= 0) {
    remove_at(g, (size_t)i, 1);
    g->recovered++;
  }
  return 0;
}

size_t sfu_nack_gen_poll(sfu_nack_gen_t *g, uint64_t now_us, uint64_t rtt_us, uint16_t *seqs,
                         size_t cap) {
  uint64_t retry = retry_after(rtt_us);
  size_t out = 0, w = 0;
  for (size_t i = 0; i < g->n; i++) {
    sfu_nack_missing_t e = g->missing[i];
    if (too_old(&e, now_us)) {
      g->gave_up++;
      continue;
    }
    int due = e.tries == 0 ? now_us >= e.found_us + SFU_NACK_GRACE_US : now_us >= e.sent_us + retry;
    if (due && out < cap) {
      seqs[out++] = (uint16_t)e.ext;
      e.tries++;
      e.sent_us = now_us;
      g->nacked++;
      if (e.tries >= SFU_NACK_MAX_TRIES) {
        g->gave_up++;
        continue;
      }
    }
    g->missing[w++] = e;
  }
  g->n = w;
  return out;
}

uint64_t sfu_nack_gen_deadline(const sfu_nack_gen_t *g, uint64_t rtt_us) {
  uint64_t retry = retry_after(rtt_us), best = UINT64_MAX;
  for (size_t i = 0; i < g->n; i++) {
    const sfu_nack_missing_t *e = &g->missing[i];
    uint64_t t = e->tries == 0 ? e->found_us + SFU_NACK_GRACE_US : e->sent_us + retry;
    /* A retry due after the give-up never happens: no timer for it. */
    if (t < e->found_us + SFU_NACK_MAX_AGE_US && t < best) best = t;
  }
  return best;
}
