/* RTP header view (RFC 3550 §5.1), header extensions (RFC 8285), RTX (RFC 4588 §4).
 *
 * Zero-copy: sfu_rtp_parse fills a view whose pointers point into the caller's buffer;
 * the view is valid as long as that buffer is. Rewrite helpers change the caller's
 * buffer in place (the video router rewrites SSRC/seq/timestamp per subscriber).
 * No allocation, no state: any thread, any number of packets.
 *
 * Additions vs /tmp/proto-apis.md (fields only added, none changed): `raw`, `raw_len`,
 * `header_len` in sfu_rtp_hdr_t.
 */
#ifndef SFU_RTP_H
#define SFU_RTP_H

#include <stddef.h>
#include <stdint.h>

#include "sfu/bytes.h"

/* View of one RTP packet. Owned by the caller (usually on the stack); points into the
 * parsed buffer. */
typedef struct {
  uint8_t version, padding, extension, csrc_count, marker, payload_type;
  uint16_t seq;
  uint32_t timestamp, ssrc;
  const uint8_t *ext_data; /* extension elements, after the 4-byte extension header */
  size_t ext_len;          /* bytes (length field x 4) */
  uint16_t ext_profile;    /* 0xBEDE one-byte, 0x100X two-byte, anything else opaque */
  const uint8_t *payload;
  size_t payload_len;      /* without padding */
  uint8_t pad_len;         /* 0 if no padding; else the last byte, >= 1 */
  const uint8_t *raw;      /* the buffer that was parsed */
  size_t raw_len;
  size_t header_len;       /* fixed header + CSRCs + extension block */
} sfu_rtp_hdr_t;

#define SFU_RTP_HDR_MIN 12
#define SFU_RTP_EXT_PROFILE_ONE_BYTE 0xBEDEu
#define SFU_RTP_EXT_PROFILE_TWO_BYTE 0x1000u /* low 4 bits: appbits (RFC 8285 §4.3) */

/* RFC 3550 §5.1. Checks: version 2, CSRC list and extension block inside the packet,
 * padding length >= 1 and not reaching into the header. Returns 0, SFU_ETRUNC (packet
 * shorter than its header says) or SFU_EPARSE (version or padding wrong). */
int sfu_rtp_parse(const uint8_t *buf, size_t len, sfu_rtp_hdr_t *h);

/* A packet of padding only (P bit set, nothing before the padding): libwebrtc probes
 * bandwidth with these, on the RTX SSRC, or on the media SSRC when RTX is off. Never
 * forwarded as media; the outgoing sequence space skips them. */
static inline int sfu_rtp_is_padding_only(const sfu_rtp_hdr_t *h) {
  return h->padding && h->payload_len == 0;
}

/* --- RFC 8285 header extensions -------------------------------------------------- */

/* 1 if the extension block uses the one-byte (0xBEDE) or two-byte (0x100X) form. */
static inline int sfu_rtp_ext_is_rfc8285(const sfu_rtp_hdr_t *h) {
  return h->extension && (h->ext_profile == SFU_RTP_EXT_PROFILE_ONE_BYTE ||
                          (h->ext_profile & 0xFFF0u) == SFU_RTP_EXT_PROFILE_TWO_BYTE);
}

/* Iterator over extension elements. Owned by the caller (stack). */
typedef struct {
  const uint8_t *p, *end;
  int two_byte;
} sfu_rtp_ext_iter_t;

/* Starts an iteration; a packet without an RFC 8285 block yields no elements. */
void sfu_rtp_ext_iter_init(sfu_rtp_ext_iter_t *it, const sfu_rtp_hdr_t *h);
/* 1 = element (id 1..14 or 1..255, data view, len 1..16 or 0..255), 0 = end, SFU_EPARSE
 * = an element overruns the block (iteration then ends). Padding bytes are skipped; a
 * one-byte ID 15 ends the iteration (RFC 8285 §4.2). */
int sfu_rtp_ext_iter_next(sfu_rtp_ext_iter_t *it, uint8_t *id, const uint8_t **data, size_t *len);

/* First element with `id`. 0, SFU_ENOENT (absent, id 0, or no RFC 8285 block) or
 * SFU_EPARSE (block malformed before the element was found). */
int sfu_rtp_ext_find(const sfu_rtp_hdr_t *h, uint8_t id, const uint8_t **data, size_t *len);

/* Overwrites the value of element `id` in place with `val` of exactly the same length
 * (SFU_EINVAL otherwise). `buf` must be the (writable) buffer `h` was parsed from. */
