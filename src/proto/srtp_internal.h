/* Private to src/proto/srtp*.c (and tests/unit/test_srtp.c, which checks the pieces against
 * RFC vectors): the two SRTP backends behind sfu/srtp.h, the RFC 3711 §4.3 key
 * derivation, and the per-SSRC stream state (ROC, replay windows).
 *
 * Split: srtp.c (public API, checks shared by both backends, stats), srtp_kdf.c (key
 * derivation), srtp_stream.c (per-SSRC state), srtp_ossl.c (the OpenSSL 3 transforms, the
 * default backend), srtp_libsrtp.c (libsrtp2: the operator-selectable backend and the
 * tests' independent oracle). Thread rules as in sfu/srtp.h. */
#ifndef SFU_SRTP_INTERNAL_H
#define SFU_SRTP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "sfu/srtp.h"

/* ---- srtp_kdf.c: RFC 3711 §4.3 (kdr = 0), RFC 7714 §12 ---- */

/* Session keys of one stream kind (SRTP or SRTCP) in one direction. GCM uses key and the
 * first 12 salt bytes, no auth key. Plain data, wiped by whoever derived it. */
typedef struct {
  uint8_t key[16], auth[20], salt[14];
} sfu_srtp_skeys_t;

typedef struct {
  sfu_srtp_skeys_t rtp, rtcp;
} sfu_srtp_dir_keys_t;

/* AES-CM keystream (RFC 3711 §4.1.1): AES-128 in counter mode from the 16-byte block iv
 * (the low 16 bits count blocks), n bytes into out. 0 or SFU_ECRYPTO. */
int sfu_srtp_aes_cm_keystream(const uint8_t key[16], const uint8_t iv[16], uint8_t *out,
                              size_t n);
/* The PRF of RFC 3711 §4.3.1/§4.3.3 with kdr = 0: n bytes for label from the master key and
 * master salt (14 bytes; a 12-byte GCM salt is passed zero-padded to 14). */
int sfu_srtp_kdf(const uint8_t mkey[16], const uint8_t msalt[14], uint8_t label, uint8_t *out,
                 size_t n);
/* All session keys of one direction: labels 0x00..0x05 (RFC 3711 §4.3.2). */
int sfu_srtp_derive(int gcm, const uint8_t mkey[16], const uint8_t *msalt, size_t msalt_len,
                    sfu_srtp_dir_keys_t *out);

/* ---- srtp_stream.c: per-SSRC state, RFC 3711 §3.3.1, §3.3.2, §3.4, Appendix A ---- */

#define SFU_SRTP_WINDOW 1024 /* SRTP replay window in packets (§3.3.2 asks >= 64) */
#define SFU_SRTCP_WINDOW 128 /* SRTCP: RTCP is a few packets a second (libsrtp uses 128) */
#define SFU_SRTP_MAX_STREAMS_IN 64   /* the peer's SSRCs: bounded, the peer is untrusted */
#define SFU_SRTP_MAX_STREAMS_OUT 512 /* ours: every forwarded stream + RTX to a subscriber */

/* One SSRC of one direction. rtp_top is the highest packet index i = 2^16 * ROC + SEQ
 * (RFC 3711 §3.3.1) received (inbound, after authentication) or sent (outbound). Window bit
 * (i mod WINDOW) is set when index i, within WINDOW of the top, was received. */
typedef struct {
  uint64_t rtp_top;
  uint32_t rtcp_top; /* highest SRTCP index received / last one sent (§3.4) */
  uint8_t rtp_seen, rtcp_seen;
  uint64_t rtp_win[SFU_SRTP_WINDOW / 64];
  uint64_t rtcp_win[SFU_SRTCP_WINDOW / 64];
} sfu_srtp_stream_t;

/* The streams of one direction: two parallel arrays (SSRC keys apart, so that a lookup
 * scans a few cache lines), grown by doubling up to max. Growth is the only allocation on
 * the packet path: log2(max / 4) times at most per direction, when a new SSRC appears;
 * a stream removed or added never moves another stream's state out of the arrays.
 * Owner: the sfu_srtp_ossl_t; its loop thread. */
typedef struct {
  uint32_t *ssrc;
  sfu_srtp_stream_t *st;
  unsigned n, cap, max, last; /* last: index of the last hit, checked first */
} sfu_srtp_streams_t;

