/* SRTP/SRTCP (RFC 3711, AES-GCM RFC 7714) for one DTLS-SRTP transport, over libsrtp2.
 *
 * Keys come from the DTLS exporter (sfu/srtp_keys.h, RFC 5764 §4.2). Two libsrtp
 * sessions per transport: libsrtp allows one wildcard-SSRC template per session, so
 * inbound (ssrc_any_inbound, peer's key) and outbound (ssrc_any_outbound, our key) are
 * separate. Every packet is protected or unprotected in place: no allocation per packet
 * (libsrtp allocates a stream context the first time it sees an SSRC, i.e. per stream,
 * and only after that packet authenticated).
 *
 * Thread rules: sfu_srtp_global_init() once, from the main thread, before any loop
 * starts (srtp_init sets up libsrtp's global crypto kernel and is not thread-safe);
 * sfu_srtp_global_shutdown() after every loop has stopped. A sfu_srtp_t belongs to one
 * transport, touched only by its loop thread. Sessions on different threads are
 * independent.
 *
 * API CHANGE vs /tmp/proto-apis.md: additions only — sfu_srtp_stats, sfu_srtp_remove_ssrc,
 * sfu_srtp_trailer_len; errors SFU_EAUTH (authentication failed) and SFU_EREPLAY.
 *
 * Backends (additions): the default transforms are the project's own, on OpenSSL 3 EVP
 * (src/proto/srtp_ossl.c: RFC 3711 key derivation, ROC, replay windows; no allocation per
 * packet). libsrtp2 stays available (sfu_srtp_set_backend, worker flag --srtp-backend) and
 * is the tests' independent oracle. Debian's libsrtp2 runs on NSS and allocates per packet
 * (docs/benchmarks.md).
 *
 * Per-SSRC state (issue 6), the same for both backends (src/proto/srtp.c keeps it): at
 * most SFU_SRTP_MAX_STREAMS_IN live inbound SSRCs per transport and
 * SFU_SRTP_MAX_STREAMS_OUT outbound. An SSRC ends by sfu_srtp_remove_ssrc (the transport
 * calls it on an authenticated RTCP BYE), or, when a new SSRC finds the table full, the
 * least recently used one is evicted. Either way its state shrinks to a 16-byte tombstone
 * of its highest indexes, so that an ended SSRC's old packets stay refused as replays and
 * none of its indexes is protected twice should it come back (it then continues where it
 * stopped, ROC included). A new SSRC gets state only after its packet authenticated, so
 * nobody without the keys can evict anything; the tombstones of the last
 * SFU_SRTP_MAX_TOMBS ended SSRCs are kept. A new SSRC may grow a small table (the only
 * allocation, at most a few times per transport). */
#ifndef SFU_SRTP_H
#define SFU_SRTP_H

#include <stddef.h>
#include <stdint.h>

#include "sfu/srtp_keys.h"

int sfu_srtp_global_init(void);
void sfu_srtp_global_shutdown(void);

typedef enum { SFU_SRTP_BACKEND_OPENSSL = 0, SFU_SRTP_BACKEND_LIBSRTP = 1 } sfu_srtp_backend_t;
/* The backend sfu_srtp_new uses from now on (default OpenSSL). Main thread, once, before
 * any loop starts (a plain global, not synchronised). SFU_EINVAL for an unknown value. */
int sfu_srtp_set_backend(sfu_srtp_backend_t b);
sfu_srtp_backend_t sfu_srtp_get_backend(void);
/* "openssl" / "libsrtp" (flag values), "unknown" otherwise; parse: 0 or SFU_EINVAL. */
const char *sfu_srtp_backend_name(sfu_srtp_backend_t b);
int sfu_srtp_backend_parse(const char *s, sfu_srtp_backend_t *out);

typedef struct sfu_srtp sfu_srtp_t;

#define SFU_SRTP_MAX_STREAMS_IN 64   /* the peer's SSRCs live at once: the peer is untrusted */
#define SFU_SRTP_MAX_STREAMS_OUT 512 /* ours: every forwarded stream + RTX to a subscriber */
/* Protecting an index again is allowed only with identical bytes, and only for the last
 * SFU_SRTP_TX_TAGS indexes of the SSRC (see sfu_srtp_protect_rtp). */
#define SFU_SRTP_TX_TAGS 64

