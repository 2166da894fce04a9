/* SRTP: libsrtp's known-answer vectors through our key layout, round trips with keys
 * exported by a real DTLS handshake (both profiles), tampering, replay, truncation — all
 * run once per backend (OpenSSL, libsrtp2). Then the OpenSSL transforms alone against the
 * RFC vectors (RFC 3711 B.2, B.3; RFC 7714 §16, §17), and against libsrtp2 as an
 * independent oracle (both directions, both profiles, wrap, reordering, replays,
 * tampering), the per-SSRC table (LRU eviction, tombstones), SRTCP with E = 0 refused by
 * both backends, and hostile input (SSRC floods, truncations, garbage). Repeats, churn
 * and BYE across both backends: test_srtp_streams.c. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#include "proto/srtp_internal.h"
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

/* An SRTCP packet with E = 0 (RFC 3711 §3.4: authenticated, not encrypted), made here
 * with OpenSSL from the client's session keys, independently of both backends. */
static size_t make_srtcp_e0(const sfu_srtp_keys_t *k, uint8_t *b, uint32_t ssrc, uint32_t idx) {
  int gcm = k->profile == SFU_SRTP_AEAD_AES_128_GCM;
  sfu_srtp_dir_keys_t dk;
  if (sfu_srtp_derive(gcm, k->client_key, k->client_salt, k->salt_len, &dk) != 0) return 0;
  size_t n = make_rtcp_rr(b, ssrc);
  uint8_t w[4] = {(uint8_t)(idx >> 24) & 0x7f, (uint8_t)(idx >> 16), (uint8_t)(idx >> 8),
                  (uint8_t)idx};
  if (!gcm) { /* §3.4: tag = HMAC-SHA1-80 over the packet || E/index word */
    memcpy(b + n, w, 4);
    uint8_t t[20];
    unsigned tl = 0;
    HMAC(EVP_sha1(), dk.rtcp.auth, 20, b, n + 4, t, &tl);
    memcpy(b + n + 4, t, 10);
    return n + 14;
  }
  /* RFC 7714 §9.1/§9.3: IV = (0 || SSRC || 0 || index) XOR salt; AAD = packet || word */
  uint8_t iv[12] = {0, 0, b[4], b[5], b[6], b[7], 0, 0, w[0], w[1], w[2], w[3]};
  for (int i = 0; i < 12; i++) iv[i] ^= dk.rtcp.salt[i];
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  int ol = 0, ok = c && EVP_EncryptInit_ex(c, EVP_aes_128_gcm(), NULL, dk.rtcp.key, iv) == 1 &&
                   EVP_EncryptUpdate(c, NULL, &ol, b, (int)n) == 1 &&
                   EVP_EncryptUpdate(c, NULL, &ol, w, 4) == 1 &&
                   EVP_EncryptFinal_ex(c, b + n, &ol) == 1 &&
                   EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, b + n) == 1;
  EVP_CIPHER_CTX_free(c);
  memcpy(b + n + 16, w, 4);
  return ok ? n + 20 : 0;
}

/* E = 0 is refused by both backends alike (libsrtp2 refuses a packet whose E flag
 * disagrees with its policy; browsers always encrypt), before any crypto. */
