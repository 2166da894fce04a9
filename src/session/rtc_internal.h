/* Internals of the loop's rtc shared by its files: rtc.c (transports, Subscribe, timers)
 * and rtc_video.c (the meetings' video routers, router.h). Loop thread only. */
#ifndef SFU_SESSION_RTC_INTERNAL_H
#define SFU_SESSION_RTC_INTERNAL_H

#include "sfu/audio_in.h"
#include "sfu/data_relay.h"
#include "sfu/dtls.h"
#include "sfu/list.h"
#include "sfu/rtc.h"
#include "sfu/rtp_recv_stats.h"
#include "sfu/sctp.h"
#include "sfu/sdp.h"

/* issue 9: the attendee's audio as negotiated in its last answer (rtc_audio.c), what the
 * mixer's wiring needs. Part of its transport record. */
typedef struct {
  int16_t opus_pt;        /* Opus PT of the section the client sends on; -1: it sends none */
  int16_t red_pt;         /* RFC 2198 red PT answered there (Opus inside); -1: none */
  uint8_t level_ext_id;   /* RFC 6464 ssrc-audio-level id there; 0: not negotiated */
  uint32_t client_ssrc;   /* its a=ssrc there; 0: not declared (the first packet tells) */
  int16_t mix_pt;         /* Opus PT of the section the client receives on; -1: none */
  uint8_t stereo;         /* it asked for a stereo mix there (stereo=1, RFC 7587 §6.1) */
  uint32_t worker_ssrc;   /* the mix's SSRC as declared in the answer; 0: none (mixer off,
                           * or the client receives no audio). Random (the CSPRNG, like
                           * the router's video sends), kept across re-offers. */
  char recv_mid[SFU_ROUTER_MID_MAX], send_mid[SFU_ROUTER_MID_MAX]; /* "" none */
} rtc_audio_t;

/* One transport and the attendee it serves. Owner: the rtc (live list, then dead list
 * until reaped); att is cleared when the attendee goes away first. Loop thread only. */
typedef struct rtc_rec {
  sfu_rtc_t *rtc;
  sfu_transport_t *tp;
  sfu_attendee_t *att; /* NULL once detached (deleted, replaced) */
  sfu_event_t ident;   /* ids for events, by value: valid after the attendee is gone */
  int silent;          /* departure emits no event (attendee deleted) */
  size_t heap_idx;
  uint64_t deadline;
  sfu_list_t link;     /* rtc->live or rtc->dead */
  uint64_t sdp_sess_id, sdp_version;
  /* issue 7: this attendee's peer in its meeting's video router (rtc_video.c) */
  struct rtc_router *rr;
  sfu_router_peer_t *peer;
  uint8_t content;        /* a "#content" attendee: content events instead */
  uint8_t video_pt[128];  /* payload types of its publishing section (media and RTX) */
  rtc_audio_t audio;      /* issue 9 (rtc_audio.c) */
  /* issue 9: this attendee in its meeting's mixer (rtc_mixer.c); all zero when not */
  struct {
    struct rtc_mixer *mx;       /* NULL: not in a mixer */
    sfu_mixer_attendee_t *ma;
    sfu_list_t link;            /* mx->recs */
    sfu_audio_in_t *in;         /* its incoming audio; NULL: it sends none */
    int16_t in_opus_pt, in_red_pt; /* what `in` was made for */
    uint32_t ssrc;              /* the mix's SSRC / PT the mixer attendee was made with */
    int16_t pt;
    uint8_t can_send, can_receive;
    uint8_t sent;               /* a mix packet went out: SRs are due */
    uint8_t primed;             /* its data channel got the complete signals snapshot */
    uint32_t last_ts;           /* RTP timestamp of the last mix packet, and when */
    uint64_t last_us;
    uint64_t packets, bytes;    /* RFC 3550 §6.4.1 sender's packet / octet counts */
    uint64_t srs_sent, rrs_in, signals_sent, signals_failed;
    float loss;
    /* its incoming Opus stream as a receiver sees it (RFC 3550 §6.4.1), for the report
     * blocks it gets once a second: fed with every packet `in` takes, and its SRs */
    sfu_recv_stats_t rs;
    uint64_t rrs_sent;          /* reports carrying a block about its stream */
    /* muted (rtc_mixer.c, apply_muted): the sender says so with RFC 6464 level 127
     * (level_muted; level_127_us: arrival of the first packet of the current run of
     * them, 0 when the last packet said otherwise), or its decoded audio has been
     * digital silence for 1 s (in_muted, audio_in's own detection) */
    uint64_t level_127_us;
    uint8_t level_muted, in_muted;
  } mix;
  /* issue 10: its attendee's peer in its meeting's data relay (rtc_data.c), set while
   * the peer is open on this transport (its first data channel is open); else NULL */
  struct {
    struct rtc_data *rd;
    sfu_data_peer_t *peer;
  } data;
} rtc_rec_t;

