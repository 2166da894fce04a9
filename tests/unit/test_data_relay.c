/* Data-message relay (issue 10) on a virtual clock: the rate limit, the cache (expiry and
 * the 1,024 bound), fan-out (never back to the sender), ordering, replay to a late
 * joiner and to a reconnecting attendee, backpressure (a stuck receiver does not affect
 * the others, its queue is bounded, it is reported past the limit), the worker's own
 * messages through the same queue. Receivers are fakes that accept, refuse (EAGAIN) or
 * reject (too big) on command. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sfu/data_bucket.h"
#include "sfu/data_cache.h"
#include "sfu/data_relay.h"
#include "sfu/err.h"
#include "test.h"
#include "test_alloc.h"

#define MS 1000ull
#define SEC 1000000ull

/* ---- bucket ---- */

TEST(bucket_burst_then_rate) {
  sfu_data_bucket_t b;
  sfu_data_bucket_init(&b, 100, SEC);
  uint64_t t = 5 * SEC;
  int ok = 0;
  for (int i = 0; i < 150; i++) ok += sfu_data_bucket_take(&b, t); /* one instant */
  CHECK_EQ_INT(ok, 100);
  CHECK_EQ_INT(sfu_data_bucket_available(&b, t), 0);
  CHECK_EQ_INT(sfu_data_bucket_take(&b, t + SEC - 1), 0); /* a token returns a period after */
  CHECK_EQ_INT(sfu_data_bucket_take(&b, t + SEC), 1);
  CHECK_EQ_INT(sfu_data_bucket_take(&b, t + SEC), 1);
  CHECK_EQ_INT(sfu_data_bucket_available(&b, t + 2 * SEC - 1), 98);
  CHECK_EQ_INT(sfu_data_bucket_available(&b, t + 2 * SEC), 100);
}

TEST(bucket_150_spread_over_a_second) {
  /* 150 messages evenly over one second: exactly 100 pass (a continuously refilled
   * bucket would pass ~150 here), the rest are Throttled. */
  sfu_data_bucket_t b;
  sfu_data_bucket_init(&b, 100, SEC);
  int ok = 0;
  for (int i = 0; i < 150; i++) ok += sfu_data_bucket_take(&b, SEC + (uint64_t)i * (SEC / 150));
  CHECK_EQ_INT(ok, 100);
  /* Long run: 100 a second, never more than 100 in any one-second window. */
  sfu_data_bucket_init(&b, 100, SEC);
  int acc[1000] = {0};
  for (uint64_t t = 0; t < 10 * SEC; t += 3 * MS) /* 333 offered a second */
    if (sfu_data_bucket_take(&b, t)) acc[t / (10 * MS)]++;
  int total = 0;
  for (int i = 0; i < 1000; i++) total += acc[i];
  CHECK(total >= 990 && total <= 1000);
  for (int w = 0; w + 100 <= 1000; w++) {
    int s = 0;
    for (int i = w; i < w + 100; i++) s += acc[i];
    CHECK(s <= 100);
  }
  /* The edge: 99 then 1 then 1 within the period. */
  sfu_data_bucket_init(&b, 100, SEC);
  for (int i = 0; i < 99; i++) CHECK(sfu_data_bucket_take(&b, 0));
  CHECK(sfu_data_bucket_take(&b, 500 * MS));
  CHECK(!sfu_data_bucket_take(&b, 999 * MS));
  CHECK(sfu_data_bucket_take(&b, SEC)); /* the first 99 came back */
  /* A clock stepping back is held at the newest spend: it returns no token early. */
  sfu_data_bucket_init(&b, 100, SEC);
  for (int i = 0; i < 100; i++) CHECK(sfu_data_bucket_take(&b, 3 * SEC));
  CHECK(!sfu_data_bucket_take(&b, SEC));
  CHECK(!sfu_data_bucket_take(&b, 4 * SEC - 1));
  CHECK(sfu_data_bucket_take(&b, 4 * SEC));
}

/* ---- cache ---- */

static sfu_data_msg_t *mk(uint64_t seq, uint64_t now, uint64_t life_us) {
  char b[32];
  int n = snprintf(b, sizeof b, "m%llu", (unsigned long long)seq);
  sfu_data_msg_t *m = sfu_data_msg_copy(b, (size_t)n, now);
  m->seq = seq;
  m->expires_us = now + life_us;
  return m;
}

