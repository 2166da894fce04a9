/* One synthetic WebRTC attendee: the client-role ICE/DTLS/SRTP of tests/sim/sim_client,
 * plus a video publisher (VP8 or H.264, one or three simulcast layers, SR, RTX from a
 * 1 s history, keyframes on PLI/FIR and every 10 s, optional padding probes) and a
 * receiver per recvonly section (counts what arrives, NACKs gaps, RR every second,
 * optional simulated loss, PLI and REMB on demand), and transport-cc feedback for
 * everything the worker sends it, as a browser's receiver does.
 *
 * Transport-cc feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1): the
 * offer declares the transport-wide-cc extension and transport-cc rtcp-fb in every
 * receive section, as Chromium's does, so the worker stamps a transport-wide sequence
 * number on every packet it sends this viewer (media, RTX, padding probes) and runs its
 * downlink estimator, allocation, probing and pacing on the feedback. A viewer that
 * negotiated it and stays silent would leave the worker's estimate unknown and test none
 * of that. Arrivals are recorded by the worker's own receiver core (twcc_recv.h), the
 * feedback goes out as SRTCP every SFU_TWCC_FB_INTERVAL_US (libwebrtc: 50-250 ms): built
 * by the first packet after it is due, or at the peer's timer when packets stop. A packet
 * dropped by the simulated loss is not recorded (the network lost it).
 *
 * Sans-IO like the cores it wraps: datagrams in through load_peer_input, out through
 * cbs.send; time is a parameter (now_us, monotonic) and the wall clock only an offset
 * given at creation (for SR NTP timestamps). Packets of one frame leave together.
 *
 * Tests can bypass SRTP: with cbs.send_plain set, RTP/RTCP go out unprotected through
 * it and media starts at load_peer_start_media; load_peer_input_plain takes plain
 * RTP/RTCP. Two peers wired that way exercise publisher and receiver against each other.
 *
 * Owner: whoever calls load_peer_new (load_peer_free). Single-threaded. The struct is
 * public so that drivers can read the counters; treat it as read-only. Allocation: the
 * peer, its send history (publishers) and one block per receive section, at set-up; none
 * per packet. */
#ifndef SFU_LOAD_PEER_H
#define SFU_LOAD_PEER_H

#include <stddef.h>
#include <stdint.h>

#include "load_sdp.h"
#include "sfu/twcc_recv.h"
#include "sim_client.h"

#define LOAD_HIST 512            /* sent packets kept per layer (> 1 s at 1.2 Mbit/s) */
#define LOAD_HIST_US 1000000u    /* answer NACKs from the last second */
#define LOAD_MAX_PAYLOAD 1200    /* RTP payload bytes per packet */
#define LOAD_WIN 1024            /* receive window for duplicates (sequence numbers) */
#define LOAD_NACK_MAX 128        /* pending NACKed sequence numbers per section */
#define LOAD_KEY_INTERVAL_US 10000000u
#define LOAD_RTCP_INTERVAL_US 1000000u

typedef struct {
  void (*send)(void *user, const uint8_t *buf, size_t len); /* a datagram for the server */
  /* Tests: plain RTP (rtcp 0) / RTCP (1) instead of SRTP through send. NULL normally. */
  void (*send_plain)(void *user, const uint8_t *buf, size_t len, int rtcp);
  void *user;
  /* A whole data-channel message from the worker (cfg.data). Optional. */
  void (*on_data)(void *user, const uint8_t *buf, size_t len);
} load_peer_cbs_t;

