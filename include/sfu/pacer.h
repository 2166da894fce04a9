/* Per-transport pacer (issue 8): what goes to one viewer leaves at a set rate, in bursts
 * of at most burst_us of that rate, so that a keyframe (tens of packets at once) does not
 * hit the viewer's bottleneck queue as one wall of packets and read as congestion.
 *
 * Packets are copied in as plain RTP (before SRTP: the owner protects each packet when it
 * leaves, in its slot with sfu_pacer_peek or after sfu_pacer_pop, so the SRTP index order
 * of a stream is its send order) and leave by priority:
 *   SFU_PACER_PRIO_URGENT  audio, RTCP-like: never waits for the budget (libwebrtc does
 *                          not pace audio either) but what it sends counts in it;
 *   SFU_PACER_PRIO_RTX     retransmissions: paced, before video;
 *   SFU_PACER_PRIO_VIDEO   media: paced;
 *   SFU_PACER_PRIO_PROBE   probe cluster packets (RTX copies or padding): they follow the
 *                          cluster's own pacing (sfu_probe_cluster_next), so they never
 *                          wait for the budget and do not spend it: a probe tests the link
 *                          above the media rate and must not delay media after it.
 *
 * Budget: a leaky bucket in bits. It fills at rate_bps up to burst_us worth; a paced
 * packet may leave while the bucket is above 0 and takes its size out (the bucket may go
 * negative by one packet, or by urgent traffic down to -0.5 s worth). So the paced bytes
 * sent by any time t never exceed rate x t + one burst + one packet. Rate 0 = unpaced:
 * everything is due at once (a fresh pacer, a viewer without an estimate).
 *
 * Queue bound: at most max_bytes queued (also max_bytes / SFU_PACER_MIN_AVG_BYTES
 * packets, which bounds the slots of tiny packets), nothing older than max_age_us. A
 * packet that does not fit evicts the oldest of the less important queues first (probe,
 * then video, then RTX; a packet only evicts its own priority or lower ones; urgent is
 * never evicted) and is itself dropped when nothing can go. A packet that waited past
 * max_age is dropped when it reaches the front. Drops are counted: the viewer NACKs or
 * sends a PLI for dropped video.
 *
 * Storage: each priority's queue is a ring of small entries (push time, tag, length),
 * which grows by doubling up to the bound and is then reused; a packet's bytes are in a
 * fixed slot of SFU_PACER_SLOT bytes (+ SFU_PACER_TAIL of room) from a pool that grows
 * by slabs up to the bound likewise: no allocation per packet in steady state. A packet
 * is copied into a slot (sfu_pacer_push), or only the owner's reference to it
 * (sfu_pacer_push_ref: into the entry itself when it has at most SFU_PACER_REF_INLINE
 * bytes, no slot), and leaves from where it is (sfu_pacer_peek / sfu_pacer_take,
 * sfu_pacer_drain) or is copied out (sfu_pacer_pop). One FIFO per priority, whatever
 * its packets are stored as.
 *
 * Sans-IO: time is now_us; the owner arms its loop timer at sfu_pacer_next_deadline and
 * pops until sfu_pacer_pop (or sfu_pacer_peek) returns 0, or drains (sfu_pacer_drain,
 * which returns the next deadline). One thread. */
#ifndef SFU_PACER_H
#define SFU_PACER_H

#include <stddef.h>
#include <stdint.h>

#define SFU_PACER_PRIO_URGENT 0
#define SFU_PACER_PRIO_RTX 1
#define SFU_PACER_PRIO_VIDEO 2
#define SFU_PACER_PRIO_PROBE 3
#define SFU_PACER_PRIOS 4

#define SFU_PACER_SLOT 1500                 /* largest packet (bytes) */
#define SFU_PACER_TAIL 64 /* room after a queued packet for the owner (an SRTP tag) */
#define SFU_PACER_REF_INLINE 32             /* a reference this small needs no slot */
#define SFU_PACER_DEFAULT_BURST_US 5000ull  /* bucket depth: 5 ms of the rate */
#define SFU_PACER_MAX_DEBT_US 500000ull     /* urgent traffic overdraws at most 0.5 s */
#define SFU_PACER_MIN_AVG_BYTES 300         /* slots bound: max_bytes / this */
#define SFU_PACER_DEFAULT_MAX_BYTES (2u << 20)
#define SFU_PACER_DEFAULT_MAX_AGE_US 2000000ull

