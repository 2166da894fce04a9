/* SRTP per-SSRC state (src/proto/srtp_stream.c, the shared steps in srtp.c), every case on
 * both backends (OpenSSL, libsrtp2) and both profiles (issue 6 items 9, 10):
 *  - a session that has cycled through 200 inbound / 600 outbound SSRCs still accepts a
 *    new one, and holds at most the bound of live streams;
 *  - a removed (BYE) or evicted SSRC leaves a tombstone: its old packets stay refused
 *    (no replay), and its indexes are never protected twice;
 *  - re-protecting an (SSRC, index) with different bytes is refused (GCM nonce reuse,
 *    AES-CM two-time pad); identical bytes (a retransmission) are allowed. */
#include <stdlib.h>
#include <string.h>

#include "sfu/err.h"
#include "sfu/openssl_init.h"
#include "sfu/srtp.h"
#include "test.h"

static sfu_srtp_backend_t g_backend;
static sfu_srtp_profile_t g_profile;

static sfu_srtp_keys_t fixed_keys(sfu_srtp_profile_t p) {
  sfu_srtp_keys_t k;
  memset(&k, 0, sizeof k);
  k.profile = p;
  k.key_len = 16;
  k.salt_len = p == SFU_SRTP_AEAD_AES_128_GCM ? 12 : 14;
  for (int i = 0; i < 16; i++)
    k.client_key[i] = (uint8_t)(3 * i), k.server_key[i] = (uint8_t)(0x50 + i);
  for (int i = 0; i < 14; i++)
    k.client_salt[i] = (uint8_t)(0x90 + i), k.server_salt[i] = (uint8_t)(0xD0 + i);
  return k;
}

/* A sender (client side) and a receiver (server side) on the backend under test. */
static void pair(sfu_srtp_t **tx, sfu_srtp_t **rx) {
  sfu_srtp_keys_t k = fixed_keys(g_profile);
  *tx = sfu_srtp_new_backend(&k, 0, g_backend);
  *rx = sfu_srtp_new_backend(&k, 1, g_backend);
}

static size_t make_rtp(uint8_t *b, uint16_t seq, uint32_t ssrc, uint8_t fill) {
  memset(b, 0, 12);
  b[0] = 0x80, b[1] = 96;
  b[2] = (uint8_t)(seq >> 8), b[3] = (uint8_t)seq;
  b[8] = (uint8_t)(ssrc >> 24), b[9] = (uint8_t)(ssrc >> 16), b[10] = (uint8_t)(ssrc >> 8),
  b[11] = (uint8_t)ssrc;
  memset(b + 12, fill, 40);
  return 52;
}

static size_t make_rr(uint8_t *b, uint32_t ssrc) {
  static const uint8_t rr[] = {0x80, 201, 0x00, 0x01, 0, 0, 0, 0};
  memcpy(b, rr, sizeof rr);
  b[4] = (uint8_t)(ssrc >> 24), b[5] = (uint8_t)(ssrc >> 16), b[6] = (uint8_t)(ssrc >> 8),
  b[7] = (uint8_t)ssrc;
  return sizeof rr;
}

/* Protects an RTP packet with tx and unprotects it with rx: rx's verdict. */
static int send_rtp(sfu_srtp_t *tx, sfu_srtp_t *rx, uint16_t seq, uint32_t ssrc) {
  uint8_t b[128];
  size_t len = make_rtp(b, seq, ssrc, 0x5a);
  if (sfu_srtp_protect_rtp(tx, b, &len, sizeof b) != 0) return -9999;
  return sfu_srtp_unprotect_rtp(rx, b, &len);
}

static int send_rr(sfu_srtp_t *tx, sfu_srtp_t *rx, uint32_t ssrc) {
  uint8_t b[128];
  size_t len = make_rr(b, ssrc);
  if (sfu_srtp_protect_rtcp(tx, b, &len, sizeof b) != 0) return -9999;
  return sfu_srtp_unprotect_rtcp(rx, b, &len);
}

/* ---- item 9: state shrinks ---- */

