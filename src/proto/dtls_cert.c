/* The worker's DTLS identity: an ECDSA P-256 self-signed certificate made at start, its
 * SHA-256 fingerprint for SDP (RFC 8122 §5), and the per-role SSL_CTX built on it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "proto/dtls_internal.h"
#include "sfu/err.h"
#include "sfu/ids.h"
#include "sfu/log.h"

/* ECDSA certificates only allow ECDHE-ECDSA suites, and only AEAD ones are offered:
 * every WebRTC stack has AES-GCM, and with the CBC suites OpenSSL 3.0 DTLS treats a record
 * with a bad MAC (encrypt-then-MAC) as fatal, so any spoofed datagram on the 5-tuple would
 * end the association (RFC 6347 §4.1.2.7 says such records are to be discarded). */
#define CIPHERS                                                  \
  "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:" \
  "ECDHE-ECDSA-CHACHA20-POLY1305"

static int random_serial(X509 *x) {
  uint8_t raw[16];
  if (sfu_random_bytes(raw, sizeof raw) != 0) return SFU_ECRYPTO;
  raw[0] &= 0x7f; /* RFC 5280 §4.1.2.2: positive, at most 20 octets */
  raw[0] |= 0x01; /* and never zero-led, so the DER length is stable */
  BIGNUM *bn = BN_bin2bn(raw, sizeof raw, NULL);
  int rc = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ? 0 : SFU_ECRYPTO;
  BN_free(bn);
  return rc;
}

/* X509 v3, random serial, subject = issuer = CN "sfu-worker", validity from one day back
 * (peers with a skewed clock) to 365 days ahead. Peers authenticate the certificate by
 * the SDP fingerprint (RFC 8122 §5, RFC 8827 §6.5), not by a chain or its dates, but a
 * stack that did check notAfter must never see it expire while the worker runs: one
 * certificate is made at start and kept for the process's life, which can exceed 30
 * days. A restart makes a new one (new key, new fingerprint). */
static X509 *make_cert(EVP_PKEY *key) {
  X509 *x = X509_new();
  if (!x) return NULL;
  X509_NAME *name = X509_NAME_new();
  int ok = name && X509_set_version(x, 2) && random_serial(x) == 0 &&
           X509_gmtime_adj(X509_getm_notBefore(x), -24L * 3600) &&
           X509_gmtime_adj(X509_getm_notAfter(x), SFU_DTLS_CERT_DAYS * 24L * 3600) &&
           X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"sfu-worker",
                                      -1, -1, 0) &&
           X509_set_subject_name(x, name) && X509_set_issuer_name(x, name) &&
           X509_set_pubkey(x, key) && X509_sign(x, key, EVP_sha256()) > 0;
  X509_NAME_free(name);
  if (!ok) {
    X509_free(x);
    return NULL;
  }
  return x;
}

static void hex_colon(const uint8_t *md, unsigned n, char *out) {
  static const char hex[] = "0123456789ABCDEF";
  for (unsigned i = 0; i < n; i++) {
    out[i * 3] = hex[md[i] >> 4];
    out[i * 3 + 1] = hex[md[i] & 15];
    out[i * 3 + 2] = i + 1 < n ? ':' : '\0';
  }
}

static SSL_CTX *make_ctx(sfu_dtls_cert_t *c, sfu_dtls_role_t role) {
  SSL_CTX *ctx = SSL_CTX_new(DTLS_method());
  if (!ctx) return NULL;
  /* DTLS 1.2 only: DTLS 1.0 lacks AEAD suites and RFC 8827 §6.5 requires 1.2. OpenSSL 3.0
   * has no DTLS 1.3, so Chromium's 1.3 offer falls back to 1.2 (interop.md). */
  int ok = SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION) &&
           SSL_CTX_set_max_proto_version(ctx, DTLS1_2_VERSION) &&
           SSL_CTX_use_certificate(ctx, c->x509) && SSL_CTX_use_PrivateKey(ctx, c->key) &&
           SSL_CTX_check_private_key(ctx) && SSL_CTX_set_cipher_list(ctx, CIPHERS) &&
           SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") &&
           /* SSL_CTX_set_tlsext_use_srtp returns 0 on success */
           SSL_CTX_set_tlsext_use_srtp(ctx, SFU_DTLS_DEFAULT_SRTP_PROFILES) == 0;
  if (!ok) {
    SSL_CTX_free(ctx);
    return NULL;
  }
  /* RFC 8827 §6.5: both sides present certificates; the server asks for the client's. */
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, sfu_dtls__verify_cb);
  /* No resumption across transports (each has fresh keys), no renegotiation (RFC 7983
   * transports never need it; it is an attack surface), and SSL_OP_NO_QUERY_MTU because the
   * MTU is set explicitly on each SSL (the BIO has no socket to ask). */
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_QUERY_MTU | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_read_ahead(ctx, 1);
  (void)role;
  return ctx;
}

int sfu_dtls_cert_new(sfu_dtls_cert_t **out) {
  *out = NULL;
  if (sfu_dtls__bio_method_init() != 0) return SFU_ENOMEM;
  sfu_dtls_cert_t *c = calloc(1, sizeof *c);
  if (!c) return SFU_ENOMEM;
  c->key = EVP_EC_gen("P-256");
  if (c->key) c->x509 = make_cert(c->key);
  uint8_t md[EVP_MAX_MD_SIZE];
  unsigned md_len = 0;
  if (!c->x509 || !X509_digest(c->x509, EVP_sha256(), md, &md_len) || md_len != 32) goto fail;
  hex_colon(md, md_len, c->fingerprint);
  c->ctx[SFU_DTLS_ROLE_SERVER] = make_ctx(c, SFU_DTLS_ROLE_SERVER);
  c->ctx[SFU_DTLS_ROLE_CLIENT] = make_ctx(c, SFU_DTLS_ROLE_CLIENT);
  if (!c->ctx[0] || !c->ctx[1]) goto fail;
  *out = c;
  return 0;
fail:
  SFU_ERROR("dtls", "certificate setup failed: %s", ERR_reason_error_string(ERR_peek_last_error()));
  ERR_clear_error();
  sfu_dtls_cert_free(c);
  return SFU_ECRYPTO;
}

void sfu_dtls_cert_free(sfu_dtls_cert_t *c) {
  if (!c) return;
  SSL_CTX_free(c->ctx[0]);
  SSL_CTX_free(c->ctx[1]);
  X509_free(c->x509);
  EVP_PKEY_free(c->key);
  free(c);
}

const char *sfu_dtls_cert_fingerprint(const sfu_dtls_cert_t *c) { return c->fingerprint; }
