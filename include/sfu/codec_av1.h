/* AV1 RTP aggregation header ("RTP Payload Format for AV1", AOMedia, §4.4).
 *
 * Enough for a single AV1 stream: N=1 marks the first packet of a new coded video
 * sequence, which is where a viewer can start decoding. No OBU parsing (the picture
 * size lives in the sequence header OBU: not read yet). Sans-IO, no allocation.
 */
#ifndef SFU_CODEC_AV1_H
#define SFU_CODEC_AV1_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint8_t continuation; /* Z: the first OBU element continues one from the last packet */
  uint8_t continues;    /* Y: the last OBU element continues in the next packet */
  uint8_t obu_count;    /* W: 0 = every element has a length field, else 1..3 */
  uint8_t new_sequence; /* N */
  uint8_t keyframe;     /* = N: first packet of a coded video sequence */
} sfu_av1_info_t;

/* Returns 0; SFU_ETRUNC (no OBU byte after the aggregation header); SFU_EPARSE (N=1
 * with Z=1: a sequence cannot start in the middle of an OBU).
 * On error the struct holds whatever was read before the fault: use none of it. */
int sfu_av1_parse(const uint8_t *payload, size_t len, sfu_av1_info_t *info);

#endif