TEST(inbound_200_ssrcs_then_a_new_one) {
  sfu_srtp_t *tx, *rx;
  pair(&tx, &rx);
  REQUIRE(tx && rx);
  /* Tracks added and removed over a long meeting: each SSRC sends a little, then stops. */
  for (uint32_t i = 0; i < 200; i++) {
    for (uint16_t q = 0; q < 3; q++)
      CHECK_EQ_INT(send_rtp(tx, rx, (uint16_t)(100 + q), 0x1000 + i), 0);
    CHECK_EQ_INT(send_rr(tx, rx, 0x1000 + i), 0);
  }
  CHECK_EQ_INT(send_rtp(tx, rx, 7, 0xabcdef), 0);
  CHECK_EQ_INT(send_rr(tx, rx, 0xabcdef), 0);
  /* the recent ones still work, and the bound holds */
  CHECK_EQ_INT(send_rtp(tx, rx, 103, 0x1000 + 199), 0);
  CHECK(sfu_srtp_stats(rx)->ssrcs_in <= SFU_SRTP_MAX_STREAMS_IN);
  CHECK(sfu_srtp_stats(rx)->ssrcs_evicted >= 200 + 1 - SFU_SRTP_MAX_STREAMS_IN);
  CHECK_EQ_INT(sfu_srtp_stats(rx)->rtp_in, 200 * 3 + 2);
  sfu_srtp_free(tx);
  sfu_srtp_free(rx);
}

TEST(outbound_600_ssrcs_then_a_new_one) {
  sfu_srtp_t *tx, *rx;
  pair(&tx, &rx);
  REQUIRE(tx && rx);
  uint8_t b[128];
  for (uint32_t i = 0; i < 600; i++)
    for (uint16_t q = 0; q < 2; q++) {
      size_t len = make_rtp(b, q, 0x2000 + i, 1);
      CHECK_EQ_INT(sfu_srtp_protect_rtp(rx, b, &len, sizeof b), 0);
      len = make_rr(b, 0x2000 + i);
      CHECK_EQ_INT(sfu_srtp_protect_rtcp(rx, b, &len, sizeof b), 0);
    }
  size_t len = make_rtp(b, 1, 0xfeed, 1);
  CHECK_EQ_INT(sfu_srtp_protect_rtp(rx, b, &len, sizeof b), 0);
  CHECK_EQ_INT(sfu_srtp_unprotect_rtp(tx, b, &len), 0);
  CHECK(sfu_srtp_stats(rx)->ssrcs_out <= SFU_SRTP_MAX_STREAMS_OUT);
  sfu_srtp_free(tx);
  sfu_srtp_free(rx);
}

/* An evicted SSRC's old packets are replays, not a fresh stream: the tombstone keeps its
 * highest indexes. Newer packets of it are accepted again. */
TEST(evicted_ssrc_keeps_replay_protection) {
  sfu_srtp_t *tx, *rx;
  pair(&tx, &rx);
  REQUIRE(tx && rx);
  uint8_t old[128], oldc[128];
  size_t ol = make_rtp(old, 500, 0x77, 0x33), ocl = make_rr(oldc, 0x77);
  CHECK_EQ_INT(sfu_srtp_protect_rtp(tx, old, &ol, sizeof old), 0);
  CHECK_EQ_INT(sfu_srtp_protect_rtcp(tx, oldc, &ocl, sizeof oldc), 0);
  uint8_t c[128];
  size_t cl = ol;
  memcpy(c, old, ol);
  CHECK_EQ_INT(sfu_srtp_unprotect_rtp(rx, c, &cl), 0);
  cl = ocl;
  memcpy(c, oldc, ocl);
  CHECK_EQ_INT(sfu_srtp_unprotect_rtcp(rx, c, &cl), 0);
  CHECK_EQ_INT(send_rtp(tx, rx, 501, 0x77), 0);
  /* enough newer SSRCs to push 0x77 out of the table */
  for (uint32_t i = 0; i < 2 * SFU_SRTP_MAX_STREAMS_IN; i++)
    CHECK_EQ_INT(send_rtp(tx, rx, 1, 0x3000 + i), 0);
  CHECK(sfu_srtp_stats(rx)->ssrcs_evicted > 0);
  cl = ol;
  memcpy(c, old, ol);
  CHECK_EQ_INT(sfu_srtp_unprotect_rtp(rx, c, &cl), SFU_EREPLAY);
  cl = ocl;
  memcpy(c, oldc, ocl);
  CHECK_EQ_INT(sfu_srtp_unprotect_rtcp(rx, c, &cl), SFU_EREPLAY);
  CHECK_EQ_INT(send_rtp(tx, rx, 502, 0x77), 0); /* the stream comes back */
  CHECK_EQ_INT(send_rr(tx, rx, 0x77), 0);
  sfu_srtp_free(tx);
  sfu_srtp_free(rx);
}

