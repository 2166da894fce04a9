/* Data-message envelope (issue 10): parsing and validation of the client's message,
 * every limit at, below and above its edge, invalid UTF-8, wrong types; the envelope and
 * the refusal written back parse as the JSON they claim to be. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sfu/data_envelope.h"
#include "test.h"

static sfu_data_code_t parse_s(const char *s, sfu_data_in_t *in) {
  char err[200];
  sfu_data_code_t c = sfu_data_parse((const uint8_t *)s, strlen(s), in, err, sizeof err);
  if (c) CHECK(err[0] != 0); /* every refusal says why */
  return c;
}

/* {"topic":"<topic>","data":"<data>","lifetimeMs":<life>} with topic/data raw. */
static char *msg(const char *topic, const char *data, const char *life) {
  size_t n = strlen(topic) + strlen(data) + strlen(life) + 64;
  char *b = malloc(n);
  snprintf(b, n, "{\"topic\":\"%s\",\"data\":\"%s\",\"lifetimeMs\":%s}", topic, data, life);
  return b;
}

static char *rep(char c, size_t n) {
  char *b = malloc(n + 1);
  memset(b, c, n);
  b[n] = 0;
  return b;
}

static sfu_data_code_t try3(const char *topic, const char *data, const char *life) {
  sfu_data_in_t in;
  char *m = msg(topic, data, life);
  sfu_data_code_t c = parse_s(m, &in);
  free(m);
  return c;
}

TEST(valid_message) {
  sfu_data_in_t in;
  REQUIRE(parse_s("{\"topic\":\"chat\",\"data\":\"hello\",\"lifetimeMs\":0}", &in) == SFU_DATA_OK);
  CHECK_EQ_STR(in.topic, "chat");
  CHECK_EQ_STR(in.data, "hello");
  CHECK_EQ_INT(in.topic_len, 4);
  CHECK_EQ_INT(in.data_len, 5);
  CHECK_EQ_INT(in.lifetime_ms, 0);
  /* Whitespace, key order, unknown keys, escapes decoded, a whole-number double. */
  REQUIRE(parse_s(" { \"lifetimeMs\" : 1e3, \"x\":[1,{}], \"data\":\"a\\n\\u00e9\\\"\", \"topic\":\"t\" } \n", &in) == 0);
  CHECK_EQ_STR(in.data, "a\n\xc3\xa9\"");
  CHECK_EQ_INT(in.lifetime_ms, 1000);
  CHECK_EQ_INT(try3("t", "", "0"), SFU_DATA_OK); /* empty data is a message */
}

TEST(topic_edges) {
  char *t64 = rep('a', 64), *t65 = rep('a', 65);
  CHECK_EQ_INT(try3(t64, "x", "0"), SFU_DATA_OK);
  CHECK_EQ_INT(try3(t65, "x", "0"), SFU_DATA_BAD_TOPIC);
  CHECK_EQ_INT(try3("a", "x", "0"), SFU_DATA_OK);
  CHECK_EQ_INT(try3("", "x", "0"), SFU_DATA_BAD_TOPIC);
  CHECK_EQ_INT(try3("a b", "x", "0"), SFU_DATA_BAD_TOPIC);
  CHECK_EQ_INT(try3("a\\tb", "x", "0"), SFU_DATA_BAD_TOPIC);
  CHECK_EQ_INT(try3("caf\xc3\xa9", "x", "0"), SFU_DATA_BAD_TOPIC); /* not ASCII */
  CHECK_EQ_INT(try3("a\\u007fb", "x", "0"), SFU_DATA_BAD_TOPIC);   /* DEL */
  CHECK_EQ_INT(try3("!~", "x", "0"), SFU_DATA_OK);                 /* 0x21 and 0x7e */
  CHECK_EQ_INT(try3("sfu:audio", "x", "0"), SFU_DATA_BAD_TOPIC);
  CHECK_EQ_INT(try3("sfu:", "x", "0"), SFU_DATA_BAD_TOPIC);
  CHECK_EQ_INT(try3("sfu", "x", "0"), SFU_DATA_OK);
  CHECK_EQ_INT(try3("SFU:x", "x", "0"), SFU_DATA_OK); /* the prefix is case-sensitive */
  CHECK_EQ_INT(try3("x:sfu:", "x", "0"), SFU_DATA_OK);
  free(t64);
  free(t65);
}

