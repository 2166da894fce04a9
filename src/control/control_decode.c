/* Request decoding: bytes -> sfu_cmd_t, with a BadRequest message naming the field.
 *
 * Hostile input is the normal case here (docs/control-api.md, "Bad input"): the checks
 * that bound the work (size, NUL bytes, nesting) run on the raw bytes before cJSON
 * allocates anything, so that a 10 MB message or 100,000 nested brackets cost one linear
 * scan and no recursion. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "sfu/control.h"
#include "control/control_keys.h"
#include "sfu/err.h"

static const char *const g_op_names[SFU_OP__COUNT] = {
    "CreateMeeting",  "GetMeeting",
    "ListMeetings",   "DeleteMeeting",
    "CreateAttendee", "BatchCreateAttendee",
    "GetAttendee",    "ListAttendees",
    "DeleteAttendee", "UpdateAttendeeCapabilities",
    "GetWorkerStats", "Subscribe",
    "LeaveMeeting",   "GetAttendeeStats",
    "GetStreamIndex", "SendDataMessage"};

const char *sfu_op_name(sfu_op_t op) { return (unsigned)op < SFU_OP__COUNT ? g_op_names[op] : "?"; }

void sfu_control_sanitize(char *out, size_t outlen, const char *s, size_t len, size_t max) {
  size_t n = 0;
  if (!outlen) return;
  for (size_t i = 0; s && i < len && i < max && n + 1 < outlen; i++) {
    unsigned char c = (unsigned char)s[i];
    out[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
  }
  out[n] = 0;
}

static int bad(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (err && errlen) vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return SFU_EINVAL;
}

/* Returns the deepest nesting, or -1 if a string holds the escape \u0000: cJSON would
 * cut the string there, silently turning "ab\u0000cd" into "ab". */
int sfu_control_json_depth(const char *buf, size_t len) {
  int depth = 0, max = 0, in_str = 0;
  for (size_t i = 0; i < len; i++) {
    char c = buf[i];
    if (in_str) {
      if (c == '\\') {
        if (i + 5 < len && buf[i + 1] == 'u' && memcmp(buf + i + 2, "0000", 4) == 0) return -1;
        i++; /* skip the escaped character (\" does not end the string) */
      } else if (c == '"') {
        in_str = 0;
      }
    } else if (c == '"') {
      in_str = 1;
    } else if (c == '[' || c == '{') {
      if (++depth > max) max = depth;
    } else if (c == ']' || c == '}') {
      if (depth > 0) depth--;
    }
  }
  return max;
}

/* ---- field helpers: each returns 0 or SFU_EINVAL with "<Field>: ..." ---- */

static int get_uuid(const cJSON *o, const char *name, int required, char out[SFU_UUID_LEN + 1],
                    char *err, size_t errlen) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  out[0] = 0;
  if (!v) return required ? bad(err, errlen, "%s: missing (a meeting or attendee UUID)", name) : 0;
  if (!cJSON_IsString(v)) return bad(err, errlen, "%s: must be a string (a UUID)", name);
  if (!sfu_uuid_valid(v->valuestring)) return bad(err, errlen, "%s: must be a UUID", name);
  for (int i = 0; i <= SFU_UUID_LEN; i++) out[i] = (char)tolower((unsigned char)v->valuestring[i]);
  return 0;
}

/* An AttendeeId: a UUID (lower-cased) or a UUID + "#content" (the suffix exactly so). */
static int get_attendee_id(const cJSON *o, const char *name, int required,
                           char out[SFU_ATTENDEE_ID_LEN + 1], char *err, size_t errlen) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  out[0] = 0;
  if (!v) return required ? bad(err, errlen, "%s: missing (an attendee id)", name) : 0;
  if (!cJSON_IsString(v) || !sfu_attendee_id_valid(v->valuestring))
    return bad(err, errlen, "%s: must be an attendee id (a UUID, or a UUID + \"%s\")", name,
               SFU_CONTENT_SUFFIX);
  size_t n = strlen(v->valuestring);
  for (size_t i = 0; i <= n; i++)
    out[i] = i < SFU_UUID_LEN ? (char)tolower((unsigned char)v->valuestring[i]) : v->valuestring[i];
  return 0;
}

