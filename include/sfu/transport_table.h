/* The per-loop demultiplexing index of media transports (architecture.md, "The packet
 * path"): every datagram that reaches a loop's UDP socket or one of its TCP connections
 * is routed to a transport by one of two keys.
 *
 *  - STUN binding requests, always, by the LOCAL ICE ufrag (the part of USERNAME before
 *    the colon, RFC 8445 §7.2.2). That is how a transport is found before any pair is
 *    known, and how a client that changes address (ICE restart, a new NAT binding, the
 *    TCP fallback) is found again.
 *  - everything else (DTLS, SRTP, SRTCP) by the 5-tuple, i.e. remote address + proto
 *    (the local side is implied by the socket). A 5-tuple is entered only after the
 *    transport's ICE agent accepted an authenticated binding request from it, so a
 *    packet from an unknown 5-tuple is dropped by a failed hash lookup, allocating
 *    nothing.
 *
 * Pure index, no protocol logic: values are opaque pointers (the transport composite
 * keeps its own entries up to date, see transport.h). Entries are embedded in their
 * owner (intrusive), so adding and removing never allocates except when a hash map
 * grows. Cost: O(1) expected per lookup; keys a peer controls are hashed with the
 * process-wide random seed (hmap.h).
 *
 * Ownership: one table per media loop, owned by the loop, touched only by its thread.
 * Entries are owned by whoever embeds them (a transport) and must be removed before
 * they are freed. */
#ifndef SFU_TRANSPORT_TABLE_H
#define SFU_TRANSPORT_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "sfu/addr.h"
#include "sfu/hmap.h"

#define SFU_ICE_UFRAG_MAX 256 /* RFC 8839 §5.4: ufrag is 4..256 characters */

/* A local-ufrag key. Embedded in its owner; linked while in a table. */
typedef struct {
  sfu_hnode_t node;
  char ufrag[SFU_ICE_UFRAG_MAX + 1];
  size_t ufrag_len;
  void *value;
  int linked;
} sfu_tt_ufrag_entry_t;

/* A 5-tuple key (remote address + proto). Embedded in its owner; linked while in a table. */
typedef struct {
  sfu_hnode_t node;
  sfu_addr_t addr;
  void *value;
  int linked;
} sfu_tt_addr_entry_t;

/* Told when a 5-tuple stops being routed to any transport (its owner removed it:
 * departure, LRU replacement, expiry), NOT when another transport takes it over (it is
 * still routed). The loop closes an ICE-TCP connection whose 5-tuple it was. */
typedef void (*sfu_tt_addr_removed_cb)(void *user, const sfu_addr_t *addr);

typedef struct {
  sfu_hmap_t by_ufrag;
  sfu_hmap_t by_addr;
  sfu_tt_addr_removed_cb on_addr_removed; /* NULL: nobody to tell */
  void *hook_user;
} sfu_transport_table_t;

int sfu_transport_table_init(sfu_transport_table_t *t);
void sfu_transport_table_set_hook(sfu_transport_table_t *t, sfu_tt_addr_removed_cb cb, void *user);
/* Frees the buckets; entries still linked are simply forgotten (their owners are gone). */
void sfu_transport_table_free(sfu_transport_table_t *t);

/* SFU_EEXIST if another entry has the same ufrag (local ufrags are random, 16 chars:
 * a collision means a bug); SFU_EINVAL if the ufrag is empty or too long. */
int sfu_tt_add_ufrag(sfu_transport_table_t *t, sfu_tt_ufrag_entry_t *e, const char *ufrag,
                     void *value);
void sfu_tt_remove_ufrag(sfu_transport_table_t *t, sfu_tt_ufrag_entry_t *e);
/* A 5-tuple that belongs to another value is taken over (the old owner's entry is
 * unlinked and returned in *evicted so that its owner can be told; NULL if none). The
 * caller decides whether a takeover is legitimate (transport.c refuses it while the
 * 5-tuple is the old owner's selected pair with fresh consent). */
int sfu_tt_add_addr(sfu_transport_table_t *t, sfu_tt_addr_entry_t *e, const sfu_addr_t *addr,
                    void *value, sfu_tt_addr_entry_t **evicted);
/* Unlinks e and tells the hook (e's 5-tuple is no longer routed). */
void sfu_tt_remove_addr(sfu_transport_table_t *t, sfu_tt_addr_entry_t *e);

/* NULL if unknown. ufrag is not NUL-terminated (a view into a STUN USERNAME). */
void *sfu_tt_lookup_ufrag(const sfu_transport_table_t *t, const char *ufrag, size_t len);
void *sfu_tt_lookup_addr(const sfu_transport_table_t *t, const sfu_addr_t *addr);
sfu_tt_addr_entry_t *sfu_tt_find_addr(const sfu_transport_table_t *t, const sfu_addr_t *addr);

size_t sfu_tt_ufrag_count(const sfu_transport_table_t *t);
size_t sfu_tt_addr_count(const sfu_transport_table_t *t);

#endif
