/* RFC 7983 demux: the classifier itself is inline in sfu/demux.h. */
#include "sfu/demux.h"

const char *sfu_demux_kind_name(sfu_pkt_kind_t k) {
  switch (k) {
  case SFU_PKT_STUN: return "stun";
  case SFU_PKT_DTLS: return "dtls";
  case SFU_PKT_RTP: return "rtp";
  case SFU_PKT_RTCP: return "rtcp";
  default: return "unknown";
  }
}
