/* Unit tests for src/session: the meeting model, validation, quotas, token revocation,
 * events and their order, and the lifecycle timers driven by an injected clock. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sfu/err.h"
#include "sfu/ids.h"
#include "sfu/session.h"
#include "test.h"

#define SEC 1000000ull

/* Records every event and every removed attendee. */
typedef struct {
  sfu_event_t ev[1024];
  int n;
  int removed;
  void *last_transport;
} rec_t;

static void on_event(void *user, const sfu_event_t *ev) {
  rec_t *r = user;
  if (r->n < 1024) r->ev[r->n] = *ev;
  r->n++;
}

static void on_removed(void *user, sfu_attendee_t *a) {
  rec_t *r = user;
  r->removed++;
  r->last_transport = a->transport;
}

static sfu_session_t *new_session(rec_t *r, uint64_t idle_s, uint64_t max_s) {
  memset(r, 0, sizeof *r);
  sfu_session_config_t cfg = {idle_s * SEC, max_s * SEC};
  sfu_session_cbs_t cbs = {on_event, on_removed, r, NULL};
  return sfu_session_new(&cfg, &cbs);
}

/* Creates a meeting with a fresh id; returns it (NULL on failure). */
static sfu_meeting_t *meeting(sfu_session_t *s, const char *ext, const char *primary,
                              uint64_t now) {
  char id[SFU_UUID_LEN + 1], err[256];
  sfu_uuid_v4(id);
  sfu_meeting_params_t p = {id, ext, primary, {.video = SFU_RES_HD, .content = SFU_RES_FHD, .max_count = 0}};
  sfu_meeting_t *m = NULL;
  return sfu_session_create_meeting(s, &p, now, &m, err, sizeof err) == 0 ? m : NULL;
}

static sfu_attendee_t *attendee(sfu_session_t *s, sfu_meeting_t *m, const char *ext, uint64_t now) {
  char err[256];
  sfu_attendee_t *a = NULL;
  return sfu_session_create_attendee(s, m->id, ext, NULL, now, &a, err, sizeof err) == 0 ? a : NULL;
}

TEST(validate_external_id) {
  char err[256];
  CHECK_EQ_INT(sfu_validate_external_id("ExternalUserId", "ab", 2, err, sizeof err), 0);
  CHECK_EQ_INT(sfu_validate_external_id("ExternalUserId", "a", 1, err, sizeof err), SFU_EINVAL);
  CHECK(strstr(err, "ExternalUserId:") == err);
  CHECK_EQ_INT(sfu_validate_external_id("X", "", 0, err, sizeof err), SFU_EINVAL);
  char s[80];
  memset(s, 'a', sizeof s);
  CHECK_EQ_INT(sfu_validate_external_id("X", s, 64, err, sizeof err), 0);
  CHECK_EQ_INT(sfu_validate_external_id("X", s, 65, err, sizeof err), SFU_EINVAL);
  /* 64 two-byte characters are 64 characters, not 128. */
  char u[129];
  for (int i = 0; i < 64; i++) memcpy(u + 2 * i, "\xc3\xa9", 2);
  CHECK_EQ_INT(sfu_validate_external_id("X", u, 128, err, sizeof err), 0);
  CHECK_EQ_INT(sfu_validate_external_id("X", "a\x01", 2, err, sizeof err), SFU_EINVAL);
  CHECK_EQ_INT(sfu_validate_external_id("X", "a\xff", 2, err, sizeof err), SFU_EINVAL);
  CHECK_EQ_INT(sfu_validate_external_id("X", "a\xc3", 2, err, sizeof err), SFU_EINVAL);
  CHECK_EQ_INT(sfu_validate_external_id("X", "a\xc0\xaf", 3, err, sizeof err), SFU_EINVAL);
  CHECK_EQ_INT(sfu_validate_external_id("X", "a\xed\xa0\x80", 4, err, sizeof err), SFU_EINVAL);
}

TEST(validate_caps_chime_rule) {
  char err[256];
  sfu_caps_t c;
  sfu_caps_default(&c);
  CHECK_EQ_INT(sfu_validate_caps(&c, err, sizeof err), 0);
  c.video = SFU_CAP_SEND;
  CHECK_EQ_INT(sfu_validate_caps(&c, err, sizeof err), SFU_EINVAL);
  CHECK(strstr(err, "Capabilities.Content") != NULL);
  c.content = SFU_CAP_SEND;
  CHECK_EQ_INT(sfu_validate_caps(&c, err, sizeof err), 0);
  c.video = SFU_CAP_NONE;
  c.content = SFU_CAP_RECEIVE;
  CHECK_EQ_INT(sfu_validate_caps(&c, err, sizeof err), SFU_EINVAL);
  c.video = SFU_CAP_RECEIVE;
  CHECK_EQ_INT(sfu_validate_caps(&c, err, sizeof err), 0);
  CHECK_EQ_INT(sfu_cap_parse("Receive"), SFU_CAP_RECEIVE);
  CHECK_EQ_INT(sfu_cap_parse("receive"), -1);
}

