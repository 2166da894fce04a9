/* The video router of one meeting (issue 7): the SFU. Publishers' video streams come in,
 * each viewer gets, per stream it subscribed to, one layer, rewritten into one continuous
 * outgoing stream of its own (SSRC, sequence numbers, timestamps, payload type, header
 * extensions, VP8 picture id). Pure logic, sans-IO: packets and now_us in; packets for
 * peers, events and a next deadline out. No libuv, no JSON, no clock.
 *
 *   publisher peer ──on_rtp──▶ stream (by mid/rid/SSRC) ─▶ layer ─▶ history (NACK/RTX)
 *                                                            └─▶ each viewer on the layer:
 *                                   copy into a scratch slot, rewrite, send_rtp (protect)
 *   viewer peer ──on_rtcp──▶ NACK → history; PLI/FIR → folded keyframe request; REMB →
 *                            layer choice
 *
 * The unit is a STREAM (one publisher's camera or content share), not a transport: a
 * peer is the router's view of one attendee's transport in this meeting, created and
 * destroyed by the layer above (src/session/rtc.c), which also turns send_rtp into SRTP
 * on that transport. "A stream arrives at the meeting" stays apart from "from which
 * transport" (roadmap.md), so a later pipe to a replica is one more peer.
 *
 * Ownership: one router per meeting, created lazily by the meeting's loop, touched only by
 * that loop's thread; it owns its peers, streams and viewer-streams. Callbacks are called
 * synchronously from inside router calls; they must not call back into the router except
 * where said. */
#ifndef SFU_ROUTER_H
#define SFU_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#include "sfu/rtp_ext.h"

#define SFU_ROUTER_MAX_LAYERS 3        /* simulcast layers per stream (requirements.md) */
#define SFU_ROUTER_MAX_STREAMS 25      /* published camera streams per meeting */
#define SFU_ROUTER_MAX_CONTENT 2       /* content shares per meeting */
#define SFU_ROUTER_MAX_VIEWS 25        /* streams one viewer receives */
#define SFU_ROUTER_RID_MAX 17          /* rid + NUL (RFC 8851: up to 16 here) */
#define SFU_ROUTER_MID_MAX 33          /* mid + NUL */
#define SFU_ROUTER_STOPPED_US (5ull * 1000000ull) /* no packets this long: video stopped */
#define SFU_ROUTER_OVER_BITRATE_US (5ull * 1000000ull) /* over the limit this long: drop */

typedef struct sfu_router sfu_router_t;
typedef struct sfu_router_peer sfu_router_peer_t;

/* What the router tells the layer above. */
typedef enum {
  SFU_ROUTER_EV_INDEX_CHANGED = 0, /* a stream appeared, disappeared or changed layers */
  SFU_ROUTER_EV_VIDEO_STARTED,     /* a stream's media started flowing (peer = publisher) */
  SFU_ROUTER_EV_VIDEO_STOPPED,     /* ... stopped: 5 s without packets, unpublished, gone */
  SFU_ROUTER_EV_SEND_REFUSED,      /* a stream refused (resolution over the meeting's
                                      limit): message says why, exactly as the reference */
  SFU_ROUTER_EV_DOWNLINK,          /* a viewer's estimate cannot carry even the lowest
                                      layers of what it subscribed (insufficient = 1), or
                                      again can (0). peer = the VIEWER. */
} sfu_router_event_kind_t;

typedef struct {
  sfu_router_event_kind_t kind;
  sfu_router_peer_t *peer; /* the publisher (NULL for INDEX_CHANGED) */
  void *peer_user;         /* its user pointer */
  uint32_t stream_id;      /* 0 for INDEX_CHANGED */
  uint8_t content;         /* the stream is a content share */
  const char *message;     /* SEND_REFUSED */
  /* DOWNLINK */
  uint8_t insufficient;
  uint64_t estimate_bps, required_bps;
  const uint32_t *paused;  /* stream ids paused for it */
  size_t n_paused;
} sfu_router_event_t;

typedef struct {
  /* An RTP / RTCP packet for `peer` (its peer_user): plain, in a scratch buffer of `cap`
   * bytes that the callee may protect in place (SRTP adds its tag). buf is only valid
   * during the call. Return 0 if sent, negative if refused (counted). */
  int (*send_rtp)(void *peer_user, uint8_t *buf, size_t len, size_t cap);
  int (*send_rtcp)(void *peer_user, uint8_t *buf, size_t len, size_t cap);
  void (*on_event)(void *user, const sfu_router_event_t *ev);
  void *user;
  /* An outgoing SSRC of `peer` ends (its view ended, after an RTCP BYE): its SRTP state
   * can go. Optional. */
  void (*release_ssrc)(void *peer_user, uint32_t ssrc);
} sfu_router_cbs_t;

