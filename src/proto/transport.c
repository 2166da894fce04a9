/* One attendee's WebRTC transport: ICE-lite + DTLS + SRTP composed (see
 * include/sfu/transport.h for the contract). Sans-IO: no clock, no socket. */
#include "sfu/transport.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sfu/demux.h"
#include "sfu/dtls.h"
#include "sfu/err.h"
#include "sfu/ice_lite.h"
#include "sfu/ids.h"
#include "sfu/log.h"
#include "sfu/rtcp.h"
#include "sfu/srtp.h"
#include "sfu/rtp.h"
#include "sfu/sctp.h"
#include "sfu/stun.h"
#include "sfu/twcc_recv.h"

typedef enum { ST_NEW = 0, ST_JOINED, ST_GONE } tstate_t;

/* A 5-tuple ICE has authenticated for this transport. */
typedef struct {
  sfu_tt_addr_entry_t entry; /* linked in the table while in use */
  uint64_t last_us;          /* last authenticated request from it (LRU replacement) */
} vaddr_t;

/* Owner: the media loop that created it (sfu_transport_new/free); one thread. */
struct sfu_transport {
  sfu_transport_table_t *table;
  sfu_transport_cbs_t cbs;
  void *tag;
  tstate_t state;
  sfu_ice_t ice;
  sfu_dtls_t *dtls;
  sfu_srtp_t *srtp;
  sfu_srtp_profile_t profile;
  uint64_t connect_deadline_us; /* DTLS must be up by then (UINT64_MAX once joined) */
  sfu_tt_ufrag_entry_t ufrag_entry;
  vaddr_t addrs[SFU_TRANSPORT_MAX_ADDRS];
  sfu_addr_t dtls_peer; /* where the last DTLS record came from: replies go there until a
                           pair is nominated (Chromium may start DTLS first) */
  int has_dtls_peer;
  char local_ufrag[SFU_ICE_UFRAG_LEN + 1], local_pwd[SFU_ICE_PWD_LEN + 1];
  char remote_ufrag[SFU_ICE_UFRAG_MAX + 1], remote_pwd[SFU_ICE_UFRAG_MAX + 1];
  sfu_fingerprint_set_t fps; /* the remote's, as last offered (RFC 8122 §5) */
  sfu_transport_stats_t st;
  uint32_t rtcp_ssrc;     /* sender SSRC of the RTCP this transport itself sends */
  sfu_twcc_recv_t twcc;   /* transport-wide CC feedback (off until an ext id is set) */
  /* Data channels: the association exists from DTLS connected (if the answer has an
   * application section) until sfu_transport_free — never freed from a callback, since
   * usrsctp may be on the stack (sctp.h). */
  sfu_sctp_group_t *sctp_group; /* the loop's; NULL: no application section */
  sfu_sctp_opts_t sctp_opts;
  sfu_sctp_t *sctp;
  int32_t first_channel; /* stream of the first channel the client opened, while open; -1 */
  uint64_t last_now_us;
  /* Earliest addr_expiry() of the validated 5-tuples, recomputed when one is added,
   * checked, selected or expired (never later than the truth; earlier only when another
   * transport took a 5-tuple over, and then the timeout just recomputes): the deadline,
   * read after every packet, stays O(1). */
  uint64_t addr_expiry_us;
};

static void refresh_addr_expiry(sfu_transport_t *t);

/* ---- departure: exactly once ---- */

static void unregister_all(sfu_transport_t *t) {
  sfu_tt_remove_ufrag(t->table, &t->ufrag_entry);
  for (int i = 0; i < SFU_TRANSPORT_MAX_ADDRS; i++) sfu_tt_remove_addr(t->table, &t->addrs[i].entry);
}

static void depart(sfu_transport_t *t, sfu_depart_kind_t kind, int err) {
  if (t->state == ST_GONE) return;
  int joined = t->state == ST_JOINED;
  t->state = ST_GONE;
  sfu_ice_close(&t->ice); /* no more answers, deadlines or callbacks from the agent */
  /* Nothing reaches a departed transport: its keys leave the table now, so a packet
   * still in flight is dropped by the lookup like any unknown one. */
  unregister_all(t);
  t->st.data_channels = 0; /* the association stays (inert) until sfu_transport_free */
  if (t->cbs.on_departed_cb) t->cbs.on_departed_cb(t->cbs.user, t, kind, joined, err);
}

/* ---- where to send ---- */

static const sfu_addr_t *dest(const sfu_transport_t *t) {
  const sfu_addr_t *sel = sfu_ice_selected(&t->ice);
  if (sel) return sel;
  if (t->has_dtls_peer) return &t->dtls_peer;
  const vaddr_t *best = NULL;
  for (int i = 0; i < SFU_TRANSPORT_MAX_ADDRS; i++)
    if (t->addrs[i].entry.linked && (!best || t->addrs[i].last_us > best->last_us)) best = &t->addrs[i];
  return best ? &best->entry.addr : NULL;
}