TEST(features_defaults_and_hd_limit) {
  char err[256];
  sfu_features_t f = {.video = SFU_RES_HD, .content = SFU_RES_FHD, .max_count = 0};
  CHECK_EQ_INT(sfu_features_resolve(&f, err, sizeof err), 0);
  CHECK_EQ_INT(f.max_count, 250);
  sfu_features_t hd = {.video = SFU_RES_FHD, .content = SFU_RES_FHD, .max_count = 0};
  CHECK_EQ_INT(sfu_features_resolve(&hd, err, sizeof err), 0);
  CHECK_EQ_INT(hd.max_count, 25);
  sfu_features_t uhd = {.video = SFU_RES_HD, .content = SFU_RES_UHD, .max_count = 26};
  CHECK_EQ_INT(sfu_features_resolve(&uhd, err, sizeof err), SFU_EINVAL);
  CHECK(strstr(err, "MeetingFeatures.Attendee.MaxCount") != NULL);
  sfu_features_t big = {.video = SFU_RES_HD, .content = SFU_RES_FHD, .max_count = 251};
  CHECK_EQ_INT(sfu_features_resolve(&big, err, sizeof err), SFU_EINVAL);
  sfu_features_t badv = {.video = SFU_RES_UHD, .content = SFU_RES_FHD, .max_count = 0};
  CHECK_EQ_INT(sfu_features_resolve(&badv, err, sizeof err), SFU_EINVAL);
  sfu_features_t badc = {.video = SFU_RES_HD, .content = SFU_RES_HD, .max_count = 0};
  CHECK_EQ_INT(sfu_features_resolve(&badc, err, sizeof err), SFU_EINVAL);
}

TEST(create_find_delete_meeting_events_in_order) {
  rec_t r;
  sfu_session_t *s = new_session(&r, 300, 86400);
  REQUIRE(s);
  sfu_meeting_t *m = meeting(s, "standup", NULL, 10);
  REQUIRE(m);
  CHECK_EQ_INT(m->features.max_count, 250);
  CHECK(sfu_session_find_meeting(s, m->id) == m);
  char id[SFU_UUID_LEN + 1];
  memcpy(id, m->id, sizeof id);
  sfu_attendee_t *a = attendee(s, m, "alice", 11);
  sfu_attendee_t *b = attendee(s, m, "bob", 12);
  REQUIRE(a && b);
  CHECK(strcmp(a->id, b->id) != 0);
  CHECK(sfu_uuid_valid(a->id));
  CHECK_EQ_INT(strlen(a->join_token), SFU_TOKEN_LEN);
  CHECK(strcmp(a->join_token, b->join_token) != 0);
  CHECK_EQ_INT(sfu_session_attendee_count(s), 2);
  char err[256];
  CHECK_EQ_INT(sfu_session_delete_meeting(s, id, SFU_END_DELETED, 20, err, sizeof err), 0);
  CHECK(sfu_session_find_meeting(s, id) == NULL);
  CHECK_EQ_INT(sfu_session_meeting_count(s), 0);
  CHECK_EQ_INT(sfu_session_attendee_count(s), 0);
  CHECK_EQ_INT(r.removed, 2);
  /* Started, Added x2, Deleted x2, Ended: attendee events between start and end. */
  REQUIRE(r.n == 6);
  CHECK_EQ_INT(r.ev[0].type, SFU_EV_MEETING_STARTED);
  CHECK_EQ_STR(r.ev[0].external_meeting_id, "standup");
  CHECK_EQ_INT(r.ev[1].type, SFU_EV_ATTENDEE_ADDED);
  CHECK_EQ_STR(r.ev[1].external_user_id, "alice");
  CHECK_EQ_INT(r.ev[2].type, SFU_EV_ATTENDEE_ADDED);
  CHECK_EQ_INT(r.ev[3].type, SFU_EV_ATTENDEE_DELETED);
  CHECK_EQ_INT(r.ev[4].type, SFU_EV_ATTENDEE_DELETED);
  CHECK_EQ_INT(r.ev[5].type, SFU_EV_MEETING_ENDED);
  CHECK_EQ_INT(r.ev[5].reason, SFU_END_DELETED);
  CHECK_EQ_STR(r.ev[5].meeting_id, id);
  CHECK_EQ_INT(r.ev[5].timestamp_us, 20);
  CHECK_EQ_INT(sfu_session_delete_meeting(s, id, SFU_END_DELETED, 21, err, sizeof err), SFU_ENOENT);
  CHECK(strstr(err, "MeetingId:") == err);
  sfu_session_free(s);
}

TEST(duplicate_and_invalid_meeting) {
  rec_t r;
  sfu_session_t *s = new_session(&r, 300, 86400);
  char err[256];
  sfu_meeting_t *m = meeting(s, "one", NULL, 0);
  REQUIRE(m);
  sfu_meeting_params_t p = {m->id, "two", NULL, {.video = SFU_RES_HD, .content = SFU_RES_FHD, .max_count = 0}};
  CHECK_EQ_INT(sfu_session_create_meeting(s, &p, 0, NULL, err, sizeof err), SFU_EEXIST);
  p.meeting_id = "not-a-uuid";
  CHECK_EQ_INT(sfu_session_create_meeting(s, &p, 0, NULL, err, sizeof err), SFU_EINVAL);
  char id[SFU_UUID_LEN + 1];
  sfu_uuid_v4(id);
  p.meeting_id = id;
  p.external_id = "x";
  CHECK_EQ_INT(sfu_session_create_meeting(s, &p, 0, NULL, err, sizeof err), SFU_EINVAL);
  CHECK(strstr(err, "ExternalMeetingId:") == err);
  CHECK_EQ_INT(sfu_session_meeting_count(s), 1);
  CHECK_EQ_INT(r.n, 1);
  sfu_session_free(s);
}

