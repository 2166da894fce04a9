/* Unit tests for the per-codec RTP payload readers: VP8 (RFC 7741, RFC 6386 §9.1),
 * H.264 (RFC 6184, H.264 §7.3.2.1.1 SPS), VP9 (RFC 9628), AV1 (aggregation header) and
 * the RTP padding-only check. Every vector is also fed at every truncation, each prefix
 * copied into a buffer of exactly its length so that ASan catches a read past the end.
 * The hand-built vectors are followed by real packets captured from aiortc
 * (tests/data/rtp, tools/capture-rtp). */
#include <stdlib.h>
#include <string.h>

#include "sfu/codec_av1.h"
#include "sfu/codec_h264.h"
#include "sfu/codec_vp8.h"
#include "sfu/codec_vp9.h"
#include "sfu/err.h"
#include "sfu/rtp.h"
#include "test.h"
#include "test_data.h"

/* A copy of the first n bytes of v in a heap block of exactly n bytes (1 for n = 0, so
 * that malloc(0) does not return NULL; a read of it is still past the logical end for
 * the parser, which is given n). */
static uint8_t *dup_exact(const uint8_t *v, size_t n) {
  uint8_t *b = malloc(n ? n : 1);
  if (n) memcpy(b, v, n);
  return b;
}

static uint32_t lcg_state = 12345;
static uint8_t lcg_byte(void) {
  lcg_state = lcg_state * 1103515245u + 12345u;
  return (uint8_t)(lcg_state >> 16);
}

/* ===================================== VP8 ======================================== */

/* RFC 6386 §9.1 keyframe header: 3-byte little-endian frame tag
 *   |first_part_size (19)|show_frame (1)|version (3)|P (1, 0 = key frame)|
 * then 9d 01 2a, then |hscale (2)|width (14)| |vscale (2)|height (14)|, little-endian. */
static size_t vp8_keyframe_hdr(uint8_t *o, uint16_t w, uint16_t h, int hs, int vs) {
  uint32_t tag = 0x1234u << 5 | 1u << 4 | 0u << 1 | 0u;
  o[0] = (uint8_t)tag;
  o[1] = (uint8_t)(tag >> 8);
  o[2] = (uint8_t)(tag >> 16);
  o[3] = 0x9d;
  o[4] = 0x01;
  o[5] = 0x2a;
  uint16_t ws = (uint16_t)(w | hs << 14), hh = (uint16_t)(h | vs << 14);
  o[6] = (uint8_t)ws;
  o[7] = (uint8_t)(ws >> 8);
  o[8] = (uint8_t)hh;
  o[9] = (uint8_t)(hh >> 8);
  o[10] = 0x00; /* first byte of the compressed header: not read */
  return 11;
}

TEST(vp8_minimal_descriptor_keyframe_640x480) {
  uint8_t p[32] = {0x10}; /* X=0 N=0 S=1 PID=0 */
  size_t n = 1 + vp8_keyframe_hdr(p + 1, 640, 480, 0, 0);
  sfu_vp8_desc_t d;
  REQUIRE(sfu_vp8_parse(p, n, &d) == 0);
  CHECK_EQ_INT(d.desc_len, 1);
  CHECK(d.start && d.partition == 0 && d.frame_start && d.keyframe);
  CHECK_EQ_INT(d.width, 640);
  CHECK_EQ_INT(d.height, 480);
  CHECK_EQ_INT(d.picture_id_bits, 0);
  CHECK(!d.has_tl0picidx && !d.has_tid && !d.has_keyidx);
  /* Every truncation is refused: the keyframe header is needed whole. */
  for (size_t k = 0; k < n - 1; k++) {
    uint8_t *b = dup_exact(p, k);
    CHECK_EQ_INT(sfu_vp8_parse(b, k, &d), SFU_ETRUNC);
    free(b);
  }
}

/* Descriptor as libwebrtc sends simulcast VP8: X, I with a 15-bit PictureID, L, T
 * (and here K too), then a 1280x720 keyframe with scaling bits set. */
// clang-format off
static const uint8_t vp8_full_720p_head[] = {
    0x90,       /* X=1 S=1 PID=0 */
    0xf0,       /* I L T K */
    0x80 | 0x12, 0x34, /* M=1, PictureID 0x1234 */
    0x7b,       /* TL0PICIDX 123 */
    0x80 | 0x20 | 0x05, /* TID=2 Y=1 KEYIDX=5 */
};
// clang-format on

TEST(vp8_full_descriptor_keyframe_1280x720) {
  uint8_t p[32];
  memcpy(p, vp8_full_720p_head, sizeof vp8_full_720p_head);
  size_t n = sizeof vp8_full_720p_head + vp8_keyframe_hdr(p + 6, 1280, 720, 1, 2);
  sfu_vp8_desc_t d;
  REQUIRE(sfu_vp8_parse(p, n, &d) == 0);
  CHECK_EQ_INT(d.desc_len, 6);
  CHECK_EQ_INT(d.picture_id_bits, 15);
  CHECK_EQ_INT(d.picture_id, 0x1234);
  CHECK_EQ_INT(d.picture_id_off, 2);
  CHECK(d.has_tl0picidx);
  CHECK_EQ_INT(d.tl0picidx, 123);
  CHECK_EQ_INT(d.tl0picidx_off, 4);
  CHECK(d.has_tid && d.has_keyidx);
  CHECK_EQ_INT(d.tid, 2);
  CHECK_EQ_INT(d.layer_sync, 1);
  CHECK_EQ_INT(d.keyidx, 5);
  CHECK_EQ_INT(d.tk_off, 5);
  CHECK(d.keyframe);
  CHECK_EQ_INT(d.width, 1280);
  CHECK_EQ_INT(d.height, 720);
  CHECK_EQ_INT(d.hscale, 1);
  CHECK_EQ_INT(d.vscale, 2);
  for (size_t k = 0; k < n - 1; k++) {
    uint8_t *b = dup_exact(p, k);
    CHECK_EQ_INT(sfu_vp8_parse(b, k, &d), SFU_ETRUNC);
    free(b);
  }
}

TEST(vp8_seven_bit_picture_id_and_rewrite) {
  /* X=1 S=0 PID=0 (a middle packet of a frame), I and L, 7-bit PictureID 0x55. */
  uint8_t p[] = {0x80, 0xc0, 0x55, 0x09, 0xaa, 0xbb};
  sfu_vp8_desc_t d;
  REQUIRE(sfu_vp8_parse(p, sizeof p, &d) == 0);
  CHECK_EQ_INT(d.picture_id_bits, 7);
  CHECK_EQ_INT(d.picture_id, 0x55);
  CHECK_EQ_INT(d.tl0picidx, 9);
  CHECK_EQ_INT(d.desc_len, 4);
  CHECK(!d.start && !d.frame_start && !d.keyframe);
  /* Rewrites keep the field width; a 7-bit field takes the low 7 bits. */
  CHECK(sfu_vp8_set_picture_id(p, &d, 0x1ff) == 0);
  CHECK(sfu_vp8_set_tl0picidx(p, &d, 200) == 0);
  REQUIRE(sfu_vp8_parse(p, sizeof p, &d) == 0);
  CHECK_EQ_INT(d.picture_id, 0x7f);
  CHECK_EQ_INT(d.tl0picidx, 200);
  CHECK_EQ_INT(p[4], 0xaa); /* payload untouched */
  for (size_t k = 0; k < 5; k++) {
    uint8_t *b = dup_exact(p, k);
    CHECK_EQ_INT(sfu_vp8_parse(b, k, &d), SFU_ETRUNC);
    free(b);
  }
}

