/* Unit tests for src/control: request decoding (every op, every kind of bad input),
 * execution against a session, reply and event shapes, and the control directory
 * (placement, uniqueness, replica rules, load from events). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "control/control_video.h"
#include "sfu/control.h"
#include "sfu/control_dir.h"
#include "sfu/err.h"
#include "sfu/ids.h"
#include "test.h"

static char g_err[SFU_CONTROL_ERRLEN];
static sfu_cmd_t g_cmd;

/* Decodes a NUL-terminated request; returns the code, message in g_err. */
static int dec(const char *json) {
  sfu_cmd_free(&g_cmd);
  g_err[0] = 0;
  return sfu_control_decode(json, strlen(json), &g_cmd, g_err, sizeof g_err);
}

/* Decode must fail with BadRequest and a message starting with prefix. */
#define BAD(json, prefix)                                                                       \
  do {                                                                                          \
    CHECK_EQ_INT(dec(json), SFU_EINVAL);                                                        \
    if (strncmp(g_err, prefix, strlen(prefix)) != 0) {                                          \
      fprintf(stderr, "%s:%d: message \"%s\" does not start with \"%s\"\n", __FILE__, __LINE__, \
              g_err, prefix);                                                                   \
      test_cur_failed_ = 1;                                                                     \
    }                                                                                           \
  } while (0)

#define MID "6f1b0e9a-3c1d-4e8e-9a55-0c4b2f7d8e11"
#define AID "0b7e3a52-9f0c-4f63-8d21-5a6e2c1b9d04"

TEST(decode_every_op_good) {
  CHECK_EQ_INT(dec("{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"standup\"}"), 0);
  CHECK_EQ_INT(g_cmd.op, SFU_OP_CREATE_MEETING);
  CHECK_EQ_STR(g_cmd.external_id, "standup");
  CHECK_EQ_STR(g_cmd.meeting_id, "");
  CHECK_EQ_INT(g_cmd.features.video, SFU_RES_HD);
  CHECK_EQ_INT(g_cmd.features.content, SFU_RES_FHD);
  CHECK_EQ_INT(g_cmd.features.max_count, 250);
  CHECK_EQ_INT(g_cmd.features.receive_kbps, 6000);
  CHECK_EQ_INT(g_cmd.features.audio_kbps, 32);
  CHECK_EQ_INT(g_cmd.features.max_talkers, 5);
  CHECK_EQ_INT(dec("{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"aud\",\"MeetingFeatures\":"
                   "{\"Audio\":{\"BitrateKbps\":128,\"MaxTalkers\":3}}}"),
               0);
  CHECK_EQ_INT(g_cmd.features.audio_kbps, 128);
  CHECK_EQ_INT(g_cmd.features.max_talkers, 3);
  CHECK_EQ_INT(dec("{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"cap\",\"MeetingFeatures\":"
                   "{\"Video\":{\"MaxReceiveKbps\":1200}}}"),
               0);
  CHECK_EQ_INT(g_cmd.features.receive_kbps, 1200);
  CHECK_EQ_INT(g_cmd.features.video, SFU_RES_HD);
  CHECK_EQ_INT(dec("{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"hd\",\"MeetingId\":\""
                   "6F1B0E9A-3C1D-4E8E-9A55-0C4B2F7D8E11\",\"PrimaryMeetingId\":\"" AID "\","
                   "\"MeetingFeatures\":{\"Video\":{\"MaxResolution\":\"FHD\"},\"Content\":{"
                   "\"MaxResolution\":\"UHD\"},\"Attendee\":{\"MaxCount\":10}}}"),
               0);
  CHECK_EQ_STR(g_cmd.meeting_id, MID); /* lower-cased */
  CHECK_EQ_STR(g_cmd.primary_meeting_id, AID);
  CHECK_EQ_INT(g_cmd.features.video, SFU_RES_FHD);
  CHECK_EQ_INT(g_cmd.features.content, SFU_RES_UHD);
  CHECK_EQ_INT(g_cmd.features.max_count, 10);
  CHECK_EQ_INT(dec("{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"hd\",\"MeetingFeatures\":"
                   "{\"Video\":{\"MaxResolution\":\"FHD\"}}}"),
               0);
  CHECK_EQ_INT(g_cmd.features.max_count, 25);
  CHECK_EQ_INT(dec("{\"op\":\"GetMeeting\",\"MeetingId\":\"" MID "\"}"), 0);
  CHECK_EQ_INT(g_cmd.op, SFU_OP_GET_MEETING);
  CHECK_EQ_INT(dec("{\"op\":\"DeleteMeeting\",\"MeetingId\":\"" MID "\"}"), 0);
  CHECK_EQ_INT(g_cmd.op, SFU_OP_DELETE_MEETING);
  CHECK_EQ_INT(dec("{\"op\":\"ListMeetings\"}"), 0);
  CHECK_EQ_INT(dec("{\"op\":\"GetWorkerStats\"}"), 0);
  CHECK_EQ_INT(g_cmd.op, SFU_OP_GET_WORKER_STATS);
  CHECK_EQ_INT(
      dec("{\"op\":\"CreateAttendee\",\"MeetingId\":\"" MID "\",\"ExternalUserId\":\"alice\"}"), 0);
  CHECK_EQ_STR(g_cmd.external_id, "alice");
  CHECK_EQ_INT(g_cmd.caps.audio, SFU_CAP_SEND_RECEIVE);
  CHECK_EQ_INT(
      dec("{\"op\":\"CreateAttendee\",\"MeetingId\":\"" MID "\",\"ExternalUserId\":\"bob\","
          "\"Capabilities\":{\"Audio\":\"Send\",\"Video\":\"Receive\",\"Content\":\"None\"}}"),
      0);
  CHECK_EQ_INT(g_cmd.caps.audio, SFU_CAP_SEND);
  CHECK_EQ_INT(g_cmd.caps.video, SFU_CAP_RECEIVE);
  CHECK_EQ_INT(g_cmd.caps.content, SFU_CAP_NONE);
  CHECK_EQ_INT(dec("{\"op\":\"BatchCreateAttendee\",\"MeetingId\":\"" MID "\",\"Attendees\":["
                   "{\"ExternalUserId\":\"u1\"},{\"ExternalUserId\":\"x\"},7]}"),
               0);
  CHECK_EQ_INT(g_cmd.n_items, 3);
  CHECK_EQ_INT(g_cmd.items[0].err, 0);
  CHECK_EQ_INT(g_cmd.items[1].err, SFU_EINVAL);
  CHECK(strncmp(g_cmd.items[1].errmsg, "Attendees[1].ExternalUserId:", 28) == 0);
  CHECK_EQ_INT(g_cmd.items[2].err, SFU_EINVAL);
  CHECK_EQ_INT(dec("{\"op\":\"GetAttendee\",\"MeetingId\":\"" MID "\",\"AttendeeId\":\"" AID "\"}"),
               0);
  CHECK_EQ_STR(g_cmd.attendee_id, AID);
  CHECK_EQ_INT(
      dec("{\"op\":\"DeleteAttendee\",\"MeetingId\":\"" MID "\",\"AttendeeId\":\"" AID "\"}"), 0);
  CHECK_EQ_INT(dec("{\"op\":\"ListAttendees\",\"MeetingId\":\"" MID "\"}"), 0);
  CHECK_EQ_INT(g_cmd.max_results, 100);
  CHECK_EQ_INT(dec("{\"op\":\"ListAttendees\",\"MeetingId\":\"" MID
                   "\",\"MaxResults\":5,\"NextToken\":\"17\"}"),
               0);
  CHECK_EQ_INT(g_cmd.max_results, 5);
  CHECK_EQ_INT(g_cmd.next_token, 17);
  CHECK_EQ_INT(
      dec("{\"op\":\"UpdateAttendeeCapabilities\",\"MeetingId\":\"" MID "\",\"AttendeeId\":\"" AID
          "\",\"Capabilities\":{\"Audio\":\"None\",\"Video\":\"Send\",\"Content\":\"Send\"}}"),
      0);
  CHECK_EQ_INT(g_cmd.caps.audio, SFU_CAP_NONE);
  CHECK_EQ_INT(dec("{\"op\":\"Subscribe\",\"MeetingId\":\"" MID "\",\"AttendeeId\":\"" AID
                   "\",\"JoinToken\":\"abc\",\"SdpOffer\":\"v=0\\r\\n\"}"),
               0);
  CHECK_EQ_STR(g_cmd.join_token, "abc");
  CHECK_EQ_INT(g_cmd.join_token_len, 3);
  CHECK_EQ_STR(g_cmd.sdp_offer, "v=0\r\n");
  /* Whitespace around the object is fine. */
  CHECK_EQ_INT(dec(" \n{\"op\":\"ListMeetings\"}\r\n "), 0);
}

