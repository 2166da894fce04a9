/* The meetings' audio mixers on this loop (issue 9, mixer.h), wired to the attendees'
 * transports. Only with the switch on (sfu_rtc_config_t.audio_mixer; on unless SFU_AUDIO_MIXER=0).
 *
 *   - One mixer per meeting, hung on meeting->audio, created with the meeting's first
 *     connected attendee that negotiated audio and freed with its last: a meeting without
 *     audio attendees costs nothing (no mixer, no timer).
 *   - The mixer ticks every 20 ms of loop time through the rtc's deadline
 *     (sfu_rtc_next_deadline includes r->audio_deadline, the earliest next tick), the
 *     same mechanism as the video routers' timers.
 *   - Per DTLS-connected attendee with audio: a mixer attendee (its id, caps from its
 *     Audio capability, the mix's SSRC and PT from its answer, rtc_audio.c) and, when it
 *     sends Opus, an sfu_audio_in_t (jitter buffer + decoder, audio_in.h) as its source.
 *   - In: decrypted RTP with its Opus or red PT goes to sfu_audio_in_handle_rtp with the
 *     RFC 6464 level byte; receiver reports about the mix set the listener's loss.
 *   - Out: the mixer's plain RTP is protected and sent on the listener's transport; an
 *     RTCP SR (RFC 3550 §6.4.1) + SDES CNAME once a second per mix stream; a report block
 *     about each attendee's own Opus stream once a second (loss, jitter, LSR/DLSR for its
 *     RTT: RFC 3550 §6.4.1; libwebrtc's audio sender tunes its FEC and bitrate from it),
 *     inside that SR when it gets the mix, else in an RR (§6.4.2); the signals
 *     document goes on each listener's first data channel as a data message of topic
 *     `sfu:audio` (docs/data-messages.md).
 * Loop thread only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session/rtc_internal.h"
#include "sfu/err.h"
#include "sfu/ids.h"
#include "sfu/log.h"
#include "sfu/rtcp.h"
#include "sfu/rtp.h"
#include "sfu/rtp_recv_stats.h"
#include "sfu/sctp.h"
#include "sfu/srtp.h"
#include "sfu/transport.h"

#define SR_PERIOD_US 1000000ull   /* RFC 3550 §6.2: 5 s minimum is for big sessions; one
                                     stream, one receiver: a second, like libwebrtc */
