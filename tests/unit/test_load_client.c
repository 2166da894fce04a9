/* sfu-load's synthetic attendee (tools/load): its offer is parsed and answered by the
 * worker's own SDP code; the SPS it writes gives back its size through
 * sfu_h264_sps_resolution; its VP8 descriptor and keyframe header read back through
 * sfu_vp8_parse; and a publisher wired to a viewer in plain RTP (no SRTP, virtual time)
 * delivers frames the viewer counts as complete, recovers losses by NACK + RTX, answers
 * a PLI with a keyframe, and paced (5 ms bursts) spreads its frames; the viewer reports
 * every arrival in transport-cc feedback (and what its simulated loss took as lost), on
 * the extension id the worker's answer names, or sends none when configured off. */
#include <stdlib.h>
#include <string.h>

#include "../../tools/load/load_codec.h"
#include "../../tools/load/load_peer.h"
#include "../../tools/load/load_sdp.h"
#include "sfu/codec_h264.h"
#include "sfu/codec_vp8.h"
#include "sfu/dtls.h"
#include "sfu/pacer.h"
#include "sfu/rtcp.h"
#include "sfu/rtp.h"
#include "sfu/sdp.h"
#include "sfu/srtp.h"
#include "test.h"

static sfu_dtls_cert_t *g_cert;

static const sfu_sdp_local_t srv = {
    .ice_ufrag = "sRvU",
    .ice_pwd = "serverPasswordServerPw0",
    .fingerprint = "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:"
                   "22:33:44:55:66:77:88:99",
    .ip = "127.0.0.1",
    .udp_port = 40000,
    .session_id = 77,
    .session_version = 2,
};

static load_offer_t base_offer(void) {
  load_offer_t o = {.ufrag = "aBcD", .pwd = "0123456789abcdefABCDEF+/",
                    .fingerprint = sfu_dtls_cert_fingerprint(g_cert), .port = 50000,
                    .session_id = 1, .session_version = 2, .cname = "cname0123",
                    .msid_stream = "stream0", .msid_track = "track0", .codec = LOAD_VP8,
                    .layers = 3, .pub_rtx = 1, .ssrcs = {11, 12, 13}, .rtx_ssrcs = {21, 22, 23},
                    .recv_rtx = 1};
  return o;
}

static const sfu_sdp_codec_t *codec_of(const sfu_sdp_media_t *m, int pt) {
  for (size_t i = 0; i < m->n_codecs; i++)
    if (m->codecs[i].pt == pt) return &m->codecs[i];
  return NULL;
}

static uint8_t ext_id(const sfu_sdp_media_t *m, const char *uri) {
  for (size_t i = 0; i < m->n_extmaps; i++)
    if (strcmp(m->extmaps[i].uri, uri) == 0) return (uint8_t)m->extmaps[i].id;
  return 0;
}