TEST(cache_expiry) {
  sfu_data_cache_t c;
  sfu_data_cache_init(&c);
  /* Lifetimes differ: seq 2 expires first, between live ones. */
  uint64_t life[] = {0, 3 * SEC, 1 * SEC, 5 * SEC, 2 * SEC};
  for (uint64_t s = 1; s <= 4; s++) {
    sfu_data_msg_t *m = mk(s, 0, life[s]);
    sfu_data_cache_add(&c, m, 0);
    sfu_data_msg_unref(m);
  }
  CHECK_EQ_INT(sfu_data_cache_count(&c), 4);
  CHECK(sfu_data_cache_next_expiry(&c) == 1 * SEC);
  CHECK(sfu_data_cache_next(&c, 0, SEC - 1)->seq == 1);
  CHECK(sfu_data_cache_next(&c, 1, SEC - 1)->seq == 2);
  CHECK(sfu_data_cache_next(&c, 1, SEC)->seq == 3); /* 2 expired at exactly its lifetime */
  sfu_data_cache_expire(&c, SEC);
  CHECK_EQ_INT(sfu_data_cache_count(&c), 3);
  CHECK(sfu_data_cache_next_expiry(&c) == 2 * SEC);
  sfu_data_cache_expire(&c, 3 * SEC);
  CHECK_EQ_INT(sfu_data_cache_count(&c), 1);
  CHECK(sfu_data_cache_next(&c, 0, 3 * SEC)->seq == 3);
  CHECK(sfu_data_cache_next(&c, 3, 3 * SEC) == NULL);
  CHECK(sfu_data_cache_next(&c, 0, 5 * SEC) == NULL);
  sfu_data_cache_expire(&c, 5 * SEC);
  CHECK_EQ_INT(sfu_data_cache_count(&c), 0);
  CHECK(sfu_data_cache_next_expiry(&c) == UINT64_MAX);
  CHECK_EQ_INT(c.expired, 4);
  sfu_data_cache_clear(&c);
}

TEST(cache_bound_1024_oldest_first) {
  sfu_data_cache_t c;
  sfu_data_cache_init(&c);
  for (uint64_t s = 1; s <= 1024; s++) {
    sfu_data_msg_t *m = mk(s, s, 300 * SEC);
    sfu_data_cache_add(&c, m, s);
    sfu_data_msg_unref(m);
  }
  CHECK_EQ_INT(sfu_data_cache_count(&c), 1024);
  CHECK_EQ_INT(c.evicted, 0);
  CHECK(sfu_data_cache_next(&c, 0, 2000)->seq == 1);
  sfu_data_msg_t *m = mk(1025, 1025, 300 * SEC);
  sfu_data_cache_add(&c, m, 1025);
  sfu_data_msg_unref(m);
  CHECK_EQ_INT(sfu_data_cache_count(&c), 1024);
  CHECK_EQ_INT(c.evicted, 1);
  CHECK(sfu_data_cache_next(&c, 0, 2000)->seq == 2); /* the oldest went */
  for (uint64_t s = 1026; s <= 3000; s++) {
    m = mk(s, s, 300 * SEC);
    sfu_data_cache_add(&c, m, s);
    sfu_data_msg_unref(m);
  }
  CHECK_EQ_INT(sfu_data_cache_count(&c), 1024);
  CHECK(sfu_data_cache_next(&c, 0, 5000)->seq == 3000 - 1023);
  CHECK(sfu_data_cache_next(&c, 2500, 5000)->seq == 2501);
  CHECK(sfu_data_cache_next(&c, 3000, 5000) == NULL);
  sfu_data_cache_clear(&c);
}

/* ---- relay with fake receivers ---- */

#define NRX 8
typedef struct {
  int id;
  int mode;        /* 0 accept, 1 EAGAIN, 2 ETOOBIG */
  int got;         /* messages accepted */
  char last[64][64]; /* data fields, in order (first 64) */
  char topics[64][32];
  char sender[64][48];
} rx_t;

typedef struct {
  rx_t rx[NRX];
  int stuck[NRX];
  int dropped_worker[NRX];
} world_t;

static void field(const uint8_t *buf, size_t len, const char *name, char *out, size_t cap) {
  cJSON *j = cJSON_ParseWithLength((const char *)buf, len);
  cJSON *f = j ? cJSON_GetObjectItem(j, name) : NULL;
  snprintf(out, cap, "%s", cJSON_IsString(f) ? f->valuestring : "?");
  cJSON_Delete(j);
}

