/* Builds the RTP packet a viewer gets from a publisher's packet: the viewer's SSRC,
 * numbering (sfu/rtp_rewrite.h), payload type and header-extension ids, and for VP8 the
 * rewritten picture id / TL0PICIDX. One pass, one copy of the payload, no allocation,
 * no state: any thread.
 *
 * Deterministic: the same inputs give the same bytes, so a NACKed packet rebuilt from the
 * publisher's history with the values the rewriter remembered (sfu_rewrite_lookup) is
 * byte-identical to the first copy (SRTP refuses to protect one index twice with
 * different bytes).
 */
#ifndef SFU_RTP_FORWARD_H
#define SFU_RTP_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "sfu/rtp.h"
#include "sfu/rtp_ext.h"

struct sfu_vp8_desc; /* sfu/codec_vp8.h (sfu_vp8_desc_t) */

/* The outgoing values. Owned by the caller (stack). */
typedef struct {
  uint32_t ssrc;
  uint16_t seq;
  uint32_t ts;
  uint8_t pt;
  int marker;                       /* 0/1, or -1: keep the input's */
  const sfu_rtp_ext_map_t *in_map;  /* the publisher section's extension ids (NULL: none) */
  const sfu_rtp_ext_map_t *out_map; /* the viewer section's (NULL: no extensions at all) */
  const char *mid;                  /* the viewer's mid, written if out_map has SFU_EXT_MID */
  size_t mid_len;                   /* 1..255 (0: not written) */
  int has_twcc;                     /* written if out_map has SFU_EXT_TWCC and has_twcc */
  uint16_t twcc_seq;
  int has_abs_send_time;  /* written if out_map has it and has_abs_send_time */
  uint32_t abs_send_time; /* 24-bit 6.18 */
  /* VP8: rewrite the payload descriptor's picture id and TL0PICIDX (vp8 0 or vp8_desc NULL:
   * payload copied as is). */
  int vp8;
  uint16_t pic_id; /* 15-bit */
  uint8_t tl0;
} sfu_fwd_params_t;

/* Writes the viewer's packet into out[cap] (out must not overlap the input buffer):
 * - the fixed header with p's ssrc/seq/ts/pt/marker, CSRCs copied, no padding;
 * - a fresh RFC 8285 extension block, one-byte form when every id <= 14 and every length
 *   is 1..16, else two-byte (RFC 8285 §4.3): the viewer's mid, twcc seq, abs-send-time,
 *   then the publisher's elements of the kinds below, in the publisher's order, under the
 *   viewer's ids, when the viewer negotiated them: toffset, video-orientation,
 *   playout-delay, abs-capture-time, video-content-type, video-timing, color-space,
 *   dependency-descriptor. Everything else is dropped (rid and repaired-rid name the
 *   publisher's layers, audio-level is for audio, video-layers-allocation describes the
 *   publisher's layers, the publisher's twcc / abs-send-time are of the other hop,
 *   unknown ids mean nothing to the viewer);
 * - the payload, padding dropped. VP8 (p->vp8 and vp8_desc, the parsed descriptor of
 *   in->payload): the picture id written as p->pic_id, ALWAYS in the 15-bit form (a 7-bit
 *   field grows by one byte: the layout then does not depend on the value, and the
 *   rewriter's ids are 15-bit), TL0PICIDX as p->tl0; a descriptor without these fields
 *   keeps its layout.
 * Returns the length, SFU_ETOOBIG (cap too small) or SFU_EINVAL (an empty or padding-only
 * payload, a mid longer than 255 bytes, a descriptor that does not fit the payload). */
int sfu_rtp_forward_build(uint8_t *out, size_t cap, const sfu_rtp_hdr_t *in,
                          const struct sfu_vp8_desc *vp8_desc, const sfu_fwd_params_t *p);

/* A padding-only packet (RFC 3550 §5.1 P bit; libwebrtc receivers count it in the sequence
 * space and drop it) filling a hole of the rewriter (sfu_rewrite_take_hole), or probing:
 * p's ssrc/seq/ts/pt/marker (-1 = 0), extensions mid / twcc / abs-send-time as above,
 * then pad_len (1..255) bytes of padding, the last one = pad_len. Returns the length,
 * SFU_ETOOBIG or SFU_EINVAL. */
int sfu_rtp_padding_build(uint8_t *out, size_t cap, size_t pad_len, const sfu_fwd_params_t *p);

#endif
