#!/bin/sh
# Video forwarding through the real loop and sockets (issue 7): the real sfu-worker
# (--loops 1, pinned to one core) forwards the video of tools/sfu-load's synthetic
# publishers to its synthetic viewers (pinned to the other core). bench/forward.py runs one
# scenario once; this script runs each BENCH_REPEAT times natively (median kept), then
# once under callgrind at a reduced rate (instructions per forwarded packet), and one perf
# profile of scenario A. Writes bench/results/forward.json (BENCH_OUT to change) and the
# raw files under bench/results/forward/ (perf report, callgrind_annotate); then
#   python3 bench/plot_forward.py          -> docs/img/bench_forward.png
#
#   bench/run_forward.sh
#   BENCH_SECONDS=10 BENCH_WARMUP=5 BENCH_REPEAT=3 BENCH_CG_SECONDS=10 bench/run_forward.sh
#   BENCH_ONLY=A-top bench/run_forward.sh      (one scenario by name)
#   BENCH_TWCC_AB=0 bench/run_forward.sh       (skip the transport-cc feedback on/off pass)
#
# The viewers send transport-cc feedback (sfu-load's default, as browsers do), so every
# run includes the worker's downlink estimation, probing and pacing; the on/off pass
# (sfu-load --no-twcc-feedback) gives what that costs per forwarded packet.
#
# Numbers, never pass/fail. CPU time moves with the machine's load (2 cores shared with
# other work): medians of BENCH_REPEAT runs, and the instruction counts to compare.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BENCH_BUILD_DIR:-build}
SECS=${BENCH_SECONDS:-10}
WARM=${BENCH_WARMUP:-5}
REPEAT=${BENCH_REPEAT:-3}
CG_SECS=${BENCH_CG_SECONDS:-10}
OUT=${BENCH_OUT:-bench/results/forward.json}
RAW=bench/results/forward
ONLY=${BENCH_ONLY:-}
TWCC_AB=${BENCH_TWCC_AB:-1}
PY=${PYTHON:-python3}
# Other work on the 2 cores preempts the loop and starves sfu-load (its sockets overflow,
# viewers NACK, the worker retransmits): both run at nice -10 unless told otherwise.
NICE=${BENCH_NICE:--10}
ninja -C "$BUILD" sfu-worker tools/sfu-load bench/libsfu_alloc_shim.so >/dev/null
mkdir -p "$RAW"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
run() { # label, then forward.py arguments
  label=$1
  shift
  $PY bench/forward.py --worker "$BUILD/sfu-worker" --sfu-load "$BUILD/tools/sfu-load" \
    --label "$label" --nice "$NICE" --json "$@"
}

# name | forward.py arguments (native). A: 1 publisher x 3 layers -> 100 viewers; B: 25
# publishers -> 25 viewers x 25 streams. sfu-load's rates: 150k / 500k / 1.2 Mbit/s per
# layer, 800 kbit/s for a single stream (an HD meeting allows 1.5 Mbit/s per layer; FHD,
# 2.5, allows 25 attendees only). x4: four such meetings side by side on the one loop,
# for a higher packet rate.
SCENARIOS='A-top|--scenario A-top
A-spread|--scenario A-spread
A-top-x4|--scenario A-top --meetings 4
B|--scenario B --layers 1
B-3layers|--scenario B --layers 3'
# Under callgrind (~50x slower) the same fan-out at a rate it keeps up with: 1,200-byte
# packets still (bitrate and fps lowered together), fewer of them.
CG_SCENARIOS='A-top|--scenario A-top --bitrate 240000 --fps 3
A-spread|--scenario A-spread --bitrate 240000 --fps 3
A-top-x4|--scenario A-top --meetings 4 --bitrate 120000 --fps 2
B|--scenario B --layers 1 --bitrate 48000 --fps 1
B-3layers|--scenario B --layers 3 --bitrate 72000 --fps 1'

: >"$tmp/native.jsonl"
: >"$tmp/cg.jsonl"
echo "$SCENARIOS" | while IFS='|' read -r name args; do
  [ -z "$ONLY" ] || [ "$ONLY" = "$name" ] || continue
  for r in $(seq 1 "$REPEAT"); do
    extra=""
    case "$name" in A-top | A-top-x4) [ "$r" = 1 ] && extra="--perf-record $RAW/perf-$name.data" ;; esac
    echo "native $name run $r" >&2
    # shellcheck disable=SC2086
    run "$name" $args --seconds "$SECS" --warmup "$WARM" --syscalls 3 \
      --shim "$BUILD/bench/libsfu_alloc_shim.so" $extra >>"$tmp/native.jsonl"
  done
