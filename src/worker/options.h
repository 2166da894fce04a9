/* Command-line flags of sfu-worker (docs/operations.md lists them). */
#ifndef SFU_WORKER_OPTIONS_H
#define SFU_WORKER_OPTIONS_H

#include <stdint.h>
#include <stdio.h>

#define SFU_WORKER_ID_MAX 64
#define SFU_MAX_LOOPS 256
/* --max-meetings default; docs/operations.md says how it was sized. */
#define SFU_DEFAULT_MAX_MEETINGS 10000
#define SFU_MAX_MEETINGS_LIMIT 1000000 /* largest value the flag accepts */

/* Filled once by sfu_worker_opts_parse in main(), read-only afterwards (all threads). */
typedef struct {
  char control_url[256];
  char events_url[256];
  int loops;
  int udp_port, tcp_port; /* loop i uses port + i */
  char announce_ip[64];
  char worker_id[SFU_WORKER_ID_MAX + 1];
  int log_level;            /* sfu_log_level_t */
  uint64_t idle_timeout_us; /* --idle-meeting-timeout */
  uint64_t max_duration_us; /* --max-meeting-duration */
  int srtp_backend;         /* --srtp-backend: sfu_srtp_backend_t (0: OpenSSL) */
  size_t max_meetings;      /* --max-meetings */
  uint64_t pacer_burst_us;  /* --pacer-burst-ms: the viewers' pacers' burst (issue 8) */
} sfu_worker_opts_t;

/* Returns 0 to run, 1 if --help/--version was printed (exit 0), -1 on a bad flag (a
 * message naming it went to err; exit 2). */
int sfu_worker_opts_parse(sfu_worker_opts_t *o, int argc, char **argv, FILE *out, FILE *err);

#endif
