/* The data-message relay through the loop's real WebRTC side (src/session/rtc_data.c,
 * issue 10): three clients over the simulated link, each a sim_client (ICE + DTLS) with
 * a real usrsctp association in the client role on top, opening a data channel as a
 * browser would (DCEP). The server is sfu_rtc with a real session.
 *
 * Checked: fan-out to the others stamped with the sender's ids, nothing back to the
 * sender; refusals on the channel the message came in on (BadTopic, TooLarge at 2,049,
 * 2,048 passing, binary, not JSON); a late joiner gets exactly the cached messages in
 * order, a reconnect (LeaveMeeting, new connection) only those it missed; the control
 * plane's SendDataMessage reaches everyone as "sfu"; a receiver whose link went dead
 * (server -> client packets lost: its usrsctp send buffer fills, then its queue) does
 * not delay the others, is dropped with AttendeeDropped past the stuck limit, and its
 * losses are counted; one back after a 4 s outage recovers in order; a flood of 2,000
 * gives 100 relayed and 1,900 Throttled, one fate each; the meeting's figures. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "sfu/dtls.h"
#include "sfu/err.h"
#include "sfu/openssl_init.h"
#include "sfu/rtc.h"
#include "sfu/sctp.h"
#include "sfu/session.h"
#include "sfu/srtp.h"
#include "sfu/transport.h"
#include "sim_client.h"
#include "sim_link.h"
#include "test.h"
#include "test_data.h"

#define SEC 1000000ull
#define MS 1000ull
#define NCLI 3
#define MAX_EV 256
#define MAX_RX 2048

static sfu_dtls_cert_t *g_srv_cert, *g_cli_cert[NCLI];
/* usrsctp is process-global and its timers advance by the time since the last advance
 * (sctp.h): every test's virtual clock starts after the previous test's ended, never
 * before it (a clock going back would hold usrsctp's timers until it caught up). */
static uint64_t g_clock_us = 1000000;
static char *g_offer_tpl;
static size_t g_offer_tpl_len;

typedef struct env env_t;

typedef struct {
  char topic[300], data[2100], sender[64], ext[80], err[32];
  uint32_t ppid;
  uint16_t stream;
  uint64_t at_us;
} rxmsg_t;

typedef struct {
  env_t *env;
  int idx;
  sim_client_t c;
  sfu_sctp_t *a;
  int want;        /* connect and open a channel */
  int chan_asked, chan_open;
  int blackhole;   /* server -> client datagrams are lost */
  rxmsg_t *rx;
  int n_rx;
} cl_t;

struct env {
  sim_link_t *link;
  sfu_session_t *s;
  sfu_rtc_t *rtc;
  sfu_meeting_t *m;
  sfu_attendee_t *att[NCLI];
  sfu_sctp_group_t *cg; /* the clients' usrsctp share */
  cl_t cl[NCLI];
  sfu_event_t ev[MAX_EV];
  int n_ev;
};

static uint64_t now_of(env_t *e) { return sim_link_now(e->link); }

/* ---- server side ---- */

static void on_event(void *user, const sfu_event_t *ev) {
  env_t *e = user;
  if (e->n_ev < MAX_EV) e->ev[e->n_ev++] = *ev;
}
static void on_removed(void *user, sfu_attendee_t *a) {
  env_t *e = user;
  if (e->rtc) sfu_rtc_attendee_removed(e->rtc, a);
}
static void on_meeting_removed(void *user, sfu_meeting_t *m) {
  env_t *e = user;
  if (e->rtc) sfu_rtc_meeting_removed(e->rtc, m);
}
static int count_ev(const env_t *e, sfu_event_type_t t, const char *attendee_id) {
  int n = 0;
  for (int i = 0; i < e->n_ev; i++)
    n += e->ev[i].type == t && (!attendee_id || !strcmp(e->ev[i].attendee_id, attendee_id));
  return n;
}

