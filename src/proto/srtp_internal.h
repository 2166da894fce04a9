/* Private to src/proto/srtp*.c (and tests/unit/test_srtp.c, which checks the pieces against
 * RFC vectors): the two SRTP backends behind sfu/srtp.h, the RFC 3711 §4.3 key
 * derivation, and the per-SSRC stream state (ROC, replay windows).
 *
 * Split: srtp.c (public API; the RFC 3711 §3.3/§3.4 steps both backends share: index
 * estimation, replay check, per-SSRC state and its bounds, the repeat guard; stats),
 * srtp_kdf.c (key derivation), srtp_stream.c (per-SSRC state), srtp_ossl.c (the OpenSSL 3
 * transforms, the default backend), srtp_libsrtp.c (libsrtp2: the operator-selectable
 * backend and the tests' independent oracle, which re-checks replay and estimates ROC on
 * its own). Thread rules as in sfu/srtp.h. */
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
/* Tombstones of removed or evicted SSRCs kept per direction (16 bytes each, allocated only
 * once streams end): how long an ended SSRC's old packets stay refused. */
#define SFU_SRTP_MAX_TOMBS 1024

/* One SSRC of one direction. rtp_top is the highest packet index i = 2^16 * ROC + SEQ
 * (RFC 3711 §3.3.1) received (inbound, after authentication) or sent (outbound). Window bit
 * (i mod WINDOW) is set when index i, within WINDOW of the top, was received (inbound) or
 * protected (outbound: the repeat guard's "already used" map). */
typedef struct {
  uint64_t rtp_top;
  uint64_t used;     /* the table's clock at the last lookup: least recently used goes first */
  uint32_t rtcp_top; /* highest SRTCP index received / last one sent (§3.4) */
  uint8_t rtp_seen, rtcp_seen;
  /* Restored from a tombstone, and (RTP) no packet since: libsrtp2's own state for this
   * SSRC restarted at ROC 0 and SRTCP index 1, so that backend refuses what would
   * diverge from ours (srtp.c). */
  uint8_t rtp_restored, rtcp_restored;
  uint64_t rtp_win[SFU_SRTP_WINDOW / 64];
  uint64_t rtcp_win[SFU_SRTCP_WINDOW / 64];
} sfu_srtp_stream_t;

/* What is left of an ended SSRC: its highest indexes (bit 63 / bit 31: seen). */
typedef struct {
  uint64_t rtp;
  uint32_t rtcp;
} sfu_srtp_tomb_t;

/* The streams of one direction: parallel arrays (SSRC keys apart, so that a lookup scans a
 * few cache lines), grown by doubling up to max; outbound tables also hold each stream's
 * SFU_SRTP_TX_TAGS digests (the repeat guard). At most max live streams: a new one beyond
 * that evicts the least recently used to a tombstone. Tombstones: a ring of up to
 * SFU_SRTP_MAX_TOMBS, the oldest overwritten. Growth (streams, tombstones) is the only
 * allocation on the packet path, a few times per transport, when a new SSRC appears.
 * Owner: the sfu_srtp_t; its loop thread. */
typedef struct {
  uint32_t *ssrc;
  sfu_srtp_stream_t *st;
  uint64_t *tags; /* outbound: cap x SFU_SRTP_TX_TAGS; NULL inbound */
  unsigned n, cap, max, last; /* last: index of the last hit, checked first */
  uint64_t clock;
  uint32_t *tomb_ssrc;
  sfu_srtp_tomb_t *tomb;
  unsigned ntomb, tomb_cap, tomb_next;
} sfu_srtp_streams_t;

int sfu_srtp_streams_init(sfu_srtp_streams_t *t, unsigned max, int outbound);
void sfu_srtp_streams_free(sfu_srtp_streams_t *t);
/* The live stream of ssrc (now the most recently used), NULL if none. */
sfu_srtp_stream_t *sfu_srtp_streams_find(sfu_srtp_streams_t *t, uint32_t ssrc);
/* The state a new stream of ssrc starts from, into *out: zero, or what its tombstone says
 * (every index up to its highest counts as seen). Nothing is added to the table. */
