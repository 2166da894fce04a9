/* Opus decoding for one incoming audio stream (audio_in_internal.h): packet checks, the
 * PCM FIFO, decode with concealment (RFC 6716 §4.4 PLC) and in-band FEC (§2.1.7 LBRR),
 * the garbage gates, and the playout loop that turns the slots at the play position into
 * FIFO samples: a packet is decoded, a gap with the next seq is DTX (silence), a missing
 * seq is FEC from the next packet or PLC (bounded), and an empty buffer is DTX or an
 * underrun. */
#include <math.h>
#include <string.h>

#include "audio_in_internal.h"

/* ---- Opus packet checks -------------------------------------------------------------- */

/* libopus 1.3 has no opus_packet_has_lbrr (1.5 does): its logic, RFC 6716 §4.2.3-4.2.4:
 * in SILK and Hybrid frames the first range-coded symbols are the VAD flags and the LBRR
 * flag, each with probability 1/2, so they are the top bits of the first byte. */
static int has_lbrr(const uint8_t *p, int len) {
  const unsigned char *frames[48];
  opus_int16 size[48];
  if (len < 1 || (p[0] >> 3) >= 16) return 0; /* configs 16..31: CELT only (§3.1) */
  int spf = opus_packet_get_samples_per_frame(p, 48000);
  int nb_frames = spf > 960 ? spf / 960 : 1;
  if (opus_packet_parse(p, len, NULL, frames, size, NULL) <= 0 || size[0] == 0) return 0;
  int lbrr = (frames[0][0] >> (7 - nb_frames)) & 1;
  if (opus_packet_get_nb_channels(p) == 2) lbrr |= (frames[0][0] >> (6 - 2 * nb_frames)) & 1;
  return lbrr;
}

/* The sender's own voice activity decision for the packet's last 20 ms (RFC 6716 §4.2.3:
 * in SILK and Hybrid frames the VAD flags are the first symbols, one bit each): 1 voice,
 * 0 none, -1 unknown (CELT-only packets carry none). */
int sfu_ain_silk_vad(const uint8_t *p, int len) {
  const unsigned char *frames[48];
  opus_int16 size[48];
  if (len < 2 || (p[0] >> 3) >= 16) return -1;
  int spf = opus_packet_get_samples_per_frame(p, 48000);
  int nb_frames = spf > 960 ? spf / 960 : 1;
  int n = opus_packet_parse(p, len, NULL, frames, size, NULL);
  if (n <= 0) return -1;
  const unsigned char *last = frames[n - 1];
  if (size[n - 1] == 0) return -1;
  return (last[0] >> (8 - nb_frames)) & 1;
}

/* Samples in the packet, or -1 when it is not a valid Opus packet (RFC 6716 §3.4 R1-R7,
 * which opus_packet_parse enforces) or longer than 120 ms. */
int sfu_ain_opus_duration(const uint8_t *p, size_t len) {
  const unsigned char *frames[48];
  opus_int16 size[48];
  if (len == 0 || len > SFU_AUDIO_IN_MAX_PAYLOAD) return -1;
  int n = opus_packet_get_nb_samples(p, (opus_int32)len, 48000);
  if (n <= 0 || n > SFU_AUDIO_IN_MAX_PACKET_SAMPLES) return -1;
  if (opus_packet_parse(p, (opus_int32)len, NULL, frames, size, NULL) < 0) return -1;
  return n;
}

/* ---- PCM FIFO ---------------------------------------------------------------------- */

static void seg_push(sfu_audio_in_t *a, int kind, int n) {
  if (n <= 0) return;
  if (a->nseg > 0 && a->seg[a->nseg - 1].kind == kind) {
    a->seg[a->nseg - 1].n += n;
    return;
  }
  if (a->nseg == NSEG) { /* full (many tiny packets): fold into the last as zeros-or-PCM */
    seg_t *l = &a->seg[a->nseg - 1];
    if (l->kind == SEG_SKIP)
      memset(a->fifo + (size_t)(a->fifo_n - l->n) * 2, 0, (size_t)l->n * 2 * sizeof(int16_t));
    l->kind = SEG_DEC;
    l->n += n;
    return;
  }
  a->seg[a->nseg].kind = (uint8_t)kind;
  a->seg[a->nseg].n = n;
  a->nseg++;
}

