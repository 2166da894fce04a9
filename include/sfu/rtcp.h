/* RTCP: compound iterator (RFC 3550 §6.1, RFC 5506 reduced size), typed parsers and
 * writers for the packets an SFU speaks.
 *
 * Parsers fill views into the caller's buffer; writers write into a caller buffer and
 * return the number of bytes written or a negative SFU_E* (SFU_ETOOBIG if cap is too
 * small). Nothing allocates, nothing keeps state: any thread.
 *
 * Files: rtcp.c (iterator, common feedback header), rtcp_sr_rr.c, rtcp_sdes_bye.c,
 * rtcp_feedback.c (NACK, PLI, FIR, REMB), rtcp_twcc.c.
 *
 * Additions vs /tmp/proto-apis.md (fields only added): `version`, `padding`, `raw`,
 * `raw_len` in sfu_rtcp_pkt_t; `failed` in sfu_rtcp_iter_t.
 */
#ifndef SFU_RTCP_H
#define SFU_RTCP_H

#include <stddef.h>
#include <stdint.h>

/* RTCP packet types (RFC 3550 §12.1, RFC 4585 §6.1, RFC 3611). */
enum {
  SFU_RTCP_SR = 200,
  SFU_RTCP_RR = 201,
  SFU_RTCP_SDES = 202,
  SFU_RTCP_BYE = 203,
  SFU_RTCP_APP = 204,
  SFU_RTCP_RTPFB = 205, /* transport-layer feedback */
  SFU_RTCP_PSFB = 206,  /* payload-specific feedback */
  SFU_RTCP_XR = 207
};
/* Feedback message types (FMT). */
enum {
  SFU_RTCP_RTPFB_NACK = 1,  /* RFC 4585 §6.2.1 */
  SFU_RTCP_RTPFB_TWCC = 15, /* draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1 */
  SFU_RTCP_PSFB_PLI = 1,    /* RFC 4585 §6.3.1 */
  SFU_RTCP_PSFB_FIR = 4,    /* RFC 5104 §4.3.1 */
  SFU_RTCP_PSFB_AFB = 15    /* application layer FB: REMB (draft-alvestrand-rmcat-remb-03) */
};

/* --- Compound iteration ---------------------------------------------------------------- */

/* One packet of a compound. View into the iterated buffer. */
typedef struct {
  uint8_t pt, fmt_or_count; /* packet type; the 5-bit RC/SC/FMT field */
  const uint8_t *body;      /* after the 4-byte common header, padding excluded */
  size_t body_len;
  uint32_t sender_ssrc;     /* first word of the body (SSRC of sender / first SSRC), 0 if none */
  uint8_t version, padding;
  const uint8_t *raw;       /* whole packet including header and padding (for forwarding) */
  size_t raw_len;
} sfu_rtcp_pkt_t;

/* Iterator state; owned by the caller (stack). */
typedef struct {
  const uint8_t *p, *end;
  int failed;
} sfu_rtcp_iter_t;

void sfu_rtcp_iter_init(sfu_rtcp_iter_t *it, const uint8_t *buf, size_t len);
/* 1 = got one, 0 = end, negative = malformed (SFU_ETRUNC: length field beyond the buffer,
 * SFU_EPARSE: version != 2, PT outside 192..223, bad padding count); after an error every
 * later call returns the same error. A lone feedback packet is valid (RFC 5506 §3): the
 * iterator does not insist on SR/RR first. Padding is accepted on any packet, not just
 * the last, because libwebrtc pads transport-cc feedback that way. */
int sfu_rtcp_iter_next(sfu_rtcp_iter_t *it, sfu_rtcp_pkt_t *out);

/* Counts the packets; negative if malformed anywhere (a whole-compound validity check,
 * RFC 3550 appendix A.2 minus the SR/RR-first rule). */
int sfu_rtcp_validate(const uint8_t *buf, size_t len);

/* --- SR / RR (RFC 3550 §6.4) ----------------------------------------------------------- */

/* One report block, decoded. Plain value. */
typedef struct {
  uint32_t ssrc;
  uint8_t fraction_lost;  /* 8-bit fixed point, /256 */
  int32_t cumulative_lost;/* 24-bit signed */
  uint32_t ext_highest_seq, jitter, lsr, dlsr;
} sfu_rtcp_rb_t;

