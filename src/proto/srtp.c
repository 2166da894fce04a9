/* SRTP/SRTCP for one DTLS-SRTP transport: the public API of sfu/srtp.h, the checks both
 * backends share, the statistics. The transforms live in srtp_ossl.c (default) and
 * srtp_libsrtp.c; thread rules in sfu/srtp.h. */
#include "sfu/srtp.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "proto/srtp_internal.h"
#include "sfu/bytes.h"
#include "sfu/err.h"

/* Owner: the transport (sfu_srtp_new / sfu_srtp_free); one loop thread. Exactly one of
 * ossl / lib is set. */
struct sfu_srtp {
  sfu_srtp_backend_t backend;
  sfu_srtp_profile_t profile;
  size_t rtp_trailer, rtcp_trailer;
  sfu_srtp_stats_t stats;
  sfu_srtp_ossl_t *ossl;
  sfu_srtp_lib_t *lib;
};

/* Written once by main before any loop starts (sfu_srtp_set_backend), read-only after. */
static sfu_srtp_backend_t g_backend = SFU_SRTP_BACKEND_OPENSSL;

int sfu_srtp_global_init(void) { return sfu_srtp_lib_global_init(); }

void sfu_srtp_global_shutdown(void) { sfu_srtp_lib_global_shutdown(); }

int sfu_srtp_set_backend(sfu_srtp_backend_t b) {
  if (b != SFU_SRTP_BACKEND_OPENSSL && b != SFU_SRTP_BACKEND_LIBSRTP) return SFU_EINVAL;
  g_backend = b;
  return 0;
}

sfu_srtp_backend_t sfu_srtp_get_backend(void) { return g_backend; }

const char *sfu_srtp_backend_name(sfu_srtp_backend_t b) {
  switch (b) {
    case SFU_SRTP_BACKEND_OPENSSL:
      return "openssl";
    case SFU_SRTP_BACKEND_LIBSRTP:
      return "libsrtp";
  }
  return "unknown";
}

int sfu_srtp_backend_parse(const char *s, sfu_srtp_backend_t *out) {
  if (s && strcmp(s, "openssl") == 0) *out = SFU_SRTP_BACKEND_OPENSSL;
  else if (s && strcmp(s, "libsrtp") == 0) *out = SFU_SRTP_BACKEND_LIBSRTP;
  else return SFU_EINVAL;
  return 0;
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

static sfu_srtp_ossl_t *ossl_from_master(const sfu_srtp_keys_t *k, const uint8_t *peer_key,
                                         const uint8_t *peer_salt, const uint8_t *our_key,
                                         const uint8_t *our_salt) {
  int gcm = k->profile == SFU_SRTP_AEAD_AES_128_GCM;
  sfu_srtp_dir_keys_t in, out;
  sfu_srtp_ossl_t *o = NULL;
  if (sfu_srtp_derive(gcm, peer_key, peer_salt, k->salt_len, &in) == 0 &&
      sfu_srtp_derive(gcm, our_key, our_salt, k->salt_len, &out) == 0)
    o = sfu_srtp_ossl_new(gcm, &in, &out);
  OPENSSL_cleanse(&in, sizeof in);
  OPENSSL_cleanse(&out, sizeof out);
  return o;
}

sfu_srtp_t *sfu_srtp_new_backend(const sfu_srtp_keys_t *k, int is_server,
                                 sfu_srtp_backend_t backend) {
  if (!k || k->key_len != 16) return NULL;
  if (!(k->profile == SFU_SRTP_AEAD_AES_128_GCM && k->salt_len == 12) &&
      !(k->profile == SFU_SRTP_AES128_CM_SHA1_80 && k->salt_len == 14))
    return NULL;
  if (backend != SFU_SRTP_BACKEND_OPENSSL && backend != SFU_SRTP_BACKEND_LIBSRTP) return NULL;
  sfu_srtp_t *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->backend = backend;
  s->profile = k->profile;
  int gcm = k->profile == SFU_SRTP_AEAD_AES_128_GCM;
  s->rtp_trailer = gcm ? 16 : 10;
  s->rtcp_trailer = s->rtp_trailer + 4; /* E flag + SRTCP index, RFC 3711 §3.4 */
  /* RFC 5764 §4.2: each side writes with its own key: the server with server_write_*. */
  const uint8_t *our_key = is_server ? k->server_key : k->client_key;
  const uint8_t *our_salt = is_server ? k->server_salt : k->client_salt;
  const uint8_t *peer_key = is_server ? k->client_key : k->server_key;
  const uint8_t *peer_salt = is_server ? k->client_salt : k->server_salt;
  if (backend == SFU_SRTP_BACKEND_OPENSSL)
    s->ossl = ossl_from_master(k, peer_key, peer_salt, our_key, our_salt);
  else
    s->lib = sfu_srtp_lib_new(k->profile, peer_key, peer_salt, our_key, our_salt, k->key_len,
                              k->salt_len);
  if (!s->ossl && !s->lib) {
    free(s);
    return NULL;
  }
  return s;
}

sfu_srtp_t *sfu_srtp_new(const sfu_srtp_keys_t *k, int is_server) {
  return sfu_srtp_new_backend(k, is_server, g_backend);
}

void sfu_srtp_free(sfu_srtp_t *s) {
  if (!s) return;
  sfu_srtp_ossl_free(s->ossl);
  sfu_srtp_lib_free(s->lib);
  free(s);
}

sfu_srtp_backend_t sfu_srtp_backend(const sfu_srtp_t *s) { return s->backend; }

static int count_in_err(sfu_srtp_t *s, int rc) {
  if (rc == SFU_EAUTH) s->stats.auth_fail++;
  else if (rc == SFU_EREPLAY) s->stats.replay++;
  else s->stats.other_fail++;
  return rc;
}

/* RTP header length (RFC 3550 §5.1, extension §5.3.1) or 0 if it does not fit. Both
 * backends get only packets that pass it, so garbage never reaches the crypto. */
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
  if (!h || *len < h + s->rtp_trailer) return count_in_err(s, SFU_EPARSE);
  int rc = s->ossl ? sfu_srtp_ossl_unprotect_rtp(s->ossl, buf, len, h)
                   : sfu_srtp_lib_unprotect(s->lib, 0, buf, len);
  if (rc) return count_in_err(s, rc);
  s->stats.rtp_in++;
  return 0;
}