/* Parse + answer by the worker's code; the answer then parses back with load_sdp. */
static void check_offer(const load_offer_t *o) {
  char *text = load_offer_write(o);
  REQUIRE(text != NULL);
  sfu_sdp_offer_t *off = NULL;
  char err[256] = "";
  int rc = sfu_sdp_parse(text, strlen(text), &off, err, sizeof err);
  if (rc) fprintf(stderr, "parse: %s\n%s", err, text);
  REQUIRE(rc == 0);
  size_t n_media = (o->publish ? 1 : 0) + o->n_recv;
  CHECK_EQ_INT(off->n_media, n_media);
  CHECK_EQ_INT(off->n_bundle, n_media);
  for (size_t i = 0; i < off->n_media; i++) {
    const sfu_sdp_media_t *m = &off->media[i];
    char mid[24];
    snprintf(mid, sizeof mid, "%zu", i);
    CHECK_EQ_STR(m->mid, mid);
    CHECK(m->kind == SFU_SDP_KIND_VIDEO);
    CHECK(m->proto == SFU_SDP_PROTO_RTP_SAVPF);
    CHECK(m->rtcp_mux);
    CHECK(m->tp.setup == SFU_SDP_SETUP_ACTPASS);
    CHECK_EQ_STR(m->tp.ice_ufrag, o->ufrag);
    CHECK_EQ_INT(m->tp.fingerprints.n, 1);
    CHECK_EQ_INT(ext_id(m, "urn:ietf:params:rtp-hdrext:sdes:mid"), 4);
    CHECK_EQ_INT(ext_id(m, "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"), 10);
    CHECK_EQ_INT(ext_id(m, "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"), 11);
    CHECK_EQ_INT(ext_id(m, "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"), 3);
    CHECK_EQ_INT(ext_id(m, "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"), 2);
  }
  CHECK_EQ_INT(off->media[0].n_candidates, 1);
  if (o->publish) {
    const sfu_sdp_media_t *m = &off->media[0];
    int pt = o->codec == LOAD_VP8 ? 96 : 102;
    CHECK(m->dir == SFU_SDP_SENDONLY);
    const sfu_sdp_codec_t *c = codec_of(m, pt);
    REQUIRE(c != NULL);
    CHECK_EQ_STR(c->name, o->codec == LOAD_VP8 ? "VP8" : "H264");
    CHECK_EQ_INT(c->rtcp_fb, SFU_SDP_FB_NACK | SFU_SDP_FB_NACK_PLI | SFU_SDP_FB_CCM_FIR |
                                 SFU_SDP_FB_GOOG_REMB | SFU_SDP_FB_TRANSPORT_CC);
    const sfu_sdp_codec_t *rtx = codec_of(m, pt + 1);
    if (o->pub_rtx) {
      REQUIRE(rtx != NULL);
      CHECK_EQ_INT(rtx->apt, pt);
    } else {
      CHECK(rtx == NULL);
    }
    CHECK_EQ_INT(m->n_rids, o->layers == 3 ? 3 : 0);
    CHECK_EQ_INT(m->sim_send.n_streams, o->layers == 3 ? 3 : 0);
    size_t n_ssrc = o->pub_ssrcs ? (size_t)(o->layers == 3 ? 3 : 1) * (o->pub_rtx ? 2 : 1) : 0;
    CHECK_EQ_INT(m->n_ssrcs, n_ssrc);
    CHECK_EQ_INT(m->n_fids, o->pub_ssrcs && o->pub_rtx ? (o->layers == 3 ? 3 : 1) : 0);
  }
  for (size_t i = o->publish ? 1 : 0; i < off->n_media; i++) {
    CHECK(off->media[i].dir == SFU_SDP_RECVONLY);
    CHECK(codec_of(&off->media[i], 96) && codec_of(&off->media[i], 102));
  }

  char *answer = NULL;
  sfu_sdp_answer_t neg;
  rc = sfu_sdp_answer(off, &srv, &answer, &neg, err, sizeof err);
  if (rc) fprintf(stderr, "answer: %s\n", err);
  REQUIRE(rc == 0);
  CHECK_EQ_INT(neg.n_media, n_media);
  CHECK(neg.bundled);
  if (o->publish) {
    const sfu_sdp_neg_media_t *m = &neg.media[0];
    CHECK(m->dir == SFU_SDP_RECVONLY);
    CHECK_EQ_INT(m->codecs[0].pt, o->codec == LOAD_VP8 ? 96 : 102);
    CHECK_EQ_INT(m->codecs[0].rtx_pt, o->pub_rtx ? m->codecs[0].pt + 1 : -1);
    CHECK_EQ_INT(m->simulcast_recv, o->layers == 3);
    CHECK_EQ_INT(m->n_rids, o->layers == 3 ? 3 : 0);
    CHECK_EQ_INT(sfu_rtp_ext_map_id(&m->ext, SFU_EXT_MID), 4);
    CHECK_EQ_INT(sfu_rtp_ext_map_id(&m->ext, SFU_EXT_RID), 10);
  }
  load_answer_t a;
  CHECK_EQ_INT(load_answer_parse(answer, &a, err, sizeof err), 0);
  CHECK_EQ_STR(a.ufrag, srv.ice_ufrag);
  CHECK_EQ_STR(a.pwd, srv.ice_pwd);
  CHECK_EQ_STR(a.fingerprint, srv.fingerprint);
  CHECK_EQ_STR(a.ip, "127.0.0.1");
  CHECK_EQ_INT(a.port, 40000);
  CHECK_EQ_INT(a.n_media, n_media);
  if (o->n_recv) {
    char mid[LOAD_MID_MAX];
    load_recv_mid(o, o->n_recv - 1, mid);
    const load_answer_media_t *m = load_answer_find(&a, mid);
    REQUIRE(m != NULL);
    CHECK_EQ_INT(m->twcc_ext, LOAD_EXT_TWCC); /* the worker echoes the offer's id */
  }
  free(answer);
  sfu_sdp_answer_clear(&neg);
  sfu_sdp_offer_free(off);
  free(text);
}

TEST(offers_parse_and_answer) {
  load_offer_t o = base_offer();
  o.publish = 1;
  check_offer(&o); /* VP8 simulcast, no a=ssrc (Chromium) */
  o.pub_ssrcs = 1;
  check_offer(&o); /* with SIM / FID groups */
  o.n_recv = 2;
  check_offer(&o);
  o = base_offer();
  o.publish = 1;
  o.codec = LOAD_H264;
  o.layers = 1;
  o.pub_rtx = 0;
  check_offer(&o);
  o.pub_ssrcs = 1;
  check_offer(&o);
  o = base_offer();
  o.n_recv = 3;
  o.recv_rtx = 0;
  check_offer(&o); /* viewer only: the candidate in its first recvonly section */
}

