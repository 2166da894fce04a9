#!/bin/sh
# Builds the libFuzzer targets (clang, ASan+UBSan) and runs each one briefly.
#
#   tools/fuzz.sh                  every fuzz_* target, FUZZ_SECONDS (default 20) each
#   tools/fuzz.sh rtp rtcp         only these targets
#   FUZZ_SECONDS=300 tools/fuzz.sh
#
# The committed corpus fuzz/corpus/<name>/ is copied to a temporary directory, so runs
# never write into the repository; crash reproducers land in $FUZZ_ARTIFACTS (default
# build-fuzz/fuzz-artifacts/<name>/). One line per target; exit status non-zero if any
# target crashed (or failed to build).
set -u
cd "$(dirname "$0")/.."
SECONDS_EACH=${FUZZ_SECONDS:-20}
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
ART_ROOT=${FUZZ_ARTIFACTS:-$BUILD/fuzz-artifacts}

if [ ! -f "$BUILD/build.ninja" ]; then
  CC=clang meson setup "$BUILD" -Dfuzz=true -Db_sanitize=address,undefined \
    -Db_lundef=false >"${TMPDIR:-/tmp}/sfu-fuzz-setup.log" 2>&1 || {
    echo "fuzz: meson setup failed (see ${TMPDIR:-/tmp}/sfu-fuzz-setup.log)"; exit 2; }
fi
if ! ninja -C "$BUILD" >"$BUILD/fuzz-build.log" 2>&1; then
  tail -30 "$BUILD/fuzz-build.log"
  echo "fuzz: build failed (see $BUILD/fuzz-build.log)"
  exit 2
fi

if [ $# -gt 0 ]; then
  targets="$*"
else
  targets=$(find "$BUILD/fuzz" -maxdepth 1 -type f -perm -u+x -name 'fuzz_*' | sort |
    sed 's|.*/fuzz_||')
fi
[ -n "$targets" ] || { echo "fuzz: no targets built"; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
failed=0
for t in $targets; do
  exe="$BUILD/fuzz/fuzz_$t"
  if [ ! -x "$exe" ]; then echo "fuzz_$t: MISSING"; failed=1; continue; fi
  corpus="$tmp/$t"
  mkdir -p "$corpus" "$ART_ROOT/$t"
  [ -d "fuzz/corpus/$t" ] && cp -r "fuzz/corpus/$t/." "$corpus/" 2>/dev/null
  seeds=$(ls "$corpus" | wc -l)
  log="$tmp/$t.log"
  # -rss_limit_mb keeps a runaway allocation a finding instead of an OOM kill.
  "$exe" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$ART_ROOT/$t/" "$corpus" >"$log" 2>&1
  rc=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  if [ $rc -eq 0 ]; then
    echo "fuzz_$t: ok ${SECONDS_EACH}s runs=${runs:-?} cov=${cov:-?} seeds=$seeds corpus=$(ls "$corpus" | wc -l)"
  else
    failed=1
    crash=$(ls -t "$ART_ROOT/$t" 2>/dev/null | head -1)
    echo "fuzz_$t: CRASH rc=$rc artifact=$ART_ROOT/$t/$crash"
    grep -E 'ERROR|SUMMARY|runtime error' "$log" | head -5 | sed 's/^/    /'
  fi
done
exit $failed
