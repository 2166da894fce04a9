/* libFuzzer target: RTCP compound iterator and every typed parser; writers re-encode
 * what was parsed (NACK, transport-cc, REMB, RR) and the result must parse back equal. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sfu/err.h"
#include "sfu/rtcp.h"

#define CHECK(x) do { if (!(x)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sfu_rtcp_twcc_pkt_t tw_in[65536], tw_out[65536];
static uint8_t wbuf[300000];

static void fb_round_trips(const sfu_rtcp_fb_t *fb) {
  uint16_t seqs[512], seqs2[512];
  size_t n, n2;
  if (sfu_rtcp_nack_parse(fb, seqs, 512, &n) == 0 && n > 0) {
    int len = sfu_rtcp_write_nack(wbuf, sizeof wbuf, fb->sender_ssrc, fb->media_ssrc, seqs, n);
    CHECK(len > 0);
    sfu_rtcp_iter_t it;
    sfu_rtcp_pkt_t p;
    sfu_rtcp_fb_t fb2;
    sfu_rtcp_iter_init(&it, wbuf, (size_t)len);
    CHECK(sfu_rtcp_iter_next(&it, &p) == 1 && sfu_rtcp_fb_parse(&p, &fb2) == 0);
    CHECK(sfu_rtcp_nack_parse(&fb2, seqs2, 512, &n2) == 0);
    /* same set (the writer may merge duplicates) */
    CHECK(n2 <= n);
    for (size_t i = 0; i < n2; i++) {
      int found = 0;
      for (size_t j = 0; j < n && !found; j++) found = seqs[j] == seqs2[i];
      CHECK(found);
    }
  }
  sfu_rtcp_twcc_t th, th2;
  /* the iterator (the estimator's path) returns what the parser does, packet by packet */
  sfu_rtcp_twcc_iter_t twi;
  int pr = sfu_rtcp_twcc_parse(fb, &th, tw_in, 65536, &n);
  CHECK(sfu_rtcp_twcc_iter_init(fb, &th2, &twi) == pr);
  if (pr == 0) {
    sfu_rtcp_twcc_pkt_t pk;
    size_t k = 0;
    while (sfu_rtcp_twcc_next(&twi, &pk)) {
      CHECK(k < n && pk.seq == tw_in[k].seq && pk.status == tw_in[k].status &&
            pk.delta == tw_in[k].delta);
      k++;
    }
    CHECK(k == n);
  }
  if (pr == 0 && n > 0) {
    int len = sfu_rtcp_write_twcc(wbuf, sizeof wbuf, &th, tw_in, n);
    CHECK(len > 0);
    sfu_rtcp_iter_t it;
    sfu_rtcp_pkt_t p;
    sfu_rtcp_fb_t fb2;
    sfu_rtcp_iter_init(&it, wbuf, (size_t)len);
    CHECK(sfu_rtcp_iter_next(&it, &p) == 1 && sfu_rtcp_fb_parse(&p, &fb2) == 0);
    CHECK(sfu_rtcp_twcc_parse(&fb2, &th2, tw_out, 65536, &n2) == 0 && n2 == n);
    CHECK(th2.base_seq == th.base_seq && th2.ref_time == th.ref_time);
    for (size_t i = 0; i < n; i++) {
      /* a small delta may be re-encoded as large only if it does not fit 0..255 */
      CHECK(tw_out[i].delta == tw_in[i].delta);
      CHECK((tw_out[i].status == 0) == (tw_in[i].status == 0));
    }
  }
  sfu_rtcp_remb_t remb;
  if (sfu_rtcp_remb_parse(fb, &remb) == 0) {
    uint32_t ssrcs[255];
    for (unsigned i = 0; i < remb.num_ssrc; i++) ssrcs[i] = sfu_rtcp_remb_ssrc(&remb, i);
    int len = sfu_rtcp_write_remb(wbuf, sizeof wbuf, fb->sender_ssrc, remb.bitrate_bps, ssrcs,
                                  remb.num_ssrc);
    CHECK(len > 0);
  }
  uint32_t ms;
  sfu_rtcp_pli_parse(fb, &ms);
  for (unsigned i = 0; i < sfu_rtcp_fir_count(fb); i++) {
    uint32_t s;
    uint8_t sn;
    CHECK(sfu_rtcp_fir_entry(fb, i, &s, &sn) == 0);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sfu_rtcp_iter_t it;
  sfu_rtcp_pkt_t p;
  int r, count = 0;
  sfu_rtcp_iter_init(&it, data, size);
  while ((r = sfu_rtcp_iter_next(&it, &p)) == 1) {
    count++;
    CHECK(p.raw >= data && p.raw + p.raw_len <= data + size);
    CHECK(p.body + p.body_len <= p.raw + p.raw_len);
    sfu_rtcp_sr_t sr;
    sfu_rtcp_rr_t rr;
    sfu_rtcp_rb_t rb[31];
    if (sfu_rtcp_sr_parse(&p, &sr) == 0)
      for (unsigned i = 0; i < sr.rb_count; i++) sfu_rtcp_rb_get(sr.blocks, i, &rb[i]);
    if (sfu_rtcp_rr_parse(&p, &rr) == 0) {
      for (unsigned i = 0; i < rr.rb_count; i++) sfu_rtcp_rb_get(rr.blocks, i, &rb[i]);
      int len = sfu_rtcp_write_rr(wbuf, sizeof wbuf, rr.ssrc, rb, rr.rb_count);
      CHECK(len == 8 + 24 * rr.rb_count);
      CHECK(memcmp(wbuf + 4, p.body, (size_t)len - 4) == 0);
    }
    sfu_rtcp_sdes_iter_t si;
    sfu_rtcp_sdes_iter_init(&si, &p);
    uint32_t ssrc;
    uint8_t type;
    const uint8_t *d;
    size_t n;
    while (sfu_rtcp_sdes_next(&si, &ssrc, &type, &d, &n) == 1)
      CHECK(d + n <= p.body + p.body_len);
    const char *cname;
    sfu_rtcp_sdes_cname(&p, &ssrc, &cname, &n);
    sfu_rtcp_bye_t bye;
    if (sfu_rtcp_bye_parse(&p, &bye) == 0)
      for (unsigned i = 0; i < bye.count; i++) sfu_rtcp_bye_ssrc(&bye, i);
    sfu_rtcp_fb_t fb;
    if (sfu_rtcp_fb_parse(&p, &fb) == 0) fb_round_trips(&fb);
  }
  CHECK(r <= 0);
  if (size > 0) CHECK(sfu_rtcp_validate(data, size) == (r < 0 ? r : count));
  return 0;
}
