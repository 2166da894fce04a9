/* Receive side of transport-wide congestion control feedback
 * (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1): remembers when each
 * transport-wide sequence number arrived and, every SFU_TWCC_FB_INTERVAL_US, turns the
 * new arrivals into one transport-cc RTCP feedback packet for the sender's bandwidth
 * estimator.
 *
 * When. A feedback is due SFU_TWCC_FB_INTERVAL_US after the previous one while packets
 * flow, or that long after the first packet following a pause (sfu_twcc_recv_due), and
 * is built by the first packet that arrives once it is due, in the same loop turn: while
 * media flows feedback needs no timer of its own (a 50 ms timer woke the loop ~20 times a
 * second per sender: issue 6), and comes every interval rounded up to the packet
 * spacing, as the timer's did. Only when packets stop does the timer matter:
 * sfu_twcc_recv_deadline, the due time plus SFU_TWCC_FB_GRACE_US, sends what is left.
 * Intervals stay within libwebrtc's own 50-250 ms.
 *
 * Why the transport does this now (before the video router's own estimator exists): a
 * Chromium sender that negotiated transport-cc and hears no feedback lowers its send
 * rate to a floor (~80 kbps here), so it never sends its upper simulcast layers. With
 * honest arrival feedback its estimator sees the real (loopback/LAN) path.
 *
 * Sans-IO, no allocation: a fixed window of SFU_TWCC_WINDOW arrivals. Owner: the
 * transport that embeds it; its loop thread only. */
#ifndef SFU_TWCC_RECV_H
#define SFU_TWCC_RECV_H

#include <stddef.h>
#include <stdint.h>

#define SFU_TWCC_WINDOW 1024
#define SFU_TWCC_FB_INTERVAL_US 50000 /* libwebrtc sends feedback every 50..250 ms */
#define SFU_TWCC_FB_GRACE_US 50000    /* how long the due feedback waits for a packet */
#define SFU_TWCC_MAX_PER_FB 512

typedef struct {
  uint8_t ext_id;          /* 0 = off */
  int have_base;
  int64_t next_seq;        /* unwrapped: first sequence number not yet reported */
  int64_t max_seq;         /* unwrapped: highest seen */
  uint32_t media_ssrc;     /* an SSRC of the sender (the feedback's "media source") */
  uint8_t fb_count;
  uint64_t next_fb_us;     /* due: built by the next arrival (UINT64_MAX: nothing pending) */
  uint64_t fb_deadline_us; /* the timer: built then at the latest (UINT64_MAX with next_fb_us) */
  uint64_t arrival_us[SFU_TWCC_WINDOW]; /* by unwrapped seq % window; valid if seq_of matches */
  int64_t seq_of[SFU_TWCC_WINDOW];
  uint64_t feedbacks_sent;
  uint64_t last_fb_us; /* when the last feedback was built (0: none yet) */
} sfu_twcc_recv_t;

void sfu_twcc_recv_init(sfu_twcc_recv_t *r, uint8_t ext_id);
/* One received RTP packet carrying transport-wide sequence number seq. */
void sfu_twcc_recv_packet(sfu_twcc_recv_t *r, uint16_t seq, uint32_t ssrc, uint64_t now_us);
/* Writes a feedback packet if one is due (now_us >= sfu_twcc_recv_due and arrivals
 * pending). Returns its length, 0 if nothing to send, or a negative SFU_E* code. */
int sfu_twcc_recv_build(sfu_twcc_recv_t *r, uint64_t now_us, uint32_t sender_ssrc, uint8_t *buf,
                        size_t cap);
/* From when a feedback may be built (the owner tries on each arrival). UINT64_MAX if none. */
uint64_t sfu_twcc_recv_due(const sfu_twcc_recv_t *r);
/* When it must be built even if no packet arrives: the owner's timer. UINT64_MAX if none. */
uint64_t sfu_twcc_recv_deadline(const sfu_twcc_recv_t *r);

#endif