static void srv_send(void *user, const sfu_addr_t *to, const uint8_t *buf, size_t len) {
  env_t *e = user;
  uint8_t pkt[2048];
  if (len + 1 > sizeof pkt) return;
  int ci = -1;
  for (int i = 0; i < NCLI; i++)
    if (sfu_addr_equal(to, &e->cl[i].c.addr)) ci = i;
  if (ci < 0 || e->cl[ci].blackhole) return;
  pkt[0] = (uint8_t)ci;
  memcpy(pkt + 1, buf, len);
  sim_link_send(e->link, SIM_BA, sim_link_now(e->link), pkt, len + 1);
}
static uint64_t srv_deadline(void *core) {
  env_t *e = core;
  return sfu_rtc_next_deadline(e->rtc);
}
static void srv_timeout(void *core, uint64_t now) {
  env_t *e = core;
  sfu_rtc_handle_timeout(e->rtc, now);
}
static void srv_input(void *core, uint64_t now, const uint8_t *buf, size_t len) {
  env_t *e = core;
  uint8_t copy[2048];
  if (len < 1 || len - 1 > sizeof copy || buf[0] >= NCLI) return;
  memcpy(copy, buf + 1, len - 1);
  sfu_rtc_input(e->rtc, now, &e->cl[buf[0]].c.addr, copy, len - 1);
}

/* ---- clients: sim_client + a usrsctp client association ---- */

static void cli_send(void *user, const uint8_t *buf, size_t len) {
  cl_t *c = user;
  uint8_t pkt[2048];
  if (len + 1 > sizeof pkt) return;
  pkt[0] = (uint8_t)c->idx;
  memcpy(pkt + 1, buf, len);
  sim_link_send(c->env->link, SIM_AB, sim_link_now(c->env->link), pkt, len + 1);
}
static void cli_app(void *user, const uint8_t *buf, size_t len) {
  cl_t *c = user;
  if (c->a) sfu_sctp_handle_input(c->a, now_of(c->env), buf, len);
}
static void sctp_out(void *user, const uint8_t *buf, size_t len) {
  cl_t *c = user;
  if (c->c.dtls && c->c.connected) sfu_dtls_send(c->c.dtls, buf, len);
}
static void sctp_chan(void *user, const sfu_sctp_channel_t *ch, int open) {
  cl_t *c = user;
  c->chan_open = open;
}
static void str_of(const cJSON *j, const char *k, char *out, size_t cap) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
  snprintf(out, cap, "%s", cJSON_IsString(v) ? v->valuestring : "");
}
static void sctp_msg(void *user, uint16_t stream, uint32_t ppid, const uint8_t *buf, size_t len) {
  cl_t *c = user;
  if (c->n_rx >= MAX_RX) return;
  rxmsg_t *m = &c->rx[c->n_rx++];
  memset(m, 0, sizeof *m);
  m->ppid = ppid;
  m->stream = stream;
  m->at_us = now_of(c->env);
  cJSON *j = cJSON_ParseWithLength((const char *)buf, len);
  if (!j) return;
  str_of(j, "topic", m->topic, sizeof m->topic);
  str_of(j, "data", m->data, sizeof m->data);
  str_of(j, "senderAttendeeId", m->sender, sizeof m->sender);
  str_of(j, "senderExternalUserId", m->ext, sizeof m->ext);
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
  if (e) str_of(e, "code", m->err, sizeof m->err);
  cJSON_Delete(j);
}

/* Client state machine, after anything happened: the association once DTLS is up, the
 * channel once the association is. */
static void cli_step(cl_t *c, uint64_t now) {
  if (!c->want) return;
  if (c->c.connected && !c->a) {
    sfu_sctp_opts_t o = {.role = SFU_SCTP_ROLE_CLIENT};
    sfu_sctp_cbs_t cb = {sctp_out, NULL, sctp_chan, sctp_msg, c, NULL};
    c->a = sfu_sctp_new(c->env->cg, &o, &cb, now);
  }
  if (c->a && !c->chan_asked && sfu_sctp_state(c->a) == SFU_SCTP_ESTABLISHED) {
    c->chan_asked = 1;
    /* RFC 8832 §6: the DTLS client uses even stream ids. */
    sfu_sctp_open_channel(c->a, now, 0, "chat", "", SFU_DCEP_RELIABLE, 0);
  }
}

