/* Command execution against one loop's session, and the JSON shapes of replies and
 * events (docs/control-api.md). Runs on the loop thread that owns the session. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "sfu/control.h"
#include "control/control_rtc.h"
#include "control/control_audio.h"
#include "control/control_data.h"
#include "control/control_video.h"
#include "sfu/err.h"

const char *sfu_control_code_name(int err) {
  switch (err) {
    case SFU_EINVAL:
    case SFU_EPARSE:
    case SFU_ETRUNC:
    case SFU_ETOOBIG:
      return "BadRequest";
    case SFU_ENOENT:
      return "NotFound";
    case SFU_EEXIST:
      return "Conflict";
    case SFU_ELIMIT:
      return "LimitExceeded";
    case SFU_EPERM:
    case SFU_EAUTH:
      return "Forbidden";
    case SFU_EUNSUPP:
    case SFU_EAGAIN:
    case SFU_ECLOSED:
      return "ServiceUnavailable";
    default:
      return "InternalError";
  }
}

cJSON *sfu_control_error(int err, const char *message) {
  cJSON *r = cJSON_CreateObject();
  if (!r) return NULL;
  cJSON_AddFalseToObject(r, "ok");
  cJSON *e = cJSON_AddObjectToObject(r, "error");
  if (e) {
    cJSON_AddStringToObject(e, "code", sfu_control_code_name(err));
    cJSON_AddStringToObject(e, "message", message && message[0] ? message : sfu_strerror(err));
  }
  return r;
}

char *sfu_control_print(cJSON *reply) {
  char *s = reply ? cJSON_PrintUnformatted(reply) : NULL;
  cJSON_Delete(reply);
  return s;
}

static cJSON *ok_reply(void) {
  cJSON *r = cJSON_CreateObject();
  if (r) cJSON_AddTrueToObject(r, "ok");
  return r;
}

static void add_host_port(cJSON *o, const char *name, const char *ip, int port) {
  char buf[96];
  /* IPv6 literals need brackets before ":port" (RFC 3986 section 3.2.2). */
  if (strchr(ip, ':'))
    snprintf(buf, sizeof buf, "[%s]:%d", ip, port);
  else
    snprintf(buf, sizeof buf, "%s:%d", ip, port);
  cJSON_AddStringToObject(o, name, buf);
}

cJSON *sfu_control_meeting_json(const sfu_meeting_t *m, const sfu_control_ctx_t *ctx) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  cJSON_AddStringToObject(o, "MeetingId", m->id);
  cJSON_AddStringToObject(o, "ExternalMeetingId", m->external_id);
  cJSON *f = cJSON_AddObjectToObject(o, "MeetingFeatures");
  cJSON *au = cJSON_AddObjectToObject(f, "Audio");
  cJSON_AddNumberToObject(au, "BitrateKbps", m->features.audio_kbps);
  cJSON_AddNumberToObject(au, "MaxTalkers", m->features.max_talkers);
  cJSON *v = cJSON_AddObjectToObject(f, "Video");
  cJSON_AddStringToObject(v, "MaxResolution", sfu_resolution_name(m->features.video));
  cJSON_AddNumberToObject(v, "MaxReceiveKbps", m->features.receive_kbps);
  cJSON *c = cJSON_AddObjectToObject(f, "Content");
  cJSON_AddStringToObject(c, "MaxResolution", sfu_resolution_name(m->features.content));
  cJSON *a = cJSON_AddObjectToObject(f, "Attendee");
  cJSON_AddNumberToObject(a, "MaxCount", m->features.max_count);
  if (m->primary_id[0]) cJSON_AddStringToObject(o, "PrimaryMeetingId", m->primary_id);
  cJSON *mp = cJSON_AddObjectToObject(o, "MediaPlacement");
  add_host_port(mp, "AudioHostUrl", ctx->announce_ip, ctx->udp_port);
  add_host_port(mp, "AudioFallbackUrl", ctx->announce_ip, ctx->tcp_port);
  cJSON_AddNumberToObject(o, "Loop", ctx->loop_index);
  /* issue 9: the meeting's mixer, while it has one (on unless SFU_AUDIO_MIXER=0) */
  const sfu_mixer_t *mx = sfu_rtc_meeting_mixer(m);
  if (mx) {
    sfu_mixer_stats_t st;
    sfu_mixer_stats(mx, &st);
    cJSON_AddItemToObject(o, "Audio", sfu_control_mixer_json(&st));
  }
  /* issue 10: the meeting's data relay, once it has one (a channel opened, a message) */
  cJSON *d = sfu_control_meeting_data_json(m);
  if (d) cJSON_AddItemToObject(o, "Data", d);
  return o;
}

