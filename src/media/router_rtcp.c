/* The video router's RTCP and timers (router.h): feedback from viewers (NACK → resend,
 * PLI/FIR → one folded keyframe request per publisher layer, REMB → layer choice, RR →
 * RTT), sender reports from publishers (NTP <-> RTP per layer), and what the worker sends
 * on its own: SR on every outgoing stream, RR / NACK / PLI / REMB to publishers. */
#include <string.h>

#include "media/router_internal.h"
#include "sfu/err.h"
#include "sfu/rtcp.h"
#include "sfu/sdp.h"

/* ---- layer choice ----
 * The viewer's allocation (router_downlink.c, allocator.h) decides every view's layer from
 * its downlink estimate; a view's own change (MaxLayer, a layer starting or stopping) runs
 * it at once. */
void router_choose_layer(sfu_router_t *r, view_t *v, uint64_t now_us) {
  router_allocate(r, v->viewer, now_us, 1);
}

/* ---- to publishers ---- */

static int send_rtcp(sfu_router_t *r, sfu_router_peer_t *p, uint8_t *buf, int n) {
  if (n <= 0 || !r->cbs.send_rtcp) return SFU_EINVAL;
  sfu_router_peer_sent_other(p, r->now_us, (size_t)n); /* off its video budget */
  return r->cbs.send_rtcp(p->user, buf, (size_t)n, ROUTER_SCRATCH);
}

/* PLI (RFC 4585 §6.3.1), or FIR (RFC 5104 §4.3.1) when only that was negotiated. */
static void send_keyframe_request(sfu_router_t *r, layer_t *l) {
  stream_t *s = l->s;
  if (!l->known || !s->pub) return;
  uint32_t fb = s->n_codecs ? s->codecs[0].rtcp_fb : SFU_SDP_FB_NACK_PLI;
  int n;
  if (!(fb & SFU_SDP_FB_NACK_PLI) && (fb & SFU_SDP_FB_CCM_FIR)) {
    static uint8_t fir_seq;
    n = sfu_rtcp_write_fir(r->scratch, sizeof r->scratch, ROUTER_SENDER_SSRC, l->ssrc, fir_seq++);
  } else {
    n = sfu_rtcp_write_pli(r->scratch, sizeof r->scratch, ROUTER_SENDER_SSRC, l->ssrc);
  }
  if (send_rtcp(r, s->pub, r->scratch, n) == 0) {
    s->kf_requests_out++;
    r->st.keyframe_requests_out++;
  }
}

void router_request_keyframe(sfu_router_t *r, layer_t *l, uint64_t now_us) {
  if (sfu_kf_req_need(&l->kf, now_us, l->s->pub ? l->s->pub->rtt_us : 0))
    send_keyframe_request(r, l);
}

/* REMB (draft-alvestrand-rmcat-remb-03) to a publisher, for all its layers' SSRCs
 * (router_remb.c decides the value). 0 if sent. */
int router_send_remb(sfu_router_t *r, stream_t *s, uint64_t bps) {
  uint32_t ssrcs[SFU_ROUTER_MAX_LAYERS];
  unsigned n = 0;
  for (size_t i = 0; i < s->n_layers; i++)
    if (s->layers[i].known) ssrcs[n++] = s->layers[i].ssrc;
  if (!n || !s->pub) return SFU_ENOENT;
  int len = sfu_rtcp_write_remb(r->scratch, sizeof r->scratch, ROUTER_SENDER_SSRC, bps, ssrcs, n);
  return send_rtcp(r, s->pub, r->scratch, len);
}

/* An outgoing stream ends: BYE (RFC 3550 §6.6) so the viewer's jitter buffer lets go. */
void router_view_bye(sfu_router_t *r, view_t *v) {
  if (!r->cbs.send_rtcp) return;
  uint32_t ssrcs[2] = {v->ssrc, v->rtx_ssrc};
  int n = sfu_rtcp_write_bye(r->scratch, sizeof r->scratch, ssrcs, v->rtx_ssrc ? 2 : 1);
  send_rtcp(r, v->viewer, r->scratch, n);
  if (r->cbs.release_ssrc) {
    r->cbs.release_ssrc(v->viewer->user, v->ssrc);
    if (v->rtx_ssrc) r->cbs.release_ssrc(v->viewer->user, v->rtx_ssrc);
  }
}

/* ---- RTCP in ---- */

static view_t *view_by_ssrc(sfu_router_peer_t *p, uint32_t ssrc) {
  for (size_t i = 0; i < p->n_views; i++)
    if (p->views[i]->ssrc == ssrc || (p->views[i]->rtx_ssrc && p->views[i]->rtx_ssrc == ssrc))
      return p->views[i];
  return NULL;
}

