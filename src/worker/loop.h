/* A media loop: one thread, one uv_loop_t, one sfu_session_t (the meetings placed on
 * it), an inbox of commands from the control thread, and one timer driven by the
 * session's next deadline.
 *
 * Issue 3 adds here, per loop: the UDP socket (udp_port) and TCP listener (tcp_port),
 * the transports of the loop's attendees, buffer pools. Every such member is created in
 * sfu_loop_start (before the thread exists) or on the loop thread, closed by loop_stop
 * on the loop thread, and freed after the thread is joined.
 *
 * Ownership: the worker owns the sfu_loop_t array and frees it after sfu_loop_join.
 * Everything inside is touched only by the loop's thread once it runs, except `inbox`
 * (pushed to by the control thread) and the read-only configuration fields. */
#ifndef SFU_WORKER_LOOP_H
#define SFU_WORKER_LOOP_H

#include <stdint.h>
#include <uv.h>

#include "sfu/control.h"
#include "sfu/session.h"
#include "worker/queue.h"

struct sfu_dtls_cert;
struct sfu_loop_media;

typedef struct sfu_loop {
  /* configuration: written before the thread starts, read-only afterwards */
  int index;
  int udp_port, tcp_port;
  sfu_control_ctx_t ctx;
  sfu_mq_t *control_inbox; /* where replies and events go (the control thread's queue) */
  const struct sfu_dtls_cert *cert; /* the worker's DTLS identity, shared read-only (issue 3) */
  unsigned tcp_max_conns; /* ICE-TCP connection budget (fd_budget.h); 0: none accepted */
  uint64_t pacer_burst_us; /* --pacer-burst-ms (0: the pacer's default) */

  /* loop thread only */
  uv_thread_t thread;
  uv_loop_t loop;
  sfu_mq_t inbox;
  uv_timer_t timer;
  uint64_t timer_due_ms; /* when the timer is due, on the loop's clock (sfu_loop_rearm) */
  sfu_session_t *session;
  struct sfu_loop_media *media; /* UDP socket, TCP listener, transports (loop_media.h) */
  int started;
} sfu_loop_t;

/* Initialises the loop's handles, session and media (UDP/TCP ports: SFU_EIO if taken;
 * set l->cert first) and starts its thread. */
int sfu_loop_start(sfu_loop_t *l, int index, const char *announce_ip, int udp_port, int tcp_port,
                   const sfu_session_config_t *cfg, sfu_mq_t *control_inbox);
/* Control thread: queues a message for the loop (ownership passes to the loop). */
void sfu_loop_send(sfu_loop_t *l, sfu_msg_t *m);
/* Control thread: asks the loop to stop and waits for its thread to exit; frees what
 * the loop owned. Safe on a loop that never started. */
void sfu_loop_join(sfu_loop_t *l);
/* The loops' clock: monotonic microseconds (uv_hrtime). */
uint64_t sfu_loop_now_us(void);
/* Loop thread: re-arms the loop timer for min(session, transports) deadlines. */
void sfu_loop_rearm(sfu_loop_t *l);
/* Loop thread: an event to the control thread (session and media events alike). */
void sfu_loop_emit_event(sfu_loop_t *l, const sfu_event_t *ev);

#endif
