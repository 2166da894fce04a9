/* H.264 RTP payloads (RFC 6184, packetization-mode 1) and SPS picture size (see
 * sfu/codec_h264.h). */
#include "sfu/codec_h264.h"

#include "sfu/bytes.h"
#include "sfu/err.h"

/* --- RBSP bit reader (H.264 §7.2, §9.1) ------------------------------------------- */

/* Reads the RBSP of a NAL unit straight from the escaped bytes: H.264 §7.4.1 "emulation
 * _prevention_three_byte ... shall be discarded", i.e. a 0x03 after two zero bytes is
 * skipped, so no copy and no buffer. Errors are sticky and every read after one
 * returns 0, so the SPS walk needs one check at the end; its loops are bounded by
 * constants, not by values read. */
typedef struct {
  const uint8_t *p, *end;
  unsigned zeros; /* consecutive 0x00 bytes just read */
  unsigned cur;   /* current byte */
  int left;       /* bits of cur not yet read */
  int err;
} rbsp_t;

static unsigned rbsp_bit(rbsp_t *r) {
  if (r->err) return 0;
  if (r->left == 0) {
    if (r->p >= r->end) goto trunc;
    unsigned b = *r->p++;
    if (r->zeros >= 2 && b == 0x03) {
      if (r->p >= r->end) goto trunc;
      r->zeros = 0;
      b = *r->p++;
    }
    r->zeros = b == 0 ? r->zeros + 1 : 0;
    r->cur = b;
    r->left = 8;
  }
  r->left--;
  return (r->cur >> r->left) & 1;
trunc:
  r->err = SFU_ETRUNC;
  return 0;
}

static uint32_t rbsp_bits(rbsp_t *r, int n) { /* n <= 32 */
  uint32_t v = 0;
  for (int i = 0; i < n; i++) v = v << 1 | rbsp_bit(r);
  return v;
}

/* §9.1 ue(v): leadingZeroBits zeros, a 1, then that many bits; codeNum =
 * 2^leadingZeroBits - 1 + bits. More than 31 zeros cannot be a value of any SPS
 * field. */
static uint32_t rbsp_ue(rbsp_t *r) {
  int lz = 0;
  while (!rbsp_bit(r)) {
    if (r->err) return 0;
    if (++lz > 31) {
      r->err = SFU_EPARSE;
      return 0;
    }
  }
  return (uint32_t)((1u << lz) - 1u + rbsp_bits(r, lz));
}

/* §9.1.1 se(v): codeNum k maps to (-1)^(k+1) * Ceil(k / 2). */
static int64_t rbsp_se(rbsp_t *r) {
  uint32_t k = rbsp_ue(r);
  return (k & 1) ? (int64_t)(k / 2 + 1) : -(int64_t)(k / 2);
}

/* A value out of its range in the standard makes the SPS unusable. */
static void rbsp_check(rbsp_t *r, uint32_t v, uint32_t max) {
  if (!r->err && v > max) r->err = SFU_EPARSE;
}

/* §7.3.2.1.1.1 scaling_list(): read only to skip it. delta_scale is se(v) in -128..127;
 * the list stops early when nextScale becomes 0. */
static void skip_scaling_list(rbsp_t *r, int size) {
  int last = 8, next = 8;
  for (int j = 0; j < size && !r->err; j++) {
    if (next != 0) {
      int64_t delta = rbsp_se(r);
      if (delta < -128 || delta > 127) {
        r->err = SFU_EPARSE;
        return;
      }
      next = (last + (int)delta + 256) % 256;
    }
    last = next == 0 ? last : next;
  }
}

/* profile_idc values whose SPS carries chroma_format_idc, bit depths and scaling
 * matrices (§7.3.2.1.1: the "if( profile_idc = = 100 | | ... )" list). */
static int profile_has_chroma_info(uint32_t profile_idc) {
  static const uint8_t high[] = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135};
  for (size_t i = 0; i < sizeof high; i++)
    if (profile_idc == high[i]) return 1;
  return 0;
}

#define SPS_MAX_DIM 16384 /* well past any level's limit (level 6.2: 8192 wide) */

/* §7.3.2.1.1 seq_parameter_set_data(), read from the RBSP after the NAL header, up to
 * frame_cropping; the sizes follow §7.4.2.1.1 (PicWidthInMbs, FrameHeightInMbs) and
 * the crop units of Table 6-1 (CropUnitX/Y from ChromaArrayType, SubWidthC,
 * SubHeightC). */
