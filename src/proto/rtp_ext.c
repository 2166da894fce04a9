/* RTP header-extension URI table and id map (RFC 8285 §5). */
#include "sfu/rtp_ext.h"

#include <string.h>

#include "sfu/err.h"

/* URIs as Chromium offers them (checked against design/chrome-simulcast-offer.sdp);
 * abs-capture-time is not in that offer but is what libwebrtc registers. */
static const struct {
  const char *uri;
  const char *name;
} ext_table[SFU_EXT__COUNT] = {
    [SFU_EXT_NONE] = {NULL, "none"},
    [SFU_EXT_MID] = {"urn:ietf:params:rtp-hdrext:sdes:mid", "mid"},
    [SFU_EXT_RID] = {"urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id", "rid"},
    [SFU_EXT_REPAIRED_RID] = {"urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
                              "repaired-rid"},
    [SFU_EXT_ABS_SEND_TIME] = {"http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
                               "abs-send-time"},
    [SFU_EXT_TWCC] = {"http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
                      "twcc"},
    [SFU_EXT_AUDIO_LEVEL] = {"urn:ietf:params:rtp-hdrext:ssrc-audio-level", "audio-level"},
    [SFU_EXT_TOFFSET] = {"urn:ietf:params:rtp-hdrext:toffset", "toffset"},
    [SFU_EXT_VIDEO_ORIENTATION] = {"urn:3gpp:video-orientation", "video-orientation"},
    [SFU_EXT_PLAYOUT_DELAY] = {"http://www.webrtc.org/experiments/rtp-hdrext/playout-delay",
                               "playout-delay"},
    [SFU_EXT_DEPENDENCY_DESCRIPTOR] =
        {"https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension",
         "dependency-descriptor"},
    [SFU_EXT_ABS_CAPTURE_TIME] = {"http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time",
                                  "abs-capture-time"},
    [SFU_EXT_VIDEO_CONTENT_TYPE] =
        {"http://www.webrtc.org/experiments/rtp-hdrext/video-content-type", "video-content-type"},
    [SFU_EXT_VIDEO_TIMING] = {"http://www.webrtc.org/experiments/rtp-hdrext/video-timing",
                              "video-timing"},
    [SFU_EXT_COLOR_SPACE] = {"http://www.webrtc.org/experiments/rtp-hdrext/color-space",
                             "color-space"},
    [SFU_EXT_VIDEO_LAYERS_ALLOCATION] =
        {"http://www.webrtc.org/experiments/rtp-hdrext/video-layers-allocation00",
         "video-layers-allocation"},
};

sfu_rtp_ext_kind_t sfu_rtp_ext_kind_from_uri(const char *uri) {
  if (!uri) return SFU_EXT_NONE;
  for (int k = 1; k < SFU_EXT__COUNT; k++)
    if (strcmp(uri, ext_table[k].uri) == 0) return (sfu_rtp_ext_kind_t)k;
  return SFU_EXT_NONE;
}

const char *sfu_rtp_ext_uri(sfu_rtp_ext_kind_t k) {
  if ((unsigned)k >= SFU_EXT__COUNT) return NULL;
  return ext_table[k].uri;
}

const char *sfu_rtp_ext_name(sfu_rtp_ext_kind_t k) {
  if ((unsigned)k >= SFU_EXT__COUNT) return "none";
  return ext_table[k].name;
}

void sfu_rtp_ext_map_init(sfu_rtp_ext_map_t *m) {
  memset(m->id_of, 0, sizeof m->id_of);
  for (int i = 0; i < 256; i++) m->kind_of[i] = SFU_EXT_NONE;
}

int sfu_rtp_ext_map_set(sfu_rtp_ext_map_t *m, uint8_t id, sfu_rtp_ext_kind_t kind) {
  if (id == 0 || (unsigned)kind >= SFU_EXT__COUNT) return SFU_EINVAL;
  if (kind == SFU_EXT_NONE) return 0; /* unknown URI: nothing to look up, forwarded as is */
  if (m->kind_of[id] != SFU_EXT_NONE && m->kind_of[id] != kind) return SFU_EEXIST;
  if (m->id_of[kind] != 0 && m->id_of[kind] != id) return SFU_EEXIST;
  m->kind_of[id] = kind;
  m->id_of[kind] = id;
  return 0;
}
