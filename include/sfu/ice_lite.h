/* ICE-lite agent (RFC 8445 §2.5, §7.3) with consent freshness (RFC 7675).
 *
 * A lite agent never sends checks: it answers the peer's binding requests, lets the
 * peer (always the controlling agent, §6.1.1) nominate a pair with USE-CANDIDATE, and
 * considers consent lost when the selected pair has carried no valid request for 30 s.
 *
 * Sans-IO: the caller parses each STUN datagram (or RFC 4571 frame) with
 * sfu_stun_parse() and hands it to sfu_ice_handle_stun() with its source address and
 * the current time; responses come out through cbs->send (raw STUN: for a TCP source
 * the caller adds the RFC 4571 framing); the caller arms a timer for
 * sfu_ice_next_deadline() and calls sfu_ice_handle_timeout() when it fires.
 *
 * Callbacks run synchronously inside sfu_ice_handle_stun()/sfu_ice_handle_timeout():
 * they must not free the agent (defer the teardown to after the call returns).
 *
 * Additions to /tmp/proto-apis.md: sfu_ice_close(), sfu_ice_set_role(),
 * sfu_ice_set_consent_timeout(), sfu_ice_local_ufrag(), sfu_ice_state(), and the stats
 * struct. The agreed functions keep their agreed signatures.
 */
#ifndef SFU_ICE_LITE_H
#define SFU_ICE_LITE_H

#include <stdint.h>

#include "sfu/addr.h"
#include "sfu/stun.h"

#define SFU_ICE_CRED_MAX 256 /* ufrag and pwd: at most 256 characters (RFC 8839 §5.4) */
#define SFU_ICE_CONSENT_TIMEOUT_US (30ull * 1000000ull) /* RFC 7675 §5.1 */
/* Error responses to requests that did not authenticate (400, 401) are rate-limited per
 * agent: anyone who knows a ufrag (it travels in clear) can make the agent answer, and
 * RFC 8489 §6.3.4 does not oblige a server to answer every bad request. A token bucket
 * of this rate and burst; the rest are dropped silently (err_suppressed). A real peer
 * with a stale password sends a few checks per second at most. */
#define SFU_ICE_UNAUTH_REPLIES_PER_S 5
#define SFU_ICE_UNAUTH_REPLY_BURST 10

typedef struct {
  /* A STUN response to `to` (the request's source, proto included). */
  void (*send)(void *user, const sfu_addr_t *to, const uint8_t *buf, size_t len);
  /* The nominated pair was set or changed to `remote` (RFC 8445 §8.1.1, §7.3.1.5). */
  void (*on_selected)(void *user, const sfu_addr_t *remote);
  /* No valid request on the selected pair for the consent timeout: the transport must
   * stop sending and end (RFC 7675 §5.1). Fires once; the agent is then "failed". */
  void (*on_consent_lost)(void *user);
} sfu_ice_cbs_t;

typedef enum {
  SFU_ICE_NEW = 0,   /* no valid request yet */
  SFU_ICE_CHECKING,  /* valid requests answered, nothing nominated */
  SFU_ICE_CONNECTED, /* a pair is selected */
  SFU_ICE_FAILED,    /* consent lost; terminal */
  SFU_ICE_CLOSED     /* sfu_ice_close() called; terminal */
} sfu_ice_state_t;

/* Counters, read by the owner for figures (GetWorkerStats). */
typedef struct {
  uint64_t requests;       /* binding requests with a correct FINGERPRINT */
  uint64_t responses_sent; /* success responses */
  uint64_t errors_sent;    /* error responses, all codes; split below */
  uint64_t err_400, err_401, err_420, err_487;
  uint64_t err_suppressed;  /* 400/401 not sent: over SFU_ICE_UNAUTH_REPLIES_PER_S */
  uint64_t dropped;         /* silently discarded: not a binding request, FINGERPRINT
                               missing or wrong, agent failed/closed */
  uint64_t nominations;     /* selections: the first one and every switch */
  uint64_t restarts;        /* ICE restarts (local credentials replaced) */
  uint64_t nominated_at_us; /* time of the latest selection; 0 = never */
  uint64_t last_valid_us;   /* time of the latest authenticated request; 0 = never */
} sfu_ice_stats_t;

/* Owner: the transport that embeds it (a field of its struct, no heap); freed with its
 * owner after sfu_ice_close(). Touched only by the owning media loop's thread. */
typedef struct sfu_ice {
  sfu_ice_cbs_t cbs;
  void *user;
  sfu_ice_state_t state;
  sfu_ice_role_t role; /* SFU_ICE_ROLE_CONTROLLED for a lite agent */
  int lite;            /* 1 (this is a lite agent): never takes the controlling role */
  uint64_t tiebreaker; /* UINT64_MAX by default: a lite agent never yields its role */
  char local_ufrag[SFU_ICE_CRED_MAX + 1], local_pwd[SFU_ICE_CRED_MAX + 1];
  char remote_ufrag[SFU_ICE_CRED_MAX + 1], remote_pwd[SFU_ICE_CRED_MAX + 1];
  size_t local_ufrag_len, local_pwd_len, remote_ufrag_len;
  /* local_pwd prepared for MESSAGE-INTEGRITY, redone with it (RFC 8445 §7.2.2: requests
   * are checked and responses signed with the local password), so that a check costs
   * no allocation and no key setup. */
  sfu_stun_key_t local_key;
  int has_selected;
  sfu_addr_t selected;
  uint64_t consent_timeout_us;  /* SFU_ICE_CONSENT_TIMEOUT_US unless changed */
  uint64_t consent_deadline_us; /* UINT64_MAX unless connected */
  uint64_t unauth_credit_us;    /* token bucket of unauthenticated error replies, in µs of credit */
  uint64_t unauth_credit_at_us; /* when the credit was last topped up */
  sfu_ice_stats_t stats;
} sfu_ice_t;

