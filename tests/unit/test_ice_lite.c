/* Unit tests for the ICE-lite agent (src/proto/ice_lite.c) with injected time: checks,
 * nomination and re-nomination, named rejected requests, consent freshness (RFC 7675),
 * ICE restart, TCP sources. */
#include <stdlib.h>

#include "sfu/err.h"
#include "sfu/ice_lite.h"
#include "sfu/log.h"
#include "sfu/stun.h"
#include "stun_vectors.h"
#include "test.h"
#include "test_alloc.h"

#define SEC 1000000ull
#define L_UFRAG "LFRG"
#define L_PWD "localPasswordLocalPass1"
#define R_UFRAG "RFRG"
#define R_PWD "remotePasswordRemote22"

/* What the agent's callbacks saw. */
typedef struct {
  int sends;
  sfu_addr_t last_to;
  uint8_t last[512];
  size_t last_len;
  int selected_calls;
  sfu_addr_t last_selected;
  int consent_lost;
} rec_t;

static void rec_send(void *user, const sfu_addr_t *to, const uint8_t *buf, size_t len) {
  rec_t *r = user;
  r->sends++;
  r->last_to = *to;
  r->last_len = len < sizeof r->last ? len : sizeof r->last;
  memcpy(r->last, buf, r->last_len);
}
static void rec_selected(void *user, const sfu_addr_t *remote) {
  rec_t *r = user;
  r->selected_calls++;
  r->last_selected = *remote;
}
static void rec_consent_lost(void *user) { ((rec_t *)user)->consent_lost++; }

static const sfu_ice_cbs_t cbs = {rec_send, rec_selected, rec_consent_lost};

static void agent(sfu_ice_t *ice, rec_t *r) {
  memset(r, 0, sizeof *r);
  sfu_ice_init(ice, &cbs, r, 0);
  sfu_ice_set_local(ice, L_UFRAG, L_PWD);
  sfu_ice_set_remote(ice, R_UFRAG, R_PWD);
}

static sfu_addr_t addr(const char *s, sfu_proto_t proto) {
  sfu_addr_t a;
  memset(&a, 0, sizeof a);
  if (sfu_addr_parse(&a, s) != 0) abort();
  a.proto = proto;
  return a;
}

/* How a test request deviates from a well-formed check by a controlling peer. */
typedef struct {
  const char *username; /* NULL → L_UFRAG ":" R_UFRAG */
  const char *password; /* NULL → L_PWD */
  int use_candidate;
  int controlled; /* claims ICE-CONTROLLED instead of ICE-CONTROLLING */
  uint64_t tiebreaker;
  int no_username, no_integrity, no_fingerprint, bad_fingerprint, unknown_attr;
  int cls; /* SFU_STUN_REQUEST unless set */
} req_t;

static uint32_t tid_counter;

static int build_req(uint8_t *buf, size_t cap, const req_t *q) {
  uint8_t tid[12] = {0};
  memcpy(tid, &tid_counter, sizeof tid_counter);
  tid_counter++;
  const char *user = q->username ? q->username : L_UFRAG ":" R_UFRAG;
  const char *pwd = q->password ? q->password : L_PWD;
  sfu_stun_writer_t w;
  sfu_stun_w_init(&w, buf, cap, SFU_STUN_BINDING,
                  q->cls ? (sfu_stun_class_t)q->cls : SFU_STUN_REQUEST, tid);
  if (!q->no_username) sfu_stun_w_attr(&w, SFU_STUN_ATTR_USERNAME, user, strlen(user));
  sfu_stun_w_u32(&w, SFU_STUN_ATTR_PRIORITY, 0x6e7f00ff);
  sfu_stun_w_u64(&w, q->controlled ? SFU_STUN_ATTR_ICE_CONTROLLED : SFU_STUN_ATTR_ICE_CONTROLLING,
                 q->tiebreaker ? q->tiebreaker : 0x1234);
  if (q->use_candidate) sfu_stun_w_attr(&w, SFU_STUN_ATTR_USE_CANDIDATE, NULL, 0);
  if (q->unknown_attr) sfu_stun_w_attr(&w, 0x7ABC, "zz", 2);
  if (!q->no_integrity) sfu_stun_w_integrity(&w, (const uint8_t *)pwd, strlen(pwd));
  if (!q->no_fingerprint) sfu_stun_w_fingerprint(&w);
  int n = sfu_stun_w_finish(&w);
  if (n > 0 && q->bad_fingerprint) buf[n - 1] ^= 1;
  return n;
}

/* Builds, parses and hands a request to the agent; returns handle_stun's result. */
static int feed(sfu_ice_t *ice, uint64_t now, const sfu_addr_t *from, const req_t *q) {
  uint8_t buf[256];
  int n = build_req(buf, sizeof buf, q);
  if (n <= 0) abort();
  sfu_stun_msg_t m;
  if (sfu_stun_parse(buf, (size_t)n, &m) != 0) abort();
  return sfu_ice_handle_stun(ice, now, from, &m);
}

/* The last response: 200 for a success that verifies with L_PWD and maps to `from`,
 * the error code for an error, -1 for anything else. *mi says if MI verified. */
