/* SDP parser and answer builder, on offers captured from real peers (tests/data/sdp,
 * captured by tools/capture-offers) plus small hand-written offers for the edges. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sfu/err.h"
#include "sfu/sdp.h"
#include "test.h"
#include "test_data.h"

/* ---- helpers ------------------------------------------------------------------------ */

static const char *captured[] = {
    "chromium-audio-only.sdp",
    "chromium-audio-datachannel.sdp",
    "chromium-simulcast-datachannel.sdp",
    "chromium-simulcast-no-datachannel.sdp",
    "chromium-ice-restart.sdp",
    "chromium-h264-only.sdp",
    "chromium-recvonly.sdp",
    "chromium-datachannel-only.sdp",
    "aiortc-audio-datachannel.sdp",
    "aiortc-audio-video.sdp",
    "aiortc-audio-video-datachannel.sdp",
    "derived-aiortc-no-bundle.sdp",
    "chromium-simulcast-trickle.sdp",
};

static const sfu_sdp_local_t local = {
    .ice_ufrag = "lUfr",
    .ice_pwd = "localPasswordLocalPassw0",
    .fingerprint = "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:"
                   "22:33:44:55:66:77:88:99",
    .ip = "192.0.2.7",
    .udp_port = 40000,
    .tcp_port = 40001,
    .sctp_port = 5000,
    .max_message_size = 262144,
    .session_id = 77,
    .session_version = 2,
};

static int count(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
  return n;
}

/* Copy of m-section i of an SDP text (from its "m=" to the next), "" if absent. */
static char *section(const char *sdp, int i) {
  const char *p = sdp;
  int k = -1;
  while ((p = strstr(p, "m=")) != NULL) {
    if (p == sdp || p[-1] == '\n') {
      if (++k == i) break;
    }
    p += 2;
  }
  if (!p) return strdup("");
  const char *e = strstr(p + 2, "\nm=");
  size_t n = e ? (size_t)(e - p + 1) : strlen(p);
  char *s = malloc(n + 1);
  memcpy(s, p, n);
  s[n] = '\0';
  return s;
}

/* The SDP without lines starting with any of the prefixes (NULL-terminated list). */
static char *without_lines(const char *sdp, const char *const *prefixes) {
  char *out = malloc(strlen(sdp) + 1);
  size_t o = 0;
  const char *p = sdp;
  while (*p) {
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p + 1) : strlen(p);
    int drop = 0;
    for (int i = 0; prefixes[i]; i++)
      if (strncmp(p, prefixes[i], strlen(prefixes[i])) == 0) drop = 1;
    if (!drop) memcpy(out + o, p, n), o += n;
    p += n;
  }
  out[o] = '\0';
  return out;
}

typedef struct {
  sfu_sdp_offer_t *offer;
  char *text;
  sfu_sdp_answer_t neg;
  int rc;
  char err[256];
} result_t;

static void answer_str(const char *sdp, result_t *r) {
  memset(r, 0, sizeof *r);
  r->rc = sfu_sdp_parse(sdp, strlen(sdp), &r->offer, r->err, sizeof r->err);
  if (r->rc) return;
  r->rc = sfu_sdp_answer(r->offer, &local, &r->text, &r->neg, r->err, sizeof r->err);
}

static int answer_file(const char *name, result_t *r) {
  size_t len;
  char *buf = test_load_sdp(name, &len);
  if (!buf) {
    memset(r, 0, sizeof *r);
    r->rc = -1;
    return -1;
  }
  answer_str(buf, r);
  free(buf);
  return r->rc;
}

static void result_free(result_t *r) {
  sfu_sdp_offer_free(r->offer);
  free(r->text);
  sfu_sdp_answer_clear(&r->neg);
}

static const sfu_sdp_neg_media_t *neg_by_mid(const sfu_sdp_answer_t *n, const char *mid) {
  for (size_t i = 0; i < n->n_media; i++)
    if (n->media[i].mid && strcmp(n->media[i].mid, mid) == 0) return &n->media[i];
  return NULL;
}

static const sfu_sdp_neg_codec_t *neg_codec(const sfu_sdp_neg_media_t *m, int pt) {
  for (size_t i = 0; i < m->n_codecs; i++)
    if (m->codecs[i].pt == pt) return &m->codecs[i];
  return NULL;
}

/* ---- every captured offer ------------------------------------------------------------- */

/* Checks valid for every answer: the shape JSEP requires and the worker's choices. */
static void check_answer_invariants(const char *name, const result_t *r) {
  const char *t = r->text;
  CHECK(strncmp(t, "v=0\r\no=- 77 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", 38) == 0);
  CHECK(count(t, "a=ice-lite\r\n") == 1);
  CHECK(count(t, "a=setup:passive") == (int)r->neg.n_media);
  CHECK(count(t, "a=setup:active") == 0);
  CHECK(count(t, "a=fingerprint:sha-256 AA:BB") == (int)r->neg.n_media);
  for (const char *bad = "red/\0ulpfec\0flexfec\0telephone-event\0G722\0PCMU\0CN/\0"; *bad;
       bad += strlen(bad) + 1)
    if (count(t, bad)) {
      fprintf(stderr, "%s: answer contains %s\n", name, bad);
      CHECK(!"refused codec in answer");
    }
  /* Exactly one set of candidates (in the transport's section). */
  CHECK(count(t, "a=candidate:1 1 udp 2130706431 192.0.2.7 40000 typ host\r\n") == 1);
  CHECK(count(t, "a=candidate:2 1 tcp 1671430143 192.0.2.7 40001 typ host tcptype passive") ==
        1);
  CHECK(count(t, "a=end-of-candidates") == 1);
  /* The answer is SDP too: parse it, compare with the offer (same count, order, mids,
   * and every answered extmap id means the same URI as in the offer's section). */
  sfu_sdp_offer_t *a = NULL;
  char err[128];
  int rc = sfu_sdp_parse(t, strlen(t), &a, err, sizeof err);
  CHECK_EQ_INT(rc, 0);
  if (rc) {
    fprintf(stderr, "%s: answer does not parse: %s\n", name, err);
    return;
  }
  CHECK_EQ_INT(a->n_media, r->offer->n_media);
  for (size_t i = 0; i < a->n_media && i < r->offer->n_media; i++) {
    const sfu_sdp_media_t *am = &a->media[i], *om = &r->offer->media[i];
    CHECK((!am->mid && !om->mid) || (am->mid && om->mid && strcmp(am->mid, om->mid) == 0));
    CHECK_EQ_STR(am->media, om->media);
    for (size_t e = 0; e < am->n_extmaps; e++) {
      int same = 0;
      for (size_t k = 0; k < om->n_extmaps; k++)
        same |= om->extmaps[k].id == am->extmaps[e].id &&
                strcmp(om->extmaps[k].uri, am->extmaps[e].uri) == 0;
      CHECK(same);
    }
    /* PTs in the answer exist in the offer with the same name. */
    for (size_t c = 0; c < am->n_codecs && am->port; c++) {
      int same = 0;
      for (size_t k = 0; k < om->n_codecs; k++)
        same |= om->codecs[k].pt == am->codecs[c].pt && om->codecs[k].name &&
                am->codecs[c].name && strcasecmp(om->codecs[k].name, am->codecs[c].name) == 0;
      CHECK(same);
    }
    if (am->port && am->kind != SFU_SDP_KIND_APPLICATION) CHECK(am->rtcp_mux);
  }
  sfu_sdp_offer_free(a);
}

TEST(every_captured_offer_parses_and_is_answered) {
  for (size_t i = 0; i < sizeof captured / sizeof captured[0]; i++) {
    result_t r;
    int rc = answer_file(captured[i], &r);
    if (rc) fprintf(stderr, "%s: rc %d: %s\n", captured[i], rc, r.err);
    CHECK_EQ_INT(rc, 0);
    if (!rc) {
      CHECK(r.offer->n_media >= 1);
      CHECK(r.neg.n_media >= 1);
      CHECK_EQ_INT(r.neg.n_offered, r.offer->n_media);
      check_answer_invariants(captured[i], &r);
    }
    result_free(&r);
  }
}

TEST(lf_only_parses_like_crlf) {
  size_t len;
  char *crlf = test_load_sdp("chromium-simulcast-datachannel.sdp", &len);
  REQUIRE(crlf);
  REQUIRE(strstr(crlf, "\r\n"));
  char *lf = malloc(len + 1);
  size_t o = 0;
  for (size_t i = 0; i < len; i++)
    if (crlf[i] != '\r') lf[o++] = crlf[i];
  sfu_sdp_offer_t *a, *b;
  REQUIRE(sfu_sdp_parse(crlf, len, &a, NULL, 0) == 0);
  REQUIRE(sfu_sdp_parse(lf, o, &b, NULL, 0) == 0);
  CHECK_EQ_INT(a->n_media, b->n_media);
  for (size_t i = 0; i < a->n_media; i++) {
    CHECK_EQ_INT(a->media[i].n_codecs, b->media[i].n_codecs);
    CHECK_EQ_INT(a->media[i].n_extmaps, b->media[i].n_extmaps);
    CHECK_EQ_STR(a->media[i].tp.ice_pwd, b->media[i].tp.ice_pwd);
    CHECK_EQ_STR(a->media[i].mid, b->media[i].mid);
  }
  sfu_sdp_offer_free(a);
  sfu_sdp_offer_free(b);
  free(lf);
  free(crlf);
}

/* ---- Chromium ------------------------------------------------------------------------ */

TEST(chromium_simulcast_offer_parsed) {
  size_t len;
  char *buf = test_load_sdp("chromium-simulcast-datachannel.sdp", &len);
  REQUIRE(buf);
  sfu_sdp_offer_t *o;
  REQUIRE(sfu_sdp_parse(buf, len, &o, NULL, 0) == 0);
  CHECK(o->has_bundle);
  CHECK_EQ_INT(o->n_bundle, 3);
  CHECK_EQ_INT(o->n_media, 3);
  const sfu_sdp_media_t *au = &o->media[0], *vi = &o->media[1], *dc = &o->media[2];
  CHECK_EQ_INT(au->kind, SFU_SDP_KIND_AUDIO);
  CHECK_EQ_INT(au->dir, SFU_SDP_SENDONLY);
  CHECK(au->rtcp_mux && au->rtcp_rsize && au->tp.ice_trickle);
  CHECK_EQ_INT(au->tp.setup, SFU_SDP_SETUP_ACTPASS);
  CHECK_EQ_INT(au->tp.fingerprints.n, 1);
  CHECK_EQ_INT(au->tp.fingerprints.fp[0].hash, SFU_FP_SHA256);
  CHECK(au->n_candidates >= 1 && au->n_candidates == au->n_candidates_seen);
  CHECK(au->n_ssrcs == 1 && au->ssrcs[0].cname);
  CHECK_EQ_INT(vi->kind, SFU_SDP_KIND_VIDEO);
  CHECK_EQ_INT(vi->n_rids, 3);
  CHECK_EQ_STR(vi->rids[0].id, "q");
  CHECK(vi->rids[2].send);
  CHECK_EQ_STR(vi->sim_send.raw, "q;h;f");
  CHECK_EQ_INT(vi->sim_send.n_streams, 3);
  CHECK(!vi->sim_recv.raw);
  CHECK_EQ_INT(vi->n_ssrcs, 0); /* interop.md: simulcast video carries no a=ssrc */
  CHECK(vi->n_codecs >= 20);
  CHECK_EQ_INT(dc->kind, SFU_SDP_KIND_APPLICATION);
  CHECK_EQ_INT(dc->proto, SFU_SDP_PROTO_SCTP);
  CHECK_EQ_INT(dc->sctp_port, 5000);
  CHECK_EQ_INT(dc->max_message_size, 262144);
  /* rtx apt parsed */
  int found97 = 0;
  for (size_t i = 0; i < vi->n_codecs; i++)
    if (vi->codecs[i].pt == 97) found97 = vi->codecs[i].apt == 96;
  CHECK(found97);
  sfu_sdp_offer_free(o);
  free(buf);
}

