/* Flag parsing for sfu-worker: getopt_long, strict values, exit code 2 on a bad one. */
#include "worker/options.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sfu/ids.h"
#include "sfu/log.h"
#include "sfu/pacer.h"
#include "sfu/srtp.h"
#include "worker/sfu_version.h"

enum {
  OPT_CONTROL = 256,
  OPT_EVENTS,
  OPT_LOOPS,
  OPT_UDP_PORT,
  OPT_TCP_PORT,
  OPT_ANNOUNCE_IP,
  OPT_WORKER_ID,
  OPT_LOG_LEVEL,
  OPT_IDLE,
  OPT_MAX_DURATION,
  OPT_SRTP_BACKEND,
  OPT_MAX_MEETINGS,
  OPT_PACER_BURST,
  OPT_HELP,
  OPT_VERSION
};

static const struct option g_opts[] = {
    {"control", required_argument, NULL, OPT_CONTROL},
    {"events", required_argument, NULL, OPT_EVENTS},
    {"loops", required_argument, NULL, OPT_LOOPS},
    {"udp-port", required_argument, NULL, OPT_UDP_PORT},
    {"tcp-port", required_argument, NULL, OPT_TCP_PORT},
    {"announce-ip", required_argument, NULL, OPT_ANNOUNCE_IP},
    {"worker-id", required_argument, NULL, OPT_WORKER_ID},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"idle-meeting-timeout", required_argument, NULL, OPT_IDLE},
    {"max-meeting-duration", required_argument, NULL, OPT_MAX_DURATION},
    {"srtp-backend", required_argument, NULL, OPT_SRTP_BACKEND},
    {"max-meetings", required_argument, NULL, OPT_MAX_MEETINGS},
    {"pacer-burst-ms", required_argument, NULL, OPT_PACER_BURST},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0}};

#define STR_(x) #x
#define STR(x) STR_(x)

static void usage(FILE *f) {
  fputs(
      "Usage: sfu-worker [options]\n"
      "The media plane of a meeting service: WebRTC media in, nanomsg control API.\n"
      "\n"
      "  --control URL             nanomsg REP address for commands (tcp://127.0.0.1:7700)\n"
      "  --events URL              nanomsg PUB address for events (tcp://127.0.0.1:7701)\n"
      "  --loops N                 media loops, one thread each (number of online CPUs)\n"
      "  --udp-port P              loop i receives UDP media on P+i (3478)\n"
      "  --tcp-port P              loop i accepts TCP media on P+i (4443)\n"
      "  --announce-ip IP          address given to clients for media (127.0.0.1)\n"
      "  --worker-id ID            id in events and stats (a random UUID)\n"
      "  --log-level LEVEL         trace|debug|info|warn|error|off (info)\n"
      "  --idle-meeting-timeout S  end a meeting with nobody connected after S seconds (300)\n"
      "  --max-meeting-duration S  end any meeting S seconds after creation (86400)\n"
      "  --srtp-backend B          SRTP implementation: openssl (own, on OpenSSL 3) or libsrtp\n"
      "                            (libsrtp2 as packaged) (openssl)\n"
      "  --max-meetings N          meetings this worker holds at most, replicas included;\n"
      "                            more are refused with LimitExceeded (" STR(SFU_DEFAULT_MAX_MEETINGS) ")\n"
      "  --pacer-burst-ms N        what a viewer's pacer lets go at once, in ms of its rate,\n"
      "                            1 to 100 (5; libwebrtc's own pacer uses 40: docs/operations.md)\n"
      "  --help                    this text\n"
      "  --version                 print the version\n"
      "\n"
      "SIGINT or SIGTERM stops the worker cleanly.\n",
      f);
}

static int parse_long(const char *s, long min, long max, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < min || v > max) return -1;
  *out = v;
  return 0;
}

/* Seconds, possibly fractional (tests use short timers), at least 1 ms, at most 10 years. */
static int parse_seconds(const char *s, uint64_t *out_us) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v) || v < 0.001 || v > 315360000.0) return -1;
  *out_us = (uint64_t)(v * 1e6 + 0.5);
  return 0;
}

static int valid_worker_id(const char *s) {
  size_t n = strlen(s);
  return n >= 1 && n <= SFU_WORKER_ID_MAX &&
         strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-") == n;
}

static int copy(char *dst, size_t cap, const char *src) {
  size_t n = strlen(src);
  if (n == 0 || n >= cap) return -1;
  memcpy(dst, src, n + 1);
  return 0;
}

static void defaults(sfu_worker_opts_t *o) {
  memset(o, 0, sizeof *o);
  strcpy(o->control_url, "tcp://127.0.0.1:7700");
  strcpy(o->events_url, "tcp://127.0.0.1:7701");
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  o->loops = n < 1 ? 1 : n > SFU_MAX_LOOPS ? SFU_MAX_LOOPS : (int)n;
  o->udp_port = 3478;
  o->tcp_port = 4443;
  strcpy(o->announce_ip, "127.0.0.1");
  o->log_level = SFU_LOG_INFO;
  o->idle_timeout_us = 300ull * 1000000;
  o->max_duration_us = 86400ull * 1000000;
  o->max_meetings = SFU_DEFAULT_MAX_MEETINGS;
  o->pacer_burst_us = SFU_PACER_DEFAULT_BURST_US;
}