TEST(srtcp_unencrypted_refused) {
  for (int p = 0; p < 2; p++) {
    sfu_srtp_keys_t k = fixed_keys(p ? SFU_SRTP_AEAD_AES_128_GCM : SFU_SRTP_AES128_CM_SHA1_80);
    sfu_srtp_t *rx = sfu_srtp_new(&k, 1), *tx = sfu_srtp_new(&k, 0);
    REQUIRE(rx && tx);
    uint8_t b[128];
    size_t len = make_srtcp_e0(&k, b, 0x4242, 1);
    REQUIRE(len > 0);
    CHECK_EQ_INT(sfu_srtp_unprotect_rtcp(rx, b, &len), SFU_EUNSUPP);
    CHECK_EQ_INT(sfu_srtp_stats(rx)->rtcp_in, 0);
    CHECK_EQ_INT(sfu_srtp_stats(rx)->other_fail, 1);
    /* the same SSRC, encrypted (E = 1): accepted */
    len = make_rtcp_rr(b, 0x4242);
    CHECK_EQ_INT(sfu_srtp_protect_rtcp(tx, b, &len, sizeof b), 0);
    CHECK_EQ_INT(sfu_srtp_unprotect_rtcp(rx, b, &len), 0);
    sfu_srtp_free(rx);
    sfu_srtp_free(tx);
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

/* ---- RFC vectors (OpenSSL backend pieces) ---- */

static void unhex(const char *h, uint8_t *out, size_t *n) {
  size_t k = 0;
  for (; h[0] && h[1]; h += 2) {
    unsigned v;
    sscanf(h, "%2x", &v);
    out[k++] = (uint8_t)v;
  }
  *n = k;
}

TEST(rfc3711_b3_key_derivation) {
  uint8_t mk[16], ms[14], want[128], got[128];
  size_t n;
  unhex("E1F97A0D3E018BE0D64FA32C06DE4139", mk, &n);
  unhex("0EC675AD498AFEEBB6960B3AABE6", ms, &n);
  CHECK_EQ_INT(sfu_srtp_kdf(mk, ms, 0x00, got, 16), 0);
  unhex("C61E7A93744F39EE10734AFE3FF7A087", want, &n);
  CHECK(memcmp(got, want, 16) == 0);
  CHECK_EQ_INT(sfu_srtp_kdf(mk, ms, 0x02, got, 14), 0);
  unhex("30CBBC08863D8C85D49DB34A9AE1", want, &n);
  CHECK(memcmp(got, want, 14) == 0);
  /* B.3 lists 94 bytes of the auth keystream (for HMAC keys up to 752 bits) */
  CHECK_EQ_INT(sfu_srtp_kdf(mk, ms, 0x01, got, 94), 0);
  unhex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA48F0A0ACF3C34E2359E6CDBCE"
        "E049646C43D9327AD175578EF72270986371C10C9A369AC2F94A8C5FBCDDDC25"
        "6D6E919A48B610EF17C2041E474035766B68642C59BBFC2F34DB60DBDFB2",
        want, &n);
  CHECK_EQ_INT(n, 94);
  CHECK(memcmp(got, want, 94) == 0);
  /* the whole set, as sfu_srtp_new derives it */
  sfu_srtp_dir_keys_t dk;
  CHECK_EQ_INT(sfu_srtp_derive(0, mk, ms, 14, &dk), 0);
  unhex("C61E7A93744F39EE10734AFE3FF7A087", want, &n);
  CHECK(memcmp(dk.rtp.key, want, 16) == 0);
  unhex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4", want, &n);
  CHECK(memcmp(dk.rtp.auth, want, 20) == 0);
  CHECK(memcmp(dk.rtcp.key, dk.rtp.key, 16) != 0); /* labels 3..5 differ */
  CHECK_EQ_INT(sfu_srtp_derive(0, mk, ms, 12, &dk), SFU_EINVAL);
}

TEST(rfc3711_b2_aes_cm_keystream) {
  static const struct {
    unsigned block;
    const char *hex;
  } v[] = {{0x0000, "E03EAD0935C95E80E166B16DD92B4EB4"}, {0x0001, "D23513162B02D0F72A43A2FE4A5F97AB"},
           {0x0002, "41E95B3BB0A2E8DD477901E4FCA894C0"}, {0xfeff, "EC8CDF7398607CB0F2D21675EA9EA1E4"},
           {0xff00, "362B7C3C6773516318A077D7FC5073AE"}, {0xff01, "6A2CC3787889374FBEB4C81B17BA6C44"}};
  uint8_t key[16], iv[16] = {0}, want[16];
  size_t n;
  unhex("2B7E151628AED2A6ABF7158809CF4F3C", key, &n);
  unhex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD", iv, &n); /* salt * 2^16, SSRC 0, index 0 */
  size_t len = 0xff02u * 16;
  uint8_t *ks = malloc(len);
  REQUIRE(ks);
  CHECK_EQ_INT(sfu_srtp_aes_cm_keystream(key, iv, ks, len), 0);
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
    unhex(v[i].hex, want, &n);
    CHECK(memcmp(ks + 16 * (size_t)v[i].block, want, 16) == 0);
  }
  free(ks);
}

/* RFC 7714 §16/§17 give session keys (no derivation): both directions keyed alike. */
static sfu_srtp_ossl_t *rfc7714_ctx(void) {
  sfu_srtp_dir_keys_t k;
  size_t n;
  memset(&k, 0, sizeof k);
  unhex("000102030405060708090a0b0c0d0e0f", k.rtp.key, &n);
  unhex("517569642070726f2071756f", k.rtp.salt, &n);
  k.rtcp = k.rtp;
  return sfu_srtp_ossl_new(1, &k, &k);
}

TEST(rfc7714_16_srtp_gcm_vector) {
  uint8_t plain[128], prot[128], b[128];
  size_t pl, prl, len;
  unhex("8040f17b8041f8d35501a0b247616c6c696120657374206f6d6e69732064697669736120696e20"
        "7061727465732074726573", plain, &pl);
  unhex("8040f17b8041f8d35501a0b2f24de3a3fb34de6cacba861c9d7e4bcabe633bd50d294e6f42a5f47a"
        "51c7d19b36de3adf8833899d7f27beb16a9152cf765ee4390cce", prot, &prl);
  sfu_srtp_ossl_t *o = rfc7714_ctx();
  REQUIRE(o);
  memcpy(b, plain, pl);
  len = pl;
  CHECK_EQ_INT(sfu_srtp_ossl_protect_rtp(o, b, &len, 12, 0xf17b), 0); /* §16.1.1, ROC 0 */
  CHECK_EQ_INT(len, prl);
  CHECK(memcmp(b, prot, prl) == 0);
  CHECK_EQ_INT(sfu_srtp_ossl_unprotect_rtp(o, b, &len, 12, 0xf17b), 0); /* §16.1.2 */
  CHECK_EQ_INT(len, pl);
  CHECK(memcmp(b, plain, pl) == 0);
  sfu_srtp_ossl_free(o);
}

