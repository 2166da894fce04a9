/* Fixture of the router + link simulations (issue 8; test_router_bwe.c,
 * test_router_bwe_multi.c): the video router with a real viewer downlink model.
 *
 * Publishers (cameras, and content shares: a peer made with `content` set) each send 3
 * VP8 simulcast layers at 15 fps into the router; their sizes give the layers' rates
 * (cameras 150 / 500 / 1,500 kbps, content shares 150 / 300 / 600 kbps). One viewer
 * receives every stream through tests/sim's link (a capacity, a drop-tail queue of 300
 * ms, 20 ms one way); its side records arrivals with the worker's own transport-cc
 * receiver (twcc_recv.h) and sends its feedback back over the uncapped reverse path.
 * What layer the viewer gets of each stream is read from the keyframe widths it receives.
 *
 * A publisher answers PLIs with a keyframe and, when `obey_remb` is set, behaves as
 * Chromium does with a REMB of X (draft-alvestrand-rmcat-remb-03): it sends only the
 * lowest layers whose rates sum to at most X (the lowest always), and a layer it
 * resumes starts with a keyframe.
 *
 * Virtual clock, 1 ms steps; everything seeded (sim_link_new(42)): a run is the same
 * every time. Static functions: included by one test file each. */
#ifndef SFU_TEST_ROUTER_SIM_H
#define SFU_TEST_ROUTER_SIM_H

#include <stdlib.h>
#include <string.h>

#include "sfu/bytes.h"
#include "sfu/codec_vp8.h"
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
#define SIM_MAX_PUBS 6
/* helpers a test file may not use */
#define SIM_OPTIONAL static __attribute__((unused))

typedef struct {
  sfu_router_peer_t *peer;
  uint32_t sid;
  uint8_t content;
  int npk[3], size[3]; /* packets per frame and payload bytes per packet, per layer */
  uint32_t ssrc[3];
  uint16_t seq[3];
  uint32_t ts[3];
  uint16_t pic[3];
  int pli_pending[3];
  /* REMB: the last one received; obeyed (layers above it not sent) if obey_remb */
  uint8_t obey_remb;
  uint64_t remb_bps;
  size_t rembs;
  uint8_t sending[3];
  int big_kf; /* the next keyframe of layer 0 has this many packets (0: npk[0]) */
} sim_pub_t;

/* What the viewer receives of one stream (one receiving section). */
typedef struct {
  uint32_t ssrc; /* outgoing, from set_views */
  uint16_t width;
  uint64_t width_since, last_media_us;
  int switches;
} sim_rx_t;

typedef struct sim sim_t;
struct sim {
  sfu_router_t *r;
  sfu_router_peer_t *view;
  sim_link_t *link;
  sfu_twcc_recv_t twcc;
  uint64_t now;
  size_t n_pubs;
  sim_pub_t pub[SIM_MAX_PUBS];
  sim_rx_t rx[SIM_MAX_PUBS];
  int8_t max_layer[SIM_MAX_PUBS]; /* the viewer's caps (Subscribe MaxLayer) */
  uint64_t media_bytes;
  uint64_t next_frame;
  int frame_no;
  /* called after every frame the publishers send (the tests' invariants) */
  void (*on_frame)(sim_t *s);
  /* called with every RTP packet the router sends to a viewer: `viewer` is its peer user
   * pointer (&s->view for the simulated one; a test's own viewers are not linked) */
  void (*on_sent)(sim_t *s, void *viewer, const uint8_t *buf, size_t len);
  /* viewer-side aliases of rx[0] (the one-stream cases) */
  uint16_t width;
  int switches;
};

static sim_t *G;
/* The meeting's receive cap for the next sim_new (MaxReceiveKbps; 0 = the default). */
static uint32_t sim_receive_cap_bps;
/* The viewers' pacer burst (router.h pace_burst_us) of the next sim_new; 0: 5 ms. */
static uint64_t sim_pace_burst_us;

