/* The control API (docs/control-api.md): JSON requests decoded into typed commands,
 * commands executed against one loop's sfu_session_t, replies and events encoded.
 *
 * Pure: cJSON only, no libuv, no nanomsg, no clock. The worker (src/worker) moves bytes
 * and commands between threads; this module decides what they mean. Decoding runs on
 * the control thread; execution runs on the loop thread that owns the session; both are
 * re-entrant (no globals).
 *
 * Ownership: an sfu_cmd_t owns its heap parts (batch items, join token, SDP offer) and is
 * released with sfu_cmd_free(); it is moved between threads by value. Replies are cJSON
 * trees owned by whoever received them (cJSON_Delete). */
#ifndef SFU_CONTROL_H
#define SFU_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include "sfu/router.h"
#include "sfu/rtc.h"
#include "sfu/session.h"

typedef struct cJSON cJSON;

#define SFU_CONTROL_MAX_REQUEST (1024 * 1024) /* bytes; larger -> BadRequest */
#define SFU_CONTROL_MAX_DEPTH 32              /* JSON nesting; deeper -> BadRequest */
#define SFU_CONTROL_ERRLEN 256                /* error message buffers */
#define SFU_LIST_MAX_RESULTS 100              /* ListAttendees page size limit */

typedef enum {
  SFU_OP_CREATE_MEETING = 0,
  SFU_OP_GET_MEETING,
  SFU_OP_LIST_MEETINGS,
  SFU_OP_DELETE_MEETING,
  SFU_OP_CREATE_ATTENDEE,
  SFU_OP_BATCH_CREATE_ATTENDEE,
  SFU_OP_GET_ATTENDEE,
  SFU_OP_LIST_ATTENDEES,
  SFU_OP_DELETE_ATTENDEE,
  SFU_OP_UPDATE_ATTENDEE_CAPS,
  SFU_OP_GET_WORKER_STATS,
  SFU_OP_SUBSCRIBE,
  SFU_OP_LEAVE_MEETING,      /* issue 3 */
  SFU_OP_GET_ATTENDEE_STATS, /* issue 3 */
  SFU_OP_GET_STREAM_INDEX,   /* issue 7 */
  SFU_OP_SEND_DATA_MESSAGE,  /* issue 10 */
  SFU_OP__COUNT
} sfu_op_t;

/* One BatchCreateAttendee item. An item that failed to decode keeps its error here and
 * is reported in "Errors" while the others are created. */
typedef struct {
  char external_user_id[SFU_EXT_ID_BUF]; /* as given (sanitised, truncated) if invalid */
  sfu_caps_t caps;
  int err; /* 0 or SFU_E*: decode error of this item */
  char errmsg[SFU_CONTROL_ERRLEN];
} sfu_cmd_item_t;

/* A decoded request. Fields not used by `op` are zero. */
typedef struct {
  sfu_op_t op;
  char meeting_id[SFU_UUID_LEN + 1];         /* lower-case; CreateMeeting: "" if not given */
  char attendee_id[SFU_ATTENDEE_ID_LEN + 1]; /* lower-case UUID [+ "#content"] */
  /* CreateAttendee: ContentShareOf, the owner's AttendeeId ("" if not given). Given, the
   * attendee is a content share and external_id may be "" (derived from the owner's). */
  char content_share_of[SFU_ATTENDEE_ID_LEN + 1];
  char primary_meeting_id[SFU_UUID_LEN + 1]; /* CreateMeeting, "" if not given */
  char external_id[SFU_EXT_ID_BUF];          /* ExternalMeetingId or ExternalUserId */
  sfu_features_t features;                   /* CreateMeeting, resolved */
  sfu_caps_t caps;                           /* CreateAttendee, UpdateAttendeeCapabilities */
  sfu_cmd_item_t *items;                     /* BatchCreateAttendee, owned */
  size_t n_items;
  int max_results;     /* ListAttendees */
  uint64_t next_token; /* ListAttendees: first seq to return */
  char *join_token;    /* Subscribe, owned */
  size_t join_token_len;
  char *sdp_offer;         /* Subscribe, owned */
  /* Subscribe: ReceiveStreamIds (has_receive 0 if absent) */
  sfu_rtc_sub_req_t receive;
  sfu_end_reason_t reason; /* DeleteMeeting: set by the worker, never decoded */
  /* SendDataMessage (issue 10): Topic and Data as given (owned; checked on the loop by
   * the client's rules, sfu_data_validate), LifetimeMs (0 if absent). */
  char *data_topic;
  size_t data_topic_len;
  char *data;
  size_t data_len;
  int64_t lifetime_ms;
} sfu_cmd_t;