TEST(rfc7714_17_srtcp_gcm_vectors) {
  uint8_t plain[128], prot[128], tagonly[128], b[128];
  size_t pl, prl, tl, len;
  unhex("81c8000d4d6172734e5450314e545032525450200000042a0000e9304c756e61deadbeefdeadbeef"
        "deadbeefdeadbeefdeadbeef", plain, &pl);
  unhex("81c8000d4d61727363e94885dcdab67ca727d7662f6b7e997ff5c0f76c06f32dc676a5f1730d6fda"
        "4ce09b4686303ded0bb9275bc84aa45896cf4d2fc5abf87245d9eade800005d4", prot, &prl);
  unhex("81c8000d4d6172734e5450314e545032525450200000042a0000e9304c756e61deadbeefdeadbeef"
        "deadbeefdeadbeefdeadbeef841dd9683dd78ec92ae58790125f62b3000005d4", tagonly, &tl);
  CHECK_EQ_INT(pl, 52);
  sfu_srtp_ossl_t *o = rfc7714_ctx();
  REQUIRE(o);
  memcpy(b, prot, prl); /* §17.1.2: decryption, E = 1, index 0x5d4 */
  len = prl;
  CHECK_EQ_INT(sfu_srtp_ossl_unprotect_rtcp(o, b, &len), 0);
  CHECK_EQ_INT(len, pl);
  CHECK(memcmp(b, plain, pl) == 0);
  /* §17.3: authenticated only (E = 0): refused (srtp.c says why; libsrtp2 refuses it) */
  memcpy(b, tagonly, tl);
  len = tl;
  CHECK_EQ_INT(sfu_srtp_ossl_unprotect_rtcp(o, b, &len), SFU_EUNSUPP);
  /* §17.1.1: encryption at index 0x5d4 */
  memcpy(b, plain, pl);
  len = pl;
  CHECK_EQ_INT(sfu_srtp_ossl_protect_rtcp(o, b, &len, 0x5d4), 0);
  CHECK_EQ_INT(len, prl);
  CHECK(memcmp(b, prot, prl) == 0);
  sfu_srtp_ossl_free(o);
}

TEST(roc_estimation_and_window) {
  /* RFC 3711 Appendix A, boundary cases */
  CHECK_EQ_INT(sfu_srtp_estimate_index(100, 65500), 65500); /* ROC 0 cannot go to -1 */
  CHECK_EQ_INT(sfu_srtp_estimate_index(65530, 3), 65536 + 3);   /* wrap: ROC + 1 */
  CHECK_EQ_INT(sfu_srtp_estimate_index(65536 + 3, 65530), 65530); /* late: ROC - 1 */
  CHECK_EQ_INT(sfu_srtp_estimate_index(5 * 65536 + 40000, 10), 6 * 65536 + 10);
  CHECK_EQ_INT(sfu_srtp_estimate_index(5 * 65536 + 40000, 8000), 5 * 65536 + 8000);
  CHECK_EQ_INT(sfu_srtp_estimate_index(5 * 65536 + 100, 60000), 4 * 65536 + 60000);
  uint64_t win[SFU_SRTP_WINDOW / 64] = {0}, top = 0;
  uint8_t seen = 0;
  CHECK_EQ_INT(sfu_srtp_window_check(win, SFU_SRTP_WINDOW, top, seen, 7), 0);
  sfu_srtp_window_add(win, SFU_SRTP_WINDOW, &top, &seen, 7);
  CHECK_EQ_INT(sfu_srtp_window_check(win, SFU_SRTP_WINDOW, top, seen, 7), SFU_EREPLAY);
  sfu_srtp_window_add(win, SFU_SRTP_WINDOW, &top, &seen, 7 + 1023);
  CHECK_EQ_INT(sfu_srtp_window_check(win, SFU_SRTP_WINDOW, top, seen, 7), SFU_EREPLAY);
  CHECK_EQ_INT(sfu_srtp_window_check(win, SFU_SRTP_WINDOW, top, seen, 8), 0); /* 1022 back */
  sfu_srtp_window_add(win, SFU_SRTP_WINDOW, &top, &seen, 8 + 1023); /* slides by one */
  CHECK_EQ_INT(sfu_srtp_window_check(win, SFU_SRTP_WINDOW, top, seen, 8), 0);
  CHECK_EQ_INT(sfu_srtp_window_check(win, SFU_SRTP_WINDOW, top, seen, 7), SFU_EREPLAY);
  CHECK_EQ_INT(sfu_srtp_window_check(win, SFU_SRTP_WINDOW, top, seen, 8 + 1023), SFU_EREPLAY);
  /* never received, inside the window: fresh (its slot was cleared as the window slid) */
  CHECK_EQ_INT(sfu_srtp_window_check(win, SFU_SRTP_WINDOW, top, seen, 1029), 0);
  CHECK_EQ_INT(sfu_srtp_window_check(win, SFU_SRTP_WINDOW, top, seen, 1030), SFU_EREPLAY);
  sfu_srtp_window_add(win, SFU_SRTP_WINDOW, &top, &seen, 100000); /* jump: all cleared */
  CHECK_EQ_INT(sfu_srtp_window_check(win, SFU_SRTP_WINDOW, top, seen, 99999), 0);
  CHECK_EQ_INT(sfu_srtp_window_check(win, SFU_SRTP_WINDOW, top, seen, 100000), SFU_EREPLAY);
}