typedef struct {
  int publish;          /* send video */
  load_codec_t codec;
  int layers;           /* 1 or 3 */
  int pub_rtx;          /* RTX for our own sends */
  int pub_ssrcs;        /* a=ssrc lines in the offer */
  int fps;              /* default 15 */
  int padding_per_s;    /* padding-only packets per second per layer (0: none) */
  uint32_t bitrate_bps; /* top layer / single stream bits per second, 0: the default
                           (1.2 Mbit/s / 800 kbit/s); lower layers keep their ratio */
  double pace;          /* > 0: what we publish leaves paced at pace x its total bitrate
                           in bursts of 5 ms (pacer.h), as libwebrtc paced before its
                           40 ms burst interval (2.5 x its estimate); 0: each frame goes
                           to the socket at once, as a current libwebrtc sender sends a
                           frame under 40 ms of its pacing rate */
  size_t n_recv;        /* recvonly sections */
  int recv_rtx;         /* offer RTX in the receive sections */
  int no_twcc_fb;       /* send no transport-cc feedback (still offered, as before it
                           existed: the worker's downlink estimate stays unknown) */
  /* Data channels (issue 10's bench): an application section in the offer; once DTLS
   * is up an SCTP association in the client role (sctp.h) in this group (the driver's,
   * one per process, which it ticks), and one reliable channel "bench" on stream 0. */
  int data;
  struct sfu_sctp_group *sctp_group;
} load_peer_cfg_t;

typedef struct {
  uint16_t seq, len, hdr_len;
  uint8_t used;
  uint64_t at_us;
  uint8_t data[LOAD_MAX_PAYLOAD + 100];
} load_hist_slot_t;

typedef struct {
  char rid[4];                 /* "q" "h" "f", "" for a single stream */
  uint32_t ssrc, rtx_ssrc;
  uint16_t seq, rtx_seq;
  uint32_t ts_base;
  uint16_t width, height;
  uint32_t bitrate_bps;
  uint16_t pic_id;
  uint8_t tl0;
  uint8_t key_pending;
  uint32_t last_ts;
  uint64_t packets, octets, frames, keyframes, plis, firs, nacks, nacked_seqs, rtx_sent,
      resent, padding_sent, nack_misses;
  load_hist_slot_t *hist;      /* LOAD_HIST slots */
} load_layer_t;

typedef struct {
  uint16_t seq;
  uint8_t tries;
  uint64_t first_us, next_us;
} load_nack_t;

typedef struct {
  char mid[LOAD_MID_MAX];
  uint8_t inactive;
  /* From the answer. */
  uint32_t declared_ssrc, declared_rtx_ssrc;
  int media_pt, rtx_pt, media_pt2, rtx_pt2;
  /* What arrived. */
  uint32_t ssrcs[4];
  size_t n_ssrcs;
  uint8_t pts[4];
  size_t n_pts;
  char mid_ext[LOAD_MID_MAX];  /* last mid extension value seen */
  uint32_t media_ssrc;         /* the media SSRC being tracked (first seen / declared) */
  uint64_t rtx_dups; /* RTX copies of packets already received (probes, crossed repairs) */
  uint64_t packets, bytes, seq_gaps, dups, ts_backwards, keyframes, pic_id_jumps, padding,
      rtx, recovered, nacks_sent, nacked_seqs, dropped, unknown_pt, bad_payload;
  uint64_t probe_padding;      /* padding-only packets on the RTX SSRC (worker's probes) */
  uint8_t got_first, first_keyframe;
  uint16_t width, height;
  /* sequence tracking (extended: first seq + 2^16, so a late packet stays positive) */
  uint8_t have_seq, have_pic, have_key_ts;
  uint64_t hi_ext, base_ext;
  uint32_t last_ts, last_key_ts;
  uint16_t last_pic;
  uint32_t win[LOAD_WIN];      /* extended seq + 1 of the packet in that slot */
  load_nack_t nack[LOAD_NACK_MAX];
  size_t n_nack;
  /* receiver report (RFC 3550 §6.4.1, appendix A.3) */
  uint64_t expected_prior, received_prior, received_unique;
  uint32_t lsr;                /* middle 32 bits of the last SR's NTP time, 0 none */
  uint64_t lsr_at_us;
} load_recv_t;

