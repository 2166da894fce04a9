/* SRTP wrapper: libsrtp's known-answer vectors through our key layout, round trips with
 * keys exported by a real DTLS handshake (both profiles), tampering, replay, truncation. */
#include <stdlib.h>
#include <string.h>

#include "sfu/dtls.h"
#include "sfu/err.h"
#include "sfu/srtp.h"
#include "sim_link.h"
#include "test.h"

static sfu_srtp_keys_t fixed_keys(sfu_srtp_profile_t p) {
  sfu_srtp_keys_t k;
  memset(&k, 0, sizeof k);
  k.profile = p;
  k.key_len = 16;
  k.salt_len = p == SFU_SRTP_AEAD_AES_128_GCM ? 12 : 14;
  for (int i = 0; i < 16; i++) k.client_key[i] = (uint8_t)i, k.server_key[i] = (uint8_t)(0x40 + i);
  for (int i = 0; i < 14; i++)
    k.client_salt[i] = (uint8_t)(0x80 + i), k.server_salt[i] = (uint8_t)(0xC0 + i);
  return k;
}

static size_t make_rtp(uint8_t *b, uint16_t seq, uint32_t ssrc, size_t payload) {
  b[0] = 0x80, b[1] = 96;
  b[2] = (uint8_t)(seq >> 8), b[3] = (uint8_t)seq;
  memset(b + 4, 0x11, 4);
  b[8] = (uint8_t)(ssrc >> 24), b[9] = (uint8_t)(ssrc >> 16), b[10] = (uint8_t)(ssrc >> 8),
  b[11] = (uint8_t)ssrc;
  for (size_t i = 0; i < payload; i++) b[12 + i] = (uint8_t)(i * 3 + seq);
  return 12 + payload;
}

static size_t make_rtcp_rr(uint8_t *b, uint32_t ssrc) {
  static const uint8_t rr[] = {0x80, 201, 0x00, 0x01, 0, 0, 0, 0};
  memcpy(b, rr, sizeof rr);
  b[4] = (uint8_t)(ssrc >> 24), b[5] = (uint8_t)(ssrc >> 16), b[6] = (uint8_t)(ssrc >> 8),
  b[7] = (uint8_t)ssrc;
  return sizeof rr;
}

/* ---- known answers (libsrtp test/srtp_driver.c srtp_validate / srtp_validate_gcm) ---- */

static const uint8_t rtp_plain[28] = {0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe,
                                      0xba, 0xbe, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
                                      0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab};
static const uint8_t rtcp_plain[24] = {0x81, 0xc8, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe,
                                       0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
                                       0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab};

static void kat(sfu_srtp_keys_t *k, const uint8_t *srtp_ct, size_t srtp_len,
                const uint8_t *srtcp_ct, size_t srtcp_len) {
  sfu_srtp_t *tx = sfu_srtp_new(k, 0), *rx = sfu_srtp_new(k, 1);
  REQUIRE(tx && rx);
  uint8_t b[128];
  size_t len = sizeof rtp_plain;
  memcpy(b, rtp_plain, len);
  CHECK_EQ_INT(sfu_srtp_protect_rtp(tx, b, &len, sizeof b), 0);
  CHECK_EQ_INT(len, srtp_len);
  CHECK(memcmp(b, srtp_ct, srtp_len) == 0);
  CHECK_EQ_INT(sfu_srtp_unprotect_rtp(rx, b, &len), 0);
  CHECK_EQ_INT(len, sizeof rtp_plain);
  CHECK(memcmp(b, rtp_plain, len) == 0);

  len = sizeof rtcp_plain;
  memcpy(b, rtcp_plain, len);
  CHECK_EQ_INT(sfu_srtp_protect_rtcp(tx, b, &len, sizeof b), 0);
  CHECK_EQ_INT(len, srtcp_len);
  CHECK(memcmp(b, srtcp_ct, srtcp_len) == 0);
  CHECK_EQ_INT(sfu_srtp_unprotect_rtcp(rx, b, &len), 0);
  CHECK_EQ_INT(len, sizeof rtcp_plain);
  CHECK(memcmp(b, rtcp_plain, len) == 0);
  sfu_srtp_free(tx);
  sfu_srtp_free(rx);
}

