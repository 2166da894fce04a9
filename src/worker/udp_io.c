/* A media loop's UDP socket (see udp_io.h for why raw recvmmsg/sendmmsg). */
#include "worker/udp_io.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "sfu/err.h"
#include "sfu/log.h"

static void on_readable(uv_poll_t *p, int status, int events);
static void on_check(uv_check_t *c);

static void set_buf(int fd, int opt, int bytes) {
  /* Bigger kernel buffers absorb bursts (a keyframe of several simulcast layers). The
   * kernel caps them at net.core.[rw]mem_max; failure is harmless. */
  (void)setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof bytes);
}

/* The fields recvmmsg overwrites in a header it filled: the rest is set once at open. */
static void rx_reset(sfu_udp_io_t *u, int i) {
  struct msghdr *h = &u->rx_msgs[i].msg_hdr;
  h->msg_namelen = sizeof u->rx_addr[i];
  h->msg_controllen = u->pktinfo ? sizeof u->rx_ctl[i] : 0;
}

int sfu_udp_io_open(sfu_udp_io_t *u, uv_loop_t *loop, const char *ip, uint16_t port,
                    sfu_udp_recv_cb cb, void *user) {
  sfu_addr_t a;
  if (sfu_addr_from_ip(&a, ip, port, SFU_PROTO_UDP)) return SFU_EINVAL;
  u->fd = socket(sfu_addr_family(&a), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (u->fd < 0) {
    SFU_ERROR("udp", "socket: %s", strerror(errno));
    return SFU_EIO;
  }
  if (bind(u->fd, &a.u.sa, sfu_addr_len(&a)) != 0) {
    SFU_ERROR("udp", "bind %s:%u: %s", ip, port, strerror(errno));
    close(u->fd);
    u->fd = -1;
    return SFU_EIO;
  }
  u->family = sfu_addr_family(&a);
  u->pktinfo = u->family == AF_INET6 ? IN6_IS_ADDR_UNSPECIFIED(&a.u.in6.sin6_addr)
                                     : a.u.in4.sin_addr.s_addr == htonl(INADDR_ANY);
  /* Without it replies still go out, from the kernel's choice of source. */
  if (u->pktinfo && sfu_udp_pktinfo_enable(u->fd, u->family)) u->pktinfo = 0;
  memset(&u->local, 0, sizeof u->local);
  set_buf(u->fd, SO_RCVBUF, 4 << 20);
  set_buf(u->fd, SO_SNDBUF, 4 << 20);
  u->port = port;
  u->recv_cb = cb;
  u->user = user;
  u->tx_n = 0;
  memset(&u->st, 0, sizeof u->st);
  for (int i = 0; i < SFU_UDP_RX_BATCH; i++) {
    u->rx_iov[i].iov_base = u->rx_buf[i];
    u->rx_iov[i].iov_len = SFU_UDP_RX_SLOT;
    struct msghdr *h = &u->rx_msgs[i].msg_hdr;
    memset(h, 0, sizeof *h);
    h->msg_name = &u->rx_addr[i];
    h->msg_iov = &u->rx_iov[i];
    h->msg_iovlen = 1;
    if (u->pktinfo) h->msg_control = u->rx_ctl[i];
    rx_reset(u, i);
  }
  uv_poll_init(loop, &u->poll, u->fd);
  uv_check_init(loop, &u->check);
  u->poll.data = u;
  u->check.data = u;
  u->open_handles = 2;
  uv_poll_start(&u->poll, UV_READABLE, on_readable);
  uv_check_start(&u->check, on_check);
  /* The check handle must not keep the loop alive on its own. */
  uv_unref((uv_handle_t *)&u->check);
  return 0;
}

static void to_addr(const struct sockaddr_storage *ss, sfu_addr_t *a) {
  memset(a, 0, sizeof *a);
  if (ss->ss_family == AF_INET6) memcpy(&a->u.in6, ss, sizeof a->u.in6);
  else memcpy(&a->u.in4, ss, sizeof a->u.in4);
  a->proto = SFU_PROTO_UDP;
}

/* Reads up to SFU_UDP_RX_ROUNDS batches, then yields to the loop (other sockets, timers). */
static void on_readable(uv_poll_t *p, int status, int events) {
  sfu_udp_io_t *u = p->data;
  if (status < 0) {
    SFU_WARN("udp", "port %u: poll error %s", u->port, uv_strerror(status));
    return;
  }
  for (int round = 0; round < SFU_UDP_RX_ROUNDS; round++) {
    int n = recvmmsg(u->fd, u->rx_msgs, SFU_UDP_RX_BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) {
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        SFU_DEBUG("udp", "port %u: recvmmsg: %s", u->port, strerror(errno));
      return;
    }
    uint64_t now_us = uv_hrtime() / 1000; /* same clock as sfu_loop_now_us */
    u->st.rx_batches++;
    for (int i = 0; i < n; i++) {
      size_t len = u->rx_msgs[i].msg_len;
      if (u->rx_msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
        u->st.rx_truncated++;
        continue;
      }
      sfu_addr_t from;
      to_addr(&u->rx_addr[i], &from);
      sfu_udp_local_t local;
      if (u->pktinfo && sfu_udp_pktinfo_parse(&u->rx_msgs[i].msg_hdr, &local) == 0)
        sfu_udp_pktinfo_learn(&u->local, &from, &local);
      u->st.rx_packets++;
      u->st.rx_bytes += len;
      u->recv_cb(u->user, now_us, &from, u->rx_buf[i], len);
    }
    /* Only the headers this call filled need resetting (was all 32 each call: ~600
     * instructions per datagram at one datagram per wake-up, issue 6). */
    for (int i = 0; i < n; i++) rx_reset(u, i);
    if (n < SFU_UDP_RX_BATCH) return; /* drained */
  }
}

void sfu_udp_io_flush(sfu_udp_io_t *u) {
  size_t off = 0;
  while (off < u->tx_n) {
    int n = sendmmsg(u->fd, u->tx_msgs + off, (unsigned)(u->tx_n - off), MSG_DONTWAIT);
    u->st.tx_batches++;
    if (n < 0) {
      if (errno == EINTR) continue;
      /* EAGAIN (socket buffer full) or an error for the first datagram (e.g.
       * EHOSTUNREACH): skip that one and go on with the rest. */
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        SFU_DEBUG("udp", "port %u: sendmmsg: %s", u->port, strerror(errno));
        u->st.tx_dropped++;
        off++;
        continue;
      }
      u->st.tx_dropped += u->tx_n - off;
      break;
    }
    for (int i = 0; i < n; i++) {
      u->st.tx_packets++;
      u->st.tx_bytes += u->tx_msgs[off + i].msg_len;
    }
    off += (size_t)n;
  }
  u->tx_n = 0;
}

