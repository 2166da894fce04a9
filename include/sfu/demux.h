/* First-byte demultiplexing of one UDP datagram / TCP frame (RFC 7983 §7).
 *
 * Everything BUNDLEd on one 5-tuple (STUN, DTLS, SRTP, SRTCP) is told apart by the first
 * byte, and RTP from RTCP by the second (RFC 5761 §4). This is the first thing the hot
 * path does with every packet, so the classifier is inline and reads at most 2 bytes.
 * Stateless; any thread.
 */
#ifndef SFU_DEMUX_H
#define SFU_DEMUX_H

#include <stddef.h>
#include <stdint.h>

#include "sfu/bytes.h"

typedef enum {
  SFU_PKT_UNKNOWN,
  SFU_PKT_STUN,
  SFU_PKT_DTLS,
  SFU_PKT_RTP,
  SFU_PKT_RTCP
} sfu_pkt_kind_t;

/* Minimum sizes below which a packet cannot be that kind at all: STUN header (RFC 8489
 * §5), DTLS record header (RFC 6347 §4.1), RTP fixed header (RFC 3550 §5.1), RTCP header
 * plus sender SSRC (RFC 3550 §6.4). Shorter packets are SFU_PKT_UNKNOWN. */
#define SFU_DEMUX_MIN_STUN 20
#define SFU_DEMUX_MIN_DTLS 13
#define SFU_DEMUX_MIN_RTP 12
#define SFU_DEMUX_MIN_RTCP 8

/* RFC 7983 §7:
 *   [0..3] -> STUN    [16..19] -> ZRTP (unknown here)    [20..63] -> DTLS
 *   [64..79] -> TURN channel (unknown here)    [128..191] -> RTP/RTCP
 * RTP vs RTCP: second byte (M bit + PT) in 192..223 is RTCP (RFC 5761 §4: RTP payload
 * types 64..95 are never used when muxing, so PT|M in that range is an RTCP type). */
static inline sfu_pkt_kind_t sfu_demux_classify(const uint8_t *buf, size_t len) {
  if (len == 0) return SFU_PKT_UNKNOWN;
  uint8_t b = buf[0];
  if (b >= 128 && b <= 191) {
    if (len < SFU_DEMUX_MIN_RTCP) return SFU_PKT_UNKNOWN;
    if (buf[1] >= 192 && buf[1] <= 223) return SFU_PKT_RTCP;
    return len >= SFU_DEMUX_MIN_RTP ? SFU_PKT_RTP : SFU_PKT_UNKNOWN;
  }
  if (b <= 3) return len >= SFU_DEMUX_MIN_STUN ? SFU_PKT_STUN : SFU_PKT_UNKNOWN;
  if (b >= 20 && b <= 63) return len >= SFU_DEMUX_MIN_DTLS ? SFU_PKT_DTLS : SFU_PKT_UNKNOWN;
  return SFU_PKT_UNKNOWN;
}

/* "stun", "dtls", "rtp", "rtcp", "unknown" (logs, stats). */
const char *sfu_demux_kind_name(sfu_pkt_kind_t k);

/* Cheap facts about a classified packet, read without a full parse: enough to route it
 * (e.g. an SSRC to pick a stream, a STUN method to decide if it may create state).
 * Fields that do not apply to `kind` are 0. */
typedef struct {
  sfu_pkt_kind_t kind;
  uint16_t stun_type;     /* STUN message type (method + class), RFC 8489 §5 */
  int stun_magic_ok;      /* magic cookie 0x2112A442 present */
  uint8_t dtls_content;   /* DTLS record content type: 22 handshake, 23 app data, 21 alert */
  uint16_t dtls_epoch;    /* 0 during the first handshake flight */
  uint32_t ssrc;          /* RTP: SSRC; RTCP: the first packet's sender SSRC */
  uint8_t payload_type;   /* RTP: PT (7 bits); RTCP: packet type of the first packet */
} sfu_demux_facts_t;

static inline void sfu_demux_facts(const uint8_t *buf, size_t len, sfu_demux_facts_t *f) {
  f->kind = sfu_demux_classify(buf, len);
  f->stun_type = 0;
  f->stun_magic_ok = 0;
  f->dtls_content = 0;
  f->dtls_epoch = 0;
  f->ssrc = 0;
  f->payload_type = 0;
  switch (f->kind) {
  case SFU_PKT_STUN: /* length checks done by classify */
    f->stun_type = sfu_rd16(buf);
    f->stun_magic_ok = sfu_rd32(buf + 4) == 0x2112A442u;
    break;
  case SFU_PKT_DTLS:
    f->dtls_content = buf[0];
    f->dtls_epoch = sfu_rd16(buf + 3);
    break;
  case SFU_PKT_RTP:
    f->ssrc = sfu_rd32(buf + 8);
    f->payload_type = buf[1] & 0x7f;
    break;
  case SFU_PKT_RTCP:
    f->ssrc = sfu_rd32(buf + 4);
    f->payload_type = buf[1];
    break;
  default:
    break;
  }
}

#endif