TEST(answer_parse_reads_declared_ssrcs) {
  const char *ans =
      "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=ice-lite\r\n"
      "a=group:BUNDLE 0 1\r\n"
      "m=video 40000 UDP/TLS/RTP/SAVPF 96 97\r\nc=IN IP4 127.0.0.1\r\n"
      "a=candidate:1 1 tcp 2 127.0.0.1 40001 typ host tcptype passive\r\n"
      "a=candidate:1 1 udp 1 127.0.0.1 40000 typ host\r\n"
      "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\n"
      "a=fingerprint:sha-256 AA:BB\r\na=setup:passive\r\na=mid:0\r\na=recvonly\r\n"
      "a=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n"
      "m=video 9 UDP/TLS/RTP/SAVPF 102 103\r\na=mid:1\r\na=sendonly\r\n"
      "a=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=1\r\n"
      "a=rtpmap:103 rtx/90000\r\na=fmtp:103 apt=102\r\n"
      "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
      "a=extmap:7/sendonly http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n"
      "a=ssrc-group:FID 1111 2222\r\na=ssrc:1111 cname:x\r\na=ssrc:2222 cname:x\r\n";
  load_answer_t a;
  char err[100];
  REQUIRE(load_answer_parse(ans, &a, err, sizeof err) == 0);
  CHECK_EQ_INT(a.port, 40000);
  CHECK_EQ_STR(a.ufrag, "abcd");
  const load_answer_media_t *m = load_answer_find(&a, "1");
  REQUIRE(m != NULL);
  CHECK_EQ_STR(m->dir, "sendonly");
  CHECK_EQ_INT(m->ssrc, 1111);
  CHECK_EQ_INT(m->rtx_ssrc, 2222);
  CHECK_EQ_INT(m->media_pt, 102);
  CHECK_EQ_INT(m->rtx_pt, 103);
  CHECK_EQ_INT(m->twcc_ext, 7); /* RFC 8285 §8: the direction does not hide the id */
  CHECK_EQ_INT(load_answer_find(&a, "0")->twcc_ext, 0);
  CHECK(load_answer_parse("v=0\r\nm=video 9 X 96\r\n", &a, err, sizeof err) != 0);
}

TEST(sps_round_trip) {
  static const uint16_t sizes[][2] = {{320, 180}, {640, 360}, {1280, 720}, {1920, 1080},
                                      {176, 144}, {2, 2},     {4096, 2160}};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    uint8_t nal[64];
    int n = load_h264_write_sps(nal, sizeof nal, sizes[i][0], sizes[i][1]);
    REQUIRE(n > 4);
    uint16_t w = 0, h = 0;
    CHECK_EQ_INT(sfu_h264_sps_resolution(nal, (size_t)n, &w, &h), 0);
    CHECK_EQ_INT(w, sizes[i][0]);
    CHECK_EQ_INT(h, sizes[i][1]);
    /* In a STAP-A with the PPS, as the publisher sends it. */
    uint8_t stap[160] = {0x78, 0, (uint8_t)n};
    memcpy(stap + 3, nal, (size_t)n);
    int m = load_h264_write_pps(stap + 3 + n + 2, sizeof stap - 5 - (size_t)n);
    REQUIRE(m > 1);
    stap[3 + n] = 0;
    stap[4 + n] = (uint8_t)m;
    sfu_h264_info_t info;
    CHECK_EQ_INT(sfu_h264_parse(stap, (size_t)(5 + n + m), &info), 0);
    CHECK(info.has_sps && info.has_pps && info.keyframe);
    CHECK_EQ_INT(info.width, sizes[i][0]);
    CHECK_EQ_INT(info.height, sizes[i][1]);
  }
  uint8_t nal[64];
  CHECK(load_h264_write_sps(nal, sizeof nal, 321, 180) < 0); /* odd: not croppable */
  CHECK(load_h264_write_sps(nal, 3, 640, 360) < 0);
}

