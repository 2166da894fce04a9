/* The video router's pacing (issue 8, "what goes to one viewer leaves paced at the
 * estimate, keyframe bursts included"): one pacer (pacer.h) per viewer peer that has a
 * send-side estimate (transport-cc), at 2.5 x the estimate, bursts of 5 ms.
 *
 *   send_built / fill_holes / router_resend ──router_pace_send──▶ admitted: send_rtp now
 *                                                                └▶ else: pacer
 *   sfu_router_handle_timeout ──router_pace_timeout──▶ what is due ──▶ send_rtp
 *
 * What waits in a pacer. A packet of a view's own stream (forwarded, or resent without
 * RTX) waits as a reference (pace_ref_t: the view, the publisher's packet, and the
 * numbers the view's rewrite gave it) and is built from the publisher's history
 * (pkt_history.h) when it leaves, exactly as a NACK's resend rebuilds it: while the
 * viewer's queue holds packets, send_built does not even build it.
 * Copying each queued packet into a per-viewer slot and out again cost more than the
 * estimation itself: 2 x 1,200 bytes per packet into memory 100 viewers' queues spread
 * over (~1 MB), i.e. ~21 cache-line misses of a 512 KB L2 per forwarded packet
 * (callgrind's cache model on bench_router_pace); the publisher's packet, read by every
 * viewer at the same grid instant, stays in L1. The first packet of a run waits as a
 * reference too: send_built asks the pacer (sfu_pacer_would_admit) before building it,
 * since copying it into a cold slot cost ~5 misses per run, ~0.9 per forwarded packet,
 * more than its rebuild. Padding (fill_holes), RTX and anything else are copied in as
 * bytes. A reference whose packet is gone when it leaves (the
 * history's 2 s or span, a publisher that restarted its numbering, a stream that ended)
 * is dropped, counted as a pacer drop: the viewer NACKs it.
 *
 * Why the viewer's bottleneck needs it: a keyframe of tens of packets handed to the
 * socket at once reaches the bottleneck as one wall, fills its queue, and the estimator
 * reads that queue as congestion (and a shallow shaper drops the tail). Spread at 2.5 x
 * the estimate (libwebrtc's pacing factor: the pacer must drain faster than the encoder
 * produces, or it becomes the bottleneck), a burst becomes a rate the link was shown to
 * carry.
 *
 * One priority (SFU_PACER_PRIO_VIDEO), i.e. strict FIFO: the transport-wide sequence
 * number is written into the packet when it is built, so the send order must stay the
 * twcc order (the estimator groups packets by send time in twcc order, bwe_delay.c;
 * an RTX moved ahead of older video would be "sent before the current group" and ignored)
 * and a non-RTX resend must be the very same bytes as the original (its SRTP index is
 * the original's: other bytes under the same GCM nonce would reveal the key), so the
 * twcc seq cannot be stamped at pop time. The session SRTP-protects each packet in
 * send_rtp, at pop, so a stream's SRTP order is its send order.
 *
 * Probe clusters (router_downlink.c) bypass the pacer: they follow their own pacing and
 * test the link above the media rate; behind queued media they would not measure it, and
 * counted in the budget they would delay media. Their twcc seqs are stamped when sent, so
 * a cluster part sent while media is queued is ahead of older twcc seqs; the estimator
 * then ignores those few older packets' delay samples (never their loss or rate).
 *
 * The estimate's send record (router_downlink_sent: the bwe's on_sent) is written when
 * the packet leaves, with that time. The views' packet counters (packets_out, the SR
 * packet count) count when a packet is handed to the pacer; the byte counters (bytes_out,
 * the SR octet count) then too for a byte packet, and when it is built for a reference.
 *
 * Viewers without transport-cc (no estimate), and those with it before the first
 * feedback (the estimate is only the start value then), are unpaced: sent at once. */
#include "media/router_internal.h"
#include "sfu/bytes.h"
#include "sfu/err.h"

