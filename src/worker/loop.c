/* Media loop thread: runs commands against its session, forwards the session's events to
 * the control thread, and keeps one timer armed for the session's next deadline. */
#include "worker/loop.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "sfu/err.h"
#include "sfu/log.h"
#include "sfu/rtc.h"
#include "worker/loop_media.h"

uint64_t sfu_loop_now_us(void) { return uv_hrtime() / 1000; }

void sfu_loop_emit_event(sfu_loop_t *l, const sfu_event_t *ev) {
  sfu_msg_t *m = sfu_msg_new(SFU_MSG_EVENT);
  if (!m) {
    SFU_ERROR("loop", "loop %d: out of memory, event %s dropped", l->index,
              sfu_event_type_name(ev->type));
    return;
  }
  m->loop = l->index;
  m->ev = *ev;
  /* ev->router is valid only during this call (session.h), and only this thread may
   * read it: IndexChanged's index becomes JSON here, and the copy keeps no pointer. */
  m->ev.router = NULL;
  if (ev->type == SFU_EV_INDEX_CHANGED) {
    m->reply = sfu_control_index_json(ev->router);
    if (!m->reply) {
      SFU_ERROR("loop", "loop %d: out of memory, event %s dropped", l->index,
                sfu_event_type_name(ev->type));
      sfu_msg_free(m);
      return;
    }
  }
  sfu_mq_push(l->control_inbox, m);
}

/* Session event -> control thread. Called synchronously inside session calls. */
static void on_session_event(void *user, const sfu_event_t *ev) { sfu_loop_emit_event(user, ev); }

/* The session frees a meeting (after its attendees): its video router goes with it. */
static void on_meeting_removed(void *user, sfu_meeting_t *m) {
  sfu_loop_t *l = user;
  if (l->media) sfu_rtc_meeting_removed(l->media->rtc, m);
}

/* The session frees an attendee: its transport goes with it (rtc.h: no Left/Dropped). */
static void on_attendee_removed(void *user, sfu_attendee_t *a) {
  sfu_loop_t *l = user;
  if (l->media) sfu_rtc_attendee_removed(l->media->rtc, a);
}

static void on_timer(uv_timer_t *t);

/* Re-arms the timer for the earliest of the session's and the transports' deadlines (or
 * stops it when there is none). Both are O(1) to read (the session caches its minimum,
 * session.h; the transports sit in a heap, rtc.h). A deadline already passed fires after
 * min_ms.
 *
 * The timer is due when the loop's millisecond clock reaches ceil(d / 1000). libuv's
 * clock is uv_hrtime's (CLOCK_MONOTONIC, or its coarse variant, never ahead of it)
 * truncated to the millisecond, so the timer never fires before d. It used to be armed
 * for "d - now rounded up" from a fresh clock read, which a truncated loop clock could
 * fire up to 1 ms early: the callback found nothing due, re-armed for 1 ms, and the
 * loop woke twice (one timer callback in eight did nothing, issue 6's profile). Reading
 * uv_now (the time this turn started) instead of the clock costs nothing, and an
 * unchanged due time leaves the timer as it is (so frequent re-arms cannot push a due
 * timer back either). */
static void rearm(sfu_loop_t *l, uint64_t min_ms) {
  uint64_t d = sfu_session_next_deadline(l->session);
  if (l->media) {
    uint64_t m = sfu_rtc_next_deadline(l->media->rtc);
    l->media->armed_us = m;
    if (m < d) d = m;
  }
  if (d == UINT64_MAX) {
    uv_timer_stop(&l->timer);
    return;
  }
  uint64_t due_ms = d / 1000 + (d % 1000 != 0);
  if (due_ms == l->timer_due_ms && uv_is_active((uv_handle_t *)&l->timer)) return;
  l->timer_due_ms = due_ms;
  uint64_t now_ms = uv_now(&l->loop);
  uv_timer_start(&l->timer, on_timer, due_ms > now_ms ? due_ms - now_ms : min_ms, 0);
}

void sfu_loop_rearm(sfu_loop_t *l) { rearm(l, 0); }

static void on_timer(uv_timer_t *t) {
  sfu_loop_t *l = t->data;
  uint64_t now = sfu_loop_now_us();
  sfu_session_handle_timeout(l->session, now);
  if (l->media) sfu_rtc_handle_timeout(l->media->rtc, now);
  /* Still due after a timeout means the session left meetings for later (it ends them in
   * slices, session.h): 1 ms gives the inbox and the sockets a turn first. A 0 ms timer
   * started in a timer callback would run again in the same pass, before any I/O
   * (libuv 1.44; later versions collect the due timers first). Re-arms from anywhere else keep 0 ms, so
   * that frequent commands or packets cannot keep pushing a due timer back. */
  rearm(l, 1);
}

static void loop_stop(sfu_loop_t *l) {
  if (uv_is_closing((uv_handle_t *)&l->timer)) return;
  sfu_loop_media_close(l->media);
  uv_close((uv_handle_t *)&l->timer, NULL);
  uv_close((uv_handle_t *)&l->inbox.async, NULL);
}

