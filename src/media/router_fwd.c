/* The video router's RTP path (router.h): a publisher's packet is matched to its layer
 * (learning SSRCs from the mid / rid / repaired-rid extensions), unwrapped if it is RTX,
 * dropped if it is padding, read for keyframes and resolution, kept for NACKs, and
 * forwarded to every viewer on that layer (VP8 frames above a viewer's temporal layer
 * excepted: temporal_filter.h), rewritten into the viewer's own stream. */
#include <string.h>

#include "media/router_internal.h"
#include "sfu/codec_av1.h"
#include "sfu/codec_h264.h"
#include "sfu/codec_vp8.h"
#include "sfu/codec_vp9.h"
#include "sfu/err.h"
#include "sfu/rtp.h"
#include "sfu/rtp_forward.h"

static int read_codec(const stream_t *s, const sfu_rtp_hdr_t *h, pkt_info_t *pi) {
  memset(pi, 0, sizeof *pi);
  switch (s->codec) {
  case CODEC_VP8:
    if (sfu_vp8_parse(h->payload, h->payload_len, &pi->vp8) != 0) return SFU_EPARSE;
    pi->vp8_ok = 1;
    pi->frame_start = pi->vp8.frame_start;
    pi->keyframe = pi->vp8.frame_start && pi->vp8.keyframe;
    if (pi->keyframe) {
      pi->width = pi->vp8.width;
      pi->height = pi->vp8.height;
    }
    return 0;
  case CODEC_H264: {
    sfu_h264_info_t hi;
    if (sfu_h264_parse(h->payload, h->payload_len, &hi) != 0) return SFU_EPARSE;
    /* An SPS marks a switchable keyframe (single NAL, STAP-A or the start of an FU-A):
     * a viewer that never saw this layer's SPS/PPS cannot decode a bare IDR. */
    pi->keyframe = hi.has_sps;
    pi->frame_start = hi.has_sps || hi.has_idr || (hi.packet_type == SFU_H264_NAL_FU_A ? hi.fu_start : 1);
    pi->width = hi.width;
    pi->height = hi.height;
    return 0;
  }
  case CODEC_VP9: {
    /* VP9 (and AV1) as single streams: the keyframe is only the viewer's starting point. */
    sfu_vp9_desc_t d;
    if (sfu_vp9_parse(h->payload, h->payload_len, &d) != 0) return SFU_EPARSE;
    pi->frame_start = d.begin;
    pi->keyframe = d.begin && d.keyframe;
    if (pi->keyframe) {
      pi->width = d.width;
      pi->height = d.height;
    }
    return 0;
  }
  case CODEC_AV1: {
    sfu_av1_info_t a;
    if (sfu_av1_parse(h->payload, h->payload_len, &a) != 0) return SFU_EPARSE;
    pi->frame_start = !a.continuation;
    pi->keyframe = a.keyframe;
    return 0;
  }
  default:
    return SFU_EUNSUPP;
  }
}

/* A layer's media SSRC changed (the publisher restarted its encoder): its viewers' numbering
 * continues from the new SSRC's next keyframe (a switch onto the same layer), which is
 * asked for at once. */
static void layer_ssrc_changed(layer_t *l) {
  stream_t *s = l->s;
  int li = (int)(l - s->layers);
  sfu_nack_gen_init(&l->nack);
  int any = 0;
  for (size_t i = 0; i < s->n_views; i++) {
    view_t *v = s->views[i];
    if (v->layer != li) continue;
    v->layer = -1;
    v->target = (int8_t)li;
    v->keyframe_waits++;
    any = 1;
  }
  if (any && s->pub) router_request_keyframe(s->pub->r, l, s->pub->r->now_us);
}

/* The layer a packet belongs to, learning SSRCs as they come: Chromium signals none for
 * rid simulcast, so the first packet of each SSRC names its rid (or repaired rid) and mid
 * in header extensions (RFC 8852 §3, RFC 9143 §15). The very first packet counts. */