static void emit(sfu_transport_t *t, const sfu_addr_t *to, const uint8_t *buf, size_t len) {
  t->st.packets_out++;
  t->st.bytes_out += len;
  t->cbs.send_cb(t->cbs.user, t, to, buf, len);
}

/* ---- ICE callbacks ---- */

/* RFC 8489 §5: the class bits of an error response (C1 = 0x0100, C0 = 0x0010). */
static int is_stun_error(const uint8_t *buf, size_t len) {
  return len >= 2 && (sfu_rd16(buf) & 0x0110) == 0x0110;
}

static void ice_send(void *user, const sfu_addr_t *to, const uint8_t *buf, size_t len) {
  sfu_transport_t *t = user;
  /* Error responses mostly answer checks that failed, which anyone who knows the ufrag
   * can send: counted apart, not as this attendee's traffic. */
  if (is_stun_error(buf, len)) {
    t->st.stun_errors_out++;
    t->cbs.send_cb(t->cbs.user, t, to, buf, len);
    return;
  }
  emit(t, to, buf, len);
}

static void ice_selected(void *user, const sfu_addr_t *remote) {
  sfu_transport_t *t = user;
  char a[SFU_ADDR_STRLEN];
  SFU_INFO("transport", "%s: selected %s/%s", t->local_ufrag, sfu_addr_format(remote, a),
           remote->proto == SFU_PROTO_TCP ? "tcp" : "udp");
}

static void ice_consent_lost(void *user) {
  sfu_transport_t *t = user;
  SFU_INFO("transport", "%s: consent lost (RFC 7675), dropping", t->local_ufrag);
  depart(t, SFU_DEPART_DROPPED, SFU_ECLOSED);
}

static const sfu_ice_cbs_t ice_cbs = {ice_send, ice_selected, ice_consent_lost};

/* ---- DTLS callbacks ---- */

static void dtls_send(void *user, const uint8_t *buf, size_t len) {
  sfu_transport_t *t = user;
  const sfu_addr_t *to = dest(t);
  if (!to) return; /* no validated 5-tuple yet: the DTLS core retransmits later */
  emit(t, to, buf, len);
}

/* The connect deadline ends at join, so from then on only RFC 7675 consent can end a
 * silent peer. A peer that never nominated (no USE-CANDIDATE) would have none: hand the
 * pair DTLS runs on to the agent as selected, consent counted from its last valid check. */
static void use_dtls_pair(sfu_transport_t *t) {
  if (sfu_ice_selected(&t->ice) || !t->has_dtls_peer) return;
  for (int i = 0; i < SFU_TRANSPORT_MAX_ADDRS; i++) {
    const vaddr_t *v = &t->addrs[i];
    if (v->entry.linked && sfu_addr_equal(&v->entry.addr, &t->dtls_peer)) {
      (void)sfu_ice_use_pair(&t->ice, &t->dtls_peer, v->last_us);
      return;
    }
  }
}

/* Transport-cc feedback once due: on each RTP arrival (a packet after the interval
 * carries it out in the same loop turn, so steady media never wakes the timer) and at
 * the timer (packets stopped). See twcc_recv.h. */
static void send_twcc(sfu_transport_t *t, uint64_t now_us) {
  if (t->state != ST_JOINED || now_us < sfu_twcc_recv_due(&t->twcc)) return;
  uint8_t fb[1500];
  int n = sfu_twcc_recv_build(&t->twcc, now_us, t->rtcp_ssrc, fb, sizeof fb - 64);
  if (n > 0) sfu_transport_send_rtcp(t, fb, (size_t)n, sizeof fb);
}

/* ---- SCTP (data channels) callbacks: may run inside usrsctp, see sctp.h ---- */

static void sctp_out(void *user, const uint8_t *buf, size_t len) {
  sfu_transport_t *t = user;
  /* RFC 8261 §5: one SCTP packet per DTLS record (the SCTP path MTU keeps it small). */
  if (t->state == ST_JOINED) sfu_dtls_send(t->dtls, buf, len);
}

static void sctp_channel(void *user, const sfu_sctp_channel_t *ch, int open) {
  sfu_transport_t *t = user;
  if (t->state == ST_GONE) return;
  if (open) t->st.data_channels++;
  else if (t->st.data_channels) t->st.data_channels--;
  /* The worker's own messages (sfu:audio) go on the first channel the client opened
   * (issue 10's rule); once it closes, none until the client opens another. */
  int before = t->first_channel;
  if (open && t->first_channel < 0) t->first_channel = ch->stream;
  else if (!open && t->first_channel == ch->stream) t->first_channel = -1;
  if (t->first_channel != before && t->cbs.on_data_channel_cb)
    t->cbs.on_data_channel_cb(t->cbs.user, t, t->first_channel);
  SFU_INFO("transport", "%s: data channel '%s' on stream %u %s", t->local_ufrag, ch->label, ch->stream,
           open ? "open" : "closed");
}

static void sctp_message(void *user, uint16_t stream, uint32_t ppid, const uint8_t *buf, size_t len) {
  sfu_transport_t *t = user;
  if (t->state == ST_GONE) return;
  t->st.data_messages_in++;
  t->st.data_bytes_in += len;
  if (t->cbs.on_data_message_cb) t->cbs.on_data_message_cb(t->cbs.user, t, stream, ppid, buf, len);
}

