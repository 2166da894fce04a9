/* Loading the captured SDP offers of tests/data/sdp and RTP packets of tests/data/rtp
 * for unit tests.
 *
 * meson passes SFU_SDP_DATA and SFU_RTP_DATA (tests/unit/meson.build) so a build
 * directory anywhere (/tmp/b) finds them; without them (a test run by hand) the loader
 * walks up from the working directory looking for tests/data/<dir>. Header-only: each
 * test executable that includes it gets its own static copy. */
#ifndef SFU_TEST_DATA_H
#define SFU_TEST_DATA_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "sfu/sdp.h"

/* Opens tests/data/<dir>/<name> ("rb"): from the directory in $env first, else walking
 * up from the working directory. NULL if not found. */
static inline FILE *test_open_data(const char *env_name, const char *dir, const char *name) {
  char path[1024];
  const char *env = getenv(env_name);
  FILE *f = NULL;
  if (env && *env) {
    snprintf(path, sizeof path, "%s/%s", env, name);
    f = fopen(path, "rb");
  }
  for (int up = 0; !f && up < 6; up++) {
    size_t off = 0;
    for (int i = 0; i < up; i++) off += (size_t)snprintf(path + off, sizeof path - off, "../");
    snprintf(path + off, sizeof path - off, "tests/data/%s/%s", dir, name);
    f = fopen(path, "rb");
  }
  return f;
}

/* Returns a malloc'd, NUL-terminated copy of tests/data/sdp/<name> (at most
 * SFU_SDP_MAX_SIZE bytes) and its length in *len, or NULL with a message on stderr.
 * The caller frees it. */
static inline char *test_load_sdp(const char *name, size_t *len) {
  FILE *f = test_open_data("SFU_SDP_DATA", "sdp", name);
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

/* Reads tests/data/rtp/<name> (one whole RTP packet, tests/data/rtp/README.md) into
 * buf[cap]; its length in *len. Returns 1, or 0 if there is no such file (quietly: a
 * caller counts a capture's packets by loading <case>-0, -1, ... until one is missing)
 * or it is larger than cap (with a message). */
static inline int test_load_rtp(const char *name, uint8_t *buf, size_t cap, size_t *len) {
  FILE *f = test_open_data("SFU_RTP_DATA", "rtp", name);
  if (!f) return 0;
  *len = fread(buf, 1, cap, f);
  int more = fgetc(f) != EOF;
  fclose(f);
  if (more) fprintf(stderr, "tests/data/rtp/%s: more than %zu bytes\n", name, cap);
  return !more;
}

#endif