/* RTCP BYE (or renegotiation) removes an SSRC: its state shrinks to a tombstone, and a
 * replay of its packets — the BYE itself included — stays refused. */
TEST(removed_ssrc_keeps_replay_protection) {
  sfu_srtp_t *tx, *rx;
  pair(&tx, &rx);
  REQUIRE(tx && rx);
  uint8_t old[128], bye[128], c[128];
  size_t ol = make_rtp(old, 40, 0x99, 0x44), bl = make_rr(bye, 0x99), cl;
  bye[1] = 203; /* BYE, SC = 1, SSRC 0x99 */
  CHECK_EQ_INT(sfu_srtp_protect_rtp(tx, old, &ol, sizeof old), 0);
  CHECK_EQ_INT(sfu_srtp_protect_rtcp(tx, bye, &bl, sizeof bye), 0);
  cl = ol, memcpy(c, old, ol);
  CHECK_EQ_INT(sfu_srtp_unprotect_rtp(rx, c, &cl), 0);
  cl = bl, memcpy(c, bye, bl);
  CHECK_EQ_INT(sfu_srtp_unprotect_rtcp(rx, c, &cl), 0);
  unsigned live = (unsigned)sfu_srtp_stats(rx)->ssrcs_in;
  CHECK_EQ_INT(sfu_srtp_remove_ssrc(rx, 0x99, 0), 0);
  CHECK_EQ_INT(sfu_srtp_remove_ssrc(rx, 0x99, 0), SFU_ENOENT);
  CHECK_EQ_INT(sfu_srtp_stats(rx)->ssrcs_in, live - 1);
  cl = ol, memcpy(c, old, ol);
  CHECK_EQ_INT(sfu_srtp_unprotect_rtp(rx, c, &cl), SFU_EREPLAY);
  cl = bl, memcpy(c, bye, bl);
  CHECK_EQ_INT(sfu_srtp_unprotect_rtcp(rx, c, &cl), SFU_EREPLAY);
  CHECK_EQ_INT(send_rtp(tx, rx, 41, 0x99), 0);
  sfu_srtp_free(tx);
  sfu_srtp_free(rx);
}

/* Outbound: a removed or evicted SSRC never gets an index protected twice. */
TEST(outbound_removed_ssrc_never_reuses_an_index) {
  sfu_srtp_t *tx, *rx;
  pair(&tx, &rx);
  REQUIRE(tx && rx);
  uint8_t b[128];
  size_t len;
  for (uint16_t q = 10; q < 20; q++) CHECK_EQ_INT(send_rtp(tx, rx, q, 0x55), 0);
  CHECK_EQ_INT(sfu_srtp_remove_ssrc(tx, 0x55, 1), 0);
  len = make_rtp(b, 15, 0x55, 0x77); /* other bytes at an index already used */
  CHECK_EQ_INT(sfu_srtp_protect_rtp(tx, b, &len, sizeof b), SFU_EREPLAY);
  CHECK_EQ_INT(send_rtp(tx, rx, 20, 0x55), 0); /* continues above it */
  /* evicted by newer streams: the same */
  for (uint32_t i = 0; i < SFU_SRTP_MAX_STREAMS_OUT + 5; i++) {
    len = make_rtp(b, 1, 0x8000 + i, 1);
    CHECK_EQ_INT(sfu_srtp_protect_rtp(tx, b, &len, sizeof b), 0);
  }
  len = make_rtp(b, 19, 0x55, 0x78);
  CHECK_EQ_INT(sfu_srtp_protect_rtp(tx, b, &len, sizeof b), SFU_EREPLAY);
  CHECK_EQ_INT(send_rtp(tx, rx, 21, 0x55), 0);
  sfu_srtp_free(tx);
  sfu_srtp_free(rx);
}

/* An SSRC that comes back after its sequence numbers wrapped: ours resumes its ROC from
 * the tombstone; libsrtp2 cannot be told a stream's ROC and highest sequence number, so
 * that backend refuses it (SFU_EUNSUPP) rather than fail authentication (inbound) or
 * reuse an index (outbound); likewise its SRTCP index restarts at 1, so an outbound SSRC
 * that had sent SRTCP is refused there. The one documented difference (sfu/srtp.h). */
