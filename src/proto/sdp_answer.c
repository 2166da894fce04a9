/* SDP answer builder (RFC 8829 §5.3 "Generating an Answer") for an ICE-lite SFU.
 *
 * The worker answers every m-section in the offer's order (RFC 8829 §5.3.1, RFC 3264 §6:
 * same number, same order), rejecting with port 0 what it will not serve, and describes
 * what it accepted in a sfu_sdp_answer_t (codecs, header-extension ids per m-section, rids,
 * SSRCs, SCTP parameters) for the transport and the media router.
 *
 * Decisions (docs: "SDP negotiation"):
 * - One ICE/DTLS transport per attendee. With a BUNDLE group in the offer, every accepted
 *   m-section of the group shares it (RFC 8843). WITHOUT a BUNDLE group, see accept_plan().
 * - RTP m-sections without a=rtcp-mux are rejected (port 0), not the whole offer: JSEP's
 *   RTCP mux policy "require" (RFC 8829 §4.1.1, §5.3.1) - the worker never opens an RTCP
 *   port.
 * - Codecs: Opus 48000/2; VP8, H.264 packetization-mode=1, VP9, AV1, each with its RTX.
 *   red/ulpfec/flexfec and the rest are refused: accepting red makes Chromium wrap video
 *   in RED, which the router does not unwrap (shared/design/interop.md). Audio red
 *   (RFC 2198, Opus inside) is answered only for an audio section with a plan entry that
 *   receives, i.e. when the mixer's receive side takes the stream (plan_audio).
 * - Offer payload type numbers and extension ids are kept: the answerer of a
 *   sendrecv/sendonly section must use the offerer's PTs (RFC 3264 §6.1) and ids
 *   (RFC 8285 §6), and keeping them makes forwarding a copy. The a=fmtp of each accepted
 *   codec states only the parameters the worker understands (sdp_fmtp.c), never the
 *   offer's line as such.
 * - DTLS fingerprints: every fingerprint of the transport section's set is kept (RFC 8122
 *   §5); bundled sections that contradict it are refused (check_fingerprints).
 * - Video directions and what the worker sends follow the caller's plan when it gives one
 *   (decide_directions, write_send_ssrcs); without one the answer is the reverse of the
 *   offer, as it was before plans existed. Audio sections follow a plan entry when there
 *   is one for their mid (the mixer's stream, plan_audio), else the answer before plans.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/sdp_internal.h"
#include "sfu/err.h"
#include "sfu/sdp.h"

#define MAX_NEG_CODECS ((int)(sizeof(((sfu_sdp_neg_media_t *)0)->codecs) / \
                              sizeof(((sfu_sdp_neg_media_t *)0)->codecs[0])))

void sfu_sdp_sb_printf(sfu_sdp_sb_t *sb, const char *fmt, ...) {
  if (sb->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = sb->cap - sb->len;
    int n = vsnprintf(sb->buf ? sb->buf + sb->len : NULL, sb->buf ? room : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
      sb->oom = 1;
      return;
    }
    if (sb->buf && (size_t)n < room) {
      sb->len += (size_t)n;
      return;
    }
    size_t ncap = sb->cap ? sb->cap * 2 : 4096;
    while (ncap - sb->len <= (size_t)n) ncap *= 2;
    char *nb = realloc(sb->buf, ncap);
    if (!nb) {
      sb->oom = 1;
      return;
    }
    sb->buf = nb;
    sb->cap = ncap;
  }
}

/* ---- per-section decisions ---------------------------------------------------------- */

/* Why a section was rejected (for logs and the error when nothing is accepted). */
typedef enum {
  R_OK = 0,
  R_OFFERER,      /* port 0 without bundle-only: the offerer disabled it */
  R_NOT_BUNDLED,  /* outside the BUNDLE group, or not the first without BUNDLE */
  R_PROTO,        /* not DTLS-SRTP / DTLS-SCTP, or unknown media */
  R_NO_MUX,       /* RTP without rtcp-mux */
  R_NO_CODEC,     /* no codec the worker forwards */
  R_SECOND_DATA   /* a second data-channel section */
} reason_t;

typedef struct {
  reason_t why;
  sfu_sdp_neg_codec_t codecs[16];
  char fmtp[16][SFU_SDP_FMTP_ANSWER_MAX]; /* codecs[i].fmtp points here (or is NULL) */
  int n_codecs;
  /* Accepted sections only (decide_directions): */
  sfu_sdp_dir_t dir;               /* as answered, our view */
  uint8_t sim_recv;                /* answer a=rid recv + a=simulcast:recv */
  const sfu_sdp_plan_t *send;      /* the local plan entry when we send here, else NULL */
  uint32_t send_rtx_ssrc;          /* send->rtx_ssrc if RTX is negotiated, else 0 */
  int red_pt;                      /* audio: the red payload type answered; -1 none */
} plan_t;

/* The canonical name if the worker forwards this codec, else NULL. */
static const char *codec_ok(sfu_sdp_kind_t kind, const sfu_sdp_codec_t *c) {
  if (!c->name) return NULL;
  if (kind == SFU_SDP_KIND_AUDIO) {
    /* RFC 7587 §7: Opus is always "opus/48000/2". */
    return strcasecmp(c->name, "opus") == 0 && c->clock_rate == 48000 && c->channels == 2
               ? "opus"
               : NULL;
  }
  if (kind != SFU_SDP_KIND_VIDEO || c->clock_rate != 90000) return NULL;
  if (strcasecmp(c->name, "VP8") == 0) return "VP8";
  if (strcasecmp(c->name, "VP9") == 0) return "VP9";
  if (strcasecmp(c->name, "AV1") == 0) return "AV1";
  if (strcasecmp(c->name, "H264") == 0) {
    /* RFC 6184 §8.1: absent packetization-mode means 0 (single NAL unit), which cannot
     * carry what browsers produce at our rates without FU-A; only mode 1 is forwarded. */
    char v[8];
    if (c->fmtp && sfu_sdp_fmtp_value(c->fmtp, "packetization-mode", v, sizeof v) == 0 &&
        strcmp(v, "1") == 0)
      return "H264";
  }
  return NULL;
}

