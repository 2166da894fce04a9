/* The transport composite over the simulated link: a client built from the same cores
 * (binding requests from stun.h's builder, a DTLS client core, an SRTP session) against
 * a server transport reached through the per-loop demux table.
 *
 * Checked: connect + join event; SRTP RTP/RTCP from the client decrypted and counted;
 * consent loss → DROPPED; close_notify → LEFT; local close → LEFT and the client sees
 * close_notify; never two departures; fingerprint mismatch → DROPPED + counted; DTLS
 * never started → DROPPED after the connect timeout; unknown 5-tuples and ufrags
 * dropped; ICE restart re-keys the table; DTLS from an unvalidated 5-tuple ignored;
 * another transport's selected pair is not taken over; a validated 5-tuple idle past
 * consent is released; failed checks are not counted as traffic; 200 SSRCs cycled
 * through (with and without RTCP BYE) and a new one still accepted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sfu/dtls.h"
#include "sfu/err.h"
#include "sfu/ice_lite.h"
#include "sfu/srtp.h"
#include "sfu/stun.h"
#include "sfu/transport.h"
#include "sim_client.h"
#include "sim_link.h"
#include "test.h"

#define SEC 1000000ull
#define CLI_UFRAG "cliU"
#define CLI_PWD "clientpasswordclientpasswd"

static sfu_dtls_cert_t *g_srv_cert, *g_cli_cert;

typedef struct env env_t;

/* The server side: a table and one transport; the events it reported. */
struct env {
  sim_link_t *link;
  sfu_transport_table_t table;
  sfu_transport_t *t;
  sim_client_t cli; /* the client (tests/sim/sim_client.h) */
  sfu_addr_t srv_addr;
  int joined, departed, depart_kind, depart_joined, depart_err;
  int rtp_seen, rtcp_seen;
  int timeouts, rtcp_out; /* server timer firings; RTCP the server sent (twcc feedback) */
  uint8_t last_rtp[1500];
  size_t last_rtp_len;
};

/* ---- server callbacks ---- */

static void srv_send(void *user, sfu_transport_t *t, const sfu_addr_t *to, const uint8_t *buf,
                     size_t len) {
  env_t *e = user;
  if (len >= 8 && buf[1] >= 192 && buf[1] <= 223) e->rtcp_out++; /* RFC 5761 §4: RTCP */
  sim_link_send(e->link, SIM_BA, sim_link_now(e->link), buf, len);
}
static void srv_joined(void *user, sfu_transport_t *t) { ((env_t *)user)->joined++; }
static void srv_departed(void *user, sfu_transport_t *t, sfu_depart_kind_t kind, int joined, int err) {
  env_t *e = user;
  e->departed++;
  e->depart_kind = kind;
  e->depart_joined = joined;
  e->depart_err = err;
}
static void srv_rtp(void *user, sfu_transport_t *t, uint64_t now, uint8_t *buf, size_t len) {
  env_t *e = user;
  e->rtp_seen++;
  memcpy(e->last_rtp, buf, len);
  e->last_rtp_len = len;
}
static void srv_rtcp(void *user, sfu_transport_t *t, uint64_t now, uint8_t *buf, size_t len) {
  ((env_t *)user)->rtcp_seen++;
}

/* ---- client ---- */

static void cli_send(void *user, const uint8_t *buf, size_t len) {
  env_t *e = user;
  sim_link_send(e->link, SIM_AB, sim_link_now(e->link), buf, len);
}

/* ---- server peer for sim_run ---- */

static uint64_t srv_deadline(void *core) {
  env_t *e = core;
  return e->t ? sfu_transport_next_deadline(e->t) : UINT64_MAX;
}
static void srv_timeout(void *core, uint64_t now) {
  env_t *e = core;
  e->timeouts++;
  if (e->t) sfu_transport_handle_timeout(e->t, now);
}
static void srv_input(void *core, uint64_t now, const uint8_t *buf, size_t len) {
  env_t *e = core;
  uint8_t copy[2048];
  if (len > sizeof copy) return;
  memcpy(copy, buf, len);
  sfu_transport_dispatch(&e->table, now, &e->cli.addr, copy, len);
}

/* ---- setup ---- */

static const char *g_fp_override;

