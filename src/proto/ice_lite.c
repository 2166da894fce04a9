/* ICE-lite agent: RFC 8445 §2.5 and §7.3 (responding to checks), RFC 7675 (consent). */
#include <string.h>

#include "sfu/err.h"
#include "sfu/ice_lite.h"
#include "sfu/log.h"

#define ICE_OUT_MAX 512 /* largest response: 420 with 8 unknown types, MI, FP: < 100 */
#define UNAUTH_REPLY_COST_US (1000000ull / SFU_ICE_UNAUTH_REPLIES_PER_S)
#define UNAUTH_CREDIT_MAX_US (UNAUTH_REPLY_COST_US * SFU_ICE_UNAUTH_REPLY_BURST)

static const char *state_names[] = {"new", "checking", "connected", "failed", "closed"};

int sfu_ice_init(sfu_ice_t *ice, const sfu_ice_cbs_t *cbs, void *user, uint64_t now_us) {
  if (!ice) return SFU_EINVAL;
  memset(ice, 0, sizeof *ice);
  if (cbs) ice->cbs = *cbs;
  ice->user = user;
  ice->state = SFU_ICE_NEW;
  /* RFC 8445 §6.1.1: "a lite agent MUST take the controlled role". Its tiebreaker is
   * never compared in its favour of switching (§7.3.1.1), so make it the maximum. */
  ice->role = SFU_ICE_ROLE_CONTROLLED;
  ice->lite = 1;
  ice->tiebreaker = UINT64_MAX;
  ice->unauth_credit_us = UNAUTH_CREDIT_MAX_US;
  ice->unauth_credit_at_us = now_us;
  ice->consent_timeout_us = SFU_ICE_CONSENT_TIMEOUT_US;
  ice->consent_deadline_us = UINT64_MAX;
  return 0;
}

/* ufrag/pwd sanity: 1..256 printable ASCII, no spaces, and no ':' in a ufrag (it would
 * make USERNAME ambiguous). RFC 8839 §5.4's ice-char set is stricter; peers are not. */
static int cred_ok(const char *s, int is_ufrag, size_t *len) {
  if (!s) return 0;
  size_t n = strnlen(s, SFU_ICE_CRED_MAX + 1);
  if (n == 0 || n > SFU_ICE_CRED_MAX) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c <= 0x20 || c >= 0x7F || (is_ufrag && c == ':')) return 0;
  }
  *len = n;
  return 1;
}

int sfu_ice_set_local(sfu_ice_t *ice, const char *ufrag, const char *pwd) {
  size_t ul = 0, pl = 0;
  if (!ice || !cred_ok(ufrag, 1, &ul) || !cred_ok(pwd, 0, &pl)) return SFU_EINVAL;
  if (ice->state == SFU_ICE_FAILED || ice->state == SFU_ICE_CLOSED) return SFU_ESTATE;
  int restart = ice->local_ufrag_len &&
                (ul != ice->local_ufrag_len || memcmp(ufrag, ice->local_ufrag, ul) != 0 ||
                 pl != ice->local_pwd_len || memcmp(pwd, ice->local_pwd, pl) != 0);
  if (restart) {
    /* RFC 8445 §9: new credentials; checks with the old ufrag now fail with 401. */
    ice->stats.restarts++;
    SFU_INFO("ice", "restart: local ufrag %s -> %s", ice->local_ufrag, ufrag);
  }
  memcpy(ice->local_ufrag, ufrag, ul + 1);
  memcpy(ice->local_pwd, pwd, pl + 1);
  ice->local_ufrag_len = ul;
  ice->local_pwd_len = pl;
  return sfu_stun_key_init(&ice->local_key, (const uint8_t *)ice->local_pwd, pl);
}

int sfu_ice_set_remote(sfu_ice_t *ice, const char *ufrag, const char *pwd) {
  size_t ul = 0, pl = 0;
  if (!ice || !cred_ok(ufrag, 1, &ul) || (pwd && !cred_ok(pwd, 0, &pl))) return SFU_EINVAL;
  if (ice->state == SFU_ICE_FAILED || ice->state == SFU_ICE_CLOSED) return SFU_ESTATE;
  memcpy(ice->remote_ufrag, ufrag, ul + 1);
  ice->remote_ufrag_len = ul;
  /* Kept for a future full agent (checks we send are keyed with it); a lite agent's
   * responses use the local password (RFC 8445 §7.3.1.4). */
  if (pwd)
    memcpy(ice->remote_pwd, pwd, pl + 1);
  else
    ice->remote_pwd[0] = 0;
  return 0;
}

