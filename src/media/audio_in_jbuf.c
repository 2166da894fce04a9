/* The jitter buffer of one incoming audio stream (audio_in_internal.h): the slots keyed by
 * RTP timestamp and the arena that holds their payloads, the target delay from measured
 * transit, the loss interval, the start of playout, re-anchoring after DTX or an underrun,
 * and the buffer-level control that absorbs clock drift. No decoding here. */
#include <string.h>

#include "audio_in_internal.h"

/* ---- slots and the payload arena ---------------------------------------------------- */

slot_t *sfu_ain_earliest(sfu_audio_in_t *a) {
  slot_t *best = NULL;
  for (int i = 0; i < SFU_AUDIO_IN_SLOTS && a->nslots; i++)
    if (a->slots[i].used && (!best || a->slots[i].ts < best->ts)) best = &a->slots[i];
  return best;
}

slot_t *sfu_ain_slot_at(sfu_audio_in_t *a, int64_t ts) {
  for (int i = 0; i < SFU_AUDIO_IN_SLOTS && a->nslots; i++)
    if (a->slots[i].used && a->slots[i].ts == ts) return &a->slots[i];
  return NULL;
}

void sfu_ain_slot_free(sfu_audio_in_t *a, slot_t *s) {
  s->used = 0;
  if (--a->nslots == 0) a->arena_top = 0; /* the common case: empty, so no holes */
}

/* Packs the live payloads to the arena's start, in offset order. O(slots^2 + arena): at
 * most 32 x 32 compares and 8 KB moved, once per arena's worth of packets (~100 packets
 * of 80 bytes) in a stream that never drains, e.g. one without DTX. */
static void arena_compact(sfu_audio_in_t *a) {
  int top = 0;
  for (;;) {
    slot_t *next = NULL;
    for (int i = 0; i < SFU_AUDIO_IN_SLOTS; i++) {
      slot_t *s = &a->slots[i];
      if (s->used && s->off >= top && (!next || s->off < next->off)) next = s;
    }
    if (!next) break;
    if (next->off != top) memmove(a->arena + top, a->arena + next->off, next->len);
    next->off = (uint16_t)top;
    top += next->len;
  }
  a->arena_top = top;
}

/* Room for len bytes, or -1 (the caller drops the oldest packet and tries again). */
static int arena_alloc(sfu_audio_in_t *a, int len) {
  if (a->arena_top + len > SFU_AUDIO_IN_ARENA) arena_compact(a);
  if (a->arena_top + len > SFU_AUDIO_IN_ARENA) return -1;
  int off = a->arena_top;
  a->arena_top += len;
  return off;
}

/* Stores a validated Opus payload (len <= SFU_AUDIO_IN_MAX_PAYLOAD <= the arena); the
 * oldest packet goes when the slots or the arena are full (counted as overflow). */
void sfu_ain_slot_store(sfu_audio_in_t *a, int64_t seq, int64_t ts, const uint8_t *p, int len,
                        int dur, int level, int from_red) {
  slot_t *s = sfu_ain_slot_at(a, ts);
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
    s = sfu_ain_earliest(a);
    sfu_ain_slot_free(a, s);
    a->st.overflow++;
  }
  int off;
  while ((off = arena_alloc(a, len)) < 0) {
    slot_t *old = sfu_ain_earliest(a); /* never NULL: an empty arena fits any payload */
    sfu_ain_slot_free(a, old);
    a->st.overflow++;
  }
  s->used = 1;
  s->from_red = (uint8_t)from_red;
  s->skip_frames = 0;
  s->level = (int16_t)level;
  s->channels = (uint8_t)opus_packet_get_nb_channels(p);
  s->seq = seq;
  s->ts = ts;
  s->dur = dur;
  s->off = (uint16_t)off;
  s->len = (uint16_t)len;
  memcpy(a->arena + off, p, (size_t)len);
  a->nslots++;
}

static int64_t newest_end(const sfu_audio_in_t *a) {
  int64_t e = a->next_ts;
  for (int i = 0; i < SFU_AUDIO_IN_SLOTS && a->nslots; i++)
    if (a->slots[i].used && a->slots[i].ts + a->slots[i].dur > e)
      e = a->slots[i].ts + a->slots[i].dur;
  return e;
}

/* Audio queued ahead of the play position: the FIFO plus the slots' span. */
int64_t sfu_ain_buffered(const sfu_audio_in_t *a) { return newest_end(a) - a->next_ts + a->fifo_n; }

/* A new epoch: the sender restarted (seq/ts jump) or came back after a long stop. Stats
 * counters carry on; the buffer, the timing state and the decoder start over. */
