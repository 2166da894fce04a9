/* A media loop's UDP socket (see udp_io.h for why raw recvmmsg/sendmmsg). */
#include "worker/udp_io.h"

#include <errno.h>
#include <netinet/udp.h>
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
  /* Does this kernel know UDP_SEGMENT at all (ENOPROTOOPT before 4.18)? Whether a path
   * supports it only shows on a send (see sfu_udp_io_flush). */
  int gso_size;
  socklen_t gl = sizeof gso_size;
  u->gso = getsockopt(u->fd, SOL_UDP, UDP_SEGMENT, &gso_size, &gl) == 0;
  u->group = 1;
  memset(u->tx_gtab, 0, sizeof u->tx_gtab);
  if (!u->gso) {
    u->st.tx_gso_disabled = 1;
    SFU_INFO("udp", "port %u: no UDP GSO (%s): plain sendmmsg", port, strerror(errno));
  }
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

/* A cheap hash of a destination for one flush's table. A collision costs a probe, never
 * a wrong group; peers choosing colliding addresses can at worst make a flush O(n^2)
 * with n <= SFU_UDP_TX_QUEUE, so no keyed hash is needed. */
static uint32_t dest_hash(const sfu_addr_t *a) {
  uint32_t h;
  if (a->u.sa.sa_family == AF_INET) {
    h = a->u.in4.sin_addr.s_addr ^ ((uint32_t)a->u.in4.sin_port << 16);
  } else {
    uint32_t w[4];
    memcpy(w, &a->u.in6.sin6_addr, 16);
    h = w[0] ^ w[1] ^ w[2] ^ w[3] ^ ((uint32_t)a->u.in6.sin6_port << 16);
  }
  return (h * 0x9e3779b1u) >> 16;
}

/* The sending order in tx_order. Grouped: destinations in the order of their first
 * queued datagram, each one's datagrams in queue order (a stable partition, so no
 * destination sees its own packets reordered). O(n), one table probe per datagram. */
static void order_queue(sfu_udp_io_t *u) {
  size_t n = u->tx_n;
  if (!u->gso || !u->group) {
    for (size_t i = 0; i < n; i++) u->tx_order[i] = (uint16_t)i;
    return;
  }
  const uint32_t mask = SFU_UDP_TX_GROUP_SLOTS - 1;
  size_t groups = 0;
  for (size_t i = 0; i < n; i++) {
    u->tx_next[i] = UINT16_MAX;
    for (uint32_t h = dest_hash(&u->tx_addr[i]) & mask;; h = (h + 1) & mask) {
      uint16_t g = u->tx_gtab[h];
      if (g == 0) { /* a new destination */
        u->tx_gtab[h] = (uint16_t)++groups;
        u->tx_gslot[groups - 1] = (uint16_t)h;
        u->tx_ghead[groups - 1] = u->tx_gtail[groups - 1] = (uint16_t)i;
        break;
      }
      if (sfu_addr_equal(&u->tx_addr[u->tx_ghead[g - 1]], &u->tx_addr[i])) {
        u->tx_next[u->tx_gtail[g - 1]] = (uint16_t)i;
        u->tx_gtail[g - 1] = (uint16_t)i;
        break;
      }
    }
  }
  size_t p = 0;
  for (size_t g = 0; g < groups; g++) {
    for (uint16_t i = u->tx_ghead[g]; i != UINT16_MAX; i = u->tx_next[i]) u->tx_order[p++] = i;
    u->tx_gtab[u->tx_gslot[g]] = 0; /* the table is empty again for the next flush */
  }
}

static int same_path(const sfu_udp_io_t *u, size_t i, size_t j) {
  return u->tx_ctllen[i] == u->tx_ctllen[j] && sfu_addr_equal(&u->tx_addr[i], &u->tx_addr[j]) &&
         memcmp(u->tx_ctl[i], u->tx_ctl[j], u->tx_ctllen[i]) == 0;
}

/* Messages for the sending order from position p on: one per run when GSO is on (and
 * p >= plain_until), one per datagram otherwise. A run is datagrams to one destination
 * from one source, all as long as the first but the last, which may be shorter: the
 * kernel's UDP_SEGMENT rule (every segment gso_size bytes but the last). The kernel
 * cuts the message's bytes every gso_size whatever the iovecs say and does not complain
 * (tried: a 300-byte datagram inside a 500-byte run comes out glued to the next), so
 * the rule is ours to keep. Returns the message count. */
