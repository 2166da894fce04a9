/* Temporal layer filter (issue 8 "Allocation": frame rate is part of the ladder): per
 * viewer-stream, which frames of a temporally scalable source go out, given the highest
 * temporal layer (TID) the allocation gives the viewer.
 *
 * VP8 temporal scalability (RFC 7741 §4.2): every packet of a frame carries the frame's
 * TID; a frame of layer t references only frames of layers <= t, so dropping every frame
 * above t leaves a decodable stream at a lower frame rate (libwebrtc's 3-layer pattern
 * 0,2,1,2: T0 is a quarter of the frames, T0+T1 a half).
 *
 * Switching. Down (fewer layers) at any frame start: what went out before is whole and
 * what follows references nothing the viewer lacks. Up only where the new layer's frames
 * stop referencing the ones the viewer did not get: a keyframe (any target at once), or a
 * frame of layer current+1 with the layer sync bit Y ("this frame depends only on the
 * base layer": RFC 7741 §4.2), one layer per sync frame (a T2 sync frame does not make
 * the T1 frames after it decodable). An encoder that never sets Y moves up at its next
 * keyframe only: after SFU_TEMPORAL_UP_WAIT_FRAMES frames without a way up,
 * sfu_temporal_want_keyframe says so (the router asks the publisher for one).
 *
 * Whole frames. The decision is made once per frame, at its first packet seen (its
 * start, or a packet that overtook the start), and remembered by (source, RTP timestamp)
 * for its other packets, so that a switch never cuts a frame in two. Only the newest
 * frame (by RTP timestamp) switches: retransmissions and reordered frames never do (an
 * old sync frame says nothing of the frames after it that were already dropped); they
 * follow their frame's decision, or the current layer when the frame is forgotten.
 *
 * Packets without a TID (no temporal layers, H.264, VP9 for now) always pass.
 *
 * Plain value, no allocation, no clock; embedded in the router's view; one thread. */
#ifndef SFU_TEMPORAL_FILTER_H
#define SFU_TEMPORAL_FILTER_H

#include <stdint.h>

#define SFU_TEMPORAL_ALL 0xFF /* target: every temporal layer (no filtering) */
#define SFU_TEMPORAL_MAX 4    /* VP8's TID is 2 bits: layers 0..3 */
#define SFU_TEMPORAL_FRAMES 8 /* decisions remembered (frames in flight at once) */
/* Frames an up-switch waits for a sync frame before a keyframe is worth asking for: 3 s
 * at 30 fps (libwebrtc marks sync frames every few frames when it marks them at all). */
#define SFU_TEMPORAL_UP_WAIT_FRAMES 90

typedef struct {
  uint8_t target;  /* max TID wanted (SFU_TEMPORAL_ALL: all) */
  uint8_t current; /* max TID forwarded now (SFU_TEMPORAL_ALL: all) */
  uint8_t seen;    /* a packet with a TID passed through: the stream is temporally layered */
  uint8_t top;     /* highest TID seen (valid if seen) */
  uint8_t next;    /* ring slot the next decision takes */
  uint8_t has_newest;
  uint32_t newest_src, newest_ts; /* the newest frame seen: only it may switch */
  struct {
    uint32_t src, ts;
    uint8_t used, pass;
  } frames[SFU_TEMPORAL_FRAMES];
  uint16_t up_wait; /* frames seen while an up-switch waits */
  uint64_t dropped; /* packets filtered out (figures) */
} sfu_temporal_filter_t;

/* One packet's temporal facts (the router read them from its payload descriptor). */
typedef struct {
  uint32_t src; /* source SSRC */
  uint32_t ts;  /* RTP timestamp: the frame */
  uint8_t has_tid;
  uint8_t tid;
  uint8_t sync;        /* Y: layer sync */
  uint8_t keyframe;    /* first packet of a keyframe */
  uint8_t frame_start; /* first packet of a frame */
  uint8_t late;        /* a retransmission: never a switch point */
} sfu_temporal_pkt_t;

void sfu_temporal_init(sfu_temporal_filter_t *f);

/* The allocation's target (SFU_TEMPORAL_ALL or a max TID). Takes effect at the next
 * suitable frame (see "Switching"). */
void sfu_temporal_set_target(sfu_temporal_filter_t *f, uint8_t max_tid);

/* 1: forward the packet; 0: it belongs to a frame the viewer does not get (the caller
 * takes it out of the viewer's numbering: sfu_rewrite_drop). */
int sfu_temporal_pass(sfu_temporal_filter_t *f, const sfu_temporal_pkt_t *p);

/* An up-switch has waited SFU_TEMPORAL_UP_WAIT_FRAMES frames for a sync frame: 1 once
 * (the count starts again), so that the caller asks for a keyframe; else 0. */
int sfu_temporal_want_keyframe(sfu_temporal_filter_t *f);

/* What the viewer gets: -1 when no packet had a TID, else the highest TID it is sent
 * (the highest seen when it gets them all). */
int sfu_temporal_delivered(const sfu_temporal_filter_t *f);

#endif
