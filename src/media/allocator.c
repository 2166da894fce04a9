/* The allocator: per viewer, which layer each subscribed stream gets (see
 * sfu/allocator.h for the rules). */
#include "sfu/allocator.h"

#include <string.h>

/* A rung's place in the ladder order: (layer, temporal) compared as one number, full
 * rate (every temporal layer) above every reduced rate of the same layer. */
#define KEY_FULL (SFU_ALLOC_MAX_TEMPORAL - 1)
static int8_t key_of(int layer, int tid) {
  return (int8_t)(layer * SFU_ALLOC_MAX_TEMPORAL + (tid < 0 ? KEY_FULL : tid));
}
static int8_t key_layer(int8_t key) {
  return key < 0 ? -1 : (int8_t)(key / SFU_ALLOC_MAX_TEMPORAL);
}
static int8_t key_tid(int8_t key) {
  return key < 0 || key % SFU_ALLOC_MAX_TEMPORAL == KEY_FULL
             ? -1
             : (int8_t)(key % SFU_ALLOC_MAX_TEMPORAL);
}

/* One step of a stream's ladder: a spatial layer at full rate, or at a reduced frame
 * rate (its temporal layers up to tid). */
typedef struct {
  int8_t key; /* key_of(layer, tid) */
  uint32_t bps;
} rung_t;

/* One stream during a run. */
typedef struct {
  rung_t rung[SFU_ALLOC_MAX_RUNGS];
  int n;          /* rungs; 0: nothing flows */
  int base;       /* the floor layer's full-rate rung (the floors' phase climbs to it) */
  int level;      /* the walk's rung, -1: paused by the budget (or n == 0) */
  int8_t cur;     /* the caller's current rung key, -1 when none or out of range */
  uint8_t cur_ok; /* cur is a rung: still active and within the caps */
  uint8_t done;   /* the walk cannot climb further */
  sfu_alloc_slot_t slot;
} plan_t;

void sfu_alloc_init(sfu_alloc_t *a) {
  memset(a, 0, sizeof *a);
  a->hold_us = SFU_ALLOC_DEFAULT_HOLD_US;
  a->calm_us = SFU_ALLOC_DEFAULT_CALM_US;
  a->min_age_us = SFU_ALLOC_DEFAULT_MIN_AGE_US;
  a->period_us = SFU_ALLOC_DEFAULT_PERIOD_US;
  a->margin_pct = SFU_ALLOC_DEFAULT_MARGIN_PCT;
  a->move_pct = SFU_ALLOC_DEFAULT_MOVE_PCT;
  a->keep_pct = SFU_ALLOC_DEFAULT_KEEP_PCT;
  a->pause_hold_us = SFU_ALLOC_DEFAULT_PAUSE_HOLD_US;
}

static uint64_t since(uint64_t now_us, uint64_t t_us) { return now_us > t_us ? now_us - t_us : 0; }

int sfu_alloc_due(const sfu_alloc_t *a, uint64_t now_us, uint64_t estimate_bps, int changed) {
  if (!a->ran || changed) return 1;
  if (since(now_us, a->last_run_us) >= a->period_us) return 1;
  if (a->wake_us && now_us >= a->wake_us) return 1;
  uint64_t last = a->last_estimate_bps;
  uint64_t moved = estimate_bps > last ? estimate_bps - last : last - estimate_bps;
  /* moved / last > move_pct % (last 0: any estimate is news); no overflow near 2^64. */
  return moved > last / 100u * a->move_pct + last % 100u * a->move_pct / 100u;
}

/* The temporal layers of l that count: 0 or 1 means none (one full-rate rung). */
static int n_temporal(const sfu_alloc_layer_t *l) {
  return l->n_temporal < SFU_ALLOC_MAX_TEMPORAL ? l->n_temporal : SFU_ALLOC_MAX_TEMPORAL;
}

/* Layer k's rungs: its reduced frame rates (sfu/allocator.h "Temporal rungs": on the
 * floor layer all of them, above it those that cost more than the rung below), then its
 * full rate. Ascending bitrates. */
static inline void push_rung(plan_t *p, int8_t key, uint32_t bps) {
  p->rung[p->n].key = key;
  p->rung[p->n].bps = bps;
  p->cur_ok |= key == p->cur;
  p->n++;
}

