/* Unit tests for RTCP: compound iteration, SR/RR/SDES/BYE, NACK/PLI/FIR/REMB,
 * transport-cc feedback; known bytes, every truncation, garbage, writer round trips. */
#include <stdlib.h>
#include <string.h>

#include "sfu/err.h"
#include "sfu/rtcp.h"
#include "test.h"

/* SR (1 report block) + SDES CNAME, the compound Chromium sends for a video sender. */
static const uint8_t sr_sdes[] = {
    /* SR: V=2 RC=1 PT=200 length=12 (52 bytes) */
    0x81, 200, 0x00, 0x0c, 0x11, 0x22, 0x33, 0x44,  /* sender SSRC */
    0xe8, 0x00, 0x00, 0x01, 0x80, 0x00, 0x00, 0x00,  /* NTP 0xe8000001.80000000 */
    0x00, 0x01, 0x86, 0xa0,                          /* RTP ts 100000 */
    0x00, 0x00, 0x03, 0xe8,                          /* 1000 packets */
    0x00, 0x0f, 0x42, 0x40,                          /* 1000000 octets */
    0xaa, 0xbb, 0xcc, 0xdd,                          /* block: SSRC */
    0x40, 0xff, 0xff, 0xfe,                          /* fraction 64/256, cumulative -2 */
    0x00, 0x01, 0x12, 0x34,                          /* ext highest seq */
    0x00, 0x00, 0x00, 0x20,                          /* jitter 32 */
    0x12, 0x34, 0x56, 0x78,                          /* LSR */
    0x00, 0x01, 0x00, 0x00,                          /* DLSR 1 s */
    /* SDES: SC=1 PT=202 length=6 (28 bytes): SSRC, CNAME len 16, END + pad */
    0x81, 202, 0x00, 0x06, 0x11, 0x22, 0x33, 0x44, 0x01, 16,
    'J', 'n', '5', 't', 'Y', 'e', 'M', 't', 'r', 'R', 'v', '3', 'Z', 'j', 'l', '+',
    0x00, 0x00,
};

/* libwebrtc's REMB test packet (modules/rtp_rtcp/source/rtcp_packet/remb_unittest.cc):
 * 522022 bps = 0x3fb93 << 1, three SSRCs. */
static const uint8_t remb_pkt[] = {
    0x8f, 206, 0x00, 0x07, 0x12, 0x34, 0x56, 0x78, 0x00, 0x00, 0x00, 0x00,
    'R',  'E', 'M',  'B',  0x03, 0x07, 0xfb, 0x93, 0x23, 0x45, 0x67, 0x89,
    0x23, 0x45, 0x67, 0x8a, 0x23, 0x45, 0x67, 0x8b,
};

/* Generic NACK for {0, 1, 3, 8, 16}: PID 0, BLP 0x8085 (libwebrtc nack_unittest). */
static const uint8_t nack_pkt[] = {
    0x81, 205, 0x00, 0x03, 0x12, 0x34, 0x56, 0x78,
    0x23, 0x45, 0x67, 0x89, 0x00, 0x00, 0x80, 0x85,
};

/* Transport-cc feedback built from the chunk examples of
 * draft-holmer-rmcat-transport-wide-cc-extensions-01: §3.1.3 run length chunk
 * "0|00|0 0000 1101 1101" (221 x not received) and §3.1.4 one-bit vector
 * "1|0|0 1 1 1 1 1 0 0 0 1 1 1 1 1", then a two-bit vector 01 10 00 01 (00 00 00 unused).
 * base seq 0xfff0 (wraps), 239 statuses, ref time -1 (0xffffff), fb count 5.
 * Deltas: 1..10 (small), 11 (small), -4 (large), 12 (small). */
static const uint8_t twcc_pkt[] = {
    0x8f, 205, 0x00, 0x09, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02,
    0xff, 0xf0, 0x00, 0xef, 0xff, 0xff, 0xff, 0x05,
    0x00, 0xdd, 0x9f, 0x1f, 0xd8, 0x40,
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0xff, 0xfc, 12,
};

static int first_pkt(const uint8_t *b, size_t len, sfu_rtcp_pkt_t *p) {
  sfu_rtcp_iter_t it;
  sfu_rtcp_iter_init(&it, b, len);
  return sfu_rtcp_iter_next(&it, p);
}

static int first_fb(const uint8_t *b, size_t len, sfu_rtcp_fb_t *fb) {
  sfu_rtcp_pkt_t p;
  int r = first_pkt(b, len, &p);
  if (r != 1) return r < 0 ? r : SFU_ENOENT;
  return sfu_rtcp_fb_parse(&p, fb);
}

TEST(compound_sr_sdes) {
  sfu_rtcp_iter_t it;
  sfu_rtcp_pkt_t p;
  sfu_rtcp_iter_init(&it, sr_sdes, sizeof sr_sdes);
  REQUIRE(sfu_rtcp_iter_next(&it, &p) == 1);
  CHECK_EQ_INT(p.pt, SFU_RTCP_SR);
  CHECK_EQ_INT(p.fmt_or_count, 1);
  CHECK_EQ_INT(p.sender_ssrc, 0x11223344);
  CHECK_EQ_INT(p.raw_len, 52);
  CHECK_EQ_INT(p.body_len, 48);
  sfu_rtcp_sr_t sr;
  REQUIRE(sfu_rtcp_sr_parse(&p, &sr) == 0);
  CHECK_EQ_INT(sr.ssrc, 0x11223344);
  CHECK(sr.ntp == 0xe800000180000000ull);
  CHECK_EQ_INT(sr.rtp_ts, 100000);
  CHECK_EQ_INT(sr.packet_count, 1000);
  CHECK_EQ_INT(sr.octet_count, 1000000);
  CHECK_EQ_INT(sr.rb_count, 1);
  sfu_rtcp_rb_t rb;
  sfu_rtcp_rb_get(sr.blocks, 0, &rb);
  CHECK_EQ_INT(rb.ssrc, 0xaabbccdd);
  CHECK_EQ_INT(rb.fraction_lost, 64);
  CHECK_EQ_INT(rb.cumulative_lost, -2);
  CHECK_EQ_INT(rb.ext_highest_seq, 0x11234);
  CHECK_EQ_INT(rb.jitter, 32);
  CHECK_EQ_INT(rb.lsr, 0x12345678);
  CHECK_EQ_INT(rb.dlsr, 65536);
  sfu_rtcp_rr_t rr;
  CHECK_EQ_INT(sfu_rtcp_rr_parse(&p, &rr), SFU_EINVAL);

  REQUIRE(sfu_rtcp_iter_next(&it, &p) == 1);
  CHECK_EQ_INT(p.pt, SFU_RTCP_SDES);
  uint32_t ssrc;
  const char *cname;
  size_t n;
  REQUIRE(sfu_rtcp_sdes_cname(&p, &ssrc, &cname, &n) == 0);
  CHECK_EQ_INT(ssrc, 0x11223344);
  CHECK_EQ_INT(n, 16);
  CHECK(memcmp(cname, "Jn5tYeMtrRv3Zjl+", 16) == 0);
  CHECK_EQ_INT(sfu_rtcp_iter_next(&it, &p), 0);
  CHECK_EQ_INT(sfu_rtcp_iter_next(&it, &p), 0);
  CHECK_EQ_INT(sfu_rtcp_validate(sr_sdes, sizeof sr_sdes), 2);
}

