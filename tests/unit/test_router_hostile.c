/* The video router (router.h) against publishers that lie and viewers that flood (issue 7
 * "Bad input"): one case per lie. In each, a second, honest publisher shares the router
 * and its viewer must get an unbroken stream meanwhile (seq continuous, ts monotonic, every
 * packet); the lie must be dropped or bounded, and counted. Run under ASan for "no crash,
 * no leak". Helpers follow tests/unit/test_router.c.
 *
 * The cases at the bottom are the bugs fuzz/router.c found (three of them GCM nonce
 * reuse); their inputs stay in fuzz/corpus/router as regressions. */
#include <stdlib.h>
#include <string.h>

#include "sfu/bytes.h"
#include "sfu/codec_vp8.h"
#include "sfu/err.h"
#include "sfu/router.h"
#include "sfu/rtcp.h"
#include "sfu/rtp.h"
#include "sfu/rtp_recv_stats.h"
#include "sfu/sdp.h"
#include "test.h"

#define EXT_MID 4
#define EXT_RID 10
#define EXT_RRID 11
#define EXT_TWCC 3
#define VIEW_MID 9
#define MAX_OUT 12000
#define N_PEERS 8
/* peers[]: 0 the liar, 1 its viewer, 2 the honest publisher, 3 its viewer, 4.. spare */
#define LIAR 0
#define LIAR_VIEWER 1
#define HONEST 2
#define HONEST_VIEWER 3

typedef struct {
  uint32_t ssrc;
  uint16_t seq;
  uint32_t ts;
  uint8_t pt;
  int keyframe;
  uint16_t width;
  int padding;
  uint16_t osn; /* RTX: original seq */
  uint64_t hash;
} out_pkt_t;

typedef struct {
  out_pkt_t out[MAX_OUT];
  size_t n_out, dropped_capture;
  size_t plis, firs, nacks;
} fake_peer_t;

typedef struct {
  sfu_router_t *r;
  sfu_router_peer_t *p[N_PEERS];
  fake_peer_t peers[N_PEERS];
  sfu_router_event_t ev[256];
  char ev_msg[256][200];
  size_t n_ev;
  uint64_t now;
} env_t;