static int w_send(void *user, void *peer_user, const uint8_t *buf, size_t len) {
  rx_t *x = peer_user;
  if (x->mode == 1) return SFU_EAGAIN;
  if (x->mode == 2) return SFU_ETOOBIG;
  if (x->got < 64) {
    field(buf, len, "data", x->last[x->got], sizeof x->last[0]);
    field(buf, len, "topic", x->topics[x->got], sizeof x->topics[0]);
    field(buf, len, "senderAttendeeId", x->sender[x->got], sizeof x->sender[0]);
  }
  x->got++;
  return 0;
}

static void w_stuck(void *user, sfu_data_peer_t *p, void *peer_user) {
  world_t *w = user;
  rx_t *x = peer_user;
  w->stuck[x->id]++;
}

static void w_dropped(void *user, void *peer_user, const sfu_data_msg_t *m) {
  world_t *w = user;
  rx_t *x = peer_user;
  if (m->kind == SFU_DATA_KIND_WORKER) w->dropped_worker[x->id]++;
}

static sfu_data_relay_t *mk_relay(world_t *w, const sfu_data_relay_cfg_t *cfg) {
  memset(w, 0, sizeof *w);
  for (int i = 0; i < NRX; i++) w->rx[i].id = i;
  sfu_data_relay_cbs_t cbs = {w_send, w_stuck, w_dropped, w};
  return sfu_data_relay_new(&cbs, cfg);
}

static int pub(sfu_data_relay_t *r, sfu_data_peer_t *from, uint64_t now, const char *data, uint32_t life) {
  sfu_data_out_t f = {.topic = "chat", .data = data, .data_len = strlen(data), .lifetime_ms = life,
                      .sender_attendee_id = from ? "att" : "sfu", .sender_external_user_id = "ext",
                      .timestamp_ms = 1};
  return sfu_data_relay_publish(r, from, now, &f);
}

TEST(fanout_never_back_to_sender) {
  world_t w;
  sfu_data_relay_t *r = mk_relay(&w, NULL);
  sfu_data_peer_t *p[3];
  for (int i = 0; i < 3; i++) {
    p[i] = sfu_data_relay_peer_new(r);
    sfu_data_relay_peer_open(r, p[i], &w.rx[i], 0);
  }
  sfu_data_peer_t *closed = sfu_data_relay_peer_new(r); /* joined, no channel: nothing */
  (void)closed;
  CHECK_EQ_INT(pub(r, p[0], 1000, "hi", 0), SFU_DATA_OK);
  CHECK_EQ_INT(w.rx[0].got, 0);
  CHECK_EQ_INT(w.rx[1].got, 1);
  CHECK_EQ_INT(w.rx[2].got, 1);
  CHECK_EQ_STR(w.rx[1].last[0], "hi");
  CHECK_EQ_STR(w.rx[1].sender[0], "att");
  /* The control plane's message goes to everyone. */
  CHECK_EQ_INT(pub(r, NULL, 2000, "all", 0), SFU_DATA_OK);
  CHECK_EQ_INT(w.rx[0].got, 1);
  CHECK_EQ_STR(w.rx[0].sender[0], "sfu");
  sfu_data_relay_stats_t st;
  sfu_data_relay_stats(r, &st);
  CHECK_EQ_INT(st.messages_in, 2);
  CHECK_EQ_INT(st.accepted, 2);
  CHECK_EQ_INT(st.delivered, 5);
  CHECK_EQ_INT(st.cached, 0);
  sfu_data_peer_stats_t ps;
  sfu_data_peer_stats(p[0], &ps);
  CHECK_EQ_INT(ps.sent, 1);
  CHECK_EQ_INT(ps.received, 1);
  sfu_data_relay_free(r);
}

