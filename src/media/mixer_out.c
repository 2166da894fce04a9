/* Audio mixer output: the encoder pool, shared and mix-minus-self encodes, the
 * hand-over between them, loss-driven FEC, DTX and per-listener RTP (mixer.h). */
#include <stdlib.h>
#include <string.h>

#include "media/mixer_internal.h"
#include "sfu/err.h"

/* ---- pool ---- */

static mixer_enc_t *enc_new(const sfu_mixer_config_t *c, int channels) {
  int size = opus_encoder_get_size(channels);
  if (size <= 0) return NULL;
  /* The struct and the OpusEncoder in one block; aligned for the encoder's doubles. */
  size_t head = (sizeof(mixer_enc_t) + 15) & ~(size_t)15;
  mixer_enc_t *e = aligned_alloc(16, (head + (size_t)size + 15) & ~(size_t)15);
  if (!e) return NULL;
  memset(e, 0, sizeof *e);
  e->enc = (OpusEncoder *)((uint8_t *)e + head);
  e->channels = channels;
  e->owner = -2;
  if (opus_encoder_init(e->enc, SFU_AUDIO_RATE, channels, OPUS_APPLICATION_VOIP) != OPUS_OK) {
    free(e);
    return NULL;
  }
  opus_int32 rate = channels == 2 ? (opus_int32)c->stereo_bitrate_bps : (opus_int32)c->bitrate_bps;
  opus_encoder_ctl(e->enc, OPUS_SET_BITRATE(rate));
  opus_encoder_ctl(e->enc, OPUS_SET_COMPLEXITY(c->complexity));
  /* In-band FEC (RFC 6716 §2.1.7): only spends bits when the loss percentage is > 0,
   * which the listeners' receiver reports set (apply_loss). */
  opus_encoder_ctl(e->enc, OPUS_SET_INBAND_FEC(1));
  opus_encoder_ctl(e->enc, OPUS_SET_PACKET_LOSS_PERC(0));
  /* DTX starts off: encode() turns it on only while the mixer knows the input is
   * silent (see there). */
  opus_encoder_ctl(e->enc, OPUS_SET_DTX(0));
  sfu_limiter_init(&e->lim);
  return e;
}

static size_t enc_bytes(int channels) {
  return ((sizeof(mixer_enc_t) + 15) & ~(size_t)15) + (size_t)opus_encoder_get_size(channels);
}

int sfu_mixer__ensure_shared(sfu_mixer_t *m, int stereo) {
  if (m->n_pool[stereo]) return 0;
  mixer_enc_t *e = enc_new(&m->cfg, stereo + 1);
  if (!e) return SFU_ENOMEM;
  e->owner = -1;
  m->pool[stereo][0] = e;
  m->n_pool[stereo] = 1;
  m->st.pool_encoders++;
  m->st.pool_bytes += enc_bytes(stereo + 1);
  return 0;
}

void sfu_mixer__pool_free(sfu_mixer_t *m) {
  for (int f = 0; f < 2; f++)
    for (int k = 0; k < m->n_pool[f]; k++) free(m->pool[f][k]);
}

void sfu_mixer__release_enc(sfu_mixer_t *m, sfu_mixer_attendee_t *a) {
  if (a->enc >= 0) {
    int f = a->stereo; /* its encoder's format: release happens before a format change */
    for (int ff = 0; ff < 2; ff++)
      if (a->enc < m->n_pool[ff] && m->pool[ff][a->enc]->owner == a->slot) f = ff;
    m->pool[f][a->enc]->owner = -2;
  }
  a->enc = -1;
  a->handback_left = 0;
}

static int enc_format(const sfu_mixer_t *m, const sfu_mixer_attendee_t *a) {
  for (int f = 0; f < 2; f++)
    if (a->enc >= 0 && a->enc < m->n_pool[f] && m->pool[f][a->enc]->owner == a->slot) return f;
  return -1;
}

/* A free encoder of format f for attendee a, its state a copy of the shared encoder's
 * (what a's decoder has been decoding): -1 when none can be had. */