static int sps_size(const uint8_t *rbsp, size_t len, uint16_t *width, uint16_t *height) {
  rbsp_t r = {.p = rbsp, .end = rbsp + len};
  uint32_t profile_idc = rbsp_bits(&r, 8);
  rbsp_bits(&r, 8);                /* constraint_set0..5_flag, reserved_zero_2bits */
  rbsp_bits(&r, 8);                /* level_idc */
  rbsp_check(&r, rbsp_ue(&r), 31); /* seq_parameter_set_id */
  uint32_t chroma_format_idc = 1;  /* "When not present, it shall be inferred to be 1" */
  uint32_t separate_colour_plane = 0;
  if (profile_has_chroma_info(profile_idc)) {
    chroma_format_idc = rbsp_ue(&r);
    rbsp_check(&r, chroma_format_idc, 3);
    if (chroma_format_idc == 3) separate_colour_plane = rbsp_bit(&r);
    rbsp_check(&r, rbsp_ue(&r), 6); /* bit_depth_luma_minus8 */
    rbsp_check(&r, rbsp_ue(&r), 6); /* bit_depth_chroma_minus8 */
    rbsp_bit(&r);                   /* qpprime_y_zero_transform_bypass_flag */
    if (rbsp_bit(&r)) {             /* seq_scaling_matrix_present_flag */
      int n = chroma_format_idc != 3 ? 8 : 12;
      for (int i = 0; i < n && !r.err; i++)
        if (rbsp_bit(&r)) skip_scaling_list(&r, i < 6 ? 16 : 64);
    }
  }
  rbsp_check(&r, rbsp_ue(&r), 12); /* log2_max_frame_num_minus4 */
  uint32_t poc_type = rbsp_ue(&r);
  rbsp_check(&r, poc_type, 2);
  if (poc_type == 0) {
    rbsp_check(&r, rbsp_ue(&r), 12); /* log2_max_pic_order_cnt_lsb_minus4 */
  } else if (poc_type == 1) {
    rbsp_bit(&r);             /* delta_pic_order_always_zero_flag */
    rbsp_se(&r);              /* offset_for_non_ref_pic */
    rbsp_se(&r);              /* offset_for_top_to_bottom_field */
    uint32_t n = rbsp_ue(&r); /* num_ref_frames_in_pic_order_cnt_cycle: 0..255 */
    rbsp_check(&r, n, 255);
    for (uint32_t i = 0; i < n && !r.err; i++) rbsp_se(&r); /* offset_for_ref_frame[i] */
  }
  rbsp_ue(&r);                        /* max_num_ref_frames */
  rbsp_bit(&r);                       /* gaps_in_frame_num_value_allowed_flag */
  uint32_t w_mbs = rbsp_ue(&r) + 1;   /* pic_width_in_mbs_minus1 */
  uint32_t h_units = rbsp_ue(&r) + 1; /* pic_height_in_map_units_minus1 */
  uint32_t frame_mbs_only = rbsp_bit(&r);
  if (!frame_mbs_only) rbsp_bit(&r); /* mb_adaptive_frame_field_flag */
  rbsp_bit(&r);                      /* direct_8x8_inference_flag */
  uint32_t crop_l = 0, crop_r = 0, crop_t = 0, crop_b = 0;
  if (rbsp_bit(&r)) { /* frame_cropping_flag */
    crop_l = rbsp_ue(&r);
    crop_r = rbsp_ue(&r);
    crop_t = rbsp_ue(&r);
    crop_b = rbsp_ue(&r);
  }
  if (r.err) return r.err;
  /* Bound before multiplying: ue values reach 2^32 - 2. */
  if (w_mbs > SPS_MAX_DIM / 16 || h_units > SPS_MAX_DIM / 16) return SFU_EPARSE;
  uint32_t w = w_mbs * 16, h = (2 - frame_mbs_only) * h_units * 16;
  uint32_t chroma_array_type = separate_colour_plane ? 0 : chroma_format_idc;
  uint32_t unit_x = 1, unit_y = 2 - frame_mbs_only;
  if (chroma_array_type != 0) {
    unit_x = chroma_format_idc == 3 ? 1 : 2;  /* SubWidthC */
    unit_y *= chroma_format_idc == 1 ? 2 : 1; /* SubHeightC */
  }
  /* §7.4.2.1.1: the crop "shall" leave a non-empty picture; in 64 bits since each
   * offset alone may be near 2^32. */
  uint64_t cx = (uint64_t)unit_x * ((uint64_t)crop_l + crop_r);
  uint64_t cy = (uint64_t)unit_y * ((uint64_t)crop_t + crop_b);
  if (cx >= w || cy >= h || h > SPS_MAX_DIM) return SFU_EPARSE;
  *width = (uint16_t)(w - cx);
  *height = (uint16_t)(h - cy);
  return 0;
}