TEST(throttle_150_in_a_second) {
  world_t w;
  sfu_data_relay_t *r = mk_relay(&w, NULL);
  sfu_data_peer_t *a = sfu_data_relay_peer_new(r), *b = sfu_data_relay_peer_new(r);
  sfu_data_relay_peer_open(r, a, &w.rx[0], 0);
  sfu_data_relay_peer_open(r, b, &w.rx[1], 0);
  int ok = 0, thr = 0;
  for (int i = 0; i < 150; i++) {
    char d[16];
    snprintf(d, sizeof d, "%d", i);
    int rc = pub(r, a, SEC + (uint64_t)i * 6 * MS, d, 0);
    ok += rc == SFU_DATA_OK;
    thr += rc == SFU_DATA_THROTTLED;
  }
  CHECK_EQ_INT(ok, 100);
  CHECK_EQ_INT(thr, 50);
  CHECK_EQ_INT(w.rx[1].got, 100);
  sfu_data_relay_stats_t st;
  sfu_data_relay_stats(r, &st);
  CHECK_EQ_INT(st.refused[SFU_DATA_THROTTLED], 50);
  CHECK_EQ_INT(st.messages_in, 150);
  /* The limit is per meeting: the control plane shares it. */
  CHECK_EQ_INT(pub(r, NULL, SEC + 900 * MS, "x", 0), SFU_DATA_THROTTLED);
  sfu_data_relay_count_refused(r, a, SFU_DATA_TOO_LARGE);
  sfu_data_relay_stats(r, &st);
  CHECK_EQ_INT(st.refused[SFU_DATA_TOO_LARGE], 1);
  sfu_data_peer_stats_t ps;
  sfu_data_peer_stats(a, &ps);
  CHECK_EQ_INT(ps.refused, 51);
  CHECK_EQ_INT(ps.sent, 100);
  sfu_data_relay_free(r);
}

TEST(order_kept) {
  world_t w;
  sfu_data_relay_t *r = mk_relay(&w, NULL);
  sfu_data_peer_t *a = sfu_data_relay_peer_new(r), *b = sfu_data_relay_peer_new(r);
  sfu_data_relay_peer_open(r, a, &w.rx[0], 0);
  sfu_data_relay_peer_open(r, b, &w.rx[1], 0);
  char d[16];
  for (int i = 0; i < 40; i++) {
    snprintf(d, sizeof d, "%d", i);
    /* Two senders interleaved; the receiver's association refuses now and then. */
    w.rx[1].mode = (i % 7 == 3) ? 1 : 0;
    pub(r, i % 2 ? a : NULL, (uint64_t)i * MS, d, i % 3 ? 0 : 60000);
    if (i % 5 == 4) {
      w.rx[1].mode = 0;
      sfu_data_relay_handle_timeout(r, (uint64_t)i * MS + 20 * MS);
    }
  }
  w.rx[1].mode = 0;
  sfu_data_relay_handle_timeout(r, 100 * MS);
  CHECK_EQ_INT(w.rx[1].got, 40);
  for (int i = 0; i < 40; i++) {
    snprintf(d, sizeof d, "%d", i);
    CHECK_EQ_STR(w.rx[1].last[i], d);
  }
  sfu_data_relay_free(r);
}

TEST(replay_to_late_joiner) {
  world_t w;
  sfu_data_relay_t *r = mk_relay(&w, NULL);
  sfu_data_peer_t *a = sfu_data_relay_peer_new(r);
  sfu_data_relay_peer_open(r, a, &w.rx[0], 0);
  pub(r, a, 1 * MS, "c1", 10000);
  pub(r, a, 2 * MS, "live", 0); /* no lifetime: not kept */
  pub(r, a, 3 * MS, "c2", 10000);
  pub(r, a, 4 * MS, "short", 50);
  pub(r, a, 5 * MS, "c3", 300000);
  sfu_data_relay_stats_t st;
  sfu_data_relay_stats(r, &st);
  CHECK_EQ_INT(st.cached, 4);
  /* Joins at 100 ms: "short" has expired. Exactly the three, in order. */
  sfu_data_peer_t *late = sfu_data_relay_peer_new(r);
  sfu_data_relay_peer_open(r, late, &w.rx[1], 100 * MS);
  CHECK_EQ_INT(w.rx[1].got, 3);
  CHECK_EQ_STR(w.rx[1].last[0], "c1");
  CHECK_EQ_STR(w.rx[1].last[1], "c2");
  CHECK_EQ_STR(w.rx[1].last[2], "c3");
  CHECK_EQ_INT(w.rx[0].got, 0); /* the sender got nothing back, not even replays */
  /* After 10 s only c3 is left for the next joiner. */
  sfu_data_peer_t *later = sfu_data_relay_peer_new(r);
  sfu_data_relay_peer_open(r, later, &w.rx[2], 10 * SEC + 5 * MS);
  CHECK_EQ_INT(w.rx[2].got, 1);
  CHECK_EQ_STR(w.rx[2].last[0], "c3");
  sfu_data_relay_handle_timeout(r, 11 * SEC);
  sfu_data_relay_stats(r, &st);
  CHECK_EQ_INT(st.cached, 1);
  CHECK_EQ_INT(st.replayed, 4);
  /* The sender reconnecting does not get its own messages back. */
  sfu_data_relay_peer_close(r, a);
  sfu_data_relay_peer_open(r, a, &w.rx[3], 11 * SEC);
  CHECK_EQ_INT(w.rx[3].got, 0);
  sfu_data_peer_stats_t ps;
  sfu_data_peer_stats(a, &ps);
  CHECK_EQ_INT(ps.mark, 5);
  sfu_data_relay_free(r);
}

