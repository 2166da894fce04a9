/* SCTP over a simulated link + DCEP: two associations built with the same wrapper (the
 * worker's, server role, and a client), each in its own group as if on two loops, so
 * that packets one loop's timers produce for the other's association take the queued
 * path. A virtual clock drives usrsctp's timers (it never runs a thread here). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <usrsctp.h>

#include "sfu/err.h"
#include "sfu/sctp.h"
#include "sim_link.h"
#include "test.h"

/* usrsctp's timer clock is process-wide and only moves forward: one clock for all cases. */
static uint64_t g_now = 1000000;

/* usrsctp's timers follow the virtual clock, but its T3-rtx handler also compares each
 * chunk's send time, stamped on the real clock, with "now - srtt - rttvar" (real clock,
 * millisecond granularity) and skips chunks that are too recent
 * (sctp_mark_all_for_resend). If virtual time ran unboundedly faster than real time, a
 * T3 expiry could find nothing old enough to resend, back off and at last give the
 * association up without retransmitting. So virtual time may run at most PACE times
 * faster than real time: an RTO of 1 s is then >= 10 ms of real time, well above the
 * few milliseconds usrsctp wants, and the whole file still runs in well under a second. */
#define PACE 100
static uint64_t g_virt0, g_real0;

static uint64_t real_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void pace(void) {
  if (!g_real0) {
    g_real0 = real_us();
    g_virt0 = g_now;
  }
  uint64_t want = g_real0 + (g_now - g_virt0) / PACE, have = real_us();
  if (want > have) {
    struct timespec d = {(time_t)((want - have) / 1000000u),
                         (long)((want - have) % 1000000u) * 1000};
    nanosleep(&d, NULL);
  }
}

typedef struct {
  sfu_sctp_t *a;
  sfu_sctp_group_t *g;
  sim_link_t *link;
  int dir;
  size_t max_pkt;
  int channel_events_open, channel_events_closed;
  uint64_t msgs, bytes;
  uint32_t last_ppid;
  uint16_t last_stream;
  char last_label[SFU_SCTP_LABEL_MAX + 1];
  uint8_t last_msg[64];
  size_t last_len;
  uint64_t ticks;          /* sfu_sctp_group_handle_timeout calls */
  uint64_t last_out_us;    /* when it last sent a packet */
  uint64_t drop_next_data; /* drop this many of its next packets carrying DATA */
  int drop_all;            /* the path from it is cut: every packet it sends is lost */
  uint64_t data_pkts;      /* packets it sent carrying DATA (dropped ones included) */
  uint32_t last_hash;      /* FNV-1a of the whole last message */
  uint64_t writable_events;
  size_t writable_buffered;
  uint64_t crc_bad;        /* packets it sent whose CRC32c usrsctp's own code disputes */
} peer_t;

/* Whether an SCTP packet carries a DATA chunk (RFC 4960 §3: chunks after 12 bytes). */
static int has_data(const uint8_t *buf, size_t len) {
  for (size_t off = 12; off + 4 <= len;) {
    if (buf[off] == 0) return 1;
    size_t cl = (size_t)buf[off + 2] << 8 | buf[off + 3];
    if (cl < 4) break;
    off += (cl + 3) & ~(size_t)3;
  }
  return 0;
}

static void p_send(void *user, const uint8_t *buf, size_t len) {
  peer_t *p = user;
  if (len > p->max_pkt) p->max_pkt = len;
  p->last_out_us = g_now;
  /* The checksum is ours to write (usrsctp's is offloaded): a real peer checks it. */
  static uint8_t chk[2048];
  if (len >= 12 && len <= sizeof chk) {
    memcpy(chk, buf, len);
    memset(chk + 8, 0, 4);
    uint32_t want = usrsctp_crc32c(chk, len), got;
    memcpy(&got, buf + 8, 4);
    if (got != want) p->crc_bad++;
  }
  if (has_data(buf, len)) p->data_pkts++;
  if (p->drop_all) return;
  if (p->drop_next_data && has_data(buf, len)) {
    p->drop_next_data--;
    return;
  }
  sim_link_send(p->link, p->dir, g_now, buf, len);
}

static void p_channel(void *user, const sfu_sctp_channel_t *ch, int open) {
  peer_t *p = user;
  if (open) {
    p->channel_events_open++;
    snprintf(p->last_label, sizeof p->last_label, "%s", ch->label);
  } else {
    p->channel_events_closed++;
  }
}

static void p_message(void *user, uint16_t stream, uint32_t ppid, const uint8_t *buf, size_t len) {
  peer_t *p = user;
  p->msgs++;
  p->bytes += len;
  p->last_ppid = ppid;
  p->last_stream = stream;
  p->last_len = len;
  memcpy(p->last_msg, buf, len < sizeof p->last_msg ? len : sizeof p->last_msg);
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < len; i++) h = (h ^ buf[i]) * 16777619u;
  p->last_hash = h;
}

static void p_writable(void *user, size_t buffered) {
  peer_t *p = user;
  p->writable_events++;
  p->writable_buffered = buffered;
}

static uint32_t fnv(const uint8_t *buf, size_t len) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < len; i++) h = (h ^ buf[i]) * 16777619u;
  return h;
}

typedef struct {
  sim_link_t *link;
  peer_t srv, cli; /* cli sends on SIM_AB, srv on SIM_BA */
} pair_t;

static uint64_t min3(uint64_t a, uint64_t b, uint64_t c) {
  uint64_t m = a < b ? a : b;
  return m < c ? m : c;
}

/* One step of virtual time: deliveries due, timers due. */
static void step(pair_t *P) {
  uint64_t t = min3(sim_link_next_delivery(P->link), sfu_sctp_group_next_deadline(P->srv.g),
                    sfu_sctp_group_next_deadline(P->cli.g));
  if (t == UINT64_MAX) t = g_now + 10000;
  if (t > g_now) g_now = t;
  pace();
  sim_link_set_now(P->link, g_now);
  uint8_t buf[2048];
  size_t len = sizeof buf;
  while (sim_link_poll(P->link, g_now, SIM_AB, buf, &len) == 1) {
    sfu_sctp_handle_input(P->srv.a, g_now, buf, len);
    len = sizeof buf;
  }
  len = sizeof buf;
  while (sim_link_poll(P->link, g_now, SIM_BA, buf, &len) == 1) {
    sfu_sctp_handle_input(P->cli.a, g_now, buf, len);
    len = sizeof buf;
  }
  if (sfu_sctp_group_next_deadline(P->srv.g) <= g_now) {
    P->srv.ticks++;
    sfu_sctp_group_handle_timeout(P->srv.g, g_now);
  }
  if (sfu_sctp_group_next_deadline(P->cli.g) <= g_now) {
    P->cli.ticks++;
    sfu_sctp_group_handle_timeout(P->cli.g, g_now);
  }
}

