/* The allocator: per viewer, which layer each subscribed stream gets (see
 * sfu/allocator.h for the rules). */
#include "sfu/allocator.h"

#include <string.h>

/* One step of a stream's ladder. A temporal index will join the spatial layer here. */
typedef struct {
  int8_t layer;
  uint32_t bps;
} rung_t;

/* One stream during a run. */
typedef struct {
  rung_t rung[SFU_ALLOC_MAX_LAYERS];
  int n;          /* rungs; 0: nothing flows */
  int level;      /* the walk's rung, -1: paused by the budget (or n == 0) */
  int8_t cur;     /* the caller's current layer, -1 when none or out of range */
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

/* The usable layers of s, cheapest first (sfu/allocator.h "Ladder"). */
static void build_ladder(const sfu_alloc_t *a, uint64_t now_us, const sfu_alloc_stream_t *s,
                         plan_t *p) {
  int nl = s->n_layers < SFU_ALLOC_MAX_LAYERS ? (int)s->n_layers : SFU_ALLOC_MAX_LAYERS;
  p->n = 0;
  p->cur = s->current >= 0 && s->current < nl ? s->current : -1;
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
    if (p->n > 0 && k > p->cur &&
        (l->bitrate_bps == 0 || since(now_us, l->active_since_us) < a->min_age_us))
      continue;
    p->rung[p->n].layer = (int8_t)k;
    p->rung[p->n].bps = l->bitrate_bps;
    p->n++;
    if (k == p->cur) p->cur_ok = 1;
  }
  if (p->n == 0 && lowest_active >= 0) { /* a cap never pauses a stream */
    p->rung[0].layer = (int8_t)lowest_active;
    p->rung[0].bps = s->layers[lowest_active].bitrate_bps;
    p->n = 1;
    p->cur_ok = lowest_active == p->cur;
  }
}

/* What climbing to rung r costs: above the current layer, with the margin. */
static uint64_t rung_cost(const sfu_alloc_t *a, const plan_t *p, const rung_t *r) {
  if (r->layer <= p->cur) return r->bps;
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
  sfu_alloc_slot_t fresh = {.stream_id = id, .up_layer = -1};
  return fresh;
}

/* The walk (sfu/allocator.h "Walk"): p[i].level for every stream within budget, and
 * *want_bps: the budget the first step that did not fit would have needed. */
static void walk(const sfu_alloc_t *a, const sfu_alloc_stream_t *s, plan_t *p, const uint8_t *order,
                 size_t n, uint64_t budget, uint64_t *want_bps) {
  uint64_t used = 0;
  int first_fail = -1; /* stream index */
  uint64_t fail_from = 0, fail_to = 0;
  for (size_t o = 0; o < n; o++) {
    plan_t *q = &p[order[o]];
    q->level = -1;
    q->done = 0;
    if (q->n == 0) continue;
    /* The floor: at once for a stream that has it or is new; a resume needs the margin. */
    uint64_t cost = q->slot.paused ? rung_cost(a, q, &q->rung[0]) : q->rung[0].bps;
    if (used + cost <= budget) {
      q->level = 0;
      used += q->rung[0].bps;
    } else if (first_fail < 0) {
      first_fail = order[o], fail_from = 0, fail_to = cost;
    }
  }
  for (size_t t0 = 0, t1; t0 < n; t0 = t1) { /* the tier order[t0..t1) */
    t1 = t0 + 1;
    while (t1 < n && same_tier(&s[order[t0]], &s[order[t1]])) t1++;
    for (int progress = 1; progress;) { /* round-robin: one rung per stream per round */
      progress = 0;
      for (size_t o = t0; o < t1; o++) {
        plan_t *q = &p[order[o]];
        if (q->level < 0 || q->done) continue;
        if (q->level + 1 >= q->n) {
          q->done = 1;
          continue;
        }
        uint64_t from = q->rung[q->level].bps;
        uint64_t cost = rung_cost(a, q, &q->rung[q->level + 1]);
        if (used - from + cost <= budget) {
          q->level++;
          used = used - from + q->rung[q->level].bps;
          progress = 1;
        } else {
          q->done = 1;
          if (first_fail < 0) first_fail = order[o], fail_from = from, fail_to = cost;
        }
      }
    }
  }
  *want_bps = first_fail < 0 ? 0 : used - fail_from + fail_to;
}

