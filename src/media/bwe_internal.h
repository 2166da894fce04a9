/* Inside the bandwidth estimator (sfu/bwe.h): the delay-based estimator (bwe_delay.c) and
 * the loss-based bound (bwe_loss.c), each a plain value the glue (bwe.c) embeds. Times
 * in µs; arrival times are on the viewer's clock (only their differences matter). */
#ifndef SFU_BWE_INTERNAL_H
#define SFU_BWE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "sfu/bwe.h"

/* --- Delay-based (draft-ietf-rmcat-gcc-02 §5) -------------------------------------- */

#define BWE_GROUP_US 5000           /* §5.2: a group is the packets sent within 5 ms */
#define BWE_BURST_US 5000           /* arrivals this close, early: same burst */
#define BWE_MAX_BURST_US 100000     /* a burst never spans more */
#define BWE_ARRIVAL_JUMP_US 3000000 /* arrival clock jumped vs ours: start over */
#define BWE_REORDERED_RESET 3       /* this many reordered groups in a row: start over */
#define BWE_TREND_WINDOW 20         /* groups in the trendline fit */

enum { BWE_UNDERUSE = -1, BWE_NORMAL = 0, BWE_OVERUSE = 1 };
enum { BWE_RC_HOLD, BWE_RC_INCREASE, BWE_RC_DECREASE };

typedef struct {
  int valid;
  int64_t first_send, last_send, first_arrival, last_arrival, last_system;
} bwe_group_t;

/* Field order is cache-line order (the struct is 64-byte aligned where sfu_bwe_t embeds
 * it): with 100 viewers each viewer's state has left the 512 KB L2 by its next feedback
 * (the packets copied in between are megabytes), so every line a feedback touches is a
 * miss, ~100 instructions' worth of time. Line 0: what every packet and every feedback
 * touch (the current group, the rate); line 1: the rest of the rate control (every
 * feedback); lines 2-4: the grouping's previous group, the trendline and the detector
 * (once per packet group); then the trendline window, each point's x and y together
 * (one line a group, not two). bench_router_pace counts the misses. */
typedef struct {
  /* line 0: per packet (bwe_delay_on_packet) and per feedback (rate control) */
  bwe_group_t cur; /* inter-arrival grouping (§5.2) */
  double bps;      /* AIMD rate control (§5.5) */
  int state;       /* BWE_UNDERUSE / NORMAL / OVERUSE (§5.4) */
  int rc;          /* BWE_RC_* */
  /* line 1: per feedback, rate control */
  double throughput_bps; /* last acknowledged rate given */
  double min_bps, max_bps;
  uint64_t last_change_us;
  double link_kbps, link_var; /* link capacity estimate around the last overuses */
  int have_last_change, link_valid;
  /* lines 2-4: per packet group */
  bwe_group_t prev;
  int reordered;
  /* trendline filter (libwebrtc's replacement of §5.3's Kalman filter) */
  uint32_t n_deltas;
  int64_t first_arrival;
  double accumulated_ms, smoothed_ms;
  int hist_n, hist_head;
  /* The window's sums, of the points less (base_x, base_y): see bwe_delay.c trendline */
  double base_x, base_y, sum_x, sum_y, sum_xx, sum_xy;
  /* overuse detector (§5.4) */
  double threshold, prev_trend, time_over_using_ms;
  int overuse_counter, have_threshold_update;
  int64_t last_threshold_update;
  /* the trendline window: a point per group, rebuilt whole once per wrap */
  struct {
    double x, y;
  } hist[BWE_TREND_WINDOW];
} bwe_delay_t;

void bwe_delay_init(bwe_delay_t *d, uint64_t start_bps, uint64_t min_bps, uint64_t max_bps);
/* Forgets the arrival history (the viewer's clock jumped); the rate stays. */
void bwe_delay_reset_arrivals(bwe_delay_t *d);
/* The rest of bwe_delay_on_packet: a packet that may start a new group (bwe_delay.c). */
void bwe_delay_on_packet_slow(bwe_delay_t *d, int64_t send_us, int64_t arrival_us, int64_t now_us);
/* One received packet, in feedback order: send time (ours), arrival time (viewer's),
 * now_us (when its feedback came). Inline for the common case, a packet sent within
 * BWE_GROUP_US of its group's first (most packets: a frame's packets leave together):
 * it only extends the group, whatever its arrival (bwe_delay.c inter_arrival, whose
 * burst test matters only past BWE_GROUP_US). A call per packet of every feedback cost
 * ~13 instructions per forwarded packet in bench_router_pace. */
static inline void bwe_delay_on_packet(bwe_delay_t *d, int64_t send_us, int64_t arrival_us,
                                       int64_t now_us) {
  bwe_group_t *g = &d->cur;
  if (__builtin_expect(g->valid && send_us >= g->first_send &&
                           send_us - g->first_send <= BWE_GROUP_US, 1)) {
    if (send_us > g->last_send) g->last_send = send_us;
    g->last_arrival = arrival_us;
    g->last_system = now_us;
    return;
  }
  bwe_delay_on_packet_slow(d, send_us, arrival_us, now_us);
}
/* Once per feedback, after its packets: rate control on the detector's state.
 * acked_bps 0: not known yet. */
void bwe_delay_update(bwe_delay_t *d, uint64_t now_us, uint64_t acked_bps, uint64_t rtt_us);
/* A probe proved `bps` (goog_cc: AimdRateControl::SetEstimate). */
void bwe_delay_set(bwe_delay_t *d, uint64_t now_us, uint64_t bps);

