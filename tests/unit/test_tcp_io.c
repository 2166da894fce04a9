/* Unit tests for the ICE-TCP listener (src/worker/tcp_io.c) on a real loopback socket
 * and a private uv loop: frames queued in one loop turn leave in one write per
 * connection, in order and RFC 4571-framed; a full send ring drops whole frames
 * (counted) and the stream stays well framed; the per-source-IP cap on unauthenticated
 * connections closes the excess and does not count authenticated ones; a routed frame
 * that does not authenticate leaves a connection unauthenticated; a released 5-tuple's
 * connection closes after its last frame; the budget refuses at accept.
 *
 * The client side is plain blocking/non-blocking POSIX sockets driven between
 * uv_run(UV_RUN_NOWAIT) turns; every wait is bounded by an iteration count, never by
 * time. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sfu/err.h"
#include "test.h"
#include "worker/fd_budget.h"
#include "worker/tcp_io.h"

typedef struct {
  int frames;    /* frames seen by the receive callback */
  sfu_addr_t from; /* the last one's source */
} rx_t;

/* Frames starting with 'A' authenticate (an ICE check that passed MESSAGE-INTEGRITY),
 * 'R' are routed but prove nothing (a check naming a known ufrag, wrong password),
 * anything else is nobody's. */
static int on_frame(void *user, uint64_t now_us, const sfu_addr_t *from, uint8_t *buf,
                    size_t len) {
  (void)now_us;
  rx_t *r = user;
  r->frames++;
  r->from = *from;
  if (len > 0 && buf[0] == 'A') return SFU_TCP_AUTHED;
  if (len > 0 && buf[0] == 'R') return SFU_TCP_ROUTED;
  return SFU_TCP_DROPPED;
}

/* A listener on a private loop, with the frames it saw. */
typedef struct {
  uv_loop_t loop;
  sfu_tcp_io_t *io;
  rx_t r;
} srv_t;

static int srv_open(srv_t *s) {
  memset(s, 0, sizeof *s);
  if (uv_loop_init(&s->loop)) return 0;
  s->io = calloc(1, sizeof *s->io);
  return s->io && sfu_tcp_io_open(s->io, &s->loop, "127.0.0.1", 0, on_frame, &s->r) == 0;
}

static void srv_close(srv_t *s) {
  sfu_tcp_io_close(s->io, NULL);
  uv_run(&s->loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(uv_loop_close(&s->loop), 0);
  free(s->io);
}

static uint16_t listen_port(sfu_tcp_io_t *io) {
  struct sockaddr_in sa;
  int n = sizeof sa;
  if (uv_tcp_getsockname(&io->listener, (struct sockaddr *)&sa, &n)) return 0;
  return ntohs(sa.sin_port);
}

static int connect_to(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
    close(fd);
    return -1;
  }
  return fd;
}

static void turns(uv_loop_t *loop, int n) {
  for (int i = 0; i < n; i++) uv_run(loop, UV_RUN_NOWAIT);
}

/* Sends one framed 'A' frame and runs the loop until the listener has seen it. */
static int authenticate(uv_loop_t *loop, int fd, rx_t *r) {
  uint8_t f[6] = {0, 4, 'A', 'B', 'C', 'D'};
  int before = r->frames;
  if (write(fd, f, sizeof f) != (ssize_t)sizeof f) return 0;
  for (int i = 0; i < 1000 && r->frames == before; i++) uv_run(loop, UV_RUN_NOWAIT);
  return r->frames > before;
}

/* A client connection to s that has authenticated, or -1. */
static int authed_client(srv_t *s) {
  int fd = connect_to(listen_port(s->io));
  if (fd < 0) return -1;
  if (authenticate(&s->loop, fd, &s->r)) return fd;
  close(fd);
  return -1;
}

/* Reads whatever is available (non-blocking) into buf at *have. */
static void drain(int fd, uint8_t *buf, size_t cap, size_t *have) {
  for (;;) {
    if (*have == cap) return;
    ssize_t n = recv(fd, buf + *have, cap - *have, MSG_DONTWAIT);
    if (n <= 0) return;
    *have += (size_t)n;
  }
}

