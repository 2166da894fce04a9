#!/usr/bin/python3
"""Plot bench/results/pace_ab.json (bench/run_pace_ab.sh) into docs/img/bench_pace_ab.png.

Left: the loop thread's CPU per forwarded packet (user + kernel, median of the native
runs, whiskers min..max) in A-top and A-top x4, with and without the viewers'
transport-cc feedback (estimation + pacing on / off), for this build and, if measured, the
base build; the label over each "on" bar is its cost on top of the "off" bar beside it.
Right: the router's own instructions per forwarded packet (bench_router_pace, callgrind,
deterministic), feedback on / off. Pairs whose viewers saw sequence gaps (sfu-load fell
behind: not a measurement of the worker) are left out."""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "bench/results/pace_ab.json")
dst = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "docs/img/bench_pace_ab.png")
doc = json.load(open(src))
med, spread = doc["median"], doc["spread"]

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [3, 1]})
groups = []
for sc in ("A-top", "A-top-x4"):
    for pre, name in (("base-", "before"), ("", "this build")):
        on, off = med.get(sc + "/" + pre + "on"), med.get(sc + "/" + pre + "off")
        # a pair where sfu-load fell behind (sequence gaps at the viewers) is not a
        # measurement of the worker: left out
        if on and off and on["seq_gaps"] == 0 and off["seq_gaps"] == 0:
            groups.append((sc, pre, name))
x = 0.0
ticks, labels = [], []
for sc, pre, name in groups:
    off, on = med[sc + "/" + pre + "off"], med[sc + "/" + pre + "on"]
    for i, (m, key, col) in enumerate(((off, "off", "#55a868"), (on, "on", "#4c72b0"))):
        sp = spread[sc + "/" + pre + key]["us_per_pkt"]
        xi = x + i * 0.42
        ax1.bar(xi, m["user_us_per_pkt"], 0.4, color=col, alpha=0.95,
                label=("feedback %s: user" % key) if not ticks else None)
        ax1.bar(xi, m["sys_us_per_pkt"], 0.4, bottom=m["user_us_per_pkt"], color=col, alpha=0.45,
                label=("feedback %s: kernel" % key) if not ticks else None)
        ax1.errorbar(xi, m["us_per_pkt"], yerr=[[m["us_per_pkt"] - sp[0]], [sp[1] - m["us_per_pkt"]]],
                     fmt="none", ecolor="black", capsize=3, linewidth=1)
        txt = "%.2f" % m["us_per_pkt"]
        if key == "on":
            txt += "\n%+.0f %%" % (100 * (on["us_per_pkt"] / off["us_per_pkt"] - 1))
        ax1.text(xi, sp[1], txt, ha="center", va="bottom", fontsize=8)
    ticks.append(x + 0.21)
    labels.append("%s\n%s (n=%d)" % (sc.replace("-x4", " x4"), name, on["n"]))
    x += 1.2
ax1.set_xticks(ticks)
ax1.set_xticklabels(labels, fontsize=8)
ax1.set_ylabel("loop thread CPU us per forwarded packet")
ax1.set_title("Estimation + pacing on (feedback) vs off (plain forwarding); target <= +10 %")
ax1.legend(fontsize=8, loc="lower right")

rt = {r["feedback"]: r["instr"] / r["packets"] for r in doc.get("router", [])}
before = {r["feedback"]: r["instr"] / r["packets"] for r in doc.get("router_before", [])}
bars = [("feedback off", rt.get("off"), "#55a868")]
if "on" in before:
    bars.append(("on, before", before["on"], "#8c8c8c"))
bars.append(("feedback on", rt.get("on"), "#4c72b0"))
bars = [b for b in bars if b[1]]
if bars:
    ax2.bar(range(len(bars)), [b[1] for b in bars], 0.6, color=[b[2] for b in bars])
    for i, b in enumerate(bars):
        ax2.text(i, b[1], "%.0f" % b[1], ha="center", va="bottom", fontsize=9)
    ax2.set_xticks(range(len(bars)))
    ax2.set_xticklabels([b[0] for b in bars], fontsize=8)
    ax2.set_ylabel("router instructions per forwarded packet")
    ax2.set_title("bench_router_pace (callgrind,\n100 viewers, no SRTP / kernel)", fontsize=10)
fig.suptitle("sfu-worker: issue 8 estimation + pacing on top of forwarding — %s, load %s"
             % (doc.get("cpu", ""), doc.get("load_at_start", "?")), fontsize=10)
fig.tight_layout()
os.makedirs(os.path.dirname(dst), exist_ok=True)
fig.savefig(dst, dpi=110)
print("wrote", dst)
