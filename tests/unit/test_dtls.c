/* DTLS core: two cores (server and client) handshaking in-process over the simulated
 * link, on a virtual clock. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "proto/dtls_internal.h" /* the X509, for its validity dates */
#include "sfu/dtls.h"
#include "sfu/err.h"
#include "sim_link.h"
#include "test.h"
#include "test_fp.h"

#define SEC 1000000ull

static sfu_dtls_cert_t *srv_cert, *cli_cert;

typedef struct {
  sfu_dtls_t *d;
  sim_link_t *link;
  int dir; /* the direction this peer sends on */
  int connected, closed, close_reason;
  sfu_srtp_keys_t keys;
  int app_count;
  uint8_t app[20000];
  size_t app_len;
  int free_on_closed, free_on_app;
} peer_t;

typedef struct {
  sim_link_t *link;
  peer_t srv, cli;
  sim_peer_t sa, sb; /* A = client, B = server */
} pair_t;

static void p_send(void *u, const uint8_t *buf, size_t len) {
  peer_t *p = u;
  sim_link_send(p->link, p->dir, sim_link_now(p->link), buf, len);
}
static void p_connected(void *u, const sfu_srtp_keys_t *k) {
  peer_t *p = u;
  p->connected++;
  p->keys = *k;
}
static void p_app(void *u, const uint8_t *buf, size_t len) {
  peer_t *p = u;
  p->app_count++;
  if (len <= sizeof p->app) memcpy(p->app, buf, len);
  p->app_len = len;
  if (p->free_on_app) {
    sfu_dtls_free(p->d);
    p->d = NULL;
  }
}
static void p_closed(void *u, int reason) {
  peer_t *p = u;
  p->closed++;
  p->close_reason = reason;
  if (p->free_on_closed) {
    sfu_dtls_free(p->d);
    p->d = NULL;
  }
}
static const sfu_dtls_cbs_t cbs = {p_send, p_connected, p_app, p_closed};

static uint64_t a_deadline(void *c) {
  peer_t *p = c;
  return p->d ? sfu_dtls_next_deadline(p->d) : UINT64_MAX;
}
static void a_timeout(void *c, uint64_t now) {
  peer_t *p = c;
  if (p->d) sfu_dtls_handle_timeout(p->d, now);
}
static void a_input(void *c, uint64_t now, const uint8_t *buf, size_t len) {
  peer_t *p = c;
  if (p->d) sfu_dtls_handle_input(p->d, now, buf, len);
}

static int both_connected(void *u) {
  pair_t *t = u;
  return t->srv.connected && t->cli.connected;
}
static int any_closed(void *u) {
  pair_t *t = u;
  return t->srv.closed || t->cli.closed;
}

/* Server fingerprint check uses srv_fp_of (the client's cert unless overridden). */
static void pair_init(pair_t *t, uint64_t seed, const char *cli_profiles, const char *srv_profiles,
                      unsigned cli_mtu) {
  memset(t, 0, sizeof *t);
  t->link = sim_link_new(seed);
  sim_dir_cfg_t c = {.delay_us = 20000};
  sim_link_config(t->link, SIM_AB, &c);
  sim_link_config(t->link, SIM_BA, &c);
  t->cli.link = t->srv.link = t->link;
  t->cli.dir = SIM_AB;
  t->srv.dir = SIM_BA;
  t->sa = (sim_peer_t){&t->cli, a_deadline, a_timeout, a_input};
  t->sb = (sim_peer_t){&t->srv, a_deadline, a_timeout, a_input};
  sfu_dtls_opts_t so = {.srtp_profiles = srv_profiles};
  t->srv.d = sfu_dtls_new_ex(srv_cert, SFU_DTLS_ROLE_SERVER, &so, &cbs, &t->srv, 0);
  sfu_dtls_set_remote_fingerprint(t->srv.d, "sha-256", sfu_dtls_cert_fingerprint(cli_cert));
  (void)cli_profiles;
  (void)cli_mtu;
}

/* The client sends its hello at creation, so the link must exist first. */
static void pair_start_client(pair_t *t, const char *cli_profiles, unsigned cli_mtu) {
  sfu_dtls_opts_t co = {.srtp_profiles = cli_profiles, .mtu = cli_mtu};
  t->cli.d =
      sfu_dtls_new_ex(cli_cert, SFU_DTLS_ROLE_CLIENT, &co, &cbs, &t->cli, sim_link_now(t->link));
  sfu_dtls_set_remote_fingerprint(t->cli.d, "sha-256", sfu_dtls_cert_fingerprint(srv_cert));
}

static void pair_setup(pair_t *t, uint64_t seed) {
  pair_init(t, seed, NULL, NULL, 0);
  pair_start_client(t, NULL, 0);
}

static void pair_free(pair_t *t) {
  sfu_dtls_free(t->srv.d);
  sfu_dtls_free(t->cli.d);
  sim_link_free(t->link);
}

static int run(pair_t *t, uint64_t until, int (*cond)(void *)) {
  return sim_run(t->link, &t->sa, &t->sb, until, cond, t);
}

static void check_same_keys(pair_t *t) {
  sfu_srtp_keys_t *a = &t->cli.keys, *b = &t->srv.keys;
  CHECK_EQ_INT(a->profile, b->profile);
  CHECK_EQ_INT(a->key_len, b->key_len);
  CHECK_EQ_INT(a->salt_len, b->salt_len);
  CHECK(memcmp(a->client_key, b->client_key, a->key_len) == 0);
  CHECK(memcmp(a->server_key, b->server_key, a->key_len) == 0);
  CHECK(memcmp(a->client_salt, b->client_salt, a->salt_len) == 0);
  CHECK(memcmp(a->server_salt, b->server_salt, a->salt_len) == 0);
  CHECK(memcmp(a->client_key, a->server_key, a->key_len) != 0);
  static const uint8_t zero[16];
  CHECK(memcmp(a->client_key, zero, 16) != 0);
}