static int get_ext_id(const cJSON *o, const char *name, char out[SFU_EXT_ID_BUF], char *err,
                      size_t errlen) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  out[0] = 0;
  if (!cJSON_IsString(v)) {
    if (v) return bad(err, errlen, "%s: must be a string of 2 to 64 characters", name);
    return bad(err, errlen, "%s: missing (a string of 2 to 64 characters)", name);
  }
  size_t len = strlen(v->valuestring);
  int rc = sfu_validate_external_id(name, v->valuestring, len, err, errlen);
  if (rc) {
    sfu_control_sanitize(out, SFU_EXT_ID_BUF, v->valuestring, len, SFU_EXT_ID_MAX_CHARS);
    return rc;
  }
  memcpy(out, v->valuestring, len + 1);
  return 0;
}

static int get_int(const cJSON *v, const char *name, int min, int max, int *out, char *err,
                   size_t errlen) {
  if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < min ||
      v->valuedouble > max)
    return bad(err, errlen, "%s: must be an integer from %d to %d", name, min, max);
  *out = (int)v->valuedouble;
  return 0;
}

static int get_cap(const cJSON *caps, const char *name, int required, sfu_cap_t *out, char *err,
                   size_t errlen) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(caps, name);
  if (!v) {
    if (required)
      return bad(err, errlen, "Capabilities.%s: missing (SendReceive, Send, Receive or None)",
                 name);
    *out = SFU_CAP_SEND_RECEIVE;
    return 0;
  }
  int c = cJSON_IsString(v) ? sfu_cap_parse(v->valuestring) : -1;
  if (c < 0)
    return bad(err, errlen, "Capabilities.%s: must be SendReceive, Send, Receive or None", name);
  *out = (sfu_cap_t)c;
  return 0;
}

/* Capabilities: optional object (all default SendReceive) unless required_all. */
static int get_caps(const cJSON *o, int required_all, sfu_caps_t *out, char *err, size_t errlen) {
  const cJSON *caps = cJSON_GetObjectItemCaseSensitive(o, "Capabilities");
  sfu_caps_default(out);
  if (!caps)
    return required_all
               ? bad(err, errlen, "Capabilities: missing (an object with Audio, Video and Content)")
               : 0;
  if (!cJSON_IsObject(caps)) return bad(err, errlen, "Capabilities: must be an object");
  int rc;
  if ((rc = get_cap(caps, "Audio", required_all, &out->audio, err, errlen)) ||
      (rc = get_cap(caps, "Video", required_all, &out->video, err, errlen)) ||
      (rc = get_cap(caps, "Content", required_all, &out->content, err, errlen)))
    return rc;
  return sfu_validate_caps(out, err, errlen);
}

/* MeetingFeatures.<Group>.MaxResolution among the allowed names. */
static int get_resolution(const cJSON *mf, const char *group, sfu_resolution_t dflt,
                          const sfu_resolution_t *allowed, int n_allowed, sfu_resolution_t *out,
                          char *err, size_t errlen) {
  const cJSON *g = cJSON_GetObjectItemCaseSensitive(mf, group);
  *out = dflt;
  if (!g) return 0;
  if (!cJSON_IsObject(g)) return bad(err, errlen, "MeetingFeatures.%s: must be an object", group);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(g, "MaxResolution");
  if (!v) return 0;
  for (int i = 0; cJSON_IsString(v) && i < n_allowed; i++) {
    if (strcmp(v->valuestring, sfu_resolution_name(allowed[i])) == 0) {
      *out = allowed[i];
      return 0;
    }
  }
  return bad(err, errlen, "MeetingFeatures.%s.MaxResolution: must be %s, %s or %s", group,
             sfu_resolution_name(allowed[0]), sfu_resolution_name(allowed[1]),
             sfu_resolution_name(allowed[2]));
}

