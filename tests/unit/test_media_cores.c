/* The video router's small cores (src/media): packet history (pkt_history.c), keyframe
 * request throttling (keyframe_req.c), NACK generation (nack_gen.c), rate meter
 * (rate_meter.c), receiver statistics (rtp_recv_stats.c). Time is injected; every case
 * asserts a rule that a broken implementation would violate. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sfu/err.h"
#include "sfu/keyframe_req.h"
#include "sfu/nack_gen.h"
#include "sfu/pkt_history.h"
#include "sfu/rate_meter.h"
#include "sfu/rtp_recv_stats.h"
#include "test.h"

#define MS 1000ull
#define SEC 1000000ull

/* ---- packet history ------------------------------------------------------------------ */

/* A fake packet whose bytes say which seq it is. */
static size_t mkpkt(uint8_t *buf, uint16_t seq, size_t len) {
  for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)(seq + i);
  return len;
}
static int pkt_is(const uint8_t *p, size_t len, uint16_t seq, size_t want_len) {
  if (!p || len != want_len) return 0;
  for (size_t i = 0; i < len; i++)
    if (p[i] != (uint8_t)(seq + i)) return 0;
  return 1;
}

/* The packet stored under seq is the one made by mkpkt(seq0, len). */
static int has(const sfu_history_t *h, uint64_t now, uint16_t seq, uint16_t seq0, size_t len) {
  size_t got = 0;
  const uint8_t *p = sfu_history_get(h, now, seq, &got);
  return pkt_is(p, got, seq0, len);
}

TEST(history_put_get_copy) {
  sfu_history_t *h = sfu_history_new(2 * SEC, 1024);
  REQUIRE(h);
  uint8_t b[SFU_HISTORY_SLOT + 1];
  size_t len = 0;
  CHECK(sfu_history_get(h, 0, 7, &len) == NULL);
  CHECK_EQ_INT(sfu_history_put(h, 0, 7, b, mkpkt(b, 7, 200)), 0);
  memset(b, 0, sizeof b); /* the history holds its own copy */
  const uint8_t *p = sfu_history_get(h, 1 * MS, 7, &len);
  CHECK(pkt_is(p, len, 7, 200));
  CHECK(sfu_history_get(h, 1 * MS, 8, &len) == NULL);
  CHECK(sfu_history_get(h, 1 * MS, (uint16_t)(7 + 1024), &len) == NULL); /* same slot */
  CHECK_EQ_INT(sfu_history_put(h, 0, 9, b, SFU_HISTORY_SLOT + 1), SFU_ETOOBIG);
  CHECK_EQ_INT(sfu_history_put(h, 0, 9, NULL, 10), SFU_EINVAL);
  CHECK_EQ_INT(sfu_history_put(h, 0, 10, b, mkpkt(b, 10, SFU_HISTORY_SLOT)), 0);
  CHECK(has(h, 0, 10, 10, SFU_HISTORY_SLOT));
  sfu_history_free(h);
}

TEST(history_duplicate_keeps_first) {
  sfu_history_t *h = sfu_history_new(2 * SEC, 1024);
  uint8_t b[100];
  CHECK_EQ_INT(sfu_history_put(h, 0, 5, b, mkpkt(b, 5, 50)), 0);
  CHECK_EQ_INT(sfu_history_put(h, 1, 5, b, mkpkt(b, 99, 80)), 0);
  CHECK(has(h, 2, 5, 5, 50));
  CHECK_EQ_INT(sfu_history_count(h), 1);
  sfu_history_free(h);
}

TEST(history_evicts_by_age) {
  sfu_history_t *h = sfu_history_new(2 * SEC, 1024);
  uint8_t b[100];
  size_t len;
  for (uint16_t s = 0; s < 10; s++) sfu_history_put(h, s * 100 * MS, s, b, mkpkt(b, s, 60));
  /* At 2.05 s packet 0 (t=0) is past 2 s, packet 1 (t=100 ms) is not. */
  CHECK(sfu_history_get(h, 2050 * MS, 0, &len) == NULL);
  CHECK(has(h, 2050 * MS, 1, 1, 60));
  CHECK(has(h, 2 * SEC, 0, 0, 60)); /* exactly 2 s: kept */
  /* A newer packet at 2.55 s evicts 0..5 (t <= 500 ms). */
  sfu_history_put(h, 2550 * MS, 10, b, mkpkt(b, 10, 60));
  CHECK_EQ_INT(sfu_history_count(h), 5);
  CHECK(sfu_history_get(h, 2550 * MS, 5, &len) == NULL);
  CHECK(has(h, 2550 * MS, 6, 6, 60));
  sfu_history_free(h);
}

TEST(history_evicts_oldest_at_cap) {
  sfu_history_t *h = sfu_history_new(2 * SEC, 100);
  uint8_t b[100];
  size_t len;
  for (uint16_t s = 0; s < 150; s++) sfu_history_put(h, 0, s, b, mkpkt(b, s, 40));
  CHECK_EQ_INT(sfu_history_count(h), 100);
  CHECK(sfu_history_get(h, 0, 49, &len) == NULL);
  CHECK(has(h, 0, 50, 50, 40));
  CHECK(has(h, 0, 149, 149, 40));
  /* The cap is a span of seqs: a forward jump past it empties the history. */
  sfu_history_put(h, 0, 400, b, mkpkt(b, 400, 40));
  CHECK_EQ_INT(sfu_history_count(h), 1);
  CHECK(sfu_history_get(h, 0, 149, &len) == NULL);
  sfu_history_free(h);
}

