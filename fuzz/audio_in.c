/* libFuzzer target: the audio receive side (src/media/audio_in.c). The input is a script
 * of records, each [op][...]:
 *   op & 3 == 0: a packet: [dt_ms][level][len_hi][len_lo] then len bytes (RTP, whole)
 *   op & 3 == 1: a pull with decode = op >> 7, after a peek
 *   op & 3 == 2: a pull 20 ms later without a peek
 *   op & 3 == 3: the clock jumps by [dt] seconds
 * Checks beyond "no crash": PCM stays within [-1, 1] and has 1 or 2 channels; decode = 0
 * never answers PCM; the stats stay sane (level and target within their bounds). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sfu/audio_in.h"

#define CHECK(x)       \
  do {                 \
    if (!(x)) abort(); \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sfu_audio_in_cfg_t cfg = {.opus_pt = 111, .red_pt = 63};
  sfu_audio_in_t *a = sfu_audio_in_new(&cfg);
  CHECK(a);
  uint64_t now = 1000000;
  size_t i = 0;
  static float pcm[SFU_AUDIO_FRAME * SFU_AUDIO_MAX_CHANNELS];
  while (i < size) {
    uint8_t op = data[i++];
    if ((op & 3) == 0) {
      if (i + 4 > size) break;
      now += data[i] * 1000u;
      int level = data[i + 1] == 0xff ? -1 : data[i + 1];
      size_t len = (size_t)data[i + 2] << 8 | data[i + 3];
      i += 4;
      if (len > size - i) len = size - i;
      sfu_audio_in_handle_rtp(a, now, data + i, len, level);
      i += len;
    } else if ((op & 3) == 3) {
      if (i >= size) break;
      now += data[i++] * 1000000ull;
    } else {
      if ((op & 3) == 1) {
        float lv = sfu_audio_in_peek_level(a, now);
        CHECK(lv == -1.f || (lv >= 0.f && lv <= 1.f));
      }
      now += 20000;
      int decode = op >> 7, ch = 0;
      sfu_audio_pull_t r = sfu_audio_in_pull(a, now, decode, pcm, &ch);
      if (r == SFU_AUDIO_PCM) {
        CHECK(decode && (ch == 1 || ch == 2));
        for (int k = 0; k < SFU_AUDIO_FRAME * ch; k++) CHECK(fabsf(pcm[k]) <= 1.f);
      }
    }
  }
  sfu_audio_in_stats_t st;
  sfu_audio_in_stats(a, &st);
  CHECK(st.target_ms >= SFU_AUDIO_IN_MIN_DELAY_MS && st.target_ms <= SFU_AUDIO_IN_MAX_DELAY_MS);
  CHECK(st.level_ms >= 0.f && st.signal_strength >= 0.f && st.signal_strength <= 1.f);
  CHECK(st.loss_fraction >= 0.f && st.loss_fraction <= 1.f);
  sfu_audio_in_free(a);
  return 0;
}
