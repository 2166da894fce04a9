/* Per-transport pacer (src/media/pacer.c) on a virtual clock: the rate and burst bound,
 * priorities, the queue bound by bytes and age, rate changes, keyframe bursts, and no
 * allocation per packet. The owner's loop is simulated: pop everything due, jump to
 * sfu_pacer_next_deadline, repeat. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sfu/err.h"
#include "sfu/pacer.h"
#include "test.h"

#define MS 1000ull
#define SEC 1000000ull
#define T0 (5 * SEC) /* the clock does not start at 0 */

/* Allocation counter (as bench/alloc_count.c); not under a sanitizer, which brings its
 * own allocator. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NO_ALLOC_COUNT 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define NO_ALLOC_COUNT 1
#endif
#ifndef NO_ALLOC_COUNT
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
static volatile int counting;
static unsigned long allocs;
void *malloc(size_t n) {
  if (counting) allocs++;
  return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
  if (counting) allocs++;
  return __libc_calloc(a, b);
}
void *realloc(void *q, size_t n) {
  if (counting) allocs++;
  return __libc_realloc(q, n);
}
void free(void *q) {
  if (counting && q) allocs++;
  __libc_free(q);
}
#endif

static uint8_t pkt[SFU_PACER_SLOT];

static int push(sfu_pacer_t *p, uint64_t now, int prio, size_t len, uint32_t tag) {
  memset(pkt, (int)(tag & 0xff), len);
  return sfu_pacer_push(p, now, prio, pkt, len, tag);
}

/* What the owner saw: per packet its tag and send time. */
typedef struct {
  size_t n;
  uint32_t tag[256];
  int prio[256];
  uint64_t at[256];
  size_t len[256];
  int over_budget; /* a paced packet left more than a burst ahead of the rate */
} log_t;

/* The owner's loop from `from` to `until`: pops everything due at each deadline. Checks
 * the bound at each paced pop: the paced bytes sent before it <= rate x elapsed + burst
 * (rate constant since `from`, the bucket full at `from`). */
static uint64_t drive(sfu_pacer_t *p, uint64_t from, uint64_t until, uint64_t rate_bps,
                      log_t *lg) {
  uint64_t now = from, paced_bytes = 0;
  uint8_t out[SFU_PACER_SLOT];
  for (;;) {
    uint32_t tag;
    int prio;
    size_t len;
    while ((len = sfu_pacer_pop(p, now, out, sizeof out, &tag, &prio)) > 0) {
      if (prio == SFU_PACER_PRIO_RTX || prio == SFU_PACER_PRIO_VIDEO) {
        /* bits sent before this one vs the bits earned: all in 1e-6 bit units */
        if (rate_bps && paced_bytes * 8 * SEC > rate_bps * (now - from) + rate_bps * SFU_PACER_DEFAULT_BURST_US)
          lg->over_budget = 1;
        paced_bytes += len;
      }
      if (out[0] != (uint8_t)(tag & 0xff) || out[len - 1] != (uint8_t)(tag & 0xff)) lg->over_budget = 2;
      if (lg->n < 256) {
        lg->tag[lg->n] = tag;
        lg->prio[lg->n] = prio;
        lg->at[lg->n] = now;
        lg->len[lg->n] = len;
        lg->n++;
      }
    }
    uint64_t next = sfu_pacer_next_deadline(p, now);
    if (next == UINT64_MAX || next > until) return now;
    if (next <= now) return now; /* due but nothing popped: a bug, stop */
    /* Nothing leaves before the deadline. */
    if (next > now + 1 && sfu_pacer_pop(p, next - 1, out, sizeof out, &tag, &prio) != 0)
      lg->over_budget = 3;
    now = next;
  }
}

static size_t sent_by(const log_t *lg, uint64_t t) {
  size_t k = 0;
  for (size_t i = 0; i < lg->n; i++)
    if (lg->at[i] <= t) k++;
  return k;
}

/* 1 Mbps, 100 x 1,200 bytes at once = 960,000 bits: they leave over ~0.96 s (minus the
 * first burst), in order, never more than a burst ahead of the rate. */
TEST(paces_at_rate_with_burst_bound) {
  sfu_pacer_t *p = sfu_pacer_new(0, 0);
  REQUIRE(p);
  sfu_pacer_set_rate(p, T0, 1000000);
  for (uint32_t i = 0; i < 100; i++) CHECK_EQ_INT(push(p, T0, SFU_PACER_PRIO_VIDEO, 1200, i), 0);
  log_t lg = {0};
  drive(p, T0, T0 + 10 * SEC, 1000000, &lg);
  REQUIRE(lg.n == 100);
  CHECK_EQ_INT(lg.over_budget, 0);
  for (uint32_t i = 0; i < 100; i++) CHECK_EQ_INT(lg.tag[i], i);
  uint64_t span = lg.at[99] - T0;
  CHECK(span >= 930 * MS && span <= 960 * MS);
  /* Evenly: half of them by half time (±2). */
  size_t half = sent_by(&lg, T0 + 480 * MS);
  CHECK(half >= 48 && half <= 52);
  /* Never two paced 1,200-byte packets within one packet time at 1 Mbps (9.6 ms): the
   * 5 ms burst is smaller than a packet. */
  for (size_t i = 2; i < lg.n; i++) CHECK(lg.at[i] - lg.at[i - 1] >= 9600 - 1);
  sfu_pacer_stats_t st;
  sfu_pacer_stats(p, &st);
  CHECK_EQ_INT(st.sent_packets, 100);
  CHECK_EQ_INT(st.sent_bytes, 120000);
  CHECK_EQ_INT(st.queued_packets, 0);
  CHECK_EQ_INT(st.queued_bytes, 0);
  CHECK_EQ_INT(st.dropped_packets, 0);
  CHECK_EQ_INT(st.max_delay_us, span);
  CHECK_EQ_INT(sfu_pacer_next_deadline(p, T0 + 10 * SEC), UINT64_MAX);
  sfu_pacer_free(p);
}

/* An idle pacer sends the next packet at once (the bucket refilled), but only one
 * burst's worth: 30 small packets after a long idle time do not all leave together. */
TEST(idle_refills_one_burst_only) {
  sfu_pacer_t *p = sfu_pacer_new(0, 0);
  REQUIRE(p);
  sfu_pacer_set_rate(p, T0, 1000000); /* burst: 625 bytes */
  uint64_t t = T0 + 60 * SEC;
  for (uint32_t i = 0; i < 30; i++) push(p, t, SFU_PACER_PRIO_VIDEO, 100, i);
  log_t lg = {0};
  drive(p, t, t + 10 * SEC, 1000000, &lg);
  CHECK_EQ_INT(lg.n, 30);
  CHECK_EQ_INT(lg.over_budget, 0);
  /* 625 bytes of bucket: 7 packets (the 7th takes it below 0) leave at t. */
  CHECK_EQ_INT(sent_by(&lg, t), 7);
  sfu_pacer_free(p);
}

