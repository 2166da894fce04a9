/* The WebRTC side of one media loop (see include/sfu/rtc.h). */
#include "sfu/rtc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sfu/dtls.h"
#include "sfu/err.h"
#include "sfu/ids.h"
#include "sfu/list.h"
#include "sfu/log.h"
#include "sfu/sctp.h"
#include "sfu/sdp.h"
#include "session/rtc_internal.h"

#define NOT_IN_HEAP ((size_t)-1)

/* ---- heap of deadlines ---- */

static void heap_set(sfu_rtc_t *r, size_t i, rtc_rec_t *x) {
  r->heap[i] = x;
  x->heap_idx = i;
}

static void heap_up(sfu_rtc_t *r, size_t i) {
  rtc_rec_t *x = r->heap[i];
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (r->heap[p]->deadline <= x->deadline) break;
    heap_set(r, i, r->heap[p]);
    i = p;
  }
  heap_set(r, i, x);
}

static void heap_down(sfu_rtc_t *r, size_t i) {
  rtc_rec_t *x = r->heap[i];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= r->heap_n) break;
    if (c + 1 < r->heap_n && r->heap[c + 1]->deadline < r->heap[c]->deadline) c++;
    if (x->deadline <= r->heap[c]->deadline) break;
    heap_set(r, i, r->heap[c]);
    i = c;
  }
  heap_set(r, i, x);
}

static void heap_remove(sfu_rtc_t *r, rtc_rec_t *x) {
  size_t i = x->heap_idx;
  if (i == NOT_IN_HEAP) return;
  x->heap_idx = NOT_IN_HEAP;
  rtc_rec_t *last = r->heap[--r->heap_n];
  if (last == x) return;
  heap_set(r, i, last);
  heap_up(r, i);
  heap_down(r, last->heap_idx);
}

/* Re-reads a transport's deadline after any call into it. The heap array has room for
 * every live transport (grown at creation), so this never allocates. */
static void touch(sfu_rtc_t *r, rtc_rec_t *x) {
  uint64_t d = sfu_transport_next_deadline(x->tp);
  if (d == x->deadline && (d == UINT64_MAX) == (x->heap_idx == NOT_IN_HEAP)) return;
  x->deadline = d;
  if (d == UINT64_MAX) {
    heap_remove(r, x);
  } else if (x->heap_idx == NOT_IN_HEAP) {
    heap_set(r, r->heap_n++, x);
    heap_up(r, x->heap_idx);
  } else {
    heap_up(r, x->heap_idx);
    heap_down(r, x->heap_idx);
  }
}

/* ---- events ---- */

/* A "#content" attendee's transport reports as content (requirements.md: content share
 * events instead of the attendee ones). */
static sfu_event_type_t content_type(sfu_event_type_t t) {
  switch (t) {
  case SFU_EV_ATTENDEE_JOINED: return SFU_EV_CONTENT_JOINED;
  case SFU_EV_ATTENDEE_LEFT: return SFU_EV_CONTENT_LEFT;
  case SFU_EV_ATTENDEE_DROPPED: return SFU_EV_CONTENT_DROPPED;
  default: return t;
  }
}

void rtc_emit(sfu_rtc_t *r, rtc_rec_t *x, sfu_event_type_t type, uint64_t now_us) {
  if (!r->cbs.on_event_cb) return;
  sfu_event_t ev = x->ident;
  ev.type = x->content ? content_type(type) : type;
  ev.timestamp_us = now_us;
  r->cbs.on_event_cb(r->cbs.user, &ev);
}

static void ident_init(sfu_event_t *ev, const sfu_attendee_t *a) {
  memset(ev, 0, sizeof *ev);
  const sfu_meeting_t *m = a->meeting;
  memcpy(ev->meeting_id, m->id, sizeof ev->meeting_id);
  memcpy(ev->external_meeting_id, m->external_id, sizeof ev->external_meeting_id);
  memcpy(ev->primary_meeting_id, m->primary_id, sizeof ev->primary_meeting_id);
  memcpy(ev->attendee_id, a->id, sizeof ev->attendee_id);
  memcpy(ev->external_user_id, a->external_user_id, sizeof ev->external_user_id);
  ev->caps = a->caps;
}

