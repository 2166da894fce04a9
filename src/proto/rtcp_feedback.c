/* RTCP feedback: generic NACK, PLI (RFC 4585), FIR (RFC 5104), REMB
 * (draft-alvestrand-rmcat-remb-03). */
#include <string.h>

#include "proto/rtcp_internal.h"
#include "sfu/err.h"
#include "sfu/rtcp.h"

int sfu_rtcp_nack_parse(const sfu_rtcp_fb_t *fb, uint16_t *seqs, size_t cap, size_t *n) {
  *n = 0;
  if (fb->pt != SFU_RTCP_RTPFB || fb->fmt != SFU_RTCP_RTPFB_NACK) return SFU_EINVAL;
  if (fb->fci_len == 0 || fb->fci_len % 4 != 0) return SFU_EPARSE;
  size_t k = 0;
  for (size_t off = 0; off < fb->fci_len; off += 4) {
    /* RFC 4585 §6.2.1: PID = lost packet; bit i of BLP set = PID+i+1 lost too. */
    uint16_t pid = sfu_rd16(fb->fci + off);
    uint16_t blp = sfu_rd16(fb->fci + off + 2);
    if (k == cap) { *n = k; return SFU_ELIMIT; }
    seqs[k++] = pid;
    for (int i = 0; i < 16; i++) {
      if (!(blp & (1u << i))) continue;
      if (k == cap) { *n = k; return SFU_ELIMIT; }
      seqs[k++] = (uint16_t)(pid + i + 1);
    }
  }
  *n = k;
  return 0;
}

int sfu_rtcp_write_nack(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc,
                        const uint16_t *seqs, size_t n) {
  if (n == 0) return SFU_EINVAL;
  if (cap < 16) return SFU_ETOOBIG;
  size_t off = 12;
  uint16_t pid = seqs[0], blp = 0;
  for (size_t i = 1; i <= n; i++) {
    if (i < n) {
      uint16_t d = (uint16_t)(seqs[i] - pid);
      if (d >= 1 && d <= 16) { /* fits in this item's bitmask */
        blp |= (uint16_t)(1u << (d - 1));
        continue;
      }
      if (d == 0) continue; /* duplicate */
    }
    if (off + 4 > cap || off + 4 > SFU_RTCP_MAX_LEN) return SFU_ETOOBIG;
    sfu_wr16(buf + off, pid);
    sfu_wr16(buf + off + 2, blp);
    off += 4;
    if (i < n) {
      pid = seqs[i];
      blp = 0;
    }
  }
  sfu_rtcp_put_fb_hdr(buf, SFU_RTCP_RTPFB, SFU_RTCP_RTPFB_NACK, off, sender_ssrc, media_ssrc);
  return (int)off;
}

int sfu_rtcp_pli_parse(const sfu_rtcp_fb_t *fb, uint32_t *media_ssrc) {
  if (fb->pt != SFU_RTCP_PSFB || fb->fmt != SFU_RTCP_PSFB_PLI) return SFU_EINVAL;
  /* RFC 4585 §6.3.1: "PLI does not require parameters. Therefore, the length field
   * MUST be 2". We tolerate trailing bytes: a stricter check buys nothing. */
  *media_ssrc = fb->media_ssrc;
  return 0;
}

int sfu_rtcp_write_pli(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc) {
  if (cap < 12) return SFU_ETOOBIG;
  sfu_rtcp_put_fb_hdr(buf, SFU_RTCP_PSFB, SFU_RTCP_PSFB_PLI, 12, sender_ssrc, media_ssrc);
  return 12;
}

unsigned sfu_rtcp_fir_count(const sfu_rtcp_fb_t *fb) {
  if (fb->pt != SFU_RTCP_PSFB || fb->fmt != SFU_RTCP_PSFB_FIR) return 0;
  return (unsigned)(fb->fci_len / 8);
}