static void sctp_writable(void *user, size_t buffered) {
  sfu_transport_t *t = user;
  if (t->state == ST_GONE) return;
  if (t->cbs.on_data_writable_cb) t->cbs.on_data_writable_cb(t->cbs.user, t, buffered);
}

/* Once joined and configured: the SCTP server side waits for the client's INIT. */
static void start_sctp(sfu_transport_t *t) {
  if (t->sctp || !t->sctp_group || t->state != ST_JOINED) return;
  sfu_sctp_cbs_t cbs = {sctp_out, NULL, sctp_channel, sctp_message, t, sctp_writable};
  t->sctp = sfu_sctp_new(t->sctp_group, &t->sctp_opts, &cbs, t->last_now_us);
  if (!t->sctp) SFU_WARN("transport", "%s: could not create the SCTP association", t->local_ufrag);
}

int sfu_transport_set_sctp(sfu_transport_t *t, sfu_sctp_group_t *group, uint16_t local_port,
                           uint16_t remote_port, uint32_t remote_max_message_size, uint64_t now_us) {
  if (!group) return SFU_EINVAL;
  if (t->state == ST_GONE) return SFU_ECLOSED;
  if (t->sctp_group) return 0;
  t->sctp_group = group;
  uint32_t sb = t->sctp_opts.send_buffer, lw = t->sctp_opts.low_water; /* set_data_buffer */
  memset(&t->sctp_opts, 0, sizeof t->sctp_opts);
  t->sctp_opts.send_buffer = sb;
  t->sctp_opts.low_water = lw;
  t->sctp_opts.role = SFU_SCTP_ROLE_SERVER; /* we are the DTLS server (RFC 8832 §4: even/odd ids) */
  t->sctp_opts.local_port = local_port;
  t->sctp_opts.remote_port = remote_port;
  t->sctp_opts.remote_max_message_size = remote_max_message_size;
  t->last_now_us = now_us;
  start_sctp(t);
  return 0;
}

static void dtls_connected(void *user, const sfu_srtp_keys_t *keys) {
  sfu_transport_t *t = user;
  if (t->state != ST_NEW) return;
  /* RFC 5764 §4.2: we are the DTLS server, so we send with the server write key. */
  t->srtp = sfu_srtp_new(keys, 1);
  if (!t->srtp) {
    t->st.dtls_failures++;
    SFU_WARN("transport", "%s: SRTP session setup failed", t->local_ufrag);
    depart(t, SFU_DEPART_DROPPED, SFU_ECRYPTO);
    return;
  }
  t->profile = keys->profile;
  t->state = ST_JOINED;
  t->connect_deadline_us = UINT64_MAX;
  use_dtls_pair(t);
  refresh_addr_expiry(t); /* its pair may now be the selected one */
  SFU_INFO("transport", "%s: DTLS connected, SRTP %s", t->local_ufrag,
           sfu_srtp_profile_name(keys->profile));
  start_sctp(t);
  if (t->cbs.on_joined_cb) t->cbs.on_joined_cb(t->cbs.user, t);
}

static void dtls_app_data(void *user, const uint8_t *buf, size_t len) {
  sfu_transport_t *t = user;
  if (t->state != ST_JOINED) return;
  if (t->sctp) sfu_sctp_handle_input(t->sctp, t->last_now_us, buf, len);
  else if (t->cbs.on_app_data_cb) t->cbs.on_app_data_cb(t->cbs.user, t, buf, len);
}

static void dtls_closed(void *user, int reason) {
  sfu_transport_t *t = user;
  if (t->state == ST_GONE) return;
  if (reason == 0) {
    SFU_INFO("transport", "%s: close_notify received", t->local_ufrag);
    depart(t, SFU_DEPART_LEFT, 0);
    return;
  }
  t->st.dtls_failures++;
  if (reason == SFU_EAUTH) {
    t->st.fingerprint_mismatches++;
    char fp[SFU_FP_TEXT_MAX];
    SFU_WARN("transport",
             "%s: peer certificate matches none of the %zu offered fingerprints (checked "
             "with %s; first %s %s)",
             t->local_ufrag, t->fps.n, sfu_fp_hash_name(sfu_fingerprint_set_preferred(&t->fps)),
             sfu_fp_hash_name(t->fps.fp[0].hash),
             sfu_fingerprint_format(&t->fps.fp[0], fp, sizeof fp));
  } else {
    SFU_WARN("transport", "%s: DTLS failed: %s", t->local_ufrag, sfu_strerror(reason));
  }
  depart(t, SFU_DEPART_DROPPED, reason);
}

static const sfu_dtls_cbs_t dtls_cbs = {dtls_send, dtls_connected, dtls_app_data, dtls_closed};

/* ---- creation ---- */

static int copy_str(char *dst, size_t cap, const char *src) {
  size_t n = src ? strlen(src) : 0;
  if (n == 0 || n >= cap) return SFU_EINVAL;
  memcpy(dst, src, n + 1);
  return 0;
}