static int last_code(const rec_t *r, const sfu_addr_t *from, int *mi) {
  sfu_stun_msg_t m;
  *mi = 0;
  if (sfu_stun_parse(r->last, r->last_len, &m) || sfu_stun_check_fingerprint(&m)) return -1;
  *mi = sfu_stun_check_integrity(&m, (const uint8_t *)L_PWD, strlen(L_PWD)) == 0;
  if (!sfu_addr_equal(&r->last_to, from)) return -1;
  if (m.cls == SFU_STUN_ERROR && m.has_error) return m.error_code;
  if (m.cls != SFU_STUN_SUCCESS) return -1;
  sfu_addr_t mapped;
  if (sfu_stun_xor_mapped(&m, &mapped)) return -1;
  mapped.proto = from->proto;
  return sfu_addr_equal(&mapped, from) ? 200 : -1;
}

TEST(connect_then_nominate) {
  sfu_ice_t ice;
  rec_t r;
  agent(&ice, &r);
  sfu_addr_t a = addr("198.51.100.7:50000", SFU_PROTO_UDP);
  int mi;
  CHECK_EQ_STR(sfu_ice_state_name(&ice), "new");
  CHECK(sfu_ice_next_deadline(&ice) == UINT64_MAX);
  CHECK_EQ_INT(feed(&ice, 1 * SEC, &a, &(req_t){0}), 0);
  CHECK_EQ_INT(r.sends, 1);
  CHECK_EQ_INT(last_code(&r, &a, &mi), 200);
  CHECK(mi);
  CHECK_EQ_STR(sfu_ice_state_name(&ice), "checking");
  CHECK(sfu_ice_selected(&ice) == NULL);
  CHECK_EQ_INT(r.selected_calls, 0);

  CHECK_EQ_INT(feed(&ice, 2 * SEC, &a, &(req_t){.use_candidate = 1}), 0);
  CHECK_EQ_INT(r.sends, 2);
  CHECK_EQ_INT(last_code(&r, &a, &mi), 200);
  CHECK_EQ_INT(r.selected_calls, 1);
  CHECK(sfu_addr_equal(&r.last_selected, &a));
  REQUIRE(sfu_ice_selected(&ice) != NULL);
  CHECK(sfu_addr_equal(sfu_ice_selected(&ice), &a));
  CHECK_EQ_STR(sfu_ice_state_name(&ice), "connected");
  CHECK(sfu_ice_next_deadline(&ice) == 2 * SEC + 30 * SEC);
  /* Nominating the same pair again changes nothing. */
  CHECK_EQ_INT(feed(&ice, 3 * SEC, &a, &(req_t){.use_candidate = 1}), 0);
  CHECK_EQ_INT(r.selected_calls, 1);
  CHECK_EQ_INT(ice.stats.requests, 3);
  CHECK_EQ_INT(ice.stats.responses_sent, 3);
  CHECK_EQ_INT(ice.stats.errors_sent, 0);
  CHECK_EQ_INT(ice.stats.nominations, 1);
  CHECK(ice.stats.nominated_at_us == 2 * SEC);
  CHECK(ice.stats.last_valid_us == 3 * SEC);
}

TEST(rejected_requests_named) {
  static const struct {
    const char *name;
    req_t q;
    int rc;      /* handle_stun result */
    int code;    /* response: 0 none, else error code */
    int with_mi; /* error response carries a valid MI */
  } cases[] = {
      {"wrong password",
       {.password = "notTheLocalPassword!!", .use_candidate = 1},
       SFU_EAUTH,
       401,
       0},
      {"unknown local ufrag", {.username = "XXXX:" R_UFRAG, .use_candidate = 1}, SFU_EAUTH, 401, 0},
      {"wrong remote ufrag", {.username = L_UFRAG ":OTHER", .use_candidate = 1}, SFU_EAUTH, 401, 0},
      {"username without colon", {.username = L_UFRAG, .use_candidate = 1}, SFU_EAUTH, 401, 0},
      {"empty remote ufrag", {.username = L_UFRAG ":", .use_candidate = 1}, SFU_EAUTH, 401, 0},
      {"local ufrag prefix only",
       {.username = "LFR:" R_UFRAG, .use_candidate = 1},
       SFU_EAUTH,
       401,
       0},
      {"missing USERNAME", {.no_username = 1, .use_candidate = 1}, SFU_EPARSE, 400, 0},
      {"missing MESSAGE-INTEGRITY", {.no_integrity = 1, .use_candidate = 1}, SFU_EPARSE, 400, 0},
      {"missing FINGERPRINT", {.no_fingerprint = 1, .use_candidate = 1}, SFU_ENOENT, 0, 0},
      {"bad FINGERPRINT", {.bad_fingerprint = 1, .use_candidate = 1}, SFU_EAUTH, 0, 0},
      {"peer also ICE-CONTROLLED (role conflict)",
       {.controlled = 1, .tiebreaker = UINT64_MAX, .use_candidate = 1},
       SFU_EPERM,
       487,
       1},
      {"unknown comprehension-required attribute",
       {.unknown_attr = 1, .use_candidate = 1},
       SFU_EUNSUPP,
       420,
       1},
      {"binding indication", {.cls = SFU_STUN_INDICATION, .use_candidate = 1}, SFU_EINVAL, 0, 0},
      {"binding success response", {.cls = SFU_STUN_SUCCESS, .use_candidate = 1}, SFU_EINVAL, 0, 0},
  };
  sfu_addr_t a = addr("198.51.100.7:50000", SFU_PROTO_UDP);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    sfu_ice_t ice;
    rec_t r;
    agent(&ice, &r);
    int rc = feed(&ice, SEC, &a, &cases[i].q);
    int before = test_cur_failed_;
    test_cur_failed_ = 0;
    CHECK_EQ_INT(rc, cases[i].rc);
    CHECK_EQ_INT(r.sends, cases[i].code ? 1 : 0);
    if (cases[i].code) {
      int mi;
      CHECK_EQ_INT(last_code(&r, &a, &mi), cases[i].code);
      CHECK_EQ_INT(mi, cases[i].with_mi);
      CHECK_EQ_INT(ice.stats.errors_sent, 1);
    }
    /* Never a nomination, never connected. */
    CHECK_EQ_INT(r.selected_calls, 0);
    CHECK(sfu_ice_selected(&ice) == NULL);
    CHECK(sfu_ice_state(&ice) == SFU_ICE_NEW);
    CHECK(sfu_ice_next_deadline(&ice) == UINT64_MAX);
    if (test_cur_failed_) fprintf(stderr, "  in case '%s'\n", cases[i].name);
    test_cur_failed_ |= before;
  }
}

