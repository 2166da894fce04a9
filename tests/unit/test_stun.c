/* Unit tests for the STUN codec (src/proto/stun_*.c): RFC 5769 vectors, builders that
 * reproduce them byte for byte, every truncation, every bit flip, named hostile inputs,
 * and seeded garbage. */
#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdlib.h>

#include "sfu/bytes.h"
#include "sfu/err.h"
#include "sfu/stun.h"
#include "stun_vectors.h"
#include "test.h"
#include "test_alloc.h"

#define PWD ((const uint8_t *)rfc5769_password)
#define PWD_LEN (sizeof rfc5769_password - 1)

static const uint8_t *const vectors[] = {rfc5769_request, rfc5769_response_v4, rfc5769_response_v6};
static const size_t vector_lens[] = {sizeof rfc5769_request, sizeof rfc5769_response_v4,
                                     sizeof rfc5769_response_v6};
static const char *const vector_names[] = {"request", "response_v4", "response_v6"};
#define N_VECTORS 3

static int str_eq(const char *p, size_t n, const char *want) {
  return p && n == strlen(want) && memcmp(p, want, n) == 0;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rng(void) { /* xorshift64*: deterministic garbage */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}

TEST(crc32_check_value) {
  /* The CRC-32/ISO-HDLC check value of "123456789". */
  CHECK_EQ_INT(sfu_stun_crc32((const uint8_t *)"123456789", 9), 0xCBF43926u);
  CHECK_EQ_INT(sfu_stun_crc32(NULL, 0), 0);
}

TEST(rfc5769_request_parses_and_verifies) {
  sfu_stun_msg_t m;
  REQUIRE(sfu_stun_parse(rfc5769_request, sizeof rfc5769_request, &m) == 0);
  CHECK_EQ_INT(m.method, SFU_STUN_BINDING);
  CHECK_EQ_INT(m.cls, SFU_STUN_REQUEST);
  CHECK(m.tid == rfc5769_request + 8);
  CHECK(str_eq(m.username, m.username_len, "evtj:h6vY"));
  CHECK(str_eq(m.software, m.software_len, "STUN test client"));
  CHECK(m.has_priority);
  CHECK_EQ_INT(m.priority, 0x6e0001ffu);
  CHECK(m.has_controlled && !m.has_controlling);
  CHECK(m.tiebreaker == 0x932ff9b151263b36ull);
  CHECK(!m.use_candidate);
  CHECK_EQ_INT(m.n_unknown, 0);
  CHECK_EQ_INT(m.n_attrs, 6);
  CHECK_EQ_INT(sfu_stun_check_fingerprint(&m), 0);
  CHECK_EQ_INT(sfu_stun_check_integrity(&m, PWD, PWD_LEN), 0);
  CHECK_EQ_INT(sfu_stun_check_integrity(&m, (const uint8_t *)"VOkJxbRl1RmTxUk/WvJxBu", PWD_LEN),
               SFU_EAUTH);
  CHECK_EQ_INT(sfu_stun_check_integrity(&m, PWD, PWD_LEN - 1), SFU_EAUTH);
  const char *u;
  size_t ul;
  REQUIRE(sfu_stun_username_local(&m, &u, &ul) == 0);
  CHECK(str_eq(u, ul, "evtj"));
  REQUIRE(sfu_stun_username_remote(&m, &u, &ul) == 0);
  CHECK(str_eq(u, ul, "h6vY"));
  sfu_addr_t a;
  CHECK_EQ_INT(sfu_stun_xor_mapped(&m, &a), SFU_ENOENT);
}

TEST(rfc5769_responses_decode_documented_addresses) {
  static const struct {
    const uint8_t *buf;
    size_t len;
    const char *addr;
  } cases[] = {
      {rfc5769_response_v4, sizeof rfc5769_response_v4, "192.0.2.1:32853"},
      {rfc5769_response_v6, sizeof rfc5769_response_v6,
       "[2001:db8:1234:5678:11:2233:4455:6677]:32853"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    sfu_stun_msg_t m;
    REQUIRE(sfu_stun_parse(cases[i].buf, cases[i].len, &m) == 0);
    CHECK_EQ_INT(m.method, SFU_STUN_BINDING);
    CHECK_EQ_INT(m.cls, SFU_STUN_SUCCESS);
    CHECK(str_eq(m.software, m.software_len, "test vector"));
    CHECK_EQ_INT(sfu_stun_check_fingerprint(&m), 0);
    CHECK_EQ_INT(sfu_stun_check_integrity(&m, PWD, PWD_LEN), 0);
    sfu_addr_t a, want;
    char s[SFU_ADDR_STRLEN];
    REQUIRE(sfu_stun_xor_mapped(&m, &a) == 0);
    REQUIRE(sfu_addr_parse(&want, cases[i].addr) == 0);
    CHECK(sfu_addr_equal(&a, &want));
    CHECK_EQ_STR(sfu_addr_format(&a, s), cases[i].addr);
  }
}

/* Rebuilds a §2.2/§2.3 response with our writer; the RFC pads SOFTWARE with 0x20. */
/* With key != NULL, MESSAGE-INTEGRITY goes through the prepared-key path. */
static int build_rfc_response_with(uint8_t *out, size_t cap, const char *addr,
                                   const sfu_stun_key_t *key) {
  sfu_addr_t a;
  if (sfu_addr_parse(&a, addr)) return -1;
  sfu_stun_writer_t w;
  sfu_stun_w_init(&w, out, cap, SFU_STUN_BINDING, SFU_STUN_SUCCESS, rfc5769_request + 8);
  w.pad_byte = 0x20;
  sfu_stun_w_attr(&w, SFU_STUN_ATTR_SOFTWARE, "test vector", 11);
  sfu_stun_w_xor_addr(&w, SFU_STUN_ATTR_XOR_MAPPED_ADDRESS, &a);
  if (key)
    sfu_stun_w_integrity_keyed(&w, key);
  else
    sfu_stun_w_integrity(&w, PWD, PWD_LEN);
  sfu_stun_w_fingerprint(&w);
  return sfu_stun_w_finish(&w);
}

static int build_rfc_response(uint8_t *out, size_t cap, const char *addr) {
  return build_rfc_response_with(out, cap, addr, NULL);
}

TEST(builder_reproduces_rfc5769_responses_byte_exact) {
  uint8_t out[256];
  int n = build_rfc_response(out, sizeof out, "192.0.2.1:32853");
  CHECK_EQ_INT(n, sizeof rfc5769_response_v4);
  CHECK(n > 0 && memcmp(out, rfc5769_response_v4, (size_t)n) == 0);
  n = build_rfc_response(out, sizeof out, "[2001:db8:1234:5678:11:2233:4455:6677]:32853");
  CHECK_EQ_INT(n, sizeof rfc5769_response_v6);
  CHECK(n > 0 && memcmp(out, rfc5769_response_v6, (size_t)n) == 0);
}

TEST(builder_reproduces_rfc5769_request_byte_exact) {
  uint8_t out[256];
  sfu_stun_writer_t w;
  sfu_stun_w_init(&w, out, sizeof out, SFU_STUN_BINDING, SFU_STUN_REQUEST, rfc5769_request + 8);
  w.pad_byte = 0x20;
  sfu_stun_w_attr(&w, SFU_STUN_ATTR_SOFTWARE, "STUN test client", 16);
  sfu_stun_w_u32(&w, SFU_STUN_ATTR_PRIORITY, 0x6e0001ff);
  sfu_stun_w_u64(&w, SFU_STUN_ATTR_ICE_CONTROLLED, 0x932ff9b151263b36ull);
  sfu_stun_w_attr(&w, SFU_STUN_ATTR_USERNAME, "evtj:h6vY", 9);
  sfu_stun_w_integrity(&w, PWD, PWD_LEN);
  sfu_stun_w_fingerprint(&w);
  int n = sfu_stun_w_finish(&w);
  CHECK_EQ_INT(n, sizeof rfc5769_request);
  CHECK(n > 0 && memcmp(out, rfc5769_request, (size_t)n) == 0);
}

TEST(builder_binding_success_matches_documented_mac) {
  /* The ICE builder (zero padding, no SOFTWARE) must verify and decode. */
  uint8_t out[128];
  sfu_addr_t a;
  REQUIRE(sfu_addr_parse(&a, "[2001:db8::1]:4000") == 0);
  int n = sfu_stun_build_binding_success(out, sizeof out, rfc5769_request + 8, &a, PWD, PWD_LEN);
  REQUIRE(n > 0);
  sfu_stun_msg_t m;
  REQUIRE(sfu_stun_parse(out, (size_t)n, &m) == 0);
  CHECK_EQ_INT(m.cls, SFU_STUN_SUCCESS);
  CHECK(memcmp(m.tid, rfc5769_request + 8, 12) == 0);
  CHECK_EQ_INT(sfu_stun_check_fingerprint(&m), 0);
  CHECK_EQ_INT(sfu_stun_check_integrity(&m, PWD, PWD_LEN), 0);
  sfu_addr_t b;
  REQUIRE(sfu_stun_xor_mapped(&m, &b) == 0);
  CHECK(sfu_addr_equal(&a, &b));
}

TEST(every_truncation_of_every_vector) {
  for (int v = 0; v < N_VECTORS; v++) {
    for (size_t len = 0; len < vector_lens[v]; len++) {
      /* A copy of exactly len bytes so ASan sees any overread. */
      uint8_t *p = malloc(len ? len : 1);
      memcpy(p, vectors[v], len);
      sfu_stun_msg_t m;
      int rc = sfu_stun_parse(p, len, &m);
      if (rc != SFU_ETRUNC) {
        fprintf(stderr, "%s truncated to %zu: rc %d\n", vector_names[v], len, rc);
        CHECK(rc == SFU_ETRUNC);
      }
      /* The same prefix with the header's length fixed up to match: structurally a
       * message, but it can no longer carry a valid FINGERPRINT. */
      if (len >= SFU_STUN_HDR_LEN && (len - SFU_STUN_HDR_LEN) % 4 == 0) {
        sfu_wr16(p + 2, (uint16_t)(len - SFU_STUN_HDR_LEN));
        rc = sfu_stun_parse(p, len, &m);
        CHECK(rc == 0 || rc == SFU_EPARSE);
        if (rc == 0) CHECK(sfu_stun_check_fingerprint(&m) != 0);
      }
      free(p);
    }
  }
}

TEST(every_bit_flip_is_caught) {
  for (int v = 0; v < N_VECTORS; v++) {
    uint8_t buf[128];
    size_t len = vector_lens[v];
    for (size_t bit = 0; bit < len * 8; bit++) {
      memcpy(buf, vectors[v], len);
      buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
      sfu_stun_msg_t m;
      int rc = sfu_stun_parse(buf, len, &m);
      if (rc) {
        CHECK(rc == SFU_EPARSE || rc == SFU_ETRUNC);
        continue;
      }
      /* CRC-32 detects every single-bit error; a flip inside the FINGERPRINT or MI
       * attribute itself breaks that attribute. */
      int fp = sfu_stun_check_fingerprint(&m), mi = sfu_stun_check_integrity(&m, PWD, PWD_LEN);
      if (fp == 0 && mi == 0) {
        fprintf(stderr, "%s bit %zu flipped still verifies\n", vector_names[v], bit);
        CHECK(0);
      }
    }
  }
}

/* A message built from raw attribute bytes (type, length and value as given). */
typedef struct {
  const char *name;
  const uint8_t *attrs;
  size_t attrs_len;
  int want;
} raw_case_t;

static int parse_raw(const uint8_t *attrs, size_t n, sfu_stun_msg_t *m, uint8_t *buf) {
  sfu_wr16(buf, 0x0001);
  sfu_wr16(buf + 2, (uint16_t)n);
  sfu_wr32(buf + 4, SFU_STUN_MAGIC_COOKIE);
  memset(buf + 8, 0xAB, 12);
  if (n) memcpy(buf + 20, attrs, n);
  return sfu_stun_parse(buf, 20 + n, m);
}

#define A(...) (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})

TEST(hostile_attributes_named) {
  const raw_case_t cases[] = {
      {"attribute overruns message", A(0x00, 0x06, 0x00, 0x08, 'a', 'b', 'c', 'd'), SFU_EPARSE},
      {"attribute length 0xffff", A(0x80, 0x22, 0xff, 0xff, 0, 0, 0, 0), SFU_EPARSE},
      {"padding overruns message", A(0x00, 0x06, 0x00, 0x05, 'a', 'b', 'c', 'd'), SFU_EPARSE},
      {"fingerprint 3 bytes", A(0x80, 0x28, 0x00, 0x03, 1, 2, 3, 0), SFU_EPARSE},
      {"attribute after fingerprint", A(0x80, 0x28, 0x00, 0x04, 1, 2, 3, 4, 0x80, 0x22, 0x00, 0x00),
       SFU_EPARSE},
      {"integrity 16 bytes",
       A(0x00, 0x08, 0x00, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), SFU_EPARSE},
      {"priority 3 bytes", A(0x00, 0x24, 0x00, 0x03, 1, 2, 3, 0), SFU_EPARSE},
      {"use-candidate with content", A(0x00, 0x25, 0x00, 0x04, 1, 2, 3, 4), SFU_EPARSE},
      {"ice-controlling 4 bytes", A(0x80, 0x2a, 0x00, 0x04, 1, 2, 3, 4), SFU_EPARSE},
      {"xor-mapped family 3", A(0x00, 0x20, 0x00, 0x08, 0, 3, 0, 0, 0, 0, 0, 0), SFU_EPARSE},
      {"xor-mapped v6 family, v4 size", A(0x00, 0x20, 0x00, 0x08, 0, 2, 0, 0, 0, 0, 0, 0),
       SFU_EPARSE},
      {"error-code class 7", A(0x00, 0x09, 0x00, 0x04, 0, 0, 7, 0), SFU_EPARSE},
      {"error-code number 100", A(0x00, 0x09, 0x00, 0x04, 0, 0, 4, 100), SFU_EPARSE},
      {"error-code 2 bytes", A(0x00, 0x09, 0x00, 0x02, 0, 0, 0, 0), SFU_EPARSE},
      {"integrity-sha256 12 bytes", A(0x00, 0x1c, 0x00, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
       SFU_EPARSE},
      {"empty attribute list", NULL, 0, 0},
      {"zero-length username", A(0x00, 0x06, 0x00, 0x00), 0},
      {"unknown optional attribute", A(0xc0, 0x57, 0x00, 0x04, 0, 1, 0, 0), 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint8_t buf[128];
    sfu_stun_msg_t m;
    int rc = parse_raw(cases[i].attrs, cases[i].attrs_len, &m, buf);
    if (rc != cases[i].want) fprintf(stderr, "case '%s': rc %d\n", cases[i].name, rc);
    CHECK_EQ_INT(rc, cases[i].want);
  }
}

TEST(hostile_headers_named) {
  uint8_t ok[20] = {0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42};
  static const struct {
    const char *name;
    int byte; /* byte to overwrite, -1 none */
    uint8_t value;
    size_t len;
    int want;
  } cases[] = {
      {"header only", -1, 0, 20, 0},
      {"empty", -1, 0, 0, SFU_ETRUNC},
      {"19 bytes", -1, 0, 19, SFU_ETRUNC},
      {"top bits set (RTP-looking)", 0, 0x80, 20, SFU_EPARSE},
      {"top bits set, one byte", 0, 0x40, 1, SFU_EPARSE},
      {"bad magic cookie", 7, 0x43, 20, SFU_EPARSE},
      {"length not a multiple of 4", 3, 0x02, 20, SFU_EPARSE},
      {"length beyond buffer", 3, 0x04, 20, SFU_ETRUNC},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint8_t buf[24];
    memcpy(buf, ok, 20);
    if (cases[i].byte >= 0) buf[cases[i].byte] = cases[i].value;
    sfu_stun_msg_t m;
    int rc = sfu_stun_parse(buf, cases[i].len, &m);
    if (rc != cases[i].want) fprintf(stderr, "case '%s': rc %d\n", cases[i].name, rc);
    CHECK_EQ_INT(rc, cases[i].want);
  }
  /* Trailing bytes after the message: the length field lies. */
  uint8_t buf[24] = {0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42};
  sfu_stun_msg_t m;
  CHECK_EQ_INT(sfu_stun_parse(buf, 24, &m), SFU_EPARSE);
  CHECK_EQ_INT(sfu_stun_parse(NULL, 20, &m), SFU_EINVAL);
  CHECK_EQ_INT(sfu_stun_parse(buf, 20, NULL), SFU_EINVAL);
  CHECK(sfu_stun_is_stun(rfc5769_request, sizeof rfc5769_request));
  CHECK(!sfu_stun_is_stun(rfc5769_request, 19));
  static const uint8_t rtp[20] = {0x80, 0x60};
  CHECK(!sfu_stun_is_stun(rtp, sizeof rtp));
}

TEST(unknown_required_reported_and_after_integrity_ignored) {
  uint8_t buf[256];
  sfu_stun_writer_t w;
  sfu_stun_w_init(&w, buf, sizeof buf, SFU_STUN_BINDING, SFU_STUN_REQUEST, rfc5769_request + 8);
  sfu_stun_w_attr(&w, 0x7777, "x", 1);    /* unknown, comprehension-required */
  sfu_stun_w_attr(&w, 0xC057, "abcd", 4); /* unknown, optional: not reported */
  sfu_stun_w_attr(&w, SFU_STUN_ATTR_USERNAME, "a:b", 3);
  sfu_stun_w_attr(&w, SFU_STUN_ATTR_USERNAME, "c:d", 3); /* duplicate: first wins */
  sfu_stun_w_u32(&w, SFU_STUN_ATTR_PRIORITY, 7);
  sfu_stun_w_integrity(&w, PWD, PWD_LEN);
  /* §14.5: ignored after MESSAGE-INTEGRITY, even malformed or unknown ones. */
  sfu_stun_w_attr(&w, SFU_STUN_ATTR_USE_CANDIDATE, NULL, 0);
  sfu_stun_w_attr(&w, 0x7778, NULL, 0);
  sfu_stun_w_attr(&w, SFU_STUN_ATTR_PRIORITY, "xyz", 3);
  sfu_stun_w_fingerprint(&w);
  int n = sfu_stun_w_finish(&w);
  REQUIRE(n > 0);
  sfu_stun_msg_t m;
  REQUIRE(sfu_stun_parse(buf, (size_t)n, &m) == 0);
  CHECK_EQ_INT(m.n_unknown, 1);
  CHECK_EQ_INT(m.unknown[0], 0x7777);
  CHECK(str_eq(m.username, m.username_len, "a:b"));
  CHECK(!m.use_candidate);
  CHECK_EQ_INT(m.priority, 7);
  CHECK_EQ_INT(sfu_stun_check_integrity(&m, PWD, PWD_LEN), 0);
  CHECK_EQ_INT(sfu_stun_check_fingerprint(&m), 0);
  /* More unknown types than are remembered: stored list is capped, no overflow. */
  sfu_stun_w_init(&w, buf, sizeof buf, SFU_STUN_BINDING, SFU_STUN_REQUEST, rfc5769_request + 8);
  for (uint16_t t = 0x7000; t < 0x7000 + 20; t++) sfu_stun_w_attr(&w, t, NULL, 0);
  n = sfu_stun_w_finish(&w);
  REQUIRE(n > 0);
  REQUIRE(sfu_stun_parse(buf, (size_t)n, &m) == 0);
  CHECK_EQ_INT(m.n_unknown, SFU_STUN_MAX_UNKNOWN);
  CHECK_EQ_INT(m.n_attrs, 20);
}

TEST(error_responses_roundtrip) {
  static const struct {
    uint16_t code;
    const char *reason;
    int with_mi;
  } cases[] = {
      {400, "Bad Request", 0},
      {401, "Unauthorized", 0},
      {420, "Unknown Attribute", 1},
      {487, "Role Conflict", 1},
  };
  const uint16_t unknown[] = {0x7777, 0x0042, 0x1234};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint8_t buf[256];
    int n = sfu_stun_build_error(buf, sizeof buf, SFU_STUN_BINDING, rfc5769_request + 8,
                                 cases[i].code, unknown, 3, cases[i].with_mi ? PWD : NULL,
                                 cases[i].with_mi ? PWD_LEN : 0);
    REQUIRE(n > 0);
    sfu_stun_msg_t m;
    REQUIRE(sfu_stun_parse(buf, (size_t)n, &m) == 0);
    CHECK_EQ_INT(m.cls, SFU_STUN_ERROR);
    CHECK_EQ_INT(m.method, SFU_STUN_BINDING);
    CHECK(m.has_error);
    CHECK_EQ_INT(m.error_code, cases[i].code);
    CHECK(str_eq(m.error_reason, m.error_reason_len, cases[i].reason));
    CHECK_EQ_INT(sfu_stun_check_fingerprint(&m), 0);
    CHECK_EQ_INT(sfu_stun_check_integrity(&m, PWD, PWD_LEN), cases[i].with_mi ? 0 : SFU_ENOENT);
    if (cases[i].code == 420) {
      /* UNKNOWN-ATTRIBUTES (§14.9): 3 types = 6 bytes + 2 padding. */
      const uint8_t *p = buf + 20;
      p += 4 + ((sfu_rd16(p + 2) + 3u) & ~3u); /* skip ERROR-CODE */
      CHECK_EQ_INT(sfu_rd16(p), SFU_STUN_ATTR_UNKNOWN_ATTRIBUTES);
      CHECK_EQ_INT(sfu_rd16(p + 2), 6);
      CHECK_EQ_INT(sfu_rd16(p + 4), 0x7777);
      CHECK_EQ_INT(sfu_rd16(p + 8), 0x1234);
    }
  }
  uint8_t buf[64];
  CHECK_EQ_INT(sfu_stun_build_error(buf, sizeof buf, 1, rfc5769_request + 8, 200, NULL, 0, NULL, 0),
               SFU_EINVAL);
}

TEST(binding_request_builder_roundtrip) {
  static const struct {
    sfu_ice_role_t role;
    int use_candidate;
    const char *software;
  } cases[] = {
      {SFU_ICE_ROLE_CONTROLLING, 1, "sfu-load"},
      {SFU_ICE_ROLE_CONTROLLING, 0, NULL},
      {SFU_ICE_ROLE_CONTROLLED, 1, NULL}, /* USE-CANDIDATE ignored when controlled */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint8_t tid[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, buf[256];
    sfu_stun_request_params_t p = {.tid = tid,
                                   .username = "remoteU:localU",
                                   .password = "theRemotePasswordIs22+",
                                   .priority = 0x6e7f1eff,
                                   .role = cases[i].role,
                                   .tiebreaker = 0x0102030405060708ull,
                                   .use_candidate = cases[i].use_candidate,
                                   .software = cases[i].software};
    int n = sfu_stun_build_binding_request(buf, sizeof buf, &p);
    REQUIRE(n > 0);
    sfu_stun_msg_t m;
    REQUIRE(sfu_stun_parse(buf, (size_t)n, &m) == 0);
    CHECK_EQ_INT(m.cls, SFU_STUN_REQUEST);
    CHECK(memcmp(m.tid, tid, 12) == 0);
    CHECK(str_eq(m.username, m.username_len, "remoteU:localU"));
    CHECK_EQ_INT(m.priority, 0x6e7f1eff);
    CHECK(m.tiebreaker == 0x0102030405060708ull);
    CHECK_EQ_INT(m.has_controlling, cases[i].role == SFU_ICE_ROLE_CONTROLLING);
    CHECK_EQ_INT(m.has_controlled, cases[i].role == SFU_ICE_ROLE_CONTROLLED);
    CHECK_EQ_INT(m.use_candidate,
                 cases[i].use_candidate && cases[i].role == SFU_ICE_ROLE_CONTROLLING);
    CHECK_EQ_INT(m.software != NULL, cases[i].software != NULL);
    CHECK_EQ_INT(sfu_stun_check_fingerprint(&m), 0);
    CHECK_EQ_INT(sfu_stun_check_integrity(&m, (const uint8_t *)"theRemotePasswordIs22+", 22), 0);
  }
  uint8_t buf[64];
  sfu_stun_request_params_t bad = {.username = "a:b", .password = "p"};
  CHECK_EQ_INT(sfu_stun_build_binding_request(buf, sizeof buf, &bad), SFU_EINVAL); /* no tid */
  CHECK_EQ_INT(sfu_stun_build_binding_request(buf, sizeof buf, NULL), SFU_EINVAL);
}

TEST(writer_never_writes_past_capacity) {
  uint8_t full[256];
  sfu_addr_t a;
  REQUIRE(sfu_addr_parse(&a, "[2001:db8::1]:4000") == 0);
  int need =
      sfu_stun_build_binding_success(full, sizeof full, rfc5769_request + 8, &a, PWD, PWD_LEN);
  REQUIRE(need > 0);
  for (int cap = 0; cap < need; cap++) {
    uint8_t buf[256];
    memset(buf, 0xEE, sizeof buf);
    int rc =
        sfu_stun_build_binding_success(buf, (size_t)cap, rfc5769_request + 8, &a, PWD, PWD_LEN);
    CHECK_EQ_INT(rc, SFU_ETOOBIG);
    for (size_t i = (size_t)cap; i < sizeof buf; i++)
      if (buf[i] != 0xEE) {
        CHECK(!"wrote past cap");
        break;
      }
  }
  sfu_addr_t none;
  memset(&none, 0, sizeof none);
  CHECK_EQ_INT(
      sfu_stun_build_binding_success(full, sizeof full, rfc5769_request + 8, &none, PWD, PWD_LEN),
      SFU_EINVAL);
}

TEST(type_encoding_roundtrip) {
  static const uint16_t methods[] = {0x001, 0x003, 0x0FF, 0xFFF};
  for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
    for (int cls = 0; cls < 4; cls++) {
      uint8_t buf[20];
      sfu_stun_writer_t w;
      sfu_stun_w_init(&w, buf, sizeof buf, methods[i], (sfu_stun_class_t)cls, rfc5769_request + 8);
      REQUIRE(sfu_stun_w_finish(&w) == 20);
      sfu_stun_msg_t m;
      REQUIRE(sfu_stun_parse(buf, 20, &m) == 0);
      CHECK_EQ_INT(m.method, methods[i]);
      CHECK_EQ_INT(m.cls, cls);
    }
  /* RFC 8489 §5: binding success is 0x0101, binding error 0x0111. */
  uint8_t buf[20];
  sfu_stun_writer_t w;
  sfu_stun_w_init(&w, buf, sizeof buf, SFU_STUN_BINDING, SFU_STUN_ERROR, rfc5769_request + 8);
  CHECK_EQ_INT(sfu_rd16(buf), 0x0111);
  CHECK_EQ_STR(sfu_stun_class_name(SFU_STUN_INDICATION), "indication");
}

TEST(empty_key_hmac_matches_openssl) {
  uint8_t buf[64];
  sfu_stun_writer_t w;
  sfu_stun_w_init(&w, buf, sizeof buf, SFU_STUN_BINDING, SFU_STUN_REQUEST, rfc5769_request + 8);
  sfu_stun_w_integrity(&w, (const uint8_t *)"", 0);
  int n = sfu_stun_w_finish(&w);
  REQUIRE(n == 44);
  uint8_t mac[20];
  unsigned mlen = 0;
  HMAC(EVP_sha1(), "", 0, buf, 20, mac, &mlen);
  CHECK(memcmp(mac, buf + 24, 20) == 0);
  sfu_stun_msg_t m;
  REQUIRE(sfu_stun_parse(buf, (size_t)n, &m) == 0);
  CHECK_EQ_INT(sfu_stun_check_integrity(&m, (const uint8_t *)"", 0), 0);
  CHECK_EQ_INT(sfu_stun_check_integrity(&m, (const uint8_t *)"x", 1), SFU_EAUTH);
  CHECK_EQ_INT(sfu_stun_check_fingerprint(&m), SFU_ENOENT);
}

/* Bit-at-a-time CRC-32/ISO-HDLC: the definition the table must reproduce. */
static uint32_t crc32_bitwise(const uint8_t *p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
  }
  return ~c;
}

TEST(crc32_table_matches_bitwise_definition) {
  /* Every length 0..299 (8-byte blocks plus every tail) at every alignment. */
  uint8_t buf[300 + 8];
  for (int iter = 0; iter < 3000; iter++) {
    size_t n = (size_t)iter % 300, off = rng() % 8;
    for (size_t i = 0; i < n; i++) buf[off + i] = (uint8_t)rng();
    CHECK_EQ_INT(sfu_stun_crc32(buf + off, n), crc32_bitwise(buf + off, n));
  }
  /* The vectors' FINGERPRINTs, through the table. */
  for (int v = 0; v < N_VECTORS; v++) {
    size_t fp = vector_lens[v] - 8;
    CHECK_EQ_INT(sfu_stun_crc32(vectors[v], fp) ^ SFU_STUN_FP_XOR, sfu_rd32(vectors[v] + fp + 4));
  }
}

TEST(keyed_path_verifies_and_rebuilds_rfc5769_vectors) {
  sfu_stun_key_t k, wrong, shorter;
  REQUIRE(sfu_stun_key_init(&k, PWD, PWD_LEN) == 0);
  REQUIRE(sfu_stun_key_init(&wrong, (const uint8_t *)"VOkJxbRl1RmTxUk/WvJxBu", PWD_LEN) == 0);
  REQUIRE(sfu_stun_key_init(&shorter, PWD, PWD_LEN - 1) == 0);
  for (int v = 0; v < N_VECTORS; v++) {
    sfu_stun_msg_t m;
    REQUIRE(sfu_stun_parse(vectors[v], vector_lens[v], &m) == 0);
    CHECK_EQ_INT(sfu_stun_check_integrity_keyed(&m, &k), 0);
    CHECK_EQ_INT(sfu_stun_check_integrity_keyed(&m, &wrong), SFU_EAUTH);
    CHECK_EQ_INT(sfu_stun_check_integrity_keyed(&m, &shorter), SFU_EAUTH);
    sfu_stun_key_t copy = k; /* plain data: a copy is the same key */
    CHECK_EQ_INT(sfu_stun_check_integrity_keyed(&m, &copy), 0);
  }
  uint8_t out[256];
  int n = build_rfc_response_with(out, sizeof out, "192.0.2.1:32853", &k);
  CHECK_EQ_INT(n, sizeof rfc5769_response_v4);
  CHECK(n > 0 && memcmp(out, rfc5769_response_v4, (size_t)n) == 0);
  n = build_rfc_response_with(out, sizeof out, "[2001:db8:1234:5678:11:2233:4455:6677]:32853", &k);
  CHECK_EQ_INT(n, sizeof rfc5769_response_v6);
  CHECK(n > 0 && memcmp(out, rfc5769_response_v6, (size_t)n) == 0);
  /* The ICE builders: keyed and raw-password forms write the same bytes. */
  sfu_addr_t a;
  REQUIRE(sfu_addr_parse(&a, "192.0.2.1:32853") == 0);
  uint8_t raw[128], keyed[128];
  int nr = sfu_stun_build_binding_success(raw, sizeof raw, rfc5769_request + 8, &a, PWD, PWD_LEN);
  int nk = sfu_stun_build_binding_success_keyed(keyed, sizeof keyed, rfc5769_request + 8, &a, &k);
  CHECK(nr > 0 && nr == nk && memcmp(raw, keyed, (size_t)nr) == 0);
  static const uint16_t unk[] = {0x7ABC, 0x0042};
  nr = sfu_stun_build_error(raw, sizeof raw, SFU_STUN_BINDING, rfc5769_request + 8, 420, unk, 2,
                            PWD, PWD_LEN);
  nk = sfu_stun_build_error_keyed(keyed, sizeof keyed, SFU_STUN_BINDING, rfc5769_request + 8, 420,
                                  unk, 2, &k);
  CHECK(nr > 0 && nr == nk && memcmp(raw, keyed, (size_t)nr) == 0);
  nk = sfu_stun_build_error_keyed(keyed, sizeof keyed, SFU_STUN_BINDING, rfc5769_request + 8, 401,
                                  NULL, 0, NULL);
  sfu_stun_msg_t m;
  REQUIRE(nk > 0 && sfu_stun_parse(keyed, (size_t)nk, &m) == 0);
  CHECK_EQ_INT(m.integrity_off, 0); /* key NULL: no MI */
  CHECK_EQ_INT(sfu_stun_check_integrity_keyed(&m, &k), SFU_ENOENT);
  /* Argument errors. */
  CHECK_EQ_INT(sfu_stun_key_init(NULL, PWD, PWD_LEN), SFU_EINVAL);
  CHECK_EQ_INT(sfu_stun_key_init(&k, NULL, 1), SFU_EINVAL);
  CHECK_EQ_INT(sfu_stun_key_init(&k, NULL, 0), 0); /* the empty key */
  CHECK_EQ_INT(sfu_stun_check_integrity_keyed(&m, NULL), SFU_EINVAL);
  sfu_stun_writer_t w;
  sfu_stun_w_init(&w, out, sizeof out, SFU_STUN_BINDING, SFU_STUN_REQUEST, rfc5769_request + 8);
  sfu_stun_w_integrity_keyed(&w, NULL);
  CHECK_EQ_INT(sfu_stun_w_finish(&w), SFU_EINVAL);
}

/* Differential: random keys (empty, shorter than, equal to and longer than SHA-1's
 * 64-byte block, up to ICE's 256) over random messages. The prepared-key path, the raw
 * password path and OpenSSL's own HMAC (what the EVP_MAC implementation computed) must
 * agree byte for byte, and both checks must accept the result and reject a flipped bit. */
TEST(keyed_hmac_matches_openssl_on_random_inputs) {
  static const size_t edge[] = {0, 1, 20, 63, 64, 65, 256};
  uint8_t key[300], a[512], b[512];
  for (int iter = 0; iter < 3000; iter++) {
    size_t klen = iter < 7 * 8 ? edge[iter % 7] : rng() % sizeof key;
    for (size_t i = 0; i < klen; i++) key[i] = (uint8_t)rng();
    sfu_stun_key_t k;
    REQUIRE(sfu_stun_key_init(&k, key, klen) == 0);
    /* A message: header, then one comprehension-optional attribute of random bytes. */
    size_t vlen = rng() % 300;
    uint8_t tid[SFU_STUN_TID_LEN], val[300];
    for (size_t i = 0; i < sizeof tid; i++) tid[i] = (uint8_t)rng();
    for (size_t i = 0; i < vlen; i++) val[i] = (uint8_t)rng();
    sfu_stun_class_t cls = (sfu_stun_class_t)(rng() % 4);
    sfu_stun_writer_t wa, wb;
    sfu_stun_w_init(&wa, a, sizeof a, SFU_STUN_BINDING, cls, tid);
    sfu_stun_w_init(&wb, b, sizeof b, SFU_STUN_BINDING, cls, tid);
    if (vlen) {
      sfu_stun_w_attr(&wa, 0x8077, val, vlen);
      sfu_stun_w_attr(&wb, 0x8077, val, vlen);
    }
    size_t start = wa.len;
    sfu_stun_w_integrity(&wa, key, klen);
    sfu_stun_w_integrity_keyed(&wb, &k);
    sfu_stun_w_fingerprint(&wa);
    sfu_stun_w_fingerprint(&wb);
    int na = sfu_stun_w_finish(&wa), nb = sfu_stun_w_finish(&wb);
    REQUIRE(na > 0 && na == nb);
    CHECK(memcmp(a, b, (size_t)na) == 0);
    /* OpenSSL's HMAC over the same bytes, with the length field as §14.5 sets it. */
    uint8_t hdr_fixed[sizeof a];
    memcpy(hdr_fixed, a, start);
    sfu_wr16(hdr_fixed + 2, (uint16_t)(start + 24 - SFU_STUN_HDR_LEN));
    uint8_t mac[20];
    unsigned mlen = 0;
    HMAC(EVP_sha1(), klen ? key : (const uint8_t *)"", (int)klen, hdr_fixed, start, mac, &mlen);
    CHECK(mlen == 20 && memcmp(mac, a + start + 4, 20) == 0);
    sfu_stun_msg_t m;
    REQUIRE(sfu_stun_parse(a, (size_t)na, &m) == 0);
    CHECK_EQ_INT(sfu_stun_check_integrity(&m, key, klen), 0);
    CHECK_EQ_INT(sfu_stun_check_integrity_keyed(&m, &k), 0);
    size_t flip = SFU_STUN_HDR_LEN + rng() % (start + 24 - SFU_STUN_HDR_LEN);
    a[flip] ^= (uint8_t)(1u << (rng() % 8));
    if (sfu_stun_parse(a, (size_t)na, &m) == 0 && m.integrity_off) {
      CHECK_EQ_INT(sfu_stun_check_integrity(&m, key, klen), SFU_EAUTH);
      CHECK_EQ_INT(sfu_stun_check_integrity_keyed(&m, &k), SFU_EAUTH);
    }
    if (klen) { /* another key of the same length */
      key[rng() % klen] ^= 0x01;
      sfu_stun_key_t k2;
      REQUIRE(sfu_stun_key_init(&k2, key, klen) == 0);
      REQUIRE(sfu_stun_parse(b, (size_t)nb, &m) == 0);
      CHECK_EQ_INT(sfu_stun_check_integrity_keyed(&m, &k2), SFU_EAUTH);
    }
  }
}

/* The checks a transport runs per ICE request: no heap, on either path (the raw
 * password's key is prepared on the stack). */
TEST(integrity_and_fingerprint_allocate_nothing) {
  if (!TEST_ALLOC_COUNTS) {
    printf("     (allocation counting skipped: AddressSanitizer owns malloc)\n");
    return;
  }
  sfu_stun_key_t k;
  REQUIRE(sfu_stun_key_init(&k, PWD, PWD_LEN) == 0);
  sfu_addr_t a;
  REQUIRE(sfu_addr_parse(&a, "192.0.2.1:32853") == 0);
  /* The counter itself works (else 0 below would prove nothing). */
  test_alloc_calls = 0;
  test_alloc_counting = 1;
  void *volatile probe = malloc(16); /* volatile: the pair may not be optimised away */
  free(probe);
  test_alloc_counting = 0;
  REQUIRE(test_alloc_calls == 2);
  int bad = 0;
  test_alloc_calls = 0;
  test_alloc_counting = 1;
  for (int i = 0; i < 1000; i++) {
    sfu_stun_msg_t m;
    uint8_t out[128];
    bad += sfu_stun_parse(rfc5769_request, sizeof rfc5769_request, &m) != 0;
    bad += sfu_stun_check_fingerprint(&m) != 0;
    bad += sfu_stun_check_integrity_keyed(&m, &k) != 0;
    bad += sfu_stun_check_integrity(&m, PWD, PWD_LEN) != 0;
    bad += sfu_stun_build_binding_success_keyed(out, sizeof out, m.tid, &a, &k) <= 0;
    bad += sfu_stun_build_binding_success(out, sizeof out, m.tid, &a, PWD, PWD_LEN) <= 0;
  }
  test_alloc_counting = 0;
  CHECK_EQ_INT(bad, 0);
  CHECK_EQ_INT(test_alloc_calls, 0);
}

TEST(seeded_garbage_never_crashes) {
  /* Pure noise, then noise behind a valid header (to reach the attribute walk). Any
   * overread shows up under -Db_sanitize=address. */
  for (int iter = 0; iter < 200000; iter++) {
    size_t len = rng() % 96;
    uint8_t *p = malloc(len ? len : 1);
    for (size_t i = 0; i < len; i++) p[i] = (uint8_t)rng();
    if ((iter & 1) && len >= 20) {
      p[0] &= 0x3F;
      sfu_wr16(p + 2, (uint16_t)((len - 20) & ~3u));
      sfu_wr32(p + 4, SFU_STUN_MAGIC_COOKIE);
      len = 20 + ((len - 20) & ~3u);
    }
    sfu_stun_msg_t m;
    int rc = sfu_stun_parse(p, len, &m);
    CHECK(rc == 0 || rc == SFU_EPARSE || rc == SFU_ETRUNC);
    if (rc == 0) {
      sfu_addr_t a;
      const char *u;
      size_t ul;
      (void)sfu_stun_check_fingerprint(&m);
      (void)sfu_stun_check_integrity(&m, PWD, PWD_LEN);
      (void)sfu_stun_xor_mapped(&m, &a);
      (void)sfu_stun_username_local(&m, &u, &ul);
      (void)sfu_stun_username_remote(&m, &u, &ul);
    }
    free(p);
  }
}

static void *verify_in_thread(void *arg) {
  sfu_stun_msg_t m;
  int ok = sfu_stun_parse(rfc5769_request, sizeof rfc5769_request, &m) == 0 &&
           sfu_stun_check_integrity(&m, PWD, PWD_LEN) == 0;
  *(int *)arg = ok;
  return NULL;
}

TEST(integrity_from_threads) {
  /* The codec keeps no per-thread state: any thread verifies (a leak or a race here
   * shows up in the sanitizer builds). */
  enum { N = 8 };
  pthread_t th[N];
  int ok[N] = {0};
  for (int i = 0; i < N; i++) REQUIRE(pthread_create(&th[i], NULL, verify_in_thread, &ok[i]) == 0);
  for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < N; i++) CHECK(ok[i]);
}

int main(void) {
  RUN(crc32_check_value);
  RUN(rfc5769_request_parses_and_verifies);
  RUN(rfc5769_responses_decode_documented_addresses);
  RUN(builder_reproduces_rfc5769_responses_byte_exact);
  RUN(builder_reproduces_rfc5769_request_byte_exact);
  RUN(builder_binding_success_matches_documented_mac);
  RUN(every_truncation_of_every_vector);
  RUN(every_bit_flip_is_caught);
  RUN(hostile_attributes_named);
  RUN(hostile_headers_named);
  RUN(unknown_required_reported_and_after_integrity_ignored);
  RUN(error_responses_roundtrip);
  RUN(binding_request_builder_roundtrip);
  RUN(writer_never_writes_past_capacity);
  RUN(type_encoding_roundtrip);
  RUN(empty_key_hmac_matches_openssl);
  RUN(crc32_table_matches_bitwise_definition);
  RUN(keyed_path_verifies_and_rebuilds_rfc5769_vectors);
  RUN(keyed_hmac_matches_openssl_on_random_inputs);
  RUN(integrity_and_fingerprint_allocate_nothing);
  RUN(seeded_garbage_never_crashes);
  RUN(integrity_from_threads);
  return test_summary();
}
