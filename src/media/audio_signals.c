/* Audio signals: volume, muted, strength, speaker order as delta JSON (audio_signals.h). */
#include "sfu/audio_signals.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sfu/err.h"

/* One attendee. Reported values are kept as small integers so that "changed" is an
 * exact comparison: volume in hundredths, strength in halves. */
typedef struct {
  char id[SFU_SIGNALS_ID_MAX];
  uint8_t used, gone; /* gone: removed, listed in "x" at the next push, then freed */
  uint8_t muted_flag; /* set by the owner */
  uint8_t strength2;  /* strength x 2: 0, 1, 2 */
  float peak;         /* highest level since the last push */
  int16_t vol;        /* volume of the last push, hundredths */
  uint64_t sound_us;  /* last tick with a level above silence */
  int16_t rep_v;      /* last reported: -1 never */
  int8_t rep_m, rep_s;
} entry_t;

/* Owned by its creator; one thread. */
struct sfu_audio_signals {
  int max;
  entry_t *e;
  int order[SFU_SIGNALS_ORDER_MAX], n_order;
  int rep_order[SFU_SIGNALS_ORDER_MAX], n_rep_order;
  uint8_t full_next; /* the next push is complete (first push, or a slot was reused) */
  uint64_t last_push_us;
  uint8_t pushed_once;
  char *buf;
  size_t cap;
};

/* Worst case per attendee: its id in "v", "m", "s" and "x" with separators and values. */
#define PER_ATTENDEE (4 * (SFU_SIGNALS_ID_MAX + 12))

sfu_audio_signals_t *sfu_audio_signals_new(int max_attendees) {
  if (max_attendees < 1 || max_attendees > 100000) return NULL;
  sfu_audio_signals_t *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->max = max_attendees;
  s->e = calloc((size_t)max_attendees, sizeof *s->e);
  s->cap =
      (size_t)max_attendees * PER_ATTENDEE + SFU_SIGNALS_ORDER_MAX * (SFU_SIGNALS_ID_MAX + 4) + 128;
  s->buf = malloc(s->cap);
  if (!s->e || !s->buf) {
    sfu_audio_signals_free(s);
    return NULL;
  }
  s->full_next = 1;
  return s;
}

void sfu_audio_signals_free(sfu_audio_signals_t *s) {
  if (!s) return;
  free(s->e);
  free(s->buf);
  free(s);
}

size_t sfu_audio_signals_bytes_per_attendee(void) { return sizeof(entry_t) + PER_ATTENDEE; }

static int id_ok(const char *id) {
  size_t n = 0;
  for (; id[n]; n++) {
    unsigned char c = (unsigned char)id[n];
    if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') return 0;
  }
  return n > 0 && n < SFU_SIGNALS_ID_MAX;
}

static entry_t *get(const sfu_audio_signals_t *s, int slot) {
  if (slot < 0 || slot >= s->max || !s->e[slot].used || s->e[slot].gone) return NULL;
  return &s->e[slot];
}

int sfu_audio_signals_add(sfu_audio_signals_t *s, int slot, const char *id, uint64_t now_us) {
  if (slot < 0 || slot >= s->max || !id || !id_ok(id)) return SFU_EINVAL;
  entry_t *e = &s->e[slot];
  if (e->used && !e->gone) return SFU_EEXIST;
  /* A slot reused before its removal was pushed: the "x" would name the new attendee's
   * slot; send a complete document instead (the client replaces its state). */
  if (e->used && e->gone) s->full_next = 1;
  memset(e, 0, sizeof *e);
  memcpy(e->id, id, strlen(id) + 1);
  e->used = 1;
  e->strength2 = 2;
  e->sound_us = now_us; /* a newcomer is not "muted" before it had a chance to speak */
  e->rep_v = -1;
  e->rep_m = e->rep_s = -1;
  return 0;
}

void sfu_audio_signals_remove(sfu_audio_signals_t *s, int slot) {
  entry_t *e = get(s, slot);
  if (!e) return;
  e->gone = 1;
  for (int k = 0; k < s->n_order; k++)
    if (s->order[k] == slot) {
      memmove(s->order + k, s->order + k + 1, (size_t)(s->n_order - k - 1) * sizeof(int));
      s->n_order--;
      break;
    }
}