TEST(rfc5769_sample_request_is_not_ours) {
  /* Right shape, wrong username for this agent; and as a controlled-role claim it
   * would be a role conflict if the credentials matched (see next case). */
  sfu_ice_t ice;
  rec_t r;
  agent(&ice, &r);
  sfu_addr_t a = addr("192.0.2.1:32853", SFU_PROTO_UDP);
  sfu_stun_msg_t m;
  REQUIRE(sfu_stun_parse(rfc5769_request, sizeof rfc5769_request, &m) == 0);
  CHECK_EQ_INT(sfu_ice_handle_stun(&ice, SEC, &a, &m), SFU_EAUTH);
  int mi;
  CHECK_EQ_INT(last_code(&r, &a, &mi), 401);
  /* With the vector's credentials as ours: authenticated, then 487 (it says
   * ICE-CONTROLLED, and a lite agent is controlled). */
  agent(&ice, &r);
  REQUIRE(sfu_ice_set_local(&ice, "evtj", rfc5769_password) == 0);
  REQUIRE(sfu_ice_set_remote(&ice, "h6vY", NULL) == 0);
  CHECK_EQ_INT(sfu_ice_handle_stun(&ice, SEC, &a, &m), SFU_EPERM);
  sfu_stun_msg_t resp;
  REQUIRE(sfu_stun_parse(r.last, r.last_len, &resp) == 0);
  CHECK_EQ_INT(resp.error_code, 487);
  CHECK_EQ_INT(
      sfu_stun_check_integrity(&resp, (const uint8_t *)rfc5769_password, strlen(rfc5769_password)),
      0);
}

TEST(consent_expires_at_30s_not_29s) {
  sfu_ice_t ice;
  rec_t r;
  agent(&ice, &r);
  sfu_addr_t a = addr("198.51.100.7:50000", SFU_PROTO_UDP);
  const uint64_t t0 = 5 * SEC;
  REQUIRE(feed(&ice, t0, &a, &(req_t){.use_candidate = 1}) == 0);
  CHECK(sfu_ice_next_deadline(&ice) == t0 + 30 * SEC);
  sfu_ice_handle_timeout(&ice, t0 + 29 * SEC);
  CHECK_EQ_INT(r.consent_lost, 0);
  sfu_ice_handle_timeout(&ice, t0 + 30 * SEC - 1);
  CHECK_EQ_INT(r.consent_lost, 0);
  CHECK_EQ_STR(sfu_ice_state_name(&ice), "connected");
  sfu_ice_handle_timeout(&ice, t0 + 30 * SEC);
  CHECK_EQ_INT(r.consent_lost, 1);
  CHECK_EQ_STR(sfu_ice_state_name(&ice), "failed");
  CHECK(sfu_ice_next_deadline(&ice) == UINT64_MAX);
  sfu_ice_handle_timeout(&ice, t0 + 31 * SEC);
  CHECK_EQ_INT(r.consent_lost, 1); /* once */
  /* A failed agent answers nothing, even a valid request. */
  int sends = r.sends;
  CHECK_EQ_INT(feed(&ice, t0 + 32 * SEC, &a, &(req_t){.use_candidate = 1}), SFU_ESTATE);
  CHECK_EQ_INT(r.sends, sends);
  CHECK_EQ_INT(sfu_ice_set_local(&ice, "NEWU", L_PWD), SFU_ESTATE);
}

