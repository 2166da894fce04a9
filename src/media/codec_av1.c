/* AV1 RTP aggregation header (see sfu/codec_av1.h). */
#include "sfu/codec_av1.h"

#include "sfu/err.h"

int sfu_av1_parse(const uint8_t *p, size_t len, sfu_av1_info_t *info) {
  *info = (sfu_av1_info_t){0};
  /* §4.4: |Z|Y| W |N|-|-|-| then OBU elements; a packet carries at least one byte of
   * one (a bare header is nothing to forward). */
  if (len < 2) return SFU_ETRUNC;
  info->continuation = p[0] >> 7;
  info->continues = (p[0] >> 6) & 1;
  info->obu_count = (p[0] >> 4) & 0x03;
  info->new_sequence = (p[0] >> 3) & 1;
  /* "N: MUST be set to 1 if the packet is the first packet of a coded video sequence
   * ... NOTE: if N is equal to 1 then Z must be equal to 0." */
  if (info->new_sequence && info->continuation) return SFU_EPARSE;
  info->keyframe = info->new_sequence;
  return 0;
}
