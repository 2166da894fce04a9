"""Shared pieces of the integration tests: start the real sfu-worker on
loopback with ports nobody else uses, talk to it, collect its events.

Each test script is run by meson as
    /usr/bin/python3 test_x.py <path to sfu-worker> <path to sfuctl>
and may run in parallel with the others, hence the port picking below."""

import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

import nnclient

WORKER = None
SFUCTL = None

# Ports are picked below the Linux ephemeral range (32768+) so outgoing
# connections never take them, at random so parallel scripts do not collide,
# and checked free for both TCP and UDP.
PORT_LO, PORT_HI = 20000, 32000


def _port_free(port):
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def free_port_block(n):
    """Returns the first of n consecutive ports free for TCP and UDP."""
    rnd = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(500):
        base = rnd.randrange(PORT_LO, PORT_HI - n)
        if all(_port_free(base + i) for i in range(n)):
            return base
    raise RuntimeError("no free port block")


def parse_args():
    """Takes the worker and sfuctl paths off sys.argv (the rest goes to unittest)."""
    global WORKER, SFUCTL
    if len(sys.argv) < 3:
        sys.exit("usage: %s <sfu-worker> <sfuctl> [unittest args]" % sys.argv[0])
    WORKER = os.path.abspath(sys.argv[1])
    SFUCTL = os.path.abspath(sys.argv[2])
    del sys.argv[1:3]


def main():
    """Runs the file's tests. Exit 77 (meson's SKIP) when every test skipped, so a
    suite that checked nothing is counted as skipped, not passed."""
    parse_args()
    prog = unittest.main(verbosity=2, exit=False)
    r = prog.result
    if r.wasSuccessful() and r.testsRun > 0 and len(r.skipped) == r.testsRun:
        sys.exit(77)
    sys.exit(0 if r.wasSuccessful() else 1)


def is_asan_build(path):
    with open(path, "rb") as f:
        return b"__asan_init" in f.read()