static uint64_t clis_deadline(void *core) {
  env_t *e = core;
  uint64_t d = sfu_sctp_group_next_deadline(e->cg);
  for (int i = 0; i < NCLI; i++) {
    uint64_t x = sim_client_next_deadline(&e->cl[i].c);
    if (x < d) d = x;
  }
  return d;
}
static void clis_timeout(void *core, uint64_t now) {
  env_t *e = core;
  if (sfu_sctp_group_next_deadline(e->cg) <= now) sfu_sctp_group_handle_timeout(e->cg, now);
  for (int i = 0; i < NCLI; i++) {
    sim_client_handle_timeout(&e->cl[i].c, now);
    cli_step(&e->cl[i], now);
  }
}
static void clis_input(void *core, uint64_t now, const uint8_t *buf, size_t len) {
  env_t *e = core;
  if (len < 1 || buf[0] >= NCLI) return;
  sim_client_handle_input(&e->cl[buf[0]].c, now, buf + 1, len - 1);
  cli_step(&e->cl[buf[0]], now);
}

static int run(env_t *e, uint64_t until, int (*cond)(void *), void *u) {
  sim_peer_t a = {e, clis_deadline, clis_timeout, clis_input};
  sim_peer_t b = {e, srv_deadline, srv_timeout, srv_input};
  return sim_run(e->link, &a, &b, until, cond, u);
}

/* ---- offers ---- */

static char *make_offer(const char *ufrag, const char *pwd, const char *fp) {
  size_t cap = g_offer_tpl_len + 1024;
  char *out = malloc(cap);
  size_t o = 0;
  const char *p = g_offer_tpl, *end = g_offer_tpl + g_offer_tpl_len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *next = nl ? nl + 1 : end;
    size_t l = (size_t)(next - p);
    if (!strncmp(p, "a=ice-ufrag:", 12)) o += (size_t)snprintf(out + o, cap - o, "a=ice-ufrag:%s\r\n", ufrag);
    else if (!strncmp(p, "a=ice-pwd:", 10)) o += (size_t)snprintf(out + o, cap - o, "a=ice-pwd:%s\r\n", pwd);
    else if (!strncmp(p, "a=fingerprint:", 14))
      o += (size_t)snprintf(out + o, cap - o, "a=fingerprint:sha-256 %s\r\n", fp);
    else {
      memcpy(out + o, p, l);
      o += l;
    }
    p = next;
  }
  out[o] = 0;
  return out;
}

static int answer_attr(const char *answer, const char *attr, char *out, size_t cap) {
  char key[64];
  snprintf(key, sizeof key, "a=%s:", attr);
  const char *p = strstr(answer, key);
  if (!p) return -1;
  p += strlen(key);
  size_t n = strcspn(p, "\r\n");
  if (n >= cap) return -1;
  memcpy(out, p, n);
  out[n] = 0;
  return 0;
}

static int subscribe(env_t *e, int ci) {
  cl_t *c = &e->cl[ci];
  char *offer = make_offer(c->c.ufrag, c->c.pwd, sfu_dtls_cert_fingerprint(g_cli_cert[ci]));
  char *answer = NULL, err[256];
  sfu_attendee_t *a = e->att[ci];
  int rc = sfu_rtc_subscribe(e->rtc, e->m->id, a->id, a->join_token, strlen(a->join_token), offer,
                             strlen(offer), NULL, now_of(e), &answer, NULL, err, sizeof err);
  free(offer);
  if (rc == 0) {
    char ufrag[64], pwd[64];
    if (!answer || answer_attr(answer, "ice-ufrag", ufrag, sizeof ufrag) ||
        answer_attr(answer, "ice-pwd", pwd, sizeof pwd) || !strstr(answer, "m=application"))
      rc = -1000;
    else
      sim_client_set_server_ice(&c->c, ufrag, pwd);
  } else {
    fprintf(stderr, "subscribe %d: %s\n", ci, err);
  }
  free(answer);
  c->want = 1;
  return rc;
}

/* ---- setup ---- */

static void cl_init(env_t *e, int i) {
  cl_t *c = &e->cl[i];
  rxmsg_t *rx = c->rx;
  memset(c, 0, sizeof *c);
  c->rx = rx ? rx : calloc(MAX_RX, sizeof *rx);
  c->env = e;
  c->idx = i;
  char ufrag[24], pwd[48];
  snprintf(ufrag, sizeof ufrag, "cli%d", i);
  snprintf(pwd, sizeof pwd, "clientpasswordclientpass%02d", i);
  sim_client_config_t cc = {g_cli_cert[i], sfu_dtls_cert_fingerprint(g_srv_cert), ufrag, pwd,
                            (uint8_t)i, {cli_send, cli_app, c}};
  sim_client_init(&c->c, &cc);
  char addr[48];
  snprintf(addr, sizeof addr, "10.0.0.%d:5000%d", 2 + i, i);
  sfu_addr_parse(&c->c.addr, addr);
}

