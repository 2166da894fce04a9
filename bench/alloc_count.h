/* Allocation counter shared by the benchmarks: alloc_count.c replaces malloc, calloc,
 * realloc and free (glibc keeps the real allocator reachable as __libc_*) and counts
 * every call while alloc_counting is set. Link alloc_count.c into the benchmark. */
#ifndef SFU_BENCH_ALLOC_COUNT_H
#define SFU_BENCH_ALLOC_COUNT_H

#include <stdint.h>

extern volatile int alloc_counting;
extern uint64_t alloc_calls;

#endif
