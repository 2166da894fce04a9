/* Validation rules of the meeting model and the names used on the wire. Kept apart from
 * the model so that the control layer (decoding requests) and the session (re-checking
 * its inputs) apply exactly the same rules. */
#include <stdio.h>
#include <string.h>

#include "sfu/err.h"
#include "sfu/session.h"

static const char *const g_cap_names[] = {"SendReceive", "Send", "Receive", "None"};
static const char *const g_res_names[] = {"None", "HD", "FHD", "UHD"};
static const char *const g_reason_names[] = {"Deleted", "IdleTimeout", "MaxDuration",
                                             "PrimaryEnded"};
static const char *const g_event_names[] = {"chime:MeetingStarted", "chime:MeetingEnded",
                                            "chime:AttendeeAdded", "chime:AttendeeDeleted",
                                            "chime:AttendeeCapabilitiesUpdated",
                                            "chime:AttendeeAuthorized", "chime:AttendeeJoined",
                                            "chime:AttendeeLeft", "chime:AttendeeDropped",
                                            /* issue 7 (video router) */
                                            "chime:AttendeeVideoStarted",
                                            "chime:AttendeeVideoStopped",
                                            "chime:AttendeeContentJoined",
                                            "chime:AttendeeContentLeft",
                                            "chime:AttendeeContentDropped",
                                            "chime:AttendeeContentVideoStarted",
                                            "chime:AttendeeContentVideoStopped",
                                            "sfu:IndexChanged", "sfu:VideoSendRefused",
                                            /* issue 8 (downlink) */
                                            "sfu:DownlinkInsufficient",
                                            "sfu:DownlinkSufficient"};
_Static_assert(sizeof g_event_names / sizeof g_event_names[0] == SFU_EV_DOWNLINK_SUFFICIENT + 1,
               "one wire name per sfu_event_type_t");

const char *sfu_cap_name(sfu_cap_t c) { return (unsigned)c < 4 ? g_cap_names[c] : "?"; }

int sfu_cap_parse(const char *s) {
  for (int i = 0; i < 4; i++)
    if (s && strcmp(s, g_cap_names[i]) == 0) return i;
  return -1;
}

const char *sfu_resolution_name(sfu_resolution_t r) {
  return (unsigned)r < 4 ? g_res_names[r] : "?";
}

const char *sfu_end_reason_name(sfu_end_reason_t r) {
  return (unsigned)r < 4 ? g_reason_names[r] : "?";
}

const char *sfu_event_type_name(sfu_event_type_t t) {
  return (unsigned)t < sizeof g_event_names / sizeof g_event_names[0] ? g_event_names[t] : "?";
}

void sfu_caps_default(sfu_caps_t *c) { c->audio = c->video = c->content = SFU_CAP_SEND_RECEIVE; }

/* Counts UTF-8 code points; -1 on malformed UTF-8 (overlong forms, surrogates and
 * code points past U+10FFFF included, RFC 3629 section 3) or on a control character. */
static long utf8_chars(const unsigned char *p, size_t len) {
  long n = 0;
  for (size_t i = 0; i < len; n++) {
    unsigned c = p[i];
    if (c < 0x20 || c == 0x7f) return -1;
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t k;
    unsigned cp;
    if (c >= 0xc2 && c <= 0xdf) {
      k = 1;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      k = 2;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      k = 3;
      cp = c & 0x07;
    } else
      return -1;
    for (size_t j = 1; j <= k; j++) {
      if (i + j >= len || (p[i + j] & 0xc0) != 0x80) return -1;
      cp = (cp << 6) | (p[i + j] & 0x3f);
    }
    if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return -1;
    if (cp >= 0x80 && cp < 0xa0) return -1; /* C1 controls */
    i += k + 1;
  }
  return n;
}

int sfu_validate_external_id(const char *field, const char *s, size_t len, char *err,
                             size_t errlen) {
  long n = s ? utf8_chars((const unsigned char *)s, len) : -1;
  if (n < SFU_EXT_ID_MIN_CHARS || n > SFU_EXT_ID_MAX_CHARS || len >= SFU_EXT_ID_BUF) {
    snprintf(err, errlen,
             "%s: must be a string of %d to %d characters (UTF-8, no control characters)", field,
             SFU_EXT_ID_MIN_CHARS, SFU_EXT_ID_MAX_CHARS);
    return SFU_EINVAL;
  }
  return 0;
}

static int receives_or_sends_both(sfu_cap_t c) {
  return c == SFU_CAP_SEND_RECEIVE || c == SFU_CAP_RECEIVE;
}

