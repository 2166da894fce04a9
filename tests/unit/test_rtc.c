/* The loop's WebRTC side (src/session/rtc.c) with a real session, over the simulated
 * link: clients built from the same cores as the worker (binding requests from stun.h's
 * builder, a DTLS client core) get their answer from sfu_rtc_subscribe and connect.
 *
 * Offers are the captured Chromium offer tests/data/sdp/chromium-audio-only.sdp with its
 * ICE credentials and fingerprint replaced by the test client's (so that DTLS verifies).
 * Two clients can share the link: every datagram carries a one-byte client index in
 * front (stripped before the cores see it), the server side maps it to an address.
 *
 * Checked: token errors; SDP errors naming what is missing; Authorized / Joined and the
 * connected flag; renegotiation on the same transport and an ICE restart that keeps the
 * connection; another device taking over (one Left for the old transport, Authorized,
 * close_notify to the old client); LeaveMeeting → Left never Dropped; consent loss →
 * Dropped never Left; DeleteAttendee while connected → close_notify and nothing after
 * AttendeeDeleted; idle end counts connected attendees; the deadline heap. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <opus/opus.h>

#include "sfu/dtls.h"
#include "sfu/err.h"
#include "sfu/rtc.h"
#include "sfu/rtcp.h"
#include "sfu/sdp.h"
#include "sfu/session.h"
#include "sfu/srtp.h"
#include "sfu/stun.h"
#include "sfu/transport.h"
#include "session/rtc_internal.h" /* the record's audio bookkeeping (issue 9) */
#include "sim_client.h"
#include "sim_link.h"
#include "test.h"
#include "test_data.h"
#include "test_fp.h"

#define SEC 1000000ull
#define MAX_EV 256

static sfu_dtls_cert_t *g_srv_cert, *g_cli_cert[2];
static char *g_offer_tpl;
static size_t g_offer_tpl_len;

typedef struct env env_t;

/* Which client a send callback is for: its datagrams get this index in front. */
typedef struct {
  env_t *env;
  int idx;
} cli_ref_t;

struct env {
  sim_link_t *link;
  sfu_session_t *s;
  sfu_rtc_t *rtc;
  sfu_meeting_t *m;
  sfu_attendee_t *a, *b;
  /* Two client devices (tests/sim/sim_client.h): ICE controlling, DTLS client. Their ICE
   * credentials are their own; the server's come from the answer. */
  sim_client_t cli[2];
  cli_ref_t ref[2];
  sfu_event_t ev[MAX_EV];
  int n_ev;
  int with_session_timers;
  /* RTCP the server sends client `watch_ci`, decrypted with its SRTP session: report
   * blocks about SSRC watch_ssrc (0: not watching) */
  uint32_t watch_ssrc;
  int watch_ci;
  int rb_seen, rb_in_sr, rb_in_rr;
  sfu_rtcp_rb_t rb_last;
};

static void watch_rtcp(env_t *e, int ci, const uint8_t *buf, size_t len) {
  /* RFC 7983 / RFC 5761 §4: RTP/RTCP, and RTCP by its packet type 192..223 */
  if (!e->watch_ssrc || ci != e->watch_ci || len < 8 || buf[0] < 128 || buf[0] > 191 ||
      buf[1] < 192 || buf[1] > 223 || !e->cli[ci].srtp)
    return;
  uint8_t plain[2048];
  size_t n = len;
  memcpy(plain, buf, len);
  if (sfu_srtp_unprotect_rtcp(e->cli[ci].srtp, plain, &n) != 0) return;
  sfu_rtcp_iter_t it;
  sfu_rtcp_pkt_t p;
  sfu_rtcp_iter_init(&it, plain, n);
  while (sfu_rtcp_iter_next(&it, &p) == 1) {
    const uint8_t *blocks = NULL;
    unsigned nb = 0;
    int in_sr = p.pt == SFU_RTCP_SR;
    sfu_rtcp_sr_t sr;
    sfu_rtcp_rr_t rr;
    if (in_sr && sfu_rtcp_sr_parse(&p, &sr) == 0) blocks = sr.blocks, nb = sr.rb_count;
    if (p.pt == SFU_RTCP_RR && sfu_rtcp_rr_parse(&p, &rr) == 0) blocks = rr.blocks, nb = rr.rb_count;
    for (unsigned i = 0; i < nb; i++) {
      sfu_rtcp_rb_t rb;
      sfu_rtcp_rb_get(blocks, i, &rb);
      if (rb.ssrc != e->watch_ssrc) continue;
      e->rb_seen++;
      e->rb_in_sr += in_sr;
      e->rb_in_rr += !in_sr;
      e->rb_last = rb;
    }
  }
}

/* ---- events and server side ---- */

static void on_event(void *user, const sfu_event_t *ev) {
  env_t *e = user;
  if (e->n_ev < MAX_EV) e->ev[e->n_ev++] = *ev;
}
static void on_removed(void *user, sfu_attendee_t *a) {
  env_t *e = user;
  if (e->rtc) sfu_rtc_attendee_removed(e->rtc, a);
}
static int count_ev(const env_t *e, sfu_event_type_t t) {
  int n = 0;
  for (int i = 0; i < e->n_ev; i++) n += e->ev[i].type == t;
  return n;
}
static int index_of_ev(const env_t *e, sfu_event_type_t t) {
  for (int i = 0; i < e->n_ev; i++)
    if (e->ev[i].type == t) return i;
  return -1;
}

static void srv_send(void *user, const sfu_addr_t *to, const uint8_t *buf, size_t len) {
  env_t *e = user;
  uint8_t pkt[2048];
  if (len + 1 > sizeof pkt) return;
  pkt[0] = sfu_addr_equal(to, &e->cli[1].addr) ? 1 : 0;
  memcpy(pkt + 1, buf, len);
  watch_rtcp(e, pkt[0], buf, len);
  sim_link_send(e->link, SIM_BA, sim_link_now(e->link), pkt, len + 1);
}

static uint64_t srv_deadline(void *core) {
  env_t *e = core;
  uint64_t d = sfu_rtc_next_deadline(e->rtc);
  if (e->with_session_timers) {
    uint64_t x = sfu_session_next_deadline(e->s);
    if (x < d) d = x;
  }
  return d;
}
static void srv_timeout(void *core, uint64_t now) {
  env_t *e = core;
  sfu_rtc_handle_timeout(e->rtc, now);
  if (e->with_session_timers && now >= sfu_session_next_deadline(e->s))
    sfu_session_handle_timeout(e->s, now);
}
static void srv_input(void *core, uint64_t now, const uint8_t *buf, size_t len) {
  env_t *e = core;
  uint8_t copy[2048];
  if (len < 1 || len - 1 > sizeof copy || buf[0] > 1) return;
  memcpy(copy, buf + 1, len - 1);
  sfu_rtc_input(e->rtc, now, &e->cli[buf[0]].addr, copy, len - 1);
}

/* ---- clients ---- */

static void cli_send(void *user, const uint8_t *buf, size_t len) {
  cli_ref_t *r = user;
  uint8_t pkt[2048];
  if (len + 1 > sizeof pkt) return;
  pkt[0] = (uint8_t)r->idx;
  memcpy(pkt + 1, buf, len);
  sim_link_send(r->env->link, SIM_AB, sim_link_now(r->env->link), pkt, len + 1);
}

static uint64_t clis_deadline(void *core) {
  env_t *e = core;
  uint64_t d = UINT64_MAX;
  for (int i = 0; i < 2; i++) {
    uint64_t x = sim_client_next_deadline(&e->cli[i]);
    if (x < d) d = x;
  }
  return d;
}
static void clis_timeout(void *core, uint64_t now) {
  env_t *e = core;
  for (int i = 0; i < 2; i++) sim_client_handle_timeout(&e->cli[i], now);
}
static void clis_input(void *core, uint64_t now, const uint8_t *buf, size_t len) {
  env_t *e = core;
  if (len < 1 || buf[0] > 1) return;
  sim_client_handle_input(&e->cli[buf[0]], now, buf + 1, len - 1);
}

static int run(env_t *e, uint64_t until, int (*cond)(void *), void *u) {
  sim_peer_t a = {e, clis_deadline, clis_timeout, clis_input};
  sim_peer_t b = {e, srv_deadline, srv_timeout, srv_input};
  return sim_run(e->link, &a, &b, until, cond, u);
}
static uint64_t now_of(env_t *e) { return sim_link_now(e->link); }

/* ---- offers and answers ---- */

/* The template with its transport lines replaced: each a=fingerprint line by `fp_lines`
 * (whole lines, CRLF-terminated: one or several); `drop` (a line prefix) removed. */
static char *make_offer_fp_lines(const char *ufrag, const char *pwd, const char *fp_lines,
                                 const char *drop) {
  size_t cap = g_offer_tpl_len + 1024 + 4 * strlen(fp_lines);
  char *out = malloc(cap);
  size_t o = 0;
  const char *p = g_offer_tpl, *end = g_offer_tpl + g_offer_tpl_len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *next = nl ? nl + 1 : end;
    size_t l = (size_t)(next - p);
    if (drop && strncmp(p, drop, strlen(drop)) == 0) {
    } else if (strncmp(p, "a=ice-ufrag:", 12) == 0) {
      o += (size_t)snprintf(out + o, cap - o, "a=ice-ufrag:%s\r\n", ufrag);
    } else if (strncmp(p, "a=ice-pwd:", 10) == 0) {
      o += (size_t)snprintf(out + o, cap - o, "a=ice-pwd:%s\r\n", pwd);
    } else if (strncmp(p, "a=fingerprint:", 14) == 0) {
      o += (size_t)snprintf(out + o, cap - o, "%s", fp_lines);
    } else {
      memcpy(out + o, p, l);
      o += l;
    }
    p = next;
  }
  out[o] = '\0';
  return out;
}