/* Steps until cond or max_us of virtual time. */
#define RUN_UNTIL(P, cond, max_us)           \
  do {                                       \
    uint64_t end_ = g_now + (max_us);        \
    while (!(cond) && g_now < end_) step(P); \
  } while (0)

static uint32_t g_heartbeat_ms; /* sfu_sctp_opts_t.heartbeat_ms for the next pair_open */
/* Options of the next pair_open (0: the defaults). */
static uint32_t g_srv_max_msg, g_srv_send_buffer, g_srv_low_water, g_cli_remote_max_msg;

static int pair_open(pair_t *P, double loss, uint64_t seed) {
  memset(P, 0, sizeof *P);
  P->link = sim_link_new(seed);
  sim_dir_cfg_t cfg = {.delay_us = 10000, .loss = loss};
  sim_link_config(P->link, SIM_AB, &cfg);
  sim_link_config(P->link, SIM_BA, &cfg);
  sim_link_set_now(P->link, g_now);
  P->srv.g = sfu_sctp_group_new();
  P->cli.g = sfu_sctp_group_new();
  if (!P->srv.g || !P->cli.g) return -1;
  P->srv.link = P->cli.link = P->link;
  P->srv.dir = SIM_BA;
  P->cli.dir = SIM_AB;
  sfu_sctp_cbs_t scb = {p_send, NULL, p_channel, p_message, &P->srv, p_writable};
  sfu_sctp_cbs_t ccb = {p_send, NULL, p_channel, p_message, &P->cli, p_writable};
  sfu_sctp_opts_t so = {.role = SFU_SCTP_ROLE_SERVER,
                        .local_port = 5000,
                        .remote_port = 5001,
                        .heartbeat_ms = g_heartbeat_ms,
                        .max_message_size = g_srv_max_msg,
                        .send_buffer = g_srv_send_buffer,
                        .low_water = g_srv_low_water};
  sfu_sctp_opts_t co = {.role = SFU_SCTP_ROLE_CLIENT,
                        .local_port = 5001,
                        .remote_port = 5000,
                        .heartbeat_ms = g_heartbeat_ms,
                        .remote_max_message_size = g_cli_remote_max_msg};
  P->srv.a = sfu_sctp_new(P->srv.g, &so, &scb, g_now);
  P->cli.a = sfu_sctp_new(P->cli.g, &co, &ccb, g_now);
  return P->srv.a && P->cli.a ? 0 : -1;
}

static void pair_close(pair_t *P) {
  sfu_sctp_free(P->srv.a);
  sfu_sctp_free(P->cli.a);
  sfu_sctp_group_free(P->srv.g);
  sfu_sctp_group_free(P->cli.g);
  sim_link_free(P->link);
}

static int both_up(pair_t *P) {
  return sfu_sctp_state(P->srv.a) == SFU_SCTP_ESTABLISHED &&
         sfu_sctp_state(P->cli.a) == SFU_SCTP_ESTABLISHED;
}

/* Association up and channel `stream` open both ways. */
static int pair_up_with_channel(pair_t *P, uint16_t stream, const char *label) {
  RUN_UNTIL(P, both_up(P), 20000000);
  if (!both_up(P)) return -1;
  if (sfu_sctp_open_channel(P->cli.a, g_now, stream, label, "", SFU_DCEP_RELIABLE, 0)) return -2;
  RUN_UNTIL(P, sfu_sctp_open_channels(P->cli.a) == 1, 20000000);
  return sfu_sctp_open_channels(P->cli.a) == 1 && sfu_sctp_open_channels(P->srv.a) == 1 ? 0 : -3;
}

/* ---- DCEP codec ---- */

TEST(dcep_open_roundtrip_and_truncations) {
  sfu_dcep_open_t o = {SFU_DCEP_PARTIAL_RELIABLE_REXMIT_UNORDERED,
                       256,
                       3,
                       (const uint8_t *)"chat",
                       (const uint8_t *)"proto",
                       4,
                       5};
  uint8_t buf[64];
  int n = sfu_dcep_build_open(buf, sizeof buf, &o);
  CHECK_EQ_INT(n, 12 + 4 + 5);
  CHECK_EQ_INT(sfu_dcep_build_open(buf, 10, &o), SFU_ETOOBIG);
  sfu_dcep_open_t p;
  REQUIRE(sfu_dcep_parse_open(buf, (size_t)n, &p) == 0);
  CHECK_EQ_INT(p.channel_type, SFU_DCEP_PARTIAL_RELIABLE_REXMIT_UNORDERED);
  CHECK_EQ_INT(p.priority, 256);
  CHECK_EQ_INT(p.reliability, 3);
  CHECK(p.label_len == 4 && memcmp(p.label, "chat", 4) == 0);
  CHECK(p.protocol_len == 5 && memcmp(p.protocol, "proto", 5) == 0);
  for (int k = 0; k < n; k++) CHECK_EQ_INT(sfu_dcep_parse_open(buf, (size_t)k, &p), SFU_EPARSE);
  /* Hostile: wrong type, unknown channel type, label length past the end. */
  uint8_t bad[sizeof buf];
  memcpy(bad, buf, (size_t)n);
  bad[0] = SFU_DCEP_ACK;
  CHECK_EQ_INT(sfu_dcep_parse_open(bad, (size_t)n, &p), SFU_EPARSE);
  memcpy(bad, buf, (size_t)n);
  bad[1] = 0x7f;
  CHECK_EQ_INT(sfu_dcep_parse_open(bad, (size_t)n, &p), SFU_EPARSE);
  memcpy(bad, buf, (size_t)n);
  bad[8] = 0xff;
  CHECK_EQ_INT(sfu_dcep_parse_open(bad, (size_t)n, &p), SFU_EPARSE);
  CHECK_EQ_INT(sfu_dcep_parse_open(NULL, 0, &p), SFU_EPARSE);
}

