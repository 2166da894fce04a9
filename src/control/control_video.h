/* Video JSON of the control API (see control_video.c). Loop thread of the router's
 * meeting; same ownership rules as sfu_control_exec (control.h). sfu_control_index_json
 * is public (control.h): the worker also builds it for sfu:IndexChanged. */
#ifndef SFU_CONTROL_VIDEO_H
#define SFU_CONTROL_VIDEO_H

#include "sfu/control.h"
#include "sfu/router.h"
#include "sfu/rtc.h"

/* One StreamIndex entry; one GetAttendeeStats Video.Published / Video.Receiving entry
 * (separate for the unit tests, which cannot make a router hold streams). */
cJSON *sfu_control_stream_json(const sfu_router_stream_info_t *si);
cJSON *sfu_control_published_json(const sfu_router_stream_info_t *si);
cJSON *sfu_control_receiving_json(const sfu_router_view_info_t *vi);

/* Adds "StreamIndex" (r's index, empty when r is NULL), "ReceiveStreams" (the views
 * that carry a stream, offer order), "PublishedStreamId" (if any) and "PublishRefused"
 * (if the offer's video was refused) to a Subscribe reply. */
void sfu_control_add_subscribe_video(cJSON *reply, const sfu_router_t *r,
                                     const sfu_rtc_sub_result_t *res);
/* GetAttendeeStats "Video": {"Published":[...],"Receiving":[...]}; empty arrays when the
 * attendee has no peer in the router (r or p NULL). */
cJSON *sfu_control_attendee_video_json(const sfu_router_t *r, const sfu_router_peer_t *p);
/* Adds "Video" (router figures summed over the loop's meetings; zeros without rtc) to a
 * GetWorkerStats Loop object. */
void sfu_control_add_loop_video_stats(cJSON *loop_obj, const sfu_session_t *s,
                                      const sfu_rtc_t *rtc);

#endif