TEST(vp8_header_round_trip) {
  uint8_t pl[64];
  int o = load_vp8_write_desc(pl, sizeof pl, 1, 0x7abc, 200);
  REQUIRE(o == LOAD_VP8_DESC_LEN);
  o += load_vp8_write_key_header(pl + o, sizeof pl - (size_t)o, 1280, 720, 1000);
  memset(pl + o, 0x55, 8);
  sfu_vp8_desc_t d;
  REQUIRE(sfu_vp8_parse(pl, (size_t)o + 8, &d) == 0);
  CHECK(d.frame_start && d.keyframe && d.start);
  CHECK_EQ_INT(d.partition, 0);
  CHECK_EQ_INT(d.picture_id_bits, 15);
  CHECK_EQ_INT(d.picture_id, 0x7abc);
  CHECK(d.has_tl0picidx && d.tl0picidx == 200);
  CHECK(d.has_tid && d.tid == 0);
  CHECK_EQ_INT(d.desc_len, LOAD_VP8_DESC_LEN);
  CHECK_EQ_INT(d.width, 1280);
  CHECK_EQ_INT(d.height, 720);
  /* a delta frame's first packet, and a continuation packet */
  o = load_vp8_write_desc(pl, sizeof pl, 1, 5, 1);
  o += load_vp8_write_delta_tag(pl + o, sizeof pl - (size_t)o, 10);
  memset(pl + o, 0x55, 8);
  REQUIRE(sfu_vp8_parse(pl, (size_t)o + 8, &d) == 0);
  CHECK(d.frame_start && !d.keyframe);
  o = load_vp8_write_desc(pl, sizeof pl, 0, 5, 1);
  memset(pl + o, 0x55, 8);
  REQUIRE(sfu_vp8_parse(pl, (size_t)o + 8, &d) == 0);
  CHECK(!d.frame_start && !d.start);
}

/* ---- a publisher wired to a viewer in plain RTP, on virtual time ---- */

#define QCAP 4096
typedef struct {
  uint8_t data[1400];
  uint16_t len;
  uint8_t to_viewer;
} qpkt_t;

typedef struct {
  load_peer_t *pub, *view;
  size_t forward_layer;       /* the publisher's layer the "SFU" passes on */
  qpkt_t *q;
  size_t head, tail;
  uint64_t now;
  /* the publisher's RTP bytes handed out per 1 ms step: the largest step */
  uint64_t step_at, step_bytes, max_step_bytes;
  /* transport-cc feedback from the viewer: packets, and the fates they report */
  uint64_t fb, fb_received, fb_lost, fb_bad;
  uint8_t fb_count_next;
} wire_t;

static void enqueue(wire_t *w, const uint8_t *buf, size_t len, int to_viewer) {
  if (w->tail - w->head == QCAP || len > sizeof w->q[0].data) return;
  qpkt_t *p = &w->q[w->tail++ % QCAP];
  memcpy(p->data, buf, len);
  p->len = (uint16_t)len;
  p->to_viewer = (uint8_t)to_viewer;
}
static void pub_plain(void *user, const uint8_t *buf, size_t len, int rtcp) {
  wire_t *w = user;
  const load_layer_t *l = &w->pub->layers[w->forward_layer];
  uint32_t ssrc = rtcp ? 0 : sfu_rd32(buf + 8);
  if (!rtcp) {
    if (w->step_at != w->now) w->step_at = w->now, w->step_bytes = 0;
    w->step_bytes += len;
    if (w->step_bytes > w->max_step_bytes) w->max_step_bytes = w->step_bytes;
  }
  if (rtcp || ssrc == l->ssrc || ssrc == l->rtx_ssrc) enqueue(w, buf, len, 1);
}
static void count_twcc(wire_t *w, const uint8_t *buf, size_t len) {
  sfu_rtcp_iter_t it;
  sfu_rtcp_pkt_t pkt;
  sfu_rtcp_iter_init(&it, buf, len);
  while (sfu_rtcp_iter_next(&it, &pkt) == 1) {
    sfu_rtcp_fb_t fb;
    if (sfu_rtcp_fb_parse(&pkt, &fb) != 0 || fb.pt != SFU_RTCP_RTPFB ||
        fb.fmt != SFU_RTCP_RTPFB_TWCC)
      continue;
    static sfu_rtcp_twcc_pkt_t pk[2048];
    sfu_rtcp_twcc_t hdr;
    size_t n = 0;
    if (sfu_rtcp_twcc_parse(&fb, &hdr, pk, 2048, &n) != 0 || hdr.fb_count != w->fb_count_next ||
        hdr.sender_ssrc != w->view->local_ssrc) {
      w->fb_bad++;
      continue;
    }
    w->fb_count_next++;
    w->fb++;
    for (size_t i = 0; i < n; i++) {
      if (pk[i].status == SFU_TWCC_NOT_RECEIVED) w->fb_lost++;
      else w->fb_received++;
    }
  }
}
static void view_plain(void *user, const uint8_t *buf, size_t len, int rtcp) {
  if (rtcp) count_twcc(user, buf, len);
  enqueue(user, buf, len, 0);
}
static void no_send(void *user, const uint8_t *buf, size_t len) {}

