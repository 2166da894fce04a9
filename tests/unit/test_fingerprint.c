/* RFC 8122 §5 fingerprints (src/proto/fingerprint.c): hash names, the text form (every
 * hash, every truncation, hostile shapes), and sets (dedup, cap, equality, the preferred
 * hash and matching). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sfu/err.h"
#include "sfu/fingerprint.h"
#include "test.h"

static const struct {
  const char *name;
  sfu_fp_hash_t hash;
  size_t size;
  int usable;
} names[] = {{"sha-1", SFU_FP_SHA1, 20, 1},     {"sha-224", SFU_FP_SHA224, 28, 1},
             {"sha-256", SFU_FP_SHA256, 32, 1}, {"sha-384", SFU_FP_SHA384, 48, 1},
             {"sha-512", SFU_FP_SHA512, 64, 1}, {"md5", SFU_FP_MD5, 16, 0},
             {"md2", SFU_FP_MD2, 16, 0}};

/* "XX:XX:..." of n bytes starting at b, incrementing. */
static char *text_of(size_t n, unsigned b, int lower) {
  char *s = malloc(3 * n + 1);
  for (size_t i = 0; i < n; i++)
    snprintf(s + 3 * i, 4, lower ? "%02x:" : "%02X:", (b + (unsigned)i) & 0xff);
  s[3 * n - 1] = '\0';
  return s;
}

static sfu_fingerprint_t fp_of(sfu_fp_hash_t h, unsigned b) {
  sfu_fingerprint_t f;
  char *t = text_of(sfu_fp_hash_size(h), b, 0);
  if (sfu_fingerprint_parse(&f, h, t, strlen(t))) memset(&f, 0, sizeof f);
  free(t);
  return f;
}

TEST(hash_names) {
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    const char *n = names[i].name;
    CHECK_EQ_INT(sfu_fp_hash_from_name(n, strlen(n)), names[i].hash);
    CHECK_EQ_STR(sfu_fp_hash_name(names[i].hash), n);
    CHECK_EQ_INT(sfu_fp_hash_size(names[i].hash), names[i].size);
    CHECK_EQ_INT(sfu_fp_hash_usable(names[i].hash), names[i].usable);
  }
  /* RFC 5234 §2.3: ABNF strings are case-insensitive. */
  CHECK_EQ_INT(sfu_fp_hash_from_name("SHA-512", 7), SFU_FP_SHA512);
  CHECK_EQ_INT(sfu_fp_hash_from_name("sha-2560", 8), SFU_FP_NONE);
  CHECK_EQ_INT(sfu_fp_hash_from_name("sha-256", 6), SFU_FP_NONE); /* a prefix is not it */
  CHECK_EQ_INT(sfu_fp_hash_from_name("sha256", 6), SFU_FP_NONE);
  CHECK_EQ_INT(sfu_fp_hash_from_name("", 0), SFU_FP_NONE);
  CHECK_EQ_INT(sfu_fp_hash_from_name(NULL, 0), SFU_FP_NONE);
  CHECK_EQ_STR(sfu_fp_hash_name(SFU_FP_NONE), "");
  CHECK_EQ_INT(sfu_fp_hash_size(SFU_FP_NONE), 0);
  CHECK_EQ_INT(sfu_fp_hash_usable(SFU_FP_NONE), 0);
}

TEST(text_round_trip_every_hash_and_every_truncation) {
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    sfu_fp_hash_t h = names[i].hash;
    size_t n = names[i].size;
    for (int lower = 0; lower < 2; lower++) {
      char *t = text_of(n, 0xF0, lower);
      sfu_fingerprint_t f;
      REQUIRE(sfu_fingerprint_parse(&f, h, t, strlen(t)) == 0);
      CHECK_EQ_INT(f.hash, h);
      CHECK_EQ_INT(f.len, n);
      char out[SFU_FP_TEXT_MAX], *up = text_of(n, 0xF0, 0);
      CHECK_EQ_STR(sfu_fingerprint_format(&f, out, sizeof out), up); /* upper-case out */
      CHECK_EQ_STR(sfu_fingerprint_format(&f, out, 3 * n), up);      /* exact room */
      CHECK_EQ_STR(sfu_fingerprint_format(&f, out, 3 * n - 1), "");  /* too little */
      /* every shorter prefix is refused, and one byte more too */
      for (size_t k = 0; k < strlen(t); k++) {
        char *cut = malloc(k ? k : 1);
        memcpy(cut, t, k);
        CHECK(sfu_fingerprint_parse(&f, h, cut, k) == SFU_EINVAL);
        free(cut);
      }
      char *more = text_of(n + 1, 0xF0, lower);
      CHECK(sfu_fingerprint_parse(&f, h, more, strlen(more)) == SFU_EINVAL);
      free(more);
      free(up);
      free(t);
    }
  }
  /* sha-512: 191 characters, the longest value */
  char *t = text_of(64, 0, 0);
  CHECK_EQ_INT(strlen(t), 191);
  CHECK(SFU_FP_TEXT_MAX >= 192);
  free(t);
}