int sfu_srtp_unprotect_rtcp(sfu_srtp_t *s, uint8_t *buf, size_t *len) {
  if (*len > INT_MAX) return SFU_ETOOBIG;
  if (*len < 8 + s->rtcp_trailer || (buf[0] >> 6) != 2) return count_in_err(s, SFU_EPARSE);
  int rc = s->ossl ? sfu_srtp_ossl_unprotect_rtcp(s->ossl, buf, len)
                   : sfu_srtp_lib_unprotect(s->lib, 1, buf, len);
  if (rc) return count_in_err(s, rc);
  s->stats.rtcp_in++;
  return 0;
}

int sfu_srtp_protect_rtp(sfu_srtp_t *s, uint8_t *buf, size_t *len, size_t cap) {
  size_t h = rtp_header_len(buf, *len);
  if (!h) return SFU_EINVAL;
  if (*len + s->rtp_trailer > cap || cap > INT_MAX) return SFU_ETOOBIG;
  int rc = s->ossl ? sfu_srtp_ossl_protect_rtp(s->ossl, buf, len, h)
                   : sfu_srtp_lib_protect(s->lib, 0, buf, len);
  if (rc) return rc;
  s->stats.rtp_out++;
  return 0;
}

int sfu_srtp_protect_rtcp(sfu_srtp_t *s, uint8_t *buf, size_t *len, size_t cap) {
  if (*len < 8 || (buf[0] >> 6) != 2) return SFU_EINVAL;
  if (*len + s->rtcp_trailer > cap || cap > INT_MAX) return SFU_ETOOBIG;
  int rc = s->ossl ? sfu_srtp_ossl_protect_rtcp(s->ossl, buf, len)
                   : sfu_srtp_lib_protect(s->lib, 1, buf, len);
  if (rc) return rc;
  s->stats.rtcp_out++;
  return 0;
}

size_t sfu_srtp_trailer_len(const sfu_srtp_t *s, int rtcp) {
  return rtcp ? s->rtcp_trailer : s->rtp_trailer;
}

int sfu_srtp_remove_ssrc(sfu_srtp_t *s, uint32_t ssrc, int outbound) {
  return s->ossl ? sfu_srtp_ossl_remove_ssrc(s->ossl, ssrc, outbound)
                 : sfu_srtp_lib_remove_ssrc(s->lib, ssrc, outbound);
}

const sfu_srtp_stats_t *sfu_srtp_stats(const sfu_srtp_t *s) { return &s->stats; }