TEST(decode_missing_and_wrong_fields) {
  BAD("{\"op\":\"CreateMeeting\"}", "ExternalMeetingId: missing");
  BAD("{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":5}", "ExternalMeetingId: must be a string");
  BAD("{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"a\"}",
      "ExternalMeetingId: must be a string of 2 to 64");
  BAD("{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"ab\",\"MeetingId\":\"nope\"}",
      "MeetingId: must be a UUID");
  BAD("{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"ab\",\"MeetingId\":7}",
      "MeetingId: must be a string");
  BAD("{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"ab\",\"PrimaryMeetingId\":\"x\"}",
      "PrimaryMeetingId: must be a UUID");
  BAD("{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"ab\",\"MeetingFeatures\":[]}",
      "MeetingFeatures: must be an object");
  BAD("{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"ab\",\"MeetingFeatures\":{\"Video\":{"
      "\"MaxResolution\":\"UHD\"}}}",
      "MeetingFeatures.Video.MaxResolution:");
  BAD("{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"ab\",\"MeetingFeatures\":{\"Content\":{"
      "\"MaxResolution\":\"HD\"}}}",
      "MeetingFeatures.Content.MaxResolution:");
  BAD("{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"ab\",\"MeetingFeatures\":{\"Audio\":7}}",
      "MeetingFeatures.Audio: must be an object");
  BAD("{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"ab\",\"MeetingFeatures\":{\"Audio\":{"
      "\"BitrateKbps\":5}}}",
      "MeetingFeatures.Audio.BitrateKbps: must be an integer from 6 to 128");
  BAD("{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"ab\",\"MeetingFeatures\":{\"Audio\":{"
      "\"BitrateKbps\":129}}}",
      "MeetingFeatures.Audio.BitrateKbps:");
  BAD("{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"ab\",\"MeetingFeatures\":{\"Audio\":{"
      "\"MaxTalkers\":0}}}",
      "MeetingFeatures.Audio.MaxTalkers: must be an integer from 1 to 16");
  BAD("{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"ab\",\"MeetingFeatures\":{\"Audio\":{"
      "\"MaxTalkers\":17}}}",
      "MeetingFeatures.Audio.MaxTalkers:");
  BAD("{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"ab\",\"MeetingFeatures\":{\"Video\":{"
      "\"MaxReceiveKbps\":149}}}",
      "MeetingFeatures.Video.MaxReceiveKbps: must be an integer from 150 to 50000");
  BAD("{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"ab\",\"MeetingFeatures\":{\"Video\":{"
      "\"MaxReceiveKbps\":50001}}}",
      "MeetingFeatures.Video.MaxReceiveKbps:");
  BAD("{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"ab\",\"MeetingFeatures\":{\"Video\":{"
      "\"MaxReceiveKbps\":\"6000\"}}}",
      "MeetingFeatures.Video.MaxReceiveKbps:");
  BAD("{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"ab\",\"MeetingFeatures\":{\"Video\":{"
      "\"MaxReceiveKbps\":1500.5}}}",
      "MeetingFeatures.Video.MaxReceiveKbps:");
  BAD("{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"ab\",\"MeetingFeatures\":{\"Attendee\":{"
      "\"MaxCount\":0}}}",
      "MeetingFeatures.Attendee.MaxCount:");
  BAD("{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"ab\",\"MeetingFeatures\":{\"Attendee\":{"
      "\"MaxCount\":251}}}",
      "MeetingFeatures.Attendee.MaxCount:");
  BAD("{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"ab\",\"MeetingFeatures\":{\"Attendee\":{"
      "\"MaxCount\":2.5}}}",
      "MeetingFeatures.Attendee.MaxCount:");
  BAD("{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"ab\",\"MeetingFeatures\":{\"Attendee\":{"
      "\"MaxCount\":\"5\"}}}",
      "MeetingFeatures.Attendee.MaxCount:");
  BAD("{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"ab\",\"MeetingFeatures\":{\"Content\":{"
      "\"MaxResolution\":\"UHD\"},"
      "\"Attendee\":{\"MaxCount\":26}}}",
      "MeetingFeatures.Attendee.MaxCount: must be an integer from 1 to 25");
  BAD("{\"op\":\"GetMeeting\"}", "MeetingId: missing");
  BAD("{\"op\":\"GetMeeting\",\"MeetingId\":null}", "MeetingId: must be a string");
  BAD("{\"op\":\"DeleteMeeting\",\"MeetingId\":\"" MID "x\"}", "MeetingId: must be a UUID");
  BAD("{\"op\":\"CreateAttendee\",\"MeetingId\":\"" MID "\"}", "ExternalUserId: missing");
  BAD("{\"op\":\"CreateAttendee\",\"ExternalUserId\":\"alice\"}", "MeetingId: missing");
  BAD("{\"op\":\"CreateAttendee\",\"MeetingId\":\"" MID
      "\",\"ExternalUserId\":\"alice\",\"Capabilities\":\"all\"}",
      "Capabilities: must be an object");
  BAD("{\"op\":\"CreateAttendee\",\"MeetingId\":\"" MID
      "\",\"ExternalUserId\":\"alice\",\"Capabilities\":{\"Audio\":\"Loud\"}}",
      "Capabilities.Audio: must be SendReceive, Send, Receive or None");
  BAD("{\"op\":\"CreateAttendee\",\"MeetingId\":\"" MID
      "\",\"ExternalUserId\":\"alice\",\"Capabilities\":{\"Video\":\"None\"}}",
      "Capabilities.Content:");
  BAD("{\"op\":\"BatchCreateAttendee\",\"MeetingId\":\"" MID "\"}", "Attendees: missing");
  BAD("{\"op\":\"BatchCreateAttendee\",\"MeetingId\":\"" MID "\",\"Attendees\":{}}",
      "Attendees: must be an array");
  BAD("{\"op\":\"BatchCreateAttendee\",\"MeetingId\":\"" MID "\",\"Attendees\":[]}",
      "Attendees: wrong number");
  BAD("{\"op\":\"GetAttendee\",\"MeetingId\":\"" MID "\"}", "AttendeeId: missing");
  BAD("{\"op\":\"ListAttendees\",\"MeetingId\":\"" MID "\",\"MaxResults\":0}", "MaxResults:");
  BAD("{\"op\":\"ListAttendees\",\"MeetingId\":\"" MID "\",\"MaxResults\":101}", "MaxResults:");
  BAD("{\"op\":\"ListAttendees\",\"MeetingId\":\"" MID "\",\"NextToken\":\"abc\"}", "NextToken:");
  BAD("{\"op\":\"ListAttendees\",\"MeetingId\":\"" MID "\",\"NextToken\":3}", "NextToken:");
  BAD("{\"op\":\"UpdateAttendeeCapabilities\",\"MeetingId\":\"" MID "\",\"AttendeeId\":\"" AID
      "\"}",
      "Capabilities: missing");
  BAD("{\"op\":\"UpdateAttendeeCapabilities\",\"MeetingId\":\"" MID "\",\"AttendeeId\":\"" AID
      "\",\"Capabilities\":{\"Audio\":\"None\",\"Video\":\"None\"}}",
      "Capabilities.Content: missing");
  BAD("{\"op\":\"Subscribe\",\"MeetingId\":\"" MID "\",\"AttendeeId\":\"" AID
      "\",\"SdpOffer\":\"v=0\"}",
      "JoinToken: missing");
  BAD("{\"op\":\"Subscribe\",\"MeetingId\":\"" MID "\",\"AttendeeId\":\"" AID
      "\",\"JoinToken\":\"t\"}",
      "SdpOffer: missing");
  BAD("{\"op\":\"Subscribe\",\"MeetingId\":\"" MID "\",\"AttendeeId\":\"" AID
      "\",\"JoinToken\":1,\"SdpOffer\":\"v\"}",
      "JoinToken: must be a string");
}

TEST(decode_op_errors) {
  BAD("{}", "op: missing");
  BAD("{\"op\":5}", "op: must be a string");
  BAD("{\"op\":\"Explode\"}", "op: unknown operation 'Explode'");
  BAD("{\"op\":\"createmeeting\"}", "op: unknown operation 'createmeeting'");
  /* Non-ASCII in the echoed name is replaced, so the reply stays valid UTF-8. */
  BAD("{\"op\":\"\xff\xfe\"}", "op: unknown operation '?\?'");
  BAD("{\"Op\":\"ListMeetings\"}", "op: missing");
}

