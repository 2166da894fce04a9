/* Send-path cost per packet: sfu_srtp_protect_rtp, what forwarding will call once per
 * packet and subscriber (issue 6 item 10: the repeat guard must not cost measurably).
 *
 * Method. 1,200-byte RTP packets (as bench_recv.c) protected for T transports (default
 * 100) of S outbound SSRCs each (default 8: audio, video layers, RTX), picked at random
 * like interleaved forwarded streams. Protect works in place, so the bench works in
 * batches: untimed, write BATCH fresh plaintexts (next sequence number of their SSRC);
 * timed, protect the batch. The clock is read twice per batch, never per packet; the
 * timed stage is noinline so that callgrind can count it alone
 * (--toggle-collect=bench_stage_*). malloc/calloc/realloc/free are interposed to count
 * calls made while the timed stage runs: the send path must not allocate.
 *
 * Usage: bench_protect [packets per run (default 400000)] [--profile=cm|gcm]
 *                      [--crypto=libsrtp|openssl] [--transports=N] [--ssrcs=S]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sfu/bytes.h"
#include "sfu/srtp.h"

#include "alloc_count.h"
#include "bench_clock.h"

#define BATCH 64
#define PKT_LEN 1200
#define SLOT_CAP 1500
#define MAX_TRANSPORTS 10000
#define MAX_SSRCS 64

typedef struct {
  sfu_srtp_t *tx; /* the worker's session towards one subscriber */
  uint16_t seq[MAX_SSRCS];
} bench_transport_t;

typedef struct {
  uint8_t buf[SLOT_CAP];
  size_t len;
  bench_transport_t *t;
} slot_t;

static bench_transport_t transports[MAX_TRANSPORTS];
static slot_t slots[BATCH];
static int ntransports = 100, nssrcs = 8;

__attribute__((noinline)) void bench_stage_protect(slot_t *s, int n);

void bench_stage_protect(slot_t *s, int n) {
  for (int i = 0; i < n; i++)
    if (sfu_srtp_protect_rtp(s[i].t->tx, s[i].buf, &s[i].len, SLOT_CAP) != 0) {
      fprintf(stderr, "protect failed\n");
      exit(1);
    }
}

static void run(sfu_srtp_backend_t backend, sfu_srtp_profile_t prof, uint64_t packets) {
  for (int i = 0; i < ntransports; i++) {
    sfu_srtp_keys_t k;
    memset(&k, 0, sizeof k);
    k.profile = prof;
    k.key_len = 16;
    k.salt_len = prof == SFU_SRTP_AEAD_AES_128_GCM ? 12 : 14;
    for (int j = 0; j < 16; j++) k.server_key[j] = (uint8_t)(0x80 + j + i);
    for (int j = 0; j < 14; j++) k.server_salt[j] = (uint8_t)(0xc0 + j);
    memset(&transports[i], 0, sizeof transports[i]);
    transports[i].tx = sfu_srtp_new_backend(&k, 1, backend);
    if (!transports[i].tx) exit(1);
  }
  uint64_t rng = 88172645463325252ull, n = 0, ns = 0;
  while (n < packets) {
    for (int i = 0; i < BATCH; i++) { /* untimed: the plaintexts */
      rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
      bench_transport_t *t = &transports[rng % (uint64_t)ntransports];
      unsigned s = (unsigned)((rng >> 32) % (uint64_t)nssrcs);
      uint8_t *p = slots[i].buf;
      p[0] = 0x80, p[1] = 96;
      sfu_wr16(p + 2, t->seq[s]++);
      sfu_wr32(p + 4, (uint32_t)(n + (uint64_t)i) * 3000u);
      sfu_wr32(p + 8, 0x10000000u + s);
      for (size_t j = 12; j < PKT_LEN; j++) p[j] = (uint8_t)(j * 31 + n);
      slots[i].len = PKT_LEN;
      slots[i].t = t;
    }
    alloc_counting = 1;
    uint64_t t0 = now_ns();
    bench_stage_protect(slots, BATCH);
    ns += now_ns() - t0;
    alloc_counting = 0;
    n += BATCH;
  }
  printf("%-24s %-8s %8" PRIu64
         " pkts %7.1f ns/pkt allocs/pkt %.3f (%d transports x %d "
         "SSRCs)\n",
         sfu_srtp_profile_name(prof), sfu_srtp_backend_name(backend), n, (double)ns / (double)n,
         (double)alloc_calls / (double)n, ntransports, nssrcs);
  alloc_calls = 0;
  for (int i = 0; i < ntransports; i++) sfu_srtp_free(transports[i].tx);
}

int main(int argc, char **argv) {
  uint64_t packets = 400000;
  int pfirst = 0, plast = 1, cfirst = 0, clast = 1;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--profile=cm") == 0)
      pfirst = plast = 0;
    else if (strcmp(argv[i], "--profile=gcm") == 0)
      pfirst = plast = 1;
    else if (strcmp(argv[i], "--crypto=openssl") == 0)
      cfirst = clast = 0;
    else if (strcmp(argv[i], "--crypto=libsrtp") == 0)
      cfirst = clast = 1;
    else if (strncmp(argv[i], "--transports=", 13) == 0)
      ntransports = atoi(argv[i] + 13);
    else if (strncmp(argv[i], "--ssrcs=", 8) == 0)
      nssrcs = atoi(argv[i] + 8);
    else
      packets = strtoull(argv[i], NULL, 10);
  }
  if (ntransports < 1 || ntransports > MAX_TRANSPORTS || nssrcs < 1 || nssrcs > MAX_SSRCS) return 2;
  if (sfu_srtp_global_init() != 0) return 1;
  sfu_srtp_profile_t profs[2] = {SFU_SRTP_AES128_CM_SHA1_80, SFU_SRTP_AEAD_AES_128_GCM};
  for (int c = cfirst; c <= clast; c++)
    for (int p = pfirst; p <= plast; p++)
      run(c ? SFU_SRTP_BACKEND_LIBSRTP : SFU_SRTP_BACKEND_OPENSSL, profs[p], packets);
  sfu_srtp_global_shutdown();
  return 0;
}
