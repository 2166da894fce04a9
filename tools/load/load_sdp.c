/* See load_sdp.h. */
#include "load_sdp.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  char *p;
  size_t len, cap;
  int oom;
} sbuf_t;

static void add(sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(sbuf_t *b, const char *fmt, ...) {
  if (b->oom) return;
  if (!b->p) {
    b->cap = 4096;
    b->p = malloc(b->cap);
    if (!b->p) { b->oom = 1; return; }
  }
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) { b->oom = 1; return; }
    if ((size_t)n < b->cap - b->len) { b->len += (size_t)n; return; }
    size_t cap = (b->cap + (size_t)n + 1) * 2;
    char *q = realloc(b->p, cap);
    if (!q) { b->oom = 1; return; }
    b->p = q;
    b->cap = cap;
  }
}

void load_recv_mid(const load_offer_t *o, size_t i, char out[LOAD_MID_MAX]) {
  snprintf(out, LOAD_MID_MAX, "%zu", i + (o->publish ? 1 : 0));
}

/* RFC 4585 §4.2 / RFC 5104 §7.1 feedback as Chromium offers it for video. */
static void codec_lines(sbuf_t *b, int pt, const char *name, const char *fmtp, int rtx_pt) {
  add(b, "a=rtpmap:%d %s/90000\r\n", pt, name);
  add(b, "a=rtcp-fb:%d goog-remb\r\na=rtcp-fb:%d transport-cc\r\na=rtcp-fb:%d ccm fir\r\n"
      "a=rtcp-fb:%d nack\r\na=rtcp-fb:%d nack pli\r\n", pt, pt, pt, pt, pt);
  if (fmtp) add(b, "a=fmtp:%d %s\r\n", pt, fmtp);
  if (rtx_pt >= 0) add(b, "a=rtpmap:%d rtx/90000\r\na=fmtp:%d apt=%d\r\n", rtx_pt, rtx_pt, pt);
}

static const char *h264_fmtp =
    "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f";

/* Transport lines every bundled section repeats (Chromium does), the candidate only in
 * the first (the BUNDLE tag's transport). */
static void transport_lines(sbuf_t *b, const load_offer_t *o, int first, const char *mid) {
  add(b, "c=IN IP4 %s\r\na=rtcp:9 IN IP4 0.0.0.0\r\n", first ? "127.0.0.1" : "0.0.0.0");
  if (first)
    add(b, "a=candidate:1 1 udp 2122194687 127.0.0.1 %u typ host generation 0\r\n",
        (unsigned)o->port);
  add(b, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\na=ice-options:trickle\r\n"
      "a=fingerprint:sha-256 %s\r\na=setup:actpass\r\na=mid:%s\r\n",
      o->ufrag, o->pwd, o->fingerprint, mid);
  add(b, "a=extmap:%d http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\n"
      "a=extmap:%d " LOAD_URI_TWCC "\r\n"
      "a=extmap:%d urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
      "a=extmap:%d urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n"
      "a=extmap:%d urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id\r\n",
      LOAD_EXT_ABS_SEND_TIME, LOAD_EXT_TWCC, LOAD_EXT_MID, LOAD_EXT_RID, LOAD_EXT_RRID);
}

static const char *const rid_names[3] = {"q", "h", "f"};

static void publish_section(sbuf_t *b, const load_offer_t *o) {
  int vp8 = o->codec == LOAD_VP8;
  int pt = vp8 ? LOAD_PT_VP8 : LOAD_PT_H264, rtx = vp8 ? LOAD_PT_VP8_RTX : LOAD_PT_H264_RTX;
  if (o->pub_rtx) add(b, "m=video %u UDP/TLS/RTP/SAVPF %d %d\r\n", (unsigned)o->port, pt, rtx);
  else add(b, "m=video %u UDP/TLS/RTP/SAVPF %d\r\n", (unsigned)o->port, pt);
  transport_lines(b, o, 1, "0");
  add(b, "a=sendonly\r\na=msid:%s %s\r\na=rtcp-mux\r\na=rtcp-rsize\r\n", o->msid_stream,
      o->msid_track);
  codec_lines(b, pt, vp8 ? "VP8" : "H264", vp8 ? NULL : h264_fmtp, o->pub_rtx ? rtx : -1);
  int n = o->layers == 3 ? 3 : 1;
  if (n == 3) {
    for (int i = 0; i < 3; i++) add(b, "a=rid:%s send\r\n", rid_names[i]);
    add(b, "a=simulcast:send q;h;f\r\n");
  }
  if (!o->pub_ssrcs) return;
  /* RFC 5576 §4.2 groups, then the SSRCs (as Chromium's legacy simulcast writes them). */
  if (n == 3) add(b, "a=ssrc-group:SIM %" PRIu32 " %" PRIu32 " %" PRIu32 "\r\n", o->ssrcs[0],
                  o->ssrcs[1], o->ssrcs[2]);
  if (o->pub_rtx)
    for (int i = 0; i < n; i++)
      add(b, "a=ssrc-group:FID %" PRIu32 " %" PRIu32 "\r\n", o->ssrcs[i], o->rtx_ssrcs[i]);
  for (int i = 0; i < n; i++) {
    uint32_t s[2] = {o->ssrcs[i], o->rtx_ssrcs[i]};
    for (int k = 0; k < (o->pub_rtx ? 2 : 1); k++)
      add(b, "a=ssrc:%" PRIu32 " cname:%s\r\na=ssrc:%" PRIu32 " msid:%s %s\r\n", s[k], o->cname,
          s[k], o->msid_stream, o->msid_track);
  }
}

