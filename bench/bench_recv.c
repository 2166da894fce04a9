/* Receive-path cost per packet (issue 3, "Speed"): classify (RFC 7983 demux) ->
 * 5-tuple lookup among 1,000 transports -> SRTP unprotect -> RTP parse with the
 * header extensions the worker reads (mid, rid, abs-send-time, transport-cc).
 *
 * Method. Packets are realistic 1,200-byte simulcast video packets as Chromium sends them
 * (one-byte extensions abs-send-time/2, transport-cc/4, mid/9, rid/10), spread over
 * 1,000 transports (one SSRC and one libsrtp session each). SRTP replay protection
 * forbids feeding the same packet twice, so the bench works in batches like the worker's
 * recvmmsg: untimed, protect a fresh batch of BATCH packets (next sequence numbers) in
 * place; timed, run the receive stages over the batch in place. The clock is read 4 times
 * per batch, never per packet. Stage functions are noinline so callgrind can attribute
 * instructions to them (bench/run_recv.sh uses --toggle-collect=bench_stage_*).
 *
 * malloc/calloc/realloc/free are interposed to count calls made while a timed stage
 * runs: the receive path must not allocate (architecture.md budgets).
 *
 * --crypto picks the sfu_srtp backend (sfu_srtp_new_backend): openssl (the product's own
 * transforms, src/proto/srtp_ossl.c, the default) or libsrtp (libsrtp2, Debian's NSS build);
 * without it, both are measured.
 *
 * Usage: bench_recv [packets per run (default 400000)] [--json] [--profile=cm|gcm]
 *                   [--crypto=libsrtp|openssl] [--transports=N (default 1000)]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sfu/addr.h"
#include "sfu/demux.h"
#include "sfu/err.h"
#include "sfu/hmap.h"
#include "sfu/rtp.h"
#include "sfu/rtp_ext.h"
#include "sfu/srtp.h"
#include "sfu/transport_table.h"

#include "alloc_count.h"
#include "bench_clock.h"

#define NTRANSPORTS_MAX 10000
static int ntransports = 1000; /* --transports=N */
#define BATCH 64
#define PKT_LEN 1200
#define SLOT_CAP 1500

typedef struct {
  sfu_tt_addr_entry_t entry; /* in the table, keyed by the remote 5-tuple */
  sfu_addr_t remote;
  sfu_srtp_t *rx;            /* what the worker holds: inbound session */
  sfu_srtp_t *tx;            /* the client's outbound session (bench only) */
  uint32_t ssrc;
  uint16_t seq, twcc;
  uint64_t received;
} bench_transport_t;

typedef struct {
  uint8_t buf[SLOT_CAP];
  size_t len;
  const sfu_addr_t *from;
  bench_transport_t *t;
  sfu_rtp_hdr_t hdr;
} slot_t;

static bench_transport_t transports[NTRANSPORTS_MAX];
static sfu_transport_table_t table;
static slot_t slots[BATCH];
static sfu_rtp_ext_map_t ext_map;
static uint64_t sink; /* defeats dead-code elimination */
static sfu_srtp_backend_t backend; /* the sfu_srtp backend measured in this run */

/* One plaintext packet, as Chromium's simulcast sender would produce it. */
static size_t build_packet(uint8_t *p, bench_transport_t *t, uint64_t n) {
  static const uint8_t hdr[28] = {
      0x90, 0x60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* V=2 X=1 PT=96 */
      0xbe, 0xde, 0x00, 0x03,
      0x22, 0, 0, 0,          /* abs-send-time, id 2 */
      0x41, 0, 0,             /* transport-cc seq, id 4 */
      0x90, '0',              /* mid "0", id 9 */
      0xa0, 'h',              /* rid "h", id 10 */
      0x00};
  memcpy(p, hdr, sizeof hdr);
  sfu_rtp_set_seq(p, t->seq++);
  sfu_rtp_set_timestamp(p, (uint32_t)(n * 3000));
  sfu_rtp_set_ssrc(p, t->ssrc);
  sfu_wr24(p + 17, (uint32_t)(n * 97) & 0xffffff);
  sfu_wr16(p + 21, t->twcc++);
  for (size_t i = sizeof hdr; i < PKT_LEN; i++) p[i] = (uint8_t)(i * 31 + n);
  return PKT_LEN;
}

/* --- the timed stages ------------------------------------------------------------- */

__attribute__((noinline)) void bench_stage_demux_lookup(slot_t *s, int n);
__attribute__((noinline)) void bench_stage_unprotect(slot_t *s, int n);
__attribute__((noinline)) void bench_stage_parse(slot_t *s, int n);

void bench_stage_demux_lookup(slot_t *s, int n) {
  for (int i = 0; i < n; i++) {
    s[i].t = NULL;
    if (sfu_demux_classify(s[i].buf, s[i].len) != SFU_PKT_RTP) continue;
    s[i].t = sfu_tt_lookup_addr(&table, s[i].from);
  }
}

