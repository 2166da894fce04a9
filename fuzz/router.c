/* libFuzzer target: the video router (router.h) in a hostile meeting (issue 7 "Bad input").
 * Two publishers (peer 0: 3-layer rid simulcast VP8, half its frames with temporal layer
 * ids; peer 1: one H.264 stream with RTX)
 * and three viewers with different MaxLayer / RTX / TWCC / codecs. The input is a list of
 * operations, each chosen by a selector byte: RTP from a publisher (built on a valid
 * header with mid / rid extensions, then lied about: SSRCs, rids, payload types, seq
 * jumps, RTX, padding, keyframe headers, garbage payloads, byte mutations), RTCP from any
 * peer (NACK / PLI / FIR / REMB / SR / RR / BYE / transport-cc feedback templates,
 * mutated: feedback gives a viewer an estimate, hence a paced downlink), time, set_views,
 * publish, capabilities, a peer freed and created again.
 *
 * Invariants, checked on every packet a viewer gets (abort() so libFuzzer reports them):
 *  1. it parses (sfu_rtp_parse) and leaves room for the SRTP tag in the scratch buffer;
 *  2. its SSRC is one that the viewer's last set_views declared (media or RTX), with the
 *     payload type declared for it;
 *  3. it belongs to the stream declared on that SSRC: every payload a publisher sends ends
 *     with a 4-byte trailer naming the publisher (the harness rewrites it after any
 *     mutation), and the router never moves a payload's end;
 *  4. SRTP nonce rule (RFC 3711 §3.3.1, RFC 7714 §8.1: one plaintext per index): per
 *     outgoing SSRC, a sequence number met again within the last 64 comes with the same
 *     bytes;
 *  5. timestamps: per outgoing media SSRC, among media (non padding-only) packets within
 *     64 sequence numbers of each other, sequence order is timestamp order:
 *     seq_b after seq_a (mod 2^16) implies (int32_t)(ts_b - ts_a) >= 0 (ts mod 2^32
 *     within a window of 2^31) -- provided the publisher itself kept timestamps in seq
 *     order on each of its SSRCs (checked only for streams whose headers were never
 *     mutated byte-wise).
 * And every RTCP packet the router sends validates as a compound.
 *
 * Viewers that negotiated transport-cc answer with feedback as a browser does: arrivals
 * recorded by the worker's own receiver (twcc_recv.h; ~3 % of them "lost" by the PRNG),
 * its feedback fed back at every router deadline, so the downlink estimate, probes, the
 * allocation and the publishers' REMB (router_remb.c) run on what the fuzzer sends.
 *
 * sfu_random_bytes is replaced by a PRNG seeded per input, so that runs reproduce;
 * ROUTER_FUZZ_DEBUG=1 traces packets in and out (to read a reproducer). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sfu/bytes.h"
#include "sfu/err.h"
#include "sfu/ids.h"
#include "sfu/router.h"
#include "sfu/rtcp.h"
#include "sfu/rtp.h"
#include "sfu/sdp.h"
#include "sfu/twcc_recv.h"

#define CHECK(x)       \
  do {                 \
    if (!(x)) abort(); \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- deterministic randomness ---- */

static uint64_t g_rng;

int sfu_random_bytes(void *buf, size_t len) {
  uint8_t *b = buf;
  for (size_t i = 0; i < len; i++) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    b[i] = (uint8_t)(g_rng >> 24);
  }
  return 0;
}

static uint32_t rng32(void) {
  uint32_t x;
  sfu_random_bytes(&x, sizeof x);
  return x;
}

/* ---- the input ---- */

typedef struct {
  const uint8_t *p;
  size_t n;
} rd_t;

static uint8_t rd8(rd_t *r) {
  if (!r->n) return 0;
  r->n--;
  return *r->p++;
}
static uint16_t rd16(rd_t *r) {
  uint16_t hi = rd8(r);
  return (uint16_t)(hi << 8 | rd8(r));
}
static uint32_t rd32(rd_t *r) {
  uint32_t hi = rd16(r);
  return hi << 16 | rd16(r);
}

/* ---- the meeting ---- */

#define N_PEERS 5 /* 0, 1 publish; 2, 3, 4 view */
#define N_SECT 3  /* receiving sections per viewer */
#define EXT_MID 4
#define EXT_RID 10
#define EXT_RRID 11
#define EXT_TWCC 3
#define VIEW_EXT_MID 9
#define VIEW_EXT_TWCC 5
#define PT_VP8 96
#define PT_VP8_RTX 97
#define PT_H264 102
#define PT_H264_RTX 103
#define TRAILER_LEN 4

/* One outgoing SSRC a viewer declared: what it may carry and what it carried. */
typedef struct {
  uint32_t ssrc;
  uint8_t rtx, pt;
  uint32_t sid; /* the stream declared on it (it may be gone since) */
  struct {
    uint16_t seq;
    uint8_t used, media;
    uint32_t ts;
    uint64_t hash;
  } ring[64];
} ostream_t;

