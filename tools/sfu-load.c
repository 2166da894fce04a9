/* sfu-load: many synthetic WebRTC attendees (video publishers and/or viewers) in one
 * process, for integration tests and benchmarks of the worker's forwarding.
 *
 * Each attendee is a tools/load/load_peer core (ICE controlling, DTLS client, SRTP,
 * publisher, receivers) on its own UDP socket on 127.0.0.1; one epoll loop serves them
 * all, and reads one JSON command a line on stdin, answering one JSON line on stdout
 * (flushed). Logs go to stderr. Commands (see also tests/integration/load.py):
 *
 *   {"cmd":"add","id":"p1","publish":{"codec":"VP8","layers":3,"rtx":true,"ssrcs":false,
 *    "fps":15,"padding":0,"bitrate":0},"receive":2,"rtx":true,"twcc_feedback":true}
 *                                                         → {"id":"p1","offer":"..."}
 *   (bitrate: bits/s of the top layer or single stream, 0 = default; lower layers scaled;
 *   pace: 0 = each frame sent at once (default: what libwebrtc's pacer does since its
 *   40 ms burst interval, for frames under 40 ms of its rate), F = paced at F x the total
 *   bitrate in 5 ms bursts (libwebrtc's older pacer: 2.5 x its estimate), stats "pace"
 *   {sent, max_delay_us, dropped, queued};
 *   twcc_feedback: send transport-cc feedback for what it receives, default true unless
 *   --no-twcc-feedback, see below)
 *   {"cmd":"answer","id":"p1","sdp":"..."}                  → {"id":"p1","ok":true}
 *   {"cmd":"reoffer","id":"p1","receive":3}                 → {"id":"p1","offer":"..."}
 *   {"cmd":"set","id":"v1","loss":0.05}                     → {"id":"v1","ok":true}
 *   {"cmd":"pli","id":"v1","mid":"2"}                       → {"id":"v1","ok":true}
 *   {"cmd":"remb","id":"v1","bps":300000}                   → {"id":"v1","ok":true}
 *   {"cmd":"stats","id":"p1"} / {"cmd":"stats"}             → one attendee / {"attendees":[..]}
 *   {"cmd":"remove","id":"p1"}                              → {"id":"p1","ok":true}
 *   {"cmd":"quit"}                                          → {"ok":true}, exit 0
 * Errors: {"id":..,"error":"<why>"}. End of stdin is a quit.
 *
 * Data messages (issue 10's bench, bench/data_relay.py): "data": true in an "add" gives the
 * attendee an application section and, once connected, an SCTP association with one
 * reliable channel (load_peer.h). Then
 *   {"cmd":"data_send","senders":10,"rate":10,"bytes":200,"seconds":20}  → {"ok":true}
 * has the first `senders` data attendees (in "add" order) each send `rate` envelopes a
 * second ({"topic":"bench","data":"<send µs> <seq> <pad>","lifetimeMs":0}, `bytes` long
 * in all), evenly staggered, for `seconds`; every attendee parses what it receives: a
 * relayed "bench" envelope gives a delivery latency (receive - send, one monotonic clock:
 * every attendee is in this process), a refusal ({"error":{"code":..}}) is counted by
 * code. {"cmd":"data_stats"} → {"sent","blocked","received","refused":{code:n},"other",
 * "latency_us":{"n","p50","p90","p99","p999","max"},"up_leg_us":{..},
 * "at_socket_us":{"p50","p99","max"} (send → the kernel's arrival stamp of the datagram that
 * completed the message, SO_TIMESTAMPNS),"dc_open","attendees"};
 * {"cmd":"data_reset"} zeroes those (after a warm-up). A send refused by the local
 * association (EAGAIN) is counted as blocked and not retried.
 *
 * Usage: sfu-load [--stdin] [--seed N] [--no-twcc-feedback]
 *
 * Transport-cc feedback: every receiving attendee offers transport-cc (as Chromium does)
 * and, by default, answers every packet the worker sends it with transport-cc feedback
 * every ~50 ms (load_peer.h), so the worker estimates its downlink and allocates, probes
 * and paces on that estimate, as for a browser. --no-twcc-feedback (or "twcc_feedback":
 * false in one "add") keeps it silent: the worker's estimate stays unknown and its receive
 * cap is the budget (the load client before it sent feedback). Stats count the feedback
 * sent ("twcc_fb_out") and the negotiated extension id ("twcc_ext", 0 = none). */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "load/load_peer.h"