static void env_init(env_t *e, uint64_t seed) {
  memset(e, 0, sizeof *e);
  e->link = sim_link_new(seed);
  sim_dir_cfg_t cfg = {.delay_us = 10000};
  sim_link_config(e->link, SIM_AB, &cfg);
  sim_link_config(e->link, SIM_BA, &cfg);
  sfu_transport_table_init(&e->table);
  sim_client_config_t cc = {g_cli_cert, sfu_dtls_cert_fingerprint(g_srv_cert), CLI_UFRAG, CLI_PWD,
                            0, {cli_send, NULL, e}};
  sim_client_init(&e->cli, &cc);
  sfu_addr_parse(&e->cli.addr, "10.0.0.2:50000");
  sfu_addr_parse(&e->srv_addr, "10.0.0.1:3478");
  sfu_transport_remote_t rm = {CLI_UFRAG, CLI_PWD, "sha-256",
                               g_fp_override ? g_fp_override : sfu_dtls_cert_fingerprint(g_cli_cert), NULL};
  sfu_transport_cbs_t cbs = {srv_send, srv_joined, srv_departed, srv_rtp, srv_rtcp, NULL, e, NULL, NULL, NULL};
  e->t = sfu_transport_new(&e->table, g_srv_cert, &rm, &cbs, e, 0);
  if (e->t)
    sim_client_set_server_ice(&e->cli, sfu_transport_local_ufrag(e->t), sfu_transport_local_pwd(e->t));
}

static void env_free(env_t *e) {
  sfu_transport_free(e->t);
  sim_client_free(&e->cli);
  sfu_transport_table_free(&e->table);
  sim_link_free(e->link);
}

static int run(env_t *e, uint64_t until, int (*cond)(void *), void *u) {
  sim_peer_t a = sim_client_peer(&e->cli);
  sim_peer_t b = {e, srv_deadline, srv_timeout, srv_input};
  return sim_run(e->link, &a, &b, until, cond, u);
}

static int is_joined(void *u) {
  env_t *e = u;
  return e->joined && e->cli.connected;
}
static int is_departed(void *u) { return ((env_t *)u)->departed > 0; }

/* Brings a fresh env to "joined". */
static int do_connect(env_t *e, uint64_t seed) {
  env_init(e, seed);
  if (!e->t) return 0;
  return run(e, 5 * SEC, is_joined, e) == 1;
}

static void cli_send_rtp(env_t *e, uint16_t seq, int rtcp) {
  uint8_t pkt[256] = {0};
  size_t len;
  if (!rtcp) {
    pkt[0] = 0x80;
    pkt[1] = 111;
    pkt[2] = (uint8_t)(seq >> 8);
    pkt[3] = (uint8_t)seq;
    pkt[8] = 0x12, pkt[9] = 0x34, pkt[10] = 0x56, pkt[11] = 0x78;
    memset(pkt + 12, 0xab, 40);
    len = 52;
    REQUIRE(sfu_srtp_protect_rtp(e->cli.srtp, pkt, &len, sizeof pkt) == 0);
  } else {
    /* RR with no report blocks: V=2 PT=201 length=1 SSRC */
    pkt[0] = 0x80, pkt[1] = 201, pkt[2] = 0, pkt[3] = 1;
    pkt[4] = 0x12, pkt[5] = 0x34, pkt[6] = 0x56, pkt[7] = 0x78;
    len = 8;
    REQUIRE(sfu_srtp_protect_rtcp(e->cli.srtp, pkt, &len, sizeof pkt) == 0);
  }
  sim_link_send(e->link, SIM_AB, sim_link_now(e->link), pkt, len);
}

/* RTP with the transport-wide sequence number (RFC 8285 one-byte extension, id 3). */
static void cli_send_rtp_twcc(env_t *e, uint16_t seq, uint16_t twcc) {
  uint8_t pkt[256] = {0};
  pkt[0] = 0x90; /* V=2, X */
  pkt[1] = 111;
  pkt[2] = (uint8_t)(seq >> 8), pkt[3] = (uint8_t)seq;
  pkt[8] = 0x12, pkt[9] = 0x34, pkt[10] = 0x56, pkt[11] = 0x78;
  pkt[12] = 0xBE, pkt[13] = 0xDE, pkt[15] = 1; /* one 32-bit word of extensions */
  pkt[16] = 3 << 4 | 1;
  pkt[17] = (uint8_t)(twcc >> 8), pkt[18] = (uint8_t)twcc;
  memset(pkt + 20, 0xab, 40);
  size_t len = 60;
  REQUIRE(sfu_srtp_protect_rtp(e->cli.srtp, pkt, &len, sizeof pkt) == 0);
  sim_link_send(e->link, SIM_AB, sim_link_now(e->link), pkt, len);
}

