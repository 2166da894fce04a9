/* The sending side of a synthetic attendee: frames per layer at a fixed bitrate, VP8
 * (RFC 7741) or H.264 (RFC 6184 mode 1) packetization, a 1 s history answering NACKs
 * with RTX (RFC 4588) or a resend, keyframes on PLI (RFC 4585 §6.3.1) / FIR (RFC 5104
 * §4.3.1) and every 10 s, SR + SDES every second (RFC 3550 §6.4.1). */
#include <stdlib.h>
#include <string.h>

#include "load_codec.h"
#include "load_internal.h"
#include "sfu/pacer.h"
#include "sfu/rtcp.h"
#include "sfu/rtp.h"

static const struct {
  const char *rid;
  uint16_t w, h;
  uint32_t bps;
} layer_spec[3] = {{"q", 320, 180, 150000}, {"h", 640, 360, 500000}, {"f", 1280, 720, 1200000}};

int load_pub_init(load_peer_t *p) {
  p->n_layers = p->cfg.layers == 3 ? 3 : 1;
  for (size_t i = 0; i < p->n_layers; i++) {
    load_layer_t *l = &p->layers[i];
    if (p->n_layers == 3) {
      strcpy(l->rid, layer_spec[i].rid);
      l->width = layer_spec[i].w;
      l->height = layer_spec[i].h;
      l->bitrate_bps = layer_spec[i].bps;
      if (p->cfg.bitrate_bps) /* benchmarks: scaled, same ratio to the top layer */
        l->bitrate_bps = (uint32_t)((uint64_t)p->cfg.bitrate_bps * layer_spec[i].bps /
                                    layer_spec[2].bps);
    } else {
      l->width = 640;
      l->height = 360;
      l->bitrate_bps = p->cfg.bitrate_bps ? p->cfg.bitrate_bps : 800000;
    }
    do l->ssrc = (uint32_t)load_rand(p);
    while (!l->ssrc);
    do l->rtx_ssrc = (uint32_t)load_rand(p);
    while (!l->rtx_ssrc || l->rtx_ssrc == l->ssrc);
    l->seq = (uint16_t)load_rand(p);
    l->rtx_seq = (uint16_t)load_rand(p);
    l->ts_base = (uint32_t)load_rand(p);
    l->pic_id = (uint16_t)(load_rand(p) & 0x7fff);
    l->tl0 = (uint8_t)load_rand(p);
    l->hist = calloc(LOAD_HIST, sizeof *l->hist);
    if (!l->hist) return -1;
  }
  if (p->cfg.pace > 0) {
    /* The rate libwebrtc would pace at if its estimate were just what it sends (on a
     * good uplink it is higher: this spreads a frame the most). */
    uint64_t total = 0;
    for (size_t i = 0; i < p->n_layers; i++) total += p->layers[i].bitrate_bps;
    p->pacer = sfu_pacer_new(0, 0);
    if (!p->pacer) return -1;
    sfu_pacer_set_rate(p->pacer, 0, (uint64_t)(p->cfg.pace * (double)total));
  }
  return 0;
}

void load_pub_free(load_peer_t *p) {
  sfu_pacer_free(p->pacer);
  p->pacer = NULL;
  for (size_t i = 0; i < p->n_layers; i++) {
    free(p->layers[i].hist);
    p->layers[i].hist = NULL;
  }
}

static uint32_t rtp_ts(const load_peer_t *p, const load_layer_t *l, uint64_t now_us) {
  return l->ts_base + (uint32_t)((now_us - p->start_us) * 90u / 1000u); /* 90 kHz */
}

/* Every packet carries mid, rid (simulcast only: a single stream has no a=rid), the
 * transport-wide sequence number and abs-send-time, as Chromium sends them. */
static load_rtp_ext_t make_ext(load_peer_t *p, const load_layer_t *l, uint64_t now_us, int rtx) {
  load_rtp_ext_t e = {.mid_id = LOAD_EXT_MID, .mid = "0", .twcc_id = LOAD_EXT_TWCC,
                      .twcc_seq = p->twcc_seq++, .abs_id = LOAD_EXT_ABS_SEND_TIME,
                      .abs_send_time = sfu_rtp_abs_send_time_from_us(now_us)};
  if (l->rid[0] && !rtx) {
    e.rid_id = LOAD_EXT_RID;
    e.rid = l->rid;
  } else if (l->rid[0]) {
    e.rrid_id = LOAD_EXT_RRID;
    e.rrid = l->rid;
  }
  return e;
}

static uint8_t media_pt(const load_peer_t *p) {
  return p->cfg.codec == LOAD_H264 ? LOAD_PT_H264 : LOAD_PT_VP8;
}