TEST(vp8_fifteen_bit_rewrite_and_absent_fields) {
  uint8_t p[32];
  memcpy(p, vp8_full_720p_head, sizeof vp8_full_720p_head);
  size_t n = sizeof vp8_full_720p_head + vp8_keyframe_hdr(p + 6, 1280, 720, 0, 0);
  sfu_vp8_desc_t d;
  REQUIRE(sfu_vp8_parse(p, n, &d) == 0);
  CHECK(sfu_vp8_set_picture_id(p, &d, 0x7fff) == 0);
  REQUIRE(sfu_vp8_parse(p, n, &d) == 0);
  CHECK_EQ_INT(d.picture_id, 0x7fff);
  CHECK(sfu_vp8_set_picture_id(p, &d, 0x8000) == 0); /* wraps at 15 bits */
  REQUIRE(sfu_vp8_parse(p, n, &d) == 0);
  CHECK_EQ_INT(d.picture_id, 0);
  CHECK_EQ_INT(d.picture_id_bits, 15);
  CHECK(d.keyframe && d.width == 1280);
  uint8_t q[] = {0x10, 0x01, 0x00, 0x00}; /* no X: nothing to rewrite; P=1 */
  REQUIRE(sfu_vp8_parse(q, sizeof q, &d) == 0);
  CHECK(d.frame_start && !d.keyframe && d.width == 0);
  CHECK_EQ_INT(sfu_vp8_set_picture_id(q, &d, 1), SFU_ENOENT);
  CHECK_EQ_INT(sfu_vp8_set_tl0picidx(q, &d, 1), SFU_ENOENT);
}

TEST(vp8_delta_frame_and_later_partitions) {
  sfu_vp8_desc_t d;
  /* Interframe: frame tag P=1; only the 3-byte tag is needed. */
  uint8_t inter[] = {0x90, 0x80, 0x81, 0x00, 0x31, 0x02, 0x00};
  REQUIRE(sfu_vp8_parse(inter, sizeof inter, &d) == 0);
  CHECK(d.frame_start && !d.keyframe);
  CHECK_EQ_INT(d.picture_id, 0x100);
  for (size_t k = 0; k < 7; k++) {
    uint8_t *b = dup_exact(inter, k);
    CHECK_EQ_INT(sfu_vp8_parse(b, k, &d), SFU_ETRUNC);
    free(b);
  }
  /* S=1 PID=2: the start of a later partition, no payload header, not a frame start. */
  uint8_t part[] = {0x12, 0x00};
  REQUIRE(sfu_vp8_parse(part, sizeof part, &d) == 0);
  CHECK(d.start && d.partition == 2 && !d.frame_start && !d.keyframe);
  /* N bit. */
  uint8_t nonref[] = {0x20, 0x00};
  REQUIRE(sfu_vp8_parse(nonref, sizeof nonref, &d) == 0);
  CHECK(d.non_reference && !d.start);
  /* T without K and K without T share the one octet. */
  uint8_t t_only[] = {0x80, 0x20, 0xff, 0x00};
  REQUIRE(sfu_vp8_parse(t_only, sizeof t_only, &d) == 0);
  CHECK(d.has_tid && !d.has_keyidx && d.tid == 3 && d.layer_sync == 1 && d.keyidx == 0);
  uint8_t k_only[] = {0x80, 0x10, 0xff, 0x00};
  REQUIRE(sfu_vp8_parse(k_only, sizeof k_only, &d) == 0);
  CHECK(!d.has_tid && d.has_keyidx && d.tid == 0 && d.keyidx == 31);
  CHECK_EQ_INT(d.desc_len, 3);
}

TEST(vp8_malformed_keyframes) {
  uint8_t p[32] = {0x10};
  size_t n = 1 + vp8_keyframe_hdr(p + 1, 640, 480, 0, 0);
  sfu_vp8_desc_t d;
  p[5] = 0x9c; /* start code broken */
  CHECK_EQ_INT(sfu_vp8_parse(p, n, &d), SFU_EPARSE);
  n = 1 + vp8_keyframe_hdr(p + 1, 0, 480, 0, 0);
  CHECK_EQ_INT(sfu_vp8_parse(p, n, &d), SFU_EPARSE);
  n = 1 + vp8_keyframe_hdr(p + 1, 640, 0, 3, 3);
  CHECK_EQ_INT(sfu_vp8_parse(p, n, &d), SFU_EPARSE);
  /* A descriptor with no VP8 byte behind it. */
  uint8_t bare[] = {0x90, 0x80, 0x05};
  CHECK_EQ_INT(sfu_vp8_parse(bare, sizeof bare, &d), SFU_ETRUNC);
}

TEST(vp8_garbage) {
  uint8_t buf[24];
  sfu_vp8_desc_t d;
  for (int i = 0; i < 20000; i++) {
    size_t n = lcg_byte() % sizeof buf;
    for (size_t k = 0; k < n; k++) buf[k] = lcg_byte();
    uint8_t *b = dup_exact(buf, n);
    int r = sfu_vp8_parse(b, n, &d);
    CHECK(r == 0 || r == SFU_ETRUNC || r == SFU_EPARSE);
    if (r == 0) {
      CHECK(d.desc_len < n);
      CHECK(!d.keyframe || (d.width && d.height && d.desc_len + 10u <= n));
    }
    free(b);
  }
}

/* ===================================== H.264 ====================================== */

/* A bit writer for SPS RBSPs (H.264 §7.2 u(n), §9.1 ue(v)/se(v)). */
typedef struct {
  uint8_t b[256];
  size_t bits;
} bw_t;

static void bw_u(bw_t *w, int n, uint32_t v) {
  for (int i = n - 1; i >= 0; i--) {
    if ((v >> i) & 1) w->b[w->bits / 8] |= (uint8_t)(0x80 >> (w->bits % 8));
    w->bits++;
  }
}
static void bw_ue(bw_t *w, uint32_t v) {
  uint64_t x = (uint64_t)v + 1;
  int len = 0;
  while ((x >> len) > 1) len++;
  bw_u(w, len, 0);
  bw_u(w, 1, 1);
  bw_u(w, len, (uint32_t)(x - (1ull << len)));
}
static void bw_se(bw_t *w, int32_t v) {
  bw_ue(w, v > 0 ? (uint32_t)(2 * v - 1) : (uint32_t)(-2 * v));
}
/* rbsp_trailing_bits(): a stop bit, then zeros to the byte boundary. */
static size_t bw_finish(bw_t *w) {
  bw_u(w, 1, 1);
  return (w->bits + 7) / 8;
}

/* The NAL unit for an RBSP: a NAL header, then the RBSP with emulation prevention
 * (H.264 §7.4.1: 0x03 inserted wherever two zero bytes are followed by 00..03).
 * Returns the NAL length; *escapes = bytes inserted. */