void sfu_srtp_streams_fresh(const sfu_srtp_streams_t *t, uint32_t ssrc, sfu_srtp_stream_t *out);
/* Adds ssrc with state *init. 0, or 1 when the table was full and the least recently used
 * stream was evicted to a tombstone (*evicted: its SSRC), or SFU_ENOMEM. */
int sfu_srtp_streams_add(sfu_srtp_streams_t *t, uint32_t ssrc, const sfu_srtp_stream_t *init,
                         sfu_srtp_stream_t **out, uint32_t *evicted);
/* Ends a live stream: its state shrinks to a tombstone. SFU_ENOENT if not live. */
int sfu_srtp_streams_remove(sfu_srtp_streams_t *t, uint32_t ssrc);
/* Drops ssrc's state and tombstone alike (sfu_srtp_forget_ssrc). SFU_ENOENT if not live. */
int sfu_srtp_streams_forget(sfu_srtp_streams_t *t, uint32_t ssrc);
/* The repeat-guard digests of a stream of an outbound table. */
uint64_t *sfu_srtp_streams_tags(const sfu_srtp_streams_t *t, const sfu_srtp_stream_t *st);

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

/* The sender's repeat guard (sfu/srtp.h, SFU_SRTP_TX_TAGS). Before protecting index idx
 * of stream st (tags: its digests): 0 if never protected, 1 if protected before and recent
 * enough to compare (protect, then sfu_srtp_tx_same decides), SFU_EREPLAY if it cannot be
 * allowed (older than the window, or than the digests kept). */
int sfu_srtp_tx_check(const sfu_srtp_stream_t *st, const uint64_t *tags, uint64_t idx);
/* After protecting a fresh idx whose output auth tag starts at tag (>= 8 bytes). */
void sfu_srtp_tx_record(sfu_srtp_stream_t *st, uint64_t *tags, uint64_t idx, const uint8_t *tag);
/* After protecting a repeat: whether the output tag is the one recorded for idx. */
int sfu_srtp_tx_same(const uint64_t *tags, uint64_t idx, const uint8_t *tag);

/* ---- srtp.c ---- */

/* Forgets an SSRC entirely, tombstone included, as if never seen: its replay protection
 * and used indexes go with it. For the fuzz target (inputs must not carry state, and a
 * libsrtp2 session costs milliseconds to make) and tests only — never for traffic, which
 * uses sfu_srtp_remove_ssrc. SFU_ENOENT if it had no live state. */
int sfu_srtp_forget_ssrc(sfu_srtp_t *s, uint32_t ssrc, int outbound);

/* ---- srtp_ossl.c: OpenSSL 3 EVP transforms (default backend) ---- */

typedef struct sfu_srtp_ossl sfu_srtp_ossl_t;
/* From session keys (in: the peer's, out: ours), so that tests can feed RFC 7714 §16/§17
 * vectors, which are given as session keys. */
sfu_srtp_ossl_t *sfu_srtp_ossl_new(int gcm, const sfu_srtp_dir_keys_t *in,
                                   const sfu_srtp_dir_keys_t *out);
void sfu_srtp_ossl_free(sfu_srtp_ossl_t *o);
/* The transforms alone: srtp.c has checked the lengths (the header, hdr bytes, and the
 * trailer fit; cap leaves room for the trailer), chosen the index (RTP: idx from ROC
 * estimation; SRTCP out: the next one) and done the replay and repeat checks. SRTCP in:
 * E = 1 only (SFU_EUNSUPP otherwise), the index is the packet's. */
int sfu_srtp_ossl_unprotect_rtp(sfu_srtp_ossl_t *o, uint8_t *buf, size_t *len, size_t hdr,
                                uint64_t idx);
int sfu_srtp_ossl_protect_rtp(sfu_srtp_ossl_t *o, uint8_t *buf, size_t *len, size_t hdr,
                              uint64_t idx);
int sfu_srtp_ossl_unprotect_rtcp(sfu_srtp_ossl_t *o, uint8_t *buf, size_t *len);
int sfu_srtp_ossl_protect_rtcp(sfu_srtp_ossl_t *o, uint8_t *buf, size_t *len, uint32_t idx);

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
