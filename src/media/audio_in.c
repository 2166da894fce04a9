/* The receive side of the audio mixer, per incoming Opus stream (sfu/audio_in.h): the
 * public API. RTP in (payload type, duplicate window, jump and restart checks, the late
 * check, RED unwrapping), then into the jitter buffer (audio_in_jbuf.c); peek and pull
 * drive the playout (audio_in_decode.c) and the levels (audio_in_level.c). The state and
 * the map of the files: audio_in_internal.h. */
#include <math.h>
#include <stdlib.h>

#include "audio_in_internal.h"
#include "sfu/err.h"
#include "sfu/rtp.h"

#define SEQ_JUMP 500          /* packets: beyond this ahead or behind, the stream restarted */
#define TS_JUMP MS(1000)      /* timestamp this far ahead of the arrival clock, or 2x behind */
#define STOP_US 2000000u      /* no packet for this long: the next one restarts the buffer */
#define LEVEL_TTL_US 2000000u /* no RFC 6464 byte for this long: the sender stopped sending it */

/* ---- lifecycle ----------------------------------------------------------------------- */

size_t sfu_audio_in_memory(void) {
  return sizeof(sfu_audio_in_t) + (size_t)opus_decoder_get_size(2);
}

sfu_audio_in_t *sfu_audio_in_new(const sfu_audio_in_cfg_t *cfg) {
  if (!cfg || cfg->opus_pt > 127 || cfg->red_pt > 127 || cfg->red_pt == cfg->opus_pt) return NULL;
  sfu_audio_in_t *a = calloc(1, sizeof *a);
  if (!a) return NULL;
  int err = 0;
  a->dec = opus_decoder_create(48000, 2, &err);
  if (!a->dec || err != OPUS_OK) {
    free(a);
    return NULL;
  }
  a->cfg = *cfg;
  a->target = MS(SFU_AUDIO_IN_START_DELAY_MS);
  a->last_seq = NO_SEQ;
  a->last_toc = -1;
  a->last_min = -1;
  return a;
}

void sfu_audio_in_free(sfu_audio_in_t *a) {
  if (!a) return;
  opus_decoder_destroy(a->dec);
  free(a);
}

/* ---- receive --------------------------------------------------------------------------- */

int sfu_ain_seen(const sfu_audio_in_t *a, int64_t seq) {
  int64_t d = a->hi_seq - seq;
  if (d < 0 || d >= 128) return 0;
  return (int)((a->seen[d >> 6] >> (d & 63)) & 1);
}

static void seen_set(sfu_audio_in_t *a, int64_t seq) {
  int64_t d = seq - a->hi_seq;
  if (d > 0) { /* shift the window up by d */
    if (d >= 128) {
      a->seen[0] = a->seen[1] = 0;
    } else if (d >= 64) {
      a->seen[1] = a->seen[0] << (d - 64);
      a->seen[0] = 0;
    } else {
      a->seen[1] = (a->seen[1] << d) | (a->seen[0] >> (64 - d));
      a->seen[0] <<= d;
    }
    a->hi_seq = seq;
    d = 0;
  } else {
    d = -d;
  }
  if (d < 128) a->seen[d >> 6] |= 1ull << (d & 63);
}

/* Returns 1 when the packet continues the stream, 0 when it is a jump to drop, or
 * restarts the stream (confirmed jump, or a long stop) and returns 1. */
static int check_jump(sfu_audio_in_t *a, uint64_t now_us, uint16_t seq, uint32_t ts) {
  if (!a->started) return 1;
  if (now_us > a->last_arrival_us && now_us - a->last_arrival_us > STOP_US) {
    sfu_ain_restart(a);
    return 1;
  }
  int64_t dseq = sfu_ain_unwrap16(a->hi_seq, seq) - a->hi_seq;
  int64_t dts = sfu_ain_unwrap32(a->hi_ts, ts) - a->hi_ts;
  int64_t wall =
      now_us > a->last_arrival_us ? (int64_t)((now_us - a->last_arrival_us) * 48 / 1000) : 0;
  int jump = dseq > SEQ_JUMP || dseq < -SEQ_JUMP || dts - wall > TS_JUMP || dts < -2 * TS_JUMP;
  if (!jump) {
    a->jump_valid = 0;
    return 1;
  }
  if (a->jump_valid && seq == (uint16_t)(a->jump_seq + 1)) {
    sfu_ain_restart(a);
    return 1;
  }
  a->jump_valid = 1;
  a->jump_seq = seq;
  a->st.jump_drops++;
  return 0;
}