/* Every truncation of a compound is either a shorter valid compound (cut exactly at a
 * packet boundary) or an error; never a crash or a read past len (ASan checks that). */
static void check_truncations(const uint8_t *pkt, size_t len, const size_t *bounds, int nb) {
  for (size_t l = 0; l < len; l++) {
    uint8_t *b = malloc(l ? l : 1); /* exact-size copy so ASan sees overreads */
    memcpy(b, pkt, l);
    int r = sfu_rtcp_validate(b, l);
    int at_bound = -1;
    for (int i = 0; i < nb; i++)
      if (bounds[i] == l) at_bound = i + 1;
    if (l == 0) CHECK_EQ_INT(r, SFU_ETRUNC);
    else if (at_bound > 0) CHECK_EQ_INT(r, at_bound);
    else CHECK(r < 0);
    /* typed parsers on whatever the iterator still hands out */
    sfu_rtcp_iter_t it;
    sfu_rtcp_pkt_t p;
    sfu_rtcp_iter_init(&it, b, l);
    while (sfu_rtcp_iter_next(&it, &p) == 1) {
      sfu_rtcp_fb_t fb;
      sfu_rtcp_twcc_t th;
      sfu_rtcp_twcc_pkt_t tp[300];
      size_t n;
      uint16_t seqs[64];
      if (sfu_rtcp_fb_parse(&p, &fb) == 0) {
        sfu_rtcp_twcc_parse(&fb, &th, tp, 300, &n);
        sfu_rtcp_nack_parse(&fb, seqs, 64, &n);
      }
    }
    free(b);
  }
}

TEST(every_truncation) {
  size_t b1[] = {52, 80};
  check_truncations(sr_sdes, sizeof sr_sdes, b1, 2);
  size_t b2[] = {sizeof remb_pkt};
  check_truncations(remb_pkt, sizeof remb_pkt, b2, 1);
  size_t b3[] = {sizeof nack_pkt};
  check_truncations(nack_pkt, sizeof nack_pkt, b3, 1);
  size_t b4[] = {sizeof twcc_pkt};
  check_truncations(twcc_pkt, sizeof twcc_pkt, b4, 1);
}

TEST(iterator_rejects_bad_headers) {
  uint8_t b[sizeof sr_sdes];
  sfu_rtcp_pkt_t p;
  memcpy(b, sr_sdes, sizeof b);
  b[52] = 0x41; /* version 1 in the second packet */
  sfu_rtcp_iter_t it;
  sfu_rtcp_iter_init(&it, b, sizeof b);
  CHECK_EQ_INT(sfu_rtcp_iter_next(&it, &p), 1);
  CHECK_EQ_INT(sfu_rtcp_iter_next(&it, &p), SFU_EPARSE);
  CHECK_EQ_INT(sfu_rtcp_iter_next(&it, &p), SFU_EPARSE); /* sticky */
  memcpy(b, sr_sdes, sizeof b);
  b[1] = 96; /* PT outside 192..223 */
  CHECK_EQ_INT(sfu_rtcp_validate(b, sizeof b), SFU_EPARSE);
  memcpy(b, sr_sdes, sizeof b);
  b[3] = 0x40; /* length far beyond */
  CHECK_EQ_INT(sfu_rtcp_validate(b, sizeof b), SFU_ETRUNC);
  /* padding: count 0 and count beyond the body are errors; a good count trims body */
  memcpy(b, sr_sdes, sizeof b);
  b[52] |= 0x20;
  b[sizeof b - 1] = 0;
  CHECK_EQ_INT(sfu_rtcp_validate(b, sizeof b), SFU_EPARSE);
  b[sizeof b - 1] = 25;
  CHECK_EQ_INT(sfu_rtcp_validate(b, sizeof b), SFU_EPARSE);
  b[sizeof b - 1] = 2;
  sfu_rtcp_iter_init(&it, b, sizeof b);
  sfu_rtcp_iter_next(&it, &p);
  REQUIRE(sfu_rtcp_iter_next(&it, &p) == 1);
  CHECK_EQ_INT(p.padding, 1);
  CHECK_EQ_INT(p.body_len, 22);
  CHECK_EQ_INT(p.raw_len, 28);
  /* reduced-size (RFC 5506): a lone PLI is a valid "compound" */
  uint8_t pli[] = {0x81, 206, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8};
  CHECK_EQ_INT(sfu_rtcp_validate(pli, sizeof pli), 1);
  /* SR whose RC claims more blocks than the body holds */
  memcpy(b, sr_sdes, sizeof b);
  b[0] = 0x82;
  REQUIRE(first_pkt(b, sizeof b, &p) == 1);
  sfu_rtcp_sr_t sr;
  CHECK_EQ_INT(sfu_rtcp_sr_parse(&p, &sr), SFU_ETRUNC);
}

