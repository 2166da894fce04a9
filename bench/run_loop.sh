#!/bin/sh
# The media loop over loopback sockets (issue 6, "Also asked"): wake-ups per second,
# worker CPU per received datagram and per wake-up natively, instructions per datagram
# and per wake-up under callgrind, for one or more sfu-worker builds. Each build runs
# every scenario below (bench/bench_loop.c drives one worker with one client).
# Writes bench/results/loop.json (BENCH_OUT to change), keeping the results of builds not
# run this time (so a baseline measured once stays); then python3 bench/plot_loop.py ->
# docs/img/bench_loop.png.
#
#   bench/run_loop.sh                                  (label "current" = ./build's worker)
#   bench/run_loop.sh before=/tmp/base/build/sfu-worker after=build/sfu-worker
#   BENCH_SECONDS=20 BENCH_REPEAT=3 BENCH_CG_SECONDS=10 bench/run_loop.sh ...
#
# Numbers, never pass/fail. CPU time moves with the machine's load (other processes on a
# 2-core VM preempt the loop): each native run is repeated BENCH_REPEAT times and the
# median kept; wake-up and instruction counts are what to compare.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BENCH_BUILD_DIR:-build}
SECONDS_RUN=${BENCH_SECONDS:-20}
REPEAT=${BENCH_REPEAT:-3}
CG_SECONDS=${BENCH_CG_SECONDS:-10}
OUT=${BENCH_OUT:-bench/results/loop.json}
ninja -C "$BUILD" bench/bench_loop sfu-worker >/dev/null
exe="$BUILD/bench/bench_loop"
[ $# -gt 0 ] || set -- "current=$BUILD/sfu-worker"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)

# name | bench_loop arguments. One client: Opus-sized SRTP at --rate packets/s (with the
# transport-wide sequence number unless --no-twcc), a data channel if --dc.
SCENARIOS='idle-dc|--rate 0 --dc
aiortc-like|--rate 50 --no-twcc --dc
audio-only|--rate 50 --no-twcc
audio-twcc-dc|--rate 50 --dc
audio-twcc-dc-chat|--rate 50 --dc --dc-rate 1
rate-100|--rate 100 --dc
rate-200|--rate 200 --dc
rate-500|--rate 500 --dc
rate-1000|--rate 1000 --dc'

: >"$tmp/native.jsonl"
: >"$tmp/cg.jsonl"
for spec in "$@"; do
  label=${spec%%=*}
  worker=${spec#*=}
  [ -x "$worker" ] || { echo "no worker at $worker" >&2; exit 1; }
  echo "$SCENARIOS" | while IFS='|' read -r name args; do
    for r in $(seq 1 "$REPEAT"); do
      # shellcheck disable=SC2086
      "$exe" --worker "$worker" --label "$label" --scenario "$name" --seconds "$SECONDS_RUN" \
        --warmup 3 --json $args >>"$tmp/native.jsonl"
    done
    mkdir -p "$tmp/cg.$label.$name"
    cgout="$tmp/cg.$label.$name/cg.out"
    # shellcheck disable=SC2086
    "$exe" --worker "$worker" --label "$label" --scenario "$name" --seconds "$CG_SECONDS" \
      --warmup 3 --json --wrap "valgrind --tool=callgrind --callgrind-out-file=$cgout" \
      --cg-out "$cgout" $args >>"$tmp/cg.jsonl" 2>/dev/null
    echo "   $label $name done"
  done
done

python3 - "$tmp" "$OUT" "$LOAD" <<'PY'
import json, os, platform, statistics, subprocess, sys
tmp, out, load = sys.argv[1], sys.argv[2], sys.argv[3]
native = [json.loads(l) for l in open(os.path.join(tmp, "native.jsonl")) if l.strip()]
cg = {(r["label"], r["scenario"]): r for r in
      (json.loads(l) for l in open(os.path.join(tmp, "cg.jsonl")) if l.strip())}
rows = []
keys = []
for r in native:
    k = (r["label"], r["scenario"])
    if k not in keys:
        keys.append(k)
for k in keys:
    runs = [r for r in native if (r["label"], r["scenario"]) == k]
    med = lambda f: statistics.median(r[f] for r in runs)
    c = cg.get(k, {})
    rows.append({
        "label": k[0], "scenario": k[1], "rate": runs[0]["rate"], "twcc": runs[0]["twcc"],
        "dc": runs[0]["dc"], "dc_rate": runs[0]["dc_rate"], "runs": len(runs),
        "seconds": runs[0]["seconds"],
        "datagrams_in_per_s": med("datagrams_in") / runs[0]["seconds"],
        "feedback_per_s": med("feedback_out") / runs[0]["seconds"],
        "wakeups_per_s": med("wakeups_per_s"),
        "cpu_us_per_s": med("cpu_us_per_s"),
        "us_per_datagram": med("us_per_datagram"),
        "us_per_wakeup": med("us_per_wakeup"),
        "involuntary_per_s": med("involuntary") / runs[0]["seconds"],
        "cg_wakeups_per_s": c.get("wakeups_per_s"),
        "instr_per_s": c.get("instr_per_s"),
        "instr_per_datagram": c.get("instr_per_datagram"),
        "instr_per_wakeup": c.get("instr_per_wakeup"),
        "native_runs": runs,
    })
cpu = ""
try:
    cpu = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")][0]
except Exception:
    pass
doc = {"bench": "loop", "cpu": cpu, "cores": os.cpu_count(), "loadavg_at_start": load,
       "kernel": platform.release(),
       "compiler_build": "meson buildtype=debugoptimized (-O2 -g)",
       "usrsctp": subprocess.run(["pkg-config", "--modversion", "usrsctp"],
                                 capture_output=True, text=True).stdout.strip(),
       "libuv": subprocess.run(["pkg-config", "--modversion", "libuv"],
                               capture_output=True, text=True).stdout.strip(),
       "results": rows}
# Builds not run this time keep their earlier results (each row says when it was run).
ran = {r["label"] for r in rows}
for r in rows:
    r["loadavg_at_start"] = load
if os.path.exists(out):
    try:
        old = json.load(open(out))
        rows[:0] = [r for r in old.get("results", []) if r["label"] not in ran]
    except (ValueError, KeyError):
        pass
doc["results"] = rows
os.makedirs(os.path.dirname(out), exist_ok=True)
json.dump(doc, open(out, "w"), indent=2)
print(f"{'build':8} {'scenario':20} {'pkt/s':>6} {'wake/s':>7} {'CPU us/s':>9} {'us/dgram':>9}"
      f" {'us/wake':>8} {'instr/dgram':>11} {'instr/wake':>10} {'fb/s':>5}")
for r in rows:
    f = lambda v, fmt: format(v, fmt) if v is not None else "-"
    print(f"{r['label']:8} {r['scenario']:20} {r['datagrams_in_per_s']:6.0f} {r['wakeups_per_s']:7.1f}"
          f" {r['cpu_us_per_s']:9.0f} {r['us_per_datagram']:9.1f} {r['us_per_wakeup']:8.1f}"
          f" {f(r['instr_per_datagram'], '11.0f')} {f(r['instr_per_wakeup'], '10.0f')}"
          f" {r['feedback_per_s']:5.1f}")
print("wrote", out)
PY