static const int SIM_CAM_NPK[3] = {2, 4, 11}, SIM_CAM_SIZE[3] = {625, 1040, 1136};
static const int SIM_CONTENT_NPK[3] = {2, 4, 7}, SIM_CONTENT_SIZE[3] = {625, 625, 714};
static const uint16_t SIM_WIDTH[3] = {320, 640, 1280};

/* A layer's rate as the publisher sends it (RTP header and descriptor included). */
SIM_OPTIONAL uint64_t sim_layer_bps(const sim_pub_t *p, int l) {
  return (uint64_t)p->npk[l] * (uint64_t)(p->size[l] + 20) * 8u * 15u;
}

static int send_rtp(void *u, uint8_t *buf, size_t len, size_t cap) {
  (void)cap;
  if (G->on_sent) G->on_sent(G, u, buf, len);
  if (u != (void *)&G->view) return G->on_sent ? 0 : -1;
  /* to the viewer: through the link */
  sim_link_send(G->link, SIM_AB, G->now, buf, len);
  return 0;
}

/* Chromium's reaction to REMB X: the lowest layers that fit in X, the lowest always. */
static void pub_obey(sim_pub_t *p) {
  uint64_t sum = 0;
  for (int l = 0; l < 3; l++) {
    sum += sim_layer_bps(p, l);
    int on = l == 0 || !p->remb_bps || sum <= p->remb_bps;
    if (on && !p->sending[l]) p->pli_pending[l] = 1; /* a resumed encoder starts with a key */
    p->sending[l] = (uint8_t)on;
  }
}

static int send_rtcp(void *u, uint8_t *buf, size_t len, size_t cap) {
  (void)cap;
  sim_t *s = G;
  sim_pub_t *p = NULL;
  for (size_t i = 0; i < s->n_pubs; i++)
    if (u == (void *)&s->pub[i]) p = &s->pub[i];
  if (!p) return 0;
  sfu_rtcp_iter_t it;
  sfu_rtcp_pkt_t pkt;
  sfu_rtcp_iter_init(&it, buf, len);
  while (sfu_rtcp_iter_next(&it, &pkt) == 1) {
    sfu_rtcp_fb_t fb;
    if (pkt.pt != SFU_RTCP_PSFB || sfu_rtcp_fb_parse(&pkt, &fb) != 0) continue;
    if (fb.fmt == SFU_RTCP_PSFB_PLI) {
      for (int i = 0; i < 3; i++)
        if (fb.media_ssrc == p->ssrc[i]) p->pli_pending[i] = 1;
    } else if (fb.fmt == SFU_RTCP_PSFB_AFB) {
      sfu_rtcp_remb_t remb;
      if (sfu_rtcp_remb_parse(&fb, &remb) != 0) continue;
      p->remb_bps = remb.bitrate_bps;
      p->rembs++;
      if (getenv("SIM_DEBUG"))
        printf("  [%.2f s] REMB to pub %d: %llu\n", (s->now - 1000000) / 1e6, (int)(p - s->pub),
               (unsigned long long)remb.bitrate_bps);
      if (p->obey_remb) pub_obey(p);
    }
  }
  return 0;
}

static void on_ev(void *u, const sfu_router_event_t *ev) { (void)u, (void)ev; }

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
  sim_rx_t *rx = NULL;
  for (size_t i = 0; i < s->n_pubs; i++)
    if (s->rx[i].ssrc == h.ssrc) rx = &s->rx[i];
  if (!rx) return;
  rx->last_media_us = s->now;
  sfu_vp8_desc_t v;
  if (sfu_vp8_parse(h.payload, h.payload_len, &v) == 0 && v.frame_start && v.keyframe &&
      v.width != rx->width) {
    if (rx->width) rx->switches++;
    if (getenv("SIM_DEBUG"))
      printf("  [%.2f s] stream %d width %u -> %u\n", (s->now - 1000000) / 1e6, (int)(rx - s->rx),
             rx->width, v.width);
    rx->width = v.width;
    rx->width_since = s->now;
  }
  s->width = s->rx[0].width;
  s->switches = s->rx[0].switches;
}

