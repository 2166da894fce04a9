/* SDP offer parser: RFC 8866 grammar, as JSEP (RFC 8829) peers use it.
 *
 * Tolerant where real peers differ (CRLF or LF, unknown lines and attributes ignored,
 * attribute order free), strict where the worker relies on a value (m= line format,
 * payload types 0..127, extmap ids, rid ids, DTLS setup). Bounded: input size, m-section
 * count and per-section tables (sfu/sdp.h). Everything kept is copied into one arena
 * allocated once per parse, so the result outlives the input and frees in one call.
 * Cost: one pass to count m= lines, one pass to parse; O(lines x small tables). */
#include "sfu/sdp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/sdp_internal.h"
#include "sfu/err.h"

int sfu_sdp_err(char *err, size_t errlen, int code, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return code;
}

/* A view of part of the input. */
typedef struct {
  const char *p;
  size_t n;
} span_t;

typedef struct {
  sfu_sdp_offer_t *o;
  sfu_sdp_arena_t arena;
  sfu_sdp_media_t *m;   /* current m-section; NULL at session level */
  size_t line_no;
  char *err;
  size_t errlen;
} pctx_t;

#define PERR(c, code, ...) sfu_sdp_err((c)->err, (c)->errlen, (code), __VA_ARGS__)

static int span_eq(span_t s, const char *lit) {
  size_t n = strlen(lit);
  return s.n == n && memcmp(s.p, lit, n) == 0;
}

/* Next token separated by spaces or tabs (RFC 8866 uses single SP; be lenient). */
static span_t next_tok(span_t *s) {
  while (s->n && (*s->p == ' ' || *s->p == '\t')) s->p++, s->n--;
  span_t t = {s->p, 0};
  while (t.n < s->n && s->p[t.n] != ' ' && s->p[t.n] != '\t') t.n++;
  s->p += t.n;
  s->n -= t.n;
  return t;
}

