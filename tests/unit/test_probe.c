/* Probe controller and cluster filling (src/media/probe.c) on a virtual clock: when a
 * probe starts, its size, the backoff after failures, the reset after a success or a new
 * cap, and the pacing of a cluster's filling. */
#include <stdint.h>
#include <string.h>

#include "sfu/probe.h"
#include "test.h"

#define MS 1000ull
#define SEC 1000000ull
#define T0 (7 * SEC)

/* No probe while the estimate covers the want, or nothing more is wanted. */
TEST(no_probe_when_covered) {
  sfu_probe_t p;
  sfu_probe_init(&p);
  sfu_probe_cluster_t c;
  CHECK_EQ_INT(sfu_probe_poll(&p, T0, 2000000, 1500000, &c), 0);
  CHECK_EQ_INT(sfu_probe_poll(&p, T0, 1500000, 1500000, &c), 0);
  CHECK_EQ_INT(sfu_probe_poll(&p, T0, 1600000, 0, &c), 0);
  CHECK_EQ_INT(p.clusters, 0);
  /* Below: a probe. */
  CHECK_EQ_INT(sfu_probe_poll(&p, T0, 1499999, 1500000, &c), 1);
}

/* Below the want: a cluster at 1.2 x want, ~20 ms of it and >= 5 packets; none while it
 * is in flight. */
TEST(probe_at_120_percent) {
  sfu_probe_t p;
  sfu_probe_init(&p);
  sfu_probe_cluster_t c;
  REQUIRE(sfu_probe_poll(&p, T0, 300000, 500000, &c) == 1);
  CHECK(c.id > 0);
  CHECK_EQ_INT(c.target_bps, 600000);
  CHECK_EQ_INT(c.goal_bps, 500000);
  CHECK_EQ_INT(c.min_bytes, 1500); /* 600 kbps x 20 ms */
  CHECK_EQ_INT(c.min_packets, 5);
  CHECK_EQ_INT(c.duration_us, 20 * MS);
  CHECK_EQ_INT(sfu_probe_poll(&p, T0 + 10 * MS, 300000, 500000, &c), 0);
  CHECK_EQ_INT(sfu_probe_next_deadline(&p), T0 + SFU_PROBE_RESULT_TIMEOUT_US);
  CHECK_EQ_INT(p.clusters, 1);
}

/* A viewer whose streams are all paused still wants its lowest layers: it gets probes,
 * small ones (never below SFU_PROBE_MIN_BYTES, stretched in time). */
TEST(paused_viewer_gets_probes) {
  sfu_probe_t p;
  sfu_probe_init(&p);
  sfu_probe_cluster_t c;
  REQUIRE(sfu_probe_poll(&p, T0, 50000, 150000, &c) == 1);
  CHECK_EQ_INT(c.target_bps, 180000);
  CHECK_EQ_INT(c.min_bytes, SFU_PROBE_MIN_BYTES);
  CHECK_EQ_INT(c.duration_us, SFU_PROBE_MIN_BYTES * 8 * SEC / 180000);
  /* No estimate at all yet (0) is "below" too. */
  sfu_probe_init(&p);
  CHECK_EQ_INT(sfu_probe_poll(&p, T0, 0, 150000, &c), 1);
}

/* Runs a failing probe at the first time poll allows one, at or after `from` (searching
 * in 1 ms steps); returns when it started. */
static uint64_t fail_one(sfu_probe_t *p, uint64_t from, uint64_t est, uint64_t want) {
  sfu_probe_cluster_t c;
  uint64_t t = from;
  uint64_t next = sfu_probe_next_deadline(p);
  if (next > t) {
    /* Just before the deadline: nothing. */
    CHECK_EQ_INT(sfu_probe_poll(p, next - 1, est, want, &c), 0);
    t = next;
  }
  if (sfu_probe_poll(p, t, est, want, &c) != 1) {
    CHECK(0);
    return t;
  }
  sfu_probe_on_result(p, t + 100 * MS, c.id, est); /* the link carries no more */
  return t;
}

/* Failure backoff: 3 s, 4.5 s, 6.75 s, ... x 1.5 each, capped at 5 minutes; counted from
 * the failed result. */