static void recv_section(sbuf_t *b, const load_offer_t *o, size_t i) {
  char mid[LOAD_MID_MAX];
  load_recv_mid(o, i, mid);
  int first = !o->publish && i == 0;
  uint16_t port = first ? o->port : 9;
  if (o->recv_rtx)
    add(b, "m=video %u UDP/TLS/RTP/SAVPF %d %d %d %d\r\n", (unsigned)port, LOAD_PT_VP8,
        LOAD_PT_VP8_RTX, LOAD_PT_H264, LOAD_PT_H264_RTX);
  else
    add(b, "m=video %u UDP/TLS/RTP/SAVPF %d %d\r\n", (unsigned)port, LOAD_PT_VP8, LOAD_PT_H264);
  transport_lines(b, o, first, mid);
  add(b, "a=%s\r\na=rtcp-mux\r\na=rtcp-rsize\r\n",
      o->recv_inactive[i] ? "inactive" : "recvonly");
  codec_lines(b, LOAD_PT_VP8, "VP8", NULL, o->recv_rtx ? LOAD_PT_VP8_RTX : -1);
  codec_lines(b, LOAD_PT_H264, "H264", h264_fmtp, o->recv_rtx ? LOAD_PT_H264_RTX : -1);
}

/* RFC 8841 §5.1 / §6.1, as Chromium offers it. */
static void data_section(sbuf_t *b, const load_offer_t *o, size_t index) {
  int first = index == 0;
  add(b, "m=application %u UDP/DTLS/SCTP webrtc-datachannel\r\n", first ? (unsigned)o->port : 9u);
  add(b, "c=IN IP4 %s\r\n", first ? "127.0.0.1" : "0.0.0.0");
  if (first)
    add(b, "a=candidate:1 1 udp 2122194687 127.0.0.1 %u typ host generation 0\r\n",
        (unsigned)o->port);
  add(b, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\na=ice-options:trickle\r\n"
      "a=fingerprint:sha-256 %s\r\na=setup:actpass\r\na=mid:%zu\r\n"
      "a=sctp-port:5000\r\na=max-message-size:262144\r\n",
      o->ufrag, o->pwd, o->fingerprint, index);
}

char *load_offer_write(const load_offer_t *o) {
  sbuf_t b = {0};
  add(&b, "v=0\r\no=- %" PRIu64 " %" PRIu64 " IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n",
      o->session_id, o->session_version);
  add(&b, "a=group:BUNDLE");
  size_t n_av = (o->publish ? 1 : 0) + o->n_recv;
  size_t n_media = n_av + (o->data ? 1 : 0);
  for (size_t i = 0; i < n_media; i++) add(&b, " %zu", i);
  add(&b, "\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS %s\r\n",
      o->publish ? o->msid_stream : "");
  if (o->publish) publish_section(&b, o);
  for (size_t i = 0; i < o->n_recv && i < LOAD_MAX_RECV; i++) recv_section(&b, o, i);
  if (o->data) data_section(&b, o, n_av);
  if (b.oom) {
    free(b.p);
    return NULL;
  }
  return b.p;
}

/* ---- answer ---- */

static int starts(const char *line, size_t len, const char *prefix) {
  size_t n = strlen(prefix);
  return len >= n && memcmp(line, prefix, n) == 0;
}

static void copy_val(char *out, size_t cap, const char *p, size_t len) {
  if (len >= cap) len = cap - 1;
  memcpy(out, p, len);
  out[len] = '\0';
}

/* Notes an a=rtpmap / a=fmtp apt line of the answer in section m. */
static void note_codec(load_answer_media_t *m, int pt, const char *name, int apt) {
  if (name && (strcmp(name, "VP8") == 0 || strcmp(name, "H264") == 0)) {
    if (m->media_pt < 0) m->media_pt = pt;
    else if (m->media_pt2 < 0 && pt != m->media_pt) m->media_pt2 = pt;
  }
  if (apt >= 0) {
    if (apt == m->media_pt) m->rtx_pt = pt;
    else if (apt == m->media_pt2) m->rtx_pt2 = pt;
  }
}