TEST(size_edges) {
  /* topic + data = 2,048 bytes passes, 2,049 is TooLarge; counted in UTF-8 bytes. */
  char *d2044 = rep('d', 2044), *d2045 = rep('d', 2045);
  CHECK_EQ_INT(try3("abcd", d2044, "0"), SFU_DATA_OK);
  CHECK_EQ_INT(try3("abcd", d2045, "0"), SFU_DATA_TOO_LARGE);
  free(d2044);
  free(d2045);
  /* 1,022 two-byte characters + "abcd" = 2,048 bytes; one more byte over. */
  char two[1022 * 2 + 2];
  for (int i = 0; i < 1022; i++) memcpy(two + 2 * i, "\xc3\xa9", 2);
  two[2044] = 0;
  CHECK_EQ_INT(try3("abcd", two, "0"), SFU_DATA_OK);
  CHECK_EQ_INT(try3("abcde", two, "0"), SFU_DATA_TOO_LARGE);
  /* Escapes count as what they decode to: 2,044 "\u00e9"-escaped bytes... as é = 2 bytes. */
  char *esc = malloc(1022 * 6 + 1);
  for (int i = 0; i < 1022; i++) memcpy(esc + 6 * i, "\\u00e9", 6);
  esc[1022 * 6] = 0;
  CHECK_EQ_INT(try3("abcd", esc, "0"), SFU_DATA_OK);
  CHECK_EQ_INT(try3("abcde", esc, "0"), SFU_DATA_TOO_LARGE);
  free(esc);
  /* A 64 KB message is TooLarge without being parsed; one at the raw bound is parsed. */
  char *big = rep('x', 65536);
  CHECK_EQ_INT(try3("t", big, "0"), SFU_DATA_TOO_LARGE);
  free(big);
  sfu_data_in_t in;
  char *pad = rep(' ', SFU_DATA_RAW_MAX);
  const char *core = "{\"topic\":\"t\",\"data\":\"x\",\"lifetimeMs\":0}";
  memcpy(pad, core, strlen(core));
  CHECK_EQ_INT(sfu_data_parse((const uint8_t *)pad, SFU_DATA_RAW_MAX, &in, NULL, 0), SFU_DATA_OK);
  pad = realloc(pad, SFU_DATA_RAW_MAX + 1);
  pad[SFU_DATA_RAW_MAX] = ' ';
  CHECK_EQ_INT(sfu_data_parse((const uint8_t *)pad, SFU_DATA_RAW_MAX + 1, &in, NULL, 0), SFU_DATA_TOO_LARGE);
  free(pad);
}

TEST(lifetime_edges) {
  CHECK_EQ_INT(try3("t", "x", "0"), SFU_DATA_OK);
  CHECK_EQ_INT(try3("t", "x", "300000"), SFU_DATA_OK);
  CHECK_EQ_INT(try3("t", "x", "300001"), SFU_DATA_BAD_REQUEST);
  CHECK_EQ_INT(try3("t", "x", "-1"), SFU_DATA_BAD_REQUEST);
  CHECK_EQ_INT(try3("t", "x", "1.5"), SFU_DATA_BAD_REQUEST);
  CHECK_EQ_INT(try3("t", "x", "1e300"), SFU_DATA_BAD_REQUEST);
  CHECK_EQ_INT(try3("t", "x", "-1e300"), SFU_DATA_BAD_REQUEST);
  CHECK_EQ_INT(try3("t", "x", "299999"), SFU_DATA_OK);
  sfu_data_in_t in;
  REQUIRE(parse_s("{\"topic\":\"t\",\"data\":\"x\",\"lifetimeMs\":300000}", &in) == 0);
  CHECK_EQ_INT(in.lifetime_ms, 300000);
}

