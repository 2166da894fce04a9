/* The video router (router.h): peers, streams, negotiation, the index and figures. The
 * packet path is in router_fwd.c, RTCP and timers in router_rtcp.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "media/router_internal.h"
#include "sfu/err.h"
#include "sfu/ids.h"
#include "sfu/sdp.h"

sfu_router_t *sfu_router_new(const sfu_router_config_t *cfg, const sfu_router_cbs_t *cbs) {
  sfu_router_t *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->cfg = *cfg;
  if (!r->cfg.max_streams || r->cfg.max_streams > SFU_ROUTER_MAX_STREAMS)
    r->cfg.max_streams = SFU_ROUTER_MAX_STREAMS;
  if (!r->cfg.max_stream_bitrate_bps) r->cfg.max_stream_bitrate_bps = 1500000;
  if (!r->cfg.receive_bitrate_bps) r->cfg.receive_bitrate_bps = ROUTER_DOWNLINK_CAP_BPS;
  r->cbs = *cbs;
  r->next_stream_id = 1;
  r->next_tick_us = UINT64_MAX;
  r->pace_next_us = UINT64_MAX;
  sfu_list_init(&r->peers);
  return r;
}

/* ---- events ---- */

void router_event(sfu_router_t *r, sfu_router_event_kind_t kind, stream_t *s, const char *msg) {
  if (!r->cbs.on_event) return;
  sfu_router_event_t ev = {.kind = kind};
  if (s) {
    ev.peer = s->pub;
    ev.peer_user = s->pub ? s->pub->user : NULL;
    ev.stream_id = s->id;
    ev.content = s->content;
  }
  ev.message = msg;
  r->cbs.on_event(r->cbs.user, &ev);
}

/* The index changed. The event goes out at the next tick (<= 20 ms), once for all the
 * changes in between: a simulcast publisher starting changes it 4-6 times within a few
 * packets (layers appearing, resolutions, order), and each event carries the whole
 * index. The version moves at once (GetStreamIndex and Subscribe replies read it live). */
void router_index_changed(sfu_router_t *r) {
  r->index_version++;
  r->index_dirty = 1;
  if (r->next_tick_us == UINT64_MAX) r->next_tick_us = (r->now_us / ROUTER_TICK_US + 1) * ROUTER_TICK_US;
}

/* ---- layers' order ----
 * The order of a=rid lines says nothing (Firefox lists the highest first, Chromium the
 * lowest), and a=simulcast only says the offerer's preference. A layer's rank comes from
 * what it carries: its keyframe resolution once every layer that flows has shown one,
 * else its measured bitrate, else the a=simulcast order (lowest first, as Chromium). */
static uint64_t layer_weight(const layer_t *l, int by_res) {
  if (by_res) return (uint64_t)l->width * l->height;
  return l->packets ? l->bytes : 0;
}

void router_sort_layers(stream_t *s) {
  int by_res = 1, by_rate = 1;
  for (size_t i = 0; i < s->n_layers; i++) {
    if (!s->layers[i].known) continue;
    if (!s->layers[i].width) by_res = 0;
    if (!s->layers[i].packets) by_rate = 0;
  }
  uint8_t order[SFU_ROUTER_MAX_LAYERS];
  for (size_t i = 0; i < s->n_layers; i++) order[i] = (uint8_t)i;
  if (by_res || by_rate) {
    /* insertion sort, stable: ties keep the a=simulcast order */
    for (size_t i = 1; i < s->n_layers; i++) {
      uint8_t x = order[i];
      size_t j = i;
      while (j > 0 && layer_weight(&s->layers[order[j - 1]], by_res) >
                          layer_weight(&s->layers[x], by_res)) {
        order[j] = order[j - 1];
        j--;
      }
      order[j] = x;
    }
  }
  if (memcmp(order, s->rank, s->n_layers) != 0) {
    memcpy(s->rank, order, s->n_layers);
    if (s->pub) {
      router_index_changed(s->pub->r);
      router_rechoose(s->pub->r, s);
    }
  }
}

/* The layers changed (one started or stopped flowing, or their order moved): every
 * viewer of the stream chooses again. */
