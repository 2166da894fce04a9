/* Unit tests for the viewer-stream rewriter (sfu/rtp_rewrite.h) and the outgoing-packet
 * builder (sfu/rtp_forward.h). */
#include <stdlib.h>
#include <string.h>

#include "sfu/codec_vp8.h"
#include "sfu/err.h"
#include "sfu/rtp.h"
#include "sfu/rtp_ext.h"
#include "sfu/rtp_forward.h"
#include "sfu/rtp_rewrite.h"
#include "sfu/temporal_filter.h"
#include "test.h"

/* ======================================================================================
 * The builder
 * ====================================================================================== */

/* A publisher's VP8 packet: one-byte extensions abs-send-time (2), twcc (4), mid (9),
 * rid (10), playout-delay (11), an unknown id (12), video-orientation (13); one CSRC;
 * VP8 descriptor with a 7-bit picture id (37) and TL0PICIDX (5); 4 bytes of padding. */
static const uint8_t pub_pkt[] = {
    0xb1, 0x60, 0x1a, 0x2b,             /* V=2 P=1 X=1 CC=1, M=0 PT=96, seq 0x1a2b */
    0x00, 0x01, 0x86, 0xa0,             /* timestamp 100000 */
    0xde, 0xad, 0xbe, 0xef,             /* SSRC */
    0xca, 0xfe, 0xf0, 0x0d,             /* CSRC */
    0xbe, 0xde, 0x00, 0x05,             /* one-byte profile, 5 words */
    0x22, 0x12, 0x34, 0x56,             /* id 2 L=2: abs-send-time */
    0x41, 0x00, 0x2a,                   /* id 4 L=1: twcc seq 42 */
    0x90, '0',                          /* id 9: mid "0" */
    0xa0, 'h',                          /* id 10: rid "h" */
    0xb2, 0x01, 0x02, 0x03,             /* id 11 L=2: playout-delay */
    0xc0, 0x77,                         /* id 12: unknown */
    0xd0, 0x03,                         /* id 13: video-orientation */
    0x00,                               /* padding */
    0x90, 0xc0, 0x25, 0x05,             /* VP8: X S; I L; PictureID 37 (7-bit); TL0PICIDX 5 */
    0x01, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, /* inter frame payload */
    0x00, 0x00, 0x00, 0x04,             /* RTP padding, 4 bytes */
};
#define PUB_PAYLOAD_OFF 40

static void pub_map(sfu_rtp_ext_map_t *m) {
  sfu_rtp_ext_map_init(m);
  sfu_rtp_ext_map_set(m, 2, SFU_EXT_ABS_SEND_TIME);
  sfu_rtp_ext_map_set(m, 4, SFU_EXT_TWCC);
  sfu_rtp_ext_map_set(m, 9, SFU_EXT_MID);
  sfu_rtp_ext_map_set(m, 10, SFU_EXT_RID);
  sfu_rtp_ext_map_set(m, 11, SFU_EXT_PLAYOUT_DELAY);
  sfu_rtp_ext_map_set(m, 13, SFU_EXT_VIDEO_ORIENTATION);
}

static int count_ext(const sfu_rtp_hdr_t *h) {
  sfu_rtp_ext_iter_t it;
  uint8_t id;
  const uint8_t *d;
  size_t n;
  int k = 0, r;
  sfu_rtp_ext_iter_init(&it, h);
  while ((r = sfu_rtp_ext_iter_next(&it, &id, &d, &n)) == 1) k++;
  return r == 0 ? k : -1;
}

static int ext_is(const sfu_rtp_hdr_t *h, uint8_t id, const void *want, size_t len) {
  const uint8_t *d;
  size_t n;
  return sfu_rtp_ext_find(h, id, &d, &n) == 0 && n == len && memcmp(d, want, len) == 0;
}

static sfu_fwd_params_t viewer_params(const sfu_rtp_ext_map_t *in, const sfu_rtp_ext_map_t *out) {
  return (sfu_fwd_params_t){.ssrc = 0x11223344,
                            .seq = 7,
                            .ts = 0xfffffff0,
                            .pt = 100,
                            .marker = -1,
                            .in_map = in,
                            .out_map = out,
                            .mid = "v1",
                            .mid_len = 2,
                            .has_twcc = 1,
                            .twcc_seq = 0xbeef,
                            .has_abs_send_time = 1,
                            .abs_send_time = 0xabcdef,
                            .vp8 = 1,
                            .pic_id = 0x1234,
                            .tl0 = 200};
}

TEST(build_round_trip_one_byte_remap_and_vp8_growth) {
  sfu_rtp_hdr_t in, h;
  sfu_vp8_desc_t d, d2;
  REQUIRE(sfu_rtp_parse(pub_pkt, sizeof pub_pkt, &in) == 0);
  REQUIRE(sfu_vp8_parse(in.payload, in.payload_len, &d) == 0);
  REQUIRE(d.picture_id_bits == 7 && d.picture_id == 37 && d.tl0picidx == 5);
  sfu_rtp_ext_map_t im, om;
  pub_map(&im);
  sfu_rtp_ext_map_init(&om); /* the viewer's ids differ from the publisher's */
  sfu_rtp_ext_map_set(&om, 1, SFU_EXT_MID);
  sfu_rtp_ext_map_set(&om, 3, SFU_EXT_TWCC);
  sfu_rtp_ext_map_set(&om, 2, SFU_EXT_ABS_SEND_TIME);
  sfu_rtp_ext_map_set(&om, 5, SFU_EXT_PLAYOUT_DELAY);
  sfu_rtp_ext_map_set(&om, 7, SFU_EXT_VIDEO_ORIENTATION);
  sfu_rtp_ext_map_set(&om, 8, SFU_EXT_RID);      /* negotiated, yet never forwarded */
  sfu_rtp_ext_map_set(&om, 12, SFU_EXT_TOFFSET); /* the publisher's id 12 is unknown */
  sfu_fwd_params_t p = viewer_params(&im, &om);

  uint8_t out[256];
  int n = sfu_rtp_forward_build(out, sizeof out, &in, &d, &p);
  REQUIRE(n > 0);
  REQUIRE(sfu_rtp_parse(out, (size_t)n, &h) == 0);
  CHECK_EQ_INT(h.padding, 0);
  CHECK_EQ_INT(h.marker, 0);
  CHECK_EQ_INT(h.payload_type, 100);
  CHECK_EQ_INT(h.seq, 7);
  CHECK_EQ_INT(h.timestamp, 0xfffffff0u);
  CHECK_EQ_INT(h.ssrc, 0x11223344);
  CHECK_EQ_INT(h.csrc_count, 1);
  CHECK_EQ_INT(sfu_rd32(out + 12), 0xcafef00d);
  CHECK_EQ_INT(h.ext_profile, SFU_RTP_EXT_PROFILE_ONE_BYTE);
  CHECK_EQ_INT(count_ext(&h), 5);
  CHECK(ext_is(&h, 1, "v1", 2));
  CHECK(ext_is(&h, 3, "\xbe\xef", 2));
  CHECK(ext_is(&h, 2, "\xab\xcd\xef", 3));
  CHECK(ext_is(&h, 5, "\x01\x02\x03", 3));
  CHECK(ext_is(&h, 7, "\x03", 1));
  const uint8_t *x;
  size_t xl;
  CHECK_EQ_INT(sfu_rtp_ext_find(&h, 8, &x, &xl), SFU_ENOENT);  /* rid dropped */
  CHECK_EQ_INT(sfu_rtp_ext_find(&h, 12, &x, &xl), SFU_ENOENT); /* unknown dropped */
  CHECK_EQ_INT(h.ext_len % 4, 0);

  /* VP8: the 7-bit field became 15 bits, the payload moved by one byte. */
  CHECK_EQ_INT(h.payload_len, in.payload_len + 1);
  REQUIRE(sfu_vp8_parse(h.payload, h.payload_len, &d2) == 0);
  CHECK_EQ_INT(d2.picture_id_bits, 15);
  CHECK_EQ_INT(d2.picture_id, 0x1234);
  CHECK_EQ_INT(d2.has_tl0picidx, 1);
  CHECK_EQ_INT(d2.tl0picidx, 200);
  CHECK_EQ_INT(d2.desc_len, d.desc_len + 1);
  CHECK(memcmp(h.payload + d2.desc_len, in.payload + d.desc_len, in.payload_len - d.desc_len) == 0);
  CHECK_EQ_INT(d2.start, 1);

  /* Deterministic: same inputs, same bytes, whatever was in the buffer before. */
  uint8_t again[256];
  memset(again, 0x5a, sizeof again);
  CHECK_EQ_INT(sfu_rtp_forward_build(again, sizeof again, &in, &d, &p), n);
  CHECK(memcmp(out, again, (size_t)n) == 0);

  /* Exact capacity is enough, one byte less is not. */
  CHECK_EQ_INT(sfu_rtp_forward_build(again, (size_t)n, &in, &d, &p), n);
  CHECK_EQ_INT(sfu_rtp_forward_build(again, (size_t)n - 1, &in, &d, &p), SFU_ETOOBIG);

  /* An element the publisher repeats is copied once (the first). */
  uint8_t twice[sizeof pub_pkt];
  memcpy(twice, pub_pkt, sizeof twice);
  twice[35] = 0xd0, twice[36] = 0x05; /* the unknown id 12 becomes an orientation, first */
  REQUIRE(sfu_rtp_parse(twice, sizeof twice, &in) == 0);
  n = sfu_rtp_forward_build(again, sizeof again, &in, &d, &p);
  REQUIRE(n > 0);
  REQUIRE(sfu_rtp_parse(again, (size_t)n, &h) == 0);
  CHECK_EQ_INT(count_ext(&h), 5);
  CHECK(ext_is(&h, 7, "\x05", 1));
  REQUIRE(sfu_rtp_parse(pub_pkt, sizeof pub_pkt, &in) == 0);

  /* marker given explicitly */
  p.marker = 1;
  REQUIRE(sfu_rtp_forward_build(again, sizeof again, &in, &d, &p) == n);
  REQUIRE(sfu_rtp_parse(again, (size_t)n, &h) == 0);
  CHECK_EQ_INT(h.marker, 1);
}