static layer_t *find_layer(stream_t *s, const sfu_rtp_hdr_t *h, int *is_rtx) {
  for (size_t i = 0; i < s->n_layers; i++) {
    layer_t *l = &s->layers[i];
    if (!l->known) continue;
    if (l->ssrc == h->ssrc) {
      *is_rtx = 0;
      return l;
    }
    if (l->rtx_ssrc && l->rtx_ssrc == h->ssrc) {
      *is_rtx = 1;
      return l;
    }
  }
  /* Unknown SSRC: rid / repaired-rid, else (a single stream without a=ssrc) the payload
   * type says media or RTX. */
  const uint8_t *d;
  size_t dl;
  const char *str;
  size_t sl;
  uint8_t rid_id = sfu_rtp_ext_map_id(&s->ext, SFU_EXT_RID);
  uint8_t rrid_id = sfu_rtp_ext_map_id(&s->ext, SFU_EXT_REPAIRED_RID);
  int rtx_pt = 0;
  for (size_t i = 0; i < s->n_codecs; i++)
    if (s->codecs[i].rtx_pt >= 0 && s->codecs[i].rtx_pt == h->payload_type) rtx_pt = 1;
  if (s->layers[0].rid[0]) {
    int rtx = 0;
    int ok = 0;
    if (rid_id && sfu_rtp_ext_find(h, rid_id, &d, &dl) == 0 && sfu_rtp_ext_str(d, dl, &str, &sl) == 0) ok = 1;
    else if (rrid_id && sfu_rtp_ext_find(h, rrid_id, &d, &dl) == 0 &&
             sfu_rtp_ext_str(d, dl, &str, &sl) == 0) ok = rtx = 1;
    if (!ok) return NULL;
    for (size_t i = 0; i < s->n_layers; i++) {
      layer_t *l = &s->layers[i];
      if (strlen(l->rid) != sl || memcmp(l->rid, str, sl)) continue;
      /* A layer's SSRC may change (the publisher restarted its encoder): follow it. */
      if (rtx) l->rtx_ssrc = h->ssrc;
      else {
        int changed = l->known && l->ssrc != h->ssrc;
        l->ssrc = h->ssrc;
        l->known = 1;
        sfu_recv_stats_init(&l->rs, h->ssrc, 90000);
        if (changed) layer_ssrc_changed(l);
      }
      *is_rtx = rtx;
      return rtx && !l->known ? NULL : l;
    }
    return NULL;
  }
  /* Single stream, no rid. */
  layer_t *l = &s->layers[0];
  if (rtx_pt) {
    if (!l->known) return NULL;
    l->rtx_ssrc = h->ssrc;
    *is_rtx = 1;
    return l;
  }
  for (size_t i = 0; i < s->n_codecs; i++) {
    if (s->codecs[i].pt != h->payload_type) continue;
    int changed = l->known && l->ssrc != h->ssrc;
    l->ssrc = h->ssrc;
    l->known = 1;
    sfu_recv_stats_init(&l->rs, h->ssrc, 90000);
    if (changed) layer_ssrc_changed(l);
    *is_rtx = 0;
    return l;
  }
  return NULL;
}

static int codec_pt_ok(const stream_t *s, uint8_t pt) {
  for (size_t i = 0; i < s->n_codecs; i++)
    if (s->codecs[i].pt == pt) return 1;
  return 0;
}

static int16_t media_pt_of_rtx(const stream_t *s, uint8_t rtx_pt) {
  for (size_t i = 0; i < s->n_codecs; i++)
    if (s->codecs[i].rtx_pt == rtx_pt) return s->codecs[i].pt;
  return -1;
}

/* v's packet made of the publisher's packet h, as o maps it, into out (ROUTER_SCRATCH
 * bytes, room for the SRTP tag after it). Its length, or a negative error. Inlined into
 * its two callers: as a call it cost plain forwarding ~40 instructions a packet (the
 * parameter block built behind a call). */
static inline __attribute__((always_inline)) int build_into(uint8_t *out, const view_t *v,
                                                            const sfu_rtp_hdr_t *h,
                                                            const pkt_info_t *pi,
                                                            const sfu_rw_out_t *o, uint16_t twcc,
                                                            int has_twcc) {
  sfu_fwd_params_t fp = {
      .ssrc = v->ssrc,
      .seq = o->seq,
      .ts = o->ts,
      .pt = v->pt,
      .marker = -1,
      .in_map = &v->s->ext,
      .out_map = &v->ext,
      .mid = v->mid,
      .mid_len = v->mid_len,
      .has_twcc = has_twcc,
      .twcc_seq = twcc,
      .vp8 = pi->vp8_ok && pi->vp8.picture_id_bits,
      .pic_id = o->pic_id,
      .tl0 = o->tl0,
  };
  return sfu_rtp_forward_build(out, ROUTER_SCRATCH - 64, h, pi->vp8_ok ? &pi->vp8 : NULL, &fp);
}

