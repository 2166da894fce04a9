/* SCTP associations over DTLS on usrsctp (AF_CONN), and DCEP on top (see sfu/sctp.h for
 * the threading contract: process-global usrsctp, per-loop groups, callbacks that only
 * send on the owner thread or queue and flag from a foreign one). */
#include "sfu/sctp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <usrsctp.h>

#include "sfu/err.h"
#include "sfu/hmap.h"
#include "sfu/list.h"
#include "sfu/log.h"

#define DEFAULT_MTU 1150       /* DTLS MTU 1200 - 37 bytes of record overhead, rounded down */
#define REMOTE_MMS_DEFAULT 65536 /* RFC 8841 §6.1: absent a=max-message-size means 64 KiB */
#define QUEUE_MAX 64           /* packets queued per association by foreign threads */
#define RECV_BUF (64 * 1024)   /* scratch receive buffer per group */
#define RECV_BATCH 256         /* messages read per service before yielding to the loop */
#define ARG_SOCK (1ull << 63)  /* upcall arg bit: accepted/connected socket, not listener */

/* usrsctp's SCTP_GET_SNDBUF_USE (netinet/sctp.h and sctp_uio.h of usrsctp 0.9.5; not in
 * its public usrsctp.h): bytes queued on the association's send side
 * (asoc.total_output_queue_size) and its receive side. Stable in usrsctp since the
 * FreeBSD import; sctp_getopt answers it for any socket (sctp_usrreq.c). */
#ifndef SCTP_GET_SNDBUF_USE
#define SCTP_GET_SNDBUF_USE 0x00001101
#endif
struct sfu_usrsctp_sockstat {
  sctp_assoc_t ss_assoc_id;
  uint32_t ss_total_sndbuf;
  uint32_t ss_total_recv_buf;
};

/* ---- process-global state (usrsctp is one stack per process) ----
 * g_mu guards the registry (id → association), every association's queue and flags and
 * every group's flagged list. It is never held while calling usrsctp.
 * g_timer_mu serialises usrsctp_handle_timers: its callout walk keeps its cursor in
 * globals (sctp_os_timer_next), so two threads must never run it at once (with
 * usrsctp's own threads only its one timer thread would). It also guards g_last_us. */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_timer_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_ready;        /* main thread writes, before/after the loops */
static sfu_hmap_t g_reg;   /* under g_mu */
static uint64_t g_next_id = 1; /* under g_mu */
static uint64_t g_last_us; /* under g_timer_mu: time usrsctp's timers have reached */
static int g_have_last;
/* The group whose owner thread is inside one of its calls right now (per thread). */
static __thread sfu_sctp_group_t *tls_group;

typedef struct qpkt {
  struct qpkt *next;
  size_t len;
  uint8_t data[];
} qpkt_t;

/* One per media loop. Owner: the loop's rtc (sfu_sctp_group_new/free); its thread only,
 * except `flagged`, which foreign threads extend under g_mu. */
struct sfu_sctp_group {
  sfu_list_t assocs;  /* sfu_sctp_t.link */
  size_t n;
  sfu_list_t flagged; /* under g_mu: associations with queued packets or socket events */
  sfu_list_t busy;    /* sfu_sctp_t.busy_link: associations a usrsctp timer may soon need */
  uint64_t now_us;    /* latest time the owner passed in (input, timeout, new) */
  uint64_t next_us;   /* the next tick (see "Ticks" below) */
  uint64_t linger_until_us; /* fast ticks until then: an association was created or freed */
  uint64_t synced_us;       /* when this group last brought usrsctp's clock up to date */
  uint8_t rbuf[RECV_BUF];
};

/* One association. Owner: whoever created it (a transport); freed with sfu_sctp_free on
 * the group's thread. Fields under "g_mu" may be written by foreign threads. */
struct sfu_sctp {
  sfu_sctp_group_t *g;
  sfu_list_t link;
  sfu_hnode_t node; /* in g_reg (g_mu) */
  int registered;   /* g_mu */
  uint64_t id;      /* usrsctp's AF_CONN address: (void *)id, never dereferenced */
  sfu_sctp_cbs_t cbs;
  sfu_sctp_opts_t o;
  struct socket *lsock; /* server: the listening socket, until the accept */
  struct socket *sock;  /* the association's (accepted or connected) socket */
  sfu_sctp_state_t state;
  /* g_mu: */
  qpkt_t *q_head, *q_tail;
  unsigned q_n;
  uint64_t q_drops;
  int flagged;          /* linked in g->flagged (or in a tick's to-do list) */
  sfu_list_t flag_link;
  /* owner: */
  sfu_sctp_channel_t ch[SFU_SCTP_MAX_CHANNELS];
  uint8_t ch_used[SFU_SCTP_MAX_CHANNELS];
  size_t n_open;
  uint8_t reset_pending[SFU_SCTP_STREAMS / 8]; /* outgoing resets to (re)try */
  int has_reset_pending;
  uint8_t *partial; /* a message arriving in pieces (no MSG_EOR yet) */
  size_t partial_len, partial_cap;
  int partial_drop;
  uint16_t partial_sid;
  int partial_on;   /* a message is being gathered (partial_sid) */
  int blocked;      /* a send got EAGAIN; on_writable_cb pending (owner) */
  /* Ticks (owner): why a usrsctp timer may be armed for this association. */
  sfu_list_t busy_link; /* in g->busy while any of the below holds */
  int in_busy;
  uint64_t sack_due_us;   /* DATA received, not yet SACKed: our delayed SACK is due then */
  int rtx_check;          /* sent a chunk a retransmission timer guards: ask SCTP_STATUS */
  int reconf_out;         /* RE-CONFIG request sent, no response since (reset timer) */
  int more;               /* more to read than one batch: serviced again next tick */
  sfu_sctp_stats_t st;
};

static uint64_t id_hash(uint64_t id) { return sfu_hash_bytes(&id, sizeof id); }

/* Under g_mu. */
static sfu_sctp_t *reg_find(uint64_t id) {
  uint64_t h = id_hash(id);
  for (sfu_hnode_t *n = sfu_hmap_first(&g_reg, h); n; n = sfu_hmap_next(n, h)) {
    sfu_sctp_t *a = sfu_container_of(n, sfu_sctp_t, node);
    if (a->id == id) return a;
  }
  return NULL;
}

/* Under g_mu: the owner will service this association on its next tick. */
static void mark(sfu_sctp_t *a) {
  if (a->flagged) return;
  a->flagged = 1;
  sfu_list_insert_tail(&a->g->flagged, &a->flag_link);
}

/* Under g_mu. */
static void unmark(sfu_sctp_t *a) {
  if (!a->flagged) return;
  a->flagged = 0;
  sfu_list_remove(&a->flag_link);
}

/* ---- output: usrsctp → DTLS ---- */

static void note_out(sfu_sctp_t *a, const uint8_t *buf, size_t len);
static void make_busy(sfu_sctp_t *a, uint64_t at);

static void send_now(sfu_sctp_t *a, const uint8_t *buf, size_t len) {
  a->st.packets_out++;
  a->st.bytes_out += len;
  note_out(a, buf, len);
  a->cbs.send_cb(a->cbs.user, buf, len);
}

/* usrsctp's AF_CONN output. Runs inside usrsctp (conninput, sendv, setsockopt, timers)
 * on whatever thread called it, with usrsctp locks held. buf is usrsctp's own contiguous
 * copy of the packet (sctp_lowlevel_chunk_output), ours to write the checksum into. */