static inline void add_layer(plan_t *p, const sfu_alloc_layer_t *l, int k) {
  int floor = p->n == 0;
  int nt = n_temporal(l);
  /* Above the floor layer: only the top temporal layer dropped (half the frames). */
  for (int t = floor ? 0 : nt - 2; t >= 0 && t + 1 < nt; t++) {
    uint32_t bps = l->temporal_bps[t];
    if (bps == 0) continue;
    /* The current rung stays one whatever the measurement noise says of its place (a
     * rung that comes and goes with noise would be a spatial switch each time). */
    if (key_of(k, t) != p->cur &&
        ((l->bitrate_bps && bps >= l->bitrate_bps) || (p->n > 0 && bps <= p->rung[p->n - 1].bps)))
      continue;
    push_rung(p, key_of(k, t), bps);
  }
  if (floor) p->base = p->n;
  push_rung(p, key_of(k, -1), l->bitrate_bps);
}

/* The usable layers of s, cheapest first (sfu/allocator.h "Ladder"). */
static void build_ladder(const sfu_alloc_t *a, uint64_t now_us, const sfu_alloc_stream_t *s,
                         plan_t *p) {
  int nl = s->n_layers < SFU_ALLOC_MAX_LAYERS ? (int)s->n_layers : SFU_ALLOC_MAX_LAYERS;
  p->n = p->base = 0;
  int cur_layer = s->current >= 0 && s->current < nl ? s->current : -1;
  p->cur = -1;
  if (cur_layer >= 0) {
    /* A reduced rate only where the layer has one (a stale tid reads as full rate). */
    int nt = n_temporal(&s->layers[cur_layer]);
    p->cur =
        key_of(cur_layer, s->current_tid >= 0 && s->current_tid + 1 < nt ? s->current_tid : -1);
  }
  p->cur_ok = 0;
  int cap = nl - 1;
  if (s->max_layer >= 0 && s->max_layer < cap) cap = s->max_layer;
  int lowest_active = -1;
  for (int k = 0; k < nl; k++) {
    const sfu_alloc_layer_t *l = &s->layers[k];
    if (!l->active) continue;
    if (lowest_active < 0) lowest_active = k;
    if (k > cap || (s->max_height && l->height > s->max_height)) continue;
    /* Above the floor and the current layer: only a layer that has proven itself. */
    if (p->n > 0 && k > cur_layer &&
        (l->bitrate_bps == 0 || since(now_us, l->active_since_us) < a->min_age_us))
      continue;
    add_layer(p, l, k);
  }
  if (p->n == 0 && lowest_active >= 0) /* a cap never pauses a stream */
    add_layer(p, &s->layers[lowest_active], lowest_active);
}

/* What climbing to rung r costs: above the current rung, with the margin. */
static uint64_t rung_cost(const sfu_alloc_t *a, const plan_t *p, const rung_t *r) {
  if (r->key <= p->cur) return r->bps;
  return (uint64_t)r->bps * (100u + a->margin_pct) / 100u;
}

static int before(const sfu_alloc_stream_t *x, const sfu_alloc_stream_t *y) {
  if (!!x->content != !!y->content) return !!x->content;
  return x->priority > y->priority;
}

static int same_tier(const sfu_alloc_stream_t *x, const sfu_alloc_stream_t *y) {
  return !!x->content == !!y->content && x->priority == y->priority;
}

/* The previous run's memory of stream id (usually at the same index). */
static sfu_alloc_slot_t find_slot(const sfu_alloc_t *a, size_t i, uint32_t id) {
  if (i < a->n_slots && a->slots[i].stream_id == id) return a->slots[i];
  for (size_t j = 0; j < a->n_slots; j++)
    if (a->slots[j].stream_id == id) return a->slots[j];
  sfu_alloc_slot_t fresh = {.stream_id = id, .up_rung = -1};
  return fresh;
}

/* The walk's running totals. */
typedef struct {
  uint64_t used, budget;
  int first_fail; /* stream index of the first step that did not fit, -1 none */
  uint64_t fail_from, fail_to;
} walk_t;

/* Round-robin over order[t0..t1): each stream one rung per round while the budget allows,
 * up to rung `to_base ? base : top`. */
static void climb(const sfu_alloc_t *a, plan_t *p, const uint8_t *order, size_t t0, size_t t1,
                  int to_base, walk_t *w) {
  for (size_t o = t0; o < t1; o++) p[order[o]].done = 0;
  for (int progress = 1; progress;) {
    progress = 0;
    for (size_t o = t0; o < t1; o++) {
      plan_t *q = &p[order[o]];
      if (q->level < 0 || q->done) continue;
      if (q->level + 1 >= (to_base ? q->base + 1 : q->n)) {
        q->done = 1;
        continue;
      }
      uint64_t from = q->rung[q->level].bps;
      uint64_t cost = rung_cost(a, q, &q->rung[q->level + 1]);
      if (w->used - from + cost <= w->budget) {
        q->level++;
        w->used = w->used - from + q->rung[q->level].bps;
        progress = 1;
      } else {
        q->done = 1;
        if (w->first_fail < 0) w->first_fail = order[o], w->fail_from = from, w->fail_to = cost;
      }
    }
  }
}