static size_t nal_escape(uint8_t hdr, const uint8_t *rbsp, size_t n, uint8_t *out, int *escapes) {
  size_t o = 0;
  int zeros = 0;
  *escapes = 0;
  out[o++] = hdr;
  for (size_t i = 0; i < n; i++) {
    if (zeros >= 2 && rbsp[i] <= 3) {
      out[o++] = 0x03;
      zeros = 0;
      (*escapes)++;
    }
    out[o++] = rbsp[i];
    zeros = rbsp[i] == 0 ? zeros + 1 : 0;
  }
  return o;
}

typedef struct {
  uint8_t profile, constraints, level;
  uint32_t chroma_format_idc; /* written only for the high profiles */
  int separate_colour_plane;
  int scaling_lists; /* 0: seq_scaling_matrix_present_flag 0; else lists written */
  uint32_t poc_type;
  uint32_t max_ref_frames;
  uint32_t w_mbs, h_units; /* minus1 values are written */
  int frame_mbs_only;
  int crop;
  uint32_t crop_l, crop_r, crop_t, crop_b;
} sps_spec_t;

static int high_profile(uint8_t p) {
  return p == 100 || p == 110 || p == 122 || p == 244 || p == 44 || p == 83 || p == 86 ||
         p == 118 || p == 128 || p == 138 || p == 139 || p == 134 || p == 135;
}

/* seq_parameter_set_data() per H.264 §7.3.2.1.1, vui_parameters_present_flag = 0. */
static size_t sps_build(const sps_spec_t *s, uint8_t *nal, int *escapes) {
  bw_t w;
  memset(&w, 0, sizeof w);
  bw_u(&w, 8, s->profile);
  bw_u(&w, 8, s->constraints);
  bw_u(&w, 8, s->level);
  bw_ue(&w, 0); /* seq_parameter_set_id */
  if (high_profile(s->profile)) {
    bw_ue(&w, s->chroma_format_idc);
    if (s->chroma_format_idc == 3) bw_u(&w, 1, (uint32_t)s->separate_colour_plane);
    bw_ue(&w, 0); /* bit_depth_luma_minus8 */
    bw_ue(&w, 0); /* bit_depth_chroma_minus8 */
    bw_u(&w, 1, 0);
    bw_u(&w, 1, s->scaling_lists ? 1 : 0);
    if (s->scaling_lists) {
      int n = s->chroma_format_idc != 3 ? 8 : 12;
      for (int i = 0; i < n; i++) {
        int present = i % 2 == 0; /* every other list present */
        bw_u(&w, 1, (uint32_t)present);
        if (!present) continue;
        int size = i < 6 ? 16 : 64;
        /* Deltas that walk the scale up and down, the last list ending early with a
         * delta to nextScale 0 ("useDefaultScalingMatrixFlag"). */
        int last = 8;
        for (int j = 0; j < size; j++) {
          if (i == n - 2 && j == 3) {
            bw_se(&w, -last); /* nextScale 0: the list stops being read */
            break;
          }
          int next = 8 + (j * 7) % 40;
          int delta = next - last;
          if (delta > 127) delta -= 256;
          if (delta < -128) delta += 256;
          bw_se(&w, delta);
          last = next;
        }
      }
    }
  }
  bw_ue(&w, 0); /* log2_max_frame_num_minus4 */
  bw_ue(&w, s->poc_type);
  if (s->poc_type == 0) {
    bw_ue(&w, 2); /* log2_max_pic_order_cnt_lsb_minus4 */
  } else if (s->poc_type == 1) {
    bw_u(&w, 1, 0);
    bw_se(&w, -3);
    bw_se(&w, 5);
    bw_ue(&w, 3); /* num_ref_frames_in_pic_order_cnt_cycle */
    bw_se(&w, 1);
    bw_se(&w, -1);
    bw_se(&w, 100);
  }
  bw_ue(&w, s->max_ref_frames);
  bw_u(&w, 1, 0); /* gaps_in_frame_num_value_allowed_flag */
  bw_ue(&w, s->w_mbs - 1);
  bw_ue(&w, s->h_units - 1);
  bw_u(&w, 1, (uint32_t)s->frame_mbs_only);
  if (!s->frame_mbs_only) bw_u(&w, 1, 0);
  bw_u(&w, 1, 1); /* direct_8x8_inference_flag */
  bw_u(&w, 1, (uint32_t)s->crop);
  if (s->crop) {
    bw_ue(&w, s->crop_l);
    bw_ue(&w, s->crop_r);
    bw_ue(&w, s->crop_t);
    bw_ue(&w, s->crop_b);
  }
  bw_u(&w, 1, 0); /* vui_parameters_present_flag */
  size_t n = bw_finish(&w);
  return nal_escape(0x67, w.b, n, nal, escapes); /* NRI 3, type 7 */
}

/* Constrained Baseline 42e01f as Chromium/OpenH264 sends it. */
// clang-format off
static const sps_spec_t sps_720p = {
    .profile = 0x42, .constraints = 0xe0, .level = 0x1f, .max_ref_frames = 1,
    .w_mbs = 80, .h_units = 45, .frame_mbs_only = 1,
};
// clang-format on

/* Every prefix of an SPS either fails or gives the same size (never a wrong one), and
 * the prefixes that end before the cropping fields fail. */
static void sps_prefixes(const uint8_t *nal, size_t n, uint16_t w, uint16_t h, size_t must_fail) {
  for (size_t k = 0; k < n; k++) {
    uint8_t *b = dup_exact(nal, k);
    uint16_t pw = 0, ph = 0;
    int r = sfu_h264_sps_resolution(b, k, &pw, &ph);
    if (r == 0) CHECK(pw == w && ph == h);
    if (k < must_fail) CHECK_EQ_INT(r, SFU_ETRUNC);
    free(b);
  }
}

TEST(h264_sps_baseline_1280x720) {
  uint8_t nal[300];
  int esc;
  size_t n = sps_build(&sps_720p, nal, &esc);
  uint16_t w = 0, h = 0;
  REQUIRE(sfu_h264_sps_resolution(nal, n, &w, &h) == 0);
  CHECK_EQ_INT(w, 1280);
  CHECK_EQ_INT(h, 720);
  CHECK(nal[1] == 0x42 && nal[2] == 0xe0 && nal[3] == 0x1f);
  sps_prefixes(nal, n, 1280, 720, n - 1);
  /* A NAL that is not an SPS, or has the forbidden bit. */
  nal[0] = 0x68;
  CHECK_EQ_INT(sfu_h264_sps_resolution(nal, n, &w, &h), SFU_EPARSE);
  nal[0] = 0xe7;
  CHECK_EQ_INT(sfu_h264_sps_resolution(nal, n, &w, &h), SFU_EPARSE);
}

TEST(h264_sps_1920x1080_cropped) {
  /* 120x68 macroblocks = 1920x1088; 4:2:0 crop unit is 2 rows, so a bottom offset of 4
   * crops 8 rows. */
  sps_spec_t s = sps_720p;
  s.level = 0x28;
  s.w_mbs = 120;
  s.h_units = 68;
  s.crop = 1;
  s.crop_b = 4;
  uint8_t nal[300];
  int esc;
  size_t n = sps_build(&s, nal, &esc);
  uint16_t w = 0, h = 0;
  REQUIRE(sfu_h264_sps_resolution(nal, n, &w, &h) == 0);
  CHECK_EQ_INT(w, 1920);
  CHECK_EQ_INT(h, 1080);
  sps_prefixes(nal, n, 1920, 1080, n - 1);
  /* Left/right crop in 2-sample units, interlaced (two fields: map units are field MB
   * rows, crop unit 4 rows). */
  s.crop_l = 1;
  s.crop_r = 2;
  s.frame_mbs_only = 0;
  s.h_units = 34;
  s.crop_b = 2;
  n = sps_build(&s, nal, &esc);
  REQUIRE(sfu_h264_sps_resolution(nal, n, &w, &h) == 0);
  CHECK_EQ_INT(w, 1920 - 6);
  CHECK_EQ_INT(h, 1080);
}

