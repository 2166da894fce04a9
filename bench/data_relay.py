"""Data-message relay through the real worker (issue 10, "Speed"), one run.

Starts the real sfu-worker (--loops 1, pinned to one core) and tools/sfu-load (pinned to
the other), puts N synthetic attendees in one meeting, each with one data channel (sfu-load
"data": true: SCTP over DTLS, usrsctp in the client role, as a browser's), then has S of
them send R envelopes a second in all ({"topic":"bench","data":"<send µs> <seq> ...",
"lifetimeMs":0}, B bytes) for a window. The worker relays each one to the N-1 others:
R x (N-1) deliveries a second (100 x 249 = 24,900 for the issue's 250 attendees).

Measured over the window:
  - delivery latency: sfu-load stamps the send on its monotonic clock and every receiver
    (same process) takes receive - send: p50 / p90 / p99 / p99.9 / max. This is
    client -> worker -> client, both SCTP stacks and DTLS included (on loopback);
  - loss: deliveries expected ((sent - refused) x (N - 1)) against received, after a
    drain; refusals by code (Throttled would mean the sender rate passed the meeting's
    100/s bucket), sends the client's own association refused (EAGAIN);
  - worker CPU: /proc/PID/stat utime + stime over the window (all threads), per delivery;
    the loop thread's schedstat ns for reference; sfu-load's CPU likewise.

    python3 bench/data_relay.py --worker build/sfu-worker --attendees 250 --rate 100 --json
Options: --help."""

import argparse
import json
import os
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from load import LoadClient  # noqa: E402
from forward import (callgrind_totals, loop_tid, proc_cpu_ns, schedstat_ns,  # noqa: E402
                     stat_times)


def cpu(pid):
    u, s = stat_times("/proc/%d/stat" % pid)
    return u + s


def runq_wait_ns(pid, tid):
    """ns the thread spent runnable but waiting for a CPU (schedstat field 2)."""
    with open("/proc/%d/task/%d/schedstat" % (pid, tid)) as f:
        return int(f.read().split()[1])


