/* The media loop's cost per wake-up and per received packet, on the REAL worker over
 * loopback sockets (issue 6, "Also asked").
 *
 * Method. The bench spawns build/sfu-worker (--loops 1, so the one media loop thread
 * handles everything), creates a meeting and an attendee over the control API
 * (nanomsg), subscribes with a captured Chromium offer (tests/data/sdp,
 * chromium-audio-datachannel.sdp: Opus with transport-cc, plus a data channel) carrying
 * its own ICE credentials and fingerprint, and connects one synthetic client over a UDP
 * socket on 127.0.0.1: tests/sim/sim_client.c (ICE controlling, DTLS client, SRTP from
 * the worker's own cores) and, with --dc, an SCTP association in the client role
 * (src/proto/sctp.c) that opens one data channel. Once connected (and the channel open)
 * it sends SRTP audio packets (Opus-sized, 120 bytes of payload, the transport-wide
 * sequence number extension unless --no-twcc) at --rate packets per second, consent
 * checks every 5 s as browsers do (RFC 7675 §5.1), and --dc-rate data-channel messages
 * per second. After --warmup seconds it measures --seconds:
 *   - worker CPU: /proc/PID/task/TID/schedstat (ns on CPU, exact) for every thread of
 *     the worker, and for the loop thread alone;
 *   - wake-ups: the loop thread's voluntary context switches (/proc/.../status): each
 *     is one epoll_wait that slept and was woken, i.e. one loop turn that started from
 *     idle (a turn that finds more work without sleeping is not a wake-up);
 *   - datagrams the worker received in the window: what the client sent (loopback loses
 *     nothing; the worker's own UDP counters confirm it at the end);
 *   - under callgrind (--wrap 'valgrind --tool=callgrind ...'): the instruction count
 *     of the window, zeroed and dumped with callgrind_control around it.
 * The loop thread is the worker's thread named "sfu-loop-0" if there is one, otherwise
 * the last thread the worker created (the loop threads start after nanomsg's).
 *
 * The client is one process with its own clock: it paces RTP on CLOCK_MONOTONIC and
 * drives its cores with now_us, like the worker. Owner of everything: main, one thread.
 *
 * Nothing here is pass/fail: bench/run_loop.sh collects the JSON lines into
 * bench/results/loop.json and bench/plot_loop.py draws docs/img/bench_loop.png.
 *
 * Usage: bench_loop --worker PATH [--wrap 'CMD ARGS'] [--rate PPS] [--seconds S]
 *                   [--warmup S] [--no-twcc] [--dc] [--dc-rate MSGS] [--label L]
 *                   [--scenario NAME] [--cg-out FILE] [--json] [--sdp FILE]
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>

#include "sfu/bytes.h"
#include "sfu/demux.h"
#include "sfu/dtls.h"
#include "sfu/sctp.h"
#include "sfu/srtp.h"
#include "sim_client.h"

#ifndef BENCH_SDP_DIR
#define BENCH_SDP_DIR "tests/data/sdp"
#endif

#define RTP_PAYLOAD 120  /* an Opus frame at ~48 kbps, 20 ms */
#define TWCC_EXT_ID 3    /* chromium-audio-datachannel.sdp: a=extmap:3 ...transport-wide-cc... */
#define SSRC 1625102388u /* the offer's a=ssrc */
#define CONSENT_US 5000000u

typedef struct {
  const char *worker, *wrap, *label, *scenario, *cg_out, *sdp;
  double rate, seconds, warmup, dc_rate;
  int twcc, dc, json;
} opts_t;

static opts_t O = {NULL, NULL, "", "", NULL, BENCH_SDP_DIR "/chromium-audio-datachannel.sdp",
                   50,   20,   3,  0,  1,    0,
                   0};

static pid_t g_worker = -1;
static char g_log[64] = "";

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "bench_loop: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  if (g_worker > 0) kill(g_worker, SIGKILL);
  if (g_log[0]) fprintf(stderr, "bench_loop: worker log in %s\n", g_log);
  exit(1);
}

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- ports and the worker process ---- */