TEST(known_answer_aes_cm_sha1_80) {
  static const uint8_t key[16] = {0xe1, 0xf9, 0x7a, 0x0d, 0x3e, 0x01, 0x8b, 0xe0,
                                  0xd6, 0x4f, 0xa3, 0x2c, 0x06, 0xde, 0x41, 0x39};
  static const uint8_t salt[14] = {0x0e, 0xc6, 0x75, 0xad, 0x49, 0x8a, 0xfe,
                                   0xeb, 0xb6, 0x96, 0x0b, 0x3a, 0xab, 0xe6};
  static const uint8_t srtp_ct[38] = {0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe,
                                      0xba, 0xbe, 0x4e, 0x55, 0xdc, 0x4c, 0xe7, 0x99, 0x78, 0xd8,
                                      0x8c, 0xa4, 0xd2, 0x15, 0x94, 0x9d, 0x24, 0x02, 0xb7, 0x8d,
                                      0x6a, 0xcc, 0x99, 0xea, 0x17, 0x9b, 0x8d, 0xbb};
  static const uint8_t srtcp_ct[38] = {0x81, 0xc8, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe, 0x71, 0x28,
                                       0x03, 0x5b, 0xe4, 0x87, 0xb9, 0xbd, 0xbe, 0xf8, 0x90, 0x41,
                                       0xf9, 0x77, 0xa5, 0xa8, 0x80, 0x00, 0x00, 0x01, 0x99, 0x3e,
                                       0x08, 0xcd, 0x54, 0xd6, 0xc1, 0x23, 0x07, 0x98};
  sfu_srtp_keys_t k = fixed_keys(SFU_SRTP_AES128_CM_SHA1_80);
  memcpy(k.client_key, key, 16);
  memcpy(k.client_salt, salt, 14);
  kat(&k, srtp_ct, sizeof srtp_ct, srtcp_ct, sizeof srtcp_ct);
}

TEST(known_answer_aead_aes_128_gcm) {
  static const uint8_t srtp_ct[44] = {
      0x80, 0x0f, 0x12, 0x34, 0xde, 0xca, 0xfb, 0xad, 0xca, 0xfe, 0xba, 0xbe, 0xc5, 0x00, 0x2e,
      0xde, 0x04, 0xcf, 0xdd, 0x2e, 0xb9, 0x11, 0x59, 0xe0, 0x88, 0x0a, 0xa0, 0x6e, 0xd2, 0x97,
      0x68, 0x26, 0xf7, 0x96, 0xb2, 0x01, 0xdf, 0x31, 0x31, 0xa1, 0x27, 0xe8, 0xa3, 0x92};
  static const uint8_t srtcp_ct[44] = {
      0x81, 0xc8, 0x00, 0x0b, 0xca, 0xfe, 0xba, 0xbe, 0xc9, 0x8b, 0x8b, 0x5d, 0xf0, 0x39, 0x2a,
      0x55, 0x85, 0x2b, 0x6c, 0x21, 0xac, 0x8e, 0x70, 0x25, 0xc5, 0x2c, 0x6f, 0xbe, 0xa2, 0xb3,
      0xb4, 0x46, 0xea, 0x31, 0x12, 0x3b, 0xa8, 0x8c, 0xe6, 0x1e, 0x80, 0x00, 0x00, 0x01};
  sfu_srtp_keys_t k = fixed_keys(SFU_SRTP_AEAD_AES_128_GCM);
  for (int i = 0; i < 16; i++) k.client_key[i] = (uint8_t)i;
  for (int i = 0; i < 12; i++) k.client_salt[i] = (uint8_t)(0xa0 + i);
  kat(&k, srtp_ct, sizeof srtp_ct, srtcp_ct, sizeof srtcp_ct);
}

/* ---- round trips ---- */

