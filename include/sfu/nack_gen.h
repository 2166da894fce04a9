/* NACK generation towards a publisher (RFC 4585 §6.2.1): per published layer (media
 * SSRC), which sequence numbers the worker has not received and should ask again for.
 *
 * Rules:
 *   - a gap is seen when a packet arrives more than one ahead of the highest so far; its
 *     seqs are NACKed at the first poll, with no reorder grace (SFU_NACK_GRACE_US 0, as
 *     libwebrtc's receiver): a reordered packet then costs one needless retransmission,
 *     a lost one is asked for a full grace sooner, and no extra timer is armed per gap;
 *   - a seq is NACKed again at most once per RTT (at least SFU_NACK_MIN_RETRY_US apart, so
 *     a loopback RTT does not burn every try in a millisecond), and given up
 *     SFU_NACK_MAX_AGE_US after it was found missing or after SFU_NACK_MAX_TRIES NACKs;
 *   - more than SFU_NACK_MAX_MISSING missing at once (a long outage, a seq jump) is
 *     hopeless: the list is cleared and the caller asks for a keyframe instead;
 *   - a packet that arrives late, or as RTX (the router unwraps it and passes the
 *     original seq), is no longer missing.
 * Sequence numbers are unwrapped (RFC 3550 §A.1 style), so 65535 -> 0 is a step of one.
 *
 * Fixed size, no allocation: embed it. Owner: the published layer; one thread. */
#ifndef SFU_NACK_GEN_H
#define SFU_NACK_GEN_H

#include <stddef.h>
#include <stdint.h>

#define SFU_NACK_MAX_MISSING 256
#define SFU_NACK_MAX_TRIES 10
#define SFU_NACK_MAX_AGE_US 1000000ull
#define SFU_NACK_GRACE_US 0ull
#define SFU_NACK_MIN_RETRY_US 10000ull
#define SFU_NACK_DEFAULT_RTT_US 100000ull /* rtt_us 0: unknown */
/* A packet this far behind the highest is a publisher that restarted its numbering, not
 * a late one: tracking starts over from it. */
#define SFU_NACK_RESET_GAP 10000

typedef struct {
  int64_t ext;       /* unwrapped seq */
  uint64_t found_us; /* when the gap was seen */
  uint64_t sent_us;  /* last NACK (valid if tries > 0) */
  uint32_t tries;
} sfu_nack_missing_t;

typedef struct sfu_nack_gen {
  int started;
  int64_t highest; /* unwrapped highest seq received */
  size_t n;        /* missing[0..n), ascending by ext */
  sfu_nack_missing_t missing[SFU_NACK_MAX_MISSING];
  uint64_t nacked, gave_up, recovered, hopeless; /* counters for stats */
} sfu_nack_gen_t;

void sfu_nack_gen_init(sfu_nack_gen_t *g);

/* One packet of the layer (original seq; RTX already unwrapped) arrived at now_us.
 * Returns 1 if the gap it revealed is hopeless (too many missing): the list is cleared
 * and the caller should request a keyframe; else 0. */
int sfu_nack_gen_on_packet(sfu_nack_gen_t *g, uint64_t now_us, uint16_t seq);

/* Writes the seqs to NACK now into seqs[cap] (ascending modulo 2^16, as
 * sfu_rtcp_write_nack packs best), marks them sent at now_us, and drops those given up.
 * Returns how many were written; those beyond cap stay due for the next poll. */
size_t sfu_nack_gen_poll(sfu_nack_gen_t *g, uint64_t now_us, uint64_t rtt_us, uint16_t *seqs,
                         size_t cap);

/* When the next NACK is due (the poll timer); UINT64_MAX if none will be. */
uint64_t sfu_nack_gen_deadline(const sfu_nack_gen_t *g, uint64_t rtt_us);

/* Seqs currently missing (tracked). */
static inline size_t sfu_nack_gen_missing(const sfu_nack_gen_t *g) { return g->n; }

#endif
