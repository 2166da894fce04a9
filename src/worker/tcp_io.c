/* A media loop's ICE-TCP listener with RFC 4571 framing (see tcp_io.h). */
#include "worker/tcp_io.h"

#include <stdlib.h>
#include <string.h>

#include "sfu/err.h"
#include "sfu/log.h"
#include "sfu/tcp_framing.h"

/* Largest frame accepted from a client: media and DTLS records are MTU-sized; STUN is
 * smaller. Bigger is treated as garbage (the connection is closed). */
#define CONN_MAX_FRAME 4096

/* One accepted connection. Owner: the tcp_io (listed in conns, keyed in by_addr, and in
 * unauth_by_ip until its first frame is claimed); freed in its close callback. Loop
 * thread only. */
typedef struct {
  uv_tcp_t h;
  sfu_tcp_io_t *io;
  sfu_hnode_t node;
  sfu_hnode_t ip_node; /* in io->unauth_by_ip while ip_counted */
  sfu_list_t link;
  sfu_list_t dirty_link; /* in io->dirty while dirty: frames queued, flush at the check */
  sfu_addr_t addr;
  sfu_tcp_deframer_t df;
  int authed, ip_counted, dirty;
  unsigned unauth_frames; /* routed but not authenticating, before authentication */
  int closing;
  uint64_t accepted_ms;
  /* Send ring: RFC 4571 frames (header + packet) copied in by sfu_tcp_io_send, written
   * out once per loop turn. Allocated at the first send (SFU_TCP_MAX_QUEUED bytes, once
   * per connection: the pages are only touched as the ring fills), freed with the
   * connection. tx_len counts from tx_head, the in-flight bytes (handed to wreq)
   * included, so the copy never overwrites what libuv still has to write. */
  uint8_t *tx;
  size_t tx_head, tx_len, tx_inflight;
  uv_write_t wreq; /* one write at a time, embedded: no allocation per write */
  uint8_t storage[CONN_MAX_FRAME];
} conn_t;

static void handle_closed(uv_handle_t *h);
static void on_flush(uv_check_t *h);
static void on_sweep(uv_timer_t *tm);

static void conn_closed(uv_handle_t *h) {
  conn_t *c = h->data;
  free(c->tx);
  free(c);
}

static void unauth_forget(sfu_tcp_io_t *io, conn_t *c) {
  if (!c->ip_counted) return;
  sfu_hmap_remove(&io->unauth_by_ip, &c->ip_node);
  c->ip_counted = 0;
}

static void conn_close(conn_t *c, const char *why) {
  if (c->closing) return;
  c->closing = 1;
  sfu_tcp_io_t *io = c->io;
  char a[SFU_ADDR_STRLEN];
  SFU_DEBUG("tcp", "port %u: closing %s: %s", io->port, sfu_addr_format(&c->addr, a), why);
  sfu_hmap_remove(&io->by_addr, &c->node);
  unauth_forget(io, c);
  sfu_list_remove(&c->link);
  if (c->dirty) sfu_list_remove(&c->dirty_link);
  c->dirty = 0;
  io->st.conns--;
  uv_close((uv_handle_t *)&c->h, conn_closed);
}

static conn_t *find_conn(const sfu_tcp_io_t *io, const sfu_addr_t *a) {
  uint64_t h = sfu_addr_hash(a);
  for (sfu_hnode_t *n = sfu_hmap_first(&io->by_addr, h); n; n = sfu_hmap_next(n, h)) {
    conn_t *c = sfu_container_of(n, conn_t, node);
    if (sfu_addr_equal(&c->addr, a)) return c;
  }
  return NULL;
}

/* The source IP of a connection (no port): the key of the per-IP cap. */
static const void *ip_bytes(const sfu_addr_t *a, size_t *n) {
  if (a->u.sa.sa_family == AF_INET6) {
    *n = sizeof a->u.in6.sin6_addr;
    return &a->u.in6.sin6_addr;
  }
  *n = sizeof a->u.in4.sin_addr;
  return &a->u.in4.sin_addr;
}

/* Unauthenticated connections from a's IP, counted up to `stop`: O(stop) plus the
 * other IPs sharing the bucket, no allocation (the nodes live in the connections). */
