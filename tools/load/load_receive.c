/* The receiving side of a synthetic attendee: per recvonly section, what the worker
 * forwards (SSRCs, payload types, sequence gaps and duplicates, timestamps, keyframes and
 * resolution, VP8 PictureID continuity, padding, RTX), generic NACKs for the gaps
 * (RFC 4585 §6.2.1), receiver reports (RFC 3550 §6.4.2), and transport-cc feedback for
 * every packet that arrived (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1,
 * see load_peer.h). */
#include <string.h>

#include "load_internal.h"
#include "sfu/codec_h264.h"
#include "sfu/codec_vp8.h"
#include "sfu/rtcp.h"
#include "sfu/twcc_recv.h"

#define NACK_RETRY_US 50000u  /* ask again if nothing came within this */
#define NACK_TRIES 5
#define NACK_GIVE_UP_US 1000000u

static load_recv_t *find_section(load_peer_t *p, const sfu_rtp_hdr_t *h, int *is_rtx) {
  for (size_t i = 0; i < p->n_recv; i++) {
    load_recv_t *r = p->recv[i];
    if (r->declared_ssrc && h->ssrc == r->declared_ssrc) return *is_rtx = 0, r;
    if (r->declared_rtx_ssrc && h->ssrc == r->declared_rtx_ssrc) return *is_rtx = 1, r;
  }
  /* Not declared: the mid extension says where it belongs (RFC 8843 §9.2). */
  const uint8_t *d;
  size_t n;
  char mid[LOAD_MID_MAX];
  if (sfu_rtp_ext_find(h, LOAD_EXT_MID, &d, &n) != 0 ||
      sfu_rtp_ext_str_copy(d, n, mid, sizeof mid) != 0)
    return NULL;
  load_recv_t *r = load_peer_recv_by_mid(p, mid);
  if (!r) return NULL;
  *is_rtx = (r->rtx_pt >= 0 && h->payload_type == r->rtx_pt) ||
            (r->rtx_pt2 >= 0 && h->payload_type == r->rtx_pt2) ||
            (r->media_pt < 0 && (h->payload_type == LOAD_PT_VP8_RTX ||
                                 h->payload_type == LOAD_PT_H264_RTX));
  return r;
}

static void note_ssrc(load_recv_t *r, uint32_t ssrc) {
  for (size_t i = 0; i < r->n_ssrcs; i++)
    if (r->ssrcs[i] == ssrc) return;
  if (r->n_ssrcs < sizeof r->ssrcs / sizeof r->ssrcs[0]) r->ssrcs[r->n_ssrcs++] = ssrc;
}

static void note_pt(load_recv_t *r, uint8_t pt) {
  for (size_t i = 0; i < r->n_pts; i++)
    if (r->pts[i] == pt) return;
  if (r->n_pts < sizeof r->pts) r->pts[r->n_pts++] = pt;
}

static void nack_remove(load_recv_t *r, uint16_t seq) {
  for (size_t i = 0; i < r->n_nack; i++)
    if (r->nack[i].seq == seq) {
      r->nack[i] = r->nack[--r->n_nack];
      return;
    }
}

static void send_nack(load_peer_t *p, load_recv_t *r, const uint16_t *seqs, size_t n) {
  if (!n || !r->media_ssrc) return;
  uint8_t buf[1200];
  int len = sfu_rtcp_write_nack(buf, sizeof buf - 64, p->local_ssrc, r->media_ssrc, seqs, n);
  if (len <= 0) return;
  r->nacks_sent++;
  r->nacked_seqs += n;
  load_send_rtcp(p, buf, (size_t)len, sizeof buf);
}

/* The sequence numbers between the old highest and the new one are missing: NACK them
 * now, retry later (load_recv_nack_tick). At most LOAD_NACK_MAX are tracked. */
static void on_gap(load_peer_t *p, load_recv_t *r, uint64_t now_us, uint64_t from_ext,
                   uint64_t to_ext) {
  uint16_t seqs[LOAD_NACK_MAX];
  size_t n = 0;
  if (to_ext - from_ext > LOAD_NACK_MAX) from_ext = to_ext - LOAD_NACK_MAX;
  for (uint64_t e = from_ext; e < to_ext; e++) {
    if (r->n_nack == LOAD_NACK_MAX) r->nack[0] = r->nack[--r->n_nack]; /* oldest-ish out */
    r->nack[r->n_nack++] = (load_nack_t){(uint16_t)e, 1, now_us, now_us + NACK_RETRY_US};
    seqs[n++] = (uint16_t)e;
  }
  send_nack(p, r, seqs, n);
  if (p->next_nack_us > now_us + NACK_RETRY_US) p->next_nack_us = now_us + NACK_RETRY_US;
}