TEST(garbage) {
  uint8_t b[512];
  srand(99);
  int valid = 0;
  for (int iter = 0; iter < 20000; iter++) {
    size_t len = (size_t)(rand() % (int)sizeof b);
    for (size_t i = 0; i < len; i++) b[i] = (uint8_t)rand();
    /* Make the first header plausible most of the time so parsers get exercised. */
    if (len >= 4 && (iter % 4)) {
      b[0] = (uint8_t)(0x80 | (b[0] & 0x1f));
      b[1] = (uint8_t)(200 + rand() % 8);
      uint16_t words = (uint16_t)(len / 4 - 1);
      b[2] = (uint8_t)(words >> 8);
      b[3] = (uint8_t)words;
    }
    sfu_rtcp_iter_t it;
    sfu_rtcp_pkt_t p;
    sfu_rtcp_iter_init(&it, b, len);
    int r;
    while ((r = sfu_rtcp_iter_next(&it, &p)) == 1) {
      valid++;
      CHECK(p.body + p.body_len <= b + len);
      sfu_rtcp_sr_t sr;
      sfu_rtcp_rr_t rr;
      sfu_rtcp_rb_t rb;
      if (sfu_rtcp_sr_parse(&p, &sr) == 0)
        for (unsigned i = 0; i < sr.rb_count; i++) sfu_rtcp_rb_get(sr.blocks, i, &rb);
      if (sfu_rtcp_rr_parse(&p, &rr) == 0)
        for (unsigned i = 0; i < rr.rb_count; i++) sfu_rtcp_rb_get(rr.blocks, i, &rb);
      sfu_rtcp_sdes_iter_t si;
      sfu_rtcp_sdes_iter_init(&si, &p);
      uint32_t ssrc;
      uint8_t type;
      const uint8_t *d;
      size_t n;
      while (sfu_rtcp_sdes_next(&si, &ssrc, &type, &d, &n) == 1) CHECK(d + n <= p.body + p.body_len);
      sfu_rtcp_bye_t bye;
      if (sfu_rtcp_bye_parse(&p, &bye) == 0 && bye.reason)
        CHECK(bye.reason + bye.reason_len <= (const char *)p.body + p.body_len);
      sfu_rtcp_fb_t fb;
      if (sfu_rtcp_fb_parse(&p, &fb) == 0) {
        uint16_t seqs[100];
        sfu_rtcp_nack_parse(&fb, seqs, 100, &n);
        CHECK(n <= 100);
        sfu_rtcp_remb_t remb;
        sfu_rtcp_remb_parse(&fb, &remb);
        uint32_t s;
        uint8_t sn;
        for (unsigned i = 0; i < sfu_rtcp_fir_count(&fb); i++) sfu_rtcp_fir_entry(&fb, i, &s, &sn);
        static sfu_rtcp_twcc_pkt_t tp[65536];
        sfu_rtcp_twcc_t th;
        sfu_rtcp_twcc_parse(&fb, &th, tp, 65536, &n);
      }
    }
    CHECK(r <= 0);
  }
  CHECK(valid > 5000);
}

TEST(nack_known_bytes_and_round_trip) {
  sfu_rtcp_fb_t fb;
  REQUIRE(first_fb(nack_pkt, sizeof nack_pkt, &fb) == 0);
  CHECK_EQ_INT(fb.sender_ssrc, 0x12345678);
  CHECK_EQ_INT(fb.media_ssrc, 0x23456789);
  uint16_t seqs[32];
  size_t n;
  REQUIRE(sfu_rtcp_nack_parse(&fb, seqs, 32, &n) == 0);
  uint16_t want[] = {0, 1, 3, 8, 16};
  REQUIRE(n == 5);
  CHECK(memcmp(seqs, want, sizeof want) == 0);
  /* bounded: a too-small array gets the first ones and ELIMIT */
  CHECK_EQ_INT(sfu_rtcp_nack_parse(&fb, seqs, 3, &n), SFU_ELIMIT);
  CHECK_EQ_INT(n, 3);
  CHECK_EQ_INT(seqs[2], 3);
  /* the writer reproduces libwebrtc's bytes */
  uint8_t out[64];
  int len = sfu_rtcp_write_nack(out, sizeof out, 0x12345678, 0x23456789, want, 5);
  REQUIRE(len == (int)sizeof nack_pkt);
  CHECK(memcmp(out, nack_pkt, sizeof nack_pkt) == 0);
  /* wrap-around and several items */
  uint16_t w[] = {100, 101, 105, 116, 117, 200, 65535, 0, 3};
  len = sfu_rtcp_write_nack(out, sizeof out, 1, 2, w, 9);
  CHECK_EQ_INT(len, 12 + 4 * 4);
  REQUIRE(first_fb(out, (size_t)len, &fb) == 0);
  REQUIRE(sfu_rtcp_nack_parse(&fb, seqs, 32, &n) == 0);
  REQUIRE(n == 9);
  CHECK(memcmp(seqs, w, sizeof w) == 0);
  CHECK_EQ_INT(sfu_rtcp_write_nack(out, 19, 1, 2, w, 9), SFU_ETOOBIG);
  CHECK_EQ_INT(sfu_rtcp_write_nack(out, sizeof out, 1, 2, w, 0), SFU_EINVAL);
  /* duplicates collapse */
  uint16_t d[] = {5, 5, 6};
  len = sfu_rtcp_write_nack(out, sizeof out, 1, 2, d, 3);
  REQUIRE(first_fb(out, (size_t)len, &fb) == 0);
  REQUIRE(sfu_rtcp_nack_parse(&fb, seqs, 32, &n) == 0);
  CHECK_EQ_INT(n, 2);
  /* a NACK FCI that is not whole items */
  uint8_t bad[] = {0x81, 205, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0};
  REQUIRE(first_fb(bad, sizeof bad, &fb) == 0);
  fb.fci_len = 2;
  CHECK_EQ_INT(sfu_rtcp_nack_parse(&fb, seqs, 32, &n), SFU_EPARSE);
  fb.fci_len = 0;
  CHECK_EQ_INT(sfu_rtcp_nack_parse(&fb, seqs, 32, &n), SFU_EPARSE);
}

