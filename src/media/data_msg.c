/* A shared outgoing data message (include/sfu/data_msg.h). */
#include "sfu/data_msg.h"

#include <stdlib.h>
#include <string.h>

sfu_data_msg_t *sfu_data_msg_new(size_t len, uint64_t now_us) {
  if (len > UINT32_MAX) return NULL;
  sfu_data_msg_t *m = malloc(sizeof *m + len);
  if (!m) return NULL;
  m->refs = 1;
  m->kind = 0;
  m->len = (uint32_t)len;
  m->sender = 0;
  m->seq = 0;
  m->at_us = now_us;
  m->expires_us = 0;
  return m;
}

sfu_data_msg_t *sfu_data_msg_copy(const void *bytes, size_t len, uint64_t now_us) {
  sfu_data_msg_t *m = sfu_data_msg_new(len, now_us);
  if (m && len) memcpy(m->bytes, bytes, len);
  return m;
}

void sfu_data_msg_unref(sfu_data_msg_t *m) {
  if (m && --m->refs == 0) free(m);
}
