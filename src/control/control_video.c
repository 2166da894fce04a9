/* The video side of the control API's JSON (issue 7, docs/control-api.md): the
 * StreamIndex object, the video parts of the Subscribe reply, GetAttendeeStats' "Video"
 * and GetWorkerStats' per-loop "Video". Read-only views of the meeting's router, built
 * on its loop thread while the router pointers are valid (router.h: strings in the info
 * structs live until the next router call, so each object is finished before the next
 * call). */
#include "control/control_video.h"

#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

static void add_u64(cJSON *o, const char *name, uint64_t v) {
  cJSON_AddNumberToObject(o, name, (double)v);
}

/* A layer as the index shows it: what a viewer chooses by (rid, size, rate, liveness). */
static cJSON *layer_json(const sfu_router_layer_info_t *l) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  if (l->rid[0]) cJSON_AddStringToObject(o, "Rid", l->rid);
  /* Width/Height come from the last keyframe: absent until one came rather than a
   * misleading 0x0. */
  if (l->width && l->height) {
    cJSON_AddNumberToObject(o, "Width", l->width);
    cJSON_AddNumberToObject(o, "Height", l->height);
  }
  cJSON_AddNumberToObject(o, "Bitrate", l->bitrate_bps);
  cJSON_AddNumberToObject(o, "FrameRate", l->frame_rate);
  cJSON_AddBoolToObject(o, "Active", l->active);
  return o;
}

cJSON *sfu_control_stream_json(const sfu_router_stream_info_t *si) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  cJSON_AddNumberToObject(o, "StreamId", si->stream_id);
  cJSON_AddStringToObject(o, "AttendeeId", si->attendee_id ? si->attendee_id : "");
  cJSON_AddStringToObject(o, "ExternalUserId", si->external_user_id ? si->external_user_id : "");
  cJSON_AddStringToObject(o, "Kind", si->content ? "content" : "camera");
  cJSON_AddStringToObject(o, "Codec", si->codec ? si->codec : "");
  cJSON *layers = cJSON_AddArrayToObject(o, "Layers");
  for (size_t i = 0; layers && i < si->n_layers && i < SFU_ROUTER_MAX_LAYERS; i++)
    cJSON_AddItemToArray(layers, layer_json(&si->layers[i]));
  return o;
}

cJSON *sfu_control_index_json(const sfu_router_t *r) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  cJSON_AddNumberToObject(o, "Version", r ? (double)sfu_router_index_version(r) : 0);
  cJSON *arr = cJSON_AddArrayToObject(o, "Streams");
  if (!arr) {
    cJSON_Delete(o);
    return NULL;
  }
  size_t n = r ? sfu_router_stream_count(r) : 0;
  for (size_t i = 0; i < n; i++) {
    sfu_router_stream_info_t si;
    if (sfu_router_stream_info(r, i, &si) == 0)
      cJSON_AddItemToArray(arr, sfu_control_stream_json(&si));
  }
  return o;
}

void sfu_control_add_subscribe_video(cJSON *reply, const sfu_router_t *r,
                                     const sfu_rtc_sub_result_t *res) {
  cJSON_AddItemToObject(reply, "StreamIndex", sfu_control_index_json(r));
  cJSON *arr = cJSON_AddArrayToObject(reply, "ReceiveStreams");
  for (size_t i = 0; arr && i < res->n_views && i < SFU_ROUTER_MAX_VIEWS; i++) {
    const sfu_router_view_out_t *v = &res->views[i];
    if (!v->stream_id) continue; /* a receiving section with nothing on it (inactive) */
    cJSON *o = cJSON_CreateObject();
    if (!o) break;
    cJSON_AddStringToObject(o, "Mid", v->mid);
    cJSON_AddNumberToObject(o, "StreamId", v->stream_id);
    if (v->attendee_id) cJSON_AddStringToObject(o, "AttendeeId", v->attendee_id);
    cJSON_AddItemToArray(arr, o);
  }
  if (res->published_stream_id)
    cJSON_AddNumberToObject(reply, "PublishedStreamId", res->published_stream_id);
  if (res->publish_err) {
    cJSON *e = cJSON_AddObjectToObject(reply, "PublishRefused");
    cJSON_AddStringToObject(e, "Code", sfu_control_code_name(res->publish_err));
    cJSON_AddStringToObject(e, "Message", res->publish_errmsg);
  }
}

