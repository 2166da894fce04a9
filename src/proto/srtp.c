/* libsrtp2 wrapper: SRTP/SRTCP for one DTLS-SRTP transport; thread rules in sfu/srtp.h. */
#include "sfu/srtp.h"

#include <arpa/inet.h>
#include <limits.h>
#include <srtp2/srtp.h>
#include <stdlib.h>
#include <string.h>

#include "sfu/bytes.h"
#include "sfu/err.h"
#include "sfu/log.h"

/* Replay window (RFC 3711 §3.3.2 says at least 64). Video bursts and NACK-driven
 * reordering can put a late packet hundreds behind the newest one; 1024 keeps it. */
#define REPLAY_WINDOW 1024

/* Owner: the transport (sfu_srtp_new / sfu_srtp_free); one loop thread. */
struct sfu_srtp {
  srtp_t in, out;
  sfu_srtp_profile_t profile;
  size_t rtp_trailer, rtcp_trailer;
  sfu_srtp_stats_t stats;
};

static int g_inited;

int sfu_srtp_global_init(void) {
  if (g_inited) return 0;
  srtp_err_status_t st = srtp_init();
  if (st != srtp_err_status_ok) {
    SFU_ERROR("srtp", "srtp_init failed: %d", (int)st);
    return SFU_ECRYPTO;
  }
  g_inited = 1;
  return 0;
}

void sfu_srtp_global_shutdown(void) {
  if (!g_inited) return;
  srtp_shutdown();
  g_inited = 0;
}

