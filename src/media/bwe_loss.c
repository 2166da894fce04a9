/* Loss-based bound on the estimate (draft-ietf-rmcat-gcc-02 §6; libwebrtc's
 * SendSideBandwidthEstimation, "loss-based v1"). The loss ratio is what the viewer's
 * transport-cc feedback reported lost over what it reported at all, over a window of at
 * least BWE_LOSS_WINDOW_US and BWE_LOSS_WINDOW_PKTS (fewer packets make a few random
 * losses look like 10 %). See bwe_internal.h. */
#include <string.h>

#include "bwe_internal.h"

#define INCREASE 1.08           /* §6: grow by 8 % ... */
#define INCREASE_EXTRA_BPS 1000 /* ... plus 1 kbps ... */
#define HISTORY_US 1000000ull   /* ... above the lowest estimate of the last second */

/* Ring index of a non-negative position: a mask, not a signed % (a division's fix-ups,
 * ~20 instructions per feedback). */
_Static_assert((BWE_LOSS_HIST & (BWE_LOSS_HIST - 1)) == 0, "BWE_LOSS_HIST: a power of 2");
#define HIST_IDX(x) ((int)((unsigned)(x) & (BWE_LOSS_HIST - 1)))

void bwe_loss_init(bwe_loss_t *l, uint64_t start_bps, uint64_t min_bps, uint64_t max_bps) {
  memset(l, 0, sizeof *l);
  l->bps = (double)start_bps;
  l->min_bps = (double)min_bps;
  l->max_bps = (double)max_bps;
  l->dq_ok = 1;
}

/* Deque: drops the samples at the back not below `bps` (a newer sample at most as high
 * outlives them in the window), then appends. Full (32 samples >= 50 ms apart, so the
 * front is > 1.5 s older than the back): the front has left the window, drop it. */
static void dq_push(bwe_loss_t *l, uint64_t t, uint64_t bps) {
  while (l->dq_n && l->dq[HIST_IDX(l->dq_head + l->dq_n - 1)].bps >= bps) l->dq_n--;
  if (l->dq_n == BWE_LOSS_HIST) {
    l->dq_head = HIST_IDX(l->dq_head + 1);
    l->dq_n--;
  }
  int k = HIST_IDX(l->dq_head + l->dq_n);
  l->dq[k].t = t;
  l->dq[k].bps = bps;
  l->dq_n++;
}

static void remember(bwe_loss_t *l, uint64_t now_us, uint64_t bps) {
  l->hist[l->hist_head].t = now_us;
  l->hist[l->hist_head].bps = bps;
  l->hist_head = HIST_IDX(l->hist_head + 1);
  if (l->hist_n < BWE_LOSS_HIST) l->hist_n++;
  if (l->dq_ok) dq_push(l, now_us, bps);
}

/* The lowest estimate of the last second (or `now_bps` if that is lower). Growing from
 * it rather than from the bound itself keeps the bound within ~8 % of what was really
 * sent, so that loss starts cutting from there, not from an idle bound far above. */
static uint64_t recent_min(bwe_loss_t *l, uint64_t now_us, uint64_t now_bps) {
  uint64_t m = now_bps;
  if (l->dq_ok) {
    /* Time never went back: the samples in the window are the newest ones, the deque's
     * front the lowest of them (the loop below, in O(1) amortised: it walked ~20
     * samples per feedback, ~41 instructions per forwarded packet). */
    while (l->dq_n && now_us > l->dq[l->dq_head].t && now_us - l->dq[l->dq_head].t > HISTORY_US) {
      l->dq_head = HIST_IDX(l->dq_head + 1);
      l->dq_n--;
    }
    if (l->dq_n && l->dq[l->dq_head].bps < m) m = l->dq[l->dq_head].bps;
    return m;
  }
  for (int i = 0; i < l->hist_n; i++) {
    int k = HIST_IDX(l->hist_head - 1 - i + BWE_LOSS_HIST);
    if (now_us > l->hist[k].t && now_us - l->hist[k].t > HISTORY_US) break;
    if (l->hist[k].bps < m) m = l->hist[k].bps;
  }
  return m;
}

