/* One attendee's WebRTC transport, sans-IO: an ICE-lite agent, a DTLS core and, once
 * DTLS is connected, an SRTP session, all on one BUNDLEd 5-tuple (RFC 8843).
 *
 * Inputs: datagrams (with their remote address, UDP or TCP) and timeouts, each with the
 * current time; user calls (renegotiate, close). Outputs, through sfu_transport_cbs_t:
 * datagrams to send, decrypted RTP/RTCP handed to the layer above, and lifecycle events.
 *
 *   packet ──classify (RFC 7983)──▶ STUN ─▶ ICE agent (USERNAME/MI/FINGERPRINT, consent)
 *                                  DTLS ─▶ DTLS core (only from an ICE-validated 5-tuple)
 *                                  SRTP/SRTCP ─▶ unprotect in place ─▶ on_rtp / on_rtcp
 *
 * Lifecycle: NEW → JOINED (DTLS connected: on_joined) → GONE. Exactly ONE on_departed per
 * transport, whatever happens, even for one that never joined (with joined = 0):
 *   LEFT     close_notify from the peer, or sfu_transport_close() (we send close_notify);
 *   DROPPED  consent lost (RFC 7675: 30 s without a valid binding request), no DTLS
 *            connection within SFU_TRANSPORT_CONNECT_TIMEOUT_US, a peer certificate that
 *            does not match the offered fingerprint, any DTLS failure.
 * After on_departed the transport is inert (drops input, no deadline); the owner frees it
 * when convenient — never from inside a callback.
 *
 * "A stream arrives at a meeting" is kept apart from "from which transport" (roadmap.md):
 * on_rtp/on_rtcp hand plain packets upward with the transport as an opaque origin; what
 * the layer above does with them (route, mix) is not this module's business.
 *
 * Validated 5-tuples: at most SFU_TRANSPORT_MAX_ADDRS, the least recently checked
 * non-selected one replaced first; one other than the selected pair is dropped when no
 * valid check came from it for the consent timeout (RFC 7675); one that is another
 * transport's selected pair with fresh consent is never taken over. Each removal is
 * reported through the table's hook (transport_table.h): the loop closes the ICE-TCP
 * connection of that 5-tuple, so a transport holds at most SFU_TRANSPORT_MAX_ADDRS
 * connections, none idle past consent, none after it is gone.
 *
 * Ownership: created and freed by the media loop that owns the attendee's meeting
 * (sfu_transport_new / sfu_transport_free); touched only by that loop's thread. It keeps
 * its own entries in the loop's sfu_transport_table_t up to date (ufrag always, 5-tuples
 * once validated), and removes them when it departs or is freed. The certificate is
 * shared read-only by every loop and must outlive every transport. */
#ifndef SFU_TRANSPORT_H
#define SFU_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "sfu/addr.h"
#include "sfu/fingerprint.h"
#include "sfu/transport_table.h"

struct sfu_dtls_cert;

/* RFC 7675 §5.1: consent expires 30 s after the last valid request. DTLS must complete
 * within the same time after the transport is created or an ICE restart begins. */
#define SFU_TRANSPORT_CONNECT_TIMEOUT_US (30ull * 1000000ull)
/* 5-tuples from which ICE accepted a request (UDP host, UDP srflx, TCP, …); DTLS and
 * SRTP are accepted from any of them, the selected one gets what we send. */
#define SFU_TRANSPORT_MAX_ADDRS 4
#define SFU_ICE_UFRAG_LEN 16  /* ours; RFC 8445 §5.3 wants >= 4 chars, 24 bits; 96 bits here so that
                               * the per-loop ufrag index never collides */
#define SFU_ICE_PWD_LEN 24    /* ours; RFC 8445 §5.3 wants >= 22 chars, 128 bits */

typedef struct sfu_transport sfu_transport_t;

typedef enum {
  SFU_DEPART_LEFT = 0, /* orderly: close_notify either way */
  SFU_DEPART_DROPPED,  /* consent lost, connect timeout, DTLS failure or fingerprint mismatch */
} sfu_depart_kind_t;