TEST(attendee_quota_250_and_max_count) {
  rec_t r;
  sfu_session_t *s = new_session(&r, 300, 86400);
  char err[256], ext[16];
  sfu_meeting_t *m = meeting(s, "big", NULL, 0);
  REQUIRE(m);
  for (int i = 0; i < 250; i++) {
    snprintf(ext, sizeof ext, "user%d", i);
    REQUIRE(attendee(s, m, ext, 1));
  }
  CHECK_EQ_INT(sfu_session_create_attendee(s, m->id, "one-more", NULL, 2, NULL, err, sizeof err),
               SFU_ELIMIT);
  CHECK_EQ_INT(m->attendee_count, 250);
  /* Deleting one frees a slot. */
  sfu_attendee_t *first = sfu_meeting_first_attendee(m);
  CHECK_EQ_INT(sfu_session_delete_attendee(s, m->id, first->id, 3, err, sizeof err), 0);
  CHECK(attendee(s, m, "one-more", 4) != NULL);

  char id[SFU_UUID_LEN + 1];
  sfu_uuid_v4(id);
  sfu_meeting_params_t p = {id, "small", NULL, {.video = SFU_RES_HD, .content = SFU_RES_FHD, .max_count = 3}};
  sfu_meeting_t *sm = NULL;
  REQUIRE(sfu_session_create_meeting(s, &p, 0, &sm, err, sizeof err) == 0);
  CHECK(attendee(s, sm, "a1", 0) && attendee(s, sm, "a2", 0) && attendee(s, sm, "a3", 0));
  CHECK_EQ_INT(sfu_session_create_attendee(s, sm->id, "a4", NULL, 0, NULL, err, sizeof err),
               SFU_ELIMIT);

  /* High-definition: 25 by default. */
  sfu_uuid_v4(id);
  sfu_meeting_params_t hp = {id, "hd", NULL, {.video = SFU_RES_FHD, .content = SFU_RES_FHD, .max_count = 0}};
  sfu_meeting_t *hm = NULL;
  REQUIRE(sfu_session_create_meeting(s, &hp, 0, &hm, err, sizeof err) == 0);
  CHECK_EQ_INT(hm->features.max_count, 25);
  for (int i = 0; i < 25; i++) {
    snprintf(ext, sizeof ext, "hd%d", i);
    CHECK(attendee(s, hm, ext, 0) != NULL);
  }
  CHECK_EQ_INT(sfu_session_create_attendee(s, hm->id, "hd25", NULL, 0, NULL, err, sizeof err),
               SFU_ELIMIT);
  sfu_uuid_v4(id);
  hp.features.max_count = 26;
  CHECK_EQ_INT(sfu_session_create_meeting(s, &hp, 0, NULL, err, sizeof err), SFU_EINVAL);
  sfu_session_free(s);
}

TEST(token_check_and_revocation) {
  rec_t r;
  sfu_session_t *s = new_session(&r, 300, 86400);
  char err[256], tok[SFU_TOKEN_LEN + 1], aid[SFU_UUID_LEN + 1];
  sfu_meeting_t *m = meeting(s, "tok", NULL, 0);
  sfu_attendee_t *a = attendee(s, m, "alice", 0);
  REQUIRE(m && a);
  memcpy(tok, a->join_token, sizeof tok);
  memcpy(aid, a->id, sizeof aid);
  sfu_attendee_t *out = NULL;
  CHECK_EQ_INT(sfu_session_check_token(s, m->id, aid, tok, strlen(tok), &out, err, sizeof err), 0);
  CHECK(out == a);
  CHECK_EQ_INT(sfu_session_check_token(s, m->id, aid, tok, strlen(tok) - 1, NULL, err, sizeof err),
               SFU_EPERM);
  char bad[SFU_TOKEN_LEN + 1];
  memcpy(bad, tok, sizeof bad);
  bad[5] ^= 1;
  CHECK_EQ_INT(sfu_session_check_token(s, m->id, aid, bad, strlen(bad), NULL, err, sizeof err),
               SFU_EPERM);
  CHECK(strstr(err, "JoinToken:") == err);
  CHECK_EQ_INT(sfu_session_check_token(s, m->id, aid, NULL, 0, NULL, err, sizeof err), SFU_EPERM);
  a->transport = (void *)0x1234;
  CHECK_EQ_INT(sfu_session_delete_attendee(s, m->id, aid, 1, err, sizeof err), 0);
  CHECK_EQ_INT(r.removed, 1);
  CHECK(r.last_transport == (void *)0x1234);
  /* The revoked token no longer matches anything. */
  CHECK_EQ_INT(sfu_session_check_token(s, m->id, aid, tok, strlen(tok), NULL, err, sizeof err),
               SFU_EPERM);
  CHECK(strstr(err, "JoinToken:") == err);
  CHECK_EQ_INT(sfu_session_delete_attendee(s, m->id, aid, 1, err, sizeof err), SFU_ENOENT);
  CHECK_EQ_INT(r.ev[r.n - 1].type, SFU_EV_ATTENDEE_DELETED);
  CHECK_EQ_STR(r.ev[r.n - 1].attendee_id, aid);
  sfu_session_free(s);
}

TEST(update_caps_event) {
  rec_t r;
  sfu_session_t *s = new_session(&r, 300, 86400);
  char err[256];
  sfu_meeting_t *m = meeting(s, "caps", NULL, 0);
  sfu_attendee_t *a = attendee(s, m, "alice", 0);
  REQUIRE(m && a);
  sfu_caps_t c = {SFU_CAP_SEND, SFU_CAP_NONE, SFU_CAP_RECEIVE};
  CHECK_EQ_INT(sfu_session_update_caps(s, m->id, a->id, &c, 5, NULL, err, sizeof err), SFU_EINVAL);
  CHECK_EQ_INT(a->caps.video, SFU_CAP_SEND_RECEIVE); /* unchanged */
  c.content = SFU_CAP_NONE;
  CHECK_EQ_INT(sfu_session_update_caps(s, m->id, a->id, &c, 5, NULL, err, sizeof err), 0);
  CHECK_EQ_INT(a->caps.audio, SFU_CAP_SEND);
  CHECK_EQ_INT(r.ev[r.n - 1].type, SFU_EV_ATTENDEE_CAPS_UPDATED);
  CHECK_EQ_INT(r.ev[r.n - 1].caps.video, SFU_CAP_NONE);
  sfu_session_free(s);
}