static cJSON *caps_json(const sfu_caps_t *caps) {
  cJSON *c = cJSON_CreateObject();
  if (!c) return NULL;
  cJSON_AddStringToObject(c, "Audio", sfu_cap_name(caps->audio));
  cJSON_AddStringToObject(c, "Video", sfu_cap_name(caps->video));
  cJSON_AddStringToObject(c, "Content", sfu_cap_name(caps->content));
  return c;
}

cJSON *sfu_control_attendee_json(const sfu_attendee_t *a) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  cJSON_AddStringToObject(o, "AttendeeId", a->id);
  cJSON_AddStringToObject(o, "ExternalUserId", a->external_user_id);
  cJSON_AddStringToObject(o, "JoinToken", a->join_token);
  cJSON_AddItemToObject(o, "Capabilities", caps_json(&a->caps));
  return o;
}

static cJSON *with_item(const char *name, cJSON *item) {
  cJSON *r = ok_reply();
  if (r)
    cJSON_AddItemToObject(r, name, item);
  else
    cJSON_Delete(item);
  return r;
}

static cJSON *exec_batch(sfu_session_t *s, const sfu_cmd_t *cmd, uint64_t now_us) {
  char err[SFU_CONTROL_ERRLEN];
  if (!sfu_session_find_meeting(s, cmd->meeting_id)) {
    snprintf(err, sizeof err, "MeetingId: no such meeting '%s'", cmd->meeting_id);
    return sfu_control_error(SFU_ENOENT, err);
  }
  cJSON *r = ok_reply();
  cJSON *ok = cJSON_AddArrayToObject(r, "Attendees");
  cJSON *errs = cJSON_AddArrayToObject(r, "Errors");
  for (size_t i = 0; i < cmd->n_items; i++) {
    const sfu_cmd_item_t *it = &cmd->items[i];
    sfu_attendee_t *a = NULL;
    int rc = it->err;
    const char *msg = it->errmsg;
    if (!rc) {
      rc = sfu_session_create_attendee(s, cmd->meeting_id, it->external_user_id, &it->caps, now_us,
                                       &a, err, sizeof err);
      msg = err;
    }
    if (!rc) {
      cJSON_AddItemToArray(ok, sfu_control_attendee_json(a));
      continue;
    }
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "ExternalUserId", it->external_user_id);
    cJSON_AddStringToObject(e, "ErrorCode", sfu_control_code_name(rc));
    cJSON_AddStringToObject(e, "ErrorMessage", msg);
    cJSON_AddItemToArray(errs, e);
  }
  return r;
}

static cJSON *exec_list_attendees(sfu_session_t *s, const sfu_cmd_t *cmd) {
  char err[SFU_CONTROL_ERRLEN];
  const sfu_meeting_t *m = sfu_session_find_meeting(s, cmd->meeting_id);
  if (!m) {
    snprintf(err, sizeof err, "MeetingId: no such meeting '%s'", cmd->meeting_id);
    return sfu_control_error(SFU_ENOENT, err);
  }
  cJSON *r = ok_reply();
  cJSON *arr = cJSON_AddArrayToObject(r, "Attendees");
  int n = 0;
  /* O(attendees) skip to the token's position: at most 250 per meeting. */
  for (const sfu_attendee_t *a = sfu_meeting_first_attendee(m); a;
       a = sfu_meeting_next_attendee(m, a)) {
    if (a->seq < cmd->next_token) continue;
    if (n == cmd->max_results) {
      char tok[24];
      snprintf(tok, sizeof tok, "%" PRIu64, a->seq);
      cJSON_AddStringToObject(r, "NextToken", tok);
      break;
    }
    cJSON_AddItemToArray(arr, sfu_control_attendee_json(a));
    n++;
  }
  return r;
}