static void wire_init(wire_t *w, const load_peer_cfg_t *pc, size_t layer) {
  memset(w, 0, sizeof *w);
  w->q = calloc(QCAP, sizeof *w->q);
  w->forward_layer = layer;
  w->now = 1000000;
  load_peer_cbs_t pcb = {no_send, pub_plain, w, NULL}, vcb = {no_send, view_plain, w, NULL};
  load_peer_cfg_t vc = {.n_recv = 1, .recv_rtx = 1};
  w->pub = load_peer_new(pc, g_cert, 5000, &pcb, 42, 0, 1);
  w->view = load_peer_new(&vc, g_cert, 5001, &vcb, 43, 0, 2);
  /* What the worker's answer would declare: the forwarded layer's SSRCs. */
  load_recv_t *r = w->view->recv[0];
  r->declared_ssrc = w->pub->layers[layer].ssrc;
  r->declared_rtx_ssrc = w->pub->layers[layer].rtx_ssrc;
  r->media_pt = pc->codec == LOAD_H264 ? LOAD_PT_H264 : LOAD_PT_VP8;
  r->rtx_pt = r->media_pt + 1;
  load_peer_start_media(w->pub, w->now);
  load_peer_start_media(w->view, w->now);
}
static void wire_free(wire_t *w) {
  load_peer_free(w->pub);
  load_peer_free(w->view);
  free(w->q);
}

/* Runs both peers in 1 ms steps for `us`, delivering queued packets each step. */
static void wire_run(wire_t *w, uint64_t us) {
  for (uint64_t end = w->now + us; w->now < end; w->now += 1000) {
    load_peer_t *ps[2] = {w->pub, w->view};
    for (int i = 0; i < 2; i++)
      if (load_peer_next_deadline(ps[i]) <= w->now) load_peer_handle_timeout(ps[i], w->now);
    while (w->head != w->tail) {
      qpkt_t *p = &w->q[w->head++ % QCAP];
      load_peer_input_plain(p->to_viewer ? w->view : w->pub, w->now, p->data, p->len);
    }
  }
}

static void check_clean(const load_recv_t *r, uint16_t wd, uint16_t ht) {
  CHECK(r->packets > 50);
  CHECK_EQ_INT(r->first_keyframe, 1);
  CHECK(r->keyframes >= 1);
  CHECK_EQ_INT(r->width, wd);
  CHECK_EQ_INT(r->height, ht);
  CHECK_EQ_INT(r->seq_gaps, 0);
  CHECK_EQ_INT(r->dups, 0);
  CHECK_EQ_INT(r->ts_backwards, 0);
  CHECK_EQ_INT(r->pic_id_jumps, 0);
  CHECK_EQ_INT(r->bad_payload, 0);
  CHECK_EQ_INT(r->padding, 0);
  CHECK_EQ_INT(r->n_ssrcs, 1);
  CHECK_EQ_INT(r->n_pts, 1);
  CHECK_EQ_STR(r->mid_ext, "0");
}

TEST(vp8_simulcast_publisher_to_viewer) {
  load_peer_cfg_t pc = {.publish = 1, .codec = LOAD_VP8, .layers = 3, .pub_rtx = 1, .fps = 15};
  for (size_t layer = 0; layer < 3; layer++) {
    wire_t w;
    wire_init(&w, &pc, layer);
    w.pub->layers[layer].seq = 65500; /* the sequence number wraps within the run */
    w.pub->layers[layer].pic_id = 0x7ff0; /* and so does the 15-bit PictureID */
    wire_run(&w, 3000000);
    CHECK(w.pub->layers[layer].seq < 65500);
    const load_recv_t *r = w.view->recv[0];
    static const uint16_t dims[3][2] = {{320, 180}, {640, 360}, {1280, 720}};
    check_clean(r, dims[layer][0], dims[layer][1]);
    CHECK_EQ_INT(r->ssrcs[0], w.pub->layers[layer].ssrc);
    CHECK_EQ_INT(r->pts[0], 96);
    CHECK_EQ_INT(r->nacks_sent, 0);
    CHECK_EQ_INT(w.pub->layers[layer].frames, 45);
    CHECK_EQ_INT(w.pub->layers[layer].keyframes, 1);
    /* every layer's bitrate, within one frame's worth (3 s, a 2x keyframe) */
    uint64_t expect = w.pub->layers[layer].bitrate_bps / 8 * 3;
    uint64_t frame = w.pub->layers[layer].bitrate_bps / 8 / 15;
    CHECK(w.pub->layers[layer].octets >= expect && w.pub->layers[layer].octets <= expect + 2 * frame);
    CHECK(w.view->recv[0]->lsr != 0); /* the SRs arrived */
    wire_free(&w);
  }
}

/* A paced publisher (cfg.pace 2.5, as libwebrtc paces) hands out at most its 5 ms burst
 * plus one packet at a time, where an unpaced one hands out each frame (all three layers)
 * at once; the stream is as clean, every packet leaves, and frames wait for it (a frame
 * is 1/15 s of the bitrate: ~27 ms at 2.5 x, a keyframe twice that). */
