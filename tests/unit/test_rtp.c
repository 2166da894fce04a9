/* Unit tests for demux (RFC 7983), RTP header view and RFC 8285 extensions, RTX,
 * and the header-extension URI table. */
#include <stdlib.h>
#include <string.h>

#include "sfu/demux.h"
#include "sfu/err.h"
#include "sfu/rtp.h"
#include "sfu/rtp_ext.h"
#include "test.h"

/* A video packet as Chromium sends it with the ids of design/chrome-simulcast-offer.sdp:
 * abs-send-time id 2, transport-cc id 4, mid id 9 ("0"), rid id 10 ("h"), one-byte
 * form, padded to a word with a zero byte. VP8 payload start then 20 payload bytes. */
static const uint8_t chrome_pkt[] = {
    0x90, 0xe0, 0x1a, 0x2b,             /* V=2 X=1, M=1 PT=96, seq 0x1a2b */
    0x00, 0x01, 0x86, 0xa0,             /* timestamp 100000 */
    0xde, 0xad, 0xbe, 0xef,             /* SSRC */
    0xbe, 0xde, 0x00, 0x03,             /* one-byte profile, 3 words */
    0x22, 0x12, 0x34, 0x56,             /* id 2 L=2: abs-send-time 0x123456 */
    0x41, 0x00, 0x2a,                   /* id 4 L=1: twcc seq 42 */
    0x90, '0',                          /* id 9 L=0: mid "0" */
    0xa0, 'h',                          /* id 10 L=0: rid "h" */
    0x00,                               /* padding */
    0x90, 0xe0, 0x80, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
    0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11,
};

TEST(demux_first_byte_table) {
  uint8_t b[32];
  memset(b, 0, sizeof b);
  struct { uint8_t b0, b1; sfu_pkt_kind_t want; } t[] = {
      {0, 1, SFU_PKT_STUN},      {3, 0, SFU_PKT_STUN},      {4, 0, SFU_PKT_UNKNOWN},
      {16, 0, SFU_PKT_UNKNOWN},  {19, 0, SFU_PKT_UNKNOWN},  {20, 0, SFU_PKT_DTLS},
      {22, 0xfe, SFU_PKT_DTLS},  {63, 0, SFU_PKT_DTLS},     {64, 0, SFU_PKT_UNKNOWN},
      {79, 0, SFU_PKT_UNKNOWN},  {127, 0, SFU_PKT_UNKNOWN}, {128, 96, SFU_PKT_RTP},
      {0x80, 0xe0, SFU_PKT_RTP}, /* PT 96 + marker = 224: RTP */
      {0x80, 191, SFU_PKT_RTP},  {0x80, 192, SFU_PKT_RTCP}, {0x81, 200, SFU_PKT_RTCP},
      {0x8f, 206, SFU_PKT_RTCP}, {0x80, 223, SFU_PKT_RTCP}, {191, 0, SFU_PKT_RTP},
      {192, 0, SFU_PKT_UNKNOWN}, {255, 0, SFU_PKT_UNKNOWN},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    b[0] = t[i].b0;
    b[1] = t[i].b1;
    if (sfu_demux_classify(b, sizeof b) != t[i].want)
      fprintf(stderr, "byte0=%u byte1=%u\n", t[i].b0, t[i].b1);
    CHECK_EQ_INT(sfu_demux_classify(b, sizeof b), t[i].want);
  }
  CHECK_EQ_STR(sfu_demux_kind_name(SFU_PKT_RTCP), "rtcp");
  CHECK_EQ_STR(sfu_demux_kind_name((sfu_pkt_kind_t)99), "unknown");
}