TEST(history_seq_wrap) {
  sfu_history_t *h = sfu_history_new(2 * SEC, 1024);
  uint8_t b[100];
  size_t len;
  for (uint32_t i = 0; i < 20; i++) {
    uint16_t s = (uint16_t)(65530 + i);
    sfu_history_put(h, i * MS, s, b, mkpkt(b, s, 30));
  }
  CHECK_EQ_INT(sfu_history_count(h), 20);
  for (uint32_t i = 0; i < 20; i++) {
    uint16_t s = (uint16_t)(65530 + i);
    CHECK(has(h, 20 * MS, s, s, 30));
  }
  /* Around the wrap, in a table that must evict at its cap. */
  sfu_history_t *c = sfu_history_new(2 * SEC, 64);
  for (uint32_t i = 0; i < 200; i++) {
    uint16_t s = (uint16_t)(65500 + i);
    sfu_history_put(c, 0, s, b, mkpkt(b, s, 30));
  }
  CHECK_EQ_INT(sfu_history_count(c), 64);
  CHECK(has(c, 0, (uint16_t)(65500 + 199), 163, 30));
  CHECK(has(c, 0, (uint16_t)(65500 + 136), 100, 30));
  CHECK(sfu_history_get(c, 0, (uint16_t)(65500 + 135), &len) == NULL);
  sfu_history_free(c);
  sfu_history_free(h);
}

TEST(history_reordered_and_growth) {
  sfu_history_t *h = sfu_history_new(2 * SEC, 1024);
  uint8_t b[100];
  size_t len;
  sfu_history_put(h, 0, 10, b, mkpkt(b, 10, 20));
  sfu_history_put(h, 1, 12, b, mkpkt(b, 12, 20));
  sfu_history_put(h, 2, 11, b, mkpkt(b, 11, 20)); /* late */
  CHECK(has(h, 3, 11, 11, 20));
  /* Reordered behind the first slots' span: the table grows to keep it. */
  sfu_history_put(h, 3, 12 - 100, b, mkpkt(b, 12 - 100, 20));
  CHECK(has(h, 4, 12 - 100, 12 - 100, 20));
  CHECK(has(h, 4, 10, 10, 20));
  /* Beyond max_packets behind the newest: not kept (but no error). */
  CHECK_EQ_INT(sfu_history_put(h, 5, (uint16_t)(12 - 2000), b, mkpkt(b, 0, 20)), 0);
  CHECK(sfu_history_get(h, 5, (uint16_t)(12 - 2000), &len) == NULL);
  CHECK_EQ_INT(sfu_history_count(h), 4);
  /* Far behind: a publisher that restarted its numbering. The history starts over. */
  const uint16_t far = (uint16_t)(12 - 5000);
  CHECK_EQ_INT(sfu_history_put(h, 6, far, b, mkpkt(b, far, 20)), 0);
  CHECK(has(h, 6, far, far, 20));
  CHECK(sfu_history_get(h, 6, 12, &len) == NULL);
  CHECK_EQ_INT(sfu_history_count(h), 1);
  sfu_history_free(h);
}

TEST(history_lazy_slots_steady_memory) {
  uint8_t b[1200];
  size_t len;
  /* A low-rate layer (30 packets/s for 10 s) keeps the first slots only. */
  sfu_history_t *lo = sfu_history_new(2 * SEC, 1024);
  CHECK(sfu_history_memory(lo) < 4096); /* nothing allocated before the first packet */
  for (uint32_t i = 0; i < 300; i++) sfu_history_put(lo, i * 33333, (uint16_t)i, b, 1200);
  CHECK(sfu_history_memory(lo) < (size_t)SFU_HISTORY_MIN_SLOTS * 2 * SFU_HISTORY_SLOT);
  CHECK(sfu_history_memory(lo) >= (size_t)SFU_HISTORY_MIN_SLOTS * SFU_HISTORY_SLOT);
  /* A high-rate one (400 packets/s) grows to what 2 s need, and then stays there. */
  sfu_history_t *hi = sfu_history_new(2 * SEC, 1024);
  uint32_t i = 0;
  for (; i < 1000; i++)
    sfu_history_put(hi, i * 2500ull, (uint16_t)i, b, mkpkt(b, (uint16_t)i, 1200));
  size_t grown = sfu_history_memory(hi);
  CHECK(grown >= 1000 * (size_t)SFU_HISTORY_SLOT);
  CHECK(grown <= 1024 * (size_t)(SFU_HISTORY_SLOT + 64) + 4096);
  for (; i < 70000; i++)
    sfu_history_put(hi, i * 2500ull, (uint16_t)i, b, mkpkt(b, (uint16_t)i, 1200));
  CHECK_EQ_INT(sfu_history_memory(hi), grown);
  CHECK_EQ_INT(sfu_history_count(hi), 801); /* 2 s at 2.5 ms spacing, both ends in */
  uint64_t now = (i - 1) * 2500ull;
  CHECK(has(hi, now, (uint16_t)(i - 801), (uint16_t)(i - 801), 1200));
  CHECK(sfu_history_get(hi, now, (uint16_t)(i - 802), &len) == NULL);
  sfu_history_free(lo);
  sfu_history_free(hi);
}

