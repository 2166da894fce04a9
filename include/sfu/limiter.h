/* Soft limiter for the audio mixer's output (issue 9: "mix wide, limit softly").
 *
 * The mixer sums its talkers in float, so the sum itself never wraps; what must not
 * happen is a sum above full scale reaching the encoder (Opus would code the clipped
 * waveform, a crackle). Two stages, no lookahead (a lookahead limiter delays the whole
 * mix by its window, and the issue allows the mixer one 20 ms frame in all):
 *   1. a gain envelope per 1 ms block: when a block's peak exceeds SFU_LIMITER_THRESHOLD
 *      the gain falls at once to threshold / peak (ramped linearly across the block, so
 *      no step in the waveform), and recovers towards 1 with a 50 ms release, so that a
 *      burst is turned down as a whole instead of having its peaks flattened;
 *   2. a soft knee on each sample: above SFU_LIMITER_THRESHOLD a tanh curve bends the
 *      sample towards SFU_LIMITER_CEILING, which it never exceeds. It only acts while the
 *      envelope's ramp is still arriving (the first samples of a sudden burst), so the
 *      distortion it adds is brief; it is what guarantees the bound without lookahead.
 * The ceiling (-3 dBFS) leaves room for the codec's own overshoot (measured: a dense mix
 * of 5 full-scale tones at 32 kbps decodes up to 0.89 with this ceiling, 0.93 with a
 * -2 dBFS one), so the listener's decoded output stays below 1.0 too; the -6 dBFS
 * threshold is above the peaks of two or three normal voices (-20..-30 dBov RMS each),
 * so an ordinary mix is never touched.
 *
 * The state is a few floats, copied by value when a listener's stream forks from the
 * shared one (mixer_out.c). No allocation, one thread. */
#ifndef SFU_LIMITER_H
#define SFU_LIMITER_H

#include <stdint.h>

#define SFU_LIMITER_THRESHOLD 0.50f /* -6 dBFS: envelope target and knee start */
#define SFU_LIMITER_CEILING 0.71f   /* -3 dBFS: never exceeded */
#define SFU_LIMITER_BLOCK 48        /* frames per envelope step: 1 ms at 48 kHz */

/* Owned by value inside its owner (one per encoded stream). */
typedef struct {
  float gain;              /* current envelope gain, 0 < gain <= 1 */
  uint64_t engaged_frames; /* 20 ms frames in which it reduced anything */
} sfu_limiter_t;

void sfu_limiter_init(sfu_limiter_t *l);
/* Limits frames x channels interleaved samples in place. Returns 1 when it changed any
 * sample (the envelope was below 1 or the knee bent a sample), else 0. */
int sfu_limiter_process(sfu_limiter_t *l, float *x, int frames, int channels);

#endif