TEST(reconnect_replays_only_what_was_missed) {
  world_t w;
  sfu_data_relay_t *r = mk_relay(&w, NULL);
  sfu_data_peer_t *a = sfu_data_relay_peer_new(r), *b = sfu_data_relay_peer_new(r);
  sfu_data_relay_peer_open(r, a, &w.rx[0], 0);
  sfu_data_relay_peer_open(r, b, &w.rx[1], 0);
  pub(r, a, 1 * MS, "c1", 60000);
  pub(r, a, 2 * MS, "c2", 60000);
  CHECK_EQ_INT(w.rx[1].got, 2);
  sfu_data_relay_peer_close(r, b); /* b's transport drops */
  pub(r, a, 3 * MS, "c3", 60000);
  pub(r, a, 4 * MS, "gone", 0);
  pub(r, a, 5 * MS, "c4", 60000);
  /* b back on a new transport (new rx record): only c3, c4. */
  sfu_data_relay_peer_open(r, b, &w.rx[2], 10 * MS);
  CHECK_EQ_INT(w.rx[2].got, 2);
  CHECK_EQ_STR(w.rx[2].last[0], "c3");
  CHECK_EQ_STR(w.rx[2].last[1], "c4");
  /* And again right away: nothing. */
  sfu_data_relay_peer_close(r, b);
  sfu_data_relay_peer_open(r, b, &w.rx[3], 20 * MS);
  CHECK_EQ_INT(w.rx[3].got, 0);
  /* A message queued but never sent when the connection closed is replayed (cached). */
  w.rx[3].mode = 1;
  pub(r, a, 30 * MS, "c5", 60000);
  sfu_data_peer_stats_t ps;
  sfu_data_peer_stats(b, &ps);
  CHECK_EQ_INT(ps.queued, 1);
  sfu_data_relay_peer_close(r, b);
  sfu_data_relay_peer_open(r, b, &w.rx[4], 40 * MS);
  CHECK_EQ_INT(w.rx[4].got, 1);
  CHECK_EQ_STR(w.rx[4].last[0], "c5");
  sfu_data_relay_free(r);
}

TEST(replay_interleaves_with_live_in_order) {
  world_t w;
  sfu_data_relay_t *r = mk_relay(&w, NULL);
  sfu_data_peer_t *a = sfu_data_relay_peer_new(r), *b = sfu_data_relay_peer_new(r);
  sfu_data_relay_peer_open(r, a, &w.rx[0], 0);
  for (int i = 0; i < 5; i++) {
    char d[8];
    snprintf(d, sizeof d, "c%d", i);
    pub(r, a, (uint64_t)i * MS, d, 60000);
  }
  /* b opens with a full association: nothing goes; live messages arrive meanwhile. */
  w.rx[1].mode = 1;
  sfu_data_relay_peer_open(r, b, &w.rx[1], 10 * MS);
  pub(r, a, 11 * MS, "live", 0);
  pub(r, a, 12 * MS, "c5", 60000);
  w.rx[1].mode = 0;
  sfu_data_relay_peer_writable(r, b, 13 * MS);
  CHECK_EQ_INT(w.rx[1].got, 7);
  const char *want[] = {"c0", "c1", "c2", "c3", "c4", "live", "c5"};
  for (int i = 0; i < 7; i++) CHECK_EQ_STR(w.rx[1].last[i], want[i]);
  sfu_data_relay_free(r);
}

