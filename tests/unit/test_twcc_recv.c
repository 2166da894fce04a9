/* Receive-side transport-wide-cc feedback (src/proto/twcc_recv.c), on an injected clock.
 *
 * Every feedback it builds is parsed back with the RTCP parser (rtcp.h) and checked
 * against a model of what was fed: each sequence number reported once, received or
 * not-received as fed, and the arrival time rebuilt from the reference time and the
 * deltas equal to the fed arrival rounded down to 250 us (draft-holmer-...-01 §3.1).
 * Cases: in-order, losses, reordering (negative deltas), wrap-around at 65535, deltas
 * beyond 16 bits (split into two feedbacks), bursts beyond the per-feedback limit and
 * the window, late and duplicate packets, output size bound, random garbage. */
#include <stdlib.h>
#include <string.h>

#include "sfu/err.h"
#include "sfu/rtcp.h"
#include "sfu/twcc_recv.h"
#include "test.h"

#define MS 1000ull
#define SEC_US 1000000ull
#define FB_LATEST (SFU_TWCC_FB_INTERVAL_US + SFU_TWCC_FB_GRACE_US) /* the timer's deadline */
#define SENDER 0x5ee0c0deu
#define MEDIA 0x11223344u
/* 20-byte header + 2 bytes of delta and at most 2 bits of status per entry, padded. */
#define FB_BOUND (20 + SFU_TWCC_MAX_PER_FB * 2 + (SFU_TWCC_MAX_PER_FB + 6) / 7 * 2 + 4)

/* What the test fed, by unwrapped sequence number (fed_seq starts at BASE_U). */
#define MODEL_N 70000
typedef struct {
  uint64_t at[MODEL_N];  /* arrival (first one) */
  uint8_t fed[MODEL_N];  /* 1 = received */
  uint8_t reported[MODEL_N]; /* 1 = reported received, 2 = reported lost */
  int64_t base_u;        /* unwrapped number of model index 0 */
  int feedbacks;
  int lost_reports, recv_reports;
  int errors;            /* parse failures or mismatches */
  int last_fb_count;
  size_t max_len;
} model_t;

static model_t g_m;
static sfu_twcc_recv_t g_r;

static void model_reset(int64_t base_u) {
  memset(&g_m, 0, sizeof g_m);
  g_m.base_u = base_u;
  g_m.last_fb_count = -1;
  sfu_twcc_recv_init(&g_r, 5);
}

/* idx: unwrapped offset from base_u (may exceed 65535: the sequence wraps). */
static void feed(int64_t idx, uint64_t at) {
  sfu_twcc_recv_packet(&g_r, (uint16_t)(g_m.base_u + idx), MEDIA, at);
  if (idx >= 0 && idx < MODEL_N && !g_m.fed[idx]) {
    g_m.fed[idx] = 1;
    g_m.at[idx] = at;
  }
}

/* Parses one feedback and checks it against the model. Entries are matched to model
 * indexes by their 16-bit sequence number, nearest to `hint` (the previous report). */
