/* Levels, silence and stats of one incoming audio stream (audio_in_internal.h): the RFC
 * 6464 level byte or, without it, the decoded energy; the guesses that tell DTX from an
 * underrun and pick quiet frames to drop; the sender's muted state; signal strength and
 * the counters. */
#include "audio_in_internal.h"

int sfu_ain_level_quiet(int level) {
  /* RFC 6464 §3: V = 0 says the sender's VAD found no voice, but only a sender whose VAD
   * is on sets it: aiortc 1.4 sends V = 0 on every packet, loud or not. Taken alone it
   * made every aiortc packet "quiet", so each late burst (a stalled sender catching up)
   * was played as DTX: the play position ran on, the burst was dropped as late, and the
   * level read 0 meanwhile. V = 0 counts only with a low level, as the SILK VAD bit does
   * with a low energy (sfu_ain_packet_quiet). */
  if (level < 0) return 0;
  int d = sfu_ain_dbov(level);
  return d >= QUIET_DBOV || (!(level & 0x80) && d >= NOVOICE_QUIET_DBOV);
}

/* Whether silence probably follows the packet (an empty buffer after it is DTX rather than
 * loss): its RFC 6464 level says quiet, else its decoded energy is low (below -50 dBFS, or
 * -30 dBFS when the encoder's SILK VAD bit says no voice). A wrong guess either way costs
 * little: DTX taken for loss is recounted when the next packet shows a timestamp jump with
 * the next seq (sfu_ain_reanchor), loss taken for DTX plays silence in a quiet moment. */
int sfu_ain_packet_quiet(const sfu_audio_in_t *a, const slot_t *s) {
  if (s->level >= 0) return sfu_ain_level_quiet(s->level);
  if (!a->rms_valid) return 0;
  /* The VAD bit alone is not enough: SILK's VAD calls a steady tone "no voice". */
  return a->last_rms < QUIET_RMS ||
         (sfu_ain_silk_vad(sfu_ain_data(a, s), s->len) == 0 && a->last_rms < 10 * QUIET_RMS);
}

/* The RFC 6464 byte of the frame the next pull plays, or -1. */
int sfu_ain_next_level(sfu_audio_in_t *a) {
  if (a->fifo_n > 0) return a->fifo_level;
  slot_t *s = sfu_ain_earliest(a);
  if (s && s->ts <= a->next_ts) return s->level;
  return -1;
}

int sfu_ain_next_quiet(sfu_audio_in_t *a) {
  if (a->nslots == 0 && a->fifo_n == 0 && a->in_dtx) return 1;
  int lv = sfu_ain_next_level(a);
  if (a->has_level) return sfu_ain_level_quiet(lv);
  return a->rms_valid && a->last_rms < QUIET_RMS;
}

/* A packet was played: whether it was digital silence, for the DTX that may follow
 * (libopus and libwebrtc go to DTX after a few silent frames, so a muted sender is mostly
 * DTX). Its level decides when it has one; else decoded = 1 / 0 for a decoded packet
 * below / above DIGITAL_SILENCE_RMS, -1 when it was not decoded (unchanged). */
void sfu_ain_on_played(sfu_audio_in_t *a, const slot_t *s, int decoded_silent) {
  if (s->level >= 0)
    a->last_pkt_silent = sfu_ain_dbov(s->level) >= SFU_AUDIO_IN_SILENT_DBOV || decoded_silent == 1;
  else if (decoded_silent >= 0)
    a->last_pkt_silent = decoded_silent;
}

/* Once per pull: the run of frames that say the sender is muted. Silence evidence: a
 * decoded frame of digital silence, a level at or beyond SFU_AUDIO_IN_SILENT_DBOV (127 is
 * what Chromium sends for a muted track), DTX after a silent packet. Sound: a decoded
 * frame above it, or a level below it. Anything else (PLC, nothing playing) keeps the run
 * as it is. dec: decoded samples in the frame, rms their RMS; lv the frame's level. */
void sfu_ain_track_muted(sfu_audio_in_t *a, int dec, float rms, int silent_by_level, int lv) {
  int silent;
  if (dec > 0)
    silent = rms < DIGITAL_SILENCE_RMS;
  else if (silent_by_level)
    silent = 1;
  else if (lv >= 0)
    silent = sfu_ain_dbov(lv) >= SFU_AUDIO_IN_SILENT_DBOV;
  else if (a->in_dtx && a->nslots == 0)
    silent = a->last_pkt_silent ? 1 : -1;
  else
    silent = -1;
  if (silent == 1) {
    if (a->silent_run_ms < 24 * 3600 * 1000) a->silent_run_ms += 20;
  } else if (silent == 0) {
    a->silent_run_ms = 0;
  }
}

int sfu_audio_in_muted(const sfu_audio_in_t *a) {
  return a && a->started && a->silent_run_ms >= SFU_AUDIO_IN_MUTED_MS;
}

void sfu_audio_in_stats(const sfu_audio_in_t *a, sfu_audio_in_stats_t *out) {
  *out = a->st;
  int64_t expected = a->started ? a->hi_seq - a->base_seq + 1 : 0;
  out->lost = a->lost_before +
              (expected > (int64_t)a->received ? (uint64_t)(expected - (int64_t)a->received) : 0);
  out->loss_fraction = a->loss_fraction;
  out->jitter_ms = (float)(a->jitter / 48.0);
  out->target_ms = (float)a->target / 48.f;
  out->level_ms = a->playing ? (float)sfu_ain_buffered(a) / 48.f : 0.f;
  float l = out->loss_fraction, j = out->jitter_ms;
  out->signal_strength = !a->started                ? 0.f
                         : (l < 0.05f && j < 40.f)  ? 1.f
                         : (l < 0.20f && j < 100.f) ? 0.5f
                                                    : 0.f;
  out->muted = sfu_audio_in_muted(a);
  out->silent_ms = a->silent_run_ms;
}