static uint64_t real_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* ---- tests ---- */

TEST(cert_fingerprint_format) {
  const char *fp = sfu_dtls_cert_fingerprint(srv_cert);
  CHECK_EQ_INT(strlen(fp), 95);
  for (int i = 0; i < 95; i++) {
    if (i % 3 == 2)
      CHECK(fp[i] == ':');
    else
      CHECK((fp[i] >= '0' && fp[i] <= '9') || (fp[i] >= 'A' && fp[i] <= 'F'));
  }
  CHECK(strcmp(fp, sfu_dtls_cert_fingerprint(cli_cert)) != 0);
}

TEST(cert_valid_a_year_from_yesterday) {
  /* A worker runs longer than 30 days: notAfter must be ~365 days ahead, notBefore one
   * day back (skewed peer clocks). Day granularity: no timing in this assertion. */
  const X509 *x = srv_cert->x509;
  int days = 0, secs = 0;
  REQUIRE(ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x)));
  CHECK(days >= SFU_DTLS_CERT_DAYS - 1 && days <= SFU_DTLS_CERT_DAYS);
  CHECK(days >= 364);
  REQUIRE(ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notBefore(x)));
  CHECK(days == -1 || (days == 0 && secs < 0));
  CHECK(X509_cmp_current_time(X509_get0_notBefore(x)) < 0);
  CHECK(X509_cmp_current_time(X509_get0_notAfter(x)) > 0);
}

static size_t max_datagram;
static int track_size(void *u, int dir, uint64_t now, const uint8_t *b, size_t l) {
  (void)u, (void)dir, (void)now, (void)b;
  if (l > max_datagram) max_datagram = l;
  return 0;
}

TEST(clean_link) {
  pair_t t;
  pair_init(&t, 1, NULL, NULL, 0);
  max_datagram = 0;
  sim_link_set_filter(t.link, track_size, NULL);
  pair_start_client(&t, NULL, 0);
  CHECK_EQ_STR(sfu_dtls_state_name(t.srv.d), "new");
  CHECK_EQ_STR(sfu_dtls_state_name(t.cli.d), "connecting");
  REQUIRE(run(&t, 10 * SEC, both_connected) == 1);
  CHECK_EQ_STR(sfu_dtls_state_name(t.srv.d), "connected");
  CHECK_EQ_STR(sfu_dtls_state_name(t.cli.d), "connected");
  CHECK_EQ_INT(t.cli.connected, 1);
  CHECK_EQ_INT(t.srv.connected, 1);
  CHECK_EQ_INT(t.cli.keys.profile, SFU_SRTP_AEAD_AES_128_GCM); /* GCM preferred */
  CHECK_EQ_INT(t.cli.keys.salt_len, 12);
  CHECK_EQ_INT(sfu_dtls_srtp_profile(t.srv.d), SFU_SRTP_AEAD_AES_128_GCM);
  check_same_keys(&t);
  CHECK_EQ_INT(sfu_dtls_stats(t.cli.d)->retransmits, 0);
  CHECK_EQ_INT(sfu_dtls_stats(t.srv.d)->retransmits, 0);
  CHECK(sim_link_now(t.link) < 1 * SEC); /* 2 round trips of 40 ms, no timer involved */
  CHECK(sfu_dtls_stats(t.srv.d)->records_in >= 5);
  CHECK(sfu_dtls_stats(t.srv.d)->records_out > sfu_dtls_stats(t.srv.d)->datagrams_out);
  CHECK(max_datagram <= 1200 && max_datagram > 500); /* flights packed up to the MTU */
  /* no retransmission timer once connected, and nothing else happens on a quiet link */
  CHECK(sfu_dtls_next_deadline(t.srv.d) == UINT64_MAX);
  CHECK(sfu_dtls_next_deadline(t.cli.d) == UINT64_MAX);
  uint64_t out = sfu_dtls_stats(t.srv.d)->datagrams_out;
  run(&t, 300 * SEC, NULL);
  CHECK_EQ_INT(sfu_dtls_stats(t.srv.d)->datagrams_out, out);
  CHECK_EQ_STR(sfu_dtls_state_name(t.srv.d), "connected");
  pair_free(&t);
}

/* Drops every packet of one direction sent before a virtual time. */
typedef struct {
  int dir;
  uint64_t until;
} drop_before_t;
static int drop_before(void *u, int dir, uint64_t now, const uint8_t *b, size_t l) {
  drop_before_t *f = u;
  (void)b, (void)l;
  return dir == f->dir && now < f->until;
}

TEST(client_flights_lost_retransmits_on_virtual_time) {
  pair_t t;
  pair_init(&t, 2, NULL, NULL, 0);
  /* ClientHello at 0 s, resent at 1 s and 3 s: all lost; the one at 7 s gets through. */
  drop_before_t f = {SIM_AB, 6500000};
  sim_link_set_filter(t.link, drop_before, &f);
  pair_start_client(&t, NULL, 0);
  CHECK_EQ_INT(sfu_dtls_next_deadline(t.cli.d), 1 * SEC);
  uint64_t r0 = real_us();
  REQUIRE(run(&t, 200 * SEC, both_connected) == 1);
  uint64_t real = real_us() - r0, virt = sim_link_now(t.link);
  printf("  lost 3 client flights: virtual %.3f s, real %.3f s\n", virt / 1e6, real / 1e6);
  CHECK_EQ_INT(sfu_dtls_stats(t.cli.d)->retransmits, 3);
  CHECK(virt >= 7 * SEC && virt < 8 * SEC);
  /* OpenSSL's own clock would need 7 real seconds for this; ours needs none. */
  CHECK(real < virt);
  CHECK_EQ_INT(sim_link_stats(t.link, SIM_AB)->filtered, 3);
  check_same_keys(&t);
  pair_free(&t);
}

