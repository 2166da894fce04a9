/* Send-side bandwidth estimation of one viewer transport (issue 8): how fast the worker
 * may send to a viewer, from the viewer's transport-cc feedback
 * (draft-holmer-rmcat-transport-wide-cc-extensions-01) in the manner of Google Congestion
 * Control (draft-ietf-rmcat-gcc-02) and libwebrtc's goog_cc:
 *   - delay-based (gcc-02 §5): packets grouped by 5 ms send bursts; the growth of one-way
 *     delay between groups is smoothed and its trend fitted over 20 groups (trendline);
 *     overuse when the trend exceeds an adaptive threshold (§5.4); AIMD rate control
 *     (§5.5): multiplicative increase 8 %/s far from the last congestion, additive near it,
 *     decrease to 85 % of the acknowledged rate on overuse;
 *   - loss-based bound (gcc-02 §6), from transport-cc only (packets reported lost vs
 *     received; never receiver reports: a publisher's uplink loss appears there):
 *     loss > 10 % over a window cuts the bound by half the loss ratio, < 2 % lets it grow
 *     8 % above the last second's estimate, in between holds it;
 *   - estimate = min(delay-based, loss bound, REMB if one came), within [min, max]; a
 *     viewer that sends REMB and no transport-cc: its REMB; neither yet: start_bps;
 *   - probe clusters (sent by a probe controller, tagged in sfu_bwe_on_sent): the rate
 *     the viewer received each at; one above the estimate raises it (goog_cc's
 *     ProbeBitrateEstimator).
 *
 * Sans-IO, one thread, fixed size: a ring of SFU_BWE_SEND_RING send records, no allocation
 * after sfu_bwe_new. Bad or stale feedback (unknown, duplicated, reordered, far-off seqs)
 * is ignored packet by packet. */
#ifndef SFU_BWE_H
#define SFU_BWE_H

#include <stddef.h>
#include <stdint.h>

#include "sfu/rtcp.h"

#define SFU_BWE_SEND_RING 4096                  /* send records (power of 2) */
#define SFU_BWE_MAX_FEEDBACK_AGE_US 10000000ull /* a record older than this is stale */
#define SFU_BWE_PROBE_SLOTS 8                   /* probe clusters remembered at once */
#define SFU_BWE_DEFAULT_RTT_US 200000ull        /* until sfu_bwe_on_rtt */

typedef struct sfu_bwe sfu_bwe_t;

/* 0 fields take the defaults: start 300 kbps, min 30 kbps, max 20 Mbps. */
typedef struct {
  uint64_t start_bps, min_bps, max_bps;
} sfu_bwe_config_t;

sfu_bwe_t *sfu_bwe_new(const sfu_bwe_config_t *cfg);
void sfu_bwe_free(sfu_bwe_t *b);

/* A packet sent to the viewer with transport-wide seq `seq` (media, RTX, padding alike):
 * whole datagram size, when it left. probe_cluster: -1, or the id (0..32767) of the probe
 * cluster it belongs to. O(1), no allocation. */
void sfu_bwe_on_sent(sfu_bwe_t *b, uint16_t seq, uint64_t send_us, size_t size, int probe_cluster);

/* A transport-cc feedback from the viewer (as sfu_rtcp_twcc_parse gives it), received at
 * now_us. O(n), no allocation. */
void sfu_bwe_on_feedback(sfu_bwe_t *b, uint64_t now_us, const sfu_rtcp_twcc_t *hdr,
                         const sfu_rtcp_twcc_pkt_t *pkts, size_t n);
/* The same from an iterator (sfu_rtcp_twcc_iter_init succeeded on it), which it walks to
 * the end: the packets are decoded as they are used, never written to an array (the
 * router's path: per feedback of every viewer). Same estimates as sfu_bwe_on_feedback. */
void sfu_bwe_on_twcc(sfu_bwe_t *b, uint64_t now_us, const sfu_rtcp_twcc_t *hdr,
                     sfu_rtcp_twcc_iter_t *it);
