/* Send-side bandwidth estimator of one viewer transport (see sfu/bwe.h): the send ring,
 * transport-cc feedback turned into per-packet send and arrival times, the acknowledged
 * rate, probe cluster results, and the estimate as the lower of the delay-based estimate
 * (bwe_delay.c) and the loss-based bound (bwe_loss.c).
 *
 * Cost: a feedback's packets go through one inline body (feedback_packet) straight from
 * the transport-cc iterator; per packet it is a ring lookup, the loss window's counts,
 * the acknowledged-rate meter's inline add, and the delay filter's inline group test;
 * the trendline runs per packet group, the rest once per feedback (feedback_done).
 * docs/benchmarks.md has the figures. */
#include "sfu/bwe.h"

#include <stdlib.h>
#include <string.h>

#include "bwe_internal.h"
#include "sfu/rate_meter.h"

#define RING_MASK (SFU_BWE_SEND_RING - 1)
/* Branch hint for the feedback loop's exceptions (unknown, stale, lost, repeated, late,
 * probe packets): the common path (a packet received once, in order) laid out straight. */
#define RARE(x) __builtin_expect(!!(x), 0)
#define ACKED_WINDOW_US 500000ull  /* acknowledged rate over the last 0.5 s of arrivals */
#define ARRIVAL_ORIGIN_US 10000000 /* arrival clock mapped so that it starts here */
#define ARRIVAL_BACK_US 1000000    /* arrivals going back this far: the viewer restarted */
/* Probe results (libwebrtc probe_bitrate_estimator.cc). */
#define PROBE_MIN_RECEIVED 5
#define PROBE_MIN_RECEIVED_RATIO 0.8
#define PROBE_MAX_INTERVAL_US 1000000
#define PROBE_MAX_RATIO 2.0     /* received faster than twice the send rate: bogus */
#define PROBE_SATURATED 0.9     /* received below 90 % of the send rate: link saturated, */
#define PROBE_TARGET_SHARE 0.95 /* so take 95 % of the received rate */
/* Arrivals remembered per cluster for the tail rate (the router's clusters have at most
 * 64 packets; more are counted in the whole-cluster rate only). */
#define PROBE_MAX_PKTS 64
/* The tail: the received rate is also read over the packets that arrived after the first
 * half of the cluster's bytes, and the lower of the two counts. A token-bucket shaper
 * (tc htb / tbf, a home router's policer) lets its bucket's worth through at line rate
 * when a probe starts on an idle link, then the rate; the whole-cluster rate then reads
 * rate x N / (N - bucket): a 2 KB bucket made a 6 KB cluster of small RTX copies read
 * ~350 kbit/s through a 250 kbit/s cap, the allocator tried a layer the link could not
 * carry and the viewer froze (test_chromium_video.py case 4, 2 runs in 12). Once the
 * bucket is spent the packets leave at the shaper's rate, so the tail reads the rate as
 * long as the bucket is under half the cluster (DOWNLINK_PROBE_MIN_BYTES). On a link
 * faster than the probe the tail reads the send rate like the whole does. */
#define PROBE_TAIL_SHARE 0.5
#define PROBE_BATCH_US 250 /* arrivals this close: one read of the receiver (a twcc tick) */
#define PROBE_TAIL_MIN_PKTS 2    /* packets after the head, for a span */
/* A tail shorter than this is not read: over ~10 ms the arrival clock's resolution and
 * the cluster's pieces (a few packets each, probe.h) make it noisy, and a shaper's
 * bucket only fakes a rate where what follows it takes long to drain (a slow link):
 * 2 KB at 250 kbit/s is 64 ms. */
#define PROBE_TAIL_MIN_SPAN_US 20000
#define PROBE_MIN_RECV_SPAN_US 2000 /* shorter: a burst, no rate (250 us twcc ticks) */

enum { REC_NONE, REC_SENT, REC_LOST, REC_RECEIVED };

typedef struct {
  uint64_t send_us;
  uint16_t seq, size;
  int16_t cluster; /* -1 none */
  uint8_t state;   /* REC_* */
} send_rec_t;

