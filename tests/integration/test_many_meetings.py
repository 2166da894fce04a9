"""Many meetings on one worker: the per-worker limit (--max-meetings, refused with
LimitExceeded), and 20,000 meetings ending together while the control API keeps
answering (issue 6: every ending walked the whole directory, so 50,000 meetings
idle-expiring within 19 s cost 23.5 s of control-thread CPU and the API did not answer
for ~20 s; 20,000 at once held it for ~3.5 s)."""

import signal
import threading
import time

import harness
import nnclient
from harness import WorkerTest

N_MEETINGS = 20000
N_PRIMARIES = 50  # of them, each with REPLICAS replicas, which end by cascade
REPLICAS = 2
IDLE_S = 20.0     # longer than creating N_MEETINGS takes, even under ASan
UNKNOWN = "00000000-0000-4000-8000-000000000000"


class MeetingLimitTests(WorkerTest):
    LOOPS = 2
    EXTRA = ("--max-meetings", "5")

    def test_limit_refuses_with_limit_exceeded(self):
        w = self.w
        p = w.create_meeting("limit-primary")
        ids = [p["MeetingId"], w.create_meeting("limit-r", PrimaryMeetingId=p["MeetingId"])[
            "MeetingId"]]  # a replica counts like any meeting
        ids += [w.create_meeting("limit-%d" % i)["MeetingId"] for i in range(3)]
        for req in ({"op": "CreateMeeting", "ExternalMeetingId": "one-too-many"},
                    {"op": "CreateMeeting", "ExternalMeetingId": "one-too-many",
                     "PrimaryMeetingId": p["MeetingId"]}):
            with self.subTest(req=req):
                rep = self.err(req, "LimitExceeded", "--max-meetings")
                self.assertIn("5 meetings", rep["error"]["message"])
        # An existing id is still a Conflict, not a limit (a retried create learns it
        # happened).
        self.err({"op": "CreateMeeting", "ExternalMeetingId": "again", "MeetingId": ids[2]},
                 "Conflict", "MeetingId")
        stats = w.ok({"op": "GetWorkerStats"})
        self.assertEqual(stats["Meetings"], 5, stats)
        # The refused creates left nothing behind; ending one frees a place.
        w.ok({"op": "DeleteMeeting", "MeetingId": ids[4]})
        m = w.create_meeting("fits-again")
        self.assertIs(w.get_meeting(m["MeetingId"])["ok"], True)
        for mid in ids[:4] + [m["MeetingId"]]:
            w.request({"op": "DeleteMeeting", "MeetingId": mid})
        self.assertEqual(w.ok({"op": "GetWorkerStats"})["Meetings"], 0)


class Prober:
    """Sends one cheap request over and over on its own REQ socket, from start() until
    stop(), and keeps the worst latency. The socket is connected and has answered once
    before start(), so connection set-up is not measured."""

    def __init__(self, w, req, check):
        self.req, self.check = req, check
        self.sock = nnclient.Req(w.control)
        self.sock.request(req)
        self.worst, self.count, self.error = 0.0, 0, None
        self.go, self.done = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self):
        try:
            self.go.wait()
            while not self.done.is_set():
                t = time.monotonic()
                rep = self.sock.request(self.req, 60)
                self.worst = max(self.worst, time.monotonic() - t)
                self.count += 1
                self.check(rep)
                time.sleep(0.002)
        except Exception as e:  # reported by the test
            self.error = repr(e)

    def start(self):
        self.go.set()

    def stop(self):
        self.go.set()
        self.done.set()
        self.thread.join()
        self.sock.close()


