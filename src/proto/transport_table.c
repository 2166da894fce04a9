/* Per-loop demultiplexing index (see include/sfu/transport_table.h). */
#include "sfu/transport_table.h"

#include <string.h>

#include "sfu/err.h"

int sfu_transport_table_init(sfu_transport_table_t *t) {
  int r = sfu_hmap_init(&t->by_ufrag, 64);
  if (r) return r;
  r = sfu_hmap_init(&t->by_addr, 64);
  if (r) {
    sfu_hmap_free(&t->by_ufrag);
    return r;
  }
  t->on_addr_removed = NULL;
  t->hook_user = NULL;
  return 0;
}

void sfu_transport_table_set_hook(sfu_transport_table_t *t, sfu_tt_addr_removed_cb cb, void *user) {
  t->on_addr_removed = cb;
  t->hook_user = user;
}

static void unlink_addr(sfu_transport_table_t *t, sfu_tt_addr_entry_t *e) {
  sfu_hmap_remove(&t->by_addr, &e->node);
  e->linked = 0;
}

void sfu_transport_table_free(sfu_transport_table_t *t) {
  sfu_hmap_free(&t->by_ufrag);
  sfu_hmap_free(&t->by_addr);
}

static sfu_tt_ufrag_entry_t *find_ufrag(const sfu_transport_table_t *t, const char *ufrag,
                                        size_t len) {
  uint64_t h = sfu_hash_bytes(ufrag, len);
  for (sfu_hnode_t *n = sfu_hmap_first(&t->by_ufrag, h); n; n = sfu_hmap_next(n, h)) {
    sfu_tt_ufrag_entry_t *e = (sfu_tt_ufrag_entry_t *)((char *)n - offsetof(sfu_tt_ufrag_entry_t, node));
    if (e->ufrag_len == len && memcmp(e->ufrag, ufrag, len) == 0) return e;
  }
  return NULL;
}

int sfu_tt_add_ufrag(sfu_transport_table_t *t, sfu_tt_ufrag_entry_t *e, const char *ufrag,
                     void *value) {
  size_t len = ufrag ? strlen(ufrag) : 0;
  if (len == 0 || len > SFU_ICE_UFRAG_MAX || e->linked) return SFU_EINVAL;
  if (find_ufrag(t, ufrag, len)) return SFU_EEXIST;
  memcpy(e->ufrag, ufrag, len + 1);
  e->ufrag_len = len;
  e->value = value;
  e->linked = 1;
  /* Insert never fails to link the node (hmap.h); ENOMEM only means "did not grow". */
  (void)sfu_hmap_insert(&t->by_ufrag, &e->node, sfu_hash_bytes(ufrag, len));
  return 0;
}

void sfu_tt_remove_ufrag(sfu_transport_table_t *t, sfu_tt_ufrag_entry_t *e) {
  if (!e->linked) return;
  sfu_hmap_remove(&t->by_ufrag, &e->node);
  e->linked = 0;
}

sfu_tt_addr_entry_t *sfu_tt_find_addr(const sfu_transport_table_t *t, const sfu_addr_t *addr) {
  uint64_t h = sfu_addr_hash(addr);
  for (sfu_hnode_t *n = sfu_hmap_first(&t->by_addr, h); n; n = sfu_hmap_next(n, h)) {
    sfu_tt_addr_entry_t *e = (sfu_tt_addr_entry_t *)((char *)n - offsetof(sfu_tt_addr_entry_t, node));
    if (sfu_addr_equal(&e->addr, addr)) return e;
  }
  return NULL;
}

int sfu_tt_add_addr(sfu_transport_table_t *t, sfu_tt_addr_entry_t *e, const sfu_addr_t *addr,
                    void *value, sfu_tt_addr_entry_t **evicted) {
  if (evicted) *evicted = NULL;
  if (e->linked) return SFU_EINVAL;
  sfu_tt_addr_entry_t *old = sfu_tt_find_addr(t, addr);
  if (old) {
    /* The same 5-tuple authenticated for another transport: the newest wins (a client
     * that reuses a port after a restart, or a new device behind the same NAT mapping). */
    unlink_addr(t, old); /* still routed (to e's owner): no hook */
    if (evicted) *evicted = old;
  }
  e->addr = *addr;
  e->value = value;
  e->linked = 1;
  (void)sfu_hmap_insert(&t->by_addr, &e->node, sfu_addr_hash(addr));
  return 0;
}

void sfu_tt_remove_addr(sfu_transport_table_t *t, sfu_tt_addr_entry_t *e) {
  if (!e->linked) return;
  unlink_addr(t, e);
  if (t->on_addr_removed) t->on_addr_removed(t->hook_user, &e->addr);
}

void *sfu_tt_lookup_ufrag(const sfu_transport_table_t *t, const char *ufrag, size_t len) {
  sfu_tt_ufrag_entry_t *e = find_ufrag(t, ufrag, len);
  return e ? e->value : NULL;
}

void *sfu_tt_lookup_addr(const sfu_transport_table_t *t, const sfu_addr_t *addr) {
  sfu_tt_addr_entry_t *e = sfu_tt_find_addr(t, addr);
  return e ? e->value : NULL;
}

size_t sfu_tt_ufrag_count(const sfu_transport_table_t *t) { return t->by_ufrag.count; }
size_t sfu_tt_addr_count(const sfu_transport_table_t *t) { return t->by_addr.count; }