static int port_free(int port) {
  for (int k = 0; k < 2; k++) {
    int s = socket(AF_INET, k ? SOCK_DGRAM : SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int ok = bind(s, (struct sockaddr *)&a, sizeof a) == 0;
    close(s);
    if (!ok) return 0;
  }
  return 1;
}

/* Four consecutive free ports below the ephemeral range (as tests/integration does). */
static int port_block(void) {
  srand((unsigned)(getpid() ^ now_us()));
  for (int i = 0; i < 500; i++) {
    int base = 20000 + rand() % 12000;
    if (port_free(base) && port_free(base + 1) && port_free(base + 2) && port_free(base + 3))
      return base;
  }
  die("no free ports");
  return 0;
}

static void spawn_worker(int base) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "exec %s %s --loops 1 --control tcp://127.0.0.1:%d --events tcp://127.0.0.1:%d "
           "--udp-port %d --tcp-port %d --announce-ip 127.0.0.1 --log-level warn",
           O.wrap ? O.wrap : "", O.worker, base, base + 1, base + 2, base + 3);
  snprintf(g_log, sizeof g_log, "/tmp/bench_loop-%d.log", (int)getpid());
  pid_t p = fork();
  if (p < 0) die("fork: %s", strerror(errno));
  if (p == 0) {
    int fd = open(g_log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(127);
  }
  g_worker = p;
}

/* ---- control API ---- */

static int g_req = -1;

static cJSON *request(const char *fmt, ...) {
  char msg[16384];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof msg) die("request too long");
  if (nn_send(g_req, msg, (size_t)n, 0) < 0) return NULL;
  char *rep = NULL;
  int r = nn_recv(g_req, &rep, NN_MSG, 0);
  if (r < 0) return NULL;
  cJSON *j = cJSON_ParseWithLength(rep, (size_t)r);
  nn_freemsg(rep);
  return j;
}

static cJSON *ok(cJSON *j, const char *what) {
  if (!j || !cJSON_IsTrue(cJSON_GetObjectItem(j, "ok"))) {
    char *s = j ? cJSON_PrintUnformatted(j) : NULL;
    die("%s failed: %s", what, s ? s : "(no reply)");
  }
  return j;
}

static const char *str(cJSON *o, const char *path1, const char *path2) {
  cJSON *x = cJSON_GetObjectItem(o, path1);
  if (path2) x = cJSON_GetObjectItem(x, path2);
  if (!cJSON_IsString(x)) die("reply without %s.%s", path1, path2 ? path2 : "");
  return x->valuestring;
}

static void control_connect(int base) {
  g_req = nn_socket(AF_SP, NN_REQ);
  char url[64];
  snprintf(url, sizeof url, "tcp://127.0.0.1:%d", base);
  if (g_req < 0 || nn_connect(g_req, url) < 0) die("nanomsg: %s", nn_strerror(nn_errno()));
  int to = 1000;
  nn_setsockopt(g_req, NN_SOL_SOCKET, NN_RCVTIMEO, &to, sizeof to);
  /* A worker under valgrind takes seconds to start. */
  for (int i = 0; i < 120; i++) {
    cJSON *j = request("{\"op\":\"GetWorkerStats\"}");
    if (j && cJSON_IsTrue(cJSON_GetObjectItem(j, "ok"))) {
      cJSON_Delete(j);
      to = 30000;
      nn_setsockopt(g_req, NN_SOL_SOCKET, NN_RCVTIMEO, &to, sizeof to);
      return;
    }
    cJSON_Delete(j);
    int st;
    if (waitpid(g_worker, &st, WNOHANG) == g_worker) die("worker exited at start");
  }
  die("worker not answering");
}

/* Loops[0].Sockets.Udp.<field> from GetWorkerStats (0 if absent). */
static double udp_counter(const char *field) {
  cJSON *j = ok(request("{\"op\":\"GetWorkerStats\"}"), "GetWorkerStats");
  cJSON *loops = cJSON_GetObjectItem(j, "Loops");
  cJSON *l0 = cJSON_GetArrayItem(loops, 0);
  cJSON *v =
      cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(l0, "Sockets"), "Udp"), field);
  double d = cJSON_IsNumber(v) ? v->valuedouble : 0;
  cJSON_Delete(j);
  return d;
}

