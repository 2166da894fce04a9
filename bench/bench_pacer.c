/* Pacing cost per packet (issue 8, "CPU of estimation + pacing"): sfu_pacer_push and
 * sfu_pacer_pop, plus the owner's sfu_pacer_next_deadline per loop turn, for V viewer
 * transports (default 100) receiving video at R each (default 2 Mbps) paced at 2.5 x R.
 *
 * Method. A virtual clock in 1 ms loop turns. Every 33 ms each viewer gets a frame of
 * 1,200-byte packets (R / 30 fps; every 60th frame a keyframe 8x larger, which the
 * pacer spreads), a NACK answered by an RTX every 50 frames, and an audio packet every
 * 20 ms; viewers are staggered so that their frames do not all land in one turn. Each turn,
 * every viewer with packets pops what is due and asks for its next deadline (as the
 * loop timer would). Timed: the whole run (the packet generation is a memset-free
 * header write, negligible). Reported per packet pushed and popped: ns (CLOCK_MONOTONIC)
 * and user-space instructions (perf_event_open, if the kernel allows; otherwise run under
 * callgrind: valgrind --tool=callgrind --toggle-collect=bench_stage_run bench_pacer). The
 * allocator is interposed: calls during the run are counted (must be 0 after warm-up).
 *
 * --router: as the video router uses it (router_pace.c): one priority (FIFO), no audio,
 * bursts of 5 ms (SFU_PACER_DEFAULT_BURST_US), every packet tries sfu_pacer_admit first
 * (sent from the caller's buffer when the queue is empty and the budget allows), pushed
 * only otherwise, and a due packet is sent from its slot (sfu_pacer_peek + take, no copy
 * out) instead of popped.
 *
 * Usage: bench_pacer [seconds of virtual time (default 20)] [--viewers=N] [--kbps=R]
 *                    [--router]
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

#include "sfu/pacer.h"
#include "sfu/router.h"

#include "alloc_count.h"
#include "bench_clock.h"

#define PKT_LEN 1200
#define MAX_VIEWERS 10000

typedef struct {
  uint64_t pushed, popped, dropped, turns, admitted;
} totals_t;

static int router_mode;

/* One packet in: the router's way (admit, else push at VIDEO) or straight push. */
static void in(sfu_pacer_t *p, uint64_t now, int prio, const uint8_t *pkt, size_t len,
               uint32_t tag, totals_t *t) {
  if (router_mode) {
    if (sfu_pacer_admit(p, now, len)) {
      t->admitted++;
      return;
    }
    prio = SFU_PACER_PRIO_VIDEO;
  }
  if (sfu_pacer_push(p, now, prio, pkt, len, tag) == 0) t->pushed++;
}

static sfu_pacer_t *pacers[MAX_VIEWERS];
static int nviewers = 100;
static uint64_t kbps = 2000;

