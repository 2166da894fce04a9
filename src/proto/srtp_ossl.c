/* SRTP/SRTCP transforms on OpenSSL 3 (the default backend of sfu/srtp.h):
 * AES_CM_128_HMAC_SHA1_80 (RFC 3711 §4.1.1, §4.2) and AEAD_AES_128_GCM (RFC 7714 §8, §9).
 *
 * Cost model. Everything that allocates happens at key time: the EVP cipher contexts are
 * keyed once per direction and stream kind (sfu_srtp_ossl_new) and only re-IV'd per packet
 * (AES-CM: EVP_CipherInit_ex with a NULL cipher and NULL key, no key schedule, no
 * allocation, or for payloads up to CM_ECB_MAX no init at all: the keystream from a second,
 * ECB context, see cm_crypt; GCM: no init at all, one EVP_CIPHER_CTX_set_params, see
 * gcm_crypt);
 * HMAC-SHA1 restarts from SHA-1 states precomputed after the key pads (RFC 2104), copied
 * by value per packet. EVP_MAC_init / EVP_MD_CTX_copy_ex would go through the provider's
 * dupctx, i.e. a malloc per packet (3.0 has no copyctx; EVP_MAC_init with a NULL key
 * re-keys by exactly that copy), hence the low-level SHA1_* calls (deprecated in 3.0,
 * still exported, and SHA-NI accelerated), padded by hand (sha1_finish) rather than
 * through SHA1_Final. Per-packet costs by operation: bench/bench_srtp_ops.c.
 * Transforms only: the per-SSRC state (index, replay, repeats) is srtp.c's and
 * srtp_stream.c's, shared with the libsrtp2 backend.
 *
 * Owner: the sfu_srtp_t that holds it; its loop thread only (EVP contexts are not
 * shareable between threads). */
#define OPENSSL_SUPPRESS_DEPRECATED 1 /* SHA1_Init/Update, SHA_CTX: see above */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "proto/srtp_internal.h"
#include "sfu/bytes.h"
#include "sfu/err.h"

#define GCM_TAG 16 /* RFC 7714 §14.2: AEAD_AES_128_GCM, 16-octet tag */
#define HMAC_TAG 10 /* RFC 3711 §5.2 / RFC 5764 §4.1.2: HMAC_SHA1_80 */

/* Keyed transform of one stream kind (SRTP or SRTCP) in one direction. */
typedef struct {
  EVP_CIPHER_CTX *c;
  EVP_CIPHER_CTX *ecb; /* AES-CM only: the same key in ECB, for small packets (cm_crypt) */
  uint8_t salt[14];
  SHA_CTX ipad, opad; /* AES-CM profile: SHA-1 after (k_a ^ ipad), (k_a ^ opad) */
} xform_t;

/* One direction: its two transforms. */
typedef struct {
  xform_t rtp, rtcp;
} dir_t;

struct sfu_srtp_ossl {
  int gcm;
  dir_t in, out;
};

static void xform_free(xform_t *x) {
  EVP_CIPHER_CTX_free(x->c);
  EVP_CIPHER_CTX_free(x->ecb);
  OPENSSL_cleanse(x, sizeof *x);
}

static int xform_init(xform_t *x, int gcm, int enc, const sfu_srtp_skeys_t *k) {
  memset(x, 0, sizeof *x);
  memcpy(x->salt, k->salt, gcm ? 12 : 14);
  x->c = EVP_CIPHER_CTX_new();
  /* AES-CM is a stream cipher: the same (encrypting) CTR context decrypts. GCM needs the
   * direction, for the tag. The key schedule is computed here, once. */
  const EVP_CIPHER *ciph = gcm ? EVP_aes_128_gcm() : EVP_aes_128_ctr();
  if (!x->c || EVP_CipherInit_ex(x->c, ciph, NULL, k->key, NULL, gcm ? enc : 1) != 1)
    return SFU_ECRYPTO;
  if (!gcm) {
    x->ecb = EVP_CIPHER_CTX_new();
    if (!x->ecb || EVP_CipherInit_ex(x->ecb, EVP_aes_128_ecb(), NULL, k->key, NULL, 1) != 1 ||
        EVP_CIPHER_CTX_set_padding(x->ecb, 0) != 1)
      return SFU_ECRYPTO;
    /* RFC 2104 with a 20-byte key (< the 64-byte block): K padded with zeros. */
    uint8_t pad[64];
    memset(pad, 0x36, sizeof pad);
    for (int i = 0; i < 20; i++) pad[i] ^= k->auth[i];
    SHA1_Init(&x->ipad);
    SHA1_Update(&x->ipad, pad, 64);
    memset(pad, 0x5c, sizeof pad);
    for (int i = 0; i < 20; i++) pad[i] ^= k->auth[i];
    SHA1_Init(&x->opad);
    SHA1_Update(&x->opad, pad, 64);
    OPENSSL_cleanse(pad, sizeof pad);
  }
  return 0;
}

