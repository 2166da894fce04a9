/* What issue 8's downlink work costs the router per forwarded packet, deterministically
 * (the A-top scenario of bench/forward.py without sockets, SRTP or the kernel): one
 * 3-layer VP8 publisher (tests/unit/router_sim.h's camera: 2 / 4 / 11 packets a frame of
 * 625 / 1,040 / 1,136 bytes at 15 fps, ~1.5 Mbit/s on top) forwarded by the video router
 * to V viewers (default 100) that negotiated transport-cc. With feedback (the default)
 * each viewer's side records arrivals 20 ms after the send with the worker's own
 * transport-cc receiver (twcc_recv.h, feedback every 50 ms while packets come) and its
 * feedback reaches the router at once: the router estimates, allocates, probes and paces
 * every viewer. With --no-feedback the viewers stay silent: no estimate, nothing paced
 * (plain forwarding, allocation against the meeting cap). The difference per forwarded
 * packet is what estimation + pacing add in the router's own code.
 *
 * Method. Virtual clock in 1 ms steps; everything deterministic (two runs give the same
 * counts). After a warm-up (default 12 s: the estimates climb from 300 kbit/s and probes
 * lift every viewer to the top layer), a window (default 10 s) in which the router is
 * only entered through the noinline bench_stage_* functions, so that
 *   valgrind --tool=callgrind --toggle-collect='bench_stage_*' build/bench/bench_router_pace
 * counts the router's instructions in the window alone (the viewers' side, the clock
 * loop and the feedback building are outside). The transport callback copies each packet
 * into a send slot as the worker's UDP layer does (that copy is in both modes); SRTP and
 * the kernel are not here: bench/forward.py measures the whole worker.
 *
 * Usage: bench_router_pace [--viewers=V] [--no-feedback] [--warmup=S] [--seconds=S] */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sfu/bytes.h"
#include "sfu/router.h"
#include "sfu/rtp.h"
#include "sfu/sdp.h"
#include "sfu/twcc_recv.h"

#define MAX_VIEWERS 1000
#define EXT_MID 4
#define EXT_RID 10
#define V_MID 9
#define V_TWCC 5
#define DELAY_US 20000
#define RING 65536 /* arrivals in flight (20 ms of every viewer's packets) */

static const int NPK[3] = {2, 4, 11}, SIZE[3] = {625, 1040, 1136};
static const uint16_t WIDTH[3] = {320, 640, 1280};

typedef struct {
  sfu_router_peer_t *peer;
  sfu_twcc_recv_t twcc;
} viewer_t;

typedef struct {
  uint64_t at;
  uint16_t viewer, seq;
} arrival_t;

static sfu_router_t *R;
static sfu_router_peer_t *PUB;
static viewer_t viewers[MAX_VIEWERS];
static int nviewers = 100, feedback = 1;
static uint64_t now;
static arrival_t ring[RING];
static size_t ring_head, ring_tail;
static uint64_t sent_pkts, sent_bytes, fb_count, dropped_arrivals;
static uint8_t tx_slot[2048]; /* the worker's UDP layer copies each datagram: so do we */
static uint32_t pli_pending[3], ssrc[3] = {0x1000, 0x2000, 0x3000};
static uint16_t seq[3] = {0, 1000, 2000}, pic[3];
static uint32_t ts[3];
static int frame_no;

/* Each packet sent: copied as the UDP layer would, and its header kept for the viewer's
 * side, which reads it after the router call returns (outside the counted stage). */
typedef struct {
  viewer_t *v;
  size_t len;
  uint8_t hdr[64];
} pending_t;
#define PENDING 65536
static pending_t pending[PENDING];
static size_t npending;

static int send_rtp(void *u, uint8_t *buf, size_t len, size_t cap) {
  (void)cap;
  if (len > sizeof tx_slot) return -1;
  memcpy(tx_slot, buf, len);
  sent_pkts++;
  sent_bytes += len;
  if (npending < PENDING) {
    pending_t *q = &pending[npending++];
    q->v = u;
    q->len = len;
    memcpy(q->hdr, buf, len < sizeof q->hdr ? len : sizeof q->hdr);
  }
  return 0;
}

/* The viewers' side of what the router just sent: arrivals DELAY_US later. */
static void deliver_pending(void) {
  for (size_t i = 0; i < npending; i++) {
    pending_t *q = &pending[i];
    sfu_rtp_hdr_t h;
    const uint8_t *d;
    size_t dl;
    uint16_t tseq;
    size_t n = q->len < sizeof q->hdr ? q->len : sizeof q->hdr;
    if (!feedback || !q->v) continue;
    /* the header is whole in the first 64 bytes; the payload length is not checked */
    uint8_t tmp[2048];
    memcpy(tmp, q->hdr, n);
    memset(tmp + n, 0, q->len - n);
    if (sfu_rtp_parse(tmp, q->len, &h) != 0 || sfu_rtp_ext_find(&h, V_TWCC, &d, &dl) != 0 ||
        sfu_rtp_ext_twcc_seq(d, dl, &tseq) != 0)
      continue;
    if (ring_tail - ring_head == RING) {
      dropped_arrivals++;
      continue;
    }
    arrival_t *a = &ring[ring_tail++ % RING];
    a->at = now + DELAY_US;
    a->viewer = (uint16_t)(q->v - viewers);
    a->seq = tseq;
  }
  npending = 0;
}