int sfu_rtp_ext_rewrite(uint8_t *buf, const sfu_rtp_hdr_t *h, uint8_t id, const uint8_t *val,
                        size_t len);

/* --- Typed extension values -------------------------------------------------------- */

/* mid / rid / repaired-rid (RFC 8852 §3, RFC 9143 §15): an SDES string. A view, cut at
 * the first NUL (libwebrtc pads with NULs); SFU_EPARSE if empty or non-printable. */
int sfu_rtp_ext_str(const uint8_t *data, size_t len, const char **s, size_t *slen);
/* Same, copied NUL-terminated into out[cap]; SFU_ETOOBIG if it does not fit. */
int sfu_rtp_ext_str_copy(const uint8_t *data, size_t len, char *out, size_t cap);

/* abs-send-time: 24-bit unsigned 6.18 fixed-point seconds (webrtc abs-send-time). */
int sfu_rtp_ext_abs_send_time(const uint8_t *data, size_t len, uint32_t *v24);
/* 6.18 fixed point to microseconds within the 64 s wrap. */
static inline uint64_t sfu_rtp_abs_send_time_us(uint32_t v24) {
  return ((uint64_t)(v24 & 0xFFFFFFu) * 1000000u) >> 18;
}
static inline uint32_t sfu_rtp_abs_send_time_from_us(uint64_t us) {
  return (uint32_t)(((us << 18) / 1000000u) & 0xFFFFFFu);
}
/* transport-wide sequence number (draft-holmer-rmcat-transport-wide-cc-extensions-01 §2). */
int sfu_rtp_ext_twcc_seq(const uint8_t *data, size_t len, uint16_t *seq);
/* RFC 6464 §3: V (voice activity) bit and level in -dBov (0 loudest .. 127 silence). */
int sfu_rtp_ext_audio_level(const uint8_t *data, size_t len, int *voice, uint8_t *level);

/* --- In-place rewriting (buffer already validated by sfu_rtp_parse) ------------------ */
static inline void sfu_rtp_set_ssrc(uint8_t *buf, uint32_t ssrc) { sfu_wr32(buf + 8, ssrc); }
static inline void sfu_rtp_set_seq(uint8_t *buf, uint16_t seq) { sfu_wr16(buf + 2, seq); }
static inline void sfu_rtp_set_timestamp(uint8_t *buf, uint32_t ts) { sfu_wr32(buf + 4, ts); }
static inline void sfu_rtp_set_payload_type(uint8_t *buf, uint8_t pt) {
  buf[1] = (uint8_t)((buf[1] & 0x80) | (pt & 0x7f));
}
static inline void sfu_rtp_set_marker(uint8_t *buf, int m) {
  buf[1] = (uint8_t)((buf[1] & 0x7f) | (m ? 0x80 : 0));
}
/* Rewrite typed extensions in place; SFU_ENOENT if the packet does not carry `id`. */
int sfu_rtp_set_twcc_seq(uint8_t *buf, const sfu_rtp_hdr_t *h, uint8_t id, uint16_t seq);
int sfu_rtp_set_abs_send_time(uint8_t *buf, const sfu_rtp_hdr_t *h, uint8_t id, uint32_t v24);

/* --- RTX (RFC 4588 §4) ---------------------------------------------------------------- */

/* Original sequence number: the first 2 payload bytes. SFU_ETRUNC if the payload is
 * shorter (an RTX padding-only probe has no OSN: check payload_len first). */
int sfu_rtp_rtx_osn(const sfu_rtp_hdr_t *h, uint16_t *osn);
/* Builds the RTX packet for original packet `pkt` (RFC 4588 §4: same header with
 * rtx_pt/rtx_ssrc/rtx_seq, OSN prepended to the payload, padding dropped) into out[cap].
 * Returns its length, or SFU_ETOOBIG / SFU_EINVAL (pkt not a valid RTP packet). */
int sfu_rtp_rtx_wrap(const uint8_t *pkt, size_t len, uint8_t rtx_pt, uint32_t rtx_ssrc,
                     uint16_t rtx_seq, uint8_t *out, size_t cap);
/* Turns a parsed RTX packet back into the original in place: seq = OSN, pt/ssrc as
 * given, payload moved over the OSN, padding kept. *len updated. */
int sfu_rtp_rtx_unwrap(uint8_t *buf, size_t *len, const sfu_rtp_hdr_t *h, uint8_t orig_pt,
                       uint32_t orig_ssrc);

#endif
