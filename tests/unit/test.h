/* A tiny unit-test harness: one executable per test file, a table of cases, each run
 * in order; failures print file:line and the expression. Exit status is the number of
 * failed cases (0 = pass), which is what meson's test() reads.
 *
 *   TEST(parses_header) { CHECK(x == 1); CHECK_EQ_INT(a, b); }
 *   int main(void) { RUN(parses_header); return test_summary(); }
 */
#ifndef SFU_TEST_H
#define SFU_TEST_H

#include <stdio.h>
#include <string.h>

static int test_failed_cases_, test_cases_, test_cur_failed_;

/* noinline: each case keeps its own stack frame. Inlined into main (a static function
 * called once), every case's locals would share one frame, and under ASan (no stack
 * slot reuse) big fixtures like test_session's event recorder overflow the stack. */
#define TEST(name) static __attribute__((noinline)) void test_##name(void)
#define RUN(name)                                                            \
  do {                                                                       \
    test_cur_failed_ = 0;                                                    \
    test_cases_++;                                                           \
    test_##name();                                                           \
    if (test_cur_failed_) test_failed_cases_++;                              \
    printf("%s %s\n", test_cur_failed_ ? "FAIL" : "ok  ", #name);            \
  } while (0)

#define CHECK(expr)                                                          \
  do {                                                                       \
    if (!(expr)) {                                                           \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr); \
      test_cur_failed_ = 1;                                                  \
    }                                                                        \
  } while (0)

#define CHECK_EQ_INT(a, b)                                                   \
  do {                                                                       \
    long long a_ = (long long)(a), b_ = (long long)(b);                      \
    if (a_ != b_) {                                                          \
      fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, #b, a_, b_); \
      test_cur_failed_ = 1;                                                  \
    }                                                                        \
  } while (0)

#define CHECK_EQ_STR(a, b)                                                   \
  do {                                                                       \
    const char *a_ = (a), *b_ = (b);                                         \
    if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                 \
      fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__, __LINE__, #a, #b, \
              a_ ? a_ : "(null)", b_ ? b_ : "(null)");                       \
      test_cur_failed_ = 1;                                                  \
    }                                                                        \
  } while (0)

/* Stops the current case (use after a CHECK whose failure makes the rest meaningless). */
#define REQUIRE(expr)                                                        \
  do {                                                                       \
    CHECK(expr);                                                             \
    if (test_cur_failed_) return;                                            \
  } while (0)

static inline int test_summary(void) {
  printf("%d cases, %d failed\n", test_cases_, test_failed_cases_);
  return test_failed_cases_ ? 1 : 0;
}

#endif
