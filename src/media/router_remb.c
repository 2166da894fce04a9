/* The video router's REMB to publishers (issue 8): each publisher is told what the union
 * of its viewers could use, so a simulcast layer nobody can receive is not sent.
 *
 * What a REMB does (draft-alvestrand-rmcat-remb-03 §2): it caps the publisher's total
 * send rate for the listed SSRCs. libwebrtc takes min(its own estimate, REMB) as its
 * target and hands it to the simulcast layers lowest first; a layer whose minimum does
 * not fit in what is left is switched off. So a REMB of "layers 0..k plus headroom"
 * makes a Chromium publisher send exactly layers 0..k.
 *
 * The trap: the allocator (allocator.h) only chooses a layer that flows and has flowed
 * for 2 s. Ask for "what viewers receive" and a layer we stopped can never be chosen
 * again: nobody receives it, so nobody asks for it. So the union is of what each view
 * COULD use if every layer flowed:
 *   ceiling(view) = the highest layer within the view's MaxLayer / MaxHeight whose rate
 *                   fits in its viewer's estimate minus what the viewer's other views
 *                   were allocated; never below the layer it receives.
 * A stopped layer's rate is the one it had when it last flowed (layer_t.last_bps; 0 is
 * "unknown", never "cheap": a layer never measured leaves the publisher unconstrained).
 * A viewer's estimate is held near what it receives (1.5 x acknowledged, bwe_delay.c),
 * so a stopped layer is also kept in the viewer's probe goal (router_view_top_bps, read
 * by router_allocate): probes prove the estimate, the ceiling rises, the REMB follows,
 * the layer resumes, and 2 s later the allocator may take it. Measured in
 * test_router_bwe.c (remb_stopped_top_layer_comes_back).
 *
 * Per stream, once a second (router_rtcp.c report_stream):
 *   rank  = max over its views of ceiling(view); with no view, the lowest layer (a lone
 *           publisher need not upload 2 Mbps for nobody; the lowest layer keeps the
 *           stream flowing, so no VideoStopped, and a new viewer starts at once); a lower
 *           rank is taken only after REMB_DOWN_HOLD_US of needing less (a viewer that
 *           leaves and comes back, a publisher that just published, an estimate that
 *           dips, do not make the publisher drop and re-encode layers)
 *   value = sum of layers 0..rank x (1 + REMB_HEADROOM_PCT) + REMB_EXTRA_BPS (simulcast
 *           sends every lower layer too; the headroom covers packet overhead and the
 *           publisher's audio in the same estimate); the top layer, or an unmeasured one:
 *           the meeting's limit (max_stream_bitrate_bps x layers)
 *   sent  = the lower of value and the over-the-limit REMB (requirements.md: over the
 *           limit, the publisher first gets REMB asking for the limit), when it moved by
 *           more than REMB_MOVE_PCT, every second while over the limit, and again every
 *           REMB_REFRESH_US once one was sent (libwebrtc keeps the last REMB as its cap
 *           until the next: a lost one must not cap it for ever). Nothing is sent to a
 *           publisher never constrained.
 * mediasoup does not tell publishers; LiveKit's dynacast pauses layers nobody
 * subscribed to (by requested quality, not by estimate). */
#include <string.h>

#include "media/router_internal.h"

#define REMB_HEADROOM_PCT 15u
#define REMB_EXTRA_BPS 50000u
#define REMB_MOVE_PCT 10u
#define REMB_KEEP_PCT 25u
#define REMB_DOWN_HOLD_US 5000000ull
#define REMB_REFRESH_US 5000000ull

/* Rate of the layer of rank k: measured now, or when it last flowed. */
static uint64_t rank_bps(stream_t *s, int k, uint64_t now_us) {
  layer_t *l = &s->layers[s->rank[k]];
  uint64_t cur = l->active ? sfu_rate_meter_bps(&l->rate, now_us) : 0;
  return cur > l->last_bps ? cur : l->last_bps;
}

/* The highest rank within the view's caps (MaxLayer, MaxHeight by the last keyframe). */
static int view_top_rank(const view_t *v) {
  const stream_t *s = v->s;
  int top = (int)s->n_layers - 1;
  if (v->max_layer >= 0 && v->max_layer < top) top = v->max_layer;
  while (top > 0 && v->max_height && s->layers[s->rank[top]].height > v->max_height) top--;
  return top;
}

/* The probe goal's part of one view: the rate of its top layer within its caps, a stopped
 * one (at its last rate) included; *stopped set when that layer does not flow now. */