TEST(chromium_simulcast_answer) {
  result_t r;
  REQUIRE(answer_file("chromium-simulcast-datachannel.sdp", &r) == 0);
  const char *t = r.text;
  CHECK(strstr(t, "a=group:BUNDLE 0 1 2\r\n"));
  char *au = section(t, 0), *vi = section(t, 1), *dc = section(t, 2);
  /* audio: Opus only, its fmtp kept, transport-cc only, direction reversed */
  CHECK(strstr(au, "m=audio 40000 UDP/TLS/RTP/SAVPF 111\r\n"));
  CHECK(strstr(au, "a=fmtp:111 minptime=10;useinbandfec=1\r\n"));
  CHECK(strstr(au, "a=rtcp-fb:111 transport-cc\r\n"));
  CHECK(strstr(au, "a=recvonly\r\n"));
  CHECK(strstr(au, "a=rtcp-mux\r\n") && strstr(au, "a=rtcp-rsize\r\n"));
  CHECK(strstr(au, "a=candidate:1 1 udp")); /* the BUNDLE-tag section */
  CHECK(strstr(au, "c=IN IP4 192.0.2.7\r\n"));
  /* video: simulcast received, RTX pairs, no RED/ULPFEC, no H.264 mode 0 */
  CHECK(strstr(vi, "a=simulcast:recv q;h;f\r\n"));
  CHECK(strstr(vi, "a=rid:q recv\r\n") && strstr(vi, "a=rid:h recv\r\n") &&
        strstr(vi, "a=rid:f recv\r\n"));
  CHECK(strstr(vi, "a=rtpmap:96 VP8/90000\r\n"));
  CHECK(strstr(vi, "a=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n"));
  CHECK(strstr(vi, "a=fmtp:103 apt=102\r\n"));
  CHECK(strstr(vi, "a=fmtp:46 apt=45\r\n"));  /* AV1 */
  CHECK(strstr(vi, "a=fmtp:99 apt=98\r\n"));  /* VP9 */
  CHECK(!strstr(vi, "a=rtpmap:104 ") && !strstr(vi, "a=rtpmap:114 ") &&
        !strstr(vi, "a=rtpmap:39 ")); /* packetization-mode=0 */
  CHECK(!strstr(vi, " 118") && !strstr(vi, " 120"));
  CHECK(strstr(vi, "a=rtcp-fb:96 nack pli\r\n") && strstr(vi, "a=rtcp-fb:96 ccm fir\r\n") &&
        strstr(vi, "a=rtcp-fb:96 goog-remb\r\n") && strstr(vi, "a=rtcp-fb:96 transport-cc\r\n"));
  CHECK(!strstr(vi, "a=candidate"));
  CHECK(!strstr(vi, "playout-delay") && !strstr(vi, "video-layers-allocation"));
  CHECK(strstr(vi, "sdes:rtp-stream-id") && strstr(vi, "repaired-rtp-stream-id") &&
        strstr(vi, "dependency-descriptor"));
  /* data channel, modern form */
  CHECK(strstr(dc, "m=application 40000 UDP/DTLS/SCTP webrtc-datachannel\r\n"));
  CHECK(strstr(dc, "a=sctp-port:5000\r\n") && strstr(dc, "a=max-message-size:262144\r\n"));
  CHECK(!strstr(dc, "sctpmap"));
  free(au);
  free(vi);
  free(dc);

  /* negotiated struct */
  const sfu_sdp_answer_t *n = &r.neg;
  CHECK(n->bundled);
  CHECK_EQ_INT(n->n_media, 3);
  CHECK_EQ_STR(n->remote_ufrag, r.offer->media[0].tp.ice_ufrag);
  CHECK_EQ_STR(n->remote_pwd, r.offer->media[0].tp.ice_pwd);
  CHECK_EQ_INT(n->remote_fingerprints.n, 1);
  CHECK_EQ_INT(n->remote_fingerprints.fp[0].hash, SFU_FP_SHA256);
  CHECK(sfu_fingerprint_set_equal(&n->remote_fingerprints, &r.offer->media[0].tp.fingerprints));
  CHECK_EQ_INT(n->remote_setup, SFU_SDP_SETUP_ACTPASS);
  CHECK(!n->note);
  const sfu_sdp_neg_media_t *nv = neg_by_mid(n, "1"), *na = neg_by_mid(n, "0"),
                            *nd = neg_by_mid(n, "2");
  REQUIRE(nv && na && nd);
  CHECK_EQ_INT(nv->kind, SFU_SDP_KIND_VIDEO);
  CHECK_EQ_INT(nv->dir, SFU_SDP_RECVONLY);
  CHECK(nv->simulcast_recv);
  CHECK_EQ_INT(nv->n_rids, 3);
  CHECK_EQ_STR(nv->rids[0], "q");
  CHECK_EQ_STR(nv->rids[1], "h");
  CHECK_EQ_STR(nv->rids[2], "f");
  const sfu_sdp_neg_codec_t *vp8 = neg_codec(nv, 96), *h264 = neg_codec(nv, 102);
  REQUIRE(vp8 && h264);
  CHECK_EQ_STR(vp8->name, "VP8");
  CHECK_EQ_INT(vp8->rtx_pt, 97);
  CHECK_EQ_INT(vp8->clock_rate, 90000);
  CHECK_EQ_STR(h264->fmtp, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f");
  CHECK(!neg_codec(nv, 104) && !neg_codec(nv, 118) && !neg_codec(nv, 120));
  /* extension ids from the offer's video section */
  const sfu_sdp_media_t *ov = &r.offer->media[1];
  for (size_t i = 0; i < ov->n_extmaps; i++)
    if (sfu_rtp_ext_kind_from_uri(ov->extmaps[i].uri) == SFU_EXT_RID)
      CHECK_EQ_INT(sfu_rtp_ext_map_id(&nv->ext, SFU_EXT_RID), ov->extmaps[i].id);
  CHECK(sfu_rtp_ext_map_id(&nv->ext, SFU_EXT_MID) != 0);
  CHECK(sfu_rtp_ext_map_id(&nv->ext, SFU_EXT_REPAIRED_RID) != 0);
  CHECK_EQ_INT(sfu_rtp_ext_map_id(&nv->ext, SFU_EXT_PLAYOUT_DELAY), 0);
  CHECK_EQ_INT(sfu_rtp_ext_map_id(&na->ext, SFU_EXT_RID), 0);
  CHECK(sfu_rtp_ext_map_id(&na->ext, SFU_EXT_AUDIO_LEVEL) != 0);
  CHECK_EQ_INT(na->n_codecs, 1);
  CHECK_EQ_INT(na->codecs[0].pt, 111);
  CHECK_EQ_INT(na->codecs[0].channels, 2);
  CHECK_EQ_INT(na->codecs[0].rtx_pt, -1);
  CHECK_EQ_INT(na->codecs[0].rtcp_fb, SFU_SDP_FB_TRANSPORT_CC);
  CHECK_EQ_INT(na->n_ssrcs, 1);
  CHECK_EQ_INT(na->ssrcs[0].ssrc, r.offer->media[0].ssrcs[0].ssrc);
  CHECK_EQ_INT(nd->kind, SFU_SDP_KIND_APPLICATION);
  CHECK_EQ_INT(nd->sctp_port, 5000);
  CHECK_EQ_INT(nd->max_message_size, 262144);
  CHECK(!nd->sctp_legacy);
  result_free(&r);
}

TEST(chromium_ice_restart_gives_new_remote_credentials) {
  result_t first, re;
  REQUIRE(answer_file("chromium-simulcast-datachannel.sdp", &first) == 0);
  REQUIRE(answer_file("chromium-ice-restart.sdp", &re) == 0);
  /* RFC 8839 §4.4.1.1.1: an ICE restart changes ufrag and pwd; DTLS stays. */
  CHECK(strcmp(first.neg.remote_ufrag, re.neg.remote_ufrag) != 0);
  CHECK(strcmp(first.neg.remote_pwd, re.neg.remote_pwd) != 0);
  CHECK_EQ_STR(re.neg.remote_ufrag, re.offer->media[0].tp.ice_ufrag);
  CHECK(sfu_fingerprint_set_equal(&first.neg.remote_fingerprints, &re.neg.remote_fingerprints));
  CHECK_EQ_INT(first.neg.n_media, re.neg.n_media);
  /* The re-offer after an answer is active/actpass per JSEP; we stay passive. */
  CHECK(re.neg.remote_setup == SFU_SDP_SETUP_ACTPASS || re.neg.remote_setup == SFU_SDP_SETUP_ACTIVE);
  CHECK(strstr(re.text, "a=simulcast:recv q;h;f"));
  result_free(&first);
  result_free(&re);
}

TEST(chromium_h264_only) {
  result_t r;
  REQUIRE(answer_file("chromium-h264-only.sdp", &r) == 0);
  const sfu_sdp_neg_media_t *v = neg_by_mid(&r.neg, "1");
  REQUIRE(v);
  CHECK_EQ_INT(v->dir, SFU_SDP_SENDRECV);
  CHECK(v->n_codecs >= 1);
  for (size_t i = 0; i < v->n_codecs; i++) {
    CHECK_EQ_STR(v->codecs[i].name, "H264");
    CHECK(strstr(v->codecs[i].fmtp, "packetization-mode=1") != NULL);
    CHECK(v->codecs[i].rtx_pt >= 0);
  }
  char *vs = section(r.text, 1);
  CHECK(strstr(vs, "a=sendrecv\r\n"));
  CHECK(!strstr(vs, "VP8") && !strstr(vs, "packetization-mode=0"));
  CHECK(!strstr(vs, "a=simulcast"));
  free(vs);
  result_free(&r);
}

TEST(chromium_recvonly_subscriber) {
  result_t r;
  REQUIRE(answer_file("chromium-recvonly.sdp", &r) == 0);
  CHECK_EQ_INT(r.neg.n_media, 4);
  CHECK_EQ_INT(count(r.text, "a=sendonly\r\n"), 3);
  CHECK_EQ_INT(count(r.text, "a=recvonly\r\n"), 0);
  for (size_t i = 0; i < 3; i++) CHECK_EQ_INT(r.neg.media[i].dir, SFU_SDP_SENDONLY);
  result_free(&r);
}

TEST(chromium_audio_only_and_datachannel_only) {
  result_t r;
  REQUIRE(answer_file("chromium-audio-only.sdp", &r) == 0);
  CHECK_EQ_INT(r.neg.n_media, 1);
  CHECK_EQ_INT(r.neg.media[0].dir, SFU_SDP_SENDRECV);
  CHECK(strstr(r.text, "a=group:BUNDLE 0\r\n"));
  CHECK(!strstr(r.text, "m=application"));
  result_free(&r);
  REQUIRE(answer_file("chromium-datachannel-only.sdp", &r) == 0);
  CHECK_EQ_INT(r.neg.n_media, 1);
  CHECK_EQ_INT(r.neg.media[0].kind, SFU_SDP_KIND_APPLICATION);
  CHECK(strstr(r.text, "a=sctp-port:5000\r\n"));
  CHECK(strstr(r.text, "a=candidate:1 1 udp"));
  CHECK_EQ_INT(r.neg.media[0].max_message_size, 262144);
  result_free(&r);
}


/* ---- aiortc --------------------------------------------------------------------------- */

TEST(aiortc_extension_id_reuse_mapped_per_section) {
  result_t r;
  REQUIRE(answer_file("aiortc-audio-video.sdp", &r) == 0);
  /* aiortc 1.4.0: id 2 = audio-level in audio, abs-send-time in video. */
  const sfu_sdp_neg_media_t *a = neg_by_mid(&r.neg, "0"), *v = neg_by_mid(&r.neg, "1");
  REQUIRE(a && v);
  CHECK_EQ_INT(sfu_rtp_ext_map_kind(&a->ext, 2), SFU_EXT_AUDIO_LEVEL);
  CHECK_EQ_INT(sfu_rtp_ext_map_kind(&v->ext, 2), SFU_EXT_ABS_SEND_TIME);
  CHECK_EQ_INT(sfu_rtp_ext_map_id(&a->ext, SFU_EXT_MID), 1);
  CHECK_EQ_INT(sfu_rtp_ext_map_id(&v->ext, SFU_EXT_MID), 1);
  char *as = section(r.text, 0), *vs = section(r.text, 1);
  CHECK(strstr(as, "a=extmap:2 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"));
  CHECK(strstr(vs, "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"));
  free(as);
  free(vs);
  /* codecs and SSRCs */
  CHECK_EQ_INT(a->n_codecs, 1);
  CHECK_EQ_INT(a->codecs[0].pt, 96);
  CHECK_EQ_STR(a->codecs[0].name, "opus");
  CHECK_EQ_INT(a->n_ssrcs, 1);
  const sfu_sdp_neg_codec_t *vp8 = neg_codec(v, 97), *h1 = neg_codec(v, 99), *h2 = neg_codec(v, 101);
  REQUIRE(vp8 && h1 && h2);
  CHECK_EQ_INT(vp8->rtx_pt, 98);
  CHECK_EQ_INT(h1->rtx_pt, 100);
  CHECK_EQ_INT(h2->rtx_pt, 102);
  CHECK_EQ_INT(vp8->rtcp_fb, SFU_SDP_FB_NACK | SFU_SDP_FB_NACK_PLI | SFU_SDP_FB_GOOG_REMB);
  CHECK_EQ_INT(v->n_fids, 1);
  CHECK_EQ_INT(v->n_ssrcs, 2);
  CHECK_EQ_INT(v->fids[0].primary, r.offer->media[1].fids[0].primary);
  CHECK(!v->simulcast_recv);
  /* aiortc gives each section its own ufrag: the transport is the BUNDLE-tag's (mid 0). */
  CHECK(r.neg.bundled);
  CHECK(strcmp(r.offer->media[0].tp.ice_ufrag, r.offer->media[1].tp.ice_ufrag) != 0);
  CHECK_EQ_STR(r.neg.remote_ufrag, r.offer->media[0].tp.ice_ufrag);
  CHECK(strstr(r.text, "a=group:BUNDLE 0 1\r\n"));
  result_free(&r);
}

TEST(aiortc_legacy_sctp_form) {
  result_t r;
  REQUIRE(answer_file("aiortc-audio-datachannel.sdp", &r) == 0);
  CHECK_EQ_INT(r.offer->media[1].proto, SFU_SDP_PROTO_SCTP_LEGACY);
  CHECK(r.offer->media[1].has_sctpmap);
  char *dc = section(r.text, 1);
  CHECK(strstr(dc, "m=application 40000 DTLS/SCTP 5000\r\n"));
  CHECK(strstr(dc, "a=sctpmap:5000 webrtc-datachannel 1024\r\n"));
  CHECK(!strstr(dc, "a=sctp-port"));
  free(dc);
  const sfu_sdp_neg_media_t *d = neg_by_mid(&r.neg, "1");
  REQUIRE(d);
  CHECK(d->sctp_legacy);
  CHECK_EQ_INT(d->sctp_port, 5000);
  CHECK_EQ_INT(d->max_message_size, 65536);
  result_free(&r);
}

TEST(no_bundle_accepts_first_section_only) {
  result_t r;
  REQUIRE(answer_file("derived-aiortc-no-bundle.sdp", &r) == 0);
  CHECK(!r.offer->has_bundle);
  CHECK(!r.neg.bundled);
  CHECK_EQ_INT(r.neg.n_media, 1);
  CHECK_EQ_INT(r.neg.media[0].index, 0);
  CHECK_EQ_INT(r.neg.n_offered, 3);
  CHECK(r.neg.note && strstr(r.neg.note, "BUNDLE") && strstr(r.neg.note, "max-bundle"));
  CHECK(!strstr(r.text, "a=group:BUNDLE"));
  CHECK(strstr(r.text, "m=audio 40000 "));
  CHECK(strstr(r.text, "m=video 0 UDP/TLS/RTP/SAVPF 97\r\n")); /* one fmt is enough (RFC 3264 §6) */
  CHECK(strstr(r.text, "m=application 0 DTLS/SCTP 5000\r\n"));
  CHECK_EQ_STR(r.neg.remote_ufrag, r.offer->media[0].tp.ice_ufrag);
  result_free(&r);
}

/* The capture scripts applied our answer to each captured offer in the real peer
 * (setRemoteDescription) and recorded the outcome; keep those records honest: every
 * captured offer has one, all say ok, Chromium kept 3 simulcast encodings, and aiortc
 * bundled everything onto one transport. Re-run tools/capture-offers after changing the
 * answer builder. */
TEST(recorded_peer_outcomes_ok) {
  size_t len;
  char *c = test_load_sdp("accepted-chromium.txt", &len), *a = test_load_sdp("accepted-aiortc.txt", &len);
  REQUIRE(c && a);
  for (size_t i = 0; i < sizeof captured / sizeof captured[0]; i++) {
    char key[128];
    const char *name = captured[i];
    if (strncmp(name, "derived-", 8) == 0 || strstr(name, "trickle")) continue;
    snprintf(key, sizeof key, "\n%.*s: ok", (int)(strlen(name) - 4), name);
    if (!strstr(c, key) && !strstr(a, key)) {
      fprintf(stderr, "no 'ok' setRemoteDescription record for %s\n", name);
      CHECK(!"recorded outcome");
    }
  }
  CHECK(strstr(c, "chromium-simulcast-datachannel: ok audio:sendonly:audio/opus "
                  "video:sendonly:encodings=3:video/VP8 sctp"));
  CHECK(strstr(c, "chromium-ice-restart: ok") && strstr(c, "encodings=3"));
  CHECK(!strstr(c, "error") && !strstr(a, "error") && !strstr(c, "failed") &&
        !strstr(a, "failed"));
  CHECK_EQ_INT(count(a, "transports=1 "), 3);
  free(c);
  free(a);
}

/* ---- errors --------------------------------------------------------------------------- */

static void expect_error(const char *sdp, int code, const char *msg) {
  result_t r;
  answer_str(sdp, &r);
  CHECK_EQ_INT(r.rc, code);
  CHECK(r.text == NULL);
  if (!strstr(r.err, msg)) {
    fprintf(stderr, "error \"%s\" lacks \"%s\"\n", r.err, msg);
    CHECK(!"error message");
  }
  result_free(&r);
}

TEST(error_no_fingerprint) {
  size_t len;
  char *buf = test_load_sdp("chromium-simulcast-datachannel.sdp", &len);
  REQUIRE(buf);
  const char *drop[] = {"a=fingerprint", NULL};
  char *s = without_lines(buf, drop);
  expect_error(s, SFU_EINVAL, "no DTLS fingerprint");
  expect_error(s, SFU_EINVAL, "mid 0");
  free(s);
  free(buf);
}

TEST(error_no_ice_credentials) {
  size_t len;
  char *buf = test_load_sdp("aiortc-audio-video.sdp", &len);
  REQUIRE(buf);
  const char *drop[] = {"a=ice-ufrag", NULL};
  char *s = without_lines(buf, drop);
  expect_error(s, SFU_EINVAL, "no ICE credentials");
  free(s);
  const char *drop2[] = {"a=ice-pwd", NULL};
  s = without_lines(buf, drop2);
  expect_error(s, SFU_EINVAL, "no ICE credentials");
  free(s);
  free(buf);
}

/* A well-formed sha-256 value (the parser checks the shape, RFC 8122 §5). */
#define FP256 "00:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:11:12:13:14:15:16:17:18:19:1A:1B:1C:1D:1E:1F"
#define FP256_CC "CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB"
#define FP1 "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD"

static const char *mini_head =
    "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
    "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdefghijkl\r\n"
    "a=fingerprint:sha-256 " FP256 "\r\na=setup:actpass\r\n";

static char *mini(const char *body) {
  size_t n = strlen(mini_head) + strlen(body) + 1;
  char *s = malloc(n);
  snprintf(s, n, "%s%s", mini_head, body);
  return s;
}

/* RFC 8841 §6.1: a=max-message-size absent = 64 KiB (left 0 for sctp.h's default), "0" =
 * any size, a value = that value; passed through to the negotiated section. */
TEST(max_message_size_absent_zero_and_value) {
  static const char *const cases[][2] = {{"", "0"},
                                         {"a=max-message-size:0\r\n", "4294967295"},
                                         {"a=max-message-size:1024\r\n", "1024"}};
  for (size_t k = 0; k < 3; k++) {
    char body[512];
    snprintf(body, sizeof body,
             "a=group:BUNDLE d\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
             "c=IN IP4 0.0.0.0\r\na=mid:d\r\na=sctp-port:5000\r\n%s"
             "a=candidate:1 1 udp 1 127.0.0.1 5000 typ host\r\n",
             cases[k][0]);
    char *s = mini(body);
    result_t r;
    answer_str(s, &r);
    free(s);
    CHECK_EQ_INT(r.rc, 0);
    if (r.rc == 0) {
      CHECK_EQ_INT(r.neg.n_media, 1);
      CHECK_EQ_INT(r.neg.media[0].max_message_size, strtoull(cases[k][1], NULL, 10));
    }
    result_free(&r);
  }
}

TEST(error_no_codec) {
  char *s = mini("a=group:BUNDLE a\r\n"
                 "m=audio 9 UDP/TLS/RTP/SAVPF 0 8 9\r\nc=IN IP4 0.0.0.0\r\na=mid:a\r\na=rtcp-mux\r\n"
                 "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:9 G722/8000\r\n");
  expect_error(s, SFU_EUNSUPP, "nothing the worker can decode");
  expect_error(s, SFU_EUNSUPP, "m-section 0 (mid a)");
  expect_error(s, SFU_EUNSUPP, "no codec");
  free(s);
  /* H.264 packetization-mode 0 only, and video RED only */
  s = mini("m=video 9 UDP/TLS/RTP/SAVPF 100 101\r\na=mid:v\r\na=rtcp-mux\r\n"
           "a=rtpmap:100 H264/90000\r\na=fmtp:100 packetization-mode=0\r\n"
           "a=rtpmap:101 red/90000\r\n");
  expect_error(s, SFU_EUNSUPP, "no codec");
  free(s);
  s = mini("m=audio 9 RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\n");
  expect_error(s, SFU_EUNSUPP, "unsupported media or protocol");
  free(s);
  s = mini("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n");
  expect_error(s, SFU_EUNSUPP, "rtcp-mux");
  free(s);
}

TEST(error_setup_passive_and_ice_lite_offerer) {
  char *s = mini("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=rtcp-mux\r\na=setup:passive\r\n"
                 "a=rtpmap:111 opus/48000/2\r\n");
  expect_error(s, SFU_EINVAL, "setup:passive");
  free(s);
  s = mini("a=ice-lite\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtcp-mux\r\n"
           "a=rtpmap:111 opus/48000/2\r\n");
  expect_error(s, SFU_EINVAL, "ICE-lite");
  free(s);
}

/* ---- parser details on hand-written offers -------------------------------------------- */

TEST(session_level_inherited_media_level_wins) {
  char *s = mini("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=rtcp-mux\r\n"
                 "a=rtpmap:111 opus/48000/2\r\n"
                 "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=rtcp-mux\r\n"
                 "a=ice-ufrag:medi\r\na=ice-pwd:mediamediamediamediamedia\r\na=setup:active\r\n"
                 "a=fingerprint:sha-1 " FP1 "\r\na=fingerprint:sha-256 " FP256_CC "\r\n"
                 "a=rtpmap:96 VP8/90000\r\na=rtcp-fb:* nack\r\na=rtcp-fb:* nack pli\r\n");
  sfu_sdp_offer_t *o;
  REQUIRE(sfu_sdp_parse(s, strlen(s), &o, NULL, 0) == 0);
  CHECK_EQ_STR(o->media[0].tp.ice_ufrag, "abcd");
  CHECK_EQ_INT(o->media[0].tp.setup, SFU_SDP_SETUP_ACTPASS);
  CHECK_EQ_STR(o->media[1].tp.ice_ufrag, "medi");
  CHECK_EQ_INT(o->media[1].tp.setup, SFU_SDP_SETUP_ACTIVE);
  /* RFC 8122 §5: the media-level set replaces the session-level one; both kept. */
  char f[SFU_FP_TEXT_MAX];
  CHECK_EQ_INT(o->media[0].tp.fingerprints.n, 1);
  CHECK_EQ_STR(sfu_fingerprint_format(&o->media[0].tp.fingerprints.fp[0], f, sizeof f), FP256);
  CHECK_EQ_INT(o->media[1].tp.fingerprints.n, 2);
  CHECK_EQ_INT(o->media[1].tp.fingerprints.fp[0].hash, SFU_FP_SHA1);
  CHECK_EQ_STR(sfu_fingerprint_format(&o->media[1].tp.fingerprints.fp[0], f, sizeof f), FP1);
  CHECK_EQ_INT(o->media[1].tp.fingerprints.fp[1].hash, SFU_FP_SHA256);
  CHECK_EQ_STR(sfu_fingerprint_format(&o->media[1].tp.fingerprints.fp[1], f, sizeof f), FP256_CC);
  CHECK_EQ_INT(sfu_fingerprint_set_preferred(&o->media[1].tp.fingerprints), SFU_FP_SHA256);
  CHECK_EQ_INT(o->media[1].codecs[0].rtcp_fb, SFU_SDP_FB_NACK | SFU_SDP_FB_NACK_PLI);
  CHECK(!o->has_bundle);
  sfu_sdp_offer_free(o);
  free(s);
}

TEST(simulcast_paused_alternatives_and_recv) {
  char *s = mini("a=group:BUNDLE v\r\n"
                 "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:v\r\na=rtcp-mux\r\n"
                 "a=rtpmap:96 VP8/90000\r\n"
                 "a=rid:a send max-width=320;max-height=180\r\na=rid:b send\r\na=rid:c send\r\n"
                 "a=rid:r recv\r\n"
                 "a=simulcast:send a;~b,c recv r\r\n");
  result_t r;
  answer_str(s, &r);
  REQUIRE(r.rc == 0);
  const sfu_sdp_media_t *m = &r.offer->media[0];
  CHECK_EQ_INT(m->n_rids, 4);
  CHECK_EQ_STR(m->rids[0].params, "max-width=320;max-height=180");
  CHECK(!m->rids[3].send);
  CHECK_EQ_INT(m->sim_send.n_streams, 2);
  CHECK_EQ_INT(m->sim_send.streams[1].n_alts, 2);
  CHECK(m->sim_send.streams[1].paused[0] && !m->sim_send.streams[1].paused[1]);
  CHECK_EQ_STR(m->sim_send.streams[1].rid[1], "c");
  CHECK_EQ_STR(m->sim_recv.raw, "r");
  CHECK(strstr(r.text, "a=simulcast:recv a;~b,c\r\n"));
  CHECK(strstr(r.text, "a=rid:a recv\r\na=rid:b recv\r\na=rid:c recv\r\n"));
  CHECK(!strstr(r.text, "a=rid:r")); /* the worker does not send simulcast */
  CHECK(!strstr(r.text, "max-width"));
  CHECK_EQ_INT(r.neg.media[0].n_rids, 3);
  CHECK(r.neg.media[0].rid_paused[1]);
  result_free(&r);
  free(s);
  /* a simulcast rid without its a=rid line: simulcast is not answered (RFC 8853 §5.2) */
  s = mini("m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:v\r\na=rtcp-mux\r\n"
           "a=rtpmap:96 VP8/90000\r\na=rid:a send\r\na=simulcast:send a;zz\r\n");
  answer_str(s, &r);
  REQUIRE(r.rc == 0);
  CHECK(!strstr(r.text, "a=simulcast"));
  CHECK(!r.neg.media[0].simulcast_recv);
  result_free(&r);
  free(s);
  /* a rid listed twice (a stream, or an alternative of another): refused with its line,
   * or the answer would declare it twice (found by fuzz_sdp: our own parser refused it) */
  static const char *const twice[] = {"a=simulcast:send h;h;f\r\n", "a=simulcast:send h;f,h\r\n",
                                      "a=simulcast:send h,h\r\n"};
  for (size_t i = 0; i < sizeof twice / sizeof twice[0]; i++) {
    char body[300];
    snprintf(body, sizeof body,
             "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:v\r\na=rtcp-mux\r\n"
             "a=rtpmap:96 VP8/90000\r\na=rid:h send\r\na=rid:f send\r\n%s", twice[i]);
    s = mini(body);
    expect_error(s, SFU_EPARSE, "rid 'h' twice in the simulcast list");
    free(s);
  }
}

TEST(bundle_only_section_rtcp_mux_only_and_ipv6) {
  /* GStreamer-style: second section port 0 + a=bundle-only, a=rtcp-mux-only. */
  char *s = mini("a=group:BUNDLE 0 1\r\n"
                 "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=rtcp-mux\r\n"
                 "a=rtpmap:111 opus/48000/2\r\n"
                 "m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=bundle-only\r\n"
                 "a=rtcp-mux-only\r\na=rtpmap:96 VP8/90000\r\n"
                 "m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\na=rtcp-mux\r\n"
                 "a=rtpmap:96 VP8/90000\r\n");
  sfu_sdp_offer_t *o;
  REQUIRE(sfu_sdp_parse(s, strlen(s), &o, NULL, 0) == 0);
  sfu_sdp_local_t l6 = local;
  l6.ip = "2001:db8::7";
  l6.udp_port = 0; /* TCP only */
  char *text;
  sfu_sdp_answer_t neg;
  REQUIRE(sfu_sdp_answer(o, &l6, &text, &neg, NULL, 0) == 0);
  CHECK_EQ_INT(neg.n_media, 2);
  CHECK(strstr(text, "a=group:BUNDLE 0 1\r\n"));
  CHECK(strstr(text, "m=video 40001 UDP/TLS/RTP/SAVPF 96\r\n"));
  CHECK(strstr(text, "m=video 0 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:2\r\n"));
  CHECK(strstr(text, "c=IN IP6 2001:db8::7\r\n"));
  CHECK(!strstr(text, " udp "));
  CHECK(strstr(text, "a=candidate:2 1 tcp 1671430143 2001:db8::7 40001 typ host tcptype passive"));
  free(text);
  sfu_sdp_answer_clear(&neg);
  sfu_sdp_offer_free(o);
  free(s);
}

TEST(extmap_direction_and_ids) {
  char *s = mini("a=extmap-allow-mixed\r\n"
                 "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=rtcp-mux\r\n"
                 "a=rtpmap:96 VP8/90000\r\n"
                 "a=extmap:200/sendonly urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
                 "a=extmap:4096 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n"
                 "a=extmap:7 urn:example:unknown\r\n");
  result_t r;
  answer_str(s, &r);
  REQUIRE(r.rc == 0);
  CHECK_EQ_INT(r.offer->media[0].n_extmaps, 2); /* 4096 skipped */
  CHECK(strstr(r.text, "a=extmap:200/recvonly urn:ietf:params:rtp-hdrext:sdes:mid\r\n"));
  CHECK(!strstr(r.text, "unknown") && !strstr(r.text, "4096"));
  CHECK(strstr(r.text, "a=extmap-allow-mixed\r\n"));
  CHECK_EQ_INT(sfu_rtp_ext_map_id(&r.neg.media[0].ext, SFU_EXT_MID), 200);
  result_free(&r);
  free(s);
}

static void expect_parse_error(const char *sdp, size_t len, int code, const char *msg) {
  sfu_sdp_offer_t *o = (sfu_sdp_offer_t *)1;
  char err[200];
  int rc = sfu_sdp_parse(sdp, len, &o, err, sizeof err);
  CHECK_EQ_INT(rc, code);
  CHECK(o == NULL);
  if (rc && !strstr(err, msg)) {
    fprintf(stderr, "parse error \"%s\" lacks \"%s\"\n", err, msg);
    CHECK(!"parse error message");
  }
  if (!rc) sfu_sdp_offer_free(o);
}

static void expect_body_error(const char *body, const char *msg) {
  char *s = mini(body);
  expect_parse_error(s, strlen(s), SFU_EPARSE, msg);
  free(s);
}

TEST(credentials_and_fingerprints_peers_send) {
  /* What real peers send stays accepted: ice-chars with + and /, 4-char ufrags (aiortc,
   * Chromium), 22-char pwds (aiortc), lower-case hex, several hash functions (aiortc
   * offers sha-256, sha-384 and sha-512), up to 256 chars. */
  char ufrag256[257], pwd256[257];
  memset(ufrag256, 'u', 256), ufrag256[256] = 0;
  memset(pwd256, 'p', 256), pwd256[256] = 0;
  char body[2000];
  snprintf(body, sizeof body,
           "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=rtpmap:111 opus/48000/2\r\n"
           "a=ice-ufrag:a+/9\r\na=ice-pwd:Ja+yY2I+NFF0SswfsFON/b\r\n"
           "a=fingerprint:sha-384 %s:%s\r\n"
           "a=fingerprint:sha-256 %s\r\n"
           "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\na=rtpmap:111 opus/48000/2\r\n"
           "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\n",
           FP256, "00:01:02:03:04:05:06:07:08:09:0a:0b:0c:0d:0e:0f", /* 48 bytes */
           "aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:"
           "66:77:88:99",
           ufrag256, pwd256);
  char *s = mini(body);
  sfu_sdp_offer_t *o = NULL;
  char err[200] = "";
  int rc = sfu_sdp_parse(s, strlen(s), &o, err, sizeof err);
  CHECK_EQ_INT(rc, 0);
  if (rc) fprintf(stderr, "unexpected: %s\n", err);
  if (!rc) {
    CHECK_EQ_STR(o->media[0].tp.ice_ufrag, "a+/9");
    char f[SFU_FP_TEXT_MAX];
    const sfu_fingerprint_set_t *fps = &o->media[0].tp.fingerprints;
    CHECK_EQ_INT(fps->n, 2);
    CHECK_EQ_INT(fps->fp[0].hash, SFU_FP_SHA384);
    CHECK_EQ_INT(fps->fp[1].hash, SFU_FP_SHA256);
    CHECK(strncmp(sfu_fingerprint_format(&fps->fp[1], f, sizeof f), "AA:BB:CC", 8) == 0);
    CHECK_EQ_INT(sfu_fingerprint_set_preferred(fps), SFU_FP_SHA384);
    CHECK_EQ_INT(strlen(o->media[1].tp.ice_ufrag), 256);
    CHECK_EQ_INT(strlen(o->media[1].tp.ice_pwd), 256);
    sfu_sdp_offer_free(o);
  }
  free(s);
  /* One more character is one too many. */
  snprintf(body, sizeof body, "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-ufrag:%sx\r\n", ufrag256);
  s = mini(body);
  expect_parse_error(s, strlen(s), SFU_EPARSE, "a=ice-ufrag");
  free(s);
  snprintf(body, sizeof body, "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-pwd:%sx\r\n", pwd256);
  s = mini(body);
  expect_parse_error(s, strlen(s), SFU_EPARSE, "a=ice-pwd invalid (257 chars");
  free(s);
}

TEST(strict_where_it_matters) {
  expect_body_error("m=audio 9 UDP/TLS/RTP/SAVPF 128\r\n", "0..127");
  expect_body_error("m=audio 9 UDP/TLS/RTP/SAVPF -1\r\n", "0..127");
  expect_body_error("m=audio 9 UDP/TLS/RTP/SAVPF\r\n", "m= needs");
  expect_body_error("m=audio 70000 UDP/TLS/RTP/SAVPF 111\r\n", "port");
  expect_body_error("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus\r\n", "rtpmap");
  expect_body_error("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:300 opus/48000\r\n", "0..127");
  expect_body_error("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=extmap:0 urn:x\r\n", "extmap");
  expect_body_error("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=extmap:256 urn:x\r\n", "extmap");
  expect_body_error("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=extmap:3/sideways urn:x\r\n", "extmap");
  expect_body_error("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=extmap:3 urn:x\r\na=extmap:3 urn:y\r\n",
                    "twice");
  expect_body_error("m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rid:a$b send\r\n", "rid");
  expect_body_error("m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rid:abcdefghijklmnopq send\r\n", "rid");
  expect_body_error("m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rid:a both\r\n", "rid");
  expect_body_error("m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=simulcast:send a;;b\r\n", "simulcast");
  expect_body_error("m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=simulcast:both a\r\n", "simulcast");
  expect_body_error("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=setup:maybe\r\n", "setup");
  expect_body_error("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:x\r\n"
                    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:x\r\n",
                    "twice");
  expect_body_error("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ssrc:99999999999 cname:x\r\n", "ssrc");
  expect_body_error("m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=sctp-port:0\r\n",
                    "sctp-port");
  expect_body_error("this is not sdp\r\n", "not <type>=<value>");
  /* RFC 8122 §5 fingerprints and RFC 8839 §5.4 credentials, named with their line
   * (mini_head is lines 1..8, the body starts at line 9). */
  static const struct {
    const char *line, *msg;
  } bad_tp[] = {
      {"a=fingerprint:sha-256 ZZ", "line 10: malformed a=fingerprint"},
      {"a=fingerprint:sha-256", "line 10: malformed a=fingerprint"},
      {"a=fingerprint:sha-256 " FP1, "malformed a=fingerprint (sha-256 needs 32"},
      {"a=fingerprint:sha-1 " FP256, "malformed a=fingerprint (sha-1 needs 20"},
      {"a=fingerprint:sha-256 " FP256 ":00", "malformed a=fingerprint"},
      {"a=fingerprint:sha-256 " FP256 " extra", "malformed a=fingerprint"},
      {"a=fingerprint:sha-256 0:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:11:12:13:14:15:16:17:18:"
       "19:1A:1B:1C:1D:1E:1F0", "malformed a=fingerprint"},
      {"a=fingerprint:sha-256 00-01-02-03-04-05-06-07-08-09-0A-0B-0C-0D-0E-0F-10-11-12-13-14-15-16-17-"
       "18-19-1A-1B-1C-1D-1E-1F", "malformed a=fingerprint"},
      {"a=fingerprint:sha-256 0G:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:11:12:13:14:15:16:17:"
       "18:19:1A:1B:1C:1D:1E:1F", "malformed a=fingerprint"},
      {"a=fingerprint:whirlpool " FP256, "unknown hash function 'whirlpool'"},
      {"a=ice-ufrag:ab:cd", "line 10: a=ice-ufrag 'ab:cd' invalid"},
      {"a=ice-ufrag:abc", "a=ice-ufrag 'abc' invalid"},
      {"a=ice-ufrag:ab cd", "a=ice-ufrag 'ab cd' invalid"},
      {"a=ice-ufrag:abc\x7f", "a=ice-ufrag"},
      {"a=ice-pwd:0123456789abcdefghijk", "line 10: a=ice-pwd invalid (21 chars"},
      {"a=ice-pwd:0123456789abcdefghijk=", "a=ice-pwd invalid"},
  };
  for (size_t i = 0; i < sizeof bad_tp / sizeof bad_tp[0]; i++) {
    char body[300];
    snprintf(body, sizeof body, "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n%s\r\n", bad_tp[i].line);
    char *s = mini(body);
    expect_parse_error(s, strlen(s), SFU_EPARSE, bad_tp[i].msg);
    free(s);
  }
  /* The secret never appears in the message. */
  {
    char *s = mini("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=ice-pwd:secretsecretsecret:secret\r\n");
    char err[200];
    sfu_sdp_offer_t *o = NULL;
    CHECK_EQ_INT(sfu_sdp_parse(s, strlen(s), &o, err, sizeof err), SFU_EPARSE);
    CHECK(!strstr(err, "secret"));
    free(s);
  }
  const char *nov = "o=- 1 1 IN IP4 0.0.0.0\r\nv=0\r\n";
  expect_parse_error(nov, strlen(nov), SFU_EPARSE, "v=0");
  expect_parse_error("", 0, SFU_EPARSE, "empty");
  expect_parse_error("\r\n\r\n", 4, SFU_EPARSE, "empty");
  const char nul[] = "v=0\r\ns=\0-\r\n";
  expect_parse_error(nul, sizeof nul - 1, SFU_EPARSE, "NUL");
}

TEST(bounds) {
  /* larger than 64 KiB */
  size_t big = SFU_SDP_MAX_SIZE + 1;
  char *s = malloc(big + 1);
  memset(s, 'x', big);
  memcpy(s, "v=0\r\n", 5);
  expect_parse_error(s, big, SFU_ELIMIT, "larger");
  free(s);
  /* 65 m-sections */
  size_t cap = 65 * 64 + 256, o = 0;
  s = malloc(cap);
  o += (size_t)snprintf(s + o, cap - o, "v=0\r\n");
  for (int i = 0; i < 65; i++)
    o += (size_t)snprintf(s + o, cap - o, "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:%d\r\n", i);
  expect_parse_error(s, o, SFU_ELIMIT, "m-sections");
  free(s);
  /* 65 payload types in one section */
  cap = 4096, o = 0;
  s = malloc(cap);
  o += (size_t)snprintf(s + o, cap - o, "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF");
  for (int i = 0; i < 65; i++) o += (size_t)snprintf(s + o, cap - o, " %d", i);
  o += (size_t)snprintf(s + o, cap - o, "\r\n");
  expect_parse_error(s, o, SFU_ELIMIT, "payload types");
  free(s);
  /* 33 extmaps */
  cap = 8192, o = 0;
  s = malloc(cap);
  o += (size_t)snprintf(s + o, cap - o, "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n");
  for (int i = 1; i <= 33; i++) o += (size_t)snprintf(s + o, cap - o, "a=extmap:%d urn:x:%d\r\n", i, i);
  expect_parse_error(s, o, SFU_ELIMIT, "extmaps");
  free(s);
}

/* ---- DTLS fingerprints (RFC 8122 §5) ---------------------------------------------------- */

/* An offer with the given session-level lines and one bundled Opus section per element of
 * `sections` (each its own media-level lines, e.g. fingerprints); NULL-terminated. */
static char *offer_fp(const char *session_lines, const char *const *sections) {
  size_t cap = 4096;
  for (size_t i = 0; sections[i]; i++) cap += strlen(sections[i]) + 256;
  char *s = malloc(cap);
  size_t o = (size_t)snprintf(s, cap,
                              "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
                              "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdefghijkl\r\n"
                              "a=setup:actpass\r\n%sa=group:BUNDLE",
                              session_lines);
  for (size_t i = 0; sections[i]; i++) o += (size_t)snprintf(s + o, cap - o, " %zu", i);
  o += (size_t)snprintf(s + o, cap - o, "\r\n");
  for (size_t i = 0; sections[i]; i++)
    o += (size_t)snprintf(s + o, cap - o,
                          "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:%zu\r\na=rtcp-mux\r\n"
                          "a=rtpmap:111 opus/48000/2\r\n%s",
                          i, sections[i]);
  return s;
}

/* "a=fingerprint:<alg> " + `bytes` hex pairs all equal to `b`, + CRLF. */
static const char *fp_line(char *buf, size_t cap, const char *alg, size_t bytes, unsigned b) {
  size_t o = (size_t)snprintf(buf, cap, "a=fingerprint:%s ", alg);
  for (size_t i = 0; i < bytes; i++) o += (size_t)snprintf(buf + o, cap - o, "%s%02X", i ? ":" : "", b);
  snprintf(buf + o, cap - o, "\r\n");
  return buf;
}

TEST(fingerprint_every_sha_hash_and_the_whole_set_kept) {
  /* RFC 8122 §5 hashes the worker verifies with: each alone makes a usable offer, with
   * its digest size (sha-512: 64 bytes, 191 characters). */
  static const struct {
    const char *alg;
    size_t bytes;
    sfu_fp_hash_t h;
  } ok[] = {{"sha-1", 20, SFU_FP_SHA1},     {"sha-224", 28, SFU_FP_SHA224},
            {"sha-256", 32, SFU_FP_SHA256}, {"sha-384", 48, SFU_FP_SHA384},
            {"sha-512", 64, SFU_FP_SHA512}, {"SHA-512", 64, SFU_FP_SHA512}};
  char l[300], l2[300], l3[300];
  const char *sec[] = {NULL, NULL};
  result_t r;
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    sec[0] = fp_line(l, sizeof l, ok[i].alg, ok[i].bytes, 0x5A);
    char *s = offer_fp("", sec);
    answer_str(s, &r);
    CHECK_EQ_INT(r.rc, 0);
    if (!r.rc) {
      CHECK_EQ_INT(r.neg.remote_fingerprints.n, 1);
      CHECK_EQ_INT(r.neg.remote_fingerprints.fp[0].hash, ok[i].h);
      CHECK_EQ_INT(r.neg.remote_fingerprints.fp[0].len, ok[i].bytes);
    }
    result_free(&r);
    free(s);
  }
  /* Several: all kept in offer order (the DTLS core applies RFC 8122 §5 to the whole
   * set), md5 left out, a duplicate once; the media level replaces the session level. */
  char lines[1200];
  snprintf(lines, sizeof lines, "%s%s%s", fp_line(l, sizeof l, "sha-256", 32, 0x01),
           fp_line(l2, sizeof l2, "md5", 16, 0x02), fp_line(l3, sizeof l3, "sha-512", 64, 0x03));
  snprintf(lines + strlen(lines), sizeof lines - strlen(lines), "%s", l);
  sec[0] = lines;
  char *s = offer_fp(fp_line(l2, sizeof l2, "sha-1", 20, 0x04), sec);
  answer_str(s, &r);
  REQUIRE(r.rc == 0);
  const sfu_fingerprint_set_t *fps = &r.neg.remote_fingerprints;
  CHECK_EQ_INT(fps->n, 2);
  CHECK_EQ_INT(fps->fp[0].hash, SFU_FP_SHA256);
  CHECK_EQ_INT(fps->fp[0].digest[31], 0x01);
  CHECK_EQ_INT(fps->fp[1].hash, SFU_FP_SHA512);
  CHECK_EQ_INT(fps->fp[1].digest[63], 0x03);
  CHECK_EQ_INT(r.offer->media[0].tp.fp_refused, SFU_FP_MD5);
  CHECK_EQ_INT(r.offer->session_tp.fingerprints.n, 1);
  result_free(&r);
  free(s);
}

