#!/usr/bin/python3
"""Plot bench/results/data_relay.json (from bench/run_data.sh) into
docs/img/bench_data_relay.png.

Left: delivery latency p50 and p99 (sender -> worker -> receiver) per meeting size at the
run's message rate, median of the runs with whiskers min..max, log scale, with the 5 ms p99
target. Middle: the worker's CPU per delivery (utime + stime over the window). Right: what
disturbed the runs: the share of the window the worker's loop was runnable but waiting for
a CPU (other work on the machine) and UDP datagrams dropped on the worker's socket."""
import json
import os
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "bench/results/data_relay.json")
dst = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "docs/img/bench_data_relay.png")
doc = json.load(open(src))
by = {}
for r in doc["runs"]:
    by.setdefault(r["attendees"], []).append(r)
sizes = sorted(by)
x = list(range(len(sizes)))
rate = doc["runs"][0]["rate"] if doc["runs"] else 0


def col(n, f):
    v = [f(r) for r in by[n]]
    return statistics.median(v), min(v), max(v)


fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(16, 5))
for key, color, dx in (("p50", "#4c72b0", -0.12), ("p99", "#c44e52", 0.12)):
    m = [col(n, lambda r: r["latency_us"].get(key, 0) / 1e3) for n in sizes]
    ax1.errorbar([xi + dx for xi in x], [c[0] for c in m],
                 yerr=[[c[0] - c[1] for c in m], [c[2] - c[0] for c in m]],
                 fmt="o", color=color, capsize=4, label=key)
    for xi, c in zip(x, m):
        ax1.annotate("%.1f" % c[0], (xi + dx, c[0]), textcoords="offset points",
                     xytext=(6, 0), fontsize=8, color=color)
ax1.axhline(5, color="black", linestyle="--", linewidth=1, label="target p99 5 ms")
ax1.set_yscale("log")
ax1.set_xticks(x)
ax1.set_xticklabels(["%d attendees\n%d deliveries/s" % (n, rate * (n - 1)) for n in sizes])
ax1.set_ylabel("delivery latency (ms)")
ax1.set_title("Latency, %d messages/s in the meeting" % rate)
ax1.legend()

m = [col(n, lambda r: r["worker_cpu_us_per_delivery"]) for n in sizes]
ax2.bar(x, [c[0] for c in m], 0.6, color="#55a868")
ax2.errorbar(x, [c[0] for c in m], yerr=[[c[0] - c[1] for c in m], [c[2] - c[0] for c in m]],
             fmt="none", ecolor="black", capsize=4)
for xi, c in zip(x, m):
    ax2.annotate("%.1f" % c[0], (xi, c[0]), textcoords="offset points", xytext=(0, 6),
                 ha="center", fontsize=9)
ax2.set_xticks(x)
ax2.set_xticklabels(["%d" % n for n in sizes])
ax2.set_xlabel("attendees")
ax2.set_ylabel("worker CPU per delivery (us, user + kernel)")
ax2.set_title("Worker CPU per delivery")

w = [col(n, lambda r: r["loop_runq_wait_pct"]) for n in sizes]
d = [col(n, lambda r: r["udp_drops_worker"]) for n in sizes]
ax3.bar([xi - 0.2 for xi in x], [c[0] for c in w], 0.4, color="#8172b2",
        label="loop waiting for a CPU (% of window)")
ax3.set_ylabel("% of the window")
ax3.set_ylim(0, 100)
ax3b = ax3.twinx()
ax3b.bar([xi + 0.2 for xi in x], [c[0] for c in d], 0.4, color="#937860",
         label="UDP drops at the worker's socket")
ax3b.set_ylabel("datagrams dropped in the window")
ax3.set_xticks(x)
ax3.set_xticklabels(["%d" % n for n in sizes])
ax3.set_xlabel("attendees")
ax3.set_title("Disturbance (machine load %s at start)" % doc.get("load_avg_at_start", "?"))
h1, l1 = ax3.get_legend_handles_labels()
h2, l2 = ax3b.get_legend_handles_labels()
ax3.legend(h1 + h2, l1 + l2, fontsize=8, loc="upper left")
fig.suptitle("Data-message relay through the real worker (bench/run_data.sh, %s)" % doc.get("commit", ""))
fig.tight_layout()
fig.savefig(dst, dpi=110)
print("wrote", dst)
