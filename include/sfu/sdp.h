/* SDP offer parsing and answer building for the worker: RFC 8866 (SDP) grammar, used the
 * JSEP way (RFC 8829), with BUNDLE (RFC 8843), simulcast (RFC 8853), rid (RFC 8851),
 * header extensions (RFC 8285), DTLS (RFC 8842) and SCTP data channels (RFC 8841).
 *
 * The worker only ever ANSWERS: the client offers, the worker parses (sfu_sdp_parse), then
 * answers (sfu_sdp_answer) as an ICE-lite DTLS server that receives everything the client
 * sends and may send everything the client is ready to receive - or, for video and for
 * the audio mix (issue 9), what the caller's per-section plan (sfu_sdp_plan_t) says it
 * receives and sends.
 *
 * API CHANGE vs /tmp/proto-apis.md: none in the functions; sfu_sdp_offer_t is a public
 * struct (not opaque) so the transport can read the remote ICE credentials of a re-offer
 * and tests can check what was parsed. Treat it as read-only.
 *
 * Threads: pure functions, no globals; call from any thread. Offer and answer objects are
 * owned by the caller and touched by one thread at a time.
 */
#ifndef SFU_SDP_H
#define SFU_SDP_H

#include <stddef.h>
#include <stdint.h>

#include "sfu/fingerprint.h"
#include "sfu/rtp_ext.h"

/* Bounds. An offer over any of them is refused with SFU_ELIMIT and a message saying which;
 * real offers are far below (Chromium's largest, every codec + simulcast: ~12 KB, 23
 * payload types in one section). */
#define SFU_SDP_MAX_SIZE (64 * 1024)
#define SFU_SDP_MAX_MEDIA 64
#define SFU_SDP_MAX_CODECS 64        /* payload types per m-section */
#define SFU_SDP_MAX_EXTMAPS 32       /* per m-section */
#define SFU_SDP_MAX_RIDS 16          /* per m-section */
#define SFU_SDP_MAX_SIM_ALTS 4       /* alternatives per simulcast stream ("a,b") */
#define SFU_SDP_MAX_SSRCS 32         /* distinct a=ssrc ids per m-section */
#define SFU_SDP_MAX_FIDS 16          /* a=ssrc-group:FID per m-section */
#define SFU_SDP_MAX_SIM_SSRCS 8      /* ssrcs of the a=ssrc-group:SIM of an m-section */
#define SFU_SDP_MAX_CANDIDATES 32    /* kept per m-section (more are counted, dropped) */
#define SFU_SDP_MAX_FMTP 4096        /* bytes of one a=fmtp value (real ones: < 200) */

typedef enum {
  SFU_SDP_KIND_OTHER = 0,
  SFU_SDP_KIND_AUDIO,
  SFU_SDP_KIND_VIDEO,
  SFU_SDP_KIND_APPLICATION
} sfu_sdp_kind_t;

/* RFC 8866 §6.7 (RFC 3264 §5.1): no direction attribute means sendrecv. */
typedef enum {
  SFU_SDP_SENDRECV = 0,
  SFU_SDP_SENDONLY,
  SFU_SDP_RECVONLY,
  SFU_SDP_INACTIVE
} sfu_sdp_dir_t;

/* RFC 8842 §5.1 / RFC 4145 §4. NONE = attribute absent (RFC 4145: treated as active). */
typedef enum {
  SFU_SDP_SETUP_NONE = 0,
  SFU_SDP_SETUP_ACTPASS,
  SFU_SDP_SETUP_ACTIVE,
  SFU_SDP_SETUP_PASSIVE,
  SFU_SDP_SETUP_HOLDCONN
} sfu_sdp_setup_t;

typedef enum {
  SFU_SDP_PROTO_OTHER = 0,
  SFU_SDP_PROTO_RTP_SAVPF,   /* UDP/TLS/RTP/SAVPF, TCP/TLS/RTP/SAVPF (RFC 5764 §8) */
  SFU_SDP_PROTO_RTP_OTHER,   /* RTP/AVP, RTP/SAVP, RTP/AVPF, RTP/SAVPF: not DTLS-SRTP */
  SFU_SDP_PROTO_SCTP,        /* UDP/DTLS/SCTP, TCP/DTLS/SCTP, fmt webrtc-datachannel (RFC 8841) */
  SFU_SDP_PROTO_SCTP_LEGACY  /* DTLS/SCTP <port> + a=sctpmap (draft-ietf-mmusic-sctp-sdp-05) */
} sfu_sdp_proto_t;

