/* DTLS 1.2 sans-IO core over OpenSSL 3.0 (RFC 6347, DTLS-SRTP RFC 5764).
 *
 * I/O: a custom BIO (one per association) stands between OpenSSL and the caller.
 *  - read: returns the one datagram being fed by sfu_dtls_handle_input (a view into the
 *    caller's buffer, so no copy and no allocation), then "retry" until the next call;
 *  - write: OpenSSL writes one record per BIO_write. Records are packed into one datagram
 *    up to the MTU (RFC 6347 §4.1.1 allows several records per datagram). OpenSSL asks
 *    BIO_wpending() before each handshake fragment and sizes the fragment to what is left
 *    of the MTU, calling BIO_flush() when nothing fits (dtls1_do_write), and flushes at
 *    the end of every flight; a flush hands the datagram to cbs->send. Everything left is
 *    flushed when the sfu_dtls_* call returns.
 *
 * Time: see the block comment above timer_cb() — OpenSSL's own clock never decides when
 * a flight is resent; the caller's now_us does.
 */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include "proto/dtls_internal.h"
#include "sfu/bytes.h"
#include "sfu/err.h"
#include "sfu/ids.h"
#include "sfu/log.h"

#define DTLS_HDR_LEN 13 /* RFC 6347 §4.1 record header */
#define OUT_CAP 1500    /* datagram buffer; the MTU is at most this */
#define DEFAULT_MTU 1200
#define MIN_MTU 256
#define RTO_INITIAL_US 1000000ull /* RFC 6347 §4.2.4.1: initial timer 1 s */
#define RTO_MAX_US 60000000ull    /* ... doubled per retransmission, at most 60 s */
#define MAX_FLIGHT_RETX                                                                      \
  6                                      /* resends of one flight before giving up (~2 min); \
                                          * below OpenSSL's DTLS1_TMO_ALERT_COUNT (12) */
#define OSSL_TIMER_PARKED_US 3600000000u /* see timer_cb() */

/* The virtual-timer technique below depends on OpenSSL 3.0/3.1 internals (d1_lib.c keeps
 * `struct timeval next_timeout` in DTLS1_STATE and passes its address to the BIO). 3.2
 * moved to OSSL_TIME and passes a stack copy, so there we fall back to OpenSSL's clock. */
#ifndef SFU_DTLS_VIRTUAL_TIMER /* -DSFU_DTLS_VIRTUAL_TIMER=0 tests the fallback */
#if OPENSSL_VERSION_NUMBER < 0x30200000L
#define SFU_DTLS_VIRTUAL_TIMER 1
#else
#define SFU_DTLS_VIRTUAL_TIMER 0
#endif
#endif

typedef enum { ST_NEW, ST_CONNECTING, ST_CONNECTED, ST_CLOSED, ST_FAILED } dtls_state_t;

/* Owner: the transport that created it (sfu_dtls_new / sfu_dtls_free); touched only by
 * that transport's loop thread. Holds its SSL (and, through it, the BIO). */
struct sfu_dtls {
  SSL *ssl;
  BIO *bio; /* owned by ssl (SSL_set_bio) */
  sfu_dtls_role_t role;
  dtls_state_t state;
  sfu_dtls_cbs_t cbs;
  void *user;
  uint64_t now_us;  /* time of the sfu_dtls_* call in progress */
  int depth;        /* nesting of sfu_dtls_* calls (callbacks may re-enter) */
  int free_pending; /* sfu_dtls_free called from a callback */

  const uint8_t *in_buf; /* datagram being fed (caller's memory), NULL when none */
  size_t in_len;
  uint8_t out[OUT_CAP]; /* datagram being packed */
  size_t out_len;
  unsigned mtu;

  /* Retransmission timer (virtual time). */
  uint64_t deadline; /* UINT64_MAX: none */
  uint64_t rto_us;
  int flight_retx;
  int ossl_armed;              /* OpenSSL's timer runs (last BIO timer event non-zero) */
  struct timeval *ossl_tv;     /* &s->d1->next_timeout as handed to the BIO (3.0/3.1) */
  struct timeval ossl_tv_seen; /* its value then: proves it is still OpenSSL's field */