/* The per-SSRC table alone (srtp_stream.c): least recently used eviction, tombstones
 * and their bound. */
TEST(streams_lru_and_tombstones) {
  sfu_srtp_streams_t t;
  REQUIRE(sfu_srtp_streams_init(&t, 4, 0) == 0);
  sfu_srtp_stream_t init, *st;
  uint32_t ev = 0;
  memset(&init, 0, sizeof init);
  for (uint32_t i = 1; i <= 4; i++) {
    init.rtp_top = 1000 * i, init.rtp_seen = 1;
    CHECK_EQ_INT(sfu_srtp_streams_add(&t, i, &init, &st, &ev), 0);
  }
  CHECK(sfu_srtp_streams_find(&t, 1) != NULL); /* 1 is now the most recent: 2 goes */
  CHECK_EQ_INT(sfu_srtp_streams_add(&t, 5, &init, &st, &ev), 1);
  CHECK_EQ_INT(ev, 2);
  CHECK(sfu_srtp_streams_find(&t, 2) == NULL && sfu_srtp_streams_find(&t, 1) != NULL);
  /* the evicted one starts again from its tombstone: every index up to 2000 seen */
  sfu_srtp_stream_t f;
  sfu_srtp_streams_fresh(&t, 2, &f);
  CHECK(f.rtp_seen && f.rtp_restored && f.rtp_top == 2000 && !f.rtcp_seen);
  CHECK_EQ_INT(sfu_srtp_window_check(f.rtp_win, SFU_SRTP_WINDOW, f.rtp_top, 1, 1999), SFU_EREPLAY);
  CHECK_EQ_INT(sfu_srtp_window_check(f.rtp_win, SFU_SRTP_WINDOW, f.rtp_top, 1, 2001), 0);
  sfu_srtp_streams_fresh(&t, 77, &f); /* never seen: zero */
  CHECK(!f.rtp_seen && !f.rtp_restored && f.rtp_top == 0);
  CHECK_EQ_INT(sfu_srtp_streams_remove(&t, 3), 0);
  CHECK_EQ_INT(sfu_srtp_streams_remove(&t, 3), SFU_ENOENT);
  CHECK_EQ_INT(t.n, 3);
  /* tombstones are bounded: the oldest goes first */
  for (uint32_t i = 100; i < 100 + SFU_SRTP_MAX_TOMBS + 50; i++) {
    init.rtp_top = i;
    sfu_srtp_streams_add(&t, i, &init, &st, &ev);
    CHECK_EQ_INT(sfu_srtp_streams_remove(&t, i), 0);
  }
  CHECK_EQ_INT(t.ntomb, SFU_SRTP_MAX_TOMBS);
  sfu_srtp_streams_fresh(&t, 100, &f);
  CHECK(!f.rtp_seen);
  sfu_srtp_streams_fresh(&t, 100 + SFU_SRTP_MAX_TOMBS + 49, &f);
  CHECK(f.rtp_seen && f.rtp_top == 100 + SFU_SRTP_MAX_TOMBS + 49);
  /* forget: no live state and no tombstone */
  CHECK_EQ_INT(sfu_srtp_streams_forget(&t, 100 + SFU_SRTP_MAX_TOMBS + 49), SFU_ENOENT);
  sfu_srtp_streams_fresh(&t, 100 + SFU_SRTP_MAX_TOMBS + 49, &f);
  CHECK(!f.rtp_seen);
  sfu_srtp_streams_free(&t);
}

/* ---- OpenSSL against libsrtp2 (independent oracle) ---- */

typedef struct {
  uint8_t b[1300];
  size_t len;
  int orig; /* index of the plain packet it protects */
} wire_t;

/* One sender (backend txb) and two receivers (OpenSSL, libsrtp) fed the same datagrams,
 * including reordered, duplicated, too-old and tampered ones: every verdict must be the
 * same, and every accepted packet must decrypt to its plaintext. */
