/* libFuzzer target for the STUN codec, the ICE-lite agent and RFC 4571 deframing.
 *
 * Every input is used three ways:
 *  1. as one datagram: parse, check FINGERPRINT and MESSAGE-INTEGRITY with a fixed key,
 *     decode the views, hand it to an ICE-lite agent;
 *  2. as an ICE-TCP byte stream: deframe (RFC 4571), and each frame as in 1;
 *  3. if it parses, re-signed: its attributes up to MI/FINGERPRINT kept, then a valid
 *     MESSAGE-INTEGRITY (fixed key) and FINGERPRINT appended, so the fuzzer reaches the
 *     authenticated paths of the agent (nomination, role conflict, 420) it could never
 *     reach by forging HMACs.
 * Seeds: fuzz/corpus/stun/ (the RFC 5769 vectors; the agent's credentials are theirs).
 */
#include <stdint.h>
#include <string.h>

#include "sfu/ice_lite.h"
#include "sfu/log.h"
#include "sfu/stun.h"
#include "sfu/tcp_framing.h"

static const char key[] = "VOkJxbRl1RmTxUk/WvJxBt"; /* RFC 5769 password */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_send(void *u, const sfu_addr_t *to, const uint8_t *buf, size_t len) {
  /* Whatever the agent sends must itself be a well-formed, fingerprinted message. */
  sfu_stun_msg_t m;
  if (sfu_stun_parse(buf, len, &m) != 0 || sfu_stun_check_fingerprint(&m) != 0) __builtin_trap();
  (void)u;
  (void)to;
}
static void on_selected(void *u, const sfu_addr_t *r) {
  (void)u;
  (void)r;
}
static void on_lost(void *u) { (void)u; }

static void one_message(const uint8_t *buf, size_t len, uint64_t now) {
  sfu_stun_msg_t m;
  if (sfu_stun_parse(buf, len, &m) != 0) return;
  sfu_addr_t a;
  const char *u;
  size_t ul;
  (void)sfu_stun_check_fingerprint(&m);
  (void)sfu_stun_check_integrity(&m, (const uint8_t *)key, sizeof key - 1);
  (void)sfu_stun_xor_mapped(&m, &a);
  (void)sfu_stun_username_local(&m, &u, &ul);
  (void)sfu_stun_username_remote(&m, &u, &ul);

  static const sfu_ice_cbs_t cbs = {on_send, on_selected, on_lost};
  sfu_ice_t ice;
  sfu_ice_init(&ice, &cbs, NULL, 0);
  sfu_ice_set_local(&ice, "evtj", key);
  sfu_ice_set_remote(&ice, "h6vY", NULL);
  sfu_addr_from_ip(&a, len & 1 ? "2001:db8::1" : "192.0.2.1", 32853,
                   len & 2 ? SFU_PROTO_TCP : SFU_PROTO_UDP);
  (void)sfu_ice_handle_stun(&ice, now, &a, &m);
  (void)sfu_ice_handle_stun(&ice, now + 1, &a, &m); /* again, now possibly connected */
  sfu_ice_handle_timeout(&ice, sfu_ice_next_deadline(&ice));
}

static void resigned(const uint8_t *data, size_t size) {
  sfu_stun_msg_t m;
  if (sfu_stun_parse(data, size, &m) != 0) return;
  size_t keep = m.integrity_off ? m.integrity_off : m.fingerprint_off ? m.fingerprint_off : m.len;
  static uint8_t buf[SFU_STUN_HDR_LEN + 0x10000];
  memcpy(buf, data, keep);
  sfu_stun_writer_t w = {.buf = buf, .cap = sizeof buf, .len = keep};
  sfu_stun_w_integrity(&w, (const uint8_t *)key, sizeof key - 1);
  sfu_stun_w_fingerprint(&w);
  int n = sfu_stun_w_finish(&w);
  if (n <= 0) return;
  sfu_stun_msg_t m2;
  if (sfu_stun_parse(buf, (size_t)n, &m2) != 0) return;
  /* Our own FINGERPRINT must verify, and our MI unless an earlier
   * MESSAGE-INTEGRITY-SHA256 made the parser ignore it (RFC 8489 §14.6). */
  if ((m2.integrity_off &&
       sfu_stun_check_integrity(&m2, (const uint8_t *)key, sizeof key - 1) != 0) ||
      (!m2.integrity_off && !m2.has_integrity_sha256) || sfu_stun_check_fingerprint(&m2) != 0)
    __builtin_trap();
  one_message(buf, (size_t)n, 1000000);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sfu_log_set_level(SFU_LOG_OFF);
  one_message(data, size, 1);

  static uint8_t storage[4096];
  sfu_tcp_deframer_t d;
  sfu_tcp_deframer_init(&d, storage, sizeof storage);
  const uint8_t *in = data, *f;
  size_t in_len = size, flen;
  while (sfu_tcp_deframer_next(&d, &in, &in_len, &f, &flen) == 1) one_message(f, flen, 2);

  resigned(data, size);
  return 0;
}
