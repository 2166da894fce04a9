/* The meeting's 48 kHz Opus audio mixer (issue 9): every attendee with audio Receive
 * gets one Opus stream, the mix of the other attendees' voices and of any content-share
 * audio, never its own voice.
 *
 * Per 20 ms tick (sfu_mixer_tick, driven by the loop timer; tests drive it with virtual
 * time):
 *   1. every source's level is peeked (audio_source.h) and the talkers are chosen
 *      (talkers.h: smoothed levels, hold time, up to max_talkers voices + content);
 *   2. every source is pulled exactly once, decode = 1 for the talkers only;
 *   3. the talkers are summed in float (the full mix F);
 *   4. encodes (mixer_out.c): one shared encode of F per output format (mono, stereo)
 *      for every listener who is not a talker, one mix-minus-self encode (F - own
 *      voice) per talker who listens: at most (talkers + 1) encodes per format, not one
 *      per attendee. Each output is limited softly (limiter.h) before its encoder;
 *   5. each listener's RTP packet is built (its SSRC, payload type, continuous seq and
 *      timestamp, marker after silence) and handed to cfg.send;
 *   6. the signals (audio_signals.h) are updated and, about 5 times a second, pushed
 *      through cfg.signals.
 *
 * Encoders come from a small per-meeting pool (a libopus encoder is ~30-50 KB: never one
 * per listener). A listener who becomes a talker starts its own encoder from a copy of
 * the shared encoder's state (libopus: "the encoder state is always continuous in memory
 * and only a shallow copy is sufficient to copy it", opus.h), so its decoder sees one
 * continuous stream. A talker who goes back to the shared stream keeps its own encoder
 * for SFU_MIXER_HANDBACK_FRAMES frames fed the same mix as the shared encoder, which
 * brings the two encoders' states together before its packets switch (see
 * docs/architecture.md, "Audio: the mixer", for why not a fade).
 *
 * Sans-IO: no clock, no socket; time is now_us. Allocation happens at creation, on
 * sfu_mixer_attendee_add, and when the encoder pool grows to a new high-water mark (at
 * most SFU_MIXER_POOL_MAX per format); a tick in steady state allocates nothing.
 * One thread (the meeting's loop). */
#ifndef SFU_MIXER_H
#define SFU_MIXER_H

#include <stddef.h>
#include <stdint.h>

#include "sfu/audio_source.h"
#include "sfu/audio_signals.h"
#include "sfu/talkers.h"

#define SFU_MIXER_MAX_ATTENDEES 250 /* issue 9: audio streams per meeting */
#define SFU_MIXER_TICK_US 20000ull
#define SFU_MIXER_DEFAULT_BITRATE 32000
#define SFU_MIXER_MAX_BITRATE_MONO 64000
#define SFU_MIXER_MAX_BITRATE_STEREO 128000
#define SFU_MIXER_HANDBACK_FRAMES 20 /* 400 ms of own encoder on the shared mix */
#define SFU_MIXER_RTP_MAX 1500       /* largest packet handed to send */
#define SFU_MIXER_ID_MAX SFU_SIGNALS_ID_MAX

typedef struct sfu_mixer sfu_mixer_t;
typedef struct sfu_mixer_attendee sfu_mixer_attendee_t;

/* One RTP packet for one listener (plain RTP: the owner protects it with SRTP). rtp is
 * valid during the call only. */
typedef void (*sfu_mixer_send_cb)(void *user, void *listener_user, const uint8_t *rtp, size_t len);
/* A signals document for every listener (topic `sfu:audio`); valid during the call. */
typedef void (*sfu_mixer_signals_cb)(void *user, const char *json, size_t len);

/* Owned by the caller, copied by sfu_mixer_new. Zero fields take the defaults. */
typedef struct {
  int max_talkers;             /* voices mixed at once: 1..16, default 5 */
  uint32_t bitrate_bps;        /* mono output: default 32000, at most 64000 */
  uint32_t stereo_bitrate_bps; /* stereo output: default bitrate_bps, at most 128000 */
  int complexity;              /* libopus 0..10; 0 = default (SFU_MIXER_DEFAULT_COMPLEXITY) */
  uint64_t hold_us;            /* talker hold; 0 = SFU_TALKERS_DEFAULT_HOLD_US */
  int no_dtx;                  /* 1: send every frame even when the mix is silent */
  int max_attendees;           /* 1..250, default 250 */
  int handback_frames;         /* 0 = SFU_MIXER_HANDBACK_FRAMES; < 0 = switch at once
                                  (tests measure the click it avoids) */
  sfu_mixer_send_cb send;
  sfu_mixer_signals_cb signals; /* may be NULL */
  void *user;
} sfu_mixer_config_t;

#define SFU_MIXER_DEFAULT_COMPLEXITY 5