static int conn_output(void *addr, void *buf, size_t len, uint8_t tos, uint8_t set_df) {
  (void)tos;
  (void)set_df;
  sfu_sctp_set_checksum(buf, len); /* see "Checksums" at sfu_sctp_global_init */
  uint64_t id = (uint64_t)(uintptr_t)addr;
  pthread_mutex_lock(&g_mu);
  sfu_sctp_t *a = reg_find(id);
  if (!a) {
    pthread_mutex_unlock(&g_mu); /* freed (or being freed): the peer will retransmit */
    return 0;
  }
  if (a->g == tls_group) {
    /* Its own thread, inside one of its calls: it cannot be freed under us. */
    pthread_mutex_unlock(&g_mu);
    send_now(a, buf, len);
    return 0;
  }
  /* A foreign loop ran this association's timer: queue for the owner (one copy; SCTP
   * retransmits what a full queue drops). */
  qpkt_t *p = a->q_n < QUEUE_MAX ? malloc(sizeof *p + len) : NULL;
  if (p) {
    p->next = NULL;
    p->len = len;
    memcpy(p->data, buf, len);
    if (a->q_tail) a->q_tail->next = p;
    else a->q_head = p;
    a->q_tail = p;
    a->q_n++;
  } else {
    a->q_drops++;
  }
  mark(a);
  pthread_mutex_unlock(&g_mu);
  return 0;
}

/* Socket events (readable, writable, error), from any thread: flag only. */
static void upcall(struct socket *so, void *arg, int flags) {
  (void)so;
  (void)flags;
  uint64_t id = (uint64_t)(uintptr_t)arg & ~ARG_SOCK;
  pthread_mutex_lock(&g_mu);
  sfu_sctp_t *a = reg_find(id);
  if (a) mark(a);
  pthread_mutex_unlock(&g_mu);
}

/* ---- process-global ---- */

int sfu_sctp_global_init(void) {
  if (g_ready) return 0;
  if (sfu_hmap_init(&g_reg, 64)) return SFU_ENOMEM;
  /* No UDP encapsulation port, no threads: timers follow sfu_sctp_group_handle_timeout. */
  usrsctp_init_nothreads(0, conn_output, NULL);
  /* Browsers' settings for SCTP over DTLS: no ECN (nothing below marks), no ABORT for
   * out-of-the-blue packets (blackhole 2), no ASCONF/multi-homing (one DTLS path). */
  usrsctp_sysctl_set_sctp_ecn_enable(0);
  usrsctp_sysctl_set_sctp_asconf_enable(0);
  usrsctp_sysctl_set_sctp_blackhole(2);
  /* RFC 4960 §6.2's 200 ms, set rather than assumed: the tick schedule (below) keeps a
   * loop ticking fast for that long after DATA arrives. */
  usrsctp_sysctl_set_sctp_delayed_sack_time_default(SFU_SCTP_SACK_DELAY_MS);
  /* Checksums. usrsctp computes the RFC 4960 CRC32c of every packet out and checks it on
   * every packet in, in software (table-driven): ~3,400 instructions for a 300-byte
   * packet, 12 % of the worker's instructions per relayed data message (callgrind,
   * docs/benchmarks.md). "Offloaded", it does neither: we write the checksum of what goes
   * out (conn_output, SSE 4.2 crc32: peers still check it) and leave incoming ones
   * unchecked. That is safe here: every SCTP packet arrives inside a DTLS record whose
   * AEAD/HMAC already authenticated it (RFC 8261), and anyone who could forge one could
   * as well forge a valid CRC; RFC 9653 §1 makes the same argument for dropping the
   * checksum over DTLS altogether. libwebrtc's usrsctp transport offloaded it the same
   * way. */
  usrsctp_enable_crc32c_offload();
  g_ready = 1;
  return 0;
}

int sfu_sctp_global_shutdown(void) {
  if (!g_ready) return 0;
  /* Closed sockets may still wait for a timer to free their PCBs (INPKILL); without
   * usrsctp threads, run the timers here until usrsctp_finish agrees (bounded). */
  int rc = SFU_ESTATE;
  for (int i = 0; i < 500; i++) {
    if (usrsctp_finish() == 0) {
      rc = 0;
      break;
    }
    pthread_mutex_lock(&g_timer_mu);
    usrsctp_handle_timers(10);
    pthread_mutex_unlock(&g_timer_mu);
  }
  if (rc) {
    SFU_WARN("sctp", "usrsctp_finish: sockets still open at shutdown");
    return rc; /* usrsctp still holds state: keep ours too */
  }
  sfu_hmap_free(&g_reg);
  g_ready = 0;
  g_have_last = 0;
  return 0;
}

int sfu_sctp_global_ready(void) { return g_ready; }

/* ---- groups ---- */

sfu_sctp_group_t *sfu_sctp_group_new(void) {
  if (!g_ready) return NULL;
  sfu_sctp_group_t *g = calloc(1, sizeof *g);
  if (!g) return NULL;
  sfu_list_init(&g->assocs);
  sfu_list_init(&g->flagged);
  sfu_list_init(&g->busy);
  return g;
}

void sfu_sctp_group_free(sfu_sctp_group_t *g) {
  if (!g) return;
  if (g->n) {
    /* Their owners still point at them: leaking beats a use-after-free. */
    SFU_WARN("sctp", "group freed with %zu associations left (owner bug); leaking it", g->n);
    return;
  }
  free(g);
}

size_t sfu_sctp_group_count(const sfu_sctp_group_t *g) { return g ? g->n : 0; }

uint64_t sfu_sctp_group_next_deadline(const sfu_sctp_group_t *g) {
  if (!g || g->n == 0) return UINT64_MAX;
  return g->next_us;
}

/* ---- ticks ----
 * usrsctp 0.9.5 (Debian 12) cannot say when its next timer is due (usrsctp_get_timeout
 * was proposed upstream, sctplab/usrsctp#591, never merged) and its timers move only
 * when a loop calls usrsctp_handle_timers. A fixed 10 ms tick while any association
 * existed cost each loop with a data channel 100 wake-ups a second, nearly all with
 * nothing due (issue 6). What can be armed follows from what went in and out (RFC 4960
 * timers as usrsctp runs them):
 *   - delayed SACK (§6.2; SFU_SCTP_SACK_DELAY_MS, set at init): armed by the first
 *     DATA received since our last SACK (usrsctp SACKs every second packet at once):
 *     one tick when it is due, fast ticks only if the SACK is late;
 *   - T3-rtx, T1-init/cookie, T2-shutdown (§6.3, §5.1, §9.2) and RFC 6525's stream
 *     reset timer: armed by sending DATA, INIT, COOKIE ECHO, SHUTDOWN(-ACK) or a
 *     RE-CONFIG request: fast ticks until SCTP_STATUS shows no data outstanding and the
 *     handshake or shutdown done (a reset request: until a reconfiguration response
 *     comes back);
 *   - heartbeat (§8.3: RTO + 30 s, jittered by ±50 %), cookie secret rotation (1 h), path
 *     MTU raise (off: PMTUD disabled): always armed, none needs precision: the idle tick
 *     (SFU_SCTP_IDLE_TICK_US) runs them at most that late.
 * An association with one of these reasons is on its group's busy list; the group ticks
 * when the earliest of them needs it (every SFU_SCTP_TICK_US while a retransmission may
 * be due, or one was just created or freed: usrsctp's address and kill timers, a few
 * ms), else every SFU_SCTP_IDLE_TICK_US. A timer run by another loop's tick queues its packets for the
 * owner (sctp.h): a busy association is drained within SFU_SCTP_TICK_US as before, an
 * idle one's heartbeat may wait up to the idle tick. usrsctp dates a timer from its own
 * clock, which only run_timers moves: after an idle spell a packet in or a message out
 * first brings it up to date (sync_clock). Cost: a look at the chunk types of each SCTP
 * packet in and out, and one SCTP_STATUS per tick only for associations that sent
 * something a retransmission timer guards. */