static void handle_cmd(sfu_loop_t *l, sfu_msg_t *m) {
  cJSON *reply = sfu_control_exec(l->session, &m->cmd, &l->ctx, sfu_loop_now_us());
  if (!reply) reply = sfu_control_error(SFU_ENOMEM, "out of memory");
  /* The sockets belong to this shell, not to the sans-IO control layer: added here. */
  if (m->cmd.op == SFU_OP_GET_WORKER_STATS && l->media)
    sfu_loop_media_add_socket_stats(l->media, cJSON_GetObjectItemCaseSensitive(reply, "Loop"));
  /* The same message travels back as the reply: no allocation for the answer. */
  sfu_cmd_free(&m->cmd);
  m->type = SFU_MSG_REPLY;
  m->loop = l->index;
  m->reply = reply;
  sfu_mq_push(l->control_inbox, m);
}

static void on_inbox(uv_async_t *a) {
  sfu_loop_t *l = a->data;
  sfu_list_t msgs, *it, *tmp;
  sfu_list_init(&msgs);
  sfu_mq_take(&l->inbox, &msgs);
  int stop = 0;
  sfu_list_foreach_safe(it, tmp, &msgs) {
    sfu_msg_t *m = sfu_container_of(it, sfu_msg_t, link);
    sfu_list_remove(it);
    if (stop || m->type != SFU_MSG_CMD) {
      stop |= m->type == SFU_MSG_STOP;
      sfu_msg_free(m);
      continue;
    }
    handle_cmd(l, m);
  }
  if (stop)
    loop_stop(l);
  else
    sfu_loop_rearm(l);
}

static void loop_main(void *arg) {
  sfu_loop_t *l = arg;
  /* "sfu-loop-N" in top -H, perf and /proc/PID/task/TID/comm (bench/bench_loop.c finds
   * the loop thread by it). At most 15 characters. */
  char name[16];
  snprintf(name, sizeof name, "sfu-loop-%d", l->index);
  pthread_setname_np(pthread_self(), name);
  SFU_DEBUG("loop", "loop %d running (udp %d, tcp %d)", l->index, l->udp_port, l->tcp_port);
  uv_run(&l->loop, UV_RUN_DEFAULT);
  /* Everything is closed: the session goes last so that issue 3's transports (freed
   * through on_attendee_removed_cb) could still reach their loop's handles. */
  sfu_session_free(l->session);
  l->session = NULL;
  SFU_DEBUG("loop", "loop %d stopped", l->index);
}

int sfu_loop_start(sfu_loop_t *l, int index, const char *announce_ip, int udp_port, int tcp_port,
                   const sfu_session_config_t *cfg, sfu_mq_t *control_inbox) {
  l->index = index;
  l->udp_port = udp_port;
  l->tcp_port = tcp_port;
  l->ctx.announce_ip = announce_ip;
  l->ctx.loop_index = index;
  l->ctx.udp_port = udp_port;
  l->ctx.tcp_port = tcp_port;
  l->control_inbox = control_inbox;
  sfu_session_cbs_t cbs = {on_session_event, on_attendee_removed, l, on_meeting_removed};
  l->session = sfu_session_new(cfg, &cbs);
  if (!l->session) return SFU_ENOMEM;
  if (uv_loop_init(&l->loop) != 0) goto fail_session;
  if (sfu_mq_init(&l->inbox, &l->loop, on_inbox, l) != 0) goto fail_loop;
  uv_timer_init(&l->loop, &l->timer);
  l->timer.data = l;
  /* Bind to every address of the announced family; clients are told announce_ip. */
  int rc = sfu_loop_media_open(&l->media, l, l->cert, strchr(announce_ip, ':') ? "::" : "0.0.0.0");
  if (rc) {
    loop_stop(l);
    uv_run(&l->loop, UV_RUN_DEFAULT);
    sfu_mq_destroy(&l->inbox);
    sfu_loop_media_free(l->media);
    l->media = NULL;
    uv_loop_close(&l->loop);
    sfu_session_free(l->session);
    l->session = NULL;
    return rc;
  }
  l->ctx.rtc = l->media->rtc;
  if (uv_thread_create(&l->thread, loop_main, l) != 0) {
    loop_stop(l);
    uv_run(&l->loop, UV_RUN_DEFAULT);
    sfu_mq_destroy(&l->inbox);
    sfu_loop_media_free(l->media);
    l->media = NULL;
    goto fail_loop;
  }
  l->started = 1;
  return 0;
fail_loop:
  uv_loop_close(&l->loop);
fail_session:
  sfu_session_free(l->session);
  l->session = NULL;
  return SFU_EINTERNAL;
}

void sfu_loop_send(sfu_loop_t *l, sfu_msg_t *m) {
  m->loop = l->index;
  sfu_mq_push(&l->inbox, m);
}

void sfu_loop_join(sfu_loop_t *l) {
  if (!l->started) return;
  sfu_msg_t *m = sfu_msg_new(SFU_MSG_STOP);
  /* Without that message there is no clean way to stop the thread and the join below
   * would hang: abort loudly rather than hang quietly. */
  if (!m) abort();
  sfu_loop_send(l, m);
  uv_thread_join(&l->thread);
  sfu_mq_destroy(&l->inbox);
  if (uv_loop_close(&l->loop) != 0) SFU_WARN("loop", "loop %d: handles left open", l->index);
  sfu_loop_media_free(l->media);
  l->media = NULL;
  l->started = 0;
}