/* Where the executing loop lives (for MediaPlacement and stats). */
typedef struct {
  const char *announce_ip;
  int loop_index;
  int udp_port, tcp_port;
  struct sfu_rtc *rtc; /* the loop's transports; NULL in tests without media */
} sfu_control_ctx_t;

const char *sfu_op_name(sfu_op_t op);

/* Decodes one request. Returns 0, or a negative SFU_E* code (always a BadRequest) with
 * "<Field>: <why>" in err. Checks size, embedded NULs, nesting depth (before cJSON sees
 * the bytes), syntax, root type, the op, and every field's presence, type and range.
 * On error *cmd holds nothing to free; on success free it with sfu_cmd_free(). */
int sfu_control_decode(const char *buf, size_t len, sfu_cmd_t *cmd, char *err, size_t errlen);
void sfu_cmd_free(sfu_cmd_t *cmd);
/* Deepest [ / { nesting of a JSON text, brackets in strings ignored. O(len), no alloc. */
int sfu_control_json_depth(const char *buf, size_t len);

/* Executes a meeting-scoped or per-loop command against the loop's session and returns
 * the reply object ({"ok":true,...} or an error reply). For ListMeetings and
 * GetWorkerStats it returns this loop's share ({"ok":true,"Meetings":[...]} and
 * {"ok":true,"Loop":{...}}), which the worker merges. Never NULL except out of memory. */
cJSON *sfu_control_exec(sfu_session_t *s, const sfu_cmd_t *cmd, const sfu_control_ctx_t *ctx,
                        uint64_t now_us);

/* Error reply {"ok":false,"error":{"code","message"}}; code from the SFU_E* value. */
cJSON *sfu_control_error(int err, const char *message);
/* "BadRequest", "NotFound", ... for an SFU_E* code. */
const char *sfu_control_code_name(int err);
/* Serialises a reply (unformatted) and frees it; NULL only out of memory. */
char *sfu_control_print(cJSON *reply);

/* The JSON objects of the model (also used by the worker when merging). */
cJSON *sfu_control_meeting_json(const sfu_meeting_t *m, const sfu_control_ctx_t *ctx);
cJSON *sfu_control_attendee_json(const sfu_attendee_t *a);

/* A meeting's StreamIndex object (docs/control-api.md): {"Version","Streams":[...]},
 * streams in StreamId order, layers lowest first. NULL router (no video yet): the empty
 * index, Version 0. Read on the router's loop thread; NULL only out of memory. */
cJSON *sfu_control_index_json(const sfu_router_t *r);

/* One event as the PUB message text (malloc'd, caller frees). */
char *sfu_control_event_json(const sfu_event_t *ev, const char *worker_id, uint64_t timestamp_ms);
/* The same, with sfu:IndexChanged's "index" (the StreamIndex object built on the loop
 * thread while ev->router was valid; NULL: the empty index). Ignored for other types. */
char *sfu_control_event_json_with_index(const sfu_event_t *ev, const cJSON *index,
                                        const char *worker_id, uint64_t timestamp_ms);

/* Copies at most max bytes of s into out, replacing every byte that is not printable
 * ASCII with '?', so that echoed client input is always valid JSON-safe UTF-8. */
void sfu_control_sanitize(char *out, size_t outlen, const char *s, size_t len, size_t max);

#endif