/* ---- offer / answer ---- */

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) die("%s: %s", path, strerror(errno));
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)n + 1);
  if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) die("%s: read error", path);
  b[n] = '\0';
  fclose(f);
  return b;
}

/* The captured offer with our credentials; without twcc the transport-wide-cc extmap
 * goes (what aiortc 1.4 offers for audio), without --dc the application section goes. */
static char *make_offer(const char *ufrag, const char *pwd, const char *fp) {
  char *tpl = read_file(O.sdp);
  size_t cap = strlen(tpl) + 1024;
  char *out = malloc(cap);
  size_t o = 0;
  int in_app = 0;
  for (const char *p = tpl; *p;) {
    const char *nl = strchr(p, '\n');
    const char *next = nl ? nl + 1 : p + strlen(p);
    size_t l = (size_t)(next - p);
    if (strncmp(p, "m=", 2) == 0) in_app = strncmp(p, "m=application", 13) == 0;
    int twcc_line = strncmp(p, "a=extmap:", 9) == 0 && memmem(p, l, "transport-wide-cc", 17);
    twcc_line |= strncmp(p, "a=rtcp-fb:", 10) == 0 && memmem(p, l, "transport-cc", 12);
    if ((in_app && !O.dc) || (!O.twcc && twcc_line)) {
      /* dropped */
    } else if (!O.dc && strncmp(p, "a=group:BUNDLE", 14) == 0) {
      o += (size_t)snprintf(out + o, cap - o, "a=group:BUNDLE 0\r\n");
    } else if (strncmp(p, "a=ice-ufrag:", 12) == 0) {
      o += (size_t)snprintf(out + o, cap - o, "a=ice-ufrag:%s\r\n", ufrag);
    } else if (strncmp(p, "a=ice-pwd:", 10) == 0) {
      o += (size_t)snprintf(out + o, cap - o, "a=ice-pwd:%s\r\n", pwd);
    } else if (strncmp(p, "a=fingerprint:", 14) == 0) {
      o += (size_t)snprintf(out + o, cap - o, "a=fingerprint:sha-256 %s\r\n", fp);
    } else {
      memcpy(out + o, p, l);
      o += l;
    }
    p = next;
  }
  out[o] = '\0';
  free(tpl);
  return out;
}

static void answer_attr(const char *answer, const char *attr, char *out, size_t cap) {
  char key[64];
  snprintf(key, sizeof key, "a=%s:", attr);
  const char *p = strstr(answer, key);
  if (!p) die("answer without a=%s", attr);
  p += strlen(key);
  size_t n = strcspn(p, "\r\n");
  if (n >= cap) die("a=%s too long", attr);
  memcpy(out, p, n);
  out[n] = '\0';
}

/* JSON string escaping for the offer (CR LF only need it). */
static char *json_escape(const char *s) {
  char *o = malloc(strlen(s) * 2 + 1), *q = o;
  for (; *s; s++) {
    if (*s == '\r')
      *q++ = '\\', *q++ = 'r';
    else if (*s == '\n')
      *q++ = '\\', *q++ = 'n';
    else if (*s == '"' || *s == '\\')
      *q++ = '\\', *q++ = *s;
    else
      *q++ = *s;
  }
  *q = '\0';
  return o;
}

/* ---- the client ---- */

typedef struct {
  int fd;
  sim_client_t cli;
  sfu_sctp_group_t *sg;
  sfu_sctp_t *sctp;
  int channel_open;
  uint16_t seq, twcc_seq;
  uint32_t ts;
  uint64_t sent, sent_rtp, sent_dc, recv, recv_rtcp;
  uint64_t heartbeats; /* SCTP HEARTBEAT chunks from the worker (its idle timer works) */
} client_t;

static void cli_send(void *user, const uint8_t *buf, size_t len) {
  client_t *c = user;
  if (send(c->fd, buf, len, 0) == (ssize_t)len) c->sent++;
}

static void cli_app(void *user, const uint8_t *buf, size_t len) {
  client_t *c = user;
  /* RFC 4960 §3: chunks (type, flags, length) after the 12-byte common header. */
  for (size_t off = 12; off + 4 <= len;) {
    size_t cl = (size_t)buf[off + 2] << 8 | buf[off + 3];
    if (buf[off] == 4) c->heartbeats++;
    if (cl < 4) break;
    off += (cl + 3) & ~(size_t)3;
  }
  if (c->sctp) sfu_sctp_handle_input(c->sctp, now_us(), buf, len);
}