/* ---- associations ---- */

TEST(association_up_channel_opens_messages_counted) {
  pair_t P;
  REQUIRE(pair_open(&P, 0, 1) == 0);
  CHECK_EQ_STR(sfu_sctp_state_name(sfu_sctp_state(P.srv.a)), "connecting");
  CHECK(pair_up_with_channel(&P, 0, "chat") == 0);
  CHECK_EQ_STR(sfu_sctp_state_name(sfu_sctp_state(P.srv.a)), "established");
  /* The server learnt the channel from DATA_CHANNEL_OPEN and ACKed it (RFC 8832 §6). */
  const sfu_sctp_channel_t *ch = sfu_sctp_channel(P.srv.a, 0);
  REQUIRE(ch != NULL);
  CHECK_EQ_STR(ch->label, "chat");
  CHECK(ch->open);
  CHECK_EQ_INT(P.srv.channel_events_open, 1);
  CHECK_EQ_INT(P.cli.channel_events_open, 1);
  CHECK_EQ_STR(P.srv.last_label, "chat");

  /* Five strings, one binary, one empty string, one message of 10,000 bytes (spans
   * several packets). */
  for (int i = 0; i < 5; i++)
    CHECK_EQ_INT(
        sfu_sctp_send(P.cli.a, g_now, 0, SFU_SCTP_PPID_STRING, (const uint8_t *)"hello", 5), 0);
  CHECK_EQ_INT(
      sfu_sctp_send(P.cli.a, g_now, 0, SFU_SCTP_PPID_BINARY, (const uint8_t *)"\x01\x02\x03", 3),
      0);
  CHECK_EQ_INT(sfu_sctp_send(P.cli.a, g_now, 0, SFU_SCTP_PPID_STRING, NULL, 0), 0);
  static uint8_t big[10000];
  memset(big, 'x', sizeof big);
  CHECK_EQ_INT(sfu_sctp_send(P.cli.a, g_now, 0, SFU_SCTP_PPID_BINARY, big, sizeof big), 0);
  RUN_UNTIL(&P, P.srv.msgs == 8, 5000000);
  CHECK_EQ_INT(P.srv.msgs, 8);
  CHECK_EQ_INT(P.srv.bytes, 5 * 5 + 3 + 0 + 10000);
  const sfu_sctp_stats_t *st = sfu_sctp_stats(P.srv.a);
  CHECK_EQ_INT(st->messages_in, 8);
  CHECK_EQ_INT(st->message_bytes_in, 5 * 5 + 3 + 10000);
  CHECK_EQ_INT(P.srv.last_len, 10000);
  CHECK_EQ_INT(P.srv.last_ppid, SFU_SCTP_PPID_BINARY);
  /* Every packet fits in one DTLS record under the DTLS MTU (1200 - 37). */
  CHECK(P.cli.max_pkt <= 1163);
  CHECK(P.srv.max_pkt <= 1163);
  CHECK(P.cli.max_pkt > 1000); /* the big message did fill packets */

  /* And the other way, worker to client. */
  CHECK_EQ_INT(
      sfu_sctp_send(P.srv.a, g_now, 0, SFU_SCTP_PPID_STRING, (const uint8_t *)"welcome", 7), 0);
  RUN_UNTIL(&P, P.cli.msgs == 1, 5000000);
  CHECK_EQ_INT(P.cli.msgs, 1);
  CHECK(P.cli.last_len == 7 && memcmp(P.cli.last_msg, "welcome", 7) == 0);
  CHECK_EQ_INT(sfu_sctp_stats(P.srv.a)->dcep_errors, 0);
  /* Every packet either side sent carried a valid CRC32c (RFC 4960 §6.8). */
  CHECK_EQ_INT(P.srv.crc_bad, 0);
  CHECK_EQ_INT(P.cli.crc_bad, 0);
  pair_close(&P);
}

/* RFC 4960 Appendix B / RFC 3720 B.4: our CRC32c (SSE 4.2 when there) equals usrsctp's
 * for every length and alignment, and the standard check value. */
TEST(crc32c_matches_usrsctp) {
  CHECK_EQ_INT(sfu_sctp_crc32c((const uint8_t *)"123456789", 9), 0xE3069283u);
  static uint8_t buf[1200];
  uint32_t x = 12345;
  for (size_t i = 0; i < sizeof buf; i++) {
    x = x * 1103515245u + 12345u;
    buf[i] = (uint8_t)(x >> 16);
  }
  for (size_t off = 0; off < 8; off++)
    for (size_t n = 0; n + off <= sizeof buf; n += (n < 64 ? 1 : 37))
      if (sfu_sctp_crc32c(buf + off, n) != usrsctp_crc32c(buf + off, n)) {
        CHECK(!"crc32c differs");
        return;
      }
  uint8_t pkt[64];
  memcpy(pkt, buf, sizeof pkt);
  sfu_sctp_set_checksum(pkt, sizeof pkt);
  uint32_t got;
  memcpy(&got, pkt + 8, 4);
  memset(pkt + 8, 0, 4);
  CHECK_EQ_INT(got, usrsctp_crc32c(pkt, sizeof pkt));
}

