/* The allocator (issue 8 "Allocation"): the simulation scenarios at the
 * allocator's level, on a scripted virtual clock. A viewer runs the allocator whenever
 * sfu_alloc_due says so (checked every 100 ms) and adopts each target at once, as the
 * router's `current` would; a switch is a change of that target. */
#include "sfu/allocator.h"

#include <stdint.h>
#include <string.h>

#include "test.h"

#define MS 1000ull
#define S 1000000ull
#define STEP_US (100 * MS)

typedef struct {
  sfu_alloc_t a;
  sfu_alloc_stream_t s[40];
  size_t n;
  int8_t out[40], out_tid[40];
  sfu_alloc_result_t res;
  uint64_t now, rng;
  int switches[40];
  int runs;
} viewer_t;

/* A camera with the ladder: 150 / 500 / 1,500 kbps at 180p / 360p / 720p, all
 * active since t = 0. */
static void camera(sfu_alloc_stream_t *s, uint32_t id) {
  static const uint32_t bps[3] = {150000, 500000, 1500000};
  static const uint16_t h[3] = {180, 360, 720};
  memset(s, 0, sizeof *s);
  s->stream_id = id;
  s->max_layer = -1;
  s->current = -1;
  s->n_layers = 3;
  for (int k = 0; k < 3; k++) {
    s->layers[k].bitrate_bps = bps[k];
    s->layers[k].height = h[k];
    s->layers[k].active = 1;
  }
}

static void viewer_init(viewer_t *v, size_t n) {
  memset(v, 0, sizeof *v);
  sfu_alloc_init(&v->a);
  v->n = n;
  v->now = 10 * S; /* every layer has flowed for 10 s */
  v->rng = 0x9e3779b97f4a7c15ull;
  for (size_t i = 0; i < n; i++) camera(&v->s[i], 100 + (uint32_t)i);
}

static void run_now(viewer_t *v, uint64_t est) {
  sfu_alloc_run(&v->a, v->now, est, 0, v->s, v->n, v->out, v->out_tid, &v->res);
  v->runs++;
  for (size_t i = 0; i < v->n; i++) {
    if (v->out[i] != v->s[i].current ||
        (v->s[i].layers[0].n_temporal && v->out_tid[i] != v->s[i].current_tid))
      v->switches[i]++;
    v->s[i].current = v->out[i];
    v->s[i].current_tid = v->out_tid[i];
  }
}

/* One 100 ms step: run if due. */
static void step(viewer_t *v, uint64_t est, int changed) {
  if (sfu_alloc_due(&v->a, v->now, est, changed)) run_now(v, est);
  v->now += STEP_US;
}

/* est ± noise_pct % (uniform), for dur_us. */
static void hold_estimate(viewer_t *v, uint64_t est, unsigned noise_pct, uint64_t dur_us) {
  for (uint64_t t = 0; t < dur_us; t += STEP_US) {
    v->rng ^= v->rng << 13, v->rng ^= v->rng >> 7, v->rng ^= v->rng << 17;
    uint64_t span = est * noise_pct / 100;
    uint64_t e = est - span + (span ? v->rng % (2 * span + 1) : 0);
    step(v, e, 0);
  }
}

/* The time (since now) at which stream i first reaches layer, stepping at est; -1 if
 * not within dur_us. */
static int64_t time_to_layer(viewer_t *v, size_t i, int8_t layer, uint64_t est, uint64_t dur_us) {
  uint64_t t0 = v->now;
  while (v->now - t0 < dur_us) {
    step(v, est, 0);
    if (v->s[i].current == layer) return (int64_t)(v->now - STEP_US - t0);
  }
  return -1;
}

TEST(steady_300k_settles_on_low_and_never_switches) {
  static viewer_t v;
  viewer_init(&v, 1);
  step(&v, 300000, 0);
  CHECK_EQ_INT(v.s[0].current, 0); /* at once: a new stream gets its floor */
  CHECK_EQ_INT(v.switches[0], 1);
  hold_estimate(&v, 300000, 5, 30 * S);
  CHECK_EQ_INT(v.switches[0], 1); /* no switch in 30 s of 300k ± 5 % */
  CHECK_EQ_INT(v.s[0].current, 0);
  CHECK(v.runs >= 15); /* it did run (every 2 s at least), and kept its choice */
  CHECK(v.runs < 300); /* not on every estimate */
  CHECK_EQ_INT(v.res.insufficient, 0);
}

