/* Data-message JSON of the control API (issue 10; include in control_data.h). */
#include "control/control_data.h"

#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "sfu/data_envelope.h"
#include "sfu/data_relay.h"
#include "sfu/err.h"

static void add_u64(cJSON *o, const char *name, uint64_t v) { cJSON_AddNumberToObject(o, name, (double)v); }

/* {"ok":false,"error":{"code":"BadTopic"|"TooLarge"|"Throttled"|"BadRequest",...}}: the
 * codes a client gets for the same message (docs/data-messages.md), so that the control
 * plane and attendees read one set of answers. */
static cJSON *data_error(int code, const char *message) {
  cJSON *r = cJSON_CreateObject();
  if (!r) return NULL;
  cJSON_AddFalseToObject(r, "ok");
  cJSON *e = cJSON_AddObjectToObject(r, "error");
  if (e) {
    cJSON_AddStringToObject(e, "code", sfu_data_code_name((sfu_data_code_t)code));
    cJSON_AddStringToObject(e, "message", message);
  }
  return r;
}

cJSON *sfu_control_exec_send_data(sfu_session_t *s, const sfu_cmd_t *cmd,
                                  const sfu_control_ctx_t *ctx, uint64_t now_us) {
  (void)s;
  char err[SFU_CONTROL_ERRLEN];
  if (!ctx->rtc) return sfu_control_error(SFU_EUNSUPP, "SendDataMessage: media transport not available");
  int code = 0;
  int rc = sfu_rtc_send_data_message(ctx->rtc, cmd->meeting_id, cmd->data_topic ? cmd->data_topic : "",
                                     cmd->data_topic_len, cmd->data ? cmd->data : "", cmd->data_len,
                                     cmd->lifetime_ms, now_us, &code, err, sizeof err);
  if (rc && code) return data_error(code, err);
  if (rc) return sfu_control_error(rc, err);
  cJSON *r = cJSON_CreateObject();
  if (r) cJSON_AddTrueToObject(r, "ok");
  return r;
}

static cJSON *relay_json(const sfu_data_relay_stats_t *st) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  add_u64(o, "MessagesIn", st->messages_in);
  add_u64(o, "Accepted", st->accepted);
  add_u64(o, "Delivered", st->delivered);
  add_u64(o, "Replayed", st->replayed);
  add_u64(o, "Throttled", st->refused[SFU_DATA_THROTTLED]);
  cJSON *ref = cJSON_AddObjectToObject(o, "Refused");
  if (ref)
    for (int c = 1; c < SFU_DATA_N_CODES; c++)
      add_u64(ref, sfu_data_code_name((sfu_data_code_t)c), st->refused[c]);
  add_u64(o, "Cached", st->cached);
  add_u64(o, "CachedTotal", st->cached_total);
  add_u64(o, "CacheEvicted", st->cache_evicted);
  add_u64(o, "CacheExpired", st->cache_expired);
  add_u64(o, "DroppedBackpressure", st->dropped);
  add_u64(o, "WorkerMessagesDelivered", st->worker_delivered);
  return o;
}

cJSON *sfu_control_meeting_data_json(const sfu_meeting_t *m) {
  sfu_data_relay_stats_t st;
  if (sfu_rtc_meeting_data_stats(m, &st)) return NULL;
  return relay_json(&st);
}

cJSON *sfu_control_attendee_data_json(const sfu_attendee_t *a) {
  sfu_data_peer_stats_t st;
  if (sfu_rtc_attendee_data_stats(a, &st)) return NULL;
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  cJSON_AddBoolToObject(o, "ChannelOpen", st.open);
  add_u64(o, "Sent", st.sent);
  add_u64(o, "Refused", st.refused);
  add_u64(o, "Received", st.received);
  add_u64(o, "Replayed", st.replayed);
  add_u64(o, "WorkerMessagesReceived", st.worker_received);
  add_u64(o, "DroppedBackpressure", st.dropped);
  add_u64(o, "RefusalsLost", st.refusals_lost);
  add_u64(o, "Queued", st.queued);
  add_u64(o, "QueuedBytes", st.queued_bytes);
  add_u64(o, "StuckReports", st.stuck);
  add_u64(o, "DeliveredUpTo", st.mark);
  return o;
}

void sfu_control_add_loop_data_stats(cJSON *loop_obj, const sfu_session_t *s) {
  sfu_data_relay_stats_t sum;
  memset(&sum, 0, sizeof sum);
  uint64_t relays = 0;
  /* O(meetings of the loop): an operator's poll, not a hot path. */
  for (const sfu_meeting_t *m = sfu_session_first_meeting(s); m; m = sfu_session_next_meeting(s, m)) {
    sfu_data_relay_stats_t st;
    if (sfu_rtc_meeting_data_stats(m, &st)) continue;
    relays++;
    sum.messages_in += st.messages_in;
    sum.accepted += st.accepted;
    sum.delivered += st.delivered;
    sum.replayed += st.replayed;
    for (int c = 0; c < SFU_DATA_N_CODES; c++) sum.refused[c] += st.refused[c];
    sum.cached += st.cached;
    sum.cached_total += st.cached_total;
    sum.cache_evicted += st.cache_evicted;
    sum.cache_expired += st.cache_expired;
    sum.dropped += st.dropped;
    sum.worker_delivered += st.worker_delivered;
  }
  cJSON *o = relay_json(&sum);
  if (!o) return;
  add_u64(o, "Relays", relays);
  cJSON_AddItemToObject(loop_obj, "Data", o);
}