/* The viewer's REMB (draft-alvestrand-rmcat-remb-03): the estimate of a REMB-only viewer,
 * a cap otherwise. */
void sfu_bwe_on_remb(sfu_bwe_t *b, uint64_t now_us, uint64_t bps);
/* Round-trip time to the viewer (from its receiver reports): paces decreases and the
 * additive increase. */
void sfu_bwe_on_rtt(sfu_bwe_t *b, uint64_t rtt_us);

/* The rate of what else the worker sends the viewer on the same path without a
 * transport-wide seq (the audio mix, data channel messages, RTCP). It is added to the
 * acknowledged rate where that sets the estimate (the delay-based decrease to 85 % of
 * it, the loss bound's 90 % of what was delivered), so that the estimate is of the whole
 * downlink and the owner's budget (estimate - other) counts the other traffic once:
 * without it the decrease was to 85 % of the video alone and the owner subtracted the
 * audio a second time (a 170 kbit/s low layer paused behind a 250 kbit/s cap with the
 * audio mix on, test_chromium_video.py case 4). */
void sfu_bwe_set_other_rate(sfu_bwe_t *b, uint64_t bps);

uint64_t sfu_bwe_estimate(const sfu_bwe_t *b);

/* The rate the viewer received probe cluster `id` at, once feedback reported at least 5 of
 * its packets and 80 % of those sent so far (refined by later feedback); 0 = not
 * measurable yet, failed, or unknown id. The lower of the send and the receive rate
 * (libwebrtc's ProbeBitrateEstimator); the receive rate is the lower of the whole
 * cluster's and its second half's (a token-bucket shaper's burst cannot fake it, bwe.c);
 * a cluster received clearly slower than sent (< 90 %) saturated the link: 95 % of the
 * received rate. A cluster whose feedback came while the delay detector said overuse
 * failed (0 for good, as goog_cc ignores probes then). A result above the estimate has
 * already raised it (when the feedback came). */
uint64_t sfu_bwe_probe_result(sfu_bwe_t *b, int id);

/* The size of probe cluster `id` as planned (probe.h: its min_packets and min_bytes), told
 * before or with its first packet: no result until feedback reported 80 % of both
 * (libwebrtc's ProbeBitrateEstimator reads the same from each packet's PacedPacketInfo).
 * Without it, 5 packets were enough: a cluster spread over 50 ms had its result read
 * from its first 2 KB, which a shaper's bucket let through at line rate (1 Mbit/s read
 * through a 250 kbit/s cap, test_chromium_video.py case 4). */
void sfu_bwe_probe_expect(sfu_bwe_t *b, int id, uint64_t now_us, size_t min_packets,
                          size_t min_bytes);

/* What the estimator saw of probe cluster `id` (for traces and tests): -1 if unknown. */
typedef struct {
  uint32_t sent, received;
  uint64_t bytes_sent, bytes_received;
  uint64_t send_span_us, recv_span_us; /* first to last packet sent / received */
  uint64_t send_bps, recv_bps;         /* as probe_measure computed them (0: not yet) */
  uint64_t result_bps;
  /* arrivals (us after the first received, in feedback order) and sizes of the first 64 */
  size_t n_arrivals;
  uint32_t arrival_us[64];
  uint16_t arrival_size[64];
} sfu_bwe_probe_info_t;
int sfu_bwe_probe_info(const sfu_bwe_t *b, int id, sfu_bwe_probe_info_t *out);

typedef struct {
  uint64_t estimate_bps, delay_bps, loss_bps, remb_bps, acked_bps;
  double loss_ratio; /* over the last closed loss window */
  int state;         /* -1 underuse, 0 normal, 1 overuse */
  uint64_t feedbacks, packets_acked, packets_lost;
} sfu_bwe_stats_t;
void sfu_bwe_stats(const sfu_bwe_t *b, sfu_bwe_stats_t *out);
/* The stats' loss_ratio alone: read per feedback on the router's hot path, where copying
 * the whole struct cost ~25 instructions per forwarded packet (docs/benchmarks.md). */
double sfu_bwe_loss_ratio(const sfu_bwe_t *b);

#endif
