/* libFuzzer target: the per-codec RTP payload readers (VP8, H.264 + SPS, VP9, AV1) on
 * the same input. Invariants violated abort so the fuzzer reports them as crashes:
 * results stay inside the input, keyframe sizes are non-zero and bounded, and a VP8
 * PictureID/TL0PICIDX rewrite reads back as written. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sfu/codec_av1.h"
#include "sfu/codec_h264.h"
#include "sfu/codec_vp8.h"
#include "sfu/codec_vp9.h"

#define CHECK(x)       \
  do {                 \
    if (!(x)) abort(); \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void vp8(const uint8_t *data, size_t size) {
  sfu_vp8_desc_t d;
  if (sfu_vp8_parse(data, size, &d) != 0) return;
  CHECK(d.desc_len >= 1 && d.desc_len < size);
  CHECK(!d.keyframe || (d.frame_start && d.width && d.height));
  CHECK(d.picture_id_bits == 0 || d.picture_id_off < d.desc_len);
  uint8_t *copy = malloc(size);
  memcpy(copy, data, size);
  uint16_t pid = (uint16_t)(d.picture_id + 1);
  uint8_t tl0 = (uint8_t)(d.tl0picidx + 1);
  int rp = sfu_vp8_set_picture_id(copy, &d, pid);
  int rt = sfu_vp8_set_tl0picidx(copy, &d, tl0);
  sfu_vp8_desc_t e;
  CHECK(sfu_vp8_parse(copy, size, &e) == 0);
  CHECK(e.desc_len == d.desc_len && e.keyframe == d.keyframe && e.width == d.width);
  if (rp == 0) CHECK(e.picture_id == (pid & (d.picture_id_bits == 15 ? 0x7fff : 0x7f)));
  if (rt == 0) CHECK(e.tl0picidx == tl0);
  free(copy);
}

static void h264(const uint8_t *data, size_t size) {
  sfu_h264_info_t in;
  if (sfu_h264_parse(data, size, &in) == 0) {
    CHECK(in.keyframe == (in.has_sps || in.has_idr));
    CHECK(!in.width || (in.has_sps && in.height && in.width <= 16384 && in.height <= 16384));
  }
  uint16_t w, h;
  if (sfu_h264_sps_resolution(data, size, &w, &h) == 0) CHECK(w && h && w <= 16384 && h <= 16384);
}

static void vp9(const uint8_t *data, size_t size) {
  sfu_vp9_desc_t d;
  if (sfu_vp9_parse(data, size, &d) != 0) return;
  CHECK(d.desc_len >= 1 && d.desc_len < size);
  CHECK(!d.has_sizes || (d.width && d.height));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  vp8(data, size);
  h264(data, size);
  vp9(data, size);
  sfu_av1_info_t a;
  if (sfu_av1_parse(data, size, &a) == 0) CHECK(a.keyframe == a.new_sequence);
  return 0;
}
