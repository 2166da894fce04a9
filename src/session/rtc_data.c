/* The meetings' data-message relays on this loop (issue 10, data_relay.h), wired to the
 * attendees' transports. docs/data-messages.md has the wire format and the rules.
 *
 *   - One relay per meeting, hung on meeting->data, made on first need (a data channel
 *     opens, a message arrives, SendDataMessage) and freed with the meeting. It holds the
 *     rate limit, the cache and the order, so it must outlive every connection.
 *   - One peer per attendee, hung on attendee->data, made with the relay's first need of
 *     it and freed with the attendee (not with its transport): its "delivered up to" mark
 *     is what makes a reconnect replay only what it missed.
 *   - The peer is open while the client's first data channel is open on its current
 *     transport (on_data_channel_cb); x->data points at it then. Everything the worker
 *     sends on that channel goes through the relay's per-receiver queue: relayed
 *     messages and sfu:audio alike (rtc_data_send_worker, called by rtc_mixer.c).
 *   - In: a whole message from any channel of the client (transport on_data_message_cb,
 *     after usrsctp returned, so sends are allowed). Parsed and checked
 *     (data_envelope.h), then published; a refusal goes back on the channel it came in on,
 *     sent directly (best effort: one its association refuses is counted, not queued).
 *   - A receiver stuck past the limit is dropped like a dead transport:
 *     sfu_transport_drop (AttendeeDropped), the record reaped after the timeout.
 *   - Timers ride the loop's one timer: r->data_deadline is part of sfu_rtc_next_deadline.
 * Loop thread only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session/rtc_internal.h"
#include "sfu/data_bucket.h"
#include "sfu/data_envelope.h"
#include "sfu/data_relay.h"
#include "sfu/err.h"
#include "sfu/log.h"
#include "sfu/sctp.h"
#include "sfu/transport.h"

typedef struct rtc_data {
  sfu_list_t link; /* rtc->datas */
  sfu_rtc_t *rtc;
  sfu_meeting_t *m;
  sfu_data_relay_t *relay;
} rtc_data_t;

static void touch(sfu_rtc_t *r, rtc_data_t *rd) {
  uint64_t d = sfu_data_relay_next_deadline(rd->relay);
  if (d < r->data_deadline) r->data_deadline = d;
}

/* ---- relay callbacks ---- */

static int relay_send(void *user, void *peer_user, const uint8_t *buf, size_t len) {
  rtc_data_t *rd = user;
  rtc_rec_t *x = peer_user;
  /* On its first channel (stream -1). SFU_EAGAIN (usrsctp's send buffer full) is
   * backpressure: the relay queues and on_data_writable_cb drains; an envelope over the
   * client's a=max-message-size is SFU_ETOOBIG: dropped for it. */
  int rc = sfu_transport_send_data(x->tp, rd->rtc->last_now_us, -1, SFU_SCTP_PPID_STRING, buf, len);
  /* Relayed messages and sfu:audio share the viewer's downlink with its video: off its
   * video budget (issue 8, sfu_router_peer_sent_other). */
  if (rc == 0 && x->peer) sfu_router_peer_sent_other(x->peer, rd->rtc->last_now_us, len);
  return rc;
}

static void relay_stuck(void *user, sfu_data_peer_t *p, void *peer_user) {
  rtc_data_t *rd = user;
  rtc_rec_t *x = peer_user;
  SFU_WARN("data", "meeting %s: attendee %s took no data message for %llu s: dropped", rd->m->id,
           x->ident.attendee_id, (unsigned long long)(SFU_DATA_STUCK_US / 1000000u));
  /* Departs at once (tp_departed closes the peer: allowed from this callback); the
   * record is reaped at the end of the rtc's timeout. */
  sfu_transport_drop(x->tp, rd->rtc->last_now_us, SFU_ETIMEDOUT);
}

/* A queued sfu:audio delta that never went: that listener needs a complete document
 * again (rtc_mixer.c's side task sends one to listeners not primed). */
