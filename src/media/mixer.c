/* Audio mixer: attendees, the tick, talker PCM and the full mix (include/sfu/mixer.h).
 * Encoding and RTP output are in mixer_out.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "media/mixer_internal.h"
#include "sfu/err.h"

sfu_mixer_t *sfu_mixer_new(const sfu_mixer_config_t *cfg) {
  if (!cfg || !cfg->send) return NULL;
  sfu_mixer_t *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->cfg = *cfg;
  sfu_mixer_config_t *c = &m->cfg;
  if (c->max_talkers <= 0) c->max_talkers = SFU_TALKERS_DEFAULT;
  if (c->max_talkers > SFU_TALKERS_MAX) c->max_talkers = SFU_TALKERS_MAX;
  if (!c->bitrate_bps) c->bitrate_bps = SFU_MIXER_DEFAULT_BITRATE;
  if (c->bitrate_bps > SFU_MIXER_MAX_BITRATE_MONO) c->bitrate_bps = SFU_MIXER_MAX_BITRATE_MONO;
  if (c->bitrate_bps < 6000) c->bitrate_bps = 6000; /* libopus' floor */
  if (!c->stereo_bitrate_bps) c->stereo_bitrate_bps = c->bitrate_bps;
  if (c->stereo_bitrate_bps > SFU_MIXER_MAX_BITRATE_STEREO)
    c->stereo_bitrate_bps = SFU_MIXER_MAX_BITRATE_STEREO;
  if (c->stereo_bitrate_bps < 6000) c->stereo_bitrate_bps = 6000;
  if (c->handback_frames == 0) c->handback_frames = SFU_MIXER_HANDBACK_FRAMES;
  if (c->handback_frames < 0) c->handback_frames = 0;
  if (c->complexity <= 0 || c->complexity > 10) c->complexity = SFU_MIXER_DEFAULT_COMPLEXITY;
  m->max_att = c->max_attendees > 0 && c->max_attendees <= SFU_MIXER_MAX_ATTENDEES
                   ? c->max_attendees
                   : SFU_MIXER_MAX_ATTENDEES;
  sfu_talkers_init(&m->talkers, c->max_talkers, c->hold_us);
  m->sig = sfu_audio_signals_new(m->max_att);
  if (!m->sig || sfu_mixer__ensure_shared(m, 0) != 0) {
    sfu_mixer_free(m);
    return NULL;
  }
  return m;
}

void sfu_mixer_free(sfu_mixer_t *m) {
  if (!m) return;
  for (int i = 0; i < m->n_slots; i++) free(m->att[i]);
  sfu_mixer__pool_free(m);
  sfu_audio_signals_free(m->sig);
  free(m);
}

sfu_mixer_attendee_t *sfu_mixer_attendee_find(sfu_mixer_t *m, const char *id) {
  if (!id) return NULL;
  for (int i = 0; i < m->n_slots; i++) /* O(250), control path only */
    if (m->att[i] && strcmp(m->att[i]->id, id) == 0) return m->att[i];
  return NULL;
}

sfu_mixer_attendee_t *sfu_mixer_attendee_add(sfu_mixer_t *m, const sfu_mixer_attendee_desc_t *d,
                                             uint64_t now_us) {
  if (!d || !d->id || strlen(d->id) >= SFU_MIXER_ID_MAX) return NULL;
  if (m->n_att >= m->max_att || sfu_mixer_attendee_find(m, d->id)) return NULL;
  int slot = 0;
  while (slot < m->max_att && m->att[slot]) slot++;
  if (slot >= m->max_att) return NULL;
  if (sfu_mixer__ensure_shared(m, d->stereo ? 1 : 0) != 0) return NULL;
  sfu_mixer_attendee_t *a = calloc(1, sizeof *a);
  if (!a) return NULL;
  if (sfu_audio_signals_add(m->sig, slot, d->id, now_us) != 0) {
    free(a);
    return NULL;
  }
  a->slot = slot;
  memcpy(a->id, d->id, strlen(d->id) + 1);
  a->ops = d->ops;
  a->src = d->src;
  a->listener_user = d->listener_user;
  a->can_send = d->can_send ? 1 : 0;
  a->can_receive = d->can_receive ? 1 : 0;
  a->content = d->content ? 1 : 0;
  a->stereo = d->stereo ? 1 : 0;
  sfu_talker_reset(&a->talk);
  a->talk.content = a->content;
  a->level = -1;
  a->mix_index = -1;
  a->ssrc = d->ssrc;
  a->pt = d->payload_type & 0x7f;
  a->seq = d->first_seq;
  a->ts = d->first_ts;
  a->marker_next = 1;
  a->mode = OUT_NONE;
  a->enc = -1;
  m->att[slot] = a;
  m->tv[slot] = &a->talk;
  m->n_att++;
  if (slot >= m->n_slots) m->n_slots = slot + 1;
  m->loss_dirty = 1;
  return a;
}