typedef struct {
  int id; /* -1 free */
  uint64_t created_us;
  uint32_t sent, received;
  uint64_t first_send, last_send, bytes_sent, last_sent_size;
  int64_t first_arrival, last_arrival;
  uint64_t bytes_received, first_received_size, result_bps;
  uint64_t send_bps, recv_bps; /* of the last measure (for traces) */
  uint64_t want_packets, want_bytes; /* planned size (sfu_bwe_probe_expect), 0 unknown */
  int touched;
  uint8_t spoiled; /* the delay detector said overuse while its feedback came */
  uint16_t n_arr;  /* arrivals remembered, unordered */
  int64_t arr_t[PROBE_MAX_PKTS];
  uint16_t arr_size[PROBE_MAX_PKTS];
} probe_t;

/* Field order is cache-line order (sfu_bwe_new allocates it 64-byte aligned): with 100
 * viewers, a viewer's estimator has left the 512 KB L2 by its next feedback (the packets
 * sent to everyone in between are megabytes), so each line a feedback touches is a miss
 * costing ~100 instructions' worth of time (bench_router_pace under callgrind's cache
 * model). Lines 0-1: the glue's per-feedback fields, and what the router's tick reads
 * of every viewer every 20 ms (estimate, loss_ratio); then the delay filter, the loss
 * bound and the acknowledged-rate meter, each line-aligned with its hot fields first;
 * then what only probes, REMB and stats touch; then the send ring. */
struct sfu_bwe {
  /* line 0: per feedback and per packet of it */
  uint32_t last_ref;
  uint8_t have_ref; /* transport-cc reference time unwrapping */
  uint8_t have_arrival, have_twcc, have_remb;
  uint8_t probes_touched; /* some probe has p->touched: the per-feedback slot scan is needed */
  int64_t ext_ref;
  int64_t arrival_base;   /* viewer's arrival time that maps to ARRIVAL_ORIGIN_US */
  int64_t arrival_newest; /* mapped */
  uint64_t packets_acked, feedbacks, packets_lost;
  /* line 1: the estimate (recompute), and what the router's tick reads */
  uint64_t estimate;
  double loss_ratio; /* loss.last_ratio, copied where it changes (bwe_loss_update) */
  uint64_t acked_bps;
  uint64_t other_bps; /* sfu_bwe_set_other_rate */
  uint64_t rtt_us, remb_bps;
  uint64_t min_bps, max_bps; /* the config's */
  _Alignas(64) bwe_delay_t delay;
  _Alignas(64) bwe_loss_t loss;
  _Alignas(64) sfu_rate_meter_t acked; /* on the arrival clock, mapped by arrival_base */
  /* cold */
  uint64_t start_bps;
  probe_t probes[SFU_BWE_PROBE_SLOTS];
  _Alignas(64) send_rec_t ring[SFU_BWE_SEND_RING];
};

static void recompute(sfu_bwe_t *b) {
  uint64_t e;
  if (b->have_twcc) {
    e = (uint64_t)b->delay.bps;
    if ((uint64_t)b->loss.bps < e) e = (uint64_t)b->loss.bps;
    if (b->have_remb && b->remb_bps < e) e = b->remb_bps; /* the viewer's own cap */
  } else {
    e = b->have_remb ? b->remb_bps : b->start_bps;
  }
  if (e < b->min_bps) e = b->min_bps;
  if (e > b->max_bps) e = b->max_bps;
  b->estimate = e;
}

sfu_bwe_t *sfu_bwe_new(const sfu_bwe_config_t *cfg) {
  /* aligned: the field order above is in cache lines */
  sfu_bwe_t *b = aligned_alloc(64, (sizeof *b + 63) / 64 * 64);
  if (!b) return NULL;
  memset(b, 0, sizeof *b);
  b->start_bps = cfg && cfg->start_bps ? cfg->start_bps : 300000;
  b->min_bps = cfg && cfg->min_bps ? cfg->min_bps : 30000;
  b->max_bps = cfg && cfg->max_bps ? cfg->max_bps : 20000000;
  if (b->max_bps < b->min_bps) b->max_bps = b->min_bps;
  if (b->start_bps < b->min_bps) b->start_bps = b->min_bps;
  if (b->start_bps > b->max_bps) b->start_bps = b->max_bps;
  bwe_delay_init(&b->delay, b->start_bps, b->min_bps, b->max_bps);
  bwe_loss_init(&b->loss, b->start_bps, b->min_bps, b->max_bps);
  b->loss_ratio = b->loss.last_ratio;
  sfu_rate_meter_init(&b->acked, ACKED_WINDOW_US);
  b->rtt_us = SFU_BWE_DEFAULT_RTT_US;
  for (int i = 0; i < SFU_BWE_PROBE_SLOTS; i++) b->probes[i].id = -1;
  /* A record never written (REC_NONE) holds a seq that cannot be looked up in its slot
   * (slot + 1 is another slot's): the feedback path's one compare of seq covers it. */
  for (int i = 0; i < SFU_BWE_SEND_RING; i++) b->ring[i].seq = (uint16_t)(i + 1);
  recompute(b);
  return b;
}

