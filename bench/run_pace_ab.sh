#!/bin/sh
# What issue 8's estimation + pacing cost on top of plain forwarding through the real loop
# (docs/benchmarks.md "Forwarding with estimation and pacing"), bench/forward.py runs:
#   2M     the issue's own condition, "100 viewers at 2 Mbps each": 4 meetings of one
#          3-layer publisher (2 Mbit/s top layer, FHD meetings: 25 attendees at most) and
#          24 viewers each, 96 viewers on the one loop;
#   2M-paced  the same with publishers that pace in 5 ms bursts (2.5 x their bitrate, as
#          libwebrtc did before its 40 ms burst interval): a frame reaches the worker
#          spread over ~25 ms; the other scenarios' publishers send each frame at once, as
#          a current libwebrtc sender does with a frame under 40 ms of its pacing rate;
#   A-top  100 viewers of one publisher at sfu-load's default (~1.2 Mbit/s top layer);
# each with the viewers' transport-cc feedback (the worker estimates, allocates, probes
# and paces every viewer: "on") and without (--no-twcc-feedback: nothing estimated,
# nothing paced, plain forwarding: "off").
#
# Paired: the "on" and "off" runs of a pair run side by side, their workers pinned to the
# same core and their sfu-loads to the other, so both see the same machine: on this
# 2-vCPU VM the same configuration moved by up to 2x between runs taken one after the
# other, which no median of a few runs could resolve to 10 %. The two workers share that
# core's caches (each has ~10-25 % of it), which is the same for both. Each pair gives a
# ratio on / off; the summary is the median ratio over BENCH_REPEAT pairs.
# BENCH_BASE_WORKER=path adds the same pairs for another build (e.g. the tree before a
# change), run as pairs of their own.
# Then the deterministic part: build/bench/bench_router_pace under callgrind (the router's
# own instructions per forwarded packet, feedback on / off), and with BENCH_CALLGRIND=1
# the whole worker under callgrind (2M's stream for 10 viewers in one meeting: the loop's
# user-space instructions per forwarded packet, on / off, one after the other).
# Writes bench/results/pace_ab.json; python3 bench/plot_pace_ab.py -> docs/img/bench_pace_ab.png
#
#   bench/run_pace_ab.sh
#   BENCH_REPEAT=5 BENCH_SCENARIOS=2M BENCH_CALLGRIND=1 bench/run_pace_ab.sh
#   BENCH_BASE_WORKER=/tmp/base/sfu-worker ...   BENCH_WORKER=/tmp/this/sfu-worker ...
#
# Numbers, never pass/fail.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BENCH_BUILD_DIR:-build}
SECS=${BENCH_SECONDS:-10}
WARM=${BENCH_WARMUP:-12}
REPEAT=${BENCH_REPEAT:-3}
SCENARIOS=${BENCH_SCENARIOS:-2M A-top}
BASE=${BENCH_BASE_WORKER:-}
# the build under test (a copy keeps a rebuild during the runs out of them)
WORKER=${BENCH_WORKER:-$BUILD/sfu-worker}
OUT=${BENCH_OUT:-bench/results/pace_ab.json}
PY=${PYTHON:-python3}
NICE=${BENCH_NICE:--10}
ninja -C "$BUILD" sfu-worker tools/sfu-load bench/libsfu_alloc_shim.so bench/bench_router_pace >/dev/null
tmp=$(mktemp -d)
# kept if the summary fails (the runs are in $tmp/native.jsonl); removed at the end
trap 'rm -rf "$tmp"' INT TERM
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
args_of() { # scenario -> forward.py arguments
  case $1 in
  2M) echo "--scenario A-top --meetings 4 --viewers 24 --bitrate 2000000" ;;
  2M-paced) echo "--scenario A-top --meetings 4 --viewers 24 --bitrate 2000000 --publisher-pace 2.5" ;;
  A-top) echo "--scenario A-top --viewers 100" ;;
  *) echo "unknown scenario $1" >&2 && exit 2 ;;
  esac
}
SHIM="--shim $BUILD/bench/libsfu_alloc_shim.so" # allocation counts (not under valgrind)
run() { # output file, worker, label, then forward.py arguments
  f=$1
  w=$2
  label=$3
  shift 3
  # shellcheck disable=SC2086
  $PY bench/forward.py --worker "$w" --sfu-load "$BUILD/tools/sfu-load" --label "$label" \
    --nice "$NICE" --json --seconds "$SECS" --warmup "$WARM" $SHIM "$@" >"$f" 2>"$f.err" || echo "$label failed: $(tail -1 "$f.err")" >&2
}
pair() { # pair number, worker, label prefix, scenario
  args=$(args_of "$4")
  echo "pair $1: $4 ${3}on | ${3}off" >&2
  # shellcheck disable=SC2086
  run "$tmp/p$1-on.json" "$2" "$4/${3}on" $args &
  # shellcheck disable=SC2086
  run "$tmp/p$1-off.json" "$2" "$4/${3}off" $args --no-twcc-feedback &
  wait
  for k in on off; do
    [ -s "$tmp/p$1-$k.json" ] && $PY -c 'import json,sys; r=json.load(open(sys.argv[1])); r["pair"]=int(sys.argv[2]); print(json.dumps(r))' \
      "$tmp/p$1-$k.json" "$1" >>"$tmp/native.jsonl"
  done
}
: >"$tmp/native.jsonl"
n=0
for sc in $SCENARIOS; do
  for _ in $(seq 1 "$REPEAT"); do
    n=$((n + 1))
    pair $n "$WORKER" "" "$sc"
    if [ -n "$BASE" ]; then
      n=$((n + 1))
      pair $n "$BASE" "base-" "$sc"
    fi
  done