TEST(estimate_5m_reaches_top_within_one_hold) {
  static viewer_t v;
  viewer_init(&v, 1);
  hold_estimate(&v, 300000, 0, 5 * S);
  REQUIRE(v.s[0].current == 0);
  int64_t t = time_to_layer(&v, 0, 2, 5000000, 10 * S);
  CHECK(t >= 0);
  CHECK((uint64_t)t >= SFU_ALLOC_DEFAULT_HOLD_US);           /* held first */
  CHECK((uint64_t)t <= SFU_ALLOC_DEFAULT_HOLD_US + STEP_US); /* the hold's end wakes it */
  CHECK_EQ_INT(v.switches[0], 2);                            /* low, then straight to the top */
  hold_estimate(&v, 5000000, 5, 20 * S);
  CHECK_EQ_INT(v.switches[0], 2);
}

TEST(new_stream_starts_low_then_climbs_after_hold) {
  static viewer_t v;
  viewer_init(&v, 1);
  step(&v, 5000000, 0);
  CHECK_EQ_INT(v.s[0].current, 0); /* the floor at once, the rest must hold */
  int64_t t = time_to_layer(&v, 0, 2, 5000000, 5 * S);
  CHECK(t >= 0 && (uint64_t)t + STEP_US >= SFU_ALLOC_DEFAULT_HOLD_US);
}

TEST(alternating_300k_3m_one_switch_per_change) {
  static viewer_t v;
  viewer_init(&v, 1);
  hold_estimate(&v, 300000, 0, 10 * S);
  int changes = 0, worst = 0, reached_top = 0;
  for (int k = 0; k < 12; k++) {
    int before = v.switches[0];
    uint64_t est = k % 2 == 0 ? 3000000 : 300000;
    hold_estimate(&v, est, 5, 10 * S);
    changes++;
    int d = v.switches[0] - before;
    if (d > worst) worst = d;
    if (est == 3000000 && v.s[0].current == 2) reached_top++;
    if (est == 300000) CHECK_EQ_INT(v.s[0].current, 0);
  }
  CHECK(worst <= 1);
  CHECK_EQ_INT(reached_top, 6); /* and it does climb each time */
  CHECK(v.switches[0] <= changes + 1);
}

/* A steady estimate right at a layer's bitrate: measured noise must not make it flap. */
TEST(estimate_at_the_edge_of_a_layer_does_not_flap) {
  static viewer_t v;
  viewer_init(&v, 1);
  hold_estimate(&v, 5000000, 0, 5 * S);
  REQUIRE(v.s[0].current == 2);
  int before = v.switches[0];
  hold_estimate(&v, 1520000, 5, 60 * S);
  CHECK(v.switches[0] - before <= 1);
}

TEST(four_streams_all_low_before_any_middle) {
  static viewer_t v;
  viewer_init(&v, 4);
  /* 4 x 150k fit; one middle more would too (950k), not with the margin (1M). */
  hold_estimate(&v, 900000, 0, 10 * S);
  for (size_t i = 0; i < 4; i++) CHECK_EQ_INT(v.s[i].current, 0);
  CHECK_EQ_INT(v.res.required_bps, 600000);
  hold_estimate(&v, 1100000, 0, 10 * S); /* room for one middle */
  CHECK_EQ_INT(v.s[0].current, 1);
  for (size_t i = 1; i < 4; i++) CHECK_EQ_INT(v.s[i].current, 0);
  CHECK(v.res.allocated_bps <= 1100000);
  /* 700k would give stream 0 its middle layer if the others were paused: they are not. */
  viewer_init(&v, 4);
  hold_estimate(&v, 700000, 0, 10 * S);
  for (size_t i = 0; i < 4; i++) CHECK_EQ_INT(v.s[i].current, 0);
  CHECK_EQ_INT(v.res.n_paused, 0);
}

/* Layer by layer: at 2 Mbps two streams get both middles (1M), not one top and one low
 * (150k + 1.5M x 1.1 fits too). */
TEST(upgrades_round_robin_layer_by_layer) {
  static viewer_t v;
  viewer_init(&v, 2);
  hold_estimate(&v, 2000000, 0, 10 * S);
  CHECK_EQ_INT(v.s[0].current, 1);
  CHECK_EQ_INT(v.s[1].current, 1);
}

TEST(content_share_keeps_top_while_cameras_drop) {
  static viewer_t v;
  viewer_init(&v, 4);
  v.s[3].content = 1; /* subscribed last, allocated first */
  hold_estimate(&v, 2200000, 0, 10 * S);
  CHECK_EQ_INT(v.s[3].current, 2); /* 450k + 1.5M x 1.1 */
  for (size_t i = 0; i < 3; i++) CHECK_EQ_INT(v.s[i].current, 0);
  hold_estimate(&v, 6000000, 0, 10 * S);
  for (size_t i = 0; i < 4; i++) CHECK(v.s[i].current >= 1);
  int content_switches = v.switches[3];
  hold_estimate(&v, 2200000, 5, 20 * S);
  CHECK_EQ_INT(v.s[3].current, 2);
  CHECK_EQ_INT(v.switches[3], content_switches);
  for (size_t i = 0; i < 3; i++) CHECK_EQ_INT(v.s[i].current, 0);
}