typedef struct {
  /* The meeting's limits (requirements.md). */
  uint16_t video_max_width, video_max_height;     /* 0x0: no camera video at all */
  uint16_t content_max_width, content_max_height; /* 0x0: no content video */
  uint32_t max_stream_bitrate_bps;                /* 1,500,000 standard, 2,500,000 HD */
  size_t max_streams;                             /* camera streams, default 25 */
  /* The allocation's stability timers (allocator.h): 0 = its defaults (a layer proven
   * for 2 s, an up-switch held 1.5 s, 5 s calm after a down-switch); 1 = none at all (the
   * layer choice follows the budget at once: tests of forwarding mechanics). */
  uint8_t alloc_immediate;
  /* What one viewer receives of video in all, at most (the allocation's budget cap, the
   * probes' goal cap); 0 = 6 Mbps (requirements.md: receivers under about 6 Mbps). */
  uint32_t receive_bitrate_bps;
  /* What a viewer's pacer lets go at once, in µs of its rate (pacer.h's burst); 0 = 5 ms.
   * Issue 8 asks for bursts of a few ms; libwebrtc's own pacer allows 40 ms, which keeps
   * a frame in one GSO message (docs/benchmarks.md: the native cost of the two). */
  uint64_t pace_burst_us;
} sfu_router_config_t;

sfu_router_t *sfu_router_new(const sfu_router_config_t *cfg, const sfu_router_cbs_t *cbs);
/* Frees everything, peers included; no callback fires. */
void sfu_router_free(sfu_router_t *r);

/* ---- peers ---- */

typedef struct {
  const char *attendee_id;      /* copied */
  const char *external_user_id; /* copied */
  uint8_t content;              /* the attendee is "<id>#content" */
  uint8_t can_send, can_receive;/* the attendee's Video (or Content) capability */
} sfu_router_peer_desc_t;

sfu_router_peer_t *sfu_router_peer_new(sfu_router_t *r, const sfu_router_peer_desc_t *d,
                                       void *peer_user);
/* The transport is gone: its streams stop (VIDEO_STOPPED, INDEX_CHANGED), its views end,
 * the peer is freed. */
void sfu_router_peer_free(sfu_router_t *r, sfu_router_peer_t *p, uint64_t now_us);
/* The peer's transport can carry media (DTLS connected) or not any more. Views of a peer
 * that is not ready start nothing: a keyframe sent into a transport without keys is lost,
 * and the view would continue with frames the viewer cannot decode. Becoming ready asks
 * for a keyframe of every view's layer. Peers start not ready. */
void sfu_router_peer_set_ready(sfu_router_t *r, sfu_router_peer_t *p, int ready, uint64_t now_us);
/* Capabilities changed live (UpdateAttendeeCapabilities). */
void sfu_router_peer_set_caps(sfu_router_t *r, sfu_router_peer_t *p, uint8_t can_send,
                              uint8_t can_receive, uint64_t now_us);

/* ---- negotiation (one Subscribe) ---- */

/* One payload type a direction uses, with its RTX payload type. */
typedef struct {
  uint8_t pt;
  int16_t rtx_pt;             /* -1: none */
  uint32_t clock_rate;
  char name[8];               /* "VP8" "H264" "VP9" "AV1" */
  uint32_t rtcp_fb;           /* SFU_SDP_FB_* negotiated for it */
} sfu_router_codec_t;

/* A video m-section in which the client SENDS (sendonly/sendrecv in its offer). */
typedef struct {
  char mid[SFU_ROUTER_MID_MAX];
  size_t n_codecs;
  sfu_router_codec_t codecs[4];
  sfu_rtp_ext_map_t ext;      /* the section's negotiated extension ids */
  size_t n_rids;              /* simulcast: rids in a=simulcast order (0 = single stream) */
  char rids[SFU_ROUTER_MAX_LAYERS][SFU_ROUTER_RID_MAX];
  size_t n_ssrcs;             /* a=ssrc media SSRCs (single stream or legacy simulcast) */
  uint32_t ssrcs[SFU_ROUTER_MAX_LAYERS];
  uint32_t rtx_ssrcs[SFU_ROUTER_MAX_LAYERS]; /* a=ssrc-group:FID, 0 = none */
} sfu_router_pub_desc_t;