/* ---- tests ---- */

TEST(connect_join_and_decrypt) {
  env_t e;
  REQUIRE(do_connect(&e, 1));
  CHECK_EQ_INT(e.joined, 1);
  CHECK(sfu_transport_joined(e.t));
  CHECK_EQ_STR(sfu_transport_dtls_state(e.t), "connected");
  CHECK_EQ_STR(sfu_transport_ice_state(e.t), "connected");
  CHECK(sfu_transport_selected(e.t) != NULL);
  CHECK_EQ_STR(sfu_transport_srtp_profile(e.t), "AEAD_AES_128_GCM");
  CHECK(sfu_transport_stats(e.t)->stun_requests >= 1);
  REQUIRE(e.cli.srtp);
  for (uint16_t i = 0; i < 10; i++) cli_send_rtp(&e, (uint16_t)(100 + i), 0);
  cli_send_rtp(&e, 0, 1);
  run(&e, sim_link_now(e.link) + SEC, NULL, NULL);
  const sfu_transport_stats_t *st = sfu_transport_stats(e.t);
  CHECK_EQ_INT(st->rtp_in, 10);
  CHECK_EQ_INT(st->rtcp_in, 1);
  CHECK_EQ_INT(st->decrypted, 11);
  CHECK_EQ_INT(st->decrypt_failures, 0);
  CHECK_EQ_INT(e.rtp_seen, 10);
  CHECK_EQ_INT(e.rtcp_seen, 1);
  CHECK_EQ_INT(e.last_rtp_len, 52);
  CHECK(e.last_rtp[12] == 0xab && e.last_rtp[51] == 0xab);
  CHECK_EQ_INT(e.departed, 0);
  env_free(&e);
}

/* Issue 6: transport-cc feedback rides on RTP arrivals. RTP every 20 ms with the
 * transport-wide sequence number: feedback goes out from the input path about every
 * 60 ms, and the transport's timer never comes due while packets flow (a 50 ms feedback
 * timer used to wake the loop ~17 times a second). When they stop, the timer sends the
 * rest once and has nothing left to do but consent. */
TEST(twcc_feedback_rides_on_arrivals) {
  env_t e;
  REQUIRE(do_connect(&e, 12));
  REQUIRE(e.cli.srtp);
  sfu_transport_set_twcc_ext(e.t, 3);
  run(&e, sim_link_now(e.link) + SEC, NULL, NULL); /* settle the handshake's stragglers */
  e.timeouts = e.rtcp_out = 0;
  uint64_t t0 = sim_link_now(e.link);
  for (uint16_t i = 0; i < 101; i++) { /* the last one left for the timer */
    cli_send_rtp_twcc(&e, (uint16_t)(1000 + i), (uint16_t)(65500 + i));
    run(&e, t0 + (uint64_t)(i + 1) * 20000, NULL, NULL);
  }
  CHECK_EQ_INT(sfu_transport_stats(e.t)->rtp_in, 101);
  CHECK_EQ_INT(e.timeouts, 0);
  CHECK(e.rtcp_out >= 2000 / 70 && e.rtcp_out <= 2000 / 50);
  int during = e.rtcp_out;
  /* Stopped: one last feedback from the timer, then only consent's deadline is left. */
  run(&e, sim_link_now(e.link) + SEC, NULL, NULL);
  CHECK_EQ_INT(e.rtcp_out, during + 1);
  CHECK_EQ_INT(e.timeouts, 1);
  CHECK(sfu_transport_next_deadline(e.t) > sim_link_now(e.link) + 10 * SEC);
  CHECK_EQ_INT(e.departed, 0);
  env_free(&e);
}

TEST(tampered_srtp_counts_failure) {
  env_t e;
  REQUIRE(do_connect(&e, 2));
  uint8_t pkt[256] = {0x80, 111, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4};
  size_t len = 40;
  REQUIRE(sfu_srtp_protect_rtp(e.cli.srtp, pkt, &len, sizeof pkt) == 0);
  pkt[20] ^= 1;
  sim_link_send(e.link, SIM_AB, sim_link_now(e.link), pkt, len);
  run(&e, sim_link_now(e.link) + SEC, NULL, NULL);
  CHECK_EQ_INT(sfu_transport_stats(e.t)->decrypt_failures, 1);
  CHECK_EQ_INT(sfu_transport_stats(e.t)->decrypted, 0);
  CHECK_EQ_INT(e.rtp_seen, 0);
  env_free(&e);
}