void bench_stage_unprotect(slot_t *s, int n) {
  for (int i = 0; i < n; i++) {
    if (!s[i].t) continue;
    if (sfu_srtp_unprotect_rtp(s[i].t->rx, s[i].buf, &s[i].len) != 0) {
      fprintf(stderr, "unprotect failed\n");
      exit(1);
    }
  }
}

void bench_stage_parse(slot_t *s, int n) {
  uint8_t id_mid = sfu_rtp_ext_map_id(&ext_map, SFU_EXT_MID);
  uint8_t id_rid = sfu_rtp_ext_map_id(&ext_map, SFU_EXT_RID);
  uint8_t id_ast = sfu_rtp_ext_map_id(&ext_map, SFU_EXT_ABS_SEND_TIME);
  uint8_t id_tw = sfu_rtp_ext_map_id(&ext_map, SFU_EXT_TWCC);
  for (int i = 0; i < n; i++) {
    sfu_rtp_hdr_t *h = &s[i].hdr;
    if (sfu_rtp_parse(s[i].buf, s[i].len, h) != 0) continue;
    /* One pass over the elements, dispatching on the negotiated id, the way the
     * router will read them. */
    sfu_rtp_ext_iter_t it;
    uint8_t id;
    const uint8_t *d;
    size_t len;
    const char *mid = NULL, *rid = NULL;
    size_t mid_len = 0, rid_len = 0;
    uint32_t ast = 0;
    uint16_t tw = 0;
    sfu_rtp_ext_iter_init(&it, h);
    while (sfu_rtp_ext_iter_next(&it, &id, &d, &len) == 1) {
      if (id == id_mid) sfu_rtp_ext_str(d, len, &mid, &mid_len);
      else if (id == id_rid) sfu_rtp_ext_str(d, len, &rid, &rid_len);
      else if (id == id_ast) sfu_rtp_ext_abs_send_time(d, len, &ast);
      else if (id == id_tw) sfu_rtp_ext_twcc_seq(d, len, &tw);
    }
    s[i].t->received++;
    sink += h->seq + tw + ast + mid_len + rid_len + (rid ? (uint8_t)rid[0] : 0) +
            (mid ? (uint8_t)mid[0] : 0) + h->payload_len;
  }
}

/* --- setup -------------------------------------------------------------------------- */

static void make_keys(sfu_srtp_keys_t *k, sfu_srtp_profile_t prof, int idx) {
  memset(k, 0, sizeof *k);
  k->profile = prof;
  k->key_len = 16;
  k->salt_len = prof == SFU_SRTP_AEAD_AES_128_GCM ? 12 : 14;
  for (int i = 0; i < 16; i++) {
    k->client_key[i] = (uint8_t)(0x10 + i + idx);
    k->server_key[i] = (uint8_t)(0x80 + i + idx);
  }
  for (int i = 0; i < 14; i++) {
    k->client_salt[i] = (uint8_t)(0x40 + i + (idx >> 8));
    k->server_salt[i] = (uint8_t)(0xc0 + i);
  }
}

static void setup(sfu_srtp_profile_t prof) {
  if (sfu_transport_table_init(&table) != 0) exit(1);
  for (int i = 0; i < ntransports; i++) {
    bench_transport_t *t = &transports[i];
    memset(t, 0, sizeof *t);
    char ip[32];
    snprintf(ip, sizeof ip, "10.%d.%d.%d", 1 + i / 65536, (i / 256) % 256, i % 256);
    if (sfu_addr_from_ip(&t->remote, ip, (uint16_t)(40000 + i), SFU_PROTO_UDP) != 0) exit(1);
    sfu_srtp_keys_t k;
    make_keys(&k, prof, i);
    t->rx = sfu_srtp_new_backend(&k, 1, backend); /* the worker: DTLS server */
    t->tx = sfu_srtp_new_backend(&k, 0, backend); /* the browser: DTLS client */
    if (!t->rx || !t->tx) {
      fprintf(stderr, "sfu_srtp_new failed\n");
      exit(1);
    }
    t->ssrc = 0x10000000u + (uint32_t)i * 7919u;
    t->seq = (uint16_t)(i * 13);
    if (sfu_tt_add_addr(&table, &t->entry, &t->remote, t, NULL) != 0) exit(1);
  }
}

static void teardown(void) {
  for (int i = 0; i < ntransports; i++) {
    sfu_tt_remove_addr(&table, &transports[i].entry);
    sfu_srtp_free(transports[i].rx);
    sfu_srtp_free(transports[i].tx);
  }
  sfu_transport_table_free(&table);
}

typedef struct {
  const char *profile, *impl;
  uint64_t packets, ns_total, ns_demux, ns_unprotect, ns_parse, allocs;
  size_t wire_len;
} result_t;

