/* Pacing in simulation (issue 8, router_pace.c): the fixture of test_router_bwe.c
 * (router_sim.h: one publisher of 3 layers, one viewer behind a 300 kbps link sending
 * transport-cc feedback), with every packet the router hands to a viewer logged. */
#include "router_sim.h"
#include "sfu/pacer.h"

/* What the router sent: to the simulated viewer (pkt) and to an unpaced one (at2). */
static struct {
  int on;
  sfu_router_peer_t *view2;
  size_t n, n2;
  struct {
    uint64_t at;
    size_t len;
    uint32_t ssrc;
    uint16_t seq, twcc;
    uint8_t pt, probe;
  } pkt[4096];
  uint64_t at2[4096];
} L;

static void log_sent(sim_t *s, void *viewer, const uint8_t *buf, size_t len) {
  sfu_rtp_hdr_t h;
  if (!L.on || sfu_rtp_parse(buf, len, &h) != 0) return;
  if (viewer == (void *)&L.view2) {
    if (h.payload_type == 96 && L.n2 < 4096) L.at2[L.n2++] = s->now;
    return;
  }
  if (viewer != (void *)&s->view || L.n >= 4096) return;
  const uint8_t *d;
  size_t dl;
  uint16_t tseq = 0;
  if (sfu_rtp_ext_find(&h, V_TWCC, &d, &dl) == 0) sfu_rtp_ext_twcc_seq(d, dl, &tseq);
  L.pkt[L.n].at = s->now;
  L.pkt[L.n].len = len;
  L.pkt[L.n].ssrc = h.ssrc;
  L.pkt[L.n].seq = h.seq;
  L.pkt[L.n].twcc = tseq;
  L.pkt[L.n].pt = h.payload_type;
  /* probe clusters (RTX copies of media or padding, on the RTX SSRC) bypass the pacer;
   * this viewer sends no NACK, so every RTX packet is a probe */
  L.pkt[L.n].probe = h.payload_type == 97;
  L.n++;
}

/* A second viewer of the same stream without transport-cc: unpaced. */
static void add_unpaced_viewer(sim_t *s) {
  memset(&L, 0, sizeof L);
  sfu_router_peer_desc_t vd = {"view2", "view2", 0, 1, 1};
  L.view2 = sfu_router_peer_new(s->r, &vd, (void *)&L.view2);
  sfu_router_peer_set_ready(s->r, L.view2, 1, s->now);
  sfu_router_view_desc_t v;
  memset(&v, 0, sizeof v);
  strcpy(v.mid, "v");
  v.n_codecs = 1;
  codec(&v.codecs[0]);
  v.codecs[0].rtcp_fb &= ~(uint32_t)SFU_SDP_FB_TRANSPORT_CC;
  sfu_rtp_ext_map_init(&v.ext);
  sfu_rtp_ext_map_set(&v.ext, V_MID, SFU_EXT_MID);
  v.stream_id = s->pub[0].sid;
  v.max_layer = 0;
  sfu_router_view_out_t o;
  char err[200];
  sfu_router_peer_set_views(s->r, L.view2, &v, 1, s->now, &o, err, sizeof err);
}

/* Pacing (router_pace.c): a 60-packet keyframe (~40 KB) to a viewer whose estimate is
 * ~250 kbps leaves at 2.5 x the estimate, never more than the rate x elapsed + one burst
 * (burst_us, the router's pace_burst_us; 0: the pacer's 5 ms) + one packet in any
 * window, in order (RTP and transport-wide seqs), with no drop; the same keyframe to a
 * viewer without transport-cc leaves at once. */
