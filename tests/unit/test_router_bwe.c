/* Issue 8 in simulation: the video router with a real viewer downlink model. A publisher
 * sends 3 layers (150 / 500 / 1,500 kbps, VP8, 15 fps); the router forwards to one viewer
 * through tests/sim's link (a capacity, a drop-tail queue of 300 ms, 20 ms one way); the
 * viewer's side records arrivals with the worker's own transport-cc receiver (twcc_recv.h)
 * and sends its feedback back over the uncapped reverse path. What layer the viewer gets
 * is read from the keyframe widths it receives. Virtual clock, 1 ms steps. */
#include <stdlib.h>
#include <string.h>

#include "sfu/bytes.h"
#include "sfu/codec_vp8.h"
#include "sfu/pacer.h"
#include "sfu/router.h"
#include "sfu/rtcp.h"
#include "sfu/rtp.h"
#include "sfu/sdp.h"
#include "sfu/twcc_recv.h"
#include "sim_link.h"
#include "test.h"

#define EXT_MID 4
#define EXT_RID 10
#define V_MID 9
#define V_TWCC 5

typedef struct {
  sfu_router_t *r;
  sfu_router_peer_t *pub, *view;
  sim_link_t *link;
  sfu_twcc_recv_t twcc;
  uint64_t now;
  /* what the viewer decodes */
  uint16_t width;
  uint64_t width_since;
  int switches;
  uint64_t media_bytes;
  /* publisher */
  uint32_t ssrc[3];
  uint16_t seq[3];
  uint32_t ts[3];
  uint16_t pic[3];
  uint64_t next_frame;
  int frame_no;
  int pli_pending[3];
  uint32_t sid;
  int big_kf;                 /* the next keyframe of layer 0 has this many packets */
  /* a second viewer without transport-cc (unpaced), and what the router sent to both */
  sfu_router_peer_t *view2;
  int log_on;
  size_t n_log, n_log2;
  struct {
    uint64_t at;
    size_t len;
    uint32_t ssrc;
    uint16_t seq, twcc;
    uint8_t pt, probe;
  } log[4096];
  uint64_t log2_at[4096];
  uint16_t log2_seq[4096];
} sim_t;

static sim_t *G;

static void log_sent(sim_t *s, const uint8_t *buf, size_t len) {
  sfu_rtp_hdr_t h;
  if (!s->log_on || s->n_log >= 4096 || sfu_rtp_parse(buf, len, &h) != 0) return;
  const uint8_t *d;
  size_t dl;
  uint16_t tseq = 0;
  if (sfu_rtp_ext_find(&h, V_TWCC, &d, &dl) == 0) sfu_rtp_ext_twcc_seq(d, dl, &tseq);
  s->log[s->n_log].at = s->now;
  s->log[s->n_log].len = len;
  s->log[s->n_log].ssrc = h.ssrc;
  s->log[s->n_log].seq = h.seq;
  s->log[s->n_log].twcc = tseq;
  s->log[s->n_log].pt = h.payload_type;
  /* probe clusters: padding on the RTX SSRC (they bypass the pacer) */
  s->log[s->n_log].probe = h.payload_type == 97 && sfu_rtp_is_padding_only(&h);
  s->n_log++;
}

static int send_rtp(void *u, uint8_t *buf, size_t len, size_t cap) {
  if (u == (void *)&G->view2) {
    sfu_rtp_hdr_t h;
    if (G->log_on && G->n_log2 < 4096 && sfu_rtp_parse(buf, len, &h) == 0 && h.payload_type == 96) {
      G->log2_at[G->n_log2] = G->now;
      G->log2_seq[G->n_log2++] = h.seq;
    }
    return 0;
  }
  if (u != (void *)&G->view) return -1;
  log_sent(G, buf, len);
  /* to the viewer: through the link */
  sim_link_send(G->link, SIM_AB, G->now, buf, len);
  return 0;
}

