/* libsrtp2 backend of sfu/srtp.h: the operator-selectable alternative
 * (--srtp-backend libsrtp) and the independent oracle the tests check the OpenSSL
 * transforms against. Debian's libsrtp2 is built on NSS, which allocates and keys a PK11
 * context per packet (docs/benchmarks.md): correct, but slow at scale.
 *
 * Two libsrtp sessions per transport: libsrtp allows one wildcard-SSRC template per
 * session, so inbound (ssrc_any_inbound, peer's key) and outbound (ssrc_any_outbound, our
 * key) are separate. libsrtp creates a stream context the first time it sees an SSRC, only
 * after that packet authenticated. Owner: the sfu_srtp_t; its loop thread. */
#include <arpa/inet.h>
#include <limits.h>
#include <srtp2/srtp.h>
#include <stdlib.h>
#include <string.h>

#include "proto/srtp_internal.h"
#include "sfu/err.h"
#include "sfu/log.h"

struct sfu_srtp_lib {
  srtp_t in, out;
};

static int g_inited;

int sfu_srtp_lib_global_init(void) {
  if (g_inited) return 0;
  srtp_err_status_t st = srtp_init();
  if (st != srtp_err_status_ok) {
    SFU_ERROR("srtp", "srtp_init failed: %d", (int)st);
    return SFU_ECRYPTO;
  }
  g_inited = 1;
  return 0;
}

void sfu_srtp_lib_global_shutdown(void) {
  if (!g_inited) return;
  srtp_shutdown();
  g_inited = 0;
}

/* One direction. key||salt is the master key layout libsrtp expects (policy.key). */
static int make_session(srtp_t *out, sfu_srtp_profile_t profile, const uint8_t *key,
                        const uint8_t *salt, size_t key_len, size_t salt_len, int outbound) {
  uint8_t master[16 + 14];
  srtp_policy_t p;
  memset(&p, 0, sizeof p);
  if (profile == SFU_SRTP_AEAD_AES_128_GCM) {
    /* RFC 7714 §14.2: AEAD_AES_128_GCM = 16-octet tag for SRTP and SRTCP. */
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&p.rtp);
    srtp_crypto_policy_set_aes_gcm_128_16_auth(&p.rtcp);
  } else {
    /* RFC 5764 §4.1.2: SRTP_AES128_CM_HMAC_SHA1_80 for both SRTP and SRTCP. */
    srtp_crypto_policy_set_rtp_default(&p.rtp);
    srtp_crypto_policy_set_rtcp_default(&p.rtcp);
  }
  memcpy(master, key, key_len);
  memcpy(master + key_len, salt, salt_len);
  p.key = master;
  p.ssrc.type = outbound ? ssrc_any_outbound : ssrc_any_inbound;
  p.window_size = SFU_SRTP_WINDOW;
  /* Outbound only: an RTX/NACK answer may be protected again with the same sequence
   * number; the payload is identical, so reusing the keystream leaks nothing. */
  p.allow_repeat_tx = outbound;
  p.next = NULL;
  srtp_err_status_t st = srtp_create(out, &p);
  memset(master, 0, sizeof master);
  if (st != srtp_err_status_ok) {
    SFU_ERROR("srtp", "srtp_create failed: %d", (int)st);
    *out = NULL;
    return SFU_ECRYPTO;
  }
  return 0;
}

sfu_srtp_lib_t *sfu_srtp_lib_new(sfu_srtp_profile_t profile, const uint8_t *peer_key,
                                 const uint8_t *peer_salt, const uint8_t *our_key,
                                 const uint8_t *our_salt, size_t key_len, size_t salt_len) {
  sfu_srtp_lib_t *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  if (make_session(&l->out, profile, our_key, our_salt, key_len, salt_len, 1) != 0 ||
      make_session(&l->in, profile, peer_key, peer_salt, key_len, salt_len, 0) != 0) {
    sfu_srtp_lib_free(l);
    return NULL;
  }
  return l;
}

void sfu_srtp_lib_free(sfu_srtp_lib_t *l) {
  if (!l) return;
  if (l->in) srtp_dealloc(l->in);
  if (l->out) srtp_dealloc(l->out);
  free(l);
}

static int map_err(srtp_err_status_t st) {
  switch (st) {
    case srtp_err_status_ok:
      return 0;
    case srtp_err_status_auth_fail:
      return SFU_EAUTH;
    case srtp_err_status_replay_fail:
    case srtp_err_status_replay_old:
      return SFU_EREPLAY;
    case srtp_err_status_bad_param:
    case srtp_err_status_parse_err:
      return SFU_EPARSE;
    default:
      return SFU_ECRYPTO;
  }
}

int sfu_srtp_lib_unprotect(sfu_srtp_lib_t *l, int rtcp, uint8_t *buf, size_t *len) {
  if (*len > INT_MAX) return SFU_ETOOBIG;
  int n = (int)*len;
  srtp_err_status_t st = rtcp ? srtp_unprotect_rtcp(l->in, buf, &n) : srtp_unprotect(l->in, buf, &n);
  if (st != srtp_err_status_ok) return map_err(st);
  *len = (size_t)n;
  return 0;
}

int sfu_srtp_lib_protect(sfu_srtp_lib_t *l, int rtcp, uint8_t *buf, size_t *len) {
  if (*len > INT_MAX) return SFU_ETOOBIG;
  int n = (int)*len;
  srtp_err_status_t st = rtcp ? srtp_protect_rtcp(l->out, buf, &n) : srtp_protect(l->out, buf, &n);
  if (st != srtp_err_status_ok) {
    SFU_DEBUG("srtp", "libsrtp protect failed: %d", (int)st);
    return SFU_ECRYPTO;
  }
  *len = (size_t)n;
  return 0;
}

int sfu_srtp_lib_remove_ssrc(sfu_srtp_lib_t *l, uint32_t ssrc, int outbound) {
  /* libsrtp takes the SSRC in network byte order here. */
  srtp_err_status_t st = srtp_remove_stream(outbound ? l->out : l->in, htonl(ssrc));
  return st == srtp_err_status_ok ? 0 : SFU_ENOENT;
}
