/* PLACEHOLDER until the real router lands (issue 7, in progress): links, forwards nothing. */
#include "sfu/router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sfu/err.h"

struct sfu_router {
  sfu_router_config_t cfg;
  sfu_router_cbs_t cbs;
};
struct sfu_router_peer {
  int unused;
};

sfu_router_t *sfu_router_new(const sfu_router_config_t *cfg, const sfu_router_cbs_t *cbs) {
  sfu_router_t *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->cfg = *cfg;
  r->cbs = *cbs;
  return r;
}
void sfu_router_free(sfu_router_t *r) { free(r); }
sfu_router_peer_t *sfu_router_peer_new(sfu_router_t *r, const sfu_router_peer_desc_t *d, void *u) {
  return calloc(1, sizeof(sfu_router_peer_t));
}
void sfu_router_peer_free(sfu_router_t *r, sfu_router_peer_t *p, uint64_t now_us) { free(p); }
void sfu_router_peer_set_caps(sfu_router_t *r, sfu_router_peer_t *p, uint8_t s, uint8_t rc, uint64_t now_us) {}
int sfu_router_peer_publish(sfu_router_t *r, sfu_router_peer_t *p, const sfu_router_pub_desc_t *d,
                            size_t n, uint64_t now_us, uint32_t *stream_id, char *err, size_t errlen) {
  *stream_id = 0;
  return 0;
}
int sfu_router_peer_set_views(sfu_router_t *r, sfu_router_peer_t *p, const sfu_router_view_desc_t *d,
                              size_t n, uint64_t now_us, sfu_router_view_out_t *out, char *err,
                              size_t errlen) {
  for (size_t i = 0; i < n; i++) {
    if (d[i].stream_id) {
      snprintf(err, errlen, "ReceiveStreamIds: no stream %u", d[i].stream_id);
      return SFU_ENOENT;
    }
  }
  for (size_t i = 0; i < n; i++) {
    memset(&out[i], 0, sizeof out[i]);
    memcpy(out[i].mid, d[i].mid, sizeof out[i].mid);
  }
  return 0;
}
int sfu_router_has_stream(const sfu_router_t *r, uint32_t id) { return 0; }
void sfu_router_on_rtp(sfu_router_t *r, sfu_router_peer_t *p, uint64_t now_us, uint8_t *buf, size_t len) {}
void sfu_router_on_rtcp(sfu_router_t *r, sfu_router_peer_t *p, uint64_t now_us, const uint8_t *buf, size_t len) {}
void sfu_router_handle_timeout(sfu_router_t *r, uint64_t now_us) {}
uint64_t sfu_router_next_deadline(const sfu_router_t *r) { return UINT64_MAX; }
size_t sfu_router_stream_count(const sfu_router_t *r) { return 0; }
int sfu_router_stream_info(const sfu_router_t *r, size_t i, sfu_router_stream_info_t *out) { return SFU_ENOENT; }
uint64_t sfu_router_index_version(const sfu_router_t *r) { return 0; }
size_t sfu_router_peer_pub_count(const sfu_router_peer_t *p) { return 0; }
int sfu_router_peer_pub_info(const sfu_router_t *r, const sfu_router_peer_t *p, size_t i, sfu_router_stream_info_t *out) { return SFU_ENOENT; }
size_t sfu_router_peer_view_count(const sfu_router_peer_t *p) { return 0; }
int sfu_router_peer_view_info(const sfu_router_peer_t *p, size_t i, sfu_router_view_info_t *out) { return SFU_ENOENT; }
void sfu_router_stats(const sfu_router_t *r, sfu_router_stats_t *out) { memset(out, 0, sizeof *out); }
