/* The media ops of the control API (Subscribe, LeaveMeeting, GetAttendeeStats) and the
 * transport figures of GetWorkerStats: typed commands in, cJSON replies out, executed on
 * the meeting's loop against its sfu_rtc_t (docs/control-api.md). */
#include "control/control_rtc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "control/control_audio.h"
#include "control/control_data.h"
#include "control/control_video.h"
#include "sfu/err.h"

static cJSON *ok_with(const char *name, cJSON *item) {
  cJSON *r = cJSON_CreateObject();
  if (!r) {
    cJSON_Delete(item);
    return NULL;
  }
  cJSON_AddTrueToObject(r, "ok");
  if (name) cJSON_AddItemToObject(r, name, item);
  return r;
}

/* Every ReceiveStreamIds entry must name a stream the meeting has: NotFound otherwise,
 * before the transport is touched (a refused Subscribe changes nothing). rtc.h refuses
 * them too; checking here as well keeps that true whatever order sfu_rtc_subscribe does
 * its work in. The caller has checked the token: the reply says nothing about a
 * meeting's streams to a caller without one. */
static int check_receive(const sfu_router_t *r, const sfu_rtc_sub_req_t *req, char *err,
                         size_t errlen) {
  for (size_t i = 0; req->has_receive && i < req->n_receive; i++) {
    if (!r || !sfu_router_has_stream(r, req->receive[i].stream_id)) {
      snprintf(err, errlen, "ReceiveStreamIds[%zu]: no stream %u in this meeting", i,
               (unsigned)req->receive[i].stream_id);
      return SFU_ENOENT;
    }
  }
  return 0;
}

cJSON *sfu_control_exec_subscribe(sfu_session_t *s, const sfu_cmd_t *cmd,
                                  const sfu_control_ctx_t *ctx, uint64_t now_us) {
  char err[SFU_CONTROL_ERRLEN];
  sfu_attendee_t *a = NULL;
  int rc = sfu_session_check_token(s, cmd->meeting_id, cmd->attendee_id, cmd->join_token,
                                   cmd->join_token_len, &a, err, sizeof err);
  if (rc) return sfu_control_error(rc, err);
  if (!ctx->rtc)
    return sfu_control_error(SFU_EUNSUPP, "Subscribe: media transport not available yet");
  sfu_meeting_t *m = a->meeting;
  if ((rc = check_receive(sfu_rtc_meeting_router(ctx->rtc, m), &cmd->receive, err, sizeof err)))
    return sfu_control_error(rc, err);
  char *answer = NULL;
  sfu_rtc_sub_result_t res;
  memset(&res, 0, sizeof res);
  rc = sfu_rtc_subscribe(ctx->rtc, cmd->meeting_id, cmd->attendee_id, cmd->join_token,
                         cmd->join_token_len, cmd->sdp_offer,
                         cmd->sdp_offer ? strlen(cmd->sdp_offer) : 0, &cmd->receive, now_us,
                         &answer, &res, err, sizeof err);
  if (rc) {
    free(answer);
    return sfu_control_error(rc, err);
  }
  cJSON *r = cJSON_CreateObject();
  if (r) {
    cJSON_AddTrueToObject(r, "ok");
    cJSON_AddStringToObject(r, "SdpAnswer", answer);
    /* The index after this Subscribe (it may have published a stream). The meeting
     * outlives the call: a Subscribe never ends it. */
    sfu_control_add_subscribe_video(r, sfu_rtc_meeting_router(ctx->rtc, m), &res);
  }
  free(answer);
  return r;
}

cJSON *sfu_control_exec_leave(sfu_session_t *s, const sfu_cmd_t *cmd,
                              const sfu_control_ctx_t *ctx, uint64_t now_us) {
  char err[SFU_CONTROL_ERRLEN];
  if (!ctx->rtc) return sfu_control_error(SFU_EUNSUPP, "LeaveMeeting: media transport not available");
  int rc = sfu_rtc_leave(ctx->rtc, cmd->meeting_id, cmd->attendee_id, now_us, err, sizeof err);
  if (rc) return sfu_control_error(rc, err);
  return ok_with(NULL, NULL);
}