void sfu_bwe_free(sfu_bwe_t *b) { free(b); }

/* --- probe clusters ------------------------------------------------------------------ */

static probe_t *probe_find(sfu_bwe_t *b, int id) {
  for (int i = 0; i < SFU_BWE_PROBE_SLOTS; i++)
    if (b->probes[i].id == id) return &b->probes[i];
  return NULL;
}

/* A new cluster takes a free slot or the oldest one. */
static probe_t *probe_add(sfu_bwe_t *b, int id, uint64_t now_us) {
  probe_t *p = &b->probes[0];
  for (int i = 0; i < SFU_BWE_PROBE_SLOTS; i++) {
    if (b->probes[i].id < 0) {
      p = &b->probes[i];
      break;
    }
    if (b->probes[i].created_us < p->created_us) p = &b->probes[i];
  }
  memset(p, 0, sizeof *p);
  p->id = id;
  p->created_us = now_us;
  return p;
}

void sfu_bwe_probe_expect(sfu_bwe_t *b, int id, uint64_t now_us, size_t min_packets,
                          size_t min_bytes) {
  if (!b || id < 0) return;
  probe_t *p = probe_find(b, id);
  if (!p) p = probe_add(b, id, now_us);
  p->want_packets = min_packets;
  p->want_bytes = min_bytes;
}

static void probe_on_sent(sfu_bwe_t *b, int id, uint64_t send_us, size_t size) {
  probe_t *p = probe_find(b, id);
  if (!p) p = probe_add(b, id, send_us);
  if (p->sent == 0 || send_us < p->first_send) p->first_send = send_us;
  if (p->sent == 0 || send_us >= p->last_send) {
    p->last_send = send_us;
    p->last_sent_size = size;
  }
  p->sent++;
  p->bytes_sent += size;
}

static void probe_on_received(sfu_bwe_t *b, int id, int64_t arrival, size_t size) {
  probe_t *p = probe_find(b, id);
  if (!p) return; /* its slot went to a newer cluster */
  if (p->received == 0 || arrival < p->first_arrival) {
    p->first_arrival = arrival;
    p->first_received_size = size;
  }
  if (p->received == 0 || arrival > p->last_arrival) p->last_arrival = arrival;
  p->received++;
  p->bytes_received += size;
  p->touched = 1;
  b->probes_touched = 1;
  if (p->n_arr < PROBE_MAX_PKTS) {
    p->arr_t[p->n_arr] = arrival;
    p->arr_size[p->n_arr++] = (uint16_t)size;
  }
}

/* Received rates of a cluster from its remembered arrivals, sorted (insertion sort of
 * <= 64, once per feedback that touches the cluster: fine), batch-aware: a rate is read
 * from the LAST packet of a batch (arrivals within PROBE_BATCH_US of each other) to the
 * last packet, over the bytes after that batch. A receiver that reads its socket late
 * stamps a batch of packets with one time (Chromium on a loaded machine: batches of 4-9
 * packets, 30-40 ms apart, on an idle link); the last packet of a batch arrived just
 * before the read, the first ones may have waited long: starting at the first one's
 * stamp shortens the span by the wait. A shaper's bucket arrives as one batch too, so the
 * whole-cluster rate excludes it. *whole: from the first batch (0 when the cluster has
 * more packets than are remembered, or no span); *tail: from the batch of the packet
 * that completed PROBE_TAIL_SHARE of the bytes (0 when too short to read). */
