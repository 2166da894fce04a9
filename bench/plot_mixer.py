#!/usr/bin/python3
"""Plot bench/results/mixer.json (from bench/run_mixer.sh) into docs/img/bench_mixer.png.

Left: CPU per 20 ms tick (native, thread CPU time) of the encode-sharing mixer and of the
naive one-encode-per-listener mixer, for 10/50/250 attendees x 1/3/5 talkers (log scale),
with the 1 ms target. Right: instructions per tick (callgrind), same layout."""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "bench/results/mixer.json")
dst = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "docs/img/bench_mixer.png")
doc = json.load(open(src))
res = doc["results"]
labels = [f"{r['attendees']} att.\n{r['talkers']} talk." for r in res]
x = list(range(len(res)))
w = 0.4

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(16, 5.4))
for ax, key, nkey, scale, unit, title in (
        (ax1, "ns", "naive_ns", 1e3, "µs of CPU per 20 ms tick",
         "CPU per tick (native; machine shared, ±20 %)"),
        (ax2, "cg_instr", "cg_naive_instr", 1e6, "million instructions per tick",
         "Instructions per tick (callgrind)")):
    a = [r.get(key, 0) / scale for r in res]
    b = [r.get(nkey, 0) / scale for r in res]
    ax.bar([i - w / 2 for i in x], a, w, label="shared encodes (talkers + 1)", color="#4c72b0")
    ax.bar([i + w / 2 for i in x], b, w, label="naive: one encode per listener", color="#c44e52")
    for i, (va, vb) in enumerate(zip(a, b)):
        ax.text(i - w / 2, va * 1.08, f"{va:.0f}" if va >= 10 else f"{va:.2f}", ha="center",
                va="bottom", fontsize=7, rotation=90)
        ax.text(i + w / 2, vb * 1.08, f"{vb:.0f}" if vb >= 10 else f"{vb:.1f}", ha="center",
                va="bottom", fontsize=7, rotation=90)
    ax.set_yscale("log")
    ax.set_xticks(x)
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylabel(unit)
    ax.set_title(title)
    ax.set_ylim(top=max(b + a) * 8)
ax1.axhline(1000, color="#55a868", ls="--", lw=1)
ax1.text(-0.4, 1100, "target: 1 ms per tick (250 att., 3 talkers)", ha="left",
         fontsize=8, color="#55a868")
ax1.legend(fontsize=8, loc="upper left")
fig.suptitle(f"Audio mixer, mono 32 kbps, libopus complexity {doc.get('complexity')}, synthetic "
             "voice-like sources (no decode; one 20 ms decode costs "
             f"{doc.get('decode_ns', 0) / 1e3:.0f} µs per talker on top)", fontsize=10)
fig.tight_layout()
fig.savefig(dst, dpi=110)
print("wrote", dst)
