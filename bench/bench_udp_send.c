/* The media loop's UDP send path (src/worker/udp_io.c): what a flush costs per datagram
 * with plain sendmmsg, and with UDP GSO runs (issue 7: "batch sends with sendmmsg, and
 * use UDP GSO where consecutive packets go to one viewer").
 *
 * Method. One sfu_udp_io_t bound to 127.0.0.1 and N receivers (default 100) on
 * 127.0.0.1, which the bench does not read unless --drain: their receive buffers fill
 * and the kernel drops at the receiver (counted: /proc/net/snmp Udp RcvbufErrors, host
 * wide). A "turn" forwards P packets (default 8) of 1,200 bytes in fan-out order — each
 * packet queued to all N destinations before the next, as the router does — then
 * flushes, as the loop's check handle does; the queue (256) flushes early when full. The
 * timed stage is the queueing (one copy per datagram) plus the flushes; the clock is read
 * around each turn. On loopback the kernel delivers to the receiving socket inside the
 * sender's syscall (softirq on this CPU), so the ns include the receive side up to the
 * socket buffer; on a NIC they would not. Modes:
 *   sendto     no queue: one sendto per datagram (what uv_udp_try_send does), for what
 *              sendmmsg itself saves; the same socket, no copy
 *   plain      GSO off: one message per datagram (the path before this work)
 *   nogroup    GSO on, queue order kept: fan-out order has no runs
 *   gso        GSO on, the queue grouped by destination first (the default)
 * Reported per datagram: CPU ns of the sending thread (CLOCK_THREAD_CPUTIME_ID: user +
 * kernel, the loopback delivery included; the machine's other load barely moves it),
 * wall ns (CLOCK_MONOTONIC; moves with the load), send syscalls (sendmmsg or sendto), messages handed to
 * the kernel (GSO runs count once), sender drops (EAGAIN) and allocations (must be 0).
 *
 * Usage: bench_udp_send [datagrams per mode (default 1000000)] [--dests=N]
 *                       [--per-turn=P] [--len=BYTES] [--mode=sendto|plain|nogroup|gso]
 *                       [--drain] [--json]
 */
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "worker/udp_io.h"

#include "alloc_count.h"

#define MAX_DESTS 4096

static int ndests = 100, per_turn = 8, pkt_len = 1200, drain, json;
static int rx_fd[MAX_DESTS];
static sfu_addr_t rx_addr[MAX_DESTS];
static atomic_int stop;

static uint64_t clock_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Udp RcvbufErrors from /proc/net/snmp (host wide). */
static uint64_t rcvbuf_errors(void) {
  FILE *f = fopen("/proc/net/snmp", "r");
  if (!f) return 0;
  char hdr[1024], val[1024];
  uint64_t out = 0;
  while (fgets(hdr, sizeof hdr, f)) {
    if (strncmp(hdr, "Udp:", 4) != 0 || !fgets(val, sizeof val, f)) continue;
    char *hs, *vs, *h = strtok_r(hdr, " \n", &hs), *v = strtok_r(val, " \n", &vs);
    while (h && v) {
      if (strcmp(h, "RcvbufErrors") == 0) out = strtoull(v, NULL, 10);
      h = strtok_r(NULL, " \n", &hs);
      v = strtok_r(NULL, " \n", &vs);
    }
    break;
  }
  fclose(f);
  return out;
}

/* --drain: reads every receiver on the other core, so no receive buffer overflows. */
static void *drain_main(void *arg) {
  (void)arg;
  static uint8_t buf[8][2048];
  struct mmsghdr m[8];
  struct iovec iov[8];
  for (int i = 0; i < 8; i++) {
    iov[i].iov_base = buf[i];
    iov[i].iov_len = sizeof buf[i];
    memset(&m[i], 0, sizeof m[i]);
    m[i].msg_hdr.msg_iov = &iov[i];
    m[i].msg_hdr.msg_iovlen = 1;
  }
  while (!atomic_load(&stop))
    for (int d = 0; d < ndests; d++)
      while (recvmmsg(rx_fd[d], m, 8, MSG_DONTWAIT, NULL) > 0) {
      }
  return NULL;
}