/* libwebrtc's kDefaultPaceMultiplier */
#define PACE_FACTOR_X2 5u
/* Pacers are served on a 5 ms grid shared by every viewer (and every router of the loop,
 * like the tick): one wake-up drains every due pacer, each sends up to its 5 ms burst, and
 * a viewer's packets of that burst leave together (one GSO run, one sendmmsg for all).
 * Served at each pacer's own deadline instead (sub-millisecond apart), the loop woke ~50 %
 * more often and handed the kernel one datagram per viewer per wake-up: +35 % CPU per
 * forwarded packet in bench/forward.py A-top (docs/benchmarks.md). libwebrtc's pacer
 * also ran every 5 ms for years (PacedSender::Process). */
#define PACE_GRID_US 5000ull
/* The tag of a queued packet: its twcc seq, whether it has one, and whether the pacer
 * holds a pace_ref_t rather than the packet. */
#define TAG_TWCC 0x10000u
#define TAG_REF 0x20000u
/* A reference is kept in the pacer's queue entry itself (no 1.5 KB slot per queued
 * packet: sfu_pacer_push_ref), which hands it back 8-byte aligned. */
_Static_assert(sizeof(pace_ref_t) <= SFU_PACER_REF_INLINE, "pace_ref_t fits a pacer entry");

void router_pace_setup(sfu_router_peer_t *p) {
  if (p->pacer) return;
  p->pacer = sfu_pacer_new(0, 0);
  p->pace_due_us = UINT64_MAX;
  /* the meeting's burst (router.h pace_burst_us), else the pacer's 5 ms */
  if (p->pacer && p->r->cfg.pace_burst_us) sfu_pacer_set_burst(p->pacer, 0, p->r->cfg.pace_burst_us);
}

/* Queued packets go with it (the pacer's pool). */
void router_pace_free(sfu_router_peer_t *p) {
  sfu_pacer_free(p->pacer);
  p->pacer = NULL;
}

/* A pacer's deadline d (sfu_pacer_next_deadline at now_us) on the grid (never earlier:
 * the pacer has nothing due before it). */
static uint64_t on_grid(uint64_t d, uint64_t now_us) {
  if (d == UINT64_MAX || d <= now_us) return d;
  uint64_t g = (d + PACE_GRID_US - 1) / PACE_GRID_US * PACE_GRID_US;
  return g >= d ? g : d;
}

static uint64_t due_on_grid(const sfu_pacer_t *q, uint64_t now_us) {
  return on_grid(sfu_pacer_next_deadline(q, now_us), now_us);
}

/* p's deadline after its queue or rate changed (it only moves then: the bucket fills
 * linearly), and the router's earliest. */
static void note_deadline(sfu_router_t *r, sfu_router_peer_t *p, uint64_t now_us) {
  uint64_t d = due_on_grid(p->pacer, now_us);
  p->pace_due_us = d;
  if (d < r->pace_next_us) r->pace_next_us = d;
}

/* One queued packet leaves (sfu_pacer_drain's send): a byte packet is SRTP-protected and
 * sent in its pacer slot (the slot has room for the tag), not copied out first; a
 * reference is built into r->pace_buf (not the scratch buffers: a drain runs from
 * router_pace_send too, whose caller's packet is in one of them). Returns the bytes that
 * left for the pacer's budget (a packet send_rtp refused counts as sent, as a peek +
 * take did), 0 when a reference could not be built (a pacer drop). */
typedef struct {
  sfu_router_t *r;
  sfu_router_peer_t *p;
  uint64_t now_us;
} drain_ctx_t;