struct sfu_rtc {
  sfu_session_t *session;
  const sfu_dtls_cert_t *cert;
  sfu_rtc_config_t cfg;
  char announce_ip[64];
  sfu_rtc_cbs_t cbs;
  sfu_transport_table_t table;
  sfu_sctp_group_t *sctp; /* this loop's usrsctp share (sctp.h); NULL: no data channels */
  sfu_list_t live, dead;
  rtc_rec_t **heap; /* min-heap by deadline; transports without a deadline are absent */
  size_t heap_n, heap_cap;
  uint64_t last_now_us;
  sfu_rtc_stats_t closed; /* sums of the transports already freed */
  uint64_t created, unrouted;
  size_t n_recs; /* records allocated (live + dead): the heap never needs more slots */
  sfu_list_t routers;     /* rtc_router_t of the meetings that have one */
  uint64_t video_deadline;/* min of their deadlines (UINT64_MAX: none) */
  sfu_list_t mixers;      /* rtc_mixer_t of the meetings that have one (rtc_mixer.c) */
  uint64_t audio_deadline;/* min of their next ticks (UINT64_MAX: none) */
  uint8_t mix_buf[SFU_MIXER_RTP_MAX + 64]; /* a mix packet being protected (SRTP tag) */
  char *env_buf;          /* the sfu:audio envelope being sent; grows to its high-water */
  size_t env_cap;
  sfu_list_t datas;       /* rtc_data_t of the meetings that have a data relay (rtc_data.c) */
  uint64_t data_deadline; /* <= the earliest of their deadlines (UINT64_MAX: none) */
};

/* One meeting's video router, hung on meeting->media. */
typedef struct rtc_router {
  sfu_list_t link; /* rtc->routers */
  sfu_rtc_t *rtc;
  sfu_meeting_t *m;
  sfu_router_t *router;
  size_t peers;
} rtc_router_t;

void rtc_emit(sfu_rtc_t *r, rtc_rec_t *x, sfu_event_type_t type, uint64_t now_us);
/* rtc_video.c */
/* Between the probe answer and the final one: publish and set views from the negotiated
 * sections; fills the plan for the final answer (vp->n = 0: no video plan). */
typedef struct {
  sfu_sdp_plan_t plan[SFU_SDP_MAX_MEDIA];
  size_t n;
  char msid_stream[SFU_ROUTER_MAX_VIEWS][40], msid_track[SFU_ROUTER_MAX_VIEWS][40];
  char mid[SFU_SDP_MAX_MEDIA][SFU_ROUTER_MID_MAX]; /* the plan outlives the probe answer */
} rtc_video_plan_t;
int rtc_video_negotiate(sfu_rtc_t *r, rtc_rec_t *x, const sfu_sdp_answer_t *neg,
                        const sfu_rtc_sub_req_t *req, uint64_t now_us, rtc_video_plan_t *vp,
                        sfu_rtc_sub_result_t *res, char *err, size_t errlen);