TEST(idle_timeout_ends_meeting_with_injected_clock) {
  rec_t r;
  sfu_session_t *s = new_session(&r, 300, 86400);
  CHECK(sfu_session_next_deadline(s) == UINT64_MAX);
  sfu_meeting_t *m = meeting(s, "idle", NULL, 1000 * SEC);
  REQUIRE(m);
  CHECK(sfu_session_next_deadline(s) == 1300 * SEC);
  /* Creating an attendee restarts the idle clock. */
  REQUIRE(attendee(s, m, "alice", 1100 * SEC));
  CHECK(sfu_session_next_deadline(s) == 1400 * SEC);
  sfu_session_handle_timeout(s, 1399 * SEC);
  CHECK_EQ_INT(sfu_session_meeting_count(s), 1);
  sfu_session_handle_timeout(s, 1400 * SEC);
  CHECK_EQ_INT(sfu_session_meeting_count(s), 0);
  REQUIRE(r.n == 4);
  CHECK_EQ_INT(r.ev[2].type, SFU_EV_ATTENDEE_DELETED);
  CHECK_EQ_INT(r.ev[3].type, SFU_EV_MEETING_ENDED);
  CHECK_EQ_INT(r.ev[3].reason, SFU_END_IDLE_TIMEOUT);
  CHECK(r.ev[3].timestamp_us == 1400 * SEC);
  CHECK(sfu_session_next_deadline(s) == UINT64_MAX);
  sfu_session_free(s);
}

TEST(connected_attendee_keeps_meeting_alive) {
  rec_t r;
  sfu_session_t *s = new_session(&r, 300, 86400);
  sfu_meeting_t *m = meeting(s, "live", NULL, 0);
  sfu_attendee_t *a = attendee(s, m, "alice", 0);
  REQUIRE(m && a);
  sfu_session_set_connected(s, a, 1, 10 * SEC);
  /* Connected: only the max duration remains. */
  CHECK(sfu_session_next_deadline(s) == 86400 * SEC);
  sfu_session_handle_timeout(s, 5000 * SEC);
  CHECK_EQ_INT(sfu_session_meeting_count(s), 1);
  /* The idle clock starts when the last attendee disconnects. */
  sfu_session_set_connected(s, a, 0, 6000 * SEC);
  CHECK(sfu_session_next_deadline(s) == 6300 * SEC);
  sfu_session_handle_timeout(s, 6299 * SEC);
  CHECK_EQ_INT(sfu_session_meeting_count(s), 1);
  sfu_session_handle_timeout(s, 6300 * SEC);
  CHECK_EQ_INT(sfu_session_meeting_count(s), 0);
  CHECK_EQ_INT(r.ev[r.n - 1].reason, SFU_END_IDLE_TIMEOUT);
  sfu_session_free(s);
}

TEST(max_duration_ends_even_connected_meeting) {
  rec_t r;
  sfu_session_t *s = new_session(&r, 300, 3600);
  sfu_meeting_t *m = meeting(s, "long", NULL, 100 * SEC);
  sfu_attendee_t *a = attendee(s, m, "alice", 100 * SEC);
  REQUIRE(m && a);
  sfu_session_set_connected(s, a, 1, 100 * SEC);
  CHECK(sfu_session_next_deadline(s) == 3700 * SEC);
  sfu_session_handle_timeout(s, 3699 * SEC);
  CHECK_EQ_INT(sfu_session_meeting_count(s), 1);
  sfu_session_handle_timeout(s, 3700 * SEC);
  CHECK_EQ_INT(sfu_session_meeting_count(s), 0);
  CHECK_EQ_INT(r.ev[r.n - 1].type, SFU_EV_MEETING_ENDED);
  CHECK_EQ_INT(r.ev[r.n - 1].reason, SFU_END_MAX_DURATION);
  CHECK_EQ_INT(r.ev[r.n - 2].type, SFU_EV_ATTENDEE_DELETED);
  sfu_session_free(s);
}

TEST(replicas_are_not_idle_ended) {
  rec_t r;
  sfu_session_t *s = new_session(&r, 300, 86400);
  sfu_meeting_t *p = meeting(s, "primary", NULL, 0);
  REQUIRE(p);
  char pid[SFU_UUID_LEN + 1];
  memcpy(pid, p->id, sizeof pid);
  sfu_meeting_t *rep = meeting(s, "replica", pid, 0);
  REQUIRE(rep);
  CHECK_EQ_STR(rep->primary_id, pid);
  CHECK_EQ_STR(r.ev[1].primary_meeting_id, pid);
  /* The earliest deadline is the primary's idle end, not the replica's. */
  CHECK(sfu_session_next_deadline(s) == 300 * SEC);
  sfu_session_handle_timeout(s, 300 * SEC);
  CHECK(sfu_session_find_meeting(s, pid) == NULL);
  CHECK(sfu_session_find_meeting(s, rep->id) == rep);
  /* Only its max duration is left. */
  CHECK(sfu_session_next_deadline(s) == 86400 * SEC);
  sfu_session_handle_timeout(s, 86400 * SEC);
  CHECK_EQ_INT(sfu_session_meeting_count(s), 0);
  CHECK_EQ_INT(r.ev[r.n - 1].reason, SFU_END_MAX_DURATION);
  sfu_session_free(s);
}