/* A keyframe of 30 x 1,200 bytes at 2 Mbps (288 kbit) spreads over ~144 ms less the first
 * burst, instead of leaving in one go. */
TEST(keyframe_burst_spreads) {
  sfu_pacer_t *p = sfu_pacer_new(0, 0);
  REQUIRE(p);
  sfu_pacer_set_rate(p, T0, 2000000);
  for (uint32_t i = 0; i < 30; i++) push(p, T0, SFU_PACER_PRIO_VIDEO, 1200, i);
  log_t lg = {0};
  drive(p, T0, T0 + SEC, 2000000, &lg);
  REQUIRE(lg.n == 30);
  CHECK_EQ_INT(lg.over_budget, 0);
  uint64_t span = lg.at[29] - T0;
  CHECK(span >= 125 * MS && span <= 144 * MS);
  CHECK(sent_by(&lg, T0 + MS) <= 2); /* 1,250 bytes of burst */
  CHECK(sent_by(&lg, T0 + 72 * MS) >= 14 && sent_by(&lg, T0 + 72 * MS) <= 17);
  sfu_pacer_free(p);
}

/* Priorities: urgent never waits; a retransmission pushed after video leaves before it;
 * probe packets follow their cluster's pacing, not the budget, and do not spend it. */
TEST(priorities) {
  sfu_pacer_t *p = sfu_pacer_new(0, 0);
  REQUIRE(p);
  sfu_pacer_set_rate(p, T0, 1000000);
  for (uint32_t i = 1; i <= 5; i++) push(p, T0, SFU_PACER_PRIO_VIDEO, 1200, i);
  push(p, T0, SFU_PACER_PRIO_RTX, 1200, 100);
  push(p, T0, SFU_PACER_PRIO_PROBE, 1200, 200);
  uint8_t out[SFU_PACER_SLOT];
  uint32_t tag = 0;
  int prio = -1;
  CHECK_EQ_INT(sfu_pacer_pop(p, T0, out, sizeof out, &tag, &prio), 1200);
  CHECK_EQ_INT(tag, 100);
  CHECK_EQ_INT(prio, SFU_PACER_PRIO_RTX);
  /* The bucket is below 0 now: video waits, the probe does not. */
  CHECK_EQ_INT(sfu_pacer_pop(p, T0, out, sizeof out, &tag, &prio), 1200);
  CHECK_EQ_INT(tag, 200);
  CHECK_EQ_INT(prio, SFU_PACER_PRIO_PROBE);
  CHECK_EQ_INT(sfu_pacer_pop(p, T0, out, sizeof out, &tag, &prio), 0);
  uint64_t next = sfu_pacer_next_deadline(p, T0);
  /* The probe did not spend the budget: the next video is due when the RTX alone is paid
   * (1,200 - 625 bytes at 1 Mbps = 4.6 ms). */
  CHECK_EQ_INT(next, T0 + 4600 + 1);
  /* Urgent leaves at once while video waits, and is charged: video comes later. */
  push(p, T0 + MS, SFU_PACER_PRIO_URGENT, 125, 300);
  CHECK_EQ_INT(sfu_pacer_next_deadline(p, T0 + MS), T0 + MS);
  CHECK_EQ_INT(sfu_pacer_pop(p, T0 + MS, out, sizeof out, &tag, &prio), 125);
  CHECK_EQ_INT(tag, 300);
  CHECK_EQ_INT(prio, SFU_PACER_PRIO_URGENT);
  CHECK_EQ_INT(sfu_pacer_next_deadline(p, T0 + MS), T0 + 5600 + 1);
  CHECK_EQ_INT(sfu_pacer_pop(p, T0 + 5600, out, sizeof out, &tag, &prio), 0);
  CHECK_EQ_INT(sfu_pacer_pop(p, T0 + 5601, out, sizeof out, &tag, &prio), 1200);
  CHECK_EQ_INT(tag, 1);
  sfu_pacer_stats_t st;
  sfu_pacer_stats(p, &st);
  CHECK_EQ_INT(st.probe_packets, 1);
  CHECK_EQ_INT(st.probe_bytes, 1200);
  CHECK_EQ_INT(st.sent_packets, 4);
  CHECK_EQ_INT(st.queued_packets, 4);
  CHECK_EQ_INT(st.oldest_queued_us, T0);
  sfu_pacer_free(p);
}

/* Bound by bytes: a new packet evicts the oldest of the least important queue at or below
 * its own priority; urgent is never evicted; what cannot fit is refused. Counted. */
TEST(queue_bound_bytes_drops_oldest_video) {
  sfu_pacer_t *p = sfu_pacer_new(10 * 1200, 0);
  REQUIRE(p);
  sfu_pacer_set_rate(p, T0, 100000);
  for (uint32_t i = 0; i < 10; i++) CHECK_EQ_INT(push(p, T0, SFU_PACER_PRIO_VIDEO, 1200, i), 0);
  CHECK_EQ_INT(push(p, T0, SFU_PACER_PRIO_VIDEO, 1200, 10), 0);       /* evicts video 0 */
  CHECK_EQ_INT(push(p, T0, SFU_PACER_PRIO_RTX, 1200, 100), 0);        /* evicts video 1 */
  CHECK_EQ_INT(push(p, T0, SFU_PACER_PRIO_PROBE, 1200, 200), SFU_ELIMIT); /* no room */
  CHECK_EQ_INT(push(p, T0, SFU_PACER_PRIO_URGENT, 1200, 300), 0);     /* evicts video 2 */
  sfu_pacer_stats_t st;
  sfu_pacer_stats(p, &st);
  CHECK_EQ_INT(st.dropped_packets, 4);
  CHECK_EQ_INT(st.queued_packets, 10);
  CHECK_EQ_INT(st.queued_bytes, 12000);
  /* A probe evicts only probes; video evicts a probe before older video. */
  sfu_pacer_t *q = sfu_pacer_new(3 * 1200, 0);
  REQUIRE(q);
  push(q, T0, SFU_PACER_PRIO_VIDEO, 1200, 1);
  push(q, T0, SFU_PACER_PRIO_VIDEO, 1200, 2);
  push(q, T0, SFU_PACER_PRIO_PROBE, 1200, 3);
  CHECK_EQ_INT(push(q, T0, SFU_PACER_PRIO_PROBE, 1200, 4), 0); /* evicts probe 3 */
  CHECK_EQ_INT(push(q, T0, SFU_PACER_PRIO_VIDEO, 1200, 5), 0); /* evicts probe 4 */
  CHECK_EQ_INT(push(q, T0, SFU_PACER_PRIO_URGENT, 1200, 6), 0); /* evicts video 1 */
  uint8_t out[SFU_PACER_SLOT];
  uint32_t tags[4] = {0};
  for (int i = 0; i < 4; i++) sfu_pacer_pop(q, T0, out, sizeof out, &tags[i], NULL);
  CHECK_EQ_INT(tags[0], 6); /* unpaced: urgent, then video in order */
  CHECK_EQ_INT(tags[1], 2);
  CHECK_EQ_INT(tags[2], 5);
  CHECK_EQ_INT(tags[3], 0); /* nothing left */
  sfu_pacer_free(q);
  /* Pop order of the first: urgent, RTX, then video from 3 on. */
  log_t lg = {0};
  drive(p, T0, T0 + 10 * SEC, 100000, &lg);
  REQUIRE(lg.n == 10);
  CHECK_EQ_INT(lg.tag[0], 300);
  CHECK_EQ_INT(lg.tag[1], 100);
  CHECK_EQ_INT(lg.tag[2], 3);
  CHECK_EQ_INT(lg.tag[9], 10);
  sfu_pacer_free(p);
}

