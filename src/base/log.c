#include "sfu/log.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static sfu_log_level_t g_level = SFU_LOG_INFO;
static const char *const g_names[] = {"trace", "debug", "info", "warn", "error", "off"};

void sfu_log_set_level(sfu_log_level_t level) { g_level = level; }
sfu_log_level_t sfu_log_get_level(void) { return g_level; }

int sfu_log_level_parse(const char *name) {
  for (int i = 0; i <= SFU_LOG_OFF; i++)
    if (name && strcmp(name, g_names[i]) == 0) return i;
  return -1;
}

void sfu_log_write(sfu_log_level_t level, const char *module, const char *fmt, ...) {
  char line[1024];
  int n = snprintf(line, sizeof line, "[%s] %s: ", g_names[level], module);
  va_list ap;
  va_start(ap, fmt);
  if (n > 0 && (size_t)n < sizeof line) n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof line - 1) n = (int)sizeof line - 2;
  line[n++] = '\n';
  /* One write per record: atomic for pipes up to PIPE_BUF, never interleaved. */
  ssize_t w = write(STDERR_FILENO, line, (size_t)n);
  (void)w;
}
