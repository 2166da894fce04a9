/* Delay-based bandwidth estimate (draft-ietf-rmcat-gcc-02 §5, as libwebrtc's goog_cc does
 * it today): inter-arrival grouping, trendline filter, overuse detector with an adaptive
 * threshold, AIMD rate control. See bwe_internal.h. */
#include <math.h>
#include <string.h>

#include "bwe_internal.h"

/* Trendline filter and detector constants (libwebrtc trendline_estimator.cc). */
#define SMOOTHING 0.9      /* of the accumulated delay */
#define THRESHOLD_GAIN 4.0 /* trend scaled to the threshold's units */
#define MIN_NUM_DELTAS 60  /* the trend counts fully after this many groups */
#define DELTA_COUNTER_MAX 1000
#define OVERUSE_TIME_MS 10.0 /* §5.4: overuse must last this long (plus 2 samples) */
#define K_UP 0.0087          /* §5.4 threshold adaptation: up slowly, */
#define K_DOWN 0.039         /* down fast */
#define MAX_ADAPT_OFFSET_MS 15.0
#define THRESHOLD_MIN 6.0
#define THRESHOLD_MAX 600.0
#define THRESHOLD_START 12.5

/* AIMD constants (§5.5; libwebrtc aimd_rate_control.cc). */
#define BETA 0.85                 /* decrease to this share of the acknowledged rate */
#define DECREASE_EXTRA_BPS 5000.0 /* and this much more (libwebrtc's backoff term) */
#define MULT_INCREASE 1.08        /* per second, far from the last congestion */
#define MIN_ADDITIVE_BPS_PER_S 4000.0
#define ADDITIVE_FRAME_RATE 30.0 /* the additive increase is ~1 packet per response time */
#define ADDITIVE_PACKET_BYTES 1200.0
#define RESPONSE_EXTRA_US 100000.0 /* response time = RTT + this */
#define THROUGHPUT_HEADROOM 1.5    /* never above 1.5 x acknowledged + 10 kbps */
#define THROUGHPUT_EXTRA_BPS 10000.0
#define LINK_ALPHA 0.05 /* link capacity estimate smoothing at overuse */

void bwe_delay_init(bwe_delay_t *d, uint64_t start_bps, uint64_t min_bps, uint64_t max_bps) {
  memset(d, 0, sizeof *d);
  d->threshold = THRESHOLD_START;
  d->time_over_using_ms = -1;
  d->state = BWE_NORMAL;
  d->bps = (double)start_bps;
  d->min_bps = (double)min_bps;
  d->max_bps = (double)max_bps;
  d->throughput_bps = (double)start_bps;
  d->rc = BWE_RC_HOLD;
}

void bwe_delay_reset_arrivals(bwe_delay_t *d) {
  memset(&d->cur, 0, sizeof d->cur);
  memset(&d->prev, 0, sizeof d->prev);
  d->reordered = 0;
  d->n_deltas = 0;
  d->accumulated_ms = d->smoothed_ms = 0;
  d->hist_n = d->hist_head = 0;
  d->base_x = d->base_y = d->sum_x = d->sum_y = d->sum_xx = d->sum_xy = 0;
  d->prev_trend = 0;
  d->time_over_using_ms = -1;
  d->overuse_counter = 0;
  d->state = BWE_NORMAL;
}

/* --- §5.2 inter-arrival: packet groups ------------------------------------------------ */

/* A packet that arrived early (its delay shrank) right after the group's last one was
 * queued behind it: a burst released by the network, part of the same group. */
static int belongs_to_burst(const bwe_delay_t *d, int64_t send, int64_t arrival) {
  int64_t send_delta = send - d->cur.last_send;
  if (send_delta == 0) return 1;
  int64_t arrival_delta = arrival - d->cur.last_arrival;
  int64_t propagation_delta = arrival_delta - send_delta;
  return propagation_delta < 0 && arrival_delta <= BWE_BURST_US &&
         arrival - d->cur.first_arrival < BWE_MAX_BURST_US;
}

static void start_group(bwe_group_t *g, int64_t send, int64_t arrival) {
  g->valid = 1;
  g->first_send = g->last_send = send;
  g->first_arrival = arrival;
}

/* Feeds one packet; on completing a group that has a predecessor, sets the deltas between
 * the two (send: last send times; arrival: last arrival times) and returns 1. */