typedef struct sfu_pacer sfu_pacer_t;

typedef struct {
  uint64_t queued_bytes, queued_packets;
  uint64_t sent_packets, sent_bytes;   /* every priority, probes included */
  uint64_t probe_packets, probe_bytes; /* of which SFU_PACER_PRIO_PROBE */
  uint64_t dropped_packets;            /* evicted, expired or refused */
  uint64_t max_delay_us;               /* the longest any sent packet waited */
  uint64_t oldest_queued_us;           /* push time of the oldest queued packet; 0 if empty */
} sfu_pacer_stats_t;

/* max_bytes 0: SFU_PACER_DEFAULT_MAX_BYTES; max_age_us 0: SFU_PACER_DEFAULT_MAX_AGE_US.
 * Unpaced (rate 0) until sfu_pacer_set_rate. NULL on allocation failure. */
sfu_pacer_t *sfu_pacer_new(size_t max_bytes, uint64_t max_age_us);
void sfu_pacer_free(sfu_pacer_t *p);

/* The rate from now_us on (the budget earned until now_us is at the old rate). The owner
 * picks it: the estimate x a pacing factor (libwebrtc uses 2.5). 0 = unpaced. */
void sfu_pacer_set_rate(sfu_pacer_t *p, uint64_t now_us, uint64_t rate_bps);
/* Bucket depth (default SFU_PACER_DEFAULT_BURST_US); 0 is taken as 1 us. */
void sfu_pacer_set_burst(sfu_pacer_t *p, uint64_t now_us, uint64_t burst_us);

/* Copies pkt[len] in at priority prio with the owner's tag. 0 when queued (possibly
 * after evicting older packets); SFU_EINVAL (bad prio, NULL pkt, len 0), SFU_ETOOBIG
 * (len > SFU_PACER_SLOT), SFU_ELIMIT (dropped: the queue is full of packets at least as
 * important; counted), SFU_ENOMEM (no slot could be allocated; counted). */
int sfu_pacer_push(sfu_pacer_t *p, uint64_t now_us, int prio, const uint8_t *pkt, size_t len,
                   uint32_t tag);

/* sfu_pacer_push for a packet the owner builds only when it leaves (the router queues a
 * reference to a forwarded packet and rebuilds it from the publisher's history then:
 * router_pace.c): ref[ref_len] (at most SFU_PACER_SLOT bytes) is copied in instead of
 * the packet, and wire_len, what the packet is expected to weigh on the wire, is what the
 * queue bound counts and what sfu_pacer_peek returns as its length. The owner says what
 * really left (sfu_pacer_take_sent, or the drain's send callback). The same errors as
 * sfu_pacer_push (wire_len is checked as len is). A reference of at most
 * SFU_PACER_REF_INLINE bytes is kept in the queue's own entry, not in a slot: peek and
 * drain hand it at 8-byte alignment with room SFU_PACER_REF_INLINE (it is not a packet
 * to transform in place), a larger one is in a slot as a packet is. sfu_pacer_pop copies
 * len bytes, or only the reference's room of them: use peek + take_sent, or drain, for
 * references. */
int sfu_pacer_push_ref(sfu_pacer_t *p, uint64_t now_us, int prio, const void *ref, size_t ref_len,
                       size_t wire_len, uint32_t tag);

/* The owner's fast path: 1 if a paced packet of len bytes may leave at now_us without
 * being queued, i.e. nothing is queued (it must not overtake anything: FIFO) and the
 * budget allows it (or the pacer is unpaced). Its size is then taken from the budget and
 * it counts as sent (waited 0), as if pushed and popped at once; the owner sends it from
 * its own buffer, which saves the two copies. 0: nothing changed, push it. */
