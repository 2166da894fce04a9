/* Transport-wide congestion control feedback
 * (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1).
 *
 * FCI: base sequence number 16 | packet status count 16 | reference time 24 (signed,
 * x 64 ms) | feedback packet count 8 | packet chunks (16 bits each) | receive deltas
 * (1 byte for a "small delta" symbol, 2 bytes signed for a "large delta") | padding.
 */
#include <string.h>

#include "proto/rtcp_internal.h"
#include "sfu/err.h"
#include "sfu/rtcp.h"

#define TWCC_RLE_MAX 0x1FFF /* 13-bit run length */

/* Pass 1 of parsing: the chunk list gives one status symbol per packet, status_count in
 * all. Returns the position after the last chunk, or NULL with *err set. */
static const uint8_t *twcc_read_chunks(const uint8_t *p, const uint8_t *end, size_t count,
                                       sfu_rtcp_twcc_pkt_t *pkts, int *err) {
  size_t k = 0;
  while (k < count) {
    if (end - p < 2) { *err = SFU_ETRUNC; return NULL; }
    uint16_t c = sfu_rd16(p);
    p += 2;
    if (!(c & 0x8000)) {
      /* §3.1.3 run length chunk: T=0 | S 2 | run length 13. */
      uint8_t s = (c >> 13) & 3;
      size_t run = c & TWCC_RLE_MAX;
      if (s == 3) { *err = SFU_EPARSE; return NULL; }
      for (size_t j = 0; j < run && k < count; j++) pkts[k++].status = s;
    } else if (!(c & 0x4000)) {
      /* §3.1.4 status vector chunk, S=0: 14 one-bit symbols (0 not received,
       * 1 received with small delta), most significant first. */
      for (int j = 13; j >= 0 && k < count; j--) pkts[k++].status = (c >> j) & 1;
    } else {
      /* S=1: 7 two-bit symbols. */
      for (int j = 6; j >= 0 && k < count; j--) {
        uint8_t s = (c >> (2 * j)) & 3;
        if (s == 3) { *err = SFU_EPARSE; return NULL; }
        pkts[k++].status = s;
      }
    }
  }
  return p;
}

int sfu_rtcp_twcc_parse(const sfu_rtcp_fb_t *fb, sfu_rtcp_twcc_t *hdr, sfu_rtcp_twcc_pkt_t *pkts,
                        size_t cap, size_t *n) {
  *n = 0;
  if (fb->pt != SFU_RTCP_RTPFB || fb->fmt != SFU_RTCP_RTPFB_TWCC) return SFU_EINVAL;
  if (fb->fci_len < 8) return SFU_ETRUNC;
  const uint8_t *p = fb->fci, *end = fb->fci + fb->fci_len;
  hdr->sender_ssrc = fb->sender_ssrc;
  hdr->media_ssrc = fb->media_ssrc;
  hdr->base_seq = sfu_rd16(p);
  hdr->status_count = sfu_rd16(p + 2);
  uint32_t rt = sfu_rd24(p + 4);
  hdr->ref_time = (rt & 0x800000u) ? (int32_t)rt - 0x1000000 : (int32_t)rt;
  hdr->fb_count = p[7];
  size_t count = hdr->status_count;
  if (count > cap) return SFU_ELIMIT;
  int err = 0;
  p = twcc_read_chunks(p + 8, end, count, pkts, &err);
  if (!p) return err;
  /* Pass 2 (§3.1.5): one receive delta per received packet, in packet order. */
  for (size_t i = 0; i < count; i++) {
    pkts[i].seq = (uint16_t)(hdr->base_seq + i);
    pkts[i].delta = 0;
    if (pkts[i].status == SFU_TWCC_SMALL_DELTA) {
      if (end - p < 1) return SFU_ETRUNC;
      pkts[i].delta = p[0];
      p += 1;
    } else if (pkts[i].status == SFU_TWCC_LARGE_DELTA) {
      if (end - p < 2) return SFU_ETRUNC;
      pkts[i].delta = (int16_t)sfu_rd16(p);
      p += 2;
    }
  }
  *n = count;
  return 0;
}