TEST(pli_fir) {
  uint8_t out[64];
  int len = sfu_rtcp_write_pli(out, sizeof out, 0x01020304, 0x05060708);
  uint8_t want[] = {0x81, 206, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8};
  REQUIRE(len == 12);
  CHECK(memcmp(out, want, 12) == 0);
  sfu_rtcp_fb_t fb;
  uint32_t ms;
  REQUIRE(first_fb(out, 12, &fb) == 0);
  REQUIRE(sfu_rtcp_pli_parse(&fb, &ms) == 0);
  CHECK_EQ_INT(ms, 0x05060708);
  CHECK_EQ_INT(sfu_rtcp_write_pli(out, 11, 1, 2), SFU_ETOOBIG);
  CHECK_EQ_INT(sfu_rtcp_fir_count(&fb), 0);

  len = sfu_rtcp_write_fir(out, sizeof out, 0x01020304, 0xaabbccdd, 7);
  uint8_t fir[] = {0x84, 206, 0, 4, 1, 2, 3, 4, 0, 0, 0, 0, 0xaa, 0xbb, 0xcc, 0xdd, 7, 0, 0, 0};
  REQUIRE(len == 20);
  CHECK(memcmp(out, fir, 20) == 0);
  REQUIRE(first_fb(out, 20, &fb) == 0);
  CHECK_EQ_INT(sfu_rtcp_pli_parse(&fb, &ms), SFU_EINVAL);
  CHECK_EQ_INT(sfu_rtcp_fir_count(&fb), 1);
  uint32_t s;
  uint8_t sn;
  REQUIRE(sfu_rtcp_fir_entry(&fb, 0, &s, &sn) == 0);
  CHECK_EQ_INT(s, 0xaabbccdd);
  CHECK_EQ_INT(sn, 7);
  CHECK_EQ_INT(sfu_rtcp_fir_entry(&fb, 1, &s, &sn), SFU_ENOENT);
  CHECK_EQ_INT(sfu_rtcp_write_fir(out, 19, 1, 2, 3), SFU_ETOOBIG);
}

TEST(remb_known_bytes_and_round_trip) {
  sfu_rtcp_fb_t fb;
  sfu_rtcp_remb_t r;
  REQUIRE(first_fb(remb_pkt, sizeof remb_pkt, &fb) == 0);
  REQUIRE(sfu_rtcp_remb_parse(&fb, &r) == 0);
  CHECK_EQ_INT(r.bitrate_bps, 522022);
  CHECK_EQ_INT(r.num_ssrc, 3);
  CHECK_EQ_INT(sfu_rtcp_remb_ssrc(&r, 0), 0x23456789);
  CHECK_EQ_INT(sfu_rtcp_remb_ssrc(&r, 2), 0x2345678b);
  CHECK_EQ_INT(sfu_rtcp_remb_ssrc(&r, 3), 0);
  uint32_t ssrcs[] = {0x23456789, 0x2345678a, 0x2345678b};
  uint8_t out[64];
  int len = sfu_rtcp_write_remb(out, sizeof out, 0x12345678, 522022, ssrcs, 3);
  REQUIRE(len == (int)sizeof remb_pkt);
  CHECK(memcmp(out, remb_pkt, sizeof remb_pkt) == 0);
  /* large values: libwebrtc's 64-bit case 0x3fb93 << 30; and saturation at exp 63 */
  len = sfu_rtcp_write_remb(out, sizeof out, 1, (uint64_t)0x3fb93 << 30, ssrcs, 1);
  REQUIRE(first_fb(out, (size_t)len, &fb) == 0);
  REQUIRE(sfu_rtcp_remb_parse(&fb, &r) == 0);
  CHECK(r.bitrate_bps == (uint64_t)0x3fb93 << 30);
  out[17] = 0xff; /* exp 63, mantissa 0x3ffff: overflows */
  REQUIRE(sfu_rtcp_remb_parse(&fb, &r) == 0);
  CHECK(r.bitrate_bps == UINT64_MAX);
  /* a value that loses low bits rounds down */
  len = sfu_rtcp_write_remb(out, sizeof out, 1, 1000001, NULL, 0);
  REQUIRE(first_fb(out, (size_t)len, &fb) == 0);
  REQUIRE(sfu_rtcp_remb_parse(&fb, &r) == 0);
  CHECK(r.bitrate_bps <= 1000001 && r.bitrate_bps >= 1000001 - 4);
  /* not REMB: wrong identifier; SSRC list cut */
  uint8_t b[sizeof remb_pkt];
  memcpy(b, remb_pkt, sizeof b);
  b[12] = 'X';
  REQUIRE(first_fb(b, sizeof b, &fb) == 0);
  CHECK_EQ_INT(sfu_rtcp_remb_parse(&fb, &r), SFU_EINVAL);
  memcpy(b, remb_pkt, sizeof b);
  b[16] = 4;
  REQUIRE(first_fb(b, sizeof b, &fb) == 0);
  CHECK_EQ_INT(sfu_rtcp_remb_parse(&fb, &r), SFU_ETRUNC);
  CHECK_EQ_INT(sfu_rtcp_write_remb(out, 23, 1, 5, ssrcs, 1), SFU_ETOOBIG);
}