TEST(decode_hostile_inputs) {
  BAD("", "request: empty");
  BAD("[]", "request: must be a JSON object");
  BAD("\"CreateMeeting\"", "request: must be a JSON object");
  BAD("42", "request: must be a JSON object");
  BAD("null", "request: must be a JSON object");
  BAD("{\"op\":", "request: malformed JSON");
  BAD("{\"op\":\"ListMeetings\"", "request: malformed JSON");
  BAD("{\"op\":\"ListMeetings\"}}", "request: unexpected data");
  BAD("{\"op\":\"ListMeetings\"} {}", "request: unexpected data");
  BAD("\x89PNG\r\n\x1a\n garbage \xff", "request: malformed JSON");
  /* \u0000 would silently cut a string short inside cJSON. */
  BAD("{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"ab\\u0000cd\"}", "request: \\u0000");
  /* Escaped quotes and brackets inside strings do not confuse the depth scan. */
  CHECK_EQ_INT(dec("{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"[[\\\"{{\"}"), 0);
  CHECK_EQ_STR(g_cmd.external_id, "[[\"{{");

  /* Embedded NUL bytes. */
  const char nul[] = "{\"op\":\"ListMeetings\"}\0trailing";
  sfu_cmd_free(&g_cmd);
  CHECK_EQ_INT(sfu_control_decode(nul, sizeof nul - 1, &g_cmd, g_err, sizeof g_err), SFU_EINVAL);
  CHECK(strstr(g_err, "NUL") != NULL);

  /* Depth 1000: refused by the scan, long before cJSON recurses. */
  char *deep = malloc(2100);
  size_t n = 0;
  deep[n++] = '{';
  memcpy(deep + n, "\"a\":", 4), n += 4;
  for (int i = 0; i < 1000; i++) deep[n++] = '[';
  for (int i = 0; i < 1000; i++) deep[n++] = ']';
  deep[n++] = '}';
  deep[n] = 0;
  BAD(deep, "request: JSON nested deeper than 32 levels");
  free(deep);
  /* Exactly 32 levels is accepted, 33 is not. */
  char lim[200];
  n = 0;
  n += (size_t)sprintf(lim, "{\"op\":\"ListMeetings\",\"x\":");
  for (int i = 0; i < 31; i++) lim[n++] = '[';
  for (int i = 0; i < 31; i++) lim[n++] = ']';
  lim[n++] = '}';
  lim[n] = 0;
  CHECK_EQ_INT(dec(lim), 0);
  CHECK_EQ_INT(sfu_control_json_depth(lim, strlen(lim)), 32);
  n = 0;
  n += (size_t)sprintf(lim, "{\"op\":\"ListMeetings\",\"x\":");
  for (int i = 0; i < 32; i++) lim[n++] = '[';
  for (int i = 0; i < 32; i++) lim[n++] = ']';
  lim[n++] = '}';
  lim[n] = 0;
  BAD(lim, "request: JSON nested deeper");

  /* A 10 MB string: refused by size before any parse. */
  size_t big = 10 * 1024 * 1024;
  char *s = malloc(big + 1);
  memset(s, 'a', big);
  const char *head = "{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"";
  memcpy(s, head, strlen(head));
  memcpy(s + big - 2, "\"}", 2);
  s[big] = 0;
  BAD(s, "request: message too large");
  /* Just under the limit: parsed, and the field is refused for its length. */
  size_t under = SFU_CONTROL_MAX_REQUEST;
  memcpy(s + under - 2, "\"}", 2);
  s[under] = 0;
  BAD(s, "ExternalMeetingId: must be a string of 2 to 64");
  free(s);
}

/* Issue 6: cJSON keeps both pairs of a duplicated name and its lookups find the first,
 * while most parsers (a proxy in front of the worker) keep the last. Any duplicate, at
 * any depth, refuses the whole request, naming where it is. */
TEST(decode_refuses_duplicate_keys) {
  BAD("{\"op\":\"DeleteMeeting\",\"MeetingId\":\"" MID "\",\"MeetingId\":\"" AID "\"}",
      "MeetingId: duplicate key");
  BAD("{\"op\":\"DeleteMeeting\",\"op\":\"GetWorkerStats\",\"MeetingId\":\"" MID "\"}",
      "op: duplicate key");
  /* Same value twice is still two keys. */
  BAD("{\"op\":\"GetWorkerStats\",\"op\":\"GetWorkerStats\"}", "op: duplicate key");
  /* Unknown fields count too: what the worker ignores, a front end may not. */
  BAD("{\"op\":\"GetWorkerStats\",\"x\":1,\"x\":2}", "x: duplicate key");
  BAD("{\"op\":\"GetWorkerStats\",\"\":1,\"\":2}", "\"\": duplicate key");
  /* Equal up to ASCII case: a case-insensitive front end reads "meetingid" as MeetingId. */
  BAD("{\"op\":\"DeleteMeeting\",\"MeetingId\":\"" MID "\",\"meetingid\":\"" AID "\"}",
      "MeetingId: duplicate key (also written \"meetingid\"");
  BAD("{\"op\":\"DeleteMeeting\",\"meetingID\":\"" AID "\",\"MeetingId\":\"" MID "\"}",
      "MeetingId: duplicate key (also written \"meetingID\"");
  /* Equal once escapes are decoded ("\u0049" is "I"). */
  BAD("{\"op\":\"DeleteMeeting\",\"MeetingId\":\"" MID "\",\"Meeting\\u0049d\":\"" AID "\"}",
      "MeetingId: duplicate key");
  /* Nested: MeetingFeatures, its groups, Capabilities, the Attendees of a batch. */
  BAD("{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"ab\",\"MeetingFeatures\":{\"Video\":"
      "{\"MaxResolution\":\"None\"},\"Video\":{\"MaxResolution\":\"FHD\"}}}",
      "MeetingFeatures.Video: duplicate key");
  BAD("{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"ab\",\"MeetingFeatures\":{\"Video\":"
      "{\"MaxResolution\":\"None\",\"MaxResolution\":\"FHD\"}}}",
      "MeetingFeatures.Video.MaxResolution: duplicate key");
  BAD("{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"ab\",\"MeetingFeatures\":{\"Attendee\":"
      "{\"MaxCount\":2,\"maxcount\":250}}}",
      "MeetingFeatures.Attendee.MaxCount: duplicate key");
  BAD("{\"op\":\"BatchCreateAttendee\",\"MeetingId\":\"" MID
      "\",\"Attendees\":["
      "{\"ExternalUserId\":\"alice\"},{\"ExternalUserId\":\"bob\",\"ExternalUserId\":\"eve\"}]}",
      "Attendees[1].ExternalUserId: duplicate key");
  BAD("{\"op\":\"CreateAttendee\",\"MeetingId\":\"" MID
      "\",\"ExternalUserId\":\"ab\","
      "\"Capabilities\":{\"Audio\":\"None\",\"Video\":\"None\",\"Content\":\"None\","
      "\"Audio\":\"SendReceive\"}}",
      "Capabilities.Audio: duplicate key");
  BAD("{\"op\":\"GetWorkerStats\",\"x\":[1,[{\"a\":1}],[[{\"b\":1,\"a\":2,\"b\":3}]]]}",
      "x[2][0][0].b: duplicate key");
  /* A key echoed in the message is sanitised and cut. */
  char big[400];
  snprintf(big, sizeof big, "{\"op\":\"GetWorkerStats\",\"%0100d\\u00e9\":1,\"%0100d\\u00e9\":2}",
           0, 0);
  CHECK_EQ_INT(dec(big), SFU_EINVAL);
  CHECK(strstr(g_err, "duplicate key") && strlen(g_err) < 200);
  for (const char *c = g_err; *c; c++) CHECK(*c >= 0x20 && *c < 0x7f);

  /* Not duplicates: the same name in different objects, names that differ in a
   * non-ASCII letter (only ASCII case is folded). */
  CHECK_EQ_INT(
      dec("{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"ab\",\"MeetingFeatures\":{"
          "\"Video\":{\"MaxResolution\":\"HD\"},\"Content\":{\"MaxResolution\":\"FHD\"}}}"),
      0);
  CHECK_EQ_INT(dec("{\"op\":\"BatchCreateAttendee\",\"MeetingId\":\"" MID "\",\"Attendees\":["
                   "{\"ExternalUserId\":\"alice\"},{\"ExternalUserId\":\"bob\"}]}"),
               0);
  CHECK_EQ_INT(dec("{\"op\":\"GetWorkerStats\",\"\\u00c9\":1,\"\\u00e9\":2}"), 0);

  /* Objects larger than the sorter's stack array: 40 keys, then a 41st repeating one. */
  char obj[2048];
  size_t n = (size_t)snprintf(obj, sizeof obj, "{\"op\":\"GetWorkerStats\"");
  for (int i = 0; i < 40; i++)
    n += (size_t)snprintf(obj + n, sizeof obj - n, ",\"k%02d\":%d", i, i);
  snprintf(obj + n, sizeof obj - n, "}");
  CHECK_EQ_INT(dec(obj), 0);
  snprintf(obj + n, sizeof obj - n, ",\"K17\":0}");
  BAD(obj, "K17: duplicate key (also written \"k17\"");
}

TEST(decode_every_truncation_and_garbage_never_crashes) {
  const char *req =
      "{\"op\":\"BatchCreateAttendee\",\"MeetingId\":\"" MID
      "\",\"Attendees\":[{\"ExternalUserId\":"
      "\"u1\",\"Capabilities\":{\"Audio\":\"Send\",\"Video\":\"None\",\"Content\":\"None\"}}]}";
  size_t len = strlen(req);
  char *buf = malloc(len);
  for (size_t i = 0; i < len; i++) {
    memcpy(buf, req, i); /* exact-length heap buffer: ASan catches any over-read */
    sfu_cmd_free(&g_cmd);
    CHECK(sfu_control_decode(buf, i, &g_cmd, g_err, sizeof g_err) == SFU_EINVAL);
  }
  free(buf);
  CHECK_EQ_INT(dec(req), 0);
  /* Deterministic pseudo-random garbage and bit flips. */
  uint32_t x = 12345;
  char g[256];
  for (int round = 0; round < 2000; round++) {
    size_t n = (size_t)(round % 200) + 1;
    if (round % 2) {
      for (size_t i = 0; i < n; i++) g[i] = (char)((x = x * 1103515245u + 12345u) >> 16);
    } else {
      n = len < sizeof g ? len : sizeof g;
      memcpy(g, req, n);
      x = x * 1103515245u + 12345u;
      g[(x >> 8) % n] ^= (char)(1u << ((x >> 4) % 8));
    }
    sfu_cmd_t c;
    char e[SFU_CONTROL_ERRLEN];
    int rc = sfu_control_decode(g, n, &c, e, sizeof e);
    CHECK(rc == 0 || rc == SFU_EINVAL);
    if (rc == 0) sfu_cmd_free(&c);
  }
}

/* ---- execution against a session ---- */

static sfu_event_t g_events[64];
static int g_nev;
static void on_ev(void *user, const sfu_event_t *ev) {
  if (g_nev < 64) g_events[g_nev] = *ev;
  g_nev++;
}

static cJSON *run(sfu_session_t *s, const char *json) {
  static const sfu_control_ctx_t ctx = {
      .announce_ip = "192.0.2.7", .loop_index = 1, .udp_port = 3479, .tcp_port = 4444, .rtc = NULL};
  sfu_cmd_t c;
  char e[SFU_CONTROL_ERRLEN];
  if (sfu_control_decode(json, strlen(json), &c, e, sizeof e) != 0)
    return sfu_control_error(SFU_EINVAL, e);
  if (c.op == SFU_OP_CREATE_MEETING && !c.meeting_id[0]) sfu_uuid_v4(c.meeting_id);
  cJSON *r = sfu_control_exec(s, &c, &ctx, 1000);
  sfu_cmd_free(&c);
  return r;
}

static const char *str_at(const cJSON *o, const char *a, const char *b) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
  if (b) v = cJSON_GetObjectItemCaseSensitive(v, b);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *err_code(const cJSON *r) {
  return str_at(cJSON_GetObjectItemCaseSensitive(r, "error"), "code", NULL);
}

TEST(exec_meeting_and_attendee_ops) {
  sfu_session_config_t cfg = {300000000, 86400000000ull};
  sfu_session_cbs_t cbs = {on_ev, NULL, NULL, NULL};
  sfu_session_t *s = sfu_session_new(&cfg, &cbs);
  g_nev = 0;
  cJSON *r = run(s, "{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"weekly\"}");
  CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "ok")));
  cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "Meeting");
  char mid[SFU_UUID_LEN + 1];
  REQUIRE(str_at(m, "MeetingId", NULL));
  snprintf(mid, sizeof mid, "%s", str_at(m, "MeetingId", NULL));
  CHECK_EQ_STR(str_at(m, "ExternalMeetingId", NULL), "weekly");
  CHECK_EQ_STR(
      str_at(cJSON_GetObjectItemCaseSensitive(m, "MeetingFeatures"), "Video", "MaxResolution"),
      "HD");
  CHECK_EQ_STR(
      str_at(cJSON_GetObjectItemCaseSensitive(m, "MeetingFeatures"), "Content", "MaxResolution"),
      "FHD");
  CHECK_EQ_STR(str_at(m, "MediaPlacement", "AudioHostUrl"), "192.0.2.7:3479");
  CHECK_EQ_STR(str_at(m, "MediaPlacement", "AudioFallbackUrl"), "192.0.2.7:4444");
  CHECK(cJSON_GetObjectItemCaseSensitive(m, "PrimaryMeetingId") == NULL);
  CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(m, "Loop")->valueint, 1);
  cJSON_Delete(r);

  char req[512];
  snprintf(req, sizeof req,
           "{\"op\":\"CreateAttendee\",\"MeetingId\":\"%s\",\"ExternalUserId\":\"alice\"}", mid);
  r = run(s, req);
  cJSON *a = cJSON_GetObjectItemCaseSensitive(r, "Attendee");
  char aid[SFU_UUID_LEN + 1], tok[64];
  REQUIRE(str_at(a, "AttendeeId", NULL) && str_at(a, "JoinToken", NULL));
  snprintf(aid, sizeof aid, "%s", str_at(a, "AttendeeId", NULL));
  snprintf(tok, sizeof tok, "%s", str_at(a, "JoinToken", NULL));
  CHECK_EQ_STR(str_at(a, "Capabilities", "Content"), "SendReceive");
  cJSON_Delete(r);

  /* Batch: one good, one bad item, one over MaxCount would need a full meeting. */
  snprintf(
      req, sizeof req,
      "{\"op\":\"BatchCreateAttendee\",\"MeetingId\":\"%s\",\"Attendees\":["
      "{\"ExternalUserId\":\"bob\"},{\"ExternalUserId\":\"b\"},{\"ExternalUserId\":\"carol\"}]}",
      mid);
  r = run(s, req);
  CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "Attendees")), 2);
  cJSON *errs = cJSON_GetObjectItemCaseSensitive(r, "Errors");
  REQUIRE(cJSON_GetArraySize(errs) == 1);
  CHECK_EQ_STR(str_at(cJSON_GetArrayItem(errs, 0), "ErrorCode", NULL), "BadRequest");
  CHECK_EQ_STR(str_at(cJSON_GetArrayItem(errs, 0), "ExternalUserId", NULL), "b");
  cJSON_Delete(r);

  /* ListAttendees pages of 2: alice, bob | carol. */
  snprintf(req, sizeof req, "{\"op\":\"ListAttendees\",\"MeetingId\":\"%s\",\"MaxResults\":2}",
           mid);
  r = run(s, req);
  cJSON *list = cJSON_GetObjectItemCaseSensitive(r, "Attendees");
  CHECK_EQ_INT(cJSON_GetArraySize(list), 2);
  CHECK_EQ_STR(str_at(cJSON_GetArrayItem(list, 0), "ExternalUserId", NULL), "alice");
  const char *next = str_at(r, "NextToken", NULL);
  REQUIRE(next);
  snprintf(req, sizeof req,
           "{\"op\":\"ListAttendees\",\"MeetingId\":\"%s\",\"MaxResults\":2,\"NextToken\":\"%s\"}",
           mid, next);
  cJSON_Delete(r);
  r = run(s, req);
  list = cJSON_GetObjectItemCaseSensitive(r, "Attendees");
  CHECK_EQ_INT(cJSON_GetArraySize(list), 1);
  CHECK_EQ_STR(str_at(cJSON_GetArrayItem(list, 0), "ExternalUserId", NULL), "carol");
  CHECK(cJSON_GetObjectItemCaseSensitive(r, "NextToken") == NULL);
  cJSON_Delete(r);

  /* Subscribe: Forbidden for an attendee the meeting lacks or a wrong token, then
   * ServiceUnavailable with the right token (no media transport in this test). */
  snprintf(req, sizeof req,
           "{\"op\":\"Subscribe\",\"MeetingId\":\"%s\",\"AttendeeId\":\"" AID
           "\",\"JoinToken\":\"%s\",\"SdpOffer\":\"v=0\"}",
           mid, tok);
  r = run(s, req);
  CHECK_EQ_STR(err_code(r), "Forbidden");
  cJSON_Delete(r);
  snprintf(req, sizeof req,
           "{\"op\":\"Subscribe\",\"MeetingId\":\"%s\",\"AttendeeId\":\"%s\",\"JoinToken\":"
           "\"wrong\",\"SdpOffer\":\"v=0\"}",
           mid, aid);
  r = run(s, req);
  CHECK_EQ_STR(err_code(r), "Forbidden");
  cJSON_Delete(r);
  snprintf(req, sizeof req,
           "{\"op\":\"Subscribe\",\"MeetingId\":\"%s\",\"AttendeeId\":\"%s\",\"JoinToken\":\"%s\","
           "\"SdpOffer\":\"v=0\"}",
           mid, aid, tok);
  r = run(s, req);
  CHECK_EQ_STR(err_code(r), "ServiceUnavailable");
  CHECK_EQ_STR(str_at(cJSON_GetObjectItemCaseSensitive(r, "error"), "message", NULL),
               "Subscribe: media transport not available yet");
  cJSON_Delete(r);

  /* Update, get, delete attendee; then the token is dead. */
  snprintf(req, sizeof req,
           "{\"op\":\"UpdateAttendeeCapabilities\",\"MeetingId\":\"%s\",\"AttendeeId\":\"%s\","
           "\"Capabilities\":{\"Audio\":\"Receive\",\"Video\":\"None\",\"Content\":\"None\"}}",
           mid, aid);
  r = run(s, req);
  CHECK_EQ_STR(str_at(cJSON_GetObjectItemCaseSensitive(r, "Attendee"), "Capabilities", "Audio"),
               "Receive");
  cJSON_Delete(r);
  snprintf(req, sizeof req,
           "{\"op\":\"DeleteAttendee\",\"MeetingId\":\"%s\",\"AttendeeId\":\"%s\"}", mid, aid);
  r = run(s, req);
  CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "ok")));
  cJSON_Delete(r);
  r = run(s, req);
  CHECK_EQ_STR(err_code(r), "NotFound");
  cJSON_Delete(r);
  snprintf(req, sizeof req, "{\"op\":\"GetAttendee\",\"MeetingId\":\"%s\",\"AttendeeId\":\"%s\"}",
           mid, aid);
  r = run(s, req);
  CHECK_EQ_STR(err_code(r), "NotFound");
  cJSON_Delete(r);

  /* Stats share of this loop. */
  r = run(s, "{\"op\":\"GetWorkerStats\"}");
  cJSON *l = cJSON_GetObjectItemCaseSensitive(r, "Loop");
  CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(l, "Meetings")->valueint, 1);
  CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(l, "Attendees")->valueint, 2);
  CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(l, "UdpPort")->valueint, 3479);
  cJSON_Delete(r);

  snprintf(req, sizeof req, "{\"op\":\"DeleteMeeting\",\"MeetingId\":\"%s\"}", mid);
  r = run(s, req);
  CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "ok")));
  cJSON_Delete(r);
  snprintf(req, sizeof req, "{\"op\":\"GetMeeting\",\"MeetingId\":\"%s\"}", mid);
  r = run(s, req);
  CHECK_EQ_STR(err_code(r), "NotFound");
  CHECK(strstr(str_at(cJSON_GetObjectItemCaseSensitive(r, "error"), "message", NULL),
               "MeetingId:") != NULL);
  cJSON_Delete(r);
  CHECK_EQ_INT(g_events[g_nev - 1].type, SFU_EV_MEETING_ENDED);
  sfu_session_free(s);
}