/* Every counter is cumulative for this transport. */
typedef struct {
  uint64_t packets_in, bytes_in;   /* datagrams routed to this transport, except refused
                                      STUN checks (anyone who knows the ufrag can send those) */
  uint64_t stun_requests;          /* binding requests received (valid or not) */
  uint64_t stun_rejected;          /* of which refused: by the ICE agent, or stun_addr_taken */
  uint64_t stun_addr_taken;        /* of which from a 5-tuple that is another transport's
                                      selected pair with fresh consent (not taken over) */
  uint64_t stun_errors_out;        /* STUN error responses sent (not in packets_out) */
  uint64_t dtls_in;                /* DTLS records datagrams */
  uint64_t rtp_in, rtcp_in;        /* SRTP / SRTCP datagrams received */
  uint64_t decrypted, decrypted_bytes; /* RTP+RTCP successfully unprotected (plain bytes) */
  uint64_t decrypt_failures;       /* unprotect failed (auth, replay, before keys) */
  uint64_t dtls_failures;          /* handshake/record failures, fingerprint mismatches included */
  uint64_t fingerprint_mismatches;
  uint64_t dropped;                /* unknown kind, not from a validated 5-tuple, after departure */
  uint64_t packets_out, bytes_out;
  /* Data channels (SCTP over DTLS, sctp.h). data_channels is a gauge: open now (0 once
   * the transport is gone); the others are cumulative. */
  uint64_t data_channels;
  uint64_t data_messages_in, data_bytes_in; /* user messages (PPID 51/53/56/57) */
  uint64_t data_messages_out, data_bytes_out; /* accepted by sfu_transport_send_data */
  uint64_t data_send_blocked; /* refused with SFU_EAGAIN: the association's send buffer
                                 was full (backpressure, sctp.h) */
} sfu_transport_stats_t;

typedef struct {
  /* A datagram to `to` (UDP or TCP per to->proto). buf is only valid during the call. */
  void (*send_cb)(void *user, sfu_transport_t *t, const sfu_addr_t *to, const uint8_t *buf,
                  size_t len);
  /* DTLS connected and SRTP keyed. */
  void (*on_joined_cb)(void *user, sfu_transport_t *t);
  /* Exactly once per transport. joined: whether on_joined_cb fired before. err: the cause
   * (0 for LEFT, SFU_EAUTH fingerprint mismatch, SFU_ECLOSED consent/timeout, other). */
  void (*on_departed_cb)(void *user, sfu_transport_t *t, sfu_depart_kind_t kind, int joined,
                         int err);
  /* Decrypted RTP / RTCP, in place in the receive buffer (the callee may modify it). */
  void (*on_rtp_cb)(void *user, sfu_transport_t *t, uint64_t now_us, uint8_t *buf, size_t len);
  void (*on_rtcp_cb)(void *user, sfu_transport_t *t, uint64_t now_us, uint8_t *buf, size_t len);
  /* DTLS application data (SCTP, a later issue). Optional. */
  void (*on_app_data_cb)(void *user, sfu_transport_t *t, const uint8_t *buf, size_t len);
  void *user;
  /* (After `user` so that existing positional initialisers stay valid.) A whole data-
   * channel message once SCTP is set up (sfu_transport_set_sctp): stream id, PPID
   * (51 string, 53 binary, 56/57 empty), bytes valid during the call. Optional; the
   * data-message relay (roadmap item 5) sits here. Never free the transport from it. */
  void (*on_data_message_cb)(void *user, sfu_transport_t *t, uint16_t stream, uint32_t ppid,
                             const uint8_t *buf, size_t len);
  /* Backpressure relief: after sfu_transport_send_data returned SFU_EAGAIN, the
   * association's buffered amount fell to its low-water mark (sfu_sctp_cbs_t
   * on_writable_cb); `buffered` is that amount. Once per block. The callee may send;
   * never free the transport from it. Optional. */
  void (*on_data_writable_cb)(void *user, sfu_transport_t *t, size_t buffered);
  /* issue 10: the channel the worker sends on (sfu_transport_data_channel) changed: the
   * first channel the client opened is now open (stream >= 0), or it closed (-1). Called
   * after usrsctp returned (sends are allowed). Optional; never free the transport from it. */
  void (*on_data_channel_cb)(void *user, sfu_transport_t *t, int stream);
} sfu_transport_cbs_t;