static cJSON *exec_stats(sfu_session_t *s, const sfu_control_ctx_t *ctx) {
  cJSON *l = cJSON_CreateObject();
  cJSON_AddNumberToObject(l, "Loop", ctx->loop_index);
  cJSON_AddNumberToObject(l, "UdpPort", ctx->udp_port);
  cJSON_AddNumberToObject(l, "TcpPort", ctx->tcp_port);
  cJSON_AddNumberToObject(l, "Meetings", (double)sfu_session_meeting_count(s));
  cJSON_AddNumberToObject(l, "Attendees", (double)sfu_session_attendee_count(s));
  sfu_control_add_rtc_stats(l, ctx->rtc);
  sfu_control_add_loop_video_stats(l, s, ctx->rtc);
  sfu_control_add_loop_audio_stats(l, s);
  sfu_control_add_loop_data_stats(l, s);
  return with_item("Loop", l);
}

static cJSON *exec_meeting(sfu_session_t *s, const sfu_cmd_t *cmd, const sfu_control_ctx_t *ctx,
                           uint64_t now_us) {
  char err[SFU_CONTROL_ERRLEN];
  sfu_meeting_t *m = NULL;
  int rc;
  switch (cmd->op) {
    case SFU_OP_CREATE_MEETING: {
      sfu_meeting_params_t p = {cmd->meeting_id, cmd->external_id, cmd->primary_meeting_id,
                                cmd->features};
      rc = sfu_session_create_meeting(s, &p, now_us, &m, err, sizeof err);
      break;
    }
    case SFU_OP_GET_MEETING:
      m = sfu_session_find_meeting(s, cmd->meeting_id);
      rc = m ? 0 : SFU_ENOENT;
      if (rc) snprintf(err, sizeof err, "MeetingId: no such meeting '%s'", cmd->meeting_id);
      break;
    case SFU_OP_DELETE_MEETING:
      rc = sfu_session_delete_meeting(s, cmd->meeting_id, cmd->reason, now_us, err, sizeof err);
      return rc ? sfu_control_error(rc, err) : ok_reply();
    default:
      return sfu_control_error(SFU_EINTERNAL, "op: not a meeting operation");
  }
  if (rc) return sfu_control_error(rc, err);
  return with_item("Meeting", sfu_control_meeting_json(m, ctx));
}

static cJSON *exec_attendee(sfu_session_t *s, const sfu_cmd_t *cmd, const sfu_control_ctx_t *ctx,
                            uint64_t now_us) {
  char err[SFU_CONTROL_ERRLEN];
  sfu_attendee_t *a = NULL;
  int rc;
  switch (cmd->op) {
    case SFU_OP_CREATE_ATTENDEE:
      if (cmd->content_share_of[0])
        rc = sfu_session_create_content_attendee(s, cmd->meeting_id, cmd->content_share_of,
                                                 cmd->external_id, &cmd->caps, now_us, &a, err,
                                                 sizeof err);
      else
        rc = sfu_session_create_attendee(s, cmd->meeting_id, cmd->external_id, &cmd->caps, now_us,
                                         &a, err, sizeof err);
      break;
    case SFU_OP_GET_ATTENDEE: {
      sfu_meeting_t *m = sfu_session_find_meeting(s, cmd->meeting_id);
      a = sfu_meeting_find_attendee(m, cmd->attendee_id);
      rc = a ? 0 : SFU_ENOENT;
      if (!m)
        snprintf(err, sizeof err, "MeetingId: no such meeting '%s'", cmd->meeting_id);
      else if (!a)
        snprintf(err, sizeof err, "AttendeeId: no such attendee '%s'", cmd->attendee_id);
      break;
    }
    case SFU_OP_DELETE_ATTENDEE:
      rc = sfu_session_delete_attendee(s, cmd->meeting_id, cmd->attendee_id, now_us, err,
                                       sizeof err);
      return rc ? sfu_control_error(rc, err) : ok_reply();
    case SFU_OP_UPDATE_ATTENDEE_CAPS:
      rc = sfu_session_update_caps(s, cmd->meeting_id, cmd->attendee_id, &cmd->caps, now_us, &a,
                                   err, sizeof err);
      /* The router follows at once (a Video now None stops the stream and its views),
       * after the session's CapabilitiesUpdated event. */
      if (!rc && ctx->rtc) sfu_rtc_attendee_caps_changed(ctx->rtc, a, now_us);
      break;
    default:
      return sfu_control_error(SFU_EINTERNAL, "op: not an attendee operation");
  }
  if (rc) return sfu_control_error(rc, err);
  return with_item("Attendee", sfu_control_attendee_json(a));
}

