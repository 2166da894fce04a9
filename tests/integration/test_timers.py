"""Meetings that end by themselves: --idle-meeting-timeout (replicas exempt,
they end with their primary) and --max-meeting-duration. Each class runs its
own worker with short timers; nobody connects media, so every meeting is idle
from creation."""

import time

import harness
from harness import Events, WorkerTest

WAIT = 10.0  # generous: the worker may check its timers coarsely, or run under ASan


class IdleTimeoutTests(WorkerTest):
    EXTRA = ("--idle-meeting-timeout", "1", "--max-meeting-duration", "3600")

    def test_idle_meeting_ends(self):
        with self.w.subscribe() as sub:
            ev = Events(sub)
            m = self.w.create_meeting("idle")
            mid = m["MeetingId"]
            atts = [self.w.create_attendee(mid, "idle%d" % i) for i in range(2)]
            rep = self.w.create_meeting("idle-replica", PrimaryMeetingId=mid)
            rid = rep["MeetingId"]
            t0 = time.monotonic()
            ended = ev.wait_type("chime:MeetingEnded", timeout=WAIT, meetingId=mid)
            # Never before the timeout (1 s; allow for clock granularity).
            self.assertGreater(time.monotonic() - t0, 0.5)
            self.assertEqual(ended["reason"], "IdleTimeout")
            self.assertEqual(ended["externalMeetingId"], "idle")
            r_end = ev.wait_type("chime:MeetingEnded", timeout=WAIT, meetingId=rid)
            self.assertEqual(r_end["reason"], "PrimaryEnded")
            self.assertEqual(r_end["primaryMeetingId"], mid)
            ev.drain()
            end_i = ev.index("chime:MeetingEnded", meetingId=mid)
            for a in atts:
                # attendees, if announced as deleted, are announced before the end
                for i, e in enumerate(ev.seen):
                    if e.get("attendeeId") == a["AttendeeId"] and \
                            e["eventType"] == "chime:AttendeeDeleted":
                        self.assertLess(i, end_i)
            self.assertError(self.w.get_meeting(mid), "NotFound")
            self.assertError(self.w.get_meeting(rid), "NotFound")
            self.err({"op": "GetAttendee", "MeetingId": mid,
                      "AttendeeId": atts[0]["AttendeeId"]}, "NotFound")
            stats = self.w.ok({"op": "GetWorkerStats"})
            self.assertEqual(stats["Meetings"], 0)
            self.assertEqual(stats["Attendees"], 0)


class MaxDurationTests(WorkerTest):
    EXTRA = ("--idle-meeting-timeout", "3600", "--max-meeting-duration", "2")

    def test_max_duration_ends_meeting(self):
        with self.w.subscribe() as sub:
            ev = Events(sub)
            p = self.w.create_meeting("longrunner")
            r = self.w.create_meeting("longrunner-r", PrimaryMeetingId=p["MeetingId"])
            a = self.w.create_attendee(p["MeetingId"])
            t0 = time.monotonic()
            # still there well before the limit
            self.assertIs(self.w.get_meeting(p["MeetingId"])["ok"], True)
            ended = ev.wait_type("chime:MeetingEnded", timeout=WAIT,
                                 meetingId=p["MeetingId"])
            self.assertGreater(time.monotonic() - t0, 1.0)
            self.assertEqual(ended["reason"], "MaxDuration")
            r_end = ev.wait_type("chime:MeetingEnded", timeout=WAIT, meetingId=r["MeetingId"])
            # The replica ends with its primary (it may also have reached its own
            # limit at the same moment; either reason is honest).
            self.assertIn(r_end["reason"], ("PrimaryEnded", "MaxDuration"))
            self.assertError(self.w.get_meeting(p["MeetingId"]), "NotFound")
            self.assertError(self.w.get_meeting(r["MeetingId"]), "NotFound")
            self.err({"op": "GetAttendee", "MeetingId": p["MeetingId"],
                      "AttendeeId": a["AttendeeId"]}, "NotFound")


if __name__ == "__main__":
    harness.main()