TEST(priority_then_subscription_order) {
  static viewer_t v;
  viewer_init(&v, 3);
  v.s[2].priority = 5;
  hold_estimate(&v, 1100000, 0, 10 * S);
  CHECK_EQ_INT(v.s[2].current, 1); /* the one middle goes to the priority stream */
  CHECK_EQ_INT(v.s[0].current, 0);
  CHECK_EQ_INT(v.s[1].current, 0);
  /* A higher priority climbs to its top before a lower one climbs at all. */
  hold_estimate(&v, 2100000, 0, 10 * S);
  CHECK_EQ_INT(v.s[2].current, 2);
  CHECK_EQ_INT(v.s[0].current, 0);
  CHECK_EQ_INT(v.s[1].current, 0);
  /* Pausing starts at the end of the order: the lowest priority, last subscribed. */
  hold_estimate(&v, 320000, 0, 3 * S);
  CHECK_EQ_INT(v.s[2].current, 0);
  CHECK_EQ_INT(v.s[0].current, 0);
  CHECK_EQ_INT(v.s[1].current, -1);
}

TEST(max_layer_and_max_height_cap) {
  static viewer_t v;
  viewer_init(&v, 3);
  v.s[0].max_layer = 1;
  v.s[1].max_height = 360;
  v.s[2].max_height = 90; /* below every layer: the lowest, never paused */
  hold_estimate(&v, 5000000, 0, 10 * S);
  CHECK_EQ_INT(v.s[0].current, 1);
  CHECK_EQ_INT(v.s[1].current, 1);
  CHECK_EQ_INT(v.s[2].current, 0);
  /* A cap lowered: down at once; it is not the estimate, so no calm period after. */
  v.s[0].max_layer = -1;
  v.s[1].max_height = 0;
  v.s[2].max_height = 0;
  hold_estimate(&v, 5000000, 0, 10 * S);
  for (size_t i = 0; i < 3; i++) CHECK_EQ_INT(v.s[i].current, 2);
  v.s[0].max_layer = 0;
  step(&v, 5000000, 1);
  CHECK_EQ_INT(v.s[0].current, 0);
  v.s[0].max_layer = -1;
  step(&v, 5000000, 1);
  int64_t t = time_to_layer(&v, 0, 2, 5000000, 10 * S);
  CHECK(t >= 0 && (uint64_t)t <= SFU_ALLOC_DEFAULT_HOLD_US); /* no calm */
}

TEST(stopped_layer_replaced_by_next_lower_at_once) {
  static viewer_t v;
  viewer_init(&v, 1);
  hold_estimate(&v, 5000000, 0, 5 * S);
  REQUIRE(v.s[0].current == 2);
  v.s[0].layers[2].active = 0;
  step(&v, 5000000, 1);
  CHECK_EQ_INT(v.s[0].current, 1);
  v.s[0].layers[1].active = 0;
  step(&v, 5000000, 1);
  CHECK_EQ_INT(v.s[0].current, 0);
  /* Both come back: a layer active for only 1 s is not chosen. */
  for (int k = 1; k <= 2; k++)
    v.s[0].layers[k].active = 1, v.s[0].layers[k].active_since_us = v.now;
  step(&v, 5000000, 1);
  hold_estimate(&v, 5000000, 0, 1 * S);
  CHECK_EQ_INT(v.s[0].current, 0);
  /* After 2 s of flowing plus the hold (a stopped layer is no cause for calm). */
  int64_t t = time_to_layer(&v, 0, 2, 5000000, 10 * S);
  CHECK(t >= 0);
  CHECK((uint64_t)t + 1 * S + STEP_US >= SFU_ALLOC_DEFAULT_MIN_AGE_US + SFU_ALLOC_DEFAULT_HOLD_US);
  CHECK((uint64_t)t + 1 * S <=
        SFU_ALLOC_DEFAULT_MIN_AGE_US + SFU_ALLOC_DEFAULT_HOLD_US + 2 * STEP_US);
}

