/* The media side of a loop (see loop_media.h). */
#include "worker/loop_media.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "sfu/err.h"
#include "sfu/log.h"
#include "worker/loop.h"

static void on_udp(void *user, uint64_t now_us, const sfu_addr_t *from, uint8_t *buf, size_t len) {
  sfu_loop_media_t *m = user;
  sfu_rtc_input(m->rtc, now_us, from, buf, len);
}

static int on_tcp(void *user, uint64_t now_us, const sfu_addr_t *from, uint8_t *buf, size_t len) {
  sfu_loop_media_t *m = user;
  return sfu_rtc_input(m->rtc, now_us, from, buf, len);
}

static void rtc_send(void *user, const sfu_addr_t *to, const uint8_t *buf, size_t len) {
  sfu_loop_media_t *m = user;
  if (to->proto == SFU_PROTO_TCP) {
    if (m->tcp_open) sfu_tcp_io_send(&m->tcp, to, buf, len);
  } else if (m->udp_open) {
    sfu_udp_io_send(&m->udp, to, buf, len);
  }
}

static void rtc_addr_released(void *user, const sfu_addr_t *addr) {
  sfu_loop_media_t *m = user;
  if (addr->proto == SFU_PROTO_TCP && m->tcp_open) sfu_tcp_io_release(&m->tcp, addr);
}

static void rtc_event(void *user, const sfu_event_t *ev) {
  sfu_loop_media_t *m = user;
  sfu_loop_emit_event(m->loop, ev);
}

/* Once per loop turn, after the poll phase: re-arm the loop timer if a batch of packets
 * moved the earliest transport deadline. O(1) when nothing moved. */
static void on_check(uv_check_t *c) {
  sfu_loop_media_t *m = c->data;
  if (sfu_rtc_next_deadline(m->rtc) != m->armed_us) sfu_loop_rearm(m->loop);
}

int sfu_loop_media_open(sfu_loop_media_t **out, struct sfu_loop *l,
                        const struct sfu_dtls_cert *cert, const char *bind_ip) {
  *out = NULL;
  if (!cert) return SFU_EINVAL;
  sfu_loop_media_t *m = calloc(1, sizeof *m);
  if (!m) return SFU_ENOMEM;
  m->loop = l;
  m->armed_us = UINT64_MAX;
  sfu_rtc_config_t cfg = {.announce_ip = l->ctx.announce_ip,
                          .udp_port = (uint16_t)l->udp_port,
                          .tcp_port = (uint16_t)l->tcp_port,
                          .pacer_burst_us = l->pacer_burst_us};
  /* issue 9: the audio mixer is on unless SFU_AUDIO_MIXER=0 (an operator's way back to
   * answers without the mix stream; docs/operations.md). Read at loop start. */
  const char *mix = getenv("SFU_AUDIO_MIXER");
  cfg.audio_mixer = !(mix && strcmp(mix, "0") == 0);
  /* The core derives wall-clock timestampMs from the loop's clock (rtc.h); the shell is
   * where clocks are read. A later step of the wall clock (NTP) is not followed. */
  struct timespec wall;
  clock_gettime(CLOCK_REALTIME, &wall);
  cfg.wall_offset_us = (int64_t)wall.tv_sec * 1000000 + wall.tv_nsec / 1000 - (int64_t)sfu_loop_now_us();
  sfu_rtc_cbs_t cbs = {rtc_send, rtc_event, m, rtc_addr_released};
  m->rtc = sfu_rtc_new(l->session, cert, &cfg, &cbs);
  if (!m->rtc) {
    free(m);
    return SFU_ENOMEM;
  }
  *out = m;
  int rc = sfu_udp_io_open(&m->udp, &l->loop, bind_ip, (uint16_t)l->udp_port, on_udp, m);
  if (rc) return rc;
  m->udp_open = 1;
  if (l->tcp_port > 0) {
    rc = sfu_tcp_io_open(&m->tcp, &l->loop, bind_ip, (uint16_t)l->tcp_port, on_tcp, m);
    if (rc) return rc;
    m->tcp_open = 1;
    sfu_tcp_io_set_max_conns(&m->tcp, l->tcp_max_conns);
  }
  uv_check_init(&l->loop, &m->check);
  m->check.data = m;
  uv_check_start(&m->check, on_check);
  uv_unref((uv_handle_t *)&m->check);
  m->check_open = 1;
  return 0;
}

void sfu_loop_media_close(sfu_loop_media_t *m) {
  if (!m) return;
  /* close_notify to every client still connected, then out with one last flush. */
  if (m->rtc) sfu_rtc_close_all(m->rtc);
  if (m->udp_open) sfu_udp_io_close(&m->udp, NULL);
  if (m->tcp_open) sfu_tcp_io_close(&m->tcp, NULL);
  if (m->check_open) uv_close((uv_handle_t *)&m->check, NULL);
  m->udp_open = m->tcp_open = m->check_open = 0;
}

void sfu_loop_media_free(sfu_loop_media_t *m) {
  if (!m) return;
  sfu_rtc_free(m->rtc);
  free(m);
}

static void num(cJSON *o, const char *k, uint64_t v) { cJSON_AddNumberToObject(o, k, (double)v); }

void sfu_loop_media_add_socket_stats(const sfu_loop_media_t *m, cJSON *loop_obj) {
  if (!m || !loop_obj) return;
  cJSON *sk = cJSON_CreateObject(), *u = cJSON_CreateObject(), *t = cJSON_CreateObject();
  if (!sk || !u || !t) {
    cJSON_Delete(sk);
    cJSON_Delete(u);
    cJSON_Delete(t);
    return;
  }
  const sfu_udp_io_stats_t *us = &m->udp.st;
  num(u, "RxPackets", us->rx_packets);
  num(u, "RxBytes", us->rx_bytes);
  num(u, "RxBatches", us->rx_batches);
  num(u, "RxTruncated", us->rx_truncated);
  num(u, "TxPackets", us->tx_packets);
  num(u, "TxBytes", us->tx_bytes);
  num(u, "TxBatches", us->tx_batches);
  num(u, "TxDropped", us->tx_dropped);
  num(u, "TxTooBig", us->tx_too_big);
  num(u, "TxGsoBatches", us->tx_gso_batches);
  num(u, "TxGsoSegments", us->tx_gso_segments);
  num(u, "TxGsoDisabled", us->tx_gso_disabled);
  const sfu_tcp_io_stats_t *ts = &m->tcp.st;
  num(t, "Open", ts->conns);
  num(t, "Accepted", ts->accepted);
  num(t, "Refused", ts->refused);
  num(t, "RefusedPerIp", ts->refused_per_ip);
  num(t, "ClosedGarbage", ts->closed_garbage);
  num(t, "ClosedUnauthenticated", ts->closed_unauth);
  num(t, "ClosedByPeer", ts->closed_peer);
  num(t, "ClosedReleased", ts->closed_released);
  num(t, "MaxConnections", ts->max_conns);
  num(t, "RxFrames", ts->rx_frames);
  num(t, "RxBytes", ts->rx_bytes);
  num(t, "TxFrames", ts->tx_frames);
  num(t, "TxBytes", ts->tx_bytes);
  num(t, "TxDropped", ts->tx_dropped);
  num(t, "TxWrites", ts->tx_writes);
  cJSON_AddItemToObject(sk, "Udp", u);
  cJSON_AddItemToObject(sk, "Tcp", t);
  cJSON_AddItemToObject(loop_obj, "Sockets", sk);
}
