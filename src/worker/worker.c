/* The control thread: nanomsg REP (commands) and PUB (events), signals, the meeting
 * directory (placement, global checks, routing), and the gathering of loop answers.
 *
 * It never blocks on a loop. A request that needs loops becomes `pending`; the REP
 * socket is not read again until the loops' answers have come back through the inbox
 * and the reply went out (REP is strictly one request, one reply). */
#include "worker/worker.h"

#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <cjson/cJSON.h>
#include <nanomsg/nn.h>
#include <nanomsg/pubsub.h>
#include <nanomsg/reqrep.h>
#include <uv.h>

#include "sfu/control.h"
#include "sfu/control_dir.h"
#include "sfu/dtls.h"
#include "sfu/err.h"
#include "sfu/log.h"
#include "sfu/sctp.h"
#include "sfu/srtp.h"
#include "worker/fd_budget.h"
#include "worker/loop.h"
#include "worker/queue.h"

/* nanomsg allocates a message as soon as its 8-byte length header arrives and holds it
 * until the body is complete, for as many connections as anyone opens: at 16 MiB, 40
 * connections that sent only headers took the worker from 10 MB to 666 MB (issue 6).
 * So the limit sits just above SFU_CONTROL_MAX_REQUEST: a request slightly too large is
 * still read and answered "message too large"; past this nanomsg closes the connection
 * at the header (the REQ side gets no reply). */
#define RCV_MAX_BYTES (SFU_CONTROL_MAX_REQUEST + 64 * 1024)

/* Events published per turn of the control loop while a burst is waiting. Publishing
 * (JSON text, nn_send) costs a few microseconds per event, so 20,000 meetings ending
 * together once held the control thread for ~100 ms in one go; in slices of 64 the REP
 * socket is served between slices. */
#define PUBLISH_BATCH 64

/* The request being served. Control thread only. */
typedef struct {
  int active;
  uint64_t id; /* req_id carried by the loop messages of this request */
  sfu_op_t op;
  int waiting; /* loop replies still expected */
  int phase;   /* DeleteMeeting with replicas: 1 = replicas, 2 = the meeting */
  int loop;    /* the owning loop of a meeting-scoped request */
  char meeting_id[SFU_UUID_LEN + 1];
  cJSON **parts;   /* fan-out ops: one reply per loop, merged at the end */
  sfu_cmd_t saved; /* DeleteMeeting phase 2 */
} pending_t;

/* The worker. Owned by sfu_worker_run's stack frame; everything in it is touched only by
 * the control (main) thread, except `inbox`, which the loops push to. */
typedef struct {
  sfu_worker_opts_t opts;
  uv_loop_t loop;
  int rep, pub; /* nanomsg sockets, -1 if not open */
  uv_poll_t rep_poll;
  uv_signal_t sigint, sigterm;
  sfu_mq_t inbox;
  /* Events already applied to the directory, waiting to be published (sfu_msg_t.link,
   * oldest first), and the idle handle that publishes them a slice per loop turn. */
  sfu_list_t unpublished;
  uv_idle_t publisher;
  sfu_loop_t *loops;
  int n_started;
  sfu_dir_t dir;
  uint64_t start_us;      /* loop clock at start */
  int64_t wall_offset_us; /* wall clock - loop clock, measured once at start */
  uint64_t next_req_id;
  pending_t pend;
  uint64_t requests, events_published, events_dropped;
  int stopping;
  int need_drain;
  int handles_init; /* rep_poll and signals initialised (must be closed) */
  sfu_dtls_cert_t *cert; /* made once here, shared read-only by the loops, freed after them */
} worker_t;

static void drain_rep(worker_t *w);
static void on_rep(uv_poll_t *h, int status, int events);

/* ---- replies ---- */

