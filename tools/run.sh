#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and starts a worker on
# loopback in the foreground. Drive it with build/tools/sfuctl from another shell.
# Extra arguments go to sfu-worker (see build/sfu-worker --help).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
if [[ -f build/build.ninja ]]; then :; else meson setup build >/dev/null; fi
ninja -C build
cat <<'MSG'

sfu-worker is starting. In another shell, for example:
  build/tools/sfuctl create-meeting --external-id demo
  build/tools/sfuctl create-attendee <MeetingId> alice
  build/tools/sfuctl stats
  build/tools/sfuctl events            # tail the event stream
Stop the worker with Ctrl-C.

MSG
exec build/sfu-worker "$@"