TEST(demux_short_packets_are_unknown) {
  uint8_t b[32] = {0};
  CHECK_EQ_INT(sfu_demux_classify(b, 0), SFU_PKT_UNKNOWN);
  CHECK_EQ_INT(sfu_demux_classify(b, 19), SFU_PKT_UNKNOWN);   /* STUN < 20 */
  CHECK_EQ_INT(sfu_demux_classify(b, 20), SFU_PKT_STUN);
  b[0] = 22;
  CHECK_EQ_INT(sfu_demux_classify(b, 12), SFU_PKT_UNKNOWN);   /* DTLS < 13 */
  CHECK_EQ_INT(sfu_demux_classify(b, 13), SFU_PKT_DTLS);
  b[0] = 0x80; b[1] = 96;
  CHECK_EQ_INT(sfu_demux_classify(b, 11), SFU_PKT_UNKNOWN);   /* RTP < 12 */
  CHECK_EQ_INT(sfu_demux_classify(b, 12), SFU_PKT_RTP);
  b[1] = 201;
  CHECK_EQ_INT(sfu_demux_classify(b, 7), SFU_PKT_UNKNOWN);    /* RTCP < 8 */
  CHECK_EQ_INT(sfu_demux_classify(b, 8), SFU_PKT_RTCP);
}

TEST(demux_facts) {
  sfu_demux_facts_t f;
  sfu_demux_facts(chrome_pkt, sizeof chrome_pkt, &f);
  CHECK_EQ_INT(f.kind, SFU_PKT_RTP);
  CHECK_EQ_INT(f.ssrc, 0xdeadbeef);
  CHECK_EQ_INT(f.payload_type, 96);
  uint8_t stun[20] = {0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42};
  sfu_demux_facts(stun, sizeof stun, &f);
  CHECK_EQ_INT(f.kind, SFU_PKT_STUN);
  CHECK_EQ_INT(f.stun_type, 0x0001);
  CHECK(f.stun_magic_ok);
  stun[4] = 0;
  sfu_demux_facts(stun, sizeof stun, &f);
  CHECK(!f.stun_magic_ok);
  uint8_t dtls[13] = {22, 0xfe, 0xfd, 0x00, 0x01};
  sfu_demux_facts(dtls, sizeof dtls, &f);
  CHECK_EQ_INT(f.kind, SFU_PKT_DTLS);
  CHECK_EQ_INT(f.dtls_content, 22);
  CHECK_EQ_INT(f.dtls_epoch, 1);
  uint8_t rtcp[8] = {0x80, 201, 0x00, 0x01, 0x11, 0x22, 0x33, 0x44};
  sfu_demux_facts(rtcp, sizeof rtcp, &f);
  CHECK_EQ_INT(f.kind, SFU_PKT_RTCP);
  CHECK_EQ_INT(f.ssrc, 0x11223344);
  CHECK_EQ_INT(f.payload_type, 201);
}

TEST(rtp_parse_chrome_packet) {
  sfu_rtp_hdr_t h;
  REQUIRE(sfu_rtp_parse(chrome_pkt, sizeof chrome_pkt, &h) == 0);
  CHECK_EQ_INT(h.version, 2);
  CHECK_EQ_INT(h.padding, 0);
  CHECK_EQ_INT(h.extension, 1);
  CHECK_EQ_INT(h.csrc_count, 0);
  CHECK_EQ_INT(h.marker, 1);
  CHECK_EQ_INT(h.payload_type, 96);
  CHECK_EQ_INT(h.seq, 0x1a2b);
  CHECK_EQ_INT(h.timestamp, 100000);
  CHECK_EQ_INT(h.ssrc, 0xdeadbeef);
  CHECK_EQ_INT(h.ext_profile, 0xbede);
  CHECK_EQ_INT(h.ext_len, 12);
  CHECK_EQ_INT(h.header_len, 28);
  CHECK(h.payload == chrome_pkt + 28);
  CHECK_EQ_INT(h.payload_len, 20);
  CHECK_EQ_INT(h.pad_len, 0);
  CHECK(sfu_rtp_ext_is_rfc8285(&h));

  const uint8_t *d;
  size_t n;
  uint32_t ast;
  uint16_t tw;
  REQUIRE(sfu_rtp_ext_find(&h, 2, &d, &n) == 0);
  CHECK(sfu_rtp_ext_abs_send_time(d, n, &ast) == 0);
  CHECK_EQ_INT(ast, 0x123456);
  REQUIRE(sfu_rtp_ext_find(&h, 4, &d, &n) == 0);
  CHECK(sfu_rtp_ext_twcc_seq(d, n, &tw) == 0);
  CHECK_EQ_INT(tw, 42);
  char s[8];
  REQUIRE(sfu_rtp_ext_find(&h, 9, &d, &n) == 0);
  CHECK(sfu_rtp_ext_str_copy(d, n, s, sizeof s) == 0);
  CHECK_EQ_STR(s, "0");
  REQUIRE(sfu_rtp_ext_find(&h, 10, &d, &n) == 0);
  CHECK(sfu_rtp_ext_str_copy(d, n, s, sizeof s) == 0);
  CHECK_EQ_STR(s, "h");
  CHECK_EQ_INT(sfu_rtp_ext_find(&h, 3, &d, &n), SFU_ENOENT);
  CHECK_EQ_INT(sfu_rtp_ext_find(&h, 0, &d, &n), SFU_ENOENT);

  /* Iteration yields exactly the four elements, in order. */
  sfu_rtp_ext_iter_t it;
  uint8_t id, ids[8];
  int k = 0, r;
  sfu_rtp_ext_iter_init(&it, &h);
  while ((r = sfu_rtp_ext_iter_next(&it, &id, &d, &n)) == 1 && k < 8) ids[k++] = id;
  CHECK_EQ_INT(r, 0);
  CHECK_EQ_INT(k, 4);
  CHECK(k == 4 && ids[0] == 2 && ids[1] == 4 && ids[2] == 9 && ids[3] == 10);
}

