/* RFC 8122 §5 certificate fingerprints: hash names, text form, sets (sfu/fingerprint.h).
 * No OpenSSL here: the DTLS core maps a hash to its EVP_MD and computes the digest. */
#include "sfu/fingerprint.h"

#include <string.h>
#include <strings.h>

#include "sfu/err.h"
#include "sfu/ids.h"

/* IANA "Hash Function Textual Names" (RFC 8122 §5, §8), with digest sizes. `rank` orders
 * the usable ones for the RFC 8122 §5 selection: stronger is preferred (0: never used). */
static const struct {
  sfu_fp_hash_t hash;
  const char *name;
  uint8_t size;
  uint8_t rank;
} hashes[] = {
    {SFU_FP_SHA1, "sha-1", 20, 1},     {SFU_FP_SHA224, "sha-224", 28, 2},
    {SFU_FP_SHA256, "sha-256", 32, 3}, {SFU_FP_SHA384, "sha-384", 48, 4},
    {SFU_FP_SHA512, "sha-512", 64, 5}, {SFU_FP_MD5, "md5", 16, 0},
    {SFU_FP_MD2, "md2", 16, 0},
};
#define N_HASHES (sizeof hashes / sizeof hashes[0])

static int index_of(sfu_fp_hash_t h) {
  for (size_t i = 0; i < N_HASHES; i++)
    if (hashes[i].hash == h) return (int)i;
  return -1;
}

sfu_fp_hash_t sfu_fp_hash_from_name(const char *name, size_t len) {
  for (size_t i = 0; name && i < N_HASHES; i++)
    if (strlen(hashes[i].name) == len && strncasecmp(name, hashes[i].name, len) == 0)
      return hashes[i].hash;
  return SFU_FP_NONE;
}

const char *sfu_fp_hash_name(sfu_fp_hash_t h) {
  int i = index_of(h);
  return i < 0 ? "" : hashes[i].name;
}

size_t sfu_fp_hash_size(sfu_fp_hash_t h) {
  int i = index_of(h);
  return i < 0 ? 0 : hashes[i].size;
}

static int rank_of(sfu_fp_hash_t h) {
  int i = index_of(h);
  return i < 0 ? 0 : hashes[i].rank;
}

int sfu_fp_hash_usable(sfu_fp_hash_t h) { return rank_of(h) > 0; }

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int sfu_fingerprint_parse(sfu_fingerprint_t *fp, sfu_fp_hash_t h, const char *text, size_t len) {
  size_t n = sfu_fp_hash_size(h);
  /* RFC 8122 §5: fingerprint = 2UHEX *(":" 2UHEX); upper-case is the grammar, lower-case
   * is what some peers send, and a value is a value. */
  if (!n || !text || len != 3 * n - 1) return SFU_EINVAL;
  memset(fp, 0, sizeof *fp);
  for (size_t i = 0; i < n; i++) {
    const char *p = text + 3 * i;
    int hi = hexval(p[0]), lo = hexval(p[1]);
    if (hi < 0 || lo < 0 || (i + 1 < n && p[2] != ':')) return SFU_EINVAL;
    fp->digest[i] = (uint8_t)(hi << 4 | lo);
  }
  fp->hash = h;
  fp->len = (uint8_t)n;
  return 0;
}

char *sfu_fingerprint_format(const sfu_fingerprint_t *fp, char *out, size_t cap) {
  static const char hex[] = "0123456789ABCDEF";
  if (!cap) return out;
  out[0] = '\0';
  if (!fp->len || fp->len > SFU_FP_MAX_DIGEST || cap < 3u * fp->len) return out;
  for (size_t i = 0; i < fp->len; i++) {
    out[3 * i] = hex[fp->digest[i] >> 4];
    out[3 * i + 1] = hex[fp->digest[i] & 15];
    out[3 * i + 2] = i + 1 < fp->len ? ':' : '\0';
  }
  return out;
}

int sfu_fingerprint_equal(const sfu_fingerprint_t *a, const sfu_fingerprint_t *b) {
  return a->hash == b->hash && a->len == b->len && memcmp(a->digest, b->digest, a->len) == 0;
}

static int set_has(const sfu_fingerprint_set_t *s, const sfu_fingerprint_t *fp) {
  for (size_t i = 0; i < s->n; i++)
    if (sfu_fingerprint_equal(&s->fp[i], fp)) return 1;
  return 0;
}

int sfu_fingerprint_set_add(sfu_fingerprint_set_t *s, const sfu_fingerprint_t *fp) {
  if (!sfu_fp_hash_usable(fp->hash) || fp->len != sfu_fp_hash_size(fp->hash)) return SFU_EINVAL;
  if (set_has(s, fp)) return 0;
  if (s->n >= SFU_FP_SET_MAX) return SFU_ELIMIT;
  s->fp[s->n++] = *fp;
  return 0;
}

/* Both sets are duplicate-free (set_add), so equal sizes and a ⊆ b mean a = b. O(n²) on
 * at most 8 members. */
int sfu_fingerprint_set_equal(const sfu_fingerprint_set_t *a, const sfu_fingerprint_set_t *b) {
  if (a->n != b->n) return 0;
  for (size_t i = 0; i < a->n; i++)
    if (!set_has(b, &a->fp[i])) return 0;
  return 1;
}

int sfu_fingerprint_set_intersects(const sfu_fingerprint_set_t *a, const sfu_fingerprint_set_t *b) {
  for (size_t i = 0; i < a->n; i++)
    if (set_has(b, &a->fp[i])) return 1;
  return 0;
}

sfu_fp_hash_t sfu_fingerprint_set_preferred(const sfu_fingerprint_set_t *s) {
  sfu_fp_hash_t best = SFU_FP_NONE;
  for (size_t i = 0; i < s->n; i++)
    if (rank_of(s->fp[i].hash) > rank_of(best)) best = s->fp[i].hash;
  return best;
}

int sfu_fingerprint_set_matches(const sfu_fingerprint_set_t *s, const uint8_t *digest, size_t len) {
  sfu_fp_hash_t h = sfu_fingerprint_set_preferred(s);
  int match = 0;
  for (size_t i = 0; h != SFU_FP_NONE && i < s->n; i++)
    if (s->fp[i].hash == h) match |= sfu_ct_equal(digest, len, s->fp[i].digest, s->fp[i].len);
  return match;
}