static void round_trip(const sfu_srtp_keys_t *k) {
  sfu_srtp_t *srv = sfu_srtp_new(k, 1), *cli = sfu_srtp_new(k, 0);
  REQUIRE(srv && cli);
  uint8_t b[1500], ref[1500];
  for (int dir = 0; dir < 2; dir++) {
    sfu_srtp_t *tx = dir ? srv : cli, *rx = dir ? cli : srv;
    for (uint16_t seq = 1000; seq < 1050; seq++) {
      size_t len = make_rtp(b, seq, 0x1234 + dir, 1000), plain = len;
      memcpy(ref, b, len);
      CHECK_EQ_INT(sfu_srtp_protect_rtp(tx, b, &len, sizeof b), 0);
      CHECK_EQ_INT(len, plain + sfu_srtp_trailer_len(tx, 0));
      CHECK(memcmp(b + 12, ref + 12, 16) != 0); /* payload encrypted */
      CHECK_EQ_INT(sfu_srtp_unprotect_rtp(rx, b, &len), 0);
      CHECK_EQ_INT(len, plain);
      CHECK(memcmp(b, ref, len) == 0);
    }
    for (int i = 0; i < 5; i++) {
      size_t len = make_rtcp_rr(b, 0x5678 + dir), plain = len;
      memcpy(ref, b, len);
      CHECK_EQ_INT(sfu_srtp_protect_rtcp(tx, b, &len, sizeof b), 0);
      CHECK_EQ_INT(len, plain + sfu_srtp_trailer_len(tx, 1));
      CHECK_EQ_INT(sfu_srtp_unprotect_rtcp(rx, b, &len), 0);
      CHECK_EQ_INT(len, plain);
      CHECK(memcmp(b, ref, len) == 0);
    }
  }
  /* A transport does not accept its own packets (different key per direction). */
  size_t len = make_rtp(b, 1, 0x9999, 100);
  CHECK_EQ_INT(sfu_srtp_protect_rtp(srv, b, &len, sizeof b), 0);
  CHECK_EQ_INT(sfu_srtp_unprotect_rtp(srv, b, &len), SFU_EAUTH);
  CHECK_EQ_INT(sfu_srtp_stats(srv)->rtp_in, 50);
  CHECK_EQ_INT(sfu_srtp_stats(srv)->rtp_out, 51);
  CHECK_EQ_INT(sfu_srtp_stats(srv)->auth_fail, 1);
  sfu_srtp_free(srv);
  sfu_srtp_free(cli);
}

TEST(round_trip_fixed_keys_both_profiles) {
  sfu_srtp_keys_t k = fixed_keys(SFU_SRTP_AES128_CM_SHA1_80);
  round_trip(&k);
  k = fixed_keys(SFU_SRTP_AEAD_AES_128_GCM);
  round_trip(&k);
}

/* Keys from a real DTLS handshake over the simulated link. */
typedef struct {
  sfu_dtls_t *d;
  sim_link_t *l;
  int dir, connected;
  sfu_srtp_keys_t keys;
} hs_peer_t;
static void hs_send(void *u, const uint8_t *b, size_t n) {
  hs_peer_t *p = u;
  sim_link_send(p->l, p->dir, sim_link_now(p->l), b, n);
}
static void hs_conn(void *u, const sfu_srtp_keys_t *k) {
  hs_peer_t *p = u;
  p->connected = 1;
  p->keys = *k;
}
static uint64_t hs_dl(void *c) { return sfu_dtls_next_deadline(((hs_peer_t *)c)->d); }
static void hs_to(void *c, uint64_t n) { sfu_dtls_handle_timeout(((hs_peer_t *)c)->d, n); }
static void hs_in(void *c, uint64_t n, const uint8_t *b, size_t l) {
  sfu_dtls_handle_input(((hs_peer_t *)c)->d, n, b, l);
}
static hs_peer_t hs_s, hs_c;
static int hs_done(void *u) {
  (void)u;
  return hs_s.connected && hs_c.connected;
}

static sfu_dtls_cert_t *sc, *cc;

static int handshake_keys(const char *profiles, sfu_srtp_keys_t *srv, sfu_srtp_keys_t *cli) {
  if (!sc && (sfu_dtls_cert_new(&sc) != 0 || sfu_dtls_cert_new(&cc) != 0)) return -1;
  sfu_dtls_cbs_t cbs = {hs_send, hs_conn, NULL, NULL};
  sim_link_t *l = sim_link_new(7);
  memset(&hs_s, 0, sizeof hs_s);
  memset(&hs_c, 0, sizeof hs_c);
  hs_s.l = hs_c.l = l;
  hs_s.dir = SIM_BA, hs_c.dir = SIM_AB;
  sfu_dtls_opts_t o = {.srtp_profiles = profiles};
  hs_s.d = sfu_dtls_new(sc, SFU_DTLS_ROLE_SERVER, &cbs, &hs_s, 0);
  sfu_dtls_set_remote_fingerprint(hs_s.d, "sha-256", sfu_dtls_cert_fingerprint(cc));
  hs_c.d = sfu_dtls_new_ex(cc, SFU_DTLS_ROLE_CLIENT, &o, &cbs, &hs_c, 0);
  sfu_dtls_set_remote_fingerprint(hs_c.d, "sha-256", sfu_dtls_cert_fingerprint(sc));
  sim_peer_t a = {&hs_c, hs_dl, hs_to, hs_in}, b = {&hs_s, hs_dl, hs_to, hs_in};
  int ok = sim_run(l, &a, &b, 10000000, hs_done, NULL) == 1;
  *srv = hs_s.keys;
  *cli = hs_c.keys;
  sfu_dtls_free(hs_s.d);
  sfu_dtls_free(hs_c.d);
  sim_link_free(l);
  return ok ? 0 : -1;
}