TEST(stuck_receiver_bounded_and_dropped) {
  world_t w;
  sfu_data_relay_cfg_t cfg = {.queue_bytes = 4096};
  sfu_data_relay_t *r = mk_relay(&w, &cfg);
  sfu_data_peer_t *p[4];
  for (int i = 0; i < 4; i++) {
    p[i] = sfu_data_relay_peer_new(r);
    sfu_data_relay_peer_open(r, p[i], &w.rx[i], 0);
  }
  w.rx[2].mode = 1; /* stops reading */
  char big[600];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = 0;
  uint64_t t = 0;
  int sent = 0;
  for (int s = 0; s < 12; s++) { /* 12 s at 20 messages a second */
    for (int k = 0; k < 20; k++, t += 50 * MS) {
      sent += pub(r, p[0], t, big, 0) == SFU_DATA_OK;
      sfu_data_relay_handle_timeout(r, t + 10 * MS);
      sfu_data_peer_stats_t ps;
      sfu_data_peer_stats(p[2], &ps);
      CHECK(ps.queued_bytes <= 4096); /* bounded by bytes */
    }
  }
  CHECK_EQ_INT(sent, 240);
  /* The others got everything, in time (sends are synchronous here). */
  CHECK_EQ_INT(w.rx[1].got, 240);
  CHECK_EQ_INT(w.rx[3].got, 240);
  CHECK_EQ_INT(w.rx[2].got, 0);
  CHECK_EQ_INT(w.stuck[2], 1); /* reported once, after 10 s */
  CHECK_EQ_INT(w.stuck[1] + w.stuck[3], 0);
  sfu_data_peer_stats_t ps;
  sfu_data_peer_stats(p[2], &ps);
  CHECK(ps.dropped > 200);
  CHECK(ps.queued <= 6);
  sfu_data_relay_stats_t st;
  sfu_data_relay_stats(r, &st);
  CHECK_EQ_INT(st.dropped, ps.dropped);
  sfu_data_relay_free(r);
}

TEST(stuck_report_time) {
  world_t w;
  sfu_data_relay_t *r = mk_relay(&w, NULL);
  sfu_data_peer_t *a = sfu_data_relay_peer_new(r), *b = sfu_data_relay_peer_new(r);
  sfu_data_relay_peer_open(r, a, &w.rx[0], 0);
  sfu_data_relay_peer_open(r, b, &w.rx[1], 0);
  w.rx[1].mode = 1;
  pub(r, a, SEC, "x", 0);
  /* Aged out after 1 s, but the receiver still has taken nothing: one message every
   * 500 ms keeps it backlogged. */
  uint64_t t = SEC;
  while (t < SEC + SFU_DATA_STUCK_US - 20 * MS) {
    t += 10 * MS;
    if ((t / MS) % 500 == 0) pub(r, a, t, "y", 0);
    sfu_data_relay_handle_timeout(r, t);
  }
  CHECK_EQ_INT(w.stuck[1], 0);
  for (int i = 0; i < 5; i++) {
    t += 10 * MS;
    sfu_data_relay_handle_timeout(r, t);
  }
  CHECK_EQ_INT(w.stuck[1], 1);
  /* A receiver that recovers before the limit is never reported. */
  sfu_data_relay_peer_close(r, b);
  sfu_data_relay_peer_open(r, b, &w.rx[2], t);
  w.rx[2].mode = 1;
  pub(r, a, t, "z", 0);
  for (int i = 0; i < 900; i++) {
    t += 10 * MS;
    sfu_data_relay_handle_timeout(r, t);
    if ((i % 100) == 0) pub(r, a, t, "w", 0);
  }
  w.rx[2].mode = 0;
  pub(r, a, t, "ok", 0);
  for (int i = 0; i < 300; i++) sfu_data_relay_handle_timeout(r, t += 10 * MS);
  CHECK_EQ_INT(w.stuck[2], 0);
  CHECK(w.rx[2].got >= 1);
  CHECK(sfu_data_relay_next_deadline(r) == UINT64_MAX); /* no backlog, no cache */
  sfu_data_relay_free(r);
}