#include "sfu/dtls.h"
#include "sfu/err.h"
#include "sfu/pacer.h"
#include "sfu/sctp.h"
#include "sfu/srtp.h"

#define MAX_ATTENDEES 1024
#define LINE_MAX_BYTES (1u << 20)

typedef struct {
  char id[64];
  int fd;
  uint16_t port;
  int dead;
  load_peer_t *peer;
  uint64_t send_errors;
} attendee_t;

static attendee_t *g_att[MAX_ATTENDEES];
static size_t g_n_att;
static int g_ep = -1;
static sfu_dtls_cert_t *g_cert;
static uint64_t g_seed;
static int g_no_twcc_fb; /* --no-twcc-feedback: the default of "twcc_feedback" */
static int64_t g_wall_offset;
/* The kernel's arrival stamp (SO_TIMESTAMPNS, wall clock, µs) of the datagram being
 * processed, 0 if none: a delivery's "at the socket" latency excludes the time this one
 * process spends serving the other receivers' datagrams first (250 receivers on 250
 * machines would each read their own in parallel). */
static int64_t g_rx_wall_us;
static int g_quit;
static sfu_sctp_group_t *g_sg; /* SCTP associations of every data attendee (lazily made) */

/* ---- data messages (bench/data_relay.py) ---- */
typedef struct {
  int on;
  size_t senders;
  double rate;      /* per sender, messages/s */
  size_t bytes;
  uint64_t start_us, end_us, iv_us;
  uint64_t *next_us; /* per sender */
  uint64_t seq;
  /* counters since data_reset */
  uint64_t sent, blocked, received, other, refused[5];
  uint32_t *lat;    /* µs, one per delivery */
  uint32_t *up;     /* µs, send → the worker's timestampMs (ms resolution), per delivery */
  uint32_t *arr;    /* µs, send → the datagram's arrival at the receiver's socket */
  size_t n_lat, cap_lat;
} data_t;
static data_t D;
static const char *const refusal_codes[5] = {"Throttled", "TooLarge", "BadTopic", "BadRequest",
                                             "other"};

static void on_data(void *user, const uint8_t *buf, size_t len) {
  (void)user;
  uint64_t now;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  now = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
  /* Cheap scan rather than a JSON parse per delivery (25,000/s): the relay writes the
   * envelope, "data" is ours ("<µs> <seq> ..."), "error" marks a refusal. */
  const char *s = (const char *)buf;
  const char *end = s + len;
  const char *e = memmem(s, len, "\"error\"", sizeof "\"error\"" - 1);
  if (e) {
    int k = 4;
    for (int i = 0; i < 4; i++)
      if (memmem(s, len, refusal_codes[i], strlen(refusal_codes[i]))) k = i;
    D.refused[k]++;
    return;
  }
  const char *d = memmem(s, len, "\"data\":\"", sizeof "\"data\":\"" - 1);
  if (!d || !memmem(s, len, "\"topic\":\"bench\"", sizeof "\"topic\":\"bench\"" - 1)) {
    D.other++;
    return;
  }
  d += sizeof "\"data\":\"" - 1;
  uint64_t t = 0;
  while (d < end && *d >= '0' && *d <= '9') t = t * 10 + (uint64_t)(*d++ - '0');
  D.received++;
  if (D.n_lat == D.cap_lat) {
    size_t cap = D.cap_lat ? D.cap_lat * 2 : (1u << 20);
    uint32_t *p = realloc(D.lat, cap * sizeof *p);
    if (!p) return;
    D.lat = p;
    p = realloc(D.up, cap * sizeof *p);
    if (!p) return;
    D.up = p;
    p = realloc(D.arr, cap * sizeof *p);
    if (!p) return;
    D.arr = p;
    D.cap_lat = cap;
  }
  uint64_t l = now > t ? now - t : 0;
  /* Where the time went: the worker stamps timestampMs (wall clock, ms) when it relays. */
  const char *w = memmem(s, len, "\"timestampMs\":", sizeof "\"timestampMs\":" - 1);
  uint64_t wms = 0;
  if (w)
    for (w += sizeof "\"timestampMs\":" - 1; w < end && *w >= '0' && *w <= '9'; w++)
      wms = wms * 10 + (uint64_t)(*w - '0');
  int64_t up = wms ? (int64_t)wms * 1000 - ((int64_t)t + g_wall_offset) : 0;
  D.up[D.n_lat] = up < 0 ? 0 : up > UINT32_MAX ? UINT32_MAX : (uint32_t)up;
  int64_t arr = g_rx_wall_us ? g_rx_wall_us - ((int64_t)t + g_wall_offset) : (int64_t)l;
  D.arr[D.n_lat] = arr < 0 ? 0 : arr > UINT32_MAX ? UINT32_MAX : (uint32_t)arr;
  D.lat[D.n_lat++] = l > UINT32_MAX ? UINT32_MAX : (uint32_t)l;
}

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
static int64_t wall_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void reply(cJSON *o) {
  char *s = cJSON_PrintUnformatted(o);
  if (s) {
    fputs(s, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    free(s);
  }
  cJSON_Delete(o);
}
static void reply_err(const char *id, const char *msg) {
  cJSON *o = cJSON_CreateObject();
  if (id) cJSON_AddStringToObject(o, "id", id);
  cJSON_AddStringToObject(o, "error", msg);
  reply(o);
}
static void reply_ok(const char *id) {
  cJSON *o = cJSON_CreateObject();
  if (id) cJSON_AddStringToObject(o, "id", id);
  cJSON_AddBoolToObject(o, "ok", 1);
  reply(o);
}
static void reply_offer(const char *id, char *offer) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "id", id);
  cJSON_AddStringToObject(o, "offer", offer);
  free(offer);
  reply(o);
}