typedef struct {
  sfu_router_peer_t *p;
  int idx;
  ostream_t os[2 * N_SECT];
  size_t n_os;
  sfu_twcc_recv_t twcc; /* a viewer's transport-cc arrivals */
} fpeer_t;

/* A publisher's source (one SSRC): timestamps kept in seq order (ts_at by extended seq). */
typedef struct {
  uint32_t ssrc, rtx_ssrc;
  uint32_t max; /* extended seq of the newest packet */
  uint8_t started;
  uint32_t tag[256], ts_at[256];
  uint8_t has[256];
  uint16_t rtx_seq;
  uint16_t pic;
  uint8_t tl0;
  uint8_t tbit, tid, sync; /* VP8 temporal layers (T: TID, Y), drawn per frame */
} gsrc_t;

typedef struct {
  gsrc_t src[3];
  size_t n_layers;
  const char *rids[3];
  uint8_t tainted; /* headers mutated byte-wise: timestamps not the harness's any more */
  uint32_t sid;
} gpub_t;

static struct {
  sfu_router_t *r;
  fpeer_t peers[N_PEERS];
  gpub_t pubs[2];
  uint64_t now;
  int debug; /* ROUTER_FUZZ_DEBUG set: a trace of what goes in and out, on stderr */
  uint8_t pkt[1600], pkt2[1600], fb[4096];
} G;

static const uint8_t sps_720p[] = {0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05,
                                   0xbb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00,
                                   0x00, 0x03, 0x03, 0xc0, 0xf1, 0x83, 0x19, 0x60};
static const uint8_t pps[] = {0x68, 0xce, 0x38, 0x80};

