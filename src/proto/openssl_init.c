/* Process-global OpenSSL initialisation; thread rules in sfu/openssl_init.h. */
#include "sfu/openssl_init.h"

#include <openssl/crypto.h>
#include <openssl/ssl.h>

void sfu_openssl_init(void) {
  /* Loads error strings too so failures in logs say what went wrong. OpenSSL 3 cleans up
   * at exit on its own (atexit), so there is no matching shutdown call. */
  OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS | OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL);
}