static void on_pli(sfu_router_t *r, view_t *v, uint64_t now_us) {
  v->plis_in++;
  if (!v->s || !sfu_kf_viewer_allow(&v->last_pli_in_us, now_us)) return;
  /* The viewer lost its decoder state: what it misses before the next keyframe is not
   * worth resending. */
  if (v->started) {
    v->awaiting_kf = 1;
    v->cut_seq = v->last_out_seq;
  }
  int8_t li = v->layer >= 0 ? v->layer : v->target;
  if (li >= 0) router_request_keyframe(r, &v->s->layers[li], now_us);
}

static void on_nack(sfu_router_t *r, view_t *v, const sfu_rtcp_fb_t *fb, uint64_t now_us) {
  uint16_t seqs[128];
  size_t n = 0;
  sfu_rtcp_nack_parse(fb, seqs, 128, &n);
  v->nacks_in += n;
  r->st.nacks_in += n;
  if (v->s) v->s->nacks_in += n;
  if (!v->nack_ok) return;
  for (size_t i = 0; i < n; i++) router_resend(r, v, seqs[i], now_us);
}

static void on_viewer_fb(sfu_router_t *r, sfu_router_peer_t *p, const sfu_rtcp_pkt_t *pkt,
                         uint64_t now_us) {
  sfu_rtcp_fb_t fb;
  if (sfu_rtcp_fb_parse(pkt, &fb) != 0) return;
  if (pkt->pt == SFU_RTCP_RTPFB && fb.fmt == SFU_RTCP_RTPFB_NACK) {
    view_t *v = view_by_ssrc(p, fb.media_ssrc);
    if (v) on_nack(r, v, &fb, now_us);
  } else if (pkt->pt == SFU_RTCP_RTPFB && fb.fmt == SFU_RTCP_RTPFB_TWCC) {
    router_downlink_feedback(r, p, &fb, now_us);
  } else if (pkt->pt == SFU_RTCP_PSFB && fb.fmt == SFU_RTCP_PSFB_PLI) {
    view_t *v = view_by_ssrc(p, fb.media_ssrc);
    if (v) on_pli(r, v, now_us);
  } else if (pkt->pt == SFU_RTCP_PSFB && fb.fmt == SFU_RTCP_PSFB_FIR) {
    unsigned n = sfu_rtcp_fir_count(&fb);
    for (unsigned i = 0; i < n && i < 32; i++) {
      uint32_t ssrc;
      uint8_t seq;
      if (sfu_rtcp_fir_entry(&fb, i, &ssrc, &seq) != 0) break;
      view_t *v = view_by_ssrc(p, ssrc);
      if (v) on_pli(r, v, now_us);
    }
  } else if (pkt->pt == SFU_RTCP_PSFB && fb.fmt == SFU_RTCP_PSFB_AFB) {
    sfu_rtcp_remb_t remb;
    if (sfu_rtcp_remb_parse(&fb, &remb) != 0) return;
    uint64_t b = remb.bitrate_bps;
    if (b == p->remb_bps) return;
    p->remb_bps = b;
    if (p->bwe) sfu_bwe_on_remb(p->bwe, now_us, b);
    router_pace_rate(r, p, now_us); /* the estimate takes the REMB as a bound */
    router_allocate(r, p, now_us, 0); /* the allocator decides whether the move matters */
  }
}

/* RTT = now - (when we sent the SR the block names) - DLSR (RFC 3550 §6.4.1), all on our
 * clock: the SR's NTP field is the publisher's capture clock, not ours. */
static void on_report_blocks(sfu_router_peer_t *p, const uint8_t *blocks, unsigned n,
                             uint64_t now_us) {
  for (unsigned i = 0; i < n; i++) {
    sfu_rtcp_rb_t rb;
    sfu_rtcp_rb_get(blocks, i, &rb);
    view_t *v = view_by_ssrc(p, rb.ssrc);
    if (!v || !rb.lsr) continue;
    for (int k = 0; k < 2; k++) {
      if (!v->sr_sent_us[k] || v->sr_lsr[k] != rb.lsr) continue;
      uint64_t dlsr_us = ((uint64_t)rb.dlsr * 1000000u) >> 16;
      uint64_t since = now_us - v->sr_sent_us[k];
      if (since < dlsr_us) break;
      uint64_t rtt = since - dlsr_us;
      if (rtt < 10000000u) p->rtt_us = rtt ? rtt : 1;
      break;
    }
  }
}

