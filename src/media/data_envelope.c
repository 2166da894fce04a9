/* Data messages: parse and validate the client's message, write the envelope and the
 * refusal (include/sfu/data_envelope.h, docs/data-messages.md). */
#include "sfu/data_envelope.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *sfu_data_code_name(sfu_data_code_t c) {
  switch (c) {
  case SFU_DATA_OK: return "Ok";
  case SFU_DATA_BAD_REQUEST: return "BadRequest";
  case SFU_DATA_BAD_TOPIC: return "BadTopic";
  case SFU_DATA_TOO_LARGE: return "TooLarge";
  case SFU_DATA_THROTTLED: return "Throttled";
  default: return "BadRequest";
  }
}

static sfu_data_code_t fail(sfu_data_code_t c, char *err, size_t errlen, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return c;
}

/* RFC 3629 §4 (the table of well-formed byte sequences). */
int sfu_data_utf8_valid(const uint8_t *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    uint8_t c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t n;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) n = 1;
    else if (c == 0xE0) n = 2, lo = 0xA0;
    else if (c >= 0xE1 && c <= 0xEC) n = 2;
    else if (c == 0xED) n = 2, hi = 0x9F; /* no UTF-16 surrogates */
    else if (c >= 0xEE && c <= 0xEF) n = 2;
    else if (c == 0xF0) n = 3, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3) n = 3;
    else if (c == 0xF4) n = 3, hi = 0x8F; /* nothing above U+10FFFF */
    else return 0;                        /* 0x80..0xC1 (continuation, overlong), 0xF5.. */
    if (len - i - 1 < n) return 0;
    if (s[i + 1] < lo || s[i + 1] > hi) return 0;
    for (size_t k = 2; k <= n; k++)
      if (s[i + k] < 0x80 || s[i + k] > 0xBF) return 0;
    i += n + 1;
  }
  return 1;
}

/* 1 if the JSON text has a \u0000 escape. A backslash appears only inside strings in
 * JSON, and "\\" is skipped as a pair, so a backslash followed by u0000 is an escape. */
static int has_nul_escape(const uint8_t *s, size_t len) {
  for (size_t i = 0; i + 1 < len; i++) {
    if (s[i] != '\\') continue;
    if (s[i + 1] == 'u' && i + 5 < len && !memcmp(s + i + 2, "0000", 4)) return 1;
    i++; /* the escaped character */
  }
  return 0;
}

sfu_data_code_t sfu_data_validate(const char *topic, size_t topic_len, const char *data,
                                  size_t data_len, int64_t lifetime_ms, char *err,
                                  size_t errlen) {
  (void)data;
  if (topic_len == 0 || topic_len > SFU_DATA_TOPIC_MAX)
    return fail(SFU_DATA_BAD_TOPIC, err, errlen, "topic: %zu characters (1..%d)", topic_len,
                SFU_DATA_TOPIC_MAX);
  for (size_t i = 0; i < topic_len; i++) {
    unsigned char c = (unsigned char)topic[i];
    /* Printable ASCII without the space: 0x21..0x7E. */
    if (c < 0x21 || c > 0x7E)
      return fail(SFU_DATA_BAD_TOPIC, err, errlen,
                  "topic: character %zu is not printable ASCII without spaces", i + 1);
  }
  /* "sfu:" topics are the worker's own (sfu:audio): nobody else may forge them, the
   * control plane included (its messages show as sender "sfu" on any other topic). */
  if (topic_len >= 4 && !memcmp(topic, "sfu:", 4))
    return fail(SFU_DATA_BAD_TOPIC, err, errlen, "topic: \"sfu:\" topics are reserved for the worker");
  if (topic_len + data_len > SFU_DATA_PAYLOAD_MAX)
    return fail(SFU_DATA_TOO_LARGE, err, errlen, "topic and data: %zu bytes (at most %d)",
                topic_len + data_len, SFU_DATA_PAYLOAD_MAX);
  if (lifetime_ms < 0 || lifetime_ms > (int64_t)SFU_DATA_LIFETIME_MAX_MS)
    return fail(SFU_DATA_BAD_REQUEST, err, errlen, "lifetimeMs: %lld (0..%u)",
                (long long)lifetime_ms, SFU_DATA_LIFETIME_MAX_MS);
  return SFU_DATA_OK;
}

