#!/usr/bin/python3
"""Plot bench/results/forward.json (from bench/run_forward.sh) into
docs/img/bench_forward.png.

Left: the loop thread's CPU per forwarded packet (user + kernel, median of the native
runs, whiskers min..max) per scenario, with the 4 us target. Middle: forwarded packets
per second measured, and what one core would forward at that cost (1 / CPU per packet),
with the 250,000/s target. Right: user-space instructions per forwarded packet
(callgrind, reduced rate)."""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "bench/results/forward.json")
dst = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "docs/img/bench_forward.png")
doc = json.load(open(src))
med, spread = doc["median"], doc["spread"]
names = {"A-top": "A: 1 pub x 3\n-> 100 (top)", "A-spread": "A: 1 pub x 3\n-> 100 (spread)",
         "A-top-x4": "A x 4 meetings\n-> 400 (top)", "B": "B: 25 pubs\n-> 25 x 25",
         "B-3layers": "B: 25 pubs x 3\n-> 25 x 25 (top)"}
scen = [s for s in names if s in med]
x = list(range(len(scen)))
labels = [names[s] for s in scen]

fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(17, 5.2))
user = [med[s]["user_us_per_pkt"] for s in scen]
sys_ = [med[s]["sys_us_per_pkt"] for s in scen]
tot = [med[s]["us_per_pkt"] for s in scen]
lo = [t - spread[s]["us_per_pkt"][0] for s, t in zip(scen, tot)]
hi = [spread[s]["us_per_pkt"][1] - t for s, t in zip(scen, tot)]
ax1.bar(x, user, 0.6, label="user", color="#4c72b0")
ax1.bar(x, sys_, 0.6, bottom=user, label="kernel (sendmmsg, recvmmsg, epoll)", color="#dd8452")
ax1.errorbar(x, tot, yerr=[lo, hi], fmt="none", ecolor="black", capsize=4, linewidth=1)
for xi, v in zip(x, tot):
    ax1.text(xi + 0.32, v, f"{v:.2f}", va="bottom", fontsize=8)
ax1.axhline(4.0, color="#c44e52", linestyle="--", linewidth=1.2, label="target 4 us")
ax1.set_xticks(x)
ax1.set_xticklabels(labels, fontsize=8)
ax1.set_ylabel("loop thread CPU us per forwarded packet")
ax1.set_title("Worker CPU per forwarded packet (AEAD_AES_128_GCM)")
ax1.legend(fontsize=8)

meas = [med[s]["forwarded_per_s"] for s in scen]
cap = [1e6 / med[s]["us_per_pkt"] for s in scen]
w = 0.38
ax2.bar([i - w / 2 for i in x], meas, w, label="forwarded (measured)", color="#55a868")
ax2.bar([i + w / 2 for i in x], cap, w, label="one core at this cost (1/CPU per packet)",
        color="#8172b2")
for i, (m, c) in enumerate(zip(meas, cap)):
    ax2.text(i - w / 2, m, f"{m / 1000:.0f}k", ha="center", va="bottom", fontsize=8)
    ax2.text(i + w / 2, c, f"{c / 1000:.0f}k", ha="center", va="bottom", fontsize=8)
ax2.axhline(250000, color="#c44e52", linestyle="--", linewidth=1.2, label="target 250k/s")
ax2.set_xticks(x)
ax2.set_xticklabels(labels, fontsize=8)
ax2.set_ylabel("forwarded packets per second, one loop")
ax2.set_title("Packet rate")
ax2.legend(fontsize=8)

ins = [med[s].get("instr_per_pkt") or 0 for s in scen]
ax3.bar(x, ins, 0.6, color="#64b5cd")
for xi, v in zip(x, ins):
    ax3.text(xi, v, f"{v:,.0f}", ha="center", va="bottom", fontsize=8)
ax3.set_xticks(x)
ax3.set_xticklabels(labels, fontsize=8)
ax3.set_ylabel("user-space instructions per forwarded packet")
ax3.set_title("Instructions (callgrind, loop thread, reduced rate)")

fig.suptitle(f"sfu-worker video forwarding through the loop and loopback sockets — "
             f"{doc.get('cpu', '')}, load {doc.get('load_at_start', '?')}", fontsize=10)
fig.tight_layout()
os.makedirs(os.path.dirname(dst), exist_ok=True)
fig.savefig(dst, dpi=110)
print("wrote", dst)
