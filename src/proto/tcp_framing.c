/* RFC 4571 §2 framing (used by ICE-TCP, RFC 6544 §3). */
#include <string.h>

#include "sfu/bytes.h"
#include "sfu/err.h"
#include "sfu/tcp_framing.h"

int sfu_tcp_deframer_init(sfu_tcp_deframer_t *d, uint8_t *storage, size_t cap) {
  if (!d) return SFU_EINVAL;
  memset(d, 0, sizeof *d);
  if (!storage || cap == 0) {
    d->err = SFU_EINVAL;
    return SFU_EINVAL;
  }
  d->buf = storage;
  d->max_frame = cap > SFU_TCP_FRAME_MAX ? SFU_TCP_FRAME_MAX : cap;
  return 0;
}

/* A length prefix is complete: accept it or fail for good. */
static int start_frame(sfu_tcp_deframer_t *d, size_t len) {
  if (len == 0 || len > d->max_frame) {
    d->err = SFU_EPARSE;
    return SFU_EPARSE;
  }
  d->need = len;
  d->have = 0;
  d->hdr_have = 2;
  return 0;
}

static int deliver(sfu_tcp_deframer_t *d, const uint8_t *p, size_t n, const uint8_t **frame,
                   size_t *frame_len) {
  *frame = p;
  *frame_len = n;
  d->hdr_have = 0;
  d->need = d->have = 0;
  d->frames++;
  return 1;
}

int sfu_tcp_deframer_next(sfu_tcp_deframer_t *d, const uint8_t **in, size_t *in_len,
                          const uint8_t **frame, size_t *frame_len) {
  if (!d || !in || !in_len || !frame || !frame_len || (!*in && *in_len)) return SFU_EINVAL;
  if (d->err) return d->err;
  /* Each pass consumes at least one byte or returns, so this is O(chunk) overall. */
  while (*in_len > 0) {
    const uint8_t *p = *in;
    if (d->hdr_have < 2) {
      d->hdr[d->hdr_have++] = p[0];
      *in = p + 1;
      *in_len -= 1;
      if (d->hdr_have == 2 && start_frame(d, sfu_rd16(d->hdr))) return d->err;
      continue;
    }
    size_t missing = d->need - d->have;
    if (d->have == 0 && *in_len >= missing) {
      /* The whole frame is in this chunk: hand out a view, copy nothing. */
      *in = p + missing;
      *in_len -= missing;
      return deliver(d, p, missing, frame, frame_len);
    }
    size_t take = *in_len < missing ? *in_len : missing;
    memcpy(d->buf + d->have, p, take); /* have + take ≤ need ≤ max_frame: bounded */
    d->have += take;
    *in = p + take;
    *in_len -= take;
    if (d->have == d->need) {
      d->copied++;
      return deliver(d, d->buf, d->need, frame, frame_len);
    }
  }
  return 0;
}

int sfu_tcp_deframer_feed(sfu_tcp_deframer_t *d, const uint8_t *chunk, size_t len,
                          sfu_tcp_frame_cb cb, void *user) {
  const uint8_t *f = NULL;
  size_t flen = 0;
  int rc;
  while ((rc = sfu_tcp_deframer_next(d, &chunk, &len, &f, &flen)) == 1)
    if (cb) cb(user, f, flen);
  return rc;
}

int sfu_tcp_deframer_pending(const sfu_tcp_deframer_t *d) {
  return d && (d->hdr_have > 0 || d->have > 0);
}

int sfu_tcp_frame_header(uint8_t out[2], size_t len) {
  if (!out) return SFU_EINVAL;
  if (len > SFU_TCP_FRAME_MAX) return SFU_ETOOBIG;
  sfu_wr16(out, (uint16_t)len);
  return 0;
}

int sfu_tcp_frame_write(uint8_t *out, size_t cap, const uint8_t *payload, size_t len) {
  if (!out || (!payload && len)) return SFU_EINVAL;
  if (len > SFU_TCP_FRAME_MAX || cap < len + 2) return SFU_ETOOBIG;
  if (len) memmove(out + 2, payload, len);
  sfu_wr16(out, (uint16_t)len);
  return (int)(len + 2);
}