TEST(failure_backoff) {
  sfu_probe_t p;
  sfu_probe_init(&p);
  uint64_t start = fail_one(&p, T0, 300000, 500000);
  uint64_t expect = 3 * SEC;
  for (int i = 0; i < 20; i++) {
    uint64_t result_at = start + 100 * MS;
    CHECK_EQ_INT(sfu_probe_next_deadline(&p), result_at + expect);
    CHECK_EQ_INT(p.failures, i + 1);
    start = fail_one(&p, result_at, 300000, 500000);
    CHECK_EQ_INT(start, result_at + expect);
    expect = expect * 3 / 2;
    if (expect > SFU_PROBE_MAX_BACKOFF_US) expect = SFU_PROBE_MAX_BACKOFF_US;
  }
  CHECK_EQ_INT(p.backoff_us, SFU_PROBE_MAX_BACKOFF_US);
  CHECK_EQ_INT(p.failed, 21);
  CHECK_EQ_INT(p.successes, 0);
}

/* Success resets the backoff: the next probe only waits the minimum interval, and the
 * next failure waits 3 s again. A success is reaching the goal (want), not the target. */
TEST(success_resets) {
  sfu_probe_t p;
  sfu_probe_init(&p);
  uint64_t t = fail_one(&p, T0, 300000, 500000);
  t = fail_one(&p, t, 300000, 500000);
  t = fail_one(&p, t, 300000, 500000);
  CHECK_EQ_INT(p.failures, 3);
  t = sfu_probe_next_deadline(&p);
  sfu_probe_cluster_t c;
  REQUIRE(sfu_probe_poll(&p, t, 300000, 500000, &c) == 1);
  sfu_probe_on_result(&p, t + 80 * MS, c.id, 510000); /* < target, >= goal */
  CHECK_EQ_INT(p.failures, 0);
  CHECK_EQ_INT(p.successes, 1);
  CHECK_EQ_INT(p.last_result_bps, 510000);
  CHECK_EQ_INT(sfu_probe_next_deadline(&p), t + SFU_PROBE_MIN_INTERVAL_US);
  /* The estimator took the result: est covers want, no probe. The allocator upgraded: the
   * next upgrade wants 1.5 Mbps: a probe after the minimum interval. */
  CHECK_EQ_INT(sfu_probe_poll(&p, t + 200 * MS, 510000, 500000, &c), 0);
  CHECK_EQ_INT(sfu_probe_poll(&p, t + 500 * MS, 510000, 1500000, &c), 0);
  REQUIRE(sfu_probe_poll(&p, t + SEC, 510000, 1500000, &c) == 1);
  CHECK_EQ_INT(c.target_bps, 1800000);
  sfu_probe_on_result(&p, t + SEC + 90 * MS, c.id, 900000);
  CHECK_EQ_INT(sfu_probe_next_deadline(&p), t + SEC + 90 * MS + 3 * SEC);
  CHECK_EQ_INT(p.failures, 1);
}

/* No result at all (feedback lost) is a failure once SFU_PROBE_RESULT_TIMEOUT_US passed;
 * a late result, or one for another cluster, is ignored. */
TEST(timeout_is_failure) {
  sfu_probe_t p;
  sfu_probe_init(&p);
  sfu_probe_cluster_t c;
  REQUIRE(sfu_probe_poll(&p, T0, 300000, 500000, &c) == 1);
  sfu_probe_on_result(&p, T0 + 50 * MS, c.id + 1, 900000); /* not ours */
  CHECK_EQ_INT(p.in_flight, 1);
  CHECK_EQ_INT(sfu_probe_poll(&p, T0 + SFU_PROBE_RESULT_TIMEOUT_US - 1, 300000, 500000, &c), 0);
  CHECK_EQ_INT(p.in_flight, 1);
  int id = c.id;
  CHECK_EQ_INT(sfu_probe_poll(&p, T0 + SFU_PROBE_RESULT_TIMEOUT_US, 300000, 500000, &c), 0);
  CHECK_EQ_INT(p.in_flight, 0);
  CHECK_EQ_INT(p.timeouts, 1);
  CHECK_EQ_INT(p.failures, 1);
  CHECK_EQ_INT(sfu_probe_next_deadline(&p), T0 + SFU_PROBE_RESULT_TIMEOUT_US + 3 * SEC);
  sfu_probe_on_result(&p, T0 + 3 * SEC, id, 900000); /* too late */
  CHECK_EQ_INT(p.successes, 0);
  CHECK_EQ_INT(p.failures, 1);
}