TEST(consent_loss_drops_once) {
  env_t e;
  REQUIRE(do_connect(&e, 3));
  e.cli.checks_on = 0;
  uint64_t t0 = sim_link_now(e.link);
  CHECK_EQ_INT(run(&e, t0 + 40 * SEC, is_departed, &e), 1);
  CHECK(sim_link_now(e.link) >= t0 + 29 * SEC); /* not before the 30 s consent timeout */
  CHECK_EQ_INT(e.departed, 1);
  CHECK_EQ_INT(e.depart_kind, SFU_DEPART_DROPPED);
  CHECK_EQ_INT(e.depart_joined, 1);
  CHECK(sfu_transport_gone(e.t));
  CHECK_EQ_INT(sfu_transport_next_deadline(e.t), UINT64_MAX);
  /* Nothing reaches it any more: its keys left the table. */
  CHECK_EQ_INT(sfu_tt_ufrag_count(&e.table), 0);
  CHECK_EQ_INT(sfu_tt_addr_count(&e.table), 0);
  sfu_transport_close(e.t, sim_link_now(e.link)); /* no second departure */
  run(&e, sim_link_now(e.link) + 5 * SEC, NULL, NULL);
  CHECK_EQ_INT(e.departed, 1);
  env_free(&e);
}

TEST(consent_loss_drops_a_peer_that_never_nominated) {
  /* The client completes DTLS without ever sending USE-CANDIDATE, then goes silent: the
   * pair DTLS used must still be under RFC 7675 consent (the connect deadline ended at
   * join), so the transport is dropped 30 s after the last valid check. */
  env_t e;
  env_init(&e, 13);
  REQUIRE(e.t);
  e.cli.no_nominate = 1;
  REQUIRE(run(&e, 5 * SEC, is_joined, &e) == 1);
  CHECK_EQ_STR(sfu_transport_ice_state(e.t), "connected");
  REQUIRE(sfu_transport_selected(e.t) != NULL);
  CHECK(sfu_addr_equal(sfu_transport_selected(e.t), &e.cli.addr));
  CHECK(sfu_transport_next_deadline(e.t) != UINT64_MAX);
  /* Still alive while checks keep coming. */
  run(&e, sim_link_now(e.link) + 40 * SEC, is_departed, &e);
  CHECK_EQ_INT(e.departed, 0);
  e.cli.checks_on = 0;
  uint64_t t0 = sim_link_now(e.link);
  CHECK_EQ_INT(run(&e, t0 + 60 * SEC, is_departed, &e), 1);
  CHECK(sim_link_now(e.link) >= t0 + 29 * SEC);
  CHECK_EQ_INT(e.departed, 1);
  CHECK_EQ_INT(e.depart_kind, SFU_DEPART_DROPPED);
  CHECK_EQ_INT(e.depart_joined, 1);
  env_free(&e);
}

TEST(close_notify_leaves_never_drops) {
  env_t e;
  REQUIRE(do_connect(&e, 4));
  sfu_dtls_close(e.cli.dtls);
  CHECK_EQ_INT(run(&e, sim_link_now(e.link) + 5 * SEC, is_departed, &e), 1);
  CHECK_EQ_INT(e.depart_kind, SFU_DEPART_LEFT);
  CHECK_EQ_INT(e.depart_err, 0);
  CHECK_EQ_INT(e.depart_joined, 1);
  e.cli.checks_on = 0; /* consent would run out now, but it is over */
  run(&e, sim_link_now(e.link) + 60 * SEC, NULL, NULL);
  CHECK_EQ_INT(e.departed, 1);
  env_free(&e);
}

TEST(local_close_sends_close_notify) {
  env_t e;
  REQUIRE(do_connect(&e, 5));
  sfu_transport_close(e.t, sim_link_now(e.link));
  CHECK_EQ_INT(e.departed, 1);
  CHECK_EQ_INT(e.depart_kind, SFU_DEPART_LEFT);
  run(&e, sim_link_now(e.link) + SEC, NULL, NULL);
  CHECK(e.cli.closed);
  CHECK_EQ_INT(e.cli.closed_reason, 0);
  CHECK_EQ_INT(e.departed, 1);
  env_free(&e);
}