static attendee_t *find(const char *id) {
  for (size_t i = 0; i < g_n_att; i++)
    if (!g_att[i]->dead && strcmp(g_att[i]->id, id) == 0) return g_att[i];
  return NULL;
}

static void peer_send(void *user, const uint8_t *buf, size_t len) {
  attendee_t *a = user;
  if (send(a->fd, buf, len, MSG_DONTWAIT) < 0) a->send_errors++;
}

static int open_socket(uint16_t *port) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  /* Benchmarks fan hundreds of packets a turn at one viewer: 4 MB where allowed (root:
   * the FORCE options pass net.core.rmem_max), else 1 MB capped by rmem_max. */
  int big = 4 << 20, sz = 1 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big) != 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
  int on = 1; /* arrival stamps for the data bench's at-socket latency (best effort) */
  setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof sa;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
      getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
    close(fd);
    return -1;
  }
  *port = ntohs(sa.sin_port);
  return fd;
}

static int json_bool(const cJSON *o, const char *k, int dflt) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}
static double json_num(const cJSON *o, const char *k, double dflt) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}
static const char *json_str(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void cmd_add(const char *id, const cJSON *req) {
  if (strlen(id) >= sizeof g_att[0]->id) return reply_err(id, "id too long");
  if (find(id)) return reply_err(id, "id exists");
  if (g_n_att == MAX_ATTENDEES) return reply_err(id, "too many attendees");
  load_peer_cfg_t cfg = {0};
  const cJSON *pub = cJSON_GetObjectItemCaseSensitive(req, "publish");
  if (cJSON_IsObject(pub)) {
    const char *codec = json_str(pub, "codec");
    cfg.publish = 1;
    if (!codec || strcmp(codec, "VP8") == 0) cfg.codec = LOAD_VP8;
    else if (strcmp(codec, "H264") == 0) cfg.codec = LOAD_H264;
    else return reply_err(id, "publish.codec: VP8 or H264");
    cfg.layers = (int)json_num(pub, "layers", 3);
    if (cfg.layers != 1 && cfg.layers != 3) return reply_err(id, "publish.layers: 1 or 3");
    cfg.pub_rtx = json_bool(pub, "rtx", 1);
    cfg.pub_ssrcs = json_bool(pub, "ssrcs", 0);
    cfg.fps = (int)json_num(pub, "fps", 15);
    cfg.padding_per_s = (int)json_num(pub, "padding", 0);
    double bps = json_num(pub, "bitrate", 0);
    if (bps < 0 || bps > 50e6) return reply_err(id, "publish.bitrate: 0..50000000");
    cfg.bitrate_bps = (uint32_t)bps;
    cfg.pace = json_num(pub, "pace", 0);
    if (!(cfg.pace == 0 || (cfg.pace >= 1 && cfg.pace <= 100)))
      return reply_err(id, "publish.pace: 0 (unpaced) or 1..100 (x the bitrate)");
    if (cfg.fps < 1 || cfg.fps > 120) return reply_err(id, "publish.fps: 1..120");
    if (cfg.padding_per_s < 0 || cfg.padding_per_s > 1000)
      return reply_err(id, "publish.padding: 0..1000");
  }
  double recv = json_num(req, "receive", 0);
  if (recv < 0 || recv > LOAD_MAX_RECV) return reply_err(id, "receive: 0..25");
  cfg.n_recv = (size_t)recv;
  cfg.recv_rtx = json_bool(req, "rtx", 1);
  cfg.no_twcc_fb = !json_bool(req, "twcc_feedback", !g_no_twcc_fb);
  cfg.data = json_bool(req, "data", 0);
  if (cfg.data && !g_sg) {
    if (sfu_sctp_global_init() != 0 || !(g_sg = sfu_sctp_group_new()))
      return reply_err(id, "usrsctp init failed");
  }
  cfg.sctp_group = g_sg;
  if (!cfg.publish && !cfg.n_recv && !cfg.data)
    return reply_err(id, "nothing to publish, receive or exchange");

  attendee_t *a = calloc(1, sizeof *a);
  if (!a) return reply_err(id, "no memory");
  snprintf(a->id, sizeof a->id, "%s", id);
  a->fd = open_socket(&a->port);
  if (a->fd < 0) {
    free(a);
    return reply_err(id, "socket");
  }
  load_peer_cbs_t cbs = {peer_send, NULL, a, on_data};
  g_seed = g_seed * 6364136223846793005ull + 1442695040888963407ull;
  a->peer = load_peer_new(&cfg, g_cert, a->port, &cbs, g_seed | 1, g_wall_offset,
                          (uint8_t)(g_n_att + 1));
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = a};
  if (!a->peer || epoll_ctl(g_ep, EPOLL_CTL_ADD, a->fd, &ev) != 0) {
    load_peer_free(a->peer);
    close(a->fd);
    free(a);
    return reply_err(id, "cannot create the attendee");
  }
  char *offer = load_peer_offer(a->peer);
  if (!offer) return reply_err(id, "no memory");
  g_att[g_n_att++] = a;
  reply_offer(id, offer);
}

