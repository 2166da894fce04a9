/* The meeting's cache of data messages with a lifetime (include/sfu/data_cache.h). */
#include "sfu/data_cache.h"

#include <string.h>

#define AT(c, i) ((c)->ring[((c)->head + (i)) % SFU_DATA_CACHE_MAX])

void sfu_data_cache_init(sfu_data_cache_t *c) {
  memset(c, 0, sizeof *c);
  c->min_expiry_us = UINT64_MAX;
}

void sfu_data_cache_clear(sfu_data_cache_t *c) {
  for (uint32_t i = 0; i < c->n; i++) sfu_data_msg_unref(AT(c, i));
  c->head = c->n = 0;
  c->bytes = 0;
  c->min_expiry_us = UINT64_MAX;
}

/* Keeps the live entries in order, compacting the ring in place: O(n). Entries expire in
 * any order (lifetimes differ), so an expired one may sit between live ones. */
void sfu_data_cache_expire(sfu_data_cache_t *c, uint64_t now_us) {
  if (c->min_expiry_us > now_us) return;
  uint32_t keep = 0;
  uint64_t min = UINT64_MAX;
  for (uint32_t i = 0; i < c->n; i++) {
    sfu_data_msg_t *m = AT(c, i);
    if (m->expires_us <= now_us) {
      c->bytes -= m->len;
      c->expired++;
      sfu_data_msg_unref(m);
      continue;
    }
    if (m->expires_us < min) min = m->expires_us;
    AT(c, keep) = m;
    keep++;
  }
  c->n = keep;
  c->min_expiry_us = min;
}

static void drop_oldest(sfu_data_cache_t *c) {
  sfu_data_msg_t *m = c->ring[c->head];
  c->head = (c->head + 1) % SFU_DATA_CACHE_MAX;
  c->n--;
  c->bytes -= m->len;
  c->evicted++;
  /* min_expiry_us may now be earlier than the truth: the next sweep recomputes it. */
  sfu_data_msg_unref(m);
}

void sfu_data_cache_add(sfu_data_cache_t *c, sfu_data_msg_t *m, uint64_t now_us) {
  sfu_data_cache_expire(c, now_us);
  if (c->n == SFU_DATA_CACHE_MAX) drop_oldest(c);
  AT(c, c->n) = sfu_data_msg_ref(m);
  c->n++;
  c->bytes += m->len;
  c->added++;
  if (m->expires_us < c->min_expiry_us) c->min_expiry_us = m->expires_us;
}

sfu_data_msg_t *sfu_data_cache_next(const sfu_data_cache_t *c, uint64_t after_seq, uint64_t now_us) {
  uint32_t lo = 0, hi = c->n; /* first index with seq > after_seq */
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (AT(c, mid)->seq <= after_seq) lo = mid + 1;
    else hi = mid;
  }
  for (uint32_t i = lo; i < c->n; i++)
    if (AT(c, i)->expires_us > now_us) return AT(c, i);
  return NULL;
}

size_t sfu_data_cache_count(const sfu_data_cache_t *c) { return c->n; }
uint64_t sfu_data_cache_next_expiry(const sfu_data_cache_t *c) { return c->min_expiry_us; }