/* What the offer says about the remote side of the transport. The DTLS fingerprints are
 * the offered set (RFC 8122 §5, sfu/fingerprint.h) or, when `fingerprints` is NULL, the
 * one fingerprint_alg/fingerprint pair. Read during the call only. */
typedef struct {
  const char *ice_ufrag, *ice_pwd;
  const char *fingerprint_alg; /* "sha-256" */
  const char *fingerprint;     /* "AB:CD:..." */
  const sfu_fingerprint_set_t *fingerprints;
} sfu_transport_remote_t;

/* Creates a transport with fresh local ICE credentials, registered in `table` under its
 * local ufrag. tag is an opaque pointer for the owner (e.g. its attendee). NULL on
 * failure (allocation, DTLS context, bad remote description). */
sfu_transport_t *sfu_transport_new(sfu_transport_table_t *table, const struct sfu_dtls_cert *cert,
                                   const sfu_transport_remote_t *remote,
                                   const sfu_transport_cbs_t *cbs, void *tag, uint64_t now_us);
/* Unregisters from the table and frees everything. No callback fires. */
void sfu_transport_free(sfu_transport_t *t);

/* A renegotiation on the same transport (same DTLS association). Remote ICE credentials
 * that differ from the current ones start an ICE restart (RFC 8445 §9): new local
 * credentials too (the table is re-keyed), validated 5-tuples kept until the new ones
 * arrive. *restarted tells which. The re-offer's fingerprint set replaces the old one. A
 * set that is not sfu_transport_same_fingerprint's is SFU_EINVAL: that is a new device, a
 * new transport (the caller decides). */
int sfu_transport_renegotiate(sfu_transport_t *t, const sfu_transport_remote_t *remote,
                              uint64_t now_us, int *restarted);

/* Whether an offer with this fingerprint set comes from the device this transport is for:
 * once DTLS is connected, whether the certificate it authenticated matches the set
 * (RFC 8122 §5 rule, so a re-offer may add or drop hashes of the same certificate);
 * before, whether the set shares a fingerprint with the current one. */
int sfu_transport_same_fingerprint(const sfu_transport_t *t, const sfu_fingerprint_set_t *set);

/* Orderly close: sends close_notify if DTLS is up, departs with LEFT (err 0). */
void sfu_transport_close(sfu_transport_t *t, uint64_t now_us);
/* The owner gives up on a peer that stopped taking what it is sent (issue 10: a data
 * receiver stuck past the limit): close_notify if DTLS is up, departs with DROPPED and
 * err, like a transport whose consent lapsed. */
void sfu_transport_drop(sfu_transport_t *t, uint64_t now_us, int err);

/* A datagram for this transport (already routed). buf may be modified in place (SRTP).
 * 0 if consumed, negative if dropped (counted). */
int sfu_transport_handle_input(sfu_transport_t *t, uint64_t now_us, const sfu_addr_t *from,
                               uint8_t *buf, size_t len);
void sfu_transport_handle_timeout(sfu_transport_t *t, uint64_t now_us);
uint64_t sfu_transport_next_deadline(const sfu_transport_t *t); /* UINT64_MAX if none */

/* Routes a datagram that arrived on a loop's socket: classify (RFC 7983 §7), STUN by the
 * local ufrag of USERNAME, anything else by 5-tuple, then handle_input. Returns the
 * transport that consumed it, or NULL if it was dropped (unknown 5-tuple, not STUN for a
 * known ufrag, garbage) — without allocating. */
sfu_transport_t *sfu_transport_dispatch(sfu_transport_table_t *table, uint64_t now_us,
                                        const sfu_addr_t *from, uint8_t *buf, size_t len);

/* Protects and sends RTP / RTCP to the selected 5-tuple (later issues: forwarding, mix).
 * buf needs cap >= len + 16 for the auth tag. SFU_ESTATE before joined. */
int sfu_transport_send_rtp(sfu_transport_t *t, uint8_t *buf, size_t len, size_t cap);
int sfu_transport_send_rtcp(sfu_transport_t *t, uint8_t *buf, size_t len, size_t cap);