TEST(rtp_every_truncation) {
  sfu_rtp_hdr_t h;
  for (size_t len = 0; len < sizeof chrome_pkt; len++) {
    int r = sfu_rtp_parse(chrome_pkt, len, &h);
    if (len < 28) {
      CHECK_EQ_INT(r, SFU_ETRUNC);
    } else {
      /* The header is whole: a shorter payload is still a valid packet. */
      CHECK_EQ_INT(r, 0);
      CHECK_EQ_INT(h.payload_len, len - 28);
    }
  }
}

TEST(rtp_bad_version_padding_csrc) {
  uint8_t b[64];
  sfu_rtp_hdr_t h;
  memcpy(b, chrome_pkt, sizeof chrome_pkt);
  b[0] = (b[0] & 0x3f) | 0x40; /* version 1 */
  CHECK_EQ_INT(sfu_rtp_parse(b, sizeof chrome_pkt, &h), SFU_EPARSE);

  /* Padding: 4 bytes of padding at the end, count 4 */
  memcpy(b, chrome_pkt, sizeof chrome_pkt);
  b[0] |= 0x20;
  b[sizeof chrome_pkt - 1] = 4;
  REQUIRE(sfu_rtp_parse(b, sizeof chrome_pkt, &h) == 0);
  CHECK_EQ_INT(h.padding, 1);
  CHECK_EQ_INT(h.pad_len, 4);
  CHECK_EQ_INT(h.payload_len, 16);
  /* Padding that eats the whole payload is fine (RTX probes are all padding)... */
  b[sizeof chrome_pkt - 1] = 20;
  REQUIRE(sfu_rtp_parse(b, sizeof chrome_pkt, &h) == 0);
  CHECK_EQ_INT(h.payload_len, 0);
  /* ...but not one byte more, and a count of 0 is invalid. */
  b[sizeof chrome_pkt - 1] = 21;
  CHECK_EQ_INT(sfu_rtp_parse(b, sizeof chrome_pkt, &h), SFU_EPARSE);
  b[sizeof chrome_pkt - 1] = 0;
  CHECK_EQ_INT(sfu_rtp_parse(b, sizeof chrome_pkt, &h), SFU_EPARSE);
  b[sizeof chrome_pkt - 1] = 255;
  CHECK_EQ_INT(sfu_rtp_parse(b, sizeof chrome_pkt, &h), SFU_EPARSE);

  /* CSRCs: 15 of them need 72 bytes */
  uint8_t c[80] = {0x8f, 96};
  for (int i = 0; i < 15; i++) c[12 + 4 * i + 3] = (uint8_t)i;
  CHECK_EQ_INT(sfu_rtp_parse(c, 71, &h), SFU_ETRUNC);
  REQUIRE(sfu_rtp_parse(c, 72, &h) == 0);
  CHECK_EQ_INT(h.csrc_count, 15);
  CHECK_EQ_INT(h.header_len, 72);
  CHECK_EQ_INT(h.payload_len, 0);
  CHECK(!sfu_rtp_ext_is_rfc8285(&h));

  /* Extension length beyond the packet */
  memcpy(b, chrome_pkt, sizeof chrome_pkt);
  b[15] = 200;
  CHECK_EQ_INT(sfu_rtp_parse(b, sizeof chrome_pkt, &h), SFU_ETRUNC);
}

