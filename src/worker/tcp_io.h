/* A media loop's TCP listener for ICE-TCP passive candidates (RFC 6544) with RFC 4571
 * framing: every connection is a 5-tuple of its own (sfu_addr_t with proto TCP), the
 * frames it carries go to the same receive callback as UDP datagrams.
 *
 * Bounds (a client controls everything here):
 *  - at most max_conns connections per loop (SFU_TCP_MAX_CONNS, or less: the worker
 *    derives it from RLIMIT_NOFILE, fd_budget.h); more are refused at accept;
 *  - at most SFU_TCP_MAX_UNAUTH_PER_IP connections per source IP that have not been
 *    authenticated yet (authenticated ones do not count); more are closed at accept
 *    (counted in refused_per_ip), so one host cannot hold the whole budget;
 *  - a connection is AUTHENTICATED only when the receive callback says SFU_TCP_AUTHED
 *    for one of its frames: an ICE check on it passed MESSAGE-INTEGRITY (knowing a ufrag
 *    is not enough: it travels in clear). Until then every frame must at least be
 *    routed (SFU_TCP_ROUTED: a STUN request naming a known ufrag), else the connection
 *    is closed: garbage or strangers cost one read; and after SFU_TCP_MAX_UNAUTH_FRAMES
 *    routed-but-refused frames it is closed too;
 *  - a connection not authenticated within SFU_TCP_AUTH_TIMEOUT_MS is closed;
 *  - an authenticated connection is closed when its 5-tuple is released
 *    (sfu_tcp_io_release: its transport is gone, replaced it, or saw no check on it
 *    for the consent timeout), which also caps them per transport (transport.h);
 *  - a length prefix of 0 or above 65535-ish (decoder error) closes the connection;
 *  - each connection's write queue is bounded (SFU_TCP_MAX_QUEUED bytes): when a slow
 *    reader fills it, further frames are dropped whole (never half a frame, which would
 *    break the framing), like a full UDP buffer would drop them.
 *
 * Sends are batched like UDP's sendmmsg: sfu_tcp_io_send copies the framed packet into
 * the connection's ring (allocated once, at its first send) and a uv_check handle writes
 * each connection's ring once per loop turn with one uv_try_write (a writev of at most
 * two buffers); what the socket does not take is handed to one uv_write on the ring
 * itself. No allocation and no syscall per packet.
 *
 * Reads go through one 64 KiB buffer per loop (libuv asks alloc_cb before each read and
 * the callback processes the data synchronously), so an idle connection costs its
 * struct plus one frame's reassembly storage only when a frame is split.
 *
 * Ownership: embedded in the media loop; connections are owned by it (freed in their
 * close callback); loop thread only. */
#ifndef SFU_WORKER_TCP_IO_H
#define SFU_WORKER_TCP_IO_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "sfu/addr.h"
#include "sfu/hmap.h"
#include "sfu/list.h"

#define SFU_TCP_MAX_CONNS 4096
#define SFU_TCP_MAX_QUEUED (256 * 1024)
#define SFU_TCP_AUTH_TIMEOUT_MS 10000
#define SFU_TCP_MAX_UNAUTH_PER_IP 16
#define SFU_TCP_MAX_UNAUTH_FRAMES 8 /* a real client's first check passes; allow retries */
#define SFU_TCP_READ_BUF 65536

/* What the receive callback says of a frame (the values of sfu_rtc_input). */
enum { SFU_TCP_DROPPED = 0, SFU_TCP_ROUTED = 1, SFU_TCP_AUTHED = 2 };
/* One frame; buf is writable and valid only during the call. Returns SFU_TCP_DROPPED,
 * SFU_TCP_ROUTED or SFU_TCP_AUTHED (see the bounds above). */
typedef int (*sfu_tcp_recv_cb)(void *user, uint64_t now_us, const sfu_addr_t *from,
                               uint8_t *buf, size_t len);

typedef struct {
  uint64_t accepted, refused, closed_garbage, closed_unauth, closed_peer;
  uint64_t refused_per_ip; /* closed at accept: too many unauthenticated from that IP */
  uint64_t closed_released; /* authenticated, closed because its 5-tuple was released */
  uint64_t max_conns;       /* the budget in force (gauge) */
  uint64_t rx_frames, rx_bytes, tx_frames, tx_bytes, tx_dropped;
  uint64_t tx_writes; /* write attempts (one per connection and loop turn with data) */
  uint64_t conns; /* open now */
} sfu_tcp_io_stats_t;

typedef struct sfu_tcp_io {
  uv_loop_t *loop;
  uv_tcp_t listener;
  uv_timer_t sweep;
  uv_check_t flush; /* writes the dirty connections' rings once per loop turn */
  int open_handles;
  int closing;
  uint16_t port;
  sfu_tcp_recv_cb recv_cb;
  void *user;
  void (*closed_cb)(struct sfu_tcp_io *t);
  sfu_hmap_t by_addr; /* remote address -> connection */
  sfu_list_t conns;
  sfu_list_t dirty;          /* connections with frames queued since the last flush */
  sfu_hmap_t unauth_by_ip;   /* source IP (no port) -> unauthenticated connections */
  sfu_tcp_io_stats_t st;
  unsigned max_conns; /* SFU_TCP_MAX_CONNS unless set lower */
  uint8_t read_buf[SFU_TCP_READ_BUF];
  int read_busy;
} sfu_tcp_io_t;

/* Binds ip:port and listens. 0 or SFU_EIO. */
int sfu_tcp_io_open(sfu_tcp_io_t *t, uv_loop_t *loop, const char *ip, uint16_t port,
                    sfu_tcp_recv_cb cb, void *user);
/* Frames and queues one packet on the connection of `to` (proto TCP); written at the
 * end of the loop turn. SFU_ENOENT if no such connection (it closed), SFU_ELIMIT if its
 * write queue is full (dropped whole), SFU_ENOMEM if its ring cannot be allocated. */
int sfu_tcp_io_send(sfu_tcp_io_t *t, const sfu_addr_t *to, const uint8_t *buf, size_t len);
/* The connection budget of this listener, 0..SFU_TCP_MAX_CONNS (clamped; 0 refuses
 * every connection); connections already open above it stay. */
void sfu_tcp_io_set_max_conns(sfu_tcp_io_t *t, unsigned n);
/* The 5-tuple `addr` (proto TCP) is no longer any transport's: closes its connection
 * after writing what is queued for it (a close_notify, typically). No-op if none. */
void sfu_tcp_io_release(sfu_tcp_io_t *t, const sfu_addr_t *addr);
/* Closes the listener and every connection; closed_cb once all handles are closed. */
void sfu_tcp_io_close(sfu_tcp_io_t *t, void (*closed_cb)(sfu_tcp_io_t *t));

#endif