TEST(server_flights_lost_retransmits) {
  pair_t t;
  pair_init(&t, 3, NULL, NULL, 0);
  drop_before_t f = {SIM_BA, 3500000}; /* server flight at ~0.02 s, 1.02 s, 3.02 s lost */
  sim_link_set_filter(t.link, drop_before, &f);
  pair_start_client(&t, NULL, 0);
  REQUIRE(run(&t, 200 * SEC, both_connected) == 1);
  CHECK(sfu_dtls_stats(t.srv.d)->retransmits >= 2);
  CHECK(sim_link_now(t.link) > 3500000);
  check_same_keys(&t);
  pair_free(&t);
}

/* Last client flight (Certificate..Finished) lost twice: the client resends it. Then the
 * server's final flight lost: the client resends again and OpenSSL's server answers the
 * repeated Finished by resending its last flight (RFC 6347 §4.2.4). */
typedef struct {
  int n_ab, n_ba;
} drop_count_t;
static int drop_late_flights(void *u, int dir, uint64_t now, const uint8_t *b, size_t l) {
  drop_count_t *f = u;
  (void)now, (void)l;
  /* Handshake records of epoch 1 are the Finished messages: bytes 3..4 = epoch. */
  int has_epoch1 = 0;
  for (size_t off = 0; off + 13 <= l; off += 13 + (size_t)(b[off + 11] << 8 | b[off + 12]))
    if (b[off + 3] == 0 && b[off + 4] == 1) has_epoch1 = 1;
  if (!has_epoch1) return 0;
  if (dir == SIM_AB && f->n_ab < 2) return ++f->n_ab, 1;
  if (dir == SIM_BA && f->n_ba < 1) return ++f->n_ba, 1;
  return 0;
}

TEST(final_flights_lost) {
  pair_t t;
  pair_init(&t, 4, NULL, NULL, 0);
  drop_count_t f = {0, 0};
  sim_link_set_filter(t.link, drop_late_flights, &f);
  pair_start_client(&t, NULL, 0);
  REQUIRE(run(&t, 200 * SEC, both_connected) == 1);
  CHECK_EQ_INT(f.n_ab, 2);
  CHECK_EQ_INT(f.n_ba, 1);
  CHECK(sfu_dtls_stats(t.cli.d)->retransmits >= 3);
  check_same_keys(&t);
  pair_free(&t);
}

TEST(random_loss_reorder_duplicates) {
  int done = 0;
  for (uint64_t seed = 100; seed < 120; seed++) {
    pair_t t;
    pair_init(&t, seed, NULL, NULL, 0);
    sim_dir_cfg_t c = {
        .delay_us = 30000, .jitter_us = 20000, .loss = 0.2, .reorder = 0.2, .duplicate = 0.1};
    sim_link_config(t.link, SIM_AB, &c);
    sim_link_config(t.link, SIM_BA, &c);
    pair_start_client(&t, NULL, 0);
    if (run(&t, 300 * SEC, both_connected) == 1) {
      done++;
      check_same_keys(&t);
    } else {
      printf("  seed %llu: srv %s cli %s\n", (unsigned long long)seed, sfu_dtls_state_name(t.srv.d),
             sfu_dtls_state_name(t.cli.d));
    }
    pair_free(&t);
  }
  CHECK_EQ_INT(done, 20);
}

/* Chromium's ClientHello arrives as two records in two datagrams (RFC 6347 §4.2.3
 * fragments). The test captures our client's ClientHello, splits it the same way and
 * feeds the fragments to the server out of order. The client's own hello (seq 0) and its
 * first resend (seq 1) are dropped, so the fragments can reuse record sequence 0 and 1. */
typedef struct {
  int drop;
  uint8_t hello[2048];
  size_t hello_len;
} hello_cap_t;
static int grab_hello(void *u, int dir, uint64_t now, const uint8_t *b, size_t l) {
  hello_cap_t *h = u;
  (void)now;
  if (dir != SIM_AB || !h->drop) return 0;
  if (!h->hello_len && l <= sizeof h->hello) memcpy(h->hello, b, h->hello_len = l);
  return 1;
}

/* One record holding bytes [off, off+n) of the handshake message in `rec`. */
static size_t make_fragment(const uint8_t *rec, uint8_t seq, size_t off, size_t n, uint8_t *out) {
  memcpy(out, rec, 13 + 12);
  out[10] = seq; /* record sequence number, low byte */
  out[11] = (uint8_t)((12 + n) >> 8), out[12] = (uint8_t)(12 + n);
  out[13 + 6] = (uint8_t)(off >> 16), out[13 + 7] = (uint8_t)(off >> 8), out[13 + 8] = (uint8_t)off;
  out[13 + 9] = (uint8_t)(n >> 16), out[13 + 10] = (uint8_t)(n >> 8), out[13 + 11] = (uint8_t)n;
  memcpy(out + 25, rec + 25 + off, n);
  return 25 + n;
}