TEST(fingerprint_mismatch_drops) {
  env_t e;
  g_fp_override = "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";
  env_init(&e, 6);
  g_fp_override = NULL;
  REQUIRE(e.t);
  CHECK_EQ_INT(run(&e, 10 * SEC, is_departed, &e), 1);
  CHECK_EQ_INT(e.joined, 0);
  CHECK_EQ_INT(e.depart_kind, SFU_DEPART_DROPPED);
  CHECK_EQ_INT(e.depart_joined, 0);
  CHECK_EQ_INT(e.depart_err, SFU_EAUTH);
  CHECK_EQ_INT(sfu_transport_stats(e.t)->fingerprint_mismatches, 1);
  CHECK_EQ_INT(sfu_transport_stats(e.t)->dtls_failures, 1);
  env_free(&e);
}

/* The client answers ICE but never starts DTLS. */
static void cli_input_no_dtls(void *core, uint64_t now, const uint8_t *buf, size_t len) {}

TEST(no_dtls_connect_timeout) {
  env_t e;
  env_init(&e, 7);
  REQUIRE(e.t);
  sim_peer_t a = sim_client_peer(&e.cli);
  a.handle_input = cli_input_no_dtls;
  sim_peer_t b = {&e, srv_deadline, srv_timeout, srv_input};
  CHECK_EQ_INT(sim_run(e.link, &a, &b, 60 * SEC, is_departed, &e), 1);
  CHECK(sim_link_now(e.link) >= SFU_TRANSPORT_CONNECT_TIMEOUT_US);
  CHECK_EQ_INT(e.depart_kind, SFU_DEPART_DROPPED);
  CHECK_EQ_INT(e.depart_joined, 0);
  CHECK(sfu_transport_stats(e.t)->stun_requests > 10);
  env_free(&e);
}

TEST(unknown_sources_dropped) {
  env_t e;
  env_init(&e, 8);
  REQUIRE(e.t);
  sfu_addr_t stranger;
  sfu_addr_parse(&stranger, "10.9.9.9:1234");
  /* DTLS-looking and RTP-looking garbage from an unknown 5-tuple */
  uint8_t dtls[40] = {22, 0xfe, 0xfd};
  uint8_t rtp[40] = {0x80, 96};
  uint8_t junk[40] = {0xff};
  CHECK(sfu_transport_dispatch(&e.table, 0, &stranger, dtls, sizeof dtls) == NULL);
  CHECK(sfu_transport_dispatch(&e.table, 0, &stranger, rtp, sizeof rtp) == NULL);
  CHECK(sfu_transport_dispatch(&e.table, 0, &stranger, junk, sizeof junk) == NULL);
  CHECK(sfu_transport_dispatch(&e.table, 0, &stranger, junk, 0) == NULL);
  /* a binding request for an unknown ufrag */
  uint8_t tid[12] = {1};
  sfu_stun_request_params_t p = {.tid = tid, .username = "nobody:cliU", .password = "x",
                                 .priority = 1, .role = SFU_ICE_ROLE_CONTROLLING};
  uint8_t buf[256];
  int n = sfu_stun_build_binding_request(buf, sizeof buf, &p);
  REQUIRE(n > 0);
  CHECK(sfu_transport_dispatch(&e.table, 0, &stranger, buf, (size_t)n) == NULL);
  /* a request for the right ufrag with a wrong password reaches the transport but does
   * not validate the 5-tuple (401): DTLS from it is still ignored */
  char user[64];
  snprintf(user, sizeof user, "%s:%s", sfu_transport_local_ufrag(e.t), CLI_UFRAG);
  p.username = user;
  p.password = "wrongpasswordwrongpassword";
  n = sfu_stun_build_binding_request(buf, sizeof buf, &p);
  CHECK(sfu_transport_dispatch(&e.table, 0, &stranger, buf, (size_t)n) == e.t);
  CHECK_EQ_INT(sfu_transport_stats(e.t)->stun_rejected, 1);
  CHECK_EQ_INT(sfu_tt_addr_count(&e.table), 0);
  CHECK(sfu_transport_dispatch(&e.table, 0, &stranger, dtls, sizeof dtls) == NULL);
  CHECK_EQ_INT(e.departed, 0);
  env_free(&e);
}