static int64_t g_hint;
static void check_feedback(const uint8_t *buf, int len) {
  sfu_rtcp_iter_t it;
  sfu_rtcp_pkt_t pkt;
  sfu_rtcp_fb_t fb;
  static sfu_rtcp_twcc_pkt_t pk[70000];
  sfu_rtcp_twcc_t h;
  size_t n = 0;
  sfu_rtcp_iter_init(&it, buf, (size_t)len);
  if (sfu_rtcp_iter_next(&it, &pkt) != 1 || sfu_rtcp_fb_parse(&pkt, &fb) != 0 ||
      sfu_rtcp_twcc_parse(&fb, &h, pk, 70000, &n) != 0 || sfu_rtcp_iter_next(&it, &pkt) != 0) {
    g_m.errors++;
    fprintf(stderr, "feedback %d does not parse\n", g_m.feedbacks);
    return;
  }
  g_m.feedbacks++;
  if ((size_t)len > g_m.max_len) g_m.max_len = (size_t)len;
  if (h.sender_ssrc != SENDER || h.media_ssrc != MEDIA || n == 0 || n > SFU_TWCC_MAX_PER_FB)
    g_m.errors++;
  if (g_m.last_fb_count >= 0 && h.fb_count != (uint8_t)(g_m.last_fb_count + 1)) g_m.errors++;
  g_m.last_fb_count = h.fb_count;
  if (pk[n - 1].status == SFU_TWCC_NOT_RECEIVED)
    g_m.errors++; /* trailing losses carry nothing: they wait for the next feedback */
  /* Map base_seq to the model index nearest the hint. */
  int64_t idx = g_hint + (int16_t)(uint16_t)(h.base_seq - (uint16_t)(g_m.base_u + g_hint));
  int64_t t = (int64_t)h.ref_time * SFU_TWCC_REF_TIME_US;
  for (size_t i = 0; i < n; i++, idx++) {
    if (idx < 0 || idx >= MODEL_N || pk[i].seq != (uint16_t)(h.base_seq + i)) {
      g_m.errors++;
      fprintf(stderr, "entry %zu out of the model (idx %lld)\n", i, (long long)idx);
      return;
    }
    if (g_m.reported[idx]) {
      g_m.errors++;
      fprintf(stderr, "seq idx %lld reported twice\n", (long long)idx);
    }
    if (pk[i].status == SFU_TWCC_NOT_RECEIVED) {
      g_m.reported[idx] = 2;
      g_m.lost_reports++;
      if (g_m.fed[idx]) {
        g_m.errors++;
        fprintf(stderr, "idx %lld fed but reported lost\n", (long long)idx);
      }
      continue;
    }
    g_m.reported[idx] = 1;
    g_m.recv_reports++;
    t += (int64_t)pk[i].delta * SFU_TWCC_DELTA_US;
    int64_t want = (int64_t)(g_m.at[idx] / SFU_TWCC_DELTA_US * SFU_TWCC_DELTA_US);
    if (!g_m.fed[idx] || t != want) {
      g_m.errors++;
      fprintf(stderr, "idx %lld: fed %d, rebuilt %lld us, fed at %lld us\n", (long long)idx,
              g_m.fed[idx], (long long)t, (long long)want);
    }
    if ((pk[i].delta >= 0 && pk[i].delta <= 255) != (pk[i].status == SFU_TWCC_SMALL_DELTA))
      g_m.errors++;
  }
  g_hint = idx;
}

/* Fires the feedback timer as a loop would (at each deadline, up to `until`). */
static void run_until(uint64_t until) {
  uint8_t buf[1500];
  for (int guard = 0; guard < 10000; guard++) {
    uint64_t d = sfu_twcc_recv_deadline(&g_r);
    if (d > until) return;
    int len = sfu_twcc_recv_build(&g_r, d, SENDER, buf, sizeof buf);
    if (len < 0) {
      g_m.errors++;
      return;
    }
    if (len > 0) check_feedback(buf, len);
  }
  g_m.errors++; /* the deadline never moved */
}

TEST(in_order_one_feedback_per_interval) {
  model_reset(100);
  g_hint = 0;
  uint64_t t0 = 1000 * MS;
  CHECK_EQ_INT(sfu_twcc_recv_deadline(&g_r), UINT64_MAX);
  CHECK_EQ_INT(sfu_twcc_recv_due(&g_r), UINT64_MAX);
  for (int i = 0; i < 20; i++) feed(i, t0 + (uint64_t)i * MS);
  /* Due an interval after the first arrival; the timer only a grace period later. */
  CHECK_EQ_INT(sfu_twcc_recv_due(&g_r), t0 + SFU_TWCC_FB_INTERVAL_US);
  CHECK_EQ_INT(sfu_twcc_recv_deadline(&g_r), t0 + SFU_TWCC_FB_INTERVAL_US + SFU_TWCC_FB_GRACE_US);
  uint8_t buf[1500];
  /* Not before the interval is up. */
  CHECK_EQ_INT(sfu_twcc_recv_build(&g_r, t0 + 49 * MS, SENDER, buf, sizeof buf), 0);
  int len = sfu_twcc_recv_build(&g_r, t0 + 50 * MS, SENDER, buf, sizeof buf);
  REQUIRE(len > 0);
  CHECK_EQ_INT(len % 4, 0);
  check_feedback(buf, len);
  CHECK_EQ_INT(g_m.feedbacks, 1);
  CHECK_EQ_INT(g_m.recv_reports, 20);
  CHECK_EQ_INT(g_m.lost_reports, 0);
  CHECK_EQ_INT(g_m.errors, 0);
  CHECK_EQ_INT(g_r.feedbacks_sent, 1);
  /* Nothing new: no deadline, nothing built. */
  CHECK_EQ_INT(sfu_twcc_recv_deadline(&g_r), UINT64_MAX);
  CHECK_EQ_INT(sfu_twcc_recv_build(&g_r, t0 + 200 * MS, SENDER, buf, sizeof buf), 0);
  /* The next arrivals: a second feedback, fb_count 1, starting where the first ended. */
  for (int i = 20; i < 30; i++) feed(i, t0 + 100 * MS + (uint64_t)i * MS);
  CHECK_EQ_INT(sfu_twcc_recv_due(&g_r), t0 + 120 * MS + SFU_TWCC_FB_INTERVAL_US);
  run_until(t0 + SFU_TWCC_FB_INTERVAL_US * 10);
  CHECK_EQ_INT(g_m.feedbacks, 2);
  CHECK_EQ_INT(g_m.last_fb_count, 1);
  CHECK_EQ_INT(g_m.recv_reports, 30);
  CHECK_EQ_INT(g_m.errors, 0);
}

