/* One meeting's data-message relay (include/sfu/data_relay.h). */
#include "sfu/data_relay.h"

#include <stdlib.h>
#include <string.h>

#include "sfu/data_bucket.h"
#include "sfu/data_cache.h"
#include "sfu/err.h"
#include "sfu/list.h"

struct sfu_data_peer {
  sfu_list_t link;    /* r->peers */
  sfu_list_t open_link;    /* r->open while open, else self */
  sfu_list_t backlog_link; /* r->backlog while it has something to send, else self */
  void *user;         /* send_cb's peer_user while open */
  uint32_t id;        /* sfu_data_msg_t.sender of its messages (never replayed to it) */
  uint8_t open, replay, stuck_reported;
  uint64_t mark;      /* highest seq its association accepted (or refused for good) */
  sfu_data_msg_t **q; /* ring of queued messages (one reference each) */
  uint32_t q_head, q_n, q_cap;
  uint64_t q_bytes;
  uint64_t progress_us; /* last accepted send, or when the backlog began */
  sfu_data_peer_stats_t st;
};

struct sfu_data_relay {
  sfu_data_relay_cbs_t cbs;
  sfu_data_relay_cfg_t cfg;
  sfu_list_t peers, open, backlog;
  sfu_data_bucket_t bucket;
  sfu_data_cache_t cache;
  uint64_t seq;
  uint32_t next_peer_id;
  uint64_t next_retry_us; /* UINT64_MAX while no backlog */
  sfu_data_relay_stats_t st;
};

sfu_data_relay_t *sfu_data_relay_new(const sfu_data_relay_cbs_t *cbs, const sfu_data_relay_cfg_t *cfg) {
  sfu_data_relay_t *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->cbs = *cbs;
  if (cfg) r->cfg = *cfg;
  if (!r->cfg.queue_bytes) r->cfg.queue_bytes = SFU_DATA_QUEUE_BYTES;
  if (!r->cfg.queue_msgs) r->cfg.queue_msgs = SFU_DATA_QUEUE_MSGS;
  if (!r->cfg.queue_age_us) r->cfg.queue_age_us = SFU_DATA_QUEUE_AGE_US;
  if (!r->cfg.stuck_us) r->cfg.stuck_us = SFU_DATA_STUCK_US;
  if (!r->cfg.retry_us) r->cfg.retry_us = SFU_DATA_RETRY_US;
  sfu_list_init(&r->peers);
  sfu_list_init(&r->open);
  sfu_list_init(&r->backlog);
  sfu_data_bucket_init(&r->bucket, SFU_DATA_RATE, SFU_DATA_RATE_PERIOD_US);
  sfu_data_cache_init(&r->cache);
  r->next_retry_us = UINT64_MAX;
  return r;
}

void sfu_data_relay_free(sfu_data_relay_t *r) {
  if (!r) return;
  while (!sfu_list_empty(&r->peers))
    sfu_data_relay_peer_free(r, sfu_container_of(r->peers.next, sfu_data_peer_t, link));
  sfu_data_cache_clear(&r->cache);
  free(r);
}

/* ---- a receiver's queue ---- */

static sfu_data_msg_t *q_at(const sfu_data_peer_t *p, uint32_t i) { return p->q[(p->q_head + i) % p->q_cap]; }

static void q_pop(sfu_data_peer_t *p) {
  sfu_data_msg_t *m = p->q[p->q_head];
  p->q_head = (p->q_head + 1) % p->q_cap;
  p->q_n--;
  p->q_bytes -= m->len;
  sfu_data_msg_unref(m);
}

static void count_drop(sfu_data_relay_t *r, sfu_data_peer_t *p, const sfu_data_msg_t *m) {
  p->st.dropped++;
  r->st.dropped++;
  if (r->cbs.on_dropped_cb && p->open) r->cbs.on_dropped_cb(r->cbs.user, p->user, m);
}

static void q_drop_head(sfu_data_relay_t *r, sfu_data_peer_t *p) {
  count_drop(r, p, p->q[p->q_head]);
  q_pop(p);
}

/* Room for one more pointer: the ring doubles up to the message bound (an allocation at
 * a new high-water mark only, never per delivery). */