TEST(channel_close_resets_streams_both_ways) {
  pair_t P;
  REQUIRE(pair_open(&P, 0, 2) == 0);
  REQUIRE(pair_up_with_channel(&P, 2, "a") == 0);
  REQUIRE(sfu_sctp_open_channel(P.cli.a, g_now, 4, "b", "", SFU_DCEP_RELIABLE_UNORDERED, 0) == 0);
  RUN_UNTIL(&P, sfu_sctp_open_channels(P.srv.a) == 2 && sfu_sctp_open_channels(P.cli.a) == 2,
            5000000);
  CHECK_EQ_INT(sfu_sctp_open_channels(P.srv.a), 2);
  CHECK_EQ_INT(sfu_sctp_close_channel(P.cli.a, g_now, 7), SFU_ENOENT);
  /* RFC 8831 §6.7: the client resets its outgoing stream 2; the worker resets its own,
   * and both drop the channel. */
  CHECK_EQ_INT(sfu_sctp_close_channel(P.cli.a, g_now, 2), 0);
  RUN_UNTIL(&P, sfu_sctp_open_channels(P.srv.a) == 1 && sfu_sctp_open_channels(P.cli.a) == 1,
            5000000);
  CHECK_EQ_INT(sfu_sctp_open_channels(P.srv.a), 1);
  CHECK_EQ_INT(sfu_sctp_open_channels(P.cli.a), 1);
  CHECK(sfu_sctp_channel(P.srv.a, 2) == NULL);
  CHECK(sfu_sctp_channel(P.srv.a, 4) != NULL);
  CHECK_EQ_INT(P.srv.channel_events_closed, 1);
  CHECK_EQ_INT(sfu_sctp_stats(P.srv.a)->channels_closed, 1);
  /* The stream is usable again for a new channel, and stream 4 still carries data. */
  CHECK_EQ_INT(sfu_sctp_send(P.cli.a, g_now, 4, SFU_SCTP_PPID_STRING, (const uint8_t *)"still", 5),
               0);
  RUN_UNTIL(&P, P.srv.msgs == 1, 5000000);
  CHECK_EQ_INT(P.srv.msgs, 1);
  CHECK_EQ_INT(P.srv.last_stream, 4);
  CHECK_EQ_INT(sfu_sctp_open_channel(P.cli.a, g_now, 2, "again", "", SFU_DCEP_RELIABLE, 0), 0);
  RUN_UNTIL(&P, sfu_sctp_open_channels(P.srv.a) == 2, 5000000);
  CHECK_EQ_INT(sfu_sctp_open_channels(P.srv.a), 2);
  pair_close(&P);
}

TEST(garbage_and_bad_dcep_are_counted_not_fatal) {
  pair_t P;
  REQUIRE(pair_open(&P, 0, 3) == 0);
  REQUIRE(pair_up_with_channel(&P, 0, "chat") == 0);
  /* Raw garbage as if it came out of DTLS: usrsctp's CRC check drops it. */
  uint8_t junk[300];
  sim_link_t *l = P.link;
  for (int k = 0; k < 200; k++) {
    size_t n = 1 + (size_t)(sim_link_rand(l) * sizeof junk);
    for (size_t i = 0; i < n; i++) junk[i] = (uint8_t)(sim_link_rand(l) * 256);
    if (k % 2 == 0 && n >= 12) { /* a plausible common header: the right ports */
      junk[0] = 0x13, junk[1] = 0x89, junk[2] = 0x13, junk[3] = 0x88;
    }
    sfu_sctp_handle_input(P.srv.a, g_now, junk, n);
  }
  CHECK_EQ_INT(sfu_sctp_handle_input(P.srv.a, g_now, junk, 0), SFU_EINVAL);
  CHECK_EQ_INT(sfu_sctp_state(P.srv.a), SFU_SCTP_ESTABLISHED);
  /* Garbage DCEP on stream 6: counted, and the stream reset (the opener's channel fails). */
  CHECK_EQ_INT(sfu_sctp_send(P.cli.a, g_now, 6, SFU_SCTP_PPID_DCEP, (const uint8_t *)"\x03\x00", 2),
               0);
  /* An ACK nobody asked for, an unknown PPID, data on a stream without a channel. */
  CHECK_EQ_INT(sfu_sctp_send(P.cli.a, g_now, 0, SFU_SCTP_PPID_DCEP, (const uint8_t *)"\x02", 1), 0);
  CHECK_EQ_INT(sfu_sctp_send(P.cli.a, g_now, 0, 99, (const uint8_t *)"??", 2), 0);
  CHECK_EQ_INT(sfu_sctp_send(P.cli.a, g_now, 8, SFU_SCTP_PPID_STRING, (const uint8_t *)"orphan", 6),
               0);
  /* A second OPEN on a stream that already carries a channel. */
  uint8_t open[32];
  sfu_dcep_open_t o = {SFU_DCEP_RELIABLE, 0, 0, (const uint8_t *)"dup", NULL, 3, 0};
  int n = sfu_dcep_build_open(open, sizeof open, &o);
  CHECK_EQ_INT(sfu_sctp_send(P.cli.a, g_now, 0, SFU_SCTP_PPID_DCEP, open, (size_t)n), 0);
  const sfu_sctp_stats_t *st = sfu_sctp_stats(P.srv.a);
  RUN_UNTIL(&P, st->dcep_errors == 3 && st->unknown_ppid == 1 && st->no_channel == 1, 5000000);
  CHECK_EQ_INT(st->dcep_errors, 3);
  CHECK_EQ_INT(st->unknown_ppid, 1);
  CHECK_EQ_INT(st->no_channel, 1);
  CHECK_EQ_INT(st->messages_in, 0);
  CHECK_EQ_INT(sfu_sctp_open_channels(P.srv.a), 1);
  CHECK_EQ_STR(sfu_sctp_channel(P.srv.a, 0)->label, "chat");
  /* Still alive: a good message goes through. */
  CHECK_EQ_INT(sfu_sctp_send(P.cli.a, g_now, 0, SFU_SCTP_PPID_STRING, (const uint8_t *)"ok", 2), 0);
  RUN_UNTIL(&P, P.srv.msgs == 1, 5000000);
  CHECK_EQ_INT(P.srv.msgs, 1);
  pair_close(&P);
}