/* Random seqs (mostly forward, some reordered, some far jumps), random sizes and times:
 * whatever get returns is the packet put under that seq, within max_age, and the span
 * and memory bounds hold. ASan/UBSan do the rest. */
TEST(history_random_consistent) {
  sfu_history_t *h = sfu_history_new(200 * MS, 300);
  uint8_t b[SFU_HISTORY_SLOT];
  uint64_t now = 0;
  uint16_t seq = 60000;
  srand(7);
  int bad = 0, hits = 0;
  for (int i = 0; i < 200000; i++) {
    now += (uint64_t)(rand() % 3000);
    int r = rand() % 1000;
    uint16_t s = r < 900 ? ++seq : r < 990 ? (uint16_t)(seq - rand() % 400) : (uint16_t)rand();
    if (r >= 990 && rand() % 2) seq = s;
    /* Content: seq, then the put time. */
    size_t len = 10 + (size_t)(rand() % (SFU_HISTORY_SLOT - 9));
    memset(b, 0, len);
    memcpy(b, &s, 2);
    memcpy(b + 2, &now, 8);
    CHECK_EQ_INT(sfu_history_put(h, now, s, b, len), 0);
    uint16_t q = (uint16_t)(seq - rand() % 500);
    size_t got = 0;
    const uint8_t *p = sfu_history_get(h, now, q, &got);
    if (p) {
      uint16_t ps;
      uint64_t pt;
      memcpy(&ps, p, 2);
      memcpy(&pt, p + 2, 8);
      hits++;
      if (ps != q || pt > now || now - pt > 200 * MS || got < 10) bad++;
    }
    if (sfu_history_count(h) > 300) bad++;
  }
  CHECK_EQ_INT(bad, 0);
  CHECK(hits > 10000);
  CHECK(sfu_history_memory(h) <= 4096 + 512 * (size_t)(SFU_HISTORY_SLOT + 64));
  sfu_history_free(h);
}

/* ---- keyframe requests --------------------------------------------------------------- */

TEST(kf_first_need_sends_then_folds) {
  sfu_kf_req_t k;
  sfu_kf_req_init(&k);
  CHECK_EQ_INT(sfu_kf_req_deadline(&k), UINT64_MAX);
  CHECK_EQ_INT(sfu_kf_req_need(&k, 0, 0), 1); /* time 0 is a time like any other */
  /* 100 viewers join within 150 ms: folded into the one request. */
  int sent = 0;
  for (int v = 0; v < 100; v++) sent += sfu_kf_req_need(&k, (uint64_t)v * 1500, 0);
  CHECK_EQ_INT(sent, 0);
  CHECK_EQ_INT(k.sent, 1);
  CHECK_EQ_INT(k.folded, 100);
  for (uint64_t t = 0; t < 200 * MS; t += MS) CHECK_EQ_INT(sfu_kf_req_poll(&k, t, 0), 0);
}

TEST(kf_repeat_after_clamped_2rtt) {
  struct {
    uint64_t rtt, repeat;
  } cases[] = {
      {0, 200 * MS},                             /* unknown */
      {30 * MS, 200 * MS},                       /* 2 x 30 ms clamped up */
      {150 * MS, 300 * MS},                      /* 2 x RTT */
      {450 * MS, 900 * MS}, {700 * MS, 1 * SEC}, /* clamped down */
      {30 * SEC, 1 * SEC},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    sfu_kf_req_t k;
    sfu_kf_req_init(&k);
    uint64_t t0 = 5 * SEC, rtt = cases[c].rtt, rep = cases[c].repeat;
    CHECK_EQ_INT(sfu_kf_req_need(&k, t0, rtt), 1);
    CHECK_EQ_INT(sfu_kf_req_deadline(&k), t0 + rep);
    CHECK_EQ_INT(sfu_kf_req_poll(&k, t0 + rep - 1, rtt), 0);
    CHECK_EQ_INT(sfu_kf_req_need(&k, t0 + rep - 1, rtt), 0);
    CHECK_EQ_INT(sfu_kf_req_poll(&k, t0 + rep, rtt), 1);
    /* ... and again, until the keyframe comes. */
    CHECK_EQ_INT(sfu_kf_req_deadline(&k), t0 + 2 * rep);
    CHECK_EQ_INT(sfu_kf_req_poll(&k, t0 + 2 * rep, rtt), 1);
    CHECK_EQ_INT(k.sent, 3);
    sfu_kf_req_got_keyframe(&k, t0 + 2 * rep + 10 * MS);
    CHECK_EQ_INT(sfu_kf_req_deadline(&k), UINT64_MAX);
    CHECK_EQ_INT(sfu_kf_req_poll(&k, t0 + 10 * rep, rtt), 0);
  }
}

TEST(kf_need_soon_after_keyframe_is_deferred) {
  sfu_kf_req_t k;
  sfu_kf_req_init(&k);
  CHECK_EQ_INT(sfu_kf_req_need(&k, 1 * SEC, 0), 1);
  sfu_kf_req_got_keyframe(&k, 1 * SEC + 50 * MS);
  /* A new viewer 100 ms after the request: not before 200 ms since it. */
  CHECK_EQ_INT(sfu_kf_req_need(&k, 1 * SEC + 100 * MS, 0), 0);
  CHECK_EQ_INT(sfu_kf_req_deadline(&k), 1 * SEC + 200 * MS);
  CHECK_EQ_INT(sfu_kf_req_poll(&k, 1 * SEC + 199 * MS, 0), 0);
  CHECK_EQ_INT(sfu_kf_req_poll(&k, 1 * SEC + 200 * MS, 0), 1);
  CHECK_EQ_INT(sfu_kf_req_poll(&k, 1 * SEC + 201 * MS, 0), 0);
  sfu_kf_req_got_keyframe(&k, 1 * SEC + 260 * MS);
  /* Idle for 200 ms since the last request: the next need goes out at once. */
  CHECK_EQ_INT(sfu_kf_req_need(&k, 1 * SEC + 400 * MS, 0), 1);
  CHECK_EQ_INT(k.sent, 3);
}