static void sctp_out(void *user, const uint8_t *buf, size_t len) {
  client_t *c = user;
  if (c->cli.dtls) sfu_dtls_send(c->cli.dtls, buf, len);
}

static void sctp_state(void *user, sfu_sctp_state_t st) {
  client_t *c = user;
  if (st == SFU_SCTP_ESTABLISHED)
    sfu_sctp_open_channel(c->sctp, now_us(), 1, "bench", "", SFU_DCEP_RELIABLE, 0);
}

static void sctp_channel(void *user, const sfu_sctp_channel_t *ch, int open) {
  client_t *c = user;
  c->channel_open = open;
}

static void send_rtp(client_t *c) {
  uint8_t b[1500];
  memset(b, 0, sizeof b);
  size_t n = 12;
  b[0] = 0x80;
  b[1] = 111;
  sfu_wr16(b + 2, c->seq++);
  sfu_wr32(b + 4, c->ts);
  c->ts += 960;
  sfu_wr32(b + 8, SSRC);
  if (O.twcc) {
    b[0] |= 0x10; /* X: RFC 8285 one-byte extensions, one 32-bit word */
    sfu_wr16(b + 12, 0xBEDE);
    sfu_wr16(b + 14, 1);
    b[16] = (uint8_t)(TWCC_EXT_ID << 4 | 1);
    sfu_wr16(b + 17, c->twcc_seq++);
    n = 20;
  }
  for (int i = 0; i < RTP_PAYLOAD; i++) b[n + (size_t)i] = (uint8_t)(i * 7 + c->seq);
  n += RTP_PAYLOAD;
  if (sfu_srtp_protect_rtp(c->cli.srtp, b, &n, sizeof b)) die("SRTP protect failed");
  cli_send(c, b, n);
  c->sent_rtp++;
}

static void client_input(client_t *c, uint64_t now) {
  uint8_t b[2048];
  for (;;) {
    ssize_t n = recv(c->fd, b, sizeof b, MSG_DONTWAIT);
    if (n <= 0) return;
    c->recv++;
    if (sfu_demux_classify(b, (size_t)n) == SFU_PKT_RTCP) {
      c->recv_rtcp++; /* transport-cc feedback (nothing else is sent yet) */
      continue;
    }
    sim_client_handle_input(&c->cli, now, b, (size_t)n);
  }
}

static int ready(const client_t *c) {
  return c->cli.connected && c->cli.srtp && (!O.dc || c->channel_open);
}

/* Runs the client until `until` (absolute, us), or until ready() if until_ready. */
static uint64_t next_rtp_us, next_dc_us;
static void run_client(client_t *c, uint64_t until, int until_ready) {
  uint64_t rtp_iv = O.rate > 0 ? (uint64_t)(1e6 / O.rate) : 0;
  uint64_t dc_iv = O.dc_rate > 0 ? (uint64_t)(1e6 / O.dc_rate) : 0;
  for (;;) {
    uint64_t now = now_us();
    if (now >= until) return;
    if (until_ready && ready(c)) return;
    if (c->cli.dtls && O.dc && !c->sctp && c->cli.connected) {
      sfu_sctp_opts_t so = {.role = SFU_SCTP_ROLE_CLIENT};
      sfu_sctp_cbs_t cb = {sctp_out, sctp_state, sctp_channel, NULL, c, NULL};
      c->sctp = sfu_sctp_new(c->sg, &so, &cb, now);
      if (!c->sctp) die("client SCTP association");
    }
    /* Consent every 5 s once connected, as browsers do (sim_client checks every 0.5 s). */
    if (sim_client_next_deadline(&c->cli) <= now) {
      sim_client_handle_timeout(&c->cli, now);
      if (c->cli.connected) c->cli.next_check_us = now + CONSENT_US;
    }
    if (c->sg && sfu_sctp_group_next_deadline(c->sg) <= now)
      sfu_sctp_group_handle_timeout(c->sg, now);
    if (ready(c) && rtp_iv) {
      if (!next_rtp_us) next_rtp_us = now;
      while (next_rtp_us <= now) {
        send_rtp(c);
        next_rtp_us += rtp_iv;
      }
    }
    if (ready(c) && dc_iv) {
      if (!next_dc_us) next_dc_us = now;
      while (next_dc_us <= now) {
        static const char msg[] = "bench message of about sixty bytes, as a chat line would be";
        if (sfu_sctp_send(c->sctp, now, 1, SFU_SCTP_PPID_STRING, (const uint8_t *)msg,
                          sizeof msg - 1) == 0)
          c->sent_dc++;
        next_dc_us += dc_iv;
      }
    }
    uint64_t d = until;
    uint64_t x = sim_client_next_deadline(&c->cli);
    if (x < d) d = x;
    if (c->sg && (x = sfu_sctp_group_next_deadline(c->sg)) < d) d = x;
    if (ready(c) && rtp_iv && next_rtp_us < d) d = next_rtp_us;
    if (ready(c) && dc_iv && next_dc_us < d) d = next_dc_us;
    now = now_us();
    int ms = d > now ? (int)((d - now + 999) / 1000) : 0;
    if (!ready(c) && ms > 10) ms = 10;
    struct pollfd pf = {c->fd, POLLIN, 0};
    if (poll(&pf, 1, ms) > 0) client_input(c, now_us());
  }
}

