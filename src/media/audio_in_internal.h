/* State of one incoming audio stream (sfu/audio_in.h), shared by the files of the receive
 * side, one concept each:
 *   audio_in.c        the public API: lifecycle, RTP in (payload type, duplicate window,
 *                     jump / restart checks, late check), peek and pull, the ops table
 *   audio_in_jbuf.c   the jitter buffer: the payload arena and the slots keyed by RTP
 *                     timestamp, transit percentile -> target, loss interval, start,
 *                     re-anchoring after DTX / underruns, buffer-level (drift) control
 *   audio_in_decode.c Opus: packet checks, the PCM FIFO, decode / PLC / in-band FEC, the
 *                     garbage gates, playout of slots and of gaps (DTX or loss)
 *   audio_in_red.c    RFC 2198 RED: header list parsing, redundant blocks into the slots
 *                     of packets that did not come
 *   audio_in_level.c  RFC 6464 levels, the quiet / DTX guesses, muted, stats
 *
 * Timeline: every position is an unwrapped RTP timestamp in 48 kHz samples (RFC 7587 §4.1:
 * Opus RTP timestamps always count at 48 kHz, whatever the coded bandwidth). next_ts is
 * the position of the PCM FIFO's tail: what the next packet must start at. A pull takes
 * 960 samples off the FIFO head after filling the FIFO from the slots. Costs per pull:
 * O(SFU_AUDIO_IN_SLOTS) scans (32 compares) plus the decode.
 *
 * Owner: sfu_audio_in_new / sfu_audio_in_free; one thread (the meeting's loop). Not a
 * public header. */
#ifndef SFU_AUDIO_IN_INTERNAL_H
#define SFU_AUDIO_IN_INTERNAL_H

#include <opus.h>
#include <stdint.h>

#include "sfu/audio_in.h"

#define FRAME SFU_AUDIO_FRAME
#define MS(x) ((int64_t)(x)*48) /* ms -> samples */
/* The longest Opus frame (RFC 6716 §2.1.4: SILK's 60 ms). Longer packets (several frames,
 * up to 120 ms) are decoded a part of <= 60 ms at a time, so the FIFO holds one part plus
 * what is left of the frame before it. */
#define DECODE_MAX 2880
#define FIFO_CAP (DECODE_MAX + FRAME)
#define NSEG 32
#define TRANSIT_N 64
#define FADE_SAMPLES 240          /* 5 ms fade-in after a decoder reset */
#define QUIET_DBOV 50             /* a frame at or below -50 dBov may be dropped / treated as DTX */
#define NOVOICE_QUIET_DBOV 30     /* the same at -30 dBov when its V bit says no voice */
#define QUIET_RMS 0.003f          /* the same for decoded energy (-50 dBFS) */
#define DIGITAL_SILENCE_RMS 2e-5f /* below a 16-bit sample's last bit (-94 dBFS) */
#define RED_MAX_BLOCKS 8
#define WINDOW_PULLS 50 /* 1 s of pulls for the buffer-level minimum */
#define NO_SEQ INT64_MIN

enum { SEG_DEC, SEG_SIL, SEG_SKIP }; /* decoded (or PLC) PCM, zeros, consumed undecoded */

typedef struct {
  uint8_t kind;
  int n;
} seg_t;

/* One buffered packet: its payload is arena[off, off + len). */
typedef struct {
  uint8_t used, from_red, channels;
  uint8_t skip_frames; /* Opus frames of the packet already played (long packets) */
  int16_t level;       /* RFC 6464 byte or -1 */
  uint16_t off, len;
  int dur;         /* samples left to play (opus_packet_get_nb_samples at first) */
  int64_t seq, ts; /* unwrapped; ts of the first frame left to play */
} slot_t;

struct sfu_audio_in {
  sfu_audio_in_cfg_t cfg;
  OpusDecoder *dec; /* stereo: decodes mono and stereo packets alike (RFC 7587 §7) */

  /* receive side (audio_in.c) */
  int started;
  int64_t hi_seq, hi_ts, base_seq;
  uint64_t received, lost_before; /* unique packets this epoch; lost in earlier epochs */
  uint64_t last_arrival_us, level_seen_us;
  uint64_t seen[2]; /* seqs hi_seq-127 .. hi_seq received (bit i = hi_seq - i) */
  int jump_valid;
  uint16_t jump_seq; /* a lone jumped packet, waiting for its successor to confirm */
  int has_level;

