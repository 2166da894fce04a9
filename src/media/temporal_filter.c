/* Temporal layer filter (see sfu/temporal_filter.h). Cost: O(SFU_TEMPORAL_FRAMES) per
 * packet with a TID (8 compares), nothing for the others. */
#include "sfu/temporal_filter.h"

#include <string.h>

void sfu_temporal_init(sfu_temporal_filter_t *f) {
  memset(f, 0, sizeof *f);
  f->target = f->current = SFU_TEMPORAL_ALL;
}

void sfu_temporal_set_target(sfu_temporal_filter_t *f, uint8_t max_tid) {
  f->target = max_tid >= SFU_TEMPORAL_MAX ? SFU_TEMPORAL_ALL : max_tid;
}

/* The frame's remembered decision: its slot, or -1. */
static int find_frame(const sfu_temporal_filter_t *f, uint32_t src, uint32_t ts) {
  for (int i = 0; i < SFU_TEMPORAL_FRAMES; i++)
    if (f->frames[i].used && f->frames[i].src == src && f->frames[i].ts == ts) return i;
  return -1;
}

/* At a frame's first packet: move the current layer towards the target where that is
 * safe (sfu/temporal_filter.h "Switching"). */
static void maybe_switch(sfu_temporal_filter_t *f, const sfu_temporal_pkt_t *p) {
  if (f->current == f->target) return;
  if (p->keyframe) {
    f->current = f->target;
  } else if (f->target < f->current) {
    f->current = f->target; /* down: at any frame */
  } else if (p->sync && p->tid == f->current + 1) {
    /* Up one layer at its sync frame; `current` is a TID here (target > current). */
    f->current = p->tid >= f->target ? f->target : p->tid;
    if (f->target == SFU_TEMPORAL_ALL && f->current >= f->top) f->current = SFU_TEMPORAL_ALL;
  }
}

int sfu_temporal_pass(sfu_temporal_filter_t *f, const sfu_temporal_pkt_t *p) {
  if (!p->has_tid) return 1;
  uint8_t tid = p->tid & 3;
  if (!f->seen || tid > f->top) f->top = tid;
  f->seen = 1;
  int slot = find_frame(f, p->src, p->ts);
  if (slot >= 0) {
    if (!f->frames[slot].pass) f->dropped++;
    return f->frames[slot].pass;
  }
  int newest = !f->has_newest || p->src != f->newest_src || (int32_t)(p->ts - f->newest_ts) > 0;
  if (newest && !p->late) {
    f->has_newest = 1;
    f->newest_src = p->src;
    f->newest_ts = p->ts;
    if (p->frame_start) {
      maybe_switch(f, p);
      int waiting = f->current != SFU_TEMPORAL_ALL && f->target > f->current;
      f->up_wait = waiting ? (uint16_t)(f->up_wait < UINT16_MAX ? f->up_wait + 1 : f->up_wait) : 0;
    }
  }
  int pass = f->current == SFU_TEMPORAL_ALL || tid <= f->current;
  /* A late packet of a forgotten frame decides for nothing else. */
  if (!p->late) {
    f->frames[f->next].src = p->src;
    f->frames[f->next].ts = p->ts;
    f->frames[f->next].used = 1;
    f->frames[f->next].pass = (uint8_t)pass;
    f->next = (uint8_t)((f->next + 1) % SFU_TEMPORAL_FRAMES);
  }
  if (!pass) f->dropped++;
  return pass;
}

int sfu_temporal_want_keyframe(sfu_temporal_filter_t *f) {
  if (f->up_wait < SFU_TEMPORAL_UP_WAIT_FRAMES) return 0;
  f->up_wait = 0;
  return 1;
}

int sfu_temporal_delivered(const sfu_temporal_filter_t *f) {
  if (!f->seen) return -1;
  return f->current == SFU_TEMPORAL_ALL || f->current > f->top ? f->top : f->current;
}