/* The publisher's packet src_seq of layer src_ssrc, read back from its history and parsed: *h and
 * *pi point into r->src_cache, valid until the next history put or free (r->hist_gen). */
static int source_of(sfu_router_t *r, const view_t *v, uint32_t src_ssrc, uint16_t src_seq,
                     uint64_t now_us, const sfu_rtp_hdr_t **h, const pkt_info_t **pi) {
  src_cache_t *c = &r->src_cache[(src_seq ^ src_ssrc) & (ROUTER_SRC_CACHE - 1)];
  size_t len;
  const uint8_t *pkt;
  /* the stream too: two publishers may use one SSRC (by chance, or on purpose) */
  if (c->gen == r->hist_gen + 1 && c->ssrc == src_ssrc && c->seq == src_seq && c->s == v->s) {
    /* still there: its age is the history's to judge, once per instant (a grid drain
     * rebuilds it for every viewer at the same now_us) */
    if (c->checked_us == now_us) {
      *h = &c->h;
      *pi = &c->pi;
      return 0;
    }
    pkt = sfu_history_get(c->hist, now_us, src_seq, &len);
    if (!pkt) return SFU_ENOENT;
    if (pkt == c->h.raw) {
      c->checked_us = now_us;
      *h = &c->h;
      *pi = &c->pi;
      return 0;
    }
  }
  const stream_t *s = v->s;
  const layer_t *l = NULL;
  for (size_t i = 0; i < s->n_layers; i++)
    if (s->layers[i].known && s->layers[i].ssrc == src_ssrc) l = &s->layers[i];
  if (!l) return SFU_ENOENT;
  pkt = sfu_history_get(l->hist, now_us, src_seq, &len);
  if (!pkt) return SFU_ENOENT;
  c->gen = 0;
  if (sfu_rtp_parse(pkt, len, &c->h) != 0) return SFU_EPARSE;
  int rc = read_codec(s, &c->h, &c->pi);
  if (rc != 0) return rc;
  c->gen = r->hist_gen + 1;
  c->checked_us = now_us;
  c->s = s;
  c->hist = l->hist;
  c->ssrc = src_ssrc;
  c->seq = src_seq;
  *h = &c->h;
  *pi = &c->pi;
  return 0;
}

static void count_out(view_t *v, size_t n, const sfu_rtp_hdr_t *h) {
  v->bytes_out += (uint64_t)n;
  v->sr_octets += (uint64_t)n - h->header_len;
}

/* The reference a paced viewer's queue keeps instead of the packet (router_pace.c). */
static void ref_of(pace_ref_t *pr, view_t *v, const sfu_rtp_hdr_t *h, const sfu_rw_out_t *o,
                   uint16_t twcc, int has_twcc) {
  *pr = (pace_ref_t){.v = v, .src_ssrc = h->ssrc, .src_ts = h->timestamp, .out_ts = o->ts,
                     .src_seq = h->seq, .out_seq = o->seq, .pic_id = o->pic_id,
                     .twcc_seq = twcc, .tl0 = o->tl0, .has_twcc = (uint8_t)has_twcc};
}

/* Builds the packet for v into the router's scratch and hands it to the viewer's
 * transport. A packet of the view's own stream (not RTX, not a probe) that would wait in
 * the viewer's pacer anyway is not built now: the pacer keeps a reference and it is
 * built when it leaves (router_pace.c). h and pi must not be r->src_cache's: a drain in
 * here rebuilds other packets through it. */