int sfu_validate_caps(const sfu_caps_t *c, char *err, size_t errlen) {
  if ((unsigned)c->audio > SFU_CAP_NONE || (unsigned)c->video > SFU_CAP_NONE ||
      (unsigned)c->content > SFU_CAP_NONE) {
    snprintf(err, errlen, "Capabilities: unknown capability value");
    return SFU_EINVAL;
  }
  /* Chime CreateAttendee: "when Content capability is set to SendReceive or Receive,
   * Video capability must be set to SendReceive or Receive". */
  if (receives_or_sends_both(c->content) && !receives_or_sends_both(c->video)) {
    snprintf(err, errlen,
             "Capabilities.Content: %s requires Capabilities.Video SendReceive or Receive",
             sfu_cap_name(c->content));
    return SFU_EINVAL;
  }
  return 0;
}

int sfu_features_is_hd(const sfu_features_t *f) {
  return f->video == SFU_RES_FHD || f->content == SFU_RES_UHD;
}

int sfu_features_resolve(sfu_features_t *f, char *err, size_t errlen) {
  if (f->video != SFU_RES_NONE && f->video != SFU_RES_HD && f->video != SFU_RES_FHD) {
    snprintf(err, errlen, "MeetingFeatures.Video.MaxResolution: must be None, HD or FHD");
    return SFU_EINVAL;
  }
  if (f->content != SFU_RES_NONE && f->content != SFU_RES_FHD && f->content != SFU_RES_UHD) {
    snprintf(err, errlen, "MeetingFeatures.Content.MaxResolution: must be None, FHD or UHD");
    return SFU_EINVAL;
  }
  if (!f->receive_kbps) f->receive_kbps = SFU_RECEIVE_KBPS_DEFAULT;
  if (!f->audio_kbps) f->audio_kbps = SFU_AUDIO_KBPS_DEFAULT;
  if (!f->max_talkers) f->max_talkers = SFU_MAX_TALKERS_DEFAULT;
  if (f->audio_kbps < SFU_AUDIO_KBPS_MIN || f->audio_kbps > SFU_AUDIO_KBPS_MAX) {
    snprintf(err, errlen, "MeetingFeatures.Audio.BitrateKbps: must be an integer from %d to %d",
             SFU_AUDIO_KBPS_MIN, SFU_AUDIO_KBPS_MAX);
    return SFU_EINVAL;
  }
  if (f->max_talkers < 1 || f->max_talkers > SFU_MAX_TALKERS_MAX) {
    snprintf(err, errlen, "MeetingFeatures.Audio.MaxTalkers: must be an integer from 1 to %d",
             SFU_MAX_TALKERS_MAX);
    return SFU_EINVAL;
  }
  if (f->receive_kbps < SFU_RECEIVE_KBPS_MIN || f->receive_kbps > SFU_RECEIVE_KBPS_MAX) {
    snprintf(err, errlen, "MeetingFeatures.Video.MaxReceiveKbps: must be an integer from %d to %d",
             SFU_RECEIVE_KBPS_MIN, SFU_RECEIVE_KBPS_MAX);
    return SFU_EINVAL;
  }
  int hd = sfu_features_is_hd(f);
  int limit = hd ? SFU_MAX_ATTENDEES_HD : SFU_MAX_ATTENDEES;
  if (f->max_count == 0) f->max_count = limit;
  if (f->max_count < 1 || f->max_count > limit) {
    snprintf(err, errlen, "MeetingFeatures.Attendee.MaxCount: must be an integer from 1 to %d%s",
             limit, hd ? " in a high-definition meeting (Video FHD or Content UHD)" : "");
    return SFU_EINVAL;
  }
  return 0;
}

int sfu_attendee_id_is_content(const char *id) {
  size_t n = id ? strlen(id) : 0;
  return n > SFU_CONTENT_SUFFIX_LEN &&
         memcmp(id + n - SFU_CONTENT_SUFFIX_LEN, SFU_CONTENT_SUFFIX, SFU_CONTENT_SUFFIX_LEN) == 0;
}

int sfu_attendee_id_valid(const char *s) {
  if (!s) return 0;
  size_t n = strlen(s);
  if (n == SFU_UUID_LEN) return sfu_uuid_valid(s);
  if (n != SFU_ATTENDEE_ID_LEN || !sfu_attendee_id_is_content(s)) return 0;
  char uuid[SFU_UUID_LEN + 1];
  memcpy(uuid, s, SFU_UUID_LEN);
  uuid[SFU_UUID_LEN] = 0;
  return sfu_uuid_valid(uuid);
}