  /* Peer authentication (RFC 8122 §5): the offered fingerprint set. */
  sfu_fingerprint_set_t fps;
  int fp_set, fp_mismatch;
  int handshake_done; /* OpenSSL finished; maybe still waiting for fp */

  sfu_srtp_profile_t profile;
  sfu_dtls_stats_t stats;
};

/* ------------------------------------------------------------------------------------ */
/* Call bracketing: records now_us, flushes output, performs a deferred free.            */

static void really_free(sfu_dtls_t *d) {
  SSL_free(d->ssl); /* frees the BIO too */
  OPENSSL_cleanse(d, sizeof *d);
  free(d);
}

static int count_records(const uint8_t *p, size_t len);

static void flush_out(sfu_dtls_t *d) {
  if (d->out_len == 0) return;
  size_t n = d->out_len;
  d->out_len = 0;
  int nrec = count_records(d->out, n);
  d->stats.records_out += nrec > 0 ? (uint64_t)nrec : 0;
  d->stats.datagrams_out++;
  d->stats.bytes_out += n;
  if (d->cbs.send && !d->free_pending) d->cbs.send(d->user, d->out, n);
}

static void enter(sfu_dtls_t *d, uint64_t now_us) {
  d->depth++;
  if (now_us > d->now_us) d->now_us = now_us;
  ERR_clear_error(); /* SSL_get_error reads this thread's queue */
}

/* Returns 1 if d was freed. */
static int leave(sfu_dtls_t *d) {
  flush_out(d);
  ERR_clear_error();
  if (--d->depth == 0 && d->free_pending) {
    really_free(d);
    return 1;
  }
  return 0;
}

static int alive(const sfu_dtls_t *d) {
  return !d->free_pending &&
         (d->state == ST_NEW || d->state == ST_CONNECTING || d->state == ST_CONNECTED);
}

static void fail(sfu_dtls_t *d, int reason) {
  if (d->state == ST_FAILED || d->state == ST_CLOSED) return;
  d->state = ST_FAILED;
  d->stats.fail_reason = reason;
  d->deadline = UINT64_MAX;
  unsigned long e = ERR_peek_last_error();
  SFU_INFO("dtls", "association failed: %s (%s)", sfu_err_name(reason),
           e ? ERR_reason_error_string(e) : "-");
  if (d->cbs.on_closed && !d->free_pending) d->cbs.on_closed(d->user, reason);
}

/* ------------------------------------------------------------------------------------ */
/* The BIO.                                                                              */

static int bio_write(BIO *b, const char *data, int len) {
  sfu_dtls_t *d = BIO_get_data(b);
  if (len <= 0) return 0;
  size_t n = (size_t)len;
  if (d->out_len + n > d->mtu) flush_out(d);
  if (n > d->mtu || n > OUT_CAP) {
    /* An application record larger than the MTU (the caller's choice): its own datagram. */
    d->stats.records_out++;
    d->stats.datagrams_out++;
    d->stats.bytes_out += n;
    if (d->cbs.send && !d->free_pending) d->cbs.send(d->user, (const uint8_t *)data, n);
    return len;
  }
  memcpy(d->out + d->out_len, data, n);
  d->out_len += n;
  return len;
}

static int bio_read(BIO *b, char *out, int outl) {
  sfu_dtls_t *d = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  if (!d->in_buf) {
    BIO_set_retry_read(b); /* "would block": wait for the next datagram */
    return -1;
  }
  /* One datagram per read, as a datagram socket does; a datagram longer than OpenSSL's
   * buffer is cut, and the record layer then drops the cut record. */
  size_t n = d->in_len < (size_t)outl ? d->in_len : (size_t)outl;
  memcpy(out, d->in_buf, n);
  d->in_buf = NULL;
  d->in_len = 0;
  return (int)n;
}