TEST(returning_ssrc_past_first_roc) {
  sfu_srtp_t *tx, *rx;
  pair(&tx, &rx);
  REQUIRE(tx && rx);
  int lib = g_backend == SFU_SRTP_BACKEND_LIBSRTP;
  for (uint32_t q = 65530; q < 65536 + 10; q++)
    CHECK_EQ_INT(send_rtp(tx, rx, (uint16_t)q, 0xaa), 0);
  CHECK_EQ_INT(send_rr(tx, rx, 0xaa), 0);
  /* inbound: the receiver ends it (a BYE), the sender goes on at ROC 1 */
  CHECK_EQ_INT(sfu_srtp_remove_ssrc(rx, 0xaa, 0), 0);
  CHECK_EQ_INT(send_rtp(tx, rx, 10, 0xaa), lib ? SFU_EUNSUPP : 0);
  CHECK_EQ_INT(send_rr(tx, rx, 0xaa), 0); /* SRTCP carries its index: fine on both */
  /* outbound: the sender ends it, then the stream comes back */
  CHECK_EQ_INT(sfu_srtp_remove_ssrc(tx, 0xaa, 1), 0);
  uint8_t b[128];
  size_t len = make_rtp(b, 11, 0xaa, 1);
  CHECK_EQ_INT(sfu_srtp_protect_rtp(tx, b, &len, sizeof b), lib ? SFU_EUNSUPP : 0);
  if (!lib) CHECK_EQ_INT(sfu_srtp_unprotect_rtp(rx, b, &len), 0);
  len = make_rr(b, 0xaa);
  CHECK_EQ_INT(sfu_srtp_protect_rtcp(tx, b, &len, sizeof b), lib ? SFU_EUNSUPP : 0);
  if (!lib) CHECK_EQ_INT(sfu_srtp_unprotect_rtcp(rx, b, &len), 0); /* a new index */
  /* an SSRC back at ROC 0 and without SRTCP history resumes on both */
  CHECK_EQ_INT(send_rtp(tx, rx, 100, 0xbb), 0);
  CHECK_EQ_INT(sfu_srtp_remove_ssrc(tx, 0xbb, 1), 0);
  CHECK_EQ_INT(sfu_srtp_remove_ssrc(rx, 0xbb, 0), 0);
  CHECK_EQ_INT(send_rtp(tx, rx, 101, 0xbb), 0);
  CHECK_EQ_INT(send_rr(tx, rx, 0xbb), 0);
  sfu_srtp_free(tx);
  sfu_srtp_free(rx);
}

/* ---- item 10: no index protected twice with different bytes ---- */

TEST(repeat_protect_different_bytes_refused) {
  sfu_srtp_t *tx, *rx;
  pair(&tx, &rx);
  REQUIRE(tx && rx);
  uint8_t a[128], a2[128], d[128];
  size_t la = make_rtp(a, 9, 1, 0x20), la2 = make_rtp(a2, 9, 1, 0x20), ld = make_rtp(d, 9, 1, 0x21);
  CHECK_EQ_INT(sfu_srtp_protect_rtp(tx, a, &la, sizeof a), 0);
  /* identical bytes again (a retransmission without RTX): allowed, identical output */
  CHECK_EQ_INT(sfu_srtp_protect_rtp(tx, a2, &la2, sizeof a2), 0);
  CHECK(la == la2 && memcmp(a, a2, la) == 0);
  /* other bytes at the same index: refused, and nothing usable is left in the buffer */
  CHECK_EQ_INT(sfu_srtp_protect_rtp(tx, d, &ld, sizeof d), SFU_EREPLAY);
  CHECK_EQ_INT(ld, 52);
  size_t l2 = la;
  uint8_t w[128] = {0};
  CHECK(memcmp(d, w, la) == 0);
  /* a different header (marker bit) is different bytes too */
  ld = make_rtp(d, 9, 1, 0x20);
  d[1] |= 0x80;
  CHECK_EQ_INT(sfu_srtp_protect_rtp(tx, d, &ld, sizeof d), SFU_EREPLAY);
  CHECK_EQ_INT(sfu_srtp_unprotect_rtp(rx, a, &l2), 0);
  /* an index never used, below the highest one (a reordered forward): fresh */
  ld = make_rtp(d, 8, 1, 0x22);
  CHECK_EQ_INT(sfu_srtp_protect_rtp(tx, d, &ld, sizeof d), 0);
  CHECK_EQ_INT(sfu_srtp_unprotect_rtp(rx, d, &ld), 0);
  /* same seq on another SSRC: another index */
  ld = make_rtp(d, 9, 2, 0x23);
  CHECK_EQ_INT(sfu_srtp_protect_rtp(tx, d, &ld, sizeof d), 0);
  sfu_srtp_free(tx);
  sfu_srtp_free(rx);
}