TEST(ice_restart_rekeys) {
  env_t e;
  REQUIRE(do_connect(&e, 9));
  char old[64];
  snprintf(old, sizeof old, "%s", sfu_transport_local_ufrag(e.t));
  int restarted = -1;
  sfu_transport_remote_t same = {CLI_UFRAG, CLI_PWD, "sha-256", sfu_dtls_cert_fingerprint(g_cli_cert), NULL};
  CHECK_EQ_INT(sfu_transport_renegotiate(e.t, &same, sim_link_now(e.link), &restarted), 0);
  CHECK_EQ_INT(restarted, 0);
  CHECK_EQ_STR(sfu_transport_local_ufrag(e.t), old);
  sfu_transport_remote_t other_fp = same;
  other_fp.fingerprint = "AA:BB";
  CHECK_EQ_INT(sfu_transport_renegotiate(e.t, &other_fp, sim_link_now(e.link), &restarted), SFU_EINVAL);
  sfu_transport_remote_t fresh = {"cliV", "anotherclientpasswordxx", "sha-256",
                                  sfu_dtls_cert_fingerprint(g_cli_cert), NULL};
  CHECK_EQ_INT(sfu_transport_renegotiate(e.t, &fresh, sim_link_now(e.link), &restarted), 0);
  CHECK_EQ_INT(restarted, 1);
  CHECK(strcmp(sfu_transport_local_ufrag(e.t), old) != 0);
  CHECK(sfu_tt_lookup_ufrag(&e.table, old, strlen(old)) == NULL);
  const char *nu = sfu_transport_local_ufrag(e.t);
  CHECK(sfu_tt_lookup_ufrag(&e.table, nu, strlen(nu)) == e.t);
  CHECK(sfu_transport_joined(e.t)); /* same DTLS association */
  env_free(&e);
}

/* The table's hook: which 5-tuples stopped being routed. */
typedef struct {
  int n;
  sfu_addr_t last;
} released_t;
static void on_released(void *user, const sfu_addr_t *a) {
  released_t *r = user;
  r->n++;
  r->last = *a;
}

/* A valid check for t (MESSAGE-INTEGRITY keyed with its password) from `from`. */
static sfu_transport_t *valid_check(sfu_transport_table_t *tb, sfu_transport_t *t, const char *remote_ufrag,
                                    uint64_t now, const sfu_addr_t *from, int nominate) {
  static uint8_t tid_n;
  uint8_t tid[12] = {0xEE, ++tid_n};
  char user[128];
  snprintf(user, sizeof user, "%s:%s", sfu_transport_local_ufrag(t), remote_ufrag);
  sfu_stun_request_params_t p = {.tid = tid, .username = user, .password = sfu_transport_local_pwd(t),
                                 .priority = 1, .role = SFU_ICE_ROLE_CONTROLLING,
                                 .use_candidate = nominate};
  uint8_t buf[256];
  int n = sfu_stun_build_binding_request(buf, sizeof buf, &p);
  if (n <= 0) return NULL;
  return sfu_transport_dispatch(tb, now, from, buf, (size_t)n);
}

TEST(selected_pair_is_not_taken_over) {
  /* Issue 6 item 8: A's selected pair, with fresh consent, is not taken by a valid check
   * for another transport B from the same 5-tuple (same NAT, or spoofed). */
  env_t e;
  REQUIRE(do_connect(&e, 11));
  sfu_transport_remote_t rm = {"othU", "otherpasswordotherpasswd", "sha-256",
                               sfu_dtls_cert_fingerprint(g_cli_cert), NULL};
  sfu_transport_cbs_t cbs = {srv_send, NULL, NULL, NULL, NULL, NULL, &e, NULL, NULL, NULL};
  uint64_t now = sim_link_now(e.link);
  sfu_transport_t *b = sfu_transport_new(&e.table, g_srv_cert, &rm, &cbs, NULL, now);
  REQUIRE(b);
  CHECK(valid_check(&e.table, b, "othU", now, &e.cli.addr, 1) == b);
  CHECK(sfu_tt_lookup_addr(&e.table, &e.cli.addr) == e.t);
  CHECK_EQ_INT(sfu_transport_stats(b)->stun_addr_taken, 1);
  CHECK_EQ_INT(sfu_transport_stats(b)->stun_rejected, 1);
  CHECK_EQ_INT(sfu_transport_stats(b)->packets_in, 0);
  CHECK(sfu_transport_selected(b) == NULL);
  /* A's media still flows. */
  cli_send_rtp(&e, 1, 0);
  run(&e, sim_link_now(e.link) + SEC, NULL, NULL);
  CHECK_EQ_INT(e.rtp_seen, 1);
  /* Once A is gone, the 5-tuple is free for B. */
  sfu_transport_close(e.t, sim_link_now(e.link));
  now = sim_link_now(e.link);
  CHECK(valid_check(&e.table, b, "othU", now, &e.cli.addr, 1) == b);
  CHECK(sfu_tt_lookup_addr(&e.table, &e.cli.addr) == b);
  CHECK(sfu_transport_selected(b) != NULL);
  sfu_transport_free(b);
  env_free(&e);
}

