/* libFuzzer target: RFC 7983 demux, RTP header view, RFC 8285 extension iteration,
 * typed extension readers, in-place rewrite and RTX wrap/unwrap. Invariant violations
 * abort so the fuzzer reports them as crashes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sfu/demux.h"
#include "sfu/rtp.h"

#define CHECK(x) do { if (!(x)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sfu_demux_facts_t f;
  sfu_demux_facts(data, size, &f);
  CHECK(f.kind == sfu_demux_classify(data, size));

  sfu_rtp_hdr_t h;
  if (sfu_rtp_parse(data, size, &h) != 0) return 0;
  CHECK(h.header_len + h.payload_len + h.pad_len == size);
  CHECK(h.payload == data + h.header_len);

  sfu_rtp_ext_iter_t it;
  sfu_rtp_ext_iter_init(&it, &h);
  uint8_t id;
  const uint8_t *d;
  size_t n;
  int r, count = 0;
  while ((r = sfu_rtp_ext_iter_next(&it, &id, &d, &n)) == 1) {
    CHECK(id != 0);
    CHECK(d >= h.ext_data && d + n <= h.ext_data + h.ext_len);
    CHECK(count++ < 65536);
    const uint8_t *d2;
    size_t n2;
    /* find returns the first element with this id: same or earlier */
    CHECK(sfu_rtp_ext_find(&h, id, &d2, &n2) == 0 && d2 <= d);
    uint32_t v24;
    uint16_t s16;
    int voice;
    uint8_t lvl;
    const char *s;
    size_t sl;
    char buf[32];
    sfu_rtp_ext_abs_send_time(d, n, &v24);
    sfu_rtp_ext_twcc_seq(d, n, &s16);
    sfu_rtp_ext_audio_level(d, n, &voice, &lvl);
    if (sfu_rtp_ext_str(d, n, &s, &sl) == 0) CHECK(sl >= 1 && sl <= n);
    sfu_rtp_ext_str_copy(d, n, buf, sizeof buf);
  }
  CHECK(r <= 0);

  /* Rewrites on a private copy must leave the packet parseable with the same shape. */
  uint8_t *copy = malloc(size + 2);
  memcpy(copy, data, size);
  sfu_rtp_hdr_t hc;
  CHECK(sfu_rtp_parse(copy, size, &hc) == 0);
  for (uint8_t i = 1; i < 16; i++) sfu_rtp_set_twcc_seq(copy, &hc, i, 0xbeef);
  sfu_rtp_set_ssrc(copy, 1);
  sfu_rtp_set_seq(copy, 2);
  sfu_rtp_set_timestamp(copy, 3);
  sfu_rtp_set_marker(copy, 1);
  sfu_rtp_set_payload_type(copy, 96);
  sfu_rtp_hdr_t h2;
  CHECK(sfu_rtp_parse(copy, size, &h2) == 0);
  CHECK(h2.header_len == h.header_len && h2.payload_len == h.payload_len);
  CHECK(h2.ssrc == 1 && h2.seq == 2 && h2.timestamp == 3 && h2.marker && h2.payload_type == 96);
  free(copy);

  /* RTX: wrap then unwrap restores header fields and payload (padding is dropped). */
  uint8_t *rtx = malloc(size + 2);
  int len = sfu_rtp_rtx_wrap(data, size, 97, 0x1234, 7, rtx, size + 2);
  CHECK(len == (int)(h.header_len + 2 + h.payload_len));
  sfu_rtp_hdr_t hr;
  CHECK(sfu_rtp_parse(rtx, (size_t)len, &hr) == 0);
  size_t rl = (size_t)len;
  CHECK(sfu_rtp_rtx_unwrap(rtx, &rl, &hr, h.payload_type, h.ssrc) == 0);
  CHECK(rl == h.header_len + h.payload_len);
  CHECK(memcmp(rtx + 1, data + 1, 11) == 0);
  CHECK(memcmp(rtx + 12, data + 12, rl - 12) == 0);
  free(rtx);
  return 0;
}