typedef struct {
  uint64_t rtp_in, rtcp_in, rtp_out, rtcp_out; /* packets that succeeded */
  uint64_t auth_fail, replay, other_fail;      /* inbound failures */
  uint64_t ssrcs_in, ssrcs_out;                /* gauges: SSRCs with live state */
  uint64_t ssrcs_evicted;                      /* least recently used, for a new one */
  uint64_t ssrcs_ended;                        /* by sfu_srtp_remove_ssrc (RTCP BYE) */
} sfu_srtp_stats_t;

/* is_server: our outbound key is the server's (RFC 5764 §4.2: the DTLS server's
 * SRTP write key is server_write_SRTP_master_key). NULL on bad keys or no memory. */
sfu_srtp_t *sfu_srtp_new(const sfu_srtp_keys_t *keys, int is_server);
/* The same with an explicit backend (tests, bench: both side by side). */
sfu_srtp_t *sfu_srtp_new_backend(const sfu_srtp_keys_t *keys, int is_server,
                                 sfu_srtp_backend_t backend);
void sfu_srtp_free(sfu_srtp_t *s);
sfu_srtp_backend_t sfu_srtp_backend(const sfu_srtp_t *s);

/* In place. Unprotect: *len shrinks to the plain packet; SFU_EAUTH (tampered / wrong
 * key), SFU_EREPLAY (seen before or too old for the 1024-packet window), SFU_EPARSE
 * (too short to be SRTP), SFU_EUNSUPP (SRTCP with E = 0, i.e. not encrypted: refused by
 * both backends, RFC 3711 §3.4 — every WebRTC sender encrypts SRTCP; libsrtp2 refuses a
 * packet whose E flag disagrees with its policy; on the libsrtp backend also an SSRC
 * back from a tombstone past its first ROC, which libsrtp2 cannot resume),
 * SFU_ECRYPTO otherwise. On failure the buffer may have been altered (GCM decrypts
 * before the tag check ends): drop it. */
int sfu_srtp_unprotect_rtp(sfu_srtp_t *s, uint8_t *buf, size_t *len);
int sfu_srtp_unprotect_rtcp(sfu_srtp_t *s, uint8_t *buf, size_t *len);
/* In place; buf must have room for the trailer: SFU_ETOOBIG if *len + trailer > cap.
 * RTP: an index (SSRC, ROC, sequence number) already protected is refused with
 * SFU_EREPLAY unless the bytes are identical — with GCM a second plaintext under one
 * nonce reveals the authentication key, with AES-CM it is a two-time pad. Identical bytes
 * (a NACK answered on the same SSRC) are allowed for the last SFU_SRTP_TX_TAGS indexes;
 * older ones, and any index older than the 1024-packet window, are refused (a late
 * retransmission goes on RTX, RFC 4588, under a new index). On refusal nothing protected
 * is left in buf (zeroed) and *len is unchanged. SFU_EUNSUPP on the libsrtp backend only:
 * an SSRC back from a tombstone that libsrtp2 cannot resume without reusing an index
 * (past its first ROC; SRTCP once it had sent any). */
int sfu_srtp_protect_rtp(sfu_srtp_t *s, uint8_t *buf, size_t *len, size_t cap);
int sfu_srtp_protect_rtcp(sfu_srtp_t *s, uint8_t *buf, size_t *len, size_t cap);

/* Bytes protect adds: RTP 10 (AES_CM_80) / 16 (GCM); RTCP adds the 4-byte index too. */
size_t sfu_srtp_trailer_len(const sfu_srtp_t *s, int rtcp);
/* Ends an SSRC (inbound or outbound): an RTCP BYE from the peer, a stream dropped by
 * renegotiation. Its state shrinks to a tombstone (see above): its old packets stay
 * replays, its used indexes stay used. SFU_ENOENT if it has no live state. */
int sfu_srtp_remove_ssrc(sfu_srtp_t *s, uint32_t ssrc, int outbound);
const sfu_srtp_stats_t *sfu_srtp_stats(const sfu_srtp_t *s);

/* "AEAD_AES_128_GCM" / "AES_CM_128_HMAC_SHA1_80" (SDP/RFC names), "unknown" otherwise. */
const char *sfu_srtp_profile_name(sfu_srtp_profile_t p);

#endif