TEST(exec_limit_exceeded_in_batch) {
  sfu_session_config_t cfg = {300000000, 86400000000ull};
  sfu_session_t *s = sfu_session_new(&cfg, NULL);
  cJSON *r = run(s,
                 "{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"tiny\",\"MeetingFeatures\":{"
                 "\"Attendee\":{\"MaxCount\":1}}}");
  char mid[SFU_UUID_LEN + 1], req[512];
  snprintf(mid, sizeof mid, "%s",
           str_at(cJSON_GetObjectItemCaseSensitive(r, "Meeting"), "MeetingId", NULL));
  cJSON_Delete(r);
  snprintf(req, sizeof req,
           "{\"op\":\"BatchCreateAttendee\",\"MeetingId\":\"%s\",\"Attendees\":["
           "{\"ExternalUserId\":\"u1\"},{\"ExternalUserId\":\"u2\"}]}",
           mid);
  r = run(s, req);
  CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "Attendees")), 1);
  cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(r, "Errors"), 0);
  CHECK_EQ_STR(str_at(e, "ErrorCode", NULL), "LimitExceeded");
  CHECK_EQ_STR(str_at(e, "ExternalUserId", NULL), "u2");
  cJSON_Delete(r);
  snprintf(req, sizeof req,
           "{\"op\":\"CreateAttendee\",\"MeetingId\":\"%s\",\"ExternalUserId\":\"u3\"}", mid);
  r = run(s, req);
  CHECK_EQ_STR(err_code(r), "LimitExceeded");
  cJSON_Delete(r);
  sfu_session_free(s);
}

TEST(error_and_event_shapes) {
  char *s = sfu_control_print(sfu_control_error(SFU_EEXIST, "MeetingId: taken"));
  CHECK_EQ_STR(s,
               "{\"ok\":false,\"error\":{\"code\":\"Conflict\",\"message\":\"MeetingId: taken\"}}");
  free(s);
  CHECK_EQ_STR(sfu_control_code_name(SFU_EINVAL), "BadRequest");
  CHECK_EQ_STR(sfu_control_code_name(SFU_ENOENT), "NotFound");
  CHECK_EQ_STR(sfu_control_code_name(SFU_ELIMIT), "LimitExceeded");
  CHECK_EQ_STR(sfu_control_code_name(SFU_EPERM), "Forbidden");
  CHECK_EQ_STR(sfu_control_code_name(SFU_EUNSUPP), "ServiceUnavailable");
  CHECK_EQ_STR(sfu_control_code_name(SFU_ENOMEM), "InternalError");

  sfu_event_t ev;
  memset(&ev, 0, sizeof ev);
  ev.type = SFU_EV_MEETING_ENDED;
  strcpy(ev.meeting_id, MID);
  strcpy(ev.external_meeting_id, "ext\"q");
  strcpy(ev.primary_meeting_id, AID);
  ev.reason = SFU_END_PRIMARY_ENDED;
  s = sfu_control_event_json(&ev, "w1", 1700000000123ull);
  CHECK_EQ_STR(
      s,
      "{\"eventType\":\"chime:MeetingEnded\",\"timestamp\":1700000000123,\"workerId\":\"w1\","
      "\"meetingId\":\"" MID "\",\"externalMeetingId\":\"ext\\\"q\",\"primaryMeetingId\":\"" AID
      "\",\"reason\":\"PrimaryEnded\"}");
  free(s);
  memset(&ev, 0, sizeof ev);
  ev.type = SFU_EV_ATTENDEE_CAPS_UPDATED;
  strcpy(ev.meeting_id, MID);
  strcpy(ev.external_meeting_id, "m");
  strcpy(ev.attendee_id, AID);
  strcpy(ev.external_user_id, "alice");
  ev.caps.video = SFU_CAP_NONE;
  ev.caps.content = SFU_CAP_NONE;
  s = sfu_control_event_json(&ev, "w1", 5);
  CHECK_EQ_STR(
      s,
      "{\"eventType\":\"chime:AttendeeCapabilitiesUpdated\",\"timestamp\":5,\"workerId\":\"w1\","
      "\"meetingId\":\"" MID "\",\"externalMeetingId\":\"m\",\"attendeeId\":\"" AID
      "\",\"externalUserId\":\"alice\",\"capabilities\":{\"Audio\":\"SendReceive\","
      "\"Video\":\"None\",\"Content\":\"None\"}}");
  free(s);
  /* Join, leave and drop carry networkType "Voip" (requirements.md); others do not. */
  static const struct {
    sfu_event_type_t type;
    const char *name;
    int voip;
  } kinds[] = {{SFU_EV_ATTENDEE_JOINED, "chime:AttendeeJoined", 1},
               {SFU_EV_ATTENDEE_LEFT, "chime:AttendeeLeft", 1},
               {SFU_EV_ATTENDEE_DROPPED, "chime:AttendeeDropped", 1},
               {SFU_EV_ATTENDEE_AUTHORIZED, "chime:AttendeeAuthorized", 0},
               {SFU_EV_ATTENDEE_DELETED, "chime:AttendeeDeleted", 0}};
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    memset(&ev, 0, sizeof ev);
    ev.type = kinds[i].type;
    strcpy(ev.meeting_id, MID);
    strcpy(ev.external_meeting_id, "m");
    strcpy(ev.attendee_id, AID);
    strcpy(ev.external_user_id, "alice");
    s = sfu_control_event_json(&ev, "w1", 7);
    char want[512];
    snprintf(want, sizeof want,
             "{\"eventType\":\"%s\",\"timestamp\":7,\"workerId\":\"w1\",\"meetingId\":\"" MID
             "\",\"externalMeetingId\":\"m\",\"attendeeId\":\"" AID
             "\",\"externalUserId\":\"alice\"%s}",
             kinds[i].name, kinds[i].voip ? ",\"networkType\":\"Voip\"" : "");
    CHECK_EQ_STR(s, want);
    free(s);
  }
}

/* ---- issue 7: ReceiveStreamIds, GetStreamIndex, video JSON ---- */

#define SUB_HEAD "{\"op\":\"Subscribe\",\"MeetingId\":\"" MID "\",\"AttendeeId\":\"" AID \
                 "\",\"JoinToken\":\"t\",\"SdpOffer\":\"v=0\""

#define SUB_HEAD_CONTENT "{\"op\":\"Subscribe\",\"MeetingId\":\"" MID "\",\"AttendeeId\":\"" AID \
                         "#content\",\"JoinToken\":\"t\",\"SdpOffer\":\"v=0\""

/* Decodes a Subscribe whose ReceiveStreamIds is `ids` (JSON text). */
static int dec_recv(const char *ids) {
  static char buf[4096];
  snprintf(buf, sizeof buf, SUB_HEAD ",\"ReceiveStreamIds\":%s}", ids);
  return dec(buf);
}

#define BAD_RECV(ids, prefix)                                                                   \
  do {                                                                                          \
    CHECK_EQ_INT(dec_recv(ids), SFU_EINVAL);                                                    \
    if (strncmp(g_err, prefix, strlen(prefix)) != 0) {                                          \
      fprintf(stderr, "%s:%d: message \"%s\" does not start with \"%s\"\n", __FILE__, __LINE__, \
              g_err, prefix);                                                                   \
      test_cur_failed_ = 1;                                                                     \
    }                                                                                           \
  } while (0)