/* Bound by age: a packet that waited past max_age is dropped when it reaches the front;
 * a fresher one behind it still leaves. */
TEST(queue_bound_age) {
  sfu_pacer_t *p = sfu_pacer_new(0, 2 * SEC);
  REQUIRE(p);
  sfu_pacer_set_rate(p, T0, 8000); /* 1,000 bytes/s */
  uint8_t out[SFU_PACER_SLOT];
  uint32_t tag = 0;
  push(p, T0, SFU_PACER_PRIO_VIDEO, 1200, 1);
  CHECK_EQ_INT(sfu_pacer_pop(p, T0, out, sizeof out, &tag, NULL), 1200);
  push(p, T0 + 100 * MS, SFU_PACER_PRIO_VIDEO, 1200, 2);
  push(p, T0 + 2000 * MS, SFU_PACER_PRIO_VIDEO, 1200, 3);
  /* The bucket is paid back at ~1.2 s, but the link is slower than the video: 2 is 2.1 s
   * old at 2.2 s. */
  CHECK_EQ_INT(sfu_pacer_pop(p, T0 + 2200 * MS, out, sizeof out, &tag, NULL), 1200);
  CHECK_EQ_INT(tag, 3);
  sfu_pacer_stats_t st;
  sfu_pacer_stats(p, &st);
  CHECK_EQ_INT(st.dropped_packets, 1);
  CHECK_EQ_INT(st.queued_packets, 0);
  CHECK(st.max_delay_us == 200 * MS);
  sfu_pacer_free(p);
}

/* A rate change mid-queue applies from then on: 40 packets at 1 Mbps, 4 Mbps from 0.2 s:
 * the rest (18) leave within ~43 ms instead of ~173 ms. And back to unpaced. */
TEST(rate_change_mid_queue) {
  sfu_pacer_t *p = sfu_pacer_new(0, 0);
  REQUIRE(p);
  sfu_pacer_set_rate(p, T0, 1000000);
  for (uint32_t i = 0; i < 40; i++) push(p, T0, SFU_PACER_PRIO_VIDEO, 1200, i);
  log_t lg = {0};
  drive(p, T0, T0 + 200 * MS, 1000000, &lg);
  CHECK_EQ_INT(lg.over_budget, 0);
  CHECK_EQ_INT(lg.n, 22);
  sfu_pacer_set_rate(p, T0 + 200 * MS, 4000000);
  size_t before = lg.n;
  drive(p, T0 + 200 * MS, T0 + 10 * SEC, 4000000, &lg);
  CHECK_EQ_INT(lg.n, 40);
  CHECK(lg.at[39] - T0 >= 240 * MS && lg.at[39] - T0 <= 245 * MS);
  /* Spacing after the change is a 1,200-byte packet at 4 Mbps (2.4 ms). */
  for (size_t i = before + 1; i < lg.n; i++) CHECK(lg.at[i] - lg.at[i - 1] >= 2400 - 1);
  for (size_t i = 0; i < lg.n; i++) CHECK_EQ_INT(lg.tag[i], i);
  /* Down to 100 kbps with the bucket 1,100 bytes below 0: the next packet waits ~88 ms;
   * to 0 (unpaced): everything now. */
  for (uint32_t i = 0; i < 6; i++) push(p, T0 + 2 * SEC, SFU_PACER_PRIO_VIDEO, 1200, i);
  uint8_t out[SFU_PACER_SLOT];
  for (int i = 0; i < 3; i++)
    CHECK_EQ_INT(sfu_pacer_pop(p, T0 + 2 * SEC, out, sizeof out, NULL, NULL), 1200);
  sfu_pacer_set_rate(p, T0 + 2 * SEC, 100000);
  uint64_t next = sfu_pacer_next_deadline(p, T0 + 2 * SEC);
  CHECK_EQ_INT(next, T0 + 2 * SEC + 88 * MS + 1);
  sfu_pacer_set_rate(p, T0 + 2 * SEC, 0);
  CHECK_EQ_INT(sfu_pacer_next_deadline(p, T0 + 2 * SEC), T0 + 2 * SEC);
  int n = 0;
  while (sfu_pacer_pop(p, T0 + 2 * SEC, out, sizeof out, NULL, NULL)) n++;
  CHECK_EQ_INT(n, 3);
  sfu_pacer_free(p);
}

/* Steady state: 0 allocations per push and pop once the pool has grown. */
TEST(no_allocation_per_packet) {
#ifdef NO_ALLOC_COUNT
  printf("     (allocation count skipped under the sanitizer)\n");
#else
  sfu_pacer_t *p = sfu_pacer_new(0, 0);
  REQUIRE(p);
  /* ~2.3 Mbps of audio, video and RTX through a 4 Mbps pacer, in 4 ms loop turns; the
   * first 1,000 turns grow the pool to the queue's high-water mark. */
  sfu_pacer_set_rate(p, T0, 4000000);
  uint8_t out[SFU_PACER_SLOT];
  uint64_t now = T0;
  size_t popped = 0;
  for (uint32_t i = 0; i < 11000; i++) {
    if (i == 1000) {
      allocs = 0;
      counting = 1;
      popped = 0;
    }
    push(p, now, i % 10 == 0 ? SFU_PACER_PRIO_URGENT : SFU_PACER_PRIO_VIDEO, 1000, i);
    if (i % 7 == 0) push(p, now, SFU_PACER_PRIO_RTX, 1200, i);
    if (i % 3 == 0) { /* references, kept in the queue's ring */
      uint8_t ref[SFU_PACER_REF_INLINE] = {(uint8_t)i};
      sfu_pacer_push_ref(p, now, SFU_PACER_PRIO_VIDEO, ref, sizeof ref, 900, i);
    }
    while (sfu_pacer_pop(p, now, out, sizeof out, NULL, NULL)) popped++;
    now += 4 * MS;
  }
  counting = 0;
  CHECK_EQ_INT(allocs, 0);
  CHECK(popped > 10000);
  sfu_pacer_free(p);
#endif
}