static int get_features(const cJSON *o, sfu_features_t *f, char *err, size_t errlen) {
  static const sfu_resolution_t video[] = {SFU_RES_NONE, SFU_RES_HD, SFU_RES_FHD};
  static const sfu_resolution_t content[] = {SFU_RES_NONE, SFU_RES_FHD, SFU_RES_UHD};
  const cJSON *mf = cJSON_GetObjectItemCaseSensitive(o, "MeetingFeatures");
  int rc;
  memset(f, 0, sizeof *f);
  f->video = SFU_RES_HD;
  f->content = SFU_RES_FHD;
  if (mf) {
    if (!cJSON_IsObject(mf)) return bad(err, errlen, "MeetingFeatures: must be an object");
    if ((rc = get_resolution(mf, "Video", SFU_RES_HD, video, 3, &f->video, err, errlen)) ||
        (rc = get_resolution(mf, "Content", SFU_RES_FHD, content, 3, &f->content, err, errlen)))
      return rc;
    const cJSON *vg = cJSON_GetObjectItemCaseSensitive(mf, "Video");
    const cJSON *rk = cJSON_IsObject(vg) ? cJSON_GetObjectItemCaseSensitive(vg, "MaxReceiveKbps") : NULL;
    if (rk && (rc = get_int(rk, "MeetingFeatures.Video.MaxReceiveKbps", SFU_RECEIVE_KBPS_MIN,
                            SFU_RECEIVE_KBPS_MAX, &f->receive_kbps, err, errlen)))
      return rc;
    const cJSON *au = cJSON_GetObjectItemCaseSensitive(mf, "Audio");
    if (au && !cJSON_IsObject(au)) return bad(err, errlen, "MeetingFeatures.Audio: must be an object");
    const cJSON *ab = au ? cJSON_GetObjectItemCaseSensitive(au, "BitrateKbps") : NULL;
    if (ab && (rc = get_int(ab, "MeetingFeatures.Audio.BitrateKbps", SFU_AUDIO_KBPS_MIN,
                            SFU_AUDIO_KBPS_MAX, &f->audio_kbps, err, errlen)))
      return rc;
    const cJSON *mt = au ? cJSON_GetObjectItemCaseSensitive(au, "MaxTalkers") : NULL;
    if (mt && (rc = get_int(mt, "MeetingFeatures.Audio.MaxTalkers", 1, SFU_MAX_TALKERS_MAX,
                            &f->max_talkers, err, errlen)))
      return rc;
    const cJSON *att = cJSON_GetObjectItemCaseSensitive(mf, "Attendee");
    if (att && !cJSON_IsObject(att))
      return bad(err, errlen, "MeetingFeatures.Attendee: must be an object");
    const cJSON *mc = att ? cJSON_GetObjectItemCaseSensitive(att, "MaxCount") : NULL;
    if (mc && (rc = get_int(mc, "MeetingFeatures.Attendee.MaxCount", 1, SFU_MAX_ATTENDEES,
                            &f->max_count, err, errlen)))
      return rc;
  }
  return sfu_features_resolve(f, err, errlen);
}

/* ---- per-op decoders ---- */

static int dec_create_meeting(const cJSON *o, sfu_cmd_t *c, char *err, size_t errlen) {
  int rc;
  if ((rc = get_ext_id(o, "ExternalMeetingId", c->external_id, err, errlen)) ||
      (rc = get_uuid(o, "MeetingId", 0, c->meeting_id, err, errlen)) ||
      (rc = get_uuid(o, "PrimaryMeetingId", 0, c->primary_meeting_id, err, errlen)) ||
      (rc = get_features(o, &c->features, err, errlen)))
    return rc;
  return 0;
}

/* ContentShareOf makes the attendee a content share; its ExternalUserId is then optional
 * (the session derives it from the owner's). */
static int dec_create_attendee(const cJSON *o, sfu_cmd_t *c, char *err, size_t errlen) {
  int rc;
  if ((rc = get_uuid(o, "MeetingId", 1, c->meeting_id, err, errlen)) ||
      (rc = get_attendee_id(o, "ContentShareOf", 0, c->content_share_of, err, errlen)))
    return rc;
  int ext_optional =
      c->content_share_of[0] && !cJSON_GetObjectItemCaseSensitive(o, "ExternalUserId");
  if (!ext_optional && (rc = get_ext_id(o, "ExternalUserId", c->external_id, err, errlen)))
    return rc;
  return get_caps(o, 0, &c->caps, err, errlen);
}