def udp_drops(pid):
    """Datagrams the kernel dropped on pid's UDP sockets (receive buffer full): the
    "drops" column of /proc/net/udp for the socket inodes among pid's fds."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if t.startswith("socket:["):
            inodes.add(t[8:-1])
    tot = 0
    with open("/proc/net/udp") as f:
        next(f)
        for line in f:
            x = line.split()
            if x[9] in inodes:
                tot += int(x[12])
    return tot


def subscribe(w, mid, att, offer):
    return w.ok({"op": "Subscribe", "MeetingId": mid, "AttendeeId": att["AttendeeId"],
                 "JoinToken": att["JoinToken"], "SdpOffer": offer}, timeout=20.0)


def wait_open(lc, n, timeout):
    deadline = time.monotonic() + timeout
    while True:
        st = lc.cmd({"cmd": "data_stats"})
        if st["dc_open"] >= n:
            return st
        if time.monotonic() > deadline:
            raise RuntimeError("only %d of %d data channels open after %.0fs"
                               % (st["dc_open"], n, timeout))
        time.sleep(0.3)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", default="build/sfu-worker")
    ap.add_argument("--sfu-load", default=None)
    ap.add_argument("--attendees", type=int, default=250)
    ap.add_argument("--rate", type=float, default=100, help="messages/s in the meeting")
    ap.add_argument("--senders", type=int, default=10, help="attendees sharing the rate")
    ap.add_argument("--bytes", type=int, default=200, help="envelope bytes per message")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--drain", type=float, default=2)
    ap.add_argument("--nice", type=int, default=0)
    ap.add_argument("--worker-cpu", default="1")
    ap.add_argument("--load-cpu", default="0")
    ap.add_argument("--wrap", default=None,
                    help="e.g. 'valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%%p "
                         "--dump-instr=no --collect-atstart=yes'")
    ap.add_argument("--cg-out", default=None, help="the callgrind out file prefix (with --wrap)")
    ap.add_argument("--label", default="")
    ap.add_argument("--json", action="store_true")
    o = ap.parse_args()

    harness.WORKER = os.path.abspath(o.worker)
    nice = ["nice", "-n", str(o.nice)] if o.nice else []
    prefix = nice + ["taskset", "-c", o.worker_cpu] + (shlex.split(o.wrap) if o.wrap else [])
    w = harness.Worker(loops=1, prefix=prefix, extra=["--log-level", "warn"])
    w.start(ready_timeout=60 if o.wrap else 10)
    lc = None
    res = {"label": o.label, "attendees": o.attendees, "rate": o.rate, "senders": o.senders,
           "bytes": o.bytes, "seconds": o.seconds,
           "load_avg": open("/proc/loadavg").read().split()[:3]}
    try:
        lc = LoadClient(path=o.sfu_load, prefix=nice + ["taskset", "-c", o.load_cpu])
        mid = w.create_meeting()["MeetingId"]
        t0 = time.monotonic()
        for i in range(o.attendees):
            aid = "d%03d" % i
            att = w.create_attendee(mid, "user-" + aid)
            offer = lc.cmd({"cmd": "add", "id": aid, "data": True})["offer"]
            rep = subscribe(w, mid, att, offer)
            lc.answer(aid, rep["SdpAnswer"])
        wait_open(lc, o.attendees, (60 + o.attendees * 0.2) * (10 if o.wrap else 1))
        res["setup_s"] = round(time.monotonic() - t0, 1)
        per = o.rate / o.senders
        # Warm-up at the same rate (caches, usrsctp's congestion windows), then the window.
        if o.warmup > 0:
            lc.cmd({"cmd": "data_send", "senders": o.senders, "rate": per, "bytes": o.bytes,
                    "seconds": o.warmup})
            time.sleep(o.warmup + o.drain)
        # A full bucket for the window (the warm-up spent tokens at the same rate).
        time.sleep(1.0)
        lc.cmd({"cmd": "data_reset"})
        wpid, lpid = w.proc.pid, lc.proc.pid
        tid = loop_tid(wpid)
        c0, l0, lo0 = cpu(wpid), proc_cpu_ns(lpid), schedstat_ns(wpid, tid) if tid else 0
        wd0, ld0 = udp_drops(wpid), udp_drops(lpid)
        rq0 = runq_wait_ns(wpid, tid) if tid else 0
        if o.cg_out:
            subprocess.run(["callgrind_control", "-z", str(wpid)], capture_output=True)
        tw = time.monotonic()
        lc.cmd({"cmd": "data_send", "senders": o.senders, "rate": per, "bytes": o.bytes,
                "seconds": o.seconds})
        time.sleep(o.seconds)
        if o.cg_out:
            subprocess.run(["callgrind_control", "-d", str(wpid)], capture_output=True)
        c1, l1, lo1 = cpu(wpid), proc_cpu_ns(lpid), schedstat_ns(wpid, tid) if tid else 0
        wall = time.monotonic() - tw
        # Runnable but not running: the machine's other work delaying the loop.
        res["loop_runq_wait_pct"] = round(100 * ((runq_wait_ns(wpid, tid) if tid else 0) - rq0)
                                          / 1e9 / wall, 1)
        time.sleep(o.drain)
        res["udp_drops_worker"] = udp_drops(wpid) - wd0
        res["udp_drops_load"] = udp_drops(lpid) - ld0
        st = lc.cmd({"cmd": "data_stats"}, timeout=30.0)
        refused = sum(st["refused"].values())
        expected = (st["sent"] - refused) * (o.attendees - 1)
        res.update({
            "sent": st["sent"], "blocked_at_sender": st["blocked"], "refused": st["refused"],
            "received": st["received"], "expected": expected,
            "lost": expected - st["received"], "other": st["other"],
            "deliveries_per_s": round(st["received"] / o.seconds),
            "latency_us": st["latency_us"], "up_leg_us": st.get("up_leg_us"),
            "at_socket_us": st.get("at_socket_us"),
            "worker_cpu_s": round(c1 - c0, 3),
            "worker_cpu_pct": round(100 * (c1 - c0) / wall, 1),
            "worker_cpu_us_per_delivery": round(1e6 * (c1 - c0) / max(st["received"], 1), 2),
            "loop_cpu_us_per_delivery": round((lo1 - lo0) / 1e3 / max(st["received"], 1), 2),
            "load_cpu_pct": round(100 * (l1 - l0) / 1e9 / wall, 1),
            "dc_open": st["dc_open"],
        })
        if o.cg_out:
            time.sleep(1.0)  # the dump is written by the worker, asynchronously
            tot = callgrind_totals(o.cg_out)
            if not tot:  # --callgrind-out-file=PREFIX.%p: PREFIX.<pid>.1
                tot = callgrind_totals("%s.%d" % (o.cg_out, wpid))
            res["callgrind_ir"] = tot
            # Per delivery the worker made in the window: sent x (N - 1), refusals aside.
            res["ir_per_delivery"] = round(sum(tot.values()) / max(expected, 1))
        try:
            res["worker_stats"] = w.ok({"op": "GetMeeting", "MeetingId": mid}).get("Meeting", {}).get("Data")
        except Exception:  # the meeting figures are the relay's: optional here
            pass
    finally:
        if lc:
            lc.close() if hasattr(lc, "close") else lc.proc.kill()
        w.stop()
        w.cleanup()
    if o.json:
        print(json.dumps(res))
    else:
        lat = res.get("latency_us", {})
        ats = res.get("at_socket_us") or {}
        print("%d attendees, %.0f msg/s: %d deliveries/s, latency p50 %.2f ms p99 %.2f ms "
              "max %.2f ms (at the receiver's socket: p50 %.2f ms p99 %.2f ms), lost %d, refused %s, worker CPU %.1f %% = %.2f us/delivery, "
              "UDP drops worker %d / load %d, loop waited for a CPU %.1f %% of the time"
              % (o.attendees, o.rate, res["deliveries_per_s"], lat.get("p50", 0) / 1e3,
                 lat.get("p99", 0) / 1e3, lat.get("max", 0) / 1e3, ats.get("p50", 0) / 1e3,
                 ats.get("p99", 0) / 1e3, res["lost"],
                 res["refused"], res["worker_cpu_pct"], res["worker_cpu_us_per_delivery"],
                 res["udp_drops_worker"], res["udp_drops_load"], res["loop_runq_wait_pct"]))


if __name__ == "__main__":
    main()