enum { PEEK_DATA = 1, PEEK_RTX = 2, PEEK_RECONF_REQ = 4, PEEK_RECONF_RESP = 8, PEEK_SACK = 16 };

/* RFC 6525 §3: a RE-CONFIG chunk's parameters (type, length, value, padded to 4):
 * requests (13..15, 17, 18) are guarded by the stream reset timer, responses (16) end it. */
static int peek_reconf(const uint8_t *c, size_t len) {
  int f = 0;
  for (size_t off = 4; off + 4 <= len;) {
    unsigned type = (unsigned)c[off] << 8 | c[off + 1];
    size_t pl = (size_t)c[off + 2] << 8 | c[off + 3];
    if (type == 16) f |= PEEK_RECONF_RESP;
    else if (type >= 13 && type <= 18) f |= PEEK_RECONF_REQ;
    if (pl < 4) break;
    off += (pl + 3) & ~(size_t)3;
  }
  return f;
}

/* The timer-relevant chunks of one SCTP packet (RFC 4960 §3: a 12-byte common header,
 * then chunks: type, flags, 16-bit length, padded to 4). Garbage yields whatever its
 * bytes say: at worst a few fast ticks. */
static int peek_chunks(const uint8_t *p, size_t len) {
  int f = 0;
  for (size_t off = 12; off + 4 <= len;) {
    size_t cl = (size_t)p[off + 2] << 8 | p[off + 3];
    switch (p[off]) {
    case 0:   /* DATA */
    case 64:  /* I-DATA (RFC 8260) */
    case 192: /* FORWARD TSN (RFC 3758): acknowledged like DATA */
    case 194: /* I-FORWARD-TSN */
      f |= PEEK_DATA;
      break;
    case 3:  /* SACK */
    case 16: /* NR-SACK */
      f |= PEEK_SACK;
      break;
    case 1:   /* INIT */
    case 7:   /* SHUTDOWN */
    case 8:   /* SHUTDOWN ACK */
    case 10:  /* COOKIE ECHO */
    case 193: /* ASCONF (off, but it would be timed) */
      f |= PEEK_RTX;
      break;
    case 130: /* RE-CONFIG */
      f |= peek_reconf(p + off, cl < len - off ? cl : len - off);
      break;
    }
    if (cl < 4) break;
    off += (cl + 3) & ~(size_t)3;
  }
  return f;
}

/* Owner thread: the association may have a timer due at `at`: on the busy list, and the
 * group ticks then at the latest. */
static void make_busy(sfu_sctp_t *a, uint64_t at) {
  sfu_sctp_group_t *g = a->g;
  if (!a->in_busy) {
    a->in_busy = 1;
    sfu_list_insert_tail(&g->busy, &a->busy_link);
  }
  if (g->next_us > at) g->next_us = at;
}

static uint64_t fast(const sfu_sctp_t *a) { return a->g->now_us + SFU_SCTP_TICK_US; }

static void note_out(sfu_sctp_t *a, const uint8_t *buf, size_t len) {
  int f = peek_chunks(buf, len);
  if (f & PEEK_SACK) a->sack_due_us = UINT64_MAX;
  if (f & (PEEK_DATA | PEEK_RTX)) a->rtx_check = 1;
  if (f & PEEK_RECONF_REQ) a->reconf_out = 1;
  if (f & (PEEK_DATA | PEEK_RTX | PEEK_RECONF_REQ)) make_busy(a, fast(a));
}

/* Before usrsctp sees the packet (a SACK it sends at once clears sack_due_us again). */
static void note_in(sfu_sctp_t *a, const uint8_t *buf, size_t len) {
  int f = peek_chunks(buf, len);
  if (f & PEEK_RECONF_RESP) a->reconf_out = 0;
  if ((f & PEEK_DATA) && a->sack_due_us == UINT64_MAX) {
    /* usrsctp's clock was brought up to date (sync_clock) and counts whole ms: its timer
     * expires by now + the delay + 1 ms on ours. */
    a->sack_due_us = a->g->now_us + SFU_SCTP_SACK_DELAY_MS * 1000ull + 1000;
    make_busy(a, a->sack_due_us);
  }
}

/* Is a retransmission timer possibly armed (or is there more to do at once)? */
static int outstanding(sfu_sctp_t *a) {
  if (a->more || a->reconf_out || a->has_reset_pending) return 1;
  if (!a->rtx_check) return 0;
  struct sctp_status ss;
  socklen_t l = sizeof ss;
  memset(&ss, 0, sizeof ss);
  if (a->sock && usrsctp_getsockopt(a->sock, IPPROTO_SCTP, SCTP_STATUS, &ss, &l) == 0 &&
      (ss.sstat_unackdata || ss.sstat_penddata ||
       (ss.sstat_state != SCTP_ESTABLISHED && ss.sstat_state != SCTP_CLOSED)))
    return 1;
  a->rtx_check = 0;
  return 0;
}

/* When a busy association needs its next tick (UINT64_MAX: no longer busy). */
static uint64_t wants(sfu_sctp_t *a, uint64_t now_us) {
  uint64_t w = outstanding(a) ? now_us + SFU_SCTP_TICK_US : UINT64_MAX;
  if (a->sack_due_us != UINT64_MAX) {
    if (now_us < a->sack_due_us) {
      if (a->sack_due_us < w) w = a->sack_due_us;
    } else if (now_us < a->sack_due_us + SFU_SCTP_BUSY_US) {
      w = now_us + SFU_SCTP_TICK_US; /* late (another loop ran the timer?): until it goes */
    } else {
      a->sack_due_us = UINT64_MAX; /* none came: nothing left to receive, stop waiting */
    }
  }
  return w;
}

/* At a tick, after usrsctp's timers and the flagged associations: who stays busy, and
 * when the group ticks next. O(busy associations). */
static void review_busy(sfu_sctp_group_t *g, uint64_t now_us) {
  uint64_t next = now_us + (now_us < g->linger_until_us ? SFU_SCTP_TICK_US : SFU_SCTP_IDLE_TICK_US);
  sfu_list_t *it, *tmp;
  sfu_list_foreach_safe(it, tmp, &g->busy) {
    sfu_sctp_t *a = sfu_container_of(it, sfu_sctp_t, busy_link);
    uint64_t w = wants(a, now_us);
    if (w < next) next = w;
    if (w != UINT64_MAX) continue;
    sfu_list_remove(it);
    a->in_busy = 0;
  }
  g->next_us = next;
}

/* Advances usrsctp's process-wide timers to now_us. If another loop is running them at
 * this moment it will bring them up to date itself: skip rather than wait. */
static void run_timers(uint64_t now_us) {
  if (pthread_mutex_trylock(&g_timer_mu) != 0) return;
  uint32_t ms = 0;
  if (!g_have_last) {
    g_have_last = 1;
    g_last_us = now_us;
  } else if (now_us > g_last_us) {
    uint64_t d = (now_us - g_last_us) / 1000;
    g_last_us += d * 1000;
    ms = d > 60000 ? 60000 : (uint32_t)d;
  }
  if (ms) usrsctp_handle_timers(ms);
  pthread_mutex_unlock(&g_timer_mu);
}