static int send_rtcp(void *u, uint8_t *buf, size_t len, size_t cap) {
  sim_t *s = G;
  if (u != (void *)&s->pub) return 0;
  sfu_rtcp_iter_t it;
  sfu_rtcp_pkt_t pkt;
  sfu_rtcp_iter_init(&it, buf, len);
  while (sfu_rtcp_iter_next(&it, &pkt) == 1) {
    sfu_rtcp_fb_t fb;
    if (pkt.pt == SFU_RTCP_PSFB && sfu_rtcp_fb_parse(&pkt, &fb) == 0 && fb.fmt == SFU_RTCP_PSFB_PLI)
      for (int i = 0; i < 3; i++)
        if (fb.media_ssrc == s->ssrc[i]) s->pli_pending[i] = 1;
  }
  return 0;
}

static void on_ev(void *u, const sfu_router_event_t *ev) {}

static void viewer_input(sim_t *s, const uint8_t *buf, size_t len) {
  sfu_rtp_hdr_t h;
  if (sfu_rtp_parse(buf, len, &h) != 0) return;
  const uint8_t *d;
  size_t dl;
  uint16_t tseq;
  if (sfu_rtp_ext_find(&h, V_TWCC, &d, &dl) == 0 && sfu_rtp_ext_twcc_seq(d, dl, &tseq) == 0)
    sfu_twcc_recv_packet(&s->twcc, tseq, h.ssrc, s->now);
  if (h.payload_type != 96) return;
  s->media_bytes += len;
  sfu_vp8_desc_t v;
  if (sfu_vp8_parse(h.payload, h.payload_len, &v) == 0 && v.frame_start && v.keyframe) {
    if (v.width != s->width) {
      if (s->width) s->switches++;
      if (getenv("SIM_DEBUG")) printf("  [%.2f s] width %u -> %u\n", (s->now - 1000000) / 1e6, s->width, v.width);
      s->width = v.width;
      s->width_since = s->now;
    }
  }
}

static void publish_frame(sim_t *s) {
  static const int npk[3] = {2, 4, 11};
  static const int size[3] = {625, 1040, 1136};
  static const uint16_t w[3] = {320, 640, 1280};
  uint8_t b[1500];
  for (int l = 0; l < 3; l++) {
    int key = s->frame_no == 0 || s->pli_pending[l] || s->frame_no % 150 == 0;
    s->pli_pending[l] = 0;
    int np = npk[l];
    if (key && l == 0 && s->big_kf) {
      np = s->big_kf;
      s->big_kf = 0;
    }
    for (int i = 0; i < np; i++) {
      memset(b, 0, sizeof b);
      b[0] = 0x90;
      b[1] = (uint8_t)(96 | (i == np - 1 ? 0x80 : 0));
      sfu_wr16(b + 2, s->seq[l]++);
      sfu_wr32(b + 4, s->ts[l]);
      sfu_wr32(b + 8, s->ssrc[l]);
      sfu_wr16(b + 12, 0xBEDE);
      sfu_wr16(b + 14, 1);
      b[16] = (EXT_RID << 4) | 0;
      b[17] = (uint8_t)"qhf"[l];
      uint8_t *p = b + 20;
      size_t n = 0;
      p[n++] = (uint8_t)(0x80 | (i == 0 ? 0x10 : 0));
      p[n++] = 0x80;
      p[n++] = (uint8_t)(0x80 | (s->pic[l] >> 8));
      p[n++] = (uint8_t)s->pic[l];
      if (i == 0) {
        p[n++] = key ? 0x00 : 0x01;
        p[n++] = 0;
        p[n++] = 0;
        if (key) {
          p[n++] = 0x9d, p[n++] = 0x01, p[n++] = 0x2a;
          p[n++] = (uint8_t)w[l], p[n++] = (uint8_t)(w[l] >> 8);
          p[n++] = (uint8_t)(w[l] * 9 / 16), p[n++] = (uint8_t)((w[l] * 9 / 16) >> 8);
        }
      }
      size_t len = 20 + (size_t)size[l];
      sfu_router_on_rtp(s->r, s->pub, s->now, b, len);
    }
    s->ts[l] += 6000;
    s->pic[l] = (uint16_t)((s->pic[l] + 1) & 0x7fff);
  }
  s->frame_no++;
}

