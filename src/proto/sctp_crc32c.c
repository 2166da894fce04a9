/* CRC32c (RFC 4960 Appendix B, Castagnoli) of SCTP packets we send, so that usrsctp
 * need not (see sctp.c "Checksums"). With SSE 4.2 (every x86-64 CPU since 2008) the
 * crc32 instruction does 8 bytes a cycle or so; elsewhere usrsctp's own table code. */
#include <stdint.h>
#include <string.h>

#include <usrsctp.h>

#include "sfu/sctp.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define HAVE_SSE42_PATH 1

__attribute__((target("sse4.2"))) static uint32_t crc_sse42(const uint8_t *p, size_t n) {
  uint64_t c = 0xffffffffu;
  while (n >= 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
    p += 8;
    n -= 8;
  }
  uint32_t c32 = (uint32_t)c;
  while (n--) c32 = _mm_crc32_u8(c32, *p++);
  return ~c32; /* little-endian host: stored as is, as usrsctp's sctp_finalize_crc32c */
}
#endif

static int g_sse42 = -1; /* unknown yet; a benign race (every thread computes the same) */

uint32_t sfu_sctp_crc32c(const uint8_t *buf, size_t len) {
#ifdef HAVE_SSE42_PATH
  if (g_sse42 < 0) g_sse42 = __builtin_cpu_supports("sse4.2") ? 1 : 0;
  if (g_sse42) return crc_sse42(buf, len);
#endif
  return usrsctp_crc32c((void *)buf, len);
}

void sfu_sctp_set_checksum(uint8_t *pkt, size_t len) {
  if (len < 12) return;
  memset(pkt + 8, 0, 4); /* RFC 4960 §6.8: computed with the field zero */
  uint32_t c = sfu_sctp_crc32c(pkt, len);
  memcpy(pkt + 8, &c, 4);
}
