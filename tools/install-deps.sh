#!/usr/bin/env bash
# Installs, from Debian's packages, what sfu-worker needs to build and run.
#   tools/install-deps.sh          build + run dependencies
#   tools/install-deps.sh --test   also the test peers (aiortc, chromium) and tools
# Installs only what is missing, so a second run is quick. Needs root (or sudo).
set -euo pipefail

build_pkgs=(build-essential meson ninja-build pkg-config
  libuv1-dev libsrtp2-dev libssl-dev libopus-dev libusrsctp-dev libnanomsg-dev
  libcjson-dev)
test_pkgs=(clang libclang-rt-14-dev valgrind python3-aiortc chromium iproute2
  chromium-driver python3-matplotlib)

want=("${build_pkgs[@]}")
[[ "${1:-}" == "--test" ]] && want+=("${test_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
