/* A media loop's TCP listener for ICE-TCP passive candidates (RFC 6544) with RFC 4571
 * framing: every connection is a 5-tuple of its own (sfu_addr_t with proto TCP), the
 * frames it carries go to the same receive callback as UDP datagrams.
 *
 * Bounds (a client controls everything here):
 *  - at most SFU_TCP_MAX_CONNS connections per loop; more are refused at accept;
 *  - at most SFU_TCP_MAX_UNAUTH_PER_IP connections per source IP that have not been
 *    authenticated yet (authenticated ones do not count); more are closed at accept
 *    (counted in refused_per_ip), so one host cannot hold the whole budget;
 *  - the FIRST frame of a connection must be claimed by the receive callback (i.e. be
 *    a valid STUN request for a known ufrag), else the connection is closed: garbage or
 *    strangers cost one read;
 *  - a connection that sends nothing claimable within SFU_TCP_AUTH_TIMEOUT_MS is closed;
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
#define SFU_TCP_READ_BUF 65536

/* One frame; buf is writable and valid only during the call. Returns 1 if a transport
 * took it, 0 if not (a connection whose first frame is not taken is closed). */
typedef int (*sfu_tcp_recv_cb)(void *user, uint64_t now_us, const sfu_addr_t *from,
                               uint8_t *buf, size_t len);

typedef struct {
  uint64_t accepted, refused, closed_garbage, closed_unauth, closed_peer;
  uint64_t refused_per_ip; /* closed at accept: too many unauthenticated from that IP */
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
/* Closes the listener and every connection; closed_cb once all handles are closed. */
void sfu_tcp_io_close(sfu_tcp_io_t *t, void (*closed_cb)(sfu_tcp_io_t *t));

#endif