TEST(decode_receive_stream_ids) {
  /* Absent (or null): receive nothing, has_receive 0. */
  CHECK_EQ_INT(dec(SUB_HEAD "}"), 0);
  CHECK_EQ_INT(g_cmd.receive.has_receive, 0);
  CHECK_EQ_INT(g_cmd.receive.n_receive, 0);
  CHECK_EQ_INT(dec_recv("null"), 0);
  CHECK_EQ_INT(g_cmd.receive.has_receive, 0);
  /* Empty: given, nothing in it. */
  CHECK_EQ_INT(dec_recv("[]"), 0);
  CHECK_EQ_INT(g_cmd.receive.has_receive, 1);
  CHECK_EQ_INT(g_cmd.receive.n_receive, 0);
  /* Integers. */
  CHECK_EQ_INT(dec_recv("[1, 2147483647, 7]"), 0);
  CHECK_EQ_INT(g_cmd.receive.has_receive, 1);
  REQUIRE(g_cmd.receive.n_receive == 3);
  CHECK_EQ_INT(g_cmd.receive.receive[0].stream_id, 1);
  CHECK_EQ_INT(g_cmd.receive.receive[1].stream_id, 2147483647);
  CHECK_EQ_INT(g_cmd.receive.receive[2].stream_id, 7);
  for (int i = 0; i < 3; i++) CHECK_EQ_INT(g_cmd.receive.receive[i].max_layer, -1);
  /* Objects, MaxLayer optional (null = no cap). */
  CHECK_EQ_INT(dec_recv("[{\"StreamId\":4,\"MaxLayer\":0},{\"StreamId\":5},"
                        "{\"StreamId\":6,\"MaxLayer\":2},{\"StreamId\":8,\"MaxLayer\":null}]"),
               0);
  REQUIRE(g_cmd.receive.n_receive == 4);
  CHECK_EQ_INT(g_cmd.receive.receive[0].stream_id, 4);
  CHECK_EQ_INT(g_cmd.receive.receive[0].max_layer, 0);
  CHECK_EQ_INT(g_cmd.receive.receive[1].max_layer, -1);
  CHECK_EQ_INT(g_cmd.receive.receive[2].max_layer, 2);
  CHECK_EQ_INT(g_cmd.receive.receive[3].max_layer, -1);
  /* Mixed. */
  CHECK_EQ_INT(dec_recv("[3,{\"StreamId\":9,\"MaxLayer\":1},10]"), 0);
  REQUIRE(g_cmd.receive.n_receive == 3);
  CHECK_EQ_INT(g_cmd.receive.receive[0].stream_id, 3);
  CHECK_EQ_INT(g_cmd.receive.receive[1].stream_id, 9);
  CHECK_EQ_INT(g_cmd.receive.receive[1].max_layer, 1);
  CHECK_EQ_INT(g_cmd.receive.receive[2].stream_id, 10);
  CHECK_EQ_INT(g_cmd.receive.receive[2].max_layer, -1);
  /* MaxHeight and Priority (issue 8's allocation), optional, ranges checked. */
  CHECK_EQ_INT(dec_recv("[{\"StreamId\":4,\"MaxHeight\":360,\"Priority\":5},"
                        "{\"StreamId\":5,\"Priority\":-100,\"MaxHeight\":null}]"), 0);
  REQUIRE(g_cmd.receive.n_receive == 2);
  CHECK_EQ_INT(g_cmd.receive.receive[0].max_height, 360);
  CHECK_EQ_INT(g_cmd.receive.receive[0].priority, 5);
  CHECK_EQ_INT(g_cmd.receive.receive[1].max_height, 0);
  CHECK_EQ_INT(g_cmd.receive.receive[1].priority, -100);
  BAD_RECV("[{\"StreamId\":4,\"MaxHeight\":0}]", "ReceiveStreamIds[0].MaxHeight");
  BAD_RECV("[{\"StreamId\":4,\"MaxHeight\":5000}]", "ReceiveStreamIds[0].MaxHeight");
  BAD_RECV("[{\"StreamId\":4,\"Priority\":101}]", "ReceiveStreamIds[0].Priority");
  BAD_RECV("[{\"StreamId\":4,\"Priority\":\"high\"}]", "ReceiveStreamIds[0].Priority");

  /* 25 is the limit; 26 is a BadRequest. */
  char ids[512];
  size_t n = 0;
  ids[n++] = '[';
  for (int i = 1; i <= 26; i++) n += (size_t)snprintf(ids + n, sizeof ids - n, "%s%d", i > 1 ? "," : "", i);
  snprintf(ids + n, sizeof ids - n, "]");
  BAD_RECV(ids, "ReceiveStreamIds: at most 25");
  char *comma = strrchr(ids, ',');
  comma[0] = ']';
  comma[1] = 0;
  CHECK_EQ_INT(dec_recv(ids), 0);
  CHECK_EQ_INT(g_cmd.receive.n_receive, 25);
  CHECK_EQ_INT(g_cmd.receive.receive[24].stream_id, 25);

  /* Duplicates, whatever the spelling of the item. */
  BAD_RECV("[1,2,1]", "ReceiveStreamIds[2]: StreamId 1 is already at [0]");
  BAD_RECV("[5,{\"StreamId\":5,\"MaxLayer\":0}]", "ReceiveStreamIds[1]: StreamId 5");
  /* A key twice in an item: the duplicate-key rule still holds inside the array. */
  BAD_RECV("[{\"StreamId\":1,\"StreamId\":2}]", "ReceiveStreamIds[0].StreamId: duplicate key");
  BAD_RECV("[{\"StreamId\":1,\"maxlayer\":1,\"MaxLayer\":0}]",
           "ReceiveStreamIds[0].MaxLayer: duplicate key");

  /* Wrong types and ranges name the path. */
  BAD_RECV("7", "ReceiveStreamIds: must be an array");
  BAD_RECV("{\"StreamId\":1}", "ReceiveStreamIds: must be an array");
  BAD_RECV("\"1,2\"", "ReceiveStreamIds: must be an array");
  BAD_RECV("[0]", "ReceiveStreamIds[0]: must be an integer from 1 to 2147483647");
  BAD_RECV("[-3]", "ReceiveStreamIds[0]: must be an integer");
  BAD_RECV("[1.5]", "ReceiveStreamIds[0]: must be an integer");
  BAD_RECV("[2147483648]", "ReceiveStreamIds[0]: must be an integer");
  BAD_RECV("[1e300]", "ReceiveStreamIds[0]: must be an integer");
  BAD_RECV("[1,\"2\"]", "ReceiveStreamIds[1]: must be a StreamId");
  BAD_RECV("[true]", "ReceiveStreamIds[0]: must be a StreamId");
  BAD_RECV("[null]", "ReceiveStreamIds[0]: must be a StreamId");
  BAD_RECV("[[1]]", "ReceiveStreamIds[0]: must be a StreamId");
  BAD_RECV("[{}]", "ReceiveStreamIds[0].StreamId: missing");
  BAD_RECV("[{\"MaxLayer\":1}]", "ReceiveStreamIds[0].StreamId: missing");
  BAD_RECV("[{\"StreamId\":\"1\"}]", "ReceiveStreamIds[0].StreamId: must be an integer");
  BAD_RECV("[{\"StreamId\":[1]}]", "ReceiveStreamIds[0].StreamId: must be an integer");
  BAD_RECV("[{\"StreamId\":{\"StreamId\":1}}]", "ReceiveStreamIds[0].StreamId: must be an integer");
  BAD_RECV("[1,{\"StreamId\":2,\"MaxLayer\":3}]",
           "ReceiveStreamIds[1].MaxLayer: must be an integer from 0 to 2");
  BAD_RECV("[{\"StreamId\":2,\"MaxLayer\":-1}]", "ReceiveStreamIds[0].MaxLayer: must be an integer");
  BAD_RECV("[{\"StreamId\":2,\"MaxLayer\":\"high\"}]",
           "ReceiveStreamIds[0].MaxLayer: must be an integer");
  BAD_RECV("[{\"StreamId\":2,\"MaxLayer\":[0]}]", "ReceiveStreamIds[0].MaxLayer: must be an integer");
  /* Deep junk is still bounded by the nesting check before anything else. */
  char deep[256];
  n = (size_t)snprintf(deep, sizeof deep, "[");
  for (int i = 0; i < 40; i++) deep[n++] = '[';
  for (int i = 0; i < 40; i++) deep[n++] = ']';
  snprintf(deep + n, sizeof deep - n, "]");
  BAD_RECV(deep, "request: JSON nested deeper than 32 levels");
  /* Every truncation of a good request is a BadRequest that leaves nothing to free
   * (exact-length heap copies: ASan sees any over-read; the join token and the offer
   * were already duplicated when ReceiveStreamIds fails). */
  const char *full = SUB_HEAD ",\"ReceiveStreamIds\":[1,{\"StreamId\":2,\"MaxLayer\":1}]}";
  size_t flen = strlen(full);
  for (size_t i = 0; i < flen; i++) {
    char *b = malloc(i ? i : 1);
    REQUIRE(b);
    memcpy(b, full, i);
    sfu_cmd_free(&g_cmd);
    CHECK(sfu_control_decode(b, i, &g_cmd, g_err, sizeof g_err) == SFU_EINVAL);
    free(b);
  }
  CHECK_EQ_INT(dec(full), 0);
  CHECK_EQ_INT(g_cmd.receive.n_receive, 2);
  /* The other fields are still checked first, and a bad item frees what was decoded. */
  BAD("{\"op\":\"Subscribe\",\"MeetingId\":\"" MID "\",\"AttendeeId\":\"" AID
      "\",\"JoinToken\":\"t\",\"ReceiveStreamIds\":[1]}",
      "SdpOffer: missing");
}

/* Issue 10: SendDataMessage decodes types and presence; the data-message rules (topic,
 * sizes, the LifetimeMs range) are the loop's (test_rtc_data, integration test_data). */
TEST(decode_send_data_message) {
  CHECK_EQ_INT(dec("{\"op\":\"SendDataMessage\",\"MeetingId\":\"" MID "\",\"Topic\":\"chat\","
                   "\"Data\":\"h\\u00e9\",\"LifetimeMs\":300000}"), 0);
  CHECK_EQ_INT(g_cmd.op, SFU_OP_SEND_DATA_MESSAGE);
  CHECK_EQ_STR(g_cmd.meeting_id, MID);
  CHECK_EQ_STR(g_cmd.data_topic, "chat");
  CHECK_EQ_INT(g_cmd.data_topic_len, 4);
  CHECK_EQ_STR(g_cmd.data, "h\xc3\xa9");
  CHECK_EQ_INT(g_cmd.data_len, 3);
  CHECK_EQ_INT(g_cmd.lifetime_ms, 300000);
  CHECK_EQ_STR(sfu_op_name(SFU_OP_SEND_DATA_MESSAGE), "SendDataMessage");
  /* LifetimeMs optional (null = absent), Data may be empty, rules not checked here. */
  CHECK_EQ_INT(dec("{\"op\":\"SendDataMessage\",\"MeetingId\":\"" MID "\",\"Topic\":\"sfu:x\","
                   "\"Data\":\"\",\"LifetimeMs\":null}"), 0);
  CHECK_EQ_INT(g_cmd.lifetime_ms, 0);
  CHECK_EQ_INT(g_cmd.data_len, 0);
  CHECK_EQ_INT(dec("{\"op\":\"SendDataMessage\",\"MeetingId\":\"" MID "\",\"Topic\":\"t\","
                   "\"Data\":\"x\",\"LifetimeMs\":1e12}"), 0);
  CHECK(g_cmd.lifetime_ms > 300000); /* clamped, refused on the loop */
  BAD("{\"op\":\"SendDataMessage\",\"Topic\":\"t\",\"Data\":\"x\"}", "MeetingId: missing");
  BAD("{\"op\":\"SendDataMessage\",\"MeetingId\":\"" MID "\",\"Data\":\"x\"}", "Topic: missing");
  BAD("{\"op\":\"SendDataMessage\",\"MeetingId\":\"" MID "\",\"Topic\":\"t\"}", "Data: missing");
  BAD("{\"op\":\"SendDataMessage\",\"MeetingId\":\"" MID "\",\"Topic\":1,\"Data\":\"x\"}",
      "Topic: must be a string");
  BAD("{\"op\":\"SendDataMessage\",\"MeetingId\":\"" MID "\",\"Topic\":\"t\",\"Data\":[]}",
      "Data: must be a string");
  BAD("{\"op\":\"SendDataMessage\",\"MeetingId\":\"" MID "\",\"Topic\":\"t\",\"Data\":\"x\","
      "\"LifetimeMs\":1.5}", "LifetimeMs: must be an integer");
  BAD("{\"op\":\"SendDataMessage\",\"MeetingId\":\"" MID "\",\"Topic\":\"t\",\"Data\":\"x\","
      "\"LifetimeMs\":\"5\"}", "LifetimeMs: must be an integer");
  /* Without media (ctx.rtc NULL) the loop cannot send: ServiceUnavailable. */
  sfu_session_config_t cfg = {300000000, 86400000000ull};
  sfu_session_t *s = sfu_session_new(&cfg, NULL);
  cJSON *r = run(s, "{\"op\":\"SendDataMessage\",\"MeetingId\":\"" MID "\",\"Topic\":\"t\",\"Data\":\"x\"}");
  CHECK_EQ_STR(err_code(r), "ServiceUnavailable");
  cJSON_Delete(r);
  sfu_session_free(s);
  dec("{}");
}

TEST(decode_and_exec_get_stream_index) {
  CHECK_EQ_INT(dec("{\"op\":\"GetStreamIndex\",\"MeetingId\":\"" MID "\"}"), 0);
  CHECK_EQ_INT(g_cmd.op, SFU_OP_GET_STREAM_INDEX);
  CHECK_EQ_STR(g_cmd.meeting_id, MID);
  CHECK_EQ_STR(sfu_op_name(SFU_OP_GET_STREAM_INDEX), "GetStreamIndex");
  BAD("{\"op\":\"GetStreamIndex\"}", "MeetingId: missing");
  BAD("{\"op\":\"GetStreamIndex\",\"MeetingId\":7}", "MeetingId: must be a string");
  BAD("{\"op\":\"getStreamIndex\",\"MeetingId\":\"" MID "\"}", "op: unknown operation");

  sfu_session_config_t cfg = {300000000, 86400000000ull};
  sfu_session_t *s = sfu_session_new(&cfg, NULL);
  cJSON *r = run(s, "{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"video\"}");
  char mid[SFU_UUID_LEN + 1], req[256];
  snprintf(mid, sizeof mid, "%s",
           str_at(cJSON_GetObjectItemCaseSensitive(r, "Meeting"), "MeetingId", NULL));
  cJSON_Delete(r);
  snprintf(req, sizeof req, "{\"op\":\"GetStreamIndex\",\"MeetingId\":\"%s\"}", mid);
  char *txt = sfu_control_print(run(s, req));
  CHECK_EQ_STR(txt, "{\"ok\":true,\"StreamIndex\":{\"Version\":0,\"Streams\":[]}}");
  free(txt);
  r = run(s, "{\"op\":\"GetStreamIndex\",\"MeetingId\":\"" MID "\"}");
  CHECK_EQ_STR(err_code(r), "NotFound");
  CHECK(strstr(str_at(cJSON_GetObjectItemCaseSensitive(r, "error"), "message", NULL),
               "MeetingId: no such meeting") != NULL);
  cJSON_Delete(r);

  /* Without media: GetWorkerStats still has a Video object, all zero. */
  r = run(s, "{\"op\":\"GetWorkerStats\"}");
  cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r, "Loop"), "Video");
  REQUIRE(cJSON_IsObject(v));
  static const char *const fields[] = {"Streams",         "Views",       "RtpIn",
                                       "Forwarded",       "ForwardedBytes",
                                       "Retransmissions", "Dropped",     "KeyframeRequestsOut",
                                       "NacksOut",        "NacksIn"};
  CHECK_EQ_INT(cJSON_GetArraySize(v), 10);
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(v, fields[i]);
    CHECK(cJSON_IsNumber(f) && f->valuedouble == 0);
  }
  cJSON_Delete(r);

  /* GetAttendeeStats: no peer, empty Published and Receiving. */
  snprintf(req, sizeof req,
           "{\"op\":\"CreateAttendee\",\"MeetingId\":\"%s\",\"ExternalUserId\":\"alice\"}", mid);
  r = run(s, req);
  char aid[SFU_UUID_LEN + 1];
  snprintf(aid, sizeof aid, "%s",
           str_at(cJSON_GetObjectItemCaseSensitive(r, "Attendee"), "AttendeeId", NULL));
  cJSON_Delete(r);
  snprintf(req, sizeof req, "{\"op\":\"GetAttendeeStats\",\"MeetingId\":\"%s\",\"AttendeeId\":\"%s\"}",
           mid, aid);
  r = run(s, req);
  txt = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(r, "Video"));
  CHECK_EQ_STR(txt, "{\"Published\":[],\"Receiving\":[]}");
  free(txt);
  cJSON_Delete(r);
  sfu_session_free(s);
}