static int send_built(sfu_router_t *r, view_t *v, const sfu_rtp_hdr_t *h, const pkt_info_t *pi,
                      const sfu_rw_out_t *o, uint16_t twcc, int has_twcc, int rtx, int cluster) {
  sfu_router_peer_t *p = v->viewer;
  /* (bwe_fed first: before its first feedback a viewer is unpaced, router_pace_rate) */
  if (!rtx && cluster < 0 && p->bwe_fed && router_pace_must_wait(r, p)) {
    /* its expected size: the publisher's, give or take the header extensions */
    pace_ref_t pr;
    ref_of(&pr, v, h, o, twcc, has_twcc);
    int rc = router_pace_queue_ref(r, p, &pr, h->raw_len);
    if (rc < 0) return rc;
    v->packets_out++;
    v->sr_packets++;
    return 0;
  }
  uint8_t *buf = r->scratch2;
  int n = build_into(buf, v, h, pi, o, twcc, has_twcc);
  if (n < 0) return n;
  if (rtx) {
    /* RFC 4588 §4: the viewer's RTX SSRC, its own sequence space, OSN first. */
    int m = sfu_rtp_rtx_wrap(buf, (size_t)n, (uint8_t)v->rtx_pt, v->rtx_ssrc, v->rtx_seq++,
                             r->scratch, ROUTER_SCRATCH - 64);
    if (m < 0) return m;
    buf = r->scratch;
    n = m;
  }
  /* Through the viewer's pacer (router_pace.c): the counters count it when handed over.
   * A probe made of media (cluster >= 0) bypasses it, as every probe does. */
  int rc;
  if (cluster >= 0) {
    rc = r->cbs.send_rtp ? r->cbs.send_rtp(p->user, buf, (size_t)n, ROUTER_SCRATCH) : SFU_ESTATE;
    if (rc == 0 && has_twcc) router_downlink_sent(p, twcc, r->now_us, (size_t)n, cluster);
  } else {
    /* admitted (router_pace_must_wait asked), or an RTX: an RTX that must wait is
     * copied in as bytes (its OSN and RTX numbering are not in a reference) */
    rc = router_pace_send(r, p, buf, (size_t)n, has_twcc, twcc);
  }
  if (rc == 0) {
    v->packets_out++;
    v->sr_packets++;
    count_out(v, (size_t)n, h);
  }
  return rc;
}

/* A reference the viewer's pacer kept (router_pace.c), built now into out: its length,
 * or a negative error when the publisher's packet is gone (the history's age, a source
 * that restarted its numbering, a stream that ended: nothing is sent). */
int router_fwd_rebuild(sfu_router_t *r, const pace_ref_t *ref, uint8_t *out) {
  view_t *v = ref->v;
  if (!v->s) return SFU_ENOENT;
  const sfu_rtp_hdr_t *h;
  const pkt_info_t *pi;
  int rc = source_of(r, v, ref->src_ssrc, ref->src_seq, r->now_us, &h, &pi);
  if (rc != 0) return rc;
  /* the history's packet under that seq is another one (the publisher restarted its
   * numbering since) */
  if (h->timestamp != ref->src_ts) return SFU_ESTALE;
  sfu_rw_out_t o = {.seq = ref->out_seq, .ts = ref->out_ts, .pic_id = ref->pic_id, .tl0 = ref->tl0};
  int n = build_into(out, v, h, pi, &o, ref->twcc_seq, ref->has_twcc);
  if (n > 0) count_out(v, (size_t)n, h);
  return n;
}

/* Slots of the viewer's sequence space that no packet will fill any more (a packet
 * skipped after later ones went out, or left behind by a switch: rtp_rewrite.h) get a
 * padding-only packet, which receivers count and drop: no gap for the viewer to NACK. */
static void fill_holes(sfu_router_t *r, view_t *v) {
  sfu_rw_out_t o;
  while (sfu_rewrite_take_hole(&v->rw, &o)) {
    sfu_fwd_params_t fp = {
        .ssrc = v->ssrc, .seq = o.seq, .ts = o.ts, .pt = v->pt, .marker = 0,
        .out_map = &v->ext, .mid = v->mid, .mid_len = v->mid_len,
    };
    if (sfu_rtp_ext_map_id(&v->ext, SFU_EXT_TWCC)) {
      fp.has_twcc = 1;
      fp.twcc_seq = v->viewer->twcc_seq++;
    }
    int n = sfu_rtp_padding_build(r->scratch2, ROUTER_SCRATCH - 64, 4, &fp);
    if (n > 0 && router_pace_send(r, v->viewer, r->scratch2, (size_t)n, fp.has_twcc, fp.twcc_seq) == 0)
      v->packets_out++;
  }
}

/* The current layer's packet `seq` will never be forwarded: out of the views' sequence
 * spaces, holes filled. */
