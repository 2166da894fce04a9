/* Bitrate and frame rate of a stream over a sliding window (layer selection, stats,
 * the meeting's bitrate limit, the estimator's acknowledged rate).
 *
 * SFU_RATE_BUCKETS buckets of window/SFU_RATE_BUCKETS each; a rate is what the buckets
 * hold divided by the time they cover: from the start of the oldest bucket (or the first
 * packet, if later, so a stream that just started does not read low) to now, at least
 * one bucket long. A stream that stops reads 0 after one window.
 *
 * Cost: an add inside the newest bucket is a compare and two adds, inline (the
 * estimator adds every packet of every transport-cc feedback, the router every packet
 * it receives); a read is O(1): the buckets' sums are kept as they change instead of
 * summed per read (the router reads layer rates several times per forwarded packet's
 * worth of allocation work). Same values as summing the buckets.
 *
 * Plain value, no allocation, O(1) per packet; owner: whoever embeds it; one thread. */
#ifndef SFU_RATE_METER_H
#define SFU_RATE_METER_H

#include <stdint.h>

#define SFU_RATE_BUCKETS 10
#define SFU_RATE_DEFAULT_WINDOW_US 1000000ull

/* Field order: the inline add's fields fill the first 64 bytes (one cache line where
 * the embedder aligns the meter: the estimator adds every packet of every viewer's
 * feedback, on state that has left the cache since the viewer's last one), what reads
 * and bucket moves add follows. */
typedef struct {
  /* the add: sfu_rate_meter_add, sfu_rate_meter__put */
  uint8_t started;
  uint32_t cur_idx;    /* cur % SFU_RATE_BUCKETS */
  uint64_t cur_end_us; /* (cur + 1) * bucket_us: an add before it stays in the newest bucket */
  uint64_t sum_bytes;  /* of bytes[] */
  uint32_t bytes[SFU_RATE_BUCKETS]; /* by bucket index % SFU_RATE_BUCKETS */
  /* reads, the window's moves */
  uint64_t bucket_us;  /* window / SFU_RATE_BUCKETS */
  uint64_t cur;        /* now_us / bucket_us of the newest bucket */
  uint64_t first_us;   /* first sfu_rate_meter_add */
  uint64_t sum_frames; /* of frames[] */
  uint32_t frames[SFU_RATE_BUCKETS];
} sfu_rate_meter_t;

/* window_us 0: SFU_RATE_DEFAULT_WINDOW_US; at least SFU_RATE_BUCKETS us. */
void sfu_rate_meter_init(sfu_rate_meter_t *m, uint64_t window_us);

/* The first add, and an add past the newest bucket (moves the window): rate_meter.c. */
void sfu_rate_meter_add_slow(sfu_rate_meter_t *m, uint64_t now_us, uint32_t bytes, int frame);

/* One packet of `bytes` at now_us; frame = 1 on one packet per frame (its first or its
 * last, consistently). Time going backwards is counted in the newest bucket. A bucket
 * saturates at UINT32_MAX bytes. */
/* Into the newest bucket, its sums following (the add's common case, and the end of the
 * slow one). */
static inline void sfu_rate_meter__put(sfu_rate_meter_t *m, uint32_t bytes, int frame) {
  uint32_t *b = &m->bytes[m->cur_idx];
  uint32_t v = bytes > UINT32_MAX - *b ? UINT32_MAX : *b + bytes;
  m->sum_bytes += v - *b;
  *b = v;
  if (frame) m->frames[m->cur_idx]++, m->sum_frames++;
}

static inline void sfu_rate_meter_add(sfu_rate_meter_t *m, uint64_t now_us, uint32_t bytes,
                                      int frame) {
  if (__builtin_expect(m->started && now_us < m->cur_end_us, 1))
    sfu_rate_meter__put(m, bytes, frame);
  else
    sfu_rate_meter_add_slow(m, now_us, bytes, frame);
}

/* Bits per second / frames per second over the window ending at now_us (rounded;
 * saturates at UINT32_MAX). Not const: expired buckets are emptied. */
uint32_t sfu_rate_meter_bps(sfu_rate_meter_t *m, uint64_t now_us);
uint32_t sfu_rate_meter_fps(sfu_rate_meter_t *m, uint64_t now_us);

#endif