static void on_sr(stream_t *s, const sfu_rtcp_sr_t *sr, uint64_t now_us) {
  for (size_t i = 0; i < s->n_layers; i++) {
    layer_t *l = &s->layers[i];
    if (!l->known || l->ssrc != sr->ssrc) continue;
    l->has_sr = 1;
    l->sr_ntp = sr->ntp;
    l->sr_rtp = sr->rtp_ts;
    l->sr_at_us = now_us;
    sfu_recv_stats_on_sr(&l->rs, now_us, sr->ntp);
  }
}

void sfu_router_on_rtcp(sfu_router_t *r, sfu_router_peer_t *p, uint64_t now_us,
                        const uint8_t *buf, size_t len) {
  r->now_us = now_us;
  sfu_rtcp_iter_t it;
  sfu_rtcp_pkt_t pkt;
  sfu_rtcp_iter_init(&it, buf, len);
  while (sfu_rtcp_iter_next(&it, &pkt) == 1) {
    if (pkt.pt == SFU_RTCP_SR) {
      sfu_rtcp_sr_t sr;
      if (sfu_rtcp_sr_parse(&pkt, &sr) != 0) continue;
      if (p->pub) on_sr(p->pub, &sr, now_us);
      on_report_blocks(p, sr.blocks, sr.rb_count, now_us);
    } else if (pkt.pt == SFU_RTCP_RR) {
      sfu_rtcp_rr_t rr;
      if (sfu_rtcp_rr_parse(&pkt, &rr) == 0) on_report_blocks(p, rr.blocks, rr.rb_count, now_us);
    } else if (pkt.pt == SFU_RTCP_RTPFB || pkt.pt == SFU_RTCP_PSFB) {
      on_viewer_fb(r, p, &pkt, now_us);
    }
  }
}

void sfu_router_on_rtp(sfu_router_t *r, sfu_router_peer_t *p, uint64_t now_us, uint8_t *buf,
                       size_t len) {
  r->now_us = now_us;
  router_fwd_rtp(r, p, now_us, buf, len);
}

/* ---- the periodic work ---- */

/* SR for one outgoing stream: its NTP <-> RTP mapping is the publisher layer's, carried
 * through the view's timestamp offset, so the viewer can sync it with the audio. */
static void send_view_sr(sfu_router_t *r, view_t *v, uint64_t now_us) {
  stream_t *s = v->s;
  if (!s || !v->started || v->layer < 0) return;
  layer_t *l = &s->layers[v->layer];
  uint64_t ntp = sfu_ntp_from_us(now_us);
  uint32_t in_ts;
  if (l->has_sr) {
    int64_t dt = (int64_t)((now_us - l->sr_at_us) * 90000 / 1000000);
    in_ts = (uint32_t)(l->sr_rtp + dt);
    ntp = l->sr_ntp + (((now_us - l->sr_at_us) << 32) / 1000000);
  } else {
    in_ts = l->last_ts;
  }
  sfu_rtcp_sr_t sr = {
      .ssrc = v->ssrc,
      .ntp = ntp,
      .rtp_ts = in_ts + (v->last_out_ts - v->last_in_ts),
      .packet_count = (uint32_t)v->sr_packets,
      .octet_count = (uint32_t)v->sr_octets,
  };
  int n = sfu_rtcp_write_sr(r->scratch, sizeof r->scratch, &sr, NULL, 0);
  if (send_rtcp(r, v->viewer, r->scratch, n) == 0) {
    v->sr_i ^= 1;
    v->sr_lsr[v->sr_i] = (uint32_t)(ntp >> 16);
    v->sr_sent_us[v->sr_i] = now_us;
  }
}

/* RR to a publisher: one block per layer SSRC (RFC 3550 §6.4.2). */
static void send_pub_rr(sfu_router_t *r, stream_t *s, uint64_t now_us) {
  sfu_rtcp_rb_t rbs[SFU_ROUTER_MAX_LAYERS];
  unsigned n = 0;
  for (size_t i = 0; i < s->n_layers; i++) {
    layer_t *l = &s->layers[i];
    if (!l->known || !l->packets) continue;
    sfu_recv_stats_block(&l->rs, now_us, &rbs[n++]);
  }
  if (!n) return;
  int len = sfu_rtcp_write_rr(r->scratch, sizeof r->scratch, ROUTER_SENDER_SSRC, rbs, n);
  send_rtcp(r, s->pub, r->scratch, len);
}