/* Applies one flag; returns 0, or -1 with the reason in *why. */
static int apply(sfu_worker_opts_t *o, int c, const char *v, const char **why) {
  long n;
  unsigned char addr[16];
  switch (c) {
    case OPT_CONTROL:
      *why = "must be a nanomsg URL (e.g. tcp://127.0.0.1:7700)";
      return strstr(v, "://") ? copy(o->control_url, sizeof o->control_url, v) : -1;
    case OPT_EVENTS:
      *why = "must be a nanomsg URL (e.g. tcp://127.0.0.1:7701)";
      return strstr(v, "://") ? copy(o->events_url, sizeof o->events_url, v) : -1;
    case OPT_LOOPS:
      *why = "must be an integer from 1 to 256";
      if (parse_long(v, 1, SFU_MAX_LOOPS, &n)) return -1;
      o->loops = (int)n;
      return 0;
    case OPT_UDP_PORT:
    case OPT_TCP_PORT:
      *why = "must be a port from 1 to 65535";
      if (parse_long(v, 1, 65535, &n)) return -1;
      *(c == OPT_UDP_PORT ? &o->udp_port : &o->tcp_port) = (int)n;
      return 0;
    case OPT_ANNOUNCE_IP:
      *why = "must be an IPv4 or IPv6 address";
      if (inet_pton(AF_INET, v, addr) != 1 && inet_pton(AF_INET6, v, addr) != 1) return -1;
      return copy(o->announce_ip, sizeof o->announce_ip, v);
    case OPT_WORKER_ID:
      *why = "must be 1 to 64 characters of [A-Za-z0-9._:-]";
      return valid_worker_id(v) ? copy(o->worker_id, sizeof o->worker_id, v) : -1;
    case OPT_LOG_LEVEL:
      *why = "must be trace, debug, info, warn, error or off";
      return (o->log_level = sfu_log_level_parse(v)) < 0 ? -1 : 0;
    case OPT_IDLE:
      *why = "must be a number of seconds (at least 0.001)";
      return parse_seconds(v, &o->idle_timeout_us);
    case OPT_MAX_DURATION:
      *why = "must be a number of seconds (at least 0.001)";
      return parse_seconds(v, &o->max_duration_us);
    case OPT_MAX_MEETINGS:
      *why = "must be an integer from 1 to 1000000";
      if (parse_long(v, 1, SFU_MAX_MEETINGS_LIMIT, &n)) return -1;
      o->max_meetings = (size_t)n;
      return 0;
    case OPT_PACER_BURST:
      *why = "must be an integer number of milliseconds from 1 to 100";
      if (parse_long(v, 1, 100, &n)) return -1;
      o->pacer_burst_us = (uint64_t)n * 1000u;
      return 0;
    case OPT_SRTP_BACKEND: {
      *why = "must be openssl or libsrtp";
      sfu_srtp_backend_t b;
      if (sfu_srtp_backend_parse(v, &b) != 0) return -1;
      o->srtp_backend = (int)b;
      return 0;
    }
    default:
      *why = "unknown flag";
      return -1;
  }
}

int sfu_worker_opts_parse(sfu_worker_opts_t *o, int argc, char **argv, FILE *out, FILE *err) {
  defaults(o);
  optind = 1;
  opterr = 0;
  int c, idx = -1;
  while ((c = getopt_long(argc, argv, ":", g_opts, &idx)) != -1) {
    if (c == OPT_HELP) {
      usage(out);
      return 1;
    }
    if (c == OPT_VERSION) {
      fprintf(out, "sfu-worker %s\n", SFU_VERSION);
      return 1;
    }
    if (c == '?' || c == ':') {
      const char *arg = argv[optind - 1];
      fprintf(err, "sfu-worker: %s: %s (see --help)\n", arg,
              c == ':' ? "missing value" : "unknown flag");
      return -1;
    }
    const char *why = "";
    if (apply(o, c, optarg, &why) != 0) {
      fprintf(err, "sfu-worker: --%s '%s': %s\n", g_opts[idx].name, optarg, why);
      return -1;
    }
  }
  if (optind < argc) {
    fprintf(err, "sfu-worker: unexpected argument '%s' (see --help)\n", argv[optind]);
    return -1;
  }
  if (o->udp_port + o->loops - 1 > 65535 || o->tcp_port + o->loops - 1 > 65535) {
    fprintf(err, "sfu-worker: --udp-port/--tcp-port + --loops exceeds port 65535\n");
    return -1;
  }
  if (!o->worker_id[0] && sfu_uuid_v4(o->worker_id) != 0) {
    fprintf(err, "sfu-worker: cannot generate a worker id\n");
    return -1;
  }
  return 0;
}