static void probe_recv_rates(const probe_t *p, double *whole, double *tail) {
  int64_t t[PROBE_MAX_PKTS];
  uint16_t sz[PROBE_MAX_PKTS];
  size_t n = p->n_arr;
  uint64_t total = 0;
  *whole = *tail = 0;
  for (size_t i = 0; i < n; i++) {
    size_t j = i;
    while (j > 0 && t[j - 1] > p->arr_t[i]) t[j] = t[j - 1], sz[j] = sz[j - 1], j--;
    t[j] = p->arr_t[i], sz[j] = p->arr_size[i];
    total += p->arr_size[i];
  }
  if (n < 2) return;
  /* suffix[i]: bytes of the packets after i */
  uint64_t after[PROBE_MAX_PKTS];
  after[n - 1] = 0;
  for (size_t i = n - 1; i > 0; i--) after[i - 1] = after[i] + sz[i];
  size_t s = 0;
  while (s + 1 < n && t[s + 1] - t[s] <= PROBE_BATCH_US) s++;
  int64_t span = t[n - 1] - t[s];
  if (n == p->received && s + 1 < n && span >= PROBE_MIN_RECV_SPAN_US)
    *whole = (double)after[s] * 8e6 / (double)span;
  uint64_t head = 0;
  size_t k = 0;
  while (k < n && (double)(head += sz[k]) < PROBE_TAIL_SHARE * (double)total) k++;
  while (k + 1 < n && t[k + 1] - t[k] <= PROBE_BATCH_US) k++;
  if (k >= n || n - 1 - k < PROBE_TAIL_MIN_PKTS) return;
  span = t[n - 1] - t[k];
  if (span >= PROBE_TAIL_MIN_SPAN_US) *tail = (double)after[k] * 8e6 / (double)span;
}

/* libwebrtc's ProbeBitrateEstimator: the send rate excludes the last packet sent (its
 * bytes left after the interval), the receive rate the first received (its bytes arrived
 * before it); the result is the lower of the two, 95 % of the received rate when that is
 * clearly below the send rate (the link saturated: what it carried is its capacity).
 * Beyond libwebrtc: the received rate is read batch-aware (probe_recv_rates: from the
 * end of the first batch of arrivals rather than past the first packet only), and is the
 * lower of the whole cluster's and its tail's (PROBE_TAIL_SHARE: a shaper's burst
 * cannot fake a rate); a receive span under PROBE_MIN_RECV_SPAN_US measures nothing. */
static uint64_t probe_measure(probe_t *p) {
  p->send_bps = p->recv_bps = 0;
  if (p->received < PROBE_MIN_RECEIVED ||
      (double)p->received < PROBE_MIN_RECEIVED_RATIO * (double)p->sent ||
      (double)p->received < PROBE_MIN_RECEIVED_RATIO * (double)p->want_packets ||
      (double)p->bytes_received < PROBE_MIN_RECEIVED_RATIO * (double)p->want_bytes)
    return 0;
  uint64_t send_iv = p->last_send - p->first_send;
  int64_t recv_iv = p->last_arrival - p->first_arrival;
  if (send_iv == 0 || send_iv > PROBE_MAX_INTERVAL_US || recv_iv < PROBE_MIN_RECV_SPAN_US ||
      recv_iv > PROBE_MAX_INTERVAL_US)
    return 0;
  double send_bps = (double)(p->bytes_sent - p->last_sent_size) * 8e6 / (double)send_iv;
  double recv_bps = (double)(p->bytes_received - p->first_received_size) * 8e6 / (double)recv_iv;
  double whole, tail;
  probe_recv_rates(p, &whole, &tail);
  if (whole > 0) recv_bps = whole;
  if (tail > 0 && tail < recv_bps) recv_bps = tail;
  p->send_bps = (uint64_t)send_bps;
  p->recv_bps = (uint64_t)recv_bps;
  if (recv_bps > PROBE_MAX_RATIO * send_bps) return 0;
  double r = recv_bps < send_bps ? recv_bps : send_bps;
  if (recv_bps < PROBE_SATURATED * send_bps) r = PROBE_TARGET_SHARE * recv_bps;
  return (uint64_t)r;
}

