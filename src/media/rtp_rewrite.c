/* The numbering of one viewer-stream (see sfu/rtp_rewrite.h).
 *
 * Sequence numbers. Within one source the source seq is unwrapped to 64 bits ("ext") and
 * every source packet newer than the newest seen takes the next outgoing slot; the source
 * packets it jumped over (lost or reordered) get the slots right before it, reserved, so
 * that they land where they would have been when they come late (reordering, RTX). A
 * window of the last SFU_REWRITE_WINDOW source packets keeps, per packet, its state and
 * slot: this is what makes reordering around skipped packets safe (a slot is given out
 * once, never twice). A skipped packet takes no slot; if its slot was already reserved,
 * the slot is given back when nothing after it was used, else it is a hole that the
 * router fills with padding. Cost: O(1) per packet (O(gap) when packets were lost), a
 * 256-entry scan per layer switch.
 *
 * Timestamps, picture id, TL0PICIDX. Within one source, a fixed offset: out = src + k
 * (mod 2^32 / 2^15 / 2^8), so that frames lost upstream leave the same gap the source had
 * (RFC 7741 §4.2: a receiver sees a picture id gap as frames it did not get, which is the
 * truth); frames the router drops on purpose (temporal layers, sfu_rewrite_drop) are taken
 * out of the picture id space instead: the offset shrinks by one after each. At a switch the new
 * source's first packet continues at last + 1 (picture id, TL0PICIDX) and at a timestamp after the
 * last sent: a receiver's jitter buffer orders frames by timestamp, and one going backwards is a
 * frame from the past.
 */
#include "sfu/rtp_rewrite.h"

#include <string.h>

#include "sfu/err.h"

#define RING_MASK (SFU_REWRITE_RING - 1)
#define WIN_MASK (SFU_REWRITE_WINDOW - 1)
#define PIC_MASK 0x7FFFu
#define TL0_MASK 0xFFu
/* A frame spacing above this (1 s at 90 kHz) is a pause, not a frame rate. */
#define MAX_FRAME_TICKS 90000u

_Static_assert((SFU_REWRITE_RING & RING_MASK) == 0, "ring size is a power of 2");
_Static_assert((SFU_REWRITE_WINDOW & WIN_MASK) == 0, "window size is a power of 2");
/* A late packet's slot is at most WINDOW behind the newest: its ring entry was not reused. */
_Static_assert(SFU_REWRITE_WINDOW < SFU_REWRITE_RING, "window fits the ring");

/* win_state values: what happened to a source packet of the window. */
enum {
  W_EMPTY = 0, /* before the switch point, or unknown */
  W_RESERVED,  /* has a slot, not received yet (lost or late) */
  W_SENT,      /* mapped into its slot */
  W_SKIPPED,   /* takes no slot */
  W_HOLE,      /* skipped after its slot was given out: padding fills the slot */
};

enum { SENT_NONE = 0, SENT_VALID = 1, SENT_RESERVED = 2 }; /* sfu_rw_sent_t.valid */

static inline int64_t seq_unwrap(int64_t max_ext, uint16_t seq) {
  return max_ext + (int16_t)(uint16_t)(seq - (uint16_t)max_ext);
}

static inline int newer_mod(uint32_t a, uint32_t b, uint32_t mask) {
  uint32_t d = (a - b) & mask;
  return d != 0 && d <= (mask >> 1);
}

/* ---- picture id / TL0PICIDX counters -------------------------------------------------- */

/* The source value `raw` (bits wide) unwrapped next to the newest seen. */
static int32_t ctr_unwrap(const sfu_rw_counter_t *c, uint16_t raw, unsigned bits) {
  uint32_t mask = (1u << bits) - 1;
  uint32_t d = ((uint32_t)raw - (uint32_t)c->max_ext) & mask;
  int32_t sd = d > (mask >> 1) ? (int32_t)d - (int32_t)(mask + 1) : (int32_t)d;
  return c->max_ext + sd;
}

/* A new source: its first value (if the switch packet has one) maps to last sent + 1. */
static void ctr_switch(sfu_rw_counter_t *c, int has, uint16_t raw, uint16_t start, uint32_t omask) {
  c->base_out = (uint16_t)((c->sent_any ? c->out_max + 1u : start) & omask);
  c->set = (uint8_t)(has != 0);
  c->max_ext = c->base_ext = raw;
}

/* How many dropped values are above ext: 0 and *after, or -1 when ext is older than the
 * drops the ring remembers (the ones it forgot may be above ext or not). O(drops newer
 * than ext): 0 for a packet in order. */
static int drops_after(const sfu_rw_drops_t *d, int32_t ext, uint32_t *after) {
  uint32_t n = 0;
  for (unsigned k = 0; k < d->n; k++, n++)
    if (d->ext[(d->head + SFU_REWRITE_DROPS - 1u - k) % SFU_REWRITE_DROPS] <= ext) break;
  if (n == d->n && d->total > d->n) return -1;
  *after = n;
  return 0;
}

