/* VP8 RTP payload descriptor (RFC 7741 §4.2) and keyframe header (RFC 7741 §4.3,
 * RFC 6386 §9.1).
 *
 * Sans-IO, no allocation, no state: sfu_vp8_parse reads one RTP payload and fills a
 * struct owned by the caller (usually on the stack). Offsets are relative to the start
 * of the RTP payload, so a forwarder can rewrite PictureID / TL0PICIDX in place in its
 * own copy of the packet (sfu_vp8_set_picture_id, sfu_vp8_set_tl0picidx). Any thread.
 */
#ifndef SFU_CODEC_VP8_H
#define SFU_CODEC_VP8_H

#include <stddef.h>
#include <stdint.h>

/* One parsed VP8 payload. Owned by the caller; holds no pointer into the payload. The
 * tag lets headers forward-declare it (sfu/rtp_forward.h). */
typedef struct sfu_vp8_desc {
  /* RFC 7741 §4.2 first octet: |X|R|N|S|R|PID| */
  uint8_t non_reference; /* N: the frame can be discarded without hurting others */
  uint8_t start;         /* S: first packet of a VP8 partition */
  uint8_t partition;     /* PID 0..7 */
  /* I: PictureID, 7 or 15 bits (M bit). *_off = offset of its first byte; 0 = absent
   * (offset 0 is the first descriptor octet, never an extension field). */
  uint8_t picture_id_bits; /* 0 (absent), 7 or 15 */
  uint16_t picture_id;
  uint8_t picture_id_off;
  /* L: TL0PICIDX. */
  uint8_t has_tl0picidx;
  uint8_t tl0picidx;
  uint8_t tl0picidx_off;
  /* T / K: |TID|Y|KEYIDX| share one octet. */
  uint8_t has_tid, has_keyidx;
  uint8_t tid;        /* temporal layer 0..3 (valid if has_tid) */
  uint8_t layer_sync; /* Y */
  uint8_t keyidx;     /* 0..31 (valid if has_keyidx) */
  uint8_t tk_off;     /* offset of the TID/Y/KEYIDX octet; 0 = absent */
  uint8_t desc_len;   /* descriptor length: the VP8 payload starts here (1..6) */
  /* S=1 and PID=0: the first packet of a frame, which carries the VP8 payload header. */
  uint8_t frame_start;
  /* Valid only if frame_start: the frame tag's P bit is 0 (RFC 7741 §4.3). */
  uint8_t keyframe;
  /* Valid only if keyframe (RFC 6386 §9.1): 14-bit size, 2-bit upscaling mode. */
  uint16_t width, height;
  uint8_t hscale, vscale;
} sfu_vp8_desc_t;

/* Parses the descriptor and, on a frame's first packet, the payload header (and the
 * keyframe start code and size). Never reads past payload[len).
 * Returns 0; SFU_ETRUNC (descriptor, frame tag or keyframe header cut short, or no VP8
 * payload byte after the descriptor); SFU_EPARSE (keyframe without the 9d 01 2a start
 * code, or with a zero width or height).
 * On error the struct holds whatever was read before the fault: use none of it. */
int sfu_vp8_parse(const uint8_t *payload, size_t len, sfu_vp8_desc_t *d);

/* In-place rewrites of a payload `d` was parsed from (same layout). The PictureID is
 * written in the width the packet already has (a 7-bit field keeps the low 7 bits: the
 * caller grows the field when a 15-bit value must be sent). SFU_ENOENT if the field is
 * absent. */
int sfu_vp8_set_picture_id(uint8_t *payload, const sfu_vp8_desc_t *d, uint16_t picture_id);
int sfu_vp8_set_tl0picidx(uint8_t *payload, const sfu_vp8_desc_t *d, uint8_t tl0picidx);

#endif
