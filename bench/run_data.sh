#!/bin/sh
# Data-message relay benchmark (issue 10 "Speed"): N synthetic attendees in one meeting
# (tools/sfu-load data mode: one SCTP data channel each), 100 messages/s sent by 10 of
# them, relayed by the real worker to the N-1 others (N=250: 24,900 deliveries/s).
# Delivery latency p50/p99 (sender -> worker -> receiver, one monotonic clock), loss,
# worker CPU per delivery (utime+stime over the window), and what disturbs a run on a
# shared machine: UDP datagrams the kernel dropped on the worker's socket and the share of
# the window the worker's loop spent runnable but waiting for a CPU. Writes
# bench/results/data_relay.json (then: python3 bench/plot_data_relay.py ->
# docs/img/bench_data_relay.png).
#
#   bench/run_data.sh                         (./build; BENCH_BUILD_DIR=... to change)
#   knobs: BENCH_WORKER (the sfu-worker to measure, default $BUILD/sfu-worker),
#          BENCH_SIZES ("50 100 250"), BENCH_RUNS (3), BENCH_SECONDS (10), BENCH_RATE (100),
#          BENCH_NICE (-10: the loop and sfu-load ahead of other work on the machine)
set -eu
cd "$(dirname "$0")/.."
BUILD=${BENCH_BUILD_DIR:-build}
WORKER=${BENCH_WORKER:-$BUILD/sfu-worker}
SIZES=${BENCH_SIZES:-50 100 250}
RUNS=${BENCH_RUNS:-3}
SECONDS_=${BENCH_SECONDS:-10}
RATE=${BENCH_RATE:-100}
NICE=${BENCH_NICE:--10}
PY=${PYTHON:-python3}
OUT=bench/results/data_relay.json
ninja -C "$BUILD" sfu-worker tools/sfu-load >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$tmp/runs.jsonl"
for n in $SIZES; do
  r=1
  while [ "$r" -le "$RUNS" ]; do
    echo "== $n attendees, $RATE msg/s, run $r"
    $PY bench/data_relay.py --worker "$WORKER" --sfu-load "$BUILD/tools/sfu-load" \
      --attendees "$n" --rate "$RATE" --senders 10 --seconds "$SECONDS_" --nice "$NICE" \
      --label "n$n-r$r" --json >"$tmp/one.json"
    cat "$tmp/one.json" >>"$tmp/runs.jsonl"
    $PY - "$tmp/one.json" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
l = r["latency_us"]
a = r.get("at_socket_us") or {}
print("   %d deliveries/s, p50 %.2f ms, p99 %.2f ms (at the receiver's socket: p50 %.2f, p99 %.2f), "
      "lost %d, refused %s, worker %.2f us/delivery, "
      "UDP drops %d, loop waited %.1f %%" % (r["deliveries_per_s"], l.get("p50", 0) / 1e3,
      l.get("p99", 0) / 1e3, a.get("p50", 0) / 1e3, a.get("p99", 0) / 1e3, r["lost"], sum(r["refused"].values()),
      r["worker_cpu_us_per_delivery"], r["udp_drops_worker"], r["loop_runq_wait_pct"]))
PYEOF
    r=$((r + 1))
  done
done
$PY - "$tmp/runs.jsonl" "$OUT" "$LOAD" "$(git rev-parse --short HEAD)" "$WORKER" <<'PYEOF'
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
for r in runs:
    r.pop("worker_stats", None)
json.dump({"load_avg_at_start": sys.argv[3], "commit": sys.argv[4], "worker": sys.argv[5],
           "runs": runs}, open(sys.argv[2], "w"), indent=1)
print("wrote", sys.argv[2])
PYEOF
