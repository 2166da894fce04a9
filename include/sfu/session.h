/* Meetings and attendees owned by one media loop: the Chime-like user model (ids, join
 * tokens, features, capabilities, quotas), its lifecycle timers, and the events it emits.
 *
 * Pure logic: no JSON, no libuv, no clock. Every call that can change state takes the
 * current time as `now_us` (any monotonic microsecond clock; the caller picks it) and
 * reports what happened through the event callback given at creation, synchronously and
 * in order. Timers are sans-IO: the owner arms its own timer for
 * sfu_session_next_deadline() and calls sfu_session_handle_timeout() when it fires.
 *
 * Ownership: an sfu_session_t is created, used and freed by ONE thread (its media loop);
 * it owns every meeting and attendee inside it. Pointers to meetings and attendees stay
 * valid until the call that removes them returns (delete, timeout, free). Nothing here
 * is thread-safe, by design: no locks on anything a loop owns.
 *
 * Replicas: a meeting created with a primary id is a replica. The session only knows the
 * flag (replicas are not idle-ended); cascading a primary's end to its replicas, which
 * may live on other loops, is the worker's job (see docs/architecture.md). */
#ifndef SFU_SESSION_H
#define SFU_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "sfu/hmap.h"
#include "sfu/ids.h"
#include "sfu/list.h"

/* Limits from requirements.md ("Quotas"). */
#define SFU_MAX_ATTENDEES 250   /* attendees per meeting, standard session */
#define SFU_MAX_ATTENDEES_HD 25 /* attendees per meeting, high-definition session */
#define SFU_MAX_REPLICAS 4      /* replicas per primary meeting */
#define SFU_MAX_BATCH 100       /* attendees per BatchCreateAttendee */
/* ExternalMeetingId / ExternalUserId: 2..64 characters (UTF-8 code points). */
#define SFU_EXT_ID_MIN_CHARS 2
#define SFU_EXT_ID_MAX_CHARS 64
#define SFU_EXT_ID_BUF (SFU_EXT_ID_MAX_CHARS * 4 + 1) /* worst case 4 bytes a character */
/* Content share (requirements.md "Content share"): an attendee of its own whose
 * AttendeeId is its owner's + "#content" (Chime's shape), at most SFU_MAX_CONTENT_SHARES
 * per meeting. Content attendees do not count toward MaxCount (see CreateAttendee in
 * docs/control-api.md). */
#define SFU_CONTENT_SUFFIX "#content"
#define SFU_CONTENT_SUFFIX_LEN 8
#define SFU_MAX_CONTENT_SHARES 2 /* = SFU_ROUTER_MAX_CONTENT (checked in session.c) */
/* An AttendeeId: a UUID, or a UUID + "#content"; without the NUL. */
#define SFU_ATTENDEE_ID_LEN (SFU_UUID_LEN + SFU_CONTENT_SUFFIX_LEN)

typedef enum {
  SFU_RES_NONE = 0,
  SFU_RES_HD,  /* 1280x720 */
  SFU_RES_FHD, /* 1920x1080 */
  SFU_RES_UHD, /* 3840x2160 */
} sfu_resolution_t;

typedef enum {
  SFU_CAP_SEND_RECEIVE = 0,
  SFU_CAP_SEND,
  SFU_CAP_RECEIVE,
  SFU_CAP_NONE,
} sfu_cap_t;

typedef struct {
  sfu_cap_t audio, video, content;
} sfu_caps_t;

/* MeetingFeatures.Video.MaxReceiveKbps: default and range. The floor is one camera's
 * lowest layer with room to spare; the ceiling is well above any meeting's total. */
#define SFU_RECEIVE_KBPS_DEFAULT 6000
#define SFU_RECEIVE_KBPS_MIN 150
#define SFU_RECEIVE_KBPS_MAX 50000
/* MeetingFeatures.Audio (issue 9): 32 kbps by default, up to 64 mono / 128 stereo (Opus
 * goes down to 6, RFC 6716 §2.1.1); 5 talkers by default, at most 16. */