/* The highest rung at or below layer, -1 if none. */
static int8_t rung_at_or_below(const plan_t *p, int8_t layer) {
  int8_t best = -1;
  for (int k = 0; k < p->n && p->rung[k].layer <= layer; k++) best = p->rung[k].layer;
  return best;
}

/* While an up-switch waits: the current layer, or a stopped one's next lower, or for a
 * stream new to the allocator (or whose lower layers all stopped) its floor. */
static int8_t meanwhile(const plan_t *p) {
  int8_t t = rung_at_or_below(p, p->cur);
  if (t < 0 && !p->slot.paused && p->n > 0) t = p->rung[0].layer;
  return t;
}

/* When the up-switch held in slot may happen. */
static uint64_t up_ready(const sfu_alloc_t *a, const sfu_alloc_slot_t *slot, int calm) {
  uint64_t ready = slot->up_since_us + a->hold_us;
  if (calm && a->down_at_us + a->calm_us > ready) ready = a->down_at_us + a->calm_us;
  return ready;
}

void sfu_alloc_run(sfu_alloc_t *a, uint64_t now_us, uint64_t estimate_bps, uint64_t cap_bps,
                   const sfu_alloc_stream_t *s, size_t n, int8_t *out, sfu_alloc_result_t *res) {
  sfu_alloc_result_t scratch_res;
  if (!res) res = &scratch_res;
  memset(res, 0, sizeof *res);
  for (size_t i = SFU_ALLOC_MAX_STREAMS; i < n; i++) out[i] = -1;
  if (n > SFU_ALLOC_MAX_STREAMS) n = SFU_ALLOC_MAX_STREAMS;
  if (cap_bps == 0) cap_bps = SFU_ALLOC_DEFAULT_CAP_BPS;
  uint64_t budget = estimate_bps && estimate_bps < cap_bps ? estimate_bps : cap_bps;
  res->budget_bps = budget;

  plan_t p[SFU_ALLOC_MAX_STREAMS];
  uint8_t order[SFU_ALLOC_MAX_STREAMS];
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
  walk(a, s, p, order, n, budget, &want);
  res->want_bps = want <= cap_bps ? want : 0;

  /* Down-switches the budget caused first: they make the viewer calm before any up. */
  for (size_t i = 0; i < n; i++) {
    int8_t d = p[i].level >= 0 ? p[i].rung[p[i].level].layer : -1;
    if (p[i].cur_ok && d < p[i].cur) a->calm = 1, a->down_at_us = now_us;
  }
  int calm = a->calm && since(now_us, a->down_at_us) < a->calm_us;
  uint64_t wake = 0;
  for (size_t i = 0; i < n; i++) {
    plan_t *q = &p[i];
    int8_t d = q->level >= 0 ? q->rung[q->level].layer : -1;
    int8_t t;
    if (d > q->cur) { /* up: only what the walk kept reaching for hold_us */
      if (q->slot.up_layer <= q->cur)
        q->slot.up_layer = d, q->slot.up_since_us = now_us;
      else if (d < q->slot.up_layer)
        q->slot.up_layer = d;
      uint64_t ready = up_ready(a, &q->slot, calm);
      t = now_us >= ready ? rung_at_or_below(q, q->slot.up_layer) : -1;
      /* The held rung stopped since, or it was a step on the way to d: d's own hold. */
      if (now_us >= ready && t < d) {
        q->slot.up_layer = d, q->slot.up_since_us = now_us;
        ready = up_ready(a, &q->slot, calm);
      }
      if (t <= q->cur) t = meanwhile(q);
      if (t < d && (!wake || ready < wake)) wake = ready;
    } else {
      q->slot.up_layer = -1;
      t = d;
    }
    if (t < 0 && q->n > 0) { /* paused by the budget */
      q->slot.paused = 1;
      res->paused[res->n_paused++] = s[i].stream_id;
    } else if (t >= 0) {
      q->slot.paused = 0;
      res->allocated_bps += s[i].layers[t].bitrate_bps;
    }
    out[i] = t;
    a->slots[i] = q->slot;
  }
  a->n_slots = n;
  a->wake_us = wake;
  a->ran = 1;
  a->last_run_us = now_us;
  a->last_estimate_bps = estimate_bps;
  res->insufficient = res->n_paused > 0;
}