TEST(h264_sps_high_profiles) {
  uint8_t nal[300];
  int esc;
  uint16_t w = 0, h = 0;
  /* High (100), chroma_format_idc 1, no scaling matrix, POC type 2. */
  // clang-format off
  sps_spec_t s = {.profile = 100, .level = 0x1f, .chroma_format_idc = 1, .poc_type = 2,
                  .max_ref_frames = 3, .w_mbs = 40, .h_units = 23, .frame_mbs_only = 1,
                  .crop = 1, .crop_b = 4};
  // clang-format on
  size_t n = sps_build(&s, nal, &esc);
  REQUIRE(sfu_h264_sps_resolution(nal, n, &w, &h) == 0);
  CHECK_EQ_INT(w, 640);
  CHECK_EQ_INT(h, 360);
  sps_prefixes(nal, n, 640, 360, n - 1);
  /* The same with scaling lists (one ending early) and POC type 1 with a cycle. */
  s.scaling_lists = 1;
  s.poc_type = 1;
  n = sps_build(&s, nal, &esc);
  REQUIRE(sfu_h264_sps_resolution(nal, n, &w, &h) == 0);
  CHECK_EQ_INT(w, 640);
  CHECK_EQ_INT(h, 360);
  CHECK(n > 40); /* the lists were really written */
  sps_prefixes(nal, n, 640, 360, n - 1);
  /* High 4:4:4 (244): 12 lists, crop unit 1x1. */
  s.profile = 244;
  s.chroma_format_idc = 3;
  s.crop_b = 8;
  n = sps_build(&s, nal, &esc);
  REQUIRE(sfu_h264_sps_resolution(nal, n, &w, &h) == 0);
  CHECK_EQ_INT(w, 640);
  CHECK_EQ_INT(h, 360);
  /* 4:4:4 with separate colour planes: ChromaArrayType 0, crop unit 1x1 too. */
  s.separate_colour_plane = 1;
  s.scaling_lists = 0;
  n = sps_build(&s, nal, &esc);
  REQUIRE(sfu_h264_sps_resolution(nal, n, &w, &h) == 0);
  CHECK_EQ_INT(h, 360);
  /* 4:2:2 (122): SubWidthC 2, SubHeightC 1. */
  s.profile = 122;
  s.chroma_format_idc = 2;
  s.separate_colour_plane = 0;
  s.crop_r = 8;
  n = sps_build(&s, nal, &esc);
  REQUIRE(sfu_h264_sps_resolution(nal, n, &w, &h) == 0);
  CHECK_EQ_INT(w, 640 - 16);
  CHECK_EQ_INT(h, 360);
  /* 44 (CAVLC 4:4:4 Intra) is in the profile list too: its chroma fields are read. */
  s.profile = 44;
  s.chroma_format_idc = 1;
  s.crop_r = 0;
  s.crop_b = 4;
  n = sps_build(&s, nal, &esc);
  REQUIRE(sfu_h264_sps_resolution(nal, n, &w, &h) == 0);
  CHECK_EQ_INT(w, 640);
  CHECK_EQ_INT(h, 360);
}

TEST(h264_sps_emulation_prevention) {
  /* max_num_ref_frames = 2^24 - 1 codes as 24 zeros, a one, 24 zeros: the RBSP holds
   * 00 00 00 runs that the NAL must escape (values bounded by nothing we check). */
  sps_spec_t s = sps_720p;
  s.max_ref_frames = (1u << 24) - 1;
  uint8_t nal[300];
  int esc;
  size_t n = sps_build(&s, nal, &esc);
  CHECK(esc >= 1);
  uint16_t w = 0, h = 0;
  REQUIRE(sfu_h264_sps_resolution(nal, n, &w, &h) == 0);
  CHECK_EQ_INT(w, 1280);
  CHECK_EQ_INT(h, 720);
  sps_prefixes(nal, n, 1280, 720, n - 1);
  /* Crop offsets whose codes make 00 00 03 inside the crop fields themselves. */
  s.max_ref_frames = 1;
  s.crop = 1;
  s.crop_b = 0;
  s.crop_t = 0;
  /* Far more than the width, refused after unescaping; the first power of two whose
   * code needs an escape at this bit position. */
  esc = 0;
  for (uint32_t v = 1u << 18; v < (1u << 30) && esc == 0; v <<= 1) {
    s.crop_r = v - 1;
    n = sps_build(&s, nal, &esc);
  }
  CHECK(esc >= 1);
  CHECK_EQ_INT(sfu_h264_sps_resolution(nal, n, &w, &h), SFU_EPARSE);
}

/* x264's usual High 3.1 SPS for 1280x720 (with VUI; its 00 00 03 escapes sit in the
 * VUI timing fields, after what we read). */
static const uint8_t x264_720p_sps[] = {0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05,
                                        0xbb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00,
                                        0x00, 0x03, 0x03, 0xc0, 0xf1, 0x83, 0x19, 0x60};

TEST(h264_sps_x264_capture) {
  uint16_t w = 0, h = 0;
  REQUIRE(sfu_h264_sps_resolution(x264_720p_sps, sizeof x264_720p_sps, &w, &h) == 0);
  CHECK_EQ_INT(w, 1280);
  CHECK_EQ_INT(h, 720);
}

TEST(h264_sps_out_of_range) {
  uint8_t nal[300];
  int esc;
  uint16_t w, h;
  sps_spec_t s = sps_720p;
  s.w_mbs = 1025; /* 16400 samples */
  size_t n = sps_build(&s, nal, &esc);
  CHECK_EQ_INT(sfu_h264_sps_resolution(nal, n, &w, &h), SFU_EPARSE);
  s = sps_720p;
  s.crop = 1;
  s.crop_b = 360; /* crops all 720 rows */
  n = sps_build(&s, nal, &esc);
  CHECK_EQ_INT(sfu_h264_sps_resolution(nal, n, &w, &h), SFU_EPARSE);
  s = sps_720p;
  s.profile = 100;
  s.chroma_format_idc = 4;
  n = sps_build(&s, nal, &esc);
  CHECK_EQ_INT(sfu_h264_sps_resolution(nal, n, &w, &h), SFU_EPARSE);
  s = sps_720p;
  s.poc_type = 3;
  n = sps_build(&s, nal, &esc);
  CHECK_EQ_INT(sfu_h264_sps_resolution(nal, n, &w, &h), SFU_EPARSE);
  /* 32 leading zeros and more: no ue(v) of an SPS. */
  uint8_t zeros[] = {0x67, 0x42, 0xe0, 0x1f, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x01};
  CHECK_EQ_INT(sfu_h264_sps_resolution(zeros, sizeof zeros, &w, &h), SFU_EPARSE);
  /* An escape byte at the very end: cut, not read past. */
  uint8_t tail[] = {0x67, 0x42, 0xe0, 0x1f, 0x00, 0x00, 0x03};
  uint8_t *b = dup_exact(tail, sizeof tail);
  CHECK_EQ_INT(sfu_h264_sps_resolution(b, sizeof tail, &w, &h), SFU_ETRUNC);
  free(b);
}