static int inter_arrival(bwe_delay_t *d, int64_t send, int64_t arrival, int64_t system,
                         int64_t *send_delta, int64_t *arrival_delta) {
  int done = 0;
  if (!d->cur.valid) {
    start_group(&d->cur, send, arrival);
  } else if (send < d->cur.first_send) {
    return 0; /* sent before the current group: reordered, ignored */
  } else if (!belongs_to_burst(d, send, arrival) && send - d->cur.first_send > BWE_GROUP_US) {
    if (d->prev.valid) {
      *send_delta = d->cur.last_send - d->prev.last_send;
      *arrival_delta = d->cur.last_arrival - d->prev.last_arrival;
      int64_t system_delta = d->cur.last_system - d->prev.last_system;
      if (*arrival_delta - system_delta >= BWE_ARRIVAL_JUMP_US) {
        /* The viewer's clock moved seconds more than ours: it restarted. */
        bwe_delay_reset_arrivals(d);
        start_group(&d->cur, send, arrival);
        d->cur.last_arrival = arrival;
        d->cur.last_system = system;
        return 0;
      }
      if (*arrival_delta < 0) {
        if (++d->reordered >= BWE_REORDERED_RESET) {
          bwe_delay_reset_arrivals(d);
          start_group(&d->cur, send, arrival);
          d->cur.last_arrival = arrival;
          d->cur.last_system = system;
          return 0;
        }
      } else {
        d->reordered = 0;
        done = 1;
      }
      if (!done) {
        /* a reordered group is dropped: the next one is measured against the older one */
        start_group(&d->cur, send, arrival);
        d->cur.last_arrival = arrival;
        d->cur.last_system = system;
        return 0;
      }
    }
    d->prev = d->cur;
    start_group(&d->cur, send, arrival);
  } else if (send > d->cur.last_send) {
    d->cur.last_send = send;
  }
  d->cur.last_arrival = arrival;
  d->cur.last_system = system;
  return done;
}

/* --- trendline filter and §5.4 overuse detector -------------------------------------- */

/* The window's sums, rebuilt from its points around a base at its oldest point. */
static void fit_rebuild(bwe_delay_t *d) {
  int oldest = d->hist_n == BWE_TREND_WINDOW ? d->hist_head : 0;
  d->base_x = d->hist[oldest].x;
  d->base_y = d->hist[oldest].y;
  d->sum_x = d->sum_y = d->sum_xx = d->sum_xy = 0;
  for (int i = 0; i < d->hist_n; i++) {
    double dx = d->hist[i].x - d->base_x, dy = d->hist[i].y - d->base_y;
    d->sum_x += dx, d->sum_y += dy, d->sum_xx += dx * dx, d->sum_xy += dx * dy;
  }
}

/* A point into the sums, and one out: the same as multiplying each term by +1 or -1
 * (exact in IEEE arithmetic: a + (-b) is a - b, (-a) * b is -(a * b)), without the
 * multiplications. */
static void fit_add(bwe_delay_t *d, double x, double y) {
  double dx = x - d->base_x, dy = y - d->base_y;
  d->sum_x += dx, d->sum_y += dy;
  d->sum_xx += dx * dx, d->sum_xy += dx * dy;
}

static void fit_remove(bwe_delay_t *d, double x, double y) {
  double dx = x - d->base_x, dy = y - d->base_y;
  d->sum_x -= dx, d->sum_y -= dy;
  d->sum_xx -= dx * dx, d->sum_xy -= dx * dy;
}

/* Least-squares slope of the window: sum (x - mx)(y - my) / sum (x - mx)^2, i.e.
 * (Sxy - Sx Sy / n) / (Sxx - Sx^2 / n), on sums relative to the base (a shift changes
 * neither). 0 when every x is the same (no slope to fit). */
static int linear_fit_slope(const bwe_delay_t *d, double *slope) {
  double n = d->hist_n;
  double den = d->sum_xx - d->sum_x * d->sum_x / n;
  if (!(den > 1e-9 * (d->sum_xx + 1.0))) return 0;
  *slope = (d->sum_xy - d->sum_x * d->sum_y / n) / den;
  return 1;
}

/* §5.4: the threshold follows |trend| (up slowly, down fast) so that a competing TCP flow
 * or plain jitter does not starve us, but ignores spikes far above it. */
static void update_threshold(bwe_delay_t *d, double modified_trend, int64_t now_us) {
  if (!d->have_threshold_update) {
    d->have_threshold_update = 1;
    d->last_threshold_update = now_us;
  }
  double m = fabs(modified_trend);
  if (m > d->threshold + MAX_ADAPT_OFFSET_MS) {
    d->last_threshold_update = now_us;
    return;
  }
  double k = m < d->threshold ? K_DOWN : K_UP;
  double dt_ms = (double)(now_us - d->last_threshold_update) / 1000.0;
  if (dt_ms > 100) dt_ms = 100;
  if (dt_ms < 0) dt_ms = 0;
  d->threshold += k * (m - d->threshold) * dt_ms;
  if (d->threshold < THRESHOLD_MIN) d->threshold = THRESHOLD_MIN;
  if (d->threshold > THRESHOLD_MAX) d->threshold = THRESHOLD_MAX;
  d->last_threshold_update = now_us;
}