static unsigned unauth_count(const sfu_tcp_io_t *io, const sfu_addr_t *a, unsigned stop) {
  size_t n;
  const void *ip = ip_bytes(a, &n);
  uint64_t h = sfu_hash_bytes(ip, n);
  unsigned k = 0;
  for (sfu_hnode_t *it = sfu_hmap_first(&io->unauth_by_ip, h); it && k < stop;
       it = sfu_hmap_next(it, h)) {
    const conn_t *o = sfu_container_of(it, conn_t, ip_node);
    size_t on;
    const void *oip = ip_bytes(&o->addr, &on);
    if (on == n && memcmp(oip, ip, n) == 0) k++;
  }
  return k;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
  conn_t *c = h->data;
  sfu_tcp_io_t *io = c->io;
  /* One buffer per loop: reads are processed synchronously in on_read before the next
   * alloc. read_busy guards against a (never observed) nested allocation. */
  if (io->read_busy) {
    b->base = NULL;
    b->len = 0;
    return;
  }
  io->read_busy = 1;
  b->base = (char *)io->read_buf;
  b->len = sizeof io->read_buf;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  conn_t *c = s->data;
  sfu_tcp_io_t *io = c->io;
  if (b->base == (char *)io->read_buf) io->read_busy = 0;
  if (n == 0) return;
  if (n < 0) {
    if (n == UV_EOF) io->st.closed_peer++;
    conn_close(c, n == UV_EOF ? "eof" : uv_strerror((int)n));
    return;
  }
  uint64_t now_us = uv_hrtime() / 1000; /* same clock as sfu_loop_now_us */
  const uint8_t *in = (const uint8_t *)b->base;
  size_t in_len = (size_t)n;
  for (;;) {
    const uint8_t *f;
    size_t flen;
    int r = sfu_tcp_deframer_next(&c->df, &in, &in_len, &f, &flen);
    if (r == 0) break;
    if (r < 0) {
      io->st.closed_garbage++;
      conn_close(c, "bad RFC 4571 framing");
      return;
    }
    io->st.rx_frames++;
    io->st.rx_bytes += flen;
    /* The frame lies in io->read_buf or c->storage, both ours and writable: SRTP
     * unprotects in place. */
    int took = io->recv_cb(io->user, now_us, &c->addr, (uint8_t *)f, flen);
    if (c->closing) return;
    if (c->authed) continue; /* its frames go where the 5-tuple routes them */
    if (took == SFU_TCP_AUTHED) {
      c->authed = 1;
      unauth_forget(io, c); /* authenticated: no longer counts against its IP's cap */
    } else if (took != SFU_TCP_ROUTED) {
      io->st.closed_unauth++;
      conn_close(c, "not authenticated and not an ICE check for a known ufrag");
      return;
    } else if (++c->unauth_frames >= SFU_TCP_MAX_UNAUTH_FRAMES) {
      io->st.closed_unauth++;
      conn_close(c, "ICE checks keep failing");
      return;
    }
  }
}

static void on_connection(uv_stream_t *server, int status) {
  sfu_tcp_io_t *io = server->data;
  if (status < 0 || io->closing) return;
  conn_t *c = calloc(1, sizeof *c);
  if (!c) return;
  c->io = io;
  uv_tcp_init(io->loop, &c->h);
  c->h.data = c;
  if (uv_accept(server, (uv_stream_t *)&c->h) != 0) {
    uv_close((uv_handle_t *)&c->h, conn_closed);
    return;
  }
  int len = sizeof c->addr.u;
  if (io->st.conns >= io->max_conns ||
      uv_tcp_getpeername(&c->h, &c->addr.u.sa, &len) != 0) {
    io->st.refused++;
    uv_close((uv_handle_t *)&c->h, conn_closed);
    return;
  }
  c->addr.proto = SFU_PROTO_TCP;
  /* One source cannot hold the loop's whole connection budget for the auth timeout. */
  if (unauth_count(io, &c->addr, SFU_TCP_MAX_UNAUTH_PER_IP) >= SFU_TCP_MAX_UNAUTH_PER_IP) {
    io->st.refused_per_ip++;
    uv_close((uv_handle_t *)&c->h, conn_closed);
    return;
  }
  size_t ipn;
  const void *ip = ip_bytes(&c->addr, &ipn);
  /* Linked even when growing the table failed (hmap.h): always forget it at close. */
  (void)sfu_hmap_insert(&io->unauth_by_ip, &c->ip_node, sfu_hash_bytes(ip, ipn));
  c->ip_counted = 1;
  if (!uv_is_active((uv_handle_t *)&io->sweep)) uv_timer_start(&io->sweep, on_sweep, 1000, 1000);
  sfu_tcp_deframer_init(&c->df, c->storage, sizeof c->storage);
  c->accepted_ms = uv_now(io->loop);
  uv_tcp_nodelay(&c->h, 1); /* media: no Nagle delay */
  (void)sfu_hmap_insert(&io->by_addr, &c->node, sfu_addr_hash(&c->addr));
  sfu_list_insert_tail(&io->conns, &c->link);
  io->st.accepted++;
  io->st.conns++;
  uv_read_start((uv_stream_t *)&c->h, on_alloc, on_read);
}

