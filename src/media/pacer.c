/* Per-transport pacer (see sfu/pacer.h).
 *
 * Costs (the video router queues about two thirds of its packets at 5 ms bursts, so this
 * is on its per-packet path; bench_router_pace): O(1) per packet, no allocation after
 * the pool has grown, a queued packet sent from its slot (or only a reference to it
 * queued, sfu_pacer_push_ref), and no 64-bit division per packet: the bucket's fill is
 * bounded instead of divided (credit_at), its bounds are kept with the rate (cap_u,
 * floor_u), and the time it is above 0 again (ready_us) is computed once per drain or
 * burst, not per deadline asked. */
#include "sfu/pacer.h"

#include <stdlib.h>
#include <string.h>

#include "sfu/err.h"
#include "sfu/pool.h"

/* Budget unit: 1e-6 bit, so that rate_bps x elapsed_us is exact in integers. */
#define BYTE_UNITS 8000000ll
#define MAX_RATE_BPS 100000000000ull /* 100 Gbit/s: keeps every product below 2^63 */
#define MAX_BURST_US 1000000ull
#define SLAB_SLOTS 16

typedef struct slot {
  struct slot *next;
  uint64_t at_us; /* pushed */
  uint32_t tag;
  uint16_t len;
  uint8_t prio;
  /* 16-byte aligned (pool blocks are): the owner protects and sends from here */
  _Alignas(16) uint8_t data[SFU_PACER_SLOT + SFU_PACER_TAIL];
} slot_t;

typedef struct {
  slot_t *head, *tail;
} fifo_t;

struct sfu_pacer {
  size_t max_bytes, max_packets;
  uint64_t max_age_us;
  uint64_t rate_bps, burst_us;
  int64_t credit;         /* bucket level in units at last_us; in [floor_u, cap_u] */
  int64_t cap_u, floor_u; /* rate x burst_us, -rate x MAX_DEBT: cached, they change rarely */
  uint64_t last_us;
  /* The bucket is above 0 from ready_us on, while ready_ok: the paced queues' deadline
   * without a division per call. Set when a packet is queued or a drain leaves some;
   * settle keeps it true (the bucket only fills), anything else that moves the bucket (a
   * packet sent, the rate or the burst set) drops it. */
  uint64_t ready_us;
  int ready_ok;
  fifo_t q[SFU_PACER_PRIOS];
  int peeked; /* the queue sfu_pacer_peek left its packet at the front of; -1 none */
  sfu_pool_t pool;
  sfu_pacer_stats_t st; /* queued_* kept current; oldest_queued_us filled by stats() */
};

sfu_pacer_t *sfu_pacer_new(size_t max_bytes, uint64_t max_age_us) {
  sfu_pacer_t *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->max_bytes = max_bytes ? max_bytes : SFU_PACER_DEFAULT_MAX_BYTES;
  p->max_age_us = max_age_us ? max_age_us : SFU_PACER_DEFAULT_MAX_AGE_US;
  p->max_packets = p->max_bytes / SFU_PACER_MIN_AVG_BYTES;
  if (p->max_packets < SLAB_SLOTS) p->max_packets = SLAB_SLOTS;
  p->burst_us = SFU_PACER_DEFAULT_BURST_US;
  p->peeked = -1;
  sfu_pool_init(&p->pool, sizeof(slot_t), SLAB_SLOTS, p->max_packets);
  return p;
}

void sfu_pacer_free(sfu_pacer_t *p) {
  if (!p) return;
  sfu_pool_destroy(&p->pool);
  free(p);
}

/* The bucket's bounds, kept with rate and burst (so the per-packet path multiplies
 * nothing). Unpaced: both 0, and so is the credit. */
static void set_bounds(sfu_pacer_t *p) {
  p->cap_u = (int64_t)(p->rate_bps * p->burst_us);
  p->floor_u = -(int64_t)(p->rate_bps * SFU_PACER_MAX_DEBT_US);
}

