/* libFuzzer target: the data-message envelope parser (issue 10, data_envelope.h), fed
 * as a client's text message. Beyond no crash and no sanitizer report: the answer is
 * deterministic; an accepted message satisfies every rule (topic 1..64 printable ASCII
 * without spaces, not "sfu:", topic + data <= 2,048 bytes of valid UTF-8, lifetime <=
 * 300,000); the envelope written from it parses back to the same topic and data; a
 * refusal (with whatever topic was echoed) is valid UTF-8 and parses. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sfu/data_envelope.h"

#define CHECK(x)       \
  do {                 \
    if (!(x)) abort(); \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_json(const char *b, size_t n) {
  CHECK(n > 0);
  CHECK(sfu_data_utf8_valid((const uint8_t *)b, n));
  cJSON *j = cJSON_ParseWithLength(b, n);
  CHECK(j && cJSON_IsObject(j));
  cJSON_Delete(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static sfu_data_in_t in, in2;
  char err[160], err2[160];
  sfu_data_code_t c = sfu_data_parse(data, size, &in, err, sizeof err);
  sfu_data_code_t c2 = sfu_data_parse(data, size, &in2, err2, sizeof err2);
  CHECK(c == c2 && strcmp(err, err2) == 0);
  CHECK(c >= SFU_DATA_OK && c < SFU_DATA_N_CODES && c != SFU_DATA_THROTTLED);
  static char buf[SFU_DATA_REFUSAL_MAX > 6 * 2048 + 1024 ? SFU_DATA_REFUSAL_MAX : 6 * 2048 + 1024];
  if (c) {
    CHECK(err[0] != 0);
    CHECK(strlen(in.echo_topic) <= SFU_DATA_ECHO_TOPIC_MAX);
    size_t n = sfu_data_refusal_write(buf, sizeof buf, c, err, in.echo_topic);
    check_json(buf, n);
    return 0;
  }
  CHECK(in.topic_len >= 1 && in.topic_len <= SFU_DATA_TOPIC_MAX && strlen(in.topic) == in.topic_len);
  for (size_t i = 0; i < in.topic_len; i++) CHECK(in.topic[i] > 0x20 && in.topic[i] < 0x7f);
  CHECK(strncmp(in.topic, "sfu:", 4) != 0);
  CHECK(strlen(in.data) == in.data_len && in.topic_len + in.data_len <= SFU_DATA_PAYLOAD_MAX);
  CHECK(sfu_data_utf8_valid((const uint8_t *)in.data, in.data_len));
  CHECK(in.lifetime_ms <= SFU_DATA_LIFETIME_MAX_MS);
  CHECK(sfu_data_validate(in.topic, in.topic_len, in.data, in.data_len, in.lifetime_ms, NULL, 0) == 0);
  sfu_data_out_t f = {.topic = in.topic, .data = in.data, .data_len = in.data_len,
                      .lifetime_ms = in.lifetime_ms, .sender_attendee_id = "a",
                      .sender_external_user_id = "u", .timestamp_ms = 1};
  CHECK(sfu_data_envelope_bound(&f) <= sizeof buf);
  size_t n = sfu_data_envelope_write(buf, sizeof buf, &f);
  check_json(buf, n);
  cJSON *j = cJSON_ParseWithLength(buf, n);
  CHECK(strcmp(cJSON_GetObjectItem(j, "topic")->valuestring, in.topic) == 0);
  CHECK(strcmp(cJSON_GetObjectItem(j, "data")->valuestring, in.data) == 0);
  cJSON_Delete(j);
  return 0;
}