static int q_reserve(sfu_data_relay_t *r, sfu_data_peer_t *p) {
  if (p->q_n < p->q_cap) return 0;
  uint32_t cap = p->q_cap ? p->q_cap * 2 : 16;
  if (cap > r->cfg.queue_msgs) cap = r->cfg.queue_msgs;
  if (cap <= p->q_cap) return SFU_ELIMIT;
  sfu_data_msg_t **q = malloc(cap * sizeof *q);
  if (!q) return SFU_ENOMEM;
  for (uint32_t i = 0; i < p->q_n; i++) q[i] = q_at(p, i);
  free(p->q);
  p->q = q;
  p->q_cap = cap;
  p->q_head = 0;
  return 0;
}

static int backlogged(const sfu_data_peer_t *p) { return p->q_n > 0 || p->replay; }

static void backlog_enter(sfu_data_relay_t *r, sfu_data_peer_t *p, uint64_t now_us) {
  if (p->backlog_link.next != &p->backlog_link) return;
  sfu_list_insert_tail(&r->backlog, &p->backlog_link);
  p->progress_us = now_us; /* the stuck clock starts with the backlog */
  if (r->next_retry_us == UINT64_MAX) r->next_retry_us = now_us + r->cfg.retry_us;
}

static void backlog_leave_if_done(sfu_data_relay_t *r, sfu_data_peer_t *p) {
  if (backlogged(p) || p->backlog_link.next == &p->backlog_link) return;
  sfu_list_remove(&p->backlog_link);
  if (sfu_list_empty(&r->backlog)) r->next_retry_us = UINT64_MAX;
}

/* Queues m for p within the bounds: the oldest go first to make room. */
static void enqueue(sfu_data_relay_t *r, sfu_data_peer_t *p, sfu_data_msg_t *m, uint64_t now_us) {
  if (m->len > r->cfg.queue_bytes) {
    count_drop(r, p, m);
    return;
  }
  while (p->q_n && (p->q_bytes + m->len > r->cfg.queue_bytes || p->q_n >= r->cfg.queue_msgs))
    q_drop_head(r, p);
  if (q_reserve(r, p)) {
    count_drop(r, p, m);
    return;
  }
  p->q[(p->q_head + p->q_n) % p->q_cap] = sfu_data_msg_ref(m);
  p->q_n++;
  p->q_bytes += m->len;
  backlog_enter(r, p, now_us);
}

/* One send and its accounting. SFU_EAGAIN: keep it; anything else: it is settled (sent,
 * or dropped for good for this receiver, so its mark moves past it either way: a replay
 * never offers again a message its association cannot take). */
static int send_one(sfu_data_relay_t *r, sfu_data_peer_t *p, sfu_data_msg_t *m, int from_cache,
                    uint64_t now_us) {
  int rc = r->cbs.send_cb(r->cbs.user, p->user, m->bytes, m->len);
  if (rc == SFU_EAGAIN) return rc;
  if (m->seq && m->seq > p->mark) p->mark = m->seq;
  if (rc) {
    count_drop(r, p, m);
    return rc;
  }
  p->progress_us = now_us;
  if (m->kind == SFU_DATA_KIND_WORKER) {
    p->st.worker_received++;
    r->st.worker_delivered++;
    return 0;
  }
  p->st.received++;
  r->st.delivered++;
  if (from_cache) {
    p->st.replayed++;
    r->st.replayed++;
  }
  return 0;
}

/* Sends what p has waiting, in order, until its association refuses once. While
 * replaying, the next message is the earlier of the cache's next above the mark and the
 * queue's head (a live message with a lifetime is in both: the queue's copy goes, the
 * mark then skips the cache's). The worker's own messages (seq 0) are not in the
 * relayed order and go as soon as they reach the head. */