/* ---- transport callbacks ---- */

static void tp_send(void *user, sfu_transport_t *t, const sfu_addr_t *to, const uint8_t *buf,
                    size_t len) {
  rtc_rec_t *x = user;
  x->rtc->cbs.send_cb(x->rtc->cbs.user, to, buf, len);
}

static void tp_joined(void *user, sfu_transport_t *t) {
  rtc_rec_t *x = user;
  sfu_rtc_t *r = x->rtc;
  rtc_video_joined(r, x);
  rtc_mixer_sync(r, x, r->last_now_us);
  if (!x->att) return;
  sfu_session_set_connected(r->session, x->att, 1, r->last_now_us);
  rtc_emit(r, x, SFU_EV_ATTENDEE_JOINED, r->last_now_us);
}

static void tp_departed(void *user, sfu_transport_t *t, sfu_depart_kind_t kind, int joined,
                        int err) {
  rtc_rec_t *x = user;
  sfu_rtc_t *r = x->rtc;
  sfu_list_remove(&x->link);
  sfu_list_insert_tail(&r->dead, &x->link);
  heap_remove(r, x);
  rtc_video_peer_gone(r, x);
  rtc_mixer_gone(r, x);
  rtc_data_gone(r, x);
  if (!x->att) return;
  if (x->att->transport == x) x->att->transport = NULL;
  if (joined) {
    sfu_session_set_connected(r->session, x->att, 0, r->last_now_us);
    if (!x->silent)
      rtc_emit(r, x, kind == SFU_DEPART_LEFT ? SFU_EV_ATTENDEE_LEFT : SFU_EV_ATTENDEE_DROPPED,
           r->last_now_us);
  }
  x->att = NULL;
}

/* Decrypted media goes to the meeting's video router (rtc_video.c) and, for the
 * attendee's audio PTs with the mixer on, to its meeting's mixer (rtc_mixer.c). */
/* Data-channel messages (counted by the transport, DataMessagesIn) and the client's first
 * channel opening and closing go to the meeting's data relay (rtc_data.c, issue 10). */
static const sfu_transport_cbs_t tp_cbs_template = {
    .send_cb = tp_send,
    .on_joined_cb = tp_joined,
    .on_departed_cb = tp_departed,
    .on_rtp_cb = rtc_video_on_rtp,
    .on_rtcp_cb = rtc_video_on_rtcp,
    .on_data_message_cb = rtc_data_on_message,
    .on_data_writable_cb = rtc_data_on_writable,
    .on_data_channel_cb = rtc_data_on_channel,
};

/* ---- lifetime ---- */

static void add_stats(sfu_transport_stats_t *s, const sfu_transport_stats_t *a) {
  s->packets_in += a->packets_in;
  s->bytes_in += a->bytes_in;
  s->stun_requests += a->stun_requests;
  s->stun_rejected += a->stun_rejected;
  s->stun_addr_taken += a->stun_addr_taken;
  s->stun_errors_out += a->stun_errors_out;
  s->dtls_in += a->dtls_in;
  s->rtp_in += a->rtp_in;
  s->rtcp_in += a->rtcp_in;
  s->decrypted += a->decrypted;
  s->decrypted_bytes += a->decrypted_bytes;
  s->decrypt_failures += a->decrypt_failures;
  s->dtls_failures += a->dtls_failures;
  s->fingerprint_mismatches += a->fingerprint_mismatches;
  s->dropped += a->dropped;
  s->packets_out += a->packets_out;
  s->bytes_out += a->bytes_out;
  s->data_channels += a->data_channels;
  s->data_messages_in += a->data_messages_in;
  s->data_bytes_in += a->data_bytes_in;
  s->data_messages_out += a->data_messages_out;
  s->data_bytes_out += a->data_bytes_out;
  s->data_send_blocked += a->data_send_blocked;
}

