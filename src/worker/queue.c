#include "worker/queue.h"

#include <stdlib.h>

#include <cjson/cJSON.h>

#include "sfu/err.h"

sfu_msg_t *sfu_msg_new(sfu_msg_type_t type) {
  sfu_msg_t *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  sfu_list_init(&m->link);
  m->type = type;
  return m;
}

void sfu_msg_free(sfu_msg_t *m) {
  if (!m) return;
  sfu_cmd_free(&m->cmd);
  cJSON_Delete(m->reply);
  free(m);
}

int sfu_mq_init(sfu_mq_t *q, uv_loop_t *loop, uv_async_cb cb, void *data) {
  sfu_list_init(&q->items);
  if (uv_mutex_init(&q->mu) != 0) return SFU_EINTERNAL;
  if (uv_async_init(loop, &q->async, cb) != 0) {
    uv_mutex_destroy(&q->mu);
    return SFU_EINTERNAL;
  }
  q->async.data = data;
  return 0;
}

void sfu_mq_push(sfu_mq_t *q, sfu_msg_t *m) {
  uv_mutex_lock(&q->mu);
  sfu_list_insert_tail(&q->items, &m->link);
  uv_mutex_unlock(&q->mu);
  uv_async_send(&q->async);
}

void sfu_mq_take(sfu_mq_t *q, sfu_list_t *out) {
  uv_mutex_lock(&q->mu);
  if (!sfu_list_empty(&q->items)) {
    /* Splice the whole list in O(1). */
    out->next = q->items.next;
    out->prev = q->items.prev;
    out->next->prev = out;
    out->prev->next = out;
    sfu_list_init(&q->items);
  }
  uv_mutex_unlock(&q->mu);
}

void sfu_mq_destroy(sfu_mq_t *q) {
  sfu_list_t *it, *tmp;
  sfu_list_foreach_safe(it, tmp, &q->items) {
    sfu_list_remove(it);
    sfu_msg_free(sfu_container_of(it, sfu_msg_t, link));
  }
  uv_mutex_destroy(&q->mu);
}
