/* The meeting model of one loop: meetings, attendees, join tokens, quotas, lifecycle
 * timers, events. See include/sfu/session.h for the contract. */
#include "sfu/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sfu/err.h"
#include "sfu/ids.h"
#include "sfu/router.h"

/* Owned by the media loop that created it; freed by sfu_session_free on that thread. */
struct sfu_session {
  sfu_session_config_t cfg;
  sfu_session_cbs_t cbs;
  sfu_hmap_t meetings;     /* id -> sfu_meeting_t */
  sfu_list_t meeting_list; /* creation order */
  size_t attendee_count;   /* over all meetings */
  /* The earliest meeting deadline. Kept exact in O(1) as meetings start, end and change
   * (deadline_moved); recomputed (O(meetings)) only after the meeting that held it ended
   * or moved later. The loop asks for it on every timer re-arm, and transport timers
   * re-arm far more often than meetings start, end or (dis)connect. */
  uint64_t deadline;
  int deadline_stale;
};

static uint64_t meeting_deadline(const sfu_session_t *s, const sfu_meeting_t *m,
                                 sfu_end_reason_t *why);

/* One meeting's deadline went from old_d to new_d (UINT64_MAX: the meeting did not
 * exist / is gone). Keeps the cached minimum exact without walking the meetings unless
 * the meeting that held it moved later: creating or ending meetings one after another
 * would otherwise cost O(meetings) each, O(n^2) for a loop filling up or emptying. */
static void deadline_moved(sfu_session_t *s, uint64_t old_d, uint64_t new_d) {
  if (s->deadline_stale) return;
  if (new_d <= s->deadline)
    s->deadline = new_d;
  else if (old_d == s->deadline)
    s->deadline_stale = 1; /* it may have been the only one at the minimum */
}

static uint64_t deadline_of(const sfu_session_t *s, const sfu_meeting_t *m) {
  sfu_end_reason_t why;
  return meeting_deadline(s, m, &why);
}

static void set_err(char *err, size_t errlen, const char *fmt, const char *arg) {
  if (err && errlen) snprintf(err, errlen, fmt, arg);
}

/* ---- events ---- */

static void event_init(sfu_event_t *ev, sfu_event_type_t type, const sfu_meeting_t *m,
                       uint64_t now_us) {
  memset(ev, 0, sizeof *ev);
  ev->type = type;
  ev->timestamp_us = now_us;
  memcpy(ev->meeting_id, m->id, sizeof ev->meeting_id);
  memcpy(ev->external_meeting_id, m->external_id, sizeof ev->external_meeting_id);
  memcpy(ev->primary_meeting_id, m->primary_id, sizeof ev->primary_meeting_id);
}

static void emit_meeting(sfu_session_t *s, sfu_event_type_t type, const sfu_meeting_t *m,
                         sfu_end_reason_t reason, uint64_t now_us) {
  if (!s->cbs.on_event_cb) return;
  sfu_event_t ev;
  event_init(&ev, type, m, now_us);
  ev.reason = reason;
  s->cbs.on_event_cb(s->cbs.user, &ev);
}

static void emit_attendee(sfu_session_t *s, sfu_event_type_t type, const sfu_attendee_t *a,
                          uint64_t now_us) {
  if (!s->cbs.on_event_cb) return;
  sfu_event_t ev;
  event_init(&ev, type, a->meeting, now_us);
  memcpy(ev.attendee_id, a->id, sizeof ev.attendee_id);
  memcpy(ev.external_user_id, a->external_user_id, sizeof ev.external_user_id);
  ev.caps = a->caps;
  s->cbs.on_event_cb(s->cbs.user, &ev);
}

/* ---- session ---- */

sfu_session_t *sfu_session_new(const sfu_session_config_t *cfg, const sfu_session_cbs_t *cbs) {
  sfu_session_t *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->cfg = *cfg;
  if (cbs) s->cbs = *cbs;
  if (sfu_hmap_init(&s->meetings, 16) != 0) {
    free(s);
    return NULL;
  }
  sfu_list_init(&s->meeting_list);
  s->deadline = UINT64_MAX; /* no meeting, nothing due */
  return s;
}

