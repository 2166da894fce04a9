/* Simulated link; model in sim_link.h. Test code: simple and obviously right beats fast
 * (pending packets live in a sorted array; an insert is O(n), fine for a few hundred).
 *
 * The bottleneck keeps its clock in nanoseconds: a 100-byte packet at 3 Mbit/s takes
 * 266.67 us, and truncating that to whole microseconds on every packet would let the
 * link carry 0.25% more than its capacity. */
#include "sim_link.h"

#include <stdlib.h>
#include <string.h>

/* How a pending packet's arrival follows from its departure (for sim_link_set_rate). */
enum { PKT_FIFO, PKT_REORDERED, PKT_DUP };

typedef struct {
  uint64_t at;  /* arrival time */
  uint64_t seq; /* send order, breaks ties so equal times stay FIFO */
  int dir;
  int kind;          /* PKT_*: FIFO ones never overtake each other; a DUP follows the previous */
  uint64_t sent_us;  /* handed to the link */
  uint64_t leave_ns; /* last bit out of the bottleneck */
  uint64_t extra_us; /* at = leave + extra (delay, jitter, reorder), before the FIFO floor */
  size_t len;
  uint8_t *data;
} sim_pkt_t;

struct sim_link {
  uint64_t rng;
  uint64_t now;
  uint64_t seq;
  sim_dir_cfg_t cfg[2];
  sim_dir_stats_t stats[2];
  uint64_t link_free_ns[2]; /* serialisation: when the bottleneck is idle again */
  uint64_t tb_ns[2];        /* token bucket (burst_bytes): when its credit is whole again,
                             * less burst / rate (credit = burst - (tb - now) x rate) */
  uint64_t last_arrival[2]; /* FIFO floor for packets not picked for reordering */
  sim_filter_cb filter;
  void *filter_user;
  sim_pkt_t *q; /* sorted by (at, seq) */
  size_t n, cap;
};