/* Before a call into usrsctp that may arm a timer (a packet in, a message or a reset
 * out, a new socket): usrsctp dates a timer from its own clock, which moves only in
 * run_timers. A group idle for up to SFU_SCTP_IDLE_TICK_US leaves that clock as stale:
 * a T3-rtx armed then would expire up to a second early, a spurious retransmission at
 * the first fast tick. Owner thread, tls_group set. Cheap when the clock is fresh. */
static void sync_clock(sfu_sctp_group_t *g, uint64_t now_us) {
  if (now_us > g->now_us) g->now_us = now_us;
  if (now_us < g->synced_us + SFU_SCTP_TICK_US) return; /* as fresh as a fast tick leaves it */
  g->synced_us = now_us;
  run_timers(now_us);
}

static void service(sfu_sctp_t *a);

/* ---- backpressure ---- */

static size_t buffered(const sfu_sctp_t *a) {
  if (!a->sock || a->state != SFU_SCTP_ESTABLISHED) return 0;
  struct sfu_usrsctp_sockstat ss;
  socklen_t l = sizeof ss;
  memset(&ss, 0, sizeof ss);
  if (usrsctp_getsockopt(a->sock, IPPROTO_SCTP, SCTP_GET_SNDBUF_USE, &ss, &l) != 0) return 0;
  return ss.ss_total_sndbuf;
}

/* Owner thread, outside usrsctp. Space comes back when a SACK is processed (usrsctp's
 * upcall after every packet in flags the association: service runs) or when PR-SCTP
 * abandons chunks at a timer (group_handle_timeout looks at blocked busy ones: an
 * association with unacknowledged data stays on the busy list). One getsockopt per
 * look, only while blocked. */
static void check_writable(sfu_sctp_t *a) {
  if (!a->blocked) return;
  size_t b = buffered(a);
  if (a->state == SFU_SCTP_ESTABLISHED && b > a->o.low_water) return;
  a->blocked = 0;
  if (a->state != SFU_SCTP_ESTABLISHED) return; /* closed: nothing will be writable */
  a->st.writable++;
  if (a->cbs.on_writable_cb) a->cbs.on_writable_cb(a->cbs.user, b);
}

void sfu_sctp_group_handle_timeout(sfu_sctp_group_t *g, uint64_t now_us) {
  if (!g) return;
  sfu_sctp_group_t *prev = tls_group;
  tls_group = g;
  if (now_us > g->now_us) g->now_us = now_us;
  g->synced_us = now_us;
  run_timers(now_us);
  /* Only the flagged associations, each once: one that flags itself again while being
   * serviced (more to read) lands on g->flagged for the next tick, not on this list. */
  sfu_list_t todo;
  sfu_list_init(&todo);
  pthread_mutex_lock(&g_mu);
  if (!sfu_list_empty(&g->flagged)) {
    todo.next = g->flagged.next;
    todo.prev = g->flagged.prev;
    todo.next->prev = &todo;
    todo.prev->next = &todo;
    sfu_list_init(&g->flagged);
  }
  for (;;) {
    if (sfu_list_empty(&todo)) break;
    sfu_sctp_t *a = sfu_container_of(todo.next, sfu_sctp_t, flag_link);
    pthread_mutex_unlock(&g_mu);
    service(a); /* unmarks it (under g_mu) */
    pthread_mutex_lock(&g_mu);
  }
  pthread_mutex_unlock(&g_mu);
  sfu_list_t *it, *tmp;
  sfu_list_foreach_safe(it, tmp, &g->busy) {
    sfu_sctp_t *a = sfu_container_of(it, sfu_sctp_t, busy_link);
    if (a->blocked) check_writable(a);
  }
  review_busy(g, now_us);
  tls_group = prev;
}

/* ---- state and channels ---- */

static void set_state(sfu_sctp_t *a, sfu_sctp_state_t st) {
  if (a->state == st) return;
  a->state = st;
  if (a->cbs.on_state_cb) a->cbs.on_state_cb(a->cbs.user, st);
}

static int ch_find(const sfu_sctp_t *a, uint16_t stream) {
  for (int i = 0; i < SFU_SCTP_MAX_CHANNELS; i++)
    if (a->ch_used[i] && a->ch[i].stream == stream) return i;
  return -1;
}

static sfu_sctp_channel_t *ch_add(sfu_sctp_t *a, uint16_t stream, const sfu_dcep_open_t *o) {
  for (int i = 0; i < SFU_SCTP_MAX_CHANNELS; i++) {
    if (a->ch_used[i]) continue;
    sfu_sctp_channel_t *c = &a->ch[i];
    memset(c, 0, sizeof *c);
    c->stream = stream;
    c->channel_type = o->channel_type;
    c->priority = o->priority;
    c->reliability = o->reliability;
    size_t n = o->label_len < SFU_SCTP_LABEL_MAX ? o->label_len : SFU_SCTP_LABEL_MAX;
    if (n) memcpy(c->label, o->label, n);
    n = o->protocol_len < SFU_SCTP_LABEL_MAX ? o->protocol_len : SFU_SCTP_LABEL_MAX;
    if (n) memcpy(c->protocol, o->protocol, n);
    a->ch_used[i] = 1;
    return c;
  }
  return NULL;
}

static void ch_remove(sfu_sctp_t *a, int i) {
  sfu_sctp_channel_t *c = &a->ch[i];
  int was_open = c->open;
  a->ch_used[i] = 0;
  if (!was_open) return;
  a->n_open--;
  a->st.channels_closed++;
  if (a->cbs.on_channel_cb) a->cbs.on_channel_cb(a->cbs.user, c, 0);
}

static void ch_set_open(sfu_sctp_t *a, sfu_sctp_channel_t *c) {
  c->open = 1;
  a->n_open++;
  a->st.channels_opened++;
  if (a->cbs.on_channel_cb) a->cbs.on_channel_cb(a->cbs.user, c, 1);
}

/* RFC 8831 §6.7: resetting our outgoing stream closes the channel in our direction.
 * usrsctp allows one outstanding reset request: busy ones are retried on later calls. */
static void flush_resets(sfu_sctp_t *a) {
  if (!a->has_reset_pending || !a->sock || a->state != SFU_SCTP_ESTABLISHED) return;
  uint16_t list[64];
  uint16_t n = 0;
  for (unsigned s = 0; s < SFU_SCTP_STREAMS && n < 64; s++)
    if (a->reset_pending[s / 8] & (1u << (s % 8))) list[n++] = (uint16_t)s;
  if (n == 0) {
    a->has_reset_pending = 0;
    return;
  }
  size_t sz = sizeof(struct sctp_reset_streams) + n * sizeof(uint16_t);
  struct sctp_reset_streams *srs = calloc(1, sz);
  if (!srs) return;
  srs->srs_flags = SCTP_STREAM_RESET_OUTGOING;
  srs->srs_number_streams = n;
  memcpy(srs->srs_stream_list, list, n * sizeof(uint16_t));
  if (usrsctp_setsockopt(a->sock, IPPROTO_SCTP, SCTP_RESET_STREAMS, srs, (socklen_t)sz) == 0) {
    for (uint16_t i = 0; i < n; i++) a->reset_pending[list[i] / 8] &= (uint8_t)~(1u << (list[i] % 8));
    a->has_reset_pending = 0;
    for (unsigned s = 0; s < sizeof a->reset_pending; s++)
      if (a->reset_pending[s]) a->has_reset_pending = 1;
  }
  free(srs);
  if (a->has_reset_pending) { /* busy (one request at a time): retry next tick */
    pthread_mutex_lock(&g_mu);
    mark(a);
    pthread_mutex_unlock(&g_mu);
  }
}