static span_t trim(span_t s) {
  while (s.n && (*s.p == ' ' || *s.p == '\t')) s.p++, s.n--;
  while (s.n && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t')) s.n--;
  return s;
}

/* Splits s at the first c: head before, *rest after (rest empty, found 0 if absent). */
static span_t split_at(span_t s, char c, span_t *rest, int *found) {
  const char *q = memchr(s.p, c, s.n);
  if (!q) {
    if (rest) *rest = (span_t){s.p + s.n, 0};
    if (found) *found = 0;
    return s;
  }
  if (rest) *rest = (span_t){q + 1, s.n - (size_t)(q + 1 - s.p)};
  if (found) *found = 1;
  return (span_t){s.p, (size_t)(q - s.p)};
}

/* Strict decimal: 1..10 digits, no sign, value <= max. */
static int parse_u64(span_t s, uint64_t max, uint64_t *out) {
  if (s.n == 0 || s.n > 20) return -1;
  uint64_t v = 0;
  for (size_t i = 0; i < s.n; i++) {
    if (s.p[i] < '0' || s.p[i] > '9') return -1;
    unsigned d = (unsigned)(s.p[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return -1;
    v = v * 10 + d;
  }
  if (v > max) return -1;
  *out = v;
  return 0;
}

/* RFC 8866 §9: token-char = %x21 / %x23-27 / %x2A-2B / %x2D-2E / %x30-39 / %x41-5A /
 * %x5E-7E; `slash` also allows '/' (proto = token *("/" token)). The answer echoes the
 * media, proto, fmt and mid of the offer: checked here, at most `max` bytes, so that
 * nothing an offerer writes there comes back as anything but a short token. */
static int is_token(span_t s, size_t max, int slash) {
  if (s.n == 0 || s.n > max) return 0;
  for (size_t i = 0; i < s.n; i++) {
    unsigned char ch = (unsigned char)s.p[i];
    int ok = ch == 0x21 || (ch >= 0x23 && ch <= 0x27) || ch == 0x2A || ch == 0x2B || ch == 0x2D ||
             ch == 0x2E || (ch >= 0x30 && ch <= 0x39) || (ch >= 0x41 && ch <= 0x5A) ||
             (ch >= 0x5E && ch <= 0x7E) || (slash && ch == '/');
    if (!ok) return 0;
  }
  return 1;
}

#define SDP_TOKEN_MAX 64

static const char *dup_span(pctx_t *c, span_t s) {
  return sfu_sdp_arena_strn(&c->arena, s.p, s.n);
}

#define DUP_OR_FAIL(c, dst, s)                                                       \
  do {                                                                               \
    if (!((dst) = dup_span((c), (s))))                                               \
      return PERR((c), SFU_ELIMIT, "line %zu: SDP arena exhausted", (c)->line_no);   \
  } while (0)

/* ---- m= line (RFC 8866 §5.14) ------------------------------------------------------ */

static sfu_sdp_proto_t classify_proto(span_t p) {
  if (span_eq(p, "UDP/TLS/RTP/SAVPF") || span_eq(p, "TCP/TLS/RTP/SAVPF"))
    return SFU_SDP_PROTO_RTP_SAVPF;
  if (span_eq(p, "UDP/DTLS/SCTP") || span_eq(p, "TCP/DTLS/SCTP")) return SFU_SDP_PROTO_SCTP;
  if (span_eq(p, "DTLS/SCTP")) return SFU_SDP_PROTO_SCTP_LEGACY;
  if (p.n >= 3 && memcmp(p.p, "RTP", 3) == 0) return SFU_SDP_PROTO_RTP_OTHER;
  if (p.n >= 7 && memcmp(p.p + p.n - 7, "RTP/AVP", 7) == 0) return SFU_SDP_PROTO_RTP_OTHER;
  return SFU_SDP_PROTO_OTHER;
}

static int is_rtp_proto(sfu_sdp_proto_t p) {
  return p == SFU_SDP_PROTO_RTP_SAVPF || p == SFU_SDP_PROTO_RTP_OTHER;
}

static int parse_m_line(pctx_t *c, span_t v) {
  sfu_sdp_offer_t *o = c->o;
  if (o->n_media >= SFU_SDP_MAX_MEDIA)
    return PERR(c, SFU_ELIMIT, "line %zu: more than %d m-sections", c->line_no,
                SFU_SDP_MAX_MEDIA);
  sfu_sdp_media_t *m = &o->media[o->n_media];
  span_t media = next_tok(&v), port = next_tok(&v), proto = next_tok(&v);
  span_t fmts = trim(v);
  if (!media.n || !port.n || !proto.n || !fmts.n)
    return PERR(c, SFU_EPARSE, "line %zu: m= needs <media> <port> <proto> <fmt>...",
                c->line_no);
  if (!is_token(media, SDP_TOKEN_MAX, 0) || !is_token(proto, SDP_TOKEN_MAX, 1))
    return PERR(c, SFU_EPARSE, "line %zu: m= media and proto must be SDP tokens of at most %d bytes",
                c->line_no, SDP_TOKEN_MAX);
  span_t fmt_rest = fmts;
  for (span_t t = next_tok(&fmt_rest); t.n; t = next_tok(&fmt_rest))
    if (!is_token(t, SDP_TOKEN_MAX, 0))
      return PERR(c, SFU_EPARSE, "line %zu: m= fmt must be SDP tokens of at most %d bytes",
                  c->line_no, SDP_TOKEN_MAX);
  span_t nports;
  int has_n;
  span_t portnum = split_at(port, '/', &nports, &has_n);
  uint64_t pv, nv;
  if (parse_u64(portnum, 65535, &pv) || (has_n && parse_u64(nports, 65535, &nv)))
    return PERR(c, SFU_EPARSE, "line %zu: bad port in m= line", c->line_no);
  m->port = (uint16_t)pv;
  m->kind = span_eq(media, "audio")         ? SFU_SDP_KIND_AUDIO
            : span_eq(media, "video")       ? SFU_SDP_KIND_VIDEO
            : span_eq(media, "application") ? SFU_SDP_KIND_APPLICATION
                                            : SFU_SDP_KIND_OTHER;
  m->proto = classify_proto(proto);
  m->dir = SFU_SDP_SENDRECV;
  DUP_OR_FAIL(c, m->media, media);
  DUP_OR_FAIL(c, m->proto_str, proto);
  DUP_OR_FAIL(c, m->fmt_str, fmts);
  if (is_rtp_proto(m->proto)) {
    /* RFC 8866 §5.14: RTP fmts are payload type numbers; RFC 3551 §3: 0..127. */
    span_t rest = fmts;
    for (span_t t = next_tok(&rest); t.n; t = next_tok(&rest)) {
      uint64_t pt;
      if (parse_u64(t, 127, &pt))
        return PERR(c, SFU_EPARSE, "line %zu: payload type '%.*s' not in 0..127", c->line_no,
                    (int)(t.n > 16 ? 16 : t.n), t.p);
      int dup = 0;
      for (size_t i = 0; i < m->n_codecs; i++) dup |= m->codecs[i].pt == pt;
      if (dup) continue;
      if (m->n_codecs >= SFU_SDP_MAX_CODECS)
        return PERR(c, SFU_ELIMIT, "line %zu: more than %d payload types", c->line_no,
                    SFU_SDP_MAX_CODECS);
      sfu_sdp_codec_t *k = &m->codecs[m->n_codecs++];
      k->pt = (uint8_t)pt;
      k->apt = -1;
    }
  } else if (m->proto == SFU_SDP_PROTO_SCTP_LEGACY) {
    /* Legacy form: the fmt is the SCTP port (draft-ietf-mmusic-sctp-sdp-05 §4). */
    uint64_t sp;
    span_t rest = fmts;
    if (!parse_u64(next_tok(&rest), 65535, &sp)) m->sctp_port = (uint16_t)sp;
  }
  o->n_media++;
  c->m = m;
  return 0;
}

/* ---- attributes --------------------------------------------------------------------- */

static sfu_sdp_codec_t *find_codec(sfu_sdp_media_t *m, uint64_t pt) {
  for (size_t i = 0; i < m->n_codecs; i++)
    if (m->codecs[i].pt == pt) return &m->codecs[i];
  return NULL;
}

static int attr_rtpmap(pctx_t *c, span_t v) {
  /* RFC 8866 §6.6: a=rtpmap:<payload type> <encoding name>/<clock rate>[/<params>] */
  sfu_sdp_media_t *m = c->m;
  span_t pts = next_tok(&v), enc = trim(v);
  uint64_t pt, rate, ch = 0;
  if (parse_u64(pts, 127, &pt))
    return PERR(c, SFU_EPARSE, "line %zu: rtpmap payload type not in 0..127", c->line_no);
  span_t rest, chs;
  int has_rate, has_ch;
  span_t name = split_at(enc, '/', &rest, &has_rate);
  span_t rs = split_at(rest, '/', &chs, &has_ch);
  if (!name.n || !has_rate || parse_u64(rs, UINT32_MAX, &rate) ||
      (has_ch && parse_u64(chs, 255, &ch)))
    return PERR(c, SFU_EPARSE, "line %zu: rtpmap needs <name>/<rate>[/<channels>]",
                c->line_no);
  sfu_sdp_codec_t *k = find_codec(m, pt);
  if (!k || k->name) return 0; /* not in the m= line, or a duplicate: ignore */
  DUP_OR_FAIL(c, k->name, name);
  k->clock_rate = (uint32_t)rate;
  k->channels = (uint8_t)ch;
  return 0;
}

static int attr_fmtp(pctx_t *c, span_t v) {
  sfu_sdp_media_t *m = c->m;
  span_t pts = next_tok(&v), params = trim(v);
  uint64_t pt;
  if (!is_rtp_proto(m->proto)) return 0;
  if (parse_u64(pts, 127, &pt))
    return PERR(c, SFU_EPARSE, "line %zu: fmtp payload type not in 0..127", c->line_no);
  /* Real fmtp values are under 200 bytes; one of kilobytes is garbage, said so. */
  if (params.n > SFU_SDP_MAX_FMTP)
    return PERR(c, SFU_ELIMIT, "line %zu: a=fmtp value of %zu bytes (limit %d)", c->line_no,
                params.n, SFU_SDP_MAX_FMTP);
  sfu_sdp_codec_t *k = find_codec(m, pt);
  if (!k || k->fmtp) return 0;
  DUP_OR_FAIL(c, k->fmtp, params);
  /* RFC 4588 §8.1: rtx "apt" names the payload type it repairs. */
  span_t rest = params;
  while (rest.n) {
    span_t kv = trim(split_at(rest, ';', &rest, NULL)), val;
    span_t key = split_at(kv, '=', &val, NULL);
    uint64_t apt;
    if (span_eq(key, "apt") && !parse_u64(trim(val), 127, &apt)) k->apt = (int16_t)apt;
  }
  return 0;
}

static int attr_rtcp_fb(pctx_t *c, span_t v) {
  /* RFC 4585 §4.2: a=rtcp-fb:<pt or *> <type> [<param>] */
  sfu_sdp_media_t *m = c->m;
  span_t pts = next_tok(&v), type = next_tok(&v), param = next_tok(&v);
  uint32_t bit = 0;
  if (span_eq(type, "nack"))
    bit = !param.n ? SFU_SDP_FB_NACK : span_eq(param, "pli") ? SFU_SDP_FB_NACK_PLI : 0;
  else if (span_eq(type, "ccm") && span_eq(param, "fir"))
    bit = SFU_SDP_FB_CCM_FIR;
  else if (span_eq(type, "goog-remb"))
    bit = SFU_SDP_FB_GOOG_REMB;
  else if (span_eq(type, "transport-cc"))
    bit = SFU_SDP_FB_TRANSPORT_CC;
  if (!is_rtp_proto(m->proto)) return 0;
  if (span_eq(pts, "*")) {
    for (size_t i = 0; i < m->n_codecs; i++) m->codecs[i].rtcp_fb |= bit;
    return 0;
  }
  uint64_t pt;
  if (parse_u64(pts, 127, &pt))
    return PERR(c, SFU_EPARSE, "line %zu: rtcp-fb payload type not in 0..127", c->line_no);
  sfu_sdp_codec_t *k = find_codec(m, pt);
  if (k) k->rtcp_fb |= bit;
  return 0;
}

static int parse_dir(span_t s, sfu_sdp_dir_t *d) {
  if (span_eq(s, "sendrecv")) *d = SFU_SDP_SENDRECV;
  else if (span_eq(s, "sendonly")) *d = SFU_SDP_SENDONLY;
  else if (span_eq(s, "recvonly")) *d = SFU_SDP_RECVONLY;
  else if (span_eq(s, "inactive")) *d = SFU_SDP_INACTIVE;
  else return -1;
  return 0;
}

static int attr_extmap(pctx_t *c, span_t v) {
  /* RFC 8285 §5: a=extmap:<value>["/"<direction>] <URI> <extensionattributes> */
  sfu_sdp_media_t *m = c->m;
  span_t idd = next_tok(&v), uri = next_tok(&v), dirs;
  int has_dir;
  span_t ids = split_at(idd, '/', &dirs, &has_dir);
  uint64_t id;
  sfu_sdp_dir_t dir = SFU_SDP_SENDRECV;
  if (parse_u64(ids, 4351, &id) || id == 0 || (id > 255 && id < 4096) || !uri.n ||
      (has_dir && parse_dir(dirs, &dir)))
    return PERR(c, SFU_EPARSE, "line %zu: extmap needs <id 1..255>[/<dir>] <uri>", c->line_no);
  /* The URI is echoed in the answer: a URI has no spaces or controls (RFC 3986), and the
   * ones WebRTC uses are short. '/' and the rest of VCHAR pass. */
  for (size_t i = 0; i < uri.n; i++)
    if ((unsigned char)uri.p[i] < 0x21 || (unsigned char)uri.p[i] > 0x7E || uri.n > 256)
      return PERR(c, SFU_EPARSE, "line %zu: extmap URI must be at most 256 printable bytes",
                  c->line_no);
  /* 4096..4351 are offer-only ids the answerer must remap (RFC 8285 §5); the worker never
   * needs them, so the extension is simply not accepted. */
  if (id > 255) return 0;
  if (!m) return 0; /* session-level extmap: no JSEP peer sends it; ignored */
  for (size_t i = 0; i < m->n_extmaps; i++)
    if (m->extmaps[i].id == id)
      return PERR(c, SFU_EPARSE, "line %zu: extmap id %u used twice in one m-section",
                  c->line_no, (unsigned)id);
  if (m->n_extmaps >= SFU_SDP_MAX_EXTMAPS)
    return PERR(c, SFU_ELIMIT, "line %zu: more than %d extmaps", c->line_no,
                SFU_SDP_MAX_EXTMAPS);
  sfu_sdp_extmap_t *e = &m->extmaps[m->n_extmaps];
  DUP_OR_FAIL(c, e->uri, uri);
  e->id = (uint16_t)id;
  e->has_dir = (uint8_t)has_dir;
  e->dir = dir;
  m->n_extmaps++;
  return 0;
}

/* RFC 8851 §10: rid-id = 1*(alpha-numeric / "-" / "_"); RFC 8852 carries it in a header
 * extension, and Chromium limits it to 16 bytes (one one-byte element); so do we. */
static int valid_rid(span_t s) {
  if (s.n == 0 || s.n > 16) return 0;
  for (size_t i = 0; i < s.n; i++) {
    char ch = s.p[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
          ch == '-' || ch == '_'))
      return 0;
  }
  return 1;
}

static int attr_rid(pctx_t *c, span_t v) {
  /* RFC 8851 §10: a=rid:<rid-id> SP <send|recv> [SP <restrictions>] */
  sfu_sdp_media_t *m = c->m;
  span_t id = next_tok(&v), dir = next_tok(&v), params = trim(v);
  if (!valid_rid(id) || !(span_eq(dir, "send") || span_eq(dir, "recv")))
    return PERR(c, SFU_EPARSE, "line %zu: rid needs <id: 1..16 of A-Za-z0-9_-> send|recv",
                c->line_no);
  for (size_t i = 0; i < m->n_rids; i++)
    if (span_eq(id, m->rids[i].id))
      return PERR(c, SFU_EPARSE, "line %zu: rid '%.*s' declared twice", c->line_no,
                  (int)id.n, id.p);
  if (m->n_rids >= SFU_SDP_MAX_RIDS)
    return PERR(c, SFU_ELIMIT, "line %zu: more than %d rids", c->line_no, SFU_SDP_MAX_RIDS);
  sfu_sdp_rid_t *r = &m->rids[m->n_rids];
  DUP_OR_FAIL(c, r->id, id);
  if (params.n) DUP_OR_FAIL(c, r->params, params);
  r->send = span_eq(dir, "send");
  m->n_rids++;
  return 0;
}

/* RFC 8853 §5.1: sc-str-list = sc-alt-list *(";" sc-alt-list);
 * sc-alt-list = sc-id *("," sc-id); sc-id = [sc-id-paused] rid-id; sc-id-paused = "~" */
static int parse_sim_list(pctx_t *c, span_t list, sfu_sdp_simulcast_t *sim) {
  if (sim->raw)
    return PERR(c, SFU_EPARSE, "line %zu: simulcast direction given twice", c->line_no);
  if (!list.n) return PERR(c, SFU_EPARSE, "line %zu: empty simulcast list", c->line_no);
  DUP_OR_FAIL(c, sim->raw, list);
  span_t rest = list;
  int more = 1;
  while (more) {
    span_t stream = split_at(rest, ';', &rest, &more);
    if (sim->n_streams >= SFU_SDP_MAX_RIDS)
      return PERR(c, SFU_ELIMIT, "line %zu: more than %d simulcast streams", c->line_no,
                  SFU_SDP_MAX_RIDS);
    size_t s = sim->n_streams++;
    int more_alt = 1;
    while (more_alt) {
      span_t alt = split_at(stream, ',', &stream, &more_alt);
      uint8_t paused = alt.n && alt.p[0] == '~';
      if (paused) alt.p++, alt.n--;
      if (!valid_rid(alt))
        return PERR(c, SFU_EPARSE, "line %zu: bad rid in simulcast list", c->line_no);
      /* One rid, one stream: listed twice it would be answered (and forwarded) twice,
       * and the answer's a=rid lines would declare it twice. */
      for (size_t t = 0; t <= s; t++)
        for (size_t k = 0; k < sim->streams[t].n_alts; k++)
          if (span_eq(alt, sim->streams[t].rid[k]))
            return PERR(c, SFU_EPARSE, "line %zu: rid '%.*s' twice in the simulcast list",
                        c->line_no, (int)alt.n, alt.p);
      if (sim->streams[s].n_alts >= SFU_SDP_MAX_SIM_ALTS)
        return PERR(c, SFU_ELIMIT, "line %zu: more than %d simulcast alternatives",
                    c->line_no, SFU_SDP_MAX_SIM_ALTS);
      size_t a = sim->streams[s].n_alts++;
      DUP_OR_FAIL(c, sim->streams[s].rid[a], alt);
      sim->streams[s].paused[a] = paused;
    }
  }
  return 0;
}

static int attr_simulcast(pctx_t *c, span_t v) {
  sfu_sdp_media_t *m = c->m;
  for (int i = 0; i < 2; i++) {
    span_t d = next_tok(&v);
    if (!d.n && i == 1) break;
    span_t list = next_tok(&v);
    int rc;
    if (span_eq(d, "send")) rc = parse_sim_list(c, list, &m->sim_send);
    else if (span_eq(d, "recv")) rc = parse_sim_list(c, list, &m->sim_recv);
    else return PERR(c, SFU_EPARSE, "line %zu: simulcast needs send|recv <list>", c->line_no);
    if (rc) return rc;
  }
  return 0;
}

static int attr_ssrc(pctx_t *c, span_t v) {
  /* RFC 5576 §4.1: a=ssrc:<ssrc-id> <attribute>[:<value>] */
  sfu_sdp_media_t *m = c->m;
  span_t ids = next_tok(&v), val, av = trim(v);
  uint64_t id;
  if (parse_u64(ids, UINT32_MAX, &id))
    return PERR(c, SFU_EPARSE, "line %zu: ssrc id not a 32-bit number", c->line_no);
  span_t an = split_at(av, ':', &val, NULL);
  sfu_sdp_ssrc_t *s = NULL;
  for (size_t i = 0; i < m->n_ssrcs; i++)
    if (m->ssrcs[i].ssrc == id) s = &m->ssrcs[i];
  if (!s) {
    if (m->n_ssrcs >= SFU_SDP_MAX_SSRCS)
      return PERR(c, SFU_ELIMIT, "line %zu: more than %d ssrcs", c->line_no,
                  SFU_SDP_MAX_SSRCS);
    s = &m->ssrcs[m->n_ssrcs++];
    s->ssrc = (uint32_t)id;
  }
  if (span_eq(an, "cname") && !s->cname && val.n) DUP_OR_FAIL(c, s->cname, val);
  return 0;
}

/* a=ssrc-group:SIM <ssrc>... : legacy simulcast, lowest layer first by convention (what
 * Chromium's SDP-munged simulcast writes). Only the first group is kept: an m-section
 * carries one track in unified plan. */
static int ssrc_group_sim(pctx_t *c, span_t v) {
  sfu_sdp_media_t *m = c->m;
  if (m->n_sim_ssrcs) return 0;
  uint32_t ids[SFU_SDP_MAX_SIM_SSRCS];
  size_t n = 0;
  for (span_t t = next_tok(&v); t.n; t = next_tok(&v)) {
    uint64_t id;
    if (parse_u64(t, UINT32_MAX, &id))
      return PERR(c, SFU_EPARSE, "line %zu: ssrc-group:SIM ssrc not a 32-bit number",
                  c->line_no);
    if (n >= SFU_SDP_MAX_SIM_SSRCS)
      return PERR(c, SFU_ELIMIT, "line %zu: more than %d ssrcs in ssrc-group:SIM", c->line_no,
                  SFU_SDP_MAX_SIM_SSRCS);
    for (size_t i = 0; i < n; i++)
      if (ids[i] == id)
        return PERR(c, SFU_EPARSE, "line %zu: ssrc %u twice in ssrc-group:SIM", c->line_no,
                    (unsigned)id);
    ids[n++] = (uint32_t)id;
  }
  if (!n) return PERR(c, SFU_EPARSE, "line %zu: ssrc-group:SIM without ssrcs", c->line_no);
  memcpy(m->sim_ssrcs, ids, n * sizeof ids[0]);
  m->n_sim_ssrcs = n;
  return 0;
}

static int attr_ssrc_group(pctx_t *c, span_t v) {
  sfu_sdp_media_t *m = c->m;
  span_t sem = next_tok(&v);
  if (span_eq(sem, "SIM")) return ssrc_group_sim(c, v);
  if (!span_eq(sem, "FID")) return 0; /* FEC-FR, ...: not used */
  uint64_t a, b;
  if (parse_u64(next_tok(&v), UINT32_MAX, &a) || parse_u64(next_tok(&v), UINT32_MAX, &b))
    return PERR(c, SFU_EPARSE, "line %zu: ssrc-group:FID needs two ssrcs", c->line_no);
  if (m->n_fids >= SFU_SDP_MAX_FIDS)
    return PERR(c, SFU_ELIMIT, "line %zu: more than %d FID groups", c->line_no,
                SFU_SDP_MAX_FIDS);
  m->fids[m->n_fids++] = (sfu_sdp_fid_t){(uint32_t)a, (uint32_t)b};
  return 0;
}

static int attr_fingerprint(pctx_t *c, sfu_sdp_tp_attrs_t *tp, span_t v) {
  /* RFC 8122 §5: a=fingerprint:<hash-func> <fingerprint>. Several may be given: the
   * certificate must match one of the set (sfu/fingerprint.h). Checked here, so that a
   * bad one is named with its line instead of failing later at transport creation. */
  span_t alg = next_tok(&v), fp = next_tok(&v);
  sfu_fp_hash_t h = alg.n ? sfu_fp_hash_from_name(alg.p, alg.n) : SFU_FP_NONE;
  if (h == SFU_FP_NONE)
    return PERR(c, SFU_EPARSE, "line %zu: malformed a=fingerprint (unknown hash function '%.*s')",
                c->line_no, (int)(alg.n > 16 ? 16 : alg.n), alg.p);
  sfu_fingerprint_t f;
  if (sfu_fingerprint_parse(&f, h, fp.p, fp.n) || next_tok(&v).n)
    return PERR(c, SFU_EPARSE,
                "line %zu: malformed a=fingerprint (%s needs %zu hex pairs separated by ':')",
                c->line_no, sfu_fp_hash_name(h), sfu_fp_hash_size(h));
  if (!sfu_fp_hash_usable(h)) {
    /* RFC 8122 §5: MD2 and MD5 MUST NOT be used to verify. Left out of the set; the
     * answer names the hash if nothing else is offered. */
    if (tp->fp_refused == SFU_FP_NONE) tp->fp_refused = h;
    return 0;
  }
  if (sfu_fingerprint_set_add(&tp->fingerprints, &f) == SFU_ELIMIT)
    return PERR(c, SFU_ELIMIT, "line %zu: more than %d a=fingerprint in one set", c->line_no,
                SFU_FP_SET_MAX);
  return 0;
}

/* RFC 8839 §5.4: ice-ufrag = 4*256ice-char, ice-pwd = 22*256ice-char, ice-char = ALPHA /
 * DIGIT / "+" / "/". Chromium, Firefox and aiortc all stay inside it (tests/data/sdp).
 * A ':' in a ufrag would make the STUN USERNAME "ours:theirs" ambiguous. */
static int ice_chars_ok(span_t v, size_t min) {
  if (v.n < min || v.n > 256) return 0;
  for (size_t i = 0; i < v.n; i++) {
    char ch = v.p[i];
    if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
          ch == '+' || ch == '/'))
      return 0;
  }
  return 1;
}