TEST(round_trip_dtls_keys_both_profiles) {
  const char *lists[] = {"SRTP_AES128_CM_SHA1_80", NULL};
  sfu_srtp_profile_t want[] = {SFU_SRTP_AES128_CM_SHA1_80, SFU_SRTP_AEAD_AES_128_GCM};
  for (int i = 0; i < 2; i++) {
    sfu_srtp_keys_t ks, kc;
    REQUIRE(handshake_keys(lists[i], &ks, &kc) == 0);
    CHECK_EQ_INT(ks.profile, want[i]);
    /* server side and client side each build their sfu_srtp from their own export */
    sfu_srtp_t *srv = sfu_srtp_new(&ks, 1), *cli = sfu_srtp_new(&kc, 0);
    REQUIRE(srv && cli);
    uint8_t b[1500];
    size_t len = make_rtp(b, 5, 0xabc, 500);
    CHECK_EQ_INT(sfu_srtp_protect_rtp(cli, b, &len, sizeof b), 0);
    CHECK_EQ_INT(sfu_srtp_unprotect_rtp(srv, b, &len), 0);
    CHECK_EQ_INT(len, 512);
    len = make_rtcp_rr(b, 0xdef);
    CHECK_EQ_INT(sfu_srtp_protect_rtcp(srv, b, &len, sizeof b), 0);
    CHECK_EQ_INT(sfu_srtp_unprotect_rtcp(cli, b, &len), 0);
    CHECK_EQ_INT(len, 8);
    sfu_srtp_free(srv);
    sfu_srtp_free(cli);
  }
}

TEST(tampered_packets_fail_auth) {
  for (int p = 0; p < 2; p++) {
    sfu_srtp_keys_t k = fixed_keys(p ? SFU_SRTP_AEAD_AES_128_GCM : SFU_SRTP_AES128_CM_SHA1_80);
    sfu_srtp_t *tx = sfu_srtp_new(&k, 0), *rx = sfu_srtp_new(&k, 1);
    REQUIRE(tx && rx);
    uint8_t b[256], c[256];
    size_t len = make_rtp(b, 1, 42, 100);
    CHECK_EQ_INT(sfu_srtp_protect_rtp(tx, b, &len, sizeof b), 0);
    /* flip one bit anywhere (header, payload, tag): never accepted */
    for (size_t i = 0; i < len; i += 7) {
      memcpy(c, b, len);
      c[i] ^= 0x04;
      size_t l2 = len;
      int rc = sfu_srtp_unprotect_rtp(rx, c, &l2);
      CHECK(rc == SFU_EAUTH || (i == 0 && rc == SFU_EPARSE));
    }
    size_t l2 = len;
    memcpy(c, b, len);
    CHECK_EQ_INT(sfu_srtp_unprotect_rtp(rx, c, &l2), 0); /* the original still fine */
    len = make_rtcp_rr(b, 42);
    CHECK_EQ_INT(sfu_srtp_protect_rtcp(tx, b, &len, sizeof b), 0);
    b[5] ^= 1;
    CHECK_EQ_INT(sfu_srtp_unprotect_rtcp(rx, b, &len), SFU_EAUTH);
    CHECK(sfu_srtp_stats(rx)->auth_fail > 10);
    sfu_srtp_free(tx);
    sfu_srtp_free(rx);
  }
}