static void timer_event(sfu_dtls_t *d, struct timeval *tv);

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
  sfu_dtls_t *d = BIO_get_data(b);
  (void)num;
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      flush_out(d);
      return 1;
    case BIO_CTRL_WPENDING:
      return (long)d->out_len;
    case BIO_CTRL_PENDING:
      return d->in_buf ? (long)d->in_len : 0;
    case BIO_CTRL_DGRAM_SET_NEXT_TIMEOUT:
      timer_event(d, ptr);
      return 1;
    case BIO_CTRL_DGRAM_QUERY_MTU:
    case BIO_CTRL_DGRAM_GET_FALLBACK_MTU:
      return (long)d->mtu;
    case BIO_CTRL_DGRAM_GET_MTU_OVERHEAD: /* our MTU already is the UDP payload size */
    default:
      return 0;
  }
}

static int bio_create(BIO *b) {
  BIO_set_init(b, 1);
  return 1;
}

static BIO_METHOD *bio_method(void) {
  /* Built once. The first call comes from sfu_dtls_cert_new (main thread, before the
   * loops), see sfu_dtls__bio_method_init, so later calls only read the pointer. */
  static BIO_METHOD *m;
  if (!m) {
    BIO_METHOD *nm = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sfu_dtls");
    if (!nm) return NULL;
    BIO_meth_set_write(nm, bio_write);
    BIO_meth_set_read(nm, bio_read);
    BIO_meth_set_ctrl(nm, bio_ctrl);
    BIO_meth_set_create(nm, bio_create);
    m = nm;
  }
  return m;
}

int sfu_dtls__bio_method_init(void) { return bio_method() ? 0 : SFU_ENOMEM; }

/* ------------------------------------------------------------------------------------ */
/* Retransmission on virtual time.
 *
 * OpenSSL 3.0 keeps the DTLS retransmission timer itself, on the real clock: when a
 * flight is written, dtls1_start_timer() sets d1->next_timeout = gettimeofday() + duration
 * (duration from DTLS_set_timer_cb's callback, else 1 s doubling), and tells the BIO with
 * BIO_ctrl(rbio, BIO_CTRL_DGRAM_SET_NEXT_TIMEOUT, &d1->next_timeout); dtls1_stop_timer()
 * zeroes it when the peer's next flight arrives. dtls1_handle_timeout() — reached from
 * DTLSv1_handle_timeout() and ALSO from the start of every dtls1_read_bytes(), i.e. every
 * SSL_read/SSL_do_handshake — retransmits when dtls1_is_timer_expired() says the real
 * clock passed next_timeout (or is within 15 ms of it).
 *
 * Design:
 *  1. The core keeps its own deadline in the caller's time: every BIO timer event "armed"
 *     sets deadline = now_us + rto (rto 1 s, doubled per resend up to 60 s, RFC 6347
 *     §4.2.4.1); "stopped" clears it and resets rto. sfu_dtls_next_deadline reports it.
 *  2. timer_cb (DTLS_set_timer_cb) always answers one hour, so OpenSSL's real-clock timer
 *     never expires on its own: SSL_read/SSL_do_handshake never resend spuriously.
 *  3. When the caller's clock reaches the deadline, sfu_dtls_handle_timeout makes
 *     OpenSSL's timer expired by writing a past time into the next_timeout field whose
 *     address OpenSSL gave the BIO (only if it still holds the value OpenSSL last reported,
 *     so a stale pointer is never written), then calls DTLSv1_handle_timeout(): OpenSSL
 *     resends the flight with fresh record sequence numbers, calls timer_cb (one hour
 *     again) and re-arms, which gives the next deadline.
 * So the handshake's timing depends only on now_us: tests run minutes of backoff in
 * milliseconds. On OpenSSL >= 3.2 (SFU_DTLS_VIRTUAL_TIMER 0) timer_cb returns the core's
 * rto instead, and a resend happens when both clocks agree (real time in production).
 * ------------------------------------------------------------------------------------ */

