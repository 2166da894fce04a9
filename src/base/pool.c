#include "sfu/pool.h"

#include <stdlib.h>

struct sfu_pool_slab {
  sfu_pool_slab_t *next;
  /* blocks follow, 16-byte aligned */
};

#define SLAB_HDR 16

void sfu_pool_init(sfu_pool_t *p, size_t block_size, size_t per_slab, size_t max_blocks) {
  p->block_size = (block_size + 15) & ~(size_t)15;
  if (p->block_size < sizeof(void *)) p->block_size = 16;
  p->blocks_per_slab = per_slab ? per_slab : 64;
  p->max_blocks = max_blocks;
  p->total = p->in_use = 0;
  p->free_list = NULL;
  p->slabs = NULL;
}

void sfu_pool_destroy(sfu_pool_t *p) {
  while (p->slabs) {
    sfu_pool_slab_t *n = p->slabs->next;
    free(p->slabs);
    p->slabs = n;
  }
  p->free_list = NULL;
  p->total = p->in_use = 0;
}

static int add_slab(sfu_pool_t *p) {
  size_t n = p->blocks_per_slab;
  if (p->max_blocks && p->total + n > p->max_blocks) n = p->max_blocks - p->total;
  if (n == 0) return -1;
  sfu_pool_slab_t *s = malloc(SLAB_HDR + n * p->block_size);
  if (!s) return -1;
  s->next = p->slabs;
  p->slabs = s;
  char *b = (char *)s + SLAB_HDR;
  for (size_t i = 0; i < n; i++) {
    *(void **)(b + i * p->block_size) = p->free_list;
    p->free_list = b + i * p->block_size;
  }
  p->total += n;
  return 0;
}

void *sfu_pool_get(sfu_pool_t *p) {
  if (!p->free_list && add_slab(p)) return NULL;
  void *b = p->free_list;
  p->free_list = *(void **)b;
  p->in_use++;
  return b;
}

void sfu_pool_put(sfu_pool_t *p, void *block) {
  if (!block) return;
  *(void **)block = p->free_list;
  p->free_list = block;
  p->in_use--;
}
