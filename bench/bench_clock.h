/* The benchmarks' wall clock: monotonic nanoseconds (bench_mixer.c counts its thread's CPU
 * time instead). */
#ifndef SFU_BENCH_CLOCK_H
#define SFU_BENCH_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
