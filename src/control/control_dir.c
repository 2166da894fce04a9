/* The control thread's meeting directory; see include/sfu/control_dir.h. */
#include "sfu/control_dir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sfu/err.h"

int sfu_dir_init(sfu_dir_t *d, int n_loops) {
  memset(d, 0, sizeof *d);
  if (n_loops < 1) return SFU_EINVAL;
  d->loads = calloc((size_t)n_loops, sizeof *d->loads);
  if (!d->loads) return SFU_ENOMEM;
  if (sfu_hmap_init(&d->meetings, 64) != 0) {
    free(d->loads);
    return SFU_ENOMEM;
  }
  d->n_loops = n_loops;
  return 0;
}

void sfu_dir_free(sfu_dir_t *d) {
  size_t b;
  sfu_hnode_t *n = sfu_hmap_iter_first(&d->meetings, &b);
  while (n) {
    sfu_hnode_t *next = sfu_hmap_iter_next(&d->meetings, n, &b);
    free(sfu_container_of(n, sfu_dir_meeting_t, node));
    n = next;
  }
  sfu_hmap_free(&d->meetings);
  free(d->loads);
  d->loads = NULL;
}

sfu_dir_meeting_t *sfu_dir_find(const sfu_dir_t *d, const char *id) {
  if (!id || !id[0]) return NULL;
  uint64_t h = sfu_hash_str(id);
  for (sfu_hnode_t *n = sfu_hmap_first(&d->meetings, h); n; n = sfu_hmap_next(n, h)) {
    sfu_dir_meeting_t *m = sfu_container_of(n, sfu_dir_meeting_t, node);
    if (strcmp(m->id, id) == 0) return m;
  }
  return NULL;
}

int sfu_dir_place(const sfu_dir_t *d) {
  int best = 0;
  for (int i = 1; i < d->n_loops; i++) {
    const sfu_dir_load_t *a = &d->loads[i], *b = &d->loads[best];
    if (a->attendees < b->attendees || (a->attendees == b->attendees && a->meetings < b->meetings))
      best = i;
  }
  return best;
}

int sfu_dir_check_create(const sfu_dir_t *d, const char *meeting_id, const char *primary_id,
                         char *err, size_t errlen) {
  /* Conflict first: a client retrying a create that did happen learns that it exists. */
  if (sfu_dir_find(d, meeting_id)) {
    snprintf(err, errlen, "MeetingId: meeting '%s' already exists", meeting_id);
    return SFU_EEXIST;
  }
  /* Entries include reservations (creates still on their way to a loop), so a burst of
   * creates cannot overshoot the limit. */
  if (d->max_meetings && d->meetings.count >= d->max_meetings) {
    snprintf(err, errlen,
             "request: this worker already holds %zu meetings, its limit (--max-meetings)",
             d->max_meetings);
    return SFU_ELIMIT;
  }
  if (!primary_id || !primary_id[0]) return 0;
  const sfu_dir_meeting_t *p = sfu_dir_find(d, primary_id);
  if (!p) {
    snprintf(err, errlen, "PrimaryMeetingId: no such meeting '%s'", primary_id);
    return SFU_ENOENT;
  }
  if (p->primary_id[0]) {
    snprintf(err, errlen, "PrimaryMeetingId: meeting '%s' is itself a replica", primary_id);
    return SFU_EINVAL;
  }
  if (p->n_replicas >= SFU_MAX_REPLICAS) {
    snprintf(err, errlen, "PrimaryMeetingId: meeting '%s' already has %d replicas", primary_id,
             SFU_MAX_REPLICAS);
    return SFU_ELIMIT;
  }
  return 0;
}

int sfu_dir_add(sfu_dir_t *d, const char *id, const char *primary_id, int loop) {
  sfu_dir_meeting_t *m = calloc(1, sizeof *m);
  if (!m) return SFU_ENOMEM;
  snprintf(m->id, sizeof m->id, "%s", id);
  if (primary_id) snprintf(m->primary_id, sizeof m->primary_id, "%s", primary_id);
  m->loop = loop;
  sfu_list_init(&m->replicas);
  sfu_list_init(&m->replica_link);
  sfu_dir_meeting_t *p = sfu_dir_find(d, m->primary_id);
  if (p) {
    m->primary = p;
    sfu_list_insert_tail(&p->replicas, &m->replica_link);
    p->n_replicas++;
  }
  sfu_hmap_insert(&d->meetings, &m->node, sfu_hash_str(m->id));
  d->loads[loop].meetings++;
  return 0;
}

void sfu_dir_remove(sfu_dir_t *d, const char *id) {
  sfu_dir_meeting_t *m = sfu_dir_find(d, id);
  if (!m) return;
  if (m->primary) {
    sfu_list_remove(&m->replica_link);
    m->primary->n_replicas--;
  }
  /* Replicas still listed (their end is on its way) forget this entry, which is freed
   * below: a later meeting reusing this id must not inherit them. */
  sfu_list_t *it, *tmp;
  sfu_list_foreach_safe(it, tmp, &m->replicas) {
    sfu_dir_meeting_t *r = sfu_container_of(it, sfu_dir_meeting_t, replica_link);
    sfu_list_remove(it);
    r->primary = NULL;
  }
  d->loads[m->loop].meetings--;
  d->loads[m->loop].attendees -= m->attendees;
  sfu_hmap_remove(&d->meetings, &m->node);
  free(m);
}

void sfu_dir_on_event(sfu_dir_t *d, const sfu_event_t *ev) {
  sfu_dir_meeting_t *m = sfu_dir_find(d, ev->meeting_id);
  if (!m) return;
  switch (ev->type) {
    case SFU_EV_ATTENDEE_ADDED:
      m->attendees++;
      d->loads[m->loop].attendees++;
      break;
    case SFU_EV_ATTENDEE_DELETED:
      if (m->attendees) {
        m->attendees--;
        d->loads[m->loop].attendees--;
      }
      break;
    case SFU_EV_MEETING_ENDED:
      sfu_dir_remove(d, ev->meeting_id);
      break;
    default:
      break;
  }
}

size_t sfu_dir_replicas(sfu_dir_t *d, const char *primary_id, char (*ids)[SFU_UUID_LEN + 1],
                        size_t max) {
  size_t n = 0;
  const sfu_dir_meeting_t *p = sfu_dir_find(d, primary_id);
  if (!p) return 0;
  const sfu_list_t *it;
  sfu_list_foreach(it, &p->replicas) {
    const sfu_dir_meeting_t *r = sfu_container_of(it, sfu_dir_meeting_t, replica_link);
    /* Counts what a regression to a directory scan would make O(meetings). */
    d->replica_visits++;
    if (n < max) memcpy(ids[n], r->id, SFU_UUID_LEN + 1);
    n++;
  }
  return n;
}

size_t sfu_dir_count(const sfu_dir_t *d) { return d->meetings.count; }