TEST(losses_reported_not_received) {
  model_reset(1000);
  g_hint = 0;
  uint64_t t = 5000 * MS;
  int fed = 0;
  for (int i = 0; i < 59; i++) {
    t += 3 * MS + (uint64_t)(i % 5) * 77; /* not a multiple of 250 us: rounding checked */
    if (i % 3 == 1 || (i >= 30 && i < 40)) continue; /* every third, and a burst of 10 */
    feed(i, t);
    fed++;
  }
  run_until(t + FB_LATEST);
  CHECK_EQ_INT(g_m.errors, 0);
  CHECK_EQ_INT(g_m.recv_reports, fed);
  CHECK_EQ_INT(g_m.recv_reports + g_m.lost_reports, 58); /* 0..57; 58 lost (trailing) */
  for (int i = 0; i < 58; i++)
    CHECK_EQ_INT(g_m.reported[i], (i % 3 == 1 || (i >= 30 && i < 40)) ? 2 : 1);
  CHECK_EQ_INT(g_m.reported[58], 0);
  /* The trailing loss is reported with the next feedback, once 59 arrives. */
  feed(59, t + 10 * MS);
  run_until(t + 10 * MS + FB_LATEST);
  CHECK_EQ_INT(g_m.reported[58], 2);
  CHECK_EQ_INT(g_m.reported[59], 1);
  CHECK_EQ_INT(g_m.errors, 0);
}

TEST(first_packets_lost_feedback_starts_at_first_received) {
  model_reset(0);
  feed(5, 100 * MS); /* 0..4 never arrive: base is the first one seen */
  feed(7, 101 * MS);
  g_hint = 5;
  run_until(200 * MS);
  CHECK_EQ_INT(g_m.feedbacks, 1);
  CHECK_EQ_INT(g_m.reported[5], 1);
  CHECK_EQ_INT(g_m.reported[6], 2);
  CHECK_EQ_INT(g_m.reported[7], 1);
  CHECK_EQ_INT(g_m.errors, 0);
}

TEST(reordering_negative_deltas) {
  model_reset(40000);
  g_hint = 0;
  uint64_t t = 7 * 1000 * MS;
  /* Pairs swapped: 1,0,3,2,...; a few held back by 20 ms, the very first one included
   * (it arrives before any feedback: still reported). */
  for (int i = 0; i < 40; i += 2) {
    feed(i + 1, t);
    t += 2 * MS;
    if (i % 10 == 0) continue; /* held: arrives later */
    feed(i, t);
    t += 2 * MS;
  }
  for (int i = 0; i < 40; i += 10) feed(i, t + 20 * MS + (uint64_t)i);
  run_until(t + 30 * MS + FB_LATEST);
  CHECK_EQ_INT(g_m.errors, 0);
  CHECK_EQ_INT(g_m.recv_reports, 40);
  CHECK_EQ_INT(g_m.lost_reports, 0);
}

TEST(reordered_across_a_feedback_is_not_reported_twice) {
  model_reset(10);
  g_hint = 0;
  feed(0, 1000 * MS);
  feed(2, 1001 * MS); /* 1 is late */
  run_until(1100 * MS);
  CHECK_EQ_INT(g_m.reported[1], 2);
  /* 1 arrives after its range was reported: dropped, no new feedback is armed. */
  feed(1, 1200 * MS);
  CHECK_EQ_INT(sfu_twcc_recv_deadline(&g_r), UINT64_MAX);
  /* A duplicate of a reported one is ignored too. */
  feed(2, 1201 * MS);
  CHECK_EQ_INT(sfu_twcc_recv_deadline(&g_r), UINT64_MAX);
  feed(3, 1300 * MS);
  run_until(1400 * MS);
  CHECK_EQ_INT(g_m.reported[3], 1);
  CHECK_EQ_INT(g_m.feedbacks, 2);
  CHECK_EQ_INT(g_m.errors, 0);
}

