/* Transport-wide CC feedback, receive side (see include/sfu/twcc_recv.h). */
#include "sfu/twcc_recv.h"

#include <string.h>

#include "sfu/err.h"
#include "sfu/rtcp.h"

void sfu_twcc_recv_init(sfu_twcc_recv_t *r, uint8_t ext_id) {
  memset(r, 0, sizeof *r);
  r->ext_id = ext_id;
  r->next_fb_us = r->fb_deadline_us = UINT64_MAX;
  for (size_t i = 0; i < SFU_TWCC_WINDOW; i++) r->seq_of[i] = -1;
}

void sfu_twcc_recv_packet(sfu_twcc_recv_t *r, uint16_t seq, uint32_t ssrc, uint64_t now_us) {
  int64_t u;
  if (!r->have_base) {
    r->have_base = 1;
    u = seq;
    r->next_seq = u;
    r->max_seq = u;
    r->media_ssrc = ssrc;
  } else {
    /* Unwrap against the highest seen: the 16-bit distance, signed (reordering). */
    u = r->max_seq + (int16_t)(uint16_t)(seq - (uint16_t)r->max_seq);
    if (u < r->next_seq) {
      /* Late. Once a feedback went out its range was reported: drop it. Before the first
       * one nothing was, so a packet reordered ahead of the first seen extends the range
       * back (as libwebrtc does) instead of vanishing; u < 0 is a wrap below the start. */
      if (r->feedbacks_sent != 0 || u < 0 || r->max_seq - u >= SFU_TWCC_WINDOW) return;
      r->next_seq = u;
    }
    if (u > r->max_seq) r->max_seq = u;
  }
  /* Keep the unreported range inside the window: the oldest are given up on. */
  if (r->max_seq - r->next_seq >= SFU_TWCC_WINDOW) r->next_seq = r->max_seq - SFU_TWCC_WINDOW + 1;
  size_t slot = (size_t)(u % SFU_TWCC_WINDOW);
  r->seq_of[slot] = u;
  r->arrival_us[slot] = now_us;
  if (r->next_fb_us == UINT64_MAX) {
    /* An interval after the previous feedback while packets flow (periodic, as
     * libwebrtc's), an interval after this packet when the stream had paused. */
    uint64_t periodic = r->last_fb_us + SFU_TWCC_FB_INTERVAL_US;
    r->next_fb_us = periodic > now_us ? periodic : now_us + SFU_TWCC_FB_INTERVAL_US;
    r->fb_deadline_us = r->next_fb_us + SFU_TWCC_FB_GRACE_US;
  }
}

uint64_t sfu_twcc_recv_due(const sfu_twcc_recv_t *r) { return r->next_fb_us; }
uint64_t sfu_twcc_recv_deadline(const sfu_twcc_recv_t *r) { return r->fb_deadline_us; }

static int received(const sfu_twcc_recv_t *r, int64_t u, uint64_t *at) {
  size_t slot = (size_t)(u % SFU_TWCC_WINDOW);
  if (r->seq_of[slot] != u) return 0;
  *at = r->arrival_us[slot];
  return 1;
}

int sfu_twcc_recv_build(sfu_twcc_recv_t *r, uint64_t now_us, uint32_t sender_ssrc, uint8_t *buf,
                        size_t cap) {
  if (r->next_fb_us == UINT64_MAX || now_us < r->next_fb_us) return 0;
  r->next_fb_us = r->fb_deadline_us = UINT64_MAX;
  if (r->next_seq > r->max_seq) return 0;
  /* The reference time comes from the first received packet of the range; the report
   * itself starts at the first unreported number, so that losses right after the previous
   * feedback are reported too (libwebrtc counts only reported losses). At most
   * MAX_PER_FB - 1 leading losses, so that the received one always fits. */
  int64_t first = r->next_seq;
  uint64_t t0 = 0;
  while (first <= r->max_seq && !received(r, first, &t0)) first++;
  if (first > r->max_seq) return 0;
  if (first - r->next_seq < SFU_TWCC_MAX_PER_FB)
    first = r->next_seq;
  else
    first -= SFU_TWCC_MAX_PER_FB - 1;
  sfu_rtcp_twcc_pkt_t pkts[SFU_TWCC_MAX_PER_FB];
  sfu_rtcp_twcc_t hdr = {sender_ssrc, r->media_ssrc, (uint16_t)first, 0, 0, r->fb_count};
  /* §3.1: reference time in multiples of 64 ms (24-bit, wraps); deltas in 250 us ticks,
   * the first relative to the reference time, then to the previous received packet. */
  hdr.ref_time = (int32_t)((t0 / SFU_TWCC_REF_TIME_US) & 0xFFFFFF);
  int64_t prev = (int64_t)(t0 / SFU_TWCC_REF_TIME_US) * (SFU_TWCC_REF_TIME_US / SFU_TWCC_DELTA_US);
  size_t n = 0;
  int64_t u = first;
  for (; u <= r->max_seq && n < SFU_TWCC_MAX_PER_FB; u++) {
    uint64_t at;
    sfu_rtcp_twcc_pkt_t *p = &pkts[n];
    p->seq = (uint16_t)u;
    if (!received(r, u, &at)) {
      p->status = SFU_TWCC_NOT_RECEIVED;
      p->delta = 0;
      n++;
      continue;
    }
    int64_t ticks = (int64_t)(at / SFU_TWCC_DELTA_US);
    int64_t d = ticks - prev;
    if (d < INT16_MIN || d > INT16_MAX) break; /* the rest goes into the next feedback */
    p->delta = (int32_t)d;
    p->status = (d >= 0 && d <= 255) ? SFU_TWCC_SMALL_DELTA : SFU_TWCC_LARGE_DELTA;
    prev = ticks;
    n++;
  }
  /* Trailing not-received entries carry no information: drop them. */
  while (n > 0 && pkts[n - 1].status == SFU_TWCC_NOT_RECEIVED) n--;
  if (n == 0) return 0;
  hdr.status_count = (uint16_t)n;
  int len = sfu_rtcp_write_twcc(buf, cap, &hdr, pkts, n);
  if (len <= 0) return len < 0 ? len : SFU_EINTERNAL;
  r->next_seq = first + (int64_t)n;
  r->fb_count++;
  r->feedbacks_sent++;
  r->last_fb_us = now_us;
  if (r->next_seq <= r->max_seq)
    r->next_fb_us = r->fb_deadline_us = now_us; /* more pending: at once */
  return len;
}
