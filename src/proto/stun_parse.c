/* STUN parsing and verification (RFC 8489 §5, §14): views into the caller's buffer,
 * no allocation. Builders are in stun_build.c; the crypto helpers in stun_crypto.c. */
#include <string.h>

#include "proto/stun_internal.h"
#include "sfu/bytes.h"
#include "sfu/err.h"
#include "sfu/stun.h"

int sfu_stun_is_stun(const uint8_t *buf, size_t len) {
  /* RFC 7983 §7: first byte 0..3; RFC 8489 §5: the magic cookie at offset 4. */
  return buf && len >= SFU_STUN_HDR_LEN && (buf[0] & 0xC0) == 0 &&
         sfu_rd32(buf + 4) == SFU_STUN_MAGIC_COOKIE;
}

const char *sfu_stun_class_name(int cls) {
  switch (cls) {
    case SFU_STUN_REQUEST:
      return "request";
    case SFU_STUN_INDICATION:
      return "indication";
    case SFU_STUN_SUCCESS:
      return "success";
    case SFU_STUN_ERROR:
      return "error";
    default:
      return "?";
  }
}

/* Comprehension-required attributes (type < 0x8000) this codec knows; anything else
 * below 0x8000 is reported in msg->unknown (RFC 8489 §6.3.1.1, §14). */
static int known_required(uint16_t t) {
  switch (t) {
    case SFU_STUN_ATTR_MAPPED_ADDRESS:
    case SFU_STUN_ATTR_USERNAME:
    case SFU_STUN_ATTR_MESSAGE_INTEGRITY:
    case SFU_STUN_ATTR_ERROR_CODE:
    case SFU_STUN_ATTR_UNKNOWN_ATTRIBUTES:
    case SFU_STUN_ATTR_REALM:
    case SFU_STUN_ATTR_NONCE:
    case SFU_STUN_ATTR_MESSAGE_INTEGRITY_SHA256:
    case SFU_STUN_ATTR_PASSWORD_ALGORITHM:
    case SFU_STUN_ATTR_USERHASH:
    case SFU_STUN_ATTR_XOR_MAPPED_ADDRESS:
    case SFU_STUN_ATTR_PRIORITY:
    case SFU_STUN_ATTR_USE_CANDIDATE:
      return 1;
    default:
      return 0;
  }
}

/* One attribute before MESSAGE-INTEGRITY: checks its length and fills msg.
 * First occurrence wins (RFC 8489 §14: "only the first occurrence needs to be processed"). */
static int parse_attr(sfu_stun_msg_t *m, uint16_t type, const uint8_t *v, size_t alen) {
  switch (type) {
    case SFU_STUN_ATTR_USERNAME:
      if (alen > SFU_STUN_USERNAME_MAX) return SFU_EPARSE;
      if (!m->username) {
        m->username = (const char *)v;
        m->username_len = alen;
      }
      return 0;
    case SFU_STUN_ATTR_SOFTWARE:
      /* §14.14: fewer than 128 characters, at most 763 bytes. */
      if (alen > 763) return SFU_EPARSE;
      if (!m->software) {
        m->software = (const char *)v;
        m->software_len = alen;
      }
      return 0;
    case SFU_STUN_ATTR_PRIORITY: /* RFC 8445 §16.1: 32-bit */
      if (alen != 4) return SFU_EPARSE;
      if (!m->has_priority) {
        m->has_priority = 1;
        m->priority = sfu_rd32(v);
      }
      return 0;
    case SFU_STUN_ATTR_USE_CANDIDATE: /* RFC 8445 §16.1: no content */
      if (alen != 0) return SFU_EPARSE;
      m->use_candidate = 1;
      return 0;
    case SFU_STUN_ATTR_ICE_CONTROLLED:
    case SFU_STUN_ATTR_ICE_CONTROLLING: /* RFC 8445 §16.1: 64-bit tiebreaker */
      if (alen != 8) return SFU_EPARSE;
      if (!m->has_controlled && !m->has_controlling) m->tiebreaker = sfu_rd64(v);
      if (type == SFU_STUN_ATTR_ICE_CONTROLLED)
        m->has_controlled = 1;
      else
        m->has_controlling = 1;
      return 0;
    case SFU_STUN_ATTR_XOR_MAPPED_ADDRESS: /* §14.2: family 1 → 8 bytes, family 2 → 20 */
      if (!((alen == 8 && v[1] == 0x01) || (alen == 20 && v[1] == 0x02))) return SFU_EPARSE;
      if (!m->xor_mapped) {
        m->xor_mapped = v;
        m->xor_mapped_len = alen;
      }
      return 0;
    case SFU_STUN_ATTR_ERROR_CODE: {
      /* §14.8: 21 reserved bits, class (3..6), number (0..99), reason ≤ 763 bytes. */
      if (alen < 4 || alen > 4 + 763) return SFU_EPARSE;
      unsigned cls = v[2] & 0x07, num = v[3];
      if (cls < 3 || cls > 6 || num > 99) return SFU_EPARSE;
      if (!m->has_error) {
        m->has_error = 1;
        m->error_code = (uint16_t)(cls * 100 + num);
        m->error_reason = (const char *)v + 4;
        m->error_reason_len = alen - 4;
      }
      return 0;
    }
    default:
      if (type < 0x8000 && !known_required(type) && m->n_unknown < SFU_STUN_MAX_UNKNOWN)
        m->unknown[m->n_unknown++] = type;
      return 0;
  }
}

