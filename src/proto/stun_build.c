/* STUN message writers (RFC 8489 §5, §14) and the ICE messages built from them. */
#include <string.h>

#include "proto/stun_internal.h"
#include "sfu/bytes.h"
#include "sfu/err.h"
#include "sfu/stun.h"

#define STUN_MAX_LEN (SFU_STUN_HDR_LEN + 0xFFFCu) /* the length field is 16 bits, ×4 */

static void set_len_field(sfu_stun_writer_t *w, size_t end) {
  sfu_wr16(w->buf + 2, (uint16_t)(end - SFU_STUN_HDR_LEN));
}

void sfu_stun_w_init(sfu_stun_writer_t *w, uint8_t *buf, size_t cap, uint16_t method,
                     sfu_stun_class_t cls, const uint8_t tid[SFU_STUN_TID_LEN]) {
  memset(w, 0, sizeof *w);
  w->buf = buf;
  w->cap = cap;
  if (!buf || !tid || method > 0x0FFF || (unsigned)cls > 3) {
    w->err = SFU_EINVAL;
    return;
  }
  if (cap < SFU_STUN_HDR_LEN) {
    w->err = SFU_ETOOBIG;
    return;
  }
  /* §5: class bits C0 (bit 4) and C1 (bit 8) interleaved with the method bits. */
  uint16_t type = (uint16_t)((method & 0x000F) | ((method & 0x0070) << 1) |
                             ((method & 0x0F80) << 2) | ((cls & 1) << 4) | ((cls & 2) << 7));
  sfu_wr16(buf, type);
  sfu_wr16(buf + 2, 0);
  sfu_wr32(buf + 4, SFU_STUN_MAGIC_COOKIE);
  memcpy(buf + 8, tid, SFU_STUN_TID_LEN);
  w->len = SFU_STUN_HDR_LEN;
}

/* Reserves an attribute of `len` value bytes (padding written), returns its value. */
static uint8_t *w_reserve(sfu_stun_writer_t *w, uint16_t type, size_t len) {
  if (w->err) return NULL;
  size_t padded = (len + 3) & ~(size_t)3;
  if (len > 0xFFFF || w->len + 4 + padded > STUN_MAX_LEN) {
    w->err = SFU_ETOOBIG;
    return NULL;
  }
  if (w->len + 4 + padded > w->cap) {
    w->err = SFU_ETOOBIG;
    return NULL;
  }
  uint8_t *p = w->buf + w->len;
  sfu_wr16(p, type);
  sfu_wr16(p + 2, (uint16_t)len);
  memset(p + 4 + len, w->pad_byte, padded - len);
  w->len += 4 + padded;
  set_len_field(w, w->len);
  return p + 4;
}

void sfu_stun_w_attr(sfu_stun_writer_t *w, uint16_t type, const void *val, size_t len) {
  if (!w->err && len && !val) {
    w->err = SFU_EINVAL;
    return;
  }
  uint8_t *v = w_reserve(w, type, len);
  if (v && len) memcpy(v, val, len);
}

void sfu_stun_w_u32(sfu_stun_writer_t *w, uint16_t type, uint32_t x) {
  uint8_t *v = w_reserve(w, type, 4);
  if (v) sfu_wr32(v, x);
}

void sfu_stun_w_u64(sfu_stun_writer_t *w, uint16_t type, uint64_t x) {
  uint8_t *v = w_reserve(w, type, 8);
  if (v) sfu_wr64(v, x);
}

void sfu_stun_w_xor_addr(sfu_stun_writer_t *w, uint16_t type, const sfu_addr_t *a) {
  if (w->err) return;
  int fam = a ? a->u.sa.sa_family : 0;
  if (fam != AF_INET && fam != AF_INET6) {
    w->err = SFU_EINVAL;
    return;
  }
  uint8_t *v = w_reserve(w, type, fam == AF_INET ? 8 : 20);
  if (!v) return;
  /* §14.2, the inverse of sfu_stun_xor_mapped(). */
  v[0] = 0;
  if (fam == AF_INET) {
    v[1] = 0x01;
    sfu_wr16(v + 2, (uint16_t)(ntohs(a->u.in4.sin_port) ^ (SFU_STUN_MAGIC_COOKIE >> 16)));
    sfu_wr32(v + 4, ntohl(a->u.in4.sin_addr.s_addr) ^ SFU_STUN_MAGIC_COOKIE);
  } else {
    v[1] = 0x02;
    sfu_wr16(v + 2, (uint16_t)(ntohs(a->u.in6.sin6_port) ^ (SFU_STUN_MAGIC_COOKIE >> 16)));
    for (int i = 0; i < 16; i++) v[4 + i] = a->u.in6.sin6_addr.s6_addr[i] ^ w->buf[4 + i];
  }
}

