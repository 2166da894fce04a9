/* The meeting's data-message rate limit (include/sfu/data_bucket.h). */
#include "sfu/data_bucket.h"

#include <string.h>

void sfu_data_bucket_init(sfu_data_bucket_t *b, uint32_t tokens, uint64_t period_us) {
  memset(b, 0, sizeof *b);
  b->tokens = tokens < 1 ? 1 : tokens > SFU_DATA_RATE ? SFU_DATA_RATE : tokens;
  b->period_us = period_us;
}

/* Returns the tokens spent more than a period before now_us to the bucket. */
static void refill(sfu_data_bucket_t *b, uint64_t now_us) {
  while (b->n && b->spent[b->head] + b->period_us <= now_us) {
    b->head = (b->head + 1) % SFU_DATA_RATE;
    b->n--;
  }
}

int sfu_data_bucket_take(sfu_data_bucket_t *b, uint64_t now_us) {
  if (b->n) {
    /* A clock that stepped back is held at the newest spend, so the ring stays sorted. */
    uint64_t last = b->spent[(b->head + b->n - 1) % SFU_DATA_RATE];
    if (now_us < last) now_us = last;
  }
  refill(b, now_us);
  if (b->n >= b->tokens) return 0;
  b->spent[(b->head + b->n) % SFU_DATA_RATE] = now_us;
  b->n++;
  return 1;
}

uint32_t sfu_data_bucket_available(const sfu_data_bucket_t *b, uint64_t now_us) {
  uint32_t used = 0;
  for (uint32_t i = 0; i < b->n; i++)
    if (b->spent[(b->head + i) % SFU_DATA_RATE] + b->period_us > now_us) used++;
  return used >= b->tokens ? 0 : b->tokens - used;
}
