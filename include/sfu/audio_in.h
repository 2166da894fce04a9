/* The receive side of the audio mixer (issue 9), one per incoming Opus stream: RTP packets
 * in, 20 ms frames of 48 kHz PCM out through the sfu_audio_source_ops_t contract
 * (audio_source.h). Sans-IO: every call takes now_us; no clock, no I/O, no allocation
 * after sfu_audio_in_new.
 *
 * Pipeline (docs/architecture.md, "Audio: the receive side", says why each choice):
 *   RTP (plain Opus, RFC 7587, or RFC 2198 RED carrying Opus)
 *     -> unwrap seq/timestamp, jitter (RFC 3550 §A.8), duplicate / late / jump checks
 *     -> SFU_AUDIO_IN_SLOTS packet slots keyed by RTP timestamp, their payloads in an
 *        arena of SFU_AUDIO_IN_ARENA bytes (a RED redundant block fills the slot of a
 *        missing packet)
 *     -> playout: the slot at the play position is decoded (opus_decode_float, 48 kHz, channels
 *        from the TOC; packets over 60 ms a part at a time) into a PCM FIFO, or, when a
 *        packet is missing, its slot is rebuilt from the next packet's in-band FEC (RFC
 *        6716 §2.1.7 LBRR) or concealed (PLC) for at most SFU_AUDIO_IN_PLC_MAX_MS, or played
 *        as silence when the sequence numbers say the gap is DTX (contiguous seq,
 *        timestamp jump)
 *     -> 960-sample frames pulled by the mixer once per 20 ms tick.
 * The buffer targets the ~98th percentile of the packets' extra transit delay plus one
 * frame, bounded to [SFU_AUDIO_IN_MIN_DELAY_MS, SFU_AUDIO_IN_MAX_DELAY_MS]; a buffer above
 * its target drops a frame (preferably a quiet one), one that runs dry conceals without
 * advancing: that absorbs clock drift between the sender and the meeting's tick.
 *
 * Memory per stream (sfu_audio_in_memory): 53 KB = sizeof(sfu_audio_in_t) 26 KB (payload
 * arena 8 KB, 16-bit stereo PCM FIFO of 80 ms 15 KB, slots and state 3 KB) +
 * opus_decoder_get_size(2) 27 KB (plus one 23 KB float decode buffer per thread, shared by
 * all streams). Owner: the attendee's audio state (new/free); one thread
 * (the meeting's loop). Code: src/media/audio_in*.c (map in audio_in_internal.h). */
#ifndef SFU_AUDIO_IN_H
#define SFU_AUDIO_IN_H

#include <stddef.h>
#include <stdint.h>

#include "sfu/audio_source.h"

/* A ring of 32 packets covers 640 ms of 20 ms packets (320 ms of 10 ms ones), beyond the
 * 200 ms bound; with 2.5 / 5 ms packets the ring, not the delay bound, limits the buffer
 * (80 / 160 ms): the oldest packet is then dropped (counted as overflow). */
#define SFU_AUDIO_IN_SLOTS 32
/* Largest Opus payload kept (an Ethernet MTU; RFC 7587 packets in WebRTC are far below);
 * a bigger one is counted bad and played as a loss. */
#define SFU_AUDIO_IN_MAX_PAYLOAD 1500
/* Bytes of buffered payloads (plain or RED-recovered). Opus in WebRTC is 6-128 kbit/s:
 * 15-320 bytes per 20 ms. 8 KB hold the 200 ms delay bound at up to 320 kbit/s and the
 * whole slot ring (640 ms of 20 ms packets) at up to 100 kbit/s; past that the oldest
 * packet is dropped (counted as overflow), as when the slots are full. */
#define SFU_AUDIO_IN_ARENA 8192
#define SFU_AUDIO_IN_MAX_PACKET_SAMPLES 5760 /* 120 ms at 48 kHz (RFC 6716 §3.2.5) */
#define SFU_AUDIO_IN_MIN_DELAY_MS 20
#define SFU_AUDIO_IN_MAX_DELAY_MS 200
#define SFU_AUDIO_IN_START_DELAY_MS 40 /* before any jitter is measured */
#define SFU_AUDIO_IN_PLC_MAX_MS 400
/* RFC 6464 level (-dBov) at or beyond which a frame is silence: not decoded. 127 is what
 * Chromium sends for digital silence; 96 dB is below a 16-bit microphone's last bit. */
#define SFU_AUDIO_IN_SILENT_DBOV 96
/* Muted (sfu_audio_in_muted): this long of digital silence in a row. */
#define SFU_AUDIO_IN_MUTED_MS 500

typedef struct {
  uint8_t opus_pt; /* payload type of plain Opus packets */
  int red_pt;      /* payload type of RFC 2198 RED carrying opus_pt, or -1 (not offered) */
} sfu_audio_in_cfg_t;

/* Counters since creation, and current figures, for the mixer's signals and
 * GetAttendeeStats. Packet counts are RTP packets; frame counts are 20 ms pulls unless
 * said otherwise. */