static void drain(sfu_data_relay_t *r, sfu_data_peer_t *p, uint64_t now_us) {
  if (!p->open) return;
  while (p->q_n && q_at(p, 0)->at_us + r->cfg.queue_age_us < now_us) q_drop_head(r, p);
  for (;;) {
    sfu_data_msg_t *head = p->q_n ? q_at(p, 0) : NULL;
    if (head && head->seq && head->seq <= p->mark) { /* already sent from the cache */
      q_pop(p);
      continue;
    }
    sfu_data_msg_t *c = NULL;
    if (p->replay && !(c = sfu_data_cache_next(&r->cache, p->mark, now_us))) p->replay = 0;
    if (c && c->sender == p->id && (!head || !head->seq || c->seq < head->seq)) {
      p->mark = c->seq; /* its own message: never back to the sender */
      continue;
    }
    int use_cache = c && (!head || (head->seq && c->seq < head->seq));
    sfu_data_msg_t *m = use_cache ? c : head;
    if (!m) break;
    int rc = send_one(r, p, m, use_cache, now_us);
    if (rc == SFU_EAGAIN) break;
    if (!use_cache) q_pop(p);
  }
  backlog_leave_if_done(r, p);
}

/* ---- peers ---- */

sfu_data_peer_t *sfu_data_relay_peer_new(sfu_data_relay_t *r) {
  sfu_data_peer_t *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  sfu_list_insert_tail(&r->peers, &p->link);
  p->id = ++r->next_peer_id;
  if (!p->id) p->id = ++r->next_peer_id; /* 0 is "nobody" */
  sfu_list_init(&p->open_link);
  sfu_list_init(&p->backlog_link);
  return p;
}

void sfu_data_relay_peer_free(sfu_data_relay_t *r, sfu_data_peer_t *p) {
  if (!p) return;
  sfu_data_relay_peer_close(r, p);
  sfu_list_remove(&p->link);
  free(p->q);
  free(p);
}

void sfu_data_relay_peer_open(sfu_data_relay_t *r, sfu_data_peer_t *p, void *peer_user, uint64_t now_us) {
  p->user = peer_user;
  if (p->open) return;
  p->open = 1;
  p->stuck_reported = 0;
  sfu_list_insert_tail(&r->open, &p->open_link);
  /* Replay what the cache holds above its mark (none for a peer that got everything). */
  const sfu_data_msg_t *c = sfu_data_cache_next(&r->cache, p->mark, now_us);
  if (c) {
    p->replay = 1;
    backlog_enter(r, p, now_us);
    drain(r, p, now_us);
  }
}

void sfu_data_relay_peer_close(sfu_data_relay_t *r, sfu_data_peer_t *p) {
  if (!p->open) return;
  while (p->q_n) q_drop_head(r, p); /* counted: never delivered on this connection */
  p->open = 0;
  p->replay = 0;
  p->user = NULL;
  sfu_list_remove(&p->open_link);
  backlog_leave_if_done(r, p);
}

void sfu_data_relay_peer_writable(sfu_data_relay_t *r, sfu_data_peer_t *p, uint64_t now_us) {
  if (backlogged(p)) drain(r, p, now_us);
}

/* ---- messages ---- */

static void deliver(sfu_data_relay_t *r, sfu_data_peer_t *p, sfu_data_msg_t *m, uint64_t now_us) {
  if (backlogged(p)) { /* behind what it already waits for: keeps the order */
    enqueue(r, p, m, now_us);
    drain(r, p, now_us);
    return;
  }
  if (send_one(r, p, m, 0, now_us) == SFU_EAGAIN) enqueue(r, p, m, now_us);
}

int sfu_data_relay_publish(sfu_data_relay_t *r, sfu_data_peer_t *from, uint64_t now_us,
                           const sfu_data_out_t *f) {
  r->st.messages_in++;
  if (!sfu_data_bucket_take(&r->bucket, now_us)) {
    r->st.refused[SFU_DATA_THROTTLED]++;
    if (from) from->st.refused++;
    return SFU_DATA_THROTTLED;
  }
  /* The envelope once: the same bytes go to every receiver. */
  size_t cap = sfu_data_envelope_bound(f);
  sfu_data_msg_t *m = sfu_data_msg_new(cap, now_us);
  if (!m) return SFU_ENOMEM;
  size_t n = sfu_data_envelope_write((char *)m->bytes, cap, f);
  if (!n) {
    sfu_data_msg_unref(m);
    return SFU_EINTERNAL;
  }
  m->len = (uint32_t)n;
  m->kind = SFU_DATA_KIND_RELAYED;
  m->seq = ++r->seq;
  m->sender = from ? from->id : 0;
  r->st.accepted++;
  if (from) from->st.sent++;
  if (f->lifetime_ms) {
    m->expires_us = now_us + (uint64_t)f->lifetime_ms * 1000u;
    sfu_data_cache_add(&r->cache, m, now_us);
    r->st.cached_total++;
  }
  sfu_list_t *it, *tmp;
  sfu_list_foreach_safe(it, tmp, &r->open) {
    sfu_data_peer_t *p = sfu_container_of(it, sfu_data_peer_t, open_link);
    if (p != from) deliver(r, p, m, now_us);
  }
  sfu_data_msg_unref(m);
  return SFU_DATA_OK;
}