static cJSON *exec_stream_index(sfu_session_t *s, const sfu_cmd_t *cmd,
                                const sfu_control_ctx_t *ctx) {
  char err[SFU_CONTROL_ERRLEN];
  const sfu_meeting_t *m = sfu_session_find_meeting(s, cmd->meeting_id);
  if (!m) {
    snprintf(err, sizeof err, "MeetingId: no such meeting '%s'", cmd->meeting_id);
    return sfu_control_error(SFU_ENOENT, err);
  }
  /* No router yet (nothing published or viewed) is the empty index. */
  const sfu_router_t *r = ctx->rtc ? sfu_rtc_meeting_router(ctx->rtc, m) : NULL;
  return with_item("StreamIndex", sfu_control_index_json(r));
}

cJSON *sfu_control_exec(sfu_session_t *s, const sfu_cmd_t *cmd, const sfu_control_ctx_t *ctx,
                        uint64_t now_us) {
  switch (cmd->op) {
    case SFU_OP_CREATE_MEETING:
    case SFU_OP_GET_MEETING:
    case SFU_OP_DELETE_MEETING:
      return exec_meeting(s, cmd, ctx, now_us);
    case SFU_OP_LIST_MEETINGS: {
      cJSON *arr = cJSON_CreateArray();
      for (sfu_meeting_t *m = sfu_session_first_meeting(s); m; m = sfu_session_next_meeting(s, m))
        cJSON_AddItemToArray(arr, sfu_control_meeting_json(m, ctx));
      return with_item("Meetings", arr);
    }
    case SFU_OP_CREATE_ATTENDEE:
    case SFU_OP_GET_ATTENDEE:
    case SFU_OP_DELETE_ATTENDEE:
    case SFU_OP_UPDATE_ATTENDEE_CAPS:
      return exec_attendee(s, cmd, ctx, now_us);
    case SFU_OP_BATCH_CREATE_ATTENDEE:
      return exec_batch(s, cmd, now_us);
    case SFU_OP_LIST_ATTENDEES:
      return exec_list_attendees(s, cmd);
    case SFU_OP_GET_WORKER_STATS:
      return exec_stats(s, ctx);
    case SFU_OP_SUBSCRIBE:
      return sfu_control_exec_subscribe(s, cmd, ctx, now_us);
    case SFU_OP_LEAVE_MEETING:
      return sfu_control_exec_leave(s, cmd, ctx, now_us);
    case SFU_OP_GET_ATTENDEE_STATS:
      return sfu_control_exec_attendee_stats(s, cmd, ctx, now_us);
    case SFU_OP_GET_STREAM_INDEX:
      return exec_stream_index(s, cmd, ctx);
    case SFU_OP_SEND_DATA_MESSAGE:
      return sfu_control_exec_send_data(s, cmd, ctx, now_us);
    default:
      return sfu_control_error(SFU_EINVAL, "op: unknown operation");
  }
}