typedef struct {
  uint64_t packets;          /* accepted (unique, parsed) packets, plain or RED primary */
  uint64_t lost;             /* RFC 3550 §A.3 cumulative lost (expected - received) */
  uint64_t duplicates;       /* same seq seen again */
  uint64_t late;             /* arrived after its play position (dropped) */
  uint64_t overflow;         /* dropped because the slot ring was full */
  uint64_t bad_payloads;     /* unparsable Opus, zero-length, too big, malformed RED,
                              * decoder errors or garbage caught by the energy gate */
  uint64_t resets;           /* buffer restarts (seq/ts jump, silence for > 2 s) */
  uint64_t jump_drops;       /* a lone packet far off in seq or timestamp: dropped; a second
                              * one that continues it resets the buffer */
  uint64_t concealed_frames; /* 20 ms equivalents produced by PLC */
  uint64_t fec_recovered;    /* packets rebuilt from the next packet's in-band FEC */
  uint64_t red_recovered;    /* packets played from a RED redundant copy */
  uint64_t dtx_frames;       /* 20 ms equivalents of DTX silence (no concealment) */
  uint64_t silent_frames;    /* pulls answered SILENT because the level said silence */
  uint64_t skipped_frames;   /* pulls with decode = 0 whose packets were consumed undecoded */
  uint64_t decoder_calls;    /* opus_decode_float calls (normal, FEC and PLC) */
  uint64_t decoder_resets;   /* OPUS_RESET_STATE after skipped frames (then a fade-in) */
  uint64_t drift_drops;      /* frames dropped to bring the buffer down to its target */
  uint64_t drift_inserts;    /* frames inserted (concealment / silence without advancing) */
  float loss_fraction;       /* over the last ~1 s interval of expected packets, 0..1 */
  float jitter_ms;           /* RFC 3550 §A.8 interarrival jitter */
  float target_ms;           /* current target buffer level */
  float level_ms;            /* current buffer level (queued audio ahead of the play position) */
  float signal_strength;     /* 1, 0.5 or 0: see sfu_audio_in_stats() */
  int muted;                 /* sfu_audio_in_muted() */
  int silent_ms;             /* the current run of such silence, ms (0: the last frame
                              * had sound); the session's muted signal uses a shorter run */
  int channels;              /* of the last packet (1 or 2), 0 before any */
} sfu_audio_in_stats_t;

typedef struct sfu_audio_in sfu_audio_in_t;

/* NULL on allocation failure or a bad cfg. The only allocations of the stream's life. */
sfu_audio_in_t *sfu_audio_in_new(const sfu_audio_in_cfg_t *cfg);
void sfu_audio_in_free(sfu_audio_in_t *a);

/* One RTP packet (whole, header included, SRTP already removed) arrived at now_us.
 * audio_level: the RFC 6464 element's byte (V << 7 | -dBov) as parsed by the caller, or -1
 * when the packet carries none. Returns 0 if the packet (or a RED block of it) was
 * buffered, else a negative SFU_E* code saying why it was dropped (counted in stats):
 * SFU_EPARSE (bad RTP/Opus/RED), SFU_EEXIST (duplicate), SFU_ESTALE (late),
 * SFU_ETOOBIG, SFU_EINVAL (wrong payload type). Never crashes on any bytes. */
int sfu_audio_in_handle_rtp(sfu_audio_in_t *a, uint64_t now_us, const uint8_t *pkt, size_t len,
                            int audio_level);

/* The sfu_audio_source_ops_t implementation: pass (&sfu_audio_in_ops, a) to the mixer.
 * peek_level: the RFC 6464 level of the frame about to play, 10^(-dBov/20) (0 at or beyond
 * SFU_AUDIO_IN_SILENT_DBOV); without the extension the RMS of the last decoded frame (a
 * stream without levels is always decoded, decode = 0 then only withholds the PCM, so its
 * level stays known), -1 before anything was decoded; 0 when nothing is playing.
 * pull: with decode = 0 returns SILENT or NONE, never PCM (no PCM was written). */
extern const sfu_audio_source_ops_t sfu_audio_in_ops;
float sfu_audio_in_peek_level(sfu_audio_in_t *a, uint64_t now_us);
sfu_audio_pull_t sfu_audio_in_pull(sfu_audio_in_t *a, uint64_t now_us, int decode, float *pcm,
                                   int *channels);

/* Signal strength: 1 when loss < 5 % and jitter < 40 ms, 0.5 when loss < 20 % and jitter
 * < 100 ms, else 0 (DTX gaps are neither loss nor jitter). */
void sfu_audio_in_stats(const sfu_audio_in_t *a, sfu_audio_in_stats_t *out);

/* The sender's muted state as the receive side sees it: 1 when the last
 * SFU_AUDIO_IN_MUTED_MS of played frames were all digital silence: RFC 6464 levels at or
 * beyond SFU_AUDIO_IN_SILENT_DBOV (Chromium sends 127 for a muted track), decoded frames
 * below -94 dBFS, or DTX right after such a frame. A frame with sound (a level below it,
 * or decoded energy above it) ends it at once; concealment and gaps with no packets leave
 * it as it was. 0 for NULL or a stream that has not started. A microphone never produces
 * digital silence, so half a second of it is a mute, not a pause. */
int sfu_audio_in_muted(const sfu_audio_in_t *a);

/* Bytes one stream takes (the struct and its decoder), for docs and the bench. */
size_t sfu_audio_in_memory(void);

#endif
