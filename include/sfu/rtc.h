/* The WebRTC side of one media loop: which attendee has which transport, the Subscribe
 * offer/answer, the transports' timers, and the media events (Joined / Left / Dropped /
 * Authorized). Pure logic between the session (meetings, attendees, join tokens) and the
 * transport composite (transport.h): no libuv, no JSON, no clock.
 *
 * The worker feeds it datagrams (sfu_rtc_input), fires its timer (sfu_rtc_next_deadline /
 * sfu_rtc_handle_timeout), and gives it a send callback that writes to the loop's UDP
 * socket or TCP connection. Events come out through on_event_cb, in the same sfu_event_t
 * form as the session's (the control layer turns both into JSON).
 *
 * Departure rules (one departure event per joined transport, never two):
 *   close_notify from the client, or LeaveMeeting        → AttendeeLeft
 *   consent lost, DTLS failure, fingerprint mismatch      → AttendeeDropped
 *   a Subscribe with a new DTLS fingerprint (new device)  → AttendeeLeft for the old
 *       transport if it had joined, then AttendeeAuthorized for the new one
 *   DeleteAttendee / DeleteMeeting / meeting end          → the transport is closed with
 *       close_notify and NO Left/Dropped: AttendeeDeleted (emitted by the session before
 *       the attendee is freed) is that attendee's final event.
 * A transport that never reached DTLS connected emits no departure event at all.
 *
 * Timers: transports sit in a binary min-heap keyed by their next deadline; the deadline
 * is re-read after every call into a transport (O(1) when unchanged, O(log n) when it
 * moved), so next_deadline is O(1) and a timeout pops only the due transports.
 *
 * Ownership: one per media loop, created and freed by the loop, touched only by its
 * thread. It owns the transports; the session owns the attendees. a->transport points
 * to this module's per-attendee record while the attendee has a live transport. */
#ifndef SFU_RTC_H
#define SFU_RTC_H

#include <stddef.h>
#include <stdint.h>

#include "sfu/addr.h"
#include "sfu/audio_in.h"
#include "sfu/data_relay.h"
#include "sfu/mixer.h"
#include "sfu/router.h"
#include "sfu/session.h"
#include "sfu/transport.h"
#include "sfu/transport_table.h"

struct sfu_dtls_cert;
typedef struct sfu_rtc sfu_rtc_t;

typedef struct {
  const char *announce_ip; /* host candidate address in answers */
  uint16_t udp_port;       /* 0 = no UDP candidate */
  uint16_t tcp_port;       /* 0 = no TCP candidate */
  /* issue 9: the meetings' audio mixers (rtc_mixer.c): answers declare the worker's
   * mixed audio stream (rtc_audio.c), each connected attendee's Opus goes into its
   * meeting's mixer and the mix comes back. Off (0, the zero value of the struct): audio
   * is answered as before and its packets dropped. The worker turns it on unless
   * SFU_AUDIO_MIXER=0 (docs/operations.md). */
  uint8_t audio_mixer;
  /* The wall clock (µs since the Unix epoch) minus the now_us clock the caller passes in:
   * the envelopes' timestampMs (docs/data-messages.md) is (now_us + wall_offset_us) / 1000,
   * so the core reads no clock. The worker measures it when the loop starts
   * (loop_media.c); tests leave 0 (their virtual clock is the epoch). */
  int64_t wall_offset_us;
  /* The viewers' pacers' burst (router.h pace_burst_us; the worker's --pacer-burst-ms);
   * 0: the pacer's default, 5 ms. */
  uint64_t pacer_burst_us;
} sfu_rtc_config_t;

typedef struct {
  /* A datagram for `to` (UDP, or a TCP connection: the worker adds RFC 4571 framing). */
  void (*send_cb)(void *user, const sfu_addr_t *to, const uint8_t *buf, size_t len);
  /* Joined / Left / Dropped / Authorized. May call into the session? No: events are
   * emitted after the session state is updated; the callee must not call back here. */
  void (*on_event_cb)(void *user, const sfu_event_t *ev);
  void *user;
  /* (After `user` so that positional initialisers stay valid.) A 5-tuple no transport
   * accepts any more (transport.h: departure, replacement, consent expiry): the worker
   * closes the ICE-TCP connection it was. Optional. */
  void (*on_addr_released_cb)(void *user, const sfu_addr_t *addr);
} sfu_rtc_cbs_t;

/* Figures of a loop: live transports plus the totals of those already freed. */
typedef struct {
  uint64_t transports;      /* live now */
  uint64_t joined;          /* live and DTLS-connected */
  uint64_t created;         /* since start */
  sfu_transport_stats_t sum;
  uint64_t unrouted;        /* datagrams no transport claimed (unknown 5-tuple / ufrag) */
} sfu_rtc_stats_t;

