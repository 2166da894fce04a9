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
 * when no active layer fits it, the floor is the lowest active layer.
 *
 * Temporal rungs. A rung is a (spatial layer, max temporal layer) pair: a layer at its
 * full frame rate, or at a reduced one (TID <= t only: the router drops the other frames,
 * temporal_filter.h). A layer whose temporal layers are measured (n_temporal >= 2,
 * temporal_bps cumulative per TID) adds reduced rungs below its full rate:
 *   - the floor layer: all of them (T0, T0+T1, ...): a stream drops frame rate before it
 *     is paused, and its floor (what everyone gets first) is its lowest layer's T0;
 *   - a higher layer k: only its top temporal layer dropped (T0+T1 of 3 layers, T0 of 2:
 *     half the frames in libwebrtc's patterns), and only when that costs more than layer
 *     k-1's full rate (the rung below), so the ladder stays ordered by bitrate: between
 *     360p at 30 fps (500k) and 720p at 30 fps (1.5M) sits 720p at 15 fps (900k) with
 *     libwebrtc's 40/20/40 split. Why a higher layer's too: a budget between two layers
 *     is then used (900k gives 720p at 15 fps, not 360p with 400k left over: "a stream
 *     can drop frame rate before it drops resolution when that fits better"), and a
 *     budget that shrinks a little costs frames, not a keyframe: a temporal down-switch
 *     happens at the next frame with no keyframe request, a spatial one waits for the
 *     lower layer's keyframe. Why not its quarter rate (T0 of 3): 720p at 7.5 fps is a
 *     worse camera picture than 360p at 30 fps for about the same bits (600k vs 500k),
 *     and under a tight cap (250 kbit/s) 360p at 5 fps would displace 180p at 20 fps;
 *     only the lowest layer goes that low, where the alternative is a pause.
 *     A reduced rate that costs less than the layer below's full rate is left out: at that
 *     budget the lower resolution at full rate is the better picture (and cheaper switch);
 *     except the current rung, which stays one while its measured rate wanders around the
 *     layer below's (no spatial switch for measurement noise).
 * Streams without temporal information (no TID, H.264, VP9 for now) have exactly one
 * rung per layer, as before.
 *
 * Walk. Order: content shares first, then by priority (higher first), then subscription
 * order; a tier is a run of streams with equal (content, priority). First every stream's
 * floor, in order; a floor that does not fit beside the floors before it pauses its
 * stream (so streams are paused from the end of the order) and makes the result
 * `insufficient` (the router's sfu:DownlinkInsufficient). A stream that flows now keeps
 * its floor while keep_pct (75 %) of the floor's bitrate fits: it is paused only when the
 * budget is clearly short. Why: libwebrtc never pauses a camera by default
 * (enforce_min_bitrate); a frozen tile is worse than a link a little over its estimate;
 * and under a tight cap the delay-based estimate dips to 85 % of what the link carried
 * after each overuse (AIMD), so a floor that fits the link reads as not fitting half
 * the time (Chromium behind 250 kbit/s with the audio mix: a 170 kbit/s low layer paused
 * for seconds, test_chromium_video.py case 4). The layer a down-switch lands on counts
 * as flowing (it is the one the viewer goes to at once). And it is paused only once it
 * has not fitted for pause_hold_us (2 s): a cut that lasts less (the loss of a queue a
 * shaper dropped, the drain of a queue after a sudden cap) recovers within a second or
 * two, while a pause costs a frozen tile until a probe, a hold and a keyframe bring it
 * back (the same cap case: a 2.7 s freeze right after the cap was lifted). Then, round-robin over all
 * streams in order, each climbs its floor layer's reduced rungs up to its full rate
 * (everyone's lowest layer at full rate before anyone's higher; nothing to do without
 * temporal rungs). Then tier by tier, round-robin
 * within the tier, each stream climbs one rung per round while the budget allows: a rung
 * at or below the current rung costs its bitrate, a rung above it its bitrate × (1 +
 * margin). A higher tier climbs to the top before a lower tier climbs at all, so a
 * content share keeps its top layer while cameras drop.
 *
 * Stability (rungs compared in ladder order: layer, then temporal). A target below the
 * current rung is taken at once (over budget, a capped
 * or stopped layer: a stopped layer is replaced by the next lower one, no hold). A target
 * above it is taken only once the walk has reached it (or higher) on every run for
 * hold_us (the lowest rung reached during the hold is taken, the rest of the way needs
 * a hold of its own), the budget it needs stays reserved meanwhile, and never within
 * calm_us of a down-switch the budget caused (the whole viewer stays conservative). A
 * stream paused by the budget resumes with the margin and the hold but not the calm (a
 * frozen tile is worse than one more switch); a stream new to the allocator gets its
 * floor at once.
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
#define SFU_ALLOC_MAX_TEMPORAL 4 /* VP8's TID: 2 bits */
#define SFU_ALLOC_MAX_RUNGS (SFU_ALLOC_MAX_LAYERS * SFU_ALLOC_MAX_TEMPORAL)
#define SFU_ALLOC_DEFAULT_CAP_BPS 6000000u
#define SFU_ALLOC_DEFAULT_HOLD_US 1500000u
#define SFU_ALLOC_DEFAULT_CALM_US 5000000u
#define SFU_ALLOC_DEFAULT_MIN_AGE_US 2000000u
#define SFU_ALLOC_DEFAULT_PERIOD_US 2000000u
#define SFU_ALLOC_DEFAULT_MARGIN_PCT 10u
#define SFU_ALLOC_DEFAULT_MOVE_PCT 15u
#define SFU_ALLOC_DEFAULT_KEEP_PCT 75u
#define SFU_ALLOC_DEFAULT_PAUSE_HOLD_US 2000000u

typedef struct {
  uint32_t bitrate_bps; /* measured; 0: not yet (only the floor then) */
  uint16_t height;      /* 0 unknown (passes MaxHeight) */
  uint8_t active;
  uint64_t active_since_us; /* start of the current active period */
  /* Temporal layers measured: TIDs 0..n_temporal-1 flow (0 or 1: no reduced rates), and
   * temporal_bps[t] is the bitrate of TIDs <= t (0: not measured, no rung). */
  uint8_t n_temporal;
  uint32_t temporal_bps[SFU_ALLOC_MAX_TEMPORAL];
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
  /* current's max TID when it is a reduced rate; -1 (or not below the layer's top TID):
   * full rate. Read only for a layer with n_temporal >= 2. */
  int8_t current_tid;
} sfu_alloc_stream_t;

/* Per stream memory, found again by stream_id on the next run. */
typedef struct {
  uint32_t stream_id;
  int8_t up_rung; /* the rung (ladder order key) held since up_since_us (-1: none pending) */
  uint8_t paused; /* paused by the budget: resuming is an up-switch */
  uint64_t short_since_us; /* its flowing floor has not fitted since (0: it fits) */
  uint64_t up_since_us;
} sfu_alloc_slot_t;

/* Field order: what sfu_alloc_due reads first, in 48 bytes (the router asks every
 * viewer's allocator at every 20 ms tick, on state that has left the cache since). */
typedef struct {
  /* sfu_alloc_due's: state and configuration */
  uint8_t ran, calm; /* calm: down_at_us is set */
  uint32_t move_pct;
  uint64_t last_run_us, last_estimate_bps;
  uint64_t wake_us;    /* 0, or when a pending hold / calm period ends */
  uint64_t period_us;
  /* Configuration: sfu_alloc_init sets the defaults above; change after init. */
  uint64_t hold_us, calm_us, min_age_us;
  uint32_t margin_pct;
  uint32_t keep_pct; /* a flowing stream keeps its floor while this % of it fits */
  uint64_t pause_hold_us; /* ... and for this long after it stopped fitting */
  /* State. */
  uint64_t down_at_us; /* last down-switch the budget caused */
  size_t n_slots;
  sfu_alloc_slot_t slots[SFU_ALLOC_MAX_STREAMS];
} sfu_alloc_t;

typedef struct {
  uint64_t budget_bps;    /* min(estimate, cap) used */
  uint64_t allocated_bps; /* sum of the targets' bitrates */
  uint64_t required_bps;  /* sum of the floors (lowest usable rungs) */
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
 * stream i (-1: paused, or nothing flows); out_tid[i] (out_tid may be NULL) = its max
 * temporal layer, -1 for the full rate (every temporal layer). cap_bps 0:
 * SFU_ALLOC_DEFAULT_CAP_BPS. Streams past SFU_ALLOC_MAX_STREAMS get -1. res may be NULL. */
void sfu_alloc_run(sfu_alloc_t *a, uint64_t now_us, uint64_t estimate_bps, uint64_t cap_bps,
                   const sfu_alloc_stream_t *s, size_t n, int8_t *out, int8_t *out_tid,
                   sfu_alloc_result_t *res);

#endif