static void rec_free(sfu_rtc_t *r, rtc_rec_t *x) {
  rtc_video_peer_gone(r, x);
  rtc_mixer_gone(r, x);
  rtc_data_gone(r, x);
  add_stats(&r->closed.sum, sfu_transport_stats(x->tp));
  heap_remove(r, x);
  sfu_list_remove(&x->link);
  if (x->att && x->att->transport == x) x->att->transport = NULL;
  sfu_transport_free(x->tp);
  free(x);
  r->n_recs--;
}

/* Frees departed transports; only ever called when no transport code is on the stack. */
static void reap(sfu_rtc_t *r) {
  while (!sfu_list_empty(&r->dead)) rec_free(r, sfu_container_of(r->dead.next, rtc_rec_t, link));
}

/* The table's hook (transport_table.h): passed up so the loop can close the connection. */
static void addr_released(void *user, const sfu_addr_t *addr) {
  sfu_rtc_t *r = user;
  if (r->cbs.on_addr_released_cb) r->cbs.on_addr_released_cb(r->cbs.user, addr);
}

sfu_rtc_t *sfu_rtc_new(sfu_session_t *session, const sfu_dtls_cert_t *cert,
                       const sfu_rtc_config_t *cfg, const sfu_rtc_cbs_t *cbs) {
  sfu_rtc_t *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->session = session;
  r->cert = cert;
  r->cfg = *cfg;
  snprintf(r->announce_ip, sizeof r->announce_ip, "%s", cfg->announce_ip ? cfg->announce_ip : "127.0.0.1");
  r->cfg.announce_ip = r->announce_ip;
  r->cbs = *cbs;
  sfu_list_init(&r->live);
  sfu_list_init(&r->dead);
  sfu_list_init(&r->routers);
  r->video_deadline = UINT64_MAX;
  sfu_list_init(&r->mixers);
  r->audio_deadline = UINT64_MAX;
  sfu_list_init(&r->datas);
  r->data_deadline = UINT64_MAX;
  if (sfu_transport_table_init(&r->table)) {
    free(r);
    return NULL;
  }
  sfu_transport_table_set_hook(&r->table, addr_released, r);
  /* NULL when usrsctp was not set up (sfu_sctp_global_init, main thread): the worker
   * then answers m=application but no channel opens. */
  r->sctp = sfu_sctp_group_new();
  return r;
}

void sfu_rtc_free(sfu_rtc_t *r) {
  if (!r) return;
  sfu_transport_table_set_hook(&r->table, NULL, NULL); /* the loop's sockets are gone */
  while (!sfu_list_empty(&r->live)) {
    rtc_rec_t *x = sfu_container_of(r->live.next, rtc_rec_t, link);
    x->att = NULL; /* shutting down: no session calls, no events */
    rec_free(r, x);
  }
  reap(r);
  rtc_video_free_all(r);
  rtc_mixer_free_all(r);
  rtc_data_free_all(r); /* after the records (they close their peers) */
  sfu_sctp_group_free(r->sctp); /* after the transports: they own the associations */
  sfu_transport_table_free(&r->table);
  free(r->heap);
  free(r);
}

static int heap_reserve(sfu_rtc_t *r) {
  if (r->n_recs + 1 <= r->heap_cap) return 0;
  size_t cap = r->heap_cap ? r->heap_cap * 2 : 16;
  rtc_rec_t **h = realloc(r->heap, cap * sizeof *h);
  if (!h) return SFU_ENOMEM;
  r->heap = h;
  r->heap_cap = cap;
  return 0;
}