static int take(sfu_mixer_t *m, int f, sfu_mixer_attendee_t *a) {
  int k = -1;
  for (int i = 1; i < m->n_pool[f] && k < 0; i++)
    if (m->pool[f][i]->owner == -2) k = i;
  if (k < 0 && m->n_pool[f] < POOL_MAX) {
    /* Grows to the meeting's high-water mark (talkers + hand-backs in flight), then is
     * reused: allocation only while warming up. */
    mixer_enc_t *e = enc_new(&m->cfg, f + 1);
    if (e) {
      k = m->n_pool[f]++;
      m->pool[f][k] = e;
      m->st.pool_encoders++;
      m->st.pool_bytes += enc_bytes(f + 1);
    }
  }
  if (k < 0) {
    /* Full: cut short the hand-back closest to its end (its last frames of convergence
     * are the least needed). Cannot run out otherwise: talkers who listen <= 16. */
    sfu_mixer_attendee_t *victim = NULL;
    for (int i = 1; i < m->n_pool[f]; i++) {
      int o = m->pool[f][i]->owner;
      sfu_mixer_attendee_t *b = o >= 0 ? m->att[o] : NULL;
      if (b && b->mode == OUT_HANDBACK && (!victim || b->handback_left < victim->handback_left))
        victim = b;
    }
    if (!victim) return -1;
    k = victim->enc;
    sfu_mixer__release_enc(m, victim);
    victim->mode = OUT_SHARED;
    m->shared_listeners[f]++; /* it may have been counted already: only "> 0" matters */
  }
  mixer_enc_t *e = m->pool[f][k], *s = m->pool[f][0];
  /* opus.h: "The encoder state is always continuous in memory and only a shallow copy
   * is sufficient to copy it (e.g. memcpy())". The limiter's envelope goes with it. */
  memcpy(e->enc, s->enc, (size_t)opus_encoder_get_size(f + 1));
  e->lim = s->lim;
  e->loss_perc = s->loss_perc;
  e->dtx_last = s->dtx_last;
  e->dtx_on = s->dtx_on; /* the copied state carries the shared encoder's setting */
  e->owner = a->slot;
  return k;
}

/* ---- per tick: who is served by which encoder ---- */

void sfu_mixer__out_assign(sfu_mixer_t *m, uint64_t now_us) {
  m->shared_listeners[0] = m->shared_listeners[1] = 0;
  for (int i = 0; i < m->n_slots; i++) {
    sfu_mixer_attendee_t *a = m->att[i];
    if (!a) continue;
    int f = a->stereo;
    if (!a->can_receive) {
      sfu_mixer__release_enc(m, a);
      a->mode = OUT_NONE;
      continue;
    }
    if (a->enc >= 0 && enc_format(m, a) != f) sfu_mixer__release_enc(m, a); /* format changed */
    if (a->mix_index >= 0) {
      /* A talker who listens: its own mix-minus-self encoder. */
      if (a->enc < 0) {
        a->enc = take(m, f, a);
        if (a->enc < 0) m->st.pool_exhausted++;
      }
      a->mode = a->enc >= 0 ? OUT_OWN : OUT_SHARED;
      a->handback_left = 0;
    } else if (a->enc >= 0) {
      /* Back to the shared stream: its own encoder first encodes the shared mix for
       * SFU_MIXER_HANDBACK_FRAMES frames, so that its state (and that of the listener's
       * decoder) converges on the shared encoder's before the packets switch. */
      if (a->mode == OUT_OWN) a->handback_left = m->cfg.handback_frames;
      if (a->handback_left > 0) {
        a->handback_left--;
        a->mode = OUT_HANDBACK;
      } else {
        sfu_mixer__release_enc(m, a);
        a->mode = OUT_SHARED;
      }
    } else {
      a->mode = OUT_SHARED;
    }
    if (a->mode == OUT_SHARED) m->shared_listeners[f]++;
  }
  (void)now_us;
}

/* ---- per tick: encodes ---- */

/* dst (out_ch channels) = src (src_ch channels), converting. */
static void convert(float *dst, int out_ch, const float *src, int src_ch) {
  if (out_ch == src_ch) {
    memcpy(dst, src, sizeof(float) * SFU_AUDIO_FRAME * (size_t)out_ch);
  } else if (out_ch == 1) { /* stereo to mono: the average keeps a centred voice's level */
    for (int f = 0; f < SFU_AUDIO_FRAME; f++) dst[f] = 0.5f * (src[2 * f] + src[2 * f + 1]);
  } else {
    for (int f = 0; f < SFU_AUDIO_FRAME; f++) dst[2 * f] = dst[2 * f + 1] = src[f];
  }
}