int sfu_bwe_probe_info(const sfu_bwe_t *b, int id, sfu_bwe_probe_info_t *out) {
  memset(out, 0, sizeof *out);
  const probe_t *p = NULL;
  for (int i = 0; id >= 0 && i < SFU_BWE_PROBE_SLOTS; i++)
    if (b->probes[i].id == id) p = &b->probes[i];
  if (!p) return -1;
  out->sent = p->sent;
  out->received = p->received;
  out->bytes_sent = p->bytes_sent;
  out->bytes_received = p->bytes_received;
  out->send_span_us = p->sent ? p->last_send - p->first_send : 0;
  out->recv_span_us = p->received ? (uint64_t)(p->last_arrival - p->first_arrival) : 0;
  out->send_bps = p->send_bps;
  out->recv_bps = p->recv_bps;
  out->result_bps = p->result_bps;
  _Static_assert(PROBE_MAX_PKTS <= 64, "sfu_bwe_probe_info_t holds 64");
  out->n_arrivals = p->n_arr;
  for (size_t i = 0; i < p->n_arr; i++) {
    int64_t d = p->arr_t[i] - p->first_arrival;
    out->arrival_us[i] = d < 0 ? 0 : d > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)d;
    out->arrival_size[i] = p->arr_size[i];
  }
  return 0;
}

uint64_t sfu_bwe_probe_result(sfu_bwe_t *b, int id) {
  probe_t *p = id >= 0 ? probe_find(b, id) : NULL;
  return p ? p->result_bps : 0;
}

/* --- sent / feedback --------------------------------------------------------------------- */

void sfu_bwe_on_sent(sfu_bwe_t *b, uint16_t seq, uint64_t send_us, size_t size, int probe_cluster) {
  send_rec_t *r = &b->ring[seq & RING_MASK];
  r->seq = seq;
  r->send_us = send_us;
  r->size = size > UINT16_MAX ? UINT16_MAX : (uint16_t)size;
  r->cluster = probe_cluster >= 0 && probe_cluster <= INT16_MAX ? (int16_t)probe_cluster : -1;
  r->state = REC_SENT;
  if (r->cluster >= 0) probe_on_sent(b, r->cluster, send_us, r->size);
}

/* Reference time: 24 bits of 64 ms (wraps after ~12 days), unwrapped against the last
 * feedback's so that reordered feedback still lands on the right side. */
static int64_t unwrap_ref(sfu_bwe_t *b, int32_t ref_time) {
  uint32_t ref = (uint32_t)ref_time & 0xffffffu;
  if (!b->have_ref) {
    b->have_ref = 1;
    b->ext_ref = ref;
  } else {
    int32_t d = (int32_t)((ref - b->last_ref) & 0xffffffu);
    if (d >= 1 << 23) d -= 1 << 24;
    b->ext_ref += d;
  }
  b->last_ref = ref;
  return b->ext_ref * SFU_TWCC_REF_TIME_US;
}

/* Acknowledged rate over the viewer's arrival clock (what the bottleneck let through).
 * Per received packet; forced inline, as feedback_packet. */
__attribute__((always_inline)) static inline void acked_add(sfu_bwe_t *b, int64_t arrival,
                                                            uint16_t size) {
  int64_t m = arrival - b->arrival_base + ARRIVAL_ORIGIN_US;
  /* (m < 0 is inside the second test: arrival_newest starts at ARRIVAL_ORIGIN_US at each
   * start-over and only grows, so arrival_newest - ARRIVAL_BACK_US > 0.) */
  _Static_assert(ARRIVAL_ORIGIN_US > ARRIVAL_BACK_US, "a mapped arrival below 0 starts over");
  if (RARE(!b->have_arrival || m < b->arrival_newest - ARRIVAL_BACK_US)) {
    /* first arrival, or the viewer's clock went back: start the meter over */
    b->have_arrival = 1;
    b->arrival_base = arrival;
    m = ARRIVAL_ORIGIN_US;
    sfu_rate_meter_init(&b->acked, ACKED_WINDOW_US);
    b->arrival_newest = m;
  }
  if (m > b->arrival_newest) b->arrival_newest = m;
  sfu_rate_meter_add(&b->acked, (uint64_t)m, size, 0);
}