TEST(young_layer_not_an_up_target_but_a_floor) {
  static viewer_t v;
  viewer_init(&v, 1);
  /* The publisher just started: the lowest layer goes out at once anyway. */
  for (int k = 0; k < 3; k++) v.s[0].layers[k].active_since_us = v.now - 1 * S;
  step(&v, 5000000, 1);
  CHECK_EQ_INT(v.s[0].current, 0);
  /* At 2.8 s of age a hold that had started at once would be over: it starts at 2 s. */
  hold_estimate(&v, 5000000, 0, 1800 * MS);
  CHECK_EQ_INT(v.s[0].current, 0);
  hold_estimate(&v, 5000000, 0, 5 * S);
  CHECK_EQ_INT(v.s[0].current, 2);
  /* The lowest layer restarted a moment ago, the others flow: the floor is still it. */
  viewer_init(&v, 1);
  v.s[0].layers[0].active_since_us = v.now;
  step(&v, 300000, 1);
  CHECK_EQ_INT(v.s[0].current, 0);
  /* A layer not measured yet (0 bps) is no target either. */
  viewer_init(&v, 1);
  v.s[0].layers[2].bitrate_bps = 0;
  hold_estimate(&v, 5000000, 0, 5 * S);
  CHECK_EQ_INT(v.s[0].current, 1);
}

TEST(lowest_layers_do_not_fit_pause_from_the_end) {
  static viewer_t v;
  viewer_init(&v, 4);
  hold_estimate(&v, 1000000, 0, 5 * S);
  for (size_t i = 0; i < 4; i++) REQUIRE(v.s[i].current >= 0);
  hold_estimate(&v, 400000, 0, 1 * S); /* flowing floors are paused after the pause hold */
  CHECK(v.s[3].current >= 0);
  hold_estimate(&v, 400000, 0, SFU_ALLOC_DEFAULT_PAUSE_HOLD_US);
  CHECK_EQ_INT(v.s[0].current, 0);
  CHECK_EQ_INT(v.s[1].current, 0);
  CHECK_EQ_INT(v.s[2].current, -1);
  CHECK_EQ_INT(v.s[3].current, -1);
  CHECK_EQ_INT(v.res.insufficient, 1);
  CHECK_EQ_INT(v.res.n_paused, 2);
  CHECK_EQ_INT(v.res.paused[0], 102);
  CHECK_EQ_INT(v.res.paused[1], 103);
  CHECK_EQ_INT(v.res.required_bps, 600000);
  CHECK_EQ_INT(v.res.allocated_bps, 300000);
  CHECK(v.res.want_bps > 400000); /* the probe controller's goal: a resume */
  /* The estimate recovers 1 s after the pause: a resume waits for the hold (not for the
   * calm period after that down-switch: a frozen tile is worse than one more switch). */
  uint64_t recovered_at = v.now;
  while (v.now < recovered_at + SFU_ALLOC_DEFAULT_HOLD_US - 2 * STEP_US) step(&v, 2000000, 0);
  CHECK_EQ_INT(v.s[2].current, -1);
  CHECK_EQ_INT(v.res.insufficient, 1);
  hold_estimate(&v, 2000000, 0, 1 * S);
  CHECK(v.now < recovered_at + SFU_ALLOC_DEFAULT_CALM_US); /* before the calm ends */
  CHECK(v.s[2].current >= 0);
  CHECK(v.s[3].current >= 0);
  CHECK_EQ_INT(v.res.insufficient, 0);
  CHECK_EQ_INT(v.res.n_paused, 0);
}

/* A flowing floor stays while 75 % of it fits (the estimate under a tight cap dips to
 * 85 % of what the link carries after each overuse); below that it is paused; a new or
 * paused stream still needs its whole floor (with the margin to resume). */
TEST(flowing_floor_kept_while_most_of_it_fits) {
  static viewer_t v;
  viewer_init(&v, 1);
  hold_estimate(&v, 300000, 0, 3 * S);
  REQUIRE(v.s[0].current == 0);
  hold_estimate(&v, 130000, 5, 10 * S); /* 87 % of the 150k floor, +-5 % */
  CHECK_EQ_INT(v.s[0].current, 0);
  CHECK_EQ_INT(v.switches[0], 1); /* the first floor only */
  CHECK_EQ_INT(v.res.insufficient, 0);
  /* a cut to half the floor that lasts under the pause hold: no pause (a shaper that
   * dropped its queue, the drain after a sudden cap) */
  hold_estimate(&v, 75000, 0, SFU_ALLOC_DEFAULT_PAUSE_HOLD_US - 3 * STEP_US);
  hold_estimate(&v, 150000, 0, 5 * S);
  CHECK_EQ_INT(v.s[0].current, 0);
  CHECK_EQ_INT(v.switches[0], 1);
  hold_estimate(&v, 105000, 0, 1 * S); /* 70 %: paused, after the pause hold */
  CHECK_EQ_INT(v.s[0].current, 0);
  hold_estimate(&v, 105000, 0, SFU_ALLOC_DEFAULT_PAUSE_HOLD_US);
  CHECK_EQ_INT(v.s[0].current, -1);
  CHECK_EQ_INT(v.res.insufficient, 1);
  hold_estimate(&v, 130000, 0, 5 * S); /* no resume below the floor */
  CHECK_EQ_INT(v.s[0].current, -1);
  hold_estimate(&v, 170000, 0, 3 * S); /* the floor + margin: resumes */
  CHECK_EQ_INT(v.s[0].current, 0);
  /* a new stream does not start on 75 % */
  static viewer_t w;
  viewer_init(&w, 1);
  hold_estimate(&w, 130000, 0, 3 * S);
  CHECK_EQ_INT(w.s[0].current, -1);
}