/* The member named `name` (exact case) of obj; *dup set if it appears more than once. */
static const cJSON *member(const cJSON *obj, const char *name, int *dup) {
  const cJSON *found = NULL;
  for (const cJSON *it = obj->child; it; it = it->next) {
    if (!it->string || strcmp(it->string, name)) continue;
    if (found) *dup = 1;
    else found = it;
  }
  return found;
}

sfu_data_code_t sfu_data_parse(const uint8_t *buf, size_t len, sfu_data_in_t *out, char *err,
                               size_t errlen) {
  out->topic[0] = out->data[0] = out->echo_topic[0] = 0;
  out->topic_len = out->data_len = 0;
  out->lifetime_ms = 0;
  if (err && errlen) err[0] = 0;
  if (len > SFU_DATA_RAW_MAX)
    return fail(SFU_DATA_TOO_LARGE, err, errlen, "message: %zu bytes (topic and data at most %d)",
                len, SFU_DATA_PAYLOAD_MAX);
  if (len == 0) return fail(SFU_DATA_BAD_REQUEST, err, errlen, "message: empty");
  if (memchr(buf, 0, len)) return fail(SFU_DATA_BAD_REQUEST, err, errlen, "message: NUL byte");
  if (!sfu_data_utf8_valid(buf, len))
    return fail(SFU_DATA_BAD_REQUEST, err, errlen, "message: invalid UTF-8");
  if (has_nul_escape(buf, len))
    return fail(SFU_DATA_BAD_REQUEST, err, errlen, "message: \\u0000 is not allowed");
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts((const char *)buf, len, &end, 0);
  if (!root) return fail(SFU_DATA_BAD_REQUEST, err, errlen, "message: not JSON");
  size_t off = (size_t)(end - (const char *)buf);
  while (off < len && (buf[off] == ' ' || buf[off] == '\t' || buf[off] == '\n' || buf[off] == '\r'))
    off++;
  sfu_data_code_t rc = SFU_DATA_OK;
  if (off != len) {
    rc = fail(SFU_DATA_BAD_REQUEST, err, errlen, "message: data after the JSON value");
    goto out;
  }
  if (!cJSON_IsObject(root)) {
    rc = fail(SFU_DATA_BAD_REQUEST, err, errlen, "message: not a JSON object");
    goto out;
  }
  int dup = 0;
  const cJSON *t = member(root, "topic", &dup);
  const cJSON *d = member(root, "data", &dup);
  const cJSON *l = member(root, "lifetimeMs", &dup);
  /* The topic is echoed in any refusal once we know it is a string. cJSON decoded the
   * escapes; \u0000 was refused above, so strlen is its length. */
  size_t tlen = cJSON_IsString(t) ? strlen(t->valuestring) : 0;
  if (cJSON_IsString(t) && tlen <= SFU_DATA_ECHO_TOPIC_MAX) memcpy(out->echo_topic, t->valuestring, tlen + 1);
  if (dup) {
    rc = fail(SFU_DATA_BAD_REQUEST, err, errlen, "message: a field is given twice");
    goto out;
  }
  if (!t || !d || !l) {
    rc = fail(SFU_DATA_BAD_REQUEST, err, errlen, "%s: missing", !t ? "topic" : !d ? "data" : "lifetimeMs");
    goto out;
  }
  if (!cJSON_IsString(t) || !cJSON_IsString(d) || !cJSON_IsNumber(l)) {
    rc = fail(SFU_DATA_BAD_REQUEST, err, errlen, "%s: must be a %s",
              !cJSON_IsString(t) ? "topic" : !cJSON_IsString(d) ? "data" : "lifetimeMs",
              !cJSON_IsNumber(l) && cJSON_IsString(t) && cJSON_IsString(d) ? "number" : "string");
    goto out;
  }
  size_t dlen = strlen(d->valuestring);
  double lv = l->valuedouble;
  if (lv != floor(lv)) {
    rc = fail(SFU_DATA_BAD_REQUEST, err, errlen, "lifetimeMs: must be a whole number");
    goto out;
  }
  /* Clamp before the cast (a double far out of range is undefined as an int64). */
  int64_t life = lv < -1 ? -1 : lv > 1e9 ? (int64_t)1e9 : (int64_t)lv;
  rc = sfu_data_validate(t->valuestring, tlen, d->valuestring, dlen, life, err, errlen);
  if (rc) goto out;
  memcpy(out->topic, t->valuestring, tlen + 1);
  out->topic_len = tlen;
  memcpy(out->data, d->valuestring, dlen + 1);
  out->data_len = dlen;
  out->lifetime_ms = (uint32_t)life;
out:
  cJSON_Delete(root);
  return rc;
}

