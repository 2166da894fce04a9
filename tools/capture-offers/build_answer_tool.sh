#!/bin/sh
# Builds tools/capture-offers/sdp_answer_tool against an existing meson build's libsfu.a.
#   tools/capture-offers/build_answer_tool.sh [BUILD_DIR] -> BUILD_DIR/sdp-answer-tool
set -e
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${1:-$ROOT/build}
ninja -C "$B" libsfu.a >/dev/null
cc -std=gnu11 -O1 -I"$ROOT/include" -I"$ROOT/src" "$ROOT/tools/capture-offers/sdp_answer_tool.c" \
  "$B/libsfu.a" -lcrypto -o "$B/sdp-answer-tool"
echo "$B/sdp-answer-tool"