TEST(fingerprint_md5_and_md2_refused_naming_the_hash) {
  /* RFC 8122 §5: implementations "MUST NOT use the MD2 and MD5 hash functions to calculate
   * fingerprints or to verify received fingerprints that have been calculated using them".
   * An offer whose only fingerprint uses them is refused with a message naming the hash. */
  char l[300];
  const char *sec[] = {NULL, NULL};
  sec[0] = fp_line(l, sizeof l, "md5", 16, 0xAB);
  char *s = offer_fp("", sec);
  expect_error(s, SFU_EINVAL, "md5");
  expect_error(s, SFU_EINVAL, "RFC 8122");
  free(s);
  sec[0] = fp_line(l, sizeof l, "MD2", 16, 0xAB);
  s = offer_fp("", sec);
  expect_error(s, SFU_EINVAL, "md2");
  free(s);
  /* Next to an accepted one, an md5 line is simply not used. */
  char l2[300], both[600];
  snprintf(both, sizeof both, "%s%s", fp_line(l, sizeof l, "md5", 16, 0xAB),
           fp_line(l2, sizeof l2, "sha-256", 32, 0xCD));
  sec[0] = both;
  s = offer_fp("", sec);
  result_t r;
  answer_str(s, &r);
  CHECK_EQ_INT(r.rc, 0);
  result_free(&r);
  free(s);
  /* A media-level md5 hides the session-level sha-256 (RFC 8122 §5: session level applies
   * only where no media-level fingerprint is given): refused too. */
  sec[0] = fp_line(l, sizeof l, "md5", 16, 0xAB);
  s = offer_fp(fp_line(l2, sizeof l2, "sha-256", 32, 0xCD), sec);
  expect_error(s, SFU_EINVAL, "md5");
  free(s);
}

