/* The meeting's cache of data messages with a lifetime (issue 10): at most
 * SFU_DATA_CACHE_MAX, oldest dropped first, expired ones dropped; kept in the meeting's
 * relay order (seq) so that an attendee who joins or reconnects later gets, in order,
 * exactly those with a seq above what it has already received (its "delivered up to"
 * mark, data_relay.h). Pure, virtual clock; holds a reference on each message
 * (data_msg.h). Owner: the meeting's relay. Loop thread only.
 *
 * Cost: add O(1) amortised (an expiry sweep is O(n), n <= 1,024, and runs only when the
 * earliest expiry is due); next-after-seq O(log n) (binary search on the seq-ordered
 * ring); memory 8 KB of pointers per meeting plus the messages (<= 1,024 x ~2.5 KB). */
#ifndef SFU_DATA_CACHE_H
#define SFU_DATA_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "sfu/data_msg.h"

#define SFU_DATA_CACHE_MAX 1024

typedef struct {
  sfu_data_msg_t *ring[SFU_DATA_CACHE_MAX]; /* seq-ordered, oldest at head */
  uint32_t head, n;
  uint64_t min_expiry_us;    /* earliest expires_us among the entries; UINT64_MAX if none */
  uint64_t bytes;            /* sum of the entries' lengths */
  uint64_t added, evicted, expired; /* cumulative: taken in, dropped for room, for age */
} sfu_data_cache_t;

void sfu_data_cache_init(sfu_data_cache_t *c);
void sfu_data_cache_clear(sfu_data_cache_t *c); /* drops every reference */
/* Takes a reference on m (m->seq above every entry's, m->expires_us > now_us); the oldest
 * entry goes when the cache is full. Expired entries are swept first. */
void sfu_data_cache_add(sfu_data_cache_t *c, sfu_data_msg_t *m, uint64_t now_us);
/* Drops the entries expired at now_us (expires_us <= now_us). */
void sfu_data_cache_expire(sfu_data_cache_t *c, uint64_t now_us);
/* The oldest entry with seq > after_seq that has not expired at now_us; NULL if none. */
sfu_data_msg_t *sfu_data_cache_next(const sfu_data_cache_t *c, uint64_t after_seq, uint64_t now_us);
size_t sfu_data_cache_count(const sfu_data_cache_t *c); /* may include expired, until swept */
uint64_t sfu_data_cache_next_expiry(const sfu_data_cache_t *c);

#endif