int sfu_pacer_admit(sfu_pacer_t *p, uint64_t now_us, size_t len);
/* 1 if sfu_pacer_admit at now_us would let a packet through (its decision does not
 * depend on the packet's size), changing nothing: the owner that can queue a packet more
 * cheaply than it can build it asks before building (router_pace.c). */
int sfu_pacer_would_admit(sfu_pacer_t *p, uint64_t now_us);

/* The next packet allowed to leave at now_us, copied into out[cap], with its tag and
 * priority (either may be NULL); returns its length, 0 if none is due. A packet larger
 * than cap is dropped (counted) rather than blocking the queue. */
size_t sfu_pacer_pop(sfu_pacer_t *p, uint64_t now_us, uint8_t *out, size_t cap, uint32_t *tag,
                     int *prio);

/* sfu_pacer_pop without the copy: the next packet allowed to leave at now_us stays in
 * its slot, *pkt points to it, *room (if not NULL) is the slot's size (>= len +
 * SFU_PACER_TAIL; a reference kept in its entry: SFU_PACER_REF_INLINE, see
 * sfu_pacer_push_ref), so that the owner may transform it in place (SRTP-protect it: the tag
 * goes after it) and send it from there. Returns its length, 0 if none is due (expired
 * packets at the front are dropped on the way, counted). The owner then calls
 * sfu_pacer_take(p, now_us) before any other call on p: that takes it out and counts it as
 * sent (*pkt is invalid from then on). A peek not followed by take leaves it queued. */
size_t sfu_pacer_peek(sfu_pacer_t *p, uint64_t now_us, uint8_t **pkt, size_t *room,
                      uint32_t *tag, int *prio);
void sfu_pacer_take(sfu_pacer_t *p, uint64_t now_us);
/* sfu_pacer_take when what left was sent_len bytes rather than the queued length (a
 * reference built when it left); 0: nothing could be sent (counted as dropped, nothing
 * charged). */
void sfu_pacer_take_sent(sfu_pacer_t *p, uint64_t now_us, size_t sent_len);

/* The owner's drain: what a loop of sfu_pacer_peek / sfu_pacer_take_sent at now_us does
 * (the same packets in the same order, the same drops and counts), without two calls per
 * packet: each due packet is handed to send in its slot (pkt[len], room as peek gives
 * it, the tag and priority), and send returns the bytes that left for it (len, or what a
 * reference became; 0: nothing could be sent, counted as dropped), whatever the
 * transport then did with them. send must not call p. Returns
 * sfu_pacer_next_deadline(p, now_us) after it. */
typedef size_t (*sfu_pacer_send_cb)(void *ctx, uint8_t *pkt, size_t len, size_t room, uint32_t tag,
                                    int prio);
uint64_t sfu_pacer_drain(sfu_pacer_t *p, uint64_t now_us, sfu_pacer_send_cb send, void *ctx);

/* Packets queued now. O(1). */
size_t sfu_pacer_queued(const sfu_pacer_t *p);

/* Withdraws every queued packet (any priority) for which match(pkt, len, tag, ctx) is
 * nonzero, keeping the others in order; not counted as drops (the owner took them back:
 * e.g. the stream they belong to ended). Returns how many. O(queued packets). */
size_t sfu_pacer_remove(sfu_pacer_t *p,
                        int (*match)(const uint8_t *pkt, size_t len, uint32_t tag, void *ctx),
                        void *ctx);

/* When the next packet is due: now_us if one is due now, UINT64_MAX if the queue is
 * empty. */
uint64_t sfu_pacer_next_deadline(const sfu_pacer_t *p, uint64_t now_us);

/* The rate set (0: unpaced). */
uint64_t sfu_pacer_rate(const sfu_pacer_t *p);
/* The burst set (sfu_pacer_set_burst; SFU_PACER_DEFAULT_BURST_US if never). */
uint64_t sfu_pacer_burst(const sfu_pacer_t *p);

void sfu_pacer_stats(const sfu_pacer_t *p, sfu_pacer_stats_t *out);

#endif