static void run(sfu_srtp_profile_t prof, uint64_t packets, result_t *r) {
  setup(prof);
  memset(r, 0, sizeof *r);
  r->profile = sfu_srtp_profile_name(prof);
  r->impl = backend == SFU_SRTP_BACKEND_LIBSRTP ? "libsrtp2 (sfu_srtp)" : "openssl (sfu_srtp)";
  uint64_t rng = 88172645463325252ull, n = 0;
  while (n < packets) {
    /* untimed: the clients send a batch (random transports, like interleaved senders) */
    for (int i = 0; i < BATCH; i++) {
      rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
      bench_transport_t *t = &transports[rng % ntransports];
      slots[i].len = build_packet(slots[i].buf, t, n + (uint64_t)i);
      if (sfu_srtp_protect_rtp(t->tx, slots[i].buf, &slots[i].len, SLOT_CAP) != 0) {
        fprintf(stderr, "protect failed\n");
        exit(1);
      }
      slots[i].from = &t->remote;
    }
    r->wire_len = slots[0].len;
    /* timed: the worker receives it */
    alloc_counting = 1;
    uint64_t t0 = now_ns();
    bench_stage_demux_lookup(slots, BATCH);
    uint64_t t1 = now_ns();
    bench_stage_unprotect(slots, BATCH);
    uint64_t t2 = now_ns();
    bench_stage_parse(slots, BATCH);
    uint64_t t3 = now_ns();
    alloc_counting = 0;
    r->ns_demux += t1 - t0;
    r->ns_unprotect += t2 - t1;
    r->ns_parse += t3 - t2;
    n += BATCH;
  }
  r->packets = n;
  r->ns_total = r->ns_demux + r->ns_unprotect + r->ns_parse;
  r->allocs = alloc_calls;
  alloc_calls = 0;
  uint64_t got = 0;
  for (int i = 0; i < ntransports; i++) got += transports[i].received;
  if (got != n) {
    fprintf(stderr, "only %" PRIu64 " of %" PRIu64 " packets made it through\n", got, n);
    exit(1);
  }
  teardown();
}

int main(int argc, char **argv) {
  uint64_t packets = 400000;
  int json = 0, pfirst = 0, plast = 1, cfirst = 0, clast = 1;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--json") == 0) json = 1;
    else if (strcmp(argv[i], "--profile=cm") == 0) pfirst = plast = 0;
    else if (strcmp(argv[i], "--profile=gcm") == 0) pfirst = plast = 1;
    else if (strcmp(argv[i], "--crypto=libsrtp") == 0) cfirst = clast = 0;
    else if (strcmp(argv[i], "--crypto=openssl") == 0) cfirst = clast = 1;
    else if (strncmp(argv[i], "--transports=", 13) == 0) {
      ntransports = atoi(argv[i] + 13);
      if (ntransports < 1 || ntransports > NTRANSPORTS_MAX) return 2;
    }
    else packets = strtoull(argv[i], NULL, 10);
  }
  if (sfu_srtp_global_init() != 0) return 1;
  sfu_rtp_ext_map_init(&ext_map);
  sfu_rtp_ext_map_set(&ext_map, 2, SFU_EXT_ABS_SEND_TIME);
  sfu_rtp_ext_map_set(&ext_map, 4, SFU_EXT_TWCC);
  sfu_rtp_ext_map_set(&ext_map, 9, SFU_EXT_MID);
  sfu_rtp_ext_map_set(&ext_map, 10, SFU_EXT_RID);

  sfu_srtp_profile_t profs[2] = {SFU_SRTP_AES128_CM_SHA1_80, SFU_SRTP_AEAD_AES_128_GCM};
  result_t res[4];
  int nres = 0;
  for (int c = cfirst; c <= clast; c++) {
    backend = c ? SFU_SRTP_BACKEND_OPENSSL : SFU_SRTP_BACKEND_LIBSRTP;
    for (int p = pfirst; p <= plast; p++) run(profs[p], packets, &res[nres++]);
  }
  if (json) printf("[\n");
  for (int k = 0; k < nres; k++) {
    result_t *r = &res[k];
    double per = (double)r->packets;
    if (json)
      printf("  {\"profile\": \"%s\", \"impl\": \"%s\", \"packets\": %" PRIu64
             ", \"transports\": %d, \"rtp_len\": %d, \"wire_len\": %zu, \"batch\": %d, "
             "\"ns_per_packet\": %.1f, \"ns_demux_lookup\": %.1f, \"ns_unprotect\": %.1f, "
             "\"ns_parse\": %.1f, \"allocs_per_packet\": %.4f, "
             "\"mpps_one_core\": %.4f}%s\n",
             r->profile, r->impl, r->packets, ntransports, PKT_LEN, r->wire_len, BATCH,
             r->ns_total / per, r->ns_demux / per, r->ns_unprotect / per, r->ns_parse / per,
             (double)r->allocs / per, per / (double)r->ns_total * 1e3,
             k + 1 < nres ? "," : "");
    else
      printf("%-24s %-22s %8" PRIu64 " pkts %9.1f ns/pkt (demux+lookup %.1f, unprotect "
             "%.1f, parse %.1f) allocs/pkt %.3f\n",
             r->profile, r->impl, r->packets, r->ns_total / per, r->ns_demux / per,
             r->ns_unprotect / per, r->ns_parse / per, (double)r->allocs / per);
  }
  if (json) printf("]\n");
  sfu_srtp_global_shutdown();
  fprintf(stderr, "sink %" PRIu64 "\n", sink);
  return 0;
}