TEST(twcc_draft_example) {
  sfu_rtcp_fb_t fb;
  REQUIRE(first_fb(twcc_pkt, sizeof twcc_pkt, &fb) == 0);
  static sfu_rtcp_twcc_pkt_t tp[300];
  sfu_rtcp_twcc_t h;
  size_t n;
  REQUIRE(sfu_rtcp_twcc_parse(&fb, &h, tp, 300, &n) == 0);
  CHECK_EQ_INT(h.sender_ssrc, 1);
  CHECK_EQ_INT(h.media_ssrc, 2);
  CHECK_EQ_INT(h.base_seq, 0xfff0);
  CHECK_EQ_INT(h.status_count, 239);
  CHECK_EQ_INT(h.ref_time, -1);
  CHECK_EQ_INT(h.fb_count, 5);
  REQUIRE(n == 239);
  for (int i = 0; i < 221; i++) CHECK_EQ_INT(tp[i].status, SFU_TWCC_NOT_RECEIVED);
  CHECK_EQ_INT(tp[0].seq, 0xfff0);
  CHECK_EQ_INT(tp[16].seq, 0);
  const char *vec = "01111100011111";
  int d = 1;
  for (int i = 0; i < 14; i++) {
    CHECK_EQ_INT(tp[221 + i].status, vec[i] - '0');
    CHECK_EQ_INT(tp[221 + i].delta, vec[i] == '1' ? d : 0);
    if (vec[i] == '1') d++;
  }
  CHECK_EQ_INT(tp[235].status, SFU_TWCC_SMALL_DELTA);
  CHECK_EQ_INT(tp[235].delta, 11);
  CHECK_EQ_INT(tp[236].status, SFU_TWCC_LARGE_DELTA);
  CHECK_EQ_INT(tp[236].delta, -4);
  CHECK_EQ_INT(tp[237].status, SFU_TWCC_NOT_RECEIVED);
  CHECK_EQ_INT(tp[238].delta, 12);
  CHECK_EQ_INT(tp[238].seq, (uint16_t)(0xfff0 + 238));
  /* bounded by the caller's array */
  CHECK_EQ_INT(sfu_rtcp_twcc_parse(&fb, &h, tp, 238, &n), SFU_ELIMIT);
  /* re-encode: our writer's bytes parse back to the same statuses and deltas */
  uint8_t out[256];
  static sfu_rtcp_twcc_pkt_t back[300];
  int len = sfu_rtcp_write_twcc(out, sizeof out, &h, tp, 239);
  REQUIRE(len > 0);
  CHECK_EQ_INT(len % 4, 0);
  sfu_rtcp_twcc_t h2;
  REQUIRE(first_fb(out, (size_t)len, &fb) == 0);
  REQUIRE(sfu_rtcp_twcc_parse(&fb, &h2, back, 300, &n) == 0);
  REQUIRE(n == 239);
  CHECK_EQ_INT(h2.ref_time, -1);
  CHECK_EQ_INT(h2.base_seq, 0xfff0);
  for (int i = 0; i < 239; i++) {
    CHECK_EQ_INT(back[i].status, tp[i].status);
    CHECK_EQ_INT(back[i].delta, tp[i].delta);
  }
}

TEST(twcc_reserved_symbol_and_overruns) {
  uint8_t b[sizeof twcc_pkt];
  sfu_rtcp_fb_t fb;
  sfu_rtcp_twcc_t h;
  static sfu_rtcp_twcc_pkt_t tp[300];
  size_t n;
  memcpy(b, twcc_pkt, sizeof b);
  b[20] = 0x60; /* run length chunk with symbol 3 */
  REQUIRE(first_fb(b, sizeof b, &fb) == 0);
  CHECK_EQ_INT(sfu_rtcp_twcc_parse(&fb, &h, tp, 300, &n), SFU_EPARSE);
  memcpy(b, twcc_pkt, sizeof b);
  b[24] = 0xf8; /* two-bit vector starting with symbol 3 */
  REQUIRE(first_fb(b, sizeof b, &fb) == 0);
  CHECK_EQ_INT(sfu_rtcp_twcc_parse(&fb, &h, tp, 300, &n), SFU_EPARSE);
  memcpy(b, twcc_pkt, sizeof b);
  b[14] = 0x01; /* 495 statuses: chunks then eat delta bytes, deltas run out */
  REQUIRE(first_fb(b, sizeof b, &fb) == 0);
  CHECK(sfu_rtcp_twcc_parse(&fb, &h, tp, 300, &n) < 0);
  /* fewer delta bytes than received symbols: shrink the FCI by one */
  memcpy(b, twcc_pkt, sizeof b);
  REQUIRE(first_fb(b, sizeof b, &fb) == 0);
  fb.fci_len--;
  CHECK_EQ_INT(sfu_rtcp_twcc_parse(&fb, &h, tp, 300, &n), SFU_ETRUNC);
  /* not transport-cc */
  REQUIRE(first_fb(nack_pkt, sizeof nack_pkt, &fb) == 0);
  CHECK_EQ_INT(sfu_rtcp_twcc_parse(&fb, &h, tp, 300, &n), SFU_EINVAL);
  /* status count 0: valid and empty */
  memcpy(b, twcc_pkt, sizeof b);
  b[14] = b[15] = 0;
  REQUIRE(first_fb(b, sizeof b, &fb) == 0);
  CHECK(sfu_rtcp_twcc_parse(&fb, &h, tp, 300, &n) == 0);
  CHECK_EQ_INT(n, 0);
}

TEST(twcc_writer_round_trips) {
  static sfu_rtcp_twcc_pkt_t in[20000], out[20000];
  static uint8_t buf[80000];
  srand(7);
  for (int round = 0; round < 60; round++) {
    size_t n = 1 + (size_t)(rand() % (round < 50 ? 300 : 20000));
    int mode = round % 5;
    sfu_rtcp_twcc_t h = {0x11, 0x22, (uint16_t)rand(), 0, (rand() % 0x1000000) - 0x800000,
                         (uint8_t)round};
    for (size_t i = 0; i < n; i++) {
      in[i].seq = (uint16_t)(h.base_seq + i);
      int lost = mode == 0 ? (rand() % 3 == 0)
               : mode == 1 ? (i % 100) < 90       /* long runs of loss */
               : mode == 2 ? 0                    /* everything received */
               : (rand() % 10 == 0);
      in[i].status = lost ? SFU_TWCC_NOT_RECEIVED : SFU_TWCC_SMALL_DELTA;
      in[i].delta = 0;
      if (!lost) {
        int big = mode == 3 ? (rand() % 2) : (rand() % 20 == 0);
        in[i].delta = big ? (rand() % 65536) - 32768 : rand() % 256;
        if (in[i].delta < 0 || in[i].delta > 255) in[i].status = SFU_TWCC_LARGE_DELTA;
      }
    }
    int len = sfu_rtcp_write_twcc(buf, sizeof buf, &h, in, n);
    REQUIRE(len > 0);
    CHECK_EQ_INT(len % 4, 0);
    CHECK_EQ_INT(sfu_rtcp_validate(buf, (size_t)len), 1);
    sfu_rtcp_fb_t fb;
    sfu_rtcp_twcc_t h2;
    size_t m;
    REQUIRE(first_fb(buf, (size_t)len, &fb) == 0);
    REQUIRE(sfu_rtcp_twcc_parse(&fb, &h2, out, 20000, &m) == 0);
    REQUIRE(m == n);
    CHECK_EQ_INT(h2.base_seq, h.base_seq);
    CHECK_EQ_INT(h2.ref_time, h.ref_time);
    CHECK_EQ_INT(h2.fb_count, h.fb_count);
    int bad = 0;
    for (size_t i = 0; i < n; i++)
      if (out[i].status != in[i].status || out[i].delta != in[i].delta || out[i].seq != in[i].seq)
        bad++;
    CHECK_EQ_INT(bad, 0);
    /* a buffer one byte short must fail cleanly */
    CHECK_EQ_INT(sfu_rtcp_write_twcc(buf, (size_t)len - 1, &h, in, n), SFU_ETOOBIG);
  }
  /* runs longer than 8191 split into several run-length chunks */
  for (size_t i = 0; i < 20000; i++) {
    in[i].seq = (uint16_t)i;
    in[i].status = i == 19999 ? SFU_TWCC_SMALL_DELTA : SFU_TWCC_NOT_RECEIVED;
    in[i].delta = i == 19999 ? 9 : 0;
  }
  sfu_rtcp_twcc_t h = {1, 2, 0, 0, 0, 0};
  int len = sfu_rtcp_write_twcc(buf, sizeof buf, &h, in, 20000);
  REQUIRE(len > 0);
  CHECK(len <= 20 + 4 * 2 + 1 + 3);
  sfu_rtcp_fb_t fb;
  size_t m;
  REQUIRE(first_fb(buf, (size_t)len, &fb) == 0);
  REQUIRE(sfu_rtcp_twcc_parse(&fb, &h, out, 20000, &m) == 0);
  CHECK_EQ_INT(out[19999].delta, 9);
  CHECK_EQ_INT(out[8191].status, SFU_TWCC_NOT_RECEIVED);
  /* a delta beyond 16 bits cannot be written */
  in[19999].delta = 40000;
  CHECK_EQ_INT(sfu_rtcp_write_twcc(buf, sizeof buf, &h, in, 20000), SFU_EINVAL);
  CHECK_EQ_INT(sfu_rtcp_write_twcc(buf, sizeof buf, &h, in, 0), SFU_EINVAL);
}