/* Appends n samples of kind; SEG_DEC samples must already be in place at the tail. */
static void fifo_append(sfu_audio_in_t *a, int kind, int n) {
  if (n <= 0) return;
  if (kind == SEG_SIL) memset(a->fifo + (size_t)a->fifo_n * 2, 0, (size_t)n * 2 * sizeof(int16_t));
  seg_push(a, kind, n);
  a->fifo_n += n;
}

/* Removes n samples from the head (n <= fifo_n). */
void sfu_ain_fifo_pop(sfu_audio_in_t *a, int n) {
  a->fifo_n -= n;
  if (a->fifo_n > 0)
    memmove(a->fifo, a->fifo + (size_t)n * 2, (size_t)a->fifo_n * 2 * sizeof(int16_t));
  int k = 0;
  while (n > 0 && k < a->nseg) {
    int t = a->seg[k].n < n ? a->seg[k].n : n;
    a->seg[k].n -= t;
    n -= t;
    if (a->seg[k].n == 0) k++;
  }
  memmove(a->seg, a->seg + k, (size_t)(a->nseg - k) * sizeof(seg_t));
  a->nseg -= k;
}

void sfu_ain_fifo_clear(sfu_audio_in_t *a) { a->fifo_n = a->nseg = 0; }

/* RMS of n stereo samples, 0..1. */
float sfu_ain_rms(const int16_t *x, int n) {
  int64_t e = 0; /* exact: 2^30 per sample, < 2^43 per 120 ms */
  for (int i = 0; i < n * 2; i++) e += (int32_t)x[i] * x[i];
  return n > 0 ? (float)(sqrt((double)e / (n * 2)) / 32768.0) : 0.f;
}

/* The loudest 20 ms window of n samples at x. */
static float peak_rms(const int16_t *x, int n) {
  float m = 0;
  for (int at = 0; at < n; at += FRAME) {
    float r = sfu_ain_rms(x + (size_t)at * 2, n - at < FRAME ? n - at : FRAME);
    if (r > m) m = r;
  }
  return m;
}

/* ---- the garbage gates ------------------------------------------------------------- */

/* Bytes per 20 ms of a packet (its whole duration, even when partly played). */
static float byte_rate(const sfu_audio_in_t *a, const slot_t *s) {
  int n = opus_packet_get_nb_samples(sfu_ain_data(a, s), s->len, 48000);
  return n > 0 ? (float)s->len * FRAME / (float)n : 0.f;
}

/* An odd packet: another TOC byte (config, stereo bit, frame count code: RFC 6716 §3.1)
 * than the last decoded packet, or 4x its byte rate (a 20 ms voice packet is ~60-160
 * bytes; random bytes have any length). */
static int odd_packet(const sfu_audio_in_t *a, const slot_t *s) {
  if (a->last_toc < 0 || s->len <= 2) return 0;
  if (sfu_ain_data(a, s)[0] != a->last_toc) return 1;
  return s->len > 200 && a->avg_bytes > 0 && byte_rate(a, s) > 4.f * a->avg_bytes;
}

/* An odd packet between normal ones is garbage more likely than a real switch (a sender
 * that changes mode, frame size or bitrate keeps the new one, so the next packet is odd
 * too). It is not decoded (that would poison the decoder state for the packets after)
 * but played as a loss: the next packet's FEC, or PLC. Without a next packet to compare,
 * it is decoded and the energy gate watches. */
static int isolated(sfu_audio_in_t *a, const slot_t *s) {
  if (s->skip_frames || !odd_packet(a, s)) return 0;
  slot_t *n = sfu_ain_slot_at(a, s->ts + s->dur);
  return n && n->len > 2 && !odd_packet(a, n);
}

/* The energy gate: a packet that parses but decodes to a burst well above what the
 * sender said (RFC 6464 level, +6 dB) or, without levels, well above the recent envelope
 * with a different TOC (config or stereo bit, RFC 6716 §3.1), or to a near-full-scale
 * jump, is garbage (or a hostile sender, or a decoder poisoned by garbage that got
 * through): its samples become silence and the decoder restarts at the next packet. */
static int garbage(const sfu_audio_in_t *a, const slot_t *s, float peak) {
  if (peak < 0.05f) return 0;
  if (s->level >= 0) return peak > 2.f * powf(10.f, -(float)sfu_ain_dbov(s->level) / 20.f) + 0.02f;
  if (odd_packet(a, s) && peak > 2.f * a->env + 0.02f) return 1;
  return peak > 0.5f && peak > 3.f * a->env;
}

