/* Send-side bandwidth estimator (sfu/bwe.h) on a virtual clock through a tiny link model:
 * a sender (at the estimate, like an SFU with enough layers and padding, or at a fixed
 * rate) -> a bottleneck of capacity C with a drop-tail FIFO -> propagation delay (+
 * optional random jitter and random loss) -> a receiver on its own clock that sends
 * transport-cc feedback every 50 ms back over an uncongested path (optionally through the
 * real RTCP writer and parser). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sfu/bwe.h"
#include "sfu/rtcp.h"
#include "test.h"

#define MS 1000ull
#define SEC 1000000ull
#define PKT_BYTES 1200
#define MAXPKT 200000
#define FB_CAP 4096
/* The viewer's clock: its 24-bit transport-cc reference time (64 ms units) wraps 2 s into
 * every run. */
#define RX_CLOCK_OFFSET (1073741824000ll - 2000000ll)

typedef struct {
  uint64_t at; /* delivery to the sender */
  sfu_rtcp_twcc_t hdr;
  size_t n;
  sfu_rtcp_twcc_pkt_t pkts[FB_CAP];
} sim_fb_t;

typedef struct {
  sfu_bwe_t *bwe;
  uint64_t now;
  /* link */
  double cap_bps, loss;
  uint64_t prop_us, qmax_us, jitter_us;
  double link_free;
  uint64_t rng;
  /* sender */
  uint16_t seq0;
  uint32_t sent;
  double next_send;
  uint64_t fixed_bps;       /* 0: at the estimate */
  int cluster;              /* probe cluster of what is sent now */
  int64_t arrival[MAXPKT];  /* sim clock; -1 lost */
  uint8_t reported[MAXPKT]; /* 0 not yet, 1 reported lost, 2 reported received */
  /* receiver */
  uint32_t rx_next; /* every ext below was in some feedback */
  uint64_t next_fb;
  uint8_t fb_count;
  sim_fb_t fb[4];
  int fb_head, fb_n;
  /* delivery modes */
  int wire; /* through sfu_rtcp_write_twcc / sfu_rtcp_twcc_parse */
  int dup;  /* every feedback delivered twice */
  int swap; /* every pair delivered newer first */
  sim_fb_t held;
  int have_held;
  /* observations */
  uint64_t overuse_feedbacks;
} sim_t;

static double urand(sim_t *s) {
  s->rng ^= s->rng << 13, s->rng ^= s->rng >> 7, s->rng ^= s->rng << 17;
  return (double)(s->rng >> 11) / 9007199254740992.0;
}

static sim_t *sim_new(double cap_bps, uint64_t prop_us, const sfu_bwe_config_t *cfg) {
  sim_t *s = calloc(1, sizeof *s);
  s->bwe = sfu_bwe_new(cfg);
  s->cap_bps = cap_bps;
  s->prop_us = prop_us;
  s->qmax_us = 250 * MS;
  s->rng = 88172645463325252ull;
  s->seq0 = 65000; /* the transport-wide seq wraps within the first second */
  s->cluster = -1;
  s->next_fb = 50 * MS;
  sfu_bwe_on_rtt(s->bwe, 2 * prop_us + 10 * MS);
  return s;
}

static void sim_free(sim_t *s) {
  sfu_bwe_free(s->bwe);
  free(s);
}

static void send_one(sim_t *s, uint64_t t, size_t size) {
  if (s->sent >= MAXPKT) return;
  uint32_t ext = s->sent++;
  sfu_bwe_on_sent(s->bwe, (uint16_t)(s->seq0 + ext), t, size, s->cluster);
  s->arrival[ext] = -1;
  if (s->link_free < (double)t) s->link_free = (double)t;
  if (s->link_free - (double)t > (double)s->qmax_us) return; /* drop-tail */
  s->link_free += (double)size * 8e6 / s->cap_bps;
  if (s->loss > 0 && urand(s) < s->loss) return; /* random loss after the queue */
  double j = s->jitter_us ? urand(s) * (double)s->jitter_us : 0;
  s->arrival[ext] = (int64_t)(s->link_free + (double)s->prop_us + j);
}

static int arrived(const sim_t *s, uint32_t ext, uint64_t t) {
  return s->arrival[ext] >= 0 && (uint64_t)s->arrival[ext] <= t;
}

/* The receiver at time t: reports from the oldest packet that arrived after it was
 * reported lost (or the first never reported) up to the highest arrived. */