TEST(oversize_message_dropped_and_counted) {
  pair_t P;
  /* A server that accepts at most 1,000-byte messages. */
  memset(&P, 0, sizeof P);
  P.link = sim_link_new(5);
  sim_dir_cfg_t cfg = {.delay_us = 5000};
  sim_link_config(P.link, SIM_AB, &cfg);
  sim_link_config(P.link, SIM_BA, &cfg);
  sim_link_set_now(P.link, g_now);
  P.srv.g = sfu_sctp_group_new();
  P.cli.g = sfu_sctp_group_new();
  P.srv.link = P.cli.link = P.link;
  P.srv.dir = SIM_BA;
  P.cli.dir = SIM_AB;
  sfu_sctp_cbs_t scb = {p_send, NULL, p_channel, p_message, &P.srv, p_writable};
  sfu_sctp_cbs_t ccb = {p_send, NULL, p_channel, p_message, &P.cli, p_writable};
  sfu_sctp_opts_t so = {.role = SFU_SCTP_ROLE_SERVER, .max_message_size = 1000};
  sfu_sctp_opts_t co = {.role = SFU_SCTP_ROLE_CLIENT, .remote_max_message_size = 100000};
  P.srv.a = sfu_sctp_new(P.srv.g, &so, &scb, g_now);
  P.cli.a = sfu_sctp_new(P.cli.g, &co, &ccb, g_now);
  REQUIRE(P.srv.a && P.cli.a);
  REQUIRE(pair_up_with_channel(&P, 0, "x") == 0);
  static uint8_t big[5000];
  CHECK_EQ_INT(sfu_sctp_send(P.cli.a, g_now, 0, SFU_SCTP_PPID_BINARY, big, sizeof big), 0);
  CHECK_EQ_INT(sfu_sctp_send(P.cli.a, g_now, 0, SFU_SCTP_PPID_BINARY, big, 999), 0);
  RUN_UNTIL(&P, P.srv.msgs == 1, 5000000);
  CHECK_EQ_INT(P.srv.msgs, 1);
  CHECK_EQ_INT(P.srv.last_len, 999);
  CHECK_EQ_INT(sfu_sctp_stats(P.srv.a)->oversize, 1);
  pair_close(&P);
}

TEST(lossy_link_retransmits_through_ticks) {
  pair_t P;
  REQUIRE(pair_open(&P, 0.2, 6) == 0);
  CHECK(pair_up_with_channel(&P, 0, "lossy") == 0);
  for (int i = 0; i < 20; i++)
    CHECK_EQ_INT(sfu_sctp_send(P.cli.a, g_now, 0, SFU_SCTP_PPID_STRING, (const uint8_t *)"m", 1),
                 0);
  RUN_UNTIL(&P, P.srv.msgs == 20, 600000000);
  CHECK_EQ_INT(P.srv.msgs, 20);
  CHECK(sim_link_stats(P.link, SIM_AB)->lost > 0);
  pair_close(&P);
}

/* ---- ticks (issue 6): no tick while nothing is due, timers still on time ---- */

/* Runs the pair for `us` of virtual time. */
static void run_for(pair_t *P, uint64_t us) {
  uint64_t end = g_now + us;
  while (g_now < end) step(P);
}

/* An established association with an open channel and nothing in flight ticks once a
 * second (heartbeats need no more), not every 10 ms, and still exchanges heartbeats
 * (RFC 4960 §8.3) and stays up. usrsctp sends a heartbeat only when the path has been
 * quiet for the interval on the real clock, which runs PACE times slower than the
 * virtual one here: hence a 200 ms interval (a timer every RTO + 200 ms ± RTO/2 of
 * virtual time, sending once 200 ms of real time went by). */
TEST(idle_association_ticks_once_a_second_heartbeats_flow) {
  pair_t P;
  g_heartbeat_ms = 200;
  int rc = pair_open(&P, 0, 8);
  g_heartbeat_ms = 0;
  REQUIRE(rc == 0);
  REQUIRE(pair_up_with_channel(&P, 0, "idle") == 0);
  run_for(&P, SFU_SCTP_BUSY_US + 2 * SFU_SCTP_TICK_US); /* the channel's SACKs settle */
  uint64_t ticks0 = P.srv.ticks;
  uint64_t out0 = sfu_sctp_stats(P.srv.a)->packets_out, in0 = sfu_sctp_stats(P.srv.a)->packets_in;
  run_for(&P, 120 * 1000000ull);
  uint64_t hb_out = sfu_sctp_stats(P.srv.a)->packets_out - out0;
  uint64_t hb_in = sfu_sctp_stats(P.srv.a)->packets_in - in0;
  /* Heartbeats and their acks both ways (each side's heartbeat and the other's ack). */
  CHECK(hb_out >= 2 && hb_in >= 2);
  CHECK(P.srv.ticks - ticks0 <= 121);
  CHECK(P.cli.ticks > 0);
  CHECK(both_up(&P));
  CHECK_EQ_INT(sfu_sctp_open_channels(P.srv.a), 1);
  pair_close(&P);
}

/* After a quiet spell, a lone DATA's delayed SACK (RFC 4960 §6.2) leaves when it is due,
 * SFU_SCTP_SACK_DELAY_MS later (within a tick, as with a fixed tick), on one tick. */
TEST(delayed_sack_on_time_after_idle) {
  pair_t P;
  REQUIRE(pair_open(&P, 0, 9) == 0);
  REQUIRE(pair_up_with_channel(&P, 0, "sack") == 0);
  run_for(&P, SFU_SCTP_BUSY_US + 2 * SFU_SCTP_TICK_US); /* the channel's SACKs settle */
  uint64_t ticks0 = P.srv.ticks;
  run_for(&P, 5 * 1000000ull);
  CHECK(P.srv.ticks - ticks0 <= 6); /* quiet: idle ticks */
  CHECK_EQ_INT(sfu_sctp_send(P.cli.a, g_now, 0, SFU_SCTP_PPID_STRING, (const uint8_t *)"one", 3),
               0);
  uint64_t in0 = sfu_sctp_stats(P.srv.a)->packets_in;
  RUN_UNTIL(&P, sfu_sctp_stats(P.srv.a)->packets_in > in0, 1000000);
  REQUIRE(P.srv.msgs == 1);
  uint64_t arrived = g_now, out0 = sfu_sctp_stats(P.srv.a)->packets_out;
  ticks0 = P.srv.ticks;
  RUN_UNTIL(&P, sfu_sctp_stats(P.srv.a)->packets_out > out0, 2000000);
  CHECK(sfu_sctp_stats(P.srv.a)->packets_out > out0);
  uint64_t sack = P.srv.last_out_us - arrived;
  CHECK(sack >= SFU_SCTP_SACK_DELAY_MS * 1000ull - SFU_SCTP_TICK_US);
  CHECK(sack <= SFU_SCTP_SACK_DELAY_MS * 1000ull + SFU_SCTP_TICK_US);
  /* One tick for it, when it is due (not one every 10 ms meanwhile). */
  CHECK(P.srv.ticks - ticks0 <= 2);
  pair_close(&P);
}