int sfu_ice_set_role(sfu_ice_t *ice, sfu_ice_role_t role, uint64_t tiebreaker) {
  if (!ice || (role != SFU_ICE_ROLE_CONTROLLED && role != SFU_ICE_ROLE_CONTROLLING))
    return SFU_EINVAL;
  ice->role = role;
  ice->tiebreaker = tiebreaker;
  return 0;
}

int sfu_ice_set_consent_timeout(sfu_ice_t *ice, uint64_t timeout_us) {
  if (!ice || timeout_us == 0) return SFU_EINVAL;
  ice->consent_timeout_us = timeout_us;
  if (ice->state == SFU_ICE_CONNECTED && ice->stats.last_valid_us)
    ice->consent_deadline_us = ice->stats.last_valid_us + timeout_us;
  return 0;
}

static void send_out(sfu_ice_t *ice, const sfu_addr_t *to, const uint8_t *buf, int len) {
  if (len <= 0) {
    SFU_ERROR("ice", "cannot build a STUN response: %s", sfu_strerror(len));
    return;
  }
  if (ice->cbs.send) ice->cbs.send(ice->user, to, buf, (size_t)len);
}

/* Whether an error response to an unauthenticated request may go out now (the token
 * bucket of SFU_ICE_UNAUTH_REPLIES_PER_S, see ice_lite.h). */
static int unauth_reply_allowed(sfu_ice_t *ice, uint64_t now_us) {
  if (now_us > ice->unauth_credit_at_us) {
    uint64_t c = ice->unauth_credit_us + (now_us - ice->unauth_credit_at_us);
    ice->unauth_credit_us = c > UNAUTH_CREDIT_MAX_US ? UNAUTH_CREDIT_MAX_US : c;
    ice->unauth_credit_at_us = now_us;
  }
  if (ice->unauth_credit_us < UNAUTH_REPLY_COST_US) {
    ice->stats.err_suppressed++;
    return 0;
  }
  ice->unauth_credit_us -= UNAUTH_REPLY_COST_US;
  return 1;
}

/* An error response (RFC 8489 §6.3.4). MI only when the request was authenticated:
 * §9.1.3 forbids it on 400/401, where the key cannot be trusted. */
static void send_error(sfu_ice_t *ice, uint64_t now_us, const sfu_addr_t *to,
                       const sfu_stun_msg_t *req, uint16_t code, int with_mi) {
  if (!with_mi && !unauth_reply_allowed(ice, now_us)) return;
  uint8_t out[ICE_OUT_MAX];
  int n = sfu_stun_build_error_keyed(out, sizeof out, req->method, req->tid, code, req->unknown,
                                     req->n_unknown, with_mi ? &ice->local_key : NULL);
  ice->stats.errors_sent++;
  switch (code) {
    case SFU_STUN_ERR_BAD_REQUEST:
      ice->stats.err_400++;
      break;
    case SFU_STUN_ERR_UNAUTHORIZED:
      ice->stats.err_401++;
      break;
    case SFU_STUN_ERR_UNKNOWN_ATTRIBUTE:
      ice->stats.err_420++;
      break;
    case SFU_STUN_ERR_ROLE_CONFLICT:
      ice->stats.err_487++;
      break;
    default:
      break;
  }
  send_out(ice, to, out, n);
}

/* USERNAME must be "<local ufrag>:<remote ufrag>" (RFC 8445 §7.2.2), the remote part
 * checked only once the offer's ufrag is known. Ufrags are public (they travel in SDP),
 * so a plain comparison is fine; the password check is constant-time. */
static int username_ok(const sfu_ice_t *ice, const sfu_stun_msg_t *msg) {
  const char *l = NULL, *r = NULL;
  size_t ll = 0, rl = 0;
  if (sfu_stun_username_local(msg, &l, &ll) || sfu_stun_username_remote(msg, &r, &rl)) return 0;
  if (ll != ice->local_ufrag_len || memcmp(l, ice->local_ufrag, ll) != 0) return 0;
  if (ice->remote_ufrag_len && (rl != ice->remote_ufrag_len || memcmp(r, ice->remote_ufrag, rl)))
    return 0;
  return rl > 0;
}

/* RFC 8445 §7.3.1.1: role conflict detection on an incoming request. Returns 1 if the
 * request must be answered 487; may switch our role as the tie-break says. */