static void codec(sfu_router_codec_t *c) {
  memset(c, 0, sizeof *c);
  c->pt = 96;
  c->rtx_pt = 97;
  c->clock_rate = 90000;
  strcpy(c->name, "VP8");
  c->rtcp_fb = SFU_SDP_FB_NACK | SFU_SDP_FB_NACK_PLI | SFU_SDP_FB_TRANSPORT_CC;
}

static sim_t *sim_new(uint64_t cap_bps, double loss) {
  sim_t *s = calloc(1, sizeof *s);
  G = s;
  s->now = 1000000;
  sfu_router_config_t cfg = {1280, 720, 1920, 1080, 2500000, 25, 0}; /* the real timers */
  sfu_router_cbs_t cbs = {send_rtp, send_rtcp, on_ev, s, NULL};
  s->r = sfu_router_new(&cfg, &cbs);
  sfu_router_peer_desc_t pd = {"pub", "pub", 0, 1, 1};
  s->pub = sfu_router_peer_new(s->r, &pd, &s->pub);
  sfu_router_peer_desc_t vd = {"view", "view", 0, 1, 1};
  /* user pointers: the addresses of the two fields (send_rtp tells them apart) */
  s->view = sfu_router_peer_new(s->r, &vd, (void *)&s->view);
  sfu_router_peer_set_ready(s->r, s->pub, 1, s->now);
  sfu_router_peer_set_ready(s->r, s->view, 1, s->now);
  sfu_router_pub_desc_t d;
  memset(&d, 0, sizeof d);
  strcpy(d.mid, "0");
  d.n_codecs = 1;
  codec(&d.codecs[0]);
  sfu_rtp_ext_map_init(&d.ext);
  sfu_rtp_ext_map_set(&d.ext, EXT_MID, SFU_EXT_MID);
  sfu_rtp_ext_map_set(&d.ext, EXT_RID, SFU_EXT_RID);
  strcpy(d.rids[0], "q");
  strcpy(d.rids[1], "h");
  strcpy(d.rids[2], "f");
  d.n_rids = 3;
  uint32_t sid = 0;
  char err[200];
  sfu_router_peer_publish(s->r, s->pub, &d, 1, s->now, &sid, err, sizeof err);
  s->sid = sid;
  sfu_router_view_desc_t vdsc;
  memset(&vdsc, 0, sizeof vdsc);
  strcpy(vdsc.mid, "v");
  vdsc.n_codecs = 1;
  codec(&vdsc.codecs[0]);
  sfu_rtp_ext_map_init(&vdsc.ext);
  sfu_rtp_ext_map_set(&vdsc.ext, V_MID, SFU_EXT_MID);
  sfu_rtp_ext_map_set(&vdsc.ext, V_TWCC, SFU_EXT_TWCC);
  vdsc.stream_id = sid;
  vdsc.max_layer = -1;
  sfu_router_view_out_t o;
  sfu_router_peer_set_views(s->r, s->view, &vdsc, 1, s->now, &o, err, sizeof err);
  sfu_twcc_recv_init(&s->twcc, V_TWCC);
  s->link = sim_link_new(42);
  sim_dir_cfg_t down = {.delay_us = 20000, .loss = loss, .rate_bps = cap_bps, .queue_us = 300000};
  sim_dir_cfg_t up = {.delay_us = 20000};
  sim_link_config(s->link, SIM_AB, &down);
  sim_link_config(s->link, SIM_BA, &up);
  for (int i = 0; i < 3; i++) {
    s->ssrc[i] = 0x1000u * (uint32_t)(i + 1);
    s->seq[i] = (uint16_t)(1000 * i);
    s->ts[i] = 7777u * (uint32_t)i;
  }
  s->next_frame = s->now;
  return s;
}

static void sim_free(sim_t *s) {
  sfu_router_free(s->r);
  sim_link_free(s->link);
  free(s);
}