static void add_counters(cJSON *o, const sfu_transport_stats_t *st) {
  cJSON_AddNumberToObject(o, "PacketsIn", (double)st->packets_in);
  cJSON_AddNumberToObject(o, "BytesIn", (double)st->bytes_in);
  cJSON_AddNumberToObject(o, "StunRequests", (double)st->stun_requests);
  cJSON_AddNumberToObject(o, "StunRejected", (double)st->stun_rejected);
  cJSON_AddNumberToObject(o, "StunAddressTaken", (double)st->stun_addr_taken);
  cJSON_AddNumberToObject(o, "StunErrorsOut", (double)st->stun_errors_out);
  cJSON_AddNumberToObject(o, "DtlsPackets", (double)st->dtls_in);
  cJSON_AddNumberToObject(o, "RtpPackets", (double)st->rtp_in);
  cJSON_AddNumberToObject(o, "RtcpPackets", (double)st->rtcp_in);
  cJSON_AddNumberToObject(o, "Decrypted", (double)st->decrypted);
  cJSON_AddNumberToObject(o, "DecryptedBytes", (double)st->decrypted_bytes);
  cJSON_AddNumberToObject(o, "DecryptFailures", (double)st->decrypt_failures);
  cJSON_AddNumberToObject(o, "DtlsFailures", (double)st->dtls_failures);
  cJSON_AddNumberToObject(o, "FingerprintMismatches", (double)st->fingerprint_mismatches);
  cJSON_AddNumberToObject(o, "Dropped", (double)st->dropped);
  cJSON_AddNumberToObject(o, "PacketsOut", (double)st->packets_out);
  cJSON_AddNumberToObject(o, "BytesOut", (double)st->bytes_out);
  cJSON_AddNumberToObject(o, "DataChannels", (double)st->data_channels); /* open now */
  cJSON_AddNumberToObject(o, "DataMessagesIn", (double)st->data_messages_in);
  cJSON_AddNumberToObject(o, "DataBytesIn", (double)st->data_bytes_in);
  /* issue 10: what the worker sent on data channels (relayed messages, refusals,
   * sfu:audio) and the sends its association refused (backpressure) */
  cJSON_AddNumberToObject(o, "DataMessagesOut", (double)st->data_messages_out);
  cJSON_AddNumberToObject(o, "DataBytesOut", (double)st->data_bytes_out);
  cJSON_AddNumberToObject(o, "DataSendBlocked", (double)st->data_send_blocked);
}

static void transport_fields(cJSON *o, const sfu_transport_t *t) {
  cJSON_AddStringToObject(o, "IceState", sfu_transport_ice_state(t));
  const sfu_addr_t *sel = sfu_transport_selected(t);
  if (sel) {
    char a[SFU_ADDR_STRLEN];
    cJSON_AddStringToObject(o, "SelectedProtocol", sel->proto == SFU_PROTO_TCP ? "tcp" : "udp");
    cJSON_AddStringToObject(o, "SelectedAddress", sfu_addr_format(sel, a));
  } else {
    cJSON_AddNullToObject(o, "SelectedProtocol");
  }
  cJSON_AddStringToObject(o, "DtlsState", sfu_transport_dtls_state(t));
  const char *p = sfu_transport_srtp_profile(t);
  if (p && p[0]) cJSON_AddStringToObject(o, "SrtpProfile", p);
  else cJSON_AddNullToObject(o, "SrtpProfile");
  cJSON_AddStringToObject(o, "LocalUfrag", sfu_transport_local_ufrag(t));
  cJSON_AddStringToObject(o, "SctpState", sfu_transport_sctp_state(t));
  add_counters(o, sfu_transport_stats(t));
}