done
# UDP GSO on / off (the shim hides UDP_SEGMENT from the worker's probe: plain sendmmsg),
# alternating runs of the two scenarios with the most datagrams per flush.
: >"$tmp/gso.jsonl"
for name in A-top-x4 B-3layers; do
  [ -z "$ONLY" ] || [ "$ONLY" = "$name" ] || continue
  args=$(echo "$SCENARIOS" | grep "^$name|" | cut -d'|' -f2)
  for r in $(seq 1 "$REPEAT"); do
    for g in on off; do
      echo "gso $g $name run $r" >&2
      flag=""
      [ "$g" = off ] && flag="--no-gso"
      # shellcheck disable=SC2086
      run "$name" $args --seconds "$SECS" --warmup "$WARM" \
        --shim "$BUILD/bench/libsfu_alloc_shim.so" $flag >>"$tmp/gso.jsonl"
    done
  done
done
# Transport-cc feedback on / off (viewers' feedback drives the worker's estimator, probes
# and pacer; off, the estimate stays unknown), alternating runs.
: >"$tmp/twcc.jsonl"
for name in A-top B-3layers; do
  [ "$TWCC_AB" = 1 ] || continue
  [ -z "$ONLY" ] || [ "$ONLY" = "$name" ] || continue
  args=$(echo "$SCENARIOS" | grep "^$name|" | cut -d'|' -f2)
  for r in $(seq 1 "$REPEAT"); do
    for t in on off; do
      echo "twcc feedback $t $name run $r" >&2
      flag=""
      [ "$t" = off ] && flag="--no-twcc-feedback"
      # shellcheck disable=SC2086
      run "$name" $args --seconds "$SECS" --warmup "$WARM" \
        --shim "$BUILD/bench/libsfu_alloc_shim.so" $flag >>"$tmp/twcc.jsonl"
    done
  done
done
echo "$CG_SCENARIOS" | while IFS='|' read -r name args; do
  [ -z "$ONLY" ] || [ "$ONLY" = "$name" ] || continue
  d="$tmp/cg.$name"
  mkdir -p "$d"
  echo "callgrind $name" >&2
  # shellcheck disable=SC2086
  run "$name" $args --seconds "$CG_SECS" --warmup 3 \
    --wrap "valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file=$d/cg.out" \
    --cg-out "$d/cg.out" >>"$tmp/cg.jsonl"
  # the loop thread's file: the largest of the window's dump
  f=$(ls -S "$d"/cg.out.1-* | head -1)
  callgrind_annotate --inclusive=yes "$f" 2>/dev/null | head -60 >"$RAW/callgrind-$name.txt" || true
  callgrind_annotate --inclusive=no --auto=no --threshold=100 "$f" 2>/dev/null | head -60 >"$RAW/callgrind-self-$name.txt" || true
done
for name in A-top A-top-x4; do
  data="$RAW/perf-$name.data"
  [ -f "$data" ] || continue
  perf report -i "$data" --stdio --no-children --sort dso,symbol 2>/dev/null |
    grep '%' | grep -v '^#' | grep -v '^ *|' | grep -v -- '--' | head -40 >"$RAW/perf-$name.txt" || true
  perf report -i "$data" --stdio --no-children --sort dso 2>/dev/null |
    grep '%' | grep -v '^#' | grep -v '^ *|' | grep -v -- '--' | head -15 >"$RAW/perf-$name-dso.txt" || true
  rm -f "$data" "$data.old"
done

$PY - "$tmp/native.jsonl" "$tmp/cg.jsonl" "$OUT" "$LOAD" "$tmp/gso.jsonl" "$tmp/twcc.jsonl" <<'EOF'
import json, platform, statistics, subprocess, sys
nat = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
cg = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
keys = ["forwarded_per_s", "rtp_in_per_s", "us_per_pkt", "user_us_per_pkt", "sys_us_per_pkt",
        "worker_us_per_pkt", "loop_cpu_frac", "wakeups_per_s", "pkts_per_wakeup",
        "load_cpu_frac", "allocs_per_pkt", "allocs_per_stun", "msgs_per_datagram",
        "gso_segments_per_batch", "datagrams_per_sendmmsg", "rss_per_viewer_stream_kib",
        "seq_gaps", "rcvbuf_errors"]
sc_keys = ["all", "sendmmsg", "recvmmsg", "epoll_wait"]
out = {"machine": platform.processor() or platform.machine(),
       "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                    if l.startswith("model name")), ""),
       "load_at_start": sys.argv[4], "runs": nat, "callgrind_runs": cg, "median": {},
       "spread": {}}