int sfu_udp_io_send(sfu_udp_io_t *u, const sfu_addr_t *to, const uint8_t *buf, size_t len) {
  if (len > SFU_UDP_TX_SLOT) {
    u->st.tx_too_big++;
    return SFU_ETOOBIG;
  }
  if (u->tx_n == SFU_UDP_TX_QUEUE) sfu_udp_io_flush(u);
  size_t i = u->tx_n++;
  memcpy(u->tx_buf[i], buf, len);
  u->tx_addr[i] = *to;
  u->tx_iov[i].iov_base = u->tx_buf[i];
  u->tx_iov[i].iov_len = len;
  struct msghdr *h = &u->tx_msgs[i].msg_hdr;
  memset(h, 0, sizeof *h);
  h->msg_name = &u->tx_addr[i].u.sa;
  h->msg_namelen = sfu_addr_len(&u->tx_addr[i]);
  h->msg_iov = &u->tx_iov[i];
  h->msg_iovlen = 1;
  const sfu_udp_local_t *local = u->pktinfo ? sfu_udp_pktinfo_lookup(&u->local, to) : NULL;
  if (local) {
    size_t cl = sfu_udp_pktinfo_build(u->tx_ctl[i], u->family, local);
    if (cl) {
      h->msg_control = u->tx_ctl[i];
      h->msg_controllen = cl;
    }
  }
  return 0;
}

static void on_check(uv_check_t *c) {
  sfu_udp_io_t *u = c->data;
  if (u->tx_n) sfu_udp_io_flush(u);
}

static void on_closed(uv_handle_t *h) {
  sfu_udp_io_t *u = h->data;
  if (--u->open_handles > 0) return;
  close(u->fd);
  u->fd = -1;
  if (u->closed_cb) u->closed_cb(u);
}

void sfu_udp_io_close(sfu_udp_io_t *u, void (*closed_cb)(sfu_udp_io_t *u)) {
  if (u->fd < 0 || uv_is_closing((uv_handle_t *)&u->poll)) return;
  sfu_udp_io_flush(u);
  u->closed_cb = closed_cb;
  uv_close((uv_handle_t *)&u->poll, on_closed);
  uv_close((uv_handle_t *)&u->check, on_closed);
}
