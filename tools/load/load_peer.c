/* See load_peer.h. Lifecycle, offer/answer, SRTP glue, RTCP from the worker, timers. */
#include "load_peer.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load_internal.h"
#include "sfu/demux.h"
#include "sfu/err.h"
#include "sfu/pacer.h"
#include "sfu/rtcp.h"
#include "sfu/sctp.h"
#include "sfu/srtp.h"

/* xorshift64* (Vigna): cheap, seeded, good enough for SSRCs, filler and loss. */
uint64_t load_rand(load_peer_t *p) {
  uint64_t x = p->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  p->rng = x;
  return x * 0x2545F4914F6CDD1Dull;
}
double load_rand01(load_peer_t *p) { return (double)(load_rand(p) >> 11) / 9007199254740992.0; }

static uint8_t g_noise[8192];
static int g_noise_ready;

const uint8_t *load_noise(load_peer_t *p, size_t len) {
  if (!g_noise_ready) {
    for (size_t i = 0; i < sizeof g_noise; i += 8) {
      uint64_t v = load_rand(p);
      memcpy(g_noise + i, &v, 8);
    }
    g_noise_ready = 1;
  }
  if (len > sizeof g_noise / 2) len = sizeof g_noise / 2;
  return g_noise + (load_rand(p) % (sizeof g_noise - len));
}

uint64_t load_ntp(const load_peer_t *p, uint64_t now_us) {
  int64_t wall = (int64_t)now_us + p->wall_offset_us;
  uint64_t us = wall > 0 ? (uint64_t)wall : 0;
  uint64_t sec = us / 1000000u + 2208988800u; /* 1900 → 1970 */
  uint64_t frac = ((us % 1000000u) << 32) / 1000000u;
  return sec << 32 | frac;
}

static void send_protected(load_peer_t *p, uint8_t *buf, size_t len, size_t cap, int rtcp) {
  if (p->cbs.send_plain) {
    p->cbs.send_plain(p->cbs.user, buf, len, rtcp);
    return;
  }
  if (!p->ice.srtp) return;
  int r = rtcp ? sfu_srtp_protect_rtcp(p->ice.srtp, buf, &len, cap)
               : sfu_srtp_protect_rtp(p->ice.srtp, buf, &len, cap);
  if (r != 0) {
    p->protect_fail++;
    return;
  }
  p->cbs.send(p->cbs.user, buf, len);
}
/* A paced publisher's RTP (cfg.pace): what the budget allows now leaves from buf, the
 * rest waits in the pacer in order (a full queue drops, counted in its stats) and leaves
 * from load_peer_handle_timeout. RTCP is never paced (libwebrtc does not pace it). */
void load_send_rtp(load_peer_t *p, uint8_t *buf, size_t len, size_t cap) {
  if (p->pacer && !sfu_pacer_admit(p->pacer, p->now_us, len)) {
    (void)sfu_pacer_push(p->pacer, p->now_us, SFU_PACER_PRIO_VIDEO, buf, len, 0);
    return;
  }
  send_protected(p, buf, len, cap, 0);
}

/* The pacer's drain: protected in its slot (room leaves SFU_PACER_TAIL for the tag). */
static size_t send_paced(void *ctx, uint8_t *pkt, size_t len, size_t room, uint32_t tag,
                         int prio) {
  (void)tag, (void)prio;
  send_protected(ctx, pkt, len, room, 0);
  return len;
}
void load_send_rtcp(load_peer_t *p, uint8_t *buf, size_t len, size_t cap) {
  send_protected(p, buf, len, cap, 1);
}

static void ice_send(void *user, const uint8_t *buf, size_t len) {
  load_peer_t *p = user;
  p->cbs.send(p->cbs.user, buf, len);
}

/* ---- data channel (cfg.data) ---- */

static void ice_app(void *user, const uint8_t *buf, size_t len) {
  load_peer_t *p = user;
  if (p->sctp) sfu_sctp_handle_input(p->sctp, p->now_us, buf, len);
}

static void dc_out(void *user, const uint8_t *buf, size_t len) {
  load_peer_t *p = user;
  if (p->ice.dtls) sfu_dtls_send(p->ice.dtls, buf, len);
}