/* A client drops its connection without a word (its association and DTLS state gone):
 * the next subscribe is a new connection from the same device. */
static void cl_reset(env_t *e, int i) {
  cl_t *c = &e->cl[i];
  if (c->a) sfu_sctp_free(c->a);
  sim_client_free(&c->c);
  cl_init(e, i);
  c->n_rx = 0;
}

static void env_init(env_t *e, uint64_t seed) {
  memset(e, 0, sizeof *e);
  e->link = sim_link_new(seed);
  sim_dir_cfg_t cfg = {.delay_us = 10000};
  sim_link_config(e->link, SIM_AB, &cfg);
  sim_link_config(e->link, SIM_BA, &cfg);
  sim_link_set_now(e->link, g_clock_us + 1 * SEC);
  sfu_session_config_t scfg = {300 * SEC, 86400 * SEC};
  sfu_session_cbs_t scbs = {on_event, on_removed, e, on_meeting_removed};
  e->s = sfu_session_new(&scfg, &scbs);
  sfu_rtc_config_t rcfg = {.announce_ip = "10.0.0.1", .udp_port = 3478};
  sfu_rtc_cbs_t rcbs = {.send_cb = srv_send, .on_event_cb = on_event, .user = e};
  e->rtc = sfu_rtc_new(e->s, g_srv_cert, &rcfg, &rcbs);
  e->cg = sfu_sctp_group_new();
  char id[SFU_UUID_LEN + 1], err[256];
  sfu_uuid_v4(id);
  sfu_meeting_params_t p = {id, "standup", NULL, {.video = SFU_RES_HD, .content = SFU_RES_FHD}};
  sfu_session_create_meeting(e->s, &p, now_of(e), &e->m, err, sizeof err);
  for (int i = 0; i < NCLI; i++) {
    char user[16];
    snprintf(user, sizeof user, "user%d", i);
    sfu_session_create_attendee(e->s, e->m->id, user, NULL, now_of(e), &e->att[i], err, sizeof err);
    cl_init(e, i);
  }
}

static void env_free(env_t *e) {
  g_clock_us = now_of(e);
  for (int i = 0; i < NCLI; i++)
    if (e->cl[i].a) sfu_sctp_free(e->cl[i].a);
  sfu_rtc_free(e->rtc);
  e->rtc = NULL;
  sfu_session_free(e->s);
  sfu_sctp_group_free(e->cg);
  for (int i = 0; i < NCLI; i++) {
    sim_client_free(&e->cl[i].c);
    free(e->cl[i].rx);
  }
  sim_link_free(e->link);
}

typedef struct {
  env_t *e;
  int mask;
} wait_t;

/* The clients in mask have their channel open and the server's peer is open. */
static int chans_open(void *u) {
  wait_t *w = u;
  for (int i = 0; i < NCLI; i++) {
    if (!(w->mask & (1 << i))) continue;
    sfu_data_peer_stats_t ps;
    if (!w->e->cl[i].chan_open || sfu_rtc_attendee_data_stats(w->e->att[i], &ps) || !ps.open) return 0;
  }
  return 1;
}

static int connect_clients(env_t *e, int mask) {
  for (int i = 0; i < NCLI; i++)
    if ((mask & (1 << i)) && subscribe(e, i)) return 0;
  wait_t w = {e, mask};
  return run(e, now_of(e) + 10 * SEC, chans_open, &w) == 1;
}

static void send_text(env_t *e, int ci, const char *s) {
  CHECK(sfu_sctp_send(e->cl[ci].a, now_of(e), 0, SFU_SCTP_PPID_STRING, (const uint8_t *)s, strlen(s)) == 0);
}

static void send_msg(env_t *e, int ci, const char *topic, const char *data, unsigned life) {
  size_t cap = strlen(topic) + strlen(data) + 100;
  char *b = malloc(cap);
  snprintf(b, cap, "{\"topic\":\"%s\",\"data\":\"%s\",\"lifetimeMs\":%u}", topic, data, life);
  send_text(e, ci, b);
  free(b);
}