TEST(wraps_at_65535) {
  model_reset(65530);
  g_hint = 0;
  uint64_t t = 3000 * MS;
  for (int i = 0; i < 14; i++) {
    if (i == 6) continue; /* 65536 = seq 0 lost */
    feed(i, t + (uint64_t)i * 1500);
  }
  /* A reordered one from before the wrap, after the wrap. */
  uint8_t buf[1500];
  run_until(t + 100 * MS);
  CHECK_EQ_INT(g_m.feedbacks, 1);
  CHECK_EQ_INT(g_m.recv_reports, 13);
  CHECK_EQ_INT(g_m.lost_reports, 1);
  CHECK_EQ_INT(g_m.reported[6], 2);
  CHECK_EQ_INT(g_m.errors, 0);
  /* Keeps going across many wraps. */
  model_reset(65000);
  g_hint = 0;
  t = 10 * 1000 * MS;
  for (int i = 0; i < 3 * 65536; i++) {
    t += 100;
    sfu_twcc_recv_packet(&g_r, (uint16_t)(65000 + i), MEDIA, t);
    if (t >= sfu_twcc_recv_deadline(&g_r)) {
      int len = sfu_twcc_recv_build(&g_r, t, SENDER, buf, sizeof buf);
      CHECK(len > 0 && len <= (int)FB_BOUND);
      if (len <= 0) break;
    }
  }
  CHECK(g_r.max_seq == 65000 + 3 * 65536 - 1);
  CHECK(g_r.next_seq > g_r.max_seq - SFU_TWCC_WINDOW);
}

TEST(large_delta_splits_the_feedback) {
  model_reset(500);
  g_hint = 0;
  uint64_t t = 1000 * MS;
  feed(0, t);
  feed(1, t + 1 * MS);
  feed(2, t + 1 * MS + 9000 * MS); /* 36000 ticks: beyond a signed 16-bit delta */
  feed(3, t + 1 * MS + 9001 * MS);
  feed(4, t + 1 * MS + 9001 * MS + 5000 * MS); /* 20000 ticks: fits, large symbol */
  uint8_t buf[1500];
  int len = sfu_twcc_recv_build(&g_r, t + 20000 * MS, SENDER, buf, sizeof buf);
  REQUIRE(len > 0);
  check_feedback(buf, len);
  CHECK_EQ_INT(g_m.feedbacks, 1);
  CHECK_EQ_INT(g_m.recv_reports, 2);
  /* The rest is due at once, in a second feedback with its own reference time. */
  CHECK_EQ_INT(sfu_twcc_recv_due(&g_r), t + 20000 * MS);
  CHECK_EQ_INT(sfu_twcc_recv_deadline(&g_r), t + 20000 * MS);
  run_until(t + 20000 * MS);
  CHECK_EQ_INT(g_m.feedbacks, 2);
  CHECK_EQ_INT(g_m.recv_reports, 5);
  CHECK_EQ_INT(g_m.errors, 0);
  CHECK_EQ_INT(sfu_twcc_recv_deadline(&g_r), UINT64_MAX);
}

TEST(burst_beyond_limits_bounded) {
  /* 3000 packets in 30 ms: more than the window (1024) and than one feedback (512). */
  model_reset(20);
  uint64_t t = 1000 * MS;
  for (int i = 0; i < 3000; i++) {
    if (i % 17 == 3) continue;
    feed(i, t + (uint64_t)i * 10);
  }
  g_hint = 3000 - SFU_TWCC_WINDOW;
  run_until(t + 200 * MS);
  CHECK_EQ_INT(g_m.errors, 0);
  CHECK(g_m.feedbacks >= 2);
  CHECK(g_m.max_len <= FB_BOUND);
  CHECK(g_m.max_len <= 1200); /* fits a datagram with SRTCP and IP overhead */
  /* Only the newest window is reported; all of it. */
  int reported = 0;
  for (int i = 0; i < 3000; i++) {
    if (g_m.reported[i]) reported++;
    if (i < 3000 - SFU_TWCC_WINDOW) CHECK(!g_m.reported[i]);
  }
  CHECK_EQ_INT(reported, SFU_TWCC_WINDOW);
  /* A too-small buffer is an error, not an overrun. */
  model_reset(0);
  for (int i = 0; i < 100; i++) feed(i, t + (uint64_t)i * 10);
  uint8_t small[16];
  CHECK(sfu_twcc_recv_build(&g_r, t + 100 * MS, SENDER, small, sizeof small) < 0);
}