TEST(rtp_one_byte_edge_cases) {
  uint8_t b[40] = {0x90, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xbe, 0xde, 0, 2};
  sfu_rtp_hdr_t h;
  const uint8_t *d;
  size_t n;
  uint8_t id;
  /* leading padding, id 5 with 16 bytes? no: L=2 (3 bytes), then id 15 terminates */
  uint8_t e1[8] = {0x00, 0x00, 0x52, 1, 2, 3, 0xf0, 0x31};
  memcpy(b + 16, e1, 8);
  REQUIRE(sfu_rtp_parse(b, 24, &h) == 0);
  REQUIRE(sfu_rtp_ext_find(&h, 5, &d, &n) == 0);
  CHECK_EQ_INT(n, 3);
  CHECK_EQ_INT(d[2], 3);
  CHECK_EQ_INT(sfu_rtp_ext_find(&h, 3, &d, &n), SFU_ENOENT); /* after id 15: not seen */
  /* An element overrunning the block */
  uint8_t e2[8] = {0x11, 0xaa, 0xbb, 0x3f, 1, 2, 3, 4};  /* id 3 wants 16 bytes */
  memcpy(b + 16, e2, 8);
  REQUIRE(sfu_rtp_parse(b, 24, &h) == 0);
  CHECK(sfu_rtp_ext_find(&h, 1, &d, &n) == 0);
  CHECK_EQ_INT(sfu_rtp_ext_find(&h, 3, &d, &n), SFU_EPARSE);
  CHECK_EQ_INT(sfu_rtp_ext_find(&h, 7, &d, &n), SFU_EPARSE);
  sfu_rtp_ext_iter_t it;
  sfu_rtp_ext_iter_init(&it, &h);
  CHECK_EQ_INT(sfu_rtp_ext_iter_next(&it, &id, &d, &n), 1);
  CHECK_EQ_INT(sfu_rtp_ext_iter_next(&it, &id, &d, &n), SFU_EPARSE);
  CHECK_EQ_INT(sfu_rtp_ext_iter_next(&it, &id, &d, &n), 0); /* stays ended */
  /* id 0 with non-zero length ends the list */
  uint8_t e3[8] = {0x03, 1, 2, 3, 0x10, 7, 0, 0};
  memcpy(b + 16, e3, 8);
  REQUIRE(sfu_rtp_parse(b, 24, &h) == 0);
  CHECK_EQ_INT(sfu_rtp_ext_find(&h, 1, &d, &n), SFU_ENOENT);
  /* A non-RFC 8285 profile: opaque, no elements */
  b[12] = 0x12; b[13] = 0x34;
  REQUIRE(sfu_rtp_parse(b, 24, &h) == 0);
  CHECK(!sfu_rtp_ext_is_rfc8285(&h));
  CHECK_EQ_INT(sfu_rtp_ext_find(&h, 1, &d, &n), SFU_ENOENT);
}