static void reset_stream(sfu_sctp_t *a, uint16_t stream) {
  if (stream >= SFU_SCTP_STREAMS) return;
  a->reset_pending[stream / 8] |= (uint8_t)(1u << (stream % 8));
  a->has_reset_pending = 1;
  make_busy(a, fast(a)); /* retried on fast ticks while pending */
  flush_resets(a);
}

/* ---- DCEP (RFC 8832) ---- */

static int raw_send(sfu_sctp_t *a, uint16_t stream, uint32_t ppid, const uint8_t *buf, size_t len,
                    const sfu_sctp_channel_t *c) {
  struct sctp_sendv_spa spa;
  memset(&spa, 0, sizeof spa);
  spa.sendv_flags = SCTP_SEND_SNDINFO_VALID;
  spa.sendv_sndinfo.snd_sid = stream;
  spa.sendv_sndinfo.snd_ppid = htonl(ppid);
  spa.sendv_sndinfo.snd_flags = SCTP_EOR;
  if (c) {
    /* RFC 8831 §6.4: the channel type's ordering and partial reliability (RFC 3758). */
    if (c->channel_type & 0x80) spa.sendv_sndinfo.snd_flags |= SCTP_UNORDERED;
    uint8_t pr = c->channel_type & 0x7f;
    /* RFC 8832 §5.1: REXMIT's reliability is the number of retransmissions, 0 included
     * (maxRetransmits: 0, "send once"); TIMED's is a lifetime in ms. The policy is
     * always set explicitly, whatever the value: usrsctp keys partial reliability on
     * the policy alone (sctp_set_prsctp_policy: PR_SCTP_ENABLED(policy)) and stores the
     * count in timetodrop.tv_sec, abandoning a chunk once snd_count > count
     * (sctp_timer.c sctp_mark_all_for_resend, sctp_indata.c fast retransmit), so RTX
     * with 0 is sent once and never retransmitted. Leaving the policy out when the
     * value is 0 (the trap: "no limit" = reliable) or mapping TIMED 0 to RTX with an
     * unset count (libwebrtc's old usrsctp transport passed max_rtx_count -1, i.e.
     * 0xffffffff retransmissions) would make such a channel reliable.
     * test_sctp `rexmit_zero_channel_is_sent_once`. */
    if (pr == SFU_DCEP_PARTIAL_RELIABLE_REXMIT || pr == SFU_DCEP_PARTIAL_RELIABLE_TIMED) {
      spa.sendv_flags |= SCTP_SEND_PRINFO_VALID;
      spa.sendv_prinfo.pr_policy = pr == SFU_DCEP_PARTIAL_RELIABLE_REXMIT ? SCTP_PR_SCTP_RTX : SCTP_PR_SCTP_TTL;
      spa.sendv_prinfo.pr_value = c->reliability;
    }
  }
  ssize_t n = usrsctp_sendv(a->sock, buf, len, NULL, 0, &spa, sizeof spa, SCTP_SENDV_SPA, 0);
  if (n >= 0) return 0;
  if (errno == EWOULDBLOCK || errno == EAGAIN) {
    /* Backpressure, not failure (sctp.h): nothing was queued; the owner hears of relief
     * through on_writable_cb (check_writable), and nobody retries here. */
    a->st.send_blocked++;
    a->blocked = 1;
    return SFU_EAGAIN;
  }
  if (errno == EMSGSIZE) return SFU_ETOOBIG; /* larger than the whole send buffer */
  return SFU_EIO;
}

static void dcep_open(sfu_sctp_t *a, uint16_t sid, const uint8_t *buf, size_t len) {
  sfu_dcep_open_t o;
  if (sfu_dcep_parse_open(buf, len, &o)) {
    a->st.dcep_errors++;
    SFU_DEBUG("sctp", "malformed DATA_CHANNEL_OPEN on stream %u: reset", sid);
    reset_stream(a, sid); /* the opener's channel fails instead of hanging */
    return;
  }
  if (ch_find(a, sid) >= 0) {
    a->st.dcep_errors++; /* RFC 8832 §6: a stream carries one channel at a time */
    return;
  }
  sfu_sctp_channel_t *c = ch_add(a, sid, &o);
  if (!c) {
    /* Hundreds of OPENs cost a table scan and a reset each (flush_resets batches up to
     * 64 streams per RE-CONFIG request): the channels already open are untouched. */
    a->st.dcep_errors++;
    a->st.channels_refused++;
    if (a->st.channels_refused == 1 || a->st.channels_refused % 1000 == 0)
      SFU_INFO("sctp", "channel table full (%d): stream %u refused (%" PRIu64 " refused so far)",
               SFU_SCTP_MAX_CHANNELS, sid, a->st.channels_refused);
    reset_stream(a, sid);
    return;
  }
  /* RFC 8832 §6: answer DATA_CHANNEL_ACK on the same stream. Sent ordered (§6: DCEP
   * messages are sent ordered and reliably). */
  uint8_t ack = SFU_DCEP_ACK;
  if (raw_send(a, sid, SFU_SCTP_PPID_DCEP, &ack, 1, NULL)) a->st.dcep_errors++;
  ch_set_open(a, c);
}

static void dcep_input(sfu_sctp_t *a, uint16_t sid, const uint8_t *buf, size_t len) {
  if (len >= 1 && buf[0] == SFU_DCEP_OPEN) {
    dcep_open(a, sid, buf, len);
    return;
  }
  int i = ch_find(a, sid);
  if (len == 1 && buf[0] == SFU_DCEP_ACK && i >= 0 && !a->ch[i].open) {
    ch_set_open(a, &a->ch[i]); /* RFC 8832 §6: our OPEN was accepted */
    return;
  }
  a->st.dcep_errors++;
}

/* A whole message (RFC 8831 §8 PPIDs). */
static void deliver(sfu_sctp_t *a, uint16_t sid, uint32_t ppid, const uint8_t *buf, size_t len) {
  if (ppid == SFU_SCTP_PPID_DCEP) {
    dcep_input(a, sid, buf, len);
    return;
  }
  int empty = ppid == SFU_SCTP_PPID_STRING_EMPTY || ppid == SFU_SCTP_PPID_BINARY_EMPTY;
  if (!empty && ppid != SFU_SCTP_PPID_STRING && ppid != SFU_SCTP_PPID_BINARY) {
    a->st.unknown_ppid++;
    return;
  }
  /* Messages may follow an OPEN before our ACK reaches the peer (RFC 8832 §6), but never
   * precede it: the stream is ordered for DCEP. No channel: not ours to accept. */
  if (ch_find(a, sid) < 0) {
    a->st.no_channel++;
    return;
  }
  if (empty) len = 0; /* RFC 8831 §6.6: the single byte of an empty message is not data */
  a->st.messages_in++;
  a->st.message_bytes_in += len;
  if (a->cbs.on_message_cb) a->cbs.on_message_cb(a->cbs.user, sid, ppid, buf, len);
}