static void publish_layer(sim_t *s, sim_pub_t *p, int l) {
  uint8_t b[1500];
  int key = s->frame_no == 0 || p->pli_pending[l] || s->frame_no % 150 == 0;
  p->pli_pending[l] = 0;
  int np = p->npk[l];
  if (key && l == 0 && p->big_kf) {
    np = p->big_kf;
    p->big_kf = 0;
  }
  for (int i = 0; i < np; i++) {
    memset(b, 0, sizeof b);
    b[0] = 0x90;
    b[1] = (uint8_t)(96 | (i == np - 1 ? 0x80 : 0));
    sfu_wr16(b + 2, p->seq[l]++);
    sfu_wr32(b + 4, p->ts[l]);
    sfu_wr32(b + 8, p->ssrc[l]);
    sfu_wr16(b + 12, 0xBEDE);
    sfu_wr16(b + 14, 1);
    b[16] = (EXT_RID << 4) | 0;
    b[17] = (uint8_t) "qhf"[l];
    uint8_t *q = b + 20;
    size_t n = 0;
    q[n++] = (uint8_t)(0x80 | (i == 0 ? 0x10 : 0));
    q[n++] = 0x80;
    q[n++] = (uint8_t)(0x80 | (p->pic[l] >> 8));
    q[n++] = (uint8_t)p->pic[l];
    if (i == 0) {
      q[n++] = key ? 0x00 : 0x01;
      q[n++] = 0;
      q[n++] = 0;
      if (key) {
        uint16_t w = SIM_WIDTH[l];
        q[n++] = 0x9d, q[n++] = 0x01, q[n++] = 0x2a;
        q[n++] = (uint8_t)w, q[n++] = (uint8_t)(w >> 8);
        q[n++] = (uint8_t)(w * 9 / 16), q[n++] = (uint8_t)((w * 9 / 16) >> 8);
      }
    }
    sfu_router_on_rtp(s->r, p->peer, s->now, b, 20 + (size_t)p->size[l]);
  }
  p->ts[l] += 6000;
  p->pic[l] = (uint16_t)((p->pic[l] + 1) & 0x7fff);
}

