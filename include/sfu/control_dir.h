/* The control thread's directory of meetings: which loop owns each meeting, replica
 * links, and per-loop load, kept current from the events the loops send back.
 *
 * It is what lets the control thread answer questions that need global knowledge
 * (MeetingId uniqueness, PrimaryMeetingId rules, placement, routing) without asking a
 * loop, so that loops never share state. Pure logic (no uv, no nn).
 *
 * Owner: the worker's control thread, which alone reads and writes it; freed by
 * sfu_dir_free. The loops' sessions stay the truth: an entry is added when a
 * CreateMeeting is sent to a loop (so that a second request for the same id conflicts
 * even before the loop answered), removed again if the loop refuses, and removed for good
 * when the loop reports chime:MeetingEnded. */
#ifndef SFU_CONTROL_DIR_H
#define SFU_CONTROL_DIR_H

#include <stddef.h>

#include "sfu/hmap.h"
#include "sfu/session.h"

typedef struct {
  sfu_hnode_t node;
  char id[SFU_UUID_LEN + 1];
  char primary_id[SFU_UUID_LEN + 1]; /* "" unless a replica */
  int loop;
  int n_replicas; /* primaries: live replicas */
  size_t attendees;
} sfu_dir_meeting_t;

typedef struct {
  size_t meetings, attendees;
} sfu_dir_load_t;

typedef struct {
  sfu_hmap_t meetings;
  int n_loops;
  sfu_dir_load_t *loads; /* n_loops entries */
} sfu_dir_t;

int sfu_dir_init(sfu_dir_t *d, int n_loops);
void sfu_dir_free(sfu_dir_t *d);

sfu_dir_meeting_t *sfu_dir_find(const sfu_dir_t *d, const char *id);
/* The least-loaded loop: fewest attendees, then fewest meetings, then lowest index. */
int sfu_dir_place(const sfu_dir_t *d);
/* Checks a CreateMeeting against global state: SFU_EEXIST (MeetingId taken),
 * SFU_ENOENT (no such primary), SFU_EINVAL (primary is itself a replica), SFU_ELIMIT
 * (primary has SFU_MAX_REPLICAS replicas). primary_id may be NULL or "". */
int sfu_dir_check_create(const sfu_dir_t *d, const char *meeting_id, const char *primary_id,
                         char *err, size_t errlen);
/* Records a meeting placed on `loop`. SFU_ENOMEM or 0. */
int sfu_dir_add(sfu_dir_t *d, const char *id, const char *primary_id, int loop);
/* Forgets a meeting (refused create, or ended); no-op if unknown. */
void sfu_dir_remove(sfu_dir_t *d, const char *id);
/* Keeps loads current: AttendeeAdded/Deleted adjust counts, MeetingEnded removes. */
void sfu_dir_on_event(sfu_dir_t *d, const sfu_event_t *ev);
/* Copies up to max replica ids of primary_id into ids; returns how many exist.
 * O(meetings): only used when a primary ends. */
size_t sfu_dir_replicas(const sfu_dir_t *d, const char *primary_id, char (*ids)[SFU_UUID_LEN + 1],
                        size_t max);
size_t sfu_dir_count(const sfu_dir_t *d);

#endif