static void relay_dropped(void *user, void *peer_user, const sfu_data_msg_t *m) {
  rtc_rec_t *x = peer_user;
  if (m->kind == SFU_DATA_KIND_WORKER) x->mix.primed = 0;
}

/* ---- relays and peers ---- */

static rtc_data_t *meeting_data(sfu_rtc_t *r, sfu_meeting_t *m) {
  if (m->data) return m->data;
  rtc_data_t *rd = calloc(1, sizeof *rd);
  if (!rd) return NULL;
  sfu_data_relay_cbs_t cbs = {relay_send, relay_stuck, relay_dropped, rd};
  rd->relay = sfu_data_relay_new(&cbs, NULL);
  if (!rd->relay) {
    free(rd);
    return NULL;
  }
  rd->rtc = r;
  rd->m = m;
  sfu_list_insert_tail(&r->datas, &rd->link);
  m->data = rd;
  return rd;
}

static sfu_data_peer_t *attendee_peer(rtc_data_t *rd, sfu_attendee_t *a) {
  if (!a->data) a->data = sfu_data_relay_peer_new(rd->relay);
  return a->data;
}

void rtc_data_on_channel(void *user, sfu_transport_t *t, int stream) {
  rtc_rec_t *x = user;
  sfu_rtc_t *r = x->rtc;
  if (stream < 0) {
    rtc_data_gone(r, x);
    return;
  }
  if (!x->att || x->data.peer) return;
  rtc_data_t *rd = meeting_data(r, x->att->meeting);
  sfu_data_peer_t *p = rd ? attendee_peer(rd, x->att) : NULL;
  if (!p) {
    SFU_WARN("data", "attendee %s: no memory for its data relay", x->ident.attendee_id);
    return;
  }
  /* A new device for the same attendee takes the peer over: the old transport departed
   * first (rtc.c attach), which closed it. */
  x->data.rd = rd;
  x->data.peer = p;
  sfu_data_relay_peer_open(rd->relay, p, x, r->last_now_us); /* replays what it missed */
  touch(r, rd);
}

/* The association has room again (sctp.h low-water): drain x's queue now rather than
 * at the next retry tick. */
void rtc_data_on_writable(void *user, sfu_transport_t *t, size_t buffered) {
  rtc_rec_t *x = user;
  if (!x->data.peer) return;
  sfu_data_relay_peer_writable(x->data.rd->relay, x->data.peer, x->rtc->last_now_us);
  touch(x->rtc, x->data.rd);
}

void rtc_data_gone(sfu_rtc_t *r, rtc_rec_t *x) {
  if (!x->data.peer) return;
  sfu_data_relay_peer_close(x->data.rd->relay, x->data.peer);
  x->data.rd = NULL;
  x->data.peer = NULL;
}

void rtc_data_attendee_removed(sfu_rtc_t *r, sfu_attendee_t *a) {
  if (!a->data) return;
  rtc_data_t *rd = a->meeting->data;
  if (rd) sfu_data_relay_peer_free(rd->relay, a->data);
  a->data = NULL;
}

static void data_free(sfu_rtc_t *r, rtc_data_t *rd) {
  sfu_list_remove(&rd->link);
  /* Peers of attendees still in the meeting go with the relay. */
  for (sfu_attendee_t *a = sfu_meeting_first_attendee(rd->m); a; a = sfu_meeting_next_attendee(rd->m, a))
    a->data = NULL;
  /* No live record points here any more: a meeting goes after its attendees, whose
   * transports closed (rtc_data_gone), and the rtc frees its records before this. */
  rd->m->data = NULL;
  sfu_data_relay_free(rd->relay);
  free(rd);
}

void rtc_data_meeting_removed(sfu_rtc_t *r, sfu_meeting_t *m) {
  if (m->data) data_free(r, m->data);
}

void rtc_data_free_all(sfu_rtc_t *r) {
  while (!sfu_list_empty(&r->datas)) data_free(r, sfu_container_of(r->datas.next, rtc_data_t, link));
}

