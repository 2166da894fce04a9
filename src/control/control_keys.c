/* Refusal of duplicate keys in a request.
 *
 * RFC 8259 section 4: "The names within an object SHOULD be unique", and when they are
 * not, "implementations differ as to what name/value pairs are reported". cJSON keeps
 * every pair and its lookups return the first, while most parsers keep the last: for
 * {"op":"DeleteMeeting","MeetingId":"A","MeetingId":"B"} the worker deleted A where a
 * proxy in front of it (which authorised the request) read B (issue 6). A request whose
 * meaning depends on the parser is refused whole.
 *
 * Keys equal up to ASCII case count as duplicates too. The worker reads its fields
 * case-sensitively and would ignore "meetingid", but a front end that matches names
 * case-insensitively (Jackson's ACCEPT_CASE_INSENSITIVE_PROPERTIES, System.Text.Json's
 * PropertyNameCaseInsensitive, cJSON's own cJSON_GetObjectItem) reads one of the two as
 * MeetingId: the same disagreement. No legitimate request has both spellings. */
#include "control/control_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "sfu/control.h"
#include "sfu/err.h"

#define SMALL_OBJECT 16 /* keys sorted in a stack array; larger objects allocate one */
#define ECHO_MAX 64     /* characters of a client's key echoed in the message */

/* Where the walk is, for the message: "Attendees[2].Capabilities". */
typedef struct {
  char text[160];
  size_t len;
} path_t;

/* Case-insensitive first (what makes a duplicate), then exact, so that of two spellings
 * the message names the upper-case one ("MeetingId" before "meetingid"). */
static int key_order(const void *a, const void *b) {
  const char *x = (*(const cJSON *const *)a)->string, *y = (*(const cJSON *const *)b)->string;
  int c = strcasecmp(x, y);
  return c ? c : strcmp(x, y);
}

/* Appends ".key" (or "key" at the root) or "[i]" to the path; returns the old length
 * to restore. A path too long for the buffer is cut, which only shortens the message. */
static size_t path_push(path_t *p, const char *key, int index) {
  size_t old = p->len;
  char echo[ECHO_MAX + 1];
  int n;
  if (key) {
    sfu_control_sanitize(echo, sizeof echo, key, strlen(key), ECHO_MAX);
    if (!echo[0]) snprintf(echo, sizeof echo, "\"\"");
    n = snprintf(p->text + p->len, sizeof p->text - p->len, "%s%s", p->len ? "." : "", echo);
  } else {
    n = snprintf(p->text + p->len, sizeof p->text - p->len, "[%d]", index);
  }
  if (n > 0)
    p->len += (size_t)n < sizeof p->text - p->len ? (size_t)n : sizeof p->text - p->len - 1;
  return old;
}

static void path_pop(path_t *p, size_t old) {
  p->len = old;
  p->text[old] = 0;
}

static int duplicate(path_t *p, const char *a, const char *b, char *err, size_t errlen) {
  char echo[ECHO_MAX + 1];
  path_push(p, a, 0);
  if (strcmp(a, b) == 0) {
    snprintf(err, errlen, "%s: duplicate key (a name may appear once per object)", p->text);
  } else {
    sfu_control_sanitize(echo, sizeof echo, b, strlen(b), ECHO_MAX);
    snprintf(err, errlen,
             "%s: duplicate key (also written \"%s\"; names are compared ignoring case)", p->text,
             echo);
  }
  return SFU_EINVAL;
}

/* O(k log k) for an object of k keys, so O(n log n) over the request. */
static int check_object(const cJSON *o, path_t *p, char *err, size_t errlen) {
  const cJSON *small[SMALL_OBJECT], **keys = small, *c;
  size_t n = 0;
  cJSON_ArrayForEach(c, o) n++;
  if (n < 2) return 0;
  if (n > SMALL_OBJECT && !(keys = malloc(n * sizeof *keys))) {
    snprintf(err, errlen, "request: out of memory");
    return SFU_EINVAL; /* like every decode error (control.h) */
  }
  n = 0;
  cJSON_ArrayForEach(c, o) keys[n++] = c;
  qsort(keys, n, sizeof *keys, key_order);
  int rc = 0;
  for (size_t i = 1; i < n && !rc; i++)
    if (strcasecmp(keys[i - 1]->string, keys[i]->string) == 0)
      rc = duplicate(p, keys[i - 1]->string, keys[i]->string, err, errlen);
  if (keys != small) free(keys);
  return rc;
}

/* Recursion depth is the JSON nesting, which the raw-byte check bounded beforehand. */
static int walk(const cJSON *v, path_t *p, char *err, size_t errlen) {
  int rc = 0, i = 0;
  const cJSON *c;
  if (cJSON_IsObject(v) && (rc = check_object(v, p, err, errlen))) return rc;
  if (!cJSON_IsObject(v) && !cJSON_IsArray(v)) return 0;
  cJSON_ArrayForEach(c, v) {
    if (!cJSON_IsObject(c) && !cJSON_IsArray(c)) {
      i++;
      continue;
    }
    size_t old = path_push(p, cJSON_IsObject(v) ? c->string : NULL, i++);
    rc = walk(c, p, err, errlen);
    path_pop(p, old);
    if (rc) return rc;
  }
  return 0;
}

int sfu_control_check_keys(const cJSON *root, char *err, size_t errlen) {
  path_t p = {{0}, 0};
  return walk(root, &p, err, errlen);
}
