/* Cost of the send-side bandwidth estimator (issue 8 "Speed": CPU per transport-cc
 * feedback processed): sfu_bwe_on_feedback for feedbacks of P packets (default 100), and
 * sfu_bwe_on_sent per packet, over T viewer transports (default 100) visited at random so
 * that their state is not all in cache.
 *
 * Method. Each transport sends at 2 Mbps (1,200-byte packets); untimed, its viewer's
 * feedback for the last P packets is built (20 ms one-way, 0..1 ms jitter, ~2 % lost);
 * timed: the P sfu_bwe_on_sent calls (one stage) and the feedback (another). The clock
 * is read around each stage, never per packet; stages are noinline so that callgrind can
 * count them alone (--toggle-collect=bench_stage_*). Instructions come from
 * perf_event_open where the kernel allows it ("n/a" otherwise). malloc/calloc/realloc/free
 * are counted while a stage runs (alloc_count.c): the estimator must not allocate.
 *
 * Usage: bench_bwe [feedbacks (default 20000)] [--transports=T] [--packets=P]
 */
#include <inttypes.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "sfu/bwe.h"

#include "alloc_count.h"
#include "bench_clock.h"

#define MAX_TRANSPORTS 10000
#define MAX_PACKETS 4096
#define PKT_BYTES 1200

typedef struct {
  sfu_bwe_t *bwe;
  uint16_t seq;
  uint64_t send_us;
  uint64_t rng;
} transport_t;

static transport_t transports[MAX_TRANSPORTS];
static sfu_rtcp_twcc_pkt_t pkts[MAX_PACKETS];
static uint64_t send_times[MAX_PACKETS];

static uint64_t xorshift(uint64_t *s) {
  *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
  return *s;
}

