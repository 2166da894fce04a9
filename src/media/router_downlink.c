/* The video router's downlink side (issue 8): per viewer, the send-side estimate of its
 * downlink (bwe.h, from its transport-cc feedback; its REMB when it negotiated only
 * that), the allocation of that estimate over its views (allocator.h), and probe
 * clusters (probe.h) when the next upgrade needs more than the estimate proves.
 *
 *   send_built ──sfu_bwe_on_sent (twcc seq, size, time)──▶ bwe
 *   viewer RTCP transport-cc ──sfu_bwe_on_twcc (iterator, no array)──▶ bwe ──estimate──▶ allocator
 *   allocator ──target (layer, max TID) per view──▶ switching (router_fwd.c: spatial at a
 *              keyframe, temporal at a frame start / layer sync frame, temporal_filter.h)
 *   allocator.want > estimate ──▶ probe cluster: padding on the viewer's RTX SSRC
 *
 * Loss for the estimate comes from the viewer's own transport-cc feedback only (what
 * the publisher's uplink lost was never sent to the viewer, so it cannot count). */
#include <stdio.h>
#include <string.h>

#include "media/router_internal.h"
#include "sfu/err.h"
#include "sfu/log.h"
#include "sfu/rtcp.h"
#include "sfu/pacer.h"
#include "sfu/rtp_forward.h"

/* Start where libwebrtc starts (300 kbps) and let probes prove more: starting high sent
 * the top layer into a 300 kbps link for the second or two the delay detector needed, and
 * the queue it built paused the stream for 5 s (test_router_bwe). On a good link probes
 * reach the top layer in ~4 s. */
#define DOWNLINK_START_BPS 300000ull
#define DOWNLINK_MIN_BPS 50000ull
#define DOWNLINK_MAX_BPS 20000000ull
#define DOWNLINK_PROBE_MIN_BYTES 6000
#define DOWNLINK_ALR_PROBE_US 5000000ull /* requirements.md: receivers under about 6 Mbps */
#define DOWNLINK_OTHER_WINDOW_US 2000000ull /* the rate of what else goes to the viewer */

static int want_twcc(const sfu_router_peer_t *p) {
  for (size_t i = 0; i < p->n_views; i++)
    if (sfu_rtp_ext_map_id(&p->views[i]->ext, SFU_EXT_TWCC)) return 1;
  return 0;
}

/* The viewer's estimate, or UINT64_MAX when nothing is known (no transport-cc feedback
 * yet, no REMB): then the receive cap is the budget. A viewer that negotiated
 * transport-cc but never sends feedback is not held at the estimator's start value. */
uint64_t router_downlink_estimate(const sfu_router_peer_t *p) {
  if (p->bwe && p->bwe_fed) return sfu_bwe_estimate(p->bwe);
  if (p->remb_bps) return p->remb_bps;
  return UINT64_MAX;
}

void sfu_router_peer_sent_other(sfu_router_peer_t *p, uint64_t now_us, size_t bytes) {
  if (!p || !bytes) return;
  if (!p->other.bucket_us) sfu_rate_meter_init(&p->other, DOWNLINK_OTHER_WINDOW_US);
  sfu_rate_meter_add(&p->other, now_us, bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)bytes, 0);
}

/* The video budget: the estimate less what else the transport carries to the viewer
 * (the audio mix, its RTCP, data channel messages: sfu_router_peer_sent_other). The mix
 * carries no transport-wide seq, so the estimator never counts it as sent; libwebrtc's
 * BitrateAllocator likewise gives audio its share before video. At least 1 bps (0 would
 * mean "no estimate" to the allocator): all video paused when audio takes it all. */
static uint64_t video_budget(sfu_router_peer_t *p, uint64_t now_us, uint64_t est) {
  p->other_bps = p->other.bucket_us ? sfu_rate_meter_bps(&p->other, now_us) : 0;
  if (est == UINT64_MAX) return est;
  return est > p->other_bps ? est - p->other_bps : 1;
}

void router_downlink_setup(sfu_router_t *r, sfu_router_peer_t *p) {
  if (p->bwe || !want_twcc(p)) return;
  sfu_bwe_config_t cfg = {DOWNLINK_START_BPS, DOWNLINK_MIN_BPS, DOWNLINK_MAX_BPS};
  p->bwe = sfu_bwe_new(&cfg);
  if (p->bwe) router_pace_setup(p);
}

void router_downlink_free(sfu_router_peer_t *p) {
  sfu_bwe_free(p->bwe);
  p->bwe = NULL;
  router_pace_free(p);
}