static void choose_codecs(const sfu_sdp_media_t *m, plan_t *p) {
  uint32_t fb_ok = m->kind == SFU_SDP_KIND_VIDEO
                       ? (SFU_SDP_FB_NACK | SFU_SDP_FB_NACK_PLI | SFU_SDP_FB_CCM_FIR |
                          SFU_SDP_FB_GOOG_REMB | SFU_SDP_FB_TRANSPORT_CC)
                       : SFU_SDP_FB_TRANSPORT_CC;
  p->n_codecs = 0;
  for (size_t i = 0; i < m->n_codecs && p->n_codecs < MAX_NEG_CODECS; i++) {
    const sfu_sdp_codec_t *c = &m->codecs[i];
    const char *name = codec_ok(m->kind, c);
    if (!name) continue;
    char *fmtp = p->fmtp[p->n_codecs];
    sfu_sdp_neg_codec_t *n = &p->codecs[p->n_codecs++];
    *n = (sfu_sdp_neg_codec_t){.pt = c->pt, .rtx_pt = -1, .channels = c->channels,
                               .clock_rate = c->clock_rate, .rtcp_fb = c->rtcp_fb & fb_ok,
                               .name = name};
    if (sfu_sdp_fmtp_answer(name, c->fmtp, fmtp, SFU_SDP_FMTP_ANSWER_MAX)) n->fmtp = fmtp;
    if (m->kind == SFU_SDP_KIND_AUDIO) sfu_sdp_fmtp_opus_offered(c->fmtp, n);
    /* RFC 4588 §8.1: the rtx payload type whose apt names this one (video only: the
     * worker retransmits video; audio has no NACK here). */
    for (size_t j = 0; j < m->n_codecs && m->kind == SFU_SDP_KIND_VIDEO; j++) {
      const sfu_sdp_codec_t *r = &m->codecs[j];
      if (r->name && strcasecmp(r->name, "rtx") == 0 && r->apt == c->pt &&
          r->clock_rate == c->clock_rate) {
        n->rtx_pt = r->pt;
        break;
      }
    }
  }
}

static int in_bundle(const sfu_sdp_offer_t *o, const sfu_sdp_media_t *m) {
  if (!m->mid) return 0;
  for (size_t i = 0; i < o->n_bundle; i++)
    if (strcmp(o->bundle_mids[i], m->mid) == 0) return 1;
  return 0;
}

/* Decides accept/reject for every m-section.
 *
 * BUNDLE rule: the worker has exactly one ICE/DTLS transport per attendee.
 * - Offer with a=group:BUNDLE: the m-sections of that group that the worker can serve are
 *   accepted on the one BUNDLE transport (RFC 8843 §7.3); sections outside the group would
 *   need a transport of their own and are rejected (port 0).
 * - Offer WITHOUT a BUNDLE group: an answerer must not create one (RFC 8843 §7.3: the
 *   answerer can only accept a BUNDLE group the offerer proposed), so every accepted
 *   m-section would need its own transport. The worker therefore accepts only the FIRST
 *   m-section it can serve and rejects the rest with port 0, and says so in neg->note.
 *   Clients get everything on one transport by offering with bundlePolicy "max-bundle"
 *   (or any policy that emits a=group:BUNDLE; aiortc 1.4.0 always does). */
static size_t accept_plan(const sfu_sdp_offer_t *o, plan_t *plan) {
  int bundled = o->has_bundle && o->n_bundle > 0, have_data = 0;
  size_t n_ok = 0;
  for (size_t i = 0; i < o->n_media; i++) {
    const sfu_sdp_media_t *m = &o->media[i];
    plan_t *p = &plan[i];
    p->why = R_OK;
    if (m->port == 0 && !m->bundle_only) p->why = R_OFFERER;
    else if (bundled ? !in_bundle(o, m) : n_ok > 0) p->why = R_NOT_BUNDLED;
    else if (m->kind == SFU_SDP_KIND_APPLICATION &&
             (m->proto == SFU_SDP_PROTO_SCTP || m->proto == SFU_SDP_PROTO_SCTP_LEGACY)) {
      if (m->proto == SFU_SDP_PROTO_SCTP && strcmp(m->fmt_str, "webrtc-datachannel") != 0)
        p->why = R_PROTO;
      else if (have_data) p->why = R_SECOND_DATA;
      else have_data = 1;
    } else if ((m->kind == SFU_SDP_KIND_AUDIO || m->kind == SFU_SDP_KIND_VIDEO) &&
               m->proto == SFU_SDP_PROTO_RTP_SAVPF) {
      if (!m->rtcp_mux) p->why = R_NO_MUX;
      else {
        choose_codecs(m, p);
        if (!p->n_codecs) p->why = R_NO_CODEC;
      }
    } else {
      p->why = R_PROTO;
    }
    if (p->why == R_OK) n_ok++;
  }
  return n_ok;
}

static const char *reason_text(reason_t r) {
  switch (r) {
    case R_OK: return "accepted";
    case R_OFFERER: return "disabled by the offerer (port 0)";
    case R_NOT_BUNDLED: return "not in the BUNDLE group";
    case R_PROTO: return "unsupported media or protocol";
    case R_NO_MUX: return "no a=rtcp-mux";
    case R_NO_CODEC: return "no codec the worker can forward";
    case R_SECOND_DATA: return "second data channel section";
  }
  return "?";
}

static sfu_sdp_dir_t answer_dir(sfu_sdp_dir_t offered) {
  /* RFC 3264 §6.1: sendonly is answered recvonly and vice versa. The worker receives all a
   * client sends and may send all a client can receive. */
  switch (offered) {
    case SFU_SDP_SENDONLY: return SFU_SDP_RECVONLY;
    case SFU_SDP_RECVONLY: return SFU_SDP_SENDONLY;
    default: return offered;
  }
}

/* Header extensions the worker uses, per kind (others are not answered, so the client
 * does not spend bytes on them). */
static int ext_wanted(sfu_sdp_kind_t kind, sfu_rtp_ext_kind_t k) {
  switch (k) {
    case SFU_EXT_MID:
    case SFU_EXT_ABS_SEND_TIME:
    case SFU_EXT_TWCC: return 1;
    case SFU_EXT_AUDIO_LEVEL: return kind == SFU_SDP_KIND_AUDIO;
    case SFU_EXT_RID:
    case SFU_EXT_REPAIRED_RID:
    case SFU_EXT_DEPENDENCY_DESCRIPTOR:
    case SFU_EXT_VIDEO_ORIENTATION:
    case SFU_EXT_TOFFSET: return kind == SFU_SDP_KIND_VIDEO;
    default: return 0;
  }
}

/* Simulcast the worker receives: the offer's a=simulcast:send, if every rid in it has an
 * "a=rid:<id> send" line (RFC 8853 §5.2 / RFC 8851 §6: otherwise the answerer drops it). */