/* The walk (sfu/allocator.h "Walk"): p[i].level for every stream within budget, and
 * *want_bps: the budget the first step that did not fit would have needed. */
static void walk(const sfu_alloc_t *a, uint64_t now_us, const sfu_alloc_stream_t *s, plan_t *p,
                 const uint8_t *order, size_t n, uint64_t budget, uint64_t cap,
                 uint64_t *want_bps, uint64_t *wake) {
  walk_t w = {.used = 0, .budget = budget, .first_fail = -1};
  for (size_t o = 0; o < n; o++) {
    plan_t *q = &p[order[o]];
    q->level = -1;
    if (q->n == 0) continue;
    /* The floor: at once for a stream that is new; a resume needs the margin; a stream
     * that flows keeps it while keep_pct of it fits (sfu/allocator.h). */
    uint64_t cost = q->slot.paused ? rung_cost(a, q, &q->rung[0]) : q->rung[0].bps;
    if (q->cur >= 0) cost = (uint64_t)q->rung[0].bps * a->keep_pct / 100u;
    int fits = w.used + cost <= budget;
    /* A flowing floor that no longer fits is paused only once it has not fitted for
     * pause_hold_us (sfu/allocator.h). */
    if (fits || q->cur < 0) {
      q->slot.short_since_us = 0;
    } else if (!q->slot.short_since_us) {
      q->slot.short_since_us = now_us ? now_us : 1;
    }
    /* (the receive cap is a limit, not an estimate: never held over it) */
    int held = !fits && q->cur >= 0 && now_us < q->slot.short_since_us + a->pause_hold_us &&
               w.used + q->rung[0].bps <= cap;
    if (held && (!*wake || q->slot.short_since_us + a->pause_hold_us < *wake))
      *wake = q->slot.short_since_us + a->pause_hold_us;
    if (fits || held) {
      q->level = 0;
      w.used += q->rung[0].bps;
    } else if (w.first_fail < 0) {
      w.first_fail = order[o], w.fail_from = 0, w.fail_to = cost;
    }
  }
  /* Every floor layer at full rate before anything else climbs (nothing to do without
   * temporal rungs: the floor is the full rate then). */
  int any_base = 0;
  for (size_t i = 0; i < n; i++) any_base |= p[i].base > 0;
  if (any_base) climb(a, p, order, 0, n, 1, &w);
  for (size_t t0 = 0, t1; t0 < n; t0 = t1) { /* the tier order[t0..t1) */
    t1 = t0 + 1;
    while (t1 < n && same_tier(&s[order[t0]], &s[order[t1]])) t1++;
    climb(a, p, order, t0, t1, 0, &w);
  }
  *want_bps = w.first_fail < 0 ? 0 : w.used - w.fail_from + w.fail_to;
}

/* The highest rung at or below key, -1 if none. */
static int8_t rung_at_or_below(const plan_t *p, int8_t key) {
  int8_t best = -1;
  for (int k = 0; k < p->n && p->rung[k].key <= key; k++) best = p->rung[k].key;
  return best;
}

/* While an up-switch waits: the current rung, or a stopped one's next lower, or for a
 * stream new to the allocator (or whose lower layers all stopped) the floor layer as far
 * as the walk reached it (its full rate when it fits: a new stream does not start at a
 * reduced frame rate only to wait a hold for the rest). */
static int8_t meanwhile(const plan_t *p) {
  int8_t t = rung_at_or_below(p, p->cur);
  if (t < 0 && !p->slot.paused && p->n > 0)
    t = p->rung[p->level >= 0 && p->level < p->base ? p->level : p->base].key;
  return t;
}

/* The bitrate of rung key. */
static uint32_t rung_bps(const plan_t *p, int8_t key) {
  for (int k = 0; k < p->n; k++)
    if (p->rung[k].key == key) return p->rung[k].bps;
  return 0;
}

/* When the up-switch held in slot may happen. */
static uint64_t up_ready(const sfu_alloc_t *a, const sfu_alloc_slot_t *slot, int calm) {
  uint64_t ready = slot->up_since_us + a->hold_us;
  if (calm && a->down_at_us + a->calm_us > ready) ready = a->down_at_us + a->calm_us;
  return ready;
}

