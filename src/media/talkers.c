/* Talker selection: smoothed levels, hold time, hysteresis (include/sfu/talkers.h). */
#include "sfu/talkers.h"

#include <string.h>

/* One-pole smoothers per 20 ms tick: 1 - exp(-20/60) and 1 - exp(-20/300). */
#define FAST_COEF 0.2835f
#define SLOW_COEF 0.0645f
#define REPLACE_RATIO 2.0f /* 6 dB */
#define ORDER_RATIO 1.25f  /* 2 dB */

void sfu_talkers_init(sfu_talkers_t *s, int max, uint64_t hold_us) {
  memset(s, 0, sizeof *s);
  if (max < 1) max = SFU_TALKERS_DEFAULT;
  if (max > SFU_TALKERS_MAX) max = SFU_TALKERS_MAX;
  s->max = max;
  s->hold_us = hold_us ? hold_us : SFU_TALKERS_DEFAULT_HOLD_US;
}

void sfu_talker_reset(sfu_talker_t *t) { memset(t, 0, sizeof *t); }

void sfu_talker_update(sfu_talker_t *t, float level, uint64_t now_us) {
  if (!(level >= 0)) return; /* unknown (or NaN): keep the last estimate */
  if (level > 1) level = 1;
  if (!t->known) {
    /* A first level starts the smoothers from the level itself: a talker that joins
     * mid-sentence is heard from its first frames. */
    t->fast = t->slow = level;
    t->known = 1;
  } else {
    t->fast += FAST_COEF * (level - t->fast);
    t->slow += SLOW_COEF * (level - t->slow);
  }
  if (t->fast >= SFU_TALKERS_THRESHOLD) t->loud_us = now_us;
}

static int remove_at(int *a, int *n, int k) {
  int v = a[k];
  memmove(a + k, a + k + 1, (size_t)(*n - k - 1) * sizeof *a);
  (*n)--;
  return v;
}

static int find(const int *a, int n, int v) {
  for (int k = 0; k < n; k++)
    if (a[k] == v) return k;
  return -1;
}

static int audible(const sfu_talker_t *t) {
  return t && t->eligible && t->known && t->fast >= SFU_TALKERS_THRESHOLD;
}

/* Drops talkers that are gone, no longer eligible, or quiet past the hold. */
static int expire(sfu_talkers_t *s, sfu_talker_t *const *v, int n, uint64_t now_us, int *set,
                  int *cnt) {
  int changed = 0;
  for (int k = 0; k < *cnt;) {
    int i = set[k];
    const sfu_talker_t *t = i < n ? v[i] : NULL;
    if (t && t->eligible && now_us - t->loud_us <= s->hold_us) {
      k++;
      continue;
    }
    if (t) ((sfu_talker_t *)t)->talking = 0;
    remove_at(set, cnt, k);
    changed = 1;
  }
  return changed;
}

/* The loudest audible non-talker of the given kind, or -1. */
static int loudest_waiting(sfu_talker_t *const *v, int n, int content) {
  int best = -1;
  for (int i = 0; i < n; i++) {
    const sfu_talker_t *t = v[i];
    if (!audible(t) || t->talking || t->content != content) continue;
    if (best < 0 || t->fast > v[best]->fast) best = i;
  }
  return best;
}

static void join(sfu_talker_t *t, uint64_t now_us) {
  t->talking = 1;
  t->since_us = now_us;
  t->loud_us = now_us;
}

static void reorder(sfu_talkers_t *s, sfu_talker_t *const *v) {
  /* Keep the previous order of those still talking, append newcomers, then let a
   * speaker pass the one before it only with a clear margin (n <= 16: bubble passes). */
  for (int k = 0; k < s->n_order;) {
    if (find(s->idx, s->n, s->order[k]) < 0)
      remove_at(s->order, &s->n_order, k);
    else
      k++;
  }
  for (int k = 0; k < s->n; k++)
    if (find(s->order, s->n_order, s->idx[k]) < 0) s->order[s->n_order++] = s->idx[k];
  for (int pass = 0; pass < s->n_order; pass++) {
    int swapped = 0;
    for (int k = 0; k + 1 < s->n_order; k++) {
      float a = v[s->order[k]]->slow, b = v[s->order[k + 1]]->slow;
      if (b > a * ORDER_RATIO) {
        int tmp = s->order[k];
        s->order[k] = s->order[k + 1];
        s->order[k + 1] = tmp;
        swapped = 1;
      }
    }
    if (!swapped) break;
  }
}

int sfu_talkers_select(sfu_talkers_t *s, sfu_talker_t *const *v, int n, uint64_t now_us) {
  int changed = expire(s, v, n, now_us, s->idx, &s->n);
  changed |= expire(s, v, n, now_us, s->content, &s->n_content);

  int c;
  while (s->n_content < SFU_TALKERS_MAX_CONTENT && (c = loudest_waiting(v, n, 1)) >= 0) {
    join(v[c], now_us);
    s->content[s->n_content++] = c;
    changed = 1;
  }
  while (s->n < s->max && (c = loudest_waiting(v, n, 0)) >= 0) {
    join(v[c], now_us);
    s->idx[s->n++] = c;
    changed = 1;
  }
  /* Full: at most one replacement per tick (the set moves by one voice at a time). */
  c = loudest_waiting(v, n, 0);
  if (c >= 0 && s->n == s->max) {
    /* With a single place the dominant speaker is the whole set: protecting it would let
     * nobody in until it falls silent, so the rule applies from two places on. */
    int dominant = s->max > 1 && s->n_order > 0 ? s->order[0] : -1, weak = -1;
    for (int k = 0; k < s->n; k++) {
      int i = s->idx[k];
      if (i == dominant || now_us - v[i]->since_us < SFU_TALKERS_MIN_TALK_US) continue;
      if (weak < 0 || v[i]->fast < v[s->idx[weak]]->fast) weak = k;
    }
    if (weak >= 0 && v[c]->fast > v[s->idx[weak]]->fast * REPLACE_RATIO) {
      v[s->idx[weak]]->talking = 0;
      join(v[c], now_us);
      s->idx[weak] = c;
      changed = 1;
    }
  }
  reorder(s, v);
  if (changed) s->changes++;
  return changed;
}

void sfu_talkers_forget(sfu_talkers_t *s, sfu_talker_t *const *v, int i) {
  int k;
  if ((k = find(s->idx, s->n, i)) >= 0) remove_at(s->idx, &s->n, k);
  if ((k = find(s->content, s->n_content, i)) >= 0) remove_at(s->content, &s->n_content, k);
  if ((k = find(s->order, s->n_order, i)) >= 0) remove_at(s->order, &s->n_order, k);
  if (v && v[i]) v[i]->talking = 0;
}
