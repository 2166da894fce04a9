/* The attendees' audio as negotiated (issue 9), kept per transport for the mixer's wiring:
 * the payload types (Opus, RFC 2198 red), the RFC 6464 audio-level extension id, the
 * client's declared send SSRC, whether it asked for a stereo mix, and the SSRC the worker
 * sends the mix with. Nothing here moves packets: until the mixer is wired, audio RTP is
 * dropped in rtc_video_on_rtp, as before.
 *
 * The mix is declared in answers (an audio plan entry, sfu/sdp.h) only when the loop's
 * config turns the mixer on (sfu_rtc_config_t.audio_mixer, on unless SFU_AUDIO_MIXER=0): an answer
 * must not announce a stream that never arrives (the client would show a track that stays
 * silent, and Chromium would wait for its packets). Off, audio is answered as before plans.
 * Loop thread only. */
#include <stdio.h>
#include <string.h>

#include "session/rtc_internal.h"
#include "sfu/err.h"
#include "sfu/ids.h"
#include "sfu/srtp.h"
#include "sfu/transport.h"

/* our view of the answered direction */
static int client_sends(sfu_sdp_dir_t d) { return d == SFU_SDP_RECVONLY || d == SFU_SDP_SENDRECV; }
static int client_recvs(sfu_sdp_dir_t d) { return d == SFU_SDP_SENDONLY || d == SFU_SDP_SENDRECV; }

static int first_opus(const sfu_sdp_neg_media_t *m) {
  for (size_t i = 0; i < m->n_codecs; i++)
    if (m->codecs[i].name && strcmp(m->codecs[i].name, "opus") == 0) return (int)i;
  return -1;
}

/* The first audio section (with a mid) the client sends on / receives on; SIZE_MAX none.
 * Directions are read from an answer without audio plan entries (the probe), where they
 * are the reverse of the offer's. */
static void pick_sections(const sfu_sdp_answer_t *neg, size_t *snd, size_t *rcv) {
  *snd = *rcv = SIZE_MAX;
  for (size_t i = 0; i < neg->n_media; i++) {
    const sfu_sdp_neg_media_t *m = &neg->media[i];
    if (m->kind != SFU_SDP_KIND_AUDIO || !m->mid || first_opus(m) < 0) continue;
    if (*snd == SIZE_MAX && client_sends(m->dir)) *snd = i;
    if (*rcv == SIZE_MAX && client_recvs(m->dir)) *rcv = i;
  }
}

/* Whether ssrc is taken in this answer: ours (the video plan's sends) or the client's
 * (RFC 8843 §9.1: one RTP session across the BUNDLE, so one SSRC space). */
static int ssrc_taken(uint32_t ssrc, const sfu_sdp_answer_t *neg, const rtc_video_plan_t *vp) {
  if (ssrc < 2) return 1; /* 0 and 1 are the router's (router.c fresh_ssrc) */
  for (size_t i = 0; i < vp->n; i++)
    if (vp->plan[i].send && (vp->plan[i].ssrc == ssrc || vp->plan[i].rtx_ssrc == ssrc)) return 1;
  for (size_t i = 0; i < neg->n_media; i++)
    for (size_t k = 0; k < neg->media[i].n_ssrcs; k++)
      if (neg->media[i].ssrcs[k].ssrc == ssrc) return 1;
  return 0;
}

/* The worker's send SSRC gone while the transport lives: its SRTP state becomes a
 * tombstone (srtp.h), like the router's release_ssrc for a video view, so the index is
 * never protected again under that SSRC. */
static void release_worker_ssrc(rtc_rec_t *x) {
  if (!x->audio.worker_ssrc) return;
  struct sfu_srtp *s = x->tp ? sfu_transport_srtp(x->tp) : NULL;
  if (s) sfu_srtp_remove_ssrc(s, x->audio.worker_ssrc, 1);
  x->audio.worker_ssrc = 0;
}

void rtc_audio_init(rtc_rec_t *x) {
  memset(&x->audio, 0, sizeof x->audio);
  x->audio.opus_pt = x->audio.red_pt = x->audio.mix_pt = -1;
}