void sfu_ain_restart(sfu_audio_in_t *a) {
  if (a->started) {
    int64_t expected = a->hi_seq - a->base_seq + 1;
    if (expected > (int64_t)a->received)
      a->lost_before += (uint64_t)(expected - (int64_t)a->received);
    a->st.resets++;
  }
  for (int i = 0; i < SFU_AUDIO_IN_SLOTS; i++) a->slots[i].used = 0;
  a->nslots = 0;
  a->arena_top = 0;
  sfu_ain_fifo_clear(a);
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

/* ---- timing ------------------------------------------------------------------------- */

/* RFC 3550 §A.8 jitter and the transit ring behind the target delay. The target is the
 * ~98th percentile (2nd largest of 64) of the transit above its minimum over the last 64
 * packets (what a packet may be late by), plus one frame (a pull needs a whole one),
 * within the bounds: it rises at once and falls slowly (1/32 per packet), so one quiet
 * second does not shrink a buffer that the next burst of jitter needs. */
void sfu_ain_on_timing(sfu_audio_in_t *a, uint64_t now_us, int64_t ts) {
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

/* RFC 3550 §A.3 fraction lost over ~1 s intervals of expected packets. */
void sfu_ain_on_loss_interval(sfu_audio_in_t *a, uint64_t now_us) {
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

/* ---- start, re-anchor, level control ----------------------------------------------- */

/* A talkspurt after DTX, or the end of an underrun: the buffer is empty, so the play
 * position may move freely (only silence or concealment was played over it). Re-anchor
 * it to the target: this is where clock drift accumulated during a talkspurt is undone
 * for free. An underrun that ends with the next seq in line was DTX after all (the
 * sender's last frames were not quiet enough to tell) if its timestamp jumped: its
 * concealment is recounted as DTX, so it costs neither stats nor signal strength. One
 * whose timestamp follows on was only late: it plays next (the concealment was an
 * insert), and so do the packets of its burst. */
void sfu_ain_reanchor(sfu_audio_in_t *a, int64_t seq, int64_t ts, int dur) {
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

void sfu_ain_try_start(sfu_audio_in_t *a) {
  slot_t *s = sfu_ain_earliest(a);
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

/* Buffer-level control, once per pull: the minimum level over 1 s windows against the
 * target. Too deep by > 30 ms: drop a frame, a quiet one if one comes within 3 windows,
 * any after that; at most one per window (2 % speed-up, enough for any real clock drift:
 * 0.5 % is 1 frame per 4 s). Far too deep (> 80 ms: the burst after a stall, or ticks
 * skipped by a late loop): a frame every 100 ms. Too shallow by > 20 ms and quiet: insert
 * a silent frame; too shallow for 3 windows: insert a concealed one. Returns 1 for a drop,
 * -1 / -2 for a silent / concealed insert, 0 otherwise. */
int sfu_ain_level_control(sfu_audio_in_t *a, int64_t level) {
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
  if (level > MS(SFU_AUDIO_IN_MAX_DELAY_MS) + MS(60) && level > a->target + MS(60)) {
    /* A burst beyond the bound: come down a frame per pull. When the play position faces
     * a gap (the oldest packets of the burst were dropped for room: a stall longer than
     * the slot ring), that audio will never come, or too late to play: skip it at once
     * rather than play it out as concealment in real time. */
    slot_t *e = sfu_ain_earliest(a);
    if (e && e->ts - a->next_ts >= FRAME) {
      a->st.drift_drops += (uint64_t)((e->ts - a->next_ts) / FRAME);
      a->next_ts = e->ts;
      a->last_seq = e->seq - 1;
      a->stale = 1; /* no PLC over the skipped part: the decoder restarts, faded in */
      a->plc_run = 0;
      return 0;
    }
    return 1;
  }
  if (a->since_drop < INT32_MAX) a->since_drop++;
  if (a->last_min < 0) return 0;
  int64_t excess = a->last_min - a->target;
  /* 200 ms of excess latency drains in ~1 s rather than 10 */
  if (excess > MS(80) && a->since_drop >= 5) {
    a->win_dropped = 1;
    a->last_min -= FRAME;
    a->since_drop = 0;
    return 1;
  }
  if (a->win_dropped) return 0;
  if (excess > MS(30) && (sfu_ain_next_quiet(a) || excess > MS(80) || a->excess_windows >= 3)) {
    a->win_dropped = 1;
    a->last_min -= FRAME;
    a->since_drop = 0;
    return 1;
  }
  if (excess < -MS(20) && (sfu_ain_next_quiet(a) || a->deficit_windows >= 3)) {
    a->win_dropped = 1;
    a->last_min += FRAME;
    return sfu_ain_next_quiet(a) ? -1 : -2;
  }
  return 0;
}