static int dir_init(dir_t *d, int gcm, int enc, const sfu_srtp_dir_keys_t *k) {
  if (xform_init(&d->rtp, gcm, enc, &k->rtp) || xform_init(&d->rtcp, gcm, enc, &k->rtcp))
    return SFU_ECRYPTO;
  return 0;
}

static void dir_free(dir_t *d) {
  xform_free(&d->rtp);
  xform_free(&d->rtcp);
}

sfu_srtp_ossl_t *sfu_srtp_ossl_new(int gcm, const sfu_srtp_dir_keys_t *in,
                                   const sfu_srtp_dir_keys_t *out) {
  sfu_srtp_ossl_t *o = calloc(1, sizeof *o);
  if (!o) return NULL;
  o->gcm = gcm;
  if (dir_init(&o->in, gcm, 0, in) || dir_init(&o->out, gcm, 1, out)) {
    sfu_srtp_ossl_free(o);
    return NULL;
  }
  return o;
}

void sfu_srtp_ossl_free(sfu_srtp_ossl_t *o) {
  if (!o) return;
  dir_free(&o->in);
  dir_free(&o->out);
  free(o);
}

/* ---- per-packet primitives ---- */

/* SHA-1 of what c has absorbed || tail (ntail <= 20 bytes), into out. The FIPS 180-4
 * §5.1.1 padding (0x80, zeros, the 64-bit message length in bits) is appended here and
 * absorbed with the tail in one SHA1_Update, the digest read from the state words
 * (SHA_CTX is a public struct; Nl/Nh count bits). Instead of SHA1_Final because that
 * OPENSSL_cleanse()s its block buffer (~85 instructions, twice a packet: over a tenth of
 * an RTCP packet's HMAC when SHA-NI does the blocks), and one update instead of two for
 * the ROC (below). The buffer holds the tail and public padding; what stays on the
 * stack is what SHA1_Final left before: the inner digest (hmac_sha1's `inner`). */
static void sha1_finish(SHA_CTX *c, const uint8_t *tail, size_t ntail, uint8_t out[20]) {
  uint8_t b[20 + 1 + 63 + 8];
  uint64_t bits = ((uint64_t)c->Nh << 32 | c->Nl) + 8 * (uint64_t)ntail;
  size_t used = (size_t)(bits / 8 % 64); /* bytes in the last block, tail included */
  size_t zeros = used < 56 ? 55 - used : 119 - used;
  if (ntail) memcpy(b, tail, ntail);
  b[ntail] = 0x80;
  memset(b + ntail + 1, 0, zeros);
  sfu_wr64(b + ntail + 1 + zeros, bits);
  SHA1_Update(c, b, ntail + 1 + zeros + 8);
  sfu_wr32(out, c->h0);
  sfu_wr32(out + 4, c->h1);
  sfu_wr32(out + 8, c->h2);
  sfu_wr32(out + 12, c->h3);
  sfu_wr32(out + 16, c->h4);
}

/* RFC 3711 §4.2: HMAC-SHA1(k_a, m1 || m2), truncated by the caller; m2 (the ROC) <= 20
 * bytes. RFC 2104: H(K ^ opad || H(K ^ ipad || m)), both key blocks precomputed. */
static void hmac_sha1(const xform_t *x, const uint8_t *m1, size_t n1, const uint8_t *m2,
                      size_t n2, uint8_t out[20]) {
  SHA_CTX c = x->ipad;
  uint8_t inner[20];
  SHA1_Update(&c, m1, n1);
  sha1_finish(&c, m2, n2, inner);
  c = x->opad;
  sha1_finish(&c, inner, 20, out);
}

/* RFC 3711 §4.1.1: IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16), 128 bits; i is the
 * 48-bit SRTP packet index, or the 31-bit SRTCP index (§4.1.1 applies to SRTCP with it). */