/* RTP payloads: a STAP-A of SPS + PPS + IDR as libwebrtc sends a keyframe's start. */
static size_t stap_a_sps_pps_idr(uint8_t *o) {
  uint8_t sps[300];
  int esc;
  size_t ns = sps_build(&sps_720p, sps, &esc);
  static const uint8_t pps[] = {0x68, 0xce, 0x3c, 0x80};
  static const uint8_t idr[] = {0x65, 0x88, 0x84, 0x00, 0x33, 0xff};
  size_t off = 0;
  o[off++] = 0x78; /* F=0 NRI=3 type 24 */
  o[off++] = (uint8_t)(ns >> 8);
  o[off++] = (uint8_t)ns;
  memcpy(o + off, sps, ns);
  off += ns;
  o[off++] = 0;
  o[off++] = sizeof pps;
  memcpy(o + off, pps, sizeof pps);
  off += sizeof pps;
  o[off++] = 0;
  o[off++] = sizeof idr;
  memcpy(o + off, idr, sizeof idr);
  off += sizeof idr;
  return off;
}

TEST(h264_stap_a_keyframe) {
  uint8_t p[400];
  size_t n = stap_a_sps_pps_idr(p);
  sfu_h264_info_t in;
  REQUIRE(sfu_h264_parse(p, n, &in) == 0);
  CHECK_EQ_INT(in.packet_type, SFU_H264_NAL_STAP_A);
  CHECK(in.has_sps && in.has_pps && in.has_idr && in.keyframe);
  CHECK_EQ_INT(in.width, 1280);
  CHECK_EQ_INT(in.height, 720);
  /* Every prefix: an error, or (cut exactly between units) fewer units seen; never a
   * wrong size. The SPS unit is the first, so any prefix that parses has it whole. */
  size_t sps_end = 3 + p[2];
  for (size_t k = 0; k < n; k++) {
    uint8_t *b = dup_exact(p, k);
    int r = sfu_h264_parse(b, k, &in);
    if (k < sps_end) CHECK(r != 0);
    if (r == 0) CHECK(in.has_sps && in.width == 1280 && in.height == 720 && !in.has_idr);
    free(b);
  }
  /* A zero-length unit, a unit with the F bit, a unit whose size overruns. */
  uint8_t zero[] = {0x78, 0x00, 0x00, 0x00, 0x01, 0x65};
  CHECK_EQ_INT(sfu_h264_parse(zero, sizeof zero, &in), SFU_EPARSE);
  uint8_t fbit[] = {0x78, 0x00, 0x02, 0xe5, 0x00};
  CHECK_EQ_INT(sfu_h264_parse(fbit, sizeof fbit, &in), SFU_EPARSE);
  uint8_t over[] = {0x78, 0x00, 0x09, 0x65, 0x00};
  CHECK_EQ_INT(sfu_h264_parse(over, sizeof over, &in), SFU_ETRUNC);
  uint8_t empty[] = {0x78};
  CHECK_EQ_INT(sfu_h264_parse(empty, sizeof empty, &in), SFU_ETRUNC);
  /* An SPS inside a STAP-A that does not parse refuses the packet. */
  uint8_t badsps[] = {0x78, 0x00, 0x02, 0x67, 0x42};
  CHECK_EQ_INT(sfu_h264_parse(badsps, sizeof badsps, &in), SFU_ETRUNC);
}

TEST(h264_single_nal) {
  uint8_t nal[300];
  int esc;
  size_t n = sps_build(&sps_720p, nal, &esc);
  sfu_h264_info_t in;
  REQUIRE(sfu_h264_parse(nal, n, &in) == 0);
  CHECK(in.packet_type == 7 && in.has_sps && in.keyframe && !in.has_idr);
  CHECK_EQ_INT(in.width, 1280);
  uint8_t idr[] = {0x65, 0x88, 0x80};
  REQUIRE(sfu_h264_parse(idr, sizeof idr, &in) == 0);
  CHECK(in.has_idr && in.keyframe && !in.has_sps && in.width == 0);
  uint8_t pps[] = {0x68, 0xce, 0x3c, 0x80};
  REQUIRE(sfu_h264_parse(pps, sizeof pps, &in) == 0);
  CHECK(in.has_pps && !in.keyframe);
  uint8_t slice[] = {0x41, 0x9a, 0x00};
  REQUIRE(sfu_h264_parse(slice, sizeof slice, &in) == 0);
  CHECK(in.packet_type == 1 && !in.keyframe && !in.has_idr);
  uint8_t sei[] = {0x06}; /* a bare NAL header: valid, nothing to learn */
  REQUIRE(sfu_h264_parse(sei, sizeof sei, &in) == 0);
  CHECK(!in.keyframe);
  CHECK_EQ_INT(sfu_h264_parse(nal, 0, &in), SFU_ETRUNC);
  uint8_t forbidden[] = {0xe5, 0x88};
  CHECK_EQ_INT(sfu_h264_parse(forbidden, sizeof forbidden, &in), SFU_EPARSE);
  /* Types outside packetization-mode 1. */
  static const uint8_t bad_types[] = {0, 25, 26, 27, 29, 30, 31};
  for (size_t i = 0; i < sizeof bad_types; i++) {
    uint8_t p[] = {(uint8_t)(0x60 | bad_types[i]), 0x80, 0x00, 0x01};
    CHECK_EQ_INT(sfu_h264_parse(p, sizeof p, &in), SFU_EPARSE);
  }
  /* A single-NAL SPS cut anywhere before its fields end is refused. */
  for (size_t k = 1; k < n - 1; k++) {
    uint8_t *b = dup_exact(nal, k);
    CHECK_EQ_INT(sfu_h264_parse(b, k, &in), SFU_ETRUNC);
    free(b);
  }
}

TEST(h264_fu_a) {
  sfu_h264_info_t in;
  /* FU indicator: F=0 NRI=3 type 28; FU header S|E|R|type 5. */
  uint8_t start[] = {0x7c, 0x85, 0x88, 0x84, 0x00};
  uint8_t middle[] = {0x7c, 0x05, 0x11, 0x22};
  uint8_t end[] = {0x7c, 0x45, 0x33};
  REQUIRE(sfu_h264_parse(start, sizeof start, &in) == 0);
  CHECK(in.packet_type == 28 && in.fu_start && !in.fu_end && in.fu_nal_type == 5);
  CHECK(in.has_idr && in.keyframe);
  REQUIRE(sfu_h264_parse(middle, sizeof middle, &in) == 0);
  CHECK(!in.fu_start && !in.fu_end && in.fu_nal_type == 5 && !in.has_idr && !in.keyframe);
  REQUIRE(sfu_h264_parse(end, sizeof end, &in) == 0);
  CHECK(!in.fu_start && in.fu_end && !in.keyframe);
  uint8_t both[] = {0x7c, 0xc5, 0x00};
  CHECK_EQ_INT(sfu_h264_parse(both, sizeof both, &in), SFU_EPARSE);
  for (size_t k = 0; k < 3; k++) {
    uint8_t *b = dup_exact(start, k);
    CHECK_EQ_INT(sfu_h264_parse(b, k, &in), SFU_ETRUNC);
    free(b);
  }
  /* An FU-A starting an SPS: a keyframe; the size is read when the fragment holds it,
   * and left unknown (not an error) when the fragment cuts it. */
  uint8_t nal[300], fu[300];
  int esc;
  size_t n = sps_build(&sps_720p, nal, &esc);
  fu[0] = 0x7c;
  fu[1] = 0x80 | 7;
  memcpy(fu + 2, nal + 1, n - 1);
  REQUIRE(sfu_h264_parse(fu, n + 1, &in) == 0);
  CHECK(in.has_sps && in.keyframe && in.width == 1280 && in.height == 720);
  for (size_t k = 3; k < n + 1; k++) {
    uint8_t *b = dup_exact(fu, k);
    REQUIRE(sfu_h264_parse(b, k, &in) == 0);
    CHECK(in.has_sps && in.keyframe);
    CHECK(in.width == 0 || (in.width == 1280 && in.height == 720));
    free(b);
  }
}

