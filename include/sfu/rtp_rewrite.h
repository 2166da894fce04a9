/* The numbering of one viewer-stream: what one viewer sees of one published stream as ONE
 * continuous RTP stream, whatever simulcast layer the router forwards at the moment.
 *
 * The router picks a source (a layer's SSRC, with its own sequence / timestamp / VP8
 * picture id spaces), calls sfu_rewrite_switch at that source's keyframe, then
 * sfu_rewrite_map for every packet it forwards (the switch packet included) and
 * sfu_rewrite_skip for every packet of the source it will not forward (padding-only,
 * garbage), sfu_rewrite_drop for the packets of frames it will not forward (temporal
 * layers the viewer does not get: no sequence slot, no picture id). The rewriter answers the
 * outgoing sequence number, timestamp, picture id and TL0PICIDX, and remembers the last
 * SFU_REWRITE_RING packets sent so that a viewer's NACK can be answered byte for byte.
 *
 * The outgoing sequence space is the viewer's (design/media.md): a source packet that is
 * lost keeps its slot (the viewer NACKs it, and it is forwarded into that slot if it comes
 * late, e.g. as RTX); a skipped packet takes no slot. When a slot can no longer be filled
 * (a packet skipped after later ones were sent, or a layer switch leaving unfilled slots
 * behind), it becomes a "hole": sfu_rewrite_take_hole hands it to the router, which sends
 * a padding-only packet there (sfu_rtp_padding_build) so the viewer sees no gap.
 *
 * Sans-IO, no allocation, no clock. Owned by the router (one per viewer and stream it
 * watches, embedded in its viewer-stream struct, ~18 KB); touched only by the meeting's
 * loop thread.
 */
#ifndef SFU_RTP_REWRITE_H
#define SFU_RTP_REWRITE_H

#include <stddef.h>
#include <stdint.h>

#define SFU_REWRITE_RING 512 /* sent packets remembered (for NACK answers), power of 2 */
/* Source packets a late one may be behind the newest, power of 2: ~1 s of a 2.5 Mbit/s
 * layer, enough for RTX after a NACK round trip. */
#define SFU_REWRITE_WINDOW 256
#define SFU_REWRITE_HOLES 16                  /* slots waiting for a padding packet */
#define SFU_REWRITE_DEFAULT_FRAME_TICKS 3000u /* 90 kHz / 30 fps */

/* One packet sent to the viewer. valid: 1 sent (lookup returns only these); 2 a reserved
 * slot of a packet not (yet) received; 0 nothing. twcc_seq / has_twcc / last_resend_us
 * belong to the router: map() zeroes them for a new packet and never touches them again,
 * so a resend can reuse the transport-wide seq the first copy had. */
typedef struct {
  uint32_t src_ssrc;
  uint16_t src_seq;
  uint16_t out_seq;
  uint32_t out_ts;
  uint16_t pic_id;
  uint8_t tl0;
  uint8_t valid;
  uint16_t twcc_seq;
  uint8_t has_twcc;
  uint64_t last_resend_us;
} sfu_rw_sent_t;

/* What the rewriter needs of one source packet (the router parsed it once). */
typedef struct {
  uint32_t src; /* the source layer's SSRC */
  uint16_t seq;
  uint32_t ts;
  uint8_t keyframe;    /* this packet is the first packet of a keyframe (a switch point) */
  uint8_t frame_start; /* first packet of a frame (any) */
  /* VP8 only (has_pic_id 0 otherwise) */
  uint8_t has_pic_id;
  uint16_t pic_id;
  uint8_t pic_id_bits; /* 7 or 15 */
  uint8_t has_tl0;
  uint8_t tl0;
} sfu_rw_in_t;

/* The outgoing values of one packet. pic_id is 15-bit (0..0x7FFF) whatever the source's
 * field width; pic_id / tl0 are meaningful only when the input had them. */
typedef struct {
  uint16_t seq;
  uint32_t ts;
  uint16_t pic_id;
  uint8_t tl0;
} sfu_rw_out_t;

/* A counter of the source (picture id, TL0PICIDX) unwrapped and mapped linearly onto the
 * output's: out = base_out + (ext - base_ext), less the values dropped before ext (picture
 * ids only: sfu_rw_drops_t). Private. */
typedef struct {
  int32_t max_ext;  /* newest source value seen (mapped or dropped), unwrapped */
  int32_t base_ext; /* the source value that maps to base_out */
  uint16_t base_out;
  uint16_t out_max; /* newest output value sent */
  uint8_t set;      /* base known for the current source */
  uint8_t sent_any; /* out_max valid */
} sfu_rw_counter_t;

/* Dropped picture ids remembered (sfu_rewrite_drop): ~3 s of a 30 fps stream cut to T0
 * (3 frames of 4 dropped); a late packet older than the oldest is not mapped. */
#define SFU_REWRITE_DROPS 64

/* The picture ids dropped since the switch: a ring of the newest, ascending. Private. */
typedef struct {
  uint32_t total;
  uint8_t head, n; /* head: the slot the next one takes */
  int32_t ext[SFU_REWRITE_DROPS];
} sfu_rw_drops_t;