TEST(paced_publisher_spreads_each_frame) {
  for (int paced = 0; paced <= 1; paced++) {
    load_peer_cfg_t pc = {.publish = 1, .codec = LOAD_VP8, .layers = 3, .pub_rtx = 1,
                          .fps = 15, .pace = paced ? 2.5 : 0};
    wire_t w;
    wire_init(&w, &pc, 2);
    wire_run(&w, 3000000);
    check_clean(w.view->recv[0], 1280, 720);
    uint64_t total = 0;
    for (size_t i = 0; i < 3; i++) total += w.pub->layers[i].bitrate_bps;
    uint64_t frame = w.pub->layers[2].bitrate_bps / 8 / 15; /* the top layer's alone */
    if (!paced) {
      CHECK(w.pub->pacer == NULL);
      CHECK(w.max_step_bytes >= frame);
    } else {
      CHECK(w.max_step_bytes <= total * 5 / 2 * 5000 / 8000000 + 1300); /* 5 ms + a packet */
      sfu_pacer_stats_t st;
      sfu_pacer_stats(w.pub->pacer, &st);
      CHECK_EQ_INT(st.dropped_packets, 0);
      CHECK(st.max_delay_us >= 15000);
      CHECK(st.max_delay_us < 100000);
      uint64_t pkts = 0;
      for (size_t i = 0; i < 3; i++) pkts += w.pub->layers[i].packets;
      CHECK_EQ_INT(st.sent_packets + st.queued_packets, pkts);
    }
    wire_free(&w);
  }
}

/* A viewer counts what is wrong in what it is given: gaps across the wrap, duplicates,
 * a timestamp going back, a PictureID jump. */
TEST(viewer_counts_faults) {
  load_peer_cfg_t pc = {.publish = 1, .codec = LOAD_VP8, .layers = 1, .pub_rtx = 1, .fps = 15};
  wire_t w;
  wire_init(&w, &pc, 0);
  w.pub->layers[0].seq = 65534;
  wire_run(&w, 200000);
  const load_recv_t *r = w.view->recv[0];
  uint64_t n = r->packets;
  REQUIRE(n > 10 && r->seq_gaps == 0);
  /* Replay the publisher's history into the viewer: each is a duplicate. */
  const load_layer_t *l = &w.pub->layers[0];
  uint16_t last = (uint16_t)(l->seq - 1);
  uint8_t buf[1400];
  const load_hist_slot_t *s = &l->hist[last % LOAD_HIST];
  memcpy(buf, s->data, s->len);
  load_peer_input_plain(w.view, w.now, buf, s->len);
  CHECK_EQ_INT(r->dups, 1);
  /* Skip 3 sequence numbers and go back in time, with a PictureID jump. */
  w.pub->layers[0].seq = (uint16_t)(w.pub->layers[0].seq + 3);
  w.pub->layers[0].ts_base -= 90000;
  w.pub->layers[0].pic_id = (uint16_t)(w.pub->layers[0].pic_id + 5);
  wire_run(&w, 100000);
  CHECK_EQ_INT(r->seq_gaps, 3);
  CHECK_EQ_INT(r->ts_backwards, 1);
  CHECK_EQ_INT(r->pic_id_jumps, 1);
  CHECK(r->nacks_sent >= 1);
  CHECK(l->nack_misses >= 3); /* never sent: nothing to resend */
  wire_free(&w);
}

TEST(h264_publisher_to_viewer) {
  load_peer_cfg_t pc = {.publish = 1, .codec = LOAD_H264, .layers = 1, .pub_rtx = 1, .fps = 30};
  wire_t w;
  wire_init(&w, &pc, 0);
  wire_run(&w, 2000000);
  check_clean(w.view->recv[0], 640, 360);
  CHECK_EQ_INT(w.view->recv[0]->pts[0], 102);
  CHECK_EQ_INT(w.view->recv[0]->keyframes, 1); /* STAP-A and IDR: one keyframe */
  wire_free(&w);
}

TEST(loss_is_nacked_and_recovered_by_rtx) {
  for (int rtx = 1; rtx >= 0; rtx--) {
    load_peer_cfg_t pc = {.publish = 1, .codec = LOAD_VP8, .layers = 1, .pub_rtx = rtx, .fps = 15};
    wire_t w;
    wire_init(&w, &pc, 0);
    load_peer_set_loss(w.view, 0.1);
    wire_run(&w, 4000000);
    load_peer_set_loss(w.view, 0);
    wire_run(&w, 500000); /* the last gaps recover */
    const load_recv_t *r = w.view->recv[0];
    const load_layer_t *l = &w.pub->layers[0];
    CHECK(r->dropped > 10);
    CHECK(r->nacks_sent > 0);
    CHECK(l->nacks > 0);
    CHECK_EQ_INT(l->nack_misses, 0);
    /* Every hole is filled in the end. A gap is counted once, when it opens; resends on
     * the media SSRC (no RTX) may be dropped again and are asked for again. */
    CHECK_EQ_INT(r->recovered, r->seq_gaps);
    if (rtx) {
      CHECK_EQ_INT(r->seq_gaps, r->dropped);
      CHECK_EQ_INT(r->rtx, r->dropped);
      CHECK_EQ_INT(l->rtx_sent, r->dropped);
      CHECK_EQ_INT(l->resent, 0);
    } else {
      CHECK(r->dropped > r->seq_gaps); /* 10% of the resends were dropped too */
      CHECK_EQ_INT(l->resent, r->dropped); /* each drop, original or resend, is asked for */
      CHECK_EQ_INT(r->rtx, 0);
      CHECK_EQ_INT(l->rtx_sent, 0);
    }
    CHECK_EQ_INT(r->dups, 0);
    wire_free(&w);
  }
}