/* One packet of a feedback, in feedback order: *t is the arrival clock, moved by each
 * received packet's delta (relative to the previous received one), whether or not the
 * packet is ours to act on. Forced inline into both feedback loops (array, iterator):
 * it runs per packet of every feedback, and as a call (gcc declined to inline a body
 * used twice) it cost ~25 instructions per forwarded packet more in bench_router_pace.
 * stale_before: send records older than this are stale (SFU_BWE_MAX_FEEDBACK_AGE_US
 * before now, 0 when now is younger than that): one compare per packet. Returns 1 if
 * the packet told something new. */
__attribute__((always_inline)) static inline int feedback_packet(sfu_bwe_t *b, uint64_t now_us,
                                                                 uint64_t stale_before, int64_t *t,
                                                                 uint32_t *n_rx, uint32_t *n_lost,
                                                                 uint16_t seq, uint8_t status,
                                                                 int32_t delta) {
  int received = status != SFU_TWCC_NOT_RECEIVED;
  if (received) *t += (int64_t)delta * SFU_TWCC_DELTA_US;
  send_rec_t *r = &b->ring[seq & RING_MASK];
  if (RARE(r->seq != seq)) return 0; /* never sent (sfu_bwe_new), or overwritten */
  if (RARE(r->send_us < stale_before)) return 0;
  if (RARE(!received)) {
    if (r->state != REC_SENT) return 0;
    r->state = REC_LOST;
    b->packets_lost++;
    *n_lost += (uint32_t)bwe_loss_counts(&b->loss, r->send_us);
    return 1;
  }
  if (RARE(r->state == REC_RECEIVED)) return 0; /* repeated feedback */
  if (RARE(r->state == REC_LOST)) {             /* late after all */
    if (b->packets_lost) b->packets_lost--;
    /* what was gathered goes first: the take-back applies to the window as it is */
    bwe_loss_add(&b->loss, now_us, *n_rx, *n_lost);
    *n_rx = *n_lost = 0;
    bwe_loss_count(&b->loss, now_us, r->send_us, 1, -1);
  } else {
    *n_rx += (uint32_t)bwe_loss_counts(&b->loss, r->send_us);
  }
  r->state = REC_RECEIVED;
  b->packets_acked++;
  acked_add(b, *t, r->size);
  bwe_delay_on_packet(&b->delay, (int64_t)r->send_us, *t, (int64_t)now_us);
  if (RARE(r->cluster >= 0)) probe_on_received(b, r->cluster, *t, r->size);
  return 1;
}

static uint64_t stale_before(uint64_t now_us) {
  return now_us > SFU_BWE_MAX_FEEDBACK_AGE_US ? now_us - SFU_BWE_MAX_FEEDBACK_AGE_US : 0;
}

/* After a feedback's packets, if one told something new: the acknowledged rate, the
 * delay-based rate control, probe results, the loss bound, the estimate. */
static void feedback_done(sfu_bwe_t *b, uint64_t now_us) {
  b->feedbacks++;
  b->have_twcc = 1;
  if (b->have_arrival) b->acked_bps = sfu_rate_meter_bps(&b->acked, (uint64_t)b->arrival_newest);
  /* What the link carried: ours plus what else shares it unstamped (sfu_bwe_set_other_rate),
   * as libwebrtc's acknowledged rate includes the audio that carries transport-cc. */
  uint64_t carried = b->acked_bps ? b->acked_bps + b->other_bps : 0;
  bwe_delay_update(&b->delay, now_us, carried, b->rtt_us);
  recompute(b);
  /* Most feedback carries no probe packet: skip the scan of the slots then. */
  for (int i = 0; b->probes_touched && i < SFU_BWE_PROBE_SLOTS; i++) {
    probe_t *p = &b->probes[i];
    if (i == SFU_BWE_PROBE_SLOTS - 1) b->probes_touched = 0; /* all seen by the end */
    if (p->id < 0 || !p->touched) continue;
    p->touched = 0;
    /* goog_cc (DelayBasedBwe::MaybeUpdateEstimate): a probe result is used only while
     * the delay detector does not say overuse. A cluster whose feedback showed the queue
     * growing proved nothing above what the link already carries: it failed, and stays
     * failed when later feedback refines it. */
    if (b->delay.state == BWE_OVERUSE) p->spoiled = 1;
    p->result_bps = probe_measure(p);
    if (p->spoiled) p->result_bps = 0;
    /* goog_cc: a probe result above the estimate becomes the estimate, delay- and
     * loss-based alike (the probe just proved it). */
    if (p->result_bps > b->estimate) {
      bwe_delay_set(&b->delay, now_us, p->result_bps);
      bwe_loss_raise(&b->loss, now_us, p->result_bps);
      recompute(b);
    }
  }
  bwe_loss_update(&b->loss, now_us, b->estimate, carried, b->rtt_us);
  b->loss_ratio = b->loss.last_ratio;
  recompute(b);
}