/* The template with its transport lines replaced; `drop` (a line prefix) removed. */
static char *make_offer(const char *ufrag, const char *pwd, const char *fp, const char *drop) {
  char line[300];
  snprintf(line, sizeof line, "a=fingerprint:sha-256 %s\r\n", fp);
  return make_offer_fp_lines(ufrag, pwd, line, drop);
}

/* Copies the value of "a=<attr>:" from the answer into out. */
static int answer_attr(const char *answer, const char *attr, char *out, size_t cap) {
  char key[64];
  snprintf(key, sizeof key, "a=%s:", attr);
  const char *p = strstr(answer, key);
  if (!p) return -1;
  p += strlen(key);
  size_t n = strcspn(p, "\r\n");
  if (n >= cap) return -1;
  memcpy(out, p, n);
  out[n] = '\0';
  return 0;
}

/* Subscribe for attendee `a` as client `ci` (its current credentials), offering the
 * fingerprint lines fp_lines (NULL: the sha-256 of the client's certificate). */
static int subscribe_as_fp(env_t *e, sfu_attendee_t *a, int ci, const char *fp_lines, char *err,
                           size_t errlen) {
  sim_client_t *c = &e->cli[ci];
  char *offer = fp_lines ? make_offer_fp_lines(c->ufrag, c->pwd, fp_lines, NULL)
                         : make_offer(c->ufrag, c->pwd, sfu_dtls_cert_fingerprint(g_cli_cert[ci]), NULL);
  char *answer = NULL;
  int rc = sfu_rtc_subscribe(e->rtc, e->m->id, a->id, a->join_token, strlen(a->join_token),
                             offer, strlen(offer), NULL, now_of(e), &answer, NULL, err, errlen);
  free(offer);
  if (rc == 0) {
    char ufrag[64], pwd[64];
    if (!answer || !strstr(answer, "a=ice-lite") || !strstr(answer, "a=setup:passive") ||
        !strstr(answer, sfu_dtls_cert_fingerprint(g_srv_cert)) ||
        answer_attr(answer, "ice-ufrag", ufrag, sizeof ufrag) ||
        answer_attr(answer, "ice-pwd", pwd, sizeof pwd))
      rc = -1000;
    else
      sim_client_set_server_ice(c, ufrag, pwd);
  }
  free(answer);
  return rc;
}

static int subscribe_as(env_t *e, sfu_attendee_t *a, int ci, char *err, size_t errlen) {
  return subscribe_as_fp(e, a, ci, NULL, err, errlen);
}

/* ---- setup ---- */

static void env_init(env_t *e, uint64_t seed, uint64_t idle_s) {
  memset(e, 0, sizeof *e);
  e->link = sim_link_new(seed);
  sim_dir_cfg_t cfg = {.delay_us = 10000};
  sim_link_config(e->link, SIM_AB, &cfg);
  sim_link_config(e->link, SIM_BA, &cfg);
  sim_link_set_now(e->link, 1 * SEC);
  sfu_session_config_t scfg = {idle_s * SEC, 86400 * SEC};
  sfu_session_cbs_t scbs = {on_event, on_removed, e, NULL};
  e->s = sfu_session_new(&scfg, &scbs);
  sfu_rtc_config_t rcfg = {.announce_ip = "10.0.0.1", .udp_port = 3478};
  sfu_rtc_cbs_t rcbs = {.send_cb = srv_send, .on_event_cb = on_event, .user = e};
  e->rtc = sfu_rtc_new(e->s, g_srv_cert, &rcfg, &rcbs);
  char id[SFU_UUID_LEN + 1], err[256];
  sfu_uuid_v4(id);
  sfu_meeting_params_t p = {id, "standup", NULL, {.video = SFU_RES_HD, .content = SFU_RES_FHD, .max_count = 0}};
  sfu_session_create_meeting(e->s, &p, now_of(e), &e->m, err, sizeof err);
  sfu_session_create_attendee(e->s, e->m->id, "alice", NULL, now_of(e), &e->a, err, sizeof err);
  sfu_session_create_attendee(e->s, e->m->id, "bob", NULL, now_of(e), &e->b, err, sizeof err);
  for (int i = 0; i < 2; i++) {
    char ufrag[16], pwd[32];
    snprintf(ufrag, sizeof ufrag, "cli%d", i);
    snprintf(pwd, sizeof pwd, "clientpasswordclientpass%02d", i);
    e->ref[i] = (cli_ref_t){e, i};
    sim_client_config_t cc = {g_cli_cert[i], sfu_dtls_cert_fingerprint(g_srv_cert), ufrag, pwd,
                              (uint8_t)i, {cli_send, NULL, &e->ref[i]}};
    sim_client_init(&e->cli[i], &cc);
    sfu_addr_parse(&e->cli[i].addr, i ? "10.0.0.3:50001" : "10.0.0.2:50000");
  }
  e->n_ev = 0;
}

static void env_free(env_t *e) {
  sfu_rtc_free(e->rtc);
  e->rtc = NULL;
  sfu_session_free(e->s);
  for (int i = 0; i < 2; i++) sim_client_free(&e->cli[i]);
  sim_link_free(e->link);
}

static int cli0_joined(void *u) {
  env_t *e = u;
  return e->cli[0].connected && count_ev(e, SFU_EV_ATTENDEE_JOINED) > 0;
}
static int cli1_joined(void *u) {
  env_t *e = u;
  return e->cli[1].connected && count_ev(e, SFU_EV_ATTENDEE_JOINED) > 1;
}
static int departed(void *u) {
  env_t *e = u;
  return count_ev(e, SFU_EV_ATTENDEE_LEFT) + count_ev(e, SFU_EV_ATTENDEE_DROPPED) > 0;
}

/* A fresh env with alice connected through client 0. */
static int connect_alice(env_t *e, uint64_t seed, uint64_t idle_s) {
  char err[256];
  env_init(e, seed, idle_s);
  if (!e->rtc || !e->a || subscribe_as(e, e->a, 0, err, sizeof err) != 0) return 0;
  return run(e, now_of(e) + 5 * SEC, cli0_joined, e) == 1;
}

/* ---- tests ---- */

TEST(token_errors_forbidden) {
  env_t e;
  env_init(&e, 1, 300);
  REQUIRE(e.rtc && e.a && e.b);
  char *offer = make_offer("cli0", "clientpasswordclientpass00", sfu_dtls_cert_fingerprint(g_cli_cert[0]), NULL);
  char *answer = (char *)1, err[256] = "";
  size_t ol = strlen(offer);
  /* wrong token */
  CHECK_EQ_INT(sfu_rtc_subscribe(e.rtc, e.m->id, e.a->id, "nope", 4, offer, ol, NULL, now_of(&e), &answer, NULL, err, sizeof err), SFU_EPERM);
  CHECK(answer == NULL);
  CHECK(strstr(err, "JoinToken") != NULL);
  /* bob's token for alice (another attendee's) */
  CHECK_EQ_INT(sfu_rtc_subscribe(e.rtc, e.m->id, e.a->id, e.b->join_token, strlen(e.b->join_token), offer, ol, NULL, now_of(&e), &answer, NULL, err, sizeof err), SFU_EPERM);
  /* a prefix of the right token, and no token at all */
  CHECK_EQ_INT(sfu_rtc_subscribe(e.rtc, e.m->id, e.a->id, e.a->join_token, strlen(e.a->join_token) - 1, offer, ol, NULL, now_of(&e), &answer, NULL, err, sizeof err), SFU_EPERM);
  CHECK_EQ_INT(sfu_rtc_subscribe(e.rtc, e.m->id, e.a->id, NULL, 0, offer, ol, NULL, now_of(&e), &answer, NULL, err, sizeof err), SFU_EPERM);
  /* unknown meeting */
  char other[SFU_UUID_LEN + 1];
  sfu_uuid_v4(other);
  CHECK_EQ_INT(sfu_rtc_subscribe(e.rtc, other, e.a->id, e.a->join_token, strlen(e.a->join_token), offer, ol, NULL, now_of(&e), &answer, NULL, err, sizeof err), SFU_ENOENT);
  /* deleted attendee: its token is revoked, Forbidden for it and for any other */
  char bid[SFU_ATTENDEE_ID_LEN + 1], btok[SFU_TOKEN_LEN + 1];
  snprintf(bid, sizeof bid, "%s", e.b->id);
  snprintf(btok, sizeof btok, "%s", e.b->join_token);
  REQUIRE(sfu_session_delete_attendee(e.s, e.m->id, bid, now_of(&e), err, sizeof err) == 0);
  e.b = NULL;
  CHECK_EQ_INT(sfu_rtc_subscribe(e.rtc, e.m->id, bid, btok, strlen(btok), offer, ol, NULL, now_of(&e), &answer, NULL, err, sizeof err), SFU_EPERM);
  CHECK_EQ_INT(sfu_rtc_subscribe(e.rtc, e.m->id, e.a->id, btok, strlen(btok), offer, ol, NULL, now_of(&e), &answer, NULL, err, sizeof err), SFU_EPERM);
  CHECK(answer == NULL);
  /* Nothing was created, nothing announced but the deletion. */
  sfu_rtc_stats_t st;
  sfu_rtc_stats(e.rtc, &st);
  CHECK_EQ_INT(st.created, 0);
  CHECK_EQ_INT(count_ev(&e, SFU_EV_ATTENDEE_AUTHORIZED), 0);
  CHECK(sfu_rtc_attendee_transport(e.a) == NULL);
  CHECK_EQ_INT(sfu_rtc_next_deadline(e.rtc), UINT64_MAX);
  free(offer);
  env_free(&e);
}