static int attr_group(pctx_t *c, span_t v) {
  /* RFC 5888 §5 / RFC 8843 §7.1: a=group:BUNDLE <mid> ... The worker has one transport,
   * so only the first BUNDLE group is used; other semantics (LS, ...) are ignored. */
  sfu_sdp_offer_t *o = c->o;
  span_t sem = next_tok(&v);
  if (!span_eq(sem, "BUNDLE") || o->has_bundle) return 0;
  o->has_bundle = 1;
  for (span_t t = next_tok(&v); t.n; t = next_tok(&v)) {
    if (o->n_bundle >= SFU_SDP_MAX_MEDIA)
      return PERR(c, SFU_ELIMIT, "line %zu: BUNDLE group too long", c->line_no);
    DUP_OR_FAIL(c, o->bundle_mids[o->n_bundle], t);
    o->n_bundle++;
  }
  return 0;
}

static int attr_transport(pctx_t *c, sfu_sdp_tp_attrs_t *tp, span_t name, span_t v,
                          int *handled) {
  *handled = 1;
  if (span_eq(name, "ice-ufrag")) {
    v = trim(v);
    if (!ice_chars_ok(v, 4))
      return PERR(c, SFU_EPARSE,
                  "line %zu: a=ice-ufrag '%.*s%s' invalid (RFC 8839: 4..256 of A-Z a-z 0-9 + /)",
                  c->line_no, (int)(v.n > 32 ? 32 : v.n), v.p, v.n > 32 ? "..." : "");
    if (!tp->ice_ufrag) DUP_OR_FAIL(c, tp->ice_ufrag, v);
  } else if (span_eq(name, "ice-pwd")) {
    v = trim(v);
    /* The password is a secret: its length only, never its value, in the message. */
    if (!ice_chars_ok(v, 22))
      return PERR(c, SFU_EPARSE,
                  "line %zu: a=ice-pwd invalid (%zu chars; RFC 8839: 22..256 of A-Z a-z 0-9 + /)",
                  c->line_no, v.n);
    if (!tp->ice_pwd) DUP_OR_FAIL(c, tp->ice_pwd, v);
  } else if (span_eq(name, "fingerprint")) {
    return attr_fingerprint(c, tp, v);
  } else if (span_eq(name, "setup")) {
    /* RFC 8842 §5.1 / RFC 4145 §4 */
    v = trim(v);
    tp->setup = span_eq(v, "actpass")    ? SFU_SDP_SETUP_ACTPASS
                : span_eq(v, "active")   ? SFU_SDP_SETUP_ACTIVE
                : span_eq(v, "passive")  ? SFU_SDP_SETUP_PASSIVE
                : span_eq(v, "holdconn") ? SFU_SDP_SETUP_HOLDCONN
                                         : SFU_SDP_SETUP_NONE;
    if (tp->setup == SFU_SDP_SETUP_NONE)
      return PERR(c, SFU_EPARSE, "line %zu: setup must be actpass|active|passive|holdconn",
                  c->line_no);
  } else if (span_eq(name, "ice-options")) {
    for (span_t t = next_tok(&v); t.n; t = next_tok(&v))
      if (span_eq(t, "trickle")) tp->ice_trickle = 1;
  } else {
    *handled = 0;
  }
  return 0;
}