/* The headers say 3.0/3.1, but libssl.so.3 may have been upgraded under the binary: the
 * field trick is used only if the running library is also older than 3.2. */
static int virtual_timer_usable(void) {
#if SFU_DTLS_VIRTUAL_TIMER
  return OpenSSL_version_num() < 0x30200000L;
#else
  return 0;
#endif
}

static unsigned int timer_cb(SSL *ssl, unsigned int timer_us) {
  sfu_dtls_t *d = SSL_get_app_data(ssl);
  if (timer_us != 0) { /* called from dtls1_handle_timeout: a resend follows */
    d->stats.retransmits++;
    d->flight_retx++;
  }
  return virtual_timer_usable() ? OSSL_TIMER_PARKED_US : (unsigned int)d->rto_us;
}

static void timer_event(sfu_dtls_t *d, struct timeval *tv) {
  if (!tv || (tv->tv_sec == 0 && tv->tv_usec == 0)) { /* dtls1_stop_timer: flight done */
    d->ossl_armed = 0;
    d->ossl_tv = NULL;
    d->deadline = UINT64_MAX;
    d->rto_us = RTO_INITIAL_US;
    d->flight_retx = 0;
    return;
  }
  d->ossl_armed = 1;
  d->ossl_tv = tv;
  d->ossl_tv_seen = *tv;
  d->deadline = d->now_us + d->rto_us;
}

/* Makes OpenSSL's timer expired (step 3 above). Returns 1 if done. */
static int expire_ossl_timer(sfu_dtls_t *d) {
#if SFU_DTLS_VIRTUAL_TIMER
  if (!virtual_timer_usable() || !d->ossl_armed || !d->ossl_tv) return 0;
  if (d->ossl_tv->tv_sec != d->ossl_tv_seen.tv_sec ||
      d->ossl_tv->tv_usec != d->ossl_tv_seen.tv_usec)
    return 0;
  /* Non-zero (zero means "no timer") and long past: dtls1_get_timeout() returns 0 left. */
  d->ossl_tv->tv_sec = 1;
  d->ossl_tv->tv_usec = 0;
  d->ossl_tv_seen = *d->ossl_tv;
  return 1;
#else
  (void)d;
  return 0;
#endif
}

/* ------------------------------------------------------------------------------------ */
/* Fingerprints (RFC 8122 §5).                                                           */

static const EVP_MD *md_of(sfu_fp_hash_t h) {
  switch (h) {
    case SFU_FP_SHA1: return EVP_sha1();
    case SFU_FP_SHA224: return EVP_sha224();
    case SFU_FP_SHA256: return EVP_sha256();
    case SFU_FP_SHA384: return EVP_sha384();
    case SFU_FP_SHA512: return EVP_sha512();
    default: return NULL; /* md5, md2: RFC 8122 §5 forbids verifying with them */
  }
}

/* RFC 8122 §5: "An endpoint MUST select the set of fingerprints that use its most
 * preferred hash function (out of those offered by the peer) and verify that each
 * certificate used matches one fingerprint out of that set." The certificate is hashed
 * once, with the strongest hash offered, and compared with every fingerprint of that
 * hash: a bogus one listed first does not hide the real one, and a weaker hash in the
 * set never stands in for a stronger one. */
static int cert_matches_set(const sfu_fingerprint_set_t *set, X509 *cert) {
  uint8_t md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  const EVP_MD *h = md_of(sfu_fingerprint_set_preferred(set));
  if (!cert || !h || !X509_digest(cert, h, md, &len)) return 0;
  return sfu_fingerprint_set_matches(set, md, len);
}

static int cert_matches(const sfu_dtls_t *d, X509 *cert) { return cert_matches_set(&d->fps, cert); }