/* Bad input: nothing queued, nothing crashes; a packet bigger than the caller's buffer is
 * dropped (counted) rather than blocking the queue. */
TEST(bad_input) {
  sfu_pacer_t *p = sfu_pacer_new(0, 0);
  REQUIRE(p);
  uint8_t big[SFU_PACER_SLOT + 1] = {0};
  CHECK_EQ_INT(sfu_pacer_push(p, T0, -1, big, 10, 0), SFU_EINVAL);
  CHECK_EQ_INT(sfu_pacer_push(p, T0, SFU_PACER_PRIOS, big, 10, 0), SFU_EINVAL);
  CHECK_EQ_INT(sfu_pacer_push(p, T0, 0, NULL, 10, 0), SFU_EINVAL);
  CHECK_EQ_INT(sfu_pacer_push(p, T0, 0, big, 0, 0), SFU_EINVAL);
  CHECK_EQ_INT(sfu_pacer_push(p, T0, 0, big, sizeof big, 0), SFU_ETOOBIG);
  CHECK_EQ_INT(sfu_pacer_next_deadline(p, T0), UINT64_MAX);
  uint8_t out[100];
  CHECK_EQ_INT(sfu_pacer_pop(p, T0, out, sizeof out, NULL, NULL), 0);
  push(p, T0, SFU_PACER_PRIO_VIDEO, 200, 1);
  push(p, T0, SFU_PACER_PRIO_VIDEO, 50, 2);
  uint32_t tag = 0;
  CHECK_EQ_INT(sfu_pacer_pop(p, T0, out, sizeof out, &tag, NULL), 50);
  CHECK_EQ_INT(tag, 2);
  sfu_pacer_stats_t st;
  sfu_pacer_stats(p, &st);
  CHECK_EQ_INT(st.dropped_packets, 1);
  /* Huge rates and burst, time going backwards: no overflow, still sane. */
  sfu_pacer_set_rate(p, T0, UINT64_MAX);
  sfu_pacer_set_burst(p, T0, UINT64_MAX);
  push(p, T0, SFU_PACER_PRIO_VIDEO, 1200, 3);
  CHECK_EQ_INT(sfu_pacer_next_deadline(p, T0 - SEC), T0 - SEC);
  CHECK_EQ_INT(sfu_pacer_pop(p, T0 - SEC, out, sizeof out, NULL, NULL), 0); /* 1,200 > 100 */
  sfu_pacer_set_rate(p, UINT64_MAX, 1);
  sfu_pacer_set_burst(p, UINT64_MAX, 0);
  push(p, T0, SFU_PACER_PRIO_VIDEO, 10, 4);
  push(p, T0, SFU_PACER_PRIO_VIDEO, 10, 5);
  sfu_pacer_pop(p, UINT64_MAX, out, sizeof out, NULL, NULL);
  CHECK(sfu_pacer_next_deadline(p, UINT64_MAX - 1) >= UINT64_MAX - 1);
  sfu_pacer_free(p);
  sfu_pacer_free(NULL);
}

/* sfu_pacer_admit, after checking that sfu_pacer_would_admit (asked twice: it changes
 * nothing) gives the same decision for a packet of any size. */
static int admit(sfu_pacer_t *p, uint64_t now_us, size_t len) {
  int w = sfu_pacer_would_admit(p, now_us);
  CHECK_EQ_INT(sfu_pacer_would_admit(p, now_us), w);
  int a = sfu_pacer_admit(p, now_us, len);
  if (len) CHECK_EQ_INT(a, w);
  return a;
}

/* The owner's fast path: admitted while nothing is queued and the budget allows, the size
 * taken from the budget exactly as a pop would; refused (nothing changed) otherwise, so
 * that a packet never overtakes a queued one. sfu_pacer_would_admit says the same
 * beforehand without spending or counting anything. */
TEST(admit_fast_path) {
  sfu_pacer_t *p = sfu_pacer_new(0, 0);
  REQUIRE(p);
  /* unpaced: always, while nothing is queued */
  for (int i = 0; i < 100; i++) CHECK_EQ_INT(admit(p, T0, 1200), 1);
  CHECK_EQ_INT(admit(p, T0, 0), 0);
  /* 1 Mbps, a full 5 ms bucket = 5,000 bits: one 1,200-byte packet empties it */
  sfu_pacer_set_rate(p, T0, 1000000);
  CHECK_EQ_INT(sfu_pacer_rate(p), 1000000);
  CHECK_EQ_INT(admit(p, T0, 1200), 1);
  CHECK_EQ_INT(admit(p, T0, 1200), 0);
  /* the debt (9,600 - 5,000 bits) is paid back after 4.6 ms at 1 Mbps */
  CHECK_EQ_INT(admit(p, T0 + 4600, 1200), 0);
  CHECK_EQ_INT(admit(p, T0 + 4601, 1200), 1);
  /* what admit spent counts for a pushed packet too: it waits for the same debt */
  CHECK_EQ_INT(push(p, T0 + 4601, SFU_PACER_PRIO_VIDEO, 1200, 7), 0);
  CHECK_EQ_INT(sfu_pacer_next_deadline(p, T0 + 4601), T0 + 4601 + 9600);
  /* something queued: refused even with budget (FIFO) */
  CHECK_EQ_INT(admit(p, T0 + SEC, 100), 0);
  uint8_t out[SFU_PACER_SLOT];
  uint32_t tag = 0;
  CHECK_EQ_INT(sfu_pacer_pop(p, T0 + SEC, out, sizeof out, &tag, NULL), 1200);
  CHECK_EQ_INT(tag, 7);
  /* the pop took the full bucket below 0 again: admitted once it is paid back */
  CHECK_EQ_INT(admit(p, T0 + SEC, 100), 0);
  CHECK_EQ_INT(admit(p, T0 + SEC + 4601, 100), 1);
  sfu_pacer_stats_t st;
  sfu_pacer_stats(p, &st);
  CHECK_EQ_INT(st.sent_packets, 100 + 1 + 1 + 1 + 1);
  CHECK_EQ_INT(st.queued_packets, 0);
  CHECK_EQ_INT(st.dropped_packets, 0);
  sfu_pacer_free(p);
}

