/* The meetings' video routers on this loop (router.h), wired to the attendees'
 * transports: a router per meeting with video, created by the first Subscribe that
 * publishes or views, hung on meeting->media; a router peer per transport; decrypted
 * RTP/RTCP in, SRTP out through the transport, router events turned into session events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session/rtc_internal.h"
#include "sfu/err.h"
#include "sfu/log.h"
#include "sfu/srtp.h"
#include "sfu/transport.h"

/* ---- router callbacks ---- */

static int send_rtp(void *peer_user, uint8_t *buf, size_t len, size_t cap) {
  rtc_rec_t *x = peer_user;
  return sfu_transport_send_rtp(x->tp, buf, len, cap);
}

static int send_rtcp(void *peer_user, uint8_t *buf, size_t len, size_t cap) {
  rtc_rec_t *x = peer_user;
  return sfu_transport_send_rtcp(x->tp, buf, len, cap);
}

/* The viewer-stream ended: its outgoing SRTP state shrinks to a tombstone (srtp.h), so
 * its indexes are never protected again. */
static void release_ssrc(void *peer_user, uint32_t ssrc) {
  rtc_rec_t *x = peer_user;
  struct sfu_srtp *s = sfu_transport_srtp(x->tp);
  if (s) sfu_srtp_remove_ssrc(s, ssrc, 1);
}

static void on_router_event(void *user, const sfu_router_event_t *ev) {
  rtc_router_t *rr = user;
  sfu_rtc_t *r = rr->rtc;
  if (!r->cbs.on_event_cb) return;
  if (ev->kind == SFU_ROUTER_EV_INDEX_CHANGED) {
    sfu_event_t e;
    memset(&e, 0, sizeof e);
    e.type = SFU_EV_INDEX_CHANGED;
    e.timestamp_us = r->last_now_us;
    memcpy(e.meeting_id, rr->m->id, sizeof e.meeting_id);
    memcpy(e.external_meeting_id, rr->m->external_id, sizeof e.external_meeting_id);
    memcpy(e.primary_meeting_id, rr->m->primary_id, sizeof e.primary_meeting_id);
    e.router = rr->router;
    r->cbs.on_event_cb(r->cbs.user, &e);
    return;
  }
  rtc_rec_t *x = ev->peer_user;
  if (!x) return;
  sfu_event_t e = x->ident;
  e.timestamp_us = r->last_now_us;
  e.stream_id = ev->stream_id;
  switch (ev->kind) {
  case SFU_ROUTER_EV_VIDEO_STARTED:
    e.type = ev->content ? SFU_EV_CONTENT_VIDEO_STARTED : SFU_EV_VIDEO_STARTED;
    break;
  case SFU_ROUTER_EV_VIDEO_STOPPED:
    e.type = ev->content ? SFU_EV_CONTENT_VIDEO_STOPPED : SFU_EV_VIDEO_STOPPED;
    break;
  case SFU_ROUTER_EV_SEND_REFUSED:
    e.type = SFU_EV_VIDEO_SEND_REFUSED;
    snprintf(e.message, sizeof e.message, "%s", ev->message ? ev->message : "");
    break;
  case SFU_ROUTER_EV_DOWNLINK:
    e.type = ev->insufficient ? SFU_EV_DOWNLINK_INSUFFICIENT : SFU_EV_DOWNLINK_SUFFICIENT;
    e.estimate_kbps = (uint32_t)(ev->estimate_bps / 1000);
    e.required_kbps = (uint32_t)(ev->required_bps / 1000);
    e.n_paused = (uint8_t)(ev->n_paused < 25 ? ev->n_paused : 25);
    for (size_t i = 0; i < e.n_paused; i++) e.paused[i] = ev->paused[i];
    break;
  default:
    return;
  }
  r->cbs.on_event_cb(r->cbs.user, &e);
}

/* ---- routers ---- */

static void res_of(sfu_resolution_t res, uint16_t *w, uint16_t *h) {
  switch (res) {
  case SFU_RES_HD: *w = 1280, *h = 720; break;
  case SFU_RES_FHD: *w = 1920, *h = 1080; break;
  case SFU_RES_UHD: *w = 3840, *h = 2160; break;
  default: *w = *h = 0; break;
  }
}