static int role_conflict(sfu_ice_t *ice, const sfu_stun_msg_t *msg) {
  if (ice->role == SFU_ICE_ROLE_CONTROLLING && msg->has_controlling) {
    /* "If the agent's tiebreaker value is larger than or equal to the contents of the
     * ICE-CONTROLLING attribute, the agent generates a Binding error response [487] ...
     * If [it] is less ..., the agent switches to the controlled role." */
    if (ice->tiebreaker >= msg->tiebreaker) return 1;
    ice->role = SFU_ICE_ROLE_CONTROLLED;
  } else if (ice->role == SFU_ICE_ROLE_CONTROLLED && msg->has_controlled) {
    /* "If the agent's tiebreaker value is larger than or equal to the contents of the
     * ICE-CONTROLLED attribute, the agent switches to the controlling role. If [it] is
     * less ..., the agent generates a Binding error response [487]." A lite agent cannot
     * switch (§6.1.1: it sends no checks, so it can neither control nor nominate): it
     * answers 487 whatever the tiebreakers, and the full peer must take control. */
    if (ice->lite || ice->tiebreaker < msg->tiebreaker) return 1;
    ice->role = SFU_ICE_ROLE_CONTROLLING;
  }
  return 0;
}

/* Runs the RFC 7675 check lazily as well, so a request processed after the deadline
 * but before the timer fired cannot revive a transport whose consent already expired. */
static void check_consent(sfu_ice_t *ice, uint64_t now_us) {
  if (ice->state != SFU_ICE_CONNECTED || now_us < ice->consent_deadline_us) return;
  char a[SFU_ADDR_STRLEN];
  SFU_INFO("ice", "consent lost on %s/%s: no valid request for %llu ms",
           sfu_addr_format(&ice->selected, a), ice->selected.proto == SFU_PROTO_TCP ? "tcp" : "udp",
           (unsigned long long)(ice->consent_timeout_us / 1000));
  ice->state = SFU_ICE_FAILED;
  ice->consent_deadline_us = UINT64_MAX;
  if (ice->cbs.on_consent_lost) ice->cbs.on_consent_lost(ice->user);
}

/* RFC 8445 §7.3.1.5: a valid request with USE-CANDIDATE from the controlling agent
 * nominates the pair it arrived on; a later nomination of another pair replaces it (the
 * peer moved, e.g. a network change). */
static void nominate(sfu_ice_t *ice, uint64_t now_us, const sfu_addr_t *from) {
  if (ice->has_selected && sfu_addr_equal(&ice->selected, from)) return;
  ice->selected = *from;
  ice->has_selected = 1;
  ice->state = SFU_ICE_CONNECTED;
  ice->consent_deadline_us = now_us + ice->consent_timeout_us;
  ice->stats.nominations++;
  ice->stats.nominated_at_us = now_us;
  char a[SFU_ADDR_STRLEN];
  SFU_INFO("ice", "selected %s/%s (nomination %llu)", sfu_addr_format(from, a),
           from->proto == SFU_PROTO_TCP ? "tcp" : "udp",
           (unsigned long long)ice->stats.nominations);
  if (ice->cbs.on_selected) ice->cbs.on_selected(ice->user, &ice->selected);
}

/* RFC 8445 §7.3.1.5 lets only the controlling agent nominate, but a peer that never sends
 * USE-CANDIDATE (some clients start DTLS on the first valid pair and never nominate) still
 * sends on a pair, and RFC 7675 §5.1 protects every pair that carries media: once the
 * owner sends on a validated pair, treat it as selected so that consent is tracked on it.
 * A later nomination (of this or another pair) takes over as usual. */
int sfu_ice_use_pair(sfu_ice_t *ice, const sfu_addr_t *remote, uint64_t last_valid_us) {
  if (!ice || !remote) return SFU_EINVAL;
  if (ice->state != SFU_ICE_CHECKING && ice->state != SFU_ICE_CONNECTED) return SFU_ESTATE;
  if (ice->has_selected) return 0; /* nominated (or already in use): nothing to adopt */
  ice->selected = *remote;
  ice->has_selected = 1;
  ice->state = SFU_ICE_CONNECTED;
  ice->consent_deadline_us = last_valid_us + ice->consent_timeout_us;
  char a[SFU_ADDR_STRLEN];
  SFU_INFO("ice", "in use without nomination: %s/%s, consent tracked on it",
           sfu_addr_format(remote, a), remote->proto == SFU_PROTO_TCP ? "tcp" : "udp");
  if (ice->cbs.on_selected) ice->cbs.on_selected(ice->user, &ice->selected);
  return 0;
}

/* Authenticates a binding request (RFC 8489 §9.1.3) and answers errors itself.
 * 0 if the request may be answered with success. */
