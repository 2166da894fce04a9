/* Crypto for STUN: HMAC-SHA1 for MESSAGE-INTEGRITY (RFC 8489 §14.5) through OpenSSL 3's
 * EVP_MAC, and the CRC-32 of FINGERPRINT (§14.7), which OpenSSL does not export. */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>

#include "proto/stun_internal.h"
#include "sfu/err.h"
#include "sfu/stun.h"

/* CRC-32/ISO-HDLC (reflected polynomial 0xEDB88320, init and final XOR ~0), the CRC of
 * RFC 1952 that §14.7 names. A 16-entry nibble table: two lookups per byte, which is
 * plenty for ~100-byte STUN messages and needs no run-time table initialisation. */
static const uint32_t crc_nibble[16] = {
    0x00000000, 0x1DB71064, 0x3B6E20C8, 0x26D930AC, 0x76DC4190, 0x6B6B51F4, 0x4DB26158, 0x5005713C,
    0xEDB88320, 0xF00F9344, 0xD6D6A3E8, 0xCB61B38C, 0x9B64C2B0, 0x86D3D2D4, 0xA00AE278, 0xBDBDF21C,
};

uint32_t sfu_stun_crc32(const uint8_t *buf, size_t len) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < len; i++) {
    c ^= buf[i];
    c = (c >> 4) ^ crc_nibble[c & 0x0F];
    c = (c >> 4) ^ crc_nibble[c & 0x0F];
  }
  return c ^ 0xFFFFFFFFu;
}

int sfu_stun__ct_eq(const uint8_t *a, const uint8_t *b, size_t n) {
  return CRYPTO_memcmp(a, b, n) == 0;
}

/* One EVP_MAC_CTX per thread, kept in a pthread key so that a media loop re-keys it per
 * message instead of allocating a context per packet; the key's destructor frees it
 * when the thread exits. The fetched HMAC implementation is process-global, fetched
 * once (EVP_MAC_fetch is thread-safe; pthread_once makes it happen once). */
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;
static pthread_key_t hmac_key;
static EVP_MAC *hmac_alg;

static void hmac_ctx_free(void *p) { EVP_MAC_CTX_free(p); }

static void hmac_init_once(void) {
  if (pthread_key_create(&hmac_key, hmac_ctx_free) != 0) return;
  hmac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

static EVP_MAC_CTX *hmac_ctx(void) {
  pthread_once(&hmac_once, hmac_init_once);
  if (!hmac_alg) return NULL;
  EVP_MAC_CTX *c = pthread_getspecific(hmac_key);
  if (c) return c;
  c = EVP_MAC_CTX_new(hmac_alg);
  if (!c) return NULL;
  char sha1[] = "SHA1";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, sha1, 0),
      OSSL_PARAM_construct_end(),
  };
  if (!EVP_MAC_CTX_set_params(c, params) || pthread_setspecific(hmac_key, c) != 0) {
    EVP_MAC_CTX_free(c);
    return NULL;
  }
  return c;
}

int sfu_stun__hmac_sha1(const uint8_t *key, size_t key_len, const uint8_t *a, size_t a_len,
                        const uint8_t *b, size_t b_len, uint8_t out[20]) {
  EVP_MAC_CTX *c = hmac_ctx();
  if (!c) return SFU_ECRYPTO;
  /* EVP_MAC_init with a NULL/empty key keeps the previous key; HMAC pads keys with
   * zeros to the block size (RFC 2104 §2), so one zero byte is the empty key. */
  static const uint8_t zero = 0;
  if (key_len == 0) {
    key = &zero;
    key_len = 1;
  }
  size_t outl = 0;
  if (!EVP_MAC_init(c, key, key_len, NULL) || !EVP_MAC_update(c, a, a_len) ||
      (b_len && !EVP_MAC_update(c, b, b_len)) || !EVP_MAC_final(c, out, &outl, 20) || outl != 20)
    return SFU_ECRYPTO;
  return 0;
}