/* An up-switch takes what was reachable for the whole hold: a dip to the middle layer's
 * budget during the hold to the top gives the middle layer at its end. */
TEST(hold_takes_the_level_sustained) {
  static viewer_t v;
  viewer_init(&v, 1);
  hold_estimate(&v, 300000, 0, 3 * S);
  REQUIRE(v.s[0].current == 0);
  hold_estimate(&v, 5000000, 0, 500 * MS);
  hold_estimate(&v, 1000000, 0, 300 * MS);
  hold_estimate(&v, 5000000, 0, 800 * MS);
  CHECK_EQ_INT(v.s[0].current, 1);
  hold_estimate(&v, 5000000, 0, 2 * S);
  CHECK_EQ_INT(v.s[0].current, 2);
}

TEST(calm_after_a_down_switch) {
  static viewer_t v;
  viewer_init(&v, 1);
  hold_estimate(&v, 5000000, 0, 5 * S);
  REQUIRE(v.s[0].current == 2);
  step(&v, 1000000, 0);
  CHECK_EQ_INT(v.s[0].current, 1); /* down at once */
  int64_t t = time_to_layer(&v, 0, 2, 5000000, 10 * S);
  CHECK(t >= 0 && (uint64_t)t + 2 * STEP_US >= SFU_ALLOC_DEFAULT_CALM_US);
  CHECK((uint64_t)t <= SFU_ALLOC_DEFAULT_CALM_US + STEP_US);
}

TEST(cap_6m_with_25_streams) {
  static viewer_t v;
  viewer_init(&v, 25);
  hold_estimate(&v, 100000000, 0, 10 * S);
  CHECK_EQ_INT(v.res.budget_bps, SFU_ALLOC_DEFAULT_CAP_BPS);
  CHECK(v.res.allocated_bps <= SFU_ALLOC_DEFAULT_CAP_BPS);
  CHECK(v.res.allocated_bps > SFU_ALLOC_DEFAULT_CAP_BPS / 2);
  for (size_t i = 0; i < 25; i++) CHECK(v.s[i].current >= 0);
  CHECK_EQ_INT(v.res.want_bps, 0); /* past the cap: no point probing */
  /* 25 x 150k = 3.75M: every floor fits under the cap, the rest is climbed in order. */
  CHECK_EQ_INT(v.s[0].current, 1);
  CHECK_EQ_INT(v.s[24].current, 0);
  /* A meeting's own cap, and no estimate yet (0): the cap is the budget. */
  int8_t out[25];
  sfu_alloc_result_t res;
  sfu_alloc_run(&v.a, v.now, 0, 3000000, v.s, 25, out, NULL, &res);
  CHECK_EQ_INT(res.budget_bps, 3000000);
  CHECK(res.allocated_bps <= 3000000);
  CHECK_EQ_INT(res.n_paused, 5);
}

TEST(due_thresholds) {
  sfu_alloc_t a;
  sfu_alloc_init(&a);
  CHECK(sfu_alloc_due(&a, 0, 1000000, 0)); /* never ran */
  sfu_alloc_stream_t s;
  camera(&s, 1);
  s.current = 1; /* where 1M keeps it: nothing pending */
  int8_t out;
  uint64_t t = 10 * S;
  sfu_alloc_run(&a, t, 1000000, 0, &s, 1, &out, NULL, NULL);
  CHECK_EQ_INT(out, 1);
  CHECK_EQ_INT(a.wake_us, 0);
  CHECK(!sfu_alloc_due(&a, t, 1000000, 0));
  CHECK(sfu_alloc_due(&a, t, 1000000, 1)); /* inputs changed */
  CHECK(!sfu_alloc_due(&a, t + 100 * MS, 1140000, 0));
  CHECK(sfu_alloc_due(&a, t + 100 * MS, 1160000, 0));
  CHECK(!sfu_alloc_due(&a, t + 100 * MS, 860000, 0));
  CHECK(sfu_alloc_due(&a, t + 100 * MS, 840000, 0));
  CHECK(!sfu_alloc_due(&a, t + 1999 * MS, 1000000, 0));
  CHECK(sfu_alloc_due(&a, t + 2000 * MS, 1000000, 0));
  CHECK(!sfu_alloc_due(&a, t + 100 * MS, 1140000, 0));
  /* A pending up-switch wakes it when its hold ends, not at the next period. */
  sfu_alloc_init(&a);
  s.current = 0;
  sfu_alloc_run(&a, t, 1000000, 0, &s, 1, &out, NULL, NULL);
  CHECK_EQ_INT(out, 0);
  CHECK(a.wake_us == t + SFU_ALLOC_DEFAULT_HOLD_US); /* 1M: middle with margin */
  CHECK(!sfu_alloc_due(&a, t + SFU_ALLOC_DEFAULT_HOLD_US - 1, 1000000, 0));
  CHECK(sfu_alloc_due(&a, t + SFU_ALLOC_DEFAULT_HOLD_US, 1000000, 0));
  sfu_alloc_run(&a, t + SFU_ALLOC_DEFAULT_HOLD_US, 1000000, 0, &s, 1, &out, NULL, NULL);
  CHECK_EQ_INT(out, 1);
  CHECK_EQ_INT(a.wake_us, 0);
}