TEST(age_bound) {
  world_t w;
  sfu_data_relay_t *r = mk_relay(&w, NULL);
  sfu_data_peer_t *a = sfu_data_relay_peer_new(r), *b = sfu_data_relay_peer_new(r);
  sfu_data_relay_peer_open(r, a, &w.rx[0], 0);
  sfu_data_relay_peer_open(r, b, &w.rx[1], 0);
  w.rx[1].mode = 1;
  pub(r, a, 0, "old", 0);
  pub(r, a, 900 * MS, "new", 0);
  w.rx[1].mode = 0;
  sfu_data_relay_handle_timeout(r, SEC + 1); /* "old" is past 1 s: dropped, "new" goes */
  CHECK_EQ_INT(w.rx[1].got, 1);
  CHECK_EQ_STR(w.rx[1].last[0], "new");
  sfu_data_peer_stats_t ps;
  sfu_data_peer_stats(b, &ps);
  CHECK_EQ_INT(ps.dropped, 1);
  CHECK_EQ_INT(ps.queued, 0);
  sfu_data_relay_free(r);
}

TEST(too_big_for_one_receiver) {
  world_t w;
  sfu_data_relay_t *r = mk_relay(&w, NULL);
  sfu_data_peer_t *a = sfu_data_relay_peer_new(r), *b = sfu_data_relay_peer_new(r), *c = sfu_data_relay_peer_new(r);
  sfu_data_relay_peer_open(r, a, &w.rx[0], 0);
  sfu_data_relay_peer_open(r, b, &w.rx[1], 0);
  sfu_data_relay_peer_open(r, c, &w.rx[2], 0);
  w.rx[1].mode = 2; /* its a=max-message-size is smaller than the envelope */
  pub(r, a, 0, "big", 60000);
  CHECK_EQ_INT(w.rx[2].got, 1);
  sfu_data_peer_stats_t ps;
  sfu_data_peer_stats(b, &ps);
  CHECK_EQ_INT(ps.dropped, 1);
  CHECK_EQ_INT(ps.queued, 0); /* not kept: it would never fit */
  /* A reconnect does not offer it again (its mark moved past it), nor loops. */
  sfu_data_relay_peer_close(r, b);
  sfu_data_relay_peer_open(r, b, &w.rx[3], MS);
  CHECK_EQ_INT(w.rx[3].got, 0);
  /* And a late joiner that cannot take it either does not loop on it. */
  sfu_data_peer_t *d = sfu_data_relay_peer_new(r);
  w.rx[4].mode = 2;
  sfu_data_relay_peer_open(r, d, &w.rx[4], 2 * MS);
  sfu_data_peer_stats(d, &ps);
  CHECK_EQ_INT(ps.dropped, 1);
  CHECK_EQ_INT(ps.queued, 0);
  sfu_data_relay_free(r);
}

TEST(worker_messages_share_the_queue) {
  world_t w;
  sfu_data_relay_t *r = mk_relay(&w, NULL);
  sfu_data_peer_t *a = sfu_data_relay_peer_new(r), *b = sfu_data_relay_peer_new(r), *c = sfu_data_relay_peer_new(r);
  sfu_data_relay_peer_open(r, a, &w.rx[0], 0);
  sfu_data_relay_peer_open(r, b, &w.rx[1], 0);
  CHECK_EQ_INT(sfu_data_relay_send_worker(r, c, 0, (const uint8_t *)"{}", 2, &(sfu_data_msg_t *){NULL}), SFU_ESTATE);
  const char *doc = "{\"topic\":\"sfu:audio\",\"data\":\"d1\"}";
  w.rx[1].mode = 1;
  pub(r, a, 0, "m1", 0);     /* b: queued */
  sfu_data_msg_t *shared = NULL;
  CHECK_EQ_INT(sfu_data_relay_send_worker(r, a, MS, (const uint8_t *)doc, strlen(doc), &shared), 0);
  CHECK_EQ_INT(sfu_data_relay_send_worker(r, b, MS, (const uint8_t *)doc, strlen(doc), &shared), 0);
  CHECK(shared != NULL); /* b had to queue it: one copy, shared */
  sfu_data_msg_unref(shared);
  CHECK_EQ_INT(w.rx[0].got, 1);
  w.rx[1].mode = 0;
  sfu_data_relay_peer_writable(r, b, 2 * MS);
  CHECK_EQ_INT(w.rx[1].got, 2);
  CHECK_EQ_STR(w.rx[1].last[0], "m1"); /* behind the relayed message it queued first */
  CHECK_EQ_STR(w.rx[1].last[1], "d1");
  /* A queued worker message that ages out is reported (the mixer re-primes). */
  w.rx[1].mode = 1;
  shared = NULL;
  sfu_data_relay_send_worker(r, b, 3 * MS, (const uint8_t *)doc, strlen(doc), &shared);
  sfu_data_msg_unref(shared);
  sfu_data_relay_handle_timeout(r, 3 * MS + 2 * SEC);
  CHECK_EQ_INT(w.dropped_worker[1], 1);
  sfu_data_relay_stats_t st;
  sfu_data_relay_stats(r, &st);
  CHECK_EQ_INT(st.worker_delivered, 2);
  CHECK_EQ_INT(st.delivered, 1);
  sfu_data_relay_free(r);
}

