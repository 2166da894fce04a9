/* See load_codec.h. */
#include "load_codec.h"

#include <string.h>

#include "sfu/bytes.h"

/* RFC 8285 §4.2: ID (4 bits) | L = length - 1 (4 bits) | data. */
static size_t put_elem(uint8_t *p, uint8_t id, const void *data, size_t len) {
  p[0] = (uint8_t)(id << 4 | (len - 1));
  memcpy(p + 1, data, len);
  return 1 + len;
}

static size_t str_len16(const char *s) {
  size_t n = s ? strlen(s) : 0;
  return n > 16 ? 16 : n;
}

int load_rtp_write_header(uint8_t *buf, size_t cap, const load_rtp_hdr_t *h,
                          const load_rtp_ext_t *ext) {
  uint8_t el[80];
  size_t n = 0;
  if (ext) {
    size_t l;
    if (ext->mid_id && (l = str_len16(ext->mid))) n += put_elem(el + n, ext->mid_id, ext->mid, l);
    if (ext->rid_id && (l = str_len16(ext->rid))) n += put_elem(el + n, ext->rid_id, ext->rid, l);
    if (ext->rrid_id && (l = str_len16(ext->rrid)))
      n += put_elem(el + n, ext->rrid_id, ext->rrid, l);
    if (ext->twcc_id) {
      uint8_t v[2];
      sfu_wr16(v, ext->twcc_seq);
      n += put_elem(el + n, ext->twcc_id, v, 2);
    }
    if (ext->abs_id) {
      uint8_t v[3];
      sfu_wr24(v, ext->abs_send_time & 0xFFFFFFu);
      n += put_elem(el + n, ext->abs_id, v, 3);
    }
  }
  size_t words = (n + 3) / 4;
  size_t total = 12 + (n ? 4 + words * 4 : 0);
  if (cap < total) return -1;
  buf[0] = (uint8_t)(0x80 | (h->padding ? 0x20 : 0) | (n ? 0x10 : 0));
  buf[1] = (uint8_t)((h->marker ? 0x80 : 0) | (h->pt & 0x7f));
  sfu_wr16(buf + 2, h->seq);
  sfu_wr32(buf + 4, h->ts);
  sfu_wr32(buf + 8, h->ssrc);
  if (n) {
    sfu_wr16(buf + 12, 0xBEDE);
    sfu_wr16(buf + 14, (uint16_t)words);
    memcpy(buf + 16, el, n);
    memset(buf + 16 + n, 0, words * 4 - n);
  }
  return (int)total;
}

int load_vp8_write_desc(uint8_t *buf, size_t cap, int start, uint16_t picture_id,
                        uint8_t tl0picidx) {
  if (cap < LOAD_VP8_DESC_LEN) return -1;
  buf[0] = (uint8_t)(0x80 | (start ? 0x10 : 0)); /* X, S, PID 0 */
  buf[1] = 0x80 | 0x40 | 0x20;                   /* I, L, T */
  buf[2] = (uint8_t)(0x80 | ((picture_id >> 8) & 0x7f)); /* M: 15-bit PictureID */
  buf[3] = (uint8_t)picture_id;
  buf[4] = tl0picidx;
  buf[5] = 0x20; /* TID 0, Y=1 (every frame of a single temporal layer is a sync point) */
  return LOAD_VP8_DESC_LEN;
}

/* RFC 6386 §9.1: size_0 bit 0 = !key_frame, bits 1-3 version, bit 4 show_frame,
 * bits 5-23 first_part_size (little-endian across the 3 bytes). */
static void put_tag(uint8_t *p, int key, uint32_t first_part_size) {
  uint32_t tag = (key ? 0u : 1u) | (1u << 4) | ((first_part_size & 0x7FFFFu) << 5);
  p[0] = (uint8_t)tag;
  p[1] = (uint8_t)(tag >> 8);
  p[2] = (uint8_t)(tag >> 16);
}

int load_vp8_write_key_header(uint8_t *buf, size_t cap, uint16_t width, uint16_t height,
                              uint32_t first_part_size) {
  if (cap < LOAD_VP8_KEY_HDR_LEN) return -1;
  put_tag(buf, 1, first_part_size);
  buf[3] = 0x9d;
  buf[4] = 0x01;
  buf[5] = 0x2a;
  buf[6] = (uint8_t)width;
  buf[7] = (uint8_t)((width >> 8) & 0x3f); /* horizontal_scale 0 */
  buf[8] = (uint8_t)height;
  buf[9] = (uint8_t)((height >> 8) & 0x3f);
  return LOAD_VP8_KEY_HDR_LEN;
}

int load_vp8_write_delta_tag(uint8_t *buf, size_t cap, uint32_t first_part_size) {
  if (cap < 3) return -1;
  put_tag(buf, 0, first_part_size);
  return 3;
}

/* ---- H.264 bit writer (RBSP), then emulation prevention into the NAL unit ---- */

typedef struct {
  uint8_t b[64];
  size_t bit;
} bitw_t;