TEST(bad_offer_names_what_is_missing) {
  env_t e;
  env_init(&e, 2, 300);
  REQUIRE(e.rtc && e.a);
  const char *fp = sfu_dtls_cert_fingerprint(g_cli_cert[0]);
  struct {
    const char *drop, *want;
  } cases[] = {{"a=fingerprint:", "fingerprint"}, {"a=ice-ufrag:", "ICE"}, {"a=ice-pwd:", "ICE"}};
  char err[256], *answer;
  const char *tok = e.a->join_token;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *offer = make_offer("cli0", "clientpasswordclientpass00", fp, cases[i].drop);
    err[0] = '\0';
    int rc = sfu_rtc_subscribe(e.rtc, e.m->id, e.a->id, tok, strlen(tok), offer, strlen(offer), NULL, now_of(&e), &answer, NULL, err, sizeof err);
    CHECK_EQ_INT(rc, SFU_EINVAL);
    CHECK(answer == NULL);
    CHECK(strncmp(err, "SdpOffer: ", 10) == 0);
    if (!strstr(err, cases[i].want)) fprintf(stderr, "drop %s: err \"%s\"\n", cases[i].drop, err);
    CHECK(strstr(err, cases[i].want) != NULL);
    free(offer);
  }
  /* Garbage, empty, and every truncation of a good offer: an error or an answer, no crash. */
  const char *garbage[] = {"", "hello", "v=0\r\n", "v=0\r\no=- 1 1 IN IP4 0\r\ns=-\r\nt=0 0\r\n"};
  for (size_t i = 0; i < 4; i++) {
    int rc = sfu_rtc_subscribe(e.rtc, e.m->id, e.a->id, tok, strlen(tok), garbage[i], strlen(garbage[i]), NULL, now_of(&e), &answer, NULL, err, sizeof err);
    CHECK(rc == SFU_EINVAL);
    CHECK(strncmp(err, "SdpOffer: ", 10) == 0);
  }
  /* An offer with nothing the worker can decode. */
  char *offer = make_offer("cli0", "clientpasswordclientpass00", fp, NULL);
  char *p;
  while ((p = strstr(offer, "opus/48000/2"))) memcpy(p, "fooo", 4);
  CHECK_EQ_INT(sfu_rtc_subscribe(e.rtc, e.m->id, e.a->id, tok, strlen(tok), offer, strlen(offer), NULL, now_of(&e), &answer, NULL, err, sizeof err), SFU_EINVAL);
  free(offer);
  sfu_rtc_stats_t st;
  sfu_rtc_stats(e.rtc, &st);
  CHECK_EQ_INT(st.created, 0);
  CHECK_EQ_INT(count_ev(&e, SFU_EV_ATTENDEE_AUTHORIZED), 0);
  /* Truncations of a good offer (every 7th length, to stay fast). */
  offer = make_offer("cli0", "clientpasswordclientpass00", fp, NULL);
  size_t ol = strlen(offer);
  int ok = 0;
  for (size_t l = 0; l < ol; l += 7) {
    char *t = malloc(l + 1);
    memcpy(t, offer, l);
    t[l] = '\0';
    int rc = sfu_rtc_subscribe(e.rtc, e.m->id, e.a->id, tok, strlen(tok), t, l, NULL, now_of(&e), &answer, NULL, err, sizeof err);
    if (rc == 0) {
      ok++;
      free(answer);
    } else {
      CHECK(answer == NULL);
    }
    free(t);
  }
  sfu_rtc_stats(e.rtc, &st);
  CHECK(st.created <= 1); /* truncations keep the same device: renegotiations at most */
  CHECK_EQ_INT(count_ev(&e, SFU_EV_ATTENDEE_LEFT) + count_ev(&e, SFU_EV_ATTENDEE_DROPPED), 0);
  free(offer);
  env_free(&e);
}

TEST(subscribe_connect_joined) {
  env_t e;
  char err[256];
  env_init(&e, 3, 300);
  REQUIRE(e.rtc && e.a);
  REQUIRE(subscribe_as(&e, e.a, 0, err, sizeof err) == 0);
  CHECK_EQ_INT(count_ev(&e, SFU_EV_ATTENDEE_AUTHORIZED), 1);
  CHECK_EQ_STR(e.ev[0].attendee_id, e.a->id);
  CHECK_EQ_STR(e.ev[0].external_user_id, "alice");
  CHECK_EQ_STR(e.ev[0].meeting_id, e.m->id);
  CHECK_EQ_INT(e.a->connected, 0);
  REQUIRE(sfu_rtc_attendee_transport(e.a) != NULL);
  CHECK(sfu_rtc_next_deadline(e.rtc) != UINT64_MAX);
  CHECK_EQ_INT(run(&e, now_of(&e) + 5 * SEC, cli0_joined, &e), 1);
  CHECK_EQ_INT(count_ev(&e, SFU_EV_ATTENDEE_JOINED), 1);
  CHECK(index_of_ev(&e, SFU_EV_ATTENDEE_AUTHORIZED) < index_of_ev(&e, SFU_EV_ATTENDEE_JOINED));
  CHECK_EQ_INT(e.a->connected, 1);
  CHECK_EQ_INT(e.m->connected_count, 1);
  CHECK(sfu_transport_joined(sfu_rtc_attendee_transport(e.a)));
  sfu_rtc_stats_t st;
  sfu_rtc_stats(e.rtc, &st);
  CHECK_EQ_INT(st.transports, 1);
  CHECK_EQ_INT(st.joined, 1);
  CHECK_EQ_INT(st.created, 1);
  CHECK(st.sum.stun_requests >= 1);
  /* A stranger's datagram is counted as unrouted. */
  sfu_addr_t stranger;
  sfu_addr_parse(&stranger, "10.9.9.9:1");
  uint8_t junk[20] = {0x80, 96};
  CHECK_EQ_INT(sfu_rtc_input(e.rtc, now_of(&e), &stranger, junk, sizeof junk), 0);
  sfu_rtc_stats(e.rtc, &st);
  CHECK_EQ_INT(st.unrouted, 1);
  /* Keeps running while the client keeps consent. */
  run(&e, now_of(&e) + 45 * SEC, NULL, NULL);
  CHECK_EQ_INT(e.a->connected, 1);
  CHECK_EQ_INT(departed(&e), 0);
  env_free(&e);
}

TEST(resubscribe_same_device_renegotiates_and_ice_restarts) {
  env_t e;
  char err[256];
  REQUIRE(connect_alice(&e, 4, 300));
  const sfu_transport_t *t = sfu_rtc_attendee_transport(e.a);
  char old_ufrag[64];
  snprintf(old_ufrag, sizeof old_ufrag, "%s", e.cli[0].srv_ufrag);
  /* Same credentials, same fingerprint: the same transport, the same local ufrag. */
  REQUIRE(subscribe_as(&e, e.a, 0, err, sizeof err) == 0);
  CHECK(sfu_rtc_attendee_transport(e.a) == t);
  CHECK_EQ_STR(e.cli[0].srv_ufrag, old_ufrag);
  CHECK_EQ_INT(count_ev(&e, SFU_EV_ATTENDEE_AUTHORIZED), 1);
  /* New ICE credentials: an ICE restart on the same transport, new local ufrag. */
  sim_client_set_ice(&e.cli[0], "cliR", "restartedpasswordrestarted");
  REQUIRE(subscribe_as(&e, e.a, 0, err, sizeof err) == 0);
  CHECK(sfu_rtc_attendee_transport(e.a) == t);
  CHECK(strcmp(e.cli[0].srv_ufrag, old_ufrag) != 0);
  int ok_before = e.cli[0].stun_ok;
  run(&e, now_of(&e) + 45 * SEC, NULL, NULL); /* past consent: only the new creds refresh it */
  CHECK(e.cli[0].stun_ok > ok_before + 50);
  CHECK_EQ_INT(e.a->connected, 1);
  CHECK(sfu_transport_joined(t));
  CHECK_EQ_INT(count_ev(&e, SFU_EV_ATTENDEE_JOINED), 1);
  CHECK_EQ_INT(count_ev(&e, SFU_EV_ATTENDEE_AUTHORIZED), 1);
  CHECK_EQ_INT(departed(&e), 0);
  CHECK_EQ_INT(e.cli[0].closed, 0);
  sfu_rtc_stats_t st;
  sfu_rtc_stats(e.rtc, &st);
  CHECK_EQ_INT(st.created, 1);
  env_free(&e);
}

/* An offer whose only fingerprint uses any hash function RFC 8122 §5 allows connects
 * (sha-512's 191 characters included); md5 is refused with a message naming it, and
 * nothing is created. */