TEST(rtp_two_byte_extensions) {
  /* RFC 8285 §4.3: 0x100 + appbits 0x5; elements: id 1 len 0; pad; id 200 len 3;
   * id 20 len 2 */
  uint8_t b[] = {0x90, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0x10, 0x05, 0, 3,
                 0x01, 0x00, 0x00, 0xc8, 0x03, 'a', 'b', 'c', 0x14, 0x02, 0xab, 0xcd,
                 0xff};
  sfu_rtp_hdr_t h;
  const uint8_t *d;
  size_t n;
  REQUIRE(sfu_rtp_parse(b, sizeof b, &h) == 0);
  CHECK(sfu_rtp_ext_is_rfc8285(&h));
  REQUIRE(sfu_rtp_ext_find(&h, 1, &d, &n) == 0);
  CHECK_EQ_INT(n, 0);
  REQUIRE(sfu_rtp_ext_find(&h, 200, &d, &n) == 0);
  CHECK_EQ_INT(n, 3);
  CHECK(memcmp(d, "abc", 3) == 0);
  REQUIRE(sfu_rtp_ext_find(&h, 20, &d, &n) == 0);
  CHECK_EQ_INT(n, 2);
  CHECK_EQ_INT(d[1], 0xcd);
  CHECK_EQ_INT(h.payload_len, 1);
  /* Rewrite in place in the two-byte form too */
  uint16_t tw;
  CHECK(sfu_rtp_set_twcc_seq(b, &h, 20, 0x0102) == 0);
  REQUIRE(sfu_rtp_ext_find(&h, 20, &d, &n) == 0);
  CHECK(sfu_rtp_ext_twcc_seq(d, n, &tw) == 0);
  CHECK_EQ_INT(tw, 0x0102);
  /* Element length running past the block */
  b[20] = 0x09;
  REQUIRE(sfu_rtp_parse(b, sizeof b, &h) == 0);
  CHECK_EQ_INT(sfu_rtp_ext_find(&h, 20, &d, &n), SFU_EPARSE);
  /* A lone id byte at the very end of the block */
  uint8_t c[] = {0x90, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0x10, 0x00, 0, 1, 0, 0, 0, 0x07};
  REQUIRE(sfu_rtp_parse(c, sizeof c, &h) == 0);
  CHECK_EQ_INT(sfu_rtp_ext_find(&h, 7, &d, &n), SFU_EPARSE);
}

TEST(rtp_rewrite_in_place) {
  uint8_t b[sizeof chrome_pkt];
  memcpy(b, chrome_pkt, sizeof b);
  sfu_rtp_hdr_t h;
  REQUIRE(sfu_rtp_parse(b, sizeof b, &h) == 0);
  CHECK(sfu_rtp_set_twcc_seq(b, &h, 4, 0xfffe) == 0);
  CHECK(sfu_rtp_set_abs_send_time(b, &h, 2, 0xabcdef) == 0);
  CHECK_EQ_INT(sfu_rtp_set_twcc_seq(b, &h, 3, 1), SFU_ENOENT);
  CHECK_EQ_INT(sfu_rtp_set_abs_send_time(b, &h, 4, 1), SFU_EINVAL); /* id 4 is 2 bytes */
  uint8_t other[sizeof chrome_pkt];
  CHECK_EQ_INT(sfu_rtp_set_twcc_seq(other, &h, 4, 1), SFU_EINVAL); /* not h's buffer */
  sfu_rtp_set_ssrc(b, 0x01020304);
  sfu_rtp_set_seq(b, 7);
  sfu_rtp_set_timestamp(b, 0xfffffff0);
  sfu_rtp_set_marker(b, 0);
  sfu_rtp_set_payload_type(b, 100);
  REQUIRE(sfu_rtp_parse(b, sizeof b, &h) == 0);
  CHECK_EQ_INT(h.ssrc, 0x01020304);
  CHECK_EQ_INT(h.seq, 7);
  CHECK_EQ_INT(h.timestamp, 0xfffffff0);
  CHECK_EQ_INT(h.marker, 0);
  CHECK_EQ_INT(h.payload_type, 100);
  CHECK_EQ_INT(h.extension, 1);
  const uint8_t *d;
  size_t n;
  uint16_t tw;
  uint32_t ast;
  REQUIRE(sfu_rtp_ext_find(&h, 4, &d, &n) == 0);
  sfu_rtp_ext_twcc_seq(d, n, &tw);
  CHECK_EQ_INT(tw, 0xfffe);
  REQUIRE(sfu_rtp_ext_find(&h, 2, &d, &n) == 0);
  sfu_rtp_ext_abs_send_time(d, n, &ast);
  CHECK_EQ_INT(ast, 0xabcdef);
  /* Everything else unchanged */
  CHECK(memcmp(b + 28, chrome_pkt + 28, 20) == 0);
  sfu_rtp_set_marker(b, 1);
  CHECK_EQ_INT(b[1], 0x80 | 100);
}

