/* Unit tests for RFC 4571 framing (src/proto/tcp_framing.c): every chunking of a frame
 * stream (one byte at a time included), the 65535 maximum, bounded storage, garbage. */
#include <stdlib.h>

#include "sfu/err.h"
#include "sfu/tcp_framing.h"
#include "test.h"

#define MAX_FRAMES 16

/* A stream of frames and what the decoder gave back. */
typedef struct {
  size_t n;
  size_t lens[MAX_FRAMES];
  uint8_t *stream;
  size_t stream_len;
} stream_t;

typedef struct {
  const stream_t *s;
  size_t got;
  size_t off; /* payload offset of the next expected frame in s->stream */
  int mismatch;
} sink_t;

static void make_stream(stream_t *s, const size_t *lens, size_t n) {
  s->n = n;
  s->stream_len = 0;
  for (size_t i = 0; i < n; i++) s->stream_len += 2 + lens[i];
  s->stream = malloc(s->stream_len);
  size_t off = 0;
  for (size_t i = 0; i < n; i++) {
    s->lens[i] = lens[i];
    int w = sfu_tcp_frame_header(s->stream + off, lens[i]);
    if (w != 0) abort();
    for (size_t k = 0; k < lens[i]; k++) s->stream[off + 2 + k] = (uint8_t)(i * 31 + k * 7);
    off += 2 + lens[i];
  }
}

static void on_frame(void *user, const uint8_t *f, size_t len) {
  sink_t *k = user;
  if (k->got >= k->s->n || len != k->s->lens[k->got] ||
      memcmp(f, k->s->stream + k->off + 2, len) != 0) {
    k->mismatch = 1;
    return;
  }
  k->off += 2 + len;
  k->got++;
}

/* Feeds s in chunks of `chunk` bytes (0 = seeded random sizes); 1 if all frames came
 * out intact and in order. */
static int roundtrip(const stream_t *s, size_t chunk, uint8_t *storage, size_t cap) {
  sfu_tcp_deframer_t d;
  if (sfu_tcp_deframer_init(&d, storage, cap)) return 0;
  sink_t k = {.s = s};
  uint32_t seed = 12345;
  size_t off = 0;
  while (off < s->stream_len) {
    size_t c = chunk;
    if (!c) {
      seed = seed * 1103515245u + 12345u;
      c = 1 + (seed >> 16) % 3000;
    }
    if (c > s->stream_len - off) c = s->stream_len - off;
    /* Each chunk in its own allocation, so reading past it is an ASan error. */
    uint8_t *p = malloc(c);
    memcpy(p, s->stream + off, c);
    int rc = sfu_tcp_deframer_feed(&d, p, c, on_frame, &k);
    free(p);
    if (rc) return 0;
    off += c;
  }
  return !k.mismatch && k.got == s->n && !sfu_tcp_deframer_pending(&d) && d.frames == s->n;
}

TEST(whole_frame_is_zero_copy) {
  uint8_t storage[100], buf[10] = {0, 3, 'a', 'b', 'c', 0, 1, 'z'};
  sfu_tcp_deframer_t d;
  REQUIRE(sfu_tcp_deframer_init(&d, storage, sizeof storage) == 0);
  const uint8_t *in = buf, *f;
  size_t in_len = 8, flen;
  CHECK_EQ_INT(sfu_tcp_deframer_next(&d, &in, &in_len, &f, &flen), 1);
  CHECK(f == buf + 2);
  CHECK_EQ_INT(flen, 3);
  CHECK_EQ_INT(sfu_tcp_deframer_next(&d, &in, &in_len, &f, &flen), 1);
  CHECK(f == buf + 7 && flen == 1 && f[0] == 'z');
  CHECK_EQ_INT(sfu_tcp_deframer_next(&d, &in, &in_len, &f, &flen), 0);
  CHECK_EQ_INT(in_len, 0);
  CHECK_EQ_INT(d.copied, 0);
  CHECK_EQ_INT(d.frames, 2);
}