/* SR sender info + report blocks view. */
typedef struct {
  uint32_t ssrc;
  uint64_t ntp;           /* 32.32 NTP timestamp */
  uint32_t rtp_ts, packet_count, octet_count;
  uint8_t rb_count;
  const uint8_t *blocks;  /* rb_count x 24 bytes */
} sfu_rtcp_sr_t;

typedef struct {
  uint32_t ssrc;
  uint8_t rb_count;
  const uint8_t *blocks;
} sfu_rtcp_rr_t;

#define SFU_RTCP_RB_SIZE 24
int sfu_rtcp_sr_parse(const sfu_rtcp_pkt_t *pkt, sfu_rtcp_sr_t *sr);
int sfu_rtcp_rr_parse(const sfu_rtcp_pkt_t *pkt, sfu_rtcp_rr_t *rr);
/* Decodes block i (< rb_count; caller checks) of an SR or RR. */
void sfu_rtcp_rb_get(const uint8_t *blocks, unsigned i, sfu_rtcp_rb_t *rb);
/* RR with n (<= 31) report blocks. */
int sfu_rtcp_write_rr(uint8_t *buf, size_t cap, uint32_t sender_ssrc, const sfu_rtcp_rb_t *rbs,
                      unsigned n);
/* SR with n (<= 31) report blocks. */
int sfu_rtcp_write_sr(uint8_t *buf, size_t cap, const sfu_rtcp_sr_t *info, const sfu_rtcp_rb_t *rbs,
                      unsigned n);

/* --- SDES / BYE (RFC 3550 §6.5, §6.6) ------------------------------------------------- */

enum { SFU_RTCP_SDES_END = 0, SFU_RTCP_SDES_CNAME = 1 };

typedef struct {
  const uint8_t *base, *p, *end;
  unsigned chunks_left;
  uint32_t ssrc;      /* of the current chunk */
  int in_chunk;
} sfu_rtcp_sdes_iter_t;

void sfu_rtcp_sdes_iter_init(sfu_rtcp_sdes_iter_t *it, const sfu_rtcp_pkt_t *pkt);
/* 1 = one item (ssrc of its chunk, type 1..255, text view), 0 = end, SFU_EPARSE/ETRUNC. */
int sfu_rtcp_sdes_next(sfu_rtcp_sdes_iter_t *it, uint32_t *ssrc, uint8_t *type,
                       const uint8_t **data, size_t *len);
/* First CNAME in the packet. SFU_ENOENT if none. */
int sfu_rtcp_sdes_cname(const sfu_rtcp_pkt_t *pkt, uint32_t *ssrc, const char **cname,
                        size_t *len);
/* One chunk with one CNAME item (cname_len 1..255). */
int sfu_rtcp_write_sdes_cname(uint8_t *buf, size_t cap, uint32_t ssrc, const char *cname,
                              size_t cname_len);

typedef struct {
  uint8_t count;
  const uint8_t *ssrcs;  /* count x 4 bytes */
  const char *reason;    /* NULL if none; not NUL-terminated */
  size_t reason_len;
} sfu_rtcp_bye_t;
int sfu_rtcp_bye_parse(const sfu_rtcp_pkt_t *pkt, sfu_rtcp_bye_t *bye);
uint32_t sfu_rtcp_bye_ssrc(const sfu_rtcp_bye_t *bye, unsigned i);
int sfu_rtcp_write_bye(uint8_t *buf, size_t cap, const uint32_t *ssrcs, unsigned n);

/* --- Feedback (RFC 4585 §6.1) --------------------------------------------------------- */

/* Common feedback header view: PT 205/206, FMT, sender and media SSRC, FCI. */
typedef struct {
  uint8_t pt, fmt;
  uint32_t sender_ssrc, media_ssrc;
  const uint8_t *fci;
  size_t fci_len;
} sfu_rtcp_fb_t;
/* SFU_EINVAL if pkt is not RTPFB/PSFB, SFU_ETRUNC if shorter than 8 bytes of body. */
int sfu_rtcp_fb_parse(const sfu_rtcp_pkt_t *pkt, sfu_rtcp_fb_t *fb);

/* Generic NACK (RFC 4585 §6.2.1): FCI is n x (PID 16 | BLP 16). Expands to the list of
 * lost sequence numbers, in FCI order, into seqs[cap]. *n = number written. Returns 0,
 * SFU_ELIMIT if more were lost than fit (the first cap are written), SFU_EPARSE if the
 * FCI is empty or not a multiple of 4. */