void sfu_mixer_attendee_remove(sfu_mixer_t *m, sfu_mixer_attendee_t *a) {
  if (!a || a->slot < 0 || a->slot >= m->max_att || m->att[a->slot] != a) return;
  int slot = a->slot;
  sfu_talkers_forget(&m->talkers, m->tv, slot);
  sfu_mixer__release_enc(m, a);
  sfu_audio_signals_remove(m->sig, slot);
  m->att[slot] = NULL;
  m->tv[slot] = NULL;
  m->n_att--;
  while (m->n_slots > 0 && !m->att[m->n_slots - 1]) m->n_slots--;
  m->loss_dirty = 1;
  free(a);
}

void sfu_mixer_attendee_set_caps(sfu_mixer_t *m, sfu_mixer_attendee_t *a, int can_send,
                                 int can_receive) {
  a->can_send = can_send ? 1 : 0;
  a->can_receive = can_receive ? 1 : 0;
  m->loss_dirty = 1;
}

void sfu_mixer_attendee_set_source(sfu_mixer_t *m, sfu_mixer_attendee_t *a,
                                   const sfu_audio_source_ops_t *ops, void *src) {
  a->ops = ops;
  a->src = src;
  /* A new stream's level history says nothing about the old one's. */
  uint8_t talking = a->talk.talking;
  sfu_talker_reset(&a->talk);
  a->talk.content = a->content;
  a->talk.talking = talking; /* the set still holds it; it expires by the hold rule */
}

void sfu_mixer_attendee_set_stereo(sfu_mixer_t *m, sfu_mixer_attendee_t *a, int stereo) {
  if (sfu_mixer__ensure_shared(m, stereo ? 1 : 0) != 0) return; /* stays as it was */
  a->stereo = stereo ? 1 : 0;
  m->loss_dirty = 1;
}

void sfu_mixer_attendee_set_muted(sfu_mixer_t *m, sfu_mixer_attendee_t *a, int muted) {
  a->muted = muted ? 1 : 0;
  sfu_audio_signals_set_muted(m->sig, a->slot, muted);
}

void sfu_mixer_attendee_set_strength(sfu_mixer_t *m, sfu_mixer_attendee_t *a, float strength) {
  sfu_audio_signals_set_strength(m->sig, a->slot, strength);
}

void sfu_mixer_attendee_set_loss(sfu_mixer_t *m, sfu_mixer_attendee_t *a, float fraction) {
  int p = !(fraction > 0) ? 0 : fraction >= 1 ? 100 : (int)lrintf(fraction * 100.0f);
  if (p != a->loss_perc) m->loss_dirty = 1;
  a->loss_perc = p;
}

sfu_audio_signals_t *sfu_mixer_signals(sfu_mixer_t *m) { return m->sig; }
int sfu_mixer_attendee_slot(const sfu_mixer_attendee_t *a) { return a->slot; }
int sfu_mixer_attendee_talking(const sfu_mixer_attendee_t *a) { return a->mix_index >= 0; }
size_t sfu_mixer_bytes_per_attendee(void) {
  return sizeof(sfu_mixer_attendee_t) + 2 * sizeof(void *) + sfu_audio_signals_bytes_per_attendee();
}

void sfu_mixer_stats(const sfu_mixer_t *m, sfu_mixer_stats_t *out) {
  *out = m->st;
  out->talker_changes = m->talkers.changes;
  out->talkers = m->talkers.n;
}

/* ---- the tick ---- */

/* Level of decoded PCM where the source has none (no RFC 6464 from the sender): RMS,
 * the same scale as a dBov level (a full-scale sine reads 0.707, -3 dBov). */
static float rms(const float *x, int n) {
  double e = 0;
  for (int i = 0; i < n; i++) e += (double)x[i] * x[i];
  return n ? (float)sqrt(e / n) : 0.0f;
}