TEST(h264_garbage) {
  uint8_t buf[64];
  sfu_h264_info_t in;
  for (int i = 0; i < 20000; i++) {
    size_t n = lcg_byte() % sizeof buf;
    for (size_t k = 0; k < n; k++) buf[k] = lcg_byte();
    if (n && i % 3 == 0) buf[0] = (uint8_t)(0x60 | (i % 2 ? 24 : 7)); /* STAP-A or SPS */
    uint8_t *b = dup_exact(buf, n);
    int r = sfu_h264_parse(b, n, &in);
    CHECK(r == 0 || r == SFU_ETRUNC || r == SFU_EPARSE);
    if (r == 0 && in.width) CHECK(in.width <= 16384 && in.height <= 16384 && in.height);
    uint16_t w, h;
    r = sfu_h264_sps_resolution(b, n, &w, &h);
    CHECK(r == 0 || r == SFU_ETRUNC || r == SFU_EPARSE);
    free(b);
  }
}

/* ============================ captured packets (aiortc) ============================ */

/* tests/data/rtp/[chromium-]<codec>-<w>x<h>-<n>.rtp (README there): per case the
 * stream's first frame, a keyframe, then whole delta frames, as aiortc 1.4.0 (libvpx,
 * libx264) or Chromium 156 sent them. 638x358 is not a multiple of 16: the H.264 SPS
 * crops 640x368. */
typedef struct {
  const char *source; /* file name prefix: "" = aiortc, "chromium-" */
  const char *codec;
  uint16_t w, h;
} capture_case_t;

static const capture_case_t captures[] = {
    {"", "vp8", 320, 180},
    {"", "vp8", 640, 360},
    {"", "vp8", 1280, 720},
    {"", "vp8", 638, 358},
    {"", "h264", 320, 180},
    {"", "h264", 640, 360},
    {"", "h264", 1280, 720},
    {"", "h264", 638, 358},
    {"chromium-", "vp8", 320, 180},
    {"chromium-", "vp8", 640, 360},
    {"chromium-", "vp8", 1280, 720},
    {"chromium-", "vp8", 638, 358},
    {"chromium-", "h264", 320, 180},
    {"chromium-", "h264", 640, 360},
    {"chromium-", "h264", 1280, 720},
    {"chromium-", "h264", 638, 358},
};

#define CAPTURE_MAX_PACKETS 16
#define CAPTURE_MAX_LEN 1500

typedef struct {
  uint8_t buf[CAPTURE_MAX_LEN];
  size_t len;
  sfu_rtp_hdr_t h;
  int frame;      /* 0 = the keyframe, 1.. = the delta frames, in order */
  int frame_last; /* the last packet of its frame (the next has another timestamp) */
} capture_pkt_t;

static capture_pkt_t capture_pkts[CAPTURE_MAX_PACKETS];

/* Loads a case's packets and parses their RTP headers (RFC 3550 §5.1): one SSRC and
 * payload type, consecutive sequence numbers, one-byte header extensions, no padding;
 * a frame is a run of one timestamp and the marker bit is on its last packet only
 * (RFC 7741 §4.1, RFC 6184 §5.1: "set for the very last packet of the access unit").
 * Returns the packet count, 0 after a failed CHECK. */
static size_t capture_load(const capture_case_t *c) {
  size_t n = 0;
  for (; n < CAPTURE_MAX_PACKETS; n++) {
    char name[64];
    snprintf(name, sizeof name, "%s%s-%ux%u-%zu.rtp", c->source, c->codec, c->w, c->h, n);
    if (!test_load_rtp(name, capture_pkts[n].buf, CAPTURE_MAX_LEN, &capture_pkts[n].len)) break;
  }
  if (n < 2) {
    fprintf(stderr, "%s %ux%u: %zu packets in tests/data/rtp (set SFU_RTP_DATA)\n", c->codec, c->w,
            c->h, n);
    CHECK(n >= 2);
    return 0;
  }
  int frame = 0;
  for (size_t i = 0; i < n; i++) {
    capture_pkt_t *p = &capture_pkts[i];
    if (sfu_rtp_parse(p->buf, p->len, &p->h) != 0) {
      CHECK(!"RTP header parses");
      return 0;
    }
    CHECK_EQ_INT(p->h.version, 2);
    CHECK(!p->h.padding && p->h.header_len + p->h.payload_len == p->len);
    CHECK(sfu_rtp_ext_is_rfc8285(&p->h) && p->h.ext_profile == SFU_RTP_EXT_PROFILE_ONE_BYTE);
    if (i > 0) {
      const sfu_rtp_hdr_t *prev = &capture_pkts[i - 1].h;
      CHECK_EQ_INT(p->h.ssrc, prev->ssrc);
      CHECK_EQ_INT(p->h.payload_type, prev->payload_type);
      CHECK_EQ_INT(p->h.seq, (uint16_t)(prev->seq + 1));
      if (p->h.timestamp != prev->timestamp) frame++;
    }
    p->frame = frame;
  }
  for (size_t i = 0; i < n; i++) {
    capture_pkt_t *p = &capture_pkts[i];
    p->frame_last = i + 1 == n || capture_pkts[i + 1].h.timestamp != p->h.timestamp;
    CHECK_EQ_INT(p->h.marker, p->frame_last);
  }
  CHECK(frame >= 1); /* a keyframe and at least one delta frame */
  return n;
}

/* Names the case after its first failed CHECK (they print only a line number). */
static void capture_note_failure(const capture_case_t *c, int *noted) {
  if (test_cur_failed_ && !*noted) {
    fprintf(stderr, "  ^ in tests/data/rtp/%s%s-%ux%u-*.rtp\n", c->source, c->codec, c->w, c->h);
    *noted = 1;
  }
}