/* ---- the worker's threads ---- */

typedef struct {
  uint64_t cpu_ns;      /* all threads */
  uint64_t loop_cpu_ns; /* the loop thread */
  uint64_t wakeups;     /* the loop thread's voluntary context switches */
  uint64_t involuntary; /* and involuntary ones (preempted: contention) */
  int loop_tid;
} snap_t;

static uint64_t read_u64_file(const char *path, int field) {
  char b[512];
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  size_t n = fread(b, 1, sizeof b - 1, f);
  fclose(f);
  b[n] = '\0';
  char *p = b;
  for (int i = 0; i < field && p; i++) {
    p = strchr(p, ' ');
    if (p) p++;
  }
  return p ? strtoull(p, NULL, 10) : 0;
}

static uint64_t status_field(const char *path, const char *key) {
  char line[256];
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  uint64_t v = 0;
  size_t kl = strlen(key);
  while (fgets(line, sizeof line, f))
    if (strncmp(line, key, kl) == 0) v = strtoull(line + kl, NULL, 10);
  fclose(f);
  return v;
}

static int find_loop_tid(void) {
  char dir[64], path[128], comm[64];
  snprintf(dir, sizeof dir, "/proc/%d/task", (int)g_worker);
  DIR *d = opendir(dir);
  if (!d) die("%s: %s", dir, strerror(errno));
  int named = 0, last = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    int tid = atoi(e->d_name);
    if (tid <= 0) continue;
    snprintf(path, sizeof path, "%s/%d/comm", dir, tid);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    if (!fgets(comm, sizeof comm, f)) comm[0] = '\0';
    fclose(f);
    comm[strcspn(comm, "\n")] = '\0';
    if (strcmp(comm, "sfu-loop-0") == 0) named = tid;
    /* valgrind's threads keep the tool's name; usrsctp's is "SCTP iterator". */
    if (strcmp(comm, "SCTP iterator") != 0 && tid > last) last = tid;
  }
  closedir(d);
  return named ? named : last;
}

static void snapshot(snap_t *s, int loop_tid) {
  char dir[64], path[128];
  memset(s, 0, sizeof *s);
  s->loop_tid = loop_tid;
  snprintf(dir, sizeof dir, "/proc/%d/task", (int)g_worker);
  DIR *d = opendir(dir);
  if (!d) die("%s: %s", dir, strerror(errno));
  struct dirent *e;
  while ((e = readdir(d))) {
    int tid = atoi(e->d_name);
    if (tid <= 0) continue;
    snprintf(path, sizeof path, "%s/%d/schedstat", dir, tid);
    uint64_t ns = read_u64_file(path, 0);
    s->cpu_ns += ns;
    if (tid == loop_tid) {
      s->loop_cpu_ns = ns;
      snprintf(path, sizeof path, "%s/%d/status", dir, tid);
      s->wakeups = status_field(path, "voluntary_ctxt_switches:");
      s->involuntary = status_field(path, "nonvoluntary_ctxt_switches:");
    }
  }
  closedir(d);
}