static void cm_iv(const xform_t *x, uint32_t ssrc, uint64_t i, uint8_t iv[16]) {
  /* Word-wise XORs, not a byte loop: see gcm_iv. */
  memcpy(iv, x->salt, 14);
  iv[14] = iv[15] = 0;
  sfu_wr32(iv + 4, sfu_rd32(x->salt + 4) ^ ssrc);
  sfu_wr16(iv + 8, (uint16_t)(sfu_rd16(x->salt + 8) ^ (uint16_t)(i >> 32)));
  sfu_wr32(iv + 10, sfu_rd32(x->salt + 10) ^ (uint32_t)i);
}

/* Payloads up to this size are encrypted through the ECB context (see cm_crypt). */
#define CM_ECB_MAX 256

static int cm_crypt(const xform_t *x, const uint8_t iv[16], uint8_t *p, size_t n) {
  int outl;
  if (n <= CM_ECB_MAX) {
    /* Small packets (RTCP, transport-cc feedback above all, audio): the keystream blocks
     * IV + 0, IV + 1, ... (§4.1.1: the block counter is the IV's low 16 bits, zero in
     * cm_iv) encrypted with one update of the ECB context, then XORed in. Re-IVing the
     * CTR context costs an EVP_CipherInit_ex through the provider (~770 instructions,
     * more than the AES of a 60-byte packet); larger packets amortise it and keep the
     * CTR context's wide XOR. */
    uint8_t ks[CM_ECB_MAX];
    size_t nb = (n + 15) / 16;
    for (size_t b = 0; b < nb; b++) { /* whole-block copies, then the counter */
      memcpy(ks + 16 * b, iv, 16);
      ks[16 * b + 14] = (uint8_t)(b >> 8);
      ks[16 * b + 15] = (uint8_t)b;
    }
    if (nb && EVP_CipherUpdate(x->ecb, ks, &outl, ks, (int)(16 * nb)) != 1) return SFU_ECRYPTO;
    /* ks is not cleansed: a keystream is worth what the plaintext beside it is (their
     * XOR is on the wire), and the CTR context keeps its last block the same way. The XOR
     * goes 8 bytes at a time (a byte loop: ~5 instructions a byte, most of cm_crypt's own
     * cost for a feedback packet). */
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      uint64_t a, k;
      memcpy(&a, p + i, 8);
      memcpy(&k, ks + i, 8);
      a ^= k;
      memcpy(p + i, &a, 8);
    }
    for (; i < n; i++) p[i] ^= ks[i];
    return 0;
  }
  if (EVP_CipherInit_ex(x->c, NULL, NULL, NULL, iv, -1) != 1) return SFU_ECRYPTO;
  if (n && EVP_CipherUpdate(x->c, p, &outl, p, (int)n) != 1) return SFU_ECRYPTO;
  return 0;
}

/* RFC 7714 §8.1 (SRTP) / §9.1 (SRTCP): IV = (0x0000 || SSRC || hi32 || lo16) XOR salt with
 * hi32||lo16 = ROC||SEQ (SRTP) or 0x0000 || 0 || 31-bit SRTCP index (SRTCP). */
static void gcm_iv(const xform_t *x, uint32_t ssrc, uint32_t hi32, uint16_t lo16,
                   uint8_t iv[12]) {
  /* Word-wise XORs: the byte loop this replaces cost ~107 instructions a packet
   * (callgrind, bench_srtp_ops), these a few. */
  iv[0] = x->salt[0], iv[1] = x->salt[1]; /* XOR 0x0000 */
  sfu_wr32(iv + 2, sfu_rd32(x->salt + 2) ^ ssrc);
  sfu_wr32(iv + 6, sfu_rd32(x->salt + 6) ^ hi32);
  sfu_wr16(iv + 10, (uint16_t)(sfu_rd16(x->salt + 10) ^ lo16));
}

/* AEAD: aad authenticated, p[0..n) encrypted or decrypted in place, tag written (enc) or
 * checked (dec; OpenSSL compares it in constant time).
 *
 * No EVP_CipherInit_ex per packet: in OpenSSL 3.0 every init forgets the context's cached
 * IV length and asks the provider for it again (EVP_CIPHER_CTX_get_iv_length: a
 * get_ctx_params, i.e. a dozen OSSL_PARAM_locate/strcmp), and the tag ctrls build their
 * OSSL_PARAM array and go through the same lookups. Instead one EVP_CIPHER_CTX_set_params
 * per packet, with an array built here: the whole 12-byte IV (the GCM provider's
 * "tlsivfixed" with length -1, the "restore the whole IV" case of EVP_CTRL_GCM_SET_IV_FIXED
 * that the 3.0 provider keeps from the legacy cipher: the IV is buffered exactly as an init
 * with it would, and used by the next update; the tests' libsrtp2 oracle checks it) and,
 * to decrypt, the expected tag (kept in the context until the final call). The IV length
 * stays the default 12 set at key time. Encrypting, the tag is read with one
 * EVP_CIPHER_CTX_get_params. That is the floor through EVP: the 3.0 GCM provider looks up
 * each of its 5 settable (8 gettable) keys in the array, whatever the array holds: ~50
 * instructions a key (bench/bench_srtp_ops.c). (EVP_Cipher instead of the update/final
 * calls saves nothing: measured, its provider "cipher" path costs the same.) */