/* The two-pass parser as it was before the iterator (statuses into the array, then the
 * deltas): the iterator, and sfu_rtcp_twcc_parse on top of it, must give exactly its
 * packets and its error codes. */
static int ref_twcc_parse(const sfu_rtcp_fb_t *fb, sfu_rtcp_twcc_t *hdr, sfu_rtcp_twcc_pkt_t *pkts,
                          size_t cap, size_t *n) {
  *n = 0;
  if (fb->pt != SFU_RTCP_RTPFB || fb->fmt != SFU_RTCP_RTPFB_TWCC) return SFU_EINVAL;
  if (fb->fci_len < 8) return SFU_ETRUNC;
  const uint8_t *p = fb->fci, *end = fb->fci + fb->fci_len;
  hdr->base_seq = (uint16_t)(p[0] << 8 | p[1]);
  hdr->status_count = (uint16_t)(p[2] << 8 | p[3]);
  uint32_t rt = (uint32_t)p[4] << 16 | (uint32_t)p[5] << 8 | p[6];
  hdr->ref_time = (rt & 0x800000u) ? (int32_t)rt - 0x1000000 : (int32_t)rt;
  hdr->fb_count = p[7];
  size_t count = hdr->status_count, k = 0;
  if (count > cap) return SFU_ELIMIT;
  p += 8;
  while (k < count) {
    if (end - p < 2) return SFU_ETRUNC;
    uint16_t c = (uint16_t)(p[0] << 8 | p[1]);
    p += 2;
    if (!(c & 0x8000)) {
      uint8_t s = (c >> 13) & 3;
      if (s == 3) return SFU_EPARSE;
      for (size_t j = 0; j < (size_t)(c & 0x1FFF) && k < count; j++) pkts[k++].status = s;
    } else if (!(c & 0x4000)) {
      for (int j = 13; j >= 0 && k < count; j--) pkts[k++].status = (c >> j) & 1;
    } else {
      for (int j = 6; j >= 0 && k < count; j--) {
        uint8_t s = (c >> (2 * j)) & 3;
        if (s == 3) return SFU_EPARSE;
        pkts[k++].status = s;
      }
    }
  }
  for (size_t i = 0; i < count; i++) {
    pkts[i].seq = (uint16_t)(hdr->base_seq + i);
    pkts[i].delta = 0;
    if (pkts[i].status == SFU_TWCC_SMALL_DELTA) {
      if (end - p < 1) return SFU_ETRUNC;
      pkts[i].delta = p[0];
      p += 1;
    } else if (pkts[i].status == SFU_TWCC_LARGE_DELTA) {
      if (end - p < 2) return SFU_ETRUNC;
      pkts[i].delta = (int16_t)(uint16_t)(p[0] << 8 | p[1]);
      p += 2;
    }
  }
  *n = count;
  return 0;
}

/* One FCI through the reference, the parser and the iterator; 0 if they agree. The FCI
 * is copied to an exact-size buffer so that ASan sees any read past it. */
static int twcc_same(const uint8_t *fci, size_t len, size_t cap) {
  static sfu_rtcp_twcc_pkt_t want[70000], got[70000];
  uint8_t *b = malloc(len ? len : 1);
  memcpy(b, fci, len);
  sfu_rtcp_fb_t fb = {SFU_RTCP_RTPFB, SFU_RTCP_RTPFB_TWCC, 1, 2, b, len};
  sfu_rtcp_twcc_t h1, h2, h3;
  size_t n1, n2;
  int bad = 0;
  int r1 = ref_twcc_parse(&fb, &h1, want, cap, &n1);
  int r2 = sfu_rtcp_twcc_parse(&fb, &h2, got, cap, &n2);
  if (r1 != r2 || n1 != n2) bad++;
  for (size_t i = 0; r1 == 0 && i < n1; i++)
    if (want[i].seq != got[i].seq || want[i].status != got[i].status || want[i].delta != got[i].delta)
      bad++;
  sfu_rtcp_twcc_iter_t it;
  int r3 = sfu_rtcp_twcc_iter_init(&fb, &h3, &it);
  if (r1 == SFU_ELIMIT) r1 = ref_twcc_parse(&fb, &h1, want, 70000, &n1); /* no cap here */
  if (r3 != r1) bad++;
  sfu_rtcp_twcc_pkt_t pk;
  size_t k = 0;
  while (sfu_rtcp_twcc_next(&it, &pk)) {
    if (r1 != 0 || k >= n1 || pk.seq != want[k].seq || pk.status != want[k].status ||
        pk.delta != want[k].delta)
      bad++;
    k++;
  }
  if (r1 == 0 && (k != n1 || h3.base_seq != h1.base_seq || h3.ref_time != h1.ref_time ||
                  h3.fb_count != h1.fb_count || h3.status_count != h1.status_count))
    bad++;
  free(b);
  return bad;
}