/* Phase 1: every source's level, then the talker set. */
static void peek_and_select(sfu_mixer_t *m, uint64_t now_us) {
  for (int i = 0; i < m->n_slots; i++) {
    sfu_mixer_attendee_t *a = m->att[i];
    if (!a) continue;
    a->mix_index = -1;
    a->level = -1;
    a->talk.eligible = a->can_send && !a->muted && a->ops;
    if (!a->talk.eligible) continue;
    a->level = a->ops->peek_level(a->src, now_us);
    if (!(a->level >= 0)) a->level = -1; /* NaN too */
    sfu_talker_update(&a->talk, a->level, now_us);
  }
  sfu_talkers_select(&m->talkers, m->tv, m->n_slots, now_us);
}

/* Phase 2: one pull per source; PCM for the talkers (and for sources whose level is
 * unknown: their decoded energy is the level, issue 9 "from decoded energy otherwise"). */
static void pull_all(sfu_mixer_t *m, uint64_t now_us) {
  m->n_pcm = 0;
  m->n_live = 0;
  for (int i = 0; i < m->n_slots; i++) {
    sfu_mixer_attendee_t *a = m->att[i];
    if (!a || !a->ops) continue;
    int mixed = a->talk.talking && m->n_pcm < MIX_MAX_MIXED;
    int probe = !mixed && a->talk.eligible && a->level < 0;
    float *buf = mixed ? m->pcm[m->n_pcm] : m->scratch;
    int ch = 1;
    sfu_audio_pull_t r = a->ops->pull(a->src, now_us, mixed || probe, buf, &ch);
    if (!(mixed || probe)) continue;
    m->st.decodes++;
    if (ch < 1 || ch > SFU_AUDIO_MAX_CHANNELS) r = SFU_AUDIO_SILENT; /* a broken source */
    float measured = r == SFU_AUDIO_PCM ? rms(buf, SFU_AUDIO_FRAME * ch) : 0.0f;
    if (!(measured <= 8.0f)) {
      /* NaN, infinities or absurd values (the contract says -1..1) from a broken source:
       * one such frame would poison every mix it is in. Dropped as silence, counted. */
      r = SFU_AUDIO_SILENT;
      measured = 0.0f;
      m->st.bad_frames++;
    }
    if (a->level < 0) {
      a->level = measured;
      sfu_talker_update(&a->talk, measured, now_us);
    }
    if (!mixed) continue;
    int k = m->n_pcm++;
    m->pcm_ch[k] = ch;
    m->pcm_live[k] = r == SFU_AUDIO_PCM;
    m->n_live += m->pcm_live[k];
    a->mix_index = k;
  }
}

/* Phase 3: the full mix, in float: the sum of 5 full-scale talkers is 5.0, kept as is
 * until the limiter of each output (never wrap-around). Mono unless a talker is stereo. */
static void mix_all(sfu_mixer_t *m) {
  int ch = 1;
  for (int k = 0; k < m->n_pcm; k++)
    if (m->pcm_live[k] && m->pcm_ch[k] == 2) ch = 2;
  m->mix_ch = ch;
  int n = SFU_AUDIO_FRAME * ch;
  memset(m->mix, 0, sizeof(float) * (size_t)n);
  for (int k = 0; k < m->n_pcm; k++) {
    if (!m->pcm_live[k]) continue;
    const float *p = m->pcm[k];
    if (m->pcm_ch[k] == ch) {
      for (int i = 0; i < n; i++) m->mix[i] += p[i];
    } else { /* mono talker into a stereo mix: the same in both ears */
      for (int f = 0; f < SFU_AUDIO_FRAME; f++) {
        m->mix[2 * f] += p[f];
        m->mix[2 * f + 1] += p[f];
      }
    }
  }
}

static void signals_update(sfu_mixer_t *m, uint64_t now_us) {
  for (int i = 0; i < m->n_slots; i++) {
    sfu_mixer_attendee_t *a = m->att[i];
    if (!a) continue;
    /* Not sending (no source, no capability, muted) reads as silence. */
    sfu_audio_signals_level(m->sig, i, a->talk.eligible ? a->level : 0.0f, now_us);
  }
  sfu_audio_signals_order(m->sig, m->talkers.order, m->talkers.n_order);
  const char *json;
  size_t len = sfu_audio_signals_poll(m->sig, now_us, &json);
  if (len && m->cfg.signals) m->cfg.signals(m->cfg.user, json, len);
}

void sfu_mixer_tick(sfu_mixer_t *m, uint64_t now_us) {
  m->st.ticks++;
  peek_and_select(m, now_us);
  pull_all(m, now_us);
  mix_all(m);
  sfu_mixer__out_assign(m, now_us);
  sfu_mixer__out_encode(m);
  sfu_mixer__out_send(m);
  signals_update(m, now_us);
}