/* Concealment (PLC or FEC) never rises above what was heard before: if the decoder state
 * was poisoned, what it makes up is silenced and the decoder restarts. Returns 1 when the
 * chunk was silenced. */
static int gate_concealed(sfu_audio_in_t *a, int at, int n) {
  int16_t *x = a->fifo + (size_t)at * 2;
  if (peak_rms(x, n) <= 2.f * a->env + 0.02f) return 0;
  memset(x, 0, (size_t)n * 2 * sizeof(int16_t));
  a->stale = 1;
  a->st.bad_payloads++;
  return 1;
}

/* ---- decode ---------------------------------------------------------------------------- */

/* libopus's float output, before it is stored as 16-bit in the FIFO: one buffer per
 * thread (every stream of a meeting is decoded on its loop's thread, one at a time), not
 * per stream. Decoding to float and converting here costs ~5 instructions a sample;
 * opus_decode's own int16 path (soft clip, then convert) ~30. */
static _Thread_local float dec_out[DECODE_MAX * 2];

/* Decodes into the FIFO at sample `at` (>= fifo_n, nothing appended yet): data = NULL is
 * PLC (RFC 6716 §4.4), fec = 1 rebuilds the packet before `data` from its LBRR
 * (frame_size = the missing duration, <= DECODE_MAX). Returns the samples written, or < 0.
 * After undecoded packets the decoder is reset first and the output faded in over 5 ms: a
 * reset decoder starts from zero filter state, and the ramp hides the step (RFC 6716
 * §4.5.2: a decoder can start at any packet). */
static int decode(sfu_audio_in_t *a, int at, const uint8_t *data, int len, int fec,
                  int frame_size) {
  if (a->stale && data) {
    opus_decoder_ctl(a->dec, OPUS_RESET_STATE);
    a->st.decoder_resets++;
    a->stale = 0;
    a->fade = FADE_SAMPLES;
  }
  if (frame_size > DECODE_MAX) frame_size = DECODE_MAX;
  int n = opus_decode_float(a->dec, data, len, dec_out, frame_size, fec);
  a->st.decoder_calls++;
  if (n <= 0) return -1;
  for (int i = 0; i < n && a->fade > 0; i++, a->fade--) {
    float g = (float)(FADE_SAMPLES - a->fade) / FADE_SAMPLES;
    dec_out[2 * i] *= g;
    dec_out[2 * i + 1] *= g;
  }
  int16_t *out = a->fifo + (size_t)at * 2;
  for (int i = 0; i < n * 2; i++) { /* branch-free, so it vectorises */
    float v = dec_out[i] * 32768.f; /* opus_decode_float does not clip */
    v = v == v ? v : 0.f;           /* NaN -> 0 */
    v = v > 32767.f ? 32767.f : v;
    v = v < -32768.f ? -32768.f : v;
    out[i] = (int16_t)(int)v; /* truncation: under one 16-bit step */
  }
  return n;
}

/* Decodes `count` frames of packet p from frame `first` on, each as a one-frame packet
 * (RFC 6716 §3.2.2 code 0: the TOC with c = 0, then the frame), to the FIFO tail: how a
 * packet longer than DECODE_MAX is played a part at a time. Returns the samples written
 * or -1. */
static int decode_frames(sfu_audio_in_t *a, const uint8_t *p, int len, int first, int count) {
  const unsigned char *frames[48];
  opus_int16 size[48];
  uint8_t one[1 + 1275];
  int nf = opus_packet_parse(p, len, NULL, frames, size, NULL);
  if (nf < first + count) return -1;
  int done = 0;
  for (int i = first; i < first + count; i++) {
    one[0] = (uint8_t)(p[0] & 0xfc);
    memcpy(one + 1, frames[i], (size_t)size[i]);
    int n = decode(a, a->fifo_n + done, one, 1 + size[i], 0, FIFO_CAP - a->fifo_n - done);
    if (n <= 0) return -1;
    done += n;
  }
  return done;
}

/* Conceals n samples (a multiple of 120, <= FRAME) at the tail. */
void sfu_ain_conceal(sfu_audio_in_t *a, int n, int want) {
  if (want && !a->stale && decode(a, a->fifo_n, NULL, 0, 0, n) == n) {
    gate_concealed(a, a->fifo_n, n);
    fifo_append(a, SEG_DEC, n);
    a->st.concealed_frames++;
  } else {
    /* skipping, or a decoder without history: zeros are what PLC would fade to */
    fifo_append(a, want ? SEG_SIL : SEG_SKIP, n);
    if (!want) a->stale = 1;
  }
  a->plc_run += n;
}

