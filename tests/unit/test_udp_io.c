/* The media loop's UDP send path over real loopback sockets: a turn's queue in fan-out
 * order (A,B,C,A,B,C...) grouped by destination into UDP GSO runs, the kernel's run rules
 * (equal sizes but a shorter last; at most 64 segments and 64 KiB), the source address
 * (IP_PKTINFO) kept in a GSO message, and the plain-sendmmsg fallback, both forced by the
 * kernel (SO_NO_CHECK makes a UDP_SEGMENT send fail with EINVAL) and switched off.
 * Each receiver must get all its datagrams, intact and in queue order. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "sfu/err.h"
#include "test.h"
#include "worker/udp_io.h"

#define NDEST 3
#define MAX_PER_DEST 128

static sfu_addr_t v4(const char *ip, uint16_t port) {
  sfu_addr_t a;
  if (sfu_addr_from_ip(&a, ip, port, SFU_PROTO_UDP)) abort();
  return a;
}

/* A datagram's bytes: its destination and index in the first two, then a pattern of
 * both, so that a swapped, cut or mixed-up segment shows. */
static void fill(uint8_t *b, size_t len, int dest, int k) {
  for (size_t i = 0; i < len; i++) b[i] = (uint8_t)(dest * 31 + k * 7 + (int)i);
  if (len >= 2) b[0] = (uint8_t)dest, b[1] = (uint8_t)k;
}

typedef struct {
  int fd;
  sfu_addr_t addr;
  int n;                     /* datagrams queued to it */
  size_t len[MAX_PER_DEST];  /* their lengths, in queue order */
} rx_t;

static int rx_open(rx_t *r) {
  memset(r, 0, sizeof *r);
  r->fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (r->fd < 0) return -1;
  int big = 1 << 20;
  setsockopt(r->fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  sfu_addr_t lo = v4("127.0.0.1", 0);
  if (bind(r->fd, &lo.u.sa, sfu_addr_len(&lo)) != 0) return -1;
  socklen_t l = sizeof r->addr.u.in4;
  if (getsockname(r->fd, &r->addr.u.sa, &l) != 0) return -1;
  r->addr.proto = SFU_PROTO_UDP;
  return 0;
}

static int queue(sfu_udp_io_t *u, rx_t *r, int dest, size_t len) {
  uint8_t b[SFU_UDP_TX_SLOT];
  fill(b, len, dest, r->n);
  r->len[r->n++] = len;
  return sfu_udp_io_send(u, &r->addr, b, len);
}

/* Reads everything r was sent; 0 if all arrived, in order, intact, from src_ip (NULL:
 * any). */
static int rx_check(rx_t *r, int dest, const char *src_ip) {
  uint8_t b[2048], want[2048];
  for (int k = 0; k < r->n; k++) {
    struct pollfd p = {.fd = r->fd, .events = POLLIN};
    if (poll(&p, 1, 2000) != 1) {
      fprintf(stderr, "dest %d: datagram %d of %d missing\n", dest, k, r->n);
      return -1;
    }
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    ssize_t got = recvfrom(r->fd, b, sizeof b, 0, (struct sockaddr *)&from, &fl);
    fill(want, r->len[k], dest, k);
    if (got != (ssize_t)r->len[k] || memcmp(b, want, r->len[k]) != 0) {
      fprintf(stderr, "dest %d: datagram %d: %zd bytes (want %zu), k=%d\n", dest, k, got,
              r->len[k], got >= 2 ? b[1] : -1);
      return -1;
    }
    char ip[64];
    inet_ntop(AF_INET, &from.sin_addr, ip, sizeof ip);
    if (src_ip && strcmp(ip, src_ip) != 0) {
      fprintf(stderr, "dest %d: from %s, want %s\n", dest, ip, src_ip);
      return -1;
    }
  }
  char extra;
  if (recv(r->fd, &extra, 1, MSG_DONTWAIT) >= 0) return -1; /* nothing more */
  return 0;
}

typedef struct {
  int got;
} counter_t;

static void count_cb(void *user, uint64_t now_us, const sfu_addr_t *from, uint8_t *buf,
                     size_t len) {
  (void)now_us, (void)from, (void)buf, (void)len;
  ((counter_t *)user)->got++;
}

typedef struct {
  uv_loop_t loop;
  sfu_udp_io_t *u;
  counter_t c;
  uint16_t port;
  rx_t rx[NDEST];
} fixture_t;

static int setup(fixture_t *f, const char *ip) {
  memset(f, 0, sizeof *f);
  if (uv_loop_init(&f->loop) != 0) return -1;
  f->u = calloc(1, sizeof *f->u);
  if (!f->u || sfu_udp_io_open(f->u, &f->loop, ip, 0, count_cb, &f->c) != 0) return -1;
  struct sockaddr_in me;
  socklen_t ml = sizeof me;
  if (getsockname(f->u->fd, (struct sockaddr *)&me, &ml) != 0) return -1;
  f->port = ntohs(me.sin_port);
  for (int d = 0; d < NDEST; d++)
    if (rx_open(&f->rx[d])) return -1;
  return 0;
}

static void teardown(fixture_t *f) {
  for (int d = 0; d < NDEST; d++) close(f->rx[d].fd);
  sfu_udp_io_close(f->u, NULL);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&f->loop) == 0);
  free(f->u);
}

