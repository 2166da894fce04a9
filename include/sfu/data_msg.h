/* One outgoing data message as the bytes every receiver gets (issue 10): built once per
 * message and shared, by reference count, between the meeting's cache (data_cache.h) and
 * the receivers' backpressure queues (data_relay.h). One allocation per message, none per
 * delivery. Owner: whoever holds a reference; the last unref frees it. Loop thread only. */
#ifndef SFU_DATA_MSG_H
#define SFU_DATA_MSG_H

#include <stddef.h>
#include <stdint.h>

typedef struct sfu_data_msg {
  uint32_t refs;
  uint8_t kind;        /* the owner's tag (data_relay.h: relayed, or the worker's own) */
  uint32_t len;        /* bytes in `bytes` */
  uint32_t sender;     /* the owner's id of the sender (data_relay.c: never back to it); 0 none */
  uint64_t seq;        /* the meeting's relay order, 1, 2, …; 0: not a relayed message */
  uint64_t at_us;      /* when the worker took it (a queue's age bound counts from here) */
  uint64_t expires_us; /* cached messages: when it leaves the cache; 0: not cached */
  uint8_t bytes[];     /* the envelope, as sent (PPID 51) */
} sfu_data_msg_t;

/* A message with room for len bytes (contents left to the caller; len set), one reference.
 * NULL on allocation failure. */
sfu_data_msg_t *sfu_data_msg_new(size_t len, uint64_t now_us);
/* A copy of bytes, one reference. */
sfu_data_msg_t *sfu_data_msg_copy(const void *bytes, size_t len, uint64_t now_us);
static inline sfu_data_msg_t *sfu_data_msg_ref(sfu_data_msg_t *m) {
  m->refs++;
  return m;
}
void sfu_data_msg_unref(sfu_data_msg_t *m); /* NULL is fine */

#endif