static void dc_state(void *user, sfu_sctp_state_t st) {
  load_peer_t *p = user;
  /* RFC 8832 §6: the DTLS client opens on even streams. */
  if (st == SFU_SCTP_ESTABLISHED)
    sfu_sctp_open_channel(p->sctp, p->now_us, 0, "bench", "", SFU_DCEP_RELIABLE, 0);
}

static void dc_channel(void *user, const sfu_sctp_channel_t *ch, int open) {
  load_peer_t *p = user;
  if (ch->stream == 0) p->dc_open = (uint8_t)open;
}

static void dc_message(void *user, uint16_t stream, uint32_t ppid, const uint8_t *buf, size_t len) {
  load_peer_t *p = user;
  (void)stream;
  (void)ppid;
  p->dc_in++;
  if (p->cbs.on_data) p->cbs.on_data(p->cbs.user, buf, len);
}

static void start_data(load_peer_t *p, uint64_t now_us) {
  if (!p->cfg.data || p->sctp || !p->cfg.sctp_group || !p->ice.connected) return;
  /* The worker announces a=max-message-size:262144. */
  sfu_sctp_opts_t so = {.role = SFU_SCTP_ROLE_CLIENT, .remote_max_message_size = 262144};
  sfu_sctp_cbs_t cb = {dc_out, dc_state, dc_channel, dc_message, p, NULL};
  p->sctp = sfu_sctp_new(p->cfg.sctp_group, &so, &cb, now_us);
  if (!p->sctp) p->dc_errors++;
}

int load_peer_send_data(load_peer_t *p, uint64_t now_us, const uint8_t *buf, size_t len) {
  if (!p->sctp || !p->dc_open) return -1;
  int rc = sfu_sctp_send(p->sctp, now_us, 0, SFU_SCTP_PPID_STRING, buf, len);
  if (rc == 0) p->dc_out++;
  else if (rc == SFU_EAGAIN) p->dc_blocked++;
  else p->dc_errors++;
  return rc;
}

static uint32_t rand_ssrc(load_peer_t *p) {
  uint32_t s;
  do s = (uint32_t)load_rand(p);
  while (s == 0);
  return s;
}

static void rand_token(load_peer_t *p, char *out, size_t n) {
  static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; i < n; i++) out[i] = abc[load_rand(p) % 64];
  out[n] = '\0';
}

static int set_recv_count(load_peer_t *p, size_t n) {
  if (n > LOAD_MAX_RECV) return -1;
  for (size_t i = p->n_recv; i < n; i++) {
    load_recv_t *r = calloc(1, sizeof *r);
    if (!r) return -1;
    r->media_pt = r->rtx_pt = r->media_pt2 = r->rtx_pt2 = -1;
    p->recv[i] = r;
    p->n_recv = i + 1;
  }
  load_offer_t o = {.publish = p->cfg.publish};
  for (size_t i = 0; i < p->n_recv; i++) {
    load_recv_mid(&o, i, p->recv[i]->mid);
    p->recv[i]->inactive = i >= n;
  }
  return 0;
}

load_peer_t *load_peer_new(const load_peer_cfg_t *cfg, const sfu_dtls_cert_t *cert,
                           uint16_t port, const load_peer_cbs_t *cbs, uint64_t seed,
                           int64_t wall_offset_us, uint8_t tag) {
  if (cfg->publish && cfg->layers != 1 && cfg->layers != 3) return NULL;
  if (cfg->n_recv > LOAD_MAX_RECV) return NULL;
  load_peer_t *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->cfg = *cfg;
  if (p->cfg.fps <= 0 || p->cfg.fps > 120) p->cfg.fps = 15;
  p->cbs = *cbs;
  p->cert = cert;
  p->port = port;
  p->rng = seed ? seed : 0x9E3779B97F4A7C15ull;
  p->wall_offset_us = wall_offset_us;
  rand_token(p, p->ufrag, 4);
  rand_token(p, p->pwd, 24);
  rand_token(p, p->cname, 16);
  snprintf(p->msid_stream, sizeof p->msid_stream, "load-%08" PRIx32, (uint32_t)load_rand(p));
  snprintf(p->msid_track, sizeof p->msid_track, "video-%08" PRIx32, (uint32_t)load_rand(p));
  p->session_id = load_rand(p) >> 2;
  p->session_version = 2;
  p->local_ssrc = rand_ssrc(p);
  p->twcc_seq = (uint16_t)load_rand(p);
  sim_client_config_t cc = {.cert = cert, .server_fingerprint = "", .ufrag = p->ufrag,
                            .pwd = p->pwd, .tag = tag,
                            .cbs = {ice_send, cfg->data ? ice_app : NULL, p}};
  sim_client_init(&p->ice, &cc);
  sfu_twcc_recv_init(&p->twcc, 0); /* on once the answer names the extension */
  if ((cfg->publish && load_pub_init(p) != 0) || set_recv_count(p, cfg->n_recv) != 0) {
    load_peer_free(p);
    return NULL;
  }
  return p;
}