TEST(offer_fingerprint_hash_functions) {
  static const struct {
    const char *alg, *ossl;
  } ok[] = {{"sha-1", "sha1"}, {"sha-224", "sha224"}, {"sha-384", "sha384"}, {"sha-512", "sha512"}};
  char fp[200], lines[300], err[256];
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    env_t e;
    env_init(&e, 20 + i, 300);
    CHECK(e.rtc && e.a);
    snprintf(lines, sizeof lines, "a=fingerprint:%s %s\r\n", ok[i].alg,
             test_cert_fp(g_cli_cert[0], ok[i].ossl, fp, sizeof fp));
    err[0] = '\0';
    int rc = subscribe_as_fp(&e, e.a, 0, lines, err, sizeof err);
    if (rc) fprintf(stderr, "%s: %d %s\n", ok[i].alg, rc, err);
    CHECK_EQ_INT(rc, 0);
    if (!rc) CHECK_EQ_INT(run(&e, now_of(&e) + 5 * SEC, cli0_joined, &e), 1);
    env_free(&e);
  }
  env_t e;
  env_init(&e, 30, 300);
  CHECK(e.rtc && e.a);
  snprintf(lines, sizeof lines, "a=fingerprint:md5 %s\r\n",
           test_cert_fp(g_cli_cert[0], "md5", fp, sizeof fp));
  CHECK_EQ_INT(subscribe_as_fp(&e, e.a, 0, lines, err, sizeof err), SFU_EINVAL);
  if (strncmp(err, "SdpOffer: ", 10) != 0 || !strstr(err, "md5")) {
    fprintf(stderr, "md5: \"%s\"\n", err);
    CHECK(!"md5 named in the error");
  }
  sfu_rtc_stats_t st;
  sfu_rtc_stats(e.rtc, &st);
  CHECK_EQ_INT(st.created, 0);
  CHECK_EQ_INT(count_ev(&e, SFU_EV_ATTENDEE_AUTHORIZED), 0);
  env_free(&e);
}

#define BOGUS_FP256 \
  "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF"

/* RFC 8122 §5: the certificate matching one fingerprint of the offered set is enough; a
 * re-offer whose set still matches the connected certificate is the same device. */
TEST(fingerprint_set_bogus_first_connects_and_renegotiates) {
  env_t e;
  char err[256], lines[600], fp[200];
  env_init(&e, 31, 300);
  REQUIRE(e.rtc && e.a);
  snprintf(lines, sizeof lines, "a=fingerprint:sha-256 " BOGUS_FP256 "\r\na=fingerprint:sha-256 %s\r\n",
           sfu_dtls_cert_fingerprint(g_cli_cert[0]));
  REQUIRE(subscribe_as_fp(&e, e.a, 0, lines, err, sizeof err) == 0);
  CHECK_EQ_INT(run(&e, now_of(&e) + 5 * SEC, cli0_joined, &e), 1);
  const sfu_transport_t *t = sfu_rtc_attendee_transport(e.a);
  REQUIRE(t && sfu_transport_joined(t));
  /* The same set, the real one alone, the certificate under sha-512: same transport. */
  REQUIRE(subscribe_as_fp(&e, e.a, 0, lines, err, sizeof err) == 0);
  CHECK(sfu_rtc_attendee_transport(e.a) == t);
  REQUIRE(subscribe_as(&e, e.a, 0, err, sizeof err) == 0);
  CHECK(sfu_rtc_attendee_transport(e.a) == t);
  snprintf(lines, sizeof lines, "a=fingerprint:sha-512 %s\r\n",
           test_cert_fp(g_cli_cert[0], "sha512", fp, sizeof fp));
  REQUIRE(subscribe_as_fp(&e, e.a, 0, lines, err, sizeof err) == 0);
  CHECK(sfu_rtc_attendee_transport(e.a) == t);
  CHECK_EQ_INT(count_ev(&e, SFU_EV_ATTENDEE_AUTHORIZED), 1);
  CHECK_EQ_INT(departed(&e), 0);
  /* A set the connected certificate does not match: another device takes over. */
  REQUIRE(subscribe_as_fp(&e, e.a, 0, "a=fingerprint:sha-256 " BOGUS_FP256 "\r\n", err, sizeof err) == 0);
  CHECK(sfu_rtc_attendee_transport(e.a) != t);
  CHECK_EQ_INT(count_ev(&e, SFU_EV_ATTENDEE_AUTHORIZED), 2);
  CHECK_EQ_INT(count_ev(&e, SFU_EV_ATTENDEE_LEFT), 1);
  env_free(&e);
}

TEST(new_device_takes_over) {
  env_t e;
  char err[256];
  REQUIRE(connect_alice(&e, 5, 300));
  const sfu_transport_t *t0 = sfu_rtc_attendee_transport(e.a);
  int n0 = e.n_ev;
  /* The same join token from another device (client 1, another certificate). */
  REQUIRE(subscribe_as(&e, e.a, 1, err, sizeof err) == 0);
  const sfu_transport_t *t1 = sfu_rtc_attendee_transport(e.a);
  CHECK(t1 != NULL && t1 != t0);
  /* Left for the old transport, then Authorized for the new one. */
  REQUIRE(e.n_ev == n0 + 2);
  CHECK_EQ_INT(e.ev[n0].type, SFU_EV_ATTENDEE_LEFT);
  CHECK_EQ_INT(e.ev[n0 + 1].type, SFU_EV_ATTENDEE_AUTHORIZED);
  CHECK_EQ_STR(e.ev[n0].attendee_id, e.a->id);
  CHECK_EQ_INT(e.a->connected, 0);
  CHECK_EQ_INT(run(&e, now_of(&e) + 5 * SEC, cli1_joined, &e), 1);
  CHECK_EQ_INT(e.a->connected, 1);
  CHECK(e.cli[0].closed); /* the old device heard close_notify */
  CHECK_EQ_INT(e.cli[0].closed_reason, 0);
  /* The old client keeps knocking with its old credentials: nothing answers, no second
   * departure for the old transport, ever. */
  run(&e, now_of(&e) + 60 * SEC, NULL, NULL);
  CHECK_EQ_INT(count_ev(&e, SFU_EV_ATTENDEE_LEFT), 1);
  CHECK_EQ_INT(count_ev(&e, SFU_EV_ATTENDEE_DROPPED), 0);
  CHECK_EQ_INT(count_ev(&e, SFU_EV_ATTENDEE_JOINED), 2);
  CHECK_EQ_INT(e.a->connected, 1);
  CHECK_EQ_INT(e.m->connected_count, 1);
  sfu_rtc_stats_t st;
  sfu_rtc_stats(e.rtc, &st);
  CHECK_EQ_INT(st.transports, 1);
  CHECK_EQ_INT(st.created, 2);
  env_free(&e);
}

TEST(takeover_before_join_emits_no_departure) {
  env_t e;
  char err[256];
  env_init(&e, 6, 300);
  REQUIRE(e.rtc && e.a);
  REQUIRE(subscribe_as(&e, e.a, 0, err, sizeof err) == 0);
  e.cli[0].checks_on = 0; /* never connects */
  REQUIRE(subscribe_as(&e, e.a, 1, err, sizeof err) == 0);
  CHECK_EQ_INT(count_ev(&e, SFU_EV_ATTENDEE_AUTHORIZED), 2);
  CHECK_EQ_INT(run(&e, now_of(&e) + 5 * SEC, cli1_joined, &e), 0); /* only one JOINED ... */
  CHECK_EQ_INT(count_ev(&e, SFU_EV_ATTENDEE_JOINED), 1);         /* ... from client 1 */
  CHECK(e.cli[1].connected);
  CHECK_EQ_INT(departed(&e), 0);
  env_free(&e);
}

TEST(leave_meeting_left_not_dropped) {
  env_t e;
  char err[256];
  REQUIRE(connect_alice(&e, 7, 300));
  char other[SFU_UUID_LEN + 1];
  sfu_uuid_v4(other);
  CHECK_EQ_INT(sfu_rtc_leave(e.rtc, other, e.a->id, now_of(&e), err, sizeof err), SFU_ENOENT);
  CHECK_EQ_INT(sfu_rtc_leave(e.rtc, e.m->id, other, now_of(&e), err, sizeof err), SFU_ENOENT);
  CHECK_EQ_INT(departed(&e), 0);
  CHECK_EQ_INT(sfu_rtc_leave(e.rtc, e.m->id, e.b->id, now_of(&e), err, sizeof err), 0); /* no transport */
  CHECK_EQ_INT(sfu_rtc_leave(e.rtc, e.m->id, e.a->id, now_of(&e), err, sizeof err), 0);
  CHECK_EQ_INT(count_ev(&e, SFU_EV_ATTENDEE_LEFT), 1);
  CHECK_EQ_INT(e.a->connected, 0);
  CHECK_EQ_INT(e.m->connected_count, 0);
  CHECK(sfu_rtc_attendee_transport(e.a) == NULL);
  CHECK_EQ_INT(sfu_rtc_next_deadline(e.rtc), UINT64_MAX);
  run(&e, now_of(&e) + 60 * SEC, NULL, NULL);
  CHECK(e.cli[0].closed);
  CHECK_EQ_INT(count_ev(&e, SFU_EV_ATTENDEE_LEFT), 1);
  CHECK_EQ_INT(count_ev(&e, SFU_EV_ATTENDEE_DROPPED), 0);
  CHECK_EQ_INT(sfu_rtc_leave(e.rtc, e.m->id, e.a->id, now_of(&e), err, sizeof err), 0); /* again: ok */
  CHECK_EQ_INT(count_ev(&e, SFU_EV_ATTENDEE_LEFT), 1);
  /* A new Subscribe reconnects it. */
  sim_client_reset_dtls(&e.cli[0]);
  REQUIRE(subscribe_as(&e, e.a, 0, err, sizeof err) == 0);
  CHECK_EQ_INT(run(&e, now_of(&e) + 5 * SEC, cli1_joined /* 2nd JOINED */, &e), 0);
  CHECK(e.cli[0].connected);
  CHECK_EQ_INT(count_ev(&e, SFU_EV_ATTENDEE_JOINED), 2);
  CHECK_EQ_INT(e.a->connected, 1);
  env_free(&e);
}

TEST(client_close_notify_left) {
  env_t e;
  REQUIRE(connect_alice(&e, 8, 300));
  sfu_dtls_close(e.cli[0].dtls);
  CHECK_EQ_INT(run(&e, now_of(&e) + 5 * SEC, departed, &e), 1);
  e.cli[0].checks_on = 0;
  run(&e, now_of(&e) + 60 * SEC, NULL, NULL);
  CHECK_EQ_INT(count_ev(&e, SFU_EV_ATTENDEE_LEFT), 1);
  CHECK_EQ_INT(count_ev(&e, SFU_EV_ATTENDEE_DROPPED), 0);
  CHECK_EQ_INT(e.a->connected, 0);
  env_free(&e);
}

