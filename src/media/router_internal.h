/* The video router's state (router.h), shared by its files:
 *   router.c        peers, streams, negotiation (publish / set_views), the index, figures
 *   router_fwd.c    the RTP path: learn SSRCs, RTX, padding, keyframes, forward, switch
 *   router_rtcp.c   RTCP in (NACK, PLI/FIR, REMB, RR, SR) and out (SR, RR, NACK, PLI,
 *                   REMB), the periodic tick, layer choice
 *   router_downlink.c  per viewer: estimate, allocation, probe clusters
 *   router_pace.c   per viewer: the pacer every RTP packet to it goes through
 *   router_remb.c   per publisher: the REMB asking for what its viewers could use
 * Touched by the meeting's loop thread only. */
#ifndef SFU_MEDIA_ROUTER_INTERNAL_H
#define SFU_MEDIA_ROUTER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "sfu/allocator.h"
#include "sfu/bwe.h"
#include "sfu/codec_vp8.h"
#include "sfu/keyframe_req.h"
#include "sfu/list.h"
#include "sfu/nack_gen.h"
#include "sfu/pacer.h"
#include "sfu/pkt_history.h"
#include "sfu/probe.h"
#include "sfu/rate_meter.h"
#include "sfu/router.h"
#include "sfu/rtcp.h"
#include "sfu/rtp.h"
#include "sfu/rtp_recv_stats.h"
#include "sfu/rtp_rewrite.h"
#include "sfu/temporal_filter.h"

/* Video history: NACK-able for 2 s (issue 7: "at least 1 s, say 2 s for video"). */
#define ROUTER_HISTORY_US 2000000ull
#define ROUTER_HISTORY_MAX 1024
/* Periodic work runs on a grid shared by every router of a loop, so that all the
 * meetings of a loop tick in one wake-up: NACK and keyframe-request timers, 1-s reports. */
#define ROUTER_TICK_US 20000ull
#define ROUTER_REPORT_US 1000000ull
/* A layer with no packet for this long is inactive: viewers move off it. */
#define ROUTER_LAYER_IDLE_US 1500000ull
#define ROUTER_SCRATCH 1600 /* > MTU + SRTP tag + a grown VP8 picture id */
/* A probe cluster copies at most this many of the newest packets (RTX), then pads. */
#define ROUTER_PROBE_RTX_BACK 48
#define ROUTER_SENDER_SSRC 1u /* SSRC of the worker's own RTCP (reports, feedback) */
/* A viewer's receive cap (requirements.md "receivers under about 6 Mbps"): the budget of
 * a viewer whose downlink has no estimate. */
#define ROUTER_DOWNLINK_CAP_BPS 6000000ull

typedef enum { CODEC_OTHER = 0, CODEC_VP8, CODEC_H264, CODEC_VP9, CODEC_AV1 } router_codec_t;

struct stream;
struct view;

typedef struct layer {
  struct stream *s;
  char rid[SFU_ROUTER_RID_MAX];
  uint32_t ssrc, rtx_ssrc;         /* learned (0 = not yet) */
  uint8_t known;                   /* ssrc learned */
  sfu_history_t *hist;
  sfu_kf_req_t kf;
  sfu_nack_gen_t nack;
  sfu_rate_meter_t rate;
  sfu_rate_meter_t tl_rate[SFU_TEMPORAL_MAX]; /* VP8 packets by TID (the allocator's rungs) */
  sfu_recv_stats_t rs;
  uint16_t width, height;
  uint64_t last_pkt_us;
  uint8_t active;
  uint64_t active_since_us;        /* start of the current active period */
  /* Its rate when it last flowed (0: never measured). A layer our REMB stopped reads 0 on
   * the meter; what resuming it would cost is this (router_remb.c). */
  uint32_t last_bps;
  /* last RTCP sender report of this layer: NTP (32.32) <-> RTP, and when */
  uint8_t has_sr;
  uint64_t sr_ntp;
  uint32_t sr_rtp;
  uint64_t sr_at_us;
  uint32_t last_ts;                /* newest RTP timestamp seen */
  uint64_t packets, bytes, keyframes, nacks_out, padding_dropped;
} layer_t;