static void settle(env_t *e, uint64_t us) { run(e, now_of(e) + us, NULL, NULL); }

/* ---- tests ---- */

TEST(relay_fan_out_and_refusals) {
  env_t e;
  env_init(&e, 1);
  REQUIRE(connect_clients(&e, 7));
  send_msg(&e, 0, "chat", "hello", 0);
  settle(&e, 300 * MS);
  CHECK_EQ_INT(e.cl[0].n_rx, 0); /* never back to the sender */
  for (int i = 1; i < 3; i++) {
    REQUIRE(e.cl[i].n_rx == 1);
    CHECK_EQ_STR(e.cl[i].rx[0].topic, "chat");
    CHECK_EQ_STR(e.cl[i].rx[0].data, "hello");
    CHECK_EQ_STR(e.cl[i].rx[0].sender, e.att[0]->id);
    CHECK_EQ_STR(e.cl[i].rx[0].ext, "user0");
    CHECK_EQ_INT(e.cl[i].rx[0].ppid, SFU_SCTP_PPID_STRING);
    CHECK_EQ_INT(e.cl[i].rx[0].stream, 0); /* its first channel */
  }
  /* Refusals: to the sender only, on its channel. */
  char t65[66];
  memset(t65, 'a', 65);
  t65[65] = 0;
  send_msg(&e, 0, t65, "x", 0);
  char *d2044 = malloc(2046), *d2045 = malloc(2046);
  memset(d2044, 'd', 2044);
  d2044[2044] = 0;
  memset(d2045, 'd', 2045);
  d2045[2045] = 0;
  send_msg(&e, 1, "abcd", d2045, 0); /* 2,049: TooLarge */
  send_msg(&e, 1, "abcd", d2044, 0); /* 2,048: passes */
  CHECK(sfu_sctp_send(e.cl[2].a, now_of(&e), 0, SFU_SCTP_PPID_BINARY, (const uint8_t *)"{}", 2) == 0);
  send_text(&e, 2, "not json");
  settle(&e, 500 * MS);
  REQUIRE(e.cl[0].n_rx == 2);
  CHECK_EQ_STR(e.cl[0].rx[0].err, "BadTopic");
  CHECK_EQ_STR(e.cl[0].rx[0].topic, t65);
  CHECK_EQ_STR(e.cl[0].rx[1].data, d2044); /* from user1 */
  CHECK_EQ_STR(e.cl[0].rx[1].sender, e.att[1]->id);
  REQUIRE(e.cl[1].n_rx == 2);
  CHECK_EQ_STR(e.cl[1].rx[1].err, "TooLarge");
  CHECK_EQ_STR(e.cl[1].rx[1].topic, "abcd");
  REQUIRE(e.cl[2].n_rx == 4); /* hello, the 2,048 one, two refusals */
  CHECK_EQ_STR(e.cl[2].rx[1].data, d2044);
  CHECK_EQ_STR(e.cl[2].rx[2].err, "BadRequest");
  CHECK_EQ_STR(e.cl[2].rx[3].err, "BadRequest");
  free(d2044);
  free(d2045);
  /* The control plane: everyone, as "sfu". */
  int code = 0;
  char err[256];
  CHECK_EQ_INT(sfu_rtc_send_data_message(e.rtc, e.m->id, "ops", 3, "bye", 3, 0, now_of(&e), &code, err, sizeof err), 0);
  CHECK_EQ_INT(sfu_rtc_send_data_message(e.rtc, e.m->id, "sfu:x", 5, "", 0, 0, now_of(&e), &code, err, sizeof err), SFU_EINVAL);
  CHECK_EQ_INT(code, SFU_DATA_BAD_TOPIC);
  settle(&e, 300 * MS);
  for (int i = 0; i < 3; i++) {
    REQUIRE(e.cl[i].n_rx >= 1);
    rxmsg_t *m = &e.cl[i].rx[e.cl[i].n_rx - 1];
    CHECK_EQ_STR(m->sender, "sfu");
    CHECK_EQ_STR(m->ext, "sfu");
    CHECK_EQ_STR(m->data, "bye");
  }
  sfu_data_relay_stats_t st;
  REQUIRE(sfu_rtc_meeting_data_stats(e.m, &st) == 0);
  CHECK_EQ_INT(st.messages_in, 8);
  CHECK_EQ_INT(st.accepted, 3);
  CHECK_EQ_INT(st.delivered, 2 + 2 + 3);
  CHECK_EQ_INT(st.refused[SFU_DATA_BAD_TOPIC], 2);
  CHECK_EQ_INT(st.refused[SFU_DATA_TOO_LARGE], 1);
  CHECK_EQ_INT(st.refused[SFU_DATA_BAD_REQUEST], 2);
  sfu_data_peer_stats_t ps;
  sfu_rtc_attendee_data_stats(e.att[0], &ps);
  CHECK_EQ_INT(ps.sent, 1);
  CHECK_EQ_INT(ps.refused, 1);
  CHECK_EQ_INT(ps.received, 2);
  env_free(&e);
}