static void attendee_free(sfu_session_t *s, sfu_attendee_t *a) {
  if (s->cbs.on_attendee_removed_cb) s->cbs.on_attendee_removed_cb(s->cbs.user, a);
  /* Wipe the token so that a dangling copy of the pointer cannot authenticate. */
  memset(a->join_token, 0, sizeof a->join_token);
  free(a);
}

static void meeting_free(sfu_session_t *s, sfu_meeting_t *m) {
  sfu_list_t *it, *tmp;
  sfu_list_foreach_safe(it, tmp, &m->attendee_list) {
    sfu_attendee_t *a = sfu_container_of(it, sfu_attendee_t, link);
    sfu_list_remove(&a->link);
    attendee_free(s, a);
  }
  s->attendee_count -= m->attendee_count;
  if (s->cbs.on_meeting_removed_cb) s->cbs.on_meeting_removed_cb(s->cbs.user, m);
  sfu_hmap_free(&m->attendees);
  free(m);
}

void sfu_session_free(sfu_session_t *s) {
  if (!s) return;
  sfu_list_t *it, *tmp;
  sfu_list_foreach_safe(it, tmp, &s->meeting_list) {
    sfu_meeting_t *m = sfu_container_of(it, sfu_meeting_t, link);
    sfu_list_remove(&m->link);
    meeting_free(s, m);
  }
  sfu_hmap_free(&s->meetings);
  free(s);
}

sfu_meeting_t *sfu_session_find_meeting(const sfu_session_t *s, const char *id) {
  if (!id) return NULL;
  uint64_t h = sfu_hash_str(id);
  for (sfu_hnode_t *n = sfu_hmap_first(&s->meetings, h); n; n = sfu_hmap_next(n, h)) {
    sfu_meeting_t *m = sfu_container_of(n, sfu_meeting_t, node);
    if (strcmp(m->id, id) == 0) return m;
  }
  return NULL;
}

sfu_attendee_t *sfu_meeting_find_attendee(const sfu_meeting_t *m, const char *id) {
  if (!m || !id) return NULL;
  uint64_t h = sfu_hash_str(id);
  for (sfu_hnode_t *n = sfu_hmap_first(&m->attendees, h); n; n = sfu_hmap_next(n, h)) {
    sfu_attendee_t *a = sfu_container_of(n, sfu_attendee_t, node);
    if (strcmp(a->id, id) == 0) return a;
  }
  return NULL;
}

static sfu_meeting_t *find_or_err(const sfu_session_t *s, const char *id, char *err,
                                  size_t errlen) {
  sfu_meeting_t *m = sfu_session_find_meeting(s, id);
  if (!m) set_err(err, errlen, "MeetingId: no such meeting '%s'", id ? id : "");
  return m;
}

int sfu_session_create_meeting(sfu_session_t *s, const sfu_meeting_params_t *p, uint64_t now_us,
                               sfu_meeting_t **out, char *err, size_t errlen) {
  if (!p->meeting_id || !sfu_uuid_valid(p->meeting_id)) {
    set_err(err, errlen, "MeetingId: must be a UUID%s", "");
    return SFU_EINVAL;
  }
  int rc = sfu_validate_external_id("ExternalMeetingId", p->external_id,
                                    p->external_id ? strlen(p->external_id) : 0, err, errlen);
  if (rc) return rc;
  int replica = p->primary_id && p->primary_id[0];
  if (replica && !sfu_uuid_valid(p->primary_id)) {
    set_err(err, errlen, "PrimaryMeetingId: must be a UUID%s", "");
    return SFU_EINVAL;
  }
  sfu_features_t f = p->features;
  if ((rc = sfu_features_resolve(&f, err, errlen)) != 0) return rc;
  if (sfu_session_find_meeting(s, p->meeting_id)) {
    set_err(err, errlen, "MeetingId: meeting '%s' already exists", p->meeting_id);
    return SFU_EEXIST;
  }
  sfu_meeting_t *m = calloc(1, sizeof *m);
  if (!m || sfu_hmap_init(&m->attendees, 8) != 0) {
    free(m);
    set_err(err, errlen, "out of memory%s", "");
    return SFU_ENOMEM;
  }
  snprintf(m->id, sizeof m->id, "%s", p->meeting_id);
  snprintf(m->external_id, sizeof m->external_id, "%s", p->external_id);
  if (replica) snprintf(m->primary_id, sizeof m->primary_id, "%s", p->primary_id);
  m->features = f;
  m->created_at_us = m->last_active_us = now_us;
  sfu_list_init(&m->attendee_list);
  sfu_hmap_insert(&s->meetings, &m->node, sfu_hash_str(m->id)); /* ENOMEM on grow is benign */
  sfu_list_insert_tail(&s->meeting_list, &m->link);
  deadline_moved(s, UINT64_MAX, deadline_of(s, m));
  emit_meeting(s, SFU_EV_MEETING_STARTED, m, SFU_END_DELETED, now_us);
  if (out) *out = m;
  return 0;
}