TEST(kf_viewer_throttle) {
  uint64_t last = 0;
  CHECK_EQ_INT(sfu_kf_viewer_allow(&last, 0), 1);
  CHECK_EQ_INT(sfu_kf_viewer_allow(&last, 100 * MS), 0);
  CHECK_EQ_INT(sfu_kf_viewer_allow(&last, 200 * MS - 1), 0);
  CHECK_EQ_INT(sfu_kf_viewer_allow(&last, 200 * MS), 1);
  CHECK_EQ_INT(sfu_kf_viewer_allow(&last, 399 * MS), 0);
  CHECK_EQ_INT(sfu_kf_viewer_allow(&last, 10 * SEC), 1);
  int n = 0;
  last = 0;
  for (uint64_t t = 10 * SEC; t < 11 * SEC; t += 10 * MS) n += sfu_kf_viewer_allow(&last, t);
  CHECK_EQ_INT(n, 5); /* one a 200 ms in one second, from a viewer sending 100 */
}

/* ---- NACK generation ----------------------------------------------------------------- */

static size_t feed(sfu_nack_gen_t *g, uint64_t t, const uint16_t *s, size_t n, int *hopeless) {
  int h = 0;
  for (size_t i = 0; i < n; i++) h |= sfu_nack_gen_on_packet(g, t, s[i]);
  if (hopeless) *hopeless = h;
  return sfu_nack_gen_missing(g);
}

TEST(nack_gap_once_per_rtt_and_reorder_removal) {
  sfu_nack_gen_t g;
  sfu_nack_gen_init(&g);
  uint16_t out[64];
  const uint16_t in[] = {1, 2, 3, 4, 5};
  CHECK_EQ_INT(feed(&g, 0, in, 5, NULL), 0);
  CHECK_EQ_INT(sfu_nack_gen_poll(&g, 0, 50 * MS, out, 64), 0);
  CHECK_EQ_INT(sfu_nack_gen_deadline(&g, 50 * MS), UINT64_MAX);
  CHECK_EQ_INT(sfu_nack_gen_on_packet(&g, 10 * MS, 9), 0);   /* 6, 7, 8 missing */
  CHECK_EQ_INT(sfu_nack_gen_deadline(&g, 50 * MS), 10 * MS); /* no reorder grace */
  size_t n = sfu_nack_gen_poll(&g, 10 * MS, 50 * MS, out, 64);
  REQUIRE(n == 3);
  CHECK(out[0] == 6 && out[1] == 7 && out[2] == 8);
  /* Not again within one RTT. */
  CHECK_EQ_INT(sfu_nack_gen_poll(&g, 59 * MS, 50 * MS, out, 64), 0);
  CHECK_EQ_INT(sfu_nack_gen_deadline(&g, 50 * MS), 60 * MS);
  /* 7 arrives late (or as RTX, unwrapped): it is not asked for again. */
  sfu_nack_gen_on_packet(&g, 55 * MS, 7);
  CHECK_EQ_INT(sfu_nack_gen_missing(&g), 2);
  n = sfu_nack_gen_poll(&g, 60 * MS, 50 * MS, out, 64);
  REQUIRE(n == 2);
  CHECK(out[0] == 6 && out[1] == 8);
  /* A duplicate or an unknown old seq changes nothing. */
  sfu_nack_gen_on_packet(&g, 61 * MS, 7);
  sfu_nack_gen_on_packet(&g, 61 * MS, 3);
  CHECK_EQ_INT(sfu_nack_gen_missing(&g), 2);
  CHECK_EQ_INT(g.recovered, 1);
}

TEST(nack_gives_up_after_1s) {
  sfu_nack_gen_t g;
  sfu_nack_gen_init(&g);
  uint16_t out[8];
  const uint16_t in[] = {100, 102};
  feed(&g, 0, in, 2, NULL);
  int nacks = 0;
  uint64_t rtt = 300 * MS, t = 0;
  for (; t < 2 * SEC; t += 10 * MS) nacks += (int)sfu_nack_gen_poll(&g, t, rtt, out, 8);
  CHECK_EQ_INT(nacks, 4); /* 0, 300, 600, 900 ms; at 1 s it is given up */
  CHECK_EQ_INT(sfu_nack_gen_missing(&g), 0);
  CHECK_EQ_INT(g.gave_up, 1);
  /* The deadline does not ask for a retry that would come after the give-up. */
  sfu_nack_gen_init(&g);
  feed(&g, 0, in, 2, NULL);
  CHECK_EQ_INT(sfu_nack_gen_poll(&g, 0, 800 * MS, out, 8), 1);
  CHECK_EQ_INT(sfu_nack_gen_deadline(&g, 800 * MS), 800 * MS);
  CHECK_EQ_INT(sfu_nack_gen_poll(&g, 800 * MS, 800 * MS, out, 8), 1);
  CHECK_EQ_INT(sfu_nack_gen_deadline(&g, 800 * MS), UINT64_MAX);
}

