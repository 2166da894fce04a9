/* libFuzzer target: SRTP/SRTCP, the project's own transforms (src/proto/srtp_ossl.c)
 * checked against libsrtp2 on the same keys.
 *
 * Input: one flags byte, then a packet P.
 *   flags bit 0   profile: AES_CM_128_HMAC_SHA1_80 or AEAD_AES_128_GCM
 *   flags bit 1   tamper: flip one bit of the protected packet before unprotecting
 *   flags >> 2    which byte to flip
 * Sessions are made once per profile (a libsrtp2 session costs milliseconds); after each
 * input the SSRCs it touched are forgotten by every session — sfu_srtp_forget_ssrc, not
 * sfu_srtp_remove_ssrc, whose tombstone would keep their indexes used — so no state is
 * carried between inputs (reproducible findings):
 *  1. P as received SRTP and as received SRTCP: a fuzzer cannot forge a tag, so
 *     unprotecting it must fail, and must not crash.
 *  2. P as plain RTP and as plain RTCP, protected by both backends' client side: both
 *     accept or both refuse it, and accepted output is byte-identical (the transforms are
 *     deterministic). Then our server side unprotects it: the original comes back, or,
 *     tampered, it is refused.
 *  3. P as plain RTP protected again by both clients (the same index): identical bytes
 *     give identical output; with its last byte changed, both refuse (SFU_EREPLAY, the
 *     buffer wiped) — never a second ciphertext under one index. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/srtp_internal.h" /* sfu_srtp_forget_ssrc */
#include "sfu/err.h"
#include "sfu/srtp.h"