/* d: the dropped values (picture ids), NULL for a counter nothing is dropped from. */
static uint16_t ctr_map(sfu_rw_counter_t *c, const sfu_rw_drops_t *d, int has, uint16_t raw,
                        unsigned bits, uint32_t omask) {
  if (!has) return c->sent_any ? c->out_max : c->base_out;
  if (!c->set) { /* the source's first packet with the field (the switch packet had none) */
    c->set = 1;
    c->max_ext = c->base_ext = raw & ((1u << bits) - 1);
  }
  int32_t ext = ctr_unwrap(c, raw, bits);
  if (ext > c->max_ext) c->max_ext = ext;
  uint32_t below = 0, after = 0;
  if (d && d->total && drops_after(d, ext, &after) == 0) below = d->total - after;
  uint16_t out = (uint16_t)((c->base_out + (uint32_t)(ext - c->base_ext) - below) & omask);
  if (!c->sent_any || newer_mod(out, c->out_max, omask)) c->out_max = out;
  c->sent_any = 1;
  return out;
}

/* The source value raw is dropped: 1 if it was taken out of the output space (it is newer
 * than anything seen), 0 if it stays a gap or was dropped already. */
static int ctr_drop(sfu_rw_counter_t *c, sfu_rw_drops_t *d, uint16_t raw, unsigned bits) {
  int32_t ext;
  if (!c->set) { /* the source's first value: the next one takes base_out */
    c->set = 1;
    ext = c->max_ext = c->base_ext = raw & ((1u << bits) - 1);
  } else {
    ext = ctr_unwrap(c, raw, bits);
    if (ext <= c->max_ext) return 0;
    c->max_ext = ext;
  }
  d->ext[d->head] = ext;
  d->head = (uint8_t)((d->head + 1u) % SFU_REWRITE_DROPS);
  if (d->n < SFU_REWRITE_DROPS) d->n++;
  d->total++;
  return 1;
}

/* ---- sequence slots --------------------------------------------------------------------- */

static void push_hole(sfu_rewrite_t *rw, uint16_t out_seq) {
  rw->holes++;
  if (rw->n_holes < SFU_REWRITE_HOLES)
    rw->hole_seq[rw->n_holes++] = out_seq;
  else
    rw->holes_lost++; /* stays a gap: the viewer NACKs it in vain until its next keyframe */
}

static void ring_forget(sfu_rewrite_t *rw, uint16_t out_seq) {
  sfu_rw_sent_t *e = &rw->ring[out_seq & RING_MASK];
  if (e->out_seq == out_seq) e->valid = SENT_NONE;
}

/* `ext` is newer than the newest: reserve slots for the source packets jumped over. Only
 * the last WINDOW of them are remembered; all keep their slots (a gap the viewer sees is
 * a loss it must see, or it would assemble a frame with a packet missing). */
static void seq_advance(sfu_rewrite_t *rw, int64_t ext) {
  int64_t first_gap = rw->max_ext + 1;
  int64_t from = ext - first_gap >= SFU_REWRITE_WINDOW ? ext - (SFU_REWRITE_WINDOW - 1) : first_gap;
  for (int64_t s = from; s < ext; s++) {
    size_t i = (size_t)s & WIN_MASK;
    uint16_t o = (uint16_t)(rw->next_out + (uint64_t)(s - first_gap));
    rw->win_state[i] = W_RESERVED;
    rw->win_out[i] = o;
    rw->ring[o & RING_MASK] = (sfu_rw_sent_t){
        .src_ssrc = rw->src, .src_seq = (uint16_t)s, .out_seq = o, .valid = SENT_RESERVED};
  }
  rw->next_out = (uint16_t)(rw->next_out + (uint64_t)(ext - first_gap));
  rw->max_ext = ext;
}

/* The current source ends: its reserved slots will never be filled. Those after the last
 * slot used are given back (the viewer never saw anything after them); those before it
 * become holes. */
