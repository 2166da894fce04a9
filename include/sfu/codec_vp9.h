/* VP9 RTP payload descriptor (RFC 9628 §4.2) and scalability structure (§4.2.1).
 *
 * Enough for a single VP9 stream: keyframe detection, layer indices, and the picture
 * size the publisher announces in the scalability structure. Sans-IO, no allocation;
 * results go into a struct owned by the caller; offsets are relative to the payload.
 */
#ifndef SFU_CODEC_VP9_H
#define SFU_CODEC_VP9_H

#include <stddef.h>
#include <stdint.h>

#define SFU_VP9_MAX_SPATIAL 8 /* N_S is 3 bits */

typedef struct {
  /* First octet: |I|P|L|F|B|E|V|Z| */
  uint8_t inter_predicted; /* P */
  uint8_t flexible;        /* F */
  uint8_t begin, end;      /* B: first packet of a layer frame; E: last */
  uint8_t not_ref_upper;   /* Z */
  uint8_t picture_id_bits; /* 0, 7 or 15 */
  uint16_t picture_id;
  uint8_t picture_id_off;                          /* 0 = absent */
  uint8_t has_layer;                               /* L: the fields below are valid */
  uint8_t tid, switching_up, sid, inter_layer_dep; /* TID, U, SID, D */
  uint8_t has_tl0picidx;                           /* L=1 and F=0 */
  uint8_t tl0picidx, tl0picidx_off;
  uint8_t num_pdiff; /* F=1, P=1: reference indices present (1..3) */
  /* V=1: scalability structure. spatial_layers = N_S + 1; sizes only if Y=1. */
  uint8_t has_ss, spatial_layers, has_sizes;
  uint16_t width, height; /* the highest spatial layer's size (Y=1), else 0 */
  uint16_t desc_len;      /* the VP9 frame data starts here */
  /* Start of an intra-only frame of the base spatial layer: P=0, B=1, SID=0 (or no L).
   * What a viewer can start decoding a single stream at. */
  uint8_t keyframe;
} sfu_vp9_desc_t;

/* Returns 0; SFU_ETRUNC (descriptor or scalability structure cut short, or nothing
 * after the descriptor); SFU_EPARSE (more than 3 reference indices, or a zero size in
 * the scalability structure). Never reads past payload[len).
 * On error the struct holds whatever was read before the fault: use none of it. */
int sfu_vp9_parse(const uint8_t *payload, size_t len, sfu_vp9_desc_t *d);

#endif