TEST(next_deadline_is_the_minimum) {
  rec_t r;
  sfu_session_t *s = new_session(&r, 300, 86400);
  REQUIRE(meeting(s, "aa", NULL, 500 * SEC));
  REQUIRE(meeting(s, "bb", NULL, 200 * SEC));
  REQUIRE(meeting(s, "cc", NULL, 900 * SEC));
  CHECK(sfu_session_next_deadline(s) == 500 * SEC);
  /* Deadlines 800, 500 and 1200 s: only the one created at 200 s is due at 500 s. */
  sfu_session_handle_timeout(s, 500 * SEC);
  CHECK_EQ_INT(sfu_session_meeting_count(s), 2);
  CHECK(sfu_session_next_deadline(s) == 800 * SEC);
  sfu_session_handle_timeout(s, 800 * SEC);
  CHECK(sfu_session_next_deadline(s) == 1200 * SEC);
  sfu_session_free(s);
}

/* The deadline is cached: every change it depends on must be seen by handle_timeout even
 * when nobody asked next_deadline in between (the loop does not always). */
TEST(cached_deadline_follows_every_change) {
  rec_t r;
  char err[128];
  sfu_session_t *s = new_session(&r, 300, 86400);
  sfu_meeting_t *m = meeting(s, "m1", NULL, 0);
  sfu_attendee_t *a = attendee(s, m, "alice", 0);
  REQUIRE(m && a);
  sfu_session_set_connected(s, a, 1, 10 * SEC);
  CHECK(sfu_session_next_deadline(s) == 86400 * SEC); /* cached */
  /* Disconnect: idle from 20 s, due at 320 s, with no next_deadline call before it. */
  sfu_session_set_connected(s, a, 0, 20 * SEC);
  sfu_session_handle_timeout(s, 319 * SEC);
  CHECK_EQ_INT(sfu_session_meeting_count(s), 1);
  /* A new attendee restarts the idle clock: 319 + 300. */
  REQUIRE(attendee(s, m, "bob", 319 * SEC));
  sfu_session_handle_timeout(s, 320 * SEC);
  CHECK_EQ_INT(sfu_session_meeting_count(s), 1);
  CHECK(sfu_session_next_deadline(s) == 619 * SEC);
  /* Removing a connected attendee restarts it too. */
  sfu_session_set_connected(s, a, 1, 400 * SEC);
  CHECK(sfu_session_next_deadline(s) == 86400 * SEC);
  CHECK_EQ_INT(sfu_session_delete_attendee(s, m->id, a->id, 500 * SEC, err, sizeof err), 0);
  sfu_session_handle_timeout(s, 799 * SEC);
  CHECK_EQ_INT(sfu_session_meeting_count(s), 1);
  /* A second meeting, created later, then the first deleted: the next deadline is the
   * second's, not the deleted one's. */
  sfu_meeting_t *m2 = meeting(s, "m2", NULL, 700 * SEC);
  REQUIRE(m2);
  CHECK(sfu_session_next_deadline(s) == 800 * SEC);
  CHECK_EQ_INT(sfu_session_delete_meeting(s, m->id, SFU_END_DELETED, 750 * SEC, err, sizeof err),
               0);
  CHECK(sfu_session_next_deadline(s) == 1000 * SEC);
  sfu_session_handle_timeout(s, 1000 * SEC);
  CHECK_EQ_INT(sfu_session_meeting_count(s), 0);
  CHECK(sfu_session_next_deadline(s) == UINT64_MAX);
  sfu_session_free(s);
}

TEST(free_with_live_meetings_releases_transports) {
  rec_t r;
  sfu_session_t *s = new_session(&r, 300, 86400);
  sfu_meeting_t *m = meeting(s, "x1", NULL, 0);
  REQUIRE(m);
  for (int i = 0; i < 10; i++) {
    char ext[8];
    snprintf(ext, sizeof ext, "u%d", i);
    REQUIRE(attendee(s, m, ext, 0));
  }
  int before = r.n;
  sfu_session_free(s);
  CHECK_EQ_INT(r.removed, 10);
  CHECK_EQ_INT(r.n, before); /* no events at shutdown */
}

TEST(iteration_in_creation_order) {
  rec_t r;
  sfu_session_t *s = new_session(&r, 300, 86400);
  sfu_meeting_t *m = meeting(s, "order", NULL, 0);
  REQUIRE(m);
  REQUIRE(attendee(s, m, "first", 0) && attendee(s, m, "second", 0) && attendee(s, m, "third", 0));
  const char *want[] = {"first", "second", "third"};
  int i = 0;
  uint64_t last_seq = 0;
  for (sfu_attendee_t *a = sfu_meeting_first_attendee(m); a;
       a = sfu_meeting_next_attendee(m, a), i++) {
    REQUIRE(i < 3);
    CHECK_EQ_STR(a->external_user_id, want[i]);
    if (i) CHECK(a->seq > last_seq);
    last_seq = a->seq;
  }
  CHECK_EQ_INT(i, 3);
  CHECK(sfu_session_first_meeting(s) == m);
  CHECK(sfu_session_next_meeting(s, m) == NULL);
  sfu_session_free(s);
}

/* The earliest deadline by walking every meeting: the oracle for the cached one. */
static uint64_t walk_deadline(const sfu_session_t *s, uint64_t idle_us, uint64_t max_us) {
  uint64_t best = UINT64_MAX;
  for (sfu_meeting_t *m = sfu_session_first_meeting(s); m; m = sfu_session_next_meeting(s, m)) {
    uint64_t d = m->created_at_us + max_us;
    if (!m->primary_id[0] && m->connected_count == 0 && m->last_active_us + idle_us < d)
      d = m->last_active_us + idle_us;
    if (d < best) best = d;
  }
  return best;
}

/* The cached minimum is updated in O(1) as meetings start, end and change (a walk per
 * CreateMeeting made filling a loop O(n^2)); after any mix of changes it must still be
 * what a full walk finds. */
