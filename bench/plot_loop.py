#!/usr/bin/python3
"""Plot bench/results/loop.json (from bench/run_loop.sh) into docs/img/bench_loop.png.

Left: loop wake-ups per second for each scenario, one bar per build (before / after).
Middle: wake-ups per second and worker CPU per received datagram against the packet rate
(one client, audio-sized SRTP with transport-cc, an idle data channel). Right: worker
instructions (callgrind) per received datagram, per scenario and build."""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "bench/results/loop.json")
dst = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "docs/img/bench_loop.png")
doc = json.load(open(src))
res = doc["results"]
labels = []
for r in res:
    if r["label"] not in labels:
        labels.append(r["label"])
colors = {labels[i]: c for i, c in enumerate(["#c44e52", "#4c72b0", "#55a868", "#8172b2"][:len(labels)])}

scenarios = ["idle-dc", "aiortc-like", "audio-only", "audio-twcc-dc", "audio-twcc-dc-chat"]
names = {"idle-dc": "idle data\nchannel", "aiortc-like": "audio 50/s\n+ data ch.",
         "audio-only": "audio 50/s", "audio-twcc-dc": "audio 50/s\n+ twcc\n+ data ch.",
         "audio-twcc-dc-chat": "same\n+ 1 chat\nmessage/s"}
sweep = ["audio-twcc-dc", "rate-100", "rate-200", "rate-500", "rate-1000"]


def get(label, scen):
    for r in res:
        if r["label"] == label and r["scenario"] == scen:
            return r
    return None


fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(17, 5.2))
w = 0.8 / max(1, len(labels))
x = list(range(len(scenarios)))
for k, lab in enumerate(labels):
    vals = [(get(lab, s) or {}).get("wakeups_per_s", 0) for s in scenarios]
    xs = [i + (k - (len(labels) - 1) / 2) * w for i in x]
    ax1.bar(xs, vals, w, label=lab, color=colors[lab])
    for xi, v in zip(xs, vals):
        ax1.text(xi, v + 2, f"{v:.0f}", ha="center", va="bottom", fontsize=8)
ax1.set_xticks(x)
ax1.set_xticklabels([names[s] for s in scenarios], fontsize=8)
ax1.set_ylabel("media loop wake-ups per second")
ax1.set_title("Wake-ups, one client (50 packets/s = 50 wake-ups/s at best)")
ax1.legend(fontsize=8)

ax2b = ax2.twinx()
for lab in labels:
    rows = [get(lab, s) for s in sweep]
    rows = [r for r in rows if r]
    rates = [r["datagrams_in_per_s"] for r in rows]
    ax2.plot(rates, [r["wakeups_per_s"] for r in rows], marker="o", color=colors[lab],
             label=f"{lab}: wake-ups/s")
    ax2b.plot(rates, [r["us_per_datagram"] for r in rows], marker="s", linestyle="--",
              color=colors[lab], label=f"{lab}: CPU us/datagram")
ax2.plot([0, 1000], [0, 1000], color="#999999", linewidth=0.8, linestyle=":",
         label="one wake-up per datagram")
ax2.set_xlabel("datagrams received per second (audio-sized SRTP, twcc, idle data channel)")
ax2.set_ylabel("wake-ups per second (solid)")
ax2b.set_ylabel("worker CPU us per received datagram (dashed)")
ax2.set_title("Against the packet rate")
h1, l1 = ax2.get_legend_handles_labels()
h2, l2 = ax2b.get_legend_handles_labels()
ax2.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper left")
ax2.grid(True, alpha=0.3)

for k, lab in enumerate(labels):
    vals = [(get(lab, s) or {}).get("instr_per_datagram") or 0 for s in scenarios[1:]]
    xs = [i + (k - (len(labels) - 1) / 2) * w for i in range(len(vals))]
    ax3.bar(xs, vals, w, label=lab, color=colors[lab])
    for xi, v in zip(xs, vals):
        ax3.text(xi, v * 1.02, f"{v:.0f}", ha="center", va="bottom", fontsize=8)
ax3.set_xticks(list(range(len(scenarios) - 1)))
ax3.set_xticklabels([names[s] for s in scenarios[1:]], fontsize=8)
ax3.set_ylabel("worker instructions per received datagram (callgrind)")
ax3.set_title("Instructions per datagram (user space, all threads)")
ax3.legend(fontsize=8)

fig.suptitle(f"sfu-worker media loop over loopback — {doc.get('cpu', '')}, {doc.get('cores', '?')} cores, "
             f"load {doc.get('loadavg_at_start', '?')}", fontsize=10)
fig.tight_layout()
os.makedirs(os.path.dirname(dst), exist_ok=True)
fig.savefig(dst, dpi=110)
print("wrote", dst)