static void remove_attendee(sfu_session_t *s, sfu_attendee_t *a, uint64_t now_us) {
  sfu_meeting_t *m = a->meeting;
  /* Chime: the owner's content share goes with it, and goes first, so that nothing
   * refers to the owner when its AttendeeDeleted is emitted. */
  if (a->content_share) remove_attendee(s, a->content_share, now_us);
  if (a->content_owner) {
    a->content_owner->content_share = NULL;
    m->content_count--;
  }
  sfu_hmap_remove(&m->attendees, &a->node);
  sfu_list_remove(&a->link);
  m->attendee_count--;
  s->attendee_count--;
  if (a->connected) {
    uint64_t old_d = deadline_of(s, m);
    m->connected_count--;
    if (m->connected_count == 0) m->last_active_us = now_us;
    deadline_moved(s, old_d, deadline_of(s, m));
  }
  emit_attendee(s, SFU_EV_ATTENDEE_DELETED, a, now_us);
  attendee_free(s, a);
}

/* Order required by the contract: every AttendeeDeleted before MeetingEnded. */
static void end_meeting(sfu_session_t *s, sfu_meeting_t *m, sfu_end_reason_t reason,
                        uint64_t now_us) {
  /* Not foreach_safe: removing an owner also removes its content share, which may be
   * the saved next node. */
  while (!sfu_list_empty(&m->attendee_list))
    remove_attendee(s, sfu_meeting_first_attendee(m), now_us);
  deadline_moved(s, deadline_of(s, m), UINT64_MAX);
  sfu_hmap_remove(&s->meetings, &m->node);
  sfu_list_remove(&m->link);
  emit_meeting(s, SFU_EV_MEETING_ENDED, m, reason, now_us);
  meeting_free(s, m);
}

int sfu_session_delete_meeting(sfu_session_t *s, const char *id, sfu_end_reason_t reason,
                               uint64_t now_us, char *err, size_t errlen) {
  sfu_meeting_t *m = find_or_err(s, id, err, errlen);
  if (!m) return SFU_ENOENT;
  end_meeting(s, m, reason, now_us);
  return 0;
}

/* Links a new attendee into m. id NULL: a fresh UUID. ext_user_id and caps validated. */
static int attendee_add(sfu_session_t *s, sfu_meeting_t *m, const char *id, const char *ext_user_id,
                        const sfu_caps_t *c, uint64_t now_us, sfu_attendee_t **out, char *err,
                        size_t errlen) {
  sfu_attendee_t *a = calloc(1, sizeof *a);
  if (!a) {
    set_err(err, errlen, "out of memory%s", "");
    return SFU_ENOMEM;
  }
  int rc = 0;
  if (id)
    snprintf(a->id, sizeof a->id, "%s", id);
  else
    rc = sfu_uuid_v4(a->id);
  if (rc != 0 || sfu_token_new(a->join_token) != 0) {
    free(a);
    set_err(err, errlen, "random source failed%s", "");
    return SFU_EINTERNAL;
  }
  snprintf(a->external_user_id, sizeof a->external_user_id, "%s", ext_user_id);
  a->caps = *c;
  a->meeting = m;
  a->seq = m->next_seq++;
  sfu_hmap_insert(&m->attendees, &a->node, sfu_hash_str(a->id));
  sfu_list_insert_tail(&m->attendee_list, &a->link);
  m->attendee_count++;
  s->attendee_count++;
  uint64_t old_d = deadline_of(s, m);
  m->last_active_us = now_us;
  deadline_moved(s, old_d, deadline_of(s, m));
  *out = a;
  return 0;
}