static void skip_for_views(sfu_router_t *r, stream_t *s, layer_t *l, int li, uint16_t seq) {
  for (size_t i = 0; i < s->n_views; i++) {
    if (s->views[i]->layer != li) continue;
    sfu_rewrite_skip(&s->views[i]->rw, l->ssrc, seq);
    fill_holes(r, s->views[i]);
  }
}

static void rw_in_of(const layer_t *l, const sfu_rtp_hdr_t *h, const pkt_info_t *pi, sfu_rw_in_t *in) {
  memset(in, 0, sizeof *in);
  in->src = l->ssrc;
  in->seq = h->seq;
  in->ts = h->timestamp;
  in->keyframe = pi->keyframe;
  in->frame_start = pi->frame_start;
  if (pi->vp8_ok && pi->vp8.picture_id_bits) {
    in->has_pic_id = 1;
    in->pic_id = pi->vp8.picture_id;
    in->pic_id_bits = pi->vp8.picture_id_bits;
  }
  if (pi->vp8_ok && pi->vp8.has_tl0picidx) {
    in->has_tl0 = 1;
    in->tl0 = pi->vp8.tl0picidx;
  }
}

/* The output timestamp for the first packet of layer `to` after a switch, mapped through
 * both layers' sender reports (NTP <-> RTP, RFC 3550 §6.4.1): the same capture instant
 * gets the same output timestamp whatever layer carries it. Without an SR on both layers
 * the mapping is impossible: return 0 and let the rewriter use "last sent + one frame
 * interval" (rtp_rewrite.h), which is never backwards. */
static int map_ts(const view_t *v, const layer_t *from, const layer_t *to, uint32_t in_ts,
                  uint32_t *out) {
  if (!from || !to->has_sr || !from->has_sr || !v->started) return 0;
  /* to's ts -> NTP -> from's ts -> out ts (via the view's current offset on from) */
  int64_t d_to = (int32_t)(in_ts - to->sr_rtp);                     /* 90 kHz ticks */
  int64_t ntp_diff = (int64_t)(to->sr_ntp - from->sr_ntp);          /* 32.32 */
  int64_t d_from = (ntp_diff * 90000) >> 32;
  uint32_t from_ts = (uint32_t)(from->sr_rtp + d_from + d_to);
  uint32_t o = from_ts + (v->last_out_ts - v->last_in_ts);
  /* never backwards: the rewriter enforces > last sent; a mapping that lands in the
   * past (SR jitter) is replaced by its fallback */
  if ((int32_t)(o - v->last_out_ts) <= 0) return 0;
  *out = o;
  return 1;
}

/* Whether v gets this packet's frame (temporal_filter.h); a packet of a frame it does not
 * get is taken out of its sequence and picture id spaces. No TID: always. */
static int temporal_pass(sfu_router_t *r, view_t *v, layer_t *l, const pkt_info_t *pi,
                         const sfu_rw_in_t *in, int is_rtx, uint64_t now_us) {
  if (!pi->vp8_ok || !pi->vp8.has_tid) return 1;
  sfu_temporal_pkt_t tp = {
      .src = in->src,
      .ts = in->ts,
      .has_tid = 1,
      .tid = pi->vp8.tid,
      .sync = pi->vp8.layer_sync,
      .keyframe = pi->keyframe,
      .frame_start = pi->frame_start,
      .late = (uint8_t)is_rtx,
  };
  int pass = sfu_temporal_pass(&v->tl, &tp);
  /* No sync frame for a long while: the publisher's next keyframe is the way up. */
  if (sfu_temporal_want_keyframe(&v->tl)) {
    v->keyframe_waits++;
    router_request_keyframe(r, l, now_us);
  }
  if (pass) return 1;
  sfu_rewrite_drop(&v->rw, in);
  fill_holes(r, v);
  return 0;
}

