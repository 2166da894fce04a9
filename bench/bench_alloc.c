/* Allocation run cost (issue 8 "Speed": CPU per allocation run, for a viewer with 25
 * streams): sfu_alloc_run over 25 three-layer cameras (one a content share, a few with a
 * priority or a MaxLayer), on a virtual clock 100 ms apart, the estimate drawn at random
 * between 200 kbps and 8 Mbps every 20 runs (so runs climb, hold, drop and pause), each
 * target adopted as the router would.
 *
 * Method. Runs are timed in batches of BATCH (the clock read twice per batch); the timed
 * stage is noinline so that callgrind can count it alone
 * (valgrind --tool=callgrind --toggle-collect=bench_stage_* build/bench/bench_alloc 20000).
 * Instructions are also read from the PMU (perf_event_open, user space only) when the
 * kernel allows it, else reported as n/a. malloc/calloc/realloc/free are interposed to
 * count calls made while the timed stage runs: a run must not allocate.
 *
 * --temporal: every layer also has 3 temporal layers (libwebrtc's 40/20/40 % split), so
 * the ladders have up to 9 rungs instead of 3 (allocator.h "Temporal rungs").
 *
 * Usage: bench_alloc [runs (default 200000)] [--streams=N (default 25)] [--temporal]
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

#include "sfu/allocator.h"

#include "alloc_count.h"
#include "bench_clock.h"

#define BATCH 256
#define STEP_US 100000ull

static sfu_alloc_t alloc;
static sfu_alloc_stream_t streams[SFU_ALLOC_MAX_STREAMS];
static int8_t out[SFU_ALLOC_MAX_STREAMS], out_tid[SFU_ALLOC_MAX_STREAMS];
static size_t nstreams = 25;
static uint64_t switches, paused_runs;

static int open_instructions(void) {
  struct perf_event_attr pe;
  memset(&pe, 0, sizeof pe);
  pe.type = PERF_TYPE_HARDWARE;
  pe.size = sizeof pe;
  pe.config = PERF_COUNT_HW_INSTRUCTIONS;
  pe.disabled = 1;
  pe.exclude_kernel = 1;
  pe.exclude_hv = 1;
  return (int)syscall(SYS_perf_event_open, &pe, 0, -1, -1, 0);
}

__attribute__((noinline)) void bench_stage_alloc(const uint64_t *now, const uint64_t *est, int n);

void bench_stage_alloc(const uint64_t *now, const uint64_t *est, int n) {
  sfu_alloc_result_t res;
  for (int r = 0; r < n; r++) {
    sfu_alloc_run(&alloc, now[r], est[r], 0, streams, nstreams, out, out_tid, &res);
    for (size_t i = 0; i < nstreams; i++) {
      switches += out[i] != streams[i].current || out_tid[i] != streams[i].current_tid;
      streams[i].current = out[i];
      streams[i].current_tid = out_tid[i];
    }
    paused_runs += res.insufficient;
  }
}

int main(int argc, char **argv) {
  uint64_t runs = 200000;
  int temporal = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--temporal") == 0)
      temporal = 1;
    else if (strncmp(argv[i], "--streams=", 10) == 0)
      nstreams = (size_t)atoi(argv[i] + 10);
    else
      runs = strtoull(argv[i], NULL, 10);
  }
  if (nstreams < 1 || nstreams > SFU_ALLOC_MAX_STREAMS || runs < 1) return 2;
  static const uint32_t bps[3] = {150000, 500000, 1500000};
  static const uint16_t h[3] = {180, 360, 720};
  uint64_t rng = 88172645463325252ull;
  for (size_t i = 0; i < nstreams; i++) {
    sfu_alloc_stream_t *s = &streams[i];
    s->stream_id = 1000 + (uint32_t)i;
    s->content = i == 7;
    s->priority = i % 5 == 0 ? 1 : 0;
    s->max_layer = i % 6 == 3 ? 1 : -1;
    s->current = s->current_tid = -1;
    s->n_layers = 3;
    for (int k = 0; k < 3; k++) {
      rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
      s->layers[k].bitrate_bps = bps[k] * (90 + (uint32_t)(rng % 21)) / 100; /* ±10 % */
      s->layers[k].height = h[k];
      s->layers[k].active = 1;
      if (temporal) {
        s->layers[k].n_temporal = 3;
        s->layers[k].temporal_bps[0] = s->layers[k].bitrate_bps / 10 * 4;
        s->layers[k].temporal_bps[1] = s->layers[k].bitrate_bps / 10 * 6;
        s->layers[k].temporal_bps[2] = s->layers[k].bitrate_bps;
      }
    }
  }
  sfu_alloc_init(&alloc);
  int fd = open_instructions();
  uint64_t now[BATCH], est[BATCH], t = 10000000ull, e = 1000000, n = 0, ns = 0, instr = 0;
  while (n < runs) {
    for (int r = 0; r < BATCH; r++) { /* untimed: the clock and the estimates */
      t += STEP_US;
      if ((n + (uint64_t)r) % 20 == 0) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        e = 200000 + rng % 7800000;
      }
      now[r] = t, est[r] = e;
    }
    uint64_t c0 = 0, c1 = 0;
    if (fd >= 0) ioctl(fd, PERF_EVENT_IOC_RESET, 0), ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
    alloc_counting = 1;
    uint64_t t0 = now_ns();
    bench_stage_alloc(now, est, BATCH);
    ns += now_ns() - t0;
    alloc_counting = 0;
    if (fd >= 0) {
      ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
      if (read(fd, &c1, sizeof c1) == (ssize_t)sizeof c1) instr += c1 - c0;
    }
    n += BATCH;
  }
  printf("%zu streams%s: %" PRIu64 " runs %8.1f ns/run", nstreams, temporal ? " (temporal)" : "", n,
         (double)ns / (double)n);
  if (fd >= 0)
    printf(" %8.0f instructions/run", (double)instr / (double)n);
  else
    printf("      n/a instructions/run (perf_event_open refused; use callgrind)");
  printf(" allocs/run %.3f  (switches/run %.2f, insufficient %.0f %%)\n",
         (double)alloc_calls / (double)n, (double)switches / (double)n,
         100.0 * (double)paused_runs / (double)n);
  if (fd >= 0) close(fd);
  return 0;
}