TEST(consent_loss_dropped_not_left) {
  env_t e;
  REQUIRE(connect_alice(&e, 9, 300));
  e.cli[0].checks_on = 0;
  uint64_t t0 = now_of(&e);
  CHECK_EQ_INT(run(&e, t0 + 40 * SEC, departed, &e), 1);
  CHECK(now_of(&e) >= t0 + 29 * SEC);
  CHECK_EQ_INT(count_ev(&e, SFU_EV_ATTENDEE_DROPPED), 1);
  CHECK_EQ_INT(count_ev(&e, SFU_EV_ATTENDEE_LEFT), 0);
  CHECK_EQ_INT(e.a->connected, 0);
  CHECK_EQ_INT(e.m->connected_count, 0);
  CHECK(sfu_rtc_attendee_transport(e.a) == NULL);
  /* Gone for good: a LeaveMeeting now changes nothing. */
  char err[256];
  CHECK_EQ_INT(sfu_rtc_leave(e.rtc, e.m->id, e.a->id, now_of(&e), err, sizeof err), 0);
  run(&e, now_of(&e) + 30 * SEC, NULL, NULL);
  CHECK_EQ_INT(count_ev(&e, SFU_EV_ATTENDEE_DROPPED), 1);
  CHECK_EQ_INT(count_ev(&e, SFU_EV_ATTENDEE_LEFT), 0);
  sfu_rtc_stats_t st;
  sfu_rtc_stats(e.rtc, &st);
  CHECK_EQ_INT(st.transports, 0);
  CHECK(st.sum.stun_requests >= 1); /* the freed transport's figures are kept */
  env_free(&e);
}

TEST(delete_attendee_closes_silently) {
  env_t e;
  char err[256];
  REQUIRE(connect_alice(&e, 10, 300));
  char aid[SFU_ATTENDEE_ID_LEN + 1];
  snprintf(aid, sizeof aid, "%s", e.a->id);
  REQUIRE(sfu_session_delete_attendee(e.s, e.m->id, aid, now_of(&e), err, sizeof err) == 0);
  e.a = NULL;
  int del = index_of_ev(&e, SFU_EV_ATTENDEE_DELETED);
  CHECK(del >= 0);
  CHECK_EQ_INT(e.m->connected_count, 0);
  CHECK_EQ_INT(sfu_rtc_next_deadline(e.rtc), UINT64_MAX);
  run(&e, now_of(&e) + 60 * SEC, NULL, NULL);
  CHECK(e.cli[0].closed); /* close_notify reached the client */
  CHECK_EQ_INT(e.cli[0].closed_reason, 0);
  CHECK_EQ_INT(e.n_ev, del + 1); /* AttendeeDeleted was the last event */
  CHECK_EQ_INT(departed(&e), 0);
  sfu_rtc_stats_t st;
  sfu_rtc_stats(e.rtc, &st);
  CHECK_EQ_INT(st.transports, 0);
  /* The whole meeting going away while bob is connected: no Left/Dropped either. */
  REQUIRE(subscribe_as(&e, e.b, 1, err, sizeof err) == 0);
  run(&e, now_of(&e) + 3 * SEC, NULL, NULL);
  CHECK(e.cli[1].connected);
  CHECK_EQ_INT(e.b->connected, 1);
  REQUIRE(sfu_session_delete_meeting(e.s, e.m->id, SFU_END_DELETED, now_of(&e), err, sizeof err) == 0);
  e.m = NULL, e.b = NULL;
  run(&e, now_of(&e) + 60 * SEC, NULL, NULL);
  CHECK(e.cli[1].closed);
  CHECK_EQ_INT(departed(&e), 0);
  CHECK_EQ_INT(e.ev[e.n_ev - 1].type, SFU_EV_MEETING_ENDED);
  env_free(&e);
}

TEST(idle_end_counts_connected_attendees) {
  env_t e;
  char err[256];
  REQUIRE(connect_alice(&e, 11, 60));
  e.with_session_timers = 1;
  char mid[SFU_UUID_LEN + 1];
  snprintf(mid, sizeof mid, "%s", e.m->id);
  /* Connected for well past the idle timeout: the meeting lives. */
  run(&e, now_of(&e) + 200 * SEC, NULL, NULL);
  CHECK(sfu_session_find_meeting(e.s, mid) != NULL);
  CHECK_EQ_INT(count_ev(&e, SFU_EV_MEETING_ENDED), 0);
  CHECK_EQ_INT(e.a->connected, 1);
  /* The last attendee leaves: the idle clock starts then, not at creation. */
  uint64_t t_leave = now_of(&e);
  CHECK_EQ_INT(sfu_rtc_leave(e.rtc, mid, e.a->id, t_leave, err, sizeof err), 0);
  run(&e, t_leave + 59 * SEC, NULL, NULL);
  CHECK(sfu_session_find_meeting(e.s, mid) != NULL);
  run(&e, t_leave + 61 * SEC, NULL, NULL);
  CHECK(sfu_session_find_meeting(e.s, mid) == NULL);
  CHECK_EQ_INT(count_ev(&e, SFU_EV_MEETING_ENDED), 1);
  CHECK_EQ_INT(e.ev[e.n_ev - 1].reason, SFU_END_IDLE_TIMEOUT);
  env_free(&e);
}

/* The heap's top equals the earliest deadline of the live transports. */
static int heap_consistent(sfu_session_t *s, sfu_rtc_t *r) {
  uint64_t min = UINT64_MAX;
  for (sfu_meeting_t *m = sfu_session_first_meeting(s); m; m = sfu_session_next_meeting(s, m))
    for (sfu_attendee_t *a = sfu_meeting_first_attendee(m); a; a = sfu_meeting_next_attendee(m, a)) {
      const sfu_transport_t *t = sfu_rtc_attendee_transport(a);
      if (t && sfu_transport_next_deadline(t) < min) min = sfu_transport_next_deadline(t);
    }
  return sfu_rtc_next_deadline(r) == min;
}

TEST(deadline_heap_earliest) {
  env_t e;
  char err[256];
  env_init(&e, 12, 300);
  REQUIRE(e.rtc);
  enum { N = 40 };
  sfu_attendee_t *as[N];
  uint64_t seed = 12345;
  for (int i = 0; i < N; i++) {
    char ext[16];
    snprintf(ext, sizeof ext, "user%02d", i);
    REQUIRE(sfu_session_create_attendee(e.s, e.m->id, ext, NULL, now_of(&e), &as[i], err, sizeof err) == 0);
  }
  /* Transports created at scattered times, in scattered order. */
  for (int i = 0; i < N; i++) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    int k = (int)((seed >> 33) % N);
    sim_link_set_now(e.link, now_of(&e) + (seed >> 40) % (3 * SEC));
    if (!sfu_rtc_attendee_transport(as[k])) {
      char *offer = make_offer("cliX", "clientpasswordclientpassX", sfu_dtls_cert_fingerprint(g_cli_cert[0]), NULL);
      char *answer = NULL;
      CHECK_EQ_INT(sfu_rtc_subscribe(e.rtc, e.m->id, as[k]->id, as[k]->join_token, strlen(as[k]->join_token), offer, strlen(offer), NULL, now_of(&e), &answer, NULL, err, sizeof err), 0);
      free(answer);
      free(offer);
    }
    CHECK(heap_consistent(e.s, e.rtc));
  }
  /* Some leave; others are ICE-restarted later (their connect deadline moves). */
  for (int i = 0; i < N; i++) {
    sim_link_set_now(e.link, now_of(&e) + 100000);
    if (i % 3 == 0) {
      sfu_rtc_leave(e.rtc, e.m->id, as[i]->id, now_of(&e), err, sizeof err);
    } else if (i % 3 == 1 && sfu_rtc_attendee_transport(as[i])) {
      char *offer = make_offer("cliY", "clientpasswordclientpassY", sfu_dtls_cert_fingerprint(g_cli_cert[0]), NULL);
      char *answer = NULL;
      CHECK_EQ_INT(sfu_rtc_subscribe(e.rtc, e.m->id, as[i]->id, as[i]->join_token, strlen(as[i]->join_token), offer, strlen(offer), NULL, now_of(&e), &answer, NULL, err, sizeof err), 0);
      free(answer);
      free(offer);
    }
    CHECK(heap_consistent(e.s, e.rtc));
  }
  /* The earliest one restarts ICE: its deadline moves later, the heap must re-sort. */
  for (int round = 0; round < 10; round++) {
    sim_link_set_now(e.link, now_of(&e) + 50000);
    uint64_t min = sfu_rtc_next_deadline(e.rtc);
    sfu_attendee_t *top = NULL;
    for (int i = 0; i < N; i++) {
      const sfu_transport_t *t = sfu_rtc_attendee_transport(as[i]);
      if (t && sfu_transport_next_deadline(t) == min) top = as[i];
    }
    REQUIRE(top);
    char ufrag[16];
    snprintf(ufrag, sizeof ufrag, "cli%c", 'a' + round);
    char *offer = make_offer(ufrag, "clientpasswordclientpassZ", sfu_dtls_cert_fingerprint(g_cli_cert[0]), NULL);
    char *answer = NULL;
    CHECK_EQ_INT(sfu_rtc_subscribe(e.rtc, e.m->id, top->id, top->join_token, strlen(top->join_token), offer, strlen(offer), NULL, now_of(&e), &answer, NULL, err, sizeof err), 0);
    free(answer);
    free(offer);
    CHECK(sfu_transport_next_deadline(sfu_rtc_attendee_transport(top)) > min);
    CHECK(sfu_rtc_next_deadline(e.rtc) > min);
    CHECK(heap_consistent(e.s, e.rtc));
  }
  /* Each timeout pops only what is due; the never-connected ones end at the connect
   * timeout (no departure event: they never joined). */
  uint64_t prev = 0;
  for (int guard = 0; guard < 100000 && sfu_rtc_next_deadline(e.rtc) != UINT64_MAX; guard++) {
    uint64_t d = sfu_rtc_next_deadline(e.rtc);
    CHECK(d >= prev);
    prev = d;
    sfu_rtc_handle_timeout(e.rtc, d);
    CHECK(heap_consistent(e.s, e.rtc));
  }
  CHECK_EQ_INT(sfu_rtc_next_deadline(e.rtc), UINT64_MAX);
  sfu_rtc_stats_t st;
  sfu_rtc_stats(e.rtc, &st);
  CHECK_EQ_INT(st.transports, 0);
  CHECK_EQ_INT(departed(&e), 0);
  CHECK_EQ_INT(e.m->connected_count, 0);
  env_free(&e);
}

