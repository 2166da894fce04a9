/* The meeting's data-message rate limit (issue 10: "at most 100 messages per second per
 * meeting, a token bucket with that rate and burst"). Pure, virtual clock.
 *
 * A bucket of `tokens` tokens where each spent token comes back exactly `period_us`
 * after it was spent (a ring of spend times), rather than the classic continuous refill.
 * Why: a continuously refilled bucket of rate 100/s and burst 100 admits up to 200
 * messages within one second (the burst plus a second of refill), which breaks "at most
 * 100 messages per second"; this one admits the same burst of 100 and the same long-run
 * 100/s, and never more than `tokens` in any window of `period_us`. So 150 messages
 * within one second give exactly 100 accepted and 50 refused, however they are spaced.
 * Cost: O(1) per message, 8 bytes per token (800 bytes per meeting). */
#ifndef SFU_DATA_BUCKET_H
#define SFU_DATA_BUCKET_H

#include <stdint.h>

#define SFU_DATA_RATE 100              /* messages per period per meeting */
#define SFU_DATA_RATE_PERIOD_US 1000000ull

typedef struct {
  uint64_t spent[SFU_DATA_RATE]; /* ring: when each of the last `tokens` tokens was spent */
  uint32_t head, n;              /* oldest entry, entries in use */
  uint32_t tokens;               /* <= SFU_DATA_RATE */
  uint64_t period_us;
} sfu_data_bucket_t;

/* tokens 1..SFU_DATA_RATE (clamped), the bucket starts full. */
void sfu_data_bucket_init(sfu_data_bucket_t *b, uint32_t tokens, uint64_t period_us);
/* 1: a token was taken (the message may go); 0: none left (Throttled). now_us must not go
 * backwards (a smaller value is taken as the last one). */
int sfu_data_bucket_take(sfu_data_bucket_t *b, uint64_t now_us);
/* Tokens available at now_us (for tests and stats). */
uint32_t sfu_data_bucket_available(const sfu_data_bucket_t *b, uint64_t now_us);

#endif
