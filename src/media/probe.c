/* Probe controller and cluster filling (see sfu/probe.h). */
#include "sfu/probe.h"

#include <string.h>

#define US_PER_S 1000000ull

void sfu_probe_init(sfu_probe_t *p) {
  memset(p, 0, sizeof *p);
  p->next_id = 1;
}

static void on_failure(sfu_probe_t *p, uint64_t now_us) {
  p->failures++;
  p->failed++;
  if (p->failures == 1) {
    p->backoff_us = SFU_PROBE_BACKOFF_US;
  } else {
    p->backoff_us = p->backoff_us * SFU_PROBE_BACKOFF_NUM / SFU_PROBE_BACKOFF_DEN;
    if (p->backoff_us > SFU_PROBE_MAX_BACKOFF_US) p->backoff_us = SFU_PROBE_MAX_BACKOFF_US;
  }
  p->next_allowed_us = now_us + p->backoff_us;
}

static void on_success(sfu_probe_t *p) {
  p->failures = 0;
  p->backoff_us = 0;
  p->successes++;
  p->next_allowed_us = p->cur_started_us + SFU_PROBE_MIN_INTERVAL_US;
}

/* A drop of the estimate below SFU_PROBE_DROP_PCT of its peak is a new cap: the failures
 * counted against the old link say nothing about this one, and the one after it. */
static void track_estimate(sfu_probe_t *p, uint64_t now_us, uint64_t est_bps) {
  if (est_bps >= p->est_peak_bps) {
    p->est_peak_bps = est_bps;
    return;
  }
  if (est_bps * 100 >= p->est_peak_bps * SFU_PROBE_DROP_PCT) return;
  p->caps++;
  p->est_peak_bps = est_bps;
  p->failures = 0;
  p->backoff_us = 0;
  /* Probing into the fresh cap would only fail: wait one initial backoff, however long
   * the backoff had grown before. */
  p->next_allowed_us = now_us + SFU_PROBE_BACKOFF_US;
}

static void shape(sfu_probe_cluster_t *c, uint64_t target_bps) {
  uint64_t bytes = target_bps * SFU_PROBE_CLUSTER_US / (8 * US_PER_S);
  if (bytes < SFU_PROBE_MIN_BYTES) bytes = SFU_PROBE_MIN_BYTES;
  c->target_bps = target_bps;
  c->min_bytes = (size_t)bytes;
  c->min_packets = SFU_PROBE_MIN_PACKETS;
  c->duration_us = bytes * 8 * US_PER_S / target_bps; /* >= SFU_PROBE_CLUSTER_US */
}

int sfu_probe_poll(sfu_probe_t *p, uint64_t now_us, uint64_t est_bps, uint64_t want_bps,
                   sfu_probe_cluster_t *out) {
  track_estimate(p, now_us, est_bps);
  if (p->in_flight) {
    if (now_us < p->cur_started_us + SFU_PROBE_RESULT_TIMEOUT_US) return 0;
    /* No result: the feedback of the cluster was lost, or none of it arrived. */
    p->in_flight = 0;
    p->timeouts++;
    p->last_result_bps = 0;
    on_failure(p, now_us);
  }
  if (want_bps == 0 || est_bps >= want_bps || now_us < p->next_allowed_us) return 0;
  /* 1.2 x want; a want this large (> 1.5e17 bps) is nonsense, not a reason to wrap. */
  if (want_bps > UINT64_MAX / SFU_PROBE_TARGET_PCT) return 0;
  sfu_probe_cluster_t *c = &p->cur;
  memset(c, 0, sizeof *c);
  c->id = p->next_id;
  p->next_id = p->next_id == 0x7fffffff ? 1 : p->next_id + 1;
  c->goal_bps = want_bps;
  shape(c, want_bps * SFU_PROBE_TARGET_PCT / 100);
  p->in_flight = 1;
  p->cur_started_us = now_us;
  p->clusters++;
  if (out) *out = *c;
  return 1;
}

void sfu_probe_on_result(sfu_probe_t *p, uint64_t now_us, int id, uint64_t measured_bps) {
  if (!p->in_flight || id != p->cur.id) return;
  p->in_flight = 0;
  p->last_result_bps = measured_bps;
  if (measured_bps >= p->cur.goal_bps ||
      measured_bps * 100 >= p->cur.target_bps * SFU_PROBE_FURTHER_PCT)
    on_success(p);
  else on_failure(p, now_us);
}

uint64_t sfu_probe_next_deadline(const sfu_probe_t *p) {
  if (p->in_flight) return p->cur_started_us + SFU_PROBE_RESULT_TIMEOUT_US;
  return p->next_allowed_us;
}

/* Bytes of the cluster due by `elapsed` after its start: the target rate, one piece
 * (duration / min_packets) ahead so that the first piece leaves at once. */
static uint64_t due_bytes(const sfu_probe_cluster_t *c, uint64_t elapsed, uint64_t slice) {
  return c->target_bps * (elapsed + slice) / (8 * US_PER_S);
}

int sfu_probe_cluster_next(const sfu_probe_cluster_t *c, uint64_t started_us, size_t sent_bytes,
                           size_t sent_packets, uint64_t now_us, size_t *bytes_now,
                           uint64_t *next_us) {
  *bytes_now = 0;
  if (next_us) *next_us = UINT64_MAX;
  uint64_t elapsed = now_us > started_us ? now_us - started_us : 0;
  if (c->target_bps == 0 || elapsed > SFU_PROBE_CLUSTER_MAX_US) return 0;
  if (sent_bytes >= c->min_bytes && sent_packets >= c->min_packets) return 0;
  size_t pieces = c->min_packets ? c->min_packets : 1;
  uint64_t slice = c->duration_us / pieces;
  if (slice == 0) slice = 1;
  uint64_t due = due_bytes(c, elapsed, slice);
  /* Enough bytes but too few packets (small ones): keep going at the rate until the
   * packets are there; otherwise never past min_bytes. */
  if (sent_packets >= c->min_packets && due > c->min_bytes) due = c->min_bytes;
  if (due > sent_bytes) {
    *bytes_now = (size_t)(due - sent_bytes);
    if (next_us) *next_us = now_us + slice;
    return 1;
  }
  /* Ahead of the rate (a packet larger than its piece): when due passes sent_bytes. */
  if (next_us) {
    uint64_t t = ((uint64_t)sent_bytes + 1) * 8 * US_PER_S;
    t = (t + c->target_bps - 1) / c->target_bps; /* elapsed + slice at which due > sent */
    uint64_t at = started_us + (t > slice ? t - slice : 0);
    *next_us = at > now_us ? at : now_us + 1;
  }
  return 1;
}