void sfu_alloc_run(sfu_alloc_t *a, uint64_t now_us, uint64_t estimate_bps, uint64_t cap_bps,
                   const sfu_alloc_stream_t *s, size_t n, int8_t *out, int8_t *out_tid,
                   sfu_alloc_result_t *res) {
  sfu_alloc_result_t scratch_res;
  if (!res) res = &scratch_res;
  memset(res, 0, sizeof *res);
  for (size_t i = SFU_ALLOC_MAX_STREAMS; i < n; i++) {
    out[i] = -1;
    if (out_tid) out_tid[i] = -1;
  }
  if (n > SFU_ALLOC_MAX_STREAMS) n = SFU_ALLOC_MAX_STREAMS;
  if (cap_bps == 0) cap_bps = SFU_ALLOC_DEFAULT_CAP_BPS;
  uint64_t budget = estimate_bps && estimate_bps < cap_bps ? estimate_bps : cap_bps;
  res->budget_bps = budget;

  plan_t p[SFU_ALLOC_MAX_STREAMS];
  uint8_t order[SFU_ALLOC_MAX_STREAMS] = {0}; /* (n = 0 reads none; silences GCC) */
  for (size_t i = 0; i < n; i++) {
    build_ladder(a, now_us, &s[i], &p[i]);
    p[i].slot = find_slot(a, i, s[i].stream_id);
    if (p[i].cur >= 0) p[i].slot.paused = 0; /* it flows: the caller says so */
    if (p[i].n) res->required_bps += p[i].rung[0].bps;
    /* Stable insertion: equal keys keep subscription order. */
    size_t j = i;
    while (j > 0 && before(&s[i], &s[order[j - 1]])) order[j] = order[j - 1], j--;
    order[j] = (uint8_t)i;
  }
  uint64_t want = 0;
  uint64_t wake = 0;
  walk(a, now_us, s, p, order, n, budget, cap_bps, &want, &wake);
  res->want_bps = want <= cap_bps ? want : 0;

  /* Down-switches the budget caused first: they make the viewer calm before any up. */
  for (size_t i = 0; i < n; i++) {
    int8_t d = p[i].level >= 0 ? p[i].rung[p[i].level].key : -1;
    if (p[i].cur_ok && d < p[i].cur) a->calm = 1, a->down_at_us = now_us;
  }
  int calm = a->calm && since(now_us, a->down_at_us) < a->calm_us;
  for (size_t i = 0; i < n; i++) {
    plan_t *q = &p[i];
    int8_t d = q->level >= 0 ? q->rung[q->level].key : -1;
    int8_t t;         /* the rung key given */
    if (d > q->cur) { /* up: only what the walk kept reaching for hold_us */
      /* A resume (nothing flows now) waits for the hold and the margin, not the calm
       * period: the viewer sees a frozen tile meanwhile, worse than a second switch
       * (Chromium behind a 250 kbit/s cap froze 5 s on a pause that had already fitted). */
      int c = q->cur >= 0 ? calm : 0;
      if (q->slot.up_rung <= q->cur)
        q->slot.up_rung = d, q->slot.up_since_us = now_us;
      else if (d < q->slot.up_rung)
        q->slot.up_rung = d;
      uint64_t ready = up_ready(a, &q->slot, c);
      t = now_us >= ready ? rung_at_or_below(q, q->slot.up_rung) : -1;
      /* The held rung stopped since, or it was a step on the way to d: d's own hold. */
      if (now_us >= ready && t < d) {
        q->slot.up_rung = d, q->slot.up_since_us = now_us;
        ready = up_ready(a, &q->slot, c);
      }
      if (t <= q->cur) t = meanwhile(q);
      if (t < d && (!wake || ready < wake)) wake = ready;
    } else {
      q->slot.up_rung = -1;
      t = d;
    }
    if (t < 0 && q->n > 0) { /* paused by the budget */
      q->slot.paused = 1;
      res->paused[res->n_paused++] = s[i].stream_id;
    } else if (t >= 0) {
      q->slot.paused = 0;
      res->allocated_bps += rung_bps(q, t);
    }
    out[i] = key_layer(t);
    if (out_tid) out_tid[i] = key_tid(t);
    a->slots[i] = q->slot;
  }
  a->n_slots = n;
  a->wake_us = wake;
  a->ran = 1;
  a->last_run_us = now_us;
  a->last_estimate_bps = estimate_bps;
  res->insufficient = res->n_paused > 0;
}