static int new_local_creds(sfu_transport_t *t) {
  int r = sfu_random_ice_chars(t->local_ufrag, SFU_ICE_UFRAG_LEN);
  if (!r) r = sfu_random_ice_chars(t->local_pwd, SFU_ICE_PWD_LEN);
  return r;
}

static int set_remote_creds(sfu_transport_t *t, const sfu_transport_remote_t *rm) {
  if (copy_str(t->remote_ufrag, sizeof t->remote_ufrag, rm->ice_ufrag) ||
      copy_str(t->remote_pwd, sizeof t->remote_pwd, rm->ice_pwd))
    return SFU_EINVAL;
  return 0;
}

/* The remote's fingerprint set: the offered set, or the single alg/value pair. */
static int remote_fingerprints(const sfu_transport_remote_t *rm, sfu_fingerprint_set_t *out) {
  if (rm->fingerprints) {
    if (!rm->fingerprints->n) return SFU_EINVAL;
    *out = *rm->fingerprints;
    return 0;
  }
  memset(out, 0, sizeof *out);
  if (!rm->fingerprint_alg || !rm->fingerprint) return SFU_EINVAL;
  sfu_fp_hash_t h = sfu_fp_hash_from_name(rm->fingerprint_alg, strlen(rm->fingerprint_alg));
  sfu_fingerprint_t fp;
  if (sfu_fingerprint_parse(&fp, h, rm->fingerprint, strlen(rm->fingerprint))) return SFU_EINVAL;
  return sfu_fingerprint_set_add(out, &fp) ? SFU_EINVAL : 0;
}

/* Registers the local ufrag; a (astronomically unlikely) collision just draws again. */
static int register_ufrag(sfu_transport_t *t) {
  for (int tries = 0; tries < 4; tries++) {
    int r = sfu_tt_add_ufrag(t->table, &t->ufrag_entry, t->local_ufrag, t);
    if (r != SFU_EEXIST) return r;
    if ((r = sfu_random_ice_chars(t->local_ufrag, SFU_ICE_UFRAG_LEN))) return r;
  }
  return SFU_EEXIST;
}

sfu_transport_t *sfu_transport_new(sfu_transport_table_t *table, const struct sfu_dtls_cert *cert,
                                   const sfu_transport_remote_t *remote,
                                   const sfu_transport_cbs_t *cbs, void *tag, uint64_t now_us) {
  if (!table || !cert || !remote || !cbs || !cbs->send_cb) return NULL;
  sfu_transport_t *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->table = table;
  t->cbs = *cbs;
  t->tag = tag;
  t->connect_deadline_us = now_us + SFU_TRANSPORT_CONNECT_TIMEOUT_US;
  t->first_channel = -1;
  t->addr_expiry_us = UINT64_MAX;
  sfu_twcc_recv_init(&t->twcc, 0);
  sfu_random_bytes(&t->rtcp_ssrc, sizeof t->rtcp_ssrc);
  if (set_remote_creds(t, remote) || remote_fingerprints(remote, &t->fps) || new_local_creds(t))
    goto fail;
  if (sfu_ice_init(&t->ice, &ice_cbs, t, now_us) || sfu_ice_set_local(&t->ice, t->local_ufrag, t->local_pwd) ||
      sfu_ice_set_remote(&t->ice, t->remote_ufrag, t->remote_pwd))
    goto fail;
  /* Server role: the answer says a=setup:passive (RFC 5763 §5), the client starts. */
  t->dtls = sfu_dtls_new(cert, SFU_DTLS_ROLE_SERVER, &dtls_cbs, t, now_us);
  if (!t->dtls || sfu_dtls_set_remote_fingerprints(t->dtls, &t->fps)) goto fail;
  if (register_ufrag(t)) goto fail;
  return t;
fail:
  if (t->dtls) sfu_dtls_free(t->dtls);
  free(t);
  return NULL;
}

void sfu_transport_free(sfu_transport_t *t) {
  if (!t) return;
  unregister_all(t);
  t->state = ST_GONE; /* callbacks fired by the frees below are ignored */
  if (t->sctp) sfu_sctp_free(t->sctp); /* before DTLS: it sends nothing more either way */
  if (t->dtls) sfu_dtls_free(t->dtls);
  if (t->srtp) sfu_srtp_free(t->srtp);
  free(t);
}

int sfu_transport_same_fingerprint(const sfu_transport_t *t, const sfu_fingerprint_set_t *set) {
  if (!set || !set->n) return 0;
  /* Connected: the device is the certificate DTLS authenticated (RFC 8122 §5). */
  int m = t->dtls ? sfu_dtls_peer_matches(t->dtls, set) : SFU_ESTATE;
  if (m >= 0) return m;
  return sfu_fingerprint_set_intersects(&t->fps, set);
}

