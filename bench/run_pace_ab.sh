#!/bin/sh
# What issue 8's estimation + pacing cost on top of plain forwarding through the real loop
# (docs/benchmarks.md "Forwarding with estimation and pacing"): bench/forward.py's A-top
# (100 viewers of one 3-layer publisher, ~1.2 Mbit/s top layer at 15 fps; the estimates
# climb to ~2 Mbit/s) and A-top x4 (400 viewers, four meetings on the one loop), each run
# with the viewers' transport-cc feedback (the worker estimates, allocates, probes and
# paces every viewer) and without (--no-twcc-feedback: nothing estimated, nothing paced:
# plain forwarding), alternated, BENCH_REPEAT times. BENCH_BASE_WORKER=path adds the same
# pairs for another build (e.g. the tree before a change) in the same alternation.
# Then the deterministic part: build/bench/bench_router_pace under callgrind (the router's
# own instructions per forwarded packet, feedback on / off).
# Writes bench/results/pace_ab.json; python3 bench/plot_pace_ab.py -> docs/img/bench_pace_ab.png
#
#   bench/run_pace_ab.sh
#   BENCH_REPEAT=3 BENCH_BASE_WORKER=/tmp/base/sfu-worker bench/run_pace_ab.sh
#   BENCH_WORKER=/tmp/this/sfu-worker ...   (default: the build's)
#
# Numbers, never pass/fail. Native CPU time moves with the machine's load (2 cores shared
# with other work): medians, ranges, and the instruction counts to compare.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BENCH_BUILD_DIR:-build}
SECS=${BENCH_SECONDS:-10}
WARM=${BENCH_WARMUP:-12}
REPEAT=${BENCH_REPEAT:-3}
REPEAT_X4=${BENCH_REPEAT_X4:-2}
BASE=${BENCH_BASE_WORKER:-}
# the build under test (a copy keeps a rebuild during the runs out of them)
WORKER=${BENCH_WORKER:-$BUILD/sfu-worker}
OUT=${BENCH_OUT:-bench/results/pace_ab.json}
PY=${PYTHON:-python3}
NICE=${BENCH_NICE:--10}
ninja -C "$BUILD" sfu-worker tools/sfu-load bench/libsfu_alloc_shim.so bench/bench_router_pace >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
run() { # worker, label, then forward.py arguments
  w=$1
  label=$2
  shift 2
  echo "$label $*" >&2
  $PY bench/forward.py --worker "$w" --sfu-load "$BUILD/tools/sfu-load" --label "$label" \
    --nice "$NICE" --json --seconds "$SECS" --warmup "$WARM" \
    --shim "$BUILD/bench/libsfu_alloc_shim.so" "$@" >>"$tmp/native.jsonl" || echo "run failed" >&2
}
: >"$tmp/native.jsonl"
for sc in A-top A-top-x4; do
  args="--scenario A-top"
  n=$REPEAT
  [ "$sc" = A-top-x4 ] && args="$args --meetings 4" && n=$REPEAT_X4
  for r in $(seq 1 "$n"); do
    # shellcheck disable=SC2086
    run "$WORKER" "$sc/on" $args
    # shellcheck disable=SC2086
    run "$WORKER" "$sc/off" $args --no-twcc-feedback
    if [ -n "$BASE" ]; then
      # shellcheck disable=SC2086
      run "$BASE" "$sc/base-on" $args
      # shellcheck disable=SC2086
      run "$BASE" "$sc/base-off" $args --no-twcc-feedback
    fi
  done
done
# The router alone, deterministic (virtual clock): instructions per forwarded packet.
: >"$tmp/router.jsonl"
for fb in on off; do
  flag=""
  [ "$fb" = off ] && flag="--no-feedback"
  o="$tmp/rp-$fb.cg"
  # shellcheck disable=SC2086
  line=$(valgrind --tool=callgrind --toggle-collect='bench_stage_*' --callgrind-out-file="$o" \
    "$BUILD/bench/bench_router_pace" $flag 2>/dev/null)
  ir=$(grep -h '^summary\|^totals' "$o" | head -1 | awk '{print $2}')
  pk=$(echo "$line" | sed -n 's/.*: \([0-9]*\) packets to viewers.*/\1/p')
  echo "{\"feedback\": \"$fb\", \"instr\": $ir, \"packets\": $pk, \"line\": \"$line\"}" >>"$tmp/router.jsonl"
done
$PY - "$tmp/native.jsonl" "$tmp/router.jsonl" "$OUT" "$LOAD" <<'PYEOF'
import json, statistics, sys
nat = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rt = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
out = {"cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                    if l.startswith("model name")), ""),
       "load_at_start": sys.argv[4], "runs": nat, "router": rt, "median": {}, "spread": {}}
keys = ["us_per_pkt", "user_us_per_pkt", "sys_us_per_pkt", "forwarded_per_s", "twcc_fb_per_s",
        "wakeups_per_s", "msgs_per_datagram", "allocs_per_pkt", "seq_gaps"]
for label in dict.fromkeys(r["label"] for r in nat):
    rs = [r for r in nat if r["label"] == label]
    out["median"][label] = {k: statistics.median([r[k] for r in rs]) for k in keys}
    out["spread"][label] = {k: [min(r[k] for r in rs), max(r[k] for r in rs)] for k in keys}
    out["median"][label]["n"] = len(rs)
for r in rt:
    r["instr_per_pkt"] = r["instr"] / r["packets"]
with open(sys.argv[3], "w") as f:
    json.dump(out, f, indent=1)
for label, m in out["median"].items():
    sp = out["spread"][label]["us_per_pkt"]
    print("%-18s us/pkt %.2f (%.2f..%.2f, n=%d) = user %.2f + kernel %.2f  fwd/s %.0f  fb/s %.0f"
          "  msgs/datagram %.3f  allocs/pkt %.4f" % (
              label, m["us_per_pkt"], sp[0], sp[1], m["n"], m["user_us_per_pkt"],
              m["sys_us_per_pkt"], m["forwarded_per_s"], m["twcc_fb_per_s"],
              m["msgs_per_datagram"], m["allocs_per_pkt"]))
for sc in ("A-top", "A-top-x4"):
    for pre in ("", "base-"):
        on, off = out["median"].get(sc + "/" + pre + "on"), out["median"].get(sc + "/" + pre + "off")
        if on and off:
            print("%s %s: estimation + pacing %+.1f %% (median vs median)" % (
                sc, pre or "this build", 100 * (on["us_per_pkt"] / off["us_per_pkt"] - 1)))
for r in rt:
    print("router alone, feedback %s: %.0f instructions per forwarded packet" % (
        r["feedback"], r["instr_per_pkt"]))
PYEOF