static size_t build_msgs(sfu_udp_io_t *u, size_t p, size_t plain_until) {
  size_t n = u->tx_n, m = 0;
  while (p < n) {
    size_t i = u->tx_order[p], segs = 1, bytes = u->tx_len[i];
    if (u->gso && p >= plain_until && u->tx_len[i] > 0) {
      while (p + segs < n && segs < SFU_UDP_GSO_MAX_SEGS) {
        size_t j = u->tx_order[p + segs];
        if (u->tx_len[j] > u->tx_len[i] || bytes + u->tx_len[j] > SFU_UDP_GSO_MAX_BYTES ||
            u->tx_len[j] == 0 || !same_path(u, i, j))
          break;
        segs++;
        bytes += u->tx_len[j];
        if (u->tx_len[j] < u->tx_len[i]) break; /* a shorter segment ends the run */
      }
    }
    struct msghdr *h = &u->tx_msgs[m].msg_hdr;
    memset(h, 0, sizeof *h);
    h->msg_name = &u->tx_addr[i].u.sa;
    h->msg_namelen = sfu_addr_len(&u->tx_addr[i]);
    h->msg_iov = &u->tx_iov[p];
    h->msg_iovlen = segs;
    size_t cl = u->tx_ctllen[i];
    if (segs > 1) { /* udp(7): UDP_SEGMENT, the segment size as a uint16_t */
      struct cmsghdr *c = (struct cmsghdr *)(u->tx_ctl[i] + cl);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      uint16_t gso_size = u->tx_len[i];
      memcpy(CMSG_DATA(c), &gso_size, sizeof gso_size);
      cl += CMSG_SPACE(sizeof(uint16_t));
    }
    if (cl) {
      h->msg_control = u->tx_ctl[i];
      h->msg_controllen = cl;
    }
    u->tx_msg_first[m] = (uint16_t)p;
    u->tx_msg_segs[m] = (uint16_t)segs;
    m++;
    p += segs;
  }
  return m;
}

/* A GSO message failed with err: the errors that mean "not on this socket's paths"
 * (EIO: no checksum offload on the device, or IPsec; EINVAL: SO_NO_CHECK, or an older
 * kernel's MTU check; ENOPROTOOPT/EOPNOTSUPP) turn it off for good. */
static int gso_unavailable(int err) {
  return err == EIO || err == EINVAL || err == ENOPROTOOPT || err == EOPNOTSUPP;
}

void sfu_udp_io_flush(sfu_udp_io_t *u) {
  size_t n = u->tx_n;
  if (n == 0) return;
  order_queue(u);
  for (size_t p = 0; p < n; p++) {
    size_t i = u->tx_order[p];
    u->tx_iov[p].iov_base = u->tx_buf[i];
    u->tx_iov[p].iov_len = u->tx_len[i];
  }
  size_t p = 0, plain_until = 0;
  while (p < n) {
    size_t m = build_msgs(u, p, plain_until), off = 0;
    p = n; /* all of it is in this batch, unless a GSO message fails (below) */
    while (off < m) {
      int r = sendmmsg(u->fd, u->tx_msgs + off, (unsigned)(m - off), MSG_DONTWAIT);
      u->st.tx_batches++;
      if (r < 0) {
        int err = errno;
        if (err == EINTR) continue;
        if (err == EAGAIN || err == EWOULDBLOCK) { /* socket buffer full: drop the rest */
          for (size_t k = off; k < m; k++) u->st.tx_dropped += u->tx_msg_segs[k];
          break;
        }
        if (u->tx_msg_segs[off] > 1) {
          /* Resend that run datagram by datagram (and everything after it as built
           * anew), so nothing is lost to the fallback. */
          if (gso_unavailable(err)) {
            u->gso = 0;
            u->st.tx_gso_disabled = 1;
            SFU_WARN("udp", "port %u: UDP GSO send failed (%s): plain sendmmsg from now on",
                     u->port, strerror(err));
          }
          p = u->tx_msg_first[off];
          plain_until = p + u->tx_msg_segs[off];
          break;
        }
        /* An error for this datagram only (e.g. EHOSTUNREACH): skip it, go on. */
        SFU_DEBUG("udp", "port %u: sendmmsg: %s", u->port, strerror(err));
        u->st.tx_dropped++;
        off++;
        continue;
      }
      for (size_t k = off; k < off + (size_t)r; k++) {
        size_t segs = u->tx_msg_segs[k];
        u->st.tx_packets += segs;
        u->st.tx_bytes += u->tx_msgs[k].msg_len; /* a GSO message: all its segments */
        if (segs > 1) {
          u->st.tx_gso_batches++;
          u->st.tx_gso_segments += segs;
        }
      }
      off += (size_t)r;
    }
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
  u->tx_len[i] = (uint16_t)len;
  u->tx_ctllen[i] = 0;
  const sfu_udp_local_t *local = u->pktinfo ? sfu_udp_pktinfo_lookup(&u->local, to) : NULL;
  if (local) u->tx_ctllen[i] = (uint16_t)sfu_udp_pktinfo_build(u->tx_ctl[i], u->family, local);
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