static void run(const char *mode, uint64_t datagrams) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  sfu_udp_io_t *u = calloc(1, sizeof *u);
  if (!u || sfu_udp_io_open(u, &loop, "127.0.0.1", 0, NULL, NULL) != 0) exit(1);
  int have_gso = u->gso;
  uint64_t direct_calls = 0;
  int direct = strcmp(mode, "sendto") == 0;
  if (strcmp(mode, "plain") == 0 || direct) u->gso = 0;
  if (strcmp(mode, "nogroup") == 0) u->group = 0;
  if (u->gso && !have_gso) {
    fprintf(stderr, "%s: no UDP GSO on this kernel\n", mode);
    exit(1);
  }
  uint8_t pkt[SFU_UDP_TX_SLOT];
  for (int i = 0; i < pkt_len; i++) pkt[i] = (uint8_t)i;
  /* warm-up: fill the receivers' buffers so every mode starts in the same state */
  for (int d = 0; d < ndests; d++) sfu_udp_io_send(u, &rx_addr[d], pkt, (size_t)pkt_len);
  sfu_udp_io_flush(u);
  sfu_udp_io_stats_t st0 = u->st;
  uint64_t drops0 = rcvbuf_errors(), n = 0, ns = 0, cpu = 0;
  uint64_t allocs0 = alloc_calls;
  alloc_counting = 1;
  while (n < datagrams) {
    uint64_t t0 = clock_ns(CLOCK_MONOTONIC), c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    for (int p = 0; p < per_turn; p++) {
      pkt[0] = (uint8_t)p; /* "a packet": the same bytes to every destination */
      for (int d = 0; d < ndests; d++) {
        if (!direct) {
          sfu_udp_io_send(u, &rx_addr[d], pkt, (size_t)pkt_len);
          continue;
        }
        if (sendto(u->fd, pkt, (size_t)pkt_len, MSG_DONTWAIT, &rx_addr[d].u.sa,
                   sfu_addr_len(&rx_addr[d])) == pkt_len)
          u->st.tx_packets++;
        else
          u->st.tx_dropped++;
        direct_calls++;
      }
    }
    sfu_udp_io_flush(u);
    cpu += clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
    ns += clock_ns(CLOCK_MONOTONIC) - t0;
    n += (uint64_t)per_turn * (uint64_t)ndests;
  }
  alloc_counting = 0;
  uint64_t allocs = alloc_calls - allocs0, drops = rcvbuf_errors() - drops0;
  double dn = (double)n;
  uint64_t calls = u->st.tx_batches - st0.tx_batches + direct_calls;
  uint64_t gso_b = u->st.tx_gso_batches - st0.tx_gso_batches;
  uint64_t gso_s = u->st.tx_gso_segments - st0.tx_gso_segments;
  uint64_t sent = u->st.tx_packets - st0.tx_packets;
  uint64_t msgs = sent - gso_s + gso_b;
  uint64_t eagain = u->st.tx_dropped - st0.tx_dropped;
  if (json)
    printf("{\"mode\":\"%s\",\"dests\":%d,\"per_turn\":%d,\"len\":%d,\"drain\":%d,"
           "\"datagrams\":%" PRIu64 ",\"cpu_ns_per_datagram\":%.1f,\"ns_per_datagram\":%.1f,\"syscalls_per_datagram\":%.5f,"
           "\"messages_per_datagram\":%.4f,\"segments_per_gso_message\":%.2f,"
           "\"sender_drops\":%" PRIu64 ",\"receiver_drops\":%" PRIu64 ",\"allocs\":%" PRIu64
           "}\n",
           mode, ndests, per_turn, pkt_len, drain, n, (double)cpu / dn, (double)ns / dn, (double)calls / dn,
           (double)msgs / dn, gso_b ? (double)gso_s / (double)gso_b : 0.0, eagain, drops,
           allocs);
  else
    printf("%-8s dests %4d, %3d pkt/turn: %7.1f CPU ns/datagram (wall %7.1f), %.5f syscalls/datagram, "
           "%.4f messages/datagram (%.2f segments per GSO message), sender drops %" PRIu64
           " (EAGAIN), receiver drops %" PRIu64 ", allocations %" PRIu64 "\n",
           mode, ndests, per_turn, (double)cpu / dn, (double)ns / dn, (double)calls / dn, (double)msgs / dn,
           gso_b ? (double)gso_s / (double)gso_b : 0.0, eagain, drops, allocs);
  sfu_udp_io_close(u, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  free(u);
}

int main(int argc, char **argv) {
  uint64_t datagrams = 1000000;
  const char *only = NULL;
  for (int i = 1; i < argc; i++) {
    if (strncmp(argv[i], "--dests=", 8) == 0) ndests = atoi(argv[i] + 8);
    else if (strncmp(argv[i], "--per-turn=", 11) == 0) per_turn = atoi(argv[i] + 11);
    else if (strncmp(argv[i], "--len=", 6) == 0) pkt_len = atoi(argv[i] + 6);
    else if (strncmp(argv[i], "--mode=", 7) == 0) only = argv[i] + 7;
    else if (strcmp(argv[i], "--drain") == 0) drain = 1;
    else if (strcmp(argv[i], "--json") == 0) json = 1;
    else datagrams = strtoull(argv[i], NULL, 10);
  }
  if (ndests < 1 || ndests > MAX_DESTS || per_turn < 1 || pkt_len < 1 ||
      pkt_len > SFU_UDP_TX_SLOT) {
    fprintf(stderr, "bad arguments\n");
    return 2;
  }
  for (int d = 0; d < ndests; d++) {
    rx_fd[d] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (rx_fd[d] < 0 || sfu_addr_from_ip(&rx_addr[d], "127.0.0.1", 0, SFU_PROTO_UDP)) return 1;
    if (bind(rx_fd[d], &rx_addr[d].u.sa, sfu_addr_len(&rx_addr[d])) != 0) return 1;
    socklen_t l = sizeof rx_addr[d].u.in4;
    getsockname(rx_fd[d], &rx_addr[d].u.sa, &l);
  }
  pthread_t th;
  if (drain && pthread_create(&th, NULL, drain_main, NULL) != 0) return 1;
  static const char *const modes[] = {"sendto", "plain", "nogroup", "gso"};
  for (int m = 0; m < 4; m++)
    if (!only || strcmp(only, modes[m]) == 0) run(modes[m], datagrams);
  if (drain) {
    atomic_store(&stop, 1);
    pthread_join(th, NULL);
  }
  for (int d = 0; d < ndests; d++) close(rx_fd[d]);
  return 0;
}
