/* Media ops of the control API, executed on the meeting's loop (see control_rtc.c).
 * Same threading and ownership rules as sfu_control_exec (control.h). */
#ifndef SFU_CONTROL_RTC_H
#define SFU_CONTROL_RTC_H

#include <stdint.h>

#include "sfu/control.h"
#include "sfu/rtc.h"

cJSON *sfu_control_exec_subscribe(sfu_session_t *s, const sfu_cmd_t *cmd,
                                  const sfu_control_ctx_t *ctx, uint64_t now_us);
cJSON *sfu_control_exec_leave(sfu_session_t *s, const sfu_cmd_t *cmd,
                              const sfu_control_ctx_t *ctx, uint64_t now_us);
cJSON *sfu_control_exec_attendee_stats(sfu_session_t *s, const sfu_cmd_t *cmd,
                                       const sfu_control_ctx_t *ctx, uint64_t now_us);
/* One transport's figures (GetAttendeeStats "Transport"). */
cJSON *sfu_control_transport_json(const sfu_transport_t *t);
/* Adds "Media": {...} (transport figures of the loop) to a GetWorkerStats Loop object. */
void sfu_control_add_rtc_stats(cJSON *loop_obj, const sfu_rtc_t *rtc);

#endif