static int authenticate(sfu_ice_t *ice, uint64_t now_us, const sfu_addr_t *from,
                        const sfu_stun_msg_t *msg) {
  if (!msg->username || !msg->integrity_off) {
    send_error(ice, now_us, from, msg, SFU_STUN_ERR_BAD_REQUEST, 0);
    return SFU_EPARSE;
  }
  if (!username_ok(ice, msg)) {
    send_error(ice, now_us, from, msg, SFU_STUN_ERR_UNAUTHORIZED, 0);
    return SFU_EAUTH;
  }
  if (sfu_stun_check_integrity_keyed(msg, &ice->local_key) != 0) {
    send_error(ice, now_us, from, msg, SFU_STUN_ERR_UNAUTHORIZED, 0);
    return SFU_EAUTH;
  }
  /* §6.3.1.1: unknown comprehension-required attributes → 420, after authentication. */
  if (msg->n_unknown) {
    send_error(ice, now_us, from, msg, SFU_STUN_ERR_UNKNOWN_ATTRIBUTE, 1);
    return SFU_EUNSUPP;
  }
  if (role_conflict(ice, msg)) {
    send_error(ice, now_us, from, msg, SFU_STUN_ERR_ROLE_CONFLICT, 1);
    return SFU_EPERM;
  }
  return 0;
}

int sfu_ice_handle_stun(sfu_ice_t *ice, uint64_t now_us, const sfu_addr_t *from,
                        const sfu_stun_msg_t *msg) {
  if (!ice || !from || !msg || !msg->buf) return SFU_EINVAL;
  check_consent(ice, now_us);
  /* A lite agent sends no requests, so responses and indications are not for it. */
  if (msg->method != SFU_STUN_BINDING || msg->cls != SFU_STUN_REQUEST) {
    ice->stats.dropped++;
    return SFU_EINVAL;
  }
  /* RFC 8445 §7.2.2 / RFC 8489 §7.3: ICE uses FINGERPRINT; a message without a correct
   * one is not ICE's and is discarded without an answer (no reflection either). */
  int rc = sfu_stun_check_fingerprint(msg);
  if (rc) {
    ice->stats.dropped++;
    return rc;
  }
  if (ice->state == SFU_ICE_FAILED || ice->state == SFU_ICE_CLOSED || !ice->local_ufrag_len) {
    ice->stats.dropped++;
    return SFU_ESTATE;
  }
  ice->stats.requests++;
  rc = authenticate(ice, now_us, from, msg);
  if (rc) return rc;

  uint8_t out[ICE_OUT_MAX];
  int n = sfu_stun_build_binding_success_keyed(out, sizeof out, msg->tid, from, &ice->local_key);
  ice->stats.responses_sent++;
  ice->stats.last_valid_us = now_us;
  send_out(ice, from, out, n);
  if (ice->state == SFU_ICE_NEW) ice->state = SFU_ICE_CHECKING;
  if (ice->state == SFU_ICE_CLOSED) return 0; /* send callback closed us */

  if (msg->use_candidate && ice->role == SFU_ICE_ROLE_CONTROLLED) nominate(ice, now_us, from);
  /* RFC 7675 §5.1 as it applies to a lite agent, which cannot send its own consent
   * checks: a valid request on the selected pair renews consent for 30 s. */
  if (ice->has_selected && ice->state == SFU_ICE_CONNECTED && sfu_addr_equal(&ice->selected, from))
    ice->consent_deadline_us = now_us + ice->consent_timeout_us;
  return 0;
}

void sfu_ice_handle_timeout(sfu_ice_t *ice, uint64_t now_us) {
  if (ice) check_consent(ice, now_us);
}

uint64_t sfu_ice_next_deadline(const sfu_ice_t *ice) {
  if (!ice || ice->state != SFU_ICE_CONNECTED) return UINT64_MAX;
  return ice->consent_deadline_us;
}

const sfu_addr_t *sfu_ice_selected(const sfu_ice_t *ice) {
  return ice && ice->has_selected ? &ice->selected : NULL;
}

sfu_ice_state_t sfu_ice_state(const sfu_ice_t *ice) { return ice ? ice->state : SFU_ICE_CLOSED; }

const char *sfu_ice_state_name(const sfu_ice_t *ice) {
  sfu_ice_state_t s = sfu_ice_state(ice);
  return (unsigned)s < sizeof state_names / sizeof state_names[0] ? state_names[s] : "?";
}

const char *sfu_ice_local_ufrag(const sfu_ice_t *ice) { return ice ? ice->local_ufrag : ""; }

void sfu_ice_close(sfu_ice_t *ice) {
  if (!ice) return;
  ice->state = SFU_ICE_CLOSED;
  ice->consent_deadline_us = UINT64_MAX;
}