static void build_feedback(sim_t *s, uint64_t t) {
  if (s->fb_n == 4) return;
  uint32_t lo = s->rx_next, hi = UINT32_MAX;
  for (uint32_t e = s->rx_next; e < s->sent; e++)
    if (arrived(s, e, t)) hi = e;
  for (uint32_t e = s->rx_next > 500 ? s->rx_next - 500 : 0; e < s->rx_next; e++)
    if (s->reported[e] == 1 && arrived(s, e, t)) {
      lo = e;
      break;
    }
  if (hi == UINT32_MAX) {
    if (lo == s->rx_next) return;
    hi = s->rx_next - 1;
  }
  if (hi - lo + 1 > FB_CAP) lo = hi - FB_CAP + 1;
  sim_fb_t *f = &s->fb[(s->fb_head + s->fb_n++) % 4];
  f->at = t + s->prop_us;
  f->hdr.sender_ssrc = 1, f->hdr.media_ssrc = 2;
  f->hdr.base_seq = (uint16_t)(s->seq0 + lo);
  f->hdr.status_count = (uint16_t)(hi - lo + 1);
  f->hdr.fb_count = s->fb_count++;
  f->n = hi - lo + 1;
  int64_t prev_units = 0;
  int first = 1;
  for (uint32_t e = lo; e <= hi; e++) {
    sfu_rtcp_twcc_pkt_t *p = &f->pkts[e - lo];
    p->seq = (uint16_t)(s->seq0 + e);
    if (!arrived(s, e, t)) {
      p->status = SFU_TWCC_NOT_RECEIVED, p->delta = 0;
      if (!s->reported[e]) s->reported[e] = 1;
      continue;
    }
    int64_t rx = s->arrival[e] + RX_CLOCK_OFFSET;
    if (first) {
      first = 0;
      f->hdr.ref_time = (int32_t)((rx / 64000) & 0xffffff);
      prev_units = (rx / 64000) * 256;
    }
    int64_t units = (rx + 125) / 250;
    int64_t d = units - prev_units;
    prev_units = units;
    p->delta = (int32_t)d;
    p->status = d >= 0 && d <= 255 ? SFU_TWCC_SMALL_DELTA : SFU_TWCC_LARGE_DELTA;
    s->reported[e] = 2;
  }
  if (hi + 1 > s->rx_next) s->rx_next = hi + 1;
}

static void deliver_one(sim_t *s, sim_fb_t *f) {
  if (!s->wire) {
    sfu_bwe_on_feedback(s->bwe, s->now, &f->hdr, f->pkts, f->n);
  } else {
    static uint8_t buf[FB_CAP * 2 + 64];
    static sfu_rtcp_twcc_pkt_t parsed[FB_CAP];
    int len = sfu_rtcp_write_twcc(buf, sizeof buf, &f->hdr, f->pkts, f->n);
    if (len <= 0) return;
    sfu_rtcp_iter_t it;
    sfu_rtcp_pkt_t pkt;
    sfu_rtcp_fb_t fb;
    sfu_rtcp_twcc_t hdr;
    size_t n = 0;
    sfu_rtcp_iter_init(&it, buf, (size_t)len);
    if (sfu_rtcp_iter_next(&it, &pkt) != 1 || sfu_rtcp_fb_parse(&pkt, &fb) != 0 ||
        sfu_rtcp_twcc_parse(&fb, &hdr, parsed, FB_CAP, &n) != 0)
      return;
    sfu_bwe_on_feedback(s->bwe, s->now, &hdr, parsed, n);
  }
  sfu_bwe_stats_t st;
  sfu_bwe_stats(s->bwe, &st);
  if (st.state == 1) s->overuse_feedbacks++;
}

static void deliver(sim_t *s, sim_fb_t *f) {
  if (s->swap) {
    if (!s->have_held) {
      s->held = *f;
      s->have_held = 1;
      return;
    }
    deliver_one(s, f);
    deliver_one(s, &s->held);
    s->have_held = 0;
    return;
  }
  deliver_one(s, f);
  if (s->dup) deliver_one(s, f);
}

/* Runs the virtual clock to `until` in 1 ms steps. */
static void sim_run(sim_t *s, uint64_t until) {
  for (; s->now < until; s->now += MS) {
    uint64_t rate = s->fixed_bps ? s->fixed_bps : sfu_bwe_estimate(s->bwe);
    if (s->next_send < (double)s->now) s->next_send = (double)s->now;
    while (s->next_send < (double)(s->now + MS)) {
      send_one(s, (uint64_t)s->next_send, PKT_BYTES);
      s->next_send += PKT_BYTES * 8e6 / (double)rate;
    }
    if (s->now >= s->next_fb) {
      build_feedback(s, s->now);
      s->next_fb += 50 * MS;
    }
    while (s->fb_n && s->fb[s->fb_head].at <= s->now) {
      deliver(s, &s->fb[s->fb_head]);
      s->fb_head = (s->fb_head + 1) % 4;
      s->fb_n--;
    }
  }
}