#define SFU_AUDIO_KBPS_DEFAULT 32
#define SFU_AUDIO_KBPS_MIN 6
#define SFU_AUDIO_KBPS_MAX 128
#define SFU_AUDIO_KBPS_MONO_MAX 64
#define SFU_MAX_TALKERS_DEFAULT 5
#define SFU_MAX_TALKERS_MAX 16

/* MeetingFeatures, fixed at creation. max_count 0 means "not given" until resolved. */
typedef struct {
  sfu_resolution_t video;   /* None | HD | FHD */
  sfu_resolution_t content; /* None | FHD | UHD */
  int max_count;
  /* Video.MaxReceiveKbps: what one attendee receives of video in all, at most (issue 8;
   * requirements.md "receivers under about 6 Mbps"); 0 = not given until resolved. */
  int receive_kbps;
  /* Audio.BitrateKbps: the mixed stream's Opus bitrate (the stereo mix as given, the mono
   * mix at most 64); Audio.MaxTalkers: voices mixed at once (issue 9). 0 = not given. */
  int audio_kbps, max_talkers;
} sfu_features_t;

typedef enum {
  SFU_END_DELETED = 0,
  SFU_END_IDLE_TIMEOUT,
  SFU_END_MAX_DURATION,
  SFU_END_PRIMARY_ENDED,
} sfu_end_reason_t;

typedef enum {
  SFU_EV_MEETING_STARTED = 0,
  SFU_EV_MEETING_ENDED,
  SFU_EV_ATTENDEE_ADDED,
  SFU_EV_ATTENDEE_DELETED,
  SFU_EV_ATTENDEE_CAPS_UPDATED,
  /* issue 3, emitted by the loop's rtc (rtc.h) */
  SFU_EV_ATTENDEE_AUTHORIZED, /* a Subscribe created a transport (first device or takeover) */
  SFU_EV_ATTENDEE_JOINED,     /* DTLS connected */
  SFU_EV_ATTENDEE_LEFT,       /* close_notify, LeaveMeeting, replaced by another device */
  SFU_EV_ATTENDEE_DROPPED,    /* consent lost, DTLS failure */
  /* issue 7, emitted by the loop's rtc from its video router (router.h) */
  SFU_EV_VIDEO_STARTED,          /* chime:AttendeeVideoStarted (stream_id) */
  SFU_EV_VIDEO_STOPPED,          /* chime:AttendeeVideoStopped */
  SFU_EV_CONTENT_JOINED,         /* chime:AttendeeContent{Joined,Left,Dropped}: the */
  SFU_EV_CONTENT_LEFT,           /*   JOINED/LEFT/DROPPED of a "<id>#content" attendee */
  SFU_EV_CONTENT_DROPPED,
  SFU_EV_CONTENT_VIDEO_STARTED,  /* chime:AttendeeContentVideoStarted */
  SFU_EV_CONTENT_VIDEO_STOPPED,  /* chime:AttendeeContentVideoStopped */
  SFU_EV_INDEX_CHANGED,          /* sfu:IndexChanged (router: the meeting's index) */
  SFU_EV_VIDEO_SEND_REFUSED,     /* sfu:VideoSendRefused (stream_id, message) */
  /* issue 8: a viewer's downlink cannot carry even the lowest layers of what it
   * subscribed (estimate_kbps, required_kbps, paused stream ids), and when it can again */
  SFU_EV_DOWNLINK_INSUFFICIENT,  /* sfu:DownlinkInsufficient */
  SFU_EV_DOWNLINK_SUFFICIENT,    /* sfu:DownlinkSufficient */
} sfu_event_type_t;

/* One event, self-contained by value so that it can be copied into a message and read
 * on another thread after the meeting is gone ("each carries enough to be understood
 * alone"). Empty strings mean "not applicable". */
