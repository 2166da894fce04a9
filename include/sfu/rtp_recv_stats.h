/* What a receiver report says about one incoming SSRC (RFC 3550 §6.4.1): extended
 * highest sequence number and loss (appendix A.1, A.3), interarrival jitter (A.8), and
 * LSR/DLSR so the sender can compute its RTT; plus the RTT of our own stream from a
 * report block a receiver sent us, and NTP time.
 *
 * Sequence tracking follows A.1 (MAX_DROPOUT 3000, MAX_MISORDER 100: a jump is believed
 * after two sequential packets) without the initial probation: the worker counts from
 * the first packet, as libwebrtc does. Jitter is updated on in-order packets only (a
 * retransmitted or reordered packet's transit time says nothing about the path's
 * variation) and skips transit changes over 5 s (a timestamp jump, not jitter).
 *
 * Plain value, no allocation; owner: whoever receives the SSRC; one thread. RTX copies
 * are NOT fed here (they would count as duplicates). */
#ifndef SFU_RTP_RECV_STATS_H
#define SFU_RTP_RECV_STATS_H

#include <stdint.h>

#include "sfu/rtcp.h"

#define SFU_RECV_MAX_DROPOUT 3000
#define SFU_RECV_MAX_MISORDER 100
#define SFU_NTP_UNIX_OFFSET 2208988800ull /* seconds from 1900 to 1970 */

typedef struct {
  uint32_t ssrc, clock_rate;
  uint8_t started;
  uint16_t max_seq; /* A.1 */
  uint32_t cycles;  /* wraps x 65536 */
  uint32_t base_seq;
  uint32_t bad_seq; /* a jump's seq + 1, to believe it on the next packet */
  uint32_t received, expected_prior, received_prior;
  uint8_t have_transit;
  uint32_t transit;   /* A.8: arrival - timestamp of the last in-order packet */
  uint64_t jitter_q4; /* A.8: jitter in timestamp units x 16 */
  uint8_t have_sr;
  uint32_t lsr;      /* middle 32 bits of the last SR's NTP */
  uint64_t sr_at_us; /* when it arrived */
  uint64_t last_packet_us;
} sfu_recv_stats_t;

/* clock_rate 0 is taken as 90000 (video). */
void sfu_recv_stats_init(sfu_recv_stats_t *s, uint32_t ssrc, uint32_t clock_rate);
/* One packet (not an RTX copy) of the SSRC arrived at now_us. */
void sfu_recv_stats_on_packet(sfu_recv_stats_t *s, uint64_t now_us, uint16_t seq, uint32_t rtp_ts);
/* The sender's SR arrived: remember LSR (middle 32 bits of its NTP timestamp) and when
 * (for DLSR). */
void sfu_recv_stats_on_sr(sfu_recv_stats_t *s, uint64_t now_us, uint64_t ntp);
/* Fills a report block for now (RFC 3550 §6.4.1) and starts a new interval for the
 * fraction lost. Before any packet: all zero but the SSRC. */
void sfu_recv_stats_block(sfu_recv_stats_t *s, uint64_t now_us, sfu_rtcp_rb_t *rb);

/* RTT of OUR stream from a report block a receiver sent about it (RFC 3550 §6.4.1:
 * A - LSR - DLSR, A = now in compact NTP, i.e. the middle 32 bits of now_ntp, which must
 * be on the clock our SRs used). 0 if LSR is 0 (no SR received yet) or the result is
 * negative beyond rounding (a bogus block); at least 1 otherwise. now_us is unused
 * (kept for the agreed signature). */
uint64_t sfu_rtt_from_rb(uint64_t now_us, uint64_t now_ntp, const sfu_rtcp_rb_t *rb);

/* NTP 32.32 timestamp (RFC 5905 §6) of a Unix time in microseconds. */
uint64_t sfu_ntp_from_us(uint64_t unix_us);

#endif