/* Runs to `until`, tracking the estimate's range from `from` on. */
static void sim_run_range(sim_t *s, uint64_t from, uint64_t until, uint64_t *lo, uint64_t *hi) {
  *lo = UINT64_MAX, *hi = 0;
  sim_run(s, from);
  while (s->now < until) {
    sim_run(s, s->now + 10 * MS);
    uint64_t e = sfu_bwe_estimate(s->bwe);
    if (e < *lo) *lo = e;
    if (e > *hi) *hi = e;
  }
}

/* Time (from now) until the estimate first exceeds `bps`, 0 if not by `until`. */
static uint64_t sim_time_to(sim_t *s, uint64_t bps, uint64_t until) {
  uint64_t start = s->now;
  while (s->now < until) {
    sim_run(s, s->now + 10 * MS);
    if (sfu_bwe_estimate(s->bwe) > bps) return s->now - start;
  }
  return 0;
}

static void print_stats(const char *what, sim_t *s) {
  sfu_bwe_stats_t st;
  sfu_bwe_stats(s->bwe, &st);
  printf(
      "  %-28s t=%5.1fs est=%7.0fk delay=%7.0fk loss=%7.0fk acked=%7.0fk loss_ratio=%.3f "
      "fb=%llu acked=%llu lost=%llu overuse-fb=%llu\n",
      what, (double)s->now / 1e6, st.estimate_bps / 1e3, st.delay_bps / 1e3, st.loss_bps / 1e3,
      st.acked_bps / 1e3, st.loss_ratio, (unsigned long long)st.feedbacks,
      (unsigned long long)st.packets_acked, (unsigned long long)st.packets_lost,
      (unsigned long long)s->overuse_feedbacks);
}

/* --- cases ----------------------------------------------------------------------------- */

TEST(defaults_and_remb_only) {
  sfu_bwe_t *b = sfu_bwe_new(NULL);
  REQUIRE(b);
  CHECK_EQ_INT(sfu_bwe_estimate(b), 300000); /* start */
  sfu_bwe_on_remb(b, 1000, 1234567);
  CHECK_EQ_INT(sfu_bwe_estimate(b), 1234567); /* REMB-only: the REMB */
  sfu_bwe_on_remb(b, 2000, 10);
  CHECK_EQ_INT(sfu_bwe_estimate(b), 30000); /* clamped to min */
  sfu_bwe_on_remb(b, 3000, 1ull << 40);
  CHECK_EQ_INT(sfu_bwe_estimate(b), 20000000); /* and max */
  sfu_bwe_stats_t st;
  sfu_bwe_stats(b, &st);
  CHECK_EQ_INT(st.remb_bps, 1ull << 40);
  CHECK_EQ_INT(st.feedbacks, 0);
  CHECK_EQ_INT(sfu_bwe_probe_result(b, 3), 0);
  CHECK_EQ_INT(sfu_bwe_probe_result(b, -1), 0);
  sfu_bwe_free(b);
  sfu_bwe_config_t c = {.start_bps = 5, .min_bps = 100000, .max_bps = 50};
  b = sfu_bwe_new(&c);
  CHECK_EQ_INT(sfu_bwe_estimate(b), 100000); /* max < min: max = min */
  sfu_bwe_free(b);
}

/* With transport-cc, a REMB only caps. */
TEST(remb_caps_twcc_estimate) {
  sim_t *s = sim_new(3e6, 20 * MS, NULL);
  sim_run(s, 5 * SEC);
  CHECK(sfu_bwe_estimate(s->bwe) > 300000);
  sfu_bwe_on_remb(s->bwe, s->now, 200000);
  CHECK_EQ_INT(sfu_bwe_estimate(s->bwe), 200000);
  sfu_bwe_on_remb(s->bwe, s->now, 100000000);
  sim_run(s, 6 * SEC);
  CHECK(sfu_bwe_estimate(s->bwe) > 300000);
  sim_free(s);
}