void rtc_data_timeout(sfu_rtc_t *r, uint64_t now_us) {
  /* O(meetings with a relay): runs only when one of them is due (a backlogged receiver
   * every SFU_DATA_RETRY_US, a cache expiry). */
  uint64_t d = UINT64_MAX;
  sfu_list_t *it, *tmp;
  sfu_list_foreach_safe(it, tmp, &r->datas) {
    rtc_data_t *rd = sfu_container_of(it, rtc_data_t, link);
    if (sfu_data_relay_next_deadline(rd->relay) <= now_us) sfu_data_relay_handle_timeout(rd->relay, now_us);
    uint64_t n = sfu_data_relay_next_deadline(rd->relay);
    if (n < d) d = n;
  }
  r->data_deadline = d;
}

/* ---- in ---- */

static void refuse(rtc_rec_t *x, sfu_data_peer_t *p, uint16_t stream, sfu_data_code_t code,
                   const char *why, const char *topic) {
  char buf[SFU_DATA_REFUSAL_MAX];
  size_t n = sfu_data_refusal_write(buf, sizeof buf, code, why, topic);
  if (!n || sfu_transport_send_data(x->tp, x->rtc->last_now_us, stream, SFU_SCTP_PPID_STRING,
                                    (const uint8_t *)buf, n)) {
    if (p) sfu_data_peer_count_refusal_lost(p);
  }
}

void rtc_data_on_message(void *user, sfu_transport_t *t, uint16_t stream, uint32_t ppid,
                         const uint8_t *buf, size_t len) {
  rtc_rec_t *x = user;
  sfu_rtc_t *r = x->rtc;
  uint64_t now_us = r->last_now_us;
  if (!x->att) { /* detached (deleted, replaced): not in the meeting any more */
    refuse(x, NULL, stream, SFU_DATA_BAD_REQUEST, "sender: not joined to the meeting", "");
    return;
  }
  rtc_data_t *rd = meeting_data(r, x->att->meeting);
  sfu_data_peer_t *p = rd ? attendee_peer(rd, x->att) : NULL;
  if (!p) return; /* out of memory: dropped (DataMessagesIn counted it) */
  /* ~2.4 KB of fixed buffers: on the stack, nothing to free. */
  sfu_data_in_t in;
  char why[160];
  sfu_data_code_t code;
  if (ppid == SFU_SCTP_PPID_BINARY || ppid == SFU_SCTP_PPID_BINARY_EMPTY) {
    /* docs/data-messages.md "Binary": the envelope is text; one form, one validator. */
    in.echo_topic[0] = 0;
    snprintf(why, sizeof why, "message: binary (send the JSON message as text)");
    code = SFU_DATA_BAD_REQUEST;
  } else {
    code = sfu_data_parse(buf, ppid == SFU_SCTP_PPID_STRING ? len : 0, &in, why, sizeof why);
  }
  if (code) {
    sfu_data_relay_count_refused(rd->relay, p, code);
    refuse(x, p, stream, code, why, in.echo_topic);
    return;
  }
  sfu_data_out_t f = {
      .topic = in.topic,
      .data = in.data,
      .data_len = in.data_len,
      .lifetime_ms = in.lifetime_ms,
      .sender_attendee_id = x->att->id,
      .sender_external_user_id = x->att->external_user_id,
      .timestamp_ms = rtc_wall_ms(r, now_us),
  };
  int rc = sfu_data_relay_publish(rd->relay, p, now_us, &f);
  if (rc == SFU_DATA_THROTTLED)
    refuse(x, p, stream, SFU_DATA_THROTTLED, "meeting: more than 100 messages a second", in.topic);
  else if (rc < 0)
    SFU_WARN("data", "meeting %s: message dropped (%s)", rd->m->id, sfu_strerror(rc));
  touch(r, rd);
}

/* ---- out: the worker's own messages and the control plane's ---- */

