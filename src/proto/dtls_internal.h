/* Private to the DTLS core: the certificate object shared by dtls_cert.c and dtls.c. */
#ifndef SFU_PROTO_DTLS_INTERNAL_H
#define SFU_PROTO_DTLS_INTERNAL_H

#include <openssl/ssl.h>

#include "sfu/dtls.h"

/* Owner: the worker's main (sfu_dtls_cert_new / sfu_dtls_cert_free). Built on the main
 * thread, then read-only: loops only call SSL_new() on the contexts, which OpenSSL 3 makes
 * thread-safe (the SSL_CTX reference count is atomic). */
struct sfu_dtls_cert {
  EVP_PKEY *key;
  X509 *x509;
  SSL_CTX *ctx[2];      /* indexed by sfu_dtls_role_t */
  char fingerprint[96]; /* "AB:CD:..." SHA-256, 32 bytes * 3 - 1 + NUL */
};

/* SSL_CTX verify callback (dtls.c): accepts any self-signed certificate, then checks the
 * leaf against the association's expected fingerprint when it is already known. */
int sfu_dtls__verify_cb(int preverify_ok, X509_STORE_CTX *store);

/* Builds the process-wide BIO_METHOD; called by sfu_dtls_cert_new on the main thread so
 * that loops only ever read it. */
int sfu_dtls__bio_method_init(void);

/* Default use_srtp list, GCM first (architecture.md: 3-5x cheaper per packet). */
#define SFU_DTLS_DEFAULT_SRTP_PROFILES "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80"

#endif
