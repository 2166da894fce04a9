/* SRTP key derivation (RFC 3711 §4.3) on OpenSSL's AES-128-CTR. Runs once per transport
 * at key time (sfu_srtp_new), never per packet. Any thread; no state. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

#include "proto/srtp_internal.h"
#include "sfu/err.h"

int sfu_srtp_aes_cm_keystream(const uint8_t key[16], const uint8_t iv[16], uint8_t *out,
                              size_t n) {
  /* RFC 3711 §4.1.1: keystream = E(k, IV) || E(k, IV + 1) || ..., the IV being a 128-bit
   * big-endian counter: exactly AES-CTR. Encrypting zeros yields the keystream. */
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  int ok = c && n <= (1u << 20) &&
           EVP_EncryptInit_ex(c, EVP_aes_128_ctr(), NULL, key, iv) == 1;
  uint8_t zero[64] = {0};
  for (size_t off = 0; ok && off < n;) {
    int chunk = (int)(n - off < sizeof zero ? n - off : sizeof zero), outl;
    ok = EVP_EncryptUpdate(c, out + off, &outl, zero, chunk) == 1 && outl == chunk;
    off += (size_t)chunk;
  }
  EVP_CIPHER_CTX_free(c);
  return ok ? 0 : SFU_ECRYPTO;
}

int sfu_srtp_kdf(const uint8_t mkey[16], const uint8_t msalt[14], uint8_t label, uint8_t *out,
                 size_t n) {
  /* RFC 3711 §4.3.1: key_id = label || r with r = index DIV kdr = 0 (kdr = 0, the only rate
   * DTLS-SRTP uses, RFC 5764 §4.1.2 leaves it at 0); x = key_id XOR master_salt, key_id
   * (56 bits) right-aligned against the 112-bit salt, so the label lands on byte 7.
   * §4.3.3: the AES-CM PRF is the AES-CM keystream with IV = x * 2^16. */
  uint8_t iv[16] = {0};
  memcpy(iv, msalt, 14);
  iv[7] ^= label;
  return sfu_srtp_aes_cm_keystream(mkey, iv, out, n);
}

int sfu_srtp_derive(int gcm, const uint8_t mkey[16], const uint8_t *msalt, size_t msalt_len,
                    sfu_srtp_dir_keys_t *out) {
  /* RFC 7714 §12: AEAD_AES_128_GCM derives with the same AES-CM PRF; its 96-bit master salt
   * is used as the first 12 bytes of the 14-byte PRF salt, zero-padded (that is what
   * libsrtp, hence Chromium, does: the known-answer test pins it). */
  uint8_t salt[14] = {0};
  if (msalt_len != (gcm ? 12u : 14u)) return SFU_EINVAL;
  memcpy(salt, msalt, msalt_len);
  memset(out, 0, sizeof *out);
  /* RFC 3711 §4.3.2 labels: 0x00 SRTP encryption, 0x01 SRTP auth, 0x02 SRTP salt,
   * 0x03 SRTCP encryption, 0x04 SRTCP auth, 0x05 SRTCP salt. Sizes: n_e = 128 bits,
   * n_a = 160 bits (HMAC-SHA1, §4.2.1 / §8.2), n_s = 112 bits (96 for GCM, RFC 7714 §12). */
  int rc = sfu_srtp_kdf(mkey, salt, 0x00, out->rtp.key, 16);
  if (!rc) rc = sfu_srtp_kdf(mkey, salt, 0x02, out->rtp.salt, msalt_len);
  if (!rc) rc = sfu_srtp_kdf(mkey, salt, 0x03, out->rtcp.key, 16);
  if (!rc) rc = sfu_srtp_kdf(mkey, salt, 0x05, out->rtcp.salt, msalt_len);
  if (!rc && !gcm) rc = sfu_srtp_kdf(mkey, salt, 0x01, out->rtp.auth, 20);
  if (!rc && !gcm) rc = sfu_srtp_kdf(mkey, salt, 0x04, out->rtcp.auth, 20);
  OPENSSL_cleanse(salt, sizeof salt);
  if (rc) OPENSSL_cleanse(out, sizeof *out);
  return rc;
}