/* dst (out_ch) -= src (src_ch): removes a talker's own voice from its copy of the mix,
 * converted exactly as mix_all and convert added it, so the subtraction cancels it up to
 * float rounding (~-140 dB). */
static void subtract(float *dst, int out_ch, const float *src, int src_ch) {
  if (out_ch == src_ch) {
    for (int i = 0; i < SFU_AUDIO_FRAME * out_ch; i++) dst[i] -= src[i];
  } else if (out_ch == 1) {
    for (int f = 0; f < SFU_AUDIO_FRAME; f++) dst[f] -= 0.5f * (src[2 * f] + src[2 * f + 1]);
  } else {
    for (int f = 0; f < SFU_AUDIO_FRAME; f++) {
      dst[2 * f] -= src[f];
      dst[2 * f + 1] -= src[f];
    }
  }
}

static void apply_loss(mixer_enc_t *e, int perc) {
  if (perc == e->loss_perc) return;
  e->loss_perc = perc;
  opus_encoder_ctl(e->enc, OPUS_SET_PACKET_LOSS_PERC(perc));
}

/* The shared encoder's loss: the 90th percentile of its listeners' (issue 9: FEC tuned
 * from measured loss; a high percentile so that the lossy few are protected without
 * the one worst link setting everyone's overhead). A histogram, O(listeners), at most
 * once a second and only after a change. */
static void shared_loss(sfu_mixer_t *m) {
  if (!m->loss_dirty || m->st.ticks - m->loss_at_tick < 50) return;
  m->loss_dirty = 0;
  m->loss_at_tick = m->st.ticks;
  for (int f = 0; f < 2; f++) {
    if (!m->n_pool[f]) continue;
    uint16_t hist[101] = {0};
    int n = 0;
    for (int i = 0; i < m->n_slots; i++) {
      sfu_mixer_attendee_t *a = m->att[i];
      if (a && a->can_receive && a->stereo == f && a->mix_index < 0) {
        hist[a->loss_perc]++;
        n++;
      }
    }
    int want = (n * 9 + 9) / 10, acc = 0, p = 0; /* ceil(0.9 n) */
    for (p = 0; p < 100 && acc + hist[p] < want; p++) acc += hist[p];
    apply_loss(m->pool[f][0], n ? p : 0);
  }
}

/* Limits and encodes m->work (already the encoder's input) into e. silent: the input
 * is known to be all zero. */
static void encode(sfu_mixer_t *m, mixer_enc_t *e, int silent) {
  e->len = 0;
  e->encoded = 1;
  if (silent && e->dtx_last && !m->cfg.no_dtx) {
    /* Digital silence into an encoder already in DTX: nothing to send, nothing to
     * compute (a silent meeting costs no encodes). */
    m->st.skipped_encodes++;
    return;
  }
  /* DTX only when the mix is silence (no talker contributes to it). Left to itself,
   * libopus' DTX follows its VAD, which adapts its noise floor: a steady tone or a
   * sustained chord in a content share becomes "noise" after a few seconds and would
   * be dropped. The mixer knows better: the talker selection already decided. */
  int want_dtx = silent && !m->cfg.no_dtx;
  if (want_dtx != e->dtx_on) {
    e->dtx_on = (uint8_t)want_dtx;
    opus_encoder_ctl(e->enc, OPUS_SET_DTX(want_dtx));
  }
  if (sfu_limiter_process(&e->lim, m->work, SFU_AUDIO_FRAME, e->channels)) m->st.limiter_frames++;
  opus_int32 n = opus_encode_float(e->enc, m->work, SFU_AUDIO_FRAME, e->payload,
                                   (opus_int32)sizeof e->payload);
  m->st.encodes++;
  m->st.encodes_last_tick++;
  if (n < 0) return; /* cannot happen with valid arguments; the frame is skipped */
  /* opus.h: "If the return value is 2 bytes or less, then the packet does not need to
   * be transmitted (DTX)." */
  e->dtx_last = n <= 2;
  if (n > 2 || !e->dtx_on) e->len = (size_t)n;
}