static int attr_sctp(pctx_t *c, span_t name, span_t v, int *handled) {
  sfu_sdp_media_t *m = c->m;
  uint64_t x;
  *handled = 1;
  if (span_eq(name, "sctp-port")) {
    /* RFC 8841 §5.1 */
    if (parse_u64(trim(v), 65535, &x) || x == 0)
      return PERR(c, SFU_EPARSE, "line %zu: sctp-port not in 1..65535", c->line_no);
    m->sctp_port = (uint16_t)x;
  } else if (span_eq(name, "max-message-size")) {
    /* RFC 8841 §6.1: "A value of 0 indicates that the SDP offerer/answerer can handle
     * messages of any size"; absent means 64 KiB. 0 is the field's "absent" here, so
     * "any size" is kept as UINT32_MAX (the send buffer still bounds what we send). */
    if (parse_u64(trim(v), UINT32_MAX, &x))
      return PERR(c, SFU_EPARSE, "line %zu: max-message-size not a number", c->line_no);
    m->max_message_size = x == 0 ? UINT32_MAX : (uint32_t)x;
  } else if (span_eq(name, "sctpmap")) {
    /* Legacy: a=sctpmap:<port> webrtc-datachannel [<streams>] */
    span_t p = next_tok(&v), app = next_tok(&v);
    if (parse_u64(p, 65535, &x) || x == 0 || !app.n)
      return PERR(c, SFU_EPARSE, "line %zu: sctpmap needs <port> <app>", c->line_no);
    m->sctp_port = (uint16_t)x;
    m->has_sctpmap = 1;
  } else {
    *handled = 0;
  }
  return 0;
}