/* A video m-section in which the client RECEIVES (recvonly/sendrecv in its offer). */
typedef struct {
  char mid[SFU_ROUTER_MID_MAX];
  size_t n_codecs;
  sfu_router_codec_t codecs[8];
  sfu_rtp_ext_map_t ext;
  uint32_t stream_id;         /* 0: nothing to send on it (answered inactive) */
  int8_t max_layer;           /* -1: no cap; else 0 = lowest layer */
  uint16_t max_height;        /* 0: no cap; else layers taller are not sent */
  int priority;               /* allocation order among the viewer's streams, higher first */
} sfu_router_view_desc_t;

/* What the answer must declare for a receiving section (filled by set_views). */
typedef struct {
  char mid[SFU_ROUTER_MID_MAX];
  uint32_t stream_id;         /* 0: inactive */
  uint32_t ssrc, rtx_ssrc;    /* outgoing; rtx 0 when the section has no RTX */
  uint8_t pt;                 /* the payload type we send (the stream's codec) */
  char msid_stream[40], msid_track[40]; /* a=msid values */
  const char *attendee_id;    /* the stream's publisher (valid until the next call) */
} sfu_router_view_out_t;

/* Publishes what the peer sends: one entry per sending video section (at most one camera
 * or content stream per peer; SFU_ELIMIT with a message naming the limit when the
 * meeting has its max_streams already, SFU_EPERM when the peer may not send video).
 * Sections no longer listed are unpublished. Returns the StreamId (>0) through
 * stream_id. Errors leave the peer's previous publication as it was. */
int sfu_router_peer_publish(sfu_router_t *r, sfu_router_peer_t *p, const sfu_router_pub_desc_t *d,
                            size_t n, uint64_t now_us, uint32_t *stream_id, char *err,
                            size_t errlen);
/* Sets what the peer receives, one entry per receiving video section in offer order.
 * An unknown stream_id is SFU_ENOENT (err names it); nothing changes then. Views that
 * keep their mid and stream keep their outgoing SSRC and numbering; a mid that moves to
 * another stream starts a new outgoing stream (new SSRC). out[n] is filled. */
int sfu_router_peer_set_views(sfu_router_t *r, sfu_router_peer_t *p,
                              const sfu_router_view_desc_t *d, size_t n, uint64_t now_us,
                              sfu_router_view_out_t *out, char *err, size_t errlen);
/* 1 if stream_id is published in this meeting. */
int sfu_router_has_stream(const sfu_router_t *r, uint32_t stream_id);

/* ---- packets and time ---- */

/* Decrypted RTP / RTCP from the peer's transport (buf may be modified). */
void sfu_router_on_rtp(sfu_router_t *r, sfu_router_peer_t *p, uint64_t now_us, uint8_t *buf,
                       size_t len);
void sfu_router_on_rtcp(sfu_router_t *r, sfu_router_peer_t *p, uint64_t now_us,
                        const uint8_t *buf, size_t len);
void sfu_router_handle_timeout(sfu_router_t *r, uint64_t now_us);
uint64_t sfu_router_next_deadline(const sfu_router_t *r); /* UINT64_MAX if none */

/* ---- the index and figures ---- */

typedef struct {
  char rid[SFU_ROUTER_RID_MAX]; /* "" for a single stream */
  uint16_t width, height;       /* from the last keyframe; 0 until one came */
  uint32_t bitrate_bps;         /* measured over the last second */
  uint16_t frame_rate;          /* frames/s over the last second */
  uint8_t active;               /* packets within SFU_ROUTER_STOPPED_US */
  /* VP8 temporal layers flowing (TIDs 0..n_temporal-1; 0: none) and the bitrate of
   * TIDs <= t over the last second (what dropping frame rate leaves). */
  uint8_t n_temporal;
  uint32_t temporal_bps[4];
  /* counters */
  uint64_t packets, bytes, keyframes, nacks_out, padding_dropped;
} sfu_router_layer_info_t;

typedef struct {
  uint32_t stream_id;
  const char *attendee_id, *external_user_id; /* valid until the next router call */
  const char *mid;              /* the publisher's mid */
  uint8_t content;
  const char *codec;            /* "VP8" ... */
  size_t n_layers;              /* lowest first (a=simulcast order fixed by resolution) */
  sfu_router_layer_info_t layers[SFU_ROUTER_MAX_LAYERS];
  uint64_t dropped_bitrate, dropped_resolution, dropped_other;
  uint64_t duplicates;          /* packets whose sequence number was already received */
  uint64_t nacks_in, keyframe_requests_out;
  uint8_t refused;              /* over the resolution limit: not forwarded */
  /* The last REMB sent to the publisher for this stream (0: none): what its viewers
   * could use, or the meeting's limit (router_remb.c). */
  uint64_t remb_bps;
} sfu_router_stream_info_t;