TEST(want_bps_for_the_probe_controller) {
  sfu_alloc_t a;
  sfu_alloc_init(&a);
  sfu_alloc_stream_t s;
  camera(&s, 1);
  s.current = 0;
  int8_t out;
  sfu_alloc_result_t res;
  sfu_alloc_run(&a, 10 * S, 300000, 0, &s, 1, &out, NULL, &res);
  CHECK_EQ_INT(res.want_bps, 550000); /* 500k x 1.1 */
  sfu_alloc_run(&a, 10 * S, 300000, 500000, &s, 1, &out, NULL, &res);
  CHECK_EQ_INT(res.want_bps, 0); /* over the meeting's cap: nothing to prove */
  s.current = 2;
  sfu_alloc_run(&a, 10 * S, 5000000, 0, &s, 1, &out, NULL, &res);
  CHECK_EQ_INT(res.want_bps, 0); /* everything asked for is allocated */
}

TEST(streams_come_and_go_keep_their_timers) {
  static viewer_t v;
  viewer_init(&v, 2);
  hold_estimate(&v, 300000, 0, 3 * S);
  REQUIRE(v.s[1].current == 0);
  v.s[1].priority = 1;
  step(&v, 1000000, 1); /* stream 101's hold starts (stream 100's middle does not fit) */
  uint64_t started = v.now - STEP_US;
  REQUIRE(v.a.wake_us == started + SFU_ALLOC_DEFAULT_HOLD_US);
  hold_estimate(&v, 1000000, 0, 500 * MS);
  v.s[0] = v.s[1]; /* stream 100 unsubscribed */
  v.n = 1;
  step(&v, 1000000, 1);
  int64_t t = time_to_layer(&v, 0, 1, 1000000, 5 * S);
  REQUIRE(t >= 0);
  CHECK(v.now - STEP_US - started <= SFU_ALLOC_DEFAULT_HOLD_US + STEP_US); /* not restarted */
}

/* A camera with 3 temporal layers per spatial layer, libwebrtc's split (T0 40 %, T1 20 %,
 * T2 40 %): rungs 60k 90k 150k | 300k 500k | 900k 1.5M (above the lowest layer only the
 * half rate, T0+T1, is a rung). */
static void temporal_camera(sfu_alloc_stream_t *s) {
  s->current_tid = -1;
  for (int k = 0; k < 3; k++) {
    sfu_alloc_layer_t *l = &s->layers[k];
    l->n_temporal = 3;
    l->temporal_bps[0] = l->bitrate_bps / 10 * 4;
    l->temporal_bps[1] = l->bitrate_bps / 10 * 6;
    l->temporal_bps[2] = l->bitrate_bps;
  }
}

TEST(temporal_reduced_frame_rate_before_a_pause) {
  static viewer_t v;
  viewer_init(&v, 1);
  temporal_camera(&v.s[0]);
  /* 80k: the lowest layer at full rate (150k) does not fit, its T0 (60k) does. */
  hold_estimate(&v, 80000, 0, 10 * S);
  CHECK_EQ_INT(v.s[0].current, 0);
  CHECK_EQ_INT(v.s[0].current_tid, 0);
  CHECK_EQ_INT(v.res.n_paused, 0);
  CHECK_EQ_INT(v.res.insufficient, 0);
  CHECK_EQ_INT(v.res.required_bps, 60000);
  CHECK_EQ_INT(v.res.allocated_bps, 60000);
  CHECK_EQ_INT(v.res.want_bps, 99000); /* T0+T1 (90k) with the margin */
  /* 120k: T0 + T1. */
  hold_estimate(&v, 120000, 0, 10 * S);
  CHECK_EQ_INT(v.s[0].current, 0);
  CHECK_EQ_INT(v.s[0].current_tid, 1);
  /* Without temporal layers the same budget pauses the stream (today's ladder). */
  viewer_init(&v, 1);
  hold_estimate(&v, 80000, 0, 10 * S);
  CHECK_EQ_INT(v.s[0].current, -1);
  CHECK_EQ_INT(v.out_tid[0], -1);
  CHECK_EQ_INT(v.res.insufficient, 1);
}