static void keyframe_paced(uint64_t burst_us) {
  uint64_t burst = burst_us ? burst_us : SFU_PACER_DEFAULT_BURST_US;
  sim_pace_burst_us = burst_us;
  sim_t *s = sim_new(300000, 0);
  sim_pace_burst_us = 0;
  add_unpaced_viewer(s);
  s->on_sent = log_sent;
  run(s, s->now + 6000000);
  CHECK_EQ_INT(s->width, 320);
  sfu_router_downlink_info_t d;
  sfu_router_peer_downlink(s->view, &d);
  CHECK_EQ_INT(d.paced, 1);
  CHECK(d.pacer_rate_bps > 0);
  CHECK_EQ_INT(d.pacer_rate_bps, d.estimate_bps * 5 / 2);
  uint64_t dropped0 = d.pacer_dropped;
  sfu_router_downlink_info_t d2;
  sfu_router_peer_downlink(L.view2, &d2);
  CHECK_EQ_INT(d2.paced, 0);
  CHECK_EQ_INT(d2.pacer_rate_bps, 0);
  /* the next frame: a big keyframe on the low layer */
  s->pub[0].pli_pending[0] = 1;
  s->pub[0].big_kf = 60;
  sfu_router_stats_t st0, st1;
  sfu_router_stats(s->r, &st0);
  L.on = 1;
  uint64_t t_kf = s->next_frame;
  uint64_t max_rate = d.pacer_rate_bps, max_q = 0;
  while (s->now < t_kf + 2000000) {
    run(s, s->now + 1000);
    sfu_router_peer_downlink(s->view, &d);
    if (d.pacer_rate_bps > max_rate) max_rate = d.pacer_rate_bps;
    if (d.pacer_queued_packets > max_q) max_q = d.pacer_queued_packets;
  }
  /* drained: just before the next frame nothing waits (a frame's own packets may wait a
   * few ms behind the budget the instant it arrives) */
  run(s, s->next_frame - 2000);
  L.on = 0;
  sfu_router_stats(s->r, &st1);
  printf("  pacing rate up to %llu bps, queue up to %llu packets, max delay %llu us\n",
         (unsigned long long)max_rate, (unsigned long long)max_q,
         (unsigned long long)d.pacer_max_delay_us);
  CHECK(max_q >= 30); /* the keyframe waited in the pacer */
  CHECK_EQ_INT(d.pacer_dropped, dropped0);
  sfu_router_peer_downlink(s->view, &d);
  CHECK_EQ_INT(d.pacer_queued_packets, 0);
  /* The paced viewer: media in RTP order without a gap, transport-wide seqs in send order
   * (probes bypass the pacer and are left out), and the keyframe spread. */
  uint32_t ssrc = 0;
  int n_media = 0, gaps = 0, twcc_back = 0, have_twcc = 0;
  uint16_t last_seq = 0, last_twcc = 0;
  uint64_t first_at = 0, last_at = 0;
  for (size_t i = 0; i < L.n; i++) {
    if (L.pkt[i].probe) continue;
    if (have_twcc && (int16_t)(L.pkt[i].twcc - last_twcc) <= 0) twcc_back++;
    last_twcc = L.pkt[i].twcc;
    have_twcc = 1;
    if (L.pkt[i].pt != 96) continue;
    if (!ssrc) ssrc = L.pkt[i].ssrc;
    if (n_media && (uint16_t)(last_seq + 1) != L.pkt[i].seq) gaps++;
    last_seq = L.pkt[i].seq;
    if (n_media == 0) first_at = L.pkt[i].at;
    if (n_media < 60) last_at = L.pkt[i].at;
    n_media++;
  }
  CHECK_EQ_INT(twcc_back, 0);
  CHECK_EQ_INT(gaps, 0);
  CHECK(n_media >= 60);
  /* every packet counts as forwarded once, queued (a reference, router_pace.c) or not */
  CHECK_EQ_INT(st1.forwarded - st0.forwarded, (uint64_t)n_media + L.n2);
  CHECK_EQ_INT(first_at, t_kf - t_kf % 1000 + (t_kf % 1000 ? 1000 : 0));
  /* ~40 KB at ~650 kbps: about half a second; at least its bits at the highest rate
   * seen, less the first burst and one packet */
  uint64_t kf_bytes = 0;
  for (size_t i = 0, k = 0; i < L.n && k < 60; i++)
    if (L.pkt[i].pt == 96) kf_bytes += L.pkt[i].len, k++;
  uint64_t min_span = kf_bytes * 8000000 / max_rate;
  min_span -= burst + 1200ull * 8000000 / max_rate;
  printf("  the keyframe's 60 packets (%llu bytes) left over %.0f ms (at least %.0f)\n",
         (unsigned long long)kf_bytes, (double)(last_at - first_at) / 1000, (double)min_span / 1000);
  CHECK(last_at - first_at >= min_span);
  CHECK(last_at - first_at >= 300000);
  /* the bound, in every window [i, j] of paced packets */
  int over = 0;
  for (size_t i = 0; i < L.n; i++) {
    if (L.pkt[i].probe) continue;
    uint64_t bytes = 0;
    for (size_t j = i; j < L.n; j++) {
      if (L.pkt[j].probe) continue;
      bytes += L.pkt[j].len;
      uint64_t allowed = (max_rate * (L.pkt[j].at - L.pkt[i].at + burst)) / 8000000 +
                         L.pkt[j].len;
      if (bytes > allowed) over++;
    }
  }
  CHECK_EQ_INT(over, 0);
  /* The first instant's burst: the bucket was full (frames before it were small), so
   * it held the configured burst's worth, more than 5 ms would let go when it is longer
   * (--pacer-burst-ms reaches the pacer). */
  uint64_t first_bytes = 0;
  for (size_t i = 0; i < L.n; i++)
    if (!L.pkt[i].probe && L.pkt[i].pt == 96 && L.pkt[i].at == first_at) first_bytes += L.pkt[i].len;
  printf("  burst %llu us: %llu bytes in the first instant\n", (unsigned long long)burst,
         (unsigned long long)first_bytes);
  if (burst > SFU_PACER_DEFAULT_BURST_US)
    CHECK(first_bytes > max_rate * SFU_PACER_DEFAULT_BURST_US / 8000000 + 1300);
  /* The unpaced viewer: the whole keyframe in the instant it arrived. */
  CHECK(L.n2 >= 60);
  int late = 0;
  for (size_t i = 0; i < 60 && i < L.n2; i++) late += L.at2[i] != L.at2[0];
  CHECK_EQ_INT(late, 0);
  CHECK_EQ_INT(L.at2[0], first_at);
  sim_free(s);
}