static void detect(bwe_delay_t *d, double trend, double send_delta_ms, int64_t now_us) {
  if (d->n_deltas < 2) {
    d->state = BWE_NORMAL;
    return;
  }
  double n = d->n_deltas < MIN_NUM_DELTAS ? d->n_deltas : MIN_NUM_DELTAS;
  double modified = n * trend * THRESHOLD_GAIN;
  if (modified > d->threshold) {
    if (d->time_over_using_ms < 0)
      d->time_over_using_ms = send_delta_ms / 2;
    else
      d->time_over_using_ms += send_delta_ms;
    d->overuse_counter++;
    /* overuse: long enough, more than one group, and not already easing */
    if (d->time_over_using_ms > OVERUSE_TIME_MS && d->overuse_counter > 1 &&
        trend >= d->prev_trend) {
      d->time_over_using_ms = 0;
      d->overuse_counter = 0;
      d->state = BWE_OVERUSE;
    }
  } else if (modified < -d->threshold) {
    d->time_over_using_ms = -1;
    d->overuse_counter = 0;
    d->state = BWE_UNDERUSE;
  } else {
    d->time_over_using_ms = -1;
    d->overuse_counter = 0;
    d->state = BWE_NORMAL;
  }
  d->prev_trend = trend;
  update_threshold(d, modified, now_us);
}

/* The delay variation of a group pair feeds an exponentially smoothed accumulated delay;
 * its slope against arrival time over the last BWE_TREND_WINDOW groups is the trend (how
 * fast the bottleneck queue grows, ms per ms). */
static void trendline(bwe_delay_t *d, double recv_delta_ms, double send_delta_ms,
                      int64_t arrival_us) {
  if (d->n_deltas < DELTA_COUNTER_MAX) d->n_deltas++;
  if (d->n_deltas == 1) d->first_arrival = arrival_us;
  d->accumulated_ms += recv_delta_ms - send_delta_ms;
  d->smoothed_ms = SMOOTHING * d->smoothed_ms + (1 - SMOOTHING) * d->accumulated_ms;
  /* The fit's sums follow the window: the point leaving is taken out, the new one added
   * (O(1) a group instead of two passes over the window: this ran for every packet group
   * of every viewer, 60 % of a feedback's cost). They are rebuilt exactly each time the
   * ring wraps, so that rounding cannot build up and the base stays near the points. */
  double x = (double)(arrival_us - d->first_arrival) / 1000.0, y = d->smoothed_ms;
  if (d->hist_n == BWE_TREND_WINDOW)
    fit_remove(d, d->hist[d->hist_head].x, d->hist[d->hist_head].y);
  d->hist[d->hist_head].x = x;
  d->hist[d->hist_head].y = y;
  if (++d->hist_head == BWE_TREND_WINDOW) d->hist_head = 0; /* not %: a division */
  if (d->hist_n < BWE_TREND_WINDOW) d->hist_n++;
  if (d->hist_head == 0)
    fit_rebuild(d);
  else
    fit_add(d, x, y);
  double trend = d->prev_trend;
  if (d->hist_n == BWE_TREND_WINDOW) linear_fit_slope(d, &trend);
  detect(d, trend, send_delta_ms, arrival_us);
}

void bwe_delay_on_packet_slow(bwe_delay_t *d, int64_t send_us, int64_t arrival_us, int64_t now_us) {
  int64_t sd, ad;
  if (inter_arrival(d, send_us, arrival_us, now_us, &sd, &ad))
    trendline(d, (double)ad / 1000.0, (double)sd / 1000.0, arrival_us);
}

/* --- §5.5 AIMD rate control ------------------------------------------------------------ */

/* Link capacity estimate: the acknowledged rates seen at overuse, averaged, with their
 * variance normalised by the estimate (libwebrtc link_capacity_estimator.cc). */
static void link_update(bwe_delay_t *d, double sample_bps, double alpha) {
  double s = sample_bps / 1000.0;
  if (!d->link_valid) {
    d->link_valid = 1;
    d->link_kbps = s;
  } else {
    d->link_kbps = (1 - alpha) * d->link_kbps + alpha * s;
  }
  double norm = d->link_kbps > 1 ? d->link_kbps : 1;
  double err = d->link_kbps - s;
  d->link_var = (1 - alpha) * d->link_var + alpha * err * err / norm;
  if (d->link_var < 0.4) d->link_var = 0.4;
  if (d->link_var > 2.5) d->link_var = 2.5;
}