/* Sums "summary:" (or "totals:") of every callgrind dump file for this worker made by
 * the last dump (the files of dump number `n`, one per thread with --separate-threads). */
static uint64_t callgrind_total(const char *prefix) {
  uint64_t best_total = 0;
  char dname[512], base[512];
  snprintf(dname, sizeof dname, "%s", prefix);
  char *slash = strrchr(dname, '/');
  if (slash) {
    *slash = '\0';
    snprintf(base, sizeof base, "%s", slash + 1);
  } else {
    snprintf(base, sizeof base, "%s", dname);
    snprintf(dname, sizeof dname, ".");
  }
  DIR *d = opendir(dname);
  if (!d) return 0;
  struct dirent *e;
  /* Files: base.<dump>[-<thread>]; the window is dump 1 (after the zeroing). */
  char want[600];
  snprintf(want, sizeof want, "%s.1", base);
  while ((e = readdir(d))) {
    if (strncmp(e->d_name, want, strlen(want)) != 0) continue;
    char c = e->d_name[strlen(want)];
    if (c != '\0' && c != '-') continue;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dname, e->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    char line[512];
    while (fgets(line, sizeof line, f)) {
      if (strncmp(line, "summary:", 8) == 0) best_total += strtoull(line + 8, NULL, 10);
    }
    fclose(f);
  }
  closedir(d);
  return best_total;
}

static void run_cmd(const char *fmt, int pid) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, fmt, pid);
  if (system(cmd) != 0) fprintf(stderr, "bench_loop: '%s' failed\n", cmd);
}

/* ---- main ---- */

static void usage(void) {
  fprintf(stderr,
          "usage: bench_loop --worker PATH [--wrap CMD] [--rate PPS] [--seconds S] [--warmup S]\n"
          "                  [--no-twcc] [--dc] [--dc-rate N] [--label L] [--scenario NAME]\n"
          "                  [--cg-out FILE] [--json]\n");
  exit(2);
}

static void parse_args(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--worker") && v)
      O.worker = argv[++i];
    else if (!strcmp(a, "--wrap") && v)
      O.wrap = argv[++i];
    else if (!strcmp(a, "--rate") && v)
      O.rate = atof(argv[++i]);
    else if (!strcmp(a, "--seconds") && v)
      O.seconds = atof(argv[++i]);
    else if (!strcmp(a, "--warmup") && v)
      O.warmup = atof(argv[++i]);
    else if (!strcmp(a, "--dc-rate") && v)
      O.dc_rate = atof(argv[++i]);
    else if (!strcmp(a, "--label") && v)
      O.label = argv[++i];
    else if (!strcmp(a, "--scenario") && v)
      O.scenario = argv[++i];
    else if (!strcmp(a, "--cg-out") && v)
      O.cg_out = argv[++i];
    else if (!strcmp(a, "--sdp") && v)
      O.sdp = argv[++i];
    else if (!strcmp(a, "--no-twcc"))
      O.twcc = 0;
    else if (!strcmp(a, "--dc"))
      O.dc = 1;
    else if (!strcmp(a, "--json"))
      O.json = 1;
    else
      usage();
  }
  if (!O.worker) usage();
}

/* Meeting, attendee, Subscribe; the client gets the answer's ICE credentials and
 * fingerprint and a UDP socket connected to the loop's port. */
