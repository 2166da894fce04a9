/* The packet a viewer gets (see sfu/rtp_forward.h). One pass: gather the extension
 * elements (a handful of pointers on the stack), size everything, write header, block and
 * payload. The payload memcpy is the whole cost for a full-size packet. */
#include "sfu/rtp_forward.h"

#include <string.h>

#include "sfu/bytes.h"
#include "sfu/codec_vp8.h"
#include "sfu/err.h"

/* The publisher's extensions a viewer gets (by kind, under its own ids): they describe the
 * media itself, not the publisher's layers or its hop. */
#define COPY_KINDS                                                                               \
  ((1u << SFU_EXT_TOFFSET) | (1u << SFU_EXT_VIDEO_ORIENTATION) | (1u << SFU_EXT_PLAYOUT_DELAY) | \
   (1u << SFU_EXT_ABS_CAPTURE_TIME) | (1u << SFU_EXT_VIDEO_CONTENT_TYPE) |                       \
   (1u << SFU_EXT_VIDEO_TIMING) | (1u << SFU_EXT_COLOR_SPACE) |                                  \
   (1u << SFU_EXT_DEPENDENCY_DESCRIPTOR))
_Static_assert(SFU_EXT__COUNT <= 32, "kinds fit a 32-bit mask");

#define MAX_ELEMS (3 + 8) /* ours + one per copied kind */

typedef struct {
  uint8_t id, len;
  const uint8_t *data;
} ext_elem_t;

/* The elements to write and the block's size (0: no block). */
typedef struct {
  ext_elem_t el[MAX_ELEMS];
  size_t n;
  int two_byte;
  size_t block_len; /* 4-byte header + elements + zero padding to a word */
  uint8_t twcc[2], abs[3];
} ext_plan_t;

static void plan_add(ext_plan_t *pl, uint8_t id, const uint8_t *data, size_t len) {
  /* RFC 8285 §4.2: the one-byte form carries ids 1..14 and 1..16 bytes. */
  if (id > 14 || len == 0 || len > 16) pl->two_byte = 1;
  pl->el[pl->n++] = (ext_elem_t){.id = id, .len = (uint8_t)len, .data = data};
}

static int plan_ext(ext_plan_t *pl, const sfu_rtp_hdr_t *in, const sfu_fwd_params_t *p) {
  pl->n = 0;
  pl->two_byte = 0;
  pl->block_len = 0;
  const sfu_rtp_ext_map_t *om = p->out_map;
  if (!om) return 0;
  uint8_t id;
  if ((id = om->id_of[SFU_EXT_MID]) && p->mid && p->mid_len) {
    if (p->mid_len > 255) return SFU_EINVAL;
    plan_add(pl, id, (const uint8_t *)p->mid, p->mid_len);
  }
  if ((id = om->id_of[SFU_EXT_TWCC]) && p->has_twcc) {
    sfu_wr16(pl->twcc, p->twcc_seq);
    plan_add(pl, id, pl->twcc, 2);
  }
  if ((id = om->id_of[SFU_EXT_ABS_SEND_TIME]) && p->has_abs_send_time) {
    sfu_wr24(pl->abs, p->abs_send_time & 0xFFFFFFu);
    plan_add(pl, id, pl->abs, 3);
  }
  if (p->in_map && in && sfu_rtp_ext_is_rfc8285(in)) {
    sfu_rtp_ext_iter_t it;
    const uint8_t *data;
    size_t len;
    uint32_t seen = 0;
    sfu_rtp_ext_iter_init(&it, in);
    /* A malformed tail ends the copy: what came before it is still good. */
    while (sfu_rtp_ext_iter_next(&it, &id, &data, &len) == 1) {
      sfu_rtp_ext_kind_t k = sfu_rtp_ext_map_kind(p->in_map, id);
      uint32_t bit = 1u << k;
      uint8_t oid = om->id_of[k];
      if (!(COPY_KINDS & bit) || (seen & bit) || !oid) continue;
      seen |= bit;
      plan_add(pl, oid, data, len);
    }
  }
  if (pl->n == 0) return 0;
  size_t body = 0;
  for (size_t i = 0; i < pl->n; i++) body += (pl->two_byte ? 2u : 1u) + pl->el[i].len;
  pl->block_len = 4 + ((body + 3) & ~(size_t)3);
  return 0;
}

