/* The audio mixer's cost per 20 ms tick (issue 9, "Speed"): meetings of 10, 50 and 250
 * attendees with 1, 3 and 5 talkers, beside a naive mixer that encodes once per listener,
 * measured in the same run.
 *
 * Method. Every attendee sends and receives audio (mono, 32 kbps, the defaults). The
 * talkers' sources are synthetic: a tone at a different frequency each, copied as PCM
 * from a table (no Opus decode: the receive side's decode is reported apart, below);
 * the others peek a silent level and are pulled with decode = 0, as the contract says.
 * send() only touches the packet (no socket, no SRTP). A virtual clock; 100 ticks of
 * warm-up (the encoder pool grows to its high-water mark), then the timed ticks.
 *
 * The naive mixer is what the encode sharing replaces: the same mix (the talkers'
 * sum), then for each listener its own mix-minus-self, the same soft limiter and its
 * own libopus encoder (one per listener: 250 x 43 KB), same settings.
 *
 * Reported per tick: CPU ns (CLOCK_THREAD_CPUTIME_ID: the machine is shared), user-space
 * instructions (perf_event_open if the kernel allows; else run under callgrind: valgrind
 * --tool=callgrind
 * --toggle-collect=bench_stage_mixer bench_mixer), libopus encodes, allocations
 * (interposed allocator: must be 0 after warm-up); memory per attendee; and the cost of
 * one libopus decode of a 20 ms frame (what the receive side adds per talker).
 *
 * Usage: bench_mixer [--ticks=N (default 500)] [--naive-ticks=N (default 50)]
 *                    [--only=ATTENDEES:TALKERS] [--json] [--complexity=C]
 */
#include <inttypes.h>
#include <linux/perf_event.h>
#include <math.h>
#include <opus/opus.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "media/mixer_internal.h"
#include "sfu/audio_in.h"
#include "sfu/limiter.h"
#include "sfu/mixer.h"

#include "alloc_count.h"

#define TABLE 48000 /* one second of each tone: whole cycles for integer frequencies */

typedef struct {
  float *table; /* NULL: silent */
  int pos;
  float level;
} src_t;

static float src_peek(void *p, uint64_t now_us) {
  src_t *s = p;
  return s->table ? s->level : 0.0f;
}

static sfu_audio_pull_t src_pull(void *p, uint64_t now_us, int decode, float *pcm, int *ch) {
  src_t *s = p;
  if (!s->table) return SFU_AUDIO_SILENT;
  if (decode) {
    memcpy(pcm, s->table + s->pos, SFU_AUDIO_FRAME * sizeof(float));
    *ch = 1;
  }
  s->pos = (s->pos + SFU_AUDIO_FRAME) % TABLE;
  return decode ? SFU_AUDIO_PCM : SFU_AUDIO_SILENT;
}

static const sfu_audio_source_ops_t src_ops = {src_peek, src_pull};