for name in dict.fromkeys(r["label"] for r in nat):
    rs = [r for r in nat if r["label"] == name]
    m, sp = {}, {}
    for k in keys:
        v = [r[k] for r in rs if r.get(k) is not None]
        if v:
            m[k] = statistics.median(v)
            sp[k] = [min(v), max(v)]
    for k in sc_keys:
        v = [r["syscalls_per_pkt"][k] for r in rs if r.get("syscalls_per_pkt", {}).get(k) is not None]
        if v:
            m["syscalls_per_pkt_" + k] = statistics.median(v)
    for k in ("viewer_streams", "viewers", "publishers", "layers", "bitrate", "meetings"):
        m[k] = rs[0][k]
    c = [r for r in cg if r["label"] == name]
    if c:
        m["instr_per_pkt"] = c[0]["instr_per_pkt"]
        m["instr_worker_per_pkt"] = c[0]["instr_worker_per_pkt"]
        m["cg_forwarded_per_s"] = c[0]["forwarded_per_s"]
        m["cg_pkts_per_wakeup"] = c[0]["pkts_per_wakeup"]
    out["median"][name] = m
    out["spread"][name] = sp
gso = [json.loads(l) for l in open(sys.argv[5]) if l.strip()]
out["gso_runs"] = gso
out["gso_ab"] = {}
for name in dict.fromkeys(r["label"] for r in gso):
    for on in (True, False):
        rs = [r for r in gso if r["label"] == name and r["gso"] == on]
        out["gso_ab"]["%s/%s" % (name, "on" if on else "off")] = {
            k: statistics.median([r[k] for r in rs]) for k in
            ("forwarded_per_s", "us_per_pkt", "user_us_per_pkt", "sys_us_per_pkt",
             "msgs_per_datagram", "datagrams_per_sendmmsg")}
twcc = [json.loads(l) for l in open(sys.argv[6]) if l.strip()]
out["twcc_runs"] = twcc
out["twcc_ab"] = {}
for name in dict.fromkeys(r["label"] for r in twcc):
    for on in (True, False):
        rs = [r for r in twcc if r["label"] == name and r.get("twcc_feedback", True) == on]
        out["twcc_ab"]["%s/%s" % (name, "on" if on else "off")] = {
            k: statistics.median([r[k] for r in rs]) for k in
            ("forwarded_per_s", "us_per_pkt", "user_us_per_pkt", "sys_us_per_pkt",
             "twcc_fb_per_s", "allocs_per_pkt", "wakeups_per_s")}
with open(sys.argv[3], "w") as f:
    json.dump(out, f, indent=1)
hdr = "%-11s %9s %7s %6s %6s %8s %7s %6s %6s %7s %6s %6s" % (
    "scenario", "fwd/s", "us/pkt", "user", "sys", "instr", "allocs", "sysc", "msg/d",
    "KiB/vs", "loadC", "gaps")
print(hdr)
for name, m in out["median"].items():
    print("%-11s %9.0f %7.2f %6.2f %6.2f %8s %7.4f %6.4f %6.3f %7.1f %6.2f %6s" % (
        name, m["forwarded_per_s"], m["us_per_pkt"], m["user_us_per_pkt"],
        m["sys_us_per_pkt"], "%.0f" % m["instr_per_pkt"] if "instr_per_pkt" in m else "-",
        m.get("allocs_per_pkt", -1), m.get("syscalls_per_pkt_all", -1),
        m["msgs_per_datagram"], m["rss_per_viewer_stream_kib"], m["load_cpu_frac"],
        m["seq_gaps"]))
    sp = out["spread"][name]
    print("%-11s   us/pkt %.2f..%.2f over %d runs" % ("", sp["us_per_pkt"][0], sp["us_per_pkt"][1],
                                                     len([r for r in nat if r["label"] == name])))
for k, v in out["gso_ab"].items():
    print("GSO %-16s fwd/s %7.0f  us/pkt %.2f (user %.2f, kernel %.2f)  messages/datagram %.3f" % (
        k, v["forwarded_per_s"], v["us_per_pkt"], v["user_us_per_pkt"], v["sys_us_per_pkt"],
        v["msgs_per_datagram"]))
for k, v in out["twcc_ab"].items():
    print("TWCC feedback %-16s fwd/s %7.0f  us/pkt %.2f (user %.2f, kernel %.2f)  feedback/s %6.0f"
          "  allocs/pkt %.4f  wakeups/s %.0f" % (
        k, v["forwarded_per_s"], v["us_per_pkt"], v["user_us_per_pkt"], v["sys_us_per_pkt"],
        v["twcc_fb_per_s"], v["allocs_per_pkt"], v["wakeups_per_s"]))
EOF