/* ---- playout ---------------------------------------------------------------------------- */

/* Plays the slot at (or straddling) next_ts into the FIFO: the whole packet, or of a
 * packet longer than DECODE_MAX its next frames up to DECODE_MAX (the slot then stays,
 * starting where they end). */
static void play_slot(sfu_audio_in_t *a, slot_t *s, int want) {
  const uint8_t *p = sfu_ain_data(a, s);
  int lead = (int)(a->next_ts - s->ts); /* > 0 only with irregular timestamps; < dur */
  int n = s->dur, part = 0;             /* part: frames played now when not all */
  if (s->dur > DECODE_MAX || s->skip_frames) {
    int spf = opus_packet_get_samples_per_frame(p, 48000);
    part = DECODE_MAX / spf; /* >= 1: spf <= DECODE_MAX */
    if (part * spf >= s->dur) part = s->dur / spf;
    n = part * spf;
  }
  int whole = part == 0 || n >= s->dur;
  if (lead >= n) {          /* played over already: consume the part unheard */
  } else if (s->len <= 2) { /* a TOC-only DTX packet (RFC 6716 §3.2.1 length 0 frame) */
    fifo_append(a, SEG_SIL, n - lead);
    a->st.dtx_frames += (uint64_t)(n - lead) / FRAME;
    a->in_dtx = 1;
    a->stale = 1;
    sfu_ain_on_played(a, s, 0);
  } else if (want) {
    int at = a->fifo_n;
    int got = part ? decode_frames(a, p, s->len, s->skip_frames, part)
                   : decode(a, at, p, s->len, 0, FIFO_CAP - a->fifo_n);
    float rms = got > 0 ? sfu_ain_rms(a->fifo + (size_t)at * 2, got) : 0.f;
    float peak = got > 0 ? peak_rms(a->fifo + (size_t)at * 2, got) : 0.f;
    if (got <= 0 || garbage(a, s, peak)) {
      a->st.bad_payloads++;
      a->st.concealed_frames++;
      fifo_append(a, SEG_SIL, n);
      a->stale = 1;
    } else {
      n = got;
      fifo_append(a, SEG_DEC, n);
      a->last_rms = rms;
      a->rms_valid = 1;
      a->env += 0.2f * (rms - a->env); /* the mean level of the last ~5 packets */
      a->last_toc = p[0];
      float rate = byte_rate(a, s);
      a->avg_bytes = a->avg_bytes > 0 ? a->avg_bytes + 0.1f * (rate - a->avg_bytes) : rate;
    }
    a->in_dtx = sfu_ain_packet_quiet(a, s);
    sfu_ain_on_played(a, s, got > 0 && rms < DIGITAL_SILENCE_RMS);
    if (lead > 0 && lead < n) { /* drop the part already played */
      memmove(a->fifo + (size_t)at * 2, a->fifo + (size_t)(at + lead) * 2,
              (size_t)(n - lead) * 2 * sizeof(int16_t));
      a->fifo_n -= lead;
      a->seg[a->nseg - 1].n -= lead;
    }
  } else {
    fifo_append(a, SEG_SKIP, n - lead);
    a->stale = 1;
    a->in_dtx = sfu_ain_packet_quiet(a, s);
    sfu_ain_on_played(a, s, 0);
  }
  a->fifo_level = s->level;
  a->fifo_channels = s->channels;
  a->plc_run = 0;
  a->underrun_frames = a->underrun_plc = 0;
  if (!whole) { /* the rest of the packet stays in its slot, next in line */
    s->skip_frames = (uint8_t)(s->skip_frames + part);
    s->ts += n;
    s->dur -= n;
    a->next_ts = s->ts;
    a->last_seq = s->seq - 1;
    return;
  }
  if (s->from_red) a->st.red_recovered++;
  a->next_ts = s->ts + s->dur;
  a->last_seq = s->seq;
  sfu_ain_slot_free(a, s);
}