static void cross_run(sfu_srtp_profile_t prof, sfu_srtp_backend_t txb, const sfu_srtp_keys_t *kc,
                      const sfu_srtp_keys_t *ks) {
  sfu_srtp_t *tx = sfu_srtp_new_backend(kc, 0, txb);
  sfu_srtp_t *rx[2] = {sfu_srtp_new_backend(ks, 1, SFU_SRTP_BACKEND_OPENSSL),
                       sfu_srtp_new_backend(ks, 1, SFU_SRTP_BACKEND_LIBSRTP)};
  REQUIRE(tx && rx[0] && rx[1]);
  enum { NSSRC = 12, PER = 150, N = NSSRC * PER + NSSRC * 10 };
  static uint8_t plain[N][1300];
  static size_t plen[N];
  static wire_t w[N];
  int np = 0;
  sim_link_t *rng = sim_link_new((uint64_t)prof * 31 + txb);
  /* RTP: SSRCs starting near the sequence wrap (ROC 0 -> 1), interleaved */
  for (int k = 0; k < PER; k++)
    for (int i = 0; i < NSSRC; i++) {
      uint16_t seq = (uint16_t)(65536 - 60 + i * 7 + k);
      plen[np] = make_rtp(plain[np], seq, 0x1000u + (uint32_t)i * 0x01010101u,
                          20 + (size_t)(sim_link_rand(rng) * 1000));
      memcpy(w[np].b, plain[np], plen[np]);
      w[np].len = plen[np];
      w[np].orig = np;
      CHECK_EQ_INT(sfu_srtp_protect_rtp(tx, w[np].b, &w[np].len, sizeof w[np].b), 0);
      np++;
    }
  int nrtp = np;
  /* SRTCP: a few per SSRC */
  for (int k = 0; k < 10; k++)
    for (int i = 0; i < NSSRC; i++) {
      plen[np] = make_rtcp_rr(plain[np], 0x2000u + (uint32_t)i);
      memcpy(w[np].b, plain[np], plen[np]);
      w[np].len = plen[np];
      w[np].orig = np;
      CHECK_EQ_INT(sfu_srtp_protect_rtcp(tx, w[np].b, &w[np].len, sizeof w[np].b), 0);
      np++;
    }
  /* reorder: swap neighbours within 40 positions (well inside the 1024 window) */
  for (int i = 0; i + 40 < nrtp; i++)
    if (sim_link_rand(rng) < 0.3) {
      int j = i + 1 + (int)(sim_link_rand(rng) * 39);
      wire_t t = w[i];
      w[i] = w[j];
      w[j] = t;
    }
  int accepted = 0, replays = 0, tampered = 0;
  for (int i = 0; i < np; i++) {
    int rtcp = i >= nrtp;
    for (int variant = 0; variant < 3; variant++) {
      /* 0: as sent; 1: replay of an earlier datagram (sometimes); 2: a tampered copy */
      wire_t cur = w[i];
      if (variant == 1) {
        if (sim_link_rand(rng) > 0.1 || i == 0) continue;
        cur = w[(int)(sim_link_rand(rng) * i)];
        rtcp = cur.orig >= nrtp;
      } else if (variant == 2) {
        if (sim_link_rand(rng) > 0.1) continue;
        size_t pos = 1 + (size_t)(sim_link_rand(rng) * (double)(cur.len - 1));
        cur.b[pos] ^= (uint8_t)(1u << (int)(sim_link_rand(rng) * 8));
      }
      int rc[2];
      wire_t out[2];
      for (int r = 0; r < 2; r++) {
        out[r] = cur;
        rc[r] = rtcp ? sfu_srtp_unprotect_rtcp(rx[r], out[r].b, &out[r].len)
                     : sfu_srtp_unprotect_rtp(rx[r], out[r].b, &out[r].len);
      }
      CHECK_EQ_INT(rc[0], rc[1]);
      if (variant == 0) CHECK_EQ_INT(rc[0], 0);
      if (variant == 1) CHECK_EQ_INT(rc[0], SFU_EREPLAY);
      if (variant == 2) CHECK(rc[0] == SFU_EAUTH || rc[0] == SFU_EPARSE || rc[0] == SFU_EREPLAY);
      if (rc[0] == 0 && rc[1] == 0) {
        CHECK_EQ_INT(out[0].len, plen[cur.orig]);
        CHECK(memcmp(out[0].b, plain[cur.orig], plen[cur.orig]) == 0);
        CHECK(out[0].len == out[1].len && memcmp(out[0].b, out[1].b, out[0].len) == 0);
        accepted++;
      }
      replays += variant == 1;
      tampered += variant == 2;
    }
  }
  CHECK_EQ_INT(accepted, np);
  CHECK(replays > 50 && tampered > 50);
  /* a packet far behind the window: both call it a replay (too old) */
  for (int k = 0; k < 1100; k++) {
    uint8_t b[64];
    size_t len = make_rtp(b, (uint16_t)(200 + k), 0x777, 10);
    CHECK_EQ_INT(sfu_srtp_protect_rtp(tx, b, &len, sizeof b), 0);
    if (k == 0) {
      memcpy(plain[0], b, len), plen[0] = len;
      continue;
    }
    for (int r = 0; r < 2; r++) {
      uint8_t c[64];
      size_t l2 = len;
      memcpy(c, b, len);
      CHECK_EQ_INT(sfu_srtp_unprotect_rtp(rx[r], c, &l2), 0);
    }
  }
  for (int r = 0; r < 2; r++) {
    uint8_t c[64];
    size_t l2 = plen[0];
    memcpy(c, plain[0], l2);
    CHECK_EQ_INT(sfu_srtp_unprotect_rtp(rx[r], c, &l2), SFU_EREPLAY);
  }
  CHECK_EQ_INT(sfu_srtp_stats(rx[0])->replay, sfu_srtp_stats(rx[1])->replay);
  CHECK_EQ_INT(sfu_srtp_stats(rx[0])->auth_fail + sfu_srtp_stats(rx[0])->other_fail,
               sfu_srtp_stats(rx[1])->auth_fail + sfu_srtp_stats(rx[1])->other_fail);
  sim_link_free(rng);
  sfu_srtp_free(tx);
  sfu_srtp_free(rx[0]);
  sfu_srtp_free(rx[1]);
}