void sfu_mixer__out_encode(sfu_mixer_t *m) {
  m->st.encodes_last_tick = 0;
  shared_loss(m);
  for (int f = 0; f < 2; f++)
    for (int k = 0; k < m->n_pool[f]; k++) {
      m->pool[f][k]->encoded = 0;
      m->pool[f][k]->len = 0;
    }
  int silent_all = m->n_live == 0;
  for (int f = 0; f < 2; f++) {
    if (!m->n_pool[f]) continue;
    convert(m->fmt_mix[f], f + 1, m->mix, m->mix_ch);
    if (m->shared_listeners[f]) {
      memcpy(m->work, m->fmt_mix[f], sizeof(float) * SFU_AUDIO_FRAME * (size_t)(f + 1));
      encode(m, m->pool[f][0], silent_all);
      m->st.shared_encodes++;
    }
  }
  for (int i = 0; i < m->n_slots; i++) {
    sfu_mixer_attendee_t *a = m->att[i];
    if (!a || (a->mode != OUT_OWN && a->mode != OUT_HANDBACK)) continue;
    int f = a->stereo;
    mixer_enc_t *e = m->pool[f][a->enc];
    apply_loss(e, a->loss_perc);
    memcpy(m->work, m->fmt_mix[f], sizeof(float) * SFU_AUDIO_FRAME * (size_t)(f + 1));
    int silent = silent_all;
    if (a->mode == OUT_OWN) {
      int k = a->mix_index;
      if (m->pcm_live[k]) {
        subtract(m->work, f + 1, m->pcm[k], m->pcm_ch[k]);
        silent = m->n_live == 1; /* only its own voice: its mix is silence */
      }
      if (silent) memset(m->work, 0, sizeof(float) * SFU_AUDIO_FRAME * (size_t)(f + 1));
      m->st.own_encodes++;
    } else {
      m->st.handback_encodes++;
    }
    encode(m, e, silent);
  }
}

/* ---- per tick: RTP to every listener ---- */

static void put_header(uint8_t *p, const sfu_mixer_attendee_t *a, int marker) {
  /* RFC 3550 §5.1: V=2, no padding, no extension, no CSRC. RFC 3551 §4.1: for audio the
   * marker is set on the first packet after a silence period (DTX). */
  p[0] = 0x80;
  p[1] = (uint8_t)((marker ? 0x80 : 0) | a->pt);
  p[2] = (uint8_t)(a->seq >> 8);
  p[3] = (uint8_t)a->seq;
  p[4] = (uint8_t)(a->ts >> 24);
  p[5] = (uint8_t)(a->ts >> 16);
  p[6] = (uint8_t)(a->ts >> 8);
  p[7] = (uint8_t)a->ts;
  p[8] = (uint8_t)(a->ssrc >> 24);
  p[9] = (uint8_t)(a->ssrc >> 16);
  p[10] = (uint8_t)(a->ssrc >> 8);
  p[11] = (uint8_t)a->ssrc;
}

void sfu_mixer__out_send(sfu_mixer_t *m) {
  for (int i = 0; i < m->n_slots; i++) {
    sfu_mixer_attendee_t *a = m->att[i];
    if (!a) continue;
    const mixer_enc_t *e = NULL;
    if (a->mode == OUT_SHARED)
      e = m->pool[a->stereo][0];
    else if (a->mode == OUT_OWN || a->mode == OUT_HANDBACK)
      e = m->pool[a->stereo][a->enc];
    if (e && e->len) {
      put_header(m->rtp, a, a->marker_next);
      memcpy(m->rtp + 12, e->payload, e->len);
      m->cfg.send(m->cfg.user, a->listener_user, m->rtp, 12 + e->len);
      a->seq++;
      a->marker_next = 0;
      m->st.packets_sent++;
      m->st.bytes_sent += 12 + e->len;
    } else {
      /* Nothing this frame (DTX, or not listening): the sequence stays contiguous, the
       * timestamp runs on, so the listener's decoder sees a DTX gap, not a loss. */
      a->marker_next = 1;
      if (e) m->st.dtx_frames++;
    }
    a->ts += SFU_AUDIO_FRAME; /* the 48 kHz RTP clock of the 20 ms frame (RFC 7587 §4.1) */
  }
}
