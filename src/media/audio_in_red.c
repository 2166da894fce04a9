/* RFC 2198 redundant audio (red/48000/2 carrying Opus) for one incoming stream
 * (audio_in_internal.h): the header list, and the redundant blocks that fill the slots of
 * packets that did not come. The primary is handled by the caller as a plain packet. */
#include "audio_in_internal.h"

/* One RFC 2198 §3 header list: returns the number of blocks (primary last) or -1. Each
 * header is 4 bytes (F = 1: PT, 14-bit timestamp offset, 10-bit length) but the last (F =
 * 0: PT only), whose block is what remains of the payload. */
int sfu_ain_red_parse(const uint8_t *p, size_t len, red_block_t *b) {
  size_t off = 0;
  int n = 0;
  for (;;) {
    if (off >= len || n == RED_MAX_BLOCKS) return -1;
    uint8_t h = p[off];
    b[n].pt = h & 0x7f;
    if (!(h & 0x80)) { /* the last header: the primary, its length is what remains */
      off++;
      n++;
      break;
    }
    if (off + 4 > len) return -1;
    b[n].ts_off = (p[off + 1] << 6) | (p[off + 2] >> 2);
    b[n].len = ((p[off + 2] & 3) << 8) | p[off + 3];
    off += 4;
    n++;
  }
  for (int i = 0; i < n - 1; i++) {
    if (off + (size_t)b[i].len > len) return -1;
    b[i].p = p + off;
    off += (size_t)b[i].len;
  }
  b[n - 1].ts_off = 0;
  b[n - 1].p = p + off;
  b[n - 1].len = (int)(len - off);
  return n;
}

/* Stores the redundant blocks that fill a missing packet. The blocks are the sender's
 * previous packets in order (libwebrtc's RED encoder), so block i of n-1 is seq
 * primary - (n-1-i). */
void sfu_ain_red_fill(sfu_audio_in_t *a, const red_block_t *b, int n, int64_t seq, int64_t ts) {
  for (int i = 0; i < n - 1; i++) {
    if (b[i].pt != a->cfg.opus_pt || b[i].ts_off == 0) continue;
    int64_t rseq = seq - (n - 1 - i), rts = ts - b[i].ts_off;
    if (sfu_ain_seen(a, rseq) || sfu_ain_slot_at(a, rts)) continue; /* the primary came */
    int dur = sfu_ain_opus_duration(b[i].p, (size_t)b[i].len);
    if (dur < 0) {
      a->st.bad_payloads++;
      continue;
    }
    if (a->playing && rts + dur <= a->next_ts) continue; /* already past */
    if (a->last_seq != NO_SEQ && rseq <= a->last_seq) continue;
    sfu_ain_slot_store(a, rseq, rts, b[i].p, b[i].len, dur, -1, 1);
  }
}