typedef struct {
  sfu_event_type_t type;
  uint64_t timestamp_us; /* the now_us of the call that caused it */
  char meeting_id[SFU_UUID_LEN + 1];
  char external_meeting_id[SFU_EXT_ID_BUF];
  char primary_meeting_id[SFU_UUID_LEN + 1]; /* replicas only */
  char attendee_id[SFU_ATTENDEE_ID_LEN + 1]; /* attendee events */
  char external_user_id[SFU_EXT_ID_BUF];     /* attendee events */
  sfu_caps_t caps;                           /* CAPS_UPDATED */
  sfu_end_reason_t reason;                   /* MEETING_ENDED */
  uint32_t stream_id;                        /* video events */
  char message[160];                         /* VIDEO_SEND_REFUSED: the reference text */
  uint32_t estimate_kbps, required_kbps;     /* DOWNLINK_* */
  uint8_t n_paused;
  uint32_t paused[25];                       /* DOWNLINK_INSUFFICIENT: stream ids */
  /* INDEX_CHANGED: the meeting's router, valid only during the callback that emits the
   * event (the loop turns it into the index JSON there; sfu_control_index_json). */
  const struct sfu_router *router;
} sfu_event_t;

struct sfu_meeting;

/* An attendee. Owned by its meeting (freed by the session when deleted or when the
 * meeting ends); touched only by the session's thread. */
typedef struct sfu_attendee {
  sfu_hnode_t node; /* in meeting->attendees, keyed by id */
  sfu_list_t link;  /* in meeting->attendee_list, creation order (ListAttendees) */
  struct sfu_meeting *meeting;
  uint64_t seq; /* creation order inside the meeting; pagination key */
  char id[SFU_ATTENDEE_ID_LEN + 1];
  char external_user_id[SFU_EXT_ID_BUF];
  char join_token[SFU_TOKEN_LEN + 1];
  sfu_caps_t caps;
  /* Content share links, both NULL for a plain attendee: an owner's content attendee,
   * and a content attendee's owner. Cleared when either is deleted (the owner's deletion
   * deletes its content attendee first). */
  struct sfu_attendee *content_share;
  struct sfu_attendee *content_owner;
  int connected;   /* set through sfu_session_set_connected (issue 3: media transport) */
  void *transport; /* issue 3: the attendee's media transport; closed in on_attendee_removed */
  void *data;      /* issue 10: its data-relay peer (rtc_data.c); freed in on_attendee_removed */
} sfu_attendee_t;

/* A meeting. Owned by the session; freed when it ends; touched only by its thread. */
typedef struct sfu_meeting {
  sfu_hnode_t node; /* in session->meetings, keyed by id */
  sfu_list_t link;  /* in session->meeting_list, creation order */
  char id[SFU_UUID_LEN + 1];
  char external_id[SFU_EXT_ID_BUF];
  char primary_id[SFU_UUID_LEN + 1]; /* "" unless this is a replica */
  sfu_features_t features;           /* resolved: max_count filled in */
  uint64_t created_at_us;
  uint64_t last_active_us; /* creation, last attendee created, last disconnect */
  sfu_hmap_t attendees;
  sfu_list_t attendee_list;
  size_t attendee_count; /* content attendees included */
  size_t content_count;  /* "#content" attendees, <= SFU_MAX_CONTENT_SHARES */
  size_t connected_count;
  uint64_t next_seq;
  void *media; /* issue 7: the meeting's video router (rtc.c); freed in on_meeting_removed */
  void *audio; /* issue 9: the meeting's audio mixer (rtc_mixer.c); same lifetime rules */
  void *data;  /* issue 10: the meeting's data-message relay (rtc_data.c); same rules */
} sfu_meeting_t;

/* Outputs of a session. Called synchronously from inside session calls, on the session's
 * thread. The callbacks must not call back into the session. */