TEST(fragmented_client_hello) {
  pair_t t;
  pair_init(&t, 10, NULL, NULL, 0);
  static hello_cap_t h;
  memset(&h, 0, sizeof h);
  h.drop = 1;
  sim_link_set_filter(t.link, grab_hello, &h);
  pair_start_client(&t, NULL, 0);
  run(&t, 1500000, NULL); /* hello at 0 and its resend at 1 s: both dropped */
  REQUIRE(h.hello_len > 25 && h.hello[0] == 22 && h.hello[13] == 1); /* ClientHello */
  size_t body = h.hello_len - 25, cut = body / 2;
  REQUIRE((size_t)(h.hello[14] << 16 | h.hello[15] << 8 | h.hello[16]) == body);
  uint8_t f1[2048], f2[2048];
  size_t l1 = make_fragment(h.hello, 0, 0, cut, f1);
  size_t l2 = make_fragment(h.hello, 1, cut, body - cut, f2);
  h.drop = 0;
  uint64_t now = sim_link_now(t.link);
  CHECK_EQ_INT(sfu_dtls_handle_input(t.srv.d, now, f2, l2), 0); /* second half first */
  CHECK_EQ_INT(sfu_dtls_stats(t.srv.d)->datagrams_out, 0);      /* waits for the rest */
  CHECK_EQ_INT(sfu_dtls_handle_input(t.srv.d, now, f1, l1), 0);
  CHECK(sfu_dtls_stats(t.srv.d)->datagrams_out > 0); /* ServerHello flight */
  REQUIRE(run(&t, 60 * SEC, both_connected) == 1);
  check_same_keys(&t);
  pair_free(&t);
}

TEST(profiles_forced) {
  struct {
    const char *cli, *srv;
    sfu_srtp_profile_t want;
    size_t salt;
  } cases[] = {
      {"SRTP_AES128_CM_SHA1_80", NULL, SFU_SRTP_AES128_CM_SHA1_80, 14},
      {NULL, "SRTP_AES128_CM_SHA1_80", SFU_SRTP_AES128_CM_SHA1_80, 14},
      {"SRTP_AEAD_AES_128_GCM", NULL, SFU_SRTP_AEAD_AES_128_GCM, 12},
      {"SRTP_AES128_CM_SHA1_80:SRTP_AEAD_AES_128_GCM", NULL, SFU_SRTP_AEAD_AES_128_GCM, 12},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    pair_t t;
    pair_init(&t, 20 + i, NULL, cases[i].srv, 0);
    pair_start_client(&t, cases[i].cli, 0);
    REQUIRE(run(&t, 10 * SEC, both_connected) == 1);
    CHECK_EQ_INT(t.cli.keys.profile, cases[i].want);
    CHECK_EQ_INT(t.cli.keys.key_len, 16);
    CHECK_EQ_INT(t.cli.keys.salt_len, cases[i].salt);
    check_same_keys(&t);
    pair_free(&t);
  }
}

TEST(no_common_profile_fails) {
  pair_t t;
  pair_init(&t, 30, NULL, "SRTP_AEAD_AES_128_GCM", 0);
  pair_start_client(&t, "SRTP_AES128_CM_SHA1_80", 0);
  run(&t, 200 * SEC, any_closed);
  CHECK(!t.srv.connected && !t.cli.connected);
  CHECK(t.srv.closed || t.cli.closed);
  pair_free(&t);
}

TEST(fingerprint_mismatch_client_side) {
  pair_t t;
  pair_init(&t, 40, NULL, NULL, 0);
  pair_start_client(&t, NULL, 0);
  /* The client expects some other certificate (its own). */
  CHECK_EQ_INT(
      sfu_dtls_set_remote_fingerprint(t.cli.d, "sha-256", sfu_dtls_cert_fingerprint(cli_cert)), 0);
  run(&t, 200 * SEC, NULL);
  CHECK_EQ_INT(t.cli.connected, 0);
  CHECK_EQ_INT(t.cli.closed, 1);
  CHECK_EQ_INT(t.cli.close_reason, SFU_EAUTH);
  CHECK_EQ_STR(sfu_dtls_state_name(t.cli.d), "failed");
  CHECK_EQ_INT(sfu_dtls_stats(t.cli.d)->fail_reason, SFU_EAUTH);
  /* The server got the bad_certificate alert before its Finished: never connected. */
  CHECK_EQ_INT(t.srv.connected, 0);
  CHECK_EQ_INT(t.srv.closed, 1);
  CHECK_EQ_INT(t.srv.close_reason, SFU_EAUTH);
  CHECK(sfu_dtls_srtp_profile(t.srv.d) == 0);
  pair_free(&t);
}

TEST(fingerprint_mismatch_server_side) {
  pair_t t;
  pair_init(&t, 41, NULL, NULL, 0);
  CHECK_EQ_INT(
      sfu_dtls_set_remote_fingerprint(t.srv.d, "sha-256", sfu_dtls_cert_fingerprint(srv_cert)), 0);
  pair_start_client(&t, NULL, 0);
  run(&t, 200 * SEC, NULL);
  CHECK_EQ_INT(t.srv.connected, 0);
  CHECK_EQ_INT(t.srv.close_reason, SFU_EAUTH);
  CHECK_EQ_INT(t.cli.connected, 0);
  CHECK_EQ_INT(t.cli.closed, 1);
  pair_free(&t);
}