int sfu_rtcp_nack_parse(const sfu_rtcp_fb_t *fb, uint16_t *seqs, size_t cap, size_t *n);
/* Packs seqs (ascending modulo 2^16, as a NACK generator produces them) into PID+BLP
 * items. Any order works, just less compactly. n >= 1. */
int sfu_rtcp_write_nack(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc,
                        const uint16_t *seqs, size_t n);

/* PLI (RFC 4585 §6.3.1): no FCI. SFU_EINVAL if fb is not a PLI. */
int sfu_rtcp_pli_parse(const sfu_rtcp_fb_t *fb, uint32_t *media_ssrc);
int sfu_rtcp_write_pli(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc);

/* FIR (RFC 5104 §4.3.1): FCI is n x (SSRC 32 | seq nr 8 | reserved 24). */
unsigned sfu_rtcp_fir_count(const sfu_rtcp_fb_t *fb);
int sfu_rtcp_fir_entry(const sfu_rtcp_fb_t *fb, unsigned i, uint32_t *ssrc, uint8_t *seq_nr);
/* One FCI entry; media SSRC in the header is 0 as §4.3.1.2 requires. */
int sfu_rtcp_write_fir(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint32_t media_ssrc,
                       uint8_t seq_nr);

/* REMB (draft-alvestrand-rmcat-remb-03 §2.2): 'R''E''M''B' | num SSRC 8 | exp 6 |
 * mantissa 18 | SSRC feedback x num. */
typedef struct {
  uint64_t bitrate_bps;   /* mantissa << exp; UINT64_MAX if that overflows */
  uint8_t num_ssrc;
  const uint8_t *ssrcs;
} sfu_rtcp_remb_t;
/* SFU_EINVAL if not an AFB with the REMB identifier; SFU_ETRUNC if the SSRC list is cut. */
int sfu_rtcp_remb_parse(const sfu_rtcp_fb_t *fb, sfu_rtcp_remb_t *remb);
uint32_t sfu_rtcp_remb_ssrc(const sfu_rtcp_remb_t *remb, unsigned i);
/* bitrate rounded down to what 18 bits of mantissa can express; n <= 255. */
int sfu_rtcp_write_remb(uint8_t *buf, size_t cap, uint32_t sender_ssrc, uint64_t bitrate_bps,
                        const uint32_t *ssrcs, unsigned n);

/* --- Transport-wide congestion control feedback (draft-holmer-...-01 §3.1) ----------- */

enum {
  SFU_TWCC_NOT_RECEIVED = 0,
  SFU_TWCC_SMALL_DELTA = 1, /* received, delta 0..63.75 ms in 1 byte */
  SFU_TWCC_LARGE_DELTA = 2  /* received, delta signed 16 bits */
};

/* Feedback header fields. */
typedef struct {
  uint32_t sender_ssrc, media_ssrc;
  uint16_t base_seq, status_count;
  int32_t ref_time;       /* signed 24-bit, units of 64 ms */
  uint8_t fb_count;       /* feedback packet count (8-bit, wraps) */
} sfu_rtcp_twcc_t;

/* One packet's fate. seq = base_seq + index (mod 2^16). */
typedef struct {
  uint16_t seq;
  uint8_t status;         /* SFU_TWCC_* */
  int32_t delta;          /* units of 250 us, relative to the previous received packet
                             (the first: to ref_time); 0 if not received */
} sfu_rtcp_twcc_pkt_t;

#define SFU_TWCC_DELTA_US 250
#define SFU_TWCC_REF_TIME_US 64000

/* Parses into pkts[cap]; *n = status_count on success. SFU_ELIMIT if status_count > cap
 * (nothing partial is promised), SFU_EPARSE for a reserved symbol, SFU_ETRUNC for a
 * chunk/delta list that overruns the FCI, SFU_EINVAL if fb is not transport-cc. Bounded work: at most
 * status_count symbols and fci_len bytes are read. (sfu_rtcp_twcc_iter_init + _next.) */
int sfu_rtcp_twcc_parse(const sfu_rtcp_fb_t *fb, sfu_rtcp_twcc_t *hdr, sfu_rtcp_twcc_pkt_t *pkts,
                        size_t cap, size_t *n);