/* ---- writing ---- */

/* JSON string body (RFC 8259 §7): quote, backslash and controls escaped; the rest,
 * already valid UTF-8, copied. Returns the end, or NULL if it would pass `end`. */
static char *put_escaped(char *p, char *end, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\') {
      if (p >= end) return NULL;
      *p++ = (char)c;
      continue;
    }
    if (end - p < 6) return NULL;
    *p++ = '\\';
    switch (c) {
    case '"': *p++ = '"'; break;
    case '\\': *p++ = '\\'; break;
    case '\n': *p++ = 'n'; break;
    case '\r': *p++ = 'r'; break;
    case '\t': *p++ = 't'; break;
    case '\b': *p++ = 'b'; break;
    case '\f': *p++ = 'f'; break;
    default:
      *p++ = 'u';
      *p++ = '0';
      *p++ = '0';
      *p++ = hex[c >> 4];
      *p++ = hex[c & 15];
    }
  }
  return p;
}

static char *put_raw(char *p, char *end, const char *s) {
  size_t n = strlen(s);
  if (!p || (size_t)(end - p) < n) return NULL;
  memcpy(p, s, n);
  return p + n;
}

static char *put_str(char *p, char *end, const char *s, size_t n) {
  if (!(p = put_raw(p, end, "\""))) return NULL;
  if (!(p = put_escaped(p, end, s, n))) return NULL;
  return put_raw(p, end, "\"");
}

size_t sfu_data_envelope_bound(const sfu_data_out_t *f) {
  return 6 * (strlen(f->topic) + f->data_len + strlen(f->sender_attendee_id) +
              strlen(f->sender_external_user_id)) + 160;
}

size_t sfu_data_envelope_write(char *buf, size_t cap, const sfu_data_out_t *f) {
  char *p = buf, *end = buf + cap;
  char num[64];
  p = put_raw(p, end, "{\"topic\":");
  p = p ? put_str(p, end, f->topic, strlen(f->topic)) : NULL;
  p = put_raw(p, end, ",\"data\":");
  p = p ? put_str(p, end, f->data, f->data_len) : NULL;
  snprintf(num, sizeof num, ",\"lifetimeMs\":%u", f->lifetime_ms);
  p = put_raw(p, end, num);
  p = put_raw(p, end, ",\"senderAttendeeId\":");
  p = p ? put_str(p, end, f->sender_attendee_id, strlen(f->sender_attendee_id)) : NULL;
  p = put_raw(p, end, ",\"senderExternalUserId\":");
  p = p ? put_str(p, end, f->sender_external_user_id, strlen(f->sender_external_user_id)) : NULL;
  snprintf(num, sizeof num, ",\"timestampMs\":%llu}", (unsigned long long)f->timestamp_ms);
  p = put_raw(p, end, num);
  return p ? (size_t)(p - buf) : 0;
}

size_t sfu_data_refusal_write(char *buf, size_t cap, sfu_data_code_t code, const char *message,
                              const char *topic) {
  char *p = buf, *end = buf + cap;
  p = put_raw(p, end, "{\"error\":{\"code\":\"");
  p = put_raw(p, end, sfu_data_code_name(code));
  p = put_raw(p, end, "\",\"message\":");
  p = p ? put_str(p, end, message ? message : "", message ? strlen(message) : 0) : NULL;
  p = put_raw(p, end, "},\"topic\":");
  p = p ? put_str(p, end, topic ? topic : "", topic ? strlen(topic) : 0) : NULL;
  p = put_raw(p, end, "}");
  return p ? (size_t)(p - buf) : 0;
}