/* 300 kbps bottleneck: the estimate settles below the capacity and stays near it. */
TEST(converges_to_300k) {
  sim_t *s = sim_new(300e3, 20 * MS, NULL);
  s->wire = 1; /* through the real RTCP writer and parser */
  uint64_t lo, hi;
  sim_run_range(s, 5 * SEC, 60 * SEC, &lo, &hi);
  print_stats("300k: 5..60 s", s);
  printf("  300k: estimate range over 5..60 s: %.0fk..%.0fk\n", lo / 1e3, hi / 1e3);
  CHECK(lo >= 200000);
  CHECK(hi <= 330000);
  sfu_bwe_stats_t st;
  sfu_bwe_stats(s->bwe, &st);
  CHECK(st.feedbacks > 1000); /* 20 per second */
  CHECK(st.acked_bps > 200000 && st.acked_bps <= 320000);
  sim_free(s);
}

/* Starting far too high (3 Mbps into 300 kbps): overuse brings it down within 5 s, and
 * it stays near the capacity. */
TEST(converges_from_above) {
  sfu_bwe_config_t c = {.start_bps = 3000000};
  sim_t *s = sim_new(300e3, 20 * MS, &c);
  uint64_t t = 0;
  while (s->now < 10 * SEC && !t) {
    sim_run(s, s->now + 10 * MS);
    if (sfu_bwe_estimate(s->bwe) <= 300000) t = s->now;
  }
  uint64_t lo, hi;
  sim_run_range(s, 5 * SEC, 30 * SEC, &lo, &hi);
  printf("  3M start into 300k: <= 300k after %.2f s; range over 5..30 s: %.0fk..%.0fk\n", t / 1e6,
         lo / 1e3, hi / 1e3);
  CHECK(t > 0 && t <= 5 * SEC);
  CHECK(lo >= 200000);
  CHECK(hi <= 340000);
  sim_free(s);
}

/* A sudden cap (1.5 Mbps -> 250 kbps, the sender at the estimate, so ~80 % is lost at
 * first): the estimate is under the cap within 1 s (a heavily lossy window closes at
 * once and the loss bound goes to 90 % of what was delivered), and does not collapse
 * under it (the losses of packets sent before that cut do not cut again): a viewer
 * capped like this keeps its lowest layer instead of being paused. */
TEST(sudden_cap_cut_once_to_delivered) {
  sim_t *s = sim_new(1.5e6, 20 * MS, NULL);
  sim_run(s, 40 * SEC);
  uint64_t before = sfu_bwe_estimate(s->bwe);
  s->cap_bps = 250e3;
  uint64_t t0 = s->now, t = 0;
  while (s->now < t0 + 3 * SEC && !t) {
    sim_run(s, s->now + 10 * MS);
    if (sfu_bwe_estimate(s->bwe) <= 275000) t = s->now - t0;
  }
  uint64_t lo, hi;
  sim_run_range(s, s->now, t0 + 5 * SEC, &lo, &hi);
  printf("  1.5M -> 250k: from %.0fk, under 275k after %.2f s; then %.0fk..%.0fk\n", before / 1e3,
         t / 1e6, lo / 1e3, hi / 1e3);
  CHECK(t > 0 && t <= 1 * SEC);
  CHECK(lo >= 150000);
  sim_free(s);
}

/* The capacity raised from 300 kbps to 3 Mbps: AIMD grows the estimate (additive near
 * the old congestion point, multiplicative 8 %/s once well past it). Without probing
 * this is slow: measured ~26 s to pass 2 Mbps. */
TEST(grows_after_capacity_raise) {
  sim_t *s = sim_new(300e3, 20 * MS, NULL);
  sim_run(s, 30 * SEC);
  uint64_t before = sfu_bwe_estimate(s->bwe);
  s->cap_bps = 3e6;
  uint64_t t1m = sim_time_to(s, 1000000, 90 * SEC);
  uint64_t t2m = sim_time_to(s, 2000000, 90 * SEC);
  print_stats("raised to 3M", s);
  printf("  300k -> 3M: from %.0fk: > 1M after %.1f s, > 2M after %.1f s more\n", before / 1e3,
         t1m / 1e6, t2m / 1e6);
  CHECK(t1m > 0 && t1m <= 20 * SEC);
  CHECK(t2m > 0 && t1m + t2m <= 35 * SEC);
  uint64_t lo, hi;
  sim_run_range(s, s->now, s->now + 30 * SEC, &lo, &hi);
  printf("  at 3M, next 30 s: %.0fk..%.0fk\n", lo / 1e3, hi / 1e3);
  CHECK(hi <= 3300000); /* does not run away above the capacity */
  CHECK(lo >= 1800000);
  sim_free(s);
}

/* Mean estimate over [from, until), sampled every 10 ms. */
static double sim_run_mean(sim_t *s, uint64_t until, uint64_t *lo) {
  double sum = 0;
  int n = 0;
  *lo = UINT64_MAX;
  while (s->now < until) {
    sim_run(s, s->now + 10 * MS);
    uint64_t e = sfu_bwe_estimate(s->bwe);
    sum += (double)e, n++;
    if (e < *lo) *lo = e;
  }
  return n ? sum / n : 0;
}