uint64_t load_recv_nack_tick(load_peer_t *p, uint64_t now_us) {
  uint64_t next = UINT64_MAX;
  for (size_t i = 0; i < p->n_recv; i++) {
    load_recv_t *r = p->recv[i];
    uint16_t seqs[LOAD_NACK_MAX];
    size_t n = 0;
    for (size_t k = 0; k < r->n_nack;) {
      load_nack_t *x = &r->nack[k];
      if (x->tries >= NACK_TRIES || now_us - x->first_us > NACK_GIVE_UP_US) {
        *x = r->nack[--r->n_nack];
        continue;
      }
      if (now_us >= x->next_us) {
        seqs[n++] = x->seq;
        x->tries++;
        x->next_us = now_us + NACK_RETRY_US;
      }
      if (x->next_us < next) next = x->next_us;
      k++;
    }
    send_nack(p, r, seqs, n);
  }
  return next;
}

/* Codec facts of one (non-duplicate) media packet. */
static void codec_facts(load_recv_t *r, const sfu_rtp_hdr_t *h, int in_order) {
  int key_start = 0, is_key = 0;
  uint16_t w = 0, ht = 0;
  if (h->payload_type == LOAD_PT_VP8) {
    sfu_vp8_desc_t d;
    if (sfu_vp8_parse(h->payload, h->payload_len, &d) != 0) {
      r->bad_payload++;
      return;
    }
    key_start = is_key = d.frame_start && d.keyframe;
    if (is_key) w = d.width, ht = d.height;
    if (in_order && d.picture_id_bits) {
      /* Packets of one frame share the PictureID; a new frame adds 1 (mod 2^15). */
      if (r->have_pic && d.picture_id != r->last_pic &&
          d.picture_id != (uint16_t)((r->last_pic + 1) & 0x7fff))
        r->pic_id_jumps++;
      r->last_pic = d.picture_id;
      r->have_pic = 1;
    }
  } else if (h->payload_type == LOAD_PT_H264) {
    sfu_h264_info_t info;
    if (sfu_h264_parse(h->payload, h->payload_len, &info) != 0) {
      r->bad_payload++;
      return;
    }
    key_start = info.has_sps;
    is_key = info.keyframe;
    if (info.width) w = info.width, ht = info.height;
  } else {
    r->unknown_pt++;
  }
  if (!r->got_first) {
    r->got_first = 1;
    r->first_keyframe = (uint8_t)key_start;
  }
  /* One keyframe per timestamp (H.264: STAP-A with the SPS, then the IDR). */
  if (is_key && (!r->have_key_ts || h->timestamp != r->last_key_ts)) {
    r->keyframes++;
    r->last_key_ts = h->timestamp;
    r->have_key_ts = 1;
  }
  if (w) {
    r->width = w;
    r->height = ht;
  }
}

static void on_media(load_peer_t *p, load_recv_t *r, uint64_t now_us, const sfu_rtp_hdr_t *h,
                     int via_rtx) {
  if (!via_rtx) {
    r->packets++;
    r->bytes += h->raw_len;
  }
  note_pt(r, h->payload_type);
  if (!r->media_ssrc) r->media_ssrc = h->ssrc;
  int in_order = 0;
  uint64_t ext;
  if (!r->have_seq) {
    ext = (uint64_t)h->seq + 0x10000u;
    r->hi_ext = r->base_ext = ext;
    r->have_seq = 1;
    in_order = 1;
  } else {
    int16_t delta = (int16_t)(h->seq - (uint16_t)r->hi_ext);
    ext = (uint64_t)((int64_t)r->hi_ext + delta);
    in_order = delta > 0;
  }
  uint32_t *slot = &r->win[ext % LOAD_WIN];
  if (*slot == (uint32_t)ext + 1) {
    /* On the media SSRC a duplicate is the worker's fault; an RTX copy of a packet that
     * arrived is a probe made of media (the worker probes with RTX of recent packets) or
     * a repair that crossed its original. */
    if (via_rtx) r->rtx_dups++;
    else r->dups++;
    return;
  }
  *slot = (uint32_t)ext + 1;
  r->received_unique++;
  if (in_order) {
    if (ext > r->hi_ext + 1) {
      r->seq_gaps += ext - r->hi_ext - 1;
      on_gap(p, r, now_us, r->hi_ext + 1, ext);
    }
    if (r->received_unique > 1 && (int32_t)(h->timestamp - r->last_ts) < 0) r->ts_backwards++;
    r->last_ts = h->timestamp;
    r->hi_ext = ext;
  } else {
    /* A hole filled (retransmission or reordering). */
    r->recovered++;
    nack_remove(r, h->seq);
    if (ext < r->base_ext) r->base_ext = ext;
  }
  codec_facts(r, h, in_order);
}

/* The arrival of a packet with a transport-wide sequence number (whatever it carries:
 * the worker's estimator counts every packet it sent, probes and repairs included). */
static void twcc_arrived(load_peer_t *p, uint64_t now_us, const sfu_rtp_hdr_t *h) {
  const uint8_t *d;
  size_t n;
  uint16_t seq;
  if (p->twcc.ext_id && sfu_rtp_ext_find(h, p->twcc.ext_id, &d, &n) == 0 &&
      sfu_rtp_ext_twcc_seq(d, n, &seq) == 0)
    sfu_twcc_recv_packet(&p->twcc, seq, h->ssrc, now_us);
}