static void join(client_t *c, const sfu_dtls_cert_t *cert, int base) {
  cJSON *m = ok(request("{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"bench-loop\"}"),
                "CreateMeeting");
  char mid[128], aid[128], tok[512];
  snprintf(mid, sizeof mid, "%s", str(m, "Meeting", "MeetingId"));
  cJSON_Delete(m);
  cJSON *at = ok(request("{\"op\":\"CreateAttendee\",\"MeetingId\":\"%s\",\"ExternalUserId\":"
                         "\"bench\"}",
                         mid),
                 "CreateAttendee");
  snprintf(aid, sizeof aid, "%s", str(at, "Attendee", "AttendeeId"));
  snprintf(tok, sizeof tok, "%s", str(at, "Attendee", "JoinToken"));
  cJSON_Delete(at);
  const char *ufrag = "benchufrag", *pwd = "benchpasswordbenchpassword";
  char *offer = make_offer(ufrag, pwd, sfu_dtls_cert_fingerprint(cert));
  char *esc = json_escape(offer);
  cJSON *sub = ok(request("{\"op\":\"Subscribe\",\"MeetingId\":\"%s\",\"AttendeeId\":\"%s\","
                          "\"JoinToken\":\"%s\",\"SdpOffer\":\"%s\"}",
                          mid, aid, tok, esc),
                  "Subscribe");
  free(esc);
  free(offer);
  const char *answer = str(sub, "SdpAnswer", NULL);
  char s_ufrag[64], s_pwd[64], s_fp[200];
  answer_attr(answer, "ice-ufrag", s_ufrag, sizeof s_ufrag);
  answer_attr(answer, "ice-pwd", s_pwd, sizeof s_pwd);
  answer_attr(answer, "fingerprint", s_fp, sizeof s_fp); /* "sha-256 AB:CD:..." */
  cJSON_Delete(sub);
  const char *fp = strchr(s_fp, ' ') ? strchr(s_fp, ' ') + 1 : s_fp;

  c->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  struct sockaddr_in to = {.sin_family = AF_INET,
                           .sin_port = htons((uint16_t)(base + 2)),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (connect(c->fd, (struct sockaddr *)&to, sizeof to)) die("connect: %s", strerror(errno));
  sim_client_config_t cc = {cert, fp, ufrag, pwd, 1, {cli_send, cli_app, c}};
  sim_client_init(&c->cli, &cc);
  sim_client_set_server_ice(&c->cli, s_ufrag, s_pwd);
}

/* What one window measured. */
typedef struct {
  double secs, datagrams, worker_rx, wakeups, cpu_us, loop_cpu_us, connect_ms;
  uint64_t rtp, dc_messages, feedback, datagrams_out, involuntary, instructions, heartbeats;
} result_t;

static void measure(client_t *c, result_t *r) {
  double rx0 = udp_counter("RxPackets");
  int loop_tid = find_loop_tid();
  if (O.cg_out) run_cmd("callgrind_control -z %d >/dev/null", (int)g_worker);
  snap_t a, b;
  uint64_t sent0 = c->sent, rtp0 = c->sent_rtp, dc0 = c->sent_dc, rtcp0 = c->recv_rtcp;
  uint64_t recv0 = c->recv, hb0 = c->heartbeats;
  snapshot(&a, loop_tid);
  uint64_t w0 = now_us();
  run_client(c, w0 + (uint64_t)(O.seconds * 1e6), 0);
  snapshot(&b, loop_tid);
  r->secs = (double)(now_us() - w0) / 1e6;
  if (O.cg_out) {
    run_cmd("callgrind_control -d %d >/dev/null", (int)g_worker);
    r->instructions = callgrind_total(O.cg_out);
  }
  r->worker_rx = udp_counter("RxPackets") - rx0;
  r->datagrams = (double)(c->sent - sent0);
  r->rtp = c->sent_rtp - rtp0;
  r->dc_messages = c->sent_dc - dc0;
  r->feedback = c->recv_rtcp - rtcp0;
  r->datagrams_out = c->recv - recv0;
  r->heartbeats = c->heartbeats - hb0;
  r->wakeups = (double)(b.wakeups - a.wakeups);
  r->involuntary = b.involuntary - a.involuntary;
  r->cpu_us = (double)(b.cpu_ns - a.cpu_ns) / 1e3;
  r->loop_cpu_us = (double)(b.loop_cpu_ns - a.loop_cpu_ns) / 1e3;
}

static double per(double a, double b) { return b > 0 ? a / b : 0; }

static void report(const result_t *r) {
  double ir = (double)r->instructions;
  if (!O.json) {
    printf("%s rate %.0f/s twcc %d dc %d: %.1f s, %.0f datagrams in (worker saw %.0f), %" PRIu64
           " feedback out, %" PRIu64
           " SCTP heartbeats out\n  wake-ups %.1f/s, worker CPU %.1f "
           "us/s (loop %.1f), %.2f us/datagram, %.2f us/wake-up",
           O.label, O.rate, O.twcc, O.dc, r->secs, r->datagrams, r->worker_rx, r->feedback,
           r->heartbeats, r->wakeups / r->secs, r->cpu_us / r->secs, r->loop_cpu_us / r->secs,
           per(r->cpu_us, r->datagrams), per(r->cpu_us, r->wakeups));
    if (O.cg_out)
      printf(", %.0f instr/datagram, %.0f instr/wake-up", per(ir, r->datagrams),
             per(ir, r->wakeups));
    printf("\n");
    return;
  }
  char load[64] = "";
  FILE *lf = fopen("/proc/loadavg", "r");
  if (lf) {
    if (!fgets(load, sizeof load, lf)) load[0] = '\0';
    fclose(lf);
    load[strcspn(load, "\n")] = '\0';
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "label", O.label);
  cJSON_AddStringToObject(o, "scenario", O.scenario);
  const struct {
    const char *k;
    double v;
  } f[] = {{"rate", O.rate},
           {"twcc", O.twcc},
           {"dc", O.dc},
           {"dc_rate", O.dc_rate},
           {"seconds", r->secs},
           {"connect_ms", r->connect_ms},
           {"datagrams_in", r->datagrams},
           {"rtp_in", (double)r->rtp},
           {"dc_messages", (double)r->dc_messages},
           {"worker_rx_delta", r->worker_rx},
           {"feedback_out", (double)r->feedback},
           {"datagrams_out", (double)r->datagrams_out},
           {"sctp_heartbeats_in", (double)r->heartbeats},
           {"wakeups", r->wakeups},
           {"wakeups_per_s", r->wakeups / r->secs},
           {"involuntary", (double)r->involuntary},
           {"cpu_us", r->cpu_us},
           {"loop_cpu_us", r->loop_cpu_us},
           {"cpu_us_per_s", r->cpu_us / r->secs},
           {"us_per_datagram", per(r->cpu_us, r->datagrams)},
           {"us_per_wakeup", per(r->cpu_us, r->wakeups)},
           {"loop_us_per_wakeup", per(r->loop_cpu_us, r->wakeups)},
           {"instructions", ir},
           {"instr_per_datagram", per(ir, r->datagrams)},
           {"instr_per_wakeup", per(ir, r->wakeups)},
           {"instr_per_s", ir / r->secs},
           {"callgrind", O.cg_out != NULL}};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) cJSON_AddNumberToObject(o, f[i].k, f[i].v);
  cJSON_AddStringToObject(o, "loadavg", load);
  char *txt = cJSON_PrintUnformatted(o);
  printf("%s\n", txt ? txt : "{}");
  free(txt);
  cJSON_Delete(o);
}

