/* Simulated link; model in sim_link.h. Test code: simple and obviously right beats fast
 * (pending packets live in a sorted array; an insert is O(n), fine for a few hundred). */
#include "sim_link.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
  uint64_t at;  /* arrival time */
  uint64_t seq; /* send order, breaks ties so equal times stay FIFO */
  int dir;
  size_t len;
  uint8_t *data;
} sim_pkt_t;

struct sim_link {
  uint64_t rng;
  uint64_t now;
  uint64_t seq;
  sim_dir_cfg_t cfg[2];
  sim_dir_stats_t stats[2];
  uint64_t link_free_at[2]; /* serialisation: when the bottleneck is idle again */
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

static size_t queued_bytes(const sim_link_t *l, int dir, uint64_t now) {
  /* Bytes still waiting for the bottleneck: approximated from the backlog time. */
  const sim_dir_cfg_t *c = &l->cfg[dir];
  if (!c->rate_bps || l->link_free_at[dir] <= now) return 0;
  return (size_t)((l->link_free_at[dir] - now) * c->rate_bps / 8000000ull);
}

static int enqueue(sim_link_t *l, int dir, uint64_t at, const uint8_t *buf, size_t len) {
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 64;
    sim_pkt_t *nq = realloc(l->q, nc * sizeof *nq);
    if (!nq) return 0;
    l->q = nq, l->cap = nc;
  }
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy) return 0;
  memcpy(copy, buf, len);
  sim_pkt_t p = {at, l->seq++, dir, len, copy};
  size_t i = l->n;
  while (i > 0 && (l->q[i - 1].at > at || (l->q[i - 1].at == at && l->q[i - 1].seq > p.seq))) {
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
  uint64_t leave = now_us;
  if (c->rate_bps) {
    if (c->queue_bytes && queued_bytes(l, dir, now_us) + len > c->queue_bytes) {
      st->queue_drops++;
      return 0;
    }
    uint64_t start = l->link_free_at[dir] > now_us ? l->link_free_at[dir] : now_us;
    leave = start + (uint64_t)len * 8 * 1000000ull / c->rate_bps;
    l->link_free_at[dir] = leave;
  }
  uint64_t at = leave + c->delay_us + (uint64_t)(r_jit * (double)(c->jitter_us + 1));
  if (r_reo < c->reorder) {
    at += c->reorder_extra_us ? c->reorder_extra_us : c->delay_us + c->jitter_us + 1000;
    st->reordered++;
  } else {
    if (at < l->last_arrival[dir]) at = l->last_arrival[dir];
    l->last_arrival[dir] = at;
  }
  if (!enqueue(l, dir, at, buf, len)) return 0;
  if (r_dup < c->duplicate) {
    st->duplicated++;
    enqueue(l, dir, at + 1, buf, len);
  }
  return 1;
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
      l->stats[dir].delivered++;
      l->stats[dir].bytes_delivered += p.len;
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
