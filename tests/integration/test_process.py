"""The worker as a process: --help, bad flags, placement of meetings over
--loops 2 and GetWorkerStats, SIGTERM / SIGINT ending it with status 0 while
meetings are live, and refusing to start on a control address in use."""

import signal
import subprocess
import time
import unittest

import harness
from harness import Worker, uid8

FLAGS = ("--control", "--events", "--loops", "--udp-port", "--tcp-port", "--announce-ip",
         "--worker-id", "--log-level", "--idle-meeting-timeout", "--max-meeting-duration",
         "--max-meetings", "--pacer-burst-ms")


class CommandLineTests(unittest.TestCase):

    def test_help(self):
        out = subprocess.run([harness.WORKER, "--help"], capture_output=True, timeout=10)
        self.assertEqual(out.returncode, 0, out)
        text = (out.stdout + out.stderr).decode()
        for flag in FLAGS:
            self.assertIn(flag, text)

    def test_bad_flags(self):
        for argv in (["--no-such-flag"], ["--loops", "0"], ["--loops", "abc"],
                     ["--udp-port", "70000"], ["--idle-meeting-timeout", "-5"],
                     ["--max-meetings", "0"], ["--max-meetings", "1e3"], ["--control"],
                     ["--pacer-burst-ms", "0"], ["--pacer-burst-ms", "101"],
                     ["--pacer-burst-ms", "2.5"]):
            with self.subTest(argv=argv):
                out = subprocess.run([harness.WORKER] + argv, capture_output=True,
                                     timeout=10)
                self.assertNotEqual(out.returncode, 0, out)
                self.assertTrue(out.stderr, "should say why on stderr")

    def test_control_address_in_use(self):
        w1 = Worker().start()
        try:
            w2 = Worker()
            w2.argv[w2.argv.index("--control") + 1] = w1.control
            w2.proc = subprocess.Popen(w2.argv, stdout=w2.log, stderr=subprocess.STDOUT)
            try:
                rc = w2.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.fail("second worker on the same control address did not exit")
            self.assertNotEqual(rc, 0)
            w2.cleanup()
            self.assertIs(w1.ok({"op": "GetWorkerStats"})["ok"], True)
        finally:
            self.assertEqual(w1.stop(), 0)
            w1.cleanup()


class LoopTests(harness.WorkerTest):
    LOOPS = 2

    def test_stats_shape_and_spread(self):
        w = self.w
        s0 = w.ok({"op": "GetWorkerStats"})
        self.assertEqual(s0["WorkerId"], w.worker_id)
        self.assertIsInstance(s0["UptimeMs"], int)
        self.assertGreaterEqual(s0["UptimeMs"], 0)
        self.assertEqual(s0["Meetings"], 0)
        self.assertEqual(s0["Attendees"], 0)
        self.assertEqual(len(s0["Loops"]), 2)
        for i, lp in enumerate(s0["Loops"]):
            self.assertEqual(lp["Loop"], i)
            self.assertEqual(lp["UdpPort"], w.udp_port + i)
            self.assertEqual(lp["TcpPort"], w.tcp_port + i)
            self.assertEqual(lp["Meetings"], 0)
            self.assertEqual(lp["Attendees"], 0)

        ms = [w.create_meeting("spread-%d" % i) for i in range(4)]
        loops = [m["Loop"] for m in ms]
        self.assertEqual(sorted(loops), [0, 0, 1, 1], "least-loaded placement")
        for m in ms:
            mp = m["MediaPlacement"]
            self.assertEqual(mp["AudioHostUrl"], "127.0.0.1:%d" % (w.udp_port + m["Loop"]))
            self.assertEqual(mp["AudioFallbackUrl"],
                             "127.0.0.1:%d" % (w.tcp_port + m["Loop"]))
        # attendees counted on their meeting's loop
        per_loop = [0, 0]
        for n, m in zip((1, 3, 0, 1), ms):
            for _ in range(n):
                w.create_attendee(m["MeetingId"])
            per_loop[m["Loop"]] += n
        s1 = w.ok({"op": "GetWorkerStats"})
        self.assertEqual(s1["Meetings"], 4)
        self.assertEqual(s1["Attendees"], 5)
        self.assertEqual([lp["Meetings"] for lp in s1["Loops"]], [2, 2])
        self.assertEqual([lp["Attendees"] for lp in s1["Loops"]], per_loop)
        self.assertGreaterEqual(s1["UptimeMs"], s0["UptimeMs"])

        w.ok({"op": "DeleteMeeting", "MeetingId": ms[0]["MeetingId"]})
        per_loop[ms[0]["Loop"]] -= 1
        s2 = w.ok({"op": "GetWorkerStats"})
        self.assertEqual(s2["Meetings"], 3)
        self.assertEqual(s2["Attendees"], 4)
        self.assertEqual([lp["Attendees"] for lp in s2["Loops"]], per_loop)
        # The next meeting goes to the loop that now has fewer meetings AND fewer
        # attendees (ms[0] and ms[2] share a loop: 0 attendees and 1 meeting there,
        # 4 attendees and 2 meetings on the other), whichever measure of load is used.
        self.assertEqual(ms[0]["Loop"], ms[2]["Loop"])
        m5 = w.create_meeting()
        self.assertEqual(m5["Loop"], ms[0]["Loop"])
        for m in ms[1:] + [m5]:
            w.ok({"op": "DeleteMeeting", "MeetingId": m["MeetingId"]})
        s3 = w.ok({"op": "GetWorkerStats"})
        self.assertEqual((s3["Meetings"], s3["Attendees"]), (0, 0))

    def test_replica_and_primary_events_across_loops(self):
        w = self.w
        with w.subscribe() as sub:
            ev = harness.Events(sub)
            p = w.create_meeting("xl-primary")
            reps = [w.create_meeting("xl-r%d" % i, PrimaryMeetingId=p["MeetingId"])
                    for i in range(3)]
            self.assertEqual({r["Loop"] for r in reps} | {p["Loop"]}, {0, 1})
            atts = {r["MeetingId"]: w.create_attendee(r["MeetingId"]) for r in reps}
            w.ok({"op": "DeleteMeeting", "MeetingId": p["MeetingId"]})
            for r in reps:
                e = ev.wait_type("chime:MeetingEnded", meetingId=r["MeetingId"])
                self.assertEqual(e["reason"], "PrimaryEnded")
            ev.wait_type("chime:MeetingEnded", meetingId=p["MeetingId"])
            ev.drain()
            for r in reps:
                a = atts[r["MeetingId"]]
                self.assertLess(ev.index("chime:MeetingStarted", meetingId=r["MeetingId"]),
                                ev.index("chime:AttendeeAdded", attendeeId=a["AttendeeId"]))
                self.assertLess(ev.index("chime:AttendeeDeleted", attendeeId=a["AttendeeId"]),
                                ev.index("chime:MeetingEnded", meetingId=r["MeetingId"]))