static int tag_is_odd(const uint8_t *b, size_t len, uint32_t tag, void *ctx) {
  (void)len;
  (*(int *)ctx)++;
  return (tag & 1) && b[0] == (uint8_t)(tag & 0xff);
}

/* The owner withdraws some packets: the rest stay, in order, and the counters agree. */
TEST(remove_keeps_the_rest_in_order) {
  sfu_pacer_t *p = sfu_pacer_new(0, 0);
  REQUIRE(p);
  sfu_pacer_set_rate(p, T0, 1000000);
  for (uint32_t i = 0; i < 20; i++) CHECK_EQ_INT(push(p, T0, SFU_PACER_PRIO_VIDEO, 1000, i), 0);
  CHECK_EQ_INT(push(p, T0, SFU_PACER_PRIO_RTX, 500, 21), 0);
  int calls = 0;
  CHECK_EQ_INT(sfu_pacer_remove(p, tag_is_odd, &calls), 11);
  CHECK_EQ_INT(calls, 21);
  sfu_pacer_stats_t st;
  sfu_pacer_stats(p, &st);
  CHECK_EQ_INT(st.queued_packets, 10);
  CHECK_EQ_INT(st.queued_bytes, 10000);
  CHECK_EQ_INT(st.dropped_packets, 0);
  log_t lg = {0};
  drive(p, T0, T0 + 10 * SEC, 1000000, &lg);
  REQUIRE(lg.n == 10);
  for (uint32_t i = 0; i < 10; i++) CHECK_EQ_INT(lg.tag[i], 2 * i);
  CHECK_EQ_INT(lg.over_budget, 0);
  /* nothing left: removing from an empty pacer, then pushing again, works */
  CHECK_EQ_INT(sfu_pacer_remove(p, tag_is_odd, &calls), 0);
  CHECK_EQ_INT(push(p, T0 + 10 * SEC, SFU_PACER_PRIO_VIDEO, 1000, 5), 0);
  CHECK_EQ_INT(sfu_pacer_remove(p, tag_is_odd, &calls), 1);
  CHECK_EQ_INT(sfu_pacer_next_deadline(p, T0 + 10 * SEC), UINT64_MAX);
  sfu_pacer_free(p);
}

/* In place (the router's way: SRTP-protect in the slot, send from there): peek leaves
 * the packet queued until take, which spends the budget and counts it as pop would; the
 * slot has room for a tag after the packet; an expired front is dropped on the way. */
TEST(peek_take_in_place) {
  sfu_pacer_t *p = sfu_pacer_new(0, 100 * MS);
  REQUIRE(p);
  sfu_pacer_set_rate(p, T0, 1000000);
  CHECK_EQ_INT(push(p, T0, SFU_PACER_PRIO_VIDEO, 1200, 1), 0);
  CHECK_EQ_INT(push(p, T0, SFU_PACER_PRIO_VIDEO, 1000, 2), 0);
  uint8_t *slot = NULL;
  size_t room = 0;
  uint32_t tag = 0;
  int prio = -1;
  CHECK_EQ_INT(sfu_pacer_peek(p, T0, &slot, &room, &tag, &prio), 1200);
  REQUIRE(slot);
  CHECK_EQ_INT(tag, 1);
  CHECK_EQ_INT(prio, SFU_PACER_PRIO_VIDEO);
  CHECK(room >= 1200 + SFU_PACER_TAIL);
  CHECK_EQ_INT(slot[0], 1); /* push() fills the packet with its tag's low byte */
  memset(slot + 1200, 0xAB, SFU_PACER_TAIL); /* the owner's tag goes there */
  /* peeked, not taken: still queued, nothing spent */
  CHECK_EQ_INT(sfu_pacer_queued(p), 2);
  CHECK_EQ_INT(sfu_pacer_peek(p, T0, &slot, &room, &tag, NULL), 1200);
  sfu_pacer_take(p, T0);
  CHECK_EQ_INT(sfu_pacer_queued(p), 1);
  /* the 1,200 bytes emptied the 5 ms bucket: the next one waits for the debt */
  CHECK_EQ_INT(sfu_pacer_peek(p, T0, &slot, &room, &tag, NULL), 0);
  sfu_pacer_take(p, T0); /* nothing peeked: no-op */
  CHECK_EQ_INT(sfu_pacer_queued(p), 1);
  CHECK_EQ_INT(sfu_pacer_next_deadline(p, T0), T0 + 4601);
  /* past max_age at the front: dropped by peek, not returned */
  CHECK_EQ_INT(sfu_pacer_peek(p, T0 + SEC, &slot, &room, &tag, NULL), 0);
  sfu_pacer_stats_t st;
  sfu_pacer_stats(p, &st);
  CHECK_EQ_INT(st.sent_packets, 1);
  CHECK_EQ_INT(st.sent_bytes, 1200);
  CHECK_EQ_INT(st.dropped_packets, 1);
  CHECK_EQ_INT(st.queued_packets, 0);
  sfu_pacer_free(p);
}

/* A reference (sfu_pacer_push_ref): the owner's few bytes stand for a packet of
 * wire_len, which the queue bound counts and peek reports; what the owner says left
 * (take_sent) is what the budget is charged; 0 is a drop. */