static void cmd_answer(attendee_t *a, const cJSON *req) {
  const char *sdp = json_str(req, "sdp");
  if (!sdp) return reply_err(a->id, "sdp: missing");
  char err[200];
  int first = !a->peer->answered;
  if (load_peer_answer(a->peer, sdp, err, sizeof err) != 0) return reply_err(a->id, err);
  if (first) {
    load_answer_t *ans = malloc(sizeof *ans);
    if (!ans) return reply_err(a->id, "no memory");
    load_answer_parse(sdp, ans, err, sizeof err);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(ans->port)};
    int ok = inet_pton(AF_INET, ans->ip, &sa.sin_addr) == 1;
    free(ans);
    if (!ok) return reply_err(a->id, "answer candidate is not IPv4");
    if (connect(a->fd, (struct sockaddr *)&sa, sizeof sa) != 0)
      return reply_err(a->id, "connect failed");
  }
  reply_ok(a->id);
}

/* ---- stats ---- */

static void add_u(cJSON *o, const char *k, uint64_t v) { cJSON_AddNumberToObject(o, k, (double)v); }

static cJSON *stats_of(const attendee_t *a) {
  const load_peer_t *p = a->peer;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "id", a->id);
  cJSON_AddBoolToObject(o, "connected", load_peer_connected(p));
  add_u(o, "stun_ok", (uint64_t)p->ice.stun_ok);
  add_u(o, "rtp_in", p->rtp_in);
  add_u(o, "rtcp_in", p->rtcp_in);
  add_u(o, "unprotect_fail", p->unprotect_fail);
  add_u(o, "protect_fail", p->protect_fail);
  add_u(o, "unknown_rtp", p->unknown_rtp);
  add_u(o, "remb_in", p->remb_in);
  add_u(o, "twcc_ext", p->twcc.ext_id);
  add_u(o, "twcc_fb_out", p->twcc_fb_out);
  add_u(o, "send_errors", a->send_errors);
  if (p->cfg.data) {
    cJSON_AddBoolToObject(o, "dc_open", p->dc_open);
    add_u(o, "dc_in", p->dc_in);
    add_u(o, "dc_out", p->dc_out);
    add_u(o, "dc_blocked", p->dc_blocked);
  }
  cJSON *sent = cJSON_AddObjectToObject(o, "sent");
  cJSON *layers = cJSON_AddArrayToObject(sent, "layers");
  for (size_t i = 0; i < p->n_layers; i++) {
    const load_layer_t *l = &p->layers[i];
    cJSON *x = cJSON_CreateObject();
    cJSON_AddStringToObject(x, "rid", l->rid);
    add_u(x, "ssrc", l->ssrc);
    add_u(x, "rtx_ssrc", l->rtx_ssrc);
    add_u(x, "width", l->width);
    add_u(x, "height", l->height);
    add_u(x, "packets", l->packets);
    add_u(x, "bytes", l->octets);
    add_u(x, "frames", l->frames);
    add_u(x, "keyframes", l->keyframes);
    add_u(x, "plis", l->plis);
    add_u(x, "firs", l->firs);
    add_u(x, "nacks", l->nacks);
    add_u(x, "nacked_seqs", l->nacked_seqs);
    add_u(x, "rtx_sent", l->rtx_sent);
    add_u(x, "resent", l->resent);
    add_u(x, "nack_misses", l->nack_misses);
    add_u(x, "padding", l->padding_sent);
    cJSON_AddItemToArray(layers, x);
  }
  if (p->pacer) { /* publish.pace: every RTP packet of ours went through it */
    sfu_pacer_stats_t ps;
    sfu_pacer_stats(p->pacer, &ps);
    cJSON *x = cJSON_AddObjectToObject(o, "pace");
    add_u(x, "sent", ps.sent_packets);
    add_u(x, "max_delay_us", ps.max_delay_us);
    add_u(x, "dropped", ps.dropped_packets);
    add_u(x, "queued", ps.queued_packets);
  }
  cJSON *recv = cJSON_AddArrayToObject(o, "recv");
  for (size_t i = 0; i < p->n_recv; i++) {
    const load_recv_t *r = p->recv[i];
    cJSON *x = cJSON_CreateObject();
    cJSON_AddStringToObject(x, "mid", r->mid);
    cJSON_AddBoolToObject(x, "active", !r->inactive);
    add_u(x, "declared_ssrc", r->declared_ssrc);
    add_u(x, "declared_rtx_ssrc", r->declared_rtx_ssrc);
    cJSON *ss = cJSON_AddArrayToObject(x, "ssrcs");
    for (size_t k = 0; k < r->n_ssrcs; k++) cJSON_AddItemToArray(ss, cJSON_CreateNumber(r->ssrcs[k]));
    cJSON *pts = cJSON_AddArrayToObject(x, "pts");
    for (size_t k = 0; k < r->n_pts; k++) cJSON_AddItemToArray(pts, cJSON_CreateNumber(r->pts[k]));
    add_u(x, "packets", r->packets);
    add_u(x, "bytes", r->bytes);
    add_u(x, "seq_gaps", r->seq_gaps);
    add_u(x, "dups", r->dups);
    add_u(x, "rtx_dups", r->rtx_dups);
    add_u(x, "ts_backwards", r->ts_backwards);
    if (r->got_first) cJSON_AddBoolToObject(x, "first_keyframe", r->first_keyframe);
    else cJSON_AddNullToObject(x, "first_keyframe");
    add_u(x, "keyframes", r->keyframes);
    add_u(x, "width", r->width);
    add_u(x, "height", r->height);
    add_u(x, "pic_id_jumps", r->pic_id_jumps);
    add_u(x, "padding", r->padding);             /* on the media SSRC */
    add_u(x, "probe_padding", r->probe_padding); /* on the RTX SSRC: the worker's probes */
    add_u(x, "rtx", r->rtx);
    add_u(x, "recovered", r->recovered);
    add_u(x, "nacks_sent", r->nacks_sent);
    add_u(x, "nacked_seqs", r->nacked_seqs);
    add_u(x, "dropped", r->dropped);
    add_u(x, "bad_payload", r->bad_payload);
    add_u(x, "unknown_pt", r->unknown_pt);
    cJSON_AddStringToObject(x, "mid_ext", r->mid_ext);
    cJSON_AddItemToArray(recv, x);
  }
  return o;
}