TEST(fingerprint_set_after_handshake) {
  for (int good = 0; good < 2; good++) {
    pair_t t;
    memset(&t, 0, sizeof t);
    t.link = sim_link_new(42);
    sim_dir_cfg_t c = {.delay_us = 20000};
    sim_link_config(t.link, SIM_AB, &c);
    sim_link_config(t.link, SIM_BA, &c);
    t.cli.link = t.srv.link = t.link;
    t.cli.dir = SIM_AB;
    t.srv.dir = SIM_BA;
    t.sa = (sim_peer_t){&t.cli, a_deadline, a_timeout, a_input};
    t.sb = (sim_peer_t){&t.srv, a_deadline, a_timeout, a_input};
    t.srv.d = sfu_dtls_new(srv_cert, SFU_DTLS_ROLE_SERVER, &cbs, &t.srv, 0);
    pair_start_client(&t, NULL, 0);
    REQUIRE(run(&t, 10 * SEC, NULL) == 0);
    CHECK_EQ_INT(t.cli.connected, 1);
    CHECK_EQ_INT(t.srv.connected, 0); /* handshake done but not authenticated */
    CHECK_EQ_STR(sfu_dtls_state_name(t.srv.d), "connecting");
    CHECK_EQ_INT(sfu_dtls_send(t.srv.d, (const uint8_t *)"x", 1), SFU_ESTATE);
    const char *fp = sfu_dtls_cert_fingerprint(good ? cli_cert : srv_cert);
    CHECK_EQ_INT(sfu_dtls_set_remote_fingerprint(t.srv.d, "SHA-256", fp), 0);
    if (good) {
      CHECK_EQ_INT(t.srv.connected, 1);
      check_same_keys(&t);
    } else {
      CHECK_EQ_INT(t.srv.connected, 0);
      CHECK_EQ_INT(t.srv.close_reason, SFU_EAUTH);
      CHECK_EQ_STR(sfu_dtls_state_name(t.srv.d), "failed");
    }
    pair_free(&t);
  }
}

TEST(fingerprint_parse) {
  pair_t t;
  pair_setup(&t, 43);
  sfu_dtls_t *d = t.srv.d;
  CHECK_EQ_INT(sfu_dtls_set_remote_fingerprint(d, "md5", "AB"), SFU_EUNSUPP);
  CHECK_EQ_INT(sfu_dtls_set_remote_fingerprint(d, "sha-256", "AB:CD"), SFU_EINVAL);
  CHECK_EQ_INT(sfu_dtls_set_remote_fingerprint(d, "sha-256", ""), SFU_EINVAL);
  char fp[100];
  strcpy(fp, sfu_dtls_cert_fingerprint(cli_cert));
  fp[10] = 'G';
  CHECK_EQ_INT(sfu_dtls_set_remote_fingerprint(d, "sha-256", fp), SFU_EINVAL);
  strcpy(fp, sfu_dtls_cert_fingerprint(cli_cert));
  strcat(fp, ":");
  CHECK_EQ_INT(sfu_dtls_set_remote_fingerprint(d, "sha-256", fp), SFU_EINVAL);
  strcpy(fp, sfu_dtls_cert_fingerprint(cli_cert));
  for (char *p = fp; *p; p++) *p = (char)(*p >= 'A' && *p <= 'F' ? *p + 32 : *p);
  CHECK_EQ_INT(sfu_dtls_set_remote_fingerprint(d, "sha-256", fp), 0); /* lower case ok */
  CHECK_EQ_INT(sfu_dtls_set_remote_fingerprint(d, "sha-1",
                                               "00:11:22:33:44:55:66:77:88:99:"
                                               "AA:BB:CC:DD:EE:FF:00:11:22:33"),
               0);
  /* the last valid call wins: now a sha-1 that does not match -> EAUTH */
  run(&t, 20 * SEC, NULL);
  CHECK_EQ_INT(t.srv.close_reason, SFU_EAUTH);
  pair_free(&t);
}

/* RFC 8122 §5 names sha-1, sha-224, sha-256, sha-384 and sha-512 (and md5/md2, which it
 * forbids): each verifies the peer's certificate, sha-512 with its 191 characters. */
TEST(fingerprint_every_sha_hash_verifies) {
  static const struct {
    const char *alg, *ossl;
  } hashes[] = {{"sha-1", "sha1"},     {"sha-224", "sha224"}, {"sha-256", "sha256"},
                {"sha-384", "sha384"}, {"sha-512", "sha512"}, {"SHA-512", "sha512"}};
  for (size_t i = 0; i < sizeof hashes / sizeof hashes[0]; i++) {
    char fp[200];
    test_cert_fp(cli_cert, hashes[i].ossl, fp, sizeof fp);
    pair_t t;
    pair_init(&t, 60 + i, NULL, NULL, 0);
    CHECK_EQ_INT(sfu_dtls_set_remote_fingerprint(t.srv.d, hashes[i].alg, fp), 0);
    pair_start_client(&t, NULL, 0);
    int ok = run(&t, 10 * SEC, both_connected) == 1;
    if (!ok) fprintf(stderr, "%s: not connected\n", hashes[i].alg);
    CHECK(ok);
    pair_free(&t);
  }
  /* RFC 8122 §5: MD2 and MD5 are never used to verify. */
  pair_t t;
  pair_setup(&t, 70);
  char fp[200];
  CHECK_EQ_INT(sfu_dtls_set_remote_fingerprint(t.srv.d, "md5", test_cert_fp(cli_cert, "md5", fp, sizeof fp)),
               SFU_EUNSUPP);
  pair_free(&t);
}

/* A set of fingerprints of hash `ossl` ("sha256"), the certificate's own when good, else
 * one byte flipped. */
static sfu_fingerprint_t cert_fp(const sfu_dtls_cert_t *c, const char *alg, const char *ossl,
                                 int good) {
  char text[200];
  test_cert_fp(c, ossl, text, sizeof text);
  if (!good) text[0] = text[0] == '0' ? '1' : '0';
  sfu_fingerprint_t f;
  sfu_fp_hash_t h = sfu_fp_hash_from_name(alg, strlen(alg));
  memset(&f, 0, sizeof f);
  sfu_fingerprint_parse(&f, h, text, strlen(text));
  return f;
}