void sfu_stun_w_error(sfu_stun_writer_t *w, uint16_t code, const char *reason) {
  if (w->err) return;
  if (code < 300 || code > 699) {
    w->err = SFU_EINVAL;
    return;
  }
  size_t rlen = reason ? strlen(reason) : 0;
  if (rlen > 763) {
    w->err = SFU_EINVAL;
    return;
  }
  uint8_t *v = w_reserve(w, SFU_STUN_ATTR_ERROR_CODE, 4 + rlen);
  if (!v) return;
  /* §14.8: 21 reserved zero bits, class = hundreds digit, number = code mod 100. */
  v[0] = v[1] = 0;
  v[2] = (uint8_t)(code / 100);
  v[3] = (uint8_t)(code % 100);
  if (rlen) memcpy(v + 4, reason, rlen);
}

void sfu_stun_w_integrity_keyed(sfu_stun_writer_t *w, const sfu_stun_key_t *key) {
  if (w->err) return;
  if (!key) {
    w->err = SFU_EINVAL;
    return;
  }
  size_t start = w->len;
  uint8_t *v = w_reserve(w, SFU_STUN_ATTR_MESSAGE_INTEGRITY, SFU_STUN_MI_LEN);
  if (!v) return;
  /* §14.5: the length field already counts MI itself (w_reserve set it) but not a
   * FINGERPRINT that may follow; the HMAC covers everything before the attribute. */
  sfu_stun__hmac_sha1(key, w->buf, start, NULL, 0, v);
}

void sfu_stun_w_integrity(sfu_stun_writer_t *w, const uint8_t *key, size_t key_len) {
  if (w->err) return;
  sfu_stun_key_t k;
  int rc = sfu_stun_key_init(&k, key, key_len);
  if (rc) {
    w->err = rc;
    return;
  }
  sfu_stun_w_integrity_keyed(w, &k);
}

void sfu_stun_w_fingerprint(sfu_stun_writer_t *w) {
  if (w->err) return;
  size_t start = w->len;
  uint8_t *v = w_reserve(w, SFU_STUN_ATTR_FINGERPRINT, 4);
  if (!v) return;
  /* §14.7: CRC over the message before FINGERPRINT, length field including it. */
  sfu_wr32(v, sfu_stun_crc32(w->buf, start) ^ SFU_STUN_FP_XOR);
}

int sfu_stun_w_finish(const sfu_stun_writer_t *w) {
  if (w->err) return w->err;
  return (int)w->len;
}

int sfu_stun_build_binding_success_keyed(uint8_t *buf, size_t cap,
                                         const uint8_t tid[SFU_STUN_TID_LEN],
                                         const sfu_addr_t *mapped, const sfu_stun_key_t *key) {
  sfu_stun_writer_t w;
  sfu_stun_w_init(&w, buf, cap, SFU_STUN_BINDING, SFU_STUN_SUCCESS, tid);
  /* RFC 8445 §7.3.1.4: XOR-MAPPED-ADDRESS = the request's source transport address;
   * the response is authenticated with the same password as the request. */
  sfu_stun_w_xor_addr(&w, SFU_STUN_ATTR_XOR_MAPPED_ADDRESS, mapped);
  sfu_stun_w_integrity_keyed(&w, key);
  sfu_stun_w_fingerprint(&w);
  return sfu_stun_w_finish(&w);
}