static void remove_attendee(attendee_t *a) {
  epoll_ctl(g_ep, EPOLL_CTL_DEL, a->fd, NULL);
  a->dead = 1; /* freed after the current batch of events */
}

static void reap(void) {
  size_t k = 0;
  for (size_t i = 0; i < g_n_att; i++) {
    attendee_t *a = g_att[i];
    if (!a->dead) {
      g_att[k++] = a;
      continue;
    }
    load_peer_free(a->peer);
    close(a->fd);
    free(a);
  }
  g_n_att = k;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

static void data_reset(void) {
  D.sent = D.blocked = D.received = D.other = 0;
  memset(D.refused, 0, sizeof D.refused);
  D.n_lat = 0;
}

static void cmd_data_send(const cJSON *req) {
  double senders = json_num(req, "senders", 1), rate = json_num(req, "rate", 10);
  double bytes = json_num(req, "bytes", 200), secs = json_num(req, "seconds", 10);
  if (senders < 1 || senders > MAX_ATTENDEES || rate <= 0 || rate > 10000 || bytes < 64 ||
      bytes > 65536 || secs <= 0 || secs > 3600)
    return reply_err(NULL, "data_send: senders 1.., rate 0..10000, bytes 64..65536, seconds");
  free(D.next_us);
  D.senders = (size_t)senders;
  D.next_us = calloc(D.senders, sizeof *D.next_us);
  if (!D.next_us) return reply_err(NULL, "no memory");
  D.rate = rate;
  D.bytes = (size_t)bytes;
  D.iv_us = (uint64_t)(1e6 / rate);
  D.start_us = now_us() + 10000;
  D.end_us = D.start_us + (uint64_t)(secs * 1e6);
  for (size_t k = 0; k < D.senders; k++) D.next_us[k] = D.start_us + D.iv_us * k / D.senders;
  D.on = 1;
  reply_ok(NULL);
}

static void cmd_data_stats(void) {
  cJSON *o = cJSON_CreateObject();
  add_u(o, "sent", D.sent);
  add_u(o, "blocked", D.blocked);
  add_u(o, "received", D.received);
  add_u(o, "other", D.other);
  cJSON_AddBoolToObject(o, "sending", D.on);
  cJSON *r = cJSON_AddObjectToObject(o, "refused");
  for (int i = 0; i < 5; i++) add_u(r, refusal_codes[i], D.refused[i]);
  cJSON *l = cJSON_AddObjectToObject(o, "latency_us");
  add_u(l, "n", D.n_lat);
  if (D.n_lat) {
    qsort(D.lat, D.n_lat, sizeof *D.lat, cmp_u32);
    add_u(l, "p50", D.lat[D.n_lat / 2]);
    add_u(l, "p90", D.lat[(size_t)(D.n_lat * 0.90)]);
    add_u(l, "p99", D.lat[(size_t)(D.n_lat * 0.99)]);
    add_u(l, "p999", D.lat[(size_t)(D.n_lat * 0.999)]);
    add_u(l, "max", D.lat[D.n_lat - 1]);
    /* The sender → worker leg (to the worker's relay stamp, ms resolution). */
    qsort(D.up, D.n_lat, sizeof *D.up, cmp_u32);
    cJSON *u = cJSON_AddObjectToObject(o, "up_leg_us");
    add_u(u, "p50", D.up[D.n_lat / 2]);
    add_u(u, "p99", D.up[(size_t)(D.n_lat * 0.99)]);
    add_u(u, "max", D.up[D.n_lat - 1]);
    /* Send → arrival at the receiver's socket (kernel stamp): the relay's latency
     * without this process's serial receive work. */
    qsort(D.arr, D.n_lat, sizeof *D.arr, cmp_u32);
    cJSON *ar = cJSON_AddObjectToObject(o, "at_socket_us");
    add_u(ar, "p50", D.arr[D.n_lat / 2]);
    add_u(ar, "p99", D.arr[(size_t)(D.n_lat * 0.99)]);
    add_u(ar, "max", D.arr[D.n_lat - 1]);
  }
  size_t open = 0, n = 0;
  for (size_t i = 0; i < g_n_att; i++) {
    if (g_att[i]->dead || !g_att[i]->peer->cfg.data) continue;
    n++;
    open += g_att[i]->peer->dc_open;
  }
  add_u(o, "dc_open", open);
  add_u(o, "attendees", n);
  reply(o);
}

/* The data attendees' sends due now. */
static void data_tick(uint64_t now) {
  if (!D.on) return;
  if (now >= D.end_us) {
    D.on = 0;
    return;
  }
  char buf[65600];
  size_t k = 0;
  for (size_t i = 0; i < g_n_att && k < D.senders; i++) {
    attendee_t *a = g_att[i];
    if (a->dead || !a->peer->cfg.data) continue;
    while (D.next_us[k] <= now) {
      uint64_t t = now_us();
      int n = snprintf(buf, sizeof buf, "{\"topic\":\"bench\",\"data\":\"%" PRIu64 " %" PRIu64 " ",
                       t, D.seq++);
      size_t want = D.bytes > (size_t)n + 18 ? D.bytes - 18 : (size_t)n;
      while ((size_t)n < want) buf[n++] = 'x';
      n += snprintf(buf + n, sizeof buf - (size_t)n, "\",\"lifetimeMs\":0}");
      int rc = load_peer_send_data(a->peer, t, (const uint8_t *)buf, (size_t)n);
      if (rc == 0) D.sent++;
      else if (rc == SFU_EAGAIN) D.blocked++;
      D.next_us[k] += D.iv_us;
    }
    k++;
  }
}

static uint64_t data_deadline(void) {
  if (!D.on) return UINT64_MAX;
  uint64_t d = D.end_us;
  for (size_t k = 0; k < D.senders; k++)
    if (D.next_us[k] < d) d = D.next_us[k];
  return d;
}

static int known_cmd(const char *cmd) {
  static const char *const cmds[] = {"add", "answer", "reoffer", "set", "pli",
                                     "remb", "stats", "remove"};
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
    if (strcmp(cmd, cmds[i]) == 0) return 1;
  return 0;
}

static void command(char *line) {
  cJSON *req = cJSON_Parse(line);
  if (!cJSON_IsObject(req)) {
    cJSON_Delete(req);
    return reply_err(NULL, "not a JSON object");
  }
  const char *cmd = json_str(req, "cmd"), *id = json_str(req, "id");
  attendee_t *a = id ? find(id) : NULL;
  uint64_t now = now_us();
  if (!cmd) {
    reply_err(id, "cmd: missing");
  } else if (strcmp(cmd, "quit") == 0) {
    g_quit = 1;
    reply_ok(NULL);
  } else if (strcmp(cmd, "data_send") == 0) {
    cmd_data_send(req);
  } else if (strcmp(cmd, "data_stats") == 0) {
    cmd_data_stats();
  } else if (strcmp(cmd, "data_reset") == 0) {
    data_reset();
    reply_ok(NULL);
  } else if (strcmp(cmd, "stats") == 0 && !id) {
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "attendees");
    for (size_t i = 0; i < g_n_att; i++)
      if (!g_att[i]->dead) cJSON_AddItemToArray(arr, stats_of(g_att[i]));
    reply(o);
  } else if (!known_cmd(cmd)) {
    reply_err(id, "cmd: unknown");
  } else if (!id) {
    reply_err(NULL, "id: missing");
  } else if (strcmp(cmd, "add") == 0) {
    cmd_add(id, req);
  } else if (!a) {
    reply_err(id, "no such attendee");
  } else if (strcmp(cmd, "answer") == 0) {
    cmd_answer(a, req);
  } else if (strcmp(cmd, "reoffer") == 0) {
    double n = json_num(req, "receive", (double)a->peer->n_recv);
    char *offer = n >= 0 && n <= LOAD_MAX_RECV ? load_peer_reoffer(a->peer, (size_t)n) : NULL;
    if (offer) reply_offer(id, offer);
    else reply_err(id, "receive: 0..25");
  } else if (strcmp(cmd, "set") == 0) {
    load_peer_set_loss(a->peer, json_num(req, "loss", a->peer->loss));
    reply_ok(id);
  } else if (strcmp(cmd, "pli") == 0) {
    const char *mid = json_str(req, "mid");
    load_recv_t *r = mid ? load_peer_recv_by_mid(a->peer, mid) : NULL;
    if (!r) reply_err(id, "mid: no such receive section");
    else if (load_peer_send_pli(a->peer, r) != 0) reply_err(id, "mid: no SSRC known yet");
    else reply_ok(id);
  } else if (strcmp(cmd, "remb") == 0) {
    double bps = json_num(req, "bps", 0);
    load_peer_set_remb(a->peer, now, bps > 0 ? (uint64_t)bps : 0);
    reply_ok(id);
  } else if (strcmp(cmd, "stats") == 0) {
    reply(stats_of(a));
  } else if (strcmp(cmd, "remove") == 0) {
    remove_attendee(a);
    reply_ok(id);
  } else {
    reply_err(id, "cmd: unknown");
  }
  cJSON_Delete(req);
}