static int attr_flag(sfu_sdp_media_t *m, span_t name) {
  if (!parse_dir(name, &m->dir)) return 1;
  if (span_eq(name, "rtcp-mux")) m->rtcp_mux = 1;
  else if (span_eq(name, "rtcp-mux-only")) m->rtcp_mux_only = m->rtcp_mux = 1;
  else if (span_eq(name, "rtcp-rsize")) m->rtcp_rsize = 1;
  else if (span_eq(name, "bundle-only")) m->bundle_only = 1;
  else if (span_eq(name, "end-of-candidates")) m->end_of_candidates = 1;
  else if (span_eq(name, "extmap-allow-mixed")) m->extmap_allow_mixed = 1;
  else return 0;
  return 1;
}

static int attr_media(pctx_t *c, span_t name, span_t v) {
  sfu_sdp_media_t *m = c->m;
  int handled, rc;
  if ((rc = attr_transport(c, &m->tp, name, v, &handled)) || handled) return rc;
  if ((rc = attr_sctp(c, name, v, &handled)) || handled) return rc;
  if (attr_flag(m, name)) return 0;
  if (span_eq(name, "mid")) {
    v = trim(v);
    /* RFC 8843 §4 / RFC 5888 §4: identification-tag = token; bounded for our logs. */
    if (!is_token(v, SDP_TOKEN_MAX, 0))
      return PERR(c, SFU_EPARSE, "line %zu: a=mid must be an SDP token of at most %d bytes",
                  c->line_no, SDP_TOKEN_MAX);
    if (m->mid) return PERR(c, SFU_EPARSE, "line %zu: second a=mid", c->line_no);
    for (size_t i = 0; i + 1 < c->o->n_media; i++)
      if (c->o->media[i].mid && span_eq(v, c->o->media[i].mid))
        return PERR(c, SFU_EPARSE, "line %zu: mid '%.*s' used twice", c->line_no, (int)v.n,
                    v.p);
    DUP_OR_FAIL(c, m->mid, v);
    return 0;
  }
  if (span_eq(name, "rtpmap")) return is_rtp_proto(m->proto) ? attr_rtpmap(c, v) : 0;
  if (span_eq(name, "fmtp")) return attr_fmtp(c, v);
  if (span_eq(name, "rtcp-fb")) return attr_rtcp_fb(c, v);
  if (span_eq(name, "extmap")) return attr_extmap(c, v);
  if (span_eq(name, "rid")) return attr_rid(c, v);
  if (span_eq(name, "simulcast")) return attr_simulcast(c, v);
  if (span_eq(name, "ssrc")) return attr_ssrc(c, v);
  if (span_eq(name, "ssrc-group")) return attr_ssrc_group(c, v);
  if (span_eq(name, "candidate")) {
    /* RFC 8839 §5.1. Kept for logs/diagnostics; an ICE-lite agent never uses them. */
    m->n_candidates_seen++;
    if (m->n_candidates < SFU_SDP_MAX_CANDIDATES)
      DUP_OR_FAIL(c, m->candidates[m->n_candidates++], trim(v));
    return 0;
  }
  return 0; /* unknown attribute: ignored (RFC 8866 §5.13) */
}