int sfu_audio_in_handle_rtp(sfu_audio_in_t *a, uint64_t now_us, const uint8_t *pkt, size_t len,
                            int audio_level) {
  sfu_rtp_hdr_t h;
  if (!a || !pkt) return SFU_EINVAL;
  if (sfu_rtp_parse(pkt, len, &h) != 0) {
    a->st.bad_payloads++;
    return SFU_EPARSE;
  }
  if (sfu_rtp_is_padding_only(&h)) return SFU_EINVAL;
  int is_red = a->cfg.red_pt >= 0 && h.payload_type == a->cfg.red_pt;
  if (!is_red && h.payload_type != a->cfg.opus_pt) return SFU_EINVAL;
  if (!check_jump(a, now_us, h.seq, h.timestamp)) return SFU_ESTALE;

  if (!a->started) {
    a->started = 1;
    a->hi_seq = a->base_seq = h.seq;
    a->hi_ts = h.timestamp;
    a->int_start_us = 0;
    a->int_expected0 = a->int_received0 = 0;
    a->seen[0] = a->seen[1] = 0;
  }
  int64_t seq = sfu_ain_unwrap16(a->hi_seq, h.seq);
  int64_t ts = sfu_ain_unwrap32(a->hi_ts, h.timestamp);
  a->last_arrival_us = now_us;
  if (sfu_ain_seen(a, seq) || (seq == a->hi_seq && a->received > 0)) {
    a->st.duplicates++;
    return SFU_EEXIST;
  }
  if (seq < a->base_seq) a->base_seq = seq; /* reordered before the first one */
  if (seq > a->hi_seq) a->hi_ts = ts;
  seen_set(a, seq);
  a->received++;
  sfu_ain_on_timing(a, now_us, ts);
  sfu_ain_on_loss_interval(a, now_us);
  if (audio_level >= 0) {
    a->has_level = 1;
    a->level_seen_us = now_us;
  } else if (a->has_level && now_us - a->level_seen_us > LEVEL_TTL_US) {
    a->has_level = 0;
  }

  red_block_t blk[RED_MAX_BLOCKS];
  int nblk = 1;
  const uint8_t *p = h.payload;
  int plen = (int)h.payload_len;
  if (is_red) {
    nblk = sfu_ain_red_parse(h.payload, h.payload_len, blk);
    if (nblk < 0 || blk[nblk - 1].pt != a->cfg.opus_pt) {
      a->st.bad_payloads++; /* played as a loss */
      return SFU_EPARSE;
    }
    p = blk[nblk - 1].p;
    plen = blk[nblk - 1].len;
  }
  if (h.payload_len > SFU_AUDIO_IN_MAX_PAYLOAD) {
    a->st.bad_payloads++;
    return SFU_ETOOBIG;
  }
  int dur = sfu_ain_opus_duration(p, (size_t)plen);
  int late = a->playing && ((a->last_seq != NO_SEQ && seq <= a->last_seq) ||
                            ts + (dur > 0 ? dur : 0) <= a->next_ts);
  if (is_red && !late) sfu_ain_red_fill(a, blk, nblk, seq, ts);
  if (dur < 0) {
    a->st.bad_payloads++;
    return SFU_EPARSE;
  }
  if (late) {
    a->st.late++;
    return SFU_ESTALE;
  }
  a->st.packets++;
  sfu_ain_reanchor(a, seq, ts, dur);
  sfu_ain_slot_store(a, seq, ts, p, plen, dur, audio_level, 0);
  a->st.channels = opus_packet_get_nb_channels(p);
  return 0;
}

/* ---- playout ---------------------------------------------------------------------------- */

float sfu_audio_in_peek_level(sfu_audio_in_t *a, uint64_t now_us) {
  (void)now_us;
  if (!a || !a->started) return 0.f;
  if (!a->playing) {
    sfu_ain_try_start(a);
    if (!a->playing) return 0.f;
  }
  if (a->nslots == 0 && a->fifo_n == 0 && a->in_dtx) return 0.f;
  if (a->has_level) {
    int lv = sfu_ain_next_level(a);
    if (lv >= 0) {
      int d = sfu_ain_dbov(lv);
      return d >= SFU_AUDIO_IN_SILENT_DBOV ? 0.f : powf(10.f, -(float)d / 20.f);
    }
  }
  return a->rms_valid ? a->last_rms : -1.f;
}