/* Closes connections that never authenticated (see tcp_io.h). O(connections) once a
 * second while any unauthenticated one exists: fine for the few thousand a loop allows. */
static void on_sweep(uv_timer_t *tm) {
  sfu_tcp_io_t *io = tm->data;
  uint64_t now = uv_now(io->loop);
  sfu_list_t *it, *tmp;
  sfu_list_foreach_safe(it, tmp, &io->conns) {
    conn_t *c = sfu_container_of(it, conn_t, link);
    if (!c->authed && now - c->accepted_ms >= SFU_TCP_AUTH_TIMEOUT_MS) {
      io->st.closed_unauth++;
      conn_close(c, "no ICE check in time");
    }
  }
  /* Nothing left to time out: no wake-up a second for an idle loop (restarted at the
   * next accept). */
  if (io->unauth_by_ip.count == 0) uv_timer_stop(&io->sweep);
}

int sfu_tcp_io_open(sfu_tcp_io_t *t, uv_loop_t *loop, const char *ip, uint16_t port,
                    sfu_tcp_recv_cb cb, void *user) {
  sfu_addr_t a;
  if (sfu_addr_from_ip(&a, ip, port, SFU_PROTO_TCP)) return SFU_EINVAL;
  memset(&t->st, 0, sizeof t->st);
  t->loop = loop;
  t->port = port;
  t->recv_cb = cb;
  t->user = user;
  t->closing = 0;
  t->read_busy = 0;
  t->max_conns = SFU_TCP_MAX_CONNS;
  t->st.max_conns = t->max_conns;
  sfu_list_init(&t->conns);
  sfu_list_init(&t->dirty);
  if (sfu_hmap_init(&t->by_addr, 64)) return SFU_ENOMEM;
  if (sfu_hmap_init(&t->unauth_by_ip, 64)) {
    sfu_hmap_free(&t->by_addr);
    return SFU_ENOMEM;
  }
  uv_tcp_init(loop, &t->listener);
  t->listener.data = t;
  uv_timer_init(loop, &t->sweep);
  t->sweep.data = t;
  uv_check_init(loop, &t->flush);
  t->flush.data = t;
  t->open_handles = 3;
  int r = uv_tcp_bind(&t->listener, &a.u.sa, 0);
  if (!r) r = uv_listen((uv_stream_t *)&t->listener, 128, on_connection);
  if (r) {
    SFU_ERROR("tcp", "listen %s:%u: %s", ip, port, uv_strerror(r));
    t->closed_cb = NULL;
    t->closing = 1;
    uv_close((uv_handle_t *)&t->listener, handle_closed);
    uv_close((uv_handle_t *)&t->sweep, handle_closed);
    uv_close((uv_handle_t *)&t->flush, handle_closed);
    return SFU_EIO;
  }
  uv_unref((uv_handle_t *)&t->sweep); /* started while unauthenticated connections exist */
  uv_check_start(&t->flush, on_flush);
  uv_unref((uv_handle_t *)&t->flush); /* must not keep the loop alive on its own */
  return 0;
}

/* The queued bytes from tx_head as at most two buffers (the ring may wrap). */
static unsigned ring_bufs(const conn_t *c, uv_buf_t b[2]) {
  size_t first = SFU_TCP_MAX_QUEUED - c->tx_head;
  if (first >= c->tx_len) {
    b[0] = uv_buf_init((char *)c->tx + c->tx_head, (unsigned)c->tx_len);
    return 1;
  }
  b[0] = uv_buf_init((char *)c->tx + c->tx_head, (unsigned)first);
  b[1] = uv_buf_init((char *)c->tx, (unsigned)(c->tx_len - first));
  return 2;
}

static void ring_consume(conn_t *c, size_t n) {
  c->tx_head = (c->tx_head + n) % SFU_TCP_MAX_QUEUED;
  c->tx_len -= n;
  if (c->tx_len == 0) c->tx_head = 0;
}

static void ring_put(conn_t *c, const uint8_t *p, size_t n) {
  size_t tail = (c->tx_head + c->tx_len) % SFU_TCP_MAX_QUEUED;
  size_t first = SFU_TCP_MAX_QUEUED - tail;
  if (first > n) first = n;
  memcpy(c->tx + tail, p, first);
  memcpy(c->tx, p + first, n - first);
  c->tx_len += n;
}

static void mark_dirty(sfu_tcp_io_t *io, conn_t *c) {
  if (c->dirty || c->closing) return;
  c->dirty = 1;
  sfu_list_insert_tail(&io->dirty, &c->dirty_link);
}