#define CHECK(x)       \
  do {                 \
    if (!(x)) abort(); \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXPKT 1500
#define ROOM 64 /* room for the trailer (and the SRTCP index) */

static sfu_srtp_keys_t keys(sfu_srtp_profile_t p) {
  sfu_srtp_keys_t k;
  memset(&k, 0, sizeof k);
  k.profile = p;
  k.key_len = 16;
  k.salt_len = p == SFU_SRTP_AEAD_AES_128_GCM ? 12 : 14;
  for (int i = 0; i < 16; i++)
    k.client_key[i] = (uint8_t)(i * 7), k.server_key[i] = (uint8_t)(0x40 + i);
  for (int i = 0; i < 14; i++)
    k.client_salt[i] = (uint8_t)(0x80 + i), k.server_salt[i] = (uint8_t)(0xC0 + i);
  return k;
}

/* Protect p with both client backends; compare; unprotect with our server. */
static void round_trip(sfu_srtp_t *cli_o, sfu_srtp_t *cli_l, sfu_srtp_t *srv_o, int rtcp,
                       const uint8_t *p, size_t n, unsigned flags) {
  uint8_t a[MAXPKT + ROOM], b[MAXPKT + ROOM];
  size_t la = n, lb = n;
  memcpy(a, p, n);
  memcpy(b, p, n);
  int ra = rtcp ? sfu_srtp_protect_rtcp(cli_o, a, &la, sizeof a)
                : sfu_srtp_protect_rtp(cli_o, a, &la, sizeof a);
  int rb = rtcp ? sfu_srtp_protect_rtcp(cli_l, b, &lb, sizeof b)
                : sfu_srtp_protect_rtp(cli_l, b, &lb, sizeof b);
  CHECK((ra == 0) == (rb == 0));
  if (ra != 0) return;
  CHECK(la == lb && memcmp(a, b, la) == 0);
  CHECK(la == n + sfu_srtp_trailer_len(cli_o, rtcp));
  int tamper = flags & 2;
  if (tamper) a[(flags >> 2) % la] ^= 1;
  int ru = rtcp ? sfu_srtp_unprotect_rtcp(srv_o, a, &la) : sfu_srtp_unprotect_rtp(srv_o, a, &la);
  if (tamper) {
    /* Every byte of the output is covered by the tag or is the tag (SRTCP's E flag and
     * index included), so any flipped bit is refused. */
    CHECK(ru != 0);
  } else {
    CHECK(ru == 0 && la == n && memcmp(a, p, n) == 0);
  }
}

/* RTP only (an SRTCP index is never repeated: the sender picks the next one). */
static void repeat(sfu_srtp_t *cli_o, sfu_srtp_t *cli_l, const uint8_t *p, size_t n) {
  uint8_t a[MAXPKT + ROOM], b[MAXPKT + ROOM], first[MAXPKT + ROOM];
  size_t la = n, lb = n, lf = n;
  memcpy(first, p, n);
  if (sfu_srtp_protect_rtp(cli_o, first, &lf, sizeof first) != 0) return; /* not RTP */
  memcpy(a, p, n);
  memcpy(b, p, n);
  int ra = sfu_srtp_protect_rtp(cli_o, a, &la, sizeof a);
  int rb = sfu_srtp_protect_rtp(cli_l, b, &lb, sizeof b);
  CHECK(ra == 0 && rb == 0 && la == lf && lb == lf && memcmp(a, first, lf) == 0 &&
        memcmp(b, first, lf) == 0);
  if (n <= 12) return; /* no payload byte to change */
  memcpy(a, p, n);
  memcpy(b, p, n);
  a[n - 1] ^= 0x01;
  b[n - 1] ^= 0x01;
  la = lb = n;
  ra = sfu_srtp_protect_rtp(cli_o, a, &la, sizeof a);
  rb = sfu_srtp_protect_rtp(cli_l, b, &lb, sizeof b);
  CHECK(ra == rb && la == n && lb == n);
  /* SFU_EINVAL: the byte was an extension length, and the header no longer fits */
  CHECK(ra == SFU_EREPLAY || ra == SFU_EINVAL);
  if (ra == SFU_EREPLAY)
    for (size_t i = 0; i < n; i++) CHECK(a[i] == 0 && b[i] == 0);
}

static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Forgets one SSRC in every session (unknown ones: SFU_ENOENT, fine). */
static void forget(sfu_srtp_t *srv_o, sfu_srtp_t *cli_o, sfu_srtp_t *cli_l, uint32_t ssrc) {
  sfu_srtp_forget_ssrc(srv_o, ssrc, 0);
  sfu_srtp_forget_ssrc(cli_o, ssrc, 1);
  sfu_srtp_forget_ssrc(cli_l, ssrc, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* [profile][0 our server, 1 our client, 2 libsrtp client] */
  static sfu_srtp_t *sess[2][3];
  if (!sess[0][0]) {
    CHECK(sfu_srtp_global_init() == 0);
    for (int g = 0; g < 2; g++) {
      sfu_srtp_keys_t k = keys(g ? SFU_SRTP_AEAD_AES_128_GCM : SFU_SRTP_AES128_CM_SHA1_80);
      sess[g][0] = sfu_srtp_new_backend(&k, 1, SFU_SRTP_BACKEND_OPENSSL);
      sess[g][1] = sfu_srtp_new_backend(&k, 0, SFU_SRTP_BACKEND_OPENSSL);
      sess[g][2] = sfu_srtp_new_backend(&k, 0, SFU_SRTP_BACKEND_LIBSRTP);
      CHECK(sess[g][0] && sess[g][1] && sess[g][2]);
    }
  }
  if (size < 1 || size - 1 > MAXPKT) return 0;
  unsigned flags = data[0];
  const uint8_t *p = data + 1;
  size_t n = size - 1;
  sfu_srtp_t *srv_o = sess[flags & 1][0], *cli_o = sess[flags & 1][1], *cli_l = sess[flags & 1][2];

  uint8_t buf[MAXPKT + ROOM];
  size_t len = n;
  memcpy(buf, p, n);
  CHECK(sfu_srtp_unprotect_rtp(srv_o, buf, &len) != 0);
  len = n;
  memcpy(buf, p, n);
  CHECK(sfu_srtp_unprotect_rtcp(srv_o, buf, &len) != 0);

  round_trip(cli_o, cli_l, srv_o, 0, p, n, flags);
  round_trip(cli_o, cli_l, srv_o, 1, p, n, flags);
  /* The same packet again: a repeat of the same index with the same bytes is allowed and
   * gives the same bytes on both backends (the repeat guard, srtp_stream.c); with one
   * byte changed it is refused by both, and nothing protected is left. */
  repeat(cli_o, cli_l, p, n);

  /* Forget what this input created: the RTP SSRC (bytes 8..11) and the RTCP sender SSRC
   * (bytes 4..7), whichever exist. */
  if (n >= 12) forget(srv_o, cli_o, cli_l, rd32(p + 8));
  if (n >= 8) forget(srv_o, cli_o, cli_l, rd32(p + 4));
  return 0;
}