TEST(late_joiner_and_reconnect_replay) {
  env_t e;
  env_init(&e, 2);
  REQUIRE(connect_clients(&e, 3));
  send_msg(&e, 0, "wb", "c1", 60000);
  send_msg(&e, 0, "chat", "live", 0);
  send_msg(&e, 1, "wb", "c2", 60000);
  send_msg(&e, 0, "wb", "c3", 60000);
  settle(&e, 300 * MS);
  REQUIRE(connect_clients(&e, 4)); /* joins after three cached messages */
  settle(&e, 300 * MS);
  REQUIRE(e.cl[2].n_rx == 3);
  CHECK_EQ_STR(e.cl[2].rx[0].data, "c1");
  CHECK_EQ_STR(e.cl[2].rx[1].data, "c2");
  CHECK_EQ_STR(e.cl[2].rx[2].data, "c3");
  CHECK_EQ_STR(e.cl[2].rx[1].sender, e.att[1]->id);
  /* Client 1 drops off (LeaveMeeting), one more cached message goes out, it comes back
   * on a new connection: it gets that one only. */
  char err[256];
  CHECK_EQ_INT(sfu_rtc_leave(e.rtc, e.m->id, e.att[1]->id, now_of(&e), err, sizeof err), 0);
  cl_reset(&e, 1);
  send_msg(&e, 0, "wb", "c4", 60000);
  settle(&e, 300 * MS);
  REQUIRE(connect_clients(&e, 2));
  settle(&e, 300 * MS);
  REQUIRE(e.cl[1].n_rx == 1);
  CHECK_EQ_STR(e.cl[1].rx[0].data, "c4");
  /* The sender reconnecting gets nothing of its own back. */
  CHECK_EQ_INT(sfu_rtc_leave(e.rtc, e.m->id, e.att[0]->id, now_of(&e), err, sizeof err), 0);
  cl_reset(&e, 0);
  settle(&e, 100 * MS);
  REQUIRE(connect_clients(&e, 1));
  settle(&e, 300 * MS);
  /* c1, c3, c4 are its own; c2 it received live before: nothing to replay. */
  CHECK_EQ_INT(e.cl[0].n_rx, 0);
  sfu_data_peer_stats_t ps;
  sfu_rtc_attendee_data_stats(e.att[0], &ps);
  CHECK_EQ_INT(ps.received, 1);
  CHECK_EQ_INT(ps.mark, 5); /* past its own messages: none is ever offered to it */
  sfu_data_relay_stats_t st;
  sfu_rtc_meeting_data_stats(e.m, &st);
  CHECK_EQ_INT(st.cached, 4);
  CHECK_EQ_INT(st.replayed, 3 + 1);
  env_free(&e);
}

typedef struct {
  env_t *e;
  const char *id;
} drop_wait_t;
static int dropped(void *u) {
  drop_wait_t *w = u;
  return count_ev(w->e, SFU_EV_ATTENDEE_DROPPED, w->id) > 0;
}

