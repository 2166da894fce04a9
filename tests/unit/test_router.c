/* The video router (router.h) in-process on a virtual clock: a synthetic simulcast VP8
 * publisher, viewers whose outgoing packets are captured and checked for what a decoder
 * needs (one SSRC, continuous sequence numbers, monotonic timestamps, continuous picture
 * ids, a keyframe first), keyframe requests, NACK/RTX, padding, limits and the index. */
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
#define MAX_OUT 4096

typedef struct {
  uint32_t ssrc;
  uint16_t seq;
  uint32_t ts;
  uint8_t pt;
  uint16_t pic_id;
  int keyframe;
  uint16_t width;
  int padding;
  int tid; /* -1: no TID */
  char mid[8];
  uint16_t osn; /* RTX: original seq */
} out_pkt_t;

typedef struct {
  int id;
  out_pkt_t out[MAX_OUT];
  size_t n_out;
  /* RTCP to this peer */
  size_t plis, firs, nacks, rembs, rrs, srs, byes;
  uint32_t pli_ssrc[64];
  uint64_t remb_bps;
  uint64_t last_sr_ntp, last_sr_at;
  uint32_t want_key[16]; /* SSRCs a PLI/FIR asked a keyframe of (the publisher answers) */
  size_t n_want_key;
} fake_peer_t;

typedef struct {
  sfu_router_t *r;
  fake_peer_t peers[32];
  sfu_router_event_t ev[256];
  char ev_msg[256][200];
  size_t n_ev;
  uint64_t now;
} env_t;

static env_t *g_env;

static int cap_rtp(void *u, uint8_t *buf, size_t len, size_t cap) {
  fake_peer_t *p = u;
  sfu_rtp_hdr_t h;
  if (sfu_rtp_parse(buf, len, &h) != 0 || p->n_out >= MAX_OUT) return -1;
  out_pkt_t *o = &p->out[p->n_out++];
  memset(o, 0, sizeof *o);
  o->ssrc = h.ssrc;
  o->seq = h.seq;
  o->ts = h.timestamp;
  o->pt = h.payload_type;
  o->padding = sfu_rtp_is_padding_only(&h);
  const uint8_t *d;
  size_t dl;
  if (sfu_rtp_ext_find(&h, 9 /* the viewer's mid id */, &d, &dl) == 0 && dl < sizeof o->mid) memcpy(o->mid, d, dl);
  const uint8_t *pl = h.payload;
  size_t pll = h.payload_len;
  if (h.payload_type == 97) { /* RTX */
    o->osn = sfu_rd16(pl);
    pl += 2;
    pll -= 2;
  }
  sfu_vp8_desc_t v;
  if (sfu_vp8_parse(pl, pll, &v) == 0) {
    o->pic_id = v.picture_id;
    o->tid = v.has_tid ? v.tid : -1;
    o->keyframe = v.frame_start && v.keyframe;
    if (o->keyframe) o->width = v.width;
  }
  return 0;
}