/* Retired user-space instructions of this thread; -1 when not permitted. */
static int perf_open(void) {
  struct perf_event_attr a;
  memset(&a, 0, sizeof a);
  a.type = PERF_TYPE_HARDWARE;
  a.size = sizeof a;
  a.config = PERF_COUNT_HW_INSTRUCTIONS;
  a.exclude_kernel = 1;
  a.exclude_hv = 1;
  return (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
}

static uint64_t perf_read(int fd) {
  uint64_t v = 0;
  if (fd < 0 || read(fd, &v, sizeof v) != sizeof v) return 0;
  return v;
}

__attribute__((noinline)) void bench_stage_sent(transport_t *t, int n);
__attribute__((noinline)) void bench_stage_feedback(transport_t *t, uint64_t now_us,
                                                    const sfu_rtcp_twcc_t *h, size_t n);

void bench_stage_sent(transport_t *t, int n) {
  for (int i = 0; i < n; i++)
    sfu_bwe_on_sent(t->bwe, (uint16_t)(t->seq + i), send_times[i], PKT_BYTES, -1);
}

void bench_stage_feedback(transport_t *t, uint64_t now_us, const sfu_rtcp_twcc_t *h, size_t n) {
  sfu_bwe_on_feedback(t->bwe, now_us, h, pkts, n);
}

int main(int argc, char **argv) {
  uint64_t feedbacks = 20000;
  int ntransports = 100, npackets = 100;
  for (int i = 1; i < argc; i++) {
    if (strncmp(argv[i], "--transports=", 13) == 0)
      ntransports = atoi(argv[i] + 13);
    else if (strncmp(argv[i], "--packets=", 10) == 0)
      npackets = atoi(argv[i] + 10);
    else
      feedbacks = strtoull(argv[i], NULL, 10);
  }
  if (ntransports < 1 || ntransports > MAX_TRANSPORTS || npackets < 1 || npackets > MAX_PACKETS)
    return 2;
  for (int i = 0; i < ntransports; i++) {
    transports[i].bwe = sfu_bwe_new(NULL);
    transports[i].rng = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
    transports[i].send_us = 1000000;
    if (!transports[i].bwe) return 1;
  }
  const double gap_us = PKT_BYTES * 8e6 / 2e6; /* 2 Mbps */
  uint64_t rng = 88172645463325252ull, ns_fb = 0, ns_sent = 0, ins_fb = 0, ins_sent = 0;
  uint64_t allocs_fb = 0, allocs_sent = 0;
  int perf = perf_open();
  if (perf >= 0) ioctl(perf, PERF_EVENT_IOC_ENABLE, 0);
  for (uint64_t f = 0; f < feedbacks; f++) {
    transport_t *t = &transports[xorshift(&rng) % (uint64_t)ntransports];
    /* untimed: send times, then the viewer's feedback for them */
    for (int i = 0; i < npackets; i++) send_times[i] = t->send_us + (uint64_t)(i * gap_us);
    sfu_rtcp_twcc_t h = {.base_seq = t->seq, .status_count = (uint16_t)npackets};
    int64_t ref = (int64_t)(send_times[0] + 20000) / 64000, prev = ref * 256;
    h.ref_time = (int32_t)(ref & 0xffffff);
    for (int i = 0; i < npackets; i++) {
      uint64_t r = xorshift(&t->rng);
      pkts[i].seq = (uint16_t)(t->seq + i);
      if (r % 50 == 0) { /* ~2 % lost */
        pkts[i].status = SFU_TWCC_NOT_RECEIVED, pkts[i].delta = 0;
        continue;
      }
      int64_t units = (int64_t)(send_times[i] + 20000 + (r >> 20) % 1000) / 250;
      pkts[i].delta = (int32_t)(units - prev);
      pkts[i].status =
          pkts[i].delta >= 0 && pkts[i].delta <= 255 ? SFU_TWCC_SMALL_DELTA : SFU_TWCC_LARGE_DELTA;
      prev = units;
    }
    uint64_t now_us = send_times[npackets - 1] + 40000;

    uint64_t c0 = perf_read(perf);
    alloc_counting = 1;
    uint64_t t0 = now_ns();
    bench_stage_sent(t, npackets);
    uint64_t t1 = now_ns();
    alloc_counting = 0;
    uint64_t c1 = perf_read(perf);
    allocs_sent += alloc_calls, alloc_calls = 0;
    alloc_counting = 1;
    uint64_t t2 = now_ns();
    bench_stage_feedback(t, now_us, &h, (size_t)npackets);
    uint64_t t3 = now_ns();
    alloc_counting = 0;
    uint64_t c2 = perf_read(perf);
    allocs_fb += alloc_calls, alloc_calls = 0;
    ns_sent += t1 - t0, ns_fb += t3 - t2;
    ins_sent += c1 - c0, ins_fb += c2 - c1;
    t->seq = (uint16_t)(t->seq + npackets);
    t->send_us = send_times[npackets - 1] + (uint64_t)gap_us;
  }
  double npk = (double)feedbacks * npackets;
  printf("sfu_bwe_on_feedback: %" PRIu64
         " feedbacks of %d packets, %d transports: %.0f ns/feedback "
         "(%.1f ns/packet)",
         feedbacks, npackets, ntransports, (double)ns_fb / (double)feedbacks, (double)ns_fb / npk);
  if (perf >= 0)
    printf(", %.0f instructions/feedback (%.1f/packet)", (double)ins_fb / (double)feedbacks,
           (double)ins_fb / npk);
  else
    printf(", instructions n/a (perf_event_open not permitted)");
  printf(", allocs/feedback %.3f\n", (double)allocs_fb / (double)feedbacks);
  printf("sfu_bwe_on_sent: %.1f ns/packet", (double)ns_sent / npk);
  if (perf >= 0) printf(", %.1f instructions/packet", (double)ins_sent / npk);
  printf(", allocs/packet %.3f\n", (double)allocs_sent / npk);
  sfu_bwe_stats_t st;
  sfu_bwe_stats(transports[0].bwe, &st);
  printf("(transport 0: estimate %.0f kbps, %" PRIu64 " feedbacks, %" PRIu64 " acked, %" PRIu64
         " lost)\n",
         st.estimate_bps / 1e3, st.feedbacks, st.packets_acked, st.packets_lost);
  for (int i = 0; i < ntransports; i++) sfu_bwe_free(transports[i].bwe);
  if (perf >= 0) close(perf);
  return 0;
}