static int caps_or_default(const sfu_caps_t *caps, sfu_caps_t *c, char *err, size_t errlen) {
  if (caps)
    *c = *caps;
  else
    sfu_caps_default(c);
  return sfu_validate_caps(c, err, errlen);
}

int sfu_session_create_attendee(sfu_session_t *s, const char *meeting_id, const char *ext_user_id,
                                const sfu_caps_t *caps, uint64_t now_us, sfu_attendee_t **out,
                                char *err, size_t errlen) {
  sfu_meeting_t *m = find_or_err(s, meeting_id, err, errlen);
  if (!m) return SFU_ENOENT;
  int rc = sfu_validate_external_id("ExternalUserId", ext_user_id,
                                    ext_user_id ? strlen(ext_user_id) : 0, err, errlen);
  if (rc) return rc;
  sfu_caps_t c;
  if ((rc = caps_or_default(caps, &c, err, errlen)) != 0) return rc;
  /* Content shares have their own limit (SFU_MAX_CONTENT_SHARES), so that a full meeting
   * can still present. */
  if (m->attendee_count - m->content_count >= (size_t)m->features.max_count) {
    if (err && errlen)
      snprintf(err, errlen, "Attendees: meeting '%s' already has its maximum of %d attendees",
               m->id, m->features.max_count);
    return SFU_ELIMIT;
  }
  sfu_attendee_t *a;
  if ((rc = attendee_add(s, m, NULL, ext_user_id, &c, now_us, &a, err, errlen)) != 0) return rc;
  emit_attendee(s, SFU_EV_ATTENDEE_ADDED, a, now_us);
  if (out) *out = a;
  return 0;
}

_Static_assert(SFU_MAX_CONTENT_SHARES == SFU_ROUTER_MAX_CONTENT,
               "the session admits as many content attendees as the router has content streams");
_Static_assert(sizeof SFU_CONTENT_SUFFIX - 1 == SFU_CONTENT_SUFFIX_LEN, "suffix length");

/* The content attendee's ExternalUserId: the given one (ending in "#content"), or the
 * owner's + "#content" (what the Chime SDK gives a content share). */
static int content_ext_id(const sfu_attendee_t *owner, const char *given, char *out, size_t outlen,
                          char *err, size_t errlen) {
  if (given && given[0]) {
    int rc = sfu_validate_external_id("ExternalUserId", given, strlen(given), err, errlen);
    if (rc) return rc;
    size_t n = strlen(given);
    if (n <= SFU_CONTENT_SUFFIX_LEN ||
        strcmp(given + n - SFU_CONTENT_SUFFIX_LEN, SFU_CONTENT_SUFFIX) != 0) {
      set_err(err, errlen, "ExternalUserId: a content share's must end with \"%s\"",
              SFU_CONTENT_SUFFIX);
      return SFU_EINVAL;
    }
    snprintf(out, outlen, "%s", given);
    return 0;
  }
  size_t n = strlen(owner->external_user_id);
  int fits = n + sizeof SFU_CONTENT_SUFFIX <= outlen;
  if (fits) {
    memcpy(out, owner->external_user_id, n);
    memcpy(out + n, SFU_CONTENT_SUFFIX, sizeof SFU_CONTENT_SUFFIX);
  }
  if (!fits || sfu_validate_external_id("ExternalUserId", out, strlen(out), err, errlen) != 0) {
    if (err && errlen)
      snprintf(err, errlen,
               "ExternalUserId: the owner's ExternalUserId + \"%s\" is longer than %d "
               "characters; give an ExternalUserId ending in \"%s\"",
               SFU_CONTENT_SUFFIX, SFU_EXT_ID_MAX_CHARS, SFU_CONTENT_SUFFIX);
    return SFU_EINVAL;
  }
  return 0;
}

