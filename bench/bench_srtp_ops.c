/* The four SRTP operations one at a time: protect / unprotect of RTP and of RTCP, per
 * profile, so that the per-packet cost of each transform (and of the OpenSSL calls
 * around it) can be counted on its own. bench_protect measures the send path at scale
 * (many transports, the repeat guard), bench_recv the receive path with demux and parse;
 * neither covers SRTCP, which the worker unprotects for every transport-cc feedback.
 *
 * Method. One session pair (client protects, server unprotects, RFC 5764 §4.2 keys), S
 * SSRCs (default 4). Batches of BATCH packets: untimed, the plaintexts (and, for the
 * unprotect stages, their protection by the other side); timed, one stage over the batch.
 * Each operation has its own noinline stage, so one callgrind run counts all four:
 *   valgrind --tool=callgrind --toggle-collect='bench_stage_*' build/bench/bench_srtp_ops
 *   callgrind_annotate --inclusive=yes FILE | grep bench_stage_
 * and each stage's count divided by the packets printed is instructions per packet.
 * RTP packets are 1,200 bytes (a video packet, as bench_recv.c); RTCP packets are a
 * transport-cc feedback (RTPFB, FMT 15, draft-holmer-rmcat-transport-wide-cc-extensions
 * §3.1) of --rtcp-len bytes (default 48: ~20 packets reported). Allocations in the timed
 * stages are counted (alloc_count.c): the packet path must not allocate.
 *
 * Usage: bench_srtp_ops [packets per op (default 100000)] [--profile=cm|gcm]
 *                       [--crypto=openssl|libsrtp] [--ssrcs=S] [--rtcp-len=N]
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
#define RTP_LEN 1200
#define SLOT_CAP 1500
#define MAX_SSRCS 64

typedef struct {
  uint8_t buf[SLOT_CAP];
  size_t len;
} slot_t;

enum { OP_PROTECT_RTP, OP_UNPROTECT_RTP, OP_PROTECT_RTCP, OP_UNPROTECT_RTCP, OPS };
static const char *op_names[OPS] = {"protect_rtp", "unprotect_rtp", "protect_rtcp",
                                    "unprotect_rtcp"};

static slot_t slots[BATCH];
static int nssrcs = 4;
static size_t rtcp_len = 48;

static void fail(const char *what) {
  fprintf(stderr, "%s failed\n", what);
  exit(1);
}

__attribute__((noinline)) void bench_stage_protect_rtp(sfu_srtp_t *s, slot_t *b, int n);
__attribute__((noinline)) void bench_stage_unprotect_rtp(sfu_srtp_t *s, slot_t *b, int n);
__attribute__((noinline)) void bench_stage_protect_rtcp(sfu_srtp_t *s, slot_t *b, int n);
__attribute__((noinline)) void bench_stage_unprotect_rtcp(sfu_srtp_t *s, slot_t *b, int n);

void bench_stage_protect_rtp(sfu_srtp_t *s, slot_t *b, int n) {
  for (int i = 0; i < n; i++)
    if (sfu_srtp_protect_rtp(s, b[i].buf, &b[i].len, SLOT_CAP) != 0) fail("protect_rtp");
}

void bench_stage_unprotect_rtp(sfu_srtp_t *s, slot_t *b, int n) {
  for (int i = 0; i < n; i++)
    if (sfu_srtp_unprotect_rtp(s, b[i].buf, &b[i].len) != 0) fail("unprotect_rtp");
}

void bench_stage_protect_rtcp(sfu_srtp_t *s, slot_t *b, int n) {
  for (int i = 0; i < n; i++)
    if (sfu_srtp_protect_rtcp(s, b[i].buf, &b[i].len, SLOT_CAP) != 0) fail("protect_rtcp");
}

void bench_stage_unprotect_rtcp(sfu_srtp_t *s, slot_t *b, int n) {
  for (int i = 0; i < n; i++)
    if (sfu_srtp_unprotect_rtcp(s, b[i].buf, &b[i].len) != 0) fail("unprotect_rtcp");
}

/* Plaintext i of a batch: RTP of SSRC base + (i mod S) with its next sequence number, or
 * a transport-cc feedback from that SSRC. */
static void plain(slot_t *sl, int rtcp, uint32_t ssrc, uint16_t seq, uint64_t salt) {
  uint8_t *p = sl->buf;
  size_t len = rtcp ? rtcp_len : RTP_LEN;
  for (size_t j = 0; j < len; j++) p[j] = (uint8_t)(j * 31 + salt);
  if (rtcp) {
    p[0] = 0x80 | 15, p[1] = 205; /* RFC 4585 §6.1 RTPFB, FMT 15 (transport-cc) */
    sfu_wr16(p + 2, (uint16_t)(len / 4 - 1));
    sfu_wr32(p + 4, ssrc);
  } else {
    p[0] = 0x80, p[1] = 96;
    sfu_wr16(p + 2, seq);
    sfu_wr32(p + 4, (uint32_t)salt * 3000u);
    sfu_wr32(p + 8, ssrc);
  }
  sl->len = len;
}