/* a=rtcp-fb values the worker understands (RFC 4585 §4.2, RFC 5104 §7.1, goog-remb,
 * transport-cc). Others are ignored. */
#define SFU_SDP_FB_NACK 0x01u
#define SFU_SDP_FB_NACK_PLI 0x02u
#define SFU_SDP_FB_CCM_FIR 0x04u
#define SFU_SDP_FB_GOOG_REMB 0x08u
#define SFU_SDP_FB_TRANSPORT_CC 0x10u

/* One payload type of an m-section: from the m= fmt list, a=rtpmap, a=fmtp, a=rtcp-fb. */
typedef struct {
  uint8_t pt;              /* 0..127 */
  uint8_t channels;        /* from rtpmap "/2"; 0 = not given (means 1) */
  int16_t apt;             /* rtx only: fmtp apt=<pt>; -1 if none */
  const char *name;        /* encoding name as offered ("VP8", "opus"); NULL: no rtpmap */
  uint32_t clock_rate;     /* 0 if no rtpmap */
  const char *fmtp;        /* a=fmtp value, NULL if none */
  uint32_t rtcp_fb;        /* SFU_SDP_FB_* (includes a=rtcp-fb:* wildcard lines) */
} sfu_sdp_codec_t;

typedef struct {
  uint16_t id;             /* 1..255 (RFC 8285 §5) */
  uint8_t has_dir;         /* "a=extmap:<id>/<dir>" */
  sfu_sdp_dir_t dir;
  const char *uri;
} sfu_sdp_extmap_t;

typedef struct {
  const char *id;          /* RFC 8851 rid-id: 1..16 of [A-Za-z0-9_-] */
  uint8_t send;            /* 1: "send", 0: "recv" */
  const char *params;      /* restrictions ("max-width=...;pt=96") or NULL */
} sfu_sdp_rid_t;

/* One a=simulcast direction (RFC 8853 §5.1): ';'-separated streams, each a ','-separated
 * list of alternative rids, each possibly paused ('~'). */
typedef struct {
  const char *raw;         /* the list as offered, NULL if this direction is absent */
  size_t n_streams;
  struct {
    size_t n_alts;
    const char *rid[SFU_SDP_MAX_SIM_ALTS];
    uint8_t paused[SFU_SDP_MAX_SIM_ALTS];
  } streams[SFU_SDP_MAX_RIDS];
} sfu_sdp_simulcast_t;

typedef struct {
  uint32_t ssrc;
  const char *cname;       /* a=ssrc:<id> cname:<x>, NULL if not given */
} sfu_sdp_ssrc_t;

typedef struct {
  uint32_t primary, rtx;   /* a=ssrc-group:FID <primary> <rtx> (RFC 5576 §4.2, RFC 4588) */
} sfu_sdp_fid_t;

/* Transport attributes that may appear at session or media level; media level wins
 * (RFC 8839 §5.4, RFC 8122 §5). */
typedef struct {
  const char *ice_ufrag, *ice_pwd;
  /* Every a=fingerprint of the level (RFC 8122 §5: the certificate must match one of
   * them), at most SFU_FP_SET_MAX, duplicates once; md5/md2 lines are not in it (RFC 8122
   * §5 forbids verifying with them) but the first such hash is in fp_refused. A level with
   * any a=fingerprint line replaces the session level's set as a whole. */
  sfu_fingerprint_set_t fingerprints;
  sfu_fp_hash_t fp_refused;        /* SFU_FP_NONE, or SFU_FP_MD5 / SFU_FP_MD2 */
  sfu_sdp_setup_t setup;
  uint8_t ice_trickle;             /* a=ice-options containing "trickle" */
} sfu_sdp_tp_attrs_t;