/* Header checks (RFC 8489 §5). Garbage is told apart from a short read as early as the
 * bytes present allow, so a caller buffering a stream can tell "wait" from "drop". */
static int parse_header(const uint8_t *buf, size_t len, size_t *total) {
  if (len >= 1 && (buf[0] & 0xC0) != 0) return SFU_EPARSE; /* top two bits zero */
  if (len >= 8 && sfu_rd32(buf + 4) != SFU_STUN_MAGIC_COOKIE) return SFU_EPARSE;
  if (len >= 4 && (sfu_rd16(buf + 2) & 3) != 0) return SFU_EPARSE; /* multiple of 4 */
  if (len < SFU_STUN_HDR_LEN) return SFU_ETRUNC;
  size_t t = SFU_STUN_HDR_LEN + (size_t)sfu_rd16(buf + 2);
  if (len < t) return SFU_ETRUNC;
  /* One datagram or one RFC 4571 frame holds exactly one message: trailing bytes mean
   * the length field lies (and MI/FINGERPRINT would cover the wrong bytes). */
  if (len > t) return SFU_EPARSE;
  *total = t;
  return 0;
}

int sfu_stun_parse(const uint8_t *buf, size_t len, sfu_stun_msg_t *m) {
  if (!m) return SFU_EINVAL;
  memset(m, 0, sizeof *m);
  if (!buf) return SFU_EINVAL;
  size_t total = 0;
  int rc = parse_header(buf, len, &total);
  if (rc) return rc;
  m->buf = buf;
  m->len = total;
  m->type = sfu_rd16(buf);
  /* §5: M11..M0 interleaved with class bits C1 (bit 8) and C0 (bit 4). */
  m->method =
      (uint16_t)((m->type & 0x000F) | ((m->type & 0x00E0) >> 1) | ((m->type & 0x3E00) >> 2));
  m->cls = (uint8_t)(((m->type >> 4) & 1) | ((m->type >> 7) & 2));
  m->tid = buf + 8;

  int after_integrity = 0;
  size_t off = SFU_STUN_HDR_LEN;
  while (off < total) {
    /* total - off is a positive multiple of 4, so the 4-byte attribute header fits. */
    uint16_t type = sfu_rd16(buf + off);
    size_t alen = sfu_rd16(buf + off + 2);
    size_t padded = (alen + 3) & ~(size_t)3; /* §14: values padded to 4 bytes */
    if (padded > total - off - 4) return SFU_EPARSE;
    if (m->fingerprint_off) return SFU_EPARSE; /* §14.7: FINGERPRINT is the last one */
    const uint8_t *v = buf + off + 4;
    m->n_attrs++;
    if (type == SFU_STUN_ATTR_FINGERPRINT) {
      if (alen != 4) return SFU_EPARSE;
      m->fingerprint_off = off;
    } else if (after_integrity) {
      /* §14.5: "agents MUST ignore all other attributes that follow MESSAGE-INTEGRITY,
       * with the exception of the MESSAGE-INTEGRITY-SHA256 and FINGERPRINT attributes". */
      if (type == SFU_STUN_ATTR_MESSAGE_INTEGRITY_SHA256) m->has_integrity_sha256 = 1;
    } else if (type == SFU_STUN_ATTR_MESSAGE_INTEGRITY) {
      if (alen != SFU_STUN_MI_LEN) return SFU_EPARSE;
      m->integrity_off = off;
      after_integrity = 1;
    } else if (type == SFU_STUN_ATTR_MESSAGE_INTEGRITY_SHA256) {
      /* §14.6: 16..32 bytes, a multiple of 4; verified by nobody here (ICE uses MI). */
      if (alen < 16 || alen > 32 || (alen & 3)) return SFU_EPARSE;
      m->has_integrity_sha256 = 1;
      after_integrity = 1;
    } else {
      rc = parse_attr(m, type, v, alen);
      if (rc) return rc;
    }
    off += 4 + padded;
  }
  return 0;
}