int sfu_srtp_streams_init(sfu_srtp_streams_t *t, unsigned max);
void sfu_srtp_streams_free(sfu_srtp_streams_t *t);
/* The stream of ssrc, NULL if none. */
sfu_srtp_stream_t *sfu_srtp_streams_find(sfu_srtp_streams_t *t, uint32_t ssrc);
/* A zeroed stream for a new ssrc: SFU_ELIMIT when max streams exist, SFU_ENOMEM. */
int sfu_srtp_streams_add(sfu_srtp_streams_t *t, uint32_t ssrc, sfu_srtp_stream_t **out);
int sfu_srtp_streams_remove(sfu_srtp_streams_t *t, uint32_t ssrc);

/* RFC 3711 Appendix A: the index of a packet with sequence number seq, given the highest
 * index top received so far (libsrtp's variant: while top < 2^15, ROC is 0). */
uint64_t sfu_srtp_estimate_index(uint64_t top, uint16_t seq);
/* Replay check (§3.3.2) of index idx against a window of bits (a power of 2, <= 2^16):
 * 0 if new, SFU_EREPLAY if seen or older than the window. seen=0: nothing received yet. */
int sfu_srtp_window_check(const uint64_t *win, unsigned bits, uint64_t top, int seen,
                          uint64_t idx);
/* Records idx as received (after authentication, §3.3 step 7); moves top forward. */
void sfu_srtp_window_add(uint64_t *win, unsigned bits, uint64_t *top, uint8_t *seen,
                         uint64_t idx);

/* ---- srtp_ossl.c: OpenSSL 3 EVP transforms (default backend) ---- */

typedef struct sfu_srtp_ossl sfu_srtp_ossl_t;
/* From session keys (in: the peer's, out: ours), so that tests can feed RFC 7714 §16/§17
 * vectors, which are given as session keys. */
sfu_srtp_ossl_t *sfu_srtp_ossl_new(int gcm, const sfu_srtp_dir_keys_t *in,
                                   const sfu_srtp_dir_keys_t *out);
void sfu_srtp_ossl_free(sfu_srtp_ossl_t *o);
/* Same contracts as sfu/srtp.h, after srtp.c's checks: the header (hdr bytes) and the
 * trailer fit, cap leaves room for the trailer. */
int sfu_srtp_ossl_unprotect_rtp(sfu_srtp_ossl_t *o, uint8_t *buf, size_t *len, size_t hdr);
int sfu_srtp_ossl_unprotect_rtcp(sfu_srtp_ossl_t *o, uint8_t *buf, size_t *len);
int sfu_srtp_ossl_protect_rtp(sfu_srtp_ossl_t *o, uint8_t *buf, size_t *len, size_t hdr);
int sfu_srtp_ossl_protect_rtcp(sfu_srtp_ossl_t *o, uint8_t *buf, size_t *len);
int sfu_srtp_ossl_remove_ssrc(sfu_srtp_ossl_t *o, uint32_t ssrc, int outbound);
/* Streams held (tests: the inbound bound holds under a flood of SSRCs). */
unsigned sfu_srtp_ossl_nstreams(const sfu_srtp_ossl_t *o, int outbound);

/* ---- srtp_libsrtp.c: libsrtp2 backend ---- */

typedef struct sfu_srtp_lib sfu_srtp_lib_t;
int sfu_srtp_lib_global_init(void);
void sfu_srtp_lib_global_shutdown(void);
sfu_srtp_lib_t *sfu_srtp_lib_new(sfu_srtp_profile_t profile, const uint8_t *peer_key,
                                 const uint8_t *peer_salt, const uint8_t *our_key,
                                 const uint8_t *our_salt, size_t key_len, size_t salt_len);
void sfu_srtp_lib_free(sfu_srtp_lib_t *l);
int sfu_srtp_lib_unprotect(sfu_srtp_lib_t *l, int rtcp, uint8_t *buf, size_t *len);
int sfu_srtp_lib_protect(sfu_srtp_lib_t *l, int rtcp, uint8_t *buf, size_t *len);
int sfu_srtp_lib_remove_ssrc(sfu_srtp_lib_t *l, uint32_t ssrc, int outbound);

#endif