int sfu_dtls__verify_cb(int preverify_ok, X509_STORE_CTX *store) {
  (void)preverify_ok; /* self-signed: chain errors are expected and irrelevant */
  SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
  sfu_dtls_t *d = ssl ? SSL_get_app_data(ssl) : NULL;
  if (!d || X509_STORE_CTX_get_error_depth(store) != 0 || !d->fp_set) return 1;
  if (cert_matches(d, X509_STORE_CTX_get_current_cert(store))) return 1;
  /* Returning 0 aborts the handshake; CERT_REJECTED makes the alert bad_certificate
   * (RFC 5246 §7.2.2) rather than the unknown_ca a self-signed chain error would give. */
  d->fp_mismatch = 1;
  X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
  return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Handshake completion, key export (RFC 5764 §4.2).                                     */

static int export_keys(sfu_dtls_t *d, sfu_srtp_keys_t *k) {
  const SRTP_PROTECTION_PROFILE *p = SSL_get_selected_srtp_profile(d->ssl);
  if (!p) return SFU_EUNSUPP; /* RFC 8827 §6.5: DTLS-SRTP is mandatory for WebRTC */
  memset(k, 0, sizeof *k);
  if (p->id == SRTP_AES128_CM_SHA1_80) {
    k->profile = SFU_SRTP_AES128_CM_SHA1_80;
    k->key_len = 16, k->salt_len = 14;
  } else if (p->id == SRTP_AEAD_AES_128_GCM) {
    k->profile = SFU_SRTP_AEAD_AES_128_GCM;
    k->key_len = 16, k->salt_len = 12; /* RFC 7714 §12 */
  } else {
    return SFU_EUNSUPP;
  }
  /* RFC 5764 §4.2: client_write_SRTP_master_key | server_write_SRTP_master_key |
   * client_write_SRTP_master_salt | server_write_SRTP_master_salt. */
  uint8_t m[2 * (16 + 14)];
  size_t kl = k->key_len, sl = k->salt_len, total = 2 * (kl + sl);
  static const char label[] = "EXTRACTOR-dtls_srtp";
  if (SSL_export_keying_material(d->ssl, m, total, label, sizeof label - 1, NULL, 0, 0) != 1)
    return SFU_ECRYPTO;
  memcpy(k->client_key, m, kl);
  memcpy(k->server_key, m + kl, kl);
  memcpy(k->client_salt, m + 2 * kl, sl);
  memcpy(k->server_salt, m + 2 * kl + sl, sl);
  OPENSSL_cleanse(m, sizeof m);
  return 0;
}

/* Handshake finished and fingerprint known: check it, export keys, report. */
static void verify_and_connect(sfu_dtls_t *d) {
  if (!cert_matches(d, SSL_get0_peer_certificate(d->ssl))) {
    SSL_shutdown(d->ssl); /* tell the peer it is over (close_notify) */
    fail(d, SFU_EAUTH);
    return;
  }
  sfu_srtp_keys_t keys;
  int rc = export_keys(d, &keys);
  if (rc != 0) {
    fail(d, rc);
    return;
  }
  d->profile = keys.profile;
  d->state = ST_CONNECTED;
  d->deadline = UINT64_MAX;
  SFU_DEBUG("dtls", "connected (%s, %s)", SSL_get_cipher_name(d->ssl),
            SSL_get_selected_srtp_profile(d->ssl)->name);
  if (d->cbs.on_connected && !d->free_pending) d->cbs.on_connected(d->user, &keys);
  OPENSSL_cleanse(&keys, sizeof keys);
}

static int map_ssl_error(const sfu_dtls_t *d) {
  if (d->fp_mismatch) return SFU_EAUTH;
  unsigned long e = ERR_peek_last_error();
  if (ERR_GET_LIB(e) == ERR_LIB_SSL) {
    switch (ERR_GET_REASON(e)) {
      case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
      case SSL_R_CERTIFICATE_VERIFY_FAILED:
        return SFU_EAUTH;
      case SSL_R_READ_TIMEOUT_EXPIRED:
        return SFU_ETIMEDOUT;
      default:
        break;
    }
  }
  return SFU_ECRYPTO;
}

/* Runs the handshake as far as input allows. */
static void step_handshake(sfu_dtls_t *d) {
  if (d->state == ST_NEW) d->state = ST_CONNECTING;
  int r = SSL_do_handshake(d->ssl);
  if (r == 1) {
    d->handshake_done = 1;
    if (d->fp_set)
      verify_and_connect(d);
    else
      SFU_DEBUG("dtls", "handshake done, waiting for the remote fingerprint");
    return;
  }
  int e = SSL_get_error(d->ssl, r);
  if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) fail(d, map_ssl_error(d));
}