/* The bucket at now_us (never earlier than last_us): filled at the rate, up to the cap.
 * No division: the credit is never below floor_u (-rate x MAX_DEBT_US), so after
 * burst_us + MAX_DEBT_US the bucket is full whatever it held, and for a shorter dt
 * rate x dt stays below MAX_RATE_BPS x (MAX_BURST_US + MAX_DEBT_US) < 2^63. Unpaced:
 * credit = cap_u = 0, returned by the first test. */
static inline int64_t credit_at(const sfu_pacer_t *p, uint64_t now_us) {
  if (p->credit >= p->cap_u || now_us <= p->last_us) return p->credit;
  uint64_t dt = now_us - p->last_us;
  if (dt >= p->burst_us + SFU_PACER_MAX_DEBT_US) return p->cap_u;
  int64_t c = p->credit + (int64_t)(p->rate_bps * dt);
  return c > p->cap_u ? p->cap_u : c;
}

static inline void settle(sfu_pacer_t *p, uint64_t now_us) {
  if (now_us <= p->last_us) return;
  p->credit = credit_at(p, now_us);
  p->last_us = now_us;
}

static void clamp_credit(sfu_pacer_t *p) {
  if (p->credit > p->cap_u) p->credit = p->cap_u;
  if (p->credit < p->floor_u) p->credit = p->floor_u;
}

/* A paced packet of len bytes leaves: out of the bucket (which was <= cap_u, so only the
 * floor can bind). */
static inline void spend(sfu_pacer_t *p, size_t len) {
  if (!p->rate_bps) return;
  p->ready_ok = 0;
  p->credit -= (int64_t)len * BYTE_UNITS;
  if (p->credit < p->floor_u) p->credit = p->floor_u;
}

void sfu_pacer_set_rate(sfu_pacer_t *p, uint64_t now_us, uint64_t rate_bps) {
  if (rate_bps > MAX_RATE_BPS) rate_bps = MAX_RATE_BPS;
  int was_unpaced = p->rate_bps == 0;
  settle(p, now_us);
  p->ready_ok = 0;
  p->rate_bps = rate_bps;
  set_bounds(p);
  /* Leaving unpaced mode: the bucket starts full, as after a long idle time. */
  if (was_unpaced) p->credit = p->cap_u;
  clamp_credit(p);
}

void sfu_pacer_set_burst(sfu_pacer_t *p, uint64_t now_us, uint64_t burst_us) {
  if (burst_us == 0) burst_us = 1;
  if (burst_us > MAX_BURST_US) burst_us = MAX_BURST_US;
  settle(p, now_us);
  p->ready_ok = 0;
  p->burst_us = burst_us;
  set_bounds(p);
  clamp_credit(p);
}

static void fifo_push(fifo_t *f, slot_t *s) {
  s->next = NULL;
  if (f->tail) f->tail->next = s;
  else f->head = s;
  f->tail = s;
}

static slot_t *fifo_pop(fifo_t *f) {
  slot_t *s = f->head;
  if (s) {
    f->head = s->next;
    if (!f->head) f->tail = NULL;
  }
  return s;
}

static void release(sfu_pacer_t *p, slot_t *s) {
  p->st.queued_bytes -= s->len;
  p->st.queued_packets--;
  sfu_pool_put(&p->pool, s);
}

static void drop_head(sfu_pacer_t *p, int prio) {
  release(p, fifo_pop(&p->q[prio]));
  p->st.dropped_packets++;
}

static inline int too_old(const sfu_pacer_t *p, const slot_t *s, uint64_t now_us) {
  return now_us > s->at_us && now_us - s->at_us > p->max_age_us;
}

/* Drops the packets that waited past max_age from the front of every queue (each queue
 * is in push order, so its front is its oldest). */