static int dec_batch_item(const cJSON *it, size_t idx, sfu_cmd_item_t *item) {
  char field[64];
  if (!cJSON_IsObject(it)) {
    item->err = bad(item->errmsg, sizeof item->errmsg, "Attendees[%zu]: must be an object", idx);
    return 0;
  }
  int rc =
      get_ext_id(it, "ExternalUserId", item->external_user_id, item->errmsg, sizeof item->errmsg);
  if (!rc) rc = get_caps(it, 0, &item->caps, item->errmsg, sizeof item->errmsg);
  if (rc) {
    /* Prefix the item index so that the message still names the field exactly. */
    char tmp[SFU_CONTROL_ERRLEN];
    int n = snprintf(field, sizeof field, "Attendees[%zu].", idx);
    memcpy(tmp, item->errmsg, sizeof tmp);
    memcpy(item->errmsg, field, (size_t)n);
    memcpy(item->errmsg + n, tmp, sizeof tmp - (size_t)n - 1);
    item->errmsg[sizeof item->errmsg - 1] = 0;
    item->err = rc;
  }
  return 0;
}

static int dec_batch(const cJSON *o, sfu_cmd_t *c, char *err, size_t errlen) {
  int rc = get_uuid(o, "MeetingId", 1, c->meeting_id, err, errlen);
  if (rc) return rc;
  const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "Attendees");
  int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : -1;
  if (n < 1 || n > SFU_MAX_BATCH)
    return bad(err, errlen, "Attendees: %s (an array of 1 to %d attendees)",
               !arr    ? "missing"
               : n < 0 ? "must be an array"
                       : "wrong number of items",
               SFU_MAX_BATCH);
  c->items = calloc((size_t)n, sizeof *c->items);
  if (!c->items) return bad(err, errlen, "request: out of memory");
  c->n_items = (size_t)n;
  size_t i = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, arr) dec_batch_item(it, i, &c->items[i]), i++;
  return 0;
}

static int dec_list_attendees(const cJSON *o, sfu_cmd_t *c, char *err, size_t errlen) {
  int rc = get_uuid(o, "MeetingId", 1, c->meeting_id, err, errlen);
  if (rc) return rc;
  c->max_results = SFU_LIST_MAX_RESULTS;
  const cJSON *mr = cJSON_GetObjectItemCaseSensitive(o, "MaxResults");
  if (mr && (rc = get_int(mr, "MaxResults", 1, SFU_LIST_MAX_RESULTS, &c->max_results, err, errlen)))
    return rc;
  const cJSON *nt = cJSON_GetObjectItemCaseSensitive(o, "NextToken");
  if (nt && !cJSON_IsNull(nt)) {
    /* The token is the creation sequence number of the next attendee, in decimal; it
     * is opaque to clients, who must only pass back what a reply gave them. */
    const char *s = cJSON_IsString(nt) ? nt->valuestring : NULL;
    size_t len = s ? strlen(s) : 0;
    if (!s || len == 0 || len > 18 || strspn(s, "0123456789") != len)
      return bad(err, errlen, "NextToken: not a token returned by ListAttendees");
    c->next_token = strtoull(s, NULL, 10);
  }
  return 0;
}

static int dup_string(const cJSON *o, const char *name, size_t max, char **out, size_t *len,
                      char *err, size_t errlen) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  if (!v) return bad(err, errlen, "%s: missing (a string)", name);
  if (!cJSON_IsString(v)) return bad(err, errlen, "%s: must be a string", name);
  size_t n = strlen(v->valuestring);
  if (n == 0 || n > max) return bad(err, errlen, "%s: must be 1 to %zu bytes long", name, max);
  *out = strdup(v->valuestring);
  if (!*out) return bad(err, errlen, "request: out of memory");
  if (len) *len = n;
  return 0;
}

#define STREAM_ID_MAX 2147483647 /* 2^31 - 1: a StreamId is a positive int32 */

/* One ReceiveStreamIds item: a StreamId, or {"StreamId": n, "MaxLayer": k, "MaxHeight": h,
 * "Priority": p} (all but StreamId optional; null or absent = no cap / default; MaxLayer 0
 * = the lowest layer; MaxHeight in pixels, 1..4320; Priority -100..100, higher first). */