/* 3 destinations x 10 datagrams, fan-out order: 9 of 1,000 bytes and a 600-byte last. */
static void queue_fan_out(fixture_t *f) {
  for (int k = 0; k < 10; k++)
    for (int d = 0; d < NDEST; d++) queue(f->u, &f->rx[d], d, k == 9 ? 600 : 1000);
}

TEST(fan_out_grouped_into_gso_runs) {
  fixture_t f;
  REQUIRE(setup(&f, "127.0.0.1") == 0);
  sfu_udp_io_t *u = f.u;
  if (!u->gso) fprintf(stderr, "(no UDP GSO on this kernel: plain path only)\n");
  queue_fan_out(&f);
  sfu_udp_io_flush(u);
  for (int d = 0; d < NDEST; d++) CHECK(rx_check(&f.rx[d], d, NULL) == 0);
  CHECK_EQ_INT(u->st.tx_packets, 30);
  CHECK_EQ_INT(u->st.tx_bytes, NDEST * (9 * 1000 + 600));
  CHECK_EQ_INT(u->st.tx_dropped, 0);
  CHECK_EQ_INT(u->st.tx_batches, 1);
  if (u->gso) { /* one message per destination */
    CHECK_EQ_INT(u->st.tx_gso_batches, NDEST);
    CHECK_EQ_INT(u->st.tx_gso_segments, 30);
    CHECK_EQ_INT(u->st.tx_gso_disabled, 0);
  }
  /* The flush's destination table is empty again: a second turn groups the same way. */
  for (int d = 0; d < NDEST; d++) f.rx[d].n = 0;
  queue_fan_out(&f);
  uv_run(&f.loop, UV_RUN_NOWAIT); /* flushed by the loop-turn check handle */
  CHECK_EQ_INT(u->tx_n, 0);
  for (int d = 0; d < NDEST; d++) CHECK(rx_check(&f.rx[d], d, NULL) == 0);
  CHECK_EQ_INT(u->st.tx_packets, 60);
  if (u->gso) CHECK_EQ_INT(u->st.tx_gso_batches, 2 * NDEST);
  teardown(&f);
}

/* The kernel's limits end runs: a longer datagram, a shorter one (kept as the run's last),
 * 64 segments, 65,000 bytes; a lone datagram goes without UDP_SEGMENT. */
TEST(runs_follow_the_kernel_rules) {
  fixture_t f;
  REQUIRE(setup(&f, "127.0.0.1") == 0);
  sfu_udp_io_t *u = f.u;
  /* dest 0: [500 500 300] [500 500] [600 100] [100 x64] [100 x5] */
  static const size_t head[] = {500, 500, 300, 500, 500, 600};
  for (size_t i = 0; i < 6; i++) REQUIRE(queue(u, &f.rx[0], 0, head[i]) == 0);
  for (int i = 0; i < 70; i++) {
    REQUIRE(queue(u, &f.rx[0], 0, 100) == 0);
    if (i % 10 == 0) REQUIRE(queue(u, &f.rx[2], 2, 1400) == 0); /* interleaved */
  }
  /* dest 1: one datagram, no run */
  REQUIRE(queue(u, &f.rx[1], 1, 1200) == 0);
  /* dest 2: 7 already + 43 more of 1,400 = 50: [1400 x46] (64,400 bytes) [1400 x4] */
  for (int i = 0; i < 43; i++) REQUIRE(queue(u, &f.rx[2], 2, 1400) == 0);
  size_t queued = u->tx_n;
  CHECK_EQ_INT(queued, 76 + 1 + 50);
  sfu_udp_io_flush(u);
  for (int d = 0; d < NDEST; d++) CHECK(rx_check(&f.rx[d], d, NULL) == 0);
  CHECK_EQ_INT(u->st.tx_packets, queued);
  CHECK_EQ_INT(u->st.tx_dropped, 0);
  if (u->gso) {
    CHECK_EQ_INT(u->st.tx_gso_batches, 5 + 2);
    CHECK_EQ_INT(u->st.tx_gso_segments, 76 + 50);
  }
  teardown(&f);
}

/* A wildcard socket: each destination's source address (IP_PKTINFO) rides in the same
 * control buffer as UDP_SEGMENT, and a source change ends a run. */