static void pattern(uint8_t *p, size_t len, uint32_t k) {
  for (size_t i = 0; i < len; i++) p[i] = (uint8_t)(k * 31 + i);
}

/* Checks that buf holds exactly `n` RFC 4571 frames, frame i of length len_of(i) with
 * pattern(i). Returns the number of frames that matched in order. */
static int frames_match(const uint8_t *buf, size_t have, int n, size_t (*len_of)(int)) {
  size_t off = 0;
  uint8_t want[2048];
  for (int i = 0; i < n; i++) {
    if (off + 2 > have) return i;
    size_t l = (size_t)buf[off] << 8 | buf[off + 1];
    if (l != len_of(i) || off + 2 + l > have) return i;
    pattern(want, l, (uint32_t)i);
    if (memcmp(buf + off + 2, want, l)) return i;
    off += 2 + l;
  }
  return off == have ? n : -1;
}

static size_t small_len(int i) { return 20 + (size_t)(i * 7) % 1200; }
static size_t big_len(int i) { (void)i; return 1200; }

TEST(frames_of_one_turn_leave_in_one_write) {
  srv_t srv;
  REQUIRE(srv_open(&srv));
  uv_loop_t *loop = &srv.loop;
  sfu_tcp_io_t *io = srv.io;
  rx_t *r = &srv.r;
  int fd = authed_client(&srv);
  REQUIRE(fd >= 0);
  const int n = 100;
  uint8_t pkt[2048];
  for (int i = 0; i < n; i++) {
    pattern(pkt, small_len(i), (uint32_t)i);
    CHECK_EQ_INT(sfu_tcp_io_send(io, &r->from, pkt, small_len(i)), 0);
  }
  CHECK_EQ_INT(io->st.tx_writes, 0); /* queued, nothing written yet */
  static uint8_t got[256 * 1024];
  size_t have = 0, total = 0;
  for (int i = 0; i < n; i++) total += 2 + small_len(i);
  for (int i = 0; i < 1000 && have < total; i++) {
    uv_run(loop, UV_RUN_NOWAIT);
    drain(fd, got, sizeof got, &have);
  }
  CHECK_EQ_INT(io->st.tx_writes, 1); /* 100 frames, one writev */
  CHECK_EQ_INT(io->st.tx_frames, n);
  CHECK_EQ_INT(io->st.tx_dropped, 0);
  CHECK_EQ_INT(frames_match(got, have, n, small_len), n);
  /* Sending to a connection that does not exist is a counted drop. */
  sfu_addr_t nobody = r->from;
  nobody.u.in4.sin_port = htons(1);
  CHECK_EQ_INT(sfu_tcp_io_send(io, &nobody, pkt, 10), SFU_ENOENT);
  CHECK_EQ_INT(io->st.tx_dropped, 1);
  close(fd);
  srv_close(&srv);
}