TEST(nack_gives_up_after_10_tries_min_retry) {
  sfu_nack_gen_t g;
  sfu_nack_gen_init(&g);
  uint16_t out[8];
  const uint16_t in[] = {100, 102};
  feed(&g, 0, in, 2, NULL);
  int nacks = 0;
  /* RTT 1 ms (loopback): retries are still 10 ms apart. */
  for (uint64_t t = 0; t < 500 * MS; t += MS) nacks += (int)sfu_nack_gen_poll(&g, t, MS, out, 8);
  CHECK_EQ_INT(nacks, SFU_NACK_MAX_TRIES);
  CHECK_EQ_INT(sfu_nack_gen_missing(&g), 0);
  CHECK_EQ_INT(g.nacked, 10);
}

TEST(nack_seq_wrap) {
  sfu_nack_gen_t g;
  sfu_nack_gen_init(&g);
  uint16_t out[8];
  const uint16_t in[] = {65532, 65533, 1};
  feed(&g, 0, in, 3, NULL);
  size_t n = sfu_nack_gen_poll(&g, 0, 0, out, 8);
  REQUIRE(n == 3);
  CHECK(out[0] == 65534 && out[1] == 65535 && out[2] == 0); /* ascending mod 2^16 */
  sfu_nack_gen_on_packet(&g, MS, 65535);
  sfu_nack_gen_on_packet(&g, MS, 2); /* in order after the wrap: no new gap */
  CHECK_EQ_INT(sfu_nack_gen_missing(&g), 2);
  n = sfu_nack_gen_poll(&g, 200 * MS, 0, out, 8);
  REQUIRE(n == 2);
  CHECK(out[0] == 65534 && out[1] == 0);
}

TEST(nack_hopeless_and_cap) {
  sfu_nack_gen_t g;
  sfu_nack_gen_init(&g);
  uint16_t out[300];
  int hopeless = 0;
  const uint16_t a[] = {10, 10 + 257}; /* 256 missing: still worth NACKing */
  CHECK_EQ_INT(feed(&g, 0, a, 2, &hopeless), 256);
  CHECK_EQ_INT(hopeless, 0);
  /* One more missing on top: too many, ask for a keyframe, forget them. */
  CHECK_EQ_INT(sfu_nack_gen_on_packet(&g, MS, 10 + 259), 1);
  CHECK_EQ_INT(sfu_nack_gen_missing(&g), 0);
  CHECK_EQ_INT(sfu_nack_gen_poll(&g, MS, 0, out, 300), 0);
  /* A single gap of 300: hopeless too. */
  CHECK_EQ_INT(sfu_nack_gen_on_packet(&g, 2 * MS, 10 + 259 + 301), 1);
  /* Old missing ones past 1 s make room instead. */
  sfu_nack_gen_init(&g);
  const uint16_t b[] = {0, 201};
  feed(&g, 0, b, 2, NULL);
  CHECK_EQ_INT(sfu_nack_gen_on_packet(&g, 1100 * MS, 302), 0);
  CHECK_EQ_INT(sfu_nack_gen_missing(&g), 100);
  /* cap: the rest stays due. */
  size_t n = sfu_nack_gen_poll(&g, 1100 * MS, 0, out, 60);
  CHECK_EQ_INT(n, 60);
  CHECK(out[0] == 202 && out[59] == 261);
  CHECK_EQ_INT(sfu_nack_gen_deadline(&g, 0), 1100 * MS);
  n = sfu_nack_gen_poll(&g, 1100 * MS, 0, out, 60);
  CHECK_EQ_INT(n, 40);
  CHECK(out[0] == 262 && out[39] == 301);
}

/* Random arrivals: the list stays bounded and ascending, polls come out ascending and
 * never name a seq that arrived. */
TEST(nack_random_invariants) {
  sfu_nack_gen_t g;
  sfu_nack_gen_init(&g);
  static uint8_t arrived[65536];
  memset(arrived, 0, sizeof arrived);
  uint16_t out[SFU_NACK_MAX_MISSING];
  uint64_t now = 0;
  uint16_t seq = 65000;
  srand(11);
  int bad = 0, nacked = 0;
  for (int i = 0; i < 100000; i++) {
    now += (uint64_t)(rand() % 4000);
    int r = rand() % 1000;
    uint16_t s = r < 950   ? (uint16_t)(seq + 1 + (rand() % 10 == 0 ? rand() % 5 : 0))
                 : r < 998 ? (uint16_t)(seq - rand() % 300)
                           : (uint16_t)rand();
    if (r < 950 || r >= 998) {
      /* Forget what arrived long ago in the new range (seq numbers get reused). */
      for (uint16_t x = (uint16_t)(seq + 1); x != (uint16_t)(s + 1); x++) arrived[x] = 0;
      seq = s;
    }
    arrived[s] = 1;
    sfu_nack_gen_on_packet(&g, now, s);
    if (g.n > SFU_NACK_MAX_MISSING) bad++;
    for (size_t k = 1; k < g.n; k++)
      if (g.missing[k - 1].ext >= g.missing[k].ext) bad++;
    if (rand() % 4 == 0) {
      size_t n =
          sfu_nack_gen_poll(&g, now, (uint64_t)(rand() % 200) * MS, out, 1 + (size_t)(rand() % 64));
      for (size_t k = 0; k < n; k++) {
        if (arrived[out[k]]) bad++;
        if (k && (int16_t)(uint16_t)(out[k] - out[k - 1]) <= 0) bad++;
      }
      nacked += (int)n;
    }
  }
  CHECK_EQ_INT(bad, 0);
  CHECK(nacked > 1000);
}