TEST(rtp_rtx_round_trip) {
  uint8_t rtx[128], orig[128];
  int n = sfu_rtp_rtx_wrap(chrome_pkt, sizeof chrome_pkt, 97, 0x55667788, 900, rtx, sizeof rtx);
  REQUIRE(n == (int)sizeof chrome_pkt + 2);
  sfu_rtp_hdr_t h;
  REQUIRE(sfu_rtp_parse(rtx, (size_t)n, &h) == 0);
  CHECK_EQ_INT(h.payload_type, 97);
  CHECK_EQ_INT(h.ssrc, 0x55667788);
  CHECK_EQ_INT(h.seq, 900);
  CHECK_EQ_INT(h.marker, 1);
  uint16_t osn;
  REQUIRE(sfu_rtp_rtx_osn(&h, &osn) == 0);
  CHECK_EQ_INT(osn, 0x1a2b);
  const uint8_t *d;
  size_t dl;
  CHECK(sfu_rtp_ext_find(&h, 10, &d, &dl) == 0); /* extensions travel along */
  memcpy(orig, rtx, (size_t)n);
  size_t len = (size_t)n;
  REQUIRE(sfu_rtp_parse(orig, len, &h) == 0);
  REQUIRE(sfu_rtp_rtx_unwrap(orig, &len, &h, 96, 0xdeadbeef) == 0);
  CHECK_EQ_INT(len, sizeof chrome_pkt);
  CHECK(memcmp(orig, chrome_pkt, sizeof chrome_pkt) == 0);
  /* Too small a buffer, a non-RTP input, an RTX packet without OSN */
  CHECK_EQ_INT(sfu_rtp_rtx_wrap(chrome_pkt, sizeof chrome_pkt, 97, 1, 1, rtx, 49), SFU_ETOOBIG);
  CHECK_EQ_INT(sfu_rtp_rtx_wrap(chrome_pkt, 5, 97, 1, 1, rtx, sizeof rtx), SFU_EINVAL);
  REQUIRE(sfu_rtp_parse(chrome_pkt, 29, &h) == 0);
  CHECK_EQ_INT(sfu_rtp_rtx_osn(&h, &osn), SFU_ETRUNC);
  /* Padding is dropped by wrap: a padded original yields an unpadded RTX packet */
  uint8_t p[sizeof chrome_pkt];
  memcpy(p, chrome_pkt, sizeof p);
  p[0] |= 0x20;
  p[sizeof p - 1] = 4;
  n = sfu_rtp_rtx_wrap(p, sizeof p, 97, 1, 1, rtx, sizeof rtx);
  REQUIRE(n == (int)sizeof p - 4 + 2);
  REQUIRE(sfu_rtp_parse(rtx, (size_t)n, &h) == 0);
  CHECK_EQ_INT(h.padding, 0);
  CHECK_EQ_INT(h.payload_len, 16 + 2);
}