/* One attendee as the mixer sees it. Copied by sfu_mixer_attendee_add. */
typedef struct {
  const char *id;                    /* attendee id (copied; printable, no '"' '\\') */
  const sfu_audio_source_ops_t *ops; /* its incoming audio; NULL: none yet */
  void *src;
  uint8_t can_send, can_receive; /* audio capabilities */
  uint8_t content;               /* content-share audio: heard by everyone, owner too */
  const char *content_owner;     /* the sharing attendee's id (for the record: its own
                                    stream is never subtracted from the owner's mix) */
  uint8_t stereo;                /* the listener's SDP says stereo=1 */
  uint32_t ssrc;                 /* RTP identity of the stream sent to it */
  uint8_t payload_type;
  uint16_t first_seq; /* the caller's random initial values (RFC 3550 §5.1) */
  uint32_t first_ts;
  void *listener_user; /* handed back to send */
} sfu_mixer_attendee_desc_t;

/* Counters (cumulative unless said). */
typedef struct {
  uint64_t ticks;
  uint64_t encodes;           /* libopus encode calls */
  uint64_t encodes_last_tick; /* in the last tick */
  uint64_t handback_encodes;  /* of which by talkers handing back to the shared stream */
  uint64_t shared_encodes, own_encodes;
  uint64_t skipped_encodes; /* silent streams whose encoder was already in DTX */
  uint64_t packets_sent, bytes_sent;
  uint64_t dtx_frames;     /* frames not sent because the mix was silent */
  uint64_t limiter_frames; /* encoded frames in which the limiter acted */
  uint64_t decodes;        /* pulls with decode = 1 */
  uint64_t bad_frames;     /* PCM with NaN, inf or > 8 from a source: dropped as silence */
  uint64_t talker_changes;
  uint64_t pool_encoders;  /* encoders allocated (high-water mark) */
  uint64_t pool_exhausted; /* times a talker had to wait for an encoder */
  size_t pool_bytes;       /* their memory */
  int talkers;             /* voices mixed in the last tick */
} sfu_mixer_stats_t;

sfu_mixer_t *sfu_mixer_new(const sfu_mixer_config_t *cfg);
/* Frees everything; no callback fires. */
void sfu_mixer_free(sfu_mixer_t *m);

/* NULL on a bad desc (SFU_EINVAL), a duplicate id, or a full meeting (250). */
sfu_mixer_attendee_t *sfu_mixer_attendee_add(sfu_mixer_t *m, const sfu_mixer_attendee_desc_t *d,
                                             uint64_t now_us);
void sfu_mixer_attendee_remove(sfu_mixer_t *m, sfu_mixer_attendee_t *a);
sfu_mixer_attendee_t *sfu_mixer_attendee_find(sfu_mixer_t *m, const char *id);
/* Live updates: they take effect at the next tick. */
void sfu_mixer_attendee_set_caps(sfu_mixer_t *m, sfu_mixer_attendee_t *a, int can_send,
                                 int can_receive);
void sfu_mixer_attendee_set_source(sfu_mixer_t *m, sfu_mixer_attendee_t *a,
                                   const sfu_audio_source_ops_t *ops, void *src);
void sfu_mixer_attendee_set_stereo(sfu_mixer_t *m, sfu_mixer_attendee_t *a, int stereo);
/* The sender says it is muted: out of the mix, "m":1 in the signals. */
void sfu_mixer_attendee_set_muted(sfu_mixer_t *m, sfu_mixer_attendee_t *a, int muted);
/* Signal strength of its incoming audio (0, 0.5, 1), from the receive side's stats. */
void sfu_mixer_attendee_set_strength(sfu_mixer_t *m, sfu_mixer_attendee_t *a, float strength);
/* Loss of the listener's downlink (RFC 3550 §6.4.1 fraction lost / 256, 0..1), from its
 * receiver reports: sets OPUS_SET_PACKET_LOSS_PERC of the encoder that serves it (the
 * shared encoder uses the 90th percentile of its listeners). */
void sfu_mixer_attendee_set_loss(sfu_mixer_t *m, sfu_mixer_attendee_t *a, float fraction);

/* One 20 ms tick at now_us (the caller's loop timer, every SFU_MIXER_TICK_US). */
void sfu_mixer_tick(sfu_mixer_t *m, uint64_t now_us);

void sfu_mixer_stats(const sfu_mixer_t *m, sfu_mixer_stats_t *out);
sfu_audio_signals_t *sfu_mixer_signals(sfu_mixer_t *m);
/* The signals slot of an attendee (for sfu_audio_signals_get). */
int sfu_mixer_attendee_slot(const sfu_mixer_attendee_t *a);
/* 1 if the attendee is mixed in the last tick (a voice talker or content). */
int sfu_mixer_attendee_talking(const sfu_mixer_attendee_t *a);
/* Bytes per audio attendee (mixer + signals state, without encoders). */
size_t sfu_mixer_bytes_per_attendee(void);

#endif