void router_downlink_sent(sfu_router_peer_t *p, uint16_t twcc_seq, uint64_t now_us, size_t len,
                          int cluster) {
  if (p->bwe) sfu_bwe_on_sent(p->bwe, twcc_seq, now_us, len, cluster);
}

void router_downlink_feedback(sfu_router_t *r, sfu_router_peer_t *p, const sfu_rtcp_fb_t *fb,
                              uint64_t now_us) {
  if (!p->bwe) return;
  sfu_rtcp_twcc_t hdr;
  sfu_rtcp_twcc_iter_t it;
  /* A bad feedback is dropped whole (the iterator checks it first). One covering more
   * packets than the send ring remembers is dropped too, as when it was parsed into a
   * 4,096-entry array: its seqs would alias in the ring. */
  if (sfu_rtcp_twcc_iter_init(fb, &hdr, &it) != 0 || hdr.status_count > SFU_BWE_SEND_RING)
    return;
  size_t n = hdr.status_count;
  sfu_bwe_set_other_rate(p->bwe, p->other.bucket_us ? sfu_rate_meter_bps(&p->other, now_us) : 0);
  sfu_bwe_on_twcc(p->bwe, now_us, &hdr, &it);
  p->bwe_fed = 1;
  router_pace_rate(r, p, now_us);
  if (p->rtt_us) sfu_bwe_on_rtt(p->bwe, p->rtt_us);
  /* The per-feedback trace (--log-level debug): how the estimate moved and why, the
   * evidence a flaky interop run leaves (test_chromium_video.py keeps the log of a
   * failure). One level check per feedback when off. */
  if (sfu_log_get_level() <= SFU_LOG_DEBUG) {
    sfu_bwe_stats_t bs;
    sfu_bwe_stats(p->bwe, &bs);
    SFU_DEBUG("bwe", "%s t=%.3f n=%zu est %llu delay %llu loss %llu acked %llu state %d "
              "lossr %.3f alloc %llu want %llu other %llu", p->attendee_id, (double)now_us / 1e6,
              n, (unsigned long long)bs.estimate_bps, (unsigned long long)bs.delay_bps,
              (unsigned long long)bs.loss_bps, (unsigned long long)bs.acked_bps, bs.state,
              bs.loss_ratio, (unsigned long long)p->allocated_bps,
              (unsigned long long)p->want_bps, (unsigned long long)p->other_bps);
  }
  if (p->probe_id > 0) {
    uint64_t got = sfu_bwe_probe_result(p->bwe, p->probe_id);
    if (got && sfu_log_get_level() <= SFU_LOG_DEBUG) {
      sfu_bwe_probe_info_t pi;
      sfu_bwe_probe_info(p->bwe, p->probe_id, &pi);
      SFU_DEBUG("bwe", "%s probe %d result %llu: sent %u pkts %llu B over %llu us (%llu bps), "
                "received %u pkts %llu B over %llu us (%llu bps), goal %llu",
                p->attendee_id, p->probe_id, (unsigned long long)got, pi.sent,
                (unsigned long long)pi.bytes_sent, (unsigned long long)pi.send_span_us,
                (unsigned long long)pi.send_bps, pi.received, (unsigned long long)pi.bytes_received,
                (unsigned long long)pi.recv_span_us, (unsigned long long)pi.recv_bps,
                (unsigned long long)p->probe.cur.goal_bps);
      char line[64 * 14], *q = line;
      for (size_t i = 0; i < pi.n_arrivals; i++)
        q += snprintf(q, sizeof line - (size_t)(q - line), " %u/%u", pi.arrival_us[i] / 100,
                      pi.arrival_size[i]);
      SFU_DEBUG("bwe", "%s probe %d arrivals (0.1 ms/bytes):%s", p->attendee_id, p->probe_id, line);
    }
    if (got) {
      sfu_probe_on_result(&p->probe, now_us, p->probe_id, got);
      p->probes_done++;
      p->probe_last_bps = got;
      p->probe_id = 0;
    }
  }
}

/* ---- allocation ---- */