uint64_t router_view_top_bps(const view_t *v, uint64_t now_us, int *stopped) {
  stream_t *s = v->s;
  *stopped = 0;
  if (!s || !s->n_layers) return 0;
  for (int k = view_top_rank(v); k >= 0; k--) {
    layer_t *l = &s->layers[s->rank[k]];
    if (l->active) return sfu_rate_meter_bps(&l->rate, now_us);
    if (l->last_bps) {
      *stopped = 1;
      return l->last_bps;
    }
  }
  return 0;
}

/* What the view could use if every layer flowed (see the top of the file). */
static int view_ceiling(view_t *v, uint64_t now_us) {
  stream_t *s = v->s;
  const sfu_router_peer_t *p = v->viewer;
  int floor = v->target >= 0 ? router_layer_rank(s, v->target) : 0;
  if (floor < 0) floor = 0;
  uint64_t est = router_downlink_estimate(p);
  uint64_t cap = p->r->cfg.receive_bitrate_bps;
  if (est > cap) est = cap;
  uint64_t mine = v->target >= 0 ? rank_bps(s, floor, now_us) : 0;
  uint64_t others = p->allocated_bps > mine ? p->allocated_bps - mine : 0;
  uint64_t avail = est > others ? est - others : 0;
  for (int k = view_top_rank(v); k > floor; k--) {
    uint64_t b = rank_bps(s, k, now_us);
    /* unknown: assume it could; a layer asked for already keeps being asked for until
     * the estimate is clearly short of it (an estimate wandering around a layer's rate
     * must not switch the publisher's encoder on and off) */
    uint64_t room = k <= s->remb_rank ? avail + avail * REMB_KEEP_PCT / 100u : avail;
    if (!b || b <= room) return k;
  }
  return floor;
}

/* The union's rank, held against drops for REMB_DOWN_HOLD_US. */
static int stream_rank(stream_t *s, uint64_t now_us) {
  int top = (int)s->n_layers - 1;
  if (!s->remb_init || s->remb_rank > top) {
    s->remb_init = 1;
    s->remb_rank = (int8_t)top; /* unconstrained until a lower need has lasted */
  }
  int need = 0;
  for (size_t i = 0; i < s->n_views && need < top; i++) {
    int c = view_ceiling(s->views[i], now_us);
    if (c > need) need = c;
  }
  if (need >= s->remb_rank) {
    s->remb_rank = (int8_t)need;
    s->remb_lower_since_us = 0;
  } else if (!s->remb_lower_since_us) {
    s->remb_lower_since_us = now_us;
  } else if (now_us - s->remb_lower_since_us >= REMB_DOWN_HOLD_US) {
    s->remb_rank = (int8_t)need;
    s->remb_lower_since_us = 0;
  }
  return s->remb_rank;
}

void router_remb_report(sfu_router_t *r, stream_t *s, uint64_t now_us, int over) {
  if (!s->pub || !s->n_layers) return;
  /* Remember what each layer costs while it flows (not while its meter decays). */
  for (size_t i = 0; i < s->n_layers; i++) {
    layer_t *l = &s->layers[i];
    if (!l->active || now_us - l->last_pkt_us > 200000) continue;
    uint32_t b = sfu_rate_meter_bps(&l->rate, now_us);
    if (b) l->last_bps = b;
  }
  uint64_t limit = (uint64_t)r->cfg.max_stream_bitrate_bps * s->n_layers;
  int rank = stream_rank(s, now_us);
  uint64_t value = limit;
  if (rank < (int)s->n_layers - 1) {
    uint64_t sum = 0;
    for (int k = 0; k <= rank && sum != UINT64_MAX; k++) {
      uint64_t b = rank_bps(s, k, now_us);
      sum = b ? sum + b : UINT64_MAX; /* unknown: no constraint */
    }
    if (sum != UINT64_MAX) {
      sum = sum * (100u + REMB_HEADROOM_PCT) / 100u + REMB_EXTRA_BPS;
      if (sum < value) value = sum;
    }
  }
  uint64_t last = s->remb_sent_bps;
  int due;
  if (over) {
    due = 1;
  } else if (last) {
    uint64_t moved = value > last ? value - last : last - value;
    due = moved * 100u > last * REMB_MOVE_PCT || now_us - s->remb_sent_us >= REMB_REFRESH_US;
  } else {
    due = value < limit;
  }
  if (due && router_send_remb(r, s, value) == 0) {
    s->remb_sent_bps = value;
    s->remb_sent_us = now_us;
  }
}
