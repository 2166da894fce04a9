/* Cost of one ICE connectivity/consent check as the worker answers it: parse, then
 * sfu_ice_handle_stun (FINGERPRINT, USERNAME, MESSAGE-INTEGRITY, and the success
 * response with its own MESSAGE-INTEGRITY and FINGERPRINT), the per-transport work behind
 * docs/benchmarks.md's "10 allocations per STUN check".
 *
 * Method. One binding request as a browser sends it (USERNAME of two 4/16-char ufrags,
 * PRIORITY, ICE-CONTROLLING, USE-CANDIDATE, MI, FP; 22-char password as RFC 8839 asks),
 * answered N times by one lite agent; the response goes to a no-op send callback. The
 * clock is read once per run; the timed stage is noinline so that callgrind can count it
 * alone (--toggle-collect=bench_stage_*). malloc/calloc/realloc/free are interposed
 * (alloc_count.c) and counted while the stage runs.
 *
 * Usage: bench_stun [checks (default 200000)]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sfu/ice_lite.h"
#include "sfu/stun.h"

#include "alloc_count.h"
#include "bench_clock.h"

#define LFRAG "Wk3a"
#define RFRAG "bC8s0T5pQx2mR7vZ"
#define LPWD "Jq5XnV2bT9cLmW4sKd8ePz"

static uint64_t responses;
static void on_send(void *user, const sfu_addr_t *to, const uint8_t *buf, size_t len) {
  (void)user, (void)to, (void)buf, (void)len;
  responses++;
}

__attribute__((noinline)) int bench_stage_checks(sfu_ice_t *ice, const sfu_addr_t *from,
                                                 const uint8_t *req, size_t len, uint64_t n);

int bench_stage_checks(sfu_ice_t *ice, const sfu_addr_t *from, const uint8_t *req, size_t len,
                       uint64_t n) {
  int bad = 0;
  for (uint64_t i = 0; i < n; i++) {
    sfu_stun_msg_t m;
    if (sfu_stun_parse(req, len, &m) != 0 || sfu_ice_handle_stun(ice, i * 1000, from, &m) != 0)
      bad++;
  }
  return bad;
}

int main(int argc, char **argv) {
  uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 200000;
  if (n == 0) return 2;
  static const uint8_t tid[SFU_STUN_TID_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  sfu_stun_request_params_t p = {
      .tid = tid,
      .username = LFRAG ":" RFRAG,
      .password = LPWD,
      .priority = 0x6e7f1eff,
      .role = SFU_ICE_ROLE_CONTROLLING,
      .tiebreaker = 0x1234567890abcdefull,
      .use_candidate = 1,
  };
  uint8_t req[256];
  int len = sfu_stun_build_binding_request(req, sizeof req, &p);
  if (len <= 0) return 1;
  sfu_ice_t ice;
  sfu_ice_cbs_t cbs = {.send = on_send};
  sfu_addr_t from;
  if (sfu_ice_init(&ice, &cbs, NULL, 0) || sfu_ice_set_local(&ice, LFRAG, LPWD) ||
      sfu_ice_set_remote(&ice, RFRAG, "unused-remote-password") ||
      sfu_addr_from_ip(&from, "192.0.2.7", 50000, SFU_PROTO_UDP))
    return 1;
  /* Warm-up outside the window: the first check of a thread may set things up. */
  if (bench_stage_checks(&ice, &from, req, (size_t)len, 16)) return 1;
  alloc_calls = 0;
  alloc_counting = 1;
  uint64_t t0 = now_ns();
  int bad = bench_stage_checks(&ice, &from, req, (size_t)len, n);
  uint64_t ns = now_ns() - t0;
  alloc_counting = 0;
  if (bad) {
    fprintf(stderr, "%d checks failed\n", bad);
    return 1;
  }
  printf("binding request %d bytes: %" PRIu64 " checks %7.1f ns/check allocs/check %.3f\n", len, n,
         (double)ns / (double)n, (double)alloc_calls / (double)n);
  return responses == n + 16 ? 0 : 1;
}
