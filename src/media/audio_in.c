/* The receive side of the audio mixer, per incoming Opus stream (see sfu/audio_in.h).
 *
 * Timeline: every position is an unwrapped RTP timestamp in 48 kHz samples (RFC 7587 §4.1:
 * Opus RTP timestamps always count at 48 kHz, whatever the coded bandwidth). next_ts is
 * the position of the PCM FIFO's tail: what the next packet must start at. A pull takes
 * 960 samples off the FIFO head after filling the FIFO from the slots. Costs per pull:
 * O(SFU_AUDIO_IN_SLOTS) scans (32 compares) plus the decode. */
#include "sfu/audio_in.h"

#include <math.h>
#include <opus.h>
#include <stdlib.h>
#include <string.h>

#include "sfu/err.h"
#include "sfu/rtp.h"

#define FRAME SFU_AUDIO_FRAME
#define MS(x) ((int64_t)(x)*48)                            /* ms -> samples */
#define FIFO_CAP (SFU_AUDIO_IN_MAX_PACKET_SAMPLES + FRAME) /* < FRAME left + one packet */
#define NSEG 32
#define TRANSIT_N 64
#define FADE_SAMPLES 240      /* 5 ms fade-in after a decoder reset */
#define SEQ_JUMP 500          /* packets: beyond this ahead or behind, the stream restarted */
#define TS_JUMP MS(1000)      /* timestamp this far ahead of the arrival clock, or 2x behind */
#define STOP_US 2000000u      /* no packet for this long: the next one restarts the buffer */
#define LEVEL_TTL_US 2000000u /* no RFC 6464 byte for this long: the sender stopped sending it */
#define QUIET_DBOV 50         /* a frame at or below -50 dBov may be dropped / treated as DTX */
#define NOVOICE_QUIET_DBOV 30 /* the same at -30 dBov when its V bit says no voice */
#define QUIET_RMS 0.003f      /* the same for decoded energy (-50 dBFS) */
#define DIGITAL_SILENCE_RMS 1e-5f
#define MUTED_MS 1000
#define RED_MAX_BLOCKS 8
#define WINDOW_PULLS 50 /* 1 s of pulls for the buffer-level minimum */
#define NO_SEQ INT64_MIN

enum { SEG_DEC, SEG_SIL, SEG_SKIP }; /* decoded (or PLC) PCM, zeros, consumed undecoded */

typedef struct {
  uint8_t kind;
  int n;
} seg_t;

typedef struct {
  int used, from_red, level, channels;
  int64_t seq, ts; /* unwrapped */
  int dur;         /* samples (opus_packet_get_nb_samples) */
  int len;
  uint8_t data[SFU_AUDIO_IN_MAX_PAYLOAD];
} slot_t;

struct sfu_audio_in {
  sfu_audio_in_cfg_t cfg;
  OpusDecoder *dec; /* stereo: decodes mono and stereo packets alike (RFC 7587 §7) */

  /* receive side */
  int started;
  int64_t hi_seq, hi_ts, base_seq;
  uint64_t received, lost_before; /* unique packets this epoch; lost in earlier epochs */
  uint64_t last_arrival_us, level_seen_us;
  uint64_t seen[2]; /* seqs hi_seq-127 .. hi_seq received (bit i = hi_seq - i) */
  int jump_valid;
  uint16_t jump_seq; /* a lone jumped packet, waiting for its successor to confirm */
  int has_level;
  /* RFC 3550 §A.8 jitter in samples, and the transit ring for the target */
  int have_transit;
  int64_t last_transit;
  double jitter;
  int64_t transit[TRANSIT_N];
  int transit_n, transit_i;
  int64_t target; /* samples */
  uint64_t int_start_us, int_expected0, int_received0;
  float loss_fraction;

  slot_t slots[SFU_AUDIO_IN_SLOTS];
  int nslots;

  /* playout */
  int playing;
  int64_t next_ts, last_seq;
  int in_dtx; /* the last thing played says silence follows: an empty buffer is DTX */
  int underrun_frames, underrun_plc; /* the current underrun: frames inserted, concealed */
  int64_t plc_run;                   /* consecutive concealed samples */
  int stale; /* packets were skipped undecoded: reset before the next decode */
  int fade;  /* fade-in samples left */
  int fifo_level, fifo_channels, out_channels;
  int last_toc;
  float last_rms, env, avg_bytes; /* avg_bytes: per 20 ms, of decoded packets */
  int rms_valid;
  int64_t win_min, last_min;
  int win_pulls, win_dropped, excess_windows, deficit_windows, since_drop;
  int silent_run_ms;
  int fifo_n, nseg;
  seg_t seg[NSEG];
  float fifo[FIFO_CAP * 2]; /* interleaved stereo */

  sfu_audio_in_stats_t st;
};

/* ---- small helpers ---------------------------------------------------------------- */

