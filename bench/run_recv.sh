#!/bin/sh
# Receive-path benchmark (issue 3 "Speed"): ns/packet natively and instructions/packet
# under callgrind, for both SRTP profiles. Prints a summary and writes
# bench/results/recv.json (then: python3 bench/plot_recv.py -> docs/img/bench_recv.png).
#
#   bench/run_recv.sh                      (./build; BENCH_BUILD_DIR=... to change)
#   BENCH_PACKETS=1000000 BENCH_CG_PACKETS=32768 bench/run_recv.sh
#
# Numbers, never pass/fail. Use an optimised build (the default debugoptimized is -O2).
set -eu
cd "$(dirname "$0")/.."
BUILD=${BENCH_BUILD_DIR:-build}
PACKETS=${BENCH_PACKETS:-400000}
CG_PACKETS=${BENCH_CG_PACKETS:-16384}
SWEEP_PACKETS=${BENCH_SWEEP_PACKETS:-50000}
OUT=bench/results/recv.json
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
if [ -n "${BENCH_EXE:-}" ]; then
  exe=$BENCH_EXE   # a binary built elsewhere
else
  exe="$BUILD/bench/bench_recv"
  # bench/meson.build builds bench_recv only once src/proto/srtp.c is in the build.
  [ -x "$exe" ] || meson setup --reconfigure "$BUILD" >/dev/null
  ninja -C "$BUILD" bench/bench_recv >/dev/null
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

echo "== native: $PACKETS packets per run, 1,000 transports, 1,200-byte RTP, batches of 64"
"$exe" "$PACKETS" --json >"$tmp/native.json" 2>/dev/null
echo "== scaling: ns/packet against the number of transports (sessions) in the process"
: >"$tmp/scaling.jsonl"
for nt in 1 10 100 1000 3000; do
  "$exe" "$SWEEP_PACKETS" --transports=$nt --json 2>/dev/null |
    python3 -c 'import json,sys; [print(json.dumps(r)) for r in json.load(sys.stdin)]' \
    >>"$tmp/scaling.jsonl"
  echo "   $nt transports done"
done

echo "== callgrind: $CG_PACKETS packets per run, only bench_stage_* counted"
for crypto in libsrtp openssl; do
  for prof in cm gcm; do
    # callgrind counts only inside bench_stage_* (the timed receive stages)
    run="$crypto.$prof"
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$run" \
      --toggle-collect='bench_stage_*' "$exe" "$CG_PACKETS" --profile=$prof \
      --crypto=$crypto --json >"$tmp/cg.$run.json" 2>"$tmp/cg.$run.err" || {
      tail "$tmp/cg.$run.err"; exit 1; }
    callgrind_annotate --inclusive=yes --threshold=100 "$tmp/cg.$run" >"$tmp/cg.$run.txt"
  done
done

python3 - "$tmp" "$OUT" "$CG_PACKETS" "$LOAD" <<'PY'
import json, re, sys, os, platform, subprocess
tmp, out, cg_packets, load = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
native = json.load(open(os.path.join(tmp, "native.json")))
def inclusive(txt, fn):
    for line in txt.splitlines():
        m = re.match(r"\s*([\d,]+)\s.*[\s:]" + re.escape(fn) + r"\b", line)
        if m:
            return int(m.group(1).replace(",", ""))
    return 0
runs = ["libsrtp.cm", "libsrtp.gcm", "openssl.cm", "openssl.gcm"]
for r, run in zip(native, runs):
    txt = open(os.path.join(tmp, f"cg.{run}.txt")).read()
    cg = json.load(open(os.path.join(tmp, f"cg.{run}.json")))[0]
    n = cg["packets"]
    st = {k: inclusive(txt, "bench_stage_" + k) for k in ("demux_lookup", "unprotect", "parse")}
    r["ir_demux_lookup"] = round(st["demux_lookup"] / n, 1)
    r["ir_unprotect"] = round(st["unprotect"] / n, 1)
    r["ir_parse"] = round(st["parse"] / n, 1)
    r["ir_per_packet"] = round(sum(st.values()) / n, 1)
    r["callgrind_packets"] = n
    # any allocator function reached from inside the timed stages? Only the function
    # summary lines ("N (x%)  file:malloc [lib]"), not annotated source lines that
    # merely contain the word.
    r["callgrind_alloc_calls_in_stages"] = sum(
        1 for l in txt.splitlines()
        if re.search(r":(malloc|calloc|realloc|__libc_malloc|__libc_calloc)(\s+\[|\s*$)", l)
        and re.match(r"\s*[1-9]", l))
cpu = ""
try:
    cpu = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")][0]
except Exception:
    pass
doc = {"bench": "recv", "cpu": cpu, "cores": os.cpu_count(),
       "loadavg_at_start": load,
       "compiler_build": "meson buildtype=debugoptimized (-O2 -g)",
       "libsrtp": subprocess.run(["pkg-config", "--modversion", "libsrtp2"],
                                 capture_output=True, text=True).stdout.strip(),
       "openssl": subprocess.run(["openssl", "version"], capture_output=True,
                                 text=True).stdout.strip(),
       "results": native,
       "scaling": [json.loads(l) for l in open(os.path.join(tmp, "scaling.jsonl"))]}
os.makedirs(os.path.dirname(out), exist_ok=True)
json.dump(doc, open(out, "w"), indent=2)
print(f"{'profile':24} {'srtp impl':22} {'ns/pkt':>8} {'demux+lookup':>13} {'unprotect':>10} {'parse':>7}"
      f" {'Ir/pkt':>8} {'Ir unprot':>10} {'Ir parse':>9} {'allocs/pkt':>10}")
for r in native:
    print(f"{r['profile']:24} {r['impl']:22} {r['ns_per_packet']:8.1f} {r['ns_demux_lookup']:13.1f}"
          f" {r['ns_unprotect']:10.1f} {r['ns_parse']:7.1f} {r['ir_per_packet']:8.0f}"
          f" {r['ir_unprotect']:10.0f} {r['ir_parse']:9.0f} {r['allocs_per_packet']:10.4f}")
print("callgrind: allocator calls inside the timed stages:",
      sum(r["callgrind_alloc_calls_in_stages"] for r in native))
print("scaling (ns/packet):")
sc = doc["scaling"]
for impl in sorted({r["impl"] for r in sc}):
    for prof in sorted({r["profile"] for r in sc}):
        row = [r for r in sc if r["impl"] == impl and r["profile"] == prof]
        print(f"  {prof:24} {impl:22} " +
              "  ".join(f"{r['transports']}:{r['ns_per_packet']:.0f}" for r in row))
print("wrote", out)
PY
