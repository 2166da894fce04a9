/* Messages between the control thread and the media loops, and the queue that carries
 * them: a mutex-protected intrusive list plus a uv_async_t that wakes the owner.
 *
 * This is the only lock in the worker (docs/architecture.md): producers on any thread
 * hold it for one list insert; the owner holds it for one list splice per wake-up, then
 * handles the messages without it. uv_async_send coalesces wake-ups, so a burst of
 * messages costs one wake-up, and the owner always takes everything queued. */
#ifndef SFU_WORKER_QUEUE_H
#define SFU_WORKER_QUEUE_H

#include <stdint.h>
#include <uv.h>

#include "sfu/control.h"
#include "sfu/list.h"
#include "sfu/session.h"

typedef enum {
  SFU_MSG_CMD = 0, /* control -> loop: execute cmd, answer with a REPLY of the same req_id */
  SFU_MSG_REPLY,   /* loop -> control: reply to req_id (0 = internal, nobody waits) */
  SFU_MSG_EVENT,   /* loop -> control: a session event, to publish */
  SFU_MSG_STOP,    /* control -> loop: close everything and leave the thread */
} sfu_msg_type_t;

/* One message. Allocated by the sender, owned by the queue while queued, then by the
 * receiver, which frees it (sfu_msg_free) or sends it back re-typed. */
typedef struct {
  sfu_list_t link;
  sfu_msg_type_t type;
  int loop; /* the loop that sends (REPLY, EVENT) or receives (CMD) */
  uint64_t req_id;
  sfu_cmd_t cmd;  /* CMD; owned */
  cJSON *reply;   /* REPLY; owned. EVENT: sfu:IndexChanged's index JSON, owned */
  sfu_event_t ev; /* EVENT */
} sfu_msg_t;

sfu_msg_t *sfu_msg_new(sfu_msg_type_t type);
void sfu_msg_free(sfu_msg_t *m);

/* Owner: the thread running `loop`, which initialises it (or the thread that creates
 * that loop, before the loop's thread starts), closes the async on that thread, and
 * calls sfu_mq_destroy once the async is closed. Push: any thread, while the async is
 * open. */
typedef struct {
  uv_mutex_t mu;
  sfu_list_t items;
  uv_async_t async;
} sfu_mq_t;

int sfu_mq_init(sfu_mq_t *q, uv_loop_t *loop, uv_async_cb cb, void *data);
void sfu_mq_push(sfu_mq_t *q, sfu_msg_t *m);
/* Moves every queued message into out (an initialised, empty list). */
void sfu_mq_take(sfu_mq_t *q, sfu_list_t *out);
/* Frees queued messages and the mutex; the async must be closed already. */
void sfu_mq_destroy(sfu_mq_t *q);

#endif