int sfu_transport_renegotiate(sfu_transport_t *t, const sfu_transport_remote_t *remote,
                              uint64_t now_us, int *restarted) {
  if (restarted) *restarted = 0;
  if (t->state == ST_GONE) return SFU_ECLOSED;
  if (!remote->ice_ufrag || !remote->ice_pwd) return SFU_EINVAL;
  sfu_fingerprint_set_t fps;
  if (remote_fingerprints(remote, &fps) || !sfu_transport_same_fingerprint(t, &fps))
    return SFU_EINVAL;
  /* The newest offer is what the device says now (before connecting, the handshake's
   * final check uses it). */
  if (sfu_dtls_set_remote_fingerprints(t->dtls, &fps) == 0) t->fps = fps;
  if (strcmp(remote->ice_ufrag, t->remote_ufrag) == 0 && strcmp(remote->ice_pwd, t->remote_pwd) == 0)
    return 0;
  /* RFC 8445 §9: an ICE restart changes both sides' credentials. Validated 5-tuples stay
   * (media keeps flowing on the old pair until the new one is nominated, §9). */
  char old_ufrag[SFU_ICE_UFRAG_LEN + 1];
  memcpy(old_ufrag, t->local_ufrag, sizeof old_ufrag);
  if (set_remote_creds(t, remote) || new_local_creds(t)) return SFU_EINVAL;
  sfu_tt_remove_ufrag(t->table, &t->ufrag_entry);
  int r = register_ufrag(t);
  if (!r) r = sfu_ice_set_local(&t->ice, t->local_ufrag, t->local_pwd);
  if (!r) r = sfu_ice_set_remote(&t->ice, t->remote_ufrag, t->remote_pwd);
  if (r) return r;
  if (t->state == ST_NEW) t->connect_deadline_us = now_us + SFU_TRANSPORT_CONNECT_TIMEOUT_US;
  SFU_INFO("transport", "%s: ICE restart, new local ufrag %s", old_ufrag, t->local_ufrag);
  if (restarted) *restarted = 1;
  return 0;
}

void sfu_transport_close(sfu_transport_t *t, uint64_t now_us) {
  if (t->state == ST_GONE) return;
  /* RFC 5246 §7.2.1 close_notify, sent while the 5-tuples are still known. */
  if (t->dtls) sfu_dtls_close(t->dtls);
  depart(t, SFU_DEPART_LEFT, 0);
}

void sfu_transport_drop(sfu_transport_t *t, uint64_t now_us, int err) {
  if (t->state == ST_GONE) return;
  if (t->dtls) sfu_dtls_close(t->dtls);
  depart(t, SFU_DEPART_DROPPED, err);
}

/* ---- input ---- */

/* Whether `from` is another live transport's selected pair with fresh consent (RFC 7675:
 * a valid check on it within the consent timeout, else that transport would have
 * departed). Such a 5-tuple is not taken over by a check for this transport: a peer
 * who can send from it (same NAT, spoofing) could otherwise steal that attendee's media
 * path with its own valid credentials. A real address reuse waits at most for the old
 * transport's consent to lapse. */
static int held_by_other(const sfu_transport_t *t, const sfu_addr_t *from, uint64_t now_us) {
  const sfu_tt_addr_entry_t *e = sfu_tt_find_addr(t->table, from);
  if (!e || e->value == t) return 0;
  const sfu_transport_t *o = e->value;
  const sfu_addr_t *sel = sfu_ice_selected(&o->ice);
  return o->state != ST_GONE && sel && sfu_addr_equal(sel, from) &&
         now_us < sfu_ice_next_deadline(&o->ice);
}

/* Enters `from` as a validated 5-tuple (ICE just accepted a request from it). */
static void validate_addr(sfu_transport_t *t, const sfu_addr_t *from, uint64_t now_us) {
  vaddr_t *slot = NULL, *oldest = NULL;
  const sfu_addr_t *sel = sfu_ice_selected(&t->ice);
  for (int i = 0; i < SFU_TRANSPORT_MAX_ADDRS; i++) {
    vaddr_t *v = &t->addrs[i];
    if (v->entry.linked && sfu_addr_equal(&v->entry.addr, from)) {
      v->last_us = now_us;
      return;
    }
    if (!v->entry.linked) {
      if (!slot) slot = v;
    } else if (!(sel && sfu_addr_equal(sel, &v->entry.addr)) && (!oldest || v->last_us < oldest->last_us)) {
      oldest = v;
    }
  }
  if (!slot) {
    if (!oldest) return;
    sfu_tt_remove_addr(t->table, &oldest->entry);
    slot = oldest;
  }
  sfu_tt_addr_entry_t *evicted = NULL;
  sfu_tt_add_addr(t->table, &slot->entry, from, t, &evicted);
  slot->last_us = now_us;
  /* An evicted entry belonged to another transport whose peer moved away from this
   * 5-tuple; that transport simply stops receiving on it (its consent will tell). */
}

/* Only checks the agent accepted count as the attendee's traffic (PacketsIn): refused
 * ones are anyone's (the ufrag is public) and are counted in stun_rejected alone. */