static rtc_rec_t *rec_new(sfu_rtc_t *r, sfu_attendee_t *a, const sfu_transport_remote_t *rm,
                          uint64_t now_us) {
  if (heap_reserve(r)) return NULL;
  rtc_rec_t *x = calloc(1, sizeof *x);
  if (!x) return NULL;
  x->rtc = r;
  x->att = a;
  x->heap_idx = NOT_IN_HEAP;
  x->deadline = UINT64_MAX;
  ident_init(&x->ident, a);
  x->content = (uint8_t)sfu_attendee_id_is_content(a->id);
  rtc_audio_init(x);
  sfu_random_bytes(&x->sdp_sess_id, sizeof x->sdp_sess_id);
  x->sdp_sess_id &= 0x7fffffffffffffffull; /* RFC 8866 §5.2: fits a 63-bit number */
  sfu_transport_cbs_t cbs = tp_cbs_template;
  cbs.user = x;
  x->tp = sfu_transport_new(&r->table, r->cert, rm, &cbs, x, now_us);
  if (!x->tp) {
    free(x);
    return NULL;
  }
  sfu_list_insert_tail(&r->live, &x->link);
  r->created++;
  r->n_recs++;
  touch(r, x);
  return x;
}

/* ---- Subscribe ---- */

/* plan/n_plan: the video plan (rtc_video.c) of the final answer; NULL/0 for the first
 * pass, which only reads the offer. */
static int build_answer(sfu_rtc_t *r, const sfu_sdp_offer_t *offer, const char *ufrag,
                        const char *pwd, uint64_t sess_id, uint64_t version,
                        const sfu_sdp_plan_t *plan, size_t n_plan, char **text,
                        sfu_sdp_answer_t *neg, char *err, size_t errlen) {
  sfu_sdp_local_t local = {
      .ice_ufrag = ufrag,
      .ice_pwd = pwd,
      .fingerprint = sfu_dtls_cert_fingerprint(r->cert),
      .ip = r->cfg.announce_ip,
      .udp_port = r->cfg.udp_port,
      .tcp_port = r->cfg.tcp_port,
      .session_id = sess_id,
      .session_version = version,
      .plan = plan,
      .n_plan = n_plan,
  };
  char e[200];
  int rc = sfu_sdp_answer(offer, &local, text, neg, e, sizeof e);
  if (rc) {
    snprintf(err, errlen, "SdpOffer: %s", e);
    return rc == SFU_ENOMEM ? rc : SFU_EINVAL;
  }
  return 0;
}

/* The transport-wide-cc extension id of the BUNDLE transport: the first accepted RTP
 * section that negotiated it (Chromium uses one id in every section). 0 if none. */
static uint8_t twcc_ext_id(const sfu_sdp_answer_t *neg) {
  for (size_t i = 0; i < neg->n_media; i++) {
    uint8_t id = neg->media[i].ext.id_of[SFU_EXT_TWCC];
    if (id) return id;
  }
  return 0;
}

/* An accepted application m-section: SCTP over DTLS on our a=sctp-port (build_answer
 * leaves sfu_sdp_local_t.sctp_port 0, i.e. 5000) and the offer's port. */
static void set_sctp(sfu_rtc_t *r, rtc_rec_t *x, const sfu_sdp_answer_t *neg, uint64_t now_us) {
  if (!r->sctp) return;
  for (size_t i = 0; i < neg->n_media; i++) {
    const sfu_sdp_neg_media_t *m = &neg->media[i];
    if (m->kind != SFU_SDP_KIND_APPLICATION) continue;
    sfu_transport_set_sctp(x->tp, r->sctp, SFU_SCTP_DEFAULT_PORT, m->sctp_port, m->max_message_size, now_us);
    return;
  }
}

/* The remote side of the transport as negotiated. Views into neg. */
static void remote_of(const sfu_sdp_answer_t *neg, sfu_transport_remote_t *rm) {
  rm->ice_ufrag = neg->remote_ufrag;
  rm->ice_pwd = neg->remote_pwd;
  rm->fingerprint_alg = rm->fingerprint = NULL;
  rm->fingerprints = &neg->remote_fingerprints; /* the whole set (RFC 8122 §5) */
}

/* Decides what the offer means for attendee a (see rtc.h) and leaves *xout with the
 * transport whose credentials go into the answer. */