TEST(consent_kept_alive_by_periodic_requests) {
  sfu_ice_t ice;
  rec_t r;
  agent(&ice, &r);
  sfu_addr_t a = addr("[2001:db8::7]:50000", SFU_PROTO_UDP);
  REQUIRE(feed(&ice, 0, &a, &(req_t){.use_candidate = 1}) == 0);
  uint64_t t = 0;
  /* Chrome sends consent checks every ~5 s with jitter; step 1 s, request every 5th. */
  for (int s = 1; s <= 300; s++) {
    t = (uint64_t)s * SEC;
    if (s % 5 == 0) CHECK_EQ_INT(feed(&ice, t, &a, &(req_t){0}), 0);
    sfu_ice_handle_timeout(&ice, t);
  }
  CHECK_EQ_INT(r.consent_lost, 0);
  CHECK(sfu_ice_next_deadline(&ice) == 300 * SEC + 30 * SEC);
  sfu_ice_handle_timeout(&ice, 329 * SEC);
  CHECK_EQ_INT(r.consent_lost, 0);
  sfu_ice_handle_timeout(&ice, 330 * SEC);
  CHECK_EQ_INT(r.consent_lost, 1);
}

TEST(consent_not_refreshed_by_other_pairs_or_bad_requests) {
  sfu_ice_t ice;
  rec_t r;
  agent(&ice, &r);
  sfu_addr_t a = addr("198.51.100.7:50000", SFU_PROTO_UDP);
  sfu_addr_t b = addr("198.51.100.7:50002", SFU_PROTO_UDP);
  REQUIRE(feed(&ice, 0, &a, &(req_t){.use_candidate = 1}) == 0);
  for (int s = 5; s < 30; s += 5) {
    CHECK_EQ_INT(feed(&ice, (uint64_t)s * SEC, &b, &(req_t){0}), 0); /* other pair */
    CHECK_EQ_INT(feed(&ice, (uint64_t)s * SEC, &a, &(req_t){.password = "wrongwrongwrongwrong!!"}),
                 SFU_EAUTH); /* forged */
  }
  CHECK(sfu_ice_next_deadline(&ice) == 30 * SEC);
  sfu_ice_handle_timeout(&ice, 30 * SEC);
  CHECK_EQ_INT(r.consent_lost, 1);
}

TEST(pair_in_use_without_nomination_gets_consent) {
  /* DTLS completed on a pair the peer never nominated: the owner hands it over, consent
   * runs from the last valid request on it, requests on it renew it, others do not. */
  sfu_ice_t ice;
  rec_t r;
  agent(&ice, &r);
  sfu_addr_t a = addr("198.51.100.7:50000", SFU_PROTO_UDP);
  sfu_addr_t b = addr("198.51.100.7:50002", SFU_PROTO_UDP);
  CHECK_EQ_INT(sfu_ice_use_pair(&ice, &a, 0), SFU_ESTATE); /* nothing validated yet */
  REQUIRE(feed(&ice, 2 * SEC, &a, &(req_t){0}) == 0);
  CHECK(sfu_ice_next_deadline(&ice) == UINT64_MAX); /* checking: no consent timer */
  CHECK_EQ_INT(sfu_ice_use_pair(&ice, &a, 2 * SEC), 0);
  CHECK_EQ_STR(sfu_ice_state_name(&ice), "connected");
  REQUIRE(sfu_ice_selected(&ice));
  CHECK(sfu_addr_equal(sfu_ice_selected(&ice), &a));
  CHECK_EQ_INT(r.selected_calls, 1);
  CHECK(sfu_ice_next_deadline(&ice) == 32 * SEC);
  REQUIRE(feed(&ice, 10 * SEC, &a, &(req_t){0}) == 0);
  CHECK(sfu_ice_next_deadline(&ice) == 40 * SEC);
  REQUIRE(feed(&ice, 20 * SEC, &b, &(req_t){0}) == 0); /* another pair: no renewal */
  CHECK(sfu_ice_next_deadline(&ice) == 40 * SEC);
  CHECK_EQ_INT(sfu_ice_use_pair(&ice, &b, 20 * SEC), 0); /* already selected: no-op */
  CHECK(sfu_addr_equal(sfu_ice_selected(&ice), &a));
  sfu_ice_handle_timeout(&ice, 40 * SEC - 1);
  CHECK_EQ_INT(r.consent_lost, 0);
  sfu_ice_handle_timeout(&ice, 40 * SEC);
  CHECK_EQ_INT(r.consent_lost, 1);
  CHECK_EQ_INT(sfu_ice_use_pair(&ice, &a, 40 * SEC), SFU_ESTATE);
}

TEST(nomination_takes_over_a_pair_in_use) {
  sfu_ice_t ice;
  rec_t r;
  agent(&ice, &r);
  sfu_addr_t a = addr("198.51.100.7:50000", SFU_PROTO_UDP);
  sfu_addr_t b = addr("198.51.100.7:50002", SFU_PROTO_TCP);
  REQUIRE(feed(&ice, 0, &a, &(req_t){0}) == 0);
  REQUIRE(sfu_ice_use_pair(&ice, &a, 0) == 0);
  REQUIRE(feed(&ice, 5 * SEC, &b, &(req_t){.use_candidate = 1}) == 0);
  CHECK(sfu_addr_equal(sfu_ice_selected(&ice), &b));
  CHECK(sfu_ice_next_deadline(&ice) == 35 * SEC);
  CHECK_EQ_INT(r.selected_calls, 2);
}