static inline int64_t unwrap16(int64_t ref, uint16_t v) {
  return ref + (int16_t)(uint16_t)(v - (uint16_t)ref);
}
static inline int64_t unwrap32(int64_t ref, uint32_t v) {
  return ref + (int32_t)(uint32_t)(v - (uint32_t)ref);
}

static inline int dbov_of(int level) { return level < 0 ? -1 : (level & 0x7f); }

static int level_quiet(int level) {
  /* RFC 6464 §3: V = 0 says the sender's VAD found no voice, but only a sender whose VAD
   * is on sets it: aiortc 1.4 sends V = 0 on every packet, loud or not. Taken alone it
   * made every aiortc packet "quiet", so each late burst (a stalled sender catching up)
   * was played as DTX: the play position ran on, the burst was dropped as late, and the
   * level read 0 meanwhile. V = 0 counts only with a low level, as the SILK VAD bit does
   * with a low energy (packet_quiet). */
  if (level < 0) return 0;
  int d = dbov_of(level);
  return d >= QUIET_DBOV || (!(level & 0x80) && d >= NOVOICE_QUIET_DBOV);
}

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
static int silk_vad(const uint8_t *p, int len) {
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
static int opus_duration(const uint8_t *p, size_t len) {
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
    if (l->kind == SEG_SKIP) memset(a->fifo + (size_t)(a->fifo_n - l->n) * 2, 0, (size_t)l->n * 8);
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
  if (kind == SEG_SIL) memset(a->fifo + (size_t)a->fifo_n * 2, 0, (size_t)n * 8);
  seg_push(a, kind, n);
  a->fifo_n += n;
}

/* Removes n samples from the head (n <= fifo_n). */
static void fifo_pop(sfu_audio_in_t *a, int n) {
  a->fifo_n -= n;
  if (a->fifo_n > 0)
    memmove(a->fifo, a->fifo + (size_t)n * 2, (size_t)a->fifo_n * 2 * sizeof(float));
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

static void fifo_clear(sfu_audio_in_t *a) { a->fifo_n = a->nseg = 0; }

/* ---- slots ------------------------------------------------------------------------- */

static slot_t *earliest_slot(sfu_audio_in_t *a) {
  slot_t *best = NULL;
  for (int i = 0; i < SFU_AUDIO_IN_SLOTS && a->nslots; i++)
    if (a->slots[i].used && (!best || a->slots[i].ts < best->ts)) best = &a->slots[i];
  return best;
}

static slot_t *slot_at_ts(sfu_audio_in_t *a, int64_t ts) {
  for (int i = 0; i < SFU_AUDIO_IN_SLOTS && a->nslots; i++)
    if (a->slots[i].used && a->slots[i].ts == ts) return &a->slots[i];
  return NULL;
}

static void slot_free(sfu_audio_in_t *a, slot_t *s) {
  s->used = 0;
  a->nslots--;
}

static int64_t newest_end(const sfu_audio_in_t *a) {
  int64_t e = a->next_ts;
  for (int i = 0; i < SFU_AUDIO_IN_SLOTS && a->nslots; i++)
    if (a->slots[i].used && a->slots[i].ts + a->slots[i].dur > e)
      e = a->slots[i].ts + a->slots[i].dur;
  return e;
}

/* Audio queued ahead of the play position: the FIFO plus the slots' span. */
static int64_t buffered(const sfu_audio_in_t *a) { return newest_end(a) - a->next_ts + a->fifo_n; }

/* Stores a validated Opus payload; the oldest slot goes when the ring is full. */
static void slot_store(sfu_audio_in_t *a, int64_t seq, int64_t ts, const uint8_t *p, int len,
                       int dur, int level, int from_red) {
  slot_t *s = slot_at_ts(a, ts);
  if (s) { /* the primary after its RED copy, or the other way round: keep one */
    s->from_red = s->from_red && from_red;
    return;
  }
  for (int i = 0; i < SFU_AUDIO_IN_SLOTS; i++)
    if (!a->slots[i].used) {
      s = &a->slots[i];
      break;
    }
  if (!s) {
    s = earliest_slot(a);
    slot_free(a, s);
    a->st.overflow++;
  }
  s->used = 1;
  s->from_red = from_red;
  s->level = level;
  s->channels = opus_packet_get_nb_channels(p);
  s->seq = seq;
  s->ts = ts;
  s->dur = dur;
  s->len = len;
  memcpy(s->data, p, (size_t)len);
  a->nslots++;
}

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

/* A new epoch: the sender restarted (seq/ts jump) or came back after a long stop. Stats
 * counters carry on; the buffer, the timing state and the decoder start over. */
static void restart(sfu_audio_in_t *a) {
  if (a->started) {
    int64_t expected = a->hi_seq - a->base_seq + 1;
    if (expected > (int64_t)a->received)
      a->lost_before += (uint64_t)(expected - (int64_t)a->received);
    a->st.resets++;
  }
  for (int i = 0; i < SFU_AUDIO_IN_SLOTS; i++) a->slots[i].used = 0;
  a->nslots = 0;
  fifo_clear(a);
  a->started = a->playing = 0;
  a->have_transit = 0;
  a->transit_n = a->transit_i = 0;
  a->jitter = 0;
  a->received = 0;
  a->seen[0] = a->seen[1] = 0;
  a->jump_valid = 0;
  a->last_seq = NO_SEQ;
  a->in_dtx = 0;
  a->underrun_frames = a->underrun_plc = 0;
  a->plc_run = 0;
  a->stale = 1;
  a->target = MS(SFU_AUDIO_IN_START_DELAY_MS);
  a->win_pulls = 0;
  a->last_min = -1;
}

/* ---- receive --------------------------------------------------------------------------- */

static int seen_get(const sfu_audio_in_t *a, int64_t seq) {
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

/* RFC 3550 §A.8 jitter and the transit ring behind the target delay. The target is the
 * ~98th percentile (2nd largest of 64) of the transit above its minimum over the last 64 packets
 * (what a packet may be late by), plus one frame (a pull needs a whole one), within the bounds: it
 * rises at once and falls slowly (1/32 per packet), so one quiet second does not shrink a buffer
 * that the next burst of jitter needs. */
static void on_timing(sfu_audio_in_t *a, uint64_t now_us, int64_t ts) {
  int64_t arrival = (int64_t)(now_us * 48 / 1000);
  int64_t transit = arrival - ts;
  if (a->have_transit) {
    int64_t d = transit - a->last_transit;
    if (d < 0) d = -d;
    a->jitter += ((double)d - a->jitter) / 16.0;
  }
  a->have_transit = 1;
  a->last_transit = transit;
  a->transit[a->transit_i] = transit;
  a->transit_i = (a->transit_i + 1) % TRANSIT_N;
  if (a->transit_n < TRANSIT_N) a->transit_n++;
  if (a->transit_n < 8) return;
  int64_t mn = INT64_MAX;
  for (int i = 0; i < a->transit_n; i++)
    if (a->transit[i] < mn) mn = a->transit[i];
  /* k-th largest by k passes: k <= 2, 64 entries. */
  int k = a->transit_n / 64 + 1;
  int64_t prev = INT64_MAX, val = 0;
  int taken = 0;
  while (taken < k) {
    int64_t best = INT64_MIN;
    int cnt = 0;
    for (int i = 0; i < a->transit_n; i++) {
      int64_t v = a->transit[i];
      if (v < prev && v > best) best = v, cnt = 0;
      if (v == best) cnt++;
    }
    if (best == INT64_MIN) break;
    val = best;
    taken += cnt;
    prev = best;
  }
  int64_t t = FRAME + (val - mn);
  if (t < MS(SFU_AUDIO_IN_MIN_DELAY_MS)) t = MS(SFU_AUDIO_IN_MIN_DELAY_MS);
  if (t > MS(SFU_AUDIO_IN_MAX_DELAY_MS)) t = MS(SFU_AUDIO_IN_MAX_DELAY_MS);
  if (t >= a->target)
    a->target = t;
  else
    a->target -= (a->target - t + 31) / 32;
}

static void on_loss_interval(sfu_audio_in_t *a, uint64_t now_us) {
  uint64_t expected = (uint64_t)(a->hi_seq - a->base_seq + 1);
  if (a->int_start_us == 0) a->int_start_us = now_us;
  if (now_us - a->int_start_us < 1000000u) return;
  if (expected >= a->int_expected0) {
    uint64_t e = expected - a->int_expected0;
    uint64_t r = a->received - a->int_received0;
    a->loss_fraction = e == 0 || r >= e ? 0.f : (float)(e - r) / (float)e;
  }
  a->int_start_us = now_us;
  a->int_expected0 = expected;
  a->int_received0 = a->received;
}

/* A talkspurt after DTX, or the end of an underrun: the buffer is empty, so the play
 * position may move freely (only silence or concealment was played over it). Re-anchor
 * it to the target: this is where clock drift accumulated during a talkspurt is undone
 * for free. An underrun that ends with the next seq in line was DTX after all (the
 * sender's last frames were not quiet enough to tell) if its timestamp jumped: its
 * concealment is recounted as DTX, so it costs neither stats nor signal strength. One
 * whose timestamp follows on was only late: it plays next (the concealment was an
 * insert). */
static void reanchor(sfu_audio_in_t *a, int64_t seq, int64_t ts, int dur) {
  if (!a->playing || a->nslots != 0) return;
  if (a->underrun_frames > 0) {
    /* next_ts is still the end of the last packet played (an underrun does not advance) */
    if (ts <= a->next_ts) return; /* merely late: it plays next, the insert stays */
    if (a->last_seq != NO_SEQ && seq == a->last_seq + 1) {
      a->st.concealed_frames -= (uint64_t)a->underrun_plc;
      a->st.drift_inserts -= (uint64_t)a->underrun_frames;
      a->st.dtx_frames += (uint64_t)a->underrun_frames;
    }
    a->underrun_frames = a->underrun_plc = 0;
  } else if (!a->in_dtx) {
    return;
  }
  int64_t level = ts + dur - a->next_ts + a->fifo_n;
  if (level > a->target + FRAME * 2 || ts < a->next_ts) {
    int64_t nt = ts + dur + a->fifo_n - a->target - FRAME;
    if (nt > ts) nt = ts;
    a->next_ts = nt;
  }
}

/* One RFC 2198 §3 header list: returns the number of blocks (primary last) or -1. */
typedef struct {
  int pt, ts_off, len;
  const uint8_t *p;
} red_block_t;

static int red_parse(const uint8_t *p, size_t len, red_block_t *b) {
  size_t off = 0;
  int n = 0;
  for (;;) {
    if (off >= len || n == RED_MAX_BLOCKS) return -1;
    uint8_t h = p[off];
    b[n].pt = h & 0x7f;
    if (!(h & 0x80)) { /* the last header: the primary, its length is what remains */
      off++;
      n++;
      break;
    }
    if (off + 4 > len) return -1;
    b[n].ts_off = (p[off + 1] << 6) | (p[off + 2] >> 2);
    b[n].len = ((p[off + 2] & 3) << 8) | p[off + 3];
    off += 4;
    n++;
  }
  for (int i = 0; i < n - 1; i++) {
    if (off + (size_t)b[i].len > len) return -1;
    b[i].p = p + off;
    off += (size_t)b[i].len;
  }
  b[n - 1].ts_off = 0;
  b[n - 1].p = p + off;
  b[n - 1].len = (int)(len - off);
  return n;
}

/* Stores the redundant blocks that fill a missing packet. The blocks are the sender's
 * previous packets in order (libwebrtc's RED encoder), so block i of n-1 is seq
 * primary - (n-1-i). */
static void red_fill(sfu_audio_in_t *a, const red_block_t *b, int n, int64_t seq, int64_t ts) {
  for (int i = 0; i < n - 1; i++) {
    if (b[i].pt != a->cfg.opus_pt || b[i].ts_off == 0) continue;
    int64_t rseq = seq - (n - 1 - i), rts = ts - b[i].ts_off;
    if (seen_get(a, rseq) || slot_at_ts(a, rts)) continue; /* the primary came */
    int dur = opus_duration(b[i].p, (size_t)b[i].len);
    if (dur < 0) {
      a->st.bad_payloads++;
      continue;
    }
    if (a->playing && rts + dur <= a->next_ts) continue; /* already past */
    if (a->last_seq != NO_SEQ && rseq <= a->last_seq) continue;
    slot_store(a, rseq, rts, b[i].p, b[i].len, dur, -1, 1);
  }
}

/* Returns 1 when the packet continues the stream, 0 when it is a jump to drop, or
 * restarts the stream (confirmed jump, or a long stop) and returns 1. */
static int check_jump(sfu_audio_in_t *a, uint64_t now_us, uint16_t seq, uint32_t ts) {
  if (!a->started) return 1;
  if (now_us > a->last_arrival_us && now_us - a->last_arrival_us > STOP_US) {
    restart(a);
    return 1;
  }
  int64_t dseq = unwrap16(a->hi_seq, seq) - a->hi_seq;
  int64_t dts = unwrap32(a->hi_ts, ts) - a->hi_ts;
  int64_t wall =
      now_us > a->last_arrival_us ? (int64_t)((now_us - a->last_arrival_us) * 48 / 1000) : 0;
  int jump = dseq > SEQ_JUMP || dseq < -SEQ_JUMP || dts - wall > TS_JUMP || dts < -2 * TS_JUMP;
  if (!jump) {
    a->jump_valid = 0;
    return 1;
  }
  if (a->jump_valid && seq == (uint16_t)(a->jump_seq + 1)) {
    restart(a);
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
  int64_t seq = unwrap16(a->hi_seq, h.seq);
  int64_t ts = unwrap32(a->hi_ts, h.timestamp);
  a->last_arrival_us = now_us;
  if (seen_get(a, seq) || (seq == a->hi_seq && a->received > 0)) {
    a->st.duplicates++;
    return SFU_EEXIST;
  }
  if (seq < a->base_seq) a->base_seq = seq; /* reordered before the first one */
  if (seq > a->hi_seq) a->hi_ts = ts;
  seen_set(a, seq);
  a->received++;
  on_timing(a, now_us, ts);
  on_loss_interval(a, now_us);
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
    nblk = red_parse(h.payload, h.payload_len, blk);
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
  int dur = opus_duration(p, (size_t)plen);
  int late = a->playing && ((a->last_seq != NO_SEQ && seq <= a->last_seq) ||
                            ts + (dur > 0 ? dur : 0) <= a->next_ts);
  if (is_red && !late) red_fill(a, blk, nblk, seq, ts);
  if (dur < 0) {
    a->st.bad_payloads++;
    return SFU_EPARSE;
  }
  if (late) {
    a->st.late++;
    return SFU_ESTALE;
  }
  a->st.packets++;
  reanchor(a, seq, ts, dur);
  slot_store(a, seq, ts, p, plen, dur, audio_level, 0);
  a->st.channels = opus_packet_get_nb_channels(p);
  return 0;
}

/* ---- playout ---------------------------------------------------------------------------- */

static float rms_of(const float *x, int n) {
  double e = 0;
  for (int i = 0; i < n * 2; i++) e += (double)x[i] * x[i];
  return n > 0 ? (float)sqrt(e / (n * 2)) : 0.f;
}

/* The loudest 20 ms window of n samples at x. */
static float peak_rms(const float *x, int n) {
  float m = 0;
  for (int at = 0; at < n; at += FRAME) {
    float r = rms_of(x + (size_t)at * 2, n - at < FRAME ? n - at : FRAME);
    if (r > m) m = r;
  }
  return m;
}

/* An odd packet: another TOC byte (config, stereo bit, frame count code: RFC 6716 §3.1)
 * than the last decoded packet, or 4x its byte rate (a 20 ms voice packet is ~60-160
 * bytes; random bytes have any length). */
static int odd_packet(const sfu_audio_in_t *a, const slot_t *s) {
  if (a->last_toc < 0 || s->len <= 2) return 0;
  if (s->data[0] != a->last_toc) return 1;
  float rate = (float)s->len * FRAME / (float)s->dur;
  return s->len > 200 && a->avg_bytes > 0 && rate > 4.f * a->avg_bytes;
}

/* An odd packet between normal ones is garbage more likely than a real switch (a sender
 * that changes mode, frame size or bitrate keeps the new one, so the next packet is odd
 * too). It is not decoded (that would poison the decoder state for the packets after)
 * but played as a loss: the next packet's FEC, or PLC. Without a next packet to compare,
 * it is decoded and the energy gate watches. */
static int isolated(sfu_audio_in_t *a, const slot_t *s) {
  if (!odd_packet(a, s)) return 0;
  slot_t *n = slot_at_ts(a, s->ts + s->dur);
  return n && n->len > 2 && !odd_packet(a, n);
}

/* The energy gate: a packet that parses but decodes to a burst well above what the
 * sender said (RFC 6464 level, +6 dB) or, without levels, well above the recent envelope
 * with a different TOC (config or stereo bit, RFC 6716 §3.1), or to a near-full-scale
 * jump, is garbage (or a hostile sender, or a decoder poisoned by garbage that got
 * through): its samples become silence and the decoder restarts at the next packet. */
static int garbage(const sfu_audio_in_t *a, const slot_t *s, float peak) {
  if (peak < 0.05f) return 0;
  if (s->level >= 0) return peak > 2.f * powf(10.f, -(float)dbov_of(s->level) / 20.f) + 0.02f;
  if (odd_packet(a, s) && peak > 2.f * a->env + 0.02f) return 1;
  return peak > 0.5f && peak > 3.f * a->env;
}

/* Concealment (PLC or FEC) never rises above what was heard before: if the decoder state
 * was poisoned, what it makes up is silenced and the decoder restarts. Returns 1 when the
 * chunk was silenced. */
static int gate_concealed(sfu_audio_in_t *a, int at, int n) {
  float *x = a->fifo + (size_t)at * 2;
  if (peak_rms(x, n) <= 2.f * a->env + 0.02f) return 0;
  memset(x, 0, (size_t)n * 2 * sizeof(float));
  a->stale = 1;
  a->st.bad_payloads++;
  return 1;
}

/* Decodes into the FIFO tail: data = NULL is PLC (RFC 6716 §4.4), fec = 1 rebuilds the
 * packet before `data` from its LBRR (frame_size = the missing duration). Returns the
 * samples written, or < 0. After undecoded packets the decoder is reset first and the
 * output faded in over 5 ms: a reset decoder starts from zero filter state, and the
 * ramp hides the step (RFC 6716 §4.5.2: a decoder can start at any packet). */
static int decode(sfu_audio_in_t *a, const uint8_t *data, int len, int fec, int frame_size) {
  if (a->stale && data) {
    opus_decoder_ctl(a->dec, OPUS_RESET_STATE);
    a->st.decoder_resets++;
    a->stale = 0;
    a->fade = FADE_SAMPLES;
  }
  float *out = a->fifo + (size_t)a->fifo_n * 2;
  int n = opus_decode_float(a->dec, data, len, out, frame_size, fec);
  a->st.decoder_calls++;
  if (n <= 0) return -1;
  for (int i = 0; i < n * 2; i++) {                          /* opus_decode_float does not clip */
    if (!(out[i] >= -1.f)) out[i] = out[i] < 0 ? -1.f : 0.f; /* also NaN -> 0 */
    if (out[i] > 1.f) out[i] = 1.f;
  }
  for (int i = 0; i < n && a->fade > 0; i++, a->fade--) {
    float g = (float)(FADE_SAMPLES - a->fade) / FADE_SAMPLES;
    out[2 * i] *= g;
    out[2 * i + 1] *= g;
  }
  return n;
}

/* Conceals n samples (a multiple of 120, <= FRAME) at the tail. */
static void conceal(sfu_audio_in_t *a, int n, int want) {
  if (want && !a->stale && decode(a, NULL, 0, 0, n) == n) {
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

/* Whether silence probably follows the packet (an empty buffer after it is DTX rather than
 * loss): its RFC 6464 level says quiet or no voice, else its decoded energy is low (below
 * -50 dBFS, or -30 dBFS when the encoder's SILK VAD bit says no voice). A wrong guess
 * either way costs little: DTX taken for loss is recounted when the next packet shows a
 * timestamp jump with the next seq (reanchor), loss taken for DTX plays silence in a
 * quiet moment. */
static int packet_quiet(const sfu_audio_in_t *a, const slot_t *s) {
  if (s->level >= 0) return level_quiet(s->level);
  if (!a->rms_valid) return 0;
  /* The VAD bit alone is not enough: SILK's VAD calls a steady tone "no voice". */
  return a->last_rms < QUIET_RMS ||
         (silk_vad(s->data, s->len) == 0 && a->last_rms < 10 * QUIET_RMS);
}

/* Plays the slot at (or straddling) next_ts into the FIFO. */
static void play_slot(sfu_audio_in_t *a, slot_t *s, int want) {
  int lead = (int)(a->next_ts - s->ts); /* > 0 only with irregular timestamps; < dur */
  int n = s->dur;
  if (s->len <= 2) { /* a TOC-only DTX packet (RFC 6716 §3.2.1 length 0 frame) */
    fifo_append(a, SEG_SIL, n - lead);
    a->st.dtx_frames += (uint64_t)(n - lead) / FRAME;
    a->in_dtx = 1;
    a->stale = 1;
  } else if (want) {
    int at = a->fifo_n;
    int got = decode(a, s->data, s->len, 0, FIFO_CAP - a->fifo_n);
    float rms = got > 0 ? rms_of(a->fifo + (size_t)at * 2, got) : 0.f;
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
      a->last_toc = s->data[0];
      float rate = (float)s->len * FRAME / (float)s->dur;
      a->avg_bytes = a->avg_bytes > 0 ? a->avg_bytes + 0.1f * (rate - a->avg_bytes) : rate;
    }
    a->in_dtx = packet_quiet(a, s);
    if (lead > 0 && lead < n) { /* drop the part already played */
      memmove(a->fifo + (size_t)at * 2, a->fifo + (size_t)(at + lead) * 2,
              (size_t)(n - lead) * 2 * sizeof(float));
      a->fifo_n -= lead;
      a->seg[a->nseg - 1].n -= lead;
    }
  } else {
    fifo_append(a, SEG_SKIP, n - lead);
    a->stale = 1;
    a->in_dtx = packet_quiet(a, s);
  }
  if (s->from_red) a->st.red_recovered++;
  a->fifo_level = s->level;
  a->fifo_channels = s->channels;
  a->next_ts = s->ts + s->dur;
  a->last_seq = s->seq;
  a->plc_run = 0;
  a->underrun_frames = a->underrun_plc = 0;
  slot_free(a, s);
}

/* The next buffered packet s starts after next_ts: fill (part of) the gap before it. */
static void fill_gap(sfu_audio_in_t *a, slot_t *s, int want, int room) {
  int64_t gap = s->ts - a->next_ts;
  if (a->last_seq == NO_SEQ || s->seq == a->last_seq + 1) {
    /* Contiguous seq, later timestamp: DTX (RFC 7587 §3.3), silence, not loss. */
    int n = gap < room ? (int)gap : room;
    fifo_append(a, SEG_SIL, n);
    a->st.dtx_frames += (a->fifo_n >= FRAME); /* ~ one per frame of silence */
    a->next_ts += n;
    a->plc_run = 0;
    return;
  }
  if (gap <= s->dur && gap % 120 == 0 && s->len > 2 && a->plc_run < MS(SFU_AUDIO_IN_PLC_MAX_MS)) {
    /* The one packet before s: its in-band FEC (RFC 6716 §2.1.7), or PLC when it has
     * none (libopus conceals then). */
    int lbrr = has_lbrr(s->data, s->len);
    if (want && !a->stale && decode(a, s->data, s->len, 1, (int)gap) == gap) {
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
  /* A longer gap: PLC up to the FEC-able packet, at most a frame at a time, silence
   * past the PLC limit. */
  int64_t n = gap - (gap <= s->dur ? 0 : s->dur);
  if (n > room) n = (room + 119) / 120 * 120;
  if (n > gap) n = gap;
  if (n >= 120 && a->plc_run < MS(SFU_AUDIO_IN_PLC_MAX_MS)) {
    n -= n % 120;
    conceal(a, (int)n, want);
  } else {
    fifo_append(a, SEG_SIL, (int)n);
  }
  a->next_ts += n;
  if (a->next_ts >= s->ts) a->last_seq = s->seq - 1;
}

/* Fills the FIFO up to one frame from the slots at next_ts (module comment). Returns 0, or
 * -1 when the stream has been concealed for SFU_AUDIO_IN_PLC_MAX_MS with nothing to
 * play: it counts as stopped. */
static int fill(sfu_audio_in_t *a, int want) {
  while (a->fifo_n < FRAME) {
    slot_t *s = earliest_slot(a);
    while (s && s->ts + s->dur <= a->next_ts) { /* already played over (irregular ts) */
      slot_free(a, s);
      a->st.late++;
      s = earliest_slot(a);
    }
    if (s && s->ts <= a->next_ts) {
      if (want && isolated(a, s)) {
        slot_free(a, s);
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
    conceal(a, (room + 119) / 120 * 120, want);
    a->underrun_plc += (int)(a->st.concealed_frames - c0);
    a->underrun_frames++;
    a->st.drift_inserts++;
  }
  return 0;
}

/* The RFC 6464 byte of the frame the next pull plays, or -1. */
static int next_level(sfu_audio_in_t *a) {
  if (a->fifo_n > 0) return a->fifo_level;
  slot_t *s = earliest_slot(a);
  if (s && s->ts <= a->next_ts) return s->level;
  return -1;
}

static int next_quiet(sfu_audio_in_t *a) {
  if (a->nslots == 0 && a->fifo_n == 0 && a->in_dtx) return 1;
  int lv = next_level(a);
  if (a->has_level) return level_quiet(lv);
  return a->rms_valid && a->last_rms < QUIET_RMS;
}

static void try_start(sfu_audio_in_t *a) {
  slot_t *s = earliest_slot(a);
  if (!s) return;
  int64_t end = newest_end(a);
  if (end - s->ts < a->target) return;
  a->playing = 1;
  a->next_ts = s->ts;
  a->last_seq = s->seq - 1;
  a->plc_run = 0;
  a->in_dtx = 0;
  a->underrun_frames = a->underrun_plc = 0;
  a->win_pulls = 0;
  a->last_min = -1;
  a->excess_windows = a->deficit_windows = 0;
}

float sfu_audio_in_peek_level(sfu_audio_in_t *a, uint64_t now_us) {
  (void)now_us;
  if (!a || !a->started) return 0.f;
  if (!a->playing) {
    try_start(a);
    if (!a->playing) return 0.f;
  }
  if (a->nslots == 0 && a->fifo_n == 0 && a->in_dtx) return 0.f;
  if (a->has_level) {
    int lv = next_level(a);
    if (lv >= 0) {
      int d = dbov_of(lv);
      return d >= SFU_AUDIO_IN_SILENT_DBOV ? 0.f : powf(10.f, -(float)d / 20.f);
    }
  }
  return a->rms_valid ? a->last_rms : -1.f;
}

/* Buffer-level control, once per pull: the minimum level over 1 s windows against the
 * target. Too deep by > 30 ms: drop a frame, a quiet one if one comes within 3 windows,
 * any after that or when > 80 ms too deep; at most one per window (2 % speed-up, enough
 * for any real clock drift: 0.5 % is 1 frame per 4 s). Too shallow by > 20 ms and quiet:
 * insert a silent frame; too shallow for 3 windows: insert a concealed one. Returns 1 for a
 * drop, -1 / -2 for a silent / concealed insert, 0 otherwise. */
static int level_control(sfu_audio_in_t *a, int64_t level) {
  if (a->win_pulls == 0 || level < a->win_min) a->win_min = level;
  if (++a->win_pulls >= WINDOW_PULLS) {
    a->last_min = a->win_min;
    a->win_pulls = 0;
    a->win_dropped = 0;
    if (a->last_min > a->target + MS(30))
      a->excess_windows++;
    else
      a->excess_windows = 0;
    if (a->last_min < a->target - MS(20))
      a->deficit_windows++;
    else
      a->deficit_windows = 0;
  }
  if (level > MS(SFU_AUDIO_IN_MAX_DELAY_MS) + MS(60) && level > a->target + MS(60))
    return 1; /* a burst (e.g. after a network freeze): come down fast */
  if (a->since_drop < INT32_MAX) a->since_drop++;
  if (a->last_min < 0) return 0;
  int64_t excess = a->last_min - a->target;
  /* Far too deep (the burst after a stall, or ticks skipped by a late loop): a frame every
   * 100 ms, so 200 ms of excess latency drains in ~1 s rather than 10. */
  if (excess > MS(80) && a->since_drop >= 5) {
    a->win_dropped = 1;
    a->last_min -= FRAME;
    a->since_drop = 0;
    return 1;
  }
  if (a->win_dropped) return 0;
  if (excess > MS(30) && (next_quiet(a) || a->excess_windows >= 3)) {
    a->win_dropped = 1;
    a->last_min -= FRAME;
    a->since_drop = 0;
    return 1;
  }
  if (excess < -MS(20) && (next_quiet(a) || a->deficit_windows >= 3)) {
    a->win_dropped = 1;
    a->last_min += FRAME;
    return next_quiet(a) ? -1 : -2;
  }
  return 0;
}

sfu_audio_pull_t sfu_audio_in_pull(sfu_audio_in_t *a, uint64_t now_us, int decode_pcm, float *pcm,
                                   int *channels) {
  (void)now_us;
  if (!a || !a->started) return SFU_AUDIO_NONE;
  if (!a->playing) {
    try_start(a);
    if (!a->playing) return SFU_AUDIO_NONE;
  }
  int lv = next_level(a);
  int silent_by_level = a->has_level && lv >= 0 && dbov_of(lv) >= SFU_AUDIO_IN_SILENT_DBOV;
  /* Without levels the energy is the level: such a stream is always decoded. */
  int want = !silent_by_level && (decode_pcm || !a->has_level);

  /* During DTX the buffer is empty by design: no level to control (reanchor does it). */
  int ctl = a->in_dtx && a->nslots == 0 ? 0 : level_control(a, buffered(a));
  if (ctl == -1) { /* quiet: a frame of silence, the play position stays */
    a->st.drift_inserts++;
    return SFU_AUDIO_SILENT;
  }
  if (ctl == -2) { /* a frame of concealment at the FIFO tail, the play position stays */
    conceal(a, FRAME, want);
    a->st.drift_inserts++;
  }
  if (ctl > 0) {
    if (fill(a, want) == 0) {
      fifo_pop(a, FRAME);
      a->st.drift_drops++;
    }
  }
  if (fill(a, want) < 0) {
    a->playing = 0;
    fifo_clear(a);
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
  if (dec > 0) {
    float rms = rms_of(a->fifo, FRAME);
    if (want) {
      a->last_rms = rms;
      a->rms_valid = 1;
    }
    if (decode_pcm && pcm && channels) {
      int ch = a->fifo_channels == 2 ? 2 : 1;
      int at = 0;
      for (int k = 0; k < a->nseg && at < FRAME; k++) {
        int t = a->seg[k].n < FRAME - at ? a->seg[k].n : FRAME - at;
        for (int i = at; i < at + t; i++) {
          float l = a->seg[k].kind == SEG_DEC ? a->fifo[2 * i] : 0.f;
          float rr = a->seg[k].kind == SEG_DEC ? a->fifo[2 * i + 1] : 0.f;
          if (ch == 2) {
            pcm[2 * i] = l;
            pcm[2 * i + 1] = rr;
          } else {
            pcm[i] = l;
          }
        }
        at += t;
      }
      *channels = ch;
      a->out_channels = ch;
      r = SFU_AUDIO_PCM;
    }
    /* muted: digital silence decoded */
    if (rms < DIGITAL_SILENCE_RMS)
      a->silent_run_ms += 20;
    else
      a->silent_run_ms = 0;
  } else if (silent_by_level) {
    a->silent_run_ms += 20;
  } else if (lv >= 0 && !level_quiet(lv)) {
    a->silent_run_ms = 0;
  }
  fifo_pop(a, FRAME);
  return r;
}

static float peek_cb(void *src, uint64_t now_us) {
  return sfu_audio_in_peek_level((sfu_audio_in_t *)src, now_us);
}
static sfu_audio_pull_t pull_cb(void *src, uint64_t now_us, int decode, float *pcm, int *channels) {
  return sfu_audio_in_pull((sfu_audio_in_t *)src, now_us, decode, pcm, channels);
}
const sfu_audio_source_ops_t sfu_audio_in_ops = {peek_cb, pull_cb};

void sfu_audio_in_stats(const sfu_audio_in_t *a, sfu_audio_in_stats_t *out) {
  *out = a->st;
  int64_t expected = a->started ? a->hi_seq - a->base_seq + 1 : 0;
  out->lost = a->lost_before +
              (expected > (int64_t)a->received ? (uint64_t)(expected - (int64_t)a->received) : 0);
  out->loss_fraction = a->loss_fraction;
  out->jitter_ms = (float)(a->jitter / 48.0);
  out->target_ms = (float)a->target / 48.f;
  out->level_ms = a->playing ? (float)buffered(a) / 48.f : 0.f;
  float l = out->loss_fraction, j = out->jitter_ms;
  out->signal_strength = !a->started                ? 0.f
                         : (l < 0.05f && j < 40.f)  ? 1.f
                         : (l < 0.20f && j < 100.f) ? 0.5f
                                                    : 0.f;
  out->muted = a->silent_run_ms >= MUTED_MS;
}