static void send_reply(worker_t *w, cJSON *reply) {
  char *s = sfu_control_print(reply);
  if (!s)
    s = strdup(
        "{\"ok\":false,\"error\":{\"code\":\"InternalError\",\"message\":\"out of memory\"}}");
  if (!s) return;
  /* REP answers the pipe the request came from; it does not block. If the requester is
   * gone nanomsg drops the reply, which is what we want. */
  if (nn_send(w->rep, s, strlen(s), NN_DONTWAIT) < 0)
    SFU_WARN("control", "reply not sent: %s", nn_strerror(nn_errno()));
  free(s);
}

static void reply_error(worker_t *w, int err, const char *msg) {
  send_reply(w, sfu_control_error(err, msg));
}

static void pending_clear(worker_t *w) {
  pending_t *p = &w->pend;
  for (int i = 0; p->parts && i < w->opts.loops; i++) {
    cJSON_Delete(p->parts[i]);
    p->parts[i] = NULL;
  }
  sfu_cmd_free(&p->saved);
  cJSON **parts = p->parts;
  memset(p, 0, sizeof *p);
  p->parts = parts;
}

/* Sends the reply of the pending request and opens REP for the next one. */
static void finish(worker_t *w, cJSON *reply) {
  send_reply(w, reply);
  pending_clear(w);
  if (!w->stopping) {
    uv_poll_start(&w->rep_poll, UV_READABLE, on_rep);
    w->need_drain = 1;
  }
}

/* ---- dispatch: control -> loops ---- */

static int send_cmd(worker_t *w, int loop, sfu_cmd_t *cmd, uint64_t req_id) {
  sfu_msg_t *m = sfu_msg_new(SFU_MSG_CMD);
  if (!m) {
    sfu_cmd_free(cmd);
    return SFU_ENOMEM;
  }
  m->cmd = *cmd; /* moved */
  memset(cmd, 0, sizeof *cmd);
  m->req_id = req_id;
  sfu_loop_send(&w->loops[loop], m);
  return 0;
}

static void route(worker_t *w, int loop, sfu_cmd_t *cmd) {
  pending_t *p = &w->pend;
  if (send_cmd(w, loop, cmd, p->id) != 0) {
    /* Phase 2 of a DeleteMeeting is already pending: finish it, or REP would stall. */
    if (p->active) finish(w, sfu_control_error(SFU_ENOMEM, "out of memory"));
    else reply_error(w, SFU_ENOMEM, "out of memory");
    return;
  }
  p->active = 1;
  p->waiting = 1;
  p->loop = loop;
}

static void dispatch_fanout(worker_t *w, sfu_cmd_t *cmd) {
  pending_t *p = &w->pend;
  for (int i = 0; i < w->opts.loops; i++) {
    sfu_cmd_t c = {.op = cmd->op};
    if (send_cmd(w, i, &c, p->id) == 0) p->waiting++;
  }
  sfu_cmd_free(cmd);
  if (p->waiting == 0)
    reply_error(w, SFU_ENOMEM, "out of memory");
  else
    p->active = 1;
}

static void dispatch_create(worker_t *w, sfu_cmd_t *cmd) {
  char err[SFU_CONTROL_ERRLEN];
  if (!cmd->meeting_id[0]) {
    do {
      if (sfu_uuid_v4(cmd->meeting_id) != 0) {
        sfu_cmd_free(cmd);
        return reply_error(w, SFU_EINTERNAL, "random source failed");
      }
    } while (sfu_dir_find(&w->dir, cmd->meeting_id));
  }
  int rc = sfu_dir_check_create(&w->dir, cmd->meeting_id, cmd->primary_meeting_id, err, sizeof err);
  if (rc == 0) {
    int loop = sfu_dir_place(&w->dir);
    rc = sfu_dir_add(&w->dir, cmd->meeting_id, cmd->primary_meeting_id, loop);
    if (rc == 0) {
      memcpy(w->pend.meeting_id, cmd->meeting_id, sizeof w->pend.meeting_id);
      route(w, loop, cmd);
      return;
    }
    snprintf(err, sizeof err, "out of memory");
  }
  sfu_cmd_free(cmd);
  reply_error(w, rc, err);
}