TEST(index_and_video_json) {
  char *txt = sfu_control_print(sfu_control_index_json(NULL));
  CHECK_EQ_STR(txt, "{\"Version\":0,\"Streams\":[]}");
  free(txt);

  /* A simulcast camera, lowest layer first; the top layer has had no keyframe yet. */
  sfu_router_stream_info_t si;
  memset(&si, 0, sizeof si);
  si.stream_id = 3;
  si.attendee_id = AID;
  si.external_user_id = "alice";
  si.mid = "1";
  si.codec = "VP8";
  si.n_layers = 2;
  strcpy(si.layers[0].rid, "q");
  si.layers[0].width = 320;
  si.layers[0].height = 180;
  si.layers[0].bitrate_bps = 150000;
  si.layers[0].frame_rate = 15;
  si.layers[0].active = 1;
  si.layers[0].packets = 11;
  si.layers[0].bytes = 12000;
  si.layers[0].keyframes = 2;
  si.layers[0].nacks_out = 1;
  si.layers[0].padding_dropped = 4;
  strcpy(si.layers[1].rid, "f");
  si.layers[1].bitrate_bps = 900000;
  si.layers[1].n_temporal = 2; /* two TIDs: in the stats, not in the index */
  si.layers[1].temporal_bps[0] = 500000;
  si.layers[1].temporal_bps[1] = 900000;
  si.dropped_bitrate = 5;
  si.nacks_in = 6;
  si.keyframe_requests_out = 7;
  txt = sfu_control_print(sfu_control_stream_json(&si));
  CHECK_EQ_STR(txt, "{\"StreamId\":3,\"AttendeeId\":\"" AID "\",\"ExternalUserId\":\"alice\","
                    "\"Kind\":\"camera\",\"Codec\":\"VP8\",\"Layers\":["
                    "{\"Rid\":\"q\",\"Width\":320,\"Height\":180,\"Bitrate\":150000,"
                    "\"FrameRate\":15,\"Active\":true},"
                    "{\"Rid\":\"f\",\"Bitrate\":900000,\"FrameRate\":0,\"Active\":false}]}");
  free(txt);
  txt = sfu_control_print(sfu_control_published_json(&si));
  CHECK_EQ_STR(txt, "{\"StreamId\":3,\"Mid\":\"1\",\"Kind\":\"camera\",\"Codec\":\"VP8\","
                    "\"Refused\":false,\"DroppedBitrate\":5,\"DroppedResolution\":0,"
                    "\"DroppedOther\":0,\"Duplicates\":0,\"NacksIn\":6,\"KeyframeRequestsOut\":7,"
                    "\"RembBps\":null,\"Layers\":["
                    "{\"Rid\":\"q\",\"Width\":320,\"Height\":180,\"Bitrate\":150000,"
                    "\"FrameRate\":15,\"Active\":true,\"Packets\":11,\"Bytes\":12000,"
                    "\"Keyframes\":2,\"NacksOut\":1,\"PaddingDropped\":4},"
                    "{\"Rid\":\"f\",\"Bitrate\":900000,\"FrameRate\":0,\"Active\":false,"
                    "\"Packets\":0,\"Bytes\":0,\"Keyframes\":0,\"NacksOut\":0,"
                    "\"PaddingDropped\":0,\"TemporalBitrates\":[500000,900000]}]}");
  free(txt);
  /* a REMB sent to the publisher (router_remb.c) */
  si.remb_bps = 222000;
  txt = sfu_control_print(sfu_control_published_json(&si));
  CHECK(txt && strstr(txt, "\"KeyframeRequestsOut\":7,\"RembBps\":222000,\"Layers\":["));
  free(txt);
  /* A single-stream content share: no Rid. */
  memset(&si, 0, sizeof si);
  si.stream_id = 9;
  si.attendee_id = AID "#content";
  si.external_user_id = "alice";
  si.codec = "H264";
  si.content = 1;
  si.n_layers = 1;
  si.layers[0].width = 1920;
  si.layers[0].height = 0; /* half a size is no size */
  txt = sfu_control_print(sfu_control_stream_json(&si));
  CHECK_EQ_STR(txt, "{\"StreamId\":9,\"AttendeeId\":\"" AID "#content\",\"ExternalUserId\":"
                    "\"alice\",\"Kind\":\"content\",\"Codec\":\"H264\",\"Layers\":["
                    "{\"Bitrate\":0,\"FrameRate\":0,\"Active\":false}]}");
  free(txt);

  sfu_router_view_info_t vi;
  memset(&vi, 0, sizeof vi);
  vi.mid = "4";
  vi.stream_id = 3;
  vi.ssrc = 0xdeadbeef;
  vi.layer = -1;
  vi.target_layer = 1;
  vi.max_layer = -1;
  vi.temporal_layer = vi.target_temporal = -1;
  vi.switches = 2;
  vi.plis_in = 3;
  txt = sfu_control_print(sfu_control_receiving_json(&vi));
  CHECK_EQ_STR(txt, "{\"Mid\":\"4\",\"StreamId\":3,\"Ssrc\":3735928559,\"Layer\":null,"
                    "\"TargetLayer\":1,\"MaxLayer\":null,\"TemporalLayer\":null,"
                    "\"TargetTemporalLayer\":null,\"Switches\":2,\"KeyframeWaits\":0,"
                    "\"PacketsOut\":0,\"BytesOut\":0,\"Retransmissions\":0,\"RepairsSkipped\":0,\"ShedPackets\":0,"
                    "\"NacksIn\":0,"
                    "\"PlisIn\":3,\"Paused\":false}");
  free(txt);
  vi.max_layer = 0;
  vi.temporal_layer = 2;
  vi.target_temporal = 0;
  cJSON *o = sfu_control_receiving_json(&vi);
  CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(o, "MaxLayer")->valueint, 0);
  CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(o, "TemporalLayer")->valueint, 2);
  CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(o, "TargetTemporalLayer")->valueint, 0);
  cJSON_Delete(o);

  /* The Subscribe reply's video part: inactive views left out, publish refused. */
  sfu_rtc_sub_result_t res;
  memset(&res, 0, sizeof res);
  res.n_views = 3;
  strcpy(res.views[0].mid, "2");
  res.views[0].stream_id = 3;
  res.views[0].attendee_id = AID;
  strcpy(res.views[1].mid, "3"); /* inactive */
  strcpy(res.views[2].mid, "4");
  res.views[2].stream_id = 9;
  res.views[2].attendee_id = AID "#content";
  res.publish_err = SFU_ELIMIT;
  snprintf(res.publish_errmsg, sizeof res.publish_errmsg, "the meeting has 25 video streams");
  o = cJSON_CreateObject();
  sfu_control_add_subscribe_video(o, NULL, &res);
  txt = sfu_control_print(o);
  CHECK_EQ_STR(txt, "{\"StreamIndex\":{\"Version\":0,\"Streams\":[]},\"ReceiveStreams\":["
                    "{\"Mid\":\"2\",\"StreamId\":3,\"AttendeeId\":\"" AID "\"},"
                    "{\"Mid\":\"4\",\"StreamId\":9,\"AttendeeId\":\"" AID "#content\"}],"
                    "\"PublishRefused\":{\"Code\":\"LimitExceeded\","
                    "\"Message\":\"the meeting has 25 video streams\"}}");
  free(txt);
  memset(&res, 0, sizeof res);
  res.published_stream_id = 4;
  o = cJSON_CreateObject();
  sfu_control_add_subscribe_video(o, NULL, &res);
  txt = sfu_control_print(o);
  CHECK_EQ_STR(txt, "{\"StreamIndex\":{\"Version\":0,\"Streams\":[]},\"ReceiveStreams\":[],"
                    "\"PublishedStreamId\":4}");
  free(txt);
  res.published_stream_id = 0;
  res.publish_err = SFU_EPERM;
  o = cJSON_CreateObject();
  sfu_control_add_subscribe_video(o, NULL, &res);
  CHECK_EQ_STR(str_at(o, "PublishRefused", "Code"), "Forbidden");
  CHECK(cJSON_GetObjectItemCaseSensitive(o, "PublishedStreamId") == NULL);
  cJSON_Delete(o);
}

TEST(video_event_shapes) {
  static const struct {
    sfu_event_type_t type;
    const char *name;
    int attendee, voip, stream, message, index;
  } kinds[] = {
      {SFU_EV_VIDEO_STARTED, "chime:AttendeeVideoStarted", 1, 0, 1, 0, 0},
      {SFU_EV_VIDEO_STOPPED, "chime:AttendeeVideoStopped", 1, 0, 1, 0, 0},
      {SFU_EV_CONTENT_JOINED, "chime:AttendeeContentJoined", 1, 1, 0, 0, 0},
      {SFU_EV_CONTENT_LEFT, "chime:AttendeeContentLeft", 1, 1, 0, 0, 0},
      {SFU_EV_CONTENT_DROPPED, "chime:AttendeeContentDropped", 1, 1, 0, 0, 0},
      {SFU_EV_CONTENT_VIDEO_STARTED, "chime:AttendeeContentVideoStarted", 1, 0, 1, 0, 0},
      {SFU_EV_CONTENT_VIDEO_STOPPED, "chime:AttendeeContentVideoStopped", 1, 0, 1, 0, 0},
      {SFU_EV_INDEX_CHANGED, "sfu:IndexChanged", 0, 0, 0, 0, 1},
      {SFU_EV_VIDEO_SEND_REFUSED, "sfu:VideoSendRefused", 1, 0, 1, 1, 0},
  };
  CHECK_EQ_INT(sizeof kinds / sizeof kinds[0], SFU_EV_VIDEO_SEND_REFUSED - SFU_EV_VIDEO_STARTED + 1);
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    sfu_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.type = kinds[i].type;
    CHECK_EQ_STR(sfu_event_type_name(ev.type), kinds[i].name);
    strcpy(ev.meeting_id, MID);
    strcpy(ev.external_meeting_id, "m");
    if (kinds[i].attendee) {
      strcpy(ev.attendee_id, AID);
      strcpy(ev.external_user_id, "alice");
    }
    ev.stream_id = 12;
    strcpy(ev.message, "Resolution 1920x1080 exceeds the meeting's limit");
    char *s = sfu_control_event_json(&ev, "w1", 7);
    char want[1024];
    snprintf(want, sizeof want,
             "{\"eventType\":\"%s\",\"timestamp\":7,\"workerId\":\"w1\",\"meetingId\":\"" MID
             "\",\"externalMeetingId\":\"m\"%s%s%s%s%s}",
             kinds[i].name,
             kinds[i].attendee ? ",\"attendeeId\":\"" AID "\",\"externalUserId\":\"alice\"" : "",
             kinds[i].voip ? ",\"networkType\":\"Voip\"" : "",
             kinds[i].stream ? ",\"streamId\":12" : "",
             kinds[i].message
                 ? ",\"message\":\"Resolution 1920x1080 exceeds the meeting's limit\""
                 : "",
             kinds[i].index ? ",\"index\":{\"Version\":0,\"Streams\":[]}" : "");
    CHECK_EQ_STR(s, want);
    free(s);
  }
  /* IndexChanged with the index built on the loop: embedded as given, not consumed. */
  sfu_event_t ev;
  memset(&ev, 0, sizeof ev);
  ev.type = SFU_EV_INDEX_CHANGED;
  strcpy(ev.meeting_id, MID);
  strcpy(ev.external_meeting_id, "m");
  cJSON *index = sfu_control_index_json(NULL);
  cJSON_SetNumberValue(cJSON_GetObjectItemCaseSensitive(index, "Version"), 5);
  char *s = sfu_control_event_json_with_index(&ev, index, "w1", 8);
  CHECK_EQ_STR(s, "{\"eventType\":\"sfu:IndexChanged\",\"timestamp\":8,\"workerId\":\"w1\","
                  "\"meetingId\":\"" MID "\",\"externalMeetingId\":\"m\","
                  "\"index\":{\"Version\":5,\"Streams\":[]}}");
  free(s);
  CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(index, "Version")->valueint, 5);
  /* Other types ignore it. */
  ev.type = SFU_EV_VIDEO_STOPPED;
  s = sfu_control_event_json_with_index(&ev, index, "w1", 8);
  CHECK(strstr(s, "index") == NULL);
  free(s);
  cJSON_Delete(index);
  /* A message that fills its buffer without a NUL stays bounded. */
  ev.type = SFU_EV_VIDEO_SEND_REFUSED;
  memset(ev.message, 'x', sizeof ev.message);
  s = sfu_control_event_json(&ev, "w1", 9);
  cJSON *o = cJSON_Parse(s);
  CHECK_EQ_INT(strlen(str_at(o, "message", NULL)), sizeof ev.message - 1);
  cJSON_Delete(o);
  free(s);
  /* Downlink (issue 8): figures and the paused streams, bounded by n_paused. */
  ev.type = SFU_EV_DOWNLINK_INSUFFICIENT;
  ev.estimate_kbps = 180;
  ev.required_kbps = 450;
  ev.n_paused = 2;
  ev.paused[0] = 3;
  ev.paused[1] = 7;
  s = sfu_control_event_json(&ev, "w1", 10);
  o = cJSON_Parse(s);
  CHECK_EQ_STR(str_at(o, "eventType", NULL), "sfu:DownlinkInsufficient");
  CHECK_EQ_INT(cJSON_GetObjectItem(o, "estimateKbps")->valuedouble, 180);
  CHECK_EQ_INT(cJSON_GetObjectItem(o, "requiredKbps")->valuedouble, 450);
  cJSON *ids = cJSON_GetObjectItem(o, "pausedStreamIds");
  CHECK_EQ_INT(cJSON_GetArraySize(ids), 2);
  CHECK_EQ_INT(cJSON_GetArrayItem(ids, 1)->valuedouble, 7);
  cJSON_Delete(o);
  free(s);
  ev.type = SFU_EV_DOWNLINK_SUFFICIENT;
  ev.n_paused = 200; /* garbage count: at most 25 */
  s = sfu_control_event_json(&ev, "w1", 11);
  o = cJSON_Parse(s);
  CHECK_EQ_STR(str_at(o, "eventType", NULL), "sfu:DownlinkSufficient");
  CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(o, "pausedStreamIds")) <= 25);
  cJSON_Delete(o);
  free(s);
}