TEST(fingerprint_set_is_capped) {
  /* 8 fingerprints in a set are plenty (a certificate's digest under 5 hashes, or a few
   * certificates); a 9th is refused with a message, not silently dropped. */
  char lines[8000], l[300];
  size_t o = 0;
  for (unsigned i = 0; i < 8; i++)
    o += (size_t)snprintf(lines + o, sizeof lines - o, "%s", fp_line(l, sizeof l, "sha-256", 32, i));
  const char *sec[] = {lines, NULL};
  char *s = offer_fp("", sec);
  result_t r;
  answer_str(s, &r);
  CHECK_EQ_INT(r.rc, 0);
  result_free(&r);
  free(s);
  /* The same line twice counts once. */
  snprintf(lines + o, sizeof lines - o, "%s", fp_line(l, sizeof l, "sha-256", 32, 0));
  s = offer_fp("", sec);
  answer_str(s, &r);
  CHECK_EQ_INT(r.rc, 0);
  result_free(&r);
  free(s);
  snprintf(lines + o, sizeof lines - o, "%s", fp_line(l, sizeof l, "sha-256", 32, 8));
  s = offer_fp("", sec);
  expect_parse_error(s, strlen(s), SFU_ELIMIT, "more than 8 a=fingerprint");
  free(s);
}

TEST(bundled_sections_must_agree_on_fingerprints) {
  /* RFC 8829 §5.2.1 (JSEP): every m-section uses all the certificates of the connection,
   * so all carry the same fingerprint value(s); bundled, they share one DTLS transport
   * (RFC 8843). Contradicting sets are refused. */
  char a[300], b[300], ab[600], ba[600];
  fp_line(a, sizeof a, "sha-256", 32, 0xAA);
  fp_line(b, sizeof b, "sha-512", 64, 0xBB);
  snprintf(ab, sizeof ab, "%s%s", a, b);
  snprintf(ba, sizeof ba, "%s%s", b, a);
  const char *same[] = {ab, ba, NULL}; /* same set, another order: fine */
  char *s = offer_fp("", same);
  result_t r;
  answer_str(s, &r);
  CHECK_EQ_INT(r.rc, 0);
  result_free(&r);
  free(s);
  const char *differ[] = {ab, a, NULL};
  s = offer_fp("", differ);
  expect_error(s, SFU_EINVAL, "m-section 1 (mid 1)");
  expect_error(s, SFU_EINVAL, "fingerprint");
  free(s);
  /* Session level for one section, another set at media level in the other. */
  const char *one_own[] = {"", b, NULL};
  s = offer_fp(a, one_own);
  expect_error(s, SFU_EINVAL, "fingerprint");
  free(s);
  /* A section the offerer disabled (port 0, not bundle-only) is not part of it. */
  char *t = offer_fp("", (const char *const[]){a, NULL});
  size_t cap = strlen(t) + 512;
  t = realloc(t, cap);
  snprintf(t + strlen(t), cap - strlen(t),
           "m=audio 0 UDP/TLS/RTP/SAVPF 111\r\na=mid:x\r\na=rtcp-mux\r\n"
           "a=rtpmap:111 opus/48000/2\r\n%s", b);
  answer_str(t, &r);
  CHECK_EQ_INT(r.rc, 0);
  result_free(&r);
  free(t);
}