void sfu_data_relay_count_refused(sfu_data_relay_t *r, sfu_data_peer_t *from, sfu_data_code_t code) {
  r->st.messages_in++;
  if (code > 0 && code < SFU_DATA_N_CODES) r->st.refused[code]++;
  if (from) from->st.refused++;
}

int sfu_data_relay_send_worker(sfu_data_relay_t *r, sfu_data_peer_t *p, uint64_t now_us,
                               const uint8_t *bytes, size_t len, sfu_data_msg_t **shared) {
  if (!p->open) return SFU_ESTATE;
  if (!backlogged(p)) {
    int rc = r->cbs.send_cb(r->cbs.user, p->user, bytes, len);
    if (rc == 0) {
      p->progress_us = now_us;
      p->st.worker_received++;
      r->st.worker_delivered++;
      return 0;
    }
    if (rc != SFU_EAGAIN) {
      p->st.dropped++;
      r->st.dropped++;
      return rc;
    }
  }
  if (!*shared) {
    *shared = sfu_data_msg_copy(bytes, len, now_us);
    if (!*shared) {
      p->st.dropped++;
      r->st.dropped++;
      return SFU_ENOMEM;
    }
    (*shared)->kind = SFU_DATA_KIND_WORKER;
  }
  enqueue(r, p, *shared, now_us);
  drain(r, p, now_us);
  return 0;
}

/* ---- time ---- */

void sfu_data_relay_handle_timeout(sfu_data_relay_t *r, uint64_t now_us) {
  sfu_data_cache_expire(&r->cache, now_us);
  if (r->next_retry_us > now_us) return;
  sfu_list_t *it, *tmp;
  sfu_list_foreach_safe(it, tmp, &r->backlog) {
    sfu_data_peer_t *p = sfu_container_of(it, sfu_data_peer_t, backlog_link);
    drain(r, p, now_us);
    if (!backlogged(p) || p->stuck_reported || now_us - p->progress_us < r->cfg.stuck_us) continue;
    /* A receiver that has taken nothing for the whole limit while messages waited for
     * it: the owner drops its transport (issue 10: "like any dead transport"). */
    p->stuck_reported = 1;
    p->st.stuck++;
    if (r->cbs.on_stuck_cb) r->cbs.on_stuck_cb(r->cbs.user, p, p->user);
  }
  r->next_retry_us = sfu_list_empty(&r->backlog) ? UINT64_MAX : now_us + r->cfg.retry_us;
}

uint64_t sfu_data_relay_next_deadline(const sfu_data_relay_t *r) {
  uint64_t d = sfu_data_cache_next_expiry(&r->cache);
  return r->next_retry_us < d ? r->next_retry_us : d;
}

/* ---- figures ---- */

void sfu_data_relay_stats(const sfu_data_relay_t *r, sfu_data_relay_stats_t *out) {
  *out = r->st;
  out->cached = (uint32_t)sfu_data_cache_count(&r->cache);
  out->cache_evicted = r->cache.evicted;
  out->cache_expired = r->cache.expired;
}

void sfu_data_peer_stats(const sfu_data_peer_t *p, sfu_data_peer_stats_t *out) {
  *out = p->st;
  out->queued = p->q_n;
  out->queued_bytes = (uint32_t)p->q_bytes;
  out->mark = p->mark;
  out->open = p->open;
}

int sfu_data_peer_is_open(const sfu_data_peer_t *p) { return p->open; }

void sfu_data_peer_count_refusal_lost(sfu_data_peer_t *p) { p->st.refusals_lost++; }