TEST(idle_validated_addr_expires_and_is_released) {
  /* A 5-tuple other than the selected pair that sees no valid check for the consent
   * timeout stops being valid; the table's hook hears of it (the loop then closes its
   * ICE-TCP connection). The selected pair, checked by the client, stays. */
  env_t e;
  REQUIRE(do_connect(&e, 12));
  released_t rel = {0};
  sfu_transport_table_set_hook(&e.table, on_released, &rel);
  sfu_addr_t tcp;
  sfu_addr_parse(&tcp, "10.0.0.2:40000");
  tcp.proto = SFU_PROTO_TCP;
  uint64_t t0 = sim_link_now(e.link);
  CHECK(valid_check(&e.table, e.t, CLI_UFRAG, t0, &tcp, 0) == e.t);
  CHECK(sfu_tt_lookup_addr(&e.table, &tcp) == e.t);
  CHECK(sfu_transport_next_deadline(e.t) <= t0 + SFU_ICE_CONSENT_TIMEOUT_US);
  run(&e, t0 + SFU_ICE_CONSENT_TIMEOUT_US - SEC, NULL, NULL);
  CHECK_EQ_INT(rel.n, 0);
  run(&e, t0 + SFU_ICE_CONSENT_TIMEOUT_US + SEC, NULL, NULL);
  CHECK_EQ_INT(rel.n, 1);
  CHECK(sfu_addr_equal(&rel.last, &tcp));
  CHECK(sfu_tt_lookup_addr(&e.table, &tcp) == NULL);
  CHECK(sfu_tt_lookup_addr(&e.table, &e.cli.addr) == e.t);
  CHECK_EQ_INT(e.departed, 0);
  /* Departure releases the rest. */
  sfu_transport_close(e.t, sim_link_now(e.link));
  CHECK_EQ_INT(rel.n, 2);
  CHECK(sfu_addr_equal(&rel.last, &e.cli.addr));
  env_free(&e);
}

TEST(failed_checks_are_not_traffic) {
  /* Issue 6 item 7: checks with a wrong password are counted in stun_rejected only, and
   * their 401 replies in stun_errors_out, rate-limited; PacketsIn/Out stay untouched. */
  env_t e;
  env_init(&e, 13);
  REQUIRE(e.t);
  sfu_addr_t stranger;
  sfu_addr_parse(&stranger, "10.9.9.9:1234");
  char user[64];
  snprintf(user, sizeof user, "%s:%s", sfu_transport_local_ufrag(e.t), CLI_UFRAG);
  for (int i = 0; i < 100; i++) {
    uint8_t tid[12] = {2, (uint8_t)i};
    sfu_stun_request_params_t p = {.tid = tid, .username = user, .password = "wrongpasswordwrongpassword",
                                   .priority = 1, .role = SFU_ICE_ROLE_CONTROLLING};
    uint8_t buf[256];
    int n = sfu_stun_build_binding_request(buf, sizeof buf, &p);
    REQUIRE(n > 0);
    sfu_transport_dispatch(&e.table, (uint64_t)i * 1000, &stranger, buf, (size_t)n); /* 1,000/s */
  }
  const sfu_transport_stats_t *st = sfu_transport_stats(e.t);
  CHECK_EQ_INT(st->stun_requests, 100);
  CHECK_EQ_INT(st->stun_rejected, 100);
  CHECK_EQ_INT(st->packets_in, 0);
  CHECK_EQ_INT(st->bytes_in, 0);
  CHECK_EQ_INT(st->packets_out, 0);
  /* 100 ms at 1,000 checks/s: the burst plus what 100 ms refills, no more. */
  CHECK(st->stun_errors_out >= SFU_ICE_UNAUTH_REPLY_BURST);
  CHECK(st->stun_errors_out <= SFU_ICE_UNAUTH_REPLY_BURST + 1);
  env_free(&e);
}

/* Issue 6 item 9: tracks added and removed over a long meeting, each SSRC sending a
 * little then stopping — 200 of them, with and without an RTCP BYE at the end — and the
 * transport still accepts a new one; a BYE removes the SSRC's state. Both backends. */