TEST(vp8_captured) {
  int noted = 0;
  for (size_t ci = 0; ci < sizeof captures / sizeof captures[0]; ci++) {
    const capture_case_t *c = &captures[ci];
    if (strcmp(c->codec, "vp8") != 0) continue;
    size_t n = capture_load(c);
    if (!n) {
      capture_note_failure(c, &noted);
      continue;
    }
    uint16_t frame_pid = 0;
    for (size_t i = 0; i < n; i++) {
      const capture_pkt_t *p = &capture_pkts[i];
      int first = i == 0 || capture_pkts[i - 1].frame != p->frame;
      sfu_vp8_desc_t d;
      if (sfu_vp8_parse(p->h.payload, p->h.payload_len, &d) != 0) {
        CHECK(!"VP8 payload parses");
        break;
      }
      /* Both: X=1 I=1 with a 15-bit PictureID, no L/T/K (one stream, no temporal
       * layers); S=1 only at a frame's start (one partition: PID always 0). */
      CHECK_EQ_INT(d.picture_id_bits, 15);
      CHECK(!d.has_tl0picidx && !d.has_tid && !d.has_keyidx);
      CHECK_EQ_INT(d.desc_len, 4);
      CHECK_EQ_INT(d.partition, 0);
      CHECK_EQ_INT(d.frame_start, first);
      if (first) {
        /* Every frame has the next PictureID (RFC 7741 §4.2: incremented per frame). */
        if (i > 0) CHECK_EQ_INT(d.picture_id, (frame_pid + 1) & 0x7fff);
        frame_pid = d.picture_id;
        CHECK_EQ_INT(d.keyframe, p->frame == 0);
        if (p->frame == 0) {
          CHECK_EQ_INT(d.width, c->w);
          CHECK_EQ_INT(d.height, c->h);
          CHECK(d.hscale == 0 && d.vscale == 0);
        } else {
          CHECK(d.width == 0 && d.height == 0);
        }
      } else {
        CHECK_EQ_INT(d.picture_id, frame_pid); /* the frame's PictureID on every packet */
        CHECK(!d.keyframe && d.width == 0);    /* no payload header after the first */
      }
    }
    /* The keyframe's first packet at every length: its descriptor and 10-byte header
     * (RFC 6386 §9.1) cut anywhere is ETRUNC, and once whole the size is read. */
    const sfu_rtp_hdr_t *h0 = &capture_pkts[0].h;
    for (size_t k = 0; k <= h0->payload_len; k++) {
      uint8_t *b = dup_exact(h0->payload, k);
      sfu_vp8_desc_t d;
      int r = sfu_vp8_parse(b, k, &d);
      if (k < 4 + 10) {
        CHECK_EQ_INT(r, SFU_ETRUNC);
      } else {
        CHECK(r == 0 && d.keyframe && d.width == c->w && d.height == c->h);
      }
      free(b);
    }
    capture_note_failure(c, &noted);
  }
}

TEST(h264_captured) {
  int noted = 0;
  for (size_t ci = 0; ci < sizeof captures / sizeof captures[0]; ci++) {
    const capture_case_t *c = &captures[ci];
    if (strcmp(c->codec, "h264") != 0) continue;
    size_t n = capture_load(c);
    if (!n) {
      capture_note_failure(c, &noted);
      continue;
    }
    int in_fu = 0, fu_type = 0, idr_starts = 0, idr_fragments = 0;
    for (size_t i = 0; i < n; i++) {
      const capture_pkt_t *p = &capture_pkts[i];
      sfu_h264_info_t in;
      if (sfu_h264_parse(p->h.payload, p->h.payload_len, &in) != 0) {
        CHECK(!"H.264 payload parses");
        break;
      }
      if (i == 0) {
        /* SPS and PPS (and x264's SEI) in one STAP-A (tests/data/rtp/README.md). */
        CHECK_EQ_INT(in.packet_type, SFU_H264_NAL_STAP_A);
        CHECK(in.has_sps && in.has_pps && in.keyframe && !in.has_idr);
        CHECK_EQ_INT(in.width, c->w); /* 638x358: 640x368 cropped (§7.4.2.1.1) */
        CHECK_EQ_INT(in.height, c->h);
      } else {
        CHECK(!in.has_sps && !in.has_pps && in.width == 0);
      }
      /* FU-A fragments (RFC 6184 §5.8) come start, middle..., end, one unit's type,
       * and a frame (marker) never ends inside one. */
      if (in.packet_type == SFU_H264_NAL_FU_A) {
        CHECK_EQ_INT(in.fu_start, !in_fu);
        if (in_fu) CHECK_EQ_INT(in.fu_nal_type, fu_type);
        fu_type = in.fu_nal_type;
        in_fu = !in.fu_end;
        /* Only the start fragment tells of an IDR; its type is in the FU header. */
        CHECK_EQ_INT(in.has_idr, in.fu_start && in.fu_nal_type == SFU_H264_NAL_IDR);
        if (in.fu_nal_type == SFU_H264_NAL_IDR) idr_fragments++;
      } else {
        CHECK(!in_fu);
      }
      if (p->frame_last) CHECK(!in_fu);
      if (in.has_idr) {
        idr_starts++;
        CHECK(in.keyframe);
        CHECK_EQ_INT(p->frame, 0); /* delta frames: no IDR, no SPS */
      }
      if (p->frame > 0) CHECK(!in.keyframe);
    }
    CHECK(idr_starts >= 1);
    CHECK(idr_fragments >= 2); /* every capture's IDR is over the MTU: FU-A */
    /* The STAP-A at every length: a prefix cut inside a unit is ETRUNC, one cut
     * between units parses; it is never a wrong size. */
    const sfu_rtp_hdr_t *h0 = &capture_pkts[0].h;
    int units = 0, parsed = 0;
    for (size_t off = 1; off + 2 <= h0->payload_len; units++)
      off += 2 + (size_t)(h0->payload[off] << 8 | h0->payload[off + 1]);
    for (size_t k = 0; k <= h0->payload_len; k++) {
      uint8_t *b = dup_exact(h0->payload, k);
      sfu_h264_info_t in;
      int r = sfu_h264_parse(b, k, &in);
      CHECK(r == 0 || r == SFU_ETRUNC);
      if (r == 0) {
        parsed++;
        CHECK(in.has_sps && in.width == c->w && in.height == c->h);
      }
      free(b);
    }
    CHECK_EQ_INT(parsed, units); /* after each unit (the SPS is the first) */
    CHECK(units >= 2);
    capture_note_failure(c, &noted);
  }
}

/* ====================================== VP9 ======================================= */

TEST(vp9_keyframe_with_scalability_structure) {
  /* I P L F B E V Z = 1 0 1 0 1 0 1 0: 15-bit picture id, layer indices (non-flexible:
   * TL0PICIDX), start of frame, SS with 2 spatial layers and sizes, one group. */
  // clang-format off
  uint8_t p[] = {0xaa,       0x81, 0x23, /* M=1 PictureID 0x123 */
                 0x00,                   /* TID 0 U 0 SID 0 D 0 */
                 0x07,                   /* TL0PICIDX */
                 0x38,                   /* N_S=1 (2 layers) Y=1 G=1 */
                 0x01, 0x40, 0x00, 0xb4, /* 320x180 */
                 0x02, 0x80, 0x01, 0x68, /* 640x360 */
                 0x01,                   /* N_G = 1 */
                 0x04, 0x01,             /* TID 0 U 0 R=1, one P_DIFF */
                 0x82, 0x49, 0x83};      /* frame data */
  // clang-format on
  sfu_vp9_desc_t d;
  REQUIRE(sfu_vp9_parse(p, sizeof p, &d) == 0);
  CHECK(d.keyframe && d.begin && !d.end && !d.inter_predicted && !d.flexible);
  CHECK_EQ_INT(d.picture_id_bits, 15);
  CHECK_EQ_INT(d.picture_id, 0x123);
  CHECK_EQ_INT(d.picture_id_off, 1);
  CHECK(d.has_layer && d.sid == 0 && d.tid == 0);
  CHECK(d.has_tl0picidx && d.tl0picidx == 7 && d.tl0picidx_off == 4);
  CHECK(d.has_ss && d.has_sizes);
  CHECK_EQ_INT(d.spatial_layers, 2);
  CHECK_EQ_INT(d.width, 640);
  CHECK_EQ_INT(d.height, 360);
  CHECK_EQ_INT(d.desc_len, 17);
  for (size_t k = 0; k < 18; k++) {
    uint8_t *b = dup_exact(p, k);
    CHECK_EQ_INT(sfu_vp9_parse(b, k, &d), SFU_ETRUNC);
    free(b);
  }
  p[7] = 0; /* a zero width */
  p[6] = 0;
  CHECK_EQ_INT(sfu_vp9_parse(p, sizeof p, &d), SFU_EPARSE);
}