TEST(replay_rejected_window_1024) {
  for (int p = 0; p < 2; p++) {
    sfu_srtp_keys_t k = fixed_keys(p ? SFU_SRTP_AEAD_AES_128_GCM : SFU_SRTP_AES128_CM_SHA1_80);
    sfu_srtp_t *tx = sfu_srtp_new(&k, 0), *rx = sfu_srtp_new(&k, 1);
    REQUIRE(tx && rx);
    static uint8_t pkts[1101][64];
    static size_t lens[1101];
    for (int s = 0; s <= 1100; s++) {
      lens[s] = make_rtp(pkts[s], (uint16_t)s, 7, 20);
      CHECK_EQ_INT(sfu_srtp_protect_rtp(tx, pkts[s], &lens[s], 64), 0);
    }
    uint8_t b[64];
    size_t len;
    for (int s = 0; s <= 1100; s++) {
      if (s == 50 || s == 100) continue; /* arrive late */
      len = lens[s];
      memcpy(b, pkts[s], len);
      CHECK_EQ_INT(sfu_srtp_unprotect_rtp(rx, b, &len), 0);
    }
    len = lens[100];
    memcpy(b, pkts[100], len);
    CHECK_EQ_INT(sfu_srtp_unprotect_rtp(rx, b, &len), 0); /* 1000 behind: in window */
    len = lens[100];
    memcpy(b, pkts[100], len);
    CHECK_EQ_INT(sfu_srtp_unprotect_rtp(rx, b, &len), SFU_EREPLAY); /* replay */
    len = lens[50];
    memcpy(b, pkts[50], len);
    CHECK_EQ_INT(sfu_srtp_unprotect_rtp(rx, b, &len), SFU_EREPLAY); /* 1050 behind: too old */
    len = lens[1100];
    memcpy(b, pkts[1100], len);
    CHECK_EQ_INT(sfu_srtp_unprotect_rtp(rx, b, &len), SFU_EREPLAY);
    CHECK_EQ_INT(sfu_srtp_stats(rx)->replay, 3);
    /* SRTCP replay */
    len = make_rtcp_rr(b, 7);
    CHECK_EQ_INT(sfu_srtp_protect_rtcp(tx, b, &len, sizeof b), 0);
    uint8_t c[64];
    size_t l2 = len;
    memcpy(c, b, len);
    CHECK_EQ_INT(sfu_srtp_unprotect_rtcp(rx, b, &len), 0);
    CHECK_EQ_INT(sfu_srtp_unprotect_rtcp(rx, c, &l2), SFU_EREPLAY);
    sfu_srtp_free(tx);
    sfu_srtp_free(rx);
  }
}

TEST(repeat_tx_allowed_for_rtx) {
  sfu_srtp_keys_t k = fixed_keys(SFU_SRTP_AEAD_AES_128_GCM);
  sfu_srtp_t *tx = sfu_srtp_new(&k, 0), *rx = sfu_srtp_new(&k, 1);
  REQUIRE(tx && rx);
  uint8_t a[64], b[64];
  size_t la = make_rtp(a, 9, 1, 20), lb = make_rtp(b, 9, 1, 20);
  CHECK_EQ_INT(sfu_srtp_protect_rtp(tx, a, &la, sizeof a), 0);
  CHECK_EQ_INT(sfu_srtp_protect_rtp(tx, b, &lb, sizeof b), 0); /* same seq again: allowed */
  CHECK(la == lb && memcmp(a, b, la) == 0);
  CHECK_EQ_INT(sfu_srtp_unprotect_rtp(rx, a, &la), 0);
  sfu_srtp_free(tx);
  sfu_srtp_free(rx);
}