TEST(keyframe_paced_at_the_estimate) { keyframe_paced(0); }

/* libwebrtc's burst interval (40 ms): the same bounds with the longer burst. */
TEST(keyframe_paced_with_a_40_ms_burst) { keyframe_paced(40000); }

/* A viewer freed with packets in its pacer, or the whole router: they go with it, and
 * the router's timer stays valid (ASan). A view that ends (its section answered
 * inactive): its queued packets are withdrawn, nothing more leaves on its SSRCs (after
 * its RTCP BYE, and with its SRTP state gone, nothing may). */
TEST(freed_with_queued_packets) {
  for (int whole = 0; whole < 3; whole++) {
    sim_t *s = sim_new(300000, 0);
    memset(&L, 0, sizeof L);
    s->on_sent = log_sent;
    run(s, s->now + 5000000);
    s->pub[0].pli_pending[0] = 1;
    s->pub[0].big_kf = 60;
    run(s, s->next_frame + 1000);
    sfu_router_downlink_info_t d;
    sfu_router_peer_downlink(s->view, &d);
    CHECK(d.pacer_queued_packets > 20);
    if (whole == 0) {
      sfu_router_peer_free(s->r, s->view, s->now);
      s->view = NULL;
      run(s, s->now + 1000000);
    } else if (whole == 2) {
      sfu_router_view_out_t o;
      char err[200];
      CHECK_EQ_INT(sfu_router_peer_set_views(s->r, s->view, NULL, 0, s->now, &o, err, sizeof err), 0);
      sfu_router_peer_downlink(s->view, &d);
      CHECK_EQ_INT(d.pacer_queued_packets, 0);
      CHECK_EQ_INT(d.pacer_dropped, 0);
      L.on = 1;
      run(s, s->now + 1000000);
      CHECK_EQ_INT(L.n, 0);
    }
    sim_free(s);
  }
}

int main(void) {
  RUN(keyframe_paced_at_the_estimate);
  RUN(keyframe_paced_with_a_40_ms_burst);
  RUN(freed_with_queued_packets);
  return test_summary();
}