TEST(every_chunk_size_small_stream) {
  static const size_t lens[] = {20, 1, 100, 3, 56, 2, 1200, 13};
  stream_t s;
  make_stream(&s, lens, sizeof lens / sizeof lens[0]);
  uint8_t storage[1500];
  for (size_t chunk = 1; chunk <= s.stream_len; chunk++) {
    if (!roundtrip(&s, chunk, storage, sizeof storage)) {
      fprintf(stderr, "chunk size %zu failed\n", chunk);
      CHECK(0);
      break;
    }
  }
  free(s.stream);
}

TEST(one_byte_at_a_time_and_random_chunks_with_max_frame) {
  static const size_t lens[] = {65535, 1, 65535, 500, 65534};
  stream_t s;
  make_stream(&s, lens, sizeof lens / sizeof lens[0]);
  uint8_t *storage = malloc(SFU_TCP_FRAME_MAX);
  CHECK(roundtrip(&s, 1, storage, SFU_TCP_FRAME_MAX));
  CHECK(roundtrip(&s, 0, storage, SFU_TCP_FRAME_MAX));
  CHECK(roundtrip(&s, s.stream_len, storage, SFU_TCP_FRAME_MAX));
  CHECK(roundtrip(&s, 65537, storage, SFU_TCP_FRAME_MAX)); /* header + frame, misaligned after */
  free(storage);
  free(s.stream);
}

TEST(storage_never_written_past_cap) {
  static const size_t lens[] = {1500, 1499, 7, 1500};
  stream_t s;
  make_stream(&s, lens, sizeof lens / sizeof lens[0]);
  uint8_t storage[1500 + 64];
  memset(storage, 0xEE, sizeof storage);
  CHECK(roundtrip(&s, 1, storage, 1500));
  CHECK(roundtrip(&s, 333, storage, 1500));
  for (size_t i = 1500; i < sizeof storage; i++)
    if (storage[i] != 0xEE) {
      CHECK(!"storage overrun");
      break;
    }
  free(s.stream);
}