TEST(build_two_byte_form_when_an_id_is_over_14) {
  sfu_rtp_hdr_t in, h;
  sfu_vp8_desc_t d;
  REQUIRE(sfu_rtp_parse(pub_pkt, sizeof pub_pkt, &in) == 0);
  REQUIRE(sfu_vp8_parse(in.payload, in.payload_len, &d) == 0);
  sfu_rtp_ext_map_t im, om;
  pub_map(&im);
  sfu_rtp_ext_map_init(&om);
  sfu_rtp_ext_map_set(&om, 1, SFU_EXT_MID);
  sfu_rtp_ext_map_set(&om, 20, SFU_EXT_TWCC);
  sfu_rtp_ext_map_set(&om, 200, SFU_EXT_VIDEO_ORIENTATION);
  sfu_fwd_params_t p = viewer_params(&im, &om);
  uint8_t out[256];
  int n = sfu_rtp_forward_build(out, sizeof out, &in, &d, &p);
  REQUIRE(n > 0);
  REQUIRE(sfu_rtp_parse(out, (size_t)n, &h) == 0);
  CHECK_EQ_INT(h.ext_profile, SFU_RTP_EXT_PROFILE_TWO_BYTE);
  CHECK_EQ_INT(count_ext(&h), 3);
  CHECK(ext_is(&h, 1, "v1", 2));
  CHECK(ext_is(&h, 20, "\xbe\xef", 2));
  CHECK(ext_is(&h, 200, "\x03", 1));

  /* A mid longer than 16 bytes needs the two-byte form too. */
  sfu_rtp_ext_map_init(&om);
  sfu_rtp_ext_map_set(&om, 1, SFU_EXT_MID);
  p.mid = "a-mid-of-twenty-chars";
  p.mid_len = strlen(p.mid);
  n = sfu_rtp_forward_build(out, sizeof out, &in, &d, &p);
  REQUIRE(n > 0);
  REQUIRE(sfu_rtp_parse(out, (size_t)n, &h) == 0);
  CHECK_EQ_INT(h.ext_profile, SFU_RTP_EXT_PROFILE_TWO_BYTE);
  CHECK(ext_is(&h, 1, p.mid, p.mid_len));
  p.mid_len = 256;
  CHECK_EQ_INT(sfu_rtp_forward_build(out, sizeof out, &in, &d, &p), SFU_EINVAL);

  /* No map at all: no extension block, no X bit. */
  p.out_map = NULL;
  p.mid_len = 2;
  n = sfu_rtp_forward_build(out, sizeof out, &in, &d, &p);
  REQUIRE(n > 0);
  REQUIRE(sfu_rtp_parse(out, (size_t)n, &h) == 0);
  CHECK_EQ_INT(h.extension, 0);
  CHECK_EQ_INT(h.header_len, 16);
}

TEST(build_copies_non_vp8_and_15_bit_payloads_unchanged) {
  sfu_rtp_hdr_t in, h;
  sfu_vp8_desc_t d, d2;
  uint8_t pkt[sizeof pub_pkt];
  memcpy(pkt, pub_pkt, sizeof pkt);
  /* PictureID 0x2345 in 15 bits: swap the 7-bit id and TL0 for |M|id hi| id lo |, no TL0 */
  pkt[PUB_PAYLOAD_OFF + 1] = 0x80; /* I only */
  pkt[PUB_PAYLOAD_OFF + 2] = 0x80 | 0x23;
  pkt[PUB_PAYLOAD_OFF + 3] = 0x45;
  REQUIRE(sfu_rtp_parse(pkt, sizeof pkt, &in) == 0);
  REQUIRE(sfu_vp8_parse(in.payload, in.payload_len, &d) == 0);
  REQUIRE(d.picture_id_bits == 15 && d.picture_id == 0x2345 && !d.has_tl0picidx);
  sfu_rtp_ext_map_t im;
  pub_map(&im);
  sfu_fwd_params_t p = viewer_params(&im, NULL);
  uint8_t out[256];
  int n = sfu_rtp_forward_build(out, sizeof out, &in, &d, &p);
  REQUIRE(n > 0);
  REQUIRE(sfu_rtp_parse(out, (size_t)n, &h) == 0);
  CHECK_EQ_INT(h.payload_len, in.payload_len);
  REQUIRE(sfu_vp8_parse(h.payload, h.payload_len, &d2) == 0);
  CHECK_EQ_INT(d2.picture_id, 0x1234);
  CHECK_EQ_INT(d2.has_tl0picidx, 0);
  CHECK(memcmp(h.payload + 4, in.payload + 4, in.payload_len - 4) == 0);

  /* Not VP8 (or no descriptor): the payload as is. */
  p.vp8 = 0;
  n = sfu_rtp_forward_build(out, sizeof out, &in, &d, &p);
  REQUIRE(n > 0);
  REQUIRE(sfu_rtp_parse(out, (size_t)n, &h) == 0);
  CHECK(h.payload_len == in.payload_len && memcmp(h.payload, in.payload, in.payload_len) == 0);
  p.vp8 = 1;
  n = sfu_rtp_forward_build(out, sizeof out, &in, NULL, &p);
  REQUIRE(n > 0);
  REQUIRE(sfu_rtp_parse(out, (size_t)n, &h) == 0);
  CHECK(h.payload_len == in.payload_len && memcmp(h.payload, in.payload, in.payload_len) == 0);

  /* A descriptor that does not fit the payload is refused, not trusted. */
  sfu_vp8_desc_t bad = d;
  bad.desc_len = 200;
  CHECK_EQ_INT(sfu_rtp_forward_build(out, sizeof out, &in, &bad, &p), SFU_EINVAL);
  bad = d;
  bad.picture_id_off = 0;
  CHECK_EQ_INT(sfu_rtp_forward_build(out, sizeof out, &in, &bad, &p), SFU_EINVAL);
}