static int send_rtcp(void *u, uint8_t *buf, size_t len, size_t cap) {
  (void)cap;
  if (u != (void *)&PUB || len < 12) return 0;
  /* a PLI to the publisher: the named layer's next frame is a keyframe */
  if ((buf[0] & 0x1f) == 1 && buf[1] == 206) {
    uint32_t m = sfu_rd32(buf + 8);
    for (int l = 0; l < 3; l++)
      if (m == ssrc[l]) pli_pending[l] = 1;
  }
  return 0;
}

static void on_ev(void *u, const sfu_router_event_t *ev) { (void)u, (void)ev; }

static void codec(sfu_router_codec_t *c) {
  memset(c, 0, sizeof *c);
  c->pt = 96;
  c->rtx_pt = 97;
  c->clock_rate = 90000;
  strcpy(c->name, "VP8");
  c->rtcp_fb = SFU_SDP_FB_NACK | SFU_SDP_FB_NACK_PLI | SFU_SDP_FB_TRANSPORT_CC;
}

/* The router's entry points, counted by callgrind in the window (--toggle-collect). */
__attribute__((noinline)) void bench_stage_rtp(uint8_t *b, size_t len);
__attribute__((noinline)) void bench_stage_rtcp(sfu_router_peer_t *p, const uint8_t *b, size_t len);
__attribute__((noinline)) void bench_stage_timeout(void);
void bench_stage_rtp(uint8_t *b, size_t len) { sfu_router_on_rtp(R, PUB, now, b, len); }
void bench_stage_rtcp(sfu_router_peer_t *p, const uint8_t *b, size_t len) {
  sfu_router_on_rtcp(R, p, now, b, len);
}
void bench_stage_timeout(void) { sfu_router_handle_timeout(R, now); }

static int counting;

static void publish_layer(int l) {
  uint8_t b[1500];
  int key = frame_no == 0 || pli_pending[l] || frame_no % 150 == 0;
  pli_pending[l] = 0;
  for (int i = 0; i < NPK[l]; i++) {
    memset(b, 0, sizeof b);
    b[0] = 0x90;
    b[1] = (uint8_t)(96 | (i == NPK[l] - 1 ? 0x80 : 0));
    sfu_wr16(b + 2, seq[l]++);
    sfu_wr32(b + 4, ts[l]);
    sfu_wr32(b + 8, ssrc[l]);
    sfu_wr16(b + 12, 0xBEDE);
    sfu_wr16(b + 14, 1);
    b[16] = (EXT_RID << 4) | 0;
    b[17] = (uint8_t) "qhf"[l];
    uint8_t *q = b + 20;
    size_t n = 0;
    q[n++] = (uint8_t)(0x80 | (i == 0 ? 0x10 : 0));
    q[n++] = 0x80;
    q[n++] = (uint8_t)(0x80 | (pic[l] >> 8));
    q[n++] = (uint8_t)pic[l];
    if (i == 0) {
      q[n++] = key ? 0x00 : 0x01;
      q[n++] = 0;
      q[n++] = 0;
      if (key) {
        uint16_t w = WIDTH[l];
        q[n++] = 0x9d, q[n++] = 0x01, q[n++] = 0x2a;
        q[n++] = (uint8_t)w, q[n++] = (uint8_t)(w >> 8);
        q[n++] = (uint8_t)(w * 9 / 16), q[n++] = (uint8_t)((w * 9 / 16) >> 8);
      }
    }
    if (counting)
      bench_stage_rtp(b, 20 + (size_t)SIZE[l]);
    else
      sfu_router_on_rtp(R, PUB, now, b, 20 + (size_t)SIZE[l]);
    deliver_pending();
  }
  ts[l] += 6000;
  pic[l] = (uint16_t)((pic[l] + 1) & 0x7fff);
}