static rtc_router_t *meeting_router(sfu_rtc_t *r, sfu_meeting_t *m) {
  if (m->media) return m->media;
  rtc_router_t *rr = calloc(1, sizeof *rr);
  if (!rr) return NULL;
  rr->rtc = r;
  rr->m = m;
  sfu_router_config_t cfg = {0};
  res_of(m->features.video, &cfg.video_max_width, &cfg.video_max_height);
  res_of(m->features.content, &cfg.content_max_width, &cfg.content_max_height);
  /* requirements.md: 1,500 kbps per stream, 2,500 kbps in a high-definition session */
  cfg.max_stream_bitrate_bps = sfu_features_is_hd(&m->features) ? 2500000 : 1500000;
  cfg.max_streams = SFU_ROUTER_MAX_STREAMS;
  cfg.receive_bitrate_bps = (uint32_t)m->features.receive_kbps * 1000u;
  cfg.pace_burst_us = r->cfg.pacer_burst_us;
  sfu_router_cbs_t cbs = {send_rtp, send_rtcp, on_router_event, rr, release_ssrc};
  rr->router = sfu_router_new(&cfg, &cbs);
  if (!rr->router) {
    free(rr);
    return NULL;
  }
  sfu_list_insert_tail(&r->routers, &rr->link);
  m->media = rr;
  return rr;
}

static void router_free(rtc_router_t *rr) {
  sfu_list_remove(&rr->link);
  if (rr->m) rr->m->media = NULL;
  sfu_router_free(rr->router);
  free(rr);
}

static void recompute_deadline(sfu_rtc_t *r) {
  uint64_t d = UINT64_MAX;
  sfu_list_t *it;
  sfu_list_foreach(it, &r->routers) {
    rtc_router_t *rr = sfu_container_of(it, rtc_router_t, link);
    uint64_t x = sfu_router_next_deadline(rr->router);
    if (x < d) d = x;
  }
  r->video_deadline = d;
}

void rtc_video_timeout(sfu_rtc_t *r, uint64_t now_us) {
  sfu_list_t *it;
  sfu_list_foreach(it, &r->routers) {
    rtc_router_t *rr = sfu_container_of(it, rtc_router_t, link);
    if (sfu_router_next_deadline(rr->router) <= now_us) sfu_router_handle_timeout(rr->router, now_us);
  }
  recompute_deadline(r);
}

void sfu_rtc_meeting_removed(sfu_rtc_t *r, sfu_meeting_t *m) {
  rtc_mixer_meeting_removed(r, m);
  rtc_data_meeting_removed(r, m);
  rtc_router_t *rr = m->media;
  if (!rr) return;
  if (rr->peers) {
    /* Transports of this meeting still hold peers (normally they departed with their
     * attendees first): detach them before the router goes. */
    sfu_list_t *it;
    sfu_list_foreach(it, &r->live) {
      rtc_rec_t *x = sfu_container_of(it, rtc_rec_t, link);
      if (x->rr == rr) x->rr = NULL, x->peer = NULL;
    }
  }
  router_free(rr);
  recompute_deadline(r);
}

void rtc_video_free_all(sfu_rtc_t *r) {
  while (!sfu_list_empty(&r->routers))
    router_free(sfu_container_of(r->routers.next, rtc_router_t, link));
  r->video_deadline = UINT64_MAX;
}

const sfu_router_t *sfu_rtc_meeting_router(const sfu_rtc_t *r, const sfu_meeting_t *m) {
  const rtc_router_t *rr = m->media;
  return rr ? rr->router : NULL;
}

const sfu_router_peer_t *sfu_rtc_attendee_peer(const sfu_attendee_t *a) {
  const rtc_rec_t *x = a->transport;
  return x ? x->peer : NULL;
}

/* ---- peers ---- */

/* A camera attendee sends and receives video by its Video capability; a content share
 * ("<id>#content") sends by its Content capability (and receives by Video, like anyone). */
static void caps_of(const rtc_rec_t *x, const sfu_attendee_t *a, uint8_t *send, uint8_t *recv) {
  sfu_cap_t s = x->content ? a->caps.content : a->caps.video, v = a->caps.video;
  *send = s == SFU_CAP_SEND_RECEIVE || s == SFU_CAP_SEND;
  *recv = v == SFU_CAP_SEND_RECEIVE || v == SFU_CAP_RECEIVE;
}