void router_rechoose(sfu_router_t *r, stream_t *s) {
  for (size_t i = 0; i < s->n_views; i++) router_choose_layer(r, s->views[i], r->now_us);
}

int router_layer_rank(const stream_t *s, int storage_idx) {
  for (size_t i = 0; i < s->n_layers; i++)
    if (s->rank[i] == storage_idx) return (int)i;
  return -1;
}

/* ---- streams ---- */

static router_codec_t codec_of(const char *name) {
  if (!strcmp(name, "VP8")) return CODEC_VP8;
  if (!strcmp(name, "H264")) return CODEC_H264;
  if (!strcmp(name, "VP9")) return CODEC_VP9;
  if (!strcmp(name, "AV1")) return CODEC_AV1;
  return CODEC_OTHER;
}

static const char *codec_name(router_codec_t c) {
  static const char *n[] = {"other", "VP8", "H264", "VP9", "AV1"};
  return n[c];
}

static void layer_init(layer_t *l, stream_t *s) {
  l->s = s;
  l->hist = sfu_history_new(ROUTER_HISTORY_US, ROUTER_HISTORY_MAX);
  sfu_kf_req_init(&l->kf);
  sfu_nack_gen_init(&l->nack);
  sfu_rate_meter_init(&l->rate, 1000000);
  for (size_t t = 0; t < SFU_TEMPORAL_MAX; t++) sfu_rate_meter_init(&l->tl_rate[t], 1000000);
}

static void view_detach(sfu_router_t *r, view_t *v);

int router_layer_temporal(layer_t *l, uint64_t now_us, uint32_t *cum) {
  uint32_t sum = 0;
  int n = 0;
  for (int t = 0; t < SFU_TEMPORAL_MAX; t++) {
    uint32_t bps = sfu_rate_meter_bps(&l->tl_rate[t], now_us);
    sum = bps > UINT32_MAX - sum ? UINT32_MAX : sum + bps;
    cum[t] = bps ? sum : 0; /* a TID not flowing is no rung */
    if (bps) n = t + 1;
  }
  return n;
}

static void stream_free(sfu_router_t *r, stream_t *s, uint64_t now_us) {
  /* Viewers keep their sections (and SSRCs) but get nothing until the next Subscribe. */
  while (s->n_views) {
    view_t *v = s->views[s->n_views - 1];
    view_detach(r, v);
  }
  for (size_t i = 0; i < r->n_streams; i++) {
    if (r->streams[i] != s) continue;
    memmove(&r->streams[i], &r->streams[i + 1], (r->n_streams - i - 1) * sizeof r->streams[0]);
    r->n_streams--;
    break;
  }
  if (s->flowing) router_event(r, SFU_ROUTER_EV_VIDEO_STOPPED, s, NULL);
  for (size_t i = 0; i < s->n_layers; i++) sfu_history_free(s->layers[i].hist);
  r->hist_gen++; /* r->src_cache may point into them */
  r->st.streams--;
  free(s->views);
  free(s);
  router_index_changed(r);
}

static size_t camera_count(const sfu_router_t *r, int content) {
  size_t n = 0;
  for (size_t i = 0; i < r->n_streams; i++) n += r->streams[i]->content == content;
  return n;
}

/* Fills a new stream from the section's description (no events). */
static stream_t *stream_new(sfu_router_t *r, sfu_router_peer_t *p, const sfu_router_pub_desc_t *d) {
  stream_t *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->pub = p;
  s->content = p->content;
  memcpy(s->mid, d->mid, sizeof s->mid);
  s->ext = d->ext;
  s->n_codecs = d->n_codecs < 4 ? d->n_codecs : 4;
  memcpy(s->codecs, d->codecs, s->n_codecs * sizeof s->codecs[0]);
  s->codec = s->n_codecs ? codec_of(s->codecs[0].name) : CODEC_OTHER;
  s->n_layers = d->n_rids ? d->n_rids : (d->n_ssrcs ? d->n_ssrcs : 1);
  if (s->n_layers > SFU_ROUTER_MAX_LAYERS) s->n_layers = SFU_ROUTER_MAX_LAYERS;
  for (size_t i = 0; i < s->n_layers; i++) {
    layer_t *l = &s->layers[i];
    layer_init(l, s);
    if (!l->hist) {
      for (size_t j = 0; j <= i; j++) sfu_history_free(s->layers[j].hist);
      free(s);
      return NULL;
    }
    if (d->n_rids) memcpy(l->rid, d->rids[i], sizeof l->rid);
    if (i < d->n_ssrcs && d->ssrcs[i]) {
      l->ssrc = d->ssrcs[i];
      l->rtx_ssrc = d->rtx_ssrcs[i];
      l->known = 1;
      sfu_recv_stats_init(&l->rs, l->ssrc, 90000);
    }
    s->rank[i] = (uint8_t)i;
  }
  return s;
}