/* ---- directory ---- */

TEST(directory_placement_and_rules) {
  sfu_dir_t d;
  char err[256];
  REQUIRE(sfu_dir_init(&d, 3) == 0);
  CHECK_EQ_INT(sfu_dir_place(&d), 0);
  char p[SFU_UUID_LEN + 1], ids[6][SFU_UUID_LEN + 1];
  sfu_uuid_v4(p);
  CHECK_EQ_INT(sfu_dir_check_create(&d, p, NULL, err, sizeof err), 0);
  CHECK_EQ_INT(sfu_dir_add(&d, p, NULL, sfu_dir_place(&d)), 0);
  CHECK_EQ_INT(sfu_dir_find(&d, p)->loop, 0);
  CHECK_EQ_INT(sfu_dir_check_create(&d, p, NULL, err, sizeof err), SFU_EEXIST);
  /* Least loaded: loop 0 has a meeting, 1 and 2 none. */
  CHECK_EQ_INT(sfu_dir_place(&d), 1);
  /* Attendees weigh before meetings. */
  sfu_event_t ev;
  memset(&ev, 0, sizeof ev);
  strcpy(ev.meeting_id, p);
  ev.type = SFU_EV_ATTENDEE_ADDED;
  sfu_dir_on_event(&d, &ev);
  char q[SFU_UUID_LEN + 1];
  sfu_uuid_v4(q);
  sfu_dir_add(&d, q, NULL, 1);
  sfu_uuid_v4(ids[5]);
  sfu_dir_add(&d, ids[5], NULL, 2);
  /* loads: 0 = 1 meeting 1 attendee; 1 and 2 = 1 meeting 0 attendees */
  CHECK_EQ_INT(sfu_dir_place(&d), 1);
  CHECK_EQ_INT(d.loads[0].attendees, 1);

  /* Replicas: up to 4, not of a replica, primary must exist. */
  char missing[SFU_UUID_LEN + 1];
  sfu_uuid_v4(missing);
  CHECK_EQ_INT(sfu_dir_check_create(&d, missing, missing, err, sizeof err), SFU_ENOENT);
  CHECK(strncmp(err, "PrimaryMeetingId:", 17) == 0);
  for (int i = 0; i < 4; i++) {
    sfu_uuid_v4(ids[i]);
    CHECK_EQ_INT(sfu_dir_check_create(&d, ids[i], p, err, sizeof err), 0);
    sfu_dir_add(&d, ids[i], p, i % 3);
  }
  CHECK_EQ_INT(sfu_dir_find(&d, p)->n_replicas, 4);
  char fifth[SFU_UUID_LEN + 1];
  sfu_uuid_v4(fifth);
  CHECK_EQ_INT(sfu_dir_check_create(&d, fifth, p, err, sizeof err), SFU_ELIMIT);
  CHECK_EQ_INT(sfu_dir_check_create(&d, fifth, ids[0], err, sizeof err), SFU_EINVAL);
  char got[8][SFU_UUID_LEN + 1];
  CHECK_EQ_INT(sfu_dir_replicas(&d, p, got, 8), 4);
  CHECK_EQ_INT(sfu_dir_replicas(&d, q, got, 8), 0);
  /* A replica ending frees a slot; the primary ending removes it. */
  memset(&ev, 0, sizeof ev);
  ev.type = SFU_EV_MEETING_ENDED;
  strcpy(ev.meeting_id, ids[0]);
  sfu_dir_on_event(&d, &ev);
  CHECK_EQ_INT(sfu_dir_find(&d, p)->n_replicas, 3);
  CHECK_EQ_INT(sfu_dir_check_create(&d, fifth, p, err, sizeof err), 0);
  strcpy(ev.meeting_id, p);
  sfu_dir_on_event(&d, &ev);
  CHECK(sfu_dir_find(&d, p) == NULL);
  CHECK_EQ_INT(d.loads[0].attendees, 0);
  CHECK_EQ_INT(sfu_dir_count(&d), 5);
  sfu_dir_remove(&d, q);
  sfu_dir_remove(&d, q); /* unknown: no-op */
  CHECK_EQ_INT(sfu_dir_count(&d), 4);
  sfu_dir_free(&d);
}

/* Issue 6: every primary that ended looked for its replicas by walking the whole
 * directory, so 50,000 meetings ending together cost O(meetings^2). The replicas hang off
 * their primary's entry: an ending looks at its own replicas and nothing else. */
TEST(directory_ending_costs_its_replicas_only) {
  sfu_dir_t d;
  char err[256], got[8][SFU_UUID_LEN + 1];
  REQUIRE(sfu_dir_init(&d, 2) == 0);
  enum { N = 20000 };
  char(*ids)[SFU_UUID_LEN + 1] = calloc(N, sizeof *ids);
  REQUIRE(ids);
  for (int i = 0; i < N; i++) {
    sfu_uuid_v4(ids[i]);
    REQUIRE(sfu_dir_add(&d, ids[i], NULL, i % 2) == 0);
  }
  /* Three replicas of ids[0]. */
  char rep[3][SFU_UUID_LEN + 1];
  for (int i = 0; i < 3; i++) {
    sfu_uuid_v4(rep[i]);
    CHECK_EQ_INT(sfu_dir_check_create(&d, rep[i], ids[0], err, sizeof err), 0);
    REQUIRE(sfu_dir_add(&d, rep[i], ids[0], i % 2) == 0);
  }
  uint64_t before = d.replica_visits;
  CHECK_EQ_INT(sfu_dir_replicas(&d, ids[1], got, 8), 0);
  CHECK(d.replica_visits == before); /* no replicas: nothing looked at */
  CHECK_EQ_INT(sfu_dir_replicas(&d, ids[0], got, 8), 3);
  CHECK(d.replica_visits == before + 3);
  for (int i = 0; i < 3; i++) CHECK(strcmp(got[i], rep[i]) == 0);

  /* Every meeting without replicas ends: not one entry looked at. */
  before = d.replica_visits;
  sfu_event_t ev;
  memset(&ev, 0, sizeof ev);
  ev.type = SFU_EV_MEETING_ENDED;
  for (int i = 1; i < N; i++) {
    CHECK_EQ_INT(sfu_dir_replicas(&d, ids[i], got, 8), 0); /* what the worker asks first */
    strcpy(ev.meeting_id, ids[i]);
    sfu_dir_on_event(&d, &ev);
  }
  CHECK(d.replica_visits == before);
  CHECK_EQ_INT(sfu_dir_count(&d), 4);

  /* The primary ends before its replicas' ends came back: they forget it, so a new
   * meeting reusing its id starts with no replicas and none of the old ones' counts. */
  strcpy(ev.meeting_id, ids[0]);
  sfu_dir_on_event(&d, &ev);
  REQUIRE(sfu_dir_add(&d, ids[0], NULL, 0) == 0);
  CHECK_EQ_INT(sfu_dir_find(&d, ids[0])->n_replicas, 0);
  CHECK_EQ_INT(sfu_dir_replicas(&d, ids[0], got, 8), 0);
  char fresh[SFU_UUID_LEN + 1];
  sfu_uuid_v4(fresh);
  REQUIRE(sfu_dir_add(&d, fresh, ids[0], 1) == 0);
  strcpy(ev.meeting_id, rep[0]); /* an old replica's end arrives */
  sfu_dir_on_event(&d, &ev);
  CHECK_EQ_INT(sfu_dir_find(&d, ids[0])->n_replicas, 1);
  CHECK_EQ_INT(sfu_dir_replicas(&d, ids[0], got, 8), 1);
  CHECK(strcmp(got[0], fresh) == 0);
  free(ids);
  sfu_dir_free(&d);
}

/* --max-meetings: the directory refuses a create beyond it with LimitExceeded, counting
 * reservations; an existing MeetingId is still a Conflict. */
TEST(directory_meeting_limit) {
  sfu_dir_t d;
  char err[256], ids[4][SFU_UUID_LEN + 1];
  REQUIRE(sfu_dir_init(&d, 2) == 0);
  d.max_meetings = 3;
  for (int i = 0; i < 4; i++) sfu_uuid_v4(ids[i]);
  for (int i = 0; i < 3; i++) {
    CHECK_EQ_INT(sfu_dir_check_create(&d, ids[i], i ? ids[0] : NULL, err, sizeof err), 0);
    REQUIRE(sfu_dir_add(&d, ids[i], i ? ids[0] : NULL, 0) == 0);
  }
  CHECK_EQ_INT(sfu_dir_check_create(&d, ids[3], NULL, err, sizeof err), SFU_ELIMIT);
  CHECK(strstr(err, "3 meetings") && strstr(err, "--max-meetings"));
  CHECK_EQ_INT(sfu_dir_check_create(&d, ids[3], ids[0], err, sizeof err), SFU_ELIMIT);
  CHECK_EQ_INT(sfu_dir_check_create(&d, ids[1], NULL, err, sizeof err), SFU_EEXIST);
  CHECK(strcmp(sfu_control_code_name(SFU_ELIMIT), "LimitExceeded") == 0);
  sfu_dir_remove(&d, ids[2]);
  CHECK_EQ_INT(sfu_dir_check_create(&d, ids[3], NULL, err, sizeof err), 0);
  sfu_dir_free(&d);
}