TEST(garbage_named) {
  static const struct {
    const char *name;
    uint8_t bytes[8];
    size_t len;
    size_t cap;
    int frames_before; /* delivered before the error */
  } cases[] = {
      {"zero-length frame", {0, 0}, 2, 100, 0},
      {"frame over the configured maximum", {0x05, 0xDD}, 2, 1500, 0}, /* 1501 */
      {"HTTP request on the ICE-TCP port", {'G', 'E', 'T', ' ', '/'}, 5, 1500, 0},
      {"TLS ClientHello (0x16 0x03)", {0x16, 0x03, 0x01, 0x00}, 4, 1500, 0},
      {"good frame then zero length", {0, 1, 'x', 0, 0}, 5, 100, 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint8_t storage[1500];
    sfu_tcp_deframer_t d;
    REQUIRE(sfu_tcp_deframer_init(&d, storage, cases[i].cap) == 0);
    /* One byte at a time: the error must come as soon as the length is known. */
    int rc = 0;
    for (size_t b = 0; b < cases[i].len && rc == 0; b++)
      rc = sfu_tcp_deframer_feed(&d, cases[i].bytes + b, 1, NULL, NULL);
    if (rc != SFU_EPARSE || (int)d.frames != cases[i].frames_before)
      fprintf(stderr, "case '%s': rc %d frames %d\n", cases[i].name, rc, (int)d.frames);
    CHECK_EQ_INT(rc, SFU_EPARSE);
    CHECK_EQ_INT(d.frames, cases[i].frames_before);
    /* Sticky: a good frame afterwards is still refused. */
    static const uint8_t good[] = {0, 1, 'x'};
    CHECK_EQ_INT(sfu_tcp_deframer_feed(&d, good, sizeof good, NULL, NULL), SFU_EPARSE);
  }
}

TEST(pending_tracks_partial_frames) {
  uint8_t storage[100];
  sfu_tcp_deframer_t d;
  REQUIRE(sfu_tcp_deframer_init(&d, storage, sizeof storage) == 0);
  static const uint8_t s[] = {0, 2, 'h', 'i'};
  CHECK(!sfu_tcp_deframer_pending(&d));
  CHECK_EQ_INT(sfu_tcp_deframer_feed(&d, s, 1, NULL, NULL), 0);
  CHECK(sfu_tcp_deframer_pending(&d));
  CHECK_EQ_INT(sfu_tcp_deframer_feed(&d, s + 1, 2, NULL, NULL), 0);
  CHECK(sfu_tcp_deframer_pending(&d));
  CHECK_EQ_INT(sfu_tcp_deframer_feed(&d, s + 3, 1, NULL, NULL), 0);
  CHECK(!sfu_tcp_deframer_pending(&d));
  CHECK_EQ_INT(d.frames, 1);
  CHECK_EQ_INT(d.copied, 1);
  CHECK_EQ_INT(sfu_tcp_deframer_feed(&d, NULL, 0, NULL, NULL), 0);
}

TEST(encoder) {
  uint8_t h[2];
  CHECK_EQ_INT(sfu_tcp_frame_header(h, 0), 0);
  CHECK(h[0] == 0 && h[1] == 0);
  CHECK_EQ_INT(sfu_tcp_frame_header(h, 0x1234), 0);
  CHECK(h[0] == 0x12 && h[1] == 0x34);
  CHECK_EQ_INT(sfu_tcp_frame_header(h, 65535), 0);
  CHECK(h[0] == 0xFF && h[1] == 0xFF);
  CHECK_EQ_INT(sfu_tcp_frame_header(h, 65536), SFU_ETOOBIG);
  CHECK_EQ_INT(sfu_tcp_frame_header(NULL, 1), SFU_EINVAL);
  /* In place: payload built at out + 2. */
  uint8_t buf[8] = {0, 0, 'a', 'b', 'c'};
  CHECK_EQ_INT(sfu_tcp_frame_write(buf, sizeof buf, buf + 2, 3), 5);
  CHECK(buf[0] == 0 && buf[1] == 3 && memcmp(buf + 2, "abc", 3) == 0);
  /* Overlapping the other way. */
  uint8_t buf2[8] = {'x', 'y', 'z'};
  CHECK_EQ_INT(sfu_tcp_frame_write(buf2, sizeof buf2, buf2, 3), 5);
  CHECK(buf2[1] == 3 && memcmp(buf2 + 2, "xyz", 3) == 0);
  CHECK_EQ_INT(sfu_tcp_frame_write(buf, 4, (const uint8_t *)"abc", 3), SFU_ETOOBIG);
}

TEST(init_rejects_bad_storage) {
  sfu_tcp_deframer_t d;
  uint8_t s[4];
  CHECK_EQ_INT(sfu_tcp_deframer_init(&d, NULL, 10), SFU_EINVAL);
  const uint8_t *in = (const uint8_t *)"\0\1x", *f;
  size_t in_len = 3, flen;
  CHECK_EQ_INT(sfu_tcp_deframer_next(&d, &in, &in_len, &f, &flen), SFU_EINVAL); /* failed init */
  CHECK_EQ_INT(sfu_tcp_deframer_init(&d, s, 0), SFU_EINVAL);
  CHECK_EQ_INT(sfu_tcp_deframer_init(NULL, s, 4), SFU_EINVAL);
  CHECK_EQ_INT(sfu_tcp_deframer_init(&d, s, 4), 0);
}

int main(void) {
  RUN(whole_frame_is_zero_copy);
  RUN(every_chunk_size_small_stream);
  RUN(one_byte_at_a_time_and_random_chunks_with_max_frame);
  RUN(storage_never_written_past_cap);
  RUN(garbage_named);
  RUN(pending_tracks_partial_frames);
  RUN(encoder);
  RUN(init_rejects_bad_storage);
  return test_summary();
}
