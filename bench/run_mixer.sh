#!/bin/sh
# Audio mixer benchmark (issue 9 "Speed"): CPU per 20 ms tick natively and instructions
# per tick under callgrind, for 10/50/250 attendees x 1/3/5 talkers, the encode-sharing
# mixer beside a naive one-encode-per-listener mixer. Writes bench/results/mixer.json
# (then: python3 bench/plot_mixer.py -> docs/img/bench_mixer.png).
#
#   bench/run_mixer.sh                 (./build; BENCH_BUILD_DIR=... to change)
#   knobs: BENCH_TICKS (native, 500), BENCH_NAIVE_TICKS (native, 50),
#          BENCH_CG_TICKS (callgrind, 50), BENCH_CG_NAIVE_TICKS (callgrind, 4)
set -eu
cd "$(dirname "$0")/.."
BUILD=${BENCH_BUILD_DIR:-build}
TICKS=${BENCH_TICKS:-500}
NAIVE_TICKS=${BENCH_NAIVE_TICKS:-50}
CG_TICKS=${BENCH_CG_TICKS:-50}
CG_NAIVE=${BENCH_CG_NAIVE_TICKS:-4}
OUT=bench/results/mixer.json
ninja -C "$BUILD" bench/bench_mixer >/dev/null
exe="$BUILD/bench/bench_mixer"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)

echo "== native: $TICKS ticks per meeting (naive: $NAIVE_TICKS)"
"$exe" --ticks="$TICKS" --naive-ticks="$NAIVE_TICKS" --json >"$tmp/native.json"
"$exe" --ticks="$TICKS" --naive-ticks="$NAIVE_TICKS"

echo "== callgrind: $CG_TICKS ticks (naive: $CG_NAIVE), only bench_stage_* counted"
: >"$tmp/cg.txt"
for a in 10 50 250; do
  for t in 1 3 5; do
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.m" --toggle-collect=bench_stage_mixer \
      "$exe" --only=$a:$t --ticks="$CG_TICKS" --naive-ticks=0 >/dev/null 2>"$tmp/err.m"
    m=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$tmp/err.m")
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.n" --toggle-collect=bench_stage_naive \
      "$exe" --only=$a:$t --ticks=1 --naive-ticks="$CG_NAIVE" >/dev/null 2>"$tmp/err.n"
    n=$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$tmp/err.n")
    echo "$a $t $m $n" >>"$tmp/cg.txt"
    echo "   $a attendees, $t talkers: $((m / CG_TICKS)) instr/tick (naive $((n / CG_NAIVE)))"
  done
done

python3 - "$tmp/native.json" "$tmp/cg.txt" "$CG_TICKS" "$CG_NAIVE" "$LOAD" >"$OUT" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
cg = {}
for line in open(sys.argv[2]):
    a, t, m, n = line.split()
    cg[(int(a), int(t))] = (int(m) / int(sys.argv[3]), int(n) / int(sys.argv[4]))
for r in doc["results"]:
    m, n = cg.get((r["attendees"], r["talkers"]), (0, 0))
    r["cg_instr"], r["cg_naive_instr"] = round(m), round(n)
doc["load"] = sys.argv[5]
print(json.dumps(doc, indent=1))
PY
echo "wrote $OUT (load average at start: $LOAD)"