/* Same section, same layers: a renegotiation that changes nothing for the stream. */
static int same_publication(const stream_t *s, const sfu_router_pub_desc_t *d) {
  if (strcmp(s->mid, d->mid)) return 0;
  size_t n = d->n_rids ? d->n_rids : (d->n_ssrcs ? d->n_ssrcs : 1);
  if (n != s->n_layers) return 0;
  for (size_t i = 0; i < n && d->n_rids; i++)
    if (strcmp(s->layers[i].rid, d->rids[i])) return 0;
  return 1;
}

int sfu_router_peer_publish(sfu_router_t *r, sfu_router_peer_t *p, const sfu_router_pub_desc_t *d,
                            size_t n, uint64_t now_us, uint32_t *stream_id, char *err,
                            size_t errlen) {
  *stream_id = 0;
  r->now_us = now_us;
  if (n == 0) {
    if (p->pub) {
      stream_t *s = p->pub;
      p->pub = NULL;
      stream_free(r, s, now_us);
    }
    return 0;
  }
  /* One camera (or content) stream per attendee (requirements.md): the first sending
   * video section publishes, later ones are not used. */
  if (!p->can_send) {
    snprintf(err, errlen, "Video: attendee %s has no Send capability", p->attendee_id);
    return SFU_EPERM;
  }
  if (p->pub && same_publication(p->pub, d)) {
    p->pub->ext = d->ext; /* ids may be renumbered */
    *stream_id = p->pub->id;
    return 0;
  }
  int content = p->content;
  size_t limit = content ? SFU_ROUTER_MAX_CONTENT : r->cfg.max_streams;
  size_t have = camera_count(r, content) - (p->pub ? 1 : 0);
  if (have >= limit) {
    snprintf(err, errlen, "%s: the meeting has %zu published %s streams already (limit %zu)",
             content ? "Content" : "Video", have, content ? "content" : "camera", limit);
    return SFU_ELIMIT;
  }
  if ((content && !r->cfg.content_max_width) || (!content && !r->cfg.video_max_width)) {
    snprintf(err, errlen, "%s: the meeting's MaxResolution is None",
             content ? "Content" : "Video");
    return SFU_EPERM;
  }
  stream_t *s = stream_new(r, p, d);
  if (!s) {
    snprintf(err, errlen, "Video: out of memory");
    return SFU_ENOMEM;
  }
  if (p->pub) {
    stream_t *old = p->pub;
    p->pub = NULL;
    stream_free(r, old, now_us);
  }
  s->id = r->next_stream_id++;
  r->streams[r->n_streams++] = s;
  r->st.streams++;
  p->pub = s;
  *stream_id = s->id;
  if (r->next_tick_us == UINT64_MAX) {
    r->next_tick_us = (now_us / ROUTER_TICK_US + 1) * ROUTER_TICK_US;
    r->next_report_us = now_us + ROUTER_REPORT_US;
  }
  router_index_changed(r);
  return 0;
}

static stream_t *find_stream(const sfu_router_t *r, uint32_t id) {
  for (size_t i = 0; i < r->n_streams; i++)
    if (r->streams[i]->id == id) return r->streams[i];
  return NULL;
}

int sfu_router_has_stream(const sfu_router_t *r, uint32_t stream_id) {
  return find_stream(r, stream_id) != NULL;
}

/* ---- views ---- */

static void view_attach(stream_t *s, view_t *v) {
  if (s->n_views == s->cap_views) {
    size_t cap = s->cap_views ? s->cap_views * 2 : 8;
    view_t **nv = realloc(s->views, cap * sizeof *nv);
    if (!nv) return; /* the view stays detached: it gets nothing */
    s->views = nv;
    s->cap_views = cap;
  }
  s->views[s->n_views++] = v;
  v->s = s;
}