/* Per layer: NACKs for gaps (sfu_nack_gen), repeated keyframe requests (sfu_kf_req). */
static void tick_layer(sfu_router_t *r, stream_t *s, layer_t *l, uint64_t now_us) {
  if (!l->known || !s->pub) return;
  uint64_t rtt = s->pub->rtt_us;
  uint16_t seqs[64];
  size_t n = sfu_nack_gen_poll(&l->nack, now_us, rtt, seqs, 64);
  uint32_t fb = s->n_codecs ? s->codecs[0].rtcp_fb : 0;
  if (n && (fb & SFU_SDP_FB_NACK)) {
    int len = sfu_rtcp_write_nack(r->scratch, sizeof r->scratch, ROUTER_SENDER_SSRC, l->ssrc, seqs, n);
    if (send_rtcp(r, s->pub, r->scratch, len) == 0) {
      l->nacks_out += n;
      r->st.nacks_out += n;
    }
  }
  if (sfu_kf_req_poll(&l->kf, now_us, rtt)) send_keyframe_request(r, l);
}

/* Once a second: activity (VideoStopped after 5 s, layers that stopped), the bitrate
 * limit (REMB first, drop after 5 s over), the publisher's REMB (router_remb.c), reports. */
static void report_stream(sfu_router_t *r, stream_t *s, uint64_t now_us) {
  int changed = 0;
  uint64_t limit = r->cfg.max_stream_bitrate_bps;
  int over = 0;
  for (size_t i = 0; i < s->n_layers; i++) {
    layer_t *l = &s->layers[i];
    if (l->active && now_us - l->last_pkt_us > ROUTER_LAYER_IDLE_US) {
      l->active = 0;
      changed = 1;
    }
    if (sfu_rate_meter_bps(&l->rate, now_us) > limit + limit / 10) over = 1;
  }
  if (s->flowing && now_us - s->last_pkt_us > SFU_ROUTER_STOPPED_US) {
    s->flowing = 0;
    router_event(r, SFU_ROUTER_EV_VIDEO_STOPPED, s, NULL);
  }
  /* requirements.md: over the session's maximum, the publisher first gets REMB asking
   * for the limit; still over 5 s later, its packets are dropped (and counted). The limit
   * applies per RTP stream, i.e. per simulcast layer. */
  if (over) {
    if (!s->over_since_us) s->over_since_us = now_us;
    if (now_us - s->over_since_us >= SFU_ROUTER_OVER_BITRATE_US) s->dropping = 1;
  } else if (s->over_since_us) {
    s->over_since_us = 0;
    s->dropping = 0;
  }
  /* the REMB: the lower of the limit (limit x layers, every second while over) and what
   * the stream's viewers could use */
  router_remb_report(r, s, now_us, over);
  send_pub_rr(r, s, now_us);
  if (changed) {
    router_index_changed(r);
    router_rechoose(r, s);
  }
}

void sfu_router_handle_timeout(sfu_router_t *r, uint64_t now_us) {
  r->now_us = now_us;
  /* The viewers' pacers are served whenever one is due, between the ticks too; the
   * tick's work waits for its grid. */
  router_pace_timeout(r, now_us);
  if (now_us < r->next_tick_us) return;
  for (size_t i = 0; i < r->n_streams; i++) {
    stream_t *s = r->streams[i];
    for (size_t k = 0; k < s->n_layers; k++) tick_layer(r, s, &s->layers[k], now_us);
  }
  if (now_us >= r->next_report_us) {
    r->next_report_us = now_us + ROUTER_REPORT_US;
    for (size_t i = 0; i < r->n_streams; i++) report_stream(r, r->streams[i], now_us);
    sfu_list_t *it;
    sfu_list_foreach(it, &r->peers) {
      sfu_router_peer_t *p = sfu_container_of(it, sfu_router_peer_t, link);
      for (size_t i = 0; i < p->n_views; i++) send_view_sr(r, p->views[i], now_us);
    }
  }
  sfu_list_t *pit;
  int probing = 0;
  sfu_list_foreach(pit, &r->peers) {
    sfu_router_peer_t *p = sfu_container_of(pit, sfu_router_peer_t, link);
    if (p->n_views) router_downlink_tick(r, p, now_us);
    probing |= p->cluster_on;
  }
  if (r->index_dirty) {
    r->index_dirty = 0;
    router_event(r, SFU_ROUTER_EV_INDEX_CHANGED, NULL, NULL);
  }
  int any = r->n_streams > 0;
  r->next_tick_us = any ? (now_us / ROUTER_TICK_US + 1) * ROUTER_TICK_US : UINT64_MAX;
  /* A probe cluster in flight is paced in 5 ms steps (sfu_probe_cluster_next): sent in
   * one or two instants it has no measurable send rate. */
  if (probing && now_us + 5000 < r->next_tick_us) r->next_tick_us = now_us + 5000;
}

uint64_t sfu_router_next_deadline(const sfu_router_t *r) {
  return r->pace_next_us < r->next_tick_us ? r->pace_next_us : r->next_tick_us;
}
