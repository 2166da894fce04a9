/* VP8 RTP payload descriptor and keyframe header (see sfu/codec_vp8.h). */
#include "sfu/codec_vp8.h"

#include "sfu/err.h"
#include "picture_id.h"

/* RFC 6386 §9.1: the frame tag is 3 bytes; a keyframe adds the 3-byte start code and
 * two 16-bit little-endian size fields. */
#define VP8_FRAME_TAG_LEN 3
#define VP8_KEYFRAME_HDR_LEN 10

/* RFC 7741 §4.3 / RFC 6386 §9.1: frame tag bit 0 is P, the "inverse key frame flag";
 * then (keyframes only) start code 9d 01 2a, then
 *   |scale(2)|width(14)| |scale(2)|height(14)|, each little-endian. */
static int vp8_payload_header(const uint8_t *p, size_t len, sfu_vp8_desc_t *d) {
  if (len < VP8_FRAME_TAG_LEN) return SFU_ETRUNC;
  d->keyframe = (p[0] & 0x01) == 0;
  if (!d->keyframe) return 0;
  if (len < VP8_KEYFRAME_HDR_LEN) return SFU_ETRUNC;
  if (p[3] != 0x9d || p[4] != 0x01 || p[5] != 0x2a) return SFU_EPARSE;
  uint16_t w = (uint16_t)(p[6] | p[7] << 8), h = (uint16_t)(p[8] | p[9] << 8);
  d->width = w & 0x3fff;
  d->hscale = (uint8_t)(w >> 14);
  d->height = h & 0x3fff;
  d->vscale = (uint8_t)(h >> 14);
  /* A keyframe of 0 pixels is not a picture: a lying publisher, not a size to index. */
  if (d->width == 0 || d->height == 0) return SFU_EPARSE;
  return 0;
}

int sfu_vp8_parse(const uint8_t *p, size_t len, sfu_vp8_desc_t *d) {
  *d = (sfu_vp8_desc_t){0};
  /* RFC 7741 §4.2:
   *       0 1 2 3 4 5 6 7
   *      |X|R|N|S|R| PID | (REQUIRED)
   *   X: |I|L|T|K| RSV   | (OPTIONAL)
   *   I: |M| PictureID   | (OPTIONAL, 7 or 15 bits)
   *   L: |   TL0PICIDX   | (OPTIONAL)
   *   T/K: |TID|Y| KEYIDX  | (OPTIONAL)
   * Each optional octet is present only if its flag is set, in this order. */
  size_t off = 0;
  if (len < 1) return SFU_ETRUNC;
  uint8_t b0 = p[off++];
  d->non_reference = (b0 >> 5) & 1;
  d->start = (b0 >> 4) & 1;
  d->partition = b0 & 0x07;
  if (b0 & 0x80) {
    if (off >= len) return SFU_ETRUNC;
    uint8_t x = p[off++];
    if (x & 0x80) { /* I */
      d->picture_id_off = (uint8_t)off;
      int r = sfu_picture_id_read(p, len, &off, &d->picture_id, &d->picture_id_bits);
      if (r) return r;
    }
    if (x & 0x40) { /* L */
      if (off >= len) return SFU_ETRUNC;
      d->has_tl0picidx = 1;
      d->tl0picidx_off = (uint8_t)off;
      d->tl0picidx = p[off++];
    }
    /* "When T or K is 1, the TID/Y/KEYIDX extension field MUST be present"; the
     * sub-fields of the unset flag are ignored. */
    if (x & 0x30) {
      if (off >= len) return SFU_ETRUNC;
      uint8_t tk = p[off];
      d->tk_off = (uint8_t)off++;
      d->has_tid = (x >> 5) & 1;
      d->has_keyidx = (x >> 4) & 1;
      if (d->has_tid) {
        d->tid = tk >> 6;
        d->layer_sync = (tk >> 5) & 1;
      }
      if (d->has_keyidx) d->keyidx = tk & 0x1f;
    }
  }
  d->desc_len = (uint8_t)off;
  /* The descriptor is followed by at least one octet of VP8 payload (RFC 7741 §4.1:
   * every packet carries payload data); an empty one is a cut packet. */
  if (off >= len) return SFU_ETRUNC;
  /* RFC 7741 §4.3: "the VP8 payload header ... only present in the first packet of
   * each frame", i.e. when S=1 and PID=0. */
  d->frame_start = d->start && d->partition == 0;
  if (!d->frame_start) return 0;
  return vp8_payload_header(p + off, len - off, d);
}

int sfu_vp8_set_picture_id(uint8_t *p, const sfu_vp8_desc_t *d, uint16_t picture_id) {
  if (!d->picture_id_bits) return SFU_ENOENT;
  uint8_t *q = p + d->picture_id_off;
  if (d->picture_id_bits == 15) {
    q[0] = (uint8_t)(0x80 | ((picture_id >> 8) & 0x7f));
    q[1] = (uint8_t)picture_id;
  } else {
    q[0] = (uint8_t)(picture_id & 0x7f);
  }
  return 0;
}

int sfu_vp8_set_tl0picidx(uint8_t *p, const sfu_vp8_desc_t *d, uint8_t tl0picidx) {
  if (!d->has_tl0picidx) return SFU_ENOENT;
  p[d->tl0picidx_off] = tl0picidx;
  return 0;
}