/* After a quiet spell, a lost DATA is retransmitted when T3-rtx expires (RFC 4960 §6.3.3:
 * RTO, 1 s here: usrsctp's RTO.min, its RTT measured on the real clock is ~0), not up to
 * an idle tick later (the sender ticks fast while DATA is outstanding), nor early: the
 * send comes 900 ms after the last tick, and usrsctp's clock, which only ticks move,
 * must be brought up to date before T3 is armed, or it expires at the next tick. */
TEST(retransmission_on_time_after_idle) {
  pair_t P;
  REQUIRE(pair_open(&P, 0, 10) == 0);
  REQUIRE(pair_up_with_channel(&P, 0, "rtx") == 0);
  run_for(&P, SFU_SCTP_BUSY_US + 2 * SFU_SCTP_TICK_US); /* the channel's SACKs settle */
  uint64_t ticks0 = P.cli.ticks;
  run_for(&P, 5 * 1000000ull);
  CHECK(P.cli.ticks - ticks0 <= 6); /* quiet: idle ticks */
  g_now += 900000; /* no tick meanwhile (both groups are idle for a second) */
  sim_link_set_now(P.link, g_now);
  P.cli.drop_next_data = 1;
  uint64_t sent = g_now;
  CHECK_EQ_INT(sfu_sctp_send(P.cli.a, g_now, 0, SFU_SCTP_PPID_STRING, (const uint8_t *)"lost", 4),
               0);
  CHECK_EQ_INT(P.cli.drop_next_data, 0);
  uint64_t out0 = sfu_sctp_stats(P.cli.a)->packets_out;
  RUN_UNTIL(&P, sfu_sctp_stats(P.cli.a)->packets_out > out0, 10000000);
  /* Within a tick of a T3 expiry: at RTO, or at 3 s, 7 s if usrsctp found the chunk too
   * recent on its real clock (see PACE) and backed off (§6.3.3 E2) instead. */
  uint64_t rtx = P.cli.last_out_us - sent;
  int on_time = 0;
  for (uint64_t rto = 1000000, expiry = rto; expiry <= 7000000; rto *= 2, expiry += rto)
    if (rtx + SFU_SCTP_TICK_US >= expiry && rtx <= expiry + 2 * SFU_SCTP_TICK_US) on_time = 1;
  CHECK(on_time);
  RUN_UNTIL(&P, P.srv.msgs == 1, 5000000);
  CHECK_EQ_INT(P.srv.msgs, 1);
  pair_close(&P);
}

TEST(before_established_and_bad_args) {
  pair_t P;
  REQUIRE(pair_open(&P, 0, 7) == 0);
  CHECK_EQ_INT(sfu_sctp_send(P.srv.a, g_now, 0, SFU_SCTP_PPID_STRING, (const uint8_t *)"x", 1),
               SFU_ESTATE);
  CHECK_EQ_INT(sfu_sctp_open_channel(P.cli.a, g_now, 0, "x", "", 0, 0), SFU_ESTATE);
  RUN_UNTIL(&P, both_up(&P), 20000000);
  REQUIRE(both_up(&P));
  CHECK_EQ_INT(sfu_sctp_send(P.cli.a, g_now, SFU_SCTP_STREAMS, SFU_SCTP_PPID_STRING,
                             (const uint8_t *)"x", 1),
               SFU_EINVAL);
  CHECK_EQ_INT(sfu_sctp_send(P.cli.a, g_now, 0, 99, NULL, 0), SFU_EINVAL);
  static uint8_t big[70000];
  CHECK_EQ_INT(sfu_sctp_send(P.cli.a, g_now, 0, SFU_SCTP_PPID_BINARY, big, sizeof big),
               SFU_ETOOBIG);
  /* Freed while the peer still talks: the peer's packets to a freed one go nowhere. */
  sfu_sctp_free(P.srv.a);
  P.srv.a = NULL;
  CHECK_EQ_INT(sfu_sctp_group_count(P.srv.g), 0);
  CHECK_EQ_INT(sfu_sctp_group_next_deadline(P.srv.g), UINT64_MAX);
  pair_close(&P);
}

/* ---- issue 10: partial reliability, backpressure, message sizes, channel floods ---- */

/* RFC 8832 §5.1 / RFC 8831 §6.4: a channel opened with maxRetransmits 0
 * (PARTIAL_RELIABLE_REXMIT, reliability 0) is partially reliable with no
 * retransmission: a lost message is abandoned (RFC 3758 FORWARD-TSN), never resent, and
 * the ordered stream moves past it. A reliable channel on the same association resends
 * its lost message (the control). */
TEST(rexmit_zero_channel_is_sent_once) {
  pair_t P;
  REQUIRE(pair_open(&P, 0, 11) == 0);
  REQUIRE(pair_up_with_channel(&P, 0, "reliable") == 0);
  REQUIRE(sfu_sctp_open_channel(P.cli.a, g_now, 2, "rexmit0", "", SFU_DCEP_PARTIAL_RELIABLE_REXMIT, 0) == 0);
  RUN_UNTIL(&P, sfu_sctp_open_channels(P.srv.a) == 2 && sfu_sctp_open_channels(P.cli.a) == 2, 5000000);
  const sfu_sctp_channel_t *ch = sfu_sctp_channel(P.srv.a, 2);
  REQUIRE(ch && ch->open);
  CHECK_EQ_INT(ch->channel_type, SFU_DCEP_PARTIAL_RELIABLE_REXMIT);
  CHECK_EQ_INT(ch->reliability, 0);
  run_for(&P, SFU_SCTP_BUSY_US); /* the channels' SACKs settle */

  /* Worker → client on the rexmit-0 channel, its one DATA lost. */
  uint64_t d0 = P.srv.data_pkts;
  P.srv.drop_next_data = 1;
  CHECK_EQ_INT(sfu_sctp_send(P.srv.a, g_now, 2, SFU_SCTP_PPID_STRING, (const uint8_t *)"gone", 4), 0);
  CHECK_EQ_INT(P.srv.drop_next_data, 0);
  run_for(&P, 10 * 1000000ull); /* several RTOs */
  CHECK_EQ_INT(P.srv.data_pkts - d0, 1); /* sent once, never again */
  CHECK_EQ_INT(P.cli.msgs, 0);
  /* The next message on the same ordered stream is not stuck behind the abandoned one. */
  CHECK_EQ_INT(sfu_sctp_send(P.srv.a, g_now, 2, SFU_SCTP_PPID_STRING, (const uint8_t *)"next", 4), 0);
  RUN_UNTIL(&P, P.cli.msgs == 1, 5000000);
  CHECK_EQ_INT(P.cli.msgs, 1);
  CHECK(P.cli.last_len == 4 && memcmp(P.cli.last_msg, "next", 4) == 0);
  CHECK_EQ_INT(P.cli.last_stream, 2);

  /* Control: the reliable channel resends its lost message. */
  d0 = P.srv.data_pkts;
  P.srv.drop_next_data = 1;
  CHECK_EQ_INT(sfu_sctp_send(P.srv.a, g_now, 0, SFU_SCTP_PPID_STRING, (const uint8_t *)"kept", 4), 0);
  RUN_UNTIL(&P, P.cli.msgs == 2, 20000000);
  CHECK_EQ_INT(P.cli.msgs, 2);
  CHECK(P.cli.last_len == 4 && memcmp(P.cli.last_msg, "kept", 4) == 0);
  CHECK(P.srv.data_pkts - d0 >= 2);
  CHECK(both_up(&P));
  pair_close(&P);
}