void rtc_video_peer_gone(sfu_rtc_t *r, rtc_rec_t *x) {
  if (!x->peer || !x->rr) return;
  rtc_router_t *rr = x->rr;
  sfu_router_peer_free(rr->router, x->peer, r->last_now_us);
  x->peer = NULL;
  x->rr = NULL;
  rr->peers--;
  recompute_deadline(r);
}

/* DTLS connected: what the router sends this peer can be decrypted from now on. */
void rtc_video_joined(sfu_rtc_t *r, rtc_rec_t *x) {
  if (!x->peer || !x->rr) return;
  sfu_router_peer_set_ready(x->rr->router, x->peer, 1, r->last_now_us);
}

void sfu_rtc_attendee_caps_changed(sfu_rtc_t *r, sfu_attendee_t *a, uint64_t now_us) {
  rtc_rec_t *x = a->transport;
  if (x) rtc_mixer_sync(r, x, now_us); /* issue 9: the Audio capability, live */
  if (!x || !x->peer) return;
  uint8_t s, v;
  caps_of(x, a, &s, &v);
  r->last_now_us = now_us;
  sfu_router_peer_set_caps(x->rr->router, x->peer, s, v, now_us);
  recompute_deadline(r);
}

/* ---- packets ---- */

/* A packet in may have queued packets in a viewer's pacer (router_pace.c): the router's
 * deadline can only have come closer, so the minimum is kept in O(1) (the loop's check
 * phase re-arms its timer when it moved). */
static void deadline_closer(sfu_rtc_t *r, const rtc_router_t *rr) {
  uint64_t d = sfu_router_next_deadline(rr->router);
  if (d < r->video_deadline) r->video_deadline = d;
}

void rtc_video_on_rtp(void *user, sfu_transport_t *t, uint64_t now_us, uint8_t *buf, size_t len) {
  rtc_rec_t *x = user;
  /* The attendee's audio PTs go to its meeting's mixer (issue 9, switch on); only the
   * publishing section's payload types go to the router. */
  if (rtc_mixer_on_rtp(x, now_us, buf, len)) return;
  if (!x->peer || len < 2 || !x->video_pt[buf[1] & 0x7f]) return;
  x->rtc->last_now_us = now_us;
  sfu_router_on_rtp(x->rr->router, x->peer, now_us, buf, len);
  deadline_closer(x->rtc, x->rr);
}

void rtc_video_on_rtcp(void *user, sfu_transport_t *t, uint64_t now_us, uint8_t *buf, size_t len) {
  rtc_rec_t *x = user;
  rtc_mixer_on_rtcp(x, now_us, buf, len); /* reads receiver reports about the mix */
  if (!x->peer) return;
  x->rtc->last_now_us = now_us;
  sfu_router_on_rtcp(x->rr->router, x->peer, now_us, buf, len);
  deadline_closer(x->rtc, x->rr);
}

/* ---- negotiation ---- */

static void codecs_of(const sfu_sdp_neg_media_t *m, sfu_router_codec_t *out, size_t cap,
                      size_t *n) {
  *n = 0;
  for (size_t i = 0; i < m->n_codecs && *n < cap; i++) {
    const sfu_sdp_neg_codec_t *c = &m->codecs[i];
    if (!c->name) continue;
    sfu_router_codec_t *o = &out[(*n)++];
    o->pt = c->pt;
    o->rtx_pt = c->rtx_pt;
    o->clock_rate = c->clock_rate;
    snprintf(o->name, sizeof o->name, "%s", c->name);
    o->rtcp_fb = c->rtcp_fb;
  }
}

/* The client sends on m: rids (simulcast), or a=ssrc with FID groups, or nothing (the
 * first packets tell). */
