/* See sim_client.h. */
#include "sim_client.h"

#include <stdio.h>
#include <string.h>

#include "sfu/demux.h"
#include "sfu/stun.h"

static void dtls_send(void *user, const uint8_t *buf, size_t len) {
  sim_client_t *c = user;
  c->cbs.send(c->cbs.user, buf, len);
}
static void dtls_connected(void *user, const sfu_srtp_keys_t *keys) {
  sim_client_t *c = user;
  c->connected = 1;
  if (!c->srtp) c->srtp = sfu_srtp_new(keys, 0);
}
static void dtls_app(void *user, const uint8_t *buf, size_t len) {
  sim_client_t *c = user;
  if (c->cbs.on_app) c->cbs.on_app(c->cbs.user, buf, len);
}
static void dtls_closed(void *user, int reason) {
  sim_client_t *c = user;
  c->closed = 1;
  c->closed_reason = reason;
}
static const sfu_dtls_cbs_t client_dtls_cbs = {dtls_send, dtls_connected, dtls_app, dtls_closed};

void sim_client_init(sim_client_t *c, const sim_client_config_t *cfg) {
  memset(c, 0, sizeof *c);
  c->cert = cfg->cert;
  c->cbs = cfg->cbs;
  c->tag = cfg->tag;
  snprintf(c->server_fp, sizeof c->server_fp, "%s", cfg->server_fingerprint);
  sim_client_set_ice(c, cfg->ufrag, cfg->pwd);
  c->checks_on = 1;
}

void sim_client_free(sim_client_t *c) { sim_client_reset_dtls(c); }

void sim_client_set_server_ice(sim_client_t *c, const char *ufrag, const char *pwd) {
  snprintf(c->srv_ufrag, sizeof c->srv_ufrag, "%s", ufrag);
  snprintf(c->srv_pwd, sizeof c->srv_pwd, "%s", pwd);
}

void sim_client_set_ice(sim_client_t *c, const char *ufrag, const char *pwd) {
  snprintf(c->ufrag, sizeof c->ufrag, "%s", ufrag);
  snprintf(c->pwd, sizeof c->pwd, "%s", pwd);
}

void sim_client_reset_dtls(sim_client_t *c) {
  if (c->dtls) sfu_dtls_free(c->dtls);
  if (c->srtp) sfu_srtp_free(c->srtp);
  c->dtls = NULL;
  c->srtp = NULL;
  c->connected = c->closed = c->closed_reason = 0;
}

/* RFC 8445 §7.2.2 / §8.1.1: the controlling agent's check, nominating at once
 * (USE-CANDIDATE on every check, aggressive-style, unless no_nominate). */
static void send_check(sim_client_t *c) {
  char user[200];
  snprintf(user, sizeof user, "%s:%s", c->srv_ufrag, c->ufrag);
  uint8_t tid[12] = {c->tag};
  c->tid_n++;
  memcpy(tid + 4, &c->tid_n, sizeof c->tid_n);
  sfu_stun_request_params_t p = {.tid = tid, .username = user, .password = c->srv_pwd,
                                 .priority = 0x6e0001ff, .role = SFU_ICE_ROLE_CONTROLLING,
                                 .tiebreaker = 42, .use_candidate = !c->no_nominate};
  uint8_t buf[512];
  int n = sfu_stun_build_binding_request(buf, sizeof buf, &p);
  if (n > 0) c->cbs.send(c->cbs.user, buf, (size_t)n);
}

static int checking(const sim_client_t *c) { return c->checks_on && c->srv_ufrag[0]; }

uint64_t sim_client_next_deadline(const sim_client_t *c) {
  uint64_t d = checking(c) ? c->next_check_us : UINT64_MAX;
  if (c->dtls) {
    uint64_t x = sfu_dtls_next_deadline(c->dtls);
    if (x < d) d = x;
  }
  return d;
}

void sim_client_handle_timeout(sim_client_t *c, uint64_t now_us) {
  if (checking(c) && now_us >= c->next_check_us) {
    send_check(c);
    c->next_check_us = now_us + SIM_CLIENT_CHECK_INTERVAL_US;
  }
  if (c->dtls) sfu_dtls_handle_timeout(c->dtls, now_us);
}

void sim_client_handle_input(sim_client_t *c, uint64_t now_us, const uint8_t *buf, size_t len) {
  sfu_pkt_kind_t k = sfu_demux_classify(buf, len);
  if (k == SFU_PKT_STUN) {
    sfu_stun_msg_t m;
    if (sfu_stun_parse(buf, len, &m) != 0 || m.cls != SFU_STUN_SUCCESS) return;
    c->stun_ok++;
    if (!c->dtls) {
      c->dtls = sfu_dtls_new(c->cert, SFU_DTLS_ROLE_CLIENT, &client_dtls_cbs, c, now_us);
      if (c->dtls) sfu_dtls_set_remote_fingerprint(c->dtls, "sha-256", c->server_fp);
    }
  } else if (k == SFU_PKT_DTLS && c->dtls) {
    sfu_dtls_handle_input(c->dtls, now_us, buf, len);
  }
}

static uint64_t peer_deadline(void *core) { return sim_client_next_deadline(core); }
static void peer_timeout(void *core, uint64_t now_us) { sim_client_handle_timeout(core, now_us); }
static void peer_input(void *core, uint64_t now_us, const uint8_t *buf, size_t len) {
  sim_client_handle_input(core, now_us, buf, len);
}

sim_peer_t sim_client_peer(sim_client_t *c) {
  sim_peer_t p = {c, peer_deadline, peer_timeout, peer_input};
  return p;
}