/* The draft's example and every truncation of it, the writer's output for random
 * feedback, and random FCIs (random chunks and deltas: reserved symbols, runs of 0,
 * vectors cut by the status count, deltas short by a byte) at several caps. */
TEST(twcc_iterator_same_as_two_pass_parse) {
  const uint8_t *ex = twcc_pkt + 12; /* past the common header and the SSRCs */
  size_t ex_len = sizeof twcc_pkt - 12;
  int bad = 0, ok = 0;
  for (size_t l = 0; l <= ex_len; l++) bad += twcc_same(ex, l, 300);
  bad += twcc_same(ex, ex_len, 238); /* SFU_ELIMIT */
  srand(5);
  static sfu_rtcp_twcc_pkt_t in[3000];
  uint8_t buf[8000];
  for (int round = 0; round < 300; round++) {
    size_t n = 1 + (size_t)(rand() % (round % 10 == 0 ? 3000 : 40));
    int mode = rand() % 3;
    for (size_t i = 0; i < n; i++) {
      in[i].seq = (uint16_t)i;
      int r = rand() % 10;
      in[i].status = r < 2 && mode ? SFU_TWCC_NOT_RECEIVED : SFU_TWCC_SMALL_DELTA;
      in[i].delta = in[i].status ? (mode == 2 && r == 9 ? -(rand() % 3000) : rand() % 256) : 0;
      if (mode == 0 && i > 5 && i < n - 3) in[i] = in[5]; /* runs */
    }
    sfu_rtcp_twcc_t h = {1, 2, (uint16_t)rand(), 0, rand() % 1000, 7};
    int len = sfu_rtcp_write_twcc(buf, sizeof buf, &h, in, n);
    REQUIRE(len > 20);
    bad += twcc_same(buf + 12, (size_t)len - 12, 3000);
    bad += twcc_same(buf + 12, (size_t)len - 12 - 1 - (size_t)(rand() % 8), 3000);
    bad += twcc_same(buf + 12, (size_t)len - 12, n - 1);
  }
  for (int round = 0; round < 20000; round++) {
    uint8_t f[200];
    size_t len = 8 + (size_t)(rand() % 192);
    for (size_t i = 0; i < len; i++) f[i] = (uint8_t)rand();
    uint16_t count = (uint16_t)(rand() % 4 == 0 ? rand() : rand() % 100);
    f[2] = (uint8_t)(count >> 8), f[3] = (uint8_t)count;
    if (rand() % 2) /* mostly vectors, no reserved 2-bit symbols */
      for (size_t i = 8; i + 1 < len && i < 8 + 2 * (size_t)(rand() % 12); i += 2)
        f[i] = (uint8_t)(0x80 | (f[i] & 0x40) | (rand() % 4 ? f[i] & 0x15 : f[i] & 0x3F)),
        f[i + 1] &= rand() % 4 ? 0x55 : 0xFF;
    sfu_rtcp_twcc_t h;
    size_t n;
    static sfu_rtcp_twcc_pkt_t tp[70000];
    sfu_rtcp_fb_t fb = {SFU_RTCP_RTPFB, SFU_RTCP_RTPFB_TWCC, 1, 2, f, len};
    if (ref_twcc_parse(&fb, &h, tp, 70000, &n) == 0) ok++;
    bad += twcc_same(f, len, rand() % 2 ? 70000 : (size_t)(rand() % 100));
  }
  CHECK(ok > 1000); /* the random FCIs are not all rejected */
  CHECK_EQ_INT(bad, 0);
}

TEST(rr_sr_round_trip) {
  sfu_rtcp_rb_t rbs[31];
  for (int i = 0; i < 31; i++) {
    rbs[i].ssrc = 0x1000u + (uint32_t)i;
    rbs[i].fraction_lost = (uint8_t)(i * 8);
    rbs[i].cumulative_lost = i % 2 ? -i : i * 100000;
    rbs[i].ext_highest_seq = 0x10000u * (uint32_t)i + 5;
    rbs[i].jitter = (uint32_t)i * 3;
    rbs[i].lsr = 0xabcd0000u + (uint32_t)i;
    rbs[i].dlsr = (uint32_t)i;
  }
  uint8_t out[1024];
  for (unsigned n = 0; n <= 31; n += 5) {
    int len = sfu_rtcp_write_rr(out, sizeof out, 0x77, rbs, n);
    REQUIRE(len == (int)(8 + 24 * n));
    sfu_rtcp_pkt_t p;
    sfu_rtcp_rr_t rr;
    REQUIRE(first_pkt(out, (size_t)len, &p) == 1);
    REQUIRE(sfu_rtcp_rr_parse(&p, &rr) == 0);
    CHECK_EQ_INT(rr.ssrc, 0x77);
    CHECK_EQ_INT(rr.rb_count, n);
    for (unsigned i = 0; i < n; i++) {
      sfu_rtcp_rb_t rb;
      sfu_rtcp_rb_get(rr.blocks, i, &rb);
      CHECK(rb.ssrc == rbs[i].ssrc && rb.fraction_lost == rbs[i].fraction_lost &&
            rb.cumulative_lost == rbs[i].cumulative_lost &&
            rb.ext_highest_seq == rbs[i].ext_highest_seq && rb.jitter == rbs[i].jitter &&
            rb.lsr == rbs[i].lsr && rb.dlsr == rbs[i].dlsr);
    }
  }
  CHECK_EQ_INT(sfu_rtcp_write_rr(out, sizeof out, 1, rbs, 32), SFU_EINVAL);
  CHECK_EQ_INT(sfu_rtcp_write_rr(out, 31, 1, rbs, 1), SFU_ETOOBIG);
  /* cumulative lost clamps to 24 bits signed */
  sfu_rtcp_rb_t big = rbs[0];
  big.cumulative_lost = 50000000;
  int len = sfu_rtcp_write_rr(out, sizeof out, 1, &big, 1);
  sfu_rtcp_pkt_t p;
  sfu_rtcp_rr_t rr;
  REQUIRE(first_pkt(out, (size_t)len, &p) == 1 && sfu_rtcp_rr_parse(&p, &rr) == 0);
  sfu_rtcp_rb_t rb;
  sfu_rtcp_rb_get(rr.blocks, 0, &rb);
  CHECK_EQ_INT(rb.cumulative_lost, 0x7fffff);

  /* SR: rewrite the known SR's fields and get its exact bytes back */
  sfu_rtcp_sr_t sr;
  REQUIRE(first_pkt(sr_sdes, sizeof sr_sdes, &p) == 1 && sfu_rtcp_sr_parse(&p, &sr) == 0);
  sfu_rtcp_rb_get(sr.blocks, 0, &rb);
  len = sfu_rtcp_write_sr(out, sizeof out, &sr, &rb, 1);
  REQUIRE(len == 52);
  CHECK(memcmp(out, sr_sdes, 52) == 0);
}

