"""Video forwarding through the real loop and sockets (issue 7), one run of one scenario.

Starts the real sfu-worker (--loops 1, pinned to one core), tools/sfu-load (synthetic
publishers and viewers, pinned to the other core), creates the meeting and attendees
through the control API, waits for steady state, then measures a window:

  - forwarded packets (GetWorkerStats Loops[0].Video.Forwarded) and the UDP socket
    counters (sendmmsg batches, GSO batches/segments), what the viewers received;
  - CPU of the loop thread "sfu-loop-0": /proc/PID/task/TID/schedstat (ns on CPU, exact)
    and stat utime/stime (user / kernel split, clock ticks); its wake-ups (voluntary
    context switches); the whole worker's and sfu-load's CPU for reference;
  - allocations: bench/alloc_shim.c preloaded into the worker counts malloc, calloc,
    realloc and free per thread;
  - memory: the worker's VmRSS with the publishers flowing and no viewer, then with all
    viewers: the difference per viewer-stream;
  - optionally syscalls (perf stat on the syscall tracepoints of the loop thread, in a
    window of its own after the main one), a perf profile (perf record -g, another
    window), or instructions (the worker under callgrind: --wrap and --cg-out).

The GetWorkerStats requests (which the loop answers) lie outside the CPU and allocation
windows: stats, then CPU/allocations, sleep, CPU/allocations, stats.

    python3 bench/forward.py --worker build/sfu-worker --scenario A-top --json
Scenarios: A-top (1 publisher x 3 layers -> V viewers, top layer), A-spread (the same,
viewer i capped at MaxLayer i % 3, the third uncapped), B (P publishers -> P viewers each
receiving all P streams); --meetings M runs M copies side by side on the one loop.
The viewers send transport-cc feedback as browsers do (sfu-load's default), so the
worker's downlink estimation, probing and pacing run too; --no-twcc-feedback turns it off
(the cost of estimation on top of forwarding is the difference). The publishers send each
frame at once (as libwebrtc's pacer does since its 40 ms burst interval, for a frame under
40 ms of its rate) unless --publisher-pace F (paced at F x their bitrate in 5 ms bursts,
as libwebrtc paced before: 2.5 x its estimate). Options: --help."""

import argparse
import glob
import json
import os
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import harness  # noqa: E402
from load import LoadClient  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---- /proc ----------------------------------------------------------------------------
def loop_tid(pid, name="sfu-loop-0"):
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, t)) as f:
                if f.read().strip() == name:
                    return int(t)
        except OSError:
            pass
    return None


def stat_times(path):
    """(utime, stime) in seconds from a /proc .../stat file."""
    with open(path) as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def schedstat_ns(pid, tid=None):
    p = "/proc/%d/task/%d/schedstat" % (pid, tid) if tid else "/proc/%d/schedstat" % pid
    with open(p) as f:
        return int(f.read().split()[0])


def proc_cpu_ns(pid):
    """All threads of pid: sum of schedstat ns."""
    tot = 0
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            tot += schedstat_ns(pid, int(t))
        except OSError:
            pass
    return tot


def status_field(path, key):
    with open(path) as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    return 0


def rss_kib(pid):
    return status_field("/proc/%d/status" % pid, "VmRSS:")


def cpu_snapshot(wpid, tid, lpid):
    u, s = stat_times("/proc/%d/task/%d/stat" % (wpid, tid))
    st = "/proc/%d/task/%d/status" % (wpid, tid)
    return {"t": time.monotonic(), "loop_ns": schedstat_ns(wpid, tid), "loop_user": u,
            "loop_sys": s, "wakeups": status_field(st, "voluntary_ctxt_switches:"),
            "preempted": status_field(st, "nonvoluntary_ctxt_switches:"),
            "worker_ns": proc_cpu_ns(wpid), "load_ns": proc_cpu_ns(lpid)}


# ---- allocation shim file ---------------------------------------------------------------
def shim_read(path):
    """{tid: allocations (malloc+calloc+realloc), ...}, {tid: frees}."""
    import struct
    if not path or not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        b = f.read()
    if b[:8] != b"ALLOCSHM":
        return None
    used = min(struct.unpack_from("<Q", b, 8)[0], 256)
    allocs, frees = {}, {}
    for i in range(used):
        tid, m, c, r, fr = struct.unpack_from("<qQQQQ", b, 16 + i * 40)
        allocs[tid] = m + c + r
        frees[tid] = fr
    return allocs, frees