static int gcm_crypt(const xform_t *x, int enc, const uint8_t iv[12], const uint8_t *aad,
                     size_t a, uint8_t *p, size_t n, uint8_t *tag) {
  int outl;
  OSSL_PARAM set[3] = {
      {OSSL_CIPHER_PARAM_AEAD_TAG, OSSL_PARAM_OCTET_STRING, tag, GCM_TAG,
       OSSL_PARAM_UNMODIFIED},
      {OSSL_CIPHER_PARAM_AEAD_TLS1_IV_FIXED, OSSL_PARAM_OCTET_STRING, (void *)iv, (size_t)-1,
       OSSL_PARAM_UNMODIFIED},
      OSSL_PARAM_END};
  if (EVP_CIPHER_CTX_set_params(x->c, enc ? set + 1 : set) != 1 ||
      EVP_CipherUpdate(x->c, NULL, &outl, aad, (int)a) != 1 ||
      (n && EVP_CipherUpdate(x->c, p, &outl, p, (int)n) != 1))
    return SFU_ECRYPTO;
  if (enc) {
    OSSL_PARAM get[2] = {
        {OSSL_CIPHER_PARAM_AEAD_TAG, OSSL_PARAM_OCTET_STRING, tag, GCM_TAG, OSSL_PARAM_UNMODIFIED},
        OSSL_PARAM_END};
    if (EVP_CipherFinal_ex(x->c, p + n, &outl) != 1 || EVP_CIPHER_CTX_get_params(x->c, get) != 1)
      return SFU_ECRYPTO;
    return 0;
  }
  return EVP_CipherFinal_ex(x->c, p + n, &outl) == 1 ? 0 : SFU_EAUTH;
}

/* ---- SRTP (RFC 3711 §3.3) ---- */

int sfu_srtp_ossl_unprotect_rtp(sfu_srtp_ossl_t *o, uint8_t *buf, size_t *len, size_t hdr,
                                uint64_t idx) {
  dir_t *d = &o->in;
  uint32_t ssrc = sfu_rd32(buf + 8);
  uint32_t roc = (uint32_t)(idx >> 16);
  int rc;
  size_t n;
  if (o->gcm) {
    /* RFC 7714 §8.2: AAD = the RTP header (with CSRCs and extension), plaintext = payload,
     * tag = the last 16 bytes. */
    uint8_t iv[12];
    n = *len - GCM_TAG;
    gcm_iv(&d->rtp, ssrc, roc, (uint16_t)idx, iv);
    rc = gcm_crypt(&d->rtp, 0, iv, buf, hdr, buf + hdr, n - hdr, buf + n);
  } else {
    /* §3.3 step 5 and §4.2: tag = HMAC(k_a, authenticated portion || ROC), checked in
     * constant time before anything is decrypted. */
    uint8_t tag[20], r[4], iv[16];
    n = *len - HMAC_TAG;
    sfu_wr32(r, roc);
    hmac_sha1(&d->rtp, buf, n, r, 4, tag);
    if (CRYPTO_memcmp(tag, buf + n, HMAC_TAG) != 0) return SFU_EAUTH;
    cm_iv(&d->rtp, ssrc, idx, iv);
    rc = cm_crypt(&d->rtp, iv, buf + hdr, n - hdr);
  }
  if (rc) return rc;
  *len = n;
  return 0;
}