/* Video events name the stream they are about. */
static int carries_stream_id(sfu_event_type_t t) {
  return t == SFU_EV_VIDEO_STARTED || t == SFU_EV_VIDEO_STOPPED ||
         t == SFU_EV_CONTENT_VIDEO_STARTED || t == SFU_EV_CONTENT_VIDEO_STOPPED ||
         t == SFU_EV_VIDEO_SEND_REFUSED;
}

/* Chime's join/leave/drop details carry networkType (requirements.md): "Voip" for a
 * WebRTC client ("Pstn" would be a phone, which this worker never serves). A content
 * share is an attendee of its own ("<id>#content") and joins, leaves and drops alike. */
static int carries_network_type(sfu_event_type_t t) {
  return t == SFU_EV_ATTENDEE_JOINED || t == SFU_EV_ATTENDEE_LEFT ||
         t == SFU_EV_ATTENDEE_DROPPED || t == SFU_EV_CONTENT_JOINED ||
         t == SFU_EV_CONTENT_LEFT || t == SFU_EV_CONTENT_DROPPED;
}

char *sfu_control_event_json_with_index(const sfu_event_t *ev, const cJSON *index,
                                        const char *worker_id, uint64_t timestamp_ms) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  cJSON_AddStringToObject(o, "eventType", sfu_event_type_name(ev->type));
  cJSON_AddNumberToObject(o, "timestamp", (double)timestamp_ms);
  cJSON_AddStringToObject(o, "workerId", worker_id);
  cJSON_AddStringToObject(o, "meetingId", ev->meeting_id);
  cJSON_AddStringToObject(o, "externalMeetingId", ev->external_meeting_id);
  if (ev->primary_meeting_id[0])
    cJSON_AddStringToObject(o, "primaryMeetingId", ev->primary_meeting_id);
  if (ev->attendee_id[0]) {
    cJSON_AddStringToObject(o, "attendeeId", ev->attendee_id);
    cJSON_AddStringToObject(o, "externalUserId", ev->external_user_id);
  }
  if (ev->type == SFU_EV_MEETING_ENDED)
    cJSON_AddStringToObject(o, "reason", sfu_end_reason_name(ev->reason));
  if (carries_network_type(ev->type)) cJSON_AddStringToObject(o, "networkType", "Voip");
  if (ev->type == SFU_EV_ATTENDEE_CAPS_UPDATED)
    cJSON_AddItemToObject(o, "capabilities", caps_json(&ev->caps));
  if (carries_stream_id(ev->type)) cJSON_AddNumberToObject(o, "streamId", ev->stream_id);
  if (ev->type == SFU_EV_VIDEO_SEND_REFUSED) {
    char msg[sizeof ev->message];
    /* Bounded even if the producer left no NUL. */
    memcpy(msg, ev->message, sizeof msg);
    msg[sizeof msg - 1] = 0;
    cJSON_AddStringToObject(o, "message", msg);
  }
  if (ev->type == SFU_EV_DOWNLINK_INSUFFICIENT || ev->type == SFU_EV_DOWNLINK_SUFFICIENT) {
    cJSON_AddNumberToObject(o, "estimateKbps", ev->estimate_kbps);
    cJSON_AddNumberToObject(o, "requiredKbps", ev->required_kbps);
    cJSON *ids = cJSON_AddArrayToObject(o, "pausedStreamIds");
    size_t np = ev->n_paused < 25 ? ev->n_paused : 25;
    for (size_t i = 0; ids && i < np; i++) cJSON_AddItemToArray(ids, cJSON_CreateNumber(ev->paused[i]));
  }
  if (ev->type == SFU_EV_INDEX_CHANGED) {
    /* Borrowed: o is printed and deleted here, the caller keeps its index. */
    if (index)
      cJSON_AddItemReferenceToObject(o, "index", (cJSON *)index);
    else
      cJSON_AddItemToObject(o, "index", sfu_control_index_json(NULL));
  }
  return sfu_control_print(o);
}

char *sfu_control_event_json(const sfu_event_t *ev, const char *worker_id, uint64_t timestamp_ms) {
  return sfu_control_event_json_with_index(ev, NULL, worker_id, timestamp_ms);
}