/* 5 % random loss at a 1.5 Mbps bottleneck: the loss bound holds (2..10 %) rather than
 * cuts; the estimate stays close to a loss-free twin's. */
TEST(loss_5_percent_holds) {
  sim_t *s = sim_new(1.5e6, 20 * MS, NULL), *clean = sim_new(1.5e6, 20 * MS, NULL);
  sim_run(s, 40 * SEC);
  sim_run(clean, 40 * SEC);
  uint64_t before = sfu_bwe_estimate(s->bwe), lo, lo_clean;
  s->loss = 0.05;
  double mean = sim_run_mean(s, 100 * SEC, &lo);
  double mean_clean = sim_run_mean(clean, 100 * SEC, &lo_clean);
  sfu_bwe_stats_t st;
  sfu_bwe_stats(s->bwe, &st);
  print_stats("1.5M with 5% loss", s);
  printf(
      "  5%% loss: before %.0fk; 40..100 s mean %.0fk (loss-free twin %.0fk), min %.0fk "
      "(twin %.0fk)\n",
      before / 1e3, mean / 1e3, mean_clean / 1e3, lo / 1e3, lo_clean / 1e3);
  CHECK(mean >= 0.85 * mean_clean);
  CHECK(lo >= before * 7 / 10);
  CHECK(st.packets_lost > 0);
  CHECK(st.loss_ratio > 0.01 && st.loss_ratio < 0.12);
  sim_free(s);
  sim_free(clean);
}

/* 20 % loss: the bound cuts the estimate. */
TEST(loss_20_percent_cuts) {
  sim_t *s = sim_new(1.5e6, 20 * MS, NULL);
  sim_run(s, 40 * SEC);
  uint64_t before = sfu_bwe_estimate(s->bwe);
  s->loss = 0.20;
  sim_run(s, s->now + 10 * SEC);
  sfu_bwe_stats_t st;
  sfu_bwe_stats(s->bwe, &st);
  print_stats("1.5M with 20% loss", s);
  printf("  20%% loss: %.0fk -> %.0fk after 10 s\n", before / 1e3, st.estimate_bps / 1e3);
  CHECK(st.estimate_bps < before / 2);
  CHECK(st.loss_bps < st.delay_bps); /* it is the loss bound that limits */
  CHECK(st.loss_ratio > 0.12);
  /* loss gone: it recovers */
  s->loss = 0;
  sim_run(s, s->now + 20 * SEC);
  print_stats("loss gone +20 s", s);
  CHECK(sfu_bwe_estimate(s->bwe) > st.estimate_bps * 2);
  sim_free(s);
}

/* Jitter (0..10 ms random per packet, reordering included) without congestion: a sender
 * at a fixed 1 Mbps over a 10 Mbps link keeps an estimate above what it sends. */
TEST(jitter_no_overuse_collapse) {
  sim_t *s = sim_new(10e6, 20 * MS, NULL);
  s->jitter_us = 10 * MS;
  s->fixed_bps = 1000000;
  uint64_t lo, hi;
  sim_run_range(s, 25 * SEC, 60 * SEC, &lo, &hi);
  print_stats("jitter 0-10 ms, 1M sent", s);
  printf("  jitter: estimate over 25..60 s: %.0fk..%.0fk\n", lo / 1e3, hi / 1e3);
  CHECK(lo >= 1000000);
  CHECK(hi <= 1600000); /* 1.5 x acknowledged + 10 kbps */
  sfu_bwe_stats_t st;
  sfu_bwe_stats(s->bwe, &st);
  CHECK(st.packets_lost < st.packets_acked / 100); /* late ones are not loss */
  sim_free(s);
}

/* The same jitter with the sender at the estimate over 50 Mbps (never reached): the
 * estimate grows on, no sharp drop along the way. */
TEST(jitter_growth) {
  sim_t *s = sim_new(50e6, 20 * MS, NULL);
  s->jitter_us = 10 * MS;
  uint64_t peak = 0, worst = 100;
  while (s->now < 40 * SEC) {
    sim_run(s, s->now + 10 * MS);
    uint64_t e = sfu_bwe_estimate(s->bwe);
    if (e > peak) peak = e;
    if (e * 100 / peak < worst) worst = e * 100 / peak;
  }
  print_stats("jitter 0-10 ms, at estimate", s);
  printf(
      "  jitter, sending at the estimate: %.0fk after 40 s, lowest %llu %% of the peak "
      "so far\n",
      sfu_bwe_estimate(s->bwe) / 1e3, (unsigned long long)worst);
  CHECK(sfu_bwe_estimate(s->bwe) > 2000000);
  CHECK(worst >= 85);
  sim_free(s);
}

