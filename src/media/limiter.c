/* Soft limiter: gain envelope + tanh knee, no lookahead (include/sfu/limiter.h). */
#include "sfu/limiter.h"

#include <math.h>
#include <stddef.h>

/* Per 1 ms block: 1 - exp(-1 ms / 50 ms). 50 ms is slow enough that the gain does not
 * follow each cycle of a voice's pitch (which would modulate it: a rough, buzzy
 * sound) and fast enough that a quiet talker after a loud burst is not held down. */
#define RELEASE_COEF 0.0198013f

void sfu_limiter_init(sfu_limiter_t *l) {
  l->gain = 1.0f;
  l->engaged_frames = 0;
}

static inline float knee(float v) {
  const float k = SFU_LIMITER_THRESHOLD, room = SFU_LIMITER_CEILING - SFU_LIMITER_THRESHOLD;
  float a = fabsf(v);
  if (a <= k) return v;
  float y = k + room * tanhf((a - k) / room); /* slope 1 at the knee: no corner */
  return v < 0 ? -y : y;
}

int sfu_limiter_process(sfu_limiter_t *l, float *x, int frames, int channels) {
  int touched = 0;
  float g = l->gain;
  for (int b = 0; b < frames; b += SFU_LIMITER_BLOCK) {
    int n = frames - b < SFU_LIMITER_BLOCK ? frames - b : SFU_LIMITER_BLOCK;
    float *p = x + (size_t)b * channels;
    int len = n * channels;
    float peak = 0;
    for (int i = 0; i < len; i++) {
      float a = fabsf(p[i]);
      if (a > peak) peak = a;
    }
    float target = peak > SFU_LIMITER_THRESHOLD ? SFU_LIMITER_THRESHOLD / peak : 1.0f;
    float next = g + (1.0f - g) * RELEASE_COEF; /* release */
    if (next > target) next = target;           /* attack: at once */
    if (next > 0.9999f && g > 0.9999f && peak <= SFU_LIMITER_THRESHOLD) {
      g = 1.0f; /* the common case: nothing to do in this block */
      continue;
    }
    touched = 1;
    /* Ramp from g to next across the block: a step in gain would be a click. */
    float step = (next - g) / (float)n;
    for (int f = 0; f < n; f++) {
      float gf = g + step * (float)(f + 1);
      for (int c = 0; c < channels; c++) p[f * channels + c] = knee(p[f * channels + c] * gf);
    }
    g = next;
  }
  l->gain = g;
  if (touched) l->engaged_frames++;
  return touched;
}