/* A piece of a message: whole ones go straight from the scratch buffer; pieces are
 * gathered (bounded by the max message size; past it the message is dropped). */
static void on_data(sfu_sctp_t *a, uint16_t sid, uint32_t ppid, const uint8_t *buf, size_t n, int eor) {
  size_t max = a->o.max_message_size;
  if (eor && !a->partial_on) {
    if (n > max) a->st.oversize++;
    else deliver(a, sid, ppid, buf, n);
    return;
  }
  if (a->partial_on && sid != a->partial_sid) {
    /* usrsctp's default fragment interleave level (1) never interleaves the pieces of
     * two streams on one association, and I-DATA is off: a piece of another stream
     * means the gathered message can never complete. Dropped, never mixed. */
    a->st.oversize++;
    a->partial_len = 0;
    a->partial_drop = 0;
    a->partial_on = 0;
    if (eor) {
      on_data(a, sid, ppid, buf, n, eor);
      return;
    }
  }
  if (!a->partial_on) {
    a->partial_on = 1;
    a->partial_sid = sid;
    a->st.partial_messages++;
  }
  if (!a->partial_drop) {
    if (a->partial_len + n > max) {
      a->partial_drop = 1;
    } else {
      if (a->partial_len + n > a->partial_cap) {
        size_t cap = a->partial_cap ? a->partial_cap : 4096;
        while (cap < a->partial_len + n) cap *= 2;
        if (cap > max) cap = max;
        uint8_t *p = realloc(a->partial, cap);
        if (!p) {
          a->partial_drop = 1;
        } else {
          a->partial = p;
          a->partial_cap = cap;
        }
      }
      if (!a->partial_drop) {
        memcpy(a->partial + a->partial_len, buf, n);
        a->partial_len += n;
      }
    }
  }
  if (!eor) return;
  /* Reset before delivering: the callee may send, and a send never re-enters here, but
   * the state must not depend on that. */
  size_t len = a->partial_len;
  int drop = a->partial_drop;
  a->partial_len = 0;
  a->partial_drop = 0;
  a->partial_on = 0;
  if (drop) a->st.oversize++;
  else deliver(a, sid, ppid, a->partial, len);
}

/* ---- notifications ---- */

static void all_channels_closed(sfu_sctp_t *a) {
  for (int i = 0; i < SFU_SCTP_MAX_CHANNELS; i++)
    if (a->ch_used[i]) ch_remove(a, i);
}

static void on_stream_reset(sfu_sctp_t *a, const struct sctp_stream_reset_event *ev, size_t len) {
  if (len < sizeof *ev) return;
  if (ev->strreset_flags & (SCTP_STREAM_RESET_DENIED | SCTP_STREAM_RESET_FAILED)) return;
  if (!(ev->strreset_flags & SCTP_STREAM_RESET_INCOMING_SSN)) return; /* ours completed */
  size_t n = (len - sizeof *ev) / sizeof(uint16_t);
  for (size_t k = 0; k < n; k++) {
    uint16_t sid = ev->strreset_stream_list[k];
    int i = ch_find(a, sid);
    if (i < 0) continue;
    /* RFC 8831 §6.7: the peer reset its outgoing stream: reset ours too (unless we
     * started the close), and the channel is closed. */
    if (!a->ch[i].closing) reset_stream(a, sid);
    ch_remove(a, i);
  }
}

static void on_notification(sfu_sctp_t *a, const uint8_t *buf, size_t len) {
  const union sctp_notification *n = (const void *)buf;
  if (len < sizeof n->sn_header) return;
  switch (n->sn_header.sn_type) {
  case SCTP_ASSOC_CHANGE:
    if (len < sizeof n->sn_assoc_change) return;
    switch (n->sn_assoc_change.sac_state) {
    case SCTP_COMM_UP:
    case SCTP_RESTART:
      SFU_DEBUG("sctp", "association up: %u out / %u in streams", n->sn_assoc_change.sac_outbound_streams,
                n->sn_assoc_change.sac_inbound_streams);
      set_state(a, SFU_SCTP_ESTABLISHED);
      flush_resets(a);
      break;
    case SCTP_COMM_LOST:
    case SCTP_SHUTDOWN_COMP:
    case SCTP_CANT_STR_ASSOC:
      all_channels_closed(a);
      set_state(a, SFU_SCTP_CLOSED);
      break;
    }
    break;
  case SCTP_SHUTDOWN_EVENT:
    all_channels_closed(a);
    set_state(a, SFU_SCTP_CLOSED);
    break;
  case SCTP_STREAM_RESET_EVENT:
    on_stream_reset(a, &n->sn_strreset_event, len);
    break;
  default:
    break;
  }
}

/* ---- socket set-up ---- */

static void fill_conn(struct sockaddr_conn *s, uint64_t id, uint16_t port) {
  memset(s, 0, sizeof *s);
  s->sconn_family = AF_CONN;
  s->sconn_port = htons(port);
  s->sconn_addr = (void *)(uintptr_t)id;
}

/* Path MTU fixed below the DTLS MTU: no PMTU discovery over DTLS (RFC 8261 §5). A
 * heartbeat interval if the owner chose one (else usrsctp's 30 s). */
static void set_mtu(sfu_sctp_t *a, struct socket *s, sctp_assoc_t assoc) {
  struct sctp_paddrparams pp;
  memset(&pp, 0, sizeof pp);
  pp.spp_assoc_id = assoc;
  pp.spp_flags = SPP_PMTUD_DISABLE;
  pp.spp_pathmtu = a->o.mtu;
  if (a->o.heartbeat_ms) {
    pp.spp_flags |= SPP_HB_ENABLE;
    pp.spp_hbinterval = a->o.heartbeat_ms;
  }
  if (usrsctp_setsockopt(s, IPPROTO_SCTP, SCTP_PEER_ADDR_PARAMS, &pp, sizeof pp))
    SFU_DEBUG("sctp", "SCTP_PEER_ADDR_PARAMS: errno %d", errno);
}

/* The bounded send buffer (sctp.h "Send buffer and backpressure"): usrsctp refuses a
 * non-blocking send with EWOULDBLOCK once queued + unacknowledged bytes would pass it
 * (sctp_lower_sosend: SCTP_SB_LIMIT_SND, i.e. so_snd.sb_hiwat, which SO_SNDBUF sets). */
static void set_sndbuf(sfu_sctp_t *a, struct socket *s) {
  int v = (int)a->o.send_buffer;
  if (usrsctp_setsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, sizeof v))
    SFU_DEBUG("sctp", "SO_SNDBUF %d: errno %d", v, errno);
}

static int set_opts(sfu_sctp_t *a, struct socket *s) {
  struct linger lg = {1, 0}; /* close = ABORT, freed at once: no lingering state */
  int on = 1;
  struct sctp_assoc_value rst = {SCTP_FUTURE_ASSOC, SCTP_ENABLE_RESET_STREAM_REQ};
  struct sctp_initmsg init = {SFU_SCTP_STREAMS, SFU_SCTP_STREAMS, 0, 0};
  if (usrsctp_set_non_blocking(s, 1) || usrsctp_setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) ||
      usrsctp_setsockopt(s, IPPROTO_SCTP, SCTP_NODELAY, &on, sizeof on) ||
      usrsctp_setsockopt(s, IPPROTO_SCTP, SCTP_RECVRCVINFO, &on, sizeof on) ||
      usrsctp_setsockopt(s, IPPROTO_SCTP, SCTP_ENABLE_STREAM_RESET, &rst, sizeof rst) ||
      usrsctp_setsockopt(s, IPPROTO_SCTP, SCTP_INITMSG, &init, sizeof init))
    return SFU_EINTERNAL;
  /* I-DATA (RFC 8260) stays off: usrsctp's default, never enabled here. */
  static const uint16_t events[] = {SCTP_ASSOC_CHANGE, SCTP_SHUTDOWN_EVENT, SCTP_STREAM_RESET_EVENT};
  for (size_t i = 0; i < sizeof events / sizeof events[0]; i++) {
    struct sctp_event ev = {SCTP_FUTURE_ASSOC, events[i], 1};
    if (usrsctp_setsockopt(s, IPPROTO_SCTP, SCTP_EVENT, &ev, sizeof ev)) return SFU_EINTERNAL;
  }
  set_mtu(a, s, SCTP_FUTURE_ASSOC);
  set_sndbuf(a, s);
  return 0;
}