static void view_detach(sfu_router_t *r, view_t *v) {
  stream_t *s = v->s;
  if (!s) return;
  router_pace_forget(r, v); /* nothing of the stream leaves after it ended */
  for (size_t i = 0; i < s->n_views; i++) {
    if (s->views[i] != v) continue;
    s->views[i] = s->views[--s->n_views];
    break;
  }
  v->s = NULL;
  v->layer = v->target = -1;
}

static void view_free(sfu_router_t *r, view_t *v) {
  view_detach(r, v);
  router_view_bye(r, v);
  r->st.views--;
  free(v);
}

static uint32_t fresh_ssrc(void) {
  uint32_t x = 0;
  while (x < 2) sfu_random_bytes(&x, sizeof x); /* 0 and 1 (ROUTER_SENDER_SSRC) are ours */
  return x;
}

/* The payload type to send stream s with on a viewer section: the viewer's pt for the
 * stream's codec (same name and clock rate; H.264 profile differences are left to the
 * decoder). -1 if the viewer cannot receive it. */
static int pick_codec(const stream_t *s, const sfu_router_view_desc_t *d, int16_t *rtx_pt,
                      uint32_t *fb) {
  for (size_t i = 0; i < d->n_codecs; i++) {
    if (codec_of(d->codecs[i].name) != s->codec || s->codec == CODEC_OTHER) continue;
    *rtx_pt = d->codecs[i].rtx_pt;
    *fb = d->codecs[i].rtcp_fb;
    return d->codecs[i].pt;
  }
  return -1;
}

static void view_setup(view_t *v, const sfu_router_view_desc_t *d, int pt, int16_t rtx_pt,
                       uint32_t fb) {
  /* A renegotiation that changes what the packets look like (payload type, extension
   * ids): what was sent before cannot be rebuilt byte for byte any more, so it is not
   * resent at all (a resend with other bytes under the same index is GCM nonce reuse). */
  if (v->packets_out && (v->pt != (uint8_t)pt || memcmp(&v->ext, &d->ext, sizeof v->ext) != 0))
    for (size_t i = 0; i < SFU_REWRITE_RING; i++) v->rw.ring[i].valid = 0;
  memcpy(v->mid, d->mid, sizeof v->mid);
  v->mid_len = strlen(v->mid);
  v->ext = d->ext;
  v->pt = (uint8_t)pt;
  v->rtx_pt = rtx_pt;
  v->nack_ok = (fb & SFU_SDP_FB_NACK) != 0;
  v->pli_ok = (fb & SFU_SDP_FB_NACK_PLI) != 0;
  v->fir_ok = (fb & SFU_SDP_FB_CCM_FIR) != 0;
  v->max_layer = d->max_layer;
  v->max_height = d->max_height;
  v->priority = d->priority;
}

