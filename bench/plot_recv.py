#!/usr/bin/python3
"""Plot bench/results/recv.json (from bench/run_recv.sh) into docs/img/bench_recv.png.

Left: receive-path ns/packet at 1,000 transports, stacked by stage, per SRTP profile and
implementation (instructions/packet from callgrind written on the bars). Right: ns/packet
against the number of transports in the process (log-log)."""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "bench/results/recv.json")
dst = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "docs/img/bench_recv.png")
doc = json.load(open(src))
res = doc["results"]

short = {"AES_CM_128_HMAC_SHA1_80": "AES-CM/HMAC-80", "AEAD_AES_128_GCM": "AES-GCM"}
impl_short = {"libsrtp2 (sfu_srtp)": "libsrtp2", "openssl (sfu_srtp)": "OpenSSL (ours)"}

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5))
labels = [f"{short.get(r['profile'], r['profile'])}\n{impl_short.get(r['impl'], r['impl'])}"
          for r in res]
x = list(range(len(res)))
w = 0.27
for k, (key, name, color) in enumerate((("ns_demux_lookup", "classify + 5-tuple lookup", "#4c72b0"),
                                        ("ns_unprotect", "SRTP unprotect", "#dd8452"),
                                        ("ns_parse", "RTP parse + extensions", "#55a868"))):
    ax1.bar([i + (k - 1) * w for i in x], [r[key] for r in res], w, label=name, color=color)
top = max(r["ns_unprotect"] for r in res)
for i, r in enumerate(res):
    ax1.text(i, r["ns_unprotect"] * 1.3, f"total {r['ns_per_packet']:.0f} ns\n"
             f"{r['ir_per_packet']:.0f} instr\n{r['allocs_per_packet']:.1f} allocs",
             ha="center", va="bottom", fontsize=8)
ax1.set_ylim(10, top * 30)
ax1.set_xticks(list(x))
ax1.set_xticklabels(labels, fontsize=8)
ax1.set_yscale("log")
ax1.set_ylabel("ns per packet, per stage (log)")
ax1.set_title(f"Receive path, {res[0]['transports']} transports, {res[0]['rtp_len']}-byte RTP")
ax1.legend(fontsize=8, loc="upper right", ncol=1)

for impl in sorted({r["impl"] for r in doc.get("scaling", [])}):
    for prof in sorted({r["profile"] for r in doc["scaling"]}):
        rows = [r for r in doc["scaling"] if r["impl"] == impl and r["profile"] == prof]
        ax2.plot([r["transports"] for r in rows], [r["ns_per_packet"] for r in rows],
                 marker="o", label=f"{short.get(prof, prof)}, {impl_short.get(impl, impl)}",
                 linestyle="-" if "libsrtp" in impl else "--")
ax2.set_xscale("log")
ax2.set_yscale("log")
ax2.set_xlabel("transports (SRTP sessions) in the process")
ax2.set_ylabel("ns per packet")
ax2.set_title("Cost per packet against sessions")
ax2.grid(True, which="both", alpha=0.3)
ax2.legend(fontsize=8)
fig.suptitle(f"sfu-worker receive path — {doc.get('cpu', '')}, {doc.get('cores', '?')} cores, "
             f"load {doc.get('loadavg_at_start', '?')}", fontsize=9)
fig.tight_layout()
os.makedirs(os.path.dirname(dst), exist_ok=True)
fig.savefig(dst, dpi=110)
print("wrote", dst)