/* ---- a=fmtp in the answer ------------------------------------------------------------- */

/* The a=fmtp line answered for payload type pt ("" if none), copied into out. */
static const char *answered_fmtp(const char *answer, int pt, char *out, size_t cap) {
  char key[32];
  snprintf(key, sizeof key, "a=fmtp:%d ", pt);
  const char *p = strstr(answer, key);
  out[0] = '\0';
  if (!p) return out;
  p += strlen(key);
  size_t n = strcspn(p, "\r\n");
  if (n >= cap) n = cap - 1;
  memcpy(out, p, n);
  out[n] = '\0';
  return out;
}

TEST(fmtp_answer_keeps_only_parameters_the_worker_understands) {
  char *s = mini("a=group:BUNDLE a v\r\n"
                 "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:a\r\na=rtcp-mux\r\n"
                 "a=rtpmap:111 opus/48000/2\r\n"
                 "a=fmtp:111 minptime=10; useinbandfec=1;foo=bar;stereo=1;usedtx=yes;"
                 "maxaveragebitrate=510000;sprop-stereo=0;minptime=20\r\n"
                 "m=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99 100 101 102\r\na=mid:v\r\na=rtcp-mux\r\n"
                 "a=rtpmap:96 VP8/90000\r\na=fmtp:96 max-fs=12288;max-fr=60\r\n"
                 "a=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96;rtx-time=3000\r\n"
                 "a=rtpmap:98 H264/90000\r\n"
                 "a=fmtp:98 profile-level-id=42e01f;packetization-mode=1;"
                 "sprop-parameter-sets=Z0IAH5WoFAFuQA==,aM48gA==;level-asymmetry-allowed=1;x=\r\n"
                 "a=rtpmap:99 VP9/90000\r\na=fmtp:99 profile-id=2;max-fr=30\r\n"
                 "a=rtpmap:100 AV1/90000\r\na=fmtp:100 level-idx=5;profile=0;tier=0;junk=1\r\n"
                 "a=rtpmap:101 H264/90000\r\n"
                 "a=fmtp:101 profile-level-id=42e01fff;packetization-mode=1;"
                 "level-asymmetry-allowed=2\r\n"
                 "a=rtpmap:102 VP9/90000\r\na=fmtp:102 profile-id=9\r\n");
  result_t r;
  answer_str(s, &r);
  REQUIRE(r.rc == 0);
  char f[256];
  /* Opus (RFC 7587 §7): the receive preferences the worker can honour; the first value of
   * a key; malformed values and unknown keys are not answered. */
  CHECK_EQ_STR(answered_fmtp(r.text, 111, f, sizeof f),
               "minptime=10;useinbandfec=1;stereo=1;sprop-stereo=0");
  /* VP8 (RFC 7741 §6.1): max-fr/max-fs bound what the answerer receives; the worker
   * forwards and decodes nothing, so it states no bound. */
  CHECK(!strstr(r.text, "a=fmtp:96 "));
  CHECK_EQ_STR(answered_fmtp(r.text, 97, f, sizeof f), "apt=96"); /* RFC 4588 §8.1 */
  /* H.264 (RFC 6184 §8.2.2): profile-level-id, packetization-mode, level-asymmetry-allowed;
   * sprop-parameter-sets describe the offerer's stream, not ours. */
  CHECK_EQ_STR(answered_fmtp(r.text, 98, f, sizeof f),
               "profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1");
  CHECK_EQ_STR(answered_fmtp(r.text, 99, f, sizeof f), "profile-id=2");
  CHECK_EQ_STR(answered_fmtp(r.text, 100, f, sizeof f), "level-idx=5;profile=0;tier=0");
  CHECK_EQ_STR(answered_fmtp(r.text, 101, f, sizeof f), "packetization-mode=1");
  CHECK(!strstr(r.text, "a=fmtp:102 "));
  CHECK(!strstr(r.text, "foo") && !strstr(r.text, "sprop-parameter-sets") &&
        !strstr(r.text, "junk") && !strstr(r.text, "max-f") && !strstr(r.text, "rtx-time"));
  result_free(&r);
  free(s);
}

TEST(fmtp_overlong_or_with_a_lone_cr_is_never_echoed) {
  /* 60 KB of fmtp: refused with a message naming the line and the bound. */
  size_t big = 60 * 1024;
  char *body = malloc(big + 512);
  size_t o = (size_t)snprintf(body, big + 512,
                              "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=rtcp-mux\r\n"
                              "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;x=");
  memset(body + o, 'A', big);
  o += big;
  snprintf(body + o, big + 512 - o, "\r\n");
  char *s = mini(body);
  result_t r;
  answer_str(s, &r);
  CHECK(r.rc != 0);
  CHECK(r.text == NULL);
  CHECK_EQ_INT(r.rc, SFU_ELIMIT);
  CHECK(strstr(r.err, "line 13") && strstr(r.err, "a=fmtp"));
  result_free(&r);
  free(s);
  free(body);
  /* A CR inside a line is not SDP (RFC 8866 §9: text is byte-string, which excludes CR
   * and LF): refused, whatever line it is in, so it can never reach the answer. */
  static const char *const cr_lines[] = {
      "a=fmtp:111 minptime=10\r;useinbandfec=1",
      "a=fmtp:111 minptime=10;useinbandfec=1\r\r",
      "a=mid:0\rX",
      "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid\r",
  };
  for (size_t i = 0; i < sizeof cr_lines / sizeof cr_lines[0]; i++) {
    char b[400];
    snprintf(b, sizeof b,
             "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n%s\r\n",
             cr_lines[i]);
    s = mini(b);
    answer_str(s, &r);
    CHECK_EQ_INT(r.rc, SFU_EPARSE);
    CHECK(r.text == NULL);
    if (!strstr(r.err, "line 12") || !strstr(r.err, "CR")) {
      fprintf(stderr, "case %zu: \"%s\"\n", i, r.err);
      CHECK(!"CR error names the line");
    }
    result_free(&r);
    free(s);
  }
}

TEST(echoed_tokens_are_short_tokens) {
  /* What the answer echoes (media, proto, fmt, mid, extmap URI) must be a short SDP
   * token: refused otherwise, with the line. A rejected section echoes one fmt only. */
  static const char *const bad[] = {
      "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:a\"b",
      "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0123456789012345678901234567890123456789012345678901234567890123456789",
      "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=extmap:1 urn:x\x01y",
      ("m=au\x7f" "dio 9 UDP/TLS/RTP/SAVPF 111"), /* split: \x7f must not swallow "d" */
      "m=text 9 RTP/x(y) 0",
      "m=text 9 TCP/MSRP *\x02",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char b[600];
    snprintf(b, sizeof b, "%s\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\n", bad[i]);
    char *s = mini(b);
    result_t r;
    answer_str(s, &r);
    if (r.rc != SFU_EPARSE || !strstr(r.err, "line")) {
      fprintf(stderr, "case %zu: rc %d \"%s\"\n", i, r.rc, r.err);
      CHECK(!"refused naming the line");
    }
    result_free(&r);
    free(s);
  }
  /* 2,000 fmts on a section the worker rejects: the answer lists the first. */
  size_t cap = 16 * 1024;
  char *b = malloc(cap);
  size_t o = (size_t)snprintf(b, cap, "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=rtcp-mux\r\n"
                                       "a=rtpmap:111 opus/48000/2\r\nm=text 9 TCP/MSRP");
  for (int i = 0; i < 2000; i++) o += (size_t)snprintf(b + o, cap - o, " f%d", i);
  snprintf(b + o, cap - o, "\r\na=mid:1\r\n");
  char *s = mini(b);
  result_t r;
  answer_str(s, &r);
  CHECK_EQ_INT(r.rc, 0);
  CHECK(r.text && strstr(r.text, "m=text 0 TCP/MSRP f0\r\n"));
  result_free(&r);
  free(s);
  free(b);
}

/* ---- hostile input -------------------------------------------------------------------- */

static void parse_and_answer_any(const char *buf, size_t len) {
  sfu_sdp_offer_t *o = NULL;
  char err[128];
  int rc = sfu_sdp_parse(buf, len, &o, err, sizeof err);
  CHECK(rc <= 0);
  CHECK((rc == 0) == (o != NULL));
  if (rc) {
    CHECK(err[0] != '\0');
    return;
  }
  char *text = NULL;
  sfu_sdp_answer_t neg;
  rc = sfu_sdp_answer(o, &local, &text, &neg, err, sizeof err);
  CHECK(rc <= 0);
  CHECK((rc == 0) == (text != NULL));
  if (rc == 0) {
    sfu_sdp_offer_t *again = NULL;
    CHECK(sfu_sdp_parse(text, strlen(text), &again, NULL, 0) == 0); /* answers re-parse */
    sfu_sdp_offer_free(again);
  }
  free(text);
  sfu_sdp_answer_clear(&neg);
  sfu_sdp_offer_free(o);
}

TEST(every_truncation_of_simulcast_offer) {
  size_t len;
  char *buf = test_load_sdp("chromium-simulcast-datachannel.sdp", &len);
  REQUIRE(buf);
  int parsed = 0;
  for (size_t n = 0; n <= len; n++) {
    /* exact-size copy so ASan sees any read past the end */
    char *cut = malloc(n ? n : 1);
    memcpy(cut, buf, n);
    sfu_sdp_offer_t *o = NULL;
    if (sfu_sdp_parse(cut, n, &o, NULL, 0) == 0) parsed++;
    sfu_sdp_offer_free(o);
    parse_and_answer_any(cut, n);
    free(cut);
  }
  CHECK(parsed > 0);
  free(buf);
}

static uint32_t rng_state = 12345;
static uint32_t rnd(void) {
  rng_state = rng_state * 1103515245u + 12345u;
  return rng_state >> 8;
}

TEST(garbage_and_mutations) {
  /* random bytes */
  for (int i = 0; i < 3000; i++) {
    size_t n = rnd() % 600;
    char *g = malloc(n ? n : 1);
    for (size_t k = 0; k < n; k++) g[k] = (char)rnd();
    if (n > 2 && (i & 1)) memcpy(g, "v=0\n", n < 4 ? n : 4);
    parse_and_answer_any(g, n);
    free(g);
  }
  /* mutations of real offers: byte flips, SDP-ish characters, line shuffles */
  static const char alphabet[] = "0123456789 :;/,~=\r\nam-*v";
  for (size_t f = 0; f < sizeof captured / sizeof captured[0]; f++) {
    size_t len;
    char *buf = test_load_sdp(captured[f], &len);
    REQUIRE(buf);
    char *m = malloc(len);
    for (int i = 0; i < 300; i++) {
      memcpy(m, buf, len);
      int edits = 1 + (int)(rnd() % 4);
      for (int e = 0; e < edits; e++) {
        size_t at = rnd() % len;
        m[at] = (rnd() & 1) ? alphabet[rnd() % (sizeof alphabet - 1)] : (char)rnd();
      }
      parse_and_answer_any(m, len);
    }
    free(m);
    free(buf);
  }
}


/* ---- the local plan: what the worker sends, per-section direction ---------------------- */

static int answer_file_plan(const char *name, const sfu_sdp_plan_t *plan, size_t n_plan,
                            result_t *r) {
  size_t len;
  memset(r, 0, sizeof *r);
  char *buf = test_load_sdp(name, &len);
  if (!buf) return r->rc = -1;
  r->rc = sfu_sdp_parse(buf, len, &r->offer, r->err, sizeof r->err);
  free(buf);
  if (r->rc) return r->rc;
  sfu_sdp_local_t l = local;
  l.plan = plan;
  l.n_plan = n_plan;
  return r->rc = sfu_sdp_answer(r->offer, &l, &r->text, &r->neg, r->err, sizeof r->err);
}

/* The m-section of the answer with "a=mid:<mid>" (copy; "" if none). */
static char *section_by_mid(const char *sdp, const char *mid) {
  char want[64];
  snprintf(want, sizeof want, "a=mid:%s\r\n", mid);
  for (int i = 0;; i++) {
    char *s = section(sdp, i);
    if (!s[0] || strstr(s, want)) return s;
    free(s);
  }
}