static int setup(void) {
  sfu_router_config_t cfg = {1280, 720, 1920, 1080, 2500000, 25, 0, 0, 0};
  sfu_router_cbs_t cbs = {send_rtp, send_rtcp, on_ev, NULL, NULL};
  R = sfu_router_new(&cfg, &cbs);
  if (!R) return -1;
  sfu_router_peer_desc_t pd = {"pub", "pub", 0, 1, 1};
  PUB = sfu_router_peer_new(R, &pd, (void *)&PUB);
  sfu_router_peer_set_ready(R, PUB, 1, now);
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
  uint32_t sid;
  if (sfu_router_peer_publish(R, PUB, &d, 1, now, &sid, err, sizeof err) != 0) {
    fprintf(stderr, "publish: %s\n", err);
    return -1;
  }
  for (int i = 0; i < nviewers; i++) {
    viewer_t *v = &viewers[i];
    char name[16];
    snprintf(name, sizeof name, "v%d", i);
    sfu_router_peer_desc_t vd = {name, name, 0, 1, 1};
    v->peer = sfu_router_peer_new(R, &vd, v);
    sfu_router_peer_set_ready(R, v->peer, 1, now);
    sfu_router_view_desc_t vw;
    sfu_router_view_out_t o;
    memset(&vw, 0, sizeof vw);
    strcpy(vw.mid, "v0");
    vw.n_codecs = 1;
    codec(&vw.codecs[0]);
    sfu_rtp_ext_map_init(&vw.ext);
    sfu_rtp_ext_map_set(&vw.ext, V_MID, SFU_EXT_MID);
    sfu_rtp_ext_map_set(&vw.ext, V_TWCC, SFU_EXT_TWCC);
    vw.stream_id = sid;
    vw.max_layer = -1;
    if (sfu_router_peer_set_views(R, v->peer, &vw, 1, now, &o, err, sizeof err) != 0) {
      fprintf(stderr, "set_views: %s\n", err);
      return -1;
    }
    sfu_twcc_recv_init(&v->twcc, V_TWCC);
  }
  return 0;
}

static void run(uint64_t until) {
  uint8_t buf[2048];
  static uint64_t next_frame;
  if (!next_frame) next_frame = now;
  while (now < until) {
    now += 1000;
    if (now >= next_frame) {
      for (int l = 0; l < 3; l++) publish_layer(l);
      frame_no++;
      next_frame += 66667;
    }
    /* the viewers' side: arrivals due, then each viewer's feedback when due */
    while (ring_head != ring_tail && ring[ring_head % RING].at <= now) {
      arrival_t *a = &ring[ring_head++ % RING];
      sfu_twcc_recv_packet(&viewers[a->viewer].twcc, a->seq, 0, a->at);
    }
    for (int i = 0; feedback && i < nviewers; i++) {
      int n = sfu_twcc_recv_build(&viewers[i].twcc, now, 0x5555, buf, sizeof buf);
      if (n <= 0) continue;
      fb_count += counting;
      if (counting)
        bench_stage_rtcp(viewers[i].peer, buf, (size_t)n);
      else
        sfu_router_on_rtcp(R, viewers[i].peer, now, buf, (size_t)n);
      deliver_pending();
    }
    if (sfu_router_next_deadline(R) <= now) {
      if (counting)
        bench_stage_timeout();
      else
        sfu_router_handle_timeout(R, now);
      deliver_pending();
    }
  }
}

int main(int argc, char **argv) {
  double warmup = 12, seconds = 10;
  for (int i = 1; i < argc; i++) {
    if (strncmp(argv[i], "--viewers=", 10) == 0)
      nviewers = atoi(argv[i] + 10);
    else if (strcmp(argv[i], "--no-feedback") == 0)
      feedback = 0;
    else if (strncmp(argv[i], "--warmup=", 9) == 0)
      warmup = atof(argv[i] + 9);
    else if (strncmp(argv[i], "--seconds=", 10) == 0)
      seconds = atof(argv[i] + 10);
    else {
      fprintf(stderr, "usage: %s [--viewers=V] [--no-feedback] [--warmup=S] [--seconds=S]\n",
              argv[0]);
      return 2;
    }
  }
  if (nviewers < 1 || nviewers > MAX_VIEWERS || warmup < 0 || seconds <= 0) return 2;
  now = 1000000;
  if (setup() != 0) return 1;
  run(now + (uint64_t)(warmup * 1e6));
  uint64_t p0 = sent_pkts, b0 = sent_bytes;
  counting = 1;
  run(now + (uint64_t)(seconds * 1e6));
  counting = 0;
  uint64_t pk = sent_pkts - p0;
  uint64_t est_sum = 0, est_min = UINT64_MAX, paced = 0, queued_max = 0;
  for (int i = 0; i < nviewers; i++) {
    sfu_router_downlink_info_t di;
    sfu_router_peer_downlink(viewers[i].peer, &di);
    est_sum += di.estimate_bps;
    if (di.estimate_bps < est_min) est_min = di.estimate_bps;
    paced += di.paced && di.pacer_rate_bps;
    if (di.pacer_max_delay_us > queued_max) queued_max = di.pacer_max_delay_us;
  }
  printf("viewers %d, feedback %s: %" PRIu64 " packets to viewers in %.0f s (%.0f/s, %.0f kbit/s"
         " per viewer), %" PRIu64 " feedbacks (%.1f packets each), %" PRIu64 " paced viewers,"
         " estimate mean %.0f kbit/s (min %.0f), longest pacer wait %.1f ms, arrivals lost %" PRIu64
         "\n",
         nviewers, feedback ? "on" : "off", pk, seconds, (double)pk / seconds,
         (double)(sent_bytes - b0) * 8 / seconds / nviewers / 1e3, fb_count,
         fb_count ? (double)pk / (double)fb_count : 0.0, paced,
         (double)est_sum / nviewers / 1e3, est_min == UINT64_MAX ? 0.0 : (double)est_min / 1e3,
         (double)queued_max / 1e3, dropped_arrivals);
  sfu_router_free(R);
  return 0;
}