typedef struct stream {
  uint32_t id;
  struct sfu_router_peer *pub;
  char mid[SFU_ROUTER_MID_MAX];
  sfu_rtp_ext_map_t ext;
  size_t n_codecs;
  sfu_router_codec_t codecs[4];
  router_codec_t codec;            /* of the first codec (what the index shows) */
  uint8_t content, refused, flowing;
  size_t n_layers;
  layer_t layers[SFU_ROUTER_MAX_LAYERS]; /* storage, in a=simulcast order */
  uint8_t rank[SFU_ROUTER_MAX_LAYERS];   /* rank[i] = storage index of the i-th lowest */
  struct view **views;
  size_t n_views, cap_views;
  uint64_t last_pkt_us;
  uint64_t over_since_us;          /* a layer over the bitrate limit since (0 = not) */
  uint8_t dropping;                /* over for SFU_ROUTER_OVER_BITRATE_US: packets dropped */
  /* REMB to the publisher (router_remb.c): the highest layer rank its views could use,
   * held (a lower need must last REMB_DOWN_HOLD_US); the last REMB sent and when. */
  uint8_t remb_init;
  int8_t remb_rank;
  uint64_t remb_lower_since_us;
  uint64_t remb_sent_bps, remb_sent_us;
  uint64_t dropped_bitrate, dropped_resolution, dropped_other, nacks_in, kf_requests_out;
  uint64_t duplicates;             /* packets whose seq the history already had */
} stream_t;

typedef struct view {
  struct sfu_router_peer *viewer;
  stream_t *s;
  char mid[SFU_ROUTER_MID_MAX];
  size_t mid_len;
  sfu_rtp_ext_map_t ext;
  uint8_t pt;
  int16_t rtx_pt;
  uint32_t ssrc, rtx_ssrc;
  uint16_t rtx_seq;
  uint8_t nack_ok, pli_ok, fir_ok;
  sfu_rewrite_t rw;
  int8_t layer, target, max_layer; /* storage indexes (-1 none); max_layer is a rank */
  /* Temporal layers (temporal_filter.h): target_tid is the allocation's max TID for
   * `target` (SFU_TEMPORAL_ALL: all); tl.target takes it at once on the same layer, and
   * at the switch onto a new one (until then it only goes down). */
  sfu_temporal_filter_t tl;
  uint8_t target_tid;
  uint16_t max_height;             /* the viewer's cap (0 none) */
  int priority;                    /* the viewer's order (higher first) */
  uint8_t paused;                  /* the allocation gives it nothing */
  uint8_t shed;                    /* a down-switch waits and the layer it leaves is far
                                    * over the budget: not forwarded meanwhile
                                    * (router_downlink.c, router_allocate) */
  uint8_t started;                 /* a keyframe went out: packets may follow */
  uint64_t last_pli_in_us;         /* viewer throttle */
  /* The viewer asked for a keyframe (PLI/FIR): until one is sent, NACKs for what was sent
   * up to cut_seq are ignored (it cannot decode them anyway, and repairing them only
   * delays the keyframe it waits for). */
  uint8_t awaiting_kf;
  uint16_t cut_seq;
  uint16_t last_out_seq;
  uint32_t last_in_ts, last_out_ts;/* newest mapping, for SR and switches */
  uint64_t sr_packets, sr_octets;
  /* The last SRs sent on this view: LSR value (RFC 3550 §6.4.1, middle 32 bits of its NTP
   * timestamp) and when, by our clock. The NTP we put in an SR is the publisher's (so the
   * viewer can sync), so the RTT is measured against these, never against our clock. */
  uint32_t sr_lsr[2];
  uint64_t sr_sent_us[2];
  uint8_t sr_i;
  uint64_t switches, keyframe_waits, packets_out, bytes_out, retransmissions, nacks_in, plis_in;
  uint64_t repairs_skipped;        /* NACKed packets not resent (router_resend) */
  uint64_t probe_rtx;              /* probe packets that were RTX copies of its media */
  uint64_t shed_packets;           /* not forwarded: its layer shed during a down-switch */
} view_t;

/* Field order: the first two cache lines (the struct is allocated 64-byte aligned) hold
 * what the router's tick reads of every viewer every 20 ms and what its feedback path
 * reads: with 100 viewers the peers have left the 512 KB L2 between two ticks (the
 * packets copied in between are megabytes), and each line touched is a miss costing
 * ~100 instructions' worth of time (bench_router_pace under callgrind's cache model). */