TEST(build_refuses_padding_only) {
  uint8_t pkt[32] = {0xa0, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2};
  pkt[31] = 20; /* 20 bytes of padding: all of the payload */
  sfu_rtp_hdr_t in;
  REQUIRE(sfu_rtp_parse(pkt, sizeof pkt, &in) == 0);
  REQUIRE(sfu_rtp_is_padding_only(&in));
  sfu_fwd_params_t p = viewer_params(NULL, NULL);
  uint8_t out[64];
  CHECK_EQ_INT(sfu_rtp_forward_build(out, sizeof out, &in, NULL, &p), SFU_EINVAL);
}

TEST(padding_build_is_padding_only) {
  sfu_rtp_ext_map_t om;
  sfu_rtp_ext_map_init(&om);
  sfu_rtp_ext_map_set(&om, 1, SFU_EXT_MID);
  sfu_rtp_ext_map_set(&om, 3, SFU_EXT_TWCC);
  sfu_fwd_params_t p = viewer_params(NULL, &om);
  uint8_t out[64];
  int n = sfu_rtp_padding_build(out, sizeof out, 20, &p);
  REQUIRE(n > 0);
  sfu_rtp_hdr_t h;
  REQUIRE(sfu_rtp_parse(out, (size_t)n, &h) == 0);
  CHECK(sfu_rtp_is_padding_only(&h));
  CHECK_EQ_INT(h.pad_len, 20);
  CHECK_EQ_INT(h.seq, 7);
  CHECK_EQ_INT(h.marker, 0);
  CHECK(ext_is(&h, 1, "v1", 2));
  CHECK(ext_is(&h, 3, "\xbe\xef", 2));
  CHECK_EQ_INT(sfu_rtp_padding_build(out, (size_t)n - 1, 20, &p), SFU_ETOOBIG);
  CHECK_EQ_INT(sfu_rtp_padding_build(out, sizeof out, 0, &p), SFU_EINVAL);
}

/* ======================================================================================
 * The rewriter
 * ====================================================================================== */

/* A simulated publisher layer: each frame is `ppf` packets, ts step `ticks`. */
typedef struct {
  uint32_t ssrc;
  uint16_t seq;
  uint32_t ts, ticks;
  uint16_t pic;
  uint8_t bits, tl0;
} layer_t;

/* Packet k of the layer's next frame (k == 0 starts it). The layer advances after the
 * frame's last packet. */
static sfu_rw_in_t layer_pkt(layer_t *l, int k, int ppf, int key) {
  sfu_rw_in_t in = {.src = l->ssrc,
                    .seq = l->seq++,
                    .ts = l->ts,
                    .keyframe = (uint8_t)(key && k == 0),
                    .frame_start = (uint8_t)(k == 0),
                    .has_pic_id = 1,
                    .pic_id = l->pic,
                    .pic_id_bits = l->bits,
                    .has_tl0 = 1,
                    .tl0 = l->tl0};
  if (k == ppf - 1) {
    l->ts += l->ticks;
    l->pic = (uint16_t)((l->pic + 1) & ((1u << l->bits) - 1));
    l->tl0++;
  }
  return in;
}

/* The viewer's side: every output must continue the previous one. */
typedef struct {
  sfu_rewrite_t rw;
  int have;
  sfu_rw_out_t last;
  uint32_t out_seqs_checked;
  int errors;
} viewer_t;

static void viewer_fwd(viewer_t *v, const sfu_rw_in_t *in) {
  sfu_rw_out_t o;
  int r = sfu_rewrite_map(&v->rw, in, &o);
  CHECK_EQ_INT(r, 0);
  if (r) return;
  if (v->have) {
    CHECK_EQ_INT(o.seq, (uint16_t)(v->last.seq + 1));
    if (in->frame_start) {
      CHECK((int32_t)(o.ts - v->last.ts) > 0);
      CHECK_EQ_INT(o.pic_id, (v->last.pic_id + 1) & 0x7fff);
      CHECK_EQ_INT(o.tl0, (uint8_t)(v->last.tl0 + 1));
    } else {
      CHECK_EQ_INT(o.ts, v->last.ts);
      CHECK_EQ_INT(o.pic_id, v->last.pic_id);
    }
  }
  CHECK(o.pic_id <= 0x7fff);
  v->have = 1;
  v->last = o;
  v->out_seqs_checked++;
}

static void viewer_frames(viewer_t *v, layer_t *l, int frames, int switch_first) {
  for (int f = 0; f < frames; f++)
    for (int k = 0; k < 3; k++) {
      sfu_rw_in_t in = layer_pkt(l, k, 3, switch_first && f == 0);
      if (switch_first && f == 0 && k == 0) sfu_rewrite_switch(&v->rw, &in, 0, 0);
      viewer_fwd(v, &in);
    }
}

/* The other layers keep sending while the viewer is elsewhere. */
static void layer_idle(layer_t *l, int frames) {
  for (int f = 0; f < frames; f++)
    for (int k = 0; k < 3; k++) (void)layer_pkt(l, k, 3, 0);
}

static viewer_t g_viewer;

TEST(rw_continuous_across_switches_and_wraps) {
  viewer_t *v = &g_viewer;
  memset(v, 0, sizeof *v);
  /* Output seq wraps after 3 packets, output ts after a few frames, output picture id
   * after 2 frames. */
  sfu_rewrite_init(&v->rw, 0xabc, 65533, 0xffffe000u, 0x7ffe);
  layer_t l0 = {
      .ssrc = 0x1000, .seq = 100, .ts = 1000, .ticks = 6000, .pic = 120, .bits = 7, .tl0 = 250};
  layer_t l1 = {.ssrc = 0x2000,
                .seq = 50000,
                .ts = 3000000000u,
                .ticks = 3000,
                .pic = 0x7ff0,
                .bits = 15,
                .tl0 = 10};
  layer_t l2 = {.ssrc = 0x3000,
                .seq = 65500,
                .ts = 0xfffff000u,
                .ticks = 3000,
                .pic = 500,
                .bits = 15,
                .tl0 = 0};

  viewer_frames(v, &l0, 20, 1); /* 7-bit picture id wraps at 127, TL0 at 255 */
  CHECK_EQ_INT(v->last.seq, (uint16_t)(65533 + 59));
  CHECK_EQ_INT(v->last.ts, 0xffffe000u + 19 * 6000u);
  layer_idle(&l1, 5);
  layer_idle(&l2, 5);
  viewer_frames(v, &l2, 20, 1); /* up: source seq and ts wrap inside */
  layer_idle(&l0, 5);
  layer_idle(&l1, 5);
  viewer_frames(v, &l1, 20, 1); /* down: source picture id wraps at 0x7fff */
  viewer_frames(v, &l0, 10, 1);
  viewer_frames(v, &l2, 10, 1);
  CHECK_EQ_INT(v->out_seqs_checked, 80 * 3);
  CHECK_EQ_INT(v->rw.stale, 0);
  /* The picture id went round 0x7fff -> 0 (started at 0x7ffe, 80 frames). */
  CHECK_EQ_INT(v->last.pic_id, (0x7ffe + 79) & 0x7fff);
  CHECK_EQ_INT(v->last.tl0, 79);
}