/* RFC 8122 §5: the certificate is checked with the strongest hash of the offered set and
 * must match one fingerprint of that hash - wherever it stands in the set. */
TEST(fingerprint_set_rule) {
  static const struct {
    const char *what;
    struct {
      const char *alg, *ossl;
      int good;
    } fps[3];
    int connects;
  } cases[] = {
      {"bogus sha-256 before the real one", {{"sha-256", "sha256", 0}, {"sha-256", "sha256", 1}}, 1},
      {"real sha-256 before a bogus one", {{"sha-256", "sha256", 1}, {"sha-256", "sha256", 0}}, 1},
      {"bogus sha-1, real sha-256", {{"sha-1", "sha1", 0}, {"sha-256", "sha256", 1}}, 1},
      {"real sha-256, sha-384 and sha-512",
       {{"sha-256", "sha256", 1}, {"sha-384", "sha384", 1}, {"sha-512", "sha512", 1}}, 1},
      /* a weaker hash never stands in for the stronger one offered */
      {"real sha-256, bogus sha-512", {{"sha-256", "sha256", 1}, {"sha-512", "sha512", 0}}, 0},
      {"real sha-1, bogus sha-224", {{"sha-1", "sha1", 1}, {"sha-224", "sha224", 0}}, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    sfu_fingerprint_set_t set = {0};
    for (size_t k = 0; k < 3 && cases[i].fps[k].alg; k++) {
      sfu_fingerprint_t f = cert_fp(cli_cert, cases[i].fps[k].alg, cases[i].fps[k].ossl,
                                    cases[i].fps[k].good);
      CHECK_EQ_INT(sfu_fingerprint_set_add(&set, &f), 0);
    }
    pair_t t;
    pair_init(&t, 80 + i, NULL, NULL, 0);
    CHECK_EQ_INT(sfu_dtls_set_remote_fingerprints(t.srv.d, &set), 0);
    pair_start_client(&t, NULL, 0);
    run(&t, 20 * SEC, both_connected);
    if (t.srv.connected != cases[i].connects) {
      fprintf(stderr, "%s: connected %d\n", cases[i].what, t.srv.connected);
      CHECK(!"RFC 8122 set rule");
    }
    if (!cases[i].connects) CHECK_EQ_INT(t.srv.close_reason, SFU_EAUTH);
    pair_free(&t);
  }
}

TEST(fingerprint_set_arguments_and_peer_matches) {
  pair_t t;
  pair_setup(&t, 90);
  sfu_fingerprint_set_t empty = {0}, md5 = {.n = 1};
  CHECK_EQ_INT(sfu_dtls_set_remote_fingerprints(t.srv.d, NULL), SFU_EINVAL);
  CHECK_EQ_INT(sfu_dtls_set_remote_fingerprints(t.srv.d, &empty), SFU_EINVAL);
  char text[200];
  test_cert_fp(cli_cert, "md5", text, sizeof text);
  REQUIRE(sfu_fingerprint_parse(&md5.fp[0], SFU_FP_MD5, text, strlen(text)) == 0);
  CHECK_EQ_INT(sfu_dtls_set_remote_fingerprints(t.srv.d, &md5), SFU_EUNSUPP);
  sfu_fingerprint_set_t real512 = {0}, bogus = {0};
  sfu_fingerprint_t f = cert_fp(cli_cert, "sha-512", "sha512", 1);
  sfu_fingerprint_set_add(&real512, &f);
  f = cert_fp(cli_cert, "sha-256", "sha256", 0);
  sfu_fingerprint_set_add(&bogus, &f);
  CHECK_EQ_INT(sfu_dtls_peer_matches(t.srv.d, &real512), SFU_ESTATE); /* not yet */
  REQUIRE(run(&t, 10 * SEC, both_connected) == 1); /* the refused calls kept the sha-256 */
  /* Connected: the authenticated certificate against another set (a re-offer). */
  CHECK_EQ_INT(sfu_dtls_peer_matches(t.srv.d, &real512), 1);
  CHECK_EQ_INT(sfu_dtls_peer_matches(t.srv.d, &bogus), 0);
  CHECK_EQ_INT(sfu_dtls_peer_matches(t.srv.d, &empty), 0);
  /* A new set once connected is only stored: no callback, still connected. */
  CHECK_EQ_INT(sfu_dtls_set_remote_fingerprints(t.srv.d, &real512), 0);
  CHECK_EQ_STR(sfu_dtls_state_name(t.srv.d), "connected");
  CHECK_EQ_INT(t.srv.closed, 0);
  pair_free(&t);
}

TEST(app_data_round_trip) {
  pair_t t;
  pair_setup(&t, 50);
  CHECK_EQ_INT(sfu_dtls_send(t.cli.d, (const uint8_t *)"early", 5), SFU_ESTATE);
  REQUIRE(run(&t, 10 * SEC, both_connected) == 1);
  static uint8_t big[16384];
  for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 7);
  size_t sizes[] = {1, 100, 1100, 1200, 5000, 16384};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    int before = t.srv.app_count;
    CHECK_EQ_INT(sfu_dtls_send(t.cli.d, big, sizes[i]), 0);
    run(&t, sim_link_now(t.link) + SEC, NULL);
    CHECK_EQ_INT(t.srv.app_count, before + 1);
    CHECK_EQ_INT(t.srv.app_len, sizes[i]);
    CHECK(memcmp(t.srv.app, big, sizes[i]) == 0);
    before = t.cli.app_count;
    CHECK_EQ_INT(sfu_dtls_send(t.srv.d, big + 1, sizes[i] - 1 ? sizes[i] - 1 : 1), 0);
    run(&t, sim_link_now(t.link) + SEC, NULL);
    CHECK_EQ_INT(t.cli.app_count, before + 1);
  }
  CHECK_EQ_INT(sfu_dtls_send(t.cli.d, big, 0), SFU_EINVAL);
  CHECK_EQ_INT(sfu_dtls_send(t.cli.d, big, 16385), SFU_ETOOBIG);
  CHECK_EQ_INT(sfu_dtls_stats(t.srv.d)->app_in, 6);
  CHECK_EQ_INT(sfu_dtls_stats(t.cli.d)->app_out, 6);
  pair_free(&t);
}