void bwe_loss_update(bwe_loss_t *l, uint64_t now_us, uint64_t estimate_bps, uint64_t acked_bps,
                     uint64_t rtt_us) {
  /* one sample per 50 ms is plenty for a one-second minimum */
  int k = HIST_IDX(l->hist_head - 1 + BWE_LOSS_HIST);
  if (now_us < l->latest_us) l->dq_ok = 0; /* time went back: the deque is not exact */
  l->latest_us = now_us;
  if (l->hist_n == 0 || now_us < l->hist[k].t || now_us - l->hist[k].t >= 50000) {
    remember(l, now_us, estimate_bps);
  } else if (estimate_bps < l->hist[k].bps) {
    l->hist[k].bps = estimate_bps;
    /* the newest sample is the deque's back (or dropped, expired): re-append it lower */
    if (l->dq_ok && l->dq_n &&
        l->dq[HIST_IDX(l->dq_head + l->dq_n - 1)].t == l->hist[k].t)
      l->dq_n--;
    if (l->dq_ok) dq_push(l, l->hist[k].t, estimate_bps);
  }

  /* Close the window when it is long enough: its ratio holds until the next one. */
  uint32_t total = l->win_received + l->win_lost;
  int severe = total >= BWE_LOSS_WINDOW_PKTS && l->win_lost > total * BWE_LOSS_SEVERE;
  if (l->win_started && total >= BWE_LOSS_WINDOW_PKTS && now_us >= l->win_start_us &&
      (severe || now_us - l->win_start_us >= BWE_LOSS_WINDOW_US)) {
    l->last_ratio = (double)l->win_lost / (double)total;
    l->win_received = l->win_lost = 0;
    l->win_start_us = now_us;
    l->decreased_this_window = 0;
  }
  double p = l->last_ratio, bps = l->bps;
  if (p < BWE_LOSS_LOW) {
    /* at every feedback, as libwebrtc: growth is ~8 % a second, as the delay-based one's */
    bps = INCREASE * (double)recent_min(l, now_us, estimate_bps) + INCREASE_EXTRA_BPS;
  } else if (p > BWE_LOSS_HIGH) {
    /* §6: As = As * (1 - 0.5 p), from what we send now, once per window and at most once
     * per 300 ms + RTT (the effect of the last cut must show in the feedback first). */
    if (!l->decreased_this_window &&
        (!l->have_decrease || (now_us >= l->last_decrease_us &&
                               now_us - l->last_decrease_us >= BWE_LOSS_DECREASE_US + rtt_us))) {
      bps = (double)estimate_bps * (1 - 0.5 * p);
      /* Heavy loss: 90 % of what was delivered, as the delay-based side goes to 85 % of
       * it on overuse (exactly the delivered rate can sit a few % over the capacity: a
       * full queue, a loss just under BWE_LOSS_HIGH, neither side moving any more), and
       * not (1 - p/2) on top of an estimate the delay-based side already cut for the
       * same congestion: that paused a viewer whose cut had fitted its lowest layer. */
      if (p >= BWE_LOSS_DELIVERED && acked_bps) {
        double delivered = 0.9 * (double)acked_bps;
        bps = delivered < (double)estimate_bps ? delivered : (double)estimate_bps;
      }
      l->last_decrease_us = now_us;
      l->have_decrease = 1;
      l->decreased_this_window = 1;
    }
  } /* else 2..10 %: hold */
  if (bps < l->min_bps) bps = l->min_bps;
  if (bps > l->max_bps) bps = l->max_bps;
  l->bps = bps;
}

void bwe_loss_raise(bwe_loss_t *l, uint64_t now_us, uint64_t bps) {
  if ((double)bps > l->bps) l->bps = (double)bps > l->max_bps ? l->max_bps : (double)bps;
  l->hist_n = l->hist_head = 0;
  l->dq_n = l->dq_head = 0;
  l->dq_ok = 1;
  l->latest_us = now_us;
  remember(l, now_us, bps);
}