int sfu_h264_sps_resolution(const uint8_t *nal, size_t len, uint16_t *width, uint16_t *height) {
  if (len < 1) return SFU_ETRUNC;
  if ((nal[0] & 0x80) || (nal[0] & 0x1f) != SFU_H264_NAL_SPS) return SFU_EPARSE;
  return sps_size(nal + 1, len - 1, width, height);
}

/* --- RTP packetization (RFC 6184) --------------------------------------------------- */

/* Notes one NAL unit that begins in the packet: its type `type` and the bytes after its
 * NAL header (rbsp, len). `whole` = 0 for an FU-A start fragment, where an SPS may be
 * cut: then the size stays unknown rather than the packet being refused. */
static int note_nal(uint8_t type, const uint8_t *rbsp, size_t len, int whole,
                    sfu_h264_info_t *info) {
  if (type == SFU_H264_NAL_IDR) info->has_idr = 1;
  if (type == SFU_H264_NAL_PPS) info->has_pps = 1;
  if (type != SFU_H264_NAL_SPS) return 0;
  info->has_sps = 1;
  if (info->width) return 0; /* the first SPS of the packet gives the size */
  uint16_t w, h;
  int r = sps_size(rbsp, len, &w, &h);
  if (r == SFU_ETRUNC && !whole) return 0;
  if (r) return r;
  info->width = w;
  info->height = h;
  return 0;
}

/* RFC 6184 §5.7.1 STAP-A: after the STAP-A NAL header, units of
 * |NALU size (16)|NAL header|payload...|, back to back to the end of the packet. */
static int parse_stap_a(const uint8_t *p, size_t len, sfu_h264_info_t *info) {
  size_t off = 1;
  if (off >= len) return SFU_ETRUNC; /* an aggregate of nothing */
  while (off < len) {
    if (len - off < 2) return SFU_ETRUNC;
    size_t n = sfu_rd16(p + off);
    off += 2;
    if (n == 0) return SFU_EPARSE;
    if (n > len - off) return SFU_ETRUNC;
    /* §5.3: "The F bit MUST be cleared" in every NAL unit header. */
    if (p[off] & 0x80) return SFU_EPARSE;
    int r = note_nal(p[off] & 0x1f, p + off + 1, n - 1, 1, info);
    if (r) return r;
    off += n;
  }
  return 0;
}

/* RFC 6184 §5.8 FU-A: |FU indicator|FU header: S|E|R|Type|fragment...|. The type of
 * the fragmented unit is only meaningful here; its NAL header is not repeated. */
static int parse_fu_a(const uint8_t *p, size_t len, sfu_h264_info_t *info) {
  if (len < 2) return SFU_ETRUNC;
  uint8_t fu = p[1];
  info->fu_start = fu >> 7;
  info->fu_end = (fu >> 6) & 1;
  info->fu_nal_type = fu & 0x1f;
  /* "A fragmented NAL unit MUST NOT be transmitted in one FU; that is, the Start bit
   * and End bit MUST NOT both be set to one in the same FU header." */
  if (info->fu_start && info->fu_end) return SFU_EPARSE;
  if (len < 3) return SFU_ETRUNC; /* an FU carries at least one byte of its unit */
  if (!info->fu_start) return 0;
  return note_nal(info->fu_nal_type, p + 2, len - 2, 0, info);
}

int sfu_h264_parse(const uint8_t *p, size_t len, sfu_h264_info_t *info) {
  *info = (sfu_h264_info_t){0};
  if (len < 1) return SFU_ETRUNC;
  if (p[0] & 0x80) return SFU_EPARSE; /* forbidden_zero_bit (RFC 6184 §5.3) */
  uint8_t type = p[0] & 0x1f;
  info->packet_type = type;
  int r;
  if (type >= 1 && type <= 23) /* §5.6 single NAL unit packet */
    r = note_nal(type, p + 1, len - 1, 1, info);
  else if (type == SFU_H264_NAL_STAP_A)
    r = parse_stap_a(p, len, info);
  else if (type == SFU_H264_NAL_FU_A)
    r = parse_fu_a(p, len, info);
  else /* 0, 30, 31 undefined; STAP-B, MTAP16/24, FU-B are not in mode 1 (§6.3) */
    r = SFU_EPARSE;
  if (r) return r;
  info->keyframe = info->has_sps || info->has_idr;
  return 0;
}