static void stream_in(const view_t *v, sfu_alloc_stream_t *a) {
  const stream_t *s = v->s;
  memset(a, 0, sizeof *a);
  a->stream_id = s->id;
  a->content = s->content;
  a->priority = v->priority;
  a->max_layer = v->max_layer;
  a->max_height = v->max_height;
  a->n_layers = s->n_layers;
  for (size_t k = 0; k < s->n_layers; k++) {
    layer_t *l = (layer_t *)&s->layers[s->rank[k]];
    a->layers[k].bitrate_bps = sfu_rate_meter_bps(&l->rate, s->pub->r->now_us);
    a->layers[k].height = l->height;
    a->layers[k].active = l->active;
    a->layers[k].active_since_us = l->active_since_us;
    _Static_assert(SFU_TEMPORAL_MAX == SFU_ALLOC_MAX_TEMPORAL, "one TID range");
    a->layers[k].n_temporal =
        (uint8_t)router_layer_temporal(l, s->pub->r->now_us, a->layers[k].temporal_bps);
  }
  a->current = v->target >= 0 ? (int8_t)router_layer_rank(s, v->target) : -1;
  a->current_tid = v->target_tid == SFU_TEMPORAL_ALL ? -1 : (int8_t)v->target_tid;
}

/* The allocation's temporal target for v's new target layer t (temporal_filter.h): on
 * the layer v is on, at once; while v waits for another layer's keyframe, the layer it
 * is still on only ever goes down (a spatial down-switch to a full-rate rung must not
 * raise the old layer's frame rate meanwhile); the switch applies it (router_fwd.c). */
static void view_temporal(view_t *v, int8_t t, int8_t tid) {
  uint8_t tt = tid < 0 ? SFU_TEMPORAL_ALL : (uint8_t)tid;
  v->target_tid = tt;
  if (t == v->layer || v->layer < 0 || tt < v->tl.target) sfu_temporal_set_target(&v->tl, tt);
}

/* Runs the viewer's allocation if due (or `changed`), and applies it: each view's
 * target layer (switching happens at the target's next keyframe, router_fwd.c), paused
 * views, and sfu:DownlinkInsufficient when it starts or ends. */
void router_allocate(sfu_router_t *r, sfu_router_peer_t *p, uint64_t now_us, int changed) {
  sfu_alloc_stream_t in[SFU_ROUTER_MAX_VIEWS];
  view_t *vs[SFU_ROUTER_MAX_VIEWS];
  size_t n = 0;
  for (size_t i = 0; i < p->n_views; i++) {
    view_t *v = p->views[i];
    if (v->s && v->s->n_layers) vs[n++] = v;
  }
  if (!n) return;
  uint64_t est = video_budget(p, now_us, router_downlink_estimate(p));
  uint64_t cap = r->cfg.receive_bitrate_bps; /* the meeting's (MaxReceiveKbps) */
  if (!sfu_alloc_due(&p->alloc, now_us, est == UINT64_MAX ? cap : est, changed))
    return;
  /* The inputs only for a run: every view's layer and temporal rates (rate meters) read
   * at every tick for runs that almost never happen cost 16 % of the router's own
   * forwarding work (bench_router_pace, docs/benchmarks.md). */
  for (size_t i = 0; i < n; i++) stream_in(vs[i], &in[i]);
  int8_t out[SFU_ROUTER_MAX_VIEWS], out_tid[SFU_ROUTER_MAX_VIEWS];
  sfu_alloc_result_t res;
  sfu_alloc_run(&p->alloc, now_us, est == UINT64_MAX ? cap : est, cap, in,
                n, out, out_tid, &res);
  /* What to probe for: everything the views could use (their top allowed layers), not
   * only the next step: proving the next step, climbing, then proving the one after was
   * two switches where one does (issue 8: at most one switch per change). A layer the
   * publisher stopped for our REMB counts at its last rate: the estimate must be proven
   * for it, or the REMB never asks for it again (router_remb.c). */
  uint64_t full = 0;
  int resume = 0;
  for (size_t i = 0; i < n; i++) {
    int stopped = 0;
    full += router_view_top_bps(vs[i], now_us, &stopped);
    resume |= stopped;
  }
  full = full * 110 / 100;
  if (full > cap) full = cap;
  if (res.want_bps)
    p->want_bps = full > res.want_bps ? full : res.want_bps;
  else
    p->want_bps = resume && full > res.allocated_bps + res.allocated_bps / 10 ? full : 0;
  /* The probes prove the whole downlink: video's want plus what else goes to the viewer. */
  if (p->want_bps) p->want_bps += p->other_bps;
  /* A goal well above the last one probed for is a new reason to probe: the backoff of
   * failed probes (for a goal the link could not carry) does not apply to it. */
  if (p->want_bps > p->probed_goal_bps + p->probed_goal_bps / 3 && p->probe.failures) {
    int next_id = p->probe.next_id;
    sfu_probe_init(&p->probe);
    p->probe.next_id = next_id;
  }
  p->allocated_bps = res.allocated_bps;
  p->required_bps = res.required_bps;
  for (size_t i = 0; i < n; i++) {
    view_t *v = vs[i];
    stream_t *s = v->s;
    int paused = 0;
    for (size_t k = 0; k < res.n_paused; k++) paused |= res.paused[k] == s->id;
    v->paused = (uint8_t)paused;
    /* -1 without a pause: nothing of the stream flows now; the view stays as it is and
     * continues when the layer comes back. */
    if (out[i] < 0 && !paused) continue;
    int8_t t = out[i] >= 0 ? (int8_t)s->rank[out[i]] : -1;
    view_temporal(v, t, out_tid[i]);
    /* A down-switch for a budget under half the rate of the layer the view is on: that
     * layer is not forwarded while the lower one's keyframe is awaited. Its frames cannot
     * get through such a link whole anyway (a sudden cap: 1280 px at 750 kbit/s into
     * 250 kbit/s lost two packets in three), and what is sent of them fills the pacer and
     * the bottleneck's queue ahead of that keyframe: the viewer's freeze lasted until it
     * had drained (1.1-1.3 s from the cap to the 320 px frames, test_chromium_video.py
     * case 4). A milder cut keeps the old layer flowing to the switch. */
    v->shed = 0;
    if (t >= 0 && v->layer >= 0 && t != v->layer &&
        router_layer_rank(s, t) < router_layer_rank(s, v->layer)) {
      uint64_t cur_bps = sfu_rate_meter_bps(&s->layers[v->layer].rate, now_us);
      v->shed = est != UINT64_MAX && est * 2 < cur_bps;
    }
    if (t == v->target) continue;
    SFU_DEBUG("bwe", "%s t=%.3f stream %u target %d -> %d (layer %d) est %llu budget %llu "
              "alloc %llu want %llu", p->attendee_id, (double)now_us / 1e6, s->id, v->target, t,
              v->layer, (unsigned long long)est, (unsigned long long)res.budget_bps,
              (unsigned long long)res.allocated_bps, (unsigned long long)res.want_bps);
    v->target = t;
    if (t >= 0 && t != v->layer && p->ready) {
      v->keyframe_waits++;
      router_request_keyframe(r, &s->layers[t], now_us);
    }
    if (t < 0) v->layer = -1; /* paused: nothing more goes out until it resumes */
  }
  if (res.insufficient != p->insufficient) {
    p->insufficient = res.insufficient;
    router_downlink_event(r, p, est, res.required_bps, res.paused, res.n_paused);
  }
}

