/* VP9 RTP payload descriptor (see sfu/codec_vp9.h). */
#include "sfu/codec_vp9.h"

#include "sfu/bytes.h"
#include "sfu/err.h"
#include "picture_id.h"

/* RFC 9628 §4.2.1 scalability structure:
 *   |N_S|Y|G|-|-|-|
 *   Y: (N_S + 1) x |WIDTH (16)|HEIGHT (16)|
 *   G: |N_G (8)|, then N_G x (|TID|U| R |-|-| and R octets of P_DIFF) */
static int parse_ss(const uint8_t *p, size_t len, size_t *off, sfu_vp9_desc_t *d) {
  size_t o = *off;
  if (o >= len) return SFU_ETRUNC;
  uint8_t b = p[o++];
  d->has_ss = 1;
  d->spatial_layers = (uint8_t)((b >> 5) + 1);
  d->has_sizes = (b >> 4) & 1;
  int has_groups = (b >> 3) & 1;
  if (d->has_sizes) {
    if (len - o < 4u * d->spatial_layers) return SFU_ETRUNC;
    for (int i = 0; i < d->spatial_layers; i++, o += 4) {
      uint16_t w = sfu_rd16(p + o), h = sfu_rd16(p + o + 2);
      if (w == 0 || h == 0) return SFU_EPARSE;
      /* Layers are listed from the lowest up; the last is the full picture. */
      d->width = w;
      d->height = h;
    }
  }
  if (has_groups) {
    if (o >= len) return SFU_ETRUNC;
    unsigned n_g = p[o++];
    for (unsigned i = 0; i < n_g; i++) { /* at most 255 groups: bounded */
      if (o >= len) return SFU_ETRUNC;
      unsigned r = (p[o++] >> 2) & 0x03;
      if (len - o < r) return SFU_ETRUNC;
      o += r;
    }
  }
  *off = o;
  return 0;
}

int sfu_vp9_parse(const uint8_t *p, size_t len, sfu_vp9_desc_t *d) {
  *d = (sfu_vp9_desc_t){0};
  /* RFC 9628 §4.2:
   *      |I|P|L|F|B|E|V|Z| (REQUIRED)
   *   I: |M| PICTURE ID  | (RECOMMENDED, 7 or 15 bits)
   *   L: |  TID  |U| SID |D| (CONDITIONALLY RECOMMENDED)
   *      |   TL0PICIDX   | (CONDITIONALLY REQUIRED: non-flexible mode only)
   *      |   P_DIFF    |N| (F=1 and P=1 only, up to 3 times)
   *   V: scalability structure */
  size_t off = 0;
  if (len < 1) return SFU_ETRUNC;
  uint8_t b0 = p[off++];
  d->inter_predicted = (b0 >> 6) & 1;
  d->flexible = (b0 >> 4) & 1;
  d->begin = (b0 >> 3) & 1;
  d->end = (b0 >> 2) & 1;
  d->not_ref_upper = b0 & 1;
  if (b0 & 0x80) { /* I */
    d->picture_id_off = (uint8_t)off;
    int r = sfu_picture_id_read(p, len, &off, &d->picture_id, &d->picture_id_bits);
    if (r) return r;
  }
  if (b0 & 0x20) { /* L */
    if (off >= len) return SFU_ETRUNC;
    uint8_t l = p[off++];
    d->has_layer = 1;
    d->tid = l >> 5;
    d->switching_up = (l >> 4) & 1;
    d->sid = (l >> 1) & 0x07;
    d->inter_layer_dep = l & 1;
    if (!d->flexible) {
      if (off >= len) return SFU_ETRUNC;
      d->has_tl0picidx = 1;
      d->tl0picidx_off = (uint8_t)off;
      d->tl0picidx = p[off++];
    }
  }
  if (d->flexible && d->inter_predicted) {
    /* "N: ... Indicates that another P_DIFF field follows"; "up to 3 reference
     * pictures". */
    for (;;) {
      if (off >= len) return SFU_ETRUNC;
      if (d->num_pdiff == 3) return SFU_EPARSE;
      d->num_pdiff++;
      if (!(p[off++] & 1)) break;
    }
  }
  if (b0 & 0x02) { /* V */
    int r = parse_ss(p, len, &off, d);
    if (r) return r;
  }
  if (off >= len) return SFU_ETRUNC; /* a descriptor with no frame data behind it */
  d->desc_len = (uint16_t)off;       /* <= 8 + 1 + 32 + 1 + 255 * 4 */
  /* "P: ... When set to zero, the frame does not utilize inter-picture prediction";
   * with B it is the first packet of such a frame, and on the base spatial layer it
   * needs nothing earlier: a keyframe for a single stream. */
  d->keyframe = !d->inter_predicted && d->begin && (!d->has_layer || d->sid == 0);
  return 0;
}
