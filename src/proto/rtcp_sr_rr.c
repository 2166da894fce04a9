/* RTCP sender and receiver reports (RFC 3550 §6.4). */
#include <string.h>

#include "proto/rtcp_internal.h"
#include "sfu/err.h"
#include "sfu/rtcp.h"

int sfu_rtcp_sr_parse(const sfu_rtcp_pkt_t *pkt, sfu_rtcp_sr_t *sr) {
  if (pkt->pt != SFU_RTCP_SR) return SFU_EINVAL;
  /* RFC 3550 §6.4.1: SSRC | NTP(64) | RTP ts | packet count | octet count | blocks.
   * Anything after the blocks is a profile-specific extension: allowed, ignored. */
  size_t need = 24 + (size_t)pkt->fmt_or_count * SFU_RTCP_RB_SIZE;
  if (pkt->body_len < need) return SFU_ETRUNC;
  const uint8_t *b = pkt->body;
  sr->ssrc = sfu_rd32(b);
  sr->ntp = sfu_rd64(b + 4);
  sr->rtp_ts = sfu_rd32(b + 12);
  sr->packet_count = sfu_rd32(b + 16);
  sr->octet_count = sfu_rd32(b + 20);
  sr->rb_count = pkt->fmt_or_count;
  sr->blocks = b + 24;
  return 0;
}

int sfu_rtcp_rr_parse(const sfu_rtcp_pkt_t *pkt, sfu_rtcp_rr_t *rr) {
  if (pkt->pt != SFU_RTCP_RR) return SFU_EINVAL;
  size_t need = 4 + (size_t)pkt->fmt_or_count * SFU_RTCP_RB_SIZE;
  if (pkt->body_len < need) return SFU_ETRUNC;
  rr->ssrc = sfu_rd32(pkt->body);
  rr->rb_count = pkt->fmt_or_count;
  rr->blocks = pkt->body + 4;
  return 0;
}

void sfu_rtcp_rb_get(const uint8_t *blocks, unsigned i, sfu_rtcp_rb_t *rb) {
  /* RFC 3550 §6.4.1 report block: SSRC | fraction lost 8 | cumulative lost 24 (signed) |
   * extended highest seq | jitter | LSR | DLSR. */
  const uint8_t *p = blocks + (size_t)i * SFU_RTCP_RB_SIZE;
  rb->ssrc = sfu_rd32(p);
  rb->fraction_lost = p[4];
  uint32_t cl = sfu_rd24(p + 5);
  rb->cumulative_lost = (cl & 0x800000u) ? (int32_t)cl - 0x1000000 : (int32_t)cl;
  rb->ext_highest_seq = sfu_rd32(p + 8);
  rb->jitter = sfu_rd32(p + 12);
  rb->lsr = sfu_rd32(p + 16);
  rb->dlsr = sfu_rd32(p + 20);
}

static void put_rb(uint8_t *p, const sfu_rtcp_rb_t *rb) {
  int32_t cl = rb->cumulative_lost;
  /* Clamp to the 24-bit signed range rather than wrap (RFC 3550 §6.4.1 says so for
   * the loss fraction; wrapping the count would report a gain). */
  if (cl > 0x7fffff) cl = 0x7fffff;
  if (cl < -0x800000) cl = -0x800000;
  sfu_wr32(p, rb->ssrc);
  p[4] = rb->fraction_lost;
  sfu_wr24(p + 5, (uint32_t)cl & 0xffffffu);
  sfu_wr32(p + 8, rb->ext_highest_seq);
  sfu_wr32(p + 12, rb->jitter);
  sfu_wr32(p + 16, rb->lsr);
  sfu_wr32(p + 20, rb->dlsr);
}

int sfu_rtcp_write_rr(uint8_t *buf, size_t cap, uint32_t sender_ssrc, const sfu_rtcp_rb_t *rbs,
                      unsigned n) {
  if (n > 31) return SFU_EINVAL;
  size_t len = 8 + (size_t)n * SFU_RTCP_RB_SIZE;
  if (len > cap) return SFU_ETOOBIG;
  sfu_rtcp_put_hdr(buf, 0, (uint8_t)n, SFU_RTCP_RR, len);
  sfu_wr32(buf + 4, sender_ssrc);
  for (unsigned i = 0; i < n; i++) put_rb(buf + 8 + i * SFU_RTCP_RB_SIZE, &rbs[i]);
  return (int)len;
}

int sfu_rtcp_write_sr(uint8_t *buf, size_t cap, const sfu_rtcp_sr_t *info, const sfu_rtcp_rb_t *rbs,
                      unsigned n) {
  if (n > 31) return SFU_EINVAL;
  size_t len = 28 + (size_t)n * SFU_RTCP_RB_SIZE;
  if (len > cap) return SFU_ETOOBIG;
  sfu_rtcp_put_hdr(buf, 0, (uint8_t)n, SFU_RTCP_SR, len);
  sfu_wr32(buf + 4, info->ssrc);
  sfu_wr64(buf + 8, info->ntp);
  sfu_wr32(buf + 16, info->rtp_ts);
  sfu_wr32(buf + 20, info->packet_count);
  sfu_wr32(buf + 24, info->octet_count);
  for (unsigned i = 0; i < n; i++) put_rb(buf + 28 + i * SFU_RTCP_RB_SIZE, &rbs[i]);
  return (int)len;
}