TEST(stuck_receiver_dropped_others_unaffected) {
  env_t e;
  env_init(&e, 3);
  REQUIRE(connect_clients(&e, 7));
  e.cl[2].blackhole = 1; /* its link dies: nothing from the server reaches it */
  char data[1801];
  uint64_t start = now_of(&e), sent_at[1200];
  int n = 0;
  drop_wait_t w = {&e, e.att[2]->id};
  uint64_t dropped_at = 0;
  /* 20 messages a second of ~1.8 KB until the dead receiver is dropped (its usrsctp
   * buffer fills first, then its queue; then 10 s without progress). */
  while (n < 1200 && now_of(&e) < start + 120 * SEC) {
    snprintf(data, sizeof data, "%04d", n);
    memset(data + 4, 'x', sizeof data - 5);
    data[sizeof data - 1] = 0;
    sent_at[n++] = now_of(&e);
    send_msg(&e, 0, "flood", data, 0);
    if (run(&e, now_of(&e) + 50 * MS, dropped, &w) == 1 && !dropped_at) {
      dropped_at = now_of(&e);
      break;
    }
  }
  settle(&e, 500 * MS);
  REQUIRE(dropped_at != 0);
  CHECK(dropped_at - start > SFU_DATA_STUCK_US); /* not before the limit */
  CHECK_EQ_INT(count_ev(&e, SFU_EV_ATTENDEE_DROPPED, e.att[1]->id), 0);
  /* The live receiver got every message, in order, each within 100 ms of being sent. */
  REQUIRE(e.cl[1].n_rx == n);
  uint64_t worst = 0;
  for (int i = 0; i < n; i++) {
    char want[5];
    snprintf(want, sizeof want, "%04d", i);
    CHECK(strncmp(e.cl[1].rx[i].data, want, 4) == 0);
    uint64_t lat = e.cl[1].rx[i].at_us - sent_at[i];
    if (lat > worst) worst = lat;
  }
  CHECK(worst <= 100 * MS);
  sfu_data_peer_stats_t ps;
  REQUIRE(sfu_rtc_attendee_data_stats(e.att[2], &ps) == 0);
  CHECK(ps.dropped > 0);
  CHECK_EQ_INT(ps.stuck, 1);
  CHECK_EQ_INT(ps.open, 0);
  sfu_data_relay_stats_t st;
  sfu_rtc_meeting_data_stats(e.m, &st);
  CHECK_EQ_INT(st.dropped, ps.dropped);
  fprintf(stderr, "stuck receiver: %d messages, dropped after %.1f s, %llu dropped for it, "
          "worst latency to the live one %.1f ms\n", n, (double)(dropped_at - start) / 1e6,
          (unsigned long long)ps.dropped, (double)worst / 1e3);
  env_free(&e);
}

/* A flood of 2,000 messages at once from one client: 100 relayed (the meeting's rate),
 * 1,900 refused Throttled to the sender (each refusal received or counted lost), the
 * others get exactly the 100, in order; nothing else is disturbed. */
TEST(flood_throttled_one_fate_each) {
  env_t e;
  env_init(&e, 5);
  REQUIRE(connect_clients(&e, 7));
  char d[16];
  for (int i = 0; i < 2000; i++) {
    snprintf(d, sizeof d, "%d", i);
    send_msg(&e, 0, "flood", d, 0);
  }
  settle(&e, 3 * SEC);
  REQUIRE(e.cl[1].n_rx == 100);
  CHECK_EQ_INT(e.cl[2].n_rx, 100);
  for (int i = 0; i < 100; i++) {
    snprintf(d, sizeof d, "%d", i);
    CHECK_EQ_STR(e.cl[1].rx[i].data, d);
  }
  int throttled = 0;
  for (int i = 0; i < e.cl[0].n_rx; i++) throttled += !strcmp(e.cl[0].rx[i].err, "Throttled");
  CHECK_EQ_INT(throttled, e.cl[0].n_rx); /* the sender got refusals only */
  sfu_data_peer_stats_t ps;
  sfu_rtc_attendee_data_stats(e.att[0], &ps);
  CHECK_EQ_INT(ps.sent, 100);
  CHECK_EQ_INT(ps.refused, 1900);
  CHECK_EQ_INT((uint64_t)throttled + ps.refusals_lost, 1900);
  sfu_data_relay_stats_t st;
  sfu_rtc_meeting_data_stats(e.m, &st);
  CHECK_EQ_INT(st.messages_in, 2000);
  CHECK_EQ_INT(st.refused[SFU_DATA_THROTTLED], 1900);
  CHECK_EQ_INT(st.delivered, 200);
  CHECK_EQ_INT(count_ev(&e, SFU_EV_ATTENDEE_DROPPED, NULL), 0);
  fprintf(stderr, "flood: %d refusals received, %llu lost\n", throttled,
          (unsigned long long)ps.refusals_lost);
  env_free(&e);
}