# ---- the worker's stats ----------------------------------------------------------------
def loop_stats(w):
    rep = w.ok({"op": "GetWorkerStats"}, timeout=20.0)
    lp = rep["Loops"][0]
    out = {"t": time.monotonic()}
    out.update({"video_" + k: v for k, v in lp["Video"].items()})
    out.update({"udp_" + k: v for k, v in lp["Sockets"]["Udp"].items()})
    for k in ("PacketsIn", "PacketsOut", "RtpPackets", "RtcpPackets", "Dropped",
              "StunRequests"):
        out["media_" + k] = lp["Media"][k]
    return out


def received(lc):
    """Packets received by all viewers' sections, their sequence gaps, and the
    transport-cc feedback packets the viewers sent."""
    pk = gaps = fb = 0
    for a in lc.stats():
        fb += a.get("twcc_fb_out", 0)
        for r in a["recv"]:
            pk += r["packets"]
            gaps += r["seq_gaps"]
    return pk, gaps, fb


def udp_snmp():
    """System-wide UDP counters (/proc/net/snmp): receive-buffer drops on loopback."""
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Udp:")]
    return dict(zip(rows[0][1:], map(int, rows[1][1:])))


def delta(a, b):
    return {k: b[k] - a[k] for k in a if isinstance(a[k], (int, float))}


# ---- set-up ----------------------------------------------------------------------------
def subscribe(w, mid, att, offer, receive=None):
    req = {"op": "Subscribe", "MeetingId": mid, "AttendeeId": att["AttendeeId"],
           "JoinToken": att["JoinToken"], "SdpOffer": offer}
    if receive is not None:
        req["ReceiveStreamIds"] = receive
    return w.ok(req, timeout=20.0)


def wait_all(lc, pred, what, timeout):
    deadline = time.monotonic() + timeout
    while True:
        st = lc.stats()
        bad = [a["id"] for a in st if not pred(a)]
        if not bad:
            return st
        if time.monotonic() > deadline:
            raise RuntimeError("%s: %d attendees not there within %.0fs (%s...)"
                               % (what, len(bad), timeout, bad[:5]))
        time.sleep(0.2)


def setup(w, lc, o):
    """o.meetings copies of the scenario, each its own meeting, all on the one loop."""
    feats = {"Video": {"MaxResolution": "FHD"}} if o.bitrate > 1500000 else None
    fields = {"MeetingFeatures": feats} if feats else {}
    n_pub = 1 if o.scenario.startswith("A") else o.publishers
    n_view = o.viewers if o.scenario.startswith("A") else o.publishers
    layers = 3 if o.scenario.startswith("A") else o.layers
    pub = {"codec": "VP8", "layers": layers, "rtx": True, "fps": o.fps}
    if o.bitrate:
        pub["bitrate"] = o.bitrate
    if o.publisher_pace:
        pub["pace"] = o.publisher_pace
    mids, sids = [], []
    for m in range(o.meetings):
        mid = w.create_meeting(**fields)["MeetingId"]
        mids.append(mid)
        sids.append([])
        for i in range(n_pub):
            aid = "m%d-p%d" % (m, i)
            att = w.create_attendee(mid, "user-" + aid)
            offer = lc.add(aid, publish=pub, receive=0)
            rep = subscribe(w, mid, att, offer)
            lc.answer(aid, rep["SdpAnswer"])
            sids[m].append(rep["PublishedStreamId"])
    wait_all(lc, lambda a: a["connected"], "publishers connected", 30)
    # Every layer known in the index.
    deadline = time.monotonic() + 20
    for mid in mids:
        while True:
            idx = w.ok({"op": "GetStreamIndex", "MeetingId": mid})["StreamIndex"]["Streams"]
            if len(idx) == n_pub and all(len(s["Layers"]) == layers for s in idx):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("streams not in the index: %s" % idx)
            time.sleep(0.2)
    time.sleep(2.0)
    rss0 = rss_kib(w.proc.pid)
    # Viewers.
    streams = 0
    first_view = None
    for m, mid in enumerate(mids):
        for i in range(n_view):
            aid = "m%d-v%d" % (m, i)
            att = w.create_attendee(mid, "user-" + aid)
            if o.scenario == "B":
                items = list(sids[m])
            elif o.scenario == "A-spread" and i % 3 < 2:
                items = [{"StreamId": sids[m][0], "MaxLayer": i % 3}]
            else:
                items = [sids[m][0]]
            offer = lc.add(aid, receive=len(items), rtx=True)
            rep = subscribe(w, mid, att, offer, items)
            first_view = first_view or (mid, att["AttendeeId"])
            lc.answer(aid, rep["SdpAnswer"])
            streams += len(items)
    wait_all(lc, lambda a: a["connected"], "viewers connected", 60)
    wait_all(lc, lambda a: all(r["packets"] > 0 for r in a["recv"]), "viewers receiving", 60)
    return {"meetings": o.meetings, "publishers": n_pub * o.meetings, "layers": layers,
            "viewers": n_view * o.meetings, "viewer_streams": streams, "rss0_kib": rss0,
            "first_view": first_view}