int sfu_session_create_content_attendee(sfu_session_t *s, const char *meeting_id,
                                        const char *owner_id, const char *ext_user_id,
                                        const sfu_caps_t *caps, uint64_t now_us,
                                        sfu_attendee_t **out, char *err, size_t errlen) {
  sfu_meeting_t *m = find_or_err(s, meeting_id, err, errlen);
  if (!m) return SFU_ENOENT;
  sfu_attendee_t *owner = sfu_meeting_find_attendee(m, owner_id);
  if (!owner) {
    set_err(err, errlen, "ContentShareOf: no such attendee '%s'", owner_id ? owner_id : "");
    return SFU_ENOENT;
  }
  if (owner->content_owner || strlen(owner->id) != SFU_UUID_LEN) {
    set_err(err, errlen, "ContentShareOf: '%s' is itself a content share", owner->id);
    return SFU_EINVAL;
  }
  char ext[SFU_EXT_ID_BUF];
  int rc = content_ext_id(owner, ext_user_id, ext, sizeof ext, err, errlen);
  if (rc) return rc;
  sfu_caps_t c;
  if ((rc = caps_or_default(caps, &c, err, errlen)) != 0) return rc;
  if (owner->content_share) {
    set_err(err, errlen, "ContentShareOf: attendee already has a content share '%s'",
            owner->content_share->id);
    return SFU_EEXIST;
  }
  if (m->content_count >= SFU_MAX_CONTENT_SHARES) {
    if (err && errlen)
      snprintf(err, errlen,
               "ContentShareOf: meeting '%s' already has its maximum of %d content shares", m->id,
               SFU_MAX_CONTENT_SHARES);
    return SFU_ELIMIT;
  }
  char id[SFU_ATTENDEE_ID_LEN + 1];
  memcpy(id, owner->id, SFU_UUID_LEN);
  memcpy(id + SFU_UUID_LEN, SFU_CONTENT_SUFFIX, sizeof SFU_CONTENT_SUFFIX);
  sfu_attendee_t *a;
  if ((rc = attendee_add(s, m, id, ext, &c, now_us, &a, err, errlen)) != 0) return rc;
  a->content_owner = owner;
  owner->content_share = a;
  m->content_count++;
  emit_attendee(s, SFU_EV_ATTENDEE_ADDED, a, now_us);
  if (out) *out = a;
  return 0;
}

static sfu_attendee_t *find_attendee_or_err(const sfu_session_t *s, const char *meeting_id,
                                            const char *attendee_id, char *err, size_t errlen) {
  sfu_meeting_t *m = find_or_err(s, meeting_id, err, errlen);
  if (!m) return NULL;
  sfu_attendee_t *a = sfu_meeting_find_attendee(m, attendee_id);
  if (!a) set_err(err, errlen, "AttendeeId: no such attendee '%s'", attendee_id ? attendee_id : "");
  return a;
}

int sfu_session_delete_attendee(sfu_session_t *s, const char *meeting_id, const char *attendee_id,
                                uint64_t now_us, char *err, size_t errlen) {
  sfu_attendee_t *a = find_attendee_or_err(s, meeting_id, attendee_id, err, errlen);
  if (!a) return SFU_ENOENT;
  remove_attendee(s, a, now_us);
  return 0;
}

int sfu_session_update_caps(sfu_session_t *s, const char *meeting_id, const char *attendee_id,
                            const sfu_caps_t *caps, uint64_t now_us, sfu_attendee_t **out,
                            char *err, size_t errlen) {
  sfu_attendee_t *a = find_attendee_or_err(s, meeting_id, attendee_id, err, errlen);
  if (!a) return SFU_ENOENT;
  int rc = sfu_validate_caps(caps, err, errlen);
  if (rc) return rc;
  a->caps = *caps;
  emit_attendee(s, SFU_EV_ATTENDEE_CAPS_UPDATED, a, now_us);
  if (out) *out = a;
  return 0;
}

int sfu_session_check_token(const sfu_session_t *s, const char *meeting_id, const char *attendee_id,
                            const char *token, size_t token_len, sfu_attendee_t **out, char *err,
                            size_t errlen) {
  sfu_meeting_t *m = find_or_err(s, meeting_id, err, errlen);
  if (!m) return SFU_ENOENT;
  sfu_attendee_t *a = sfu_meeting_find_attendee(m, attendee_id);
  if (!a) {
    /* A deleted attendee's token is refused as Forbidden, like any token that does not
     * open this door (issue 3); and an unknown AttendeeId reveals nothing more. */
    set_err(err, errlen, "JoinToken: not valid for attendee '%s' (no such attendee, or deleted)",
            attendee_id ? attendee_id : "");
    return SFU_EPERM;
  }
  /* Constant time in the secret's length: a wrong guess learns nothing from timing. */
  if (!token || !sfu_ct_equal(token, token_len, a->join_token, strlen(a->join_token))) {
    set_err(err, errlen, "JoinToken: does not match attendee '%s'", a->id);
    return SFU_EPERM;
  }
  if (out) *out = a;
  return 0;
}