TEST(close_all_is_silent) {
  env_t e;
  REQUIRE(connect_alice(&e, 13, 300));
  int n = e.n_ev;
  sfu_rtc_close_all(e.rtc);
  run(&e, now_of(&e) + 5 * SEC, NULL, NULL);
  CHECK(e.cli[0].closed);
  CHECK_EQ_INT(e.n_ev, n);
  CHECK(sfu_rtc_attendee_transport(e.a) == NULL);
  env_free(&e);
}

static int cli1_joined_once(void *u) {
  env_t *e = u;
  return e->cli[1].connected && count_ev(e, SFU_EV_ATTENDEE_JOINED) > 0;
}

static int content_joined(void *u) {
  env_t *e = u;
  return e->cli[1].connected && count_ev(e, SFU_EV_CONTENT_JOINED) > 0;
}

/* A "<id>#content" attendee (the AttendeeId decides, not the ExternalUserId) joins and
 * leaves with the content events; an ordinary attendee named "x#content" does not. */
TEST(content_attendee_emits_content_events) {
  env_t e;
  char err[256];
  REQUIRE(connect_alice(&e, 12, 300));
  sfu_attendee_t *c = NULL;
  REQUIRE(sfu_session_create_content_attendee(e.s, e.m->id, e.a->id, NULL, NULL, now_of(&e), &c,
                                              err, sizeof err) == 0);
  e.n_ev = 0;
  REQUIRE(subscribe_as(&e, c, 1, err, sizeof err) == 0);
  CHECK_EQ_INT(run(&e, now_of(&e) + 5 * SEC, content_joined, &e), 1);
  CHECK_EQ_INT(count_ev(&e, SFU_EV_ATTENDEE_JOINED), 0);
  int j = index_of_ev(&e, SFU_EV_CONTENT_JOINED);
  REQUIRE(j >= 0);
  CHECK_EQ_STR(e.ev[j].attendee_id, c->id);
  CHECK_EQ_STR(e.ev[j].external_user_id, "alice#content");
  CHECK_EQ_INT(sfu_rtc_leave(e.rtc, e.m->id, c->id, now_of(&e), err, sizeof err), 0);
  CHECK_EQ_INT(count_ev(&e, SFU_EV_CONTENT_LEFT), 1);
  CHECK_EQ_INT(count_ev(&e, SFU_EV_ATTENDEE_LEFT), 0);
  env_free(&e);
  /* ExternalUserId alone does not make a content share */
  env_init(&e, 13, 300);
  sfu_attendee_t *x = NULL;
  REQUIRE(sfu_session_create_attendee(e.s, e.m->id, "x#content", NULL, now_of(&e), &x, err,
                                      sizeof err) == 0);
  REQUIRE(subscribe_as(&e, x, 1, err, sizeof err) == 0);
  CHECK_EQ_INT(run(&e, now_of(&e) + 5 * SEC, cli1_joined_once, &e), 1);
  CHECK_EQ_INT(count_ev(&e, SFU_EV_ATTENDEE_JOINED), 1);
  CHECK_EQ_INT(count_ev(&e, SFU_EV_CONTENT_JOINED), 0);
  env_free(&e);
}

/* issue 9: the answer declares the worker's audio mix only when the mixer switch is on;
 * the record keeps what the mixer's wiring needs either way. */
static char *subscribe_answer(env_t *e, sfu_attendee_t *a, int ci, const char *drop) {
  sim_client_t *c = &e->cli[ci];
  char *offer = make_offer(c->ufrag, c->pwd, sfu_dtls_cert_fingerprint(g_cli_cert[ci]), drop);
  char *answer = NULL, err[256];
  int rc = sfu_rtc_subscribe(e->rtc, e->m->id, a->id, a->join_token, strlen(a->join_token),
                             offer, strlen(offer), NULL, now_of(e), &answer, NULL, err, sizeof err);
  if (rc) fprintf(stderr, "subscribe: %s\n", err);
  free(offer);
  return answer;
}

TEST(audio_mix_declared_only_when_the_mixer_is_on) {
  env_t e;
  env_init(&e, 11, 300);
  REQUIRE(e.rtc && e.a);
  /* off (the config's zero value; the worker turns it on unless SFU_AUDIO_MIXER=0): the
   * audio answer of before, the bookkeeping filled */
  CHECK_EQ_INT(e.rtc->cfg.audio_mixer, 0);
  char *ans = subscribe_answer(&e, e.a, 0, NULL);
  REQUIRE(ans);
  CHECK(!strstr(ans, "a=ssrc:") && !strstr(ans, "red/") && !strstr(ans, "a=msid"));
  rtc_rec_t *x = e.a->transport;
  REQUIRE(x);
  CHECK_EQ_INT(x->audio.opus_pt, 111);
  CHECK_EQ_INT(x->audio.mix_pt, 111);
  CHECK_EQ_INT(x->audio.red_pt, -1);
  CHECK_EQ_INT(x->audio.level_ext_id, 1);
  CHECK_EQ_INT(x->audio.client_ssrc, 2210308194u);
  CHECK_EQ_INT(x->audio.stereo, 0);
  CHECK_EQ_INT(x->audio.worker_ssrc, 0);
  CHECK_EQ_STR(x->audio.recv_mid, "0");
  free(ans);
  /* on: the mix is declared on the sendrecv section, red answered, SSRC kept across a
   * re-offer of the same device */
  e.rtc->cfg.audio_mixer = 1;
  ans = subscribe_answer(&e, e.a, 0, NULL);
  REQUIRE(ans);
  REQUIRE(e.a->transport == x);
  uint32_t ws = x->audio.worker_ssrc;
  CHECK(ws >= 2 && ws != x->audio.client_ssrc);
  char line[96];
  snprintf(line, sizeof line, "a=ssrc:%u cname:sfu-worker\r\na=ssrc:%u msid:sfu-mix audio-mix\r\n",
           ws, ws);
  CHECK(strstr(ans, line) != NULL);
  CHECK(strstr(ans, "m=audio 3478 UDP/TLS/RTP/SAVPF 111 63\r\n"));
  CHECK(strstr(ans, "a=fmtp:63 111/111\r\n"));
  CHECK_EQ_INT(x->audio.red_pt, 63);
  CHECK_EQ_STR(x->audio.send_mid, "0");
  free(ans);
  ans = subscribe_answer(&e, e.a, 0, NULL);
  REQUIRE(ans);
  CHECK_EQ_INT(x->audio.worker_ssrc, ws);
  CHECK(strstr(ans, line) != NULL);
  free(ans);
  /* the client stops receiving audio (offer sendonly, via a=recvonly answer): no mix,
   * the SSRC released; it still sends, so red stays */
  char *tpl = g_offer_tpl;
  size_t tpl_len = g_offer_tpl_len;
  char *so = strdup(tpl), *d = strstr(so, "a=sendrecv\r\n");
  REQUIRE(d);
  memcpy(d, "a=sendonly\r\n", 12);
  g_offer_tpl = so;
  ans = subscribe_answer(&e, e.a, 0, NULL);
  g_offer_tpl = tpl;
  g_offer_tpl_len = tpl_len;
  REQUIRE(ans);
  CHECK(strstr(ans, "a=recvonly\r\n") && !strstr(ans, "a=ssrc:"));
  CHECK_EQ_INT(x->audio.worker_ssrc, 0);
  CHECK_EQ_INT(x->audio.red_pt, 63);
  CHECK_EQ_STR(x->audio.send_mid, "");
  free(ans);
  free(so);
  /* and the answer still connects */
  char err[256];
  REQUIRE(subscribe_as(&e, e.a, 0, err, sizeof err) == 0);
  CHECK_EQ_INT(run(&e, now_of(&e) + 5 * SEC, cli0_joined, &e), 1);
  CHECK(x->audio.worker_ssrc >= 2);
  env_free(&e);
}

/* issue 9, the wiring (rtc_mixer.c): with the switch on, a connected attendee's Opus RTP
 * reaches its meeting's mixer through its audio receiver (level extension parsed), the
 * mix of it leaves on the other attendee's transport with RTCP SRs; capabilities act
 * live; the mixer goes with the meeting's last audio attendee (no timer left). Off: no
 * mixer, no timer. */
static int both_joined(void *u) {
  env_t *e = u;
  return e->cli[0].connected && e->cli[1].connected && count_ev(e, SFU_EV_ATTENDEE_JOINED) > 1;
}