struct sfu_router_peer {
  /* line 0 */
  sfu_list_t link;
  size_t n_views;
  sfu_bwe_t *bwe;                  /* NULL: no transport-cc negotiated (REMB or nothing) */
  uint64_t remb_bps;               /* the viewer's last REMB (0 = none) */
  uint64_t want_bps, allocated_bps;
  uint8_t ready;                   /* its transport carries media (sfu_router_peer_set_ready) */
  uint8_t bwe_fed;                 /* a feedback arrived */
  uint8_t cluster_on;
  uint8_t insufficient;
  int probe_id;                    /* the cluster in flight (0 none) */
  /* line 1 */
  uint64_t probes_sent, cluster_started_us;
  uint64_t rtt_us;                 /* from its receiver reports (0 = unknown) */
  uint16_t twcc_seq;               /* transport-wide seq of what we send it */
  uint64_t required_bps;
  uint64_t other_bps; /* at the last allocation */
  struct sfu_router *r;
  view_t *views[SFU_ROUTER_MAX_VIEWS]; /* the tick reads the first ones */
  sfu_alloc_t alloc;                   /* sfu_alloc_due's fields first */
  sfu_probe_t probe;
  void *user;
  char attendee_id[64];
  char external_user_id[257];
  uint8_t content, can_send, can_receive;
  stream_t *pub;
  /* its downlink (router_downlink.c) */
  sfu_probe_cluster_t cluster;     /* the one being sent (cluster_on) */
  size_t cluster_bytes, cluster_packets;
  uint16_t probe_rtx_seq;          /* the next of the probe view's packets to copy */
  int probe_rtx_left;              /* how many more may be tried in this cluster */
  uint64_t probes_done, probe_bytes, probe_last_bps;
  uint64_t probed_goal_bps;        /* want_bps when the last cluster started */
  /* What else its transport carries to it, outside the router (the audio mix, data
   * channel messages, the router's own RTCP): its rate comes off the allocation's budget
   * (sfu_router_peer_sent_other). bucket_us 0: nothing counted yet. */
  sfu_rate_meter_t other;
  /* its pacer (router_pace.c): with the bwe, NULL without transport-cc */
  sfu_pacer_t *pacer;
  uint64_t pace_due_us;            /* its pacer's next deadline (UINT64_MAX: empty) */
  uint64_t pace_refused;           /* too big for a pacer slot: dropped */
  uint64_t pace_send_failed;       /* popped, but send_rtp refused it */
};

/* What the codec says about one packet (router_fwd.c). */
typedef struct {
  uint8_t keyframe;     /* first packet of a frame a viewer can start decoding at */
  uint8_t frame_start;
  uint16_t width, height;
  uint8_t vp8_ok;
  sfu_vp8_desc_t vp8;
} pkt_info_t;

/* A publisher's packet read back from its layer's history, parsed (router_fwd.c
 * source_of): the viewers' pacers rebuild their references to the same packets one after
 * the other at the same instant, and each would parse it again. Valid while hist_gen is
 * the router's (every history put or free moves it: h points into the history) and the
 * history still returns that packet (its age). */
#define ROUTER_SRC_CACHE 16 /* power of 2 */
typedef struct {
  uint64_t gen; /* 0: empty */
  const stream_t *s;         /* the stream it was read for */
  const sfu_history_t *hist; /* its layer's */
  uint64_t checked_us;       /* the history still held it then */
  uint32_t ssrc;
  uint16_t seq;
  sfu_rtp_hdr_t h;
  pkt_info_t pi;
} src_cache_t;

struct sfu_router {
  sfu_router_config_t cfg;
  sfu_router_cbs_t cbs;
  sfu_list_t peers;
  stream_t *streams[SFU_ROUTER_MAX_STREAMS + SFU_ROUTER_MAX_CONTENT];
  size_t n_streams;
  uint32_t next_stream_id;
  uint64_t index_version;
  uint64_t next_tick_us, next_report_us;
  uint64_t now_us; /* of the latest call: figures read between calls use it */
  uint64_t pace_next_us; /* no viewer's pacer is due before (may be early, never late) */
  uint8_t index_dirty; /* an INDEX_CHANGED event is due at the next tick */
  sfu_router_stats_t st;
  uint8_t scratch[ROUTER_SCRATCH];
  uint8_t scratch2[ROUTER_SCRATCH];
  uint8_t pace_buf[ROUTER_SCRATCH]; /* a pacer's reference built as it leaves (router_pace.c) */
  uint64_t hist_gen; /* moves at every history put or free: src_cache entries of older ones are stale */
  src_cache_t src_cache[ROUTER_SRC_CACHE];
};