class ConcurrencyTests(harness.WorkerTest):
    LOOPS = 2

    def test_parallel_clients_get_their_own_replies(self):
        # 8 clients, each on its own REQ socket, interleaving requests: every
        # reply must answer the request that was sent on that socket.
        import threading
        import nnclient
        meetings = [self.w.create_meeting("par-%d" % i)["MeetingId"] for i in range(4)]
        failures = []

        def client(k):
            try:
                with nnclient.Req(self.w.control) as r:
                    for j in range(40):
                        mid = meetings[(k + j) % 4]
                        user = "c%d-%d" % (k, j)
                        rep = r.request({"op": "CreateAttendee", "MeetingId": mid,
                                         "ExternalUserId": user})
                        if rep.get("Attendee", {}).get("ExternalUserId") != user:
                            failures.append((user, rep))
                            return
                        got = r.request({"op": "GetAttendee", "MeetingId": mid,
                                         "AttendeeId": rep["Attendee"]["AttendeeId"]})
                        if got.get("Attendee", {}).get("ExternalUserId") != user:
                            failures.append((user, got))
                            return
                        bad = r.request(b"{not json %d" % j)
                        if bad.get("error", {}).get("code") != "BadRequest":
                            failures.append((user, bad))
                            return
            except Exception as e:  # a timeout is a failure too
                failures.append((k, repr(e)))

        threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(failures, [])
        stats = self.w.ok({"op": "GetWorkerStats"})
        self.assertEqual(stats["Attendees"], 8 * 40)
        self.assertEqual(sum(lp["Attendees"] for lp in stats["Loops"]), 8 * 40)


class SignalTests(unittest.TestCase):

    def _run_and_signal(self, sig):
        w = Worker(loops=2).start()
        try:
            for i in range(3):
                m = w.create_meeting("sig-%s" % uid8())
                w.create_attendee(m["MeetingId"])
                w.create_meeting(PrimaryMeetingId=m["MeetingId"])
            t0 = time.monotonic()
            rc = w.stop(sig, timeout=5.0)
            self.assertEqual(rc, 0, w.log_text())
            print("%s: exited in %.2fs" % (signal.Signals(sig).name, time.monotonic() - t0))
        finally:
            w.cleanup()

    def test_sigterm_exits_zero_promptly(self):
        self._run_and_signal(signal.SIGTERM)

    def test_sigint_exits_zero_promptly(self):
        self._run_and_signal(signal.SIGINT)

    def test_sigterm_right_after_start(self):
        w = Worker(loops=2).start()
        try:
            self.assertEqual(w.stop(signal.SIGTERM, timeout=5.0), 0, w.log_text())
        finally:
            w.cleanup()


if __name__ == "__main__":
    harness.main()
