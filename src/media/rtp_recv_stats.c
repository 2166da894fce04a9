/* Receiver statistics of one incoming SSRC (see sfu/rtp_recv_stats.h). */
#include "sfu/rtp_recv_stats.h"

#include <string.h>

#define SEQ_MOD 65536u

void sfu_recv_stats_init(sfu_recv_stats_t *s, uint32_t ssrc, uint32_t clock_rate) {
  memset(s, 0, sizeof *s);
  s->ssrc = ssrc;
  s->clock_rate = clock_rate ? clock_rate : 90000;
}

/* RFC 3550 A.1 init_seq. */
static void init_seq(sfu_recv_stats_t *s, uint16_t seq) {
  s->base_seq = seq;
  s->max_seq = seq;
  s->bad_seq = SEQ_MOD + 1; /* so seq == bad_seq is false */
  s->cycles = 0;
  s->received = 0;
  s->received_prior = 0;
  s->expected_prior = 0;
  s->have_transit = 0;
}

/* RFC 3550 A.8: J += (|D| - J) / 16, in x16 fixed point. */
static void update_jitter(sfu_recv_stats_t *s, uint64_t now_us, uint32_t rtp_ts) {
  uint32_t arrival = (uint32_t)(now_us * s->clock_rate / 1000000u);
  uint32_t transit = arrival - rtp_ts;
  if (s->have_transit) {
    int32_t d = (int32_t)(transit - s->transit);
    uint64_t ad = d < 0 ? (uint64_t) - (int64_t)d : (uint64_t)d;
    if (ad < 5ull * s->clock_rate) s->jitter_q4 += ad - ((s->jitter_q4 + 8) >> 4);
  }
  s->transit = transit;
  s->have_transit = 1;
}

void sfu_recv_stats_on_packet(sfu_recv_stats_t *s, uint64_t now_us, uint16_t seq, uint32_t rtp_ts) {
  s->last_packet_us = now_us;
  if (!s->started) {
    s->started = 1;
    init_seq(s, seq);
    s->received = 1;
    update_jitter(s, now_us, rtp_ts);
    return;
  }
  /* RFC 3550 A.1 update_seq. */
  uint16_t udelta = (uint16_t)(seq - s->max_seq);
  if (udelta < SFU_RECV_MAX_DROPOUT) {
    if (udelta == 0) { /* duplicate of the highest: counted, nothing else */
      s->received++;
      return;
    }
    if (seq < s->max_seq) s->cycles += SEQ_MOD; /* wrapped */
    s->max_seq = seq;
    s->received++;
    update_jitter(s, now_us, rtp_ts);
    return;
  }
  if (udelta <= SEQ_MOD - SFU_RECV_MAX_MISORDER) {
    /* A very large jump. Two sequential packets: the sender restarted, re-sync. */
    if (seq == s->bad_seq) {
      init_seq(s, seq);
      s->received = 1;
      update_jitter(s, now_us, rtp_ts);
    } else {
      s->bad_seq = (uint32_t)((seq + 1) & (SEQ_MOD - 1));
    }
    return;
  }
  /* Duplicate or reordered (late) packet. */
  s->received++;
}

void sfu_recv_stats_on_sr(sfu_recv_stats_t *s, uint64_t now_us, uint64_t ntp) {
  s->lsr = (uint32_t)(ntp >> 16);
  s->sr_at_us = now_us;
  s->have_sr = 1;
}

void sfu_recv_stats_block(sfu_recv_stats_t *s, uint64_t now_us, sfu_rtcp_rb_t *rb) {
  memset(rb, 0, sizeof *rb);
  rb->ssrc = s->ssrc;
  if (s->have_sr) {
    rb->lsr = s->lsr;
    /* DLSR in 1/65536 s units. */
    uint64_t d = now_us > s->sr_at_us ? now_us - s->sr_at_us : 0;
    uint64_t dlsr = (d << 16) / 1000000u;
    rb->dlsr = dlsr > UINT32_MAX ? UINT32_MAX : (uint32_t)dlsr;
  }
  if (!s->started) return;
  /* RFC 3550 A.3. */
  uint32_t ext_max = s->cycles + s->max_seq;
  uint32_t expected = ext_max - s->base_seq + 1;
  int64_t lost = (int64_t)expected - (int64_t)s->received;
  if (lost > 0x7FFFFF) lost = 0x7FFFFF;
  if (lost < -0x800000) lost = -0x800000;
  uint32_t expected_interval = expected - s->expected_prior;
  uint32_t received_interval = s->received - s->received_prior;
  s->expected_prior = expected;
  s->received_prior = s->received;
  int64_t lost_interval = (int64_t)expected_interval - (int64_t)received_interval;
  uint64_t fraction = 0;
  if (expected_interval != 0 && lost_interval > 0)
    fraction = ((uint64_t)lost_interval << 8) / expected_interval;
  rb->fraction_lost = (uint8_t)(fraction > 255 ? 255 : fraction);
  rb->cumulative_lost = (int32_t)lost;
  rb->ext_highest_seq = ext_max;
  uint64_t j = s->jitter_q4 >> 4;
  rb->jitter = j > UINT32_MAX ? UINT32_MAX : (uint32_t)j;
}

uint64_t sfu_rtt_from_rb(uint64_t now_us, uint64_t now_ntp, const sfu_rtcp_rb_t *rb) {
  (void)now_us;
  if (rb->lsr == 0) return 0;
  uint32_t a = (uint32_t)(now_ntp >> 16);
  int32_t rtt = (int32_t)(a - rb->lsr - rb->dlsr);
  /* The receiver rounds DLSR to 1/65536 s: a tiny negative is a very short RTT. */
  if (rtt < 0) return rtt >= -(int32_t)(65536 / 200) ? 1 : 0; /* 5 ms of slack */
  uint64_t us = ((uint64_t)rtt * 1000000u) >> 16;
  return us ? us : 1;
}

uint64_t sfu_ntp_from_us(uint64_t unix_us) {
  uint64_t sec = unix_us / 1000000u + SFU_NTP_UNIX_OFFSET;
  uint64_t frac = ((unix_us % 1000000u) << 32) / 1000000u;
  return (sec << 32) | frac;
}