static int attr_session(pctx_t *c, span_t name, span_t v) {
  sfu_sdp_offer_t *o = c->o;
  int handled, rc;
  if ((rc = attr_transport(c, &o->session_tp, name, v, &handled)) || handled) return rc;
  if (span_eq(name, "group")) return attr_group(c, v);
  if (span_eq(name, "ice-lite")) o->ice_lite = 1;
  else if (span_eq(name, "extmap-allow-mixed")) o->extmap_allow_mixed = 1;
  else if (span_eq(name, "extmap")) return attr_extmap(c, v); /* validated, then ignored */
  return 0;
}

static int parse_line(pctx_t *c, char type, span_t v) {
  if (type == 'm') return parse_m_line(c, v);
  if (type == 'o' && !c->m) {
    /* RFC 8866 §5.2: o=<username> <sess-id> <sess-version> <nettype> <addrtype> <addr> */
    span_t rest = v, id, ver;
    next_tok(&rest);
    id = next_tok(&rest);
    ver = next_tok(&rest);
    uint64_t x;
    if (!parse_u64(id, UINT64_MAX, &x)) c->o->origin_sess_id = x;
    if (!parse_u64(ver, UINT64_MAX, &x)) c->o->origin_sess_version = x;
    return 0;
  }
  if (type != 'a') return 0; /* c=, b=, s=, t=, i=, ...: nothing the worker needs */
  span_t val;
  span_t name = split_at(v, ':', &val, NULL);
  if (!name.n) return PERR(c, SFU_EPARSE, "line %zu: empty attribute", c->line_no);
  return c->m ? attr_media(c, name, val) : attr_session(c, name, val);
}

