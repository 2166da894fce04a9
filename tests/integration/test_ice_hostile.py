"""Hostile ICE traffic against a real worker (issue 6, items 1, 3 and 7).

- An ICE-TCP connection is authenticated only by a check that passes MESSAGE-INTEGRITY:
  one that names a live ufrag with a wrong password stays unauthenticated (it counts
  against its IP's cap and the sweep closes it), one that keeps failing is closed, and
  an authenticated one is closed when its transport goes (LeaveMeeting).
- Failed checks are not the attendee's traffic (PacketsIn/PacketsOut unchanged; counted
  in StunRejected) and their 401 replies are rate-limited.
- Under RLIMIT_NOFILE 256 the loops refuse ICE-TCP connections beyond the descriptor
  budget, and the control API keeps answering.

Nothing here completes DTLS: a transport answers checks as soon as Subscribe made it."""

import os
import socket
import time

import harness
import nnclient
import stun
from harness import WorkerTest

OFFER = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "sdp",
                          "chromium-audio-only.sdp")).read()
# The sweep closes unauthenticated connections 10 s after accept, checked once a second.
SWEEP_S = 12.0
PER_IP_CAP = 16       # SFU_TCP_MAX_UNAUTH_PER_IP
UNAUTH_FRAMES = 8     # SFU_TCP_MAX_UNAUTH_FRAMES
REPLY_BURST = 10      # SFU_ICE_UNAUTH_REPLY_BURST
REPLY_RATE = 5        # SFU_ICE_UNAUTH_REPLIES_PER_S