/* A receiver whose link is gone for 4 s, then back (sends go on at 20 a second): its
 * association's buffer fills (sends blocked), its queue takes over, then the low-water
 * callback and the retries drain it; what it gets is in order without duplicates, each
 * message is received or counted dropped, it is not dropped as stuck (usrsctp's
 * backed-off RTO, RFC 4960 §6.3.3, makes it wait ~4 s more for the first retransmission
 * after the outage: under the 10 s limit), and the others never wait. */
TEST(slow_receiver_recovers_in_order) {
  env_t e;
  env_init(&e, 4);
  REQUIRE(connect_clients(&e, 7));
  char data[1801];
  uint64_t start = now_of(&e);
  int n = 0;
  /* Sending goes on well past the outage: usrsctp retransmits with a backed-off RTO
   * (RFC 4960 §6.3.3), so the association stays full for a while after the link is back;
   * what waits longer than the queue's 1 s is dropped, the newer ones flow again. */
  while (now_of(&e) < start + 20 * SEC) {
    e.cl[2].blackhole = now_of(&e) >= start + 1 * SEC && now_of(&e) < start + 5 * SEC;
    snprintf(data, sizeof data, "%04d", n++);
    memset(data + 4, 'x', sizeof data - 5);
    data[sizeof data - 1] = 0;
    send_msg(&e, 0, "flood", data, 0);
    run(&e, now_of(&e) + 50 * MS, NULL, NULL);
  }
  e.cl[2].blackhole = 0;
  settle(&e, 2 * SEC);
  CHECK_EQ_INT(count_ev(&e, SFU_EV_ATTENDEE_DROPPED, NULL), 0);
  CHECK_EQ_INT(e.cl[1].n_rx, n);
  REQUIRE(e.cl[2].n_rx > 0);
  int last = -1, ordered = 1;
  for (int i = 0; i < e.cl[2].n_rx; i++) {
    int k = atoi(e.cl[2].rx[i].data);
    if (k <= last) ordered = 0;
    last = k;
  }
  CHECK(ordered);
  CHECK_EQ_INT(last, n - 1); /* it caught up with the newest */
  sfu_data_peer_stats_t ps;
  sfu_rtc_attendee_data_stats(e.att[2], &ps);
  CHECK_EQ_INT(ps.received + ps.dropped, (uint64_t)n); /* one fate each */
  CHECK_EQ_INT(ps.queued, 0);
  const sfu_transport_stats_t *ts = sfu_transport_stats(sfu_rtc_attendee_transport(e.att[2]));
  CHECK(ts->data_send_blocked > 0);
  fprintf(stderr, "slow receiver: %d sent, %llu received, %llu dropped, %llu sends blocked\n", n,
          (unsigned long long)ps.received, (unsigned long long)ps.dropped,
          (unsigned long long)ts->data_send_blocked);
  env_free(&e);
}

int main(void) {
  sfu_openssl_init();
  if (sfu_srtp_global_init() != 0 || sfu_sctp_global_init() != 0) return 1;
  if (sfu_dtls_cert_new(&g_srv_cert)) return 1;
  for (int i = 0; i < NCLI; i++)
    if (sfu_dtls_cert_new(&g_cli_cert[i])) return 1;
  g_offer_tpl = test_load_sdp("chromium-datachannel-only.sdp", &g_offer_tpl_len);
  if (!g_offer_tpl) return 1;
  RUN(relay_fan_out_and_refusals);
  RUN(late_joiner_and_reconnect_replay);
  RUN(stuck_receiver_dropped_others_unaffected);
  RUN(slow_receiver_recovers_in_order);
  RUN(flood_throttled_one_fate_each);
  free(g_offer_tpl);
  sfu_dtls_cert_free(g_srv_cert);
  for (int i = 0; i < NCLI; i++) sfu_dtls_cert_free(g_cli_cert[i]);
  sfu_sctp_global_shutdown();
  return test_summary();
}