static void expire(sfu_pacer_t *p, uint64_t now_us) {
  for (int q = 0; q < SFU_PACER_PRIOS; q++) {
    slot_t *s;
    while ((s = p->q[q].head) && too_old(p, s, now_us)) drop_head(p, q);
  }
}

/* The queue to evict from for a packet of priority prio: the least important non-empty
 * one among prio..PROBE, never URGENT. -1 if none. */
static int victim(const sfu_pacer_t *p, int prio) {
  for (int q = SFU_PACER_PRIO_PROBE; q >= prio && q > SFU_PACER_PRIO_URGENT; q--)
    if (p->q[q].head) return q;
  return -1;
}

static inline int over_bound(const sfu_pacer_t *p, size_t len) {
  return p->st.queued_bytes + len > p->max_bytes || p->st.queued_packets + 1 > p->max_packets;
}

/* Over the bound: what expired goes first, then the oldest of the less important queues
 * (push's evictions). 0, or SFU_ELIMIT (counted). */
static int evict(sfu_pacer_t *p, uint64_t now_us, int prio, size_t len) {
  expire(p, now_us); /* what expired goes before anything fresh is evicted */
  while (over_bound(p, len)) {
    int q = victim(p, prio);
    if (q < 0) {
      p->st.dropped_packets++;
      return SFU_ELIMIT;
    }
    drop_head(p, q);
  }
  return 0;
}

/* Room in the queue bound for one more packet of len bytes at prio (push's checks and
 * evictions, before it takes a slot): 0, or the error push returns. */
static inline int make_room(sfu_pacer_t *p, uint64_t now_us, int prio, size_t len) {
  if (prio < 0 || prio >= SFU_PACER_PRIOS || len == 0) return SFU_EINVAL;
  if (len > SFU_PACER_SLOT) return SFU_ETOOBIG;
  p->peeked = -1; /* an eviction may free the peeked slot: peek again */
  return over_bound(p, len) ? evict(p, now_us, prio, len) : 0;
}

/* ready_us from the bucket at last_us: one division, once per drain or per packet queued
 * after the bucket moved (the first of a burst), not per packet. */
static void fill_ready(sfu_pacer_t *p) {
  if (!p->rate_bps || p->last_us >= UINT64_MAX / 2) return; /* (the slow way then) */
  p->ready_us = p->credit > 0 ? p->last_us : p->last_us + (uint64_t)(-p->credit) / p->rate_bps + 1;
  p->ready_ok = 1;
}

static inline void enqueue(sfu_pacer_t *p, slot_t *s, uint64_t now_us, int prio, size_t len,
                           uint32_t tag) {
  if (!p->ready_ok) fill_ready(p);
  s->len = (uint16_t)len;
  s->at_us = now_us;
  s->tag = tag;
  s->prio = (uint8_t)prio;
  fifo_push(&p->q[prio], s);
  p->st.queued_bytes += len;
  p->st.queued_packets++;
}

int sfu_pacer_push_ref(sfu_pacer_t *p, uint64_t now_us, int prio, const void *ref, size_t ref_len,
                       size_t wire_len, uint32_t tag) {
  if (!ref || ref_len == 0) return SFU_EINVAL;
  if (ref_len > SFU_PACER_SLOT) return SFU_ETOOBIG;
  int rc = make_room(p, now_us, prio, wire_len);
  if (rc) return rc;
  slot_t *s = sfu_pool_get(&p->pool);
  if (!s) {
    p->st.dropped_packets++;
    return SFU_ENOMEM;
  }
  memcpy(s->data, ref, ref_len);
  enqueue(p, s, now_us, prio, wire_len, tag);
  return 0;
}

/* A packet is its own reference: all of it stored, all of it counted. */
int sfu_pacer_push(sfu_pacer_t *p, uint64_t now_us, int prio, const uint8_t *pkt, size_t len,
                   uint32_t tag) {
  return sfu_pacer_push_ref(p, now_us, prio, pkt, len, len, tag);
}