/* One media packet: header + payload (pl1 then pl2), kept in the history, sent. */
static void emit(load_peer_t *p, load_layer_t *l, uint64_t now_us, uint32_t ts, int marker,
                 const uint8_t *pl1, size_t n1, const uint8_t *pl2, size_t n2) {
  uint8_t buf[LOAD_MAX_PAYLOAD + 200];
  load_rtp_hdr_t h = {.pt = media_pt(p), .marker = (uint8_t)marker, .seq = l->seq++, .ts = ts,
                      .ssrc = l->ssrc};
  load_rtp_ext_t e = make_ext(p, l, now_us, 0);
  int hl = load_rtp_write_header(buf, sizeof buf, &h, &e);
  if (hl < 0 || (size_t)hl + n1 + n2 > sizeof buf - 40) return;
  memcpy(buf + hl, pl1, n1);
  if (n2) memcpy(buf + hl + n1, pl2, n2);
  size_t len = (size_t)hl + n1 + n2;
  load_hist_slot_t *s = &l->hist[h.seq % LOAD_HIST];
  if (len <= sizeof s->data) {
    memcpy(s->data, buf, len);
    s->len = (uint16_t)len;
    s->hdr_len = (uint16_t)hl;
    s->seq = h.seq;
    s->at_us = now_us;
    s->used = 1;
  }
  l->packets++;
  l->octets += n1 + n2;
  l->last_ts = ts;
  load_send_rtp(p, buf, len, sizeof buf);
}

/* RFC 7741: descriptor on every packet; the first carries the frame tag (and, for a
 * keyframe, start code and size); the rest is filler. */
static void vp8_frame(load_peer_t *p, load_layer_t *l, uint64_t now_us, uint32_t ts, int key,
                      size_t bytes) {
  uint8_t pl[LOAD_MAX_PAYLOAD];
  size_t left = bytes, room = LOAD_MAX_PAYLOAD - LOAD_VP8_DESC_LEN; /* bytes >= 64 */
  uint32_t part = (uint32_t)(bytes / 4);
  for (int first = 1; left > 0; first = 0) {
    size_t o = (size_t)load_vp8_write_desc(pl, sizeof pl, first, l->pic_id, l->tl0);
    size_t take = left < room ? left : room, fill = take;
    if (first) {
      int n = key ? load_vp8_write_key_header(pl + o, sizeof pl - o, l->width, l->height, part)
                  : load_vp8_write_delta_tag(pl + o, sizeof pl - o, part);
      o += (size_t)n;
      fill -= (size_t)n;
    }
    memcpy(pl + o, load_noise(p, fill), fill);
    left -= take;
    emit(p, l, now_us, ts, left == 0, pl, o + fill, NULL, 0);
  }
  l->pic_id = (uint16_t)((l->pic_id + 1) & 0x7fff);
  l->tl0++;
}

/* RFC 6184: a NAL unit in one packet if it fits (§5.6), else FU-A fragments (§5.8). */
static void h264_nal(load_peer_t *p, load_layer_t *l, uint64_t now_us, uint32_t ts,
                     uint8_t nal_hdr, size_t body, int last_of_frame) {
  if (1 + body <= LOAD_MAX_PAYLOAD) {
    emit(p, l, now_us, ts, last_of_frame, &nal_hdr, 1, load_noise(p, body), body);
    return;
  }
  size_t room = LOAD_MAX_PAYLOAD - 2, off = 0;
  while (off < body) {
    size_t take = body - off < room ? body - off : room;
    uint8_t fu[2] = {(uint8_t)((nal_hdr & 0x60) | 28),
                     (uint8_t)((off == 0 ? 0x80 : 0) | (off + take == body ? 0x40 : 0) |
                               (nal_hdr & 0x1f))};
    off += take;
    emit(p, l, now_us, ts, last_of_frame && off == body, fu, 2, load_noise(p, take), take);
  }
}

static void h264_frame(load_peer_t *p, load_layer_t *l, uint64_t now_us, uint32_t ts, int key,
                       size_t bytes) {
  if (key) {
    /* RFC 6184 §5.7.1 STAP-A: NAL header (NRI of its units, type 24), then units with a
     * 16-bit size each: SPS and PPS, as libwebrtc sends them ahead of an IDR. */
    uint8_t stap[128];
    size_t o = 1;
    stap[0] = 0x78;
    int n = load_h264_write_sps(stap + o + 2, sizeof stap - o - 2, l->width, l->height);
    if (n <= 0) return;
    stap[o] = 0;
    stap[o + 1] = (uint8_t)n;
    o += 2 + (size_t)n;
    n = load_h264_write_pps(stap + o + 2, sizeof stap - o - 2);
    if (n <= 0) return;
    stap[o] = 0;
    stap[o + 1] = (uint8_t)n;
    o += 2 + (size_t)n;
    emit(p, l, now_us, ts, 0, stap, o, NULL, 0);
  }
  h264_nal(p, l, now_us, ts, key ? 0x65 : 0x41, bytes, 1); /* IDR NRI 3 / non-IDR NRI 2 */
}

void load_pub_frame(load_peer_t *p, uint64_t now_us) {
  int periodic = now_us >= p->next_key_us;
  if (periodic) p->next_key_us = now_us + LOAD_KEY_INTERVAL_US;
  for (size_t i = 0; i < p->n_layers; i++) {
    load_layer_t *l = &p->layers[i];
    int key = periodic || l->key_pending;
    size_t bytes = l->bitrate_bps / 8u / (unsigned)p->cfg.fps;
    if (key) bytes *= 2; /* keyframes are the big ones */
    if (bytes < 64) bytes = 64;
    uint32_t ts = rtp_ts(p, l, now_us);
    if (p->cfg.codec == LOAD_H264) h264_frame(p, l, now_us, ts, key, bytes);
    else vp8_frame(p, l, now_us, ts, key, bytes);
    l->frames++;
    if (key) l->keyframes++;
    l->key_pending = 0;
  }
}