/* Issue 6: feedback rides on arrivals. Audio every 20 ms, built as the transport does
 * (at each arrival once due): the timer deadline is never reached while packets flow,
 * every packet is reported, feedbacks 50-70 ms apart. When the stream stops, the timer
 * sends the rest, interval + grace after the last feedback. */
TEST(steady_stream_never_needs_the_timer) {
  model_reset(7);
  g_hint = 0;
  uint8_t buf[1500];
  uint64_t t = 5000 * MS, last_fb = 0;
  int timer_needed = 0, gaps_ok = 1;
  for (int i = 0; i < 500; i++, t += 20 * MS) {
    if (sfu_twcc_recv_deadline(&g_r) <= t) timer_needed++; /* a loop would have woken */
    feed(i, t);
    if (t < sfu_twcc_recv_due(&g_r)) continue;
    int len = sfu_twcc_recv_build(&g_r, t, SENDER, buf, sizeof buf);
    REQUIRE(len > 0);
    check_feedback(buf, len);
    if (last_fb &&
        (t - last_fb < SFU_TWCC_FB_INTERVAL_US || t - last_fb > SFU_TWCC_FB_INTERVAL_US + 20 * MS))
      gaps_ok = 0;
    last_fb = t;
    CHECK_EQ_INT(sfu_twcc_recv_due(&g_r), UINT64_MAX); /* nothing pending after it */
  }
  CHECK_EQ_INT(timer_needed, 0);
  CHECK(gaps_ok);
  CHECK(g_m.feedbacks >= 500 * 20 / 70); /* every 60 ms: 50 rounded up to the spacing */
  /* The stream stops: what the last feedback did not cover goes out at the deadline. */
  REQUIRE(last_fb + 20 * MS < t); /* (500 packets end between two feedbacks) */
  CHECK_EQ_INT(sfu_twcc_recv_deadline(&g_r),
               last_fb + SFU_TWCC_FB_INTERVAL_US + SFU_TWCC_FB_GRACE_US);
  run_until(t + SEC_US);
  CHECK_EQ_INT(g_m.recv_reports, 500);
  CHECK_EQ_INT(g_m.lost_reports, 0);
  CHECK_EQ_INT(g_m.errors, 0);
  CHECK_EQ_INT(sfu_twcc_recv_deadline(&g_r), UINT64_MAX);
}

TEST(garbage_sequences_never_break_output) {
  uint8_t buf[1500];
  uint64_t seed = 0x9e3779b97f4a7c15ull;
  for (int round = 0; round < 20; round++) {
    sfu_twcc_recv_init(&g_r, 3);
    uint64_t t = (uint64_t)round * 977 * MS;
    int errors = 0, built = 0;
    for (int i = 0; i < 5000; i++) {
      seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
      t += seed % (round % 2 ? 20 * MS : 300); /* sometimes long silences */
      sfu_twcc_recv_packet(&g_r, (uint16_t)(seed >> 20), (uint32_t)seed, t);
      if (t >= sfu_twcc_recv_deadline(&g_r)) {
        int len = sfu_twcc_recv_build(&g_r, t, SENDER, buf, sizeof buf);
        if (len < 0 || len > (int)FB_BOUND) errors++;
        if (len <= 0) continue;
        built++;
        sfu_rtcp_iter_t it;
        sfu_rtcp_pkt_t pkt;
        sfu_rtcp_fb_t fb;
        static sfu_rtcp_twcc_pkt_t pk[SFU_TWCC_MAX_PER_FB];
        sfu_rtcp_twcc_t h;
        size_t n;
        sfu_rtcp_iter_init(&it, buf, (size_t)len);
        if (sfu_rtcp_iter_next(&it, &pkt) != 1 || sfu_rtcp_fb_parse(&pkt, &fb) != 0 ||
            sfu_rtcp_twcc_parse(&fb, &h, pk, SFU_TWCC_MAX_PER_FB, &n) != 0 || n == 0)
          errors++;
      }
      CHECK(g_r.max_seq - g_r.next_seq < SFU_TWCC_WINDOW);
    }
    CHECK_EQ_INT(errors, 0);
    CHECK(built > 0);
  }
}

int main(void) {
  RUN(in_order_one_feedback_per_interval);
  RUN(losses_reported_not_received);
  RUN(first_packets_lost_feedback_starts_at_first_received);
  RUN(reordering_negative_deltas);
  RUN(reordered_across_a_feedback_is_not_reported_twice);
  RUN(wraps_at_65535);
  RUN(large_delta_splits_the_feedback);
  RUN(burst_beyond_limits_bounded);
  RUN(steady_stream_never_needs_the_timer);
  RUN(garbage_sequences_never_break_output);
  return test_summary();
}