/* Deleting a primary ends its replicas first (contract: replicas, then the primary's
 * MeetingEnded), each on whatever loop owns it. */
static void dispatch_delete(worker_t *w, sfu_cmd_t *cmd, const sfu_dir_meeting_t *dm) {
  pending_t *p = &w->pend;
  char ids[SFU_MAX_REPLICAS * 2][SFU_UUID_LEN + 1];
  size_t n = sfu_dir_replicas(&w->dir, dm->id, ids, SFU_MAX_REPLICAS * 2);
  if (n > SFU_MAX_REPLICAS * 2) n = SFU_MAX_REPLICAS * 2;
  cmd->reason = SFU_END_DELETED;
  if (n == 0) return route(w, dm->loop, cmd);
  p->saved = *cmd;
  memset(cmd, 0, sizeof *cmd);
  p->phase = 1;
  p->loop = dm->loop;
  for (size_t i = 0; i < n; i++) {
    const sfu_dir_meeting_t *r = sfu_dir_find(&w->dir, ids[i]);
    sfu_cmd_t c = {.op = SFU_OP_DELETE_MEETING, .reason = SFU_END_PRIMARY_ENDED};
    memcpy(c.meeting_id, ids[i], sizeof c.meeting_id);
    if (r && send_cmd(w, r->loop, &c, p->id) == 0) p->waiting++;
  }
  p->active = 1;
  if (p->waiting == 0) { /* nothing could be sent: go straight to phase 2 */
    p->phase = 2;
    sfu_cmd_t c = p->saved;
    memset(&p->saved, 0, sizeof p->saved);
    route(w, p->loop, &c);
  }
}

static void dispatch(worker_t *w, sfu_cmd_t *cmd) {
  pending_t *p = &w->pend;
  char err[SFU_CONTROL_ERRLEN];
  pending_clear(w);
  p->id = ++w->next_req_id;
  p->op = cmd->op;
  switch (cmd->op) {
    case SFU_OP_LIST_MEETINGS:
    case SFU_OP_GET_WORKER_STATS:
      return dispatch_fanout(w, cmd);
    case SFU_OP_CREATE_MEETING:
      return dispatch_create(w, cmd);
    default:
      break;
  }
  /* Every other op names a meeting: route it to the loop that owns it. */
  const sfu_dir_meeting_t *dm = sfu_dir_find(&w->dir, cmd->meeting_id);
  if (!dm) {
    snprintf(err, sizeof err, "MeetingId: no such meeting '%s'", cmd->meeting_id);
    sfu_cmd_free(cmd);
    return reply_error(w, SFU_ENOENT, err);
  }
  memcpy(p->meeting_id, cmd->meeting_id, sizeof p->meeting_id);
  if (cmd->op == SFU_OP_DELETE_MEETING) return dispatch_delete(w, cmd, dm);
  route(w, dm->loop, cmd);
}

static void handle_request(worker_t *w, const char *buf, size_t len) {
  sfu_cmd_t cmd;
  char err[SFU_CONTROL_ERRLEN];
  w->requests++;
  int rc = sfu_control_decode(buf, len, &cmd, err, sizeof err);
  if (rc) {
    SFU_DEBUG("control", "bad request (%zu bytes): %s", len, err);
    return reply_error(w, rc, err);
  }
  SFU_DEBUG("control", "request %s %s", sfu_op_name(cmd.op), cmd.meeting_id);
  dispatch(w, &cmd);
}

/* NN_RCVFD is readable while a message may be received: read until EAGAIN or until a
 * request is pending (then stop watching REP until it is answered). */
static void drain_rep(worker_t *w) {
  w->need_drain = 0;
  while (!w->pend.active && !w->stopping) {
    char *buf = NULL;
    int n = nn_recv(w->rep, &buf, NN_MSG, NN_DONTWAIT);
    if (n < 0) {
      int e = nn_errno();
      if (e != EAGAIN && e != EINTR) SFU_WARN("control", "receive: %s", nn_strerror(e));
      break;
    }
    handle_request(w, buf, (size_t)n);
    nn_freemsg(buf);
  }
  if (w->pend.active && !w->stopping) uv_poll_stop(&w->rep_poll);
}

