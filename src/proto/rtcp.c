/* RTCP compound iteration (RFC 3550 §6.1, RFC 5506) and the common feedback header. */
#include "sfu/rtcp.h"

#include "proto/rtcp_internal.h"
#include "sfu/err.h"

void sfu_rtcp_iter_init(sfu_rtcp_iter_t *it, const uint8_t *buf, size_t len) {
  it->p = buf;
  it->end = buf + len;
  it->failed = 0;
}

static int iter_fail(sfu_rtcp_iter_t *it, int err) {
  it->failed = err;
  it->p = it->end;
  return err;
}

int sfu_rtcp_iter_next(sfu_rtcp_iter_t *it, sfu_rtcp_pkt_t *out) {
  if (it->failed) return it->failed;
  if (it->p >= it->end) return 0;
  size_t left = (size_t)(it->end - it->p);
  const uint8_t *p = it->p;
  if (left < 4) return iter_fail(it, SFU_ETRUNC);
  /* RFC 3550 §6.4.1: V=2 | P | RC(5) | PT(8) | length(16) = words - 1. */
  if ((p[0] >> 6) != 2) return iter_fail(it, SFU_EPARSE);
  /* RFC 5761 §4: RTCP packet types live in 192..223 (that is how demux told us apart). */
  if (p[1] < 192 || p[1] > 223) return iter_fail(it, SFU_EPARSE);
  size_t plen = 4u * ((size_t)sfu_rd16(p + 2) + 1);
  if (plen > left) return iter_fail(it, SFU_ETRUNC);
  size_t body_len = plen - 4;
  out->padding = (p[0] >> 5) & 1;
  if (out->padding) {
    /* RFC 3550 §6.4.1: the last octet counts the padding octets, itself included. */
    uint8_t pad = p[plen - 1];
    if (pad == 0 || pad > body_len) return iter_fail(it, SFU_EPARSE);
    body_len -= pad;
  }
  out->version = 2;
  out->pt = p[1];
  out->fmt_or_count = p[0] & 0x1f;
  out->body = p + 4;
  out->body_len = body_len;
  out->sender_ssrc = body_len >= 4 ? sfu_rd32(p + 4) : 0;
  out->raw = p;
  out->raw_len = plen;
  it->p += plen;
  return 1;
}

int sfu_rtcp_validate(const uint8_t *buf, size_t len) {
  sfu_rtcp_iter_t it;
  sfu_rtcp_pkt_t pkt;
  int n = 0, r;
  if (len == 0) return SFU_ETRUNC;
  sfu_rtcp_iter_init(&it, buf, len);
  while ((r = sfu_rtcp_iter_next(&it, &pkt)) == 1) n++;
  return r < 0 ? r : n;
}

int sfu_rtcp_fb_parse(const sfu_rtcp_pkt_t *pkt, sfu_rtcp_fb_t *fb) {
  if (pkt->pt != SFU_RTCP_RTPFB && pkt->pt != SFU_RTCP_PSFB) return SFU_EINVAL;
  /* RFC 4585 §6.1: SSRC of packet sender | SSRC of media source | FCI. */
  if (pkt->body_len < 8) return SFU_ETRUNC;
  fb->pt = pkt->pt;
  fb->fmt = pkt->fmt_or_count;
  fb->sender_ssrc = sfu_rd32(pkt->body);
  fb->media_ssrc = sfu_rd32(pkt->body + 4);
  fb->fci = pkt->body + 8;
  fb->fci_len = pkt->body_len - 8;
  return 0;
}
