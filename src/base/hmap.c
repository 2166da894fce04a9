#include "sfu/hmap.h"

#include <stdlib.h>
#include <string.h>

#include "sfu/err.h"

static uint64_t g_seed = 0x9e3779b97f4a7c15ull;

void sfu_hash_seed(uint64_t seed) { g_seed = seed ^ 0x9e3779b97f4a7c15ull; }

uint64_t sfu_hash_bytes(const void *data, size_t len) {
  const unsigned char *p = data;
  uint64_t h = 0xcbf29ce484222325ull ^ g_seed;
  for (size_t i = 0; i < len; i++) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  /* splitmix64 finaliser: spreads FNV's weak low bits over the bucket mask. */
  h ^= h >> 30; h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27; h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

uint64_t sfu_hash_str(const char *s) { return sfu_hash_bytes(s, strlen(s)); }

int sfu_hmap_init(sfu_hmap_t *m, size_t initial) {
  size_t n = 8;
  while (n < initial) n <<= 1;
  m->buckets = calloc(n, sizeof *m->buckets);
  if (!m->buckets) return SFU_ENOMEM;
  m->mask = n - 1;
  m->count = 0;
  return 0;
}

void sfu_hmap_free(sfu_hmap_t *m) {
  free(m->buckets);
  m->buckets = NULL;
  m->mask = 0;
  m->count = 0;
}

static int grow(sfu_hmap_t *m) {
  size_t n = (m->mask + 1) * 2;
  sfu_hnode_t **nb = calloc(n, sizeof *nb);
  if (!nb) return SFU_ENOMEM;
  for (size_t i = 0; i <= m->mask; i++) {
    sfu_hnode_t *e = m->buckets[i];
    while (e) {
      sfu_hnode_t *next = e->next;
      size_t b = e->hash & (n - 1);
      e->next = nb[b];
      nb[b] = e;
      e = next;
    }
  }
  free(m->buckets);
  m->buckets = nb;
  m->mask = n - 1;
  return 0;
}

int sfu_hmap_insert(sfu_hmap_t *m, sfu_hnode_t *n, uint64_t hash) {
  int rc = 0;
  if (m->count + 1 > m->mask + 1) rc = grow(m);
  n->hash = hash;
  size_t b = hash & m->mask;
  n->next = m->buckets[b];
  m->buckets[b] = n;
  m->count++;
  return rc;
}

void sfu_hmap_remove(sfu_hmap_t *m, sfu_hnode_t *n) {
  sfu_hnode_t **pp = &m->buckets[n->hash & m->mask];
  while (*pp && *pp != n) pp = &(*pp)->next;
  if (*pp) {
    *pp = n->next;
    n->next = NULL;
    m->count--;
  }
}

sfu_hnode_t *sfu_hmap_first(const sfu_hmap_t *m, uint64_t hash) {
  sfu_hnode_t *e = m->buckets ? m->buckets[hash & m->mask] : NULL;
  while (e && e->hash != hash) e = e->next;
  return e;
}

sfu_hnode_t *sfu_hmap_next(const sfu_hnode_t *n, uint64_t hash) {
  sfu_hnode_t *e = n->next;
  while (e && e->hash != hash) e = e->next;
  return e;
}

sfu_hnode_t *sfu_hmap_iter_first(const sfu_hmap_t *m, size_t *bucket) {
  for (*bucket = 0; m->buckets && *bucket <= m->mask; (*bucket)++)
    if (m->buckets[*bucket]) return m->buckets[*bucket];
  return NULL;
}

sfu_hnode_t *sfu_hmap_iter_next(const sfu_hmap_t *m, const sfu_hnode_t *n, size_t *bucket) {
  if (n->next) return n->next;
  for ((*bucket)++; *bucket <= m->mask; (*bucket)++)
    if (m->buckets[*bucket]) return m->buckets[*bucket];
  return NULL;
}