  /* jitter buffer (audio_in_jbuf.c): RFC 3550 §A.8 jitter in samples, the transit ring
   * behind the target, the loss interval, the slots and their payload arena */
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
  int arena_top; /* arena[0, arena_top) is allocated (live payloads and holes) */
  int64_t win_min, last_min;
  int win_pulls, win_dropped, excess_windows, deficit_windows, since_drop;

  /* playout (audio_in_decode.c) */
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
  int fifo_n, nseg;
  seg_t seg[NSEG];

  /* levels (audio_in_level.c) */
  int silent_run_ms; /* consecutive pulls of digital silence / silent level / DTX after it */
  int last_pkt_silent;

  sfu_audio_in_stats_t st;

  int16_t fifo[FIFO_CAP * 2]; /* interleaved stereo: the decoder's int16 output */
  uint8_t arena[SFU_AUDIO_IN_ARENA];
};

/* ---- small helpers ---- */
static inline int64_t sfu_ain_unwrap16(int64_t ref, uint16_t v) {
  return ref + (int16_t)(uint16_t)(v - (uint16_t)ref);
}
static inline int64_t sfu_ain_unwrap32(int64_t ref, uint32_t v) {
  return ref + (int32_t)(uint32_t)(v - (uint32_t)ref);
}
static inline int sfu_ain_dbov(int level) { return level < 0 ? -1 : (level & 0x7f); }
static inline const uint8_t *sfu_ain_data(const sfu_audio_in_t *a, const slot_t *s) {
  return a->arena + s->off;
}

/* ---- audio_in.c ---- */
int sfu_ain_seen(const sfu_audio_in_t *a, int64_t seq);

/* ---- audio_in_jbuf.c ---- */
void sfu_ain_restart(sfu_audio_in_t *a);
slot_t *sfu_ain_earliest(sfu_audio_in_t *a);
slot_t *sfu_ain_slot_at(sfu_audio_in_t *a, int64_t ts);
void sfu_ain_slot_free(sfu_audio_in_t *a, slot_t *s);
void sfu_ain_slot_store(sfu_audio_in_t *a, int64_t seq, int64_t ts, const uint8_t *p, int len,
                        int dur, int level, int from_red);
int64_t sfu_ain_buffered(const sfu_audio_in_t *a);
void sfu_ain_on_timing(sfu_audio_in_t *a, uint64_t now_us, int64_t ts);
void sfu_ain_on_loss_interval(sfu_audio_in_t *a, uint64_t now_us);
void sfu_ain_reanchor(sfu_audio_in_t *a, int64_t seq, int64_t ts, int dur);
void sfu_ain_try_start(sfu_audio_in_t *a);
int sfu_ain_level_control(sfu_audio_in_t *a, int64_t level);

/* ---- audio_in_decode.c ---- */
int sfu_ain_opus_duration(const uint8_t *p, size_t len);
int sfu_ain_silk_vad(const uint8_t *p, int len);
void sfu_ain_fifo_pop(sfu_audio_in_t *a, int n);
void sfu_ain_fifo_clear(sfu_audio_in_t *a);
float sfu_ain_rms(const int16_t *x, int n);
void sfu_ain_conceal(sfu_audio_in_t *a, int n, int want);
int sfu_ain_fill(sfu_audio_in_t *a, int want);

/* ---- audio_in_red.c ---- */
typedef struct {
  int pt, ts_off, len;
  const uint8_t *p;
} red_block_t;
int sfu_ain_red_parse(const uint8_t *p, size_t len, red_block_t *b);
void sfu_ain_red_fill(sfu_audio_in_t *a, const red_block_t *b, int n, int64_t seq, int64_t ts);

/* ---- audio_in_level.c ---- */
int sfu_ain_level_quiet(int level);
int sfu_ain_packet_quiet(const sfu_audio_in_t *a, const slot_t *s);
int sfu_ain_next_level(sfu_audio_in_t *a);
int sfu_ain_next_quiet(sfu_audio_in_t *a);
void sfu_ain_on_played(sfu_audio_in_t *a, const slot_t *s, int digital_silence);
void sfu_ain_track_muted(sfu_audio_in_t *a, int dec, float rms, int silent_by_level, int lv);

#endif