TEST(cross_openssl_libsrtp_fixed_keys) {
  for (int p = 0; p < 2; p++) {
    sfu_srtp_profile_t prof = p ? SFU_SRTP_AEAD_AES_128_GCM : SFU_SRTP_AES128_CM_SHA1_80;
    sfu_srtp_keys_t k = fixed_keys(prof);
    cross_run(prof, SFU_SRTP_BACKEND_OPENSSL, &k, &k);
    cross_run(prof, SFU_SRTP_BACKEND_LIBSRTP, &k, &k);
  }
}

TEST(cross_openssl_libsrtp_dtls_keys) {
  const char *lists[] = {"SRTP_AES128_CM_SHA1_80", NULL};
  for (int i = 0; i < 2; i++) {
    sfu_srtp_keys_t ks, kc;
    REQUIRE(handshake_keys(lists[i], &ks, &kc) == 0);
    cross_run(ks.profile, SFU_SRTP_BACKEND_OPENSSL, &kc, &ks);
    cross_run(ks.profile, SFU_SRTP_BACKEND_LIBSRTP, &kc, &ks);
    /* and the other direction: the server (us) protects, the client unprotects */
    for (int b = 0; b < 2; b++) {
      sfu_srtp_t *srv = sfu_srtp_new_backend(&ks, 1, b ? SFU_SRTP_BACKEND_LIBSRTP : SFU_SRTP_BACKEND_OPENSSL);
      sfu_srtp_t *cli = sfu_srtp_new_backend(&kc, 0, b ? SFU_SRTP_BACKEND_OPENSSL : SFU_SRTP_BACKEND_LIBSRTP);
      REQUIRE(srv && cli);
      uint8_t x[1500], ref[1500];
      for (uint16_t seq = 65530; seq != 20; seq++) {
        size_t len = make_rtp(x, seq, 0xfeed, 300), pl = len;
        memcpy(ref, x, len);
        CHECK_EQ_INT(sfu_srtp_protect_rtp(srv, x, &len, sizeof x), 0);
        CHECK_EQ_INT(sfu_srtp_unprotect_rtp(cli, x, &len), 0);
        CHECK(len == pl && memcmp(x, ref, pl) == 0);
        len = make_rtcp_rr(x, 0xbeef);
        CHECK_EQ_INT(sfu_srtp_protect_rtcp(srv, x, &len, sizeof x), 0);
        CHECK_EQ_INT(sfu_srtp_unprotect_rtcp(cli, x, &len), 0);
      }
      sfu_srtp_free(srv);
      sfu_srtp_free(cli);
    }
  }
}

/* Every length from the smallest up to past the AES-CM ECB/CTR switch (256 payload
 * bytes, srtp_ossl.c cm_crypt), RTP and RTCP, both profiles: our output byte-identical to
 * libsrtp2's and unprotected back. Covers each residue of the keystream XOR (8-byte words
 * and tail) and of the SHA-1 padding srtp_ossl.c appends itself (sha1_finish: the length
 * word in the same block or the next). */
TEST(every_length_matches_libsrtp) {
  for (int p = 0; p < 2; p++) {
    sfu_srtp_keys_t k = fixed_keys(p ? SFU_SRTP_AEAD_AES_128_GCM : SFU_SRTP_AES128_CM_SHA1_80);
    sfu_srtp_t *ours = sfu_srtp_new_backend(&k, 0, SFU_SRTP_BACKEND_OPENSSL);
    sfu_srtp_t *lib = sfu_srtp_new_backend(&k, 0, SFU_SRTP_BACKEND_LIBSRTP);
    sfu_srtp_t *rx = sfu_srtp_new_backend(&k, 1, SFU_SRTP_BACKEND_OPENSSL);
    REQUIRE(ours && lib && rx);
    for (size_t n = 0; n <= 300; n++) {
      for (int rtcp = 0; rtcp < 2; rtcp++) {
        if (rtcp && n % 4) continue; /* RTCP comes in 32-bit words (RFC 3550 §6.4.1) */
        uint8_t a[400], b[400], plain[400];
        size_t la, lb, pl;
        if (rtcp) {
          pl = make_rtcp_rr(plain, 0x3000u + (uint32_t)n);
          for (size_t i = 0; i < n; i++) plain[pl + i] = (uint8_t)(i * 7 + n);
          pl += n;
          plain[2] = (uint8_t)((pl / 4 - 1) >> 8), plain[3] = (uint8_t)(pl / 4 - 1);
        } else {
          pl = make_rtp(plain, (uint16_t)n, 0x4000u + (uint32_t)n, n);
        }
        memcpy(a, plain, pl), memcpy(b, plain, pl);
        la = lb = pl;
        if (rtcp) {
          CHECK_EQ_INT(sfu_srtp_protect_rtcp(ours, a, &la, sizeof a), 0);
          CHECK_EQ_INT(sfu_srtp_protect_rtcp(lib, b, &lb, sizeof b), 0);
        } else {
          CHECK_EQ_INT(sfu_srtp_protect_rtp(ours, a, &la, sizeof a), 0);
          CHECK_EQ_INT(sfu_srtp_protect_rtp(lib, b, &lb, sizeof b), 0);
        }
        CHECK(la == lb && memcmp(a, b, la) == 0);
        CHECK_EQ_INT(rtcp ? sfu_srtp_unprotect_rtcp(rx, a, &la) : sfu_srtp_unprotect_rtp(rx, a, &la),
                     0);
        CHECK(la == pl && memcmp(a, plain, pl) == 0);
      }
    }
    sfu_srtp_free(ours);
    sfu_srtp_free(lib);
    sfu_srtp_free(rx);
  }
}