typedef struct {
  void (*on_event_cb)(void *user, const sfu_event_t *ev);
  /* An attendee is about to be freed (deleted, meeting ended, session freed): release
   * what hangs off attendee->transport. Optional (NULL). */
  void (*on_attendee_removed_cb)(void *user, sfu_attendee_t *a);
  void *user;
  /* A meeting is about to be freed, after its attendees: release meeting->media.
   * Optional (NULL). */
  void (*on_meeting_removed_cb)(void *user, struct sfu_meeting *m);
} sfu_session_cbs_t;

typedef struct {
  uint64_t idle_timeout_us; /* end a non-replica meeting idle this long */
  uint64_t max_duration_us; /* end any meeting this long after creation */
} sfu_session_config_t;

typedef struct sfu_session sfu_session_t;

/* What CreateMeeting needs. Strings must already be validated (the session re-checks). */
typedef struct {
  const char *meeting_id; /* a UUID chosen by the caller (the worker checks uniqueness) */
  const char *external_id;
  const char *primary_id;  /* NULL or "" for a standard meeting */
  sfu_features_t features; /* max_count 0 = default */
} sfu_meeting_params_t;

/* ---- validation helpers (shared by the control layer and tests) ----
 * Each returns 0 or SFU_EINVAL and writes "<Field>: <why>" into err. */
int sfu_validate_external_id(const char *field, const char *s, size_t len, char *err,
                             size_t errlen);
/* Chime rule: Content SendReceive/Receive needs Video SendReceive/Receive. */
int sfu_validate_caps(const sfu_caps_t *c, char *err, size_t errlen);
/* Fills a default max_count (250, or 25 for a high-definition session) and checks it. */
int sfu_features_resolve(sfu_features_t *f, char *err, size_t errlen);
int sfu_features_is_hd(const sfu_features_t *f);
void sfu_caps_default(sfu_caps_t *c); /* all SendReceive */
/* 1 if s is a canonical UUID, optionally followed by exactly "#content" (case matters
 * in the suffix; the UUID's hex digits may be of either case). */
int sfu_attendee_id_valid(const char *s);
/* 1 if the attendee id names a content share (ends with "#content"). */
int sfu_attendee_id_is_content(const char *id);

/* Names used on the wire (also by the control layer). Parse returns -1 if unknown. */
const char *sfu_cap_name(sfu_cap_t c);
int sfu_cap_parse(const char *s);
const char *sfu_resolution_name(sfu_resolution_t r);
const char *sfu_end_reason_name(sfu_end_reason_t r);
const char *sfu_event_type_name(sfu_event_type_t t);

/* ---- session ---- */
/* Returns NULL on allocation failure. cfg and cbs are copied. */
sfu_session_t *sfu_session_new(const sfu_session_config_t *cfg, const sfu_session_cbs_t *cbs);
/* Frees everything (on_attendee_removed_cb for each attendee; no events: the process is
 * going away, nobody is left to read them). */
void sfu_session_free(sfu_session_t *s);

/* SFU_EEXIST if the id is taken here, SFU_EINVAL on bad params. Emits MeetingStarted. */
int sfu_session_create_meeting(sfu_session_t *s, const sfu_meeting_params_t *p, uint64_t now_us,
                               sfu_meeting_t **out, char *err, size_t errlen);
sfu_meeting_t *sfu_session_find_meeting(const sfu_session_t *s, const char *id);
/* Ends a meeting: AttendeeDeleted for each attendee, then MeetingEnded(reason). */
int sfu_session_delete_meeting(sfu_session_t *s, const char *id, sfu_end_reason_t reason,
                               uint64_t now_us, char *err, size_t errlen);

/* SFU_ENOENT (no meeting), SFU_EINVAL (bad id/caps), SFU_ELIMIT (MaxCount reached).
 * caps NULL = all SendReceive. Emits AttendeeAdded. */