TEST(late_request_cannot_revive_expired_consent) {
  /* The timer was late: a request processed after the deadline fires the loss first. */
  sfu_ice_t ice;
  rec_t r;
  agent(&ice, &r);
  sfu_addr_t a = addr("198.51.100.7:50000", SFU_PROTO_UDP);
  REQUIRE(feed(&ice, 0, &a, &(req_t){.use_candidate = 1}) == 0);
  CHECK_EQ_INT(feed(&ice, 31 * SEC, &a, &(req_t){0}), SFU_ESTATE);
  CHECK_EQ_INT(r.consent_lost, 1);
  CHECK_EQ_INT(r.sends, 1);
}

TEST(renomination_switches_pair) {
  /* The client changed network: its new address nominates, the agent follows, and
   * consent is then tracked on the new pair. */
  sfu_ice_t ice;
  rec_t r;
  agent(&ice, &r);
  sfu_addr_t wifi = addr("198.51.100.7:50000", SFU_PROTO_UDP);
  sfu_addr_t lte = addr("203.0.113.9:40000", SFU_PROTO_UDP);
  REQUIRE(feed(&ice, 1 * SEC, &wifi, &(req_t){.use_candidate = 1}) == 0);
  CHECK_EQ_INT(feed(&ice, 10 * SEC, &lte, &(req_t){0}), 0); /* check only: no switch */
  CHECK(sfu_addr_equal(sfu_ice_selected(&ice), &wifi));
  CHECK_EQ_INT(feed(&ice, 11 * SEC, &lte, &(req_t){.use_candidate = 1}), 0);
  CHECK_EQ_INT(r.selected_calls, 2);
  CHECK(sfu_addr_equal(&r.last_selected, &lte));
  CHECK(sfu_addr_equal(sfu_ice_selected(&ice), &lte));
  CHECK_EQ_INT(ice.stats.nominations, 2);
  CHECK(ice.stats.nominated_at_us == 11 * SEC);
  CHECK(sfu_ice_next_deadline(&ice) == 41 * SEC);
  /* The old pair no longer keeps consent alive. */
  CHECK_EQ_INT(feed(&ice, 30 * SEC, &wifi, &(req_t){0}), 0);
  CHECK(sfu_ice_next_deadline(&ice) == 41 * SEC);
}

TEST(ice_restart_old_ufrag_rejected_new_accepted) {
  sfu_ice_t ice;
  rec_t r;
  agent(&ice, &r);
  sfu_addr_t a = addr("198.51.100.7:50000", SFU_PROTO_UDP);
  REQUIRE(feed(&ice, 1 * SEC, &a, &(req_t){.use_candidate = 1}) == 0);
  REQUIRE(sfu_ice_set_local(&ice, "NEWU", "aBrandNewLocalPassword") == 0);
  REQUIRE(sfu_ice_set_remote(&ice, "RNEW", "aBrandNewRemotePasswd1") == 0);
  CHECK_EQ_INT(ice.stats.restarts, 1);
  CHECK_EQ_STR(sfu_ice_local_ufrag(&ice), "NEWU");
  /* Media keeps flowing on the selected pair while the peer re-checks. */
  CHECK_EQ_STR(sfu_ice_state_name(&ice), "connected");
  CHECK(sfu_ice_selected(&ice) != NULL);
  int mi;
  CHECK_EQ_INT(feed(&ice, 2 * SEC, &a, &(req_t){0}), SFU_EAUTH); /* old creds */
  CHECK_EQ_INT(last_code(&r, &a, &mi), 401);
  CHECK_EQ_INT(feed(&ice, 2 * SEC, &a,
                    &(req_t){.username = "NEWU:" R_UFRAG, .password = "aBrandNewLocalPassword"}),
               SFU_EAUTH); /* new local, old remote ufrag */
  CHECK_EQ_INT(
      feed(&ice, 3 * SEC, &a,
           &(req_t){
               .username = "NEWU:RNEW", .password = "aBrandNewLocalPassword", .use_candidate = 1}),
      0);
  sfu_stun_msg_t m;
  REQUIRE(sfu_stun_parse(r.last, r.last_len, &m) == 0);
  CHECK_EQ_INT(m.cls, SFU_STUN_SUCCESS);
  CHECK_EQ_INT(sfu_stun_check_integrity(&m, (const uint8_t *)"aBrandNewLocalPassword", 22), 0);
  CHECK(sfu_ice_next_deadline(&ice) == 33 * SEC); /* consent refreshed with new creds */
  /* Setting the same credentials again is not a restart. */
  REQUIRE(sfu_ice_set_local(&ice, "NEWU", "aBrandNewLocalPassword") == 0);
  CHECK_EQ_INT(ice.stats.restarts, 1);
}