/* One m-section as parsed. Owned by its offer. */
typedef struct {
  sfu_sdp_kind_t kind;
  const char *media;               /* "audio", "video", "application", ... */
  uint16_t port;                   /* 0: rejected by the offerer, or bundle-only */
  sfu_sdp_proto_t proto;
  const char *proto_str;           /* as offered */
  const char *fmt_str;             /* the fmt list as offered (echoed when rejecting) */
  const char *mid;                 /* NULL if none */
  sfu_sdp_dir_t dir;
  uint8_t rtcp_mux, rtcp_mux_only, rtcp_rsize, bundle_only, end_of_candidates;
  uint8_t extmap_allow_mixed;
  sfu_sdp_tp_attrs_t tp;           /* effective: media level over session level */
  size_t n_codecs;
  sfu_sdp_codec_t codecs[SFU_SDP_MAX_CODECS];
  size_t n_extmaps;
  sfu_sdp_extmap_t extmaps[SFU_SDP_MAX_EXTMAPS];
  size_t n_rids;
  sfu_sdp_rid_t rids[SFU_SDP_MAX_RIDS];
  sfu_sdp_simulcast_t sim_send, sim_recv;
  size_t n_ssrcs;
  sfu_sdp_ssrc_t ssrcs[SFU_SDP_MAX_SSRCS];
  size_t n_fids;
  sfu_sdp_fid_t fids[SFU_SDP_MAX_FIDS];
  /* The first a=ssrc-group:SIM (legacy, pre-rid simulcast: RFC 5576 §4 grouping with the
   * "SIM" semantics Chromium uses), lowest layer first by convention; 0 if none. */
  size_t n_sim_ssrcs;
  uint32_t sim_ssrcs[SFU_SDP_MAX_SIM_SSRCS];
  size_t n_candidates;             /* number kept (<= SFU_SDP_MAX_CANDIDATES) */
  size_t n_candidates_seen;
  const char *candidates[SFU_SDP_MAX_CANDIDATES];  /* value after "a=candidate:" */
  uint16_t sctp_port;              /* a=sctp-port, or the legacy fmt/sctpmap port; 0 none */
  uint32_t max_message_size;       /* a=max-message-size; 0 = absent (64 KiB, RFC 8841
                                      §6.1), UINT32_MAX = "0" in the SDP: any size */
  uint8_t has_sctpmap;
} sfu_sdp_media_t;

/* A parsed offer. Made by sfu_sdp_parse (one allocation holding the struct, the
 * m-sections and copies of every string kept), freed by sfu_sdp_offer_free. Read-only. */
typedef struct sfu_sdp_offer {
  uint64_t origin_sess_id, origin_sess_version;
  sfu_sdp_tp_attrs_t session_tp;   /* session-level values only */
  uint8_t ice_lite;                /* the offerer is ICE-lite (we are too: unusable) */
  uint8_t extmap_allow_mixed;      /* session level (RFC 8285 §6) */
  uint8_t has_bundle;              /* an a=group:BUNDLE line was present */
  size_t n_bundle;                 /* mids of the first BUNDLE group, in order */
  const char *bundle_mids[SFU_SDP_MAX_MEDIA];
  size_t n_media;
  sfu_sdp_media_t *media;
} sfu_sdp_offer_t;

/* Parses an offer. `sdp` need not be NUL-terminated. CRLF or LF line ends. Unknown
 * attributes and lines are ignored; malformed lines the worker depends on (v=, m=, payload
 * types, extmap ids, rid ids, ...) are errors. On error returns SFU_EPARSE / SFU_ELIMIT /
 * SFU_ENOMEM / SFU_EINVAL, leaves *out NULL, and writes a one-line reason naming the line
 * number into err (if errlen > 0). */
int sfu_sdp_parse(const char *sdp, size_t len, sfu_sdp_offer_t **out, char *err,
                  size_t errlen);
void sfu_sdp_offer_free(sfu_sdp_offer_t *o);

/* The worker's plan for one m-section, by mid (video and audio sections; application
 * sections ignore it). The answered direction (RFC 3264 §6.1: compatible with the
 * offer's) is: we receive iff the client sends (offered sendrecv/sendonly) and recv; we
 * send iff the client receives (offered sendrecv/recvonly) and send; neither: inactive,
 * which keeps the section's port and codecs (not rejected: a later re-offer may use it).
 * A video section without an entry (when a plan is given) is inactive; an AUDIO section
 * without an entry keeps the answer before plans (the reverse of the offer, no a=ssrc of
 * ours, the offer's Opus fmtp echoed, no red), byte for byte.
 * Audio (issue 9, the mixer's one stream per attendee): an entry with send = 1 declares
 * the mix (a=ssrc cname/msid, never RTX); at most ONE audio section of an answer may send
 * (SFU_EINVAL otherwise). An audio entry also makes the answer state the worker's own
 * Opus fmtp (sdp_fmtp.c: minptime=10;useinbandfec=1, stereo/sprop-stereo when the offer
 * asks) and, when recv = 1, accept RFC 2198 red/48000/2 if offered for that Opus (the
 * receive side unwraps it; without an entry red is never answered).
 * Strings: mid is compared with the offer's; cname and the msid ids are written into the
 * answer, so they must be SDP tokens (RFC 8830 §2 token-chars, 1..64; cname 1..255
 * visible ASCII) or sfu_sdp_answer fails with SFU_EINVAL. */
