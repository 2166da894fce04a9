#!/usr/bin/python3
"""Plot bench/results/pace_ab.json (bench/run_pace_ab.sh) into docs/img/bench_pace_ab.png.

Left: the loop thread's CPU per forwarded packet (user + kernel, median of the native
runs, whiskers min..max) per scenario (2M: the issue's 96 viewers at 2 Mbit/s; A-top: 100
viewers at ~1.2 Mbit/s), with and without the viewers' transport-cc feedback (estimation
+ pacing on / off), for this build and, if measured, the base build. The label over each
"on" bar is the median over pairs of on / off, each pair's two runs side by side on the
machine (older files, runs one after the other: median vs median). Right: instructions
per forwarded packet, callgrind, deterministic: the router alone (bench_router_pace) and,
if measured, the whole worker loop. Pairs whose viewers saw sequence gaps (sfu-load fell
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
pairs = doc.get("pairs", {})
groups = []
for sc in dict.fromkeys(l.split("/")[0] for l in med):
    for pre, name in (("base-", "before"), ("", "this build")):
        on, off = med.get(sc + "/" + pre + "on"), med.get(sc + "/" + pre + "off")
        if on and off and (pairs.get(sc + "/" + pre) or (on["seq_gaps"] == 0 and off["seq_gaps"] == 0)):
            groups.append((sc, pre, name))
x = 0.0
ticks, labels = [], []
for sc, pre, name in groups:
    off, on = med[sc + "/" + pre + "off"], med[sc + "/" + pre + "on"]
    ps = sorted(p["ratio"] for p in pairs.get(sc + "/" + pre, []))
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
            if ps:
                txt += "\n%+.0f %%\n(pairs %+.0f..%+.0f)" % (
                    100 * (ps[len(ps) // 2] if len(ps) % 2 else (ps[len(ps) // 2 - 1] + ps[len(ps) // 2]) / 2) - 100,
                    100 * ps[0] - 100, 100 * ps[-1] - 100)
            else:
                txt += "\n%+.0f %%" % (100 * (on["us_per_pkt"] / off["us_per_pkt"] - 1))
        ax1.text(xi, sp[1], txt, ha="center", va="bottom", fontsize=8)
    ticks.append(x + 0.21)
    labels.append("%s\n%s (n=%d)" % (sc.replace("-x4", " x4"), name, on["n"]))
    x += 1.2
ax1.margins(y=0.22)
ax1.set_xticks(ticks)
ax1.set_xticklabels(labels, fontsize=8)
ax1.set_ylabel("loop thread CPU us per forwarded packet")
ax1.set_title("Estimation + pacing on (feedback) vs off (plain forwarding); target <= +10 %")
ax1.legend(fontsize=8, loc="lower right")

rt = {r["feedback"]: r["instr"] / r["packets"] for r in doc.get("router", [])}
whole = {r["label"].split("/")[-1]: r["instr_per_pkt"] for r in doc.get("whole_callgrind", [])}
bars = [("router\noff", rt.get("off"), "#55a868"), ("router\non", rt.get("on"), "#4c72b0"),
        ("whole loop\noff", whole.get("off"), "#55a868"), ("whole loop\non", whole.get("on"), "#4c72b0")]
bars = [b for b in bars if b[1]]
if bars:
    ax2.bar(range(len(bars)), [b[1] for b in bars], 0.6, color=[b[2] for b in bars])
    for i, b in enumerate(bars):
        txt = "%.0f" % b[1]
        if b[0].endswith("on"):
            ref = bars[i - 1][1]
            txt += "\n%+.1f %%" % (100 * (b[1] / ref - 1))
        ax2.text(i, b[1], txt, ha="center", va="bottom", fontsize=8)
    ax2.set_xticks(range(len(bars)))
    ax2.set_xticklabels([b[0] for b in bars], fontsize=8)
    ax2.set_ylabel("instructions per forwarded packet (callgrind)")
    ax2.set_title("router alone (100 viewers, no SRTP / kernel);\nwhole loop (viewers at 2 Mbit/s)",
                  fontsize=9)
fig.suptitle("sfu-worker: issue 8 estimation + pacing on top of forwarding — %s, load %s"
             % (doc.get("cpu", ""), doc.get("load_at_start", "?")), fontsize=10)
fig.tight_layout()
os.makedirs(os.path.dirname(dst), exist_ok=True)
fig.savefig(dst, dpi=110)
print("wrote", dst)
