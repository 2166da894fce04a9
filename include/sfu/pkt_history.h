/* Packet history of one published layer: the plain RTP packets of the last max_age, kept
 * so that a viewer's NACK (RFC 4585 §6.2.1) is answered with an RTX retransmission
 * (RFC 4588) from the worker instead of going back to the publisher.
 *
 * Storage. A table of slots indexed by seq modulo its size (a power of two), each with a
 * copy of one packet and its extended (unwrapped) sequence number, so a lookup is one
 * index and one compare. Entries always span fewer sequence numbers than the table has
 * slots, so no two live entries share a slot. The table starts empty and doubles (one
 * allocation per doubling, up to max_packets rounded up to a power of two) only while the
 * packets of the last max_age do not fit: a 150 kbps layer keeps ~64 slots, a 2.5 Mbps
 * one grows to 1024 once. After that slots are reused: no allocation per packet.
 *
 * Eviction (on a newer packet): entries older than max_age, then the oldest while the
 * span would exceed max_packets sequence numbers.
 *
 * Owner: the layer that embeds the pointer; one thread (the meeting's loop). */
#ifndef SFU_PKT_HISTORY_H
#define SFU_PKT_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#define SFU_HISTORY_SLOT 1500         /* largest packet kept (bytes) */
#define SFU_HISTORY_MIN_SLOTS 64      /* the first allocation */
#define SFU_HISTORY_MAX_PACKETS 32768 /* max_packets is clamped to this (half the seq space) */
/* A packet this far behind the newest is not reordering but a publisher that restarted
 * its sequence numbers: the history starts over from it. */
#define SFU_HISTORY_RESET_GAP 4096

typedef struct sfu_history sfu_history_t;

/* max_age_us: packets older than this are gone (2 s for video). max_packets: the largest
 * span of sequence numbers kept (1..32768, e.g. 1024). NULL on allocation failure. */
sfu_history_t *sfu_history_new(uint64_t max_age_us, size_t max_packets);
void sfu_history_free(sfu_history_t *h);

/* Stores a copy of plain RTP packet pkt[len] under its 16-bit seq, received at now_us.
 * Returns 0 when stored, and also when the packet is deliberately not kept: a duplicate
 * (the first copy stays), or a reordered packet too far behind the newest to fit the
 * span. SFU_ETOOBIG if len > SFU_HISTORY_SLOT, SFU_EINVAL if pkt is NULL with len > 0,
 * SFU_ENOMEM if the first slots cannot be allocated (a failed later growth just keeps
 * fewer packets). */
int sfu_history_put(sfu_history_t *h, uint64_t now_us, uint16_t seq, const uint8_t *pkt,
                    size_t len);

/* The packet stored under seq, or NULL if absent or older than max_age at now_us. The
 * pointer is valid until the next sfu_history_put or sfu_history_free. */
const uint8_t *sfu_history_get(const sfu_history_t *h, uint64_t now_us, uint16_t seq, size_t *len);

/* Bytes allocated (struct, slot table and packet buffers), for stats and benchmarks. */
size_t sfu_history_memory(const sfu_history_t *h);
/* Packets currently stored (some may be past max_age until the next put). */
size_t sfu_history_count(const sfu_history_t *h);

#endif
