"""Shared pieces of the interop tests: the real sfu-worker on loopback, a
control-API client (nanomsg through tests/integration/nnclient.py), an event
collector, and process hygiene (no worker or browser outlives a test).

Each test script is run by meson as
    /usr/bin/python3 test_x.py <path to sfu-worker> [unittest args]
Exit status 77 means "skipped" (meson reports SKIP): only when a peer (aiortc,
chromium) is genuinely not installed.
"""

import asyncio
import atexit
import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import nnclient  # noqa: E402  (tests/integration/nnclient.py, shared with them)

SKIP = 77
WORKER = None

# Where captured SDPs, page stats and worker logs of a failing run are kept.
ARTIFACTS = os.environ.get("SFU_INTEROP_ARTIFACTS",
                           os.path.join(tempfile.gettempdir(), "sfu-interop"))


def skip(reason):
    """Exits with meson's skip code; only for a peer that is not installed."""
    print("SKIP: " + reason, flush=True)
    sys.stdout.flush()
    os._exit(SKIP) if _children else sys.exit(SKIP)


def parse_args():
    """Takes the worker path off sys.argv (the rest goes to unittest)."""
    global WORKER
    if len(sys.argv) < 2:
        sys.exit("usage: %s <sfu-worker> [unittest args]" % sys.argv[0])
    WORKER = os.path.abspath(sys.argv[1])
    del sys.argv[1]
    if not os.access(WORKER, os.X_OK):
        sys.exit("not an executable: %s" % WORKER)


# ---------------------------------------------------------------------------
# Process hygiene. Every child runs in its own session (process group) so
# that a whole tree (chromium forks renderers, zygotes, a GPU process) dies
# with one killpg; PR_SET_PDEATHSIG kills the group leader if this script is
# SIGKILLed (meson's timeout sends SIGTERM first, which we turn into exit).
# ---------------------------------------------------------------------------
_children = []
_children_lock = threading.Lock()
_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
# Grandchildren orphaned by a killed group leader (chromium's renderers) are
# re-parented to this script rather than to init, so kill_group can reap them
# and check that nothing of the group is left.
_libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _child_setup():
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def spawn(argv, **kw):
    """Popen in a new session, registered for cleanup. Call from the main thread
    (PDEATHSIG fires when the forking *thread* exits)."""
    p = subprocess.Popen(argv, start_new_session=True, preexec_fn=_child_setup, **kw)
    with _children_lock:
        _children.append(p)
    return p


def kill_group(p, grace=3.0):
    """SIGTERM the child's process group, wait up to `grace`, then SIGKILL it.
    Also kills what is left of the group when the leader has already exited."""
    if p is None:
        return
    try:
        pgid = p.pid  # start_new_session: the child leads its own group
        if p.poll() is None:
            try:
                os.killpg(pgid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if p.poll() is None:
            p.wait(5)
        _reap_group(pgid)
    finally:
        with _children_lock:
            if p in _children:
                _children.remove(p)


def _group_members(pgid):
    """[(pid, ppid, state)] of live or zombie processes in process group pgid."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...; comm may hold spaces and parens.
        f = st[st.rindex(")") + 2:].split()
        if int(f[2]) == pgid:
            out.append((int(d), int(f[1]), f[0]))
    return out


def _reap_group(pgid, timeout=5.0):
    """Waits for the killed group's members (ours to reap thanks to the
    subreaper flag); raises if any is still alive after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        left = []
        for pid, ppid, state in _group_members(pgid):
            if ppid == os.getpid():
                try:
                    if os.waitpid(pid, os.WNOHANG)[0] == pid:
                        continue
                except ChildProcessError:
                    pass
            if state != "Z" or ppid == os.getpid():
                left.append((pid, state))
        if not left:
            return
        if time.monotonic() > deadline:
            raise AssertionError("process group %d not gone: %s" % (pgid, left))
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass
        time.sleep(0.05)


def kill_all():
    with _children_lock:
        kids = list(_children)
    for p in kids:
        try:
            kill_group(p, grace=1.0)
        except Exception:
            pass


def _on_signal(signum, frame):
    kill_all()
    # 128+n is what a shell reports; meson shows it as a failure (or timeout).
    os._exit(128 + signum)


atexit.register(kill_all)
for _s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_s, _on_signal)