static double link_dev_bps(const bwe_delay_t *d) {
  return sqrt(d->link_var * d->link_kbps) * 1000.0;
}

/* Near the last congestion: about one packet more per response time. */
static double additive_bps_per_s(const bwe_delay_t *d, uint64_t rtt_us) {
  double frame_bits = d->bps / ADDITIVE_FRAME_RATE;
  double packets = ceil(frame_bits / (ADDITIVE_PACKET_BYTES * 8));
  if (packets < 1) packets = 1;
  double response_s = ((double)rtt_us + RESPONSE_EXTRA_US) / 1e6;
  double r = frame_bits / packets / response_s;
  return r > MIN_ADDITIVE_BPS_PER_S ? r : MIN_ADDITIVE_BPS_PER_S;
}

static double clamp_rate(const bwe_delay_t *d, double bps) {
  if (bps < d->min_bps) return d->min_bps;
  if (bps > d->max_bps) return d->max_bps;
  return bps;
}

static void rate_control(bwe_delay_t *d, uint64_t now_us, uint64_t rtt_us) {
  double tp = d->throughput_bps, bps = d->bps;
  /* §5.5 state machine: overuse -> decrease; underuse -> hold (the queue drains);
   * normal -> increase (after a hold). */
  if (d->state == BWE_OVERUSE) {
    d->rc = BWE_RC_DECREASE;
  } else if (d->state == BWE_UNDERUSE) {
    d->rc = BWE_RC_HOLD;
  } else if (d->rc == BWE_RC_HOLD) {
    d->rc = BWE_RC_INCREASE;
    d->last_change_us = now_us;
    d->have_last_change = 1;
  }
  switch (d->rc) {
    case BWE_RC_HOLD:
      break;
    case BWE_RC_INCREASE: {
      /* Sending well above the last congestion point: the link changed, probe
       * multiplicatively again. */
      if (d->link_valid && tp > d->link_kbps * 1000.0 + 3 * link_dev_bps(d)) d->link_valid = 0;
      double limit = THROUGHPUT_HEADROOM * tp + THROUGHPUT_EXTRA_BPS;
      if (bps < limit) {
        double dt_s = d->have_last_change && now_us > d->last_change_us
                          ? (double)(now_us - d->last_change_us) / 1e6
                          : 0; /* time going back (a stale now_us) never adds */
        double inc;
        if (d->link_valid) {
          inc = additive_bps_per_s(d, rtt_us) * dt_s;
        } else {
          if (dt_s > 1) dt_s = 1;
          inc = bps * (pow(MULT_INCREASE, dt_s) - 1);
          if (inc < 1000) inc = 1000;
        }
        bps += inc;
        if (bps > limit) bps = limit;
      }
      d->last_change_us = now_us;
      d->have_last_change = 1;
      break;
    }
    case BWE_RC_DECREASE: {
      double dec = BETA * tp;
      if (dec > DECREASE_EXTRA_BPS) dec -= DECREASE_EXTRA_BPS;
      /* Acknowledged above what we allowed (a burst): back off from the link estimate. */
      if (dec > bps && d->link_valid) dec = BETA * d->link_kbps * 1000.0;
      if (dec < bps) bps = dec;
      if (d->link_valid && tp < d->link_kbps * 1000.0 - 3 * link_dev_bps(d)) d->link_valid = 0;
      link_update(d, tp, LINK_ALPHA);
      d->rc = BWE_RC_HOLD;
      d->last_change_us = now_us;
      d->have_last_change = 1;
      break;
    }
  }
  d->bps = clamp_rate(d, bps);
}

void bwe_delay_update(bwe_delay_t *d, uint64_t now_us, uint64_t acked_bps, uint64_t rtt_us) {
  if (acked_bps) d->throughput_bps = (double)acked_bps;
  if (d->state == BWE_OVERUSE) {
    /* Decrease at most once per RTT (10..200 ms), unless the acknowledged rate fell
     * below half the estimate (libwebrtc TimeToReduceFurther): one overuse episode must
     * not cut the rate at every feedback while the queue drains. */
    uint64_t interval = rtt_us < 10000 ? 10000 : rtt_us > 200000 ? 200000 : rtt_us;
    int time_to_reduce = !d->have_last_change ||
                         (now_us >= d->last_change_us && now_us - d->last_change_us >= interval) ||
                         (acked_bps && (double)acked_bps < 0.5 * d->bps);
    if (!time_to_reduce) return;
  }
  rate_control(d, now_us, rtt_us);
}

void bwe_delay_set(bwe_delay_t *d, uint64_t now_us, uint64_t bps) {
  d->bps = clamp_rate(d, (double)bps);
  d->last_change_us = now_us;
  d->have_last_change = 1;
}
