/* The a=fmtp parameters of the answer, per codec (sdp_internal.h).
 *
 * The worker decodes nothing: it passes what a client sends on to other clients. The
 * answer's fmtp for an accepted payload type is therefore the worker's receive side:
 * the parameters that identify the payload format configuration (they must match the
 * offer's), and the receive preferences the worker honours by passing the stream through.
 * Everything else the offer says - decoder limits (VP8 max-fr/max-fs), sender properties
 * (H.264 sprop-parameter-sets), bitrates, unknown keys, malformed values - is not
 * answered: echoing it would claim what the worker does not do, and an unchecked echo
 * would copy whatever the offerer wrote into the answer (a 60 KB line came back before).
 *
 * Per codec, what is answered (values checked; the first occurrence of a key wins; the
 * offer's order is kept, so answers to browser offers are unchanged):
 *   opus  RFC 7587 §7: minptime (libwebrtc), useinbandfec, usedtx, stereo, sprop-stereo
 *   H264  RFC 6184 §8.2.2: profile-level-id (echoing the offered level is allowed),
 *         packetization-mode (must equal the offer's), level-asymmetry-allowed
 *   VP9   RFC 9628 §6: profile-id (the profile the payload type carries)
 *   AV1   AV1 RTP payload spec §7.2: profile, level-idx, tier
 *   VP8   RFC 7741 §6.1: nothing (max-fr/max-fs bound the receiver; the worker has none)
 * RTX (RFC 4588 §8.1) answers apt= only, written by the answer builder itself.
 * Cost: one pass over the offered string per key lookup; a few keys, control path only. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "proto/sdp_internal.h"

typedef enum { V_FLAG, V_UINT, V_HEX6 } vkind_t;

typedef struct {
  const char *key;
  vkind_t kind;
  unsigned max; /* V_UINT: largest value */
} param_t;

static const param_t opus_params[] = {{"minptime", V_UINT, 120},   {"useinbandfec", V_FLAG, 1},
                                      {"usedtx", V_FLAG, 1},       {"stereo", V_FLAG, 1},
                                      {"sprop-stereo", V_FLAG, 1}, {NULL, V_FLAG, 0}};
static const param_t h264_params[] = {{"profile-level-id", V_HEX6, 0},
                                      {"packetization-mode", V_UINT, 2},
                                      {"level-asymmetry-allowed", V_FLAG, 1},
                                      {NULL, V_FLAG, 0}};
static const param_t vp9_params[] = {{"profile-id", V_UINT, 3}, {NULL, V_FLAG, 0}};
static const param_t av1_params[] = {
    {"profile", V_UINT, 2}, {"level-idx", V_UINT, 31}, {"tier", V_UINT, 1}, {NULL, V_FLAG, 0}};

static const param_t *params_of(const char *codec) {
  if (strcmp(codec, "opus") == 0) return opus_params;
  if (strcmp(codec, "H264") == 0) return h264_params;
  if (strcmp(codec, "VP9") == 0) return vp9_params;
  if (strcmp(codec, "AV1") == 0) return av1_params;
  return NULL; /* VP8, anything else: no parameters */
}

/* One "key=value" of a ';'-separated list, spaces around each part trimmed. */
typedef struct {
  const char *key, *val;
  size_t key_n, val_n;
} kv_t;

static const char *trim_left(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t')) p++;
  return p;
}
static const char *trim_right(const char *b, const char *e) {
  while (e > b && (e[-1] == ' ' || e[-1] == '\t')) e--;
  return e;
}

/* Next parameter from *p (advanced past it); 0 at the end. A part without '=' has an
 * empty value. */
static int next_kv(const char **p, kv_t *kv) {
  const char *s = *p;
  if (!s || !*s) return 0;
  const char *end = strchr(s, ';');
  if (!end) end = s + strlen(s);
  *p = *end ? end + 1 : end;
  const char *eq = memchr(s, '=', (size_t)(end - s));
  const char *kb = trim_left(s, end), *ke = trim_right(kb, eq ? eq : end);
  const char *vb = eq ? trim_left(eq + 1, end) : end, *ve = trim_right(vb, end);
  *kv = (kv_t){kb, vb, (size_t)(ke - kb), (size_t)(ve - vb)};
  return 1;
}

int sfu_sdp_fmtp_value(const char *fmtp, const char *key, char *out, size_t cap) {
  kv_t kv;
  size_t kl = strlen(key);
  for (const char *p = fmtp; next_kv(&p, &kv);) {
    if (kv.key_n != kl || strncasecmp(kv.key, key, kl) != 0) continue;
    if (kv.val_n >= cap) return -1;
    memcpy(out, kv.val, kv.val_n);
    out[kv.val_n] = '\0';
    return 0;
  }
  return -1;
}

static int value_ok(const param_t *pm, const char *v, size_t n) {
  if (pm->kind == V_HEX6) {
    /* RFC 6184 §8.1: profile-level-id is 3 bytes, base16 */
    if (n != 6) return 0;
    for (size_t i = 0; i < n; i++)
      if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f') ||
            (v[i] >= 'A' && v[i] <= 'F')))
        return 0;
    return 1;
  }
  if (n == 0 || n > 3) return 0; /* every number here is at most 120 */
  unsigned x = 0;
  for (size_t i = 0; i < n; i++) {
    if (v[i] < '0' || v[i] > '9') return 0;
    x = x * 10 + (unsigned)(v[i] - '0');
  }
  return x <= (pm->kind == V_FLAG ? 1u : pm->max);
}

size_t sfu_sdp_fmtp_answer(const char *codec, const char *offered, char *out, size_t cap) {
  const param_t *params = params_of(codec);
  size_t len = 0;
  unsigned seen = 0; /* bit i: params[i] answered already (first occurrence wins) */
  if (cap) out[0] = '\0';
  if (!params || !offered || !cap) return 0;
  kv_t kv;
  for (const char *p = offered; next_kv(&p, &kv);) {
    for (unsigned i = 0; params[i].key; i++) {
      const param_t *pm = &params[i];
      if (kv.key_n != strlen(pm->key) || strncasecmp(kv.key, pm->key, kv.key_n) != 0) continue;
      if (!(seen & (1u << i)) && value_ok(pm, kv.val, kv.val_n)) {
        int n = snprintf(out + len, cap - len, "%s%s=%.*s", len ? ";" : "", pm->key, (int)kv.val_n,
                         kv.val);
        if (n < 0 || (size_t)n >= cap - len) {
          out[len] = '\0'; /* never a cut parameter: what did not fit is left out */
        } else {
          len += (size_t)n;
        }
      }
      seen |= 1u << i;
      break;
    }
  }
  return len;
}