/* The FIFO's first frame as float PCM, in the channel count of the packet it came from
 * (the decoder is always stereo: a mono packet's two channels are the same); samples not
 * decoded (silence, skipped) are zeros. Returns the channels. */
static int frame_out(sfu_audio_in_t *a, float *pcm) {
  int ch = a->fifo_channels == 2 ? 2 : 1;
  const float k16 = 1.f / 32768.f;
  int at = 0;
  for (int k = 0; k < a->nseg && at < FRAME; k++) {
    int t = a->seg[k].n < FRAME - at ? a->seg[k].n : FRAME - at;
    int d = a->seg[k].kind == SEG_DEC;
    for (int i = at; i < at + t; i++) {
      if (ch == 2) {
        pcm[2 * i] = d ? a->fifo[2 * i] * k16 : 0.f;
        pcm[2 * i + 1] = d ? a->fifo[2 * i + 1] * k16 : 0.f;
      } else {
        pcm[i] = d ? a->fifo[2 * i] * k16 : 0.f;
      }
    }
    at += t;
  }
  a->out_channels = ch;
  return ch;
}

sfu_audio_pull_t sfu_audio_in_pull(sfu_audio_in_t *a, uint64_t now_us, int decode_pcm, float *pcm,
                                   int *channels) {
  (void)now_us;
  if (!a || !a->started) return SFU_AUDIO_NONE;
  if (!a->playing) {
    sfu_ain_try_start(a);
    if (!a->playing) return SFU_AUDIO_NONE;
  }
  int lv = sfu_ain_next_level(a);
  int silent_by_level = a->has_level && lv >= 0 && sfu_ain_dbov(lv) >= SFU_AUDIO_IN_SILENT_DBOV;
  /* Without levels the energy is the level: such a stream is always decoded. */
  int want = !silent_by_level && (decode_pcm || !a->has_level);

  /* During DTX the buffer is empty by design: no level to control (reanchor does it). */
  int ctl = a->in_dtx && a->nslots == 0 ? 0 : sfu_ain_level_control(a, sfu_ain_buffered(a));
  if (ctl == -1) { /* quiet: a frame of silence, the play position stays */
    a->st.drift_inserts++;
    return SFU_AUDIO_SILENT;
  }
  if (ctl == -2) { /* a frame of concealment at the FIFO tail, the play position stays */
    sfu_ain_conceal(a, FRAME, want);
    a->st.drift_inserts++;
  }
  if (ctl > 0) {
    if (sfu_ain_fill(a, want) == 0) {
      sfu_ain_fifo_pop(a, FRAME);
      a->st.drift_drops++;
    }
  }
  if (sfu_ain_fill(a, want) < 0) {
    a->playing = 0;
    sfu_ain_fifo_clear(a);
    a->stale = 1;
    return SFU_AUDIO_NONE;
  }

  /* What the frame holds. */
  int dec = 0, left = FRAME;
  for (int k = 0; k < a->nseg && left > 0; k++) {
    int t = a->seg[k].n < left ? a->seg[k].n : left;
    if (a->seg[k].kind == SEG_DEC) dec += t;
    left -= t;
  }
  sfu_audio_pull_t r = SFU_AUDIO_SILENT;
  if (silent_by_level) {
    a->st.silent_frames++;
  } else if (!want) {
    a->st.skipped_frames++;
  }
  float rms = dec > 0 ? sfu_ain_rms(a->fifo, FRAME) : 0.f;
  if (dec > 0) {
    if (want) {
      a->last_rms = rms;
      a->rms_valid = 1;
    }
    if (decode_pcm && pcm && channels) {
      *channels = frame_out(a, pcm);
      r = SFU_AUDIO_PCM;
    }
  }
  sfu_ain_track_muted(a, dec, rms, silent_by_level, lv);
  sfu_ain_fifo_pop(a, FRAME);
  return r;
}

static float peek_cb(void *src, uint64_t now_us) {
  return sfu_audio_in_peek_level((sfu_audio_in_t *)src, now_us);
}
static sfu_audio_pull_t pull_cb(void *src, uint64_t now_us, int decode, float *pcm, int *channels) {
  return sfu_audio_in_pull((sfu_audio_in_t *)src, now_us, decode, pcm, channels);
}
const sfu_audio_source_ops_t sfu_audio_in_ops = {peek_cb, pull_cb};