static void write_ext(uint8_t *o, const ext_plan_t *pl) {
  /* RFC 8285 §4.2 / §4.3: profile 0xBEDE or 0x100 + appbits 0, length in words. */
  sfu_wr16(o, pl->two_byte ? SFU_RTP_EXT_PROFILE_TWO_BYTE : SFU_RTP_EXT_PROFILE_ONE_BYTE);
  sfu_wr16(o + 2, (uint16_t)((pl->block_len - 4) / 4));
  uint8_t *w = o + 4, *end = o + pl->block_len;
  for (size_t i = 0; i < pl->n; i++) {
    const ext_elem_t *e = &pl->el[i];
    if (pl->two_byte) {
      *w++ = e->id;
      *w++ = e->len;
    } else {
      *w++ = (uint8_t)(e->id << 4 | (e->len - 1));
    }
    memcpy(w, e->data, e->len);
    w += e->len;
  }
  memset(w, 0, (size_t)(end - w)); /* padding bytes are 0 (RFC 8285 §4.1) */
}

/* Fixed header and extension block; returns the bytes written. */
static size_t write_header(uint8_t *o, const sfu_fwd_params_t *p, int marker, uint8_t cc,
                           const uint8_t *csrcs, const ext_plan_t *pl) {
  o[0] = (uint8_t)(0x80 | (pl->block_len ? 0x10 : 0) | cc);
  o[1] = (uint8_t)((marker ? 0x80 : 0) | (p->pt & 0x7f));
  sfu_wr16(o + 2, p->seq);
  sfu_wr32(o + 4, p->ts);
  sfu_wr32(o + 8, p->ssrc);
  size_t n = SFU_RTP_HDR_MIN;
  if (cc) {
    memcpy(o + n, csrcs, 4u * cc);
    n += 4u * cc;
  }
  if (pl->block_len) {
    write_ext(o + n, pl);
    n += pl->block_len;
  }
  return n;
}

int sfu_rtp_forward_build(uint8_t *out, size_t cap, const sfu_rtp_hdr_t *in,
                          const struct sfu_vp8_desc *d, const sfu_fwd_params_t *p) {
  if (!in || !p || in->payload_len == 0) return SFU_EINVAL; /* padding-only: not media */
  ext_plan_t pl;
  int r = plan_ext(&pl, in, p);
  if (r < 0) return r;

  /* VP8 descriptor (RFC 7741 §4.2): the PictureID field always leaves as |1|15 bits|. */
  const uint8_t *pay = in->payload;
  size_t pay_len = in->payload_len, pid_off = 0, pid_len = 0, grow = 0;
  int vp8 = p->vp8 && d;
  if (vp8) {
    if (d->desc_len == 0 || d->desc_len > pay_len) return SFU_EINVAL;
    if (d->picture_id_bits) {
      pid_off = d->picture_id_off;
      pid_len = d->picture_id_bits == 15 ? 2 : 1;
      if (pid_off == 0 || pid_off + pid_len > d->desc_len) return SFU_EINVAL;
      grow = 2 - pid_len;
    }
    if (d->has_tl0picidx && (d->tl0picidx_off == 0 || d->tl0picidx_off >= d->desc_len))
      return SFU_EINVAL;
  }

  size_t hdr_len = SFU_RTP_HDR_MIN + 4u * in->csrc_count + pl.block_len;
  size_t total = hdr_len + pay_len + grow;
  if (total > cap || total > INT32_MAX) return SFU_ETOOBIG;

  int marker = p->marker < 0 ? in->marker : p->marker;
  uint8_t *o = out + write_header(out, p, marker, in->csrc_count, in->raw + SFU_RTP_HDR_MIN, &pl);
  if (vp8 && pid_len) {
    memcpy(o, pay, pid_off);
    o[pid_off] = (uint8_t)(0x80 | ((p->pic_id >> 8) & 0x7f));
    o[pid_off + 1] = (uint8_t)p->pic_id;
    memcpy(o + pid_off + 2, pay + pid_off + pid_len, pay_len - pid_off - pid_len);
  } else {
    memcpy(o, pay, pay_len);
  }
  /* TL0PICIDX follows the PictureID: it moved with the growth. */
  if (vp8 && d->has_tl0picidx) o[d->tl0picidx_off + grow] = p->tl0;
  return (int)total;
}

int sfu_rtp_padding_build(uint8_t *out, size_t cap, size_t pad_len, const sfu_fwd_params_t *p) {
  if (!p || pad_len == 0 || pad_len > 255) return SFU_EINVAL;
  ext_plan_t pl;
  int r = plan_ext(&pl, NULL, p);
  if (r < 0) return r;
  size_t total = SFU_RTP_HDR_MIN + pl.block_len + pad_len;
  if (total > cap) return SFU_ETOOBIG;
  size_t n = write_header(out, p, p->marker > 0, 0, NULL, &pl);
  out[0] |= 0x20; /* P: RFC 3550 §5.1, the last octet counts the padding, itself included */
  memset(out + n, 0, pad_len - 1);
  out[n + pad_len - 1] = (uint8_t)pad_len;
  return (int)total;
}