/* Every feedback delivered twice: exactly the same as once (repeats change nothing). */
TEST(duplicated_feedback_is_noop) {
  sim_t *a = sim_new(500e3, 20 * MS, NULL);
  sim_t *b = sim_new(500e3, 20 * MS, NULL);
  b->dup = 1;
  sim_run(a, 20 * SEC);
  sim_run(b, 20 * SEC);
  sfu_bwe_stats_t sa, sb;
  sfu_bwe_stats(a->bwe, &sa);
  sfu_bwe_stats(b->bwe, &sb);
  CHECK_EQ_INT(sa.estimate_bps, sb.estimate_bps);
  CHECK_EQ_INT(sa.feedbacks, sb.feedbacks);
  CHECK_EQ_INT(sa.packets_acked, sb.packets_acked);
  sim_free(a);
  sim_free(b);
}

/* Feedback pairs arriving newer first: the estimate still converges. */
TEST(reordered_feedback) {
  sim_t *s = sim_new(500e3, 20 * MS, NULL);
  s->swap = 1;
  uint64_t lo, hi;
  sim_run_range(s, 10 * SEC, 40 * SEC, &lo, &hi);
  print_stats("500k, feedback pairs swapped", s);
  printf("  swapped feedback: estimate over 10..40 s: %.0fk..%.0fk\n", lo / 1e3, hi / 1e3);
  CHECK(lo >= 300000);
  CHECK(hi <= 560000);
  sim_free(s);
}

static void feedback_all(sfu_bwe_t *b, uint64_t now, uint16_t base, size_t n, int received) {
  sfu_rtcp_twcc_pkt_t p[16];
  sfu_rtcp_twcc_t h = {.base_seq = base, .status_count = (uint16_t)n, .ref_time = 100};
  for (size_t i = 0; i < n; i++) {
    p[i].seq = (uint16_t)(base + i);
    p[i].status = received ? SFU_TWCC_SMALL_DELTA : SFU_TWCC_NOT_RECEIVED;
    p[i].delta = received ? 4 : 0;
  }
  sfu_bwe_on_feedback(b, now, &h, p, n);
}

/* Lost then received (late or repeated feedback) counts as received; a repeat changes
 * nothing; a record older than SFU_BWE_MAX_FEEDBACK_AGE_US or overwritten by a send
 * SFU_BWE_SEND_RING seqs later is not matched. */
TEST(send_records) {
  sfu_bwe_t *b = sfu_bwe_new(NULL);
  sfu_bwe_stats_t st;
  for (int i = 0; i < 10; i++) sfu_bwe_on_sent(b, (uint16_t)(65530 + i), 1000 + i * 1000, 1200, -1);
  feedback_all(b, 50000, 65530, 10, 0);
  sfu_bwe_stats(b, &st);
  CHECK_EQ_INT(st.packets_lost, 10);
  CHECK_EQ_INT(st.feedbacks, 1);
  feedback_all(b, 60000, 65530, 10, 1);
  sfu_bwe_stats(b, &st);
  CHECK_EQ_INT(st.packets_lost, 0);
  CHECK_EQ_INT(st.packets_acked, 10);
  CHECK_EQ_INT(st.feedbacks, 2);
  feedback_all(b, 70000, 65530, 10, 1); /* repeat */
  feedback_all(b, 70000, 65530, 10, 0); /* stale "lost" after received */
  sfu_bwe_stats(b, &st);
  CHECK_EQ_INT(st.packets_acked, 10);
  CHECK_EQ_INT(st.packets_lost, 0);
  CHECK_EQ_INT(st.feedbacks, 2);
  /* too old */
  for (int i = 0; i < 10; i++) sfu_bwe_on_sent(b, (uint16_t)(100 + i), 100000, 1200, -1);
  feedback_all(b, 100000 + SFU_BWE_MAX_FEEDBACK_AGE_US + 1, 100, 10, 1);
  sfu_bwe_stats(b, &st);
  CHECK_EQ_INT(st.packets_acked, 10);
  CHECK_EQ_INT(st.feedbacks, 2);
  /* overwritten: seq 200 + SFU_BWE_SEND_RING takes 200's slot */
  sfu_bwe_on_sent(b, 200, 200000, 1200, -1);
  sfu_bwe_on_sent(b, 200 + SFU_BWE_SEND_RING, 200001, 1200, -1);
  feedback_all(b, 250000, 200, 1, 1);
  sfu_bwe_stats(b, &st);
  CHECK_EQ_INT(st.packets_acked, 10);
  feedback_all(b, 250000, 200 + SFU_BWE_SEND_RING, 1, 1);
  sfu_bwe_stats(b, &st);
  CHECK_EQ_INT(st.packets_acked, 11);
  sfu_bwe_free(b);
}