TEST(pli_gets_a_keyframe_and_padding_is_seen) {
  load_peer_cfg_t pc = {.publish = 1, .codec = LOAD_VP8, .layers = 3, .pub_rtx = 1, .fps = 15,
                        .padding_per_s = 4};
  wire_t w;
  wire_init(&w, &pc, 1);
  wire_run(&w, 1000000);
  CHECK_EQ_INT(w.view->recv[0]->keyframes, 1);
  CHECK_EQ_INT(load_peer_send_pli(w.view, w.view->recv[0]), 0);
  wire_run(&w, 500000);
  CHECK_EQ_INT(w.pub->layers[1].plis, 1);
  CHECK_EQ_INT(w.pub->layers[0].plis, 0);
  CHECK_EQ_INT(w.pub->layers[1].keyframes, 2);
  CHECK_EQ_INT(w.pub->layers[0].keyframes, 1);
  CHECK_EQ_INT(w.view->recv[0]->keyframes, 2);
  /* Nobody removed the padding here, so the viewer sees it (the worker must not). */
  CHECK(w.pub->layers[1].padding_sent >= 5);
  CHECK_EQ_INT(w.view->recv[0]->padding, w.pub->layers[1].padding_sent);
  wire_free(&w);
}

/* The viewer reports each packet that arrived (media, RTX, padding) as received and each
 * its simulated loss took as not received, in feedback every ~50 ms (here every frame,
 * 66 ms: built by the first packet once due), numbered on. */
TEST(viewer_sends_transport_cc_feedback) {
  load_peer_cfg_t pc = {.publish = 1, .codec = LOAD_VP8, .layers = 1, .pub_rtx = 1, .fps = 15,
                        .padding_per_s = 5};
  wire_t w;
  wire_init(&w, &pc, 0);
  sfu_twcc_recv_init(&w.view->twcc, LOAD_EXT_TWCC); /* what load_peer_answer does */
  uint16_t first_seq = w.pub->twcc_seq;
  load_peer_set_loss(w.view, 0.1);
  wire_run(&w, 3000000);
  load_peer_set_loss(w.view, 0);
  wire_run(&w, 500000);
  /* The publisher's last frame may still be unreported: everything before it is. */
  uint16_t stamped = (uint16_t)(w.pub->twcc_seq - first_seq);
  const load_recv_t *r = w.view->recv[0];
  CHECK_EQ_INT(w.fb_bad, 0);
  CHECK_EQ_INT(w.fb, w.view->twcc_fb_out);
  CHECK(w.fb >= 3500000 / 70000 && w.fb <= 3500000 / 50000 + 1);
  CHECK(r->dropped > 10 && r->rtx > 10 && r->padding >= 15);
  CHECK_EQ_INT(w.fb_lost, r->dropped);
  CHECK(w.fb_received + w.fb_lost <= stamped);
  CHECK(w.fb_received + w.fb_lost + 20 >= stamped);
  CHECK(w.fb_received >= r->packets + r->rtx + r->padding - 20);
  /* Stopped packets: the pending arrivals go out at the peer's timer. */
  uint64_t fb = w.fb;
  w.pub->cfg.publish = 0; /* the publisher falls silent */
  wire_run(&w, 300000);
  CHECK_EQ_INT(w.fb, fb + 1);
  CHECK_EQ_INT(w.fb_received + w.fb_lost, stamped);
  CHECK(sfu_twcc_recv_deadline(&w.view->twcc) == UINT64_MAX); /* nothing pending */
  wire_free(&w);
}