TEST(cached_deadline_matches_a_walk_under_random_changes) {
  enum { MAXM = 64, ATT = 4 };
  rec_t r;
  sfu_session_t *s = new_session(&r, 300, 3000);
  /* Ids, never pointers: a timeout may free a meeting behind the test's back. */
  char ids[MAXM][SFU_UUID_LEN + 1];
  sfu_attendee_t *as[MAXM][ATT];
  int n = 0;
  uint64_t now = 0, seed = 12345;
  char err[256];
  for (int step = 0; step < 20000; step++) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    unsigned x = (unsigned)(seed >> 33);
    now += x % (20 * SEC);
    int i = n ? (int)(x / 7 % (unsigned)n) : 0, j = (int)(x / 11 % ATT);
    sfu_meeting_t *m = n ? sfu_session_find_meeting(s, ids[i]) : NULL;
    switch (x % 6) {
      case 0: /* create; every fifth a replica */
        if (n < MAXM) {
          sfu_meeting_t *nm = meeting(s, "rnd", n && x % 5 == 0 ? ids[0] : NULL, now);
          REQUIRE(nm);
          memcpy(ids[n], nm->id, sizeof ids[n]);
          memset(as[n], 0, sizeof as[n]);
          n++;
        }
        break;
      case 1:
        if (m && !as[i][j]) as[i][j] = attendee(s, m, "att", now);
        break;
      case 2:
      case 3:
        if (m && as[i][j]) sfu_session_set_connected(s, as[i][j], x % 6 == 2, now);
        break;
      case 4:
        if (m && as[i][j]) {
          CHECK_EQ_INT(sfu_session_delete_attendee(s, ids[i], as[i][j]->id, now, err, sizeof err),
                       0);
          as[i][j] = NULL;
        }
        break;
      default:
        if (m && x % 3 == 0)
          CHECK_EQ_INT(sfu_session_delete_meeting(s, ids[i], SFU_END_DELETED, now, err, sizeof err),
                       0);
        break;
    }
    uint64_t want = walk_deadline(s, 300 * SEC, 3000 * SEC);
    if (sfu_session_next_deadline(s) != want) {
      CHECK(sfu_session_next_deadline(s) == want);
      break;
    }
    if (want <= now) sfu_session_handle_timeout(s, now);
    /* Forget what was deleted or timed out. */
    for (int k = 0; k < n;) {
      if (sfu_session_find_meeting(s, ids[k])) {
        k++;
        continue;
      }
      n--;
      memcpy(ids[k], ids[n], sizeof ids[k]);
      memcpy(as[k], as[n], sizeof as[k]);
    }
  }
  CHECK(r.n > 1000); /* the mix did happen */
  sfu_session_free(s);
}

/* Meetings created in one burst fall due in one burst: each call ends at most
 * SFU_SESSION_END_BATCH of them, oldest first, and leaves the rest due so that the loop
 * calls again after serving its inbox and sockets (issue 6). */
TEST(timeout_ends_a_burst_in_slices) {
  rec_t r;
  sfu_session_t *s = new_session(&r, 300, 86400);
  const size_t total = 2 * SFU_SESSION_END_BATCH + 10;
  sfu_meeting_t *first = NULL;
  for (size_t i = 0; i < total; i++) {
    sfu_meeting_t *m = meeting(s, "burst", NULL, i); /* one microsecond apart */
    REQUIRE(m);
    if (!first) first = m;
  }
  char first_id[SFU_UUID_LEN + 1];
  memcpy(first_id, first->id, sizeof first_id);
  uint64_t now = 400 * SEC; /* every one is past its 300 s idle timeout */
  sfu_session_handle_timeout(s, now);
  CHECK_EQ_INT(sfu_session_meeting_count(s), total - SFU_SESSION_END_BATCH);
  CHECK(sfu_session_find_meeting(s, first_id) == NULL); /* the oldest went first */
  CHECK(sfu_session_next_deadline(s) <= now);           /* the rest is still due */
  sfu_session_handle_timeout(s, now);
  CHECK_EQ_INT(sfu_session_meeting_count(s), total - 2 * SFU_SESSION_END_BATCH);
  sfu_session_handle_timeout(s, now);
  CHECK_EQ_INT(sfu_session_meeting_count(s), 0);
  CHECK(sfu_session_next_deadline(s) == UINT64_MAX);
  CHECK_EQ_INT(r.n, 2 * total); /* MeetingStarted and MeetingEnded of each */
  sfu_session_free(s);
}

TEST(attendee_id_validation) {
  CHECK(sfu_attendee_id_valid("9b0a3c8e-2f44-4f6e-8d7f-1c2b3a4d5e6f"));
  CHECK(sfu_attendee_id_valid("9b0a3c8e-2f44-4f6e-8d7f-1c2b3a4d5e6f#content"));
  CHECK(sfu_attendee_id_valid("9B0A3C8E-2F44-4F6E-8D7F-1C2B3A4D5E6F#content"));
  CHECK(!sfu_attendee_id_valid("9b0a3c8e-2f44-4f6e-8d7f-1c2b3a4d5e6f#CONTENT"));
  CHECK(!sfu_attendee_id_valid("9b0a3c8e-2f44-4f6e-8d7f-1c2b3a4d5e6f#content#content"));
  CHECK(!sfu_attendee_id_valid("9b0a3c8e-2f44-4f6e-8d7f-1c2b3a4d5e6f#contenx"));
  CHECK(!sfu_attendee_id_valid("9b0a3c8e-2f44-4f6e-8d7f-1c2b3a4d5e6#content1"));
  CHECK(!sfu_attendee_id_valid("#content"));
  CHECK(!sfu_attendee_id_valid(""));
  CHECK(!sfu_attendee_id_valid(NULL));
  CHECK(sfu_attendee_id_is_content("x#content"));
  CHECK(!sfu_attendee_id_is_content("#content"));
  CHECK(!sfu_attendee_id_is_content("9b0a3c8e-2f44-4f6e-8d7f-1c2b3a4d5e6f"));
}

