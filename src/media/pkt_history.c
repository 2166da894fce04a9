/* Packet history of one published layer (see sfu/pkt_history.h). */
#include "sfu/pkt_history.h"

#include <stdlib.h>
#include <string.h>

#include "sfu/err.h"

#define MAX_CHUNKS 16 /* 64 -> 32768 slots is 10 allocations */

typedef struct {
  uint8_t *buf; /* SFU_HISTORY_SLOT bytes inside one of the chunks; moves with the entry */
  int64_t ext;  /* extended seq of the entry, valid if used */
  uint64_t at_us;
  uint16_t len;
  uint8_t used;
} slot_t;

struct sfu_history {
  uint64_t max_age_us;
  size_t span_max;    /* max_packets: largest newest - oldest + 1 kept */
  size_t table_max;   /* span_max rounded up to a power of two */
  size_t cap;         /* slots in use: 0 or a power of two <= table_max */
  size_t slots_alloc; /* slot_t entries allocated (>= cap) */
  slot_t *slots;
  uint8_t *chunks[MAX_CHUNKS];
  size_t n_chunks;
  size_t count;
  /* Every used slot holds an ext in [oldest, newest], and newest - oldest < cap: no two
   * entries share a slot. oldest is a lower bound (it may point at a missing packet).
   * Meaningful while count > 0. */
  int64_t oldest, newest;
};

