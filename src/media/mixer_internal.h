/* State of the audio mixer shared by mixer.c (attendees, tick, mixing) and mixer_out.c
 * (encoder pool, per-listener RTP output). Not a public header. */
#ifndef SFU_MIXER_INTERNAL_H
#define SFU_MIXER_INTERNAL_H

#include <opus/opus.h>

#include "sfu/limiter.h"
#include "sfu/mixer.h"

#define MIX_SAMPLES (SFU_AUDIO_FRAME * SFU_AUDIO_MAX_CHANNELS)
#define MIX_MAX_MIXED (SFU_TALKERS_MAX + SFU_TALKERS_MAX_CONTENT)
/* Encoders per output format: the shared one, one per talker who listens, and as many
 * again for talkers handing back to the shared stream. */
#define POOL_MAX (1 + 2 * SFU_TALKERS_MAX)
#define OPUS_MAX_PAYLOAD 1275 /* RFC 6716 §3.2.1: the largest frame */

typedef enum { OUT_NONE = 0, OUT_SHARED, OUT_OWN, OUT_HANDBACK } mixer_out_mode_t;

/* One encoder of the pool. Owned by the mixer (pool[fmt][k]); entry 0 of each format is
 * the shared encoder. The OpusEncoder lives in the same allocation, right after this
 * struct, so copying its state is one memcpy of opus_encoder_get_size(channels). */
typedef struct {
  OpusEncoder *enc;
  int channels;
  int owner;        /* attendee slot; -1 shared; -2 free */
  int loss_perc;    /* OPUS_SET_PACKET_LOSS_PERC as applied */
  uint8_t dtx_last; /* the last encode was a DTX frame */
  uint8_t dtx_on;   /* OPUS_SET_DTX as applied: only while the input is silent */
  uint8_t encoded;  /* encoded this tick */
  sfu_limiter_t lim;
  size_t len; /* this tick's payload; 0: nothing to send */
  uint8_t payload[OPUS_MAX_PAYLOAD];
} mixer_enc_t;

/* One attendee. Owned by the mixer (att[slot]), freed by sfu_mixer_attendee_remove. */
struct sfu_mixer_attendee {
  int slot;
  char id[SFU_MIXER_ID_MAX];
  const sfu_audio_source_ops_t *ops;
  void *src;
  void *listener_user;
  uint8_t can_send, can_receive, content, stereo, muted;
  sfu_talker_t talk;
  float level;   /* this tick's level (peeked or measured), -1 unknown */
  int mix_index; /* index into the tick's PCM buffers, -1 if not mixed */
  /* output (mixer_out.c) */
  uint32_t ssrc;
  uint8_t pt;
  uint16_t seq;
  uint32_t ts;
  uint8_t marker_next; /* the next packet sent is the first after silence */
  uint8_t mode;        /* mixer_out_mode_t */
  int enc;             /* pool index of its own encoder (format stereo), -1 none */
  int handback_left;   /* frames its own encoder still encodes the shared mix */
  int loss_perc;       /* its downlink loss, 0..100 */
};

/* The mixer. Owned by its creator (sfu_mixer_new / sfu_mixer_free); one thread. */
struct sfu_mixer {
  sfu_mixer_config_t cfg;
  int max_att;
  sfu_mixer_attendee_t *att[SFU_MIXER_MAX_ATTENDEES];
  sfu_talker_t *tv[SFU_MIXER_MAX_ATTENDEES]; /* &att[i]->talk or NULL, for talkers.c */
  int n_att, n_slots;                        /* attendees; highest slot used + 1 */
  sfu_talkers_t talkers;
  sfu_audio_signals_t *sig;
  /* this tick's talkers' PCM, interleaved with their own channel count */
  int n_pcm;
  float pcm[MIX_MAX_MIXED][MIX_SAMPLES];
  int pcm_ch[MIX_MAX_MIXED];
  uint8_t pcm_live[MIX_MAX_MIXED]; /* pull gave PCM (else silence) */
  int n_live;
  float scratch[MIX_SAMPLES]; /* decode target of non-mixed level probes */
  float mix[MIX_SAMPLES];     /* sum of the talkers, mix_ch channels */
  int mix_ch;
  float fmt_mix[2][MIX_SAMPLES];  /* mix in each output format, unlimited */
  float work[MIX_SAMPLES];        /* one encoder's input */
  mixer_enc_t *pool[2][POOL_MAX]; /* [0 mono, 1 stereo][k], grown on demand */
  int n_pool[2];
  int shared_listeners[2]; /* this tick */
  uint8_t loss_dirty;
  uint64_t loss_at_tick; /* tick of the last percentile */
  uint8_t rtp[12 + OPUS_MAX_PAYLOAD];
  sfu_mixer_stats_t st;
};

/* mixer_out.c */
int sfu_mixer__ensure_shared(sfu_mixer_t *m, int stereo);
void sfu_mixer__release_enc(sfu_mixer_t *m, sfu_mixer_attendee_t *a);
void sfu_mixer__out_assign(sfu_mixer_t *m, uint64_t now_us);
void sfu_mixer__out_encode(sfu_mixer_t *m);
void sfu_mixer__out_send(sfu_mixer_t *m);
void sfu_mixer__pool_free(sfu_mixer_t *m);

#endif