sfu_rtc_t *sfu_rtc_new(sfu_session_t *session, const struct sfu_dtls_cert *cert,
                       const sfu_rtc_config_t *cfg, const sfu_rtc_cbs_t *cbs);
/* Frees every transport (no events). Call after the session is freed or before? Before:
 * sfu_session_free calls sfu_rtc_attendee_removed for each attendee. Either order works. */
void sfu_rtc_free(sfu_rtc_t *r);

/* Subscribe (docs/control-api.md): authenticates the join token, parses the offer,
 * creates or renegotiates the attendee's transport and writes the answer (malloc'd,
 * caller frees). Errors, with "<Field>: <why>" in err: SFU_ENOENT (meeting/attendee),
 * SFU_EPERM (token), SFU_EINVAL/SFU_EPARSE/SFU_EUNSUPP/SFU_ELIMIT (offer), SFU_ENOMEM. */
/* What a Subscribe asks to receive (ReceiveStreamIds, docs/control-api.md), and what it
 * got besides the answer. */
typedef struct {
  uint32_t stream_id;
  int8_t max_layer; /* -1: no cap */
  uint16_t max_height; /* 0: no cap; else layers taller than this are not sent (issue 8) */
  int8_t priority;     /* -100..100, higher first in the viewer's allocation; default 0 */
} sfu_rtc_recv_t;

typedef struct {
  uint8_t has_receive; /* ReceiveStreamIds given; absent = receive nothing */
  size_t n_receive;    /* <= SFU_ROUTER_MAX_VIEWS */
  sfu_rtc_recv_t receive[SFU_ROUTER_MAX_VIEWS];
} sfu_rtc_sub_req_t;

typedef struct {
  uint32_t published_stream_id; /* 0: the offer publishes no video (or it was refused) */
  char publish_mid[SFU_ROUTER_MID_MAX];
  int publish_err;              /* 0, or SFU_ELIMIT / SFU_EPERM: video refused, the rest
                                   of the offer answered as usual */
  char publish_errmsg[200];
  size_t n_views;               /* receiving video sections, offer order */
  sfu_router_view_out_t views[SFU_ROUTER_MAX_VIEWS];
  /* attendee ids in views[] point into this copy (stable after the call) */
  char view_attendee[SFU_ROUTER_MAX_VIEWS][SFU_ATTENDEE_ID_LEN + 1];
} sfu_rtc_sub_result_t;

/* req may be NULL (receive nothing), res may be NULL. An unknown stream id in req is
 * SFU_ENOENT ("ReceiveStreamIds: ..."); more than SFU_ROUTER_MAX_VIEWS is SFU_EINVAL. */
int sfu_rtc_subscribe(sfu_rtc_t *r, const char *meeting_id, const char *attendee_id,
                      const char *token, size_t token_len, const char *sdp, size_t sdp_len,
                      const sfu_rtc_sub_req_t *req, uint64_t now_us, char **answer,
                      sfu_rtc_sub_result_t *res, char *err, size_t errlen);
/* The meeting's video router (NULL if it has none yet: nothing published or viewed). */
const sfu_router_t *sfu_rtc_meeting_router(const sfu_rtc_t *r, const sfu_meeting_t *m);
/* The attendee's peer in its meeting's router, NULL if none. */
const sfu_router_peer_t *sfu_rtc_attendee_peer(const sfu_attendee_t *a);
/* Capabilities changed (UpdateAttendeeCapabilities): the router follows at once. */
void sfu_rtc_attendee_caps_changed(sfu_rtc_t *r, sfu_attendee_t *a, uint64_t now_us);
/* The session ends a meeting: its router goes (after its attendees' transports). */
void sfu_rtc_meeting_removed(sfu_rtc_t *r, sfu_meeting_t *m);
/* LeaveMeeting: closes the attendee's transport with close_notify (AttendeeLeft if it had
 * joined). SFU_ENOENT if the meeting or attendee does not exist; 0 if it had no transport. */
int sfu_rtc_leave(sfu_rtc_t *r, const char *meeting_id, const char *attendee_id, uint64_t now_us,
                  char *err, size_t errlen);
/* From the session's on_attendee_removed_cb: closes the transport silently (see above). */
void sfu_rtc_attendee_removed(sfu_rtc_t *r, sfu_attendee_t *a);

/* Loop shutdown: every transport closed with close_notify, silently (no events, no
 * session calls: the session is about to be freed without events too). */
void sfu_rtc_close_all(sfu_rtc_t *r);

