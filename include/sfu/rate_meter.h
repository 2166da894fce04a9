/* Bitrate and frame rate of a stream over a sliding window (layer selection, stats,
 * the meeting's bitrate limit).
 *
 * SFU_RATE_BUCKETS buckets of window/SFU_RATE_BUCKETS each; a rate is what the buckets
 * hold divided by the time they cover: from the start of the oldest bucket (or the first
 * packet, if later, so a stream that just started does not read low) to now, at least
 * one bucket long. A stream that stops reads 0 after one window.
 *
 * Plain value, no allocation, O(1) per packet; owner: whoever embeds it; one thread. */
#ifndef SFU_RATE_METER_H
#define SFU_RATE_METER_H

#include <stdint.h>

#define SFU_RATE_BUCKETS 10
#define SFU_RATE_DEFAULT_WINDOW_US 1000000ull

typedef struct {
  uint64_t bucket_us; /* window / SFU_RATE_BUCKETS */
  uint64_t cur;       /* now_us / bucket_us of the newest bucket */
  uint64_t first_us;  /* first sfu_rate_meter_add */
  uint8_t started;
  uint32_t bytes[SFU_RATE_BUCKETS]; /* by bucket index % SFU_RATE_BUCKETS */
  uint32_t frames[SFU_RATE_BUCKETS];
} sfu_rate_meter_t;

/* window_us 0: SFU_RATE_DEFAULT_WINDOW_US; at least SFU_RATE_BUCKETS us. */
void sfu_rate_meter_init(sfu_rate_meter_t *m, uint64_t window_us);
/* One packet of `bytes` at now_us; frame = 1 on one packet per frame (its first or its
 * last, consistently). Time going backwards is counted in the newest bucket. */
void sfu_rate_meter_add(sfu_rate_meter_t *m, uint64_t now_us, uint32_t bytes, int frame);
/* Bits per second / frames per second over the window ending at now_us (rounded;
 * saturates at UINT32_MAX). Not const: expired buckets are emptied. */
uint32_t sfu_rate_meter_bps(sfu_rate_meter_t *m, uint64_t now_us);
uint32_t sfu_rate_meter_fps(sfu_rate_meter_t *m, uint64_t now_us);

#endif
