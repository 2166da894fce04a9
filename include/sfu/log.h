/* Logging, tagged by module, with levels.
 *
 * Thread-safe: each record is formatted into a local buffer and written with one
 * write(2) to stderr, so lines from several loops never interleave. SFU_TRACE is
 * compiled out unless SFU_ENABLE_TRACE is defined (debug builds). */
#ifndef SFU_LOG_H
#define SFU_LOG_H

#include <stdarg.h>

typedef enum {
  SFU_LOG_TRACE = 0,
  SFU_LOG_DEBUG,
  SFU_LOG_INFO,
  SFU_LOG_WARN,
  SFU_LOG_ERROR,
  SFU_LOG_OFF
} sfu_log_level_t;

/* Set once at start-up, before threads exist (read without a lock afterwards). */
void sfu_log_set_level(sfu_log_level_t level);
sfu_log_level_t sfu_log_get_level(void);
/* "trace" | "debug" | "info" | "warn" | "error" | "off"; returns -1 if unknown. */
int sfu_log_level_parse(const char *name);

void sfu_log_write(sfu_log_level_t level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define SFU_LOG_(lvl, mod, ...)                                              \
  do {                                                                       \
    if ((lvl) >= sfu_log_get_level()) sfu_log_write((lvl), (mod), __VA_ARGS__); \
  } while (0)

#ifdef SFU_ENABLE_TRACE
#define SFU_TRACE(mod, ...) SFU_LOG_(SFU_LOG_TRACE, mod, __VA_ARGS__)
#else
#define SFU_TRACE(mod, ...) do { } while (0)
#endif
#define SFU_DEBUG(mod, ...) SFU_LOG_(SFU_LOG_DEBUG, mod, __VA_ARGS__)
#define SFU_INFO(mod, ...) SFU_LOG_(SFU_LOG_INFO, mod, __VA_ARGS__)
#define SFU_WARN(mod, ...) SFU_LOG_(SFU_LOG_WARN, mod, __VA_ARGS__)
#define SFU_ERROR(mod, ...) SFU_LOG_(SFU_LOG_ERROR, mod, __VA_ARGS__)

#endif