static size_t send_queued(void *ctx, uint8_t *pkt, size_t n, size_t room, uint32_t tag, int prio) {
  drain_ctx_t *c = ctx;
  sfu_router_t *r = c->r;
  (void)prio;
  if (tag & TAG_REF) {
    int m = router_fwd_rebuild(r, (const pace_ref_t *)(void *)pkt, r->pace_buf);
    if (m <= 0) return 0;
    pkt = r->pace_buf;
    n = (size_t)m;
    room = ROUTER_SCRATCH;
  }
  int rc = r->cbs.send_rtp ? r->cbs.send_rtp(c->p->user, pkt, n, room) : SFU_ESTATE;
  if (rc != 0) {
    c->p->pace_send_failed++;
    return n;
  }
  if (tag & TAG_TWCC) router_downlink_sent(c->p, (uint16_t)tag, c->now_us, n, -1);
  return n;
}

/* Sends what is due of p's queue at now_us; p->pace_due_us becomes its next deadline.
 * One sfu_pacer_drain call, not a peek and a take per packet, and the deadline comes
 * with it. */
static void drain(sfu_router_t *r, sfu_router_peer_t *p, uint64_t now_us) {
  drain_ctx_t c = {r, p, now_us};
  p->pace_due_us = on_grid(sfu_pacer_drain(p->pacer, now_us, send_queued, &c), now_us);
}

/* 1 when a packet for p would wait in its pacer whatever it is: something is queued
 * (FIFO) after what is due now has left, or the queue is empty but the budget is spent
 * (the first packet of a run: asked before it is built, so that it waits as a reference
 * too). */
int router_pace_must_wait(sfu_router_t *r, sfu_router_peer_t *p) {
  if (!p->pacer) return 0;
  if (p->pace_due_us != UINT64_MAX) {
    if (p->pace_due_us <= r->now_us) drain(r, p, r->now_us);
    if (p->pace_due_us != UINT64_MAX) return 1;
  }
  return !sfu_pacer_would_admit(p->pacer, r->now_us);
}

/* A packet waits in p's pacer as the reference ref (router_pace_must_wait said it must
 * wait); wire_len: its expected size (the queue bound counts it; the budget counts what
 * leaves). 1 when queued (its bytes are counted when it leaves), negative when refused. */
int router_pace_queue_ref(sfu_router_t *r, sfu_router_peer_t *p, const pace_ref_t *ref,
                          size_t wire_len) {
  if (wire_len > SFU_PACER_SLOT) {
    p->pace_refused++;
    return SFU_ETOOBIG;
  }
  int rc = sfu_pacer_push_ref(p->pacer, r->now_us, SFU_PACER_PRIO_VIDEO, ref, sizeof *ref, wire_len,
                              TAG_REF | (ref->has_twcc ? TAG_TWCC | ref->twcc_seq : 0));
  /* A new deadline only for the first of a run (the queue was empty): a queue that held
   * packets, all of one paced priority, is due when the bucket is above 0 again,
   * whatever joins the tail or is evicted or expires from the head for it. */
  if (p->pace_due_us == UINT64_MAX) note_deadline(r, p, r->now_us);
  return rc < 0 ? rc : 1;
}

/* One RTP packet for viewer p, built in buf (ROUTER_SCRATCH bytes). 0 when sent or
 * queued (its bytes copied in); negative when refused (send_rtp's error, or dropped by
 * the pacer: counted). */
int router_pace_send(sfu_router_t *r, sfu_router_peer_t *p, uint8_t *buf, size_t len,
                     int has_twcc, uint16_t twcc_seq) {
  uint64_t now = r->now_us;
  sfu_pacer_t *q = p->pacer;
  if (q) {
    /* What is due goes first (the loop timer has millisecond resolution and a busy turn
     * may be late): then this one may still take the fast path. */
    if (p->pace_due_us <= now) drain(r, p, now);
    if (!sfu_pacer_admit(q, now, len)) {
      if (len > SFU_PACER_SLOT) {
        p->pace_refused++;
        return SFU_ETOOBIG;
      }
      int rc = sfu_pacer_push(q, now, SFU_PACER_PRIO_VIDEO, buf, len,
                              has_twcc ? TAG_TWCC | twcc_seq : 0);
      note_deadline(r, p, now); /* queued, or older ones evicted for it */
      return rc;
    }
  }
  /* Unpaced, or admitted: from the caller's buffer, no copy. */
  int rc = r->cbs.send_rtp ? r->cbs.send_rtp(p->user, buf, len, ROUTER_SCRATCH) : SFU_ESTATE;
  if (rc == 0 && has_twcc) router_downlink_sent(p, twcc_seq, now, len, -1);
  return rc;
}