static volatile uint64_t sink;
static uint64_t sent_bytes, sent_packets;
static void on_send(void *user, void *lu, const uint8_t *rtp, size_t len) {
  sink += rtp[len - 1]; /* touch it */
  sent_bytes += len;
  sent_packets++;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU, not wall: the machine is shared */
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int perf_open(void) {
  struct perf_event_attr a;
  memset(&a, 0, sizeof a);
  a.size = sizeof a;
  a.type = PERF_TYPE_HARDWARE;
  a.config = PERF_COUNT_HW_INSTRUCTIONS;
  a.disabled = 1;
  a.exclude_kernel = 1;
  a.exclude_hv = 1;
  return (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
}

static float *tables[5];
static const double FREQS[5] = {300, 400, 500, 600, 700}; /* f0 = FREQS / 2.5 */
static int complexity = SFU_MIXER_DEFAULT_COMPLEXITY;

typedef struct {
  double ns, instr, encodes, allocs, bytes_per_packet;
} result_t;

/* ---- the mixer under test ---- */

static void mixer_ticks(sfu_mixer_t *m, uint64_t *now, int ticks) {
  for (int k = 0; k < ticks; k++) {
    sfu_mixer_tick(m, *now);
    *now += SFU_MIXER_TICK_US;
  }
}
/* The timed ticks alone (callgrind: --toggle-collect=bench_stage_mixer). */
__attribute__((noinline)) void bench_stage_mixer(sfu_mixer_t *m, uint64_t *now, int ticks);
void bench_stage_mixer(sfu_mixer_t *m, uint64_t *now, int ticks) { mixer_ticks(m, now, ticks); }

static void measure(int fd, uint64_t *t0, uint64_t *i0) {
  if (fd >= 0) {
    ioctl(fd, PERF_EVENT_IOC_RESET, 0);
    ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
  }
  *i0 = 0;
  alloc_calls = 0;
  alloc_counting = 1;
  *t0 = now_ns();
}

static void measured(int fd, uint64_t t0, double *ns, double *instr, double *allocs) {
  uint64_t t = now_ns() - t0;
  alloc_counting = 0;
  uint64_t in = 0;
  if (fd >= 0) {
    ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
    if (read(fd, &in, sizeof in) != sizeof in) in = 0;
  }
  *ns = (double)t;
  *instr = (double)in;
  *allocs = (double)alloc_calls;
}

static result_t run_mixer(int n, int talkers, int ticks, int fd, size_t *pool_bytes) {
  src_t *src = calloc((size_t)n, sizeof *src);
  sfu_mixer_config_t cfg = {.send = on_send, .complexity = complexity};
  sfu_mixer_t *m = sfu_mixer_new(&cfg);
  for (int i = 0; i < n; i++) {
    char id[40];
    snprintf(id, sizeof id, "00000000-0000-4000-8000-%012d", i);
    if (i < talkers) {
      src[i].table = tables[i % 5];
      src[i].level = 0.1f;
    }
    sfu_mixer_attendee_desc_t d = {.id = id,
                                   .ops = &src_ops,
                                   .src = &src[i],
                                   .can_send = 1,
                                   .can_receive = 1,
                                   .ssrc = 1000u + (uint32_t)i,
                                   .payload_type = 111,
                                   .listener_user = &src[i]};
    if (!sfu_mixer_attendee_add(m, &d, 0)) abort();
  }
  uint64_t now = 0, t0, i0;
  mixer_ticks(m, &now, 100); /* warm-up */
  sfu_mixer_stats_t s0, s1;
  sfu_mixer_stats(m, &s0);
  uint64_t b0 = sent_bytes, p0 = sent_packets;
  result_t r;
  measure(fd, &t0, &i0);
  bench_stage_mixer(m, &now, ticks);
  measured(fd, t0, &r.ns, &r.instr, &r.allocs);
  sfu_mixer_stats(m, &s1);
  r.ns /= ticks;
  r.instr /= ticks;
  r.allocs /= ticks;
  r.encodes = (double)(s1.encodes - s0.encodes) / ticks;
  r.bytes_per_packet = (double)(sent_bytes - b0) / (double)(sent_packets - p0);
  *pool_bytes = s1.pool_bytes;
  sfu_mixer_free(m);
  free(src);
  return r;
}

/* ---- the naive mixer: one encoder per listener ---- */

typedef struct {
  OpusEncoder *enc;
  sfu_limiter_t lim;
  uint16_t seq;
  uint32_t ts;
} naive_listener_t;

typedef struct {
  int n, talkers;
  src_t *src;
  naive_listener_t *l;
  float pcm[5][SFU_AUDIO_FRAME], mix[SFU_AUDIO_FRAME], work[SFU_AUDIO_FRAME];
  uint8_t pkt[12 + 1275];
} naive_t;

static void naive_ticks(naive_t *nv, int ticks, uint64_t *encodes) {
  for (int k = 0; k < ticks; k++) {
    memset(nv->mix, 0, sizeof nv->mix);
    for (int t = 0; t < nv->talkers; t++) {
      int ch;
      src_pull(&nv->src[t], 0, 1, nv->pcm[t], &ch);
      for (int i = 0; i < SFU_AUDIO_FRAME; i++) nv->mix[i] += nv->pcm[t][i];
    }
    for (int j = nv->talkers; j < nv->n; j++) {
      int ch;
      src_pull(&nv->src[j], 0, 0, NULL, &ch);
    }
    for (int j = 0; j < nv->n; j++) {
      naive_listener_t *l = &nv->l[j];
      memcpy(nv->work, nv->mix, sizeof nv->work);
      if (j < nv->talkers)
        for (int i = 0; i < SFU_AUDIO_FRAME; i++) nv->work[i] -= nv->pcm[j][i];
      sfu_limiter_process(&l->lim, nv->work, SFU_AUDIO_FRAME, 1);
      int len = opus_encode_float(l->enc, nv->work, SFU_AUDIO_FRAME, nv->pkt + 12, 1275);
      (*encodes)++;
      if (len > 2) {
        nv->pkt[2] = (uint8_t)(l->seq >> 8);
        nv->pkt[3] = (uint8_t)l->seq++;
        on_send(NULL, l, nv->pkt, 12 + (size_t)len);
      }
      l->ts += SFU_AUDIO_FRAME;
    }
  }
}

/* The timed ticks alone (callgrind: --toggle-collect=bench_stage_naive). */
__attribute__((noinline)) void bench_stage_naive(naive_t *nv, int ticks, uint64_t *encodes);
void bench_stage_naive(naive_t *nv, int ticks, uint64_t *encodes) {
  naive_ticks(nv, ticks, encodes);
}

static result_t run_naive(int n, int talkers, int ticks, int fd) {
  naive_t *nv = calloc(1, sizeof *nv);
  nv->n = n;
  nv->talkers = talkers;
  nv->src = calloc((size_t)n, sizeof *nv->src);
  nv->l = calloc((size_t)n, sizeof *nv->l);
  for (int i = 0; i < talkers; i++) {
    nv->src[i].table = tables[i % 5];
    nv->src[i].level = 0.1f;
  }
  for (int j = 0; j < n; j++) {
    int err;
    nv->l[j].enc = opus_encoder_create(SFU_AUDIO_RATE, 1, OPUS_APPLICATION_VOIP, &err);
    opus_encoder_ctl(nv->l[j].enc, OPUS_SET_BITRATE(SFU_MIXER_DEFAULT_BITRATE));
    opus_encoder_ctl(nv->l[j].enc, OPUS_SET_COMPLEXITY(complexity));
    opus_encoder_ctl(nv->l[j].enc, OPUS_SET_INBAND_FEC(1));
    sfu_limiter_init(&nv->l[j].lim);
  }
  uint64_t enc = 0, t0, i0;
  naive_ticks(nv, 10, &enc); /* warm-up */
  result_t r;
  enc = 0;
  measure(fd, &t0, &i0);
  bench_stage_naive(nv, ticks, &enc);
  measured(fd, t0, &r.ns, &r.instr, &r.allocs);
  r.ns /= ticks;
  r.instr /= ticks;
  r.allocs /= ticks;
  r.encodes = (double)enc / ticks;
  r.bytes_per_packet = 0;
  for (int j = 0; j < n; j++) opus_encoder_destroy(nv->l[j].enc);
  free(nv->l);
  free(nv->src);
  free(nv);
  return r;
}

/* ---- what the receive side adds per talker: one libopus decode of 20 ms ---- */
static double decode_ns(int fd, double *instr) {
  int err;
  OpusEncoder *e = opus_encoder_create(SFU_AUDIO_RATE, 1, OPUS_APPLICATION_VOIP, &err);
  OpusDecoder *d = opus_decoder_create(SFU_AUDIO_RATE, 1, &err);
  opus_encoder_ctl(e, OPUS_SET_BITRATE(32000));
  enum { FRAMES = 250 };
  static uint8_t pkt[FRAMES][400];
  static int len[FRAMES];
  static float pcm[SFU_AUDIO_FRAME];
  /* a voice-like signal: two tones, amplitude-modulated at a syllable rate */
  for (int f = 0; f < FRAMES; f++) {
    for (int i = 0; i < SFU_AUDIO_FRAME; i++) {
      double t = (double)(f * SFU_AUDIO_FRAME + i) / SFU_AUDIO_RATE;
      pcm[i] = (float)((0.5 + 0.5 * sin(2 * M_PI * 4 * t)) *
                       (0.2 * sin(2 * M_PI * 220 * t) + 0.1 * sin(2 * M_PI * 1330 * t)));
    }
    len[f] = opus_encode_float(e, pcm, SFU_AUDIO_FRAME, pkt[f], 400);
  }
  uint64_t t0, i0;
  double ns, in, al;
  int rounds = 8;
  measure(fd, &t0, &i0);
  for (int r = 0; r < rounds; r++)
    for (int f = 0; f < FRAMES; f++)
      if (opus_decode_float(d, pkt[f], len[f], pcm, SFU_AUDIO_FRAME, 0) != SFU_AUDIO_FRAME) abort();
  measured(fd, t0, &ns, &in, &al);
  opus_encoder_destroy(e);
  opus_decoder_destroy(d);
  *instr = in / (rounds * FRAMES);
  return ns / (rounds * FRAMES);
}

int main(int argc, char **argv) {
  int ticks = 500, naive_ticks = 50, json = 0, only_n = 0, only_t = 0;
  for (int i = 1; i < argc; i++) {
    if (strncmp(argv[i], "--ticks=", 8) == 0)
      ticks = atoi(argv[i] + 8);
    else if (strncmp(argv[i], "--naive-ticks=", 14) == 0)
      naive_ticks = atoi(argv[i] + 14);
    else if (strncmp(argv[i], "--complexity=", 13) == 0)
      complexity = atoi(argv[i] + 13);
    else if (strncmp(argv[i], "--only=", 7) == 0)
      sscanf(argv[i] + 7, "%d:%d", &only_n, &only_t);
    else if (strcmp(argv[i], "--json") == 0)
      json = 1;
    else {
      fprintf(stderr,
              "usage: bench_mixer [--ticks=N] [--naive-ticks=N] [--only=A:T] [--json] "
              "[--complexity=C]\n");
      return 2;
    }
  }
  if (ticks < 1) ticks = 1;
  for (int k = 0; k < 5; k++) {
    tables[k] = malloc(TABLE * sizeof(float));
    /* Voice-like rather than a bare sine (libopus picks its mode from the signal: a
     * pure tone can go to CELT-only and cost a fraction of a voice): a fundamental at
     * f0 with 5 harmonics falling 6 dB/octave, amplitude-modulated at a syllable rate
     * (3-5 Hz); whole cycles in the 1 s table. */
    double f0 = FREQS[k] / 2.5, am = 3 + k % 3;
    for (int i = 0; i < TABLE; i++) {
      double t = (double)i / SFU_AUDIO_RATE, v = 0;
      for (int h = 1; h <= 5; h++) v += sin(2 * M_PI * f0 * h * t + h) / h;
      tables[k][i] = (float)(0.08 * (0.6 + 0.4 * sin(2 * M_PI * am * t)) * v);
    }
  }
  int fd = perf_open();
  static const int sizes[3] = {10, 50, 250}, talks[3] = {1, 3, 5};
  double dinstr;
  double dns = decode_ns(fd, &dinstr);
  if (json)
    printf("{\"complexity\": %d, \"decode_ns\": %.0f, \"decode_instr\": %.0f, \"results\": [\n",
           complexity, dns, dinstr);
  else
    printf(
        "bench_mixer: mono 32 kbps, complexity %d, %d ticks (naive: %d), synthetic sources "
        "(PCM tones, no decode)\n%-10s %-7s %12s %14s %8s %8s %12s %14s %8s\n",
        complexity, ticks, naive_ticks, "attendees", "talkers", "us/tick", "instr/tick", "encodes",
        "allocs", "naive us", "naive instr", "naive enc");
  int first = 1;
  size_t pool_bytes = 0;
  for (int a = 0; a < 3; a++)
    for (int t = 0; t < 3; t++) {
      int n = sizes[a], tk = talks[t];
      if (only_n && (n != only_n || tk != only_t)) continue;
      result_t r = run_mixer(n, tk, ticks, fd, &pool_bytes);
      result_t nv = naive_ticks > 0 ? run_naive(n, tk, naive_ticks, fd) : (result_t){0};
      if (json)
        printf(
            "%s{\"attendees\": %d, \"talkers\": %d, \"ns\": %.0f, \"instr\": %.0f, "
            "\"encodes\": %.2f, \"allocs\": %.3f, \"pool_bytes\": %zu, \"naive_ns\": %.0f, "
            "\"naive_instr\": %.0f, \"naive_encodes\": %.1f}\n",
            first ? "" : ",", n, tk, r.ns, r.instr, r.encodes, r.allocs, pool_bytes, nv.ns,
            nv.instr, nv.encodes);
      else
        printf("%-10d %-7d %12.1f %14.0f %8.2f %8.3f %12.1f %14.0f %8.1f\n", n, tk, r.ns / 1e3,
               r.instr, r.encodes, r.allocs, nv.ns / 1e3, nv.instr, nv.encodes);
      first = 0;
    }
  size_t per = sfu_mixer_bytes_per_attendee();
  if (json) {
    printf("], \"bytes_per_attendee\": %zu, \"meeting_bytes\": %zu, \"encoder_bytes\": %d, "
           "\"audio_in_bytes\": %zu}\n",
           per, sizeof(struct sfu_mixer), opus_encoder_get_size(1), sfu_audio_in_memory());
  } else {
    printf("instructions: %s\n",
           fd >= 0 ? "perf_event_open" : "n/a (perf_event_open refused; use callgrind)");
    printf(
        "libopus decode of one 20 ms mono frame (32 kbps, voice-like): %.1f us, %.0f "
        "instructions: the receive side's cost per talker per tick\n",
        dns / 1e3, dinstr);
    printf(
        "memory: %zu bytes per attendee (mixer + signals), %zu per meeting (buffers), "
        "%d per mono encoder in the pool (pool high-water in the last run: %zu bytes)\n",
        per, sizeof(struct sfu_mixer), opus_encoder_get_size(1), pool_bytes);
    printf("memory: %zu bytes per sending attendee's receive side (sfu_audio_in_memory: jitter "
           "buffer + stereo decoder)\n",
           sfu_audio_in_memory());
  }
  if (fd >= 0) close(fd);
  return 0;
}
