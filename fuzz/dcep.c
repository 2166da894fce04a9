/* libFuzzer target: DCEP DATA_CHANNEL_OPEN parser (RFC 8832 §5.1). What parses must
 * re-encode to the same bytes (the message has one encoding) and parse back equal. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sfu/sctp.h"

#define CHECK(x)       \
  do {                 \
    if (!(x)) abort(); \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sfu_dcep_open_t o, o2;
  if (sfu_dcep_parse_open(data, size, &o) != 0) return 0;
  static uint8_t buf[1 << 18];
  int n = sfu_dcep_build_open(buf, sizeof buf, &o);
  CHECK(n > 0 && (size_t)n <= size && memcmp(buf, data, (size_t)n) == 0);
  CHECK(sfu_dcep_parse_open(buf, (size_t)n, &o2) == 0);
  CHECK(o2.channel_type == o.channel_type && o2.priority == o.priority &&
        o2.reliability == o.reliability);
  CHECK(o2.label_len == o.label_len && memcmp(o2.label, o.label, o.label_len) == 0);
  CHECK(o2.protocol_len == o.protocol_len && memcmp(o2.protocol, o.protocol, o.protocol_len) == 0);
  return 0;
}