/* RFC 8839 §5.4, RFC 8122 §5: media-level values win, session level is the default. */
static void inherit_session(sfu_sdp_offer_t *o) {
  const sfu_sdp_tp_attrs_t *s = &o->session_tp;
  for (size_t i = 0; i < o->n_media; i++) {
    sfu_sdp_tp_attrs_t *t = &o->media[i].tp;
    if (!t->ice_ufrag) t->ice_ufrag = s->ice_ufrag;
    if (!t->ice_pwd) t->ice_pwd = s->ice_pwd;
    /* RFC 8122 §5: the session-level set "applies to all TLS sessions for which no
     * media-level fingerprint attribute is defined" - a media-level set replaces it. */
    if (!t->fingerprints.n && t->fp_refused == SFU_FP_NONE)
      t->fingerprints = s->fingerprints, t->fp_refused = s->fp_refused;
    if (t->setup == SFU_SDP_SETUP_NONE) t->setup = s->setup;
    t->ice_trickle |= s->ice_trickle;
    if (o->media[i].proto == SFU_SDP_PROTO_SCTP && !o->media[i].sctp_port)
      o->media[i].sctp_port = 5000; /* RFC 8841 §5.2: default when a=sctp-port is absent */
  }
}

static int count_m_lines(const char *sdp, size_t len, size_t *n) {
  *n = 0;
  for (size_t i = 0; i < len; i++) {
    if (sdp[i] == '\0') return -1;
    if ((i == 0 || sdp[i - 1] == '\n') && sdp[i] == 'm' && i + 1 < len && sdp[i + 1] == '=')
      (*n)++;
  }
  return 0;
}