/* The queue whose front may leave at now_us (credit: the bucket at now_us), -1 if none. */
static inline int due_queue(const sfu_pacer_t *p, int64_t credit) {
  if (p->q[SFU_PACER_PRIO_URGENT].head) return SFU_PACER_PRIO_URGENT;
  if (p->rate_bps == 0 || credit > 0) {
    if (p->q[SFU_PACER_PRIO_RTX].head) return SFU_PACER_PRIO_RTX;
    if (p->q[SFU_PACER_PRIO_VIDEO].head) return SFU_PACER_PRIO_VIDEO;
  }
  if (p->q[SFU_PACER_PRIO_PROBE].head) return SFU_PACER_PRIO_PROBE;
  return -1;
}

/* The front of queue q leaves at now_us as len bytes: out of the queue and the bucket,
 * counted (len 0: nothing could be sent, counted as dropped). */
static inline void take_front(sfu_pacer_t *p, int q, uint64_t now_us, size_t len) {
  slot_t *s = fifo_pop(&p->q[q]);
  if (len == 0) {
    p->st.dropped_packets++;
    release(p, s);
    return;
  }
  uint64_t waited = now_us > s->at_us ? now_us - s->at_us : 0;
  if (waited > p->st.max_delay_us) p->st.max_delay_us = waited;
  p->st.sent_packets++;
  p->st.sent_bytes += len;
  if (q == SFU_PACER_PRIO_PROBE) {
    p->st.probe_packets++;
    p->st.probe_bytes += len;
  } else {
    spend(p, len);
  }
  release(p, s);
}

size_t sfu_pacer_peek(sfu_pacer_t *p, uint64_t now_us, uint8_t **pkt, size_t *room,
                      uint32_t *tag, int *prio) {
  settle(p, now_us);
  p->peeked = -1;
  for (;;) {
    int q = due_queue(p, p->credit);
    if (q < 0) return 0;
    slot_t *s = p->q[q].head;
    /* Expired (at the front: it waited past max_age). */
    if (too_old(p, s, now_us)) {
      drop_head(p, q);
      continue;
    }
    p->peeked = q;
    *pkt = s->data;
    if (room) *room = sizeof s->data;
    if (tag) *tag = s->tag;
    if (prio) *prio = q;
    return s->len;
  }
}

void sfu_pacer_take(sfu_pacer_t *p, uint64_t now_us) {
  int q = p->peeked;
  if (q < 0) return;
  p->peeked = -1;
  take_front(p, q, now_us, p->q[q].head->len);
}

void sfu_pacer_take_sent(sfu_pacer_t *p, uint64_t now_us, size_t sent_len) {
  int q = p->peeked;
  if (q < 0) return;
  p->peeked = -1;
  take_front(p, q, now_us, sent_len);
}

size_t sfu_pacer_pop(sfu_pacer_t *p, uint64_t now_us, uint8_t *out, size_t cap, uint32_t *tag,
                     int *prio) {
  uint8_t *pkt;
  size_t len;
  while ((len = sfu_pacer_peek(p, now_us, &pkt, NULL, tag, prio)) > 0) {
    if (out && len <= cap) {
      memcpy(out, pkt, len);
      sfu_pacer_take(p, now_us);
      return len;
    }
    /* too big for the caller: dropped rather than blocking the queue */
    int q = p->peeked;
    p->peeked = -1;
    drop_head(p, q);
  }
  return 0;
}

/* When the next packet is due, the bucket at now_us being credit (see the header). */
static inline uint64_t deadline(const sfu_pacer_t *p, uint64_t now_us, int64_t credit) {
  if (p->st.queued_packets == 0) return UINT64_MAX;
  if (due_queue(p, credit) >= 0) return now_us;
  /* Only paced packets, and the bucket is empty: due when it is above 0 again. */
  uint64_t wait = (uint64_t)(-credit) / p->rate_bps + 1;
  return wait < UINT64_MAX - 1 - now_us ? now_us + wait : UINT64_MAX - 1;
}