/* GetAttendeeStats: one published stream with its counters. */
cJSON *sfu_control_published_json(const sfu_router_stream_info_t *si) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  cJSON_AddNumberToObject(o, "StreamId", si->stream_id);
  cJSON_AddStringToObject(o, "Mid", si->mid ? si->mid : "");
  cJSON_AddStringToObject(o, "Kind", si->content ? "content" : "camera");
  cJSON_AddStringToObject(o, "Codec", si->codec ? si->codec : "");
  cJSON_AddBoolToObject(o, "Refused", si->refused);
  add_u64(o, "DroppedBitrate", si->dropped_bitrate);
  add_u64(o, "DroppedResolution", si->dropped_resolution);
  add_u64(o, "DroppedOther", si->dropped_other);
  add_u64(o, "Duplicates", si->duplicates);
  add_u64(o, "NacksIn", si->nacks_in);
  add_u64(o, "KeyframeRequestsOut", si->keyframe_requests_out);
  /* null until a REMB was sent: the publisher was never asked to send less */
  if (si->remb_bps)
    add_u64(o, "RembBps", si->remb_bps);
  else
    cJSON_AddNullToObject(o, "RembBps");
  cJSON *layers = cJSON_AddArrayToObject(o, "Layers");
  for (size_t i = 0; layers && i < si->n_layers && i < SFU_ROUTER_MAX_LAYERS; i++) {
    const sfu_router_layer_info_t *l = &si->layers[i];
    cJSON *lo = layer_json(l);
    if (!lo) break;
    add_u64(lo, "Packets", l->packets);
    add_u64(lo, "Bytes", l->bytes);
    add_u64(lo, "Keyframes", l->keyframes);
    add_u64(lo, "NacksOut", l->nacks_out);
    add_u64(lo, "PaddingDropped", l->padding_dropped);
    /* VP8 temporal layers: the bitrate of TIDs <= t, for t = 0.. (absent without). */
    cJSON *tb = l->n_temporal ? cJSON_AddArrayToObject(lo, "TemporalBitrates") : NULL;
    for (size_t t = 0; tb && t < l->n_temporal && t < 4; t++)
      cJSON_AddItemToArray(tb, cJSON_CreateNumber(l->temporal_bps[t]));
    cJSON_AddItemToArray(layers, lo);
  }
  return o;
}

/* A layer index, 0 = lowest; -1 (none yet, or no cap) is null. */
static void add_layer_index(cJSON *o, const char *name, int8_t v) {
  if (v < 0)
    cJSON_AddNullToObject(o, name);
  else
    cJSON_AddNumberToObject(o, name, v);
}

/* GetAttendeeStats: one view (a stream this attendee receives). */
cJSON *sfu_control_receiving_json(const sfu_router_view_info_t *vi) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  cJSON_AddStringToObject(o, "Mid", vi->mid ? vi->mid : "");
  cJSON_AddNumberToObject(o, "StreamId", vi->stream_id);
  cJSON_AddNumberToObject(o, "Ssrc", vi->ssrc);
  add_layer_index(o, "Layer", vi->layer);
  add_layer_index(o, "TargetLayer", vi->target_layer);
  add_layer_index(o, "MaxLayer", vi->max_layer);
  /* The VP8 temporal layer (TID) sent now: null without temporal layers; the target:
   * null for all of them (full frame rate). */
  add_layer_index(o, "TemporalLayer", vi->temporal_layer);
  add_layer_index(o, "TargetTemporalLayer", vi->target_temporal);
  add_u64(o, "Switches", vi->switches);
  add_u64(o, "KeyframeWaits", vi->keyframe_waits);
  add_u64(o, "PacketsOut", vi->packets_out);
  add_u64(o, "BytesOut", vi->bytes_out);
  add_u64(o, "Retransmissions", vi->retransmissions);
  add_u64(o, "RepairsSkipped", vi->repairs_skipped);
  add_u64(o, "ShedPackets", vi->shed_packets);
  add_u64(o, "NacksIn", vi->nacks_in);
  add_u64(o, "PlisIn", vi->plis_in);
  cJSON_AddBoolToObject(o, "Paused", vi->paused);
  return o;
}