def connect_from(ip, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((ip, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    return s


def closed_by_peer(sock, timeout=5.0):
    """Whether the worker closes sock within timeout (EOF or reset)."""
    sock.settimeout(timeout)
    try:
        while True:
            b = sock.recv(4096)
            if not b:
                return True
    except socket.timeout:
        return False
    except ConnectionError:
        return True


class Attendee:
    """A subscribed attendee: its ids, the worker's ICE credentials and the offer's ufrag."""

    def __init__(self, w, mid, name):
        a = w.create_attendee(mid, name)
        self.mid, self.aid = mid, a["AttendeeId"]
        rep = w.ok({"op": "Subscribe", "MeetingId": mid, "AttendeeId": self.aid,
                    "JoinToken": a["JoinToken"], "SdpOffer": OFFER})
        self.ufrag, self.pwd = stun.credentials(rep["SdpAnswer"])
        self.remote_ufrag, _ = stun.credentials(OFFER)
        self.username = "%s:%s" % (self.ufrag, self.remote_ufrag)

    def check(self, good=True, use_candidate=False):
        return stun.binding_request(self.username, self.pwd if good else "x" * 24,
                                    use_candidate=use_candidate)


class IceTcpAuthTests(WorkerTest):

    def setUp(self):
        self.mid = self.w.create_meeting()["MeetingId"]
        self.att = Attendee(self.w, self.mid, "alice")

    def tcp(self):
        return self.w.ok({"op": "GetWorkerStats"})["Loops"][0]["Sockets"]["Tcp"]

    def transport(self):
        return self.w.ok({"op": "GetAttendeeStats", "MeetingId": self.mid,
                          "AttendeeId": self.att.aid})["Transport"]

    def wait_tcp(self, pred, what, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            t = self.tcp()
            if pred(t):
                return t
            if time.monotonic() > deadline:
                self.fail("%s: not within %.0fs: %s" % (what, timeout, t))
            time.sleep(0.1)

    def test_wrong_password_stays_unauthenticated_until_the_sweep(self):
        t0 = self.tcp()
        ip = "127.0.0.21"
        conns = []
        for i in range(PER_IP_CAP):
            c = connect_from(ip, self.w.tcp_port)
            c.sendall(stun.frame(self.att.check(good=False)))
            if i == 0:  # answered 401: the ufrag is known, the password is not
                self.assertEqual(stun.response(stun.read_frame(c)), (stun.BINDING_ERROR, 401))
            conns.append(c)
        self.wait_tcp(lambda t: t["RxFrames"] >= t0["RxFrames"] + PER_IP_CAP, "checks read")
        # Still unauthenticated: they count against the IP's cap, so one more is refused.
        extra = connect_from(ip, self.w.tcp_port)
        self.assertTrue(closed_by_peer(extra), "over the per-IP cap: closed at accept")
        extra.close()
        t1 = self.tcp()
        self.assertEqual(t1["RefusedPerIp"], t0["RefusedPerIp"] + 1, t1)
        self.assertEqual(t1["Open"], t0["Open"] + PER_IP_CAP, t1)
        # ... and the sweep closes every one of them.
        t2 = self.wait_tcp(lambda t: t["ClosedUnauthenticated"]
                           >= t0["ClosedUnauthenticated"] + PER_IP_CAP,
                           "sweep of unauthenticated connections", timeout=SWEEP_S)
        self.assertEqual(t2["Open"], t0["Open"], t2)
        for c in conns:
            self.assertTrue(closed_by_peer(c, 1.0))
            c.close()
        # None of it reached the transport as traffic, and nothing was selected.
        tr = self.transport()
        self.assertEqual(tr["PacketsIn"], 0, tr)
        self.assertIsNone(tr["SelectedProtocol"], tr)

    def test_checks_that_keep_failing_close_the_connection(self):
        t0 = self.tcp()
        c = connect_from("127.0.0.22", self.w.tcp_port)
        for _ in range(UNAUTH_FRAMES):
            c.sendall(stun.frame(self.att.check(good=False)))
        self.assertTrue(closed_by_peer(c), "closed after %d failing checks" % UNAUTH_FRAMES)
        c.close()
        t1 = self.wait_tcp(lambda t: t["ClosedUnauthenticated"] > t0["ClosedUnauthenticated"],
                           "counted")
        self.assertEqual(t1["Open"], t0["Open"], t1)

    def test_valid_check_authenticates_and_leave_closes(self):
        t0 = self.tcp()
        c = connect_from("127.0.0.23", self.w.tcp_port)
        c.sendall(stun.frame(self.att.check(good=False)))  # a failed try first: allowed
        self.assertEqual(stun.response(stun.read_frame(c)), (stun.BINDING_ERROR, 401))
        c.sendall(stun.frame(self.att.check(use_candidate=True)))
        self.assertEqual(stun.response(stun.read_frame(c)), (stun.BINDING_SUCCESS, None))
        tr = self.transport()
        self.assertEqual(tr["SelectedProtocol"], "tcp", tr)
        self.assertEqual(tr["PacketsIn"], 1, tr)  # the valid check only
        # Authenticated: not counted against its IP, so PER_IP_CAP strangers still fit.
        others = [connect_from("127.0.0.23", self.w.tcp_port) for _ in range(PER_IP_CAP)]
        self.wait_tcp(lambda t: t["Accepted"] >= t0["Accepted"] + 1 + PER_IP_CAP, "accepted")
        self.assertEqual(self.tcp()["RefusedPerIp"], t0["RefusedPerIp"])
        for o in others:
            o.close()
        # The transport goes: its connection goes with it.
        self.w.ok({"op": "LeaveMeeting", "MeetingId": self.mid, "AttendeeId": self.att.aid})
        self.assertTrue(closed_by_peer(c), "closed with its transport")
        c.close()
        t1 = self.wait_tcp(lambda t: t["ClosedReleased"] > t0["ClosedReleased"], "counted")
        self.assertEqual(t1["ClosedReleased"], t0["ClosedReleased"] + 1, t1)

    def test_failed_checks_are_not_the_attendees_traffic(self):
        before = self.transport()
        n = 40
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.24", 0))
            t_start = time.monotonic()
            for _ in range(n):
                s.sendto(self.att.check(good=False), ("127.0.0.1", self.w.udp_port))
            s.settimeout(1.0)
            replies = 0
            try:
                while True:
                    msg, _ = s.recvfrom(2048)
                    self.assertEqual(stun.response(msg), (stun.BINDING_ERROR, 401))
                    replies += 1
            except socket.timeout:
                pass
            elapsed = time.monotonic() - t_start
        after = self.transport()
        self.assertEqual(after["StunRejected"], before["StunRejected"] + n, after)
        self.assertEqual(after["PacketsIn"], before["PacketsIn"], after)
        self.assertEqual(after["BytesIn"], before["BytesIn"], after)
        self.assertEqual(after["PacketsOut"], before["PacketsOut"], after)
        self.assertEqual(after["StunErrorsOut"], before["StunErrorsOut"] + replies, after)
        # 401s are rate-limited per transport: a burst, then a few per second.
        self.assertGreaterEqual(replies, 1)
        self.assertLessEqual(replies, REPLY_BURST + REPLY_RATE * (elapsed + 1), replies)


class FdBudgetTests(WorkerTest):
    """RLIMIT_NOFILE 256 with 2 loops: each loop gets (256 - 96 - 2 * 16) / 2 = 64 ICE-TCP
    connections (fd_budget.h); 300 attempts must not eat the descriptors the control
    socket needs."""

    LOOPS = 2
    PREFIX = ("prlimit", "--nofile=256:256")
    BUDGET = 64

    def test_connections_beyond_the_budget_are_refused(self):
        tcp = self.w.ok({"op": "GetWorkerStats"})["Loops"][0]["Sockets"]["Tcp"]
        self.assertEqual(tcp["MaxConnections"], self.BUDGET, tcp)
        conns = []
        try:
            # 20 source addresses, 15 each: under the per-IP cap, over the budget.
            for i in range(300):
                conns.append(connect_from("127.0.1.%d" % (1 + i % 20), self.w.tcp_port))
            deadline = time.monotonic() + 10
            while True:
                # A fresh control connection (a new descriptor in the worker) is answered.
                t = time.monotonic()
                with nnclient.Req(self.w.control) as r:
                    stats = r.request({"op": "GetWorkerStats"}, timeout=5.0)
                self.assertIs(stats.get("ok"), True, stats)
                self.assertLess(time.monotonic() - t, 2.0)
                tcp = stats["Loops"][0]["Sockets"]["Tcp"]
                if tcp["Accepted"] + tcp["Refused"] >= 300 or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            self.assertEqual(tcp["Open"], self.BUDGET, tcp)
            self.assertEqual(tcp["Accepted"], self.BUDGET, tcp)
            self.assertEqual(tcp["Refused"], 300 - self.BUDGET, tcp)
            fds = len(os.listdir("/proc/%d/fd" % self.w.proc.pid))
            self.assertLess(fds, 256 - 64, "descriptors in use: %d" % fds)
        finally:
            for c in conns:
                c.close()


if __name__ == "__main__":
    harness.main()