/* The pacing rate from p's estimate; called when it may have moved (a feedback, a REMB
 * the estimator takes as a bound). Before the first feedback: unpaced. */
void router_pace_rate(sfu_router_t *r, sfu_router_peer_t *p, uint64_t now_us) {
  if (!p->pacer) return;
  uint64_t rate = p->bwe && p->bwe_fed ? sfu_bwe_estimate(p->bwe) * PACE_FACTOR_X2 / 2 : 0;
  if (rate == sfu_pacer_rate(p->pacer)) return;
  sfu_pacer_set_rate(p->pacer, now_us, rate);
  note_deadline(r, p, now_us); /* a higher rate: due sooner */
}

/* Drains every pacer that is due; r->pace_next_us becomes the next one's deadline.
 * Called only when one is due; O(peers) compares, and work only for the due ones. */
void router_pace_timeout(sfu_router_t *r, uint64_t now_us) {
  if (now_us < r->pace_next_us) return;
  uint64_t next = UINT64_MAX;
  sfu_list_t *it;
  sfu_list_foreach(it, &r->peers) {
    sfu_router_peer_t *p = sfu_container_of(it, sfu_router_peer_t, link);
    if (!p->pacer) continue;
    if (p->pace_due_us <= now_us) drain(r, p, now_us);
    if (p->pace_due_us < next) next = p->pace_due_us;
  }
  r->pace_next_us = next;
}

typedef struct {
  const view_t *v;
  uint32_t ssrc, rtx_ssrc;
} forget_t;

static int of_view(const uint8_t *pkt, size_t len, uint32_t tag, void *ctx) {
  const forget_t *f = ctx;
  if (tag & TAG_REF) return ((const pace_ref_t *)(const void *)pkt)->v == f->v;
  if (len < 12) return 0;
  uint32_t ssrc = sfu_rd32(pkt + 8);
  return ssrc == f->ssrc || (f->rtx_ssrc && ssrc == f->rtx_ssrc);
}

/* v's queued packets (media and RTX SSRC) are withdrawn: its stream ended (the RTCP BYE
 * and the SRTP tombstone follow: nothing may go out on those SSRCs after them), or a
 * renegotiation changed what its packets look like. O(queue), and nothing when the
 * queue is empty. Their transport-wide seqs were never reported sent: the estimator
 * ignores them in feedback. */
void router_pace_forget(sfu_router_t *r, view_t *v) {
  sfu_router_peer_t *p = v->viewer;
  if (!p || !p->pacer || p->pace_due_us == UINT64_MAX) return;
  forget_t f = {v, v->ssrc, v->rtx_ssrc};
  if (sfu_pacer_remove(p->pacer, of_view, &f)) note_deadline(r, p, r->now_us);
}

void router_pace_info(const sfu_router_peer_t *p, sfu_router_downlink_info_t *out) {
  if (!p->pacer) return;
  sfu_pacer_stats_t st;
  sfu_pacer_stats(p->pacer, &st);
  out->paced = 1;
  out->pacer_rate_bps = sfu_pacer_rate(p->pacer);
  out->pacer_queued_bytes = st.queued_bytes;
  out->pacer_queued_packets = st.queued_packets;
  out->pacer_sent_packets = st.sent_packets;
  out->pacer_max_delay_us = st.max_delay_us;
  out->pacer_burst_us = sfu_pacer_burst(p->pacer);
  out->pacer_dropped = st.dropped_packets + p->pace_refused;
}
