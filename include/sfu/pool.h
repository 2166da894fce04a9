/* Fixed-size block pool: a free list over slabs, so that the packet path never calls
 * malloc. Grows by one slab when empty (amortised; bounded by max_blocks). One thread. */
#ifndef SFU_POOL_H
#define SFU_POOL_H

#include <stddef.h>

typedef struct sfu_pool_slab sfu_pool_slab_t;

typedef struct {
  size_t block_size;     /* rounded up to 16 */
  size_t blocks_per_slab;
  size_t max_blocks;     /* 0 = unbounded */
  size_t total, in_use;
  void *free_list;
  sfu_pool_slab_t *slabs;
} sfu_pool_t;

void sfu_pool_init(sfu_pool_t *p, size_t block_size, size_t blocks_per_slab, size_t max_blocks);
void sfu_pool_destroy(sfu_pool_t *p); /* frees every slab, in use or not */
void *sfu_pool_get(sfu_pool_t *p);    /* NULL when max_blocks reached or out of memory */
void sfu_pool_put(sfu_pool_t *p, void *block);

#endif