/* Runs until `until` (absolute), 1 ms steps. */
static void run(sim_t *s, uint64_t until) {
  uint8_t buf[2048];
  while (s->now < until) {
    s->now += 1000;
    if (s->now >= s->next_frame) {
      publish_frame(s);
      s->next_frame += 66667;
    }
    size_t len = sizeof buf;
    while (sim_link_poll(s->link, s->now, SIM_AB, buf, &len) == 1) {
      viewer_input(s, buf, len);
      len = sizeof buf;
    }
    int n = sfu_twcc_recv_build(&s->twcc, s->now, 0x5555, buf, sizeof buf);
    if (n > 0) sim_link_send(s->link, SIM_BA, s->now, buf, (size_t)n);
    len = sizeof buf;
    while (sim_link_poll(s->link, s->now, SIM_BA, buf, &len) == 1) {
      if (s->view) sfu_router_on_rtcp(s->r, s->view, s->now, buf, len);
      len = sizeof buf;
    }
    if (sfu_router_next_deadline(s->r) <= s->now) sfu_router_handle_timeout(s->r, s->now);
  }
}

static uint64_t estimate(sim_t *s) {
  sfu_router_downlink_info_t d;
  sfu_router_peer_downlink(s->view, &d);
  return d.estimate_bps;
}

TEST(capped_at_300k_settles_low_and_stays) {
  sim_t *s = sim_new(300000, 0);
  uint64_t t0 = s->now;
  run(s, t0 + 3000000);
  CHECK_EQ_INT(s->width, 320);
  int sw = s->switches;
  run(s, t0 + 33000000);
  CHECK_EQ_INT(s->width, 320);
  CHECK_EQ_INT(s->switches, sw);
  printf("  estimate after 33 s at 300k: %llu bps, switches %d\n", (unsigned long long)estimate(s),
         s->switches);
  /* the cap lifted to 5 Mbps: the top layer within 10 s */
  sim_link_set_rate(s->link, SIM_AB, s->now, 5000000);
  uint64_t t1 = s->now;
  while (s->now < t1 + 10000000 && s->width != 1280) {
    run(s, s->now + 1000000);
    sfu_router_downlink_info_t d;
    sfu_router_peer_downlink(s->view, &d);
    printf("  t+%.0fs est %llu alloc %llu req %llu probes %llu/%llu last %llu width %u\n",
           (double)(s->now - t1) / 1e6, (unsigned long long)d.estimate_bps,
           (unsigned long long)d.allocated_bps, (unsigned long long)d.required_bps,
           (unsigned long long)d.probes_sent, (unsigned long long)d.probes_done,
           (unsigned long long)d.probe_last_bps, s->width);
    sfu_router_stream_info_t si;
    if (sfu_router_stream_info(s->r, 0, &si) == 0)
      printf("    layers %u %u %u bps, active %d %d %d\n", si.layers[0].bitrate_bps, si.layers[1].bitrate_bps,
             si.layers[2].bitrate_bps, si.layers[0].active, si.layers[1].active, si.layers[2].active);
  }
  printf("  top layer %.1f s after the cap was lifted (estimate %llu)\n",
         (double)(s->now - t1) / 1e6, (unsigned long long)estimate(s));
  CHECK_EQ_INT(s->width, 1280);
  sim_free(s);
}

TEST(loss_5pct_does_not_lower_the_layer) {
  sim_t *s = sim_new(0, 0.05);
  run(s, s->now + 12000000);
  CHECK_EQ_INT(s->width, 1280);
  int sw = s->switches;
  run(s, s->now + 20000000);
  CHECK_EQ_INT(s->width, 1280);
  CHECK_EQ_INT(s->switches, sw);
  sim_free(s);
}

TEST(cap_alternating_one_switch_per_change) {
  sim_t *s = sim_new(3000000, 0);
  run(s, s->now + 10000000);
  int changes = 0;
  int base = s->switches;
  for (int k = 0; k < 6; k++) {
    sim_link_set_rate(s->link, SIM_AB, s->now, k % 2 == 0 ? 300000 : 3000000);
    changes++;
    run(s, s->now + 10000000);
  }
  printf("  %d switches for %d changes\n", s->switches - base, changes);
  CHECK(s->switches - base <= changes);
  sim_free(s);
}