static size_t pow2_at_least(size_t n) {
  size_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

sfu_history_t *sfu_history_new(uint64_t max_age_us, size_t max_packets) {
  sfu_history_t *h = calloc(1, sizeof *h);
  if (!h) return NULL;
  if (max_packets < 1) max_packets = 1;
  if (max_packets > SFU_HISTORY_MAX_PACKETS) max_packets = SFU_HISTORY_MAX_PACKETS;
  h->max_age_us = max_age_us;
  h->span_max = max_packets;
  h->table_max = pow2_at_least(max_packets);
  return h;
}

void sfu_history_free(sfu_history_t *h) {
  if (!h) return;
  for (size_t i = 0; i < h->n_chunks; i++) free(h->chunks[i]);
  free(h->slots);
  free(h);
}

static inline size_t slot_of(const sfu_history_t *h, int64_t ext) {
  /* cap divides 2^16, so this is also seq % cap. */
  return (size_t)((uint64_t)ext & (h->cap - 1));
}

/* The 16-bit seq closest to `ref` (RFC 3550 §A.1 style, signed 16-bit distance). */
static inline int64_t unwrap(int64_t ref, uint16_t seq) {
  return ref + (int16_t)(uint16_t)(seq - (uint16_t)ref);
}

static inline int expired(const sfu_history_t *h, const slot_t *s, uint64_t now_us) {
  return now_us > s->at_us && now_us - s->at_us > h->max_age_us;
}

/* Doubles the table until it has >= need slots (at most table_max). Entries keep their
 * buffers: an entry whose index changes swaps with the empty new slot it maps to. One
 * allocation for the slot table and one for the new buffers; on failure the table stays
 * as it was. */
static int grow(sfu_history_t *h, size_t need) {
  if (need < SFU_HISTORY_MIN_SLOTS) need = SFU_HISTORY_MIN_SLOTS;
  size_t ncap = pow2_at_least(need);
  if (ncap > h->table_max) ncap = h->table_max;
  if (ncap <= h->cap || h->n_chunks == MAX_CHUNKS) return SFU_ELIMIT;
  if (ncap > h->slots_alloc) {
    slot_t *ns = realloc(h->slots, ncap * sizeof *ns);
    if (!ns) return SFU_ENOMEM;
    h->slots = ns;
    h->slots_alloc = ncap;
  }
  uint8_t *chunk = malloc((ncap - h->cap) * SFU_HISTORY_SLOT);
  if (!chunk) return SFU_ENOMEM;
  h->chunks[h->n_chunks++] = chunk;
  for (size_t i = h->cap; i < ncap; i++) {
    h->slots[i] = (slot_t){.buf = chunk + (i - h->cap) * SFU_HISTORY_SLOT};
  }
  size_t old = h->cap;
  h->cap = ncap;
  /* An entry at i < old maps to i + k*old (k >= 1) or stays: the targets are new, empty,
   * and distinct (entries span fewer than old seqs). */
  for (size_t i = 0; i < old; i++) {
    if (!h->slots[i].used) continue;
    size_t j = slot_of(h, h->slots[i].ext);
    if (j == i) continue;
    slot_t t = h->slots[j];
    h->slots[j] = h->slots[i];
    h->slots[i] = t;
  }
  return 0;
}

static void clear_all(sfu_history_t *h) {
  for (size_t i = 0; i < h->cap; i++) h->slots[i].used = 0;
  h->count = 0;
}

/* Drops every entry below new_oldest. */
static void drop_below(sfu_history_t *h, int64_t new_oldest) {
  if (new_oldest - h->oldest >= (int64_t)h->cap) {
    clear_all(h);
  } else {
    for (int64_t x = h->oldest; x < new_oldest; x++) {
      slot_t *s = &h->slots[slot_of(h, x)];
      if (s->used && s->ext == x) {
        s->used = 0;
        h->count--;
      }
    }
  }
  h->oldest = new_oldest;
}

/* Drops entries older than max_age from the oldest end. Each seq is stepped over once
 * in the history's life (oldest only moves up), so this is O(1) amortized. An entry
 * past max_age behind a fresher one (a reordered packet) stays until it reaches the
 * front; sfu_history_get checks the age itself. */
static void expire(sfu_history_t *h, uint64_t now_us) {
  while (h->count > 0 && h->oldest <= h->newest) {
    slot_t *s = &h->slots[slot_of(h, h->oldest)];
    if (s->used && s->ext == h->oldest) {
      if (!expired(h, s, now_us)) return;
      s->used = 0;
      h->count--;
    }
    h->oldest++;
  }
}

int sfu_history_put(sfu_history_t *h, uint64_t now_us, uint16_t seq, const uint8_t *pkt,
                    size_t len) {
  if (len > SFU_HISTORY_SLOT) return SFU_ETOOBIG;
  if (!pkt && len) return SFU_EINVAL;
  if (h->cap == 0 && grow(h, SFU_HISTORY_MIN_SLOTS) != 0) return SFU_ENOMEM;
  int64_t ext;
  if (h->count == 0) {
    ext = seq;
    h->oldest = h->newest = ext;
  } else {
    ext = unwrap(h->newest, seq);
    if (ext > h->newest) {
      expire(h, now_us);
      if (h->count == 0) h->oldest = ext;
      int64_t span = ext - h->oldest + 1;
      if (span > (int64_t)h->cap && span <= (int64_t)h->span_max) (void)grow(h, (size_t)span);
      int64_t limit = (int64_t)(h->cap < h->span_max ? h->cap : h->span_max);
      if (span > limit) drop_below(h, ext - limit + 1);
      h->newest = ext;
    } else if (ext < h->oldest) {
      int64_t behind = h->newest - ext;
      if (behind >= SFU_HISTORY_RESET_GAP) {
        clear_all(h);
        h->oldest = h->newest = ext;
      } else {
        /* Reordered: kept if the span still fits (growing the table if it may). */
        int64_t span = behind + 1;
        if (span > (int64_t)h->span_max) return 0;
        if (span > (int64_t)h->cap && grow(h, (size_t)span) != 0) return 0;
        h->oldest = ext;
      }
    }
  }
  slot_t *s = &h->slots[slot_of(h, ext)];
  if (s->used && s->ext == ext) return 0; /* duplicate: the first copy stays */
  if (!s->used) h->count++;
  if (len) memcpy(s->buf, pkt, len);
  s->len = (uint16_t)len;
  s->ext = ext;
  s->at_us = now_us;
  s->used = 1;
  return 0;
}

const uint8_t *sfu_history_get(const sfu_history_t *h, uint64_t now_us, uint16_t seq, size_t *len) {
  if (h->count == 0) return NULL;
  int64_t ext = unwrap(h->newest, seq);
  const slot_t *s = &h->slots[slot_of(h, ext)];
  if (!s->used || s->ext != ext || expired(h, s, now_us)) return NULL;
  if (len) *len = s->len;
  return s->buf;
}

size_t sfu_history_memory(const sfu_history_t *h) {
  return sizeof *h + h->slots_alloc * sizeof(slot_t) + h->cap * SFU_HISTORY_SLOT;
}

size_t sfu_history_count(const sfu_history_t *h) { return h->count; }
