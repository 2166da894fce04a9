/* Per-transport pacer (see sfu/pacer.h).
 *
 * Costs (the video router queues about two thirds of its packets at 5 ms bursts, so this
 * is on its per-packet path; bench_router_pace): O(1) per packet, no allocation after
 * the pool and the rings have grown, a queued packet sent from its slot (or only a
 * reference to it queued, sfu_pacer_push_ref: kept in its ring entry, no slot, so a
 * reference costs a few stores in and a few loads out), and no 64-bit division per
 * packet: the bucket's fill is bounded instead of divided (credit_at), its bounds are
 * kept with the rate (cap_u, floor_u), and the time it is above 0 again (ready_us) is
 * computed once per drain or burst, not per deadline asked. */
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
#define RING_MIN 16         /* entries a queue's ring starts with (a power of 2) */
#define RING_MAX (1u << 30) /* it never grows past (the packet bound stops it first) */

/* A packet's bytes, for what is queued as bytes (sfu_pacer_push, or a reference larger
 * than SFU_PACER_REF_INLINE). */
typedef struct {
  /* 16-byte aligned (pool blocks are): the owner protects and sends from here */
  _Alignas(16) uint8_t data[SFU_PACER_SLOT + SFU_PACER_TAIL];
} slot_t;

/* One queued packet: what the queue needs to order, expire and count it, and either the
 * owner's reference itself (ref_len > 0) or the slot its bytes are in. 48 bytes: a
 * reference costs a few stores to queue and a few loads to leave, in memory that stays
 * hot (a ring per queue), instead of a 1.5 KB slot from the pool touched for 32 bytes. */
typedef struct {
  uint64_t at_us; /* pushed */
  uint32_t tag;
  uint16_t len;    /* what the bound counts and peek returns (a reference's wire_len) */
  uint8_t ref_len; /* > 0: a reference of that many bytes in ref; 0: the bytes are in slot */
  union {
    slot_t *slot;
    uint8_t ref[SFU_PACER_REF_INLINE];
  } u;
} entry_t;

_Static_assert(sizeof(entry_t) == 16 + SFU_PACER_REF_INLINE, "entry_t: 48 bytes, no padding");
_Static_assert(SFU_PACER_REF_INLINE <= UINT8_MAX, "ref_len is 8 bits");

/* One priority's FIFO: a ring of entries, grown by doubling when full (so, like the slot
 * pool, it allocates only until it has held the most packets it will ever hold; the
 * pacer's packet bound, max_packets in all queues, stops it: no allocation per packet in
 * steady state). cap is 0 (e NULL) or a power of 2. */
typedef struct {
  entry_t *e;
  uint32_t head, n, cap;
} ring_t;

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
  ring_t q[SFU_PACER_PRIOS];
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
  for (int q = 0; q < SFU_PACER_PRIOS; q++) free(p->q[q].e);
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

static inline entry_t *ring_front(const ring_t *r) { return &r->e[r->head]; }

static inline entry_t *ring_at(const ring_t *r, uint32_t i) {
  return &r->e[(r->head + i) & (r->cap - 1)];
}

/* The front leaves (it stays readable until the next push on r). An emptied ring starts
 * again at its first entry: a queue that empties between bursts (the paced viewer's,
 * every few ms) reuses the same few cache lines instead of walking its whole ring, which
 * grew for the longest queue it ever held (with 100 viewers the walk missed the L2 on
 * about one queued packet in three). */
static inline entry_t *ring_pop(ring_t *r) {
  entry_t *e = ring_front(r);
  r->head = --r->n ? (r->head + 1) & (r->cap - 1) : 0;
  return e;
}

/* Twice the room, the entries kept in order from index 0. -1 when out of memory. */
static int ring_grow(ring_t *r) {
  uint32_t cap = r->cap ? r->cap * 2 : RING_MIN;
  if (r->cap >= RING_MAX) return -1;
  entry_t *e = malloc((size_t)cap * sizeof *e);
  if (!e) return -1;
  for (uint32_t i = 0; i < r->n; i++) e[i] = *ring_at(r, i);
  free(r->e);
  r->e = e;
  r->head = 0;
  r->cap = cap;
  return 0;
}

