/* Keyframe request throttling (issue 7): when to send a PLI (RFC 4585 §6.3.1) or FIR
 * (RFC 5104 §4.3.1) to a publisher for one of its layers.
 *
 * Rules:
 *   - per publisher layer, all viewers folded: at most one request per
 *     SFU_KF_MIN_INTERVAL_US; whoever needs a keyframe while one is outstanding is
 *     folded into it;
 *   - a request that gets no keyframe within clamp(2 x RTT, 200 ms, 1 s) is repeated,
 *     until the keyframe comes (a PLI can be lost; RFC 4585 §3.4 leaves the repeat to
 *     the requester). RTT 0 = unknown: 100 ms, so the repeat comes after 200 ms;
 *   - a need within the interval after the last request is deferred to the end of the
 *     interval, not dropped (sfu_kf_req_deadline says when);
 *   - per viewer(-stream), the PLI/FIR it sends us count at most once per interval
 *     (sfu_kf_viewer_allow), so one viewer cannot make the publisher send keyframes
 *     back to back.
 * A new subscriber calls sfu_kf_req_need once: at most one request results.
 *
 * Plain values, sans-IO, no allocation; owner: the layer / viewer that embeds them. */
#ifndef SFU_KEYFRAME_REQ_H
#define SFU_KEYFRAME_REQ_H

#include <stdint.h>

#define SFU_KF_MIN_INTERVAL_US 200000ull
#define SFU_KF_REPEAT_MIN_US 200000ull /* clamp(2 x RTT, these) */
#define SFU_KF_REPEAT_MAX_US 1000000ull
#define SFU_KF_DEFAULT_RTT_US 100000ull /* rtt_us 0: unknown */

/* Per publisher layer. Zeroed = sfu_kf_req_init. */
typedef struct {
  uint64_t last_sent_us;     /* when the last request went out (valid if sent > 0) */
  uint64_t pending_since_us; /* when the outstanding need arose (valid if pending) */
  uint8_t pending;           /* a keyframe is needed and has not come yet */
  uint64_t repeat_at_us;     /* when the next (repeated or deferred) request is due */
  uint64_t sent, folded;     /* counters: requests sent, needs folded into one */
} sfu_kf_req_t;

void sfu_kf_req_init(sfu_kf_req_t *k);

/* Someone needs a keyframe of this layer now. 1: the caller sends a PLI/FIR to the
 * publisher now. 0: folded into an outstanding request, or deferred by the interval (a
 * later sfu_kf_req_poll says when). */
int sfu_kf_req_need(sfu_kf_req_t *k, uint64_t now_us, uint64_t rtt_us);

/* Timer: 1 if a repeated or deferred request must go out now (then it counts as sent). */
int sfu_kf_req_poll(sfu_kf_req_t *k, uint64_t now_us, uint64_t rtt_us);

/* When sfu_kf_req_poll will next return 1; UINT64_MAX if nothing is pending. */
uint64_t sfu_kf_req_deadline(const sfu_kf_req_t *k);

/* A keyframe of this layer arrived: nothing pending any more. */
void sfu_kf_req_got_keyframe(sfu_kf_req_t *k, uint64_t now_us);

/* Per viewer(-stream) throttle for the PLI/FIR a viewer sends us: 1 if this one counts
 * (the first, or >= SFU_KF_MIN_INTERVAL_US after the last that counted). *last_us is
 * opaque state owned by the caller, 0 = none yet. */
int sfu_kf_viewer_allow(uint64_t *last_us, uint64_t now_us);

#endif
