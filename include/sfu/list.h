/* Intrusive doubly-linked list and container_of, so that containers allocate nothing.
 * A list head is an sfu_list_t initialised with sfu_list_init(); an element embeds an
 * sfu_list_t. Not thread-safe: a list belongs to the thread that owns its elements. */
#ifndef SFU_LIST_H
#define SFU_LIST_H

#include <stddef.h>

#define sfu_container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

typedef struct sfu_list {
  struct sfu_list *prev, *next;
} sfu_list_t;

static inline void sfu_list_init(sfu_list_t *h) { h->prev = h->next = h; }
static inline int sfu_list_empty(const sfu_list_t *h) { return h->next == h; }
static inline void sfu_list_insert_tail(sfu_list_t *h, sfu_list_t *e) {
  e->next = h; e->prev = h->prev; h->prev->next = e; h->prev = e;
}
static inline void sfu_list_insert_head(sfu_list_t *h, sfu_list_t *e) {
  e->prev = h; e->next = h->next; h->next->prev = e; h->next = e;
}
static inline void sfu_list_remove(sfu_list_t *e) {
  e->prev->next = e->next; e->next->prev = e->prev; e->prev = e->next = e;
}
#define sfu_list_foreach(it, head) for ((it) = (head)->next; (it) != (head); (it) = (it)->next)
/* Safe against removal of `it` inside the body. */
#define sfu_list_foreach_safe(it, tmp, head)                                 \
  for ((it) = (head)->next, (tmp) = (it)->next; (it) != (head); (it) = (tmp), (tmp) = (it)->next)

#endif