TEST(sdes_bye) {
  uint8_t out[300];
  for (size_t cl = 1; cl <= 20; cl++) {
    char name[32];
    for (size_t i = 0; i < cl; i++) name[i] = (char)('a' + i);
    int len = sfu_rtcp_write_sdes_cname(out, sizeof out, 0x99, name, cl);
    REQUIRE(len > 0);
    CHECK_EQ_INT(len % 4, 0);
    sfu_rtcp_pkt_t p;
    REQUIRE(first_pkt(out, (size_t)len, &p) == 1);
    uint32_t ssrc;
    const char *c;
    size_t n;
    REQUIRE(sfu_rtcp_sdes_cname(&p, &ssrc, &c, &n) == 0);
    CHECK_EQ_INT(ssrc, 0x99);
    CHECK_EQ_INT(n, cl);
    CHECK(memcmp(c, name, cl) == 0);
  }
  CHECK_EQ_INT(sfu_rtcp_write_sdes_cname(out, sizeof out, 1, "x", 0), SFU_EINVAL);
  CHECK_EQ_INT(sfu_rtcp_write_sdes_cname(out, 12, 1, "abc", 3), SFU_ETOOBIG);

  /* two chunks: first with NAME (2) only and no CNAME, second with CNAME */
  uint8_t two[] = {0x82, 202, 0, 6,
                   0, 0, 0, 1, 2, 2, 'n', 'm', 0, 0, 0, 0,
                   0, 0, 0, 2, 1, 3, 'a', 'b', 'c', 0, 0, 0};
  sfu_rtcp_pkt_t p;
  REQUIRE(first_pkt(two, sizeof two, &p) == 1);
  uint32_t ssrc;
  const char *c;
  size_t n;
  REQUIRE(sfu_rtcp_sdes_cname(&p, &ssrc, &c, &n) == 0);
  CHECK_EQ_INT(ssrc, 2);
  CHECK_EQ_INT(n, 3);
  /* an item overrunning the packet; and a chunk count larger than the chunks */
  two[21] = 9;
  REQUIRE(first_pkt(two, sizeof two, &p) == 1);
  CHECK_EQ_INT(sfu_rtcp_sdes_cname(&p, &ssrc, &c, &n), SFU_ETRUNC);
  two[21] = 3;
  two[0] = 0x83;
  REQUIRE(first_pkt(two, sizeof two, &p) == 1);
  CHECK_EQ_INT(sfu_rtcp_sdes_cname(&p, &ssrc, &c, &n), 0); /* found before the cut */
  two[20] = 5; /* no CNAME at all now */
  REQUIRE(first_pkt(two, sizeof two, &p) == 1);
  CHECK_EQ_INT(sfu_rtcp_sdes_cname(&p, &ssrc, &c, &n), SFU_ETRUNC);
  two[0] = 0x82;
  REQUIRE(first_pkt(two, sizeof two, &p) == 1);
  CHECK_EQ_INT(sfu_rtcp_sdes_cname(&p, &ssrc, &c, &n), SFU_ENOENT);

  uint32_t ss[] = {5, 6, 7};
  int len = sfu_rtcp_write_bye(out, sizeof out, ss, 3);
  REQUIRE(len == 16);
  REQUIRE(first_pkt(out, (size_t)len, &p) == 1);
  sfu_rtcp_bye_t bye;
  REQUIRE(sfu_rtcp_bye_parse(&p, &bye) == 0);
  CHECK_EQ_INT(bye.count, 3);
  CHECK_EQ_INT(sfu_rtcp_bye_ssrc(&bye, 2), 7);
  CHECK(bye.reason == NULL);
  uint8_t withr[] = {0x81, 203, 0, 3, 0, 0, 0, 9, 5, 'b', 'y', 'e', '!', '!', 0, 0};
  REQUIRE(first_pkt(withr, sizeof withr, &p) == 1);
  REQUIRE(sfu_rtcp_bye_parse(&p, &bye) == 0);
  CHECK_EQ_INT(bye.reason_len, 5);
  CHECK(memcmp(bye.reason, "bye!!", 5) == 0);
  withr[8] = 7;
  REQUIRE(first_pkt(withr, sizeof withr, &p) == 1);
  CHECK(sfu_rtcp_bye_parse(&p, &bye) == 0);
  withr[8] = 8;
  CHECK_EQ_INT(sfu_rtcp_bye_parse(&p, &bye), SFU_ETRUNC);
}

int main(void) {
  RUN(compound_sr_sdes);
  RUN(every_truncation);
  RUN(iterator_rejects_bad_headers);
  RUN(garbage);
  RUN(nack_known_bytes_and_round_trip);
  RUN(pli_fir);
  RUN(remb_known_bytes_and_round_trip);
  RUN(twcc_draft_example);
  RUN(twcc_reserved_symbol_and_overruns);
  RUN(twcc_writer_round_trips);
  RUN(twcc_iterator_same_as_two_pass_parse);
  RUN(rr_sr_round_trip);
  RUN(sdes_bye);
  return test_summary();
}
