/* Data messages (issue 10): the client's text message, its validation, and the two
 * messages the worker writes back: the envelope a receiver gets and the refusal the
 * sender gets. Wire format and rules: docs/data-messages.md.
 *
 *   client -> worker   {"topic":"chat","data":"hi","lifetimeMs":0}
 *   worker -> others   {"topic":"chat","data":"hi","lifetimeMs":0,"senderAttendeeId":"…",
 *                       "senderExternalUserId":"…","timestampMs":1764847200123}
 *   worker -> sender   {"error":{"code":"TooLarge","message":"…"},"topic":"chat"}
 *
 * Pure functions: no state, no clock (timestampMs is a parameter), no I/O. The parser
 * uses cJSON (one parse per incoming message, never per delivery) and fills a struct of
 * fixed buffers, so what it returns needs no freeing. */
#ifndef SFU_DATA_ENVELOPE_H
#define SFU_DATA_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

/* Limits (requirements.md "Data messages", issue 10). */
#define SFU_DATA_TOPIC_MAX 64            /* characters (= bytes: printable ASCII only) */
#define SFU_DATA_PAYLOAD_MAX 2048        /* topic + data, in UTF-8 bytes */
#define SFU_DATA_LIFETIME_MAX_MS 300000u /* lifetimeMs 0..300,000 */
/* A message longer than this on the wire is TooLarge without being parsed: 2,048 bytes
 * of topic+data written with \uXXXX escapes take at most 6 x 2,048 bytes, plus the keys;
 * JSON allows unbounded whitespace, so a valid but padded message above this is refused
 * too. Parsing costs O(len) and a cJSON tree; this bounds it per message. */
#define SFU_DATA_RAW_MAX 16384
#define SFU_DATA_ECHO_TOPIC_MAX 256      /* a refusal echoes at most this much of the topic */

/* Refusal codes (the "code" of a refusal, docs/data-messages.md). */
typedef enum {
  SFU_DATA_OK = 0,
  SFU_DATA_BAD_REQUEST, /* not JSON, not UTF-8, wrong types, missing fields, binary */
  SFU_DATA_BAD_TOPIC,   /* topic not 1..64 printable ASCII without spaces, or "sfu:..." */
  SFU_DATA_TOO_LARGE,   /* topic + data over 2,048 bytes (or the raw message over 16 KiB) */
  SFU_DATA_THROTTLED,   /* over the meeting's 100 messages a second (data_bucket.h) */
  SFU_DATA_N_CODES
} sfu_data_code_t;

/* "BadRequest", "BadTopic", "TooLarge", "Throttled" ("Ok" for 0); never NULL. */
const char *sfu_data_code_name(sfu_data_code_t c);

/* A parsed, valid client message. topic and data are NUL-terminated copies; data may
 * hold any Unicode except U+0000 (refused: it cannot be told from the end of a C string
 * through cJSON, and no client needs it). */
typedef struct {
  char topic[SFU_DATA_TOPIC_MAX + 1];
  size_t topic_len;
  char data[SFU_DATA_PAYLOAD_MAX + 1];
  size_t data_len;
  uint32_t lifetime_ms;
  /* For a refusal: the topic as the client gave it (if it was a JSON string of at most
   * SFU_DATA_ECHO_TOPIC_MAX bytes; else ""), filled whatever the outcome. */
  char echo_topic[SFU_DATA_ECHO_TOPIC_MAX + 1];
} sfu_data_in_t;

/* Strict UTF-8 (RFC 3629 §4: no overlong forms, no surrogates, nothing above U+10FFFF). */
int sfu_data_utf8_valid(const uint8_t *s, size_t len);

/* The rules on already-decoded fields, shared with the control plane's SendDataMessage
 * (so both get the same answers). lifetime_ms is signed so that a negative one can be
 * refused. Returns a code and writes "<field>: <why>" into err (may be NULL). */
sfu_data_code_t sfu_data_validate(const char *topic, size_t topic_len, const char *data,
                                  size_t data_len, int64_t lifetime_ms, char *err,
                                  size_t errlen);

/* Parses and validates one client message (its bytes as received, PPID 51). Every field
 * is required; unknown keys are ignored; a key given twice is BadRequest. Checks, in
 * order: size (TooLarge over SFU_DATA_RAW_MAX), UTF-8 and JSON (BadRequest), fields and
 * types (BadRequest), topic (BadTopic), size of topic+data (TooLarge), lifetimeMs
 * (BadRequest). Returns the code; err gets a short reason for the refusal's message. */
sfu_data_code_t sfu_data_parse(const uint8_t *buf, size_t len, sfu_data_in_t *out, char *err,
                               size_t errlen);

/* The envelope receivers get. Strings are NUL-terminated; data has data_len bytes (no NUL
 * inside). */
typedef struct {
  const char *topic;
  const char *data;
  size_t data_len;
  uint32_t lifetime_ms;
  const char *sender_attendee_id;      /* "sfu" for the control plane / the worker */
  const char *sender_external_user_id; /* "sfu" likewise */
  uint64_t timestamp_ms;               /* wall clock, ms since the Unix epoch */
} sfu_data_out_t;

/* An upper bound of the envelope's size for these fields (escaping at worst 6 bytes a
 * byte), so that a caller can size one buffer. */
size_t sfu_data_envelope_bound(const sfu_data_out_t *f);
/* Writes the envelope into buf (no NUL). Bytes written, or 0 if cap is too small. */
size_t sfu_data_envelope_write(char *buf, size_t cap, const sfu_data_out_t *f);
/* Writes the refusal {"error":{"code":…,"message":…},"topic":…} into buf (no NUL).
 * SFU_DATA_REFUSAL_MAX suffices for a topic of at most SFU_DATA_ECHO_TOPIC_MAX bytes and
 * a message of at most 200 (both escaped at worst 6 bytes a byte). Bytes written, or 0. */
#define SFU_DATA_REFUSAL_MAX (6 * SFU_DATA_ECHO_TOPIC_MAX + 6 * 200 + 64)
size_t sfu_data_refusal_write(char *buf, size_t cap, sfu_data_code_t code, const char *message,
                              const char *topic);

#endif
