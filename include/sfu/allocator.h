/* The allocator (issue 8): per viewer, across the video streams it subscribed to, which
 * simulcast layer each stream gets from the viewer's downlink estimate.
 *
 * Budget. min(estimate, cap); the cap is the receivers' total (default 6 Mbps,
 * requirements.md "receivers under about 6 Mbps", configurable per meeting). An
 * estimate of 0 means "none yet": the budget is the cap.
 *
 * Ladder. Each stream's ladder is its usable rungs, cheapest first: its active layers
 * within the viewer's MaxLayer / MaxHeight. The lowest of them (the floor) always is a
 * rung; a layer above it and above the current one only once it has been active for
 * min_age_us (a layer that just came back is not proven yet) and its bitrate is measured
 * (not 0); layers up to the current one need neither. A cap never pauses a stream:
 * when no active layer fits it, the floor is the lowest active layer. Today a rung is a
 * spatial layer with all its temporal layers; temporal layers (frame-rate drops) will
 * add rungs (layer, temporal) with fractional bitrates between the spatial ones, with no
 * change to the walk below (not done: the router does not filter VP8 temporal layers
 * yet; the output will then need a temporal index beside out[i]).
 *
 * Walk. Order: content shares first, then by priority (higher first), then subscription
 * order; a tier is a run of streams with equal (content, priority). First every stream's
 * floor, in order; a floor that does not fit beside the floors before it pauses its
 * stream (so streams are paused from the end of the order) and makes the result
 * `insufficient` (the router's sfu:DownlinkInsufficient). Then tier by tier, round-robin
 * within the tier, each stream climbs one rung per round while the budget allows: a rung
 * at or below the current layer costs its bitrate, a rung above it its bitrate × (1 +
 * margin). A higher tier climbs to the top before a lower tier climbs at all, so a
 * content share keeps its top layer while cameras drop.
 *
 * Stability. A target below the current layer is taken at once (over budget, a capped
 * or stopped layer: a stopped layer is replaced by the next lower one, no hold). A target
 * above it is taken only once the walk has reached it (or higher) on every run for
 * hold_us (the lowest rung reached during the hold is taken, the rest of the way needs
 * a hold of its own), the budget it needs stays reserved meanwhile, and never within
 * calm_us of a down-switch the budget caused (the whole viewer stays conservative). A
 * stream paused by the budget resumes like an up-switch (margin, hold, calm); a stream
 * new to the allocator gets its floor at once.
 *
 * Runs. Not on every feedback: sfu_alloc_due says when (estimate moved > move_pct,
 * period_us passed, inputs changed, or a hold / calm period the last run waits for ends).
 *
 * Plain value, no allocation; one viewer per sfu_alloc_t; one thread. */
#ifndef SFU_ALLOCATOR_H
#define SFU_ALLOCATOR_H

#include <stddef.h>
#include <stdint.h>

/* Streams per viewer: 25 cameras + 2 content shares per meeting (requirements.md). */
#define SFU_ALLOC_MAX_STREAMS 32
#define SFU_ALLOC_MAX_LAYERS 3
#define SFU_ALLOC_DEFAULT_CAP_BPS 6000000u
#define SFU_ALLOC_DEFAULT_HOLD_US 1500000u
#define SFU_ALLOC_DEFAULT_CALM_US 5000000u
#define SFU_ALLOC_DEFAULT_MIN_AGE_US 2000000u
#define SFU_ALLOC_DEFAULT_PERIOD_US 2000000u
#define SFU_ALLOC_DEFAULT_MARGIN_PCT 10u
#define SFU_ALLOC_DEFAULT_MOVE_PCT 15u

typedef struct {
  uint32_t bitrate_bps; /* measured; 0: not yet (only the floor then) */
  uint16_t height;      /* 0 unknown (passes MaxHeight) */
  uint8_t active;
  uint64_t active_since_us; /* start of the current active period */
} sfu_alloc_layer_t;

typedef struct {
  uint32_t stream_id;
  uint8_t content;     /* content share: first in the order */
  int priority;        /* higher first; default 0 (Subscribe's optional Priority) */
  int8_t max_layer;    /* -1 none; the viewer's cap (Subscribe MaxLayer), rank 0 = lowest */
  uint16_t max_height; /* 0 none (Subscribe MaxHeight): taller layers are not used */
  size_t n_layers;     /* lowest first; at most SFU_ALLOC_MAX_LAYERS are read */
  sfu_alloc_layer_t layers[SFU_ALLOC_MAX_LAYERS];
  int8_t current; /* the layer the viewer gets or is switching to (the router's target); -1 none */
} sfu_alloc_stream_t;

/* Per stream memory, found again by stream_id on the next run. */
typedef struct {
  uint32_t stream_id;
  int8_t up_layer; /* the rung held since up_since_us (-1: no up-switch pending) */
  uint8_t paused;  /* paused by the budget: resuming is an up-switch */
  uint64_t up_since_us;
} sfu_alloc_slot_t;

typedef struct {
  /* Configuration: sfu_alloc_init sets the defaults above; change after init. */
  uint64_t hold_us, calm_us, min_age_us, period_us;
  uint32_t margin_pct, move_pct;
  /* State. */
  uint8_t ran, calm; /* calm: down_at_us is set */
  uint64_t last_run_us, last_estimate_bps;
  uint64_t down_at_us; /* last down-switch the budget caused */
  uint64_t wake_us;    /* 0, or when a pending hold / calm period ends */
  size_t n_slots;
  sfu_alloc_slot_t slots[SFU_ALLOC_MAX_STREAMS];
} sfu_alloc_t;

typedef struct {
  uint64_t budget_bps;    /* min(estimate, cap) used */
  uint64_t allocated_bps; /* sum of the targets' bitrates */
  uint64_t required_bps;  /* sum of the floors (lowest usable layers) */
  uint8_t insufficient;   /* some stream is paused by the budget */
  size_t n_paused;
  uint32_t paused[SFU_ALLOC_MAX_STREAMS]; /* their stream ids, in input order */
  /* The budget the next upgrade (or resume) in the order would need, for the probe
   * controller; 0 when nothing is left to gain or the cap forbids it. */
  uint64_t want_bps;
} sfu_alloc_result_t;

void sfu_alloc_init(sfu_alloc_t *a);

/* Whether to run now: never ran, `changed` (the caller's inputs changed: subscriptions,
 * caps, a layer started or stopped), the estimate moved by > move_pct since the last
 * run, period_us passed, or a hold / calm period the last run left pending ended. */
int sfu_alloc_due(const sfu_alloc_t *a, uint64_t now_us, uint64_t estimate_bps, int changed);

/* One run over s[0..n) (input order = subscription order). out[i] = the target layer of
 * stream i (-1: paused, or nothing flows). cap_bps 0: SFU_ALLOC_DEFAULT_CAP_BPS. Streams
 * past SFU_ALLOC_MAX_STREAMS get -1. res may be NULL. */
void sfu_alloc_run(sfu_alloc_t *a, uint64_t now_us, uint64_t estimate_bps, uint64_t cap_bps,
                   const sfu_alloc_stream_t *s, size_t n, int8_t *out, sfu_alloc_result_t *res);

#endif
