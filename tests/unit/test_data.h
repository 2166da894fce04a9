/* Loading the captured SDP offers of tests/data/sdp for unit tests.
 *
 * meson passes SFU_SDP_DATA (tests/unit/meson.build) so a build directory anywhere
 * (/tmp/b) finds them; without it (a test run by hand) the loader walks up from the
 * working directory looking for tests/data/sdp. Header-only: each test executable that
 * includes it gets its own static copy. */
#ifndef SFU_TEST_DATA_H
#define SFU_TEST_DATA_H

#include <stdio.h>
#include <stdlib.h>

#include "sfu/sdp.h"

/* Returns a malloc'd, NUL-terminated copy of tests/data/sdp/<name> (at most
 * SFU_SDP_MAX_SIZE bytes) and its length in *len, or NULL with a message on stderr.
 * The caller frees it. */
static inline char *test_load_sdp(const char *name, size_t *len) {
  char path[1024];
  const char *env = getenv("SFU_SDP_DATA");
  FILE *f = NULL;
  if (env && *env) {
    snprintf(path, sizeof path, "%s/%s", env, name);
    f = fopen(path, "rb");
  }
  for (int up = 0; !f && up < 6; up++) {
    size_t off = 0;
    for (int i = 0; i < up; i++) off += (size_t)snprintf(path + off, sizeof path - off, "../");
    snprintf(path + off, sizeof path - off, "tests/data/sdp/%s", name);
    f = fopen(path, "rb");
  }
  if (!f) {
    fprintf(stderr, "cannot find tests/data/sdp/%s (set SFU_SDP_DATA)\n", name);
    return NULL;
  }
  char *buf = malloc(SFU_SDP_MAX_SIZE + 1);
  if (!buf) {
    fclose(f);
    return NULL;
  }
  *len = fread(buf, 1, SFU_SDP_MAX_SIZE, f);
  buf[*len] = '\0';
  fclose(f);
  return buf;
}

#endif