int rtc_data_send_worker(sfu_rtc_t *r, rtc_rec_t *x, uint64_t now_us, const char *msg, size_t len,
                         sfu_data_msg_t **shared) {
  if (!x->data.peer) return SFU_ESTATE;
  int rc = sfu_data_relay_send_worker(x->data.rd->relay, x->data.peer, now_us, (const uint8_t *)msg,
                                      len, shared);
  touch(r, x->data.rd);
  return rc;
}

int sfu_rtc_send_data_message(sfu_rtc_t *r, const char *meeting_id, const char *topic,
                              size_t topic_len, const char *data, size_t data_len,
                              int64_t lifetime_ms, uint64_t now_us, int *code, char *err,
                              size_t errlen) {
  r->last_now_us = now_us;
  *code = 0;
  sfu_meeting_t *m = sfu_session_find_meeting(r->session, meeting_id);
  if (!m) {
    snprintf(err, errlen, "MeetingId: no such meeting '%s'", meeting_id);
    return SFU_ENOENT;
  }
  rtc_data_t *rd = meeting_data(r, m);
  if (!rd) {
    snprintf(err, errlen, "meeting: out of memory");
    return SFU_ENOMEM;
  }
  /* The same rules as a client's message (data_envelope.h), the field names as the
   * control API spells them. */
  char why[160];
  sfu_data_code_t c = SFU_DATA_OK;
  if (!sfu_data_utf8_valid((const uint8_t *)topic, topic_len) ||
      !sfu_data_utf8_valid((const uint8_t *)data, data_len)) {
    c = SFU_DATA_BAD_REQUEST;
    snprintf(why, sizeof why, "Topic, Data: invalid UTF-8");
  } else {
    c = sfu_data_validate(topic, topic_len, data, data_len, lifetime_ms, why, sizeof why);
  }
  if (c) {
    sfu_data_relay_count_refused(rd->relay, NULL, c);
    *code = (int)c;
    const char *field = !strncmp(why, "topic and data", 14) ? "Topic, Data"
                        : !strncmp(why, "topic", 5)          ? "Topic"
                        : !strncmp(why, "lifetimeMs", 10)    ? "LifetimeMs"
                                                             : "";
    const char *rest = strchr(why, ':');
    if (field[0] && rest) snprintf(err, errlen, "%s%s", field, rest);
    else snprintf(err, errlen, "%s", why);
    return SFU_EINVAL;
  }
  sfu_data_out_t f = {
      .topic = topic,
      .data = data,
      .data_len = data_len,
      .lifetime_ms = (uint32_t)lifetime_ms,
      .sender_attendee_id = "sfu",
      .sender_external_user_id = "sfu",
      .timestamp_ms = rtc_wall_ms(r, now_us),
  };
  int rc = sfu_data_relay_publish(rd->relay, NULL, now_us, &f);
  touch(r, rd);
  if (rc == SFU_DATA_THROTTLED) {
    *code = SFU_DATA_THROTTLED;
    snprintf(err, errlen, "MeetingId: more than %d data messages a second in this meeting", SFU_DATA_RATE);
    return SFU_ELIMIT;
  }
  if (rc < 0) {
    snprintf(err, errlen, "meeting: %s", sfu_strerror(rc));
    return rc;
  }
  return 0;
}

/* ---- figures ---- */

int sfu_rtc_meeting_data_stats(const sfu_meeting_t *m, sfu_data_relay_stats_t *out) {
  memset(out, 0, sizeof *out);
  const rtc_data_t *rd = m->data;
  if (!rd) return SFU_ENOENT;
  sfu_data_relay_stats(rd->relay, out);
  return 0;
}

int sfu_rtc_attendee_data_stats(const sfu_attendee_t *a, sfu_data_peer_stats_t *out) {
  memset(out, 0, sizeof *out);
  if (!a->data) return SFU_ENOENT;
  sfu_data_peer_stats(a->data, out);
  return 0;
}