/* ---- probing ---- */

/* Padding on the viewer's RTX SSRC (receivers count and drop it; libwebrtc probes the
 * same way), spread over the cluster's duration by sfu_probe_cluster_next on the router's
 * tick: a cluster sent in one instant has no send rate, and the estimator cannot read a
 * result from it. Viewers without RTX are not probed (padding on a media SSRC would take
 * slots of its sequence space). */
static view_t *probe_view(sfu_router_peer_t *p) {
  for (size_t i = 0; i < p->n_views; i++)
    if (p->views[i]->rtx_ssrc && p->views[i]->rtx_pt >= 0 &&
        sfu_rtp_ext_map_id(&p->views[i]->ext, SFU_EXT_TWCC))
      return p->views[i];
  return NULL;
}

static void send_cluster_part(sfu_router_t *r, sfu_router_peer_t *p, uint64_t now_us) {
  view_t *v = probe_view(p);
  if (!v || !r->cbs.send_rtp) {
    p->cluster_on = 0;
    return;
  }
  size_t bytes_now = 0;
  uint64_t next_us = 0;
  int more = sfu_probe_cluster_next(&p->cluster, p->cluster_started_us, p->cluster_bytes,
                                    p->cluster_packets, now_us, &bytes_now, &next_us);
  size_t sent = 0;
  /* Real media first: RTX copies of the view's newest packets, newest first, none twice
   * in a cluster (probe_rtx_seq walks back from where the cluster started); padding when
   * there is none left (a paused view, no history, only padding holes). */
  while (sent < bytes_now && p->cluster_packets < 64 && p->probe_rtx_left > 0) {
    size_t n = router_probe_rtx(r, v, p->probe_rtx_seq--, now_us, p->cluster.id);
    p->probe_rtx_left--;
    if (!n) continue;
    p->probe_bytes += n;
    p->cluster_bytes += n;
    p->cluster_packets++;
    sent += n;
  }
  while (sent < bytes_now && p->cluster_packets < 64) {
    sfu_fwd_params_t fp = {
        .ssrc = v->rtx_ssrc, .seq = v->rtx_seq++, .ts = v->last_out_ts, .pt = (uint8_t)v->rtx_pt,
        .marker = 0, .out_map = &v->ext, .mid = v->mid, .mid_len = v->mid_len,
        .has_twcc = 1, .twcc_seq = p->twcc_seq++,
    };
    int len = sfu_rtp_padding_build(r->scratch2, ROUTER_SCRATCH - 64, 255, &fp);
    if (len <= 0) break;
    if (r->cbs.send_rtp(p->user, r->scratch2, (size_t)len, ROUTER_SCRATCH) != 0) break;
    router_downlink_sent(p, fp.twcc_seq, now_us, (size_t)len, p->cluster.id);
    p->probe_bytes += (uint64_t)len;
    p->cluster_bytes += (size_t)len;
    p->cluster_packets++;
    sent += (size_t)len;
  }
  if (!more) p->cluster_on = 0;
}