/* What sfu_rtc_input did with a datagram. */
enum {
  SFU_RTC_DROPPED = 0, /* no transport took it (counted in unrouted) */
  SFU_RTC_ROUTED = 1,  /* a transport took it (e.g. a STUN check naming its ufrag), but
                          its 5-tuple is not validated: proves nothing about the sender */
  SFU_RTC_AUTHED = 2,  /* and its 5-tuple is validated: an ICE check from it passed
                          MESSAGE-INTEGRITY (now or before). An ICE-TCP connection is
                          authenticated by this, and by nothing less. */
};
/* A datagram from the loop's UDP socket or a TCP connection (from->proto). Returns one
 * of SFU_RTC_DROPPED / ROUTED / AUTHED. */
int sfu_rtc_input(sfu_rtc_t *r, uint64_t now_us, const sfu_addr_t *from, uint8_t *buf, size_t len);
void sfu_rtc_handle_timeout(sfu_rtc_t *r, uint64_t now_us);
uint64_t sfu_rtc_next_deadline(const sfu_rtc_t *r);

void sfu_rtc_stats(const sfu_rtc_t *r, sfu_rtc_stats_t *out);
/* The attendee's live transport, or NULL. */
const sfu_transport_t *sfu_rtc_attendee_transport(const sfu_attendee_t *a);
/* Calls cb for every live transport of the loop (not yet departed and freed), in
 * creation order, with the ids of the attendee it was created for. cb must not call
 * back into the rtc. O(live transports): for figures (GetWorkerStats), not per packet. */
typedef void (*sfu_rtc_transport_cb)(void *user, const char *meeting_id, const char *attendee_id,
                                     const sfu_transport_t *t);
void sfu_rtc_foreach_transport(const sfu_rtc_t *r, sfu_rtc_transport_cb cb, void *user);

/* ---- issue 9: audio (rtc_mixer.c) ---- */
/* The meeting's mixer, or NULL (switch off, or no attendee with audio connected). */
const sfu_mixer_t *sfu_rtc_meeting_mixer(const sfu_meeting_t *m);
/* One attendee's audio as the mixer wiring sees it (GetAttendeeStats "Audio"). */
typedef struct {
  uint8_t in_mixer;          /* it has a mixer attendee (connected, audio negotiated) */
  uint8_t can_send, can_receive; /* as given to the mixer */
  uint8_t has_in;            /* it sends audio: `in` is valid */
  sfu_audio_in_stats_t in;   /* its incoming stream */
  uint8_t has_signal;
  sfu_audio_signal_t signal; /* volume, muted, strength, speaker order */
  uint8_t talking;           /* mixed in the last tick */
  uint32_t mix_ssrc;         /* the mix stream sent to it */
  uint64_t mix_packets, mix_bytes; /* RTP packets / payload bytes of the mix sent to it */
  uint64_t srs_sent, rrs_in; /* RTCP sender reports sent for the mix; receiver-report
                                blocks about it received */
  float mix_loss;            /* last fraction lost it reported (0..1) */
  uint64_t rrs_sent;         /* report blocks about its own stream sent to it (in the
                                mix's SRs, or RRs when it gets no mix) */
  uint64_t signals_sent, signals_failed; /* sfu:audio messages on its data channel */
} sfu_rtc_audio_info_t;
/* 0, or SFU_ENOENT when the attendee has no transport (out zeroed). */
int sfu_rtc_attendee_audio(const sfu_attendee_t *a, uint64_t now_us, sfu_rtc_audio_info_t *out);

/* ---- issue 10: data messages (rtc_data.c, data_relay.h) ---- */
/* SendDataMessage: the control plane sends into a meeting (sender "sfu"). 0, or with
 * *code set and err filled: SFU_DATA_BAD_TOPIC / TOO_LARGE / BAD_REQUEST (the client's
 * rules, sfu_data_validate) or SFU_DATA_THROTTLED (the meeting's rate), returned as
 * SFU_EINVAL / SFU_ELIMIT; SFU_ENOENT (no meeting), SFU_ENOMEM. */
int sfu_rtc_send_data_message(sfu_rtc_t *r, const char *meeting_id, const char *topic,
                              size_t topic_len, const char *data, size_t data_len,
                              int64_t lifetime_ms, uint64_t now_us, int *code, char *err,
                              size_t errlen);
/* The meeting's relay figures; 0, or SFU_ENOENT while it has none (no data yet). */
int sfu_rtc_meeting_data_stats(const sfu_meeting_t *m, sfu_data_relay_stats_t *out);
/* One attendee's data figures; 0, or SFU_ENOENT while it has none. */
int sfu_rtc_attendee_data_stats(const sfu_attendee_t *a, sfu_data_peer_stats_t *out);

#endif
