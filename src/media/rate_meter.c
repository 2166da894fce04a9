/* Bitrate and frame rate over a sliding window (see sfu/rate_meter.h). */
#include "sfu/rate_meter.h"

#include <string.h>

void sfu_rate_meter_init(sfu_rate_meter_t *m, uint64_t window_us) {
  memset(m, 0, sizeof *m);
  if (window_us == 0) window_us = SFU_RATE_DEFAULT_WINDOW_US;
  m->bucket_us = window_us / SFU_RATE_BUCKETS;
  if (m->bucket_us == 0) m->bucket_us = 1;
}

/* Moves the newest bucket to now's, emptying the ones it passes (at most all). */
static void advance(sfu_rate_meter_t *m, uint64_t now_us) {
  uint64_t b = now_us / m->bucket_us;
  if (b <= m->cur) return;
  uint64_t steps = b - m->cur;
  if (steps >= SFU_RATE_BUCKETS) {
    memset(m->bytes, 0, sizeof m->bytes);
    memset(m->frames, 0, sizeof m->frames);
  } else {
    for (uint64_t i = m->cur + 1; i <= b; i++) {
      m->bytes[i % SFU_RATE_BUCKETS] = 0;
      m->frames[i % SFU_RATE_BUCKETS] = 0;
    }
  }
  m->cur = b;
}

void sfu_rate_meter_add(sfu_rate_meter_t *m, uint64_t now_us, uint32_t bytes, int frame) {
  if (!m->started) {
    m->started = 1;
    m->first_us = now_us;
    m->cur = now_us / m->bucket_us;
  }
  advance(m, now_us);
  size_t i = (size_t)(m->cur % SFU_RATE_BUCKETS);
  m->bytes[i] = bytes > UINT32_MAX - m->bytes[i] ? UINT32_MAX : m->bytes[i] + bytes;
  if (frame) m->frames[i]++;
}

/* sum over the buckets / the time they cover, scaled to per second. */
static uint32_t rate(sfu_rate_meter_t *m, uint64_t now_us, const uint32_t *v, uint64_t scale) {
  if (!m->started) return 0;
  advance(m, now_us);
  uint64_t start =
      m->cur >= SFU_RATE_BUCKETS - 1 ? (m->cur - (SFU_RATE_BUCKETS - 1)) * m->bucket_us : 0;
  if (m->first_us > start) start = m->first_us;
  uint64_t span = now_us > start ? now_us - start : 0;
  if (span < m->bucket_us) span = m->bucket_us;
  uint64_t sum = 0;
  for (size_t i = 0; i < SFU_RATE_BUCKETS; i++) sum += v[i];
  /* sum <= 10 x 2^32 and scale <= 8e6: no overflow in 64 bits. */
  uint64_t r = (sum * scale + span / 2) / span;
  return r > UINT32_MAX ? UINT32_MAX : (uint32_t)r;
}

uint32_t sfu_rate_meter_bps(sfu_rate_meter_t *m, uint64_t now_us) {
  return rate(m, now_us, m->bytes, 8ull * 1000000ull);
}

uint32_t sfu_rate_meter_fps(sfu_rate_meter_t *m, uint64_t now_us) {
  return rate(m, now_us, m->frames, 1000000ull);
}