TEST(rw_switch_timestamps) {
  static sfu_rewrite_t rw;
  sfu_rw_out_t o;
  sfu_rewrite_init(&rw, 1, 0, 5000, 0);
  sfu_rw_in_t a = {.src = 1, .seq = 10, .ts = 777, .keyframe = 1, .frame_start = 1};
  /* The first switch: first_ts unless the router says otherwise. */
  sfu_rewrite_switch(&rw, &a, 0, 0);
  REQUIRE(sfu_rewrite_map(&rw, &a, &o) == 0);
  CHECK_EQ_INT(o.ts, 5000);
  /* Frames 4500 apart (20 fps): the estimate for the next switch. */
  a.seq++, a.ts += 4500;
  REQUIRE(sfu_rewrite_map(&rw, &a, &o) == 0);
  CHECK_EQ_INT(o.ts, 9500);
  a.seq++, a.frame_start = 0; /* same frame */
  REQUIRE(sfu_rewrite_map(&rw, &a, &o) == 0);
  CHECK_EQ_INT(o.ts, 9500);

  sfu_rw_in_t b = {.src = 2, .seq = 40000, .ts = 123456789, .keyframe = 1, .frame_start = 1};
  sfu_rewrite_switch(&rw, &b, 0, 0); /* no SR mapping: last + one frame */
  REQUIRE(sfu_rewrite_map(&rw, &b, &o) == 0);
  CHECK_EQ_INT(o.ts, 9500 + 4500);
  CHECK_EQ_INT(o.seq, 3);

  sfu_rw_in_t c = {.src = 3, .seq = 7, .ts = 42, .keyframe = 1, .frame_start = 1};
  sfu_rewrite_switch(&rw, &c, 1, 20000); /* the SR mapping: exactly that */
  REQUIRE(sfu_rewrite_map(&rw, &c, &o) == 0);
  CHECK_EQ_INT(o.ts, 20000);
  c.seq++, c.ts += 3000;
  REQUIRE(sfu_rewrite_map(&rw, &c, &o) == 0);
  CHECK_EQ_INT(o.ts, 23000);

  sfu_rewrite_switch(&rw, &b, 1, 19000); /* a mapping into the past: never backwards */
  b.seq = 40100;
  sfu_rewrite_switch(&rw, &b, 1, 19000);
  REQUIRE(sfu_rewrite_map(&rw, &b, &o) == 0);
  CHECK_EQ_INT(o.ts, 23001);

  /* Across the 32-bit wrap. */
  sfu_rewrite_init(&rw, 1, 0, 0xfffffff0u, 0);
  sfu_rewrite_switch(&rw, &a, 0, 0);
  REQUIRE(sfu_rewrite_map(&rw, &a, &o) == 0);
  sfu_rewrite_switch(&rw, &b, 0, 0);
  REQUIRE(sfu_rewrite_map(&rw, &b, &o) == 0);
  CHECK_EQ_INT(o.ts, 2984);                    /* 0xfffffff0 + 3000 */
  sfu_rewrite_switch(&rw, &c, 1, 0xffffff00u); /* "before" the last across the wrap */
  REQUIRE(sfu_rewrite_map(&rw, &c, &o) == 0);
  CHECK_EQ_INT(o.ts, 2985);
}

TEST(rw_picture_id_gaps_within_a_source_continue_at_switch) {
  static sfu_rewrite_t rw;
  sfu_rw_out_t o;
  sfu_rewrite_init(&rw, 1, 0, 0, 100);
  /* Source frames 10, 12, 14 (the viewer gets TL0 only): output keeps the gaps. */
  sfu_rw_in_t a = {.src = 1,
                   .seq = 1,
                   .ts = 0,
                   .frame_start = 1,
                   .has_pic_id = 1,
                   .pic_id = 10,
                   .pic_id_bits = 15,
                   .has_tl0 = 1,
                   .tl0 = 3};
  sfu_rewrite_switch(&rw, &a, 0, 0);
  REQUIRE(sfu_rewrite_map(&rw, &a, &o) == 0);
  CHECK_EQ_INT(o.pic_id, 100);
  CHECK_EQ_INT(o.tl0, 0);
  for (int i = 1; i <= 2; i++) {
    sfu_rewrite_skip(&rw, 1, ++a.seq); /* the TL1 frame between */
    a.seq++, a.ts += 6000, a.pic_id += 2, a.tl0++;
    REQUIRE(sfu_rewrite_map(&rw, &a, &o) == 0);
    CHECK_EQ_INT(o.pic_id, 100 + 2 * i);
    CHECK_EQ_INT(o.tl0, i);
    CHECK_EQ_INT(o.seq, i);
  }
  /* A 7-bit source at the switch: last + 1, in 15 bits. */
  sfu_rw_in_t b = {.src = 2,
                   .seq = 9,
                   .ts = 0,
                   .frame_start = 1,
                   .has_pic_id = 1,
                   .pic_id = 127,
                   .pic_id_bits = 7,
                   .has_tl0 = 1,
                   .tl0 = 255};
  sfu_rewrite_switch(&rw, &b, 0, 0);
  REQUIRE(sfu_rewrite_map(&rw, &b, &o) == 0);
  CHECK_EQ_INT(o.pic_id, 105);
  CHECK_EQ_INT(o.tl0, 3);
  b.seq++, b.pic_id = 0, b.tl0 = 0; /* the source wraps: the output does not */
  REQUIRE(sfu_rewrite_map(&rw, &b, &o) == 0);
  CHECK_EQ_INT(o.pic_id, 106);
  CHECK_EQ_INT(o.tl0, 4);
  /* 300 frames of the 7-bit source: the field wraps twice, the output never does. */
  for (int i = 1; i <= 300; i++) {
    b.seq++, b.pic_id = (uint16_t)((b.pic_id + 1) & 0x7f), b.tl0++;
    REQUIRE(sfu_rewrite_map(&rw, &b, &o) == 0);
    CHECK_EQ_INT(o.pic_id, 106 + i);
    CHECK_EQ_INT(o.tl0, (uint8_t)(4 + i));
  }
  /* A packet from before the switch point is stale. */
  b.seq = 8, b.pic_id = 127, b.tl0 = 255, b.frame_start = 0;
  sfu_rewrite_skip(&rw, 2, 8); /* older than the switch: ignored */
  CHECK_EQ_INT(sfu_rewrite_map(&rw, &b, &o), SFU_ESTALE);
}

/* Maps (src 1) and returns the out seq, or -1. */
static int map1(sfu_rewrite_t *rw, uint16_t seq) {
  sfu_rw_in_t in = {.src = 1, .seq = seq, .ts = 90};
  sfu_rw_out_t o;
  return sfu_rewrite_map(rw, &in, &o) == 0 ? o.seq : -1;
}

static void start1(sfu_rewrite_t *rw, uint16_t first_out, uint16_t seq) {
  sfu_rewrite_init(rw, 9, first_out, 0, 0);
  sfu_rw_in_t in = {.src = 1, .seq = seq, .keyframe = 1, .frame_start = 1};
  sfu_rewrite_switch(rw, &in, 0, 0);
}