TEST(rtp_typed_extension_values) {
  int v;
  uint8_t lvl;
  uint8_t al[] = {0x80 | 33};
  REQUIRE(sfu_rtp_ext_audio_level(al, 1, &v, &lvl) == 0);
  CHECK_EQ_INT(v, 1);
  CHECK_EQ_INT(lvl, 33);
  al[0] = 127;
  REQUIRE(sfu_rtp_ext_audio_level(al, 1, &v, &lvl) == 0);
  CHECK_EQ_INT(v, 0);
  CHECK_EQ_INT(lvl, 127);
  CHECK_EQ_INT(sfu_rtp_ext_audio_level(al, 0, &v, &lvl), SFU_EPARSE);
  uint32_t a;
  CHECK_EQ_INT(sfu_rtp_ext_abs_send_time(al, 1, &a), SFU_EPARSE);
  uint16_t s;
  CHECK_EQ_INT(sfu_rtp_ext_twcc_seq(al, 1, &s), SFU_EPARSE);
  /* 6.18 fixed point: 1 << 18 is one second */
  CHECK_EQ_INT(sfu_rtp_abs_send_time_us(1u << 18), 1000000);
  CHECK_EQ_INT(sfu_rtp_abs_send_time_us(0xffffff), 63999996);
  CHECK_EQ_INT(sfu_rtp_abs_send_time_from_us(1500000), 3u << 17);
  CHECK_EQ_INT(sfu_rtp_abs_send_time_from_us(64000000), 0); /* wraps at 64 s */
  /* SDES strings: NUL-terminated padding cut, empty and control characters refused */
  const char *str;
  size_t sl;
  char out[4];
  const uint8_t padded[] = {'h', 'i', 0, 0};
  REQUIRE(sfu_rtp_ext_str(padded, 4, &str, &sl) == 0);
  CHECK_EQ_INT(sl, 2);
  CHECK_EQ_INT(sfu_rtp_ext_str(padded + 2, 2, &str, &sl), SFU_EPARSE);
  const uint8_t bad[] = {'a', '\n'};
  CHECK_EQ_INT(sfu_rtp_ext_str(bad, 2, &str, &sl), SFU_EPARSE);
  const uint8_t longs[] = {'a', 'b', 'c', 'd'};
  CHECK_EQ_INT(sfu_rtp_ext_str_copy(longs, 4, out, sizeof out), SFU_ETOOBIG);
  CHECK(sfu_rtp_ext_str_copy(longs, 3, out, sizeof out) == 0);
  CHECK_EQ_STR(out, "abc");
}

TEST(rtp_garbage_never_breaks_invariants) {
  uint8_t b[256];
  srand(1234);
  int ok = 0;
  for (int iter = 0; iter < 20000; iter++) {
    size_t len = (size_t)(rand() % (int)sizeof b);
    for (size_t i = 0; i < len; i++) b[i] = (uint8_t)rand();
    if (iter & 1) b[0] = (uint8_t)(0x80 | (b[0] & 0x3f)); /* version 2 half the time */
    sfu_rtp_hdr_t h;
    if (sfu_rtp_parse(b, len, &h) != 0) continue;
    ok++;
    CHECK_EQ_INT(h.header_len + h.payload_len + h.pad_len, len);
    sfu_rtp_ext_iter_t it;
    sfu_rtp_ext_iter_init(&it, &h);
    uint8_t id;
    const uint8_t *d;
    size_t n;
    int r, guard = 0;
    while ((r = sfu_rtp_ext_iter_next(&it, &id, &d, &n)) == 1 && guard++ < 1000) {
      CHECK(id != 0);
      CHECK(d >= h.ext_data && d + n <= h.ext_data + h.ext_len);
    }
    CHECK(r <= 0);
  }
  CHECK(ok > 1000); /* the generator does produce parseable packets */
}

/* The extmap URIs of design/chrome-simulcast-offer.sdp (Chromium), verbatim. */
static const char *chrome_uris[] = {
    "urn:ietf:params:rtp-hdrext:toffset",
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "urn:3gpp:video-orientation",
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
    "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay",
    "http://www.webrtc.org/experiments/rtp-hdrext/video-content-type",
    "http://www.webrtc.org/experiments/rtp-hdrext/video-timing",
    "http://www.webrtc.org/experiments/rtp-hdrext/color-space",
    "urn:ietf:params:rtp-hdrext:sdes:mid",
    "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
    "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
    "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension",
    "http://www.webrtc.org/experiments/rtp-hdrext/video-layers-allocation00",
};