static void seq_close(sfu_rewrite_t *rw) {
  const uint16_t none = 0xFFFF;
  uint16_t used_min_dist = none, reserved_max_dist = 0;
  int any_reserved = 0;
  /* Distances back from the newest slot: the window spans < 2^16 slots, so they order. */
  for (size_t i = 0; i < SFU_REWRITE_WINDOW; i++) {
    uint8_t st = rw->win_state[i];
    uint16_t dist = (uint16_t)(rw->next_out - 1u - rw->win_out[i]);
    if ((st == W_SENT || st == W_HOLE) && dist < used_min_dist) used_min_dist = dist;
    if (st == W_RESERVED) {
      any_reserved = 1;
      if (dist > reserved_max_dist) reserved_max_dist = dist;
    }
  }
  if (any_reserved) {
    for (size_t i = 0; i < SFU_REWRITE_WINDOW; i++) {
      if (rw->win_state[i] != W_RESERVED) continue;
      uint16_t dist = (uint16_t)(rw->next_out - 1u - rw->win_out[i]);
      ring_forget(rw, rw->win_out[i]);
      if (used_min_dist != none && dist > used_min_dist) push_hole(rw, rw->win_out[i]);
    }
    if (used_min_dist != none)
      rw->next_out = (uint16_t)(rw->next_out - used_min_dist);
    else
      rw->next_out = (uint16_t)(rw->next_out - 1u - reserved_max_dist);
  }
  memset(rw->win_state, W_EMPTY, sizeof rw->win_state);
}

/* ---- API ------------------------------------------------------------------------------- */

void sfu_rewrite_init(sfu_rewrite_t *rw, uint32_t out_ssrc, uint16_t first_seq, uint32_t first_ts,
                      uint16_t first_pic_id) {
  memset(rw, 0, sizeof *rw);
  rw->out_ssrc = out_ssrc;
  rw->next_out = first_seq;
  rw->first_ts = first_ts;
  rw->first_pic_id = first_pic_id & PIC_MASK;
  rw->frame_ticks = SFU_REWRITE_DEFAULT_FRAME_TICKS;
}

void sfu_rewrite_switch(sfu_rewrite_t *rw, const sfu_rw_in_t *in, int has_ts_out, uint32_t ts_out) {
  if (rw->started) seq_close(rw);
  rw->started = 1;
  rw->src = in->src;
  /* A fresh sequence space per source: only the window's low bits matter. */
  rw->base_ext = (int64_t)in->seq + 0x10000;
  rw->max_ext = rw->base_ext - 1;

  uint32_t ts0;
  if (!rw->sent_any) {
    ts0 = has_ts_out ? ts_out : rw->first_ts;
  } else {
    /* Without the senders' NTP<->RTP mapping, one frame after the last: a guess that
     * keeps playout smooth; the router passes ts_out when the layers' SRs tell better. */
    ts0 = has_ts_out ? ts_out : rw->last_out_ts + rw->frame_ticks;
    if ((int32_t)(ts0 - rw->last_out_ts) <= 0) ts0 = rw->last_out_ts + 1;
  }
  rw->ts_offset = ts0 - in->ts;
  rw->src_frame_ts = in->ts;
  rw->has_src_frame_ts = 1;

  unsigned pic_bits = in->pic_id_bits == 7 ? 7 : 15;
  ctr_switch(&rw->pic, in->has_pic_id, (uint16_t)(in->pic_id & ((1u << pic_bits) - 1)),
             rw->first_pic_id, PIC_MASK);
  memset(&rw->pic_drops, 0, sizeof rw->pic_drops);
  ctr_switch(&rw->tl0, in->has_tl0, in->tl0, 0, TL0_MASK);
}

int sfu_rewrite_map(sfu_rewrite_t *rw, const sfu_rw_in_t *in, sfu_rw_out_t *out) {
  if (!rw->started || in->src != rw->src) goto stale;
  int64_t ext = seq_unwrap(rw->max_ext, in->seq);
  if (ext < rw->base_ext) goto stale;
  unsigned pic_bits = in->pic_id_bits == 7 ? 7 : 15;
  if (in->has_pic_id && rw->pic.set && rw->pic_drops.total) {
    /* Older than the picture ids dropped that are remembered: its value is unknown. */
    uint32_t after;
    if (drops_after(&rw->pic_drops, ctr_unwrap(&rw->pic, in->pic_id, pic_bits), &after) != 0)
      goto stale;
  }
  size_t i = (size_t)ext & WIN_MASK;
  uint16_t o;
  int fresh = 1;
  if (ext > rw->max_ext) {
    seq_advance(rw, ext);
    o = rw->next_out++;
  } else {
    if (rw->max_ext - ext >= SFU_REWRITE_WINDOW) goto stale;
    if (rw->win_state[i] == W_RESERVED) {
      o = rw->win_out[i];
    } else if (rw->win_state[i] == W_SENT) {
      o = rw->win_out[i]; /* a duplicate or a late RTX copy: same values again */
      fresh = 0;
    } else {
      goto stale; /* skipped (its slot is gone or padded) or before the switch */
    }
  }
  rw->win_state[i] = W_SENT;
  rw->win_out[i] = o;

  out->seq = o;
  out->ts = in->ts + rw->ts_offset;
  out->pic_id = ctr_map(&rw->pic, &rw->pic_drops, in->has_pic_id, in->pic_id, pic_bits, PIC_MASK);
  out->tl0 = (uint8_t)ctr_map(&rw->tl0, NULL, in->has_tl0, in->tl0, 8, TL0_MASK);
  if (!rw->sent_any || (int32_t)(out->ts - rw->last_out_ts) > 0) rw->last_out_ts = out->ts;
  rw->sent_any = 1;

  if (in->frame_start) {
    int32_t d = (int32_t)(in->ts - rw->src_frame_ts);
    if (!rw->has_src_frame_ts || d > 0) {
      if (rw->has_src_frame_ts && (uint32_t)d <= MAX_FRAME_TICKS) rw->frame_ticks = (uint32_t)d;
      rw->src_frame_ts = in->ts;
      rw->has_src_frame_ts = 1;
    }
  }

  if (fresh) {
    rw->ring[o & RING_MASK] = (sfu_rw_sent_t){.src_ssrc = in->src,
                                              .src_seq = in->seq,
                                              .out_seq = o,
                                              .out_ts = out->ts,
                                              .pic_id = out->pic_id,
                                              .tl0 = out->tl0,
                                              .valid = SENT_VALID};
    rw->mapped++;
  }
  return 0;
stale:
  rw->stale++;
  return SFU_ESTALE;
}