TEST(wrong_types_and_missing) {
  CHECK_EQ_INT(try3("t", "x", "\"5\""), SFU_DATA_BAD_REQUEST);
  CHECK_EQ_INT(try3("t", "x", "true"), SFU_DATA_BAD_REQUEST);
  CHECK_EQ_INT(try3("t", "x", "null"), SFU_DATA_BAD_REQUEST);
  sfu_data_in_t in;
  const char *bad[] = {
      "{\"topic\":5,\"data\":\"x\",\"lifetimeMs\":0}",
      "{\"topic\":\"t\",\"data\":{\"a\":1},\"lifetimeMs\":0}",
      "{\"topic\":\"t\",\"data\":[\"x\"],\"lifetimeMs\":0}",
      "{\"topic\":\"t\",\"data\":null,\"lifetimeMs\":0}",
      "{\"topic\":\"t\",\"data\":3,\"lifetimeMs\":0}",
      "{\"data\":\"x\",\"lifetimeMs\":0}",
      "{\"topic\":\"t\",\"lifetimeMs\":0}",
      "{\"topic\":\"t\",\"data\":\"x\"}",
      "{\"Topic\":\"t\",\"data\":\"x\",\"lifetimeMs\":0}", /* names are case-sensitive */
      "{\"topic\":\"t\",\"topic\":\"u\",\"data\":\"x\",\"lifetimeMs\":0}",
      "[\"t\",\"x\",0]",
      "\"hello\"",
      "42",
      "",
      "{",
      "{\"topic\":\"t\",\"data\":\"x\",\"lifetimeMs\":0}}",
      "{\"topic\":\"t\",\"data\":\"x\",\"lifetimeMs\":0} x",
      "{\"topic\":\"t\",\"data\":\"a\\u0000b\",\"lifetimeMs\":0}",
      "{\"topic\":\"t\",\"data\":\"\\ud800\",\"lifetimeMs\":0}", /* lone surrogate escape */
      "{'topic':'t','data':'x','lifetimeMs':0}",
      "hello world",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    sfu_data_code_t c = parse_s(bad[i], &in);
    if (c != SFU_DATA_BAD_REQUEST) fprintf(stderr, "case %zu: %s -> %d\n", i, bad[i], c);
    CHECK_EQ_INT(c, SFU_DATA_BAD_REQUEST);
  }
  /* "\\u0000" is a backslash and "u0000", not a NUL: fine. */
  CHECK_EQ_INT(parse_s("{\"topic\":\"t\",\"data\":\"\\\\u0000\",\"lifetimeMs\":0}", &in), SFU_DATA_OK);
  CHECK_EQ_STR(in.data, "\\u0000");
  /* An embedded NUL byte on the wire. */
  const char nul[] = "{\"topic\":\"t\",\"data\":\"a\0b\",\"lifetimeMs\":0}";
  CHECK_EQ_INT(sfu_data_parse((const uint8_t *)nul, sizeof nul - 1, &in, NULL, 0), SFU_DATA_BAD_REQUEST);
}

TEST(invalid_utf8) {
  const char *bad[] = {
      "\x80", "\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf", "\xed\xa0\x80" /* surrogate */,
      "\xf4\x90\x80\x80" /* > U+10FFFF */, "\xf5\x80\x80\x80", "\xff", "\xc3", "\xe2\x82",
      "\xf0\x9f\x98", "\xc3\x28",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK(!sfu_data_utf8_valid((const uint8_t *)bad[i], strlen(bad[i])));
    CHECK_EQ_INT(try3("t", bad[i], "0"), SFU_DATA_BAD_REQUEST);
  }
  const char *good[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf", "\x7f"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    CHECK(sfu_data_utf8_valid((const uint8_t *)good[i], strlen(good[i])));
    CHECK_EQ_INT(try3("t", good[i], "0"), SFU_DATA_OK);
  }
}

TEST(echo_topic_in_refusal_input) {
  sfu_data_in_t in;
  char *t65 = rep('q', 65);
  char *m = msg(t65, "x", "0");
  CHECK_EQ_INT(parse_s(m, &in), SFU_DATA_BAD_TOPIC);
  CHECK_EQ_STR(in.echo_topic, t65); /* the sender can tell which message was refused */
  free(m);
  free(t65);
  CHECK_EQ_INT(parse_s("{\"topic\":\"t\",\"data\":5,\"lifetimeMs\":0}", &in), SFU_DATA_BAD_REQUEST);
  CHECK_EQ_STR(in.echo_topic, "t");
  CHECK_EQ_INT(parse_s("{\"topic\":7}", &in), SFU_DATA_BAD_REQUEST);
  CHECK_EQ_STR(in.echo_topic, "");
}

TEST(validate_shared_rules) {
  char err[128];
  CHECK_EQ_INT(sfu_data_validate("chat", 4, "x", 1, 0, err, sizeof err), SFU_DATA_OK);
  CHECK_EQ_INT(sfu_data_validate("sfu:x", 5, "x", 1, 0, err, sizeof err), SFU_DATA_BAD_TOPIC);
  CHECK(strstr(err, "topic") != NULL);
  CHECK_EQ_INT(sfu_data_validate("t", 1, "", 2048, 0, err, sizeof err), SFU_DATA_TOO_LARGE);
  CHECK_EQ_INT(sfu_data_validate("t", 1, "", 2047, 300000, err, sizeof err), SFU_DATA_OK);
  CHECK_EQ_INT(sfu_data_validate("t", 1, "", 0, 300001, err, sizeof err), SFU_DATA_BAD_REQUEST);
}

