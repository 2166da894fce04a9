/* libFuzzer target: control requests (sfu_control_decode), the one parser every byte of
 * a control plane's message goes through. Beyond "no crash, no sanitizer report, no
 * leak": decoding is deterministic; an error message is printable ASCII (it is echoed in
 * the reply); and, against an independent O(k^2) check on cJSON's own tree, a request
 * is accepted only if no object in it has two keys equal up to ASCII case, and refused
 * as a duplicate only if one has (issue 6). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "sfu/control.h"

#define CHECK(x)       \
  do {                 \
    if (!(x)) abort(); \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int has_duplicate(const cJSON *v) {
  const cJSON *a, *b;
  if (cJSON_IsObject(v))
    for (a = v->child; a; a = a->next)
      for (b = a->next; b; b = b->next)
        if (strcasecmp(a->string, b->string) == 0) return 1;
  cJSON_ArrayForEach(a, v) if (has_duplicate(a)) return 1;
  return 0;
}

/* The duplicate refusal is told by how its message ends: its start echoes client keys,
 * and other messages echo client text that may well say "duplicate key". */
static int ends_with(const char *s, const char *tail) {
  size_t n = strlen(s), t = strlen(tail);
  return n >= t && strcmp(s + n - t, tail) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *buf = (const char *)data;
  char err[SFU_CONTROL_ERRLEN], err2[SFU_CONTROL_ERRLEN];
  sfu_cmd_t cmd, cmd2;
  err[0] = 0;
  int rc = sfu_control_decode(buf, size, &cmd, err, sizeof err);
  int rc2 = sfu_control_decode(buf, size, &cmd2, err2, sizeof err2);
  CHECK(rc == rc2);
  if (rc) {
    CHECK(strcmp(err, err2) == 0 && err[0]);
    for (const char *c = err; *c; c++) CHECK(*c >= 0x20 && *c < 0x7f);
  } else {
    CHECK(cmd.op == cmd2.op && strcmp(cmd.meeting_id, cmd2.meeting_id) == 0);
    sfu_cmd_free(&cmd);
    sfu_cmd_free(&cmd2);
  }
  /* The oracle recurses: only on what the decoder's own nesting check lets through. */
  int depth = sfu_control_json_depth(buf, size);
  if (depth < 0 || depth > SFU_CONTROL_MAX_DEPTH || memchr(buf, 0, size)) return 0;
  cJSON *root = cJSON_ParseWithLength(buf, size);
  if (!root) return 0;
  int dup = has_duplicate(root);
  if (rc == 0) CHECK(!dup);
  if (ends_with(err, "(a name may appear once per object)") ||
      ends_with(err, "; names are compared ignoring case)"))
    CHECK(dup);
  cJSON_Delete(root);
  return 0;
}