static void pub_desc_of(const sfu_sdp_neg_media_t *m, sfu_router_pub_desc_t *d) {
  memset(d, 0, sizeof *d);
  snprintf(d->mid, sizeof d->mid, "%s", m->mid ? m->mid : "");
  codecs_of(m, d->codecs, 4, &d->n_codecs);
  d->ext = m->ext;
  if (m->simulcast_recv && m->n_rids > 1) {
    for (size_t i = 0; i < m->n_rids && d->n_rids < SFU_ROUTER_MAX_LAYERS; i++) {
      if (m->rid_paused[i]) continue;
      snprintf(d->rids[d->n_rids++], SFU_ROUTER_RID_MAX, "%s", m->rids[i]);
    }
    return;
  }
  /* Legacy simulcast: a=ssrc-group:SIM lists the layers' media SSRCs (lowest first by
   * convention; the router orders them by what they carry anyway), FID their RTX. */
  if (m->n_sim_ssrcs > 1) {
    for (size_t i = 0; i < m->n_sim_ssrcs && d->n_ssrcs < SFU_ROUTER_MAX_LAYERS; i++) {
      uint32_t rtx = 0;
      for (size_t f = 0; f < m->n_fids; f++)
        if (m->fids[f].primary == m->sim_ssrcs[i]) rtx = m->fids[f].rtx;
      d->ssrcs[d->n_ssrcs] = m->sim_ssrcs[i];
      d->rtx_ssrcs[d->n_ssrcs] = rtx;
      d->n_ssrcs++;
    }
    return;
  }
  /* a=ssrc: media SSRCs are those that are not the RTX half of a FID group. */
  for (size_t i = 0; i < m->n_ssrcs && d->n_ssrcs < 1; i++) {
    uint32_t ssrc = m->ssrcs[i].ssrc;
    int is_rtx = 0;
    uint32_t rtx = 0;
    for (size_t f = 0; f < m->n_fids; f++) {
      if (m->fids[f].rtx == ssrc) is_rtx = 1;
      if (m->fids[f].primary == ssrc) rtx = m->fids[f].rtx;
    }
    if (is_rtx) continue;
    d->ssrcs[d->n_ssrcs] = ssrc;
    d->rtx_ssrcs[d->n_ssrcs] = rtx;
    d->n_ssrcs++;
  }
}

static int client_sends(sfu_sdp_dir_t our) { return our == SFU_SDP_RECVONLY || our == SFU_SDP_SENDRECV; }