/* Garbage: random seqs, statuses, deltas, reference times, counts up to 65535, never-sent
 * seqs, interleaved with real sends. Nothing crashes, the estimate stays in range and the
 * counters never exceed what was sent. */
TEST(garbage_feedback) {
  static sfu_rtcp_twcc_pkt_t pkts[65535];
  sfu_bwe_config_t c = {.start_bps = 300000, .min_bps = 30000, .max_bps = 20000000};
  sfu_bwe_t *b = sfu_bwe_new(&c);
  uint64_t rng = 12345, now = 10 * SEC, sent = 0;
  for (int round = 0; round < 300; round++) {
    for (int i = 0; i < 50; i++) {
      rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
      sfu_bwe_on_sent(b, (uint16_t)(sent), now + (uint64_t)i * 100, rng % 2000,
                      (int)(rng >> 40) % 40 - 20);
      sent++;
    }
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    size_t n = round % 50 == 0 ? 65535 : rng % 300;
    sfu_rtcp_twcc_t h = {.base_seq = (uint16_t)(rng >> 16),
                         .ref_time = (int32_t)(rng >> 20),
                         .status_count = (uint16_t)n};
    for (size_t i = 0; i < n; i++) {
      rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
      pkts[i].seq = (rng & 1) ? (uint16_t)(h.base_seq + i) : (uint16_t)(rng >> 8);
      pkts[i].status = (uint8_t)((rng >> 24) % 4);
      pkts[i].delta = (int32_t)((rng >> 32) % 70000) - 35000;
    }
    now += 50 * MS;
    if (round % 7 == 3) sfu_bwe_on_feedback(b, now - 5 * SEC, &h, pkts, n); /* stale clock */
    sfu_bwe_on_feedback(b, now, &h, pkts, n);
    sfu_bwe_on_feedback(b, now, &h, NULL, 0);
    sfu_bwe_on_feedback(b, now, NULL, pkts, n);
    uint64_t e = sfu_bwe_estimate(b);
    CHECK(e >= 30000 && e <= 20000000);
    for (int id = -2; id < 22; id++) sfu_bwe_probe_result(b, id);
  }
  sfu_bwe_stats_t st;
  sfu_bwe_stats(b, &st);
  CHECK(st.packets_acked + st.packets_lost <= sent);
  CHECK(st.packets_acked > 0); /* some garbage did hit real records */
  printf("  garbage: est=%.0fk acked=%llu lost=%llu fb=%llu\n", st.estimate_bps / 1e3,
         (unsigned long long)st.packets_acked, (unsigned long long)st.packets_lost,
         (unsigned long long)st.feedbacks);
  sfu_bwe_free(b);
}

/* A probe cluster of 25 x 1200 B at 2 Mbps (120 ms) on an idle link. */
static uint64_t probe_through(double cap_bps, uint64_t *estimate_after) {
  sim_t *s = sim_new(cap_bps, 20 * MS, NULL);
  s->fixed_bps = 2000000;
  s->cluster = 7;
  sim_run(s, 120 * MS); /* 25 packets */
  s->cluster = -1;
  s->fixed_bps = 30000; /* then (almost) nothing */
  sim_run(s, 150 * MS);
  uint64_t early = sfu_bwe_probe_result(s->bwe, 7);
  sim_run(s, 1 * SEC);
  uint64_t r = sfu_bwe_probe_result(s->bwe, 7);
  *estimate_after = sfu_bwe_estimate(s->bwe);
  printf("  probe 2M through %.0fk: %.0fk (at 150 ms: %.0fk), estimate %.0fk\n", cap_bps / 1e3,
         r / 1e3, early / 1e3, *estimate_after / 1e3);
  CHECK_EQ_INT(sfu_bwe_probe_result(s->bwe, 8), 0);
  sim_free(s);
  return r;
}

TEST(probe_measures_rate) {
  uint64_t est;
  uint64_t r = probe_through(3e6, &est);
  CHECK(r >= 1800000 && r <= 2200000);
  CHECK(est >= r * 9 / 10); /* the probe raised the estimate */
  r = probe_through(1e6, &est);
  CHECK(r >= 850000 && r <= 1050000);
  CHECK(est >= r * 9 / 10 && est <= 1100000);
}