/* The same packets without an array: a consumer that takes them one by one (the
 * bandwidth estimator, per feedback of every viewer) walks the chunks and the deltas
 * together instead of having them written out and read back (twice the work, and an
 * array of status_count entries). init checks the whole FCI first, as sfu_rtcp_twcc_parse
 * does, and returns what it would (except SFU_ELIMIT: no cap here): 0, or the error
 * before anything is returned, so a consumer never acts on part of a bad feedback.
 * Then sfu_rtcp_twcc_next gives the status_count packets in order (1), then 0. The
 * iterator points into fb's buffer: valid while that is. */
typedef struct {
  const uint8_t *chunk; /* the next chunk */
  const uint8_t *delta; /* the next receive delta */
  uint32_t left;        /* packets after the current chunk's */
  uint32_t bits;        /* the current chunk's next symbol in the top 2 bits */
  uint32_t in_chunk;    /* packets of the current chunk not returned yet (<= left was) */
  uint16_t seq;         /* of the next packet */
  uint8_t step;         /* bits shifted out per symbol: 2 (a vector), 0 (a run) */
} sfu_rtcp_twcc_iter_t;

int sfu_rtcp_twcc_iter_init(const sfu_rtcp_fb_t *fb, sfu_rtcp_twcc_t *hdr,
                            sfu_rtcp_twcc_iter_t *it);

/* Loads the next chunk (init has checked that there is one) as 2-bit symbols from the
 * top of `bits`, so that a packet's symbol is one shift whatever the chunk's kind:
 * §3.1.3 run length chunk T=0 | S 2 | run 13: S at the top, not shifted; §3.1.4 status
 * vector T=1 | S | 7 two-bit symbols (S=1) as they are, or 14 one-bit symbols (S=0)
 * spread to two bits each (bit i to bit 2i). The chunk's symbols past status_count
 * are not counted in in_chunk, so that the per-packet test is in_chunk alone. */
static inline void sfu_rtcp_twcc_iter_chunk(sfu_rtcp_twcc_iter_t *it) {
  uint32_t c = (uint32_t)it->chunk[0] << 8 | it->chunk[1], n;
  it->chunk += 2;
  if (!(c & 0x8000)) {
    it->bits = (c >> 13) << 30;
    it->step = 0;
    n = c & 0x1FFF; /* a run of 0: the next chunk */
  } else if (c & 0x4000) {
    it->bits = (c & 0x3FFF) << 18;
    it->step = 2;
    n = 7;
  } else {
    uint32_t x = c & 0x3FFF;
    x = (x | x << 8) & 0x00FF00FFu;
    x = (x | x << 4) & 0x0F0F0F0Fu;
    x = (x | x << 2) & 0x33333333u;
    x = (x | x << 1) & 0x55555555u;
    it->bits = x << 4; /* bit 13 (the first symbol) went to 26: to 30 */
    it->step = 2;
    n = 14;
  }
  if (n > it->left) n = it->left;
  it->in_chunk = n;
  it->left -= n;
}

/* Inline, with the iterator's fields in registers when it is a local that does not
 * escape: per packet of every feedback. */
static inline int sfu_rtcp_twcc_next(sfu_rtcp_twcc_iter_t *it, sfu_rtcp_twcc_pkt_t *pk) {
  if (!it->in_chunk) {
    if (!it->left) return 0;
    do sfu_rtcp_twcc_iter_chunk(it);
    while (!it->in_chunk);
  }
  uint8_t s = (uint8_t)(it->bits >> 30);
  it->bits <<= it->step;
  it->in_chunk--;
  pk->seq = it->seq++;
  pk->status = s;
  if (s == SFU_TWCC_SMALL_DELTA) {
    pk->delta = it->delta[0];
    it->delta += 1;
  } else if (s == SFU_TWCC_LARGE_DELTA) {
    pk->delta = (int16_t)(uint16_t)(it->delta[0] << 8 | it->delta[1]);
    it->delta += 2;
  } else {
    pk->delta = 0;
  }
  return 1;
}
/* Writes a transport-cc feedback for pkts[0..n) (pkts[i].seq must be base_seq+i; status
 * decides what is encoded; a received packet's delta picks a small or a large symbol).
 * n 1..65535. SFU_EINVAL if a delta does not fit 16 bits signed. The packet is padded to
 * a 32-bit boundary with the P bit, as libwebrtc does. */
int sfu_rtcp_write_twcc(uint8_t *buf, size_t cap, const sfu_rtcp_twcc_t *hdr,
                        const sfu_rtcp_twcc_pkt_t *pkts, size_t n);

#endif