int sfu_router_peer_set_views(sfu_router_t *r, sfu_router_peer_t *p,
                              const sfu_router_view_desc_t *d, size_t n, uint64_t now_us,
                              sfu_router_view_out_t *out, char *err, size_t errlen) {
  r->now_us = now_us;
  if (n > SFU_ROUTER_MAX_VIEWS) {
    snprintf(err, errlen, "ReceiveStreamIds: at most %d video sections receive", SFU_ROUTER_MAX_VIEWS);
    return SFU_EINVAL;
  }
  for (size_t i = 0; i < n; i++) {
    if (d[i].stream_id && !find_stream(r, d[i].stream_id)) {
      snprintf(err, errlen, "ReceiveStreamIds: no stream %u in this meeting", d[i].stream_id);
      return SFU_ENOENT;
    }
  }
  view_t *old[SFU_ROUTER_MAX_VIEWS];
  size_t n_old = p->n_views;
  memcpy(old, p->views, n_old * sizeof old[0]);
  view_t *keep[SFU_ROUTER_MAX_VIEWS];
  size_t n_keep = 0;
  for (size_t i = 0; i < n; i++) {
    sfu_router_view_out_t *o = &out[i];
    memset(o, 0, sizeof *o);
    memcpy(o->mid, d[i].mid, sizeof o->mid);
    stream_t *s = d[i].stream_id && p->can_receive ? find_stream(r, d[i].stream_id) : NULL;
    int16_t rtx_pt = -1;
    uint32_t fb = 0;
    int pt = s ? pick_codec(s, &d[i], &rtx_pt, &fb) : -1;
    if (!s || pt < 0 || s->pub == p) continue; /* inactive: nothing to send on it */
    /* The same mid still carrying the same stream keeps its view (SSRC, numbering). */
    view_t *v = NULL;
    for (size_t j = 0; j < n_old; j++) {
      if (old[j] && old[j]->s == s && !strcmp(old[j]->mid, d[i].mid)) {
        v = old[j];
        old[j] = NULL;
        break;
      }
    }
    if (!v) {
      v = calloc(1, sizeof *v);
      if (!v) continue;
      v->viewer = p;
      v->ssrc = fresh_ssrc();
      v->layer = v->target = -1;
      sfu_temporal_init(&v->tl);
      v->target_tid = SFU_TEMPORAL_ALL;
      uint16_t seq;
      uint32_t ts;
      uint16_t pic;
      sfu_random_bytes(&seq, sizeof seq);
      sfu_random_bytes(&ts, sizeof ts);
      sfu_random_bytes(&pic, sizeof pic);
      sfu_rewrite_init(&v->rw, v->ssrc, (uint16_t)(seq & 0x7fff), ts, (uint16_t)(pic & 0x7fff));
      sfu_random_bytes(&v->rtx_seq, sizeof v->rtx_seq);
      view_attach(s, v);
      r->st.views++;
    }
    /* Queued packets built for the old payload types / extension ids never leave. */
    if (v->packets_out && (v->pt != (uint8_t)pt || v->rtx_pt != rtx_pt ||
                           memcmp(&v->ext, &d[i].ext, sizeof v->ext) != 0))
      router_pace_forget(r, v);
    view_setup(v, &d[i], pt, rtx_pt, fb);
    if (v->rtx_pt >= 0 && !v->rtx_ssrc) v->rtx_ssrc = fresh_ssrc();
    if (v->rtx_pt < 0) v->rtx_ssrc = 0;
    keep[n_keep++] = v;
    o->stream_id = s->id;
    o->ssrc = v->ssrc;
    o->rtx_ssrc = v->rtx_ssrc;
    o->pt = v->pt;
    snprintf(o->msid_stream, sizeof o->msid_stream, "sfu-%u", s->id);
    snprintf(o->msid_track, sizeof o->msid_track, "sfu-%u-video", s->id);
    o->attendee_id = s->pub ? s->pub->attendee_id : "";
  }
  for (size_t j = 0; j < n_old; j++)
    if (old[j]) view_free(r, old[j]);
  memcpy(p->views, keep, n_keep * sizeof keep[0]);
  p->n_views = n_keep;
  router_downlink_setup(r, p);
  router_allocate(r, p, now_us, 1);
  if (n_keep && r->next_tick_us == UINT64_MAX) {
    r->next_tick_us = (now_us / ROUTER_TICK_US + 1) * ROUTER_TICK_US;
    r->next_report_us = now_us + ROUTER_REPORT_US;
  }
  return 0;
}

/* ---- peers ---- */

sfu_router_peer_t *sfu_router_peer_new(sfu_router_t *r, const sfu_router_peer_desc_t *d,
                                       void *peer_user) {
  /* aligned: its first lines are the tick's (router_internal.h) */
  sfu_router_peer_t *p = aligned_alloc(64, (sizeof *p + 63) / 64 * 64);
  if (!p) return NULL;
  memset(p, 0, sizeof *p);
  p->r = r;
  p->user = peer_user;
  snprintf(p->attendee_id, sizeof p->attendee_id, "%s", d->attendee_id ? d->attendee_id : "");
  snprintf(p->external_user_id, sizeof p->external_user_id, "%s",
           d->external_user_id ? d->external_user_id : "");
  p->content = d->content;
  p->can_send = d->can_send;
  p->can_receive = d->can_receive;
  sfu_alloc_init(&p->alloc);
  if (r->cfg.alloc_immediate) p->alloc.hold_us = p->alloc.calm_us = p->alloc.min_age_us = 0;
  sfu_probe_init(&p->probe);
  sfu_list_insert_tail(&r->peers, &p->link);
  return p;
}

