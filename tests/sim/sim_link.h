/* A simulated network link between two endpoints, on a virtual clock, for testing
 * sans-IO cores in-process, deterministically and faster than real time.
 *
 * Two directions: SIM_AB (endpoint A to B) and SIM_BA. Each direction has its own
 * impairments (one-way delay, jitter, random loss, reordering, duplication, a bandwidth
 * cap with a drop-tail queue) and an optional drop filter; all randomness comes from one
 * seeded PRNG, so a seed gives the same run every time.
 *
 * Timing model of a packet sent at `now` in one direction:
 *   lost?       -> with probability `loss` (random loss, before the bottleneck: a lost
 *                  packet takes no capacity), or if the filter says so
 *   queued?     -> the bottleneck (rate_bps > 0) is a drop-tail FIFO: the packet is dropped
 *                  (queue_drops) unless it fits behind the backlog in bytes (queue_bytes)
 *                  and in time at the current rate (queue_us): backlog + len <= bound
 *   serialised  -> leaves at max(now, link free) + len*8/rate (rate 0 = infinite), so
 *                  under overload the link delivers exactly rate_bps and the queueing
 *                  delay (leave - now) grows to the bound, then packets are dropped;
 *                  with burst_bytes, a token bucket instead (see there)
 *   arrives     -> leave + delay + uniform[0, jitter]; arrivals keep the sending order
 *                  unless the packet is picked for reordering (probability `reorder`),
 *                  in which case it gets `reorder_extra_us` more and may be overtaken
 *   duplicated  -> with probability `duplicate`, a copy arrives 1 us after it
 *
 * The capacity can change at any virtual time (sim_link_set_rate): what is still queued
 * then drains at the new rate, as on a real link whose bottleneck was reconfigured.
 *
 * Owner: the test that made it (sim_link_new / sim_link_free); single-threaded. */
#ifndef SFU_SIM_LINK_H
#define SFU_SIM_LINK_H

#include <stddef.h>
#include <stdint.h>

enum { SIM_AB = 0, SIM_BA = 1 };

typedef struct {
  uint64_t delay_us;         /* one-way propagation delay */
  uint64_t jitter_us;        /* extra uniform [0, jitter_us] */
  double loss;               /* 0..1 */
  double reorder;            /* 0..1: probability that a packet is held back */
  uint64_t reorder_extra_us; /* how long it is held back (0: delay + jitter + 1 ms) */
  double duplicate;          /* 0..1 */
  uint64_t rate_bps;         /* capacity in bits/s; 0 = unlimited (no queue, no serialisation) */
  size_t queue_bytes;        /* drop-tail queue bound behind the cap in bytes; 0 = none */
  uint64_t queue_us;         /* the same bound in time at the current rate; 0 = none */
  /* A token-bucket shaper instead of a serialising link (tc htb / tbf, a policer's
   * bucket): 0 = none. The bottleneck earns rate_bps of credit up to burst_bytes while
   * idle; a packet leaves at once (line rate) when the credit covers it, else when it
   * will, behind the packets before it (FIFO). So after an idle spell burst_bytes go
   * through at once, then exactly rate_bps: a short burst measured at the receiver reads
   * faster than the rate. The queue bounds apply to the wait for credit. */
  size_t burst_bytes;
} sim_dir_cfg_t;

/* Return non-zero to drop this packet (deterministic losses: "the first 3 flights"). */
typedef int (*sim_filter_cb)(void *user, int dir, uint64_t now_us, const uint8_t *buf, size_t len);

typedef struct {
  uint64_t sent, delivered, lost, filtered, queue_drops, duplicated, reordered;
  uint64_t bytes_sent, bytes_delivered;
  uint64_t max_queue_delay_us; /* longest (leave - sent) of a delivered packet: queueing
                                * plus its own serialisation, without propagation */
} sim_dir_stats_t;

typedef struct sim_link sim_link_t;

sim_link_t *sim_link_new(uint64_t seed);
void sim_link_free(sim_link_t *l);
/* Replaces dir's impairments for packets sent from now on (what is queued keeps its
 * schedule; to change the capacity under a backlog, use sim_link_set_rate). */
void sim_link_config(sim_link_t *l, int dir, const sim_dir_cfg_t *cfg);
/* Changes dir's capacity at now_us (0 = unlimited): the bytes still queued or being
 * serialised drain at the new rate from now_us on, and their arrivals move with them. */
void sim_link_set_rate(sim_link_t *l, int dir, uint64_t now_us, uint64_t rate_bps);
/* Bytes waiting for dir's bottleneck at now_us (the part of a packet on the wire not yet
 * sent included); 0 without a cap. */
size_t sim_link_queued_bytes(const sim_link_t *l, int dir, uint64_t now_us);
void sim_link_set_filter(sim_link_t *l, sim_filter_cb cb, void *user);

/* Virtual clock shared by the peers' send callbacks (set by sim_run / sim_link_set_now). */
uint64_t sim_link_now(const sim_link_t *l);
void sim_link_set_now(sim_link_t *l, uint64_t now_us);

/* Sends one datagram (copied). Returns 1 if it will be delivered, 0 if dropped. */
int sim_link_send(sim_link_t *l, int dir, uint64_t now_us, const uint8_t *buf, size_t len);
/* Earliest pending arrival over both directions, UINT64_MAX if none. */
uint64_t sim_link_next_delivery(const sim_link_t *l);
/* Pops the earliest packet of `dir` that has arrived by now_us into buf (cap *len on
 * input, length on output). Returns 1 if one was delivered, 0 if none is due, -1 if buf
 * is too small (the packet is dropped). */
int sim_link_poll(sim_link_t *l, uint64_t now_us, int dir, uint8_t *buf, size_t *len);
const sim_dir_stats_t *sim_link_stats(const sim_link_t *l, int dir);
/* PRNG of the link, for tests that want more seeded randomness: uniform in [0, 1). */
double sim_link_rand(sim_link_t *l);

/* ---- driver: steps two sans-IO peers over the link to a condition ---- */

/* Peer A receives SIM_BA traffic, peer B receives SIM_AB. The peers' own send callbacks
 * call sim_link_send(link, their dir, sim_link_now(link), ...). */
typedef struct {
  void *core;
  uint64_t (*next_deadline)(void *core);
  void (*handle_timeout)(void *core, uint64_t now_us);
  void (*handle_input)(void *core, uint64_t now_us, const uint8_t *buf, size_t len);
} sim_peer_t;

/* Advances the virtual clock from sim_link_now() to each next event (a delivery or a
 * peer's deadline), feeds deliveries and fires timeouts, until cond(cond_user) is true
 * (returns 1) or the clock would pass until_us (returns 0, clock left at until_us).
 * cond may be NULL (run until until_us). Returns -1 after 10 million steps (a peer whose
 * deadline never moves forward). */
int sim_run(sim_link_t *l, sim_peer_t *a, sim_peer_t *b, uint64_t until_us,
            int (*cond)(void *cond_user), void *cond_user);

#endif