typedef struct {
  const char *mid;
  uint8_t recv;            /* 1: accept what the client sends here (publishing) */
  uint8_t send;            /* 1: we send here: ssrc below (a=ssrc cname + msid, a=msid) */
  uint32_t ssrc, rtx_ssrc; /* rtx_ssrc 0: none; else a=ssrc-group:FID ssrc rtx_ssrc, only
                            * if RTX was negotiated for the section (for send_pt's codec
                            * when send_pt >= 0); nonzero, distinct across the answer */
  const char *cname;       /* a=ssrc:<ssrc> cname:<cname>; NULL: "sfu" */
  const char *msid_stream, *msid_track; /* a=msid:<stream> <track> (RFC 8830), also
                                         * a=ssrc:<ssrc> msid:<stream> <track> for older
                                         * parsers. stream NULL: "-" (RFC 8829 §5.2.1);
                                         * track NULL: no msid at all */
  int16_t send_pt;         /* >=0: the payload type we send, an accepted codec of the
                            * section (else SFU_EINVAL); listed FIRST in the answer's m=
                            * line and codec list (so the client's decoder expects it).
                            * -1: keep order */
} sfu_sdp_plan_t;

/* Our side of the answer. Strings are read during sfu_sdp_answer only. */
typedef struct {
  const char *ice_ufrag, *ice_pwd;      /* ours */
  const char *fingerprint;              /* ours, sha-256 "AB:CD:..." */
  const char *ip;                       /* host candidate address, IPv4 or IPv6 literal */
  uint16_t udp_port, tcp_port;          /* 0 = omit that candidate (not both) */
  uint16_t sctp_port;                   /* 0 = 5000 */
  uint32_t max_message_size;            /* 0 = 262144 */
  uint64_t session_id, session_version;
  /* Per-section plan (sfu_sdp_plan_t), looked up by mid; NULL/0: every section answered
   * as the reverse of its offered direction and no a=ssrc of ours (the answer before
   * plans, byte for byte). To learn which codecs a section accepts before choosing
   * send_pt, answer once without a plan and read neg->media[].codecs. */
  const sfu_sdp_plan_t *plan;
  size_t n_plan;
} sfu_sdp_local_t;

/* A codec the worker accepted, with its RTX (RFC 4588) if any. */
typedef struct {
  uint8_t pt;
  int16_t rtx_pt;                       /* -1: no RTX */
  uint8_t channels;                     /* 0 if not given */
  uint32_t clock_rate;
  uint32_t rtcp_fb;                     /* SFU_SDP_FB_* as answered */
  const char *name;                     /* canonical: "opus" "VP8" "H264" "VP9" "AV1" */
  const char *fmtp;                     /* as answered: the parameters the worker
                                         * understands (sdp_fmtp.c); NULL if none */
  /* Opus only (RFC 7587 §6.1), from the OFFERED fmtp, i.e. what the client says about
   * itself; malformed or out-of-range values count as absent. Filled with or without a
   * plan. The receive-side flags tell the worker's encoder what this client wants: */
  uint8_t opus_stereo;                  /* stereo=1: the client prefers to receive stereo */
  uint8_t opus_sprop_stereo;            /* sprop-stereo=1: the client likely sends stereo */
  uint8_t opus_fec;                     /* useinbandfec=1: its decoder uses in-band FEC */
  uint8_t opus_dtx;                     /* usedtx=1: it prefers that we send with DTX */
  uint32_t opus_max_avg_bitrate;        /* maxaveragebitrate (6000..510000 b/s); 0: none */
  uint32_t opus_max_playback_rate;      /* maxplaybackrate, capped at 48000; 0: none */
} sfu_sdp_neg_codec_t;