/* The digests of the last SFU_SRTP_TX_TAGS indexes are kept: an identical repeat within
 * them is allowed; an older repeat cannot be verified, so it is refused even if
 * identical (a retransmission that late goes on RTX, RFC 4588, with a new index). */
TEST(repeat_protect_window) {
  sfu_srtp_t *tx, *rx;
  pair(&tx, &rx);
  REQUIRE(tx && rx);
  uint8_t b[128];
  size_t len;
  for (uint16_t q = 0; q < 200; q++) {
    len = make_rtp(b, q, 3, (uint8_t)q);
    CHECK_EQ_INT(sfu_srtp_protect_rtp(tx, b, &len, sizeof b), 0);
  }
  uint16_t recent = 199 - (SFU_SRTP_TX_TAGS - 1), older = 199 - SFU_SRTP_TX_TAGS;
  len = make_rtp(b, recent, 3, (uint8_t)recent);
  CHECK_EQ_INT(sfu_srtp_protect_rtp(tx, b, &len, sizeof b), 0);
  CHECK_EQ_INT(sfu_srtp_unprotect_rtp(rx, b, &len), 0);
  len = make_rtp(b, older, 3, (uint8_t)older);
  CHECK_EQ_INT(sfu_srtp_protect_rtp(tx, b, &len, sizeof b), SFU_EREPLAY);
  /* beyond the 1024-index window: refused as before */
  for (uint16_t q = 200; q < 1300; q++) {
    len = make_rtp(b, q, 3, (uint8_t)q);
    CHECK_EQ_INT(sfu_srtp_protect_rtp(tx, b, &len, sizeof b), 0);
  }
  len = make_rtp(b, 100, 3, 7);
  CHECK_EQ_INT(sfu_srtp_protect_rtp(tx, b, &len, sizeof b), SFU_EREPLAY);
  /* across the rollover: seq 6 with ROC 1 is a new index, not a repeat of seq 6 (ROC 0) */
  CHECK_EQ_INT(send_rtp(tx, rx, 6, 4), 0);
  CHECK_EQ_INT(send_rtp(tx, rx, 1300, 4), 0);
  for (uint32_t q = 65001; q < 65536 + 6; q++) CHECK_EQ_INT(send_rtp(tx, rx, (uint16_t)q, 4), 0);
  len = make_rtp(b, 6, 4, 9);
  CHECK_EQ_INT(sfu_srtp_protect_rtp(tx, b, &len, sizeof b), 0);
  CHECK_EQ_INT(sfu_srtp_unprotect_rtp(rx, b, &len), 0);
  sfu_srtp_free(tx);
  sfu_srtp_free(rx);
}

static void run_all(void) {
  RUN(inbound_200_ssrcs_then_a_new_one);
  RUN(outbound_600_ssrcs_then_a_new_one);
  RUN(evicted_ssrc_keeps_replay_protection);
  RUN(removed_ssrc_keeps_replay_protection);
  RUN(outbound_removed_ssrc_never_reuses_an_index);
  RUN(returning_ssrc_past_first_roc);
  RUN(repeat_protect_different_bytes_refused);
  RUN(repeat_protect_window);
}

int main(void) {
  sfu_openssl_init();
  if (sfu_srtp_global_init() != 0) return 1;
  for (int b = 0; b < 2; b++)
    for (int p = 0; p < 2; p++) {
      g_backend = b ? SFU_SRTP_BACKEND_LIBSRTP : SFU_SRTP_BACKEND_OPENSSL;
      g_profile = p ? SFU_SRTP_AEAD_AES_128_GCM : SFU_SRTP_AES128_CM_SHA1_80;
      printf("# backend %s, %s\n", sfu_srtp_backend_name(g_backend),
             sfu_srtp_profile_name(g_profile));
      run_all();
    }
  sfu_srtp_global_shutdown();
  return test_summary();
}
