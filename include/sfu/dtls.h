/* DTLS 1.2 (RFC 6347) for DTLS-SRTP (RFC 5764), as a sans-IO core over OpenSSL 3.0.
 *
 * The core never touches a socket or the clock: datagrams come in through
 * sfu_dtls_handle_input(), records go out through cbs->send, and retransmission follows
 * the caller's virtual time (sfu_dtls_next_deadline / sfu_dtls_handle_timeout). OpenSSL is
 * driven through a custom BIO, so each cbs->send call is exactly one datagram (several
 * records packed up to the MTU, RFC 6347 §4.1.1).
 *
 * Peer authentication is WebRTC's (RFC 8122 / RFC 8827 §6.5): any self-signed certificate
 * is accepted at the TLS level, and the certificate must match the fingerprint set from the
 * remote SDP (sfu/fingerprint.h): hashed with the strongest hash function of the set, it
 * must equal one fingerprint of that hash (RFC 8122 §5). When the set is known before the
 * peer's Certificate arrives (the normal case), a mismatch aborts the handshake with a
 * bad_certificate alert; when it is set later, it is checked then. Either way on_connected
 * fires only after a match, and a mismatch gives on_closed(SFU_EAUTH) with no keys
 * exported.
 *
 * API CHANGE vs /tmp/proto-apis.md: additions only — sfu_dtls_new_ex (SRTP profile list,
 * MTU), sfu_dtls_stats, sfu_dtls_srtp_profile, SFU_ETIMEDOUT, fingerprint sets
 * (sfu_dtls_set_remote_fingerprints, sfu_dtls_peer_matches); the SRTP key
 * types live in sfu/srtp_keys.h (included here) and sfu_openssl_init in
 * sfu/openssl_init.h (included here).
 *
 * Threads: a sfu_dtls_cert_t is built once on the main thread and then shared read-only by
 * every loop. A sfu_dtls_t belongs to one loop thread and is touched only by it. */
#ifndef SFU_DTLS_H
#define SFU_DTLS_H

#include <stddef.h>
#include <stdint.h>

#include "sfu/fingerprint.h"
#include "sfu/openssl_init.h"
#include "sfu/srtp_keys.h"

/* ---- certificate (one per process) ---- */

/* The worker's identity: an ECDSA P-256 self-signed X.509 v3 certificate with a random
 * serial, valid from one day ago for 30 days, plus the SSL_CTX of each role built on it.
 * Owner: the worker's main; freed after every sfu_dtls_t using it is freed. */
typedef struct sfu_dtls_cert sfu_dtls_cert_t;

/* Days the certificate stays valid after it is made (notBefore is one day back). */
#define SFU_DTLS_CERT_DAYS 365

/* Generates key and certificate (reads the wall clock for the validity window and needs
 * sfu_openssl_init() first). Returns 0, SFU_ENOMEM or SFU_ECRYPTO. */
int sfu_dtls_cert_new(sfu_dtls_cert_t **out);
void sfu_dtls_cert_free(sfu_dtls_cert_t *c);
/* The SDP a=fingerprint value for "sha-256": "AB:CD:..." (95 chars, upper-case hex). */
const char *sfu_dtls_cert_fingerprint(const sfu_dtls_cert_t *c);

/* ---- one DTLS association (one per transport) ---- */

typedef enum { SFU_DTLS_ROLE_SERVER, SFU_DTLS_ROLE_CLIENT } sfu_dtls_role_t;

/* Outputs. Called synchronously from inside sfu_dtls_* calls, on the owning thread.
 * A callback may call sfu_dtls_send, sfu_dtls_close and sfu_dtls_free (freeing is then
 * deferred until the outermost sfu_dtls_* call returns). */
typedef struct {
  void (*send)(void *user, const uint8_t *buf, size_t len);      /* one datagram to the peer */
  void (*on_connected)(void *user, const sfu_srtp_keys_t *keys); /* handshake + fingerprint ok */
  void (*on_app_data)(void *user, const uint8_t *buf, size_t len);
  /* The association ended without a local sfu_dtls_close: 0 = peer's close_notify;
   * SFU_EAUTH = fingerprint mismatch (ours or the peer's bad_certificate alert);
   * SFU_ETIMEDOUT = handshake retransmissions exhausted; other negative = failure. */
  void (*on_closed)(void *user, int reason);
} sfu_dtls_cbs_t;