/* ---- hostile input (OpenSSL backend) ---- */

TEST(ssrc_flood_bounded) {
  for (int p = 0; p < 2; p++) {
    sfu_srtp_keys_t k = fixed_keys(p ? SFU_SRTP_AEAD_AES_128_GCM : SFU_SRTP_AES128_CM_SHA1_80);
    sfu_srtp_t *tx = sfu_srtp_new_backend(&k, 0, SFU_SRTP_BACKEND_OPENSSL);
    sfu_srtp_t *rx = sfu_srtp_new_backend(&k, 1, SFU_SRTP_BACKEND_OPENSSL);
    REQUIRE(tx && rx);
    uint8_t b[256];
    /* garbage with fresh SSRCs never creates (or evicts) state */
    sim_link_t *rng = sim_link_new(5);
    for (int i = 0; i < 3000; i++) {
      size_t len = make_rtp(b, (uint16_t)i, 0x50000000u + (uint32_t)i, 100);
      len += sfu_srtp_trailer_len(tx, 0);
      for (size_t j = 12; j < len; j++) b[j] = (uint8_t)(sim_link_rand(rng) * 256);
      CHECK_EQ_INT(sfu_srtp_unprotect_rtp(rx, b, &len), SFU_EAUTH);
      len = make_rtcp_rr(b, 0x60000000u + (uint32_t)i);
      for (size_t j = 8; j < 8 + sfu_srtp_trailer_len(tx, 1); j++)
        b[j] = (uint8_t)(sim_link_rand(rng) * 256);
      len += sfu_srtp_trailer_len(tx, 1);
      b[p ? len - 4 : len - 14] |= 0x80; /* E = 1, so that it reaches the tag check */
      CHECK_EQ_INT(sfu_srtp_unprotect_rtcp(rx, b, &len), SFU_EAUTH);
    }
    sim_link_free(rng);
    CHECK_EQ_INT(sfu_srtp_stats(rx)->ssrcs_in, 0); /* garbage created nothing */
    /* 100 real SSRCs: all accepted, at most the bound live (the least recently used
     * evicted to tombstones) */
    for (uint32_t i = 0; i < 100; i++) {
      size_t len = make_rtp(b, 1, 0x100 + i, 50);
      CHECK_EQ_INT(sfu_srtp_protect_rtp(tx, b, &len, sizeof b), 0);
      CHECK_EQ_INT(sfu_srtp_unprotect_rtp(rx, b, &len), 0);
    }
    CHECK_EQ_INT(sfu_srtp_stats(rx)->ssrcs_in, SFU_SRTP_MAX_STREAMS_IN);
    CHECK_EQ_INT(sfu_srtp_stats(rx)->ssrcs_evicted, 100 - SFU_SRTP_MAX_STREAMS_IN);
    /* a live SSRC keeps working; a removed one leaves the table */
    size_t len = make_rtp(b, 2, 0x100 + 99, 50);
    CHECK_EQ_INT(sfu_srtp_protect_rtp(tx, b, &len, sizeof b), 0);
    CHECK_EQ_INT(sfu_srtp_unprotect_rtp(rx, b, &len), 0);
    CHECK_EQ_INT(sfu_srtp_remove_ssrc(rx, 0x100 + 99, 0), 0);
    CHECK_EQ_INT(sfu_srtp_remove_ssrc(rx, 0x100 + 99, 0), SFU_ENOENT);
    CHECK_EQ_INT(sfu_srtp_remove_ssrc(rx, 0x100, 0), SFU_ENOENT); /* evicted long ago */
    CHECK_EQ_INT(sfu_srtp_stats(rx)->ssrcs_in, SFU_SRTP_MAX_STREAMS_IN - 1);
    /* the other streams kept their state through the swap-remove: replays still caught */
    len = make_rtp(b, 3, 0x100 + 63, 50);
    CHECK_EQ_INT(sfu_srtp_protect_rtp(tx, b, &len, sizeof b), 0);
    uint8_t c[256];
    size_t l2 = len;
    memcpy(c, b, len);
    CHECK_EQ_INT(sfu_srtp_unprotect_rtp(rx, b, &len), 0);
    CHECK_EQ_INT(sfu_srtp_unprotect_rtp(rx, c, &l2), SFU_EREPLAY);
    CHECK_EQ_INT(sfu_srtp_stats(rx)->other_fail, 0);
    /* outbound: bounded the same way */
    for (uint32_t i = 0; i < SFU_SRTP_MAX_STREAMS_OUT + 10; i++) {
      len = make_rtp(b, 1, 0x9000 + i, 10);
      CHECK_EQ_INT(sfu_srtp_protect_rtp(tx, b, &len, sizeof b), 0);
    }
    CHECK_EQ_INT(sfu_srtp_stats(tx)->ssrcs_out, SFU_SRTP_MAX_STREAMS_OUT);
    sfu_srtp_free(tx);
    sfu_srtp_free(rx);
  }
}

