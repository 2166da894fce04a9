/* Audio signals (issue 9): per attendee volume, muted, signal strength, and the active
 * speaker order, as one compact JSON document per meeting pushed about 5 times a second
 * on the data-channel topic `sfu:audio` (docs/wire-formats.md, "sfu:audio"). The same
 * figures are read by GetAttendeeStats (sfu_audio_signals_get).
 *
 * One document for everyone: the mix differs per listener, the signals do not. Each
 * push carries only what changed since the previous push; a newcomer first gets
 * sfu_audio_signals_snapshot (complete, "f":1), then the deltas like everyone else.
 *
 * Inputs per 20 ms tick from the mixer (level, order); per event from the owner (muted
 * flag, signal strength). The JSON is written into a buffer sized at creation for the
 * worst case (every attendee, longest id), so a push allocates nothing.
 *
 * Sans-IO, time as a parameter; owned by its mixer (or a test); one thread. */
#ifndef SFU_AUDIO_SIGNALS_H
#define SFU_AUDIO_SIGNALS_H

#include <stddef.h>
#include <stdint.h>

#define SFU_SIGNALS_ID_MAX 64                  /* attendee id bytes, NUL included */
#define SFU_SIGNALS_PERIOD_US 200000ull        /* about 5 pushes a second */
#define SFU_SIGNALS_SILENT_LEVEL 0.001f        /* -60 dBov */
#define SFU_SIGNALS_SILENT_MUTED_US 1000000ull /* silent this long reads as muted */
#define SFU_SIGNALS_ORDER_MAX 16

typedef struct sfu_audio_signals sfu_audio_signals_t;

/* What GetAttendeeStats reports for one attendee. */
typedef struct {
  float volume;   /* 0..1 (dB scale: -60 dBov = 0, 0 dBov = 1), peak of the last period */
  int muted;      /* flag set by the owner, or silent for SFU_SIGNALS_SILENT_MUTED_US */
  float strength; /* 0, 0.5 or 1, as set by the owner */
  int order;      /* place in the active-speaker order (0 = dominant), -1 if not in it */
} sfu_audio_signal_t;

sfu_audio_signals_t *sfu_audio_signals_new(int max_attendees);
void sfu_audio_signals_free(sfu_audio_signals_t *s);

/* Slots are the owner's indexes, 0..max_attendees-1. The id is copied; it must be
 * printable ASCII without '"' or '\\' (it goes into JSON verbatim): SFU_EINVAL else. */
int sfu_audio_signals_add(sfu_audio_signals_t *s, int slot, const char *id, uint64_t now_us);
/* The attendee left: the next push lists it in "x". */
void sfu_audio_signals_remove(sfu_audio_signals_t *s, int slot);

/* Per tick: the level the mixer used (0..1 linear amplitude; < 0 unknown: no update). */
void sfu_audio_signals_level(sfu_audio_signals_t *s, int slot, float level, uint64_t now_us);
void sfu_audio_signals_set_muted(sfu_audio_signals_t *s, int slot, int muted);
/* 0, 0.5 or 1 from the receive side's loss and jitter; other values are rounded to
 * the nearest of these. */
void sfu_audio_signals_set_strength(sfu_audio_signals_t *s, int slot, float strength);
/* The active-speaker order, dominant first (slots). */
void sfu_audio_signals_order(sfu_audio_signals_t *s, const int *slots, int n);

/* The push due at now_us, if any: returns its length and sets *json (NUL-terminated,
 * valid until the next call on s); 0 when no push is due or nothing changed. The first
 * push is complete ("f":1). */
size_t sfu_audio_signals_poll(sfu_audio_signals_t *s, uint64_t now_us, const char **json);
/* A complete document (for a listener that joins): does not change what the next poll
 * reports. Same buffer rules as poll. */
size_t sfu_audio_signals_snapshot(sfu_audio_signals_t *s, uint64_t now_us, const char **json);
/* SFU_ENOENT when the slot is empty. */
int sfu_audio_signals_get(const sfu_audio_signals_t *s, int slot, uint64_t now_us,
                          sfu_audio_signal_t *out);
/* Bytes of state per attendee (for the memory figure in docs/benchmarks.md). */
size_t sfu_audio_signals_bytes_per_attendee(void);

#endif
