#!/usr/bin/python3
"""What idle meetings cost the worker, to size --max-meetings (docs/operations.md).

    /usr/bin/python3 bench/meetings.py build/sfu-worker [STEP] [STEPS]

Part 1 starts the worker (--loops 1, timers that do not fire), then STEPS times (default
5) creates STEP meetings (default 10,000) back to back over one REQ socket and prints,
per step: resident memory (VmRSS) and its growth per meeting, the worker's CPU time per
CreateMeeting (utime + stime of all its threads, from /proc) and the wall time per
request seen by the client; then one ListMeetings of them all (time, reply bytes).

Part 2 starts a fresh worker with an idle timeout a little longer than creating
STEP * STEPS meetings took in part 1, creates them, stops the worker (SIGSTOP) until
every one of them is past its timeout and lets it go (SIGCONT): all of them fall due in
the same instant, the worst case for the loop and the control thread. It prints how
long the worker took to end them all, its CPU time for that, and the worst latency of
a GetMeeting answered by the control thread and of a GetWorkerStats that goes through
the loop, each asked over and over on its own socket meanwhile.

Numbers, never pass/fail. Use an optimised build (the default debugoptimized is -O2)."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import harness  # noqa: E402
import nnclient  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
CREATE = json.dumps({"op": "CreateMeeting", "ExternalMeetingId": "bench-meeting"})
UNKNOWN = {"op": "GetMeeting", "MeetingId": "00000000-0000-4000-8000-000000000000"}


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def worker(n, idle_s):
    extra = ["--idle-meeting-timeout", str(idle_s), "--log-level", "warn"]
    # Lifted out of the way; a build from before the flag existed is measured too.
    if b"--max-meetings" in subprocess.run([harness.WORKER, "--help"],
                                           capture_output=True).stdout:
        extra += ["--max-meetings", str(n + 10)]
    return harness.Worker(loops=1, extra=extra).start()


def create(w, n):
    r = w.req_socket()
    for _ in range(n):
        rep = r.request_raw(CREATE)
    assert json.loads(rep)["ok"], rep


def growth(step, steps):
    w = worker(step * steps, 3600)
    pid = w.proc.pid
    try:
        time.sleep(0.2)
        rss0 = rss_kib(pid)
        print("idle worker: VmRSS %.1f MiB" % (rss0 / 1024))
        print("%9s %8s %12s %14s %15s" % ("meetings", "RSS MiB", "KiB/meeting",
                                          "CPU us/create", "wall us/create"))
        n, rss_prev, wall = 0, rss0, 0.0
        for _ in range(steps):
            c0, t0 = cpu_s(pid), time.monotonic()
            create(w, step)
            t1, c1 = time.monotonic(), cpu_s(pid)
            n += step
            wall += t1 - t0
            time.sleep(0.2)
            rss = rss_kib(pid)
            print("%9d %8.1f %12.2f %14.1f %15.1f" % (
                n, rss / 1024, (rss - rss_prev) / step, (c1 - c0) / step * 1e6,
                (t1 - t0) / step * 1e6))
            rss_prev = rss
        print("from empty: %.2f KiB per meeting" % ((rss_prev - rss0) / n))
        # Last, because its reply (and the trees behind it) leaves the heap larger.
        lt0 = time.monotonic()
        lst = w.req_socket().request_raw(json.dumps({"op": "ListMeetings"}), timeout=120)
        lt = time.monotonic() - lt0
        print("ListMeetings of %d meetings: %.0f ms, a %.1f MB reply; VmRSS after it %.1f MiB"
              % (n, lt * 1e3, len(lst) / 1e6, rss_kib(pid) / 1024))
        return wall
    finally:
        w.stop()
        w.cleanup()


def together(n, create_wall):
    idle = create_wall * 2 + 5
    w = worker(n, idle)
    pid = w.proc.pid
    worst = {"GetMeeting (control thread)": 0.0, "GetWorkerStats (through the loop)": 0.0}
    go, done = threading.Event(), threading.Event()

    def probe(name, obj):
        with nnclient.Req(w.control) as q:
            q.request(obj)
            go.wait()
            while not done.is_set():
                t = time.monotonic()
                q.request(obj, 120)
                worst[name] = max(worst[name], time.monotonic() - t)
                time.sleep(0.001)

    threads = [threading.Thread(target=probe, args=("GetMeeting (control thread)", UNKNOWN)),
               threading.Thread(target=probe, args=("GetWorkerStats (through the loop)",
                                                   {"op": "GetWorkerStats"}))]
    try:
        for t in threads:
            t.start()
        t0 = time.monotonic()
        create(w, n)
        t1 = time.monotonic()
        if t1 - t0 > idle:
            print("creating took %.1f s, longer than the idle timeout: skipped" % (t1 - t0))
            return
        w.proc.send_signal(signal.SIGSTOP)
        time.sleep(max(0.0, t1 + idle + 0.2 - time.monotonic()))
        c0 = cpu_s(pid)
        w.proc.send_signal(signal.SIGCONT)
        start = time.monotonic()
        go.set()
        r = w.req_socket()
        while r.request({"op": "GetWorkerStats"}, 120)["Meetings"] > 0:
            time.sleep(0.005)
        took = time.monotonic() - start
        time.sleep(0.05)
        c1 = cpu_s(pid)
        done.set()
        for t in threads:
            t.join()
        print("%d meetings ending together: all gone after %.0f ms, %.0f ms of worker CPU "
              "(%.1f us per meeting)" % (n, took * 1e3, (c1 - c0) * 1e3, (c1 - c0) / n * 1e6))
        for name, v in worst.items():
            print("  worst %s meanwhile: %.1f ms" % (name, v * 1e3))
    finally:
        done.set()
        go.set()
        w.stop()
        w.cleanup()


def main():
    harness.WORKER = os.path.abspath(sys.argv[1])
    step = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    print("load average %s" % open("/proc/loadavg").read().split()[0])
    wall = growth(step, steps)
    together(step * steps, wall)


if __name__ == "__main__":
    main()