/* A receiver whose path is cut: the worker's bounded send buffer fills, the next send is
 * SFU_EAGAIN at once (counted, nothing queued, no retry), the buffered amount says how
 * full it is; once the path is back and the peer acknowledges, on_writable_cb fires
 * once at the low-water mark, sends work again and everything accepted arrives in order. */
TEST(backpressure_eagain_then_writable_at_low_water) {
  pair_t P;
  g_srv_send_buffer = 16384;
  g_srv_low_water = 4096;
  int rc = pair_open(&P, 0, 12);
  g_srv_send_buffer = g_srv_low_water = 0;
  REQUIRE(rc == 0);
  REQUIRE(pair_up_with_channel(&P, 0, "bp") == 0);
  run_for(&P, SFU_SCTP_BUSY_US);
  CHECK_EQ_INT(sfu_sctp_buffered_amount(P.srv.a), 0);
  CHECK(!sfu_sctp_blocked(P.srv.a));

  P.srv.drop_all = 1; /* the client receives nothing more: no SACK comes back */
  static uint8_t msg[1000];
  int accepted = 0, r = 0;
  for (int i = 0; i < 100; i++) {
    memset(msg, 'a' + i % 26, sizeof msg);
    r = sfu_sctp_send(P.srv.a, g_now, 0, SFU_SCTP_PPID_BINARY, msg, sizeof msg);
    if (r != 0) break;
    accepted++;
    step(&P);
  }
  CHECK_EQ_INT(r, SFU_EAGAIN);
  CHECK(accepted >= 8 && accepted <= 16);
  size_t b = sfu_sctp_buffered_amount(P.srv.a);
  CHECK(b >= (size_t)accepted * 1000 && b <= 16384);
  CHECK(sfu_sctp_blocked(P.srv.a));
  CHECK_EQ_INT(sfu_sctp_stats(P.srv.a)->send_blocked, 1);
  /* Still full a while later (retransmissions go nowhere): EAGAIN again, no callback. */
  run_for(&P, 2 * 1000000ull);
  CHECK_EQ_INT(sfu_sctp_send(P.srv.a, g_now, 0, SFU_SCTP_PPID_BINARY, msg, sizeof msg), SFU_EAGAIN);
  CHECK_EQ_INT(sfu_sctp_stats(P.srv.a)->send_blocked, 2);
  CHECK_EQ_INT(P.srv.writable_events, 0);
  CHECK(both_up(&P));

  P.srv.drop_all = 0; /* the path is back: the next retransmission gets through */
  RUN_UNTIL(&P, P.srv.writable_events == 1, 30000000);
  CHECK_EQ_INT(P.srv.writable_events, 1);
  CHECK(P.srv.writable_buffered <= 4096);
  CHECK_EQ_INT(sfu_sctp_stats(P.srv.a)->writable, 1);
  CHECK(!sfu_sctp_blocked(P.srv.a));
  RUN_UNTIL(&P, P.cli.msgs == (uint64_t)accepted, 30000000);
  CHECK_EQ_INT(P.cli.msgs, accepted);
  CHECK_EQ_INT(P.cli.last_msg[0], 'a' + (accepted - 1) % 26); /* in order, the last one last */
  CHECK_EQ_INT(sfu_sctp_send(P.srv.a, g_now, 0, SFU_SCTP_PPID_STRING, (const uint8_t *)"again", 5), 0);
  RUN_UNTIL(&P, P.cli.msgs == (uint64_t)accepted + 1, 5000000);
  CHECK_EQ_INT(P.cli.msgs, accepted + 1);
  RUN_UNTIL(&P, sfu_sctp_buffered_amount(P.srv.a) == 0, 5000000);
  CHECK_EQ_INT(sfu_sctp_buffered_amount(P.srv.a), 0);
  CHECK_EQ_INT(P.srv.writable_events, 1); /* once per block */
  /* A message larger than the whole send buffer can never fit: too big, not EAGAIN. */
  static uint8_t huge[20000];
  CHECK_EQ_INT(sfu_sctp_send(P.srv.a, g_now, 0, SFU_SCTP_PPID_BINARY, huge, sizeof huge), SFU_ETOOBIG);
  pair_close(&P);
}

/* Messages longer than a read (the 64 KiB scratch buffer) arrive in pieces without
 * MSG_EOR: gathered and delivered whole; past our max message size they are dropped and
 * counted, never truncated, and the next message is whole again. RFC 8841 §6.1: a peer
 * that announced no a=max-message-size gets at most 64 KiB from us. */