/* Delivers application records; handles close_notify (RFC 5246 §7.2.1). */
static void read_app(sfu_dtls_t *d) {
  uint8_t buf[16384]; /* SSL3_RT_MAX_PLAIN_LENGTH: one whole record, never split */
  while (alive(d)) {
    int n = SSL_read(d->ssl, buf, sizeof buf);
    if (n > 0) {
      /* Before the fingerprint is verified, data is dropped: the peer is not yet
       * authenticated (SCTP will resend). */
      if (d->state != ST_CONNECTED) continue;
      d->stats.app_in++;
      if (d->cbs.on_app_data) d->cbs.on_app_data(d->user, buf, (size_t)n);
      continue;
    }
    int e = SSL_get_error(d->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
    if (e == SSL_ERROR_ZERO_RETURN) {
      SSL_shutdown(d->ssl); /* answer with our close_notify */
      d->state = ST_CLOSED;
      d->deadline = UINT64_MAX;
      if (d->cbs.on_closed && !d->free_pending) d->cbs.on_closed(d->user, 0);
      return;
    }
    fail(d, map_ssl_error(d));
    return;
  }
}

/* Counts the records of a datagram; -1 if it is not a sequence of whole DTLS records
 * (RFC 6347 §4.1: type 20..25, version major 0xFE, 16-bit length). With min_protected
 * non-zero, a record of epoch >= 1 shorter than that also makes it -1. */
static int walk_records(const uint8_t *p, size_t len, size_t min_protected) {
  int n = 0;
  while (len > 0) {
    if (len < DTLS_HDR_LEN || p[0] < 20 || p[0] > 25 || p[1] != 0xFE) return -1;
    size_t body = sfu_rd16(p + 11), rl = DTLS_HDR_LEN + body;
    if (rl > len) return -1;
    if (min_protected && body < min_protected && (p[3] | p[4]) != 0) return -1;
    p += rl, len -= rl, n++;
  }
  return n;
}

static int count_records(const uint8_t *p, size_t len) { return walk_records(p, len, 0); }

/* Smallest well-formed protected record body for the negotiated suite. Needed because
 * OpenSSL 3.0 turns a too-short record of the current epoch into a fatal internal_error
 * (EVP_Cipher fails in tls1_enc) instead of discarding it as RFC 6347 §4.1.2.7 asks: one
 * spoofed 14..36-byte datagram would otherwise end a live association. */
static size_t min_protected_len(const SSL *ssl) {
  const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
  if (!c) return 8 + 16; /* not negotiated yet: no protected record is legitimate */
  if (SSL_CIPHER_get_cipher_nid(c) == NID_chacha20_poly1305) return 16; /* tag */
  return 8 + 16; /* AES-GCM: explicit nonce + tag (RFC 5288 §3); only AEAD is offered */
}

/* ------------------------------------------------------------------------------------ */
/* Public API.                                                                            */

sfu_dtls_t *sfu_dtls_new_ex(const sfu_dtls_cert_t *cert, sfu_dtls_role_t role,
                            const sfu_dtls_opts_t *opts, const sfu_dtls_cbs_t *cbs, void *user,
                            uint64_t now_us) {
  if (!cert || !cbs || (role != SFU_DTLS_ROLE_SERVER && role != SFU_DTLS_ROLE_CLIENT)) return NULL;
  unsigned mtu = opts && opts->mtu ? opts->mtu : DEFAULT_MTU;
  if (mtu < MIN_MTU || mtu > OUT_CAP) return NULL;
  BIO_METHOD *m = bio_method();
  sfu_dtls_t *d = calloc(1, sizeof *d);
  if (!m || !d) goto fail;
  d->role = role;
  d->cbs = *cbs;
  d->user = user;
  d->now_us = now_us;
  d->mtu = mtu;
  d->deadline = UINT64_MAX;
  d->rto_us = RTO_INITIAL_US;
  d->ssl = SSL_new(cert->ctx[role]);
  d->bio = BIO_new(m);
  if (!d->ssl || !d->bio) goto fail;
  BIO_set_data(d->bio, d);
  SSL_set_bio(d->ssl, d->bio, d->bio); /* one reference, owned by ssl */
  SSL_set_app_data(d->ssl, d);
  DTLS_set_timer_cb(d->ssl, timer_cb);
  SSL_set_options(d->ssl, SSL_OP_NO_QUERY_MTU);
  SSL_set_mtu(d->ssl, mtu);
  if (opts && opts->srtp_profiles && SSL_set_tlsext_use_srtp(d->ssl, opts->srtp_profiles) != 0)
    goto fail;
  if (role == SFU_DTLS_ROLE_SERVER) {
    SSL_set_accept_state(d->ssl);
    return d;
  }
  SSL_set_connect_state(d->ssl);
  /* A call that fails fires no callback: hold on_closed back while sending the hello. */
  d->cbs.on_closed = NULL;
  enter(d, now_us);
  step_handshake(d); /* writes the ClientHello */
  leave(d);
  d->cbs.on_closed = cbs->on_closed;
  if (d->state == ST_FAILED) {
    sfu_dtls_free(d);
    return NULL;
  }
  return d;
fail:
  ERR_clear_error();
  if (d) {
    if (d->ssl)
      SSL_free(d->ssl);
    else
      BIO_free(d->bio);
    free(d);
  }
  return NULL;
}

sfu_dtls_t *sfu_dtls_new(const sfu_dtls_cert_t *cert, sfu_dtls_role_t role,
                         const sfu_dtls_cbs_t *cbs, void *user, uint64_t now_us) {
  return sfu_dtls_new_ex(cert, role, NULL, cbs, user, now_us);
}

int sfu_dtls_set_remote_fingerprints(sfu_dtls_t *d, const sfu_fingerprint_set_t *set) {
  if (!set || !set->n || set->n > SFU_FP_SET_MAX) return SFU_EINVAL;
  for (size_t i = 0; i < set->n; i++) {
    if (!md_of(set->fp[i].hash)) return SFU_EUNSUPP;
    if (set->fp[i].len != sfu_fp_hash_size(set->fp[i].hash)) return SFU_EINVAL;
  }
  d->fps = *set;
  d->fp_set = 1;
  if (d->handshake_done && d->state == ST_CONNECTING) {
    enter(d, d->now_us);
    verify_and_connect(d);
    leave(d);
  }
  return 0;
}

int sfu_dtls_set_remote_fingerprint(sfu_dtls_t *d, const char *alg, const char *hex) {
  if (!alg || !hex) return SFU_EINVAL;
  sfu_fp_hash_t h = sfu_fp_hash_from_name(alg, strlen(alg));
  if (!sfu_fp_hash_usable(h)) return SFU_EUNSUPP;
  sfu_fingerprint_set_t set = {.n = 1};
  if (sfu_fingerprint_parse(&set.fp[0], h, hex, strlen(hex))) return SFU_EINVAL;
  return sfu_dtls_set_remote_fingerprints(d, &set);
}

int sfu_dtls_peer_matches(const sfu_dtls_t *d, const sfu_fingerprint_set_t *set) {
  if (d->state != ST_CONNECTED || d->free_pending) return SFU_ESTATE;
  return set && cert_matches_set(set, SSL_get0_peer_certificate(d->ssl));
}

int sfu_dtls_handle_input(sfu_dtls_t *d, uint64_t now_us, const uint8_t *buf, size_t len) {
  if (!alive(d)) return SFU_ESTATE;
  d->stats.datagrams_in++;
  d->stats.bytes_in += len;
  int nrec = walk_records(buf, len, min_protected_len(d->ssl));
  if (nrec <= 0) { /* not DTLS, or a record no peer would send (RFC 6347 §4.1.2.7) */
    d->stats.bad_input++;
    return 0;
  }
  d->stats.records_in += (uint64_t)nrec;
  enter(d, now_us);
  d->in_buf = buf;
  d->in_len = len;
  if (!d->handshake_done) step_handshake(d);
  /* After the handshake (maybe finished just now with records behind the Finished):
   * application data, alerts, and the peer's retransmitted Finished, to which OpenSSL
   * answers by resending our last flight (RFC 6347 §4.2.4). */
  if (d->handshake_done) read_app(d);
  d->in_buf = NULL;
  d->in_len = 0;
  leave(d);
  return 0;
}

void sfu_dtls_handle_timeout(sfu_dtls_t *d, uint64_t now_us) {
  if (!alive(d) || d->state == ST_CONNECTED || now_us < d->deadline) return;
  enter(d, now_us);
  if (d->flight_retx >= MAX_FLIGHT_RETX) {
    fail(d, SFU_ETIMEDOUT);
  } else {
    d->rto_us = d->rto_us * 2 > RTO_MAX_US ? RTO_MAX_US : d->rto_us * 2;
    int forced = expire_ossl_timer(d);
    int r = DTLSv1_handle_timeout(d->ssl);
    if (r < 0) {
      fail(d, map_ssl_error(d));
    } else if (r == 0) {
      /* OpenSSL's clock disagrees (no forcing on this OpenSSL) or no flight is pending:
       * ask again after one more rto of caller time. */
      if (forced) SFU_WARN("dtls", "forced timer expiry had no effect");
      d->deadline = d->ossl_armed ? d->now_us + d->rto_us : UINT64_MAX;
    }
  }
  leave(d);
}

uint64_t sfu_dtls_next_deadline(const sfu_dtls_t *d) {
  if (!alive(d) || d->state == ST_CONNECTED) return UINT64_MAX;
  return d->deadline;
}

int sfu_dtls_send(sfu_dtls_t *d, const uint8_t *buf, size_t len) {
  if (d->state != ST_CONNECTED || d->free_pending) return SFU_ESTATE;
  if (len == 0 || len > 16384) return len ? SFU_ETOOBIG : SFU_EINVAL;
  enter(d, d->now_us);
  int n = SSL_write(d->ssl, buf, (int)len);
  int rc = 0;
  if (n <= 0) {
    rc = SFU_ECRYPTO;
    fail(d, map_ssl_error(d));
  } else {
    d->stats.app_out++;
  }
  leave(d);
  return rc;
}

void sfu_dtls_close(sfu_dtls_t *d) {
  if (!alive(d)) return;
  enter(d, d->now_us);
  if (d->handshake_done) SSL_shutdown(d->ssl); /* close_notify; no reply awaited */
  d->state = ST_CLOSED;
  d->deadline = UINT64_MAX;
  leave(d);
}

void sfu_dtls_free(sfu_dtls_t *d) {
  if (!d) return;
  if (d->depth > 0) {
    d->free_pending = 1;
    return;
  }
  really_free(d);
}

const char *sfu_dtls_state_name(const sfu_dtls_t *d) {
  static const char *const names[] = {"new", "connecting", "connected", "closed", "failed"};
  return names[d->state];
}

const sfu_dtls_stats_t *sfu_dtls_stats(const sfu_dtls_t *d) { return &d->stats; }

sfu_srtp_profile_t sfu_dtls_srtp_profile(const sfu_dtls_t *d) {
  return d->state == ST_CONNECTED ? d->profile : 0;
}
