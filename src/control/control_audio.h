/* Audio JSON of the control API (issue 9, see control_audio.c). Loop thread of the
 * meeting; same ownership rules as sfu_control_exec (control.h). */
#ifndef SFU_CONTROL_AUDIO_H
#define SFU_CONTROL_AUDIO_H

#include "sfu/control.h"
#include "sfu/mixer.h"
#include "sfu/rtc.h"

/* GetAttendeeStats "Audio": the attendee's incoming stream, its signals and the mix sent
 * to it (docs/control-api.md); NULL when it is in no mixer (switch off, not connected). */
cJSON *sfu_control_attendee_audio_json(const sfu_attendee_t *a, uint64_t now_us);
/* A mixer's figures (GetMeeting "Audio", summed in GetWorkerStats "Audio"). */
cJSON *sfu_control_mixer_json(const sfu_mixer_stats_t *st);
/* Adds "Audio" (mixers summed over the loop's meetings) to a GetWorkerStats Loop. */
void sfu_control_add_loop_audio_stats(cJSON *loop_obj, const sfu_session_t *s);

#endif
