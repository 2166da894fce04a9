/* H.264 RTP payloads, packetization-mode 1 (RFC 6184 §5.6 single NAL unit, §5.7.1
 * STAP-A, §5.8 FU-A), and the picture size from a sequence parameter set (ITU-T H.264
 * §7.3.2.1.1, §7.4.2.1.1).
 *
 * Sans-IO, no allocation, no state, bounded work (one pass over the payload; the SPS
 * reader stops at the end of the NAL unit). Results go into a struct owned by the
 * caller. Any thread.
 */
#ifndef SFU_CODEC_H264_H
#define SFU_CODEC_H264_H

#include <stddef.h>
#include <stdint.h>

/* NAL unit types used here (H.264 Table 7-1, RFC 6184 Table 1). */
#define SFU_H264_NAL_IDR 5
#define SFU_H264_NAL_SPS 7
#define SFU_H264_NAL_PPS 8
#define SFU_H264_NAL_STAP_A 24
#define SFU_H264_NAL_FU_A 28

/* What one RTP packet of an H.264 stream says. Owned by the caller. */
typedef struct {
  uint8_t packet_type; /* NAL type of the RTP payload's first octet: 1..23, 24, 28 */
  /* FU-A only: S and E bits of the FU header, and the fragmented unit's type. */
  uint8_t fu_start, fu_end, fu_nal_type;
  /* NAL units that begin in this packet (an FU-A counts only its start fragment). */
  uint8_t has_idr, has_sps, has_pps;
  /* A point a viewer can start decoding at, as WebRTC sees it: an SPS (normally
   * SPS+PPS+IDR) or an IDR. A switch should prefer has_sps: a viewer that never saw
   * this layer's SPS/PPS cannot decode a bare IDR. */
  uint8_t keyframe;
  /* From the first SPS that begins in this packet; 0 if none or (FU-A) cut short. */
  uint16_t width, height;
} sfu_h264_info_t;

/* Parses one RTP payload. Returns 0; SFU_ETRUNC (empty payload, STAP-A unit or FU
 * header cut short); SFU_EPARSE (forbidden bit set, STAP-A with a zero-length unit,
 * FU-A with both S and E, an unsupported packet type (STAP-B, MTAP, FU-B, 0, 30, 31),
 * or an SPS that does not parse).
 * On error the struct holds whatever was read before the fault: use none of it. */
int sfu_h264_parse(const uint8_t *payload, size_t len, sfu_h264_info_t *info);

/* Picture size in luma samples from an SPS NAL unit (nal[0] is its NAL header, type 7;
 * emulation-prevention bytes still in). Frame cropping applied. Returns 0, SFU_ETRUNC
 * (unit ends inside the fields read) or SFU_EPARSE (not an SPS, out-of-range values,
 * or a size over 16384 in either direction). */
int sfu_h264_sps_resolution(const uint8_t *nal, size_t len, uint16_t *width, uint16_t *height);

#endif