/* Where the next packet goes at the tail (queued by r->n++ once filled), NULL when the
 * ring could not grow. */
static inline entry_t *ring_tail(ring_t *r) {
  if (r->n == r->cap && ring_grow(r)) return NULL;
  return ring_at(r, r->n);
}

static inline uint8_t *entry_data(entry_t *e) { return e->ref_len ? e->u.ref : e->u.slot->data; }

static inline size_t entry_room(const entry_t *e) {
  return e->ref_len ? sizeof e->u.ref : sizeof e->u.slot->data;
}

/* e is out of its queue: out of the counts, its slot (if any) back to the pool. */
static inline void release(sfu_pacer_t *p, const entry_t *e) {
  p->st.queued_bytes -= e->len;
  p->st.queued_packets--;
  if (!e->ref_len) sfu_pool_put(&p->pool, e->u.slot);
}

static void drop_head(sfu_pacer_t *p, int prio) {
  release(p, ring_pop(&p->q[prio]));
  p->st.dropped_packets++;
}

static inline int too_old(const sfu_pacer_t *p, const entry_t *e, uint64_t now_us) {
  return now_us > e->at_us && now_us - e->at_us > p->max_age_us;
}

/* Drops the packets that waited past max_age from the front of every queue (each queue
 * is in push order, so its front is its oldest). */
static void expire(sfu_pacer_t *p, uint64_t now_us) {
  for (int q = 0; q < SFU_PACER_PRIOS; q++)
    while (p->q[q].n && too_old(p, ring_front(&p->q[q]), now_us)) drop_head(p, q);
}

/* The queue to evict from for a packet of priority prio: the least important non-empty
 * one among prio..PROBE, never URGENT. -1 if none. */