/* Owned by the router's viewer-stream (embedded, no heap); plain data, no pointers. */
typedef struct sfu_rewrite {
  uint32_t out_ssrc;
  uint32_t src;     /* current source SSRC (valid if started) */
  uint8_t started;  /* a switch happened */
  uint8_t sent_any; /* a packet was mapped: last_out_ts is valid */
  uint8_t n_holes;
  /* Sequence numbers: source seqs unwrapped to 64 bits. */
  int64_t base_ext;  /* the switch packet: anything older is stale */
  int64_t max_ext;   /* the newest source packet seen (mapped or skipped) */
  uint16_t next_out; /* the slot the next new source packet gets */
  /* Timestamps: out = src + ts_offset (mod 2^32) within one source. */
  uint32_t first_ts;
  uint32_t ts_offset;
  uint32_t last_out_ts;  /* newest sent (RTP wrap-aware) */
  uint32_t src_frame_ts; /* the source's newest frame start */
  uint32_t frame_ticks;  /* estimated frame spacing */
  uint8_t has_src_frame_ts;
  uint16_t first_pic_id;
  sfu_rw_counter_t pic, tl0;
  sfu_rw_drops_t pic_drops;
  /* Counters (for the router's figures). */
  uint64_t mapped, stale, skipped, holes, holes_lost, dropped_pics;
  uint16_t hole_seq[SFU_REWRITE_HOLES];
  /* The last SFU_REWRITE_WINDOW source packets by source seq: slot state and out seq. */
  uint8_t win_state[SFU_REWRITE_WINDOW];
  uint16_t win_out[SFU_REWRITE_WINDOW];
  sfu_rw_sent_t ring[SFU_REWRITE_RING]; /* by out_seq % SFU_REWRITE_RING */
} sfu_rewrite_t;

/* Starts an outgoing stream. The first packet forwarded (after the first switch) gets
 * first_seq, first_ts (unless the switch gives a timestamp) and first_pic_id (15 bits);
 * TL0PICIDX starts at 0. */
void sfu_rewrite_init(sfu_rewrite_t *rw, uint32_t out_ssrc, uint16_t first_seq, uint32_t first_ts,
                      uint16_t first_pic_id);

/* The next packet forwarded comes from source in->src (a new layer, or the first ever,
 * or the same source resynchronised after a jump), starting with `in` (a keyframe's first
 * packet; call sfu_rewrite_map with it next). has_ts_out: the timestamp that packet must
 * get (the router maps it through the layers' RTCP sender reports, NTP<->RTP); else last
 * sent ts + one frame interval (the previous source's frame spacing, default 3000).
 * Either way the result is > the last sent ts (a ts_out that is not becomes last + 1).
 * Picture id and TL0PICIDX continue from the last sent + 1. Sequence numbers continue;
 * unfilled slots of the previous source become holes (or are reused when nothing was
 * sent after them). */
void sfu_rewrite_switch(sfu_rewrite_t *rw, const sfu_rw_in_t *in, int has_ts_out, uint32_t ts_out);

/* A packet of the current source: 0 and *out filled; SFU_ESTALE if it must not be
 * forwarded (another source, older than the switch point, older than the window, or a
 * packet that was skipped). A reordered or late packet (RTX) gets the slot it would have
 * had; a duplicate of a packet already sent gets that packet's values again (its ring
 * entry untouched: the router decides whether to forward). Records new packets in the
 * ring. */
int sfu_rewrite_map(sfu_rewrite_t *rw, const sfu_rw_in_t *in, sfu_rw_out_t *out);

/* The current source's packet `seq` will never be forwarded (padding-only, garbage): it
 * takes no slot. In order (the common case) that is
 * free; when later packets already took the slots after it, its slot becomes a hole. */
void sfu_rewrite_skip(sfu_rewrite_t *rw, uint32_t src, uint16_t seq);

/* The current source's packet `in` belongs to a frame the viewer does not get (a
 * temporal layer above its target: sfu/temporal_filter.h): out of the sequence space
 * like sfu_rewrite_skip, and its picture id out of the picture id space, so that the
 * viewer sees contiguous picture ids (libwebrtc's VP8 reference finder reads a gap as a
 * frame it lacks and waits for it; mediasoup and Janus renumber the same way). A value
 * is taken out only while nothing newer went out; a packet of a frame that overtook
 * later ones leaves a gap (its neighbours' values are sent already). TL0PICIDX is left
 * as it is: only TID > 0 frames are ever dropped, and TL0PICIDX counts TID 0 frames. */
void sfu_rewrite_drop(sfu_rewrite_t *rw, const sfu_rw_in_t *in);

/* A slot that must be filled with a padding-only packet (ts: the last sent): 1 and *out
 * filled, 0 if none. Call after skip and switch until 0. */
int sfu_rewrite_take_hole(sfu_rewrite_t *rw, sfu_rw_out_t *out);

/* What was sent as out_seq (NULL if never sent or not in the ring any more). The router
 * resends from it: the original packet (from the publisher's history by src_ssrc/src_seq)
 * rebuilt with exactly these fields gives byte-identical plaintext. */
sfu_rw_sent_t *sfu_rewrite_lookup(sfu_rewrite_t *rw, uint16_t out_seq);

/* out_seq is a slot of the current source still waiting for its packet (lost upstream or
 * not yet received): 1 and its source seq (the router may take it from the publisher's
 * history, map it and send it), else 0. */
int sfu_rewrite_pending(const sfu_rewrite_t *rw, uint16_t out_seq, uint16_t *src_seq);

#endif