static void on_written(uv_write_t *req, int status) {
  conn_t *c = req->data;
  if (status < 0) { /* UV_ECANCELED when the connection closes under it */
    if (!c->closing) conn_close(c, uv_strerror(status));
    return;
  }
  ring_consume(c, c->tx_inflight);
  c->tx_inflight = 0;
  if (c->tx_len) mark_dirty(c->io, c); /* written at this turn's check (after poll) */
}

/* Writes everything queued with one uv_try_write (one writev); what the socket does not
 * take goes to one uv_write on the ring itself, which stays put until on_written. */
static void conn_flush(sfu_tcp_io_t *io, conn_t *c) {
  if (c->closing || c->tx_inflight || !c->tx_len) return;
  uv_buf_t b[2];
  unsigned nb = ring_bufs(c, b);
  io->st.tx_writes++;
  int r = uv_try_write((uv_stream_t *)&c->h, b, nb);
  if (r > 0) {
    ring_consume(c, (size_t)r);
  } else if (r != UV_EAGAIN) {
    conn_close(c, uv_strerror(r));
    return;
  }
  if (!c->tx_len) return;
  nb = ring_bufs(c, b);
  c->wreq.data = c;
  r = uv_write(&c->wreq, (uv_stream_t *)&c->h, b, nb, on_written);
  if (r) {
    conn_close(c, uv_strerror(r));
    return;
  }
  c->tx_inflight = c->tx_len;
}

/* Once per loop turn, after the poll phase (like udp_io's sendmmsg flush). */
static void on_flush(uv_check_t *h) {
  sfu_tcp_io_t *io = h->data;
  while (!sfu_list_empty(&io->dirty)) {
    conn_t *c = sfu_container_of(io->dirty.next, conn_t, dirty_link);
    sfu_list_remove(&c->dirty_link);
    c->dirty = 0;
    conn_flush(io, c);
  }
}

int sfu_tcp_io_send(sfu_tcp_io_t *t, const sfu_addr_t *to, const uint8_t *buf, size_t len) {
  conn_t *c = find_conn(t, to);
  if (!c || c->closing) {
    t->st.tx_dropped++;
    return SFU_ENOENT;
  }
  uint8_t hdr[2];
  if (sfu_tcp_frame_header(hdr, len)) return SFU_ETOOBIG;
  if (!c->tx && !(c->tx = malloc(SFU_TCP_MAX_QUEUED))) {
    t->st.tx_dropped++;
    return SFU_ENOMEM;
  }
  if (c->tx_len + len + 2 > SFU_TCP_MAX_QUEUED) {
    t->st.tx_dropped++; /* drop the whole frame: the stream stays well framed */
    return SFU_ELIMIT;
  }
  ring_put(c, hdr, 2); /* RFC 4571 §2: 16-bit length, then the packet */
  ring_put(c, buf, len);
  t->st.tx_frames++;
  t->st.tx_bytes += len;
  mark_dirty(t, c);
  return 0;
}

void sfu_tcp_io_set_max_conns(sfu_tcp_io_t *t, unsigned n) {
  if (n > SFU_TCP_MAX_CONNS) n = SFU_TCP_MAX_CONNS;
  t->max_conns = n;
  t->st.max_conns = n;
}

void sfu_tcp_io_release(sfu_tcp_io_t *t, const sfu_addr_t *addr) {
  conn_t *c = find_conn(t, addr);
  if (!c || c->closing) return;
  /* What the transport queued last (close_notify) goes out now if the socket takes it;
   * a write still pending is cancelled by the close, like a datagram lost. */
  conn_flush(t, c);
  if (c->closing) return;
  if (c->authed) t->st.closed_released++;
  conn_close(c, "its 5-tuple was released by the transport");
}

static void handle_closed(uv_handle_t *h) {
  sfu_tcp_io_t *t = h->data;
  if (--t->open_handles > 0) return;
  sfu_hmap_free(&t->by_addr);
  sfu_hmap_free(&t->unauth_by_ip);
  if (t->closed_cb) t->closed_cb(t);
}

void sfu_tcp_io_close(sfu_tcp_io_t *t, void (*closed_cb)(sfu_tcp_io_t *t)) {
  if (t->closing) return;
  t->closing = 1;
  t->closed_cb = closed_cb;
  sfu_list_t *it, *tmp;
  sfu_list_foreach_safe(it, tmp, &t->conns) conn_close(sfu_container_of(it, conn_t, link), "shutdown");
  uv_close((uv_handle_t *)&t->listener, handle_closed);
  uv_close((uv_handle_t *)&t->sweep, handle_closed);
  uv_close((uv_handle_t *)&t->flush, handle_closed);
}