/* Resets *ice to state "new", role controlled; cbs is copied (members may be NULL). */
int sfu_ice_init(sfu_ice_t *ice, const sfu_ice_cbs_t *cbs, void *user, uint64_t now_us);
/* Our credentials (from the answer). Replacing them later is an ICE restart (RFC 8445
 * §9): requests with the old ufrag are no longer accepted; a selected pair stays
 * selected (media keeps flowing) and its consent must be refreshed with the new
 * credentials. ufrag 1..256 chars, pwd 1..256 chars, printable, no ':' or spaces
 * (RFC 8839 §5.4 asks 4+/22+ ice-chars; peers in the wild are looser).
 * 0, SFU_EINVAL, or SFU_ESTATE if the agent is failed/closed. */
int sfu_ice_set_local(sfu_ice_t *ice, const char *ufrag, const char *pwd);
/* The peer's credentials (from the offer). The remote ufrag, once set, must be the
 * second part of every request's USERNAME; until set, any is accepted. */
int sfu_ice_set_remote(sfu_ice_t *ice, const char *ufrag, const char *pwd);
/* Role and tiebreaker (RFC 8445 §7.3.1.1). A lite agent keeps the default (controlled):
 * a peer that also claims ICE-CONTROLLED always gets 487, whatever the tiebreakers,
 * because a lite agent cannot take the controlling role (§6.1.1: it sends no checks).
 * The tie-break rules of a full agent apply when `lite` is cleared (tests). */
int sfu_ice_set_role(sfu_ice_t *ice, sfu_ice_role_t role, uint64_t tiebreaker);
/* For tests and tuning: consent timeout in microseconds (> 0). */
int sfu_ice_set_consent_timeout(sfu_ice_t *ice, uint64_t timeout_us);

/* A parsed STUN message that arrived from `from` (UDP or TCP per from->proto).
 * Order of checks (RFC 8489 §6.3, §9.1.3; RFC 8445 §7.3):
 *   not a binding request              → dropped, SFU_EINVAL
 *   FINGERPRINT absent / wrong         → dropped silently, SFU_ENOENT / SFU_EAUTH
 *   agent failed or closed, no local credentials → dropped, SFU_ESTATE
 *   USERNAME or MESSAGE-INTEGRITY absent → 400, SFU_EPARSE
 *   USERNAME not "<local ufrag>:<remote ufrag>", or MI wrong → 401, SFU_EAUTH
 *     (400 and 401 at most SFU_ICE_UNAUTH_REPLIES_PER_S, else no answer)
 *   unknown comprehension-required attributes → 420 (+MI), SFU_EUNSUPP
 *   role conflict                      → 487 (+MI), SFU_EPERM
 *   otherwise success (XOR-MAPPED-ADDRESS = from, MI, FINGERPRINT), 0; then
 *   USE-CANDIDATE selects `from` (on_selected if it changed) and a valid request on
 *   the selected pair refreshes consent. */
int sfu_ice_handle_stun(sfu_ice_t *ice, uint64_t now_us, const sfu_addr_t *from,
                        const sfu_stun_msg_t *msg);
/* The owner sends on `remote` (a 5-tuple from which this agent accepted a request, the
 * latest at last_valid_us) although the peer never nominated a pair, e.g. DTLS completed
 * without USE-CANDIDATE: the pair becomes the selected one (state "connected",
 * on_selected) and RFC 7675 consent is tracked on it from last_valid_us. No-op (0) if a
 * pair is already selected; SFU_ESTATE if no request was ever accepted or the agent is
 * failed/closed. */
int sfu_ice_use_pair(sfu_ice_t *ice, const sfu_addr_t *remote, uint64_t last_valid_us);
/* Fires consent loss if now_us >= the consent deadline. */
void sfu_ice_handle_timeout(sfu_ice_t *ice, uint64_t now_us);
uint64_t sfu_ice_next_deadline(const sfu_ice_t *ice);     /* UINT64_MAX if none */
const sfu_addr_t *sfu_ice_selected(const sfu_ice_t *ice); /* NULL until nominated */
sfu_ice_state_t sfu_ice_state(const sfu_ice_t *ice);
const char *sfu_ice_state_name(
    const sfu_ice_t *ice); /* "new" "checking" "connected" "failed" "closed" */
const char *sfu_ice_local_ufrag(const sfu_ice_t *ice); /* "" until set */
/* Stops the agent: no more callbacks, deadlines, or answers. Idempotent. */
void sfu_ice_close(sfu_ice_t *ice);

#endif
