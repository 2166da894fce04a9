/* SRTP/SRTCP for one DTLS-SRTP transport: the public API of sfu/srtp.h and the steps of
 * RFC 3711 §3.3 / §3.4 both backends share — index estimation, replay check, per-SSRC
 * state with its bounds and tombstones, the sender's repeat guard — so that the two
 * behave alike by construction; the statistics. The transforms live in srtp_ossl.c
 * (default) and srtp_libsrtp.c (which also re-checks replay and estimates ROC on its own,
 * an independent second opinion); thread rules in sfu/srtp.h. */
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
  sfu_srtp_streams_t in, out; /* the peer's SSRCs, ours */
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
  if ((!s->ossl && !s->lib) || sfu_srtp_streams_init(&s->in, SFU_SRTP_MAX_STREAMS_IN, 0) ||
      sfu_srtp_streams_init(&s->out, SFU_SRTP_MAX_STREAMS_OUT, 1)) {
    sfu_srtp_free(s);
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
  sfu_srtp_streams_free(&s->in);
  sfu_srtp_streams_free(&s->out);
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

/* ---- per-SSRC state ---- */

/* The live stream of ssrc, or the state a new one would start from, in *tmp (not yet in
 * the table: inbound, only an authenticated packet may add it). */
static sfu_srtp_stream_t *stream_of(sfu_srtp_streams_t *t, uint32_t ssrc, sfu_srtp_stream_t *tmp) {
  sfu_srtp_stream_t *st = sfu_srtp_streams_find(t, ssrc);
  if (st) return st;
  sfu_srtp_streams_fresh(t, ssrc, tmp);
  return tmp;
}

/* Adds *tmp to the table; libsrtp2 forgets the stream evicted for it (its memory is
 * bounded by ours). *st: the stream in the table. */
static int keep(sfu_srtp_t *s, int outbound, uint32_t ssrc, const sfu_srtp_stream_t *tmp,
                sfu_srtp_stream_t **st) {
  uint32_t evicted;
  int rc = sfu_srtp_streams_add(outbound ? &s->out : &s->in, ssrc, tmp, st, &evicted);
  if (rc < 0) return rc;
  if (rc == 1) {
    s->stats.ssrcs_evicted++;
    if (s->lib) sfu_srtp_lib_remove_ssrc(s->lib, evicted, outbound);
  } else if (outbound) {
    s->stats.ssrcs_out++;
  } else {
    s->stats.ssrcs_in++;
  }
  return 0;
}

/* libsrtp2 restarted a returning SSRC at ROC 0 (srtp_remove_stream forgot it; its API
 * cannot set the highest sequence number back): beyond ROC 0 it would disagree with us —
 * inbound, fail authentication; outbound, reuse an index — so it is refused up front. */
static int lib_cannot_resume(const sfu_srtp_t *s, const sfu_srtp_stream_t *st, uint64_t idx) {
  return s->lib && st->rtp_restored && idx > 0xffff;
}

/* ---- SRTP / SRTCP ---- */

int sfu_srtp_unprotect_rtp(sfu_srtp_t *s, uint8_t *buf, size_t *len) {
  if (*len > INT_MAX) return SFU_ETOOBIG;
  size_t h = rtp_header_len(buf, *len);
  if (!h || *len < h + s->rtp_trailer) return count_in_err(s, SFU_EPARSE);
  uint32_t ssrc = sfu_rd32(buf + 8);
  sfu_srtp_stream_t tmp, *st = stream_of(&s->in, ssrc, &tmp);
  /* RFC 3711 §3.3 step 2: the index from ROC estimation (§3.3.1); a new stream starts at
   * ROC 0, a returning one where its tombstone says. */
  uint64_t idx = sfu_srtp_estimate_index(st->rtp_top, sfu_rd16(buf + 2));
  /* Steps 3/4: replay check (§3.3.2) before spending work on authentication. */
  if (sfu_srtp_window_check(st->rtp_win, SFU_SRTP_WINDOW, st->rtp_top, st->rtp_seen, idx))
    return count_in_err(s, SFU_EREPLAY);
  if (lib_cannot_resume(s, st, idx)) return count_in_err(s, SFU_EUNSUPP);
  int rc = s->ossl ? sfu_srtp_ossl_unprotect_rtp(s->ossl, buf, len, h, idx)
                   : sfu_srtp_lib_unprotect(s->lib, 0, buf, len);
  if (rc) return count_in_err(s, rc);
  /* Step 7: only an authenticated packet updates ROC, s_l and the window, and only an
   * authenticated packet may create (or evict) a stream: garbage never touches state. */
  if (st == &tmp && (rc = keep(s, 0, ssrc, &tmp, &st)) != 0) return count_in_err(s, rc);
  sfu_srtp_window_add(st->rtp_win, SFU_SRTP_WINDOW, &st->rtp_top, &st->rtp_seen, idx);
  st->rtp_restored = 0;
  s->stats.rtp_in++;
  return 0;
}

int sfu_srtp_unprotect_rtcp(sfu_srtp_t *s, uint8_t *buf, size_t *len) {
  if (*len > INT_MAX) return SFU_ETOOBIG;
  if (*len < 8 + s->rtcp_trailer || (buf[0] >> 6) != 2) return count_in_err(s, SFU_EPARSE);
  /* §3.4: E flag (1 bit) || SRTCP index (31 bits) || auth tag (AES-CM); RFC 7714 §9 puts
   * the tag before the E/index word. */
  int gcm = s->profile == SFU_SRTP_AEAD_AES_128_GCM;
  uint32_t w = sfu_rd32(gcm ? buf + *len - 4 : buf + *len - s->rtp_trailer - 4);
  uint32_t idx = w & 0x7fffffffu;
  /* E = 0 — authenticated but not encrypted, allowed by §3.4 and RFC 7714 §9.3 — is
   * refused before any crypto, by both backends alike: libsrtp2 refuses a packet whose E
   * flag disagrees with its policy, browsers always encrypt, and our sender sets E = 1. */
  if (!(w >> 31)) return count_in_err(s, SFU_EUNSUPP);
  uint32_t ssrc = sfu_rd32(buf + 4);
  sfu_srtp_stream_t tmp, *st = stream_of(&s->in, ssrc, &tmp);
  if (sfu_srtp_window_check(st->rtcp_win, SFU_SRTCP_WINDOW, st->rtcp_top, st->rtcp_seen, idx))
    return count_in_err(s, SFU_EREPLAY);
  int rc = s->ossl ? sfu_srtp_ossl_unprotect_rtcp(s->ossl, buf, len)
                   : sfu_srtp_lib_unprotect(s->lib, 1, buf, len);
  if (rc) return count_in_err(s, rc);
  if (st == &tmp && (rc = keep(s, 0, ssrc, &tmp, &st)) != 0) return count_in_err(s, rc);
  uint64_t top = st->rtcp_top;
  sfu_srtp_window_add(st->rtcp_win, SFU_SRTCP_WINDOW, &top, &st->rtcp_seen, idx);
  st->rtcp_top = (uint32_t)top;
  s->stats.rtcp_in++;
  return 0;
}

int sfu_srtp_protect_rtp(sfu_srtp_t *s, uint8_t *buf, size_t *len, size_t cap) {
  size_t h = rtp_header_len(buf, *len);
  if (!h) return SFU_EINVAL;
  if (*len + s->rtp_trailer > cap || cap > INT_MAX) return SFU_ETOOBIG;
  uint32_t ssrc = sfu_rd32(buf + 8);
  sfu_srtp_stream_t tmp, *st = stream_of(&s->out, ssrc, &tmp);
  int rc;
  if (st == &tmp && (rc = keep(s, 1, ssrc, &tmp, &st)) != 0) return rc;
  /* The sender's index follows the same estimate (§3.3.1). */
  uint64_t idx = sfu_srtp_estimate_index(st->rtp_top, sfu_rd16(buf + 2));
  uint64_t *tags = sfu_srtp_streams_tags(&s->out, st);
  int repeat = sfu_srtp_tx_check(st, tags, idx); /* srtp_stream.c says why and how */
  if (repeat < 0) return repeat;
  if (lib_cannot_resume(s, st, idx)) return SFU_EUNSUPP;
  size_t n = *len;
  rc = s->ossl ? sfu_srtp_ossl_protect_rtp(s->ossl, buf, len, h, idx)
               : sfu_srtp_lib_protect(s->lib, 0, buf, len);
  if (rc) return rc;
  if (!repeat) {
    sfu_srtp_tx_record(st, tags, idx, buf + n); /* the auth tag follows the packet */
  } else if (!sfu_srtp_tx_same(tags, idx, buf + n)) {
    memset(buf, 0, *len); /* the second ciphertext under this index must not get out */
    *len = n;
    return SFU_EREPLAY;
  }
  st->rtp_restored = 0;
  s->stats.rtp_out++;
  return 0;
}

int sfu_srtp_protect_rtcp(sfu_srtp_t *s, uint8_t *buf, size_t *len, size_t cap) {
  if (*len < 8 || (buf[0] >> 6) != 2) return SFU_EINVAL;
  if (*len + s->rtcp_trailer > cap || cap > INT_MAX) return SFU_ETOOBIG;
  uint32_t ssrc = sfu_rd32(buf + 4);
  sfu_srtp_stream_t tmp, *st = stream_of(&s->out, ssrc, &tmp);
  int rc;
  if (st == &tmp && (rc = keep(s, 1, ssrc, &tmp, &st)) != 0) return rc;
  /* §3.4: the SRTCP index counts from 1 per SSRC; at 2^31 - 1 the key must be renewed
   * (§9.2), which DTLS-SRTP does by a new handshake: refuse rather than wrap. libsrtp2
   * counts on its own from 1 again for an SSRC it forgot: refused there once it had sent
   * any (no API sets its counter). */
  if (st->rtcp_top >= 0x7fffffffu) return SFU_ECRYPTO;
  if (s->lib && st->rtcp_restored) return SFU_EUNSUPP;
  uint32_t idx = ++st->rtcp_top; /* used even if the transform fails: never twice */
  rc = s->ossl ? sfu_srtp_ossl_protect_rtcp(s->ossl, buf, len, idx)
               : sfu_srtp_lib_protect(s->lib, 1, buf, len);
  if (rc) return rc;
  s->stats.rtcp_out++;
  return 0;
}

size_t sfu_srtp_trailer_len(const sfu_srtp_t *s, int rtcp) {
  return rtcp ? s->rtcp_trailer : s->rtp_trailer;
}

int sfu_srtp_remove_ssrc(sfu_srtp_t *s, uint32_t ssrc, int outbound) {
  int rc = sfu_srtp_streams_remove(outbound ? &s->out : &s->in, ssrc);
  if (rc) return rc;
  if (outbound) s->stats.ssrcs_out--;
  else s->stats.ssrcs_in--;
  s->stats.ssrcs_ended++;
  if (s->lib) sfu_srtp_lib_remove_ssrc(s->lib, ssrc, outbound);
  return 0;
}

int sfu_srtp_forget_ssrc(sfu_srtp_t *s, uint32_t ssrc, int outbound) {
  int rc = sfu_srtp_streams_forget(outbound ? &s->out : &s->in, ssrc);
  if (rc == 0) {
    if (outbound) s->stats.ssrcs_out--;
    else s->stats.ssrcs_in--;
  }
  if (s->lib) sfu_srtp_lib_remove_ssrc(s->lib, ssrc, outbound);
  return rc;
}

const sfu_srtp_stats_t *sfu_srtp_stats(const sfu_srtp_t *s) { return &s->stats; }