void router_downlink_tick(sfu_router_t *r, sfu_router_peer_t *p, uint64_t now_us) {
  if (!p->n_views) return;
  router_allocate(r, p, now_us, 0);
  if (!p->bwe || !p->ready || !p->bwe_fed) return; /* probes are read from feedback */
  if (p->cluster_on) {
    send_cluster_part(r, p, now_us);
    return;
  }
  /* Not into a lossy link: a probe's packets queued behind a cap can look fast, and its
   * result would undo the loss-based cut that is under way ("probe again after the link
   * recovers"). */
  /* But a viewer whose streams are all paused gets probes whatever the last loss said:
   * nothing else it receives could close a loss window, and its estimate would never
   * recover (issue 8, "where peer SFUs went wrong"). */
  if (sfu_bwe_loss_ratio(p->bwe) > 0.05 && !p->insufficient) return;
  sfu_probe_cluster_t c;
  uint64_t est = sfu_bwe_estimate(p->bwe);
  /* Application-limited (what is allocated is well under the estimate, so the estimate
   * itself cannot grow from the traffic): a probe at least every 5 s whatever the backoff
   * of earlier failures, as libwebrtc's ALR probing does; that is how a lifted cap is
   * found in seconds rather than after a backoff of minutes. */
  if (p->probe.failures && p->probes_sent && now_us - p->cluster_started_us >= DOWNLINK_ALR_PROBE_US &&
      p->allocated_bps * 10 < est * 8) {
    int next_id = p->probe.next_id;
    sfu_probe_init(&p->probe);
    p->probe.next_id = next_id;
  }
  if (probe_view(p) && sfu_probe_poll(&p->probe, now_us, est, p->want_bps, &c)) {
    /* Bigger than the burst a token-bucket shaper lets through at line rate: a 2 KB
     * bucket made a 1.6 KB probe of a 250 kbit/s link read 1.25 Mbit/s (Chromium behind
     * tc htb, test_chromium_video.py). */
    if (c.min_bytes < DOWNLINK_PROBE_MIN_BYTES) {
      c.min_bytes = DOWNLINK_PROBE_MIN_BYTES;
      c.duration_us = c.target_bps ? (uint64_t)c.min_bytes * 8000000u / c.target_bps : 20000;
    }
    p->cluster = c;
    sfu_bwe_probe_expect(p->bwe, c.id, now_us, c.min_packets, c.min_bytes);
    p->probed_goal_bps = p->want_bps;
    p->cluster_on = 1;
    p->cluster_started_us = now_us;
    p->cluster_bytes = p->cluster_packets = 0;
    view_t *pv = probe_view(p);
    p->probe_rtx_seq = pv ? pv->last_out_seq : 0;
    /* Only what has left: the newest packets may still wait in the viewer's pacer, and an
     * RTX copy overtaking its original makes the original a duplicate (every queued
     * packet is skipped, the other views' too: a few more steps back, never a copy ahead
     * of its original). */
    if (p->pacer) {
      sfu_pacer_stats_t ps;
      sfu_pacer_stats(p->pacer, &ps);
      p->probe_rtx_seq = (uint16_t)(p->probe_rtx_seq - ps.queued_packets);
    }
    p->probe_rtx_left = pv && pv->packets_out ? ROUTER_PROBE_RTX_BACK : 0;
    p->probe_id = c.id;
    p->probes_sent++;
    SFU_DEBUG("bwe", "%s t=%.3f probe %d start: target %llu goal %llu bytes %zu est %llu",
              p->attendee_id, (double)now_us / 1e6, c.id, (unsigned long long)c.target_bps,
              (unsigned long long)c.goal_bps, c.min_bytes, (unsigned long long)est);
    send_cluster_part(r, p, now_us);
  }
}