class Worker:
    """One sfu-worker process. start() returns once it answers GetWorkerStats."""

    def __init__(self, loops=1, extra=(), prefix=(), worker_id=None):
        self.loops = loops
        base = free_port_block(2 + 2 * loops)
        self.control = "tcp://127.0.0.1:%d" % base
        self.events = "tcp://127.0.0.1:%d" % (base + 1)
        self.udp_port = base + 2
        self.tcp_port = base + 2 + loops
        self.worker_id = worker_id or "itest-%d-%d" % (os.getpid(), base)
        self.argv = list(prefix) + [
            WORKER, "--control", self.control, "--events", self.events,
            "--loops", str(loops), "--udp-port", str(self.udp_port),
            "--tcp-port", str(self.tcp_port), "--announce-ip", "127.0.0.1",
            "--worker-id", self.worker_id] + list(extra)
        self.proc = None
        self.log = tempfile.NamedTemporaryFile(prefix="sfu-worker-", suffix=".log",
                                               delete=False)
        self._req = None

    def start(self, ready_timeout=10.0):
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + ready_timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("worker exited with %d at start:\n%s"
                                     % (self.proc.returncode, self.log_text()))
            try:
                with nnclient.Req(self.control) as r:
                    rep = r.request({"op": "GetWorkerStats"}, timeout=0.5)
                if rep.get("ok") is True:
                    return self
            except nnclient.Timeout:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError("worker not answering after %.0fs:\n%s"
                                     % (ready_timeout, self.log_text()))
            time.sleep(0.05)

    def req_socket(self):
        if self._req is None:
            self._req = nnclient.Req(self.control)
        return self._req

    def request(self, obj, timeout=5.0):
        """Sends a dict (or raw bytes/str) and returns the parsed reply."""
        try:
            return self.req_socket().request(obj, timeout)
        except nnclient.Timeout:
            # A REQ whose reply never came is still usable for the next
            # request, but start over to keep things simple.
            self._req.close()
            self._req = None
            raise

    def ok(self, obj, timeout=5.0):
        rep = self.request(obj, timeout)
        if rep.get("ok") is not True:
            raise AssertionError("expected ok for %s, got %s" % (_short(obj), rep))
        return rep

    def subscribe(self):
        s = nnclient.Sub(self.events)
        s.wait_connected()
        time.sleep(0.05)  # let the PUB side register the new pipe
        return s

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Signals the worker and returns its exit status (raises if it hangs)."""
        if self._req:
            self._req.close()
            self._req = None
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("worker did not exit within %.0fs of signal %d"
                                 % (timeout, sig))

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        self.log.flush()
        with open(self.log.name, "rb") as f:
            return f.read().decode(errors="replace")[-8000:]

    def cleanup(self):
        self.kill()
        self.log.close()
        try:
            os.unlink(self.log.name)
        except OSError:
            pass

    # ---- shortcuts ------------------------------------------------------
    def create_meeting(self, ext=None, **fields):
        req = {"op": "CreateMeeting", "ExternalMeetingId": ext or "ext-" + uid8()}
        req.update(fields)
        return self.ok(req)["Meeting"]

    def create_attendee(self, meeting_id, user=None, **fields):
        req = {"op": "CreateAttendee", "MeetingId": meeting_id,
               "ExternalUserId": user or "user-" + uid8()}
        req.update(fields)
        return self.ok(req)["Attendee"]

    def get_meeting(self, meeting_id):
        return self.request({"op": "GetMeeting", "MeetingId": meeting_id})


def _short(obj):
    s = repr(obj)
    return s if len(s) < 300 else s[:300] + "..."


def uid8():
    return uuid.uuid4().hex[:8]


class Events:
    """Collects events from a Sub into a list and answers questions about them."""

    def __init__(self, sub):
        self.sub = sub
        self.seen = []

    def wait_for(self, pred, timeout=5.0, what="event"):
        """Returns the first event (already seen or new) matching pred."""
        for ev in self.seen:
            if pred(ev):
                return ev
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %s within %.1fs; saw %s" % (what, timeout,
                                                                     self.seen))
            try:
                ev = self.sub.next_event(timeout=left)
            except nnclient.Timeout:
                continue
            self.seen.append(ev)
            if pred(ev):
                return ev

    def wait_type(self, etype, timeout=5.0, **fields):
        def pred(ev):
            return ev.get("eventType") == etype and all(
                ev.get(k) == v for k, v in fields.items())
        return self.wait_for(pred, timeout, "%s %s" % (etype, fields))

    def drain(self, quiet=0.3):
        """Reads until `quiet` seconds pass with nothing new."""
        while True:
            try:
                self.seen.append(self.sub.next_event(timeout=quiet))
            except nnclient.Timeout:
                return self.seen

    def index(self, etype, **fields):
        for i, ev in enumerate(self.seen):
            if ev.get("eventType") == etype and all(ev.get(k) == v
                                                    for k, v in fields.items()):
                return i
        raise AssertionError("no %s %s in %s" % (etype, fields, self.seen))

    def of_meeting(self, meeting_id):
        return [e for e in self.seen if e.get("meetingId") == meeting_id]


class WorkerTest(unittest.TestCase):
    """A TestCase sharing one worker across its tests (started once per class)."""

    LOOPS = 1
    EXTRA = ()
    PREFIX = ()  # e.g. ("prlimit", "--nofile=256:256")

    @classmethod
    def setUpClass(cls):
        cls.w = Worker(loops=cls.LOOPS, extra=cls.EXTRA, prefix=cls.PREFIX).start()

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.w.alive():
                rc = cls.w.stop()
                if rc != 0:
                    raise AssertionError("worker exited %s at teardown:\n%s"
                                         % (rc, cls.w.log_text()))
            else:
                raise AssertionError("worker died during the tests (status %s):\n%s"
                                     % (cls.w.proc.returncode, cls.w.log_text()))
        finally:
            cls.w.cleanup()

    def assertError(self, rep, code, field=None):
        """ok:false with this code; and, if field is given, the message names it."""
        self.assertIs(rep.get("ok"), False, rep)
        err = rep.get("error")
        self.assertIsInstance(err, dict, rep)
        self.assertEqual(err.get("code"), code, rep)
        self.assertIsInstance(err.get("message"), str, rep)
        self.assertTrue(err["message"], rep)
        if field is not None:
            self.assertIn(field, err["message"], rep)
        self.assertEqual(set(rep.keys()), {"ok", "error"}, rep)

    def err(self, obj, code, field=None):
        rep = self.w.request(obj)
        self.assertError(rep, code, field)
        return rep