TEST(rw_padding_skipped_in_order) {
  static sfu_rewrite_t rw;
  sfu_rw_out_t hole;
  start1(&rw, 65534, 65533); /* both the source and the output wrap below */
  CHECK_EQ_INT(map1(&rw, 65533), 65534);
  sfu_rewrite_skip(&rw, 1, 65534);
  sfu_rewrite_skip(&rw, 1, 65535);
  CHECK_EQ_INT(map1(&rw, 0), 65535);
  sfu_rewrite_skip(&rw, 1, 1);
  CHECK_EQ_INT(map1(&rw, 2), 0);
  CHECK_EQ_INT(map1(&rw, 3), 1);
  CHECK_EQ_INT(sfu_rewrite_take_hole(&rw, &hole), 0);
  /* A skipped packet that shows up again (an RTX of padding) is still not forwarded. */
  CHECK_EQ_INT(map1(&rw, 1), -1);
  /* Skips of other sources, or before the switch, change nothing. */
  sfu_rewrite_skip(&rw, 2, 4);
  sfu_rewrite_skip(&rw, 1, 65000);
  CHECK_EQ_INT(map1(&rw, 4), 2);
}

TEST(rw_reordering_around_skips_never_duplicates) {
  static sfu_rewrite_t rw;
  sfu_rw_out_t hole;
  /* 10, 12, then 11 turns out to be padding: its slot is a hole, padded. */
  start1(&rw, 100, 10);
  CHECK_EQ_INT(map1(&rw, 10), 100);
  CHECK_EQ_INT(map1(&rw, 12), 102);
  sfu_rewrite_skip(&rw, 1, 11);
  REQUIRE(sfu_rewrite_take_hole(&rw, &hole) == 1);
  CHECK_EQ_INT(hole.seq, 101);
  CHECK_EQ_INT(sfu_rewrite_take_hole(&rw, &hole), 0);
  CHECK_EQ_INT(map1(&rw, 13), 103);
  CHECK_EQ_INT(map1(&rw, 11), -1);

  /* 10, padding 12 (in order, 11 reserved), then 11 arrives: it fills its slot. */
  start1(&rw, 100, 10);
  CHECK_EQ_INT(map1(&rw, 10), 100);
  sfu_rewrite_skip(&rw, 1, 12);
  CHECK_EQ_INT(map1(&rw, 11), 101);
  CHECK_EQ_INT(map1(&rw, 13), 102);

  /* 10, padding 12, padding 11: 11's slot is the last one given out: taken back. */
  start1(&rw, 100, 10);
  CHECK_EQ_INT(map1(&rw, 10), 100);
  sfu_rewrite_skip(&rw, 1, 12);
  sfu_rewrite_skip(&rw, 1, 11);
  CHECK_EQ_INT(sfu_rewrite_take_hole(&rw, &hole), 0);
  CHECK_EQ_INT(map1(&rw, 13), 101);

  /* 10, 13, 11, 12: plain reordering keeps every packet's place. */
  start1(&rw, 100, 10);
  CHECK_EQ_INT(map1(&rw, 10), 100);
  CHECK_EQ_INT(map1(&rw, 13), 103);
  CHECK_EQ_INT(map1(&rw, 11), 101);
  CHECK_EQ_INT(map1(&rw, 12), 102);
  CHECK_EQ_INT(map1(&rw, 14), 104);

  /* A scripted shuffle with every 4th packet padding: out seqs of forwarded packets plus
   * holes are unique and leave no gap. */
  start1(&rw, 65500, 65400);
  static const int8_t shuffle[8] = {0, 2, 1, 3, 5, 4, 7, 6};
  static uint8_t used[400];
  memset(used, 0, sizeof used);
  int dup = 0, sent = 0;
  for (int base = 0; base < 320; base += 8) {
    for (int j = 0; j < 8; j++) {
      int k = base + shuffle[j];
      uint16_t seq = (uint16_t)(65400 + k);
      int o;
      if (k % 4 == 1) { /* 1 comes after 2 (a hole), 5 before 4 (in order) */
        sfu_rewrite_skip(&rw, 1, seq);
        continue;
      }
      o = map1(&rw, seq);
      CHECK(o >= 0);
      int idx = (uint16_t)(o - 65500);
      CHECK(idx < 400);
      if (idx < 400) dup += used[idx]++, sent++;
      while (sfu_rewrite_take_hole(&rw, &hole)) {
        idx = (uint16_t)(hole.seq - 65500);
        CHECK(idx < 400);
        if (idx < 400) dup += used[idx]++, sent++;
      }
    }
  }
  CHECK_EQ_INT(dup, 0);
  int top = 0;
  for (int i = 0; i < 400; i++)
    if (used[i]) top = i;
  CHECK_EQ_INT(top + 1, sent); /* slots 0..top all used: no gap */
  CHECK(sent >= 240);
}

TEST(rw_late_rtx_and_pending_slots) {
  static sfu_rewrite_t rw;
  start1(&rw, 1000, 500);
  CHECK_EQ_INT(map1(&rw, 500), 1000);
  /* 501 lost; 100 more packets come. */
  for (int i = 2; i < 102; i++) CHECK_EQ_INT(map1(&rw, (uint16_t)(500 + i)), 1000 + i);
  uint16_t src_seq = 0;
  CHECK_EQ_INT(sfu_rewrite_pending(&rw, 1001, &src_seq), 1);
  CHECK_EQ_INT(src_seq, 501);
  CHECK(sfu_rewrite_lookup(&rw, 1001) == NULL);
  CHECK_EQ_INT(sfu_rewrite_pending(&rw, 1002, &src_seq), 0); /* sent */
  /* Its RTX comes late: into its slot. */
  CHECK_EQ_INT(map1(&rw, 501), 1001);
  CHECK_EQ_INT(sfu_rewrite_pending(&rw, 1001, &src_seq), 0);
  sfu_rw_sent_t *e = sfu_rewrite_lookup(&rw, 1001);
  REQUIRE(e != NULL);
  CHECK_EQ_INT(e->src_seq, 501);
  CHECK_EQ_INT(e->src_ssrc, 1);
  /* The router notes the twcc seq it sent with; a second RTX copy changes nothing. */
  e->has_twcc = 1;
  e->twcc_seq = 77;
  CHECK_EQ_INT(map1(&rw, 501), 1001);
  e = sfu_rewrite_lookup(&rw, 1001);
  REQUIRE(e != NULL);
  CHECK_EQ_INT(e->twcc_seq, 77);
  CHECK_EQ_INT(rw.mapped, 102);
  /* Beyond the window: stale. */
  for (int i = 102; i < 102 + SFU_REWRITE_WINDOW; i++) map1(&rw, (uint16_t)(500 + i));
  CHECK_EQ_INT(map1(&rw, 502), -1);
}

TEST(rw_stale_sources) {
  static sfu_rewrite_t rw;
  sfu_rw_out_t o;
  sfu_rewrite_init(&rw, 9, 0, 0, 0);
  sfu_rw_in_t a = {.src = 1, .seq = 10};
  CHECK_EQ_INT(sfu_rewrite_map(&rw, &a, &o), SFU_ESTALE); /* no switch yet */
  sfu_rewrite_switch(&rw, &a, 0, 0);
  CHECK_EQ_INT(sfu_rewrite_map(&rw, &a, &o), 0);
  a.seq = 9;
  CHECK_EQ_INT(sfu_rewrite_map(&rw, &a, &o), SFU_ESTALE); /* before the switch point */
  sfu_rw_in_t b = {.src = 2, .seq = 10};
  CHECK_EQ_INT(sfu_rewrite_map(&rw, &b, &o), SFU_ESTALE); /* not the current source */
  sfu_rewrite_switch(&rw, &b, 0, 0);
  CHECK_EQ_INT(sfu_rewrite_map(&rw, &b, &o), 0);
  CHECK_EQ_INT(o.seq, 1);
  a.seq = 11;
  CHECK_EQ_INT(sfu_rewrite_map(&rw, &a, &o), SFU_ESTALE); /* the old layer's late packet */
  CHECK_EQ_INT(rw.stale, 4);
}