void sfu_audio_signals_level(sfu_audio_signals_t *s, int slot, float level, uint64_t now_us) {
  entry_t *e = get(s, slot);
  if (!e || !(level >= 0)) return;
  if (level > e->peak) e->peak = level;
  if (level >= SFU_SIGNALS_SILENT_LEVEL) e->sound_us = now_us;
}

void sfu_audio_signals_set_muted(sfu_audio_signals_t *s, int slot, int muted) {
  entry_t *e = get(s, slot);
  if (e) e->muted_flag = muted ? 1 : 0;
}

void sfu_audio_signals_set_strength(sfu_audio_signals_t *s, int slot, float strength) {
  entry_t *e = get(s, slot);
  if (!e) return;
  if (!(strength >= 0.25f))
    e->strength2 = 0; /* NaN reads as 0 */
  else if (strength < 0.75f)
    e->strength2 = 1;
  else
    e->strength2 = 2;
}

void sfu_audio_signals_order(sfu_audio_signals_t *s, const int *slots, int n) {
  s->n_order = 0;
  for (int k = 0; k < n && s->n_order < SFU_SIGNALS_ORDER_MAX; k++)
    if (get(s, slots[k])) s->order[s->n_order++] = slots[k];
}

static int is_muted(const entry_t *e, uint64_t now_us) {
  return e->muted_flag || now_us - e->sound_us >= SFU_SIGNALS_SILENT_MUTED_US;
}

/* Volume on a dB scale: clients draw meters, and a linear amplitude would leave every
 * normal voice (-20..-30 dBov) at the bottom of the bar. */
static int16_t volume_of(float peak) {
  if (peak < SFU_SIGNALS_SILENT_LEVEL) return 0;
  float v = (20.0f * log10f(peak) + 60.0f) / 60.0f;
  if (v > 1) v = 1;
  return (int16_t)lrintf(v * 100.0f);
}

/* ---- JSON writer: the buffer is sized for the worst case; a write past it stops the
 * document (returns 0) rather than truncating it into invalid JSON. */
typedef struct {
  char *p;
  size_t len, cap;
  int fail;
} wr_t;

static void put(wr_t *w, const char *s, size_t n) {
  if (w->fail || w->len + n + 1 > w->cap) {
    w->fail = 1;
    return;
  }
  memcpy(w->p + w->len, s, n);
  w->len += n;
}
static void puts_(wr_t *w, const char *s) { put(w, s, strlen(s)); }
static void put_key(wr_t *w, const char *id, int *first) {
  if (!*first) put(w, ",", 1);
  *first = 0;
  put(w, "\"", 1);
  puts_(w, id);
  put(w, "\"", 1);
}
/* Hundredths as a short decimal: 0, 1, 0.5, 0.42, 0.07. */
static void put_hundredths(wr_t *w, int v) {
  char t[8];
  size_t n = 0;
  if (v <= 0)
    t[n++] = '0';
  else if (v >= 100)
    t[n++] = '1';
  else {
    t[n++] = '0';
    t[n++] = '.';
    t[n++] = (char)('0' + v / 10);
    if (v % 10) t[n++] = (char)('0' + v % 10);
  }
  put(w, t, n);
}

/* Writes a document: complete (full) or the changes since the last push (and then
 * records them as reported when commit is set). */