static int dec_receive_item(const cJSON *it, int i, sfu_rtc_recv_t *out, char *err, size_t errlen) {
  char name[64];
  int v;
  out->max_layer = -1;
  out->max_height = 0;
  out->priority = 0;
  if (cJSON_IsNumber(it)) {
    snprintf(name, sizeof name, "ReceiveStreamIds[%d]", i);
    if (get_int(it, name, 1, STREAM_ID_MAX, &v, err, errlen)) return SFU_EINVAL;
    out->stream_id = (uint32_t)v;
    return 0;
  }
  if (!cJSON_IsObject(it))
    return bad(err, errlen,
               "ReceiveStreamIds[%d]: must be a StreamId (an integer from 1 to %d) or an object "
               "{\"StreamId\": n, \"MaxLayer\": k}",
               i, STREAM_ID_MAX);
  const cJSON *sid = cJSON_GetObjectItemCaseSensitive(it, "StreamId");
  if (!sid) return bad(err, errlen, "ReceiveStreamIds[%d].StreamId: missing", i);
  snprintf(name, sizeof name, "ReceiveStreamIds[%d].StreamId", i);
  if (get_int(sid, name, 1, STREAM_ID_MAX, &v, err, errlen)) return SFU_EINVAL;
  out->stream_id = (uint32_t)v;
  const cJSON *ml = cJSON_GetObjectItemCaseSensitive(it, "MaxLayer");
  if (ml && !cJSON_IsNull(ml)) {
    snprintf(name, sizeof name, "ReceiveStreamIds[%d].MaxLayer", i);
    if (get_int(ml, name, 0, SFU_ROUTER_MAX_LAYERS - 1, &v, err, errlen)) return SFU_EINVAL;
    out->max_layer = (int8_t)v;
  }
  const cJSON *mh = cJSON_GetObjectItemCaseSensitive(it, "MaxHeight");
  if (mh && !cJSON_IsNull(mh)) {
    snprintf(name, sizeof name, "ReceiveStreamIds[%d].MaxHeight", i);
    if (get_int(mh, name, 1, 4320, &v, err, errlen)) return SFU_EINVAL;
    out->max_height = (uint16_t)v;
  }
  const cJSON *pr = cJSON_GetObjectItemCaseSensitive(it, "Priority");
  if (pr && !cJSON_IsNull(pr)) {
    snprintf(name, sizeof name, "ReceiveStreamIds[%d].Priority", i);
    if (get_int(pr, name, -100, 100, &v, err, errlen)) return SFU_EINVAL;
    out->priority = (int8_t)v;
  }
  return 0;
}

/* ReceiveStreamIds: which published streams this attendee receives, at most
 * SFU_ROUTER_MAX_VIEWS, each once. Absent or null: nothing. Whether the ids exist is
 * the meeting's loop's business (NotFound there). */
static int dec_receive(const cJSON *o, sfu_rtc_sub_req_t *req, char *err, size_t errlen) {
  const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "ReceiveStreamIds");
  if (!arr || cJSON_IsNull(arr)) return 0;
  if (!cJSON_IsArray(arr))
    return bad(err, errlen, "ReceiveStreamIds: must be an array of StreamIds");
  int n = cJSON_GetArraySize(arr);
  if (n > SFU_ROUTER_MAX_VIEWS)
    return bad(err, errlen, "ReceiveStreamIds: at most %d streams (%d given)",
               SFU_ROUTER_MAX_VIEWS, n);
  req->has_receive = 1;
  int i = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, arr) {
    sfu_rtc_recv_t *r = &req->receive[i];
    if (dec_receive_item(it, i, r, err, errlen)) return SFU_EINVAL;
    for (int j = 0; j < i; j++)
      if (req->receive[j].stream_id == r->stream_id)
        return bad(err, errlen, "ReceiveStreamIds[%d]: StreamId %u is already at [%d]", i,
                   (unsigned)r->stream_id, j);
    i++;
  }
  req->n_receive = (size_t)i;
  return 0;
}

