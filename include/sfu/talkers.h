/* Talker selection for the audio mixer (issue 9): which of a meeting's up to 250
 * senders are mixed this 20 ms tick, and in what order clients should show the active
 * speakers.
 *
 * Levels. Each tick a sender's level (0..1 linear amplitude, from RFC 6464 or decoded
 * energy) feeds two one-pole smoothers: `fast` (60 ms time constant) decides who talks,
 * `slow` (300 ms) orders the speakers. A raw 20 ms level jumps between syllables;
 * choosing on it makes the set flicker (issue 9, "where peer mixers went wrong").
 *
 * Selection, per tick:
 *   - a talker whose fast level is above the threshold refreshes its hold; one that
 *     stays below it for longer than hold_us (default 400 ms: the pause between two
 *     sentences) leaves;
 *   - free places go to the loudest non-talkers above the threshold, loudest first;
 *   - when the set is full, the loudest waiting sender replaces the weakest talker only
 *     if it is at least 6 dB louder (fast level x 2) and that talker has been in the set
 *     for at least min_talk_us (300 ms): two voices of similar level never swap places
 *     tick by tick;
 *   - the dominant speaker (first in the order) is never the one replaced: it leaves
 *     only by its own silence (with max 1 place this protection is off: the louder
 *     voice takes the only place by the 6 dB rule).
 * Content-share audio is selected apart (it does not use a talker place): it is mixed
 * whenever it is above the threshold, held like a talker.
 *
 * Order: the voice talkers, by slow level; a speaker passes the one before it only when
 * louder by 25% (2 dB), so that two similar voices do not swap the indicator 50 times
 * a second.
 *
 * Cost: O(senders x places) per tick (places <= SFU_TALKERS_MAX), a few microseconds for
 * 250 senders. State is per sender (sfu_talker_t, inside the owner's attendee) plus the
 * set (fixed arrays). No allocation, one thread. */
#ifndef SFU_TALKERS_H
#define SFU_TALKERS_H

#include <stdint.h>

#define SFU_TALKERS_MAX 16        /* most voice places a meeting may configure */
#define SFU_TALKERS_MAX_CONTENT 2 /* content shares mixed at once */
#define SFU_TALKERS_DEFAULT 5
#define SFU_TALKERS_THRESHOLD 0.01f           /* -40 dBov: below it, not talking */
#define SFU_TALKERS_DEFAULT_HOLD_US 400000ull /* stays this long after going quiet */
#define SFU_TALKERS_MIN_TALK_US 300000ull     /* replaceable only after this */

/* One sender's selection state. Owned by value inside the owner's attendee. */
typedef struct {
  float fast, slow;  /* smoothed levels */
  uint64_t loud_us;  /* last tick its fast level was above the threshold */
  uint64_t since_us; /* when it joined the set */
  uint8_t eligible;  /* set by the owner each tick: may send, not muted, has audio */
  uint8_t content;   /* content-share audio: selected apart */
  uint8_t talking;   /* in the set (maintained by sfu_talkers_select) */
  uint8_t known;     /* a level was seen since reset */
} sfu_talker_t;

/* The set. Owned by value inside the mixer. Entries are indexes into the owner's array
 * of senders (the same array given to sfu_talkers_select). */
typedef struct {
  int max; /* voice places (1..SFU_TALKERS_MAX) */
  uint64_t hold_us;
  int n; /* voice talkers */
  int idx[SFU_TALKERS_MAX];
  int n_content;
  int content[SFU_TALKERS_MAX_CONTENT];
  int n_order;                /* == n */
  int order[SFU_TALKERS_MAX]; /* voice talkers, dominant first */
  uint64_t changes;           /* times the set changed (for stats, tests) */
} sfu_talkers_t;

void sfu_talkers_init(sfu_talkers_t *s, int max, uint64_t hold_us);
void sfu_talker_reset(sfu_talker_t *t);
/* Feeds this tick's raw level (0..1; < 0 unknown: left as is). */
void sfu_talker_update(sfu_talker_t *t, float level, uint64_t now_us);
/* Chooses the set for this tick from v[0..n) (NULL entries are empty places). Returns 1
 * when the set changed. */
int sfu_talkers_select(sfu_talkers_t *s, sfu_talker_t *const *v, int n, uint64_t now_us);
/* Sender i is gone (its slot may be reused): it leaves the set at once. */
void sfu_talkers_forget(sfu_talkers_t *s, sfu_talker_t *const *v, int i);

#endif