/* router.c */
void router_index_changed(sfu_router_t *r);
void router_event(sfu_router_t *r, sfu_router_event_kind_t kind, stream_t *s, const char *msg);
void router_sort_layers(stream_t *s);
void router_rechoose(sfu_router_t *r, stream_t *s);
int router_layer_rank(const stream_t *s, int storage_idx);
/* The layer's temporal layers flowing now: their number (0: no TID seen within the last
 * second) and cum[t] = the bitrate of TIDs <= t (cum holds SFU_TEMPORAL_MAX). */
int router_layer_temporal(layer_t *l, uint64_t now_us, uint32_t *cum);
/* A packet of a view's own stream the viewer's pacer keeps as a reference (router_pace.c):
 * the view, the publisher's packet it is made of (its layer's SSRC and seq, and its RTP
 * timestamp to tell the history still holds that one) and what the view's rewrite gave it
 * (the numbers a NACK's resend would use too: sfu_rw_sent_t). */
typedef struct {
  view_t *v;
  uint32_t src_ssrc, src_ts, out_ts;
  uint16_t src_seq, out_seq, pic_id, twcc_seq;
  uint8_t tl0, has_twcc;
} pace_ref_t;

/* router_fwd.c */
int router_fwd_rebuild(sfu_router_t *r, const pace_ref_t *ref, uint8_t *out);
void router_fwd_rtp(sfu_router_t *r, struct sfu_router_peer *p, uint64_t now_us, uint8_t *buf,
                    size_t len);
int router_resend(sfu_router_t *r, view_t *v, uint16_t out_seq, uint64_t now_us);
size_t router_probe_rtx(sfu_router_t *r, view_t *v, uint16_t out_seq, uint64_t now_us, int cluster);
/* router_downlink.c */
uint64_t router_downlink_estimate(const struct sfu_router_peer *p);
void router_downlink_setup(sfu_router_t *r, struct sfu_router_peer *p);
void router_downlink_free(struct sfu_router_peer *p);
void router_downlink_sent(struct sfu_router_peer *p, uint16_t twcc_seq, uint64_t now_us, size_t len,
                          int cluster);
void router_downlink_feedback(sfu_router_t *r, struct sfu_router_peer *p,
                              const sfu_rtcp_fb_t *fb, uint64_t now_us);
void router_allocate(sfu_router_t *r, struct sfu_router_peer *p, uint64_t now_us, int changed);
void router_downlink_tick(sfu_router_t *r, struct sfu_router_peer *p, uint64_t now_us);
void router_downlink_event(sfu_router_t *r, struct sfu_router_peer *p, uint64_t est_bps,
                           uint64_t required_bps, const uint32_t *paused, size_t n_paused);
/* router_pace.c */
void router_pace_setup(struct sfu_router_peer *p);
void router_pace_free(struct sfu_router_peer *p);
int router_pace_send(sfu_router_t *r, struct sfu_router_peer *p, uint8_t *buf, size_t len,
                     int has_twcc, uint16_t twcc_seq);
int router_pace_must_wait(sfu_router_t *r, struct sfu_router_peer *p);
int router_pace_queue_ref(sfu_router_t *r, struct sfu_router_peer *p, const pace_ref_t *ref,
                          size_t wire_len);
void router_pace_rate(sfu_router_t *r, struct sfu_router_peer *p, uint64_t now_us);
void router_pace_timeout(sfu_router_t *r, uint64_t now_us);
void router_pace_info(const struct sfu_router_peer *p, sfu_router_downlink_info_t *out);
void router_pace_forget(sfu_router_t *r, view_t *v);
/* router_rtcp.c */
void router_choose_layer(sfu_router_t *r, view_t *v, uint64_t now_us);
void router_request_keyframe(sfu_router_t *r, layer_t *l, uint64_t now_us);
int router_send_remb(sfu_router_t *r, stream_t *s, uint64_t bps);
/* router_remb.c */
void router_remb_report(sfu_router_t *r, stream_t *s, uint64_t now_us, int over);
uint64_t router_view_top_bps(const view_t *v, uint64_t now_us, int *stopped);
void router_view_bye(sfu_router_t *r, view_t *v);

#endif