static void publish_frame(sim_t *s) {
  for (size_t i = 0; i < s->n_pubs; i++)
    for (int l = 0; l < 3; l++)
      if (s->pub[i].sending[l]) publish_layer(s, &s->pub[i], l);
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

/* The viewer's Subscribe: one receiving section per stream, with s->max_layer caps. */
SIM_OPTIONAL int sim_set_views(sim_t *s) {
  sfu_router_view_desc_t vd[SIM_MAX_PUBS];
  sfu_router_view_out_t o[SIM_MAX_PUBS];
  memset(vd, 0, sizeof vd);
  for (size_t i = 0; i < s->n_pubs; i++) {
    snprintf(vd[i].mid, sizeof vd[i].mid, "v%u", (unsigned)i);
    vd[i].n_codecs = 1;
    codec(&vd[i].codecs[0]);
    sfu_rtp_ext_map_init(&vd[i].ext);
    sfu_rtp_ext_map_set(&vd[i].ext, V_MID, SFU_EXT_MID);
    sfu_rtp_ext_map_set(&vd[i].ext, V_TWCC, SFU_EXT_TWCC);
    vd[i].stream_id = s->pub[i].sid;
    vd[i].max_layer = s->max_layer[i];
  }
  char err[200];
  int rc = sfu_router_peer_set_views(s->r, s->view, vd, s->n_pubs, s->now, o, err, sizeof err);
  for (size_t i = 0; rc == 0 && i < s->n_pubs; i++) s->rx[i].ssrc = o[i].ssrc;
  return rc;
}

/* n_cams camera publishers, then n_content content shares, all viewed by one viewer
 * behind a link of cap_bps (0: unlimited) with random loss `loss`. */
SIM_OPTIONAL sim_t *sim_new_n(uint64_t cap_bps, double loss, size_t n_cams, size_t n_content) {
  sim_t *s = calloc(1, sizeof *s);
  G = s;
  s->now = 1000000;
  s->n_pubs = n_cams + n_content;
  sfu_router_config_t cfg = {1280, 720, 1920, 1080, 2500000, 25, 0, sim_receive_cap_bps,
                             sim_pace_burst_us};
  sfu_router_cbs_t cbs = {send_rtp, send_rtcp, on_ev, s, NULL};
  s->r = sfu_router_new(&cfg, &cbs);
  for (size_t i = 0; i < s->n_pubs; i++) {
    sim_pub_t *p = &s->pub[i];
    char name[16];
    snprintf(name, sizeof name, i ? "pub%u" : "pub", (unsigned)i);
    p->content = i >= n_cams;
    sfu_router_peer_desc_t pd = {name, name, p->content, 1, 1};
    p->peer = sfu_router_peer_new(s->r, &pd, p);
    sfu_router_peer_set_ready(s->r, p->peer, 1, s->now);
    memcpy(p->npk, p->content ? SIM_CONTENT_NPK : SIM_CAM_NPK, sizeof p->npk);
    memcpy(p->size, p->content ? SIM_CONTENT_SIZE : SIM_CAM_SIZE, sizeof p->size);
    for (int l = 0; l < 3; l++) {
      p->ssrc[l] = 0x1000u * (uint32_t)(l + 1) + 0x100000u * (uint32_t)i;
      p->seq[l] = (uint16_t)(1000 * l);
      p->ts[l] = 7777u * (uint32_t)l;
      p->sending[l] = 1;
    }
  }
  sfu_router_peer_desc_t vd = {"view", "view", 0, 1, 1};
  /* user pointer: the address of the field (send_rtp tells it from the publishers) */
  s->view = sfu_router_peer_new(s->r, &vd, (void *)&s->view);
  sfu_router_peer_set_ready(s->r, s->view, 1, s->now);
  for (size_t i = 0; i < s->n_pubs; i++) {
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
    char err[200];
    sfu_router_peer_publish(s->r, s->pub[i].peer, &d, 1, s->now, &s->pub[i].sid, err, sizeof err);
    s->max_layer[i] = -1;
  }
  sim_set_views(s);
  sfu_twcc_recv_init(&s->twcc, V_TWCC);
  s->link = sim_link_new(42);
  sim_dir_cfg_t down = {.delay_us = 20000, .loss = loss, .rate_bps = cap_bps, .queue_us = 300000};
  sim_dir_cfg_t up = {.delay_us = 20000};
  sim_link_config(s->link, SIM_AB, &down);
  sim_link_config(s->link, SIM_BA, &up);
  s->next_frame = s->now;
  return s;
}

/* Every publisher obeys REMB (as Chromium does). */
SIM_OPTIONAL void sim_obey_remb(sim_t *s) {
  for (size_t i = 0; i < s->n_pubs; i++) s->pub[i].obey_remb = 1;
}

SIM_OPTIONAL sim_t *sim_new(uint64_t cap_bps, double loss) {
  return sim_new_n(cap_bps, loss, 1, 0);
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
      if (s->on_frame) s->on_frame(s);
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
      if (s->view) sfu_router_on_rtcp(s->r, s->view, s->now, buf, len); /* freed by a test */
      len = sizeof buf;
    }
    if (sfu_router_next_deadline(s->r) <= s->now) sfu_router_handle_timeout(s->r, s->now);
  }
}

SIM_OPTIONAL uint64_t estimate(sim_t *s) {
  sfu_router_downlink_info_t d;
  sfu_router_peer_downlink(s->view, &d);
  return d.estimate_bps;
}

/* The viewer decodes stream i now: a keyframe came and media within the last 500 ms
 * (a paused stream's last width stays, its media stops). */
SIM_OPTIONAL int sim_receiving(const sim_t *s, size_t i) {
  return s->rx[i].width && s->now - s->rx[i].last_media_us < 500000;
}

#endif