static void forward(sfu_router_t *r, stream_t *s, layer_t *l, int li, const sfu_rtp_hdr_t *h,
                    const pkt_info_t *pi, uint64_t now_us, int is_rtx) {
  sfu_rw_in_t in;
  rw_in_of(l, h, pi, &in);
  for (size_t i = 0; i < s->n_views; i++) {
    view_t *v = s->views[i];
    if (!v->viewer->ready) continue;
    if (v->layer != li) {
      if (v->target != li || !pi->keyframe || is_rtx) continue;
      /* The keyframe this view waited for: switch (up or down) here. */
      const layer_t *from = v->layer >= 0 ? &s->layers[v->layer] : NULL;
      uint32_t ts_out = 0;
      int has = map_ts(v, from, l, h->timestamp, &ts_out);
      sfu_rewrite_switch(&v->rw, &in, has, ts_out);
      fill_holes(r, v);
      sfu_temporal_set_target(&v->tl, v->target_tid); /* the rung is (target, target_tid) */
      if (v->layer >= 0) v->switches++;
      v->layer = (int8_t)li;
      v->shed = 0;
      v->started = 1;
    } else if (!v->started) {
      continue;
    } else if (v->shed && v->target >= 0 && v->target != li) {
      /* a down-switch waits and this layer is far over the budget (router_allocate) */
      sfu_rewrite_skip(&v->rw, in.src, h->seq);
      v->shed_packets++;
      continue;
    }
    if (!temporal_pass(r, v, l, pi, &in, is_rtx, now_us)) continue;
    sfu_rw_out_t o;
    uint64_t mapped = v->rw.mapped;
    if (sfu_rewrite_map(&v->rw, &in, &o) != 0) continue;
    /* A copy of a packet this view already got (the publisher's RTX answer after the late
     * original): never again under the same index with other bytes (a new transport-wide
     * seq would make them other bytes: GCM nonce reuse). */
    if (v->rw.mapped == mapped) continue;
    uint16_t twcc = 0;
    int has_twcc = sfu_rtp_ext_map_id(&v->ext, SFU_EXT_TWCC) != 0;
    if (has_twcc) twcc = v->viewer->twcc_seq++;
    sfu_rw_sent_t *rec = sfu_rewrite_lookup(&v->rw, o.seq);
    if (rec) {
      rec->twcc_seq = twcc;
      rec->has_twcc = (uint8_t)has_twcc;
    }
    v->last_in_ts = h->timestamp;
    v->last_out_ts = o.ts;
    if ((int16_t)(o.seq - v->last_out_seq) > 0 || v->packets_out == 0) v->last_out_seq = o.seq;
    if (pi->keyframe) v->awaiting_kf = 0;
    if (send_built(r, v, h, pi, &o, twcc, has_twcc, 0, -1) == 0) {
      r->st.forwarded++;
      r->st.forwarded_bytes += h->raw_len;
    }
  }
}

/* A layer's resolution from a keyframe, checked against the meeting's limit. */
static void on_keyframe(sfu_router_t *r, stream_t *s, layer_t *l, const pkt_info_t *pi,
                        uint64_t now_us) {
  l->keyframes++;
  sfu_kf_req_got_keyframe(&l->kf, now_us);
  if (!pi->width || !pi->height) return;
  uint16_t mw = s->content ? r->cfg.content_max_width : r->cfg.video_max_width;
  uint16_t mh = s->content ? r->cfg.content_max_height : r->cfg.video_max_height;
  /* Either orientation: a portrait 720x1280 camera is within HD. */
  uint32_t big = pi->width > pi->height ? pi->width : pi->height;
  uint32_t small = pi->width > pi->height ? pi->height : pi->width;
  uint32_t mbig = mw > mh ? mw : mh, msmall = mw > mh ? mh : mw;
  if (!s->refused && (big > mbig || small > msmall)) {
    s->refused = 1;
    router_event(r, SFU_ROUTER_EV_SEND_REFUSED, s,
                 "Disabled video/content send capability, reason: Video resolution is above "
                 "limit of current meeting feature selection.");
    router_index_changed(r);
  }
  if (pi->width != l->width || pi->height != l->height) {
    l->width = pi->width;
    l->height = pi->height;
    router_sort_layers(s);
    router_index_changed(r);
  }
}