TEST(rw_switch_fills_or_returns_unfilled_slots) {
  static sfu_rewrite_t rw;
  sfu_rw_out_t o, hole;
  /* 1, 3 (2 lost), switch: 2's slot can never be filled: a hole for padding. */
  start1(&rw, 50, 1);
  CHECK_EQ_INT(map1(&rw, 1), 50);
  CHECK_EQ_INT(map1(&rw, 3), 52);
  sfu_rw_in_t b = {.src = 2, .seq = 7000, .keyframe = 1, .frame_start = 1};
  sfu_rewrite_switch(&rw, &b, 0, 0);
  REQUIRE(sfu_rewrite_take_hole(&rw, &hole) == 1);
  CHECK_EQ_INT(hole.seq, 51);
  CHECK_EQ_INT(sfu_rewrite_map(&rw, &b, &o), 0);
  CHECK_EQ_INT(o.seq, 53);

  /* 1, 2 lost, 3 padding, switch: nothing after 2's slot was sent: the new layer takes it. */
  start1(&rw, 50, 1);
  CHECK_EQ_INT(map1(&rw, 1), 50);
  sfu_rewrite_skip(&rw, 1, 3);
  sfu_rewrite_switch(&rw, &b, 0, 0);
  CHECK_EQ_INT(sfu_rewrite_take_hole(&rw, &hole), 0);
  CHECK_EQ_INT(sfu_rewrite_map(&rw, &b, &o), 0);
  CHECK_EQ_INT(o.seq, 51);
  CHECK(sfu_rewrite_lookup(&rw, 51) != NULL);
  CHECK_EQ_INT(sfu_rewrite_lookup(&rw, 51)->src_ssrc, 2);
}

TEST(rw_lookup_ring) {
  static sfu_rewrite_t rw;
  start1(&rw, 65000, 30000); /* the output wraps in the middle */
  for (int i = 0; i < 600; i++)
    CHECK_EQ_INT(map1(&rw, (uint16_t)(30000 + i)), (uint16_t)(65000 + i));
  for (int i = 0; i < 600; i++) {
    sfu_rw_sent_t *e = sfu_rewrite_lookup(&rw, (uint16_t)(65000 + i));
    if (i < 600 - SFU_REWRITE_RING) {
      CHECK(e == NULL);
    } else {
      REQUIRE(e != NULL);
      CHECK_EQ_INT(e->src_seq, (uint16_t)(30000 + i));
      CHECK_EQ_INT(e->out_seq, (uint16_t)(65000 + i));
    }
  }
  CHECK(sfu_rewrite_lookup(&rw, (uint16_t)(65000 + 600)) == NULL); /* not sent yet */
  /* A slot whose ring entry survived because the 512 slots after it were a gap. */
  CHECK_EQ_INT(map1(&rw, (uint16_t)(30000 + 600 + SFU_REWRITE_RING)),
               (uint16_t)(65000 + 600 + 512));
  CHECK(sfu_rewrite_lookup(&rw, (uint16_t)(65000 + 599)) == NULL);
}

/* ======================================================================================
 * Temporal layers: the filter (sfu/temporal_filter.h) in front of the rewriter
 * ====================================================================================== */

/* A VP8 source with temporal layers: TL0PICIDX counts TID 0 frames (RFC 7741 §4.2: the
 * higher layers' frames carry the index of the TL0 frame before them). */
typedef struct {
  uint32_t ssrc;
  uint16_t seq;
  uint32_t ts;
  uint16_t pic;
  uint8_t tl0;
  int frames;
} tsrc_t;

/* A viewer: the filter, the rewriter, and everything it was sent. */
typedef struct {
  sfu_rewrite_t rw;
  sfu_temporal_filter_t tf;
  size_t n;
  sfu_rw_out_t out[512];
  uint8_t tid[512], start[512];
  size_t dropped;
} tview_t;

static void tview_init(tview_t *v) {
  memset(v, 0, sizeof *v);
  sfu_rewrite_init(&v->rw, 77, 65530, 1000, 0x7ffd); /* seq and picture id wrap soon */
  sfu_temporal_init(&v->tf);
}

/* One packet through the filter and the rewriter (`late`: a retransmission). */
static void tview_pkt(tview_t *v, const sfu_rw_in_t *in, int tid, int sync, int late) {
  if (in->keyframe && !late && (!v->rw.started || v->rw.src != in->src))
    sfu_rewrite_switch(&v->rw, in, 0, 0);
  sfu_temporal_pkt_t tp = {.src = in->src,
                           .ts = in->ts,
                           .has_tid = 1,
                           .tid = (uint8_t)tid,
                           .sync = (uint8_t)sync,
                           .keyframe = in->keyframe,
                           .frame_start = in->frame_start,
                           .late = (uint8_t)late};
  if (!sfu_temporal_pass(&v->tf, &tp)) {
    sfu_rewrite_drop(&v->rw, in);
    v->dropped++;
    return;
  }
  sfu_rw_out_t o;
  if (sfu_rewrite_map(&v->rw, in, &o) != 0 || v->n >= 512) return;
  v->tid[v->n] = (uint8_t)tid;
  v->start[v->n] = in->frame_start;
  v->out[v->n++] = o;
}

static sfu_rw_in_t tsrc_in(const tsrc_t *s, uint16_t seq, int k, int key) {
  return (sfu_rw_in_t){.src = s->ssrc,
                       .seq = seq,
                       .ts = s->ts,
                       .keyframe = (uint8_t)(key && k == 0),
                       .frame_start = (uint8_t)(k == 0),
                       .has_pic_id = 1,
                       .pic_id = s->pic,
                       .pic_id_bits = 15,
                       .has_tl0 = 1,
                       .tl0 = s->tl0};
}

/* One frame of ppf packets, all sent to v. */
static void tsrc_frame(tsrc_t *s, tview_t *v, int tid, int sync, int key, int ppf) {
  if (tid == 0 && s->frames > 0) s->tl0++;
  for (int k = 0; k < ppf; k++) {
    sfu_rw_in_t in = tsrc_in(s, s->seq++, k, key);
    tview_pkt(v, &in, tid, sync, 0);
  }
  s->ts += 3000;
  s->pic = (uint16_t)((s->pic + 1) & 0x7fff);
  s->frames++;
}

/* libwebrtc's 3-layer pattern 0,2,1,2 (no sync bits), n frames. */
static void tsrc_pattern(tsrc_t *s, tview_t *v, int n, int ppf) {
  static const int tids[4] = {0, 2, 1, 2};
  for (int f = 0; f < n; f++) tsrc_frame(s, v, tids[s->frames % 4], 0, 0, ppf);
}

/* What the viewer got is one stream: seq +1 per packet, picture id +1 per frame (a
 * frame's packets share it), TL0PICIDX +1 at each TID 0 frame and the same otherwise. */
static int tview_contiguous(const tview_t *v, size_t from) {
  int bad = 0;
  for (size_t i = from + 1; i < v->n; i++) {
    const sfu_rw_out_t *a = &v->out[i - 1], *b = &v->out[i];
    bad += b->seq != (uint16_t)(a->seq + 1);
    if (v->start[i]) {
      bad += b->pic_id != ((a->pic_id + 1) & 0x7fff);
      bad += b->tl0 != (uint8_t)(a->tl0 + (v->tid[i] == 0));
      bad += (int32_t)(b->ts - a->ts) <= 0;
    } else {
      bad += b->pic_id != a->pic_id || b->ts != a->ts;
    }
  }
  return bad;
}