static uint64_t fnv(const uint8_t *b, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

static int cap_rtp(void *u, uint8_t *buf, size_t len, size_t cap) {
  fake_peer_t *p = u;
  (void)cap;
  sfu_rtp_hdr_t h;
  if (sfu_rtp_parse(buf, len, &h) != 0) return -1;
  if (p->n_out >= MAX_OUT) {
    p->dropped_capture++;
    return 0;
  }
  out_pkt_t *o = &p->out[p->n_out++];
  memset(o, 0, sizeof *o);
  o->ssrc = h.ssrc;
  o->seq = h.seq;
  o->ts = h.timestamp;
  o->pt = h.payload_type;
  o->padding = sfu_rtp_is_padding_only(&h);
  o->hash = fnv(buf, len);
  const uint8_t *pl = h.payload;
  size_t pll = h.payload_len;
  if (h.payload_type == 97 && pll >= 2) { /* RTX */
    o->osn = sfu_rd16(pl);
    pl += 2;
    pll -= 2;
  }
  sfu_vp8_desc_t v;
  if (h.payload_type != 102 && sfu_vp8_parse(pl, pll, &v) == 0) {
    o->keyframe = v.frame_start && v.keyframe;
    if (o->keyframe) o->width = v.width;
  }
  return 0;
}

static int cap_rtcp(void *u, uint8_t *buf, size_t len, size_t cap) {
  fake_peer_t *p = u;
  (void)cap;
  sfu_rtcp_iter_t it;
  sfu_rtcp_pkt_t pkt;
  sfu_rtcp_iter_init(&it, buf, len);
  while (sfu_rtcp_iter_next(&it, &pkt) == 1) {
    sfu_rtcp_fb_t fb;
    if (pkt.pt == SFU_RTCP_PSFB && sfu_rtcp_fb_parse(&pkt, &fb) == 0) {
      if (fb.fmt == SFU_RTCP_PSFB_PLI) p->plis++;
      if (fb.fmt == SFU_RTCP_PSFB_FIR) p->firs++;
    } else if (pkt.pt == SFU_RTCP_RTPFB) {
      p->nacks++;
    }
  }
  return 0;
}

static void on_ev(void *u, const sfu_router_event_t *ev) {
  env_t *e = u;
  if (e->n_ev >= 256) return;
  e->ev[e->n_ev] = *ev;
  snprintf(e->ev_msg[e->n_ev], 200, "%s", ev->message ? ev->message : "");
  e->n_ev++;
}

static size_t count_ev(env_t *e, sfu_router_event_kind_t k) {
  size_t n = 0;
  for (size_t i = 0; i < e->n_ev; i++) n += e->ev[i].kind == k;
  return n;
}

static sfu_router_peer_t *add_peer(env_t *e, int i, const char *name) {
  sfu_router_peer_desc_t d = {name, name, 0, 1, 1};
  e->p[i] = sfu_router_peer_new(e->r, &d, &e->peers[i]);
  if (e->p[i]) sfu_router_peer_set_ready(e->r, e->p[i], 1, e->now);
  return e->p[i];
}

static void codec(sfu_router_codec_t *c, int h264, int rtx) {
  memset(c, 0, sizeof *c);
  c->pt = h264 ? 102 : 96;
  c->rtx_pt = rtx ? (h264 ? 103 : 97) : -1;
  c->clock_rate = 90000;
  strcpy(c->name, h264 ? "H264" : "VP8");
  c->rtcp_fb = SFU_SDP_FB_NACK | SFU_SDP_FB_NACK_PLI | SFU_SDP_FB_CCM_FIR;
}

static uint32_t publish(env_t *e, int i, const char *const *rids, size_t n, int h264) {
  sfu_router_pub_desc_t d;
  memset(&d, 0, sizeof d);
  strcpy(d.mid, "0");
  d.n_codecs = 1;
  codec(&d.codecs[0], h264, 1);
  sfu_rtp_ext_map_init(&d.ext);
  sfu_rtp_ext_map_set(&d.ext, EXT_MID, SFU_EXT_MID);
  sfu_rtp_ext_map_set(&d.ext, EXT_RID, SFU_EXT_RID);
  sfu_rtp_ext_map_set(&d.ext, EXT_RRID, SFU_EXT_REPAIRED_RID);
  sfu_rtp_ext_map_set(&d.ext, EXT_TWCC, SFU_EXT_TWCC);
  for (size_t k = 0; k < n; k++) strcpy(d.rids[k], rids[k]);
  d.n_rids = n;
  uint32_t sid = 0;
  char err[200];
  return sfu_router_peer_publish(e->r, e->p[i], &d, 1, e->now, &sid, err, sizeof err) == 0 ? sid
                                                                                           : 0;
}

/* codecs: 0 VP8, 1 H.264 */
static int view(env_t *e, int i, uint32_t sid, int max_layer, int rtx, int twcc, int h264,
                sfu_router_view_out_t *out) {
  sfu_router_view_desc_t d;
  memset(&d, 0, sizeof d);
  strcpy(d.mid, "v1");
  d.n_codecs = 1;
  codec(&d.codecs[0], h264, rtx);
  sfu_rtp_ext_map_init(&d.ext);
  sfu_rtp_ext_map_set(&d.ext, VIEW_MID, SFU_EXT_MID);
  if (twcc) sfu_rtp_ext_map_set(&d.ext, 5, SFU_EXT_TWCC);
  d.stream_id = sid;
  d.max_layer = (int8_t)max_layer;
  char err[200];
  return sfu_router_peer_set_views(e->r, e->p[i], &d, 1, e->now, out, err, sizeof err);
}

/* One synthetic publisher layer. */
typedef struct {
  const char *rid;
  uint32_t ssrc;
  uint16_t seq;
  uint32_t ts;
  uint16_t pic;
  uint8_t tl0;
  uint16_t w, h;
} src_t;

static void src_init(src_t *s, const char *rid, uint32_t ssrc, uint16_t w) {
  memset(s, 0, sizeof *s);
  s->rid = rid;
  s->ssrc = ssrc;
  s->seq = (uint16_t)(ssrc * 7919u);
  s->ts = ssrc * 104729u;
  s->pic = (uint16_t)(ssrc & 0x7fff);
  s->w = w;
  s->h = (uint16_t)(w * 9 / 16);
}

/* VP8 frame header kinds on a frame's first packet. */
enum { KF_NO = 0, KF_REAL, KF_NO_START_CODE, KF_ZERO_SIZE };

/* A VP8 packet: one-byte extensions (mid, rid, twcc), a 15-bit picture id and TL0PICIDX,
 * a keyframe header on a keyframe's first packet. */
static size_t make_pkt(uint8_t *b, const src_t *s, int first, int key, int last) {
  memset(b, 0, 1400);
  b[0] = 0x90;
  b[1] = (uint8_t)(96 | (last ? 0x80 : 0));
  sfu_wr16(b + 2, s->seq);
  sfu_wr32(b + 4, s->ts);
  sfu_wr32(b + 8, s->ssrc);
  uint8_t *x = b + 12;
  sfu_wr16(x, 0xBEDE);
  uint8_t *el = x + 4;
  size_t k = 0;
  el[k++] = (EXT_MID << 4) | 0;
  el[k++] = '0';
  size_t rl = strlen(s->rid);
  el[k++] = (uint8_t)((EXT_RID << 4) | (rl - 1));
  memcpy(el + k, s->rid, rl);
  k += rl;
  el[k++] = (EXT_TWCC << 4) | 1;
  el[k++] = 0;
  el[k++] = 7;
  while (k % 4) el[k++] = 0;
  sfu_wr16(x + 2, (uint16_t)(k / 4));
  uint8_t *p = el + k;
  size_t n = 0;
  p[n++] = (uint8_t)(0x80 | (first ? 0x10 : 0));
  p[n++] = 0xC0;
  p[n++] = (uint8_t)(0x80 | (s->pic >> 8));
  p[n++] = (uint8_t)s->pic;
  p[n++] = s->tl0;
  if (first) {
    p[n++] = key ? 0x00 : 0x01;
    p[n++] = 0;
    p[n++] = 0;
    if (key == KF_REAL || key == KF_ZERO_SIZE) p[n++] = 0x9d, p[n++] = 0x01, p[n++] = 0x2a;
    if (key == KF_NO_START_CODE) p[n++] = 0x11, p[n++] = 0x22, p[n++] = 0x33;
    if (key) {
      uint16_t w = key == KF_ZERO_SIZE ? 0 : s->w, h = key == KF_ZERO_SIZE ? 0 : s->h;
      p[n++] = (uint8_t)w, p[n++] = (uint8_t)(w >> 8);
      p[n++] = (uint8_t)h, p[n++] = (uint8_t)(h >> 8);
    }
  }
  for (size_t i = 0; i < 200; i++) p[n++] = (uint8_t)(i * 7 + s->seq);
  return (size_t)(p - b) + n;
}

static void send_pkt(env_t *e, int i, src_t *s, int first, int key, int last) {
  uint8_t b[1500];
  size_t n = make_pkt(b, s, first, key, last);
  sfu_router_on_rtp(e->r, e->p[i], e->now, b, n);
  s->seq++;
}

static void next_frame(src_t *s) {
  s->ts += 6000; /* 15 fps */
  s->pic = (uint16_t)((s->pic + 1) & 0x7fff);
  s->tl0++;
}

/* One frame of 3 packets; key is a KF_* kind. */
static void frame(env_t *e, int i, src_t *s, int key) {
  for (int k = 0; k < 3; k++) send_pkt(e, i, s, k == 0, key, k == 2);
  next_frame(s);
}

static void advance(env_t *e, uint64_t us) {
  uint64_t end = e->now + us;
  while (e->now < end) {
    uint64_t d = sfu_router_next_deadline(e->r);
    if (d > end) d = end;
    if (d < e->now) d = e->now;
    e->now = d;
    sfu_router_handle_timeout(e->r, e->now);
    if (e->now == end) break;
  }
}

/* Everything a viewer got on ssrc: gaps (seq not +1; padding packets count as present),
 * timestamps that went back, media packets. */
static void check_continuous(const fake_peer_t *v, uint32_t ssrc, int *gaps, int *back,
                             size_t *media) {
  *gaps = *back = 0;
  *media = 0;
  int have = 0;
  uint16_t last_seq = 0;
  uint32_t last_ts = 0;
  for (size_t i = 0; i < v->n_out; i++) {
    const out_pkt_t *o = &v->out[i];
    if (o->ssrc != ssrc) continue;
    if (have) {
      if ((uint16_t)(o->seq - last_seq) != 1) (*gaps)++;
      if ((int32_t)(o->ts - last_ts) < 0) (*back)++;
    }
    if (!o->padding) (*media)++;
    have = 1;
    last_seq = o->seq;
    last_ts = o->ts;
  }
}

/* The fixture: a liar (peer 0) and its viewer (peer 1), an honest single-layer publisher
 * (peer 2) and its viewer (peer 3). The honest stream runs beside every lie. */
typedef struct {
  env_t *e;
  uint32_t liar_sid, honest_sid;
  sfu_router_view_out_t liar_out, honest_out;
  src_t honest;
  size_t honest_frames;
} fix_t;

static const char *const one_q[] = {"q"};
static const char *const qhf[] = {"q", "h", "f"};

static env_t *env_new(uint16_t maxw, uint16_t maxh) {
  env_t *e = calloc(1, sizeof *e);
  sfu_router_config_t cfg = {maxw, maxh, 1920, 1080, 1500000, 25, 1, 0, 0}; /* alloc_immediate */
  sfu_router_cbs_t cbs = {cap_rtp, cap_rtcp, on_ev, e, NULL};
  e->r = sfu_router_new(&cfg, &cbs);
  e->now = 1000000;
  return e;
}

static int fix_init(fix_t *f, const char *const *liar_rids, size_t n_rids, int liar_max_layer,
                    int liar_view_rtx) {
  memset(f, 0, sizeof *f);
  f->e = env_new(1280, 720);
  env_t *e = f->e;
  add_peer(e, LIAR, "liar");
  add_peer(e, LIAR_VIEWER, "liar-viewer");
  add_peer(e, HONEST, "honest");
  add_peer(e, HONEST_VIEWER, "honest-viewer");
  f->liar_sid = publish(e, LIAR, liar_rids, n_rids, 0);
  f->honest_sid = publish(e, HONEST, one_q, 1, 0);
  if (!f->liar_sid || !f->honest_sid) return -1;
  if (view(e, LIAR_VIEWER, f->liar_sid, liar_max_layer, liar_view_rtx, 0, 0, &f->liar_out))
    return -1;
  if (view(e, HONEST_VIEWER, f->honest_sid, -1, 1, 0, 0, &f->honest_out)) return -1;
  src_init(&f->honest, "q", 0x4000, 320);
  frame(e, HONEST, &f->honest, KF_REAL);
  f->honest_frames = 1;
  return 0;
}

/* One honest frame and 66 ms. */
static void fix_tick(fix_t *f) {
  frame(f->e, HONEST, &f->honest, KF_NO);
  f->honest_frames++;
  advance(f->e, 66000);
}

/* (b): the honest viewer got every packet of every frame, as one unbroken stream. */
static void check_honest(fix_t *f) {
  fake_peer_t *hv = &f->e->peers[HONEST_VIEWER];
  int gaps, back;
  size_t media;
  check_continuous(hv, f->honest_out.ssrc, &gaps, &back, &media);
  CHECK_EQ_INT(gaps, 0);
  CHECK_EQ_INT(back, 0);
  CHECK_EQ_INT(media, f->honest_frames * 3);
  for (size_t i = 0; i < hv->n_out; i++) CHECK_EQ_INT(hv->out[i].ssrc, f->honest_out.ssrc);
}

static void fix_free(fix_t *f) {
  sfu_router_free(f->e->r);
  free(f->e);
}

static int liar_info(fix_t *f, sfu_router_stream_info_t *si) {
  for (size_t i = 0; i < sfu_router_stream_count(f->e->r); i++)
    if (sfu_router_stream_info(f->e->r, i, si) == 0 && si->stream_id == f->liar_sid) return 0;
  return -1;
}

/* ---- the lies ---- */

/* a=rid q/h/f, only q and h ever flow: the viewer gets h (the top that flows), the index
 * shows f inactive with no resolution. */
TEST(rids_declared_but_never_sent) {
  fix_t f;
  REQUIRE(fix_init(&f, qhf, 3, -1, 1) == 0);
  env_t *e = f.e;
  src_t q, h;
  src_init(&q, "q", 0x1000, 320);
  src_init(&h, "h", 0x2000, 640);
  for (int k = 0; k < 20; k++) {
    frame(e, LIAR, &q, k % 10 == 0 ? KF_REAL : KF_NO);
    frame(e, LIAR, &h, k % 10 == 0 ? KF_REAL : KF_NO);
    fix_tick(&f);
  }
  sfu_router_stream_info_t si;
  REQUIRE(liar_info(&f, &si) == 0);
  REQUIRE(si.n_layers == 3);
  int inactive = -1;
  for (size_t k = 0; k < 3; k++)
    if (!strcmp(si.layers[k].rid, "f")) inactive = (int)k;
  REQUIRE(inactive >= 0);
  CHECK_EQ_INT(si.layers[inactive].active, 0);
  CHECK_EQ_INT(si.layers[inactive].width, 0);
  CHECK_EQ_INT(si.layers[inactive].packets, 0);
  /* the layers that flow are active and ordered by resolution */
  CHECK_EQ_STR(si.layers[2].rid, "h");
  CHECK(si.layers[2].active && si.layers[2].width == 640);
  CHECK(si.layers[1].active && si.layers[1].width == 320);
  /* the viewer is on h, its stream unbroken */
  sfu_router_view_info_t vi;
  REQUIRE(sfu_router_peer_view_info(e->p[LIAR_VIEWER], 0, &vi) == 0);
  CHECK_EQ_INT(vi.layer, 2);
  fake_peer_t *lv = &e->peers[LIAR_VIEWER];
  int gaps, back;
  size_t media;
  check_continuous(lv, f.liar_out.ssrc, &gaps, &back, &media);
  CHECK_EQ_INT(gaps, 0);
  CHECK_EQ_INT(back, 0);
  REQUIRE(lv->n_out > 0);
  CHECK_EQ_INT(lv->out[lv->n_out - 1].ssrc, f.liar_out.ssrc);
  check_honest(&f);
  fix_free(&f);
}

/* The one layer's SSRC changes mid-stream (encoder restart), same rid, new seq and ts
 * spaces: the router follows it; the viewer's stream goes on (same SSRC, no seq gap, ts
 * forward) from the new SSRC's keyframe. */
TEST(layer_ssrc_changes_mid_stream) {
  fix_t f;
  REQUIRE(fix_init(&f, one_q, 1, -1, 1) == 0);
  env_t *e = f.e;
  src_t q;
  src_init(&q, "q", 0x1000, 320);
  for (int k = 0; k < 5; k++) {
    frame(e, LIAR, &q, k == 0 ? KF_REAL : KF_NO);
    fix_tick(&f);
  }
  fake_peer_t *lv = &e->peers[LIAR_VIEWER];
  size_t before = lv->n_out;
  CHECK_EQ_INT(before, 15);
  src_t q2;
  src_init(&q2, "q", 0x7777, 320); /* new SSRC, seq and ts elsewhere */
  frame(e, LIAR, &q2, KF_NO);      /* not decodable before a keyframe */
  fix_tick(&f);
  for (int k = 0; k < 5; k++) {
    frame(e, LIAR, &q2, k == 0 ? KF_REAL : KF_NO);
    fix_tick(&f);
  }
  sfu_router_stream_info_t si;
  REQUIRE(liar_info(&f, &si) == 0);
  CHECK(si.layers[0].active);
  /* the new SSRC's 5 frames went out, from its keyframe on */
  CHECK(lv->n_out >= before + 15);
  if (getenv("SFU_TEST_VERBOSE"))
    printf("  after the SSRC change: %zu packets out\n", lv->n_out - before);
  if (lv->n_out > before) CHECK(lv->out[before].keyframe || lv->out[before].padding);
  int gaps, back;
  size_t media;
  check_continuous(lv, f.liar_out.ssrc, &gaps, &back, &media);
  CHECK_EQ_INT(gaps, 0);
  CHECK_EQ_INT(back, 0);
  for (size_t i = 0; i < lv->n_out; i++) CHECK_EQ_INT(lv->out[i].ssrc, f.liar_out.ssrc);
  check_honest(&f);
  fix_free(&f);
}

static void set_pt(uint8_t *b, uint8_t pt) { b[1] = (uint8_t)((b[1] & 0x80) | pt); }

/* Payload types never negotiated (on new sequence numbers and on ones already sent):
 * dropped, counted, nothing of them reaches the viewer. */
TEST(wrong_payload_types_dropped_and_counted) {
  fix_t f;
  REQUIRE(fix_init(&f, one_q, 1, -1, 1) == 0);
  env_t *e = f.e;
  src_t q;
  src_init(&q, "q", 0x1000, 320);
  frame(e, LIAR, &q, KF_REAL);
  fix_tick(&f);
  fake_peer_t *lv = &e->peers[LIAR_VIEWER];
  size_t before = lv->n_out;
  uint8_t b[1500];
  static const uint8_t bad[] = {0, 33, 95, 98, 102, 127};
  sfu_router_stats_t st0, st1;
  sfu_router_stats(e->r, &st0);
  for (size_t k = 0; k < sizeof bad; k++) {
    /* a duplicate of the last packet sent, under another payload type */
    src_t dup = q;
    dup.seq = (uint16_t)(q.seq - 1);
    size_t n = make_pkt(b, &dup, 0, 0, 1);
    set_pt(b, bad[k]);
    sfu_router_on_rtp(e->r, e->p[LIAR], e->now, b, n);
  }
  CHECK_EQ_INT(lv->n_out, before);
  sfu_router_stats(e->r, &st1);
  CHECK_EQ_INT(st1.dropped - st0.dropped, sizeof bad);
  sfu_router_stream_info_t si;
  REQUIRE(liar_info(&f, &si) == 0);
  CHECK_EQ_INT(si.dropped_other, sizeof bad);
  for (int k = 0; k < 3; k++) {
    frame(e, LIAR, &q, KF_NO);
    fix_tick(&f);
  }
  CHECK_EQ_INT(lv->n_out, before + 9);
  int gaps, back;
  size_t media;
  check_continuous(lv, f.liar_out.ssrc, &gaps, &back, &media);
  CHECK_EQ_INT(gaps, 0);
  CHECK_EQ_INT(back, 0);
  check_honest(&f);
  fix_free(&f);
}

/* A wrong payload type on a NEW sequence number: the packet is dropped, but it used a
 * slot of the publisher's sequence space. The viewer must not see a gap it will NACK
 * forever (the router has nothing to answer with): the slot becomes padding, as for a
 * garbage payload. */
TEST(wrong_payload_type_takes_no_viewer_slot) {
  fix_t f;
  REQUIRE(fix_init(&f, one_q, 1, -1, 1) == 0);
  env_t *e = f.e;
  src_t q;
  src_init(&q, "q", 0x1000, 320);
  frame(e, LIAR, &q, KF_REAL);
  uint8_t b[1500];
  size_t n = make_pkt(b, &q, 1, KF_NO, 0);
  set_pt(b, 33);
  sfu_router_on_rtp(e->r, e->p[LIAR], e->now, b, n);
  q.seq++;
  send_pkt(e, LIAR, &q, 0, KF_NO, 1);
  next_frame(&q);
  frame(e, LIAR, &q, KF_NO);
  fix_tick(&f);
  int gaps, back;
  size_t media;
  check_continuous(&e->peers[LIAR_VIEWER], f.liar_out.ssrc, &gaps, &back, &media);
  CHECK_EQ_INT(media, 7);
  CHECK_EQ_INT(gaps, 0);
  CHECK_EQ_INT(back, 0);
  check_honest(&f);
  fix_free(&f);
}

/* The stream stops in the middle of a frame (no marker), for 3 s (the layer goes
 * inactive) and then for 7 s (VideoStopped), and resumes with delta frames, then a
 * keyframe: no crash, the viewer's stream goes on (same SSRC, ts forward, no gap). */
TEST(stream_stops_mid_frame_then_resumes) {
  fix_t f;
  REQUIRE(fix_init(&f, one_q, 1, -1, 1) == 0);
  env_t *e = f.e;
  src_t q;
  src_init(&q, "q", 0x1000, 320);
  frame(e, LIAR, &q, KF_REAL);
  for (int pause = 0; pause < 2; pause++) {
    send_pkt(e, LIAR, &q, 1, KF_NO, 0); /* a frame's first packet, and nothing more */
    for (int k = 0; k < (pause ? 106 : 45); k++) fix_tick(&f); /* 3 s, then 7 s */
    next_frame(&q);
    for (int k = 0; k < 3; k++) frame(e, LIAR, &q, KF_NO);
    frame(e, LIAR, &q, KF_REAL);
    fix_tick(&f);
  }
  CHECK_EQ_INT(count_ev(e, SFU_ROUTER_EV_VIDEO_STOPPED), 1);
  CHECK_EQ_INT(count_ev(e, SFU_ROUTER_EV_VIDEO_STARTED), 3); /* liar, honest, liar again */
  fake_peer_t *lv = &e->peers[LIAR_VIEWER];
  int gaps, back;
  size_t media;
  check_continuous(lv, f.liar_out.ssrc, &gaps, &back, &media);
  CHECK_EQ_INT(back, 0);
  CHECK_EQ_INT(gaps, 0);
  CHECK(media >= 3 + 2 * 12); /* the resumed frames went out */
  check_honest(&f);
  fix_free(&f);
}

/* Keyframes that are not: the frame tag says key, but no start code / a zero size. Not
 * a switch point (the viewer waiting to move up stays where it is), dropped, counted; a
 * real keyframe then switches. */
TEST(keyframes_that_are_not_are_no_switch_point) {
  fix_t f;
  REQUIRE(fix_init(&f, qhf, 3, 0, 1) == 0); /* the viewer starts capped at q */
  env_t *e = f.e;
  src_t s[3];
  src_init(&s[0], "q", 0x1000, 320);
  src_init(&s[1], "h", 0x2000, 640);
  src_init(&s[2], "f", 0x3000, 1280);
  for (int i = 0; i < 3; i++) frame(e, LIAR, &s[i], KF_REAL);
  fix_tick(&f);
  sfu_router_view_out_t o;
  REQUIRE(view(e, LIAR_VIEWER, f.liar_sid, -1, 1, 1, 0, &o) == 0); /* uncapped: wants f */
  CHECK_EQ_INT(o.ssrc, f.liar_out.ssrc);
  sfu_router_stream_info_t si0, si1;
  REQUIRE(liar_info(&f, &si0) == 0);
  for (int k = 0; k < 4; k++) {
    frame(e, LIAR, &s[0], KF_NO);
    frame(e, LIAR, &s[1], KF_NO);
    frame(e, LIAR, &s[2], k % 2 ? KF_NO_START_CODE : KF_ZERO_SIZE);
    fix_tick(&f);
  }
  sfu_router_view_info_t vi;
  REQUIRE(sfu_router_peer_view_info(e->p[LIAR_VIEWER], 0, &vi) == 0);
  CHECK_EQ_INT(vi.layer, 0);
  CHECK_EQ_INT(vi.target_layer, 2);
  REQUIRE(liar_info(&f, &si1) == 0);
  CHECK_EQ_INT(si1.dropped_other - si0.dropped_other, 4);
  CHECK_EQ_INT(si1.layers[2].keyframes, si0.layers[2].keyframes);
  CHECK_EQ_INT(si1.layers[2].width, 1280);
  fake_peer_t *lv = &e->peers[LIAR_VIEWER];
  for (size_t i = 0; i < lv->n_out; i++) CHECK(!lv->out[i].keyframe || lv->out[i].width == 320);
  for (int i = 0; i < 3; i++) frame(e, LIAR, &s[i], i == 2 ? KF_REAL : KF_NO);
  fix_tick(&f);
  REQUIRE(sfu_router_peer_view_info(e->p[LIAR_VIEWER], 0, &vi) == 0);
  CHECK_EQ_INT(vi.layer, 2);
  int gaps, back;
  size_t media;
  check_continuous(lv, f.liar_out.ssrc, &gaps, &back, &media);
  CHECK_EQ_INT(gaps, 0);
  CHECK_EQ_INT(back, 0);
  check_honest(&f);
  fix_free(&f);
}

static const char refused_msg[] =
    "Disabled video/content send capability, reason: Video resolution is above limit of "
    "current meeting feature selection.";

/* 16383x16383 from a VP8 keyframe header in an HD (1280x720) meeting, five times: refused
 * once with the reference message, nothing forwarded, counted. */
TEST(absurd_resolution_refused_once) {
  fix_t f;
  REQUIRE(fix_init(&f, one_q, 1, -1, 1) == 0);
  env_t *e = f.e;
  src_t q;
  src_init(&q, "q", 0x1000, 320);
  q.w = q.h = 16383;
  for (int k = 0; k < 5; k++) {
    frame(e, LIAR, &q, KF_REAL);
    fix_tick(&f);
  }
  CHECK_EQ_INT(count_ev(e, SFU_ROUTER_EV_SEND_REFUSED), 1);
  for (size_t i = 0; i < e->n_ev; i++)
    if (e->ev[i].kind == SFU_ROUTER_EV_SEND_REFUSED) {
      CHECK_EQ_STR(e->ev_msg[i], refused_msg);
      CHECK(e->ev[i].peer == e->p[LIAR]);
      CHECK_EQ_INT(e->ev[i].stream_id, f.liar_sid);
    }
  CHECK_EQ_INT(e->peers[LIAR_VIEWER].n_out, 0);
  sfu_router_stream_info_t si;
  REQUIRE(liar_info(&f, &si) == 0);
  CHECK(si.refused);
  CHECK_EQ_INT(si.dropped_resolution, 15);
  check_honest(&f);
  fix_free(&f);
}

/* Garbage behind a valid header (and a valid SRTP tag, upstream): random payloads, some
 * cut to 0-2 bytes. Not forwarded, counted; the liar's own viewer sees padding in their
 * slots, never a gap. */
TEST(garbage_payloads_dropped_counted_no_gap) {
  fix_t f;
  REQUIRE(fix_init(&f, one_q, 1, -1, 1) == 0);
  env_t *e = f.e;
  src_t q;
  src_init(&q, "q", 0x1000, 320);
  frame(e, LIAR, &q, KF_REAL);
  uint8_t b[1500];
  srand(11);
  size_t garbage = 0;
  for (int k = 0; k < 300; k++) {
    size_t n = make_pkt(b, &q, 0, 0, 0);
    size_t hl = 24; /* 12 + extension block */
    for (size_t i = hl; i < n; i++) b[i] = (uint8_t)rand();
    b[hl] &= 0x6f; /* no X bit: the descriptor is 1 byte, what follows is garbage */
    if (k % 3 == 0) n = hl + (size_t)(rand() % 3);
    sfu_router_on_rtp(e->r, e->p[LIAR], e->now, b, n);
    q.seq++;
    garbage++;
    if (k % 30 == 29) {
      next_frame(&q);
      frame(e, LIAR, &q, KF_NO);
      fix_tick(&f);
    }
  }
  sfu_router_stream_info_t si;
  REQUIRE(liar_info(&f, &si) == 0);
  CHECK(si.dropped_other > 0);
  CHECK(si.dropped_other <= garbage);
  fake_peer_t *lv = &e->peers[LIAR_VIEWER];
  int gaps, back;
  size_t media;
  check_continuous(lv, f.liar_out.ssrc, &gaps, &back, &media);
  CHECK_EQ_INT(gaps, 0);
  CHECK_EQ_INT(back, 0);
  CHECK(media >= 3 + 10 * 3);
  check_honest(&f);
  fix_free(&f);
}

/* ---- hostile viewers ---- */


/* A viewer NACKs 10,000 sequence numbers a second (every number of the last 2 s, over
 * and over): each packet is resent at most once per RTT (100 ms here), only what is in
 * the history, and the NACKs are counted. Both with RTX and with identical resends. */
TEST(nack_flood_resends_bounded) {
  for (int rtx = 0; rtx <= 1; rtx++) {
    fix_t f;
    REQUIRE(fix_init(&f, one_q, 1, -1, rtx) == 0);
    env_t *e = f.e;
    src_t q;
    src_init(&q, "q", 0x1000, 320);
    frame(e, LIAR, &q, KF_REAL);
    /* No RR: the RTT is unknown and the router's default (100 ms) applies. */
    fake_peer_t *lv = &e->peers[LIAR_VIEWER];
    uint64_t nacked = 0;
    uint8_t b[1500];
    /* 1 s: a frame every 66 ms; every 10 ms a NACK of 100 numbers */
    for (int t = 0; t < 100; t++) {
      if (t % 7 == 0) frame(e, LIAR, &q, KF_NO);
      uint16_t seqs[100];
      uint16_t base = (uint16_t)(lv->out[0].seq + (uint16_t)(t % 3) * 100u - 20u);
      for (int k = 0; k < 100; k++) seqs[k] = (uint16_t)(base + k);
      int n = sfu_rtcp_write_nack(b, sizeof b, 77, f.liar_out.ssrc, seqs, 100);
      sfu_router_on_rtcp(e->r, e->p[LIAR_VIEWER], e->now, b, (size_t)n);
      nacked += 100;
      frame(e, HONEST, &f.honest, KF_NO);
      f.honest_frames++;
      advance(e, 10000);
    }
    /* count resends per original out seq (RTX: by OSN; else: a seq seen before) */
    size_t sent = 0, resent = 0, max_copies = 0;
    for (size_t i = 0; i < lv->n_out; i++) {
      const out_pkt_t *o = &lv->out[i];
      if (o->padding) continue;
      uint16_t key = rtx && o->pt == 97 ? o->osn : o->seq;
      int is_resend = rtx ? o->pt == 97 : 0;
      size_t copies = 1;
      for (size_t j = 0; j < i; j++) {
        const out_pkt_t *p = &lv->out[j];
        if (p->padding || (rtx && p->pt == 97 ? p->osn : p->seq) != key) continue;
        copies++;
        if (!rtx) is_resend = 1;
      }
      if (copies > max_copies) max_copies = copies;
      if (is_resend)
        resent++;
      else
        sent++;
    }
    if (getenv("SFU_TEST_VERBOSE"))
      printf("  rtx=%d sent=%zu resent=%zu max copies=%zu\n", rtx, sent, resent, max_copies);
    CHECK(sent > 0);
    CHECK(resent > 0);
    /* 1 s / 100 ms RTT: at most 11 copies of each; in all at most 11 x what was sent */
    CHECK(resent <= sent * 11);
    CHECK(max_copies <= 1 + 11);
    CHECK_EQ_INT(lv->dropped_capture, 0);
    sfu_router_view_info_t vi;
    REQUIRE(sfu_router_peer_view_info(e->p[LIAR_VIEWER], 0, &vi) == 0);
    CHECK_EQ_INT(vi.nacks_in, nacked);
    CHECK_EQ_INT(vi.retransmissions, resent);
    /* identical resends are byte-identical (one plaintext per SRTP index) */
    for (size_t i = 0; i < lv->n_out; i++)
      for (size_t j = 0; j < i; j++)
        if (lv->out[j].ssrc == lv->out[i].ssrc && lv->out[j].seq == lv->out[i].seq)
          CHECK(lv->out[j].hash == lv->out[i].hash);
    check_honest(&f);
    fix_free(&f);
  }
}

/* A viewer floods PLI and FIR (1,000 of each in 2 s) while no keyframe comes: the
 * publisher gets at most one request per interval (folded), the flood is counted. */
TEST(pli_flood_folded) {
  fix_t f;
  REQUIRE(fix_init(&f, one_q, 1, -1, 1) == 0);
  env_t *e = f.e;
  src_t q;
  src_init(&q, "q", 0x1000, 320);
  frame(e, LIAR, &q, KF_REAL);
  fix_tick(&f);
  size_t base = e->peers[LIAR].plis + e->peers[LIAR].firs;
  size_t honest_base = e->peers[HONEST].plis + e->peers[HONEST].firs;
  uint8_t b[64];
  for (int t = 0; t < 1000; t++) {
    int n = sfu_rtcp_write_pli(b, sizeof b, 5, f.liar_out.ssrc);
    sfu_router_on_rtcp(e->r, e->p[LIAR_VIEWER], e->now, b, (size_t)n);
    n = sfu_rtcp_write_fir(b, sizeof b, 5, f.liar_out.ssrc, (uint8_t)t);
    sfu_router_on_rtcp(e->r, e->p[LIAR_VIEWER], e->now, b, (size_t)n);
    if (t % 33 == 0) {
      frame(e, LIAR, &q, KF_NO);
      frame(e, HONEST, &f.honest, KF_NO);
      f.honest_frames++;
    }
    advance(e, 2000);
  }
  size_t reqs = e->peers[LIAR].plis + e->peers[LIAR].firs - base;
  /* 2 s, no keyframe: first request, then repeats no more often than every 200 ms */
  CHECK(reqs >= 1);
  CHECK(reqs <= 11);
  sfu_router_view_info_t vi;
  REQUIRE(sfu_router_peer_view_info(e->p[LIAR_VIEWER], 0, &vi) == 0);
  CHECK_EQ_INT(vi.plis_in, 2000);
  /* the honest publisher was never asked */
  CHECK_EQ_INT(e->peers[HONEST].plis + e->peers[HONEST].firs, honest_base);
  check_honest(&f);
  fix_free(&f);
}

/* A viewer with VP8 only subscribes to an H.264 stream: no common codec, the section is
 * answered inactive and nothing is sent on it; H.264 packets flow meanwhile. */
TEST(vp8_only_viewer_of_h264_stream_gets_nothing) {
  fix_t f;
  REQUIRE(fix_init(&f, one_q, 1, -1, 1) == 0);
  env_t *e = f.e;
  add_peer(e, 4, "h264-pub");
  add_peer(e, 5, "vp8-viewer");
  uint32_t sid = publish(e, 4, NULL, 0, 1);
  REQUIRE(sid > 0);
  sfu_router_view_out_t o;
  memset(&o, 0xff, sizeof o);
  CHECK_EQ_INT(view(e, 5, sid, -1, 1, 1, 0, &o), 0);
  CHECK_EQ_INT(o.stream_id, 0);
  CHECK_EQ_INT(o.ssrc, 0);
  CHECK_EQ_INT(sfu_router_peer_view_count(e->p[5]), 0);
  /* H.264 in: STAP-A (SPS 1280x720, PPS, IDR), then P slices */
  static const uint8_t sps[] = {0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05,
                                0xbb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00,
                                0x00, 0x03, 0x03, 0xc0, 0xf1, 0x83, 0x19, 0x60};
  uint8_t b[1500];
  for (int k = 0; k < 20; k++) {
    memset(b, 0, sizeof b);
    b[0] = 0x80;
    b[1] = 0x80 | 102;
    sfu_wr16(b + 2, (uint16_t)(100 + k));
    sfu_wr32(b + 4, 9000u * (uint32_t)k);
    sfu_wr32(b + 8, 0x5555);
    size_t n = 12;
    if (k % 10 == 0) {
      b[n++] = 0x78;
      sfu_wr16(b + n, sizeof sps);
      memcpy(b + n + 2, sps, sizeof sps);
      n += 2 + sizeof sps;
      sfu_wr16(b + n, 50);
      b[n + 2] = 0x65;
      n += 2 + 50;
    } else {
      b[n++] = 0x41;
      n += 80;
    }
    sfu_router_on_rtp(e->r, e->p[4], e->now, b, n);
    fix_tick(&f);
  }
  CHECK_EQ_INT(e->peers[5].n_out, 0);
  sfu_router_stream_info_t si;
  int found = 0;
  for (size_t i = 0; i < sfu_router_stream_count(e->r); i++)
    if (sfu_router_stream_info(e->r, i, &si) == 0 && si.stream_id == sid) {
      found = 1;
      CHECK_EQ_STR(si.codec, "H264");
      CHECK_EQ_INT(si.layers[0].width, 1280);
      CHECK_EQ_INT(si.layers[0].packets, 20);
    }
  CHECK(found);
  /* an H.264 viewer of the same stream does get it */
  add_peer(e, 6, "h264-viewer");
  CHECK_EQ_INT(view(e, 6, sid, -1, 1, 1, 1, &o), 0);
  CHECK_EQ_INT(o.stream_id, sid);
  check_honest(&f);
  fix_free(&f);
}

/* ---- bugs the fuzz target found (fixed; fuzz/corpus/router keeps their inputs) ---- */

/* A publisher's RTX copy of a packet already forwarded (its NACK answer arriving after
 * the late original: ordinary on a lossy uplink): the router forwards it AGAIN under the
 * same outgoing sequence number, with a new transport-wide seq -- a second, different
 * plaintext under one SRTP index (AES-GCM nonce reuse, RFC 7714 §8.1). It must not go out
 * again (or go out byte-identical). fuzz/corpus/router/nonce-reuse-rtx-duplicate. */
TEST(duplicate_of_forwarded_packet_not_resent_with_other_bytes) {
  fix_t f;
  REQUIRE(fix_init(&f, one_q, 1, -1, 1) == 0);
  env_t *e = f.e;
  src_t q;
  src_init(&q, "q", 0x1000, 320);
  frame(e, LIAR, &q, KF_REAL);
  /* the same packet again, byte for byte (a network duplicate) */
  uint8_t b[1500];
  src_t dup = q;
  dup.seq = (uint16_t)(q.seq - 1);
  dup.ts = q.ts - 6000;
  dup.pic = (uint16_t)((q.pic - 1) & 0x7fff);
  dup.tl0 = (uint8_t)(q.tl0 - 1);
  size_t n = make_pkt(b, &dup, 0, 0, 1);
  sfu_router_on_rtp(e->r, e->p[LIAR], e->now, b, n);
  fake_peer_t *lv = &e->peers[LIAR_VIEWER];
  for (size_t i = 0; i < lv->n_out; i++)
    for (size_t j = 0; j < i; j++)
      if (lv->out[j].ssrc == lv->out[i].ssrc && lv->out[j].seq == lv->out[i].seq)
        CHECK(lv->out[j].hash == lv->out[i].hash);
  fix_free(&f);
}

/* A renegotiation keeps the view (same mid, same stream: same SSRC and numbering) but
 * drops transport-cc (or renumbers an extension, or changes the payload type); then the
 * viewer NACKs a packet sent before it. The resend is rebuilt from the ring with the NEW
 * extension map: other bytes under the same SRTP index (nonce reuse). It must be
 * byte-identical or not sent. fuzz/corpus/router/nonce-reuse-resend-after-renegotiation. */
TEST(resend_after_renegotiation_is_identical_or_nothing) {
  fix_t f;
  REQUIRE(fix_init(&f, one_q, 1, -1, 0) == 0); /* no RTX: identical resends */
  env_t *e = f.e;
  src_t q;
  src_init(&q, "q", 0x1000, 320);
  frame(e, LIAR, &q, KF_REAL);
  fake_peer_t *lv = &e->peers[LIAR_VIEWER];
  REQUIRE(lv->n_out == 3);
  sfu_router_view_out_t o;
  REQUIRE(view(e, LIAR_VIEWER, f.liar_sid, -1, 0, 0 /* no TWCC now */, 0, &o) == 0);
  CHECK_EQ_INT(o.ssrc, f.liar_out.ssrc); /* the same outgoing stream */
  uint8_t b[200];
  int n = sfu_rtcp_write_nack(b, sizeof b, 77, o.ssrc, &lv->out[1].seq, 1);
  sfu_router_on_rtcp(e->r, e->p[LIAR_VIEWER], e->now, b, (size_t)n);
  for (size_t i = 3; i < lv->n_out; i++)
    if (lv->out[i].seq == lv->out[1].seq) CHECK(lv->out[i].hash == lv->out[1].hash);
  fix_free(&f);
}

/* Two different packets under one publisher seq (the first not forwarded: the viewer was
 * waiting for a keyframe; the second a keyframe, forwarded). The history keeps the FIRST
 * copy (pkt_history.h), so a NACK resends other bytes under the forwarded packet's SRTP
 * index. fuzz/corpus/router/nonce-reuse-history-keeps-first-copy. */
TEST(same_seq_other_payload_resend_identical_or_nothing) {
  fix_t f;
  REQUIRE(fix_init(&f, one_q, 1, -1, 0) == 0); /* no RTX: identical resends */
  env_t *e = f.e;
  src_t q;
  src_init(&q, "q", 0x1000, 320);
  src_t first = q;
  send_pkt(e, LIAR, &first, 0, KF_NO, 0); /* seq N, a frame's middle: not forwarded */
  frame(e, LIAR, &q, KF_REAL);            /* seq N again: a keyframe */
  frame(e, LIAR, &q, KF_REAL);
  fake_peer_t *lv = &e->peers[LIAR_VIEWER];
  REQUIRE(lv->n_out >= 3);
  size_t sent = lv->n_out;
  uint16_t seqs[8];
  for (size_t i = 0; i < sent && i < 8; i++) seqs[i] = lv->out[i].seq;
  uint8_t b[200];
  int n = sfu_rtcp_write_nack(b, sizeof b, 77, f.liar_out.ssrc, seqs, sent < 8 ? sent : 8);
  sfu_router_on_rtcp(e->r, e->p[LIAR_VIEWER], e->now, b, (size_t)n);
  CHECK(lv->n_out > sent);
  for (size_t i = sent; i < lv->n_out; i++)
    for (size_t j = 0; j < sent; j++)
      if (lv->out[i].seq == lv->out[j].seq) CHECK(lv->out[i].hash == lv->out[j].hash);
  fix_free(&f);
}

int main(void) {
  RUN(rids_declared_but_never_sent);
  RUN(wrong_payload_types_dropped_and_counted);
  RUN(stream_stops_mid_frame_then_resumes);
  RUN(keyframes_that_are_not_are_no_switch_point);
  RUN(absurd_resolution_refused_once);
  RUN(garbage_payloads_dropped_counted_no_gap);
  RUN(nack_flood_resends_bounded);
  RUN(pli_flood_folded);
  RUN(vp8_only_viewer_of_h264_stream_gets_nothing);
  RUN(layer_ssrc_changes_mid_stream);
  RUN(wrong_payload_type_takes_no_viewer_slot);
  RUN(duplicate_of_forwarded_packet_not_resent_with_other_bytes);
  RUN(resend_after_renegotiation_is_identical_or_nothing);
  RUN(same_seq_other_payload_resend_identical_or_nothing);
  return test_summary();
}