static int parse_lines(pctx_t *c, const char *sdp, size_t len) {
  size_t pos = 0;
  int seen_v = 0;
  while (pos < len) {
    const char *nl = memchr(sdp + pos, '\n', len - pos);
    size_t end = nl ? (size_t)(nl - sdp) : len;
    span_t line = {sdp + pos, end - pos};
    pos = nl ? end + 1 : len;
    c->line_no++;
    if (line.n && line.p[line.n - 1] == '\r') line.n--; /* CRLF (RFC 8866 §5) or bare LF */
    /* RFC 8866 §9: a value is byte-string or text, neither of which holds CR or LF. A CR
     * inside a line would reach the answer wherever a value is echoed (mid, extmap URI,
     * ...) and split the line there for a peer that also ends lines at a CR. */
    if (memchr(line.p, '\r', line.n))
      return PERR(c, SFU_EPARSE, "line %zu: CR inside a line (RFC 8866 §9: only CRLF ends one)",
                  c->line_no);
    if (!line.n) continue; /* blank lines (a trailing one is common): tolerated */
    if (line.n < 2 || line.p[1] != '=' || line.p[0] < 'a' || line.p[0] > 'z')
      return PERR(c, SFU_EPARSE, "line %zu: not <type>=<value>", c->line_no);
    if (!seen_v) {
      /* RFC 8866 §5.1: the first line is v=0. */
      if (line.p[0] != 'v' || line.n != 3 || line.p[2] != '0')
        return PERR(c, SFU_EPARSE, "line %zu: SDP must start with v=0", c->line_no);
      seen_v = 1;
      continue;
    }
    int rc = parse_line(c, line.p[0], (span_t){line.p + 2, line.n - 2});
    if (rc) return rc;
  }
  if (!seen_v) return PERR(c, SFU_EPARSE, "empty SDP");
  return 0;
}

int sfu_sdp_parse(const char *sdp, size_t len, sfu_sdp_offer_t **out, char *err,
                  size_t errlen) {
  size_t nm;
  if (err && errlen) err[0] = '\0';
  if (!out) return sfu_sdp_err(err, errlen, SFU_EINVAL, "no output");
  *out = NULL;
  if (!sdp || !len) return sfu_sdp_err(err, errlen, SFU_EPARSE, "empty SDP");
  if (len > SFU_SDP_MAX_SIZE)
    return sfu_sdp_err(err, errlen, SFU_ELIMIT, "SDP larger than %d bytes", SFU_SDP_MAX_SIZE);
  if (count_m_lines(sdp, len, &nm))
    return sfu_sdp_err(err, errlen, SFU_EPARSE, "NUL byte in SDP");
  if (nm > SFU_SDP_MAX_MEDIA)
    return sfu_sdp_err(err, errlen, SFU_ELIMIT, "more than %d m-sections", SFU_SDP_MAX_MEDIA);
  /* One allocation: struct, m-sections, then strings. Every kept string is a copy of a
   * part of one line plus a NUL charged to the separator after it; simulcast rids are
   * copied twice (raw list + each rid), so 2x the input bounds the string bytes. */
  size_t hdr = (sizeof(sfu_sdp_offer_t) + 7u) & ~(size_t)7u;
  size_t cap = hdr + nm * sizeof(sfu_sdp_media_t) + 2 * len + 64;
  char *mem = malloc(cap);
  if (!mem) return sfu_sdp_err(err, errlen, SFU_ENOMEM, "out of memory");
  pctx_t c = {.arena = {mem, cap, 0}, .err = err, .errlen = errlen};
  c.o = sfu_sdp_arena_alloc(&c.arena, sizeof(sfu_sdp_offer_t));
  c.o->media = nm ? sfu_sdp_arena_alloc(&c.arena, nm * sizeof(sfu_sdp_media_t)) : NULL;
  int rc = parse_lines(&c, sdp, len);
  if (rc) {
    free(mem);
    return rc;
  }
  inherit_session(c.o);
  *out = c.o;
  return 0;
}

void sfu_sdp_offer_free(sfu_sdp_offer_t *o) {
  free(o); /* the offer struct is the first thing in its arena block */
}

const char *sfu_sdp_dir_name(sfu_sdp_dir_t d) {
  switch (d) {
    case SFU_SDP_SENDRECV: return "sendrecv";
    case SFU_SDP_SENDONLY: return "sendonly";
    case SFU_SDP_RECVONLY: return "recvonly";
    case SFU_SDP_INACTIVE: return "inactive";
  }
  return "inactive";
}

const char *sfu_sdp_kind_name(sfu_sdp_kind_t k) {
  switch (k) {
    case SFU_SDP_KIND_AUDIO: return "audio";
    case SFU_SDP_KIND_VIDEO: return "video";
    case SFU_SDP_KIND_APPLICATION: return "application";
    case SFU_SDP_KIND_OTHER: break;
  }
  return "other";
}