/* splitmix64: tiny, good enough statistically, and fully determined by the seed. */
static uint64_t next_u64(sim_link_t *l) {
  uint64_t z = (l->rng += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double sim_link_rand(sim_link_t *l) {
  return (double)(next_u64(l) >> 11) * (1.0 / 9007199254740992.0);
}

sim_link_t *sim_link_new(uint64_t seed) {
  sim_link_t *l = calloc(1, sizeof *l);
  if (l) l->rng = seed;
  return l;
}

void sim_link_free(sim_link_t *l) {
  if (!l) return;
  for (size_t i = 0; i < l->n; i++) free(l->q[i].data);
  free(l->q);
  free(l);
}

void sim_link_config(sim_link_t *l, int dir, const sim_dir_cfg_t *cfg) { l->cfg[dir] = *cfg; }

void sim_link_set_filter(sim_link_t *l, sim_filter_cb cb, void *user) {
  l->filter = cb;
  l->filter_user = user;
}

uint64_t sim_link_now(const sim_link_t *l) { return l->now; }
void sim_link_set_now(sim_link_t *l, uint64_t now_us) { l->now = now_us; }

typedef unsigned __int128 u128; /* rate x backlog in ns overflows 64 bits past ~18 s at 1 Gbit/s */

static uint64_t ceil_us(uint64_t ns) { return ns / 1000 + (ns % 1000 != 0); }

static uint64_t backlog_ns(const sim_link_t *l, int dir, uint64_t now_us) {
  uint64_t now_ns = now_us * 1000;
  return l->link_free_ns[dir] > now_ns ? l->link_free_ns[dir] - now_ns : 0;
}

size_t sim_link_queued_bytes(const sim_link_t *l, int dir, uint64_t now_us) {
  /* The bottleneck drains at exactly rate_bps, so the backlog in time is the backlog in
   * bytes (a packet being serialised counts with the part not yet sent). */
  uint64_t rate = l->cfg[dir].rate_bps;
  if (!rate) return 0;
  return (size_t)((u128)backlog_ns(l, dir, now_us) * rate / 8000000000ull);
}

static int by_time(const void *x, const void *y) {
  const sim_pkt_t *a = x, *b = y;
  if (a->at != b->at) return a->at < b->at ? -1 : 1;
  return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int by_seq(const void *x, const void *y) {
  const sim_pkt_t *a = x, *b = y;
  return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int enqueue(sim_link_t *l, const sim_pkt_t *tmpl, const uint8_t *buf, size_t len) {
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 64;
    sim_pkt_t *nq = realloc(l->q, nc * sizeof *nq);
    if (!nq) return 0;
    l->q = nq, l->cap = nc;
  }
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy) return 0;
  memcpy(copy, buf, len);
  sim_pkt_t p = *tmpl;
  p.seq = l->seq++;
  p.len = len;
  p.data = copy;
  size_t i = l->n;
  while (i > 0 && by_time(&l->q[i - 1], &p) > 0) {
    l->q[i] = l->q[i - 1];
    i--;
  }
  l->q[i] = p;
  l->n++;
  return 1;
}

int sim_link_send(sim_link_t *l, int dir, uint64_t now_us, const uint8_t *buf, size_t len) {
  const sim_dir_cfg_t *c = &l->cfg[dir];
  sim_dir_stats_t *st = &l->stats[dir];
  st->sent++;
  st->bytes_sent += len;
  if (l->filter && l->filter(l->filter_user, dir, now_us, buf, len)) {
    st->filtered++;
    return 0;
  }
  /* Draw every random number in a fixed order, so one setting does not shift the others. */
  double r_loss = sim_link_rand(l), r_jit = sim_link_rand(l), r_reo = sim_link_rand(l),
         r_dup = sim_link_rand(l);
  if (r_loss < c->loss) {
    st->lost++;
    return 0;
  }
  uint64_t leave_ns = now_us * 1000;
  if (c->rate_bps) {
    uint64_t wait_ns = backlog_ns(l, dir, now_us);
    uint64_t ser_ns = (uint64_t)len * 8 * 1000000000ull / c->rate_bps;
    /* Drop-tail: the packet must fit behind what is queued, in bytes and in time. */
    if (!c->burst_bytes &&
        ((c->queue_bytes && sim_link_queued_bytes(l, dir, now_us) + len > c->queue_bytes) ||
         (c->queue_us && wait_ns + ser_ns > c->queue_us * 1000))) {
      st->queue_drops++;
      return 0;
    }
    if (c->burst_bytes) {
      /* Token bucket: credit(t) = burst - (tb - t) x rate, at most burst. The packet
       * leaves when credit >= len, not before the one ahead of it; it spends len. */
      uint64_t burst_ns = (uint64_t)c->burst_bytes * 8 * 1000000000ull / c->rate_bps;
      uint64_t tb = l->tb_ns[dir] > leave_ns ? l->tb_ns[dir] : leave_ns;
      uint64_t ready = tb + ser_ns > burst_ns ? tb + ser_ns - burst_ns : 0;
      uint64_t at = leave_ns;
      if (ready > at) at = ready;
      if (l->link_free_ns[dir] > at) at = l->link_free_ns[dir];
      wait_ns = at - leave_ns;
      if ((c->queue_bytes && (u128)wait_ns * c->rate_bps / 8000000000ull + len > c->queue_bytes) ||
          (c->queue_us && wait_ns > c->queue_us * 1000)) {
        st->queue_drops++;
        return 0;
      }
      l->tb_ns[dir] = tb + ser_ns;
      l->link_free_ns[dir] = at;
      leave_ns = at;
    } else {
      leave_ns += wait_ns + ser_ns;
      l->link_free_ns[dir] = leave_ns;
    }
  }
  sim_pkt_t p = {.dir = dir, .kind = PKT_FIFO, .sent_us = now_us, .leave_ns = leave_ns};
  p.extra_us = c->delay_us + (uint64_t)(r_jit * (double)(c->jitter_us + 1));
  p.at = ceil_us(leave_ns) + p.extra_us;
  if (r_reo < c->reorder) {
    p.kind = PKT_REORDERED;
    p.extra_us += c->reorder_extra_us ? c->reorder_extra_us : c->delay_us + c->jitter_us + 1000;
    p.at = ceil_us(leave_ns) + p.extra_us;
    st->reordered++;
  } else {
    if (p.at < l->last_arrival[dir]) p.at = l->last_arrival[dir];
    l->last_arrival[dir] = p.at;
  }
  if (!enqueue(l, &p, buf, len)) return 0;
  if (r_dup < c->duplicate) {
    st->duplicated++;
    p.kind = PKT_DUP;
    p.at++;
    enqueue(l, &p, buf, len);
  }
  return 1;
}

void sim_link_set_rate(sim_link_t *l, int dir, uint64_t now_us, uint64_t rate_bps) {
  uint64_t old = l->cfg[dir].rate_bps, now_ns = now_us * 1000;
  l->cfg[dir].rate_bps = rate_bps;
  if (!old || l->link_free_ns[dir] <= now_ns) return; /* nothing waiting for the link */
  /* From now until the backlog drains the link is busy without a gap (everything in it
   * was sent before now), so the rest of the schedule stretches by old / new. */
#define STRETCH(t) (now_ns + (rate_bps ? (uint64_t)((u128)((t) - now_ns) * old / rate_bps) : 0))
  l->link_free_ns[dir] = STRETCH(l->link_free_ns[dir]);
  if (l->tb_ns[dir] > now_ns) l->tb_ns[dir] = STRETCH(l->tb_ns[dir]);
  qsort(l->q, l->n, sizeof *l->q, by_seq);
  uint64_t floor = 0, prev_at = 0;
  int any_fifo = 0;
  for (size_t i = 0; i < l->n; i++) {
    sim_pkt_t *p = &l->q[i];
    if (p->dir != dir) continue;
    if (p->leave_ns > now_ns) {
      p->leave_ns = STRETCH(p->leave_ns);
      p->at = ceil_us(p->leave_ns) + p->extra_us;
      if (p->kind == PKT_DUP) p->at = prev_at + 1;
      if (p->kind == PKT_FIFO && p->at < floor) p->at = floor;
    }
    if (p->kind == PKT_FIFO) {
      if (p->at > floor) floor = p->at;
      any_fifo = 1;
    }
    prev_at = p->at;
  }
#undef STRETCH
  if (any_fifo) l->last_arrival[dir] = floor;
  qsort(l->q, l->n, sizeof *l->q, by_time);
}

uint64_t sim_link_next_delivery(const sim_link_t *l) { return l->n ? l->q[0].at : UINT64_MAX; }

int sim_link_poll(sim_link_t *l, uint64_t now_us, int dir, uint8_t *buf, size_t *len) {
  for (size_t i = 0; i < l->n && l->q[i].at <= now_us; i++) {
    if (l->q[i].dir != dir) continue;
    sim_pkt_t p = l->q[i];
    memmove(&l->q[i], &l->q[i + 1], (l->n - i - 1) * sizeof *l->q);
    l->n--;
    int rc = 1;
    if (p.len > *len) {
      rc = -1;
    } else {
      memcpy(buf, p.data, p.len);
      *len = p.len;
      sim_dir_stats_t *st = &l->stats[dir];
      st->delivered++;
      st->bytes_delivered += p.len;
      uint64_t in_queue = ceil_us(p.leave_ns) - p.sent_us;
      if (in_queue > st->max_queue_delay_us) st->max_queue_delay_us = in_queue;
    }
    free(p.data);
    return rc;
  }
  return 0;
}

const sim_dir_stats_t *sim_link_stats(const sim_link_t *l, int dir) { return &l->stats[dir]; }

/* ---- driver ---- */

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

int sim_run(sim_link_t *l, sim_peer_t *a, sim_peer_t *b, uint64_t until_us,
            int (*cond)(void *cond_user), void *cond_user) {
  static uint8_t buf[65536];
  for (long steps = 0; steps < 10000000; steps++) {
    if (cond && cond(cond_user)) return 1;
    uint64_t next = sim_link_next_delivery(l);
    next = min_u64(next, a->next_deadline(a->core));
    next = min_u64(next, b->next_deadline(b->core));
    if (next > until_us) {
      l->now = until_us;
      return cond && cond(cond_user) ? 1 : 0;
    }
    if (next > l->now) l->now = next;
    uint64_t now = l->now;
    /* Deliveries first (in arrival order across both directions), then timers. */
    size_t len = sizeof buf;
    int got;
    if (l->n && l->q[0].at <= now) {
      int dir = l->q[0].dir;
      got = sim_link_poll(l, now, dir, buf, &len);
      if (got == 1) {
        sim_peer_t *to = dir == SIM_AB ? b : a;
        to->handle_input(to->core, now, buf, len);
      }
      continue;
    }
    if (a->next_deadline(a->core) <= now) a->handle_timeout(a->core, now);
    if (b->next_deadline(b->core) <= now) b->handle_timeout(b->core, now);
  }
  return -1;
}