static size_t build(sfu_audio_signals_t *s, uint64_t now_us, int full, int commit) {
  wr_t w = {s->buf, 0, s->cap, 0};
  int any = 0, first;
  put(&w, "{", 1);
  if (full) {
    puts_(&w, "\"f\":1");
    any = 1;
  }
  /* "v": volume */
  first = 1;
  for (int i = 0; i < s->max; i++) {
    entry_t *e = &s->e[i];
    if (!e->used || e->gone) continue;
    if (!full && e->rep_v >= 0 && abs(e->vol - e->rep_v) < 3 && !(e->vol == 0 && e->rep_v != 0))
      continue;
    if (first) puts_(&w, any ? ",\"v\":{" : "\"v\":{");
    put_key(&w, e->id, &first);
    put(&w, ":", 1);
    put_hundredths(&w, e->vol);
    any = 1;
    if (commit) e->rep_v = e->vol;
  }
  if (!first) put(&w, "}", 1);
  /* "m": muted */
  first = 1;
  for (int i = 0; i < s->max; i++) {
    entry_t *e = &s->e[i];
    if (!e->used || e->gone) continue;
    int m = is_muted(e, now_us);
    if (!full && e->rep_m == m) continue;
    if (first) puts_(&w, any ? ",\"m\":{" : "\"m\":{");
    put_key(&w, e->id, &first);
    puts_(&w, m ? ":1" : ":0");
    any = 1;
    if (commit) e->rep_m = (int8_t)m;
  }
  if (!first) put(&w, "}", 1);
  /* "s": signal strength */
  first = 1;
  for (int i = 0; i < s->max; i++) {
    entry_t *e = &s->e[i];
    if (!e->used || e->gone) continue;
    if (!full && e->rep_s == e->strength2) continue;
    if (first) puts_(&w, any ? ",\"s\":{" : "\"s\":{");
    put_key(&w, e->id, &first);
    put(&w, ":", 1);
    put_hundredths(&w, e->strength2 * 50);
    any = 1;
    if (commit) e->rep_s = (int8_t)e->strength2;
  }
  if (!first) put(&w, "}", 1);
  /* "o": the whole order when it changed */
  int same = s->n_order == s->n_rep_order &&
             memcmp(s->order, s->rep_order, (size_t)s->n_order * sizeof(int)) == 0;
  if (full || !same) {
    puts_(&w, any ? ",\"o\":[" : "\"o\":[");
    first = 1;
    for (int k = 0; k < s->n_order; k++) put_key(&w, s->e[s->order[k]].id, &first);
    put(&w, "]", 1);
    any = 1;
    if (commit) {
      memcpy(s->rep_order, s->order, sizeof s->order);
      s->n_rep_order = s->n_order;
    }
  }
  /* "x": gone since the last push (a complete document implies them) */
  first = 1;
  for (int i = 0; i < s->max; i++) {
    entry_t *e = &s->e[i];
    if (!e->used || !e->gone) continue;
    if (!full) {
      if (first) puts_(&w, any ? ",\"x\":[" : "\"x\":[");
      put_key(&w, e->id, &first);
      any = 1;
    }
    if (commit) e->used = 0;
  }
  if (!first) put(&w, "]", 1);
  put(&w, "}", 1);
  if (w.fail || !any) return 0;
  s->buf[w.len] = 0;
  return w.len;
}

static void close_period(sfu_audio_signals_t *s) {
  for (int i = 0; i < s->max; i++) {
    entry_t *e = &s->e[i];
    if (!e->used || e->gone) continue;
    e->vol = volume_of(e->peak);
    e->peak = 0;
  }
}

size_t sfu_audio_signals_poll(sfu_audio_signals_t *s, uint64_t now_us, const char **json) {
  if (s->pushed_once && now_us - s->last_push_us < SFU_SIGNALS_PERIOD_US) return 0;
  s->last_push_us = now_us;
  close_period(s);
  int full = s->full_next;
  size_t n = build(s, now_us, full, 1);
  s->pushed_once = 1;
  s->full_next = 0;
  if (n && json) *json = s->buf;
  return n;
}

size_t sfu_audio_signals_snapshot(sfu_audio_signals_t *s, uint64_t now_us, const char **json) {
  size_t n = build(s, now_us, 1, 0);
  if (n && json) *json = s->buf;
  return n;
}

int sfu_audio_signals_get(const sfu_audio_signals_t *s, int slot, uint64_t now_us,
                          sfu_audio_signal_t *out) {
  const entry_t *e = get(s, slot);
  if (!e) return SFU_ENOENT;
  out->volume = (float)e->vol / 100.0f;
  out->muted = is_muted(e, now_us);
  out->strength = (float)e->strength2 * 0.5f;
  out->order = -1;
  for (int k = 0; k < s->n_order; k++)
    if (s->order[k] == slot) out->order = k;
  return 0;
}