typedef struct {
  const char *mid;              /* the viewer's mid */
  uint32_t stream_id;
  uint32_t ssrc;
  int8_t layer, target_layer;   /* -1: none yet */
  int8_t max_layer;
  uint8_t paused;               /* the allocation gives it nothing (downlink too small) */
  /* The highest VP8 temporal layer (TID) it is sent, -1 when the stream has none;
   * target_temporal: the allocation's, -1 all (temporal_filter.h). */
  int8_t temporal_layer, target_temporal;
  /* packets_out / bytes_out count what was handed to the viewer's pacer (sent at once or
   * queued; the pacer's own drops are in its downlink info) */
  uint64_t switches, keyframe_waits, packets_out, bytes_out, retransmissions, nacks_in,
      plis_in;
  uint64_t repairs_skipped; /* NACKed packets not re-sent (left layer, paused, down-switch) */
  uint64_t shed_packets;    /* not forwarded: a layer far over the budget, while a
                             * down-switch waited for the lower layer's keyframe */
} sfu_router_view_info_t;

/* Streams in StreamId order: i in [0, count). 0 or SFU_ENOENT. */
size_t sfu_router_stream_count(const sfu_router_t *r);
int sfu_router_stream_info(const sfu_router_t *r, size_t i, sfu_router_stream_info_t *out);
/* Bumped whenever INDEX_CHANGED fires. */
uint64_t sfu_router_index_version(const sfu_router_t *r);
/* The peer's own published stream(s) and views. */
size_t sfu_router_peer_pub_count(const sfu_router_peer_t *p);
int sfu_router_peer_pub_info(const sfu_router_t *r, const sfu_router_peer_t *p, size_t i,
                             sfu_router_stream_info_t *out);
size_t sfu_router_peer_view_count(const sfu_router_peer_t *p);
int sfu_router_peer_view_info(const sfu_router_peer_t *p, size_t i, sfu_router_view_info_t *out);

/* A viewer's downlink (issue 8): its estimate and what the allocation did with it. */
typedef struct {
  uint8_t transport_cc;         /* send-side estimate from transport-cc feedback */
  uint64_t estimate_bps;        /* what the allocation used (0: none known) */
  uint64_t delay_bps, loss_bps, remb_bps;
  double loss_ratio;
  uint64_t allocated_bps, required_bps;
  uint64_t other_bps;           /* what else the transport carries (off the budget) */
  uint8_t insufficient;
  uint64_t probes_sent, probes_done, probe_bytes, probe_last_bps;
  uint64_t probe_rtx_packets; /* probe packets that were RTX copies of media (not padding) */
  uint64_t feedbacks;
  /* Its pacer (pacer.h): with transport-cc only. Everything sent to the viewer goes
   * through it (probe clusters excepted), FIFO, at 2.5 x the estimate. */
  uint8_t paced;                /* it has one */
  uint64_t pacer_rate_bps;      /* 0: unpaced (no feedback yet) */
  uint64_t pacer_queued_bytes, pacer_queued_packets; /* waiting now */
  uint64_t pacer_sent_packets;  /* sent through it, at once or after waiting */
  uint64_t pacer_max_delay_us;  /* the longest any packet waited */
  uint64_t pacer_burst_us;      /* what it lets go at once, in µs of its rate */
  uint64_t pacer_dropped;       /* queue full, waited over 2 s, or too big: never sent */
} sfu_router_downlink_info_t;
void sfu_router_peer_downlink(const sfu_router_peer_t *p, sfu_router_downlink_info_t *out);

/* `bytes` (a datagram's RTP/RTCP/SCTP length, as the router counts its own) sent to the
 * viewer's transport by someone else than the router: the meeting's audio mix, data
 * channel messages. The rate of these over the last 2 s comes off the viewer's video
 * budget (issue 8: the estimate is of the whole downlink, the allocator shares out what
 * is left for video; libwebrtc's BitrateAllocator serves audio first the same way).
 * O(1), no allocation. */
void sfu_router_peer_sent_other(sfu_router_peer_t *p, uint64_t now_us, size_t bytes);

typedef struct {
  uint64_t streams, views;            /* gauges */
  uint64_t rtp_in, forwarded, forwarded_bytes, retransmissions, dropped;
  uint64_t keyframe_requests_out, nacks_out, nacks_in;
} sfu_router_stats_t;
void sfu_router_stats(const sfu_router_t *r, sfu_router_stats_t *out);

#endif