static void on_rep(uv_poll_t *h, int status, int events) {
  worker_t *w = h->data;
  if (status < 0) SFU_WARN("control", "poll: %s", uv_strerror(status));
  drain_rep(w);
}

/* ---- loop answers ---- */

static cJSON *merge_list(worker_t *w) {
  cJSON *r = cJSON_CreateObject();
  cJSON_AddTrueToObject(r, "ok");
  cJSON *arr = cJSON_AddArrayToObject(r, "Meetings");
  for (int i = 0; i < w->opts.loops; i++) {
    cJSON *items = cJSON_GetObjectItemCaseSensitive(w->pend.parts[i], "Meetings");
    cJSON *it;
    while (cJSON_IsArray(items) && (it = cJSON_DetachItemFromArray(items, 0)))
      cJSON_AddItemToArray(arr, it);
  }
  return r;
}

static cJSON *merge_stats(worker_t *w) {
  double meetings = 0, attendees = 0;
  cJSON *r = cJSON_CreateObject();
  cJSON_AddTrueToObject(r, "ok");
  cJSON_AddStringToObject(r, "WorkerId", w->opts.worker_id);
  cJSON_AddNumberToObject(r, "UptimeMs", (double)((sfu_loop_now_us() - w->start_us) / 1000));
  cJSON *loops = cJSON_CreateArray();
  for (int i = 0; i < w->opts.loops; i++) {
    cJSON *l = cJSON_DetachItemFromObjectCaseSensitive(w->pend.parts[i], "Loop");
    if (!l) continue;
    cJSON *v = cJSON_GetObjectItemCaseSensitive(l, "Meetings");
    meetings += cJSON_IsNumber(v) ? v->valuedouble : 0;
    v = cJSON_GetObjectItemCaseSensitive(l, "Attendees");
    attendees += cJSON_IsNumber(v) ? v->valuedouble : 0;
    cJSON_AddItemToArray(loops, l);
  }
  cJSON_AddNumberToObject(r, "Meetings", meetings);
  cJSON_AddNumberToObject(r, "Attendees", attendees);
  cJSON_AddItemToObject(r, "Loops", loops);
  cJSON_AddNumberToObject(r, "Requests", (double)w->requests);
  cJSON_AddNumberToObject(r, "EventsPublished", (double)w->events_published);
  cJSON_AddNumberToObject(r, "EventsDropped", (double)w->events_dropped);
  return r;
}

static void on_reply(worker_t *w, sfu_msg_t *m) {
  pending_t *p = &w->pend;
  if (m->req_id == 0 || !p->active || m->req_id != p->id) return; /* internal or stale */
  cJSON *reply = m->reply;
  m->reply = NULL;
  switch (p->op) {
    case SFU_OP_LIST_MEETINGS:
    case SFU_OP_GET_WORKER_STATS:
      if (m->loop >= 0 && m->loop < w->opts.loops && !p->parts[m->loop])
        p->parts[m->loop] = reply;
      else
        cJSON_Delete(reply);
      if (--p->waiting == 0)
        finish(w, p->op == SFU_OP_LIST_MEETINGS ? merge_list(w) : merge_stats(w));
      return;
    case SFU_OP_DELETE_MEETING:
      if (p->phase == 1) {
        cJSON_Delete(reply); /* a replica already gone is fine */
        if (--p->waiting == 0) {
          p->phase = 2;
          sfu_cmd_t c = p->saved;
          memset(&p->saved, 0, sizeof p->saved);
          route(w, p->loop, &c);
        }
        return;
      }
      break;
    case SFU_OP_CREATE_MEETING:
      /* The loop refused: forget the reservation made at dispatch. */
      if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok")))
        sfu_dir_remove(&w->dir, p->meeting_id);
      break;
    default:
      break;
  }
  finish(w, reply);
}

