/* RTP header view, RFC 8285 extensions, RTX (see sfu/rtp.h). */
#include "sfu/rtp.h"

#include <string.h>

#include "sfu/err.h"

int sfu_rtp_parse(const uint8_t *buf, size_t len, sfu_rtp_hdr_t *h) {
  if (len < SFU_RTP_HDR_MIN) return SFU_ETRUNC;
  /* RFC 3550 §5.1 fixed header:
   *  V=2 | P | X | CC(4) | M | PT(7) | sequence number(16) | timestamp | SSRC | CSRC... */
  h->version = buf[0] >> 6;
  if (h->version != 2) return SFU_EPARSE;
  h->padding = (buf[0] >> 5) & 1;
  h->extension = (buf[0] >> 4) & 1;
  h->csrc_count = buf[0] & 0x0f;
  h->marker = buf[1] >> 7;
  h->payload_type = buf[1] & 0x7f;
  h->seq = sfu_rd16(buf + 2);
  h->timestamp = sfu_rd32(buf + 4);
  h->ssrc = sfu_rd32(buf + 8);
  h->raw = buf;
  h->raw_len = len;
  h->ext_data = NULL;
  h->ext_len = 0;
  h->ext_profile = 0;
  h->pad_len = 0;

  size_t off = SFU_RTP_HDR_MIN + 4u * h->csrc_count;
  if (off > len) return SFU_ETRUNC;
  if (h->extension) {
    /* RFC 3550 §5.3.1: 16-bit profile-defined value, 16-bit length in 32-bit words
     * (not counting this 4-byte header), then the data. */
    if (off + 4 > len) return SFU_ETRUNC;
    h->ext_profile = sfu_rd16(buf + off);
    size_t ext_len = 4u * sfu_rd16(buf + off + 2);
    off += 4;
    if (ext_len > len - off) return SFU_ETRUNC;
    h->ext_data = buf + off;
    h->ext_len = ext_len;
    off += ext_len;
  }
  h->header_len = off;
  size_t end = len;
  if (h->padding) {
    /* RFC 3550 §5.1: "The last octet of the padding contains a count of how many padding
     * octets should be ignored, including itself." So >= 1, and it may not eat into
     * the header. */
    uint8_t pad = buf[len - 1];
    if (pad == 0 || pad > len - off) return SFU_EPARSE;
    h->pad_len = pad;
    end -= pad;
  }
  h->payload = buf + off;
  h->payload_len = end - off;
  return 0;
}

void sfu_rtp_ext_iter_init(sfu_rtp_ext_iter_t *it, const sfu_rtp_hdr_t *h) {
  if (!sfu_rtp_ext_is_rfc8285(h)) {
    it->p = it->end = NULL;
    it->two_byte = 0;
    return;
  }
  it->p = h->ext_data;
  it->end = h->ext_data + h->ext_len;
  it->two_byte = h->ext_profile != SFU_RTP_EXT_PROFILE_ONE_BYTE;
}

int sfu_rtp_ext_iter_next(sfu_rtp_ext_iter_t *it, uint8_t *id, const uint8_t **data,
                          size_t *len) {
  while (it->p < it->end) {
    uint8_t b = *it->p;
    if (b == 0) { /* RFC 8285 §4.1: padding bytes (value 0) may sit between elements */
      it->p++;
      continue;
    }
    size_t hdr, n;
    uint8_t eid;
    if (!it->two_byte) {
      /* RFC 8285 §4.2: ID(4) | L(4), length is L+1 (1..16 bytes). */
      eid = b >> 4;
      n = (size_t)(b & 0x0f) + 1;
      hdr = 1;
      /* ID 15: "processing of the entire extension MUST terminate at that point".
       * ID 0 with L != 0 is not padding and not an element: libwebrtc stops too. */
      if (eid == 15 || eid == 0) {
        it->p = it->end;
        return 0;
      }
    } else {
      /* RFC 8285 §4.3: ID(8) | L(8), length L (0..255 bytes). */
      if (it->end - it->p < 2) {
        it->p = it->end;
        return SFU_EPARSE;
      }
      eid = b;
      n = it->p[1];
      hdr = 2;
    }
    if ((size_t)(it->end - it->p) < hdr + n) {
      it->p = it->end;
      return SFU_EPARSE;
    }
    *id = eid;
    *data = it->p + hdr;
    *len = n;
    it->p += hdr + n;
    return 1;
  }
  return 0;
}

int sfu_rtp_ext_find(const sfu_rtp_hdr_t *h, uint8_t id, const uint8_t **data, size_t *len) {
  if (id == 0) return SFU_ENOENT;
  sfu_rtp_ext_iter_t it;
  sfu_rtp_ext_iter_init(&it, h);
  uint8_t eid;
  const uint8_t *d;
  size_t n;
  int r;
  while ((r = sfu_rtp_ext_iter_next(&it, &eid, &d, &n)) == 1) {
    if (eid == id) {
      *data = d;
      *len = n;
      return 0;
    }
  }
  return r < 0 ? r : SFU_ENOENT;
}

