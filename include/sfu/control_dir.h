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
#include "sfu/list.h"
#include "sfu/session.h"

/* A primary keeps its replicas in a list on its own entry, so that what happens to a
 * primary (it ends, it is deleted) costs O(its replicas), never a walk of the directory:
 * 50,000 meetings ending within seconds once cost 23.5 s of control-thread CPU that
 * way (issue 6). A replica whose primary left the directory first is unlinked
 * (primary == NULL) but keeps primary_id, so that it still counts as a replica. */
typedef struct sfu_dir_meeting {
  sfu_hnode_t node;
  char id[SFU_UUID_LEN + 1];
  char primary_id[SFU_UUID_LEN + 1]; /* "" unless a replica */
  int loop;
  int n_replicas; /* primaries: replicas in `replicas` */
  size_t attendees;
  sfu_list_t replicas;             /* primaries: the replicas' replica_link */
  sfu_list_t replica_link;         /* replicas: in the primary's `replicas` */
  struct sfu_dir_meeting *primary; /* replicas: the primary's entry while it is listed */
} sfu_dir_meeting_t;

typedef struct {
  size_t meetings, attendees;
} sfu_dir_load_t;

typedef struct {
  sfu_hmap_t meetings;
  int n_loops;
  sfu_dir_load_t *loads; /* n_loops entries */
  size_t max_meetings;   /* per worker (--max-meetings); 0: no limit */
  /* Entries looked at by replica walks, over the directory's life. Only tests read it:
   * it lets them prove that ending a meeting costs O(its replicas), not O(meetings). */
  uint64_t replica_visits;
} sfu_dir_t;

int sfu_dir_init(sfu_dir_t *d, int n_loops);
void sfu_dir_free(sfu_dir_t *d);

sfu_dir_meeting_t *sfu_dir_find(const sfu_dir_t *d, const char *id);
/* The least-loaded loop: fewest attendees, then fewest meetings, then lowest index. */
int sfu_dir_place(const sfu_dir_t *d);
/* Checks a CreateMeeting against global state, in this order: SFU_EEXIST (MeetingId
 * taken), SFU_ELIMIT (the worker already holds max_meetings), SFU_ENOENT (no such
 * primary), SFU_EINVAL (primary is itself a replica), SFU_ELIMIT (primary has
 * SFU_MAX_REPLICAS replicas). primary_id may be NULL or "". */
int sfu_dir_check_create(const sfu_dir_t *d, const char *meeting_id, const char *primary_id,
                         char *err, size_t errlen);
/* Records a meeting placed on `loop`. SFU_ENOMEM or 0. */
int sfu_dir_add(sfu_dir_t *d, const char *id, const char *primary_id, int loop);
/* Forgets a meeting (refused create, or ended); no-op if unknown. */
void sfu_dir_remove(sfu_dir_t *d, const char *id);
/* Keeps loads current: AttendeeAdded/Deleted adjust counts, MeetingEnded removes. */
void sfu_dir_on_event(sfu_dir_t *d, const sfu_event_t *ev);
/* Copies up to max replica ids of primary_id into ids; returns how many exist.
 * O(1) lookup plus O(its replicas). */
size_t sfu_dir_replicas(sfu_dir_t *d, const char *primary_id, char (*ids)[SFU_UUID_LEN + 1],
                        size_t max);
size_t sfu_dir_count(const sfu_dir_t *d);

#endif