static int perf_open(void) {
  struct perf_event_attr a;
  memset(&a, 0, sizeof a);
  a.size = sizeof a;
  a.type = PERF_TYPE_HARDWARE;
  a.config = PERF_COUNT_HW_INSTRUCTIONS;
  a.disabled = 1;
  a.exclude_kernel = 1;
  a.exclude_hv = 1;
  return (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
}

static __attribute__((noinline)) void run(uint64_t from_ms, uint64_t to_ms, totals_t *t) {
  static uint8_t pkt[PKT_LEN], out[SFU_PACER_SLOT];
  uint64_t frame_pkts = (kbps * 1000 / 30 / 8 + PKT_LEN - 1) / PKT_LEN;
  for (uint64_t ms = from_ms; ms < to_ms; ms++) {
    uint64_t now = ms * 1000;
    for (int v = 0; v < nviewers; v++) {
      sfu_pacer_t *p = pacers[v];
      uint64_t phase = ms + (uint64_t)v * 7; /* staggered viewers */
      if (phase % 33 == 0) {
        uint64_t frame = phase / 33;
        uint64_t n = frame % 60 == 0 ? 8 * frame_pkts : frame_pkts;
        for (uint64_t i = 0; i < n; i++) {
          pkt[2] = (uint8_t)i; /* a header byte changes: the copy is real */
          in(p, now, SFU_PACER_PRIO_VIDEO, pkt, PKT_LEN, (uint32_t)i, t);
        }
        if (frame % 50 == 25) in(p, now, SFU_PACER_PRIO_RTX, pkt, PKT_LEN, 0, t);
      }
      if (!router_mode && phase % 20 == 0) in(p, now, SFU_PACER_PRIO_URGENT, pkt, 120, 0, t);
      if (sfu_pacer_next_deadline(p, now) > now) continue;
      size_t len;
      if (router_mode) {
        uint8_t *slot;
        while (sfu_pacer_peek(p, now, &slot, NULL, NULL, NULL) > 0) {
          sfu_pacer_take(p, now);
          t->popped++;
        }
      } else {
        while ((len = sfu_pacer_pop(p, now, out, sizeof out, NULL, NULL)) > 0) t->popped++;
      }
      (void)sfu_pacer_next_deadline(p, now); /* the owner re-arms its timer */
    }
    t->turns++;
  }
}

/* The timed run alone (callgrind: --toggle-collect=bench_stage_run). */
__attribute__((noinline)) void bench_stage_run(uint64_t from_ms, uint64_t to_ms, totals_t *t);
void bench_stage_run(uint64_t from_ms, uint64_t to_ms, totals_t *t) { run(from_ms, to_ms, t); }

int main(int argc, char **argv) {
  uint64_t seconds = 20;
  for (int i = 1; i < argc; i++) {
    if (strncmp(argv[i], "--viewers=", 10) == 0) nviewers = atoi(argv[i] + 10);
    else if (strncmp(argv[i], "--kbps=", 7) == 0) kbps = strtoull(argv[i] + 7, NULL, 10);
    else if (strcmp(argv[i], "--router") == 0) router_mode = 1;
    else seconds = strtoull(argv[i], NULL, 10);
  }
  if (nviewers < 1 || nviewers > MAX_VIEWERS || kbps == 0 || seconds == 0) {
    fprintf(stderr, "usage: bench_pacer [seconds] [--viewers=1..%d] [--kbps=R]\n", MAX_VIEWERS);
    return 2;
  }
  for (int v = 0; v < nviewers; v++) {
    pacers[v] = sfu_pacer_new(0, 0);
    if (!pacers[v]) return 1;
    sfu_pacer_set_rate(pacers[v], 0, kbps * 1000 * 25 / 10); /* libwebrtc's 2.5 factor */
  }
  totals_t warm = {0}, t = {0};
  run(1, 2001, &warm); /* 2 s: pools grow to their high-water mark */

  int fd = perf_open();
  if (fd >= 0) {
    ioctl(fd, PERF_EVENT_IOC_RESET, 0);
    ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
  }
  alloc_calls = 0;
  alloc_counting = 1;
  uint64_t t0 = now_ns();
  bench_stage_run(2001, 2001 + seconds * 1000, &t);
  uint64_t ns = now_ns() - t0;
  alloc_counting = 0;
  uint64_t instr = 0;
  if (fd >= 0) {
    ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
    if (read(fd, &instr, sizeof instr) != sizeof instr) instr = 0;
    close(fd);
  }

  uint64_t dropped = 0;
  for (int v = 0; v < nviewers; v++) {
    sfu_pacer_stats_t st;
    sfu_pacer_stats(pacers[v], &st);
    dropped += st.dropped_packets;
    sfu_pacer_free(pacers[v]);
  }
  double pkts = (double)(t.popped + t.admitted);
  printf("bench_pacer%s: %d viewers x %" PRIu64 " kbps (paced at 2.5x), %" PRIu64
         " s virtual, %" PRIu64 " admitted at once, %" PRIu64 " pushed, %" PRIu64
         " popped, %" PRIu64 " dropped\n",
         router_mode ? " --router" : "", nviewers, kbps, seconds, t.admitted, t.pushed, t.popped,
         dropped);
  printf("  %.1f ns per packet sent (%s + deadlines)", (double)ns / pkts,
         router_mode ? "admit or push + pop" : "push + pop");
  if (instr) printf(", %.0f instructions per packet", (double)instr / pkts);
  else printf(", instructions: n/a (perf_event_open refused; use callgrind)");
  printf(", %.3f allocations per packet\n", (double)alloc_calls / pkts);
  printf("  %.2f ms CPU per virtual second for all viewers (%.2f%% of one core)\n",
         (double)ns / 1e6 / (double)seconds, (double)ns / 1e7 / (double)seconds);
  return 0;
}