static int simulcast_ok(const sfu_sdp_media_t *m) {
  if (m->kind != SFU_SDP_KIND_VIDEO || !m->sim_send.raw) return 0;
  for (size_t s = 0; s < m->sim_send.n_streams; s++)
    for (size_t a = 0; a < m->sim_send.streams[s].n_alts; a++) {
      int found = 0;
      for (size_t r = 0; r < m->n_rids; r++)
        found |= m->rids[r].send && strcmp(m->rids[r].id, m->sim_send.streams[s].rid[a]) == 0;
      if (!found) return 0;
    }
  return 1;
}

/* ---- directions and what we send (sfu_sdp_local_t.plan) ------------------------------- */

static const sfu_sdp_plan_t *plan_entry(const sfu_sdp_local_t *l, const sfu_sdp_media_t *m) {
  if (!m->mid) return NULL;
  for (size_t i = 0; i < l->n_plan; i++)
    if (l->plan[i].mid && strcmp(l->plan[i].mid, m->mid) == 0) return &l->plan[i];
  return NULL;
}

/* RFC 8830 §2: msid-id and msid-appdata are 1*64 token-char (RFC 8866 §9 token). Checked
 * because they are written into the answer: a space or CRLF would forge lines. */
static int is_token(const char *s, size_t max) {
  size_t n = 0;
  for (; s[n]; n++) {
    unsigned char ch = (unsigned char)s[n];
    if (n >= max || ch <= 0x20 || ch >= 0x7f || strchr("\"(),/:;<=>?@[\\]", ch)) return 0;
  }
  return n > 0;
}

/* RFC 5576 §6.1: the CNAME is the RTCP SDES CNAME, any text; kept to visible ASCII
 * without spaces here for the same reason. */