void load_peer_free(load_peer_t *p) {
  if (!p) return;
  sfu_sctp_free(p->sctp);
  sim_client_free(&p->ice);
  load_pub_free(p);
  for (size_t i = 0; i < p->n_recv; i++) free(p->recv[i]);
  free(p);
}

char *load_peer_offer(load_peer_t *p) {
  load_offer_t o = {
      .ufrag = p->ufrag, .pwd = p->pwd, .fingerprint = sfu_dtls_cert_fingerprint(p->cert),
      .port = p->port, .session_id = p->session_id, .session_version = p->session_version,
      .cname = p->cname, .msid_stream = p->msid_stream, .msid_track = p->msid_track,
      .publish = p->cfg.publish, .codec = p->cfg.codec, .layers = p->cfg.layers,
      .pub_rtx = p->cfg.pub_rtx, .pub_ssrcs = p->cfg.pub_ssrcs, .n_recv = p->n_recv,
      .recv_rtx = p->cfg.recv_rtx, .data = p->cfg.data};
  for (size_t i = 0; i < p->n_layers; i++) {
    o.ssrcs[i] = p->layers[i].ssrc;
    o.rtx_ssrcs[i] = p->layers[i].rtx_ssrc;
  }
  for (size_t i = 0; i < p->n_recv; i++) o.recv_inactive[i] = p->recv[i]->inactive;
  return load_offer_write(&o);
}

char *load_peer_reoffer(load_peer_t *p, size_t n_recv) {
  if (set_recv_count(p, n_recv) != 0) return NULL;
  p->session_version++;
  return load_peer_offer(p);
}

int load_peer_answer(load_peer_t *p, const char *sdp, char *err, size_t errlen) {
  load_answer_t *a = malloc(sizeof *a);
  if (!a) {
    snprintf(err, errlen, "no memory");
    return -1;
  }
  if (load_answer_parse(sdp, a, err, errlen) != 0) {
    free(a);
    return -1;
  }
  if (!p->answered) {
    snprintf(p->ice.server_fp, sizeof p->ice.server_fp, "%.127s", a->fingerprint);
    sim_client_set_server_ice(&p->ice, a->ufrag, a->pwd);
    p->answered = 1;
  }
  uint8_t twcc_ext = 0;
  for (size_t i = 0; i < p->n_recv; i++) {
    load_recv_t *r = p->recv[i];
    const load_answer_media_t *m = load_answer_find(a, r->mid);
    if (!m) continue;
    /* One id for the BUNDLE transport (the worker answers the offer's in every section). */
    if (!twcc_ext && !r->inactive) twcc_ext = m->twcc_ext;
    r->declared_ssrc = m->ssrc;
    r->declared_rtx_ssrc = m->rtx_ssrc;
    r->media_pt = m->media_pt;
    r->rtx_pt = m->rtx_pt;
    r->media_pt2 = m->media_pt2;
    r->rtx_pt2 = m->rtx_pt2;
  }
  if (p->cfg.no_twcc_fb) twcc_ext = 0;
  if (twcc_ext != p->twcc.ext_id) sfu_twcc_recv_init(&p->twcc, twcc_ext);
  free(a);
  return 0;
}

int load_peer_connected(const load_peer_t *p) { return p->ice.connected && p->ice.srtp; }

void load_peer_start_media(load_peer_t *p, uint64_t now_us) {
  if (p->media_on) return;
  p->media_on = 1;
  p->start_us = now_us;
  p->next_frame_us = now_us;
  p->next_key_us = now_us + LOAD_KEY_INTERVAL_US;
  p->next_rtcp_us = now_us + LOAD_RTCP_INTERVAL_US;
  p->next_pad_us = p->cfg.padding_per_s ? now_us + 1000000u / (unsigned)p->cfg.padding_per_s
                                        : UINT64_MAX;
  p->next_nack_us = UINT64_MAX;
  for (size_t i = 0; i < p->n_layers; i++) p->layers[i].key_pending = 1;
}