TEST(push_ref_counts_what_left) {
  sfu_pacer_t *p = sfu_pacer_new(10000, 0);
  REQUIRE(p);
  sfu_pacer_set_rate(p, T0, 1000000); /* 1 Mbit/s: 5 ms burst = 625 bytes */
  uint8_t ref[32];
  memset(ref, 0xA5, sizeof ref);
  CHECK_EQ_INT(sfu_pacer_push_ref(p, T0, SFU_PACER_PRIO_VIDEO, NULL, 32, 1200, 1), SFU_EINVAL);
  CHECK_EQ_INT(sfu_pacer_push_ref(p, T0, SFU_PACER_PRIO_VIDEO, ref, 0, 1200, 1), SFU_EINVAL);
  CHECK_EQ_INT(sfu_pacer_push_ref(p, T0, SFU_PACER_PRIO_VIDEO, ref, 32, SFU_PACER_SLOT + 1, 1),
               SFU_ETOOBIG);
  CHECK_EQ_INT(sfu_pacer_push_ref(p, T0, SFU_PACER_PRIO_VIDEO, ref, 32, 0, 1), SFU_EINVAL);
  for (uint32_t i = 0; i < 8; i++)
    CHECK_EQ_INT(sfu_pacer_push_ref(p, T0, SFU_PACER_PRIO_VIDEO, ref, 32, 1200, i), 0);
  /* the bound counts 8 x 1,200 bytes: a ninth evicts the oldest */
  CHECK_EQ_INT(sfu_pacer_push_ref(p, T0, SFU_PACER_PRIO_VIDEO, ref, 32, 1200, 8), 0);
  sfu_pacer_stats_t st;
  sfu_pacer_stats(p, &st);
  CHECK_EQ_INT(st.queued_packets, 8);
  CHECK_EQ_INT(st.queued_bytes, 9600);
  CHECK_EQ_INT(st.dropped_packets, 1);
  uint8_t *at;
  uint32_t tag;
  CHECK_EQ_INT(sfu_pacer_peek(p, T0, &at, NULL, &tag, NULL), 1200);
  CHECK_EQ_INT(tag, 1);
  CHECK(memcmp(at, ref, sizeof ref) == 0);
  /* it became 100 bytes: the budget (625 bytes) still lets the next one go */
  sfu_pacer_take_sent(p, T0, 100);
  CHECK_EQ_INT(sfu_pacer_peek(p, T0, &at, NULL, &tag, NULL), 1200);
  CHECK_EQ_INT(tag, 2);
  sfu_pacer_take_sent(p, T0, 0); /* could not be built: dropped, nothing charged */
  CHECK_EQ_INT(sfu_pacer_peek(p, T0, &at, NULL, &tag, NULL), 1200);
  CHECK_EQ_INT(tag, 3);
  sfu_pacer_take_sent(p, T0, 1200); /* the bucket is below 0 now */
  CHECK_EQ_INT(sfu_pacer_peek(p, T0, &at, NULL, &tag, NULL), 0);
  sfu_pacer_stats(p, &st);
  CHECK_EQ_INT(st.sent_packets, 2);
  CHECK_EQ_INT(st.sent_bytes, 1300);
  CHECK_EQ_INT(st.dropped_packets, 2);
  CHECK_EQ_INT(st.queued_packets, 5);
  /* due again when 1,300 - 625 bytes of budget have come back: 5.4 ms at 1 Mbit/s */
  CHECK_EQ_INT(sfu_pacer_next_deadline(p, T0), T0 + (1300 - 625) * 8 + 1);
  sfu_pacer_free(p);
}

/* The ring a queue keeps its packets in, references inline and byte packets by slot,
 * interleaved: what the drain hands out, in push order. */
typedef struct {
  size_t n, bad;
  uint32_t tag[64];
} ring_log_t;

#define RT_REF 0x80000000u /* the tag of a reference (its 32 bytes: the tag, then the view) */

static void ring_ref(uint8_t *ref, uint32_t tag, uint8_t view) {
  memset(ref, view, SFU_PACER_REF_INLINE);
  memcpy(ref, &tag, sizeof tag);
}

static size_t ring_sent(void *ctx, uint8_t *b, size_t len, size_t room, uint32_t tag, int prio) {
  ring_log_t *l = ctx;
  (void)prio;
  if (tag & RT_REF) {
    uint32_t t;
    memcpy(&t, b, sizeof t);
    if (room != SFU_PACER_REF_INLINE || t != tag || ((uintptr_t)b & 7)) l->bad++;
  } else if (room < len + SFU_PACER_TAIL || b[0] != (uint8_t)tag || b[len - 1] != (uint8_t)tag) {
    l->bad++;
  }
  if (l->n < 64) l->tag[l->n] = tag;
  l->n++;
  return len;
}

/* what router_pace.c's forget does: a view's references, and its byte packets (here the
 * tag's low byte is the view) */
static int of_view(const uint8_t *b, size_t len, uint32_t tag, void *ctx) {
  uint8_t view = *(const uint8_t *)ctx;
  (void)len;
  return tag & RT_REF ? b[SFU_PACER_REF_INLINE - 1] == view : (tag & 0xf) == view;
}

/* Pushes tag: a reference when RT_REF is in it (of view tag & 0xf), else bytes. */
static int ring_push(sfu_pacer_t *p, uint64_t now, int prio, uint32_t tag, size_t wire_len) {
  if (!(tag & RT_REF)) return push(p, now, prio, wire_len, tag);
  uint8_t ref[SFU_PACER_REF_INLINE];
  ring_ref(ref, tag, (uint8_t)(tag & 0xf));
  return sfu_pacer_push_ref(p, now, prio, ref, sizeof ref, wire_len, tag);
}

TEST(ring_wraps_grows_and_interleaves) {
  sfu_pacer_t *p = sfu_pacer_new(0, 0);
  REQUIRE(p);
  /* 12 packets, references and bytes alternating; 8 leave (the ring's head moves on) */
  uint32_t t = 0;
  for (; t < 12; t++)
    CHECK_EQ_INT(ring_push(p, T0, SFU_PACER_PRIO_VIDEO, t | (t % 2 ? 0 : RT_REF), 500), 0);
  for (int i = 0; i < 8; i++) {
    uint8_t *at;
    uint32_t tag;
    CHECK_EQ_INT(sfu_pacer_peek(p, T0, &at, NULL, &tag, NULL), 500);
    CHECK_EQ_INT(tag & 0xff, i);
    sfu_pacer_take_sent(p, T0, 480);
  }
  /* 12 more wrap around the ring's end (16 entries at first), a 17th grows it while
   * wrapped; in between, references at another priority (their own ring) */
  for (; t < 24; t++)
    CHECK_EQ_INT(ring_push(p, T0 + MS, SFU_PACER_PRIO_VIDEO, t | (t % 3 ? RT_REF : 0), 500), 0);
  CHECK_EQ_INT(ring_push(p, T0 + MS, SFU_PACER_PRIO_RTX, 0xF0 | RT_REF, 300), 0);
  for (; t < 30; t++)
    CHECK_EQ_INT(ring_push(p, T0 + 2 * MS, SFU_PACER_PRIO_VIDEO, t | (t % 2 ? RT_REF : 0), 500), 0);
  sfu_pacer_stats_t st;
  sfu_pacer_stats(p, &st);
  CHECK_EQ_INT(st.queued_packets, 4 + 18 + 1);
  CHECK_EQ_INT(st.queued_bytes, 22 * 500 + 300);
  CHECK_EQ_INT(st.oldest_queued_us, T0);
  /* they leave in push order, RTX first, each as it was stored */
  ring_log_t l = {0};
  CHECK_EQ_INT(sfu_pacer_drain(p, T0 + 20 * MS, ring_sent, &l), UINT64_MAX);
  CHECK_EQ_INT(l.bad, 0);
  REQUIRE(l.n == 23);
  CHECK_EQ_INT(l.tag[0], 0xF0 | RT_REF);
  for (uint32_t i = 1; i < 23; i++) CHECK_EQ_INT(l.tag[i] & 0xff, 8 + i - 1);
  sfu_pacer_stats(p, &st);
  CHECK_EQ_INT(st.queued_packets, 0);
  CHECK_EQ_INT(st.queued_bytes, 0);
  CHECK_EQ_INT(st.sent_packets, 8 + 23);
  CHECK_EQ_INT(st.sent_bytes, 8 * 480 + 22 * 500 + 300);
  CHECK_EQ_INT(st.max_delay_us, 20 * MS);
  CHECK_EQ_INT(st.dropped_packets, 0);
  CHECK_EQ_INT(st.oldest_queued_us, 0);
  sfu_pacer_free(p);
}

