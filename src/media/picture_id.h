/* The PictureID field that VP8 (RFC 7741 §4.2) and VP9 (RFC 9628 §4.2) descriptors share:
 * |M| 7 bits |, or with M=1 |M| 15 bits (two octets)|. Private to src/media. */
#ifndef SFU_MEDIA_PICTURE_ID_H
#define SFU_MEDIA_PICTURE_ID_H

#include <stddef.h>
#include <stdint.h>

#include "sfu/err.h"

/* Reads the field at *off (< len checked here); advances *off past it. */
static inline int sfu_picture_id_read(const uint8_t *p, size_t len, size_t *off, uint16_t *id,
                                      uint8_t *bits) {
  size_t o = *off;
  if (o >= len) return SFU_ETRUNC;
  if (p[o] & 0x80) { /* M: "extended", 15 bits */
    if (len - o < 2) return SFU_ETRUNC;
    *bits = 15;
    *id = (uint16_t)((p[o] & 0x7f) << 8 | p[o + 1]);
    *off = o + 2;
  } else {
    *bits = 7;
    *id = p[o] & 0x7f;
    *off = o + 1;
  }
  return 0;
}

#endif