int sfu_srtp_ossl_protect_rtp(sfu_srtp_ossl_t *o, uint8_t *buf, size_t *len, size_t hdr,
                              uint64_t idx) {
  dir_t *d = &o->out;
  uint32_t ssrc = sfu_rd32(buf + 8);
  uint32_t roc = (uint32_t)(idx >> 16);
  size_t n = *len;
  if (o->gcm) {
    uint8_t iv[12];
    gcm_iv(&d->rtp, ssrc, roc, (uint16_t)idx, iv);
    if (gcm_crypt(&d->rtp, 1, iv, buf, hdr, buf + hdr, n - hdr, buf + n))
      return SFU_ECRYPTO;
    *len = n + GCM_TAG;
    return 0;
  }
  uint8_t iv[16], tag[20], r[4];
  cm_iv(&d->rtp, ssrc, idx, iv);
  if (cm_crypt(&d->rtp, iv, buf + hdr, n - hdr)) return SFU_ECRYPTO;
  sfu_wr32(r, roc);
  hmac_sha1(&d->rtp, buf, n, r, 4, tag); /* §4.2: over the encrypted packet || ROC */
  memcpy(buf + n, tag, HMAC_TAG);
  *len = n + HMAC_TAG;
  return 0;
}

/* ---- SRTCP (RFC 3711 §3.4; RFC 7714 §9) ---- */

int sfu_srtp_ossl_unprotect_rtcp(sfu_srtp_ossl_t *o, uint8_t *buf, size_t *len) {
  dir_t *d = &o->in;
  uint32_t ssrc = sfu_rd32(buf + 4);
  /* §3.4: the trailer is E flag (1 bit) || SRTCP index (31 bits) || auth tag (CM); RFC 7714
   * §9 puts the 16-byte tag before the E/index word instead. */
  size_t tag = o->gcm ? GCM_TAG : HMAC_TAG;
  uint8_t *ew = o->gcm ? buf + *len - 4 : buf + *len - tag - 4;
  uint32_t w = sfu_rd32(ew), idx = w & 0x7fffffffu;
  /* E = 0 (authenticated only, §3.4 / RFC 7714 §9.3) is refused: see srtp.c. */
  if (!(w >> 31)) return SFU_EUNSUPP;
  int rc;
  size_t n; /* length of the plain RTCP packet */
  if (o->gcm) {
    /* §9.1/§9.2: AAD = first 8 bytes || E/index word, the rest encrypted. */
    uint8_t iv[12], aad[12];
    n = *len - 4 - GCM_TAG;
    gcm_iv(&d->rtcp, ssrc, idx >> 16, (uint16_t)idx, iv);
    /* The AAD in one piece: each EVP_CipherUpdate is a provider round trip (~450
     * instructions, a fifth of a feedback's unprotect); GHASH sees the same bytes. */
    memcpy(aad, buf, 8);
    memcpy(aad + 8, ew, 4);
    rc = gcm_crypt(&d->rtcp, 0, iv, aad, 12, buf + 8, n - 8, buf + n);
  } else {
    /* §3.4: the authenticated portion includes the E/index word; no ROC for SRTCP. */
    uint8_t t[20], iv[16];
    n = *len - 4 - HMAC_TAG;
    hmac_sha1(&d->rtcp, buf, n + 4, NULL, 0, t);
    if (CRYPTO_memcmp(t, buf + n + 4, HMAC_TAG) != 0) return SFU_EAUTH;
    cm_iv(&d->rtcp, ssrc, idx, iv);
    rc = cm_crypt(&d->rtcp, iv, buf + 8, n - 8);
  }
  if (rc) return rc;
  *len = n;
  return 0;
}

int sfu_srtp_ossl_protect_rtcp(sfu_srtp_ossl_t *o, uint8_t *buf, size_t *len, uint32_t idx) {
  dir_t *d = &o->out;
  uint32_t ssrc = sfu_rd32(buf + 4);
  uint32_t ew = 0x80000000u | idx; /* E = 1: always encrypted */
  size_t n = *len;
  if (o->gcm) {
    uint8_t iv[12], aad[12]; /* first 8 bytes || E/index word, in one piece (see above) */
    memcpy(aad, buf, 8);
    sfu_wr32(aad + 8, ew);
    gcm_iv(&d->rtcp, ssrc, idx >> 16, (uint16_t)idx, iv);
    if (gcm_crypt(&d->rtcp, 1, iv, aad, 12, buf + 8, n - 8, buf + n)) return SFU_ECRYPTO;
    memcpy(buf + n + GCM_TAG, aad + 8, 4);
    *len = n + GCM_TAG + 4;
    return 0;
  }
  uint8_t iv[16], t[20];
  cm_iv(&d->rtcp, ssrc, idx, iv);
  if (cm_crypt(&d->rtcp, iv, buf + 8, n - 8)) return SFU_ECRYPTO;
  sfu_wr32(buf + n, ew);
  hmac_sha1(&d->rtcp, buf, n + 4, NULL, 0, t);
  memcpy(buf + n + 4, t, HMAC_TAG);
  *len = n + 4 + HMAC_TAG;
  return 0;
}