static int handle_stun(sfu_transport_t *t, uint64_t now_us, const sfu_addr_t *from,
                       const sfu_stun_msg_t *msg, size_t len) {
  t->st.stun_requests++;
  if (held_by_other(t, from, now_us)) {
    t->st.stun_rejected++;
    t->st.stun_addr_taken++;
    return SFU_EEXIST;
  }
  int r = sfu_ice_handle_stun(&t->ice, now_us, from, msg);
  if (r < 0) {
    t->st.stun_rejected++;
    return r;
  }
  t->st.packets_in++;
  t->st.bytes_in += len;
  if (t->state != ST_GONE) {
    validate_addr(t, from, now_us);
    refresh_addr_expiry(t); /* the check may also have moved the selected pair */
  }
  return 0;
}

/* RFC 3550 §6.6: a BYE says its sources have left. Authenticated (it arrived in SRTCP),
 * so it can only end the peer's own SSRCs: their SRTP state shrinks to a tombstone
 * (sfu/srtp.h), and a long session that adds and removes tracks does not run into the
 * inbound bound. Before on_rtcp, which may rewrite the buffer. */
static void end_byed_ssrcs(sfu_transport_t *t, const uint8_t *buf, size_t len) {
  sfu_rtcp_iter_t it;
  sfu_rtcp_pkt_t p;
  sfu_rtcp_bye_t bye;
  sfu_rtcp_iter_init(&it, buf, len);
  while (sfu_rtcp_iter_next(&it, &p) == 1)
    if (p.pt == SFU_RTCP_BYE && sfu_rtcp_bye_parse(&p, &bye) == 0)
      for (unsigned i = 0; i < bye.count; i++)
        sfu_srtp_remove_ssrc(t->srtp, sfu_rtcp_bye_ssrc(&bye, i), 0);
}

static int handle_srtp(sfu_transport_t *t, uint64_t now_us, uint8_t *buf, size_t len, int rtcp) {
  if (rtcp) t->st.rtcp_in++;
  else t->st.rtp_in++;
  if (t->state != ST_JOINED || !t->srtp) {
    t->st.decrypt_failures++;
    return SFU_ESTATE;
  }
  size_t n = len;
  int r = rtcp ? sfu_srtp_unprotect_rtcp(t->srtp, buf, &n) : sfu_srtp_unprotect_rtp(t->srtp, buf, &n);
  if (r) {
    t->st.decrypt_failures++;
    return r;
  }
  t->st.decrypted++;
  t->st.decrypted_bytes += n;
  if (!rtcp && t->twcc.ext_id) {
    sfu_rtp_hdr_t h;
    const uint8_t *v;
    size_t vl;
    if (sfu_rtp_parse(buf, n, &h) == 0 && sfu_rtp_ext_find(&h, t->twcc.ext_id, &v, &vl) == 0 && vl >= 2)
      sfu_twcc_recv_packet(&t->twcc, sfu_rd16(v), h.ssrc, now_us);
  }
  if (rtcp) {
    end_byed_ssrcs(t, buf, n);
    if (t->cbs.on_rtcp_cb) t->cbs.on_rtcp_cb(t->cbs.user, t, now_us, buf, n);
  } else if (t->cbs.on_rtp_cb) {
    t->cbs.on_rtp_cb(t->cbs.user, t, now_us, buf, n);
  }
  if (!rtcp) send_twcc(t, now_us); /* O(1) unless a feedback is due */
  return 0;
}

/* Whether a non-STUN packet comes from a 5-tuple ICE validated for this transport. */
static int from_validated(const sfu_transport_t *t, const sfu_addr_t *from) {
  for (int i = 0; i < SFU_TRANSPORT_MAX_ADDRS; i++)
    if (t->addrs[i].entry.linked && sfu_addr_equal(&t->addrs[i].entry.addr, from)) return 1;
  return 0;
}

static int input_kind(sfu_transport_t *t, uint64_t now_us, const sfu_addr_t *from, uint8_t *buf,
                      size_t len, sfu_pkt_kind_t kind, const sfu_stun_msg_t *stun) {
  t->last_now_us = now_us;
  if (t->state == ST_GONE) {
    t->st.dropped++;
    return SFU_ECLOSED;
  }
  if (kind == SFU_PKT_STUN) {
    sfu_stun_msg_t m;
    if (!stun) {
      if (sfu_stun_parse(buf, len, &m)) {
        t->st.dropped++;
        return SFU_EPARSE;
      }
      stun = &m;
    }
    if (stun->cls != SFU_STUN_REQUEST || stun->method != SFU_STUN_BINDING) {
      t->st.dropped++; /* a lite agent sends no requests, so expects no responses */
      return SFU_EINVAL;
    }
    return handle_stun(t, now_us, from, stun, len);
  }
  if (!from_validated(t, from)) {
    t->st.dropped++;
    return SFU_EPERM;
  }
  t->st.packets_in++;
  t->st.bytes_in += len;
  switch (kind) {
  case SFU_PKT_DTLS:
    t->st.dtls_in++;
    t->dtls_peer = *from;
    t->has_dtls_peer = 1;
    return sfu_dtls_handle_input(t->dtls, now_us, buf, len);
  case SFU_PKT_RTP:
    return handle_srtp(t, now_us, buf, len, 0);
  case SFU_PKT_RTCP:
    return handle_srtp(t, now_us, buf, len, 1);
  default:
    t->st.dropped++;
    return SFU_EPARSE;
  }
}