#define SIDE_PERIOD_US 200000ull  /* signal strength in, newcomers' snapshots out */
#define IN_MUTED_MS 200           /* decoded digital silence this long: muted (apply_muted) */
#define MAX_CATCHUP_TICKS 5       /* a loop late by more than 100 ms skips, not bursts */
#define PPID_STRING 51            /* RFC 8831 §8: WebRTC String */
#define REPORTER_SSRC 1u          /* an RR's sender when the attendee gets no mix stream
                                     (the video router's own RTCP uses the same) */

typedef struct rtc_mixer {
  sfu_list_t link; /* rtc->mixers */
  sfu_rtc_t *rtc;
  sfu_meeting_t *m;
  sfu_mixer_t *mixer;
  sfu_list_t recs; /* rtc_rec_t.mix.link */
  size_t n;
  uint64_t next_tick_us, next_sr_us, next_side_us;
  uint64_t now_us; /* of the tick in progress (for callbacks) */
} rtc_mixer_t;

static void recompute_deadline(sfu_rtc_t *r) {
  uint64_t d = UINT64_MAX;
  sfu_list_t *it;
  sfu_list_foreach(it, &r->mixers) {
    rtc_mixer_t *mx = sfu_container_of(it, rtc_mixer_t, link);
    if (mx->next_tick_us < d) d = mx->next_tick_us;
  }
  r->audio_deadline = d;
}

/* ---- out: RTP, RTCP, signals ---- */

static void on_send(void *user, void *listener_user, const uint8_t *rtp, size_t len) {
  rtc_mixer_t *mx = user;
  rtc_rec_t *x = listener_user;
  sfu_rtc_t *r = mx->rtc;
  if (!x->tp || len > SFU_MIXER_RTP_MAX || len < SFU_RTP_HDR_MIN) return;
  memcpy(r->mix_buf, rtp, len);
  sfu_rtp_hdr_t h;
  if (sfu_rtp_parse(rtp, len, &h) != 0) return;
  if (sfu_transport_send_rtp(x->tp, r->mix_buf, len, sizeof r->mix_buf) != 0) return;
  /* issue 8: the mix comes off this listener's video budget (its downlink estimate) */
  if (x->peer) sfu_router_peer_sent_other(x->peer, mx->now_us, len);
  x->mix.sent = 1;
  x->mix.last_ts = h.timestamp;
  x->mix.last_us = mx->now_us;
  x->mix.packets++;
  x->mix.bytes += h.payload_len; /* RFC 3550 §6.4.1: payload octets */
}

/* A report block about the attendee's own Opus stream (RFC 3550 §6.4.1), if it sends one
 * and a packet of it arrived: 1 and *rb filled, else 0. Starts a new interval for the
 * fraction lost, so exactly one report a period takes it. */
static int own_stream_block(rtc_rec_t *x, uint64_t now_us, sfu_rtcp_rb_t *rb) {
  if (!x->mix.in || !x->mix.rs.started) return 0;
  sfu_recv_stats_block(&x->mix.rs, now_us, rb);
  return 1;
}

/* RFC 3550 §6.4.1: the SR's RTP timestamp is the mix's clock at the SR's NTP time,
 * extrapolated from the last packet sent (48 kHz). The worker is an active sender to
 * this attendee, so its report block about the attendee's stream rides in the SR
 * (§6.4: "SR ... for transmission and reception statistics from participants that are
 * active senders"). */
static void send_sr(rtc_mixer_t *mx, rtc_rec_t *x, uint64_t now_us) {
  (void)mx;
  uint8_t buf[256];
  sfu_rtcp_rb_t rb;
  unsigned nrb = (unsigned)own_stream_block(x, now_us, &rb);
  uint64_t dt = now_us - x->mix.last_us;
  sfu_rtcp_sr_t sr = {
      .ssrc = x->mix.ssrc,
      .ntp = sfu_ntp_from_us(now_us), /* the loop's clock, like the router's own SRs */
      .rtp_ts = x->mix.last_ts + (uint32_t)(dt * SFU_AUDIO_RATE / 1000000ull),
      .packet_count = (uint32_t)x->mix.packets,
      .octet_count = (uint32_t)x->mix.bytes,
  };
  int n = sfu_rtcp_write_sr(buf, sizeof buf - 16, &sr, nrb ? &rb : NULL, nrb);
  if (n <= 0) return;
  /* RFC 3550 §6.1: a compound starts with SR/RR and carries an SDES CNAME, the one the
   * answer declared for the mix (rtc_audio.c). */
  int k = sfu_rtcp_write_sdes_cname(buf + n, sizeof buf - 16 - (size_t)n, x->mix.ssrc, "sfu-worker", 10);
  if (k > 0) n += k;
  if (sfu_transport_send_rtcp(x->tp, buf, (size_t)n, sizeof buf) == 0) {
    x->mix.srs_sent++;
    x->mix.rrs_sent += nrb;
  }
}

/* An attendee that sends audio but gets no mix (Send only, or its offer receives none):
 * an RR (RFC 3550 §6.4.2) with the block, from the mix's SSRC when it has one. RFC 3550
 * §6.1 wants an SDES CNAME in every compound; RFC 5506 reduced size would allow the RR
 * alone, but not every client negotiates it. */
static void send_rr(rtc_rec_t *x, uint64_t now_us) {
  uint8_t buf[128];
  sfu_rtcp_rb_t rb;
  if (!own_stream_block(x, now_us, &rb)) return;
  uint32_t me = x->mix.ssrc ? x->mix.ssrc : REPORTER_SSRC;
  int n = sfu_rtcp_write_rr(buf, sizeof buf - 16, me, &rb, 1);
  if (n <= 0) return;
  int k = sfu_rtcp_write_sdes_cname(buf + n, sizeof buf - 16 - (size_t)n, me, "sfu-worker", 10);
  if (k > 0) n += k;
  if (sfu_transport_send_rtcp(x->tp, buf, (size_t)n, sizeof buf) == 0) x->mix.rrs_sent++;
}

/* {"topic":"sfu:audio","data":"<json, escaped>","senderAttendeeId":"sfu",
 *  "timestampMs":N}: issue 10's worker -> attendee envelope (docs/data-messages.md). */
static size_t envelope(sfu_rtc_t *r, uint64_t now_us, const char *json, size_t len) {
  size_t need = len * 2 + 160;
  if (need > r->env_cap) {
    char *b = realloc(r->env_buf, need); /* high-water only: steady state allocates nothing */
    if (!b) return 0;
    r->env_buf = b;
    r->env_cap = need;
  }
  uint64_t ms = rtc_wall_ms(r, now_us); /* timestampMs: wall-clock ms since the epoch */
  char *p = r->env_buf;
  p += sprintf(p, "{\"topic\":\"sfu:audio\",\"data\":\"");
  for (size_t i = 0; i < len; i++) {
    char c = json[i];
    if (c == '"' || c == '\\') *p++ = '\\';
    *p++ = c;
  }
  p += sprintf(p, "\",\"senderAttendeeId\":\"sfu\",\"timestampMs\":%llu}", (unsigned long long)ms);
  return (size_t)(p - r->env_buf);
}

/* Through the data relay's per-receiver queue (rtc_data.c, issue 10): the same
 * backpressure rules as relayed messages; *shared holds one copy for every listener that
 * had to queue it (unref'd by the caller). */
static void send_data(rtc_rec_t *x, uint64_t now_us, const char *msg, size_t len,
                      sfu_data_msg_t **shared) {
  if (rtc_data_send_worker(x->rtc, x, now_us, msg, len, shared) == 0) {
    x->mix.signals_sent++; /* sent, or queued behind what it already waits for */
    return;
  }
  /* Not open, too big for it, or out of memory: dropped for this listener alone and
   * counted. The pushes are deltas, so it has missed a change: it gets a complete
   * document again at the next side task (never a retry loop). A queued one that the
   * queue's bounds drop later clears `primed` the same way (rtc_data.c). */
  x->mix.signals_failed++;
  x->mix.primed = 0;
}

static int has_channel(const rtc_rec_t *x) {
  return x->tp && sfu_transport_data_channel(x->tp) >= 0 && sfu_transport_sctp(x->tp);
}

static void on_signals(void *user, const char *json, size_t len) {
  rtc_mixer_t *mx = user;
  sfu_rtc_t *r = mx->rtc;
  size_t n = 0;
  sfu_data_msg_t *shared = NULL;
  sfu_list_t *it;
  sfu_list_foreach(it, &mx->recs) {
    rtc_rec_t *x = sfu_container_of(it, rtc_rec_t, mix.link);
    if (!x->mix.can_receive || !x->mix.primed || !has_channel(x)) continue;
    if (!n && !(n = envelope(r, mx->now_us, json, len))) break;
    send_data(x, mx->now_us, r->env_buf, n, &shared);
  }
  sfu_data_msg_unref(shared);
}

/* Muted (issue 9: "the sender sends silence or the audio level says muted"), from two
 * sources:
 *   - RFC 6464 §3: "The audio level for digital silence -- for a muted audio source, for
 *     example -- MUST be represented as 127 (-127 dBov)": the sender says so (Chromium
 *     does for a disabled track). Followed at packet arrival (rtc_mixer_on_rtp): the first
 *     packet with another level unmutes at once (it plays later, from the jitter buffer,
 *     so the attendee is eligible again before its voice is due); a run of 127s mutes once
 *     it has lasted the buffer's delay plus one frame, so the last voiced frame has played
 *     before the attendee leaves the talker choice. Before, the signals alone said muted
 *     after 1 s of level below -60 dBov.
 *   - audio_in's own detection (its stats' silent_ms): its decoded audio has been digital
 *     silence (RMS < 1e-5, -100 dBFS) for IN_MUTED_MS, for a sender without the level
 *     extension (aiortc 1.4.0 does send it, V always 0, 127 for zeros), read with the signal strength every SIDE_PERIOD_US. A live
 *     microphone never gets there (its noise floor is tens of dB above), so a short run
 *     says "silence is being sent"; 200 ms, not one frame, so that a stray zero frame
 *     does not blink the signal. It sets the signal only, not the mixer's flag: a stream
 *     of digital silence is never chosen as a talker anyway (its level is 0), and taking
 *     it out of the choice would cut up to SIDE_PERIOD_US of its first words when it
 *     speaks again (the flag would clear at the next read).
 * The mixer's flag (out of the talker choice, "m":1) follows level_muted; the signal
 * shows either. */
static void apply_muted(rtc_rec_t *x) {
  if (!x->mix.mx || !x->mix.ma) return;
  sfu_mixer_t *mixer = x->mix.mx->mixer;
  sfu_mixer_attendee_set_muted(mixer, x->mix.ma, x->mix.level_muted);
  if (x->mix.in_muted && !x->mix.level_muted)
    sfu_audio_signals_set_muted(sfu_mixer_signals(mixer), sfu_mixer_attendee_slot(x->mix.ma), 1);
}

#define LEVEL_MUTED 127 /* RFC 6464 §3: digital silence, a muted source */

static void level_muted_on_packet(rtc_rec_t *x, uint64_t now_us, int level) {
  if (level < 0 || (level & 0x7f) != LEVEL_MUTED) {
    /* another level (or none: a sender that dropped the extension says nothing) */
    x->mix.level_127_us = 0;
    if (x->mix.level_muted) {
      x->mix.level_muted = 0;
      apply_muted(x);
    }
    return;
  }
  if (x->mix.level_muted) return;
  if (!x->mix.level_127_us) x->mix.level_127_us = now_us ? now_us : 1;
  sfu_audio_in_stats_t st;
  sfu_audio_in_stats(x->mix.in, &st); /* only while a run is pending: a few packets */
  float buf_ms = st.level_ms > st.target_ms ? st.level_ms : st.target_ms;
  uint64_t hold_us = (uint64_t)(buf_ms * 1000.0f) + SFU_MIXER_TICK_US;
  if (now_us - x->mix.level_127_us < hold_us) return;
  x->mix.level_muted = 1;
  apply_muted(x);
}

/* Every SIDE_PERIOD_US: the receive side's signal strength into the signals; a listener
 * whose channel is open and has had no complete document gets the snapshot first (the
 * pushes are deltas, audio_signals.h). */
static void side_tasks(rtc_mixer_t *mx, uint64_t now_us) {
  sfu_rtc_t *r = mx->rtc;
  sfu_list_t *it;
  sfu_list_foreach(it, &mx->recs) {
    rtc_rec_t *x = sfu_container_of(it, rtc_rec_t, mix.link);
    if (x->mix.in) {
      sfu_audio_in_stats_t st;
      sfu_audio_in_stats(x->mix.in, &st);
      sfu_mixer_attendee_set_strength(mx->mixer, x->mix.ma, st.signal_strength);
      uint8_t in_muted = st.silent_ms >= IN_MUTED_MS;
      if (in_muted != x->mix.in_muted) {
        x->mix.in_muted = in_muted;
        apply_muted(x);
      }
    }
    if (x->mix.primed || !x->mix.can_receive || !has_channel(x)) continue;
    const char *json;
    size_t len = sfu_audio_signals_snapshot(sfu_mixer_signals(mx->mixer), now_us, &json);
    size_t n = len ? envelope(r, now_us, json, len) : 0;
    if (!n) continue;
    x->mix.primed = 1;
    sfu_data_msg_t *one = NULL;
    send_data(x, now_us, r->env_buf, n, &one); /* clears primed again if refused */
    sfu_data_msg_unref(one);
  }
}

/* ---- mixers ---- */

static rtc_mixer_t *meeting_mixer(sfu_rtc_t *r, sfu_meeting_t *m, uint64_t now_us) {
  if (m->audio) return m->audio;
  rtc_mixer_t *mx = calloc(1, sizeof *mx);
  if (!mx) return NULL;
  mx->rtc = r;
  mx->m = m;
  sfu_list_init(&mx->recs);
  /* The meeting's MeetingFeatures.Audio (control-api.md): the stereo mix at BitrateKbps,
   * the mono mix at most 64 kbps (issue 9); MaxTalkers voices at once. */
  sfu_mixer_config_t cfg = {0};
  int kbps = m->features.audio_kbps ? m->features.audio_kbps : SFU_AUDIO_KBPS_DEFAULT;
  cfg.stereo_bitrate_bps = (uint32_t)kbps * 1000u;
  cfg.bitrate_bps = (uint32_t)(kbps < SFU_AUDIO_KBPS_MONO_MAX ? kbps : SFU_AUDIO_KBPS_MONO_MAX) * 1000u;
  cfg.max_talkers = m->features.max_talkers;
  cfg.send = on_send;
  cfg.signals = on_signals;
  cfg.user = mx;
  mx->mixer = sfu_mixer_new(&cfg);
  if (!mx->mixer) {
    free(mx);
    return NULL;
  }
  mx->next_tick_us = now_us + SFU_MIXER_TICK_US;
  mx->next_sr_us = now_us + SR_PERIOD_US;
  mx->next_side_us = now_us + SIDE_PERIOD_US;
  sfu_list_insert_tail(&r->mixers, &mx->link);
  m->audio = mx;
  recompute_deadline(r);
  return mx;
}

static void mixer_free(sfu_rtc_t *r, rtc_mixer_t *mx) {
  while (!sfu_list_empty(&mx->recs)) {
    rtc_rec_t *x = sfu_container_of(mx->recs.next, rtc_rec_t, mix.link);
    sfu_list_remove(&x->mix.link);
    sfu_audio_in_free(x->mix.in);
    memset(&x->mix, 0, sizeof x->mix);
  }
  sfu_list_remove(&mx->link);
  if (mx->m) mx->m->audio = NULL;
  sfu_mixer_free(mx->mixer);
  free(mx);
  recompute_deadline(r);
}

void rtc_mixer_timeout(sfu_rtc_t *r, uint64_t now_us) {
  sfu_list_t *it;
  sfu_list_foreach(it, &r->mixers) {
    rtc_mixer_t *mx = sfu_container_of(it, rtc_mixer_t, link);
    if (mx->next_tick_us > now_us) continue;
    /* Nominal tick times keep the 20 ms cadence exact (the mix's RTP clock and the
     * jitter buffers' playout); a loop that fell far behind resynchronises instead of
     * bursting. */
    if (now_us - mx->next_tick_us > MAX_CATCHUP_TICKS * SFU_MIXER_TICK_US)
      mx->next_tick_us = now_us;
    while (mx->next_tick_us <= now_us) {
      mx->now_us = mx->next_tick_us;
      sfu_mixer_tick(mx->mixer, mx->now_us);
      mx->next_tick_us += SFU_MIXER_TICK_US;
    }
    mx->now_us = now_us;
    if (now_us >= mx->next_side_us) {
      mx->next_side_us = now_us + SIDE_PERIOD_US;
      side_tasks(mx, now_us);
    }
    if (now_us >= mx->next_sr_us) {
      mx->next_sr_us = now_us + SR_PERIOD_US;
      sfu_list_t *jt;
      sfu_list_foreach(jt, &mx->recs) {
        rtc_rec_t *x = sfu_container_of(jt, rtc_rec_t, mix.link);
        if (!x->tp) continue;
        /* RFC 3550 §6.3.8: a participant that sent nothing in the last two report
         * intervals is no longer a sender: an RR, not an SR */
        if (x->mix.sent && now_us - x->mix.last_us < 2 * SR_PERIOD_US)
          send_sr(mx, x, now_us);
        else
          send_rr(x, now_us);
      }
    }
  }
  recompute_deadline(r);
}

void rtc_mixer_meeting_removed(sfu_rtc_t *r, sfu_meeting_t *m) {
  if (m->audio) mixer_free(r, m->audio);
}

void rtc_mixer_free_all(sfu_rtc_t *r) {
  while (!sfu_list_empty(&r->mixers)) mixer_free(r, sfu_container_of(r->mixers.next, rtc_mixer_t, link));
  free(r->env_buf);
  r->env_buf = NULL;
  r->env_cap = 0;
  r->audio_deadline = UINT64_MAX;
}

/* ---- attendees ---- */

void rtc_mixer_gone(sfu_rtc_t *r, rtc_rec_t *x) {
  rtc_mixer_t *mx = x->mix.mx;
  if (!mx) { /* a receiver made before the mixer attendee could be added */
    sfu_audio_in_free(x->mix.in);
    x->mix.in = NULL;
    return;
  }
  sfu_mixer_attendee_remove(mx->mixer, x->mix.ma);
  sfu_list_remove(&x->mix.link);
  sfu_audio_in_free(x->mix.in);
  memset(&x->mix, 0, sizeof x->mix);
  if (--mx->n == 0) mixer_free(r, mx);
}

static void caps_of(const sfu_attendee_t *a, uint8_t *send, uint8_t *recv) {
  sfu_cap_t c = a->caps.audio;
  *send = c == SFU_CAP_SEND_RECEIVE || c == SFU_CAP_SEND;
  *recv = c == SFU_CAP_SEND_RECEIVE || c == SFU_CAP_RECEIVE;
}

void rtc_mixer_sync(sfu_rtc_t *r, rtc_rec_t *x, uint64_t now_us) {
  const rtc_audio_t *au = &x->audio;
  int receives = au->worker_ssrc && au->mix_pt >= 0;
  int want = r->cfg.audio_mixer && x->att && x->tp && sfu_transport_joined(x->tp) &&
             !sfu_transport_gone(x->tp) && (au->opus_pt >= 0 || receives);
  /* A re-offer that changed the mix's SSRC or PT: a new mixer attendee (its stream
   * restarts, as the answer said). */
  if (!want || (x->mix.mx && (x->mix.ssrc != au->worker_ssrc || x->mix.pt != au->mix_pt)))
    rtc_mixer_gone(r, x);
  if (!want) return;
  sfu_attendee_t *a = x->att;
  uint8_t cs, cr;
  caps_of(a, &cs, &cr);
  cr = cr && receives;
  cs = cs && au->opus_pt >= 0;
  /* Its incoming audio: made for the negotiated PTs, remade when they change. */
  if (x->mix.in && (au->opus_pt < 0 || x->mix.in_opus_pt != au->opus_pt ||
                    x->mix.in_red_pt != au->red_pt)) {
    if (x->mix.ma) sfu_mixer_attendee_set_source(x->mix.mx->mixer, x->mix.ma, NULL, NULL);
    sfu_audio_in_free(x->mix.in);
    x->mix.in = NULL;
  }
  int new_in = 0;
  if (!x->mix.in && au->opus_pt >= 0) {
    sfu_audio_in_cfg_t ic = {(uint8_t)au->opus_pt, au->red_pt};
    x->mix.in = sfu_audio_in_new(&ic);
    if (!x->mix.in) {
      SFU_WARN("rtc", "attendee %s: no audio receiver (out of memory)", a->id);
      return;
    }
    x->mix.in_opus_pt = au->opus_pt;
    x->mix.in_red_pt = au->red_pt;
    /* 48 kHz: RFC 7587 §4.1, whatever the Opus mode; SSRC from the offer, or the
     * first packet's when the offer declared none */
    sfu_recv_stats_init(&x->mix.rs, au->client_ssrc, SFU_AUDIO_RATE);
    /* a new stream says nothing yet about muting */
    x->mix.level_127_us = 0;
    x->mix.level_muted = x->mix.in_muted = 0;
    new_in = 1;
  }
  if (!x->mix.mx) {
    rtc_mixer_t *mx = meeting_mixer(r, a->meeting, now_us);
    if (!mx) return;
    uint16_t seq;
    uint32_t ts;
    sfu_random_bytes(&seq, sizeof seq); /* RFC 3550 §5.1: random initial values */
    sfu_random_bytes(&ts, sizeof ts);
    sfu_mixer_attendee_desc_t d = {
        .id = a->id,
        .ops = x->mix.in ? &sfu_audio_in_ops : NULL,
        .src = x->mix.in,
        .can_send = cs,
        .can_receive = cr,
        .content = x->content,
        .content_owner = a->content_owner ? a->content_owner->id : NULL,
        .stereo = au->stereo,
        .ssrc = au->worker_ssrc,
        .payload_type = (uint8_t)(au->mix_pt >= 0 ? au->mix_pt : 0),
        .first_seq = seq,
        .first_ts = ts,
        .listener_user = x,
    };
    sfu_mixer_attendee_t *ma = sfu_mixer_attendee_add(mx->mixer, &d, now_us);
    if (!ma) {
      SFU_WARN("rtc", "attendee %s: not added to the audio mixer (full or bad id)", a->id);
      if (mx->n == 0) mixer_free(r, mx);
      return;
    }
    x->mix.mx = mx;
    x->mix.ma = ma;
    x->mix.ssrc = au->worker_ssrc;
    x->mix.pt = au->mix_pt;
    x->mix.can_send = cs;
    x->mix.can_receive = cr;
    sfu_list_insert_tail(&mx->recs, &x->mix.link);
    mx->n++;
    return;
  }
  rtc_mixer_t *mx = x->mix.mx;
  if (new_in) {
    sfu_mixer_attendee_set_source(mx->mixer, x->mix.ma, &sfu_audio_in_ops, x->mix.in);
    apply_muted(x);
  }
  if (cs != x->mix.can_send || cr != x->mix.can_receive)
    sfu_mixer_attendee_set_caps(mx->mixer, x->mix.ma, cs, cr);
  x->mix.can_send = cs;
  x->mix.can_receive = cr;
  sfu_mixer_attendee_set_stereo(mx->mixer, x->mix.ma, au->stereo);
}

/* ---- in ---- */

int rtc_mixer_on_rtp(rtc_rec_t *x, uint64_t now_us, const uint8_t *buf, size_t len) {
  if (!x->mix.in || len < SFU_RTP_HDR_MIN) return 0;
  int pt = buf[1] & 0x7f;
  if (pt != x->audio.opus_pt && pt != x->audio.red_pt) return 0;
  sfu_rtp_hdr_t h;
  if (sfu_rtp_parse(buf, len, &h) != 0) return 1; /* ours, but garbage: dropped */
  /* One audio stream per attendee: a declared SSRC is the only one taken. */
  if (x->audio.client_ssrc && h.ssrc != x->audio.client_ssrc) return 1;
  int level = -1;
  const uint8_t *d;
  size_t dl;
  /* RFC 6464 §3: one byte, V (bit 7) and the level in -dBov (low 7 bits). */
  if (x->audio.level_ext_id && sfu_rtp_ext_find(&h, x->audio.level_ext_id, &d, &dl) == 0 && dl >= 1)
    level = d[0];
  /* A new undeclared SSRC is a new stream: its statistics start again. A red packet
   * shares the Opus stream's sequence space (RFC 2198 §3: it is one RTP stream). */
  if (h.ssrc != x->mix.rs.ssrc) sfu_recv_stats_init(&x->mix.rs, h.ssrc, SFU_AUDIO_RATE);
  sfu_recv_stats_on_packet(&x->mix.rs, now_us, h.seq, h.timestamp);
  sfu_audio_in_handle_rtp(x->mix.in, now_us, buf, len, level);
  level_muted_on_packet(x, now_us, level);
  return 1;
}

void rtc_mixer_on_rtcp(rtc_rec_t *x, uint64_t now_us, const uint8_t *buf, size_t len) {
  if (!x->mix.mx) return;
  sfu_rtcp_iter_t it;
  sfu_rtcp_pkt_t p;
  sfu_rtcp_iter_init(&it, buf, len);
  while (sfu_rtcp_iter_next(&it, &p) == 1) {
    const uint8_t *blocks = NULL;
    unsigned n = 0;
    if (p.pt == SFU_RTCP_SR) {
      sfu_rtcp_sr_t sr;
      if (sfu_rtcp_sr_parse(&p, &sr) != 0) continue;
      blocks = sr.blocks, n = sr.rb_count;
      /* its SR about its audio: LSR / DLSR of our next block (RFC 3550 §6.4.1), from
       * which it computes its RTT */
      if (x->mix.in && x->mix.rs.started && sr.ssrc == x->mix.rs.ssrc)
        sfu_recv_stats_on_sr(&x->mix.rs, now_us, sr.ntp);
    } else if (p.pt == SFU_RTCP_RR) {
      sfu_rtcp_rr_t rr;
      if (sfu_rtcp_rr_parse(&p, &rr) == 0) blocks = rr.blocks, n = rr.rb_count;
    }
    for (unsigned i = 0; i < n; i++) {
      sfu_rtcp_rb_t rb;
      sfu_rtcp_rb_get(blocks, i, &rb);
      if (!x->mix.ssrc || rb.ssrc != x->mix.ssrc) continue;
      /* RFC 3550 §6.4.1: fraction lost, 8-bit fixed point: tunes the encoder's FEC */
      x->mix.loss = rb.fraction_lost / 256.0f;
      x->mix.rrs_in++;
      sfu_mixer_attendee_set_loss(x->mix.mx->mixer, x->mix.ma, x->mix.loss);
    }
  }
}

/* ---- figures ---- */

const sfu_mixer_t *sfu_rtc_meeting_mixer(const sfu_meeting_t *m) {
  const rtc_mixer_t *mx = m->audio;
  return mx ? mx->mixer : NULL;
}

int sfu_rtc_attendee_audio(const sfu_attendee_t *a, uint64_t now_us, sfu_rtc_audio_info_t *out) {
  memset(out, 0, sizeof *out);
  const rtc_rec_t *x = a->transport;
  if (!x) return SFU_ENOENT;
  out->mix_ssrc = x->audio.worker_ssrc;
  if (x->mix.in) {
    out->has_in = 1;
    sfu_audio_in_stats(x->mix.in, &out->in);
  }
  if (!x->mix.mx) return 0;
  out->in_mixer = 1;
  out->can_send = x->mix.can_send;
  out->can_receive = x->mix.can_receive;
  out->talking = (uint8_t)sfu_mixer_attendee_talking(x->mix.ma);
  int slot = sfu_mixer_attendee_slot(x->mix.ma);
  if (slot >= 0 && sfu_audio_signals_get(sfu_mixer_signals(x->mix.mx->mixer), slot, now_us,
                                         &out->signal) == 0)
    out->has_signal = 1;
  out->mix_packets = x->mix.packets;
  out->mix_bytes = x->mix.bytes;
  out->srs_sent = x->mix.srs_sent;
  out->rrs_in = x->mix.rrs_in;
  out->rrs_sent = x->mix.rrs_sent;
  out->mix_loss = x->mix.loss;
  out->signals_sent = x->mix.signals_sent;
  out->signals_failed = x->mix.signals_failed;
  return 0;
}