/* Counters of one association (read with sfu_dtls_stats). */
typedef struct {
  uint64_t datagrams_in, datagrams_out;
  uint64_t bytes_in, bytes_out;
  uint64_t records_in, records_out; /* DTLS records seen in those datagrams */
  uint64_t app_in, app_out;         /* application-data messages delivered / sent */
  uint32_t retransmits;             /* flights resent because a timer expired */
  uint32_t bad_input;               /* datagrams that were not well-formed DTLS records */
  int fail_reason;                  /* reason given to on_closed, 0 if none */
} sfu_dtls_stats_t;

typedef struct sfu_dtls sfu_dtls_t;

/* Creation options; zero / NULL fields take the defaults. */
typedef struct {
  /* OpenSSL use_srtp list, in preference order. Default
   * "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80" (GCM first: cheaper per packet). */
  const char *srtp_profiles;
  /* Largest datagram sent; default 1200 so records fit UDP over any path (IPv6 minimum
   * MTU 1280 less headers); at least 256. */
  unsigned mtu;
} sfu_dtls_opts_t;

/* A new association; the client role sends its ClientHello at once (through cbs->send).
 * `cert` must outlive it. Returns NULL on allocation or OpenSSL failure. */
sfu_dtls_t *sfu_dtls_new(const sfu_dtls_cert_t *cert, sfu_dtls_role_t role,
                         const sfu_dtls_cbs_t *cbs, void *user, uint64_t now_us);
sfu_dtls_t *sfu_dtls_new_ex(const sfu_dtls_cert_t *cert, sfu_dtls_role_t role,
                            const sfu_dtls_opts_t *opts, const sfu_dtls_cbs_t *cbs, void *user,
                            uint64_t now_us);
/* The remote fingerprint set from SDP (RFC 8122 §5; sha-1, sha-224, sha-256, sha-384,
 * sha-512). SFU_EINVAL for an empty set or a digest of the wrong length, SFU_EUNSUPP for
 * md5/md2 (RFC 8122 §5 forbids verifying with them); the previous set stays then. Set it
 * right after sfu_dtls_new so the peer's certificate is checked during the handshake (a
 * mismatch then sends bad_certificate). If the handshake already finished, verification
 * happens now (on_connected or on_closed), and application data received before that was
 * dropped. Once connected, a new set is only stored. */
int sfu_dtls_set_remote_fingerprints(sfu_dtls_t *d, const sfu_fingerprint_set_t *set);
/* The same for one fingerprint: alg "sha-256" (any case), hex "AB:CD:.." (any case).
 * SFU_EUNSUPP for an unknown or refused hash, SFU_EINVAL for a malformed value. */
int sfu_dtls_set_remote_fingerprint(sfu_dtls_t *d, const char *alg, const char *hex);
/* Once connected: 1 if the peer's (verified) certificate also matches `set` by the same
 * rule, 0 if not; SFU_ESTATE before (no authenticated certificate yet). For telling a
 * re-offer from the same device apart from another device's. */
int sfu_dtls_peer_matches(const sfu_dtls_t *d, const sfu_fingerprint_set_t *set);

/* One received datagram (first byte 20..63, RFC 7983 §7). Garbage is dropped and
 * counted. Returns 0, or SFU_ESTATE once closed/failed. */
int sfu_dtls_handle_input(sfu_dtls_t *d, uint64_t now_us, const uint8_t *buf, size_t len);
/* Call when now_us >= sfu_dtls_next_deadline(); resends the current flight. */
void sfu_dtls_handle_timeout(sfu_dtls_t *d, uint64_t now_us);
/* UINT64_MAX when no timer runs. */
uint64_t sfu_dtls_next_deadline(const sfu_dtls_t *d);
/* Application data (one record, one datagram) once connected; SFU_ESTATE before,
 * SFU_ETOOBIG over 16 KB. A record adds 37 bytes (13 header + 8 nonce + 16 tag, AES-GCM),
 * so callers that want datagrams within the MTU send at most mtu - 37 bytes (SCTP: set
 * its path MTU accordingly); larger ones still go out, as one oversize datagram. */
int sfu_dtls_send(sfu_dtls_t *d, const uint8_t *buf, size_t len);
/* Sends close_notify if connected; no on_closed follows. Idempotent. */
void sfu_dtls_close(sfu_dtls_t *d);
void sfu_dtls_free(sfu_dtls_t *d);

/* "new" "connecting" "connected" "closed" "failed" */
const char *sfu_dtls_state_name(const sfu_dtls_t *d);
const sfu_dtls_stats_t *sfu_dtls_stats(const sfu_dtls_t *d);
/* Negotiated profile once connected, else 0. */
sfu_srtp_profile_t sfu_dtls_srtp_profile(const sfu_dtls_t *d);

#endif