/* Padding-only packets on the media SSRC (what libwebrtc probes with when RTX is off):
 * P bit, no payload, 224 bytes of padding whose last byte is the count (RFC 3550 §5.1).
 * They take a media sequence number; the worker must not forward them. */
void load_pub_padding(load_peer_t *p, uint64_t now_us) {
  for (size_t i = 0; i < p->n_layers; i++) {
    load_layer_t *l = &p->layers[i];
    uint8_t buf[400];
    load_rtp_hdr_t h = {.pt = media_pt(p), .padding = 1, .seq = l->seq++, .ts = l->last_ts,
                        .ssrc = l->ssrc};
    load_rtp_ext_t e = make_ext(p, l, now_us, 0);
    int hl = load_rtp_write_header(buf, sizeof buf, &h, &e);
    if (hl < 0) continue;
    memset(buf + hl, 0, 224);
    buf[hl + 223] = 224;
    l->padding_sent++;
    load_send_rtp(p, buf, (size_t)hl + 224, sizeof buf);
  }
}

static load_layer_t *layer_by_ssrc(load_peer_t *p, uint32_t ssrc) {
  for (size_t i = 0; i < p->n_layers; i++)
    if (p->layers[i].ssrc == ssrc) return &p->layers[i];
  return NULL;
}

/* RFC 4588 §4: RTX packet = original header fields on the RTX SSRC/PT/seq, OSN first.
 * Without RTX the original bytes go again (the SRTP repeat guard lets identical bytes
 * through for recent indexes). */
static void resend(load_peer_t *p, load_layer_t *l, uint64_t now_us, uint16_t seq) {
  load_hist_slot_t *s = &l->hist[seq % LOAD_HIST];
  if (!s->used || s->seq != seq || now_us - s->at_us > LOAD_HIST_US) {
    l->nack_misses++;
    return;
  }
  uint8_t buf[LOAD_MAX_PAYLOAD + 240];
  if (!p->cfg.pub_rtx) {
    memcpy(buf, s->data, s->len);
    l->resent++;
    load_send_rtp(p, buf, s->len, sizeof buf);
    return;
  }
  load_rtp_hdr_t h = {.pt = p->cfg.codec == LOAD_H264 ? LOAD_PT_H264_RTX : LOAD_PT_VP8_RTX,
                      .marker = (uint8_t)(s->data[1] >> 7), .seq = l->rtx_seq++,
                      .ts = sfu_rd32(s->data + 4), .ssrc = l->rtx_ssrc};
  load_rtp_ext_t e = make_ext(p, l, now_us, 1);
  int hl = load_rtp_write_header(buf, sizeof buf, &h, &e);
  size_t pl = (size_t)(s->len - s->hdr_len);
  if (hl < 0 || (size_t)hl + 2 + pl > sizeof buf - 40) return;
  sfu_wr16(buf + hl, seq);
  memcpy(buf + hl + 2, s->data + s->hdr_len, pl);
  l->rtx_sent++;
  load_send_rtp(p, buf, (size_t)hl + 2 + pl, sizeof buf);
}

void load_pub_on_nack(load_peer_t *p, uint64_t now_us, uint32_t media_ssrc,
                      const uint16_t *seqs, size_t n) {
  load_layer_t *l = layer_by_ssrc(p, media_ssrc);
  if (!l) return;
  l->nacks++;
  l->nacked_seqs += n;
  for (size_t i = 0; i < n; i++) resend(p, l, now_us, seqs[i]);
}

void load_pub_on_keyreq(load_peer_t *p, uint32_t media_ssrc, int fir) {
  load_layer_t *l = layer_by_ssrc(p, media_ssrc);
  if (!l) return;
  if (fir) l->firs++;
  else l->plis++;
  l->key_pending = 1;
}

size_t load_pub_write_sr(load_peer_t *p, uint64_t now_us, uint8_t *buf, size_t cap) {
  size_t o = 0;
  uint64_t ntp = load_ntp(p, now_us);
  for (size_t i = 0; i < p->n_layers; i++) {
    load_layer_t *l = &p->layers[i];
    sfu_rtcp_sr_t sr = {.ssrc = l->ssrc, .ntp = ntp, .rtp_ts = rtp_ts(p, l, now_us),
                        .packet_count = (uint32_t)l->packets, .octet_count = (uint32_t)l->octets};
    int n = sfu_rtcp_write_sr(buf + o, cap - o, &sr, NULL, 0);
    if (n < 0) break;
    o += (size_t)n;
    n = sfu_rtcp_write_sdes_cname(buf + o, cap - o, l->ssrc, p->cname, strlen(p->cname));
    if (n < 0) break;
    o += (size_t)n;
  }
  return o;
}