static void do_accept(sfu_sctp_t *a) {
  struct socket *s = usrsctp_accept(a->lsock, NULL, NULL);
  if (!s) return; /* EWOULDBLOCK: no association yet */
  usrsctp_set_non_blocking(s, 1);
  usrsctp_set_upcall(s, upcall, (void *)(uintptr_t)(a->id | ARG_SOCK));
  set_mtu(a, s, 0);
  set_sndbuf(a, s); /* inherited from the listener already (sonewconn); made explicit */
  a->sock = s;
  /* One association per transport: the listener has done its job. */
  usrsctp_set_upcall(a->lsock, NULL, NULL);
  usrsctp_close(a->lsock);
  a->lsock = NULL;
}

static void do_recv(sfu_sctp_t *a) {
  uint8_t *buf = a->g->rbuf;
  for (int k = 0; k < RECV_BATCH && a->sock; k++) {
    struct sctp_rcvinfo ri;
    socklen_t ilen = sizeof ri;
    unsigned itype = 0;
    int flags = 0;
    struct sockaddr_conn from;
    socklen_t flen = sizeof from;
    memset(&ri, 0, sizeof ri);
    ssize_t n = usrsctp_recvv(a->sock, buf, RECV_BUF, (struct sockaddr *)&from, &flen, &ri, &ilen, &itype, &flags);
    if (n < 0) return; /* EWOULDBLOCK: drained */
    if (flags & MSG_NOTIFICATION) {
      on_notification(a, buf, (size_t)n);
      continue;
    }
    if (n == 0) { /* end of stream: the peer shut the association down */
      all_channels_closed(a);
      set_state(a, SFU_SCTP_CLOSED);
      return;
    }
    if (itype != SCTP_RECVV_RCVINFO) continue; /* SCTP_RECVRCVINFO is on: not expected */
    on_data(a, ri.rcv_sid, ntohl(ri.rcv_ppid), buf, (size_t)n, (flags & MSG_EOR) != 0);
  }
  /* More than a batch: come back on the next tick rather than starve the loop. */
  pthread_mutex_lock(&g_mu);
  mark(a);
  pthread_mutex_unlock(&g_mu);
  a->more = 1;
  make_busy(a, fast(a));
}

/* Owner thread, tls_group set: queued output, pending accept, receptions, resets. */
static void service(sfu_sctp_t *a) {
  a->more = 0;
  pthread_mutex_lock(&g_mu);
  qpkt_t *q = a->q_head;
  a->q_head = a->q_tail = NULL;
  a->q_n = 0;
  a->st.queue_drops = a->q_drops;
  unmark(a);
  pthread_mutex_unlock(&g_mu);
  while (q) {
    qpkt_t *next = q->next;
    send_now(a, q->data, q->len);
    free(q);
    q = next;
  }
  if (a->lsock && !a->sock) do_accept(a);
  if (a->sock) do_recv(a);
  flush_resets(a);
  check_writable(a);
}

/* ---- associations ---- */

static void unregister(sfu_sctp_t *a) {
  pthread_mutex_lock(&g_mu);
  if (a->registered) sfu_hmap_remove(&g_reg, &a->node);
  a->registered = 0;
  unmark(a);
  qpkt_t *q = a->q_head;
  a->q_head = a->q_tail = NULL;
  pthread_mutex_unlock(&g_mu);
  while (q) {
    qpkt_t *next = q->next;
    free(q);
    q = next;
  }
}

static int open_socket(sfu_sctp_t *a) {
  struct socket *s = usrsctp_socket(AF_CONN, SOCK_STREAM, IPPROTO_SCTP, NULL, NULL, 0, NULL);
  if (!s) return SFU_EINTERNAL;
  uint64_t arg = a->id | (a->o.role == SFU_SCTP_ROLE_CLIENT ? ARG_SOCK : 0);
  if (a->o.role == SFU_SCTP_ROLE_CLIENT) a->sock = s;
  else a->lsock = s;
  if (set_opts(a, s)) return SFU_EINTERNAL;
  usrsctp_set_upcall(s, upcall, (void *)(uintptr_t)arg);
  struct sockaddr_conn local, remote;
  fill_conn(&local, a->id, a->o.local_port);
  if (usrsctp_bind(s, (struct sockaddr *)&local, sizeof local)) return SFU_EINTERNAL;
  if (a->o.role == SFU_SCTP_ROLE_SERVER) return usrsctp_listen(s, 1) ? SFU_EINTERNAL : 0;
  /* Client: INIT goes out now (through conn_output, on this thread). */
  fill_conn(&remote, a->id, a->o.remote_port);
  if (usrsctp_connect(s, (struct sockaddr *)&remote, sizeof remote) && errno != EINPROGRESS)
    return SFU_EINTERNAL;
  return 0;
}

sfu_sctp_t *sfu_sctp_new(sfu_sctp_group_t *g, const sfu_sctp_opts_t *opts, const sfu_sctp_cbs_t *cbs,
                         uint64_t now_us) {
  if (!g || !opts || !cbs || !cbs->send_cb || !g_ready) return NULL;
  sfu_sctp_t *a = calloc(1, sizeof *a);
  if (!a) return NULL;
  a->g = g;
  a->cbs = *cbs;
  a->o = *opts;
  if (!a->o.local_port) a->o.local_port = SFU_SCTP_DEFAULT_PORT;
  if (!a->o.remote_port) a->o.remote_port = SFU_SCTP_DEFAULT_PORT;
  if (!a->o.max_message_size) a->o.max_message_size = SFU_SCTP_MAX_MESSAGE;
  if (!a->o.remote_max_message_size) a->o.remote_max_message_size = REMOTE_MMS_DEFAULT;
  if (!a->o.mtu) a->o.mtu = DEFAULT_MTU;
  if (!a->o.send_buffer) a->o.send_buffer = SFU_SCTP_SEND_BUFFER;
  if (a->o.send_buffer > INT32_MAX) a->o.send_buffer = INT32_MAX;
  if (!a->o.low_water || a->o.low_water >= a->o.send_buffer) a->o.low_water = a->o.send_buffer / 4;
  a->state = SFU_SCTP_CONNECTING;
  a->sack_due_us = UINT64_MAX;
  pthread_mutex_lock(&g_mu);
  a->id = g_next_id++;
  sfu_hmap_insert(&g_reg, &a->node, id_hash(a->id));
  a->registered = 1;
  pthread_mutex_unlock(&g_mu);
  sfu_list_insert_tail(&g->assocs, &a->link);
  /* usrsctp's address work queue timer (a few ms) runs after a registration: fast
   * ticks for a while; a client's INIT makes it busy by itself (note_out). */
  if (g->n++ == 0) g->next_us = now_us + SFU_SCTP_TICK_US;
  g->linger_until_us = now_us + SFU_SCTP_BUSY_US;
  if (g->next_us > now_us + SFU_SCTP_TICK_US) g->next_us = now_us + SFU_SCTP_TICK_US;
  usrsctp_register_address((void *)(uintptr_t)a->id);
  sfu_sctp_group_t *prev = tls_group;
  tls_group = g;
  sync_clock(g, now_us); /* a client's INIT arms T1-init */
  int rc = open_socket(a);
  tls_group = prev;
  if (rc) {
    SFU_WARN("sctp", "could not open the SCTP socket (errno %d)", errno);
    sfu_sctp_free(a);
    return NULL;
  }
  return a;
}

