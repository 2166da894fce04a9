/* See srtp_ref.h: bench-only reference SRTP transforms on OpenSSL EVP. */
#define OPENSSL_SUPPRESS_DEPRECATED 1 /* SHA1_* keeps HMAC state copies allocation-free */
#include "srtp_ref.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "sfu/bytes.h"

struct srtp_ref {
  int gcm;
  uint8_t salt[14];
  EVP_CIPHER_CTX *enc, *dec;
  SHA_CTX ipad, opad; /* HMAC-SHA1 states after the key pads (AES-CM profile) */
};

srtp_ref_t *srtp_ref_new(int gcm, const uint8_t key[16], const uint8_t salt[14]) {
  srtp_ref_t *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->gcm = gcm;
  memcpy(r->salt, salt, 14);
  r->enc = EVP_CIPHER_CTX_new();
  r->dec = EVP_CIPHER_CTX_new();
  const EVP_CIPHER *c = gcm ? EVP_aes_128_gcm() : EVP_aes_128_ctr();
  if (!EVP_EncryptInit_ex(r->enc, c, NULL, key, NULL) ||
      !EVP_DecryptInit_ex(r->dec, c, NULL, key, NULL)) {
    srtp_ref_free(r);
    return NULL;
  }
  /* the auth key: a fixed 20 bytes derived from the key (no KDF in a reference) */
  uint8_t k[64] = {0}, pad[64];
  for (int i = 0; i < 20; i++) k[i] = (uint8_t)(key[i % 16] ^ 0x5c ^ i);
  for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x36;
  SHA1_Init(&r->ipad);
  SHA1_Update(&r->ipad, pad, 64);
  for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x5c;
  SHA1_Init(&r->opad);
  SHA1_Update(&r->opad, pad, 64);
  return r;
}

void srtp_ref_free(srtp_ref_t *r) {
  if (!r) return;
  EVP_CIPHER_CTX_free(r->enc);
  EVP_CIPHER_CTX_free(r->dec);
  free(r);
}

static void iv_cm(const srtp_ref_t *r, const uint8_t *pkt, uint8_t iv[16]) {
  /* RFC 3711 §4.1.1: IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16), ROC 0 here. */
  memset(iv, 0, 16);
  memcpy(iv, r->salt, 14);
  for (int i = 0; i < 4; i++) iv[4 + i] ^= pkt[8 + i];
  iv[12] ^= pkt[2];
  iv[13] ^= pkt[3];
}

static void iv_gcm(const srtp_ref_t *r, const uint8_t *pkt, uint8_t iv[12]) {
  /* RFC 7714 §8.1: 00 00 || SSRC || ROC || SEQ, XOR the 12-byte salt. */
  memset(iv, 0, 12);
  memcpy(iv + 2, pkt + 8, 4);
  memcpy(iv + 10, pkt + 2, 2);
  for (int i = 0; i < 12; i++) iv[i] ^= r->salt[i];
}

static void hmac80(const srtp_ref_t *r, const uint8_t *m, size_t n, uint8_t out[20]) {
  static const uint8_t roc[4] = {0};
  SHA_CTX c = r->ipad;
  uint8_t inner[20];
  SHA1_Update(&c, m, n);
  SHA1_Update(&c, roc, 4); /* RFC 3711 §4.2: authenticated portion || ROC */
  SHA1_Final(inner, &c);
  c = r->opad;
  SHA1_Update(&c, inner, 20);
  SHA1_Final(out, &c);
}

int srtp_ref_protect(srtp_ref_t *r, uint8_t *buf, size_t *len, size_t cap, size_t hdr) {
  size_t plen = *len - hdr;
  int outl;
  if (r->gcm) {
    uint8_t iv[12];
    if (*len + 16 > cap) return -1;
    iv_gcm(r, buf, iv);
    if (!EVP_EncryptInit_ex(r->enc, NULL, NULL, NULL, iv) ||
        !EVP_EncryptUpdate(r->enc, NULL, &outl, buf, (int)hdr) ||
        !EVP_EncryptUpdate(r->enc, buf + hdr, &outl, buf + hdr, (int)plen) ||
        !EVP_EncryptFinal_ex(r->enc, buf + *len, &outl) ||
        !EVP_CIPHER_CTX_ctrl(r->enc, EVP_CTRL_GCM_GET_TAG, 16, buf + *len))
      return -1;
    *len += 16;
    return 0;
  }
  uint8_t iv[16], tag[20];
  if (*len + 10 > cap) return -1;
  iv_cm(r, buf, iv);
  if (!EVP_EncryptInit_ex(r->enc, NULL, NULL, NULL, iv) ||
      !EVP_EncryptUpdate(r->enc, buf + hdr, &outl, buf + hdr, (int)plen))
    return -1;
  hmac80(r, buf, *len, tag);
  memcpy(buf + *len, tag, 10);
  *len += 10;
  return 0;
}

int srtp_ref_unprotect(srtp_ref_t *r, uint8_t *buf, size_t *len, size_t hdr) {
  int outl;
  if (r->gcm) {
    if (*len < hdr + 16) return -1;
    size_t plen = *len - hdr - 16;
    uint8_t iv[12];
    iv_gcm(r, buf, iv);
    if (!EVP_DecryptInit_ex(r->dec, NULL, NULL, NULL, iv) ||
        !EVP_DecryptUpdate(r->dec, NULL, &outl, buf, (int)hdr) ||
        !EVP_DecryptUpdate(r->dec, buf + hdr, &outl, buf + hdr, (int)plen) ||
        !EVP_CIPHER_CTX_ctrl(r->dec, EVP_CTRL_GCM_SET_TAG, 16, buf + hdr + plen) ||
        EVP_DecryptFinal_ex(r->dec, buf + hdr + plen, &outl) <= 0)
      return -1;
    *len -= 16;
    return 0;
  }
  if (*len < hdr + 10) return -1;
  size_t n = *len - 10;
  uint8_t tag[20], iv[16];
  hmac80(r, buf, n, tag); /* authenticate before decrypting (RFC 3711 §3.3 step 5) */
  if (CRYPTO_memcmp(tag, buf + n, 10) != 0) return -1;
  iv_cm(r, buf, iv);
  if (!EVP_DecryptInit_ex(r->dec, NULL, NULL, NULL, iv) ||
      !EVP_DecryptUpdate(r->dec, buf + hdr, &outl, buf + hdr, (int)(n - hdr)))
    return -1;
  *len = n;
  return 0;
}