TEST(rtp_ext_uri_table) {
  int seen[SFU_EXT__COUNT] = {0};
  for (size_t i = 0; i < sizeof chrome_uris / sizeof chrome_uris[0]; i++) {
    sfu_rtp_ext_kind_t k = sfu_rtp_ext_kind_from_uri(chrome_uris[i]);
    CHECK(k != SFU_EXT_NONE);
    if (k == SFU_EXT_NONE) fprintf(stderr, "unknown: %s\n", chrome_uris[i]);
    seen[k]++;
    CHECK_EQ_STR(sfu_rtp_ext_uri(k), chrome_uris[i]);
  }
  for (int k = 1; k < SFU_EXT__COUNT; k++) {
    CHECK(seen[k] <= 1);
    CHECK(sfu_rtp_ext_uri((sfu_rtp_ext_kind_t)k) != NULL);
    CHECK_EQ_INT(sfu_rtp_ext_kind_from_uri(sfu_rtp_ext_uri((sfu_rtp_ext_kind_t)k)), k);
  }
  CHECK_EQ_INT(sfu_rtp_ext_kind_from_uri("http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time"),
               SFU_EXT_ABS_CAPTURE_TIME);
  CHECK_EQ_INT(sfu_rtp_ext_kind_from_uri("urn:ietf:params:rtp-hdrext:sdes:MID"), SFU_EXT_NONE);
  CHECK_EQ_INT(sfu_rtp_ext_kind_from_uri(""), SFU_EXT_NONE);
  CHECK_EQ_INT(sfu_rtp_ext_kind_from_uri(NULL), SFU_EXT_NONE);
  CHECK(sfu_rtp_ext_uri(SFU_EXT_NONE) == NULL);
  CHECK(sfu_rtp_ext_uri(SFU_EXT__COUNT) == NULL);
  CHECK_EQ_STR(sfu_rtp_ext_name(SFU_EXT_TWCC), "twcc");
}

TEST(rtp_ext_map) {
  sfu_rtp_ext_map_t m;
  sfu_rtp_ext_map_init(&m);
  CHECK_EQ_INT(sfu_rtp_ext_map_id(&m, SFU_EXT_MID), 0);
  CHECK(sfu_rtp_ext_map_set(&m, 9, SFU_EXT_MID) == 0);
  CHECK(sfu_rtp_ext_map_set(&m, 9, SFU_EXT_MID) == 0); /* idempotent */
  CHECK(sfu_rtp_ext_map_set(&m, 200, SFU_EXT_TWCC) == 0); /* two-byte ids */
  CHECK_EQ_INT(sfu_rtp_ext_map_set(&m, 9, SFU_EXT_RID), SFU_EEXIST);
  CHECK_EQ_INT(sfu_rtp_ext_map_set(&m, 10, SFU_EXT_MID), SFU_EEXIST);
  CHECK_EQ_INT(sfu_rtp_ext_map_set(&m, 0, SFU_EXT_RID), SFU_EINVAL);
  CHECK_EQ_INT(sfu_rtp_ext_map_set(&m, 1, SFU_EXT__COUNT), SFU_EINVAL);
  CHECK(sfu_rtp_ext_map_set(&m, 11, SFU_EXT_NONE) == 0);
  CHECK_EQ_INT(sfu_rtp_ext_map_id(&m, SFU_EXT_MID), 9);
  CHECK_EQ_INT(sfu_rtp_ext_map_id(&m, SFU_EXT_TWCC), 200);
  CHECK_EQ_INT(sfu_rtp_ext_map_kind(&m, 9), SFU_EXT_MID);
  CHECK_EQ_INT(sfu_rtp_ext_map_kind(&m, 11), SFU_EXT_NONE);
  CHECK_EQ_INT(sfu_rtp_ext_map_kind(&m, 0), SFU_EXT_NONE);
}

int main(void) {
  RUN(demux_first_byte_table);
  RUN(demux_short_packets_are_unknown);
  RUN(demux_facts);
  RUN(rtp_parse_chrome_packet);
  RUN(rtp_every_truncation);
  RUN(rtp_bad_version_padding_csrc);
  RUN(rtp_one_byte_edge_cases);
  RUN(rtp_two_byte_extensions);
  RUN(rtp_rewrite_in_place);
  RUN(rtp_rtx_round_trip);
  RUN(rtp_typed_extension_values);
  RUN(rtp_garbage_never_breaks_invariants);
  RUN(rtp_ext_uri_table);
  RUN(rtp_ext_map);
  return test_summary();
}