static tview_t g_tv;

TEST(temporal_drop_gives_contiguous_seq_and_picture_ids) {
  tview_t *v = &g_tv;
  tview_init(v);
  tsrc_t s = {.ssrc = 5, .seq = 65500, .ts = 7, .pic = 0x7ff0, .tl0 = 250};
  sfu_temporal_set_target(&v->tf, 0);
  tsrc_frame(&s, v, 0, 0, 1, 2); /* keyframe */
  tsrc_pattern(&s, v, 63, 2);    /* 16 cycles of 0,2,1,2 */
  /* Only the 16 TID 0 frames, 2 packets each, numbered without a gap (seq and picture
   * id both wrap on the way), TL0PICIDX as the source had it. */
  CHECK_EQ_INT(v->n, 32);
  for (size_t i = 0; i < v->n; i++) CHECK_EQ_INT(v->tid[i], 0);
  CHECK_EQ_INT(tview_contiguous(v, 0), 0);
  CHECK_EQ_INT(v->out[31].tl0, (uint8_t)(v->out[0].tl0 + 15));
  CHECK_EQ_INT(v->rw.n_holes, 0);
  CHECK_EQ_INT(sfu_temporal_delivered(&v->tf), 0);
  /* T0 + T1: half the frames, still contiguous. */
  tview_init(v);
  s = (tsrc_t){.ssrc = 5, .seq = 100, .pic = 10};
  sfu_temporal_set_target(&v->tf, 1);
  tsrc_frame(&s, v, 0, 0, 1, 3);
  tsrc_pattern(&s, v, 39, 3);
  CHECK_EQ_INT(v->n, 20 * 3);
  CHECK_EQ_INT(tview_contiguous(v, 0), 0);
  CHECK_EQ_INT(sfu_temporal_delivered(&v->tf), 1);
  /* Everything: unchanged numbering (offsets only). */
  tview_init(v);
  s = (tsrc_t){.ssrc = 5, .seq = 100, .pic = 10};
  tsrc_frame(&s, v, 0, 0, 1, 1);
  tsrc_pattern(&s, v, 39, 1);
  CHECK_EQ_INT(v->n, 40);
  CHECK_EQ_INT(tview_contiguous(v, 0), 0);
  CHECK_EQ_INT(v->dropped, 0);
  CHECK_EQ_INT(sfu_temporal_delivered(&v->tf), 2);
}

TEST(temporal_upswitch_waits_for_sync_or_keyframe) {
  tview_t *v = &g_tv;
  tview_init(v);
  tsrc_t s = {.ssrc = 5, .seq = 1, .pic = 1};
  sfu_temporal_set_target(&v->tf, 0);
  tsrc_frame(&s, v, 0, 0, 1, 1);
  tsrc_pattern(&s, v, 7, 1);
  CHECK_EQ_INT(v->n, 2);
  sfu_temporal_set_target(&v->tf, SFU_TEMPORAL_ALL);
  /* No sync bit: T1 and T2 frames stay out (they reference frames the viewer lacks). */
  tsrc_pattern(&s, v, 8, 1);
  CHECK_EQ_INT(v->n, 4);
  /* A T2 frame with Y=1 is not enough while T1 is out: the T1 frames after it would
   * reference T1 frames the viewer never got. */
  tsrc_frame(&s, v, 0, 0, 0, 1);
  tsrc_frame(&s, v, 2, 1, 0, 1);
  CHECK_EQ_INT(v->n, 5);
  CHECK_EQ_INT(sfu_temporal_delivered(&v->tf), 0);
  /* T1 with Y=1: T1 from here on; then T2 with Y=1: everything. */
  tsrc_frame(&s, v, 1, 1, 0, 1);
  tsrc_frame(&s, v, 2, 0, 0, 1);
  CHECK_EQ_INT(v->n, 6);
  CHECK_EQ_INT(sfu_temporal_delivered(&v->tf), 1);
  tsrc_frame(&s, v, 0, 0, 0, 1);
  tsrc_frame(&s, v, 2, 1, 0, 1);
  CHECK_EQ_INT(v->n, 8);
  CHECK_EQ_INT(v->tf.current, SFU_TEMPORAL_ALL);
  CHECK_EQ_INT(sfu_temporal_delivered(&v->tf), 2);
  /* Down at any frame start, even a T2 one. */
  sfu_temporal_set_target(&v->tf, 0);
  tsrc_frame(&s, v, 1, 0, 0, 1);
  CHECK_EQ_INT(v->n, 8);
  /* Up at a keyframe: straight to the target. */
  sfu_temporal_set_target(&v->tf, SFU_TEMPORAL_ALL);
  tsrc_frame(&s, v, 2, 0, 0, 1);
  CHECK_EQ_INT(v->n, 8);
  tsrc_frame(&s, v, 0, 0, 1, 1);
  tsrc_pattern(&s, v, 3, 1);
  CHECK_EQ_INT(v->n, 12);
  CHECK_EQ_INT(tview_contiguous(v, 0), 0);
}

TEST(temporal_whole_frames_and_late_packets) {
  tview_t *v = &g_tv;
  tview_init(v);
  tsrc_t s = {.ssrc = 5, .seq = 100, .pic = 40};
  sfu_temporal_set_target(&v->tf, 0);
  tsrc_frame(&s, v, 0, 0, 1, 2); /* seq 100, 101: pic 40 */
  /* Frame pic 41 (T1, seq 102..104, Y=1): the target goes up while it is in flight; its
   * second packet overtakes its first. The decision made at the first packet seen holds
   * for the whole frame: out, although the start is a sync point. */
  uint16_t q = s.seq;
  s.seq += 3;
  sfu_rw_in_t b = tsrc_in(&s, (uint16_t)(q + 1), 1, 0);
  tview_pkt(v, &b, 1, 1, 0);
  sfu_temporal_set_target(&v->tf, 1);
  sfu_rw_in_t a = tsrc_in(&s, q, 0, 0);
  tview_pkt(v, &a, 1, 1, 0);
  sfu_rw_in_t c = tsrc_in(&s, (uint16_t)(q + 2), 2, 0);
  tview_pkt(v, &c, 1, 1, 0);
  s.ts += 3000, s.pic++, s.frames++;
  CHECK_EQ_INT(v->n, 2);
  /* The overtaken start had a slot reserved; nothing after it used one: given back, no
   * hole to pad. */
  sfu_rw_out_t hole;
  CHECK_EQ_INT(sfu_rewrite_take_hole(&v->rw, &hole), 0);
  /* A retransmission never switches: T1 Y=1 as a late packet of an unknown frame. */
  uint16_t late_seq = s.seq++;
  sfu_rw_in_t l = tsrc_in(&s, late_seq, 0, 0);
  l.ts += 999; /* a frame the filter does not remember (picture id 41's) */
  l.pic_id = 41;
  tview_pkt(v, &l, 1, 1, 1);
  CHECK_EQ_INT(v->n, 2);
  /* The next T1 sync frame does it. */
  tsrc_frame(&s, v, 0, 0, 0, 1);
  tsrc_frame(&s, v, 1, 1, 0, 1);
  CHECK_EQ_INT(v->n, 4);
  CHECK_EQ_INT(v->out[2].pic_id, (v->out[1].pic_id + 1) & 0x7fff);
  CHECK_EQ_INT(v->out[3].pic_id, (v->out[2].pic_id + 1) & 0x7fff);
  /* A reordered frame is no switch point: down to T0, then a T1 sync frame overtaken by
   * the T2 frame after it; the target goes up before the sync frame arrives. Raising
   * there would let through T1 frames referencing ones the viewer never got. */
  sfu_temporal_set_target(&v->tf, 0);
  tsrc_frame(&s, v, 0, 0, 0, 1);
  size_t n = v->n;
  tsrc_t sync = s; /* the T1 sync frame, sent below after the next one */
  s.seq++, s.ts += 3000, s.pic++, s.frames++;
  tsrc_frame(&s, v, 2, 0, 0, 1);
  sfu_temporal_set_target(&v->tf, 1);
  sfu_rw_in_t y = tsrc_in(&sync, sync.seq, 0, 0);
  tview_pkt(v, &y, 1, 1, 0);
  tsrc_frame(&s, v, 1, 0, 0, 1);
  CHECK_EQ_INT(v->n, n);
  CHECK_EQ_INT(sfu_temporal_delivered(&v->tf), 0);
}