static int cap_rtcp(void *u, uint8_t *buf, size_t len, size_t cap) {
  fake_peer_t *p = u;
  sfu_rtcp_iter_t it;
  sfu_rtcp_pkt_t pkt;
  sfu_rtcp_iter_init(&it, buf, len);
  while (sfu_rtcp_iter_next(&it, &pkt) == 1) {
    sfu_rtcp_fb_t fb;
    if (pkt.pt == SFU_RTCP_PSFB && sfu_rtcp_fb_parse(&pkt, &fb) == 0) {
      if (fb.fmt == SFU_RTCP_PSFB_PLI) {
        if (p->plis < 64) p->pli_ssrc[p->plis] = fb.media_ssrc;
        p->plis++;
        if (p->n_want_key < 16) p->want_key[p->n_want_key++] = fb.media_ssrc;
      } else if (fb.fmt == SFU_RTCP_PSFB_FIR) {
        p->firs++;
      } else if (fb.fmt == SFU_RTCP_PSFB_AFB) {
        sfu_rtcp_remb_t remb;
        if (sfu_rtcp_remb_parse(&fb, &remb) == 0) {
          p->rembs++;
          p->remb_bps = remb.bitrate_bps;
        }
      }
    } else if (pkt.pt == SFU_RTCP_RTPFB) {
      p->nacks++;
    } else if (pkt.pt == SFU_RTCP_RR) {
      p->rrs++;
    } else if (pkt.pt == SFU_RTCP_SR) {
      p->srs++;
      sfu_rtcp_sr_t sr;
      if (sfu_rtcp_sr_parse(&pkt, &sr) == 0) {
        p->last_sr_ntp = sr.ntp;
        p->last_sr_at = g_env->now;
      }
    } else if (pkt.pt == SFU_RTCP_BYE) {
      p->byes++;
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

static void env_init(env_t *e, uint16_t maxw, uint16_t maxh) {
  memset(e, 0, sizeof *e);
  g_env = e;
  /* alloc_immediate: these cases test forwarding, switching and repair, not the
   * allocation's stability timers (test_allocator.c, test_router_bwe.c) */
  sfu_router_config_t cfg = {maxw, maxh, 1920, 1080, 1500000, 25, 1, 0, 0};
  sfu_router_cbs_t cbs = {cap_rtp, cap_rtcp, on_ev, e, NULL};
  e->r = sfu_router_new(&cfg, &cbs);
  e->now = 1000000;
  for (int i = 0; i < 32; i++) e->peers[i].id = i;
}

static sfu_router_peer_t *add_peer(env_t *e, int i, const char *name) {
  sfu_router_peer_desc_t d = {name, name, 0, 1, 1};
  sfu_router_peer_t *p = sfu_router_peer_new(e->r, &d, &e->peers[i]);
  sfu_router_peer_set_ready(e->r, p, 1, e->now);
  return p;
}

static void ext_map(sfu_rtp_ext_map_t *m, int twcc_id) {
  sfu_rtp_ext_map_init(m);
  sfu_rtp_ext_map_set(m, EXT_MID, SFU_EXT_MID);
  sfu_rtp_ext_map_set(m, EXT_RID, SFU_EXT_RID);
  sfu_rtp_ext_map_set(m, EXT_RRID, SFU_EXT_REPAIRED_RID);
  if (twcc_id) sfu_rtp_ext_map_set(m, (uint8_t)twcc_id, SFU_EXT_TWCC);
}

static void vp8_codec(sfu_router_codec_t *c) {
  memset(c, 0, sizeof *c);
  c->pt = 96;
  c->rtx_pt = 97;
  c->clock_rate = 90000;
  strcpy(c->name, "VP8");
  c->rtcp_fb = SFU_SDP_FB_NACK | SFU_SDP_FB_NACK_PLI | SFU_SDP_FB_CCM_FIR;
}

/* rids in the given order (Firefox lists the highest first). */
static uint32_t publish(env_t *e, sfu_router_peer_t *p, const char *const *rids, size_t n) {
  sfu_router_pub_desc_t d;
  memset(&d, 0, sizeof d);
  strcpy(d.mid, "0");
  d.n_codecs = 1;
  vp8_codec(&d.codecs[0]);
  ext_map(&d.ext, EXT_TWCC);
  for (size_t i = 0; i < n; i++) strcpy(d.rids[i], rids[i]);
  d.n_rids = n;
  uint32_t sid = 0;
  char err[200];
  int rc = sfu_router_peer_publish(e->r, p, &d, 1, e->now, &sid, err, sizeof err);
  return rc == 0 ? sid : 0;
}

static int view(env_t *e, sfu_router_peer_t *p, uint32_t sid, int max_layer, int rtx,
                sfu_router_view_out_t *out) {
  sfu_router_view_desc_t d;
  memset(&d, 0, sizeof d);
  strcpy(d.mid, "v1");
  d.n_codecs = 1;
  vp8_codec(&d.codecs[0]);
  if (!rtx) d.codecs[0].rtx_pt = -1;
  sfu_rtp_ext_map_init(&d.ext);
  sfu_rtp_ext_map_set(&d.ext, 9, SFU_EXT_MID); /* the viewer's own ids */
  /* No transport-cc: the router then has no estimate of this viewer's downlink and the
   * allocation uses the 6 Mbps receive cap; estimation is test_router_bwe.c's. */
  d.stream_id = sid;
  d.max_layer = (int8_t)max_layer;
  char err[200];
  sfu_router_view_out_t o;
  int rc = sfu_router_peer_set_views(e->r, p, &d, 1, e->now, out ? out : &o, err, sizeof err);
  return rc;
}

/* One synthetic publisher layer. */
typedef struct {
  const char *rid;
  uint32_t ssrc, rtx_ssrc;
  uint16_t seq, rtx_seq;
  uint32_t ts;
  uint16_t pic;
  uint8_t tl0;
  uint16_t w, h;
  uint8_t temporal, tid, sync; /* temporal: the descriptor carries T (TID, Y) */
} src_t;

/* A VP8 packet: RFC 8285 one-byte extensions (mid, rid, twcc), RFC 7741 descriptor with
 * a 15-bit picture id and TL0PICIDX, a keyframe header on a keyframe's first packet. */
static size_t make_pkt(uint8_t *b, const src_t *s, int first, int key, int last, int padding_only,
                       const char *rid_override) {
  memset(b, 0, 1400);
  b[0] = 0x90; /* V=2, X=1 */
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
  const char *rid = rid_override ? rid_override : s->rid;
  size_t rl = strlen(rid);
  el[k++] = (uint8_t)((EXT_RID << 4) | (rl - 1));
  memcpy(el + k, rid, rl);
  k += rl;
  el[k++] = (EXT_TWCC << 4) | 1;
  el[k++] = 0;
  el[k++] = 7;
  while (k % 4) el[k++] = 0;
  sfu_wr16(x + 2, (uint16_t)(k / 4));
  uint8_t *p = el + k;
  size_t n = 0;
  if (padding_only) {
    b[0] |= 0x20;
    memset(p, 0, 99);
    p[99] = 100;
    return (size_t)(p - b) + 100;
  }
  p[n++] = (uint8_t)(0x80 | (first ? 0x10 : 0)); /* X, S, PID 0 */
  p[n++] = s->temporal ? 0xE0 : 0xC0;            /* I, L (, T) */
  p[n++] = (uint8_t)(0x80 | (s->pic >> 8));
  p[n++] = (uint8_t)s->pic;
  p[n++] = s->tl0;
  if (s->temporal) p[n++] = (uint8_t)(s->tid << 6 | s->sync << 5); /* TID Y KEYIDX */
  if (first) {
    p[n++] = key ? 0x00 : 0x01; /* frame tag: P bit */
    p[n++] = 0;
    p[n++] = 0;
    if (key) {
      p[n++] = 0x9d, p[n++] = 0x01, p[n++] = 0x2a;
      p[n++] = (uint8_t)s->w, p[n++] = (uint8_t)(s->w >> 8);
      p[n++] = (uint8_t)s->h, p[n++] = (uint8_t)(s->h >> 8);
    }
  }
  for (size_t i = 0; i < 200; i++) p[n++] = (uint8_t)(i * 7 + s->seq);
  return (size_t)(p - b) + n;
}

/* A publisher answers keyframe requests: the next frame of a requested SSRC is a key. */
static int take_want_key(env_t *e, uint32_t ssrc) {
  fake_peer_t *p = &e->peers[0];
  for (size_t i = 0; i < p->n_want_key; i++) {
    if (p->want_key[i] != ssrc) continue;
    p->want_key[i] = p->want_key[--p->n_want_key];
    return 1;
  }
  return 0;
}

/* One frame of 3 packets on each source. */
static void frame(env_t *e, sfu_router_peer_t *pub, src_t *s, int key) {
  uint8_t b[1500];
  key |= take_want_key(e, s->ssrc);
  for (int i = 0; i < 3; i++) {
    size_t n = make_pkt(b, s, i == 0, key, i == 2, 0, NULL);
    sfu_router_on_rtp(e->r, pub, e->now, b, n);
    s->seq++;
  }
  s->ts += 6000; /* 15 fps */
  s->pic = (uint16_t)((s->pic + 1) & 0x7fff);
  s->tl0++;
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

/* Everything a viewer got on its media SSRC is one continuous stream. */
static void check_continuous(const fake_peer_t *v, uint32_t ssrc, int *gaps, int *back, int *pics) {
  *gaps = *back = *pics = 0;
  int have = 0;
  uint16_t last_seq = 0, last_pic = 0;
  uint32_t last_ts = 0;
  for (size_t i = 0; i < v->n_out; i++) {
    const out_pkt_t *o = &v->out[i];
    if (o->ssrc != ssrc) continue;
    if (have) {
      if ((uint16_t)(o->seq - last_seq) != 1) (*gaps)++;
      if ((int32_t)(o->ts - last_ts) < 0) (*back)++;
      uint16_t dp = (uint16_t)((o->pic_id - last_pic) & 0x7fff);
      if (dp > 1) (*pics)++;
    }
    have = 1;
    last_seq = o->seq;
    last_ts = o->ts;
    last_pic = o->pic_id;
  }
}

static const char *const chrome_rids[] = {"q", "h", "f"};
static const char *const firefox_rids[] = {"f", "h", "q"};

static void sources(src_t s[3], const char *const *rids) {
  /* storage order follows rids[], resolution by name */
  for (int i = 0; i < 3; i++) {
    memset(&s[i], 0, sizeof s[i]);
    s[i].rid = rids[i];
    s[i].ssrc = 1000u * (uint32_t)(i + 1);
    s[i].seq = (uint16_t)(65500 + i * 1000); /* wraps soon */
    s[i].ts = 0xFFFF0000u + (uint32_t)i * 12345u;
    s[i].pic = (uint16_t)(0x7ff0 + i);
    int lvl = rids[i][0] == 'q' ? 0 : rids[i][0] == 'h' ? 1 : 2;
    s[i].w = (uint16_t)(320 << lvl);
    s[i].h = (uint16_t)(180 << lvl);
  }
}


TEST(simulcast_index_order_and_top_layer) {
  env_t *e = malloc(sizeof *e);
  env_init(e, 1280, 720);
  sfu_router_peer_t *pub = add_peer(e, 0, "pub");
  sfu_router_peer_t *v1 = add_peer(e, 1, "v1");
  uint32_t sid = publish(e, pub, firefox_rids, 3);
  REQUIRE(sid > 0);
  CHECK_EQ_INT(count_ev(e, SFU_ROUTER_EV_INDEX_CHANGED), 0); /* at the next tick */
  advance(e, 20000);
  CHECK_EQ_INT(count_ev(e, SFU_ROUTER_EV_INDEX_CHANGED), 1);
  sfu_router_view_out_t o;
  CHECK_EQ_INT(view(e, v1, sid, -1, 1, &o), 0);
  CHECK_EQ_INT(o.stream_id, sid);
  CHECK(o.ssrc != 0 && o.rtx_ssrc != 0);
  src_t s[3];
  sources(s, firefox_rids);
  for (int f = 0; f < 40; f++) {
    for (int i = 0; i < 3; i++) frame(e, pub, &s[i], f == 0 || f == 20);
    advance(e, 66000);
  }
  CHECK_EQ_INT(count_ev(e, SFU_ROUTER_EV_VIDEO_STARTED), 1);
  /* coalesced: a handful of events for 3 layers starting, not one per change */
  CHECK(count_ev(e, SFU_ROUTER_EV_INDEX_CHANGED) <= 4);
  /* The index is ordered by resolution, not by a=rid order. */
  sfu_router_stream_info_t si;
  REQUIRE(sfu_router_stream_info(e->r, 0, &si) == 0);
  CHECK_EQ_INT(si.n_layers, 3);
  CHECK_EQ_STR(si.layers[0].rid, "q");
  CHECK_EQ_INT(si.layers[0].width, 320);
  CHECK_EQ_STR(si.layers[2].rid, "f");
  CHECK_EQ_INT(si.layers[2].width, 1280);
  CHECK(si.layers[2].bitrate_bps > 0);
  /* The viewer gets the top layer only, starting at a keyframe, as one stream. */
  fake_peer_t *fv = &e->peers[1];
  REQUIRE(fv->n_out > 0);
  CHECK(fv->out[0].keyframe);
  CHECK_EQ_INT(fv->out[0].width, 1280);
  CHECK_EQ_STR(fv->out[0].mid, "v1");
  for (size_t i = 0; i < fv->n_out; i++) CHECK_EQ_INT(fv->out[i].ssrc, o.ssrc);
  int gaps, back, pics;
  check_continuous(fv, o.ssrc, &gaps, &back, &pics);
  CHECK_EQ_INT(gaps, 0);
  CHECK_EQ_INT(back, 0);
  CHECK_EQ_INT(pics, 0);
  /* 40 frames x 3 packets of the top layer (all after the first keyframe). */
  CHECK_EQ_INT(fv->n_out, 120);
  sfu_router_free(e->r);
  free(e);
}

/* A publisher of Chromium's three layers and one viewer (RTX) on its top layer after 10
 * frames: the start of the switching and repair cases. */
static env_t *three_layers_viewed(sfu_router_peer_t **pub, sfu_router_peer_t **v1, uint32_t *sid,
                                  sfu_router_view_out_t *o, src_t s[3]) {
  env_t *e = malloc(sizeof *e);
  env_init(e, 1280, 720);
  *pub = add_peer(e, 0, "pub");
  *v1 = add_peer(e, 1, "v1");
  *sid = publish(e, *pub, chrome_rids, 3);
  if (view(e, *v1, *sid, -1, 1, o) != 0) return e;
  sources(s, chrome_rids);
  for (int f = 0; f < 10; f++) {
    for (int i = 0; i < 3; i++) frame(e, *pub, &s[i], f == 0);
    advance(e, 66000);
  }
  return e;
}

TEST(max_layer_switch_lands_on_keyframe_continuous) {
  sfu_router_peer_t *pub, *v1;
  uint32_t sid;
  sfu_router_view_out_t o;
  src_t s[3];
  env_t *e = three_layers_viewed(&pub, &v1, &sid, &o, s);
  fake_peer_t *fp = &e->peers[0];
  size_t plis_before = fp->plis;
  /* Down to the lowest layer: one PLI for it; nothing switches before its keyframe. */
  REQUIRE(view(e, v1, sid, 0, 1, NULL) == 0);
  CHECK_EQ_INT(fp->plis, plis_before + 1);
  CHECK_EQ_INT(fp->pli_ssrc[plis_before], s[0].ssrc);
  size_t before = e->peers[1].n_out;
  for (int f = 0; f < 3; f++) {
    for (int i = 0; i < 3; i++) frame(e, pub, &s[i], 0);
    advance(e, 66000);
  }
  /* still on the top layer until the low keyframe */
  CHECK(e->peers[1].n_out == before + 9);
  for (int i = 0; i < 3; i++) frame(e, pub, &s[i], i == 0);
  advance(e, 66000);
  fake_peer_t *fv = &e->peers[1];
  CHECK(fv->out[before + 9].keyframe);
  CHECK_EQ_INT(fv->out[before + 9].width, 320);
  for (int f = 0; f < 5; f++) {
    for (int i = 0; i < 3; i++) frame(e, pub, &s[i], 0);
    advance(e, 66000);
  }
  /* and back up */
  REQUIRE(view(e, v1, sid, -1, 1, NULL) == 0);
  for (int f = 0; f < 5; f++) {
    for (int i = 0; i < 3; i++) frame(e, pub, &s[i], f == 2 && i == 2);
    advance(e, 66000);
  }
  int gaps, back, pics;
  check_continuous(fv, o.ssrc, &gaps, &back, &pics);
  CHECK_EQ_INT(gaps, 0);
  CHECK_EQ_INT(back, 0);
  CHECK_EQ_INT(pics, 0);
  CHECK(fv->out[fv->n_out - 1].ssrc == o.ssrc);
  sfu_router_view_info_t vi;
  REQUIRE(sfu_router_peer_view_info(v1, 0, &vi) == 0);
  CHECK_EQ_INT(vi.layer, 2);
  CHECK(vi.switches >= 2); /* + the start-up climb q -> h -> f as the layers appear */
  sfu_router_free(e->r);
  free(e);
}

TEST(padding_dropped_and_out_of_sequence_space) {
  env_t *e = malloc(sizeof *e);
  env_init(e, 1280, 720);
  sfu_router_peer_t *pub = add_peer(e, 0, "pub");
  sfu_router_peer_t *v1 = add_peer(e, 1, "v1");
  const char *const one[] = {"q"};
  uint32_t sid = publish(e, pub, one, 1);
  sfu_router_view_out_t o;
  REQUIRE(view(e, v1, sid, -1, 1, &o) == 0);
  src_t s[3];
  sources(s, chrome_rids);
  uint8_t b[1500];
  frame(e, pub, &s[0], 1);
  for (int k = 0; k < 5; k++) {
    size_t n = make_pkt(b, &s[0], 0, 0, 0, 1, NULL);
    sfu_router_on_rtp(e->r, pub, e->now, b, n);
    s[0].seq++;
  }
  frame(e, pub, &s[0], 0);
  fake_peer_t *fv = &e->peers[1];
  CHECK_EQ_INT(fv->n_out, 6);
  for (size_t i = 0; i < fv->n_out; i++) CHECK(!fv->out[i].padding);
  int gaps, back, pics;
  check_continuous(fv, o.ssrc, &gaps, &back, &pics);
  CHECK_EQ_INT(gaps, 0);
  sfu_router_stream_info_t si;
  REQUIRE(sfu_router_stream_info(e->r, 0, &si) == 0);
  CHECK_EQ_INT(si.layers[0].padding_dropped, 5);
  sfu_router_free(e->r);
  free(e);
}

static size_t write_nack(uint8_t *b, uint32_t media_ssrc, const uint16_t *seqs, size_t n) {
  int len = sfu_rtcp_write_nack(b, 1500, 77, media_ssrc, seqs, n);
  return len > 0 ? (size_t)len : 0;
}

TEST(nack_answered_with_rtx_or_identical_resend_once_per_rtt) {
  for (int rtx = 0; rtx <= 1; rtx++) {
    env_t *e = malloc(sizeof *e);
    env_init(e, 1280, 720);
    sfu_router_peer_t *pub = add_peer(e, 0, "pub");
    sfu_router_peer_t *v1 = add_peer(e, 1, "v1");
    const char *const one[] = {"q"};
    uint32_t sid = publish(e, pub, one, 1);
    sfu_router_view_out_t o;
    REQUIRE(view(e, v1, sid, -1, rtx, &o) == 0);
    src_t s[3];
    sources(s, chrome_rids);
    for (int f = 0; f < 5; f++) frame(e, pub, &s[0], f == 0);
    fake_peer_t *fv = &e->peers[1];
    REQUIRE(fv->n_out == 15);
    out_pkt_t want = fv->out[4];
    uint8_t b[1500];
    size_t n = write_nack(b, o.ssrc, &want.seq, 1);
    sfu_router_on_rtcp(e->r, v1, e->now, b, n);
    REQUIRE(fv->n_out == 16);
    out_pkt_t *got = &fv->out[15];
    if (rtx) {
      CHECK_EQ_INT(got->ssrc, o.rtx_ssrc);
      CHECK_EQ_INT(got->pt, 97);
      CHECK_EQ_INT(got->osn, want.seq);
    } else {
      CHECK_EQ_INT(got->ssrc, o.ssrc);
      CHECK_EQ_INT(got->seq, want.seq);
      CHECK_EQ_INT(got->ts, want.ts);
    }
    CHECK_EQ_INT(got->pic_id, want.pic_id);
    /* the same NACK again at once: not resent within one RTT */
    sfu_router_on_rtcp(e->r, v1, e->now, b, n);
    CHECK_EQ_INT(fv->n_out, 16);
    /* a packet older than the history is not NACK-able */
    e->now += 3000000;
    sfu_router_on_rtcp(e->r, v1, e->now, b, n);
    CHECK_EQ_INT(fv->n_out, 16);
    sfu_router_free(e->r);
    free(e);
  }
}

/* Two publishers whose layers use the same SSRC (by chance, or one copying the other's):
 * a NACK answered for a viewer of the one, then at the same instant for a viewer of the
 * other, each resends its own publisher's packet (the router keeps the publisher's
 * packets it read back for resends and pacer references parsed, src_cache_t: not shared
 * across streams). The keyframes differ in width. */
TEST(resend_with_a_shared_ssrc_reads_its_own_publisher) {
  env_t *e = malloc(sizeof *e);
  env_init(e, 1280, 720);
  sfu_router_peer_t *pa = add_peer(e, 0, "pa");
  sfu_router_peer_t *pb = add_peer(e, 1, "pb");
  sfu_router_peer_t *va = add_peer(e, 2, "va");
  sfu_router_peer_t *vb = add_peer(e, 3, "vb");
  const char *const one[] = {"q"};
  uint32_t sa = publish(e, pa, one, 1), sb = publish(e, pb, one, 1);
  sfu_router_view_out_t oa, ob;
  REQUIRE(view(e, va, sa, -1, 0, &oa) == 0);
  REQUIRE(view(e, vb, sb, -1, 0, &ob) == 0);
  src_t a[3], b[3];
  sources(a, chrome_rids);
  sources(b, chrome_rids);
  b[0].w = 640;
  b[0].h = 360;
  frame(e, pa, &a[0], 1);
  frame(e, pb, &b[0], 1);
  fake_peer_t *fa = &e->peers[2], *fb = &e->peers[3];
  REQUIRE(fa->n_out == 3 && fb->n_out == 3);
  REQUIRE(fa->out[0].width == 320 && fb->out[0].width == 640);
  uint8_t nb[64];
  size_t n = write_nack(nb, oa.ssrc, &fa->out[0].seq, 1);
  sfu_router_on_rtcp(e->r, va, e->now, nb, n);
  n = write_nack(nb, ob.ssrc, &fb->out[0].seq, 1);
  sfu_router_on_rtcp(e->r, vb, e->now, nb, n);
  REQUIRE(fa->n_out == 4 && fb->n_out == 4);
  CHECK_EQ_INT(fa->out[3].width, 320);
  CHECK_EQ_INT(fb->out[3].width, 640);
  CHECK_EQ_INT(fb->out[3].seq, fb->out[0].seq);
  sfu_router_free(e->r);
  free(e);
}

TEST(pli_flood_folds_into_throttled_requests) {
  env_t *e = malloc(sizeof *e);
  env_init(e, 1280, 720);
  sfu_router_peer_t *pub = add_peer(e, 0, "pub");
  const char *const one[] = {"q"};
  uint32_t sid = publish(e, pub, one, 1);
  sfu_router_peer_t *vs[10];
  sfu_router_view_out_t o[10];
  for (int i = 0; i < 10; i++) {
    char name[8];
    snprintf(name, sizeof name, "v%d", i);
    vs[i] = add_peer(e, i + 1, name);
    REQUIRE(view(e, vs[i], sid, -1, 1, &o[i]) == 0);
  }
  src_t s[3];
  sources(s, chrome_rids);
  frame(e, pub, &s[0], 1);
  size_t base = e->peers[0].plis;
  /* 10 viewers x 20 PLIs within 100 ms */
  uint8_t b[64];
  for (int k = 0; k < 20; k++) {
    for (int i = 0; i < 10; i++) {
      int n = sfu_rtcp_write_pli(b, sizeof b, 5, o[i].ssrc);
      sfu_router_on_rtcp(e->r, vs[i], e->now, b, (size_t)n);
    }
    advance(e, 5000);
  }
  CHECK(e->peers[0].plis - base <= 1);
  /* no keyframe comes: repeated after clamp(2 RTT, 200 ms, 1 s), not more often */
  advance(e, 1000000);
  size_t reps = e->peers[0].plis - base;
  CHECK(reps >= 2 && reps <= 7);
  sfu_router_free(e->r);
  free(e);
}

TEST(resolution_over_limit_refused_with_reference_message) {
  env_t *e = malloc(sizeof *e);
  env_init(e, 1280, 720);
  sfu_router_peer_t *pub = add_peer(e, 0, "pub");
  sfu_router_peer_t *v1 = add_peer(e, 1, "v1");
  const char *const one[] = {"f"};
  uint32_t sid = publish(e, pub, one, 1);
  REQUIRE(view(e, v1, sid, -1, 1, NULL) == 0);
  src_t s[3];
  sources(s, chrome_rids);
  s[2].rid = "f";
  s[2].w = 1920;
  s[2].h = 1080;
  for (int f = 0; f < 3; f++) frame(e, pub, &s[2], f == 0);
  CHECK_EQ_INT(count_ev(e, SFU_ROUTER_EV_SEND_REFUSED), 1);
  int found = 0;
  for (size_t i = 0; i < e->n_ev; i++)
    if (e->ev[i].kind == SFU_ROUTER_EV_SEND_REFUSED)
      found = !strcmp(e->ev_msg[i], "Disabled video/content send capability, reason: Video "
                                    "resolution is above limit of current meeting feature "
                                    "selection.");
  CHECK(found);
  CHECK_EQ_INT(e->peers[1].n_out, 0);
  sfu_router_stream_info_t si;
  REQUIRE(sfu_router_stream_info(e->r, 0, &si) == 0);
  CHECK(si.refused);
  CHECK(si.dropped_resolution >= 3);
  sfu_router_free(e->r);
  free(e);
}

TEST(stream_limit_and_capabilities) {
  env_t *e = malloc(sizeof *e);
  env_init(e, 1280, 720);
  const char *const one[] = {"q"};
  for (int i = 0; i < 25; i++) {
    char name[8];
    snprintf(name, sizeof name, "p%d", i);
    sfu_router_peer_t *p = add_peer(e, i, name);
    CHECK(publish(e, p, one, 1) > 0);
  }
  sfu_router_peer_t *p26 = add_peer(e, 25, "p25");
  sfu_router_pub_desc_t d;
  memset(&d, 0, sizeof d);
  strcpy(d.mid, "0");
  d.n_codecs = 1;
  vp8_codec(&d.codecs[0]);
  uint32_t sid;
  char err[200];
  CHECK_EQ_INT(sfu_router_peer_publish(e->r, p26, &d, 1, e->now, &sid, err, sizeof err), SFU_ELIMIT);
  CHECK(strstr(err, "25") != NULL);
  sfu_router_peer_desc_t nd = {"ns", "ns", 0, 0, 1};
  sfu_router_peer_t *ns = sfu_router_peer_new(e->r, &nd, &e->peers[26]);
  CHECK_EQ_INT(sfu_router_peer_publish(e->r, ns, &d, 1, e->now, &sid, err, sizeof err), SFU_EPERM);
  CHECK_EQ_INT(sfu_router_stream_count(e->r), 25);
  /* a viewer of an unknown stream */
  CHECK_EQ_INT(view(e, ns, 999, -1, 1, NULL), SFU_ENOENT);
  sfu_router_free(e->r);
  free(e);
}

TEST(publisher_leaves_stops_video_and_views) {
  env_t *e = malloc(sizeof *e);
  env_init(e, 1280, 720);
  sfu_router_peer_t *pub = add_peer(e, 0, "pub");
  sfu_router_peer_t *v1 = add_peer(e, 1, "v1");
  const char *const one[] = {"q"};
  uint32_t sid = publish(e, pub, one, 1);
  REQUIRE(view(e, v1, sid, -1, 1, NULL) == 0);
  src_t s[3];
  sources(s, chrome_rids);
  frame(e, pub, &s[0], 1);
  /* 5 s without packets: stopped */
  advance(e, 6000000);
  CHECK_EQ_INT(count_ev(e, SFU_ROUTER_EV_VIDEO_STOPPED), 1);
  frame(e, pub, &s[0], 1);
  CHECK_EQ_INT(count_ev(e, SFU_ROUTER_EV_VIDEO_STARTED), 2);
  sfu_router_peer_free(e->r, pub, e->now);
  CHECK_EQ_INT(count_ev(e, SFU_ROUTER_EV_VIDEO_STOPPED), 2);
  CHECK_EQ_INT(sfu_router_stream_count(e->r), 0);
  sfu_router_free(e->r);
  free(e);
}

TEST(garbage_behind_valid_header_not_forwarded) {
  env_t *e = malloc(sizeof *e);
  env_init(e, 1280, 720);
  sfu_router_peer_t *pub = add_peer(e, 0, "pub");
  sfu_router_peer_t *v1 = add_peer(e, 1, "v1");
  const char *const one[] = {"q"};
  uint32_t sid = publish(e, pub, one, 1);
  sfu_router_view_out_t o;
  REQUIRE(view(e, v1, sid, -1, 1, &o) == 0);
  src_t s[3];
  sources(s, chrome_rids);
  frame(e, pub, &s[0], 1);
  uint8_t b[1500];
  srand(7);
  for (int k = 0; k < 2000; k++) {
    size_t n = make_pkt(b, &s[0], 0, 0, 0, 0, NULL);
    size_t hl = 24;
    for (size_t i = hl; i < n; i++) b[i] = (uint8_t)rand();
    if (k % 3 == 0) n = hl + (size_t)(rand() % 3); /* truncated payloads */
    sfu_router_on_rtp(e->r, pub, e->now, b, n);
    s[0].seq++;
    /* wrong payload type, unknown rid, unknown ssrc */
    size_t m = make_pkt(b, &s[0], 0, 0, 0, 0, k % 2 ? "zz" : NULL);
    b[1] = (uint8_t)(b[1] & 0x80) | 33;
    sfu_router_on_rtp(e->r, pub, e->now, b, m);
  }
  frame(e, pub, &s[0], 0);
  fake_peer_t *fv = &e->peers[1];
  int gaps, back, pics;
  check_continuous(fv, o.ssrc, &gaps, &back, &pics);
  CHECK_EQ_INT(back, 0);
  sfu_router_stats_t st;
  sfu_router_stats(e->r, &st);
  CHECK(st.dropped > 0);
  sfu_router_free(e->r);
  free(e);
}


/* A frame of n packets of `size` payload bytes. */
static void frame_n(env_t *e, sfu_router_peer_t *pub, src_t *s, int key, int n, size_t size) {
  uint8_t b[1500];
  key |= take_want_key(e, s->ssrc);
  for (int i = 0; i < n; i++) {
    size_t len = make_pkt(b, s, i == 0, key, i == n - 1, 0, NULL);
    size_t want = 40 + size;
    if (len < want && want < sizeof b) len = want;
    sfu_router_on_rtp(e->r, pub, e->now, b, len);
    s->seq++;
  }
  s->ts += 6000;
  s->pic = (uint16_t)((s->pic + 1) & 0x7fff);
  s->tl0++;
}

/* An SR for source s at now: the capture clock is e->now (NTP), its RTP clock s->ts. */
static void send_sr(env_t *e, sfu_router_peer_t *pub, const src_t *s) {
  uint8_t b[128];
  uint64_t ntp = ((e->now / 1000000) << 32) | (((e->now % 1000000) << 32) / 1000000);
  sfu_rtcp_sr_t sr = {.ssrc = s->ssrc, .ntp = ntp, .rtp_ts = s->ts};
  int n = sfu_rtcp_write_sr(b, sizeof b, &sr, NULL, 0);
  sfu_router_on_rtcp(e->r, pub, e->now, b, (size_t)n);
}

TEST(upstream_nack_and_reports) {
  env_t *e = malloc(sizeof *e);
  env_init(e, 1280, 720);
  sfu_router_peer_t *pub = add_peer(e, 0, "pub");
  sfu_router_peer_t *v1 = add_peer(e, 1, "v1");
  const char *const one[] = {"q"};
  uint32_t sid = publish(e, pub, one, 1);
  REQUIRE(view(e, v1, sid, -1, 1, NULL) == 0);
  src_t s[3];
  sources(s, chrome_rids);
  frame(e, pub, &s[0], 1);
  s[0].seq++; /* one packet lost on the publisher's uplink */
  frame(e, pub, &s[0], 0);
  advance(e, 40000);
  CHECK(e->peers[0].nacks >= 1);
  /* a second later: RR to the publisher, SR to the viewer */
  for (int f = 0; f < 20; f++) {
    frame(e, pub, &s[0], 0);
    advance(e, 66000);
  }
  CHECK(e->peers[0].rrs >= 1);
  CHECK(e->peers[1].srs >= 1);
  sfu_router_free(e->r);
  free(e);
}

TEST(viewer_remb_picks_the_layer_that_fits) {
  env_t *e = malloc(sizeof *e);
  env_init(e, 1280, 720);
  sfu_router_peer_t *pub = add_peer(e, 0, "pub");
  sfu_router_peer_t *v1 = add_peer(e, 1, "v1");
  uint32_t sid = publish(e, pub, chrome_rids, 3);
  sfu_router_view_out_t o;
  REQUIRE(view(e, v1, sid, -1, 1, &o) == 0);
  src_t s[3];
  sources(s, chrome_rids);
  /* q ~ 100 kbps, h ~ 300 kbps, f ~ 1 Mbps at 15 fps */
  const int npk[3] = {1, 3, 8};
  for (int f = 0; f < 30; f++) {
    for (int i = 0; i < 3; i++) frame_n(e, pub, &s[i], f == 0 || f == 25, npk[i], 1000);
    advance(e, 66000);
  }
  /* REMB 400 kbps: h fits, f does not */
  uint8_t b[64];
  uint32_t ssrc = o.ssrc;
  int n = sfu_rtcp_write_remb(b, sizeof b, 9, 400000, &ssrc, 1);
  sfu_router_on_rtcp(e->r, v1, e->now, b, (size_t)n);
  for (int f = 0; f < 10; f++) {
    for (int i = 0; i < 3; i++) frame_n(e, pub, &s[i], f == 3, npk[i], 1000);
    advance(e, 66000);
  }
  sfu_router_view_info_t vi;
  REQUIRE(sfu_router_peer_view_info(v1, 0, &vi) == 0);
  CHECK_EQ_INT(vi.layer, 1);
  int gaps, back, pics;
  check_continuous(&e->peers[1], o.ssrc, &gaps, &back, &pics);
  CHECK_EQ_INT(gaps, 0);
  CHECK_EQ_INT(back, 0);
  sfu_router_free(e->r);
  free(e);
}

TEST(over_bitrate_gets_remb_then_drops_after_5s) {
  env_t *e = malloc(sizeof *e);
  env_init(e, 1280, 720);
  sfu_router_peer_t *pub = add_peer(e, 0, "pub");
  sfu_router_peer_t *v1 = add_peer(e, 1, "v1");
  const char *const one[] = {"f"};
  uint32_t sid = publish(e, pub, one, 1);
  REQUIRE(view(e, v1, sid, -1, 1, NULL) == 0);
  src_t s[3];
  sources(s, chrome_rids);
  /* 20 packets of 1200 bytes a frame at 15 fps: ~2.9 Mbps > 1.5 Mbps */
  for (int f = 0; f < 15 * 8; f++) {
    frame_n(e, pub, &s[2], f == 0, 20, 1200);
    advance(e, 66667);
  }
  CHECK(e->peers[0].rembs >= 1);
  CHECK(e->peers[0].remb_bps >= 1500000);
  sfu_router_stream_info_t si;
  REQUIRE(sfu_router_stream_info(e->r, 0, &si) == 0);
  CHECK(si.dropped_bitrate > 0);
  /* not before 5 s over: the first 5 s were all forwarded */
  CHECK(e->peers[1].n_out >= 15 * 5 * 20 - 100);
  sfu_router_free(e->r);
  free(e);
}

TEST(switch_timestamps_mapped_through_sender_reports) {
  env_t *e = malloc(sizeof *e);
  env_init(e, 1280, 720);
  sfu_router_peer_t *pub = add_peer(e, 0, "pub");
  sfu_router_peer_t *v1 = add_peer(e, 1, "v1");
  uint32_t sid = publish(e, pub, chrome_rids, 3);
  sfu_router_view_out_t o;
  REQUIRE(view(e, v1, sid, -1, 1, &o) == 0);
  src_t s[3];
  sources(s, chrome_rids);
  for (int f = 0; f < 20; f++) {
    if (f == 2)
      for (int i = 0; i < 3; i++) send_sr(e, pub, &s[i]);
    /* f's frames arrive before q's: the frame of a capture instant is on the old layer
     * when the new one's keyframe comes */
    for (int i = 2; i >= 0; i--) frame(e, pub, &s[i], f == 0 || (f == 12 && i == 0));
    advance(e, 66667);
    if (f == 8) REQUIRE(view(e, v1, sid, 0, 1, NULL) == 0);
  }
  fake_peer_t *fv = &e->peers[1];
  /* find the switch: the first 320-wide keyframe after the start */
  size_t k = 0;
  for (size_t i = 1; i < fv->n_out; i++)
    if (fv->out[i].keyframe && fv->out[i].width == 320) k = i;
  REQUIRE(k > 0);
  /* mapped through the SRs, the new layer's frame of the next capture instant is
   * exactly one frame after the last one sent: 6000 ticks */
  CHECK_EQ_INT((int32_t)(fv->out[k].ts - fv->out[k - 1].ts), 6000);
  sfu_router_free(e->r);
  free(e);
}

TEST(view_starts_only_once_its_transport_carries_media) {
  env_t *e = malloc(sizeof *e);
  env_init(e, 1280, 720);
  sfu_router_peer_t *pub = add_peer(e, 0, "pub");
  sfu_router_peer_desc_t d = {"v1", "v1", 0, 1, 1};
  sfu_router_peer_t *v1 = sfu_router_peer_new(e->r, &d, &e->peers[1]); /* not ready */
  const char *const one[] = {"q"};
  uint32_t sid = publish(e, pub, one, 1);
  REQUIRE(view(e, v1, sid, -1, 1, NULL) == 0);
  src_t s[3];
  sources(s, chrome_rids);
  for (int f = 0; f < 5; f++) frame(e, pub, &s[0], f == 0);
  CHECK_EQ_INT(e->peers[1].n_out, 0); /* the keyframe went by before DTLS was up */
  size_t plis = e->peers[0].plis;
  sfu_router_peer_set_ready(e->r, v1, 1, e->now);
  CHECK_EQ_INT(e->peers[0].plis, plis + 1); /* asked for a fresh one */
  e->peers[0].n_want_key = 0;               /* ... which the publisher is slow to send */
  for (int f = 0; f < 3; f++) frame(e, pub, &s[0], 0);
  CHECK_EQ_INT(e->peers[1].n_out, 0); /* still waiting: no delta frame first */
  frame(e, pub, &s[0], 1);
  REQUIRE(e->peers[1].n_out == 3);
  CHECK(e->peers[1].out[0].keyframe);
  sfu_router_free(e->r);
  free(e);
}

TEST(viewer_rtt_from_its_receiver_reports_paces_resends) {
  env_t *e = malloc(sizeof *e);
  env_init(e, 1280, 720);
  sfu_router_peer_t *pub = add_peer(e, 0, "pub");
  sfu_router_peer_t *v1 = add_peer(e, 1, "v1");
  const char *const one[] = {"q"};
  uint32_t sid = publish(e, pub, one, 1);
  sfu_router_view_out_t o;
  REQUIRE(view(e, v1, sid, -1, 0, &o) == 0);
  src_t s[3];
  sources(s, chrome_rids);
  frame(e, pub, &s[0], 1);
  /* the publisher's SR carries ITS clock: an hour behind ours */
  {
    uint8_t sb[128];
    sfu_rtcp_sr_t sr = {.ssrc = s[0].ssrc, .ntp = sfu_ntp_from_us(e->now) - (3600ull << 32),
                        .rtp_ts = s[0].ts};
    int sn = sfu_rtcp_write_sr(sb, sizeof sb, &sr, NULL, 0);
    sfu_router_on_rtcp(e->r, pub, e->now, sb, (size_t)sn);
  }
  for (int f = 0; f < 20; f++) {
    frame(e, pub, &s[0], 0);
    advance(e, 66667);
  }
  fake_peer_t *fv = &e->peers[1];
  REQUIRE(fv->srs >= 1);
  /* the viewer answers 50 ms after the SR with DLSR 20 ms: RTT 30 ms */
  e->now = fv->last_sr_at + 50000;
  sfu_rtcp_rb_t rb = {.ssrc = o.ssrc, .lsr = (uint32_t)(fv->last_sr_ntp >> 16),
                      .dlsr = (uint32_t)((20000ull << 16) / 1000000)};
  uint8_t b[256];
  int n = sfu_rtcp_write_rr(b, sizeof b, 77, &rb, 1);
  sfu_router_on_rtcp(e->r, v1, e->now, b, (size_t)n);
  /* NACK one packet three times: at once again (refused), 40 ms later (> RTT 30 ms: resent;
   * an RTT taken against the publisher's clock, hours off, refused it) */
  uint16_t seq = fv->out[fv->n_out - 5].seq;
  size_t before = fv->n_out;
  n = (int)write_nack(b, o.ssrc, &seq, 1);
  sfu_router_on_rtcp(e->r, v1, e->now, b, (size_t)n);
  CHECK_EQ_INT(fv->n_out, before + 1);
  sfu_router_on_rtcp(e->r, v1, e->now + 1000, b, (size_t)n);
  CHECK_EQ_INT(fv->n_out, before + 1);
  sfu_router_on_rtcp(e->r, v1, e->now + 40000, b, (size_t)n);
  CHECK_EQ_INT(fv->n_out, before + 2);
  sfu_router_free(e->r);
  free(e);
}

TEST(after_a_pli_old_packets_are_not_resent) {
  env_t *e = malloc(sizeof *e);
  env_init(e, 1280, 720);
  sfu_router_peer_t *pub = add_peer(e, 0, "pub");
  sfu_router_peer_t *v1 = add_peer(e, 1, "v1");
  const char *const one[] = {"q"};
  uint32_t sid = publish(e, pub, one, 1);
  sfu_router_view_out_t o;
  REQUIRE(view(e, v1, sid, -1, 1, &o) == 0);
  src_t s[3];
  sources(s, chrome_rids);
  for (int f = 0; f < 5; f++) frame(e, pub, &s[0], f == 0);
  fake_peer_t *fv = &e->peers[1];
  uint16_t seq = fv->out[3].seq;
  uint8_t b[256];
  int n = sfu_rtcp_write_pli(b, sizeof b, 5, o.ssrc);
  sfu_router_on_rtcp(e->r, v1, e->now, b, (size_t)n);
  size_t before = fv->n_out;
  n = (int)write_nack(b, o.ssrc, &seq, 1);
  sfu_router_on_rtcp(e->r, v1, e->now, b, (size_t)n);
  CHECK_EQ_INT(fv->n_out, before); /* waiting for a keyframe: not repaired */
  frame(e, pub, &s[0], 1);          /* the keyframe */
  before = fv->n_out;
  uint16_t seq2 = fv->out[fv->n_out - 2].seq;
  n = (int)write_nack(b, o.ssrc, &seq2, 1);
  sfu_router_on_rtcp(e->r, v1, e->now, b, (size_t)n);
  CHECK_EQ_INT(fv->n_out, before + 1); /* after it: repaired again */
  sfu_router_free(e->r);
  free(e);
}

/* libwebrtc's VP8 temporal pattern 0,2,1,2 at 30 fps, T0 frames 4 packets, T1 2, T2 1
 * (1000 bytes each): T0 ~240 kbps, T0+T1 ~360 kbps, all ~480 kbps. Y=1 on the T2 frame
 * after T0 and on T1 (they reference T0 only). */
static void tl_frame_n(env_t *e, sfu_router_peer_t *pub, src_t *s, int f, int key, int mult,
                       size_t size) {
  static const uint8_t tids[4] = {0, 2, 1, 2}, npk[3] = {4, 2, 1};
  s->temporal = 1;
  s->tid = tids[f % 4];
  s->sync = f % 4 == 1 || f % 4 == 2;
  if (s->tid == 0 && f > 0) s->tl0++;
  uint8_t tl0 = s->tl0;
  frame_n(e, pub, s, key, npk[s->tid] * mult, size);
  s->ts -= 3000; /* frame_n steps 15 fps */
  s->tl0 = tl0;  /* TL0PICIDX counts T0 frames only */
}

static void tl_frame(env_t *e, sfu_router_peer_t *pub, src_t *s, int f, int key) {
  tl_frame_n(e, pub, s, f, key, 1, 1000);
}

/* The viewer's packets since index `from`: TIDs seen (bit mask) and media frames. */
static unsigned tids_since(const fake_peer_t *v, size_t from, uint32_t ssrc) {
  unsigned mask = 0;
  for (size_t i = from; i < v->n_out; i++)
    if (v->out[i].ssrc == ssrc && !v->out[i].padding && v->out[i].tid >= 0)
      mask |= 1u << v->out[i].tid;
  return mask;
}

TEST(temporal_layers_budget_for_t0_gets_t0_only_contiguous) {
  env_t *e = malloc(sizeof *e);
  env_init(e, 1280, 720);
  sfu_router_peer_t *pub = add_peer(e, 0, "pub");
  sfu_router_peer_t *v1 = add_peer(e, 1, "v1");
  const char *const one[] = {"q"};
  uint32_t sid = publish(e, pub, one, 1);
  sfu_router_view_out_t o;
  REQUIRE(view(e, v1, sid, -1, 1, &o) == 0);
  src_t s[3];
  sources(s, chrome_rids);
  int f = 0;
  for (; f < 60; f++) { /* 2 s: every rate measured, the view gets everything */
    tl_frame(e, pub, &s[0], f, f == 0);
    advance(e, 33333);
  }
  fake_peer_t *fv = &e->peers[1];
  CHECK_EQ_INT(tids_since(fv, 0, o.ssrc), 0x7);
  /* Measured per TID, cumulative: ~240k, ~360k, ~480k (with headers). */
  sfu_router_stream_info_t si;
  REQUIRE(sfu_router_stream_info(e->r, 0, &si) == 0);
  CHECK_EQ_INT(si.layers[0].n_temporal, 3);
  CHECK(si.layers[0].temporal_bps[0] > 200000 && si.layers[0].temporal_bps[0] < 300000);
  CHECK(si.layers[0].temporal_bps[1] > si.layers[0].temporal_bps[0]);
  CHECK(si.layers[0].temporal_bps[2] > si.layers[0].temporal_bps[1]);
  CHECK(si.layers[0].temporal_bps[2] <= si.layers[0].bitrate_bps);
  sfu_router_view_info_t vi;
  REQUIRE(sfu_router_peer_view_info(v1, 0, &vi) == 0);
  CHECK_EQ_INT(vi.temporal_layer, 2);
  /* REMB 300 kbps: T0 (240k) fits, T0+T1 (360k) does not, nor the full rate: the
   * stream drops frame rate instead of being paused. */
  uint8_t b[64];
  uint32_t ssrc = o.ssrc;
  int n = sfu_rtcp_write_remb(b, sizeof b, 9, 300000, &ssrc, 1);
  sfu_router_on_rtcp(e->r, v1, e->now, b, (size_t)n);
  advance(e, 40000);
  size_t mark = fv->n_out;
  for (int k = 0; k < 40; k++, f++) {
    tl_frame(e, pub, &s[0], f, 0);
    advance(e, 33333);
  }
  REQUIRE(sfu_router_peer_view_info(v1, 0, &vi) == 0);
  CHECK_EQ_INT(vi.paused, 0);
  CHECK_EQ_INT(vi.layer, 0);
  CHECK_EQ_INT(vi.temporal_layer, 0);
  CHECK_EQ_INT(tids_since(fv, mark, o.ssrc), 0x1); /* T0 frames only, */
  CHECK_EQ_INT(fv->n_out - mark, 10 * 4);          /* all 10 of them, whole */
  /* and one stream: no sequence gap (no padding either: frames dropped in order take no
   * slot), picture ids +1 per frame although 3 frames in 4 are dropped. */
  int gaps, back, pics;
  check_continuous(fv, o.ssrc, &gaps, &back, &pics);
  CHECK_EQ_INT(gaps, 0);
  CHECK_EQ_INT(back, 0);
  CHECK_EQ_INT(pics, 0);
  for (size_t i = mark; i < fv->n_out; i++) CHECK(!fv->out[i].padding);
  /* REMB 2 Mbps: back up through the sync frames (T1, then T2), no keyframe needed. */
  size_t plis = e->peers[0].plis;
  n = sfu_rtcp_write_remb(b, sizeof b, 9, 2000000, &ssrc, 1);
  sfu_router_on_rtcp(e->r, v1, e->now, b, (size_t)n);
  advance(e, 40000);
  mark = fv->n_out;
  for (int k = 0; k < 20; k++, f++) {
    tl_frame(e, pub, &s[0], f, 0);
    advance(e, 33333);
  }
  CHECK_EQ_INT(tids_since(fv, mark, o.ssrc), 0x7);
  REQUIRE(sfu_router_peer_view_info(v1, 0, &vi) == 0);
  CHECK_EQ_INT(vi.temporal_layer, 2);
  CHECK_EQ_INT(e->peers[0].plis, plis);
  check_continuous(fv, o.ssrc, &gaps, &back, &pics);
  CHECK_EQ_INT(gaps, 0);
  CHECK_EQ_INT(pics, 0);
  sfu_router_free(e->r);
  free(e);
}

/* Which widths the viewer's keyframes had since `from` (bit 0: 320, 1: 640, 2: 1280). */
static unsigned key_widths_since(const fake_peer_t *v, size_t from) {
  unsigned mask = 0;
  for (size_t i = from; i < v->n_out; i++)
    if (v->out[i].keyframe) mask |= v->out[i].width == 320 ? 1u : v->out[i].width == 640 ? 2u : 4u;
  return mask;
}

/* Three simulcast layers, each with 3 temporal layers: rungs ~(q) 70k 110k 150k, (h) 370k
 * 490k, (f) 740k 980k. A budget between f's half and full rate cuts f's frame rate at
 * once with no keyframe; a lower one moves to h at half rate through h's keyframe; the
 * viewer sees one stream throughout. */
TEST(temporal_and_spatial_switches_one_stream) {
  env_t *e = malloc(sizeof *e);
  env_init(e, 1280, 720);
  sfu_router_peer_t *pub = add_peer(e, 0, "pub");
  sfu_router_peer_t *v1 = add_peer(e, 1, "v1");
  uint32_t sid = publish(e, pub, chrome_rids, 3);
  sfu_router_view_out_t o;
  REQUIRE(view(e, v1, sid, -1, 1, &o) == 0);
  src_t s[3];
  sources(s, chrome_rids);
  static const int mult[3] = {1, 1, 2};
  static const size_t size[3] = {300, 1000, 1000};
  int f = 0;
  for (; f < 120; f++) { /* 4 s: the allocation ran after every layer was measured */
    for (int i = 0; i < 3; i++) tl_frame_n(e, pub, &s[i], f, f == 0, mult[i], size[i]);
    advance(e, 33333);
  }
  fake_peer_t *fv = &e->peers[1];
  sfu_router_view_info_t vi;
  REQUIRE(sfu_router_peer_view_info(v1, 0, &vi) == 0);
  CHECK_EQ_INT(vi.layer, 2);
  CHECK_EQ_INT(vi.temporal_layer, 2);
  uint8_t b[64];
  uint32_t ssrc = o.ssrc;
  /* 850k: f at half rate; no keyframe asked for, no spatial switch. */
  size_t plis = e->peers[0].plis;
  int n = sfu_rtcp_write_remb(b, sizeof b, 9, 850000, &ssrc, 1);
  sfu_router_on_rtcp(e->r, v1, e->now, b, (size_t)n);
  advance(e, 40000);
  size_t mark = fv->n_out;
  for (int k = 0; k < 40; k++, f++) {
    for (int i = 0; i < 3; i++) tl_frame_n(e, pub, &s[i], f, 0, mult[i], size[i]);
    advance(e, 33333);
  }
  REQUIRE(sfu_router_peer_view_info(v1, 0, &vi) == 0);
  CHECK_EQ_INT(vi.layer, 2);
  CHECK_EQ_INT(vi.target_temporal, 1);
  CHECK_EQ_INT(vi.temporal_layer, 1);
  CHECK_EQ_INT(tids_since(fv, mark, o.ssrc), 0x3);
  CHECK_EQ_INT(e->peers[0].plis, plis);
  /* 420k: h at half rate, through h's keyframe. */
  n = sfu_rtcp_write_remb(b, sizeof b, 9, 420000, &ssrc, 1);
  sfu_router_on_rtcp(e->r, v1, e->now, b, (size_t)n);
  advance(e, 40000);
  mark = fv->n_out;
  for (int k = 0; k < 40; k++, f++) {
    for (int i = 0; i < 3; i++) tl_frame_n(e, pub, &s[i], f, 0, mult[i], size[i]);
    advance(e, 33333);
  }
  REQUIRE(sfu_router_peer_view_info(v1, 0, &vi) == 0);
  CHECK_EQ_INT(vi.layer, 1);
  CHECK_EQ_INT(vi.temporal_layer, 1);
  CHECK(e->peers[0].plis > plis);
  CHECK_EQ_INT(key_widths_since(fv, mark), 0x2);
  CHECK_EQ_INT(tids_since(fv, mark, o.ssrc), 0x3);
  /* One stream from the first packet to the last: no sequence gap, no picture id gap
   * (frames dropped on purpose take none; a switch continues at +1), time forwards. */
  int gaps, back, pics;
  check_continuous(fv, o.ssrc, &gaps, &back, &pics);
  CHECK_EQ_INT(gaps, 0);
  CHECK_EQ_INT(back, 0);
  CHECK_EQ_INT(pics, 0);
  sfu_router_free(e->r);
  free(e);
}

/* Repairs the viewer could not use or its link cannot carry are skipped: the top
 * layer's packets while a down-switch waits for the low keyframe, and after the switch;
 * the new layer's packets are repaired as usual. */
TEST(no_repairs_of_a_layer_being_left) {
  sfu_router_peer_t *pub, *v1;
  uint32_t sid;
  sfu_router_view_out_t o;
  src_t s[3];
  env_t *e = three_layers_viewed(&pub, &v1, &sid, &o, s);
  fake_peer_t *fv = &e->peers[1];
  uint16_t top_seq = fv->out[fv->n_out - 2].seq;
  uint8_t b[256];
  /* control: the top layer's packet is repaired while the view is on it */
  int n = (int)write_nack(b, o.ssrc, &top_seq, 1);
  size_t before = fv->n_out;
  sfu_router_on_rtcp(e->r, v1, e->now, b, (size_t)n);
  CHECK_EQ_INT(fv->n_out, before + 1);
  /* down to the lowest layer: pending until its keyframe; the top's repairs stop */
  REQUIRE(view(e, v1, sid, 0, 1, NULL) == 0);
  uint16_t top_seq2 = fv->out[fv->n_out - 3].seq;
  e->now += 600000;
  n = (int)write_nack(b, o.ssrc, &top_seq2, 1);
  before = fv->n_out;
  sfu_router_on_rtcp(e->r, v1, e->now, b, (size_t)n);
  CHECK_EQ_INT(fv->n_out, before);
  for (int i = 0; i < 3; i++) frame(e, pub, &s[i], i == 0); /* the low keyframe: switched */
  advance(e, 66000);
  e->now += 600000;
  sfu_router_on_rtcp(e->r, v1, e->now, b, (size_t)n);
  n = (int)write_nack(b, o.ssrc, &top_seq, 1);
  sfu_router_on_rtcp(e->r, v1, e->now, b, (size_t)n);
  before = fv->n_out;
  CHECK_EQ_INT(fv->n_out, before);
  sfu_router_view_info_t vi;
  REQUIRE(sfu_router_peer_view_info(v1, 0, &vi) == 0);
  CHECK_EQ_INT(vi.layer, 0);
  CHECK_EQ_INT(vi.repairs_skipped, 3);
  /* the new layer's packets are repaired */
  uint16_t low_seq = fv->out[fv->n_out - 1].seq;
  n = (int)write_nack(b, o.ssrc, &low_seq, 1);
  sfu_router_on_rtcp(e->r, v1, e->now, b, (size_t)n);
  CHECK_EQ_INT(fv->n_out, before + 1);
  sfu_router_free(e->r);
  free(e);
}

int main(void) {
  RUN(simulcast_index_order_and_top_layer);
  RUN(max_layer_switch_lands_on_keyframe_continuous);
  RUN(no_repairs_of_a_layer_being_left);
  RUN(padding_dropped_and_out_of_sequence_space);
  RUN(nack_answered_with_rtx_or_identical_resend_once_per_rtt);
  RUN(resend_with_a_shared_ssrc_reads_its_own_publisher);
  RUN(pli_flood_folds_into_throttled_requests);
  RUN(resolution_over_limit_refused_with_reference_message);
  RUN(stream_limit_and_capabilities);
  RUN(publisher_leaves_stops_video_and_views);
  RUN(garbage_behind_valid_header_not_forwarded);
  RUN(upstream_nack_and_reports);
  RUN(viewer_remb_picks_the_layer_that_fits);
  RUN(over_bitrate_gets_remb_then_drops_after_5s);
  RUN(switch_timestamps_mapped_through_sender_reports);
  RUN(view_starts_only_once_its_transport_carries_media);
  RUN(viewer_rtt_from_its_receiver_reports_paces_resends);
  RUN(after_a_pli_old_packets_are_not_resent);
  RUN(temporal_layers_budget_for_t0_gets_t0_only_contiguous);
  RUN(temporal_and_spatial_switches_one_stream);
  return test_summary();
}