void sfu_router_peer_free(sfu_router_t *r, sfu_router_peer_t *p, uint64_t now_us) {
  if (!p) return;
  for (size_t i = 0; i < p->n_views; i++) view_free(r, p->views[i]);
  p->n_views = 0;
  if (p->pub) {
    stream_t *s = p->pub;
    p->pub = NULL;
    stream_free(r, s, now_us);
  }
  sfu_list_remove(&p->link);
  router_downlink_free(p);
  free(p);
}

void sfu_router_peer_set_ready(sfu_router_t *r, sfu_router_peer_t *p, int ready, uint64_t now_us) {
  r->now_us = now_us;
  if (p->ready == !!ready) return;
  p->ready = (uint8_t)!!ready;
  for (size_t i = 0; i < p->n_views; i++) {
    view_t *v = p->views[i];
    if (!ready) {
      /* nothing it got before counts: the next keyframe starts it again */
      v->started = 0;
      v->layer = -1;
      continue;
    }
    if (v->s && v->target >= 0) router_request_keyframe(r, &v->s->layers[v->target], now_us);
  }
}

void sfu_router_peer_set_caps(sfu_router_t *r, sfu_router_peer_t *p, uint8_t can_send,
                              uint8_t can_receive, uint64_t now_us) {
  p->can_send = can_send;
  p->can_receive = can_receive;
  if (!can_send && p->pub) {
    stream_t *s = p->pub;
    p->pub = NULL;
    stream_free(r, s, now_us);
  }
  if (!can_receive) {
    for (size_t i = 0; i < p->n_views; i++) view_free(r, p->views[i]);
    p->n_views = 0;
  }
}

void sfu_router_free(sfu_router_t *r) {
  if (!r) return;
  r->cbs.on_event = NULL; /* no callback fires */
  while (!sfu_list_empty(&r->peers)) {
    sfu_router_peer_t *p = sfu_container_of(r->peers.next, sfu_router_peer_t, link);
    r->cbs.send_rtcp = NULL;
    sfu_router_peer_free(r, p, 0);
  }
  free(r);
}

/* ---- the index and figures ---- */

static void stream_info(const stream_t *s, sfu_router_stream_info_t *o, uint64_t now_us) {
  if (s->pub) now_us = s->pub->r->now_us;
  memset(o, 0, sizeof *o);
  o->stream_id = s->id;
  o->attendee_id = s->pub ? s->pub->attendee_id : "";
  o->external_user_id = s->pub ? s->pub->external_user_id : "";
  o->mid = s->mid;
  o->content = s->content;
  o->codec = codec_name(s->codec);
  o->n_layers = s->n_layers;
  for (size_t k = 0; k < s->n_layers; k++) {
    layer_t *l = (layer_t *)&s->layers[s->rank[k]];
    sfu_router_layer_info_t *li = &o->layers[k];
    memcpy(li->rid, l->rid, sizeof li->rid);
    li->width = l->width;
    li->height = l->height;
    li->bitrate_bps = sfu_rate_meter_bps(&l->rate, now_us);
    li->frame_rate = (uint16_t)sfu_rate_meter_fps(&l->rate, now_us);
    li->n_temporal = (uint8_t)router_layer_temporal(l, now_us, li->temporal_bps);
    li->active = l->active;
    li->packets = l->packets;
    li->bytes = l->bytes;
    li->keyframes = l->keyframes;
    li->nacks_out = l->nacks_out;
    li->padding_dropped = l->padding_dropped;
  }
  o->dropped_bitrate = s->dropped_bitrate;
  o->dropped_resolution = s->dropped_resolution;
  o->dropped_other = s->dropped_other;
  o->duplicates = s->duplicates;
  o->nacks_in = s->nacks_in;
  o->keyframe_requests_out = s->kf_requests_out;
  o->refused = s->refused;
  o->remb_bps = s->remb_sent_bps;
}

size_t sfu_router_stream_count(const sfu_router_t *r) { return r->n_streams; }