cJSON *sfu_control_transport_json(const sfu_transport_t *t) {
  cJSON *o = cJSON_CreateObject();
  if (o) transport_fields(o, t);
  return o;
}

cJSON *sfu_control_exec_attendee_stats(sfu_session_t *s, const sfu_cmd_t *cmd,
                                       const sfu_control_ctx_t *ctx, uint64_t now_us) {
  char err[SFU_CONTROL_ERRLEN];
  sfu_meeting_t *m = sfu_session_find_meeting(s, cmd->meeting_id);
  if (!m) {
    snprintf(err, sizeof err, "MeetingId: no such meeting '%s'", cmd->meeting_id);
    return sfu_control_error(SFU_ENOENT, err);
  }
  sfu_attendee_t *a = sfu_meeting_find_attendee(m, cmd->attendee_id);
  if (!a) {
    snprintf(err, sizeof err, "AttendeeId: no such attendee '%s'", cmd->attendee_id);
    return sfu_control_error(SFU_ENOENT, err);
  }
  cJSON *r = cJSON_CreateObject();
  if (!r) return NULL;
  cJSON_AddTrueToObject(r, "ok");
  cJSON_AddStringToObject(r, "MeetingId", m->id);
  cJSON_AddStringToObject(r, "AttendeeId", a->id);
  cJSON_AddBoolToObject(r, "Connected", a->connected);
  const sfu_transport_t *t = sfu_rtc_attendee_transport(a);
  if (t) cJSON_AddItemToObject(r, "Transport", sfu_control_transport_json(t));
  else cJSON_AddNullToObject(r, "Transport");
  const sfu_router_t *router = ctx->rtc ? sfu_rtc_meeting_router(ctx->rtc, m) : NULL;
  cJSON_AddItemToObject(r, "Video",
                        sfu_control_attendee_video_json(router, sfu_rtc_attendee_peer(a)));
  /* issue 9: only while the attendee is in its meeting's mixer (on unless SFU_AUDIO_MIXER=0) */
  cJSON *au = sfu_control_attendee_audio_json(a, now_us);
  if (au) cJSON_AddItemToObject(r, "Audio", au);
  /* issue 10: once the attendee has a data-relay peer (its channel opened, it sent) */
  cJSON *d = sfu_control_attendee_data_json(a);
  if (d) cJSON_AddItemToObject(r, "Data", d);
  return r;
}

/* One Loops[i].Media.Transports entry: the ids, then the GetAttendeeStats Transport
 * object's fields (the same encoder, transport_fields). */
static void add_transport_entry(void *user, const char *meeting_id, const char *attendee_id,
                                const sfu_transport_t *t) {
  cJSON *arr = user;
  cJSON *o = cJSON_CreateObject();
  if (!o) return;
  cJSON_AddStringToObject(o, "MeetingId", meeting_id);
  cJSON_AddStringToObject(o, "AttendeeId", attendee_id);
  transport_fields(o, t);
  cJSON_AddItemToArray(arr, o);
}

void sfu_control_add_rtc_stats(cJSON *loop_obj, const sfu_rtc_t *rtc) {
  if (!rtc || !loop_obj) return;
  sfu_rtc_stats_t st;
  sfu_rtc_stats(rtc, &st);
  cJSON *o = cJSON_CreateObject();
  if (!o) return;
  cJSON_AddNumberToObject(o, "TransportCount", (double)st.transports);
  cJSON_AddNumberToObject(o, "Connected", (double)st.joined);
  cJSON_AddNumberToObject(o, "Created", (double)st.created);
  cJSON_AddNumberToObject(o, "Unrouted", (double)st.unrouted);
  add_counters(o, &st.sum);
  /* Issue 3 "Figures": per transport, not only the loop's sums. */
  cJSON *arr = cJSON_AddArrayToObject(o, "Transports");
  if (arr) sfu_rtc_foreach_transport(rtc, add_transport_entry, arr);
  cJSON_AddItemToObject(loop_obj, "Media", o);
}
