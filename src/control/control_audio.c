/* Audio JSON of the control API (issue 9): GetAttendeeStats "Audio", GetMeeting "Audio",
 * GetWorkerStats Loop "Audio". Field meanings: docs/control-api.md. */
#include "control/control_audio.h"

#include <string.h>

#include <cjson/cJSON.h>

static void add_u64(cJSON *o, const char *name, uint64_t v) {
  cJSON_AddNumberToObject(o, name, (double)v);
}

cJSON *sfu_control_attendee_audio_json(const sfu_attendee_t *a, uint64_t now_us) {
  sfu_rtc_audio_info_t ai;
  sfu_rtc_attendee_audio(a, now_us, &ai);
  if (!ai.in_mixer && !ai.has_in) return NULL;
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  cJSON_AddBoolToObject(o, "Mixed", ai.in_mixer);
  cJSON_AddBoolToObject(o, "CanSend", ai.can_send);
  cJSON_AddBoolToObject(o, "CanReceive", ai.can_receive);
  if (ai.has_in) {
    const sfu_audio_in_stats_t *s = &ai.in;
    cJSON *in = cJSON_AddObjectToObject(o, "Incoming");
    if (in) {
      add_u64(in, "Packets", s->packets);
      add_u64(in, "Lost", s->lost);
      cJSON_AddNumberToObject(in, "LossFraction", s->loss_fraction);
      cJSON_AddNumberToObject(in, "JitterMs", s->jitter_ms);
      cJSON_AddNumberToObject(in, "TargetDelayMs", s->target_ms);
      cJSON_AddNumberToObject(in, "BufferMs", s->level_ms);
      add_u64(in, "Duplicates", s->duplicates);
      add_u64(in, "Late", s->late);
      add_u64(in, "BadPayloads", s->bad_payloads);
      add_u64(in, "Resets", s->resets);
      add_u64(in, "ConcealedFrames", s->concealed_frames);
      add_u64(in, "FecRecovered", s->fec_recovered);
      add_u64(in, "RedRecovered", s->red_recovered);
      add_u64(in, "DtxFrames", s->dtx_frames);
      add_u64(in, "SilentFrames", s->silent_frames);
      add_u64(in, "DecoderCalls", s->decoder_calls);
      cJSON_AddNumberToObject(in, "Channels", s->channels);
      add_u64(in, "ReportsSent", ai.rrs_sent);
    }
  }
  if (ai.has_signal) {
    cJSON_AddNumberToObject(o, "SignalStrength", ai.signal.strength);
    cJSON_AddBoolToObject(o, "Muted", ai.signal.muted);
    cJSON_AddNumberToObject(o, "Volume", ai.signal.volume);
    cJSON_AddNumberToObject(o, "SpeakerOrder", ai.signal.order);
  }
  cJSON_AddBoolToObject(o, "Talking", ai.talking);
  if (ai.in_mixer && ai.can_receive) {
    cJSON *mx = cJSON_AddObjectToObject(o, "Mix");
    if (mx) {
      add_u64(mx, "Ssrc", ai.mix_ssrc);
      add_u64(mx, "PacketsSent", ai.mix_packets);
      add_u64(mx, "BytesSent", ai.mix_bytes);
      add_u64(mx, "SenderReports", ai.srs_sent);
      add_u64(mx, "ReceiverReports", ai.rrs_in);
      cJSON_AddNumberToObject(mx, "LossFraction", ai.mix_loss);
      add_u64(mx, "SignalsSent", ai.signals_sent);
      add_u64(mx, "SignalsDropped", ai.signals_failed);
    }
  }
  return o;
}

cJSON *sfu_control_mixer_json(const sfu_mixer_stats_t *st) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  add_u64(o, "Ticks", st->ticks);
  add_u64(o, "Encodes", st->encodes);
  add_u64(o, "EncodesLastTick", st->encodes_last_tick);
  add_u64(o, "SharedEncodes", st->shared_encodes);
  add_u64(o, "OwnEncodes", st->own_encodes);
  add_u64(o, "HandbackEncodes", st->handback_encodes);
  add_u64(o, "SkippedEncodes", st->skipped_encodes);
  add_u64(o, "Decodes", st->decodes);
  add_u64(o, "PacketsSent", st->packets_sent);
  add_u64(o, "BytesSent", st->bytes_sent);
  add_u64(o, "DtxFrames", st->dtx_frames);
  add_u64(o, "LimiterFrames", st->limiter_frames);
  add_u64(o, "TalkerChanges", st->talker_changes);
  add_u64(o, "PoolEncoders", st->pool_encoders);
  add_u64(o, "PoolExhausted", st->pool_exhausted);
  add_u64(o, "PoolBytes", st->pool_bytes);
  cJSON_AddNumberToObject(o, "Talkers", st->talkers);
  return o;
}

void sfu_control_add_loop_audio_stats(cJSON *loop_obj, const sfu_session_t *s) {
  sfu_mixer_stats_t sum;
  memset(&sum, 0, sizeof sum);
  uint64_t mixers = 0;
  /* O(meetings of the loop): an operator's poll, not a hot path. */
  for (const sfu_meeting_t *m = sfu_session_first_meeting(s); m; m = sfu_session_next_meeting(s, m)) {
    const sfu_mixer_t *mx = sfu_rtc_meeting_mixer(m);
    if (!mx) continue;
    sfu_mixer_stats_t st;
    sfu_mixer_stats(mx, &st);
    mixers++;
    sum.ticks += st.ticks;
    sum.encodes += st.encodes;
    sum.encodes_last_tick += st.encodes_last_tick;
    sum.shared_encodes += st.shared_encodes;
    sum.own_encodes += st.own_encodes;
    sum.handback_encodes += st.handback_encodes;
    sum.skipped_encodes += st.skipped_encodes;
    sum.decodes += st.decodes;
    sum.packets_sent += st.packets_sent;
    sum.bytes_sent += st.bytes_sent;
    sum.dtx_frames += st.dtx_frames;
    sum.limiter_frames += st.limiter_frames;
    sum.talker_changes += st.talker_changes;
    sum.pool_encoders += st.pool_encoders;
    sum.pool_exhausted += st.pool_exhausted;
    sum.pool_bytes += st.pool_bytes;
    sum.talkers += st.talkers;
  }
  cJSON *o = sfu_control_mixer_json(&sum);
  if (!o) return;
  cJSON_AddNumberToObject(o, "Mixers", (double)mixers);
  cJSON_AddItemToObject(loop_obj, "Audio", o);
}