TEST(vp9_delta_and_flexible) {
  sfu_vp9_desc_t d;
  /* Non-flexible delta frame, 7-bit picture id. */
  uint8_t delta[] = {0xec, 0x05, 0x20, 0x09, 0x00}; /* I P L B E; TID 1 */
  REQUIRE(sfu_vp9_parse(delta, sizeof delta, &d) == 0);
  CHECK(!d.keyframe && d.inter_predicted && d.picture_id == 5 && d.tid == 1);
  /* Keyframe of spatial layer 1 is not a single-stream keyframe. */
  uint8_t sid1[] = {0xa8, 0x05, 0x02, 0x09, 0x00};
  REQUIRE(sfu_vp9_parse(sid1, sizeof sid1, &d) == 0);
  CHECK(d.sid == 1 && !d.keyframe);
  /* Flexible mode, P=1: P_DIFFs with N bits, no TL0PICIDX. */
  uint8_t flex[] = {0xf8, 0x05, 0x00, 0x03, 0x05, 0x06, 0x00};
  REQUIRE(sfu_vp9_parse(flex, sizeof flex, &d) == 0);
  CHECK(d.flexible && !d.has_tl0picidx && d.num_pdiff == 3 && d.desc_len == 6);
  uint8_t four[] = {0xf8, 0x05, 0x00, 0x03, 0x05, 0x07, 0x08, 0x00};
  CHECK_EQ_INT(sfu_vp9_parse(four, sizeof four, &d), SFU_EPARSE);
  /* Minimal: no optional fields, start of an intra frame. */
  uint8_t bare[] = {0x08, 0x82};
  REQUIRE(sfu_vp9_parse(bare, sizeof bare, &d) == 0);
  CHECK(d.keyframe && !d.has_layer && d.desc_len == 1 && d.width == 0);
  CHECK_EQ_INT(sfu_vp9_parse(bare, 1, &d), SFU_ETRUNC);
}

TEST(vp9_garbage) {
  uint8_t buf[48];
  sfu_vp9_desc_t d;
  for (int i = 0; i < 20000; i++) {
    size_t n = lcg_byte() % sizeof buf;
    for (size_t k = 0; k < n; k++) buf[k] = lcg_byte();
    uint8_t *b = dup_exact(buf, n);
    int r = sfu_vp9_parse(b, n, &d);
    CHECK(r == 0 || r == SFU_ETRUNC || r == SFU_EPARSE);
    if (r == 0) CHECK(d.desc_len < n);
    free(b);
  }
}

/* ====================================== AV1 ======================================= */

TEST(av1_aggregation_header) {
  sfu_av1_info_t in;
  uint8_t seq_start[] = {0x18, 0x0a, 0x0b}; /* Z=0 Y=0 W=1 N=1, a sequence header OBU */
  REQUIRE(sfu_av1_parse(seq_start, sizeof seq_start, &in) == 0);
  CHECK(in.new_sequence && in.keyframe && in.obu_count == 1 && !in.continuation);
  uint8_t delta[] = {0x60, 0x32}; /* Y=1 W=2 N=0 */
  REQUIRE(sfu_av1_parse(delta, sizeof delta, &in) == 0);
  CHECK(!in.keyframe && in.continues && in.obu_count == 2);
  uint8_t cont[] = {0x80, 0x00};
  REQUIRE(sfu_av1_parse(cont, sizeof cont, &in) == 0);
  CHECK(in.continuation && !in.keyframe);
  uint8_t bad[] = {0x88, 0x00}; /* N=1 with Z=1 */
  CHECK_EQ_INT(sfu_av1_parse(bad, sizeof bad, &in), SFU_EPARSE);
  CHECK_EQ_INT(sfu_av1_parse(seq_start, 1, &in), SFU_ETRUNC);
  CHECK_EQ_INT(sfu_av1_parse(seq_start, 0, &in), SFU_ETRUNC);
}

/* ============================ RTP padding-only probes ============================= */

TEST(rtp_padding_only) {
  /* libwebrtc's probe: P=1, no payload, 255 bytes of padding ending in the count. */
  uint8_t pkt[12 + 255];
  memset(pkt, 0, sizeof pkt);
  pkt[0] = 0xa0; /* V=2 P=1 */
  pkt[1] = 96;
  pkt[sizeof pkt - 1] = 255;
  sfu_rtp_hdr_t h;
  REQUIRE(sfu_rtp_parse(pkt, sizeof pkt, &h) == 0);
  CHECK(sfu_rtp_is_padding_only(&h));
  /* One payload byte before the padding: media. */
  pkt[sizeof pkt - 1] = 254;
  REQUIRE(sfu_rtp_parse(pkt, sizeof pkt, &h) == 0);
  CHECK(!sfu_rtp_is_padding_only(&h));
  /* No P bit and no payload: not a probe either (nothing was padded). */
  pkt[0] = 0x80;
  REQUIRE(sfu_rtp_parse(pkt, 12, &h) == 0);
  CHECK(!sfu_rtp_is_padding_only(&h));
}

int main(void) {
  RUN(vp8_minimal_descriptor_keyframe_640x480);
  RUN(vp8_full_descriptor_keyframe_1280x720);
  RUN(vp8_seven_bit_picture_id_and_rewrite);
  RUN(vp8_fifteen_bit_rewrite_and_absent_fields);
  RUN(vp8_delta_frame_and_later_partitions);
  RUN(vp8_malformed_keyframes);
  RUN(vp8_garbage);
  RUN(h264_sps_baseline_1280x720);
  RUN(h264_sps_1920x1080_cropped);
  RUN(h264_sps_high_profiles);
  RUN(h264_sps_emulation_prevention);
  RUN(h264_sps_x264_capture);
  RUN(h264_sps_out_of_range);
  RUN(h264_stap_a_keyframe);
  RUN(h264_single_nal);
  RUN(h264_fu_a);
  RUN(h264_garbage);
  RUN(vp8_captured);
  RUN(h264_captured);
  RUN(vp9_keyframe_with_scalability_structure);
  RUN(vp9_delta_and_flexible);
  RUN(vp9_garbage);
  RUN(av1_aggregation_header);
  RUN(rtp_padding_only);
  return test_summary();
}