int rtc_video_negotiate(sfu_rtc_t *r, rtc_rec_t *x, const sfu_sdp_answer_t *neg,
                        const sfu_rtc_sub_req_t *req, uint64_t now_us, rtc_video_plan_t *vp,
                        sfu_rtc_sub_result_t *res, char *err, size_t errlen) {
  vp->n = 0;
  sfu_sdp_plan_t *plan = vp->plan;
  size_t *n_plan = &vp->n;
  sfu_attendee_t *a = x->att;
  if (!a) return 0;
  r->last_now_us = now_us;
  /* Which video sections publish and which receive (offer order). */
  size_t pub_i = SIZE_MAX;
  size_t recv_idx[SFU_SDP_MAX_MEDIA], n_recv = 0;
  for (int pass = 0; pass < 2; pass++) {
    for (size_t i = 0; i < neg->n_media; i++) {
      const sfu_sdp_neg_media_t *m = &neg->media[i];
      if (m->kind != SFU_SDP_KIND_VIDEO || !m->mid) continue;
      if (pass == 0 && client_sends(m->dir) && pub_i == SIZE_MAX) pub_i = i;
      /* recvonly sections first, then sendrecv ones other than the publishing one */
      if (pass == 0 && m->dir == SFU_SDP_SENDONLY) recv_idx[n_recv++] = i;
      if (pass == 1 && m->dir == SFU_SDP_SENDRECV && i != pub_i) recv_idx[n_recv++] = i;
    }
  }
  size_t want = req ? req->n_receive : 0;
  if (want > n_recv) {
    snprintf(err, errlen, "ReceiveStreamIds: %zu streams asked, but the offer has %zu receiving "
             "video sections", want, n_recv);
    return SFU_EINVAL;
  }
  if (pub_i == SIZE_MAX && n_recv == 0 && !x->peer) return 0; /* no video section at all */
  rtc_router_t *rr = meeting_router(r, a->meeting);
  if (!rr) {
    snprintf(err, errlen, "Video: out of memory");
    return SFU_ENOMEM;
  }
  uint8_t can_send, can_recv;
  caps_of(x, a, &can_send, &can_recv);
  if (!x->peer) {
    sfu_router_peer_desc_t pd = {a->id, a->external_user_id, x->content, can_send, can_recv};
    x->peer = sfu_router_peer_new(rr->router, &pd, x);
    if (!x->peer) {
      snprintf(err, errlen, "Video: out of memory");
      return SFU_ENOMEM;
    }
    x->rr = rr;
    rr->peers++;
    if (sfu_transport_joined(x->tp)) sfu_router_peer_set_ready(rr->router, x->peer, 1, now_us);
  }
  /* Publish. A refusal (limit, capability) is not an error of the Subscribe: the rest of
   * the offer is answered as usual and the section is answered without receiving. */
  memset(x->video_pt, 0, sizeof x->video_pt);
  uint32_t sid = 0;
  int pub_ok = 0;
  if (pub_i != SIZE_MAX) {
    sfu_router_pub_desc_t d;
    pub_desc_of(&neg->media[pub_i], &d);
    char e[200];
    int rc = sfu_router_peer_publish(rr->router, x->peer, &d, 1, now_us, &sid, e, sizeof e);
    if (rc == 0) {
      pub_ok = 1;
      for (size_t c = 0; c < d.n_codecs; c++) {
        x->video_pt[d.codecs[c].pt & 0x7f] = 1;
        if (d.codecs[c].rtx_pt >= 0) x->video_pt[d.codecs[c].rtx_pt & 0x7f] = 1;
      }
      if (res) {
        res->published_stream_id = sid;
        snprintf(res->publish_mid, sizeof res->publish_mid, "%s", d.mid);
      }
    } else if (res) {
      res->publish_err = rc;
      snprintf(res->publish_errmsg, sizeof res->publish_errmsg, "%s", e);
    }
  } else {
    sfu_router_peer_publish(rr->router, x->peer, NULL, 0, now_us, &sid, NULL, 0);
  }
  /* Views. */
  sfu_router_view_desc_t vd[SFU_ROUTER_MAX_VIEWS];
  sfu_router_view_out_t vo[SFU_ROUTER_MAX_VIEWS];
  size_t nv = n_recv < SFU_ROUTER_MAX_VIEWS ? n_recv : SFU_ROUTER_MAX_VIEWS;
  for (size_t k = 0; k < nv; k++) {
    const sfu_sdp_neg_media_t *m = &neg->media[recv_idx[k]];
    memset(&vd[k], 0, sizeof vd[k]);
    snprintf(vd[k].mid, sizeof vd[k].mid, "%s", m->mid);
    codecs_of(m, vd[k].codecs, 8, &vd[k].n_codecs);
    vd[k].ext = m->ext;
    vd[k].max_layer = -1;
    if (k < want) {
      vd[k].stream_id = req->receive[k].stream_id;
      vd[k].max_layer = req->receive[k].max_layer;
      vd[k].max_height = req->receive[k].max_height;
      vd[k].priority = req->receive[k].priority;
    }
  }
  int rc = sfu_router_peer_set_views(rr->router, x->peer, vd, nv, now_us, vo, err, errlen);
  recompute_deadline(r);
  if (rc) return rc;
  /* The plan of the final answer: every video section, by mid. */
  for (size_t i = 0; i < neg->n_media; i++) {
    const sfu_sdp_neg_media_t *m = &neg->media[i];
    if (m->kind != SFU_SDP_KIND_VIDEO || !m->mid) continue;
    size_t pi = (*n_plan)++;
    sfu_sdp_plan_t *p = &plan[pi];
    memset(p, 0, sizeof *p);
    snprintf(vp->mid[pi], sizeof vp->mid[pi], "%s", m->mid);
    p->mid = vp->mid[pi];
    p->recv = i == pub_i && pub_ok;
    p->send_pt = -1;
    for (size_t k = 0; k < nv; k++) {
      if (recv_idx[k] != i || !vo[k].stream_id) continue;
      p->send = 1;
      p->ssrc = vo[k].ssrc;
      p->rtx_ssrc = vo[k].rtx_ssrc;
      p->send_pt = vo[k].pt;
      p->cname = "sfu-worker";
      snprintf(vp->msid_stream[k], sizeof vp->msid_stream[k], "%s", vo[k].msid_stream);
      snprintf(vp->msid_track[k], sizeof vp->msid_track[k], "%s", vo[k].msid_track);
      p->msid_stream = vp->msid_stream[k];
      p->msid_track = vp->msid_track[k];
    }
  }
  if (res) {
    res->n_views = 0;
    for (size_t k = 0; k < nv; k++) {
      sfu_router_view_out_t *o = &res->views[res->n_views];
      *o = vo[k];
      snprintf(res->view_attendee[res->n_views], sizeof res->view_attendee[0], "%s",
               vo[k].attendee_id ? vo[k].attendee_id : "");
      o->attendee_id = res->view_attendee[res->n_views];
      res->n_views++;
    }
  }
  return 0;
}