int load_answer_parse(const char *sdp, load_answer_t *a, char *err, size_t errlen) {
  memset(a, 0, sizeof *a);
  load_answer_media_t *m = NULL;
  const char *p = sdp;
  while (*p) {
    size_t len = strcspn(p, "\r\n");
    const char *line = p;
    p += len;
    while (*p == '\r' || *p == '\n') p++;
    char tmp[300];
    if (starts(line, len, "m=")) {
      if (a->n_media == sizeof a->media / sizeof a->media[0]) { m = NULL; continue; }
      m = &a->media[a->n_media++];
      m->media_pt = m->rtx_pt = m->media_pt2 = m->rtx_pt2 = -1;
      copy_val(tmp, sizeof tmp, line, len);
      unsigned port = 0;
      if (sscanf(tmp, "m=%*s %u", &port) == 1) m->port = (uint16_t)port;
      snprintf(m->dir, sizeof m->dir, "sendrecv");
    } else if (starts(line, len, "a=ice-ufrag:") && !a->ufrag[0]) {
      copy_val(a->ufrag, sizeof a->ufrag, line + 12, len - 12);
    } else if (starts(line, len, "a=ice-pwd:") && !a->pwd[0]) {
      copy_val(a->pwd, sizeof a->pwd, line + 10, len - 10);
    } else if (starts(line, len, "a=fingerprint:sha-256 ") && !a->fingerprint[0]) {
      copy_val(a->fingerprint, sizeof a->fingerprint, line + 22, len - 22);
    } else if (starts(line, len, "a=candidate:") && !a->port) {
      /* foundation component transport priority address port typ host */
      char proto[16], ip[64];
      unsigned port;
      copy_val(tmp, sizeof tmp, line, len);
      if (sscanf(tmp, "a=candidate:%*s %*u %15s %*u %63s %u", proto, ip, &port) == 3 &&
          (strcmp(proto, "udp") == 0 || strcmp(proto, "UDP") == 0) && port && port < 65536) {
        snprintf(a->ip, sizeof a->ip, "%s", ip);
        a->port = (uint16_t)port;
      }
    } else if (!m) {
      continue;
    } else if (starts(line, len, "a=mid:")) {
      copy_val(m->mid, sizeof m->mid, line + 6, len - 6);
    } else if (starts(line, len, "a=sendrecv") || starts(line, len, "a=sendonly") ||
               starts(line, len, "a=recvonly") || starts(line, len, "a=inactive")) {
      copy_val(m->dir, sizeof m->dir, line + 2, len - 2);
    } else if (starts(line, len, "a=ssrc-group:FID ")) {
      unsigned long x, y;
      copy_val(tmp, sizeof tmp, line, len);
      if (sscanf(tmp, "a=ssrc-group:FID %lu %lu", &x, &y) == 2) {
        m->ssrc = (uint32_t)x;
        m->rtx_ssrc = (uint32_t)y;
      }
    } else if (starts(line, len, "a=ssrc:")) {
      unsigned long x;
      copy_val(tmp, sizeof tmp, line, len);
      if (sscanf(tmp, "a=ssrc:%lu", &x) == 1 && !m->ssrc) m->ssrc = (uint32_t)x;
    } else if (starts(line, len, "a=rtpmap:")) {
      int pt;
      char name[32];
      copy_val(tmp, sizeof tmp, line, len);
      if (sscanf(tmp, "a=rtpmap:%d %31[^/]", &pt, name) == 2) note_codec(m, pt, name, -1);
    } else if (starts(line, len, "a=extmap:")) {
      /* RFC 8285 §8: a=extmap:<id>[/<direction>] <uri> [attributes] */
      int id;
      char uri[200];
      copy_val(tmp, sizeof tmp, line, len);
      if (sscanf(tmp, "a=extmap:%d%*[^ ] %199s", &id, uri) == 2 ||
          sscanf(tmp, "a=extmap:%d %199s", &id, uri) == 2)
        if (id >= 1 && id <= 255 && strcmp(uri, LOAD_URI_TWCC) == 0) m->twcc_ext = (uint8_t)id;
    } else if (starts(line, len, "a=fmtp:")) {
      int pt, apt;
      copy_val(tmp, sizeof tmp, line, len);
      if (sscanf(tmp, "a=fmtp:%d apt=%d", &pt, &apt) == 2) note_codec(m, pt, NULL, apt);
    }
  }
  const char *missing = !a->ufrag[0] ? "a=ice-ufrag" : !a->pwd[0] ? "a=ice-pwd"
                      : !a->fingerprint[0] ? "a=fingerprint:sha-256"
                      : !a->port ? "a UDP candidate" : NULL;
  if (missing) {
    snprintf(err, errlen, "answer has no %s", missing);
    return -1;
  }
  return 0;
}

const load_answer_media_t *load_answer_find(const load_answer_t *a, const char *mid) {
  for (size_t i = 0; i < a->n_media; i++)
    if (strcmp(a->media[i].mid, mid) == 0) return &a->media[i];
  return NULL;
}