int rtc_audio_plan(sfu_rtc_t *r, rtc_rec_t *x, const sfu_sdp_answer_t *neg, rtc_video_plan_t *vp) {
  if (!r->cfg.audio_mixer || !x->att) return 0;
  size_t snd, rcv;
  pick_sections(neg, &snd, &rcv);
  if (rcv == SIZE_MAX) {
    release_worker_ssrc(x); /* a re-offer that stopped receiving audio */
  } else if (!x->audio.worker_ssrc || ssrc_taken(x->audio.worker_ssrc, neg, vp)) {
    /* Same source as the router's video send SSRCs (router.c fresh_ssrc: the CSPRNG,
     * 0 and 1 excluded), plus a check against this answer's SSRCs. Kept for the life of
     * the transport, so a re-offer does not restart the client's audio track. */
    release_worker_ssrc(x);
    uint32_t s = 0;
    for (int tries = 0; tries < 16 && ssrc_taken(s, neg, vp); tries++)
      if (sfu_random_bytes(&s, sizeof s) != 0) s = 0;
    if (ssrc_taken(s, neg, vp)) return SFU_ECRYPTO;
    x->audio.worker_ssrc = s;
  }
  /* One entry per audio section: the first the client sends on receives (the mixer takes
   * one stream per attendee), the first it receives on gets the mix; any other audio
   * section is inactive (the client sends nothing there, nothing is promised). */
  for (size_t i = 0; i < neg->n_media && vp->n < SFU_SDP_MAX_MEDIA; i++) {
    const sfu_sdp_neg_media_t *m = &neg->media[i];
    if (m->kind != SFU_SDP_KIND_AUDIO || !m->mid) continue;
    size_t pi = vp->n++;
    sfu_sdp_plan_t *p = &vp->plan[pi];
    memset(p, 0, sizeof *p);
    snprintf(vp->mid[pi], sizeof vp->mid[pi], "%s", m->mid);
    p->mid = vp->mid[pi];
    p->recv = i == snd;
    p->send_pt = -1;
    if (i != rcv) continue;
    int o = first_opus(m);
    p->send = 1;
    p->ssrc = x->audio.worker_ssrc;
    p->send_pt = (int16_t)m->codecs[o].pt; /* Opus first: what the client's decoder expects */
    p->cname = "sfu-worker";
    p->msid_stream = "sfu-mix"; /* its own stream: the mix is nobody's camera */
    p->msid_track = "audio-mix";
  }
  return 0;
}

void rtc_audio_record(rtc_rec_t *x, const sfu_sdp_answer_t *fin) {
  uint32_t worker_ssrc = x->audio.worker_ssrc;
  rtc_audio_init(x);
  x->audio.worker_ssrc = worker_ssrc;
  size_t snd, rcv;
  pick_sections(fin, &snd, &rcv);
  if (snd != SIZE_MAX) {
    const sfu_sdp_neg_media_t *m = &fin->media[snd];
    x->audio.opus_pt = (int16_t)m->codecs[first_opus(m)].pt;
    x->audio.red_pt = m->red_pt;
    x->audio.level_ext_id = sfu_rtp_ext_map_id(&m->ext, SFU_EXT_AUDIO_LEVEL);
    x->audio.client_ssrc = m->n_ssrcs ? m->ssrcs[0].ssrc : 0; /* audio has no RTX/FID */
    snprintf(x->audio.recv_mid, sizeof x->audio.recv_mid, "%s", m->mid);
  }
  if (rcv != SIZE_MAX) {
    const sfu_sdp_neg_media_t *m = &fin->media[rcv];
    x->audio.stereo = m->codecs[first_opus(m)].opus_stereo;
    x->audio.mix_pt = (int16_t)m->codecs[first_opus(m)].pt;
    snprintf(x->audio.send_mid, sizeof x->audio.send_mid, "%s", m->mid);
  }
  /* Only an SSRC the final answer declared is the mix's (mixer off: none). */
  if (rcv == SIZE_MAX || fin->media[rcv].send_ssrc != x->audio.worker_ssrc) release_worker_ssrc(x);
}
