"""LoadClient: drives tools/sfu-load (synthetic WebRTC attendees, video publishers
and/or viewers) from a test, one JSON command a line on its stdin, one JSON reply a
line on its stdout.

    lc = LoadClient()                     # path: $SFU_LOAD, else next to the worker
    offer = lc.add("p1", publish={"codec": "VP8", "layers": 3}, receive=0)
    rep = worker.ok({"op": "Subscribe", ..., "SdpOffer": offer})
    lc.answer("p1", rep["SdpAnswer"])
    lc.wait_for("p1", lambda s: s["connected"], what="connected")
    lc.stats("p1")["sent"]["layers"][0]["packets"]
    lc.close()

A reply with "error" raises LoadError. Its stderr (logs) goes to a temporary file,
kept in `log_text()` for failure messages."""

import json
import os
import select
import subprocess
import tempfile
import time

import harness


class LoadError(Exception):
    pass


def default_path():
    if os.environ.get("SFU_LOAD"):
        return os.environ["SFU_LOAD"]
    # build/sfu-worker -> build/tools/sfu-load
    return os.path.join(os.path.dirname(harness.WORKER or "."), "tools", "sfu-load")


class LoadClient:

    def __init__(self, path=None, seed=None, prefix=(), args=()):
        argv = list(prefix) + [path or default_path(), "--stdin"] + list(args)
        if seed is not None:
            argv += ["--seed", str(seed)]
        self.log = tempfile.NamedTemporaryFile(prefix="sfu-load-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log)
        self._buf = b""

    # ---- plumbing ----------------------------------------------------------
    def _readline(self, timeout):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise LoadError("sfu-load: no reply within %.1fs" % timeout)
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise LoadError("sfu-load exited (%s):\n%s" % (self.proc.poll(), self.log_text()))
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, obj, timeout=10.0):
        """Sends one command and returns its reply (raises LoadError on "error")."""
        self.proc.stdin.write((json.dumps(obj) + "\n").encode())
        self.proc.stdin.flush()
        rep = self._readline(timeout)
        if "error" in rep:
            raise LoadError("%s: %s" % (obj.get("cmd"), rep["error"]))
        return rep

    # ---- commands ----------------------------------------------------------
    def add(self, aid, publish=None, receive=0, rtx=True, twcc_feedback=None):
        """Returns the attendee's SDP offer. publish: None, or a dict with codec
        ("VP8"/"H264"), layers (1/3), rtx, ssrcs, fps, padding, bitrate, pace (x the
        bitrate: 5 ms bursts, 0 = each frame at once). twcc_feedback: False
        for a viewer that sends no transport-cc feedback (None: sfu-load's default, on
        unless it was started with --no-twcc-feedback)."""
        req = {"cmd": "add", "id": aid, "receive": receive, "rtx": rtx}
        if publish is not None:
            req["publish"] = publish
        if twcc_feedback is not None:
            req["twcc_feedback"] = bool(twcc_feedback)
        return self.cmd(req)["offer"]

    def answer(self, aid, sdp):
        return self.cmd({"cmd": "answer", "id": aid, "sdp": sdp})

    def reoffer(self, aid, receive):
        return self.cmd({"cmd": "reoffer", "id": aid, "receive": receive})["offer"]

    def set(self, aid, loss):
        return self.cmd({"cmd": "set", "id": aid, "loss": loss})

    def pli(self, aid, mid):
        return self.cmd({"cmd": "pli", "id": aid, "mid": str(mid)})

    def remb(self, aid, bps):
        return self.cmd({"cmd": "remb", "id": aid, "bps": bps})

    def stats(self, aid=None):
        """One attendee's stats, or (aid None) a list of every attendee's."""
        if aid is None:
            return self.cmd({"cmd": "stats"})["attendees"]
        return self.cmd({"cmd": "stats", "id": aid})

    def remove(self, aid):
        return self.cmd({"cmd": "remove", "id": aid})

    def wait_for(self, aid, pred, timeout=10.0, what="condition"):
        """Polls stats(aid) until pred(stats) is true; returns those stats."""
        deadline = time.monotonic() + timeout
        while True:
            s = self.stats(aid)
            if pred(s):
                return s
            if time.monotonic() > deadline:
                raise AssertionError("%s: no %s within %.0fs: %s" % (aid, what, timeout, s))
            time.sleep(0.05)

    def close(self, timeout=10.0):
        """quit, then the exit status (killed if it hangs)."""
        if self.proc.poll() is None:
            try:
                self.cmd({"cmd": "quit"}, timeout=timeout)
            except (LoadError, BrokenPipeError, OSError):
                pass
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        rc = self.proc.returncode
        self.log.close()
        try:
            os.unlink(self.log.name)
        except OSError:
            pass
        return rc

    def log_text(self):
        self.log.flush()
        with open(self.log.name, "rb") as f:
            return f.read().decode(errors="replace")[-8000:]