static uint64_t fnv(const uint8_t *b, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

static int trailer_of(const uint8_t *pl, size_t n) {
  if (n < TRAILER_LEN || pl[n - 4] != 0xA5 || pl[n - 3] != 0x5A || pl[n - 2] != 0xC3) return -1;
  return pl[n - 1];
}

static void put_trailer(uint8_t *pl, int pub) {
  pl[0] = 0xA5;
  pl[1] = 0x5A;
  pl[2] = 0xC3;
  pl[3] = (uint8_t)pub;
}

/* ---- the capture callbacks: the invariants ---- */

/* The publisher whose stream sid is, if it is still published. */
static int8_t pub_of_sid(uint32_t sid) {
  for (int i = 0; i < 2; i++)
    if (sid && G.pubs[i].sid == sid && G.peers[i].p && sfu_router_peer_pub_count(G.peers[i].p))
      return (int8_t)i;
  return -1;
}

static int cap_rtp(void *u, uint8_t *buf, size_t len, size_t cap) {
  fpeer_t *fp = u;
  CHECK(len + 16 <= cap); /* room for the SRTP tag */
  sfu_rtp_hdr_t h;
  CHECK(sfu_rtp_parse(buf, len, &h) == 0);
  ostream_t *os = NULL;
  for (size_t i = 0; i < fp->n_os; i++)
    if (fp->os[i].ssrc == h.ssrc) os = &fp->os[i];
  CHECK(os != NULL);
  CHECK(h.payload_type == os->pt);
  const uint8_t *xd;
  size_t xl;
  uint16_t tseq;
  if (sfu_rtp_ext_find(&h, VIEW_EXT_TWCC, &xd, &xl) == 0 &&
      sfu_rtp_ext_twcc_seq(xd, xl, &tseq) == 0 && (rng32() & 31) != 0)
    sfu_twcc_recv_packet(&fp->twcc, tseq, h.ssrc, G.now);
  int padding_only = sfu_rtp_is_padding_only(&h);
  const uint8_t *pl = h.payload;
  size_t pll = h.payload_len;
  if (os->rtx) {
    CHECK(pll >= 2); /* OSN */
    pl += 2;
    pll -= 2;
  }
  int pub = pub_of_sid(os->sid);
  int t = trailer_of(pl, pll);
  if (t >= 0) CHECK(t == pub);
  uint64_t hash = fnv(buf, len);
  if (G.debug)
    fprintf(stderr, "OUT peer%d ssrc=%08x seq=%u ts=%u pt=%u len=%zu pl=%zu pad=%d\n", fp->idx,
            h.ssrc, h.seq, h.timestamp, h.payload_type, len, h.payload_len, padding_only);
  int media = !os->rtx && !padding_only;
  int check_ts = media && pub >= 0 && !G.pubs[pub].tainted;
  for (size_t i = 0; i < 64; i++) {
    if (!os->ring[i].used) continue;
    int16_t d = (int16_t)(h.seq - os->ring[i].seq);
    if (d == 0) CHECK(os->ring[i].hash == hash);
    if (check_ts && os->ring[i].media && d > -64 && d < 64) {
      if (d > 0) CHECK((int32_t)(h.timestamp - os->ring[i].ts) >= 0);
      if (d < 0) CHECK((int32_t)(os->ring[i].ts - h.timestamp) >= 0);
    }
  }
  size_t k = h.seq & 63;
  os->ring[k].used = 1;
  os->ring[k].seq = h.seq;
  os->ring[k].ts = h.timestamp;
  os->ring[k].media = (uint8_t)media;
  os->ring[k].hash = hash;
  return 0;
}

static int cap_rtcp(void *u, uint8_t *buf, size_t len, size_t cap) {
  (void)u;
  CHECK(len + 16 <= cap);
  CHECK(sfu_rtcp_validate(buf, len) > 0);
  return 0;
}

static void on_ev(void *u, const sfu_router_event_t *ev) {
  (void)u;
  if (ev->kind == SFU_ROUTER_EV_SEND_REFUSED) CHECK(ev->message && ev->message[0]);
}

/* ---- negotiation ---- */

static void codec(sfu_router_codec_t *c, int h264, uint8_t pt, int rtx_pt) {
  memset(c, 0, sizeof *c);
  c->pt = pt;
  c->rtx_pt = (int16_t)rtx_pt;
  c->clock_rate = 90000;
  strcpy(c->name, h264 ? "H264" : "VP8");
  c->rtcp_fb = SFU_SDP_FB_NACK | SFU_SDP_FB_NACK_PLI | SFU_SDP_FB_CCM_FIR;
}

static void pub_ext(sfu_rtp_ext_map_t *m) {
  sfu_rtp_ext_map_init(m);
  sfu_rtp_ext_map_set(m, EXT_MID, SFU_EXT_MID);
  sfu_rtp_ext_map_set(m, EXT_RID, SFU_EXT_RID);
  sfu_rtp_ext_map_set(m, EXT_RRID, SFU_EXT_REPAIRED_RID);
  sfu_rtp_ext_map_set(m, EXT_TWCC, SFU_EXT_TWCC);
}

static const char *const rid_sets[][3] = {
    {"q", "h", "f"}, {"f", "h", "q"}, {"q", NULL, NULL}, {"q", "h", "x"}, {"h", "f", NULL}};

static void src_reset(gsrc_t *g) {
  memset(g, 0, sizeof *g);
  g->ssrc = rng32() | 0x100;
  g->rtx_ssrc = rng32() | 0x100;
  g->rtx_seq = (uint16_t)rng32();
  g->pic = (uint16_t)(rng32() & 0x7fff);
}

/* variant: for peer 0, a rid set (5 = unpublish); for peer 1, 0 declared SSRCs, 1 learned
 * from the payload type, 2 unpublish, 3 VP8 + H.264 with H.264 first. */
static void do_publish(int i, unsigned variant) {
  fpeer_t *fp = &G.peers[i];
  gpub_t *gp = &G.pubs[i];
  if (!fp->p) return;
  sfu_router_pub_desc_t d;
  memset(&d, 0, sizeof d);
  strcpy(d.mid, i == 0 ? "0" : "1");
  pub_ext(&d.ext);
  size_t n = 1;
  if (i == 0) {
    variant %= 6;
    if (variant == 5) n = 0;
    d.n_codecs = 1;
    codec(&d.codecs[0], 0, PT_VP8, PT_VP8_RTX);
    for (size_t k = 0; k < 3 && rid_sets[variant % 5][k]; k++) {
      strcpy(d.rids[k], rid_sets[variant % 5][k]);
      gp->rids[k] = rid_sets[variant % 5][k];
      d.n_rids = k + 1;
    }
    gp->n_layers = d.n_rids;
  } else {
    variant %= 4;
    if (variant == 2) n = 0;
    d.n_codecs = 1;
    codec(&d.codecs[0], 1, PT_H264, PT_H264_RTX);
    if (variant == 3) {
      d.n_codecs = 2;
      codec(&d.codecs[1], 0, PT_VP8, PT_VP8_RTX);
    }
    if (variant == 0) {
      d.n_ssrcs = 1;
      d.ssrcs[0] = gp->src[0].ssrc;
      d.rtx_ssrcs[0] = gp->src[0].rtx_ssrc;
    }
    gp->n_layers = 1;
    gp->rids[0] = NULL;
  }
  uint32_t sid = 0;
  char err[200];
  if (sfu_router_peer_publish(G.r, fp->p, &d, n, G.now, &sid, err, sizeof err) == 0) gp->sid = sid;
}

/* One section: stream (0: peer 0's, 1: peer 1's, 2: none, 3: unknown id), codecs
 * (0 VP8, 1 H.264, 2 both, 3 none), RTX, TWCC, MaxLayer. */
static void view_desc(sfu_router_view_desc_t *d, unsigned sect, unsigned stream, unsigned codecs,
                      int rtx, int twcc, int max_layer) {
  memset(d, 0, sizeof *d);
  snprintf(d->mid, sizeof d->mid, "v%u", sect);
  if (codecs == 0 || codecs == 2) codec(&d->codecs[d->n_codecs++], 0, 100, rtx ? 101 : -1);
  if (codecs == 1 || codecs == 2) codec(&d->codecs[d->n_codecs++], 1, 108, rtx ? 109 : -1);
  sfu_rtp_ext_map_init(&d->ext);
  sfu_rtp_ext_map_set(&d->ext, VIEW_EXT_MID, SFU_EXT_MID);
  if (twcc) sfu_rtp_ext_map_set(&d->ext, VIEW_EXT_TWCC, SFU_EXT_TWCC);
  d->stream_id = stream < 2 ? G.pubs[stream].sid : stream == 3 ? 999 : 0;
  d->max_layer = (int8_t)max_layer;
}

static void apply_views(int i, const sfu_router_view_desc_t *d, size_t n) {
  fpeer_t *fp = &G.peers[i];
  if (!fp->p) return;
  sfu_router_view_out_t out[N_SECT];
  char err[200];
  if (sfu_router_peer_set_views(G.r, fp->p, d, n, G.now, out, err, sizeof err) != 0) return;
  /* Kept SSRCs keep what they carried (their numbering goes on). */
  ostream_t old[2 * N_SECT];
  size_t n_old = fp->n_os;
  memcpy(old, fp->os, sizeof old);
  fp->n_os = 0;
  for (size_t k = 0; k < n; k++) {
    if (!out[k].stream_id) continue;
    int16_t rtx_pt = -1;
    for (size_t c = 0; c < d[k].n_codecs; c++)
      if (d[k].codecs[c].pt == out[k].pt) rtx_pt = d[k].codecs[c].rtx_pt;
    CHECK(out[k].ssrc != 0);
    CHECK(!out[k].rtx_ssrc == (rtx_pt < 0));
    for (int w = 0; w < 2; w++) {
      uint32_t ssrc = w ? out[k].rtx_ssrc : out[k].ssrc;
      if (!ssrc) continue;
      ostream_t *os = &fp->os[fp->n_os++];
      memset(os, 0, sizeof *os);
      for (size_t j = 0; j < n_old; j++)
        if (old[j].ssrc == ssrc) *os = old[j];
      os->ssrc = ssrc;
      os->rtx = (uint8_t)w;
      os->pt = w ? (uint8_t)rtx_pt : out[k].pt;
      os->sid = out[k].stream_id;
    }
  }
}

static void default_views(int i) {
  sfu_router_view_desc_t d[N_SECT];
  switch (i) {
    case 2: /* both streams, everything, top layer */
      view_desc(&d[0], 0, 0, 2, 1, 1, -1);
      view_desc(&d[1], 1, 1, 2, 1, 1, -1);
      apply_views(i, d, 2);
      break;
    case 3: /* the simulcast stream at its lowest layer, no RTX, no TWCC */
      view_desc(&d[0], 0, 0, 0, 0, 0, 0);
      apply_views(i, d, 1);
      break;
    default: /* VP8 only: the H.264 stream has no common codec */
      view_desc(&d[0], 0, 0, 0, 1, 1, 1);
      view_desc(&d[1], 1, 1, 0, 1, 0, -1);
      apply_views(i, d, 2);
      break;
  }
}

static void peer_create(int i) {
  static const char *const names[N_PEERS] = {"pub0", "pub1", "view2", "view3", "view4"};
  fpeer_t *fp = &G.peers[i];
  sfu_router_peer_desc_t d = {names[i], names[i], 0, 1, 1};
  fp->p = sfu_router_peer_new(G.r, &d, fp);
  if (fp->p) sfu_router_peer_set_ready(G.r, fp->p, 1, G.now);
  fp->n_os = 0;
  fp->idx = i;
  sfu_twcc_recv_init(&fp->twcc, VIEW_EXT_TWCC);
  if (i < 2) {
    for (int k = 0; k < 3; k++) src_reset(&G.pubs[i].src[k]);
    do_publish(i, 0);
  } else {
    default_views(i);
  }
}

/* ---- publishers' RTP ---- */

static int ts_of(const gsrc_t *g, uint32_t ext, uint32_t *ts) {
  size_t k = ext & 255;
  if (!g->has[k] || g->tag[k] != ext) return 0;
  *ts = g->ts_at[k];
  return 1;
}

static void ts_put(gsrc_t *g, uint32_t ext, uint32_t ts) {
  size_t k = ext & 255;
  g->has[k] = 1;
  g->tag[k] = ext;
  g->ts_at[k] = ts;
}

/* The next packet's extended seq and timestamp, in seq order: a new packet (delta >= 1,
 * slots skipped over get the previous timestamp, so that they may come late), or a late
 * / duplicate one (delta <= 0) with the timestamp its seq had. */
static void next_seq_ts(gsrc_t *g, int delta, uint32_t step, uint32_t *ext, uint32_t *ts) {
  if (!g->started) {
    g->started = 1;
    g->max = (uint32_t)(rng32() & 0xffff) + 0x10000;
    ts_put(g, g->max, rng32());
    *ext = g->max;
    *ts = g->ts_at[g->max & 255];
    return;
  }
  uint32_t prev = 0;
  ts_of(g, g->max, &prev);
  if (delta <= 0 && ts_of(g, g->max + (uint32_t)delta, ts)) {
    *ext = g->max + (uint32_t)delta;
    return;
  }
  if (delta <= 0) delta = 1;
  uint32_t from = (uint32_t)delta > 256 ? g->max + (uint32_t)delta - 256 : g->max + 1;
  for (uint32_t e = from; e != g->max + (uint32_t)delta; e++) ts_put(g, e, prev);
  g->max += (uint32_t)delta;
  *ext = g->max;
  *ts = prev + step;
  ts_put(g, g->max, *ts);
}

/* RFC 8285 one-byte extensions: mid, rid or repaired rid, transport-wide seq. */
static size_t put_exts(uint8_t *b, const char *mid, const char *rid, int repaired, int twcc) {
  uint8_t *el = b + 4;
  size_t k = 0;
  if (mid) {
    size_t ml = strlen(mid);
    el[k++] = (uint8_t)((EXT_MID << 4) | (ml - 1));
    memcpy(el + k, mid, ml);
    k += ml;
  }
  if (rid && rid[0]) {
    size_t rl = strlen(rid);
    el[k++] = (uint8_t)(((repaired ? EXT_RRID : EXT_RID) << 4) | (rl - 1));
    memcpy(el + k, rid, rl);
    k += rl;
  }
  if (twcc) {
    el[k++] = (EXT_TWCC << 4) | 1;
    el[k++] = 0;
    el[k++] = (uint8_t)twcc;
  }
  while (k % 4) el[k++] = 0;
  if (!k) return 0;
  sfu_wr16(b, 0xBEDE);
  sfu_wr16(b + 2, (uint16_t)(k / 4));
  return 4 + k;
}

/* A VP8 payload (RFC 7741): descriptor, then the frame header on a frame's first packet.
 * kind: 0 middle, 1 delta frame start, 2 keyframe, 3 keyframe without start code,
 * 4 keyframe of size 0, 5 keyframe of 16383x16383, 6 garbage. */
static size_t vp8_payload(uint8_t *p, gsrc_t *g, unsigned kind, unsigned layer, rd_t *in) {
  size_t n = 0;
  if (kind == 6) {
    size_t m = rd8(in) % 64;
    for (size_t i = 0; i < m; i++) p[n++] = rd8(in);
    return n;
  }
  int start = kind != 0;
  if (start) { /* half the frames with a TID (libwebrtc's 0,2,1,2, or any), Y at random */
    uint32_t x = rng32();
    static const uint8_t pattern[4] = {0, 2, 1, 2};
    g->tbit = (uint8_t)(x & 1);
    g->tid = (x & 2) ? pattern[g->pic % 4] : (uint8_t)((x >> 2) & 3);
    g->sync = (uint8_t)((x >> 4) & 1);
    if (kind >= 2) g->tid = 0;
  }
  p[n++] = (uint8_t)(0x80 | (start ? 0x10 : 0));
  p[n++] = g->tbit ? 0xE0 : 0xC0; /* I, L (, T) */
  p[n++] = (uint8_t)(0x80 | (g->pic >> 8));
  p[n++] = (uint8_t)g->pic;
  p[n++] = g->tl0;
  if (g->tbit) p[n++] = (uint8_t)(g->tid << 6 | g->sync << 5);
  if (start) {
    p[n++] = kind == 1 ? 0x01 : 0x00; /* frame tag: P bit */
    p[n++] = 0;
    p[n++] = 0;
    if (kind >= 2) {
      uint16_t w = (uint16_t)(320u << layer), h = (uint16_t)(180u << layer);
      if (kind == 4) w = h = 0;
      if (kind == 5) w = h = 16383;
      p[n++] = kind == 3 ? 0x00 : 0x9d;
      p[n++] = 0x01;
      p[n++] = 0x2a;
      p[n++] = (uint8_t)w, p[n++] = (uint8_t)(w >> 8);
      p[n++] = (uint8_t)h, p[n++] = (uint8_t)(h >> 8);
    }
    g->pic = (uint16_t)((g->pic + 1) & 0x7fff);
    g->tl0++;
  }
  size_t fill = rd8(in) % 200;
  for (size_t i = 0; i < fill; i++) p[n++] = (uint8_t)(i * 7);
  return n;
}

/* An H.264 payload (RFC 6184) whose last NAL unit has room for the trailer at its end.
 * kind: 0 FU-A middle, 1 single P slice, 2 STAP-A SPS+PPS+IDR, 3 FU-A IDR start, 4 FU-A
 * end, 5 STAP-A with a truncated SPS, 6 garbage. Returns the length before the trailer;
 * *stap_len_at: where the last STAP-A unit's length is (to grow it by the trailer). */
static size_t h264_payload(uint8_t *p, unsigned kind, rd_t *in, size_t *stap_len_at) {
  size_t n = 0;
  *stap_len_at = 0;
  size_t fill = rd8(in) % 200;
  switch (kind) {
    case 0:
    case 3:
    case 4:
      p[n++] = 0x7c; /* FU indicator: NRI 3, type 28 */
      p[n++] = (uint8_t)((kind == 3 ? 0x80 : kind == 4 ? 0x40 : 0) | 5);
      break;
    case 1:
      p[n++] = 0x41; /* non-IDR slice */
      break;
    case 2:
    case 5: {
      p[n++] = 0x78; /* STAP-A */
      size_t sl = kind == 5 ? 6 : sizeof sps_720p;
      sfu_wr16(p + n, (uint16_t)sl);
      memcpy(p + n + 2, sps_720p, sl);
      n += 2 + sl;
      sfu_wr16(p + n, sizeof pps);
      memcpy(p + n + 2, pps, sizeof pps);
      n += 2 + sizeof pps;
      *stap_len_at = n;
      sfu_wr16(p + n, (uint16_t)(1 + fill));
      n += 2;
      p[n++] = 0x65; /* IDR */
      break;
    }
    default: {
      size_t m = rd8(in) % 64;
      for (size_t i = 0; i < m; i++) p[n++] = rd8(in);
      return n;
    }
  }
  for (size_t i = 0; i < fill; i++) p[n++] = (uint8_t)(i * 13 + 1);
  return n;
}

/* One RTP packet from publisher i, described by the input. */
static void do_rtp(int i, rd_t *in) {
  fpeer_t *fp = &G.peers[i];
  gpub_t *gp = &G.pubs[i];
  if (!fp->p) return;
  uint8_t f1 = rd8(in), f2 = rd8(in), f3 = rd8(in);
  unsigned layer = (f1 & 3) % 3;
  if (gp->n_layers && layer >= gp->n_layers && !(f1 & 4)) layer = 0;
  gsrc_t *g = &gp->src[layer];
  unsigned who = (f1 >> 3) & 7; /* 0-3 media, 4 RTX, 5 new SSRC, 6 unknown, 7 rid lie */
  if (who == 5) {
    uint32_t rtx = g->rtx_ssrc;
    src_reset(g);
    g->rtx_ssrc = rtx;
  }
  int delta;
  unsigned jump = f2 & 7;
  if (jump == 7)
    delta = 1 + (int)(rd16(in) % 30000); /* < 2^15: still ahead */
  else if (jump >= 5)
    delta = 1 + (int)(f2 >> 3); /* up to 32 ahead: a loss burst */
  else if (jump == 4)
    delta = -(int)((f2 >> 3) & 7); /* late or duplicate */
  else
    delta = 1;
  uint32_t step = (f3 & 3) == 0 ? 0 : (f3 & 3) == 1 ? 3000 : (f3 & 3) == 2 ? 6000 : rd16(in) * 16u;
  gsrc_t tmp;
  gsrc_t *src = g;
  if (who == 6) { /* a stranger SSRC, once */
    src_reset(&tmp);
    src = &tmp;
  }
  uint32_t ext, ts;
  next_seq_ts(src, who == 4 ? -(int)(f2 >> 3) : delta, step, &ext, &ts);
  unsigned kind = (f3 >> 2) & 7;
  int h264 = i == 1 && !(f3 & 0x80);
  uint8_t *b = G.pkt;
  memset(b, 0, 12);
  b[0] = 0x80;
  b[1] = (uint8_t)((h264 ? PT_H264 : PT_VP8) | ((f3 & 0x40) ? 0x80 : 0));
  unsigned ptsel = (f1 >> 6) & 3;
  if (ptsel == 3) b[1] = (uint8_t)((b[1] & 0x80) | (rd8(in) & 0x7f)); /* wrong payload type */
  sfu_wr16(b + 2, (uint16_t)ext);
  sfu_wr32(b + 4, ts);
  sfu_wr32(b + 8, src->ssrc);
  const char *rid = gp->rids[layer];
  if (who == 7) {
    static const char *const lies[] = {"x", "h", "f", "", "abcdefghijklmnop"};
    rid = lies[f2 % 5];
  }
  const char *mid = (f2 & 0x80) ? NULL : (i == 0 ? "0" : "1");
  size_t x = put_exts(b + 12, mid, who == 6 ? NULL : rid, 0, (f3 & 0x20) ? 0 : 7);
  if (x) b[0] |= 0x10;
  size_t hl = 12 + x;
  size_t pl, stap = 0;
  if (h264)
    pl = h264_payload(b + hl, kind, in, &stap);
  else
    pl = vp8_payload(b + hl, src, kind, layer, in);
  if (stap) sfu_wr16(b + hl + stap, (uint16_t)(sfu_rd16(b + hl + stap) + TRAILER_LEN));
  put_trailer(b + hl + pl, i);
  size_t len = hl + pl + TRAILER_LEN;
  unsigned pad = rd8(in);
  if (pad & 1) { /* padding-only (a probe) or padded media */
    size_t pn = 1 + (pad >> 1) % 64;
    if (pad & 2) len = hl;
    memset(b + len, 0, pn);
    len += pn;
    b[len - 1] = (uint8_t)pn;
    b[0] |= 0x20;
  }
  /* Byte mutations anywhere (header included): the publisher's numbering is the fuzzer's
   * from here on; then the trailer is put back where the payload now ends. */
  unsigned nmut = rd8(in) % 8;
  if (nmut > 4) nmut = 0;
  for (unsigned k = 0; k < nmut; k++) {
    uint16_t pos = rd16(in);
    b[pos % len] = rd8(in);
    gp->tainted = 1;
  }
  if (nmut) {
    sfu_rtp_hdr_t h;
    if (sfu_rtp_parse(b, len, &h) == 0 && h.payload_len >= TRAILER_LEN)
      put_trailer(b + h.header_len + h.payload_len - TRAILER_LEN, i);
  }
  if (who == 4) {
    /* RTX (RFC 4588 §4) of that packet: repaired rid, the RTX SSRC and its own seq. */
    size_t x2 = put_exts(G.pkt2 + 12, mid, rid, 1, 0);
    sfu_rtp_hdr_t h;
    if (sfu_rtp_parse(b, len, &h) != 0) return;
    uint8_t *r = G.pkt2;
    memcpy(r, b, 12);
    r[0] = (uint8_t)((r[0] & 0xC0) | (x2 ? 0x10 : 0));
    r[1] = (uint8_t)((r[1] & 0x80) | (h264 ? PT_H264_RTX : PT_VP8_RTX));
    if (ptsel == 3) r[1] = b[1];
    sfu_wr16(r + 2, g->rtx_seq++);
    sfu_wr32(r + 8, g->rtx_ssrc);
    size_t o = 12 + x2;
    sfu_wr16(r + o, h.seq);
    memcpy(r + o + 2, h.payload, h.payload_len);
    sfu_router_on_rtp(G.r, fp->p, G.now, r, o + 2 + h.payload_len);
    return;
  }
  if (G.debug) {
    sfu_rtp_hdr_t hh;
    int rc = sfu_rtp_parse(b, len, &hh);
    fprintf(stderr, "IN pub%d rc=%d ssrc=%08x seq=%u ts=%u pt=%u pl=%zu hash=%016llx\n", i, rc,
            hh.ssrc, hh.seq, hh.timestamp, hh.payload_type, hh.payload_len,
            (unsigned long long)fnv(hh.payload, hh.payload_len));
  }
  sfu_router_on_rtp(G.r, fp->p, G.now, b, len);
}

/* ---- RTCP from any peer ---- */

static uint32_t some_ssrc(int i, unsigned sel) {
  fpeer_t *fp = &G.peers[i];
  if (sel < 4 && fp->n_os) return fp->os[sel % fp->n_os].ssrc;
  gpub_t *gp = &G.pubs[sel & 1];
  const gsrc_t *g = &gp->src[(sel >> 1) % 3];
  return sel & 8 ? g->rtx_ssrc : g->ssrc;
}

static uint16_t last_out_seq(int i, uint32_t ssrc) {
  fpeer_t *fp = &G.peers[i];
  uint16_t best = 0;
  for (size_t k = 0; k < fp->n_os; k++) {
    if (fp->os[k].ssrc != ssrc) continue;
    for (size_t j = 0; j < 64; j++)
      if (fp->os[k].ring[j].used && (int16_t)(fp->os[k].ring[j].seq - best) > 0)
        best = fp->os[k].ring[j].seq;
  }
  return best;
}

static void do_rtcp(int i, rd_t *in) {
  fpeer_t *fp = &G.peers[i];
  if (!fp->p) return;
  uint8_t f = rd8(in);
  uint32_t ssrc = some_ssrc(i, rd8(in) & 15);
  uint8_t *b = G.pkt;
  int n = -1;
  switch (f & 7) {
    case 0: { /* NACK: a run around what was sent, or everything */
      uint16_t seqs[600];
      size_t cnt = 1 + rd8(in) % 64;
      if (f & 0x80) cnt = 600;
      uint16_t base = (uint16_t)(last_out_seq(i, ssrc) - rd8(in));
      for (size_t k = 0; k < cnt; k++) seqs[k] = (uint16_t)(base + k);
      n = sfu_rtcp_write_nack(b, sizeof G.pkt, 7, ssrc, seqs, cnt);
      break;
    }
    case 1:
      n = sfu_rtcp_write_pli(b, sizeof G.pkt, 7, ssrc);
      break;
    case 2:
      n = sfu_rtcp_write_fir(b, sizeof G.pkt, 7, ssrc, rd8(in));
      break;
    case 3: {
      uint32_t ss[2] = {ssrc, some_ssrc(i, 4)};
      uint64_t bps = (uint64_t)rd32(in) << (rd8(in) % 24);
      n = sfu_rtcp_write_remb(b, sizeof G.pkt, 7, bps, ss, 1 + (f >> 7));
      break;
    }
    case 4: {
      sfu_rtcp_sr_t sr = {.ssrc = ssrc,
                          .ntp = (uint64_t)rd32(in) << 32 | rd32(in),
                          .rtp_ts = rd32(in),
                          .packet_count = 1,
                          .octet_count = 1};
      n = sfu_rtcp_write_sr(b, sizeof G.pkt, &sr, NULL, 0);
      break;
    }
    case 5: {
      sfu_rtcp_rb_t rb = {.ssrc = ssrc, .lsr = rd32(in), .dlsr = rd32(in)};
      n = sfu_rtcp_write_rr(b, sizeof G.pkt, 7, &rb, 1);
      break;
    }
    case 6:
      if (f & 0x40) {
        /* transport-cc feedback: the router's transport-wide seqs start at 0 for each
         * peer, so small bases hit what it sent: an estimate, then a pacing rate */
        sfu_rtcp_twcc_t hdr = {.sender_ssrc = 7, .media_ssrc = ssrc, .base_seq = rd8(in),
                               .ref_time = (int32_t)(G.now / 64000 + rd8(in) % 4),
                               .fb_count = rd8(in)};
        sfu_rtcp_twcc_pkt_t pk[64];
        size_t cnt = 1 + rd8(in) % 64;
        for (size_t k = 0; k < cnt; k++) {
          uint8_t x = rd8(in);
          pk[k].seq = (uint16_t)(hdr.base_seq + k);
          pk[k].status = x < 16 ? SFU_TWCC_NOT_RECEIVED : x < 240 ? SFU_TWCC_SMALL_DELTA
                                                                  : SFU_TWCC_LARGE_DELTA;
          pk[k].delta = pk[k].status == SFU_TWCC_NOT_RECEIVED ? 0
                        : pk[k].status == SFU_TWCC_SMALL_DELTA ? x % 64
                                                               : (int16_t)rd16(in);
        }
        hdr.status_count = (uint16_t)cnt;
        n = sfu_rtcp_write_twcc(b, sizeof G.pkt, &hdr, pk, cnt);
        break;
      }
      n = sfu_rtcp_write_bye(b, sizeof G.pkt, &ssrc, 1);
      break;
    default: {
      size_t m = rd8(in);
      for (size_t k = 0; k < m; k++) b[k] = rd8(in);
      n = (int)m;
      break;
    }
  }
  if (n < 0) return;
  unsigned nmut = (f >> 3) & 3;
  for (unsigned k = 0; k < nmut && n > 0; k++) {
    uint16_t pos = rd16(in);
    b[pos % (unsigned)n] = rd8(in);
  }
  if (G.debug) fprintf(stderr, "RTCP from %d kind %d n=%d\n", i, f & 7, n);
  sfu_router_on_rtcp(G.r, fp->p, G.now, b, (size_t)n);
}

/* ---- time ---- */

/* Viewers' transport-cc feedback that is due (never from inside a router callback). */
static void feedback(void) {
  for (int i = 2; i < N_PEERS; i++) {
    fpeer_t *fp = &G.peers[i];
    if (!fp->p) continue;
    int n = sfu_twcc_recv_build(&fp->twcc, G.now, 0x77, G.fb, sizeof G.fb);
    if (n > 0) sfu_router_on_rtcp(G.r, fp->p, G.now, G.fb, (size_t)n);
  }
}

static void advance(uint64_t us) {
  uint64_t end = G.now + us;
  for (int guard = 0; guard < 100000; guard++) {
    uint64_t d = sfu_router_next_deadline(G.r);
    if (d > end) d = end;
    if (d < G.now) d = G.now;
    G.now = d;
    sfu_router_handle_timeout(G.r, G.now);
    feedback();
    if (G.now == end) return;
  }
  abort(); /* the deadline never moved on */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  rd_t in = {data, size};
  memset(&G, 0, sizeof G);
  G.debug = getenv("ROUTER_FUZZ_DEBUG") != NULL;
  g_rng = 0x9E3779B97F4A7C15ull;
  sfu_router_config_t cfg = {1280, 720, 1920, 1080, 1500000, 25, 0, 0};
  sfu_router_cbs_t cbs = {cap_rtp, cap_rtcp, on_ev, NULL, NULL};
  G.r = sfu_router_new(&cfg, &cbs);
  G.now = 1000000;
  for (int i = 0; i < N_PEERS; i++) peer_create(i);
  int ops = 0;
  while (in.n && ops++ < 2000) {
    uint8_t op = rd8(&in);
    int who = (op >> 4) % N_PEERS;
    switch (op & 15) {
      case 0:
      case 1:
      case 2:
      case 3:
      case 4:
      case 5:
        do_rtp(who & 1, &in);
        break;
      case 6:
      case 7:
      case 8:
        do_rtcp(who, &in);
        break;
      case 9:
        advance((uint64_t)rd8(&in) * 1000u);
        break;
      case 10:
        advance((uint64_t)rd8(&in) * 100000u);
        break;
      case 11: {
        sfu_router_view_desc_t d[N_SECT];
        size_t n = rd8(&in) % (N_SECT + 1);
        for (size_t k = 0; k < n; k++) {
          uint8_t a = rd8(&in);
          view_desc(&d[k], (a >> 6) % N_SECT, a & 3, (a >> 2) & 3, (a >> 4) & 1, (a >> 5) & 1,
                    (int)(rd8(&in) % 5) - 1);
        }
        apply_views(who, d, n);
        break;
      }
      case 12:
        do_publish(who & 1, rd8(&in));
        break;
      case 13:
        if (G.peers[who].p)
          sfu_router_peer_set_caps(G.r, G.peers[who].p, rd8(&in) & 1, rd8(&in) & 1, G.now);
        break;
      default:
        if (G.peers[who].p) {
          sfu_router_peer_free(G.r, G.peers[who].p, G.now);
          G.peers[who].p = NULL;
        }
        if (op & 0x80) peer_create(who);
        break;
    }
  }
  sfu_router_free(G.r);
  return 0;
}