TEST(capacity_truncation_garbage) {
  for (int p = 0; p < 2; p++) {
    sfu_srtp_keys_t k = fixed_keys(p ? SFU_SRTP_AEAD_AES_128_GCM : SFU_SRTP_AES128_CM_SHA1_80);
    sfu_srtp_t *tx = sfu_srtp_new(&k, 0), *rx = sfu_srtp_new(&k, 1);
    REQUIRE(tx && rx);
    uint8_t b[256], c[256];
    size_t len = make_rtp(b, 3, 5, 50);
    size_t need = len + sfu_srtp_trailer_len(tx, 0);
    CHECK_EQ_INT(sfu_srtp_protect_rtp(tx, b, &len, need - 1), SFU_ETOOBIG);
    CHECK_EQ_INT(len, 62);
    CHECK_EQ_INT(sfu_srtp_protect_rtp(tx, b, &len, need), 0);
    CHECK_EQ_INT(len, need);
    for (size_t l = 0; l < len; l++) { /* every truncation */
      memcpy(c, b, len);
      size_t l2 = l;
      int rc = sfu_srtp_unprotect_rtp(rx, c, &l2);
      CHECK(rc == SFU_EPARSE || rc == SFU_EAUTH);
    }
    size_t rl = make_rtcp_rr(b, 5);
    CHECK_EQ_INT(sfu_srtp_protect_rtcp(tx, b, &rl, rl + sfu_srtp_trailer_len(tx, 1) - 1),
                 SFU_ETOOBIG);
    CHECK_EQ_INT(sfu_srtp_protect_rtcp(tx, b, &rl, sizeof b), 0);
    for (size_t l = 0; l < rl; l++) {
      memcpy(c, b, rl);
      size_t l2 = l;
      int rc = sfu_srtp_unprotect_rtcp(rx, c, &l2);
      CHECK(rc == SFU_EPARSE || rc == SFU_EAUTH);
    }
    /* random garbage, with and without a plausible RTP/RTCP first byte */
    sim_link_t *rng = sim_link_new(99);
    for (int i = 0; i < 2000; i++) {
      size_t gl = (size_t)(sim_link_rand(rng) * 200);
      for (size_t j = 0; j < gl; j++) c[j] = (uint8_t)(sim_link_rand(rng) * 256);
      if (gl && (i & 1)) c[0] = 0x80 | (c[0] & 0x3f);
      size_t l2 = gl;
      CHECK(sfu_srtp_unprotect_rtp(rx, c, &l2) < 0);
      l2 = gl;
      CHECK(sfu_srtp_unprotect_rtcp(rx, c, &l2) < 0);
    }
    sim_link_free(rng);
    /* protect refuses what is not RTP / RTCP */
    size_t bad = 5;
    CHECK_EQ_INT(sfu_srtp_protect_rtp(tx, c, &bad, sizeof c), SFU_EINVAL);
    CHECK_EQ_INT(sfu_srtp_protect_rtcp(tx, c, &bad, sizeof c), SFU_EINVAL);
    sfu_srtp_free(tx);
    sfu_srtp_free(rx);
  }
}

TEST(remove_ssrc_and_names) {
  sfu_srtp_keys_t k = fixed_keys(SFU_SRTP_AES128_CM_SHA1_80);
  sfu_srtp_t *tx = sfu_srtp_new(&k, 0);
  REQUIRE(tx);
  uint8_t b[64];
  size_t len = make_rtp(b, 1, 77, 10);
  CHECK_EQ_INT(sfu_srtp_protect_rtp(tx, b, &len, sizeof b), 0);
  CHECK_EQ_INT(sfu_srtp_remove_ssrc(tx, 77, 1), 0);
  CHECK_EQ_INT(sfu_srtp_remove_ssrc(tx, 77, 1), SFU_ENOENT);
  sfu_srtp_free(tx);
  CHECK_EQ_STR(sfu_srtp_profile_name(SFU_SRTP_AEAD_AES_128_GCM), "AEAD_AES_128_GCM");
  CHECK_EQ_STR(sfu_srtp_profile_name(SFU_SRTP_AES128_CM_SHA1_80), "AES_CM_128_HMAC_SHA1_80");
  CHECK_EQ_STR(sfu_srtp_profile_name((sfu_srtp_profile_t)3), "unknown");
  /* inconsistent key material is refused */
  k.salt_len = 12;
  CHECK(sfu_srtp_new(&k, 0) == NULL);
  k = fixed_keys(SFU_SRTP_AEAD_AES_128_GCM);
  k.key_len = 32;
  CHECK(sfu_srtp_new(&k, 0) == NULL);
  CHECK(sfu_srtp_new(NULL, 0) == NULL);
}

int main(void) {
  sfu_openssl_init();
  if (sfu_srtp_global_init() != 0) return 1;
  CHECK_EQ_INT(sfu_srtp_global_init(), 0); /* idempotent */
  RUN(known_answer_aes_cm_sha1_80);
  RUN(known_answer_aead_aes_128_gcm);
  RUN(round_trip_fixed_keys_both_profiles);
  RUN(round_trip_dtls_keys_both_profiles);
  RUN(tampered_packets_fail_auth);
  RUN(replay_rejected_window_1024);
  RUN(repeat_tx_allowed_for_rtx);
  RUN(capacity_truncation_garbage);
  RUN(remove_ssrc_and_names);
  sfu_srtp_global_shutdown();
  sfu_dtls_cert_free(sc);
  sfu_dtls_cert_free(cc);
  return test_summary();
}