int sfu_stun_check_fingerprint(const sfu_stun_msg_t *m) {
  if (!m || !m->buf) return SFU_EINVAL;
  if (!m->fingerprint_off) return SFU_ENOENT;
  /* §14.7: CRC-32 of the message up to (excluding) the FINGERPRINT attribute, XOR
   * 0x5354554e. FINGERPRINT is last, so the header's length already covers it. */
  uint32_t want = sfu_stun_crc32(m->buf, m->fingerprint_off) ^ SFU_STUN_FP_XOR;
  return sfu_rd32(m->buf + m->fingerprint_off + 4) == want ? 0 : SFU_EAUTH;
}

int sfu_stun_check_integrity_keyed(const sfu_stun_msg_t *m, const sfu_stun_key_t *key) {
  if (!m || !m->buf || !key) return SFU_EINVAL;
  if (!m->integrity_off) return SFU_ENOENT;
  /* §14.5: HMAC over the message up to MESSAGE-INTEGRITY, with the header's length
   * field "adjusted to point to the end of the MESSAGE-INTEGRITY attribute" (so a
   * FINGERPRINT added afterwards does not change it). The caller's buffer is const,
   * hence a patched copy of the 20-byte header. */
  uint8_t hdr[SFU_STUN_HDR_LEN];
  memcpy(hdr, m->buf, sizeof hdr);
  sfu_wr16(hdr + 2, (uint16_t)(m->integrity_off + 4 + SFU_STUN_MI_LEN - SFU_STUN_HDR_LEN));
  uint8_t mac[SFU_STUN_MI_LEN];
  sfu_stun__hmac_sha1(key, hdr, sizeof hdr, m->buf + SFU_STUN_HDR_LEN,
                      m->integrity_off - SFU_STUN_HDR_LEN, mac);
  return sfu_stun__ct_eq(mac, m->buf + m->integrity_off + 4, SFU_STUN_MI_LEN) ? 0 : SFU_EAUTH;
}

int sfu_stun_check_integrity(const sfu_stun_msg_t *m, const uint8_t *key, size_t key_len) {
  if (!m || !m->buf || (!key && key_len)) return SFU_EINVAL;
  if (!m->integrity_off) return SFU_ENOENT; /* before hashing the key pads for nothing */
  sfu_stun_key_t k;
  sfu_stun_key_init(&k, key, key_len);
  return sfu_stun_check_integrity_keyed(m, &k);
}

static int username_split(const sfu_stun_msg_t *m, const char **colon) {
  if (!m || !m->username) return SFU_ENOENT;
  *colon = memchr(m->username, ':', m->username_len);
  return *colon ? 0 : SFU_EPARSE;
}

int sfu_stun_username_local(const sfu_stun_msg_t *m, const char **ufrag, size_t *len) {
  const char *c = NULL;
  int rc = username_split(m, &c);
  if (rc) return rc;
  /* RFC 8445 §7.2.2: USERNAME of a check is "RFRAG:LFRAG" as the sender writes it, so
   * for the receiver the part before the colon is its own (local) ufrag. */
  *ufrag = m->username;
  *len = (size_t)(c - m->username);
  return 0;
}

int sfu_stun_username_remote(const sfu_stun_msg_t *m, const char **ufrag, size_t *len) {
  const char *c = NULL;
  int rc = username_split(m, &c);
  if (rc) return rc;
  *ufrag = c + 1;
  *len = m->username_len - (size_t)(c + 1 - m->username);
  return 0;
}

int sfu_stun_xor_mapped(const sfu_stun_msg_t *m, sfu_addr_t *out) {
  if (!m || !out) return SFU_EINVAL;
  if (!m->xor_mapped) return SFU_ENOENT;
  const uint8_t *v = m->xor_mapped;
  memset(out, 0, sizeof *out);
  out->proto = SFU_PROTO_UDP;
  /* §14.2: X-Port = port XOR the cookie's top 16 bits; X-Address = address XOR the
   * cookie (IPv4) or XOR cookie || transaction id (IPv6). */
  uint16_t port = (uint16_t)(sfu_rd16(v + 2) ^ (SFU_STUN_MAGIC_COOKIE >> 16));
  if (v[1] == 0x01 && m->xor_mapped_len == 8) {
    out->u.in4.sin_family = AF_INET;
    out->u.in4.sin_port = htons(port);
    uint32_t a = sfu_rd32(v + 4) ^ SFU_STUN_MAGIC_COOKIE;
    out->u.in4.sin_addr.s_addr = htonl(a);
    return 0;
  }
  if (v[1] == 0x02 && m->xor_mapped_len == 20) {
    out->u.in6.sin6_family = AF_INET6;
    out->u.in6.sin6_port = htons(port);
    uint8_t *a = out->u.in6.sin6_addr.s6_addr;
    for (int i = 0; i < 16; i++) a[i] = v[4 + i] ^ m->buf[4 + i]; /* cookie then tid */
    return 0;
  }
  return SFU_EPARSE;
}