/* The negotiated id of the transport-wide-cc header extension (0 = none): the transport
 * then answers the sender's packets with transport-cc feedback (twcc_recv.h). */
void sfu_transport_set_twcc_ext(sfu_transport_t *t, uint8_t ext_id);

/* The negotiated answer has an application m-section (SCTP over DTLS, RFC 8841): once
 * DTLS is connected (now, if it already is) the transport opens an SCTP association
 * (server role: the client sends INIT) in `group` (the loop's, sctp.h) on our port
 * local_port and the peer's remote_port (0 = 5000), and DTLS application data goes to
 * it instead of on_app_data_cb. Later calls (renegotiation) change nothing. */
struct sfu_sctp_group;
int sfu_transport_set_sctp(sfu_transport_t *t, struct sfu_sctp_group *group, uint16_t local_port,
                           uint16_t remote_port, uint32_t remote_max_message_size, uint64_t now_us);

/* ---- figures ---- */
const sfu_transport_stats_t *sfu_transport_stats(const sfu_transport_t *t);
void *sfu_transport_tag(const sfu_transport_t *t);
const char *sfu_transport_local_ufrag(const sfu_transport_t *t);
const char *sfu_transport_local_pwd(const sfu_transport_t *t);
const char *sfu_transport_ice_state(const sfu_transport_t *t);
const char *sfu_transport_dtls_state(const sfu_transport_t *t);
/* NULL until nominated. */
const sfu_addr_t *sfu_transport_selected(const sfu_transport_t *t);
/* "" until joined, else "AEAD_AES_128_GCM" / "AES_CM_128_HMAC_SHA1_80". */
const char *sfu_transport_srtp_profile(const sfu_transport_t *t);
int sfu_transport_joined(const sfu_transport_t *t);
int sfu_transport_gone(const sfu_transport_t *t);
/* "none" (no association), "connecting", "established", "closed". */
const char *sfu_transport_sctp_state(const sfu_transport_t *t);
/* The association, or NULL (for sfu_sctp_send by the data-message relay, later). */
struct sfu_sctp *sfu_transport_sctp(const sfu_transport_t *t);
/* The stream of the first data channel the client opened, while it is open; -1 if none
 * (the channel the worker's own messages go on: sfu:audio, issue 9). */
int sfu_transport_data_channel(const sfu_transport_t *t);

/* ---- data channels: sending with backpressure (issue 10's relay) ----
 * One message on `stream` (< 0: the first channel the client opened, see above) with
 * PPID 51 (string) or 53 (binary). 0 when usrsctp took it; SFU_ENOENT no such open
 * channel (none opened yet, or closed), SFU_ESTATE no association / not established /
 * transport gone, SFU_ETOOBIG over the client's a=max-message-size (RFC 8841 §6.1: 64 KiB
 * when absent) or the send buffer, SFU_EAGAIN the send buffer is full: backpressure,
 * nothing queued; drop it or keep it and wait for on_data_writable_cb — never retry in
 * a loop. Counted in data_messages_out / data_send_blocked. */
int sfu_transport_send_data(sfu_transport_t *t, uint64_t now_us, int stream, uint32_t ppid,
                            const uint8_t *buf, size_t len);
/* Bytes the association holds (queued + unacknowledged, sfu_sctp_buffered_amount); 0
 * without one. */
size_t sfu_transport_data_buffered(const sfu_transport_t *t);
/* Whether a send got SFU_EAGAIN and on_data_writable_cb has not fired since. */
int sfu_transport_data_blocked(const sfu_transport_t *t);
/* The association's send buffer and low-water mark (bytes; 0 = sctp.h's defaults:
 * SFU_SCTP_SEND_BUFFER, a quarter of it). Takes effect for an association created
 * after the call (set it before sfu_transport_set_sctp); the low-water mark also for a
 * live one. */
void sfu_transport_set_data_buffer(sfu_transport_t *t, uint32_t send_buffer, uint32_t low_water);
/* The SRTP session (its stats: SSRCs live, evicted, ended by BYE), NULL before joined. */
struct sfu_srtp *sfu_transport_srtp(const sfu_transport_t *t);

#endif