TEST(tcp_source_proto_preserved) {
  sfu_ice_t ice;
  rec_t r;
  agent(&ice, &r);
  sfu_addr_t tcp = addr("198.51.100.7:9", SFU_PROTO_TCP);
  sfu_addr_t udp = addr("198.51.100.7:9", SFU_PROTO_UDP);
  REQUIRE(feed(&ice, SEC, &tcp, &(req_t){.use_candidate = 1}) == 0);
  CHECK_EQ_INT(r.last_to.proto, SFU_PROTO_TCP);
  CHECK_EQ_INT(r.last_selected.proto, SFU_PROTO_TCP);
  CHECK_EQ_INT(sfu_ice_selected(&ice)->proto, SFU_PROTO_TCP);
  /* Same IP and port over UDP is another pair: a nomination there switches. */
  CHECK_EQ_INT(feed(&ice, 2 * SEC, &udp, &(req_t){.use_candidate = 1}), 0);
  CHECK_EQ_INT(r.last_to.proto, SFU_PROTO_UDP);
  CHECK_EQ_INT(r.selected_calls, 2);
  CHECK_EQ_INT(sfu_ice_selected(&ice)->proto, SFU_PROTO_UDP);
}

TEST(remote_ufrag_unknown_accepts_any) {
  sfu_ice_t ice;
  rec_t r;
  memset(&r, 0, sizeof r);
  sfu_ice_init(&ice, &cbs, &r, 0);
  sfu_addr_t a = addr("198.51.100.7:50000", SFU_PROTO_UDP);
  /* No local credentials yet: nothing is answered. */
  CHECK_EQ_INT(feed(&ice, SEC, &a, &(req_t){0}), SFU_ESTATE);
  CHECK_EQ_INT(r.sends, 0);
  REQUIRE(sfu_ice_set_local(&ice, L_UFRAG, L_PWD) == 0);
  CHECK_EQ_INT(feed(&ice, SEC, &a, &(req_t){.username = L_UFRAG ":whoever"}), 0);
}

TEST(credentials_validated) {
  sfu_ice_t ice;
  rec_t r;
  agent(&ice, &r);
  char big[300];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = 0;
  CHECK_EQ_INT(sfu_ice_set_local(&ice, "a:b", L_PWD), SFU_EINVAL);
  CHECK_EQ_INT(sfu_ice_set_local(&ice, "", L_PWD), SFU_EINVAL);
  CHECK_EQ_INT(sfu_ice_set_local(&ice, "ab cd", L_PWD), SFU_EINVAL);
  CHECK_EQ_INT(sfu_ice_set_local(&ice, big, L_PWD), SFU_EINVAL);
  CHECK_EQ_INT(sfu_ice_set_local(&ice, L_UFRAG, big), SFU_EINVAL);
  CHECK_EQ_INT(sfu_ice_set_local(&ice, L_UFRAG, NULL), SFU_EINVAL);
  CHECK_EQ_INT(sfu_ice_set_remote(&ice, "x\ny", NULL), SFU_EINVAL);
  big[256] = 0; /* exactly 256: the maximum */
  CHECK_EQ_INT(sfu_ice_set_local(&ice, big, big), 0);
  CHECK_EQ_INT(ice.stats.restarts, 1);
  CHECK_EQ_INT(sfu_ice_set_consent_timeout(&ice, 0), SFU_EINVAL);
  CHECK_EQ_INT(sfu_ice_set_role(&ice, (sfu_ice_role_t)7, 0), SFU_EINVAL);
}

TEST(role_conflict_rules) {
  /* RFC 8445 §7.3.1.1 for a full agent (lite cleared), and the lite agent, which never
   * takes the controlling role (§6.1.1) and answers 487 to a controlled peer instead. */
  static const struct {
    const char *name;
    int lite;
    sfu_ice_role_t ours;
    uint64_t our_tb;
    int peer_controlled;
    uint64_t peer_tb;
    int rc;
    sfu_ice_role_t after;
  } cases[] = {
      {"controlling vs controlling, ours larger", 0, SFU_ICE_ROLE_CONTROLLING, 100, 0, 50, SFU_EPERM,
       SFU_ICE_ROLE_CONTROLLING},
      {"controlling vs controlling, ours equal", 0, SFU_ICE_ROLE_CONTROLLING, 50, 0, 50, SFU_EPERM,
       SFU_ICE_ROLE_CONTROLLING},
      {"controlling vs controlling, ours smaller", 0, SFU_ICE_ROLE_CONTROLLING, 10, 0, 50, 0,
       SFU_ICE_ROLE_CONTROLLED},
      {"controlled vs controlled, ours smaller: 487", 0, SFU_ICE_ROLE_CONTROLLED, 10, 1, 50, SFU_EPERM,
       SFU_ICE_ROLE_CONTROLLED},
      {"controlled vs controlled, ours larger: switch", 0, SFU_ICE_ROLE_CONTROLLED, 100, 1, 50, 0,
       SFU_ICE_ROLE_CONTROLLING},
      {"controlled vs controlled, ours equal: switch", 0, SFU_ICE_ROLE_CONTROLLED, 50, 1, 50, 0,
       SFU_ICE_ROLE_CONTROLLING},
      {"controlling vs controlled: no conflict", 0, SFU_ICE_ROLE_CONTROLLING, 10, 1, 50, 0,
       SFU_ICE_ROLE_CONTROLLING},
      {"lite, controlled vs controlled, ours larger: 487", 1, SFU_ICE_ROLE_CONTROLLED, UINT64_MAX, 1, 50,
       SFU_EPERM, SFU_ICE_ROLE_CONTROLLED},
      {"lite, controlled vs controlled, ours smaller: 487", 1, SFU_ICE_ROLE_CONTROLLED, 10, 1, 50, SFU_EPERM,
       SFU_ICE_ROLE_CONTROLLED},
      {"lite, controlled vs controlling: no conflict", 1, SFU_ICE_ROLE_CONTROLLED, 10, 0, 50, 0,
       SFU_ICE_ROLE_CONTROLLED},
  };
  sfu_addr_t a = addr("198.51.100.7:50000", SFU_PROTO_UDP);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    sfu_ice_t ice;
    rec_t r;
    agent(&ice, &r);
    CHECK_EQ_INT(ice.lite, 1); /* what every agent of the worker is */
    ice.lite = cases[i].lite;
    REQUIRE(sfu_ice_set_role(&ice, cases[i].ours, cases[i].our_tb) == 0);
    int rc = feed(&ice, SEC, &a,
                  &(req_t){.controlled = cases[i].peer_controlled, .tiebreaker = cases[i].peer_tb});
    if (rc != cases[i].rc || ice.role != cases[i].after)
      fprintf(stderr, "case '%s'\n", cases[i].name);
    CHECK_EQ_INT(rc, cases[i].rc);
    CHECK_EQ_INT(ice.role, cases[i].after);
    if (cases[i].rc == SFU_EPERM) {
      int mi;
      CHECK_EQ_INT(last_code(&r, &a, &mi), 487);
      CHECK_EQ_INT(ice.stats.err_487, 1);
    }
  }
}

