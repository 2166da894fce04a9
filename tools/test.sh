#!/usr/bin/env bash
# Builds and runs every test of sfu-worker; `tools/test.sh --install` is the README's
# second command.
#   1. plain build (debugoptimized): unit, integration and interop suites
#   2. ASan+UBSan build: unit and integration suites
#   3. libFuzzer build: every fuzz target briefly (FUZZ_SECONDS each, default 15)
# Ends with one line "N passed, N failed" (N skipped may follow), which CI reads.
# Exit status 0 only if nothing failed.
set -uo pipefail
cd "$(dirname "$0")/.."
# --install: first install what is missing (build and test dependencies).
if [[ ${1:-} == --install ]]; then tools/install-deps.sh --test || exit 1; fi

passed=0 failed=0 skipped=0
jobs=${SFU_TEST_JOBS:-$(nproc)}

count_log() { # tally one meson testlog.json
  local log=$1
  [[ -f $log ]] || { failed=$((failed + 1)); return; }
  read -r p f s < <(/usr/bin/python3 - "$log" <<'PY'
import json, sys
p = f = s = 0
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    r = json.loads(line).get("result")
    if r in ("OK", "EXPECTEDFAIL"): p += 1
    elif r == "SKIP": s += 1
    else: f += 1
print(p, f, s)
PY
  )
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
}

step() { printf '\n=== %s ===\n' "$*"; }

setup() { # dir, meson args...
  local dir=$1; shift
  if [[ -f $dir/build.ninja ]]; then meson setup --reconfigure "$dir" "$@" >/dev/null
  else meson setup "$dir" "$@" >/dev/null; fi
}

step "plain build"
if setup build && ninja -C build; then
  step "tests: unit, integration, interop"
  meson test -C build --num-processes "$jobs" --print-errorlogs --suite unit --suite integration --suite interop
  count_log build/meson-logs/testlog.json
else
  echo "plain build failed"; failed=$((failed + 1))
fi

step "ASan+UBSan build"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
if CC=clang setup build-asan -Db_sanitize=address,undefined -Db_lundef=false && ninja -C build-asan; then
  step "tests under ASan+UBSan: unit, integration"
  meson test -C build-asan --num-processes "$jobs" --print-errorlogs --suite unit --suite integration \
    --timeout-multiplier 3
  count_log build-asan/meson-logs/testlog.json
else
  echo "sanitizer build failed"; failed=$((failed + 1))
fi

step "fuzz targets"
if [[ -x tools/fuzz.sh ]]; then
  out=$(FUZZ_SECONDS=${FUZZ_SECONDS:-15} tools/fuzz.sh 2>&1); rc=$?
  echo "$out" | tail -n 20
  p=$(grep -c '^fuzz_.*: ok' <<<"$out"); f=$(grep -cE '^fuzz_.*: (CRASH|MISSING)' <<<"$out")
  passed=$((passed + p)); failed=$((failed + f))
  ((rc != 0 && f == 0)) && failed=$((failed + 1))
fi

echo
echo "$passed passed, $failed failed, $skipped skipped"
((failed == 0))
