/* Shared by the rtcp*.c files only. */
#ifndef SFU_PROTO_RTCP_INTERNAL_H
#define SFU_PROTO_RTCP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "sfu/bytes.h"

/* RFC 3550 §6.4.1 common header: V=2 | P | count(5) | PT | length in words minus one.
 * total_len must be a multiple of 4 and >= 4. */
static inline void sfu_rtcp_put_hdr(uint8_t *buf, int padding, uint8_t count, uint8_t pt,
                                    size_t total_len) {
  buf[0] = (uint8_t)(0x80 | (padding ? 0x20 : 0) | (count & 0x1f));
  buf[1] = pt;
  sfu_wr16(buf + 2, (uint16_t)(total_len / 4 - 1));
}

/* Writes the 12-byte feedback header (RFC 4585 §6.1). */
static inline void sfu_rtcp_put_fb_hdr(uint8_t *buf, uint8_t pt, uint8_t fmt, size_t total_len,
                                       uint32_t sender, uint32_t media) {
  sfu_rtcp_put_hdr(buf, 0, fmt, pt, total_len);
  sfu_wr32(buf + 4, sender);
  sfu_wr32(buf + 8, media);
}

/* Largest RTCP packet the 16-bit length field can describe. */
#define SFU_RTCP_MAX_LEN (65536u * 4u)

#endif
