/* Crypto for STUN: HMAC-SHA1 for MESSAGE-INTEGRITY (RFC 8489 §14.5) and the CRC-32 of
 * FINGERPRINT (§14.7), which OpenSSL does not export.
 *
 * HMAC-SHA1 = SHA1((K ^ opad) || SHA1((K ^ ipad) || m)) (RFC 2104 §2). The key pads are
 * one 64-byte SHA-1 block each, so hashing them is the same for every message under one
 * key: sfu_stun_key_init() does it once and keeps the two SHA-1 chaining values, and each
 * MAC restarts from them. That is what srtp_ossl.c does for SRTP's HMAC, for the same
 * reason: EVP_MAC_init (HMAC_Init_ex) allocates its digest contexts per call (10
 * malloc/free per ICE check, ~20,000 instructions; docs/benchmarks.md), and
 * EVP_MD_CTX_copy_ex goes through the provider's dupctx, a malloc too. Hence OpenSSL's
 * low-level SHA1_* (deprecated in 3.0, still exported, SHA-NI accelerated), which work on
 * a caller-owned SHA_CTX and never allocate. */
#define OPENSSL_SUPPRESS_DEPRECATED 1 /* SHA1_Init/Update/Final: see above */
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <string.h>

#include "proto/stun_crc32_tables.h"
#include "proto/stun_internal.h"
#include "sfu/err.h"
#include "sfu/stun.h"

/* CRC-32/ISO-HDLC (reflected polynomial 0xEDB88320, init and final XOR ~0), the CRC of
 * RFC 1952 that §14.7 names, slicing-by-8 (8 KB of constant tables): eight independent
 * lookups per 8 bytes instead of a chain of eight dependent ones. The byte-at-a-time
 * table is latency-bound at ~7 cycles a byte, which made the two CRCs of a check (request
 * and response, ~150 bytes) half of its time once HMAC stopped allocating (bench_stun:
 * 276 ns against 58 for 152 bytes). zlib's crc32 does the same, but the project does not
 * link zlib. */
static inline uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint32_t sfu_stun_crc32(const uint8_t *buf, size_t len) {
  const uint32_t(*t)[256] = crc_tables;
  uint32_t c = 0xFFFFFFFFu;
  for (; len >= 8; buf += 8, len -= 8) {
    uint32_t lo = c ^ le32(buf), hi = le32(buf + 4);
    c = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^
        t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
  }
  for (; len; buf++, len--) c = (c >> 8) ^ t[0][(c ^ *buf) & 0xFF];
  return c ^ 0xFFFFFFFFu;
}

int sfu_stun__ct_eq(const uint8_t *a, const uint8_t *b, size_t n) {
  return CRYPTO_memcmp(a, b, n) == 0;
}

#define SHA1_BLOCK 64

/* The chaining value of a SHA_CTX that has absorbed exactly one block (and nothing
 * buffered), and back. SHA_CTX's fields are public in <openssl/sha.h>; Nl/Nh count bits. */
static void midstate_save(uint32_t out[5], const SHA_CTX *c) {
  out[0] = c->h0, out[1] = c->h1, out[2] = c->h2, out[3] = c->h3, out[4] = c->h4;
}

static void midstate_load(SHA_CTX *c, const uint32_t in[5]) {
  memset(c, 0, sizeof *c);
  c->h0 = in[0], c->h1 = in[1], c->h2 = in[2], c->h3 = in[3], c->h4 = in[4];
  c->Nl = SHA1_BLOCK * 8; /* one block hashed; num = 0: nothing pending */
}

static void pad_state(uint32_t out[5], const uint8_t *k, size_t k_len, uint8_t byte) {
  uint8_t pad[SHA1_BLOCK];
  memset(pad, byte, sizeof pad);
  for (size_t i = 0; i < k_len; i++) pad[i] ^= k[i];
  SHA_CTX c;
  SHA1_Init(&c);
  SHA1_Update(&c, pad, sizeof pad);
  midstate_save(out, &c);
  OPENSSL_cleanse(pad, sizeof pad);
  OPENSSL_cleanse(&c, sizeof c);
}

int sfu_stun_key_init(sfu_stun_key_t *k, const uint8_t *key, size_t key_len) {
  if (!k || (!key && key_len)) return SFU_EINVAL;
  /* RFC 2104 §2: a key longer than the block is replaced by its hash; a shorter one is
   * padded with zeros (the pads' untouched bytes). ICE passwords may be 256 chars. */
  uint8_t hashed[SHA_DIGEST_LENGTH];
  if (key_len > SHA1_BLOCK) {
    SHA1(key, key_len, hashed);
    key = hashed;
    key_len = sizeof hashed;
  }
  pad_state(k->inner, key, key_len, 0x36);
  pad_state(k->outer, key, key_len, 0x5c);
  OPENSSL_cleanse(hashed, sizeof hashed);
  return 0;
}

void sfu_stun__hmac_sha1(const sfu_stun_key_t *k, const uint8_t *a, size_t a_len, const uint8_t *b,
                         size_t b_len, uint8_t out[SHA_DIGEST_LENGTH]) {
  SHA_CTX c;
  uint8_t inner[SHA_DIGEST_LENGTH];
  midstate_load(&c, k->inner);
  SHA1_Update(&c, a, a_len);
  if (b_len) SHA1_Update(&c, b, b_len);
  SHA1_Final(inner, &c);
  midstate_load(&c, k->outer);
  SHA1_Update(&c, inner, sizeof inner);
  SHA1_Final(out, &c);
}