/* Only paced queues (RTX, VIDEO) hold packets. */
static inline int only_paced(const sfu_pacer_t *p) {
  return !p->q[SFU_PACER_PRIO_URGENT].head && !p->q[SFU_PACER_PRIO_PROBE].head;
}

/* After a drain at now_us (settled): the next deadline (ready_us, for it and for the
 * sfu_pacer_next_deadline calls after the next packets queued). */
static uint64_t drained(sfu_pacer_t *p, uint64_t now_us) {
  p->ready_ok = 0;
  if (p->st.queued_packets) fill_ready(p);
  return sfu_pacer_next_deadline(p, now_us);
}

/* A peek/take loop without the calls: one settle (a second one at the same now_us
 * changes nothing), then per packet what peek and take do. */
uint64_t sfu_pacer_drain(sfu_pacer_t *p, uint64_t now_us, sfu_pacer_send_cb send, void *ctx) {
  settle(p, now_us);
  p->peeked = -1;
  for (;;) {
    int q = due_queue(p, p->credit);
    if (q < 0) break;
    slot_t *s = p->q[q].head;
    if (too_old(p, s, now_us)) {
      drop_head(p, q);
      continue;
    }
    size_t sent = send(ctx, s->data, s->len, sizeof s->data, s->tag, q);
    take_front(p, q, now_us, sent);
  }
  return drained(p, now_us);
}

size_t sfu_pacer_queued(const sfu_pacer_t *p) { return (size_t)p->st.queued_packets; }

size_t sfu_pacer_remove(sfu_pacer_t *p,
                        int (*match)(const uint8_t *pkt, size_t len, uint32_t tag, void *ctx),
                        void *ctx) {
  size_t n = 0;
  p->peeked = -1;
  for (int q = 0; q < SFU_PACER_PRIOS; q++) {
    slot_t *s = p->q[q].head;
    fifo_t keep = {NULL, NULL};
    while (s) {
      slot_t *next = s->next;
      if (match(s->data, s->len, s->tag, ctx)) {
        release(p, s);
        n++;
      } else {
        fifo_push(&keep, s);
      }
      s = next;
    }
    p->q[q] = keep;
  }
  return n;
}

int sfu_pacer_admit(sfu_pacer_t *p, uint64_t now_us, size_t len) {
  if (p->st.queued_packets || len == 0) return 0;
  if (p->rate_bps) {
    settle(p, now_us);
    if (p->credit <= 0) return 0;
    spend(p, len);
  }
  p->st.sent_packets++;
  p->st.sent_bytes += len;
  return 1;
}

uint64_t sfu_pacer_rate(const sfu_pacer_t *p) { return p->rate_bps; }

uint64_t sfu_pacer_next_deadline(const sfu_pacer_t *p, uint64_t now_us) {
  if (p->st.queued_packets == 0) return UINT64_MAX;
  /* The bucket at now_us is above 0 iff now_us >= ready_us; below, deadline()'s
   * now_us + (-credit_at(now_us)) / rate + 1 is ready_us (the bucket fills linearly). */
  if (p->ready_ok && now_us >= p->last_us && only_paced(p))
    return now_us >= p->ready_us ? now_us : p->ready_us;
  return deadline(p, now_us, credit_at(p, now_us));
}

void sfu_pacer_stats(const sfu_pacer_t *p, sfu_pacer_stats_t *out) {
  *out = p->st;
  out->oldest_queued_us = 0;
  for (int q = 0; q < SFU_PACER_PRIOS; q++) {
    const slot_t *s = p->q[q].head;
    if (s && (out->oldest_queued_us == 0 || s->at_us < out->oldest_queued_us))
      out->oldest_queued_us = s->at_us;
  }
}