/* One 20 ms Opus packet of a 440 Hz tone of amplitude amp (0: digital silence) from
 * client ci (SRTP-protected), with the RFC 6464 level element (id 1 in the captured offer)
 * carrying the byte `level` (V << 7 | -dBov), or without the extension when level < 0. */
static void send_opus_lv(env_t *e, int ci, OpusEncoder *enc, uint16_t seq, uint32_t ts,
                         uint32_t ssrc, float amp, int level) {
  float pcm[960];
  for (int i = 0; i < 960; i++) pcm[i] = amp * sinf(2.0f * 3.14159265f * 440.0f * (float)(ts + (uint32_t)i) / 48000.0f);
  uint8_t pkt[1500] = {0x90, 111, (uint8_t)(seq >> 8), (uint8_t)seq, (uint8_t)(ts >> 24),
                       (uint8_t)(ts >> 16), (uint8_t)(ts >> 8), (uint8_t)ts, (uint8_t)(ssrc >> 24),
                       (uint8_t)(ssrc >> 16), (uint8_t)(ssrc >> 8), (uint8_t)ssrc,
                       0xBE, 0xDE, 0x00, 0x01, 0x10, (uint8_t)level, 0, 0};
  size_t hdr = 20;
  if (level < 0) {
    pkt[0] = 0x80; /* no extension */
    hdr = 12;
  }
  int n = opus_encode_float(enc, pcm, 960, pkt + hdr, 1200);
  if (n <= 0) return;
  size_t len = hdr + (size_t)n;
  if (sfu_srtp_protect_rtp(e->cli[ci].srtp, pkt, &len, sizeof pkt) != 0) return;
  cli_send(&e->ref[ci], pkt, len);
}

/* ... a tone at 0.3 (-10 dBFS) saying -20 dBov, voice. */
static void send_opus(env_t *e, int ci, OpusEncoder *enc, uint16_t seq, uint32_t ts, uint32_t ssrc) {
  send_opus_lv(e, ci, enc, seq, ts, ssrc, 0.3f, 0x80 | 20);
}

/* An RTCP SR from client ci (SRTCP-protected): sender info only. */
static void send_client_sr(env_t *e, int ci, uint32_t ssrc, uint64_t ntp) {
  uint8_t pkt[256];
  sfu_rtcp_sr_t sr = {.ssrc = ssrc, .ntp = ntp, .rtp_ts = 1, .packet_count = 1, .octet_count = 1};
  int n = sfu_rtcp_write_sr(pkt, sizeof pkt - 32, &sr, NULL, 0);
  if (n <= 0) return;
  size_t len = (size_t)n;
  if (sfu_srtp_protect_rtcp(e->cli[ci].srtp, pkt, &len, sizeof pkt) != 0) return;
  cli_send(&e->ref[ci], pkt, len);
}

TEST(audio_mixer_wired_end_to_end) {
  env_t e;
  /* off: nothing */
  REQUIRE(connect_alice(&e, 21, 300));
  CHECK(e.m->audio == NULL);
  CHECK_EQ_INT(e.rtc->audio_deadline == UINT64_MAX, 1);
  CHECK(((rtc_rec_t *)e.a->transport)->mix.mx == NULL);
  env_free(&e);

  env_init(&e, 22, 300);
  e.rtc->cfg.audio_mixer = 1;
  char err[256];
  REQUIRE(subscribe_as(&e, e.a, 0, err, sizeof err) == 0);
  CHECK(e.m->audio == NULL); /* not before DTLS is connected */
  REQUIRE(subscribe_as(&e, e.b, 1, err, sizeof err) == 0);
  REQUIRE(run(&e, now_of(&e) + 5 * SEC, both_joined, &e) == 1);
  rtc_rec_t *xa = e.a->transport, *xb = e.b->transport;
  REQUIRE(xa && xb && xa->mix.mx && xa->mix.mx == xb->mix.mx && e.m->audio == xa->mix.mx);
  REQUIRE(xa->mix.in && xb->mix.in);
  CHECK(xa->mix.can_send && xa->mix.can_receive && xb->mix.can_receive);
  CHECK(e.rtc->audio_deadline != UINT64_MAX);
  const sfu_mixer_t *mixer = sfu_rtc_meeting_mixer(e.m);
  REQUIRE(mixer);

  int oerr;
  OpusEncoder *enc = opus_encoder_create(48000, 1, OPUS_APPLICATION_VOIP, &oerr);
  REQUIRE(enc);
  uint32_t ssrc = xa->audio.client_ssrc;
  uint64_t bob_out0 = sfu_transport_stats(xb->tp)->packets_out;
  e.watch_ssrc = ssrc; /* report blocks about alice's stream, sent to alice */
  e.watch_ci = 0;
  uint64_t last_sr_us = 0;
  for (int i = 0; i < 100; i++) { /* 2 s of alice talking; packet 5 lost */
    if (i != 5) send_opus(&e, 0, enc, (uint16_t)(1000 + i), 5000u + 960u * (uint32_t)i, ssrc);
    if (i % 25 == 10) { /* her SR every 500 ms: NTP i.0x8000 (middle 32 bits) */
      send_client_sr(&e, 0, ssrc, ((uint64_t)i << 32) | 0x80000000ull);
      last_sr_us = now_of(&e);
    }
    run(&e, now_of(&e) + 20000, NULL, NULL);
  }
  sfu_rtc_audio_info_t ia, ib;
  REQUIRE(sfu_rtc_attendee_audio(e.a, now_of(&e), &ia) == 0);
  REQUIRE(sfu_rtc_attendee_audio(e.b, now_of(&e), &ib) == 0);
  CHECK(ia.has_in && ia.in.packets >= 95);
  CHECK_EQ_INT(ia.in.bad_payloads, 0);
  CHECK(ia.in_mixer && ia.has_signal);
  sfu_mixer_stats_t ms;
  sfu_mixer_stats(mixer, &ms);
  CHECK(ms.ticks >= 95 && ms.ticks <= 110); /* 20 ms of loop time each */
  CHECK(ms.decodes > 50);
  /* bob hears alice: the mix goes out on his transport, SRTP-protected, with SRs */
  CHECK(ib.mix_packets > 50);
  CHECK(ib.mix_bytes > 50 * 10);
  CHECK(ib.srs_sent >= 1);
  CHECK(sfu_transport_stats(xb->tp)->packets_out >= bob_out0 + ib.mix_packets);
  CHECK_EQ_INT(ib.mix_ssrc, xb->audio.worker_ssrc);
  /* alice hears nobody but herself, i.e. nothing audible: her stream is at most DTX */
  CHECK(ia.mix_packets < ib.mix_packets);
  /* alice got a report block about her stream once a second (RFC 3550 §6.4): in the
   * mix's SR when she gets the mix, else in an RR; the last one says what was sent */
  CHECK(e.rb_seen >= 1 && e.rb_seen <= 3);
  CHECK_EQ_INT((uint64_t)e.rb_seen, ia.rrs_sent);
  CHECK_EQ_INT(e.rb_in_sr + e.rb_in_rr, e.rb_seen);
  sfu_rtcp_rb_t rb = e.rb_last;
  CHECK_EQ_INT(rb.ssrc, ssrc);
  CHECK_EQ_INT(rb.cumulative_lost, 1);                       /* packet 5 */
  CHECK(rb.ext_highest_seq >= 1050 && rb.ext_highest_seq <= 1099); /* no wrap yet */
  CHECK(rb.fraction_lost <= 8);                              /* none since the last */
  CHECK(rb.jitter < 48 * 2);                                 /* a steady link: < 2 ms */
  CHECK_EQ_INT(rb.lsr & 0xffffu, 0x8000u);                   /* her SR's middle bits */
  unsigned sr_i = rb.lsr >> 16;
  CHECK(sr_i == 10 || sr_i == 35 || sr_i == 60 || sr_i == 85);
  /* DLSR in 1/65536 s: from her SR's arrival (10 ms link) to the report, < 500 ms */
  CHECK(rb.dlsr > 0 && rb.dlsr < 65536u / 2);
  (void)last_sr_us;

  /* bob's Audio capability withdrawn live: nothing more for him */
  sfu_caps_t caps = e.b->caps;
  caps.audio = SFU_CAP_NONE;
  sfu_attendee_t *ub = NULL;
  REQUIRE(sfu_session_update_caps(e.s, e.m->id, e.b->id, &caps, now_of(&e), &ub, err, sizeof err) == 0);
  sfu_rtc_attendee_caps_changed(e.rtc, e.b, now_of(&e));
  CHECK_EQ_INT(xb->mix.can_receive, 0);
  CHECK_EQ_INT(xb->mix.can_send, 0);
  for (int i = 100; i < 110; i++) {
    send_opus(&e, 0, enc, (uint16_t)(1000 + i), 5000u + 960u * (uint32_t)i, ssrc);
    run(&e, now_of(&e) + 20000, NULL, NULL);
  }
  uint64_t bob_mix = xb->mix.packets;
  for (int i = 110; i < 130; i++) {
    send_opus(&e, 0, enc, (uint16_t)(1000 + i), 5000u + 960u * (uint32_t)i, ssrc);
    run(&e, now_of(&e) + 20000, NULL, NULL);
  }
  CHECK_EQ_INT(xb->mix.packets, bob_mix);

  /* alice Send only: no mix for her any more, so after two silent report intervals her
   * report blocks come in RRs (RFC 3550 §6.3.8, §6.4.2), still counting her stream */
  caps = e.a->caps;
  caps.audio = SFU_CAP_SEND;
  sfu_attendee_t *ua = NULL;
  REQUIRE(sfu_session_update_caps(e.s, e.m->id, e.a->id, &caps, now_of(&e), &ua, err, sizeof err) == 0);
  sfu_rtc_attendee_caps_changed(e.rtc, e.a, now_of(&e));
  CHECK_EQ_INT(xa->mix.can_receive, 0);
  int rr0 = e.rb_in_rr;
  for (int i = 130; i < 330; i++) { /* 4 s */
    send_opus(&e, 0, enc, (uint16_t)(1000 + i), 5000u + 960u * (uint32_t)i, ssrc);
    run(&e, now_of(&e) + 20000, NULL, NULL);
  }
  CHECK(e.rb_in_rr >= rr0 + 1);
  CHECK_EQ_INT(e.rb_last.ssrc, ssrc);
  CHECK_EQ_INT(e.rb_last.cumulative_lost, 1);
  CHECK(e.rb_last.ext_highest_seq >= 1000 + 280 && e.rb_last.ext_highest_seq <= 1000 + 329);
  opus_encoder_destroy(enc);

  /* the mixer goes with the last audio attendee, and its timer with it */
  REQUIRE(sfu_rtc_leave(e.rtc, e.m->id, e.a->id, now_of(&e), err, sizeof err) == 0);
  CHECK(e.m->audio != NULL);
  REQUIRE(sfu_rtc_leave(e.rtc, e.m->id, e.b->id, now_of(&e), err, sizeof err) == 0);
  CHECK(e.m->audio == NULL);
  CHECK_EQ_INT(e.rtc->audio_deadline == UINT64_MAX, 1);
  env_free(&e);
}