static int attach(sfu_rtc_t *r, sfu_attendee_t *a, const sfu_sdp_answer_t *probe,
                  uint64_t now_us, rtc_rec_t **xout, char *err, size_t errlen) {
  sfu_transport_remote_t rm;
  remote_of(probe, &rm);
  rtc_rec_t *old = a->transport;
  if (old && sfu_transport_same_fingerprint(old->tp, rm.fingerprints)) {
    /* Same device: a renegotiation on the same DTLS association; new ICE credentials
     * mean an ICE restart (RFC 8445 §9), handled by the transport. */
    int restarted = 0;
    int rc = sfu_transport_renegotiate(old->tp, &rm, now_us, &restarted);
    if (rc) {
      snprintf(err, errlen, "SdpOffer: bad ICE credentials (%s)", sfu_strerror(rc));
      return SFU_EINVAL;
    }
    touch(r, old);
    *xout = old;
    return 0;
  }
  if (old) {
    /* A new DTLS fingerprint with this attendee's join token: another device takes over.
     * The old transport ends now (close_notify; AttendeeLeft if it had joined). */
    SFU_INFO("rtc", "attendee %s: new device, replacing its transport", a->id);
    sfu_transport_close(old->tp, now_us);
  }
  rtc_rec_t *x = rec_new(r, a, &rm, now_us);
  if (!x) {
    snprintf(err, errlen, "SdpOffer: could not create the transport");
    return SFU_EINVAL;
  }
  a->transport = x;
  rtc_emit(r, x, SFU_EV_ATTENDEE_AUTHORIZED, now_us);
  *xout = x;
  return 0;
}

int sfu_rtc_subscribe(sfu_rtc_t *r, const char *meeting_id, const char *attendee_id,
                      const char *token, size_t token_len, const char *sdp, size_t sdp_len,
                      const sfu_rtc_sub_req_t *req, uint64_t now_us, char **answer,
                      sfu_rtc_sub_result_t *res, char *err, size_t errlen) {
  *answer = NULL;
  if (res) memset(res, 0, sizeof *res);
  r->last_now_us = now_us;
  sfu_attendee_t *a = NULL;
  int rc = sfu_session_check_token(r->session, meeting_id, attendee_id, token, token_len, &a, err, errlen);
  if (rc) return rc;
  sfu_sdp_offer_t *offer = NULL;
  char e[200];
  rc = sfu_sdp_parse(sdp, sdp_len, &offer, e, sizeof e);
  if (rc) {
    snprintf(err, errlen, "SdpOffer: %s", e);
    return rc == SFU_ENOMEM ? rc : SFU_EINVAL;
  }
  /* First pass with placeholder credentials: validates the offer and extracts its
   * transport (ufrag/pwd/fingerprint) before anything changes. Costs one extra answer
   * build per Subscribe (tens of microseconds; control path). */
  sfu_sdp_answer_t neg;
  char *text = NULL;
  rtc_video_plan_t *vp = NULL;
  rc = build_answer(r, offer, "probe", "probeprobeprobeprobeprobe", 1, 1, NULL, 0, &text, &neg,
                    err, errlen);
  if (rc) goto out;
  free(text);
  text = NULL;
  if (req && req->n_receive > SFU_ROUTER_MAX_VIEWS) {
    snprintf(err, errlen, "ReceiveStreamIds: at most %d streams", SFU_ROUTER_MAX_VIEWS);
    rc = SFU_EINVAL;
    sfu_sdp_answer_clear(&neg);
    goto out;
  }
  if (req) {
    /* Unknown streams are refused before anything changes (NotFound). */
    const sfu_router_t *vr = a->meeting->media ? ((rtc_router_t *)a->meeting->media)->router : NULL;
    for (size_t i = 0; i < req->n_receive; i++) {
      if (!vr || !sfu_router_has_stream(vr, req->receive[i].stream_id)) {
        snprintf(err, errlen, "ReceiveStreamIds: no stream %u in meeting %s",
                 req->receive[i].stream_id, meeting_id);
        rc = SFU_ENOENT;
        sfu_sdp_answer_clear(&neg);
        goto out;
      }
    }
  }
  rtc_rec_t *x = NULL;
  rc = attach(r, a, &neg, now_us, &x, err, errlen);
  if (!rc) sfu_transport_set_twcc_ext(x->tp, twcc_ext_id(&neg));
  if (!rc) set_sctp(r, x, &neg, now_us);
  vp = calloc(1, sizeof *vp); /* ~4 KB: off the loop's stack */
  if (!rc && !vp) rc = SFU_ENOMEM;
  if (!rc) rc = rtc_video_negotiate(r, x, &neg, req, now_us, vp, res, err, errlen);
  if (!rc && rtc_audio_plan(r, x, &neg, vp)) {
    snprintf(err, errlen, "SdpOffer: no SSRC for the audio mix");
    rc = SFU_EINTERNAL;
  }
  sfu_sdp_answer_clear(&neg);
  if (rc) goto out;
  x->sdp_version++;
  /* The final answer's negotiated form tells what audio was agreed (rtc_audio_record). */
  rc = build_answer(r, offer, sfu_transport_local_ufrag(x->tp), sfu_transport_local_pwd(x->tp),
                    x->sdp_sess_id, x->sdp_version, vp->n ? vp->plan : NULL, vp->n, &text, &neg,
                    err, errlen);
  if (rc) goto out;
  rtc_audio_record(x, &neg);
  sfu_sdp_answer_clear(&neg);
  rtc_mixer_sync(r, x, now_us); /* a re-offer may have started or stopped audio */
  *answer = text;
out:
  free(vp);
  sfu_sdp_offer_free(offer);
  reap(r);
  return rc;
}