void sfu_rewrite_skip(sfu_rewrite_t *rw, uint32_t src, uint16_t seq) {
  if (!rw->started || src != rw->src) return;
  int64_t ext = seq_unwrap(rw->max_ext, seq);
  if (ext < rw->base_ext) return;
  size_t i = (size_t)ext & WIN_MASK;
  if (ext > rw->max_ext) { /* in order: no slot, nothing else to do */
    seq_advance(rw, ext);
    rw->win_state[i] = W_SKIPPED;
    rw->skipped++;
    return;
  }
  if (rw->max_ext - ext >= SFU_REWRITE_WINDOW || rw->win_state[i] != W_RESERVED) return;
  /* Reordered: its slot was reserved when a later packet arrived. */
  uint16_t o = rw->win_out[i];
  ring_forget(rw, o);
  rw->skipped++;
  if (o == (uint16_t)(rw->next_out - 1u)) { /* nothing after it used a slot: give it back */
    rw->next_out = o;
    rw->win_state[i] = W_SKIPPED;
  } else {
    rw->win_state[i] = W_HOLE;
    push_hole(rw, o);
  }
}

void sfu_rewrite_drop(sfu_rewrite_t *rw, const sfu_rw_in_t *in) {
  if (!rw->started || in->src != rw->src) return;
  if (seq_unwrap(rw->max_ext, in->seq) < rw->base_ext) return; /* before the switch */
  sfu_rewrite_skip(rw, in->src, in->seq);
  unsigned pic_bits = in->pic_id_bits == 7 ? 7 : 15;
  if (in->has_pic_id && ctr_drop(&rw->pic, &rw->pic_drops, in->pic_id, pic_bits))
    rw->dropped_pics++;
}

int sfu_rewrite_take_hole(sfu_rewrite_t *rw, sfu_rw_out_t *out) {
  if (rw->n_holes == 0) return 0;
  *out = (sfu_rw_out_t){.seq = rw->hole_seq[0],
                        .ts = rw->last_out_ts,
                        .pic_id = rw->pic.out_max,
                        .tl0 = (uint8_t)rw->tl0.out_max};
  rw->n_holes--;
  memmove(rw->hole_seq, rw->hole_seq + 1, rw->n_holes * sizeof rw->hole_seq[0]);
  return 1;
}

sfu_rw_sent_t *sfu_rewrite_lookup(sfu_rewrite_t *rw, uint16_t out_seq) {
  /* Older than the ring (its entry may survive when the slots 512 later were gaps), or
   * not sent yet. */
  if ((uint16_t)(rw->next_out - 1u - out_seq) >= SFU_REWRITE_RING) return NULL;
  sfu_rw_sent_t *e = &rw->ring[out_seq & RING_MASK];
  return e->valid == SENT_VALID && e->out_seq == out_seq ? e : NULL;
}

int sfu_rewrite_pending(const sfu_rewrite_t *rw, uint16_t out_seq, uint16_t *src_seq) {
  if (!rw->started || (uint16_t)(rw->next_out - 1u - out_seq) >= SFU_REWRITE_WINDOW) return 0;
  const sfu_rw_sent_t *e = &rw->ring[out_seq & RING_MASK];
  if (e->valid != SENT_RESERVED || e->out_seq != out_seq || e->src_ssrc != rw->src) return 0;
  int64_t ext = seq_unwrap(rw->max_ext, e->src_seq);
  if (ext < rw->base_ext || rw->max_ext - ext >= SFU_REWRITE_WINDOW) return 0;
  size_t i = (size_t)ext & WIN_MASK;
  if (rw->win_state[i] != W_RESERVED || rw->win_out[i] != out_seq) return 0;
  *src_seq = e->src_seq;
  return 1;
}