void router_fwd_rtp(sfu_router_t *r, sfu_router_peer_t *p, uint64_t now_us, uint8_t *buf,
                    size_t len) {
  stream_t *s = p->pub;
  r->st.rtp_in++;
  if (!s) {
    r->st.dropped++;
    return;
  }
  sfu_rtp_hdr_t h;
  if (sfu_rtp_parse(buf, len, &h) != 0) {
    s->dropped_other++;
    r->st.dropped++;
    return;
  }
  int is_rtx = 0;
  layer_t *l = find_layer(s, &h, &is_rtx);
  if (!l) {
    s->dropped_other++;
    r->st.dropped++;
    return;
  }
  if (is_rtx) {
    int16_t mpt = media_pt_of_rtx(s, h.payload_type);
    /* A padding-only RTX packet is a bandwidth probe, not a retransmission. */
    if (mpt < 0 || h.payload_len < 2 || sfu_rtp_rtx_unwrap(buf, &len, &h, (uint8_t)mpt, l->ssrc) != 0 ||
        sfu_rtp_parse(buf, len, &h) != 0) {
      l->padding_dropped += h.payload_len == 0;
      r->st.dropped++;
      return;
    }
  }
  int li = (int)(l - s->layers);
  if (!is_rtx && !codec_pt_ok(s, h.payload_type)) {
    /* Not a payload type it negotiated: dropped, and out of every viewer's sequence
     * space like garbage (a gap no NACK can repair otherwise). */
    s->dropped_other++;
    r->st.dropped++;
    skip_for_views(r, s, l, li, h.seq);
    return;
  }
  if (sfu_nack_gen_on_packet(&l->nack, now_us, h.seq)) router_request_keyframe(r, l, now_us);
  if (!is_rtx) {
    sfu_recv_stats_on_packet(&l->rs, now_us, h.seq, h.timestamp);
    l->last_ts = h.timestamp;
  }
  l->last_pkt_us = now_us;
  s->last_pkt_us = now_us;
  if (!l->active) {
    l->active = 1;
    l->active_since_us = now_us;
    router_index_changed(r);
    router_sort_layers(s);
    router_rechoose(r, s);
  }
  if (!s->flowing) {
    s->flowing = 1;
    router_event(r, SFU_ROUTER_EV_VIDEO_STARTED, s, NULL);
  }
  /* Padding on the media SSRC (libwebrtc probes so when RTX is off): never media, and
   * out of every viewer's sequence space. */
  if (sfu_rtp_is_padding_only(&h)) {
    l->padding_dropped++;
    skip_for_views(r, s, l, li, h.seq);
    return;
  }
  l->packets++;
  l->bytes += len;
  pkt_info_t pi;
  if (read_codec(s, &h, &pi) != 0) {
    /* Garbage behind a valid SRTP tag: not forwarded, and out of the sequence space. */
    s->dropped_other++;
    r->st.dropped++;
    skip_for_views(r, s, l, li, h.seq);
    return;
  }
  /* A sequence number already in the history: a duplicate (a late RTX answer) or a
   * publisher reusing it for other bytes. Either way what viewers got under it stays the
   * only version (a NACK resends the history's copy: it must be what went out). */
  size_t hl;
  if (sfu_history_get(l->hist, now_us, h.seq, &hl)) {
    s->duplicates++;
    return;
  }
  sfu_rate_meter_add(&l->rate, now_us, (uint32_t)len, pi.frame_start);
  if (pi.vp8_ok && pi.vp8.has_tid)
    sfu_rate_meter_add(&l->tl_rate[pi.vp8.tid & 3], now_us, (uint32_t)len, pi.frame_start);
  if (pi.keyframe && !is_rtx) on_keyframe(r, s, l, &pi, now_us);
  sfu_history_put(l->hist, now_us, h.seq, buf, len);
  r->hist_gen++; /* the parsed copies of history packets (r->src_cache) may be stale */
  if (s->refused) {
    s->dropped_resolution++;
    r->st.dropped++;
    return;
  }
  if (s->dropping) {
    s->dropped_bitrate++;
    r->st.dropped++;
    return;
  }
  forward(r, s, l, li, &h, &pi, now_us, is_rtx);
}

/* A viewer's NACK for out_seq: rebuild what was sent from the publisher's history. With
 * RTX negotiated it goes on the viewer's RTX SSRC (a new index); without, the very same
 * bytes under the same index (the SRTP layer allows that and nothing else: a different
 * plaintext under one GCM nonce would reveal the key). Not twice within one RTT. */
/* Re-sends the packet of rec from its layer's history: on RTX (a new packet on the wire,
 * a new transport-wide seq: the estimator counts it) or, without RTX, identical (its
 * bytes must not change: it keeps the original's transport-wide seq). cluster: the probe
 * cluster it belongs to (-1 none). */
