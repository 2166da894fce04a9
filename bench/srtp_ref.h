/* Reference SRTP transforms written directly on OpenSSL 3 (EVP AES, SHA-1 HMAC with
 * precomputed pads), used by bench_recv ONLY to show what the crypto of the receive path
 * costs without libsrtp2 in between. Not a product code path: no key derivation (fixed
 * session keys), ROC fixed at 0, no replay window. Formats follow RFC 3711 §4.1.1/§4.2
 * (AES-CM + HMAC-SHA1-80) and RFC 7714 §8-§9 (AEAD_AES_128_GCM), so the work per packet
 * is the real work. Owner: the bench; one thread. */
#ifndef BENCH_SRTP_REF_H
#define BENCH_SRTP_REF_H

#include <stddef.h>
#include <stdint.h>

typedef struct srtp_ref srtp_ref_t;
srtp_ref_t *srtp_ref_new(int gcm, const uint8_t key[16], const uint8_t salt[14]);
void srtp_ref_free(srtp_ref_t *r);
int srtp_ref_protect(srtp_ref_t *r, uint8_t *buf, size_t *len, size_t cap, size_t hdr_len);
int srtp_ref_unprotect(srtp_ref_t *r, uint8_t *buf, size_t *len, size_t hdr_len);

#endif