/* A viewer without transport-cc, capped at the lowest layer (as the paced one is at
 * 300 kbps): no estimate, so no pacer. */
static void add_unpaced_viewer(sim_t *s) {
  sfu_router_peer_desc_t vd = {"view2", "view2", 0, 1, 1};
  s->view2 = sfu_router_peer_new(s->r, &vd, (void *)&s->view2);
  sfu_router_peer_set_ready(s->r, s->view2, 1, s->now);
  sfu_router_view_desc_t v;
  memset(&v, 0, sizeof v);
  strcpy(v.mid, "v");
  v.n_codecs = 1;
  codec(&v.codecs[0]);
  v.codecs[0].rtcp_fb &= ~(uint32_t)SFU_SDP_FB_TRANSPORT_CC;
  sfu_rtp_ext_map_init(&v.ext);
  sfu_rtp_ext_map_set(&v.ext, V_MID, SFU_EXT_MID);
  v.stream_id = s->sid;
  v.max_layer = 0;
  sfu_router_view_out_t o;
  char err[200];
  sfu_router_peer_set_views(s->r, s->view2, &v, 1, s->now, &o, err, sizeof err);
}

/* Pacing (router_pace.c): a 60-packet keyframe (~40 KB) to a viewer whose estimate is
 * ~250 kbps leaves at 2.5 x the estimate, never more than the rate x elapsed + one 5 ms
 * burst + one packet in any window, in order (RTP and transport-wide seqs), with no drop;
 * the same keyframe to a viewer without transport-cc leaves at once. */