TEST(plan_send_on_chromium_recvonly_sections) {
  /* Subscriber: video mids 1 and 2 recvonly. We send VP9 profile 0 (pt 98, rtx 99) on 1
   * with RTX, H.264 (102) on 2 without; the data section and audio are untouched. */
  const sfu_sdp_plan_t plan[] = {
      {.mid = "1", .send = 1, .recv = 1, .ssrc = 0x11111111, .rtx_ssrc = 0x22222222,
       .cname = "sfu-a", .msid_stream = "att-7", .msid_track = "att-7-video", .send_pt = 98},
      {.mid = "2", .send = 1, .ssrc = 3333, .rtx_ssrc = 0, .cname = NULL,
       .msid_stream = NULL, .msid_track = "t2", .send_pt = 102},
  };
  result_t r;
  REQUIRE(answer_file_plan("chromium-recvonly.sdp", plan, 2, &r) == 0);
  check_answer_invariants("chromium-recvonly.sdp+plan", &r);
  char *v1 = section_by_mid(r.text, "1"), *v2 = section_by_mid(r.text, "2"),
       *au = section_by_mid(r.text, "0");
  /* the client only receives: recv=1 cannot make us receive (RFC 3264 §6.1) */
  CHECK(strstr(v1, "a=sendonly\r\n") && !strstr(v1, "a=sendrecv"));
  CHECK(strstr(v1, "a=msid:att-7 att-7-video\r\n"));
  CHECK(strstr(v1, "a=ssrc-group:FID 286331153 572662306\r\n"));
  /* primary first (aiortc takes ssrc[0] as media, ssrc[1] as RTX) */
  CHECK(strstr(v1, "a=ssrc:286331153 cname:sfu-a\r\n"
                   "a=ssrc:286331153 msid:att-7 att-7-video\r\n"
                   "a=ssrc:572662306 cname:sfu-a\r\n"
                   "a=ssrc:572662306 msid:att-7 att-7-video\r\n"));
  /* send_pt first on the m= line (its rtx right after) and in the codec list */
  CHECK(strstr(v1, "m=video 40000 UDP/TLS/RTP/SAVPF 98 99 96 97 "));
  CHECK(strstr(v1, "a=rtpmap:98 VP9/90000\r\n") < strstr(v1, "a=rtpmap:96 VP8/90000\r\n"));
  CHECK(strstr(v2, "a=sendonly\r\n"));
  CHECK(strstr(v2, "a=msid:- t2\r\n"));
  CHECK(strstr(v2, "a=ssrc:3333 cname:sfu\r\na=ssrc:3333 msid:- t2\r\n"));
  CHECK(!strstr(v2, "ssrc-group") && count(v2, "a=ssrc:") == 2);
  CHECK(strstr(v2, " UDP/TLS/RTP/SAVPF 102 103 96 97 "));
  /* audio has no plan entry and is not video: today's behaviour, no ssrc of ours */
  CHECK(strstr(au, "a=sendonly\r\n") && !strstr(au, "a=ssrc") && !strstr(au, "a=msid"));
  CHECK_EQ_INT(count(r.text, "a=msid-semantic: WMS *\r\n"), 1);
  const sfu_sdp_neg_media_t *n1 = neg_by_mid(&r.neg, "1"), *n2 = neg_by_mid(&r.neg, "2");
  REQUIRE(n1 && n2);
  CHECK_EQ_INT(n1->dir, SFU_SDP_SENDONLY);
  CHECK_EQ_INT(n1->send_ssrc, 0x11111111);
  CHECK_EQ_INT(n1->send_rtx_ssrc, 0x22222222);
  CHECK_EQ_INT(n1->codecs[0].pt, 98);
  CHECK_EQ_INT(n1->codecs[0].rtx_pt, 99);
  CHECK_EQ_STR(n1->codecs[0].fmtp, "profile-id=0");
  CHECK_EQ_INT(n1->codecs[1].pt, 96);
  CHECK_EQ_INT(n2->codecs[0].pt, 102);
  CHECK(strstr(n2->codecs[0].fmtp, "packetization-mode=1") != NULL);
  CHECK_EQ_INT(n2->send_ssrc, 3333);
  CHECK_EQ_INT(n2->send_rtx_ssrc, 0);
  /* the answer's own parse sees our FID group and ssrcs */
  sfu_sdp_offer_t *a;
  REQUIRE(sfu_sdp_parse(r.text, strlen(r.text), &a, NULL, 0) == 0);
  CHECK_EQ_INT(a->media[1].n_fids, 1);
  CHECK_EQ_INT(a->media[1].fids[0].primary, 0x11111111);
  CHECK_EQ_INT(a->media[1].fids[0].rtx, 0x22222222);
  CHECK_EQ_INT(a->media[1].n_ssrcs, 2);
  CHECK_EQ_STR(a->media[1].ssrcs[0].cname, "sfu-a");
  sfu_sdp_offer_free(a);
  free(v1);
  free(v2);
  free(au);
  result_free(&r);

  /* No entry for mid 2: a video section we neither send nor receive on is inactive, not
   * rejected: same port, same codecs, still bundled ("extra ones stay inactive"). */
  REQUIRE(answer_file_plan("chromium-recvonly.sdp", plan, 1, &r) == 0);
  v2 = section_by_mid(r.text, "2");
  CHECK(strstr(v2, "a=inactive\r\n"));
  CHECK(strstr(v2, "m=video 40000 UDP/TLS/RTP/SAVPF 96 97 "));
  CHECK(strstr(v2, "a=rtpmap:96 VP8/90000\r\n") && !strstr(v2, "a=ssrc"));
  CHECK(strstr(r.text, "a=group:BUNDLE 0 1 2 3\r\n"));
  CHECK_EQ_INT(r.neg.n_media, 4);
  CHECK_EQ_INT(neg_by_mid(&r.neg, "2")->dir, SFU_SDP_INACTIVE);
  CHECK_EQ_INT(neg_by_mid(&r.neg, "2")->send_ssrc, 0);
  free(v2);
  result_free(&r);
}

TEST(plan_rtx_only_when_negotiated) {
  /* VP8 without its rtx payload type: rtx_ssrc is not announced (RFC 4588 §8.1). */
  char *s = mini("a=group:BUNDLE v\r\n"
                 "m=video 9 UDP/TLS/RTP/SAVPF 96 98 99\r\na=mid:v\r\na=rtcp-mux\r\na=recvonly\r\n"
                 "a=rtpmap:96 VP8/90000\r\na=rtpmap:98 VP9/90000\r\n"
                 "a=rtpmap:99 rtx/90000\r\na=fmtp:99 apt=98\r\n");
  sfu_sdp_offer_t *o;
  REQUIRE(sfu_sdp_parse(s, strlen(s), &o, NULL, 0) == 0);
  sfu_sdp_plan_t p = {.mid = "v", .send = 1, .ssrc = 5, .rtx_ssrc = 6, .msid_track = "t",
                      .send_pt = 96};
  sfu_sdp_local_t l = local;
  l.plan = &p;
  l.n_plan = 1;
  char *text;
  sfu_sdp_answer_t neg;
  REQUIRE(sfu_sdp_answer(o, &l, &text, &neg, NULL, 0) == 0);
  CHECK(!strstr(text, "ssrc-group") && !strstr(text, "a=ssrc:6 "));
  CHECK(strstr(text, "a=ssrc:5 cname:sfu\r\n"));
  CHECK(strstr(text, "m=video 40000 UDP/TLS/RTP/SAVPF 96 98 99\r\n"));
  CHECK_EQ_INT(neg.media[0].send_rtx_ssrc, 0);
  free(text);
  sfu_sdp_answer_clear(&neg);
  /* send_pt -1: keep the order; RTX exists for some codec, so it is announced */
  p.send_pt = -1;
  REQUIRE(sfu_sdp_answer(o, &l, &text, &neg, NULL, 0) == 0);
  CHECK(strstr(text, "a=ssrc-group:FID 5 6\r\n"));
  CHECK(strstr(text, "m=video 40000 UDP/TLS/RTP/SAVPF 96 98 99\r\n"));
  CHECK_EQ_INT(neg.media[0].send_rtx_ssrc, 6);
  free(text);
  sfu_sdp_answer_clear(&neg);
  /* send_pt 98 (VP9, with rtx 99): first, with its rtx */
  p.send_pt = 98;
  REQUIRE(sfu_sdp_answer(o, &l, &text, &neg, NULL, 0) == 0);
  CHECK(strstr(text, "m=video 40000 UDP/TLS/RTP/SAVPF 98 99 96\r\n"));
  CHECK(strstr(text, "a=ssrc-group:FID 5 6\r\n"));
  CHECK_EQ_INT(neg.media[0].codecs[0].pt, 98);
  free(text);
  sfu_sdp_answer_clear(&neg);
  sfu_sdp_offer_free(o);
  free(s);
}

TEST(plan_refusing_recv_on_simulcast_section) {
  static const char *files[] = {"chromium-simulcast-datachannel.sdp",
                                "chromium-simulcast-no-datachannel.sdp",
                                "chromium-simulcast-trickle.sdp"};
  for (size_t f = 0; f < 3; f++) {
    result_t r0, r;
    REQUIRE(answer_file(files[f], &r0) == 0);
    /* which mid is the simulcast video */
    const char *vmid = NULL;
    for (size_t i = 0; i < r0.offer->n_media; i++)
      if (r0.offer->media[i].sim_send.raw) vmid = r0.offer->media[i].mid;
    REQUIRE(vmid);
    sfu_sdp_plan_t refuse = {.mid = vmid, .recv = 0, .send = 1, .ssrc = 9, .msid_track = "x",
                             .send_pt = -1};
    REQUIRE(answer_file_plan(files[f], &refuse, 1, &r) == 0);
    check_answer_invariants(files[f], &r);
    char *v = section_by_mid(r.text, vmid);
    /* sendonly offer: send=1 cannot apply, recv refused: inactive, no simulcast/rid */
    CHECK(strstr(v, "a=inactive\r\n"));
    CHECK(!strstr(v, "a=simulcast") && !strstr(v, "a=rid:") && !strstr(v, "a=ssrc"));
    CHECK(!strstr(r.text, "a=msid"));
    CHECK(strstr(v, "a=rtpmap:96 VP8/90000\r\n")); /* codecs kept */
    const sfu_sdp_neg_media_t *n = neg_by_mid(&r.neg, vmid);
    REQUIRE(n);
    CHECK_EQ_INT(n->dir, SFU_SDP_INACTIVE);
    CHECK(!n->simulcast_recv);
    CHECK_EQ_INT(n->n_rids, 0);
    CHECK_EQ_INT(n->send_ssrc, 0);
    free(v);
    result_free(&r);
    /* recv accepted: exactly the answer without a plan (no sending on a sendonly offer) */
    sfu_sdp_plan_t take = {.mid = vmid, .recv = 1, .send = 1, .ssrc = 9, .send_pt = -1};
    REQUIRE(answer_file_plan(files[f], &take, 1, &r) == 0);
    CHECK_EQ_STR(r.text, r0.text);
    n = neg_by_mid(&r.neg, vmid);
    REQUIRE(n);
    CHECK_EQ_INT(n->dir, SFU_SDP_RECVONLY);
    CHECK(n->simulcast_recv);
    CHECK_EQ_INT(n->n_rids, 3);
    result_free(&r);
    result_free(&r0);
  }
}

TEST(plan_sendrecv_section_directions) {
  /* aiortc offers video sendrecv (mid 1, with its own FID group). */
  const sfu_sdp_plan_t recv_only = {.mid = "1", .recv = 1, .send_pt = -1};
  result_t r;
  REQUIRE(answer_file_plan("aiortc-audio-video.sdp", &recv_only, 1, &r) == 0);
  char *v = section_by_mid(r.text, "1");
  CHECK(strstr(v, "a=recvonly\r\n") && !strstr(v, "a=ssrc") && !strstr(v, "a=msid"));
  const sfu_sdp_neg_media_t *n = neg_by_mid(&r.neg, "1");
  REQUIRE(n);
  CHECK_EQ_INT(n->dir, SFU_SDP_RECVONLY);
  /* what the router needs to publish: the client's SSRC and its RTX pair */
  CHECK_EQ_INT(n->n_fids, 1);
  CHECK_EQ_INT(n->fids[0].primary, 1696892181u);
  CHECK_EQ_INT(n->fids[0].rtx, 3420889790u);
  CHECK_EQ_INT(n->n_ssrcs, 2);
  /* audio keeps today's sendrecv */
  CHECK_EQ_INT(neg_by_mid(&r.neg, "0")->dir, SFU_SDP_SENDRECV);
  free(v);
  result_free(&r);

  const sfu_sdp_plan_t both = {.mid = "1", .recv = 1, .send = 1, .ssrc = 77, .rtx_ssrc = 78,
                               .cname = "c", .msid_stream = "s", .msid_track = "t",
                               .send_pt = -1};
  REQUIRE(answer_file_plan("aiortc-audio-video.sdp", &both, 1, &r) == 0);
  v = section_by_mid(r.text, "1");
  CHECK(strstr(v, "a=sendrecv\r\n") && strstr(v, "a=ssrc-group:FID 77 78\r\n"));
  CHECK_EQ_INT(neg_by_mid(&r.neg, "1")->dir, SFU_SDP_SENDRECV);
  free(v);
  result_free(&r);

  const sfu_sdp_plan_t send_only = {.mid = "1", .recv = 0, .send = 1, .ssrc = 77,
                                    .msid_track = "t", .send_pt = -1};
  REQUIRE(answer_file_plan("aiortc-audio-video.sdp", &send_only, 1, &r) == 0);
  v = section_by_mid(r.text, "1");
  CHECK(strstr(v, "a=sendonly\r\n") && strstr(v, "a=ssrc:77 cname:sfu\r\n"));
  CHECK_EQ_INT(neg_by_mid(&r.neg, "1")->dir, SFU_SDP_SENDONLY);
  free(v);
  result_free(&r);

  /* n_plan 0 with a non-NULL plan: every video section is inactive */
  REQUIRE(answer_file_plan("aiortc-audio-video.sdp", &send_only, 0, &r) == 0);
  CHECK_EQ_INT(neg_by_mid(&r.neg, "1")->dir, SFU_SDP_INACTIVE);
  CHECK_EQ_INT(neg_by_mid(&r.neg, "0")->dir, SFU_SDP_SENDRECV);
  result_free(&r);
}