TEST(gso_keeps_the_source_address) {
  fixture_t f;
  REQUIRE(setup(&f, "0.0.0.0") == 0);
  sfu_udp_io_t *u = f.u;
  REQUIRE(u->pktinfo);
  /* Each receiver says hello to another local address of ours: 127.0.0.1, .2, .3. */
  static const char *const ours[NDEST] = {"127.0.0.1", "127.0.0.2", "127.0.0.3"};
  for (int d = 0; d < NDEST; d++) {
    sfu_addr_t to = v4(ours[d], f.port);
    REQUIRE(sendto(f.rx[d].fd, "hi", 2, 0, &to.u.sa, sfu_addr_len(&to)) == 2);
  }
  for (int i = 0; i < 200 && f.c.got < NDEST; i++) {
    uv_run(&f.loop, UV_RUN_NOWAIT);
    poll(NULL, 0, 10);
  }
  REQUIRE(f.c.got == NDEST);
  queue_fan_out(&f);
  sfu_udp_io_flush(u);
  for (int d = 0; d < NDEST; d++) CHECK(rx_check(&f.rx[d], d, ours[d]) == 0);
  CHECK_EQ_INT(u->st.tx_packets, 30);
  if (u->gso) CHECK_EQ_INT(u->st.tx_gso_batches, NDEST);
  teardown(&f);
}

/* SO_NO_CHECK: the kernel refuses UDP_SEGMENT sends (EINVAL), as a device without
 * checksum offload does (EIO). The failed run is resent datagram by datagram, nothing is
 * lost, and the socket stays on plain sendmmsg. */
TEST(gso_failure_falls_back_for_good) {
  fixture_t f;
  REQUIRE(setup(&f, "127.0.0.1") == 0);
  sfu_udp_io_t *u = f.u;
  if (!u->gso) {
    fprintf(stderr, "(no UDP GSO on this kernel: skipped)\n");
    teardown(&f);
    return;
  }
  int one = 1;
  REQUIRE(setsockopt(u->fd, SOL_SOCKET, SO_NO_CHECK, &one, sizeof one) == 0);
  queue_fan_out(&f);
  sfu_udp_io_flush(u);
  for (int d = 0; d < NDEST; d++) CHECK(rx_check(&f.rx[d], d, NULL) == 0);
  CHECK_EQ_INT(u->gso, 0);
  CHECK_EQ_INT(u->st.tx_gso_disabled, 1);
  CHECK_EQ_INT(u->st.tx_gso_batches, 0);
  CHECK_EQ_INT(u->st.tx_packets, 30);
  CHECK_EQ_INT(u->st.tx_dropped, 0);
  CHECK_EQ_INT(u->st.tx_batches, 2); /* the refused one, then the plain one */
  /* Next turn: plain from the start, one call. */
  for (int d = 0; d < NDEST; d++) f.rx[d].n = 0;
  queue_fan_out(&f);
  sfu_udp_io_flush(u);
  for (int d = 0; d < NDEST; d++) CHECK(rx_check(&f.rx[d], d, NULL) == 0);
  CHECK_EQ_INT(u->st.tx_batches, 3);
  CHECK_EQ_INT(u->st.tx_packets, 60);
  teardown(&f);
}

/* Switched off (as where the probe at open fails), or without grouping: one message per
 * datagram, all delivered in queue order. */
TEST(plain_sendmmsg_when_off) {
  fixture_t f;
  REQUIRE(setup(&f, "127.0.0.1") == 0);
  sfu_udp_io_t *u = f.u;
  int had_gso = u->gso;
  u->gso = 0;
  queue_fan_out(&f);
  sfu_udp_io_flush(u);
  for (int d = 0; d < NDEST; d++) CHECK(rx_check(&f.rx[d], d, NULL) == 0);
  CHECK_EQ_INT(u->st.tx_packets, 30);
  CHECK_EQ_INT(u->st.tx_batches, 1);
  CHECK_EQ_INT(u->st.tx_gso_batches, 0);
  /* GSO on, grouping off: fan-out order has no two consecutive datagrams to one place. */
  u->gso = had_gso;
  u->group = 0;
  for (int d = 0; d < NDEST; d++) f.rx[d].n = 0;
  queue_fan_out(&f);
  sfu_udp_io_flush(u);
  for (int d = 0; d < NDEST; d++) CHECK(rx_check(&f.rx[d], d, NULL) == 0);
  CHECK_EQ_INT(u->st.tx_packets, 60);
  CHECK_EQ_INT(u->st.tx_gso_batches, 0);
  teardown(&f);
}

int main(void) {
  RUN(fan_out_grouped_into_gso_runs);
  RUN(runs_follow_the_kernel_rules);
  RUN(gso_keeps_the_source_address);
  RUN(gso_failure_falls_back_for_good);
  RUN(plain_sendmmsg_when_off);
  return test_summary();
}