/* ---- rate meter ---------------------------------------------------------------------- */

TEST(rate_meter_bps_fps) {
  sfu_rate_meter_t m;
  sfu_rate_meter_init(&m, 1 * SEC);
  CHECK_EQ_INT(sfu_rate_meter_bps(&m, 0), 0);
  /* 1 Mbps: 100 packets of 1250 bytes a second; 25 frames a second (4 packets each). */
  uint64_t t = 7 * SEC;
  int k = 0;
  uint32_t bps_half = 0;
  for (; t < 10 * SEC; t += 10 * MS, k++) {
    sfu_rate_meter_add(&m, t, 1250, k % 4 == 0);
    if (t == 7 * SEC + 500 * MS) bps_half = sfu_rate_meter_bps(&m, t);
  }
  /* Half a second after the start: the rate so far, not half of it. */
  CHECK(bps_half > 950000 && bps_half < 1050000);
  uint32_t bps = sfu_rate_meter_bps(&m, t);
  CHECK(bps > 980000 && bps < 1020000);
  uint32_t fps = sfu_rate_meter_fps(&m, t);
  CHECK(fps >= 24 && fps <= 26);
  /* Stopped: 0 once the window has passed. */
  CHECK(sfu_rate_meter_bps(&m, t + 500 * MS) < 600000);
  CHECK_EQ_INT(sfu_rate_meter_bps(&m, t + 1100 * MS), 0);
  CHECK_EQ_INT(sfu_rate_meter_fps(&m, t + 1100 * MS), 0);
  /* Doubling the rate shows within the window. */
  for (t += 2 * SEC; k < 1000; t += 5 * MS, k++) sfu_rate_meter_add(&m, t, 1250, 0);
  bps = sfu_rate_meter_bps(&m, t);
  CHECK(bps > 1960000 && bps < 2040000);
}

/* The meter as it was before its sums were kept running (sum of the buckets per read, a
 * division per add): the kept sums and the inline add must give exactly its values. */
typedef struct {
  uint64_t bucket_us, cur, first_us;
  int started;
  uint32_t bytes[SFU_RATE_BUCKETS], frames[SFU_RATE_BUCKETS];
} ref_meter_t;

static void ref_advance(ref_meter_t *m, uint64_t now_us) {
  uint64_t b = now_us / m->bucket_us;
  if (b <= m->cur) return;
  if (b - m->cur >= SFU_RATE_BUCKETS) {
    memset(m->bytes, 0, sizeof m->bytes);
    memset(m->frames, 0, sizeof m->frames);
  } else {
    for (uint64_t i = m->cur + 1; i <= b; i++)
      m->bytes[i % SFU_RATE_BUCKETS] = m->frames[i % SFU_RATE_BUCKETS] = 0;
  }
  m->cur = b;
}

static void ref_add(ref_meter_t *m, uint64_t now_us, uint32_t bytes, int frame) {
  if (!m->started) {
    m->started = 1;
    m->first_us = now_us;
    m->cur = now_us / m->bucket_us;
  }
  ref_advance(m, now_us);
  size_t i = (size_t)(m->cur % SFU_RATE_BUCKETS);
  m->bytes[i] = bytes > UINT32_MAX - m->bytes[i] ? UINT32_MAX : m->bytes[i] + bytes;
  if (frame) m->frames[i]++;
}

static uint32_t ref_rate(ref_meter_t *m, uint64_t now_us, const uint32_t *v, uint64_t scale) {
  if (!m->started) return 0;
  ref_advance(m, now_us);
  uint64_t start =
      m->cur >= SFU_RATE_BUCKETS - 1 ? (m->cur - (SFU_RATE_BUCKETS - 1)) * m->bucket_us : 0;
  if (m->first_us > start) start = m->first_us;
  uint64_t span = now_us > start ? now_us - start : 0;
  if (span < m->bucket_us) span = m->bucket_us;
  uint64_t sum = 0;
  for (size_t i = 0; i < SFU_RATE_BUCKETS; i++) sum += v[i];
  uint64_t r = (sum * scale + span / 2) / span;
  return r > UINT32_MAX ? UINT32_MAX : (uint32_t)r;
}

/* Random adds and reads: mostly small steps, some time going back, jumps past the
 * window, huge sizes that saturate a bucket, reads between adds. */
