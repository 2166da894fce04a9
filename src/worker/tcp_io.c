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

/* One accepted connection. Owner: the tcp_io (listed in conns, keyed in by_addr); freed
 * in its close callback. Loop thread only. */
typedef struct {
  uv_tcp_t h;
  sfu_tcp_io_t *io;
  sfu_hnode_t node;
  sfu_list_t link;
  sfu_addr_t addr;
  sfu_tcp_deframer_t df;
  int authed;
  int closing;
  uint64_t accepted_ms;
  size_t queued; /* bytes in pending uv_write requests */
  uint8_t storage[CONN_MAX_FRAME];
} conn_t;

/* A pending write: header + payload copied, freed in the write callback. Only used when
 * the socket cannot take the whole frame at once (uv_try_write first: no allocation in
 * the common case). */
typedef struct {
  uv_write_t req;
  conn_t *c;
  size_t len;
  uint8_t data[];
} wreq_t;

static void handle_closed(uv_handle_t *h);

static void conn_closed(uv_handle_t *h) {
  conn_t *c = h->data;
  free(c);
}

static void conn_close(conn_t *c, const char *why) {
  if (c->closing) return;
  c->closing = 1;
  sfu_tcp_io_t *io = c->io;
  char a[SFU_ADDR_STRLEN];
  SFU_DEBUG("tcp", "port %u: closing %s: %s", io->port, sfu_addr_format(&c->addr, a), why);
  sfu_hmap_remove(&io->by_addr, &c->node);
  sfu_list_remove(&c->link);
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
    if (took) {
      c->authed = 1;
    } else if (!c->authed) {
      io->st.closed_unauth++;
      conn_close(c, "first frame is not an ICE check for a known ufrag");
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
  if (io->st.conns >= SFU_TCP_MAX_CONNS ||
      uv_tcp_getpeername(&c->h, &c->addr.u.sa, &len) != 0) {
    io->st.refused++;
    uv_close((uv_handle_t *)&c->h, conn_closed);
    return;
  }
  c->addr.proto = SFU_PROTO_TCP;
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
 * second: fine for the few thousand a loop allows. */
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
  sfu_list_init(&t->conns);
  if (sfu_hmap_init(&t->by_addr, 64)) return SFU_ENOMEM;
  uv_tcp_init(loop, &t->listener);
  t->listener.data = t;
  uv_timer_init(loop, &t->sweep);
  t->sweep.data = t;
  t->open_handles = 2;
  int r = uv_tcp_bind(&t->listener, &a.u.sa, 0);
  if (!r) r = uv_listen((uv_stream_t *)&t->listener, 128, on_connection);
  if (r) {
    SFU_ERROR("tcp", "listen %s:%u: %s", ip, port, uv_strerror(r));
    t->closed_cb = NULL;
    t->closing = 1;
    uv_close((uv_handle_t *)&t->listener, handle_closed);
    uv_close((uv_handle_t *)&t->sweep, handle_closed);
    return SFU_EIO;
  }
  uv_timer_start(&t->sweep, on_sweep, 1000, 1000);
  uv_unref((uv_handle_t *)&t->sweep);
  return 0;
}

static void on_written(uv_write_t *req, int status) {
  wreq_t *w = (wreq_t *)req;
  w->c->queued -= w->len;
  free(w);
}

int sfu_tcp_io_send(sfu_tcp_io_t *t, const sfu_addr_t *to, const uint8_t *buf, size_t len) {
  conn_t *c = find_conn(t, to);
  if (!c || c->closing) {
    t->st.tx_dropped++;
    return SFU_ENOENT;
  }
  uint8_t hdr[2];
  if (sfu_tcp_frame_header(hdr, len)) return SFU_ETOOBIG;
  size_t done = 0, total = len + 2;
  if (c->queued == 0) {
    /* Nothing queued: try to write at once, without copying (RFC 4571 header + packet). */
    uv_buf_t bufs[2] = {uv_buf_init((char *)hdr, 2), uv_buf_init((char *)buf, (unsigned)len)};
    int r = uv_try_write((uv_stream_t *)&c->h, bufs, 2);
    if (r > 0) done = (size_t)r;
    if (done == total) {
      t->st.tx_frames++;
      t->st.tx_bytes += len;
      return 0;
    }
  } else if (c->queued + total > SFU_TCP_MAX_QUEUED) {
    t->st.tx_dropped++; /* drop the whole frame: the stream stays well framed */
    return SFU_ELIMIT;
  }
  size_t rest = total - done;
  wreq_t *w = malloc(sizeof *w + rest);
  if (!w) {
    conn_close(c, "out of memory"); /* half a frame may be out: the stream is broken */
    return SFU_ENOMEM;
  }
  w->c = c;
  w->len = rest;
  size_t hoff = done < 2 ? done : 2;
  size_t k = 0;
  if (hoff < 2) {
    memcpy(w->data, hdr + hoff, 2 - hoff);
    k = 2 - hoff;
  }
  size_t poff = done > 2 ? done - 2 : 0;
  memcpy(w->data + k, buf + poff, len - poff);
  uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)rest);
  if (uv_write(&w->req, (uv_stream_t *)&c->h, &b, 1, on_written) != 0) {
    free(w);
    conn_close(c, "write failed");
    return SFU_EIO;
  }
  c->queued += rest;
  t->st.tx_frames++;
  t->st.tx_bytes += len;
  return 0;
}

static void handle_closed(uv_handle_t *h) {
  sfu_tcp_io_t *t = h->data;
  if (--t->open_handles > 0) return;
  sfu_hmap_free(&t->by_addr);
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
}
