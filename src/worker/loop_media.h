/* The media side of a loop: its UDP socket, its ICE-TCP listener and its sfu_rtc_t (the
 * attendees' transports), wired together. Packets in: udp_io / tcp_io → sfu_rtc_input;
 * packets out: the transports → send_cb → udp_io queue (flushed once per loop turn) or
 * the TCP connection of that 5-tuple (RFC 4571 framed).
 *
 * Timers: the loop has ONE uv_timer_t armed for min(session deadline, rtc deadline). The
 * rtc keeps its transports in a min-heap, so reading its deadline is O(1); a uv_check_t
 * re-arms the loop timer once per loop turn when the rtc's earliest deadline moved
 * (after a batch of packets), instead of once per packet.
 *
 * Ownership: embedded (by pointer) in sfu_loop_t; created by sfu_loop_media_open on the
 * thread that starts the loop (before the loop thread runs), closed on the loop thread
 * (sfu_loop_media_close, from loop_stop), freed after the loop thread is joined
 * (sfu_loop_media_free). Touched only by the loop thread in between. */
#ifndef SFU_WORKER_LOOP_MEDIA_H
#define SFU_WORKER_LOOP_MEDIA_H

#include <stdint.h>
#include <uv.h>

#include "sfu/rtc.h"
#include "worker/tcp_io.h"
#include "worker/udp_io.h"

struct sfu_loop;
struct sfu_dtls_cert;

typedef struct sfu_loop_media {
  struct sfu_loop *loop;
  sfu_udp_io_t udp;
  sfu_tcp_io_t tcp;
  sfu_rtc_t *rtc;
  uv_check_t check;
  int udp_open, tcp_open, check_open;
  uint64_t armed_us; /* rtc deadline the loop timer was last armed for */
} sfu_loop_media_t;

/* Opens the UDP socket on bind_ip:udp_port and the TCP listener on bind_ip:tcp_port
 * (tcp_port 0 = no TCP), creates the rtc over the loop's session. 0 or SFU_EIO (port in
 * use) / SFU_ENOMEM; on error nothing stays open except what sfu_loop_media_close ends. */
int sfu_loop_media_open(sfu_loop_media_t **out, struct sfu_loop *l,
                        const struct sfu_dtls_cert *cert, const char *bind_ip);
/* Loop thread: closes every transport silently (close_notify sent), flushes, closes the
 * handles. */
void sfu_loop_media_close(sfu_loop_media_t *m);
/* Adds the loop's socket counters to its GetWorkerStats object (loop_obj, the "Loop" of
 * the reply): "Udp" (the loop's datagram socket) and "Tcp" (its ICE-TCP listener and
 * connections). Counters since start, except Tcp.Open. Loop thread. */
struct cJSON;
void sfu_loop_media_add_socket_stats(const sfu_loop_media_t *m, struct cJSON *loop_obj);
/* After the loop thread is joined (handles closed). */
void sfu_loop_media_free(sfu_loop_media_t *m);

#endif