/* m is an EVENT message (m->reply: IndexChanged's index, built on the loop). */
static void publish(worker_t *w, const sfu_msg_t *m) {
  const sfu_event_t *ev = &m->ev;
  uint64_t ts_ms = (uint64_t)((int64_t)ev->timestamp_us + w->wall_offset_us) / 1000;
  char *s = sfu_control_event_json_with_index(ev, m->reply, w->opts.worker_id, ts_ms);
  if (!s) {
    w->events_dropped++;
    return;
  }
  /* PUB never waits for subscribers: a slow one loses events rather than stalling the
   * control thread. Counted in GetWorkerStats (EventsDropped). */
  if (nn_send(w->pub, s, strlen(s), NN_DONTWAIT) < 0)
    w->events_dropped++;
  else
    w->events_published++;
  SFU_DEBUG("events", "%s", s);
  free(s);
}

/* A primary that ended by itself (idle, max duration) takes its replicas with it. */
static void cascade_replicas(worker_t *w, const char *primary_id) {
  char ids[SFU_MAX_REPLICAS * 2][SFU_UUID_LEN + 1];
  size_t n = sfu_dir_replicas(&w->dir, primary_id, ids, SFU_MAX_REPLICAS * 2);
  if (n > SFU_MAX_REPLICAS * 2) n = SFU_MAX_REPLICAS * 2;
  for (size_t i = 0; i < n; i++) {
    const sfu_dir_meeting_t *r = sfu_dir_find(&w->dir, ids[i]);
    sfu_cmd_t c = {.op = SFU_OP_DELETE_MEETING, .reason = SFU_END_PRIMARY_ENDED};
    memcpy(c.meeting_id, ids[i], sizeof c.meeting_id);
    if (r) send_cmd(w, r->loop, &c, 0);
  }
}

/* Publishes up to `budget` waiting events, oldest first; returns what is left of it. */
static int publish_waiting(worker_t *w, int budget) {
  while (budget > 0 && !sfu_list_empty(&w->unpublished)) {
    sfu_msg_t *m = sfu_container_of(w->unpublished.next, sfu_msg_t, link);
    sfu_list_remove(&m->link);
    publish(w, m);
    sfu_msg_free(m);
    budget--;
  }
  return budget;
}

static void on_publisher(uv_idle_t *h) {
  worker_t *w = h->data;
  publish_waiting(w, PUBLISH_BATCH);
  if (sfu_list_empty(&w->unpublished)) uv_idle_stop(h);
}

/* The directory takes the event at once, so that the next request (and the reply that
 * follows this event in the inbox) sees it; the publishing may wait for a later turn
 * when a burst exceeds this turn's budget. PUB order stays the loops' order. */
static void on_event(worker_t *w, sfu_msg_t *m, int *budget) {
  const sfu_event_t *ev = &m->ev;
  if (ev->type == SFU_EV_MEETING_ENDED && !ev->primary_meeting_id[0])
    cascade_replicas(w, ev->meeting_id);
  sfu_dir_on_event(&w->dir, ev);
  *budget = publish_waiting(w, *budget);
  if (*budget > 0 && sfu_list_empty(&w->unpublished)) {
    publish(w, m);
    (*budget)--;
    sfu_msg_free(m);
    return;
  }
  sfu_list_insert_tail(&w->unpublished, &m->link);
  if (!w->stopping) uv_idle_start(&w->publisher, on_publisher);
}

static void on_inbox(uv_async_t *a) {
  worker_t *w = a->data;
  sfu_list_t msgs, *it, *tmp;
  int budget = PUBLISH_BATCH;
  sfu_list_init(&msgs);
  sfu_mq_take(&w->inbox, &msgs);
  sfu_list_foreach_safe(it, tmp, &msgs) {
    sfu_msg_t *m = sfu_container_of(it, sfu_msg_t, link);
    sfu_list_remove(it);
    if (m->type == SFU_MSG_EVENT) {
      on_event(w, m, &budget);
      continue;
    }
    if (m->type == SFU_MSG_REPLY) on_reply(w, m);
    sfu_msg_free(m);
  }
  if (w->need_drain) drain_rep(w);
}