/* A clean stop exits 0 (a sanitizer or valgrind finding would not): then the log stays. */
static void stop_worker(void) {
  kill(g_worker, SIGTERM);
  int st;
  waitpid(g_worker, &st, 0);
  pid_t w = g_worker;
  g_worker = -1;
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    die("worker %d did not stop cleanly (status 0x%x)", (int)w, st);
  unlink(g_log);
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  sfu_dtls_cert_t *cert = NULL;
  if (sfu_dtls_cert_new(&cert)) die("client certificate");
  client_t c;
  memset(&c, 0, sizeof c);
  if (O.dc) {
    if (sfu_sctp_global_init()) die("usrsctp");
    c.sg = sfu_sctp_group_new();
  }
  int base = port_block();
  spawn_worker(base);
  control_connect(base);
  join(&c, cert, base);

  result_t r;
  memset(&r, 0, sizeof r);
  uint64_t t0 = now_us();
  run_client(&c, t0 + 60000000u, 1);
  if (!ready(&c))
    die("not connected within 60 s (dtls %d, channel %d)", c.cli.connected, c.channel_open);
  r.connect_ms = (double)(now_us() - t0) / 1e3;
  run_client(&c, now_us() + (uint64_t)(O.warmup * 1e6), 0);
  measure(&c, &r);
  report(&r);

  stop_worker();
  if (c.sctp) sfu_sctp_free(c.sctp);
  sim_client_free(&c.cli);
  sfu_dtls_cert_free(cert);
  return 0;
}
