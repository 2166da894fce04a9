/* RTCP SDES (RFC 3550 §6.5) and BYE (§6.6). */
#include <string.h>

#include "proto/rtcp_internal.h"
#include "sfu/err.h"
#include "sfu/rtcp.h"

void sfu_rtcp_sdes_iter_init(sfu_rtcp_sdes_iter_t *it, const sfu_rtcp_pkt_t *pkt) {
  it->base = it->p = pkt->body;
  it->end = pkt->body + pkt->body_len;
  it->chunks_left = pkt->pt == SFU_RTCP_SDES ? pkt->fmt_or_count : 0;
  it->ssrc = 0;
  it->in_chunk = 0;
}

static int sdes_fail(sfu_rtcp_sdes_iter_t *it, int err) {
  it->p = it->end;
  it->chunks_left = 0;
  it->in_chunk = 0;
  return err;
}

int sfu_rtcp_sdes_next(sfu_rtcp_sdes_iter_t *it, uint32_t *ssrc, uint8_t *type,
                       const uint8_t **data, size_t *len) {
  /* RFC 3550 §6.5: chunks of SSRC | items (type 8 | length 8 | text); a chunk ends with
   * one or more null octets, "terminate the list of items and pad to the next 32-bit
   * boundary". Chunks start on 32-bit boundaries relative to the body. */
  for (;;) {
    if (!it->in_chunk) {
      if (it->chunks_left == 0) return 0;
      if (it->end - it->p < 4) return sdes_fail(it, SFU_ETRUNC);
      it->ssrc = sfu_rd32(it->p);
      it->p += 4;
      it->in_chunk = 1;
      it->chunks_left--;
    }
    if (it->p >= it->end) return sdes_fail(it, SFU_ETRUNC);
    uint8_t t = it->p[0];
    if (t == SFU_RTCP_SDES_END) {
      /* Skip the END octet and the null octets up to the next word boundary (chunks
       * are word aligned relative to the body start). */
      it->p++;
      while (it->p < it->end && (size_t)(it->p - it->base) % 4 != 0) {
        if (*it->p != 0) return sdes_fail(it, SFU_EPARSE);
        it->p++;
      }
      it->in_chunk = 0;
      continue;
    }
    if (it->end - it->p < 2) return sdes_fail(it, SFU_ETRUNC);
    size_t n = it->p[1];
    if ((size_t)(it->end - it->p) < 2 + n) return sdes_fail(it, SFU_ETRUNC);
    *ssrc = it->ssrc;
    *type = t;
    *data = it->p + 2;
    *len = n;
    it->p += 2 + n;
    return 1;
  }
}

int sfu_rtcp_sdes_cname(const sfu_rtcp_pkt_t *pkt, uint32_t *ssrc, const char **cname,
                        size_t *len) {
  if (pkt->pt != SFU_RTCP_SDES) return SFU_EINVAL;
  sfu_rtcp_sdes_iter_t it;
  sfu_rtcp_sdes_iter_init(&it, pkt);
  uint32_t s;
  uint8_t t;
  const uint8_t *d;
  size_t n;
  int r;
  while ((r = sfu_rtcp_sdes_next(&it, &s, &t, &d, &n)) == 1) {
    if (t == SFU_RTCP_SDES_CNAME) {
      *ssrc = s;
      *cname = (const char *)d;
      *len = n;
      return 0;
    }
  }
  return r < 0 ? r : SFU_ENOENT;
}

int sfu_rtcp_write_sdes_cname(uint8_t *buf, size_t cap, uint32_t ssrc, const char *cname,
                              size_t cname_len) {
  if (cname_len == 0 || cname_len > 255) return SFU_EINVAL;
  /* header 4 | SSRC 4 | type 1 | len 1 | text | END 1 + pad to a word. */
  size_t used = 4 + 4 + 2 + cname_len + 1;
  size_t len = (used + 3) & ~(size_t)3;
  if (len > cap) return SFU_ETOOBIG;
  sfu_rtcp_put_hdr(buf, 0, 1, SFU_RTCP_SDES, len);
  sfu_wr32(buf + 4, ssrc);
  buf[8] = SFU_RTCP_SDES_CNAME;
  buf[9] = (uint8_t)cname_len;
  memcpy(buf + 10, cname, cname_len);
  memset(buf + 10 + cname_len, 0, len - 10 - cname_len);
  return (int)len;
}

int sfu_rtcp_bye_parse(const sfu_rtcp_pkt_t *pkt, sfu_rtcp_bye_t *bye) {
  if (pkt->pt != SFU_RTCP_BYE) return SFU_EINVAL;
  /* RFC 3550 §6.6: SC x SSRC/CSRC, then optionally length 8 | reason text. */
  size_t need = (size_t)pkt->fmt_or_count * 4;
  if (pkt->body_len < need) return SFU_ETRUNC;
  bye->count = pkt->fmt_or_count;
  bye->ssrcs = pkt->body;
  bye->reason = NULL;
  bye->reason_len = 0;
  if (pkt->body_len > need) {
    size_t rl = pkt->body[need];
    if (pkt->body_len - need - 1 < rl) return SFU_ETRUNC;
    if (rl > 0) {
      bye->reason = (const char *)pkt->body + need + 1;
      bye->reason_len = rl;
    }
  }
  return 0;
}

uint32_t sfu_rtcp_bye_ssrc(const sfu_rtcp_bye_t *bye, unsigned i) {
  return i < bye->count ? sfu_rd32(bye->ssrcs + 4 * (size_t)i) : 0;
}

int sfu_rtcp_write_bye(uint8_t *buf, size_t cap, const uint32_t *ssrcs, unsigned n) {
  if (n > 31) return SFU_EINVAL;
  size_t len = 4 + 4 * (size_t)n;
  if (len > cap) return SFU_ETOOBIG;
  sfu_rtcp_put_hdr(buf, 0, (uint8_t)n, SFU_RTCP_BYE, len);
  for (unsigned i = 0; i < n; i++) sfu_wr32(buf + 4 + 4 * i, ssrcs[i]);
  return (int)len;
}