static int content_of(sfu_session_t *s, sfu_meeting_t *m, const char *owner, const char *ext,
                      sfu_attendee_t **out, char *err) {
  return sfu_session_create_content_attendee(s, m->id, owner, ext, NULL, 5, out, err, 256);
}

TEST(content_share_ids_and_events) {
  rec_t r;
  sfu_session_t *s = new_session(&r, 300, 86400);
  char err[256], want[64];
  sfu_meeting_t *m = meeting(s, "standup", NULL, 0);
  REQUIRE(m);
  sfu_attendee_t *a = attendee(s, m, "alice", 1), *c = NULL;
  REQUIRE(a);
  int n0 = r.n;
  REQUIRE(content_of(s, m, a->id, NULL, &c, err) == 0);
  snprintf(want, sizeof want, "%s#content", a->id);
  CHECK_EQ_STR(c->id, want);
  CHECK_EQ_INT(strlen(c->id), SFU_ATTENDEE_ID_LEN);
  CHECK_EQ_STR(c->external_user_id, "alice#content");
  CHECK_EQ_INT(strlen(c->join_token), SFU_TOKEN_LEN);
  CHECK(strcmp(c->join_token, a->join_token) != 0);
  CHECK(sfu_meeting_find_attendee(m, want) == c);
  CHECK(a->content_share == c && c->content_owner == a);
  CHECK_EQ_INT(m->content_count, 1);
  CHECK_EQ_INT(m->attendee_count, 2);
  REQUIRE(r.n == n0 + 1);
  CHECK_EQ_INT(r.ev[n0].type, SFU_EV_ATTENDEE_ADDED);
  CHECK_EQ_STR(r.ev[n0].attendee_id, want);
  CHECK_EQ_STR(r.ev[n0].external_user_id, "alice#content");
  /* the content attendee's own token authenticates it */
  sfu_attendee_t *got = NULL;
  CHECK_EQ_INT(sfu_session_check_token(s, m->id, want, c->join_token, strlen(c->join_token), &got,
                                       err, sizeof err), 0);
  CHECK(got == c);
  CHECK_EQ_INT(sfu_session_check_token(s, m->id, want, a->join_token, strlen(a->join_token), &got,
                                       err, sizeof err), SFU_EPERM);
  /* a given ExternalUserId must end with "#content" */
  sfu_attendee_t *b = attendee(s, m, "bob", 2), *bc = NULL;
  REQUIRE(b);
  CHECK_EQ_INT(content_of(s, m, b->id, "bob-screen", &bc, err), SFU_EINVAL);
  CHECK(strstr(err, "ExternalUserId:") == err);
  CHECK_EQ_INT(content_of(s, m, b->id, "#content", &bc, err), SFU_EINVAL);
  CHECK_EQ_INT(content_of(s, m, b->id, "screen#content", &bc, err), 0);
  CHECK_EQ_STR(bc->external_user_id, "screen#content");
  sfu_session_free(s);
}

TEST(content_share_errors_and_limits) {
  rec_t r;
  sfu_session_t *s = new_session(&r, 300, 86400);
  char err[256];
  sfu_meeting_t *m = meeting(s, "standup", NULL, 0);
  REQUIRE(m);
  sfu_attendee_t *a = attendee(s, m, "alice", 1), *b = attendee(s, m, "bob", 1),
                 *c = attendee(s, m, "carol", 1), *ac = NULL, *x = NULL;
  REQUIRE(a && b && c);
  /* no such meeting, no such owner */
  CHECK_EQ_INT(sfu_session_create_content_attendee(s, "9b0a3c8e-2f44-4f6e-8d7f-1c2b3a4d5e6f",
                                                   a->id, NULL, NULL, 2, &x, err, sizeof err),
               SFU_ENOENT);
  CHECK(strstr(err, "MeetingId:") == err);
  CHECK_EQ_INT(content_of(s, m, "9b0a3c8e-2f44-4f6e-8d7f-1c2b3a4d5e6f", NULL, &x, err),
               SFU_ENOENT);
  CHECK(strstr(err, "ContentShareOf:") == err);
  REQUIRE(content_of(s, m, a->id, NULL, &ac, err) == 0);
  /* the owner is itself a content share */
  CHECK_EQ_INT(content_of(s, m, ac->id, NULL, &x, err), SFU_EINVAL);
  CHECK(strstr(err, "ContentShareOf:") == err);
  /* one per owner */
  CHECK_EQ_INT(content_of(s, m, a->id, NULL, &x, err), SFU_EEXIST);
  CHECK(strstr(err, ac->id) != NULL);
  /* two per meeting */
  REQUIRE(content_of(s, m, b->id, NULL, &x, err) == 0);
  int n0 = r.n;
  CHECK_EQ_INT(content_of(s, m, c->id, NULL, &x, err), SFU_ELIMIT);
  CHECK(strstr(err, "maximum of 2 content shares") != NULL);
  CHECK_EQ_INT(r.n, n0); /* refusals emit nothing */
  CHECK_EQ_INT(m->content_count, 2);
  /* a freed slot can be used again */
  REQUIRE(sfu_session_delete_attendee(s, m->id, x->id, 3, err, sizeof err) == 0);
  CHECK(b->content_share == NULL);
  CHECK_EQ_INT(m->content_count, 1);
  CHECK_EQ_INT(content_of(s, m, c->id, NULL, &x, err), 0);
  CHECK_EQ_INT(content_of(s, m, b->id, NULL, &x, err), SFU_ELIMIT);
  /* owner ExternalUserId of 64 characters: the derived one would be 72 */
  char long_ext[65];
  memset(long_ext, 'z', 64);
  long_ext[64] = 0;
  sfu_attendee_t *d = attendee(s, m, long_ext, 4);
  REQUIRE(d);
  REQUIRE(sfu_session_delete_attendee(s, m->id, x->id, 3, err, sizeof err) == 0);
  CHECK_EQ_INT(content_of(s, m, d->id, NULL, &x, err), SFU_EINVAL);
  CHECK(strstr(err, "ExternalUserId:") == err);
  CHECK_EQ_INT(content_of(s, m, d->id, "zz#content", &x, err), 0);
  sfu_session_free(s);
}