cJSON *sfu_control_attendee_video_json(const sfu_router_t *r, const sfu_router_peer_t *p) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  cJSON *pub = cJSON_AddArrayToObject(o, "Published");
  cJSON *recv = cJSON_AddArrayToObject(o, "Receiving");
  if (!r || !p || !pub || !recv) return o; /* no peer yet: nothing sent or received */
  size_t n = sfu_router_peer_pub_count(p);
  for (size_t i = 0; i < n; i++) {
    sfu_router_stream_info_t si;
    if (sfu_router_peer_pub_info(r, p, i, &si) == 0)
      cJSON_AddItemToArray(pub, sfu_control_published_json(&si));
  }
  n = sfu_router_peer_view_count(p);
  for (size_t i = 0; i < n; i++) {
    sfu_router_view_info_t vi;
    if (sfu_router_peer_view_info(p, i, &vi) == 0)
      cJSON_AddItemToArray(recv, sfu_control_receiving_json(&vi));
  }
  if (n) {
    sfu_router_downlink_info_t d;
    sfu_router_peer_downlink(p, &d);
    cJSON *dl = cJSON_AddObjectToObject(o, "Downlink");
    if (dl) {
      cJSON_AddBoolToObject(dl, "TransportCc", d.transport_cc);
      add_u64(dl, "EstimateBps", d.estimate_bps);
      add_u64(dl, "DelayBasedBps", d.delay_bps);
      add_u64(dl, "LossBasedBps", d.loss_bps);
      add_u64(dl, "RembBps", d.remb_bps);
      cJSON_AddNumberToObject(dl, "LossRatio", d.loss_ratio);
      add_u64(dl, "AllocatedBps", d.allocated_bps);
      add_u64(dl, "RequiredBps", d.required_bps);
      add_u64(dl, "OtherBps", d.other_bps);
      cJSON_AddBoolToObject(dl, "Insufficient", d.insufficient);
      add_u64(dl, "Feedbacks", d.feedbacks);
      add_u64(dl, "ProbesSent", d.probes_sent);
      add_u64(dl, "ProbesDone", d.probes_done);
      add_u64(dl, "ProbeBytes", d.probe_bytes);
      add_u64(dl, "LastProbeBps", d.probe_last_bps);
      add_u64(dl, "ProbeRtxPackets", d.probe_rtx_packets);
      /* its pacer (router_pace.c): present with transport-cc only */
      cJSON *pc = d.paced ? cJSON_AddObjectToObject(dl, "Pacer") : NULL;
      if (pc) {
        add_u64(pc, "RateBps", d.pacer_rate_bps);
        add_u64(pc, "QueuedBytes", d.pacer_queued_bytes);
        add_u64(pc, "QueuedPackets", d.pacer_queued_packets);
        add_u64(pc, "SentPackets", d.pacer_sent_packets);
        add_u64(pc, "MaxDelayUs", d.pacer_max_delay_us);
        add_u64(pc, "BurstUs", d.pacer_burst_us);
        add_u64(pc, "Dropped", d.pacer_dropped);
      }
    }
  }
  return o;
}

void sfu_control_add_loop_video_stats(cJSON *loop_obj, const sfu_session_t *s,
                                      const sfu_rtc_t *rtc) {
  sfu_router_stats_t sum;
  memset(&sum, 0, sizeof sum);
  /* O(meetings of the loop): GetWorkerStats is an operator's poll, not a hot path. */
  for (const sfu_meeting_t *m = rtc ? sfu_session_first_meeting(s) : NULL; m;
       m = sfu_session_next_meeting(s, m)) {
    const sfu_router_t *r = sfu_rtc_meeting_router(rtc, m);
    if (!r) continue;
    sfu_router_stats_t st;
    sfu_router_stats(r, &st);
    sum.streams += st.streams;
    sum.views += st.views;
    sum.rtp_in += st.rtp_in;
    sum.forwarded += st.forwarded;
    sum.forwarded_bytes += st.forwarded_bytes;
    sum.retransmissions += st.retransmissions;
    sum.dropped += st.dropped;
    sum.keyframe_requests_out += st.keyframe_requests_out;
    sum.nacks_out += st.nacks_out;
    sum.nacks_in += st.nacks_in;
  }
  cJSON *o = cJSON_AddObjectToObject(loop_obj, "Video");
  if (!o) return;
  add_u64(o, "Streams", sum.streams);
  add_u64(o, "Views", sum.views);
  add_u64(o, "RtpIn", sum.rtp_in);
  add_u64(o, "Forwarded", sum.forwarded);
  add_u64(o, "ForwardedBytes", sum.forwarded_bytes);
  add_u64(o, "Retransmissions", sum.retransmissions);
  add_u64(o, "Dropped", sum.dropped);
  add_u64(o, "KeyframeRequestsOut", sum.keyframe_requests_out);
  add_u64(o, "NacksOut", sum.nacks_out);
  add_u64(o, "NacksIn", sum.nacks_in);
}
