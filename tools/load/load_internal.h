/* Shared between load_peer.c (lifecycle, SDP, SRTP glue, RTCP in), load_publish.c (the
 * sending side) and load_receive.c (the receiving side). Not an API. */
#ifndef SFU_LOAD_INTERNAL_H
#define SFU_LOAD_INTERNAL_H

#include "load_peer.h"
#include "sfu/rtp.h"

uint64_t load_rand(load_peer_t *p);
/* Uniform in [0, 1). */
double load_rand01(load_peer_t *p);
/* Plain packet out: SRTP-protected in place (buf has cap bytes) unless send_plain. */
void load_send_rtp(load_peer_t *p, uint8_t *buf, size_t len, size_t cap);
void load_send_rtcp(load_peer_t *p, uint8_t *buf, size_t len, size_t cap);
/* 32.32 NTP time (RFC 3550 §4) of now_us on the wall clock. */
uint64_t load_ntp(const load_peer_t *p, uint64_t now_us);
/* Bytes of random filler (a frame's body). */
const uint8_t *load_noise(load_peer_t *p, size_t len);

/* ---- load_publish.c ---- */
int load_pub_init(load_peer_t *p);
void load_pub_free(load_peer_t *p);
void load_pub_frame(load_peer_t *p, uint64_t now_us);
void load_pub_padding(load_peer_t *p, uint64_t now_us);
void load_pub_on_nack(load_peer_t *p, uint64_t now_us, uint32_t media_ssrc,
                      const uint16_t *seqs, size_t n);
void load_pub_on_keyreq(load_peer_t *p, uint32_t media_ssrc, int fir);
/* SR + SDES per layer into buf; returns bytes. */
size_t load_pub_write_sr(load_peer_t *p, uint64_t now_us, uint8_t *buf, size_t cap);

/* ---- load_receive.c ---- */
void load_recv_on_rtp(load_peer_t *p, uint64_t now_us, uint8_t *buf, size_t len,
                      const sfu_rtp_hdr_t *h);
void load_recv_on_sr(load_peer_t *p, uint64_t now_us, uint32_t ssrc, uint64_t ntp);
/* RR (report blocks for every section that received) + SDES; returns bytes (0: none). */
size_t load_recv_write_rr(load_peer_t *p, uint64_t now_us, uint8_t *buf, size_t cap);
/* Transport-cc feedback, if one is due (see load_peer.h): after each RTP arrival and at
 * the peer's timer (sfu_twcc_recv_deadline). */
void load_recv_twcc_send(load_peer_t *p, uint64_t now_us);
/* NACK retries due; returns the next retry time (UINT64_MAX: none pending). */
uint64_t load_recv_nack_tick(load_peer_t *p, uint64_t now_us);

#endif
