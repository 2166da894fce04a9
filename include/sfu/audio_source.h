/* What the audio mixer (issue 9) reads from each attendee's incoming audio: one 20 ms
 * frame of 48 kHz PCM per tick, pulled, never pushed. The receive side (jitter buffer,
 * Opus decoder with PLC / FEC / RED: audio_in.h) implements it; the mixer's tests use
 * synthetic tone sources.
 *
 * Two phases per tick, so that silence is never decoded (issue 9: "streams whose audio
 * level says silence are not decoded"): the mixer first asks every source for the level
 * of the frame it is about to play (peek), picks the talkers, then pulls every source
 * once: with decode = 1 for the talkers (PCM wanted), decode = 0 for the others (the
 * source advances its playout by one frame and keeps its decoder state usable, but
 * writes no PCM).
 *
 * Sans-IO: now_us is the mixer's tick time; a source plays the frame due at now_us minus
 * its own jitter-buffer delay. One thread (the meeting's loop). */
#ifndef SFU_AUDIO_SOURCE_H
#define SFU_AUDIO_SOURCE_H

#include <stdint.h>

#define SFU_AUDIO_RATE 48000
#define SFU_AUDIO_FRAME 960 /* samples per channel in 20 ms at 48 kHz */
#define SFU_AUDIO_MAX_CHANNELS 2

/* What pull produced. */
typedef enum {
  SFU_AUDIO_NONE = 0, /* nothing to play (not started, stopped, or past the PLC limit) */
  SFU_AUDIO_SILENT,   /* DTX, digital silence, or the level says silence: pcm untouched */
  SFU_AUDIO_PCM,      /* pcm holds SFU_AUDIO_FRAME x channels samples (interleaved) */
} sfu_audio_pull_t;

typedef struct {
  /* The level of the frame the next pull will play: 0 (silence) .. 1 (full scale),
   * from the RFC 6464 audio level where the sender provides it, else from the energy of
   * what was last decoded; < 0 when unknown (the mixer then treats the source as a
   * possible talker and decodes it). May be called once per tick before pull. */
  float (*peek_level)(void *src, uint64_t now_us);
  /* Plays the next 20 ms frame. decode = 1: pcm[SFU_AUDIO_FRAME * SFU_AUDIO_MAX_CHANNELS]
   * receives float samples in -1..1 (interleaved if stereo) and *channels is set (1 or
   * 2); decode = 0: nothing is written (the frame is skipped, its packets consumed).
   * Exactly one pull per source per tick. */
  sfu_audio_pull_t (*pull)(void *src, uint64_t now_us, int decode, float *pcm, int *channels);
} sfu_audio_source_ops_t;

#endif