static void run_op(int op, sfu_srtp_t *tx, sfu_srtp_t *rx, uint64_t packets, const char *prof,
                   const char *impl) {
  int rtcp = op >= OP_PROTECT_RTCP, unprotect = op == OP_UNPROTECT_RTP || op == OP_UNPROTECT_RTCP;
  uint32_t base = 0x10000000u * (uint32_t)(op + 1); /* fresh SSRCs per operation */
  uint16_t seq[MAX_SSRCS] = {0};
  uint64_t n = 0, ns = 0;
  alloc_calls = 0;
  while (n < packets) {
    for (int i = 0; i < BATCH; i++) {
      int s = i % nssrcs;
      plain(&slots[i], rtcp, base + (uint32_t)s, seq[s]++, n + (uint64_t)i);
      if (unprotect && (rtcp ? sfu_srtp_protect_rtcp(tx, slots[i].buf, &slots[i].len, SLOT_CAP)
                             : sfu_srtp_protect_rtp(tx, slots[i].buf, &slots[i].len, SLOT_CAP)))
        fail("setup protect");
    }
    alloc_counting = 1;
    uint64_t t0 = now_ns();
    switch (op) {
      case OP_PROTECT_RTP: bench_stage_protect_rtp(tx, slots, BATCH); break;
      case OP_UNPROTECT_RTP: bench_stage_unprotect_rtp(rx, slots, BATCH); break;
      case OP_PROTECT_RTCP: bench_stage_protect_rtcp(tx, slots, BATCH); break;
      default: bench_stage_unprotect_rtcp(rx, slots, BATCH); break;
    }
    ns += now_ns() - t0;
    alloc_counting = 0;
    n += BATCH;
  }
  printf("%-24s %-8s %-15s %4zu B %8" PRIu64 " pkts %7.1f ns/pkt allocs/pkt %.4f\n", prof, impl,
         op_names[op], rtcp ? rtcp_len : (size_t)RTP_LEN, n, (double)ns / (double)n,
         (double)alloc_calls / (double)n);
}

static void run(sfu_srtp_backend_t backend, sfu_srtp_profile_t prof, uint64_t packets) {
  sfu_srtp_keys_t k;
  memset(&k, 0, sizeof k);
  k.profile = prof;
  k.key_len = 16;
  k.salt_len = prof == SFU_SRTP_AEAD_AES_128_GCM ? 12 : 14;
  for (int j = 0; j < 16; j++) k.client_key[j] = (uint8_t)(0x40 + j), k.server_key[j] = (uint8_t)(0x80 + j);
  for (int j = 0; j < 14; j++) k.client_salt[j] = (uint8_t)(0xa0 + j), k.server_salt[j] = (uint8_t)(0xc0 + j);
  sfu_srtp_t *tx = sfu_srtp_new_backend(&k, 0, backend), *rx = sfu_srtp_new_backend(&k, 1, backend);
  if (!tx || !rx) fail("session");
  for (int op = 0; op < OPS; op++)
    run_op(op, tx, rx, packets, sfu_srtp_profile_name(prof), sfu_srtp_backend_name(backend));
  sfu_srtp_free(tx);
  sfu_srtp_free(rx);
}

static int usage(const char *argv0) {
  fprintf(stderr,
          "usage: %s [packets per op > 0] [--profile=cm|gcm] [--crypto=openssl|libsrtp]\n"
          "       [--ssrcs=1..%d] [--rtcp-len=8..1200, a multiple of 4]\n",
          argv0, MAX_SSRCS);
  return 2;
}

int main(int argc, char **argv) {
  uint64_t packets = 100000;
  int pfirst = 0, plast = 1;
  sfu_srtp_backend_t backend = SFU_SRTP_BACKEND_OPENSSL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--profile=cm") == 0)
      pfirst = plast = 0;
    else if (strcmp(argv[i], "--profile=gcm") == 0)
      pfirst = plast = 1;
    else if (strncmp(argv[i], "--crypto=", 9) == 0) {
      if (sfu_srtp_backend_parse(argv[i] + 9, &backend) != 0) return usage(argv[0]);
    } else if (strncmp(argv[i], "--ssrcs=", 8) == 0)
      nssrcs = atoi(argv[i] + 8);
    else if (strncmp(argv[i], "--rtcp-len=", 11) == 0)
      rtcp_len = strtoul(argv[i] + 11, NULL, 10);
    else {
      char *end;
      packets = strtoull(argv[i], &end, 10);
      if (argv[i][0] < '0' || argv[i][0] > '9' || *end || packets == 0) return usage(argv[0]);
    }
  }
  if (nssrcs < 1 || nssrcs > MAX_SSRCS || rtcp_len < 8 || rtcp_len % 4 || rtcp_len > 1200)
    return usage(argv[0]);
  if (sfu_srtp_global_init() != 0) return 1;
  sfu_srtp_profile_t profs[2] = {SFU_SRTP_AES128_CM_SHA1_80, SFU_SRTP_AEAD_AES_128_GCM};
  for (int p = pfirst; p <= plast; p++) run(backend, profs[p], packets);
  sfu_srtp_global_shutdown();
  return 0;
}