done
# The whole worker under callgrind (optional: ~3 minutes): user-space instructions of the
# loop thread per forwarded packet, 10 viewers of 2M's stream (with 20 the worker under
# valgrind falls behind: late pacer ticks, viewers on lower layers).
: >"$tmp/whole.jsonl"
if [ "${BENCH_CALLGRIND:-0}" = 1 ]; then
  SHIM=""
  for fb in on off; do
    flag=""
    [ "$fb" = off ] && flag="--no-twcc-feedback"
    echo "whole worker under callgrind, feedback $fb" >&2
    # shellcheck disable=SC2086
    run "$tmp/cg-$fb.json" "$WORKER" "callgrind/$fb" --scenario A-top --viewers 10 --bitrate 2000000 \
      --warmup 10 $flag --wrap "valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file=$tmp/cg-$fb.out" \
      --cg-out "$tmp/cg-$fb.out"
    [ -s "$tmp/cg-$fb.json" ] && cat "$tmp/cg-$fb.json" >>"$tmp/whole.jsonl" && echo >>"$tmp/whole.jsonl"
  done
fi
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
$PY - "$tmp/native.jsonl" "$tmp/router.jsonl" "$OUT" "$LOAD" "$tmp/whole.jsonl" <<'PYEOF'
import json, statistics, sys
nat = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
rt = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
whole = [json.loads(l) for l in open(sys.argv[5]) if l.strip()]
out = {"cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                    if l.startswith("model name")), ""),
       "load_at_start": sys.argv[4], "paired": True, "runs": nat, "router": rt,
       "whole_callgrind": whole, "median": {}, "spread": {}, "pairs": {}}
keys = ["us_per_pkt", "user_us_per_pkt", "sys_us_per_pkt", "forwarded_per_s", "twcc_fb_per_s",
        "wakeups_per_s", "msgs_per_datagram", "gso_segments_per_batch", "allocs_per_pkt",
        "seq_gaps"]
for label in dict.fromkeys(r["label"] for r in nat):
    rs = [r for r in nat if r["label"] == label]
    out["median"][label] = {k: statistics.median([r[k] for r in rs]) for k in keys}
    out["spread"][label] = {k: [min(r[k] for r in rs), max(r[k] for r in rs)] for k in keys}
    out["median"][label]["n"] = len(rs)
# Per pair: on / off of runs that shared the machine. A pair whose viewers saw sequence
# gaps (sfu-load fell behind: not a measurement of the worker) is left out.
by_pair = {}
for r in nat:
    by_pair.setdefault(r["pair"], {})[r["label"]] = r
for p, d in sorted(by_pair.items()):
    on = [r for l, r in d.items() if l.endswith("on")]
    off = [r for l, r in d.items() if l.endswith("off")]
    if len(on) != 1 or len(off) != 1 or on[0]["seq_gaps"] or off[0]["seq_gaps"]:
        continue
    group = on[0]["label"][:-2]  # "2M/" or "2M/base-"
    out["pairs"].setdefault(group, []).append({
        "pair": p, "ratio": on[0]["us_per_pkt"] / off[0]["us_per_pkt"],
        "user_ratio": on[0]["user_us_per_pkt"] / off[0]["user_us_per_pkt"],
        "on": on[0]["us_per_pkt"], "off": off[0]["us_per_pkt"]})
for r in rt:
    r["instr_per_pkt"] = r["instr"] / r["packets"]
with open(sys.argv[3], "w") as f:
    json.dump(out, f, indent=1)
for label, m in out["median"].items():
    sp = out["spread"][label]["us_per_pkt"]
    print("%-14s us/pkt %.2f (%.2f..%.2f, n=%d) = user %.2f + kernel %.2f  fwd/s %.0f  fb/s %.0f"
          "  wake-ups/s %.0f  GSO segments/message %.2f  allocs/pkt %.4f" % (
              label, m["us_per_pkt"], sp[0], sp[1], m["n"], m["user_us_per_pkt"],
              m["sys_us_per_pkt"], m["forwarded_per_s"], m["twcc_fb_per_s"], m["wakeups_per_s"],
              m["gso_segments_per_batch"], m["allocs_per_pkt"]))
for group, ps in out["pairs"].items():
    rs = sorted(p["ratio"] for p in ps)
    us = sorted(p["user_ratio"] for p in ps)
    print("%s: estimation + pacing %+.1f %% (median of %d pairs, %+.1f .. %+.1f); user time %+.1f %%" % (
        group.rstrip("/"), 100 * (statistics.median(rs) - 1), len(rs), 100 * (rs[0] - 1),
        100 * (rs[-1] - 1), 100 * (statistics.median(us) - 1)))
for r in rt:
    print("router alone, feedback %s: %.0f instructions per forwarded packet" % (
        r["feedback"], r["instr_per_pkt"]))
for r in whole:
    print("whole worker loop (callgrind, 10 viewers at 2 Mbit/s), feedback %s: %.0f "
          "instructions per forwarded packet" % (r["label"].split("/")[1], r["instr_per_pkt"]))
PYEOF
rm -rf "$tmp"