/* The next buffered packet s starts after next_ts: fill (part of) the gap before it. */
static void fill_gap(sfu_audio_in_t *a, slot_t *s, int want, int room) {
  int64_t gap = s->ts - a->next_ts;
  const uint8_t *p = sfu_ain_data(a, s);
  if (a->last_seq == NO_SEQ || s->seq == a->last_seq + 1) {
    /* Contiguous seq, later timestamp: DTX (RFC 7587 §3.3), silence, not loss. */
    int n = gap < room ? (int)gap : room;
    fifo_append(a, SEG_SIL, n);
    a->st.dtx_frames += (a->fifo_n >= FRAME); /* ~ one per frame of silence */
    a->next_ts += n;
    a->plc_run = 0;
    return;
  }
  /* LBRR of at most DECODE_MAX fits the FIFO; a longer gap is concealed first. */
  int64_t fec_max = s->dur < DECODE_MAX ? s->dur : DECODE_MAX;
  if (gap <= fec_max && gap % 120 == 0 && s->len > 2 && !s->skip_frames &&
      a->plc_run < MS(SFU_AUDIO_IN_PLC_MAX_MS)) {
    /* The one packet before s: its in-band FEC (RFC 6716 §2.1.7), or PLC when it has
     * none (libopus conceals then). */
    int lbrr = has_lbrr(p, s->len);
    if (want && !a->stale && decode(a, a->fifo_n, p, s->len, 1, (int)gap) == gap) {
      gate_concealed(a, a->fifo_n, (int)gap);
      fifo_append(a, SEG_DEC, (int)gap);
      if (lbrr)
        a->st.fec_recovered++;
      else
        a->st.concealed_frames++;
    } else {
      fifo_append(a, want ? SEG_SIL : SEG_SKIP, (int)gap);
      if (!want) a->stale = 1;
    }
    a->next_ts = s->ts;
    a->last_seq = s->seq - 1;
    a->plc_run = lbrr ? 0 : a->plc_run + gap;
    return;
  }
  /* A longer gap: PLC up to the FEC-able part, at most a frame at a time, silence past
   * the PLC limit. */
  int64_t n = gap - (gap <= s->dur ? (gap > fec_max ? fec_max : 0) : s->dur);
  if (n <= 0) n = gap;
  if (n > room) n = (room + 119) / 120 * 120;
  if (n > gap) n = gap;
  if (n >= 120 && a->plc_run < MS(SFU_AUDIO_IN_PLC_MAX_MS)) {
    n -= n % 120;
    sfu_ain_conceal(a, (int)n, want);
  } else {
    if (n > room) n = room;
    fifo_append(a, SEG_SIL, (int)n);
  }
  a->next_ts += n;
  if (a->next_ts >= s->ts) a->last_seq = s->seq - 1;
}

/* Fills the FIFO up to one frame from the slots at next_ts (module comment). Returns 0, or
 * -1 when the stream has been concealed for SFU_AUDIO_IN_PLC_MAX_MS with nothing to
 * play: it counts as stopped. */
int sfu_ain_fill(sfu_audio_in_t *a, int want) {
  while (a->fifo_n < FRAME) {
    slot_t *s = sfu_ain_earliest(a);
    while (s && s->ts + s->dur <= a->next_ts) { /* already played over (irregular ts) */
      sfu_ain_slot_free(a, s);
      a->st.late++;
      s = sfu_ain_earliest(a);
    }
    if (s && s->ts <= a->next_ts) {
      if (want && isolated(a, s)) {
        sfu_ain_slot_free(a, s);
        a->st.bad_payloads++;
        continue; /* now a gap: FEC from the next packet, or PLC */
      }
      play_slot(a, s, want);
      continue;
    }
    int room = FRAME - a->fifo_n;
    if (s) {
      fill_gap(a, s, want, room);
      continue;
    }
    /* Nothing buffered. */
    if (a->in_dtx || a->last_seq == NO_SEQ) {
      fifo_append(a, SEG_SIL, room);
      a->next_ts += room;
      a->st.dtx_frames++;
      continue;
    }
    /* Underrun mid-talk: conceal without advancing (a late packet then still plays,
     * and the buffer grows by the frame: the jitter was above the target). */
    if (a->plc_run >= MS(SFU_AUDIO_IN_PLC_MAX_MS)) return -1;
    uint64_t c0 = a->st.concealed_frames;
    sfu_ain_conceal(a, (room + 119) / 120 * 120, want);
    a->underrun_plc += (int)(a->st.concealed_frames - c0);
    a->underrun_frames++;
    a->st.drift_inserts++;
  }
  return 0;
}