void sfu_session_set_connected(sfu_session_t *s, sfu_attendee_t *a, int connected,
                               uint64_t now_us) {
  connected = !!connected;
  if (a->connected == connected) return;
  a->connected = connected;
  sfu_meeting_t *m = a->meeting;
  uint64_t old_d = deadline_of(s, m);
  if (connected)
    m->connected_count++;
  else
    m->connected_count--;
  /* The idle clock restarts when the last attendee leaves (and while anyone is
   * connected the meeting is not idle at all). */
  m->last_active_us = now_us;
  deadline_moved(s, old_d, deadline_of(s, m));
}

/* ---- timers ---- */

/* When meeting m must end, and why; UINT64_MAX if never (cannot happen: max duration). */
static uint64_t meeting_deadline(const sfu_session_t *s, const sfu_meeting_t *m,
                                 sfu_end_reason_t *why) {
  uint64_t d = m->created_at_us + s->cfg.max_duration_us;
  if (d < m->created_at_us) d = UINT64_MAX; /* overflow: never */
  *why = SFU_END_MAX_DURATION;
  /* requirements.md: idle end applies to "no attendee connected (not replicas)". */
  if (!m->primary_id[0] && m->connected_count == 0) {
    uint64_t i = m->last_active_us + s->cfg.idle_timeout_us;
    if (i < m->last_active_us) i = UINT64_MAX;
    if (i < d) {
      d = i;
      *why = SFU_END_IDLE_TIMEOUT;
    }
  }
  return d;
}

void sfu_session_handle_timeout(sfu_session_t *s, uint64_t now_us) {
  if (sfu_session_next_deadline(s) > now_us) return; /* nothing due: O(1) */
  size_t ended = 0;
  sfu_list_t *it, *tmp;
  sfu_list_foreach_safe(it, tmp, &s->meeting_list) {
    sfu_meeting_t *m = sfu_container_of(it, sfu_meeting_t, link);
    sfu_end_reason_t why;
    uint64_t d = meeting_deadline(s, m, &why);
    if (d > now_us) continue;
    /* If both have passed, the max duration is the one that came first or equal. */
    end_meeting(s, m, why, now_us);
    if (++ended == SFU_SESSION_END_BATCH) break; /* the rest stay due */
  }
}

uint64_t sfu_session_next_deadline(sfu_session_t *s) {
  if (!s->deadline_stale) return s->deadline;
  uint64_t best = UINT64_MAX;
  sfu_list_t *it;
  sfu_list_foreach(it, &s->meeting_list) {
    sfu_end_reason_t why;
    uint64_t d = meeting_deadline(s, sfu_container_of(it, sfu_meeting_t, link), &why);
    if (d < best) best = d;
  }
  s->deadline = best;
  s->deadline_stale = 0;
  return best;
}

/* ---- iteration ---- */

sfu_meeting_t *sfu_session_first_meeting(const sfu_session_t *s) {
  return sfu_list_empty(&s->meeting_list)
             ? NULL
             : sfu_container_of(s->meeting_list.next, sfu_meeting_t, link);
}

sfu_meeting_t *sfu_session_next_meeting(const sfu_session_t *s, const sfu_meeting_t *m) {
  return m->link.next == &s->meeting_list ? NULL
                                          : sfu_container_of(m->link.next, sfu_meeting_t, link);
}

sfu_attendee_t *sfu_meeting_first_attendee(const sfu_meeting_t *m) {
  return sfu_list_empty(&m->attendee_list)
             ? NULL
             : sfu_container_of(m->attendee_list.next, sfu_attendee_t, link);
}

sfu_attendee_t *sfu_meeting_next_attendee(const sfu_meeting_t *m, const sfu_attendee_t *a) {
  return a->link.next == &m->attendee_list ? NULL
                                           : sfu_container_of(a->link.next, sfu_attendee_t, link);
}

size_t sfu_session_meeting_count(const sfu_session_t *s) { return s->meetings.count; }
size_t sfu_session_attendee_count(const sfu_session_t *s) { return s->attendee_count; }