TEST(hostile_text) {
  sfu_fingerprint_t f;
  char *good = text_of(32, 0, 0);
  size_t n = strlen(good);
  static const char bad_chars[] = "G-g \t\r\n:;.\x80\xff";
  for (size_t pos = 0; pos < n; pos++)
    for (size_t c = 0; c < sizeof bad_chars - 1; c++) {
      char *t = strdup(good);
      if (t[pos] == bad_chars[c]) {
        free(t);
        continue;
      }
      t[pos] = bad_chars[c];
      CHECK(sfu_fingerprint_parse(&f, SFU_FP_SHA256, t, n) == SFU_EINVAL);
      free(t);
    }
  /* right length, separators elsewhere */
  char shifted[96];
  memset(shifted, 'A', sizeof shifted);
  for (size_t i = 0; i < 31; i++) shifted[3 * i + 1] = ':';
  CHECK(sfu_fingerprint_parse(&f, SFU_FP_SHA256, shifted, 95) == SFU_EINVAL);
  CHECK(sfu_fingerprint_parse(&f, SFU_FP_NONE, good, n) == SFU_EINVAL);
  CHECK(sfu_fingerprint_parse(&f, SFU_FP_SHA256, NULL, 0) == SFU_EINVAL);
  /* md5 has a shape and parses; it is refused where it would be used (sets, DTLS). */
  char *md5 = text_of(16, 0, 0);
  CHECK(sfu_fingerprint_parse(&f, SFU_FP_MD5, md5, strlen(md5)) == 0);
  free(md5);
  free(good);
}

TEST(sets) {
  sfu_fingerprint_set_t a = {0}, b = {0};
  sfu_fingerprint_t s256 = fp_of(SFU_FP_SHA256, 1), s512 = fp_of(SFU_FP_SHA512, 2),
                    s1 = fp_of(SFU_FP_SHA1, 3), md5 = fp_of(SFU_FP_MD5, 4);
  CHECK_EQ_INT(sfu_fingerprint_set_preferred(&a), SFU_FP_NONE);
  CHECK(!sfu_fingerprint_set_matches(&a, s256.digest, s256.len));
  CHECK_EQ_INT(sfu_fingerprint_set_add(&a, &s256), 0);
  CHECK_EQ_INT(sfu_fingerprint_set_add(&a, &s256), 0); /* once */
  CHECK_EQ_INT(a.n, 1);
  CHECK_EQ_INT(sfu_fingerprint_set_add(&a, &md5), SFU_EINVAL); /* RFC 8122 §5 */
  sfu_fingerprint_t bad = s256;
  bad.len = 20;
  CHECK_EQ_INT(sfu_fingerprint_set_add(&a, &bad), SFU_EINVAL);
  CHECK_EQ_INT(sfu_fingerprint_set_add(&a, &s1), 0);
  CHECK_EQ_INT(sfu_fingerprint_set_add(&a, &s512), 0);
  CHECK_EQ_INT(a.n, 3);
  /* the strongest hash is the one checked (RFC 8122 §5 selection) */
  CHECK_EQ_INT(sfu_fingerprint_set_preferred(&a), SFU_FP_SHA512);
  CHECK(sfu_fingerprint_set_matches(&a, s512.digest, s512.len));
  CHECK(!sfu_fingerprint_set_matches(&a, s256.digest, s256.len)); /* weaker: not enough */
  CHECK(!sfu_fingerprint_set_matches(&a, s512.digest, s512.len - 1));
  /* any member of the preferred hash matches, wherever it stands */
  sfu_fingerprint_set_t two = {0};
  sfu_fingerprint_t other256 = fp_of(SFU_FP_SHA256, 9);
  sfu_fingerprint_set_add(&two, &other256);
  sfu_fingerprint_set_add(&two, &s256);
  CHECK(sfu_fingerprint_set_matches(&two, s256.digest, s256.len));
  CHECK(sfu_fingerprint_set_matches(&two, other256.digest, other256.len));
  /* equality ignores order; intersection */
  sfu_fingerprint_set_add(&b, &s512);
  sfu_fingerprint_set_add(&b, &s256);
  CHECK(!sfu_fingerprint_set_equal(&a, &b));
  CHECK(sfu_fingerprint_set_intersects(&a, &b));
  sfu_fingerprint_set_add(&b, &s1);
  CHECK(sfu_fingerprint_set_equal(&a, &b) && sfu_fingerprint_set_equal(&b, &a));
  sfu_fingerprint_set_t c = {0};
  sfu_fingerprint_set_add(&c, &other256);
  CHECK(!sfu_fingerprint_set_intersects(&a, &c));
  CHECK(sfu_fingerprint_set_intersects(&two, &c));
  /* the cap */
  sfu_fingerprint_set_t full = {0};
  for (unsigned i = 0; i < SFU_FP_SET_MAX; i++) {
    sfu_fingerprint_t f = fp_of(SFU_FP_SHA256, 100 + i);
    CHECK_EQ_INT(sfu_fingerprint_set_add(&full, &f), 0);
  }
  sfu_fingerprint_t f = fp_of(SFU_FP_SHA256, 100);
  CHECK_EQ_INT(sfu_fingerprint_set_add(&full, &f), 0); /* already in: fine */
  f = fp_of(SFU_FP_SHA256, 200);
  CHECK_EQ_INT(sfu_fingerprint_set_add(&full, &f), SFU_ELIMIT);
  CHECK_EQ_INT(full.n, SFU_FP_SET_MAX);
}

int main(void) {
  RUN(hash_names);
  RUN(text_round_trip_every_hash_and_every_truncation);
  RUN(hostile_text);
  RUN(sets);
  return test_summary();
}