TEST(envelope_round_trip) {
  const char data[] = "q\"uo\\te\n\x01\xc3\xa9</script>";
  sfu_data_out_t f = {.topic = "chat", .data = data, .data_len = sizeof data - 1, .lifetime_ms = 5000,
                      .sender_attendee_id = "a-1", .sender_external_user_id = "u\"ser",
                      .timestamp_ms = 1764847200123ull};
  size_t cap = sfu_data_envelope_bound(&f);
  char *b = malloc(cap);
  size_t n = sfu_data_envelope_write(b, cap, &f);
  REQUIRE(n > 0 && n <= cap);
  CHECK(sfu_data_utf8_valid((const uint8_t *)b, n));
  cJSON *j = cJSON_ParseWithLength(b, n);
  REQUIRE(j != NULL);
  CHECK_EQ_STR(cJSON_GetObjectItem(j, "topic")->valuestring, "chat");
  CHECK_EQ_STR(cJSON_GetObjectItem(j, "data")->valuestring, data);
  CHECK_EQ_STR(cJSON_GetObjectItem(j, "senderAttendeeId")->valuestring, "a-1");
  CHECK_EQ_STR(cJSON_GetObjectItem(j, "senderExternalUserId")->valuestring, "u\"ser");
  CHECK(cJSON_GetObjectItem(j, "timestampMs")->valuedouble == 1764847200123.0);
  CHECK(cJSON_GetObjectItem(j, "lifetimeMs")->valuedouble == 5000.0);
  cJSON_Delete(j);
  /* Too small a buffer: 0, never a truncated message. */
  for (size_t c = 0; c < n; c++) CHECK_EQ_INT(sfu_data_envelope_write(b, c, &f), 0);
  free(b);
  /* Worst case: 2,048 control bytes fit the bound. */
  char ctl[2048];
  memset(ctl, 1, sizeof ctl);
  sfu_data_out_t w = {.topic = "t", .data = ctl, .data_len = 2047, .sender_attendee_id = "sfu",
                      .sender_external_user_id = "sfu", .timestamp_ms = UINT64_MAX};
  cap = sfu_data_envelope_bound(&w);
  b = malloc(cap);
  CHECK(sfu_data_envelope_write(b, cap, &w) > 2047 * 6);
  free(b);
}

TEST(refusal_shape) {
  char b[SFU_DATA_REFUSAL_MAX];
  size_t n = sfu_data_refusal_write(b, sizeof b, SFU_DATA_TOO_LARGE, "topic and data: 2049 bytes", "ch\"at");
  REQUIRE(n > 0);
  cJSON *j = cJSON_ParseWithLength(b, n);
  REQUIRE(j != NULL);
  cJSON *e = cJSON_GetObjectItem(j, "error");
  REQUIRE(cJSON_IsObject(e));
  CHECK_EQ_STR(cJSON_GetObjectItem(e, "code")->valuestring, "TooLarge");
  CHECK_EQ_STR(cJSON_GetObjectItem(e, "message")->valuestring, "topic and data: 2049 bytes");
  CHECK_EQ_STR(cJSON_GetObjectItem(j, "topic")->valuestring, "ch\"at");
  cJSON_Delete(j);
  CHECK_EQ_STR(sfu_data_code_name(SFU_DATA_THROTTLED), "Throttled");
  CHECK_EQ_STR(sfu_data_code_name(SFU_DATA_BAD_TOPIC), "BadTopic");
  CHECK_EQ_STR(sfu_data_code_name(SFU_DATA_BAD_REQUEST), "BadRequest");
  /* Worst-case topic and message fit SFU_DATA_REFUSAL_MAX. */
  char t[SFU_DATA_ECHO_TOPIC_MAX + 1], m[201];
  memset(t, 1, sizeof t - 1);
  t[sizeof t - 1] = 0;
  memset(m, 2, sizeof m - 1);
  m[200] = 0;
  CHECK(sfu_data_refusal_write(b, sizeof b, SFU_DATA_BAD_TOPIC, m, t) > 0);
}

/* Every truncation of a valid message is refused, never crashes. */
TEST(every_prefix) {
  const char *s = "{\"topic\":\"chat\",\"data\":\"h\\u00e9llo \\ud83d\\ude00\",\"lifetimeMs\":1200}";
  sfu_data_in_t in;
  size_t n = strlen(s);
  for (size_t k = 0; k < n; k++)
    CHECK(sfu_data_parse((const uint8_t *)s, k, &in, NULL, 0) != SFU_DATA_OK);
  REQUIRE(sfu_data_parse((const uint8_t *)s, n, &in, NULL, 0) == SFU_DATA_OK);
  CHECK_EQ_STR(in.data, "h\xc3\xa9llo \xf0\x9f\x98\x80");
  CHECK_EQ_INT(in.lifetime_ms, 1200);
}

int main(void) {
  RUN(valid_message);
  RUN(topic_edges);
  RUN(size_edges);
  RUN(lifetime_edges);
  RUN(wrong_types_and_missing);
  RUN(invalid_utf8);
  RUN(echo_topic_in_refusal_input);
  RUN(validate_shared_rules);
  RUN(envelope_round_trip);
  RUN(refusal_shape);
  RUN(every_prefix);
  return test_summary();
}
