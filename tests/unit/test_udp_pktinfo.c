/* Replies from the address the peer sent to: the remote → local table, the control
 * messages, and a real wildcard-bound sfu_udp_io_t answering a datagram sent to
 * 127.0.0.2 from 127.0.0.1, where the kernel's own choice of source would be 127.0.0.1
 * (the Chromium bug: its 192.0.2.2 candidate got answers from 192.0.2.2, not from the
 * 127.0.0.1 it checked, and dropped them). */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "sfu/err.h"
#include "test.h"
#include "worker/udp_io.h"
#include "worker/udp_pktinfo.h"

static sfu_addr_t v4(const char *ip, uint16_t port) {
  sfu_addr_t a;
  if (sfu_addr_from_ip(&a, ip, port, SFU_PROTO_UDP)) abort();
  return a;
}

static sfu_udp_local_t local4(const char *ip) {
  sfu_udp_local_t l;
  memset(&l, 0, sizeof l);
  l.family = AF_INET;
  inet_pton(AF_INET, ip, &l.a.in4);
  return l;
}

static char *ip4(const sfu_udp_local_t *l, char *buf) {
  return (char *)inet_ntop(AF_INET, &l->a.in4, buf, 64);
}

TEST(learn_lookup_update) {
  sfu_udp_pktinfo_t *t = calloc(1, sizeof *t);
  REQUIRE(t);
  sfu_addr_t r1 = v4("192.0.2.2", 40000), r2 = v4("192.0.2.2", 40001);
  sfu_udp_local_t l1 = local4("127.0.0.1"), l2 = local4("10.0.0.1");
  char b[64];
  CHECK(sfu_udp_pktinfo_lookup(t, &r1) == NULL);
  sfu_udp_pktinfo_learn(t, &r1, &l1);
  const sfu_udp_local_t *got = sfu_udp_pktinfo_lookup(t, &r1);
  REQUIRE(got);
  CHECK_EQ_STR(ip4(got, b), "127.0.0.1");
  CHECK(sfu_udp_pktinfo_lookup(t, &r2) == NULL); /* another port is another peer */
  sfu_addr_t tcp = r1;
  tcp.proto = SFU_PROTO_TCP;
  CHECK(sfu_udp_pktinfo_lookup(t, &tcp) == NULL);
  sfu_udp_pktinfo_learn(t, &r1, &l2); /* the peer now sends to another address */
  got = sfu_udp_pktinfo_lookup(t, &r1);
  REQUIRE(got);
  CHECK_EQ_STR(ip4(got, b), "10.0.0.1");
  free(t);
}

/* Three remotes in one 2-way set: the least recently heard from is forgotten. */
TEST(set_evicts_least_recent) {
  sfu_udp_pktinfo_t *t = calloc(1, sizeof *t);
  REQUIRE(t);
  sfu_addr_t r[3];
  int n = 0;
  sfu_addr_t first = v4("198.51.100.7", 1);
  uint64_t set = sfu_addr_hash(&first) % SFU_UDP_PKTINFO_SETS;
  for (uint32_t port = 1; port < 65536 && n < 3; port++) {
    sfu_addr_t a = v4("198.51.100.7", (uint16_t)port);
    if (sfu_addr_hash(&a) % SFU_UDP_PKTINFO_SETS == set) r[n++] = a;
  }
  REQUIRE(n == 3);
  sfu_udp_local_t l[3] = {local4("127.0.0.1"), local4("127.0.0.2"), local4("127.0.0.3")};
  sfu_udp_pktinfo_learn(t, &r[0], &l[0]);
  sfu_udp_pktinfo_learn(t, &r[1], &l[1]);
  sfu_udp_pktinfo_learn(t, &r[0], &l[0]); /* r[0] heard again: r[1] is now the oldest */
  sfu_udp_pktinfo_learn(t, &r[2], &l[2]);
  char b[64];
  const sfu_udp_local_t *g0 = sfu_udp_pktinfo_lookup(t, &r[0]);
  const sfu_udp_local_t *g2 = sfu_udp_pktinfo_lookup(t, &r[2]);
  CHECK(sfu_udp_pktinfo_lookup(t, &r[1]) == NULL);
  REQUIRE(g0 && g2);
  CHECK_EQ_STR(ip4(g0, b), "127.0.0.1");
  CHECK_EQ_STR(ip4(g2, b), "127.0.0.3");
  free(t);
}