static int is_cname(const char *s) {
  size_t n = 0;
  for (; s[n]; n++)
    if (n >= 255 || (unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f) return 0;
  return n > 0;
}

/* Moves the codec with payload type pt (not an rtx one) to the front, the others keeping
 * their order; -1 if the section did not accept it. */
static int codec_first(plan_t *p, int pt) {
  for (int i = 0; i < p->n_codecs; i++) {
    if (p->codecs[i].pt != pt) continue;
    sfu_sdp_neg_codec_t c = p->codecs[i];
    char f[SFU_SDP_FMTP_ANSWER_MAX];
    memcpy(f, p->fmtp[i], sizeof f);
    memmove(&p->codecs[1], &p->codecs[0], (size_t)i * sizeof p->codecs[0]);
    memmove(&p->fmtp[1], &p->fmtp[0], (size_t)i * sizeof p->fmtp[0]);
    p->codecs[0] = c;
    memcpy(p->fmtp[0], f, sizeof f);
    for (int k = 0; k <= i; k++) /* fmtp pointers follow their buffers */
      if (p->codecs[k].fmtp) p->codecs[k].fmtp = p->fmtp[k];
    return 0;
  }
  return -1;
}

static const char *where(const sfu_sdp_media_t *m, size_t idx, char *buf, size_t n);

/* Checks a plan entry we send with, and puts its codec first. */
static int check_send(const sfu_sdp_media_t *m, size_t i, plan_t *p, char *err,
                      size_t errlen) {
  const sfu_sdp_plan_t *e = p->send;
  char w[96];
  where(m, i, w, sizeof w);
  if (!e->ssrc) return sfu_sdp_err(err, errlen, SFU_EINVAL, "plan for %s: ssrc 0", w);
  if ((e->cname && !is_cname(e->cname)) || (e->msid_stream && !is_token(e->msid_stream, 64)) ||
      (e->msid_track && !is_token(e->msid_track, 64)))
    return sfu_sdp_err(err, errlen, SFU_EINVAL,
                       "plan for %s: cname or msid is not an SDP token (RFC 8830 §2)", w);
  if (e->send_pt >= 0 && codec_first(p, e->send_pt) != 0)
    return sfu_sdp_err(err, errlen, SFU_EINVAL,
                       "plan for %s: send_pt %d is not a codec the section accepted", w,
                       e->send_pt);
  /* RFC 4588 §8.1: RTX only on an rtx payload type the section negotiated, for the codec
   * we send (any codec's when the plan does not say which). */
  int rtx = 0;
  for (int k = 0; k < (e->send_pt >= 0 ? 1 : p->n_codecs); k++) rtx |= p->codecs[k].rtx_pt >= 0;
  p->send_rtx_ssrc = rtx ? e->rtx_ssrc : 0;
  if (p->send_rtx_ssrc == e->ssrc)
    return sfu_sdp_err(err, errlen, SFU_EINVAL, "plan for %s: rtx_ssrc equals ssrc", w);
  return 0;
}

/* Inserts codec c (fmtp copied) at position pos, the others after it keeping their order;
 * -1 if the list is full. */
static int codec_insert(plan_t *p, int pos, const sfu_sdp_neg_codec_t *c, const char *fmtp) {
  if (p->n_codecs >= MAX_NEG_CODECS || pos < 0 || pos > p->n_codecs) return -1;
  int tail = p->n_codecs - pos;
  memmove(&p->codecs[pos + 1], &p->codecs[pos], (size_t)tail * sizeof p->codecs[0]);
  memmove(&p->fmtp[pos + 1], &p->fmtp[pos], (size_t)tail * sizeof p->fmtp[0]);
  p->n_codecs++;
  p->codecs[pos] = *c;
  snprintf(p->fmtp[pos], sizeof p->fmtp[pos], "%s", fmtp ? fmtp : "");
  p->codecs[pos].fmtp = fmtp ? p->fmtp[pos] : NULL;
  for (int k = pos + 1; k < p->n_codecs; k++) /* fmtp pointers follow their buffers */
    if (p->codecs[k].fmtp) p->codecs[k].fmtp = p->fmtp[k];
  return 0;
}

/* An audio section with a plan entry (issue 9, the mixer), after its direction:
 * - at most one audio section of the answer carries the worker's stream: the mixer sends
 *   each attendee ONE mix, and a second declared SSRC would be a track that never plays;
 * - every accepted Opus states the worker's own fmtp (sfu_sdp_fmtp_opus_worker) instead
 *   of the offer's echo: the worker decodes and encodes audio, so the answer's receive
 *   parameters (RFC 7587 §7.1) are now its own;
 * - RFC 2198 red/48000/2, when offered for the (first) accepted Opus and the worker
 *   receives here: answered right after that Opus, so Opus stays the first (preferred)
 *   format and the worker's send codec; Chromium wraps its audio in red only when the
 *   answer lists it, and the receive side uses the redundant copy to fill a loss. A red
 *   whose fmtp names any other payload type is not answered (the worker could not read
 *   its blocks). */
static int plan_audio(const sfu_sdp_media_t *m, size_t i, const sfu_sdp_plan_t *e, plan_t *p,
                      int *n_audio_send, char *err, size_t errlen) {
  if (p->send && ++*n_audio_send > 1) {
    char w[96];
    return sfu_sdp_err(err, errlen, SFU_EINVAL,
                       "plan for %s: a second audio section sends (the mix is one stream)",
                       where(m, i, w, sizeof w));
  }
  int opus = -1;
  for (int k = 0; k < p->n_codecs; k++) {
    if (strcmp(p->codecs[k].name, "opus") != 0) continue;
    if (opus < 0) opus = k;
    p->codecs[k].fmtp = sfu_sdp_fmtp_opus_worker(&p->codecs[k], p->fmtp[k], sizeof p->fmtp[k])
                            ? p->fmtp[k]
                            : NULL;
  }
  int they_send = m->dir == SFU_SDP_SENDRECV || m->dir == SFU_SDP_SENDONLY;
  if (opus < 0 || !e->recv || !they_send) return 0;
  for (size_t k = 0; k < m->n_codecs; k++) {
    const sfu_sdp_codec_t *c = &m->codecs[k];
    char fmtp[SFU_SDP_FMTP_ANSWER_MAX];
    if (!c->name || strcasecmp(c->name, "red") != 0 || c->clock_rate != 48000 ||
        c->channels != 2)
      continue;
    /* The first red line decides: one red per section (Chromium offers one). */
    if (sfu_sdp_fmtp_red_ok(c->fmtp, p->codecs[opus].pt, fmtp, sizeof fmtp) != 0) return 0;
    sfu_sdp_neg_codec_t red = {.pt = c->pt, .rtx_pt = -1, .channels = 2, .clock_rate = 48000,
                               .rtcp_fb = c->rtcp_fb & SFU_SDP_FB_TRANSPORT_CC, .name = "red"};
    if (codec_insert(p, opus + 1, &red, fmtp) == 0) p->red_pt = c->pt;
    return 0;
  }
  return 0;
}

/* The answered direction of every accepted section (RFC 3264 §6.1: the answer may only
 * narrow the offered one), and with it whether we take its simulcast.
 * Without a plan, or for audio/data: the reverse of the offer (the worker receives all a
 * client sends and may send on all it receives). With a plan, per VIDEO section: we
 * receive iff the client sends and the plan says recv, we send iff the client receives
 * and the plan says send; a section with no plan entry does neither (inactive).
 * Simulcast: RFC 8853 §5.3.2 - the answerer keeps (reversed) only the simulcast direction
 * it accepts and removes the rest, and RFC 8851 §6 answers only the rids it takes; a
 * section we do not receive on accepts none, so it carries neither a=simulcast nor a=rid
 * (an a=simulcast:recv in an inactive/sendonly section would contradict its direction,
 * RFC 3264 §6.1). The client then sends nothing there at all. */
static int decide_directions(const sfu_sdp_offer_t *o, const sfu_sdp_local_t *l,
                             plan_t *plan, char *err, size_t errlen) {
  int n_audio_send = 0;
  for (size_t i = 0; i < o->n_media; i++) {
    const sfu_sdp_media_t *m = &o->media[i];
    plan_t *p = &plan[i];
    if (p->why != R_OK) continue;
    p->dir = answer_dir(m->dir);
    p->sim_recv = (uint8_t)simulcast_ok(m);
    p->send = NULL;
    p->send_rtx_ssrc = 0;
    p->red_pt = -1;
    if (!l->plan || (m->kind != SFU_SDP_KIND_VIDEO && m->kind != SFU_SDP_KIND_AUDIO)) continue;
    const sfu_sdp_plan_t *e = plan_entry(l, m);
    /* Audio without an entry: the answer before plans (the reverse of the offer). */
    if (m->kind == SFU_SDP_KIND_AUDIO && !e) continue;
    int they_send = m->dir == SFU_SDP_SENDRECV || m->dir == SFU_SDP_SENDONLY;
    int they_recv = m->dir == SFU_SDP_SENDRECV || m->dir == SFU_SDP_RECVONLY;
    int recv = they_send && e && e->recv, send = they_recv && e && e->send;
    p->dir = recv && send ? SFU_SDP_SENDRECV
             : recv       ? SFU_SDP_RECVONLY
             : send       ? SFU_SDP_SENDONLY
                          : SFU_SDP_INACTIVE;
    if (!recv) p->sim_recv = 0;
    if (send) {
      p->send = e;
      int rc = check_send(m, i, p, err, errlen);
      if (rc) return rc;
    }
    if (m->kind == SFU_SDP_KIND_AUDIO) {
      int rc = plan_audio(m, i, e, p, &n_audio_send, err, errlen);
      if (rc) return rc;
    }
  }
  /* Our SSRCs must be distinct across the BUNDLE (RFC 8843 §9.1: one RTP session). */
  for (size_t i = 0; i < o->n_media; i++) {
    if (!plan[i].send) continue;
    uint32_t a[2] = {plan[i].send->ssrc, plan[i].send_rtx_ssrc};
    for (size_t j = i + 1; j < o->n_media; j++) {
      if (!plan[j].send) continue;
      uint32_t b[2] = {plan[j].send->ssrc, plan[j].send_rtx_ssrc};
      for (int x = 0; x < 2; x++)
        for (int y = 0; y < 2; y++)
          if (a[x] && a[x] == b[y]) {
            char w[96];
            return sfu_sdp_err(err, errlen, SFU_EINVAL,
                               "plan for %s: ssrc %" PRIu32 " also used in another section",
                               where(&o->media[j], j, w, sizeof w), a[x]);
          }
    }
  }
  return 0;
}

/* ---- answer text ---------------------------------------------------------------------- */

typedef struct {
  const sfu_sdp_offer_t *o;
  const sfu_sdp_local_t *l;
  const plan_t *plan;
  const sfu_sdp_media_t *tp_sec;   /* the m-section whose transport is used */
  sfu_sdp_sb_t sb;
  const char *ipver;
  uint16_t port;
} actx_t;

static void write_transport(actx_t *a, const sfu_sdp_media_t *m) {
  sfu_sdp_sb_t *sb = &a->sb;
  const sfu_sdp_local_t *l = a->l;
  sfu_sdp_sb_printf(sb, "c=IN %s %s\r\n", a->ipver, l->ip);
  if (m->mid) sfu_sdp_sb_printf(sb, "a=mid:%s\r\n", m->mid);
  sfu_sdp_sb_printf(sb, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\n", l->ice_ufrag, l->ice_pwd);
  sfu_sdp_sb_printf(sb, "a=fingerprint:sha-256 %s\r\n", l->fingerprint);
  /* RFC 8842 §5.3 / RFC 5763 §5: the answerer to actpass picks; an ICE-lite server is
   * always the DTLS server, i.e. passive. */
  sfu_sdp_sb_printf(sb, "a=setup:passive\r\n");
}

/* Host candidates (RFC 8839 §5.1) only in the section that carries the transport: the
 * other bundled sections share it (RFC 8843 §7.3.1 / RFC 8829 §5.3.1). */
static void write_candidates(actx_t *a, const sfu_sdp_media_t *m) {
  if (m != a->tp_sec) return;
  const sfu_sdp_local_t *l = a->l;
  if (l->udp_port)
    sfu_sdp_sb_printf(&a->sb, "a=candidate:1 1 udp 2130706431 %s %u typ host\r\n", l->ip,
                      l->udp_port);
  if (l->tcp_port) /* RFC 6544 §4.5: the passive side of ICE-TCP */
    sfu_sdp_sb_printf(&a->sb,
                      "a=candidate:2 1 tcp 1671430143 %s %u typ host tcptype passive\r\n",
                      l->ip, l->tcp_port);
  sfu_sdp_sb_printf(&a->sb, "a=end-of-candidates\r\n");
}

static void write_codecs(actx_t *a, const plan_t *p) {
  sfu_sdp_sb_t *sb = &a->sb;
  static const struct { uint32_t bit; const char *txt; } fbs[] = {
      {SFU_SDP_FB_GOOG_REMB, "goog-remb"}, {SFU_SDP_FB_TRANSPORT_CC, "transport-cc"},
      {SFU_SDP_FB_CCM_FIR, "ccm fir"},     {SFU_SDP_FB_NACK, "nack"},
      {SFU_SDP_FB_NACK_PLI, "nack pli"}};
  for (int i = 0; i < p->n_codecs; i++) {
    const sfu_sdp_neg_codec_t *c = &p->codecs[i];
    if (c->channels)
      sfu_sdp_sb_printf(sb, "a=rtpmap:%u %s/%" PRIu32 "/%u\r\n", c->pt, c->name, c->clock_rate,
                        c->channels);
    else
      sfu_sdp_sb_printf(sb, "a=rtpmap:%u %s/%" PRIu32 "\r\n", c->pt, c->name, c->clock_rate);
    for (size_t f = 0; f < sizeof fbs / sizeof fbs[0]; f++)
      if (c->rtcp_fb & fbs[f].bit) sfu_sdp_sb_printf(sb, "a=rtcp-fb:%u %s\r\n", c->pt, fbs[f].txt);
    if (c->fmtp && c->fmtp[0]) sfu_sdp_sb_printf(sb, "a=fmtp:%u %s\r\n", c->pt, c->fmtp);
    if (c->rtx_pt >= 0)
      sfu_sdp_sb_printf(sb, "a=rtpmap:%d rtx/%" PRIu32 "\r\na=fmtp:%d apt=%u\r\n", c->rtx_pt,
                        c->clock_rate, c->rtx_pt, c->pt);
  }
}

static void write_extmaps(actx_t *a, const sfu_sdp_media_t *m, sfu_rtp_ext_map_t *map) {
  sfu_rtp_ext_map_init(map);
  for (size_t i = 0; i < m->n_extmaps; i++) {
    const sfu_sdp_extmap_t *e = &m->extmaps[i];
    sfu_rtp_ext_kind_t k = sfu_rtp_ext_kind_from_uri(e->uri);
    if (!ext_wanted(m->kind, k)) continue;
    /* A kind offered under two ids: answer the first only (RFC 8285 §5 allows one). */
    if (sfu_rtp_ext_map_set(map, (uint8_t)e->id, k) != 0) continue;
    if (e->has_dir) /* RFC 8285 §6: the answer reverses a direction */
      sfu_sdp_sb_printf(&a->sb, "a=extmap:%u/%s %s\r\n", e->id,
                        sfu_sdp_dir_name(answer_dir(e->dir)), e->uri);
    else
      sfu_sdp_sb_printf(&a->sb, "a=extmap:%u %s\r\n", e->id, e->uri);
  }
}

/* What we send, RFC 5576 §4.1 (a=ssrc) and §4.2 (a=ssrc-group, FID: RFC 4588 §8.1), in
 * the shape Chromium writes and both peers read:
 * - Chromium (unified plan) takes stream/track ids from a=msid, falls back to the a=ssrc
 *   msid lines, and signals the SSRCs to its demuxer (without them it still demuxes by
 *   the mid header extension, as "unsignaled" streams).
 * - aiortc 1.4.0 (sdp.py, rtcpeerconnection.py __remoteRtp/setRemoteDescription) NEEDS
 *   the a=ssrc lines: its RtpRouter routes by SSRC, else by payload type only when one
 *   receiver has it - never by mid - so with two video sections sharing payload types,
 *   packets without signalled SSRCs are dropped. It takes ssrc[0] (in order of first
 *   a=ssrc line) as the media SSRC and ssrc[1] as its RTX SSRC only when there are exactly
 *   two (it ignores the FID group), hence primary first. It reads the track id from a=msid
 *   only if the session has an a=msid-semantic WMS listing the stream or "*" (see
 *   write_session). Limitation there: aiortc never registers the RTX SSRC for routing, so
 *   retransmissions reach it only while a single receiver has the rtx payload type. */
static void write_send_ssrcs(actx_t *a, const plan_t *p) {
  const sfu_sdp_plan_t *e = p->send;
  const char *cname = e->cname ? e->cname : "sfu";
  uint32_t ids[2] = {e->ssrc, p->send_rtx_ssrc};
  if (ids[1])
    sfu_sdp_sb_printf(&a->sb, "a=ssrc-group:FID %" PRIu32 " %" PRIu32 "\r\n", ids[0], ids[1]);
  for (int i = 0; i < (ids[1] ? 2 : 1); i++) {
    sfu_sdp_sb_printf(&a->sb, "a=ssrc:%" PRIu32 " cname:%s\r\n", ids[i], cname);
    if (e->msid_track)
      sfu_sdp_sb_printf(&a->sb, "a=ssrc:%" PRIu32 " msid:%s %s\r\n", ids[i],
                        e->msid_stream ? e->msid_stream : "-", e->msid_track);
  }
}

static void write_rtp_section(actx_t *a, const sfu_sdp_media_t *m, const plan_t *p,
                              sfu_rtp_ext_map_t *map) {
  sfu_sdp_sb_t *sb = &a->sb;
  sfu_sdp_sb_printf(sb, "m=%s %u %s", m->media, a->port, m->proto_str);
  for (int i = 0; i < p->n_codecs; i++) {
    sfu_sdp_sb_printf(sb, " %u", p->codecs[i].pt);
    if (p->codecs[i].rtx_pt >= 0) sfu_sdp_sb_printf(sb, " %d", p->codecs[i].rtx_pt);
  }
  sfu_sdp_sb_printf(sb, "\r\n");
  write_transport(a, m);
  sfu_sdp_sb_printf(sb, "a=%s\r\n", sfu_sdp_dir_name(p->dir));
  if (p->send && p->send->msid_track) /* RFC 8830 §2, RFC 8829 §5.2.1 */
    sfu_sdp_sb_printf(sb, "a=msid:%s %s\r\n",
                      p->send->msid_stream ? p->send->msid_stream : "-", p->send->msid_track);
  if (m->extmap_allow_mixed) sfu_sdp_sb_printf(sb, "a=extmap-allow-mixed\r\n");
  sfu_sdp_sb_printf(sb, "a=rtcp-mux\r\n"); /* RFC 5761 §5.1.1 */
  if (m->rtcp_rsize) sfu_sdp_sb_printf(sb, "a=rtcp-rsize\r\n"); /* RFC 5506 §5 */
  write_extmaps(a, m, map);
  write_codecs(a, p);
  if (p->sim_recv) {
    /* RFC 8853 §5.3 / RFC 8851 §6: receive what is sent. Without these lines Chromium
     * sends its lowest layer only (interop.md). Restrictions are not echoed. */
    for (size_t s = 0; s < m->sim_send.n_streams; s++)
      for (size_t k = 0; k < m->sim_send.streams[s].n_alts; k++)
        sfu_sdp_sb_printf(sb, "a=rid:%s recv\r\n", m->sim_send.streams[s].rid[k]);
    sfu_sdp_sb_printf(sb, "a=simulcast:recv %s\r\n", m->sim_send.raw);
  }
  if (p->send) write_send_ssrcs(a, p);
  write_candidates(a, m);
}

static void write_data_section(actx_t *a, const sfu_sdp_media_t *m) {
  sfu_sdp_sb_t *sb = &a->sb;
  unsigned sport = a->l->sctp_port ? a->l->sctp_port : 5000;
  uint32_t mms = a->l->max_message_size ? a->l->max_message_size : 262144;
  if (m->proto == SFU_SDP_PROTO_SCTP_LEGACY) {
    /* draft-ietf-mmusic-sctp-sdp-05 §4 form, as aiortc 1.4.0 offers it. */
    sfu_sdp_sb_printf(sb, "m=application %u DTLS/SCTP %u\r\n", a->port, sport);
    write_transport(a, m);
    sfu_sdp_sb_printf(sb, "a=sctpmap:%u webrtc-datachannel 1024\r\n", sport);
  } else {
    /* RFC 8841 §5.1, §6.1 */
    sfu_sdp_sb_printf(sb, "m=application %u %s webrtc-datachannel\r\n", a->port, m->proto_str);
    write_transport(a, m);
    sfu_sdp_sb_printf(sb, "a=sctp-port:%u\r\n", sport);
  }
  sfu_sdp_sb_printf(sb, "a=max-message-size:%" PRIu32 "\r\n", mms);
  write_candidates(a, m);
}

static void write_rejected(actx_t *a, const sfu_sdp_media_t *m) {
  /* RFC 3264 §6: port 0, same media and proto; "any media formats listed are ignored. At
   * least one MUST be present": the first offered one, not the whole list (an offer may
   * list thousands). The parser checked each is a short token. */
  int first = (int)strcspn(m->fmt_str, " \t");
  sfu_sdp_sb_printf(&a->sb, "m=%s 0 %s %.*s\r\nc=IN IP4 0.0.0.0\r\n", m->media, m->proto_str,
                    first, m->fmt_str);
  if (m->mid) sfu_sdp_sb_printf(&a->sb, "a=mid:%s\r\n", m->mid);
}

/* ---- negotiated description ------------------------------------------------------------ */

static size_t slen(const char *s) { return s ? strlen(s) + 1 : 0; }

/* Upper bound of the string bytes copied into the answer struct (all offer strings it
 * might keep, and the answered fmtp values), so that one allocation suffices.
 * O(offer size). */
static size_t neg_string_bytes(const sfu_sdp_offer_t *o, const plan_t *plan) {
  size_t n = 512; /* note */
  for (size_t i = 0; i < o->n_media; i++) {
    const sfu_sdp_media_t *m = &o->media[i];
    n += slen(m->mid) + slen(m->tp.ice_ufrag) + slen(m->tp.ice_pwd);
    for (int k = 0; k < plan[i].n_codecs; k++) n += slen(plan[i].codecs[k].fmtp); /* answered */
    for (size_t s = 0; s < m->sim_send.n_streams; s++)
      for (size_t k = 0; k < m->sim_send.streams[s].n_alts; k++)
        n += slen(m->sim_send.streams[s].rid[k]);
    for (size_t k = 0; k < m->n_ssrcs; k++) n += slen(m->ssrcs[k].cname);
  }
  return n;
}

#define ADUP(ar, s) ((s) ? sfu_sdp_arena_strn((ar), (s), strlen(s)) : NULL)

static void fill_neg_media(sfu_sdp_arena_t *ar, const sfu_sdp_media_t *m, const plan_t *p,
                           size_t index, sfu_sdp_neg_media_t *n) {
  n->index = index;
  n->mid = ADUP(ar, m->mid);
  n->kind = m->kind;
  n->dir = p->dir;
  n->rtcp_rsize = m->rtcp_rsize;
  n->red_pt = -1;
  sfu_rtp_ext_map_init(&n->ext);
  if (m->kind == SFU_SDP_KIND_APPLICATION) {
    n->sctp_port = m->sctp_port;
    n->max_message_size = m->max_message_size;
    n->sctp_legacy = m->proto == SFU_SDP_PROTO_SCTP_LEGACY;
    return;
  }
  n->n_codecs = (size_t)p->n_codecs;
  for (int i = 0; i < p->n_codecs; i++) {
    n->codecs[i] = p->codecs[i];
    n->codecs[i].fmtp = ADUP(ar, p->codecs[i].fmtp);
  }
  if (p->sim_recv) {
    n->simulcast_recv = 1;
    for (size_t s = 0; s < m->sim_send.n_streams; s++)
      for (size_t k = 0; k < m->sim_send.streams[s].n_alts && n->n_rids < SFU_SDP_MAX_RIDS;
           k++) {
        n->rid_paused[n->n_rids] = m->sim_send.streams[s].paused[k];
        n->rids[n->n_rids++] = ADUP(ar, m->sim_send.streams[s].rid[k]);
      }
  }
  n->n_ssrcs = m->n_ssrcs;
  for (size_t i = 0; i < m->n_ssrcs; i++)
    n->ssrcs[i] = (sfu_sdp_ssrc_t){m->ssrcs[i].ssrc, ADUP(ar, m->ssrcs[i].cname)};
  n->n_fids = m->n_fids;
  memcpy(n->fids, m->fids, m->n_fids * sizeof m->fids[0]);
  n->n_sim_ssrcs = m->n_sim_ssrcs;
  memcpy(n->sim_ssrcs, m->sim_ssrcs, m->n_sim_ssrcs * sizeof m->sim_ssrcs[0]);
  if (p->send) {
    n->send_ssrc = p->send->ssrc;
    n->send_rtx_ssrc = p->send_rtx_ssrc;
  }
  n->red_pt = (int16_t)p->red_pt;
}

/* ---- entry point ------------------------------------------------------------------------ */

/* The section whose ICE/DTLS parameters the transport uses: the first accepted m-section
 * in BUNDLE-group order (our answerer BUNDLE-tag, RFC 8843 §7.3.1, which we list first in
 * the answer's group so peers that take the first mid - aiortc - agree), or the single
 * accepted section without BUNDLE. */
static const sfu_sdp_media_t *transport_section(const sfu_sdp_offer_t *o, const plan_t *plan,
                                                size_t *idx) {
  if (o->has_bundle && o->n_bundle) {
    for (size_t b = 0; b < o->n_bundle; b++)
      for (size_t i = 0; i < o->n_media; i++)
        if (plan[i].why == R_OK && o->media[i].mid &&
            strcmp(o->media[i].mid, o->bundle_mids[b]) == 0)
          return *idx = i, &o->media[i];
  }
  for (size_t i = 0; i < o->n_media; i++)
    if (plan[i].why == R_OK) return *idx = i, &o->media[i];
  return NULL;
}

static const char *where(const sfu_sdp_media_t *m, size_t idx, char *buf, size_t n) {
  snprintf(buf, n, "m-section %zu%s%s%s", idx, m->mid ? " (mid " : "", m->mid ? m->mid : "",
           m->mid ? ")" : "");
  return buf;
}

static int check_transport(const sfu_sdp_offer_t *o, const sfu_sdp_media_t *t, size_t ti,
                           char *err, size_t errlen) {
  char w[96];
  where(t, ti, w, sizeof w);
  if (o->ice_lite)
    return sfu_sdp_err(err, errlen, SFU_EINVAL,
                       "offerer is ICE-lite: two lite agents cannot connect (RFC 8445 §6.1.1)");
  if (!t->tp.fingerprints.n && t->tp.fp_refused != SFU_FP_NONE)
    return sfu_sdp_err(err, errlen, SFU_EINVAL,
                       "%s offers only a=fingerprint %s, which the worker refuses (RFC 8122 "
                       "§5: MD2 and MD5 MUST NOT be used); offer sha-256",
                       w, sfu_fp_hash_name(t->tp.fp_refused));
  if (!t->tp.fingerprints.n)
    return sfu_sdp_err(err, errlen, SFU_EINVAL, "no DTLS fingerprint for %s", w);
  if (!t->tp.ice_ufrag || !t->tp.ice_pwd)
    return sfu_sdp_err(err, errlen, SFU_EINVAL, "no ICE credentials for %s", w);
  /* RFC 8842 §5.3: an offerer that insists on passive wants us to be the DTLS client; the
   * ICE-lite worker only serves. holdconn: no connection at all. */
  if (t->tp.setup == SFU_SDP_SETUP_PASSIVE || t->tp.setup == SFU_SDP_SETUP_HOLDCONN)
    return sfu_sdp_err(err, errlen, SFU_EINVAL,
                       "%s offers a=setup:%s; the worker is the DTLS server and needs "
                       "actpass or active",
                       w, t->tp.setup == SFU_SDP_SETUP_PASSIVE ? "passive" : "holdconn");
  return 0;
}

/* Bundled m-sections share one DTLS transport (RFC 8843 §7), and JSEP puts the same
 * fingerprint value(s) in every m-section (RFC 8829 §5.2.1). A section of the BUNDLE
 * group with another set says the offer is broken (or forged in part): refused rather
 * than guessing which set the certificate will match. Sections the offerer disabled (port
 * 0 without bundle-only) and sections with no fingerprint line of their own or inherited
 * are not part of it. */
static int check_fingerprints(const sfu_sdp_offer_t *o, const plan_t *plan,
                              const sfu_sdp_media_t *t, size_t ti, char *err, size_t errlen) {
  if (!o->has_bundle || !o->n_bundle) return 0; /* one section, one transport */
  for (size_t i = 0; i < o->n_media; i++) {
    const sfu_sdp_media_t *m = &o->media[i];
    if (m == t || plan[i].why == R_OFFERER || !in_bundle(o, m)) continue;
    if (!m->tp.fingerprints.n && m->tp.fp_refused == SFU_FP_NONE) continue;
    if (sfu_fingerprint_set_equal(&m->tp.fingerprints, &t->tp.fingerprints)) continue;
    char w[96], wt[96];
    return sfu_sdp_err(err, errlen, SFU_EINVAL,
                       "%s has other a=fingerprint values than %s; bundled m-sections share "
                       "one DTLS transport (RFC 8843, RFC 8829 §5.2.1)",
                       where(m, i, w, sizeof w), where(t, ti, wt, sizeof wt));
  }
  return 0;
}

static int nothing_served(const sfu_sdp_offer_t *o, const plan_t *plan, char *err,
                          size_t errlen) {
  char w[96];
  /* Name the first audio/video section and why, which is what a developer needs. */
  for (size_t i = 0; i < o->n_media; i++)
    if (plan[i].why != R_OFFERER && plan[i].why != R_NOT_BUNDLED)
      return sfu_sdp_err(err, errlen, SFU_EUNSUPP, "nothing the worker can decode: %s: %s",
                         where(&o->media[i], i, w, sizeof w), reason_text(plan[i].why));
  return sfu_sdp_err(err, errlen, SFU_EUNSUPP, "nothing the worker can decode: %s",
                     o->n_media ? "every m-section is disabled" : "no m-section");
}

static int build_neg(const sfu_sdp_offer_t *o, const plan_t *plan, size_t n_ok,
                     const sfu_sdp_media_t *t, sfu_rtp_ext_map_t *maps, int bundled,
                     const char *note, sfu_sdp_answer_t *neg) {
  size_t hdr = (n_ok * sizeof(sfu_sdp_neg_media_t) + 7u) & ~(size_t)7u;
  size_t cap = hdr + neg_string_bytes(o, plan) + 8;
  char *mem = malloc(cap);
  if (!mem) return SFU_ENOMEM;
  sfu_sdp_arena_t ar = {mem, cap, 0};
  memset(neg, 0, sizeof *neg);
  neg->mem_ = mem;
  neg->media = sfu_sdp_arena_alloc(&ar, n_ok * sizeof(sfu_sdp_neg_media_t));
  neg->remote_ufrag = ADUP(&ar, t->tp.ice_ufrag);
  neg->remote_pwd = ADUP(&ar, t->tp.ice_pwd);
  neg->remote_fingerprints = t->tp.fingerprints;
  neg->remote_setup = t->tp.setup;
  neg->bundled = (uint8_t)bundled;
  neg->n_offered = o->n_media;
  neg->note = ADUP(&ar, note);
  for (size_t i = 0; i < o->n_media; i++) {
    if (plan[i].why != R_OK) continue;
    sfu_sdp_neg_media_t *n = &neg->media[neg->n_media++];
    fill_neg_media(&ar, &o->media[i], &plan[i], i, n);
    if (o->media[i].kind != SFU_SDP_KIND_APPLICATION) n->ext = maps[i];
  }
  return 0;
}

static void write_session(actx_t *a, int bundled) {
  const sfu_sdp_offer_t *o = a->o;
  sfu_sdp_sb_printf(&a->sb,
                    "v=0\r\no=- %" PRIu64 " %" PRIu64 " IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
                    "a=ice-lite\r\n",
                    a->l->session_id, a->l->session_version);
  if (bundled) {
    /* RFC 8843 §7.3.1: the answerer BUNDLE-tag (our transport section) first. */
    sfu_sdp_sb_printf(&a->sb, "a=group:BUNDLE %s", a->tp_sec->mid);
    for (size_t b = 0; b < o->n_bundle; b++)
      for (size_t i = 0; i < o->n_media; i++)
        if (a->plan[i].why == R_OK && o->media[i].mid && &o->media[i] != a->tp_sec &&
            strcmp(o->media[i].mid, o->bundle_mids[b]) == 0)
          sfu_sdp_sb_printf(&a->sb, " %s", o->media[i].mid);
    sfu_sdp_sb_printf(&a->sb, "\r\n");
  }
  if (o->extmap_allow_mixed) sfu_sdp_sb_printf(&a->sb, "a=extmap-allow-mixed\r\n");
  /* With our own a=msid lines: aiortc 1.4.0 reads a track id from a=msid only when its
   * stream is in an a=msid-semantic WMS list (SessionDescription.webrtc_track_id); "*"
   * covers all. Chromium writes the line in this form and ignores it in unified plan. */
  for (size_t i = 0; i < o->n_media; i++)
    if (a->plan[i].why == R_OK && a->plan[i].send && a->plan[i].send->msid_track) {
      sfu_sdp_sb_printf(&a->sb, "a=msid-semantic: WMS *\r\n");
      break;
    }
}

int sfu_sdp_answer(const sfu_sdp_offer_t *o, const sfu_sdp_local_t *l, char **answer_text,
                   sfu_sdp_answer_t *neg, char *err, size_t errlen) {
  if (err && errlen) err[0] = '\0';
  if (answer_text) *answer_text = NULL;
  if (neg) memset(neg, 0, sizeof *neg);
  if (!o || !l || !answer_text || !l->ice_ufrag || !l->ice_pwd || !l->fingerprint || !l->ip ||
      (!l->udp_port && !l->tcp_port) || (l->n_plan && !l->plan))
    return sfu_sdp_err(err, errlen, SFU_EINVAL, "local parameters incomplete");
  plan_t *plan = calloc(o->n_media ? o->n_media : 1, sizeof *plan);
  sfu_rtp_ext_map_t *maps = calloc(o->n_media ? o->n_media : 1, sizeof *maps);
  int rc = 0;
  if (!plan || !maps) {
    rc = sfu_sdp_err(err, errlen, SFU_ENOMEM, "out of memory");
    goto out;
  }
  size_t n_ok = accept_plan(o, plan), ti = 0;
  if (!n_ok) {
    rc = nothing_served(o, plan, err, errlen);
    goto out;
  }
  const sfu_sdp_media_t *t = transport_section(o, plan, &ti);
  if ((rc = check_transport(o, t, ti, err, errlen)) ||
      (rc = check_fingerprints(o, plan, t, ti, err, errlen)) ||
      (rc = decide_directions(o, l, plan, err, errlen)))
    goto out;
  int bundled = o->has_bundle && o->n_bundle > 0 && t->mid;
  char note[256] = "";
  if (!(o->has_bundle && o->n_bundle > 0) && o->n_media > 1)
    snprintf(note, sizeof note,
             "offer has no a=group:BUNDLE: only m-section %zu accepted (one transport per "
             "attendee, RFC 8843 §7.3); offer with bundlePolicy max-bundle to send "
             "everything",
             ti);
  actx_t a = {.o = o, .l = l, .plan = plan, .tp_sec = t,
              .ipver = strchr(l->ip, ':') ? "IP6" : "IP4",
              .port = l->udp_port ? l->udp_port : l->tcp_port};
  write_session(&a, bundled);
  for (size_t i = 0; i < o->n_media; i++) {
    const sfu_sdp_media_t *m = &o->media[i];
    if (plan[i].why != R_OK) write_rejected(&a, m);
    else if (m->kind == SFU_SDP_KIND_APPLICATION) write_data_section(&a, m);
    else write_rtp_section(&a, m, &plan[i], &maps[i]);
  }
  if (a.sb.oom) {
    free(a.sb.buf);
    rc = sfu_sdp_err(err, errlen, SFU_ENOMEM, "out of memory");
    goto out;
  }
  if (neg && build_neg(o, plan, n_ok, t, maps, bundled, note[0] ? note : NULL, neg)) {
    free(a.sb.buf);
    rc = sfu_sdp_err(err, errlen, SFU_ENOMEM, "out of memory");
    goto out;
  }
  *answer_text = a.sb.buf;
out:
  free(plan);
  free(maps);
  return rc;
}

void sfu_sdp_answer_clear(sfu_sdp_answer_t *neg) {
  if (!neg) return;
  free(neg->mem_);
  memset(neg, 0, sizeof *neg);
}