TEST(full_ring_drops_whole_frames) {
  srv_t srv;
  REQUIRE(srv_open(&srv));
  uv_loop_t *loop = &srv.loop;
  sfu_tcp_io_t *io = srv.io;
  rx_t *r = &srv.r;
  int fd = authed_client(&srv);
  REQUIRE(fd >= 0);
  /* 300 frames of 1202 bytes = 360 KiB queued in one turn: the ring (256 KiB) keeps the
   * first 218 whole frames, the rest are dropped whole. */
  uint8_t pkt[1200];
  int sent = 0;
  for (int i = 0; i < 300; i++) {
    pattern(pkt, sizeof pkt, (uint32_t)sent);
    if (sfu_tcp_io_send(io, &r->from, pkt, sizeof pkt) == 0) sent++;
  }
  CHECK_EQ_INT(sent, SFU_TCP_MAX_QUEUED / 1202);
  CHECK_EQ_INT(io->st.tx_dropped, 300 - sent);
  CHECK_EQ_INT(sfu_tcp_io_send(io, &r->from, pkt, sizeof pkt), SFU_ELIMIT);
  /* The reader catches up; the loop writes the rest as the socket drains (uv_write on
   * the ring), and after that the ring takes new frames again, wrapping around. */
  static uint8_t got[512 * 1024];
  size_t have = 0, total = (size_t)sent * 1202;
  for (int i = 0; i < 100000 && have < total; i++) {
    uv_run(loop, UV_RUN_NOWAIT);
    drain(fd, got, sizeof got, &have);
  }
  CHECK_EQ_INT(frames_match(got, have, sent, big_len), sent);
  int more = 0;
  for (int i = 0; i < 100; i++) {
    pattern(pkt, sizeof pkt, (uint32_t)(sent + more));
    if (sfu_tcp_io_send(io, &r->from, pkt, sizeof pkt) == 0) more++;
  }
  CHECK_EQ_INT(more, 100);
  size_t have2 = 0;
  static uint8_t got2[256 * 1024];
  for (int i = 0; i < 100000 && have2 < (size_t)more * 1202; i++) {
    uv_run(loop, UV_RUN_NOWAIT);
    drain(fd, got2, sizeof got2, &have2);
  }
  CHECK_EQ_INT(have2, (size_t)more * 1202);
  /* The frames after the wrap carry patterns sent..sent+99: check the first and last. */
  uint8_t want[1200];
  pattern(want, sizeof want, (uint32_t)sent);
  CHECK(got2[0] == 1200 >> 8 && got2[1] == (1200 & 0xff) && memcmp(got2 + 2, want, 1200) == 0);
  pattern(want, sizeof want, (uint32_t)(sent + 99));
  CHECK(memcmp(got2 + 99 * 1202 + 2, want, 1200) == 0);
  close(fd);
  srv_close(&srv);
}