int sfu_rtc_leave(sfu_rtc_t *r, const char *meeting_id, const char *attendee_id, uint64_t now_us,
                  char *err, size_t errlen) {
  r->last_now_us = now_us;
  sfu_meeting_t *m = sfu_session_find_meeting(r->session, meeting_id);
  if (!m) {
    snprintf(err, errlen, "MeetingId: no such meeting '%s'", meeting_id);
    return SFU_ENOENT;
  }
  sfu_attendee_t *a = sfu_meeting_find_attendee(m, attendee_id);
  if (!a) {
    snprintf(err, errlen, "AttendeeId: no such attendee '%s'", attendee_id);
    return SFU_ENOENT;
  }
  rtc_rec_t *x = a->transport;
  if (x) sfu_transport_close(x->tp, now_us);
  reap(r);
  return 0;
}

void sfu_rtc_attendee_removed(sfu_rtc_t *r, sfu_attendee_t *a) {
  rtc_rec_t *x = a->transport;
  if (!x) {
    rtc_data_attendee_removed(r, a); /* its mark, stats (no transport to close) */
    return;
  }
  /* Inside a session call: detach first so that the departure touches neither the
   * session nor the event stream (AttendeeDeleted is this attendee's last event). */
  a->transport = NULL;
  x->att = NULL;
  x->silent = 1;
  sfu_transport_close(x->tp, r->last_now_us);
  reap(r);
  rtc_data_attendee_removed(r, a); /* after its transport closed its peer */
}

void sfu_rtc_close_all(sfu_rtc_t *r) {
  sfu_list_t *it, *tmp;
  sfu_list_foreach_safe(it, tmp, &r->live) {
    rtc_rec_t *x = sfu_container_of(it, rtc_rec_t, link);
    if (x->att && x->att->transport == x) x->att->transport = NULL;
    x->att = NULL;
    x->silent = 1;
    sfu_transport_close(x->tp, r->last_now_us); /* moves it to the dead list */
  }
  reap(r);
}

/* ---- packets and timers ---- */