uint64_t load_peer_next_deadline(const load_peer_t *p) {
  uint64_t d = sim_client_next_deadline(&p->ice);
  if (!p->media_on) {
    /* Connecting: the media clock starts at the first timeout after DTLS connects. */
    if (load_peer_connected(p)) return 0;
    return d;
  }
  uint64_t m[] = {p->cfg.publish ? p->next_frame_us : UINT64_MAX, p->next_rtcp_us,
                  p->cfg.publish ? p->next_pad_us : UINT64_MAX, p->next_nack_us,
                  p->remb_bps ? p->next_remb_us : UINT64_MAX, sfu_twcc_recv_deadline(&p->twcc),
                  p->pacer ? sfu_pacer_next_deadline(p->pacer, p->now_us) : UINT64_MAX};
  for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
    if (m[i] < d) d = m[i];
  return d;
}

static void send_remb(load_peer_t *p) {
  uint32_t ssrcs[LOAD_MAX_RECV];
  unsigned n = 0;
  for (size_t i = 0; i < p->n_recv; i++) {
    uint32_t s = p->recv[i]->media_ssrc ? p->recv[i]->media_ssrc : p->recv[i]->declared_ssrc;
    if (s) ssrcs[n++] = s;
  }
  uint8_t buf[256];
  int len = sfu_rtcp_write_remb(buf, sizeof buf - 32, p->local_ssrc, p->remb_bps, ssrcs, n);
  if (len > 0) load_send_rtcp(p, buf, (size_t)len, sizeof buf);
}

void load_peer_set_remb(load_peer_t *p, uint64_t now_us, uint64_t bps) {
  p->remb_bps = bps;
  if (!bps) return;
  p->next_remb_us = now_us + LOAD_RTCP_INTERVAL_US;
  if (p->media_on) send_remb(p);
}

void load_peer_handle_timeout(load_peer_t *p, uint64_t now_us) {
  if (now_us > p->now_us) p->now_us = now_us;
  sim_client_handle_timeout(&p->ice, now_us);
  start_data(p, now_us);
  if (!p->media_on) {
    if (!load_peer_connected(p)) return;
    load_peer_start_media(p, now_us);
  }
  /* What waited first: a new frame's packets queue behind it. */
  if (p->pacer && sfu_pacer_queued(p->pacer)) sfu_pacer_drain(p->pacer, now_us, send_paced, p);
  if (p->cfg.publish && now_us >= p->next_frame_us) {
    load_pub_frame(p, now_us);
    uint64_t iv = 1000000u / (unsigned)p->cfg.fps;
    p->next_frame_us += iv;
    if (p->next_frame_us + 1000000u < now_us) p->next_frame_us = now_us + iv; /* stalled */
  }
  if (p->cfg.publish && now_us >= p->next_pad_us) {
    load_pub_padding(p, now_us);
    p->next_pad_us = now_us + 1000000u / (unsigned)p->cfg.padding_per_s;
  }
  if (now_us >= p->next_rtcp_us) {
    uint8_t buf[1400];
    size_t n = 0;
    if (p->cfg.publish) n += load_pub_write_sr(p, now_us, buf, sizeof buf - 100);
    n += load_recv_write_rr(p, now_us, buf + n, sizeof buf - 100 - n);
    if (n) load_send_rtcp(p, buf, n, sizeof buf);
    p->next_rtcp_us = now_us + LOAD_RTCP_INTERVAL_US;
  }
  if (p->remb_bps && now_us >= p->next_remb_us) {
    send_remb(p);
    p->next_remb_us = now_us + LOAD_RTCP_INTERVAL_US;
  }
  if (now_us >= p->next_nack_us) p->next_nack_us = load_recv_nack_tick(p, now_us);
  if (now_us >= sfu_twcc_recv_deadline(&p->twcc)) load_recv_twcc_send(p, now_us);
}