/* ---- start and stop ---- */

static void stop(worker_t *w, const char *why) {
  if (w->stopping) return;
  w->stopping = 1;
  SFU_INFO("worker", "%s: stopping", why);
  if (w->handles_init) {
    uv_close((uv_handle_t *)&w->rep_poll, NULL);
    uv_close((uv_handle_t *)&w->sigint, NULL);
    uv_close((uv_handle_t *)&w->sigterm, NULL);
    uv_close((uv_handle_t *)&w->publisher, NULL);
  }
  /* Joining blocks this thread, but only for as long as the loops take to close their
   * handles; nothing else is waiting on the control thread at this point. */
  for (int i = 0; i < w->n_started; i++) sfu_loop_join(&w->loops[i]);
  uv_close((uv_handle_t *)&w->inbox.async, NULL);
}

static void on_signal(uv_signal_t *s, int signum) {
  stop(s->data, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

static int open_sockets(worker_t *w) {
  int max = RCV_MAX_BYTES;
  w->rep = nn_socket(AF_SP, NN_REP);
  w->pub = nn_socket(AF_SP, NN_PUB);
  if (w->rep < 0 || w->pub < 0) {
    SFU_ERROR("worker", "nanomsg socket: %s", nn_strerror(nn_errno()));
    return SFU_EIO;
  }
  if (nn_setsockopt(w->rep, NN_SOL_SOCKET, NN_RCVMAXSIZE, &max, sizeof max) < 0) {
    SFU_ERROR("worker", "control socket receive limit: %s", nn_strerror(nn_errno()));
    return SFU_EIO;
  }
  if (nn_bind(w->rep, w->opts.control_url) < 0) {
    SFU_ERROR("worker", "--control %s: %s", w->opts.control_url, nn_strerror(nn_errno()));
    return SFU_EIO;
  }
  if (nn_bind(w->pub, w->opts.events_url) < 0) {
    SFU_ERROR("worker", "--events %s: %s", w->opts.events_url, nn_strerror(nn_errno()));
    return SFU_EIO;
  }
  return 0;
}

static int start(worker_t *w) {
  int fd;
  size_t sz = sizeof fd;
  if (nn_getsockopt(w->rep, NN_SOL_SOCKET, NN_RCVFD, &fd, &sz) < 0) return SFU_EIO;
  if (uv_poll_init(&w->loop, &w->rep_poll, fd) != 0) return SFU_EIO;
  w->rep_poll.data = w;
  uv_idle_init(&w->loop, &w->publisher);
  w->publisher.data = w;
  w->handles_init = 1;
  uv_signal_init(&w->loop, &w->sigint);
  uv_signal_init(&w->loop, &w->sigterm);
  w->sigint.data = w->sigterm.data = w;
  uv_signal_start(&w->sigint, on_signal, SIGINT);
  uv_signal_start(&w->sigterm, on_signal, SIGTERM);

  sfu_session_config_t cfg = {w->opts.idle_timeout_us, w->opts.max_duration_us};
  uint64_t nofile = sfu_fd_limit_raise();
  unsigned tcp_budget = sfu_fd_tcp_budget(nofile, w->opts.loops);
  if (tcp_budget < 64)
    SFU_WARN("worker", "RLIMIT_NOFILE %llu leaves %u ICE-TCP connections per loop (raise LimitNOFILE)",
             (unsigned long long)nofile, tcp_budget);
  else
    SFU_INFO("worker", "RLIMIT_NOFILE %llu: up to %u ICE-TCP connections per loop",
             (unsigned long long)nofile, tcp_budget);
  for (int i = 0; i < w->opts.loops; i++) {
    w->loops[i].cert = w->cert;
    w->loops[i].tcp_max_conns = tcp_budget;
    w->loops[i].pacer_burst_us = w->opts.pacer_burst_us;
    int rc = sfu_loop_start(&w->loops[i], i, w->opts.announce_ip, w->opts.udp_port + i,
                            w->opts.tcp_port + i, &cfg, &w->inbox);
    if (rc) {
      SFU_ERROR("worker", "loop %d: %s", i, sfu_strerror(rc));
      return rc;
    }
    w->n_started++;
  }
  struct timeval tv;
  gettimeofday(&tv, NULL);
  w->start_us = sfu_loop_now_us();
  w->wall_offset_us = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec - (int64_t)w->start_us;
  uv_poll_start(&w->rep_poll, UV_READABLE, on_rep);
  return 0;
}

int sfu_worker_run(const sfu_worker_opts_t *opts) {
  worker_t *w = calloc(1, sizeof *w);
  if (!w) return SFU_ENOMEM;
  w->opts = *opts;
  w->rep = w->pub = -1;
  sfu_list_init(&w->unpublished);
  int rc = SFU_ENOMEM;
  w->loops = calloc((size_t)opts->loops, sizeof *w->loops);
  w->pend.parts = calloc((size_t)opts->loops, sizeof *w->pend.parts);
  if (!w->loops || !w->pend.parts || uv_loop_init(&w->loop) != 0) goto out_free;
  if (sfu_dir_init(&w->dir, opts->loops) != 0) goto out_loop;
  w->dir.max_meetings = opts->max_meetings;
  if (sfu_mq_init(&w->inbox, &w->loop, on_inbox, w) != 0) goto out_dir;
  rc = open_sockets(w);
  /* Process-global crypto state, main thread, before any loop exists (dtls.h, srtp.h). */
  if (rc == 0) {
    sfu_openssl_init();
    rc = sfu_srtp_global_init();
    if (rc == 0) rc = sfu_sctp_global_init(); /* usrsctp: no threads, loops drive timers */
    if (rc == 0) rc = sfu_dtls_cert_new(&w->cert);
    if (rc) SFU_ERROR("worker", "DTLS/SRTP set-up: %s", sfu_strerror(rc));
  }
  if (rc == 0) rc = start(w);
  if (rc == 0) {
    SFU_INFO("worker", "worker %s: %d loops, control %s, events %s, media %s udp %d.. tcp %d..",
             opts->worker_id, opts->loops, opts->control_url, opts->events_url, opts->announce_ip,
             opts->udp_port, opts->tcp_port);
  } else {
    stop(w, "start-up failed");
  }
  uv_run(&w->loop, UV_RUN_DEFAULT);
  sfu_mq_destroy(&w->inbox);
  /* Stopping: events not yet published are dropped, like those of the meetings still
   * open (docs/operations.md, Signals). */
  sfu_list_t *it, *tmp;
  sfu_list_foreach_safe(it, tmp, &w->unpublished) {
    sfu_list_remove(it);
    sfu_msg_free(sfu_container_of(it, sfu_msg_t, link));
  }
  SFU_INFO("worker", "stopped: %llu requests, %llu events published, %llu dropped",
           (unsigned long long)w->requests, (unsigned long long)w->events_published,
           (unsigned long long)w->events_dropped);
out_dir:
  sfu_dir_free(&w->dir);
out_loop:
  if (uv_loop_close(&w->loop) != 0) SFU_WARN("worker", "control loop: handles left open");
out_free:
  if (w->rep >= 0) nn_close(w->rep);
  if (w->pub >= 0) nn_close(w->pub);
  if (w->cert) sfu_dtls_cert_free(w->cert); /* every loop is joined: no transport left */
  sfu_srtp_global_shutdown();
  sfu_sctp_global_shutdown(); /* every loop (and its SCTP group) is gone by now */
  pending_clear(w);
  free(w->pend.parts);
  free(w->loops);
  free(w);
  return rc;
}