TEST(backend_selection) {
  CHECK_EQ_STR(sfu_srtp_backend_name(SFU_SRTP_BACKEND_OPENSSL), "openssl");
  CHECK_EQ_STR(sfu_srtp_backend_name(SFU_SRTP_BACKEND_LIBSRTP), "libsrtp");
  CHECK_EQ_STR(sfu_srtp_backend_name((sfu_srtp_backend_t)9), "unknown");
  sfu_srtp_backend_t b;
  CHECK_EQ_INT(sfu_srtp_backend_parse("libsrtp", &b), 0);
  CHECK_EQ_INT(b, SFU_SRTP_BACKEND_LIBSRTP);
  CHECK_EQ_INT(sfu_srtp_backend_parse("openssl", &b), 0);
  CHECK_EQ_INT(b, SFU_SRTP_BACKEND_OPENSSL);
  CHECK_EQ_INT(sfu_srtp_backend_parse("nss", &b), SFU_EINVAL);
  CHECK_EQ_INT(sfu_srtp_backend_parse(NULL, &b), SFU_EINVAL);
  CHECK_EQ_INT(sfu_srtp_set_backend((sfu_srtp_backend_t)9), SFU_EINVAL);
  sfu_srtp_keys_t k = fixed_keys(SFU_SRTP_AEAD_AES_128_GCM);
  for (int i = 0; i < 2; i++) {
    sfu_srtp_backend_t want = i ? SFU_SRTP_BACKEND_LIBSRTP : SFU_SRTP_BACKEND_OPENSSL;
    CHECK_EQ_INT(sfu_srtp_set_backend(want), 0);
    CHECK_EQ_INT(sfu_srtp_get_backend(), want);
    sfu_srtp_t *s = sfu_srtp_new(&k, 1);
    REQUIRE(s);
    CHECK_EQ_INT(sfu_srtp_backend(s), want);
    sfu_srtp_free(s);
  }
  CHECK(sfu_srtp_new_backend(&k, 1, (sfu_srtp_backend_t)9) == NULL);
  sfu_srtp_set_backend(SFU_SRTP_BACKEND_OPENSSL);
}

static void run_common(sfu_srtp_backend_t b) {
  printf("# backend %s\n", sfu_srtp_backend_name(b));
  CHECK_EQ_INT(sfu_srtp_set_backend(b), 0);
  RUN(known_answer_aes_cm_sha1_80);
  RUN(known_answer_aead_aes_128_gcm);
  RUN(round_trip_fixed_keys_both_profiles);
  RUN(round_trip_dtls_keys_both_profiles);
  RUN(tampered_packets_fail_auth);
  RUN(replay_rejected_window_1024);
  RUN(capacity_truncation_garbage);
  RUN(remove_ssrc_and_names);
  RUN(srtcp_unencrypted_refused);
}

int main(void) {
  sfu_openssl_init();
  if (sfu_srtp_global_init() != 0) return 1;
  CHECK_EQ_INT(sfu_srtp_global_init(), 0); /* idempotent */
  CHECK_EQ_INT(sfu_srtp_get_backend(), SFU_SRTP_BACKEND_OPENSSL); /* the default */
  run_common(SFU_SRTP_BACKEND_OPENSSL);
  run_common(SFU_SRTP_BACKEND_LIBSRTP);
  sfu_srtp_set_backend(SFU_SRTP_BACKEND_OPENSSL);
  printf("# OpenSSL transforms: RFC vectors, libsrtp2 as the oracle, hostile input\n");
  RUN(rfc3711_b3_key_derivation);
  RUN(rfc3711_b2_aes_cm_keystream);
  RUN(rfc7714_16_srtp_gcm_vector);
  RUN(rfc7714_17_srtcp_gcm_vectors);
  RUN(roc_estimation_and_window);
  RUN(streams_lru_and_tombstones);
  RUN(cross_openssl_libsrtp_fixed_keys);
  RUN(cross_openssl_libsrtp_dtls_keys);
  RUN(every_length_matches_libsrtp);
  RUN(ssrc_flood_bounded);
  RUN(backend_selection);
  sfu_srtp_global_shutdown();
  sfu_dtls_cert_free(sc);
  sfu_dtls_cert_free(cc);
  return test_summary();
}
