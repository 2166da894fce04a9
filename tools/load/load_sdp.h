/* The synthetic attendee's side of SDP: an offer shaped like Chromium's (BUNDLE,
 * rtcp-mux, setup:actpass, one host candidate, a sendonly video section with rid
 * simulcast, recvonly video sections), and the few facts it needs from the worker's
 * answer (ICE credentials, fingerprint, UDP candidate, per section the SSRCs the worker
 * declares, the payload types and the transport-wide-cc extension id it answered).
 *
 * Pure functions on caller-owned structs, no allocation beyond the returned offer text;
 * any thread. */
#ifndef SFU_LOAD_SDP_H
#define SFU_LOAD_SDP_H

#include <stddef.h>
#include <stdint.h>

#define LOAD_MAX_RECV 25  /* recvonly sections (SFU_ROUTER_MAX_VIEWS) */
#define LOAD_MAX_MEDIA (LOAD_MAX_RECV + 1)
#define LOAD_MID_MAX 33

typedef enum { LOAD_VP8 = 0, LOAD_H264 = 1 } load_codec_t;

/* Payload types as Chromium numbers them. */
#define LOAD_PT_VP8 96
#define LOAD_PT_VP8_RTX 97
#define LOAD_PT_H264 102
#define LOAD_PT_H264_RTX 103

/* Extension ids the offer declares (the worker's answer echoes them). */
#define LOAD_EXT_ABS_SEND_TIME 2
#define LOAD_EXT_TWCC 3
#define LOAD_EXT_MID 4
#define LOAD_EXT_RID 10
#define LOAD_EXT_RRID 11
#define LOAD_URI_TWCC "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"

typedef struct {
  const char *ufrag, *pwd;
  const char *fingerprint;  /* sha-256 "AB:CD:..." of our certificate */
  uint16_t port;            /* our UDP host candidate on 127.0.0.1 */
  uint64_t session_id, session_version;
  const char *cname, *msid_stream, *msid_track;
  /* Publishing (mid "0") if publish. */
  int publish;
  load_codec_t codec;
  int layers;               /* 1, or 3: a=rid q/h/f + a=simulcast:send q;h;f */
  int pub_rtx;
  int pub_ssrcs;            /* declare a=ssrc (+ SIM / FID groups); Chromium does not */
  uint32_t ssrcs[3], rtx_ssrcs[3];
  /* Receiving: n_recv recvonly sections after it, mids numbered on; inactive ones (a
   * re-offer that shrank) keep their mid with a=inactive. */
  size_t n_recv;
  uint8_t recv_inactive[LOAD_MAX_RECV];
  int recv_rtx;
  /* An application section (SCTP over DTLS, RFC 8841, Chromium's form) after the
   * others, its mid the next number: the data channels of issue 10's bench. */
  int data;
} load_offer_t;

/* The mid of receive section i ("1".. with a publish section, else "0".."); the data
 * section's mid is the count of the others. */
void load_recv_mid(const load_offer_t *o, size_t i, char out[LOAD_MID_MAX]);
/* The offer text (malloc'd, CRLF lines, NUL-terminated), NULL on no memory. */
char *load_offer_write(const load_offer_t *o);

typedef struct {
  char mid[LOAD_MID_MAX];
  char dir[10];             /* "sendrecv" "sendonly" "recvonly" "inactive" as answered */
  uint16_t port;            /* m= port (0: rejected) */
  uint32_t ssrc, rtx_ssrc;  /* a=ssrc / a=ssrc-group:FID (0: none declared) */
  int media_pt, rtx_pt;     /* first video codec answered, and its RTX; -1 none */
  int media_pt2;            /* a second video codec (-1 none): either may arrive */
  int rtx_pt2;
  uint8_t twcc_ext;         /* a=extmap id of transport-wide-cc (0: not answered) */
} load_answer_media_t;

typedef struct {
  char ufrag[260], pwd[260], fingerprint[200];
  char ip[64];
  uint16_t port;            /* first UDP candidate */
  size_t n_media;
  load_answer_media_t media[LOAD_MAX_MEDIA + 4];
} load_answer_t;

/* 0, or -1 with a reason in err (missing credentials, fingerprint or UDP candidate). */
int load_answer_parse(const char *sdp, load_answer_t *a, char *err, size_t errlen);
/* The section with this mid, or NULL. */
const load_answer_media_t *load_answer_find(const load_answer_t *a, const char *mid);

#endif