void rtc_video_peer_gone(sfu_rtc_t *r, rtc_rec_t *x);
void rtc_video_joined(sfu_rtc_t *r, rtc_rec_t *x);
void rtc_video_on_rtp(void *user, sfu_transport_t *t, uint64_t now_us, uint8_t *buf, size_t len);
void rtc_video_on_rtcp(void *user, sfu_transport_t *t, uint64_t now_us, uint8_t *buf, size_t len);
void rtc_video_timeout(sfu_rtc_t *r, uint64_t now_us);
void rtc_video_free_all(sfu_rtc_t *r);
/* rtc_mixer.c (issue 9): the meetings' audio mixers. */
/* Brings x's mixer attendee in line with its state: in the mixer when the switch is on,
 * the transport is DTLS-connected and audio was negotiated; out otherwise. Idempotent;
 * called on join, after each Subscribe, on capability updates. */
void rtc_mixer_sync(sfu_rtc_t *r, rtc_rec_t *x, uint64_t now_us);
/* x leaves its mixer (departure, free); the mixer goes with its last attendee. */
void rtc_mixer_gone(sfu_rtc_t *r, rtc_rec_t *x);
/* Decrypted RTP: 1 if it was x's audio (consumed), else 0. */
int rtc_mixer_on_rtp(rtc_rec_t *x, uint64_t now_us, const uint8_t *buf, size_t len);
/* Decrypted RTCP: receiver reports about x's mix. Reads only. */
void rtc_mixer_on_rtcp(rtc_rec_t *x, uint64_t now_us, const uint8_t *buf, size_t len);
void rtc_mixer_timeout(sfu_rtc_t *r, uint64_t now_us);
void rtc_mixer_meeting_removed(sfu_rtc_t *r, sfu_meeting_t *m);
void rtc_mixer_free_all(sfu_rtc_t *r);
/* rtc_data.c (issue 10): the meetings' data-message relays. */
/* Transport callbacks (on_data_message_cb, on_data_channel_cb); user is the record. */
void rtc_data_on_message(void *user, sfu_transport_t *t, uint16_t stream, uint32_t ppid,
                         const uint8_t *buf, size_t len);
void rtc_data_on_channel(void *user, sfu_transport_t *t, int stream);
void rtc_data_on_writable(void *user, sfu_transport_t *t, size_t buffered);
/* x's transport departed or is freed: its peer closes (queue flushed). */
void rtc_data_gone(sfu_rtc_t *r, rtc_rec_t *x);
void rtc_data_attendee_removed(sfu_rtc_t *r, sfu_attendee_t *a);
void rtc_data_meeting_removed(sfu_rtc_t *r, sfu_meeting_t *m);
void rtc_data_timeout(sfu_rtc_t *r, uint64_t now_us);
void rtc_data_free_all(sfu_rtc_t *r);
/* One of the worker's own messages (the sfu:audio envelope) to x's first channel, under
 * the same queue and backpressure rules as relayed messages. *shared: see
 * sfu_data_relay_send_worker (the caller unrefs it after the last listener). 0 sent or
 * queued, negative dropped. */
int rtc_data_send_worker(sfu_rtc_t *r, rtc_rec_t *x, uint64_t now_us, const char *msg, size_t len,
                         sfu_data_msg_t **shared);
/* rtc_audio.c */
void rtc_audio_init(rtc_rec_t *x);
/* After rtc_video_negotiate, from the probe answer: with the mixer on (cfg.audio_mixer),
 * appends an entry per audio section to vp (the mix declared on the first section the
 * client receives on, with x's worker SSRC, allocated here once). Off: nothing. */
int rtc_audio_plan(sfu_rtc_t *r, rtc_rec_t *x, const sfu_sdp_answer_t *neg, rtc_video_plan_t *vp);
/* From the final answer: fills x->audio. */
void rtc_audio_record(rtc_rec_t *x, const sfu_sdp_answer_t *fin);

/* timestampMs of the worker's envelopes: wall-clock ms since the epoch, from the loop's
 * clock (sfu_rtc_config_t.wall_offset_us). */
static inline uint64_t rtc_wall_ms(const sfu_rtc_t *r, uint64_t now_us) {
  int64_t w = (int64_t)now_us + r->cfg.wall_offset_us;
  return w > 0 ? (uint64_t)w / 1000u : 0;
}

#endif