int sfu_transport_handle_input(sfu_transport_t *t, uint64_t now_us, const sfu_addr_t *from,
                               uint8_t *buf, size_t len) {
  return input_kind(t, now_us, from, buf, len, sfu_demux_classify(buf, len), NULL);
}

sfu_transport_t *sfu_transport_dispatch(sfu_transport_table_t *table, uint64_t now_us,
                                        const sfu_addr_t *from, uint8_t *buf, size_t len) {
  sfu_pkt_kind_t kind = sfu_demux_classify(buf, len);
  sfu_transport_t *t;
  if (kind == SFU_PKT_STUN) {
    /* RFC 8445 §7.2.2: USERNAME is "LFRAG:RFRAG"; the local part names the transport.
     * Only a parse on the stack, no allocation, before the lookup. */
    sfu_stun_msg_t m;
    const char *uf;
    size_t uflen;
    if (sfu_stun_parse(buf, len, &m) || m.cls != SFU_STUN_REQUEST ||
        sfu_stun_username_local(&m, &uf, &uflen))
      return NULL;
    t = sfu_tt_lookup_ufrag(table, uf, uflen);
    if (!t) return NULL;
    input_kind(t, now_us, from, buf, len, kind, &m);
    return t;
  }
  if (kind == SFU_PKT_UNKNOWN) return NULL;
  t = sfu_tt_lookup_addr(table, from);
  if (!t) return NULL;
  input_kind(t, now_us, from, buf, len, kind, NULL);
  return t;
}

/* ---- timers ---- */

/* When a validated 5-tuple other than the selected pair stops being valid: RFC 7675
 * consent is the only proof the peer still wants traffic there, and it lapses after the
 * consent timeout without a valid check. (The selected pair's consent is the agent's:
 * its loss ends the transport.) Expiry removes the 5-tuple from the table, which closes
 * an ICE-TCP connection the peer stopped checking on. */
static uint64_t addr_expiry(const sfu_transport_t *t, const vaddr_t *v) {
  const sfu_addr_t *sel = sfu_ice_selected(&t->ice);
  if (!v->entry.linked || (sel && sfu_addr_equal(sel, &v->entry.addr))) return UINT64_MAX;
  return v->last_us + t->ice.consent_timeout_us;
}

static void refresh_addr_expiry(sfu_transport_t *t) {
  t->addr_expiry_us = UINT64_MAX;
  for (int i = 0; i < SFU_TRANSPORT_MAX_ADDRS; i++) {
    uint64_t e = addr_expiry(t, &t->addrs[i]);
    if (e < t->addr_expiry_us) t->addr_expiry_us = e;
  }
}

static void expire_addrs(sfu_transport_t *t, uint64_t now_us) {
  if (now_us < t->addr_expiry_us) return;
  for (int i = 0; i < SFU_TRANSPORT_MAX_ADDRS; i++) {
    vaddr_t *v = &t->addrs[i];
    if (now_us < addr_expiry(t, v)) continue;
    char a[SFU_ADDR_STRLEN];
    SFU_DEBUG("transport", "%s: %s/%s no longer valid (no check for %llu ms)", t->local_ufrag,
              sfu_addr_format(&v->entry.addr, a), v->entry.addr.proto == SFU_PROTO_TCP ? "tcp" : "udp",
              (unsigned long long)(t->ice.consent_timeout_us / 1000));
    sfu_tt_remove_addr(t->table, &v->entry);
    if (t->has_dtls_peer && sfu_addr_equal(&t->dtls_peer, &v->entry.addr)) t->has_dtls_peer = 0;
  }
  refresh_addr_expiry(t);
}

void sfu_transport_handle_timeout(sfu_transport_t *t, uint64_t now_us) {
  if (t->state == ST_GONE) return;
  t->last_now_us = now_us;
  sfu_ice_handle_timeout(&t->ice, now_us);
  if (t->state == ST_GONE) return;
  expire_addrs(t, now_us);
  sfu_dtls_handle_timeout(t->dtls, now_us);
  if (now_us >= sfu_twcc_recv_deadline(&t->twcc)) send_twcc(t, now_us);
  if (t->state == ST_NEW && now_us >= t->connect_deadline_us) {
    SFU_INFO("transport", "%s: no DTLS connection within %llu s, dropping", t->local_ufrag,
             (unsigned long long)(SFU_TRANSPORT_CONNECT_TIMEOUT_US / 1000000));
    depart(t, SFU_DEPART_DROPPED, SFU_ECLOSED);
  }
}

uint64_t sfu_transport_next_deadline(const sfu_transport_t *t) {
  if (t->state == ST_GONE) return UINT64_MAX;
  uint64_t d = sfu_ice_next_deadline(&t->ice);
  uint64_t x = sfu_dtls_next_deadline(t->dtls);
  if (x < d) d = x;
  if (t->state == ST_NEW && t->connect_deadline_us < d) d = t->connect_deadline_us;
  if (t->state == ST_JOINED && sfu_twcc_recv_deadline(&t->twcc) < d) d = sfu_twcc_recv_deadline(&t->twcc);
  return t->addr_expiry_us < d ? t->addr_expiry_us : d;
}

