#include "sfu/ids.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <string.h>

#include "sfu/err.h"

int sfu_random_bytes(void *buf, size_t len) {
  if (len > (size_t)0x7fffffff) return SFU_EINVAL;
  return RAND_bytes(buf, (int)len) == 1 ? 0 : SFU_EINTERNAL;
}

int sfu_uuid_v4(char out[SFU_UUID_LEN + 1]) {
  static const char hex[] = "0123456789abcdef";
  unsigned char b[16];
  if (sfu_random_bytes(b, sizeof b)) return SFU_EINTERNAL;
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* RFC 9562 §5.4: version 4 */
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* variant 10 */
  char *p = out;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) *p++ = '-';
    *p++ = hex[b[i] >> 4];
    *p++ = hex[b[i] & 15];
  }
  *p = 0;
  return 0;
}

int sfu_uuid_valid(const char *s) {
  if (!s || strlen(s) != SFU_UUID_LEN) return 0;
  for (int i = 0; i < SFU_UUID_LEN; i++) {
    char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return 0;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return 0;
    }
  }
  return 1;
}

int sfu_token_new(char out[SFU_TOKEN_LEN + 1]) {
  static const char b64u[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  unsigned char b[SFU_TOKEN_BYTES];
  if (sfu_random_bytes(b, sizeof b)) return SFU_EINTERNAL;
  char *p = out;
  for (int i = 0; i < SFU_TOKEN_BYTES; i += 3) {
    uint32_t v = (uint32_t)b[i] << 16 | (uint32_t)b[i + 1] << 8 | b[i + 2];
    *p++ = b64u[(v >> 18) & 63];
    *p++ = b64u[(v >> 12) & 63];
    *p++ = b64u[(v >> 6) & 63];
    *p++ = b64u[v & 63];
  }
  *p = 0;
  OPENSSL_cleanse(b, sizeof b);
  return 0;
}

int sfu_random_ice_chars(char *out, size_t n) {
  /* RFC 8839 §5.4: ice-char = ALPHA / DIGIT / "+" / "/" */
  static const char set[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  unsigned char b[256];
  if (n > sizeof b) return SFU_EINVAL;
  if (sfu_random_bytes(b, n)) return SFU_EINTERNAL;
  for (size_t i = 0; i < n; i++) out[i] = set[b[i] & 63];
  out[n] = 0;
  return 0;
}

int sfu_ct_equal(const void *a, size_t len_a, const void *b, size_t len_b) {
  const unsigned char *x = a, *y = b;
  unsigned char diff = (unsigned char)(len_a != len_b);
  for (size_t i = 0; i < len_b; i++) diff |= (unsigned char)(y[i] ^ (i < len_a ? x[i] : 0));
  return diff == 0;
}