TEST(unauthenticated_replies_rate_limited) {
  /* 401s (and 400s) answer anyone who knows the ufrag: a burst, then the rate. Errors to
   * authenticated requests (420, 487) and successes are not limited. */
  sfu_ice_t ice;
  rec_t r;
  agent(&ice, &r);
  sfu_addr_t a = addr("198.51.100.7:50000", SFU_PROTO_UDP);
  for (int i = 0; i < 3 * SFU_ICE_UNAUTH_REPLY_BURST; i++)
    CHECK_EQ_INT(feed(&ice, SEC, &a, &(req_t){.password = "wrong-password-wrong-password"}), SFU_EAUTH);
  CHECK_EQ_INT(ice.stats.err_401, SFU_ICE_UNAUTH_REPLY_BURST);
  CHECK_EQ_INT(ice.stats.err_suppressed, 2 * SFU_ICE_UNAUTH_REPLY_BURST);
  CHECK_EQ_INT(r.sends, SFU_ICE_UNAUTH_REPLY_BURST);
  /* A valid request is answered whatever the bucket says. */
  CHECK_EQ_INT(feed(&ice, SEC, &a, &(req_t){0}), 0);
  CHECK_EQ_INT(r.sends, SFU_ICE_UNAUTH_REPLY_BURST + 1);
  /* One second refills SFU_ICE_UNAUTH_REPLIES_PER_S replies. */
  for (int i = 0; i < 2 * SFU_ICE_UNAUTH_REPLIES_PER_S; i++)
    feed(&ice, 2 * SEC, &a, &(req_t){.no_integrity = 1});
  CHECK_EQ_INT(ice.stats.err_400, SFU_ICE_UNAUTH_REPLIES_PER_S);
  CHECK_EQ_INT(r.sends, SFU_ICE_UNAUTH_REPLY_BURST + 1 + SFU_ICE_UNAUTH_REPLIES_PER_S);
}

TEST(close_silences_agent) {
  sfu_ice_t ice;
  rec_t r;
  agent(&ice, &r);
  sfu_addr_t a = addr("198.51.100.7:50000", SFU_PROTO_UDP);
  REQUIRE(feed(&ice, 0, &a, &(req_t){.use_candidate = 1}) == 0);
  sfu_ice_close(&ice);
  sfu_ice_close(&ice);
  CHECK_EQ_STR(sfu_ice_state_name(&ice), "closed");
  CHECK(sfu_ice_next_deadline(&ice) == UINT64_MAX);
  sfu_ice_handle_timeout(&ice, 100 * SEC);
  CHECK_EQ_INT(r.consent_lost, 0);
  CHECK_EQ_INT(feed(&ice, 1, &a, &(req_t){0}), SFU_ESTATE);
  CHECK_EQ_INT(r.sends, 1);
}

TEST(garbage_through_agent_never_answers_unauthenticated) {
  /* Seeded mutations of a valid nominating request: whatever parses must not nominate
   * unless it still authenticates, and nothing crashes. */
  uint64_t s = 0x243F6A8885A308D3ull;
  sfu_addr_t a = addr("198.51.100.7:50000", SFU_PROTO_UDP);
  uint8_t base[256];
  int n = build_req(base, sizeof base, &(req_t){.use_candidate = 1});
  REQUIRE(n > 0);
  for (int iter = 0; iter < 20000; iter++) {
    sfu_ice_t ice;
    rec_t r;
    agent(&ice, &r);
    uint8_t buf[256];
    memcpy(buf, base, (size_t)n);
    int flips = 1 + iter % 4;
    for (int f = 0; f < flips; f++) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      buf[(s >> 8) % (uint64_t)n] ^= (uint8_t)(1u << (s % 8));
    }
    sfu_stun_msg_t m;
    if (sfu_stun_parse(buf, (size_t)n, &m) != 0) continue;
    int rc = sfu_ice_handle_stun(&ice, SEC, &a, &m);
    if (rc == 0) {
      /* Only possible if the flips hit ignored bytes; then it must still verify. */
      CHECK_EQ_INT(sfu_stun_check_integrity(&m, (const uint8_t *)L_PWD, strlen(L_PWD)), 0);
      CHECK_EQ_INT(sfu_stun_check_fingerprint(&m), 0);
    } else {
      CHECK_EQ_INT(r.selected_calls, 0);
    }
  }
}

