/* Allocation counter for tests that assert "0 allocations" on a hot path: malloc,
 * calloc, realloc and free are replaced in the test executable (glibc keeps the real
 * allocator reachable as __libc_*, as bench/alloc_count.c does) and every call made while
 * test_alloc_counting is set is counted. Include it in one file of a test executable.
 *
 * Not under AddressSanitizer, which owns the allocator (replacing malloc there would mix
 * two heaps): TEST_ALLOC_COUNTS is 0 and callers skip their allocation checks. */
#ifndef SFU_TEST_ALLOC_H
#define SFU_TEST_ALLOC_H

#include <stddef.h>
#include <stdint.h>

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ALLOC_COUNTS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ALLOC_COUNTS 0
#endif
#endif
#ifndef TEST_ALLOC_COUNTS
#define TEST_ALLOC_COUNTS 1
#endif

/* Both volatile: the compiler takes malloc and free for the builtins, which touch no
 * user variable, and would fold a read of a file-local counter across them. */
static volatile int test_alloc_counting;
static volatile uint64_t test_alloc_calls;

#if TEST_ALLOC_COUNTS
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

void *malloc(size_t n) {
  if (test_alloc_counting) test_alloc_calls++;
  return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
  if (test_alloc_counting) test_alloc_calls++;
  return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
  if (test_alloc_counting) test_alloc_calls++;
  return __libc_realloc(p, n);
}
void free(void *p) {
  if (test_alloc_counting && p) test_alloc_calls++;
  __libc_free(p);
}
#endif

#endif