static int twcc_symbol(const sfu_rtcp_twcc_pkt_t *pk) {
  if (pk->status == SFU_TWCC_NOT_RECEIVED) return SFU_TWCC_NOT_RECEIVED;
  if (pk->delta >= 0 && pk->delta <= 255) return SFU_TWCC_SMALL_DELTA;
  if (pk->delta >= -32768 && pk->delta <= 32767) return SFU_TWCC_LARGE_DELTA;
  return SFU_EINVAL;
}

/* Chooses and encodes the chunk starting at pkts[i]: a run-length chunk when a run is
 * long enough to beat a vector, else a 1-bit vector when the next 14 (or all remaining)
 * symbols fit one bit, else a 2-bit vector of 7. Returns symbols covered. */
static size_t twcc_chunk(const sfu_rtcp_twcc_pkt_t *pkts, size_t i, size_t n, uint16_t *chunk) {
  int s = twcc_symbol(&pkts[i]);
  size_t run = 1;
  while (i + run < n && run < TWCC_RLE_MAX && twcc_symbol(&pkts[i + run]) == s) run++;
  if (run >= 14 || (s == SFU_TWCC_LARGE_DELTA && run >= 7)) {
    *chunk = (uint16_t)((unsigned)s << 13 | run);
    return run;
  }
  size_t m = 0; /* leading symbols that fit one bit */
  while (m < 14 && i + m < n && twcc_symbol(&pkts[i + m]) <= 1) m++;
  if (m == 14 || i + m == n) {
    uint16_t c = 0x8000;
    for (size_t j = 0; j < m; j++)
      c |= (uint16_t)(twcc_symbol(&pkts[i + j]) << (13 - j));
    *chunk = c;
    return m;
  }
  size_t k = n - i < 7 ? n - i : 7;
  uint16_t c = 0xC000;
  for (size_t j = 0; j < k; j++) c |= (uint16_t)(twcc_symbol(&pkts[i + j]) << (12 - 2 * j));
  *chunk = c;
  return k;
}

int sfu_rtcp_write_twcc(uint8_t *buf, size_t cap, const sfu_rtcp_twcc_t *hdr,
                        const sfu_rtcp_twcc_pkt_t *pkts, size_t n) {
  if (n == 0 || n > 0xFFFF) return SFU_EINVAL;
  size_t ndelta_bytes = 0;
  for (size_t i = 0; i < n; i++) {
    int s = twcc_symbol(&pkts[i]);
    if (s < 0) return s;
    ndelta_bytes += (size_t)(s == SFU_TWCC_LARGE_DELTA ? 2 : s);
  }
  if (cap < 20) return SFU_ETOOBIG;
  size_t off = 20;
  for (size_t i = 0; i < n;) {
    uint16_t c;
    i += twcc_chunk(pkts, i, n, &c);
    if (off + 2 > cap) return SFU_ETOOBIG;
    sfu_wr16(buf + off, c);
    off += 2;
  }
  if (off + ndelta_bytes > cap) return SFU_ETOOBIG;
  for (size_t i = 0; i < n; i++) {
    int s = twcc_symbol(&pkts[i]);
    if (s == SFU_TWCC_SMALL_DELTA) buf[off++] = (uint8_t)pkts[i].delta;
    else if (s == SFU_TWCC_LARGE_DELTA) {
      sfu_wr16(buf + off, (uint16_t)(int16_t)pkts[i].delta);
      off += 2;
    }
  }
  /* RTCP packets are whole words: pad with zeros, last octet = pad count, P bit set
   * (RFC 3550 §6.4.1; what libwebrtc sends). */
  size_t pad = (4 - off % 4) % 4;
  if (off + pad > cap) return SFU_ETOOBIG;
  if (off + pad > SFU_RTCP_MAX_LEN) return SFU_ETOOBIG;
  if (pad) {
    memset(buf + off, 0, pad);
    off += pad;
    buf[off - 1] = (uint8_t)pad;
  }
  sfu_rtcp_put_fb_hdr(buf, SFU_RTCP_RTPFB, SFU_RTCP_RTPFB_TWCC, off, hdr->sender_ssrc,
                      hdr->media_ssrc);
  if (pad) buf[0] |= 0x20;
  sfu_wr16(buf + 12, hdr->base_seq);
  sfu_wr16(buf + 14, (uint16_t)n);
  sfu_wr24(buf + 16, (uint32_t)hdr->ref_time & 0xFFFFFFu);
  buf[19] = hdr->fb_count;
  return (int)off;
}
