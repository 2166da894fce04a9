/* Keyframe request throttling (see sfu/keyframe_req.h). */
#include "sfu/keyframe_req.h"

#include <string.h>

void sfu_kf_req_init(sfu_kf_req_t *k) { memset(k, 0, sizeof *k); }

/* clamp(2 x RTT, 200 ms, 1 s): a keyframe needs one RTT for the request to reach the
 * publisher and the first packets to come back, plus the encoder's time; 2 x RTT covers
 * both without repeating before an answer could possibly arrive. */
static uint64_t repeat_after(uint64_t rtt_us) {
  if (rtt_us == 0) rtt_us = SFU_KF_DEFAULT_RTT_US;
  uint64_t t = rtt_us > SFU_KF_REPEAT_MAX_US ? SFU_KF_REPEAT_MAX_US : 2 * rtt_us;
  if (t < SFU_KF_REPEAT_MIN_US) t = SFU_KF_REPEAT_MIN_US;
  if (t > SFU_KF_REPEAT_MAX_US) t = SFU_KF_REPEAT_MAX_US;
  return t;
}

static int send_now(sfu_kf_req_t *k, uint64_t now_us, uint64_t rtt_us) {
  k->last_sent_us = now_us;
  k->repeat_at_us = now_us + repeat_after(rtt_us);
  k->sent++;
  return 1;
}

int sfu_kf_req_need(sfu_kf_req_t *k, uint64_t now_us, uint64_t rtt_us) {
  if (k->pending) {
    /* One is outstanding (or deferred): this need rides on it, unless its repeat is due
     * anyway (the timer has not fired yet). */
    if (now_us >= k->repeat_at_us) return send_now(k, now_us, rtt_us);
    k->folded++;
    return 0;
  }
  k->pending = 1;
  k->pending_since_us = now_us;
  if (k->sent == 0 || now_us >= k->last_sent_us + SFU_KF_MIN_INTERVAL_US)
    return send_now(k, now_us, rtt_us);
  /* A request went out less than an interval ago (and its keyframe came): this one
   * waits for the end of the interval. */
  k->repeat_at_us = k->last_sent_us + SFU_KF_MIN_INTERVAL_US;
  k->folded++;
  return 0;
}

int sfu_kf_req_poll(sfu_kf_req_t *k, uint64_t now_us, uint64_t rtt_us) {
  if (!k->pending || now_us < k->repeat_at_us) return 0;
  return send_now(k, now_us, rtt_us);
}

uint64_t sfu_kf_req_deadline(const sfu_kf_req_t *k) {
  return k->pending ? k->repeat_at_us : UINT64_MAX;
}

void sfu_kf_req_got_keyframe(sfu_kf_req_t *k, uint64_t now_us) {
  (void)now_us;
  k->pending = 0;
  k->pending_since_us = 0;
  k->repeat_at_us = 0;
}

int sfu_kf_viewer_allow(uint64_t *last_us, uint64_t now_us) {
  /* Stored as time + 1 so that 0 means "none yet" even for a request at time 0. */
  if (*last_us != 0 && now_us + 1 < *last_us + SFU_KF_MIN_INTERVAL_US) return 0;
  *last_us = now_us + 1;
  return 1;
}