TEST(build_control_messages) {
  uint8_t ctl[SFU_UDP_PKTINFO_CTL];
  sfu_udp_local_t l = local4("127.0.0.2");
  l.ifindex = 7;
  size_t n = sfu_udp_pktinfo_build(ctl, AF_INET, &l);
  CHECK_EQ_INT(n, CMSG_SPACE(sizeof(struct in_pktinfo)));
  struct msghdr h = {.msg_control = ctl, .msg_controllen = n};
  struct cmsghdr *c = CMSG_FIRSTHDR(&h);
  REQUIRE(c);
  CHECK_EQ_INT(c->cmsg_level, IPPROTO_IP);
  CHECK_EQ_INT(c->cmsg_type, IP_PKTINFO);
  struct in_pktinfo pi;
  memcpy(&pi, CMSG_DATA(c), sizeof pi);
  CHECK_EQ_INT(pi.ipi_spec_dst.s_addr, l.a.in4.s_addr); /* the source to use */
  CHECK_EQ_INT(pi.ipi_ifindex, 0);                      /* routing picks the way out */

  sfu_udp_local_t l6;
  memset(&l6, 0, sizeof l6);
  l6.family = AF_INET6;
  l6.ifindex = 3;
  inet_pton(AF_INET6, "fe80::1", &l6.a.in6);
  n = sfu_udp_pktinfo_build(ctl, AF_INET6, &l6);
  CHECK_EQ_INT(n, CMSG_SPACE(sizeof(struct in6_pktinfo)));
  h.msg_controllen = n;
  c = CMSG_FIRSTHDR(&h);
  REQUIRE(c);
  CHECK_EQ_INT(c->cmsg_type, IPV6_PKTINFO);
  struct in6_pktinfo p6;
  memcpy(&p6, CMSG_DATA(c), sizeof p6);
  CHECK(memcmp(&p6.ipi6_addr, &l6.a.in6, 16) == 0);
  CHECK_EQ_INT(p6.ipi6_ifindex, 3); /* link-local: the interface goes with it */

  /* A v4 local on a v6 socket (or the reverse) is not something to send with. */
  CHECK_EQ_INT(sfu_udp_pktinfo_build(ctl, AF_INET6, &l), 0);
  CHECK_EQ_INT(sfu_udp_pktinfo_build(ctl, AF_INET, &l6), 0);
}