/* The extension id comes from the worker's answer; configured off, none is sent. */
TEST(answer_turns_transport_cc_feedback_on_unless_off) {
  for (int off = 0; off <= 1; off++) {
    load_peer_cfg_t vc = {.n_recv = 2, .recv_rtx = 1, .no_twcc_fb = off};
    load_peer_cbs_t cbs = {no_send, NULL, NULL, NULL};
    load_peer_t *p = load_peer_new(&vc, g_cert, 5000, &cbs, 9, 0, 1);
    REQUIRE(p != NULL);
    CHECK_EQ_INT(p->twcc.ext_id, 0);
    char *text = load_peer_offer(p);
    REQUIRE(text != NULL);
    sfu_sdp_offer_t *off_sdp = NULL;
    REQUIRE(sfu_sdp_parse(text, strlen(text), &off_sdp, NULL, 0) == 0);
    char *answer = NULL, err[200];
    sfu_sdp_answer_t neg;
    REQUIRE(sfu_sdp_answer(off_sdp, &srv, &answer, &neg, err, sizeof err) == 0);
    CHECK_EQ_INT(load_peer_answer(p, answer, err, sizeof err), 0);
    CHECK_EQ_INT(p->twcc.ext_id, off ? 0 : LOAD_EXT_TWCC);
    /* A packet with the extension: recorded (on) or not (off). */
    uint8_t pkt[64] = {0x90, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 7, 0xBE, 0xDE, 0, 1,
                       (uint8_t)(LOAD_EXT_TWCC << 4 | 1), 0x12, 0x34, 0};
    load_peer_input_plain(p, 1000000, pkt, 24);
    CHECK_EQ_INT(p->twcc.have_base, !off);
    CHECK_EQ_INT(sfu_twcc_recv_deadline(&p->twcc) == UINT64_MAX, off); /* the timer is set */
    free(answer);
    sfu_sdp_answer_clear(&neg);
    sfu_sdp_offer_free(off_sdp);
    free(text);
    load_peer_free(p);
  }
}

TEST(reoffer_keeps_credentials_and_mids) {
  load_peer_cfg_t pc = {.publish = 1, .codec = LOAD_VP8, .layers = 3, .pub_rtx = 1, .n_recv = 1,
                        .recv_rtx = 1};
  load_peer_cbs_t cbs = {no_send, NULL, NULL, NULL};
  load_peer_t *p = load_peer_new(&pc, g_cert, 5000, &cbs, 7, 0, 1);
  REQUIRE(p != NULL);
  char *o1 = load_peer_offer(p), *o2 = load_peer_reoffer(p, 3), *o3 = load_peer_reoffer(p, 2);
  REQUIRE(o1 && o2 && o3);
  sfu_sdp_offer_t *a = NULL, *b = NULL, *c = NULL;
  REQUIRE(sfu_sdp_parse(o1, strlen(o1), &a, NULL, 0) == 0);
  REQUIRE(sfu_sdp_parse(o2, strlen(o2), &b, NULL, 0) == 0);
  REQUIRE(sfu_sdp_parse(o3, strlen(o3), &c, NULL, 0) == 0);
  CHECK_EQ_INT(a->n_media, 2);
  CHECK_EQ_INT(b->n_media, 4);
  CHECK_EQ_INT(c->n_media, 4);
  CHECK_EQ_STR(b->media[3].mid, "3");
  CHECK(c->media[3].dir == SFU_SDP_INACTIVE && c->media[2].dir == SFU_SDP_RECVONLY);
  CHECK_EQ_STR(a->media[0].tp.ice_ufrag, b->media[0].tp.ice_ufrag);
  CHECK_EQ_STR(a->media[0].tp.ice_pwd, c->media[0].tp.ice_pwd);
  CHECK(sfu_fingerprint_set_equal(&a->media[0].tp.fingerprints, &c->media[0].tp.fingerprints));
  CHECK(b->origin_sess_id == a->origin_sess_id && b->origin_sess_version > a->origin_sess_version);
  CHECK(load_peer_reoffer(p, LOAD_MAX_RECV + 1) == NULL);
  sfu_sdp_offer_free(a);
  sfu_sdp_offer_free(b);
  sfu_sdp_offer_free(c);
  free(o1);
  free(o2);
  free(o3);
  load_peer_free(p);
}

int main(void) {
  sfu_openssl_init();
  if (sfu_srtp_global_init() != 0 || sfu_dtls_cert_new(&g_cert) != 0) return 1;
  RUN(offers_parse_and_answer);
  RUN(answer_parse_reads_declared_ssrcs);
  RUN(sps_round_trip);
  RUN(vp8_header_round_trip);
  RUN(vp8_simulcast_publisher_to_viewer);
  RUN(paced_publisher_spreads_each_frame);
  RUN(viewer_counts_faults);
  RUN(h264_publisher_to_viewer);
  RUN(loss_is_nacked_and_recovered_by_rtx);
  RUN(pli_gets_a_keyframe_and_padding_is_seen);
  RUN(reoffer_keeps_credentials_and_mids);
  RUN(viewer_sends_transport_cc_feedback);
  RUN(answer_turns_transport_cc_feedback_on_unless_off);
  sfu_dtls_cert_free(g_cert);
  sfu_srtp_global_shutdown();
  return test_summary();
}