/* ---- stdin ---- */

static char *g_line;
static size_t g_line_len;

static void read_stdin(void) {
  char buf[65536];
  ssize_t n = read(0, buf, sizeof buf);
  if (n == 0) {
    g_quit = 1;
    return;
  }
  if (n < 0) {
    if (errno != EAGAIN && errno != EINTR) g_quit = 1;
    return;
  }
  for (ssize_t i = 0; i < n; i++) {
    if (buf[i] == '\n') {
      g_line[g_line_len] = '\0';
      if (g_line_len) command(g_line);
      g_line_len = 0;
    } else if (g_line_len < LINE_MAX_BYTES - 1) {
      g_line[g_line_len++] = buf[i];
    }
  }
}

static void read_socket(attendee_t *a) {
  uint8_t buf[2048];
  for (int i = 0; i < 64; i++) {
    union {
      struct cmsghdr h;
      uint8_t b[CMSG_SPACE(sizeof(struct timespec))];
    } ctl;
    struct iovec iov = {buf, sizeof buf};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &ctl, .msg_controllen = sizeof ctl};
    ssize_t n = recvmsg(a->fd, &mh, MSG_DONTWAIT);
    if (n <= 0) break;
    g_rx_wall_us = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
        struct timespec ts;
        memcpy(&ts, CMSG_DATA(c), sizeof ts);
        g_rx_wall_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
      }
    load_peer_input(a->peer, now_us(), buf, (size_t)n);
  }
  g_rx_wall_us = 0;
}