static int dec_subscribe(const cJSON *o, sfu_cmd_t *c, char *err, size_t errlen) {
  int rc;
  if ((rc = get_uuid(o, "MeetingId", 1, c->meeting_id, err, errlen)) ||
      (rc = get_attendee_id(o, "AttendeeId", 1, c->attendee_id, err, errlen)) ||
      (rc = dup_string(o, "JoinToken", 256, &c->join_token, &c->join_token_len, err, errlen)) ||
      (rc = dup_string(o, "SdpOffer", SFU_CONTROL_MAX_REQUEST, &c->sdp_offer, NULL, err, errlen)) ||
      (rc = dec_receive(o, &c->receive, err, errlen)))
    return rc;
  return 0;
}

/* SendDataMessage (issue 10): types and presence here (BadRequest); the data-message
 * rules (topic, size, lifetime range: BadTopic, TooLarge, BadRequest) on the loop, by the
 * same function a client's message goes through (sfu_data_validate), so that both get
 * the same answers and the meeting counts every refusal. */
static int dec_data_string(const cJSON *o, const char *name, char **out, size_t *len, char *err,
                           size_t errlen) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  if (!v) return bad(err, errlen, "%s: missing (a string)", name);
  if (!cJSON_IsString(v)) return bad(err, errlen, "%s: must be a string", name);
  *len = strlen(v->valuestring); /* \u0000 was refused before parsing (precheck) */
  *out = strdup(v->valuestring);
  if (!*out) return bad(err, errlen, "request: out of memory");
  return 0;
}

static int dec_send_data(const cJSON *o, sfu_cmd_t *c, char *err, size_t errlen) {
  int rc;
  if ((rc = get_uuid(o, "MeetingId", 1, c->meeting_id, err, errlen)) ||
      (rc = dec_data_string(o, "Topic", &c->data_topic, &c->data_topic_len, err, errlen)) ||
      (rc = dec_data_string(o, "Data", &c->data, &c->data_len, err, errlen)))
    return rc;
  const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "LifetimeMs");
  c->lifetime_ms = 0;
  if (!l || cJSON_IsNull(l)) return 0;
  if (!cJSON_IsNumber(l) || l->valuedouble != floor(l->valuedouble))
    return bad(err, errlen, "LifetimeMs: must be an integer from 0 to 300000");
  /* Out of range is the loop's answer (the client's rule); clamped so the cast is defined. */
  double d = l->valuedouble;
  c->lifetime_ms = d < -1 ? -1 : d > 1e9 ? (int64_t)1e9 : (int64_t)d;
  return 0;
}

static int dec_op(const cJSON *o, sfu_cmd_t *c, char *err, size_t errlen) {
  int rc;
  switch (c->op) {
    case SFU_OP_CREATE_MEETING:
      return dec_create_meeting(o, c, err, errlen);
    case SFU_OP_GET_MEETING:
    case SFU_OP_DELETE_MEETING:
    case SFU_OP_GET_STREAM_INDEX:
      return get_uuid(o, "MeetingId", 1, c->meeting_id, err, errlen);
    case SFU_OP_LIST_MEETINGS:
    case SFU_OP_GET_WORKER_STATS:
      return 0;
    case SFU_OP_CREATE_ATTENDEE:
      return dec_create_attendee(o, c, err, errlen);
    case SFU_OP_BATCH_CREATE_ATTENDEE:
      return dec_batch(o, c, err, errlen);
    case SFU_OP_GET_ATTENDEE:
    case SFU_OP_DELETE_ATTENDEE:
    case SFU_OP_LEAVE_MEETING:
    case SFU_OP_GET_ATTENDEE_STATS:
      if ((rc = get_uuid(o, "MeetingId", 1, c->meeting_id, err, errlen))) return rc;
      return get_attendee_id(o, "AttendeeId", 1, c->attendee_id, err, errlen);
    case SFU_OP_LIST_ATTENDEES:
      return dec_list_attendees(o, c, err, errlen);
    case SFU_OP_UPDATE_ATTENDEE_CAPS:
      if ((rc = get_uuid(o, "MeetingId", 1, c->meeting_id, err, errlen)) ||
          (rc = get_attendee_id(o, "AttendeeId", 1, c->attendee_id, err, errlen)))
        return rc;
      return get_caps(o, 1, &c->caps, err, errlen);
    case SFU_OP_SUBSCRIBE:
      return dec_subscribe(o, c, err, errlen);
    case SFU_OP_SEND_DATA_MESSAGE:
      return dec_send_data(o, c, err, errlen);
    default:
      return bad(err, errlen, "op: unknown operation");
  }
}