/* One ACCEPTED m-section of the answer. Owned by its sfu_sdp_answer_t. */
typedef struct {
  size_t index;                         /* position among the offer's m-sections */
  const char *mid;                      /* NULL only if the offer had none (not bundled) */
  sfu_sdp_kind_t kind;
  sfu_sdp_dir_t dir;                    /* as answered, our view: RECVONLY = we receive,
                                         * SENDONLY = we send, INACTIVE = neither */
  uint8_t rtcp_rsize;
  size_t n_codecs;
  sfu_sdp_neg_codec_t codecs[16];       /* in the offer's preference order; with a
                                         * plan's send_pt, that codec first; audio red
                                         * (name "red") right after the Opus it carries */
  sfu_rtp_ext_map_t ext;                /* per m-section: ids differ between sections */
  uint8_t simulcast_recv;               /* we answered a=simulcast:recv (never when
                                         * the plan refuses to receive here) */
  size_t n_rids;                        /* rids we receive, simulcast order */
  const char *rids[SFU_SDP_MAX_RIDS];
  uint8_t rid_paused[SFU_SDP_MAX_RIDS];
  size_t n_ssrcs;
  sfu_sdp_ssrc_t ssrcs[SFU_SDP_MAX_SSRCS];  /* offered a=ssrc (the client's send SSRCs) */
  size_t n_fids;
  sfu_sdp_fid_t fids[SFU_SDP_MAX_FIDS];     /* offered FID groups (primary, rtx) */
  size_t n_sim_ssrcs;                       /* offered a=ssrc-group:SIM, lowest first */
  uint32_t sim_ssrcs[SFU_SDP_MAX_SIM_SSRCS];
  uint32_t send_ssrc, send_rtx_ssrc;        /* ours as answered (plan); 0: none */
  int16_t red_pt;                       /* audio: the RFC 2198 red payload type answered
                                         * (it carries codecs[] Opus, listed just before
                                         * it); -1: none (always -1 without a plan entry) */
  uint16_t sctp_port;                   /* application: the REMOTE SCTP port */
  uint32_t max_message_size;            /* application: the remote's (0 = not given) */
  uint8_t sctp_legacy;                  /* answered in the DTLS/SCTP + a=sctpmap form */
} sfu_sdp_neg_media_t;

/* The negotiated result. Filled by sfu_sdp_answer; owns its strings and array (one
 * allocation); release with sfu_sdp_answer_clear. Touched by the meeting's loop only. */
typedef struct sfu_sdp_answer {
  const char *remote_ufrag, *remote_pwd;   /* of the BUNDLE transport */
  sfu_fingerprint_set_t remote_fingerprints; /* of the BUNDLE transport (RFC 8122 §5) */
  sfu_sdp_setup_t remote_setup;            /* as offered for that section */
  uint8_t bundled;                         /* the answer has a=group:BUNDLE */
  size_t n_offered;                        /* m-sections in offer and answer */
  size_t n_media;                          /* accepted ones, below */
  sfu_sdp_neg_media_t *media;
  const char *note;                        /* NULL, or a human note (e.g. no BUNDLE) */
  void *mem_;                              /* private: the allocation */
} sfu_sdp_answer_t;

/* Builds the answer text (malloc'd, NUL-terminated, CRLF lines; caller frees) and the
 * negotiated description. On error returns SFU_EINVAL (offer unusable: no DTLS
 * fingerprint or only md5/md2 ones, bundled sections with different fingerprint sets, no
 * ICE credentials, setup:passive, ...), SFU_EUNSUPP (nothing the worker can
 * decode), SFU_ENOMEM, with a message in err naming the m-section index/mid; *answer_text
 * is NULL and neg is cleared. `neg` may be NULL if the caller only wants the text. */
int sfu_sdp_answer(const sfu_sdp_offer_t *offer, const sfu_sdp_local_t *local,
                   char **answer_text, sfu_sdp_answer_t *neg, char *err, size_t errlen);
void sfu_sdp_answer_clear(sfu_sdp_answer_t *neg);

const char *sfu_sdp_dir_name(sfu_sdp_dir_t d);     /* "sendrecv" ... */
const char *sfu_sdp_kind_name(sfu_sdp_kind_t k);   /* "audio" "video" "application" "other" */

#endif
