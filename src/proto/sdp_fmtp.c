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
 * Audio sections with a plan entry (the mixer, issue 9) are different: the worker decodes
 * and encodes there, so their Opus fmtp is the worker's own (sfu_sdp_fmtp_opus_worker),
 * the offered Opus parameters are read into the negotiated codec (sfu_sdp_fmtp_opus_
 * offered), and red's "<pt>/<pt>" is checked against the accepted Opus (sfu_sdp_fmtp_red_ok).
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

/* ---- Opus (RFC 7587) and RFC 2198 red, for the mixer (issue 9) ------------------------- */

/* Decimal digits only (no sign, no spaces), at most 9 of them; -1 otherwise. */
static long parse_dec(const char *v) {
  size_t n = strlen(v);
  if (n == 0 || n > 9) return -1;
  long x = 0;
  for (size_t i = 0; i < n; i++) {
    if (v[i] < '0' || v[i] > '9') return -1;
    x = x * 10 + (v[i] - '0');
  }
  return x;
}

/* A flag "0"/"1" of fmtp: 1 only for exactly "1" (RFC 7587 §6.1 defines 0 and 1; anything
 * else - "banana", "2", "-1", "" - is malformed and means the default, 0). */
static uint8_t opus_flag(const char *fmtp, const char *key) {
  char v[4];
  return sfu_sdp_fmtp_value(fmtp, key, v, sizeof v) == 0 && strcmp(v, "1") == 0;
}

void sfu_sdp_fmtp_opus_offered(const char *fmtp, sfu_sdp_neg_codec_t *n) {
  n->opus_stereo = n->opus_sprop_stereo = n->opus_fec = n->opus_dtx = 0;
  n->opus_max_avg_bitrate = n->opus_max_playback_rate = 0;
  if (!fmtp) return;
  n->opus_stereo = opus_flag(fmtp, "stereo");
  n->opus_sprop_stereo = opus_flag(fmtp, "sprop-stereo");
  n->opus_fec = opus_flag(fmtp, "useinbandfec");
  n->opus_dtx = opus_flag(fmtp, "usedtx");
  char v[16]; /* longer values are malformed here: sfu_sdp_fmtp_value refuses them */
  long x;
  /* RFC 7587 §6.1: "maxaveragebitrate ... in the range of 6000 to 510000". Outside it:
   * malformed, ignored (not clamped: the offerer meant something we cannot tell). */
  if (sfu_sdp_fmtp_value(fmtp, "maxaveragebitrate", v, sizeof v) == 0 &&
      (x = parse_dec(v)) >= 6000 && x <= 510000)
    n->opus_max_avg_bitrate = (uint32_t)x;
  /* RFC 7587 §6.1: maxplaybackrate is a hint of the highest rate the receiver renders;
   * Opus has nothing above 48000, so larger values mean 48000. 0 is malformed. */
  if (sfu_sdp_fmtp_value(fmtp, "maxplaybackrate", v, sizeof v) == 0 && (x = parse_dec(v)) > 0)
    n->opus_max_playback_rate = x > 48000 ? 48000u : (uint32_t)x;
}

size_t sfu_sdp_fmtp_opus_worker(const sfu_sdp_neg_codec_t *n, char *out, size_t cap) {
  /* RFC 7587 §7.1: the answer's receive parameters are the worker's as a receiver:
   * - minptime=10: libwebrtc's value; the receive side takes any frame size anyway.
   * - useinbandfec=1: the worker's decoder uses in-band FEC (§6.1), so the client's
   *   encoder adds it (Chromium reads this from the answer) and a lost packet can be
   *   recovered from the next one (issue 9).
   * - stereo=1 only when the client says it is a stereo application (it offered stereo=1
   *   or sprop-stereo=1). "stereo" is receive-only (§7.1) and tells the client's encoder
   *   what we prefer: the mixer accepts stereo input (it downmixes for mono listeners),
   *   but a voice client told stereo=1 would encode its mono microphone as stereo, which
   *   costs bits and decode time for nothing. Absent means mono (§6.1).
   * - sprop-stereo=1 when we send this client stereo: exactly when it asked (stereo=1,
   *   issue 9 "stereo where the receiver's SDP asks for it"). §6.1: a hint only.
   * - no usedtx: the worker does not ask senders for DTX (it handles DTX when they use
   *   it); no maxaveragebitrate: the worker takes any rate a client sends. */
  int k = snprintf(out, cap, "minptime=10;useinbandfec=1%s%s",
                   n->opus_stereo || n->opus_sprop_stereo ? ";stereo=1" : "",
                   n->opus_stereo ? ";sprop-stereo=1" : "");
  if (k < 0 || (size_t)k >= cap) {
    if (cap) out[0] = '\0';
    return 0;
  }
  return (size_t)k;
}

int sfu_sdp_fmtp_red_ok(const char *fmtp, int opus_pt, char *out, size_t cap) {
  /* RFC 2198 §5 / RFC 8866 a=fmtp for red: "<pt>/<pt>[/...]", the payload types of the
   * primary and redundant blocks. The worker's receive side unwraps Opus-in-red only, so
   * every listed type must be the accepted Opus; at most 8 levels (Chromium: 2). */
  if (!fmtp || opus_pt < 0 || cap == 0) return -1;
  const char *p = fmtp;
  int levels = 0;
  while (*p == ' ' || *p == '\t') p++;
  for (;;) {
    int pt = 0, digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 4) pt = pt * 10 + (*p++ - '0'), digits++;
    if (!digits || pt != opus_pt || ++levels > 8) return -1;
    if (*p == '/') {
      p++;
      continue;
    }
    while (*p == ' ' || *p == '\t') p++;
    if (*p) return -1;
    break;
  }
  size_t len = 0;
  out[0] = '\0';
  for (int i = 0; i < levels; i++) {
    int n = snprintf(out + len, cap - len, "%s%d", i ? "/" : "", opus_pt);
    if (n < 0 || (size_t)n >= cap - len) return -1;
    len += (size_t)n;
  }
  return levels >= 1 ? 0 : -1;
}