/* --- Loss-based bound (draft-ietf-rmcat-gcc-02 §6) ---------------------------------- */

#define BWE_LOSS_WINDOW_US 500000   /* a loss ratio covers at least this long */
#define BWE_LOSS_WINDOW_PKTS 20     /* and at least this many reported packets */
#define BWE_LOSS_LOW 0.02           /* below: increase */
#define BWE_LOSS_HIGH 0.10          /* above: decrease */
#define BWE_LOSS_DECREASE_US 300000 /* decreases at least this + RTT apart */
#define BWE_LOSS_HIST 32            /* estimate samples of the last second */
/* A window this lossy closes at once (once it has BWE_LOSS_WINDOW_PKTS): this is a cap,
 * not random loss (5 % random loss reaches half of 20 packets with p ~ 1e-8), and
 * waiting out the 0.5 s window left the top layer flooding a 250 kbit/s link for a
 * second more (Chromium behind tc, test_chromium_video.py case 4). */
#define BWE_LOSS_SEVERE 0.5
/* From this ratio on a decrease goes at least down to (90 % of) what the viewer
 * received (transport-cc's acknowledged rate): with a third or more lost, the delivered
 * rate is what the link carries (random loss stays under it); (1 - p/2) alone needed
 * three cuts, 1 s apart, from 1.2 Mbit/s to a 250 kbit/s cap. */
#define BWE_LOSS_DELIVERED 0.3

/* Field order is cache-line order, as bwe_delay_t's: line 0 what every packet and every
 * feedback touch, line 1 the rest of the per-feedback scalars, then the two rings (a
 * feedback touches one or two entries of each). */
typedef struct {
  /* line 0 */
  uint64_t last_decrease_us; /* per packet: bwe_loss_counts */
  uint32_t win_received, win_lost;
  uint64_t win_start_us;
  int win_started;
  int decreased_this_window;
  double bps, min_bps, max_bps;
  int have_decrease, hist_n;
  /* line 1 */
  int hist_head;
  int dq_head, dq_n, dq_ok; /* (the deque below) */
  double last_ratio;
  uint64_t latest_us; /* newest now_us given to bwe_loss_update */
  struct {
    uint64_t t, bps;
  } hist[BWE_LOSS_HIST]; /* the combined estimate, newest at head-1 */
  /* The same samples as a monotonic deque (sliding-window minimum): times and estimates
   * both increasing from the front, the front the minimum of the last second. Exact only
   * while time does not go back; when it does (dq_ok 0) the minimum is read from hist as
   * before, until bwe_loss_raise starts both over. */
  struct {
    uint64_t t, bps;
  } dq[BWE_LOSS_HIST];
} bwe_loss_t;

void bwe_loss_init(bwe_loss_t *l, uint64_t start_bps, uint64_t min_bps, uint64_t max_bps);
/* Packets newly reported: received, lost; a packet first reported lost then received
 * (late, or in a repeated feedback) comes as received 1, lost -1. send_us: when it was
 * sent; packets sent before the last decrease are not counted (their fate shows the
 * rate before the cut: counting them cut a second time for the same loss, and paused a
 * viewer whose first cut had already fitted, test_chromium_video.py case 4). */
/* Inline: called for every packet of every feedback (a call cost ~10 instructions per
 * forwarded packet in bench_router_pace). */
static inline void bwe_loss_count(bwe_loss_t *l, uint64_t now_us, uint64_t send_us, int received,
                                  int lost) {
  /* last_decrease_us is 0 until the first decrease: no have_decrease test needed */
  if (send_us < l->last_decrease_us) return;
  if (!l->win_started) {
    l->win_started = 1;
    l->win_start_us = now_us;
  }
  if (received > 0) l->win_received += (uint32_t)received;
  if (lost > 0) l->win_lost += (uint32_t)lost;
  /* a loss counted in an earlier window stays there: only this window's is taken back */
  if (lost < 0 && l->win_lost >= (uint32_t)-lost) l->win_lost -= (uint32_t)-lost;
}

/* The same counts gathered over a feedback's packets and given at once (the estimator's
 * loop keeps them in registers instead of updating the window per packet): exactly what
 * bwe_loss_count(l, now_us, send_us, 1, 0) per received and (.., 0, 1) per lost packet
 * gives, for packets that bwe_loss_counts() let count, provided no take-back (lost -1)
 * falls between: the caller hands over what it gathered before each. */
static inline int bwe_loss_counts(const bwe_loss_t *l, uint64_t send_us) {
  return send_us >= l->last_decrease_us;
}
static inline void bwe_loss_add(bwe_loss_t *l, uint64_t now_us, uint32_t received, uint32_t lost) {
  if (!(received | lost)) return;
  if (!l->win_started) {
    l->win_started = 1;
    l->win_start_us = now_us;
  }
  l->win_received += received;
  l->win_lost += lost;
}

/* Once per feedback: closes the window if it is long enough and moves the bound.
 * estimate_bps: the combined estimate now; acked_bps: the rate the viewer received (0
 * unknown). */
void bwe_loss_update(bwe_loss_t *l, uint64_t now_us, uint64_t estimate_bps, uint64_t acked_bps,
                     uint64_t rtt_us);
/* A probe proved `bps`: the bound is at least that, its history starts there. */
void bwe_loss_raise(bwe_loss_t *l, uint64_t now_us, uint64_t bps);

#endif