int main(int argc, char **argv) {
  g_seed = (uint64_t)wall_us() ^ ((uint64_t)getpid() << 32);
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--stdin") == 0) continue;
    if (strcmp(argv[i], "--no-twcc-feedback") == 0) {
      g_no_twcc_fb = 1;
      continue;
    }
    if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
      g_seed = strtoull(argv[++i], NULL, 0);
      continue;
    }
    fprintf(stderr, "usage: %s [--stdin] [--seed N] [--no-twcc-feedback]\n", argv[0]);
    return 2;
  }
  sfu_openssl_init();
  if (sfu_srtp_global_init() != 0 || sfu_dtls_cert_new(&g_cert) != 0) {
    fprintf(stderr, "sfu-load: crypto init failed\n");
    return 1;
  }
  g_wall_offset = wall_us() - (int64_t)now_us();
  g_line = malloc(LINE_MAX_BYTES);
  g_ep = epoll_create1(EPOLL_CLOEXEC);
  if (!g_line || g_ep < 0) return 1;
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
  struct epoll_event sev = {.events = EPOLLIN, .data.ptr = NULL};
  if (epoll_ctl(g_ep, EPOLL_CTL_ADD, 0, &sev) != 0) {
    fprintf(stderr, "sfu-load: stdin cannot be polled (use a pipe)\n");
    return 1;
  }
  while (!g_quit) {
    uint64_t now = now_us(), next = UINT64_MAX;
    for (size_t i = 0; i < g_n_att; i++) {
      load_peer_t *p = g_att[i]->peer;
      if (load_peer_next_deadline(p) <= now) load_peer_handle_timeout(p, now);
      uint64_t d = load_peer_next_deadline(p);
      if (d < next) next = d;
    }
    if (g_sg) {
      if (sfu_sctp_group_next_deadline(g_sg) <= now) sfu_sctp_group_handle_timeout(g_sg, now);
      uint64_t d = sfu_sctp_group_next_deadline(g_sg);
      if (d < next) next = d;
    }
    data_tick(now);
    if (data_deadline() < next) next = data_deadline();
    int timeout = -1;
    if (next != UINT64_MAX) {
      uint64_t now2 = now_us();
      timeout = next <= now2 ? 0 : (int)((next - now2 + 999) / 1000);
      if (timeout > 1000) timeout = 1000;
    }
    struct epoll_event evs[64];
    int n = epoll_wait(g_ep, evs, 64, timeout);
    int stdin_ready = 0;
    for (int i = 0; i < n; i++) {
      if (!evs[i].data.ptr) stdin_ready = 1;
      else read_socket(evs[i].data.ptr);
    }
    if (stdin_ready) read_stdin();
    reap();
  }
  for (size_t i = 0; i < g_n_att; i++) remove_attendee(g_att[i]);
  reap();
  if (g_sg) {
    sfu_sctp_group_free(g_sg);
    sfu_sctp_global_shutdown();
  }
  free(D.lat);
  free(D.up);
  free(D.next_us);
  close(g_ep);
  free(g_line);
  sfu_dtls_cert_free(g_cert);
  sfu_srtp_global_shutdown();
  return 0;
}