/* Recovery: probes failing against a steady ceiling grew the backoff to minutes; then the
 * estimate falls to a new cap (below 66% of its peak). The backoff restarts: a probe 3 s
 * after the drop (not into the fresh cap at once), and when the cap has lifted by then,
 * it succeeds and the climb goes on. */
TEST(recovery_probe_after_cap) {
  sfu_probe_t p;
  sfu_probe_init(&p);
  uint64_t t = T0;
  for (int i = 0; i < 12; i++) t = fail_one(&p, t, 2000000, 2500000);
  CHECK(p.backoff_us > 60 * SEC);
  t += SEC; /* a second after the last failure, well inside the backoff */
  sfu_probe_cluster_t c;
  /* Small dips are not a cap. */
  CHECK_EQ_INT(sfu_probe_poll(&p, t, 1400000, 2500000, &c), 0);
  CHECK(p.backoff_us > 60 * SEC);
  CHECK_EQ_INT(p.caps, 0);
  /* The cap: 2 Mbps -> 300 kbps; the allocator downgrades and wants 500 kbps. */
  CHECK_EQ_INT(sfu_probe_poll(&p, t, 300000, 500000, &c), 0);
  CHECK_EQ_INT(p.caps, 1);
  CHECK_EQ_INT(p.failures, 0);
  CHECK_EQ_INT(sfu_probe_next_deadline(&p), t + SFU_PROBE_BACKOFF_US);
  CHECK_EQ_INT(sfu_probe_poll(&p, t + 2 * SEC, 300000, 500000, &c), 0);
  /* Still capped at the first probe: it fails, 3 s more (not minutes). */
  uint64_t s = fail_one(&p, t + 2 * SEC, 300000, 500000);
  CHECK_EQ_INT(s, t + SFU_PROBE_BACKOFF_US);
  CHECK_EQ_INT(sfu_probe_next_deadline(&p), s + 100 * MS + 3 * SEC);
  /* The cap lifted: the next probe proves 500 kbps. */
  uint64_t u = sfu_probe_next_deadline(&p);
  REQUIRE(sfu_probe_poll(&p, u, 300000, 500000, &c) == 1);
  sfu_probe_on_result(&p, u + 60 * MS, c.id, 600000);
  CHECK_EQ_INT(p.successes, 1);
  CHECK_EQ_INT(p.failures, 0);
  /* The estimate climbing back is no cap. */
  CHECK_EQ_INT(sfu_probe_poll(&p, u + SEC, 600000, 1500000, &c), 1);
  CHECK_EQ_INT(p.caps, 1);
}

/* Owner side of a cluster: calls the helper at its times, sends `pkt_len` packets while
 * bytes are due. Returns the packets; checks the pacing: never more than one piece plus
 * one packet ahead of the target rate. */
static size_t fill(const sfu_probe_cluster_t *c, size_t pkt_len, uint64_t *last_at,
                   size_t *bytes_out, int *ahead) {
  size_t sent = 0, packets = 0;
  uint64_t now = T0;
  uint64_t slice = c->duration_us / c->min_packets;
  for (int guard = 0; guard < 10000; guard++) {
    size_t due;
    uint64_t next;
    if (!sfu_probe_cluster_next(c, T0, sent, packets, now, &due, &next)) break;
    size_t goal = sent + due;
    while (due > 0 && sent < goal) {
      /* bits before this packet vs bits the rate allows one piece ahead */
      if ((uint64_t)sent * 8 * SEC > c->target_bps * (now - T0 + slice)) *ahead = 1;
      sent += pkt_len;
      packets++;
      *last_at = now;
    }
    if (next <= now) {
      *ahead = 2;
      break;
    }
    now = next;
  }
  *bytes_out = sent;
  return packets;
}