TEST(partial_messages_reassembled_bounded_and_max_message_size) {
  pair_t P;
  g_srv_max_msg = 150000;
  g_cli_remote_max_msg = 262144;
  int rc = pair_open(&P, 0, 13);
  g_srv_max_msg = g_cli_remote_max_msg = 0;
  REQUIRE(rc == 0);
  REQUIRE(pair_up_with_channel(&P, 0, "big") == 0);
  static uint8_t big[200000];
  for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 131 + (i >> 9));
  CHECK_EQ_INT(sfu_sctp_send(P.cli.a, g_now, 0, SFU_SCTP_PPID_BINARY, big, 140000), 0);
  RUN_UNTIL(&P, P.srv.msgs == 1, 20000000);
  CHECK_EQ_INT(P.srv.msgs, 1);
  CHECK_EQ_INT(P.srv.last_len, 140000);
  CHECK(P.srv.last_hash == fnv(big, 140000));
  CHECK(sfu_sctp_stats(P.srv.a)->partial_messages >= 1);
  /* 200,000 > the server's 150,000: dropped whole, counted. */
  CHECK_EQ_INT(sfu_sctp_send(P.cli.a, g_now, 0, SFU_SCTP_PPID_BINARY, big, sizeof big), 0);
  /* (Both would not fit the client's 256 KiB send buffer at once: SFU_EAGAIN.) */
  CHECK_EQ_INT(sfu_sctp_send(P.cli.a, g_now, 0, SFU_SCTP_PPID_BINARY, big + 7, 70000), SFU_EAGAIN);
  RUN_UNTIL(&P, sfu_sctp_buffered_amount(P.cli.a) == 0, 20000000);
  CHECK_EQ_INT(sfu_sctp_send(P.cli.a, g_now, 0, SFU_SCTP_PPID_BINARY, big + 7, 70000), 0);
  RUN_UNTIL(&P, P.srv.msgs == 2, 20000000);
  CHECK_EQ_INT(P.srv.msgs, 2);
  CHECK_EQ_INT(P.srv.last_len, 70000);
  CHECK(P.srv.last_hash == fnv(big + 7, 70000));
  CHECK_EQ_INT(sfu_sctp_stats(P.srv.a)->oversize, 1);
  /* The server never heard the client's a=max-message-size: 64 KiB both at and past. */
  CHECK_EQ_INT(sfu_sctp_send(P.srv.a, g_now, 0, SFU_SCTP_PPID_BINARY, big, 65537), SFU_ETOOBIG);
  CHECK_EQ_INT(sfu_sctp_send(P.srv.a, g_now, 0, SFU_SCTP_PPID_BINARY, big, 65536), 0);
  RUN_UNTIL(&P, P.cli.msgs == 1, 20000000);
  CHECK_EQ_INT(P.cli.msgs, 1);
  CHECK_EQ_INT(P.cli.last_len, 65536);
  CHECK(P.cli.last_hash == fnv(big, 65536));
  pair_close(&P);
}

/* Hundreds of DATA_CHANNEL_OPENs: the table takes SFU_SCTP_MAX_CHANNELS, the rest are
 * refused (stream reset, counted), and the association and the channels already open
 * carry on both ways. */
TEST(dcep_open_flood_bounded_others_unaffected) {
  pair_t P;
  REQUIRE(pair_open(&P, 0, 14) == 0);
  REQUIRE(pair_up_with_channel(&P, 0, "chat") == 0);
  uint8_t open[64];
  for (int k = 1; k <= 300; k++) {
    char label[16];
    snprintf(label, sizeof label, "f%d", k);
    sfu_dcep_open_t o = {SFU_DCEP_RELIABLE, 0, 0, (const uint8_t *)label, NULL, (uint16_t)strlen(label), 0};
    int n = sfu_dcep_build_open(open, sizeof open, &o);
    REQUIRE(n > 0);
    /* Raw OPENs (the client's own table is bounded too), on odd-free even streams. */
    CHECK_EQ_INT(sfu_sctp_send(P.cli.a, g_now, (uint16_t)(2 * k), SFU_SCTP_PPID_DCEP, open, (size_t)n), 0);
    if (k % 20 == 0) step(&P);
  }
  const sfu_sctp_stats_t *st = sfu_sctp_stats(P.srv.a);
  RUN_UNTIL(&P, st->channels_refused == 300 - (SFU_SCTP_MAX_CHANNELS - 1), 20000000);
  CHECK_EQ_INT(st->channels_refused, 300 - (SFU_SCTP_MAX_CHANNELS - 1));
  CHECK_EQ_INT(sfu_sctp_open_channels(P.srv.a), SFU_SCTP_MAX_CHANNELS);
  CHECK_EQ_INT(st->channels_opened, SFU_SCTP_MAX_CHANNELS);
  run_for(&P, 3 * 1000000ull); /* the refusals' stream resets go out, 64 per request */
  CHECK(both_up(&P));
  CHECK_EQ_STR(sfu_sctp_channel(P.srv.a, 0)->label, "chat");
  CHECK_EQ_INT(sfu_sctp_send(P.cli.a, g_now, 0, SFU_SCTP_PPID_STRING, (const uint8_t *)"still", 5), 0);
  RUN_UNTIL(&P, P.srv.msgs == 1, 5000000);
  CHECK_EQ_INT(P.srv.msgs, 1);
  CHECK_EQ_INT(sfu_sctp_send(P.srv.a, g_now, 0, SFU_SCTP_PPID_STRING, (const uint8_t *)"here", 4), 0);
  RUN_UNTIL(&P, P.cli.msgs == 1, 5000000);
  CHECK_EQ_INT(P.cli.msgs, 1);
  CHECK(P.cli.last_len == 4 && memcmp(P.cli.last_msg, "here", 4) == 0);
  pair_close(&P);
}

int main(void) {
  if (sfu_sctp_global_init()) {
    fprintf(stderr, "usrsctp init failed\n");
    return 1;
  }
  RUN(dcep_open_roundtrip_and_truncations);
  RUN(crc32c_matches_usrsctp);
  RUN(association_up_channel_opens_messages_counted);
  RUN(channel_close_resets_streams_both_ways);
  RUN(garbage_and_bad_dcep_are_counted_not_fatal);
  RUN(oversize_message_dropped_and_counted);
  RUN(lossy_link_retransmits_through_ticks);
  RUN(idle_association_ticks_once_a_second_heartbeats_flow);
  RUN(delayed_sack_on_time_after_idle);
  RUN(retransmission_on_time_after_idle);
  RUN(before_established_and_bad_args);
  RUN(rexmit_zero_channel_is_sent_once);
  RUN(backpressure_eagain_then_writable_at_low_water);
  RUN(partial_messages_reassembled_bounded_and_max_message_size);
  RUN(dcep_open_flood_bounded_others_unaffected);
  int rc = sfu_sctp_global_shutdown();
  if (rc) fprintf(stderr, "sfu_sctp_global_shutdown: %d\n", rc);
  return test_summary() + (rc != 0);
}
