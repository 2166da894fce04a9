/* libFuzzer target: SDP offer parse, then answer, then re-parse of our own answer, which
 * must also hold no lone CR and no a=fmtp longer than the answer builder writes.
 * Corpus: fuzz/corpus/sdp/ (the captured offers of tests/data/sdp plus small edge cases;
 * *-plan.sdp end in an odd byte, so they are answered with a plan: audio mix, red). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sfu/sdp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sfu_sdp_offer_t *o = NULL;
  char err[128];
  if (sfu_sdp_parse((const char *)data, size, &o, err, sizeof err) != 0) {
    if (o) abort(); /* contract: NULL on error */
    return 0;
  }
  static const sfu_sdp_local_t local = {
      .ice_ufrag = "fuzz",
      .ice_pwd = "fuzzfuzzfuzzfuzzfuzzfuzz",
      /* A well-formed sha-256 fingerprint: the re-parse below checks the answer
       * with the same rules a peer would apply to it. */
      .fingerprint =
          "00:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:11:12:13:14:15:16:17:18:19:1A:1B:1C:"
          "1D:1E:1F",

      .ip = "127.0.0.1",
      .udp_port = 40000,
      .tcp_port = 40001};
  /* Half the inputs are answered with a local plan (sfu_sdp_plan_t) whose choices come
   * from the input's bytes: directions, SSRCs (collisions included), send_pt from the
   * section's payload types, and now and then a name that is not a token. */
  sfu_sdp_plan_t plan[SFU_SDP_MAX_MEDIA];
  size_t n_plan = 0;
  sfu_sdp_local_t l = local;
  if (size && (data[size - 1] & 1)) {
    for (size_t i = 0; i < o->n_media; i++) {
      const sfu_sdp_media_t *m = &o->media[i];
      uint8_t b = data[(i * 7) % size], c = data[(i * 13 + 1) % size];
      plan[n_plan++] = (sfu_sdp_plan_t){
          .mid = m->mid, .recv = b & 1, .send = (b >> 1) & 1, .ssrc = (b >> 2) & 7,
          .rtx_ssrc = (c & 3) ? 100u + (c & 3) : 0, .cname = (c & 4) ? "sfu" : NULL,
          .msid_stream = (c & 8) ? "s" : NULL,
          .msid_track = (c & 16) ? "t" : (c & 32) ? "a b" : NULL,
          .send_pt = (c & 64) && m->n_codecs ? m->codecs[c % m->n_codecs].pt : -1};
    }
    l.plan = plan;
    l.n_plan = n_plan;
  }
  char *text = NULL;
  sfu_sdp_answer_t neg;
  if (sfu_sdp_answer(o, &l, &text, &neg, err, sizeof err) == 0) {
    /* Our answer must always be SDP our own parser accepts. */
    sfu_sdp_offer_t *again = NULL;
    if (sfu_sdp_parse(text, strlen(text), &again, err, sizeof err) != 0) abort();
    if (again->n_media != o->n_media || neg.n_media > o->n_media) abort();
    /* Nothing of the offer leaks into the answer unchecked: every CR ends a line (a lone
     * one would split it for some peers) and every a=fmtp is the short, rebuilt kind. */
    for (const char *p = text; (p = strchr(p, '\r')) != NULL; p++)
      if (p[1] != '\n') abort();
    for (const char *p = text; (p = strstr(p, "\na=fmtp:")) != NULL; p++)
      if (strcspn(p + 1, "\r") > sizeof "a=fmtp:127 " + 128) abort();
    /* An answered red (RFC 2198) sits right after the Opus it carries, in an audio
     * section, and only with a plan (issue 9: never in the answer before plans). */
    for (size_t i = 0; i < neg.n_media; i++) {
      const sfu_sdp_neg_media_t *m = &neg.media[i];
      if (m->red_pt < 0) continue;
      if (!l.plan || m->kind != SFU_SDP_KIND_AUDIO || m->n_codecs < 2) abort();
      size_t k = 1;
      while (k < m->n_codecs && m->codecs[k].pt != m->red_pt) k++;
      if (k == m->n_codecs || strcmp(m->codecs[k].name, "red") != 0 ||
          strcmp(m->codecs[k - 1].name, "opus") != 0)
        abort();
    }
    sfu_sdp_offer_free(again);
    free(text);
    sfu_sdp_answer_clear(&neg);
  } else if (text) {
    abort();
  }
  sfu_sdp_offer_free(o);
  return 0;
}