int sfu_session_create_attendee(sfu_session_t *s, const char *meeting_id, const char *ext_user_id,
                                const sfu_caps_t *caps, uint64_t now_us, sfu_attendee_t **out,
                                char *err, size_t errlen);
/* A content share of owner_id (CreateAttendee's ContentShareOf): its AttendeeId is
 * "<owner_id>#content"; ext_user_id NULL or "" means the owner's ExternalUserId +
 * "#content", a given one must end with "#content". SFU_ENOENT (no meeting, no owner),
 * SFU_EINVAL (owner is itself a content share; bad ExternalUserId/caps), SFU_EEXIST
 * (the owner already has one), SFU_ELIMIT (SFU_MAX_CONTENT_SHARES in the meeting).
 * Does not count toward MaxCount. Emits AttendeeAdded. */
int sfu_session_create_content_attendee(sfu_session_t *s, const char *meeting_id,
                                        const char *owner_id, const char *ext_user_id,
                                        const sfu_caps_t *caps, uint64_t now_us,
                                        sfu_attendee_t **out, char *err, size_t errlen);
sfu_attendee_t *sfu_meeting_find_attendee(const sfu_meeting_t *m, const char *attendee_id);
/* Revokes the join token at once. Emits AttendeeDeleted; deleting an owner deletes its
 * content attendee first (AttendeeDeleted for it, then for the owner), like Chime. */
int sfu_session_delete_attendee(sfu_session_t *s, const char *meeting_id, const char *attendee_id,
                                uint64_t now_us, char *err, size_t errlen);
int sfu_session_update_caps(sfu_session_t *s, const char *meeting_id, const char *attendee_id,
                            const sfu_caps_t *caps, uint64_t now_us, sfu_attendee_t **out,
                            char *err, size_t errlen);
/* Authenticates a media connection: SFU_ENOENT (meeting or attendee), SFU_EPERM (token
 * does not match; compared in constant time). */
int sfu_session_check_token(const sfu_session_t *s, const char *meeting_id, const char *attendee_id,
                            const char *token, size_t token_len, sfu_attendee_t **out, char *err,
                            size_t errlen);
/* Issue 3 calls this when an attendee's transport comes up or goes away; a meeting is
 * idle while none of its attendees is connected. */
void sfu_session_set_connected(sfu_session_t *s, sfu_attendee_t *a, int connected, uint64_t now_us);

/* Ends meetings past their max duration, and non-replica meetings idle for the idle
 * timeout, at most SFU_SESSION_END_BATCH per call: meetings created in one burst fall
 * due in one burst, and ending 20,000 at once held the loop (and, through their events,
 * the control thread) for ~100 ms. Whatever is left stays due (next_deadline() <= now),
 * so the owner calls again after serving its other work. O(1) when nothing is due;
 * O(meetings) when something is. */
#define SFU_SESSION_END_BATCH 256
void sfu_session_handle_timeout(sfu_session_t *s, uint64_t now_us);
/* The earliest time handle_timeout has something to do; UINT64_MAX if none. Cached and
 * kept exact as meetings and attendees change: O(1) unless, since the last call, the
 * meeting that held the minimum ended or its deadline moved later (then O(meetings)
 * once). */
uint64_t sfu_session_next_deadline(sfu_session_t *s);

/* Iteration in creation order; NULL at the end. */
sfu_meeting_t *sfu_session_first_meeting(const sfu_session_t *s);
sfu_meeting_t *sfu_session_next_meeting(const sfu_session_t *s, const sfu_meeting_t *m);
sfu_attendee_t *sfu_meeting_first_attendee(const sfu_meeting_t *m);
sfu_attendee_t *sfu_meeting_next_attendee(const sfu_meeting_t *m, const sfu_attendee_t *a);
size_t sfu_session_meeting_count(const sfu_session_t *s);
size_t sfu_session_attendee_count(const sfu_session_t *s);

#endif