TEST(close_notify_both_ways) {
  for (int who = 0; who < 2; who++) {
    pair_t t;
    pair_setup(&t, 60 + who);
    REQUIRE(run(&t, 10 * SEC, both_connected) == 1);
    peer_t *closer = who ? &t.srv : &t.cli, *other = who ? &t.cli : &t.srv;
    sfu_dtls_close(closer->d);
    CHECK_EQ_STR(sfu_dtls_state_name(closer->d), "closed");
    CHECK_EQ_INT(closer->closed, 0); /* local close: no callback */
    run(&t, sim_link_now(t.link) + SEC, NULL);
    CHECK_EQ_INT(other->closed, 1);
    CHECK_EQ_INT(other->close_reason, 0);
    CHECK_EQ_STR(sfu_dtls_state_name(other->d), "closed");
    CHECK_EQ_INT(closer->closed, 0); /* the reply close_notify is not reported */
    CHECK_EQ_INT(sfu_dtls_send(other->d, (const uint8_t *)"x", 1), SFU_ESTATE);
    CHECK_EQ_INT(sfu_dtls_handle_input(other->d, 0, (const uint8_t *)"x", 1), SFU_ESTATE);
    sfu_dtls_close(closer->d); /* idempotent */
    pair_free(&t);
  }
}

TEST(close_before_connected) {
  pair_t t;
  pair_setup(&t, 62);
  sfu_dtls_close(t.cli.d);
  CHECK_EQ_STR(sfu_dtls_state_name(t.cli.d), "closed");
  CHECK(sfu_dtls_next_deadline(t.cli.d) == UINT64_MAX);
  run(&t, 5 * SEC, NULL);
  CHECK_EQ_INT(t.cli.connected, 0);
  pair_free(&t);
}

TEST(handshake_timeout) {
  pair_t t;
  pair_init(&t, 70, NULL, NULL, 0);
  drop_before_t f = {SIM_AB, UINT64_MAX};
  sim_link_set_filter(t.link, drop_before, &f);
  pair_start_client(&t, NULL, 0);
  run(&t, 1000 * SEC, NULL);
  CHECK_EQ_INT(t.cli.closed, 1);
  CHECK_EQ_INT(t.cli.close_reason, SFU_ETIMEDOUT);
  CHECK_EQ_INT(sfu_dtls_stats(t.cli.d)->retransmits, 6);
  /* 1+2+4+8+16+32 s of resends, then 60 s more without an answer. */
  CHECK_EQ_INT(sim_link_now(t.link), 1000 * SEC);
  CHECK_EQ_STR(sfu_dtls_state_name(t.srv.d), "new");
  pair_free(&t);
}

TEST(free_from_callbacks) {
  pair_t t;
  pair_setup(&t, 80);
  REQUIRE(run(&t, 10 * SEC, both_connected) == 1);
  t.srv.free_on_app = 1;
  CHECK_EQ_INT(sfu_dtls_send(t.cli.d, (const uint8_t *)"a", 1), 0);
  CHECK_EQ_INT(sfu_dtls_send(t.cli.d, (const uint8_t *)"b", 1), 0);
  run(&t, sim_link_now(t.link) + SEC, NULL);
  CHECK(t.srv.d == NULL);
  CHECK_EQ_INT(t.srv.app_count, 1);
  t.cli.free_on_closed = 1;
  pair_free(&t);

  pair_setup(&t, 81);
  REQUIRE(run(&t, 10 * SEC, both_connected) == 1);
  t.cli.free_on_closed = 1;
  sfu_dtls_close(t.srv.d);
  run(&t, sim_link_now(t.link) + SEC, NULL);
  CHECK(t.cli.d == NULL);
  pair_free(&t);
}

/* Garbage: random bytes, DTLS-shaped random records, every truncation of every real
 * handshake datagram; nothing may crash (ASan build) and a live association survives. */
typedef struct {
  uint8_t pkts[64][2048];
  size_t lens[64];
  int n;
} capture_t;
static int capture(void *u, int dir, uint64_t now, const uint8_t *b, size_t l) {
  capture_t *c = u;
  (void)dir, (void)now;
  if (c->n < 64 && l <= 2048) {
    memcpy(c->pkts[c->n], b, l);
    c->lens[c->n++] = l;
  }
  return 0;
}

