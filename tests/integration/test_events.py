"""Events on PUB: each type's fields, and the ordering guarantees
(MeetingStarted before its attendee events; on DeleteMeeting every
AttendeeDeleted, then replicas ended with PrimaryEnded, then MeetingEnded)."""

import time
import uuid

import harness
from harness import Events, WorkerTest, uid8

SR = "SendReceive"


def now_ms():
    return int(time.time() * 1000)


class EventTests(WorkerTest):

    def setUp(self):
        self.sub = self.w.subscribe()
        self.ev = Events(self.sub)
        self.t0 = now_ms()

    def tearDown(self):
        self.sub.close()

    def check_common(self, ev, etype, meeting):
        self.assertEqual(ev["eventType"], etype, ev)
        self.assertIsInstance(ev["timestamp"], int, ev)
        self.assertGreaterEqual(ev["timestamp"], self.t0 - 2000, ev)
        self.assertLessEqual(ev["timestamp"], now_ms() + 2000, ev)
        self.assertEqual(ev["workerId"], self.w.worker_id, ev)
        self.assertEqual(ev["meetingId"], meeting["MeetingId"], ev)
        self.assertEqual(ev["externalMeetingId"], meeting["ExternalMeetingId"], ev)
        if "PrimaryMeetingId" in meeting:
            self.assertEqual(ev["primaryMeetingId"], meeting["PrimaryMeetingId"], ev)
        else:
            self.assertNotIn("primaryMeetingId", ev)

    def check_attendee(self, ev, etype, meeting, att):
        self.check_common(ev, etype, meeting)
        self.assertEqual(ev["attendeeId"], att["AttendeeId"], ev)
        self.assertEqual(ev["externalUserId"], att["ExternalUserId"], ev)
        self.assertNotIn("JoinToken", ev)
        self.assertNotIn("joinToken", ev)

    def types_for(self, mid):
        return [(e["eventType"], e.get("attendeeId")) for e in self.ev.of_meeting(mid)]

    # ---- each event type ----------------------------------------------------
    def test_meeting_started_and_attendee_added(self):
        m = self.w.create_meeting("ev-" + uid8())
        a = self.w.create_attendee(m["MeetingId"], "ev-alice")
        ev = self.ev.wait_type("chime:AttendeeAdded", meetingId=m["MeetingId"])
        self.check_attendee(ev, "chime:AttendeeAdded", m, a)
        started = self.ev.wait_type("chime:MeetingStarted", meetingId=m["MeetingId"])
        self.check_common(started, "chime:MeetingStarted", m)
        self.assertNotIn("attendeeId", started)
        self.assertLess(self.ev.index("chime:MeetingStarted", meetingId=m["MeetingId"]),
                        self.ev.index("chime:AttendeeAdded", meetingId=m["MeetingId"]))

    def test_capabilities_updated(self):
        m = self.w.create_meeting()
        a = self.w.create_attendee(m["MeetingId"])
        new = {"Audio": "Send", "Video": "Receive", "Content": "None"}
        self.w.ok({"op": "UpdateAttendeeCapabilities", "MeetingId": m["MeetingId"],
                   "AttendeeId": a["AttendeeId"], "Capabilities": new})
        ev = self.ev.wait_type("chime:AttendeeCapabilitiesUpdated", meetingId=m["MeetingId"])
        self.check_attendee(ev, "chime:AttendeeCapabilitiesUpdated", m, a)
        self.assertEqual(ev["capabilities"], new)
        self.assertLess(self.ev.index("chime:AttendeeAdded", meetingId=m["MeetingId"]),
                        self.ev.index("chime:AttendeeCapabilitiesUpdated",
                                      meetingId=m["MeetingId"]))

    def test_attendee_deleted(self):
        m = self.w.create_meeting()
        a = self.w.create_attendee(m["MeetingId"])
        b = self.w.create_attendee(m["MeetingId"])
        self.w.ok({"op": "DeleteAttendee", "MeetingId": m["MeetingId"],
                   "AttendeeId": a["AttendeeId"]})
        ev = self.ev.wait_type("chime:AttendeeDeleted", attendeeId=a["AttendeeId"])
        self.check_attendee(ev, "chime:AttendeeDeleted", m, a)
        self.ev.drain()
        mid = m["MeetingId"]
        self.assertEqual(self.types_for(mid), [
            ("chime:MeetingStarted", None),
            ("chime:AttendeeAdded", a["AttendeeId"]),
            ("chime:AttendeeAdded", b["AttendeeId"]),
            ("chime:AttendeeDeleted", a["AttendeeId"])])

    def test_batch_emits_one_added_per_created(self):
        m = self.w.create_meeting(MeetingFeatures={"Attendee": {"MaxCount": 2}})
        rep = self.w.ok({"op": "BatchCreateAttendee", "MeetingId": m["MeetingId"],
                         "Attendees": [{"ExternalUserId": "b1"}, {"ExternalUserId": "x"},
                                       {"ExternalUserId": "b2"}, {"ExternalUserId": "b3"}]})
        self.assertEqual(len(rep["Attendees"]), 2)
        self.ev.wait_type("chime:AttendeeAdded", externalUserId="b2")
        self.ev.drain()
        added = [e for e in self.ev.of_meeting(m["MeetingId"])
                 if e["eventType"] == "chime:AttendeeAdded"]
        self.assertEqual([e["attendeeId"] for e in added],
                         [a["AttendeeId"] for a in rep["Attendees"]])
        for e, a in zip(added, rep["Attendees"]):
            self.check_attendee(e, "chime:AttendeeAdded", m, a)

    def test_failed_ops_emit_nothing(self):
        m = self.w.create_meeting(MeetingFeatures={"Attendee": {"MaxCount": 1}})
        mid = m["MeetingId"]
        a = self.w.create_attendee(mid)
        bad = [
            {"op": "CreateAttendee", "MeetingId": mid, "ExternalUserId": "over"},
            {"op": "CreateAttendee", "MeetingId": mid, "ExternalUserId": "x"},
            {"op": "CreateMeeting", "ExternalMeetingId": "x"},
            {"op": "CreateMeeting", "ExternalMeetingId": "dup", "MeetingId": mid},
            {"op": "DeleteAttendee", "MeetingId": mid, "AttendeeId": str(uuid.uuid4())},
            {"op": "DeleteMeeting", "MeetingId": str(uuid.uuid4())},
            {"op": "UpdateAttendeeCapabilities", "MeetingId": mid,
             "AttendeeId": a["AttendeeId"], "Capabilities": {"Audio": SR}},
        ]
        for req in bad:
            self.assertIs(self.w.request(req)["ok"], False, req)
        self.ev.wait_type("chime:AttendeeAdded", attendeeId=a["AttendeeId"])
        self.ev.drain(quiet=0.5)
        self.assertEqual([e for e in self.ev.seen
                          if e.get("externalMeetingId") in ("x", "dup")], [])
        self.assertEqual(self.types_for(mid), [("chime:MeetingStarted", None),
                                               ("chime:AttendeeAdded", a["AttendeeId"])])

    # ---- DeleteMeeting ordering ------------------------------------------------
    def test_delete_meeting_order(self):
        m = self.w.create_meeting("del-order")
        mid = m["MeetingId"]
        atts = [self.w.create_attendee(mid, "o%d" % i) for i in range(5)]
        self.w.ok({"op": "DeleteMeeting", "MeetingId": mid})
        ended = self.ev.wait_type("chime:MeetingEnded", meetingId=mid)
        self.check_common(ended, "chime:MeetingEnded", m)
        self.assertEqual(ended["reason"], "Deleted")
        self.ev.drain()
        seq = self.types_for(mid)
        self.assertEqual(seq[0], ("chime:MeetingStarted", None))
        self.assertEqual(seq[1:6], [("chime:AttendeeAdded", a["AttendeeId"]) for a in atts])
        deleted = seq[6:-1]
        self.assertEqual(sorted(deleted),
                         sorted(("chime:AttendeeDeleted", a["AttendeeId"]) for a in atts))
        self.assertEqual(seq[-1], ("chime:MeetingEnded", None))
        for e in self.ev.of_meeting(mid):
            if e["eventType"] == "chime:AttendeeDeleted":
                att = next(a for a in atts if a["AttendeeId"] == e["attendeeId"])
                self.check_attendee(e, "chime:AttendeeDeleted", m, att)

    def test_replicas_end_with_primary(self):
        p = self.w.create_meeting("primary")
        pid = p["MeetingId"]
        pa = self.w.create_attendee(pid, "p-att")
        reps = [self.w.create_meeting("replica%d" % i, PrimaryMeetingId=pid)
                for i in range(2)]
        ra = [self.w.create_attendee(r["MeetingId"], "r-att%d" % i)
              for i, r in enumerate(reps)]
        for r in reps:
            ev = self.ev.wait_type("chime:MeetingStarted", meetingId=r["MeetingId"])
            self.check_common(ev, "chime:MeetingStarted", r)
        self.w.ok({"op": "DeleteMeeting", "MeetingId": pid})
        self.ev.wait_type("chime:MeetingEnded", meetingId=pid)
        self.ev.drain()
        end_p = self.ev.index("chime:MeetingEnded", meetingId=pid)
        self.assertEqual(self.ev.seen[end_p]["reason"], "Deleted")
        self.assertLess(self.ev.index("chime:AttendeeDeleted", attendeeId=pa["AttendeeId"]),
                        end_p)
        for r, a in zip(reps, ra):
            end_r = self.ev.index("chime:MeetingEnded", meetingId=r["MeetingId"])
            ev = self.ev.seen[end_r]
            self.check_common(ev, "chime:MeetingEnded", r)
            self.assertEqual(ev["reason"], "PrimaryEnded")
            self.assertLess(end_r, end_p, "replica must end before its primary's "
                            "MeetingEnded")
            del_a = self.ev.index("chime:AttendeeDeleted", attendeeId=a["AttendeeId"])
            self.check_attendee(self.ev.seen[del_a], "chime:AttendeeDeleted", r, a)
            self.assertLess(del_a, end_r)
            self.assertLess(self.ev.index("chime:MeetingStarted", meetingId=pid),
                            self.ev.index("chime:MeetingStarted", meetingId=r["MeetingId"]))
        # exactly one MeetingEnded per meeting
        for mid in [pid] + [r["MeetingId"] for r in reps]:
            self.assertEqual(sum(1 for e in self.ev.seen if e["meetingId"] == mid and
                                 e["eventType"] == "chime:MeetingEnded"), 1)

    def test_delete_replica_reason_deleted(self):
        p = self.w.create_meeting()
        r = self.w.create_meeting(PrimaryMeetingId=p["MeetingId"])
        self.w.ok({"op": "DeleteMeeting", "MeetingId": r["MeetingId"]})
        ev = self.ev.wait_type("chime:MeetingEnded", meetingId=r["MeetingId"])
        self.check_common(ev, "chime:MeetingEnded", r)
        self.assertEqual(ev["reason"], "Deleted")
        self.ev.drain()
        self.assertEqual(self.types_for(p["MeetingId"]), [("chime:MeetingStarted", None)])


if __name__ == "__main__":
    harness.main()
