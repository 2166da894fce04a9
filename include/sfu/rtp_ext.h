/* RTP header-extension kinds and the per-m-section id map (RFC 8285 §5, a=extmap).
 *
 * The SDP layer turns each "a=extmap:<id> <uri>" into a map entry; the media path then
 * asks "which id carries the mid / rid / twcc seq?" with one array load. Unknown URIs map
 * to SFU_EXT_NONE and are forwarded untouched (RFC 8285 §4.1: ignore unknown elements).
 */
#ifndef SFU_RTP_EXT_H
#define SFU_RTP_EXT_H

#include <stdint.h>

typedef enum {
  SFU_EXT_NONE,
  SFU_EXT_MID,                    /* urn:ietf:params:rtp-hdrext:sdes:mid (RFC 9143 §15.2) */
  SFU_EXT_RID,                    /* ...:sdes:rtp-stream-id (RFC 8852 §3.1) */
  SFU_EXT_REPAIRED_RID,           /* ...:sdes:repaired-rtp-stream-id (RFC 8852 §3.2) */
  SFU_EXT_ABS_SEND_TIME,          /* webrtc abs-send-time, 24-bit 6.18 fixed point */
  SFU_EXT_TWCC,                   /* draft-holmer-rmcat-transport-wide-cc-extensions-01 */
  SFU_EXT_AUDIO_LEVEL,            /* RFC 6464 */
  SFU_EXT_TOFFSET,                /* RFC 5450 */
  SFU_EXT_VIDEO_ORIENTATION,      /* 3GPP TS 26.114 CVO */
  SFU_EXT_PLAYOUT_DELAY,
  SFU_EXT_DEPENDENCY_DESCRIPTOR,  /* AV1 RTP spec appendix A */
  SFU_EXT_ABS_CAPTURE_TIME,
  SFU_EXT_VIDEO_CONTENT_TYPE,
  SFU_EXT_VIDEO_TIMING,
  SFU_EXT_COLOR_SPACE,
  SFU_EXT_VIDEO_LAYERS_ALLOCATION,
  SFU_EXT__COUNT
} sfu_rtp_ext_kind_t;

/* Exact URI match (case-sensitive, as RFC 8285 §5 URIs are compared); SFU_EXT_NONE if
 * unknown or NULL. */
sfu_rtp_ext_kind_t sfu_rtp_ext_kind_from_uri(const char *uri);
/* The canonical URI of a kind; NULL for SFU_EXT_NONE or out of range. */
const char *sfu_rtp_ext_uri(sfu_rtp_ext_kind_t k);
/* Short name for logs/JSON ("mid", "twcc", ...); "none" for unknown. */
const char *sfu_rtp_ext_name(sfu_rtp_ext_kind_t k);

/* Per-m-section map, both directions. id 0 means "not negotiated" (id 0 is reserved as
 * padding in RFC 8285 §4.2 and never valid). Valid ids: 1..14 one-byte, 1..255 two-byte.
 * Plain value type: owned by whoever embeds it (the SDP answer, later the router),
 * no heap, safe to copy; read-only once negotiation is done. */
typedef struct {
  uint8_t id_of[SFU_EXT__COUNT];
  sfu_rtp_ext_kind_t kind_of[256];
} sfu_rtp_ext_map_t;

/* Everything unmapped. */
void sfu_rtp_ext_map_init(sfu_rtp_ext_map_t *m);
/* Map id -> kind. SFU_EINVAL for id 0 or kind out of range; SFU_EEXIST if the id is
 * already mapped to a different kind or the kind (not NONE) already has another id.
 * kind SFU_EXT_NONE (an unknown URI) is accepted and changes nothing. */
int sfu_rtp_ext_map_set(sfu_rtp_ext_map_t *m, uint8_t id, sfu_rtp_ext_kind_t kind);

static inline uint8_t sfu_rtp_ext_map_id(const sfu_rtp_ext_map_t *m, sfu_rtp_ext_kind_t k) {
  return (unsigned)k < SFU_EXT__COUNT ? m->id_of[k] : 0;
}
static inline sfu_rtp_ext_kind_t sfu_rtp_ext_map_kind(const sfu_rtp_ext_map_t *m, uint8_t id) {
  return m->kind_of[id];
}

#endif