/* Checks that do not need a parse: size, NUL bytes, nesting. */
static int precheck(const char *buf, size_t len, char *err, size_t errlen) {
  if (len > SFU_CONTROL_MAX_REQUEST)
    return bad(err, errlen, "request: message too large (%zu bytes; the limit is %d)", len,
               SFU_CONTROL_MAX_REQUEST);
  if (len == 0) return bad(err, errlen, "request: empty message (expected a JSON object)");
  if (memchr(buf, 0, len))
    return bad(err, errlen, "request: embedded NUL byte (expected a JSON object)");
  int depth = sfu_control_json_depth(buf, len);
  if (depth < 0) return bad(err, errlen, "request: \\u0000 is not allowed in strings");
  if (depth > SFU_CONTROL_MAX_DEPTH)
    return bad(err, errlen, "request: JSON nested deeper than %d levels", SFU_CONTROL_MAX_DEPTH);
  return 0;
}

static int parse_root(const char *buf, size_t len, cJSON **out, char *err, size_t errlen) {
  const char *end = NULL;
  /* Length-bounded parse; trailing bytes are checked by hand below (cJSON's own
   * require_null_terminated wants the terminator inside the length). */
  cJSON *root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
  if (!root) {
    size_t at = end && end >= buf && end <= buf + len ? (size_t)(end - buf) : 0;
    return bad(err, errlen, "request: malformed JSON near byte %zu", at);
  }
  size_t off = (size_t)(end - buf);
  while (off < len && (buf[off] == ' ' || buf[off] == '\t' || buf[off] == '\n' || buf[off] == '\r'))
    off++;
  if (off != len) {
    cJSON_Delete(root);
    return bad(err, errlen, "request: unexpected data after the JSON value at byte %zu", off);
  }
  if (!cJSON_IsObject(root)) {
    cJSON_Delete(root);
    return bad(err, errlen, "request: must be a JSON object with an \"op\" field");
  }
  *out = root;
  return 0;
}

int sfu_control_decode(const char *buf, size_t len, sfu_cmd_t *cmd, char *err, size_t errlen) {
  memset(cmd, 0, sizeof *cmd);
  cJSON *root = NULL;
  int rc = precheck(buf, len, err, errlen);
  if (!rc) rc = parse_root(buf, len, &root, err, errlen);
  if (rc) return rc;
  /* Before any field is read: which of two "MeetingId"s counts must never come up. */
  if ((rc = sfu_control_check_keys(root, err, errlen))) {
    cJSON_Delete(root);
    return rc;
  }
  const cJSON *op = cJSON_GetObjectItemCaseSensitive(root, "op");
  if (!op) {
    rc = bad(err, errlen, "op: missing (a string such as \"CreateMeeting\")");
  } else if (!cJSON_IsString(op)) {
    rc = bad(err, errlen, "op: must be a string such as \"CreateMeeting\"");
  } else {
    int found = -1;
    for (int i = 0; i < SFU_OP__COUNT; i++)
      if (strcmp(op->valuestring, g_op_names[i]) == 0) found = i;
    if (found < 0) {
      char name[80];
      sfu_control_sanitize(name, sizeof name, op->valuestring, strlen(op->valuestring), 64);
      rc = bad(err, errlen, "op: unknown operation '%s'", name);
    } else {
      cmd->op = (sfu_op_t)found;
      rc = dec_op(root, cmd, err, errlen);
    }
  }
  cJSON_Delete(root);
  if (rc) sfu_cmd_free(cmd);
  return rc;
}

void sfu_cmd_free(sfu_cmd_t *cmd) {
  if (!cmd) return;
  free(cmd->items);
  if (cmd->join_token) {
    memset(cmd->join_token, 0, cmd->join_token_len);
    free(cmd->join_token);
  }
  free(cmd->sdp_offer);
  free(cmd->data_topic);
  free(cmd->data);
  cmd->data_topic = cmd->data = NULL;
  cmd->items = NULL;
  cmd->n_items = 0;
  cmd->join_token = NULL;
  cmd->sdp_offer = NULL;
}