TEST(parse_rejects_missing_and_foreign) {
  sfu_udp_local_t out;
  struct msghdr h;
  memset(&h, 0, sizeof h);
  CHECK_EQ_INT(sfu_udp_pktinfo_parse(&h, &out), SFU_ENOENT);
  union {
    uint8_t b[CMSG_SPACE(sizeof(struct in_pktinfo)) + CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  memset(&u, 0, sizeof u);
  h.msg_control = u.b;
  h.msg_controllen = CMSG_SPACE(sizeof(int));
  struct cmsghdr *c = CMSG_FIRSTHDR(&h);
  c->cmsg_level = SOL_SOCKET; /* something else (a timestamp, say) */
  c->cmsg_type = SO_TIMESTAMP;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  CHECK_EQ_INT(sfu_udp_pktinfo_parse(&h, &out), SFU_ENOENT);
  c->cmsg_level = IPPROTO_IP; /* IP_PKTINFO too short to hold one */
  c->cmsg_type = IP_PKTINFO;
  CHECK_EQ_INT(sfu_udp_pktinfo_parse(&h, &out), SFU_ENOENT);
  /* A foreign message followed by a real one: found. */
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SO_TIMESTAMP;
  h.msg_controllen = sizeof u.b;
  struct cmsghdr *d = CMSG_NXTHDR(&h, c);
  REQUIRE(d);
  d->cmsg_level = IPPROTO_IP;
  d->cmsg_type = IP_PKTINFO;
  d->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
  struct in_pktinfo pi;
  memset(&pi, 0, sizeof pi);
  inet_pton(AF_INET, "127.0.0.9", &pi.ipi_addr);
  pi.ipi_ifindex = 1;
  memcpy(CMSG_DATA(d), &pi, sizeof pi);
  REQUIRE(sfu_udp_pktinfo_parse(&h, &out) == 0);
  char b[64];
  CHECK_EQ_INT(out.family, AF_INET);
  CHECK_EQ_INT(out.ifindex, 1);
  CHECK_EQ_STR(ip4(&out, b), "127.0.0.9");
}

/* ---- a real socket ---------------------------------------------------------------- */

typedef struct {
  sfu_udp_io_t *u;
  int got;
} echo_t;

static void echo_cb(void *user, uint64_t now_us, const sfu_addr_t *from, uint8_t *buf,
                    size_t len) {
  echo_t *e = user;
  e->got++;
  sfu_udp_io_send(e->u, from, buf, len); /* flushed by the loop-turn check handle */
}

/* Sends "ping" from 127.0.0.1 to dst_ip:port of a worker socket bound to 0.0.0.0 and
 * returns the source address of the answer in src (0 on success). */
static int ping(uv_loop_t *loop, echo_t *e, int fd, const char *dst_ip, uint16_t port,
                char src[64], uint16_t *src_port) {
  sfu_addr_t dst = v4(dst_ip, port);
  int before = e->got;
  if (sendto(fd, "ping", 4, 0, &dst.u.sa, sfu_addr_len(&dst)) != 4) return -1;
  for (int i = 0; i < 200; i++) { /* at most ~2 s; returns as soon as answered */
    uv_run(loop, UV_RUN_NOWAIT);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (e->got > before && poll(&p, 1, 10) == 1) {
      struct sockaddr_in from;
      socklen_t fl = sizeof from;
      char buf[16];
      if (recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl) != 4) return -1;
      inet_ntop(AF_INET, &from.sin_addr, src, 64);
      *src_port = ntohs(from.sin_port);
      return 0;
    }
    if (e->got == before) poll(&p, 0, 10);
  }
  return -1;
}

TEST(wildcard_socket_replies_from_the_address_sent_to) {
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  sfu_udp_io_t *u = calloc(1, sizeof *u);
  REQUIRE(u);
  echo_t e = {u, 0};
  /* Port 0: the kernel picks one; read it back. */
  REQUIRE(sfu_udp_io_open(u, &loop, "0.0.0.0", 0, echo_cb, &e) == 0);
  CHECK(u->pktinfo);
  struct sockaddr_in me;
  socklen_t ml = sizeof me;
  REQUIRE(getsockname(u->fd, (struct sockaddr *)&me, &ml) == 0);
  uint16_t port = ntohs(me.sin_port);

  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  REQUIRE(fd >= 0);
  sfu_addr_t lo = v4("127.0.0.1", 0);
  REQUIRE(bind(fd, &lo.u.sa, sfu_addr_len(&lo)) == 0);
  char src[64] = "";
  uint16_t sport = 0;
  /* 127.0.0.2 is local (lo holds 127.0.0.0/8) but the route back to 127.0.0.1 says
   * "src 127.0.0.1": without IP_PKTINFO the answer would come from 127.0.0.1. */
  CHECK(ping(&loop, &e, fd, "127.0.0.2", port, src, &sport) == 0);
  CHECK_EQ_STR(src, "127.0.0.2");
  CHECK_EQ_INT(sport, port);
  CHECK(ping(&loop, &e, fd, "127.0.0.1", port, src, &sport) == 0);
  CHECK_EQ_STR(src, "127.0.0.1");
  CHECK(ping(&loop, &e, fd, "127.0.0.3", port, src, &sport) == 0);
  CHECK_EQ_STR(src, "127.0.0.3");
  CHECK_EQ_INT(e.got, 3);
  CHECK_EQ_INT(u->st.tx_packets, 3);
  CHECK_EQ_INT(u->st.tx_dropped, 0);

  close(fd);
  sfu_udp_io_close(u, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
  free(u);
}

/* Bound to one address: no packet info needed, the kernel uses the bound address. */
TEST(bound_socket_keeps_its_address) {
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  sfu_udp_io_t *u = calloc(1, sizeof *u);
  REQUIRE(u);
  echo_t e = {u, 0};
  REQUIRE(sfu_udp_io_open(u, &loop, "127.0.0.2", 0, echo_cb, &e) == 0);
  CHECK(!u->pktinfo);
  struct sockaddr_in me;
  socklen_t ml = sizeof me;
  REQUIRE(getsockname(u->fd, (struct sockaddr *)&me, &ml) == 0);
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  REQUIRE(fd >= 0);
  char src[64] = "";
  uint16_t sport = 0;
  CHECK(ping(&loop, &e, fd, "127.0.0.2", ntohs(me.sin_port), src, &sport) == 0);
  CHECK_EQ_STR(src, "127.0.0.2");
  close(fd);
  sfu_udp_io_close(u, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
  free(u);
}

int main(void) {
  RUN(learn_lookup_update);
  RUN(set_evicts_least_recent);
  RUN(build_control_messages);
  RUN(parse_rejects_missing_and_foreign);
  RUN(wildcard_socket_replies_from_the_address_sent_to);
  RUN(bound_socket_keeps_its_address);
  return test_summary();
}
