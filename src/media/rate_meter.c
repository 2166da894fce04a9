/* Bitrate and frame rate over a sliding window (see sfu/rate_meter.h). The buckets'
 * sums (sum_bytes, sum_frames) follow every change of a bucket, so that a read does not
 * add the buckets up; cur_end_us lets the inline add and a read skip the division that
 * finds now's bucket while now is still in the newest one. */
#include "sfu/rate_meter.h"

#include <string.h>

void sfu_rate_meter_init(sfu_rate_meter_t *m, uint64_t window_us) {
  memset(m, 0, sizeof *m);
  if (window_us == 0) window_us = SFU_RATE_DEFAULT_WINDOW_US;
  m->bucket_us = window_us / SFU_RATE_BUCKETS;
  if (m->bucket_us == 0) m->bucket_us = 1;
}

/* cur set: the end of its bucket (UINT64_MAX if that does not fit: every later time is
 * then in the newest bucket, as now_us / bucket_us cannot exceed cur either). */
static void set_cur(sfu_rate_meter_t *m, uint64_t b) {
  m->cur = b;
  m->cur_idx = (uint32_t)(b % SFU_RATE_BUCKETS);
  m->cur_end_us = b < UINT64_MAX / m->bucket_us ? (b + 1) * m->bucket_us : UINT64_MAX;
}

/* Moves the newest bucket to now's, emptying the ones it passes (at most all). */
static void advance(sfu_rate_meter_t *m, uint64_t now_us) {
  if (now_us < m->cur_end_us) return; /* still in the newest bucket */
  uint64_t b = now_us / m->bucket_us;
  if (b <= m->cur) return;
  uint64_t steps = b - m->cur;
  if (steps >= SFU_RATE_BUCKETS) {
    memset(m->bytes, 0, sizeof m->bytes);
    memset(m->frames, 0, sizeof m->frames);
    m->sum_bytes = 0;
    m->sum_frames = 0;
  } else {
    for (uint64_t i = m->cur + 1; i <= b; i++) {
      size_t k = (size_t)(i % SFU_RATE_BUCKETS);
      m->sum_bytes -= m->bytes[k];
      m->sum_frames -= m->frames[k];
      m->bytes[k] = 0;
      m->frames[k] = 0;
    }
  }
  set_cur(m, b);
}

void sfu_rate_meter_add_slow(sfu_rate_meter_t *m, uint64_t now_us, uint32_t bytes, int frame) {
  if (!m->started) {
    m->started = 1;
    m->first_us = now_us;
    set_cur(m, now_us / m->bucket_us);
  }
  advance(m, now_us);
  sfu_rate_meter__put(m, bytes, frame);
}

/* sum over the buckets / the time they cover, scaled to per second. */
static uint32_t rate(const sfu_rate_meter_t *m, uint64_t now_us, uint64_t sum, uint64_t scale) {
  uint64_t start =
      m->cur >= SFU_RATE_BUCKETS - 1 ? (m->cur - (SFU_RATE_BUCKETS - 1)) * m->bucket_us : 0;
  if (m->first_us > start) start = m->first_us;
  uint64_t span = now_us > start ? now_us - start : 0;
  if (span < m->bucket_us) span = m->bucket_us;
  /* sum <= 10 x 2^32 and scale <= 8e6: no overflow in 64 bits. */
  uint64_t r = (sum * scale + span / 2) / span;
  return r > UINT32_MAX ? UINT32_MAX : (uint32_t)r;
}

uint32_t sfu_rate_meter_bps(sfu_rate_meter_t *m, uint64_t now_us) {
  if (!m->started) return 0;
  advance(m, now_us);
  return rate(m, now_us, m->sum_bytes, 8ull * 1000000ull);
}

uint32_t sfu_rate_meter_fps(sfu_rate_meter_t *m, uint64_t now_us) {
  if (!m->started) return 0;
  advance(m, now_us);
  return rate(m, now_us, m->sum_frames, 1000000ull);
}