TEST(temporal_rtx_of_a_sent_frame_keeps_its_picture_id) {
  tview_t *v = &g_tv;
  tview_init(v);
  tsrc_t s = {.ssrc = 5, .seq = 200, .pic = 500};
  sfu_temporal_set_target(&v->tf, 0);
  /* Keyframe seq 200, 201 with 201 lost upstream; T2 (202, 203) dropped; T0 (204). */
  sfu_rw_in_t k0 = tsrc_in(&s, 200, 0, 1), k1 = tsrc_in(&s, 201, 1, 1);
  tview_pkt(v, &k0, 0, 0, 0);
  s.seq = 202, s.ts += 3000, s.pic++, s.frames++;
  tsrc_frame(&s, v, 2, 0, 0, 2);
  tsrc_frame(&s, v, 0, 0, 0, 1);
  REQUIRE(v->n == 2);
  /* The lost packet's slot was kept (the viewer sees a loss and NACKs); its RTX fills it
   * with the keyframe's picture id, not one shifted by the drop. */
  tview_pkt(v, &k1, 0, 0, 1);
  REQUIRE(v->n == 3);
  CHECK_EQ_INT(v->out[2].seq, (uint16_t)(v->out[0].seq + 1));
  CHECK_EQ_INT(v->out[1].seq, (uint16_t)(v->out[0].seq + 2));
  CHECK_EQ_INT(v->out[2].pic_id, v->out[0].pic_id);
  CHECK_EQ_INT(v->out[1].pic_id, (v->out[0].pic_id + 1) & 0x7fff);
  /* The dropped frame's own RTX stays out, and takes nothing. */
  sfu_rw_in_t d = {
      .src = 5, .seq = 202, .ts = k0.ts + 3000, .has_pic_id = 1, .pic_id = 501, .pic_id_bits = 15};
  tview_pkt(v, &d, 2, 0, 1);
  CHECK_EQ_INT(v->n, 3);
  /* More drops than remembered: a packet older than all of them is not mapped (its
   * picture id is unknown), a newer one is. */
  uint16_t old_seq = s.seq++;
  sfu_rw_in_t old = tsrc_in(&s, old_seq, 0, 0); /* lost now, comes back late below */
  s.ts += 3000, s.pic++, s.frames++;
  for (int f = 0; f < SFU_REWRITE_DROPS + 4; f++) tsrc_frame(&s, v, 2, 0, 0, 1);
  tsrc_frame(&s, v, 0, 0, 0, 1);
  size_t n = v->n;
  tview_pkt(v, &old, 0, 0, 1);
  CHECK_EQ_INT(v->n, n);
  CHECK_EQ_INT(tview_contiguous(v, 3), 0);
}

TEST(temporal_upswitch_without_sync_frames_wants_a_keyframe) {
  tview_t *v = &g_tv;
  tview_init(v);
  tsrc_t s = {.ssrc = 5, .seq = 1, .pic = 1};
  sfu_temporal_set_target(&v->tf, 0);
  tsrc_frame(&s, v, 0, 0, 1, 1);
  tsrc_pattern(&s, v, 200, 1); /* at its target: nothing to wait for */
  CHECK_EQ_INT(sfu_temporal_want_keyframe(&v->tf), 0);
  sfu_temporal_set_target(&v->tf, SFU_TEMPORAL_ALL);
  tsrc_pattern(&s, v, SFU_TEMPORAL_UP_WAIT_FRAMES - 1, 1); /* an encoder that never sets Y */
  CHECK_EQ_INT(sfu_temporal_want_keyframe(&v->tf), 0);
  tsrc_pattern(&s, v, 1, 1);
  CHECK_EQ_INT(sfu_temporal_want_keyframe(&v->tf), 1);
  CHECK_EQ_INT(sfu_temporal_want_keyframe(&v->tf), 0); /* once, then it counts again */
  tsrc_frame(&s, v, 0, 0, 1, 1);                       /* the keyframe: all layers */
  tsrc_pattern(&s, v, SFU_TEMPORAL_UP_WAIT_FRAMES + 10, 1);
  CHECK_EQ_INT(sfu_temporal_want_keyframe(&v->tf), 0);
  CHECK_EQ_INT(sfu_temporal_delivered(&v->tf), 2);
  CHECK_EQ_INT(tview_contiguous(v, 0), 0);
}

TEST(temporal_filter_without_tids_passes_everything) {
  sfu_temporal_filter_t f;
  sfu_temporal_init(&f);
  sfu_temporal_set_target(&f, 0);
  sfu_temporal_pkt_t p = {.src = 1, .ts = 1, .frame_start = 1};
  for (int i = 0; i < 10; i++, p.ts += 3000) CHECK_EQ_INT(sfu_temporal_pass(&f, &p), 1);
  CHECK_EQ_INT(sfu_temporal_delivered(&f), -1);
  /* Hostile values: a TID beyond 2 bits, a target beyond the max. */
  sfu_temporal_set_target(&f, 200);
  CHECK_EQ_INT(f.target, SFU_TEMPORAL_ALL);
  p.has_tid = 1;
  p.tid = 255;
  CHECK_EQ_INT(sfu_temporal_pass(&f, &p), 1);
  CHECK_EQ_INT(sfu_temporal_delivered(&f), 3);
}

TEST(rw_memory_is_small) {
  /* The ring (512 x 32 bytes) is most of it; the dropped picture ids 256 bytes. */
  CHECK(sizeof(sfu_rewrite_t) <= 17 * 1024 + 768);
  printf("sizeof(sfu_rewrite_t) = %zu\n", sizeof(sfu_rewrite_t));
}

int main(void) {
  RUN(build_round_trip_one_byte_remap_and_vp8_growth);
  RUN(build_two_byte_form_when_an_id_is_over_14);
  RUN(build_copies_non_vp8_and_15_bit_payloads_unchanged);
  RUN(build_refuses_padding_only);
  RUN(padding_build_is_padding_only);
  RUN(rw_continuous_across_switches_and_wraps);
  RUN(rw_switch_timestamps);
  RUN(rw_picture_id_gaps_within_a_source_continue_at_switch);
  RUN(rw_padding_skipped_in_order);
  RUN(rw_reordering_around_skips_never_duplicates);
  RUN(rw_late_rtx_and_pending_slots);
  RUN(rw_stale_sources);
  RUN(rw_switch_fills_or_returns_unfilled_slots);
  RUN(rw_lookup_ring);
  RUN(temporal_drop_gives_contiguous_seq_and_picture_ids);
  RUN(temporal_upswitch_waits_for_sync_or_keyframe);
  RUN(temporal_whole_frames_and_late_packets);
  RUN(temporal_rtx_of_a_sent_frame_keeps_its_picture_id);
  RUN(temporal_upswitch_without_sync_frames_wants_a_keyframe);
  RUN(temporal_filter_without_tids_passes_everything);
  RUN(rw_memory_is_small);
  return test_summary();
}