/* Filling: >= 5 packets, >= min_bytes, at the target rate over about the duration, with
 * padding (small packets) or RTX copies (large ones: the cluster stretches in time, the
 * rate stays). */
TEST(cluster_fill) {
  sfu_probe_t p;
  sfu_probe_init(&p);
  sfu_probe_cluster_t c;
  REQUIRE(sfu_probe_poll(&p, T0, 1000000, 2500000, &c) == 1); /* 3 Mbps, 7,500 bytes */
  CHECK_EQ_INT(c.min_bytes, 7500);
  uint64_t last = 0;
  size_t bytes = 0;
  int ahead = 0;
  size_t n = fill(&c, 255, &last, &bytes, &ahead); /* padding */
  CHECK_EQ_INT(ahead, 0);
  CHECK(n >= 5);
  CHECK(bytes >= c.min_bytes && bytes < c.min_bytes + 255);
  CHECK(last - T0 >= c.duration_us * 6 / 10 && last - T0 <= c.duration_us);
  /* The whole cluster's rate, first to last packet, is about the target. */
  CHECK((uint64_t)(bytes - 255) * 8 * SEC / (last - T0) >= c.target_bps * 8 / 10);
  CHECK((uint64_t)(bytes - 255) * 8 * SEC / (last - T0) <= c.target_bps * 13 / 10);
  /* RTX copies of 1,200-byte packets at 600 kbps: the bytes are there after 2, the
   * packets only after 5, spaced at the rate (16 ms per packet). */
  sfu_probe_init(&p);
  REQUIRE(sfu_probe_poll(&p, T0, 300000, 500000, &c) == 1);
  ahead = 0;
  n = fill(&c, 1200, &last, &bytes, &ahead);
  CHECK_EQ_INT(ahead, 0);
  CHECK_EQ_INT(n, 5);
  CHECK(last - T0 >= 60 * MS && last - T0 <= 70 * MS);
  /* Tiny packets: min_bytes needs more than 5. */
  ahead = 0;
  n = fill(&c, 100, &last, &bytes, &ahead);
  CHECK_EQ_INT(ahead, 0);
  CHECK_EQ_INT(n, 15);
  /* Done: 0; past SFU_PROBE_CLUSTER_MAX_US: 0; before its start: as at its start. */
  size_t due = 1;
  CHECK_EQ_INT(sfu_probe_cluster_next(&c, T0, 1500, 5, T0 + MS, &due, NULL), 0);
  CHECK_EQ_INT(due, 0);
  CHECK_EQ_INT(sfu_probe_cluster_next(&c, T0, 0, 0, T0 + SFU_PROBE_CLUSTER_MAX_US + 1, &due, NULL), 0);
  CHECK_EQ_INT(sfu_probe_cluster_next(&c, T0, 0, 0, T0 - SEC, &due, NULL), 1);
  CHECK_EQ_INT(due, c.target_bps * (c.duration_us / 5) / (8 * SEC));
  sfu_probe_cluster_t zero = {0};
  CHECK_EQ_INT(sfu_probe_cluster_next(&zero, T0, 0, 0, T0, &due, NULL), 0);
}

/* Cluster ids are distinct and positive. */
TEST(cluster_ids) {
  sfu_probe_t p;
  sfu_probe_init(&p);
  sfu_probe_cluster_t c;
  int prev = 0;
  uint64_t t = T0;
  for (int i = 0; i < 5; i++) {
    REQUIRE(sfu_probe_poll(&p, t, 300000, 500000, &c) == 1);
    CHECK(c.id > prev);
    prev = c.id;
    sfu_probe_on_result(&p, t + 50 * MS, c.id, 600000);
    t += SFU_PROBE_MIN_INTERVAL_US;
  }
}

int main(void) {
  RUN(no_probe_when_covered);
  RUN(probe_at_120_percent);
  RUN(paused_viewer_gets_probes);
  RUN(failure_backoff);
  RUN(success_resets);
  RUN(timeout_is_failure);
  RUN(recovery_probe_after_cap);
  RUN(cluster_fill);
  RUN(cluster_ids);
  return test_summary();
}