static int resend_rec(sfu_router_t *r, view_t *v, sfu_rw_sent_t *rec, uint64_t now_us, int rtx,
                      int cluster) {
  const sfu_rtp_hdr_t *hc;
  const pkt_info_t *pic;
  int rc = source_of(r, v, rec->src_ssrc, rec->src_seq, now_us, &hc, &pic);
  if (rc != 0) return rc;
  /* copies: a drain inside send_built may reuse the cache entry (their pointers stay
   * valid: nothing is put into a history meanwhile) */
  sfu_rtp_hdr_t h = *hc;
  pkt_info_t pi = *pic;
  sfu_rw_out_t o = {.seq = rec->out_seq, .ts = rec->out_ts, .pic_id = rec->pic_id, .tl0 = rec->tl0};
  uint16_t twcc = rec->twcc_seq;
  if (rtx && rec->has_twcc) twcc = v->viewer->twcc_seq++;
  return send_built(r, v, &h, &pi, &o, twcc, rec->has_twcc, rtx, cluster);
}

int router_resend(sfu_router_t *r, view_t *v, uint16_t out_seq, uint64_t now_us) {
  stream_t *s = v->s;
  if (!s) return SFU_ENOENT;
  if (v->awaiting_kf && (int16_t)(out_seq - v->cut_seq) <= 0) return SFU_ESTALE;
  sfu_rw_sent_t *rec = sfu_rewrite_lookup(&v->rw, out_seq);
  if (!rec) return SFU_ENOENT;
  /* No repair the viewer's decoder cannot use or its link cannot carry: a packet of a
   * layer it has left (its decoder restarted at the new layer's keyframe), anything
   * while its stream is paused, or the current layer while a down-switch waits for its
   * keyframe (the allocator moves down because the link does not carry this layer:
   * repairs of it only fill the queue the lower layer's keyframe must cross). Under a
   * 250 kbit/s cap, answering the NACKs of the top layer's losses kept the loss up for
   * seconds after the switch (test_chromium_video.py case 4). */
  if (v->layer < 0 || v->target < 0 || rec->src_ssrc != s->layers[v->layer].ssrc ||
      (v->target != v->layer &&
       router_layer_rank(s, v->target) < router_layer_rank(s, v->layer))) {
    v->repairs_skipped++;
    return SFU_ESTALE;
  }
  /* Not twice within one RTT: clamp(RTT, 20 ms, 500 ms), 100 ms while unknown. The floor
   * bounds what a viewer NACKing everything gets on a short link (at most 50 copies a
   * second of a packet); the ceiling keeps a stale RTT from stopping repairs. */
  uint64_t rtt = v->viewer->rtt_us ? v->viewer->rtt_us : 100000;
  if (rtt < 20000) rtt = 20000;
  if (rtt > 500000) rtt = 500000;
  if (rec->last_resend_us && now_us - rec->last_resend_us < rtt) return SFU_EAGAIN;
  rec->last_resend_us = now_us ? now_us : 1;
  int rc = resend_rec(r, v, rec, now_us, v->rtx_pt >= 0 && v->rtx_ssrc, -1);
  if (rc == 0) {
    v->retransmissions++;
    r->st.retransmissions++;
  }
  return rc;
}

/* A probe packet made of real media (issue 8: "probe over RTX of real media where
 * possible"): an RTX copy of what the view sent as out_seq, on the current layer, still
 * in the history. The viewer's jitter buffer drops it as a duplicate, or uses it if the
 * original was lost. Returns the bytes sent, 0 if out_seq cannot serve. */
size_t router_probe_rtx(sfu_router_t *r, view_t *v, uint16_t out_seq, uint64_t now_us, int cluster) {
  stream_t *s = v->s;
  if (!s || v->layer < 0 || v->target != v->layer || v->rtx_pt < 0 || !v->rtx_ssrc) return 0;
  sfu_rw_sent_t *rec = sfu_rewrite_lookup(&v->rw, out_seq);
  if (!rec || !rec->has_twcc || rec->src_ssrc != s->layers[v->layer].ssrc) return 0;
  uint64_t before = v->bytes_out;
  if (resend_rec(r, v, rec, now_us, 1, cluster) != 0) return 0;
  v->probe_rtx++;
  return (size_t)(v->bytes_out - before);
}