/* A probe below the estimate does not lower it. */
TEST(probe_below_estimate_ignored) {
  sfu_bwe_config_t c = {.start_bps = 3000000};
  sim_t *s = sim_new(10e6, 20 * MS, &c);
  s->fixed_bps = 500000;
  s->cluster = 1;
  sim_run(s, 200 * MS);
  s->cluster = -1;
  sim_run(s, 1 * SEC);
  uint64_t r = sfu_bwe_probe_result(s->bwe, 1);
  CHECK(r >= 450000 && r <= 550000);
  CHECK(sfu_bwe_estimate(s->bwe) > 1000000);
  sim_free(s);
}

/* A token-bucket shaper in front of a 250 kbit/s link (tc htb, burst 2,000 B): a cluster
 * of 20 x 300 B sent at 1.2 Mbit/s onto the idle link has its first 7 packets (its
 * bucket) arrive at once, the rest 9.5 ms apart. Read from the first 10 packets reported
 * (a partial cluster) it was 1 Mbit/s; over the whole cluster 369 kbit/s; its tail reads
 * the shaper's rate (test_chromium_video.py case 4: 350 kbit/s and 1 Mbit/s through
 * 250 kbit/s, and a layer the link could not carry). */
TEST(probe_through_a_shaper_burst) {
  sfu_bwe_t *b = sfu_bwe_new(NULL);
  uint64_t t0 = 1 * SEC;
  sfu_bwe_probe_expect(b, 3, t0, 5, 6000);
  for (int i = 0; i < 20; i++) sfu_bwe_on_sent(b, (uint16_t)(100 + i), t0 + (uint64_t)i * 2000, 300, 3);
  sfu_rtcp_twcc_pkt_t p[20];
  for (int i = 0; i < 20; i++) {
    p[i].seq = (uint16_t)(100 + i);
    p[i].status = SFU_TWCC_SMALL_DELTA;
    p[i].delta = i == 0 ? 0 : i < 7 ? 0 : 38; /* x 250 us */
  }
  sfu_rtcp_twcc_t h = {.base_seq = 100, .status_count = 10, .ref_time = 20};
  sfu_bwe_on_feedback(b, t0 + 60 * MS, &h, p, 10); /* the first 10: 3,000 B */
  CHECK_EQ_INT(sfu_bwe_probe_result(b, 3), 0);        /* under 80 % of the cluster */
  uint64_t e1 = sfu_bwe_estimate(b);
  CHECK(e1 < 400000); /* not raised by the partial read */
  sfu_rtcp_twcc_t h2 = {.base_seq = 110, .status_count = 10, .ref_time = 21, .fb_count = 1};
  int64_t at10 = 20 * 64000 + 3 * 38 * 250; /* the first 10's last arrival, from ref 20 */
  p[10].delta = (int16_t)((at10 + 38 * 250 - 21 * 64000) / 250);
  sfu_bwe_on_feedback(b, t0 + 200 * MS, &h2, p + 10, 10);
  sfu_bwe_probe_info_t pi;
  REQUIRE(sfu_bwe_probe_info(b, 3, &pi) == 0);
  uint64_t r = sfu_bwe_probe_result(b, 3);
  printf("  estimate %llu after the partial read; received %u pkts over %llu us: %llu bps "
         "read, result %llu\n", (unsigned long long)e1, pi.received,
         (unsigned long long)pi.recv_span_us, (unsigned long long)pi.recv_bps,
         (unsigned long long)r);
  CHECK_EQ_INT(pi.received, 20);
  CHECK(r > 200000 && r <= 260000);
  CHECK(sfu_bwe_estimate(b) < 400000);
  sfu_bwe_free(b);
}

int main(void) {
  RUN(defaults_and_remb_only);
  RUN(remb_caps_twcc_estimate);
  RUN(converges_to_300k);
  RUN(converges_from_above);
  RUN(grows_after_capacity_raise);
  RUN(sudden_cap_cut_once_to_delivered);
  RUN(loss_5_percent_holds);
  RUN(loss_20_percent_cuts);
  RUN(jitter_no_overuse_collapse);
  RUN(jitter_growth);
  RUN(duplicated_feedback_is_noop);
  RUN(send_records);
  RUN(reordered_feedback);
  RUN(garbage_feedback);
  RUN(probe_measures_rate);
  RUN(probe_below_estimate_ignored);
  RUN(probe_through_a_shaper_burst);
  return test_summary();
}
