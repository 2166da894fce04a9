/* Data-message JSON of the control API (issue 10): SendDataMessage, and the "Data"
 * figures of GetMeeting, GetAttendeeStats and GetWorkerStats. Field meanings:
 * docs/control-api.md. */
#ifndef SFU_CONTROL_DATA_H
#define SFU_CONTROL_DATA_H

#include <stdint.h>

#include "sfu/control.h"

/* SendDataMessage on the meeting's loop. */
cJSON *sfu_control_exec_send_data(sfu_session_t *s, const sfu_cmd_t *cmd,
                                  const sfu_control_ctx_t *ctx, uint64_t now_us);
/* The meeting's relay figures, NULL while it has no relay. */
cJSON *sfu_control_meeting_data_json(const sfu_meeting_t *m);
/* The attendee's data figures, NULL while it has none. */
cJSON *sfu_control_attendee_data_json(const sfu_attendee_t *a);
/* Loops[i].Data: the sums over the loop's meetings. O(meetings). */
void sfu_control_add_loop_data_stats(cJSON *loop_obj, const sfu_session_t *s);

#endif