int sfu_router_stream_info(const sfu_router_t *r, size_t i, sfu_router_stream_info_t *out) {
  if (i >= r->n_streams) return SFU_ENOENT;
  stream_info(r->streams[i], out, 0);
  return 0;
}

uint64_t sfu_router_index_version(const sfu_router_t *r) { return r->index_version; }

size_t sfu_router_peer_pub_count(const sfu_router_peer_t *p) { return p->pub ? 1 : 0; }

int sfu_router_peer_pub_info(const sfu_router_t *r, const sfu_router_peer_t *p, size_t i,
                             sfu_router_stream_info_t *out) {
  if (i != 0 || !p->pub) return SFU_ENOENT;
  stream_info(p->pub, out, 0);
  return 0;
}

size_t sfu_router_peer_view_count(const sfu_router_peer_t *p) { return p->n_views; }

int sfu_router_peer_view_info(const sfu_router_peer_t *p, size_t i, sfu_router_view_info_t *out) {
  if (i >= p->n_views) return SFU_ENOENT;
  const view_t *v = p->views[i];
  memset(out, 0, sizeof *out);
  out->mid = v->mid;
  out->stream_id = v->s ? v->s->id : 0;
  out->ssrc = v->ssrc;
  out->layer = v->s && v->layer >= 0 ? (int8_t)router_layer_rank(v->s, v->layer) : -1;
  out->target_layer = v->s && v->target >= 0 ? (int8_t)router_layer_rank(v->s, v->target) : -1;
  out->max_layer = v->max_layer;
  out->paused = v->paused;
  out->temporal_layer = (int8_t)sfu_temporal_delivered(&v->tl);
  out->target_temporal = v->target_tid == SFU_TEMPORAL_ALL ? -1 : (int8_t)v->target_tid;
  out->switches = v->switches;
  out->keyframe_waits = v->keyframe_waits;
  out->packets_out = v->packets_out;
  out->bytes_out = v->bytes_out;
  out->retransmissions = v->retransmissions;
  out->repairs_skipped = v->repairs_skipped;
  out->shed_packets = v->shed_packets;
  out->nacks_in = v->nacks_in;
  out->plis_in = v->plis_in;
  return 0;
}

void sfu_router_stats(const sfu_router_t *r, sfu_router_stats_t *out) { *out = r->st; }

void sfu_router_peer_downlink(const sfu_router_peer_t *p, sfu_router_downlink_info_t *out) {
  memset(out, 0, sizeof *out);
  uint64_t e = router_downlink_estimate(p);
  out->estimate_bps = e == UINT64_MAX ? 0 : e;
  out->remb_bps = p->remb_bps;
  if (p->bwe) {
    sfu_bwe_stats_t b;
    sfu_bwe_stats(p->bwe, &b);
    out->transport_cc = 1;
    out->delay_bps = b.delay_bps;
    out->loss_bps = b.loss_bps;
    out->loss_ratio = b.loss_ratio;
    out->feedbacks = b.feedbacks;
  }
  out->allocated_bps = p->allocated_bps;
  out->required_bps = p->required_bps;
  out->other_bps = p->other_bps;
  out->insufficient = p->insufficient;
  out->probes_sent = p->probes_sent;
  out->probes_done = p->probes_done;
  out->probe_bytes = p->probe_bytes;
  out->probe_last_bps = p->probe_last_bps;
  for (size_t i = 0; i < p->n_views; i++) out->probe_rtx_packets += p->views[i]->probe_rtx;
  router_pace_info(p, out);
}

void router_downlink_event(sfu_router_t *r, sfu_router_peer_t *p, uint64_t est_bps,
                           uint64_t required_bps, const uint32_t *paused, size_t n_paused) {
  if (!r->cbs.on_event) return;
  sfu_router_event_t ev = {.kind = SFU_ROUTER_EV_DOWNLINK, .peer = p, .peer_user = p->user};
  ev.insufficient = p->insufficient;
  ev.estimate_bps = est_bps == UINT64_MAX ? 0 : est_bps;
  ev.required_bps = required_bps;
  ev.paused = paused;
  ev.n_paused = n_paused;
  r->cbs.on_event(r->cbs.user, &ev);
}