TEST(content_shares_do_not_count_toward_max_count) {
  rec_t r;
  sfu_session_t *s = new_session(&r, 300, 86400);
  char id[SFU_UUID_LEN + 1], err[256];
  sfu_uuid_v4(id);
  sfu_meeting_params_t p = {id, "small", NULL, {.video = SFU_RES_HD, .content = SFU_RES_FHD, .max_count = 2}};
  sfu_meeting_t *m = NULL;
  REQUIRE(sfu_session_create_meeting(s, &p, 0, &m, err, sizeof err) == 0);
  sfu_attendee_t *a = attendee(s, m, "alice", 1), *x = NULL;
  REQUIRE(a);
  REQUIRE(content_of(s, m, a->id, NULL, &x, err) == 0);
  CHECK(attendee(s, m, "bob", 2) != NULL); /* 2 of MaxCount 2, plus a content share */
  CHECK(attendee(s, m, "carol", 3) == NULL);
  CHECK_EQ_INT(m->attendee_count, 3);
  sfu_session_free(s);
}

TEST(deleting_the_owner_deletes_its_content_share_first) {
  rec_t r;
  sfu_session_t *s = new_session(&r, 300, 86400);
  char err[256], aid[SFU_ATTENDEE_ID_LEN + 1], cid[SFU_ATTENDEE_ID_LEN + 1];
  sfu_meeting_t *m = meeting(s, "standup", NULL, 0);
  REQUIRE(m);
  sfu_attendee_t *a = attendee(s, m, "alice", 1), *b = attendee(s, m, "bob", 1), *c = NULL,
                 *bc = NULL;
  REQUIRE(a && b);
  REQUIRE(content_of(s, m, a->id, NULL, &c, err) == 0);
  REQUIRE(content_of(s, m, b->id, NULL, &bc, err) == 0);
  snprintf(aid, sizeof aid, "%s", a->id);
  snprintf(cid, sizeof cid, "%s", c->id);
  int n0 = r.n, removed0 = r.removed;
  REQUIRE(sfu_session_delete_attendee(s, m->id, aid, 7, err, sizeof err) == 0);
  REQUIRE(r.n == n0 + 2);
  CHECK_EQ_INT(r.ev[n0].type, SFU_EV_ATTENDEE_DELETED);
  CHECK_EQ_STR(r.ev[n0].attendee_id, cid);
  CHECK_EQ_STR(r.ev[n0].external_user_id, "alice#content");
  CHECK_EQ_INT(r.ev[n0 + 1].type, SFU_EV_ATTENDEE_DELETED);
  CHECK_EQ_STR(r.ev[n0 + 1].attendee_id, aid);
  CHECK_EQ_INT(r.removed, removed0 + 2);
  CHECK(sfu_meeting_find_attendee(m, cid) == NULL);
  CHECK_EQ_INT(m->content_count, 1);
  CHECK_EQ_INT(m->attendee_count, 2);
  /* deleting the content share alone keeps the owner */
  REQUIRE(sfu_session_delete_attendee(s, m->id, bc->id, 8, err, sizeof err) == 0);
  CHECK(sfu_meeting_find_attendee(m, b->id) == b);
  CHECK(b->content_share == NULL);
  /* ending the meeting: dave's share comes right after dave in the list, so the owner's
   * cascade removes the node a saved-next walk would visit next */
  sfu_attendee_t *d = attendee(s, m, "dave", 9);
  REQUIRE(d && content_of(s, m, d->id, NULL, &bc, err) == 0);
  n0 = r.n;
  REQUIRE(sfu_session_delete_meeting(s, m->id, SFU_END_DELETED, 10, err, sizeof err) == 0);
  REQUIRE(r.n == n0 + 4);
  CHECK_EQ_INT(r.ev[n0 + 3].type, SFU_EV_MEETING_ENDED);
  CHECK_EQ_INT(sfu_session_attendee_count(s), 0);
  sfu_session_free(s);
}

int main(void) {
  RUN(validate_external_id);
  RUN(validate_caps_chime_rule);
  RUN(features_defaults_and_hd_limit);
  RUN(create_find_delete_meeting_events_in_order);
  RUN(duplicate_and_invalid_meeting);
  RUN(attendee_quota_250_and_max_count);
  RUN(token_check_and_revocation);
  RUN(update_caps_event);
  RUN(idle_timeout_ends_meeting_with_injected_clock);
  RUN(connected_attendee_keeps_meeting_alive);
  RUN(max_duration_ends_even_connected_meeting);
  RUN(replicas_are_not_idle_ended);
  RUN(next_deadline_is_the_minimum);
  RUN(cached_deadline_follows_every_change);
  RUN(cached_deadline_matches_a_walk_under_random_changes);
  RUN(timeout_ends_a_burst_in_slices);
  RUN(free_with_live_meetings_releases_transports);
  RUN(iteration_in_creation_order);
  RUN(attendee_id_validation);
  RUN(content_share_ids_and_events);
  RUN(content_share_errors_and_limits);
  RUN(content_shares_do_not_count_toward_max_count);
  RUN(deleting_the_owner_deletes_its_content_share_first);
  return test_summary();
}