/* Whether the server closed fd (EOF or reset), without blocking. */
static int closed_by_server(int fd) {
  uint8_t b;
  ssize_t n = recv(fd, &b, 1, MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

TEST(unauthenticated_per_ip_cap) {
  srv_t srv;
  REQUIRE(srv_open(&srv));
  uv_loop_t *loop = &srv.loop;
  sfu_tcp_io_t *io = srv.io;
  rx_t *r = &srv.r;
  uint16_t port = listen_port(io);
  const int cap = SFU_TCP_MAX_UNAUTH_PER_IP;
  int fds[SFU_TCP_MAX_UNAUTH_PER_IP + 2];
  for (int i = 0; i < cap + 1; i++) {
    fds[i] = connect_to(port);
    REQUIRE(fds[i] >= 0);
    for (int k = 0; k < 1000 && io->st.accepted + io->st.refused_per_ip < (uint64_t)i + 1; k++)
      uv_run(loop, UV_RUN_NOWAIT);
  }
  CHECK_EQ_INT(io->st.accepted, cap);
  CHECK_EQ_INT(io->st.refused_per_ip, 1);
  CHECK_EQ_INT(io->st.conns, cap);
  turns(loop, 10);
  CHECK(closed_by_server(fds[cap]));
  CHECK(!closed_by_server(fds[0]));
  close(fds[cap]);
  /* One authenticates: it no longer counts, so one more stranger fits. */
  REQUIRE(authenticate(loop, fds[0], r));
  fds[cap] = connect_to(port);
  REQUIRE(fds[cap] >= 0);
  for (int k = 0; k < 1000 && io->st.accepted < (uint64_t)cap + 1; k++) uv_run(loop, UV_RUN_NOWAIT);
  CHECK_EQ_INT(io->st.accepted, cap + 1);
  CHECK_EQ_INT(io->st.refused_per_ip, 1);
  /* And the next one is over the cap again. */
  fds[cap + 1] = connect_to(port);
  REQUIRE(fds[cap + 1] >= 0);
  for (int k = 0; k < 1000 && io->st.refused_per_ip < 2; k++) uv_run(loop, UV_RUN_NOWAIT);
  CHECK_EQ_INT(io->st.refused_per_ip, 2);
  /* A closed unauthenticated connection frees its place. */
  close(fds[1]);
  for (int k = 0; k < 1000 && io->st.conns > (uint64_t)cap; k++) uv_run(loop, UV_RUN_NOWAIT);
  CHECK_EQ_INT(io->st.conns, cap);
  int fd = connect_to(port);
  REQUIRE(fd >= 0);
  for (int k = 0; k < 1000 && io->st.accepted < (uint64_t)cap + 2; k++) uv_run(loop, UV_RUN_NOWAIT);
  CHECK_EQ_INT(io->st.accepted, cap + 2);
  CHECK_EQ_INT(io->st.refused_per_ip, 2);
  close(fd);
  for (int i = 0; i < cap + 2; i++)
    if (i != 1) close(fds[i]);
  srv_close(&srv);
}

/* Sends n framed frames starting with `first` and runs the loop until all were seen. */
static int send_frames(uv_loop_t *loop, int fd, rx_t *r, char first, int n) {
  int before = r->frames;
  for (int i = 0; i < n; i++) {
    uint8_t f[6] = {0, 4, (uint8_t)first, 'B', 'C', 'D'};
    if (write(fd, f, sizeof f) != (ssize_t)sizeof f) return 0;
  }
  for (int i = 0; i < 1000 && r->frames < before + n; i++) uv_run(loop, UV_RUN_NOWAIT);
  return r->frames == before + n;
}

TEST(routed_frames_do_not_authenticate) {
  /* A check that names a known ufrag but fails MESSAGE-INTEGRITY keeps the connection
   * unauthenticated: it still counts against its IP's cap, and after
   * SFU_TCP_MAX_UNAUTH_FRAMES such frames the connection is closed. */
  srv_t srv;
  REQUIRE(srv_open(&srv));
  uv_loop_t *loop = &srv.loop;
  sfu_tcp_io_t *io = srv.io;
  rx_t *r = &srv.r;
  uint16_t port = listen_port(io);
  int fds[SFU_TCP_MAX_UNAUTH_PER_IP + 1];
  for (int i = 0; i < SFU_TCP_MAX_UNAUTH_PER_IP; i++) {
    fds[i] = connect_to(port);
    REQUIRE(fds[i] >= 0);
    REQUIRE(send_frames(loop, fds[i], r, 'R', 1));
  }
  fds[SFU_TCP_MAX_UNAUTH_PER_IP] = connect_to(port);
  REQUIRE(fds[SFU_TCP_MAX_UNAUTH_PER_IP] >= 0);
  for (int k = 0; k < 1000 && io->st.refused_per_ip < 1; k++) uv_run(loop, UV_RUN_NOWAIT);
  CHECK_EQ_INT(io->st.refused_per_ip, 1);
  /* Retries up to the limit, then closed. */
  REQUIRE(send_frames(loop, fds[0], r, 'R', SFU_TCP_MAX_UNAUTH_FRAMES - 2));
  turns(loop, 10);
  CHECK(!closed_by_server(fds[0]));
  REQUIRE(send_frames(loop, fds[0], r, 'R', 1));
  turns(loop, 10);
  CHECK(closed_by_server(fds[0]));
  CHECK_EQ_INT(io->st.closed_unauth, 1);
  /* One that authenticates after a failed try is fine, and then frames are its own. */
  REQUIRE(send_frames(loop, fds[1], r, 'A', 1));
  REQUIRE(send_frames(loop, fds[1], r, 'x', SFU_TCP_MAX_UNAUTH_FRAMES + 1));
  turns(loop, 10);
  CHECK(!closed_by_server(fds[1]));
  for (int i = 0; i <= SFU_TCP_MAX_UNAUTH_PER_IP; i++) close(fds[i]);
  srv_close(&srv);
}

TEST(release_flushes_then_closes) {
  /* The transport released the 5-tuple (it is gone): what it queued last (close_notify)
   * still reaches the client, then the connection closes. */
  srv_t srv;
  REQUIRE(srv_open(&srv));
  uv_loop_t *loop = &srv.loop;
  sfu_tcp_io_t *io = srv.io;
  rx_t *r = &srv.r;
  int fd = authed_client(&srv);
  REQUIRE(fd >= 0);
  uint8_t bye[3] = {21, 0xfe, 0xfd};
  CHECK_EQ_INT(sfu_tcp_io_send(io, &r->from, bye, sizeof bye), 0);
  sfu_tcp_io_release(io, &r->from);
  CHECK_EQ_INT(io->st.closed_released, 1);
  CHECK_EQ_INT(io->st.conns, 0);
  turns(loop, 10);
  uint8_t got[16];
  size_t have = 0;
  drain(fd, got, sizeof got, &have);
  CHECK_EQ_INT(have, 5);
  CHECK(got[0] == 0 && got[1] == 3 && memcmp(got + 2, bye, 3) == 0);
  CHECK(closed_by_server(fd));
  sfu_tcp_io_release(io, &r->from); /* gone already: no-op */
  CHECK_EQ_INT(io->st.closed_released, 1);
  close(fd);
  srv_close(&srv);
}

TEST(budget_refuses_at_accept) {
  srv_t srv;
  REQUIRE(srv_open(&srv));
  uv_loop_t *loop = &srv.loop;
  sfu_tcp_io_t *io = srv.io;
  CHECK_EQ_INT(io->st.max_conns, SFU_TCP_MAX_CONNS);
  sfu_tcp_io_set_max_conns(io, 2);
  CHECK_EQ_INT(io->st.max_conns, 2);
  uint16_t port = listen_port(io);
  int fds[3];
  for (int i = 0; i < 3; i++) {
    fds[i] = connect_to(port);
    REQUIRE(fds[i] >= 0);
    for (int k = 0; k < 1000 && io->st.accepted + io->st.refused < (uint64_t)i + 1; k++)
      uv_run(loop, UV_RUN_NOWAIT);
  }
  CHECK_EQ_INT(io->st.accepted, 2);
  CHECK_EQ_INT(io->st.refused, 1);
  CHECK_EQ_INT(io->st.conns, 2);
  turns(loop, 10);
  CHECK(closed_by_server(fds[2]));
  for (int i = 0; i < 3; i++) close(fds[i]);
  srv_close(&srv);
}

TEST(fd_budget_shares_what_the_reserve_leaves) {
  const unsigned r1 = SFU_FD_RESERVE_FIXED + SFU_FD_RESERVE_PER_LOOP;
  CHECK_EQ_INT(sfu_fd_tcp_budget(1024, 1), 1024 - r1);
  CHECK_EQ_INT(sfu_fd_tcp_budget(256, 2), (256 - SFU_FD_RESERVE_FIXED - 2 * SFU_FD_RESERVE_PER_LOOP) / 2);
  CHECK_EQ_INT(sfu_fd_tcp_budget(r1, 1), 0);      /* nothing left over */
  CHECK_EQ_INT(sfu_fd_tcp_budget(10, 4), 0);
  CHECK_EQ_INT(sfu_fd_tcp_budget(1u << 20, 2), SFU_TCP_MAX_CONNS); /* capped */
  CHECK_EQ_INT(sfu_fd_tcp_budget(UINT64_MAX, 8), SFU_TCP_MAX_CONNS);
  CHECK_EQ_INT(sfu_fd_tcp_budget(1024, 0), 1024 - r1); /* loops < 1 taken as 1 */
}

int main(void) {
  RUN(frames_of_one_turn_leave_in_one_write);
  RUN(full_ring_drops_whole_frames);
  RUN(unauthenticated_per_ip_cap);
  RUN(routed_frames_do_not_authenticate);
  RUN(release_flushes_then_closes);
  RUN(budget_refuses_at_accept);
  RUN(fd_budget_shares_what_the_reserve_leaves);
  return test_summary();
}
