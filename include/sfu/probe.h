/* Probe controller (issue 8): when one viewer's transport sends a probe cluster, and how
 * big it is. A probe is a short burst at a target rate above the estimate; its rate as
 * measured from transport-cc feedback (the estimator's sfu_bwe_probe_result) tells
 * whether the link carries that rate, which an application-limited sender can never
 * learn from its media alone (draft-ietf-rmcat-gcc; libwebrtc's ProbeController).
 *
 * Rules (the owner polls with the current estimate and the allocation's want: what its
 * next upgrade needs in total, 0 when nothing more is wanted):
 *   - no probe while est >= want (the estimate already covers what the viewer asked
 *     for), nor while a cluster is in flight;
 *   - otherwise a cluster at SFU_PROBE_TARGET_PCT (120%) of want: padding never exceeds
 *     what the allocation needs to prove, plus a margin so that a link that carries want
 *     measures at least want. A viewer whose streams are all paused still wants its
 *     lowest layers, so it still gets probes;
 *   - a cluster succeeds when its measured rate reaches the goal (want when it started),
 *     or SFU_PROBE_FURTHER_PCT (70 %) of its target: the link carried most of what was
 *     sent, and the estimate has already risen to it, so the next probe should not wait
 *     out a failure's backoff (libwebrtc's ProbeController probes further from 70 %: a
 *     probe that read 719k for a goal of 723k cost the viewer 3 s more on the middle
 *     layer after a cap was lifted, test_chromium_video.py case 4); a success resets the
 *     backoff; the next cluster waits at least
 *     SFU_PROBE_MIN_INTERVAL_US (time for the estimator and allocator to act on it);
 *   - a failure (below the goal, or no result within SFU_PROBE_RESULT_TIMEOUT_US) makes
 *     the next one wait 3 s x 1.5^(failures - 1), capped at SFU_PROBE_MAX_BACKOFF_US
 *     (3 s, 4.5 s, 6.75 s, ...: a steady cap costs ever fewer failed probes);
 *   - recovery: when the estimate drops below SFU_PROBE_DROP_PCT (66%) of its peak since
 *     the last such drop (a new cap), the backoff restarts: the next probe comes
 *     SFU_PROBE_BACKOFF_US after the drop however many probes failed before, so a link
 *     that recovers from the cap is found within seconds, not minutes.
 *
 * Cluster shape: SFU_PROBE_CLUSTER_US (20 ms, as libwebrtc's 15-30 ms) at the target,
 * but at least SFU_PROBE_MIN_PACKETS packets; sfu_probe_cluster_next paces the filling.
 *
 * Plain value, sans-IO, no allocation; owner: the viewer transport; one thread. */
#ifndef SFU_PROBE_H
#define SFU_PROBE_H

#include <stddef.h>
#include <stdint.h>

#define SFU_PROBE_TARGET_PCT 120
#define SFU_PROBE_CLUSTER_US 20000ull
#define SFU_PROBE_MIN_PACKETS 5
#define SFU_PROBE_MIN_BYTES 1000         /* a cluster is never smaller (low targets) */
#define SFU_PROBE_CLUSTER_MAX_US 500000ull /* a cluster the owner cannot fill ends */
#define SFU_PROBE_MIN_INTERVAL_US 1000000ull
#define SFU_PROBE_RESULT_TIMEOUT_US 2000000ull /* from the cluster's start */
#define SFU_PROBE_BACKOFF_US 3000000ull
#define SFU_PROBE_BACKOFF_NUM 3 /* x 1.5 per failure */
#define SFU_PROBE_BACKOFF_DEN 2
#define SFU_PROBE_MAX_BACKOFF_US 300000000ull /* 5 min */
#define SFU_PROBE_DROP_PCT 66
#define SFU_PROBE_FURTHER_PCT 70 /* of the target: a success too (libwebrtc probes further) */

typedef struct {
  int id;               /* > 0; the owner tags the cluster's packets with it */
  uint64_t target_bps;  /* send rate of the cluster */
  uint64_t goal_bps;    /* what it must prove (want when it started) */
  uint64_t duration_us; /* nominal: min_bytes at target_bps */
  size_t min_packets;
  size_t min_bytes;
} sfu_probe_cluster_t;

typedef struct {
  int next_id;
  uint8_t in_flight;          /* a cluster awaits its result */
  sfu_probe_cluster_t cur;    /* the one in flight (or the last one) */
  uint64_t cur_started_us;
  uint64_t next_allowed_us;   /* no cluster starts before */
  unsigned failures;          /* consecutive */
  uint64_t backoff_us;        /* the wait after the last failure */
  uint64_t est_peak_bps;      /* highest estimate since the last drop */
  /* counters for stats */
  uint64_t clusters, successes, failed, timeouts, caps;
  uint64_t last_result_bps;
} sfu_probe_t;

void sfu_probe_init(sfu_probe_t *p);

/* est_bps: the current estimate; want_bps: what the allocation needs for its next upgrade
 * (0 = nothing more wanted). 1 and *out filled when a cluster should start now (the
 * owner sends it with sfu_probe_cluster_next), 0 otherwise. Also times out a cluster
 * whose result did not come. Call on every estimate or allocation change and at
 * sfu_probe_next_deadline. */
int sfu_probe_poll(sfu_probe_t *p, uint64_t now_us, uint64_t est_bps, uint64_t want_bps,
                   sfu_probe_cluster_t *out);

/* The estimator's measured rate of cluster id (0: nothing measurable). Another id than
 * the one in flight is ignored. */
void sfu_probe_on_result(sfu_probe_t *p, uint64_t now_us, int id, uint64_t measured_bps);

/* The next time sfu_probe_poll could act by itself: the result timeout of a cluster in
 * flight, else the end of the backoff (may be <= now: then only a change of est / want
 * makes a probe). */
uint64_t sfu_probe_next_deadline(const sfu_probe_t *p);

/* Filling a cluster c started at started_us, of which sent_bytes in sent_packets went
 * out. Returns 1 while it goes on: *bytes_now bytes are due now (0: none yet; send them
 * as RTX copies of recent media, or padding when there is none, pushed at
 * SFU_PACER_PRIO_PROBE; at least one packet when > 0, overshooting by less than one
 * packet is fine: the next ones wait for it), and call again at *next_us. Returns 0
 * (and *bytes_now 0) when it is complete: min_bytes in min_packets or more, or
 * SFU_PROBE_CLUSTER_MAX_US passed. The cluster leaves in pieces at its target rate, one
 * piece per duration / min_packets. next_us may be NULL. */
int sfu_probe_cluster_next(const sfu_probe_cluster_t *c, uint64_t started_us, size_t sent_bytes,
                           size_t sent_packets, uint64_t now_us, size_t *bytes_now,
                           uint64_t *next_us);

#endif