TEST(rate_meter_same_as_summing_the_buckets) {
  srand(11);
  int bad = 0, reads = 0;
  for (int round = 0; round < 20; round++) {
    uint64_t window = round % 4 == 0 ? 1 * SEC : round % 4 == 1 ? 500 * MS : round % 4 == 2 ? 37 : 0;
    sfu_rate_meter_t m;
    sfu_rate_meter_init(&m, window);
    ref_meter_t r = {0};
    r.bucket_us = m.bucket_us;
    uint64_t t = (uint64_t)(rand() % 5) * SEC + (uint64_t)(rand() % 1000);
    for (int i = 0; i < 5000; i++) {
      int k = rand() % 100;
      if (k < 70) t += (uint64_t)(rand() % (int)(m.bucket_us / 4 + 2));
      else if (k < 80) t -= t > 200 * MS ? (uint64_t)(rand() % (int)(200 * MS)) : 0;
      else if (k < 85) t += (uint64_t)(rand() % (int)(3 * SEC));
      else t += m.bucket_us;
      uint32_t bytes = rand() % 50 == 0 ? UINT32_MAX - (uint32_t)(rand() % 3) : (uint32_t)(rand() % 1500);
      int frame = rand() % 4 == 0;
      if (rand() % 3) {
        sfu_rate_meter_add(&m, t, bytes, frame);
        ref_add(&r, t, bytes, frame);
      }
      if (rand() % 2) {
        uint64_t at = t + (uint64_t)(rand() % 3 == 0 ? rand() % (int)(2 * SEC) : 0);
        reads++;
        if (sfu_rate_meter_bps(&m, at) != ref_rate(&r, at, r.bytes, 8000000ull)) bad++;
        if (sfu_rate_meter_fps(&m, at) != ref_rate(&r, at, r.frames, 1000000ull)) bad++;
        if (at > t) t = at;
      }
    }
  }
  CHECK(reads > 40000);
  CHECK_EQ_INT(bad, 0);
}

/* ---- receiver statistics ------------------------------------------------------------- */

TEST(recv_jitter_steady_and_jittered) {
  sfu_recv_stats_t s;
  sfu_rtcp_rb_t rb;
  sfu_recv_stats_init(&s, 0x1234, 90000);
  /* 50 frames a second, on time: transit constant. */
  for (uint32_t i = 0; i < 500; i++)
    sfu_recv_stats_on_packet(&s, 3 * SEC + i * 20 * MS, (uint16_t)(100 + i), 777 + i * 1800);
  sfu_recv_stats_block(&s, 13 * SEC, &rb);
  CHECK_EQ_INT(rb.ssrc, 0x1234);
  CHECK_EQ_INT(rb.jitter, 0);
  /* Arrivals alternately on time and 5 ms late: |D| = 450 ticks, so J tends to 450. */
  sfu_recv_stats_init(&s, 0x1234, 90000);
  for (uint32_t i = 0; i < 500; i++) {
    uint64_t at = 3 * SEC + i * 20 * MS + (i % 2 ? 5 * MS : 0);
    sfu_recv_stats_on_packet(&s, at, (uint16_t)(100 + i), 777 + i * 1800);
  }
  sfu_recv_stats_block(&s, 13 * SEC, &rb);
  CHECK(rb.jitter > 420 && rb.jitter <= 450);
  /* Several packets of one frame (same timestamp) a little apart also count (A.8). */
  sfu_recv_stats_init(&s, 1, 90000);
  for (uint32_t i = 0; i < 300; i++)
    sfu_recv_stats_on_packet(&s, i * 2 * MS, (uint16_t)i, (i / 10) * 1800);
  sfu_recv_stats_block(&s, SEC, &rb);
  CHECK(rb.jitter > 0);
}

TEST(recv_loss_fraction_and_cumulative) {
  sfu_recv_stats_t s;
  sfu_rtcp_rb_t rb;
  sfu_recv_stats_init(&s, 42, 90000);
  /* 1 in 4 dropped, across the 16-bit wrap. */
  uint16_t seq = 65500;
  uint32_t got = 0;
  for (uint32_t i = 0; i < 400; i++, seq++) {
    if (i % 4 == 1) continue;
    sfu_recv_stats_on_packet(&s, i * MS, seq, i * 90);
    got++;
  }
  sfu_recv_stats_block(&s, 400 * MS, &rb);
  CHECK_EQ_INT(rb.fraction_lost, 64); /* 25% of 256 */
  CHECK_EQ_INT(rb.cumulative_lost, 100);
  CHECK_EQ_INT(rb.ext_highest_seq, 65536u + (uint16_t)(65500 + 399));
  CHECK_EQ_INT(got, 300);
  /* Next interval without loss: fraction 0, cumulative unchanged. */
  for (uint32_t i = 400; i < 500; i++, seq++) sfu_recv_stats_on_packet(&s, i * MS, seq, i * 90);
  sfu_recv_stats_block(&s, 500 * MS, &rb);
  CHECK_EQ_INT(rb.fraction_lost, 0);
  CHECK_EQ_INT(rb.cumulative_lost, 100);
  /* Reordered packets are no loss; a late one lowers the loss it had caused. */
  sfu_recv_stats_init(&s, 42, 90000);
  const uint16_t order[] = {10, 12, 11, 13, 15, 16};
  for (size_t i = 0; i < 6; i++) sfu_recv_stats_on_packet(&s, i * MS, order[i], (uint32_t)i * 90);
  sfu_recv_stats_block(&s, 10 * MS, &rb);
  CHECK_EQ_INT(rb.cumulative_lost, 1); /* 14 */
  CHECK_EQ_INT(rb.fraction_lost, 256 / 7);
  sfu_recv_stats_on_packet(&s, 11 * MS, 14, 999);
  sfu_recv_stats_block(&s, 12 * MS, &rb);
  CHECK_EQ_INT(rb.cumulative_lost, 0);
  CHECK_EQ_INT(rb.fraction_lost, 0); /* more received than expected in the interval */
  CHECK_EQ_INT(rb.ext_highest_seq, 16);
}