int sfu_stun_build_binding_success(uint8_t *buf, size_t cap, const uint8_t tid[SFU_STUN_TID_LEN],
                                   const sfu_addr_t *mapped, const uint8_t *key, size_t key_len) {
  sfu_stun_key_t k;
  int rc = sfu_stun_key_init(&k, key, key_len);
  if (rc) return rc;
  return sfu_stun_build_binding_success_keyed(buf, cap, tid, mapped, &k);
}

static const char *reason_phrase(uint16_t code) {
  switch (code) { /* RFC 8489 §14.8, RFC 8445 §16.1 */
    case 300:
      return "Try Alternate";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 420:
      return "Unknown Attribute";
    case 438:
      return "Stale Nonce";
    case 487:
      return "Role Conflict";
    case 500:
      return "Server Error";
    default:
      return "Error";
  }
}

int sfu_stun_build_error_keyed(uint8_t *buf, size_t cap, uint16_t method,
                               const uint8_t tid[SFU_STUN_TID_LEN], uint16_t code,
                               const uint16_t *unknown, size_t n_unknown,
                               const sfu_stun_key_t *key) {
  sfu_stun_writer_t w;
  sfu_stun_w_init(&w, buf, cap, method, SFU_STUN_ERROR, tid);
  sfu_stun_w_error(&w, code, reason_phrase(code));
  if (code == SFU_STUN_ERR_UNKNOWN_ATTRIBUTE && unknown && n_unknown) {
    /* §14.9: a list of 16-bit types, padded like any attribute. */
    if (n_unknown > 32) n_unknown = 32;
    uint8_t *v = w_reserve(&w, SFU_STUN_ATTR_UNKNOWN_ATTRIBUTES, 2 * n_unknown);
    for (size_t i = 0; v && i < n_unknown; i++) sfu_wr16(v + 2 * i, unknown[i]);
  }
  if (key) sfu_stun_w_integrity_keyed(&w, key);
  sfu_stun_w_fingerprint(&w);
  return sfu_stun_w_finish(&w);
}

int sfu_stun_build_error(uint8_t *buf, size_t cap, uint16_t method,
                         const uint8_t tid[SFU_STUN_TID_LEN], uint16_t code,
                         const uint16_t *unknown, size_t n_unknown, const uint8_t *key,
                         size_t key_len) {
  sfu_stun_key_t k;
  if (key && sfu_stun_key_init(&k, key, key_len) != 0) return SFU_EINVAL;
  return sfu_stun_build_error_keyed(buf, cap, method, tid, code, unknown, n_unknown,
                                    key ? &k : NULL);
}

int sfu_stun_build_binding_request(uint8_t *buf, size_t cap, const sfu_stun_request_params_t *p) {
  if (!p || !p->tid || !p->username || !p->password) return SFU_EINVAL;
  size_t ulen = strlen(p->username);
  if (ulen == 0 || ulen > SFU_STUN_USERNAME_MAX) return SFU_EINVAL;
  sfu_stun_writer_t w;
  sfu_stun_w_init(&w, buf, cap, SFU_STUN_BINDING, SFU_STUN_REQUEST, p->tid);
  if (p->software) sfu_stun_w_attr(&w, SFU_STUN_ATTR_SOFTWARE, p->software, strlen(p->software));
  sfu_stun_w_attr(&w, SFU_STUN_ATTR_USERNAME, p->username, ulen);
  /* RFC 8445 §7.1.1: PRIORITY; §7.1.3: the sender's role and tiebreaker;
   * §8.1.1: USE-CANDIDATE only from the controlling agent. */
  sfu_stun_w_u32(&w, SFU_STUN_ATTR_PRIORITY, p->priority);
  if (p->role == SFU_ICE_ROLE_CONTROLLING) {
    sfu_stun_w_u64(&w, SFU_STUN_ATTR_ICE_CONTROLLING, p->tiebreaker);
    if (p->use_candidate) sfu_stun_w_attr(&w, SFU_STUN_ATTR_USE_CANDIDATE, NULL, 0);
  } else {
    sfu_stun_w_u64(&w, SFU_STUN_ATTR_ICE_CONTROLLED, p->tiebreaker);
  }
  sfu_stun_w_integrity(&w, (const uint8_t *)p->password, strlen(p->password));
  sfu_stun_w_fingerprint(&w);
  return sfu_stun_w_finish(&w);
}
