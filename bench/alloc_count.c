/* The benchmarks' allocation counter (see alloc_count.h). */
#include "alloc_count.h"

#include <stdlib.h> /* the prototypes replaced here */

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

volatile int alloc_counting;
uint64_t alloc_calls;

void *malloc(size_t n) {
  if (alloc_counting) alloc_calls++;
  return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
  if (alloc_counting) alloc_calls++;
  return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
  if (alloc_counting) alloc_calls++;
  return __libc_realloc(p, n);
}
void free(void *p) {
  if (alloc_counting && p) alloc_calls++;
  __libc_free(p);
}