/* The bound in packets (max_bytes / SFU_PACER_MIN_AVG_BYTES: 16 here) is what fills the
 * ring: then a reference evicts as a byte packet does (the oldest of its priority or a
 * less important one, counted), or is refused (counted) when nothing may go; a pacer fed
 * the same packets as bytes agrees on every counter. */
TEST(ring_full_drops_as_the_queue_does) {
  sfu_pacer_t *p = sfu_pacer_new(16 * SFU_PACER_MIN_AVG_BYTES, 0);
  sfu_pacer_t *b = sfu_pacer_new(16 * SFU_PACER_MIN_AVG_BYTES, 0);
  REQUIRE(p && b);
  sfu_pacer_set_rate(p, T0, 1000000);
  sfu_pacer_set_rate(b, T0, 1000000);
  /* 16 fill it (RTX 0, 3, 10; VIDEO the others); when full, VIDEO evicts the oldest
   * VIDEO, RTX too, and the probe (18) has nothing to evict */
  static const int prios[21] = {1, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1, 3, 1, 2};
  for (uint32_t i = 0; i < 21; i++) {
    int rc = i == 18 ? SFU_ELIMIT : 0;
    uint32_t t = i | (i % 4 == 3 ? 0 : RT_REF); /* one in four as bytes */
    CHECK_EQ_INT(ring_push(p, T0 + i, prios[i], t, 100), rc);
    CHECK_EQ_INT(push(b, T0 + i, prios[i], 100, t), rc);
  }
  sfu_pacer_stats_t sp, sb;
  sfu_pacer_stats(p, &sp);
  sfu_pacer_stats(b, &sb);
  CHECK_EQ_INT(sp.queued_packets, 16);
  CHECK_EQ_INT(sp.queued_bytes, 1600);
  CHECK_EQ_INT(sp.dropped_packets, 5); /* 4 evicted, 1 refused */
  CHECK(memcmp(&sp, &sb, sizeof sp) == 0);
  /* what is left: RTX first (5 of them), then the 11 VIDEO not evicted, in order */
  ring_log_t l = {0};
  uint64_t now = T0 + SEC;
  while (sfu_pacer_queued(p)) now = sfu_pacer_drain(p, now, ring_sent, &l);
  CHECK_EQ_INT(l.bad, 0);
  REQUIRE(l.n == 16);
  static const uint32_t want[16] = {0, 3, 10, 17, 19, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 20};
  for (int i = 0; i < 16; i++) CHECK_EQ_INT(l.tag[i] & 0xff, want[i]);
  sfu_pacer_free(p);
  sfu_pacer_free(b);
}

/* A view's packets withdrawn (router_pace_forget's way: its references by the view in
 * them, its byte packets by their SSRC) from a wrapped ring: the others stay in order,
 * the counts follow, and the ring takes more after. */
TEST(ring_forget_by_view) {
  sfu_pacer_t *p = sfu_pacer_new(0, 0);
  REQUIRE(p);
  sfu_pacer_set_rate(p, T0, 1000000);
  uint32_t t = 0;
  for (; t < 10; t++)
    CHECK_EQ_INT(ring_push(p, T0, SFU_PACER_PRIO_VIDEO, (t << 4) | 1 | RT_REF, 200), 0);
  ring_log_t l = {0};
  sfu_pacer_drain(p, T0, ring_sent, &l); /* 625 bytes of burst: 4 leave */
  CHECK_EQ_INT(l.n, 4);
  /* views 1 and 2 (view 2's as bytes), around the ring's end */
  for (; t < 20; t++) {
    uint32_t tag = (t << 4) | (t % 2 ? 2 : 1) | (t % 5 == 0 ? 0 : RT_REF);
    CHECK_EQ_INT(ring_push(p, T0 + MS, SFU_PACER_PRIO_VIDEO, tag, 200), 0);
  }
  uint8_t view = 2;
  CHECK_EQ_INT(sfu_pacer_remove(p, of_view, &view), 5);
  view = 3;
  CHECK_EQ_INT(sfu_pacer_remove(p, of_view, &view), 0);
  sfu_pacer_stats_t st;
  sfu_pacer_stats(p, &st);
  CHECK_EQ_INT(st.queued_packets, 6 + 5);
  CHECK_EQ_INT(st.queued_bytes, 11 * 200);
  CHECK_EQ_INT(st.dropped_packets, 0);
  for (; t < 24; t++)
    CHECK_EQ_INT(ring_push(p, T0 + 2 * MS, SFU_PACER_PRIO_VIDEO, (t << 4) | 2 | RT_REF, 200), 0);
  l.n = 0;
  uint64_t now = T0 + SEC;
  while (sfu_pacer_queued(p)) now = sfu_pacer_drain(p, now, ring_sent, &l);
  CHECK_EQ_INT(l.bad, 0);
  REQUIRE(l.n == 15);
  static const uint32_t want[15] = {4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 18, 20, 21, 22, 23};
  for (int i = 0; i < 15; i++) CHECK_EQ_INT((l.tag[i] & ~RT_REF) >> 4, want[i]);
  sfu_pacer_free(p);
}

/* sfu_pacer_drain and push_ref against peek/take and push, as one owner would mix
 * them: random packets of every priority (and runs of one priority only: drain's FIFO
 * path), rate and burst changes down to rates where the debt floor binds, expiries,
 * evictions, removals, idle gaps. Pacer b gets each packet as bytes, as a reference that
 * is the whole packet (in a slot), or as a small reference kept in its ring entry
 * (REF_MARK on b's tag; the reference holds the tag), interleaved in one queue. Both
 * pacers must send the same packets in the same order at the same times and agree on
 * every deadline and counter at every step. */
static uint64_t rng_state;
static uint32_t rng(void) {
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(rng_state >> 33);
}

#define REF_MARK 0x80000000u

/* b's small reference for the packet tagged tag: the tag, then a fill, 4..32 bytes. */
static size_t small_ref(uint8_t *ref, uint32_t tag) {
  size_t n = 4 + tag % (SFU_PACER_REF_INLINE - 3);
  memset(ref, (int)((tag * 7) & 0xff), n);
  memcpy(ref, &tag, 4);
  return n;
}

typedef struct {
  size_t n, bad_refs;
  uint32_t tag[512];
  size_t len[512];
  uint8_t last[512];
} drained_t;