int sfu_rtp_ext_rewrite(uint8_t *buf, const sfu_rtp_hdr_t *h, uint8_t id, const uint8_t *val,
                        size_t len) {
  if (buf != h->raw) return SFU_EINVAL;
  const uint8_t *d;
  size_t n;
  int r = sfu_rtp_ext_find(h, id, &d, &n);
  if (r < 0) return r;
  if (n != len) return SFU_EINVAL;
  memcpy(buf + (d - h->raw), val, len);
  return 0;
}

/* RFC 8852 §3 / RFC 9143: the value is an SDES item text. libwebrtc may pad the value
 * with NULs to reach a word boundary, so the string ends at the first NUL. */
int sfu_rtp_ext_str(const uint8_t *data, size_t len, const char **s, size_t *slen) {
  size_t n = 0;
  while (n < len && data[n] != 0) {
    if (data[n] < 0x21 || data[n] > 0x7e) return SFU_EPARSE;
    n++;
  }
  if (n == 0) return SFU_EPARSE;
  *s = (const char *)data;
  *slen = n;
  return 0;
}

int sfu_rtp_ext_str_copy(const uint8_t *data, size_t len, char *out, size_t cap) {
  const char *s;
  size_t n;
  int r = sfu_rtp_ext_str(data, len, &s, &n);
  if (r < 0) return r;
  if (n + 1 > cap) return SFU_ETOOBIG;
  memcpy(out, s, n);
  out[n] = 0;
  return 0;
}

int sfu_rtp_ext_abs_send_time(const uint8_t *data, size_t len, uint32_t *v24) {
  if (len != 3) return SFU_EPARSE;
  *v24 = sfu_rd24(data);
  return 0;
}

int sfu_rtp_ext_twcc_seq(const uint8_t *data, size_t len, uint16_t *seq) {
  /* The draft's element is 2 bytes; libwebrtc's v2 adds optional bytes after it. */
  if (len < 2) return SFU_EPARSE;
  *seq = sfu_rd16(data);
  return 0;
}

int sfu_rtp_ext_audio_level(const uint8_t *data, size_t len, int *voice, uint8_t *level) {
  /* RFC 6464 §3: V(1) | level(7). Some senders pad the element; the first byte counts. */
  if (len < 1) return SFU_EPARSE;
  *voice = data[0] >> 7;
  *level = data[0] & 0x7f;
  return 0;
}

int sfu_rtp_set_twcc_seq(uint8_t *buf, const sfu_rtp_hdr_t *h, uint8_t id, uint16_t seq) {
  uint8_t v[2];
  sfu_wr16(v, seq);
  return sfu_rtp_ext_rewrite(buf, h, id, v, 2);
}

int sfu_rtp_set_abs_send_time(uint8_t *buf, const sfu_rtp_hdr_t *h, uint8_t id, uint32_t v24) {
  uint8_t v[3];
  sfu_wr24(v, v24);
  return sfu_rtp_ext_rewrite(buf, h, id, v, 3);
}

int sfu_rtp_rtx_osn(const sfu_rtp_hdr_t *h, uint16_t *osn) {
  if (h->payload_len < 2) return SFU_ETRUNC;
  *osn = sfu_rd16(h->payload);
  return 0;
}

int sfu_rtp_rtx_wrap(const uint8_t *pkt, size_t len, uint8_t rtx_pt, uint32_t rtx_ssrc,
                     uint16_t rtx_seq, uint8_t *out, size_t cap) {
  sfu_rtp_hdr_t h;
  if (sfu_rtp_parse(pkt, len, &h) < 0) return SFU_EINVAL;
  size_t n = h.header_len + 2 + h.payload_len;
  if (n > cap || n > INT32_MAX) return SFU_ETOOBIG;
  memmove(out, pkt, h.header_len); /* memmove: out may alias pkt */
  /* RFC 4588 §4: "the payload of the RTX packet is the original packet's payload
   * preceded by the OSN"; padding is the sender's business, we drop it. */
  memmove(out + h.header_len + 2, h.payload, h.payload_len);
  sfu_wr16(out + h.header_len, h.seq);
  out[0] &= (uint8_t)~0x20;
  sfu_rtp_set_payload_type(out, rtx_pt);
  sfu_rtp_set_ssrc(out, rtx_ssrc);
  sfu_rtp_set_seq(out, rtx_seq);
  return (int)n;
}

int sfu_rtp_rtx_unwrap(uint8_t *buf, size_t *len, const sfu_rtp_hdr_t *h, uint8_t orig_pt,
                       uint32_t orig_ssrc) {
  if (buf != h->raw || *len != h->raw_len) return SFU_EINVAL;
  uint16_t osn;
  int r = sfu_rtp_rtx_osn(h, &osn);
  if (r < 0) return r;
  uint8_t *p = buf + h->header_len;
  memmove(p, p + 2, *len - h->header_len - 2); /* payload and padding move down */
  *len -= 2;
  sfu_rtp_set_seq(buf, osn);
  sfu_rtp_set_payload_type(buf, orig_pt);
  sfu_rtp_set_ssrc(buf, orig_ssrc);
  return 0;
}