static void put_bit(bitw_t *w, unsigned v) {
  if (w->bit / 8 >= sizeof w->b) return;
  if (v) w->b[w->bit / 8] |= (uint8_t)(0x80u >> (w->bit % 8));
  w->bit++;
}
static void put_bits(bitw_t *w, uint32_t v, int n) {
  for (int i = n - 1; i >= 0; i--) put_bit(w, (v >> i) & 1u);
}
/* §9.1: ue(v) = leadingZeroBits zeros, 1, then the low bits of v + 1. */
static void put_ue(bitw_t *w, uint32_t v) {
  uint64_t x = (uint64_t)v + 1;
  int n = 0;
  while ((x >> (n + 1)) != 0) n++;
  put_bits(w, 0, n);
  put_bits(w, (uint32_t)x, n + 1);
}
static void put_se(bitw_t *w, int32_t v) {
  put_ue(w, v > 0 ? (uint32_t)(2 * v - 1) : (uint32_t)(-2 * v));
}
/* rbsp_trailing_bits (§7.3.2.11): a 1 then zeros to the byte boundary. */
static size_t finish(bitw_t *w) {
  put_bit(w, 1);
  while (w->bit % 8) put_bit(w, 0);
  return w->bit / 8;
}

/* §7.4.1.1: 00 00 followed by 00..03 gets an emulation_prevention_three_byte. */
static int write_nal(uint8_t *buf, size_t cap, uint8_t nal_hdr, const uint8_t *rbsp, size_t n) {
  size_t o = 0;
  int zeros = 0;
  if (cap < 1) return -1;
  buf[o++] = nal_hdr;
  for (size_t i = 0; i < n; i++) {
    if (zeros >= 2 && rbsp[i] <= 3) {
      if (o >= cap) return -1;
      buf[o++] = 3;
      zeros = 0;
    }
    if (o >= cap) return -1;
    buf[o++] = rbsp[i];
    zeros = rbsp[i] == 0 ? zeros + 1 : 0;
  }
  return (int)o;
}

int load_h264_write_sps(uint8_t *buf, size_t cap, uint16_t width, uint16_t height) {
  if (width == 0 || height == 0 || (width & 1) || (height & 1)) return -1;
  bitw_t w = {{0}, 0};
  uint32_t w_mbs = (width + 15u) / 16u, h_mbs = (height + 15u) / 16u;
  put_bits(&w, 66, 8);   /* profile_idc: baseline */
  put_bits(&w, 0xE0, 8); /* constraint_set0..2 (matches profile-level-id 42e01f) */
  put_bits(&w, 31, 8);   /* level_idc 3.1 */
  put_ue(&w, 0);         /* seq_parameter_set_id */
  put_ue(&w, 0);         /* log2_max_frame_num_minus4 */
  put_ue(&w, 2);         /* pic_order_cnt_type 2: nothing more to send */
  put_ue(&w, 1);         /* max_num_ref_frames */
  put_bit(&w, 0);        /* gaps_in_frame_num_value_allowed_flag */
  put_ue(&w, w_mbs - 1); /* pic_width_in_mbs_minus1 */
  put_ue(&w, h_mbs - 1); /* pic_height_in_map_units_minus1 */
  put_bit(&w, 1);        /* frame_mbs_only_flag */
  put_bit(&w, 1);        /* direct_8x8_inference_flag */
  uint32_t crop_r = w_mbs * 16 - width, crop_b = h_mbs * 16 - height;
  /* Table 6-1, 4:2:0 with frame_mbs_only: CropUnitX = CropUnitY = 2. */
  put_bit(&w, crop_r || crop_b);
  if (crop_r || crop_b) {
    put_ue(&w, 0);
    put_ue(&w, crop_r / 2);
    put_ue(&w, 0);
    put_ue(&w, crop_b / 2);
  }
  put_bit(&w, 0); /* vui_parameters_present_flag */
  size_t n = finish(&w);
  return write_nal(buf, cap, 0x67, w.b, n); /* NRI 3, type 7 */
}

int load_h264_write_pps(uint8_t *buf, size_t cap) {
  bitw_t w = {{0}, 0};
  put_ue(&w, 0);   /* pic_parameter_set_id */
  put_ue(&w, 0);   /* seq_parameter_set_id */
  put_bit(&w, 0);  /* entropy_coding_mode_flag: CAVLC */
  put_bit(&w, 0);  /* bottom_field_pic_order_in_frame_present_flag */
  put_ue(&w, 0);   /* num_slice_groups_minus1 */
  put_ue(&w, 0);   /* num_ref_idx_l0_default_active_minus1 */
  put_ue(&w, 0);   /* num_ref_idx_l1_default_active_minus1 */
  put_bit(&w, 0);  /* weighted_pred_flag */
  put_bits(&w, 0, 2); /* weighted_bipred_idc */
  put_se(&w, 0);   /* pic_init_qp_minus26 */
  put_se(&w, 0);   /* pic_init_qs_minus26 */
  put_se(&w, 0);   /* chroma_qp_index_offset */
  put_bit(&w, 1);  /* deblocking_filter_control_present_flag */
  put_bit(&w, 0);  /* constrained_intra_pred_flag */
  put_bit(&w, 0);  /* redundant_pic_cnt_present_flag */
  size_t n = finish(&w);
  return write_nal(buf, cap, 0x68, w.b, n); /* NRI 3, type 8 */
}
