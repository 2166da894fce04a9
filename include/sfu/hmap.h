/* Intrusive chained hash map: the caller embeds an sfu_hnode_t in its object and keeps
 * the key there; the map stores only node pointers and the full 64-bit hash, so a lookup
 * compares hashes first and calls the caller's key check only on a hash match.
 *
 * Owner: whoever embeds it; one thread. Growth doubles the bucket array when the load
 * factor passes 1 (amortised O(1) insert); remove and lookup never allocate.
 *
 *   sfu_hnode_t *n;
 *   for (n = sfu_hmap_first(&m, h); n; n = sfu_hmap_next(n, h))
 *     if (key_equal(sfu_container_of(n, obj_t, node), key)) break;
 */
#ifndef SFU_HMAP_H
#define SFU_HMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct sfu_hnode {
  struct sfu_hnode *next;
  uint64_t hash;
} sfu_hnode_t;

typedef struct {
  sfu_hnode_t **buckets;
  size_t mask; /* bucket count - 1; count is a power of two */
  size_t count;
} sfu_hmap_t;

int sfu_hmap_init(sfu_hmap_t *m, size_t initial_buckets);
void sfu_hmap_free(sfu_hmap_t *m); /* frees buckets only, never the nodes */
/* Returns 0 or SFU_ENOMEM (only when growing fails; the node is inserted anyway). */
int sfu_hmap_insert(sfu_hmap_t *m, sfu_hnode_t *n, uint64_t hash);
/* The node must be in the map. */
void sfu_hmap_remove(sfu_hmap_t *m, sfu_hnode_t *n);
sfu_hnode_t *sfu_hmap_first(const sfu_hmap_t *m, uint64_t hash);
sfu_hnode_t *sfu_hmap_next(const sfu_hnode_t *n, uint64_t hash);

/* Iterate every node (no insert/remove during iteration except through _safe use of
 * the returned pointer after fetching the next one). */
sfu_hnode_t *sfu_hmap_iter_first(const sfu_hmap_t *m, size_t *bucket);
sfu_hnode_t *sfu_hmap_iter_next(const sfu_hmap_t *m, const sfu_hnode_t *n, size_t *bucket);

/* A fast non-cryptographic 64-bit hash (FNV-1a folded with a final mix). Keys that a
 * peer controls (STUN usernames, 5-tuples) are mixed with a per-process random seed so
 * that a peer cannot aim collisions at one bucket. */
uint64_t sfu_hash_bytes(const void *data, size_t len);
uint64_t sfu_hash_str(const char *s);
void sfu_hash_seed(uint64_t seed); /* call once at start-up, before threads */

#endif