TEST(temporal_everyone_lowest_full_rate_before_anyone_higher) {
  static viewer_t v;
  viewer_init(&v, 4);
  for (size_t i = 0; i < 4; i++) temporal_camera(&v.s[i]);
  /* 500k: 4 x 150k does not fit; the first in order get the full rate, the rest T0+T1,
   * nobody anything of the middle layer, nobody paused. */
  hold_estimate(&v, 500000, 0, 10 * S);
  for (size_t i = 0; i < 4; i++) CHECK_EQ_INT(v.s[i].current, 0);
  CHECK_EQ_INT(v.s[0].current_tid, -1);
  CHECK_EQ_INT(v.s[1].current_tid, -1);
  CHECK_EQ_INT(v.s[2].current_tid, 1);
  CHECK_EQ_INT(v.s[3].current_tid, 1);
  CHECK(v.res.allocated_bps <= 500000);
  /* 700k: every floor layer at full rate (600k), nothing more (the middle layer's half
   * rate needs 300k x 1.1 - 150k); 800k: the first stream gets it. */
  hold_estimate(&v, 700000, 0, 10 * S);
  for (size_t i = 0; i < 4; i++) {
    CHECK_EQ_INT(v.s[i].current, 0);
    CHECK_EQ_INT(v.s[i].current_tid, -1);
  }
  hold_estimate(&v, 800000, 0, 10 * S);
  CHECK_EQ_INT(v.s[0].current, 1);
  CHECK_EQ_INT(v.s[0].current_tid, 1);
  for (size_t i = 1; i < 4; i++) {
    CHECK_EQ_INT(v.s[i].current, 0);
    CHECK_EQ_INT(v.s[i].current_tid, -1);
  }
  /* A stream without temporal layers beside one with: its floor (150k) is its full
   * rate; the other drops frame rate, neither is paused. */
  viewer_init(&v, 2);
  temporal_camera(&v.s[0]);
  hold_estimate(&v, 250000, 0, 10 * S);
  CHECK_EQ_INT(v.s[0].current, 0);
  CHECK_EQ_INT(v.s[0].current_tid, 1);
  CHECK_EQ_INT(v.s[1].current, 0);
  CHECK_EQ_INT(v.out_tid[1], -1);
  CHECK_EQ_INT(v.res.n_paused, 0);
}

TEST(temporal_higher_layer_at_lower_frame_rate_when_it_fits_better) {
  static viewer_t v;
  viewer_init(&v, 1);
  temporal_camera(&v.s[0]);
  /* 1M: 720p at 15 fps (900k) rather than 360p at 30 fps (500k). */
  hold_estimate(&v, 1000000, 0, 10 * S);
  CHECK_EQ_INT(v.s[0].current, 2);
  CHECK_EQ_INT(v.s[0].current_tid, 1);
  /* 720p at full rate; 1.2M: one step down is frame rate only (15 fps), at once. */
  hold_estimate(&v, 2000000, 0, 10 * S);
  CHECK_EQ_INT(v.s[0].current, 2);
  CHECK_EQ_INT(v.s[0].current_tid, -1);
  int sw = v.switches[0];
  step(&v, 1200000, 0);
  CHECK_EQ_INT(v.s[0].current, 2);
  CHECK_EQ_INT(v.s[0].current_tid, 1);
  CHECK_EQ_INT(v.switches[0], sw + 1);
  /* 720p's T0+T1 measured a little under 360p's full rate (noise): still a rung while it
   * is the current one, no spatial switch. */
  v.s[0].layers[2].temporal_bps[1] = 490000;
  step(&v, 700000, 1);
  CHECK_EQ_INT(v.s[0].current, 2);
  CHECK_EQ_INT(v.s[0].current_tid, 1);
  v.s[0].layers[2].temporal_bps[1] = 900000;
  /* 700k: below 720p's half rate: 360p at full rate; never 720p at 7.5 fps (600k). */
  step(&v, 700000, 1);
  CHECK_EQ_INT(v.s[0].current, 1);
  CHECK_EQ_INT(v.s[0].current_tid, -1);
  hold_estimate(&v, 700000, 0, 10 * S);
  CHECK_EQ_INT(v.s[0].current, 1);
  CHECK_EQ_INT(v.s[0].current_tid, -1);
  /* A higher layer's reduced rate that costs less than the layer below's full rate is
   * no rung: 360p's T0 at 100k (< 180p's 150k) is never chosen over 180p. */
  viewer_init(&v, 1);
  temporal_camera(&v.s[0]);
  v.s[0].layers[1].temporal_bps[0] = 100000;
  v.s[0].layers[1].temporal_bps[1] = 140000;
  hold_estimate(&v, 180000, 0, 10 * S);
  CHECK_EQ_INT(v.s[0].current, 0);
  CHECK_EQ_INT(v.s[0].current_tid, -1);
  /* The caller's current tid on a layer without temporal layers reads as full rate. */
  viewer_init(&v, 1);
  v.s[0].current = 1;
  v.s[0].current_tid = 0;
  step(&v, 600000, 0);
  CHECK_EQ_INT(v.out[0], 1);
  CHECK_EQ_INT(v.out_tid[0], -1);
}