/* docs/benchmarks.md found 10 allocations per check (OpenSSL's HMAC contexts), the only
 * ones on the worker's packet path. Checks and their answers (success, 401, 420, 487,
 * consent refresh on the selected pair) now allocate nothing, before and after an ICE
 * restart (the restart re-prepares the key). Requests are built before counting. */
TEST(checks_allocate_nothing) {
  if (!TEST_ALLOC_COUNTS) {
    printf("     (allocation counting skipped: AddressSanitizer owns malloc)\n");
    return;
  }
  sfu_ice_t ice;
  rec_t r;
  agent(&ice, &r);
  sfu_addr_t a = addr("198.51.100.7:50000", SFU_PROTO_UDP);
  REQUIRE(feed(&ice, SEC, &a, &(req_t){.use_candidate = 1}) == 0); /* selected, logged */
  static const req_t kinds[] = {
      {.use_candidate = 1},             /* success, consent refresh */
      {0},                              /* success */
      {.password = "wrong-password-1"}, /* 401, then rate-limited */
      {.unknown_attr = 1},              /* 420 with MI */
      {.controlled = 1},                /* 487 with MI */
  };
  enum { N_KINDS = sizeof kinds / sizeof kinds[0], ROUNDS = 200 };
  static uint8_t req[N_KINDS][256];
  int len[N_KINDS];
  for (int i = 0; i < N_KINDS; i++) REQUIRE((len[i] = build_req(req[i], 256, &kinds[i])) > 0);
  static const int want[N_KINDS] = {0, 0, SFU_EAUTH, SFU_EUNSUPP, SFU_EPERM};
  for (int pass = 0; pass < 2; pass++) {
    int bad = 0, sends = r.sends;
    test_alloc_calls = 0;
    test_alloc_counting = 1;
    for (int i = 0; i < ROUNDS; i++)
      for (int j = 0; j < N_KINDS; j++) {
        sfu_stun_msg_t m;
        if (sfu_stun_parse(req[j], (size_t)len[j], &m) != 0 ||
            sfu_ice_handle_stun(&ice, 2 * SEC + (uint64_t)i, &a, &m) != want[j])
          bad++;
      }
    test_alloc_counting = 0;
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(test_alloc_calls, 0);
    CHECK(r.sends - sends >= ROUNDS * 4); /* answers went out (401s rate-limited) */
    int mi;
    CHECK_EQ_INT(last_code(&r, &a, &mi), SFU_STUN_ERR_ROLE_CONFLICT);
    if (pass == 0) {
      /* A restart to new credentials and back: the key follows the password. */
      REQUIRE(sfu_ice_set_local(&ice, "NEWU", "aBrandNewLocalPassword") == 0);
      CHECK_EQ_INT(
          feed(&ice, 2 * SEC, &a,
               &(req_t){.username = "NEWU:" R_UFRAG, .password = "aBrandNewLocalPassword"}),
          0);
      sfu_stun_msg_t m;
      REQUIRE(sfu_stun_parse(r.last, r.last_len, &m) == 0);
      CHECK_EQ_INT(sfu_stun_check_integrity(&m, (const uint8_t *)"aBrandNewLocalPassword", 22), 0);
      CHECK_EQ_INT(feed(&ice, 2 * SEC, &a, &(req_t){0}), SFU_EAUTH); /* old ufrag and pwd */
      REQUIRE(sfu_ice_set_local(&ice, L_UFRAG, L_PWD) == 0);
    }
    CHECK(mi);
  }
  CHECK_EQ_INT(ice.stats.restarts, 2);
}

int main(void) {
  sfu_log_set_level(SFU_LOG_WARN);
  RUN(connect_then_nominate);
  RUN(rejected_requests_named);
  RUN(rfc5769_sample_request_is_not_ours);
  RUN(consent_expires_at_30s_not_29s);
  RUN(consent_kept_alive_by_periodic_requests);
  RUN(consent_not_refreshed_by_other_pairs_or_bad_requests);
  RUN(late_request_cannot_revive_expired_consent);
  RUN(pair_in_use_without_nomination_gets_consent);
  RUN(nomination_takes_over_a_pair_in_use);
  RUN(renomination_switches_pair);
  RUN(ice_restart_old_ufrag_rejected_new_accepted);
  RUN(tcp_source_proto_preserved);
  RUN(remote_ufrag_unknown_accepts_any);
  RUN(credentials_validated);
  RUN(role_conflict_rules);
  RUN(unauthenticated_replies_rate_limited);
  RUN(close_silences_agent);
  RUN(garbage_through_agent_never_answers_unauthenticated);
  RUN(checks_allocate_nothing);
  return test_summary();
}
