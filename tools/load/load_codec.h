/* What a synthetic publisher puts in its RTP packets: RTP headers with the RFC 8285
 * one-byte extensions Chromium sends, the VP8 payload descriptor and keyframe header
 * (RFC 7741 §4.2, §4.3; RFC 6386 §9.1), and a minimal H.264 baseline SPS/PPS (ITU-T
 * H.264 §7.3.2.1.1, §7.3.2.2) whose picture size the worker reads back.
 *
 * Writers only: pure functions into caller buffers, no allocation, any thread. Each
 * returns the number of bytes written, or -1 if `cap` is too small. */
#ifndef SFU_LOAD_CODEC_H
#define SFU_LOAD_CODEC_H

#include <stddef.h>
#include <stdint.h>

/* One-byte header extensions of one packet (RFC 8285 §4.2). id 0 = leave out. */
typedef struct {
  uint8_t mid_id, rid_id, rrid_id, twcc_id, abs_id;
  const char *mid, *rid, *rrid; /* NULL or "" = leave out */
  uint16_t twcc_seq;
  uint32_t abs_send_time;       /* 24-bit 6.18 fixed point */
} load_rtp_ext_t;

typedef struct {
  uint8_t pt, marker, padding;
  uint16_t seq;
  uint32_t ts, ssrc;
} load_rtp_hdr_t;

/* RFC 3550 §5.1 fixed header plus the extension block (padded to 32 bits with zero
 * bytes, which RFC 8285 §4.2 allows). ext may be NULL. */
int load_rtp_write_header(uint8_t *buf, size_t cap, const load_rtp_hdr_t *h,
                          const load_rtp_ext_t *ext);

/* VP8 payload descriptor (RFC 7741 §4.2) as libwebrtc writes it without temporal
 * layers: X=1, S on a frame's first packet, PID 0; I=1 with a 15-bit PictureID (M=1),
 * L=1 TL0PICIDX, T=1 TID 0 (Y=1), K=0. Always 6 bytes. */
#define LOAD_VP8_DESC_LEN 6
int load_vp8_write_desc(uint8_t *buf, size_t cap, int start, uint16_t picture_id,
                        uint8_t tl0picidx);
/* A keyframe's first 10 bytes (RFC 6386 §9.1): frame tag (P=0, version 0, show_frame,
 * first_part_size), start code 9d 01 2a, 14-bit width and height with scale 0. A delta
 * frame's tag is the first 3 bytes with P=1 (load_vp8_write_delta_tag). */
#define LOAD_VP8_KEY_HDR_LEN 10
int load_vp8_write_key_header(uint8_t *buf, size_t cap, uint16_t width, uint16_t height,
                              uint32_t first_part_size);
int load_vp8_write_delta_tag(uint8_t *buf, size_t cap, uint32_t first_part_size);

/* H.264 NAL units with their one-byte NAL header, emulation prevention applied
 * (§7.4.1.1). SPS: profile_idc 66 (baseline), constraint_set0/1, level 3.1, poc type 2,
 * one reference frame, the size in macroblocks with frame cropping for sizes that are
 * not multiples of 16 (must be even). PPS: CAVLC, one slice group. */
int load_h264_write_sps(uint8_t *buf, size_t cap, uint16_t width, uint16_t height);
int load_h264_write_pps(uint8_t *buf, size_t cap);

/* Profile-level-id that matches the SPS above, for a=fmtp ("42e01f"). */
#define LOAD_H264_PROFILE_LEVEL_ID "42e01f"

#endif