void sfu_bwe_on_feedback(sfu_bwe_t *b, uint64_t now_us, const sfu_rtcp_twcc_t *hdr,
                         const sfu_rtcp_twcc_pkt_t *pkts, size_t n) {
  if (!b || !hdr || (!pkts && n)) return;
  int64_t t = unwrap_ref(b, hdr->ref_time);
  uint64_t stale = stale_before(now_us);
  int any = 0;
  uint32_t n_rx = 0, n_lost = 0; /* loss-window counts not handed over yet */
  for (size_t i = 0; i < n; i++)
    any |= feedback_packet(b, now_us, stale, &t, &n_rx, &n_lost, pkts[i].seq, pkts[i].status,
                           pkts[i].delta);
  bwe_loss_add(&b->loss, now_us, n_rx, n_lost);
  if (any) feedback_done(b, now_us); /* else nothing new of ours (a repeat, garbage) */
}

void sfu_bwe_on_twcc(sfu_bwe_t *b, uint64_t now_us, const sfu_rtcp_twcc_t *hdr,
                     sfu_rtcp_twcc_iter_t *it) {
  if (!b || !hdr || !it) return;
  int64_t t = unwrap_ref(b, hdr->ref_time);
  uint64_t stale = stale_before(now_us);
  int any = 0;
  /* A copy that does not escape: the compiler keeps it in registers (through `it`, every
   * byte store to the ring would make it reload the iterator's fields). */
  sfu_rtcp_twcc_iter_t i = *it;
  sfu_rtcp_twcc_pkt_t pk;
  uint32_t n_rx = 0, n_lost = 0; /* loss-window counts not handed over yet */
  while (sfu_rtcp_twcc_next(&i, &pk))
    any |= feedback_packet(b, now_us, stale, &t, &n_rx, &n_lost, pk.seq, pk.status, pk.delta);
  *it = i;
  bwe_loss_add(&b->loss, now_us, n_rx, n_lost);
  if (any) feedback_done(b, now_us);
}

void sfu_bwe_on_remb(sfu_bwe_t *b, uint64_t now_us, uint64_t bps) {
  (void)now_us;
  b->have_remb = 1;
  b->remb_bps = bps;
  recompute(b);
}

void sfu_bwe_set_other_rate(sfu_bwe_t *b, uint64_t bps) {
  if (b) b->other_bps = bps;
}

void sfu_bwe_on_rtt(sfu_bwe_t *b, uint64_t rtt_us) {
  if (rtt_us) b->rtt_us = rtt_us;
}

uint64_t sfu_bwe_estimate(const sfu_bwe_t *b) { return b->estimate; }

/* The copy next to the estimate: the router's tick reads both of every viewer, one line. */
double sfu_bwe_loss_ratio(const sfu_bwe_t *b) { return b->loss_ratio; }

void sfu_bwe_stats(const sfu_bwe_t *b, sfu_bwe_stats_t *out) {
  memset(out, 0, sizeof *out);
  out->estimate_bps = b->estimate;
  out->delay_bps = (uint64_t)b->delay.bps;
  out->loss_bps = (uint64_t)b->loss.bps;
  out->remb_bps = b->have_remb ? b->remb_bps : 0;
  out->acked_bps = b->acked_bps;
  out->loss_ratio = b->loss.last_ratio;
  out->state = b->delay.state;
  out->feedbacks = b->feedbacks;
  out->packets_acked = b->packets_acked;
  out->packets_lost = b->packets_lost;
}