TEST(plan_bad_entries_are_refused) {
  const sfu_sdp_plan_t ok = {.mid = "1", .send = 1, .ssrc = 1, .msid_track = "t",
                             .send_pt = -1};
  struct {
    sfu_sdp_plan_t p[2];
    size_t n;
    const char *msg;
  } cases[] = {
      {{ok}, 1, NULL},
      {{{.mid = "1", .send = 1, .ssrc = 0, .send_pt = -1}}, 1, "ssrc 0"},
      {{{.mid = "1", .send = 1, .ssrc = 1, .msid_track = "a b", .send_pt = -1}}, 1, "token"},
      {{{.mid = "1", .send = 1, .ssrc = 1, .msid_stream = "x\r\na=y", .msid_track = "t",
         .send_pt = -1}}, 1, "token"},
      {{{.mid = "1", .send = 1, .ssrc = 1, .cname = "c\r\n", .send_pt = -1}}, 1, "token"},
      {{{.mid = "1", .send = 1, .ssrc = 1, .msid_track = "", .send_pt = -1}}, 1, "token"},
      {{{.mid = "1", .send = 1, .ssrc = 1, .msid_track =
             "0123456789012345678901234567890123456789012345678901234567890123456789",
         .send_pt = -1}}, 1, "token"},
      {{{.mid = "1", .send = 1, .ssrc = 1, .send_pt = 104}}, 1, "send_pt 104"}, /* mode 0 */
      {{{.mid = "1", .send = 1, .ssrc = 1, .send_pt = 97}}, 1, "send_pt 97"},   /* an rtx */
      {{{.mid = "1", .send = 1, .ssrc = 1, .rtx_ssrc = 1, .send_pt = -1}}, 1, "rtx_ssrc"},
      {{ok, {.mid = "2", .send = 1, .ssrc = 1, .send_pt = -1}}, 2, "ssrc 1 also used"},
      {{ok, {.mid = "2", .send = 1, .ssrc = 2, .rtx_ssrc = 1, .send_pt = -1}}, 2, "also used"},
      /* audio entries apply too (issue 9): mid 0 is the audio the client receives */
      {{ok, {.mid = "0", .send = 1, .ssrc = 0, .send_pt = 5}}, 2, "ssrc 0"},
      {{ok, {.mid = "0", .send = 1, .ssrc = 9, .send_pt = 5}}, 2, "send_pt 5"},
      {{ok, {.mid = "0", .send = 1, .ssrc = 1, .send_pt = 111}}, 2, "ssrc 1 also used"},
      {{ok, {.mid = "0", .send = 1, .ssrc = 9, .cname = "a b", .send_pt = 111}}, 2, "token"},
      {{ok, {.mid = "0", .send = 1, .ssrc = 9, .send_pt = 111}}, 2, NULL},
      /* entries that do not apply are not checked: no such mid */
      {{ok, {.mid = "nope", .send = 1, .ssrc = 0}}, 2, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    result_t r;
    int rc = answer_file_plan("chromium-recvonly.sdp", cases[i].p, cases[i].n, &r);
    if (!cases[i].msg) {
      CHECK_EQ_INT(rc, 0);
    } else {
      CHECK_EQ_INT(rc, SFU_EINVAL);
      CHECK(r.text == NULL && r.neg.n_media == 0);
      if (!strstr(r.err, cases[i].msg)) fprintf(stderr, "case %zu: %s\n", i, r.err);
      CHECK(strstr(r.err, cases[i].msg) != NULL);
      CHECK(strstr(r.err, "mid "));
    }
    result_free(&r);
  }
  /* n_plan without a plan */
  sfu_sdp_local_t l = local;
  l.n_plan = 1;
  result_t r;
  answer_file("chromium-recvonly.sdp", &r);
  char *text;
  CHECK_EQ_INT(sfu_sdp_answer(r.offer, &l, &text, NULL, NULL, 0), SFU_EINVAL);
  result_free(&r);
}

TEST(legacy_ssrc_group_sim_parsed) {
  char *s = mini("a=group:BUNDLE v\r\n"
                 "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\na=mid:v\r\na=rtcp-mux\r\na=sendonly\r\n"
                 "a=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n"
                 "a=ssrc-group:SIM 10 20 30\r\n"
                 "a=ssrc-group:FID 10 11\r\na=ssrc-group:FID 20 21\r\n"
                 "a=ssrc-group:FID 30 31\r\n"
                 "a=ssrc-group:SIM 99 98\r\n" /* a second group: ignored */
                 "a=ssrc:10 cname:c\r\na=ssrc:11 cname:c\r\na=ssrc:20 cname:c\r\n"
                 "a=ssrc:21 cname:c\r\na=ssrc:30 cname:c\r\na=ssrc:31 cname:c\r\n");
  result_t r;
  answer_str(s, &r);
  REQUIRE(r.rc == 0);
  const sfu_sdp_media_t *m = &r.offer->media[0];
  CHECK_EQ_INT(m->n_sim_ssrcs, 3);
  CHECK(m->sim_ssrcs[0] == 10 && m->sim_ssrcs[1] == 20 && m->sim_ssrcs[2] == 30);
  const sfu_sdp_neg_media_t *n = &r.neg.media[0];
  CHECK_EQ_INT(n->dir, SFU_SDP_RECVONLY);
  CHECK_EQ_INT(n->n_sim_ssrcs, 3);
  CHECK(n->sim_ssrcs[0] == 10 && n->sim_ssrcs[2] == 30);
  CHECK_EQ_INT(n->n_fids, 3);
  CHECK(n->fids[1].primary == 20 && n->fids[1].rtx == 21);
  CHECK_EQ_INT(n->n_ssrcs, 6);
  CHECK(!n->simulcast_recv && n->n_rids == 0);
  CHECK(!strstr(r.text, "SIM")); /* nothing to answer for it */
  result_free(&r);
  free(s);
  /* a Chromium rid offer has no SIM group */
  REQUIRE(answer_file("chromium-simulcast-datachannel.sdp", &r) == 0);
  CHECK_EQ_INT(neg_by_mid(&r.neg, "1")->n_sim_ssrcs, 0);
  CHECK_EQ_INT(neg_by_mid(&r.neg, "1")->n_rids, 3);
  result_free(&r);
  /* malformed or oversized groups */
  static const char *const bad[] = {
      "a=ssrc-group:SIM\r\n", "a=ssrc-group:SIM 1 x\r\n", "a=ssrc-group:SIM 1 4294967296\r\n",
      "a=ssrc-group:SIM 1 2 1\r\n", "a=ssrc-group:SIM 1 2 3 4 5 6 7 8 9\r\n"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char body[512];
    snprintf(body, sizeof body,
             "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:v\r\na=rtcp-mux\r\n"
             "a=rtpmap:96 VP8/90000\r\n%s", bad[i]);
    s = mini(body);
    sfu_sdp_offer_t *o = NULL;
    int rc = sfu_sdp_parse(s, strlen(s), &o, NULL, 0);
    CHECK(rc == (i == 4 ? SFU_ELIMIT : SFU_EPARSE));
    CHECK(o == NULL);
    free(s);
  }
}

/* For tests/unit/sdp_aiortc.py: reads an offer on stdin and prints the answer with a plan
 * that sends on every video section the client receives on (ssrc 1000+2i, rtx +1, msid
 * "sfu-stream" "track-<mid>") and receives on every other. */
/* ---- audio: the mixer's stream (issue 9) ------------------------------------------------ */

/* The mixer's plan entry for an audio section. */
static sfu_sdp_plan_t audio_entry(const char *mid, uint8_t recv, uint8_t send, uint32_t ssrc,
                                  int16_t pt) {
  return (sfu_sdp_plan_t){.mid = mid, .recv = recv, .send = send, .ssrc = ssrc,
                          .cname = "sfu-worker", .msid_stream = "sfu-mix",
                          .msid_track = "audio-mix", .send_pt = pt};
}

/* The audio section of the answer to chromium-audio-only.sdp without a plan, as it was
 * before audio plans existed (captured from the build before this change): the no-plan
 * answer must stay this, byte for byte. */
static const char chromium_audio_noplan[] =
    "m=audio 40000 UDP/TLS/RTP/SAVPF 111\r\n"
    "c=IN IP4 192.0.2.7\r\n"
    "a=mid:0\r\n"
    "a=ice-ufrag:lUfr\r\n"
    "a=ice-pwd:localPasswordLocalPassw0\r\n"
    "a=fingerprint:sha-256 AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:"
    "00:11:22:33:44:55:66:77:88:99\r\n"
    "a=setup:passive\r\n"
    "a=sendrecv\r\n"
    "a=rtcp-mux\r\n"
    "a=rtcp-rsize\r\n"
    "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
    "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
    "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n"
    "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
    "a=rtcp-fb:111 transport-cc\r\n"
    "a=fmtp:111 minptime=10;useinbandfec=1\r\n"
    "a=candidate:1 1 udp 2130706431 192.0.2.7 40000 typ host\r\n"
    "a=candidate:2 1 tcp 1671430143 192.0.2.7 40001 typ host tcptype passive\r\n"
    "a=end-of-candidates\r\n";

TEST(audio_plan_chromium_mix_stream_red_and_level) {
  /* Chromium 156 offers audio sendrecv: opus 111, red 63 "111/111", audio level id 1. */
  const sfu_sdp_plan_t plan[] = {audio_entry("0", 1, 1, 0xA0D10u, 111)};
  result_t r;
  REQUIRE(answer_file_plan("chromium-audio-only.sdp", plan, 1, &r) == 0);
  char *au = section_by_mid(r.text, "0");
  CHECK(strstr(au, "m=audio 40000 UDP/TLS/RTP/SAVPF 111 63\r\n"));
  CHECK(strstr(au, "a=sendrecv\r\n"));
  CHECK(strstr(au, "a=msid:sfu-mix audio-mix\r\n"));
  CHECK(strstr(r.text, "a=msid-semantic: WMS *\r\n"));
  /* Opus first, with the worker's fmtp; red right after it, naming it */
  CHECK(strstr(au, "a=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 transport-cc\r\n"
                   "a=fmtp:111 minptime=10;useinbandfec=1\r\n"
                   "a=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\n"));
  /* our one stream: a=ssrc with cname and msid, no RTX, no FID group */
  CHECK(strstr(au, "a=ssrc:658704 cname:sfu-worker\r\na=ssrc:658704 msid:sfu-mix audio-mix\r\n"));
  CHECK_EQ_INT(count(au, "a=ssrc:"), 2);
  CHECK(!strstr(au, "ssrc-group") && !strstr(au, "rtx"));
  CHECK(strstr(au, "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"));
  const sfu_sdp_neg_media_t *n = neg_by_mid(&r.neg, "0");
  REQUIRE(n);
  CHECK_EQ_INT(n->dir, SFU_SDP_SENDRECV);
  CHECK_EQ_INT(n->send_ssrc, 0xA0D10u);
  CHECK_EQ_INT(n->send_rtx_ssrc, 0);
  CHECK_EQ_INT(n->red_pt, 63);
  REQUIRE(n->n_codecs == 2);
  CHECK_EQ_STR(n->codecs[0].name, "opus");
  CHECK_EQ_INT(n->codecs[0].pt, 111);
  CHECK_EQ_INT(n->codecs[0].rtx_pt, -1);
  CHECK_EQ_STR(n->codecs[0].fmtp, "minptime=10;useinbandfec=1");
  CHECK_EQ_INT(n->codecs[0].opus_fec, 1);
  CHECK_EQ_INT(n->codecs[0].opus_stereo, 0);
  CHECK_EQ_INT(n->codecs[0].opus_dtx, 0);
  CHECK_EQ_INT(n->codecs[0].opus_max_avg_bitrate, 0);
  CHECK_EQ_STR(n->codecs[1].name, "red");
  CHECK_EQ_INT(n->codecs[1].pt, 63);
  CHECK_EQ_STR(n->codecs[1].fmtp, "111/111");
  /* RFC 6464 audio level (id 1) is in the section's map; the client's send SSRC too */
  CHECK_EQ_INT(sfu_rtp_ext_map_id(&n->ext, SFU_EXT_AUDIO_LEVEL), 1);
  CHECK_EQ_INT(n->n_ssrcs, 1);
  CHECK_EQ_INT(n->ssrcs[0].ssrc, 2210308194u);
  /* the answer parses, and our ssrc is what a peer reads from it */
  sfu_sdp_offer_t *a;
  REQUIRE(sfu_sdp_parse(r.text, strlen(r.text), &a, NULL, 0) == 0);
  CHECK_EQ_INT(a->media[0].n_ssrcs, 1);
  CHECK_EQ_INT(a->media[0].ssrcs[0].ssrc, 0xA0D10u);
  CHECK_EQ_STR(a->media[0].ssrcs[0].cname, "sfu-worker");
  CHECK_EQ_INT(a->media[0].codecs[0].pt, 111);
  sfu_sdp_offer_free(a);
  free(au);
  result_free(&r);

  /* The client sends but must not receive from us (plan send = 0): recvonly, red kept
   * (we receive), no ssrc of ours. recv = 0: we only send, no red. */
  const sfu_sdp_plan_t recv_only[] = {audio_entry("0", 1, 0, 0, -1)};
  REQUIRE(answer_file_plan("chromium-audio-only.sdp", recv_only, 1, &r) == 0);
  CHECK(strstr(r.text, "a=recvonly\r\n") && strstr(r.text, "a=rtpmap:63 red/48000/2\r\n"));
  CHECK(!strstr(r.text, "a=ssrc:") && !strstr(r.text, "a=msid"));
  CHECK_EQ_INT(r.neg.media[0].red_pt, 63);
  result_free(&r);
  const sfu_sdp_plan_t send_only[] = {audio_entry("0", 0, 1, 77, 111)};
  REQUIRE(answer_file_plan("chromium-audio-only.sdp", send_only, 1, &r) == 0);
  CHECK(strstr(r.text, "a=sendonly\r\n") && strstr(r.text, "a=ssrc:77 cname:sfu-worker\r\n"));
  CHECK(!strstr(r.text, "red/"));
  CHECK_EQ_INT(r.neg.media[0].red_pt, -1);
  result_free(&r);
}

TEST(audio_without_plan_entry_is_byte_identical) {
  /* No plan at all, and a plan for other mids only: the audio section is the answer
   * before audio plans, byte for byte (the golden copy above), red never answered. */
  result_t r;
  REQUIRE(answer_file("chromium-audio-only.sdp", &r) == 0);
  char *au = section_by_mid(r.text, "0");
  CHECK_EQ_STR(au, chromium_audio_noplan);
  CHECK_EQ_INT(r.neg.media[0].red_pt, -1);
  CHECK_EQ_INT(r.neg.media[0].codecs[0].opus_fec, 1); /* parsed with or without a plan */
  free(au);
  result_free(&r);
  const sfu_sdp_plan_t other[] = {audio_entry("nope", 1, 1, 5, -1)};
  REQUIRE(answer_file_plan("chromium-audio-only.sdp", other, 1, &r) == 0);
  au = section_by_mid(r.text, "0");
  CHECK_EQ_STR(au, chromium_audio_noplan);
  free(au);
  result_free(&r);
  /* every captured offer: audio sections identical with no plan and with a video-only
   * plan (every video mid planned to send) */
  for (size_t i = 0; i < sizeof captured / sizeof captured[0]; i++) {
    result_t a, b;
    REQUIRE(answer_file(captured[i], &a) == 0);
    sfu_sdp_plan_t vplan[SFU_SDP_MAX_MEDIA];
    size_t nv = 0;
    for (size_t k = 0; k < a.offer->n_media; k++)
      if (a.offer->media[k].kind == SFU_SDP_KIND_VIDEO && a.offer->media[k].mid)
        vplan[nv++] = (sfu_sdp_plan_t){.mid = a.offer->media[k].mid, .recv = 1, .send = 1,
                                       .ssrc = 5000 + (uint32_t)k, .send_pt = -1};
    REQUIRE(answer_file_plan(captured[i], vplan, nv, &b) == 0);
    for (size_t k = 0; k < a.offer->n_media; k++) {
      if (a.offer->media[k].kind != SFU_SDP_KIND_AUDIO) continue;
      char *sa = section(a.text, (int)k), *sb = section(b.text, (int)k);
      if (strcmp(sa, sb) != 0) fprintf(stderr, "%s: audio section %zu differs\n", captured[i], k);
      CHECK_EQ_STR(sa, sb);
      CHECK(!strstr(sa, "a=ssrc:") && !strstr(sa, "red/"));
      free(sa);
      free(sb);
    }
    for (size_t k = 0; k < b.neg.n_media; k++) CHECK_EQ_INT(b.neg.media[k].red_pt, -1);
    result_free(&a);
    result_free(&b);
  }
}

TEST(audio_plan_aiortc) {
  /* aiortc 1.4.0: opus 96 without fmtp, no red; audio level under id 2. */
  const sfu_sdp_plan_t plan[] = {audio_entry("0", 1, 1, 424242, 96)};
  result_t r;
  REQUIRE(answer_file_plan("aiortc-audio-video.sdp", plan, 1, &r) == 0);
  char *au = section_by_mid(r.text, "0");
  CHECK(strstr(au, "m=audio 40000 UDP/TLS/RTP/SAVPF 96\r\n"));
  CHECK(strstr(au, "a=sendrecv\r\n"));
  CHECK(strstr(au, "a=rtpmap:96 opus/48000/2\r\na=fmtp:96 minptime=10;useinbandfec=1\r\n"));
  CHECK(strstr(au, "a=ssrc:424242 cname:sfu-worker\r\na=ssrc:424242 msid:sfu-mix audio-mix\r\n"));
  CHECK(!strstr(au, "red/"));
  const sfu_sdp_neg_media_t *n = neg_by_mid(&r.neg, "0");
  REQUIRE(n);
  CHECK_EQ_INT(n->red_pt, -1);
  CHECK_EQ_INT(n->send_ssrc, 424242);
  CHECK_EQ_INT(n->codecs[0].opus_fec, 0); /* aiortc's offer says nothing */
  CHECK_EQ_INT(sfu_rtp_ext_map_id(&n->ext, SFU_EXT_AUDIO_LEVEL), 2);
  CHECK_EQ_INT(n->n_ssrcs, 1);
  CHECK_EQ_INT(n->ssrcs[0].ssrc, 1047027390u);
  /* the video section has no entry: inactive (the video rule), audio untouched by it */
  CHECK_EQ_INT(neg_by_mid(&r.neg, "1")->dir, SFU_SDP_INACTIVE);
  free(au);
  result_free(&r);
}

/* A one-audio-section offer with the given codec lines. */
static char *audio_offer(const char *fmt, const char *lines) {
  char body[8192];
  snprintf(body, sizeof body,
           "a=group:BUNDLE a\r\nm=audio 9 UDP/TLS/RTP/SAVPF %s\r\na=mid:a\r\na=rtcp-mux\r\n"
           "a=sendrecv\r\na=extmap:5 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n%s",
           fmt, lines);
  return mini(body);
}

static void answer_audio(const char *fmt, const char *lines, const sfu_sdp_plan_t *plan,
                         size_t n, result_t *r) {
  char *s = audio_offer(fmt, lines);
  memset(r, 0, sizeof *r);
  r->rc = sfu_sdp_parse(s, strlen(s), &r->offer, r->err, sizeof r->err);
  free(s);
  if (r->rc) return;
  sfu_sdp_local_t l = local;
  l.plan = plan;
  l.n_plan = n;
  r->rc = sfu_sdp_answer(r->offer, &l, &r->text, &r->neg, r->err, sizeof r->err);
}

TEST(audio_plan_red_only_for_the_accepted_opus) {
  const sfu_sdp_plan_t plan[] = {audio_entry("a", 1, 1, 99, 111)};
  static const struct {
    const char *fmt, *lines;
    int red;            /* red pt expected, -1 none */
    const char *fmtp;   /* answered red fmtp */
  } cases[] = {
      {"111 63", "a=rtpmap:111 opus/48000/2\r\na=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\n",
       63, "111/111"},
      /* red offered first: still answered after Opus (Opus stays the preferred format) */
      {"63 111", "a=rtpmap:111 opus/48000/2\r\na=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\n",
       63, "111/111"},
      {"111 63", "a=rtpmap:111 opus/48000/2\r\na=rtpmap:63 red/48000/2\r\na=fmtp:63 111\r\n", 63,
       "111"},
      {"111 63", "a=rtpmap:111 opus/48000/2\r\na=rtpmap:63 red/48000/2\r\n"
                 "a=fmtp:63 111/111/111\r\n", 63, "111/111/111"},
      /* another payload type inside: not answered */
      {"111 63", "a=rtpmap:111 opus/48000/2\r\na=rtpmap:63 red/48000/2\r\na=fmtp:63 110/110\r\n",
       -1, NULL},
      {"111 63 0", "a=rtpmap:111 opus/48000/2\r\na=rtpmap:63 red/48000/2\r\n"
                   "a=fmtp:63 111/0\r\n", -1, NULL},
      /* malformed or missing fmtp, wrong clock or channels, too many levels */
      {"111 63", "a=rtpmap:111 opus/48000/2\r\na=rtpmap:63 red/48000/2\r\n", -1, NULL},
      {"111 63", "a=rtpmap:111 opus/48000/2\r\na=rtpmap:63 red/48000/2\r\na=fmtp:63 111/\r\n",
       -1, NULL},
      {"111 63", "a=rtpmap:111 opus/48000/2\r\na=rtpmap:63 red/48000/2\r\n"
                 "a=fmtp:63 111/banana\r\n", -1, NULL},
      {"111 63", "a=rtpmap:111 opus/48000/2\r\na=rtpmap:63 red/48000/2\r\n"
                 "a=fmtp:63 00111/111\r\n", -1, NULL},
      {"111 63", "a=rtpmap:111 opus/48000/2\r\na=rtpmap:63 red/48000\r\na=fmtp:63 111/111\r\n",
       -1, NULL},
      {"111 63", "a=rtpmap:111 opus/48000/2\r\na=rtpmap:63 red/8000/2\r\na=fmtp:63 111/111\r\n",
       -1, NULL},
      {"111 63", "a=rtpmap:111 opus/48000/2\r\na=rtpmap:63 red/48000/2\r\n"
                 "a=fmtp:63 111/111/111/111/111/111/111/111/111\r\n", -1, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    result_t r;
    answer_audio(cases[i].fmt, cases[i].lines, plan, 1, &r);
    if (r.rc) fprintf(stderr, "case %zu: %s\n", i, r.err);
    REQUIRE(r.rc == 0);
    const sfu_sdp_neg_media_t *n = &r.neg.media[0];
    if (n->red_pt != cases[i].red) fprintf(stderr, "case %zu: red %d\n", i, n->red_pt);
    CHECK_EQ_INT(n->red_pt, cases[i].red);
    CHECK_EQ_INT(n->codecs[0].pt, 111);
    char *au = section(r.text, 0);
    if (cases[i].red >= 0) {
      CHECK(strstr(au, "m=audio 40000 UDP/TLS/RTP/SAVPF 111 63\r\n"));
      REQUIRE(n->n_codecs == 2);
      CHECK_EQ_STR(n->codecs[1].fmtp, cases[i].fmtp);
      CHECK(strstr(au, "a=rtpmap:111 opus") < strstr(au, "a=rtpmap:63 red/48000/2\r\n"));
    } else {
      CHECK(strstr(au, "m=audio 40000 UDP/TLS/RTP/SAVPF 111\r\n"));
      CHECK(!strstr(au, "red"));
      CHECK_EQ_INT(n->n_codecs, 1);
    }
    free(au);
    result_free(&r);
  }
  /* the client only receives (recvonly): there is nothing to unwrap, no red */
  result_t r;
  answer_audio("111 63", "a=recvonly\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:63 red/48000/2\r\n"
               "a=fmtp:63 111/111\r\n", plan, 1, &r);
  REQUIRE(r.rc == 0);
  CHECK_EQ_INT(r.neg.media[0].dir, SFU_SDP_SENDONLY);
  CHECK_EQ_INT(r.neg.media[0].red_pt, -1);
  result_free(&r);
}

TEST(audio_plan_opus_fmtp_parsed_and_answered) {
  const sfu_sdp_plan_t plan[] = {audio_entry("a", 1, 1, 99, 111)};
  result_t r;
  /* a stereo application (crafted: Chromium writes stereo=1 when the page asks) */
  answer_audio("111", "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1;"
               "stereo=1;sprop-stereo=1;usedtx=1;maxaveragebitrate=128000;"
               "maxplaybackrate=96000;cbr=1\r\n", plan, 1, &r);
  REQUIRE(r.rc == 0);
  const sfu_sdp_neg_codec_t *c = &r.neg.media[0].codecs[0];
  CHECK_EQ_INT(c->opus_stereo, 1);
  CHECK_EQ_INT(c->opus_sprop_stereo, 1);
  CHECK_EQ_INT(c->opus_fec, 1);
  CHECK_EQ_INT(c->opus_dtx, 1);
  CHECK_EQ_INT(c->opus_max_avg_bitrate, 128000);
  CHECK_EQ_INT(c->opus_max_playback_rate, 48000);
  CHECK_EQ_STR(c->fmtp, "minptime=10;useinbandfec=1;stereo=1;sprop-stereo=1");
  CHECK(strstr(r.text, "a=fmtp:111 minptime=10;useinbandfec=1;stereo=1;sprop-stereo=1\r\n"));
  result_free(&r);
  /* sprop-stereo alone: it sends stereo, wants mono: we take stereo, send mono */
  answer_audio("111", "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 sprop-stereo=1\r\n", plan, 1, &r);
  REQUIRE(r.rc == 0);
  CHECK_EQ_STR(r.neg.media[0].codecs[0].fmtp, "minptime=10;useinbandfec=1;stereo=1");
  CHECK_EQ_INT(r.neg.media[0].codecs[0].opus_stereo, 0);
  result_free(&r);
  /* without a plan entry: parsed the same, but the offer's fmtp is echoed as before */
  answer_audio("111", "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 stereo=1;maxplaybackrate=16000\r\n",
               NULL, 0, &r);
  REQUIRE(r.rc == 0);
  CHECK_EQ_INT(r.neg.media[0].codecs[0].opus_stereo, 1);
  CHECK_EQ_INT(r.neg.media[0].codecs[0].opus_max_playback_rate, 16000);
  CHECK_EQ_STR(r.neg.media[0].codecs[0].fmtp, "stereo=1");
  result_free(&r);
  /* hostile values are ignored (the default), never echoed */
  char big[1500], lines[3400];
  memset(big, '9', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  const char *bad[] = {
      "stereo=banana;sprop-stereo=2;useinbandfec=-1;usedtx=;maxaveragebitrate=-5;"
      "maxplaybackrate=0",
      "stereo=1111111;maxaveragebitrate=5999;maxplaybackrate=+48000",
      "stereo = 01 ;maxaveragebitrate=510001;maxplaybackrate=4.8e4",
      "maxaveragebitrate=0x1F400;stereo;useinbandfec=1 1",
      big,
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    if (bad[i] == big)
      snprintf(lines, sizeof lines, "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 maxaveragebitrate=%s;"
               "stereo=%s\r\n", big, big);
    else
      snprintf(lines, sizeof lines, "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 %s\r\n", bad[i]);
    answer_audio("111", lines, plan, 1, &r);
    if (r.rc) fprintf(stderr, "bad %zu: %s\n", i, r.err);
    REQUIRE(r.rc == 0);
    c = &r.neg.media[0].codecs[0];
    CHECK(!c->opus_stereo && !c->opus_sprop_stereo && !c->opus_fec && !c->opus_dtx);
    CHECK_EQ_INT(c->opus_max_avg_bitrate, 0);
    CHECK_EQ_INT(c->opus_max_playback_rate, 0);
    CHECK_EQ_STR(c->fmtp, "minptime=10;useinbandfec=1");
    CHECK(strlen(r.text) < 2000);
    result_free(&r);
  }
  /* the bounds themselves are accepted */
  answer_audio("111", "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 maxaveragebitrate=6000\r\n",
               plan, 1, &r);
  REQUIRE(r.rc == 0);
  CHECK_EQ_INT(r.neg.media[0].codecs[0].opus_max_avg_bitrate, 6000);
  result_free(&r);
  answer_audio("111", "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 maxaveragebitrate=510000\r\n",
               plan, 1, &r);
  REQUIRE(r.rc == 0);
  CHECK_EQ_INT(r.neg.media[0].codecs[0].opus_max_avg_bitrate, 510000);
  result_free(&r);
}

TEST(audio_plan_one_mix_stream_per_answer) {
  char *s = mini("a=group:BUNDLE a1 a2\r\n"
                 "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:a1\r\na=rtcp-mux\r\na=sendrecv\r\n"
                 "a=rtpmap:111 opus/48000/2\r\n"
                 "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:a2\r\na=rtcp-mux\r\na=sendrecv\r\n"
                 "a=rtpmap:111 opus/48000/2\r\n");
  sfu_sdp_offer_t *o;
  REQUIRE(sfu_sdp_parse(s, strlen(s), &o, NULL, 0) == 0);
  sfu_sdp_local_t l = local;
  char *text, err[200];
  sfu_sdp_answer_t neg;
  /* two sending audio entries: refused, the mix is one stream */
  sfu_sdp_plan_t two[] = {audio_entry("a1", 1, 1, 10, -1), audio_entry("a2", 1, 1, 11, -1)};
  l.plan = two;
  l.n_plan = 2;
  CHECK_EQ_INT(sfu_sdp_answer(o, &l, &text, &neg, err, sizeof err), SFU_EINVAL);
  CHECK(strstr(err, "second audio section") && strstr(err, "mid a2"));
  /* what the session does: the second section neither sends nor receives (inactive) */
  two[1] = audio_entry("a2", 0, 0, 0, -1);
  REQUIRE(sfu_sdp_answer(o, &l, &text, &neg, err, sizeof err) == 0);
  CHECK_EQ_INT(neg.media[0].dir, SFU_SDP_SENDRECV);
  CHECK_EQ_INT(neg.media[1].dir, SFU_SDP_INACTIVE);
  CHECK_EQ_INT(neg.media[1].send_ssrc, 0);
  CHECK_EQ_INT(count(text, "a=ssrc:10 cname"), 1);
  CHECK_EQ_INT(count(text, "a=ssrc:"), 2);
  free(text);
  sfu_sdp_answer_clear(&neg);
  /* no entry for a2: answered as before plans (the reverse of the offer, no ssrc) */
  l.n_plan = 1;
  REQUIRE(sfu_sdp_answer(o, &l, &text, &neg, err, sizeof err) == 0);
  CHECK_EQ_INT(neg.media[1].dir, SFU_SDP_SENDRECV);
  CHECK_EQ_INT(count(text, "a=ssrc:"), 2);
  free(text);
  sfu_sdp_answer_clear(&neg);
  sfu_sdp_offer_free(o);
  free(s);
}

static int print_plan_answer(void) {
  static char buf[SFU_SDP_MAX_SIZE];
  size_t len = fread(buf, 1, sizeof buf, stdin);
  sfu_sdp_offer_t *o;
  char err[256], tracks[SFU_SDP_MAX_MEDIA][80];
  if (sfu_sdp_parse(buf, len, &o, err, sizeof err)) {
    fprintf(stderr, "parse: %s\n", err);
    return 1;
  }
  sfu_sdp_plan_t plan[SFU_SDP_MAX_MEDIA];
  size_t n = 0;
  for (size_t i = 0; i < o->n_media; i++) {
    const sfu_sdp_media_t *m = &o->media[i];
    if (!m->mid) continue;
    snprintf(tracks[n], sizeof tracks[n], "track-%s", m->mid);
    plan[n] = (sfu_sdp_plan_t){.mid = m->mid, .recv = 1,
                               .send = m->dir == SFU_SDP_RECVONLY || m->dir == SFU_SDP_SENDRECV,
                               .ssrc = 1000 + 2 * (uint32_t)i, .rtx_ssrc = 1001 + 2 * (uint32_t)i,
                               .cname = "sfu", .msid_stream = "sfu-stream",
                               .msid_track = tracks[n], .send_pt = -1};
    n++;
  }
  sfu_sdp_local_t l = local;
  l.plan = plan;
  l.n_plan = n;
  char *text;
  int rc = sfu_sdp_answer(o, &l, &text, NULL, err, sizeof err);
  if (rc) fprintf(stderr, "answer: %s\n", err);
  else fputs(text, stdout), free(text);
  sfu_sdp_offer_free(o);
  return rc != 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--print-plan-answer") == 0) return print_plan_answer();
  RUN(every_captured_offer_parses_and_is_answered);
  RUN(lf_only_parses_like_crlf);
  RUN(chromium_simulcast_offer_parsed);
  RUN(chromium_simulcast_answer);
  RUN(chromium_ice_restart_gives_new_remote_credentials);
  RUN(chromium_h264_only);
  RUN(chromium_recvonly_subscriber);
  RUN(chromium_audio_only_and_datachannel_only);
  RUN(max_message_size_absent_zero_and_value);
  RUN(aiortc_extension_id_reuse_mapped_per_section);
  RUN(aiortc_legacy_sctp_form);
  RUN(no_bundle_accepts_first_section_only);
  RUN(recorded_peer_outcomes_ok);
  RUN(error_no_fingerprint);
  RUN(error_no_ice_credentials);
  RUN(error_no_codec);
  RUN(error_setup_passive_and_ice_lite_offerer);
  RUN(session_level_inherited_media_level_wins);
  RUN(simulcast_paused_alternatives_and_recv);
  RUN(bundle_only_section_rtcp_mux_only_and_ipv6);
  RUN(extmap_direction_and_ids);
  RUN(strict_where_it_matters);
  RUN(credentials_and_fingerprints_peers_send);
  RUN(bounds);
  RUN(fingerprint_every_sha_hash_and_the_whole_set_kept);
  RUN(fingerprint_md5_and_md2_refused_naming_the_hash);
  RUN(fingerprint_set_is_capped);
  RUN(bundled_sections_must_agree_on_fingerprints);
  RUN(fmtp_answer_keeps_only_parameters_the_worker_understands);
  RUN(fmtp_overlong_or_with_a_lone_cr_is_never_echoed);
  RUN(echoed_tokens_are_short_tokens);
  RUN(every_truncation_of_simulcast_offer);
  RUN(garbage_and_mutations);
  RUN(plan_send_on_chromium_recvonly_sections);
  RUN(plan_rtx_only_when_negotiated);
  RUN(plan_refusing_recv_on_simulcast_section);
  RUN(plan_sendrecv_section_directions);
  RUN(plan_bad_entries_are_refused);
  RUN(legacy_ssrc_group_sim_parsed);
  RUN(audio_plan_chromium_mix_stream_red_and_level);
  RUN(audio_without_plan_entry_is_byte_identical);
  RUN(audio_plan_aiortc);
  RUN(audio_plan_red_only_for_the_accepted_opus);
  RUN(audio_plan_opus_fmtp_parsed_and_answered);
  RUN(audio_plan_one_mix_stream_per_answer);
  return test_summary();
}
