/* Test helper: the RFC 8122 §5 fingerprint ("AB:CD:...", upper-case hex) of a worker
 * certificate under any hash OpenSSL knows ("sha224", "sha512", "md5", ...), computed
 * independently of the code under test (straight X509_digest). Header-only. */
#ifndef SFU_TEST_FP_H
#define SFU_TEST_FP_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>

#include "proto/dtls_internal.h" /* the certificate's X509 */

/* out needs 3 * 64 bytes (sha-512: 191 characters and the NUL). Returns out. */
static inline char *test_cert_fp(const sfu_dtls_cert_t *c, const char *md_name, char *out,
                                 size_t cap) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  const EVP_MD *h = EVP_get_digestbyname(md_name);
  out[0] = '\0';
  if (!h || !X509_digest(c->x509, h, md, &len) || cap < len * 3) return out;
  for (unsigned i = 0; i < len; i++)
    snprintf(out + 3 * i, 4, i + 1 < len ? "%02X:" : "%02X", md[i]);
  return out;
}

#endif
