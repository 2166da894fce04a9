/* RFC 4571 §2 framing for ICE-TCP (RFC 6544 §3): every STUN, DTLS, RTP or RTCP packet
 * on the TCP connection is preceded by its 16-bit big-endian length.
 *
 * The decoder is incremental and sans-IO: feed it whatever chunks the socket returns
 * (one byte at a time works) and take whole frames out, through an iterator
 * (sfu_tcp_deframer_next()) or a callback (sfu_tcp_deframer_feed). A frame that lies
 * whole inside the chunk is returned as a view into the chunk (no copy); only a frame
 * split across chunks is copied, into storage the caller gives at init, at most one
 * frame's worth: the buffer never grows.
 *
 * A length of zero or above the configured maximum is garbage (no ICE-TCP content is
 * empty; nothing legitimate exceeds the maximum): the decoder returns SFU_EPARSE and
 * stays failed, and the caller closes the connection.
 */
#ifndef SFU_TCP_FRAMING_H
#define SFU_TCP_FRAMING_H

#include <stddef.h>
#include <stdint.h>

#define SFU_TCP_FRAME_MAX 65535 /* the 16-bit length field's maximum (RFC 4571 §2) */

/* Owner: the TCP connection that embeds it, together with its storage; nothing to free.
 * Touched only by the connection's loop thread. */
typedef struct {
  uint8_t *buf;     /* caller storage for one split frame */
  size_t max_frame; /* largest accepted frame (= storage size, ≤ 65535) */
  uint8_t hdr[2];
  uint8_t hdr_have; /* bytes of the length prefix seen (0..2) */
  size_t need;      /* length of the frame being read, once hdr_have == 2 */
  size_t have;      /* bytes of it buffered in buf */
  int err;          /* sticky: once garbage was seen every call returns it */
  uint64_t frames;  /* frames delivered */
  uint64_t copied;  /* of those, frames that had to be reassembled in buf */
} sfu_tcp_deframer_t;

/* storage of cap bytes (1..65535; more is clamped) bounds the accepted frame size.
 * 0 or SFU_EINVAL. */
int sfu_tcp_deframer_init(sfu_tcp_deframer_t *d, uint8_t *storage, size_t cap);

/* Takes the next frame out of the input (*in, *in_len), advancing it past what was
 * consumed. Returns 1 with *frame and *frame_len set (a view valid until the next call and,
 * if it points into the input, as long as the input), 0 when the input is used up and
 * no frame is complete (the partial one is kept), or SFU_EPARSE for garbage. */
int sfu_tcp_deframer_next(sfu_tcp_deframer_t *d, const uint8_t **in, size_t *in_len,
                          const uint8_t **frame, size_t *frame_len);

typedef void (*sfu_tcp_frame_cb)(void *user, const uint8_t *frame, size_t len);
/* Feeds a whole chunk, calling cb for each completed frame. 0 or SFU_EPARSE (frames
 * before the garbage were delivered). cb must not re-enter this decoder. */
int sfu_tcp_deframer_feed(sfu_tcp_deframer_t *d, const uint8_t *chunk, size_t len,
                          sfu_tcp_frame_cb cb, void *user);

/* 1 if a frame is partly received (useful to tell a clean close from a cut one). */
int sfu_tcp_deframer_pending(const sfu_tcp_deframer_t *d);

/* The 2-byte length prefix for a len-byte packet. 0, or SFU_ETOOBIG/SFU_EINVAL. */
int sfu_tcp_frame_header(uint8_t out[2], size_t len);
/* Prefix + payload into out; returns 2 + len, or SFU_ETOOBIG/SFU_EINVAL. out and
 * payload may overlap (memmove), so a packet built at out + 2 can be framed in place. */
int sfu_tcp_frame_write(uint8_t *out, size_t cap, const uint8_t *payload, size_t len);

#endif