const char *sfu_srtp_profile_name(sfu_srtp_profile_t p) {
  switch (p) {
    case SFU_SRTP_AEAD_AES_128_GCM:
      return "AEAD_AES_128_GCM";
    case SFU_SRTP_AES128_CM_SHA1_80:
      return "AES_CM_128_HMAC_SHA1_80";
  }
  return "unknown";
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
  p.window_size = REPLAY_WINDOW;
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

sfu_srtp_t *sfu_srtp_new(const sfu_srtp_keys_t *k, int is_server) {
  if (!k || k->key_len != 16) return NULL;
  if (!(k->profile == SFU_SRTP_AEAD_AES_128_GCM && k->salt_len == 12) &&
      !(k->profile == SFU_SRTP_AES128_CM_SHA1_80 && k->salt_len == 14))
    return NULL;
  sfu_srtp_t *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->profile = k->profile;
  int gcm = k->profile == SFU_SRTP_AEAD_AES_128_GCM;
  s->rtp_trailer = gcm ? 16 : 10;
  s->rtcp_trailer = s->rtp_trailer + 4; /* E flag + SRTCP index, RFC 3711 §3.4 */
  const uint8_t *our_key = is_server ? k->server_key : k->client_key;
  const uint8_t *our_salt = is_server ? k->server_salt : k->client_salt;
  const uint8_t *peer_key = is_server ? k->client_key : k->server_key;
  const uint8_t *peer_salt = is_server ? k->client_salt : k->server_salt;
  if (make_session(&s->out, k->profile, our_key, our_salt, k->key_len, k->salt_len, 1) != 0 ||
      make_session(&s->in, k->profile, peer_key, peer_salt, k->key_len, k->salt_len, 0) != 0) {
    sfu_srtp_free(s);
    return NULL;
  }
  return s;
}

void sfu_srtp_free(sfu_srtp_t *s) {
  if (!s) return;
  if (s->in) srtp_dealloc(s->in);
  if (s->out) srtp_dealloc(s->out);
  free(s);
}

static int map_err(sfu_srtp_t *s, srtp_err_status_t st) {
  switch (st) {
    case srtp_err_status_auth_fail:
      s->stats.auth_fail++;
      return SFU_EAUTH;
    case srtp_err_status_replay_fail:
    case srtp_err_status_replay_old:
      s->stats.replay++;
      return SFU_EREPLAY;
    case srtp_err_status_bad_param:
    case srtp_err_status_parse_err:
      s->stats.other_fail++;
      return SFU_EPARSE;
    default:
      s->stats.other_fail++;
      return SFU_ECRYPTO;
  }
}

/* RTP header length (RFC 3550 §5.1, extension §5.3.1) or 0 if it does not fit. libsrtp
 * checks this too; checking here keeps garbage away from it whatever its version. */
static size_t rtp_header_len(const uint8_t *b, size_t len) {
  if (len < 12 || (b[0] >> 6) != 2) return 0;
  size_t h = 12 + 4u * (b[0] & 0x0f);
  if (b[0] & 0x10) {
    if (h + 4 > len) return 0;
    h += 4 + 4u * sfu_rd16(b + h + 2);
  }
  return h <= len ? h : 0;
}

int sfu_srtp_unprotect_rtp(sfu_srtp_t *s, uint8_t *buf, size_t *len) {
  if (*len > INT_MAX) return SFU_ETOOBIG;
  size_t h = rtp_header_len(buf, *len);
  if (!h || *len < h + s->rtp_trailer) {
    s->stats.other_fail++;
    return SFU_EPARSE;
  }
  int n = (int)*len;
  srtp_err_status_t st = srtp_unprotect(s->in, buf, &n);
  if (st != srtp_err_status_ok) return map_err(s, st);
  *len = (size_t)n;
  s->stats.rtp_in++;
  return 0;
}

int sfu_srtp_unprotect_rtcp(sfu_srtp_t *s, uint8_t *buf, size_t *len) {
  if (*len > INT_MAX) return SFU_ETOOBIG;
  if (*len < 8 + s->rtcp_trailer || (buf[0] >> 6) != 2) {
    s->stats.other_fail++;
    return SFU_EPARSE;
  }
  int n = (int)*len;
  srtp_err_status_t st = srtp_unprotect_rtcp(s->in, buf, &n);
  if (st != srtp_err_status_ok) return map_err(s, st);
  *len = (size_t)n;
  s->stats.rtcp_in++;
  return 0;
}

int sfu_srtp_protect_rtp(sfu_srtp_t *s, uint8_t *buf, size_t *len, size_t cap) {
  if (!rtp_header_len(buf, *len)) return SFU_EINVAL;
  if (*len + s->rtp_trailer > cap || cap > INT_MAX) return SFU_ETOOBIG;
  int n = (int)*len;
  srtp_err_status_t st = srtp_protect(s->out, buf, &n);
  if (st != srtp_err_status_ok) {
    SFU_DEBUG("srtp", "srtp_protect failed: %d", (int)st);
    return SFU_ECRYPTO;
  }
  *len = (size_t)n;
  s->stats.rtp_out++;
  return 0;
}

int sfu_srtp_protect_rtcp(sfu_srtp_t *s, uint8_t *buf, size_t *len, size_t cap) {
  if (*len < 8 || (buf[0] >> 6) != 2) return SFU_EINVAL;
  if (*len + s->rtcp_trailer > cap || cap > INT_MAX) return SFU_ETOOBIG;
  int n = (int)*len;
  srtp_err_status_t st = srtp_protect_rtcp(s->out, buf, &n);
  if (st != srtp_err_status_ok) {
    SFU_DEBUG("srtp", "srtp_protect_rtcp failed: %d", (int)st);
    return SFU_ECRYPTO;
  }
  *len = (size_t)n;
  s->stats.rtcp_out++;
  return 0;
}

size_t sfu_srtp_trailer_len(const sfu_srtp_t *s, int rtcp) {
  return rtcp ? s->rtcp_trailer : s->rtp_trailer;
}

int sfu_srtp_remove_ssrc(sfu_srtp_t *s, uint32_t ssrc, int outbound) {
  /* libsrtp takes the SSRC in network byte order here. */
  srtp_err_status_t st = srtp_remove_stream(outbound ? s->out : s->in, htonl(ssrc));
  return st == srtp_err_status_ok ? 0 : SFU_ENOENT;
}

const sfu_srtp_stats_t *sfu_srtp_stats(const sfu_srtp_t *s) { return &s->stats; }