TEST(hostile_inputs) {
  static viewer_t v;
  viewer_init(&v, 40); /* past SFU_ALLOC_MAX_STREAMS */
  v.s[0].n_layers = 1000;
  v.s[0].current = 100;
  v.s[0].max_layer = 90;
  v.s[1].current = -7;
  v.s[1].max_layer = -100;
  for (int k = 0; k < 3; k++) v.s[2].layers[k].active = 0; /* nothing flows */
  v.s[3].n_layers = 0;
  v.s[4].stream_id = v.s[5].stream_id;           /* a duplicate id */
  v.s[6].layers[0].active_since_us = UINT64_MAX; /* from the future */
  v.s[7].layers[2].bitrate_bps = UINT32_MAX;
  v.s[8].layers[0].n_temporal = 200; /* more temporal layers than a TID can name */
  v.s[8].layers[0].temporal_bps[0] = 1;
  v.s[8].layers[0].temporal_bps[3] = UINT32_MAX;
  v.s[8].current_tid = 100;
  v.s[9].layers[1].n_temporal = 3; /* temporal layers with no rate measured */
  v.s[9].current_tid = -50;
  hold_estimate(&v, UINT64_MAX, 0, 5 * S);
  hold_estimate(&v, 1, 0, 5 * S);
  for (size_t i = SFU_ALLOC_MAX_STREAMS; i < 40; i++) CHECK_EQ_INT(v.out[i], -1);
  CHECK_EQ_INT(v.out[2], -1);
  CHECK_EQ_INT(v.out[3], -1);
  for (size_t i = 0; i < v.res.n_paused; i++) {
    CHECK(v.res.paused[i] != 102); /* nothing flows: not paused by the budget */
    CHECK(v.res.paused[i] != 103);
  }
  CHECK(v.res.n_paused <= SFU_ALLOC_MAX_STREAMS);
  /* Time going backwards. */
  v.now -= 60 * S;
  hold_estimate(&v, 3000000, 0, 3 * S);
  sfu_alloc_run(&v.a, 0, 0, 0, v.s, 0, v.out, NULL, NULL);
  CHECK_EQ_INT(v.a.n_slots, 0);
}

int main(void) {
  RUN(steady_300k_settles_on_low_and_never_switches);
  RUN(estimate_5m_reaches_top_within_one_hold);
  RUN(new_stream_starts_low_then_climbs_after_hold);
  RUN(alternating_300k_3m_one_switch_per_change);
  RUN(estimate_at_the_edge_of_a_layer_does_not_flap);
  RUN(four_streams_all_low_before_any_middle);
  RUN(upgrades_round_robin_layer_by_layer);
  RUN(content_share_keeps_top_while_cameras_drop);
  RUN(priority_then_subscription_order);
  RUN(max_layer_and_max_height_cap);
  RUN(stopped_layer_replaced_by_next_lower_at_once);
  RUN(young_layer_not_an_up_target_but_a_floor);
  RUN(lowest_layers_do_not_fit_pause_from_the_end);
  RUN(flowing_floor_kept_while_most_of_it_fits);
  RUN(hold_takes_the_level_sustained);
  RUN(calm_after_a_down_switch);
  RUN(cap_6m_with_25_streams);
  RUN(due_thresholds);
  RUN(want_bps_for_the_probe_controller);
  RUN(streams_come_and_go_keep_their_timers);
  RUN(temporal_reduced_frame_rate_before_a_pause);
  RUN(temporal_everyone_lowest_full_rate_before_anyone_higher);
  RUN(temporal_higher_layer_at_lower_frame_rate_when_it_fits_better);
  RUN(hostile_inputs);
  return test_summary();
}