TEST(recv_seq_jump_resync) {
  sfu_recv_stats_t s;
  sfu_rtcp_rb_t rb;
  sfu_recv_stats_init(&s, 1, 90000);
  for (uint16_t i = 0; i < 10; i++) sfu_recv_stats_on_packet(&s, i * MS, i, i);
  /* One stray far-off packet is ignored (RFC 3550 A.1) ... */
  sfu_recv_stats_on_packet(&s, 10 * MS, 40000, 0);
  sfu_recv_stats_on_packet(&s, 11 * MS, 10, 10);
  sfu_recv_stats_block(&s, 12 * MS, &rb);
  CHECK_EQ_INT(rb.ext_highest_seq, 10);
  CHECK_EQ_INT(rb.cumulative_lost, 0);
  /* ... two sequential ones are a restart: counting starts over. */
  sfu_recv_stats_on_packet(&s, 13 * MS, 50000, 0);
  sfu_recv_stats_on_packet(&s, 14 * MS, 50001, 90);
  sfu_recv_stats_on_packet(&s, 15 * MS, 50003, 180);
  sfu_recv_stats_block(&s, 16 * MS, &rb);
  CHECK_EQ_INT(rb.ext_highest_seq, 50003);
  CHECK_EQ_INT(rb.cumulative_lost, 1);
}

TEST(recv_lsr_dlsr_and_rtt) {
  sfu_recv_stats_t s;
  sfu_rtcp_rb_t rb;
  sfu_recv_stats_init(&s, 9, 90000);
  sfu_recv_stats_block(&s, SEC, &rb);
  CHECK(rb.lsr == 0 && rb.dlsr == 0 && rb.ext_highest_seq == 0 && rb.ssrc == 9);
  uint64_t ntp = 0x83AA7E80ABCD1234ull;
  sfu_recv_stats_on_sr(&s, 2 * SEC, ntp);
  sfu_recv_stats_on_packet(&s, 2 * SEC, 1, 0);
  sfu_recv_stats_block(&s, 3500 * MS, &rb);
  CHECK_EQ_INT(rb.lsr, 0x7E80ABCDu);
  CHECK_EQ_INT(rb.dlsr, 98304); /* 1.5 s in 1/65536 s */

  /* NTP of Unix time. */
  CHECK_EQ_INT(sfu_ntp_from_us(0), SFU_NTP_UNIX_OFFSET << 32);
  CHECK_EQ_INT(sfu_ntp_from_us(1500000), ((SFU_NTP_UNIX_OFFSET + 1) << 32) | 0x80000000u);
  /* RTT = A - LSR - DLSR: our SR at T, the receiver held it 100 ms, its RR arrives at
   * T + 350 ms: 250 ms (to the compact NTP's 15 us resolution). */
  uint64_t T = 1700000000ull * SEC + 123456;
  sfu_rtcp_rb_t in = {0};
  in.lsr = (uint32_t)(sfu_ntp_from_us(T) >> 16);
  in.dlsr = (uint32_t)((100 * MS << 16) / SEC);
  uint64_t rtt = sfu_rtt_from_rb(T + 350 * MS, sfu_ntp_from_us(T + 350 * MS), &in);
  CHECK(rtt >= 250 * MS - 100 && rtt <= 250 * MS + 100);
  /* Across the compact NTP's 32-bit wrap (every 18 h). */
  uint64_t ntp_a = 0x1234FFFFF0000000ull, ntp_b = ntp_a + (1ull << 31); /* + 0.5 s */
  in.lsr = (uint32_t)(ntp_a >> 16);
  in.dlsr = 0;
  rtt = sfu_rtt_from_rb(0, ntp_b, &in);
  CHECK(rtt >= 500 * MS - 20 && rtt <= 500 * MS + 20);
  in.lsr = 0;
  CHECK_EQ_INT(sfu_rtt_from_rb(0, ntp_b, &in), 0);
  /* DLSR rounding a hair past A: a tiny RTT, not 0 ("unknown") nor 18 h. */
  in.lsr = (uint32_t)(ntp_b >> 16);
  in.dlsr = 1;
  CHECK_EQ_INT(sfu_rtt_from_rb(0, ntp_b, &in), 1);
  /* A block claiming a DLSR far beyond A is bogus. */
  in.dlsr = 65536;
  CHECK_EQ_INT(sfu_rtt_from_rb(0, ntp_b, &in), 0);
}

int main(void) {
  RUN(history_put_get_copy);
  RUN(history_duplicate_keeps_first);
  RUN(history_evicts_by_age);
  RUN(history_evicts_oldest_at_cap);
  RUN(history_seq_wrap);
  RUN(history_reordered_and_growth);
  RUN(history_lazy_slots_steady_memory);
  RUN(history_random_consistent);
  RUN(kf_first_need_sends_then_folds);
  RUN(kf_repeat_after_clamped_2rtt);
  RUN(kf_need_soon_after_keyframe_is_deferred);
  RUN(kf_viewer_throttle);
  RUN(nack_gap_once_per_rtt_and_reorder_removal);
  RUN(nack_gives_up_after_1s);
  RUN(nack_gives_up_after_10_tries_min_retry);
  RUN(nack_seq_wrap);
  RUN(nack_hopeless_and_cap);
  RUN(nack_random_invariants);
  RUN(rate_meter_bps_fps);
  RUN(rate_meter_same_as_summing_the_buckets);
  RUN(recv_jitter_steady_and_jittered);
  RUN(recv_loss_fraction_and_cumulative);
  RUN(recv_seq_jump_resync);
  RUN(recv_lsr_dlsr_and_rtt);
  return test_summary();
}