/* RTCP from the worker: feedback for what we send, SRs for what we receive. */
static void on_rtcp(load_peer_t *p, uint64_t now_us, const uint8_t *buf, size_t len) {
  sfu_rtcp_iter_t it;
  sfu_rtcp_pkt_t pkt;
  sfu_rtcp_iter_init(&it, buf, len);
  p->rtcp_in++;
  while (sfu_rtcp_iter_next(&it, &pkt) == 1) {
    if (pkt.pt == SFU_RTCP_SR) {
      sfu_rtcp_sr_t sr;
      if (sfu_rtcp_sr_parse(&pkt, &sr) == 0) load_recv_on_sr(p, now_us, sr.ssrc, sr.ntp);
      continue;
    }
    sfu_rtcp_fb_t fb;
    if (sfu_rtcp_fb_parse(&pkt, &fb) != 0) continue;
    if (fb.pt == SFU_RTCP_RTPFB && fb.fmt == SFU_RTCP_RTPFB_NACK) {
      uint16_t seqs[512];
      size_t n = 0;
      int r = sfu_rtcp_nack_parse(&fb, seqs, 512, &n);
      if (r == 0 || r == SFU_ELIMIT) load_pub_on_nack(p, now_us, fb.media_ssrc, seqs, n);
    } else if (fb.pt == SFU_RTCP_PSFB && fb.fmt == SFU_RTCP_PSFB_PLI) {
      load_pub_on_keyreq(p, fb.media_ssrc, 0);
    } else if (fb.pt == SFU_RTCP_PSFB && fb.fmt == SFU_RTCP_PSFB_FIR) {
      unsigned n = sfu_rtcp_fir_count(&fb);
      for (unsigned i = 0; i < n; i++) {
        uint32_t ssrc;
        uint8_t seq_nr;
        if (sfu_rtcp_fir_entry(&fb, i, &ssrc, &seq_nr) == 0) load_pub_on_keyreq(p, ssrc, 1);
      }
    } else if (fb.pt == SFU_RTCP_PSFB && fb.fmt == SFU_RTCP_PSFB_AFB) {
      sfu_rtcp_remb_t remb;
      if (sfu_rtcp_remb_parse(&fb, &remb) == 0) p->remb_in++;
    }
  }
}

void load_peer_input_plain(load_peer_t *p, uint64_t now_us, uint8_t *buf, size_t len) {
  sfu_pkt_kind_t k = sfu_demux_classify(buf, len);
  if (k == SFU_PKT_RTCP) {
    on_rtcp(p, now_us, buf, len);
  } else if (k == SFU_PKT_RTP) {
    sfu_rtp_hdr_t h;
    p->rtp_in++;
    if (sfu_rtp_parse(buf, len, &h) != 0) return;
    load_recv_on_rtp(p, now_us, buf, len, &h);
    if (now_us >= sfu_twcc_recv_due(&p->twcc)) load_recv_twcc_send(p, now_us);
  }
}

void load_peer_input(load_peer_t *p, uint64_t now_us, uint8_t *buf, size_t len) {
  if (now_us > p->now_us) p->now_us = now_us;
  sfu_pkt_kind_t k = sfu_demux_classify(buf, len);
  if (k == SFU_PKT_STUN || k == SFU_PKT_DTLS) {
    sim_client_handle_input(&p->ice, now_us, buf, len);
    return;
  }
  if ((k != SFU_PKT_RTP && k != SFU_PKT_RTCP) || !p->ice.srtp) return;
  int r = k == SFU_PKT_RTCP ? sfu_srtp_unprotect_rtcp(p->ice.srtp, buf, &len)
                            : sfu_srtp_unprotect_rtp(p->ice.srtp, buf, &len);
  if (r != 0) {
    p->unprotect_fail++;
    return;
  }
  load_peer_input_plain(p, now_us, buf, len);
}

load_recv_t *load_peer_recv_by_mid(load_peer_t *p, const char *mid) {
  for (size_t i = 0; i < p->n_recv; i++)
    if (strcmp(p->recv[i]->mid, mid) == 0) return p->recv[i];
  return NULL;
}

void load_peer_set_loss(load_peer_t *p, double loss) {
  p->loss = loss < 0 ? 0 : loss > 1 ? 1 : loss;
}

int load_peer_send_pli(load_peer_t *p, load_recv_t *r) {
  uint32_t ssrc = r->media_ssrc ? r->media_ssrc : r->declared_ssrc;
  if (!ssrc) return -1;
  uint8_t buf[64];
  int n = sfu_rtcp_write_pli(buf, sizeof buf - 32, p->local_ssrc, ssrc);
  if (n <= 0) return -1;
  load_send_rtcp(p, buf, (size_t)n, sizeof buf);
  return 0;
}
