/* A WebRTC client for tests, built from the worker's own cores in the client role:
 * ICE controlling (a binding request with USE-CANDIDATE every check interval, built by
 * stun.h's builder, to the server's ufrag/pwd learnt from its answer), a DTLS client
 * core started on the first success response (RFC 8842 §5: the setup:active side opens
 * DTLS once ICE works), and an SRTP session from the exported keys once connected.
 *
 * Sans-IO like the cores it wraps: datagrams in through sim_client_handle_input, out
 * through cfg.send; time is a parameter. It knows nothing of the simulated link, so a
 * load generator on real sockets can drive it too; sim_client_peer() adapts one client
 * to sim_run for the common single-client case.
 *
 * Owner: the test (sim_client_init / sim_client_free; the struct itself is the caller's
 * memory, usually inside its env). Single-threaded. Fields below the config are the
 * client's state, readable by tests (`checks_on` and `no_nominate` writable: checks_on 0
 * simulates consent loss). */
#ifndef SFU_SIM_CLIENT_H
#define SFU_SIM_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "sfu/addr.h"
#include "sfu/dtls.h"
#include "sfu/srtp.h"
#include "sim_link.h"

#define SIM_CLIENT_CHECK_INTERVAL_US 500000u

typedef struct {
  /* A datagram for the server (the driver knows the time: sends happen inside the
   * client's calls, or inside sfu_dtls_close on c->dtls). */
  void (*send)(void *user, const uint8_t *buf, size_t len);
  /* DTLS application data (SCTP); may be NULL. */
  void (*on_app)(void *user, const uint8_t *buf, size_t len);
  void *user;
} sim_client_cbs_t;

typedef struct {
  const sfu_dtls_cert_t *cert;    /* the client's certificate; must outlive the client */
  const char *server_fingerprint; /* sha-256 of the server's certificate (copied) */
  const char *ufrag, *pwd;        /* the client's own ICE credentials (copied) */
  uint8_t tag;                    /* first byte of every transaction id (which client) */
  sim_client_cbs_t cbs;
} sim_client_config_t;

typedef struct {
  const sfu_dtls_cert_t *cert;
  sim_client_cbs_t cbs;
  uint8_t tag;
  char server_fp[128];
  char ufrag[32], pwd[64];              /* ours (the second half of USERNAME) */
  char srv_ufrag[64], srv_pwd[64];      /* the server's, from its answer; "" = no checks */
  sfu_addr_t addr;                      /* where the driver says it sends from (unused here) */
  int checks_on;                        /* 1 after init; 0 stops the consent checks */
  int no_nominate;                      /* 1: checks without USE-CANDIDATE */
  uint64_t next_check_us;
  uint32_t tid_n;
  int stun_ok;                          /* success responses received */
  sfu_dtls_t *dtls;                     /* NULL until ICE works */
  sfu_srtp_t *srtp;                     /* NULL until DTLS connected */
  int connected, closed, closed_reason; /* DTLS state as the client saw it */
} sim_client_t;

void sim_client_init(sim_client_t *c, const sim_client_config_t *cfg);
/* Frees the DTLS and SRTP state (not the struct). */
void sim_client_free(sim_client_t *c);
/* The server's ICE credentials (from the answer's a=ice-ufrag / a=ice-pwd). Checks start
 * at the next timeout. */
void sim_client_set_server_ice(sim_client_t *c, const char *ufrag, const char *pwd);
/* New credentials of our own (an ICE restart needs a new offer carrying them). */
void sim_client_set_ice(sim_client_t *c, const char *ufrag, const char *pwd);
/* Forgets the DTLS association and SRTP session (a new one starts on the next success
 * response): a device that reconnects after LeaveMeeting. */
void sim_client_reset_dtls(sim_client_t *c);

uint64_t sim_client_next_deadline(const sim_client_t *c);
void sim_client_handle_timeout(sim_client_t *c, uint64_t now_us);
/* One datagram from the server: STUN responses and DTLS; anything else is ignored. */
void sim_client_handle_input(sim_client_t *c, uint64_t now_us, const uint8_t *buf, size_t len);

/* The client as peer A of sim_run (its cbs.send must send SIM_AB on the link). */
sim_peer_t sim_client_peer(sim_client_t *c);

#endif