TEST(garbage_and_truncations) {
  static capture_t cap;
  memset(&cap, 0, sizeof cap);
  pair_t t;
  pair_init(&t, 90, NULL, NULL, 0);
  sim_link_set_filter(t.link, capture, &cap);
  pair_start_client(&t, NULL, 0);
  /* garbage into both sides mid-handshake */
  uint8_t g[1500];
  for (int i = 0; i < 200; i++) {
    size_t len = (size_t)(sim_link_rand(t.link) * sizeof g);
    for (size_t j = 0; j < len; j++) g[j] = (uint8_t)(sim_link_rand(t.link) * 256);
    if (i % 2) {
      g[0] = 20 + (uint8_t)(i % 6); /* DTLS-shaped header */
      if (len > 2) g[1] = 0xFE, g[2] = 0xFD;
    }
    sfu_dtls_handle_input(t.srv.d, 0, g, len);
  }
  REQUIRE(run(&t, 30 * SEC, both_connected) == 1);
  check_same_keys(&t);
  REQUIRE(cap.n >= 4);

  /* Every truncation of every captured datagram into fresh servers and into a live one. */
  for (int i = 0; i < cap.n; i++) {
    for (size_t l = 0; l <= cap.lens[i]; l++) {
      peer_t fresh = {0};
      fresh.link = t.link;
      fresh.dir = SIM_BA;
      fresh.d = sfu_dtls_new(srv_cert, SFU_DTLS_ROLE_SERVER, &cbs, &fresh, 0);
      sfu_dtls_handle_input(fresh.d, 0, cap.pkts[i], l);
      sfu_dtls_free(fresh.d);
      sfu_dtls_handle_input(t.srv.d, sim_link_now(t.link), cap.pkts[i], l);
    }
  }
  /* Epoch-1 records with random bodies (bad MAC: dropped, RFC 6347 §4.1.2.7). */
  for (int i = 0; i < 200; i++) {
    size_t len = 13 + (size_t)(sim_link_rand(t.link) * 200);
    for (size_t j = 0; j < len; j++) g[j] = (uint8_t)(sim_link_rand(t.link) * 256);
    g[0] = 23, g[1] = 0xFE, g[2] = 0xFD, g[3] = 0, g[4] = 1;
    g[11] = (uint8_t)((len - 13) >> 8), g[12] = (uint8_t)(len - 13);
    sfu_dtls_handle_input(t.srv.d, sim_link_now(t.link), g, len);
  }
  /* Every too-short protected record (OpenSSL 3.0 would fail the association on these). */
  for (size_t body = 0; body < 40; body++) {
    memset(g, 0x5A, sizeof g);
    g[0] = 23, g[1] = 0xFE, g[2] = 0xFD, g[3] = 0, g[4] = 1;
    g[11] = 0, g[12] = (uint8_t)body;
    sfu_dtls_handle_input(t.srv.d, sim_link_now(t.link), g, 13 + body);
    sfu_dtls_handle_input(t.cli.d, sim_link_now(t.link), g, 13 + body);
  }
  CHECK_EQ_STR(sfu_dtls_state_name(t.cli.d), "connected");
  /* drain whatever the server answered (e.g. resent Finished) */
  run(&t, sim_link_now(t.link) + 5 * SEC, NULL);
  CHECK_EQ_STR(sfu_dtls_state_name(t.srv.d), "connected");
  CHECK(sfu_dtls_stats(t.srv.d)->bad_input > 0);
  int before = t.srv.app_count;
  CHECK_EQ_INT(sfu_dtls_send(t.cli.d, (const uint8_t *)"still alive", 11), 0);
  run(&t, sim_link_now(t.link) + SEC, NULL);
  CHECK_EQ_INT(t.srv.app_count, before + 1);
  pair_free(&t);
}

TEST(bad_arguments) {
  CHECK(sfu_dtls_new(NULL, SFU_DTLS_ROLE_SERVER, &cbs, NULL, 0) == NULL);
  CHECK(sfu_dtls_new(srv_cert, (sfu_dtls_role_t)5, &cbs, NULL, 0) == NULL);
  sfu_dtls_opts_t o = {.mtu = 100};
  CHECK(sfu_dtls_new_ex(srv_cert, SFU_DTLS_ROLE_SERVER, &o, &cbs, NULL, 0) == NULL);
  o = (sfu_dtls_opts_t){.srtp_profiles = "NOT_A_PROFILE"};
  CHECK(sfu_dtls_new_ex(srv_cert, SFU_DTLS_ROLE_SERVER, &o, &cbs, NULL, 0) == NULL);
  sfu_dtls_free(NULL);
}

int main(void) {
  sfu_openssl_init();
  if (sfu_dtls_cert_new(&srv_cert) != 0 || sfu_dtls_cert_new(&cli_cert) != 0) {
    fprintf(stderr, "certificate setup failed\n");
    return 1;
  }
  RUN(cert_fingerprint_format);
  RUN(cert_valid_a_year_from_yesterday);
  RUN(clean_link);
  RUN(client_flights_lost_retransmits_on_virtual_time);
  RUN(server_flights_lost_retransmits);
  RUN(final_flights_lost);
  RUN(random_loss_reorder_duplicates);
  RUN(fragmented_client_hello);
  RUN(profiles_forced);
  RUN(no_common_profile_fails);
  RUN(fingerprint_mismatch_client_side);
  RUN(fingerprint_mismatch_server_side);
  RUN(fingerprint_set_after_handshake);
  RUN(fingerprint_parse);
  RUN(fingerprint_every_sha_hash_verifies);
  RUN(fingerprint_set_rule);
  RUN(fingerprint_set_arguments_and_peer_matches);
  RUN(app_data_round_trip);
  RUN(close_notify_both_ways);
  RUN(close_before_connected);
  RUN(handshake_timeout);
  RUN(free_from_callbacks);
  RUN(garbage_and_truncations);
  RUN(bad_arguments);
  sfu_dtls_cert_free(srv_cert);
  sfu_dtls_cert_free(cli_cert);
  return test_summary();
}