void load_recv_twcc_send(load_peer_t *p, uint64_t now_us) {
  uint8_t buf[1500];
  int n = sfu_twcc_recv_build(&p->twcc, now_us, p->local_ssrc, buf, sizeof buf - 64);
  if (n <= 0) return;
  p->twcc_fb_out++;
  load_send_rtcp(p, buf, (size_t)n, sizeof buf);
}

void load_recv_on_rtp(load_peer_t *p, uint64_t now_us, uint8_t *buf, size_t len,
                      const sfu_rtp_hdr_t *h) {
  int is_rtx = 0;
  load_recv_t *r = find_section(p, h, &is_rtx);
  /* The simulated loss takes media packets only (a lost one never arrived, so it is not
   * in the feedback either); padding and RTX always arrive. */
  int lost = r && !is_rtx && !sfu_rtp_is_padding_only(h) && p->loss > 0 &&
             load_rand01(p) < p->loss;
  if (!lost) twcc_arrived(p, now_us, h);
  if (!r) {
    p->unknown_rtp++;
    return;
  }
  note_ssrc(r, h->ssrc);
  const uint8_t *d;
  size_t n;
  if (sfu_rtp_ext_find(h, LOAD_EXT_MID, &d, &n) == 0)
    sfu_rtp_ext_str_copy(d, n, r->mid_ext, sizeof r->mid_ext);
  if (sfu_rtp_is_padding_only(h)) {
    /* On the RTX SSRC: the worker's own bandwidth probes (RFC 4588 padding, as libwebrtc
     * probes). On the media SSRC: a publisher's padding the worker let through. */
    if (is_rtx) r->probe_padding++;
    else r->padding++;
    return;
  }
  if (is_rtx) {
    r->rtx++;
    if (h->payload_len < 2) return;
    int orig_pt = h->payload_type == r->rtx_pt2 ? r->media_pt2 : r->media_pt;
    if (orig_pt < 0) orig_pt = h->payload_type == LOAD_PT_H264_RTX ? LOAD_PT_H264 : LOAD_PT_VP8;
    uint32_t orig_ssrc = r->media_ssrc ? r->media_ssrc : r->declared_ssrc;
    sfu_rtp_hdr_t o;
    if (sfu_rtp_rtx_unwrap(buf, &len, h, (uint8_t)orig_pt, orig_ssrc) != 0 ||
        sfu_rtp_parse(buf, len, &o) != 0)
      return;
    on_media(p, r, now_us, &o, 1);
    return;
  }
  if (lost) {
    r->dropped++;
    return;
  }
  on_media(p, r, now_us, h, 0);
}

void load_recv_on_sr(load_peer_t *p, uint64_t now_us, uint32_t ssrc, uint64_t ntp) {
  for (size_t i = 0; i < p->n_recv; i++) {
    load_recv_t *r = p->recv[i];
    if (ssrc && (ssrc == r->media_ssrc || ssrc == r->declared_ssrc)) {
      r->lsr = (uint32_t)(ntp >> 16);
      r->lsr_at_us = now_us;
    }
  }
}

size_t load_recv_write_rr(load_peer_t *p, uint64_t now_us, uint8_t *buf, size_t cap) {
  sfu_rtcp_rb_t rbs[31];
  unsigned n = 0;
  for (size_t i = 0; i < p->n_recv && n < 31; i++) {
    load_recv_t *r = p->recv[i];
    if (!r->have_seq) continue;
    /* RFC 3550 appendix A.3. */
    uint64_t expected = r->hi_ext - r->base_ext + 1;
    int64_t lost = (int64_t)expected - (int64_t)r->received_unique;
    uint64_t exp_int = expected - r->expected_prior;
    uint64_t rec_int = r->received_unique - r->received_prior;
    r->expected_prior = expected;
    r->received_prior = r->received_unique;
    int64_t lost_int = (int64_t)exp_int - (int64_t)rec_int;
    uint8_t frac = exp_int && lost_int > 0 ? (uint8_t)((lost_int << 8) / (int64_t)exp_int) : 0;
    if (lost > 0x7FFFFF) lost = 0x7FFFFF;
    if (lost < -0x800000) lost = -0x800000;
    /* DLSR in 1/65536 s (§6.4.1). */
    uint32_t dlsr = r->lsr ? (uint32_t)(((now_us - r->lsr_at_us) << 16) / 1000000u) : 0;
    rbs[n++] = (sfu_rtcp_rb_t){.ssrc = r->media_ssrc, .fraction_lost = frac,
                               .cumulative_lost = (int32_t)lost,
                               .ext_highest_seq = (uint32_t)(r->hi_ext - 0x10000u),
                               .jitter = 0, .lsr = r->lsr, .dlsr = dlsr};
  }
  if (!n && p->cfg.publish) return 0; /* the SRs already say we are alive */
  int len = sfu_rtcp_write_rr(buf, cap, p->local_ssrc, rbs, n);
  if (len < 0) return 0;
  size_t o = (size_t)len;
  len = sfu_rtcp_write_sdes_cname(buf + o, cap - o, p->local_ssrc, p->cname, strlen(p->cname));
  return len < 0 ? o : o + (size_t)len;
}