# ---- windows ---------------------------------------------------------------------------
def perf_syscalls(tid, seconds):
    """Syscalls of the loop thread by name over `seconds` (perf stat on tracepoints)."""
    names = ["sendmmsg", "recvmmsg", "epoll_wait", "sendmsg", "sendto", "recvfrom",
             "recvmsg", "read", "write", "timerfd_settime", "clock_gettime"]
    ev = ["raw_syscalls:sys_enter"] + ["syscalls:sys_enter_" + n for n in names]
    cmd = ["perf", "stat", "-x", ",", "-t", str(tid)]
    for e in ev:
        cmd += ["-e", e]
    cmd += ["--", "sleep", str(seconds)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    out = {}
    for line in p.stderr.splitlines():
        f = line.split(",")
        if len(f) > 2 and f[2] in ev:
            key = "all" if f[2] == "raw_syscalls:sys_enter" else f[2].split("sys_enter_")[1]
            try:
                out[key] = int(f[0])
            except ValueError:
                out[key] = None
    return out


def callgrind_totals(prefix):
    """Ir of the window's dump (dump 1) per thread file: {file: Ir}."""
    out = {}
    for path in glob.glob(prefix + ".1") + glob.glob(prefix + ".1-*"):
        with open(path) as f:
            for line in f:
                if line.startswith("summary:") or line.startswith("totals:"):
                    out[os.path.basename(path)] = int(line.split()[1])
                    break
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", default="build/sfu-worker")
    ap.add_argument("--sfu-load", default=None)
    ap.add_argument("--scenario", default="A-top", choices=["A-top", "A-spread", "B"])
    ap.add_argument("--viewers", type=int, default=100)
    ap.add_argument("--publishers", type=int, default=25)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--bitrate", type=int, default=0, help="top layer bits/s (0: default)")
    ap.add_argument("--publisher-pace", type=float, default=0,
                    help="publishers pace at this x their bitrate in 5 ms bursts, as "
                         "libwebrtc did before its 40 ms bursts (2.5); 0: each frame at once "
                         "(default)")
    ap.add_argument("--fps", type=int, default=15)
    ap.add_argument("--meetings", type=int, default=1, help="copies of the scenario")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=5)
    ap.add_argument("--nice", type=int, default=0,
                    help="nice value for worker and sfu-load (e.g. -10 on a shared machine)")
    ap.add_argument("--worker-cpu", default="1")
    ap.add_argument("--load-cpu", default="0")
    ap.add_argument("--shim", default=None, help="alloc_shim .so to preload")
    ap.add_argument("--no-gso", action="store_true",
                    help="the shim hides UDP GSO from the worker (plain sendmmsg)")
    ap.add_argument("--no-twcc-feedback", action="store_true",
                    help="viewers send no transport-cc feedback (the worker estimates nothing)")
    ap.add_argument("--syscalls", type=float, default=0, help="seconds of perf stat")
    ap.add_argument("--perf-record", default=None, help="perf.data path (5 s window)")
    ap.add_argument("--perf-event", default="cpu-clock", help="e.g. probe_libc:malloc")
    ap.add_argument("--wrap", default=None, help="e.g. 'valgrind --tool=callgrind ...'")
    ap.add_argument("--cg-out", default=None)
    ap.add_argument("--worker-flag", action="append", default=[],
                    help="one more sfu-worker argument (repeat), e.g. --worker-flag=--pacer-burst-ms=40")
    ap.add_argument("--label", default="")
    ap.add_argument("--json", action="store_true")
    o = ap.parse_args()

    if o.no_gso and not o.shim:
        ap.error("--no-gso works through the shim: give --shim")
    harness.WORKER = os.path.abspath(o.worker)
    prefix = []
    shim_out = None
    if o.shim:
        shim_out = "/tmp/sfu-alloc-shim-%d" % os.getpid()
        prefix += ["env", "LD_PRELOAD=" + os.path.abspath(o.shim), "SFU_ALLOC_SHIM_OUT=" + shim_out]
        if o.no_gso:
            prefix += ["SFU_SHIM_NO_GSO=1"]
    nice = ["nice", "-n", str(o.nice)] if o.nice else []
    prefix += nice + ["taskset", "-c", o.worker_cpu]
    if o.wrap:
        prefix += shlex.split(o.wrap)
    w = harness.Worker(loops=1, prefix=prefix, extra=["--log-level", "warn"] + o.worker_flag)
    w.start(ready_timeout=60 if o.wrap else 10)
    lc = None
    res = {"label": o.label, "scenario": o.scenario, "gso": not o.no_gso, "bitrate": o.bitrate, "fps": o.fps,
           "publisher_pace": o.publisher_pace, "worker_flags": o.worker_flag,
           "seconds": o.seconds, "load_avg": open("/proc/loadavg").read().split()[:3],
           "callgrind": bool(o.cg_out), "twcc_feedback": not o.no_twcc_feedback}
    try:
        lc = LoadClient(path=o.sfu_load, prefix=nice + ["taskset", "-c", o.load_cpu],
                        args=["--no-twcc-feedback"] if o.no_twcc_feedback else [])
        wpid, lpid = w.proc.pid, lc.proc.pid
        if o.wrap:  # valgrind: the thread names are the guest's
            time.sleep(1)
        res.update(setup(w, lc, o))
        tid = loop_tid(wpid)
        if tid is None:
            raise RuntimeError("no sfu-loop-0 thread in %d" % wpid)
        time.sleep(o.warmup)
        res["rss1_kib"] = rss_kib(wpid)
        res["rss_per_viewer_stream_kib"] = ((res["rss1_kib"] - res["rss0_kib"]) /
                                            res["viewer_streams"])
        # Main window.
        r0 = received(lc)
        n0 = udp_snmp()
        s0 = loop_stats(w)
        c0 = cpu_snapshot(wpid, tid, lpid)
        a0 = shim_read(shim_out)
        if o.cg_out:
            subprocess.run(["callgrind_control", "-z", str(wpid)], capture_output=True)
        time.sleep(o.seconds)
        if o.cg_out:
            subprocess.run(["callgrind_control", "-d", str(wpid)], capture_output=True)
        a1 = shim_read(shim_out)
        c1 = cpu_snapshot(wpid, tid, lpid)
        s1 = loop_stats(w)
        n1 = udp_snmp()
        r1 = received(lc)
        ds, dc = delta(s0, s1), delta(c0, c1)
        res["rcvbuf_errors"] = n1.get("RcvbufErrors", 0) - n0.get("RcvbufErrors", 0)
        fwd = ds["video_Forwarded"]
        res["window_s"] = dc["t"]
        res["stats_s"] = ds["t"]
        res["forwarded"] = fwd
        res["forwarded_per_s"] = fwd / ds["t"]
        res["rtp_in_per_s"] = ds["video_RtpIn"] / ds["t"]
        res["received"] = r1[0] - r0[0]
        res["seq_gaps"] = r1[1] - r0[1]
        res["twcc_fb_per_s"] = (r1[2] - r0[2]) / dc["t"]
        # Packets within the CPU window: the rate times its length.
        fwd_cpu = res["forwarded_per_s"] * dc["t"]
        res["loop_cpu_frac"] = dc["loop_ns"] / 1e9 / dc["t"]
        res["us_per_pkt"] = dc["loop_ns"] / 1e3 / fwd_cpu
        res["user_us_per_pkt"] = dc["loop_user"] * 1e6 / fwd_cpu
        res["sys_us_per_pkt"] = dc["loop_sys"] * 1e6 / fwd_cpu
        res["worker_us_per_pkt"] = dc["worker_ns"] / 1e3 / fwd_cpu
        res["wakeups_per_s"] = dc["wakeups"] / dc["t"]
        res["preempted_per_s"] = dc["preempted"] / dc["t"]
        res["pkts_per_wakeup"] = fwd_cpu / max(dc["wakeups"], 1)
        res["load_cpu_frac"] = dc["load_ns"] / 1e9 / dc["t"]
        for k in ("udp_TxPackets", "udp_TxBatches", "udp_TxGsoBatches", "udp_TxGsoSegments",
                  "udp_TxDropped", "udp_RxPackets", "udp_RxBatches", "video_Dropped",
                  "video_Retransmissions", "video_NacksIn", "video_KeyframeRequestsOut",
                  "media_PacketsOut", "media_Dropped", "media_StunRequests",
                  "media_RtcpPackets"):
            res[k] = ds[k]
        tx = max(ds["udp_TxPackets"], 1)
        # messages handed to the kernel: GSO batches + datagrams sent outside them
        res["msgs_per_datagram"] = (ds["udp_TxGsoBatches"] + tx - ds["udp_TxGsoSegments"]) / tx
        res["gso_segments_per_batch"] = ds["udp_TxGsoSegments"] / max(ds["udp_TxGsoBatches"], 1)
        res["datagrams_per_sendmmsg"] = tx / max(ds["udp_TxBatches"], 1)
        if a0 and a1:
            al = sum(a1[0].get(t, 0) - a0[0].get(t, 0) for t in a1[0])
            fr = sum(a1[1].get(t, 0) - a0[1].get(t, 0) for t in a1[1])
            res["allocs_worker"] = al
            res["frees_worker"] = fr
            res["allocs_loop"] = a1[0].get(tid, 0) - a0[0].get(tid, 0)
            res["allocs_per_pkt"] = res["allocs_loop"] / fwd_cpu
            # STUN requests in the CPU window (the stats' rate times its length)
            stun = ds["media_StunRequests"] * dc["t"] / ds["t"]
            res["allocs_per_stun"] = res["allocs_loop"] / stun if stun else None
        if o.cg_out:
            tot = callgrind_totals(o.cg_out)
            res["cg_files"] = tot
            res["instr_worker"] = sum(tot.values())
            res["instr_loop"] = max(tot.values()) if tot else 0
            res["instr_per_pkt"] = res["instr_loop"] / fwd_cpu if fwd_cpu else None
            res["instr_worker_per_pkt"] = res["instr_worker"] / fwd_cpu if fwd_cpu else None
        # Syscalls window (perf stat on the loop thread's tracepoints).
        if o.syscalls:
            s0 = loop_stats(w)
            sc = perf_syscalls(tid, o.syscalls)
            s1 = loop_stats(w)
            f = s1["video_Forwarded"] - s0["video_Forwarded"]
            res["syscalls"] = sc
            res["syscall_window_forwarded"] = f
            res["syscalls_per_pkt"] = {k: (v / f if v is not None and f else None)
                                       for k, v in sc.items()}
        if o.perf_record:
            subprocess.run(["perf", "record", "-q", "-e", o.perf_event, "-g", "-t", str(tid),
                            "-o", o.perf_record] + shlex.split(os.environ.get("PERF_RECORD_ARGS", "")) + ["--", "sleep", os.environ.get("PERF_SECONDS", "5")],
                           capture_output=True)
        # One viewer's downlink as the worker sees it (estimate, probes), after the windows.
        fmid, faid = res.pop("first_view")
        res["downlink_sample"] = w.ok({"op": "GetAttendeeStats", "MeetingId": fmid,
                                       "AttendeeId": faid})["Video"].get("Downlink")
        res["ok"] = True
    finally:
        if lc:
            lc.close()
        w.stop(timeout=60)
        w.cleanup()
        if shim_out and os.path.exists(shim_out):
            os.unlink(shim_out)
    if o.json:
        print(json.dumps(res))
    else:
        for k, v in res.items():
            print("%-28s %s" % (k, v))


if __name__ == "__main__":
    main()