int sfu_rtcp_fir_entry(const sfu_rtcp_fb_t *fb, unsigned i, uint32_t *ssrc, uint8_t *seq_nr) {
  if (i >= sfu_rtcp_fir_count(fb)) return SFU_ENOENT;
  /* RFC 5104 §4.3.1.1: SSRC | Seq nr. 8 | Reserved 24. */
  const uint8_t *p = fb->fci + 8 * (size_t)i;
  *ssrc = sfu_rd32(p);
  *seq_nr = p[4];
  return 0;
}

int sfu_rtcp_write_fir(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc,
                       uint8_t seq_nr) {
  if (cap < 20) return SFU_ETOOBIG;
  /* RFC 5104 §4.3.1.2: "The SSRC of the media source SHALL be set to 0" in the header;
   * the target is named in the FCI. */
  sfu_rtcp_put_fb_hdr(buf, SFU_RTCP_PSFB, SFU_RTCP_PSFB_FIR, 20, sender_ssrc, 0);
  sfu_wr32(buf + 12, media_ssrc);
  buf[16] = seq_nr;
  buf[17] = buf[18] = buf[19] = 0;
  return 20;
}

int sfu_rtcp_remb_parse(const sfu_rtcp_fb_t *fb, sfu_rtcp_remb_t *remb) {
  if (fb->pt != SFU_RTCP_PSFB || fb->fmt != SFU_RTCP_PSFB_AFB) return SFU_EINVAL;
  /* draft-alvestrand-rmcat-remb-03 §2.2: 'R' 'E' 'M' 'B' | Num SSRC 8 | BR Exp 6 |
   * BR Mantissa 18 | SSRC feedback x Num SSRC. */
  if (fb->fci_len < 8 || memcmp(fb->fci, "REMB", 4) != 0) return SFU_EINVAL;
  uint8_t num = fb->fci[4];
  if (fb->fci_len - 8 < (size_t)num * 4) return SFU_ETRUNC;
  unsigned exp = fb->fci[5] >> 2;
  uint64_t mant = ((uint64_t)(fb->fci[5] & 3) << 16) | sfu_rd16(fb->fci + 6);
  /* exp is up to 63: mant << exp may overflow 64 bits; saturate instead. */
  if (mant != 0 && exp > 0 && (mant >> (64 - exp)) != 0)
    remb->bitrate_bps = UINT64_MAX;
  else
    remb->bitrate_bps = mant << exp;
  remb->num_ssrc = num;
  remb->ssrcs = fb->fci + 8;
  return 0;
}

uint32_t sfu_rtcp_remb_ssrc(const sfu_rtcp_remb_t *remb, unsigned i) {
  return i < remb->num_ssrc ? sfu_rd32(remb->ssrcs + 4 * (size_t)i) : 0;
}

int sfu_rtcp_write_remb(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint64_t bitrate_bps,
                        const uint32_t *ssrcs, unsigned n) {
  if (n > 255) return SFU_EINVAL;
  size_t len = 20 + 4 * (size_t)n;
  if (len > cap) return SFU_ETOOBIG;
  unsigned exp = 0;
  uint64_t mant = bitrate_bps;
  while (mant > 0x3FFFFu) { /* smallest exponent keeps the most precision */
    mant >>= 1;
    exp++;
  }
  /* draft §2.2: media source SSRC is 0; the SSRCs concerned follow in the FCI. */
  sfu_rtcp_put_fb_hdr(buf, SFU_RTCP_PSFB, SFU_RTCP_PSFB_AFB, len, sender_ssrc, 0);
  memcpy(buf + 12, "REMB", 4);
  buf[16] = (uint8_t)n;
  buf[17] = (uint8_t)(exp << 2 | (mant >> 16));
  sfu_wr16(buf + 18, (uint16_t)mant);
  for (unsigned i = 0; i < n; i++) sfu_wr32(buf + 20 + 4 * i, ssrcs[i]);
  return (int)len;
}