int sfu_rtc_input(sfu_rtc_t *r, uint64_t now_us, const sfu_addr_t *from, uint8_t *buf, size_t len) {
  r->last_now_us = now_us;
  int stun = len > 0 && buf[0] < 4; /* RFC 7983 §7: STUN; read before SRTP rewrites buf */
  sfu_transport_t *t = sfu_transport_dispatch(&r->table, now_us, from, buf, len);
  if (!t) {
    r->unrouted++;
    return SFU_RTC_DROPPED;
  }
  rtc_rec_t *x = sfu_transport_tag(t);
  if (!sfu_transport_gone(t)) touch(r, x);
  if (!sfu_list_empty(&r->dead)) reap(r);
  /* The table holds only 5-tuples from which an agent accepted a check (transport.h):
   * anything but STUN was routed by one of them; a STUN check may have just added its
   * own, or failed. */
  if (!stun) return SFU_RTC_AUTHED;
  return sfu_tt_lookup_addr(&r->table, from) ? SFU_RTC_AUTHED : SFU_RTC_ROUTED;
}

void sfu_rtc_handle_timeout(sfu_rtc_t *r, uint64_t now_us) {
  r->last_now_us = now_us;
  /* usrsctp's timers and packets other loops queued for ours (sctp.h). */
  if (sfu_sctp_group_next_deadline(r->sctp) <= now_us) sfu_sctp_group_handle_timeout(r->sctp, now_us);
  if (r->video_deadline <= now_us) rtc_video_timeout(r, now_us);
  if (r->audio_deadline <= now_us) rtc_mixer_timeout(r, now_us);
  if (r->data_deadline <= now_us) rtc_data_timeout(r, now_us); /* may drop a stuck receiver */
  while (r->heap_n > 0 && r->heap[0]->deadline <= now_us) {
    rtc_rec_t *x = r->heap[0];
    sfu_transport_handle_timeout(x->tp, now_us);
    if (sfu_transport_gone(x->tp)) {
      heap_remove(r, x);
    } else {
      uint64_t before = x->deadline;
      touch(r, x);
      /* A core that reports a due deadline without acting would spin here: push it
       * 1 ms ahead (the loop timer has millisecond resolution anyway). */
      if (x->deadline <= now_us && x->deadline == before && x->heap_idx != NOT_IN_HEAP) {
        x->deadline = now_us + 1000;
        heap_down(r, x->heap_idx);
      }
    }
  }
  reap(r);
}

uint64_t sfu_rtc_next_deadline(const sfu_rtc_t *r) {
  uint64_t d = r->heap_n ? r->heap[0]->deadline : UINT64_MAX;
  uint64_t s = sfu_sctp_group_next_deadline(r->sctp);
  if (r->video_deadline < d) d = r->video_deadline;
  if (r->audio_deadline < d) d = r->audio_deadline;
  if (r->data_deadline < d) d = r->data_deadline;
  return s < d ? s : d;
}

/* ---- figures ---- */

void sfu_rtc_stats(const sfu_rtc_t *r, sfu_rtc_stats_t *out) {
  *out = r->closed;
  out->created = r->created;
  out->unrouted = r->unrouted;
  out->transports = 0;
  out->joined = 0;
  const sfu_list_t *it;
  sfu_list_foreach(it, &r->live) {
    const rtc_rec_t *x = sfu_container_of(it, rtc_rec_t, link);
    out->transports++;
    if (sfu_transport_joined(x->tp)) out->joined++;
    add_stats(&out->sum, sfu_transport_stats(x->tp));
  }
}

void sfu_rtc_foreach_transport(const sfu_rtc_t *r, sfu_rtc_transport_cb cb, void *user) {
  const sfu_list_t *it;
  sfu_list_foreach(it, &r->live) {
    const rtc_rec_t *x = sfu_container_of(it, rtc_rec_t, link);
    cb(user, x->ident.meeting_id, x->ident.attendee_id, x->tp);
  }
}

const sfu_transport_t *sfu_rtc_attendee_transport(const sfu_attendee_t *a) {
  const rtc_rec_t *x = a->transport;
  return x ? x->tp : NULL;
}

