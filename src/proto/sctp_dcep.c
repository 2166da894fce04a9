/* DCEP messages (RFC 8832 §5): the DATA_CHANNEL_OPEN codec. The ACK is one byte. */
#include <string.h>

#include "sfu/bytes.h"
#include "sfu/err.h"
#include "sfu/sctp.h"

/* RFC 8832 §5.1: type(1) channel type(1) priority(2) reliability(4) label length(2)
 * protocol length(2), then label and protocol, not NUL-terminated. */
#define OPEN_HDR 12

static int known_channel_type(uint8_t t) {
  switch (t) {
  case SFU_DCEP_RELIABLE:
  case SFU_DCEP_RELIABLE_UNORDERED:
  case SFU_DCEP_PARTIAL_RELIABLE_REXMIT:
  case SFU_DCEP_PARTIAL_RELIABLE_REXMIT_UNORDERED:
  case SFU_DCEP_PARTIAL_RELIABLE_TIMED:
  case SFU_DCEP_PARTIAL_RELIABLE_TIMED_UNORDERED:
    return 1;
  default:
    return 0;
  }
}

int sfu_dcep_parse_open(const uint8_t *buf, size_t len, sfu_dcep_open_t *out) {
  if (!buf || len < OPEN_HDR || buf[0] != SFU_DCEP_OPEN) return SFU_EPARSE;
  memset(out, 0, sizeof *out);
  out->channel_type = buf[1];
  if (!known_channel_type(out->channel_type)) return SFU_EPARSE;
  out->priority = sfu_rd16(buf + 2);
  out->reliability = sfu_rd32(buf + 4);
  out->label_len = sfu_rd16(buf + 8);
  out->protocol_len = sfu_rd16(buf + 10);
  /* Lengths are 16-bit each: the sum cannot overflow size_t. */
  if ((size_t)OPEN_HDR + out->label_len + out->protocol_len > len) return SFU_EPARSE;
  out->label = buf + OPEN_HDR;
  out->protocol = out->label + out->label_len;
  return 0;
}

int sfu_dcep_build_open(uint8_t *buf, size_t cap, const sfu_dcep_open_t *o) {
  size_t n = (size_t)OPEN_HDR + o->label_len + o->protocol_len;
  if (n > cap) return SFU_ETOOBIG;
  buf[0] = SFU_DCEP_OPEN;
  buf[1] = o->channel_type;
  sfu_wr16(buf + 2, o->priority);
  sfu_wr32(buf + 4, o->reliability);
  sfu_wr16(buf + 8, o->label_len);
  sfu_wr16(buf + 10, o->protocol_len);
  if (o->label_len) memcpy(buf + OPEN_HDR, o->label, o->label_len);
  if (o->protocol_len) memcpy(buf + OPEN_HDR + o->label_len, o->protocol, o->protocol_len);
  return (int)n;
}