static void cli_send_ssrc(env_t *e, uint32_t ssrc, uint16_t seq, int bye) {
  uint8_t pkt[256] = {0};
  size_t len;
  pkt[0] = 0x80;
  if (!bye) {
    pkt[1] = 111;
    pkt[2] = (uint8_t)(seq >> 8), pkt[3] = (uint8_t)seq;
    len = 52;
  } else {
    pkt[0] |= 1, pkt[1] = 203, pkt[3] = 1; /* BYE, SC = 1 (RFC 3550 §6.6) */
    len = 8;
  }
  uint8_t *s = pkt + (bye ? 4 : 8);
  s[0] = (uint8_t)(ssrc >> 24), s[1] = (uint8_t)(ssrc >> 16), s[2] = (uint8_t)(ssrc >> 8),
  s[3] = (uint8_t)ssrc;
  int r = bye ? sfu_srtp_protect_rtcp(e->cli.srtp, pkt, &len, sizeof pkt)
              : sfu_srtp_protect_rtp(e->cli.srtp, pkt, &len, sizeof pkt);
  CHECK_EQ_INT(r, 0);
  sim_link_send(e->link, SIM_AB, sim_link_now(e->link), pkt, len);
}

TEST(ssrc_churn_200_then_a_new_one) {
  for (int b = 0; b < 2; b++)
    for (int bye = 0; bye < 2; bye++) {
      sfu_srtp_set_backend(b ? SFU_SRTP_BACKEND_LIBSRTP : SFU_SRTP_BACKEND_OPENSSL);
      env_t e;
      REQUIRE(do_connect(&e, (uint64_t)(20 + 2 * b + bye)));
      for (uint32_t i = 0; i < 200; i++) {
        for (uint16_t q = 0; q < 3; q++)
          cli_send_ssrc(&e, 0x70000000u + i, (uint16_t)(1000 + q), 0);
        if (bye) cli_send_ssrc(&e, 0x70000000u + i, 0, 1);
        run(&e, sim_link_now(e.link) + 20000, NULL, NULL);
      }
      cli_send_ssrc(&e, 0x12345678, 1, 0);
      run(&e, sim_link_now(e.link) + SEC, NULL, NULL);
      const sfu_transport_stats_t *st = sfu_transport_stats(e.t);
      CHECK_EQ_INT(e.rtp_seen, 200 * 3 + 1);
      CHECK_EQ_INT(st->decrypt_failures, 0);
      CHECK_EQ_INT(e.departed, 0);
      const sfu_srtp_stats_t *ss = sfu_srtp_stats(sfu_transport_srtp(e.t));
      CHECK(ss->ssrcs_in <= SFU_SRTP_MAX_STREAMS_IN);
      if (bye) { /* each BYE ended its SSRC: nothing had to be evicted */
        CHECK_EQ_INT(ss->ssrcs_in, 1);
        CHECK_EQ_INT(ss->ssrcs_evicted, 0);
        CHECK_EQ_INT(ss->ssrcs_ended, 200);
      }
      env_free(&e);
    }
  sfu_srtp_set_backend(SFU_SRTP_BACKEND_OPENSSL);
}

int main(void) {
  sfu_openssl_init();
  if (sfu_srtp_global_init() != 0) return 1;
  if (sfu_dtls_cert_new(&g_srv_cert) || sfu_dtls_cert_new(&g_cli_cert)) return 1;
  RUN(connect_join_and_decrypt);
  RUN(twcc_feedback_rides_on_arrivals);
  RUN(tampered_srtp_counts_failure);
  RUN(consent_loss_drops_once);
  RUN(consent_loss_drops_a_peer_that_never_nominated);
  RUN(close_notify_leaves_never_drops);
  RUN(local_close_sends_close_notify);
  RUN(fingerprint_mismatch_drops);
  RUN(no_dtls_connect_timeout);
  RUN(unknown_sources_dropped);
  RUN(ice_restart_rekeys);
  RUN(selected_pair_is_not_taken_over);
  RUN(idle_validated_addr_expires_and_is_released);
  RUN(failed_checks_are_not_traffic);
  RUN(ssrc_churn_200_then_a_new_one);
  sfu_dtls_cert_free(g_srv_cert);
  sfu_dtls_cert_free(g_cli_cert);
  sfu_srtp_global_shutdown();
  return test_summary();
}