static int victim(const sfu_pacer_t *p, int prio) {
  for (int q = SFU_PACER_PRIO_PROBE; q >= prio && q > SFU_PACER_PRIO_URGENT; q--)
    if (p->q[q].n) return q;
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

/* Fills e (at the tail of queue prio, its data stored) and queues it. */
static inline void enqueue(sfu_pacer_t *p, entry_t *e, uint64_t now_us, int prio, size_t len,
                           uint32_t tag) {
  if (!p->ready_ok) fill_ready(p);
  e->len = (uint16_t)len;
  e->at_us = now_us;
  e->tag = tag;
  p->q[prio].n++;
  p->st.queued_bytes += len;
  p->st.queued_packets++;
}

/* push and push_ref: src[src_len] stands for a packet of wire_len bytes; a reference
 * (may_inline) that fits is kept in its entry, anything else is copied into a slot. */
static int push_in(sfu_pacer_t *p, uint64_t now_us, int prio, const void *src, size_t src_len,
                   size_t wire_len, uint32_t tag, int may_inline) {
  if (!src || src_len == 0) return SFU_EINVAL;
  if (src_len > SFU_PACER_SLOT) return SFU_ETOOBIG;
  int rc = make_room(p, now_us, prio, wire_len);
  if (rc) return rc;
  entry_t *e = ring_tail(&p->q[prio]);
  if (!e) goto nomem;
  if (may_inline && src_len <= SFU_PACER_REF_INLINE) {
    memcpy(e->u.ref, src, src_len);
    e->ref_len = (uint8_t)src_len;
  } else {
    slot_t *s = sfu_pool_get(&p->pool);
    if (!s) goto nomem;
    memcpy(s->data, src, src_len);
    e->u.slot = s;
    e->ref_len = 0;
  }
  enqueue(p, e, now_us, prio, wire_len, tag);
  return 0;
nomem:
  p->st.dropped_packets++;
  return SFU_ENOMEM;
}

/* The owner's common case first, as a leaf (no call, no saved registers): a reference of
 * SFU_PACER_REF_INLINE bytes (one constant copy) with room in the bound and in the ring;
 * it does what push_in does then. Anything else: push_in. */
int sfu_pacer_push_ref(sfu_pacer_t *p, uint64_t now_us, int prio, const void *ref, size_t ref_len,
                       size_t wire_len, uint32_t tag) {
  ring_t *r = &p->q[prio & (SFU_PACER_PRIOS - 1)];
  if (ref_len != SFU_PACER_REF_INLINE || !ref || (unsigned)prio >= SFU_PACER_PRIOS ||
      wire_len - 1 >= SFU_PACER_SLOT || over_bound(p, wire_len) || r->n == r->cap)
    return push_in(p, now_us, prio, ref, ref_len, wire_len, tag, 1);
  p->peeked = -1;
  entry_t *e = ring_at(r, r->n);
  memcpy(e->u.ref, ref, SFU_PACER_REF_INLINE);
  e->ref_len = SFU_PACER_REF_INLINE;
  enqueue(p, e, now_us, prio, wire_len, tag);
  return 0;
}

/* A packet in a slot, whatever its size: the owner may transform it there (peek). */
int sfu_pacer_push(sfu_pacer_t *p, uint64_t now_us, int prio, const uint8_t *pkt, size_t len,
                   uint32_t tag) {
  return push_in(p, now_us, prio, pkt, len, len, tag, 0);
}

/* The queue whose front may leave at now_us (credit: the bucket at now_us), -1 if none. */
static inline int due_queue(const sfu_pacer_t *p, int64_t credit) {
  if (p->q[SFU_PACER_PRIO_URGENT].n) return SFU_PACER_PRIO_URGENT;
  if (p->rate_bps == 0 || credit > 0) {
    if (p->q[SFU_PACER_PRIO_RTX].n) return SFU_PACER_PRIO_RTX;
    if (p->q[SFU_PACER_PRIO_VIDEO].n) return SFU_PACER_PRIO_VIDEO;
  }
  if (p->q[SFU_PACER_PRIO_PROBE].n) return SFU_PACER_PRIO_PROBE;
  return -1;
}

/* The front of queue q leaves at now_us as len bytes: out of the queue and the bucket,
 * counted (len 0: nothing could be sent, counted as dropped). */
static inline void take_front(sfu_pacer_t *p, int q, uint64_t now_us, size_t len) {
  entry_t *e = ring_pop(&p->q[q]);
  if (len == 0) {
    p->st.dropped_packets++;
    release(p, e);
    return;
  }
  uint64_t waited = now_us > e->at_us ? now_us - e->at_us : 0;
  if (waited > p->st.max_delay_us) p->st.max_delay_us = waited;
  p->st.sent_packets++;
  p->st.sent_bytes += len;
  if (q == SFU_PACER_PRIO_PROBE) {
    p->st.probe_packets++;
    p->st.probe_bytes += len;
  } else {
    spend(p, len);
  }
  release(p, e);
}

size_t sfu_pacer_peek(sfu_pacer_t *p, uint64_t now_us, uint8_t **pkt, size_t *room,
                      uint32_t *tag, int *prio) {
  settle(p, now_us);
  p->peeked = -1;
  for (;;) {
    int q = due_queue(p, p->credit);
    if (q < 0) return 0;
    entry_t *e = ring_front(&p->q[q]);
    /* Expired (at the front: it waited past max_age). */
    if (too_old(p, e, now_us)) {
      drop_head(p, q);
      continue;
    }
    p->peeked = q;
    *pkt = entry_data(e);
    if (room) *room = entry_room(e);
    if (tag) *tag = e->tag;
    if (prio) *prio = q;
    return e->len;
  }
}

void sfu_pacer_take(sfu_pacer_t *p, uint64_t now_us) {
  int q = p->peeked;
  if (q < 0) return;
  p->peeked = -1;
  take_front(p, q, now_us, ring_front(&p->q[q])->len);
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
  size_t room;
  while ((len = sfu_pacer_peek(p, now_us, &pkt, &room, tag, prio)) > 0) {
    if (out && len <= cap) {
      /* a reference kept in its entry: only its bytes are there (see the header) */
      memcpy(out, pkt, len < room ? len : room);
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
  return !p->q[SFU_PACER_PRIO_URGENT].n && !p->q[SFU_PACER_PRIO_PROBE].n;
}

/* After a drain at now_us (settled): the next deadline (ready_us, for it and for the
 * sfu_pacer_next_deadline calls after the next packets queued). */
static uint64_t drained(sfu_pacer_t *p, uint64_t now_us) {
  p->ready_ok = 0;
  if (p->st.queued_packets) fill_ready(p);
  return sfu_pacer_next_deadline(p, now_us);
}

/* The front e of queue q leaves through send (which must not call p: e stays where it
 * is, and nothing joins a queue meanwhile). */
static inline void send_front(sfu_pacer_t *p, int q, entry_t *e, uint64_t now_us,
                              sfu_pacer_send_cb send, void *ctx) {
  if (too_old(p, e, now_us)) {
    drop_head(p, q);
    return;
  }
  take_front(p, q, now_us, send(ctx, entry_data(e), e->len, entry_room(e), e->tag, q));
}

/* The one paced queue (RTX or VIDEO) holding packets, -1 if another one holds some too
 * (or none does). */
static inline int lone_paced_queue(const sfu_pacer_t *p) {
  const ring_t *q = p->q;
  if (q[SFU_PACER_PRIO_URGENT].n || q[SFU_PACER_PRIO_PROBE].n) return -1;
  if (!q[SFU_PACER_PRIO_RTX].n) return q[SFU_PACER_PRIO_VIDEO].n ? SFU_PACER_PRIO_VIDEO : -1;
  return q[SFU_PACER_PRIO_VIDEO].n ? -1 : SFU_PACER_PRIO_RTX;
}

/* A peek/take loop without the calls: one settle (a second one at the same now_us
 * changes nothing), then per packet what peek and take do. The owner's common case, one
 * paced queue only (the router queues everything at VIDEO), is a plain FIFO: with no
 * other queue to consult (none can gain a packet during the drain), due_queue comes
 * down to the bucket test. */
uint64_t sfu_pacer_drain(sfu_pacer_t *p, uint64_t now_us, sfu_pacer_send_cb send, void *ctx) {
  settle(p, now_us);
  p->peeked = -1;
  int lone = lone_paced_queue(p);
  if (lone >= 0) {
    ring_t *r = &p->q[lone];
    while (r->n && (p->rate_bps == 0 || p->credit > 0))
      send_front(p, lone, ring_front(r), now_us, send, ctx);
    return drained(p, now_us);
  }
  for (;;) {
    int q = due_queue(p, p->credit);
    if (q < 0) break;
    send_front(p, q, ring_front(&p->q[q]), now_us, send, ctx);
  }
  return drained(p, now_us);
}

size_t sfu_pacer_queued(const sfu_pacer_t *p) { return (size_t)p->st.queued_packets; }

/* Each ring compacted in place: the kept entries move towards the head, in order. */
size_t sfu_pacer_remove(sfu_pacer_t *p,
                        int (*match)(const uint8_t *pkt, size_t len, uint32_t tag, void *ctx),
                        void *ctx) {
  size_t n = 0;
  p->peeked = -1;
  for (int q = 0; q < SFU_PACER_PRIOS; q++) {
    ring_t *r = &p->q[q];
    uint32_t kept = 0, total = r->n;
    for (uint32_t i = 0; i < total; i++) {
      entry_t *e = ring_at(r, i);
      if (match(entry_data(e), e->len, e->tag, ctx)) {
        release(p, e);
        n++;
      } else {
        if (kept != i) *ring_at(r, kept) = *e;
        kept++;
      }
    }
    r->n = kept;
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

int sfu_pacer_would_admit(sfu_pacer_t *p, uint64_t now_us) {
  if (p->st.queued_packets) return 0;
  if (!p->rate_bps) return 1;
  settle(p, now_us); /* the bucket as of now_us: what admit would see, at no cost later */
  return p->credit > 0;
}

uint64_t sfu_pacer_rate(const sfu_pacer_t *p) { return p->rate_bps; }
uint64_t sfu_pacer_burst(const sfu_pacer_t *p) { return p->burst_us; }

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
    if (!p->q[q].n) continue;
    uint64_t at = ring_front(&p->q[q])->at_us;
    if (out->oldest_queued_us == 0 || at < out->oldest_queued_us) out->oldest_queued_us = at;
  }
}
