/* Process-global OpenSSL initialisation (libssl + libcrypto).
 *
 * Thread rules: call sfu_openssl_init() once from the main thread before any media loop
 * starts; calling it again is harmless (OPENSSL_init_ssl is idempotent). After that,
 * every loop may create SSL objects from the shared SSL_CTXs (sfu_dtls_cert_t) and use
 * them on its own thread: OpenSSL 3 is thread-safe for distinct SSL objects and for
 * reference counting on a shared SSL_CTX. The error queue is per thread. */
#ifndef SFU_OPENSSL_INIT_H
#define SFU_OPENSSL_INIT_H

void sfu_openssl_init(void);

#endif