/* issue 9, muted (rtc_mixer.c apply_muted): the signal follows the sender. RFC 6464
 * level 127 (a muted source, §3) mutes within the buffer's delay plus a frame (not the
 * signals' 1 s of silence) and takes the attendee out of the talker choice; the first
 * packet with another level unmutes at once. Without the extension, audio_in's own
 * detection (decoded digital silence for 200 ms) sets the signal, and sound clears it. */
static int alice_muted(env_t *e) {
  sfu_rtc_audio_info_t ia;
  if (sfu_rtc_attendee_audio(e->a, now_of(e), &ia) != 0 || !ia.has_signal) return -1;
  return ia.signal.muted;
}

TEST(audio_muted_follows_the_sender) {
  env_t e;
  env_init(&e, 23, 300);
  e.rtc->cfg.audio_mixer = 1;
  char err[256];
  REQUIRE(subscribe_as(&e, e.a, 0, err, sizeof err) == 0);
  REQUIRE(subscribe_as(&e, e.b, 1, err, sizeof err) == 0);
  REQUIRE(run(&e, now_of(&e) + 5 * SEC, both_joined, &e) == 1);
  rtc_rec_t *xa = e.a->transport;
  REQUIRE(xa && xa->mix.mx && xa->mix.in);
  int oerr;
  OpusEncoder *enc = opus_encoder_create(48000, 1, OPUS_APPLICATION_VOIP, &oerr);
  REQUIRE(enc);
  uint32_t ssrc = xa->audio.client_ssrc;
  int i = 0;
#define STEP(amp, lv)                                                                       \
  do {                                                                                      \
    send_opus_lv(&e, 0, enc, (uint16_t)(1000 + i), 5000u + 960u * (uint32_t)i, ssrc, amp, lv); \
    i++;                                                                                    \
    run(&e, now_of(&e) + 20000, NULL, NULL);                                                \
  } while (0)
  for (int k = 0; k < 50; k++) STEP(0.3f, 0x80 | 20); /* 1 s talking */
  CHECK_EQ_INT(alice_muted(&e), 0);
  sfu_rtc_audio_info_t ia;
  REQUIRE(sfu_rtc_attendee_audio(e.a, now_of(&e), &ia) == 0);
  CHECK_EQ_INT(ia.talking, 1);
  /* she mutes: Chromium sends encoded silence marked 127 */
  int muted_after = -1;
  for (int k = 0; k < 40 && muted_after < 0; k++) {
    STEP(0.0f, 127);
    if (alice_muted(&e) == 1) muted_after = k + 1;
  }
  /* not on the first packet (the buffer still holds her voice), well before 1 s */
  CHECK(muted_after >= 2 && muted_after <= 10);
  CHECK_EQ_INT(xa->mix.level_muted, 1);
  for (int k = 0; k < 10; k++) STEP(0.0f, 127);
  REQUIRE(sfu_rtc_attendee_audio(e.a, now_of(&e), &ia) == 0);
  CHECK_EQ_INT(ia.talking, 0);
  CHECK_EQ_INT(ia.signal.muted, 1);
  /* she unmutes: the first voiced packet clears it (one 20 ms step: 10 ms of link) */
  STEP(0.3f, 0x80 | 20);
  CHECK_EQ_INT(alice_muted(&e), 0);
  CHECK_EQ_INT(xa->mix.level_muted, 0);
  for (int k = 0; k < 25; k++) STEP(0.3f, 0x80 | 20);
  REQUIRE(sfu_rtc_attendee_audio(e.a, now_of(&e), &ia) == 0);
  CHECK_EQ_INT(ia.talking, 1);
  /* a quiet level that is not 127 is not a mute (RFC 6464 §3 reserves 127) */
  for (int k = 0; k < 20; k++) STEP(0.0001f, 100);
  CHECK_EQ_INT(xa->mix.level_muted, 0);
  /* without the extension (bob): digital silence decoded for 200 ms ->
   * muted (audio_in's detection), sound -> unmuted within a side period */
  rtc_rec_t *xb = e.b->transport;
  REQUIRE(xb && xb->mix.in);
  uint32_t bssrc = xb->audio.client_ssrc;
  OpusEncoder *enc_b = opus_encoder_create(48000, 1, OPUS_APPLICATION_VOIP, &oerr);
  REQUIRE(enc_b);
  int j = 0;
#define STEP_B(amp)                                                                          \
  do {                                                                                       \
    send_opus_lv(&e, 0, enc, (uint16_t)(1000 + i), 5000u + 960u * (uint32_t)i, ssrc, 0.3f, \
                 0x80 | 20);                                                                 \
    i++;                                                                                     \
    send_opus_lv(&e, 1, enc_b, (uint16_t)(7000 + j), 9000u + 960u * (uint32_t)j, bssrc, amp, \
                 -1);                                                                        \
    j++;                                                                                     \
    run(&e, now_of(&e) + 20000, NULL, NULL);                                                 \
  } while (0)
  sfu_rtc_audio_info_t ib;
  for (int k = 0; k < 25; k++) STEP_B(0.3f);
  REQUIRE(sfu_rtc_attendee_audio(e.b, now_of(&e), &ib) == 0);
  CHECK_EQ_INT(ib.signal.muted, 0);
  int in_muted_after = -1;
  for (int k = 0; k < 100 && in_muted_after < 0; k++) {
    STEP_B(0.0f);
    if (xb->mix.in_muted) in_muted_after = k + 1;
  }
  /* 200 ms of silence played out (after the buffer's ~40-60 ms), read within a 200 ms
   * side period: 0.3-0.5 s, not the signals' 1 s */
  CHECK(in_muted_after >= 12 && in_muted_after <= 27);
  REQUIRE(sfu_rtc_attendee_audio(e.b, now_of(&e), &ib) == 0);
  CHECK_EQ_INT(ib.signal.muted, 1);
  CHECK_EQ_INT(xb->mix.level_muted, 0); /* the mixer's flag stays: signal only */
  int unmuted_after = -1;
  for (int k = 0; k < 30 && unmuted_after < 0; k++) {
    STEP_B(0.3f);
    REQUIRE(sfu_rtc_attendee_audio(e.b, now_of(&e), &ib) == 0);
    if (ib.signal.muted == 0) unmuted_after = k + 1;
  }
  CHECK(unmuted_after >= 1 && unmuted_after <= 20);
  CHECK_EQ_INT(xb->mix.in_muted, 0);
  opus_encoder_destroy(enc_b);
#undef STEP_B
#undef STEP
  opus_encoder_destroy(enc);
  env_free(&e);
}

int main(void) {
  sfu_openssl_init();
  if (sfu_srtp_global_init() != 0) return 1;
  if (sfu_dtls_cert_new(&g_srv_cert) || sfu_dtls_cert_new(&g_cli_cert[0]) ||
      sfu_dtls_cert_new(&g_cli_cert[1]))
    return 1;
  g_offer_tpl = test_load_sdp("chromium-audio-only.sdp", &g_offer_tpl_len);
  if (!g_offer_tpl) return 1;
  RUN(token_errors_forbidden);
  RUN(bad_offer_names_what_is_missing);
  RUN(subscribe_connect_joined);
  RUN(resubscribe_same_device_renegotiates_and_ice_restarts);
  RUN(offer_fingerprint_hash_functions);
  RUN(fingerprint_set_bogus_first_connects_and_renegotiates);
  RUN(new_device_takes_over);
  RUN(takeover_before_join_emits_no_departure);
  RUN(leave_meeting_left_not_dropped);
  RUN(client_close_notify_left);
  RUN(consent_loss_dropped_not_left);
  RUN(delete_attendee_closes_silently);
  RUN(idle_end_counts_connected_attendees);
  RUN(deadline_heap_earliest);
  RUN(close_all_is_silent);
  RUN(content_attendee_emits_content_events);
  RUN(audio_mix_declared_only_when_the_mixer_is_on);
  RUN(audio_mixer_wired_end_to_end);
  RUN(audio_muted_follows_the_sender);
  free(g_offer_tpl);
  sfu_dtls_cert_free(g_srv_cert);
  sfu_dtls_cert_free(g_cli_cert[0]);
  sfu_dtls_cert_free(g_cli_cert[1]);
  sfu_srtp_global_shutdown();
  return test_summary();
}
