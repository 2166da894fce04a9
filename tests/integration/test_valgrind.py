"""The worker under valgrind memcheck: a handful of ops (meetings, replicas,
attendees, errors, bad input), some meetings left alive, SIGTERM, and the
exit status must be 0 (valgrind turns any definite/indirect leak or memory
error into 99). Skipped, with the reason printed, without valgrind or on a
sanitizer build (ASan and valgrind do not mix)."""

import os
import shutil
import signal
import unittest

import harness
import nnclient
from harness import Worker


class ValgrindTests(unittest.TestCase):

    def setUp(self):
        vg = shutil.which("valgrind")
        if not vg:
            print("SKIP: valgrind not installed")
            self.skipTest("valgrind not installed")
        if harness.is_asan_build(harness.WORKER):
            print("SKIP: sfu-worker is built with AddressSanitizer")
            self.skipTest("ASan build")
        self.vg = vg

    def test_no_leaks_no_errors(self):
        prefix = [self.vg, "--quiet", "--leak-check=full",
                  "--errors-for-leak-kinds=definite,indirect", "--error-exitcode=99",
                  "--track-fds=no"]
        w = Worker(loops=2, prefix=prefix, extra=("--idle-meeting-timeout", "6"))
        try:
            w.start(ready_timeout=60.0)
            self.exercise(w)
            rc = w.stop(signal.SIGTERM, timeout=60.0)
            log = w.log_text()
            if rc != 0:
                print(log)
            self.assertEqual(rc, 0, "valgrind/worker exit status %s:\n%s" % (rc, log))
        finally:
            w.cleanup()

    def exercise(self, w):
        sub = w.subscribe()
        p = w.create_meeting("vg-primary")
        pid = p["MeetingId"]
        r = w.create_meeting("vg-replica", PrimaryMeetingId=pid)
        a = w.create_attendee(pid, "vg-a")
        w.create_attendee(r["MeetingId"], "vg-r")
        w.ok({"op": "BatchCreateAttendee", "MeetingId": pid,
              "Attendees": [{"ExternalUserId": "b%d" % i} for i in range(20)] +
              [{"ExternalUserId": "x"}]})
        page = w.ok({"op": "ListAttendees", "MeetingId": pid, "MaxResults": 5})
        w.ok({"op": "ListAttendees", "MeetingId": pid, "NextToken": page["NextToken"]})
        w.ok({"op": "UpdateAttendeeCapabilities", "MeetingId": pid,
              "AttendeeId": a["AttendeeId"],
              "Capabilities": {"Audio": "Send", "Video": "None", "Content": "None"}})
        w.ok({"op": "GetAttendee", "MeetingId": pid, "AttendeeId": a["AttendeeId"]})
        w.request({"op": "Subscribe", "MeetingId": pid, "AttendeeId": a["AttendeeId"],
                   "JoinToken": a["JoinToken"], "SdpOffer": "v=0\r\n"})
        w.request({"op": "Subscribe", "MeetingId": pid, "AttendeeId": a["AttendeeId"],
                   "JoinToken": "wrong", "SdpOffer": "v=0\r\n"})
        w.ok({"op": "DeleteAttendee", "MeetingId": pid, "AttendeeId": a["AttendeeId"]})
        w.ok({"op": "ListMeetings"})
        w.ok({"op": "GetWorkerStats"})
        for bad in (b"", b"{", b"[" * 100000, b"\xff\xfe\x00", b'{"op":"Nope"}',
                    b'{"op":"CreateMeeting"}', b'{"op":"GetWorkerStats"}\x00x'):
            with nnclient.Req(w.control) as s:
                s.request_raw(bad, timeout=10)
        # one meeting deleted with its replica, one ended by the idle timer,
        # one still alive at SIGTERM
        d = w.create_meeting("vg-del")
        w.create_meeting("vg-del-r", PrimaryMeetingId=d["MeetingId"])
        w.ok({"op": "DeleteMeeting", "MeetingId": d["MeetingId"]})
        ev = harness.Events(sub)
        ev.wait_type("chime:MeetingEnded", timeout=20, meetingId=pid)
        w.create_meeting("vg-alive")
        w.create_attendee(w.create_meeting("vg-alive2")["MeetingId"])
        sub.close()


if __name__ == "__main__":
    harness.main()
