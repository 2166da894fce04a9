/* Reads an SDP offer on stdin, writes the worker's answer on stdout (exit 0), or the
 * error on stderr (exit 1). Used by the capture scripts to check that real peers accept
 * our answers in setRemoteDescription. Local parameters are fixed, plausible values
 * (127.0.0.1, UDP 40000, TCP 40001); nothing listens there: only SDP is checked.
 * Build: tools/capture-offers/build_answer_tool.sh (links build/libsfu.a). */
#include <stdio.h>
#include <stdlib.h>

#include "sfu/sdp.h"

int main(void) {
  static char buf[SFU_SDP_MAX_SIZE + 2];
  size_t len = fread(buf, 1, sizeof buf, stdin);
  char err[256];
  sfu_sdp_offer_t *o;
  if (sfu_sdp_parse(buf, len, &o, err, sizeof err)) {
    fprintf(stderr, "parse: %s\n", err);
    return 1;
  }
  sfu_sdp_local_t l = {
      .ice_ufrag = "wK3f", .ice_pwd = "q8Zt0aZ3mVnB7dK2xR5yH1jL",
      .fingerprint = "9C:2F:4D:1A:6B:7E:88:01:3C:55:AA:90:12:EF:43:21:76:0B:9D:C4:58:3E:71:"
                     "A2:6F:19:B0:2D:84:C7:E5:3A",
      .ip = "127.0.0.1", .udp_port = 40000, .tcp_port = 40001, .sctp_port = 5000,
      .max_message_size = 262144, .session_id = 4611686018427387904ull, .session_version = 1};
  char *text;
  sfu_sdp_answer_t neg;
  int rc = sfu_sdp_answer(o, &l, &text, &neg, err, sizeof err);
  sfu_sdp_offer_free(o);
  if (rc) {
    fprintf(stderr, "answer: %s\n", err);
    return 1;
  }
  if (neg.note) fprintf(stderr, "note: %s\n", neg.note);
  fputs(text, stdout);
  free(text);
  sfu_sdp_answer_clear(&neg);
  return 0;
}