void sfu_sctp_free(sfu_sctp_t *a) {
  if (!a) return;
  /* Out of the registry first: from here on usrsctp's callbacks (the ABORT that close
   * sends, a timer on another loop) find nothing and drop. */
  unregister(a);
  sfu_sctp_group_t *prev = tls_group;
  tls_group = a->g;
  if (a->sock) {
    usrsctp_set_upcall(a->sock, NULL, NULL);
    usrsctp_close(a->sock);
  }
  if (a->lsock) {
    usrsctp_set_upcall(a->lsock, NULL, NULL);
    usrsctp_close(a->lsock);
  }
  usrsctp_deregister_address((void *)(uintptr_t)a->id);
  tls_group = prev;
  sfu_list_remove(&a->link);
  if (a->in_busy) sfu_list_remove(&a->busy_link);
  /* usrsctp frees the PCBs from its kill timers (10-20 ms): tick fast meanwhile. */
  sfu_sctp_group_t *g = a->g;
  g->linger_until_us = g->now_us + SFU_SCTP_BUSY_US;
  if (g->next_us > g->now_us + SFU_SCTP_TICK_US) g->next_us = g->now_us + SFU_SCTP_TICK_US;
  a->g->n--;
  free(a->partial);
  free(a);
}

int sfu_sctp_handle_input(sfu_sctp_t *a, uint64_t now_us, const uint8_t *buf, size_t len) {
  if (!buf || len == 0) return SFU_EINVAL;
  a->st.packets_in++;
  a->st.bytes_in += len;
  sfu_sctp_group_t *prev = tls_group;
  tls_group = a->g;
  sync_clock(a->g, now_us); /* what this packet arms is dated right (see "Ticks") */
  note_in(a, buf, len);
  /* usrsctp checks the CRC32c and drops garbage itself (blackhole: no ABORT back). */
  usrsctp_conninput((void *)(uintptr_t)a->id, buf, len, 0);
  service(a);
  tls_group = prev;
  return 0;
}

int sfu_sctp_send(sfu_sctp_t *a, uint64_t now_us, uint16_t stream, uint32_t ppid,
                  const uint8_t *buf, size_t len) {
  if (a->state != SFU_SCTP_ESTABLISHED || !a->sock) return SFU_ESTATE;
  if (stream >= SFU_SCTP_STREAMS) return SFU_EINVAL;
  if (len > a->o.remote_max_message_size) return SFU_ETOOBIG;
  static const uint8_t zero = 0;
  if (len == 0 && (ppid == SFU_SCTP_PPID_STRING || ppid == SFU_SCTP_PPID_BINARY)) {
    ppid = ppid == SFU_SCTP_PPID_STRING ? SFU_SCTP_PPID_STRING_EMPTY : SFU_SCTP_PPID_BINARY_EMPTY;
    buf = &zero;
    len = 1;
  }
  if (len == 0) return SFU_EINVAL;
  int i = ch_find(a, stream);
  sfu_sctp_group_t *prev = tls_group;
  tls_group = a->g;
  sync_clock(a->g, now_us);
  int rc = raw_send(a, stream, ppid, buf, len, i >= 0 && ppid != SFU_SCTP_PPID_DCEP ? &a->ch[i] : NULL);
  tls_group = prev;
  if (rc == 0 && ppid != SFU_SCTP_PPID_DCEP) {
    a->st.messages_out++;
    a->st.message_bytes_out += len;
  }
  return rc;
}

int sfu_sctp_open_channel(sfu_sctp_t *a, uint64_t now_us, uint16_t stream, const char *label,
                          const char *protocol, uint8_t channel_type, uint32_t reliability) {
  if (a->state != SFU_SCTP_ESTABLISHED) return SFU_ESTATE;
  if (stream >= SFU_SCTP_STREAMS) return SFU_EINVAL;
  if (ch_find(a, stream) >= 0) return SFU_EEXIST;
  sfu_dcep_open_t o = {channel_type, 0, reliability, (const uint8_t *)label, (const uint8_t *)protocol,
                       (uint16_t)(label ? strnlen(label, SFU_SCTP_LABEL_MAX) : 0),
                       (uint16_t)(protocol ? strnlen(protocol, SFU_SCTP_LABEL_MAX) : 0)};
  uint8_t msg[12 + 2 * SFU_SCTP_LABEL_MAX];
  int n = sfu_dcep_build_open(msg, sizeof msg, &o);
  if (n < 0) return n;
  if (!ch_add(a, stream, &o)) return SFU_ELIMIT;
  int rc = sfu_sctp_send(a, now_us, stream, SFU_SCTP_PPID_DCEP, msg, (size_t)n);
  if (rc) a->ch_used[ch_find(a, stream)] = 0;
  return rc;
}

int sfu_sctp_close_channel(sfu_sctp_t *a, uint64_t now_us, uint16_t stream) {
  int i = ch_find(a, stream);
  if (i < 0) return SFU_ENOENT;
  if (a->ch[i].closing) return 0;
  a->ch[i].closing = 1;
  sfu_sctp_group_t *prev = tls_group;
  tls_group = a->g;
  sync_clock(a->g, now_us);
  reset_stream(a, stream);
  tls_group = prev;
  return 0;
}

/* ---- figures ---- */

sfu_sctp_state_t sfu_sctp_state(const sfu_sctp_t *a) { return a ? a->state : SFU_SCTP_NONE; }

const char *sfu_sctp_state_name(sfu_sctp_state_t st) {
  switch (st) {
  case SFU_SCTP_CONNECTING:
    return "connecting";
  case SFU_SCTP_ESTABLISHED:
    return "established";
  case SFU_SCTP_CLOSED:
    return "closed";
  default:
    return "none";
  }
}

const sfu_sctp_stats_t *sfu_sctp_stats(const sfu_sctp_t *a) { return &a->st; }
size_t sfu_sctp_buffered_amount(const sfu_sctp_t *a) { return a ? buffered(a) : 0; }
int sfu_sctp_blocked(const sfu_sctp_t *a) { return a ? a->blocked : 0; }
void sfu_sctp_set_low_water(sfu_sctp_t *a, size_t bytes) {
  if (!a) return;
  a->o.low_water = bytes < a->o.send_buffer ? (uint32_t)bytes : a->o.send_buffer / 4;
}
size_t sfu_sctp_open_channels(const sfu_sctp_t *a) { return a ? a->n_open : 0; }

const sfu_sctp_channel_t *sfu_sctp_channel(const sfu_sctp_t *a, uint16_t stream) {
  int i = ch_find(a, stream);
  return i >= 0 ? &a->ch[i] : NULL;
}