TEST(many_peers_no_leak) {
  world_t w;
  sfu_data_relay_t *r = mk_relay(&w, NULL);
  sfu_data_peer_t *p[NRX];
  for (int i = 0; i < NRX; i++) {
    p[i] = sfu_data_relay_peer_new(r);
    sfu_data_relay_peer_open(r, p[i], &w.rx[i], 0);
    w.rx[i].mode = i % 3 == 0 ? 1 : 0;
  }
  for (int i = 0; i < 300; i++) pub(r, p[i % NRX], (uint64_t)i * 20 * MS, "x", i % 2 ? 1000 : 0);
  sfu_data_relay_peer_free(r, p[3]); /* with a queue */
  sfu_data_relay_free(r);            /* with queues, cache and peers: ASan checks */
}

/* Issue 10 speed rule: a fan-out allocates the envelope once, nothing per delivery; a
 * backlogged receiver takes a reference, its ring grows only to a new high-water mark. */
static int null_send(void *user, void *peer_user, const uint8_t *buf, size_t len) {
  int *mode = peer_user;
  return *mode ? SFU_EAGAIN : 0;
}
TEST(fanout_allocates_once_per_message) {
  if (!TEST_ALLOC_COUNTS) return;
  sfu_data_relay_cbs_t cbs = {null_send, NULL, NULL, NULL};
  sfu_data_relay_t *r = sfu_data_relay_new(&cbs, NULL);
  static int modes[250];
  sfu_data_peer_t *p[250];
  for (int i = 0; i < 250; i++) {
    modes[i] = i == 7; /* one receiver refuses everything */
    p[i] = sfu_data_relay_peer_new(r);
    sfu_data_relay_peer_open(r, p[i], &modes[i], 0);
  }
  char data[1500];
  memset(data, 'x', sizeof data - 1);
  data[sizeof data - 1] = 0;
  /* Warm-up: receiver 7's ring grows to 32 entries (20 queued); nothing ages out below. */
  for (int i = 0; i < 20; i++) pub(r, p[0], (uint64_t)i * MS, data, 0);
  uint64_t t = 100 * MS;
  test_alloc_calls = 0;
  test_alloc_counting = 1;
  for (int i = 0; i < 10; i++, t += 10 * MS) {
    pub(r, p[1 + i % 5], t, data, 0);  /* 249 deliveries, one queued */
    sfu_data_relay_handle_timeout(r, t + 5 * MS);
  }
  test_alloc_counting = 0;
  /* One malloc per message (receiver 7 still holds each: no free yet). */
  CHECK_EQ_INT(test_alloc_calls, 10);
  sfu_data_relay_stats_t st;
  sfu_data_relay_stats(r, &st);
  CHECK_EQ_INT(st.delivered, 20 * 248 + 10 * 248);
  sfu_data_peer_stats_t ps;
  sfu_data_peer_stats(p[7], &ps);
  CHECK_EQ_INT(ps.queued, 30);
  sfu_data_relay_free(r);
}

int main(void) {
  RUN(bucket_burst_then_rate);
  RUN(bucket_150_spread_over_a_second);
  RUN(cache_expiry);
  RUN(cache_bound_1024_oldest_first);
  RUN(fanout_never_back_to_sender);
  RUN(throttle_150_in_a_second);
  RUN(order_kept);
  RUN(replay_to_late_joiner);
  RUN(reconnect_replays_only_what_was_missed);
  RUN(replay_interleaves_with_live_in_order);
  RUN(stuck_receiver_bounded_and_dropped);
  RUN(stuck_report_time);
  RUN(age_bound);
  RUN(too_big_for_one_receiver);
  RUN(worker_messages_share_the_queue);
  RUN(many_peers_no_leak);
  RUN(fanout_allocates_once_per_message);
  return test_summary();
}