static size_t on_drained(void *ctx, uint8_t *b, size_t len, size_t room, uint32_t tag, int prio) {
  drained_t *d = ctx;
  (void)prio;
  uint8_t last;
  if (tag & REF_MARK) { /* a small reference, handed from its ring entry */
    tag &= ~REF_MARK;
    uint8_t want[SFU_PACER_REF_INLINE];
    size_t n = small_ref(want, tag);
    if (room != SFU_PACER_REF_INLINE || ((uintptr_t)b & 7) || memcmp(b, want, n) != 0)
      d->bad_refs++;
    last = (uint8_t)(tag & 0xff); /* what the packet it stands for ends with */
  } else {
    if (room < len + SFU_PACER_TAIL) return len; /* leaves n short: the check below fails */
    memset(b + len, 0xEE, SFU_PACER_TAIL);   /* the owner's SRTP tag goes there */
    last = b[len - 1];
  }
  if (d->n < 512) {
    d->tag[d->n] = tag;
    d->len[d->n] = len;
    d->last[d->n] = last;
  }
  d->n++;
  return len;
}

static int tag_multiple(const uint8_t *b, size_t len, uint32_t tag, void *ctx) {
  (void)b;
  (void)len;
  return (tag & ~REF_MARK) % *(uint32_t *)ctx == 0;
}

TEST(drain_and_push_ref_match_peek_take_and_push) {
  int mismatches = 0;
  uint64_t sent = 0, by_ref = 0, inline_refs = 0;
  for (uint64_t seed = 1; seed <= 60 && mismatches == 0; seed++) {
    rng_state = seed;
    size_t max_bytes = rng() % 2 ? 20000 + rng() % 40000 : 0;
    uint64_t max_age = rng() % 2 ? 20 * MS + rng() % (300 * MS) : 0;
    sfu_pacer_t *a = sfu_pacer_new(max_bytes, max_age), *b = sfu_pacer_new(max_bytes, max_age);
    REQUIRE(a && b);
    int mix = (int)(rng() % 3); /* 0: video only, 1: video + RTX, 2: every priority */
    uint64_t now = T0;
    uint32_t next_tag = 1;
    for (int step = 0; step < 1500 && mismatches == 0; step++) {
      uint32_t op = rng() % 100;
      if (op < 30) {
        now += rng() % 10 ? rng() % 3000 : rng() % (600 * MS);
      } else if (op < 65) {
        int prio = mix == 0   ? SFU_PACER_PRIO_VIDEO
                   : mix == 1 ? (int)(1 + rng() % 2)
                              : (int)(rng() % SFU_PACER_PRIOS);
        size_t len = rng() % 8 ? 1 + rng() % SFU_PACER_SLOT : 1 + rng() % 100;
        uint32_t tag = next_tag++;
        int ad = sfu_pacer_admit(a, now, len);
        if (ad != sfu_pacer_admit(b, now, len)) mismatches++;
        if (ad) continue;
        int ra = push(a, now, prio, len, tag), rb;
        uint32_t how = rng() % 4;
        if (how == 0) {
          rb = push(b, now, prio, len, tag);
        } else if (how == 1 || len <= SFU_PACER_REF_INLINE) {
          /* a small reference standing for the packet: kept in the ring entry */
          uint8_t ref[SFU_PACER_REF_INLINE];
          rb = sfu_pacer_push_ref(b, now, prio, ref, small_ref(ref, tag), len, tag | REF_MARK);
          inline_refs++;
        } else { /* a reference that is the whole packet: the same as a push */
          memset(pkt, (int)(tag & 0xff), len);
          rb = sfu_pacer_push_ref(b, now, prio, pkt, len, len, tag);
          by_ref++;
        }
        if (ra != rb) mismatches++;
      } else if (op < 88) {
        drained_t d = {0};
        uint64_t db = sfu_pacer_drain(b, now, on_drained, &d);
        uint8_t *at;
        uint32_t tag;
        size_t len, k = 0;
        while ((len = sfu_pacer_peek(a, now, &at, NULL, &tag, NULL)) > 0) {
          if (k >= d.n || k >= 512 || d.tag[k] != tag || d.len[k] != len ||
              d.last[k] != at[len - 1])
            mismatches++;
          sfu_pacer_take(a, now);
          k++;
        }
        if (k != d.n || d.bad_refs || db != sfu_pacer_next_deadline(a, now)) mismatches++;
        sent += k;
      } else if (op < 95) {
        uint64_t rate = rng() % 6 ? 100000 + rng() % 5000000 : rng() % 2 ? 0 : 200 + rng() % 20000;
        sfu_pacer_set_rate(a, now, rate);
        sfu_pacer_set_rate(b, now, rate);
      } else if (op < 97) {
        uint64_t burst = rng() % 3 ? 1000 + rng() % 40000 : 0;
        sfu_pacer_set_burst(a, now, burst);
        sfu_pacer_set_burst(b, now, burst);
      } else if (op < 98) {
        uint32_t m = 2 + rng() % 5;
        if (sfu_pacer_remove(a, tag_multiple, &m) != sfu_pacer_remove(b, tag_multiple, &m))
          mismatches++;
      }
      uint64_t t = now + (rng() % 4 ? 0 : rng() % 20000);
      if (sfu_pacer_next_deadline(a, t) != sfu_pacer_next_deadline(b, t)) mismatches++;
      sfu_pacer_stats_t sa, sb;
      sfu_pacer_stats(a, &sa);
      sfu_pacer_stats(b, &sb);
      if (memcmp(&sa, &sb, sizeof sa) != 0) mismatches++;
      if (mismatches)
        printf("     seed %llu step %d: the two pacers differ\n", (unsigned long long)seed, step);
    }
    sfu_pacer_free(a);
    sfu_pacer_free(b);
  }
  CHECK_EQ_INT(mismatches, 0);
  CHECK(sent > 10000);
  CHECK(by_ref > 5000);
  CHECK(inline_refs > 5000);
}

int main(void) {
  RUN(paces_at_rate_with_burst_bound);
  RUN(idle_refills_one_burst_only);
  RUN(keyframe_burst_spreads);
  RUN(priorities);
  RUN(queue_bound_bytes_drops_oldest_video);
  RUN(queue_bound_age);
  RUN(rate_change_mid_queue);
  RUN(no_allocation_per_packet);
  RUN(bad_input);
  RUN(admit_fast_path);
  RUN(remove_keeps_the_rest_in_order);
  RUN(peek_take_in_place);
  RUN(push_ref_counts_what_left);
  RUN(drain_and_push_ref_match_peek_take_and_push);
  RUN(ring_wraps_grows_and_interleaves);
  RUN(ring_full_drops_as_the_queue_does);
  RUN(ring_forget_by_view);
  return test_summary();
}