TEST(keyframe_paced_at_the_estimate) {
  sim_t *s = sim_new(300000, 0);
  add_unpaced_viewer(s);
  run(s, s->now + 6000000);
  CHECK_EQ_INT(s->width, 320);
  sfu_router_downlink_info_t d;
  sfu_router_peer_downlink(s->view, &d);
  CHECK_EQ_INT(d.paced, 1);
  CHECK(d.pacer_rate_bps > 0);
  CHECK_EQ_INT(d.pacer_rate_bps, d.estimate_bps * 5 / 2);
  uint64_t dropped0 = d.pacer_dropped;
  sfu_router_downlink_info_t d2;
  sfu_router_peer_downlink(s->view2, &d2);
  CHECK_EQ_INT(d2.paced, 0);
  CHECK_EQ_INT(d2.pacer_rate_bps, 0);
  /* the next frame: a big keyframe on the low layer */
  s->pli_pending[0] = 1;
  s->big_kf = 60;
  s->log_on = 1;
  uint64_t t_kf = s->next_frame;
  uint64_t max_rate = d.pacer_rate_bps, max_q = 0;
  while (s->now < t_kf + 2000000) {
    run(s, s->now + 1000);
    sfu_router_peer_downlink(s->view, &d);
    if (d.pacer_rate_bps > max_rate) max_rate = d.pacer_rate_bps;
    if (d.pacer_queued_packets > max_q) max_q = d.pacer_queued_packets;
  }
  s->log_on = 0;
  printf("  pacing rate up to %llu bps, queue up to %llu packets, max delay %llu us\n",
         (unsigned long long)max_rate, (unsigned long long)max_q,
         (unsigned long long)d.pacer_max_delay_us);
  CHECK(max_q >= 30); /* the keyframe waited in the pacer */
  CHECK_EQ_INT(d.pacer_dropped, dropped0);
  CHECK_EQ_INT(d.pacer_queued_packets, 0);
  /* The paced viewer: media in RTP order without a gap, transport-wide seqs in send order
   * (probes bypass the pacer and are left out), and the keyframe spread. */
  uint32_t ssrc = 0;
  int n_media = 0, gaps = 0, twcc_back = 0, have_twcc = 0;
  uint16_t last_seq = 0, last_twcc = 0;
  uint64_t first_at = 0, last_at = 0;
  for (size_t i = 0; i < s->n_log; i++) {
    if (s->log[i].probe) continue;
    if (have_twcc && (int16_t)(s->log[i].twcc - last_twcc) <= 0) twcc_back++;
    last_twcc = s->log[i].twcc;
    have_twcc = 1;
    if (s->log[i].pt != 96) continue;
    if (!ssrc) ssrc = s->log[i].ssrc;
    if (n_media && (uint16_t)(last_seq + 1) != s->log[i].seq) gaps++;
    last_seq = s->log[i].seq;
    if (n_media == 0) first_at = s->log[i].at;
    if (n_media < 60) last_at = s->log[i].at;
    n_media++;
  }
  CHECK_EQ_INT(twcc_back, 0);
  CHECK_EQ_INT(gaps, 0);
  CHECK(n_media >= 60);
  CHECK_EQ_INT(first_at, t_kf - t_kf % 1000 + (t_kf % 1000 ? 1000 : 0));
  /* ~40 KB at ~650 kbps: about half a second; at least its bits at the highest rate
   * seen, less the first burst and one packet */
  uint64_t kf_bytes = 0;
  for (size_t i = 0, k = 0; i < s->n_log && k < 60; i++)
    if (s->log[i].pt == 96) kf_bytes += s->log[i].len, k++;
  uint64_t min_span = kf_bytes * 8000000 / max_rate;
  min_span -= SFU_PACER_DEFAULT_BURST_US + 1200ull * 8000000 / max_rate;
  printf("  the keyframe's 60 packets (%llu bytes) left over %.0f ms (at least %.0f)\n",
         (unsigned long long)kf_bytes, (double)(last_at - first_at) / 1000, (double)min_span / 1000);
  CHECK(last_at - first_at >= min_span);
  CHECK(last_at - first_at >= 300000);
  /* the bound, in every window [i, j] of paced packets */
  int over = 0;
  for (size_t i = 0; i < s->n_log; i++) {
    if (s->log[i].probe) continue;
    uint64_t bytes = 0;
    for (size_t j = i; j < s->n_log; j++) {
      if (s->log[j].probe) continue;
      bytes += s->log[j].len;
      uint64_t allowed = (max_rate * (s->log[j].at - s->log[i].at + SFU_PACER_DEFAULT_BURST_US)) / 8000000 +
                         s->log[j].len;
      if (bytes > allowed) over++;
    }
  }
  CHECK_EQ_INT(over, 0);
  /* The unpaced viewer: the whole keyframe in the instant it arrived. */
  CHECK(s->n_log2 >= 60);
  int late = 0;
  for (size_t i = 0; i < 60 && i < s->n_log2; i++) late += s->log2_at[i] != s->log2_at[0];
  CHECK_EQ_INT(late, 0);
  CHECK_EQ_INT(s->log2_at[0], first_at);
  sim_free(s);
}

/* A viewer freed with packets in its pacer, or the whole router: they go with it, and
 * the router's timer stays valid (ASan). A view that ends (its section answered
 * inactive): its queued packets are withdrawn, nothing more leaves on its SSRCs (after
 * its RTCP BYE, and with its SRTP state gone, nothing may). */
TEST(freed_with_queued_packets) {
  for (int whole = 0; whole < 3; whole++) {
    sim_t *s = sim_new(300000, 0);
    run(s, s->now + 5000000);
    s->pli_pending[0] = 1;
    s->big_kf = 60;
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
      s->log_on = 1;
      run(s, s->now + 1000000);
      CHECK_EQ_INT(s->n_log, 0);
    }
    sim_free(s);
  }
}

int main(void) {
  RUN(capped_at_300k_settles_low_and_stays);
  RUN(loss_5pct_does_not_lower_the_layer);
  RUN(cap_alternating_one_switch_per_change);
  RUN(keyframe_paced_at_the_estimate);
  RUN(freed_with_queued_packets);
  return test_summary();
}