# ---------------------------------------------------------------------------
# Ports: the integration harness's picker (free for TCP and UDP on the wildcard
# address, below the ephemeral range, random per process). Both files are named
# harness.py, hence the load under another module name.
# ---------------------------------------------------------------------------
def _load_integration_harness():
    import importlib.util
    path = os.path.join(HERE, "..", "integration", "harness.py")
    spec = importlib.util.spec_from_file_location("integration_harness", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


free_port_block = _load_integration_harness().free_port_block


def save_artifact(name, text):
    """Writes text under ARTIFACTS (for a failure report); returns the path."""
    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.join(ARTIFACTS, name)
    with open(path, "w", newline="") as f:
        f.write(text if isinstance(text, str) else json.dumps(text, indent=1))
    return path


# ---------------------------------------------------------------------------
# Events: a background thread drains the SUB socket so that nothing blocks an
# asyncio loop (aiortc) or an HTTP handler (chromium page) while waiting.
# ---------------------------------------------------------------------------
class Events:
    def __init__(self, url):
        self.sub = nnclient.Sub(url)
        self.sub.wait_connected()
        self.seen = []
        self.cond = threading.Condition()
        self._stop = False
        self.thread = threading.Thread(target=self._run, name="events", daemon=True)
        self.thread.start()

    def _run(self):
        while not self._stop:
            try:
                ev = self.sub.next_event(timeout=0.2)
            except nnclient.Timeout:
                continue
            except Exception:
                if self._stop:
                    return
                raise
            with self.cond:
                self.seen.append(ev)
                self.cond.notify_all()

    def close(self):
        self._stop = True
        self.thread.join(2.0)
        self.sub.close()

    def matching(self, etype=None, **fields):
        with self.cond:
            return [e for e in self.seen
                    if (etype is None or e.get("eventType") == etype)
                    and all(e.get(k) == v for k, v in fields.items())]

    def wait(self, etype, timeout=5.0, **fields):
        """Returns the first event of type etype whose fields match, waiting up to
        timeout seconds; None if none came."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for e in self.seen:
                    if e.get("eventType") == etype and all(
                            e.get(k) == v for k, v in fields.items()):
                        return e
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def wait_any(self, etypes, timeout=5.0, **fields):
        deadline = time.monotonic() + timeout
        while True:
            for t in etypes:
                e = self.wait(t, 0, **fields)
                if e:
                    return e
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            with self.cond:
                self.cond.wait(min(left, 0.1))

    def summary(self):
        with self.cond:
            return [(e.get("eventType"), (e.get("attendeeId") or "")[:8])
                    for e in self.seen]


# ---------------------------------------------------------------------------
# The worker
# ---------------------------------------------------------------------------
class Worker:
    """One sfu-worker process on loopback. start() returns once it answers."""

    def __init__(self, loops=1, extra=()):
        self.loops, self.extra = loops, list(extra)
        self._pick_ports()
        self.log = tempfile.NamedTemporaryFile(prefix="sfu-worker-interop-",
                                               suffix=".log", delete=False)
        self.proc = None
        self._req = None
        self._lock = threading.Lock()  # REQ is strictly send/recv: one user at a time
        self.events = None

    def _pick_ports(self):
        loops = self.loops
        base = free_port_block(2 + 2 * loops)
        self.control = "tcp://127.0.0.1:%d" % base
        self.events_url = "tcp://127.0.0.1:%d" % (base + 1)
        self.udp_port = base + 2
        self.tcp_port = base + 2 + loops
        self.worker_id = "interop-%d-%d" % (os.getpid(), base)
        self.argv = [WORKER, "--loops", str(loops), "--udp-port", str(self.udp_port),
                     "--tcp-port", str(self.tcp_port), "--control", self.control,
                     "--events", self.events_url, "--announce-ip", "127.0.0.1",
                     "--worker-id", self.worker_id] + self.extra

    def start(self, ready_timeout=10.0, attempts=3):
        """Starts the worker; if it exits at once (another process took one of the
        ports between the check and the bind), retries on fresh ports."""
        self.proc = spawn(self.argv, stdin=subprocess.DEVNULL, stdout=self.log,
                          stderr=subprocess.STDOUT)
        deadline = time.monotonic() + ready_timeout
        while True:
            if self.proc.poll() is not None:
                if attempts > 1 and "in use" in self.log_text().lower():
                    kill_group(self.proc)
                    self._pick_ports()
                    return self.start(ready_timeout, attempts - 1)
                raise AssertionError("worker exited with %d at start: %s\n%s"
                                     % (self.proc.returncode, " ".join(self.argv),
                                        self.log_text()))
            try:
                with nnclient.Req(self.control) as r:
                    if r.request({"op": "GetWorkerStats"}, timeout=0.5).get("ok"):
                        break
            except nnclient.Timeout:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("worker not answering after %.0fs:\n%s"
                                     % (ready_timeout, self.log_text()))
            time.sleep(0.05)
        self.events = Events(self.events_url)
        time.sleep(0.05)  # let the PUB side register the new pipe
        return self

    def request(self, obj, timeout=5.0):
        with self._lock:
            if self._req is None:
                self._req = nnclient.Req(self.control)
            try:
                return self._req.request(obj, timeout)
            except nnclient.Timeout:
                self._req.close()
                self._req = None
                raise AssertionError("no reply within %.1fs to %s (worker %s)\n%s"
                                     % (timeout, _short(obj),
                                        "alive" if self.alive() else "DEAD",
                                        self.log_text()))

    def ok(self, obj, timeout=5.0):
        rep = self.request(obj, timeout)
        if rep.get("ok") is not True:
            raise AssertionError("%s failed: %s" % (obj.get("op"), json.dumps(rep)))
        return rep

    # ---- control shortcuts ----------------------------------------------
    def create_meeting(self, **fields):
        req = {"op": "CreateMeeting", "ExternalMeetingId": "interop-" + uid8()}
        req.update(fields)
        return self.ok(req)["Meeting"]

    def create_attendee(self, meeting_id, **fields):
        req = {"op": "CreateAttendee", "MeetingId": meeting_id,
               "ExternalUserId": "peer-" + uid8()}
        req.update(fields)
        return self.ok(req)["Attendee"]

    def meeting_and_attendee(self):
        m = self.create_meeting()
        a = self.create_attendee(m["MeetingId"])
        return m, a

    def subscribe(self, meeting, attendee, offer, timeout=10.0, tag=None):
        """Subscribe: offer in, answer out. Saves both SDPs under ARTIFACTS."""
        tag = tag or attendee["AttendeeId"][:8]
        save_artifact(tag + "-offer.sdp", offer)
        rep = self.request({"op": "Subscribe", "MeetingId": meeting["MeetingId"],
                            "AttendeeId": attendee["AttendeeId"],
                            "JoinToken": attendee["JoinToken"], "SdpOffer": offer},
                           timeout)
        if rep.get("ok") is not True:
            raise AssertionError("Subscribe failed: %s\n(offer saved in %s)"
                                 % (json.dumps(rep), ARTIFACTS))
        answer = rep.get("SdpAnswer")
        if not isinstance(answer, str) or not answer.startswith("v=0"):
            raise AssertionError("Subscribe reply has no SdpAnswer: %s" % _short(rep))
        save_artifact(tag + "-answer.sdp", answer)
        return answer

    def worker_stats(self):
        return self.ok({"op": "GetWorkerStats"})

    def attendee_stats(self, meeting_id, attendee_id):
        """The per-attendee transport figures (see transport_figures)."""
        return self.request({"op": "GetAttendeeStats", "MeetingId": meeting_id,
                             "AttendeeId": attendee_id})

    def wait_event(self, etype, attendee_id=None, timeout=5.0):
        f = {"attendeeId": attendee_id} if attendee_id else {}
        return self.events.wait(etype, timeout, **f)

    # ---- process ---------------------------------------------------------
    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self, tail=8000):
        self.log.flush()
        try:
            with open(self.log.name, "rb") as f:
                return f.read().decode(errors="replace")[-tail:]
        except OSError:
            return ""

    def stop(self, timeout=10.0):
        """SIGTERM and wait; returns the exit status (None if it had to be killed)."""
        if self.events:
            self.events.close()
            self.events = None
        with self._lock:
            if self._req:
                self._req.close()
                self._req = None
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            rc = self.proc.returncode
            kill_group(self.proc)
            return rc
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            rc = None
        kill_group(self.proc)
        return rc

    def cleanup(self, keep_log_as=None):
        self.stop()
        self.log.close()
        if keep_log_as:
            try:
                os.makedirs(ARTIFACTS, exist_ok=True)
                os.replace(self.log.name, os.path.join(ARTIFACTS, keep_log_as))
                return
            except OSError:
                pass
        try:
            os.unlink(self.log.name)
        except OSError:
            pass


class WorkerCase(unittest.TestCase):
    """A test case with a worker of its own (self.w); `peers` for the case to fill.
    The case sets self.ok = True when it passed: the worker log is then deleted, else
    kept under ARTIFACTS as <LOG_TAG>-<test method>-worker.log. A worker that died or
    did not exit cleanly fails the case."""

    LOG_TAG = "interop"

    def setUp(self):
        self.w = Worker().start()
        self.ok = False
        self.peers = []

    def tearDown(self):
        alive = self.w.alive()
        rc = self.w.stop()
        self.w.cleanup(keep_log_as=None if self.ok and alive
                       else "%s-%s-worker.log" % (self.LOG_TAG, self._testMethodName))
        self.assertTrue(alive and rc == 0, "worker exited with %s (log in %s)"
                        % (rc, ARTIFACTS))

    def run_scenario(self, coro, timeout=60):
        """Runs the coroutine `coro` (aiortc peers live in asyncio) with a time limit,
        closing every peer of self.peers (their async close()) whatever happens, and
        marks the case ok when it returns."""
        async def guarded():
            try:
                await coro
            finally:
                for p in self.peers:
                    await p.close()
        asyncio.run(asyncio.wait_for(guarded(), timeout))
        self.ok = True


# ---------------------------------------------------------------------------
# Transport figures (docs/control-api.md, GetAttendeeStats): per transport, ICE state,
# selected candidate, DTLS state, SRTP profile, packets/bytes received and decrypted,
# decrypt failures, STUN requests. transport_figures() maps the reply onto short
# names so a renamed field fails in one place, loudly.
# ---------------------------------------------------------------------------
_FIELDS = {  # our name: (field in "Transport", default when absent/null)
    "ice_state": ("IceState", ""),
    "protocol": ("SelectedProtocol", ""),
    "selected_address": ("SelectedAddress", ""),
    "dtls_state": ("DtlsState", ""),
    "srtp_profile": ("SrtpProfile", ""),
    "packets_in": ("PacketsIn", None),
    "stun_requests": ("StunRequests", None),
    "dtls_packets": ("DtlsPackets", None),
    "rtp_packets": ("RtpPackets", None),
    "rtcp_packets": ("RtcpPackets", None),
    "decrypted": ("Decrypted", None),          # RTP + RTCP unprotected
    "decrypt_failures": ("DecryptFailures", None),
    "dtls_failures": ("DtlsFailures", None),
    "fingerprint_mismatches": ("FingerprintMismatches", None),
}


class NoTransport(AssertionError):
    """The attendee has no live transport (never subscribed, or departed)."""


def transport_figures(worker, meeting_id, attendee_id):
    """{short name: value, "raw": the reply} for the attendee's live transport;
    raises NoTransport when it has none, AssertionError on an error reply or a
    reply missing a counter."""
    rep = worker.attendee_stats(meeting_id, attendee_id)
    if rep.get("ok") is not True:
        raise AssertionError("GetAttendeeStats: %s" % json.dumps(rep))
    t = rep.get("Transport")
    if t is None:
        raise NoTransport("no transport: %s" % json.dumps(rep))
    out = {"raw": rep, "connected": rep.get("Connected")}
    for name, (field, default) in _FIELDS.items():
        v = t.get(field)
        if v is None:
            if default is None:
                raise AssertionError("GetAttendeeStats: no %s in %s" % (field, json.dumps(rep)))
            v = default
        out[name] = v
    return out


def norm_profile(p):
    """SRTP profile names as Chromium and the worker spell them, made comparable."""
    p = (p or "").upper().replace("SRTP_", "")
    return {"AES128_CM_SHA1_80": "AES_CM_128_HMAC_SHA1_80",
            "AES128_CM_HMAC_SHA1_80": "AES_CM_128_HMAC_SHA1_80"}.get(p, p)


def uid8():
    return uuid.uuid4().hex[:8]


def _short(obj, n=400):
    s = obj if isinstance(obj, str) else json.dumps(obj)
    return s if len(s) < n else s[:n] + "..."


def wait_until(pred, timeout, interval=0.1):
    """Polls pred() until it returns a truthy value (returned) or timeout (None)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def candidates(sdp):
    """[(protocol, address, port, type, tcptype or None)] of the SDP's candidates."""
    out = []
    for l in re.split(r"\r?\n", sdp):
        if l.startswith("a=candidate:"):
            f = l.split()
            tcptype = None
            if "tcptype" in f:
                tcptype = f[f.index("tcptype") + 1]
            out.append((f[2].lower(), f[4], int(f[5]), f[7], tcptype))
    return out