/* ---- output of media (later issues) ---- */

static int send_srtp(sfu_transport_t *t, uint8_t *buf, size_t len, size_t cap, int rtcp) {
  if (t->state != ST_JOINED || !t->srtp) return SFU_ESTATE;
  const sfu_addr_t *to = dest(t);
  if (!to) return SFU_ESTATE;
  int r = rtcp ? sfu_srtp_protect_rtcp(t->srtp, buf, &len, cap) : sfu_srtp_protect_rtp(t->srtp, buf, &len, cap);
  if (r) return r;
  emit(t, to, buf, len);
  return 0;
}

int sfu_transport_send_rtp(sfu_transport_t *t, uint8_t *buf, size_t len, size_t cap) {
  return send_srtp(t, buf, len, cap, 0);
}

int sfu_transport_send_rtcp(sfu_transport_t *t, uint8_t *buf, size_t len, size_t cap) {
  return send_srtp(t, buf, len, cap, 1);
}

void sfu_transport_set_twcc_ext(sfu_transport_t *t, uint8_t ext_id) {
  if (ext_id != t->twcc.ext_id) sfu_twcc_recv_init(&t->twcc, ext_id);
}

/* ---- figures ---- */

const sfu_transport_stats_t *sfu_transport_stats(const sfu_transport_t *t) { return &t->st; }
void *sfu_transport_tag(const sfu_transport_t *t) { return t->tag; }
const char *sfu_transport_local_ufrag(const sfu_transport_t *t) { return t->local_ufrag; }
const char *sfu_transport_local_pwd(const sfu_transport_t *t) { return t->local_pwd; }
const char *sfu_transport_ice_state(const sfu_transport_t *t) {
  return t->state == ST_GONE ? "closed" : sfu_ice_state_name(&t->ice);
}
const char *sfu_transport_dtls_state(const sfu_transport_t *t) { return sfu_dtls_state_name(t->dtls); }
const sfu_addr_t *sfu_transport_selected(const sfu_transport_t *t) { return sfu_ice_selected(&t->ice); }
const char *sfu_transport_srtp_profile(const sfu_transport_t *t) {
  return t->srtp ? sfu_srtp_profile_name(t->profile) : "";
}
int sfu_transport_joined(const sfu_transport_t *t) { return t->state == ST_JOINED; }
int sfu_transport_gone(const sfu_transport_t *t) { return t->state == ST_GONE; }
const char *sfu_transport_sctp_state(const sfu_transport_t *t) {
  if (!t->sctp) return "none";
  return t->state == ST_GONE ? "closed" : sfu_sctp_state_name(sfu_sctp_state(t->sctp));
}
sfu_sctp_t *sfu_transport_sctp(const sfu_transport_t *t) { return t->sctp; }
int sfu_transport_data_channel(const sfu_transport_t *t) {
  return t->sctp && t->state != ST_GONE ? t->first_channel : -1;
}
sfu_srtp_t *sfu_transport_srtp(const sfu_transport_t *t) { return t->srtp; }

/* ---- data channels: sending with backpressure ---- */

int sfu_transport_send_data(sfu_transport_t *t, uint64_t now_us, int stream, uint32_t ppid,
                            const uint8_t *buf, size_t len) {
  if (!t->sctp || t->state != ST_JOINED) return SFU_ESTATE;
  if (ppid != SFU_SCTP_PPID_STRING && ppid != SFU_SCTP_PPID_BINARY) return SFU_EINVAL;
  if (stream < 0) stream = t->first_channel;
  if (stream < 0 || stream > 0xffff) return SFU_ENOENT;
  const sfu_sctp_channel_t *ch = sfu_sctp_channel(t->sctp, (uint16_t)stream);
  if (!ch || !ch->open || ch->closing) return SFU_ENOENT;
  if (now_us > t->last_now_us) t->last_now_us = now_us;
  int rc = sfu_sctp_send(t->sctp, now_us, (uint16_t)stream, ppid, buf, len);
  if (rc == 0) {
    t->st.data_messages_out++;
    t->st.data_bytes_out += len;
  } else if (rc == SFU_EAGAIN) {
    t->st.data_send_blocked++;
  }
  return rc;
}

size_t sfu_transport_data_buffered(const sfu_transport_t *t) {
  return t->sctp ? sfu_sctp_buffered_amount(t->sctp) : 0;
}

int sfu_transport_data_blocked(const sfu_transport_t *t) {
  return t->sctp ? sfu_sctp_blocked(t->sctp) : 0;
}

void sfu_transport_set_data_buffer(sfu_transport_t *t, uint32_t send_buffer, uint32_t low_water) {
  t->sctp_opts.send_buffer = send_buffer;
  t->sctp_opts.low_water = low_water;
  if (t->sctp) sfu_sctp_set_low_water(t->sctp, low_water);
}