typedef struct load_peer {
  load_peer_cfg_t cfg;
  load_peer_cbs_t cbs;
  const sfu_dtls_cert_t *cert;
  sim_client_t ice;
  char ufrag[8], pwd[32];
  uint16_t port;
  uint64_t rng;
  uint64_t session_id, session_version;
  char cname[20], msid_stream[40], msid_track[40];
  uint32_t local_ssrc;         /* sender SSRC of our receiver reports and feedback */
  uint16_t twcc_seq;
  int64_t wall_offset_us;      /* wall clock (Unix µs) minus now_us */
  uint8_t answered, media_on;
  uint64_t start_us, next_frame_us, next_key_us, next_rtcp_us, next_pad_us, next_nack_us;
  uint64_t next_remb_us;
  load_layer_t layers[3];
  size_t n_layers;
  struct sfu_pacer *pacer;     /* cfg.pace > 0: our RTP (media, RTX, padding) waits here */
  load_recv_t *recv[LOAD_MAX_RECV];
  size_t n_recv;
  double loss;                 /* fraction of incoming media dropped before processing */
  uint64_t remb_bps;           /* 0: no REMB */
  /* peer-wide counters */
  uint64_t rtp_in, rtcp_in, unprotect_fail, protect_fail, unknown_rtp, remb_in;
  /* transport-cc feedback for what we receive: ext id from the answer (0: off) */
  sfu_twcc_recv_t twcc;
  uint64_t twcc_fb_out;        /* feedback packets sent */
  /* data channel (cfg.data) */
  struct sfu_sctp *sctp;
  uint8_t dc_open;
  uint64_t now_us;             /* latest time passed in (the SCTP calls need it) */
  uint64_t dc_in, dc_out, dc_blocked, dc_errors;
} load_peer_t;

/* A new attendee; port is its UDP port (for the offer's candidate), wall_offset_us the
 * wall clock minus now_us, seed its randomness (SSRCs, numbering, loss). NULL on bad
 * config (layers not 1/3, n_recv > LOAD_MAX_RECV) or no memory. */
load_peer_t *load_peer_new(const load_peer_cfg_t *cfg, const sfu_dtls_cert_t *cert,
                           uint16_t port, const load_peer_cbs_t *cbs, uint64_t seed,
                           int64_t wall_offset_us, uint8_t tag);
void load_peer_free(load_peer_t *p);

/* The offer (malloc'd text). A re-offer with a new count of receive sections keeps ICE
 * credentials, certificate and mids; a smaller count marks the extra ones inactive.
 * NULL: no memory, or n_recv > LOAD_MAX_RECV. */
char *load_peer_offer(load_peer_t *p);
char *load_peer_reoffer(load_peer_t *p, size_t n_recv);
/* The worker's answer: server ICE credentials and fingerprint (ICE checks start at the
 * next timeout), per receive section the SSRCs and payload types declared, and the
 * transport-wide-cc extension id (feedback on unless cfg.no_twcc_fb). 0 or -1 with err.
 * On an answer to a re-offer only the sections (and the extension id) are updated. */
int load_peer_answer(load_peer_t *p, const char *sdp, char *err, size_t errlen);

uint64_t load_peer_next_deadline(const load_peer_t *p);
void load_peer_handle_timeout(load_peer_t *p, uint64_t now_us);
/* One datagram from the server (STUN, DTLS, SRTP, SRTCP). */
void load_peer_input(load_peer_t *p, uint64_t now_us, uint8_t *buf, size_t len);
/* Plain RTP or RTCP (tests; the SRTP path ends here too). */
void load_peer_input_plain(load_peer_t *p, uint64_t now_us, uint8_t *buf, size_t len);
/* Starts publishing and RTCP now (done by itself once DTLS connects). */
void load_peer_start_media(load_peer_t *p, uint64_t now_us);

int load_peer_connected(const load_peer_t *p);
/* A text message on the data channel: 0, -1 if the channel is not open, or the
 * sfu_sctp_send error (SFU_EAGAIN: the association's send buffer is full). */
int load_peer_send_data(load_peer_t *p, uint64_t now_us, const uint8_t *buf, size_t len);
/* Receive section by mid; NULL if none. */
load_recv_t *load_peer_recv_by_mid(load_peer_t *p, const char *mid);
void load_peer_set_loss(load_peer_t *p, double loss);
/* PLI for the section's SSRC (the one seen, else the declared one). -1 if none known. */
int load_peer_send_pli(load_peer_t *p, load_recv_t *r);
/* REMB every second with this value, sent once now; 0 stops. */
void load_peer_set_remb(load_peer_t *p, uint64_t now_us, uint64_t bps);

#endif