/* ---- content share attendees ("<AttendeeId>#content") ---- */

TEST(decode_content_share_ids) {
  /* ContentShareOf makes ExternalUserId optional */
  CHECK_EQ_INT(dec("{\"op\":\"CreateAttendee\",\"MeetingId\":\"" MID "\",\"ContentShareOf\":\""
                   "0B7E3A52-9F0C-4F63-8D21-5A6E2C1B9D04\"}"),
               0);
  CHECK_EQ_STR(g_cmd.content_share_of, AID); /* lower-cased */
  CHECK_EQ_STR(g_cmd.external_id, "");
  CHECK_EQ_INT(dec("{\"op\":\"CreateAttendee\",\"MeetingId\":\"" MID "\",\"ContentShareOf\":\"" AID
                   "\",\"ExternalUserId\":\"screen#content\"}"),
               0);
  CHECK_EQ_STR(g_cmd.external_id, "screen#content");
  CHECK_EQ_INT(dec("{\"op\":\"CreateAttendee\",\"MeetingId\":\"" MID "\",\"ExternalUserId\":\"a1\"}"),
               0);
  CHECK_EQ_STR(g_cmd.content_share_of, "");
  BAD("{\"op\":\"CreateAttendee\",\"MeetingId\":\"" MID "\"}", "ExternalUserId: missing");
  BAD("{\"op\":\"CreateAttendee\",\"MeetingId\":\"" MID "\",\"ContentShareOf\":\"alice\"}",
      "ContentShareOf: must be an attendee id");
  BAD("{\"op\":\"CreateAttendee\",\"MeetingId\":\"" MID "\",\"ContentShareOf\":7}",
      "ContentShareOf: must be an attendee id");
  BAD("{\"op\":\"CreateAttendee\",\"MeetingId\":\"" MID "\",\"ContentShareOf\":\"" AID
      "\",\"ExternalUserId\":null}",
      "ExternalUserId: must be a string");
  /* AttendeeId accepts "<uuid>#content": UUID lower-cased, suffix exactly "#content" */
  CHECK_EQ_INT(dec("{\"op\":\"GetAttendee\",\"MeetingId\":\"" MID "\",\"AttendeeId\":\""
                   "0B7E3A52-9F0C-4F63-8D21-5A6E2C1B9D04#content\"}"),
               0);
  CHECK_EQ_STR(g_cmd.attendee_id, AID "#content");
  CHECK_EQ_INT(dec(SUB_HEAD_CONTENT "}"), 0);
  CHECK_EQ_STR(g_cmd.attendee_id, AID "#content");
  CHECK_EQ_INT(dec("{\"op\":\"UpdateAttendeeCapabilities\",\"MeetingId\":\"" MID "\",\"AttendeeId\":"
                   "\"" AID "#content\",\"Capabilities\":{\"Audio\":\"None\",\"Video\":\"Send\","
                   "\"Content\":\"None\"}}"),
               0);
  CHECK_EQ_INT(dec("{\"op\":\"LeaveMeeting\",\"MeetingId\":\"" MID "\",\"AttendeeId\":\"" AID
                   "#content\"}"),
               0);
  BAD("{\"op\":\"DeleteAttendee\",\"MeetingId\":\"" MID "\",\"AttendeeId\":\"" AID "#CONTENT\"}",
      "AttendeeId: must be an attendee id");
  BAD("{\"op\":\"DeleteAttendee\",\"MeetingId\":\"" MID "\",\"AttendeeId\":\"" AID "#content2\"}",
      "AttendeeId: must be an attendee id");
  BAD("{\"op\":\"DeleteAttendee\",\"MeetingId\":\"" MID "\",\"AttendeeId\":\"" AID
      "#content#content\"}",
      "AttendeeId: must be an attendee id");
  BAD("{\"op\":\"DeleteAttendee\",\"MeetingId\":\"" MID "#content\",\"AttendeeId\":\"" AID "\"}",
      "MeetingId: must be a UUID");
}

TEST(exec_content_share_attendees) {
  sfu_session_config_t cfg = {300000000, 86400000000ull};
  sfu_session_cbs_t cbs = {on_ev, NULL, NULL, NULL};
  sfu_session_t *s = sfu_session_new(&cfg, &cbs);
  char req[512], mid[SFU_UUID_LEN + 1], aid[SFU_ATTENDEE_ID_LEN + 1], cid[64];
  char ids[3][SFU_ATTENDEE_ID_LEN + 1];
  cJSON *r = run(s, "{\"op\":\"CreateMeeting\",\"ExternalMeetingId\":\"weekly\"}");
  REQUIRE(str_at(cJSON_GetObjectItemCaseSensitive(r, "Meeting"), "MeetingId", NULL));
  snprintf(mid, sizeof mid, "%s", str_at(cJSON_GetObjectItemCaseSensitive(r, "Meeting"),
                                         "MeetingId", NULL));
  cJSON_Delete(r);
  static const char *const users[3] = {"alice", "bob", "carol"};
  for (int i = 0; i < 3; i++) {
    snprintf(req, sizeof req,
             "{\"op\":\"CreateAttendee\",\"MeetingId\":\"%s\",\"ExternalUserId\":\"%s\"}", mid,
             users[i]);
    r = run(s, req);
    REQUIRE(str_at(cJSON_GetObjectItemCaseSensitive(r, "Attendee"), "AttendeeId", NULL));
    snprintf(ids[i], sizeof ids[i], "%s",
             str_at(cJSON_GetObjectItemCaseSensitive(r, "Attendee"), "AttendeeId", NULL));
    cJSON_Delete(r);
  }
  snprintf(aid, sizeof aid, "%s", ids[0]);
  snprintf(cid, sizeof cid, "%s#content", aid);
  g_nev = 0;
  snprintf(req, sizeof req, "{\"op\":\"CreateAttendee\",\"MeetingId\":\"%s\",\"ContentShareOf\":\"%s\","
           "\"Capabilities\":{\"Audio\":\"None\",\"Video\":\"Send\",\"Content\":\"None\"}}", mid, aid);
  r = run(s, req);
  cJSON *a = cJSON_GetObjectItemCaseSensitive(r, "Attendee");
  CHECK_EQ_STR(str_at(a, "AttendeeId", NULL), cid);
  CHECK_EQ_STR(str_at(a, "ExternalUserId", NULL), "alice#content");
  CHECK_EQ_STR(str_at(a, "Capabilities", "Video"), "Send");
  CHECK(str_at(a, "JoinToken", NULL) != NULL);
  cJSON_Delete(r);
  REQUIRE(g_nev == 1);
  CHECK_EQ_INT(g_events[0].type, SFU_EV_ATTENDEE_ADDED);
  CHECK_EQ_STR(g_events[0].attendee_id, cid);
  char *js = sfu_control_event_json(&g_events[0], "w1", 9);
  CHECK(js && strstr(js, "\"attendeeId\":\"") && strstr(js, "#content\",\"externalUserId\":"
                                                             "\"alice#content\""));
  free(js);
  /* the "#content" id works wherever an AttendeeId goes */
  snprintf(req, sizeof req, "{\"op\":\"GetAttendee\",\"MeetingId\":\"%s\",\"AttendeeId\":\"%s\"}",
           mid, cid);
  r = run(s, req);
  CHECK_EQ_STR(str_at(cJSON_GetObjectItemCaseSensitive(r, "Attendee"), "AttendeeId", NULL), cid);
  cJSON_Delete(r);
  /* errors: Conflict, BadRequest, NotFound, LimitExceeded */
  static const struct {
    const char *owner;
    const char *code;
    const char *msg;
  } cases[] = {{NULL, "Conflict", "ContentShareOf: attendee already has a content share"},
               {"#content", "BadRequest", "ContentShareOf: "},
               {"0b7e3a52-9f0c-4f63-8d21-5a6e2c1b9d04", "NotFound", "ContentShareOf: no such"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char owner[64];
    if (!cases[i].owner)
      snprintf(owner, sizeof owner, "%s", aid);
    else if (cases[i].owner[0] == '#')
      snprintf(owner, sizeof owner, "%s", cid);
    else
      snprintf(owner, sizeof owner, "%s", cases[i].owner);
    snprintf(req, sizeof req,
             "{\"op\":\"CreateAttendee\",\"MeetingId\":\"%s\",\"ContentShareOf\":\"%s\"}", mid,
             owner);
    r = run(s, req);
    CHECK_EQ_STR(err_code(r), cases[i].code);
    const char *m = str_at(cJSON_GetObjectItemCaseSensitive(r, "error"), "message", NULL);
    CHECK(m && strncmp(m, cases[i].msg, strlen(cases[i].msg)) == 0);
    cJSON_Delete(r);
  }
  snprintf(req, sizeof req,
           "{\"op\":\"CreateAttendee\",\"MeetingId\":\"%s\",\"ContentShareOf\":\"%s\","
           "\"ExternalUserId\":\"bob-screen\"}", mid, ids[1]);
  r = run(s, req);
  CHECK_EQ_STR(err_code(r), "BadRequest");
  cJSON_Delete(r);
  snprintf(req, sizeof req,
           "{\"op\":\"CreateAttendee\",\"MeetingId\":\"%s\",\"ContentShareOf\":\"%s\"}", mid, ids[1]);
  r = run(s, req);
  CHECK_EQ_STR(str_at(cJSON_GetObjectItemCaseSensitive(r, "Attendee"), "ExternalUserId", NULL),
               "bob#content");
  cJSON_Delete(r);
  snprintf(req, sizeof req,
           "{\"op\":\"CreateAttendee\",\"MeetingId\":\"%s\",\"ContentShareOf\":\"%s\"}", mid, ids[2]);
  r = run(s, req);
  CHECK_EQ_STR(err_code(r), "LimitExceeded");
  const char *lm = str_at(cJSON_GetObjectItemCaseSensitive(r, "error"), "message", NULL);
  CHECK(lm && strstr(lm, "maximum of 2 content shares"));
  cJSON_Delete(r);
  /* DeleteAttendee of the owner: AttendeeDeleted for the share, then the owner */
  g_nev = 0;
  snprintf(req, sizeof req, "{\"op\":\"DeleteAttendee\",\"MeetingId\":\"%s\",\"AttendeeId\":\"%s\"}",
           mid, aid);
  r = run(s, req);
  CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "ok")));
  cJSON_Delete(r);
  REQUIRE(g_nev == 2);
  CHECK_EQ_INT(g_events[0].type, SFU_EV_ATTENDEE_DELETED);
  CHECK_EQ_STR(g_events[0].attendee_id, cid);
  CHECK_EQ_INT(g_events[1].type, SFU_EV_ATTENDEE_DELETED);
  CHECK_EQ_STR(g_events[1].attendee_id, aid);
  snprintf(req, sizeof req, "{\"op\":\"GetAttendee\",\"MeetingId\":\"%s\",\"AttendeeId\":\"%s\"}",
           mid, cid);
  r = run(s, req);
  CHECK_EQ_STR(err_code(r), "NotFound");
  cJSON_Delete(r);
  /* the slot is free again */
  snprintf(req, sizeof req,
           "{\"op\":\"CreateAttendee\",\"MeetingId\":\"%s\",\"ContentShareOf\":\"%s\"}", mid, ids[2]);
  r = run(s, req);
  CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "ok")));
  cJSON_Delete(r);
  sfu_session_free(s);
}

int main(void) {
  RUN(decode_every_op_good);
  RUN(decode_missing_and_wrong_fields);
  RUN(decode_op_errors);
  RUN(decode_hostile_inputs);
  RUN(decode_refuses_duplicate_keys);
  RUN(decode_every_truncation_and_garbage_never_crashes);
  RUN(exec_meeting_and_attendee_ops);
  RUN(exec_limit_exceeded_in_batch);
  RUN(error_and_event_shapes);
  RUN(decode_receive_stream_ids);
  RUN(decode_send_data_message);
  RUN(decode_and_exec_get_stream_index);
  RUN(index_and_video_json);
  RUN(video_event_shapes);
  RUN(directory_placement_and_rules);
  RUN(directory_ending_costs_its_replicas_only);
  RUN(directory_meeting_limit);
  RUN(decode_content_share_ids);
  RUN(exec_content_share_attendees);
  sfu_cmd_free(&g_cmd);
  return test_summary();
}