class MassExpiryTests(WorkerTest):
    LOOPS = 2
    EXTRA = ("--idle-meeting-timeout", str(IDLE_S), "--max-meetings", str(N_MEETINGS))

    def create_all(self):
        """N_MEETINGS meetings, N_PRIMARIES of them with REPLICAS replicas each; returns
        the replicas' ids and when the last meeting was created."""
        w = self.w
        t0 = time.monotonic()
        primaries = [w.create_meeting("mass-p%d" % i)["MeetingId"] for i in range(N_PRIMARIES)]
        replicas = [w.create_meeting("mass-r", PrimaryMeetingId=p)["MeetingId"]
                    for p in primaries for _ in range(REPLICAS)]
        create = b'{"op":"CreateMeeting","ExternalMeetingId":"mass"}'
        r = w.req_socket()
        for _ in range(N_MEETINGS - len(primaries) - len(replicas)):
            r.request_raw(create)
        t1 = time.monotonic()
        self.assertLess(t1 - t0, IDLE_S, "creating %d meetings took %.1f s, longer than the "
                        "idle timeout: they would not end together" % (N_MEETINGS, t1 - t0))
        return replicas, t1

    def test_api_answers_while_20000_meetings_end_together(self):
        w = self.w
        # What this asserts is structural: the control thread keeps answering while the
        # loop ends 20,000 meetings. Before the fix the worst latency was 3.5 to 4.7 s
        # (growing with the square of the meetings); now it is 2 ms (20 ms under ASan)
        # on an idle machine. The 100 ms goal is a timing goal and lives in
        # bench/meetings.py (part 2); here the bound is one the old code fails by far
        # and a loaded 2-core CI machine running an ASan build does not (393 ms seen).
        bound = 1.0

        def not_found(rep):
            assert rep["error"]["code"] == "NotFound", rep

        def ok(rep):
            assert rep["ok"] is True, rep

        # No SUB socket: a subscriber that is not reading would lose most of 40,000
        # events anyway (PUB drops rather than waits).
        probers = {
            # answered by the control thread from its directory
            "GetMeeting": Prober(w, {"op": "GetMeeting", "MeetingId": UNKNOWN}, not_found),
            # through both loops and back
            "GetWorkerStats": Prober(w, {"op": "GetWorkerStats"}, ok),
        }
        try:
            replicas, last_created = self.create_all()
            st = w.ok({"op": "GetWorkerStats"})
            self.assertEqual(st["Meetings"], N_MEETINGS, st)
            # At the limit (--max-meetings 20000): one more is refused.
            self.err({"op": "CreateMeeting", "ExternalMeetingId": "over"}, "LimitExceeded",
                     "--max-meetings")
            # Stopped until every meeting is past its idle timeout: once resumed, the loops
            # find all of them due in the same instant, however slowly they were created.
            w.proc.send_signal(signal.SIGSTOP)
            try:
                time.sleep(max(0.0, last_created + IDLE_S + 0.5 - time.monotonic()))
            finally:
                w.proc.send_signal(signal.SIGCONT)
            resumed = time.monotonic()
            for p in probers.values():
                p.start()
            while True:
                st = w.ok({"op": "GetWorkerStats"}, timeout=60)
                if st["Meetings"] == 0:
                    break
                self.assertLess(time.monotonic() - resumed, 60, "still there after 60 s: %s" % st)
                time.sleep(0.005)
            took = time.monotonic() - resumed
            time.sleep(0.1)  # the probes go on a little after the last one ended
        finally:
            for p in probers.values():
                p.stop()
        print("\n%d meetings ended together in %.0f ms; worst latency meanwhile: %s "
              "(bound %.0f ms)" % (N_MEETINGS, took * 1e3, ", ".join(
                  "%s %.1f ms of %d" % (k, p.worst * 1e3, p.count)
                  for k, p in probers.items()), bound * 1e3))
        for name, p in probers.items():
            self.assertIsNone(p.error, name)
            self.assertGreater(p.count, 0, name)
            self.assertLess(p.worst, bound, "%s took %.0f ms while the meetings ended"
                            % (name, p.worst * 1e3))
        # Every replica ended with its primary (replicas are never idle-ended), and
        # nothing is left on either loop.
        for rid in replicas[::10]:
            self.assertError(w.get_meeting(rid), "NotFound")
        st = w.ok({"op": "GetWorkerStats"})
        self.assertEqual([lp["Meetings"] for lp in st["Loops"]], [0, 0], st)
        # Back to normal service.
        m = w.create_meeting("after")
        self.assertIs(w.get_meeting(m["MeetingId"])["ok"], True)


if __name__ == "__main__":
    harness.main()
